//! Parsed batches waiting for their partition's merge. Kept in memory up to
//! a budget; past it the oldest days' partitions leave memory, so ingest
//! memory is bounded by the budget and the largest partition, not by the
//! input size. A partition leaving for the first time is handed back to be merged
//! into the lake at once: inputs arrive in time order, so its day is most
//! likely complete, and writing it now is work the end would do anyway. One
//! that fills up again after that is still receiving rows: it spills to
//! Arrow IPC files in a private temp folder and merges once, at the end.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;

use chrono::NaiveDate;
use datafusion::arrow::ipc::reader::FileReader;
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::arrow::record_batch::RecordBatch;

use super::Telemetry;

pub type PartitionKey = (Telemetry, NaiveDate);

#[derive(Default)]
struct Part {
    /// Spill files, oldest first; their rows precede `batches` in input order.
    spilled: Vec<PathBuf>,
    batches: Vec<RecordBatch>,
    bytes: usize,
    /// Handed back once already for an early merge into the lake.
    merged_early: bool,
}

pub struct Staging {
    budget: usize,
    in_memory: usize,
    parts: BTreeMap<PartitionKey, Part>,
    dir: Option<PathBuf>,
    spill_files: usize,
    pub spilled_bytes: u64,
}

impl Staging {
    pub fn new(budget: usize) -> Self {
        Self {
            budget,
            in_memory: 0,
            parts: BTreeMap::new(),
            dir: None,
            spill_files: 0,
            spilled_bytes: 0,
        }
    }

    pub fn push(&mut self, key: PartitionKey, batch: RecordBatch) {
        let size = batch.get_array_memory_size();
        let part = self.parts.entry(key).or_default();
        part.bytes += size;
        part.batches.push(batch);
        self.in_memory += size;
    }

    pub fn over_budget(&self) -> bool {
        self.in_memory > self.budget
    }

    /// Partitions holding rows not yet merged.
    pub fn keys(&self) -> Vec<PartitionKey> {
        self.parts
            .iter()
            .filter(|(_, p)| !p.batches.is_empty() || !p.spilled.is_empty())
            .map(|(k, _)| *k)
            .collect()
    }

    /// Removes a partition's batches (spilled ones read back first).
    pub fn take(&mut self, key: &PartitionKey) -> std::io::Result<Vec<RecordBatch>> {
        let Some(part) = self.parts.remove(key) else {
            return Ok(Vec::new());
        };
        self.in_memory -= part.bytes;
        let mut out = Vec::new();
        for path in &part.spilled {
            let reader =
                FileReader::try_new(File::open(path)?, None).map_err(std::io::Error::other)?;
            for batch in reader {
                out.push(batch.map_err(std::io::Error::other)?);
            }
            let _ = std::fs::remove_file(path);
        }
        out.extend(part.batches);
        Ok(out)
    }

    /// Frees memory down to half the budget, oldest days first; returns
    /// those to merge into the lake now (see the module note), spilling the rest.
    ///
    /// Oldest first because inputs arrive roughly in time order: the oldest
    /// day held has had the longest for its late events to come in, so it
    /// is the least likely to need a second rewrite. Partitions too small
    /// to matter (a few late rows for a day long gone) are left for the end
    /// unless nothing else frees enough.
    pub fn relieve(&mut self) -> std::io::Result<Vec<(PartitionKey, Vec<RecordBatch>)>> {
        let small = self.budget / 64;
        // Large partitions by date; then the small ones, largest first.
        let mut order: Vec<(bool, NaiveDate, std::cmp::Reverse<usize>, PartitionKey)> = self
            .parts
            .iter()
            .filter(|(_, p)| p.bytes > 0)
            .map(|(k, p)| {
                let is_small = p.bytes < small;
                let date = if is_small { NaiveDate::MIN } else { k.1 };
                (is_small, date, std::cmp::Reverse(p.bytes), *k)
            })
            .collect();
        order.sort_unstable();
        let mut merge_now = Vec::new();
        for (.., key) in order {
            if self.in_memory <= self.budget / 2 {
                break;
            }
            let part = self.parts.get_mut(&key).expect("listed above");
            if !part.merged_early {
                part.merged_early = true;
                self.in_memory -= std::mem::take(&mut part.bytes);
                // Spill files, if any, would have to precede these rows in
                // input order: none exist before a partition's first early merge.
                debug_assert!(part.spilled.is_empty());
                merge_now.push((key, std::mem::take(&mut part.batches)));
                continue;
            }
            let path = self.next_spill_path()?;
            let part = self.parts.get_mut(&key).expect("listed above");
            let schema = part.batches[0].schema();
            let mut writer = FileWriter::try_new(BufWriter::new(File::create(&path)?), &schema)
                .map_err(std::io::Error::other)?;
            for batch in part.batches.drain(..) {
                writer.write(&batch).map_err(std::io::Error::other)?;
            }
            writer.finish().map_err(std::io::Error::other)?;
            self.spilled_bytes += part.bytes as u64;
            self.in_memory -= part.bytes;
            part.bytes = 0;
            part.spilled.push(path);
        }
        Ok(merge_now)
    }

    fn next_spill_path(&mut self) -> std::io::Result<PathBuf> {
        let dir = match &self.dir {
            Some(dir) => dir.clone(),
            None => {
                let dir = std::env::temp_dir().join(format!(
                    "usagelake-ingest-{}-{}",
                    std::process::id(),
                    chrono::Utc::now().timestamp_micros()
                ));
                std::fs::create_dir_all(&dir)?;
                self.dir = Some(dir.clone());
                dir
            }
        };
        self.spill_files += 1;
        Ok(dir.join(format!("{:06}.arrow", self.spill_files)))
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if let Some(dir) = &self.dir {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}
