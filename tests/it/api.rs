//! `usagelake serve` as a user runs it: a real process on a free loopback
//! port, driven over HTTP and with signals.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Serve {
    child: Child,
    base: String,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Serve {
    /// Starts `usagelake serve --listen 127.0.0.1:0 ARGS` in `dir` and waits
    /// for the address it bound.
    fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(dir)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env_remove("USAGELAKE_LOG")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut serve = Self {
            child,
            base: String::new(),
            lines,
            seen: Vec::new(),
        };
        let line = serve.wait_line(|l| l.contains("listening on "));
        let addr: String = line
            .split("listening on ")
            .nth(1)
            .unwrap()
            .chars()
            .take_while(|c| *c != '"' && !c.is_whitespace())
            .collect();
        serve.base = format!("http://{addr}");
        serve
    }

    /// The next log line matching `want` (lines before it are kept in `seen`).
    fn wait_line(&mut self, want: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if want(&line) {
                        return line;
                    }
                }
                Err(_) => panic!(
                    "no such log line; the daemon said:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn signal(&self, name: &str) {
        let status = Command::new("kill")
            .args([format!("-{name}"), self.child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(Instant::now() < deadline, "serve did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn send(request: reqwest::RequestBuilder) -> (u16, Value) {
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const QUICK_JOB: &str =
    "name = \"quick\"\n\n[[steps]]\ntype = \"ingest\"\nsource = \"./events\"\nfiles = \"all\"\n";

const CONFIG_WITH_TOKEN: &str = r#"[lake]
url = "./lake"

[defaults]
catch_up_limit = 0

[server]
token = "${USAGELAKE_TEST_TOKEN}"
shutdown_timeout_seconds = 5

# Nothing listens on port 9: a sync attempt fails at once.
[[connectors]]
id = "0b8f3f6e-5d0a-4c43-9a55-2f5c1f0a7a11"
name = "bi"
type = "superset"
url = "http://127.0.0.1:9"
username = "u"
password = "p"
max_retries = 0

[[connectors]]
id = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
name = "pg"
type = "postgres"
log_dir = "./pg-logs"
"#;

#[tokio::test]
async fn serve_answers_runs_triggers_reloads_and_drains() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "config/usagelake.toml", CONFIG_WITH_TOKEN);
    write(root, "jobs/quick.toml", QUICK_JOB);
    std::fs::create_dir_all(root.join("events")).unwrap();
    let mut serve = Serve::start(root, &[], &[("USAGELAKE_TEST_TOKEN", "tok-123")]);
    let http = reqwest::Client::new();
    let base = serve.base.clone();
    let url = |path: &str| format!("{base}{path}");
    let auth = "Bearer tok-123";

    // /health needs no token.
    let (status, body) = send(http.get(url("/health"))).await;
    assert_eq!(status, 200);
    assert_eq!(body["status"], "ok");
    assert_eq!(body["jobs"], 4);

    // Everything else does.
    let response = http.get(url("/runs")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_eq!(
        response.json::<Value>().await.unwrap(),
        json!({"error": "missing or wrong bearer token; send Authorization: Bearer <the [server] token>"})
    );
    let (status, _) = send(
        http.get(url("/runs"))
            .header("authorization", "Bearer tok-12"),
    )
    .await;
    assert_eq!(status, 401);
    let (status, body) = send(http.get(url("/runs")).header("authorization", auth)).await;
    assert_eq!((status, body), (200, json!([])));

    // The Usage Analysis page opens without a token; its data API needs it.
    let page = http.get(url("/ui/")).send().await.unwrap();
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.unwrap().contains("<title>Usage Analysis"));
    let (status, _) = send(http.get(url("/api/ui/meta"))).await;
    assert_eq!(status, 401);
    let (status, body) = send(
        http.get(url("/api/ui/tabs/overview?as_of=2026-11-23"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["panels"][0]["id"], "kpis");

    // Trigger a run and follow it in /runs.
    let (status, started) = send(
        http.post(url("/jobs/quick/run?date=2026-11-23"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 202, "{started}");
    assert_eq!(started["job"], "quick");
    assert_eq!(started["date"], "2026-11-23");
    assert_eq!(started["status"], "running");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    let deadline = Instant::now() + Duration::from_secs(60);
    let runs = loop {
        let (status, runs) = send(
            http.get(url("/runs?job=quick&status=succeeded"))
                .header("authorization", auth),
        )
        .await;
        assert_eq!(status, 200);
        if runs.as_array().unwrap().len() == 1 {
            break runs;
        }
        assert!(Instant::now() < deadline, "the run never succeeded");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(runs[0]["run_id"], run_id);
    assert_eq!(runs[0]["date"], "2026-11-23");
    assert_eq!(runs[0]["attempt"], 1);
    assert_eq!(runs[0]["steps"][0]["kind"], "ingest");
    assert_eq!(runs[0]["steps"][0]["status"], "succeeded");

    // Filters and their errors.
    let (status, body) = send(
        http.get(url("/runs?job=quick&since=2999-01-01"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!((status, body), (200, json!([])));
    let (status, body) = send(
        http.get(url("/runs?status=bogus"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "unknown status \"bogus\"; use running, succeeded, succeeded_with_quarantined_input, failed or interrupted"
    );
    let (status, _) = send(
        http.get(url("/runs?limit=-1"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 400);
    let (status, body) = send(
        http.post(url("/jobs/nope/run"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "no job named \"nope\"; known jobs: [\"daily\", \"metrics\", \"platform\", \"quick\"]"
    );
    let (status, body) = send(
        http.post(url("/jobs/quick/run?date=yesterday"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "date \"yesterday\" is not a date; write YYYY-MM-DD"
    );
    let (status, body) = send(http.get(url("/nope")).header("authorization", auth)).await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "no route GET /nope; GET /openapi.json lists the routes"
    );

    // The seed's routes check what they are asked about first.
    let (status, body) = send(
        http.post(url("/connectors/nope/bi-sync"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "no connector named \"nope\" in the configuration (known: bi, pg); use a connector's name or id"
    );
    let (status, body) = send(
        http.post(url("/connectors/pg/bi-sync"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "connector \"pg\" is a postgres connector; bi_sync takes BI tools (superset, metabase, looker, tableau, power_bi)"
    );
    let (status, body) = send(
        http.post(url(
            "/connectors/0b8f3f6e-5d0a-4c43-9a55-2f5c1f0a7a11/query-log-mining",
        ))
        .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "connector \"bi\" is a superset connector; mining takes warehouses (postgres, snowflake, bigquery)"
    );
    let (status, body) = send(
        http.post(url("/connectors/pg/query-log-mining?date=2026-13-01"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "date \"2026-13-01\" is not a date; write YYYY-MM-DD"
    );
    // Collectors land one by one: until superset's does, the route says so
    // (501); after, the attempt against the closed port is a failed SyncJob.
    let (status, body) = send(
        http.post(url("/connectors/bi/bi-sync"))
            .header("authorization", auth),
    )
    .await;
    match status {
        501 => assert_eq!(
            body["error"],
            "connector bi: collecting from superset is not available in this build yet; remove the connector from the job or run a build that has it"
        ),
        200 => {
            assert_eq!(body["status"], "failed", "{body}");
            assert_eq!(body["connector_id"], "0b8f3f6e-5d0a-4c43-9a55-2f5c1f0a7a11");
        }
        _ => panic!("bi-sync answered {status} {body}"),
    }
    let (status, body) = send(
        http.get(url("/spaces/nope/usage/unused?days=30"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        body["error"],
        "no space with slug \"nope\" in the configuration (known: none); add a [[spaces]] entry or use one of those"
    );
    for days in ["0", "-3", "abc"] {
        let (status, body) = send(
            http.get(url(&format!("/spaces/nope/usage/unused?days={days}")))
                .header("authorization", auth),
        )
        .await;
        assert_eq!(status, 400);
        assert_eq!(
            body["error"],
            format!("days \"{days}\" must be a whole number ≥ 1")
        );
    }
    let (status, _) = send(
        http.post(url("/spaces/nope/usage/aggregate"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 404);

    // The OpenAPI document lists every route.
    let (status, doc) = send(http.get(url("/openapi.json")).header("authorization", auth)).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    paths.sort();
    assert_eq!(
        paths,
        [
            "/api/ui/drill/{panel}",
            "/api/ui/meta",
            "/api/ui/tabs/{tab}",
            "/connectors/{connector_id}/bi-sync",
            "/connectors/{connector_id}/query-log-mining",
            "/health",
            "/jobs/{name}/run",
            "/metrics",
            "/openapi.json",
            "/runs",
            "/spaces/{slug}/usage/aggregate",
            "/spaces/{slug}/usage/unused",
        ]
    );
    assert!(doc["paths"]["/jobs/{name}/run"]["post"]["responses"]["409"].is_object());
    let drill = &doc["paths"]["/api/ui/drill/{panel}"]["get"];
    let names: Vec<&str> = drill["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "panel", "as_of", "from", "to", "domain", "role", "license", "group", "package", "x",
            "y"
        ]
    );
    assert_eq!(
        drill["responses"]["200"]["content"]["application/json"]["schema"]["$ref"],
        "#/components/schemas/Drill"
    );

    // Answers are gzipped for a client that accepts it, and only then.
    let plain = http
        .get(url("/openapi.json"))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.headers().get("content-encoding"), None);
    let plain = plain.bytes().await.unwrap();
    let packed = http
        .get(url("/openapi.json"))
        .header("authorization", auth)
        .header("accept-encoding", "gzip, deflate, br")
        .send()
        .await
        .unwrap();
    assert_eq!(packed.headers()["content-encoding"], "gzip");
    assert_eq!(packed.headers()["vary"], "accept-encoding");
    let packed = packed.bytes().await.unwrap();
    assert!(
        packed.len() < plain.len() / 3,
        "{} of {}",
        packed.len(),
        plain.len()
    );
    let mut unpacked = Vec::new();
    std::io::Read::read_to_end(
        &mut flate2::read::GzDecoder::new(&packed[..]),
        &mut unpacked,
    )
    .unwrap();
    assert_eq!(unpacked, plain);

    // Prometheus text.
    let response = http
        .get(url("/metrics"))
        .header("authorization", auth)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; version=0.0.4"
    );
    let text = response.text().await.unwrap();
    assert!(
        text.contains("usagelake_runs_total{job=\"quick\",status=\"succeeded\"} 1\n"),
        "{text}"
    );
    assert!(text.contains("usagelake_rows_written_total{job=\"quick\"} 0\n"));

    // SIGHUP with a broken configuration: rejected, the old one serves on
    // (its token too).
    write(
        root,
        "config/usagelake.toml",
        "[defaults]\ncatch_up_limit = \"many\"\n",
    );
    serve.signal("HUP");
    serve.wait_line(|l| l.contains("reload rejected"));
    assert!(
        serve
            .seen
            .iter()
            .any(|l| l.contains("config/usagelake.toml"))
    );
    let (status, body) = send(http.get(url("/health"))).await;
    assert_eq!((status, body["jobs"].clone()), (200, json!(4)));
    let (status, _) = send(
        http.post(url("/jobs/quick/run?date=2026-11-24"))
            .header("authorization", auth),
    )
    .await;
    assert_eq!(status, 202);

    // A valid one with one more job takes effect.
    write(root, "config/usagelake.toml", CONFIG_WITH_TOKEN);
    write(
        root,
        "jobs/extra.toml",
        &QUICK_JOB.replace("\"quick\"", "\"extra\""),
    );
    serve.signal("HUP");
    serve.wait_line(|l| l.contains("configuration reloaded"));
    let (_, body) = send(http.get(url("/health"))).await;
    assert_eq!(body["jobs"], 5);

    // SIGTERM drains and exits 0.
    serve.signal("TERM");
    serve.wait_line(|l| l.contains("stopped"));
    assert!(serve.wait_exit().success());
}

#[tokio::test]
async fn serve_catches_up_a_missed_date_and_logs_json_with_run_fields() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "config/usagelake.toml",
        "[lake]\nurl = \"./lake\"\n\n[defaults]\ncatch_up_limit = 2\n",
    );
    write(
        root,
        "jobs/nightly.toml",
        "name = \"nightly\"\nschedule = \"0 0 * * *\"\n\n[[steps]]\ntype = \"ingest\"\nsource = \"./events\"\nfiles = \"all\"\n",
    );
    // The shipped jobs on demand only, so only nightly catches up.
    for name in ["daily", "metrics"] {
        write(
            root,
            &format!("jobs/{name}.toml"),
            &QUICK_JOB.replace("\"quick\"", &format!("\"{name}\"")),
        );
    }
    std::fs::create_dir_all(root.join("events")).unwrap();
    // At midnight UTC the job works on the day before: the last two fires
    // were for yesterday and the day before. Yesterday already ran.
    let today = chrono::Utc::now().date_naive();
    let yesterday = today - chrono::Days::new(1);
    let missed = today - chrono::Days::new(2);
    let output = Command::new(env!("CARGO_BIN_EXE_usagelake"))
        .current_dir(root)
        .args(["run", "nightly", "--date", &yesterday.to_string()])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");

    let mut serve = Serve::start(root, &["--log-format", "json"], &[]);
    let started = serve.wait_line(|l| l.contains("run started"));
    let started: Value = serde_json::from_str(&started).unwrap();
    assert_eq!(started["job"], "nightly");
    assert_eq!(started["date"], missed.to_string());
    assert_eq!(started["trigger"], "catch-up");
    assert_eq!(started["level"], "INFO");
    let run_id = started["run_id"].as_str().unwrap().to_string();
    let finished = serve.wait_line(|l| l.contains("run succeeded"));
    let finished: Value = serde_json::from_str(&finished).unwrap();
    assert_eq!(finished["run_id"], run_id.as_str());
    assert_eq!(finished["job"], "nightly");
    assert_eq!(finished["date"], missed.to_string());
    serve.signal("INT");
    serve.wait_line(|l| l.contains("stopped"));
    assert!(serve.wait_exit().success());
    // Every line is one JSON object.
    for line in &serve.seen {
        serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{line}: {e}"));
    }
    // The ledger holds both dates, succeeded.
    for date in [missed, yesterday] {
        let folder = root.join(format!("lake/_usagelake/runs/nightly/{date}"));
        let record: Value =
            serde_json::from_slice(&std::fs::read(folder.join("attempt-0001.json")).unwrap())
                .unwrap();
        assert_eq!(record["status"], "succeeded", "{date}");
    }
}

#[test]
fn serve_refuses_to_listen_beyond_loopback_without_a_token() {
    let dir = tempfile::tempdir().unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_usagelake"))
        .current_dir(dir.path())
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&output.stderr).trim_end(),
        "error: [server] listen: listen address 0.0.0.0:0 is beyond loopback and [server] has no token; set token = \"${USAGELAKE_TOKEN}\" or listen on 127.0.0.1"
    );
    // `validate` finds the same in the configuration file.
    write(
        dir.path(),
        "config/usagelake.toml",
        "[server]\nlisten = \"0.0.0.0:8080\"\n",
    );
    let output = Command::new(env!("CARGO_BIN_EXE_usagelake"))
        .current_dir(dir.path())
        .arg("validate")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&output.stderr).starts_with(
            "config/usagelake.toml:2: server.listen: listen address 0.0.0.0:8080 is beyond loopback and [server] has no token"
        ),
        "{output:?}"
    );
}

#[tokio::test]
async fn seed_routes_mine_aggregate_and_list_unused_over_http_against_a_real_postgres() {
    use crate::pg_server::{PgServer, SUPERUSER_PASSWORD};

    const PG_ID: &str = "5f0c7a2e-1b3d-4e5f-8a9b-0c1d2e3f4a51";
    let pg = PgServer::start();
    pg.create_user("ana", "ana-pw");
    pg.create_database("shop", "postgres");
    pg.psql(
        "postgres",
        SUPERUSER_PASSWORD,
        "shop",
        "CREATE TABLE orders (id int, total int);\nGRANT SELECT ON orders TO ana;\n",
    );
    // Three statements by ana, each run once: three rows. The superuser's
    // setup and log markers are excluded.
    pg.psql(
        "ana",
        "ana-pw",
        "shop",
        "SELECT id FROM orders WHERE total > 100;\nSELECT count(*) FROM orders;\nSELECT total FROM orders WHERE id = 7;\n",
    );
    pg.sync_logs();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "config/usagelake.toml",
        &format!(
            "[lake]\nurl = \"./lake\"\n\n[defaults]\ncatch_up_limit = 0\n\n\
             [[connectors]]\nid = \"{PG_ID}\"\nname = \"pg-logs\"\ntype = \"postgres\"\nlog_dir = \"{}\"\nexclude_users = [\"postgres\"]\n\n\
             [[connectors]]\nid = \"5f0c7a2e-1b3d-4e5f-8a9b-0c1d2e3f4a52\"\nname = \"pg-gone\"\ntype = \"postgres\"\nlog_dir = \"./no-such-dir\"\n\n\
             [[spaces]]\nslug = \"shop\"\nid = \"7d3c8c1e-0000-4000-8000-000000000009\"\nproducts = [\n  \
             {{ id = \"00000000-0000-4000-8000-0000000000a1\", name = \"orders\", tables = [\"orders\"] }},\n  \
             {{ id = \"00000000-0000-4000-8000-0000000000a2\", name = \"refunds\", tables = [\"refunds\"] }},\n]\n",
            pg.log_dir().display()
        ),
    );
    let mut serve = Serve::start(root, &[], &[]);
    let http = reqwest::Client::new();
    let url = |path: &str| format!("{}{path}", serve.base);
    // Log lines carry UTC times; mining reads one UTC day.
    let today = chrono::Utc::now().date_naive();

    let (status, body) = send(http.post(url(&format!(
        "/connectors/pg-logs/query-log-mining?date={today}"
    ))))
    .await;
    assert_eq!((status, body), (200, json!({"rows_upserted": 3})));

    // A sync of the connector holds its lease (here: another host's, alive).
    let lease = root.join(format!("lake/_usagelake/leases/connector-{PG_ID}.json"));
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    std::fs::write(
        &lease,
        json!({
            "holder": "pid 4242 on elsewhere",
            "host": "elsewhere",
            "pid": 4242,
            "token": "theirs",
            "acquired_at": "2026-03-29T00:00:00Z",
            "expires_at": until,
        })
        .to_string(),
    )
    .unwrap();
    let (status, body) = send(http.post(url(&format!(
        "/connectors/{PG_ID}/query-log-mining?date={today}"
    ))))
    .await;
    assert_eq!(status, 409);
    assert_eq!(
        body["error"],
        format!(
            "job connector-{PG_ID} is already running (lease _usagelake/leases/connector-{PG_ID}.json held by pid 4242 on elsewhere until {}); wait for it, or delete that object if the run is dead",
            until.to_rfc3339()
        )
    );
    std::fs::remove_file(&lease).unwrap();

    // Usage over what was mined: both products get stats; refunds was never
    // queried, but pg-gone (configured, never synced) did not cover the day,
    // so "no reference" is unknown rather than unused.
    let (status, body) =
        send(http.post(url(&format!("/spaces/shop/usage/aggregate?date={today}")))).await;
    assert_eq!((status, body), (200, json!({"products_updated": 2})));
    let (status, body) = send(http.get(url(&format!(
        "/spaces/shop/usage/unused?days=1&date={today}"
    ))))
    .await;
    assert_eq!(
        (status, body),
        (
            200,
            json!([{
                "id": "00000000-0000-4000-8000-0000000000a2",
                "name": "refunds",
                "tables": ["refunds"],
                "last_queried_at": null,
                "coverage": {
                    "status": "unknown",
                    "missing": [{
                        "connector_id": "5f0c7a2e-1b3d-4e5f-8a9b-0c1d2e3f4a52",
                        "connector": "pg-gone",
                        "days": [today.to_string()]
                    }]
                }
            }])
        )
    );

    // A failed attempt: 500 naming the date and the cause.
    let (status, body) = send(http.post(url(&format!(
        "/connectors/pg-gone/query-log-mining?date={today}"
    ))))
    .await;
    assert_eq!(status, 500);
    let error = body["error"].as_str().unwrap();
    assert!(
        error.starts_with(&format!(
            "mining 1 of 1 date(s) failed (0 rows upserted by the others): {today}: connector pg-gone: log_dir"
        )),
        "{error}"
    );

    serve.signal("TERM");
    assert!(serve.wait_exit().success());
}
