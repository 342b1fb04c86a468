//! BigQuery job-history mining against a loopback server speaking the
//! OAuth JWT-bearer exchange, jobs.query and jobs.getQueryResults shapes:
//! a running job polled, a 503, an expired token re-issued once, two pages.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use base64::Engine;
use usagelake::config::AppConfig;
use usagelake::lake::{Lake, LakeLocation};
use usagelake::query::{OutputFormat, format_batches, run_sql};

const CONNECTOR: &str = "7e1f2a3b-4c5d-4e6f-8a9b-0c1d2e3f4a5b";
const EMAIL: &str = "miner@proj.iam.gserviceaccount.com";

#[derive(Default)]
struct Seen {
    tokens: usize,
    queries: usize,
    results: usize,
    query: String,
}

#[derive(Clone)]
struct Server {
    seen: Arc<Mutex<Seen>>,
    token_uri: Arc<Mutex<String>>,
}

async fn token(State(s): State<Server>, body: String) -> Response {
    let form: std::collections::HashMap<String, String> =
        url::form_urlencoded::parse(body.as_bytes())
            .into_owned()
            .collect();
    assert_eq!(
        form["grant_type"],
        "urn:ietf:params:oauth:grant-type:jwt-bearer"
    );
    let payload = form["assertion"].split('.').nth(1).unwrap();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap(),
    )
    .unwrap();
    assert_eq!(claims["iss"], EMAIL);
    assert_eq!(claims["aud"], s.token_uri.lock().unwrap().as_str());
    assert_eq!(claims["scope"], "https://www.googleapis.com/auth/bigquery");
    let mut seen = s.seen.lock().unwrap();
    seen.tokens += 1;
    axum::Json(serde_json::json!({
        "access_token": format!("ya29.tok-{}", seen.tokens),
        "expires_in": 3599,
        "token_type": "Bearer",
    }))
    .into_response()
}

fn bearer(headers: &HeaderMap) -> String {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

async fn queries(State(s): State<Server>, headers: HeaderMap, body: String) -> Response {
    assert!(bearer(&headers).starts_with("Bearer ya29.tok-"));
    let mut seen = s.seen.lock().unwrap();
    seen.queries += 1;
    if seen.queries == 1 {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    }
    let body: serde_json::Value = serde_json::from_str(&body).unwrap();
    seen.query = body["query"].as_str().unwrap().to_string();
    assert_eq!(body["useLegacySql"], false);
    axum::Json(serde_json::json!({
        "kind": "bigquery#queryResponse",
        "jobReference": {"projectId": "proj", "jobId": "job_Ab1", "location": "EU"},
        "jobComplete": false,
    }))
    .into_response()
}

fn job(
    id: &str,
    user: &str,
    micros: i64,
    query: &str,
    failed: bool,
    tables: &[&str],
) -> serde_json::Value {
    serde_json::json!({"f": [
        {"v": id}, {"v": user}, {"v": micros.to_string()}, {"v": query},
        {"v": failed.to_string()}, {"v": "SELECT"},
        {"v": tables.iter().map(|t| serde_json::json!({"v": t})).collect::<Vec<_>>()},
    ]})
}

/// 2026-11-02T09:00:00Z in microseconds.
const NINE: i64 = 1_793_610_000_000_000;

async fn results(
    State(s): State<Server>,
    headers: HeaderMap,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    // The first token "expired": the client gets a second one, once.
    if bearer(&headers) == "Bearer ya29.tok-1" {
        return (
            StatusCode::UNAUTHORIZED,
            "Request had invalid authentication credentials.",
        )
            .into_response();
    }
    assert_eq!(query["location"], "EU");
    let mut seen = s.seen.lock().unwrap();
    seen.results += 1;
    let fields = [
        "job_id",
        "user_email",
        "created_us",
        "query",
        "failed",
        "statement_type",
        "tables",
    ];
    let schema = serde_json::json!({"fields": fields.iter().map(|f| serde_json::json!({"name": f, "type": "STRING"})).collect::<Vec<_>>()});
    match query.get("pageToken").map(String::as_str) {
        None if seen.results == 1 => axum::Json(serde_json::json!({
            "jobReference": {"projectId": "proj", "jobId": "job_Ab1", "location": "EU"},
            "jobComplete": false,
        }))
        .into_response(),
        None => axum::Json(serde_json::json!({
            "jobReference": {"projectId": "proj", "jobId": "job_Ab1", "location": "EU"},
            "jobComplete": true,
            "schema": schema,
            "totalRows": "4",
            "pageToken": "tok/2==",
            "rows": [
                job("j1", "alice@acme.com", NINE, "SELECT total FROM `proj.sales.orders` WHERE id = 987654321", false, &["proj.sales.orders"]),
                job("j2", "alice@acme.com", NINE + 1, "SELECT nope FROM `proj.sales.orders`", true, &[]),
                job("j3", "etl@acme.com", NINE + 2, "SELECT * FROM `proj.sales.orders`", false, &["proj.sales.orders"]),
            ],
        }))
        .into_response(),
        Some("tok/2==") => axum::Json(serde_json::json!({
            "jobComplete": true,
            "rows": [job("j4", "bob@acme.com", NINE + 3_000_000, "SELECT c.name FROM sales.customers c WHERE c.region = 'Secret Corp'", false, &["proj.sales.customers"])],
        }))
        .into_response(),
        Some(other) => panic!("unexpected page token {other}"),
    }
}

async fn table(lake: &Lake, sql: &str) -> String {
    let batches = run_sql(lake, sql).await.unwrap();
    format_batches(&batches, OutputFormat::Csv).unwrap()
}

#[tokio::test]
async fn jobs_of_the_day_through_token_exchange_polling_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let (key, _) = crate::snowflake::key_pair(dir.path());
    let seen = Arc::new(Mutex::new(Seen::default()));
    let server = Server {
        seen: seen.clone(),
        token_uri: Arc::default(),
    };
    let app = Router::new()
        .route("/token", post(token))
        .route("/bigquery/v2/projects/proj/queries", post(queries))
        .route("/bigquery/v2/projects/proj/queries/job_Ab1", get(results))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    *server.token_uri.lock().unwrap() = format!("{base}/token");
    let credentials = dir.path().join("sa.json");
    std::fs::write(
        &credentials,
        serde_json::json!({
            "type": "service_account",
            "project_id": "proj",
            "client_email": EMAIL,
            "private_key": std::fs::read_to_string(&key).unwrap(),
            "token_uri": format!("{base}/token"),
        })
        .to_string(),
    )
    .unwrap();
    let config = AppConfig::parse(
        "c.toml",
        &format!(
            "[[connectors]]\nid = \"{CONNECTOR}\"\nname = \"bq\"\ntype = \"bigquery\"\nurl = \"{base}/bigquery/v2/\"\n\
             project = \"proj\"\nlocation = \"EU\"\ncredentials_file = \"{}\"\nexclude_users = [\"etl@acme.com\"]\n",
            credentials.display()
        ),
        &|_| None,
    )
    .unwrap();
    let lake = Lake::open(&LakeLocation::Local(dir.path().join("lake"))).unwrap();
    let report =
        usagelake::runner::collect::mine(&lake, &config, "bq", Some("2026-11-02".parse().unwrap()))
            .await
            .unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.rows_upserted, 2);
    {
        let seen = seen.lock().unwrap();
        assert_eq!((seen.tokens, seen.queries, seen.results), (2, 2, 3));
        assert!(
            seen.query
                .contains("`proj`.`region-eu`.INFORMATION_SCHEMA.JOBS_BY_PROJECT"),
            "{}",
            seen.query
        );
        assert!(
            seen.query
                .contains("creation_time >= TIMESTAMP('2026-11-02 00:00:00+00')"),
            "{}",
            seen.query
        );
    }
    assert_eq!(
        table(
            &lake,
            "SELECT resource_id, executed_by, sql_text, array_to_string(referenced_tables, '|') AS t, \
             CAST(executed_at AS VARCHAR) AS at FROM bi_queries ORDER BY resource_id"
        )
        .await,
        "resource_id,executed_by,sql_text,t,at\n\
         j1,alice@acme.com,SELECT total FROM `proj.sales.orders` WHERE id = ?,proj.sales.orders,2026-11-02T09:00:00Z\n\
         j4,bob@acme.com,SELECT c.name FROM sales.customers c WHERE c.region = ?,proj.sales.customers,2026-11-02T09:00:03Z\n"
    );
    let report = table(&lake, "SELECT report FROM sync_jobs").await;
    for fact in [
        "\"\"failed_statements\"\":1",
        "\"\"excluded_user_statements\"\":1",
        "\"\"pages\"\":2",
    ] {
        assert!(report.contains(fact), "{fact} in {report}");
    }
    let everything = crate::support::sql(&lake, "SELECT * FROM bi_queries").await;
    for secret in ["Secret Corp", "987654321", "ya29"] {
        assert!(!everything.contains(secret), "{secret}");
    }
}
