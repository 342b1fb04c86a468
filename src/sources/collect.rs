//! The contract between a collector (BI scraper, query-log miner) and the
//! one writer of `bi_queries` / `sync_jobs`: a collector talks to its
//! system and returns rows; it never writes the lake itself.

use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::BoxFuture;
use serde::{Deserialize, Serialize};

use crate::config::ConnectorConfig;
use crate::lake::{Lake, LakeError};
use crate::sources::bi_queries::RowSink;
use crate::sources::http::HttpError;
use crate::sql::SqlDialect;

/// What a `bi_queries` row stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    SavedQuery,
    Chart,
    DashboardChart,
    /// A dashboard opened (BI activity logs).
    DashboardView,
    /// A chart or question run (BI activity logs).
    ChartView,
    /// One statement (or an aggregate of identical ones) from a warehouse log.
    QueryLog,
}

impl ResourceType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SavedQuery => "saved_query",
            Self::Chart => "chart",
            Self::DashboardChart => "dashboard_chart",
            Self::DashboardView => "dashboard_view",
            Self::ChartView => "chart_view",
            Self::QueryLog => "query_log",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            Self::SavedQuery,
            Self::Chart,
            Self::DashboardChart,
            Self::DashboardView,
            Self::ChartView,
            Self::QueryLog,
        ]
        .into_iter()
        .find(|t| t.as_str() == text)
    }

    /// Executions happen at a time and go to that time's UTC day;
    /// definitions are a snapshot that goes to the sync's date.
    pub fn scope(self) -> RowScope {
        match self {
            Self::SavedQuery | Self::Chart | Self::DashboardChart => RowScope::Definitions,
            Self::DashboardView | Self::ChartView | Self::QueryLog => RowScope::Executions,
        }
    }
}

/// The two kinds of rows a `bi_queries` partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RowScope {
    Definitions,
    Executions,
}

/// The rows of one scope in one day's partition that a collect replaces.
/// Declaring a slice with no rows empties it (an object deleted in the
/// tool, a day with no statements); rows outside every declared slice are
/// dropped (a log file's statements of another day belong to that day's
/// run, which will declare them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Slice {
    pub date: NaiveDate,
    pub scope: RowScope,
}

/// One row as a collector sees it. The writer anonymizes `sql`, analyzes
/// it and derives the row's id; the raw text is never stored.
#[derive(Debug, Clone, PartialEq)]
pub struct BiRow {
    pub resource_type: ResourceType,
    /// The object's id in its tool, or for executions an id unique to the
    /// execution (a query id, a log position).
    pub resource_id: String,
    pub title: Option<String>,
    pub sql: Option<String>,
    /// The dialect of `sql` when it is not the connector's (a BI tool
    /// querying several databases).
    pub dialect: Option<SqlDialect>,
    /// Tables the system itself reports (BigQuery's `referenced_tables`, a
    /// chart's physical dataset): used when given, else the SQL's.
    pub tables: Vec<String>,
    /// Columns the system itself reports (Snowflake's ACCESS_HISTORY):
    /// used when given, else the SQL's.
    pub columns: Vec<String>,
    pub database: Option<String>,
    pub executed_by: Option<String>,
    pub executed_at: Option<DateTime<Utc>>,
    pub execution_count: i64,
    pub dashboard_id: Option<String>,
    pub dashboard_title: Option<String>,
    pub dashboard_url: Option<String>,
    pub created_at: Option<DateTime<Utc>>,
}

impl BiRow {
    /// A row with only its identity set; fill the rest with struct update.
    pub fn new(resource_type: ResourceType, resource_id: impl Into<String>) -> Self {
        Self {
            resource_type,
            resource_id: resource_id.into(),
            title: None,
            sql: None,
            dialect: None,
            tables: Vec::new(),
            columns: Vec::new(),
            database: None,
            executed_by: None,
            executed_at: None,
            execution_count: 1,
            dashboard_id: None,
            dashboard_title: None,
            dashboard_url: None,
            created_at: None,
        }
    }
}

/// What one collect produced.
#[derive(Debug, Clone, Default)]
pub struct Collected {
    pub rows: Vec<BiRow>,
    pub slices: Vec<Slice>,
    /// Counts worth keeping with the attempt (skipped statements, pages
    /// read, …): stored as the sync job's `report`.
    pub report: serde_json::Map<String, serde_json::Value>,
    /// The source's new watermark, stored only when the rows are committed.
    pub checkpoint: Option<serde_json::Value>,
}

/// Everything a collector gets for one attempt.
pub struct CollectContext<'a> {
    pub lake: &'a Lake,
    pub connector: &'a ConnectorConfig,
    /// The day to collect: a query log's day, a snapshot's date.
    pub date: NaiveDate,
    /// The watermark the last committed attempt left, if any.
    pub checkpoint: Option<serde_json::Value>,
    /// Where a collector may hand rows over as it reads them, instead of
    /// returning them in [`Collected::rows`]: a large log then never sits
    /// in memory as raw rows. Both ways end in the same commit.
    pub rows: Arc<RowSink>,
}

impl CollectContext<'_> {
    /// The first day of BI views to read: the day the last committed
    /// collect reached (`views_through` in its checkpoint; it may have
    /// been partial), else `first_days` back, and never further back.
    pub fn views_from(&self, first_days: u64) -> NaiveDate {
        let default = self.date - chrono::Days::new(first_days.max(1) - 1);
        self.checkpoint
            .as_ref()
            .and_then(|c| c.get("views_through"))
            .and_then(|d| d.as_str())
            .and_then(|d| d.parse::<NaiveDate>().ok())
            .filter(|d| *d <= self.date && *d >= default)
            .unwrap_or(default)
    }

    /// The execution slices of `[first_day, self.date]`, one per day.
    pub fn execution_slices(&self, first_day: NaiveDate) -> impl Iterator<Item = Slice> + '_ {
        first_day
            .iter_days()
            .take_while(|d| *d <= self.date)
            .map(|date| Slice {
                date,
                scope: RowScope::Executions,
            })
    }
}

/// A BI scraper or query-log miner.
pub trait Collector: Send + Sync {
    fn collect<'a>(
        &'a self,
        ctx: &'a CollectContext<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>>;
}

#[derive(Debug, thiserror::Error)]
pub enum CollectError {
    #[error(
        "connector {connector}: collecting from {kind} is not available in this build yet; remove the connector from the job or run a build that has it"
    )]
    NotBuilt {
        connector: String,
        kind: &'static str,
    },
    #[error(transparent)]
    Http(#[from] HttpError),
    /// The system answered, but not as expected, or a local input failed.
    #[error("connector {connector}: {message}")]
    Source { connector: String, message: String },
    #[error(transparent)]
    Lake(#[from] LakeError),
}

impl CollectError {
    pub fn source(connector: &ConnectorConfig, message: impl Into<String>) -> Self {
        Self::Source {
            connector: connector.name.clone(),
            message: message.into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncKind {
    BiSync,
    QueryLogMining,
    EventCollection,
}

impl SyncKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::BiSync => "bi_sync",
            Self::QueryLogMining => "query_log_mining",
            Self::EventCollection => "event_collection",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncStatus {
    Succeeded,
    Failed,
}

impl SyncStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

/// One attempt of a collector: the `sync_jobs` row, and what `usagelake
/// sync` prints.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyncJob {
    pub id: String,
    pub connector_id: String,
    pub kind: SyncKind,
    /// The logical date the attempt collected (its `sync_jobs` partition).
    pub date: NaiveDate,
    pub status: SyncStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub rows_upserted: i64,
    pub error: Option<String>,
    #[serde(default)]
    pub report: serde_json::Map<String, serde_json::Value>,
}
