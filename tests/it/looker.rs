//! Looker (API 4.0) over a loopback server speaking the shapes of its API
//! reference: a form login whose token expires (one re-login, `Authorization:
//! token …`), looks and dashboards paged by `limit` / `offset` with a 429 +
//! Retry-After on the way, a 503 then success, tiles that show a look, a
//! query of their own, merged results or text, SQL from
//! `/queries/{id}/run/sql` (one templated, one Looker will not compile),
//! dialects from the model's connection, System Activity runs paged on time
//! under a row cap, and a dashboard list cut short (a failed sync). Exact
//! rows; no secret, token or literal anywhere.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::support::{Cli, serve_loopback};

const CLIENT_SECRET: &str = "lk-secret-SECRET-7788";
const TOKEN_1: &str = "lk-tok-one-SECRET-0001";
const TOKEN_2: &str = "lk-tok-two-SECRET-0002";
const LITERALS: &[&str] = &[
    "Lit-Secret",
    "Country-Secret",
    "Kind-Secret",
    "Hist-Secret",
    "Region-Secret",
    "Body-Secret",
];
const CONNECTOR_ID: &str = "9a0c5e1f-3b7d-4c2e-8f61-1d2e3f4a5b61";

#[derive(Default)]
struct Server {
    logins: AtomicUsize,
    /// Set once the first token has been refused: it "expired".
    first_expired: AtomicBool,
    looks_second_page_calls: AtomicUsize,
    dashboard_12_calls: AtomicUsize,
    malformed: AtomicBool,
    /// The `history.created_time` filter of each System Activity query.
    history_windows: Mutex<Vec<String>>,
}

type Shared = State<Arc<Server>>;

fn authorized(server: &Server, headers: &HeaderMap) -> bool {
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    match auth.and_then(|a| a.strip_prefix("token ")) {
        Some(TOKEN_1) => !server.first_expired.load(Ordering::SeqCst),
        Some(TOKEN_2) => true,
        _ => false,
    }
}

fn error(status: StatusCode, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"message": message, "documentation_url": "https://docs.cloud.google.com/looker/docs/r/api"})),
    )
        .into_response()
}

fn unauthenticated() -> Response {
    error(StatusCode::UNAUTHORIZED, "Requires authentication.")
}

async fn login(State(server): Shared, headers: HeaderMap, body: String) -> Response {
    assert_eq!(
        headers.get("content-type").unwrap(),
        "application/x-www-form-urlencoded"
    );
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    if form.get("client_id").map(String::as_str) != Some("usagelake-reader")
        || form.get("client_secret").map(String::as_str) != Some(CLIENT_SECRET)
    {
        return error(StatusCode::NOT_FOUND, "Not found");
    }
    let n = server.logins.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({
        "access_token": if n == 0 { TOKEN_1 } else { TOKEN_2 },
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": null
    }))
    .into_response()
}

async fn connections(State(server): Shared, headers: HeaderMap) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    axum::Json(json!([
        {"name": "warehouse", "dialect_name": "postgres", "host": "db.internal", "database": "shop"},
        {"name": "bq", "dialect_name": "bigquery_standard_sql", "host": "analytics-prod"}
    ]))
    .into_response()
}

#[derive(serde::Deserialize)]
struct SearchParams {
    deleted: String,
    fields: String,
    sorts: String,
    limit: usize,
    offset: usize,
}

fn page(all: Vec<Value>, params: &SearchParams) -> Response {
    assert_eq!(params.deleted, "false");
    assert_eq!(params.sorts, "id");
    let data: Vec<Value> = all
        .into_iter()
        .skip(params.offset)
        .take(params.limit)
        .collect();
    axum::Json(Value::Array(data)).into_response()
}

async fn looks(
    State(server): Shared,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    assert_eq!(params.fields, "id,title,query_id,model,deleted,created_at");
    if params.offset > 0
        && server
            .looks_second_page_calls
            .fetch_add(1, Ordering::SeqCst)
            == 0
    {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            axum::Json(json!({"message": "Too many requests"})),
        )
            .into_response();
    }
    let look = |id: &str, title: &str, query: &str, model: &str| {
        json!({"id": id, "title": title, "query_id": query, "model": {"id": model, "label": model},
               "deleted": false, "created_at": "2026-03-01T10:00:00.000+00:00"})
    };
    page(
        vec![
            look("1", "Orders by status", "101", "shop"),
            look("2", "Sessions per day", "102", "events"),
            look("3", "Broken look", "103", "gone"),
            look("4", "Templated look", "104", "shop"),
        ],
        &params,
    )
}

async fn dashboards(
    State(server): Shared,
    headers: HeaderMap,
    Query(params): Query<SearchParams>,
) -> Response {
    // The first token expires here: one re-login, then the second works.
    if headers
        .get("authorization")
        .is_some_and(|v| v == format!("token {TOKEN_1}").as_str())
    {
        server.first_expired.store(true, Ordering::SeqCst);
    }
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    assert_eq!(params.fields, "id,title,url,deleted");
    if server.malformed.load(Ordering::SeqCst) {
        return Response::builder()
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                "[{\"id\": \"10\", \"title\": \"Body-Secret\", \"url\": ",
            ))
            .unwrap();
    }
    page(
        vec![
            json!({"id": "10", "title": "Exec", "url": "/dashboards/10", "deleted": false}),
            json!({"id": "11", "title": "Marketing", "url": "/dashboards/11", "deleted": false}),
            json!({"id": "12", "title": "Empty", "url": null, "deleted": false}),
        ],
        &params,
    )
}

async fn elements(State(server): Shared, headers: HeaderMap, Path(id): Path<String>) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    let body = match id.as_str() {
        "10" => json!([
            // A look on the dashboard: its title is the look's.
            {"id": "31", "dashboard_id": "10", "type": "vis", "title": null, "look_id": "1",
             "look": {"id": "1", "title": "Orders by status", "model": {"id": "shop"},
                      "query": {"id": "101", "model": "shop", "view": "orders"}},
             "query_id": null, "query": null, "result_maker": null},
            // A query of the tile's own.
            {"id": "32", "dashboard_id": "10", "type": "vis", "title": "Revenue", "look_id": null,
             "query_id": "201", "query": {"id": "201", "model": "shop", "view": "orders"},
             "result_maker": {"id": "901", "query_id": "201", "query": {"id": "201", "model": "shop", "view": "orders"}}},
            {"id": "33", "dashboard_id": "10", "type": "text", "title": null, "body_text": "# Notes",
             "look_id": null, "query_id": null, "result_maker": null},
            // Merged results: no one SQL text.
            {"id": "34", "dashboard_id": "10", "type": "vis", "title": "Merged", "look_id": null,
             "query_id": null, "merge_result_id": "5", "result_maker": {"id": "902", "merge_result_id": "5"}},
            // The same look again: one membership.
            {"id": "35", "dashboard_id": "10", "type": "vis", "title": null, "look_id": "1",
             "look": {"id": "1", "title": "Orders by status", "query": {"id": "101", "model": "shop", "view": "orders"}}}
        ]),
        "11" => json!([
            // A newer tile: the query only inside its result maker.
            {"id": "41", "dashboard_id": "11", "type": "vis", "title": "Sessions", "look_id": null,
             "query_id": null, "result_maker": {"id": "903", "query_id": "202", "query": {"id": "202", "model": "events", "view": "sessions"}}},
            // A look without its query inlined: the look list says which.
            {"id": "42", "dashboard_id": "11", "type": "vis", "title": "", "look_id": "2",
             "look": {"id": "2", "title": "Sessions per day", "model": {"id": "events"}}}
        ]),
        "12" => {
            if server.dashboard_12_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                return error(StatusCode::SERVICE_UNAVAILABLE, "busy");
            }
            json!([])
        }
        _ => return error(StatusCode::NOT_FOUND, "Not found"),
    };
    axum::Json(body).into_response()
}

async fn model(State(server): Shared, headers: HeaderMap, Path(name): Path<String>) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    match name.as_str() {
        "shop" => axum::Json(
            json!({"name": "shop", "explores": [{"name": "orders"}, {"name": "customers"}]}),
        )
        .into_response(),
        "events" => axum::Json(json!({"name": "events", "explores": [{"name": "sessions"}]}))
            .into_response(),
        _ => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

async fn explore(
    State(server): Shared,
    headers: HeaderMap,
    Path((model, explore)): Path<(String, String)>,
) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    let connection = match (model.as_str(), explore.as_str()) {
        ("shop", "orders") => "warehouse",
        ("events", "sessions") => "bq",
        _ => return error(StatusCode::NOT_FOUND, "Not found"),
    };
    axum::Json(json!({"id": format!("{model}::{explore}"), "name": explore, "model_name": model, "connection_name": connection}))
        .into_response()
}

fn sql_of(query: &str) -> Option<&'static str> {
    Some(match query {
        "101" => {
            "SELECT\n    orders.status  AS \"orders.status\",\n    COUNT(*) AS \"orders.count\"\nFROM public.orders  AS orders\nWHERE orders.note <> 'Lit-Secret'\nGROUP BY\n    1\nORDER BY\n    2 DESC\nFETCH NEXT 500 ROWS ONLY"
        }
        "102" => {
            "SELECT\n    DATE(sessions.started_at) AS sessions_started_date,\n    COUNT(*) AS sessions_count\nFROM `analytics.web.sessions` AS sessions\nWHERE sessions.country = 'Country-Secret'\nGROUP BY\n    1\nLIMIT 500"
        }
        // A derived table whose Liquid Looker left in place.
        "104" => {
            "SELECT orders.id FROM public.orders AS orders WHERE {% condition orders.region %} orders.region {% endcondition %} AND orders.kind = 'Kind-Secret'"
        }
        "201" => "SELECT SUM(orders.total) AS \"orders.total\" FROM public.orders AS orders",
        "202" => {
            "SELECT sessions.source AS sessions_source, COUNT(*) AS sessions_count FROM `analytics.web.sessions` AS sessions GROUP BY 1"
        }
        "301" => {
            "SELECT customers.name AS \"customers.name\" FROM public.customers AS customers WHERE customers.tier = 'Hist-Secret'"
        }
        "302" => {
            "SELECT SUM(orders.total) AS \"orders.total\" FROM public.orders AS orders WHERE orders.region = 'Region-Secret'"
        }
        _ => return None,
    })
}

async fn run_sql(
    State(server): Shared,
    headers: HeaderMap,
    Path((id, format)): Path<(String, String)>,
) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    assert_eq!(format, "sql");
    match sql_of(&id) {
        Some(sql) => ([("content-type", "text")], sql).into_response(),
        // Query 103's model is gone: Looker cannot compile it.
        None => error(StatusCode::NOT_FOUND, "Not found"),
    }
}

/// System Activity's runs: (created, user, connection, dashboard, look, query, runs).
type Run = (
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    i64,
);

const RUNS: &[Run] = &[
    // Before the first sync's window.
    (
        "2026-11-20 12:00:00",
        Some("ann@example.com"),
        Some("warehouse"),
        None,
        Some(1),
        Some(101),
        4,
    ),
    // Two users on one look in one second: two executions.
    (
        "2026-12-04 09:00:00",
        Some("ann@example.com"),
        Some("warehouse"),
        None,
        Some(1),
        Some(101),
        2,
    ),
    (
        "2026-12-04 09:00:00",
        Some("bob@example.com"),
        Some("warehouse"),
        None,
        Some(1),
        Some(101),
        1,
    ),
    // A dashboard opened with a filter (a new query), its tile as saved, and an explore.
    (
        "2026-12-05 10:15:00",
        Some("ann@example.com"),
        Some("warehouse"),
        Some(10),
        None,
        Some(302),
        1,
    ),
    (
        "2026-12-05 10:15:00",
        Some("ann@example.com"),
        Some("warehouse"),
        Some(10),
        None,
        Some(201),
        1,
    ),
    (
        "2026-12-05 10:15:00",
        Some("bob@example.com"),
        Some("warehouse"),
        None,
        None,
        Some(301),
        3,
    ),
    (
        "2026-12-06 08:00:00",
        Some("carol@example.com"),
        Some("bq"),
        None,
        Some(2),
        Some(102),
        1,
    ),
    // SQL Runner: no look, no query.
    (
        "2026-12-06 09:00:00",
        Some("dave@example.com"),
        Some("warehouse"),
        None,
        None,
        None,
        1,
    ),
];

async fn run_inline(
    State(server): Shared,
    headers: HeaderMap,
    Path(format): Path<String>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if !authorized(&server, &headers) {
        return unauthenticated();
    }
    assert_eq!(format, "json");
    assert_eq!(body["model"], "system__activity");
    assert_eq!(body["view"], "history");
    assert_eq!(
        body["fields"],
        json!([
            "history.created_time",
            "user.email",
            "history.source",
            "history.connection_name",
            "dashboard.id",
            "look.id",
            "query.id",
            "history.query_run_count"
        ])
    );
    assert_eq!(body["sorts"], json!(["history.created_time"]));
    assert_eq!(body["query_timezone"], "UTC");
    assert_eq!(body["filters"]["query.model"], "-system__activity");
    assert_eq!(body["filters"]["history.source"], "-regenerator,-suggest");
    let window = body["filters"]["history.created_time"]
        .as_str()
        .unwrap()
        .to_string();
    server.history_windows.lock().unwrap().push(window.clone());
    let (from, to) = window.split_once(" to ").unwrap();
    let limit: usize = body["limit"].as_str().unwrap().parse().unwrap();
    // The instance's row cap: a larger limit is cut to it.
    let limit = limit.min(5000);
    let rows: Vec<Value> = RUNS
        .iter()
        .filter(|r| r.0 >= from && r.0 < to)
        .take(limit)
        .map(|(at, user, connection, dashboard, look, query, runs)| {
            json!({
                "history.created_time": at, "user.email": user, "history.source": "api4",
                "history.connection_name": connection, "dashboard.id": dashboard,
                "look.id": look, "query.id": query, "history.query_run_count": runs
            })
        })
        .collect();
    axum::Json(Value::Array(rows)).into_response()
}

async fn serve() -> (String, Arc<Server>) {
    let server = Arc::new(Server::default());
    let app = Router::new()
        .route("/api/4.0/login", post(login))
        .route("/api/4.0/connections", get(connections))
        .route("/api/4.0/looks/search", get(looks))
        .route("/api/4.0/dashboards/search", get(dashboards))
        .route("/api/4.0/dashboards/{id}/dashboard_elements", get(elements))
        .route("/api/4.0/lookml_models/{name}", get(model))
        .route(
            "/api/4.0/lookml_models/{model}/explores/{explore}",
            get(explore),
        )
        .route("/api/4.0/queries/{id}/run/{format}", get(run_sql))
        .route("/api/4.0/queries/run/{format}", post(run_inline))
        .with_state(server.clone());
    (serve_loopback(app).await, server)
}

fn cli(url: &str) -> Cli {
    Cli::new(
        &format!(
            "[[connectors]]\nid = \"{CONNECTOR_ID}\"\nname = \"lk\"\ntype = \"looker\"\n\
             url = \"{url}\"\nclient_id = \"usagelake-reader\"\nclient_secret = \"${{LOOKER_SECRET}}\"\n\
             page_size = 3\n\n\
             [[connectors]]\nid = \"9a0c5e1f-3b7d-4c2e-8f61-1d2e3f4a5b62\"\nname = \"lkbad\"\ntype = \"looker\"\n\
             url = \"{url}\"\nclient_id = \"usagelake-reader\"\nclient_secret = \"not-the-secret\"\n"
        ),
        &[("LOOKER_SECRET", CLIENT_SECRET)],
    )
}

#[tokio::test]
async fn looker_looks_dashboards_and_usage_are_scraped_exactly() {
    let (url, server) = serve().await;
    let cli = cli(&url);
    let (status, stdout, stderr) = cli.run(&["sync", "lk", "--date", "2026-12-06"]).await;
    assert_eq!(status, Some(0), "{stdout}\n{stderr}");
    let job: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["rows_upserted"], 15, "{job}");
    assert_eq!(
        job["report"],
        json!({
            "looks": 4, "dashboards": 3, "dashboard_charts": 5, "merged_result_tiles": 1,
            "queries_compiled": 7, "queries_not_compiled": 1,
            "history_from": "2026-11-30", "history_rows": 6, "history_runs": 9,
            "history_pages": 3, "history_runs_without_query": 1, "history_seconds_at_row_cap": 1,
            "rows_outside_slices": 0
        })
    );
    // One login, one expiry, one re-login; the 429 and the 503 retried once each.
    assert_eq!(server.logins.load(Ordering::SeqCst), 2);
    assert_eq!(server.looks_second_page_calls.load(Ordering::SeqCst), 2);
    assert_eq!(server.dashboard_12_calls.load(Ordering::SeqCst), 2);
    // Paged on time: a full page goes on from its last second, read again
    // whole; a second that fills a page alone is passed.
    assert_eq!(
        *server.history_windows.lock().unwrap(),
        [
            "2026-11-30 00:00:00 to 2026-12-07 00:00:00",
            "2026-12-05 10:15:00 to 2026-12-07 00:00:00",
            "2026-12-05 10:15:01 to 2026-12-07 00:00:00",
        ]
    );

    let definitions = "SELECT resource_type, resource_id, title, array_to_string(referenced_tables, ', ') AS referenced_tables, database, dashboard_id, dashboard_title, dashboard_url \
                       FROM bi_queries WHERE executed_at IS NULL ORDER BY resource_type, resource_id, dashboard_id";
    let expected = format!(
        "resource_type,resource_id,title,referenced_tables,database,dashboard_id,dashboard_title,dashboard_url\n\
         chart,look:1,Orders by status,public.orders,warehouse,,,\n\
         chart,look:2,Sessions per day,analytics.web.sessions,bq,,,\n\
         chart,look:3,Broken look,,,,,\n\
         chart,look:4,Templated look,public.orders,warehouse,,,\n\
         dashboard_chart,element:32,Revenue,public.orders,warehouse,10,Exec,{url}/dashboards/10\n\
         dashboard_chart,element:34,Merged,,,10,Exec,{url}/dashboards/10\n\
         dashboard_chart,element:41,Sessions,analytics.web.sessions,bq,11,Marketing,{url}/dashboards/11\n\
         dashboard_chart,look:1,Orders by status,public.orders,warehouse,10,Exec,{url}/dashboards/10\n\
         dashboard_chart,look:2,Sessions per day,analytics.web.sessions,bq,11,Marketing,{url}/dashboards/11\n"
    );
    assert_eq!(cli.query(definitions).await, expected);
    assert_eq!(
        cli.query("SELECT resource_id, sql_text FROM bi_queries WHERE resource_type = 'chart' ORDER BY resource_id").await,
        concat!(
            "resource_id,sql_text\n",
            "look:1,\"SELECT orders.status AS \"\"orders.status\"\", COUNT(*) AS \"\"orders.count\"\" FROM public.orders AS orders WHERE orders.note <> ? GROUP BY ? ORDER BY ? DESC FETCH NEXT ? ROWS ONLY\"\n",
            // BigQuery's backticks: the connection's dialect_name is
            // bigquery_standard_sql. Ordinals are literals too.
            "look:2,\"SELECT DATE(sessions.started_at) AS sessions_started_date, COUNT(*) AS sessions_count FROM `analytics.web.sessions` AS sessions WHERE sessions.country = ? GROUP BY ? LIMIT ?\"\n",
            // Looker would not compile it: no SQL.
            "look:3,\n",
            // Liquid left in a derived table is neutralized.
            "look:4,SELECT orders.id FROM public.orders AS orders WHERE orders.region AND orders.kind = ?\n",
        )
    );
    // A tile and the look it shows share a fingerprint.
    assert_eq!(
        cli.query("SELECT count(DISTINCT query_fingerprint) AS n FROM bi_queries WHERE resource_id = 'look:1'").await,
        "n\n1\n"
    );

    let runs = "SELECT CAST(date AS VARCHAR) AS day, resource_id, title, executed_by, CAST(executed_at AS VARCHAR) AS executed_at, execution_count, \
                array_to_string(referenced_tables, ', ') AS referenced_tables, database, dashboard_id, dashboard_url \
                FROM bi_queries WHERE resource_type = 'chart_view' ORDER BY executed_at, resource_id, executed_by";
    let runs_expected = format!(
        "day,resource_id,title,executed_by,executed_at,execution_count,referenced_tables,database,dashboard_id,dashboard_url\n\
         2026-12-04,look:1,Orders by status,ann@example.com,2026-12-04T09:00:00Z,2,public.orders,warehouse,,\n\
         2026-12-04,look:1,Orders by status,bob@example.com,2026-12-04T09:00:00Z,1,public.orders,warehouse,,\n\
         2026-12-05,query:201,Revenue,ann@example.com,2026-12-05T10:15:00Z,1,public.orders,warehouse,10,{url}/dashboards/10\n\
         2026-12-05,query:301,,bob@example.com,2026-12-05T10:15:00Z,3,public.customers,warehouse,,\n\
         2026-12-05,query:302,,ann@example.com,2026-12-05T10:15:00Z,1,public.orders,warehouse,10,{url}/dashboards/10\n\
         2026-12-06,look:2,Sessions per day,carol@example.com,2026-12-06T08:00:00Z,1,analytics.web.sessions,bq,,\n"
    );
    assert_eq!(cli.query(runs).await, runs_expected);

    // The next day's sync reads usage from the day the last one reached.
    let (status, next_stdout, next_stderr) = cli.run(&["sync", "lk", "--date", "2026-12-07"]).await;
    assert_eq!(status, Some(0), "{next_stdout}\n{next_stderr}");
    let next: Value = serde_json::from_str(&next_stdout).unwrap();
    assert_eq!(next["report"]["history_from"], "2026-12-06", "{next}");
    assert_eq!(next["report"]["history_rows"], 1, "{next}");
    assert_eq!(
        server.history_windows.lock().unwrap().last().unwrap(),
        "2026-12-06 00:00:00 to 2026-12-08 00:00:00"
    );
    assert_eq!(cli.query(runs).await, runs_expected);
    assert_eq!(
        cli.query("SELECT CAST(date AS VARCHAR) AS day, count(*) AS n FROM bi_queries WHERE executed_at IS NULL GROUP BY date ORDER BY day").await,
        "day,n\n2026-12-06,9\n2026-12-07,9\n"
    );

    // A dashboard list cut short: a failed sync naming the endpoint, the snapshot kept.
    server.malformed.store(true, Ordering::SeqCst);
    let (status, failed_stdout, failed_stderr) =
        cli.run(&["sync", "lk", "--date", "2026-12-07"]).await;
    assert_eq!(status, Some(1), "{failed_stdout}\n{failed_stderr}");
    let failed: Value = serde_json::from_str(&failed_stdout).unwrap();
    assert_eq!(failed["status"], "failed");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "connector lk: /api/4.0/dashboards/search did not answer the expected JSON (JSON cut short at line 1"
        ),
        "{error}"
    );
    let day = definitions.replace(
        "WHERE executed_at IS NULL",
        "WHERE executed_at IS NULL AND date = '2026-12-07'",
    );
    assert_eq!(cli.query(&day).await, expected);
    assert_eq!(cli.query(runs).await, runs_expected);

    // A refused key: Looker answers 404, and the error says what to check.
    let (status, bad_stdout, bad_stderr) = cli.run(&["sync", "lkbad"]).await;
    assert_eq!(status, Some(1), "{bad_stdout}\n{bad_stderr}");
    let bad: Value = serde_json::from_str(&bad_stdout).unwrap();
    assert_eq!(
        bad["error"],
        "connector lkbad: POST /api/4.0/login answered HTTP 404: the API key was refused; check client_id and client_secret (a Looker user's API key) and that url is the instance's"
    );

    let needles: Vec<&str> = [CLIENT_SECRET, TOKEN_1, TOKEN_2]
        .into_iter()
        .chain(LITERALS.iter().copied())
        .collect();
    cli.assert_no_leak(
        &[
            bad_stdout,
            bad_stderr,
            stdout,
            stderr,
            next_stdout,
            next_stderr,
            failed_stdout,
            failed_stderr,
        ],
        &needles,
    )
    .await;
}
