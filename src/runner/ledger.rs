//! The run ledger: `_usagelake/runs/<job>/<date>/attempt-NNNN.json`, one
//! JSON object per attempt, readable with any tool.

use chrono::{DateTime, NaiveDate, Utc};
use futures::TryStreamExt;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};

use super::RunError;
use crate::lake::Lake;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    /// Every step ran, but some input file could only be read up to damage
    /// (its quarantine row, line 0, says where).
    SucceededWithQuarantinedInput,
    Failed,
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
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRecord {
    pub index: usize,
    pub kind: String,
    pub status: RunStatus,
    pub duration_ms: u64,
    pub summary: String,
    pub counts: serde_json::Value,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
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
    pub async fn begin(&self, job: &str, date: NaiveDate) -> Result<RunRecord, RunError> {
        let attempt = self
            .attempts(job, date)
            .await?
            .last()
            .map_or(1, |r| r.attempt + 1);
        let record = RunRecord {
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
}
