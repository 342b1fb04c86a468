//! Partitions too big to sort in memory: rows are spilled as sorted runs
//! (small local Parquet files, each deduplicated and sorted by the table's
//! sort key) and merged into the partition's one object as a stream, so
//! memory follows the chunk size and the number of runs, not the day.

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use datafusion::arrow::compute::interleave_record_batch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, Rows, SortField};
use datafusion::parquet::arrow::ArrowWriter;
use datafusion::parquet::arrow::arrow_reader::{
    ParquetRecordBatchReader, ParquetRecordBatchReaderBuilder,
};
use futures::future::BoxFuture;
use futures::{FutureExt, StreamExt, TryFutureExt};
use object_store::buffered::BufWriter;
use object_store::{ObjectStore, ObjectStoreExt};
use parquet::arrow::arrow_reader::ArrowReaderOptions;
use parquet::arrow::async_reader::AsyncFileReader;
use parquet::arrow::{AsyncArrowWriter, ParquetRecordBatchStreamBuilder};
use parquet::errors::ParquetError;
use parquet::file::metadata::{ParquetMetaData, ParquetMetaDataReader};

use super::tables::{PartitionValue, TableContract, TableSpec};
use super::writer::{object_path, remove_stale_staging_files, writer_properties};
use super::{Lake, LakeError, LakeLocation, Result, WriteReport, merge_dedup};

/// Rows per row group of a run: a run is read back a batch at a time, and
/// a small row group keeps what the reader fetches per run small too.
const RUN_ROW_GROUP_ROWS: usize = 8 * 1024;
/// Rows read from each run at a time while merging (one batch per run is
/// held, so this times the number of runs bounds the merge's input).
const RUN_READ_ROWS: usize = 1024;
/// Rows per batch handed to the partition's Parquet writer.
const MERGED_BATCH_ROWS: usize = 8 * 1024;
/// Runs merged at once: more runs are first merged in groups of this many
/// into longer runs, so the merge holds at most this many open readers
/// however big the day.
const MAX_FAN_IN: usize = 16;
/// Bytes buffered per part of the partition's upload, and parts in flight.
const UPLOAD_PART_BYTES: usize = 8 * 1024 * 1024;
const UPLOAD_PARTS_IN_FLIGHT: usize = 2;

/// One spilled run: a local Parquet file of the table's file schema,
/// without duplicate keys, sorted by the table's sort key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub path: PathBuf,
    pub rows: u64,
}

/// Sorts and deduplicates `batches` (one chunk of rows, in input order:
/// the first of each key wins) and writes them as run `path`.
pub fn spill_run(table: &'static TableSpec, batches: &[RecordBatch], path: &Path) -> Result<Run> {
    check_mergeable(table);
    let sorted = merge_dedup(table, &[], batches)?.batch;
    let parquet_err = |source| LakeError::Parquet {
        path: path.display().to_string(),
        source,
    };
    let mut writer = run_writer(table, path)?;
    writer.write(&sorted).map_err(parquet_err)?;
    writer.close().map_err(parquet_err)?;
    Ok(Run {
        path: path.to_path_buf(),
        rows: sorted.num_rows() as u64,
    })
}

fn run_writer(table: &TableSpec, path: &Path) -> Result<ArrowWriter<File>> {
    let file = File::create(path).map_err(|source| LakeError::Spill {
        path: path.display().to_string(),
        source,
    })?;
    let schema = table.file_schema();
    let properties = writer_properties(&schema)
        .into_builder()
        .set_max_row_group_row_count(Some(RUN_ROW_GROUP_ROWS))
        .build();
    ArrowWriter::try_new(file, schema, Some(properties)).map_err(|source| LakeError::Parquet {
        path: path.display().to_string(),
        source,
    })
}

/// Merges consecutive groups of [`MAX_FAN_IN`] runs into one run each
/// (consecutive, so an earlier run still wins a shared key) until few
/// enough are left to merge at once.
fn cascade(table: &'static TableSpec, mut runs: Vec<Run>) -> Result<Vec<Run>> {
    let mut level = 0;
    while runs.len() > MAX_FAN_IN {
        level += 1;
        let mut merged = Vec::with_capacity(runs.len().div_ceil(MAX_FAN_IN));
        for (group, chunk) in runs.chunks(MAX_FAN_IN).enumerate() {
            if let [only] = chunk {
                merged.push(only.clone());
                continue;
            }
            let dir = chunk[0].path.parent().unwrap_or(Path::new("."));
            let path = dir.join(format!("merged-{level}-{group:04}.parquet"));
            let parquet_err = |source| LakeError::Parquet {
                path: path.display().to_string(),
                source,
            };
            let mut merger = RunMerger::open(table, chunk)?;
            let mut writer = run_writer(table, &path)?;
            let mut rows = 0;
            while let Some(batch) = merger.next_batch()? {
                rows += batch.num_rows() as u64;
                writer.write(&batch).map_err(parquet_err)?;
            }
            writer.close().map_err(parquet_err)?;
            drop(merger);
            for run in chunk {
                let _ = std::fs::remove_file(&run.path);
            }
            merged.push(Run { path, rows });
        }
        runs = merged;
    }
    Ok(runs)
}

/// Equal keys must meet while merging: the sort key holds the dedup key
/// (which, as `bi_queries`' id, determines the rest of the sort key).
fn check_mergeable(table: &TableSpec) {
    assert!(
        table.dedup_key.iter().all(|k| table.sort_key.contains(k)),
        "table {}: sorted runs need the dedup key inside the sort key",
        table.name
    );
}

impl Lake {
    /// Replaces partition `values` of `table` with the merge of `runs`: the first
    /// run holding a key wins (put the rows already in the lake first), the
    /// result is sorted by the table's sort key. The object is streamed out
    /// as it is merged (local: a temp file renamed at the end; S3: one
    /// multipart upload completed at the end), so a failure at any point
    /// leaves the partition as it was.
    pub async fn write_runs(
        &self,
        table: &'static TableSpec,
        values: &[PartitionValue],
        runs: Vec<Run>,
    ) -> Result<WriteReport> {
        check_mergeable(table);
        let path = object_path(table, values)?;
        if let LakeLocation::Local(root) = self.location() {
            remove_stale_staging_files(&root.join(path.as_ref()));
        }
        let store = Arc::clone(self.store());
        let handle = tokio::runtime::Handle::current();
        let target = path.clone();
        // Merging and encoding are CPU work: on a blocking thread, which
        // drives the upload's futures itself.
        let (rows, bytes) = tokio::task::spawn_blocking(move || -> Result<(u64, u64)> {
            let parquet_err = |source| LakeError::Parquet {
                path: target.to_string(),
                source,
            };
            let runs = cascade(table, runs)?;
            let mut merger = RunMerger::open(table, &runs)?;
            let schema = table.file_schema();
            let upload = BufWriter::with_capacity(store, target.clone(), UPLOAD_PART_BYTES)
                .with_max_concurrency(UPLOAD_PARTS_IN_FLIGHT);
            let properties = writer_properties(&schema);
            let mut writer =
                AsyncArrowWriter::try_new(upload, schema, Some(properties)).map_err(parquet_err)?;
            let mut rows = 0u64;
            let written = (|| {
                while let Some(batch) = merger.next_batch()? {
                    rows += batch.num_rows() as u64;
                    handle.block_on(writer.write(&batch)).map_err(parquet_err)?;
                }
                Ok(())
            })();
            if let Err(e) = written {
                // Nothing was published; drop the half-written upload.
                let mut upload = writer.into_inner();
                let _ = handle.block_on(upload.abort());
                return Err(e);
            }
            handle.block_on(writer.finish()).map_err(parquet_err)?;
            let bytes = writer.bytes_written() as u64;
            Ok((rows, bytes))
        })
        .await
        .expect("partition merge thread panicked")?;
        Ok(WriteReport {
            table: table.name.to_string(),
            path: path.to_string(),
            rows,
            bytes,
        })
    }
}

/// Reads the rows of a partition already in the lake that `keep` accepts,
/// a batch at a time; row groups whose statistics show `skip_group` holds
/// for all their rows are not read at all. `None` when there is no such
/// partition.
pub async fn read_partition_filtered(
    lake: &Lake,
    table: &'static TableSpec,
    values: &[PartitionValue],
    skip_group: impl Fn(&datafusion::parquet::file::metadata::RowGroupMetaData) -> bool,
    mut keep: impl FnMut(RecordBatch) -> Result<()>,
) -> Result<Option<()>> {
    let path = object_path(table, values)?;
    let meta = match lake.store().head(&path).await {
        Ok(meta) => meta,
        Err(object_store::Error::NotFound { .. }) => return Ok(None),
        Err(source) => {
            return Err(LakeError::Store {
                path: path.to_string(),
                source,
            });
        }
    };
    let parquet_err = |source| LakeError::Parquet {
        path: path.to_string(),
        source,
    };
    let reader = StoreReader {
        store: Arc::clone(lake.store()),
        path: path.clone(),
        size: meta.size,
    };
    let builder = ParquetRecordBatchStreamBuilder::new(reader)
        .await
        .map_err(parquet_err)?;
    let groups: Vec<usize> = builder
        .metadata()
        .row_groups()
        .iter()
        .enumerate()
        .filter(|(_, group)| !skip_group(group))
        .map(|(i, _)| i)
        .collect();
    let mut stream = builder
        .with_row_groups(groups)
        .with_batch_size(RUN_ROW_GROUP_ROWS)
        .build()
        .map_err(parquet_err)?;
    let schema = table.file_schema();
    while let Some(batch) = stream.next().await {
        let batch = batch.map_err(parquet_err)?;
        // The file schema, not the file's (its metadata may differ).
        let batch = RecordBatch::try_new(Arc::clone(&schema), batch.columns().to_vec()).map_err(
            |source| LakeError::Arrow {
                table: table.name.to_string(),
                source,
            },
        )?;
        keep(batch)?;
    }
    Ok(Some(()))
}

/// Reads one Parquet object by ranges (a row group's columns at a time).
struct StoreReader {
    store: Arc<dyn ObjectStore>,
    path: object_store::path::Path,
    size: u64,
}

fn store_err(e: object_store::Error) -> ParquetError {
    ParquetError::External(Box::new(e))
}

impl AsyncFileReader for StoreReader {
    fn get_bytes(
        &mut self,
        range: std::ops::Range<u64>,
    ) -> BoxFuture<'_, parquet::errors::Result<Bytes>> {
        self.store
            .get_range(&self.path, range)
            .map_err(store_err)
            .boxed()
    }

    fn get_byte_ranges(
        &mut self,
        ranges: Vec<std::ops::Range<u64>>,
    ) -> BoxFuture<'_, parquet::errors::Result<Vec<Bytes>>> {
        async move {
            self.store
                .get_ranges(&self.path, &ranges)
                .await
                .map_err(store_err)
        }
        .boxed()
    }

    fn get_metadata<'a>(
        &'a mut self,
        options: Option<&'a ArrowReaderOptions>,
    ) -> BoxFuture<'a, parquet::errors::Result<Arc<ParquetMetaData>>> {
        async move {
            let size = self.size;
            let metadata = ParquetMetaDataReader::new()
                .with_arrow_reader_options(options)
                .load_and_finish(self, size)
                .await?;
            Ok(Arc::new(metadata))
        }
        .boxed()
    }
}

/// One run being read: its current batch (in `RunMerger::sources`), that
/// batch's sort keys, and the next row.
struct Cursor {
    reader: ParquetRecordBatchReader,
    source: usize,
    keys: Rows,
    next: usize,
    path: PathBuf,
}

/// A k-way merge of sorted runs, yielding batches in sort order with each
/// key once (from the first run that has it).
struct RunMerger {
    table: &'static TableSpec,
    schema: SchemaRef,
    key_columns: Vec<usize>,
    converter: RowConverter,
    /// `None` once a run is exhausted; in run order (first wins ties).
    cursors: Vec<Option<Cursor>>,
    /// The batches the picked rows point into.
    sources: Vec<RecordBatch>,
    picks: Vec<(usize, usize)>,
    last_key: Option<Vec<u8>>,
}

impl RunMerger {
    /// Opens every run first, so a missing one fails before any upload.
    fn open(table: &'static TableSpec, runs: &[Run]) -> Result<Self> {
        let schema = table.file_schema();
        let key_columns: Vec<usize> = table
            .sort_key
            .iter()
            .map(|k| schema.index_of(k).expect("sort key column in schema"))
            .collect();
        let converter = RowConverter::new(
            key_columns
                .iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect(),
        )
        .map_err(|source| LakeError::Arrow {
            table: table.name.to_string(),
            source,
        })?;
        let mut merger = Self {
            table,
            schema,
            key_columns,
            converter,
            cursors: Vec::with_capacity(runs.len()),
            sources: Vec::new(),
            picks: Vec::with_capacity(MERGED_BATCH_ROWS),
            last_key: None,
        };
        for run in runs {
            let parquet_err = |source| LakeError::Parquet {
                path: run.path.display().to_string(),
                source,
            };
            let file = File::open(&run.path).map_err(|source| LakeError::Spill {
                path: run.path.display().to_string(),
                source,
            })?;
            let reader = ParquetRecordBatchReaderBuilder::try_new(file)
                .map_err(parquet_err)?
                .with_batch_size(RUN_READ_ROWS)
                .build()
                .map_err(parquet_err)?;
            let cursor = merger.start(reader, run.path.clone())?;
            merger.cursors.push(cursor);
        }
        Ok(merger)
    }

    fn arrow_err(&self, source: datafusion::arrow::error::ArrowError) -> LakeError {
        LakeError::Arrow {
            table: self.table.name.to_string(),
            source,
        }
    }

    /// A cursor on the next non-empty batch of `reader`, `None` at its end.
    fn start(
        &mut self,
        mut reader: ParquetRecordBatchReader,
        path: PathBuf,
    ) -> Result<Option<Cursor>> {
        loop {
            let Some(batch) = reader.next() else {
                return Ok(None);
            };
            let batch = batch.map_err(|source| LakeError::Arrow {
                table: format!("{} (run {})", self.table.name, path.display()),
                source,
            })?;
            if batch.num_rows() == 0 {
                continue;
            }
            let key_arrays: Vec<_> = self
                .key_columns
                .iter()
                .map(|&i| Arc::clone(batch.column(i)))
                .collect();
            let keys = self
                .converter
                .convert_columns(&key_arrays)
                .map_err(|e| self.arrow_err(e))?;
            self.sources.push(batch);
            return Ok(Some(Cursor {
                reader,
                source: self.sources.len() - 1,
                keys,
                next: 0,
                path,
            }));
        }
    }

    fn next_batch(&mut self) -> Result<Option<RecordBatch>> {
        while self.picks.len() < MERGED_BATCH_ROWS {
            let mut best: Option<usize> = None;
            for (i, cursor) in self.cursors.iter().enumerate() {
                let Some(cursor) = cursor else { continue };
                let better = match best {
                    None => true,
                    Some(b) => {
                        let current = self.cursors[b].as_ref().expect("best is live");
                        cursor.keys.row(cursor.next) < current.keys.row(current.next)
                    }
                };
                if better {
                    best = Some(i);
                }
            }
            let Some(best) = best else { break };
            let cursor = self.cursors[best].as_mut().expect("best is live");
            let key = cursor.keys.row(cursor.next);
            if self.last_key.as_deref() != Some(key.as_ref()) {
                let last = self.last_key.get_or_insert_with(Vec::new);
                last.clear();
                last.extend_from_slice(key.as_ref());
                self.picks.push((cursor.source, cursor.next));
            }
            cursor.next += 1;
            if cursor.next == cursor.keys.num_rows() {
                let Cursor { reader, path, .. } = self.cursors[best].take().expect("best is live");
                self.cursors[best] = self.start(reader, path)?;
            }
        }
        if self.picks.is_empty() {
            return Ok(None);
        }
        let sources: Vec<&RecordBatch> = self.sources.iter().collect();
        let merged =
            interleave_record_batch(&sources, &self.picks).map_err(|e| self.arrow_err(e))?;
        self.picks.clear();
        // Keep only the batches the cursors still read from.
        let mut live = Vec::with_capacity(self.cursors.len());
        for cursor in self.cursors.iter_mut().flatten() {
            live.push(self.sources[cursor.source].clone());
            cursor.source = live.len() - 1;
        }
        self.sources = live;
        RecordBatch::try_new(Arc::clone(&self.schema), merged.columns().to_vec())
            .map(Some)
            .map_err(|e| self.arrow_err(e))
    }
}
