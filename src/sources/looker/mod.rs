//! Looker (API 4.0): looks as `chart` rows, each user-defined dashboard's
//! tiles as `dashboard_chart` rows, and query runs from System Activity as
//! `chart_view` rows.
//!
//! SQL is what Looker generates for a query (`GET /queries/{id}/run/sql`,
//! which compiles without running). A look or tile runs in its model's
//! connection; the connection's `dialect_name` picks the SQL dialect.
//! Resource ids say what kind of Looker object they are (`look:5`,
//! `element:31`, `query:88`), since looks, tiles and ad-hoc queries share
//! one id space per kind only.
//!
//! Usage: System Activity's `history` explore caps a query at a row limit
//! (5,000 by default). Runs are read oldest first, `page_size` rows at a
//! time; a full page goes on from its last second (that second is read
//! again whole), so no cap cuts rows off silently.

mod api;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use chrono::{Days, NaiveDate, NaiveDateTime, TimeDelta};
use futures::future::{BoxFuture, try_join_all};
use serde::de::DeserializeOwned;

use super::bi_queries::connector_dialect;
use super::collect::{
    BiRow, CollectContext, CollectError, Collected, Collector, ResourceType, RowScope, Slice,
};
use super::http::{HttpClient, HttpError, HttpSettings, pages_by_number};
use crate::config::ConnectorConfig;
use crate::sql::SqlDialect;
use api::{PREFIX, TileSource, history, segment};

/// Rows per search page and per System Activity page. Keep it at or below
/// the instance's query row cap (5,000 unless an admin changed it): a
/// page that the cap cut short would look like the last one.
const DEFAULT_PAGE_SIZE: usize = 1000;

/// Days of usage the first sync reads; later syncs start at the day the
/// previous one reached (re-read whole, as it may have been partial).
const FIRST_HISTORY_DAYS: u64 = 7;

pub struct LookerCollector {
    client: HttpClient,
    page_size: usize,
    fallback_dialect: SqlDialect,
}

/// Where a query runs and what it says.
#[derive(Debug, Clone, Default)]
struct Target {
    sql: Option<String>,
    dialect: Option<SqlDialect>,
    connection: Option<String>,
}

/// Runs of one object on one dashboard by one user in one second add up.
type RunKey = (String, Option<String>, Option<String>, NaiveDateTime);

/// Usage read from System Activity.
struct History {
    runs: Vec<history::Run>,
    pages: usize,
    /// Seconds that filled a whole page on their own: read up to the cap.
    capped_seconds: usize,
    unusable: usize,
    problem: Option<String>,
}

impl LookerCollector {
    pub fn new(connector: &ConnectorConfig) -> Result<Self, CollectError> {
        let (Some(client_id), Some(client_secret)) =
            (&connector.client_id, &connector.client_secret)
        else {
            return Err(CollectError::source(
                connector,
                "a looker connector needs client_id and client_secret (an API key of a Looker user)",
            ));
        };
        let settings = HttpSettings::for_connector(connector, None)?;
        let login = api::Login {
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
        };
        Ok(Self {
            client: HttpClient::new(settings, Some(Arc::new(login)))?,
            page_size: connector
                .page_size
                .map_or(DEFAULT_PAGE_SIZE, |n| n as usize)
                .max(1),
            fallback_dialect: connector_dialect(connector),
        })
    }

    fn path(rest: &str) -> String {
        format!("{PREFIX}/{rest}")
    }

    /// Every item of a search endpoint, paged with `limit` / `offset` as
    /// the reference recommends, until a page comes back short.
    async fn search<T: DeserializeOwned>(
        &self,
        resource: &str,
        fields: &str,
    ) -> Result<Vec<T>, HttpError> {
        let size = self.page_size;
        pages_by_number(0, size, |page| async move {
            let path = Self::path(&format!(
                "{resource}/search?deleted=false&fields={fields}&sorts=id&limit={size}&offset={}",
                page as usize * size
            ));
            let items: Vec<T> = self.client.get_json(&path).await?;
            Ok((items, None))
        })
        .await
    }

    /// Connection name → dialect name; `Err(reason)` when the account may
    /// not list connections (the dialects then fall back).
    async fn connections(&self) -> Result<Result<HashMap<String, String>, String>, HttpError> {
        let path = Self::path(&format!("connections?fields={}", api::Connection::FIELDS));
        match self.client.get_json::<Vec<api::Connection>>(&path).await {
            Ok(list) => Ok(Ok(list
                .into_iter()
                .filter_map(|c| Some((c.name, c.dialect_name?)))
                .collect())),
            Err(e) if matches!(e.status(), Some(403 | 404)) => Ok(Err(not_readable(&e))),
            Err(e) => Err(e),
        }
    }

    /// The connection a model's queries run on: its explores all use the
    /// model's one `connection:`, so the first explore tells.
    async fn model_connection(&self, model: &str) -> Result<Option<String>, HttpError> {
        let path = Self::path(&format!("lookml_models/{}?fields=explores", segment(model)));
        let model_info = match self.client.get_json::<api::Model>(&path).await {
            Ok(m) => m,
            Err(e) if matches!(e.status(), Some(403 | 404)) => return Ok(None),
            Err(e) => return Err(e),
        };
        let Some(explore) = model_info.explores.first() else {
            return Ok(None);
        };
        let path = Self::path(&format!(
            "lookml_models/{}/explores/{}?fields=connection_name",
            segment(model),
            segment(&explore.name)
        ));
        match self.client.get_json::<api::Explore>(&path).await {
            Ok(e) => Ok(e.connection_name),
            Err(e) if matches!(e.status(), Some(403 | 404)) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The SQL Looker generates for a query; `None` when it will not (a
    /// model that no longer validates, a query the account may not see).
    async fn compiled_sql(&self, query_id: &str) -> Result<Option<String>, HttpError> {
        let path = Self::path(&format!("queries/{}/run/sql", segment(query_id)));
        match self.client.get_text(&path).await {
            Ok(sql) => Ok(Some(sql).filter(|s| !s.trim().is_empty())),
            Err(e)
                if e.status()
                    .is_some_and(|s| (400..500).contains(&s) && s != 429) =>
            {
                Ok(None)
            }
            Err(e) => Err(e),
        }
    }

    /// Compiles every id of `ids` not in `known` yet.
    async fn compile_into(
        &self,
        ids: BTreeSet<String>,
        known: &mut HashMap<String, Option<String>>,
    ) -> Result<(), HttpError> {
        let wanted: Vec<String> = ids
            .into_iter()
            .filter(|id| !known.contains_key(id))
            .collect();
        let compiled = try_join_all(wanted.iter().map(|id| self.compiled_sql(id))).await?;
        known.extend(wanted.into_iter().zip(compiled));
        Ok(())
    }

    fn dialect_of(&self, dialect_name: Option<&str>) -> SqlDialect {
        let name = dialect_name.unwrap_or("").to_ascii_lowercase();
        let starts = |prefixes: &[&str]| prefixes.iter().any(|p| name.starts_with(p));
        if name.is_empty() {
            self.fallback_dialect
        } else if starts(&["bigquery"]) {
            SqlDialect::Bigquery
        } else if starts(&["snowflake"]) {
            SqlDialect::Snowflake
        } else if starts(&["redshift"]) {
            SqlDialect::Redshift
        } else if starts(&["postgres"]) {
            SqlDialect::Postgres
        } else if starts(&["mysql", "mariadb", "aurora_mysql", "memsql", "singlestore"]) {
            SqlDialect::Mysql
        } else if starts(&["databricks", "spark", "hive"]) {
            SqlDialect::Databricks
        } else if starts(&["mssql", "azure_sql", "synapse"]) {
            SqlDialect::Mssql
        } else {
            SqlDialect::Generic
        }
    }

    /// Usage of `[from, to)`, page by page; `Err(reason)` when the account
    /// may not read System Activity.
    async fn history(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
    ) -> Result<Result<History, String>, HttpError> {
        let mut out = History {
            runs: Vec::new(),
            pages: 0,
            capped_seconds: 0,
            unusable: 0,
            problem: None,
        };
        let path = Self::path("queries/run/json");
        let mut start = from;
        while start < to {
            let body = history::query(start, to, self.page_size);
            let rows: Vec<serde_json::Map<String, serde_json::Value>> =
                match self.client.post_json(&path, &body).await {
                    Ok(rows) => rows,
                    Err(e) if matches!(e.status(), Some(403 | 404)) => {
                        return Ok(Err(not_readable(&e)));
                    }
                    Err(e) => return Err(e),
                };
            out.pages += 1;
            // A query that fails in the database still answers 200, with
            // the error as a row; its text can quote the query, so only
            // that it failed is kept.
            if rows.iter().any(|r| r.contains_key("looker_error")) {
                return Ok(Err(
                    "System Activity query failed in Looker (looker_error)".into()
                ));
            }
            let full = rows.len() >= self.page_size;
            let mut runs = Vec::with_capacity(rows.len());
            for (n, row) in rows.iter().enumerate() {
                match history::parse(row) {
                    Ok(run) => runs.push(run),
                    Err(reason) => {
                        out.unusable += 1;
                        out.problem.get_or_insert_with(|| {
                            format!("row {} of the page from {start}: {reason}", n + 1)
                        });
                    }
                }
            }
            let (Some(first), Some(last)) = (
                runs.iter().map(|r| r.at).min(),
                runs.iter().map(|r| r.at).max(),
            ) else {
                break;
            };
            if !full {
                out.runs.extend(runs);
                break;
            }
            if first == last {
                // One second holds a whole page: time cannot narrow it further.
                out.capped_seconds += 1;
                out.runs.extend(runs);
                start = last + TimeDelta::seconds(1);
            } else {
                // The last second may go on past the cap: read it again whole.
                out.runs.extend(runs.into_iter().filter(|r| r.at < last));
                start = last;
            }
        }
        Ok(Ok(out))
    }

    async fn scrape(&self, ctx: &CollectContext<'_>) -> Result<Collected, HttpError> {
        let mut report = serde_json::Map::new();
        let dialects = match self.connections().await? {
            Ok(map) => map,
            Err(reason) => {
                report.insert("connections".into(), reason.into());
                HashMap::new()
            }
        };
        let looks: Vec<api::Look> = dedup(
            self.search::<api::Look>("looks", api::Look::FIELDS).await?,
            |l| l.id.clone(),
        )
        .into_iter()
        .filter(|l| !l.deleted)
        .collect();
        let dashboards: Vec<api::Dashboard> = dedup(
            self.search::<api::Dashboard>("dashboards", api::Dashboard::FIELDS)
                .await?,
            |d| d.id.clone(),
        )
        .into_iter()
        .filter(|d| !d.deleted)
        .collect();
        let elements = try_join_all(dashboards.iter().map(|d| async move {
            let path = Self::path(&format!("dashboards/{}/dashboard_elements", segment(&d.id)));
            self.client.get_json::<Vec<api::Element>>(&path).await
        }))
        .await?;

        let looks_by_id: HashMap<&str, &api::Look> =
            looks.iter().map(|l| (l.id.as_str(), l)).collect();
        // What each look and tile runs: (query id, model).
        let look_query = |id: &str, query_id: &Option<String>, model: &Option<String>| {
            let look = looks_by_id.get(id);
            (
                query_id
                    .clone()
                    .or_else(|| look.and_then(|l| l.query_id.clone())),
                model
                    .clone()
                    .or_else(|| look.and_then(|l| l.model.as_ref()?.id.clone())),
            )
        };
        let mut query_ids = BTreeSet::new();
        let mut models = BTreeSet::new();
        let mut note = |query: &Option<String>, model: &Option<String>| {
            query_ids.extend(query.clone());
            models.extend(model.clone());
        };
        for look in &looks {
            note(
                &look.query_id,
                &look.model.as_ref().and_then(|m| m.id.clone()),
            );
        }
        for element in elements.iter().flatten() {
            match element.source() {
                TileSource::Look {
                    id,
                    query_id,
                    model,
                } => {
                    let (query, model) = look_query(&id, &query_id, &model);
                    note(&query, &model);
                }
                TileSource::Query { id, model } => note(&Some(id), &model),
                TileSource::Merged | TileSource::Nothing => {}
            }
        }
        let mut sql: HashMap<String, Option<String>> = HashMap::new();
        self.compile_into(query_ids, &mut sql).await?;
        let models: Vec<String> = models.into_iter().collect();
        let connections = try_join_all(models.iter().map(|m| self.model_connection(m))).await?;
        let model_connections: HashMap<String, Option<String>> =
            models.into_iter().zip(connections).collect();
        let target = |query: &Option<String>, model: &Option<String>| {
            let connection = model
                .as_ref()
                .and_then(|m| model_connections.get(m).cloned().flatten());
            Target {
                sql: query.as_ref().and_then(|q| sql.get(q).cloned().flatten()),
                dialect: Some(
                    self.dialect_of(
                        connection
                            .as_ref()
                            .and_then(|c| dialects.get(c))
                            .map(String::as_str),
                    ),
                ),
                connection,
            }
        };

        let mut rows = Vec::new();
        let mut titles_by_query: HashMap<String, Option<String>> = HashMap::new();
        for look in &looks {
            let model = look.model.as_ref().and_then(|m| m.id.clone());
            titles_by_query.extend(look.query_id.clone().map(|q| (q, look.title.clone())));
            rows.push(BiRow {
                title: look.title.clone(),
                created_at: look.created_at,
                ..target_row(
                    ResourceType::Chart,
                    format!("look:{}", look.id),
                    &target(&look.query_id, &model),
                )
            });
        }
        let mut memberships = 0u64;
        let mut merged = 0u64;
        let dashboards_by_id: HashMap<&str, &api::Dashboard> =
            dashboards.iter().map(|d| (d.id.as_str(), d)).collect();
        for (dashboard, elements) in dashboards.iter().zip(&elements) {
            let url = self.dashboard_url(&dashboard.id, dashboard.url.as_deref());
            let mut seen = BTreeSet::new();
            for element in elements {
                let title = element.display_title();
                let (resource_id, runs_on) = match element.source() {
                    TileSource::Look {
                        id,
                        query_id,
                        model,
                    } => {
                        let (query, model) = look_query(&id, &query_id, &model);
                        let title = title
                            .clone()
                            .or_else(|| looks_by_id.get(id.as_str()).and_then(|l| l.title.clone()));
                        titles_by_query.extend(query.clone().map(|q| (q, title)));
                        (format!("look:{id}"), target(&query, &model))
                    }
                    TileSource::Query { id, model } => {
                        titles_by_query.insert(id.clone(), title.clone());
                        (format!("element:{}", element.id), target(&Some(id), &model))
                    }
                    TileSource::Merged => {
                        merged += 1;
                        (format!("element:{}", element.id), Target::default())
                    }
                    TileSource::Nothing => continue,
                };
                // A look shown twice on one dashboard is one membership.
                if !seen.insert(resource_id.clone()) {
                    continue;
                }
                let title = title.or_else(|| {
                    let look = resource_id.strip_prefix("look:")?;
                    looks_by_id.get(look)?.title.clone()
                });
                rows.push(BiRow {
                    title,
                    dashboard_id: Some(dashboard.id.clone()),
                    dashboard_title: dashboard.title.clone(),
                    dashboard_url: url.clone(),
                    ..target_row(ResourceType::DashboardChart, resource_id, &runs_on)
                });
                memberships += 1;
            }
        }
        report.insert("looks".into(), looks.len().into());
        report.insert("dashboards".into(), dashboards.len().into());
        report.insert("dashboard_charts".into(), memberships.into());
        report.insert("merged_result_tiles".into(), merged.into());

        let mut slices = vec![Slice {
            date: ctx.date,
            scope: RowScope::Definitions,
        }];
        let first_day = history_window_start(ctx);
        report.insert("history_from".into(), first_day.to_string().into());
        let read = self
            .history(
                history::midnight(first_day),
                history::midnight(ctx.date + Days::new(1)),
            )
            .await?;
        let checkpoint = match read {
            Err(reason) => {
                report.insert("history".into(), reason.into());
                None
            }
            Ok(usage) => {
                let ids: BTreeSet<String> = usage
                    .runs
                    .iter()
                    .filter_map(|r| r.query_id.clone())
                    .collect();
                self.compile_into(ids, &mut sql).await?;
                let mut views: BTreeMap<RunKey, BiRow> = BTreeMap::new();
                let mut without_object = 0u64;
                for run in &usage.runs {
                    let resource_id = match (&run.look_id, &run.query_id) {
                        (Some(look), _) => format!("look:{look}"),
                        (None, Some(query)) => format!("query:{query}"),
                        (None, None) => {
                            without_object += 1;
                            continue;
                        }
                    };
                    let key = (
                        resource_id.clone(),
                        run.dashboard_id.clone(),
                        run.user.clone(),
                        run.at,
                    );
                    if let Some(row) = views.get_mut(&key) {
                        row.execution_count += run.runs;
                        continue;
                    }
                    let dialect_name = run
                        .connection
                        .as_ref()
                        .and_then(|c| dialects.get(c))
                        .map(String::as_str);
                    let title = match &run.look_id {
                        Some(look) => looks_by_id.get(look.as_str()).and_then(|l| l.title.clone()),
                        None => run
                            .query_id
                            .as_ref()
                            .and_then(|q| titles_by_query.get(q).cloned().flatten()),
                    };
                    let dashboard = run
                        .dashboard_id
                        .as_ref()
                        .and_then(|id| dashboards_by_id.get(id.as_str()));
                    let row = BiRow {
                        title,
                        sql: run
                            .query_id
                            .as_ref()
                            .and_then(|q| sql.get(q).cloned().flatten()),
                        dialect: Some(self.dialect_of(dialect_name)),
                        database: run.connection.clone(),
                        executed_by: run.user.clone(),
                        executed_at: Some(run.at.and_utc()),
                        execution_count: run.runs,
                        dashboard_id: run.dashboard_id.clone(),
                        dashboard_title: dashboard.and_then(|d| d.title.clone()),
                        dashboard_url: run.dashboard_id.as_ref().and_then(|id| {
                            self.dashboard_url(id, dashboard.and_then(|d| d.url.as_deref()))
                        }),
                        ..BiRow::new(ResourceType::ChartView, resource_id)
                    };
                    views.insert(key, row);
                }
                slices.extend(
                    first_day
                        .iter_days()
                        .take_while(|d| *d <= ctx.date)
                        .map(|date| Slice {
                            date,
                            scope: RowScope::Executions,
                        }),
                );
                let runs: i64 = views.values().map(|r| r.execution_count).sum();
                report.insert("history_rows".into(), views.len().into());
                report.insert("history_runs".into(), runs.into());
                report.insert("history_pages".into(), usage.pages.into());
                if without_object > 0 {
                    report.insert("history_runs_without_query".into(), without_object.into());
                }
                if usage.capped_seconds > 0 {
                    report.insert(
                        "history_seconds_at_row_cap".into(),
                        usage.capped_seconds.into(),
                    );
                }
                if usage.unusable > 0 {
                    report.insert("history_rows_unusable".into(), usage.unusable.into());
                    report.insert(
                        "history_row_problem".into(),
                        usage.problem.unwrap_or_default().into(),
                    );
                }
                rows.extend(views.into_values());
                Some(serde_json::json!({ "history_through": ctx.date }))
            }
        };
        let compiled = sql.values().filter(|s| s.is_some()).count();
        report.insert("queries_compiled".into(), compiled.into());
        report.insert("queries_not_compiled".into(), (sql.len() - compiled).into());
        Ok(Collected {
            rows,
            slices,
            report,
            checkpoint,
        })
    }

    /// The dashboard's own relative URL (`/dashboards/12`) made absolute
    /// with the connector's url; built from the id when the API gave none.
    fn dashboard_url(&self, id: &str, url: Option<&str>) -> Option<String> {
        let path = url
            .map(str::to_string)
            .unwrap_or_else(|| format!("/dashboards/{}", segment(id)));
        self.client.url(&path).ok().map(|u| u.to_string())
    }
}

impl Collector for LookerCollector {
    fn collect<'a>(
        &'a self,
        ctx: &'a CollectContext<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>> {
        Box::pin(async move { Ok(self.scrape(ctx).await?) })
    }
}

fn target_row(resource_type: ResourceType, resource_id: String, target: &Target) -> BiRow {
    BiRow {
        sql: target.sql.clone(),
        dialect: target.dialect,
        database: target.connection.clone(),
        ..BiRow::new(resource_type, resource_id)
    }
}

fn not_readable(e: &HttpError) -> String {
    format!("not readable (HTTP {})", e.status().unwrap_or_default())
}

/// The first day of usage to read: the day the last sync reached (it may
/// have been partial), else a week back.
fn history_window_start(ctx: &CollectContext<'_>) -> NaiveDate {
    let default = ctx.date - Days::new(FIRST_HISTORY_DAYS - 1);
    ctx.checkpoint
        .as_ref()
        .and_then(|c| c.get("history_through"))
        .and_then(|d| d.as_str())
        .and_then(|d| d.parse::<NaiveDate>().ok())
        .filter(|d| *d <= ctx.date && *d >= default)
        .unwrap_or(default)
}

/// Items in first-seen order, one per id: a list paged by offset while it
/// changes can hand an item twice.
fn dedup<T>(items: Vec<T>, key: impl Fn(&T) -> String) -> Vec<T> {
    let mut seen = BTreeSet::new();
    items.into_iter().filter(|i| seen.insert(key(i))).collect()
}
