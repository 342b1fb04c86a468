//! Running collectors: one attempt = one lease, one collect, one commit of
//! its rows, one `sync_jobs` row, one checkpoint move. Commands, job steps
//! and (later) API routes all come through here.

use std::sync::Arc;

use chrono::{Days, NaiveDate, Utc};
use serde::Serialize;

use super::{Lease, RunError};
use crate::config::{AppConfig, ConnectorConfig, ConnectorUse};
use crate::lake::Lake;
use crate::sources::bi_queries::{self, Checkpoint, PendingRows, RowSink};
use crate::sources::build_collector;
use crate::sources::collect::{CollectContext, CollectError, SyncJob, SyncKind, SyncStatus};

/// The connector named `name_or_id`, checked to fit `kind`.
pub fn resolve<'a>(
    config: &'a AppConfig,
    name_or_id: &str,
    kind: SyncKind,
) -> Result<&'a ConnectorConfig, RunError> {
    let connector = config
        .connector(name_or_id)
        .ok_or_else(|| RunError::UnknownConnector {
            name: name_or_id.to_string(),
            known: config.connector_names().join(", "),
        })?;
    let (need, action) = match kind {
        SyncKind::BiSync => (ConnectorUse::BiSync, "bi_sync"),
        SyncKind::QueryLogMining => (ConnectorUse::MineLogs, "mining"),
        SyncKind::EventCollection => (ConnectorUse::CollectEvents, "collect"),
    };
    if !need.fits(connector.kind) {
        return Err(RunError::WrongConnectorKind {
            name: connector.name.clone(),
            kind: connector.kind.as_str(),
            action,
            wanted: need.wanted(),
        });
    }
    Ok(connector)
}

/// One attempt for `date`: the sync job is returned whether it succeeded
/// or failed (a failure is data: it is recorded); `Err` only when the
/// attempt could not even be recorded.
pub async fn collect_once(
    lake: &Lake,
    connector: &ConnectorConfig,
    kind: SyncKind,
    date: NaiveDate,
) -> Result<SyncJob, RunError> {
    let connector_id = connector.id_string();
    let lease = Lease::acquire(lake, &format!("connector-{connector_id}")).await?;
    let result = attempt(lake, connector, kind, date).await;
    lease.release().await;
    result
}

async fn attempt(
    lake: &Lake,
    connector: &ConnectorConfig,
    kind: SyncKind,
    date: NaiveDate,
) -> Result<SyncJob, RunError> {
    let connector_id = connector.id_string();
    let started_at = Utc::now();
    let mut job = SyncJob {
        id: uuid::Uuid::new_v4().to_string(),
        connector_id: connector_id.clone(),
        kind,
        date,
        status: SyncStatus::Failed,
        started_at,
        finished_at: None,
        rows_upserted: 0,
        error: None,
        report: Default::default(),
    };
    let checkpoint = bi_queries::read_checkpoint(lake, &connector_id, kind.as_str()).await?;
    let outcome = async {
        let collector = build_collector(connector)?;
        let sink = Arc::new(RowSink::new(PendingRows::new(connector, date)));
        let collected = collector
            .collect(&CollectContext {
                lake,
                connector,
                date,
                checkpoint: checkpoint.source.clone(),
                rows: Arc::clone(&sink),
            })
            .await?;
        let mut pending = Arc::into_inner(sink)
            .ok_or_else(|| {
                CollectError::source(connector, "a collector kept its row sink after it returned")
            })?
            // Only a panic inside `push` poisons the lock, and it unwinds this task too.
            .into_inner()
            .unwrap_or_else(|e| e.into_inner());
        for row in &collected.rows {
            pending.push(row);
        }
        let committed = pending.commit(lake, &collected.slices).await?;
        Ok::<_, CollectError>((collected, committed))
    }
    .await;
    match outcome {
        Ok((collected, committed)) => {
            job.status = SyncStatus::Succeeded;
            job.rows_upserted = committed.rows_upserted as i64;
            job.report = collected.report.clone();
            job.report.insert(
                "rows_outside_slices".into(),
                committed.rows_outside_slices.into(),
            );
            // A day mined before it ended is mined again by the next run.
            let complete = date < started_at.date_naive();
            let next = Checkpoint {
                last_succeeded: if complete {
                    checkpoint.last_succeeded.max(Some(date))
                } else {
                    checkpoint.last_succeeded
                },
                source: collected.checkpoint.or(checkpoint.source),
            };
            bi_queries::write_checkpoint(lake, &connector_id, kind.as_str(), &next).await?;
        }
        Err(e) => {
            tracing::warn!(connector = %connector.name, %date, "collect failed: {e}");
            job.error = Some(e.to_string());
        }
    }
    job.finished_at = Some(Utc::now());
    bi_queries::record_sync_job(lake, &job).await?;
    Ok(job)
}

/// `usagelake sync` and the `bi_sync` step: a snapshot of a BI tool.
pub async fn sync(
    lake: &Lake,
    config: &AppConfig,
    name_or_id: &str,
    date: Option<NaiveDate>,
) -> Result<SyncJob, RunError> {
    let connector = resolve(config, name_or_id, SyncKind::BiSync)?;
    let date = date.unwrap_or_else(|| Utc::now().date_naive());
    collect_once(lake, connector, SyncKind::BiSync, date).await
}

/// What `usagelake mine` did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct MineReport {
    pub rows_upserted: i64,
    pub dates: Vec<NaiveDate>,
    /// Attempts that failed, with their error.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failed: Vec<SyncJob>,
}

/// `usagelake mine` and the `mine_logs` step. With a date, mines that UTC
/// day. Without, mines every day from the one after the last complete
/// one (at most `catch_up_limit` days back) through today; today is mined
/// as far as it goes and again by the next run.
pub async fn mine(
    lake: &Lake,
    config: &AppConfig,
    name_or_id: &str,
    date: Option<NaiveDate>,
) -> Result<MineReport, RunError> {
    let connector = resolve(config, name_or_id, SyncKind::QueryLogMining)?;
    let dates = match date {
        Some(date) => vec![date],
        None => {
            let today = Utc::now().date_naive();
            let checkpoint = bi_queries::read_checkpoint(
                lake,
                &connector.id_string(),
                SyncKind::QueryLogMining.as_str(),
            )
            .await?;
            catch_up_dates(
                checkpoint.last_succeeded,
                today,
                config.defaults.catch_up_limit,
            )
        }
    };
    let mut report = MineReport::default();
    for date in dates {
        let job = collect_once(lake, connector, SyncKind::QueryLogMining, date).await?;
        report.rows_upserted += job.rows_upserted;
        report.dates.push(date);
        if job.status == SyncStatus::Failed {
            report.failed.push(job);
        }
    }
    Ok(report)
}

/// Days to mine: after `last_complete` through `today`, at most `limit`
/// of them (the most recent), oldest first.
pub fn catch_up_dates(
    last_complete: Option<NaiveDate>,
    today: NaiveDate,
    limit: u32,
) -> Vec<NaiveDate> {
    let limit = u64::from(limit.max(1));
    let earliest = today - Days::new(limit - 1);
    let start = match last_complete {
        Some(last) if last >= earliest => last + Days::new(1),
        _ => earliest,
    };
    start.iter_days().take_while(|d| *d <= today).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn catch_up_starts_after_the_last_complete_day_within_the_limit() {
        let today = d("2026-12-06");
        assert_eq!(catch_up_dates(Some(d("2026-12-05")), today, 7), vec![today]);
        assert_eq!(
            catch_up_dates(Some(d("2026-12-03")), today, 7),
            vec![d("2026-12-04"), d("2026-12-05"), today]
        );
        // Down for a month: only the last `limit` days, oldest first.
        assert_eq!(
            catch_up_dates(Some(d("2026-11-01")), today, 3),
            vec![d("2026-12-04"), d("2026-12-05"), today]
        );
        assert_eq!(catch_up_dates(None, today, 2), vec![d("2026-12-05"), today]);
        // Already complete through today (a clock step back): today again.
        assert_eq!(
            catch_up_dates(Some(today), today, 7),
            Vec::<NaiveDate>::new()
        );
    }
}
