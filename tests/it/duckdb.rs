//! Another engine reads the lake with no help: DuckDB (Python package, which
//! .ci/run installs) over the lake the demo wrote, with hive_partitioning.

use std::process::Command;

const READ_COUNTS: &str = r#"
import duckdb, json, sys
lake = sys.argv[1]
con = duckdb.connect()
out = {}
tables = [("pages", 1, "date"), ("tracks", 1, "date"), ("users", 1, "date"), ("quarantine", 2, "date")]
tables += [(t, 1, "date") for t in ("user_day", "user_sessions", "user_day_feature")]
tables += [(t, 1, "as_of") for t in sys.argv[2].split(",")]
for table, depth, key in tables:
    glob = f"{lake}/tables/{table}/" + "*/" * depth + "*.parquet"
    rows, parts, first = con.execute(
        f"SELECT count(*), count(DISTINCT {key}), min({key})::VARCHAR FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchone()
    kind = con.execute(f"SELECT typeof({key}) FROM read_parquet('{glob}', hive_partitioning = true) LIMIT 1").fetchone()[0]
    out[table] = {"rows": rows, "dates": parts, "first": first, "date_type": kind}
print(json.dumps(out))
"#;

/// Metric tables a 10-day demo fills (churn, reactivation and day-14
/// retention need a longer history).
const METRIC_TABLES: &[&str] = &[
    "dau",
    "wau",
    "mau",
    "stickiness",
    "user_roster",
    "connector_usage",
    "feature_adoption_matrix",
    "engagement_quadrant",
    "feature_trends_weekly",
    "top_events",
    "top_pages",
    "pageviews_per_user",
    "actions_per_session",
    "session_duration",
    "engagement_tiers",
    "power_users",
    "activation_funnel",
    "funnel_analysis",
    "monthly_cohort_retention",
];

#[test]
fn duckdb_reads_the_demo_lake_with_the_same_row_counts() {
    let dir = tempfile::tempdir().unwrap();
    let bin = env!("CARGO_BIN_EXE_usagelake");
    let demo = Command::new(bin)
        .current_dir(dir.path())
        .args([
            "demo",
            "--events",
            "20000",
            "--days",
            "10",
            "--end-date",
            "2026-11-01",
        ])
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );

    let tables = Command::new(bin)
        .current_dir(dir.path())
        .args(["tables", "--format", "json"])
        .output()
        .unwrap();
    let ours: Vec<serde_json::Value> = String::from_utf8_lossy(&tables.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let rows_of = |name: &str| {
        ours.iter().find(|t| t["table"] == name).unwrap()["rows"]
            .as_u64()
            .unwrap()
    };

    let duck = Command::new("python3")
        .args([
            "-c",
            READ_COUNTS,
            &dir.path().join("lake").display().to_string(),
            &METRIC_TABLES.join(","),
        ])
        .output()
        .expect("python3 with duckdb: python3 -m pip install duckdb (.ci/run does)");
    assert!(
        duck.status.success(),
        "{}",
        String::from_utf8_lossy(&duck.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&duck.stdout).unwrap();
    let raw = ["pages", "tracks", "users", "quarantine"];
    let intermediates = ["user_day", "user_sessions", "user_day_feature"];
    for table in raw.iter().chain(&intermediates).chain(METRIC_TABLES) {
        assert!(rows_of(table) > 0, "demo wrote no {table}");
        assert_eq!(
            theirs[table]["rows"].as_u64().unwrap(),
            rows_of(table),
            "{table}: {theirs}"
        );
        assert_eq!(theirs[table]["date_type"], "DATE", "{table}: {theirs}");
    }
    // The demo runs the metrics job for its last activity day.
    assert_eq!(theirs["dau"]["first"], "2026-11-01", "{theirs}");
    // Events span the 10 activity days; partitions are the UTC days of their timestamps.
    assert_eq!(theirs["pages"]["dates"], 10, "{theirs}");
    assert_eq!(theirs["pages"]["first"], "2026-10-23", "{theirs}");
}
