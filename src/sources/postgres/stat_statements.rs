//! `pg_stat_statements` has counters and no timestamps: each run takes a
//! snapshot, and a day's usage is the difference from the snapshot the
//! day started from, per (queryid, user, database).
//!
//! The collector's checkpoint keeps the day being mined with two
//! snapshots: `base` (where the day started: the previous day's last
//! snapshot, or the first one ever) and `last`. Mining the same day again
//! differences from the same base, so a re-run rewrites the day's rows
//! rather than adding to them. A counter that went down, or a moved
//! `pg_stat_statements_info.stats_reset`, is a reset: the usage is the
//! new value, never negative. Entries that vanished count 0.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{is_excluded_user, is_session_control};
use crate::config::ConnectorConfig;
use crate::sources::collect::{
    BiRow, CollectContext, CollectError, Collected, ResourceType, RowScope, Slice,
};

/// The counters at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    pub taken_at: DateTime<Utc>,
    /// `pg_stat_statements_info.stats_reset` (PostgreSQL 14+).
    pub stats_reset: Option<DateTime<Utc>>,
    /// `queryid:userid:dbid` → calls.
    pub calls: BTreeMap<String, i64>,
}

/// The checkpoint: the day last mined and its two snapshots.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    pub date: NaiveDate,
    pub base: Snapshot,
    pub last: Snapshot,
}

/// One entry of the view, as read.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub key: String,
    pub user: Option<String>,
    pub database: Option<String>,
    pub query: String,
    pub calls: i64,
}

/// Calls made between `base` and `current` for `key`: a counter that
/// went down, or a reset of the whole view, restarted from zero.
pub fn calls_since(base: &Snapshot, current: &Snapshot, key: &str) -> i64 {
    let now = current.calls.get(key).copied().unwrap_or(0).max(0);
    let reset = current.stats_reset.is_some() && current.stats_reset != base.stats_reset;
    match base.calls.get(key) {
        Some(&before) if !reset && now >= before => now - before,
        _ => now,
    }
}

const CHECKPOINT_KEY: &str = "pg_stat_statements";

fn read_state(checkpoint: Option<&serde_json::Value>) -> Option<State> {
    let value = checkpoint?.get(CHECKPOINT_KEY)?;
    serde_json::from_value(value.clone()).ok()
}

/// What a run of `date` does, given today and the last state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Plan {
    /// Take a snapshot now and difference it.
    Live,
    /// The view has no history: a day that is not today or yesterday, or
    /// older than the last day mined, keeps the rows mined back then.
    Keep,
}

pub fn plan(date: NaiveDate, today: NaiveDate, last: Option<NaiveDate>) -> Plan {
    let recent = date >= today - Days::new(1);
    if recent && last.is_none_or(|last| last <= date) {
        Plan::Live
    } else {
        Plan::Keep
    }
}

/// The snapshot a run of `date` counts from: the day's own base when the
/// day is run again (so it rewrites rather than adds), else the last
/// snapshot; `None` before the first snapshot ever (usage counts from now).
pub fn base_for(state: Option<&State>, date: NaiveDate) -> Option<Snapshot> {
    match state {
        Some(s) if s.date == date => Some(s.base.clone()),
        Some(s) => Some(s.last.clone()),
        None => None,
    }
}

/// When a day's counted usage is dated: the base snapshot's time, or the
/// day's start (or last instant) when the base lies outside the day, so a
/// re-run gives the same row ids.
pub fn usage_time(date: NaiveDate, base: &Snapshot) -> DateTime<Utc> {
    let day_start = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let day_last = day_start + Days::new(1) - chrono::Duration::microseconds(1);
    base.taken_at.clamp(day_start, day_last)
}

pub async fn collect(ctx: &CollectContext<'_>) -> Result<Collected, CollectError> {
    let connector = ctx.connector;
    let state = read_state(ctx.checkpoint.as_ref());
    let today = Utc::now().date_naive();
    let mut report = serde_json::Map::new();
    report.insert("source".into(), CHECKPOINT_KEY.into());
    if plan(ctx.date, today, state.as_ref().map(|s| s.date)) == Plan::Keep {
        report.insert(
            "kept".into(),
            "pg_stat_statements has no history: only today (and yesterday, until today is mined) can be mined; the rows mined back then stay".into(),
        );
        return Ok(Collected {
            report,
            ..Default::default()
        });
    }
    let entries = read_view(connector).await?;
    let (stats_reset, entries) = entries;
    let current = Snapshot {
        taken_at: Utc::now(),
        stats_reset,
        calls: entries.iter().map(|e| (e.key.clone(), e.calls)).collect(),
    };
    let base = base_for(state.as_ref(), ctx.date).unwrap_or_else(|| {
        report.insert("baseline".into(), true.into());
        current.clone()
    });
    let collected = rows_between(connector, ctx.date, &base, &current, &entries, report);
    Ok(Collected {
        checkpoint: Some(serde_json::json!({
            CHECKPOINT_KEY: State {
                date: ctx.date,
                base,
                last: current,
            }
        })),
        ..collected
    })
}

/// The day's rows: one per entry with calls since `base`, dated at the
/// base snapshot's time (or the day's start), so re-runs give the same ids.
pub fn rows_between(
    connector: &ConnectorConfig,
    date: NaiveDate,
    base: &Snapshot,
    current: &Snapshot,
    entries: &[Entry],
    mut report: serde_json::Map<String, serde_json::Value>,
) -> Collected {
    let executed_at = usage_time(date, base);
    let reset = current.stats_reset.is_some() && current.stats_reset != base.stats_reset;
    let mut rows = Vec::new();
    let (mut excluded, mut control, mut own) = (0u64, 0u64, 0u64);
    for entry in entries {
        let calls = calls_since(base, current, &entry.key);
        if calls == 0 {
            continue;
        }
        if entry
            .user
            .as_deref()
            .is_some_and(|u| is_excluded_user(connector, u))
        {
            excluded += 1;
            continue;
        }
        if is_session_control(&entry.query) {
            control += 1;
            continue;
        }
        // Reading the view is monitoring (ours or another tool's), not usage.
        if entry.query.contains("pg_stat_statements") {
            own += 1;
            continue;
        }
        rows.push(BiRow {
            sql: Some(entry.query.clone()),
            database: entry.database.clone(),
            executed_by: entry.user.clone(),
            executed_at: Some(executed_at),
            execution_count: calls,
            ..BiRow::new(ResourceType::QueryLog, entry.key.clone())
        });
    }
    report.insert("entries".into(), (entries.len() as u64).into());
    report.insert("rows".into(), (rows.len() as u64).into());
    report.insert(
        "calls".into(),
        rows.iter().map(|r| r.execution_count).sum::<i64>().into(),
    );
    report.insert("stats_reset_detected".into(), reset.into());
    report.insert("excluded_user_entries".into(), excluded.into());
    report.insert("session_control_entries".into(), control.into());
    report.insert("monitoring_entries".into(), own.into());
    Collected {
        rows,
        slices: vec![Slice {
            date,
            scope: RowScope::Executions,
        }],
        report,
        checkpoint: None,
    }
}

fn pg_error(connector: &ConnectorConfig, what: &str, e: &tokio_postgres::Error) -> CollectError {
    // The server's message (no query text, no credentials), else the
    // client's (connection refused, timeout).
    let detail = match e.as_db_error() {
        Some(db) => db.message().to_string(),
        None => e.to_string(),
    };
    let hint = if detail.contains("pg_stat_statements") {
        "; pg_stat_statements needs shared_preload_libraries = 'pg_stat_statements' and CREATE EXTENSION pg_stat_statements in the connector's database"
    } else if detail.contains("authentication") || detail.contains("password") {
        "; check the user and password in the connector's url"
    } else if e.as_db_error().is_none() {
        "; check the host and port in the connector's url and that the server accepts connections from here"
    } else {
        ""
    };
    CollectError::source(connector, format!("postgres {what}: {detail}{hint}"))
}

/// The view's entries and `stats_reset`, over a connection to `url`.
async fn read_view(
    connector: &ConnectorConfig,
) -> Result<(Option<DateTime<Utc>>, Vec<Entry>), CollectError> {
    let url = connector.url.as_deref().unwrap_or_default();
    let mut target = super::tls::PgTarget::parse(url).map_err(|e| {
        CollectError::source(
            connector,
            format!("url is not a PostgreSQL connection URL ({e}); write postgres://user:${{PGPASSWORD}}@host:5432/db[?sslmode=verify-full&sslrootcert=ca.pem]"),
        )
    })?;
    if target.config.get_connect_timeout().is_none() {
        target.config.connect_timeout(Duration::from_secs(30));
    }
    let client = target.connect().await.map_err(|e| match e {
        super::tls::PgConnectError::Tls(message) => CollectError::source(connector, message),
        super::tls::PgConnectError::Postgres(e) => pg_error(connector, "connection", &e),
    })?;
    let version: i64 = client
        .query_one("SELECT current_setting('server_version_num')::bigint", &[])
        .await
        .map_err(|e| pg_error(connector, "version query", &e))?
        .get(0);
    let stats_reset = if version >= 140_000 {
        client
            .query_one("SELECT stats_reset FROM pg_stat_statements_info", &[])
            .await
            .map_err(|e| pg_error(connector, "pg_stat_statements_info query", &e))?
            .get::<_, Option<DateTime<Utc>>>(0)
    } else {
        None
    };
    // Nested statements (track = 'all') would count a function's inside
    // beside its call: top level only where the view says.
    let toplevel = if version >= 140_000 {
        "AND s.toplevel"
    } else {
        ""
    };
    let rows = client
        .query(
            &format!(
                "SELECT s.queryid, s.userid::text, s.dbid::text, r.rolname::text, d.datname::text, s.calls, s.query \
                 FROM pg_stat_statements s \
                 LEFT JOIN pg_roles r ON r.oid = s.userid \
                 LEFT JOIN pg_database d ON d.oid = s.dbid \
                 WHERE s.queryid IS NOT NULL {toplevel}"
            ),
            &[],
        )
        .await
        .map_err(|e| pg_error(connector, "pg_stat_statements query", &e))?;
    let entries = rows
        .iter()
        .map(|row| Entry {
            key: format!(
                "{}:{}:{}",
                row.get::<_, i64>(0),
                row.get::<_, String>(1),
                row.get::<_, String>(2)
            ),
            user: row.get(3),
            database: row.get(4),
            calls: row.get(5),
            query: row.get::<_, Option<String>>(6).unwrap_or_default(),
        })
        .collect();
    Ok((stats_reset, entries))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn snapshot(reset: Option<&str>, calls: &[(&str, i64)]) -> Snapshot {
        Snapshot {
            taken_at: "2026-12-06T10:00:00Z".parse().unwrap(),
            stats_reset: reset.map(|r| r.parse().unwrap()),
            calls: calls.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn deltas_never_go_negative() {
        let base = snapshot(
            Some("2026-12-01T00:00:00Z"),
            &[("a", 10), ("b", 5), ("gone", 3)],
        );
        let next = snapshot(
            Some("2026-12-01T00:00:00Z"),
            &[("a", 14), ("b", 2), ("new", 7)],
        );
        assert_eq!(calls_since(&base, &next, "a"), 4);
        // Counter went down: the entry was evicted and came back.
        assert_eq!(calls_since(&base, &next, "b"), 2);
        assert_eq!(calls_since(&base, &next, "new"), 7);
        assert_eq!(calls_since(&base, &next, "gone"), 0);
        // The whole view was reset: every count is new.
        let reset = snapshot(Some("2026-12-06T09:00:00Z"), &[("a", 12)]);
        assert_eq!(calls_since(&base, &reset, "a"), 12);
    }

    #[test]
    fn only_recent_days_not_older_than_the_last_are_live() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let today = d("2026-12-06");
        assert_eq!(plan(today, today, None), Plan::Live);
        assert_eq!(plan(today, today, Some(today)), Plan::Live);
        assert_eq!(
            plan(d("2026-12-05"), today, Some(d("2026-12-05"))),
            Plan::Live
        );
        assert_eq!(plan(d("2026-12-05"), today, Some(today)), Plan::Keep);
        assert_eq!(plan(d("2026-12-04"), today, None), Plan::Keep);
    }
}
