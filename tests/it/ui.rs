//! The Usage Analysis page in a real browser: Debian's chromium driven by
//! chromedriver through the W3C WebDriver HTTP API (.ci/run installs both),
//! over a small generated lake served on a loopback port. Screenshots of
//! every tab go to `<target>/ui-screenshots/`.

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use serde_json::{Value, json};
use usagelake::config::{FileSelection, Params};
use usagelake::lake::Lake;
use usagelake::metrics::{DeriveRequest, MetricParams, derive};
use usagelake::sources::segment::{IngestRequest, ingest};

use crate::support::{s3_none, sql, temp_lake};

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

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

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
    use usagelake::demo::generator::{GeneratorOptions, generate};
    let options = GeneratorOptions {
        events: 12_000,
        days: 40,
        end_date: end,
        ..Default::default()
    };
    generate(&options, &dir.join("data")).unwrap();
    ingest(
        lake,
        &IngestRequest {
            source: dir.join("data/segment-logs").display().to_string(),
            selection: FileSelection::All,
            date: end,
            s3: s3_none(),
            event_time: Default::default(),
        },
    )
    .await
    .unwrap();
    let params: Params = toml::from_str("").unwrap();
    let request = DeriveRequest {
        params: MetricParams::from_params(&params, end).unwrap(),
        sql_dir: None,
        metrics: None,
        force: false,
    };
    derive(lake, &request).await.unwrap();
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
        axum::serve(listener, usagelake::ui::router(served))
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
    let cells: Value = http
        .get(format!("{api}/tabs/retention"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
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
    let users: Value = http
        .get(format!(
            "{api}/drill/cohort_heatmap?x={}&y={}",
            cell["cohort_month"].as_str().unwrap(),
            cell["activity_month"].as_str().unwrap()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        users["rows"].as_array().unwrap().len() as u64,
        cell["active_users"].as_u64().unwrap(),
        "{users}"
    );

    let browser = Browser::start().await;
    browser.goto(&format!("http://{addr}/ui/")).await;
    browser.wait_page().await;

    // Every tab: the four activity tabs draw every panel; the collector
    // tabs say which job fills their tables.
    let mut live = Vec::new();
    for tab in TABS {
        browser.click(&format!("#tab-{tab}")).await;
        browser.wait_page().await;
        let rendered = browser.exec("return window.__ui.rendered").await;
        let panels = rendered.as_object().unwrap();
        assert!(!panels.is_empty(), "{tab}: no panels");
        for (id, view) in panels {
            match *tab {
                "data_products" => {
                    assert_eq!(view["kind"], "note", "{tab}/{id}: {view}");
                    let note = view["note"].as_str().unwrap();
                    assert!(
                        note.contains("usagelake sync") || note.contains("aggregate"),
                        "{id}: {note}"
                    );
                }
                "platform" => {
                    assert_eq!(view["kind"], "note", "{tab}/{id}: {view}");
                    assert!(
                        view["note"].as_str().unwrap().contains("collect_events"),
                        "{id}: {view}"
                    );
                }
                _ => {
                    assert_ne!(view["kind"], "note", "{tab}/{id}: {view}");
                    if view["kind"] == "chart" {
                        assert!(view["points"].as_u64().unwrap() > 0, "{tab}/{id}");
                    }
                }
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
    let point = browser
        .exec(
            "var c = window.__ui.charts.active_series; var o = c.getOption(); var n = o.xAxis[0].data.length; \
             var p = c.convertToPixel({gridIndex: 0}, [n - 1, o.series[0].data[n - 1]]); \
             var r = document.getElementById('chart-active_series').getBoundingClientRect(); \
             return [Math.round(r.left + p[0]), Math.round(r.top + p[1])];",
        )
        .await;
    eprintln!("clicking the last day at {point}");
    browser
        .click_at(point[0].as_i64().unwrap(), point[1].as_i64().unwrap())
        .await;
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
    usagelake::ui::report(&lake, None, &report).await.unwrap();
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
    assert_eq!(browser.errors().await, Vec::<String>::new());
    browser.quit().await;
}
