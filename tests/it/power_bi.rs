//! Power BI over a loopback server speaking the documented shapes of the
//! Entra ID token endpoint, the admin scanner API and the activity log:
//! a client-credentials token that expires (Power BI's 403 TokenExpired,
//! one re-login), workspaces scanned two at a time (`page_size = 2`) with
//! a 503 on the way and scans that run before they succeed, M sources
//! with `Value.NativeQuery`, a `[Query = …]` option built from a parameter
//! (templated SQL), navigation without SQL and a shared expression, a
//! report without SQL, dashboards whose tiles repeat a report, views paged
//! by `continuationUri` (an empty chunk and a 429 + Retry-After among
//! them), the views checkpoint, a scan result cut short (a failed sync, the
//! snapshot kept) and a refused secret. Exact rows; no secret, token or
//! literal anywhere.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::{Value, json};

use super::support::{Cli, serve_loopback};

const SECRET: &str = "pbi-client-SECRET-7731";
const TOKEN_1: &str = "eyJ-first-SECRET-token";
const TOKEN_2: &str = "eyJ-second-SECRET-token";
const TENANT: &str = "contoso.onmicrosoft.com";
const LITERALS: &[&str] = &["Lit-Secret-1", "Lit-Secret-2", "EU-Secret-3", "2026-01-01"];
const SCAN_A: &str = "e7d03602-4873-4760-b37e-1563ef5358e3";
const SCAN_B: &str = "67b7e93a-3fb3-493c-9e41-2c5051008f24";

#[derive(Default)]
struct Server {
    tokens: AtomicUsize,
    /// Set once the first token has been refused: it "expired".
    first_expired: AtomicBool,
    get_info_calls: AtomicUsize,
    status_calls: Mutex<HashMap<String, usize>>,
    limited_calls: AtomicUsize,
    /// `startDateTime` of every first-chunk activity request.
    activity_days: Mutex<BTreeSet<String>>,
    malformed: AtomicBool,
}

type Shared = State<Arc<Server>>;

/// Power BI's answer to a bad or expired bearer: 403 with an error code.
fn refused(server: &Server, headers: &HeaderMap) -> Option<Response> {
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let ok = match bearer {
        Some(TOKEN_1) => !server.first_expired.load(Ordering::SeqCst),
        Some(TOKEN_2) => true,
        _ => false,
    };
    (!ok).then(|| {
        (
            StatusCode::FORBIDDEN,
            axum::Json(json!({"error": {"code": "TokenExpired", "message": "Access token has expired, resubmit with a new access token"}})),
        )
            .into_response()
    })
}

async fn token(State(server): Shared, Path(tenant): Path<String>, body: String) -> Response {
    let form: HashMap<String, String> = url::form_urlencoded::parse(body.as_bytes())
        .into_owned()
        .collect();
    let field = |k: &str| form.get(k).map(String::as_str);
    assert_eq!(tenant, TENANT);
    assert_eq!(field("grant_type"), Some("client_credentials"));
    assert_eq!(
        field("scope"),
        Some("https://analysis.windows.net/powerbi/api/.default")
    );
    if field("client_id") != Some("app-1234") || field("client_secret") != Some(SECRET) {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."})),
        )
            .into_response();
    }
    let n = server.tokens.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({
        "token_type": "Bearer",
        "expires_in": 3599,
        "ext_expires_in": 3599,
        "access_token": if n == 0 { TOKEN_1 } else { TOKEN_2 },
    }))
    .into_response()
}

async fn modified(
    State(server): Shared,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refusal) = refused(&server, &headers) {
        return refusal;
    }
    assert_eq!(
        query.get("excludeInActiveWorkspaces").map(String::as_str),
        Some("true")
    );
    axum::Json(json!([{"id": "w2"}, {"id": "w1"}, {"id": "w3"}])).into_response()
}

async fn get_info(
    State(server): Shared,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    if let Some(refusal) = refused(&server, &headers) {
        return refusal;
    }
    for flag in [
        "lineage",
        "datasourceDetails",
        "datasetSchema",
        "datasetExpressions",
    ] {
        assert_eq!(query.get(flag).map(String::as_str), Some("True"), "{flag}");
    }
    if server.get_info_calls.fetch_add(1, Ordering::SeqCst) == 0 {
        return (StatusCode::SERVICE_UNAVAILABLE, "busy").into_response();
    }
    let id = match body["workspaces"].as_array().map(Vec::len) {
        Some(2) => {
            assert_eq!(body["workspaces"], json!(["w1", "w2"]));
            SCAN_A
        }
        _ => {
            assert_eq!(body["workspaces"], json!(["w3"]));
            SCAN_B
        }
    };
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"id": id, "createdDateTime": "2026-12-01T16:46:28.0487687Z", "status": "NotStarted"})),
    )
        .into_response()
}

async fn scan_status(
    State(server): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refusal) = refused(&server, &headers) {
        return refusal;
    }
    let n = {
        let mut calls = server.status_calls.lock().unwrap();
        let n = calls.entry(id.clone()).or_default();
        *n += 1;
        *n
    };
    let status = if n == 1 { "Running" } else { "Succeeded" };
    axum::Json(
        json!({"id": id, "createdDateTime": "2026-12-01T16:46:28.0487687Z", "status": status}),
    )
    .into_response()
}

fn sales_workspace() -> Value {
    json!({
        "id": "w1", "name": "Sales", "type": "Workspace", "state": "Active", "isOnDedicatedCapacity": false,
        "reports": [
            {"id": "r1", "name": "Sales overview", "datasetId": "d1", "reportType": "PowerBIReport",
             "createdDateTime": "2026-03-01T10:00:00.14", "modifiedDateTime": "2026-03-01T10:00:00.14"},
            {"id": "r2", "name": "Targets", "datasetId": "d2", "reportType": "PowerBIReport"},
            {"id": "r3", "name": "Invoice", "reportType": "PaginatedReport"}
        ],
        "dashboards": [
            {"id": "db1", "displayName": "Exec", "isReadOnly": false, "tiles": [
                {"id": "t1", "title": "Revenue", "reportId": "r1", "datasetId": "d1"},
                {"id": "t2", "title": "Orders", "reportId": "r1", "datasetId": "d1"},
                {"id": "t3", "title": "Targets", "reportId": "r2", "datasetId": "d2"},
                {"id": "t4", "title": "Ask a question", "datasetId": "d1"},
                {"id": "t5", "title": "Notes"}
            ]}
        ],
        "datasets": [
            {"id": "d1", "name": "Sales model", "configuredBy": "john@contoso.com", "targetStorageMode": "Abf",
             "tables": [
                {"name": "Orders", "columns": [{"name": "id", "dataType": "Int64"}], "measures": [], "isHidden": false,
                 "source": [{"expression": "let\n    Source = Sql.Database(\"sql.contoso.example\", \"SalesDb\"),\n    Q = Value.NativeQuery(Source, \"SELECT o.id, o.amount#(lf)FROM dbo.orders o WHERE o.status = 'Lit-Secret-1'\", null, [EnableFolding=true])\nin\n    Q"}]},
                {"name": "Customers", "columns": [], "source": [{"expression": "let\n    Source = Sql.Database(Server, \"SalesDb\"),\n    dbo_Customers = Source{[Schema=\"dbo\",Item=\"Customers\"]}[Data]\nin\n    dbo_Customers"}]},
                {"name": "Regions", "columns": [], "source": [{"expression": "let\n    Source = Sql.Database(\"sql.contoso.example\", \"SalesDb\", [Query=\"SELECT r.name AS \"\"Region Name\"\" FROM dbo.regions r WHERE r.code = '\" & RegionParam & \"' AND r.note <> 'Lit-Secret-2'\"])\nin\n    Source"}]},
                {"name": "Calendar", "columns": [], "source": [{"expression": "CALENDARAUTO()"}]}
             ],
             "expressions": [
                {"name": "RegionParam", "expression": "\"EU-Secret-3\" meta [IsParameterQuery=true, Type=\"Text\", IsParameterQueryRequired=true]"},
                {"name": "Server", "expression": "\"sql.contoso.example\" meta [IsParameterQuery=true, Type=\"Text\"]"}
             ]},
            {"id": "d2", "name": "Web data", "tables": [
                {"name": "Targets", "source": [{"expression": "let\n    Source = Excel.Workbook(Web.Contents(\"https://example.invalid/targets.xlsx\"), null, true)\nin\n    Source"}]}
             ], "expressions": null}
        ]
    })
}

fn marketing_workspace() -> Value {
    json!({
        "id": "w2", "name": "Marketing", "type": "Workspace", "state": "Active",
        "reports": [{"id": "r4", "name": "Campaigns", "datasetId": "d3"}],
        "dashboards": [
            {"id": "db2", "displayName": "Marketing", "tiles": [
                {"id": "t6", "title": "Campaigns", "reportId": "r4", "datasetId": "d3"},
                {"id": "t7", "title": "Sales", "reportId": "r1", "datasetId": "d1", "datasetWorkspaceId": "w1"}
            ]}
        ],
        "datasets": [
            {"id": "d3", "name": "Events", "tables": [
                {"name": "Events", "source": [{"expression": "let\n    Source = #\"Events query\"\nin\n    Source"}]}
             ],
             "expressions": [
                {"name": "Events query", "expression": "let\n    Source = Snowflake.Databases(\"acct.snowflakecomputing.com\", \"WH\"),\n    Q = Value.NativeQuery(Source{[Name=\"ANALYTICS\"]}[Data], \"select e.kind, count(*) from analytics.public.events e where e.day > '2026-01-01' group by 1\", null, [EnableFolding=true])\nin\n    Q"}
             ]}
        ]
    })
}

fn finance_workspace() -> Value {
    json!({
        "id": "w3", "name": "Finance", "type": "Workspace", "state": "Active",
        "reports": [{"id": "r5", "name": "Ledger", "datasetId": "d4"}],
        "dashboards": [],
        "datasets": [
            {"id": "d4", "name": "Ledger", "tables": [
                {"name": "Ledger", "source": [{"expression": "let\n    Source = Sql.Database(FinServer, FinDb),\n    Q = Value.NativeQuery(Source, \"SELECT SUM(l.amount) AS total FROM fin.ledger l\")\nin\n    Q"}]}
             ],
             "datasourceUsages": [{"datasourceInstanceId": "ds-fin"}]}
        ]
    })
}

async fn scan_result(
    State(server): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refusal) = refused(&server, &headers) {
        return refusal;
    }
    if server.malformed.load(Ordering::SeqCst) {
        return Response::builder()
            .header("content-type", "application/json")
            .body(axum::body::Body::from(
                "{\"workspaces\": [{\"id\": \"w1\", \"name\": \"Lit-Secret-1\", \"reports\": [",
            ))
            .unwrap();
    }
    let body = match id.as_str() {
        SCAN_A => json!({
            "workspaces": [sales_workspace(), marketing_workspace()],
            "datasourceInstances": [
                {"datasourceType": "Sql", "connectionDetails": {"server": "sql.contoso.example", "database": "SalesDb"}, "datasourceId": "ds-sales"}
            ]
        }),
        SCAN_B => json!({
            "workspaces": [finance_workspace()],
            "datasourceInstances": [
                {"datasourceType": "Sql", "connectionDetails": {"server": "fin.contoso.example", "database": "FinanceDb"}, "datasourceId": "ds-fin"}
            ],
            "misconfiguredDatasourceInstances": []
        }),
        _ => return StatusCode::NOT_FOUND.into_response(),
    };
    axum::Json(body).into_response()
}

fn event(id: &str, at: &str, activity: &str, user: &str, object: Value) -> Value {
    let mut event = json!({
        "Id": id, "RecordType": 20, "CreationTime": at, "Operation": activity,
        "OrganizationId": "e43e3248-3d83-44aa-a94d-c836bd7f9b79", "UserType": 0, "UserKey": "10033FFF",
        "Workload": "PowerBI", "UserId": user, "ClientIP": "127.0.0.1", "Activity": activity,
        "IsSuccess": true
    });
    event
        .as_object_mut()
        .unwrap()
        .extend(object.as_object().unwrap().clone());
    event
}

async fn activity_events(
    State(server): Shared,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    if let Some(refusal) = refused(&server, &headers) {
        return refusal;
    }
    // The first token "expires" here (views are read one request at a
    // time, so exactly one re-login follows).
    if headers
        .get("authorization")
        .is_some_and(|v| v == format!("Bearer {TOKEN_1}").as_str())
    {
        server.first_expired.store(true, Ordering::SeqCst);
        return refused(&server, &headers).unwrap();
    }
    let base = format!("http://{}", headers.get("host").unwrap().to_str().unwrap());
    let next =
        |token: &str| format!("{base}/v1.0/myorg/admin/activityevents?continuationToken='{token}'");
    let page = |events: Vec<Value>, next: Option<String>| {
        axum::Json(json!({
            "activityEventEntities": events,
            "continuationUri": next,
            "continuationToken": next.as_ref().map(|_| "opaque"),
            "lastResultSet": next.is_none(),
        }))
        .into_response()
    };
    if let Some(token) = query.get("continuationToken") {
        return match token.as_str() {
            // An empty chunk that is not the last one, then a 429.
            "'r2'" => page(vec![], Some(next("r3"))),
            "'r3'" => {
                if server.limited_calls.fetch_add(1, Ordering::SeqCst) == 0 {
                    return (
                        StatusCode::TOO_MANY_REQUESTS,
                        [("retry-after", "1")],
                        "Too many requests",
                    )
                        .into_response();
                }
                page(
                    vec![
                        event(
                            "e4",
                            "2026-12-01T11:00:00",
                            "ViewReport",
                            "bob@contoso.com",
                            json!({"ReportId": "r4", "ReportName": "Campaigns", "WorkspaceId": "w2"}),
                        ),
                        event(
                            "e5",
                            "2026-12-01T12:00:00",
                            "ViewReport",
                            "bob@contoso.com",
                            json!({"ReportId": "r9", "ReportName": "Old report", "WorkspaceId": "w1"}),
                        ),
                    ],
                    None,
                )
            }
            _ => StatusCode::BAD_REQUEST.into_response(),
        };
    }
    let start = query.get("startDateTime").cloned().unwrap_or_default();
    let end = query.get("endDateTime").cloned().unwrap_or_default();
    let day = start
        .trim_matches('\'')
        .split('T')
        .next()
        .unwrap_or_default()
        .to_string();
    assert_eq!(start, format!("'{day}T00:00:00.000Z'"));
    assert_eq!(end, format!("'{day}T23:59:59.999Z'"));
    server.activity_days.lock().unwrap().insert(day.clone());
    let filter = query.get("$filter").map(String::as_str);
    match (day.as_str(), filter) {
        ("2026-12-01", Some("Activity eq 'ViewReport'")) => page(
            vec![
                event(
                    "e1",
                    "2026-12-01T10:00:00",
                    "ViewReport",
                    "alice@contoso.com",
                    json!({"ReportId": "r1", "ReportName": "Sales overview", "WorkspaceId": "w1"}),
                ),
                // The same view logged twice: one row, counted twice.
                event(
                    "e2",
                    "2026-12-01T10:00:00",
                    "ViewReport",
                    "alice@contoso.com",
                    json!({"ReportId": "r1", "ReportName": "Sales overview", "WorkspaceId": "w1"}),
                ),
            ],
            Some(next("r2")),
        ),
        ("2026-12-01", Some("Activity eq 'ViewDashboard'")) => page(
            vec![event(
                "e6",
                "2026-12-01T09:00:00",
                "ViewDashboard",
                "carol@contoso.com",
                json!({"DashboardId": "db1", "DashboardName": "Exec", "WorkspaceId": "w1"}),
            )],
            None,
        ),
        ("2026-11-30", Some("Activity eq 'ViewDashboard'")) => page(
            vec![event(
                "e7",
                "2026-11-30T23:59:59",
                "ViewDashboard",
                "alice@contoso.com",
                json!({"DashboardId": "db2", "DashboardName": "Marketing", "WorkspaceId": "w2"}),
            )],
            None,
        ),
        (_, Some(_)) => page(vec![], None),
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

async fn serve() -> (String, Arc<Server>) {
    let server = Arc::new(Server::default());
    let app = Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(token))
        .route("/v1.0/myorg/admin/workspaces/modified", get(modified))
        .route("/v1.0/myorg/admin/workspaces/getInfo", post(get_info))
        .route(
            "/v1.0/myorg/admin/workspaces/scanStatus/{id}",
            get(scan_status),
        )
        .route(
            "/v1.0/myorg/admin/workspaces/scanResult/{id}",
            get(scan_result),
        )
        .route("/v1.0/myorg/admin/activityevents", get(activity_events))
        .with_state(server.clone());
    (serve_loopback(app).await, server)
}

fn cli(url: &str) -> Cli {
    let connector = |id: &str, name: &str, secret: &str| {
        format!(
            "[[connectors]]\nid = \"{id}\"\nname = \"{name}\"\ntype = \"power_bi\"\n\
             url = \"{url}\"\nauthority_url = \"{url}/\"\ntenant_id = \"{TENANT}\"\n\
             client_id = \"app-1234\"\nclient_secret = \"${{{secret}}}\"\npage_size = 2\n\n"
        )
    };
    Cli::new(
        &(connector("5b0c3f3e-1d2a-4c8e-9f10-2a3b4c5d6e71", "pbi", "PBI_SECRET")
            + &connector(
                "5b0c3f3e-1d2a-4c8e-9f10-2a3b4c5d6e72",
                "pbibad",
                "PBI_WRONG",
            )),
        &[("PBI_SECRET", SECRET), ("PBI_WRONG", "not-the-SECRET")],
    )
}

const ROWS: &str = "SELECT resource_type, resource_id, title, array_to_string(referenced_tables, ', ') AS referenced_tables, database, \
    dashboard_id, dashboard_title, dashboard_url, executed_by, executed_at, execution_count \
    FROM bi_queries WHERE connector_id = '5b0c3f3e-1d2a-4c8e-9f10-2a3b4c5d6e71' AND date = DATE '2026-12-01' \
    ORDER BY resource_type, resource_id, dashboard_id, executed_at";

#[tokio::test]
async fn power_bi_is_scanned_exactly_and_without_literals_or_secrets() {
    let (url, server) = serve().await;
    let cli = cli(&url);
    let (status, stdout, stderr) = cli.run(&["sync", "pbi", "--date", "2026-12-01"]).await;
    assert_eq!(status, Some(0), "{stdout}\n{stderr}");
    let job: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        job["report"],
        json!({
            "workspaces": 3, "scans": 2, "datasets": 4, "dataset_tables_with_sql": 4,
            "reports": 5, "dashboards": 2, "dashboard_charts": 4, "tiles_without_report": 2,
            "views": 5, "views_from": "2026-11-25", "rows_outside_slices": 0
        })
    );
    // 5 dataset tables + 5 reports + 4 memberships + 5 views.
    assert_eq!(job["rows_upserted"], 19, "{job}");
    // One token, one expiry (403 TokenExpired), one more token.
    assert_eq!(server.tokens.load(Ordering::SeqCst), 2);
    assert_eq!(
        server.get_info_calls.load(Ordering::SeqCst),
        3,
        "a 503, then two scans"
    );
    assert_eq!(
        server.limited_calls.load(Ordering::SeqCst),
        2,
        "a 429, then the chunk"
    );
    let days: Vec<String> = server
        .activity_days
        .lock()
        .unwrap()
        .iter()
        .cloned()
        .collect();
    assert_eq!(days.first().map(String::as_str), Some("2026-11-25"));
    assert_eq!(days.len(), 7);

    let sales_tables = "\"dbo.customers, dbo.orders, dbo.regions\"";
    let exec = format!("{url}/groups/w1/dashboards/db1");
    let marketing = format!("{url}/groups/w2/dashboards/db2");
    // Snowflake folds unquoted names to upper case.
    let expected = format!(
        "resource_type,resource_id,title,referenced_tables,database,dashboard_id,dashboard_title,dashboard_url,executed_by,executed_at,execution_count\n\
         chart,r1,Sales overview,{sales_tables},SalesDb,,,,,,1\n\
         chart,r2,Targets,,,,,,,,1\n\
         chart,r3,Invoice,,,,,,,,1\n\
         chart,r4,Campaigns,ANALYTICS.PUBLIC.EVENTS,,,,,,,1\n\
         chart,r5,Ledger,fin.ledger,FinanceDb,,,,,,1\n\
         chart_view,r1,Sales overview,{sales_tables},SalesDb,,,,alice@contoso.com,2026-12-01T10:00:00Z,2\n\
         chart_view,r4,Campaigns,ANALYTICS.PUBLIC.EVENTS,,,,,bob@contoso.com,2026-12-01T11:00:00Z,1\n\
         chart_view,r9,Old report,,,,,,bob@contoso.com,2026-12-01T12:00:00Z,1\n\
         dashboard_chart,r1,Sales overview,{sales_tables},SalesDb,db1,Exec,{exec},,,1\n\
         dashboard_chart,r1,Sales overview,{sales_tables},SalesDb,db2,Marketing,{marketing},,,1\n\
         dashboard_chart,r2,Targets,,,db1,Exec,{exec},,,1\n\
         dashboard_chart,r4,Campaigns,ANALYTICS.PUBLIC.EVENTS,,db2,Marketing,{marketing},,,1\n\
         dashboard_view,db1,Exec,{sales_tables},,db1,Exec,{exec},carol@contoso.com,2026-12-01T09:00:00Z,1\n\
         saved_query,d1/Customers,Sales model / Customers,dbo.customers,SalesDb,,,,,,1\n\
         saved_query,d1/Orders,Sales model / Orders,dbo.orders,SalesDb,,,,,,1\n\
         saved_query,d1/Regions,Sales model / Regions,dbo.regions,SalesDb,,,,,,1\n\
         saved_query,d3/Events,Events / Events,ANALYTICS.PUBLIC.EVENTS,,,,,,,1\n\
         saved_query,d4/Ledger,Ledger / Ledger,fin.ledger,FinanceDb,,,,,,1\n"
    );
    assert_eq!(cli.query(ROWS).await, expected);
    // The view of the day before went to its own day.
    assert_eq!(
        cli.query("SELECT resource_id, date, executed_by, dashboard_url FROM bi_queries WHERE date = DATE '2026-11-30'").await,
        format!("resource_id,date,executed_by,dashboard_url\ndb2,2026-11-30,alice@contoso.com,{marketing}\n")
    );
    assert_eq!(
        cli.query("SELECT resource_id, sql_text FROM bi_queries WHERE resource_type IN ('saved_query', 'chart') AND date = DATE '2026-12-01' ORDER BY resource_type, resource_id").await,
        concat!(
            "resource_id,sql_text\n",
            // A report carries every query of its dataset.
            "r1,\"SELECT o.id, o.amount FROM dbo.orders o WHERE o.status = ?;\nSELECT r.name AS \"\"Region Name\"\" FROM dbo.regions r WHERE r.code = ? AND r.note <> ?\"\n",
            // A dataset from an Excel file and a paginated report: no SQL.
            "r2,\n",
            "r3,\n",
            "r4,\"select e.kind, count(*) from analytics.public.events e where e.day > ? group by ?\"\n",
            "r5,SELECT SUM(l.amount) AS total FROM fin.ledger l\n",
            // Navigation without SQL: the table, no text.
            "d1/Customers,\n",
            // `#(lf)` and `\"\"` unescaped; the literal anonymized.
            "d1/Orders,\"SELECT o.id, o.amount FROM dbo.orders o WHERE o.status = ?\"\n",
            // A parameter pasted in with `&`: a value like any literal.
            "d1/Regions,\"SELECT r.name AS \"\"Region Name\"\" FROM dbo.regions r WHERE r.code = ? AND r.note <> ?\"\n",
            "d3/Events,\"select e.kind, count(*) from analytics.public.events e where e.day > ? group by ?\"\n",
            "d4/Ledger,SELECT SUM(l.amount) AS total FROM fin.ledger l\n",
        )
    );

    // The next day resumes the views where this sync reached.
    let (status, next_stdout, next_stderr) =
        cli.run(&["sync", "pbi", "--date", "2026-12-02"]).await;
    assert_eq!(status, Some(0), "{next_stdout}\n{next_stderr}");
    let next: Value = serde_json::from_str(&next_stdout).unwrap();
    assert_eq!(next["report"]["views_from"], "2026-12-01");
    assert_eq!(next["report"]["views"], 4);
    assert_eq!(server.tokens.load(Ordering::SeqCst), 3);

    // A scan result cut short: a failed sync naming the endpoint; the
    // day's snapshot is the one before.
    server.malformed.store(true, Ordering::SeqCst);
    let (status, failed_stdout, failed_stderr) =
        cli.run(&["sync", "pbi", "--date", "2026-12-01"]).await;
    assert_eq!(status, Some(1), "{failed_stdout}\n{failed_stderr}");
    let failed: Value = serde_json::from_str(&failed_stdout).unwrap();
    assert_eq!(failed["status"], "failed");
    let error = failed["error"].as_str().unwrap();
    assert!(
        error.starts_with("connector pbi: /v1.0/myorg/admin/workspaces/scanResult/")
            && error.contains(" did not answer the expected JSON (JSON cut short at line 1"),
        "{error}"
    );
    assert_eq!(cli.query(ROWS).await, expected);

    // A refused secret: the token endpoint's 401, no secret in the error.
    let (status, bad_stdout, bad_stderr) = cli.run(&["sync", "pbibad"]).await;
    assert_eq!(status, Some(1), "{bad_stdout}\n{bad_stderr}");
    let bad: Value = serde_json::from_str(&bad_stdout).unwrap();
    assert_eq!(
        bad["error"],
        format!(
            "connector pbibad: POST /{TENANT}/oauth2/v2.0/token answered HTTP 401: the credentials were refused; check the connector's username, password, token or key"
        )
    );

    let needles: Vec<&str> = [SECRET, TOKEN_1, TOKEN_2, "not-the-SECRET"]
        .into_iter()
        .chain(LITERALS.iter().copied())
        .collect();
    cli.assert_no_leak(
        &[
            stdout,
            stderr,
            next_stdout,
            next_stderr,
            failed_stdout,
            failed_stderr,
            bad_stdout,
            bad_stderr,
        ],
        &needles,
    )
    .await;
}
