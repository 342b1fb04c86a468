//! Metabase over a loopback server speaking its documented shapes: a
//! session that expires (one re-login), an API key, dashboards paged
//! through `/api/search` with a 429 + Retry-After on the way, a 503 then
//! success, native cards in the legacy and the MBQL 5 (`stages`) shape
//! with `{{var}}` / `[[ … ]]` templates, a GUI question compiled by
//! `/api/dataset/native`, one Metabase will not compile, a card without a
//! query, and a card list cut short (a failed sync). Exact rows; no
//! password, session, key or literal anywhere.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::support::{Cli, serve_loopback};

const PASSWORD: &str = "mb-pass-SECRET-5521";
const SESSION_1: &str = "sess-one-SECRET-0001";
const SESSION_2: &str = "sess-two-SECRET-0002";
const API_KEY: &str = "mb_key-SECRET-9090";
const LITERALS: &[&str] = &["Lit-Secret", "Shipped-Secret", "Body-Secret"];

#[derive(Default)]
struct Server {
    logins: AtomicUsize,
    /// Set once the first session has been refused: it "expired".
    first_expired: AtomicBool,
    second_page_calls: AtomicUsize,
    dashboard_7_calls: AtomicUsize,
    malformed: AtomicBool,
}

type Shared = State<Arc<Server>>;

fn authorized(server: &Server, headers: &HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match (header("x-api-key"), header("x-metabase-session")) {
        (Some(key), _) => key == API_KEY,
        (None, Some(SESSION_1)) => !server.first_expired.load(Ordering::SeqCst),
        (None, Some(SESSION_2)) => true,
        _ => false,
    }
}

fn unauthenticated() -> Response {
    (StatusCode::UNAUTHORIZED, "Unauthenticated").into_response()
}

async fn session(State(server): Shared, axum::Json(body): axum::Json<Value>) -> Response {
    if body["username"] != "reader@example.com" || body["password"] != PASSWORD {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"errors": {"password": "did not match stored password"}})),
        )
            .into_response();
    }
    let n = server.logins.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({"id": if n == 0 { SESSION_1 } else { SESSION_2 }})).into_response()
}

async fn databases(State(server): Shared, headers: HeaderMap) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    axum::Json(json!({"data": [{"id": 1, "name": "warehouse", "engine": "postgres"}], "total": 1}))
        .into_response()
}

fn cards_json() -> Value {
    json!([
        {"id": 1, "name": "Orders by status", "type": "question", "database_id": 1, "archived": false,
         "created_at": "2026-03-01T10:00:00.000Z",
         "dataset_query": {"type": "native", "database": 1, "native": {
             "query": "SELECT status, count(*) FROM public.orders WHERE created_at > {{since}} [[AND region = {{region}}]] AND note <> 'Lit-Secret' GROUP BY status",
             "template-tags": {"since": {"name": "since", "type": "date"}, "region": {"name": "region", "type": "text"}}}}},
        {"id": 2, "name": "Top customers", "type": "question", "database_id": 1, "archived": false,
         "dataset_query": {"lib/type": "mbql/query", "database": 1, "stages": [
             {"lib/type": "mbql.stage/native", "native": "SELECT c.name FROM public.customers c JOIN public.orders o ON o.customer_id = c.id WHERE o.total > 1000", "template-tags": []}]}},
        {"id": 3, "name": "Shipped orders", "type": "question", "database_id": 1, "archived": false,
         "dataset_query": {"type": "query", "database": 1, "query": {"source-table": 10, "filter": ["=", ["field", 5, null], "Shipped-Secret"]}}},
        {"id": 4, "name": "Broken question", "type": "question", "database_id": 1, "archived": false,
         "dataset_query": {"type": "query", "database": 1, "query": {"source-table": 99}}},
        {"id": 5, "name": "Old question", "type": "question", "database_id": 1, "archived": true,
         "dataset_query": {"type": "native", "database": 1, "native": {"query": "SELECT 1 FROM public.old"}}},
        {"id": 6, "name": "Empty card", "type": "question", "database_id": null, "archived": false, "dataset_query": {}}
    ])
}

async fn cards(State(server): Shared, headers: HeaderMap) -> Response {
    // The first session expires here: one re-login, then the second works.
    if headers
        .get("x-metabase-session")
        .is_some_and(|v| v == SESSION_1)
    {
        server.first_expired.store(true, Ordering::SeqCst);
    }
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    if server.malformed.load(Ordering::SeqCst) {
        return Response::builder()
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                "[{\"id\": 1, \"name\": \"Body-Secret\", \"dataset_query\": {",
            ))
            .unwrap();
    }
    axum::Json(cards_json()).into_response()
}

async fn native(
    State(server): Shared,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    match body.pointer("/query/source-table").and_then(|t| t.as_i64()) {
        Some(10) => axum::Json(json!({
            "query": "SELECT \"public\".\"orders\".\"id\" AS \"id\", \"public\".\"orders\".\"status\" AS \"status\" FROM \"public\".\"orders\" WHERE \"public\".\"orders\".\"status\" = 'Shipped-Secret' LIMIT 1048575",
            "params": null
        }))
        .into_response(),
        _ => (StatusCode::BAD_REQUEST, axum::Json(json!({"message": "Table 99 not found"}))).into_response(),
    }
}

#[derive(serde::Deserialize)]
struct SearchParams {
    models: String,
    limit: usize,
    offset: usize,
}

async fn search(
    State(server): Shared,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    assert_eq!(params.models, "dashboard");
    if params.offset > 0 && server.second_page_calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response();
    }
    let all = [(7, "Exec"), (8, "Ops"), (9, "Empty")];
    let data: Vec<Value> = all
        .iter()
        .skip(params.offset)
        .take(params.limit)
        .map(|(id, name)| json!({"id": id, "model": "dashboard", "name": name}))
        .collect();
    axum::Json(json!({"data": data, "total": all.len(), "limit": params.limit, "offset": params.offset, "models": ["dashboard"]}))
        .into_response()
}

async fn dashboard(State(server): Shared, headers: HeaderMap, Path(id): Path<i64>) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    let body = match id {
        7 => {
            if server.dashboard_7_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
            }
            json!({"id": 7, "name": "Exec", "dashcards": [
                {"id": 71, "card_id": 1, "card": {"id": 1}},
                {"id": 72, "card_id": 3, "card": {"id": 3}},
                {"id": 73, "card_id": null, "visualization_settings": {"text": "# Notes"}},
                {"id": 74, "card_id": 1, "card": {"id": 1}}
            ]})
        }
        // An older server: `ordered_cards`.
        8 => {
            json!({"id": 8, "name": "Ops", "ordered_cards": [{"id": 81, "card_id": 2}, {"id": 82, "card_id": 1}]})
        }
        9 => json!({"id": 9, "name": "Empty", "dashcards": []}),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    axum::Json(body).into_response()
}

async fn serve() -> (String, Arc<Server>) {
    let server = Arc::new(Server::default());
    let app = Router::new()
        .route("/api/session", post(session))
        .route("/api/database", get(databases))
        .route("/api/card", get(cards))
        .route("/api/dataset/native", post(native))
        .route("/api/search", get(search))
        .route("/api/dashboard/{id}", get(dashboard))
        .with_state(server.clone());
    (serve_loopback(app).await, server)
}

fn cli(url: &str) -> Cli {
    Cli::new(
        &format!(
            "[[connectors]]\nid = \"3c1d2b7e-8f00-4a55-9c61-0d9e8f7a6b51\"\nname = \"mb\"\ntype = \"metabase\"\n\
             url = \"{url}\"\nusername = \"reader@example.com\"\npassword = \"${{MB_PASSWORD}}\"\npage_size = 2\n\n\
             [[connectors]]\nid = \"3c1d2b7e-8f00-4a55-9c61-0d9e8f7a6b52\"\nname = \"mbkey\"\ntype = \"metabase\"\n\
             url = \"{url}\"\napi_key = \"${{MB_KEY}}\"\n"
        ),
        &[("MB_PASSWORD", PASSWORD), ("MB_KEY", API_KEY)],
    )
}

#[tokio::test]
async fn metabase_cards_and_dashboards_are_scraped_exactly() {
    let (url, server) = serve().await;
    let cli = cli(&url);
    let (status, stdout, stderr) = cli.run(&["sync", "mb"]).await;
    assert_eq!(status, Some(0), "{stdout}\n{stderr}");
    let job: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["rows_upserted"], 9, "{job}");
    assert_eq!(
        job["report"]["card_sql_from"],
        json!({"compiled": 1, "native": 2, "none": 1, "not_compiled": 1})
    );
    // One login, one expiry, one re-login.
    assert_eq!(server.logins.load(Ordering::SeqCst), 2);
    assert_eq!(server.second_page_calls.load(Ordering::SeqCst), 2);
    assert_eq!(server.dashboard_7_calls.load(Ordering::SeqCst), 2);

    let rows = "SELECT resource_type, resource_id, title, array_to_string(referenced_tables, ', ') AS referenced_tables, database, dashboard_id, dashboard_title, dashboard_url \
                FROM bi_queries ORDER BY resource_type, resource_id, dashboard_id";
    let both = "\"public.customers, public.orders\"";
    let expected = format!(
        "resource_type,resource_id,title,referenced_tables,database,dashboard_id,dashboard_title,dashboard_url\n\
         chart,1,Orders by status,public.orders,warehouse,,,\n\
         chart,2,Top customers,{both},warehouse,,,\n\
         chart,3,Shipped orders,public.orders,warehouse,,,\n\
         chart,4,Broken question,,warehouse,,,\n\
         chart,6,Empty card,,,,,\n\
         dashboard_chart,1,Orders by status,public.orders,warehouse,7,Exec,{url}/dashboard/7\n\
         dashboard_chart,1,Orders by status,public.orders,warehouse,8,Ops,{url}/dashboard/8\n\
         dashboard_chart,2,Top customers,{both},warehouse,8,Ops,{url}/dashboard/8\n\
         dashboard_chart,3,Shipped orders,public.orders,warehouse,7,Exec,{url}/dashboard/7\n"
    );
    assert_eq!(cli.query(rows).await, expected);
    assert_eq!(
        cli.query("SELECT resource_id, sql_text FROM bi_queries WHERE resource_type = 'chart' ORDER BY resource_id").await,
        concat!(
            "resource_id,sql_text\n",
            // Template variables and the optional clause's variable are values: `?`.
            "1,\"SELECT status, count(*) FROM public.orders WHERE created_at > ? AND region = ? AND note <> ? GROUP BY status\"\n",
            // MBQL 5 `stages` native text.
            "2,SELECT c.name FROM public.customers c JOIN public.orders o ON o.customer_id = c.id WHERE o.total > ?\n",
            // A GUI question compiled by /api/dataset/native.
            "3,\"SELECT \"\"public\"\".\"\"orders\"\".\"\"id\"\" AS \"\"id\"\", \"\"public\"\".\"\"orders\"\".\"\"status\"\" AS \"\"status\"\" FROM \"\"public\"\".\"\"orders\"\" WHERE \"\"public\"\".\"\"orders\"\".\"\"status\"\" = ? LIMIT ?\"\n",
            // One Metabase would not compile, and an empty card: no SQL.
            "4,\n",
            "6,\n",
        )
    );

    // The same through an API key: the same rows.
    let (status, stdout, stderr) = cli.run(&["sync", "mbkey"]).await;
    assert_eq!(status, Some(0), "{stdout}\n{stderr}");
    let keyed: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(keyed["rows_upserted"], 9, "{keyed}");
    assert_eq!(
        server.logins.load(Ordering::SeqCst),
        2,
        "an API key needs no login"
    );

    // A card list cut short: a failed sync naming the endpoint, the snapshot kept.
    server.malformed.store(true, Ordering::SeqCst);
    let (status, failed_stdout, failed_stderr) = cli.run(&["sync", "mb"]).await;
    assert_eq!(status, Some(1), "{failed_stdout}\n{failed_stderr}");
    let failed: Value = serde_json::from_str(&failed_stdout).unwrap();
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "connector mb: /api/card did not answer the expected JSON (JSON cut short at line 1"
        ),
        "{error}"
    );
    // The previous snapshot of `mb` is untouched: the same rows as before.
    let mb_rows = rows.replace(
        "FROM bi_queries",
        "FROM bi_queries WHERE connector_id = '3c1d2b7e-8f00-4a55-9c61-0d9e8f7a6b51'",
    );
    assert_eq!(cli.query(&mb_rows).await, expected);
    assert_eq!(
        cli.query("SELECT count(*) AS n FROM bi_queries WHERE connector_id = '3c1d2b7e-8f00-4a55-9c61-0d9e8f7a6b51'").await,
        "n\n9\n"
    );

    let needles: Vec<&str> = [PASSWORD, SESSION_1, SESSION_2, API_KEY]
        .into_iter()
        .chain(LITERALS.iter().copied())
        .collect();
    cli.assert_no_leak(&[stdout, stderr, failed_stdout, failed_stderr], &needles)
        .await;
}
