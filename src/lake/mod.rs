//! The lake: an object store (local folder or S3 prefix) holding
//! `tables/<name>/<hive partitions>/data.parquet` plus usagelake's own
//! bookkeeping under `_usagelake/`.

mod damage;
mod location;
mod merge;
mod runs;
mod session;
mod stats;
pub mod tables;
mod writer;

use std::sync::Arc;

use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

pub use damage::collect_naming_damage;
pub use location::{LakeLocation, S3Options, open_store};
pub use merge::{Merged, merge_dedup};
pub use runs::{Run, read_partition_filtered, spill_run};
pub use session::{
    LAKE_URL, listing_table as listing_table_for, register_tables, session_for, text_table,
};
pub use stats::{PartitionStats, parquet_rows, partition_stats};
pub use tables::{DerivedTable, PartitionType, PartitionValue, TableContract, TableSpec};
pub use writer::{PartitionWrite, WriteReport, read_partition};

/// Errors of the lake layer. Messages name the object or URL involved.
#[derive(Debug, thiserror::Error)]
pub enum LakeError {
    #[error("lake URL {url:?}: {reason}")]
    BadUrl { url: String, reason: String },
    #[error("object store error at {path}: {source}")]
    Store {
        path: String,
        #[source]
        source: object_store::Error,
    },
    #[error("parquet error in {path}: {source}")]
    Parquet {
        path: String,
        #[source]
        source: datafusion::parquet::errors::ParquetError,
    },
    #[error("arrow error while preparing {table}: {source}")]
    Arrow {
        table: String,
        #[source]
        source: datafusion::arrow::error::ArrowError,
    },
    #[error(
        "table {table}: partition {given} does not match the table's partition keys {expected:?}"
    )]
    PartitionMismatch {
        table: String,
        given: String,
        expected: Vec<&'static str>,
    },
    #[error(
        "table {table}: partition value {value:?} for key {key} may hold only letters, digits, '.', '_', '-' and '@'"
    )]
    UnsafePartitionValue {
        table: String,
        key: &'static str,
        value: String,
    },
    #[error("table {table}: batch schema does not match the table contract: {detail}")]
    SchemaMismatch { table: String, detail: String },
    #[error("could not prepare local lake folder {path}: {source}")]
    LocalFolder {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("spilling sorted rows to {path}: {source}; check the free space and permissions there")]
    Spill {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

pub type Result<T, E = LakeError> = std::result::Result<T, E>;

/// An opened lake: the store rooted at the lake URL, plus where it points.
#[derive(Clone)]
pub struct Lake {
    store: Arc<dyn ObjectStore>,
    location: LakeLocation,
}

impl std::fmt::Debug for Lake {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lake")
            .field("location", &self.location)
            .finish()
    }
}

impl Lake {
    /// Opens (and for a local lake, creates) the lake at `location`.
    pub fn open(location: &LakeLocation) -> Result<Self> {
        Ok(Self {
            store: open_store(location)?,
            location: location.clone(),
        })
    }

    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.store
    }

    pub fn location(&self) -> &LakeLocation {
        &self.location
    }

    /// Starts writing one leaf partition of `table` (one object, one atomic put).
    pub fn write_partition<'a>(&'a self, table: &'a dyn TableContract) -> PartitionWrite<'a> {
        PartitionWrite::new(self, table)
    }

    /// A local folder for rows spilled while a big partition is written:
    /// inside a local lake (same disk as the partitions), else the system's
    /// temporary folder.
    pub fn staging_dir(&self) -> std::path::PathBuf {
        match &self.location {
            LakeLocation::Local(root) => root.join("_usagelake").join("staging"),
            _ => std::env::temp_dir(),
        }
    }

    /// Path of usagelake's own bookkeeping object `name` (outside `tables/`).
    pub fn meta_path(&self, name: &str) -> Path {
        Path::from(format!("_usagelake/{name}"))
    }

    /// The bookkeeping object at `path` (from [`Lake::meta_path`]); `None`
    /// when there is none.
    pub async fn read_meta(&self, path: &Path) -> Result<Option<bytes::Bytes>> {
        let store_err = |source| LakeError::Store {
            path: path.to_string(),
            source,
        };
        match self.store.get(path).await {
            Ok(result) => Ok(Some(result.bytes().await.map_err(store_err)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(store_err(e)),
        }
    }

    /// Replaces the bookkeeping object at `path` (one atomic put).
    pub async fn write_meta(&self, path: &Path, body: Vec<u8>) -> Result<()> {
        self.store
            .put(path, object_store::PutPayload::from(body))
            .await
            .map_err(|source| LakeError::Store {
                path: path.to_string(),
                source,
            })?;
        Ok(())
    }
}
