//! The HTTP API of `usagelake serve` (axum). [`router`] returns the whole
//! app so other pages (the Usage Analysis UI) can be nested beside it.
//!
//! Every route but `/health` needs `Authorization: Bearer <[server] token>`
//! when a token is configured (without one the daemon listens on loopback
//! only). Errors are `{"error": "…"}` with a status that says whose fault.

mod collect;
pub mod gzip;
mod metrics;

use std::sync::Arc;

use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use crate::daemon::{Daemon, StartedRun, TriggerError};
use crate::runner::{Ledger, RunError, RunFilter, RunRecord, RunStatus, StepRecord};

pub use metrics::render as render_metrics;

/// The API's state: the running daemon.
pub type ApiState = Arc<Daemon>;

/// The app: `/health` open, every other route behind the token check.
pub fn router(state: ApiState) -> Router {
    let protected = Router::new()
        .route("/runs", get(list_runs))
        .route("/jobs/{name}/run", post(trigger_job))
        .route("/openapi.json", get(openapi_json))
        .route("/metrics", get(prometheus_metrics))
        .route("/connectors/{connector_id}/bi-sync", post(collect::bi_sync))
        .route(
            "/connectors/{connector_id}/query-log-mining",
            post(collect::query_log_mining),
        )
        .route("/spaces/{slug}/usage/aggregate", post(collect::aggregate))
        .route("/spaces/{slug}/usage/unused", get(collect::unused))
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    // The Usage Analysis page opens without a token (it asks for one when
    // its data API answers 401); its data API is behind the same check.
    let ui_api = crate::ui::api_routes(state.lake().clone())
        .route_layer(middleware::from_fn_with_state(state.clone(), require_token));
    Router::new()
        .route("/health", get(health))
        .merge(protected)
        .fallback(not_found)
        .with_state(state)
        .merge(crate::ui::page_routes())
        .merge(ui_api)
        .layer(middleware::from_fn(gzip::compress))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "usagelake",
        description = "The daemon's HTTP API: run history, job triggers, collectors, usage, metrics, and the Usage Analysis page's data API."
    ),
    paths(
        health,
        list_runs,
        trigger_job,
        openapi_json,
        prometheus_metrics,
        collect::bi_sync,
        collect::query_log_mining,
        collect::aggregate,
        collect::unused,
        crate::ui::meta_handler,
        crate::ui::tab_handler,
        crate::ui::drill_handler
    ),
    components(schemas(
        Health,
        RunRecord,
        StepRecord,
        RunStatus,
        StartedRun,
        ErrorBody,
        collect::MineResponse,
        collect::AggregateResponse,
        collect::ProductSummary,
        collect::Coverage,
        collect::MissingDays,
        crate::ui::Meta,
        crate::ui::TabMeta,
        crate::ui::PanelMeta,
        crate::ui::FilterEcho,
        crate::ui::TabData,
        crate::ui::PanelData,
        crate::ui::Drill
    )),
    modifiers(&BearerToken),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerToken;

impl Modify for BearerToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        openapi
            .components
            .get_or_insert_with(Default::default)
            .add_security_scheme(
                "bearer",
                SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
            );
    }
}

/// An error answer: `{"error": "…"}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
}

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (
            self.status,
            Json(ErrorBody {
                error: self.message,
            }),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            response
                .headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

impl From<RunError> for ApiError {
    fn from(e: RunError) -> Self {
        let status = match e {
            RunError::Busy { .. } => StatusCode::CONFLICT,
            RunError::UnknownConnector { .. } => StatusCode::NOT_FOUND,
            // The seed's contract: a connector of the wrong type is a 400.
            RunError::WrongConnectorKind { .. } => StatusCode::BAD_REQUEST,
            RunError::Usage(e) => return e.into(),
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl From<crate::usage::UsageError> for ApiError {
    fn from(e: crate::usage::UsageError) -> Self {
        use crate::usage::UsageError;
        let status = match e {
            UsageError::UnknownSpace { .. } | UsageError::UnknownProduct { .. } => {
                StatusCode::NOT_FOUND
            }
            UsageError::NoDays => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        Self::new(status, e.to_string())
    }
}

impl From<TriggerError> for ApiError {
    fn from(e: TriggerError) -> Self {
        match e {
            TriggerError::Run(e) => e.into(),
            TriggerError::UnknownJob { .. } => Self::new(StatusCode::NOT_FOUND, e.to_string()),
            TriggerError::RunningHere(_) => Self::new(StatusCode::CONFLICT, e.to_string()),
            TriggerError::Draining => Self::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string()),
        }
    }
}

async fn require_token(State(daemon): State<ApiState>, request: Request, next: Next) -> Response {
    let loaded = daemon.loaded();
    if let Some(token) = loaded
        .config
        .server
        .token
        .as_ref()
        .filter(|t| !t.expose().is_empty())
    {
        let given = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .unwrap_or("");
        // Constant time: how much of a guess matched must not show in
        // the response time.
        if !bool::from(given.as_bytes().ct_eq(token.expose().as_bytes())) {
            return ApiError::new(
                StatusCode::UNAUTHORIZED,
                "missing or wrong bearer token; send Authorization: Bearer <the [server] token>",
            )
            .into_response();
        }
    }
    next.run(request).await
}

async fn not_found(request: Request) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format!(
            "no route {} {}; GET /openapi.json lists the routes",
            request.method(),
            request.uri().path()
        ),
    )
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Health {
    /// `ok`, or `draining` after SIGTERM.
    pub status: String,
    pub version: String,
    /// Jobs in the configuration in force.
    pub jobs: usize,
    /// Runs executing now.
    pub running: usize,
}

/// Liveness; needs no token.
#[utoipa::path(get, path = "/health", security(()), responses((status = 200, body = Health)))]
async fn health(State(daemon): State<ApiState>) -> Json<Health> {
    Json(Health {
        status: if daemon.is_draining() {
            "draining"
        } else {
            "ok"
        }
        .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        jobs: daemon.loaded().jobs.len(),
        running: daemon.running(),
    })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RunsQuery {
    /// Only this job's attempts.
    job: Option<String>,
    /// running, succeeded, failed or interrupted.
    status: Option<String>,
    /// Attempts started at or after this instant (RFC 3339) or day (YYYY-MM-DD, UTC midnight).
    since: Option<String>,
    /// At most this many, newest first [default 100].
    limit: Option<String>,
}

/// The run ledger's attempts, newest first.
#[utoipa::path(
    get,
    path = "/runs",
    params(RunsQuery),
    responses(
        (status = 200, body = [RunRecord]),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody)
    )
)]
async fn list_runs(
    State(daemon): State<ApiState>,
    Query(q): Query<RunsQuery>,
) -> Result<Json<Vec<RunRecord>>, ApiError> {
    let status = q
        .status
        .as_deref()
        .map(str::parse::<RunStatus>)
        .transpose()
        .map_err(ApiError::bad_request)?;
    let since = q.since.as_deref().map(parse_since).transpose()?;
    let limit = match q.limit.as_deref() {
        None => 100,
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::bad_request(format!("limit {text:?} is not a whole number ≥ 0"))
        })?,
    };
    let filter = RunFilter {
        job: q.job,
        status,
        since,
        limit,
    };
    Ok(Json(Ledger::new(daemon.lake()).query(&filter).await?))
}

fn parse_since(text: &str) -> Result<DateTime<Utc>, ApiError> {
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Ok(t.with_timezone(&Utc));
    }
    text.parse::<NaiveDate>()
        .map(|d| d.and_hms_opt(0, 0, 0).expect("midnight").and_utc())
        .map_err(|_| {
            ApiError::bad_request(format!(
                "since {text:?} is neither YYYY-MM-DD nor an RFC 3339 time such as 2026-11-23T04:00:00Z"
            ))
        })
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DateQuery {
    /// Logical date YYYY-MM-DD [default: yesterday in the job's timezone].
    date: Option<String>,
}

fn parse_date(text: Option<&str>) -> Result<Option<NaiveDate>, ApiError> {
    text.map(|t| {
        t.parse::<NaiveDate>().map_err(|_| {
            ApiError::bad_request(format!("date {t:?} is not a date; write YYYY-MM-DD"))
        })
    })
    .transpose()
}

/// Starts a run of the job now and answers at once; follow it in `/runs`.
#[utoipa::path(
    post,
    path = "/jobs/{name}/run",
    params(("name" = String, Path, description = "Job name"), DateQuery),
    responses(
        (status = 202, description = "Started", body = StartedRun),
        (status = 400, body = ErrorBody),
        (status = 401, body = ErrorBody),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job is running (its lease is held)", body = ErrorBody),
        (status = 503, description = "Shutting down", body = ErrorBody)
    )
)]
async fn trigger_job(
    State(daemon): State<ApiState>,
    Path(name): Path<String>,
    Query(q): Query<DateQuery>,
) -> Result<(StatusCode, Json<StartedRun>), ApiError> {
    let date = parse_date(q.date.as_deref())?.unwrap_or_else(|| daemon.default_date(&name));
    let started = daemon.trigger(&name, date).await?;
    Ok((StatusCode::ACCEPTED, Json(started)))
}

/// This API's OpenAPI 3.1 description.
#[utoipa::path(get, path = "/openapi.json", responses((status = 200, description = "OpenAPI document")))]
async fn openapi_json() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        ApiDoc::openapi().to_json().unwrap_or_default(),
    )
        .into_response()
}

/// Prometheus text: runs by job and status, last success per job, rows written.
#[utoipa::path(
    get,
    path = "/metrics",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain", body = String))
)]
async fn prometheus_metrics(State(daemon): State<ApiState>) -> Result<Response, ApiError> {
    let records = Ledger::new(daemon.lake())
        .query(&RunFilter::default())
        .await?;
    Ok((
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        metrics::render(&records, daemon.running()),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_map_to_the_documented_statuses() {
        let status = |e: RunError| ApiError::from(e).status.as_u16();
        assert_eq!(
            status(RunError::Busy {
                job: "connector-x".into(),
                path: "p".into(),
                holder: "h".into(),
                expires_at: "t".into(),
            }),
            409
        );
        assert_eq!(
            status(RunError::UnknownConnector {
                name: "x".into(),
                known: String::new(),
            }),
            404
        );
        assert_eq!(
            status(RunError::WrongConnectorKind {
                name: "x".into(),
                kind: "postgres",
                action: "bi_sync",
                wanted: "BI tools",
            }),
            400
        );
        assert_eq!(
            status(RunError::Ledger {
                path: "p".into(),
                reason: "r".into(),
            }),
            500
        );
        let trigger = |e: TriggerError| ApiError::from(e).status.as_u16();
        assert_eq!(
            trigger(TriggerError::UnknownJob {
                name: "x".into(),
                known: vec![],
            }),
            404
        );
        assert_eq!(trigger(TriggerError::RunningHere("x".into())), 409);
        assert_eq!(trigger(TriggerError::Draining), 503);
    }
}
