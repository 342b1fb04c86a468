//! The Usage Analysis page in a real browser: Debian's chromium driven by
//! chromedriver through the W3C WebDriver HTTP API (.ci/run installs both),
//! over a small generated lake served on a loopback port, to which the test
//! adds a warehouse's query log (through the bi_queries writer), a space's
//! usage aggregation, and event-store tables from hand-made rows, so every
//! tab has figures to check. Screenshots of every tab go to
//! `<target>/ui-screenshots/`.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use datafusion::arrow::array::{
    ArrayRef, BooleanArray, Float64Array, ListBuilder, StringArray, StringBuilder,
    TimestampMicrosecondArray,
};
use datafusion::arrow::record_batch::RecordBatch;
use serde_json::{Value, json};
use usagelake::config::{AppConfig, Params};
use usagelake::lake::tables::{PLATFORM_ERRORS, PLATFORM_EVENTS, PLATFORM_USERS};
use usagelake::lake::{Lake, PartitionValue, TableContract};
use usagelake::metrics::{DeriveRequest, MetricParams, derive};
use usagelake::sources::bi_queries::commit;
use usagelake::sources::collect::{BiRow, Collected, ResourceType, RowScope, Slice};
use usagelake::ui::UiState;

use crate::support::{free_port, ingest_generated, sql, temp_lake};

const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
const TABS: &[&str] = &[
    "overview",
    "features",
    "engagement",
    "retention",
    "data_products",
    "platform",
];

/// A chromedriver process and one browser session.
struct Browser {
    http: reqwest::Client,
    url: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // chromedriver runs in its own process group with the browsers it
        // starts; ending the group also closes a browser whose test
        // panicked before quit (chromedriver alone leaves it running).
        let group = format!("-{}", self.driver.id());
        let ended = Command::new("kill")
            .args(["-TERM", "--", &group])
            .status()
            .is_ok_and(|s| s.success());
        if !ended {
            let _ = self.driver.kill();
        }
        let _ = self.driver.wait();
    }
}

impl Browser {
    async fn start() -> Self {
        assert!(
            Path::new(CHROMIUM).exists() && Path::new(CHROMEDRIVER).exists(),
            "the browser test needs Debian's chromium and chromium-driver: apt-get install -y chromium chromium-driver (.ci/run does)"
        );
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .process_group(0)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let started = Instant::now();
        loop {
            let ready = http.get(format!("{base}/status")).send().await;
            if let Ok(r) = ready
                && let Ok(v) = r.json::<Value>().await
                && v["value"]["ready"] == true
            {
                break;
            }
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "chromedriver not ready"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:loggingPrefs": {"browser": "ALL"},
            "goog:chromeOptions": {
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1400,1000",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let created: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = created["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no session: {created}"))
            .to_string();
        Self {
            http,
            url: format!("{base}/session/{session}"),
            driver,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response: Value = request.send().await.unwrap().json().await.unwrap();
        if response["value"]["error"].is_string() {
            panic!("webdriver {path}: {}", response["value"]);
        }
        response["value"].clone()
    }

    async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    async fn exec(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    /// Waits until `script` returns "ready"; "failed" (or a timeout) fails
    /// the test with what the page says.
    async fn wait_for(&self, script: &str) {
        let started = Instant::now();
        loop {
            let state = self.exec(script).await;
            match state.as_str() {
                Some("ready") => return,
                Some("failed") => panic!(
                    "page failed: {}",
                    self.exec("return document.getElementById('status').textContent + ' ' + (document.getElementById('drill-count') || {}).textContent").await
                ),
                _ => {}
            }
            if started.elapsed() > Duration::from_secs(180) {
                let shot = self.screenshot("timeout").await;
                panic!("page not ready: {state}; see {}", shot.display());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn wait_page(&self) {
        self.wait_for("return document.body.dataset.state").await;
    }

    async fn click(&self, css: &str) {
        let element = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({"using": "css selector", "value": css})),
            )
            .await;
        let id = element[ELEMENT].as_str().unwrap().to_string();
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            Some(json!({})),
        )
        .await;
    }

    /// A real mouse click at viewport pixel (x, y).
    async fn click_at(&self, x: i64, y: i64) {
        let actions = json!({"actions": [{
            "type": "pointer", "id": "mouse", "parameters": {"pointerType": "mouse"},
            "actions": [
                {"type": "pointerMove", "duration": 0, "origin": "viewport", "x": x, "y": y},
                {"type": "pointerDown", "button": 0},
                {"type": "pointerUp", "button": 0},
            ],
        }]});
        self.call(reqwest::Method::POST, "/actions", Some(actions))
            .await;
    }

    async fn screenshot(&self, name: &str) -> PathBuf {
        let data = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let dir = screenshot_dir();
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        let png = decode_base64(data.as_str().unwrap());
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Script errors the page collected, plus SEVERE browser log entries.
    async fn errors(&self) -> Vec<String> {
        let mut errors: Vec<String> = serde_json::from_value(
            self.exec("return window.__uiErrors || ['no collector']")
                .await,
        )
        .unwrap();
        let log: Value = self
            .http
            .post(format!("{}/se/log", self.url))
            .json(&json!({"type": "browser"}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for entry in log["value"].as_array().into_iter().flatten() {
            if entry["level"] == "SEVERE" {
                errors.push(entry["message"].to_string());
            }
        }
        errors
    }

    async fn quit(&self) {
        self.call(reqwest::Method::DELETE, "", None).await;
    }
}

fn screenshot_dir() -> PathBuf {
    // CARGO_TARGET_TMPDIR is <target>/tmp: the screenshots sit beside it.
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .unwrap()
        .join("ui-screenshots")
}

fn decode_base64(text: &str) -> Vec<u8> {
    let value = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => panic!("not base64: {c}"),
    };
    let bytes: Vec<u8> = text.bytes().filter(|c| *c != b'=').map(value).collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, v)| acc | (u32::from(*v) << (18 - 6 * i)));
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

/// 40 days of generated events (5 domains), ingested, metrics derived for
/// the last day.
async fn demo_lake(dir: &Path, lake: &Lake, end: NaiveDate) {
    let options = usagelake::demo::generator::GeneratorOptions {
        events: 12_000,
        days: 40,
        end_date: end,
        ..Default::default()
    };
    ingest_generated(dir, lake, &options).await;
    let params: Params = toml::from_str("").unwrap();
    let request = DeriveRequest {
        params: MetricParams::from_params(&params, end).unwrap(),
        sql_dir: None,
        metrics: None,
        force: false,
    };
    derive(lake, &request).await.unwrap();
}

const COLLECTORS: &str = r#"
[[connectors]]
id = "10000000-0000-4000-8000-000000000001"
name = "wh"
type = "postgres"
url = "postgres://usagelake@127.0.0.1:5432/shop"

[[spaces]]
slug = "fin"
id = "7d3c8c1e-0000-4000-8000-000000000002"
products = [
  { id = "00000000-0000-4000-8000-000000000001", name = "revenue", tables = ["finance.revenue"] },
  { id = "00000000-0000-4000-8000-000000000002", name = "costs", tables = ["finance.costs"] },
  { id = "00000000-0000-4000-8000-000000000003", name = "churn", tables = ["finance.churn"] },
]
"#;

fn at(text: &str) -> DateTime<Utc> {
    text.parse().unwrap()
}

/// A warehouse's query log for 2026-11-09 through the one bi_queries
/// writer, then the space's usage aggregation as of `end`: revenue is read
/// by one pattern three times (alice twice, bob once; the literals differ,
/// the fingerprint does not), costs once by carol, churn never.
fn collectors() -> AppConfig {
    AppConfig::parse("collectors.toml", COLLECTORS, &|_| None).unwrap()
}

/// The page's data API over `lake`, with the names of COLLECTORS' space.
fn ui_state(lake: &Lake) -> UiState {
    UiState::fixed(lake.clone(), collectors().spaces)
}

async fn bi_tables(lake: &Lake, end: NaiveDate) {
    let config = collectors();
    let log = |id: &str, by: &str, time: &str, sql: &str| BiRow {
        sql: Some(sql.to_string()),
        database: Some("shop".to_string()),
        executed_by: Some(by.to_string()),
        executed_at: Some(at(time)),
        ..BiRow::new(ResourceType::QueryLog, id)
    };
    let day = NaiveDate::from_ymd_opt(2026, 11, 9).unwrap();
    let collected = Collected {
        rows: vec![
            log(
                "q1",
                "alice",
                "2026-11-09T09:00:00Z",
                "SELECT sum(amount) FROM finance.revenue WHERE region = 'EU'",
            ),
            log(
                "q2",
                "bob",
                "2026-11-09T10:00:00Z",
                "SELECT sum(amount) FROM finance.revenue WHERE region = 'US'",
            ),
            log(
                "q3",
                "alice",
                "2026-11-09T11:00:00Z",
                "SELECT sum(amount) FROM finance.revenue WHERE region = 'APAC'",
            ),
            log(
                "q4",
                "carol",
                "2026-11-09T12:00:00Z",
                "SELECT amount FROM finance.costs",
            ),
        ],
        slices: vec![Slice {
            date: day,
            scope: RowScope::Executions,
        }],
        ..Default::default()
    };
    commit(lake, config.connector("wh").unwrap(), &collected, day)
        .await
        .unwrap();
    usagelake::usage::aggregate(lake, &config, "fin", end)
        .await
        .unwrap();
}

fn strings(values: &[&str]) -> ArrayRef {
    Arc::new(StringArray::from(values.to_vec()))
}

fn times(values: &[&str]) -> ArrayRef {
    let micros: Vec<i64> = values.iter().map(|t| at(t).timestamp_micros()).collect();
    Arc::new(TimestampMicrosecondArray::from(micros).with_timezone("UTC"))
}

async fn write_day(lake: &Lake, table: &dyn TableContract, day: &str, columns: Vec<ArrayRef>) {
    let batch = RecordBatch::try_new(table.file_schema(), columns).unwrap();
    lake.write_partition(table)
        .partition([PartitionValue::Date(day.parse().unwrap())])
        .write(&[batch])
        .await
        .unwrap();
}

/// An event store's tables as the collector writes them, from hand-made
/// rows: Chem used by alice (sketch 100 and 300 ms) and bob (descriptors
/// 50 ms) on 11-09; Charts by carol (scatter 20 ms, one event without a
/// duration) on 11-10; errors sig-a (bob, alice) and sig-b (carol).
/// alice and bob are Chemists, carol is not.
async fn platform_tables(lake: &Lake) {
    type Event = (
        &'static str,
        &'static str,
        &'static str,
        Option<f64>,
        &'static str,
        &'static str,
    );
    let events: [Event; 5] = [
        (
            "e1",
            "alice",
            "Chem",
            Some(100.0),
            "2026-11-09T09:00:00Z",
            "Chem:Sketch",
        ),
        (
            "e2",
            "alice",
            "Chem",
            Some(300.0),
            "2026-11-09T10:00:00Z",
            "Chem:Sketch",
        ),
        (
            "e3",
            "bob",
            "Chem",
            Some(50.0),
            "2026-11-09T11:00:00Z",
            "Chem:Descriptors",
        ),
        (
            "e4",
            "carol",
            "Charts",
            Some(20.0),
            "2026-11-10T09:00:00Z",
            "Charts:Scatter",
        ),
        (
            "e5",
            "carol",
            "Charts",
            None,
            "2026-11-10T10:00:00Z",
            "Charts:Open",
        ),
    ];
    for day in ["2026-11-09", "2026-11-10"] {
        let rows: Vec<&Event> = events.iter().filter(|e| e.4.starts_with(day)).collect();
        let column = |pick: fn(&Event) -> &'static str| {
            strings(&rows.iter().map(|e| pick(e)).collect::<Vec<_>>())
        };
        write_day(
            lake,
            &PLATFORM_EVENTS,
            day,
            vec![
                column(|e| e.0),
                column(|e| e.5),
                column(|_| "function"),
                column(|e| e.5),
                column(|e| e.1),
                column(|e| e.1),
                column(|e| e.2),
                Arc::new(Float64Array::from(
                    rows.iter().map(|e| e.3).collect::<Vec<_>>(),
                )),
                Arc::new(BooleanArray::from(vec![false; rows.len()])),
                column(|_| "{}"),
                times(&rows.iter().map(|e| e.4).collect::<Vec<_>>()),
            ],
        )
        .await;
    }
    write_day(
        lake,
        &PLATFORM_ERRORS,
        "2026-11-09",
        vec![
            strings(&["r1", "r2"]),
            strings(&["bob", "alice"]),
            strings(&["bob", "alice"]),
            strings(&["Chem", "Chem"]),
            strings(&["no molecule", "no molecule"]),
            strings(&["sig-a", "sig-a"]),
            times(&["2026-11-09T11:05:00Z", "2026-11-09T12:00:00Z"]),
            strings(&["Chem:Descriptors", "Chem:Sketch"]),
        ],
    )
    .await;
    write_day(
        lake,
        &PLATFORM_ERRORS,
        "2026-11-10",
        vec![
            strings(&["r3"]),
            strings(&["carol"]),
            strings(&["carol"]),
            strings(&["Charts"]),
            strings(&["bad axis"]),
            strings(&["sig-b"]),
            times(&["2026-11-10T10:05:00Z"]),
            strings(&["Charts:Open"]),
        ],
    )
    .await;
    let mut groups = ListBuilder::new(StringBuilder::new());
    for list in [
        &["All users", "Chemists"][..],
        &["All users", "Chemists"][..],
        &["All users"][..],
    ] {
        for g in list {
            groups.values().append_value(g);
        }
        groups.append(true);
    }
    write_day(
        lake,
        &PLATFORM_USERS,
        "2026-11-10",
        vec![
            strings(&["alice", "bob", "carol"]),
            strings(&["Alice", "Bob", "Carol"]),
            times(&["2026-01-01T00:00:00Z"; 3]),
            Arc::new(groups.finish()),
        ],
    )
    .await;
}

/// A chart's categories and its series' values, as the page drew them.
async fn drawn(browser: &Browser, panel: &str) -> Value {
    browser
        .exec(&format!(
            "var o = window.__ui.charts['{panel}'].getOption(); \
             var axis = o.yAxis[0].type === 'category' ? o.yAxis[0] : o.xAxis[0]; \
             return {{categories: axis.data, series: o.series.map(function (s) {{ \
               return s.data.map(function (d) {{ return d !== null && typeof d === 'object' ? d.value : d; }}); }})}};"
        ))
        .await
}

/// Rows of `query` on the lake as JSON objects (nulls kept).
async fn lake_rows(lake: &Lake, query: &str) -> Vec<Value> {
    use datafusion::arrow::json::{WriterBuilder, writer::JsonArray};
    let batches = usagelake::query::run_sql(lake, query).await.unwrap();
    let mut out = Vec::new();
    {
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(&mut out);
        for batch in &batches {
            writer.write(batch).unwrap();
        }
        writer.finish().unwrap();
    }
    if out.is_empty() {
        return Vec::new();
    }
    serde_json::from_slice(&out).unwrap()
}

/// One column of JSON rows as numbers (JSON writes 5.0 where the page
/// gives back 5).
fn numbers(rows: &[Value], key: &str) -> Vec<f64> {
    rows.iter()
        .map(|r| r[key].as_f64().unwrap_or_else(|| panic!("{key} of {r}")))
        .collect()
}

fn texts(rows: &[Value], key: &str) -> Vec<String> {
    rows.iter()
        .map(|r| {
            r[key]
                .as_str()
                .unwrap_or_else(|| panic!("{key} of {r}"))
                .to_string()
        })
        .collect()
}

fn as_numbers(values: &Value) -> Vec<f64> {
    values
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap_or_else(|| panic!("{v} in {values}")))
        .collect()
}

/// The drilldown the page shows after a click, waited for.
async fn drill_shown(browser: &Browser) -> Value {
    browser
        .wait_for("return document.getElementById('drill').dataset.state")
        .await;
    let drill = browser.exec("return window.__ui.lastDrill").await;
    browser.click("#drill-close").await;
    drill
}

/// Clicks the last day of the activity series.
async fn click_last_day(browser: &Browser) {
    let point = browser
        .exec(
            "document.getElementById('chart-active_series').scrollIntoView({block: 'center'}); \
             var c = window.__ui.charts.active_series; var o = c.getOption(); var n = o.xAxis[0].data.length; \
             var p = c.convertToPixel({gridIndex: 0}, [n - 1, o.series[0].data[n - 1]]); \
             var r = document.getElementById('chart-active_series').getBoundingClientRect(); \
             return [Math.round(r.left + p[0]), Math.round(r.top + p[1])];",
        )
        .await;
    eprintln!("clicking the last day at {point}");
    browser
        .click_at(point[0].as_i64().unwrap(), point[1].as_i64().unwrap())
        .await;
}

/// Clicks the bar of `category` in a horizontal bar chart.
async fn click_bar(browser: &Browser, panel: &str, category: &str) {
    let point = browser
        .exec(&format!(
            "document.getElementById('chart-{panel}').scrollIntoView({{block: 'center'}}); \
             var c = window.__ui.charts['{panel}']; var o = c.getOption(); \
             var i = o.yAxis[0].data.indexOf('{category}'); var v = o.series[0].data[i]; \
             var p = c.convertToPixel({{gridIndex: 0}}, [(typeof v === 'object' ? v.value : v) / 2, i]); \
             var r = document.getElementById('chart-{panel}').getBoundingClientRect(); \
             return [Math.round(r.left + p[0]), Math.round(r.top + p[1])];"
        ))
        .await;
    browser
        .click_at(point[0].as_i64().unwrap(), point[1].as_i64().unwrap())
        .await;
}

/// The JSON answer of a GET.
async fn get_json(http: &reqwest::Client, url: String) -> Value {
    http.get(url).send().await.unwrap().json().await.unwrap()
}

/// One value of a one-row, one-column query.
async fn scalar(lake: &Lake, query: &str) -> String {
    sql(lake, query)
        .await
        .lines()
        .nth(3)
        .unwrap()
        .trim_matches(|c| c == '|' || c == ' ')
        .to_string()
}

async fn kpi(browser: &Browser, id: &str) -> String {
    browser
        .exec(&format!(
            "return document.getElementById('kpi-{id}').textContent"
        ))
        .await
        .as_str()
        .unwrap()
        .replace(',', "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_renders_every_tab_filters_drills_down_and_exports_in_chromium() {
    let (dir, lake) = temp_lake();
    let end = NaiveDate::from_ymd_opt(2026, 11, 10).unwrap();
    demo_lake(dir.path(), &lake, end).await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = lake.clone();
    tokio::spawn(async move {
        axum::serve(listener, usagelake::ui::router(ui_state(&served)))
            .await
            .unwrap()
    });
    let api = format!("http://{addr}/api/ui");
    let http = reqwest::Client::new();

    // Bad filter values: 400 with the reason.
    let bad = http
        .get(format!("{api}/tabs/overview?as_of=2026-13-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"],
        "bad filter: as_of: \"2026-13-01\" is not a date; write YYYY-MM-DD"
    );
    let domains = sql(
        &lake,
        "SELECT DISTINCT customer_domain FROM user_roster ORDER BY 1",
    )
    .await;
    let domains: Vec<String> = domains
        .lines()
        .skip(3)
        .filter(|l| l.starts_with("| "))
        .map(|l| l.trim_matches(|c| c == '|' || c == ' ').to_string())
        .collect();
    let bad = http
        .get(format!("{api}/tabs/overview?domain=nope.example"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    assert_eq!(
        bad.json::<Value>().await.unwrap()["error"],
        format!(
            "bad filter: domain: \"nope.example\" is not in the user roster of 2026-11-10; known: {}",
            domains.join(", ")
        )
    );
    let bad = http
        .get(format!("{api}/tabs/overview?colour=red"))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let missing = http.get(format!("{api}/tabs/sales")).send().await.unwrap();
    assert_eq!(missing.status(), 404);

    // The cohort drilldown lists exactly the users the heatmap cell counts.
    let cells: Value = get_json(&http, format!("{api}/tabs/retention")).await;
    let cohort = cells["panels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == "cohort_heatmap")
        .unwrap();
    let cell = cohort["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["months_since"] == 1)
        .unwrap_or_else(|| panic!("no month-1 cell: {cohort}"));
    let users: Value = get_json(
        &http,
        format!(
            "{api}/drill/cohort_heatmap?x={}&y={}",
            cell["cohort_month"].as_str().unwrap(),
            cell["activity_month"].as_str().unwrap()
        ),
    )
    .await;
    assert_eq!(
        users["rows"].as_array().unwrap().len() as u64,
        cell["active_users"].as_u64().unwrap(),
        "{users}"
    );

    // The rolling series counts spans per user; a day × 30-day join with
    // distinct counts (what the page ran before) gives the same rows, with
    // and without filters.
    for (from, domain, role) in [
        ("2026-10-12", "", ""),
        ("2026-09-01", "", ""),
        ("2026-10-20", domains[0].as_str(), ""),
        ("2026-10-01", "", "admin"),
    ] {
        let expected = lake_rows(
            &lake,
            &format!(
                "WITH days AS ( \
                    SELECT DISTINCT \"date\" AS day FROM user_day \
                    WHERE \"date\" BETWEEN DATE '{from}' AND DATE '2026-11-10' \
                 ), act AS ( \
                    SELECT d.\"date\", d.customer_domain || '/' || d.user_id AS who \
                    FROM user_day d LEFT JOIN user_roster r ON r.as_of = DATE '2026-11-10' \
                        AND r.customer_domain = d.customer_domain AND r.user_id = d.user_id \
                    WHERE ('{domain}' = '' OR d.customer_domain = '{domain}') AND ('{role}' = '' OR r.role = '{role}') \
                        AND d.\"date\" > DATE '{from}' - 30 AND d.\"date\" <= DATE '2026-11-10' \
                 ) \
                 SELECT days.day AS \"date\", \
                    count(DISTINCT CASE WHEN act.\"date\" = days.day THEN act.who END) AS dau, \
                    count(DISTINCT CASE WHEN act.\"date\" > days.day - 7 THEN act.who END) AS wau, \
                    count(DISTINCT act.who) AS mau \
                 FROM days JOIN act ON act.\"date\" > days.day - 30 AND act.\"date\" <= days.day \
                 GROUP BY days.day ORDER BY days.day"
            ),
        )
        .await;
        assert!(expected.len() > 5, "{from} {domain} {role}");
        let series: Value = get_json(
            &http,
            format!("{api}/panels/active_series?from={from}&domain={domain}&role={role}"),
        )
        .await;
        assert_eq!(series["id"], "active_series");
        assert_eq!(series["columns"], json!(["date", "dau", "wau", "mau"]));
        assert_eq!(
            series["rows"],
            json!(expected),
            "from {from}, domain {domain:?}, role {role:?}"
        );
    }
    let missing = http
        .get(format!("{api}/panels/revenue"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert_eq!(
        missing.json::<Value>().await.unwrap()["error"],
        "no panel \"revenue\"; GET /api/ui/meta lists the tabs and their panels"
    );

    // gzip for a client that accepts it: the same bytes, fewer of them.
    let mut plain_total = 0;
    let mut packed_total = 0;
    for path in [
        "/ui/",
        "/ui/app.js",
        "/ui/app.css",
        "/ui/vendor/echarts.min.js",
        "/api/ui/meta",
        "/api/ui/tabs/overview",
    ] {
        let plain = http
            .get(format!("http://{addr}{path}"))
            .send()
            .await
            .unwrap();
        assert_eq!(plain.headers().get("content-encoding"), None, "{path}");
        let plain = plain.bytes().await.unwrap();
        let packed = http
            .get(format!("http://{addr}{path}"))
            .header("accept-encoding", "gzip, deflate, br, zstd")
            .send()
            .await
            .unwrap();
        assert_eq!(packed.headers()["content-encoding"], "gzip", "{path}");
        assert_eq!(packed.headers()["vary"], "accept-encoding", "{path}");
        let packed = packed.bytes().await.unwrap();
        let mut unpacked = Vec::new();
        std::io::Read::read_to_end(
            &mut flate2::read::GzDecoder::new(&packed[..]),
            &mut unpacked,
        )
        .unwrap();
        assert_eq!(unpacked, plain, "{path}");
        assert!(packed.len() < plain.len(), "{path}");
        eprintln!(
            "page weight {path}: {} B, gzipped {} B",
            plain.len(),
            packed.len()
        );
        plain_total += plain.len();
        packed_total += packed.len();
    }
    eprintln!("page weight (overview): {plain_total} B, gzipped {packed_total} B");
    assert!(packed_total < plain_total / 3);

    // Without collector tables the collector tabs say which job fills them.
    for (tab, fills) in [
        ("data_products", &["usagelake sync", "aggregate"][..]),
        ("platform", &["collect_events"][..]),
    ] {
        let data: Value = get_json(&http, format!("{api}/tabs/{tab}")).await;
        for panel in data["panels"].as_array().unwrap() {
            let note = panel["note"].as_str().unwrap_or_else(|| panic!("{panel}"));
            assert!(fills.iter().any(|f| note.contains(f)), "{tab}: {note}");
        }
    }
    bi_tables(&lake, end).await;
    platform_tables(&lake).await;

    let browser = Browser::start().await;
    browser.goto(&format!("http://{addr}/ui/")).await;
    browser.wait_page().await;

    // Every tab draws every panel.
    let mut live = Vec::new();
    for tab in TABS {
        browser.click(&format!("#tab-{tab}")).await;
        browser.wait_page().await;
        let rendered = browser.exec("return window.__ui.rendered").await;
        let panels = rendered.as_object().unwrap();
        assert!(!panels.is_empty(), "{tab}: no panels");
        for (id, view) in panels {
            assert_ne!(view["kind"], "note", "{tab}/{id}: {view}");
            assert_ne!(view["kind"], "error", "{tab}/{id}: {view}");
            if view["kind"] == "chart" {
                assert!(view["points"].as_u64().unwrap() > 0, "{tab}/{id}");
            }
        }
        let drawn = browser
            .exec("return Object.keys(window.__ui.charts).filter(function (id) { return !document.querySelector('#chart-' + id + ' canvas'); })")
            .await;
        assert_eq!(drawn, json!([]), "{tab}: charts without a canvas");
        let shot = browser.screenshot(tab).await;
        eprintln!("screenshot {}", shot.display());
        live.push(rendered);
    }
    assert_eq!(browser.errors().await, Vec::<String>::new());

    // Data products: the figures are the lake's (and the hand-made rows').
    browser.click("#tab-data_products").await;
    browser.wait_page().await;
    // Products by their configured names, in the lake's order.
    let names = collectors().spaces[0]
        .products
        .iter()
        .map(|p| (p.id_string(), p.name.clone()))
        .collect::<std::collections::HashMap<_, _>>();
    let mut products = lake_rows(
        &lake,
        "SELECT product_id, popularity_score, query_count_30d FROM product_usage_stats \
         WHERE as_of = DATE '2026-11-10'",
    )
    .await;
    for row in &mut products {
        row["product"] = json!(names[row["product_id"].as_str().unwrap()]);
    }
    products.sort_by(|a, b| {
        let score = |r: &Value| r["popularity_score"].as_f64().unwrap();
        score(b)
            .total_cmp(&score(a))
            .then_with(|| a["product"].as_str().cmp(&b["product"].as_str()))
    });
    let chart = drawn(&browser, "product_popularity").await;
    assert_eq!(chart["categories"], json!(texts(&products, "product")));
    assert_eq!(
        as_numbers(&chart["series"][0]),
        numbers(&products, "popularity_score")
    );
    assert_eq!(
        as_numbers(&chart["series"][1]),
        numbers(&products, "query_count_30d")
    );
    let mut counts: Vec<(String, f64)> = texts(&products, "product")
        .into_iter()
        .zip(numbers(&products, "query_count_30d"))
        .collect();
    counts.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        counts,
        [
            ("churn".to_string(), 0.0),
            ("costs".to_string(), 1.0),
            ("revenue".to_string(), 3.0),
        ]
    );
    let cells = |panel: &str| {
        format!(
            "return Array.prototype.map.call(document.querySelectorAll('#panel-{panel} tbody tr'), \
             function (tr) {{ return Array.prototype.map.call(tr.cells, function (td) {{ return td.textContent; }}); }})"
        )
    };
    let unused = browser.exec(&cells("unused_products")).await;
    assert_eq!(unused.as_array().unwrap().len(), 1, "{unused}");
    assert_eq!(unused[0][0], "fin");
    assert_eq!(unused[0][1], "churn");
    assert_eq!(unused[0][2], "00000000-0000-4000-8000-000000000003");
    let caption = browser
        .exec("return document.querySelector('#panel-unused_products .hint').textContent")
        .await;
    assert_eq!(
        caption,
        "Coverage (products with a query in the window): 66.7%"
    );
    let patterns = lake_rows(
        &lake,
        "SELECT query_fingerprint, sum(execution_count) AS executions, count(DISTINCT executed_by) AS users \
         FROM bi_queries GROUP BY query_fingerprint ORDER BY executions DESC",
    )
    .await;
    assert_eq!(numbers(&patterns, "executions"), [3.0, 1.0]);
    assert_eq!(numbers(&patterns, "users"), [2.0, 1.0]);
    let shown = browser.exec(&cells("query_patterns")).await;
    let shown = shown.as_array().unwrap();
    assert_eq!(shown.len(), 2);
    for (row, expected) in shown.iter().zip(&patterns) {
        assert_eq!(row[0], expected["query_fingerprint"]);
        assert_eq!(row[2], expected["executions"].to_string());
        assert_eq!(row[3], expected["users"].to_string());
        // The stored text is anonymized: no literal of the user's SQL.
        let text = row[1].as_str().unwrap();
        for literal in ["EU", "US", "APAC"] {
            assert!(!text.contains(literal), "{text}");
        }
    }
    browser.click("#panel-query_patterns tbody tr").await;
    let drill = drill_shown(&browser).await;
    assert_eq!(drill["x"], patterns[0]["query_fingerprint"]);
    let who: Vec<(String, f64)> = texts(&drill["rows"].as_array().unwrap()[..], "executed_by")
        .into_iter()
        .zip(numbers(drill["rows"].as_array().unwrap(), "executions"))
        .collect();
    assert_eq!(who, [("alice".to_string(), 2.0), ("bob".to_string(), 1.0)]);
    // Table, schema and database rollups: table_usage_stats' figures, with
    // the names of the products each table belongs to.
    for (panel, level, key) in [
        ("table_rollup", "table", "table_name"),
        ("schema_rollup", "schema", "schema_name"),
        ("database_rollup", "database", "database"),
    ] {
        let expected = lake_rows(
            &lake,
            &format!(
                "SELECT name, query_count_30d, unique_users_30d FROM table_usage_stats \
                 WHERE as_of = DATE '2026-11-10' AND level = '{level}' ORDER BY query_count_30d DESC, name"
            ),
        )
        .await;
        let chart = drawn(&browser, panel).await;
        assert_eq!(
            chart["categories"],
            json!(texts(&expected, "name")),
            "{panel}"
        );
        assert_eq!(
            as_numbers(&chart["series"][0]),
            numbers(&expected, "query_count_30d"),
            "{panel}"
        );
        assert_eq!(
            as_numbers(&chart["series"][1]),
            numbers(&expected, "unique_users_30d"),
            "{panel}"
        );
        let rows: Value = get_json(&http, format!("{api}/panels/{panel}")).await;
        let rows = rows["rows"].clone();
        let shown: Vec<(String, u64, u64, String)> = rows
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                (
                    r[key].as_str().unwrap().to_string(),
                    r["queries"].as_u64().unwrap(),
                    r["users"].as_u64().unwrap(),
                    r["products"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: &[(&str, u64, u64, &str)] = match level {
            "table" => &[
                ("shop.finance.revenue", 3, 2, "revenue"),
                ("shop.finance.costs", 1, 1, "costs"),
            ],
            "schema" => &[("shop.finance", 4, 3, "costs, revenue")],
            _ => &[("shop", 4, 3, "costs, revenue")],
        };
        let want: Vec<(String, u64, u64, String)> = want
            .iter()
            .map(|(n, q, u, p)| (n.to_string(), *q, *u, p.to_string()))
            .collect();
        assert_eq!(shown, want, "{panel}");
    }

    // Platform: the hand-made rows' figures, a drilldown and the group filter.
    browser.click("#tab-platform").await;
    browser.wait_page().await;
    let users = lake_rows(
        &lake,
        "SELECT package, count(DISTINCT user_login) AS users FROM platform_events \
         GROUP BY package ORDER BY users DESC, package",
    )
    .await;
    assert_eq!(texts(&users, "package"), ["Chem", "Charts"]);
    assert_eq!(numbers(&users, "users"), [2.0, 1.0]);
    assert_eq!(
        drawn(&browser, "package_users").await,
        json!({"categories": ["Chem", "Charts"], "series": [[2, 1]]})
    );
    assert_eq!(
        drawn(&browser, "function_usage").await,
        json!({"categories": ["Chem:Sketch", "Charts:Scatter", "Chem:Descriptors"], "series": [[2, 1, 1], [200, 20, 50]]})
    );
    assert_eq!(
        drawn(&browser, "errors").await,
        json!({"categories": ["sig-a", "sig-b"], "series": [[2, 1], [2, 1]]})
    );
    assert_eq!(
        drawn(&browser, "latency").await,
        json!({"categories": ["2026-11-09", "2026-11-10"], "series": [[100, 20], [150, 20]]})
    );
    let latency = lake_rows(
        &lake,
        "SELECT \"date\", median(duration_ms) AS median_ms, avg(duration_ms) AS avg_ms \
         FROM platform_events GROUP BY \"date\" ORDER BY \"date\"",
    )
    .await;
    assert_eq!(numbers(&latency, "median_ms"), [100.0, 20.0]);
    assert_eq!(numbers(&latency, "avg_ms"), [150.0, 20.0]);
    click_bar(&browser, "package_users", "Chem").await;
    let drill = drill_shown(&browser).await;
    assert_eq!(drill["x"], "Chem");
    let rows = drill["rows"].as_array().unwrap();
    assert_eq!(texts(rows, "user_login"), ["alice", "bob"]);
    assert_eq!(numbers(rows, "events"), [2.0, 1.0]);
    browser.click("#f-group option[value='Chemists']").await;
    browser.wait_page().await;
    assert_eq!(
        drawn(&browser, "package_users").await,
        json!({"categories": ["Chem"], "series": [[2]]})
    );
    assert_eq!(
        drawn(&browser, "errors").await,
        json!({"categories": ["sig-a"], "series": [[2], [2]]})
    );
    browser.screenshot("platform-chemists").await;
    browser.click("#f-group option[value='']").await;
    browser.wait_page().await;
    assert_eq!(browser.errors().await, Vec::<String>::new());

    // The overview's figures are the metric tables' at the as-of date.
    browser.click("#tab-overview").await;
    browser.wait_page().await;
    assert_eq!(
        kpi(&browser, "dau").await,
        scalar(
            &lake,
            "SELECT sum(dau) FROM dau WHERE as_of = DATE '2026-11-10'"
        )
        .await
    );
    // A domain filter changes them to that domain's (the biggest one).
    let domain = &scalar(
        &lake,
        "SELECT customer_domain FROM mau WHERE as_of = DATE '2026-11-10' ORDER BY mau DESC, customer_domain LIMIT 1",
    )
    .await;
    browser
        .click(&format!("#f-domain option[value='{domain}']"))
        .await;
    browser.wait_page().await;
    let url = browser
        .exec("return location.search")
        .await
        .as_str()
        .unwrap()
        .to_string();
    assert!(url.contains(&format!("domain={domain}")), "{url}");
    for (id, column) in [("dau", "dau"), ("wau", "wau"), ("mau", "mau")] {
        assert_eq!(
            kpi(&browser, id).await,
            scalar(
                &lake,
                &format!("SELECT sum({column}) FROM {column} WHERE as_of = DATE '2026-11-10' AND customer_domain = '{domain}'")
            )
            .await,
            "{id} of {domain}"
        );
    }
    let last_dau = browser
        .exec("var d = window.__ui.charts.active_series.getOption().series[0].data; return String(d[d.length - 1])")
        .await;
    let expected_dau = scalar(&lake, &format!("SELECT count(*) FROM user_day WHERE \"date\" = DATE '2026-11-10' AND customer_domain = '{domain}'")).await;
    assert_eq!(last_dau.as_str().unwrap(), expected_dau);
    browser.screenshot("overview-filtered").await;

    // A click on the last day of the series lists that day's users.
    click_last_day(&browser).await;
    browser
        .wait_for("return document.getElementById('drill').dataset.state")
        .await;
    let drill = browser.exec("return window.__ui.lastDrill").await;
    assert_eq!(drill["x"], "2026-11-10");
    let mut shown: Vec<String> = drill["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["user_id"].as_str().unwrap().to_string())
        .collect();
    shown.sort();
    let expected = sql(&lake, &format!("SELECT user_id FROM user_day WHERE \"date\" = DATE '2026-11-10' AND customer_domain = '{domain}' ORDER BY user_id")).await;
    let expected: Vec<String> = expected
        .lines()
        .skip(3)
        .filter(|l| l.starts_with("| "))
        .map(|l| l.trim_matches(|c| c == '|' || c == ' ').to_string())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(shown, expected);
    let table_rows = browser
        .exec("return document.querySelectorAll('#drill-table tbody tr').length")
        .await;
    assert_eq!(table_rows, json!(expected.len()));
    browser.screenshot("overview-drilldown").await;
    assert_eq!(browser.errors().await, Vec::<String>::new());

    // The exported report renders the same panels and numbers from disk.
    let report = dir.path().join("usage.html");
    usagelake::ui::report(&ui_state(&lake), None, &report)
        .await
        .unwrap();
    browser.goto(&format!("file://{}", report.display())).await;
    browser.wait_page().await;
    assert_eq!(
        kpi(&browser, "dau").await,
        scalar(
            &lake,
            "SELECT sum(dau) FROM dau WHERE as_of = DATE '2026-11-10'"
        )
        .await
    );
    for (tab, rendered) in TABS.iter().zip(&live) {
        browser.click(&format!("#tab-{tab}")).await;
        browser.wait_page().await;
        assert_eq!(
            &browser.exec("return window.__ui.rendered").await,
            rendered,
            "report tab {tab}"
        );
        browser.screenshot(&format!("report-{tab}")).await;
    }
    // Its drilldowns work from the file: every row of a small point, the
    // first 100 of a large one with the total.
    click_bar(&browser, "package_users", "Chem").await;
    let drill = drill_shown(&browser).await;
    let rows = drill["rows"].as_array().unwrap();
    assert_eq!(texts(rows, "user_login"), ["alice", "bob"]);
    assert_eq!(
        (&drill["truncated"], &drill["total"]),
        (&json!(false), &json!(2))
    );
    browser.click("#tab-overview").await;
    browser.wait_page().await;
    click_last_day(&browser).await;
    browser
        .wait_for("return document.getElementById('drill').dataset.state")
        .await;
    let count = browser
        .exec("return document.getElementById('drill-count').textContent")
        .await;
    browser.screenshot("report-drilldown").await;
    let drill = drill_shown(&browser).await;
    let live: Value = get_json(&http, format!("{api}/drill/active_series?x=2026-11-10")).await;
    let all = live["rows"].as_array().unwrap();
    let total = scalar(
        &lake,
        "SELECT count(*) FROM user_day WHERE \"date\" = DATE '2026-11-10'",
    )
    .await;
    assert_eq!(all.len().to_string(), total);
    let kept = all.len().min(100);
    assert_eq!(drill["rows"], json!(all[..kept]));
    assert_eq!(drill["total"], json!(all.len()));
    assert_eq!(
        count,
        if all.len() > 100 {
            format!("first 100 of {} rows", all.len())
        } else {
            format!("{} row(s)", all.len())
        }
    );
    assert_eq!(browser.errors().await, Vec::<String>::new());

    // Each panel loads on its own: a table whose file is damaged fails its
    // panel, which says why, and the tab's other panels still draw.
    let damaged = dir
        .path()
        .join("lake/tables/engagement_tiers/as_of=2026-11-10/data.parquet");
    assert!(damaged.exists(), "{}", damaged.display());
    std::fs::write(&damaged, b"not parquet").unwrap();
    browser
        .goto(&format!("http://{addr}/ui/?tab=engagement"))
        .await;
    browser.wait_page().await;
    let rendered = browser.exec("return window.__ui.rendered").await;
    assert_eq!(rendered["engagement_tiers"]["kind"], "error", "{rendered}");
    let error = rendered["engagement_tiers"]["error"].as_str().unwrap();
    assert!(
        error.starts_with("panel engagement_tiers: query failed: "),
        "{error}"
    );
    // The error names the file to repair, not only Parquet's "Corrupt footer".
    assert!(
        error.contains(
            "damaged Parquet file in the lake: tables/engagement_tiers/as_of=2026-11-10/data.parquet \
             (Parquet error: Invalid Parquet file. Corrupt footer)"
        ),
        "{error}"
    );
    for id in ["session_histogram", "actions_histogram", "session_duration"] {
        assert_eq!(rendered[id]["kind"], "chart", "{id}: {rendered}");
    }
    assert_eq!(rendered["power_users"]["kind"], "table", "{rendered}");
    assert_eq!(
        browser
            .exec("return document.getElementById('status').textContent")
            .await,
        "1 of 5 panels failed"
    );
    assert_eq!(
        browser
            .exec(
                "return document.querySelector('#panel-engagement_tiers .note.error').textContent"
            )
            .await
            .as_str(),
        Some(error)
    );
    browser.screenshot("engagement-one-panel-failed").await;

    // The exported report is still written, with the same error in that
    // panel's card and the other panels drawn.
    let report = dir.path().join("usage-one-panel-failed.html");
    usagelake::ui::report(&ui_state(&lake), None, &report)
        .await
        .unwrap();
    browser
        .goto(&format!("file://{}?tab=engagement", report.display()))
        .await;
    browser.wait_page().await;
    let rendered = browser.exec("return window.__ui.rendered").await;
    assert_eq!(rendered["engagement_tiers"]["kind"], "error", "{rendered}");
    assert_eq!(
        rendered["engagement_tiers"]["error"].as_str(),
        Some(error),
        "{rendered}"
    );
    for id in ["session_histogram", "actions_histogram", "session_duration"] {
        assert_eq!(rendered[id]["kind"], "chart", "{id}: {rendered}");
    }
    browser.quit().await;
}
