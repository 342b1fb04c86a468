//! `[[connectors]]`: the outside systems usagelake collects from.
//!
//! One flat struct for every type keeps the TOML simple; which keys a type
//! needs and which it accepts lives in one table here, so `validate` can
//! name the missing key and reject a key that the type would ignore.

use serde::Deserialize;

use super::Secret;

/// The outside systems a connector can talk to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectorKind {
    Superset,
    Metabase,
    Looker,
    Tableau,
    PowerBi,
    Snowflake,
    Bigquery,
    Postgres,
    EventStore,
}

impl ConnectorKind {
    pub const ALL: [ConnectorKind; 9] = [
        Self::Superset,
        Self::Metabase,
        Self::Looker,
        Self::Tableau,
        Self::PowerBi,
        Self::Snowflake,
        Self::Bigquery,
        Self::Postgres,
        Self::EventStore,
    ];

    pub fn is_bi(self) -> bool {
        matches!(
            self,
            Self::Superset | Self::Metabase | Self::Looker | Self::Tableau | Self::PowerBi
        )
    }

    pub fn is_warehouse(self) -> bool {
        matches!(self, Self::Snowflake | Self::Bigquery | Self::Postgres)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Superset => "superset",
            Self::Metabase => "metabase",
            Self::Looker => "looker",
            Self::Tableau => "tableau",
            Self::PowerBi => "power_bi",
            Self::Snowflake => "snowflake",
            Self::Bigquery => "bigquery",
            Self::Postgres => "postgres",
            Self::EventStore => "event_store",
        }
    }

    /// Keys this type must have; a group with several names means "one of".
    fn required(self) -> &'static [&'static [&'static str]] {
        match self {
            Self::Superset => &[&["url"], &["username"], &["password"]],
            Self::Metabase => &[&["url"], &["api_key", "username"]],
            Self::Looker => &[&["url"], &["client_id"], &["client_secret"]],
            Self::Tableau => &[&["url"], &["token_name"], &["token"]],
            Self::PowerBi => &[&["tenant_id"], &["client_id"], &["client_secret"]],
            Self::Snowflake => &[
                &["account"],
                &["username"],
                &["private_key_path", "private_key"],
            ],
            Self::Bigquery => &[&["project"], &["credentials_file"]],
            Self::Postgres => &[&["url", "log_dir"]],
            Self::EventStore => &[&["url"]],
        }
    }

    /// Keys this type reads, beside the common ones (`id`, `name`, `type`).
    fn accepted(self) -> &'static [&'static str] {
        match self {
            Self::Superset => &[
                "url",
                "username",
                "password",
                "warehouse_user",
                "default_database",
                "default_schema",
            ],
            Self::Metabase => &[
                "url",
                "username",
                "password",
                "api_key",
                "warehouse_user",
                "default_database",
                "default_schema",
            ],
            Self::Looker => &[
                "url",
                "client_id",
                "client_secret",
                "warehouse_user",
                "default_database",
                "default_schema",
            ],
            Self::Tableau => &[
                "url",
                "site",
                "token_name",
                "token",
                "warehouse_user",
                "default_database",
                "default_schema",
            ],
            Self::PowerBi => &[
                "url",
                "authority_url",
                "tenant_id",
                "client_id",
                "client_secret",
                "warehouse_user",
                "default_database",
                "default_schema",
            ],
            Self::Snowflake => &[
                "url",
                "account",
                "username",
                "private_key_path",
                "private_key",
                "role",
                "warehouse",
                "exclude_users",
                "default_database",
                "default_schema",
            ],
            Self::Bigquery => &[
                "url",
                "project",
                "location",
                "credentials_file",
                "exclude_users",
                "default_database",
                "default_schema",
            ],
            Self::Postgres => &[
                "url",
                "log_dir",
                "log_line_prefix",
                "source",
                "exclude_users",
                "default_database",
                "default_schema",
            ],
            Self::EventStore => &["url", "password", "sensitive_parameters"],
        }
    }

    /// HTTP APIs also take the shared client's tuning keys.
    fn accepts(self, key: &str) -> bool {
        const HTTP: &[&str] = &["page_size", "concurrency", "timeout_seconds", "max_retries"];
        let http = !matches!(self, Self::Postgres | Self::EventStore) && HTTP.contains(&key);
        http || self.accepted().contains(&key)
    }
}

/// What a job step or command asks of a connector; each fits some kinds.
/// The one table both `validate` (job steps) and the runner (commands,
/// API routes) check a connector's kind against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConnectorUse {
    BiSync,
    MineLogs,
    CollectEvents,
}

impl ConnectorUse {
    pub fn fits(self, kind: ConnectorKind) -> bool {
        match self {
            Self::BiSync => kind.is_bi(),
            Self::MineLogs => kind.is_warehouse(),
            Self::CollectEvents => kind == ConnectorKind::EventStore,
        }
    }

    /// The kinds it takes, for messages.
    pub fn wanted(self) -> &'static str {
        match self {
            Self::BiSync => "BI tools (superset, metabase, looker, tableau, power_bi)",
            Self::MineLogs => "warehouses (postgres, snowflake, bigquery)",
            Self::CollectEvents => "event_store connectors",
        }
    }
}

/// Where a PostgreSQL connector reads its query history from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PostgresLogSource {
    /// Server log files under `log_dir` (csvlog, jsonlog or stderr).
    Logs,
    /// Snapshots of the `pg_stat_statements` view, differenced per day.
    PgStatStatements,
}

/// A connector to a BI tool, warehouse or event store. Which keys a type
/// needs is checked by `validate` (see [`ConnectorConfig::problems`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectorConfig {
    /// A UUID, as in the seed's data model (`connector_id UUID`).
    pub id: String,
    /// Short unique name that commands and routes accept beside the id.
    pub name: String,
    #[serde(rename = "type")]
    pub kind: ConnectorKind,
    pub url: Option<String>,
    pub username: Option<String>,
    pub password: Option<Secret>,
    /// Bearer / personal access token (Tableau: the token's secret).
    pub token: Option<Secret>,
    /// Tableau: the personal access token's name.
    pub token_name: Option<String>,
    pub api_key: Option<Secret>,
    pub client_id: Option<String>,
    pub client_secret: Option<Secret>,
    /// Power BI: the Azure AD tenant.
    pub tenant_id: Option<String>,
    /// Power BI: the token authority (default the public cloud's
    /// `https://login.microsoftonline.com`).
    pub authority_url: Option<String>,
    /// Tableau: the site's content URL ("" is the default site).
    pub site: Option<String>,
    /// Snowflake account identifier (`orgname-account` or locator).
    pub account: Option<String>,
    pub private_key_path: Option<String>,
    /// Snowflake: the PEM itself, usually `${SNOWFLAKE_KEY}`.
    pub private_key: Option<Secret>,
    pub role: Option<String>,
    pub warehouse: Option<String>,
    pub project: Option<String>,
    /// BigQuery: the jobs' region, e.g. `us` or `europe-west1`.
    pub location: Option<String>,
    /// BigQuery: service-account JSON key file.
    pub credentials_file: Option<String>,
    /// PostgreSQL: folder of server log files.
    pub log_dir: Option<String>,
    /// PostgreSQL: the server's `log_line_prefix` (stderr logs).
    pub log_line_prefix: Option<String>,
    pub source: Option<PostgresLogSource>,
    /// Completes names in SQL that omit the database / schema.
    pub default_database: Option<String>,
    pub default_schema: Option<String>,
    /// BI tools: the warehouse account the tool runs queries as, so its
    /// executions in a warehouse log are not counted twice.
    pub warehouse_user: Option<String>,
    /// Warehouses: users whose statements are not usage (beside the
    /// built-in system users).
    #[serde(default)]
    pub exclude_users: Vec<String>,
    /// Event store: parameter names whose values never reach the lake.
    #[serde(default)]
    pub sensitive_parameters: Vec<String>,
    pub page_size: Option<u32>,
    pub concurrency: Option<u32>,
    pub timeout_seconds: Option<u64>,
    pub max_retries: Option<u32>,
}

impl ConnectorConfig {
    /// The connector's UUID (`validate` guarantees it parses).
    pub fn uuid(&self) -> uuid::Uuid {
        uuid::Uuid::parse_str(&self.id).unwrap_or(uuid::Uuid::nil())
    }

    /// The id as the lake stores it (lower-case hyphenated UUID).
    pub fn id_string(&self) -> String {
        self.uuid().hyphenated().to_string()
    }

    /// True when `name_or_id` names this connector.
    pub fn is(&self, name_or_id: &str) -> bool {
        self.name == name_or_id || uuid::Uuid::parse_str(name_or_id).is_ok_and(|u| u == self.uuid())
    }

    /// The optional keys that are set (to check them against the type).
    fn set_keys(&self) -> Vec<&'static str> {
        let mut keys = Vec::new();
        let mut add = |key: &'static str, set: bool| {
            if set {
                keys.push(key);
            }
        };
        add("url", self.url.is_some());
        add("username", self.username.is_some());
        add("password", self.password.is_some());
        add("token", self.token.is_some());
        add("token_name", self.token_name.is_some());
        add("api_key", self.api_key.is_some());
        add("client_id", self.client_id.is_some());
        add("client_secret", self.client_secret.is_some());
        add("tenant_id", self.tenant_id.is_some());
        add("authority_url", self.authority_url.is_some());
        add("site", self.site.is_some());
        add("account", self.account.is_some());
        add("private_key_path", self.private_key_path.is_some());
        add("private_key", self.private_key.is_some());
        add("role", self.role.is_some());
        add("warehouse", self.warehouse.is_some());
        add("project", self.project.is_some());
        add("location", self.location.is_some());
        add("credentials_file", self.credentials_file.is_some());
        add("log_dir", self.log_dir.is_some());
        add("log_line_prefix", self.log_line_prefix.is_some());
        add("source", self.source.is_some());
        add("default_database", self.default_database.is_some());
        add("default_schema", self.default_schema.is_some());
        add("warehouse_user", self.warehouse_user.is_some());
        add("exclude_users", !self.exclude_users.is_empty());
        add(
            "sensitive_parameters",
            !self.sensitive_parameters.is_empty(),
        );
        add("page_size", self.page_size.is_some());
        add("concurrency", self.concurrency.is_some());
        add("timeout_seconds", self.timeout_seconds.is_some());
        add("max_retries", self.max_retries.is_some());
        keys
    }

    /// Problems of this connector alone, as (key, message) with the key
    /// relative to the connector's table. No I/O.
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let kind = self.kind.as_str();
        if self.name.is_empty()
            || self.name.len() > 64
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            problems.push((
                "name".to_string(),
                format!(
                    "connector name {:?} must be 1-64 letters, digits, - or _",
                    self.name
                ),
            ));
        }
        if uuid::Uuid::parse_str(&self.id).is_err() {
            problems.push((
                "id".to_string(),
                format!(
                    "connector id {:?} is not a UUID; write one such as \"{}\"",
                    self.id,
                    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, self.name.as_bytes())
                ),
            ));
        }
        let set = self.set_keys();
        for group in self.kind.required() {
            if !group.iter().any(|k| set.contains(k)) {
                let message = if group.len() == 1 {
                    format!("a {kind} connector needs {0}; add {0} = \"…\"", group[0])
                } else {
                    format!(
                        "a {kind} connector needs one of {}; add one",
                        group.join(", ")
                    )
                };
                problems.push((group[0].to_string(), message));
            }
        }
        for key in set {
            if !self.kind.accepts(key) {
                problems.push((
                    key.to_string(),
                    format!("a {kind} connector does not use {key}; remove it"),
                ));
            }
        }
        let urls = [("url", &self.url), ("authority_url", &self.authority_url)];
        for (key, url) in urls {
            let Some(url) = url else { continue };
            let schemes: &[&str] = match self.kind {
                ConnectorKind::Postgres | ConnectorKind::EventStore => &["postgres", "postgresql"],
                _ => &["http", "https"],
            };
            let ok = url
                .split_once("://")
                .is_some_and(|(scheme, rest)| schemes.contains(&scheme) && !rest.is_empty());
            if !ok {
                problems.push((
                    key.to_string(),
                    format!(
                        "{key} must start with {}:// and name a host",
                        schemes.join(":// or ")
                    ),
                ));
            }
        }
        if self.kind == ConnectorKind::Postgres
            && self.source == Some(PostgresLogSource::Logs)
            && self.log_dir.is_none()
        {
            problems.push((
                "log_dir".to_string(),
                "source = \"logs\" reads server log files: add log_dir = \"/path/to/pg_log\""
                    .to_string(),
            ));
        }
        if self.kind == ConnectorKind::Postgres
            && self.source == Some(PostgresLogSource::PgStatStatements)
            && self.url.is_none()
        {
            problems.push((
                "url".to_string(),
                "source = \"pg_stat_statements\" reads the view over a connection: add url = \"postgres://user:${PGPASSWORD}@host:5432/db\"".to_string(),
            ));
        }
        for (key, value) in [
            ("page_size", self.page_size),
            ("concurrency", self.concurrency),
        ] {
            if value == Some(0) {
                problems.push((key.to_string(), format!("{key} must be at least 1")));
            }
        }
        problems
    }

    /// Where a PostgreSQL connector reads from: `source`, else the logs
    /// when `log_dir` is set, else pg_stat_statements.
    pub fn postgres_source(&self) -> PostgresLogSource {
        self.source.unwrap_or(if self.log_dir.is_some() {
            PostgresLogSource::Logs
        } else {
            PostgresLogSource::PgStatStatements
        })
    }
}
