//! The partition writer: exactly one Parquet object per leaf partition,
//! written with one atomic put (local: temp file + rename; S3: one PUT).

use bytes::Bytes;
use datafusion::arrow::datatypes::{DataType, Schema, SchemaRef};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use datafusion::parquet::basic::{Compression, Encoding, ZstdLevel};
use datafusion::parquet::file::properties::{EnabledStatistics, WriterProperties};
use datafusion::parquet::schema::types::ColumnPath;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};

use super::tables::{PartitionValue, TableContract};
use super::{Lake, LakeError, LakeLocation, Result};

/// Rows per row group: large enough for good compression and few footers,
/// small enough that a reader can prune a day's file by statistics.
const ROW_GROUP_ROWS: usize = 256 * 1024;

pub const DATA_FILE: &str = "data.parquet";

/// What one partition write produced.
#[derive(Debug, Clone, PartialEq)]
pub struct WriteReport {
    pub table: String,
    pub path: String,
    pub rows: u64,
    pub bytes: u64,
}

/// Builder for writing one leaf partition (see [`Lake::write_partition`]).
pub struct PartitionWrite<'a> {
    lake: &'a Lake,
    table: &'a dyn TableContract,
    values: Vec<PartitionValue>,
}

impl<'a> PartitionWrite<'a> {
    pub(super) fn new(lake: &'a Lake, table: &'a dyn TableContract) -> Self {
        Self {
            lake,
            table,
            values: Vec::new(),
        }
    }

    /// The partition's key values, in the table's key order.
    pub fn partition(mut self, values: impl IntoIterator<Item = PartitionValue>) -> Self {
        self.values = values.into_iter().collect();
        self
    }

    /// Replaces the partition's content with `batches` (which may be empty:
    /// the partition then holds a valid zero-row file).
    pub async fn write(self, batches: &[RecordBatch]) -> Result<WriteReport> {
        let path = object_path(self.table, &self.values)?;
        for batch in batches {
            check_schema(self.table, batch)?;
        }
        // Encoding is the CPU-heavy part: off the async threads, so several
        // partitions written concurrently encode in parallel.
        let (schema, owned, root) = (
            self.table.file_schema(),
            batches.to_vec(),
            self.table.root(),
        );
        let bytes = tokio::task::spawn_blocking(move || encode_parquet(schema, &owned, root))
            .await
            .expect("parquet encoder thread panicked")?;
        let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
        let size = bytes.len() as u64;
        if let LakeLocation::Local(root) = self.lake.location() {
            remove_stale_staging_files(&root.join(path.as_ref()));
        }
        self.lake
            .store()
            .put(&path, PutPayload::from_bytes(bytes))
            .await
            .map_err(|source| LakeError::Store {
                path: path.to_string(),
                source,
            })?;
        Ok(WriteReport {
            table: self.table.name().to_string(),
            path: path.to_string(),
            rows,
            bytes: size,
        })
    }
}

pub(super) fn object_path(table: &dyn TableContract, values: &[PartitionValue]) -> Result<Path> {
    for ((key, _), value) in table.partition_keys().iter().zip(values) {
        if !value.is_safe() {
            return Err(LakeError::UnsafePartitionValue {
                table: table.name().to_string(),
                key,
                value: value.to_path_segment(),
            });
        }
    }
    let partition = table
        .partition_path(values)
        .ok_or_else(|| LakeError::PartitionMismatch {
            table: table.name().to_string(),
            given: values
                .iter()
                .map(|v| v.to_string())
                .collect::<Vec<_>>()
                .join("/"),
            expected: table.partition_keys().iter().map(|(k, _)| *k).collect(),
        })?;
    Ok(Path::from(format!(
        "{}{partition}{DATA_FILE}",
        table.root()
    )))
}

pub(crate) fn writer_properties(schema: &Schema) -> WriterProperties {
    let mut builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(
            ZstdLevel::try_new(1).expect("level 1 is valid"),
        ))
        .set_max_row_group_row_count(Some(ROW_GROUP_ROWS))
        .set_statistics_enabled(EnabledStatistics::Page)
        // Unique per row: a dictionary never pays off, and building one
        // hashes every value before the writer gives up on it.
        .set_column_dictionary_enabled(ColumnPath::from("message_id"), false)
        .set_column_dictionary_enabled(ColumnPath::from("properties"), false)
        // A JSON blob's min and max prune nothing; comparing them costs.
        .set_column_statistics_enabled(ColumnPath::from("properties"), EnabledStatistics::None);
    // Event times are near-unique and, within a sorted partition, close
    // together: deltas pack them into a few bytes each, where a dictionary
    // fills up and falls back to 8 plain bytes. On a day of 230k page
    // events this made the file 15 % smaller and the encode a third faster;
    // DuckDB, Spark, Trino and Polars all read the encoding.
    for field in schema.fields() {
        if matches!(field.data_type(), DataType::Timestamp(..)) {
            let column = ColumnPath::from(field.name().as_str());
            builder = builder
                .set_column_dictionary_enabled(column.clone(), false)
                .set_column_encoding(column, Encoding::DELTA_BINARY_PACKED);
        }
    }
    builder.build()
}

fn encode_parquet(schema: SchemaRef, batches: &[RecordBatch], root: String) -> Result<Bytes> {
    let parquet_err = |source| LakeError::Parquet {
        path: root.clone(),
        source,
    };
    let mut buffer = Vec::new();
    let properties = writer_properties(&schema);
    let mut writer =
        ArrowWriter::try_new(&mut buffer, schema, Some(properties)).map_err(parquet_err)?;
    for batch in batches {
        writer.write(batch).map_err(parquet_err)?;
    }
    writer.close().map_err(parquet_err)?;
    Ok(Bytes::from(buffer))
}

fn check_schema(table: &dyn TableContract, batch: &RecordBatch) -> Result<()> {
    let expected = table.file_schema();
    let got = batch.schema();
    let same = expected.fields().len() == got.fields().len()
        && expected
            .fields()
            .iter()
            .zip(got.fields())
            .all(|(e, g)| e.name() == g.name() && e.data_type() == g.data_type());
    if same {
        Ok(())
    } else {
        Err(LakeError::SchemaMismatch {
            table: table.name().to_string(),
            detail: format!("expected {expected}, got {got}"),
        })
    }
}

/// A writer killed mid-put leaves its local temp file (`data.parquet#N`) in
/// the partition folder. Readers never see it (object_store hides it, other
/// engines glob `*.parquet`), but it would pile up: the next write removes it.
pub(super) fn remove_stale_staging_files(data_file: &std::path::Path) {
    let (Some(dir), Some(name)) = (data_file.parent(), data_file.file_name()) else {
        return;
    };
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let prefix = format!("{}#", name.to_string_lossy());
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let file_name = file_name.to_string_lossy();
        if let Some(suffix) = file_name.strip_prefix(&prefix)
            && suffix.bytes().all(|b| b.is_ascii_digit())
        {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

/// Reads one partition back; `None` when the partition does not exist yet.
pub async fn read_partition(
    lake: &Lake,
    table: &dyn TableContract,
    values: &[PartitionValue],
) -> Result<Option<Vec<RecordBatch>>> {
    let path = object_path(table, values)?;
    let bytes = match lake.store().get(&path).await {
        Ok(result) => result.bytes().await,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(e) => Err(e),
    }
    .map_err(|source| LakeError::Store {
        path: path.to_string(),
        source,
    })?;
    let parquet_err = |source| LakeError::Parquet {
        path: path.to_string(),
        source,
    };
    let reader = ParquetRecordBatchReaderBuilder::try_new(bytes)
        .map_err(parquet_err)?
        .with_batch_size(64 * 1024)
        .build()
        .map_err(parquet_err)?;
    let batches = reader
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|source| LakeError::Arrow {
            table: table.name().to_string(),
            source,
        })?;
    Ok(Some(batches))
}
