//! Metabase's REST API as the scraper reads it: a session login or an API
//! key, and the shapes of cards (questions and models), dashboards with
//! their dashcards, databases and the paged search. Only the fields used
//! are declared; unknown fields are ignored.

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use reqwest::Method;
use serde::Deserialize;

use crate::config::Secret;
use crate::sources::http::{Authenticator, Credential, HttpClient, HttpError};

/// `POST /api/session` → `{"id": "<session id>"}`, sent back as the
/// `X-Metabase-Session` header.
pub struct SessionLogin {
    pub username: String,
    pub password: Secret,
}

#[derive(Deserialize)]
struct Session {
    id: String,
}

impl Authenticator for SessionLogin {
    fn login<'a>(&'a self, client: &'a HttpClient) -> BoxFuture<'a, Result<Credential, HttpError>> {
        Box::pin(async move {
            let url = client.url("api/session")?;
            let body = serde_json::json!({
                "username": self.username,
                "password": self.password.expose(),
            });
            let response = client
                .send_unauthenticated(Method::POST, url.clone(), |r| r.json(&body))
                .await?;
            let session: Session = client.decode_json(&url, response).await?;
            Ok(Credential::Header {
                name: "X-Metabase-Session",
                value: Secret::new(session.id),
            })
        })
    }
}

/// Lists that newer versions wrap as `{"data": [...], "total": N}` and
/// older ones return bare.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum MaybePaged<T> {
    Paged {
        data: Vec<T>,
        #[serde(default)]
        total: Option<usize>,
    },
    Bare(Vec<T>),
}

impl<T> MaybePaged<T> {
    pub fn into_parts(self) -> (Vec<T>, Option<usize>) {
        match self {
            Self::Paged { data, total } => (data, total),
            Self::Bare(items) => (items, None),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Database {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    /// `postgres`, `snowflake`, `bigquery-cloud-sdk`, `h2`, …
    #[serde(default)]
    pub engine: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Card {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub database_id: Option<i64>,
    /// Legacy (`{"type": "native", "native": {"query": …}}` or `{"type":
    /// "query", "query": {…}}`) or MBQL 5 (`{"lib/type": "mbql/query",
    /// "stages": [{"lib/type": "mbql.stage/native", "native": …}]}`).
    #[serde(default)]
    pub dataset_query: Option<serde_json::Value>,
    #[serde(default)]
    pub archived: bool,
    #[serde(default)]
    pub created_at: Option<DateTime<Utc>>,
}

/// What a card's query is, read from either shape.
#[derive(Debug, Clone, PartialEq)]
pub enum CardQuery {
    /// SQL written by hand (templates and all).
    Native(String),
    /// A GUI question: Metabase compiles it (`POST /api/dataset/native`).
    Structured(serde_json::Value),
    /// No query (a text card, an empty or unknown query).
    Nothing,
}

impl Card {
    pub fn query(&self) -> CardQuery {
        let Some(query) = self.dataset_query.as_ref().filter(|q| q.is_object()) else {
            return CardQuery::Nothing;
        };
        if let Some(stages) = query.get("stages").and_then(|s| s.as_array()) {
            let native = stages.iter().find_map(|stage| {
                let kind = stage.get("lib/type").and_then(|t| t.as_str());
                (kind == Some("mbql.stage/native"))
                    .then(|| stage.get("native").and_then(|n| n.as_str()))
                    .flatten()
            });
            return match native {
                Some(sql) => CardQuery::Native(sql.to_string()),
                None if stages.is_empty() => CardQuery::Nothing,
                None => CardQuery::Structured(query.clone()),
            };
        }
        match query.get("type").and_then(|t| t.as_str()) {
            Some("native") => match query.pointer("/native/query").and_then(|q| q.as_str()) {
                Some(sql) => CardQuery::Native(sql.to_string()),
                None => CardQuery::Nothing,
            },
            Some("query") => CardQuery::Structured(query.clone()),
            _ => CardQuery::Nothing,
        }
    }
}

/// `POST /api/dataset/native` → the compiled query.
#[derive(Deserialize)]
pub struct Compiled {
    #[serde(default)]
    pub query: Option<String>,
}

/// One hit of `GET /api/search?models=dashboard`.
#[derive(Debug, Clone, Deserialize)]
pub struct SearchHit {
    pub id: i64,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dashboard {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    /// `ordered_cards` before Metabase 0.47.
    #[serde(default, alias = "ordered_cards")]
    pub dashcards: Vec<Dashcard>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Dashcard {
    /// None for text, heading and link cards.
    #[serde(default)]
    pub card_id: Option<i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card(query: serde_json::Value) -> Card {
        serde_json::from_value(serde_json::json!({"id": 1, "dataset_query": query})).unwrap()
    }

    #[test]
    fn both_query_shapes_are_read() {
        assert_eq!(
            card(serde_json::json!({"type": "native", "database": 1, "native": {"query": "SELECT 1", "template-tags": {}}})).query(),
            CardQuery::Native("SELECT 1".into())
        );
        assert_eq!(
            card(serde_json::json!({"lib/type": "mbql/query", "database": 1, "stages": [{"lib/type": "mbql.stage/native", "native": "SELECT 2"}]})).query(),
            CardQuery::Native("SELECT 2".into())
        );
        let gui = serde_json::json!({"type": "query", "database": 1, "query": {"source-table": 2}});
        assert_eq!(card(gui.clone()).query(), CardQuery::Structured(gui));
        let gui5 = serde_json::json!({"lib/type": "mbql/query", "database": 1, "stages": [{"lib/type": "mbql.stage/mbql", "source-table": 2}]});
        assert_eq!(card(gui5.clone()).query(), CardQuery::Structured(gui5));
        assert_eq!(card(serde_json::json!(null)).query(), CardQuery::Nothing);
        assert_eq!(
            card(serde_json::json!({"type": "native"})).query(),
            CardQuery::Nothing
        );
    }
}
