//! The S3 path against a real S3-API server on loopback (moto_server, from
//! PyPI's `moto[server]`; .ci/run installs it).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use usagelake::config::FileSelection;
use usagelake::lake::{Lake, LakeLocation, S3Options};
use usagelake::sources::segment::{IngestRequest, ingest};

use crate::support::{free_port, page, s3_none, sql, temp_lake, track, write_events};

struct S3Server {
    child: Child,
    port: u16,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_moto() -> S3Server {
    let port = free_port();
    // `python3 -m moto.server` rather than the `moto_server` script: it needs
    // no PATH entry (pyenv shims appear only after a rehash).
    let mut child = Command::new("python3")
        .args([
            "-m",
            "moto.server",
            "-H",
            "127.0.0.1",
            "-p",
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("python3 not found");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "moto server exited ({status}): install it with `python3 -m pip install 'moto[server]'` (.ci/run does)"
            );
        }
        assert!(
            Instant::now() < deadline,
            "moto server did not listen on 127.0.0.1:{port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    S3Server { child, port }
}

/// moto accepts unsigned requests: create the bucket with one plain PUT.
fn create_bucket(port: u16, bucket: &str) {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        stream,
        "PUT /{bucket} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
}

#[tokio::test]
async fn ingest_and_query_on_s3_match_local_disk() {
    let server = start_moto();
    create_bucket(server.port, "usage");
    let options = S3Options {
        endpoint: Some(format!("http://127.0.0.1:{}", server.port)),
        region: Some("us-east-1".into()),
        access_key_id: Some(usagelake::config::Secret::new("testing")),
        secret_access_key: Some(usagelake::config::Secret::new("testing")),
        allow_http: Some(true),
    };
    let s3_lake =
        Lake::open(&LakeLocation::parse("s3://usage/lakes/demo", &options).unwrap()).unwrap();
    let (dir, local_lake) = temp_lake();
    let events = dir.path().join("events");
    write_events(
        &events,
        "segment-logs/web/1763856000000/a.json",
        &[
            page(
                "p1",
                "alice",
                "acme.com",
                "discovery",
                "2025-11-23T10:00:00Z",
            ),
            page("p2", "bob", "globex.io", "home", "2025-11-22T23:30:00Z"),
            track(
                "t1",
                "alice",
                "acme.com",
                "discovery_search_results",
                "2025-11-23T10:01:00Z",
            ),
            track(
                "t1",
                "alice",
                "acme.com",
                "discovery_search_results",
                "2025-11-23T10:01:00Z",
            ),
            "not json".to_string(),
        ],
    );
    let request = IngestRequest {
        source: events.display().to_string(),
        selection: FileSelection::ByArrivalDate,
        date: NaiveDate::from_ymd_opt(2025, 11, 23).unwrap(),
        s3: s3_none(),
        event_time: Default::default(),
    };
    for _ in 0..2 {
        let on_s3 = ingest(&s3_lake, &request).await.unwrap();
        let on_disk = ingest(&local_lake, &request).await.unwrap();
        assert_eq!(on_s3, on_disk);
    }
    let query = "SELECT date, message_id, customer_domain FROM pages UNION ALL \
                 SELECT date, message_id, customer_domain FROM tracks UNION ALL \
                 SELECT date, CAST(line AS VARCHAR), reason FROM quarantine ORDER BY 1, 2";
    let from_s3 = sql(&s3_lake, query).await;
    assert_eq!(from_s3, sql(&local_lake, query).await);
    assert_eq!(
        from_s3,
        "\
+------------+------------+---------------------------------------------+
| date       | message_id | customer_domain                             |
+------------+------------+---------------------------------------------+
| 2025-11-22 | p2         | globex.io                                   |
| 2025-11-23 | 5          | not a JSON object: the line starts with 'n' |
| 2025-11-23 | p1         | acme.com                                    |
| 2025-11-23 | t1         | acme.com                                    |
+------------+------------+---------------------------------------------+"
    );
    // The lease works on S3 too (conditional put): a second holder is refused.
    let lease = usagelake::runner::Lease::acquire(&s3_lake, "daily")
        .await
        .unwrap();
    let busy = usagelake::runner::Lease::acquire(&s3_lake, "daily").await;
    assert!(
        matches!(busy, Err(usagelake::runner::RunError::Busy { .. })),
        "second lease on S3 must be refused"
    );
    lease.release().await;
    usagelake::runner::Lease::acquire(&s3_lake, "daily")
        .await
        .unwrap()
        .release()
        .await;
}

/// `usagelake` in `cwd` (no config file there: built-in defaults, no
/// `[lake.s3]`) with the S3 settings given only as AWS_* variables of the
/// child process.
fn usagelake_with_env(cwd: &std::path::Path, env: &[(&str, String)], args: &[&str]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_usagelake"));
    command.current_dir(cwd).args(args);
    for (key, value) in env {
        command.env(key, value);
    }
    command.output().unwrap()
}

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn demo_on_s3_configured_by_environment_alone() {
    let server = start_moto();
    create_bucket(server.port, "envlake");
    let dir = tempfile::tempdir().unwrap();
    let endpoint = format!("http://127.0.0.1:{}", server.port);
    let mut env = vec![
        ("AWS_ACCESS_KEY_ID", "testing".to_string()),
        ("AWS_SECRET_ACCESS_KEY", "testing".to_string()),
        ("AWS_REGION", "us-east-1".to_string()),
        ("AWS_ENDPOINT_URL", endpoint.clone()),
    ];
    let demo = [
        "demo",
        "--events",
        "3000",
        "--days",
        "4",
        "--end-date",
        "2026-11-01",
    ];
    // Without AWS_ALLOW_HTTP the http endpoint is refused up front, saying why.
    let refused = usagelake_with_env(
        dir.path(),
        &env,
        &[&["--lake", "s3://envlake/demo"][..], &demo].concat(),
    );
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains(&format!(
            "lake URL \"{endpoint}\": plain http endpoint (from AWS_ENDPOINT_URL) but neither \
             lake.s3.allow_http nor AWS_ALLOW_HTTP is true"
        )),
        "{stderr}"
    );

    env.push(("AWS_ALLOW_HTTP", "true".to_string()));
    succeeded(&usagelake_with_env(
        dir.path(),
        &env,
        &[&["--lake", "s3://envlake/demo"][..], &demo].concat(),
    ));
    let on_s3 = succeeded(&usagelake_with_env(
        dir.path(),
        &env,
        &["--lake", "s3://envlake/demo", "tables", "--format", "json"],
    ));
    // The same demo on a local lake: the S3 lake holds the same tables and rows.
    let local = tempfile::tempdir().unwrap();
    succeeded(&usagelake_with_env(local.path(), &[], &demo));
    let on_disk = succeeded(&usagelake_with_env(
        local.path(),
        &[],
        &["tables", "--format", "json"],
    ));
    let rows = |json: &str| -> Vec<(String, u64)> {
        json.lines()
            .map(|l| {
                let t: serde_json::Value = serde_json::from_str(l).unwrap();
                (
                    t["table"].as_str().unwrap().to_string(),
                    t["rows"].as_u64().unwrap(),
                )
            })
            .collect()
    };
    let s3_rows = rows(&on_s3);
    assert_eq!(s3_rows, rows(&on_disk));
    for table in ["pages", "tracks", "quarantine", "dau", "stickiness"] {
        assert!(
            s3_rows.iter().any(|(t, n)| t == table && *n > 0),
            "no {table} rows on S3: {on_s3}"
        );
    }
}
