//! Power BI's REST API as the scraper reads it: the Entra ID (Azure AD)
//! client-credentials token, the admin scanner API and the activity log.
//! Shapes are those of Microsoft's REST reference (the `swagger.json` of
//! microsoft/PowerBI-CSharp: `ModifiedWorkspace`, `ScanRequest`,
//! `WorkspaceInfoResponse`, `ActivityEventResponse`); only the fields used
//! are declared, so a newer server's extra fields are ignored, and a list
//! sent as `null` reads as empty.

use chrono::{DateTime, NaiveDateTime, Utc};
use futures::future::BoxFuture;
use reqwest::Method;
use serde::{Deserialize, Deserializer};

use crate::config::Secret;
use crate::sources::http::{Authenticator, Credential, HttpClient, HttpError};

/// The resource every Power BI REST call is made for.
const SCOPE: &str = "https://analysis.windows.net/powerbi/api/.default";

/// `POST {authority}/{tenant}/oauth2/v2.0/token` with
/// `grant_type=client_credentials` (Microsoft identity platform, "OAuth 2.0
/// client credentials flow") → `{"token_type": "Bearer", "expires_in": …,
/// "access_token": …}`.
pub struct ClientCredentials {
    /// `{authority}/{tenant}/oauth2/v2.0/token`, absolute.
    pub token_url: String,
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Deserialize)]
struct Token {
    access_token: String,
}

impl Authenticator for ClientCredentials {
    fn login<'a>(&'a self, client: &'a HttpClient) -> BoxFuture<'a, Result<Credential, HttpError>> {
        Box::pin(async move {
            let url = client.url(&self.token_url)?;
            let form = [
                ("grant_type", "client_credentials"),
                ("client_id", self.client_id.as_str()),
                ("client_secret", self.client_secret.expose()),
                ("scope", SCOPE),
            ];
            let response = client
                .send_unauthenticated(Method::POST, url.clone(), |r| r.form(&form))
                .await?;
            let token: Token = client.decode_json(&url, response).await?;
            Ok(Credential::Bearer(Secret::new(token.access_token)))
        })
    }

    /// Power BI answers an expired token `403` (`TokenExpired`), not 401.
    fn relogin_on(&self, status: u16) -> bool {
        matches!(status, 401 | 403)
    }
}

/// A list that may come as `null`.
fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

/// One item of `GET /v1.0/myorg/admin/workspaces/modified`.
#[derive(Debug, Clone, Deserialize)]
pub struct ModifiedWorkspace {
    pub id: String,
}

/// `POST …/workspaces/getInfo` (202) and `GET …/workspaces/scanStatus/{id}`.
#[derive(Debug, Clone, Deserialize)]
pub struct ScanRequest {
    pub id: String,
    /// `NotStarted`, `Running`, `Succeeded` or `Failed`.
    #[serde(default)]
    pub status: Option<String>,
    #[serde(default)]
    pub error: Option<ErrorDetail>,
}

/// `PowerBIApiErrorResponseDetail`: only the code is kept (the message is
/// free text from the server).
#[derive(Debug, Clone, Deserialize)]
pub struct ErrorDetail {
    #[serde(default)]
    pub code: Option<String>,
}

/// `GET …/workspaces/scanResult/{id}`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScanResult {
    #[serde(default, deserialize_with = "list")]
    pub workspaces: Vec<Workspace>,
    #[serde(default, deserialize_with = "list")]
    pub datasource_instances: Vec<Datasource>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Workspace {
    pub id: String,
    #[serde(default, deserialize_with = "list")]
    pub reports: Vec<Report>,
    #[serde(default, deserialize_with = "list")]
    pub dashboards: Vec<Dashboard>,
    #[serde(default, deserialize_with = "list")]
    pub datasets: Vec<Dataset>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub dataset_id: Option<String>,
    #[serde(default)]
    pub created_date_time: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dashboard {
    pub id: String,
    #[serde(default)]
    pub display_name: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub tiles: Vec<Tile>,
}

/// A dashboard tile: pinned from a report (`reportId`), made on a dataset
/// (Q&A: only `datasetId`), or neither (text, image, video).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tile {
    #[serde(default)]
    pub report_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Dataset {
    pub id: String,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default, deserialize_with = "list")]
    pub tables: Vec<Table>,
    /// Shared queries and parameters that table sources refer to by name.
    #[serde(default, deserialize_with = "list")]
    pub expressions: Vec<Expression>,
    #[serde(default, deserialize_with = "list")]
    pub datasource_usages: Vec<DatasourceUsage>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Table {
    pub name: String,
    /// The table's Power Query (M) expression(s).
    #[serde(default, deserialize_with = "list")]
    pub source: Vec<TableSource>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct TableSource {
    #[serde(default)]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Expression {
    pub name: String,
    #[serde(default)]
    pub expression: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatasourceUsage {
    pub datasource_instance_id: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Datasource {
    /// `Sql`, …
    #[serde(default)]
    pub datasource_type: Option<String>,
    #[serde(default)]
    pub connection_details: Option<ConnectionDetails>,
    #[serde(default)]
    pub datasource_id: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct ConnectionDetails {
    #[serde(default)]
    pub database: Option<String>,
}

/// One chunk of `GET /v1.0/myorg/admin/activityevents`: the next chunk is
/// at `continuationUri` until `lastResultSet` is true.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActivityPage {
    #[serde(default, deserialize_with = "list")]
    pub activity_event_entities: Vec<ActivityEvent>,
    #[serde(default)]
    pub continuation_uri: Option<String>,
    #[serde(default)]
    pub last_result_set: bool,
}

/// An activity log record (the audit schema: PascalCase names).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ActivityEvent {
    #[serde(default)]
    pub creation_time: Option<String>,
    #[serde(default)]
    pub activity: Option<String>,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub report_id: Option<String>,
    #[serde(default)]
    pub report_name: Option<String>,
    #[serde(default)]
    pub dashboard_id: Option<String>,
    #[serde(default)]
    pub dashboard_name: Option<String>,
}

/// Power BI writes UTC times without an offset (`2019-08-13T07:55:15`)
/// in the activity log and with one (`…Z`) elsewhere; both are read.
pub fn utc_time(text: &str) -> Option<DateTime<Utc>> {
    text.parse::<DateTime<Utc>>().ok().or_else(|| {
        NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_with_and_without_offset_are_utc() {
        let want: DateTime<Utc> = "2019-08-13T07:55:15Z".parse().unwrap();
        assert_eq!(utc_time("2019-08-13T07:55:15"), Some(want));
        assert_eq!(utc_time("2019-08-13T07:55:15Z"), Some(want));
        assert_eq!(utc_time("2019-08-13T07:55:15.000Z"), Some(want));
        assert_eq!(utc_time("today"), None);
    }

    #[test]
    fn null_lists_read_as_empty() {
        let result: ScanResult = serde_json::from_value(serde_json::json!({
            "workspaces": [{"id": "w", "reports": null, "datasets": [{"id": "d", "tables": null}]}],
            "datasourceInstances": null
        }))
        .unwrap();
        assert!(result.workspaces[0].reports.is_empty());
        assert!(result.workspaces[0].datasets[0].tables.is_empty());
        assert!(result.datasource_instances.is_empty());
    }
}
