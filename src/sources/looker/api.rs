//! Looker's API 4.0 as the scraper reads it. Shapes are from the API 4.0
//! reference (the OpenAPI document `spec/Looker.4.0.oas.json` of
//! looker-open-source/sdk-codegen, release 26.12): only the fields used are
//! declared, so a newer server's extra fields are ignored. Looker's ids are
//! strings in API 4.0 (LookML dashboards have ids such as `model::name`).

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use futures::future::BoxFuture;
use reqwest::Method;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use crate::config::Secret;
use crate::sources::http::{Authenticator, Credential, HttpClient, HttpError};

/// Every path is under the API's version prefix.
pub const PREFIX: &str = "api/4.0";

/// `POST /api/4.0/login` with `client_id` and `client_secret` as a form
/// body (the reference says query parameters for them are being removed);
/// the answer's `access_token` then goes in `Authorization: token <access
/// token>` ("the word token is a string literal", per the reference; the
/// SDKs send `Bearer`, which Looker accepts too). The token expires after
/// `expires_in` seconds: a 401 then makes the client log in again.
pub struct Login {
    pub client_id: String,
    pub client_secret: Secret,
}

#[derive(Deserialize)]
struct AccessToken {
    access_token: String,
}

impl Authenticator for Login {
    fn login<'a>(&'a self, client: &'a HttpClient) -> BoxFuture<'a, Result<Credential, HttpError>> {
        Box::pin(async move {
            let url = client.url(&format!("{PREFIX}/login"))?;
            let body: String = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("client_id", &self.client_id)
                .append_pair("client_secret", self.client_secret.expose())
                .finish();
            let response = client
                .send_unauthenticated(Method::POST, url.clone(), |r| {
                    r.header(
                        reqwest::header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded",
                    )
                    .body(body.clone())
                })
                .await
                .map_err(|e| match e.status() {
                    // Looker answers an unknown key with 404, not 401.
                    Some(404) => HttpError::Config {
                        connector: client.connector().to_string(),
                        reason: format!(
                            "POST /{PREFIX}/login answered HTTP 404: the API key was refused; check client_id and client_secret (a Looker user's API key) and that url is the instance's"
                        ),
                    },
                    _ => e,
                })?;
            let token: AccessToken = client.decode_json(&url, response).await?;
            Ok(Credential::Header {
                name: "Authorization",
                value: Secret::new(format!("token {}", token.access_token)),
            })
        })
    }
}

/// An id that servers send as a string (API 4.0) or, in System Activity
/// results and older servers, as a number.
fn id_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(match Option::<Value>::deserialize(d)? {
        Some(Value::String(s)) if !s.is_empty() => Some(s),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    })
}

fn required_id<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    id_text(d)?.ok_or_else(|| serde::de::Error::custom("an id is missing"))
}

/// A path segment: ids are used as given, so anything outside the
/// characters Looker's ids use is percent-encoded.
pub fn segment(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b':' | b'~') {
            out.push(byte as char);
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `LookModel`: `{id, label}`; the id is the model's name.
#[derive(Debug, Clone, Deserialize)]
pub struct ModelRef {
    #[serde(default, deserialize_with = "id_text")]
    pub id: Option<String>,
}

/// A `Look` of `GET /looks/search`.
#[derive(Debug, Clone, Deserialize)]
pub struct Look {
    #[serde(deserialize_with = "required_id")]
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    pub query_id: Option<String>,
    #[serde(default)]
    pub model: Option<ModelRef>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

impl Look {
    pub const FIELDS: &str = "id,title,query_id,model,deleted,created_at";
}

/// A user-defined dashboard of `GET /dashboards/search`.
#[derive(Debug, Clone, Deserialize)]
pub struct Dashboard {
    #[serde(deserialize_with = "required_id")]
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    /// "Relative URL of the dashboard" (`/dashboards/12`).
    #[serde(default)]
    pub url: Option<String>,
    #[serde(default)]
    pub deleted: bool,
}

impl Dashboard {
    pub const FIELDS: &str = "id,title,url,deleted";
}

/// `Query`: what a look or tile runs, in which model and explore (`view`).
#[derive(Debug, Clone, Deserialize)]
pub struct Query {
    #[serde(default, deserialize_with = "id_text")]
    pub id: Option<String>,
    #[serde(default)]
    pub model: Option<String>,
}

/// `LookWithQuery`, as a tile that shows a look carries it.
#[derive(Debug, Clone, Deserialize)]
pub struct TileLook {
    #[serde(default, deserialize_with = "id_text")]
    pub id: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub model: Option<ModelRef>,
    #[serde(default)]
    pub query: Option<Query>,
}

/// `ResultMakerWithIdVisConfigAndDynamicFields`: where newer tiles keep
/// their query (or a merged result).
#[derive(Debug, Clone, Deserialize)]
pub struct ResultMaker {
    #[serde(default, deserialize_with = "id_text")]
    pub query_id: Option<String>,
    #[serde(default)]
    pub query: Option<Query>,
    #[serde(default, deserialize_with = "id_text")]
    pub merge_result_id: Option<String>,
}

/// A `DashboardElement` of `GET /dashboards/{id}/dashboard_elements`.
#[derive(Debug, Clone, Deserialize)]
pub struct Element {
    #[serde(deserialize_with = "required_id")]
    pub id: String,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default, deserialize_with = "id_text")]
    pub look_id: Option<String>,
    #[serde(default)]
    pub look: Option<TileLook>,
    #[serde(default, deserialize_with = "id_text")]
    pub query_id: Option<String>,
    #[serde(default)]
    pub query: Option<Query>,
    #[serde(default)]
    pub result_maker: Option<ResultMaker>,
    #[serde(default, deserialize_with = "id_text")]
    pub merge_result_id: Option<String>,
}

/// What a tile shows, however the element spells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TileSource {
    /// A saved look (its own query inside).
    Look {
        id: String,
        query_id: Option<String>,
        model: Option<String>,
    },
    /// A query of the tile's own.
    Query { id: String, model: Option<String> },
    /// Merged results: several queries joined in Looker, no one SQL text.
    Merged,
    /// Text, buttons and other tiles that run nothing.
    Nothing,
}

impl Element {
    pub fn source(&self) -> TileSource {
        let look_id = self
            .look_id
            .clone()
            .or_else(|| self.look.as_ref().and_then(|l| l.id.clone()));
        if let Some(id) = look_id {
            let look = self.look.as_ref();
            let query = look.and_then(|l| l.query.as_ref());
            return TileSource::Look {
                id,
                query_id: query.and_then(|q| q.id.clone()),
                model: query
                    .and_then(|q| q.model.clone())
                    .or_else(|| look.and_then(|l| l.model.as_ref()?.id.clone())),
            };
        }
        let maker = self.result_maker.as_ref();
        let query = self
            .query
            .as_ref()
            .or_else(|| maker.and_then(|m| m.query.as_ref()));
        let query_id = self
            .query_id
            .clone()
            .or_else(|| maker.and_then(|m| m.query_id.clone()))
            .or_else(|| query.and_then(|q| q.id.clone()));
        if let Some(id) = query_id {
            return TileSource::Query {
                id,
                model: query.and_then(|q| q.model.clone()),
            };
        }
        if self.merge_result_id.is_some() || maker.is_some_and(|m| m.merge_result_id.is_some()) {
            return TileSource::Merged;
        }
        TileSource::Nothing
    }

    /// The tile's own title, else the look's.
    pub fn display_title(&self) -> Option<String> {
        self.title
            .clone()
            .filter(|t| !t.trim().is_empty())
            .or_else(|| self.look.as_ref().and_then(|l| l.title.clone()))
    }
}

/// `DBConnection` of `GET /connections`.
#[derive(Debug, Clone, Deserialize)]
pub struct Connection {
    pub name: String,
    /// `postgres`, `snowflake`, `bigquery_standard_sql`, `redshift`, …
    #[serde(default)]
    pub dialect_name: Option<String>,
}

impl Connection {
    pub const FIELDS: &str = "name,dialect_name";
}

/// `LookmlModel` (its explores) of `GET /lookml_models/{name}`.
#[derive(Debug, Clone, Deserialize)]
pub struct Model {
    #[serde(default)]
    pub explores: Vec<NavExplore>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct NavExplore {
    pub name: String,
}

/// `LookmlModelExplore`: the connection its queries run on. A model has
/// one `connection:`, which all of its explores use.
#[derive(Debug, Clone, Deserialize)]
pub struct Explore {
    #[serde(default)]
    pub connection_name: Option<String>,
}

/// The System Activity query the usage comes from: the `history` explore
/// of model `system__activity`, one row per (second, user, object, query)
/// with its run count, run inline with `POST /queries/run/json`.
pub mod history {
    use super::*;

    pub const CREATED: &str = "history.created_time";
    pub const USER: &str = "user.email";
    pub const SOURCE: &str = "history.source";
    pub const CONNECTION: &str = "history.connection_name";
    pub const DASHBOARD: &str = "dashboard.id";
    pub const LOOK: &str = "look.id";
    pub const QUERY: &str = "query.id";
    pub const RUNS: &str = "history.query_run_count";

    /// The inline query (a `WriteQuery`) for runs in `[from, to)`, oldest
    /// first, at most `limit` rows. Times are UTC (`query_timezone`).
    /// `FROM to TO` is a filter expression of Looker's date grammar; runs
    /// of System Activity itself (this scraper's own) and Looker's
    /// internal query sources (suggestions, PDT regeneration) are left out.
    pub fn query(from: NaiveDateTime, to: NaiveDateTime, limit: usize) -> Value {
        let mut filters = BTreeMap::new();
        filters.insert(
            CREATED,
            format!(
                "{} to {}",
                from.format("%Y-%m-%d %H:%M:%S"),
                to.format("%Y-%m-%d %H:%M:%S")
            ),
        );
        filters.insert("query.model", "-system__activity".to_string());
        filters.insert(SOURCE, "-regenerator,-suggest".to_string());
        serde_json::json!({
            "model": "system__activity",
            "view": "history",
            "fields": [CREATED, USER, SOURCE, CONNECTION, DASHBOARD, LOOK, QUERY, RUNS],
            "filters": filters,
            "sorts": [CREATED],
            "limit": limit.to_string(),
            "query_timezone": "UTC",
        })
    }

    /// One row of the `json` result: field name → value.
    #[derive(Debug, Clone, PartialEq)]
    pub struct Run {
        pub at: NaiveDateTime,
        pub user: Option<String>,
        pub connection: Option<String>,
        pub dashboard_id: Option<String>,
        pub look_id: Option<String>,
        pub query_id: Option<String>,
        pub runs: i64,
    }

    fn text(row: &serde_json::Map<String, Value>, field: &str) -> Option<String> {
        match row.get(field)? {
            Value::String(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        }
    }

    /// A row of the result, or why it cannot be used (the field at fault).
    pub fn parse(row: &serde_json::Map<String, Value>) -> Result<Run, String> {
        let created = text(row, CREATED).ok_or_else(|| format!("{CREATED} is missing"))?;
        let at = parse_time(&created).ok_or_else(|| format!("{CREATED} is not a time"))?;
        let runs = match row.get(RUNS) {
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse().ok(),
            None | Some(Value::Null) => Some(1),
            _ => None,
        }
        .filter(|n| *n >= 1)
        .ok_or_else(|| format!("{RUNS} is not a whole number ≥ 1"))?;
        Ok(Run {
            at,
            user: text(row, USER),
            connection: text(row, CONNECTION),
            dashboard_id: text(row, DASHBOARD),
            look_id: text(row, LOOK),
            query_id: text(row, QUERY),
            runs,
        })
    }

    /// `json` results write times as `2026-12-05 14:40:18` in the query's
    /// timezone; an ISO form is read too.
    pub fn parse_time(text: &str) -> Option<NaiveDateTime> {
        let text = text.trim();
        NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S")
            .or_else(|_| NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f"))
            .ok()
            .or_else(|| {
                DateTime::parse_from_rfc3339(text)
                    .ok()
                    .map(|t| t.with_timezone(&Utc).naive_utc())
            })
    }

    /// Midnight UTC of `day`.
    pub fn midnight(day: NaiveDate) -> NaiveDateTime {
        day.and_hms_opt(0, 0, 0).expect("midnight exists")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn element(value: Value) -> Element {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn tiles_say_what_they_show_in_every_shape() {
        assert_eq!(
            element(serde_json::json!({"id": "1", "look_id": "5", "look": {"id": "5", "title": "T", "query": {"id": "9", "model": "shop", "view": "orders"}}})).source(),
            TileSource::Look { id: "5".into(), query_id: Some("9".into()), model: Some("shop".into()) }
        );
        assert_eq!(
            element(
                serde_json::json!({"id": 2, "query_id": 11, "query": {"id": 11, "model": "shop"}})
            )
            .source(),
            TileSource::Query {
                id: "11".into(),
                model: Some("shop".into())
            }
        );
        assert_eq!(
            element(serde_json::json!({"id": "3", "result_maker": {"query_id": "12", "query": {"id": "12", "model": "m"}}})).source(),
            TileSource::Query { id: "12".into(), model: Some("m".into()) }
        );
        assert_eq!(
            element(serde_json::json!({"id": "4", "result_maker": {"merge_result_id": "7"}}))
                .source(),
            TileSource::Merged
        );
        assert_eq!(
            element(serde_json::json!({"id": "5", "type": "text", "body_text": "x"})).source(),
            TileSource::Nothing
        );
    }

    #[test]
    fn history_rows_parse_and_name_the_bad_field() {
        let row = |v: Value| v.as_object().unwrap().clone();
        let run = history::parse(&row(serde_json::json!({
            "history.created_time": "2026-12-05 14:40:18", "user.email": "ann@example.com",
            "dashboard.id": 12, "look.id": null, "query.id": "77", "history.query_run_count": 3
        })))
        .unwrap();
        assert_eq!(run.at.to_string(), "2026-12-05 14:40:18");
        assert_eq!(run.dashboard_id.as_deref(), Some("12"));
        assert_eq!(run.look_id, None);
        assert_eq!(run.runs, 3);
        assert_eq!(
            history::parse(&row(serde_json::json!({"history.created_time": "soon"}))),
            Err("history.created_time is not a time".into())
        );
        assert_eq!(
            history::parse(&row(
                serde_json::json!({"history.created_time": "2026-12-05 14:40:18", "history.query_run_count": "many"})
            )),
            Err("history.query_run_count is not a whole number ≥ 1".into())
        );
    }

    #[test]
    fn ids_become_path_segments() {
        assert_eq!(segment("shop::overview"), "shop::overview");
        assert_eq!(segment("a b/c"), "a%20b%2Fc");
    }
}
