//! What a table holds, per leaf partition, from the object listing and the
//! Parquet footers alone (no data read): `usagelake tables` and the derive
//! step's chunk planning both need it.

use std::collections::BTreeMap;

use datafusion::parquet::file::metadata::{FooterTail, ParquetMetaData, ParquetMetaDataReader};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use super::{Lake, LakeError, Result, TableContract};

/// Rows and bytes of one leaf partition (all its Parquet objects).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PartitionStats {
    pub rows: u64,
    pub bytes: u64,
}

/// Every leaf partition of `spec` keyed by its path under the table root
/// (`date=2026-09-03`, `as_of=2026-09-03`; empty for an unpartitioned table).
pub async fn partition_stats(
    lake: &Lake,
    spec: &dyn TableContract,
) -> Result<BTreeMap<String, PartitionStats>> {
    let root = Path::from(spec.root());
    let metas: Vec<_> = lake
        .store()
        .list(Some(&root))
        .try_collect()
        .await
        .map_err(|source| LakeError::Store {
            path: root.to_string(),
            source,
        })?;
    let mut out: BTreeMap<String, PartitionStats> = BTreeMap::new();
    for meta in metas
        .into_iter()
        .filter(|m| m.location.as_ref().ends_with(".parquet"))
    {
        let footer = read_footer(lake, &meta.location, meta.size).await?;
        let partition = meta
            .location
            .as_ref()
            .trim_start_matches(&spec.root())
            .trim_start_matches('/')
            .rsplit_once('/')
            .map(|(p, _)| p.to_string())
            .unwrap_or_default();
        let stats = out.entry(partition).or_default();
        stats.rows += footer.file_metadata().num_rows() as u64;
        stats.bytes += meta.size;
    }
    Ok(out)
}

/// Rows of one Parquet object, from its footer.
pub async fn parquet_rows(lake: &Lake, path: &Path, size: u64) -> Result<u64> {
    Ok(read_footer(lake, path, size)
        .await?
        .file_metadata()
        .num_rows() as u64)
}

async fn read_footer(lake: &Lake, path: &Path, size: u64) -> Result<ParquetMetaData> {
    read_footer_from(lake.store().as_ref(), path, size).await
}

/// Reads only a Parquet file's footer (two small range reads).
pub(super) async fn read_footer_from(
    store: &dyn ObjectStore,
    path: &Path,
    size: u64,
) -> Result<ParquetMetaData> {
    let store_err = |source| LakeError::Store {
        path: path.to_string(),
        source,
    };
    let parquet_err = |source| LakeError::Parquet {
        path: path.to_string(),
        source,
    };
    let tail = store
        .get_range(path, size.saturating_sub(8)..size)
        .await
        .map_err(store_err)?;
    let tail: [u8; 8] = tail.as_ref().try_into().map_err(|_| {
        parquet_err(datafusion::parquet::errors::ParquetError::EOF(
            "file shorter than a footer".into(),
        ))
    })?;
    let footer = FooterTail::try_new(&tail).map_err(parquet_err)?;
    let start = size.saturating_sub(8 + footer.metadata_length() as u64);
    let bytes = store
        .get_range(path, start..size - 8)
        .await
        .map_err(store_err)?;
    ParquetMetaDataReader::decode_metadata(&bytes).map_err(parquet_err)
}
