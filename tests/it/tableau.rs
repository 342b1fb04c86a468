//! Tableau over a loopback server speaking its documented shapes: a
//! personal-access-token sign-in whose first token expires (one sign-in
//! again, on the Metadata API's own 401 body), Metadata API connections
//! paged by cursor with a `NODE_LIMIT_EXCEEDED` warning on partial data
//! (the page is asked again with fewer nodes) and a GraphQL timeout with
//! HTTP 200, a 429 with Retry-After, a 503 then success, custom SQL with
//! Tableau parameters in three dialects, a sheet without SQL, two
//! dashboards sharing a sheet, view counts differenced between two syncs,
//! and a workbook list cut short (a failed sync, the snapshot kept).
//! Exact rows; no token secret, session token or literal anywhere.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

const TOKEN_NAME: &str = "usagelake-reader";
const PAT_SECRET: &str = "pat-SECRET-4d1f9e";
const TOKEN_1: &str = "tab-token-SECRET-0001";
const TOKEN_2: &str = "tab-token-SECRET-0002";
const SITE_LUID: &str = "9a8b7c6d-0000-4000-8000-0000000000aa";
const LITERALS: &[&str] = &["Lit-Secret-West", "Lit-Secret-Batch", "Body-Secret"];
const CONNECTOR_ID: &str = "7e0c2a4b-1d3f-4b6a-9c8e-5f2a1b0c9d71";

#[derive(Default)]
struct Server {
    logins: AtomicUsize,
    first_expired: AtomicBool,
    timed_out: AtomicBool,
    workbook_429: AtomicBool,
    views_503: AtomicBool,
    views_bumped: AtomicBool,
    malformed: AtomicBool,
    /// Every Metadata API and views request, in order.
    calls: Mutex<Vec<String>>,
}

type Shared = State<Arc<Server>>;

impl Server {
    fn log(&self, line: String) {
        self.calls.lock().unwrap().push(line);
    }

    fn authorized(&self, headers: &HeaderMap) -> bool {
        match headers.get("x-tableau-auth").and_then(|v| v.to_str().ok()) {
            Some(TOKEN_1) => !self.first_expired.load(Ordering::SeqCst),
            Some(TOKEN_2) => true,
            _ => false,
        }
    }
}

/// The REST API's 401 for an expired or unknown token.
fn rest_unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error": {"summary": "Signin Error", "detail": "Invalid authentication credentials were provided.", "code": "401002"}})),
    )
        .into_response()
}

/// The Metadata API's 401 (DataHub quotes this body from Tableau Server).
fn metadata_unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"timestamp": "2026-12-06T20:00:00.000+00:00", "status": 401, "error": "Unauthorized", "path": "/relationship-service-war/graphql"})),
    )
        .into_response()
}

async fn signin(
    State(server): Shared,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    assert_eq!(
        headers.get("accept").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    let credentials = &body["credentials"];
    if credentials["personalAccessTokenName"] != TOKEN_NAME
        || credentials["personalAccessTokenSecret"] != PAT_SECRET
        || credentials["site"]["contentUrl"] != "finance"
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": {"summary": "Signin Error", "detail": "Error signing in to Tableau Server", "code": "401001"}})),
        )
            .into_response();
    }
    let n = server.logins.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({"credentials": {
        "site": {"id": SITE_LUID, "contentUrl": "finance"},
        "user": {"id": "5de011f8-5aa9-4d5b-b991-f462c8dd6bb7"},
        "token": if n == 0 { TOKEN_1 } else { TOKEN_2 },
        "estimatedTimeToExpiration": "361:59:59"
    }}))
    .into_response()
}

fn custom_sql() -> Vec<Value> {
    vec![
        json!({"id": "csql-1", "name": "Custom SQL Query", "isUnsupportedCustomSql": true,
               "query": "SELECT region, sum(amount) AS total FROM public.orders WHERE region = <Parameters.Region> AND note <> 'Lit-Secret-West' GROUP BY region",
               "connectionType": "postgres", "database": {"name": "warehouse", "connectionType": "postgres"},
               "tables": [{"name": "orders", "schema": "public"}],
               "downstreamSheets": [{"id": "sh-1"}]}),
        json!({"id": "csql-2", "name": "Loads", "isUnsupportedCustomSql": false,
               "query": "SELECT w.name, l.qty FROM ops.loads l JOIN ops.warehouses w ON w.id = l.warehouse_id WHERE l.batch = 'Lit-Secret-Batch' AND l.day >= <[Parameters].[Start Date]>",
               "connectionType": null, "database": {"name": "dw", "connectionType": "snowflake"},
               "tables": [{"name": "loads", "schema": "ops"}, {"name": "warehouses", "schema": "ops"}],
               "downstreamSheets": [{"id": "sh-3"}]}),
        json!({"id": "csql-3", "name": "Unused query", "isUnsupportedCustomSql": false,
               "query": "SELECT * FROM staging.events", "connectionType": null, "database": null,
               "tables": [], "downstreamSheets": []}),
    ]
}

fn workbooks() -> Vec<Value> {
    vec![
        json!({"id": "wb-1", "name": "Sales",
               "sheets": [
                   {"id": "sh-1", "luid": "view-s1", "name": "Revenue by region", "createdAt": "2026-03-01T10:00:00Z"},
                   {"id": "sh-2", "luid": "view-s2", "name": "Orders table", "createdAt": "2026-03-02T10:00:00Z"}],
               "dashboards": [
                   {"id": "db-1", "luid": "view-d1", "name": "Sales overview", "path": "Sales/Overview",
                    "sheets": [{"id": "sh-1"}, {"id": "sh-2"}, {"id": "sh-1"}]}],
               "embeddedDatasources": [
                   {"upstreamTables": [{"name": "[orders]", "schema": "[public]"}], "downstreamSheets": [{"id": "sh-2"}]}]}),
        json!({"id": "wb-2", "name": "Ops",
               "sheets": [
                   {"id": "sh-3", "luid": "view-s3", "name": "Warehouse load", "createdAt": "2026-04-01T08:00:00Z"},
                   // Hidden in its workbook: no luid.
                   {"id": "sh-4", "luid": "", "name": "Scratch", "createdAt": "2026-04-02T08:00:00Z"}],
               "dashboards": [
                   {"id": "db-2", "luid": "view-d2", "name": "Ops board", "path": "Ops/Board",
                    "sheets": [{"id": "sh-3"}, {"id": "sh-1"}]}],
               "embeddedDatasources": []}),
        json!({"id": "wb-3", "name": "Empty", "sheets": [], "dashboards": [], "embeddedDatasources": null}),
    ]
}

/// One page of `nodes` after `after` (cursors are `cursor-<id>`).
fn page_of(nodes: &[Value], first: usize, after: Option<&str>) -> Value {
    let start = after.map_or(0, |cursor| {
        nodes
            .iter()
            .position(|n| format!("cursor-{}", n["id"].as_str().unwrap()) == cursor)
            .unwrap()
            + 1
    });
    let page: Vec<Value> = nodes.iter().skip(start).take(first).cloned().collect();
    let end = page
        .last()
        .map(|n| format!("cursor-{}", n["id"].as_str().unwrap()));
    json!({"nodes": page, "pageInfo": {"hasNextPage": start + first < nodes.len(), "endCursor": end}})
}

async fn graphql(
    State(server): Shared,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let query = body["query"].as_str().unwrap();
    let first = body["variables"]["first"].as_u64().unwrap() as usize;
    let after = body["variables"]["after"].as_str();
    let connection = if query.contains("customSQLTablesConnection(first: $first, after: $after)") {
        "customSQLTablesConnection"
    } else {
        assert!(
            query.contains("workbooksConnection(first: $first, after: $after)"),
            "{query}"
        );
        "workbooksConnection"
    };
    assert!(
        query.contains("pageInfo { hasNextPage endCursor }"),
        "{query}"
    );
    server.log(format!(
        "{connection} first={first} after={}",
        after.unwrap_or("-")
    ));
    if connection == "workbooksConnection"
        && headers.get("x-tableau-auth").is_some_and(|v| v == TOKEN_1)
    {
        // The first token expires here: one sign-in again.
        server.first_expired.store(true, Ordering::SeqCst);
    }
    if !server.authorized(&headers) {
        return metadata_unauthorized();
    }
    if connection == "customSQLTablesConnection" {
        let nodes = custom_sql();
        if first > 1 {
            // Heavy nodes: any page over one is over the node limit, and
            // what comes back is partial.
            return axum::Json(json!({
                "data": {connection: page_of(&nodes[..1], 1, None)},
                "errors": [{"message": "Showing partial results. The request exceeded the 20000 node limit. Use pagination, additional filtering, or both in the query to adjust results.",
                            "extensions": {"severity": "WARNING", "code": "NODE_LIMIT_EXCEEDED", "properties": {"nodeLimit": 20000}}}]
            }))
            .into_response();
        }
        if after == Some("cursor-csql-1") && !server.timed_out.swap(true, Ordering::SeqCst) {
            return axum::Json(json!({
                "data": null,
                "errors": [{"message": "Reached time limit of PT5S for query execution.", "path": null, "extensions": null}]
            }))
            .into_response();
        }
        return axum::Json(json!({"data": {connection: page_of(&nodes, first, after)}}))
            .into_response();
    }
    if after.is_some() && !server.workbook_429.swap(true, Ordering::SeqCst) {
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [("retry-after", "1")],
            "slow down",
        )
            .into_response();
    }
    if server.malformed.load(Ordering::SeqCst) {
        return Response::builder()
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                "{\"data\": {\"workbooksConnection\": {\"nodes\": [{\"id\": \"wb-1\", \"name\": \"Body-Secret\"",
            ))
            .unwrap();
    }
    axum::Json(json!({
        "data": {connection: page_of(&workbooks(), first, after)},
        // A warning that leaves the data whole.
        "errors": [{"message": "Derived permissions are off", "extensions": {"severity": "WARNING", "code": "PERMISSIONS_MODE_SWITCHED"}}]
    }))
    .into_response()
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ViewParams {
    include_usage_statistics: bool,
    page_size: usize,
    page_number: usize,
}

async fn views(
    State(server): Shared,
    headers: HeaderMap,
    Path(site): Path<String>,
    Query(params): Query<ViewParams>,
) -> Response {
    assert_eq!(site, SITE_LUID);
    assert!(params.include_usage_statistics);
    assert_eq!(
        headers.get("accept").and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    server.log(format!("views page={}", params.page_number));
    if !server.authorized(&headers) {
        return rest_unauthorized();
    }
    if !server.views_503.swap(true, Ordering::SeqCst) {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    let bumped = server.views_bumped.load(Ordering::SeqCst);
    let all = [
        ("view-s1", if bumped { 13 } else { 10 }),
        ("view-s2", 4),
        ("view-s3", 0),
        ("view-d1", if bumped { 25 } else { 20 }),
        ("view-d2", 7),
        // A story: no sheet or dashboard of that id.
        ("view-story", if bumped { 4 } else { 3 }),
    ];
    let start = (params.page_number - 1) * params.page_size;
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(params.page_size)
        .map(|(id, n)| json!({"id": id, "name": id, "contentUrl": format!("W/sheets/{id}"), "usage": {"totalViewCount": n.to_string()}}))
        .collect();
    axum::Json(json!({
        "pagination": {"pageNumber": params.page_number.to_string(), "pageSize": params.page_size.to_string(), "totalAvailable": all.len().to_string()},
        "views": {"view": page}
    }))
    .into_response()
}

async fn serve() -> (String, Arc<Server>) {
    let server = Arc::new(Server::default());
    let app = Router::new()
        .route("/api/3.6/auth/signin", post(signin))
        .route("/api/metadata/graphql", post(graphql))
        .route("/api/3.6/sites/{site}/views", get(views))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), server)
}

async fn usagelake(dir: &std::path::Path, args: &[&str]) -> (Option<i32>, String, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_usagelake"))
        .current_dir(dir)
        .env("TABLEAU_PAT", PAT_SECRET)
        .env("USAGELAKE_LOG", "debug")
        .args(args)
        .output()
        .await
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

async fn query(dir: &std::path::Path, sql: &str) -> String {
    let (status, stdout, stderr) = usagelake(dir, &["query", sql, "--format", "csv"]).await;
    assert_eq!(status, Some(0), "{stderr}");
    stdout
}

#[tokio::test]
async fn tableau_custom_sql_sheets_dashboards_and_views_are_scraped_exactly() {
    let (url, server) = serve().await;
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(
        dir.join("config/usagelake.toml"),
        format!(
            "[[connectors]]\nid = \"{CONNECTOR_ID}\"\nname = \"tab\"\ntype = \"tableau\"\n\
             url = \"{url}\"\nsite = \"finance\"\ntoken_name = \"{TOKEN_NAME}\"\ntoken = \"${{TABLEAU_PAT}}\"\npage_size = 2\n"
        ),
    )
    .unwrap();

    let (status, first_stdout, first_stderr) = usagelake(dir, &["sync", "tab"]).await;
    assert_eq!(status, Some(0), "{first_stdout}\n{first_stderr}");
    let job: Value = serde_json::from_str(&first_stdout).unwrap();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["rows_upserted"], 11, "{job}");
    assert_eq!(
        job["report"]["chart_sql_from"],
        json!({"custom_sql": 2, "datasource_tables": 1, "none": 1})
    );
    assert_eq!(job["report"]["custom_sql_unsupported_by_catalog"], 1);
    assert_eq!(job["report"]["view_counts_baseline"], true);
    assert_eq!(job["report"]["views"], 0);
    assert_eq!(
        job["report"]["metadata_pages"],
        json!({"pages": 7, "node_limit_retries": 1, "timeout_retries": 1})
    );
    // One sign-in, the token expires, one sign-in again.
    assert_eq!(server.logins.load(Ordering::SeqCst), 2);
    assert_eq!(
        std::mem::take(&mut *server.calls.lock().unwrap()),
        [
            // Two nodes are over the node limit: the page is asked again with one.
            "customSQLTablesConnection first=2 after=-",
            "customSQLTablesConnection first=1 after=-",
            // A GraphQL timeout (HTTP 200), then the same page again.
            "customSQLTablesConnection first=1 after=cursor-csql-1",
            "customSQLTablesConnection first=1 after=cursor-csql-1",
            "customSQLTablesConnection first=1 after=cursor-csql-2",
            // Each connection starts at page_size; the first token expired.
            "workbooksConnection first=2 after=-",
            "workbooksConnection first=2 after=-",
            // 429 with Retry-After, then the page.
            "workbooksConnection first=2 after=cursor-wb-2",
            "workbooksConnection first=2 after=cursor-wb-2",
            // 503, then the pages.
            "views page=1",
            "views page=1",
            "views page=2",
            "views page=3",
        ]
    );

    let rows = "SELECT resource_type, resource_id, title, array_to_string(referenced_tables, ', ') AS referenced_tables, database, dashboard_id, dashboard_title, dashboard_url \
                FROM bi_queries WHERE executed_at IS NULL ORDER BY resource_type, resource_id, dashboard_id";
    // Snowflake folds unquoted names to upper case.
    let loads = "\"OPS.LOADS, OPS.WAREHOUSES\"";
    let site = format!("{url}/#/site/finance/views");
    let expected = format!(
        "resource_type,resource_id,title,referenced_tables,database,dashboard_id,dashboard_title,dashboard_url\n\
         chart,sh-4,Scratch,,,,,\n\
         chart,view-s1,Revenue by region,public.orders,warehouse,,,\n\
         chart,view-s2,Orders table,public.orders,,,,\n\
         chart,view-s3,Warehouse load,{loads},dw,,,\n\
         dashboard_chart,view-s1,Revenue by region,public.orders,warehouse,view-d1,Sales overview,{site}/Sales/Overview\n\
         dashboard_chart,view-s1,Revenue by region,public.orders,warehouse,view-d2,Ops board,{site}/Ops/Board\n\
         dashboard_chart,view-s2,Orders table,public.orders,,view-d1,Sales overview,{site}/Sales/Overview\n\
         dashboard_chart,view-s3,Warehouse load,{loads},dw,view-d2,Ops board,{site}/Ops/Board\n\
         saved_query,csql-1,Custom SQL Query,public.orders,warehouse,,,\n\
         saved_query,csql-2,Loads,{loads},dw,,,\n\
         saved_query,csql-3,Unused query,staging.events,,,,\n"
    );
    assert_eq!(query(dir, rows).await, expected);
    assert_eq!(
        query(dir, "SELECT resource_id, sql_text FROM bi_queries WHERE resource_type = 'saved_query' ORDER BY resource_id").await,
        concat!(
            "resource_id,sql_text\n",
            // Tableau parameters, like literals, are `?`.
            "csql-1,\"SELECT region, sum(amount) AS total FROM public.orders WHERE region = ? AND note <> ? GROUP BY region\"\n",
            "csql-2,\"SELECT w.name, l.qty FROM ops.loads l JOIN ops.warehouses w ON w.id = l.warehouse_id WHERE l.batch = ? AND l.day >= ?\"\n",
            "csql-3,SELECT * FROM staging.events\n",
        )
    );
    // A chart shares its custom SQL's fingerprint; a sheet without SQL has none.
    assert_eq!(
        query(dir, "SELECT c.resource_id, c.query_fingerprint = s.query_fingerprint AS same FROM bi_queries c JOIN bi_queries s ON s.resource_type = 'saved_query' AND c.sql_text = s.sql_text WHERE c.resource_type = 'chart' ORDER BY c.resource_id").await,
        "resource_id,same\nview-s1,true\nview-s3,true\n"
    );

    // Views move; the same day synced again differences from the same base.
    server.views_bumped.store(true, Ordering::SeqCst);
    let (status, second_stdout, second_stderr) = usagelake(dir, &["sync", "tab"]).await;
    assert_eq!(status, Some(0), "{second_stdout}\n{second_stderr}");
    let again: Value = serde_json::from_str(&second_stdout).unwrap();
    assert_eq!(again["rows_upserted"], 13, "{again}");
    assert_eq!(again["report"]["views"], 2, "{again}");
    assert_eq!(again["report"]["views_unmatched"], 1, "{again}");
    assert_eq!(server.logins.load(Ordering::SeqCst), 3);
    assert_eq!(query(dir, rows).await, expected);
    let today = chrono::Utc::now().date_naive();
    assert_eq!(
        query(dir, "SELECT resource_type, resource_id, title, array_to_string(referenced_tables, ', ') AS t, dashboard_id, dashboard_url, execution_count, executed_by IS NULL AS anonymous, CAST(date AS VARCHAR) AS day FROM bi_queries WHERE executed_at IS NOT NULL ORDER BY resource_type").await,
        format!(
            "resource_type,resource_id,title,t,dashboard_id,dashboard_url,execution_count,anonymous,day\n\
             chart_view,view-s1,Revenue by region,public.orders,,,3,true,{today}\n\
             dashboard_view,view-d1,Sales overview,public.orders,view-d1,{site}/Sales/Overview,5,true,{today}\n"
        )
    );

    // A workbook list cut short: a failed sync naming the endpoint, the snapshot kept.
    server.malformed.store(true, Ordering::SeqCst);
    let (status, failed_stdout, failed_stderr) = usagelake(dir, &["sync", "tab"]).await;
    assert_eq!(status, Some(1), "{failed_stdout}\n{failed_stderr}");
    let failed: Value = serde_json::from_str(&failed_stdout).unwrap();
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with(
            "connector tab: /api/metadata/graphql did not answer the expected JSON (JSON cut short at line 1"
        ),
        "{error}"
    );
    assert_eq!(query(dir, rows).await, expected);
    assert_eq!(
        query(
            dir,
            "SELECT status, count(*) AS n FROM sync_jobs GROUP BY status ORDER BY status"
        )
        .await,
        "status,n\nfailed,1\nsucceeded,2\n"
    );

    let mut texts = vec![
        first_stdout,
        first_stderr,
        second_stdout,
        second_stderr,
        failed_stdout,
        failed_stderr,
    ];
    texts.push(query(dir, "SELECT id, title, sql_text, query_fingerprint, database, executed_by, dashboard_title, dashboard_url, array_to_string(referenced_tables, ',') AS t, array_to_string(written_tables, ',') AS w, array_to_string(referenced_columns, ',') AS c FROM bi_queries").await);
    texts.push(query(dir, "SELECT * FROM sync_jobs").await);
    for file in super::support::files_under(dir) {
        if !file.starts_with("config/") {
            texts.push(
                String::from_utf8_lossy(&std::fs::read(dir.join(&file)).unwrap()).into_owned(),
            );
        }
    }
    for text in &texts {
        for needle in [PAT_SECRET, TOKEN_1, TOKEN_2].iter().chain(LITERALS) {
            let line = text.lines().find(|l| l.contains(needle));
            assert!(line.is_none(), "{needle:?} leaked: {line:?}");
        }
    }
}
