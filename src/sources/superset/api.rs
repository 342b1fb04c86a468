//! Superset's REST API v1 as the scraper reads it: the JWT login, the
//! rison-encoded list queries and the response shapes (from Superset 6.1's
//! `list_columns` of each resource; only the fields used are declared, so
//! a newer server's extra fields are ignored).

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::future::BoxFuture;
use reqwest::Method;
use serde::Deserialize;

use crate::config::Secret;
use crate::sources::http::{Authenticator, Credential, HttpClient, HttpError};

/// `POST /api/v1/security/login` with the database provider; the access
/// token is the bearer of every read (reads need no CSRF token).
pub struct Login {
    pub username: String,
    pub password: Secret,
}

#[derive(Deserialize)]
struct LoginAnswer {
    access_token: String,
}

impl Authenticator for Login {
    fn login<'a>(&'a self, client: &'a HttpClient) -> BoxFuture<'a, Result<Credential, HttpError>> {
        Box::pin(async move {
            let url = client.url("api/v1/security/login")?;
            let body = serde_json::json!({
                "username": self.username,
                "password": self.password.expose(),
                "provider": "db",
                "refresh": false,
            });
            let response = client
                .send_unauthenticated(Method::POST, url.clone(), |r| r.json(&body))
                .await?;
            let answer: LoginAnswer = client.decode_json(&url, response).await?;
            Ok(Credential::Bearer(Secret::new(answer.access_token)))
        })
    }
}

/// A rison string, always quoted (`'…'`, with `!` escaping `!` and `'`):
/// quoting is valid for every value, so no id-character rules are needed.
fn rison_string(text: &str) -> String {
    format!("'{}'", text.replace('!', "!!").replace('\'', "!'"))
}

/// One `(col:…,opr:…,value:…)` list filter.
pub struct Filter<'a> {
    pub column: &'a str,
    pub operator: &'a str,
    pub value: String,
}

/// The `q` parameter of a list request, URL-encoded:
/// `(columns:!(…),filters:!(…),order_column:…,order_direction:asc,page:N,page_size:M)`.
pub fn list_query(
    columns: &[&str],
    filters: &[Filter<'_>],
    order_by: Option<&str>,
    page: u32,
    page_size: usize,
) -> String {
    let mut parts = vec![format!(
        "columns:!({})",
        columns
            .iter()
            .map(|c| rison_string(c))
            .collect::<Vec<_>>()
            .join(",")
    )];
    if !filters.is_empty() {
        let filters = filters
            .iter()
            .map(|f| {
                format!(
                    "(col:{},opr:{},value:{})",
                    rison_string(f.column),
                    rison_string(f.operator),
                    rison_string(&f.value)
                )
            })
            .collect::<Vec<_>>()
            .join(",");
        parts.push(format!("filters:!({filters})"));
    }
    if let Some(column) = order_by {
        parts.push(format!(
            "order_column:{},order_direction:asc",
            rison_string(column)
        ));
    }
    parts.push(format!("page:{page},page_size:{page_size}"));
    let rison = format!("({})", parts.join(","));
    url::form_urlencoded::byte_serialize(rison.as_bytes()).collect()
}

/// A page of a list: `count` is the total over all pages, `ids` the
/// primary keys of `result` in order (the log list has no `id` column).
#[derive(Deserialize)]
pub struct ListPage<T> {
    #[serde(default)]
    pub count: Option<usize>,
    #[serde(default)]
    pub ids: Vec<i64>,
    pub result: Vec<T>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct DatabaseRef {
    #[serde(default)]
    pub id: Option<i64>,
    #[serde(default)]
    pub database_name: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Database {
    pub id: i64,
    /// The SQLAlchemy backend (`postgresql`, `snowflake`, …): the SQL's dialect.
    #[serde(default)]
    pub backend: Option<String>,
}

impl Database {
    pub const COLUMNS: &[&str] = &["id", "backend"];
}

#[derive(Debug, Clone, Deserialize)]
pub struct SavedQuery {
    pub id: i64,
    #[serde(default)]
    pub label: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub sql: Option<String>,
    #[serde(default)]
    pub database: Option<DatabaseRef>,
    #[serde(default)]
    pub created_on: Option<String>,
}

impl SavedQuery {
    pub const COLUMNS: &[&str] = &[
        "id",
        "label",
        "schema",
        "sql",
        "database.id",
        "database.database_name",
        "created_on",
    ];
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dataset {
    pub id: i64,
    pub table_name: String,
    #[serde(default)]
    pub schema: Option<String>,
    /// Set for a virtual dataset (a saved SELECT, possibly Jinja).
    #[serde(default)]
    pub sql: Option<String>,
    #[serde(default)]
    pub database: Option<DatabaseRef>,
}

impl Dataset {
    pub const COLUMNS: &[&str] = &[
        "id",
        "table_name",
        "schema",
        "sql",
        "database.id",
        "database.database_name",
    ];
}

#[derive(Debug, Clone, Deserialize)]
pub struct Chart {
    pub id: i64,
    #[serde(default)]
    pub slice_name: Option<String>,
    #[serde(default)]
    pub datasource_id: Option<i64>,
    /// `table` for a dataset; `query` for a SQL Lab query (no dataset).
    #[serde(default)]
    pub datasource_type: Option<String>,
}

impl Chart {
    pub const COLUMNS: &[&str] = &["id", "slice_name", "datasource_id", "datasource_type"];
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dashboard {
    pub id: i64,
    #[serde(default)]
    pub dashboard_title: Option<String>,
    /// `/superset/dashboard/<slug or id>/`, relative to the server.
    #[serde(default)]
    pub url: Option<String>,
}

impl Dashboard {
    pub const COLUMNS: &[&str] = &["id", "dashboard_title", "url"];
}

/// One chart of `GET /api/v1/dashboard/{id}/charts`.
#[derive(Debug, Clone, Deserialize)]
pub struct DashboardChart {
    pub id: i64,
    #[serde(default)]
    pub slice_name: Option<String>,
}

#[derive(Deserialize)]
pub struct DashboardCharts {
    pub result: Vec<DashboardChart>,
}

/// `GET /api/v1/chart/{id}/data/?format=json&type=query`: the compiled
/// SQL of each of the chart's queries.
#[derive(Deserialize)]
pub struct ChartData {
    pub result: Vec<ChartDataQuery>,
}

#[derive(Deserialize)]
pub struct ChartDataQuery {
    #[serde(default)]
    pub query: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct LogUser {
    #[serde(default)]
    pub username: Option<String>,
}

/// A row of the action log. The frontend's events are `action = "log"`
/// with the event in `json`: `mount_dashboard` (a dashboard opened) and
/// `mount_explorer` (a chart opened), as Superset's own recent-activity
/// view reads them.
#[derive(Debug, Clone, Deserialize)]
pub struct LogEntry {
    #[serde(default)]
    pub dttm: Option<String>,
    #[serde(default)]
    pub json: Option<String>,
    #[serde(default)]
    pub dashboard_id: Option<i64>,
    #[serde(default)]
    pub slice_id: Option<i64>,
    #[serde(default)]
    pub user: Option<LogUser>,
}

impl LogEntry {
    pub const COLUMNS: &[&str] = &["dttm", "json", "dashboard_id", "slice_id", "user.username"];

    /// The frontend event's name, from the entry's JSON payload.
    pub fn event_name(&self) -> Option<String> {
        let payload: serde_json::Value = serde_json::from_str(self.json.as_deref()?).ok()?;
        payload.get("event_name")?.as_str().map(str::to_string)
    }
}

/// Superset writes naive UTC timestamps (`2026-12-06T17:48:08.500713`);
/// newer fields carry an offset (`…+0000`). Both are read.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    if let Ok(at) = DateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f%z") {
        return Some(at.with_timezone(&Utc));
    }
    NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
        .ok()
        .map(|t| t.and_utc())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_queries_are_rison_and_url_encoded() {
        let q = list_query(
            &["id", "user.username"],
            &[Filter {
                column: "json",
                operator: "ct",
                value: "it's!".into(),
            }],
            Some("dttm"),
            2,
            50,
        );
        let decoded: String = url::form_urlencoded::parse(format!("q={q}").as_bytes())
            .next()
            .unwrap()
            .1
            .into_owned();
        assert_eq!(
            decoded,
            "(columns:!('id','user.username'),filters:!((col:'json',opr:'ct',value:'it!'s!!')),order_column:'dttm',order_direction:asc,page:2,page_size:50)"
        );
    }

    #[test]
    fn times_with_and_without_offset_are_utc() {
        let want: DateTime<Utc> = "2026-12-06T17:48:08.500713Z".parse().unwrap();
        assert_eq!(parse_time("2026-12-06T17:48:08.500713"), Some(want));
        assert_eq!(parse_time("2026-12-06T17:48:08.500713+0000"), Some(want));
        assert_eq!(parse_time("yesterday"), None);
    }
}
