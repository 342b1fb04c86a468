//! Running jobs: one logical date at a time, each step in order, with a
//! ledger entry per attempt and a lease so two runs of a job never overlap.

pub mod collect;
pub mod events;
mod lease;
mod ledger;

use std::time::Instant;

use chrono::{NaiveDate, Utc};
use indicatif::{ProgressBar, ProgressStyle};
use serde::{Deserialize, Serialize};

pub use lease::Lease;
pub use ledger::{Ledger, RunFilter, RunRecord, RunStatus, StepRecord};

use crate::config::{AppConfig, DeriveCatalog, JobConfig, StepConfig, expand_params};
use crate::engine::{Engine, EngineError};
use crate::lake::{Lake, LakeError};
use crate::metrics::{self, DeriveError, DeriveRequest, MetricParams};
use crate::platform::{self, PlatformParams};
use crate::sources::segment::{self, EventTimeBounds, IngestError, IngestRequest};

#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("job {job}: {message}")]
    Params { job: String, message: String },
    #[error(transparent)]
    Ingest(#[from] IngestError),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error(transparent)]
    Derive(#[from] DeriveError),
    #[error(transparent)]
    Usage(#[from] crate::usage::UsageError),
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(
        "job {job} is already running (lease {path} held by {holder} until {expires_at}); wait for it, or delete that object if the run is dead"
    )]
    Busy {
        job: String,
        path: String,
        holder: String,
        expires_at: String,
    },
    #[error("run ledger at {path}: {reason}")]
    Ledger { path: String, reason: String },
    #[error(
        "no connector named {name:?} in the configuration (known: {known}); use a connector's name or id"
    )]
    UnknownConnector { name: String, known: String },
    #[error("connector {name:?} is a {kind} connector; {action} takes {wanted}")]
    WrongConnectorKind {
        name: String,
        kind: &'static str,
        action: &'static str,
        wanted: &'static str,
    },
    #[error("connector {connector} ({date}): {error}")]
    CollectFailed {
        connector: String,
        date: NaiveDate,
        error: String,
    },
}

/// Options of one run or backfill.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// `--set key=value` overrides of job parameters.
    pub overrides: Vec<(String, toml::Value)>,
    /// Re-run dates the ledger marks done, and derive every local day's
    /// per-day tables again instead of reusing unchanged ones (a backfill:
    /// at the first date it runs; the later dates reuse them).
    pub force: bool,
    /// Stop a backfill at the first failing date.
    pub fail_fast: bool,
    /// The ledger's run id for a single run [default: a new UUID].
    pub run_id: Option<String>,
    /// Where derive steps run (`--engine`) [default: `[engine]`].
    pub engine: Option<Engine>,
}

/// How long a job's lease lives without a heartbeat (`[server] lease_ttl_seconds`).
pub fn lease_ttl(config: &AppConfig) -> std::time::Duration {
    std::time::Duration::from_secs(config.server.lease_ttl_seconds)
}

/// Yesterday in `timezone`: the default logical date.
pub fn default_date(timezone: &str) -> NaiveDate {
    today_in(timezone) - chrono::Days::new(1)
}

/// Today's date in `timezone` (UTC when the name does not parse).
pub fn today_in(timezone: &str) -> NaiveDate {
    let tz: chrono_tz::Tz = timezone.parse().unwrap_or(chrono_tz::UTC);
    Utc::now().with_timezone(&tz).date_naive()
}

/// Runs `job` for `date` (holding the job's lease) and records the attempt.
pub async fn run_job(
    lake: &Lake,
    config: &AppConfig,
    job: &JobConfig,
    date: NaiveDate,
    options: &RunOptions,
) -> Result<RunRecord, RunError> {
    let lease = Lease::acquire_with_ttl(lake, &job.name, lease_ttl(config)).await?;
    let result = run_date(lake, config, job, date, options).await;
    lease.release().await;
    result
}

/// Summary of a backfill.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct BackfillReport {
    pub succeeded: Vec<NaiveDate>,
    /// The succeeded dates whose input was partly damaged (also in `succeeded`).
    #[serde(default)]
    pub quarantined_input: Vec<NaiveDate>,
    pub skipped: Vec<NaiveDate>,
    pub failed: Vec<(NaiveDate, String)>,
}

/// Runs every date in `[from, to]`; dates already done are skipped unless
/// `force`. A failing date is reported and the rest go on unless
/// `fail_fast`. Interrupted, it resumes on the next call.
pub async fn backfill(
    lake: &Lake,
    config: &AppConfig,
    job: &JobConfig,
    from: NaiveDate,
    to: NaiveDate,
    options: &RunOptions,
) -> Result<BackfillReport, RunError> {
    let lease = Lease::acquire_with_ttl(lake, &job.name, lease_ttl(config)).await?;
    let result = backfill_dates(lake, config, job, from, to, options).await;
    lease.release().await;
    result
}

async fn backfill_dates(
    lake: &Lake,
    config: &AppConfig,
    job: &JobConfig,
    from: NaiveDate,
    to: NaiveDate,
    options: &RunOptions,
) -> Result<BackfillReport, RunError> {
    let dates: Vec<NaiveDate> = from.iter_days().take_while(|d| *d <= to).collect();
    let ledger = Ledger::new(lake);
    let bar = progress_bar(dates.len() as u64);
    let mut report = BackfillReport::default();
    // Each local day's per-day tables are derived once per backfill: after
    // the first date that runs, the later ones reuse them.
    let mut rederive = options.force;
    for date in dates {
        bar.set_message(date.to_string());
        let done = !options.force
            && ledger
                .latest(&job.name, date)
                .await?
                .is_some_and(|r| r.status.is_success());
        if done {
            report.skipped.push(date);
            log_line(
                &bar,
                format!("{} {date}: skipped (done; --force re-runs it)", job.name),
            );
        } else {
            let date_options = RunOptions {
                force: rederive,
                ..options.clone()
            };
            rederive = false;
            match run_date(lake, config, job, date, &date_options).await {
                Ok(record) => {
                    log_line(&bar, format!("{} {date}: {}", job.name, record.summary()));
                    report.succeeded.push(date);
                    if record.status == RunStatus::SucceededWithQuarantinedInput {
                        report.quarantined_input.push(date);
                    }
                }
                Err(e) => {
                    log_line(&bar, format!("{} {date}: FAILED: {e}", job.name));
                    report.failed.push((date, e.to_string()));
                    if options.fail_fast {
                        bar.abandon();
                        return Ok(report);
                    }
                }
            }
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(report)
}

/// A bar on a terminal; plain log lines otherwise (CI logs, pipes).
fn progress_bar(len: u64) -> ProgressBar {
    if std::io::IsTerminal::is_terminal(&std::io::stderr()) {
        let bar = ProgressBar::new(len);
        bar.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} dates, eta {eta} {msg}")
                .expect("constant template"),
        );
        bar
    } else {
        ProgressBar::hidden()
    }
}

fn log_line(bar: &ProgressBar, line: String) {
    if bar.is_hidden() {
        eprintln!("{line}");
    } else {
        bar.println(line);
    }
}

/// Runs `job` for `date` and records the attempt; the caller holds the
/// job's lease.
pub async fn run_date(
    lake: &Lake,
    config: &AppConfig,
    job: &JobConfig,
    date: NaiveDate,
    options: &RunOptions,
) -> Result<RunRecord, RunError> {
    let mut params = job
        .params_with(&options.overrides)
        .map_err(|message| RunError::Params {
            job: job.name.clone(),
            message,
        })?;
    // A job that names its timezone reports in it too, unless a `timezone`
    // parameter says otherwise.
    if let Some(tz) = &job.timezone {
        params
            .entry("timezone".to_string())
            .or_insert_with(|| toml::Value::String(tz.clone()));
    }
    let ledger = Ledger::new(lake);
    let run_id = options
        .run_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let mut record = ledger.begin(&job.name, date, run_id).await?;
    let started = Instant::now();
    let mut failure = None;
    let mut quarantined_input = false;
    for (index, step) in job.steps.iter().enumerate() {
        let step_started = Instant::now();
        let outcome = run_step(lake, config, step, index, date, &params, options).await;
        let mut step_record = StepRecord {
            index,
            kind: step.kind().to_string(),
            status: RunStatus::Succeeded,
            duration_ms: step_started.elapsed().as_millis() as u64,
            summary: String::new(),
            counts: serde_json::Value::Null,
            error: None,
        };
        match outcome {
            Ok((summary, counts, damaged_input)) => {
                if damaged_input {
                    step_record.status = RunStatus::SucceededWithQuarantinedInput;
                    quarantined_input = true;
                }
                step_record.summary = summary;
                step_record.counts = counts;
                record.steps.push(step_record);
                // Progress on disk: a run cut off later still shows its
                // finished steps.
                if index + 1 < job.steps.len() {
                    record.duration_ms = started.elapsed().as_millis() as u64;
                    ledger.write(&record).await?;
                }
            }
            Err(e) => {
                step_record.status = RunStatus::Failed;
                step_record.error = Some(e.to_string());
                record.steps.push(step_record);
                failure = Some(e);
                break;
            }
        }
    }
    record.duration_ms = started.elapsed().as_millis() as u64;
    record.finished_at = Some(Utc::now());
    record.status = if failure.is_some() {
        RunStatus::Failed
    } else if quarantined_input {
        RunStatus::SucceededWithQuarantinedInput
    } else {
        RunStatus::Succeeded
    };
    record.error = failure.as_ref().map(|e| e.to_string());
    ledger.write(&record).await?;
    match failure {
        Some(e) => Err(e),
        None => Ok(record),
    }
}

async fn run_step(
    lake: &Lake,
    config: &AppConfig,
    step: &StepConfig,
    index: usize,
    date: NaiveDate,
    params: &crate::config::Params,
    options: &RunOptions,
) -> Result<(String, serde_json::Value, bool), RunError> {
    let engine = || match &options.engine {
        Some(engine) => Ok(engine.clone()),
        None => Engine::from_config(&config.engine),
    };
    match step {
        StepConfig::Ingest {
            source,
            files,
            event_time_max_ahead_days,
            event_time_max_behind_days,
        } => {
            let source = expand_params(source, params).map_err(|message| RunError::Params {
                job: format!("step {index}"),
                message,
            })?;
            let defaults = EventTimeBounds::default();
            let report = segment::ingest(
                lake,
                &IngestRequest {
                    source,
                    selection: *files,
                    date,
                    s3: config.lake.s3.clone(),
                    event_time: EventTimeBounds {
                        max_ahead_days: event_time_max_ahead_days
                            .unwrap_or(defaults.max_ahead_days),
                        max_behind_days: event_time_max_behind_days
                            .unwrap_or(defaults.max_behind_days),
                    },
                },
            )
            .await?;
            let counts = serde_json::to_value(&report).unwrap_or_default();
            Ok((report.to_string(), counts, report.damaged_files > 0))
        }
        StepConfig::Derive {
            catalog: DeriveCatalog::Platform,
            ..
        } => {
            let params = PlatformParams::from_params(params, date)?;
            let report = platform::derive_on(lake, &params, &engine()?).await?;
            let counts = serde_json::to_value(&report.tables).unwrap_or_default();
            Ok((report.to_string(), counts, false))
        }
        StepConfig::CollectEvents { connector } => {
            let connector =
                expand_params(connector, params).map_err(|message| RunError::Params {
                    job: format!("step {index}"),
                    message,
                })?;
            if connector.is_empty() {
                return Err(RunError::Params {
                    job: format!("step {index} (collect_events)"),
                    message: "no connector given; run with --set connector=NAME (an event_store connector's name or id)".into(),
                });
            }
            let outcome = events::collect_events(lake, config, &connector, None).await?;
            collect_step_outcome(&connector, outcome.sync_job)
        }
        StepConfig::Derive {
            sql_dir, metrics, ..
        } => {
            let sql_dir = sql_dir
                .as_deref()
                .map(|dir| expand_params(dir, params))
                .transpose()
                .map_err(|message| RunError::Params {
                    job: format!("step {index}"),
                    message,
                })?;
            // A job without its own timezone reports in the configured one.
            let mut params = params.clone();
            params
                .entry("timezone".to_string())
                .or_insert_with(|| toml::Value::String(config.defaults.timezone.clone()));
            let request = DeriveRequest {
                params: MetricParams::from_params(&params, date)?,
                sql_dir: sql_dir.map(Into::into),
                metrics: metrics.clone(),
                force: options.force,
            };
            let report = metrics::derive_on(lake, &request, &engine()?).await?;
            let counts = serde_json::to_value(&report.tables).unwrap_or_default();
            Ok((report.to_string(), counts, false))
        }
        StepConfig::BiSync { connector } => {
            let job = collect::sync(lake, config, connector, Some(date)).await?;
            collect_step_outcome(connector, job)
        }
        StepConfig::MineLogs { connector } => {
            let report = collect::mine(lake, config, connector, Some(date)).await?;
            if let Some(job) = report.failed.into_iter().next() {
                return collect_step_outcome(connector, job);
            }
            let counts = serde_json::json!({ "rows_upserted": report.rows_upserted });
            Ok((
                format!("{} query-log rows", report.rows_upserted),
                counts,
                false,
            ))
        }
        StepConfig::Aggregate { space, sql_dir } => {
            let sql_dir = sql_dir
                .as_deref()
                .map(|dir| expand_params(dir, params))
                .transpose()
                .map_err(|message| RunError::Params {
                    job: format!("step {index}"),
                    message,
                })?;
            let space = crate::usage::space(config, space)?;
            let mut request = crate::usage::UsageRequest::new(space, date);
            request.sql_dir = sql_dir.map(Into::into);
            let summary = crate::usage::aggregate_with(lake, config, space, &request).await?;
            let counts = serde_json::to_value(&summary).unwrap_or_default();
            Ok((summary.to_string(), counts, false))
        }
    }
}

/// A collect step succeeds when its sync job did.
fn collect_step_outcome(
    connector: &str,
    job: crate::sources::collect::SyncJob,
) -> Result<(String, serde_json::Value, bool), RunError> {
    match job.error {
        Some(error) => Err(RunError::CollectFailed {
            connector: connector.to_string(),
            date: job.date,
            error,
        }),
        None => Ok((
            format!("{} rows ({})", job.rows_upserted, job.kind.as_str()),
            serde_json::to_value(&job).unwrap_or_default(),
            false,
        )),
    }
}
