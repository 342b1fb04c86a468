//! The Usage Analysis page: `/ui/` (one page, assets compiled into the
//! binary) and its data API `/api/ui/…` (JSON from DataFusion queries over
//! the metric tables), plus `usagelake report`, the same page as one file
//! with the data embedded.
//!
//! The page routes need no token (the page asks for one when the API
//! answers 401); the API routes go wherever the rest of the API's auth is.

mod filters;
mod panels;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use axum::Json;
use axum::Router;
use axum::extract::{Path as UrlPath, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use chrono::NaiveDate;
use datafusion::arrow::json::WriterBuilder;
use datafusion::arrow::json::writer::JsonArray;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::ParamValues;
use datafusion::prelude::SessionContext;
use serde::Serialize;
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::api::{ErrorBody, gzip};
use crate::config::SpaceConfig;
use crate::lake::{self, Lake, LakeError};
pub use filters::Filters;
use panels::{Panel, TABS};

/// Errors of the page and its data API.
#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("bad filter: {0}")]
    BadFilter(String),
    #[error(
        "no tab {0:?}; tabs: overview, features, engagement, retention, data_products, platform"
    )]
    UnknownTab(String),
    #[error("no drilldown for panel {0:?}; GET /api/ui/meta lists the panels that have one")]
    UnknownDrill(String),
    #[error("no panel {0:?}; GET /api/ui/meta lists the tabs and their panels")]
    UnknownPanel(String),
    #[error(transparent)]
    Lake(#[from] LakeError),
    #[error("panel {panel}: query failed: {source}")]
    Query {
        panel: String,
        #[source]
        source: Box<datafusion::error::DataFusionError>,
    },
    #[error("converting the rows of {panel} to JSON: {source}")]
    Json {
        panel: String,
        #[source]
        source: datafusion::arrow::error::ArrowError,
    },
    #[error("writing the report to {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("listening on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = match &self {
            UiError::BadFilter(_) => StatusCode::BAD_REQUEST,
            UiError::UnknownTab(_) | UiError::UnknownDrill(_) | UiError::UnknownPanel(_) => {
                StatusCode::NOT_FOUND
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::warn!(error = %self, "ui data request failed");
        }
        (
            status,
            Json(serde_json::json!({ "error": self.to_string() })),
        )
            .into_response()
    }
}

const INDEX_HTML: &str = include_str!("../../assets/ui/index.html");
const APP_JS: &str = include_str!("../../assets/ui/app.js");
const APP_CSS: &str = include_str!("../../assets/ui/app.css");
/// Apache ECharts 6.1.0, the released `dist/echarts.min.js` of the npm package.
const ECHARTS_JS: &str = include_str!("../../assets/ui/vendor/echarts.min.js");
const ECHARTS_LICENSE: &str = include_str!("../../assets/ui/vendor/LICENSE-echarts");
const ECHARTS_NOTICE: &str = include_str!("../../assets/ui/vendor/NOTICE-echarts");

/// Drilldowns return at most this many rows (the page says so).
const DRILL_ROW_LIMIT: usize = 5000;
/// An exported report keeps this many rows of each point's drilldown (and
/// says "first N of M"): a 30-day series alone has 30 points, and a file
/// that opens from disk should stay a few MB on a large lake.
const REPORT_DRILL_ROWS: usize = 100;

/// The configured spaces, read on every request so that a daemon's
/// configuration reload renames products on the page too.
pub type SpacesFn = Arc<dyn Fn() -> Vec<SpaceConfig> + Send + Sync>;

/// What the data API reads: the lake, and the configuration's `[[spaces]]`
/// for the names of spaces and products (the usage tables hold their ids).
#[derive(Clone)]
pub struct UiState {
    lake: Lake,
    spaces: SpacesFn,
}

impl UiState {
    pub fn new(lake: Lake, spaces: SpacesFn) -> Self {
        Self { lake, spaces }
    }

    /// A state whose spaces never change (`usagelake ui`, `report`, tests).
    pub fn fixed(lake: Lake, spaces: Vec<SpaceConfig>) -> Self {
        Self::new(lake, Arc::new(move || spaces.clone()))
    }
}

/// The page and the data API together, for `usagelake ui`.
pub fn router(state: UiState) -> Router {
    page_routes()
        .merge(api_routes(state))
        .layer(axum::middleware::from_fn(gzip::compress))
}

/// A file of the page, compiled in; its gzip form is made on the first
/// request that accepts it and kept.
struct Asset {
    content_type: &'static str,
    body: &'static str,
    gzipped: OnceLock<Vec<u8>>,
}

impl Asset {
    const fn new(content_type: &'static str, body: &'static str) -> Self {
        Self {
            content_type,
            body,
            gzipped: OnceLock::new(),
        }
    }

    fn respond(&'static self, headers: &HeaderMap) -> Response {
        let common = [
            (header::CONTENT_TYPE, self.content_type),
            (header::CACHE_CONTROL, "no-cache"),
            (header::VARY, "accept-encoding"),
        ];
        if gzip::accepts_gzip(headers) && self.body.len() >= gzip::MIN_BYTES {
            let packed = self
                .gzipped
                .get_or_init(|| gzip::gzip(self.body.as_bytes()));
            (
                common,
                [(header::CONTENT_ENCODING, "gzip")],
                packed.as_slice(),
            )
                .into_response()
        } else {
            (common, self.body).into_response()
        }
    }
}

static INDEX: Asset = Asset::new("text/html; charset=utf-8", INDEX_HTML);
static SCRIPT: Asset = Asset::new("text/javascript; charset=utf-8", APP_JS);
static STYLE: Asset = Asset::new("text/css; charset=utf-8", APP_CSS);
static ECHARTS: Asset = Asset::new("text/javascript; charset=utf-8", ECHARTS_JS);
static LICENSE: Asset = Asset::new("text/plain; charset=utf-8", ECHARTS_LICENSE);
static NOTICE: Asset = Asset::new("text/plain; charset=utf-8", ECHARTS_NOTICE);

/// `/ui/` and its assets: no data, no token.
pub fn page_routes() -> Router {
    let asset = |asset: &'static Asset| {
        get(move |headers: HeaderMap| async move { asset.respond(&headers) })
    };
    Router::new()
        .route("/ui", get(|| async { Redirect::permanent("/ui/") }))
        .route("/ui/", asset(&INDEX))
        .route("/ui/app.js", asset(&SCRIPT))
        .route("/ui/app.css", asset(&STYLE))
        .route("/ui/vendor/echarts.min.js", asset(&ECHARTS))
        .route("/ui/vendor/LICENSE-echarts", asset(&LICENSE))
        .route("/ui/vendor/NOTICE-echarts", asset(&NOTICE))
}

/// `/api/ui/meta`, `/api/ui/tabs/{tab}`, `/api/ui/panels/{panel}`,
/// `/api/ui/drill/{panel}`.
pub fn api_routes(state: UiState) -> Router {
    Router::new()
        .route("/api/ui/meta", get(meta_handler))
        .route("/api/ui/tabs/{tab}", get(tab_handler))
        .route("/api/ui/panels/{panel}", get(panel_handler))
        .route("/api/ui/drill/{panel}", get(drill_handler))
        .with_state(state)
}

/// Serves [`router`] on `addr` until Ctrl-C.
pub async fn serve(state: UiState, addr: &str) -> Result<(), UiError> {
    let listen_err = |source| UiError::Listen {
        addr: addr.to_string(),
        source,
    };
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(listen_err)?;
    let local: SocketAddr = listener.local_addr().map_err(listen_err)?;
    // The line a script (or a test) waits for to learn the port.
    println!("usagelake ui listening on http://{local}/ui/");
    axum::serve(listener, router(state))
        .with_graceful_shutdown(async {
            let _ = tokio::signal::ctrl_c().await;
        })
        .await
        .map_err(listen_err)
}

/// The page's filters (documented here; the handlers read the query as a
/// map so an unknown key is a 400 naming it).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct FilterQuery {
    /// As-of date YYYY-MM-DD of the metric tables [default: the newest the metrics job wrote].
    as_of: Option<String>,
    /// First day of the date range, YYYY-MM-DD [default: 29 days before `to`].
    from: Option<String>,
    /// Last day of the date range, YYYY-MM-DD [default: `as_of`]; at most 3 years after `from`.
    to: Option<String>,
    /// A customer domain of the as-of roster [default: all].
    domain: Option<String>,
    /// A role of the as-of roster [default: all].
    role: Option<String>,
    /// A license type of the as-of roster [default: all].
    license: Option<String>,
    /// Platform: a user group [default: all].
    group: Option<String>,
    /// Platform: a package [default: all].
    package: Option<String>,
}

/// The clicked point of a drilldown: the values the page takes from the
/// point's row (see each panel's `drill` in the page).
#[derive(Debug, IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub(crate) struct DrillPoint {
    /// The point's first key (a date, domain, cohort month, fingerprint or package).
    x: Option<String>,
    /// The point's second key, for panels with two (status, feature area, activity month).
    y: Option<String>,
}

/// The page's filter choices and its tabs and panels.
#[utoipa::path(
    get,
    path = "/api/ui/meta",
    params(FilterQuery),
    responses(
        (status = 200, body = Meta),
        (status = 400, description = "A bad filter value", body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
pub(crate) async fn meta_handler(
    State(state): State<UiState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Meta>, UiError> {
    let ctx = session(&state)?;
    let default_as_of = latest_as_of(&ctx).await?;
    let filters = Filters::parse(&query, default_as_of, false)?;
    Ok(Json(meta(&ctx, &filters, default_as_of).await?))
}

/// One tab's panels: each panel's rows, or the note saying which job fills
/// its tables.
#[utoipa::path(
    get,
    path = "/api/ui/tabs/{tab}",
    params(
        ("tab" = String, Path, description = "overview, features, engagement, retention, data_products or platform"),
        FilterQuery
    ),
    responses(
        (status = 200, body = TabData),
        (status = 400, description = "A bad filter value", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such tab", body = ErrorBody)
    )
)]
pub(crate) async fn tab_handler(
    State(state): State<UiState>,
    UrlPath(tab): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<TabData>, UiError> {
    let tab = panels::tab(&tab).ok_or(UiError::UnknownTab(tab))?;
    let ctx = session(&state)?;
    let filters = checked_filters(&ctx, &query, false).await?;
    Ok(Json(tab_data(&ctx, tab, &filters).await?))
}

/// One panel's rows, or the note saying which job fills its tables (the
/// page asks for each panel on its own, so a slow one holds only itself).
#[utoipa::path(
    get,
    path = "/api/ui/panels/{panel}",
    params(
        ("panel" = String, Path, description = "A panel id (the `panels` of /api/ui/meta's tabs)"),
        FilterQuery
    ),
    responses(
        (status = 200, body = PanelData),
        (status = 400, description = "A bad filter value", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such panel", body = ErrorBody)
    )
)]
pub(crate) async fn panel_handler(
    State(state): State<UiState>,
    UrlPath(panel): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<PanelData>, UiError> {
    let panel = panels::panel(&panel).ok_or(UiError::UnknownPanel(panel))?;
    let ctx = session(&state)?;
    let filters = checked_filters(&ctx, &query, false).await?;
    Ok(Json(panel_data(&ctx, panel, &filters).await?))
}

/// The rows behind one point of a panel (at most 5,000).
#[utoipa::path(
    get,
    path = "/api/ui/drill/{panel}",
    params(
        ("panel" = String, Path, description = "A panel with a drilldown (`drill: true` in /api/ui/meta)"),
        FilterQuery,
        DrillPoint
    ),
    responses(
        (status = 200, body = Drill),
        (status = 400, description = "A bad filter or point value", body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such panel, or it has no drilldown", body = ErrorBody)
    )
)]
pub(crate) async fn drill_handler(
    State(state): State<UiState>,
    UrlPath(panel): UrlPath<String>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Drill>, UiError> {
    let panel = panels::panel(&panel)
        .filter(|p| p.drill.is_some())
        .ok_or(UiError::UnknownDrill(panel))?;
    let ctx = session(&state)?;
    let filters = checked_filters(&ctx, &query, true).await?;
    Ok(Json(drill(&ctx, panel, &filters).await?))
}

fn session(state: &UiState) -> Result<SessionContext, UiError> {
    let ctx = lake::session_for(&state.lake)?;
    crate::metrics::register_outputs(&ctx)?;
    register_names(&ctx, &(state.spaces)()).map_err(LakeError::DataFusion)?;
    Ok(ctx)
}

/// `space_names(space_id, space_name)` and `product_names(space_id,
/// product_id, product_name)` from the configured spaces, ids as the usage
/// tables store them. A space without a `name` is called by its slug.
fn register_names(ctx: &SessionContext, spaces: &[SpaceConfig]) -> datafusion::error::Result<()> {
    let spaces_rows: Vec<Vec<String>> = spaces
        .iter()
        .map(|s| {
            vec![
                s.id_string(),
                s.name.clone().unwrap_or_else(|| s.slug.clone()),
            ]
        })
        .collect();
    let product_rows: Vec<Vec<String>> = spaces
        .iter()
        .flat_map(|s| {
            s.products
                .iter()
                .map(move |p| vec![s.id_string(), p.id_string(), p.name.clone()])
        })
        .collect();
    ctx.register_table(
        "space_names",
        crate::lake::text_table(&["space_id", "space_name"], &spaces_rows)?,
    )?;
    ctx.register_table(
        "product_names",
        crate::lake::text_table(&["space_id", "product_id", "product_name"], &product_rows)?,
    )?;
    Ok(())
}

/// Parses the filters and checks that a chosen domain, role or license
/// exists in the as-of roster (a typo would otherwise show empty charts).
async fn checked_filters(
    ctx: &SessionContext,
    query: &HashMap<String, String>,
    drill: bool,
) -> Result<Filters, UiError> {
    let default_as_of = latest_as_of(ctx).await?;
    let filters = Filters::parse(query, default_as_of, drill)?;
    let choices = [
        ("domain", &filters.domain, "customer_domain"),
        ("role", &filters.role, "role"),
        ("license", &filters.license, "license_type"),
    ];
    for (key, value, column) in choices {
        if value.is_empty() {
            continue;
        }
        let known = roster_values(ctx, &filters, column).await?;
        if !known.is_empty() && !known.contains(value) {
            let mut shown = known
                .iter()
                .take(20)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if known.len() > 20 {
                shown.push_str(", …");
            }
            return Err(UiError::BadFilter(format!(
                "{key}: {value:?} is not in the user roster of {}; known: {shown}",
                filters.as_of
            )));
        }
    }
    Ok(filters)
}

/// The newest as-of date the metrics job wrote (`dau`), else the newest
/// activity day, else yesterday.
async fn latest_as_of(ctx: &SessionContext) -> Result<NaiveDate, UiError> {
    for sql in [
        "SELECT CAST(max(as_of) AS VARCHAR) AS d FROM dau",
        "SELECT CAST(max(\"date\") AS VARCHAR) AS d FROM user_day",
    ] {
        let rows = rows_of("meta", run(ctx, "meta", sql, None).await?)?;
        if let Some(d) = rows
            .first()
            .and_then(|r| r["d"].as_str())
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
        {
            return Ok(d);
        }
    }
    Ok(chrono::Utc::now().date_naive() - chrono::Days::new(1))
}

async fn roster_values(
    ctx: &SessionContext,
    filters: &Filters,
    column: &str,
) -> Result<Vec<String>, UiError> {
    // `column` is one of three constants above, never input.
    let sql = format!(
        "SELECT DISTINCT {column} AS v FROM user_roster WHERE as_of = $as_of::DATE AND {column} IS NOT NULL ORDER BY 1"
    );
    strings(ctx, &sql, Some(filters.placeholders())).await
}

async fn strings(
    ctx: &SessionContext,
    sql: &str,
    params: Option<ParamValues>,
) -> Result<Vec<String>, UiError> {
    let rows = rows_of("meta", run(ctx, "meta", sql, params).await?)?;
    Ok(rows
        .iter()
        .filter_map(|r| r["v"].as_str().map(str::to_string))
        .collect())
}

/// What the page needs to draw its filters and tabs.
#[derive(Debug, Serialize, ToSchema)]
pub struct Meta {
    /// Dates the metrics job wrote, newest first.
    pub as_of_dates: Vec<String>,
    pub default_as_of: String,
    /// The filters in force (defaults filled in).
    pub filters: FilterEcho,
    /// The activity days the lake holds (`user_day`).
    pub first_date: Option<String>,
    pub last_date: Option<String>,
    pub domains: Vec<String>,
    pub roles: Vec<String>,
    pub licenses: Vec<String>,
    pub groups: Vec<String>,
    pub packages: Vec<String>,
    pub tabs: Vec<TabMeta>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TabMeta {
    pub id: &'static str,
    pub title: &'static str,
    pub panels: Vec<PanelMeta>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PanelMeta {
    pub id: &'static str,
    pub title: &'static str,
    pub drill: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct FilterEcho {
    pub as_of: String,
    pub from: String,
    pub to: String,
    pub domain: String,
    pub role: String,
    pub license: String,
    pub group: String,
    pub package: String,
}

impl From<&Filters> for FilterEcho {
    fn from(f: &Filters) -> Self {
        Self {
            as_of: f.as_of.to_string(),
            from: f.from.to_string(),
            to: f.to.to_string(),
            domain: f.domain.clone(),
            role: f.role.clone(),
            license: f.license.clone(),
            group: f.group.clone(),
            package: f.package.clone(),
        }
    }
}

pub async fn meta(
    ctx: &SessionContext,
    filters: &Filters,
    default_as_of: NaiveDate,
) -> Result<Meta, UiError> {
    let params = || Some(filters.placeholders());
    let as_of_dates = strings(
        ctx,
        "SELECT DISTINCT CAST(as_of AS VARCHAR) AS v FROM dau ORDER BY 1 DESC",
        None,
    )
    .await?;
    let range = rows_of(
        "meta",
        run(
            ctx,
            "meta",
            "SELECT CAST(min(\"date\") AS VARCHAR) AS first, CAST(max(\"date\") AS VARCHAR) AS last FROM user_day",
            None,
        )
        .await?,
    )?;
    let first = |key: &str| {
        range
            .first()
            .and_then(|r| r[key].as_str())
            .map(str::to_string)
    };
    let mut groups = Vec::new();
    let mut packages = Vec::new();
    if ctx.table_exist("platform_users").unwrap_or(false) {
        groups = strings(
            ctx,
            "SELECT DISTINCT v FROM (SELECT unnest(groups) AS v FROM platform_users) g WHERE v IS NOT NULL ORDER BY 1",
            None,
        )
        .await?;
    }
    if ctx.table_exist("platform_events").unwrap_or(false) {
        packages = strings(
            ctx,
            "SELECT DISTINCT package AS v FROM platform_events WHERE \"date\" BETWEEN $from::DATE AND $to::DATE ORDER BY 1",
            params(),
        )
        .await?;
    }
    Ok(Meta {
        as_of_dates,
        default_as_of: default_as_of.to_string(),
        filters: filters.into(),
        first_date: first("first"),
        last_date: first("last"),
        domains: roster_values(ctx, filters, "customer_domain").await?,
        roles: roster_values(ctx, filters, "role").await?,
        licenses: roster_values(ctx, filters, "license_type").await?,
        groups,
        packages,
        tabs: TABS
            .iter()
            .map(|t| TabMeta {
                id: t.id,
                title: t.title,
                panels: t
                    .panels
                    .iter()
                    .map(|p| PanelMeta {
                        id: p.id,
                        title: p.title,
                        drill: p.drill.is_some(),
                    })
                    .collect(),
            })
            .collect(),
    })
}

/// One tab's panels for the filters.
#[derive(Debug, Serialize, ToSchema)]
pub struct TabData {
    pub tab: &'static str,
    pub title: &'static str,
    pub filters: FilterEcho,
    pub panels: Vec<PanelData>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PanelData {
    pub id: &'static str,
    pub title: &'static str,
    pub drill: bool,
    /// The columns of `rows` in the query's order.
    pub columns: Vec<String>,
    /// The panel's query result, one object per row.
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Value>,
    /// Why there is no chart: which table is missing or empty and which
    /// job fills it, or that the filters match nothing.
    pub note: Option<String>,
}

pub async fn tab_data(
    ctx: &SessionContext,
    tab: &'static panels::Tab,
    filters: &Filters,
) -> Result<TabData, UiError> {
    let results =
        futures::future::join_all(tab.panels.iter().map(|p| panel_data(ctx, p, filters))).await;
    Ok(TabData {
        tab: tab.id,
        title: tab.title,
        filters: filters.into(),
        panels: results.into_iter().collect::<Result<_, _>>()?,
    })
}

async fn panel_data(
    ctx: &SessionContext,
    panel: &'static Panel,
    filters: &Filters,
) -> Result<PanelData, UiError> {
    let mut data = PanelData {
        id: panel.id,
        title: panel.title,
        drill: panel.drill.is_some(),
        columns: Vec::new(),
        rows: Vec::new(),
        note: None,
    };
    if let Some(note) = missing_tables(ctx, panel, filters, false).await? {
        data.note = Some(note);
        return Ok(data);
    }
    let sql = panels::expand(panel.sql);
    let batches = run(ctx, panel.id, &sql, Some(filters.placeholders())).await?;
    let columns = column_names(&batches);
    let rows = rows_of(panel.id, batches)?;
    let all_null = rows.iter().all(|r| {
        r.as_object()
            .is_some_and(|o| o.values().all(Value::is_null))
    });
    if rows.is_empty() || all_null {
        data.note = Some(
            missing_tables(ctx, panel, filters, true)
                .await?
                .unwrap_or_else(|| "no rows match these filters".to_string()),
        );
    } else {
        data.columns = columns;
        data.rows = rows;
    }
    Ok(data)
}

/// The result's column names in the query's order (the JSON rows are
/// objects, whose keys come back sorted).
fn column_names(batches: &[RecordBatch]) -> Vec<String> {
    match batches.first() {
        Some(b) => b
            .schema()
            .fields()
            .iter()
            .map(|f| f.name().clone())
            .collect(),
        None => Vec::new(),
    }
}

/// The note for a panel whose tables are not registered, or (with
/// `check_rows`) hold no rows, or none for the as-of date.
async fn missing_tables(
    ctx: &SessionContext,
    panel: &Panel,
    filters: &Filters,
    check_rows: bool,
) -> Result<Option<String>, UiError> {
    for table in panel.needs {
        if !ctx.table_exist(*table).unwrap_or(false) {
            return Ok(Some(format!(
                "no `{table}` table in this lake; it is filled by {}",
                panels::filled_by(table)
            )));
        }
        if !check_rows {
            continue;
        }
        // `table` is one of the panel's constant names, never input.
        let any = format!("SELECT 1 AS v FROM {table} LIMIT 1");
        if run(ctx, panel.id, &any, None)
            .await?
            .iter()
            .all(|b| b.num_rows() == 0)
        {
            // The platform tab reads the group table only to filter.
            if *table == "platform_users" {
                continue;
            }
            return Ok(Some(format!(
                "`{table}` is empty; it is filled by {}",
                panels::filled_by(table)
            )));
        }
        let has_as_of = ctx
            .table(*table)
            .await
            .map(|t| t.schema().has_column_with_unqualified_name("as_of"))
            .unwrap_or(false);
        if has_as_of {
            let at = format!("SELECT 1 AS v FROM {table} WHERE as_of = $as_of::DATE LIMIT 1");
            let batches = run(ctx, panel.id, &at, Some(filters.placeholders())).await?;
            if batches.iter().all(|b| b.num_rows() == 0) {
                return Ok(Some(format!(
                    "`{table}` has no rows for as-of {}; run the metrics job for that date: `usagelake run metrics --date {}`",
                    filters.as_of, filters.as_of
                )));
            }
        }
    }
    Ok(None)
}

/// The rows behind one point.
#[derive(Debug, Serialize, ToSchema)]
pub struct Drill {
    pub panel: &'static str,
    pub x: String,
    pub y: String,
    pub columns: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub rows: Vec<Value>,
    /// More rows matched than `rows` holds (5,000 from the API; an
    /// exported report keeps fewer).
    pub truncated: bool,
    /// In an exported report: how many rows the point has in all.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

pub async fn drill(
    ctx: &SessionContext,
    panel: &'static Panel,
    filters: &Filters,
) -> Result<Drill, UiError> {
    drill_first(ctx, panel, filters, DRILL_ROW_LIMIT).await
}

/// The first `limit` rows behind the point `filters.x` / `filters.y`.
async fn drill_first(
    ctx: &SessionContext,
    panel: &'static Panel,
    filters: &Filters,
    limit: usize,
) -> Result<Drill, UiError> {
    let sql = panels::expand(panel.drill.expect("caller checked"));
    for (key, value) in [("x", &filters.x), ("y", &filters.y)] {
        let is_date = NaiveDate::parse_from_str(value, "%Y-%m-%d").is_ok();
        if sql.contains(&format!("${key}::DATE")) && !is_date {
            return Err(UiError::BadFilter(format!(
                "{key}: {:?} is not a date; this drilldown needs YYYY-MM-DD",
                value.chars().take(40).collect::<String>()
            )));
        }
    }
    if let Some(note) = missing_tables(ctx, panel, filters, false).await? {
        return Err(UiError::BadFilter(note));
    }
    // On the query itself, not around it: a wrapping SELECT need not keep
    // the inner ORDER BY, and every drilldown ends in one.
    let limited = format!("{sql} LIMIT {}", limit + 1);
    let batches = run(ctx, panel.id, &limited, Some(filters.placeholders())).await?;
    let columns = column_names(&batches);
    let mut rows = rows_of(panel.id, batches)?;
    let truncated = rows.len() > limit;
    rows.truncate(limit);
    Ok(Drill {
        panel: panel.id,
        x: filters.x.clone(),
        y: filters.y.clone(),
        columns,
        rows,
        truncated,
        total: None,
    })
}

async fn run(
    ctx: &SessionContext,
    panel: &str,
    sql: &str,
    params: Option<ParamValues>,
) -> Result<Vec<RecordBatch>, UiError> {
    let query_err = |source| UiError::Query {
        panel: panel.to_string(),
        source: Box::new(source),
    };
    let mut frame = ctx.sql(sql).await.map_err(query_err)?;
    if let Some(params) = params {
        frame = frame.with_param_values(params).map_err(query_err)?;
    }
    crate::lake::collect_naming_damage(frame)
        .await
        .map_err(query_err)
}

/// Rows as JSON objects, nulls kept (a chart must see a missing value).
fn rows_of(panel: &str, batches: Vec<RecordBatch>) -> Result<Vec<Value>, UiError> {
    let json_err = |source| UiError::Json {
        panel: panel.to_string(),
        source,
    };
    let mut out = Vec::new();
    {
        let mut writer = WriterBuilder::new()
            .with_explicit_nulls(true)
            .build::<_, JsonArray>(&mut out);
        for batch in &batches {
            writer.write(batch).map_err(json_err)?;
        }
        writer.finish().map_err(json_err)?;
    }
    if out.is_empty() {
        return Ok(Vec::new());
    }
    let value: Value = serde_json::from_slice(&out).expect("arrow writes valid JSON");
    Ok(match value {
        Value::Array(rows) => rows,
        _ => Vec::new(),
    })
}

/// Writes the page with every tab's data for `date` (default: the newest
/// metrics date) embedded, as one file that opens from disk.
pub async fn report(state: &UiState, date: Option<NaiveDate>, out: &Path) -> Result<(), UiError> {
    let html = report_html(state, date).await?;
    std::fs::write(out, html).map_err(|source| UiError::Write {
        path: out.display().to_string(),
        source,
    })
}

pub async fn report_html(state: &UiState, date: Option<NaiveDate>) -> Result<String, UiError> {
    let ctx = session(state)?;
    let default_as_of = latest_as_of(&ctx).await?;
    let mut query = HashMap::new();
    if let Some(d) = date {
        query.insert("as_of".to_string(), d.to_string());
    }
    let filters = Filters::parse(&query, default_as_of, false)?;
    let meta = meta(&ctx, &filters, default_as_of).await?;
    let mut tabs = serde_json::Map::new();
    let mut drills = serde_json::Map::new();
    for tab in TABS {
        // As on the live page, a panel that fails shows its error in its
        // card and the rest of the report is still written.
        let results =
            futures::future::join_all(tab.panels.iter().map(|p| panel_data(&ctx, p, &filters)))
                .await;
        let mut panels = Vec::with_capacity(results.len());
        for (panel, result) in tab.panels.iter().zip(results) {
            match result {
                Ok(data) => {
                    if let Some(points) = report_drills(&ctx, &data, &filters).await? {
                        drills.insert(panel.id.to_string(), points);
                    }
                    panels.push(serde_json::to_value(data).expect("panel data serializes"));
                }
                Err(error) => {
                    tracing::warn!(panel = panel.id, %error, "the report shows this panel's error");
                    panels.push(serde_json::json!({
                        "id": panel.id,
                        "title": panel.title,
                        "error": error.to_string(),
                    }));
                }
            }
        }
        tabs.insert(
            tab.id.to_string(),
            serde_json::json!({
                "tab": tab.id,
                "title": tab.title,
                "filters": FilterEcho::from(&filters),
                "panels": panels,
            }),
        );
    }
    let embedded = serde_json::json!({
        "generated_at": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        "meta": meta,
        "tabs": tabs,
        "drill_rows": REPORT_DRILL_ROWS,
        "drills": drills,
    });
    Ok(inline_page(&embedded))
}

/// The drilldown of every point of a panel that has one, keyed by the
/// point's `x` and `y` joined with U+0001 (as the page looks them up),
/// each with at most [`REPORT_DRILL_ROWS`] rows and the point's total.
async fn report_drills(
    ctx: &SessionContext,
    data: &PanelData,
    filters: &Filters,
) -> Result<Option<Value>, UiError> {
    let Some(panel) = panels::panel(data.id).filter(|p| p.drill.is_some()) else {
        return Ok(None);
    };
    if data.rows.is_empty() {
        return Ok(None);
    }
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    };
    let mut points = serde_json::Map::new();
    for row in &data.rows {
        let mut point = filters.clone();
        point.x = panel
            .point
            .first()
            .map(|k| text(&row[*k]))
            .unwrap_or_default();
        point.y = panel
            .point
            .get(1)
            .map(|k| text(&row[*k]))
            .unwrap_or_default();
        let key = format!("{}\u{1}{}", point.x, point.y);
        if points.contains_key(&key) {
            continue;
        }
        let mut drill = drill_first(ctx, panel, &point, REPORT_DRILL_ROWS).await?;
        drill.total = Some(if drill.truncated {
            drill_count(ctx, panel, &point).await?
        } else {
            drill.rows.len() as u64
        });
        points.insert(
            key,
            serde_json::to_value(drill).expect("drill rows serialize"),
        );
    }
    Ok(Some(Value::Object(points)))
}

/// How many rows a drilldown has, for a report's "first N of M".
async fn drill_count(
    ctx: &SessionContext,
    panel: &'static Panel,
    filters: &Filters,
) -> Result<u64, UiError> {
    let sql = panels::expand(panel.drill.expect("caller checked"));
    let counted = format!("SELECT count(*) AS n FROM ({sql}) drill");
    let rows = rows_of(
        panel.id,
        run(ctx, panel.id, &counted, Some(filters.placeholders())).await?,
    )?;
    Ok(rows.first().and_then(|r| r["n"].as_u64()).unwrap_or(0))
}

/// The index page with its stylesheet and scripts inlined and `data`
/// (the report's figures) set before the app starts.
fn inline_page(data: &Value) -> String {
    // The scripts hold no `</script` (unit-tested); JSON strings might, and
    // `<\/` is the same string to JSON.
    let json = data.to_string().replace("</", "<\\/");
    let script = |body: &str| format!("<script>{body}</script>");
    INDEX_HTML
        .replace(
            "<link rel=\"stylesheet\" href=\"app.css\">",
            &format!("<style>{APP_CSS}</style>"),
        )
        .replace(
            "<script src=\"vendor/echarts.min.js\"></script>",
            &script(ECHARTS_JS),
        )
        .replace(
            "<script src=\"app.js\"></script>",
            &format!(
                "{}{}",
                script(&format!("window.USAGELAKE_REPORT = {json};")),
                script(APP_JS)
            ),
        )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inlined_scripts_cannot_end_their_element_early() {
        for body in [APP_JS, ECHARTS_JS] {
            assert!(!body.to_ascii_lowercase().contains("</script"));
        }
        let page = inline_page(&serde_json::json!({"t": "</script><b>"}));
        assert!(page.contains(r#"window.USAGELAKE_REPORT = {"t":"<\/script><b>"};"#));
        assert!(!page.contains("src=\"app.js\""));
        assert!(!page.contains("href=\"app.css\""));
    }
}
