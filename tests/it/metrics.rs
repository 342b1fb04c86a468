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

use std::fmt::Write as _;

use chrono::NaiveDate;
use datafusion::arrow::util::display::array_value_to_string;
use usagelake::config::{FileSelection, Params};
use usagelake::lake::Lake;
use usagelake::metrics::{DeriveRequest, MetricParams, derive};
use usagelake::query::run_sql;
use usagelake::sources::segment::{IngestRequest, ingest};

use crate::support::{s3_none, temp_lake};

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

async fn render(lake: &Lake, sql: &str) -> String {
    let batches = run_sql(lake, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = String::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(row) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(c, row).unwrap()
                    }
                })
                .collect();
            writeln!(out, "{}", cells.join("|")).unwrap();
        }
    }
    out
}

async fn run_file(name: &str) {
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
                },
            )
            .await
            .unwrap();
        } else if let Some(args) = head.strip_prefix("derive ") {
            let mut words = args.split_whitespace();
            let as_of: NaiveDate = words.next().unwrap().parse().unwrap();
            let params: Params = toml::from_str(&words.collect::<Vec<_>>().join("\n")).unwrap();
            let request = DeriveRequest {
                params: MetricParams::from_params(&params, as_of).unwrap(),
                sql_dir: None,
                metrics: None,
            };
            derive(&lake, &request).await.unwrap();
        } else if let Some(sql) = head.strip_prefix("query ") {
            assert_eq!(block.get(1).map(|l| l.trim()), Some("----"), "{name}: {sql}");
            let expected: String = block[2..].iter().map(|l| format!("{}\n", l.trim())).collect();
            let got = render(&lake, sql).await;
            if got != expected {
                failures.push(format!(
                    "{name}: {sql}\n--- expected\n{expected}--- got\n{got}"
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

#[tokio::test]
async fn dst_change_in_a_non_utc_timezone() {
    run_file("dst.test").await;
}
