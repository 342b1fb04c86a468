//! Telemetry ingest: Segment-spec NDJSON (plain or gzip) from a folder or
//! object prefix into `pages`, `tracks` and `users`.
//!
//! Files are parsed in parallel into per-partition Arrow batches; each
//! touched partition is then merged with what the lake holds (rows already
//! there win, duplicates by `message_id` dropped) and rewritten as one
//! object. Late events for an old day therefore rewrite that day only.

mod batch;
pub mod event;
mod gunzip;
mod input;
mod scan;
mod staging;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{NaiveDate, Utc};
use datafusion::arrow::array::{ArrayRef, Int64Array, StringArray, TimestampMicrosecondArray};
use datafusion::arrow::record_batch::RecordBatch;
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use serde::Serialize;

use batch::TableBuilder;
pub use batch::Telemetry;
pub use input::{InputFile, arrival_date, list_inputs};
use staging::Staging;

use crate::config::FileSelection;
use crate::lake::{
    self, Lake, LakeError, LakeLocation, PartitionValue, S3Options, TableContract, tables,
};

/// Rows per batch handed from parsing to merging.
const BATCH_ROWS: usize = 64 * 1024;

/// Parsed rows kept in memory before the largest partitions spill to disk
/// (MiB; `USAGELAKE_INGEST_BUFFER_MB` overrides).
const DEFAULT_BUFFER_MB: usize = 512;

fn buffer_budget() -> usize {
    std::env::var("USAGELAKE_INGEST_BUFFER_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(DEFAULT_BUFFER_MB)
        * 1024
        * 1024
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("ingest source {source_url:?}: {reason}")]
    Source { source_url: String, reason: String },
    #[error("reading input {file}: {reason}")]
    Read { file: String, reason: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// What to ingest.
#[derive(Debug, Clone)]
pub struct IngestRequest {
    /// Folder, `file://` or `s3://` prefix.
    pub source: String,
    pub selection: FileSelection,
    /// The logical date: selects arrival folders, and dates the quarantine partition.
    pub date: NaiveDate,
    /// Credentials for an `s3://` source.
    pub s3: S3Options,
    /// Events whose time is implausibly far from their arrival are quarantined.
    pub event_time: EventTimeBounds,
}

/// How far a page's or track's `timestamp` may lie from its `receivedAt`.
/// Device clocks at 1970-01-01 or 9999-12-31 would otherwise each make a
/// one-row partition far from the rest and stretch every "whole history"
/// computation. An event without `receivedAt` is not checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTimeBounds {
    /// Days `timestamp` may be after `receivedAt` (clock skew).
    pub max_ahead_days: u32,
    /// Days `timestamp` may be before `receivedAt` (buffered, late events).
    pub max_behind_days: u32,
}

impl Default for EventTimeBounds {
    fn default() -> Self {
        Self {
            max_ahead_days: 1,
            max_behind_days: 365,
        }
    }
}

impl EventTimeBounds {
    /// The quarantine reason when `timestamp` is out of bounds (µs since epoch).
    fn check(&self, timestamp: i64, received_at: i64) -> Result<(), String> {
        let text = |us: i64| {
            chrono::DateTime::from_timestamp_micros(us).map_or(us.to_string(), |t| {
                t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true)
            })
        };
        let (ahead, behind) = (
            i64::from(self.max_ahead_days) * MICROS_PER_DAY,
            i64::from(self.max_behind_days) * MICROS_PER_DAY,
        );
        let out_of_bounds = |days: u32, side: &str, key: &str| {
            Err(format!(
                "implausible event time: `timestamp` {} is more than {days} day(s) {side} `receivedAt` {} (bound: ingest step's {key})",
                text(timestamp),
                text(received_at)
            ))
        };
        if timestamp.saturating_sub(received_at) > ahead {
            return out_of_bounds(self.max_ahead_days, "after", "event_time_max_ahead_days");
        }
        if received_at.saturating_sub(timestamp) > behind {
            return out_of_bounds(self.max_behind_days, "before", "event_time_max_behind_days");
        }
        Ok(())
    }
}

/// Counts of one ingest, printed and recorded in the run ledger.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct IngestReport {
    pub files: u64,
    pub lines: u64,
    pub bytes: u64,
    /// Rows parsed per table before dedup.
    pub parsed: BTreeMap<String, u64>,
    /// Rows added to the lake per table.
    pub written: BTreeMap<String, u64>,
    /// Parsed rows dropped as duplicates of a row in the input or the lake.
    pub deduped: u64,
    pub quarantined: u64,
    pub partitions_written: u64,
    /// Files read only up to damage (a truncated or corrupt gzip): each has
    /// one quarantine row (line 0) saying where.
    pub damaged_files: u64,
}

impl std::fmt::Display for IngestReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let parsed: u64 = self.parsed.values().sum();
        let written: u64 = self.written.values().sum();
        write!(
            f,
            "read {} lines from {} files; parsed {parsed}; wrote {written} new rows (pages {}, tracks {}, users {}) to {} partitions; deduped {}; quarantined {}",
            self.lines,
            self.files,
            self.written.get("pages").unwrap_or(&0),
            self.written.get("tracks").unwrap_or(&0),
            self.written.get("users").unwrap_or(&0),
            self.partitions_written,
            self.deduped,
            self.quarantined
        )?;
        if self.damaged_files > 0 {
            write!(
                f,
                "; {} damaged files read up to the damage (quarantine rows with line 0)",
                self.damaged_files
            )?;
        }
        Ok(())
    }
}

/// A line that could not be used.
struct Rejected {
    line: i64,
    reason: String,
    raw: String,
}

/// Everything parsed out of one input file.
struct ParsedFile {
    name: String,
    lines: u64,
    bytes: u64,
    batches: Vec<((Telemetry, NaiveDate), RecordBatch)>,
    rejected: Vec<Rejected>,
    damaged: bool,
}

pub async fn ingest(lake: &Lake, request: &IngestRequest) -> Result<IngestReport, IngestError> {
    let location =
        LakeLocation::parse(&request.source, &request.s3).map_err(|e| IngestError::Source {
            source_url: request.source.clone(),
            reason: e.to_string(),
        })?;
    if let LakeLocation::Local(path) = &location
        && !path.is_dir()
    {
        return Err(IngestError::Source {
            source_url: request.source.clone(),
            reason: format!(
                "folder {} does not exist; run `usagelake demo` to generate one, or point the step's source at your event files",
                path.display()
            ),
        });
    }
    let store = lake::open_store(&location)?;
    let files = list_inputs(&store, request.selection, request.date)
        .await
        .map_err(|e| IngestError::Source {
            source_url: request.source.clone(),
            reason: e.to_string(),
        })?;

    let started = std::time::Instant::now();
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get());
    // At most `workers` files parse at once, but results are taken in input
    // order (first copy of a duplicate wins, deterministically) from a
    // window twice as wide, so a large file at the head does not leave
    // cores idle while small ones behind it wait.
    let parsers = Arc::new(tokio::sync::Semaphore::new(workers));
    let mut parsed = futures::stream::iter(files.into_iter().map(|file| {
        let store = Arc::clone(&store);
        let parsers = Arc::clone(&parsers);
        let bounds = request.event_time;
        async move {
            let read_err = |e: object_store::Error| IngestError::Read {
                file: file.path.to_string(),
                reason: e.to_string(),
            };
            let bytes = store
                .get(&file.path)
                .await
                .map_err(read_err)?
                .bytes()
                .await
                .map_err(read_err)?;
            let name = file.path.to_string();
            let permit = parsers
                .acquire_owned()
                .await
                .expect("semaphore is never closed");
            tokio::task::spawn_blocking(move || {
                let parsed = parse_file(name, &bytes, bounds);
                drop(permit);
                parsed
            })
            .await
            .expect("parser thread panicked")
        }
    }))
    .buffered(2 * workers);

    let mut report = IngestReport::default();
    let mut staging = Staging::new(buffer_budget());
    let mut rejected = Vec::new();
    let mut written = BTreeSet::new();
    let stage_err = |e: std::io::Error| IngestError::Read {
        file: "(ingest spill folder)".into(),
        reason: e.to_string(),
    };
    while let Some(file) = parsed.try_next().await? {
        report.files += 1;
        report.lines += file.lines;
        report.bytes += file.bytes;
        report.damaged_files += u64::from(file.damaged);
        for ((table, date), batch) in file.batches {
            *report
                .parsed
                .entry(table.spec().name.to_string())
                .or_default() += batch.num_rows() as u64;
            staging.push((table, date), batch);
        }
        rejected.extend(file.rejected.into_iter().map(|r| (file.name.clone(), r)));
        if staging.over_budget() {
            let merge_now = staging.relieve().map_err(stage_err)?;
            let parts = merge_now.into_iter().map(Ok);
            merge_all(lake, parts, workers, &mut report, &mut written).await?;
        }
    }
    drop(parsed);
    tracing::debug!(
        files = report.files,
        lines = report.lines,
        spilled_bytes = staging.spilled_bytes,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "ingest: input parsed, merging partitions"
    );

    let keys = staging.keys();
    let parts = keys
        .into_iter()
        .map(|key| Ok((key, staging.take(&key).map_err(stage_err)?)));
    merge_all(lake, parts, workers, &mut report, &mut written).await?;
    tracing::debug!(
        partitions = report.partitions_written,
        elapsed_ms = started.elapsed().as_millis() as u64,
        "ingest: partitions merged"
    );
    report.quarantined = rejected.len() as u64;
    if !rejected.is_empty() {
        write_quarantine(lake, request.date, rejected).await?;
        report.partitions_written += 1;
    }
    Ok(report)
}

/// Merges partitions into the lake, `workers` at a time (merging and
/// encoding are CPU-bound; memory stays near that many partitions' worth),
/// the next starting as soon as one is written. `parts` is drawn lazily, so
/// spilled partitions are read back one at a time.
async fn merge_all(
    lake: &Lake,
    parts: impl Iterator<Item = Result<(staging::PartitionKey, Vec<RecordBatch>), IngestError>>,
    workers: usize,
    report: &mut IngestReport,
    written: &mut BTreeSet<staging::PartitionKey>,
) -> Result<(), IngestError> {
    let mut merges = futures::stream::iter(parts.map(|part| async move {
        let (key, batches) = part?;
        let merged = merge_partition(lake, key, batches).await?;
        Ok::<_, IngestError>((key, merged))
    }))
    .buffer_unordered(workers);
    while let Some((key, (table, duplicates, added, wrote))) = merges.try_next().await? {
        report.deduped += duplicates;
        *report.written.entry(table.to_string()).or_default() += added;
        if wrote && written.insert(key) {
            report.partitions_written += 1;
        }
    }
    Ok(())
}

/// Merges a staged partition with the lake's copy and rewrites it; returns
/// (table, duplicates dropped, rows added, whether it was written).
async fn merge_partition(
    lake: &Lake,
    (table, date): staging::PartitionKey,
    batches: Vec<RecordBatch>,
) -> Result<(&'static str, u64, u64, bool), IngestError> {
    let spec = table.spec();
    let key = [PartitionValue::Date(date)];
    let existing = lake::read_partition(lake, spec, &key)
        .await?
        .unwrap_or_default();
    let had_rows = existing.iter().any(|b| b.num_rows() > 0);
    let incoming: u64 = batches.iter().map(|b| b.num_rows() as u64).sum();
    let merged = tokio::task::spawn_blocking(move || lake::merge_dedup(spec, &existing, &batches))
        .await
        .expect("merge thread panicked")?;
    let added = incoming - merged.duplicates;
    // Nothing new: the partition already holds every row, leave it be.
    let wrote = if added == 0 && had_rows {
        false
    } else {
        lake.write_partition(spec)
            .partition(key)
            .write(&[merged.batch])
            .await?;
        true
    };
    Ok((spec.name, merged.duplicates, added, wrote))
}

/// Parses one file (gzip detected by its magic bytes) line by line.
fn parse_file(
    name: String,
    bytes: &[u8],
    bounds: EventTimeBounds,
) -> Result<ParsedFile, IngestError> {
    let mut decompressed = DecompressBuffer::take();
    let parsed = parse_text(name, bytes, &mut decompressed.0, bounds);
    decompressed.give_back();
    parsed
}

/// Decompressed files are tens of MB: a fresh buffer per file is fresh
/// pages from the kernel (faults and zeroing: half of ingest's system
/// time), so a few buffers are kept and reused across files.
struct DecompressBuffer(Vec<u8>);

static SPARE_BUFFERS: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

impl DecompressBuffer {
    fn take() -> Self {
        let spare = SPARE_BUFFERS.lock().map(|mut s| s.pop()).unwrap_or(None);
        Self(spare.unwrap_or_default())
    }

    /// Keeps the buffer for the next file: as many as parse at once (one
    /// per core), each under 256 MiB; the rest are freed.
    fn give_back(mut self) {
        const KEEP_BYTES: usize = 256 << 20;
        if self.0.capacity() > KEEP_BYTES {
            return;
        }
        self.0.clear();
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        if let Ok(mut spare) = SPARE_BUFFERS.lock()
            && spare.len() < cores
        {
            spare.push(std::mem::take(&mut self.0));
        }
    }
}

fn parse_text(
    name: String,
    bytes: &[u8],
    decompressed: &mut Vec<u8>,
    bounds: EventTimeBounds,
) -> Result<ParsedFile, IngestError> {
    // A damaged gzip file does not stop the run: what decoded before the
    // damage is used and the file gets one quarantine row (line 0).
    let (text, damage): (&[u8], _) = if bytes.starts_with(&[0x1f, 0x8b]) {
        let damage = gunzip::gunzip(bytes, decompressed).err();
        (decompressed.as_slice(), damage)
    } else {
        (bytes, None)
    };
    // Keyed by day number: a date is built once per partition, not per row.
    let mut builders: BTreeMap<(Telemetry, i64), TableBuilder> = BTreeMap::new();
    let mut out = ParsedFile {
        name,
        lines: 0,
        bytes: text.len() as u64,
        batches: Vec::new(),
        rejected: Vec::new(),
        damaged: damage.is_some(),
    };
    // One UTF-8 check of the whole text is much faster than one per line;
    // only a file that fails it is checked line by line, to quarantine
    // just the bad lines.
    let whole = std::str::from_utf8(text).ok();
    let ends = memchr::memchr_iter(b'\n', text).chain(std::iter::once(text.len()));
    let mut start = 0;
    for (index, end) in ends.enumerate() {
        let line_start = start;
        start = end + 1;
        let end = if end > line_start && text[end - 1] == b'\r' {
            end - 1
        } else {
            end
        };
        let line = &text[line_start..end];
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.lines += 1;
        let reject = |reason: String| Rejected {
            line: index as i64 + 1,
            reason,
            raw: String::from_utf8_lossy(line).into_owned(),
        };
        // Cut at ASCII bytes, so on char boundaries of a valid text.
        let valid = match whole {
            Some(all) => Ok(&all[line_start..end]),
            None => std::str::from_utf8(line),
        };
        let Ok(text) = valid else {
            out.rejected.push(reject("not valid UTF-8".into()));
            continue;
        };
        let checked = event::parse_line(text).and_then(|row| {
            if let event::Row::Page { common, .. } | event::Row::Track { common, .. } = &row
                && let Some(received_at) = common.received_at
            {
                bounds.check(common.timestamp, received_at)?;
            }
            Ok(row)
        });
        match checked {
            Ok(row) => {
                let table = Telemetry::of(&row);
                let day = Telemetry::partition_micros(&row).div_euclid(MICROS_PER_DAY);
                let builder = builders
                    .entry((table, day))
                    .or_insert_with(|| TableBuilder::new(table));
                builder.push(&row);
                if builder.len() >= BATCH_ROWS {
                    let full = std::mem::replace(builder, TableBuilder::new(table));
                    out.batches.push(((table, date_of_day(day)), full.finish()));
                }
            }
            Err(reason) => out.rejected.push(reject(reason)),
        }
    }
    for ((table, day), builder) in builders {
        if !builder.is_empty() {
            out.batches
                .push(((table, date_of_day(day)), builder.finish()));
        }
    }
    if let Some(damage) = damage {
        out.rejected.push(Rejected {
            line: 0,
            reason: format!(
                "gzip: {damage}; the {} lines before the damage were read, fix or replace the file and run the date again",
                out.lines
            ),
            raw: String::new(),
        });
    }
    Ok(out)
}

const MICROS_PER_DAY: i64 = 86_400_000_000;

fn date_of_day(days_since_epoch: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(1970, 1, 1).expect("epoch") + chrono::TimeDelta::days(days_since_epoch)
}

pub fn utc_date(micros: i64) -> NaiveDate {
    date_of_day(micros.div_euclid(MICROS_PER_DAY))
}

async fn write_quarantine(
    lake: &Lake,
    date: NaiveDate,
    rejected: Vec<(String, Rejected)>,
) -> Result<(), IngestError> {
    let now = Utc::now().timestamp_micros();
    let n = rejected.len();
    let columns: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from_iter_values(
            rejected.iter().map(|(f, _)| f.as_str()),
        )),
        Arc::new(Int64Array::from_iter_values(
            rejected.iter().map(|(_, r)| r.line),
        )),
        Arc::new(StringArray::from_iter_values(
            rejected.iter().map(|(_, r)| r.reason.as_str()),
        )),
        Arc::new(StringArray::from_iter_values(
            rejected.iter().map(|(_, r)| r.raw.as_str()),
        )),
        Arc::new(TimestampMicrosecondArray::from(vec![now; n]).with_timezone("UTC")),
    ];
    let batch =
        RecordBatch::try_new(tables::QUARANTINE.file_schema(), columns).map_err(|source| {
            LakeError::Arrow {
                table: "quarantine".into(),
                source,
            }
        })?;
    let key = [
        PartitionValue::Date(date),
        PartitionValue::Str("segment".into()),
    ];
    let existing = lake::read_partition(lake, &tables::QUARANTINE, &key)
        .await?
        .unwrap_or_default();
    let merged = lake::merge_dedup(&tables::QUARANTINE, &existing, &[batch])?;
    lake.write_partition(&tables::QUARANTINE)
        .partition(key)
        .write(&[merged.batch])
        .await?;
    Ok(())
}
