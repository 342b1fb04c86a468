//! `usagelake demo`: synthetic Segment data, then the shipped daily job over
//! its whole date range, into a local lake, then the metrics job for the
//! last activity day.

pub mod generator;

use std::path::{Path, PathBuf};

use chrono::NaiveDate;

use crate::config::Loaded;
use crate::lake::Lake;
use crate::query::{TableInventory, inventory};
use crate::runner::{self, BackfillReport, RunOptions};
use generator::{GeneratedSummary, GeneratorOptions};

#[derive(Debug, thiserror::Error)]
pub enum DemoError {
    #[error("generating demo data in {path}: {source}")]
    Generate {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "the configuration has no job named \"daily\"; restore jobs/daily.toml or remove the override"
    )]
    NoDailyJob,
    #[error(transparent)]
    Run(#[from] runner::RunError),
    #[error(transparent)]
    Lake(#[from] crate::lake::LakeError),
}

/// What the demo did.
#[derive(Debug)]
pub struct DemoReport {
    pub data_dir: PathBuf,
    pub generated: GeneratedSummary,
    pub backfill: Option<(NaiveDate, NaiveDate, BackfillReport)>,
    /// The metrics job's run for the last activity day, when the
    /// configuration has a `metrics` job.
    pub metrics: Option<runner::RunRecord>,
    pub tables: Vec<TableInventory>,
}

/// Generates data into `data_dir` and, unless `generate_only`, runs the
/// daily job over every arrival date into `lake`.
pub async fn run(
    loaded: &Loaded,
    lake: &Lake,
    options: &GeneratorOptions,
    data_dir: &Path,
    generate_only: bool,
) -> Result<DemoReport, DemoError> {
    let opts = options.clone();
    let dir = data_dir.to_path_buf();
    let generated = tokio::task::spawn_blocking(move || generator::generate(&opts, &dir))
        .await
        .expect("generator thread panicked")
        .map_err(|source| DemoError::Generate {
            path: data_dir.display().to_string(),
            source,
        })?;
    let mut report = DemoReport {
        data_dir: data_dir.to_path_buf(),
        generated,
        backfill: None,
        metrics: None,
        tables: Vec::new(),
    };
    if generate_only {
        return Ok(report);
    }
    let job = loaded.jobs.get("daily").ok_or(DemoError::NoDailyJob)?;
    let events = data_dir.join("segment-logs");
    let run_options = RunOptions {
        overrides: vec![(
            "events".to_string(),
            toml::Value::String(events.display().to_string()),
        )],
        ..Default::default()
    };
    // Late events arrive up to a few days after the last activity day; the
    // range ends at the last arrival folder (never a date that has not come).
    let from = report.generated.first_date.unwrap_or(options.end_date);
    let to = report.generated.last_arrival.unwrap_or(options.end_date);
    let backfill = runner::backfill(lake, &loaded.config, job, from, to, &run_options).await?;
    report.backfill = Some((from, to, backfill));
    if let Some(metrics) = loaded.jobs.get("metrics") {
        let force = RunOptions {
            force: true,
            ..Default::default()
        };
        report.metrics =
            Some(runner::run_job(lake, &loaded.config, metrics, options.end_date, &force).await?);
    }
    report.tables = inventory(lake).await?;
    Ok(report)
}
