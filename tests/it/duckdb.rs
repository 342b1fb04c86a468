//! Another engine reads the lake with no help: DuckDB (Python package, which
//! .ci/run installs) over the lake the demo wrote, with hive_partitioning.

use std::process::Command;

const READ_COUNTS: &str = r#"
import duckdb, json, sys
lake = sys.argv[1]
con = duckdb.connect()
out = {}
for table, depth in [("pages", 1), ("tracks", 1), ("users", 1), ("quarantine", 2)]:
    glob = f"{lake}/tables/{table}/" + "*/" * depth + "*.parquet"
    rows, parts, first = con.execute(
        f"SELECT count(*), count(DISTINCT date), min(date)::VARCHAR FROM read_parquet('{glob}', hive_partitioning = true)"
    ).fetchone()
    kind = con.execute(f"SELECT typeof(date) FROM read_parquet('{glob}', hive_partitioning = true) LIMIT 1").fetchone()[0]
    out[table] = {"rows": rows, "dates": parts, "first": first, "date_type": kind}
print(json.dumps(out))
"#;

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
        ])
        .output()
        .expect("python3 with duckdb: python3 -m pip install duckdb (.ci/run does)");
    assert!(
        duck.status.success(),
        "{}",
        String::from_utf8_lossy(&duck.stderr)
    );
    let theirs: serde_json::Value = serde_json::from_slice(&duck.stdout).unwrap();
    for table in ["pages", "tracks", "users", "quarantine"] {
        assert!(rows_of(table) > 0, "demo wrote no {table}");
        assert_eq!(
            theirs[table]["rows"].as_u64().unwrap(),
            rows_of(table),
            "{table}: {theirs}"
        );
        assert_eq!(theirs[table]["date_type"], "DATE", "{table}: {theirs}");
    }
    // Events span the 10 activity days; partitions are the UTC days of their timestamps.
    assert_eq!(theirs["pages"]["dates"], 10, "{theirs}");
    assert_eq!(theirs["pages"]["first"], "2026-10-23", "{theirs}");
}
