//! Snowflake query-history mining against a loopback server speaking the
//! SQL API v2 shapes: key-pair JWT checked, 429 with Retry-After, 401 then
//! a fresh JWT, 202 and polling of the statement handle, a second result
//! partition after a 503, duplicate query ids, failed and system queries.

use std::process::Command;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use usagelake::config::AppConfig;
use usagelake::lake::{Lake, LakeLocation};
use usagelake::query::{OutputFormat, format_batches, run_sql};

const CONNECTOR: &str = "0d3b5a8e-6f1c-4e2d-9a7b-1c2d3e4f5a60";

#[derive(Default)]
struct Seen {
    posts: usize,
    polls: usize,
    partition_1: usize,
    /// The JWT issuers the server saw, in order.
    issuers: Vec<String>,
    statement: String,
    access_history_statement: String,
}

#[derive(Clone)]
struct Server {
    seen: Arc<Mutex<Seen>>,
    fingerprint: String,
    /// Answer every statement with 500 (an outage).
    down: bool,
    /// The account has ACCESS_HISTORY (Enterprise); else reading it is a
    /// compilation error, as on Standard accounts.
    access_history: bool,
}

fn status_body(handle: &str) -> serde_json::Value {
    serde_json::json!({
        "code": "333334",
        "message": "Asynchronous execution in progress. Use provided query id to perform query monitoring and management.",
        "statementHandle": handle,
        "statementStatusUrl": format!("/api/v2/statements/{handle}"),
    })
}

fn row(
    id: &str,
    text: &str,
    user: &str,
    micros: i64,
    status: &str,
    kind: &str,
) -> serde_json::Value {
    serde_json::json!([
        id,
        text,
        "SALES",
        user,
        format!("{micros}.000000000"),
        status,
        kind
    ])
}

/// 2026-11-02T09:00:00Z in microseconds.
const NINE: i64 = 1_793_610_000_000_000;

/// The JWT's issuer, when the request carries a well-formed key-pair JWT.
fn issuer(headers: &HeaderMap) -> Option<String> {
    if headers
        .get("x-snowflake-authorization-token-type")?
        .to_str()
        .ok()?
        != "KEYPAIR_JWT"
    {
        return None;
    }
    let token = headers
        .get("authorization")?
        .to_str()
        .ok()?
        .strip_prefix("Bearer ")?;
    let payload = token.split('.').nth(1)?;
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .ok()?,
    )
    .ok()?;
    let (iat, exp) = (claims["iat"].as_i64()?, claims["exp"].as_i64()?);
    (claims["sub"] == "ACME.MINER" && exp - iat == 3600)
        .then(|| claims["iss"].as_str().map(str::to_string))?
}

async fn statements(State(s): State<Server>, headers: HeaderMap, body: String) -> Response {
    let mut seen = s.seen.lock().unwrap();
    let Some(iss) = issuer(&headers) else {
        return (StatusCode::UNAUTHORIZED, "no key-pair JWT").into_response();
    };
    seen.issuers.push(iss.clone());
    if iss != format!("ACME.MINER.{}", s.fingerprint) {
        return (StatusCode::UNAUTHORIZED, "wrong fingerprint").into_response();
    }
    if s.down {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    let text = body["statement"].as_str().unwrap();
    if text.contains("SNOWFLAKE.ACCOUNT_USAGE.ACCESS_HISTORY") {
        seen.access_history_statement = text.to_string();
        return access_history(s.access_history);
    }
    seen.posts += 1;
    seen.statement = text.to_string();
    assert_eq!(body["warehouse"], "MINING_WH");
    match seen.posts {
        1 => (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response(),
        // The first JWT "expired": the client signs a new one once.
        2 => (StatusCode::UNAUTHORIZED, "JWT token is invalid").into_response(),
        _ => (StatusCode::ACCEPTED, axum::Json(status_body("01b0-handle"))).into_response(),
    }
}

/// ACCESS_HISTORY of the day: q1 read two columns of a fully qualified
/// table (and a function, which has none); q5 is not there (Snowflake
/// does not record every statement), so its columns come from its SQL.
fn access_history(available: bool) -> Response {
    if !available {
        return (
            StatusCode::UNPROCESSABLE_ENTITY,
            axum::Json(serde_json::json!({
                "code": "002003",
                "sqlState": "02000",
                "message": "SQL compilation error:\nObject 'SNOWFLAKE.ACCOUNT_USAGE.ACCESS_HISTORY' does not exist or not authorized.",
                "statementHandle": "01b0-ah",
            })),
        )
            .into_response();
    }
    let objects = serde_json::json!([
        {"objectDomain": "FUNCTION", "objectName": "SALES.FUNCS.NET", "objectId": "2", "argumentSignature": "(X NUMBER)", "dataType": "NUMBER(38,0)"},
        {"columns": [{"columnId": 68610, "columnName": "TOTAL"}, {"columnId": 68611, "columnName": "ID"}],
         "objectDomain": "Table", "objectId": 66564, "objectName": "SALES.PUBLIC.ORDERS"},
    ]);
    axum::Json(serde_json::json!({
        "code": "090001",
        "statementHandle": "01b0-ah",
        "resultSetMetaData": {
            "numRows": 2,
            "format": "jsonv2",
            "rowType": [{"name": "QUERY_ID", "type": "text"}, {"name": "DIRECT_OBJECTS_ACCESSED", "type": "variant"}],
            "partitionInfo": [{"rowCount": 2, "uncompressedSize": 400}],
        },
        "data": [["q1", objects.to_string()], ["q9", "[]"]],
    }))
    .into_response()
}

async fn statement(
    State(s): State<Server>,
    Path(handle): Path<String>,
    Query(query): Query<std::collections::HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    if issuer(&headers).is_none() {
        return (StatusCode::UNAUTHORIZED, "no key-pair JWT").into_response();
    }
    assert_eq!(handle, "01b0-handle");
    let mut seen = s.seen.lock().unwrap();
    if query.get("partition").map(String::as_str) == Some("1") {
        seen.partition_1 += 1;
        if seen.partition_1 == 1 {
            return StatusCode::SERVICE_UNAVAILABLE.into_response();
        }
        return axum::Json(serde_json::json!({
            "data": [
                row("q5", "SELECT name FROM customers WHERE region = 'Secret Corp'", "BOB", NINE + 5_000_000, "SUCCESS", "SELECT"),
                // Another day's query in this day's answer: that day owns it.
                row("q6", "SELECT 1 FROM customers", "BOB", NINE + 86_400_000_000, "SUCCESS", "SELECT"),
            ]
        }))
        .into_response();
    }
    seen.polls += 1;
    if seen.polls == 1 {
        return (StatusCode::ACCEPTED, axum::Json(status_body(&handle))).into_response();
    }
    let columns = [
        "QUERY_ID",
        "QUERY_TEXT",
        "DATABASE_NAME",
        "USER_NAME",
        "START_US",
        "EXECUTION_STATUS",
        "QUERY_TYPE",
    ];
    axum::Json(serde_json::json!({
        "code": "090001",
        "statementHandle": handle,
        "resultSetMetaData": {
            "numRows": 8,
            "format": "jsonv2",
            "rowType": columns.iter().map(|c| serde_json::json!({"name": c, "type": "text", "nullable": true})).collect::<Vec<_>>(),
            "partitionInfo": [{"rowCount": 6, "uncompressedSize": 900}, {"rowCount": 2, "uncompressedSize": 300}],
        },
        "data": [
            row("q1", "SELECT o.total FROM orders o WHERE o.id = 987654321", "ALICE", NINE, "SUCCESS", "SELECT"),
            // QUERY_HISTORY repeats a query now and then.
            row("q1", "SELECT o.total FROM orders o WHERE o.id = 987654321", "ALICE", NINE, "SUCCESS", "SELECT"),
            row("q2", "SELECT nope FROM orders", "ALICE", NINE + 1_000_000, "FAIL", "SELECT"),
            row("q3", "SELECT * FROM orders", "SYSTEM", NINE + 2_000_000, "SUCCESS", "SELECT"),
            row("q4", "BEGIN", "ALICE", NINE + 3_000_000, "SUCCESS", "BEGIN_TRANSACTION"),
            row("q7", "SELECT * FROM orders", "ETL", NINE + 4_000_000, "SUCCESS", "SELECT"),
        ],
    }))
    .into_response()
}

async fn serve(server: Server) -> String {
    let app = Router::new()
        .route("/api/v2/statements", post(statements))
        .route("/api/v2/statements/{handle}", get(statement))
        .with_state(server);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// An RSA key made by openssl, and its fingerprint computed the way
/// Snowflake's documentation does it.
pub fn key_pair(dir: &std::path::Path) -> (std::path::PathBuf, String) {
    let key = dir.join("rsa_key.p8");
    let out = Command::new("openssl")
        .args([
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
        ])
        .arg(&key)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let script = format!(
        "openssl pkey -in {} -pubout -outform DER | openssl dgst -sha256 -binary | openssl enc -base64 -A",
        key.display()
    );
    let out = Command::new("sh").args(["-c", &script]).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        key,
        format!("SHA256:{}", String::from_utf8_lossy(&out.stdout).trim()),
    )
}

fn config(url: &str, key: &std::path::Path) -> AppConfig {
    AppConfig::parse(
        "c.toml",
        &format!(
            "[[connectors]]\nid = \"{CONNECTOR}\"\nname = \"sf\"\ntype = \"snowflake\"\nurl = \"{url}\"\n\
             account = \"acme.eu-central-1\"\nusername = \"miner\"\nprivate_key_path = \"{}\"\n\
             warehouse = \"MINING_WH\"\nexclude_users = [\"etl\"]\nmax_retries = 2\n",
            key.display()
        ),
        &|_| None,
    )
    .unwrap()
}

async fn table(lake: &Lake, sql: &str) -> String {
    let batches = run_sql(lake, sql).await.unwrap();
    format_batches(&batches, OutputFormat::Csv).unwrap()
}

#[tokio::test]
async fn query_history_rows_once_per_query_id_through_every_api_hurdle() {
    let dir = tempfile::tempdir().unwrap();
    let (key, fingerprint) = key_pair(dir.path());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let url = serve(Server {
        seen: seen.clone(),
        fingerprint: fingerprint.clone(),
        down: false,
        access_history: true,
    })
    .await;
    let config = config(&url, &key);
    let lake = Lake::open(&LakeLocation::Local(dir.path().join("lake"))).unwrap();
    let date = "2026-11-02".parse().unwrap();
    let report = usagelake::runner::collect::mine(&lake, &config, "sf", Some(date))
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.rows_upserted, 2);
    {
        let seen = seen.lock().unwrap();
        assert_eq!((seen.posts, seen.polls, seen.partition_1), (3, 2, 2));
        assert!(
            seen.statement
                .contains("SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY")
        );
        assert!(
            seen.statement
                .contains("start_time >= '2026-11-02 00:00:00 +0000'")
        );
        assert!(
            seen.access_history_statement
                .contains("query_start_time >= '2026-11-02 00:00:00 +0000'::TIMESTAMP_TZ AND query_start_time < '2026-11-03 00:00:00 +0000'")
        );
        // Every JWT named the key by the fingerprint openssl computes.
        assert!(
            seen.issuers
                .iter()
                .all(|i| *i == format!("ACME.MINER.{fingerprint}"))
        );
    }
    assert_eq!(
        table(
            &lake,
            "SELECT resource_id, executed_by, database, sql_text, array_to_string(referenced_tables, '|') AS t, \
             array_to_string(referenced_columns, '|') AS c, \
             CAST(executed_at AS VARCHAR) AS at, execution_count FROM bi_queries ORDER BY resource_id"
        )
        .await,
        "resource_id,executed_by,database,sql_text,t,c,at,execution_count\n\
         q1,ALICE,SALES,SELECT o.total FROM orders o WHERE o.id = ?,SALES.PUBLIC.ORDERS,SALES.PUBLIC.ORDERS.ID|SALES.PUBLIC.ORDERS.TOTAL,2026-11-02T09:00:00Z,1\n\
         q5,BOB,SALES,SELECT name FROM customers WHERE region = ?,CUSTOMERS,CUSTOMERS.NAME|CUSTOMERS.REGION,2026-11-02T09:00:05Z,1\n"
    );
    let report = table(&lake, "SELECT report FROM sync_jobs").await;
    for fact in [
        "\"\"duplicate_query_ids\"\":1",
        "\"\"failed_statements\"\":1",
        "\"\"excluded_user_statements\"\":2",
        "\"\"session_control_statements\"\":1",
        "\"\"rows_outside_slices\"\":1",
        "\"\"access_history_rows\"\":1",
    ] {
        assert!(report.contains(fact), "{fact} in {report}");
    }
    let everything = crate::support::sql(&lake, "SELECT * FROM bi_queries").await;
    for secret in ["Secret Corp", "987654321"] {
        assert!(!everything.contains(secret), "{secret}");
    }
}

#[tokio::test]
async fn without_access_history_columns_come_from_the_sql() {
    let dir = tempfile::tempdir().unwrap();
    let (key, fingerprint) = key_pair(dir.path());
    let url = serve(Server {
        seen: Arc::default(),
        fingerprint,
        down: false,
        access_history: false,
    })
    .await;
    let lake = Lake::open(&LakeLocation::Local(dir.path().join("lake"))).unwrap();
    let date = "2026-11-02".parse().unwrap();
    let report = usagelake::runner::collect::mine(&lake, &config(&url, &key), "sf", Some(date))
        .await
        .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        table(
            &lake,
            "SELECT resource_id, array_to_string(referenced_tables, '|') AS t, \
             array_to_string(referenced_columns, '|') AS c FROM bi_queries ORDER BY resource_id"
        )
        .await,
        "resource_id,t,c\nq1,ORDERS,ORDERS.ID|ORDERS.TOTAL\nq5,CUSTOMERS,CUSTOMERS.NAME|CUSTOMERS.REGION\n"
    );
    let report = table(&lake, "SELECT status, report FROM sync_jobs").await;
    assert!(report.starts_with("status,report\nsucceeded,"), "{report}");
    assert!(
        report.contains("not read, columns come from the SQL") && report.contains("HTTP 422"),
        "{report}"
    );
}

#[tokio::test]
async fn an_outage_or_a_missing_key_is_a_failed_job_without_rows() {
    let dir = tempfile::tempdir().unwrap();
    let (key, fingerprint) = key_pair(dir.path());
    let url = serve(Server {
        seen: Arc::default(),
        fingerprint,
        down: true,
        access_history: true,
    })
    .await;
    let lake = Lake::open(&LakeLocation::Local(dir.path().join("lake"))).unwrap();
    let date = "2026-11-02".parse().unwrap();
    let report = usagelake::runner::collect::mine(&lake, &config(&url, &key), "sf", Some(date))
        .await
        .unwrap();
    let error = report.failed[0].error.clone().unwrap();
    assert!(
        error.contains("connector sf: POST /api/v2/statements answered HTTP 500"),
        "{error}"
    );
    let missing = dir.path().join("missing.p8");
    let report = usagelake::runner::collect::mine(&lake, &config(&url, &missing), "sf", Some(date))
        .await
        .unwrap();
    let error = report.failed[0].error.clone().unwrap();
    assert!(
        error.contains("private_key_path") && error.contains("missing.p8"),
        "{error}"
    );
    assert_eq!(
        table(
            &lake,
            "SELECT status, count(*) AS n FROM sync_jobs GROUP BY status"
        )
        .await,
        "status,n\nfailed,2\n"
    );
    assert_eq!(
        table(&lake, "SELECT count(*) AS n FROM bi_queries").await,
        "n\n0\n"
    );
}
