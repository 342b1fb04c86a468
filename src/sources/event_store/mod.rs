//! A platform's own usage log kept in PostgreSQL as a normalized event store
//! (Datagrok's `events`, `event_types`, `event_parameters`,
//! `event_parameter_values`, each event tied to a user session), read into
//! `platform_events`, `platform_errors` and `platform_users`.
//!
//! - Incremental: everything with `event_time` at or after the watermark
//!   minus a safety overlap (the first run reads the whole store), one UTC
//!   day at a time. Rows merge into their day's partition by event id, the
//!   newly read row winning, so re-reading the overlap changes nothing that
//!   did not change in the store.
//! - One day: exactly the events of that UTC day; its partitions become
//!   what the store holds now. The watermark does not move (a day re-read
//!   must not make the next incremental run skip older days).
//!
//! The watermark lives in the connector's checkpoint
//! (`_usagelake/checkpoints/<connector>/event_collection.json`) and moves
//! only after every partition it covers was written.

mod reader;
mod rows;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::lake::{Lake, LakeError};
use crate::sources::bi_queries::{Checkpoint, read_checkpoint, write_checkpoint};
use reader::Store;
use rows::{DayMerge, ErrorRow, EventRow, merge_day, write_users};

/// Errors of the event-store collector. None holds the connection's
/// password: errors name the connector and `user@host:port/database`.
#[derive(Debug, thiserror::Error)]
pub enum EventStoreError {
    #[error(
        "event store {connector}: url is not a PostgreSQL URL; write postgres://USER@HOST:PORT/DATABASE (add ?sslmode=verify-full&sslrootcert=CA.pem, or ?sslmode=require, for TLS; the password goes in the connector's `password`)"
    )]
    BadUrl { connector: String },
    #[error(
        "event store {connector} ({target}): cannot connect: {message}; check the url, the password and that the server accepts connections from this host"
    )]
    Connect {
        connector: String,
        target: String,
        message: String,
    },
    #[error("event store {connector}: TLS: {message}")]
    Tls { connector: String, message: String },
    #[error(
        "event store {connector} ({target}): the {query} query failed: {message}; check that the database holds the event-store tables (events, event_types, event_parameters, event_parameter_values, users_sessions, users, groups, groups_relations, published_packages, entities) and that the user may read them"
    )]
    Query {
        connector: String,
        target: String,
        query: &'static str,
        message: String,
    },
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// How to reach one event store and what to keep out of the lake.
#[derive(Clone)]
pub struct EventStoreSource {
    /// The connector's id (a UUID): names the checkpoint.
    pub connector_id: String,
    /// `postgres://user@host:port/database[?sslmode=require]`.
    pub url: String,
    /// Overrides a password in `url`.
    pub password: Option<crate::config::Secret>,
    /// Parameter names whose values never reach the lake (case-insensitive).
    pub sensitive_parameters: Vec<String>,
    /// How far before the watermark an incremental run re-reads, for
    /// events written late with an earlier `event_time`.
    pub overlap: Duration,
}

// The URL may hold a password: Debug shows neither.
impl std::fmt::Debug for EventStoreSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventStoreSource")
            .field("connector_id", &self.connector_id)
            .field("sensitive_parameters", &self.sensitive_parameters)
            .field("overlap", &self.overlap)
            .finish_non_exhaustive()
    }
}

impl EventStoreSource {
    pub fn new(connector_id: impl Into<String>, url: impl Into<String>) -> Self {
        Self {
            connector_id: connector_id.into(),
            url: url.into(),
            password: None,
            sensitive_parameters: Vec::new(),
            overlap: Duration::hours(DEFAULT_OVERLAP_HOURS),
        }
    }
}

pub const DEFAULT_OVERLAP_HOURS: i64 = 2;

/// What to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CollectRange {
    /// Everything since the watermark (minus the overlap).
    Incremental,
    /// Exactly one UTC day, replacing its partitions.
    Day(NaiveDate),
}

/// What one collection did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventStoreReport {
    pub connector_id: String,
    /// `incremental` or `day`.
    pub mode: &'static str,
    /// Lower bound of the read (`None`: the whole store).
    pub read_from: Option<DateTime<Utc>>,
    /// The UTC days read.
    pub days: Vec<NaiveDate>,
    pub events_read: u64,
    pub errors_read: u64,
    pub users: u64,
    /// Event and error rows new or changed in the lake.
    pub rows_upserted: u64,
    /// Lake rows a whole-day read no longer found in the store.
    pub rows_removed: u64,
    pub partitions_written: u64,
    /// The watermark after this run.
    pub watermark: Option<DateTime<Utc>>,
}

impl std::fmt::Display for EventStoreReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "read {} events ({} errors) over {} days and {} users; {} rows upserted, {} partitions written",
            self.events_read,
            self.errors_read,
            self.days.len(),
            self.users,
            self.rows_upserted,
            self.partitions_written
        )
    }
}

/// The watermark inside the connector's checkpoint (`source`).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Watermark {
    /// The latest `event_time` collected.
    watermark: DateTime<Utc>,
}

const CHECKPOINT_KIND: &str = "event_collection";

async fn read_watermark(lake: &Lake, connector: &str) -> Result<Option<DateTime<Utc>>, LakeError> {
    let checkpoint = read_checkpoint(lake, connector, CHECKPOINT_KIND).await?;
    // No watermark (or an unreadable one) means reading the whole store
    // again, which rewrites the same rows.
    Ok(checkpoint
        .source
        .and_then(|v| serde_json::from_value::<Watermark>(v).ok())
        .map(|w| w.watermark))
}

async fn write_watermark(
    lake: &Lake,
    connector: &str,
    watermark: DateTime<Utc>,
) -> Result<(), LakeError> {
    let checkpoint = Checkpoint {
        last_succeeded: Some(Utc::now().date_naive()),
        source: Some(
            serde_json::to_value(Watermark { watermark }).expect("a watermark serializes"),
        ),
    };
    write_checkpoint(lake, connector, CHECKPOINT_KIND, &checkpoint).await
}

/// Collects `range` from the event store into the lake.
pub async fn collect(
    lake: &Lake,
    source: &EventStoreSource,
    range: CollectRange,
) -> Result<EventStoreReport, EventStoreError> {
    let connector = source.connector_id.as_str();
    let previous = read_watermark(lake, connector).await?;
    let store = Store::connect(
        connector,
        &source.url,
        source.password.as_ref().map(|p| p.expose()),
    )
    .await?;
    let (read_from, days) = match range {
        CollectRange::Incremental => {
            let from = previous.map(|w| w - source.overlap);
            let days = store.days(from.map(|t| t.naive_utc())).await?;
            (from, days)
        }
        CollectRange::Day(day) => (Some(day_start(day)), vec![day]),
    };
    let mut report = EventStoreReport {
        connector_id: connector.to_string(),
        mode: match range {
            CollectRange::Incremental => "incremental",
            CollectRange::Day(_) => "day",
        },
        read_from,
        days: days.clone(),
        events_read: 0,
        errors_read: 0,
        users: 0,
        rows_upserted: 0,
        rows_removed: 0,
        partitions_written: 0,
        watermark: previous,
    };
    let mut latest_us: Option<i64> = None;
    for day in days {
        let start = match read_from {
            Some(from) if from > day_start(day) => from,
            _ => day_start(day),
        };
        let end = day_start(day + chrono::Days::new(1));
        let (events, errors): (Vec<EventRow>, Vec<ErrorRow>) = store
            .events(
                start.naive_utc(),
                end.naive_utc(),
                &source.sensitive_parameters,
            )
            .await?;
        report.events_read += events.len() as u64;
        report.errors_read += errors.len() as u64;
        latest_us = latest_us.max(events.iter().map(|e| e.event_time_us).max());
        // Only a read that began at midnight saw the whole day.
        let whole_day = start == day_start(day);
        let replace = whole_day && range != CollectRange::Incremental;
        for merged in [
            merge_day(lake, day, events, replace).await?,
            merge_day(lake, day, errors, replace).await?,
        ] {
            add(&mut report, merged);
        }
    }
    let users = store.users().await?;
    report.users = users.len() as u64;
    write_users(lake, Utc::now().date_naive(), &users).await?;
    if range == CollectRange::Incremental {
        let latest = latest_us.and_then(DateTime::from_timestamp_micros);
        let watermark = previous.max(latest);
        if let Some(watermark) = watermark {
            write_watermark(lake, connector, watermark).await?;
        }
        report.watermark = watermark;
    }
    tracing::info!(connector, %report, "event store collected");
    Ok(report)
}

fn add(report: &mut EventStoreReport, merged: DayMerge) {
    report.rows_upserted += merged.upserted;
    report.rows_removed += merged.removed;
    report.partitions_written += u64::from(merged.written);
}

fn day_start(day: NaiveDate) -> DateTime<Utc> {
    day.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc()
}
