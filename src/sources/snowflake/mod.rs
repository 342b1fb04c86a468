//! Snowflake: `SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY` of a UTC day over the
//! SQL API v2 (`POST /api/v2/statements`, key-pair JWT), one `query_log`
//! row per `query_id`.
//!
//! The API answers 200 with the first partition of rows, or 202 with a
//! statement handle to poll; further partitions come from
//! `GET /api/v2/statements/{handle}?partition=N`. Every cell is a string.

mod key;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use futures::FutureExt;
use futures::future::BoxFuture;
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use crate::config::{ConnectorConfig, Secret};
use crate::sources::collect::{
    BiRow, CollectContext, CollectError, Collected, Collector, ResourceType, RowScope, Slice,
};
use crate::sources::http::{
    Authenticator, Credential, HttpClient, HttpError, HttpSettings, json_reason,
};

/// Users whose queries are Snowflake's own work.
const SYSTEM_USERS: &[&str] = &["SYSTEM"];

/// `QUERY_TYPE`s that steer the session or transaction: no table, no usage.
const SESSION_CONTROL: &[&str] = &[
    "BEGIN_TRANSACTION",
    "COMMIT",
    "ROLLBACK",
    "USE",
    "SET",
    "UNSET",
    "SHOW",
    "DESCRIBE",
    "ALTER_SESSION",
];

/// ACCOUNT_USAGE views lag up to 45 minutes (Snowflake's documented
/// latency for QUERY_HISTORY): a past day is mined once that has passed.
const LATENCY: chrono::Duration = chrono::Duration::minutes(45);

/// The longest a statement is polled for.
const MAX_WAIT: Duration = Duration::from_secs(600);

pub struct SnowflakeCollector {
    connector: ConnectorConfig,
    client: HttpClient,
}

pub fn build(connector: &ConnectorConfig) -> Result<Box<dyn Collector>, CollectError> {
    let account = connector.account.as_deref().unwrap_or_default();
    let default_url = format!("https://{account}.snowflakecomputing.com");
    let settings = HttpSettings::for_connector(connector, Some(&default_url))?;
    let auth = key::KeyPairAuth::load(connector)?;
    let client = HttpClient::new(settings, Some(Arc::new(auth)))?;
    Ok(Box::new(SnowflakeCollector {
        connector: connector.clone(),
        client,
    }))
}

impl Collector for SnowflakeCollector {
    fn collect<'a>(
        &'a self,
        ctx: &'a CollectContext<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>> {
        async move { self.mine(ctx.date).await }.boxed()
    }
}

impl Authenticator for key::KeyPairAuth {
    fn login<'a>(&'a self, _: &'a HttpClient) -> BoxFuture<'a, Result<Credential, HttpError>> {
        let token = self.token(Utc::now());
        Box::pin(async move { Ok(Credential::Bearer(Secret::new(token?))) })
    }
}

/// A ResultSet (200) or QueryStatus (202): the fields read here.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StatementResponse {
    statement_handle: Option<String>,
    result_set_meta_data: Option<MetaData>,
    #[serde(default)]
    data: Vec<Vec<Option<String>>>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetaData {
    #[serde(default)]
    row_type: Vec<Column>,
    #[serde(default)]
    partition_info: Vec<serde_json::Value>,
}

#[derive(Debug, Deserialize)]
struct Column {
    name: String,
}

/// `objectDomain`s of ACCESS_HISTORY entries that are tables or views.
const RELATION_DOMAINS: &[&str] = &[
    "Table",
    "View",
    "Materialized view",
    "External table",
    "Dynamic table",
    "Iceberg table",
];

/// One entry of ACCESS_HISTORY's `DIRECT_OBJECTS_ACCESSED` (a VARIANT the
/// SQL API returns as a JSON string).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessedObject {
    #[serde(default)]
    object_domain: String,
    object_name: String,
    #[serde(default)]
    columns: Vec<AccessedColumn>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct AccessedColumn {
    column_name: String,
}

/// The rows of one statement: column names and every partition's cells.
struct Table {
    columns: HashMap<String, usize>,
    rows: Vec<Vec<Option<String>>>,
}

impl Table {
    fn cell<'r>(&self, row: &'r [Option<String>], name: &str) -> Option<&'r str> {
        row.get(*self.columns.get(name)?)?.as_deref()
    }
}

impl SnowflakeCollector {
    fn source_err(&self, message: String) -> CollectError {
        CollectError::source(&self.connector, message)
    }

    async fn mine(&self, date: NaiveDate) -> Result<Collected, CollectError> {
        let day_start = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let day_end = day_start + Days::new(1);
        let now = Utc::now();
        if day_end <= now && now < day_end + LATENCY {
            return Err(self.source_err(format!(
                "ACCOUNT_USAGE.QUERY_HISTORY lags up to 45 minutes: mine {date} after {} UTC",
                (day_end + LATENCY).format("%H:%M")
            )));
        }
        let statement = format!(
            "SELECT query_id, query_text, database_name, user_name, \
             DATE_PART(EPOCH_MICROSECOND, start_time) AS start_us, execution_status, query_type \
             FROM SNOWFLAKE.ACCOUNT_USAGE.QUERY_HISTORY \
             WHERE start_time >= '{} +0000'::TIMESTAMP_TZ AND start_time < '{} +0000'::TIMESTAMP_TZ \
             ORDER BY start_time",
            day_start.format("%Y-%m-%d %H:%M:%S"),
            day_end.format("%Y-%m-%d %H:%M:%S"),
        );
        let table = self.run(&statement, "QUERY_HISTORY").await?;
        let mut seen = HashSet::new();
        let (mut duplicates, mut failed, mut excluded, mut control) = (0u64, 0u64, 0u64, 0u64);
        let mut rows = Vec::new();
        for (index, row) in table.rows.iter().enumerate() {
            let Some(query_id) = table.cell(row, "QUERY_ID") else {
                continue;
            };
            // QUERY_HISTORY is known to repeat a query: one row per id.
            if !seen.insert(query_id.to_string()) {
                duplicates += 1;
                continue;
            }
            if table.cell(row, "EXECUTION_STATUS") != Some("SUCCESS") {
                failed += 1;
                continue;
            }
            let user = table.cell(row, "USER_NAME");
            if user.is_some_and(|u| {
                SYSTEM_USERS.contains(&u)
                    || self
                        .connector
                        .exclude_users
                        .iter()
                        .any(|x| x.eq_ignore_ascii_case(u))
            }) {
                excluded += 1;
                continue;
            }
            if table
                .cell(row, "QUERY_TYPE")
                .is_some_and(|t| SESSION_CONTROL.contains(&t))
            {
                control += 1;
                continue;
            }
            let executed_at = table
                .cell(row, "START_US")
                .and_then(|us| us.split('.').next()?.parse::<i64>().ok())
                .and_then(DateTime::from_timestamp_micros)
                .ok_or_else(|| {
                    self.source_err(format!(
                        "QUERY_HISTORY row {} has no START_TIME the API wrote as a number",
                        index + 1
                    ))
                })?;
            rows.push(BiRow {
                sql: table.cell(row, "QUERY_TEXT").map(str::to_string),
                database: table.cell(row, "DATABASE_NAME").map(str::to_string),
                executed_by: user.map(str::to_string),
                executed_at: Some(executed_at),
                ..BiRow::new(ResourceType::QueryLog, query_id)
            });
        }
        let mut report = serde_json::Map::new();
        // The columns a query read, as Snowflake resolved them, exist only
        // on Enterprise accounts; elsewhere the analyzer's stand.
        match self.access_history(day_start, day_end).await {
            Ok(accessed) => {
                let mut matched = 0u64;
                for row in &mut rows {
                    if let Some((tables, columns)) = accessed.get(&row.resource_id) {
                        row.tables.clone_from(tables);
                        row.columns.clone_from(columns);
                        matched += 1;
                    }
                }
                report.insert("access_history_rows".into(), matched.into());
            }
            Err(e) => {
                tracing::info!(connector = %self.connector.name, "ACCESS_HISTORY not read: {e}");
                report.insert(
                    "access_history".into(),
                    format!("not read, columns come from the SQL: {e}").into(),
                );
            }
        }
        for (key, value) in [
            ("history_rows", table.rows.len() as u64),
            ("duplicate_query_ids", duplicates),
            ("failed_statements", failed),
            ("excluded_user_statements", excluded),
            ("session_control_statements", control),
        ] {
            report.insert(key.into(), value.into());
        }
        Ok(Collected {
            rows,
            slices: vec![Slice {
                date,
                scope: RowScope::Executions,
            }],
            report,
            checkpoint: None,
        })
    }

    /// Per query id of the day, the tables and columns it read directly
    /// (`DIRECT_OBJECTS_ACCESSED`: the objects its text names, views as
    /// views), fully qualified as Snowflake stores them.
    async fn access_history(
        &self,
        day_start: DateTime<Utc>,
        day_end: DateTime<Utc>,
    ) -> Result<HashMap<String, (Vec<String>, Vec<String>)>, CollectError> {
        let statement = format!(
            "SELECT query_id, direct_objects_accessed \
             FROM SNOWFLAKE.ACCOUNT_USAGE.ACCESS_HISTORY \
             WHERE query_start_time >= '{} +0000'::TIMESTAMP_TZ AND query_start_time < '{} +0000'::TIMESTAMP_TZ",
            day_start.format("%Y-%m-%d %H:%M:%S"),
            day_end.format("%Y-%m-%d %H:%M:%S"),
        );
        let table = self.run(&statement, "ACCESS_HISTORY").await?;
        let mut accessed = HashMap::new();
        for (index, row) in table.rows.iter().enumerate() {
            let (Some(query_id), Some(objects)) = (
                table.cell(row, "QUERY_ID"),
                table.cell(row, "DIRECT_OBJECTS_ACCESSED"),
            ) else {
                continue;
            };
            let objects: Vec<AccessedObject> = serde_json::from_str(objects).map_err(|e| {
                self.source_err(format!(
                    "ACCESS_HISTORY row {}: DIRECT_OBJECTS_ACCESSED is not the documented array of objects ({})",
                    index + 1,
                    json_reason(&e)
                ))
            })?;
            let (mut tables, mut columns) = (Vec::new(), Vec::new());
            for object in objects {
                // Stages and functions are accessed too; only relations have columns.
                if !RELATION_DOMAINS.contains(&object.object_domain.as_str()) {
                    continue;
                }
                columns.extend(
                    object
                        .columns
                        .iter()
                        .map(|c| format!("{}.{}", object.object_name, c.column_name)),
                );
                tables.push(object.object_name);
            }
            accessed.insert(query_id.to_string(), (tables, columns));
        }
        Ok(accessed)
    }

    /// Runs one statement and reads every partition of its result.
    async fn run(&self, statement: &str, what: &str) -> Result<Table, CollectError> {
        let mut body = serde_json::json!({ "statement": statement, "timeout": MAX_WAIT.as_secs() });
        for (key, value) in [
            ("warehouse", &self.connector.warehouse),
            ("role", &self.connector.role),
        ] {
            if let Some(value) = value {
                body[key] = value.clone().into();
            }
        }
        let (status, mut first) = self
            .request(Method::POST, "api/v2/statements", Some(&body))
            .await?;
        let handle = first.statement_handle.clone().ok_or_else(|| {
            self.source_err("the SQL API answered without a statementHandle".into())
        })?;
        let status_path = format!("api/v2/statements/{handle}");
        if status == StatusCode::ACCEPTED {
            let started = tokio::time::Instant::now();
            let mut wait = Duration::from_millis(100);
            loop {
                tokio::time::sleep(wait).await;
                let (status, response) = self.request(Method::GET, &status_path, None).await?;
                if status != StatusCode::ACCEPTED {
                    first = response;
                    break;
                }
                if started.elapsed() > MAX_WAIT {
                    return Err(self.source_err(format!(
                        "the {what} statement was still running after {} s; give the warehouse more room or retry",
                        MAX_WAIT.as_secs()
                    )));
                }
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
        let meta = first
            .result_set_meta_data
            .take()
            .ok_or_else(|| self.source_err("the SQL API result has no resultSetMetaData".into()))?;
        let columns = meta
            .row_type
            .iter()
            .enumerate()
            .map(|(i, c)| (c.name.to_ascii_uppercase(), i))
            .collect();
        let mut rows = std::mem::take(&mut first.data);
        for partition in 1..meta.partition_info.len() {
            let (_, part) = self
                .request(
                    Method::GET,
                    &format!("{status_path}?partition={partition}"),
                    None,
                )
                .await?;
            rows.extend(part.data);
        }
        Ok(Table { columns, rows })
    }

    async fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<(StatusCode, StatementResponse), CollectError> {
        let url = self.client.url(path)?;
        let response = self
            .client
            .send(method, url.clone(), |r| {
                let r = r
                    .header("X-Snowflake-Authorization-Token-Type", "KEYPAIR_JWT")
                    .header("Accept", "application/json");
                match body {
                    Some(body) => r.json(body),
                    None => r,
                }
            })
            .await?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|_| HttpError::Decode {
            connector: self.connector.name.clone(),
            endpoint: url.path().to_string(),
            reason: "the body was cut short".into(),
        })?;
        let parsed = serde_json::from_slice(&bytes).map_err(|e| HttpError::Decode {
            connector: self.connector.name.clone(),
            endpoint: url.path().to_string(),
            reason: json_reason(&e),
        })?;
        Ok((status, parsed))
    }
}
