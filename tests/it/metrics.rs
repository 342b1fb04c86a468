//! Golden tests for the metric tables, in the style of sqllogictest: each
//! `tests/data/metrics/*.test` file holds a hand-written event set, derive
//! runs, and queries with the rows expected, worked out by hand from
//! METRICS.md (not produced by running the code).
//!
//! File format (blank lines end blocks; `#` starts a comment line):
//!
//! ```text
//! events
//! page     <timestamp> <user> <domain|-> <page_name> [tab=… connector=… asset_type=… asset=…]
//! track    <timestamp> <user> <domain|-> <event_name>
//! identify <received_at> <user> <domain|-> [created_at=… email=… role=…]
//!
//! derive <as_of> [param=toml-value …]
//!
//! query <SQL on one line>
//! ----
//! value|value|…          (NULL for a null)
//! ```

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::util::display::array_value_to_string;
use usagelake::config::{FileSelection, Params};
use usagelake::lake::Lake;
use usagelake::metrics::{DeriveRequest, MetricParams, derive};
use usagelake::sources::segment::{IngestRequest, ingest};

use crate::support::{copy_dir, ingest_generated, render, s3_none, table_rows, temp_lake};

fn event_json(line: &str, n: usize) -> String {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (kind, ts, user, domain, rest) = (words[0], words[1], words[2], words[3], &words[4..]);
    let extra = |key: &str| {
        rest.iter()
            .find_map(|w| w.strip_prefix(&format!("{key}=")))
            .map(|v| v.to_string())
    };
    let domain_traits = if domain == "-" {
        serde_json::json!({})
    } else {
        serde_json::json!({ "domain": domain })
    };
    let id = format!("m{n}");
    let value = match kind {
        "page" => {
            let mut props = serde_json::Map::new();
            for (key, field) in [
                ("tab", "tab"),
                ("connector", "connector_name"),
                ("asset_type", "asset_type"),
                ("asset", "asset_guid"),
            ] {
                if let Some(v) = extra(key) {
                    props.insert(field.into(), v.into());
                }
            }
            serde_json::json!({"type": "page", "messageId": id, "userId": user, "name": rest[0],
                "timestamp": ts, "receivedAt": ts, "properties": props,
                "context": {"traits": domain_traits}})
        }
        "track" => serde_json::json!({"type": "track", "messageId": id, "userId": user,
            "event": rest[0], "timestamp": ts, "receivedAt": ts, "properties": {},
            "context": {"traits": domain_traits}}),
        "identify" => {
            let mut traits = domain_traits.as_object().unwrap().clone();
            for key in ["created_at", "email", "role"] {
                if let Some(v) = extra(key) {
                    traits.insert(key.into(), v.into());
                }
            }
            serde_json::json!({"type": "identify", "messageId": id, "userId": user,
                "traits": traits, "timestamp": ts, "receivedAt": ts})
        }
        other => panic!("unknown event kind {other} in {line:?}"),
    };
    value.to_string()
}

/// Runs a golden file twice: with the daily tables computed in one chunk,
/// and one local day per chunk (`chunk_events = 1`), which must not change
/// a single row.
async fn run_file(name: &str) {
    run_file_chunked(name, None).await;
    run_file_chunked(name, Some(1)).await;
}

async fn run_file_chunked(name: &str, chunk_events: Option<i64>) {
    let path = format!("{}/tests/data/metrics/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (dir, lake) = temp_lake();
    let mut blocks = text
        .split("\n\n")
        .map(|b| {
            b.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
        })
        .filter(|b| !b.is_empty());
    let mut events_written = 0;
    let mut failures = Vec::new();
    for block in blocks.by_ref() {
        let head = block[0].trim();
        if head == "events" {
            let lines: Vec<String> = block[1..]
                .iter()
                .enumerate()
                .map(|(i, l)| event_json(l, events_written + i))
                .collect();
            events_written += lines.len();
            let folder = dir.path().join(format!("events-{events_written}"));
            std::fs::create_dir_all(&folder).unwrap();
            std::fs::write(folder.join("part.json"), lines.join("\n") + "\n").unwrap();
            ingest(
                &lake,
                &IngestRequest {
                    source: folder.display().to_string(),
                    selection: FileSelection::All,
                    date: NaiveDate::from_ymd_opt(2026, 1, 1).unwrap(),
                    s3: s3_none(),
                    event_time: Default::default(),
                },
            )
            .await
            .unwrap();
        } else if let Some(args) = head.strip_prefix("derive ") {
            let mut words = args.split_whitespace();
            let as_of: NaiveDate = words.next().unwrap().parse().unwrap();
            let mut params: Params = toml::from_str(&words.collect::<Vec<_>>().join("\n")).unwrap();
            if let Some(n) = chunk_events {
                params.insert("chunk_events".into(), toml::Value::Integer(n));
            }
            let request = DeriveRequest {
                params: MetricParams::from_params(&params, as_of).unwrap(),
                sql_dir: None,
                metrics: None,
                force: false,
            };
            derive(&lake, &request).await.unwrap();
        } else if let Some(sql) = head.strip_prefix("query ") {
            assert_eq!(
                block.get(1).map(|l| l.trim()),
                Some("----"),
                "{name}: {sql}"
            );
            let expected: String = block[2..]
                .iter()
                .map(|l| format!("{}\n", l.trim()))
                .collect();
            let got = render(&lake, sql).await;
            if got != expected {
                failures.push(format!(
                    "{name} (chunk_events {chunk_events:?}): {sql}\n--- expected\n{expected}--- got\n{got}"
                ));
            }
        } else {
            panic!("{name}: unknown block {head:?}");
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn active_users() {
    run_file("active_users.test").await;
}

#[tokio::test]
async fn engagement_depth_and_adoption() {
    run_file("depth_adoption.test").await;
}

#[tokio::test]
async fn retention() {
    run_file("retention.test").await;
}

/// The whole-history metrics read the per-user lifetime table: a return's
/// previous active day comes from before the window or from inside it.
#[tokio::test]
async fn reactivation_and_churn() {
    run_file("reactivation.test").await;
}

#[tokio::test]
async fn dst_change_in_a_non_utc_timezone() {
    run_file("dst.test").await;
}

#[tokio::test]
async fn percentiles_are_exact() {
    run_file("percentiles.test").await;
}

/// A lake written by DuckDB, not by usagelake, following the table
/// contracts (Hive `date=` folders, UTC timestamps).
const DUCKDB_WRITES_A_LAKE: &str = r#"
import duckdb, os, sys
lake = sys.argv[1]
os.makedirs(f"{lake}/tables", exist_ok=True)
con = duckdb.connect()
con.execute("SET TimeZone = 'UTC'")
con.execute("""CREATE TABLE pages AS SELECT * FROM (VALUES
    ('p1', 'u1', NULL::VARCHAR, 'a.com', 'home', NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR, NULL::VARCHAR,
     TIMESTAMPTZ '2026-03-10 14:00:00+00', TIMESTAMPTZ '2026-03-10 14:00:01+00'),
    ('p2', 'u2', NULL, 'a.com', 'discovery', NULL, NULL, NULL, NULL,
     TIMESTAMPTZ '2026-03-11 03:30:00+00', TIMESTAMPTZ '2026-03-11 03:30:01+00')
) t(message_id, user_id, anonymous_id, customer_domain, page_name, tab, asset_guid, connector_name, asset_type, "timestamp", received_at)""")
con.execute("""CREATE TABLE tracks AS SELECT * FROM (VALUES
    ('t1', 'u3', NULL::VARCHAR, 'b.com', 'discovery_search_results', '{}',
     TIMESTAMPTZ '2026-03-10 12:00:00+00', TIMESTAMPTZ '2026-03-10 12:00:01+00')
) t(message_id, user_id, anonymous_id, customer_domain, event_name, properties, "timestamp", received_at)""")
con.execute("""CREATE TABLE users AS SELECT * FROM (VALUES
    ('i1', 'u1', 'u1@a.com', 'u1', 'admin', 'Full', 'Analyst', 'a.com', NULL::TIMESTAMPTZ,
     TIMESTAMPTZ '2026-03-01 00:00:00+00')
) t(message_id, user_id, email, username, role, license_type, job_role, customer_domain, created_at, received_at)""")
for table, ts in [("pages", '"timestamp"'), ("tracks", '"timestamp"'), ("users", "received_at")]:
    con.execute(f"COPY (SELECT *, CAST({ts} AS DATE) AS date FROM {table}) TO '{lake}/tables/{table}' (FORMAT parquet, PARTITION_BY (date))")
"#;

#[test]
fn the_metrics_job_runs_on_a_lake_written_by_duckdb() {
    use std::process::Command;
    let dir = tempfile::tempdir().unwrap();
    let lake = dir.path().join("lake");
    let lake_arg = lake.display().to_string();
    let made = Command::new("python3")
        .args(["-c", DUCKDB_WRITES_A_LAKE, &lake_arg])
        .output()
        .expect("python3 with duckdb (.ci/run installs it)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let bin = env!("CARGO_BIN_EXE_usagelake");
    let run = Command::new(bin)
        .current_dir(dir.path())
        .args([
            "run",
            "metrics",
            "--lake",
            &lake_arg,
            "--date",
            "2026-03-10",
        ])
        .args(["--set", "timezone=America/New_York"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("derived 22 metric tables"), "{stdout}");
    // 03:30 UTC on 03-11 is 23:30 EDT on 03-10, so u2 counts on 03-10.
    let query = Command::new(bin)
        .current_dir(dir.path())
        .args(["query", "--lake", &lake_arg, "--format", "csv"])
        .arg("SELECT customer_domain, dau FROM dau ORDER BY 1")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&query.stdout),
        "customer_domain,dau\na.com,2\nb.com,1\n"
    );
    let roster = Command::new(bin)
        .current_dir(dir.path())
        .args(["query", "--lake", &lake_arg, "--format", "csv"])
        .arg("SELECT user_id, email, status FROM user_roster ORDER BY 1")
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&roster.stdout),
        "user_id,email,status\nu1,u1@a.com,Active\nu2,,Active\nu3,,Active\n"
    );
}

/// docs/metrics.md is the column contract: it must name every column of
/// every metric and intermediate table with its type.
#[test]
fn docs_list_every_column_of_every_table() {
    let docs =
        std::fs::read_to_string(format!("{}/docs/metrics.md", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let mut missing = Vec::new();
    for def in usagelake::metrics::load_catalog(None).unwrap() {
        if usagelake::metrics::output_table(&def).is_none() {
            continue;
        }
        let section = docs
            .split(&format!("### {}\n", def.name))
            .nth(1)
            .map(|rest| rest.split("\n### ").next().unwrap());
        let Some(section) = section else {
            missing.push(format!("section ### {}", def.name));
            continue;
        };
        for column in &def.columns {
            let row = format!("| `{}` | {} |", column.name, column.ty.as_str());
            if !section.contains(&row) {
                missing.push(format!("{}: {row}", def.name));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "docs/metrics.md lacks:\n{}",
        missing.join("\n")
    );
}

/// METRICS.md §7: invariants between the tables, on generated data (45
/// days, several domains, late and noise events), in a DST zone.
#[tokio::test]
async fn invariants_hold_on_generated_data() {
    use usagelake::demo::generator::GeneratorOptions;
    let (dir, lake) = temp_lake();
    let end = NaiveDate::from_ymd_opt(2026, 11, 10).unwrap();
    let options = GeneratorOptions {
        events: 40_000,
        days: 45,
        end_date: end,
        ..Default::default()
    };
    ingest_generated(dir.path(), &lake, &options).await;
    let params: Params =
        toml::from_str("timezone = \"America/New_York\"\nwindow_days = 14").unwrap();
    let request = DeriveRequest {
        params: MetricParams::from_params(&params, end).unwrap(),
        sql_dir: None,
        metrics: None,
        force: false,
    };
    let whole = derive(&lake, &request).await.unwrap();
    let window = "\"date\" > DATE '2026-11-10' - 14";
    let checks = [
        // Active roster users are the MAU.
        "SELECT count(*) FROM mau m LEFT JOIN (SELECT customer_domain, count(*) AS n FROM user_roster WHERE status = 'Active' GROUP BY 1) r USING (customer_domain) WHERE m.mau <> COALESCE(r.n, 0)".to_string(),
        // user_days is the sum of DAU over the window.
        format!("SELECT count(*) FROM stickiness s JOIN (SELECT customer_domain, count(*) AS n FROM user_day WHERE {window} GROUP BY 1) d USING (customer_domain) WHERE s.user_days <> d.n"),
        // Sessions add up to the user-day.
        "SELECT count(*) FROM user_day d LEFT JOIN (SELECT \"date\", customer_domain, user_id, sum(events) AS e, count(*) AS n FROM user_sessions GROUP BY 1, 2, 3) s USING (\"date\", customer_domain, user_id) WHERE d.events <> s.e OR d.sessions <> s.n".to_string(),
        // prev_mau minus users in both windows is the churn count.
        format!("SELECT count(*) FROM mau m LEFT JOIN (SELECT customer_domain, count(*) AS both_windows FROM (SELECT customer_domain, user_id FROM user_day WHERE {window} INTERSECT SELECT customer_domain, user_id FROM user_day WHERE \"date\" <= DATE '2026-11-10' - 14 AND \"date\" > DATE '2026-11-10' - 28) GROUP BY 1) b USING (customer_domain) LEFT JOIN (SELECT customer_domain, count(*) AS churned FROM churned_users GROUP BY 1) c USING (customer_domain) WHERE m.prev_mau - COALESCE(b.both_windows, 0) <> COALESCE(c.churned, 0)"),
        // Tiers cover the population; Dormant is the population minus MAU.
        "SELECT count(*) FROM (SELECT customer_domain, sum(user_count) AS p, sum(CASE WHEN tier = 'Dormant' THEN user_count ELSE 0 END) AS dormant FROM engagement_tiers GROUP BY 1) t JOIN mau m USING (customer_domain) JOIN (SELECT customer_domain, count(DISTINCT user_id) AS p FROM user_day GROUP BY 1) u USING (customer_domain) WHERE t.p <> u.p OR t.dormant <> u.p - m.mau".to_string(),
        // The adoption matrix is complete: MAU x 12 rows per domain.
        "SELECT count(*) FROM mau m LEFT JOIN (SELECT customer_domain, count(*) AS n FROM feature_adoption_matrix GROUP BY 1) f USING (customer_domain) WHERE COALESCE(f.n, 0) <> m.mau * 12".to_string(),
    ];
    for check in &checks {
        assert_eq!(render(&lake, check).await, "0\n", "{check}");
    }
    // The demo data has enough history for every table to have rows.
    for table in [
        "dau",
        "user_roster",
        "power_users",
        "top_events",
        "funnel_analysis",
        "day_n_retention",
    ] {
        let rows = render(&lake, &format!("SELECT count(*) > 0 FROM {table}")).await;
        assert_eq!(rows, "true\n", "{table} is empty");
    }

    // Running the same date again (forced: nothing changed), with the daily
    // tables computed in chunks of about two days instead of one chunk,
    // gives the same rows in every table it writes (doubles to 10
    // significant digits: a different summation order moves the last bits
    // of an average).
    let before = table_rows(&lake, end).await;
    let mut chunked = params.clone();
    chunked.insert("chunk_events".into(), toml::Value::Integer(2_000));
    let report = derive(
        &lake,
        &DeriveRequest {
            params: MetricParams::from_params(&chunked, end).unwrap(),
            force: true,
            ..request.clone()
        },
    )
    .await
    .unwrap();
    let after = table_rows(&lake, end).await;
    assert_eq!(before.len(), 25);
    for ((table, rows), (_, again)) in before.iter().zip(&after) {
        assert!(
            !rows.is_empty() || table == "reactivated_users",
            "{table} is empty"
        );
        let diff: Vec<_> = rows
            .iter()
            .zip(again)
            .filter(|(a, b)| a != b)
            .take(3)
            .collect();
        assert!(
            rows == again,
            "{table} differs when computed in chunks: {diff:?}"
        );
    }
    // Each intermediate was written once per local day, chunks or not.
    let written = |report: &usagelake::metrics::DeriveReport| {
        report
            .tables
            .iter()
            .map(|t| (t.table.clone(), t.rows, t.partitions))
            .collect::<Vec<_>>()
    };
    assert_eq!(written(&whole), written(&report));
    let days = render(&lake, "SELECT count(DISTINCT \"date\") FROM user_day").await;
    let user_day = report
        .tables
        .iter()
        .find(|t| t.table == "user_day")
        .unwrap();
    assert_eq!(format!("{}\n", user_day.partitions), days);
}

/// A job's `sql_dir` adds a metric (and can replace a shipped one); a file
/// whose result does not match its declared columns fails with the file,
/// the column and the cast to write.
#[tokio::test]
async fn user_sql_files_add_tables_and_shape_errors_name_the_fix() {
    let (dir, lake) = temp_lake();
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    let lines = [
        "track 2026-03-10T10:00:00Z u1 a.com discovery_search_results",
        "track 2026-03-10T11:00:00Z u2 a.com discovery_search_results",
        "page 2026-03-10T11:00:00Z u3 a.com home",
    ];
    let json: Vec<String> = lines
        .iter()
        .enumerate()
        .map(|(i, l)| event_json(l, i))
        .collect();
    std::fs::write(events.join("part.json"), json.join("\n")).unwrap();
    ingest(
        &lake,
        &IngestRequest {
            source: events.display().to_string(),
            selection: FileSelection::All,
            date: NaiveDate::from_ymd_opt(2026, 3, 10).unwrap(),
            s3: s3_none(),
            event_time: Default::default(),
        },
    )
    .await
    .unwrap();
    let sql_dir = dir.path().join("my-metrics");
    std::fs::create_dir_all(&sql_dir).unwrap();
    std::fs::write(
        sql_dir.join("weekly_searchers.sql"),
        "-- name: weekly_searchers\n-- kind: metric\n-- family: feature_adoption\n\
         -- summary: Users with a search in the last 7 days.\n\
         -- columns: customer_domain STRING, searchers BIGINT\n\
         SELECT k.customer_domain, COUNT(DISTINCT u.user_id) AS searchers\n\
         FROM known_domains k LEFT JOIN user_day u ON u.customer_domain = k.customer_domain\n\
         AND u.\"date\" > $as_of::DATE - 7 AND u.searches > 0 GROUP BY k.customer_domain\n",
    )
    .unwrap();
    let as_of = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
    let request = |metrics: Option<Vec<String>>| DeriveRequest {
        params: MetricParams::from_params(&Params::new(), as_of).unwrap(),
        sql_dir: Some(sql_dir.clone()),
        metrics,
        force: false,
    };
    let report = derive(&lake, &request(Some(vec!["weekly_searchers".into()])))
        .await
        .unwrap();
    let written: Vec<_> = report
        .tables
        .iter()
        .filter(|t| t.kind == "metric")
        .map(|t| (t.table.as_str(), t.rows))
        .collect();
    assert_eq!(written, vec![("weekly_searchers", 1)]);
    let catalog = usagelake::metrics::load_catalog(Some(&sql_dir)).unwrap();
    let def = catalog
        .iter()
        .find(|d| d.name == "weekly_searchers")
        .unwrap();
    let table = usagelake::metrics::output_table(def).unwrap();
    let batches = usagelake::lake::read_partition(
        &lake,
        &table,
        &[usagelake::lake::PartitionValue::Date(as_of)],
    )
    .await
    .unwrap()
    .unwrap();
    let batch = &batches[0];
    assert_eq!(
        (
            array_value_to_string(batch.column(0), 0).unwrap(),
            array_value_to_string(batch.column(1), 0).unwrap()
        ),
        ("a.com".to_string(), "2".to_string())
    );

    // The shipped dau, replaced by a file that forgets a cast.
    std::fs::write(
        sql_dir.join("dau.sql"),
        "-- name: dau\n-- kind: metric\n-- columns: customer_domain STRING, dau DOUBLE\n\
         SELECT customer_domain, COUNT(*) AS dau FROM user_day GROUP BY 1\n",
    )
    .unwrap();
    let err = derive(&lake, &request(Some(vec!["dau".into()])))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the result does not match the declared columns: column dau is Int64, declared DOUBLE; write CAST(… AS DOUBLE) in the SELECT",
            sql_dir.join("dau.sql").display()
        )
    );
    let err = derive(&lake, &request(Some(vec!["daus".into()])))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "unknown metric \"daus\"; `usagelake metrics list` shows the known ones"
    );
}

/// The per-day tables of a lake derived day by day, reusing what earlier
/// runs wrote, against a from-scratch derive of the same raw tables, for
/// every table (metrics as of the day, per-day tables up to it), row by row.
async fn assert_same_as_from_scratch(
    lake_dir: &std::path::Path,
    lake: &Lake,
    as_of: NaiveDate,
    params: &Params,
) {
    let scratch_dir = tempfile::tempdir().unwrap();
    for table in ["pages", "tracks", "users"] {
        copy_dir(
            &lake_dir.join("tables").join(table),
            &scratch_dir.path().join("tables").join(table),
        );
    }
    let scratch = Lake::open(&usagelake::lake::LakeLocation::Local(
        scratch_dir.path().to_path_buf(),
    ))
    .unwrap();
    let report = derive(&scratch, &request(params, as_of, false))
        .await
        .unwrap();
    assert_eq!(report.days_reused, 0);
    let incremental = table_rows(lake, as_of).await;
    let from_scratch = table_rows(&scratch, as_of).await;
    assert_eq!(incremental.len(), 25);
    for ((table, rows), (_, expected)) in incremental.iter().zip(&from_scratch) {
        let missing: Vec<_> = expected
            .iter()
            .filter(|r| !rows.contains(r))
            .take(3)
            .collect();
        let extra: Vec<_> = rows
            .iter()
            .filter(|r| !expected.contains(r))
            .take(3)
            .collect();
        assert!(
            rows == expected,
            "as of {as_of} ({params:?}), {table}: {} rows, from scratch {}; missing {missing:?}, extra {extra:?}",
            rows.len(),
            expected.len()
        );
    }
}

fn request(params: &Params, as_of: NaiveDate, force: bool) -> DeriveRequest {
    DeriveRequest {
        params: MetricParams::from_params(params, as_of).unwrap(),
        sql_dir: None,
        metrics: None,
        force,
    }
}

/// Issue 19: a daily run derives only the local days whose raw input
/// changed (new days, late events, the neighbour across the zone offset)
/// and reads the rest from the lake; a timezone change derives every day
/// again and removes the partitions of days the new zone does not have.
#[tokio::test]
async fn day_by_day_derive_equals_a_derive_from_scratch() {
    use usagelake::demo::generator::{GeneratorOptions, generate};
    let (dir, lake) = temp_lake();
    let lake_dir = dir.path().join("lake");
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    let first = day("2026-03-01");
    let end = day("2026-03-14");
    generate(
        &GeneratorOptions {
            events: 6_000,
            days: 14,
            end_date: end,
            ..Default::default()
        },
        &dir.path().join("data"),
    )
    .unwrap();
    let logs = dir.path().join("data/segment-logs");
    let source = std::fs::read_dir(&logs)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let arrival_folder = |d: NaiveDate| {
        source.join(
            d.and_hms_opt(0, 0, 0)
                .unwrap()
                .and_utc()
                .timestamp_millis()
                .to_string(),
        )
    };
    // A very late event: activity of 2026-03-03 (a new user of a new
    // domain, and one without a domain) and its identify, arriving on
    // 2026-03-09 (the identity fold reads that old users partition again).
    crate::support::write_events(
        &arrival_folder(day("2026-03-09")),
        "late.json",
        &[
            crate::support::page(
                "late-1",
                "late-user",
                "late.example",
                "discovery",
                "2026-03-03T10:00:00Z",
            ),
            crate::support::track(
                "late-2",
                "late-user",
                "",
                "discovery_search_results",
                "2026-03-03T10:05:00Z",
            ),
            crate::support::identify(
                "late-4",
                "late-user",
                "late.example",
                "late@late.example",
                "2026-03-03T09:00:00Z",
            ),
        ],
    );
    let ingest_day = |d: NaiveDate| {
        let lake = lake.clone();
        let logs = logs.clone();
        async move {
            ingest(
                &lake,
                &IngestRequest {
                    source: logs.display().to_string(),
                    selection: FileSelection::ByArrivalDate,
                    date: d,
                    s3: s3_none(),
                    event_time: Default::default(),
                },
            )
            .await
            .unwrap();
        }
    };
    let zone = |d: NaiveDate| -> Params {
        // West of UTC across the DST change of 2026-03-08, then east of it
        // (a local day starts on the UTC day before), then UTC again.
        let tz = match d.day() {
            1..=4 => "UTC",
            5..=9 => "America/Los_Angeles",
            10..=11 => "Asia/Kolkata",
            _ => "UTC",
        };
        toml::from_str(&format!(
            "timezone = \"{tz}\"\nwindow_days = 7\nretention_days = 3"
        ))
        .unwrap()
    };
    let mut previous_zone = None;
    for d in first.iter_days().take_while(|d| *d <= end) {
        ingest_day(d).await;
        let params = zone(d);
        let report = derive(&lake, &request(&params, d, false)).await.unwrap();
        let days_so_far = report.days_derived + report.days_reused;
        if previous_zone.as_ref() == Some(&params) {
            // Today, and the days late events or the zone offset touch.
            assert!(
                (1..=8).contains(&report.days_derived) && days_so_far > report.days_derived,
                "{d}: {} days derived, {} reused",
                report.days_derived,
                report.days_reused
            );
        } else {
            assert_eq!(report.days_reused, 0, "{d}: a new zone derives every day");
        }
        previous_zone = Some(params.clone());
        assert_same_as_from_scratch(&lake_dir, &lake, d, &params).await;
    }

    // Nothing new: nothing derived. The late arrivals folder after the
    // last day, then one more late event, rewriting one raw partition
    // (UTC: exactly one local day), and a late identify with a newer email.
    let params = zone(end);
    let daily = request(&params, end, false);
    let report = derive(&lake, &daily).await.unwrap();
    assert_eq!(report.days_derived, 0);
    let extra = dir.path().join("extra");
    crate::support::write_events(
        &extra,
        "late.json",
        &[
            crate::support::page(
                "late-3",
                "late-user",
                "",
                "glossary",
                "2026-03-05T23:59:00Z",
            ),
            crate::support::identify(
                "late-5",
                "late-user",
                "late.example",
                "late2@late.example",
                "2026-03-05T12:00:00Z",
            ),
        ],
    );
    ingest(
        &lake,
        &IngestRequest {
            source: extra.display().to_string(),
            selection: FileSelection::All,
            date: end,
            s3: s3_none(),
            event_time: Default::default(),
        },
    )
    .await
    .unwrap();
    let report = derive(&lake, &daily).await.unwrap();
    assert_eq!((report.days_derived, report.days_reused), (1, 14));
    assert_same_as_from_scratch(&lake_dir, &lake, end, &params).await;
    assert_eq!(
        render(
            &lake,
            &format!(
                "SELECT email FROM user_roster WHERE as_of = DATE '{end}' AND user_id = 'late-user'"
            )
        )
        .await,
        "late2@late.example\nlate2@late.example\n"
    );
    // A lost manifest vouches for nothing; --force derives every day.
    let report = derive(&lake, &request(&params, end, true)).await.unwrap();
    assert_eq!((report.days_derived, report.days_reused), (15, 0));
    std::fs::remove_file(lake_dir.join("_usagelake/derive/daily_tables.json")).unwrap();
    let report = derive(&lake, &daily).await.unwrap();
    assert_eq!((report.days_derived, report.days_reused), (15, 0));
    assert_same_as_from_scratch(&lake_dir, &lake, end, &params).await;
}

/// Issue 19: user_month is folded per month. Runs across a month end keep
/// the months whose user_day partitions did not change; a late event in an
/// old month recomputes that month only; a kept month deleted or damaged
/// is computed again; an earlier as-of date recomputes its own month. Each
/// time every table equals a from-scratch derive.
#[tokio::test]
async fn months_are_folded_and_recomputed_only_where_their_days_changed() {
    use usagelake::demo::generator::{GeneratorOptions, generate};
    let (dir, lake) = temp_lake();
    let lake_dir = dir.path().join("lake");
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap();
    generate(
        &GeneratorOptions {
            events: 3_000,
            days: 63,
            end_date: day("2026-03-02"),
            ..Default::default()
        },
        &dir.path().join("data"),
    )
    .unwrap();
    let ingest_all = |source: std::path::PathBuf| {
        let lake = lake.clone();
        async move {
            ingest(
                &lake,
                &IngestRequest {
                    source: source.display().to_string(),
                    selection: FileSelection::All,
                    date: day("2026-03-02"),
                    s3: s3_none(),
                    event_time: Default::default(),
                },
            )
            .await
            .unwrap();
        }
    };
    ingest_all(dir.path().join("data/segment-logs")).await;
    // A 10-day window: as of 2026-03-02 it starts on 2026-02-21 and the
    // previous one on 2026-02-11, after the first of its month.
    let params: Params =
        toml::from_str("window_days = 10\nreactivation_gap_days = 5\nretention_days = 3").unwrap();
    let kept = |month: &str| lake_dir.join(format!("_usagelake/derive/user_month/{month}.parquet"));
    let modified = |month: &str| std::fs::metadata(kept(month)).unwrap().modified().unwrap();
    for d in ["2026-02-27", "2026-02-28", "2026-03-01", "2026-03-02"] {
        derive(&lake, &request(&params, day(d), false))
            .await
            .unwrap();
        assert_same_as_from_scratch(&lake_dir, &lake, day(d), &params).await;
    }
    for month in ["2025-12", "2026-01", "2026-02", "2026-03"] {
        assert!(kept(month).exists(), "{month} is kept");
    }

    // A late event in January (a new user) re-derives one day of January:
    // January's rows are computed again, December's and February's kept.
    let (december, january, february) = (
        modified("2025-12"),
        modified("2026-01"),
        modified("2026-02"),
    );
    let late = dir.path().join("late");
    crate::support::write_events(
        &late,
        "late.json",
        &[crate::support::page(
            "late-jan",
            "late-jan-user",
            "late.example",
            "discovery",
            "2026-01-10T10:00:00Z",
        )],
    );
    ingest_all(late).await;
    let end = day("2026-03-02");
    let report = derive(&lake, &request(&params, end, false)).await.unwrap();
    assert_eq!(report.days_derived, 1);
    assert_eq!(modified("2025-12"), december);
    assert_ne!(modified("2026-01"), january);
    assert_eq!(modified("2026-02"), february);
    assert_same_as_from_scratch(&lake_dir, &lake, end, &params).await;
    assert_eq!(
        render(
            &lake,
            &format!(
                "SELECT first_active_date, total_events FROM user_roster WHERE as_of = DATE '{end}' AND user_id = 'late-jan-user'"
            )
        )
        .await,
        "2026-01-10|1\n"
    );

    // A kept month deleted, another damaged: both computed again.
    std::fs::remove_file(kept("2025-12")).unwrap();
    std::fs::write(kept("2026-02"), b"not parquet").unwrap();
    derive(&lake, &request(&params, end, false)).await.unwrap();
    assert!(kept("2025-12").exists());
    assert_ne!(std::fs::read(kept("2026-02")).unwrap(), b"not parquet");
    assert_same_as_from_scratch(&lake_dir, &lake, end, &params).await;

    // An earlier as-of date: February (kept through the 28th) is computed
    // again up to the 15th, and the next run puts it back.
    derive(&lake, &request(&params, day("2026-02-15"), false))
        .await
        .unwrap();
    assert_same_as_from_scratch(&lake_dir, &lake, day("2026-02-15"), &params).await;
    derive(&lake, &request(&params, end, false)).await.unwrap();
    assert_same_as_from_scratch(&lake_dir, &lake, end, &params).await;
}
