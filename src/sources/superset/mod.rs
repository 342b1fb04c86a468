//! Apache Superset (REST API v1): saved queries, charts, each dashboard's
//! charts, and dashboard / chart views from the action log.
//!
//! A chart's SQL is what Superset compiles from its saved query context
//! (`/chart/{id}/data/?type=query`). A chart saved without one answers
//! 400 there; it falls back to its dataset: a virtual dataset's SQL, else
//! the physical table itself. Bare table names are qualified with the
//! schema the text runs in (the saved query's or dataset's), so the same
//! table reads the same in every row.

mod api;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Days, NaiveDate};
use futures::future::{BoxFuture, try_join_all};
use serde::de::DeserializeOwned;

use super::bi_queries::{analyze_text, connector_dialect};
use super::collect::{
    BiRow, CollectContext, CollectError, Collected, Collector, ResourceType, RowScope, Slice,
};
use super::http::{HttpClient, HttpError, HttpSettings, pages_by_number};
use crate::config::ConnectorConfig;
use crate::sql::SqlDialect;
use api::{Filter, list_query};

/// Superset refuses pages above `FAB_API_MAX_PAGE_SIZE` (100 by default).
const DEFAULT_PAGE_SIZE: usize = 100;

/// Days of views the first sync reads; later syncs start at the day the
/// previous one reached (re-read whole, as it may have been partial).
const FIRST_VIEW_DAYS: u64 = 7;

pub struct SupersetCollector {
    client: HttpClient,
    page_size: usize,
    default_schema: Option<String>,
    fallback_dialect: SqlDialect,
}

impl SupersetCollector {
    pub fn new(connector: &ConnectorConfig) -> Result<Self, CollectError> {
        let (Some(username), Some(password)) = (&connector.username, &connector.password) else {
            return Err(CollectError::source(
                connector,
                "a superset connector needs username and password",
            ));
        };
        let settings = HttpSettings::for_connector(connector, None)?;
        let login = api::Login {
            username: username.clone(),
            password: password.clone(),
        };
        Ok(Self {
            client: HttpClient::new(settings, Some(Arc::new(login)))?,
            page_size: connector
                .page_size
                .map_or(DEFAULT_PAGE_SIZE, |n| n as usize),
            default_schema: connector.default_schema.clone(),
            fallback_dialect: connector_dialect(connector),
        })
    }

    /// Every item of a list resource, page by page (`ids` kept beside them).
    async fn list<T: DeserializeOwned>(
        &self,
        resource: &str,
        columns: &[&str],
        filters: &[Filter<'_>],
        order_by: Option<&str>,
    ) -> Result<Vec<(i64, T)>, HttpError> {
        pages_by_number(0, self.page_size, |page| async move {
            let q = list_query(columns, filters, order_by, page, self.page_size);
            let body: api::ListPage<T> = self
                .client
                .get_json(&format!("api/v1/{resource}/?q={q}"))
                .await?;
            let items: Vec<(i64, T)> = if body.ids.len() == body.result.len() {
                body.ids.into_iter().zip(body.result).collect()
            } else {
                body.result.into_iter().map(|item| (0, item)).collect()
            };
            Ok((items, body.count))
        })
        .await
    }

    /// A list the account may not be allowed to read (403) or the server
    /// may have switched off (404): `None` then, the reason in the report.
    async fn optional_list<T: DeserializeOwned>(
        &self,
        resource: &str,
        columns: &[&str],
        filters: &[Filter<'_>],
        order_by: Option<&str>,
    ) -> Result<Result<Vec<(i64, T)>, String>, HttpError> {
        match self.list(resource, columns, filters, order_by).await {
            Ok(items) => Ok(Ok(items)),
            Err(e) if matches!(e.status(), Some(403 | 404)) => Ok(Err(format!(
                "not readable (HTTP {})",
                e.status().unwrap_or_default()
            ))),
            Err(e) => Err(e),
        }
    }

    fn dialect_of(&self, backend: Option<&str>) -> SqlDialect {
        match backend.unwrap_or("") {
            "postgresql" | "postgres" => SqlDialect::Postgres,
            "snowflake" => SqlDialect::Snowflake,
            "bigquery" => SqlDialect::Bigquery,
            "mysql" | "mariadb" => SqlDialect::Mysql,
            "redshift" => SqlDialect::Redshift,
            "databricks" | "hive" | "spark" => SqlDialect::Databricks,
            "mssql" => SqlDialect::Mssql,
            "" => self.fallback_dialect,
            _ => SqlDialect::Generic,
        }
    }

    /// The chart's compiled SQL, or `None` when Superset answers 400 (no
    /// query context saved, or one it cannot compile any more).
    async fn chart_sql(&self, chart_id: i64) -> Result<Option<String>, HttpError> {
        let path = format!("api/v1/chart/{chart_id}/data/?format=json&type=query");
        match self.client.get_json::<api::ChartData>(&path).await {
            Ok(data) => {
                let queries: Vec<String> = data
                    .result
                    .into_iter()
                    .filter_map(|q| q.query)
                    .filter(|q| !q.trim().is_empty())
                    .collect();
                Ok((!queries.is_empty()).then(|| queries.join(";\n")))
            }
            Err(e) if e.status() == Some(400) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// What a chart reads, however it was found.
#[derive(Debug, Clone, Default)]
struct ChartSource {
    sql: Option<String>,
    tables: Vec<String>,
    database: Option<String>,
    dialect: Option<SqlDialect>,
    /// `query_context`, `virtual_dataset`, `physical_dataset` or `none`.
    origin: &'static str,
}

/// The tables `sql` reads, bare names qualified with `schema`.
fn qualified_tables(sql: &str, dialect: SqlDialect, schema: Option<&str>) -> Vec<String> {
    let Some(analysis) = analyze_text(sql, dialect) else {
        return Vec::new();
    };
    qualify(analysis.tables, schema)
}

fn qualify(tables: Vec<String>, schema: Option<&str>) -> Vec<String> {
    let schema = schema.filter(|s| !s.is_empty());
    let set: BTreeSet<String> = tables
        .into_iter()
        .map(|t| match schema {
            Some(schema) if !t.contains('.') => format!("{}.{t}", schema.to_lowercase()),
            _ => t,
        })
        .collect();
    set.into_iter().collect()
}

impl Collector for SupersetCollector {
    fn collect<'a>(
        &'a self,
        ctx: &'a CollectContext<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>> {
        Box::pin(async move { Ok(self.scrape(ctx).await?) })
    }
}

impl SupersetCollector {
    async fn scrape(&self, ctx: &CollectContext<'_>) -> Result<Collected, HttpError> {
        let mut report = serde_json::Map::new();
        let databases: HashMap<i64, api::Database> = match self
            .optional_list::<api::Database>("database", api::Database::COLUMNS, &[], None)
            .await?
        {
            Ok(list) => list.into_iter().map(|(_, d)| (d.id, d)).collect(),
            Err(reason) => {
                report.insert("databases".into(), reason.into());
                HashMap::new()
            }
        };
        let dialect_of_db = |db: Option<&api::DatabaseRef>| {
            let backend = db
                .and_then(|d| d.id)
                .and_then(|id| databases.get(&id))
                .and_then(|d| d.backend.as_deref());
            self.dialect_of(backend)
        };
        let datasets: HashMap<i64, api::Dataset> = self
            .list::<api::Dataset>("dataset", api::Dataset::COLUMNS, &[], None)
            .await?
            .into_iter()
            .map(|(_, d)| (d.id, d))
            .collect();
        let saved = self
            .list::<api::SavedQuery>("saved_query", api::SavedQuery::COLUMNS, &[], None)
            .await?;
        let charts = self
            .list::<api::Chart>("chart", api::Chart::COLUMNS, &[], None)
            .await?;
        let dashboards = self
            .list::<api::Dashboard>("dashboard", api::Dashboard::COLUMNS, &[], None)
            .await?;

        let mut rows = Vec::new();
        for (_, query) in dedup(saved, |q| q.id) {
            let dialect = dialect_of_db(query.database.as_ref());
            let schema = query.schema.as_deref().or(self.default_schema.as_deref());
            let tables = query
                .sql
                .as_deref()
                .map(|sql| qualified_tables(sql, dialect, schema))
                .unwrap_or_default();
            rows.push(BiRow {
                title: query.label.clone(),
                sql: query.sql.clone(),
                dialect: Some(dialect),
                tables,
                database: query
                    .database
                    .as_ref()
                    .and_then(|d| d.database_name.clone()),
                created_at: query.created_on.as_deref().and_then(api::parse_time),
                ..BiRow::new(ResourceType::SavedQuery, query.id.to_string())
            });
        }

        let charts: Vec<api::Chart> = dedup(charts, |c| c.id)
            .into_iter()
            .map(|(_, c)| c)
            .collect();
        // The semaphore in the client bounds how many of these run at once.
        let compiled = try_join_all(charts.iter().map(|c| self.chart_sql(c.id))).await?;
        let mut sources: HashMap<i64, ChartSource> = HashMap::new();
        let mut origins: BTreeMap<&str, u64> = BTreeMap::new();
        for (chart, compiled) in charts.iter().zip(compiled) {
            let dataset = match chart.datasource_type.as_deref() {
                Some("table") | None => chart.datasource_id.and_then(|id| datasets.get(&id)),
                Some(_) => None,
            };
            let schema = dataset
                .and_then(|d| d.schema.as_deref())
                .or(self.default_schema.as_deref());
            let database = dataset
                .and_then(|d| d.database.as_ref())
                .and_then(|d| d.database_name.clone());
            let dialect = dialect_of_db(dataset.and_then(|d| d.database.as_ref()));
            let virtual_sql = dataset
                .and_then(|d| d.sql.clone())
                .filter(|s| !s.trim().is_empty());
            let source = match (compiled, dataset, virtual_sql) {
                (Some(sql), _, _) => ChartSource {
                    tables: qualified_tables(&sql, dialect, schema),
                    sql: Some(sql),
                    origin: "query_context",
                    ..Default::default()
                },
                (None, _, Some(sql)) => ChartSource {
                    tables: qualified_tables(&sql, dialect, schema),
                    sql: Some(sql),
                    origin: "virtual_dataset",
                    ..Default::default()
                },
                (None, Some(dataset), None) => ChartSource {
                    tables: qualify(vec![dataset.table_name.to_lowercase()], schema),
                    origin: "physical_dataset",
                    ..Default::default()
                },
                (None, None, None) => ChartSource {
                    origin: "none",
                    ..Default::default()
                },
            };
            let source = ChartSource {
                database,
                dialect: Some(dialect),
                ..source
            };
            *origins.entry(source.origin).or_insert(0u64) += 1;
            rows.push(chart_row(
                ResourceType::Chart,
                chart.id,
                chart.slice_name.clone(),
                &source,
            ));
            sources.insert(chart.id, source);
        }
        let chart_titles: HashMap<i64, Option<String>> = charts
            .iter()
            .map(|c| (c.id, c.slice_name.clone()))
            .collect();

        let dashboards: Vec<api::Dashboard> = dedup(dashboards, |d| d.id)
            .into_iter()
            .map(|(_, d)| d)
            .collect();
        let members = try_join_all(dashboards.iter().map(|d| async move {
            let path = format!("api/v1/dashboard/{}/charts", d.id);
            self.client.get_json::<api::DashboardCharts>(&path).await
        }))
        .await?;
        let mut dashboard_tables: HashMap<i64, BTreeSet<String>> = HashMap::new();
        let mut memberships = 0;
        for (dashboard, members) in dashboards.iter().zip(members) {
            let url = dashboard_url(&self.client, dashboard);
            for member in members.result {
                let source = sources.get(&member.id).cloned().unwrap_or_default();
                dashboard_tables
                    .entry(dashboard.id)
                    .or_default()
                    .extend(source.tables.iter().cloned());
                let title = member
                    .slice_name
                    .or_else(|| chart_titles.get(&member.id).cloned().flatten());
                rows.push(BiRow {
                    dashboard_id: Some(dashboard.id.to_string()),
                    dashboard_title: dashboard.dashboard_title.clone(),
                    dashboard_url: url.clone(),
                    ..chart_row(ResourceType::DashboardChart, member.id, title, &source)
                });
                memberships += 1;
            }
        }

        let mut slices = vec![Slice {
            date: ctx.date,
            scope: RowScope::Definitions,
        }];
        let first_day = ctx.views_from(FIRST_VIEW_DAYS);
        let views = self
            .views(
                first_day,
                ctx.date,
                &sources,
                &chart_titles,
                &dashboards,
                &dashboard_tables,
            )
            .await?;
        let view_count = match views {
            Ok(view_rows) => {
                slices.extend(ctx.execution_slices(first_day));
                let n = view_rows.len();
                rows.extend(view_rows);
                serde_json::Value::from(n)
            }
            Err(reason) => reason.into(),
        };

        report.insert(
            "saved_queries".into(),
            count_of(&rows, ResourceType::SavedQuery).into(),
        );
        report.insert("charts".into(), charts.len().into());
        report.insert(
            "chart_sql_from".into(),
            serde_json::to_value(&origins).unwrap_or_default(),
        );
        report.insert("dashboards".into(), dashboards.len().into());
        report.insert("dashboard_charts".into(), memberships.into());
        report.insert("views".into(), view_count);
        report.insert("views_from".into(), first_day.to_string().into());
        Ok(Collected {
            rows,
            slices,
            report,
            checkpoint: Some(serde_json::json!({ "views_through": ctx.date })),
        })
    }

    /// Dashboard and chart views of `[first_day, last_day]` from the
    /// action log; `Err(reason)` when the log is not readable.
    async fn views(
        &self,
        first_day: NaiveDate,
        last_day: NaiveDate,
        sources: &HashMap<i64, ChartSource>,
        chart_titles: &HashMap<i64, Option<String>>,
        dashboards: &[api::Dashboard],
        dashboard_tables: &HashMap<i64, BTreeSet<String>>,
    ) -> Result<Result<Vec<BiRow>, String>, HttpError> {
        let end = last_day + Days::new(1);
        let filters = [
            Filter {
                column: "action",
                operator: "eq",
                value: "log".into(),
            },
            Filter {
                column: "json",
                operator: "ct",
                value: "mount_".into(),
            },
            Filter {
                column: "dttm",
                operator: "gt",
                value: format!("{first_day}T00:00:00"),
            },
            Filter {
                column: "dttm",
                operator: "lt",
                value: format!("{end}T00:00:00"),
            },
        ];
        let entries = match self
            .optional_list::<api::LogEntry>("log", api::LogEntry::COLUMNS, &filters, Some("dttm"))
            .await?
        {
            Ok(entries) => entries,
            Err(reason) => return Ok(Err(reason)),
        };
        let by_id: HashMap<i64, &api::Dashboard> = dashboards.iter().map(|d| (d.id, d)).collect();
        // Identical events (same object, user and instant) add up.
        let mut views: BTreeMap<(ResourceType, i64, Option<String>, i64), BiRow> = BTreeMap::new();
        for (_, entry) in dedup(entries, |_| 0) {
            let Some(at) = entry.dttm.as_deref().and_then(api::parse_time) else {
                continue;
            };
            let user = entry.user.as_ref().and_then(|u| u.username.clone());
            let row = match (
                entry.event_name().as_deref(),
                entry.dashboard_id,
                entry.slice_id,
            ) {
                (Some("mount_dashboard"), Some(id), _) => {
                    let dashboard = by_id.get(&id);
                    BiRow {
                        title: dashboard.and_then(|d| d.dashboard_title.clone()),
                        tables: dashboard_tables
                            .get(&id)
                            .map(|t| t.iter().cloned().collect())
                            .unwrap_or_default(),
                        dashboard_id: Some(id.to_string()),
                        dashboard_title: dashboard.and_then(|d| d.dashboard_title.clone()),
                        dashboard_url: dashboard.and_then(|d| dashboard_url(&self.client, d)),
                        ..BiRow::new(ResourceType::DashboardView, id.to_string())
                    }
                }
                (Some("mount_explorer"), _, Some(id)) => {
                    let source = sources.get(&id).cloned().unwrap_or_default();
                    let title = chart_titles.get(&id).cloned().flatten();
                    chart_row(ResourceType::ChartView, id, title, &source)
                }
                _ => continue,
            };
            let key = (
                row.resource_type,
                row.resource_id.parse().unwrap_or_default(),
                user.clone(),
                at.timestamp_micros(),
            );
            views
                .entry(key)
                .and_modify(|r| r.execution_count += 1)
                .or_insert(BiRow {
                    executed_by: user,
                    executed_at: Some(at),
                    ..row
                });
        }
        Ok(Ok(views.into_values().collect()))
    }
}

fn chart_row(
    resource_type: ResourceType,
    chart_id: i64,
    title: Option<String>,
    source: &ChartSource,
) -> BiRow {
    BiRow {
        title,
        sql: source.sql.clone(),
        dialect: source.dialect,
        tables: source.tables.clone(),
        database: source.database.clone(),
        ..BiRow::new(resource_type, chart_id.to_string())
    }
}

/// The dashboard's own link (`/superset/dashboard/<slug or id>/`), made
/// absolute with the connector's url; built from the id when missing.
fn dashboard_url(client: &HttpClient, dashboard: &api::Dashboard) -> Option<String> {
    let path = dashboard
        .url
        .clone()
        .unwrap_or_else(|| format!("/superset/dashboard/{}/", dashboard.id));
    client.url(&path).ok().map(|u| u.to_string())
}

/// Items in first-seen order, one per key: a list ordered by a column that
/// changes while it is paged can hand an item twice.
fn dedup<T>(items: Vec<(i64, T)>, key: impl Fn(&T) -> i64) -> Vec<(i64, T)> {
    let mut seen = BTreeSet::new();
    items
        .into_iter()
        .filter(|(id, item)| {
            let k = if *id != 0 { *id } else { key(item) };
            k == 0 || seen.insert(k)
        })
        .collect()
}

fn count_of(rows: &[BiRow], kind: ResourceType) -> usize {
    rows.iter().filter(|r| r.resource_type == kind).count()
}
