//! Tableau's REST API and Metadata API (GraphQL) as the scraper reads them.
//!
//! - Sign-in with a personal access token: `POST /api/{v}/auth/signin`
//!   (REST API reference, "Authentication Methods"), `Accept:
//!   application/json`; the answer's `credentials.token` goes in the
//!   `X-Tableau-Auth` header, `credentials.site.id` into site URLs. An
//!   expired token answers 401 (error code 401002): one sign-in again.
//! - The Metadata API: `POST /api/metadata/graphql` (Metadata API
//!   reference; Tableau's own tableau-mcp uses the same path). Connections
//!   are paged with `first` / `after` and `pageInfo { hasNextPage
//!   endCursor }`. Errors come in the GraphQL `errors` array with HTTP 200:
//!   `extensions.severity = "WARNING"` ones leave the data usable, except
//!   `NODE_LIMIT_EXCEEDED` ("Showing partial results. The request exceeded
//!   the 20000 node limit"), whose data is cut short; a timeout arrives as
//!   `{"message": "Reached time limit of PT5S for query execution.",
//!   "extensions": null}` (tableauserverclient's test fixture) or
//!   "Execution canceled because timeout of 30000 millis was reached"
//!   (seen by DataHub on Server 2024.2).
//! - Query Views for Site with `includeUsageStatistics=true`: each view's
//!   cumulative `usage.totalViewCount`; JSON numbers there and in
//!   `pagination` arrive as strings.
//!
//! Only the fields used are declared; unknown fields are ignored.

use std::sync::Mutex;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use reqwest::Method;
use serde::{Deserialize, Deserializer};

use crate::config::Secret;
use crate::sources::http::{Authenticator, Credential, HttpClient, HttpError};

/// The REST API version of every call: 3.6 (Tableau Server 2019.4) is the
/// first with personal access tokens, and the Metadata API needs a token
/// from 3.6 or later.
pub const API_VERSION: &str = "3.6";

pub const METADATA_PATH: &str = "api/metadata/graphql";

/// What a sign-in tells about the site, kept for site-scoped REST URLs.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SiteSession {
    pub site_id: String,
    pub content_url: String,
}

/// Sign-in with a personal access token.
pub struct PatSignIn {
    pub token_name: String,
    pub token: Secret,
    pub site: String,
    pub session: Mutex<Option<SiteSession>>,
}

#[derive(Deserialize)]
struct SignInAnswer {
    credentials: SignedIn,
}

#[derive(Deserialize)]
struct SignedIn {
    token: String,
    site: SignedInSite,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SignedInSite {
    id: String,
    #[serde(default)]
    content_url: Option<String>,
}

impl PatSignIn {
    pub fn session(&self) -> Option<SiteSession> {
        self.session.lock().ok().and_then(|s| s.clone())
    }
}

impl Authenticator for PatSignIn {
    fn login<'a>(&'a self, client: &'a HttpClient) -> BoxFuture<'a, Result<Credential, HttpError>> {
        Box::pin(async move {
            let url = client.url(&format!("api/{API_VERSION}/auth/signin"))?;
            let body = serde_json::json!({
                "credentials": {
                    "personalAccessTokenName": self.token_name,
                    "personalAccessTokenSecret": self.token.expose(),
                    "site": { "contentUrl": self.site },
                }
            });
            let response = client
                .send_unauthenticated(Method::POST, url.clone(), |r| {
                    r.header(reqwest::header::ACCEPT, "application/json")
                        .json(&body)
                })
                .await?;
            let answer: SignInAnswer = client.decode_json(&url, response).await?;
            let session = SiteSession {
                site_id: answer.credentials.site.id,
                content_url: answer
                    .credentials
                    .site
                    .content_url
                    .unwrap_or_else(|| self.site.clone()),
            };
            if let Ok(mut slot) = self.session.lock() {
                *slot = Some(session);
            }
            Ok(Credential::Header {
                name: "X-Tableau-Auth",
                value: Secret::new(answer.credentials.token),
            })
        })
    }
}

/// The body of a GraphQL answer, before its `data` is read.
#[derive(Debug, Deserialize)]
pub struct GraphqlAnswer {
    #[serde(default)]
    pub data: Option<serde_json::Value>,
    #[serde(default)]
    pub errors: Vec<GraphqlError>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct GraphqlError {
    #[serde(default)]
    pub message: Option<String>,
    #[serde(default)]
    pub extensions: Option<ErrorExtensions>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ErrorExtensions {
    #[serde(default)]
    pub severity: Option<String>,
    #[serde(default)]
    pub code: Option<String>,
}

impl GraphqlError {
    fn code(&self) -> Option<&str> {
        self.extensions.as_ref().and_then(|e| e.code.as_deref())
    }

    fn is_warning(&self) -> bool {
        self.extensions
            .as_ref()
            .and_then(|e| e.severity.as_deref())
            .is_some_and(|s| s.eq_ignore_ascii_case("WARNING"))
    }

    fn is_timeout(&self) -> bool {
        let message = self.message.as_deref().unwrap_or("").to_ascii_lowercase();
        message.contains("time limit") || message.contains("timeout")
    }
}

/// Why a page cannot be used as it came.
#[derive(Debug, Clone, PartialEq)]
pub enum PageProblem {
    /// Partial results over the node limit: ask for fewer nodes.
    NodeLimit,
    /// The query ran out of time: ask for fewer nodes, or again.
    Timeout,
    /// Anything else: the query is refused.
    Refused(String),
}

/// What the `errors` of an answer mean for its data. Warnings other than
/// the node limit (e.g. `PERMISSIONS_MODE_SWITCHED`) leave it usable.
pub fn page_problem(errors: &[GraphqlError]) -> Option<PageProblem> {
    if errors
        .iter()
        .any(|e| e.code() == Some("NODE_LIMIT_EXCEEDED"))
    {
        return Some(PageProblem::NodeLimit);
    }
    let serious: Vec<&GraphqlError> = errors.iter().filter(|e| !e.is_warning()).collect();
    if serious.is_empty() {
        return None;
    }
    if serious.iter().all(|e| e.is_timeout()) {
        return Some(PageProblem::Timeout);
    }
    let described: Vec<String> = serious
        .iter()
        .map(|e| {
            // A GraphQL message names fields and arguments of our own query,
            // never a credential; kept short all the same.
            let message: String = e
                .message
                .as_deref()
                .unwrap_or("")
                .chars()
                .take(200)
                .collect();
            match e.code() {
                Some(code) => format!("{code}: {message}"),
                None => message,
            }
        })
        .collect();
    Some(PageProblem::Refused(described.join("; ")))
}

/// One page of a `…Connection`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConnectionPage<T> {
    pub nodes: Vec<T>,
    pub page_info: PageInfo,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PageInfo {
    #[serde(default)]
    pub has_next_page: bool,
    #[serde(default)]
    pub end_cursor: Option<String>,
}

/// The query of one page of `connection`, nodes with `selection`; `first`
/// and `after` are variables so the text is the same on every page.
pub fn connection_query(connection: &str, selection: &str) -> String {
    format!(
        "query usagelake($first: Int!, $after: String) {{ {connection}(first: $first, after: $after) {{ nodes {{ {selection} }} pageInfo {{ hasNextPage endCursor }} }} }}"
    )
}

/// A custom SQL query of a data source (`CustomSQLTable`; its
/// `downstreamSheets` come from the `Table` interface).
pub const CUSTOM_SQL_SELECTION: &str = "id name query isUnsupportedCustomSql connectionType database { name connectionType } tables { name schema } downstreamSheets { id }";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomSql {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub query: Option<String>,
    #[serde(default)]
    pub is_unsupported_custom_sql: Option<bool>,
    #[serde(default)]
    pub connection_type: Option<String>,
    #[serde(default)]
    pub database: Option<DatabaseRef>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub tables: Vec<TableRef>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub downstream_sheets: Vec<IdRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabaseRef {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub connection_type: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TableRef {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
}

impl TableRef {
    /// `schema.table`, lower-case, without Tableau's `[…]` quoting.
    pub fn qualified(&self) -> Option<String> {
        let clean = |s: &str| s.trim().trim_matches(['[', ']', '"', '`']).to_lowercase();
        let name = self.name.as_deref().map(clean).filter(|n| !n.is_empty())?;
        Some(
            match self.schema.as_deref().map(clean).filter(|s| !s.is_empty()) {
                Some(schema) => format!("{schema}.{name}"),
                None => name,
            },
        )
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct IdRef {
    pub id: String,
}

/// A workbook with its sheets, dashboards and embedded data sources (the
/// fields DataHub's Tableau source reads, in one query).
pub const WORKBOOK_SELECTION: &str = "id sheets { id luid name createdAt } dashboards { id luid name path sheets { id } } embeddedDatasources { upstreamTables { name schema } downstreamSheets { id } }";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Workbook {
    pub id: String,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sheets: Vec<Sheet>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub dashboards: Vec<Dashboard>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub embedded_datasources: Vec<EmbeddedDatasource>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Sheet {
    pub id: String,
    /// Blank when the sheet is hidden in its workbook.
    #[serde(default)]
    pub luid: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub id: String,
    #[serde(default)]
    pub luid: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
    /// `workbook/dashboard`, the path of its `/views/` URL.
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub sheets: Vec<IdRef>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EmbeddedDatasource {
    #[serde(default, deserialize_with = "null_as_empty")]
    pub upstream_tables: Vec<TableRef>,
    #[serde(default, deserialize_with = "null_as_empty")]
    pub downstream_sheets: Vec<IdRef>,
}

/// The REST id of a sheet or dashboard (its `luid`), else the Metadata
/// API id (a hidden sheet has no luid).
pub fn rest_id(luid: &Option<String>, id: &str) -> String {
    luid.as_deref()
        .filter(|l| !l.is_empty())
        .unwrap_or(id)
        .to_string()
}

/// Query Views for Site, one page.
#[derive(Debug, Deserialize)]
pub struct ViewsPage {
    pub pagination: Pagination,
    #[serde(default)]
    pub views: Option<ViewList>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    #[serde(deserialize_with = "number_or_string")]
    pub total_available: u64,
}

#[derive(Debug, Default, Deserialize)]
pub struct ViewList {
    #[serde(default)]
    pub view: Vec<View>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct View {
    pub id: String,
    #[serde(default)]
    pub usage: Option<Usage>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    #[serde(deserialize_with = "number_or_string")]
    pub total_view_count: u64,
}

fn number_or_string<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Number(u64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Number(n) => Ok(n),
        Raw::Text(t) => t
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom("a count that is not a whole number")),
    }
}

fn null_as_empty<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn errors(value: serde_json::Value) -> Vec<GraphqlError> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn graphql_errors_are_classified() {
        assert_eq!(page_problem(&[]), None);
        let node_limit = errors(serde_json::json!([{
            "message": "Showing partial results. The request exceeded the 20000 node limit. Use pagination, additional filtering, or both in the query to adjust results.",
            "extensions": {"severity": "WARNING", "code": "NODE_LIMIT_EXCEEDED", "properties": {"nodeLimit": 20000}}
        }]));
        assert_eq!(page_problem(&node_limit), Some(PageProblem::NodeLimit));
        let timeout = errors(serde_json::json!([
            {"message": "Reached time limit of PT5S for query execution.", "path": null, "extensions": null}
        ]));
        assert_eq!(page_problem(&timeout), Some(PageProblem::Timeout));
        let warning = errors(serde_json::json!([
            {"message": "derived permissions", "extensions": {"severity": "WARNING", "code": "PERMISSIONS_MODE_SWITCHED"}}
        ]));
        assert_eq!(page_problem(&warning), None);
        let disabled = errors(serde_json::json!([
            {"message": "Can't run the query because the Metadata API has not been enabled yet.", "extensions": {"severity": "ERROR", "code": "FEATURE_DISABLED"}}
        ]));
        assert_eq!(
            page_problem(&disabled),
            Some(PageProblem::Refused(
                "FEATURE_DISABLED: Can't run the query because the Metadata API has not been enabled yet.".into()
            ))
        );
    }

    #[test]
    fn view_counts_read_as_strings_or_numbers() {
        let page: ViewsPage = serde_json::from_value(serde_json::json!({
            "pagination": {"pageNumber": "1", "pageSize": "100", "totalAvailable": "2"},
            "views": {"view": [
                {"id": "a", "name": "A", "contentUrl": "W/sheets/A", "usage": {"totalViewCount": "7"}},
                {"id": "b", "name": "B", "contentUrl": "W/sheets/B", "usage": {"totalViewCount": 13}}
            ]}
        }))
        .unwrap();
        assert_eq!(page.pagination.total_available, 2);
        let counts: Vec<u64> = page
            .views
            .unwrap()
            .view
            .iter()
            .map(|v| v.usage.as_ref().unwrap().total_view_count)
            .collect();
        assert_eq!(counts, [7, 13]);
        let empty: ViewsPage = serde_json::from_value(
            serde_json::json!({"pagination": {"pageNumber": "1", "pageSize": "100", "totalAvailable": "0"}, "views": {}}),
        )
        .unwrap();
        assert!(empty.views.unwrap().view.is_empty());
    }

    #[test]
    fn tables_are_qualified_without_brackets() {
        let table = |name: &str, schema: Option<&str>| TableRef {
            name: Some(name.into()),
            schema: schema.map(Into::into),
        };
        assert_eq!(
            table("[Orders]", Some("[Public]")).qualified().as_deref(),
            Some("public.orders")
        );
        assert_eq!(table("orders", None).qualified().as_deref(), Some("orders"));
        assert_eq!(table(" ", Some("x")).qualified(), None);
    }
}
