//! Golden tests for usage aggregation: each `tests/data/usage/*.test` file
//! holds a configuration, `bi_queries` rows committed through the one
//! writer exactly as collectors commit them, `sync_jobs` attempts, and
//! commands with the output expected, worked out by hand from the rules
//! in README "Usage" (not produced by running the code).
//!
//! File format (blank lines end blocks; `#` starts a comment line):
//!
//! ```text
//! config
//! <TOML: [[connectors]] and [[spaces]]>
//!
//! commit <connector> <snapshot date>
//! <resource_type> <resource_id> [by=… at=… count=… db=… tables=a,b] | <SQL>
//!
//! sync <connector> <date> <bi_sync|query_log_mining> <succeeded|failed>
//! sync …                              (one attempt per line)
//!
//! aggregate <space> <date>
//! ----
//! {"products_updated": N}
//!
//! unused <space> <days> <date>        (table format)
//! popular <space> <date>              (product|rank|executions|users|last run|example)
//! query <SQL on one line>
//! ----
//! value|value|…          (NULL for a null)
//! ```
//!
//! A commit declares the definitions slice of its snapshot date when it
//! has definitions (or no rows at all: an empty snapshot), and the
//! executions slice of each UTC day its executions fall on.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use usagelake::config::AppConfig;
use usagelake::lake::Lake;
use usagelake::sources::bi_queries::{commit, record_sync_job};
use usagelake::sources::collect::{
    BiRow, Collected, ResourceType, RowScope, Slice, SyncJob, SyncKind, SyncStatus,
};
use usagelake::usage::{self, ReportFormat};

use crate::support::{render, temp_lake};

fn parse_row(line: &str) -> BiRow {
    let (head, sql) = match line.split_once('|') {
        Some((h, s)) => (h, Some(s.trim().to_string())),
        None => (line, None),
    };
    let words: Vec<&str> = head.split_whitespace().collect();
    let kind = ResourceType::parse(words[0]).unwrap_or_else(|| panic!("resource type in {line:?}"));
    let mut row = BiRow {
        sql: sql.filter(|s| !s.is_empty()),
        ..BiRow::new(kind, words[1])
    };
    for word in &words[2..] {
        let (key, value) = word
            .split_once('=')
            .unwrap_or_else(|| panic!("{word:?} in {line:?}"));
        match key {
            "by" => row.executed_by = Some(value.to_string()),
            "at" => row.executed_at = Some(value.parse::<DateTime<Utc>>().unwrap()),
            "count" => row.execution_count = value.parse().unwrap(),
            "db" => row.database = Some(value.to_string()),
            "tables" => row.tables = value.split(',').map(str::to_string).collect(),
            "title" => row.title = Some(value.to_string()),
            other => panic!("unknown row key {other} in {line:?}"),
        }
    }
    row
}

async fn run_file(name: &str) {
    let path = format!("{}/tests/data/usage/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap();
    let (_dir, lake) = temp_lake();
    let mut config: Option<AppConfig> = None;
    let mut failures = Vec::new();
    let mut blocks = text
        .split("\n\n")
        .map(|b| {
            b.lines()
                .filter(|l| !l.trim_start().starts_with('#'))
                .collect::<Vec<_>>()
        })
        .filter(|b| !b.is_empty())
        .peekable();
    while let Some(mut block) = blocks.next() {
        // TOML tables are separated by blank lines too: a config block
        // runs on through the blocks that start with a table header.
        if block[0].trim() == "config" {
            while let Some(next) = blocks.next_if(|b| b[0].trim_start().starts_with('[')) {
                block.extend(next);
            }
        }
        let head: Vec<&str> = block[0].split_whitespace().collect();
        let expected = block.iter().position(|l| *l == "----").map(|i| {
            block[i + 1..]
                .iter()
                .map(|l| format!("{l}\n"))
                .collect::<String>()
        });
        let config_ref = || config.as_ref().expect("a config block comes first");
        let got = match head[0] {
            "config" => {
                let toml = block[1..].join("\n");
                config = Some(
                    AppConfig::parse(name, &toml, &|_| None)
                        .unwrap_or_else(|e| panic!("{name}: config: {e}")),
                );
                continue;
            }
            "commit" => {
                let connector = config_ref().connector(head[1]).expect("known connector");
                let snapshot: NaiveDate = head[2].parse().unwrap();
                let rows: Vec<BiRow> = block[1..].iter().map(|l| parse_row(l)).collect();
                let mut slices = BTreeSet::new();
                if rows.is_empty() {
                    // An empty snapshot: every definition was deleted.
                    slices.insert(Slice {
                        date: snapshot,
                        scope: RowScope::Definitions,
                    });
                }
                for row in &rows {
                    let date = match (row.resource_type.scope(), row.executed_at) {
                        (RowScope::Executions, Some(at)) => at.date_naive(),
                        _ => snapshot,
                    };
                    slices.insert(Slice {
                        date,
                        scope: row.resource_type.scope(),
                    });
                }
                let collected = Collected {
                    rows,
                    slices: slices.into_iter().collect(),
                    ..Default::default()
                };
                commit(&lake, connector, &collected, snapshot)
                    .await
                    .unwrap();
                continue;
            }
            "sync" => {
                for line in &block {
                    let head: Vec<&str> = line.split_whitespace().collect();
                    let connector = config_ref().connector(head[1]).expect("known connector");
                    let date: NaiveDate = head[2].parse().unwrap();
                    let kind = match head[3] {
                        "bi_sync" => SyncKind::BiSync,
                        "query_log_mining" => SyncKind::QueryLogMining,
                        other => panic!("sync kind {other}"),
                    };
                    let status = match head[4] {
                        "succeeded" => SyncStatus::Succeeded,
                        "failed" => SyncStatus::Failed,
                        other => panic!("sync status {other}"),
                    };
                    let started_at = date.and_hms_opt(12, 0, 0).unwrap().and_utc();
                    let job = SyncJob {
                        id: format!("{}-{date}-{}", connector.name, head[4]),
                        connector_id: connector.id_string(),
                        kind,
                        date,
                        status,
                        started_at,
                        finished_at: Some(started_at),
                        rows_upserted: 0,
                        error: (status == SyncStatus::Failed).then(|| "test failure".to_string()),
                        report: Default::default(),
                    };
                    record_sync_job(&lake, &job).await.unwrap();
                }
                continue;
            }
            "aggregate" => {
                let summary =
                    usage::aggregate(&lake, config_ref(), head[1], head[2].parse().unwrap())
                        .await
                        .unwrap_or_else(|e| panic!("{}: {e}", block[0]));
                serde_json::to_string(&summary).unwrap() + "\n"
            }
            "unused" => {
                let products = usage::unused(
                    &lake,
                    config_ref(),
                    head[1],
                    head[2].parse().unwrap(),
                    head[3].parse().unwrap(),
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", block[0]));
                usage::render_unused(&products, ReportFormat::Table)
            }
            "popular" => {
                let products =
                    usage::popular(&lake, config_ref(), head[1], None, head[2].parse().unwrap())
                        .await
                        .unwrap_or_else(|e| panic!("{}: {e}", block[0]));
                // Fingerprints are hashes, not hand-computable: the rows
                // show what they group instead.
                let mut out = String::new();
                for product in &products {
                    for (rank, p) in product.patterns.iter().enumerate() {
                        writeln!(
                            out,
                            "{}|{}|{}|{}|{}|{}",
                            product.name,
                            rank + 1,
                            p.executions,
                            p.users,
                            p.last_run_at.map_or("NULL".into(), |t| t.to_rfc3339()),
                            p.example_sql.as_deref().unwrap_or("NULL")
                        )
                        .unwrap();
                    }
                }
                out
            }
            "query" => {
                let sql = block[0].trim_start().strip_prefix("query ").unwrap();
                render(&lake, sql).await
            }
            other => panic!("{name}: unknown block {other:?}"),
        };
        let expected = expected.unwrap_or_else(|| panic!("{name}: {} has no ----", block[0]));
        if got != expected {
            failures.push(format!(
                "{name}: {}\n--- expected\n{expected}--- got\n{got}",
                block[0]
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[tokio::test]
async fn popularity() {
    run_file("popularity.test").await;
}

#[tokio::test]
async fn matching_per_dialect() {
    run_file("matching.test").await;
}

#[tokio::test]
async fn counting_rules() {
    run_file("counting.test").await;
}

#[tokio::test]
async fn unused_and_coverage() {
    run_file("unused.test").await;
}

#[test]
fn validate_names_patterns_that_never_match_and_shared_tables() {
    let text = r#"[[spaces]]
slug = "s"
id = "7d3c8c1e-0000-4000-8000-000000000001"
products = [
  { id = "00000000-0000-4000-8000-000000000001", name = "a", tables = ["finance.revenue", "orders_[a-"] },
  { id = "00000000-0000-4000-8000-000000000002", name = "b", tables = ["FINANCE.REVENUE", "", "finance.*"] },
  { id = "not-a-uuid", name = "c", tables = [] },
]
window_days = 0
"#;
    let tail = "write a name such as analytics.finance.revenue or a glob such as marketing.*";
    let problems: Vec<String> = AppConfig::parse("c.toml", text, &|_| None)
        .unwrap_err()
        .0
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        problems,
        vec![
            "c.toml:9: spaces[0].window_days: space \"s\": window_days must be at least 1".to_string(),
            format!("c.toml:4: spaces[0].products[0].tables[1]: space \"s\": product \"a\": table \"orders_[a-\" glob \"orders_[a-\" has a [ without its ]; close the class or drop the [; {tail}"),
            "c.toml:4: spaces[0].products[1].tables[0]: space \"s\": product \"b\" claims table \"FINANCE.REVENUE\", which product \"a\" already claims as \"finance.revenue\"; a table belongs to one product of a space: remove it from one of them".to_string(),
            format!("c.toml:4: spaces[0].products[1].tables[1]: space \"s\": product \"b\": table \"\" is empty and can never match; {tail}"),
            "c.toml:4: spaces[0].products[2].id: space \"s\": product \"c\": id \"not-a-uuid\" is not a UUID; write one such as \"1c0571d7-f4ce-55b7-abb5-3299b8224ab9\"".to_string(),
            "c.toml:4: spaces[0].products[2].tables: space \"s\": product \"c\" has no tables, so nothing can ever match it; add tables = [\"db.schema.table\"]".to_string(),
        ]
    );
}

#[test]
fn space_defaults() {
    let config = AppConfig::parse(
        "c.toml",
        "[[spaces]]\nslug = \"s\"\nid = \"7D3C8C1E-0000-4000-8000-000000000001\"\n",
        &|_| None,
    )
    .unwrap();
    let space = config.space("s").unwrap();
    assert_eq!(
        (
            space.window_days,
            space.recency_half_life_days,
            space.dedup_seconds,
            space.id_string()
        ),
        (
            30,
            7.0,
            60,
            "7d3c8c1e-0000-4000-8000-000000000001".to_string()
        )
    );
}

#[tokio::test]
async fn unknown_space_and_product_say_what_exists() {
    let (_dir, lake) = temp_lake();
    let config = AppConfig::parse(
        "c.toml",
        "[[spaces]]\nslug = \"fin\"\nid = \"7d3c8c1e-0000-4000-8000-000000000001\"\nproducts = [{ id = \"00000000-0000-4000-8000-000000000001\", name = \"revenue\", tables = [\"revenue\"] }]\n",
        &|_| None,
    )
    .unwrap();
    let day: NaiveDate = "2026-03-10".parse().unwrap();
    let err = usage::aggregate(&lake, &config, "finance", day)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "no space with slug \"finance\" in the configuration (known: fin); add a [[spaces]] entry or use one of those"
    );
    let err = usage::popular(&lake, &config, "fin", Some("costs"), day)
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "space \"fin\" has no product \"costs\" (known: revenue); use a product's name or id"
    );
    // An empty lake: every product gets a row of zeros.
    let summary = usage::aggregate(&lake, &config, "fin", day).await.unwrap();
    assert_eq!(summary.products_updated, 1);
}

/// End to end: a real PostgreSQL workload, mined from its csvlog by
/// `usagelake mine`, aggregated by `usagelake aggregate`, with exact counts.
#[tokio::test]
async fn postgres_workload_mined_and_aggregated() {
    use crate::pg_server::{PgServer, SUPERUSER_PASSWORD};

    let pg = PgServer::start();
    for (user, password) in [("alice", "alice-pw"), ("bob", "bob-pw")] {
        pg.create_user(user, password);
    }
    pg.create_database("shop", "postgres");
    pg.psql(
        "postgres",
        SUPERUSER_PASSWORD,
        "shop",
        "CREATE TABLE customers (id int PRIMARY KEY, name text);\n\
         CREATE TABLE orders (id int, customer_id int, total int);\n\
         CREATE SCHEMA finance;\n\
         CREATE TABLE finance.revenue (region text, amount int);\n\
         GRANT USAGE ON SCHEMA finance TO alice, bob;\n\
         GRANT SELECT ON ALL TABLES IN SCHEMA public, finance TO alice, bob;",
    );
    // alice: customers twice, then orders joined with customers (one
    // execution of both products). bob: orders, and finance.revenue.
    pg.psql(
        "alice",
        "alice-pw",
        "shop",
        "SELECT id FROM customers WHERE name = 'Zed';\n\
         SELECT id FROM customers WHERE name = 'Ann';\n\
         SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id;\n",
    );
    pg.psql(
        "bob",
        "bob-pw",
        "shop",
        "SELECT total FROM orders WHERE id = 1;\nSELECT amount FROM finance.revenue;\n",
    );
    pg.sync_logs();

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/usagelake.toml"),
        format!(
            "[lake]\nurl = \"./lake\"\n\n\
             [[connectors]]\nid = \"3a6f3b4e-8c1d-4f7a-9b2e-5d0c1e2f3a51\"\nname = \"pg\"\ntype = \"postgres\"\nlog_dir = \"{}\"\n\n\
             [[spaces]]\nslug = \"shop\"\nid = \"7d3c8c1e-0000-4000-8000-000000000009\"\nproducts = [\n\
             {{ id = \"00000000-0000-4000-8000-000000000001\", name = \"customers\", tables = [\"shop.public.customers\"] }},\n\
             {{ id = \"00000000-0000-4000-8000-000000000002\", name = \"orders\", tables = [\"public.orders\"] }},\n\
             {{ id = \"00000000-0000-4000-8000-000000000003\", name = \"finance\", tables = [\"finance.*\"] }},\n\
             {{ id = \"00000000-0000-4000-8000-000000000004\", name = \"nothing\", tables = [\"public.nothing\"] }},\n]\n",
            pg.log_dir().display()
        ),
    )
    .unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    let today = chrono::Utc::now().date_naive().to_string();
    // The superuser's setup is not usage: 5 statements.
    assert_eq!(
        run(&["mine", "pg", "--date", &today]),
        format!("{{\"rows_upserted\":5,\"dates\":[\"{today}\"]}}")
    );
    assert_eq!(
        run(&["aggregate", "shop", "--date", &today]),
        "{\"products_updated\":4}"
    );
    let lake = Lake::open(&usagelake::lake::LakeLocation::Local(
        dir.path().join("lake"),
    ))
    .unwrap();
    // customers: alice's two lookups and the join, id and name 3 each (a
    // tie: by name). orders: the join and bob's, id twice (join, WHERE).
    assert_eq!(
        render(
            &lake,
            "SELECT product_id, query_count_30d, unique_users_30d, top_columns FROM product_usage_stats ORDER BY product_id"
        )
        .await,
        "00000000-0000-4000-8000-000000000001|3|1|[customers.id, customers.name]\n\
         00000000-0000-4000-8000-000000000002|2|2|[orders.id, orders.customer_id, orders.total]\n\
         00000000-0000-4000-8000-000000000003|1|1|[revenue.amount]\n\
         00000000-0000-4000-8000-000000000004|0|0|[]\n"
    );
    // The job step does the same for the run's date.
    std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
    std::fs::write(
        dir.path().join("jobs/usage.toml"),
        "name = \"usage\"\n\n[[steps]]\ntype = \"mine_logs\"\nconnector = \"pg\"\n\n[[steps]]\ntype = \"aggregate\"\nspace = \"shop\"\n",
    )
    .unwrap();
    let printed = run(&["run", "usage", "--date", &today]);
    assert!(printed.contains("4 products"), "{printed}");
    // The log covers today and the connector succeeded today: unused.
    assert_eq!(
        run(&[
            "unused", "shop", "--days", "1", "--date", &today, "--format", "json"
        ]),
        "[{\"id\":\"00000000-0000-4000-8000-000000000004\",\"name\":\"nothing\",\"tables\":[\"public.nothing\"],\"last_queried_at\":null,\"coverage\":{\"status\":\"unused\",\"missing\":[]}}]"
    );
}

#[tokio::test]
async fn a_sql_dir_replaces_a_shipped_file_and_errors_name_it() {
    let (dir, lake) = temp_lake();
    let config = AppConfig::parse(
        "c.toml",
        "[[spaces]]\nslug = \"fin\"\nid = \"7d3c8c1e-0000-4000-8000-000000000001\"\nproducts = [{ id = \"00000000-0000-4000-8000-000000000001\", name = \"revenue\", tables = [\"revenue\"] }]\n",
        &|_| None,
    )
    .unwrap();
    let day: NaiveDate = "2026-03-10".parse().unwrap();
    let sql_dir = dir.path().join("usage-sql");
    std::fs::create_dir_all(&sql_dir).unwrap();
    // A site's own score: same columns, a flat 42.
    std::fs::write(
        sql_dir.join("product_stats.sql"),
        "-- name: product_stats\n-- kind: cached\n\
         SELECT product_id, CAST(0 AS BIGINT) AS query_count_30d, CAST(0 AS BIGINT) AS unique_users_30d, \
         CAST(NULL AS TIMESTAMP) AS last_queried_at, 42.0 AS popularity_score, make_array('x.y') AS top_columns, \
         to_timestamp_micros($updated_at_us::BIGINT) AS updated_at FROM space_products\n",
    )
    .unwrap();
    let summary = usage::aggregate_dir(&lake, &config, "fin", day, Some(sql_dir.clone()))
        .await
        .unwrap();
    assert_eq!(summary.products_updated, 1);
    assert_eq!(
        render(
            &lake,
            "SELECT product_id, popularity_score, top_columns, last_queried_at FROM product_usage_stats"
        )
        .await,
        "00000000-0000-4000-8000-000000000001|42.0|[x.y]|NULL\n"
    );
    std::fs::write(
        sql_dir.join("product_stats.sql"),
        "-- name: product_stats\n-- kind: cached\nSELECT product_id FROM space_products\n",
    )
    .unwrap();
    let err = usage::aggregate_dir(&lake, &config, "fin", day, Some(sql_dir.clone()))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "{}: the result does not match table product_usage_stats: column query_count_30d is missing from the SELECT; the table's columns are product_id, query_count_30d, unique_users_30d, last_queried_at, popularity_score, top_columns, updated_at",
            sql_dir.join("product_stats.sql").display()
        )
    );
}
