//! Apache Superset, for real: the test starts Superset 6.1 from the
//! virtual environment `.ci/run` installs (SQLite metadata in a temporary
//! folder, a free loopback port), creates a database, datasets, charts,
//! dashboards, saved queries and view events through Superset's own
//! interfaces, and checks that `usagelake sync` reads them back exactly,
//! with no SQL literal and no credential anywhere.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use reqwest::header::{COOKIE, HeaderMap, REFERER, SET_COOKIE};
use serde_json::{Value, json};

use super::support;

const CONNECTOR: &str = "0b7f3d0e-5a41-4c3b-9e55-6f2a1c8d9e10";
const ADMIN_PASSWORD: &str = "pw-SECRET-admin-7731";
const WRONG_PASSWORD: &str = "pw-SECRET-wrong-4410";
/// Literals in the fixtures' SQL; none may reach the lake.
const LITERALS: &[&str] = &[
    "Zed Secret",
    "Fr-Secret",
    "Top Secret",
    "Eu-Secret",
    "1970-01-02",
];

/// Where `.ci/run` installs Superset (outside the clone, reused).
fn venv() -> PathBuf {
    match std::env::var_os("USAGELAKE_SUPERSET_VENV") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(std::env::var_os("HOME").expect("HOME is set"))
            .join(".cache/usagelake-superset-venv"),
    }
}

/// A Superset server; stopped (its whole process group) when dropped.
struct Superset {
    child: Child,
    dir: tempfile::TempDir,
    base: String,
}

impl Drop for Superset {
    fn drop(&mut self) {
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-TERM", "--", &group]).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_step(venv: &Path, dir: &Path, args: &[&str]) {
    let out = superset_command(venv, dir, args).output().unwrap();
    assert!(
        out.status.success(),
        "superset {} failed: {}\n{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn superset_command(venv: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(venv.join("bin/superset"));
    command
        .args(args)
        .current_dir(dir)
        .env("SUPERSET_CONFIG_PATH", dir.join("superset_config.py"))
        .env("SUPERSET_HOME", dir.join("home"))
        .env("FLASK_APP", "superset")
        .stdin(Stdio::null());
    command
}

impl Superset {
    async fn start() -> Self {
        let venv = venv();
        let check = Command::new(venv.join("bin/python"))
            .args(["-c", "import superset, cachetools, rich"])
            .output();
        match check {
            Ok(out) if out.status.success() => {}
            other => panic!(
                "Apache Superset is not installed in {}: run `bash .ci/run` (it installs apache-superset 6.1.0 with flask-caching 2.3.1, rich and cachetools there) or set USAGELAKE_SUPERSET_VENV; {}",
                venv.display(),
                match other {
                    Ok(out) => String::from_utf8_lossy(&out.stderr).into_owned(),
                    Err(e) => e.to_string(),
                }
            ),
        }
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        std::fs::write(
            dir.path().join("superset_config.py"),
            format!(
                "SECRET_KEY = 'usagelake-test-secret-key-0123456789'\n\
                 SQLALCHEMY_DATABASE_URI = 'sqlite:///{}'\n\
                 PREVENT_UNSAFE_DB_CONNECTIONS = False\n\
                 FEATURE_FLAGS = {{'ENABLE_TEMPLATE_PROCESSING': True}}\n\
                 SUPERSET_LOG_VIEW = True\n",
                dir.path().join("superset.db").display()
            ),
        )
        .unwrap();
        // The data Superset charts: a SQLite file made with Python's sqlite3.
        let data = Command::new(venv.join("bin/python"))
            .args([
                "-c",
                "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.executescript(\"\
                 CREATE TABLE orders (id INTEGER, customer_id INTEGER, amount REAL, region TEXT, created_at TEXT);\
                 CREATE TABLE customers (id INTEGER, name TEXT, country TEXT);\
                 INSERT INTO orders VALUES (1, 1, 10.5, 'eu', '2026-01-01');\
                 INSERT INTO customers VALUES (1, 'A', 'FR');\"); c.commit()",
                dir.path().join("data.db").to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            data.status.success(),
            "{}",
            String::from_utf8_lossy(&data.stderr)
        );
        run_step(&venv, dir.path(), &["db", "upgrade"]);
        run_step(
            &venv,
            dir.path(),
            &[
                "fab",
                "create-admin",
                "--username",
                "admin",
                "--firstname",
                "Ada",
                "--lastname",
                "Admin",
                "--email",
                "admin@example.com",
                "--password",
                ADMIN_PASSWORD,
            ],
        );
        run_step(&venv, dir.path(), &["init"]);
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let child = {
            use std::os::unix::process::CommandExt;
            superset_command(
                &venv,
                dir.path(),
                &[
                    "run",
                    "-h",
                    "127.0.0.1",
                    "-p",
                    &port.to_string(),
                    "--with-threads",
                ],
            )
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .unwrap()
        };
        let server = Self {
            child,
            dir,
            base: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let health = reqwest::get(format!("{}/health", server.base)).await;
            if health.is_ok_and(|r| r.status().is_success()) {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "Superset did not answer /health within 120 s; its log:\n{}",
                std::fs::read_to_string(server.dir.path().join("server.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        server
    }

    fn data_db(&self) -> PathBuf {
        self.dir.path().join("data.db")
    }
}

/// Superset's REST API as a writer: bearer + CSRF token + session cookie
/// + Referer (writes are CSRF-protected, reads are not).
struct Api {
    http: reqwest::Client,
    base: String,
    bearer: String,
    csrf: String,
    cookie: String,
}

fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("session="))
        .map(|v| v.split(';').next().unwrap().to_string())
}

impl Api {
    async fn login(base: &str) -> Self {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap();
        let login: Value = http
            .post(format!("{base}/api/v1/security/login"))
            .json(&json!({"username": "admin", "password": ADMIN_PASSWORD, "provider": "db", "refresh": true}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let bearer = login["access_token"].as_str().unwrap().to_string();
        let answer = http
            .get(format!("{base}/api/v1/security/csrf_token/"))
            .bearer_auth(&bearer)
            .send()
            .await
            .unwrap();
        let cookie = session_cookie(answer.headers()).expect("csrf_token sets a session cookie");
        let csrf: Value = answer.json().await.unwrap();
        Self {
            http,
            base: base.to_string(),
            bearer,
            csrf: csrf["result"].as_str().unwrap().to_string(),
            cookie,
        }
    }

    async fn write(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.base))
            .bearer_auth(&self.bearer)
            .header("X-CSRFToken", &self.csrf)
            .header(COOKIE, &self.cookie)
            .header(REFERER, &self.base);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        assert!(status.is_success(), "{method} {path}: {status} {text}");
        serde_json::from_str(&text).unwrap()
    }

    async fn post(&self, path: &str, body: Value) -> i64 {
        self.write(reqwest::Method::POST, path, Some(body)).await["id"]
            .as_i64()
            .unwrap()
    }

    /// Views are logged by the web frontend, which posts its events to
    /// `/superset/log/` with a browser session (the form login).
    async fn log_views(&self, events: Value) {
        let page = self
            .http
            .get(format!("{}/login/", self.base))
            .send()
            .await
            .unwrap();
        let mut cookie = session_cookie(page.headers()).unwrap();
        let html = page.text().await.unwrap();
        let token = html
            .split("name=\"csrf_token\"")
            .nth(1)
            .and_then(|rest| rest.split("value=\"").nth(1))
            .and_then(|rest| rest.split('"').next())
            .expect("the login form has a csrf_token")
            .to_string();
        let login = self
            .http
            .post(format!("{}/login/", self.base))
            .header(COOKIE, &cookie)
            .form(&[
                ("username", "admin"),
                ("password", ADMIN_PASSWORD),
                ("csrf_token", &token),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 302, "form login");
        cookie = session_cookie(login.headers()).unwrap_or(cookie);
        let csrf = self
            .http
            .get(format!("{}/api/v1/security/csrf_token/", self.base))
            .header(COOKIE, &cookie)
            .send()
            .await
            .unwrap();
        cookie = session_cookie(csrf.headers()).unwrap_or(cookie);
        let csrf: Value = csrf.json().await.unwrap();
        let logged = self
            .http
            .post(format!("{}/superset/log/?explode=events", self.base))
            .header(COOKIE, &cookie)
            .header("X-CSRFToken", csrf["result"].as_str().unwrap())
            .header(REFERER, &self.base)
            .form(&[("events", events.to_string())])
            .send()
            .await
            .unwrap();
        assert_eq!(logged.status(), 200, "log events");
    }
}

/// The table a chart's saved query context asks for: `columns` grouped,
/// SUM(amount), `filters`.
fn query_context(dataset: i64, columns: &[&str], filters: Value) -> String {
    json!({
        "datasource": {"id": dataset, "type": "table"},
        "force": false,
        "queries": [{
            "columns": columns,
            "metrics": [{"expressionType": "SIMPLE", "column": {"column_name": "amount"}, "aggregate": "SUM", "label": "SUM(amount)"}],
            "filters": filters,
            "row_limit": 100
        }],
        "form_data": {"datasource": format!("{dataset}__table"), "viz_type": "table"},
        "result_format": "json",
        "result_type": "full"
    })
    .to_string()
}

async fn chart(
    api: &Api,
    name: &str,
    dataset: i64,
    dashboards: &[i64],
    context: Option<String>,
) -> i64 {
    let mut body = json!({
        "slice_name": name,
        "viz_type": "table",
        "datasource_id": dataset,
        "datasource_type": "table",
        "params": json!({"datasource": format!("{dataset}__table"), "viz_type": "table"}).to_string(),
        "dashboards": dashboards,
    });
    if let Some(context) = context {
        body["query_context"] = context.into();
    }
    api.post("/api/v1/chart/", body).await
}

struct Usagelake {
    dir: tempfile::TempDir,
}

impl Usagelake {
    fn new(base: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(
            dir.path().join("config/usagelake.toml"),
            format!(
                "[[connectors]]\nid = \"{CONNECTOR}\"\nname = \"bi\"\ntype = \"superset\"\n\
                 url = \"{base}\"\nusername = \"admin\"\npassword = \"${{SUPERSET_PASSWORD}}\"\n\
                 page_size = 2\nconcurrency = 2\nmax_retries = 1\n"
            ),
        )
        .unwrap();
        Self { dir }
    }

    /// Runs the CLI with debug logging; (status, stdout, stderr).
    fn run(&self, password: &str, args: &[&str]) -> (Option<i32>, String, String) {
        // Syncs log at debug level: every line is searched for secrets.
        let level = if args[0] == "sync" { "debug" } else { "warn" };
        let out = Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(self.dir.path())
            .env("SUPERSET_PASSWORD", password)
            .env("USAGELAKE_LOG", level)
            .args(args)
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    fn query(&self, sql: &str) -> String {
        let (status, stdout, stderr) = self.run(ADMIN_PASSWORD, &["query", sql, "--format", "csv"]);
        assert_eq!(status, Some(0), "{stderr}");
        stdout
    }
}

const ROWS: &str = "SELECT resource_type, resource_id, title, array_to_string(referenced_tables, ', ') AS referenced_tables, database, \
    dashboard_id, dashboard_title, dashboard_url, executed_by, execution_count \
    FROM bi_queries ORDER BY resource_type, resource_id, dashboard_id";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn superset_is_scraped_exactly_and_without_literals_or_secrets() {
    let started = Instant::now();
    let superset = Superset::start().await;
    let setup = started.elapsed();
    let api = Api::login(&superset.base).await;
    let db = api
        .post(
            "/api/v1/database/",
            json!({"database_name": "shop", "sqlalchemy_uri": format!("sqlite:///{}", superset.data_db().display()), "expose_in_sqllab": true}),
        )
        .await;
    let dataset = |body: Value| {
        let mut body = body;
        body["database"] = db.into();
        body["schema"] = "main".into();
        api.post("/api/v1/dataset/", body)
    };
    let orders = dataset(json!({"table_name": "orders"})).await;
    let eu_orders = dataset(json!({
        "table_name": "eu_orders",
        "sql": "SELECT o.id, o.amount, c.country FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.region <> 'Eu-Secret'"
    }))
    .await;
    let recent = dataset(json!({
        "table_name": "recent_orders",
        "sql": "SELECT id, amount FROM orders WHERE created_at >= '{{ from_dttm or \"1970-01-02\" }}' AND region <> 'Top Secret'"
    }))
    .await;
    let sales = api
        .post(
            "/api/v1/dashboard/",
            json!({"dashboard_title": "Sales", "slug": "sales", "published": true}),
        )
        .await;
    let ops = api
        .post(
            "/api/v1/dashboard/",
            json!({"dashboard_title": "Ops Board", "published": true}),
        )
        .await;
    let by_region = chart(
        &api,
        "Revenue by region",
        orders,
        &[sales, ops],
        Some(query_context(
            orders,
            &["region"],
            json!([{"col": "region", "op": "!=", "val": "Zed Secret"}]),
        )),
    )
    .await;
    let eu = chart(
        &api,
        "EU revenue",
        eu_orders,
        &[sales],
        Some(query_context(eu_orders, &["country"], json!([]))),
    )
    .await;
    let no_context = chart(&api, "No context chart", orders, &[ops], None).await;
    let jinja = chart(&api, "Recent (jinja)", recent, &[], None).await;
    assert_eq!((by_region, eu, no_context, jinja), (1, 2, 3, 4));
    let saved = |label: &str, schema: &str, sql: &str| {
        api.post(
            "/api/v1/saved_query/",
            json!({"db_id": db, "label": label, "schema": schema, "sql": sql}),
        )
    };
    saved(
        "Big customers",
        "main",
        "SELECT name FROM customers WHERE country <> 'Fr-Secret'",
    )
    .await;
    let totals = saved(
        "Order totals",
        "main",
        "SELECT sum(amount) FROM main.orders WHERE amount > 100",
    )
    .await;
    api.log_views(json!([
        {"event_name": "mount_dashboard", "dashboard_id": sales, "ts": 1},
        {"event_name": "mount_explorer", "slice_id": eu, "ts": 2},
        {"event_name": "load_chart", "slice_id": eu, "ts": 3},
    ]))
    .await;

    let lake = Usagelake::new(&superset.base);
    let sync_started = Instant::now();
    let (status, stdout, stderr) = lake.run(ADMIN_PASSWORD, &["sync", "bi"]);
    let sync_time = sync_started.elapsed();
    assert_eq!(status, Some(0), "{stdout}\n{stderr}");
    let job: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "bi_sync");
    assert_eq!(job["connector_id"], CONNECTOR);
    // 2 saved queries + 4 charts + 4 dashboard memberships + 2 views.
    assert_eq!(job["rows_upserted"], 12, "{job}");
    assert_eq!(
        job["report"]["chart_sql_from"],
        json!({"physical_dataset": 1, "query_context": 2, "virtual_dataset": 1})
    );

    let sales_url = format!("{}/superset/dashboard/sales/", superset.base);
    let ops_url = format!("{}/superset/dashboard/2/", superset.base);
    let both = "\"main.customers, main.orders\"";
    let expected = format!(
        "resource_type,resource_id,title,referenced_tables,database,dashboard_id,dashboard_title,dashboard_url,executed_by,execution_count\n\
         chart,1,Revenue by region,main.orders,shop,,,,,1\n\
         chart,2,EU revenue,{both},shop,,,,,1\n\
         chart,3,No context chart,main.orders,shop,,,,,1\n\
         chart,4,Recent (jinja),main.orders,shop,,,,,1\n\
         chart_view,2,EU revenue,{both},shop,,,,admin,1\n\
         dashboard_chart,1,Revenue by region,main.orders,shop,1,Sales,{sales_url},,1\n\
         dashboard_chart,1,Revenue by region,main.orders,shop,2,Ops Board,{ops_url},,1\n\
         dashboard_chart,2,EU revenue,{both},shop,1,Sales,{sales_url},,1\n\
         dashboard_chart,3,No context chart,main.orders,shop,2,Ops Board,{ops_url},,1\n\
         dashboard_view,1,Sales,{both},,1,Sales,{sales_url},admin,1\n\
         saved_query,1,Big customers,main.customers,shop,,,,,1\n\
         saved_query,2,Order totals,main.orders,shop,,,,,1\n"
    );
    assert_eq!(lake.query(ROWS), expected);
    let sql = lake.query(
        "SELECT resource_type, resource_id, sql_text, query_fingerprint IS NULL AS no_fp \
         FROM bi_queries WHERE resource_type IN ('chart', 'saved_query') ORDER BY resource_type, resource_id",
    );
    assert_eq!(
        sql,
        r#"resource_type,resource_id,sql_text,no_fp
chart,1,"SELECT region AS region, sum(amount) AS ""SUM(amount)"" FROM main.orders WHERE region <> ? GROUP BY region LIMIT ? OFFSET ?",false
chart,2,"SELECT country AS country, sum(amount) AS ""SUM(amount)"" FROM (SELECT o.id, o.amount, c.country FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.region <> ? ) AS virtual_table GROUP BY country LIMIT ? OFFSET ?",false
chart,3,,true
chart,4,"SELECT id, amount FROM orders WHERE created_at >= ? AND region <> ?",false
saved_query,1,SELECT name FROM customers WHERE country <> ?,false
saved_query,2,SELECT sum(amount) FROM main.orders WHERE amount > ?,false
"#
    );
    // A chart and its dashboard memberships share one fingerprint.
    assert_eq!(
        lake.query(
            "SELECT resource_id, count(DISTINCT query_fingerprint) AS fingerprints, count(*) AS n \
             FROM bi_queries WHERE resource_type IN ('chart', 'dashboard_chart') GROUP BY resource_id ORDER BY resource_id"
        ),
        "resource_id,fingerprints,n\n1,1,3\n2,1,2\n3,0,2\n4,1,1\n"
    );

    // Deleted in Superset: gone from the next snapshot of the day; views stay.
    api.write(
        reqwest::Method::DELETE,
        &format!("/api/v1/saved_query/{totals}"),
        None,
    )
    .await;
    api.write(
        reqwest::Method::DELETE,
        &format!("/api/v1/chart/{jinja}"),
        None,
    )
    .await;
    let (status, stdout, stderr) = lake.run(ADMIN_PASSWORD, &["sync", "bi"]);
    assert_eq!(status, Some(0), "{stdout}\n{stderr}");
    let again: Vec<&str> = expected
        .lines()
        .filter(|l| !l.starts_with("saved_query,2,") && !l.starts_with("chart,4,"))
        .collect();
    assert_eq!(lake.query(ROWS), again.join("\n") + "\n");

    // Refused credentials: a failed sync job naming the status, the snapshot kept.
    let (status, failed_stdout, failed_stderr) = lake.run(WRONG_PASSWORD, &["sync", "bi"]);
    assert_eq!(status, Some(1), "{failed_stdout}\n{failed_stderr}");
    let failed: Value = serde_json::from_str(&failed_stdout).unwrap();
    assert_eq!(failed["status"], "failed");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with("connector bi: POST /api/v1/security/login answered HTTP 401"),
        "{error}"
    );
    assert_eq!(lake.query(ROWS), again.join("\n") + "\n");
    assert_eq!(
        lake.query("SELECT status, rows_upserted FROM sync_jobs ORDER BY started_at"),
        "status,rows_upserted\nsucceeded,12\nsucceeded,10\nfailed,0\n"
    );

    // No password, token or literal in the output, the logs or the lake.
    let mut texts = vec![stdout, stderr, failed_stdout, failed_stderr];
    texts.extend(support::written_files(lake.dir.path()));
    texts.push(lake.query(support::BI_QUERIES_TEXT_COLUMNS));
    texts.push(lake.query("SELECT * FROM sync_jobs"));
    let needles: Vec<&str> = [ADMIN_PASSWORD, WRONG_PASSWORD, &api.bearer[..40], "eyJ"]
        .into_iter()
        .chain(LITERALS.iter().copied())
        .collect();
    support::assert_none_contains(&texts, &needles);
    eprintln!(
        "superset test: setup {:.1}s, first sync {:.1}s, total {:.1}s",
        setup.as_secs_f64(),
        sync_time.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}
