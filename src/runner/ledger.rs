//! The run ledger: `_usagelake/runs/<job>/<date>/attempt-NNNN.json`, one
//! JSON object per attempt, readable with any tool.

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::RunError;
use crate::lake::Lake;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    /// Every step ran, but some input file could only be read up to damage
    /// (its quarantine row, line 0, says where).
    SucceededWithQuarantinedInput,
    Failed,
    /// Cut off by a daemon shutdown before it finished.
    Interrupted,
}

impl RunStatus {
    /// Done for a backfill's resume: re-running would read the same damaged
    /// file again (`--force` re-runs once it is fixed).
    pub fn is_success(self) -> bool {
        matches!(self, Self::Succeeded | Self::SucceededWithQuarantinedInput)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::SucceededWithQuarantinedInput => "succeeded with quarantined input",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    /// The serialized name (the ledger's and the API's).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::SucceededWithQuarantinedInput => "succeeded_with_quarantined_input",
            Self::Failed => "failed",
            Self::Interrupted => "interrupted",
        }
    }

    pub const ALL: [RunStatus; 5] = [
        Self::Running,
        Self::Succeeded,
        Self::SucceededWithQuarantinedInput,
        Self::Failed,
        Self::Interrupted,
    ];
}

impl std::str::FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| {
                format!(
                    "unknown status {s:?}; use running, succeeded, succeeded_with_quarantined_input, failed or interrupted"
                )
            })
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StepRecord {
    pub index: usize,
    pub kind: String,
    pub status: RunStatus,
    pub duration_ms: u64,
    pub summary: String,
    /// The step's report (rows read, written, deduped, …).
    #[schema(value_type = Object)]
    pub counts: serde_json::Value,
    pub error: Option<String>,
}

impl StepRecord {
    /// Rows the step added to the lake, read from its report: ingest's
    /// `written` per table, derive's `rows` per table, a collector's
    /// `rows_upserted`.
    pub fn rows_written(&self) -> u64 {
        fn sum_rows(v: &serde_json::Value) -> u64 {
            match v {
                serde_json::Value::Array(items) => items.iter().map(sum_rows).sum(),
                serde_json::Value::Object(map) => {
                    if let Some(written) = map.get("written").and_then(|w| w.as_object()) {
                        written.values().filter_map(|n| n.as_u64()).sum()
                    } else if let Some(n) = map.get("rows_upserted").and_then(|n| n.as_u64()) {
                        n
                    } else {
                        map.get("rows").and_then(|n| n.as_u64()).unwrap_or(0)
                    }
                }
                _ => 0,
            }
        }
        sum_rows(&self.counts)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunRecord {
    /// Names this attempt in logs and the API (empty in ledgers written
    /// before run ids existed).
    #[serde(default)]
    pub run_id: String,
    pub job: String,
    pub date: NaiveDate,
    pub attempt: u32,
    pub status: RunStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub duration_ms: u64,
    pub steps: Vec<StepRecord>,
    pub error: Option<String>,
}

impl RunRecord {
    pub fn summary(&self) -> String {
        let steps: Vec<String> = self
            .steps
            .iter()
            .map(|s| {
                format!(
                    "{}: {}",
                    s.kind,
                    if s.summary.is_empty() {
                        "ok"
                    } else {
                        &s.summary
                    }
                )
            })
            .collect();
        format!(
            "{} in {} ms; {}",
            self.status.label(),
            self.duration_ms,
            steps.join("; ")
        )
        .to_lowercase()
    }
}

pub struct Ledger<'a> {
    lake: &'a Lake,
}

impl<'a> Ledger<'a> {
    pub fn new(lake: &'a Lake) -> Self {
        Self { lake }
    }

    fn folder(&self, job: &str, date: NaiveDate) -> Path {
        self.lake.meta_path(&format!("runs/{job}/{date}"))
    }

    fn err(path: &Path, reason: impl ToString) -> RunError {
        RunError::Ledger {
            path: path.to_string(),
            reason: reason.to_string(),
        }
    }

    async fn read(&self, path: &Path) -> Result<RunRecord, RunError> {
        let bytes = self
            .lake
            .store()
            .get(path)
            .await
            .map_err(|e| Self::err(path, e))?
            .bytes()
            .await
            .map_err(|e| Self::err(path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| Self::err(path, e))
    }

    /// Every attempt of (job, date), oldest first.
    pub async fn attempts(&self, job: &str, date: NaiveDate) -> Result<Vec<RunRecord>, RunError> {
        let folder = self.folder(job, date);
        let mut metas: Vec<_> = self
            .lake
            .store()
            .list(Some(&folder))
            .try_collect()
            .await
            .map_err(|e| Self::err(&folder, e))?;
        metas.sort_by(|a, b| a.location.cmp(&b.location));
        let mut records = Vec::with_capacity(metas.len());
        for meta in metas {
            records.push(self.read(&meta.location).await?);
        }
        Ok(records)
    }

    pub async fn latest(&self, job: &str, date: NaiveDate) -> Result<Option<RunRecord>, RunError> {
        Ok(self.attempts(job, date).await?.pop())
    }

    /// Records a new attempt as running and returns it.
    pub async fn begin(
        &self,
        job: &str,
        date: NaiveDate,
        run_id: String,
    ) -> Result<RunRecord, RunError> {
        let attempt = self
            .attempts(job, date)
            .await?
            .last()
            .map_or(1, |r| r.attempt + 1);
        let record = RunRecord {
            run_id,
            job: job.to_string(),
            date,
            attempt,
            status: RunStatus::Running,
            started_at: Utc::now(),
            finished_at: None,
            duration_ms: 0,
            steps: Vec::new(),
            error: None,
        };
        self.write(&record).await?;
        Ok(record)
    }

    pub async fn write(&self, record: &RunRecord) -> Result<(), RunError> {
        let path = self.lake.meta_path(&format!(
            "runs/{}/{}/attempt-{:04}.json",
            record.job, record.date, record.attempt
        ));
        let body = serde_json::to_vec_pretty(record).map_err(|e| Self::err(&path, e))?;
        self.lake
            .store()
            .put(&path, PutPayload::from(body))
            .await
            .map_err(|e| Self::err(&path, e))?;
        Ok(())
    }

    /// The most recent attempts over all jobs and dates, newest first.
    pub async fn recent(&self, limit: usize) -> Result<Vec<RunRecord>, RunError> {
        let root = self.lake.meta_path("runs");
        let mut metas: Vec<_> = self
            .lake
            .store()
            .list(Some(&root))
            .try_collect()
            .await
            .map_err(|e| Self::err(&root, e))?;
        metas.sort_by(|a, b| {
            b.last_modified
                .cmp(&a.last_modified)
                .then(b.location.cmp(&a.location))
        });
        let mut out = Vec::new();
        for meta in metas.into_iter().take(limit) {
            out.push(self.read(&meta.location).await?);
        }
        Ok(out)
    }

    /// Attempts matching `filter`, newest first.
    pub async fn query(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, RunError> {
        let root = match &filter.job {
            Some(job) => self.lake.meta_path(&format!("runs/{job}")),
            None => self.lake.meta_path("runs"),
        };
        let mut metas: Vec<_> = self
            .lake
            .store()
            .list(Some(&root))
            .try_collect()
            .await
            .map_err(|e| Self::err(&root, e))?;
        metas.sort_by(|a, b| {
            b.last_modified
                .cmp(&a.last_modified)
                .then(b.location.cmp(&a.location))
        });
        let mut out = Vec::new();
        for meta in metas {
            if out.len() >= filter.limit {
                break;
            }
            // An attempt starts before its object is last written.
            if filter.since.is_some_and(|since| meta.last_modified < since) {
                continue;
            }
            let record = self.read(&meta.location).await?;
            if filter.status.is_some_and(|s| s != record.status)
                || filter.since.is_some_and(|since| record.started_at < since)
            {
                continue;
            }
            out.push(record);
        }
        Ok(out)
    }
}

/// Which attempts `Ledger::query` returns.
#[derive(Debug, Clone)]
pub struct RunFilter {
    pub job: Option<String>,
    pub status: Option<RunStatus>,
    /// Attempts started at or after this instant.
    pub since: Option<DateTime<Utc>>,
    pub limit: usize,
}

impl Default for RunFilter {
    fn default() -> Self {
        Self {
            job: None,
            status: None,
            since: None,
            limit: usize::MAX,
        }
    }
}
