//! BigQuery: the jobs of a UTC day from
//! `region-<location>.INFORMATION_SCHEMA.JOBS_BY_PROJECT`, one `query_log`
//! row per job, tables from the job's own `referenced_tables`.
//!
//! Auth is a service account's JSON key: a JWT signed with its private key
//! is exchanged at its `token_uri` for an OAuth access token. The query
//! goes through `jobs.query`; while the job runs, or while the answer has a
//! `pageToken`, `jobs.getQueryResults` is asked again.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Days, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::Method;
use serde::{Deserialize, Serialize};

use crate::config::{ConnectorConfig, Secret};
use crate::sources::collect::{
    BiRow, CollectContext, CollectError, Collected, Collector, ResourceType, RowScope, Slice,
};
use crate::sources::http::{Authenticator, Credential, HttpClient, HttpError, HttpSettings};

const SCOPE: &str = "https://www.googleapis.com/auth/bigquery";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

/// The fields of a service-account key file read here.
#[derive(Deserialize)]
struct ServiceAccount {
    client_email: String,
    private_key: String,
    token_uri: Option<String>,
}

struct ServiceAccountAuth {
    connector: String,
    email: String,
    token_uri: String,
    key: EncodingKey,
}

#[derive(Serialize)]
struct Claims<'a> {
    iss: &'a str,
    scope: &'a str,
    aud: &'a str,
    iat: i64,
    exp: i64,
}

#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
}

impl Authenticator for ServiceAccountAuth {
    fn login<'a>(&'a self, client: &'a HttpClient) -> BoxFuture<'a, Result<Credential, HttpError>> {
        async move {
            let now = Utc::now().timestamp();
            let claims = Claims {
                iss: &self.email,
                scope: SCOPE,
                aud: &self.token_uri,
                iat: now,
                exp: now + 3600,
            };
            let assertion =
                jsonwebtoken::encode(&Header::new(Algorithm::RS256), &claims, &self.key).map_err(
                    |_| HttpError::Config {
                        connector: self.connector.clone(),
                        reason: "signing the service-account JWT failed; check credentials_file"
                            .into(),
                    },
                )?;
            let url = client.url(&self.token_uri)?;
            let response = client
                .send_unauthenticated(Method::POST, url.clone(), |r| {
                    r.form(&[
                        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                        ("assertion", assertion.as_str()),
                    ])
                })
                .await?;
            let token: TokenResponse = client.decode_json(&url, response).await?;
            Ok(Credential::Bearer(Secret::new(token.access_token)))
        }
        .boxed()
    }
}

pub struct BigqueryCollector {
    connector: ConnectorConfig,
    client: HttpClient,
    project: String,
    location: String,
}

pub fn build(connector: &ConnectorConfig) -> Result<Box<dyn Collector>, CollectError> {
    let err = |message: String| CollectError::source(connector, message);
    let path = connector.credentials_file.as_deref().unwrap_or_default();
    let text = std::fs::read_to_string(path).map_err(|e| {
        err(format!(
            "credentials_file {path}: {e}; point it at the service account's JSON key"
        ))
    })?;
    let account: ServiceAccount = serde_json::from_str(&text).map_err(|_| {
        err(format!(
            "credentials_file {path} is not a service-account JSON key (client_email, private_key)"
        ))
    })?;
    let key = EncodingKey::from_rsa_pem(account.private_key.as_bytes()).map_err(|_| {
        err(format!(
            "credentials_file {path}: private_key is not an RSA key in PEM form"
        ))
    })?;
    let settings = HttpSettings::for_connector(
        connector,
        Some("https://bigquery.googleapis.com/bigquery/v2/"),
    )?;
    let auth = ServiceAccountAuth {
        connector: connector.name.clone(),
        email: account.client_email,
        token_uri: account
            .token_uri
            .unwrap_or_else(|| DEFAULT_TOKEN_URI.into()),
        key,
    };
    let client = HttpClient::new(settings, Some(Arc::new(auth)))?;
    Ok(Box::new(BigqueryCollector {
        connector: connector.clone(),
        client,
        project: connector.project.clone().unwrap_or_default(),
        location: connector
            .location
            .clone()
            .unwrap_or_else(|| "us".into())
            .to_ascii_lowercase(),
    }))
}

impl Collector for BigqueryCollector {
    fn collect<'a>(
        &'a self,
        ctx: &'a CollectContext<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>> {
        async move { self.mine(ctx).await }.boxed()
    }
}

/// `jobs.query` and `jobs.getQueryResults` answers: the fields read here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct QueryResponse {
    job_reference: Option<JobReference>,
    #[serde(default)]
    job_complete: bool,
    schema: Option<Schema>,
    #[serde(default)]
    rows: Vec<Row>,
    page_token: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct JobReference {
    job_id: String,
    location: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Schema {
    fields: Vec<Field>,
}

#[derive(Debug, Deserialize)]
struct Field {
    name: String,
}

#[derive(Debug, Deserialize)]
struct Row {
    f: Vec<Cell>,
}

#[derive(Debug, Deserialize)]
struct Cell {
    v: serde_json::Value,
}

impl BigqueryCollector {
    fn source_err(&self, message: String) -> CollectError {
        CollectError::source(&self.connector, message)
    }

    async fn mine(&self, ctx: &CollectContext<'_>) -> Result<Collected, CollectError> {
        let date = ctx.date;
        let day_start = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let day_end = day_start + Days::new(1);
        let query = format!(
            "SELECT job_id, user_email, UNIX_MICROS(creation_time) AS created_us, query, \
             error_result IS NOT NULL AS failed, statement_type, \
             ARRAY(SELECT CONCAT(t.project_id, '.', t.dataset_id, '.', t.table_id) FROM UNNEST(referenced_tables) t) AS tables \
             FROM `{}`.`region-{}`.INFORMATION_SCHEMA.JOBS_BY_PROJECT \
             WHERE creation_time >= TIMESTAMP('{}') AND creation_time < TIMESTAMP('{}') \
             AND job_type = 'QUERY' AND state = 'DONE' ORDER BY creation_time",
            self.project,
            self.location,
            day_start.format("%Y-%m-%d %H:%M:%S+00"),
            day_end.format("%Y-%m-%d %H:%M:%S+00"),
        );
        let page_size = self.connector.page_size.unwrap_or(10_000);
        let body = serde_json::json!({
            "query": query,
            "useLegacySql": false,
            "location": self.location,
            "maxResults": page_size,
            "timeoutMs": 10_000,
        });
        let mut response: QueryResponse = self
            .client
            .post_json(&format!("projects/{}/queries", self.project), &body)
            .await?;
        let job = response
            .job_reference
            .take()
            .ok_or_else(|| self.source_err("jobs.query answered without a jobReference".into()))?;
        let mut columns: HashMap<String, usize> = HashMap::new();
        let (mut failed, mut excluded, mut pages) = (0u64, 0u64, 1u64);
        let mut rows = Vec::new();
        loop {
            if let Some(schema) = &response.schema {
                columns = schema
                    .fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| (f.name.to_ascii_lowercase(), i))
                    .collect();
            }
            if response.job_complete {
                for row in &response.rows {
                    match self.row(&columns, row)? {
                        Keep::Row(r) => rows.push(*r),
                        Keep::Failed => failed += 1,
                        Keep::Excluded => excluded += 1,
                    }
                }
                // One page at a time: its rows go to the sink before the
                // next is fetched.
                let mut sink = ctx.rows.lock().unwrap_or_else(|e| e.into_inner());
                for row in rows.drain(..) {
                    sink.push(&row);
                }
            }
            // A running job answers without rows or token: ask again.
            let token = match (&response.page_token, response.job_complete) {
                (Some(token), true) => Some(token.clone()),
                (None, true) => break,
                (_, false) => None,
            };
            let mut path = format!(
                "projects/{}/queries/{}?maxResults={page_size}&timeoutMs=10000",
                self.project, job.job_id
            );
            if let Some(location) = &job.location {
                path.push_str(&format!("&location={location}"));
            }
            if let Some(token) = token {
                path.push_str(&format!("&pageToken={}", urlencode(&token)));
                pages += 1;
            }
            response = self.client.get_json(&path).await?;
        }
        let mut report = serde_json::Map::new();
        for (key, value) in [
            ("pages", pages),
            ("failed_statements", failed),
            ("excluded_user_statements", excluded),
        ] {
            report.insert(key.into(), value.into());
        }
        Ok(Collected {
            rows: Vec::new(),
            slices: vec![Slice {
                date,
                scope: RowScope::Executions,
            }],
            report,
            checkpoint: None,
        })
    }

    fn row(&self, columns: &HashMap<String, usize>, row: &Row) -> Result<Keep, CollectError> {
        let cell = |name: &str| columns.get(name).and_then(|i| row.f.get(*i)).map(|c| &c.v);
        let text = |name: &str| cell(name).and_then(|v| v.as_str()).map(str::to_string);
        if text("failed").as_deref() == Some("true") {
            return Ok(Keep::Failed);
        }
        let user = text("user_email");
        if user.as_deref().is_some_and(|u| {
            self.connector
                .exclude_users
                .iter()
                .any(|x| x.eq_ignore_ascii_case(u))
        }) {
            return Ok(Keep::Excluded);
        }
        let job_id = text("job_id")
            .ok_or_else(|| self.source_err("a JOBS_BY_PROJECT row has no job_id".into()))?;
        let executed_at = text("created_us")
            .and_then(|us| us.parse::<i64>().ok())
            .and_then(DateTime::<Utc>::from_timestamp_micros)
            .ok_or_else(|| {
                self.source_err(format!("job {job_id} has no creation_time in microseconds"))
            })?;
        // REPEATED STRING: {"v": [{"v": "project.dataset.table"}, …]}.
        let tables = cell("tables")
            .and_then(|v| v.as_array())
            .map(|items| {
                items
                    .iter()
                    .filter_map(|item| item.get("v")?.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        Ok(Keep::Row(Box::new(BiRow {
            sql: text("query"),
            tables,
            executed_by: user,
            executed_at: Some(executed_at),
            ..BiRow::new(ResourceType::QueryLog, job_id)
        })))
    }
}

enum Keep {
    Row(Box<BiRow>),
    Failed,
    Excluded,
}

/// Page tokens are opaque: escape everything but unreserved characters.
fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
