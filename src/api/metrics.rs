//! `/metrics` in Prometheus text format, computed from the run ledger at
//! scrape time (so it counts CLI runs and runs of earlier daemon processes).

use std::collections::BTreeMap;
use std::fmt::Write;

use crate::runner::RunRecord;

/// The exposition text for `records` (every ledger attempt) and the number
/// of runs this daemon is executing.
pub fn render(records: &[RunRecord], running: usize) -> String {
    let mut runs: BTreeMap<(&str, &str), u64> = BTreeMap::new();
    let mut last_success: BTreeMap<&str, i64> = BTreeMap::new();
    let mut rows: BTreeMap<&str, u64> = BTreeMap::new();
    for r in records {
        *runs.entry((&r.job, r.status.as_str())).or_default() += 1;
        if r.status.is_success()
            && let Some(at) = r.finished_at
        {
            let t = last_success.entry(&r.job).or_insert(i64::MIN);
            *t = (*t).max(at.timestamp());
        }
        // Finished steps wrote their rows even when a later step failed.
        let written: u64 = r
            .steps
            .iter()
            .filter(|s| s.status.is_success())
            .map(|s| s.rows_written())
            .sum();
        *rows.entry(&r.job).or_default() += written;
    }
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# HELP usagelake_runs_total Run attempts in the ledger by job and status.\n# TYPE usagelake_runs_total counter"
    );
    for ((job, status), n) in &runs {
        let _ = writeln!(
            out,
            "usagelake_runs_total{{job=\"{job}\",status=\"{status}\"}} {n}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP usagelake_last_success_timestamp_seconds When the job last finished a run successfully.\n# TYPE usagelake_last_success_timestamp_seconds gauge"
    );
    for (job, t) in &last_success {
        let _ = writeln!(
            out,
            "usagelake_last_success_timestamp_seconds{{job=\"{job}\"}} {t}"
        );
    }
    let _ = writeln!(
        out,
        "# HELP usagelake_rows_written_total Rows the job's finished steps added to the lake.\n# TYPE usagelake_rows_written_total counter"
    );
    for (job, n) in &rows {
        let _ = writeln!(out, "usagelake_rows_written_total{{job=\"{job}\"}} {n}");
    }
    let _ = writeln!(
        out,
        "# HELP usagelake_runs_in_progress Runs this daemon is executing now.\n# TYPE usagelake_runs_in_progress gauge\nusagelake_runs_in_progress {running}"
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::{RunStatus, StepRecord};

    fn record(
        job: &str,
        status: RunStatus,
        finished: Option<&str>,
        steps: Vec<StepRecord>,
    ) -> RunRecord {
        RunRecord {
            run_id: "r".into(),
            job: job.into(),
            date: "2026-11-23".parse().unwrap(),
            attempt: 1,
            status,
            started_at: "2026-11-24T02:30:00Z".parse().unwrap(),
            finished_at: finished.map(|f| f.parse().unwrap()),
            duration_ms: 0,
            steps,
            error: None,
        }
    }

    fn step(status: RunStatus, counts: serde_json::Value) -> StepRecord {
        StepRecord {
            index: 0,
            kind: "ingest".into(),
            status,
            duration_ms: 0,
            summary: String::new(),
            counts,
            error: None,
        }
    }

    #[test]
    fn renders_counts_last_success_and_rows() {
        let ingest = serde_json::json!({"written": {"pages": 10, "tracks": 5}, "deduped": 99});
        let derive = serde_json::json!([{"table": "dau", "rows": 7}, {"table": "mau", "rows": 3}]);
        let records = vec![
            record(
                "daily",
                RunStatus::Succeeded,
                Some("2026-11-24T02:31:00Z"),
                vec![
                    step(RunStatus::Succeeded, ingest.clone()),
                    step(RunStatus::Succeeded, derive),
                ],
            ),
            record(
                "daily",
                RunStatus::Succeeded,
                Some("2026-11-23T02:31:40Z"),
                vec![step(RunStatus::Succeeded, ingest)],
            ),
            record(
                "daily",
                RunStatus::Failed,
                Some("2026-11-25T02:31:00Z"),
                vec![step(
                    RunStatus::Failed,
                    serde_json::json!({"written": {"pages": 1000}}),
                )],
            ),
            record("metrics", RunStatus::Interrupted, None, vec![]),
        ];
        assert_eq!(
            render(&records, 1),
            "# HELP usagelake_runs_total Run attempts in the ledger by job and status.
# TYPE usagelake_runs_total counter
usagelake_runs_total{job=\"daily\",status=\"failed\"} 1
usagelake_runs_total{job=\"daily\",status=\"succeeded\"} 2
usagelake_runs_total{job=\"metrics\",status=\"interrupted\"} 1
# HELP usagelake_last_success_timestamp_seconds When the job last finished a run successfully.
# TYPE usagelake_last_success_timestamp_seconds gauge
usagelake_last_success_timestamp_seconds{job=\"daily\"} 1795487460
# HELP usagelake_rows_written_total Rows the job's finished steps added to the lake.
# TYPE usagelake_rows_written_total counter
usagelake_rows_written_total{job=\"daily\"} 40
usagelake_rows_written_total{job=\"metrics\"} 0
# HELP usagelake_runs_in_progress Runs this daemon is executing now.
# TYPE usagelake_runs_in_progress gauge
usagelake_runs_in_progress 1
"
        );
    }
}
