//! Talking to the event store: connect (TLS when the URL asks for it) and
//! the queries that resolve users, packages, durations and errors on the
//! server, where the joins are indexed and a day's events are one round trip.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{NaiveDate, NaiveDateTime};
use tokio_postgres::config::Host;
use tokio_postgres::{Client, Config};

use crate::sources::postgres::tls::{PgConnectError, PgTarget};

use super::EventStoreError;
use super::rows::{ErrorRow, EventRow, UserRow};

/// An open connection to one event store.
pub(super) struct Store {
    client: Client,
    connector: String,
    /// `user@host:port/database`, for errors (never the password).
    target: String,
    password: Option<String>,
}

/// The event types whose `ms` parameter is the duration (the platform logs
/// each HTTP request with `method`, `route`, `status` and `ms`).
const REQUEST_EVENT: &str = "http-request";

/// `[from, to)` of one read, as `timestamp` literals bound as text: the
/// columns may be `timestamp` or `timestamptz`, and the session runs in UTC,
/// so the same text compares right against both.
fn bound(t: NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.6f").to_string()
}

const DAYS_SQL: &str = "SELECT DISTINCT e.event_time::date::text AS day FROM events e \
     WHERE e.event_time >= $1::text::timestamp ORDER BY 1";

const ALL_DAYS_SQL: &str =
    "SELECT DISTINCT e.event_time::date::text AS day FROM events e ORDER BY 1";

/// One row per event of `[$1, $2)`. The package is the `package`
/// parameter's published package, else the package of an `entity_id`
/// parameter's entity, else the package owning the event type itself (a
/// package function, as the Usage Analysis queries join it), else `Core`.
/// The preceding event type is looked up only for errors.
const EVENTS_SQL: &str = r#"
SELECT e.id::text AS event_id,
       et.name::text AS event_type,
       et.source::text AS source,
       COALESCE(e.friendly_name, et.friendly_name)::text AS friendly_name,
       u.login::text AS user_login,
       e.session_id::text AS session_id,
       COALESCE(pkg_param.name, pkg_entity.name, pkg_type.name, 'Core')::text AS package,
       (EXTRACT(EPOCH FROM e.event_time) * 1000000)::int8 AS event_us,
       (EXTRACT(EPOCH FROM (e.event_time_finished - e.event_time)) * 1000)::float8 AS finished_ms,
       (COALESCE(et.source = 'error', false) OR COALESCE(e.is_error, false)) AS is_error,
       e.error_message::text AS error_message,
       et.error_stack_trace_hash::text AS signature,
       CASE WHEN COALESCE(et.source = 'error', false) OR COALESCE(e.is_error, false) THEN (
           SELECT pt.name::text
           FROM events p
           JOIN event_types pt ON pt.id = p.event_type_id
           WHERE p.session_id = e.session_id
             AND (p.event_time < e.event_time OR (p.event_time = e.event_time AND p.id < e.id))
           ORDER BY p.event_time DESC, p.id DESC
           LIMIT 1
       ) END AS preceding_event_type
FROM events e
JOIN event_types et ON et.id = e.event_type_id
LEFT JOIN users_sessions s ON s.id = e.session_id
LEFT JOIN users u ON u.id = s.user_id
LEFT JOIN LATERAL (
    SELECT pp.name
    FROM event_parameter_values v
    JOIN event_parameters p ON p.id = v.parameter_id
    JOIN published_packages pp ON pp.id = v.value_uuid
    WHERE v.event_id = e.id AND p.name = 'package'
    ORDER BY pp.name
    LIMIT 1
) pkg_param ON true
LEFT JOIN LATERAL (
    SELECT pp.name
    FROM event_parameter_values v
    JOIN event_parameters p ON p.id = v.parameter_id
    JOIN entities en ON en.id = v.value_uuid
    JOIN published_packages pp ON pp.id = en.package_id
    WHERE v.event_id = e.id AND p.type = 'entity_id'
    ORDER BY pp.name
    LIMIT 1
) pkg_entity ON true
LEFT JOIN entities ten ON ten.id = et.id
LEFT JOIN published_packages pkg_type ON pkg_type.id = ten.package_id
WHERE e.event_time >= $1::text::timestamp AND e.event_time < $2::text::timestamp
ORDER BY e.event_time, e.id
"#;

const PARAMETERS_SQL: &str = r#"
SELECT v.event_id::text AS event_id, p.name::text AS name, v.value::text AS value
FROM events e
JOIN event_parameter_values v ON v.event_id = e.id
JOIN event_parameters p ON p.id = v.parameter_id
WHERE e.event_time >= $1::text::timestamp AND e.event_time < $2::text::timestamp
ORDER BY v.event_id, p.name, v.value
"#;

/// Every user with the names of every group it belongs to: its own group
/// and, through `groups_relations` (parent contains child), every group
/// above it. `UNION` stops at cycles.
const USERS_SQL: &str = r#"
WITH RECURSIVE member(user_id, group_id) AS (
    SELECT u.id, u.group_id FROM users u WHERE u.group_id IS NOT NULL
    UNION
    SELECT m.user_id, r.parent_id
    FROM member m
    JOIN groups_relations r ON r.child_id = m.group_id
)
SELECT u.login::text AS login,
       u.friendly_name::text AS friendly_name,
       (EXTRACT(EPOCH FROM u.joined) * 1000000)::int8 AS joined_us,
       ARRAY(
           SELECT DISTINCT g.name::text
           FROM member m
           JOIN groups g ON g.id = m.group_id
           WHERE m.user_id = u.id AND g.name IS NOT NULL
           ORDER BY 1
       ) AS groups
FROM users u
WHERE u.login IS NOT NULL
ORDER BY u.login
"#;

impl Store {
    /// Connects to `url` (a `postgres://` URL; `password` overrides one in
    /// the URL; TLS as its `sslmode` / `sslrootcert` ask, see
    /// [`crate::sources::postgres::tls`]).
    pub(super) async fn connect(
        connector: &str,
        url: &str,
        password: Option<&str>,
    ) -> Result<Self, EventStoreError> {
        let mut target = PgTarget::parse(url).map_err(|_| EventStoreError::BadUrl {
            connector: connector.to_string(),
        })?;
        let config = &mut target.config;
        if let Some(password) = password {
            config.password(password);
        }
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(30));
        }
        if config.get_application_name().is_none() {
            config.application_name("usagelake");
        }
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .filter(|p| !p.is_empty());
        let target_name = describe(config);
        let client = target.connect().await.map_err(|e| match e {
            PgConnectError::Tls(message) => EventStoreError::Tls {
                connector: connector.to_string(),
                message,
            },
            PgConnectError::Postgres(e) => EventStoreError::Connect {
                connector: connector.to_string(),
                target: target_name.clone(),
                message: describe_error(&e, password.as_deref()),
            },
        })?;
        let store = Self {
            client,
            connector: connector.to_string(),
            target: target_name,
            password,
        };
        store
            .client
            .batch_execute("SET TIME ZONE 'UTC'")
            .await
            .map_err(|e| store.query_error("session setup", &e))?;
        Ok(store)
    }

    fn query_error(&self, query: &'static str, e: &tokio_postgres::Error) -> EventStoreError {
        EventStoreError::Query {
            connector: self.connector.clone(),
            target: self.target.clone(),
            query,
            message: describe_error(e, self.password.as_deref()),
        }
    }

    /// The UTC days holding events at or after `from` (every day when `None`).
    pub(super) async fn days(
        &self,
        from: Option<NaiveDateTime>,
    ) -> Result<Vec<NaiveDate>, EventStoreError> {
        let rows = match from {
            Some(from) => self.client.query(DAYS_SQL, &[&bound(from)]).await,
            None => self.client.query(ALL_DAYS_SQL, &[]).await,
        }
        .map_err(|e| self.query_error("event days", &e))?;
        rows.iter()
            .map(|row| {
                let text: String = row.get(0);
                NaiveDate::parse_from_str(&text, "%Y-%m-%d").map_err(|_| EventStoreError::Query {
                    connector: self.connector.clone(),
                    target: self.target.clone(),
                    query: "event days",
                    message: format!("the server returned an unreadable date {text:?}"),
                })
            })
            .collect()
    }

    /// The events of `[from, to)` with their parameters (values of
    /// `sensitive` parameters dropped), and the errors among them.
    pub(super) async fn events(
        &self,
        from: NaiveDateTime,
        to: NaiveDateTime,
        sensitive: &[String],
    ) -> Result<(Vec<EventRow>, Vec<ErrorRow>), EventStoreError> {
        let (from, to) = (bound(from), bound(to));
        let parameter_rows = self
            .client
            .query(PARAMETERS_SQL, &[&from, &to])
            .await
            .map_err(|e| self.query_error("event parameters", &e))?;
        let mut parameters: BTreeMap<String, serde_json::Map<String, serde_json::Value>> =
            BTreeMap::new();
        for row in &parameter_rows {
            let event_id: String = row.get("event_id");
            let name: Option<String> = row.get("name");
            let value: Option<String> = row.get("value");
            let Some(name) = name else { continue };
            let map = parameters.entry(event_id).or_default();
            if sensitive.iter().any(|s| s.eq_ignore_ascii_case(&name)) {
                continue;
            }
            map.insert(
                name,
                value.map_or(serde_json::Value::Null, serde_json::Value::String),
            );
        }
        let rows = self
            .client
            .query(EVENTS_SQL, &[&from, &to])
            .await
            .map_err(|e| self.query_error("events", &e))?;
        let mut events = Vec::with_capacity(rows.len());
        let mut errors = Vec::new();
        for row in &rows {
            let event_id: String = row.get("event_id");
            let event_type: Option<String> = row.get("event_type");
            let params = parameters.remove(&event_id);
            let duration_ms = if event_type.as_deref() == Some(REQUEST_EVENT) {
                params
                    .as_ref()
                    .and_then(|p| p.get("ms"))
                    .and_then(|v| v.as_str())
                    .and_then(|ms| ms.trim().parse::<f64>().ok())
            } else {
                row.get::<_, Option<f64>>("finished_ms")
            };
            let event = EventRow {
                event_id,
                event_type,
                source: row.get("source"),
                friendly_name: row.get("friendly_name"),
                user_login: row.get("user_login"),
                session_id: row.get("session_id"),
                package: row.get("package"),
                duration_ms,
                is_error: row.get("is_error"),
                parameters: params
                    .filter(|p| !p.is_empty())
                    .map(|p| serde_json::Value::Object(p).to_string()),
                event_time_us: row.get("event_us"),
            };
            if event.is_error {
                errors.push(ErrorRow {
                    event_id: event.event_id.clone(),
                    user_login: event.user_login.clone(),
                    session_id: event.session_id.clone(),
                    package: event.package.clone(),
                    error_message: row.get("error_message"),
                    signature: row.get("signature"),
                    event_time_us: event.event_time_us,
                    preceding_event_type: row.get("preceding_event_type"),
                });
            }
            events.push(event);
        }
        Ok((events, errors))
    }

    /// Every user, with its groups.
    pub(super) async fn users(&self) -> Result<Vec<UserRow>, EventStoreError> {
        let rows = self
            .client
            .query(USERS_SQL, &[])
            .await
            .map_err(|e| self.query_error("users", &e))?;
        Ok(rows
            .iter()
            .map(|row| UserRow {
                login: row.get("login"),
                friendly_name: row.get("friendly_name"),
                joined_us: row.get("joined_us"),
                groups: row.get("groups"),
            })
            .collect())
    }
}

/// `user@host:port/database` of a connection config: what errors show.
fn describe(config: &Config) -> String {
    let host = match config.get_hosts().first() {
        Some(Host::Tcp(name)) => name.clone(),
        #[cfg(unix)]
        Some(Host::Unix(path)) => path.display().to_string(),
        None => "localhost".to_string(),
    };
    let port = config.get_ports().first().copied().unwrap_or(5432);
    format!(
        "{}@{host}:{port}/{}",
        config.get_user().unwrap_or("?"),
        config.get_dbname().unwrap_or("?")
    )
}

/// tokio-postgres's message with its causes (its `Display` alone says only
/// "db error"), with the password scrubbed should a server ever echo it.
fn describe_error(e: &tokio_postgres::Error, password: Option<&str>) -> String {
    let mut message = e.to_string();
    if let Some(db) = e.as_db_error() {
        message = format!(
            "{}: {} (SQLSTATE {})",
            db.severity(),
            db.message(),
            db.code().code()
        );
    } else {
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            message.push_str(": ");
            message.push_str(&cause.to_string());
            source = cause.source();
        }
    }
    match password {
        Some(p) => message.replace(p, "***"),
        None => message,
    }
}
