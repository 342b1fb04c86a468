//! `usagelake collect` and the `collect_events` step: one attempt at an
//! event-store connector under the connector's lease, recorded as one
//! `sync_jobs` row (kind `event_collection`) whether it succeeded or not.

use chrono::{NaiveDate, Utc};
use serde::Serialize;

use super::collect::resolve;
use super::{Lease, RunError};
use crate::config::AppConfig;
use crate::lake::Lake;
use crate::sources::bi_queries::record_sync_job;
use crate::sources::collect::{SyncJob, SyncKind, SyncStatus};
use crate::sources::event_store::{self, CollectRange, EventStoreReport, EventStoreSource};

/// What `usagelake collect` prints.
#[derive(Debug, Clone, Serialize)]
pub struct CollectOutcome {
    pub rows_upserted: i64,
    /// The `sync_jobs` row of the attempt.
    pub sync_job: SyncJob,
    /// The collector's own counts (absent when the attempt failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<EventStoreReport>,
}

/// Collects the event store `name_or_id`: everything new since its
/// watermark, or with `day` exactly that UTC day. The sync job's date is
/// `day`, else today (UTC).
pub async fn collect_events(
    lake: &Lake,
    config: &AppConfig,
    name_or_id: &str,
    day: Option<NaiveDate>,
) -> Result<CollectOutcome, RunError> {
    let connector = resolve(config, name_or_id, SyncKind::EventCollection)?;
    let connector_id = connector.id_string();
    let source = EventStoreSource {
        password: connector.password.clone(),
        sensitive_parameters: connector.sensitive_parameters.clone(),
        ..EventStoreSource::new(
            connector_id.clone(),
            connector.url.clone().unwrap_or_default(),
        )
    };
    let range = day.map_or(CollectRange::Incremental, CollectRange::Day);
    let started_at = Utc::now();
    let mut job = SyncJob {
        id: uuid::Uuid::new_v4().to_string(),
        connector_id: connector_id.clone(),
        kind: SyncKind::EventCollection,
        date: day.unwrap_or(started_at.date_naive()),
        status: SyncStatus::Failed,
        started_at,
        finished_at: None,
        rows_upserted: 0,
        error: None,
        report: Default::default(),
    };
    let lease = Lease::acquire(lake, &format!("connector-{connector_id}")).await?;
    let result = event_store::collect(lake, &source, range).await;
    lease.release().await;
    let report = match result {
        Ok(report) => {
            job.status = SyncStatus::Succeeded;
            job.rows_upserted = report.rows_upserted as i64;
            if let Ok(serde_json::Value::Object(map)) = serde_json::to_value(&report) {
                job.report = map;
            }
            Some(report)
        }
        Err(e) => {
            tracing::warn!(connector = %connector.name, "event collection failed: {e}");
            job.error = Some(e.to_string());
            None
        }
    };
    job.finished_at = Some(Utc::now());
    record_sync_job(lake, &job).await?;
    Ok(CollectOutcome {
        rows_upserted: job.rows_upserted,
        sync_job: job,
        report,
    })
}
