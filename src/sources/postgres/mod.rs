//! PostgreSQL query history: server log files ([`server_log`]) or
//! differenced `pg_stat_statements` snapshots ([`stat_statements`]).

pub mod log_time;
pub mod prefix;
pub mod server_log;
pub mod stat_statements;
pub mod tls;

use std::sync::Arc;

use futures::FutureExt;
use futures::future::BoxFuture;

use crate::config::{ConnectorConfig, PostgresLogSource};
use crate::sources::collect::{CollectContext, CollectError, Collected, Collector};

/// Roles whose statements are the server's own upkeep, not usage.
const SYSTEM_USERS: &[&str] = &["postgres"];

/// Statements that only steer the session or transaction: they read no
/// table, so they are not usage.
const SESSION_CONTROL: &[&str] = &[
    "BEGIN",
    "START",
    "COMMIT",
    "END",
    "ROLLBACK",
    "ABORT",
    "SAVEPOINT",
    "RELEASE",
    "SET",
    "RESET",
    "SHOW",
    "DISCARD",
    "DEALLOCATE",
];

pub struct PostgresCollector {
    connector: ConnectorConfig,
}

pub fn build(connector: &ConnectorConfig) -> Box<dyn Collector> {
    Box::new(PostgresCollector {
        connector: connector.clone(),
    })
}

impl Collector for PostgresCollector {
    fn collect<'a>(
        &'a self,
        ctx: &'a CollectContext<'a>,
    ) -> BoxFuture<'a, Result<Collected, CollectError>> {
        async move {
            match self.connector.postgres_source() {
                PostgresLogSource::Logs => {
                    let connector = self.connector.clone();
                    let date = ctx.date;
                    let sink = Arc::clone(&ctx.rows);
                    // Reading files is blocking work: off the async workers.
                    tokio::task::spawn_blocking(move || server_log::mine(&connector, date, &sink))
                        .await
                        .map_err(|e| {
                            CollectError::source(
                                &self.connector,
                                format!("log mining stopped: {e}"),
                            )
                        })?
                }
                PostgresLogSource::PgStatStatements => stat_statements::collect(ctx).await,
            }
        }
        .boxed()
    }
}

/// True for `postgres` and the connector's `exclude_users`.
pub fn is_excluded_user(connector: &ConnectorConfig, user: &str) -> bool {
    SYSTEM_USERS.contains(&user) || connector.exclude_users.iter().any(|u| u == user)
}

/// True when `sql` is one transaction or session statement (`BEGIN`,
/// `COMMIT`, `SET …`); a text that also holds a query is usage.
pub fn is_session_control(sql: &str) -> bool {
    let text = sql.trim().trim_end_matches(';').trim_end();
    if text.contains(';') {
        return false;
    }
    let first = text
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or_default();
    SESSION_CONTROL
        .iter()
        .any(|keyword| keyword.eq_ignore_ascii_case(first))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_control_is_one_statement_of_a_known_keyword() {
        for text in [
            "BEGIN",
            "begin;",
            " COMMIT ;",
            "start transaction isolation level serializable",
            "ROLLBACK",
            "SET search_path = shop",
            "end",
        ] {
            assert!(is_session_control(text), "{text}");
        }
        for text in [
            "SELECT 1",
            "BEGIN; SELECT * FROM t; COMMIT;",
            "settle_payments()",
            "UPDATE t SET a = 1",
            "beginning",
        ] {
            assert!(!is_session_control(text), "{text}");
        }
    }
}
