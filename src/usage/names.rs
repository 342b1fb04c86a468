//! Table names as a connector's warehouse means them, and which products
//! of a space they belong to.
//!
//! `referenced_tables` holds names as the SQL wrote them, folded the way
//! the statement's dialect folds unquoted identifiers (Snowflake upper,
//! PostgreSQL lower), quotes dropped. A shorter name is completed with the
//! session's database and schema; a product entry is folded like an
//! unquoted name of the same dialect and then compared part by part from
//! the right, so `finance.revenue` stands for that table in any database.

use crate::config::{AppConfig, ConnectorConfig, ConnectorKind, TablePattern, glob_match};
use crate::sources::bi_queries::connector_dialect;
use crate::sql::SqlDialect;

/// How a dialect compares unquoted names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Folding {
    /// Unquoted names are stored upper-case (Snowflake).
    Upper,
    /// Unquoted names are stored lower-case (PostgreSQL, Redshift, Databricks).
    Lower,
    /// Names compare without regard to case (SQL Server, MySQL, and BI
    /// tools whose warehouse the SQL does not say).
    Insensitive,
    /// Names are case-sensitive and never folded (BigQuery datasets and tables).
    Exact,
}

impl Folding {
    pub fn of(dialect: SqlDialect) -> Self {
        match dialect {
            SqlDialect::Snowflake => Self::Upper,
            SqlDialect::Postgres | SqlDialect::Redshift | SqlDialect::Databricks => Self::Lower,
            SqlDialect::Bigquery => Self::Exact,
            SqlDialect::Generic | SqlDialect::Mysql | SqlDialect::Mssql => Self::Insensitive,
        }
    }

    /// An unquoted name as this dialect stores it.
    fn unquoted(self, name: &str) -> String {
        match self {
            Self::Upper => name.to_uppercase(),
            Self::Lower | Self::Insensitive => name.to_lowercase(),
            Self::Exact => name.to_string(),
        }
    }

    /// A stored (already folded or quoted) name as compared.
    fn stored(self, name: &str) -> String {
        match self {
            Self::Insensitive => name.to_lowercase(),
            _ => name.to_string(),
        }
    }
}

/// How one connector's names complete and compare.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorNames {
    pub folding: Folding,
    /// Whether the row's own `database` (the session's database in a
    /// warehouse log) completes names; a BI tool's `database` names its
    /// connection, not the warehouse's database.
    pub row_database: bool,
    /// The database a name without one is in, when the row does not say.
    pub database: Option<String>,
    /// The schema a name without one is in.
    pub schema: Option<String>,
}

impl ConnectorNames {
    /// Rows of a connector the configuration does not know: compared
    /// without case, never completed.
    pub fn unknown() -> Self {
        Self {
            folding: Folding::Insensitive,
            row_database: false,
            database: None,
            schema: None,
        }
    }

    pub fn for_connector(connector: &ConnectorConfig) -> Self {
        let folding = Folding::of(connector_dialect(connector));
        let fold = |v: &String| folding.unquoted(v);
        let database = connector.default_database.as_ref().map(fold).or_else(|| {
            match connector.kind {
                ConnectorKind::Postgres => connector.url.as_deref().and_then(postgres_url_database),
                // A BigQuery name without a project is in the job's project.
                ConnectorKind::Bigquery => connector.project.clone(),
                _ => None,
            }
        });
        let schema = connector.default_schema.as_ref().map(fold).or_else(|| {
            // PostgreSQL's search_path starts with `public` unless changed
            // (then default_schema says so). No other system has a default
            // schema every session shares, so none is assumed.
            (connector.kind == ConnectorKind::Postgres).then(|| "public".to_string())
        });
        Self {
            folding,
            row_database: connector.kind.is_warehouse(),
            database,
            schema,
        }
    }

    /// The full name of `raw` (a `referenced_tables` entry) for a row whose
    /// `database` column is `row_database`: completed where the session's
    /// defaults are known, in the case the dialect stores it.
    pub fn resolve(&self, raw: &str, row_database: Option<&str>) -> String {
        let mut parts: Vec<String> = raw.split('.').map(|p| self.folding.stored(p)).collect();
        let database = row_database
            .filter(|d| self.row_database && !d.is_empty())
            .map(|d| self.folding.stored(d))
            .or_else(|| self.database.clone());
        if parts.len() == 1
            && let Some(schema) = &self.schema
        {
            parts.insert(0, schema.clone());
        }
        if parts.len() == 2
            && let Some(database) = database
        {
            parts.insert(0, database);
        }
        parts.join(".")
    }

    /// Whether the full name `name` (from [`ConnectorNames::resolve`]) is a
    /// table `pattern` stands for: its parts compared from the right, each
    /// unquoted pattern part folded like an unquoted name of this dialect.
    pub fn matches(&self, pattern: &TablePattern, name: &str) -> bool {
        let parts: Vec<&str> = name.split('.').collect();
        if parts.len() < pattern.parts.len() {
            return false;
        }
        let offset = parts.len() - pattern.parts.len();
        pattern.parts.iter().enumerate().all(|(i, p)| {
            let part = self.folding.stored(parts[offset + i]);
            if p.quoted {
                self.folding.stored(&p.text) == part
            } else if p.is_glob() {
                glob_match(&self.folding.unquoted(&p.text), &part)
            } else {
                self.folding.unquoted(&p.text) == part
            }
        })
    }
}

/// The database of a `postgres://…/db` URL.
fn postgres_url_database(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let db = parsed.path().trim_start_matches('/');
    (!db.is_empty()).then(|| percent_decode(db))
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("d={}", text.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| text.to_string())
}

/// Every configured connector's naming rules, by connector id, and the
/// products of one space with their patterns.
#[derive(Debug, Clone)]
pub struct Resolver {
    connectors: std::collections::HashMap<String, ConnectorNames>,
    unknown: ConnectorNames,
    products: Vec<(String, Vec<TablePattern>)>,
}

impl Resolver {
    pub fn new(config: &AppConfig, space: &crate::config::SpaceConfig) -> Self {
        Self {
            connectors: config
                .connectors
                .iter()
                .map(|c| (c.id_string(), ConnectorNames::for_connector(c)))
                .collect(),
            unknown: ConnectorNames::unknown(),
            products: space
                .products
                .iter()
                .map(|p| (p.id_string(), p.patterns()))
                .collect(),
        }
    }

    fn names(&self, connector_id: &str) -> &ConnectorNames {
        self.connectors.get(connector_id).unwrap_or(&self.unknown)
    }

    /// The full name of a reference by a row of `connector_id`.
    pub fn table(&self, connector_id: &str, database: Option<&str>, raw: &str) -> String {
        self.names(connector_id).resolve(raw, database)
    }

    /// The ids of the products `name` (a full name from [`Resolver::table`])
    /// belongs to, in configuration order.
    pub fn products(&self, connector_id: &str, name: &str) -> Vec<&str> {
        let names = self.names(connector_id);
        self.products
            .iter()
            .filter(|(_, patterns)| patterns.iter().any(|p| names.matches(p, name)))
            .map(|(id, _)| id.as_str())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pattern(text: &str) -> TablePattern {
        TablePattern::parse(text).unwrap()
    }

    #[test]
    fn postgres_url_database_is_the_path() {
        assert_eq!(
            postgres_url_database("postgres://u:p@db.example:5432/analytics?sslmode=require"),
            Some("analytics".to_string())
        );
        assert_eq!(postgres_url_database("postgres://u@host"), None);
        assert_eq!(
            postgres_url_database("postgresql://h/my%20db"),
            Some("my db".to_string())
        );
    }

    #[test]
    fn suffix_matching_with_globs_and_quotes() {
        let names = ConnectorNames {
            folding: Folding::Upper,
            row_database: true,
            database: None,
            schema: None,
        };
        let name = "ANALYTICS.FINANCE.REVENUE";
        assert!(names.matches(&pattern("analytics.finance.revenue"), name));
        assert!(names.matches(&pattern("finance.revenue"), name));
        assert!(names.matches(&pattern("revenue"), name));
        assert!(names.matches(&pattern("finance.*"), name));
        assert!(names.matches(&pattern("analytics.*.rev*"), name));
        assert!(!names.matches(&pattern("marketing.*"), name));
        // Quoted: exactly as written, and Snowflake stored REVENUE upper.
        assert!(!names.matches(&pattern("finance.\"revenue\""), name));
        assert!(names.matches(&pattern("finance.\"revenue\""), "ANALYTICS.FINANCE.revenue"));
        // A pattern longer than the name cannot be decided: no match.
        assert!(!names.matches(&pattern("analytics.finance.revenue"), "FINANCE.REVENUE"));
    }
}
