//! The one `bi_queries` / `sync_jobs` writer: slices replaced exactly,
//! re-runs idempotent, raw SQL never stored, failed attempts recorded.

use chrono::{DateTime, NaiveDate, Utc};
use usagelake::config::AppConfig;
use usagelake::lake::{Lake, LakeLocation};
use usagelake::query::{OutputFormat, format_batches, run_sql};
use usagelake::sources::bi_queries::{self, commit};
use usagelake::sources::collect::{BiRow, Collected, ResourceType, RowScope, Slice};

const CONNECTOR: &str = "5f0c2a57-1d7e-4b8e-8d7e-0c6f4f1b9c22";

fn config() -> AppConfig {
    AppConfig::parse(
        "c.toml",
        &format!(
            "[[connectors]]\nid = \"{CONNECTOR}\"\nname = \"wh\"\ntype = \"postgres\"\nlog_dir = \"/nonexistent/pg_log\"\n"
        ),
        &|_| None,
    )
    .unwrap()
}

fn lake(dir: &std::path::Path) -> Lake {
    let location =
        LakeLocation::parse(dir.join("lake").to_str().unwrap(), &Default::default()).unwrap();
    Lake::open(&location).unwrap()
}

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

fn day(text: &str) -> NaiveDate {
    text.parse().unwrap()
}

fn execution(id: &str, user: &str, when: &str, sql: &str) -> BiRow {
    BiRow {
        sql: Some(sql.to_string()),
        executed_by: Some(user.to_string()),
        executed_at: Some(at(when)),
        database: Some("shop".into()),
        ..BiRow::new(ResourceType::QueryLog, id)
    }
}

async fn table(lake: &Lake, sql: &str) -> String {
    let batches = run_sql(lake, sql).await.unwrap();
    format_batches(&batches, OutputFormat::Csv).unwrap()
}

#[tokio::test]
async fn executions_replace_their_day_and_keep_no_literal() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let config = config();
    let connector = config.connector("wh").unwrap();
    let collected = Collected {
        rows: vec![
            execution(
                "s1:1",
                "alice",
                "2026-11-02T10:00:00Z",
                "SELECT o.total FROM orders o WHERE o.customer = 'Zed Secret'",
            ),
            execution(
                "s1:2",
                "bob",
                "2026-11-02T11:00:00Z",
                "select o.total from ORDERS o where o.customer = 'Other'",
            ),
            // Another day's statement in this day's log: that day's run owns it.
            execution(
                "s1:3",
                "bob",
                "2026-11-03T00:00:01Z",
                "SELECT 1 FROM orders",
            ),
        ],
        slices: vec![Slice {
            date: day("2026-11-02"),
            scope: RowScope::Executions,
        }],
        ..Default::default()
    };
    for _ in 0..3 {
        let report = commit(&lake, connector, &collected, day("2026-11-02"))
            .await
            .unwrap();
        assert_eq!((report.rows_upserted, report.rows_outside_slices), (2, 1));
    }
    let rows = table(
        &lake,
        "SELECT resource_id, executed_by, sql_text, array_to_string(referenced_tables, '|') AS referenced_tables, array_to_string(referenced_columns, '|') AS referenced_columns, database, execution_count, cast(date AS VARCHAR) AS d, connector_id \
         FROM bi_queries ORDER BY resource_id",
    )
    .await;
    assert_eq!(
        rows,
        format!(
            "resource_id,executed_by,sql_text,referenced_tables,referenced_columns,database,execution_count,d,connector_id\n\
             s1:1,alice,SELECT o.total FROM orders o WHERE o.customer = ?,orders,orders.customer|orders.total,shop,1,2026-11-02,{CONNECTOR}\n\
             s1:2,bob,select o.total from ORDERS o where o.customer = ?,orders,orders.customer|orders.total,shop,1,2026-11-02,{CONNECTOR}\n"
        )
    );
    let fingerprints = table(
        &lake,
        "SELECT count(DISTINCT query_fingerprint) AS n, count(*) AS rows FROM bi_queries",
    )
    .await;
    assert_eq!(fingerprints, "n,rows\n1,2\n");
    assert_no_text_under(dir.path(), &["Zed Secret", "Other"]);

    // The same day mined again with one statement fewer: exactly that day changes.
    let fewer = Collected {
        rows: collected.rows[..1].to_vec(),
        ..collected.clone()
    };
    commit(&lake, connector, &fewer, day("2026-11-02"))
        .await
        .unwrap();
    assert_eq!(
        table(&lake, "SELECT resource_id FROM bi_queries").await,
        "resource_id\ns1:1\n"
    );
}

#[tokio::test]
async fn a_snapshot_replaces_definitions_and_keeps_the_days_executions() {
    let dir = tempfile::tempdir().unwrap();
    let lake = lake(dir.path());
    let config = config();
    let connector = config.connector("wh").unwrap();
    let date = day("2026-11-02");
    let chart = |id: &str, title: &str| BiRow {
        title: Some(title.into()),
        sql: Some(format!(
            "SELECT region, sum(amount) FROM sales WHERE year = 2024 GROUP BY region -- {id}"
        )),
        ..BiRow::new(ResourceType::Chart, id)
    };
    let view = BiRow {
        executed_by: Some("carol".into()),
        executed_at: Some(at("2026-11-02T09:00:00Z")),
        execution_count: 3,
        ..BiRow::new(ResourceType::ChartView, "view-1")
    };
    let first = Collected {
        rows: vec![chart("1", "Sales"), chart("2", "Old chart"), view],
        slices: vec![
            Slice {
                date,
                scope: RowScope::Definitions,
            },
            Slice {
                date,
                scope: RowScope::Executions,
            },
        ],
        ..Default::default()
    };
    commit(&lake, connector, &first, date).await.unwrap();
    // Chart 2 was deleted in the tool; the next snapshot of the day has only chart 1.
    let second = Collected {
        rows: vec![chart("1", "Sales by region")],
        slices: vec![Slice {
            date,
            scope: RowScope::Definitions,
        }],
        ..Default::default()
    };
    commit(&lake, connector, &second, date).await.unwrap();
    assert_eq!(
        table(
            &lake,
            "SELECT resource_type, resource_id, title, array_to_string(referenced_tables, '|') AS referenced_tables, execution_count FROM bi_queries ORDER BY resource_type, resource_id"
        )
        .await,
        "resource_type,resource_id,title,referenced_tables,execution_count\n\
         chart,1,Sales by region,sales,1\n\
         chart_view,view-1,,,3\n"
    );
    // Ids are stable: the same chart keeps its id from snapshot to snapshot.
    assert_eq!(
        table(
            &lake,
            "SELECT id FROM bi_queries WHERE resource_type = 'chart'"
        )
        .await,
        format!("id\n{}\n", bi_queries::row_id(CONNECTOR, &chart("1", "")))
    );
}

#[test]
fn two_users_in_one_instant_are_two_executions() {
    let at = "2026-11-20T10:00:00Z".parse().ok();
    let run = |user: &str| BiRow {
        executed_by: Some(user.to_string()),
        executed_at: at,
        ..BiRow::new(ResourceType::ChartView, "7")
    };
    assert_ne!(
        bi_queries::row_id(CONNECTOR, &run("ann")),
        bi_queries::row_id(CONNECTOR, &run("bob"))
    );
    assert_eq!(
        bi_queries::row_id(CONNECTOR, &run("ann")),
        bi_queries::row_id(CONNECTOR, &run("ann"))
    );
}

#[tokio::test]
async fn several_statements_share_one_row_and_one_fingerprint() {
    let analysis = bi_queries::analyze_text(
        "BEGIN; UPDATE stock SET qty = qty - 5 WHERE sku = 'A-1'; INSERT INTO moves SELECT * FROM staging; COMMIT;",
        usagelake::sql::SqlDialect::Postgres,
    )
    .unwrap();
    // The analyzer lists an UPDATE's target as written, not read.
    assert_eq!(analysis.tables, vec!["staging"]);
    assert_eq!(analysis.written_tables, vec!["moves", "stock"]);
    assert!(!analysis.sql_text.contains("A-1"), "{}", analysis.sql_text);
    let again = bi_queries::analyze_text(
        "begin; update stock set qty = qty - 9 where sku = 'B-2'; insert into moves select * from staging; commit;",
        usagelake::sql::SqlDialect::Postgres,
    )
    .unwrap();
    assert_eq!(analysis.fingerprint, again.fingerprint);
    assert_eq!(
        bi_queries::analyze_text("  -- nothing\n", usagelake::sql::SqlDialect::Postgres),
        None
    );
}

/// A mine that cannot read its source leaves a failed sync job with the
/// reason, no bi_queries partition, and exit status 1.
#[test]
fn a_failed_mine_is_recorded_and_writes_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/usagelake.toml"),
        format!(
            "[[connectors]]\nid = \"{CONNECTOR}\"\nname = \"wh\"\ntype = \"postgres\"\nlog_dir = \"/nonexistent/pg_log\"\n"
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["mine", "wh", "--date", "2026-11-02"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows_upserted"], 0);
    assert_eq!(report["dates"], serde_json::json!(["2026-11-02"]));
    assert_eq!(report["failed"][0]["status"], "failed");
    let error = report["failed"][0]["error"].as_str().unwrap();
    assert!(error.starts_with("connector wh: "), "{error}");
    let q = run(&[
        "query",
        "SELECT kind, status, rows_upserted, cast(date AS VARCHAR) AS d, connector_id FROM sync_jobs",
        "--format",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&q.stdout),
        format!(
            "kind,status,rows_upserted,d,connector_id\nquery_log_mining,failed,0,2026-11-02,{CONNECTOR}\n"
        )
    );
    assert!(!dir.path().join("lake/tables/bi_queries").exists());
    let wrong = run(&["sync", "wh"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&wrong.stderr),
        "error: connector \"wh\" is a postgres connector; bi_sync takes BI tools (superset, metabase, looker, tableau, power_bi)\n"
    );
    let unknown = run(&["mine", "nope"]);
    assert_eq!(
        String::from_utf8_lossy(&unknown.stderr),
        "error: no connector named \"nope\" in the configuration (known: wh); use a connector's name or id\n"
    );
}

fn assert_no_text_under(root: &std::path::Path, needles: &[&str]) {
    for entry in walk(root) {
        let bytes = std::fs::read(&entry).unwrap();
        for needle in needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{needle:?} found in {}",
                entry.display()
            );
        }
    }
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
