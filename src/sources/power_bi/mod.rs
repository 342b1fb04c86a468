//! Power BI through its admin scanner API: every workspace
//! (`workspaces/modified`), scanned 100 at a time (`getInfo` → poll
//! `scanStatus` → `scanResult`) with dataset schemas and expressions, and
//! report / dashboard views from the activity log.
//!
//! Power BI's SQL lives in datasets: each table's Power Query (M) source
//! (see [`mashup`]). A dataset table that reads a warehouse is a
//! `saved_query` row; a report is a `chart` row carrying the SQL of its
//! dataset's tables; a dashboard tile pinned from a report makes a
//! `dashboard_chart` row. Every sync scans every workspace: the rows are
//! a snapshot, and the lake keeps no raw SQL to carry unchanged
//! workspaces over from (so `modifiedSince` would lose them).

mod api;
mod mashup;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

use chrono::NaiveDate;
use futures::future::{BoxFuture, try_join_all};

use super::bi_queries::{analyze_text, connector_dialect};
use super::collect::{
    BiRow, CollectContext, CollectError, Collected, Collector, ResourceType, RowScope, Slice,
};
use super::http::{HttpClient, HttpError, HttpSettings, pages_by_cursor};
use crate::config::ConnectorConfig;
use crate::sql::SqlDialect;
use mashup::Mashup;

const DEFAULT_API_URL: &str = "https://api.powerbi.com";
const DEFAULT_AUTHORITY_URL: &str = "https://login.microsoftonline.com";

/// `getInfo` takes at most 100 workspace ids per call.
const MAX_SCAN_WORKSPACES: usize = 100;

/// Polls of one scan's status before giving up; with the delay doubling
/// up to `MAX_POLL_DELAY` that is about 8 minutes.
const MAX_POLLS: u32 = 60;
const MAX_POLL_DELAY: Duration = Duration::from_secs(10);

/// Days of views the first sync reads; later syncs start at the day the
/// previous one reached.
const FIRST_VIEW_DAYS: u64 = 7;

/// The activities read from the log, and the row each makes.
const VIEW_ACTIVITIES: [(&str, ResourceType); 2] = [
    ("ViewReport", ResourceType::ChartView),
    ("ViewDashboard", ResourceType::DashboardView),
];

const SCAN_OPTIONS: &str =
    "lineage=True&datasourceDetails=True&datasetSchema=True&datasetExpressions=True";

pub struct PowerBiCollector {
    client: HttpClient,
    scan_size: usize,
    fallback_dialect: SqlDialect,
    /// The web app's base for link-backs (`https://app.powerbi.com`).
    app_url: String,
}

impl PowerBiCollector {
    pub fn new(connector: &ConnectorConfig) -> Result<Self, CollectError> {
        let (Some(tenant), Some(client_id), Some(client_secret)) = (
            &connector.tenant_id,
            &connector.client_id,
            &connector.client_secret,
        ) else {
            return Err(CollectError::source(
                connector,
                "a power_bi connector needs tenant_id, client_id and client_secret",
            ));
        };
        if tenant.is_empty()
            || !tenant
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        {
            return Err(CollectError::source(
                connector,
                "tenant_id must be the tenant's id (a GUID) or domain (contoso.onmicrosoft.com)",
            ));
        }
        let settings = HttpSettings::for_connector(connector, Some(DEFAULT_API_URL))?;
        let authority = connector
            .authority_url
            .as_deref()
            .unwrap_or(DEFAULT_AUTHORITY_URL)
            .trim_end_matches('/');
        let auth = api::ClientCredentials {
            token_url: format!("{authority}/{tenant}/oauth2/v2.0/token"),
            client_id: client_id.clone(),
            client_secret: client_secret.clone(),
        };
        let app_url = app_url(&settings.base_url);
        Ok(Self {
            client: HttpClient::new(settings, Some(Arc::new(auth)))?,
            scan_size: connector
                .page_size
                .map_or(MAX_SCAN_WORKSPACES, |n| n as usize)
                .clamp(1, MAX_SCAN_WORKSPACES),
            fallback_dialect: connector_dialect(connector),
            app_url,
        })
    }

    fn error(&self, message: String) -> CollectError {
        CollectError::Source {
            connector: self.client.connector().to_string(),
            message,
        }
    }

    /// One scan of up to 100 workspaces, waited for and read.
    async fn scan(&self, workspaces: &[String]) -> Result<api::ScanResult, CollectError> {
        let body = serde_json::json!({ "workspaces": workspaces });
        let request: api::ScanRequest = self
            .client
            .post_json(
                &format!("v1.0/myorg/admin/workspaces/getInfo?{SCAN_OPTIONS}"),
                &body,
            )
            .await?;
        // The id goes into the next paths: it must be the UUID it is documented as.
        let id = uuid::Uuid::parse_str(&request.id).map_err(|_| {
            self.error("workspaces/getInfo answered a scan id that is not a UUID".into())
        })?;
        let mut delay = self.client.settings().min_delay;
        for _ in 0..MAX_POLLS {
            let status: api::ScanRequest = self
                .client
                .get_json(&format!("v1.0/myorg/admin/workspaces/scanStatus/{id}"))
                .await?;
            match status.status.as_deref() {
                Some("Succeeded") => {
                    return Ok(self
                        .client
                        .get_json(&format!("v1.0/myorg/admin/workspaces/scanResult/{id}"))
                        .await?);
                }
                Some("Failed") => {
                    let code = status
                        .error
                        .and_then(|e| e.code)
                        .unwrap_or_else(|| "no error code".into());
                    return Err(self.error(format!(
                        "the workspace scan {id} failed ({code}); check that the service principal may use the admin APIs (tenant setting \"Allow service principals to use read-only admin APIs\")"
                    )));
                }
                _ => {}
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(MAX_POLL_DELAY);
        }
        Err(self.error(format!(
            "the workspace scan {id} did not finish after {MAX_POLLS} status checks; try the sync again later"
        )))
    }

    async fn scrape(&self, ctx: &CollectContext<'_>) -> Result<Collected, CollectError> {
        let listed: Vec<api::ModifiedWorkspace> = self
            .client
            .get_json("v1.0/myorg/admin/workspaces/modified?excludeInActiveWorkspaces=true")
            .await?;
        let ids: Vec<String> = listed
            .into_iter()
            .map(|w| w.id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        // The client's concurrency limit bounds how many scans run at once.
        let scans = try_join_all(ids.chunks(self.scan_size).map(|chunk| self.scan(chunk))).await?;
        let catalog = Catalog::new(&scans, self.fallback_dialect);

        let mut rows = Vec::new();
        let mut report = serde_json::Map::new();
        rows.extend(catalog.saved_queries());
        let charts: HashMap<&str, BiRow> = catalog.charts();
        let (memberships, tiles_without_report) = catalog.dashboard_charts(&charts, &self.app_url);
        let mut sorted: Vec<&BiRow> = charts.values().collect();
        sorted.sort_by(|a, b| a.resource_id.cmp(&b.resource_id));
        rows.extend(sorted.into_iter().cloned());
        let membership_count = memberships.len();
        rows.extend(memberships);

        let mut slices = vec![Slice {
            date: ctx.date,
            scope: RowScope::Definitions,
        }];
        let first_day = ctx.views_from(FIRST_VIEW_DAYS);
        let views = match self.views(first_day, ctx.date).await? {
            Ok(events) => {
                slices.extend(ctx.execution_slices(first_day));
                let view_rows = catalog.view_rows(events, &charts, &self.app_url);
                let n = view_rows.len();
                rows.extend(view_rows);
                serde_json::Value::from(n)
            }
            Err(reason) => reason.into(),
        };

        report.insert("workspaces".into(), catalog.workspaces.into());
        report.insert("scans".into(), scans.len().into());
        report.insert("datasets".into(), catalog.datasets.len().into());
        report.insert(
            "dataset_tables_with_sql".into(),
            catalog
                .datasets
                .values()
                .flat_map(|d| &d.tables)
                .filter(|t| !t.read.queries.is_empty())
                .count()
                .into(),
        );
        report.insert("reports".into(), charts.len().into());
        report.insert("dashboards".into(), catalog.dashboards.len().into());
        report.insert("dashboard_charts".into(), membership_count.into());
        report.insert("tiles_without_report".into(), tiles_without_report.into());
        report.insert("views".into(), views);
        report.insert("views_from".into(), first_day.to_string().into());
        Ok(Collected {
            rows,
            slices,
            report,
            checkpoint: Some(serde_json::json!({ "views_through": ctx.date })),
        })
    }

    /// Report and dashboard views of `[first_day, last_day]`, one UTC day
    /// and activity per call, each paged by `continuationUri`;
    /// `Err(reason)` when the log is not readable.
    async fn views(
        &self,
        first_day: NaiveDate,
        last_day: NaiveDate,
    ) -> Result<Result<Vec<api::ActivityEvent>, String>, HttpError> {
        let mut events = Vec::new();
        for day in first_day.iter_days().take_while(|d| *d <= last_day) {
            for (activity, _) in VIEW_ACTIVITIES {
                let first = format!(
                    "v1.0/myorg/admin/activityevents?startDateTime='{day}T00:00:00.000Z'&endDateTime='{day}T23:59:59.999Z'&$filter=Activity%20eq%20'{activity}'"
                );
                let chunk = pages_by_cursor(|cursor| {
                    let path = cursor.unwrap_or_else(|| first.clone());
                    async move {
                        let page: api::ActivityPage = self.client.get_json(&path).await?;
                        let next = (!page.last_result_set)
                            .then_some(page.continuation_uri)
                            .flatten();
                        Ok::<_, HttpError>((page.activity_event_entities, next))
                    }
                })
                .await;
                match chunk {
                    Ok(chunk) => events.extend(chunk),
                    Err(e) if e.status() == Some(403) => {
                        return Ok(Err("not readable (HTTP 403)".into()));
                    }
                    Err(e) => return Err(e),
                }
            }
        }
        Ok(Ok(events))
    }
}

impl Collector for PowerBiCollector {
    fn collect<'a>(
        &'a self,
        ctx: &'a CollectContext<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>> {
        Box::pin(self.scrape(ctx))
    }
}

/// The web app beside an API host: `api.powerbi.com` → `app.powerbi.com`
/// (also the national clouds' `api.powerbigov.us`, …); any other url is
/// taken as serving both.
fn app_url(api: &reqwest::Url) -> String {
    let mut app = api.clone();
    if let Some(rest) = api.host_str().and_then(|h| h.strip_prefix("api.")) {
        let _ = app.set_host(Some(&format!("app.{rest}")));
    }
    app.as_str().trim_end_matches('/').to_string()
}

/// A dataset table and what its source reads.
struct TableRead {
    name: String,
    read: Mashup,
}

struct DatasetRead<'a> {
    dataset: &'a api::Dataset,
    tables: Vec<TableRead>,
    /// Its datasources' dialect and database (when the M names neither).
    dialect: Option<SqlDialect>,
    database: Option<String>,
}

/// Everything the scans returned, indexed.
struct Catalog<'a> {
    workspaces: usize,
    datasets: BTreeMap<&'a str, DatasetRead<'a>>,
    /// Report id → (workspace id, report).
    reports: BTreeMap<&'a str, (&'a str, &'a api::Report)>,
    /// Dashboard id → (workspace id, dashboard).
    dashboards: BTreeMap<&'a str, (&'a str, &'a api::Dashboard)>,
    fallback_dialect: SqlDialect,
}

impl<'a> Catalog<'a> {
    fn new(scans: &'a [api::ScanResult], fallback_dialect: SqlDialect) -> Self {
        let mut sources: HashMap<&str, &api::Datasource> = HashMap::new();
        for scan in scans {
            for source in &scan.datasource_instances {
                if let Some(id) = source.datasource_id.as_deref() {
                    sources.insert(id, source);
                }
            }
        }
        let mut catalog = Catalog {
            workspaces: 0,
            datasets: BTreeMap::new(),
            reports: BTreeMap::new(),
            dashboards: BTreeMap::new(),
            fallback_dialect,
        };
        let mut seen = BTreeSet::new();
        for workspace in scans.iter().flat_map(|s| &s.workspaces) {
            if !seen.insert(workspace.id.as_str()) {
                continue;
            }
            catalog.workspaces += 1;
            for dataset in &workspace.datasets {
                let used: Vec<&api::Datasource> = dataset
                    .datasource_usages
                    .iter()
                    .filter_map(|u| sources.get(u.datasource_instance_id.as_str()).copied())
                    .collect();
                catalog.datasets.insert(
                    &dataset.id,
                    DatasetRead {
                        dataset,
                        tables: read_tables(dataset),
                        dialect: used.iter().find_map(|s| {
                            mashup::datasource_dialect(s.datasource_type.as_deref()?)
                        }),
                        database: used
                            .iter()
                            .find_map(|s| s.connection_details.as_ref()?.database.clone()),
                    },
                );
            }
            for report in &workspace.reports {
                catalog
                    .reports
                    .insert(&report.id, (workspace.id.as_str(), report));
            }
            for dashboard in &workspace.dashboards {
                catalog
                    .dashboards
                    .insert(&dashboard.id, (workspace.id.as_str(), dashboard));
            }
        }
        catalog
    }

    /// The SQL, dialect, database and tables of some dataset tables.
    fn source_row(&self, dataset: &DatasetRead<'_>, tables: &[&TableRead], row: BiRow) -> BiRow {
        let mut queries: Vec<&str> = Vec::new();
        let mut navigated: BTreeSet<String> = BTreeSet::new();
        let mut dialect = None;
        let mut database = None;
        for table in tables {
            for query in &table.read.queries {
                if !queries.contains(&query.as_str()) {
                    queries.push(query);
                }
            }
            navigated.extend(table.read.tables.iter().cloned());
            if dialect.is_none()
                && (!table.read.queries.is_empty() || !table.read.tables.is_empty())
            {
                dialect = table.read.dialect;
                database = table.read.database.clone();
            }
        }
        let dialect = dialect.or(dataset.dialect).unwrap_or(self.fallback_dialect);
        let sql = (!queries.is_empty()).then(|| queries.join(";\n"));
        // Tables read without SQL are the system's own word: given with
        // the SQL's, as the writer then takes the list as it is.
        let tables = if navigated.is_empty() {
            Vec::new()
        } else {
            if let Some(analysis) = sql.as_deref().and_then(|s| analyze_text(s, dialect)) {
                navigated.extend(analysis.tables);
            }
            navigated.into_iter().collect()
        };
        BiRow {
            sql,
            dialect: Some(dialect),
            tables,
            database: database.or_else(|| dataset.database.clone()),
            ..row
        }
    }

    /// One row per dataset table that reads a warehouse (SQL or a table).
    fn saved_queries(&self) -> Vec<BiRow> {
        let mut rows = Vec::new();
        for dataset in self.datasets.values() {
            for table in &dataset.tables {
                if table.read.queries.is_empty() && table.read.tables.is_empty() {
                    continue;
                }
                let name = dataset
                    .dataset
                    .name
                    .as_deref()
                    .unwrap_or(&dataset.dataset.id);
                let row = BiRow {
                    title: Some(format!("{name} / {}", table.name)),
                    ..BiRow::new(
                        ResourceType::SavedQuery,
                        format!("{}/{}", dataset.dataset.id, table.name),
                    )
                };
                rows.push(self.source_row(dataset, &[table], row));
            }
        }
        rows
    }

    /// One row per report, with its dataset's SQL (none for a report on
    /// no dataset, or on one that reads no warehouse).
    fn charts(&self) -> HashMap<&'a str, BiRow> {
        self.reports
            .iter()
            .map(|(id, (_, report))| {
                let base = BiRow {
                    title: report.name.clone(),
                    created_at: report.created_date_time.as_deref().and_then(api::utc_time),
                    ..BiRow::new(ResourceType::Chart, *id)
                };
                let row = match report
                    .dataset_id
                    .as_deref()
                    .and_then(|d| self.datasets.get(d))
                {
                    Some(dataset) => {
                        let tables: Vec<&TableRead> = dataset.tables.iter().collect();
                        self.source_row(dataset, &tables, base)
                    }
                    None => base,
                };
                (*id, row)
            })
            .collect()
    }

    /// One row per (dashboard, report pinned to it), and the count of
    /// tiles pinned from no report (Q&A, text, images).
    fn dashboard_charts(
        &self,
        charts: &HashMap<&str, BiRow>,
        app_url: &str,
    ) -> (Vec<BiRow>, usize) {
        let mut rows = Vec::new();
        let mut without_report = 0;
        for (id, (workspace, dashboard)) in &self.dashboards {
            let mut seen = BTreeSet::new();
            for tile in &dashboard.tiles {
                let Some(report) = tile.report_id.as_deref() else {
                    without_report += 1;
                    continue;
                };
                if !seen.insert(report) {
                    continue;
                }
                let chart = charts
                    .get(report)
                    .cloned()
                    .unwrap_or_else(|| BiRow::new(ResourceType::Chart, report));
                rows.push(BiRow {
                    resource_type: ResourceType::DashboardChart,
                    dashboard_id: Some((*id).to_string()),
                    dashboard_title: dashboard.display_name.clone(),
                    dashboard_url: Some(dashboard_url(app_url, workspace, id)),
                    ..chart
                });
            }
        }
        (rows, without_report)
    }

    /// Execution rows for the log's view events; identical events (same
    /// object, user and instant) add up.
    fn view_rows(
        &self,
        events: Vec<api::ActivityEvent>,
        charts: &HashMap<&str, BiRow>,
        app_url: &str,
    ) -> Vec<BiRow> {
        let mut views: BTreeMap<(ResourceType, String, Option<String>, i64), BiRow> =
            BTreeMap::new();
        for event in events {
            let Some(at) = event.creation_time.as_deref().and_then(api::utc_time) else {
                continue;
            };
            let kind = VIEW_ACTIVITIES
                .iter()
                .find(|(a, _)| event.activity.as_deref() == Some(*a))
                .map(|(_, kind)| *kind);
            let row = match (kind, &event.report_id, &event.dashboard_id) {
                (Some(ResourceType::ChartView), Some(report), _) => BiRow {
                    resource_type: ResourceType::ChartView,
                    title: charts
                        .get(report.as_str())
                        .and_then(|c| c.title.clone())
                        .or(event.report_name.clone()),
                    ..charts
                        .get(report.as_str())
                        .cloned()
                        .unwrap_or_else(|| BiRow::new(ResourceType::ChartView, report.clone()))
                },
                (Some(ResourceType::DashboardView), _, Some(id)) => {
                    self.dashboard_view(id, event.dashboard_name.clone(), charts, app_url)
                }
                _ => continue,
            };
            let key = (
                row.resource_type,
                row.resource_id.clone(),
                event.user_id.clone(),
                at.timestamp_micros(),
            );
            views
                .entry(key)
                .and_modify(|r| r.execution_count += 1)
                .or_insert(BiRow {
                    executed_by: event.user_id,
                    executed_at: Some(at),
                    created_at: None,
                    ..row
                });
        }
        views.into_values().collect()
    }

    /// A dashboard opened: what its reports' tiles read.
    fn dashboard_view(
        &self,
        id: &str,
        logged_name: Option<String>,
        charts: &HashMap<&str, BiRow>,
        app_url: &str,
    ) -> BiRow {
        let Some((workspace, dashboard)) = self.dashboards.get(id) else {
            return BiRow {
                title: logged_name.clone(),
                dashboard_id: Some(id.to_string()),
                dashboard_title: logged_name,
                ..BiRow::new(ResourceType::DashboardView, id)
            };
        };
        let mut tables = BTreeSet::new();
        for tile in &dashboard.tiles {
            let chart = tile.report_id.as_deref().and_then(|r| charts.get(r));
            for table in chart.map(|c| c.tables.clone()).unwrap_or_default() {
                tables.insert(table);
            }
            if let Some(analysis) = chart
                .and_then(|c| Some((c.sql.as_deref()?, c.dialect?)))
                .and_then(|(sql, dialect)| analyze_text(sql, dialect))
            {
                tables.extend(analysis.tables);
            }
        }
        BiRow {
            title: dashboard.display_name.clone().or(logged_name),
            tables: tables.into_iter().collect(),
            dashboard_id: Some(id.to_string()),
            dashboard_title: dashboard.display_name.clone(),
            dashboard_url: Some(dashboard_url(app_url, workspace, id)),
            ..BiRow::new(ResourceType::DashboardView, id)
        }
    }
}

/// A dashboard's page in the web app.
fn dashboard_url(app_url: &str, workspace: &str, dashboard: &str) -> String {
    format!("{app_url}/groups/{workspace}/dashboards/{dashboard}")
}

/// Each table's source with the shared expressions it names (followed
/// through their own names too, each once).
fn read_tables(dataset: &api::Dataset) -> Vec<TableRead> {
    let shared: HashMap<&str, &str> = dataset
        .expressions
        .iter()
        .filter_map(|e| Some((e.name.as_str(), e.expression.as_deref()?)))
        .collect();
    dataset
        .tables
        .iter()
        .map(|table| {
            let text: Vec<&str> = table
                .source
                .iter()
                .filter_map(|s| s.expression.as_deref())
                .collect();
            let mut read = mashup::read(&text.join("\n"));
            let mut visited: BTreeSet<String> = BTreeSet::new();
            let mut pending: Vec<String> = read.names.iter().cloned().collect();
            while let Some(name) = pending.pop() {
                let Some(expression) = shared.get(name.as_str()) else {
                    continue;
                };
                if !visited.insert(name) {
                    continue;
                }
                let referenced = mashup::read(expression);
                pending.extend(referenced.names.iter().cloned());
                read.merge(referenced);
            }
            TableRead {
                name: table.name.clone(),
                read,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_go_to_the_web_app_beside_the_api() {
        let url = |u: &str| app_url(&reqwest::Url::parse(u).unwrap());
        assert_eq!(url("https://api.powerbi.com/"), "https://app.powerbi.com");
        assert_eq!(
            url("https://api.powerbigov.us/"),
            "https://app.powerbigov.us"
        );
        assert_eq!(url("http://127.0.0.1:8080/"), "http://127.0.0.1:8080");
        assert_eq!(
            dashboard_url("https://app.powerbi.com", "w1", "d1"),
            "https://app.powerbi.com/groups/w1/dashboards/d1"
        );
    }
}
