//! Tableau (Server or Cloud): custom SQL queries, sheets and dashboards
//! from the Metadata API, and view counts from the REST API.
//!
//! - Each custom SQL query of a data source is a `saved_query` row (its
//!   text, in the dialect of its `connectionType`).
//! - Each sheet of a workbook is a `chart` row: its SQL is the custom SQL
//!   that feeds it (the query's `downstreamSheets`), else it reads the
//!   tables of the embedded data sources that feed it (no SQL).
//! - Each (dashboard, sheet) is a `dashboard_chart` row with the
//!   dashboard's `/#/site/<site>/views/<path>` URL.
//! - Views: the REST API only has each view's cumulative
//!   `totalViewCount`, no per-user or per-time log. Each sync snapshots
//!   the counts (in the connector's checkpoint) and writes the day's views
//!   as the difference from the snapshot the day started from, one
//!   `dashboard_view` / `chart_view` row per view with `execution_count`
//!   and no `executed_by`, as pg_stat_statements' counters are differenced
//!   (the same snapshot code). The first sync only takes the baseline.
//!
//! Metadata API pages start at `page_size` nodes and halve when Tableau
//! answers that a page went over its node limit (partial data, never
//! kept) or timed out, so a heavy site is still read whole.

mod api;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use chrono::Utc;
use futures::future::BoxFuture;
use reqwest::Method;
use serde::de::DeserializeOwned;

use super::bi_queries::{analyze_text, connector_dialect};
use super::collect::{
    BiRow, CollectContext, CollectError, Collected, Collector, ResourceType, RowScope, Slice,
};
use super::http::{
    HttpClient, HttpError, HttpSettings, json_reason, pages_by_cursor, pages_by_number,
};
use super::postgres::stat_statements::{
    Plan, Snapshot, State, base_for, calls_since, plan, usage_time,
};
use crate::config::ConnectorConfig;
use crate::sql::SqlDialect;
use api::{PageProblem, rest_id};

/// Nodes asked for per Metadata API page before any shrinking.
const DEFAULT_PAGE_SIZE: usize = 50;

/// Query Views for Site refuses pages over 1000.
const MAX_VIEWS_PAGE: usize = 1000;

/// Where the view-count snapshots live in the connector's checkpoint.
const CHECKPOINT_KEY: &str = "view_counts";

pub struct TableauCollector {
    client: HttpClient,
    auth: Arc<api::PatSignIn>,
    page_size: usize,
    fallback_dialect: SqlDialect,
}

impl TableauCollector {
    pub fn new(connector: &ConnectorConfig) -> Result<Self, CollectError> {
        let (Some(token_name), Some(token)) = (&connector.token_name, &connector.token) else {
            return Err(CollectError::source(
                connector,
                "a tableau connector needs token_name and token (a personal access token)",
            ));
        };
        let auth = Arc::new(api::PatSignIn {
            token_name: token_name.clone(),
            token: token.clone(),
            site: connector.site.clone().unwrap_or_default(),
            session: Mutex::new(None),
        });
        let settings = HttpSettings::for_connector(connector, None)?;
        Ok(Self {
            client: HttpClient::new(settings, Some(auth.clone()))?,
            auth,
            page_size: connector
                .page_size
                .map_or(DEFAULT_PAGE_SIZE, |n| n as usize)
                .max(1),
            fallback_dialect: connector_dialect(connector),
        })
    }

    fn source_error(&self, message: String) -> CollectError {
        CollectError::Source {
            connector: self.client.connector().to_string(),
            message,
        }
    }

    /// Tableau's `connectionType` short names (REST API "connectionType"
    /// values); unknown ones parse generically.
    fn dialect_of(&self, connection_type: Option<&str>) -> SqlDialect {
        match connection_type.unwrap_or("").to_ascii_lowercase().as_str() {
            "postgres" | "greenplum" => SqlDialect::Postgres,
            "snowflake" => SqlDialect::Snowflake,
            "bigquery" => SqlDialect::Bigquery,
            "sqlserver" | "azure_sql_dw" | "azure_sql_db" => SqlDialect::Mssql,
            "redshift" => SqlDialect::Redshift,
            "mysql" | "memsql" => SqlDialect::Mysql,
            "databricks" | "spark" | "hive" | "hadoophive" => SqlDialect::Databricks,
            "" => self.fallback_dialect,
            _ => SqlDialect::Generic,
        }
    }

    /// Every node of a Metadata API connection, page by page. A page over
    /// the node limit or out of time is asked again with half the nodes
    /// (the smaller size is kept for the rest of the walk); a page still
    /// over the limit alone, or any other GraphQL error, fails the sync.
    async fn connection<T: DeserializeOwned>(
        &self,
        connection: &str,
        selection: &str,
        stats: &PageStats,
    ) -> Result<Vec<T>, CollectError> {
        let query = api::connection_query(connection, selection);
        let first = AtomicUsize::new(self.page_size);
        let max_retries = self.client.settings().max_retries;
        let min_delay = self.client.settings().min_delay;
        pages_by_cursor(|after| {
            let (query, first) = (&query, &first);
            async move {
                let mut timeouts = 0u32;
                loop {
                    let size = first.load(Ordering::Relaxed);
                    let body = serde_json::json!({
                        "query": query,
                        "variables": {"first": size, "after": after.as_deref()},
                    });
                    let answer: api::GraphqlAnswer =
                        self.client.post_json(api::METADATA_PATH, &body).await?;
                    stats.pages.fetch_add(1, Ordering::Relaxed);
                    match api::page_problem(&answer.errors) {
                        None => {}
                        Some(PageProblem::NodeLimit) if size > 1 => {
                            stats.node_limit.fetch_add(1, Ordering::Relaxed);
                            first.store(size / 2, Ordering::Relaxed);
                            continue;
                        }
                        Some(PageProblem::NodeLimit) => {
                            return Err(self.source_error(format!(
                                "one {connection} node alone is over the Metadata API's node limit; raise the limit (Tableau Server: tsm configuration set -k metadata.query.limits.count)"
                            )));
                        }
                        Some(PageProblem::Timeout) if (timeouts as usize) < max_retries => {
                            stats.timeouts.fetch_add(1, Ordering::Relaxed);
                            timeouts += 1;
                            first.store((size / 2).max(1), Ordering::Relaxed);
                            tokio::time::sleep(min_delay * 2u32.pow(timeouts)).await;
                            continue;
                        }
                        Some(PageProblem::Timeout) => {
                            return Err(self.source_error(format!(
                                "the Metadata API timed out on {connection} pages of {size} nodes, also after {max_retries} retries; set a smaller page_size"
                            )));
                        }
                        Some(PageProblem::Refused(reason)) => {
                            return Err(self.source_error(format!(
                                "the Metadata API refused the {connection} query: {reason}"
                            )));
                        }
                    }
                    let page = answer
                        .data
                        .and_then(|mut data| data.get_mut(connection).map(serde_json::Value::take))
                        .filter(|page| !page.is_null())
                        .ok_or_else(|| {
                            self.source_error(format!(
                                "/{} answered without data.{connection}; check that url points at Tableau and the Metadata API is enabled",
                                api::METADATA_PATH
                            ))
                        })?;
                    let page: api::ConnectionPage<T> =
                        serde_json::from_value(page).map_err(|e| {
                            self.source_error(format!(
                                "/{} did not answer the expected {connection} shape ({})",
                                api::METADATA_PATH,
                                json_reason(&e)
                            ))
                        })?;
                    let next = page
                        .page_info
                        .has_next_page
                        .then_some(page.page_info.end_cursor)
                        .flatten();
                    return Ok::<_, CollectError>((page.nodes, next));
                }
            }
        })
        .await
    }

    /// Each view's cumulative count (REST id → views); `Err(reason)` when
    /// the account may not list views.
    async fn view_counts(&self) -> Result<Result<BTreeMap<String, i64>, String>, CollectError> {
        let Some(session) = self.auth.session() else {
            return Err(self.source_error("no Tableau session after signing in".into()));
        };
        let page_size = self.page_size.min(MAX_VIEWS_PAGE);
        let views = pages_by_number(1, page_size, |page| {
            let site = &session.site_id;
            async move {
                let path = format!(
                    "api/{}/sites/{site}/views?includeUsageStatistics=true&pageSize={page_size}&pageNumber={page}",
                    api::API_VERSION
                );
                let url = self.client.url(&path)?;
                let response = self
                    .client
                    .send(Method::GET, url.clone(), |r| {
                        r.header(reqwest::header::ACCEPT, "application/json")
                    })
                    .await?;
                let body: api::ViewsPage = self.client.decode_json(&url, response).await?;
                let total = body.pagination.total_available as usize;
                Ok::<_, HttpError>((body.views.unwrap_or_default().view, Some(total)))
            }
        })
        .await;
        match views {
            Ok(views) => Ok(Ok(views
                .into_iter()
                .filter_map(|v| Some((v.id, v.usage?.total_view_count as i64)))
                .collect())),
            Err(e) if matches!(e.status(), Some(403 | 404)) => Ok(Err(format!(
                "not readable (HTTP {})",
                e.status().unwrap_or_default()
            ))),
            Err(e) => Err(e.into()),
        }
    }

    fn dashboard_url(&self, dashboard: &api::Dashboard) -> Option<String> {
        let path = dashboard.path.as_deref().filter(|p| !p.is_empty())?;
        let site = self
            .auth
            .session()
            .map(|s| s.content_url)
            .unwrap_or_default();
        let site_part = if site.is_empty() {
            String::new()
        } else {
            format!("/site/{site}")
        };
        self.client
            .url(&format!("#{site_part}/views/{path}"))
            .ok()
            .map(|u| u.to_string())
    }
}

/// Counts of how the Metadata API walk went, for the report.
#[derive(Default)]
struct PageStats {
    pages: AtomicU64,
    node_limit: AtomicU64,
    timeouts: AtomicU64,
}

/// What a sheet reads.
#[derive(Debug, Clone, Default)]
struct SheetSource {
    sql: Option<String>,
    dialect: Option<SqlDialect>,
    database: Option<String>,
    tables: Vec<String>,
    /// `custom_sql`, `datasource_tables` or `none`.
    origin: &'static str,
}

impl Collector for TableauCollector {
    fn collect<'a>(
        &'a self,
        ctx: &'a CollectContext<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>> {
        Box::pin(self.scrape(ctx))
    }
}

impl TableauCollector {
    async fn scrape(&self, ctx: &CollectContext<'_>) -> Result<Collected, CollectError> {
        let stats = PageStats::default();
        let custom_sql: Vec<api::CustomSql> = self
            .connection(
                "customSQLTablesConnection",
                api::CUSTOM_SQL_SELECTION,
                &stats,
            )
            .await?;
        let workbooks: Vec<api::Workbook> = self
            .connection("workbooksConnection", api::WORKBOOK_SELECTION, &stats)
            .await?;

        let mut rows = Vec::new();
        let mut seen = BTreeSet::new();
        let custom_sql: Vec<&api::CustomSql> =
            custom_sql.iter().filter(|c| seen.insert(&c.id)).collect();
        let mut by_sheet: HashMap<&str, Vec<&api::CustomSql>> = HashMap::new();
        for query in custom_sql.iter().copied() {
            let dialect = self.dialect_of(query_connection_type(query));
            let analysed = query
                .query
                .as_deref()
                .and_then(|sql| analyze_text(sql, dialect))
                .map(|a| a.tables)
                .unwrap_or_default();
            // Tableau Catalog's own reading of the query, for text the SQL
            // module cannot parse.
            let tables = if analysed.is_empty() {
                query.tables.iter().filter_map(|t| t.qualified()).collect()
            } else {
                Vec::new()
            };
            rows.push(BiRow {
                title: query.name.clone(),
                sql: query.query.clone(),
                dialect: Some(dialect),
                tables,
                database: query.database.as_ref().and_then(|d| d.name.clone()),
                ..BiRow::new(ResourceType::SavedQuery, query.id.clone())
            });
            for sheet in &query.downstream_sheets {
                by_sheet.entry(sheet.id.as_str()).or_default().push(query);
            }
        }

        let mut datasource_tables: HashMap<&str, BTreeSet<String>> = HashMap::new();
        for datasource in workbooks.iter().flat_map(|w| &w.embedded_datasources) {
            let tables: Vec<String> = datasource
                .upstream_tables
                .iter()
                .filter_map(|t| t.qualified())
                .collect();
            for sheet in &datasource.downstream_sheets {
                datasource_tables
                    .entry(sheet.id.as_str())
                    .or_default()
                    .extend(tables.iter().cloned());
            }
        }

        let mut charts: HashMap<&str, BiRow> = HashMap::new();
        let mut origins: BTreeMap<&str, u64> = BTreeMap::new();
        let mut sheet_count = 0u64;
        for workbook in &workbooks {
            for sheet in &workbook.sheets {
                if charts.contains_key(sheet.id.as_str()) {
                    continue;
                }
                let source = self.sheet_source(
                    by_sheet
                        .get(sheet.id.as_str())
                        .map(Vec::as_slice)
                        .unwrap_or(&[]),
                    datasource_tables.get(sheet.id.as_str()),
                );
                *origins.entry(source.origin).or_default() += 1;
                sheet_count += 1;
                let row = BiRow {
                    title: sheet.name.clone(),
                    sql: source.sql,
                    dialect: source.dialect,
                    tables: source.tables,
                    database: source.database,
                    created_at: sheet.created_at,
                    ..BiRow::new(ResourceType::Chart, rest_id(&sheet.luid, &sheet.id))
                };
                rows.push(row.clone());
                charts.insert(sheet.id.as_str(), row);
            }
        }

        let mut dashboards: HashMap<String, (&api::Dashboard, BTreeSet<String>)> = HashMap::new();
        let mut memberships = 0u64;
        for dashboard in workbooks.iter().flat_map(|w| &w.dashboards) {
            let id = rest_id(&dashboard.luid, &dashboard.id);
            if dashboards.contains_key(&id) {
                continue;
            }
            let url = self.dashboard_url(dashboard);
            let mut tables = BTreeSet::new();
            let mut members = BTreeSet::new();
            for sheet in &dashboard.sheets {
                let Some(chart) = charts.get(sheet.id.as_str()) else {
                    continue;
                };
                if !members.insert(sheet.id.as_str()) {
                    continue;
                }
                tables.extend(chart.tables.iter().cloned());
                rows.push(BiRow {
                    resource_type: ResourceType::DashboardChart,
                    dashboard_id: Some(id.clone()),
                    dashboard_title: dashboard.name.clone(),
                    dashboard_url: url.clone(),
                    ..chart.clone()
                });
                memberships += 1;
            }
            dashboards.insert(id, (dashboard, tables));
        }

        let mut report = serde_json::Map::new();
        report.insert("custom_sql".into(), custom_sql.len().into());
        report.insert(
            "custom_sql_unsupported_by_catalog".into(),
            custom_sql
                .iter()
                .filter(|c| c.is_unsupported_custom_sql == Some(true))
                .count()
                .into(),
        );
        report.insert(
            "workbooks".into(),
            workbooks
                .iter()
                .map(|w| &w.id)
                .collect::<BTreeSet<_>>()
                .len()
                .into(),
        );
        report.insert("sheets".into(), sheet_count.into());
        report.insert(
            "chart_sql_from".into(),
            serde_json::to_value(&origins).unwrap_or_default(),
        );
        report.insert("dashboards".into(), dashboards.len().into());
        report.insert("dashboard_charts".into(), memberships.into());

        let mut slices = vec![Slice {
            date: ctx.date,
            scope: RowScope::Definitions,
        }];
        let state: Option<State> = ctx
            .checkpoint
            .as_ref()
            .and_then(|c| c.get(CHECKPOINT_KEY))
            .and_then(|v| serde_json::from_value(v.clone()).ok());
        let today = Utc::now().date_naive();
        let mut checkpoint = None;
        if plan(ctx.date, today, state.as_ref().map(|s| s.date)) == Plan::Keep {
            report.insert(
                "views".into(),
                "kept: view counts have no history, only today (and yesterday until today is synced) can be read; the rows read back then stay".into(),
            );
        } else {
            match self.view_counts().await? {
                Err(reason) => {
                    report.insert("views".into(), reason.into());
                }
                Ok(counts) => {
                    let current = Snapshot {
                        taken_at: Utc::now(),
                        stats_reset: None,
                        calls: counts,
                    };
                    let base = base_for(state.as_ref(), ctx.date).unwrap_or_else(|| {
                        report.insert("view_counts_baseline".into(), true.into());
                        current.clone()
                    });
                    let (view_rows, unmatched) =
                        self.view_rows(ctx, &base, &current, &charts, &dashboards);
                    report.insert("views".into(), view_rows.len().into());
                    report.insert(
                        "view_count".into(),
                        view_rows
                            .iter()
                            .map(|r| r.execution_count)
                            .sum::<i64>()
                            .into(),
                    );
                    report.insert("views_unmatched".into(), unmatched.into());
                    rows.extend(view_rows);
                    slices.push(Slice {
                        date: ctx.date,
                        scope: RowScope::Executions,
                    });
                    checkpoint = Some(serde_json::json!({
                        CHECKPOINT_KEY: State { date: ctx.date, base, last: current }
                    }));
                }
            }
        }
        report.insert(
            "metadata_pages".into(),
            serde_json::json!({
                "pages": stats.pages.load(Ordering::Relaxed),
                "node_limit_retries": stats.node_limit.load(Ordering::Relaxed),
                "timeout_retries": stats.timeouts.load(Ordering::Relaxed),
            }),
        );
        Ok(Collected {
            rows,
            slices,
            report,
            checkpoint,
        })
    }

    fn sheet_source(
        &self,
        queries: &[&api::CustomSql],
        datasource_tables: Option<&BTreeSet<String>>,
    ) -> SheetSource {
        let mut queries: Vec<&api::CustomSql> = queries
            .iter()
            .copied()
            .filter(|q| q.query.as_deref().is_some_and(|t| !t.trim().is_empty()))
            .collect();
        queries.sort_by(|a, b| a.id.cmp(&b.id));
        queries.dedup_by(|a, b| a.id == b.id);
        if let Some(first) = queries.first() {
            let dialect = self.dialect_of(query_connection_type(first));
            let sql = queries
                .iter()
                .filter_map(|q| q.query.as_deref())
                .collect::<Vec<_>>()
                .join(";\n");
            let tables = analyze_text(&sql, dialect)
                .map(|a| a.tables)
                .unwrap_or_default();
            return SheetSource {
                sql: Some(sql),
                dialect: Some(dialect),
                database: first.database.as_ref().and_then(|d| d.name.clone()),
                tables,
                origin: "custom_sql",
            };
        }
        match datasource_tables.filter(|t| !t.is_empty()) {
            Some(tables) => SheetSource {
                tables: tables.iter().cloned().collect(),
                origin: "datasource_tables",
                ..Default::default()
            },
            None => SheetSource {
                origin: "none",
                ..Default::default()
            },
        }
    }

    /// The day's views: one row per sheet or dashboard whose count moved
    /// since `base`, dated at the base snapshot's time (or the day's
    /// start), so a re-run gives the same ids. Also how many moved views
    /// matched no sheet or dashboard (a story, a view deleted since).
    fn view_rows(
        &self,
        ctx: &CollectContext<'_>,
        base: &Snapshot,
        current: &Snapshot,
        charts: &HashMap<&str, BiRow>,
        dashboards: &HashMap<String, (&api::Dashboard, BTreeSet<String>)>,
    ) -> (Vec<BiRow>, u64) {
        let executed_at = usage_time(ctx.date, base);
        let charts_by_rest_id: HashMap<&str, &BiRow> = charts
            .values()
            .map(|r| (r.resource_id.as_str(), r))
            .collect();
        let mut rows = Vec::new();
        let mut unmatched = 0;
        for view_id in current.calls.keys() {
            let count = calls_since(base, current, view_id);
            if count == 0 {
                continue;
            }
            let row = if let Some((dashboard, tables)) = dashboards.get(view_id) {
                BiRow {
                    title: dashboard.name.clone(),
                    tables: tables.iter().cloned().collect(),
                    dashboard_id: Some(view_id.clone()),
                    dashboard_title: dashboard.name.clone(),
                    dashboard_url: self.dashboard_url(dashboard),
                    ..BiRow::new(ResourceType::DashboardView, view_id.clone())
                }
            } else if let Some(chart) = charts_by_rest_id.get(view_id.as_str()) {
                BiRow {
                    resource_type: ResourceType::ChartView,
                    created_at: None,
                    ..(*chart).clone()
                }
            } else {
                unmatched += 1;
                continue;
            };
            rows.push(BiRow {
                executed_at: Some(executed_at),
                execution_count: count,
                ..row
            });
        }
        (rows, unmatched)
    }
}

fn query_connection_type(query: &api::CustomSql) -> Option<&str> {
    query
        .connection_type
        .as_deref()
        .or_else(|| query.database.as_ref()?.connection_type.as_deref())
        .filter(|t| !t.is_empty())
}
