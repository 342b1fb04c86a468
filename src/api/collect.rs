//! The seed's collector routes: BI sync, query-log mining, usage
//! aggregation and unused products. Each checks what it is asked about
//! (404 unknown connector or space, 400 wrong connector type or bad
//! parameter) before the work; a collector not built yet answers 501. Collection
//! runs through `runner::collect`, under the connector's lease like the
//! `bi_sync` / `mine_logs` steps: a second call meanwhile gets 409.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::{ApiError, ApiState, ErrorBody};
use crate::config::{AppConfig, ConnectorConfig};
use crate::runner::{self, Lease};
use crate::sources::collect::{CollectError, SyncKind};

/// `{"rows_upserted": N}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MineResponse {
    pub rows_upserted: u64,
}

/// `{"products_updated": N}`.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AggregateResponse {
    pub products_updated: u64,
}

/// A data product with no BI query reference in the lookback window (the
/// shape of `usage::ProductSummary`, which this documents).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProductSummary {
    pub id: String,
    pub name: String,
    pub tables: Vec<String>,
    /// The latest query any aggregate up to the date saw; null if none.
    pub last_queried_at: Option<DateTime<Utc>>,
    pub coverage: Coverage,
}

/// Whether "no reference" means unused: `unused` when every collecting
/// connector covered every day of the window, `unknown` (with the days
/// each one missed) otherwise.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Coverage {
    /// `unused` or `unknown`.
    pub status: String,
    pub missing: Vec<MissingDays>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MissingDays {
    pub connector_id: String,
    pub connector: String,
    pub days: Vec<NaiveDate>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CollectQuery {
    /// YYYY-MM-DD: mining reads that UTC day [default: the days since the
    /// last complete one]; aggregation's as-of date [default: today in
    /// defaults.timezone].
    date: Option<String>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct UnusedQuery {
    /// Lookback window in days (≥ 1) [default 30].
    days: Option<String>,
    /// As-of date YYYY-MM-DD [default: today in defaults.timezone].
    date: Option<String>,
}

/// The connector, checked to fit `kind` (404 / 400 otherwise), and
/// collectable in this build (501 otherwise).
fn connector<'a>(
    config: &'a AppConfig,
    name_or_id: &str,
    kind: SyncKind,
) -> Result<&'a ConnectorConfig, ApiError> {
    let connector = runner::collect::resolve(config, name_or_id, kind)?;
    // Building a collector is pure (no I/O): ask before taking the lease
    // and recording an attempt that cannot run.
    if let Err(e @ CollectError::NotBuilt { .. }) = crate::sources::build_collector(connector) {
        return Err(ApiError::new(StatusCode::NOT_IMPLEMENTED, e.to_string()));
    }
    Ok(connector)
}

/// Scrapes the BI tool's saved queries, charts and dashboards into bi_queries.
#[utoipa::path(
    post,
    path = "/connectors/{connector_id}/bi-sync",
    params(("connector_id" = String, Path, description = "The connector's id (UUID) or name")),
    responses(
        (status = 200, description = "The sync job (`status` failed with `error` when the attempt failed)", body = Object),
        (status = 400, description = "Not a BI connector", body = ErrorBody),
        (status = 404, description = "No such connector", body = ErrorBody),
        (status = 409, description = "A sync of this connector is running", body = ErrorBody),
        (status = 501, description = "Not in this build", body = ErrorBody)
    )
)]
pub(super) async fn bi_sync(
    State(daemon): State<ApiState>,
    Path(connector_id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    let loaded = daemon.loaded();
    connector(&loaded.config, &connector_id, SyncKind::BiSync)?;
    if daemon.is_draining() {
        return Err(draining());
    }
    let job = runner::collect::sync(daemon.lake(), &loaded.config, &connector_id, None).await?;
    Ok(Json(serde_json::to_value(&job).map_err(|e| {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    })?))
}

fn draining() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "the daemon is shutting down; no new work starts",
    )
}

/// Mines the warehouse's query log for a date into bi_queries.
#[utoipa::path(
    post,
    path = "/connectors/{connector_id}/query-log-mining",
    params(("connector_id" = String, Path, description = "The connector's id (UUID) or name"), CollectQuery),
    responses(
        (status = 200, body = MineResponse),
        (status = 400, description = "Not snowflake, bigquery or postgres; or a bad date", body = ErrorBody),
        (status = 404, description = "No such connector", body = ErrorBody),
        (status = 409, description = "Mining of this connector is running", body = ErrorBody),
        (status = 500, description = "An attempt failed (recorded in sync_jobs)", body = ErrorBody),
        (status = 501, description = "Not in this build", body = ErrorBody)
    )
)]
pub(super) async fn query_log_mining(
    State(daemon): State<ApiState>,
    Path(connector_id): Path<String>,
    Query(q): Query<CollectQuery>,
) -> Result<Json<MineResponse>, ApiError> {
    let date = super::parse_date(q.date.as_deref())?;
    let loaded = daemon.loaded();
    connector(&loaded.config, &connector_id, SyncKind::QueryLogMining)?;
    if daemon.is_draining() {
        return Err(draining());
    }
    let report = runner::collect::mine(daemon.lake(), &loaded.config, &connector_id, date).await?;
    if !report.failed.is_empty() {
        let failures: Vec<String> = report
            .failed
            .iter()
            .map(|job| format!("{}: {}", job.date, job.error.as_deref().unwrap_or("failed")))
            .collect();
        return Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "mining {} of {} date(s) failed ({} rows upserted by the others): {}",
                failures.len(),
                report.dates.len(),
                report.rows_upserted,
                failures.join("; ")
            ),
        ));
    }
    Ok(Json(MineResponse {
        rows_upserted: report.rows_upserted.max(0) as u64,
    }))
}

/// Recomputes product_usage_stats for every product of the space.
#[utoipa::path(
    post,
    path = "/spaces/{slug}/usage/aggregate",
    params(("slug" = String, Path, description = "The space's slug"), CollectQuery),
    responses(
        (status = 200, body = AggregateResponse),
        (status = 400, description = "A bad date", body = ErrorBody),
        (status = 404, description = "No such space", body = ErrorBody),
        (status = 409, description = "An aggregation of this space is running", body = ErrorBody)
    )
)]
pub(super) async fn aggregate(
    State(daemon): State<ApiState>,
    Path(slug): Path<String>,
    Query(q): Query<CollectQuery>,
) -> Result<Json<AggregateResponse>, ApiError> {
    let as_of = super::parse_date(q.date.as_deref())?;
    let loaded = daemon.loaded();
    crate::usage::space(&loaded.config, &slug)?;
    let as_of = as_of.unwrap_or_else(|| runner::today_in(&loaded.config.defaults.timezone));
    if daemon.is_draining() {
        return Err(draining());
    }
    // One aggregation of a space at a time: they rewrite the same partition.
    let lease = Lease::acquire(daemon.lake(), &format!("space-{slug}")).await?;
    let result = crate::usage::aggregate(daemon.lake(), &loaded.config, &slug, as_of).await;
    lease.release().await;
    Ok(Json(AggregateResponse {
        products_updated: result?.products_updated,
    }))
}

/// Products of the space with no BI query reference in the last `days` days.
#[utoipa::path(
    get,
    path = "/spaces/{slug}/usage/unused",
    params(("slug" = String, Path, description = "The space's slug"), UnusedQuery),
    responses(
        (status = 200, body = [ProductSummary]),
        (status = 400, description = "days not a whole number ≥ 1, or a bad date", body = ErrorBody),
        (status = 404, description = "No such space", body = ErrorBody)
    )
)]
pub(super) async fn unused(
    State(daemon): State<ApiState>,
    Path(slug): Path<String>,
    Query(q): Query<UnusedQuery>,
) -> Result<Json<Vec<crate::usage::ProductSummary>>, ApiError> {
    let days = match q.days.as_deref() {
        None => 30,
        Some(text) => match text.parse::<u32>() {
            Ok(days) if days >= 1 => days,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "days {text:?} must be a whole number ≥ 1"
                )));
            }
        },
    };
    let as_of = super::parse_date(q.date.as_deref())?;
    let loaded = daemon.loaded();
    crate::usage::space(&loaded.config, &slug)?;
    let as_of = as_of.unwrap_or_else(|| runner::today_in(&loaded.config.defaults.timezone));
    Ok(Json(
        crate::usage::unused(daemon.lake(), &loaded.config, &slug, days, as_of).await?,
    ))
}
