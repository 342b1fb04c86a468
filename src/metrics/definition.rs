//! Metric definitions are SQL files with a small comment header:
//!
//! ```sql
//! -- name: dau
//! -- kind: metric
//! -- family: active_users
//! -- summary: Users with activity on the as-of date, per known domain.
//! -- columns: customer_domain STRING, dau BIGINT
//! SELECT ...
//! ```
//!
//! The header makes a file self-describing: the derive step knows what to
//! materialize, `metrics list` what to print, and the writer the table's
//! contract, without a Rust change for a user's own metric.

use std::path::Path;
use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

use super::DeriveError;

/// What the derive step does with a file's result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SqlKind {
    /// Registered as a view over the lake; evaluated where it is used.
    View,
    /// Computed once and kept for the files after it.
    Cached,
    /// Computed once, kept for the files after it and written to the lake
    /// by `date`.
    Intermediate,
    /// Written to the lake as one `as_of=` partition.
    Metric,
}

impl SqlKind {
    fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "view" => Self::View,
            "cached" => Self::Cached,
            "intermediate" => Self::Intermediate,
            "metric" => Self::Metric,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::View => "view",
            Self::Cached => "cached",
            Self::Intermediate => "intermediate",
            Self::Metric => "metric",
        }
    }
}

/// A column type as METRICS.md names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnType {
    String,
    Bigint,
    Double,
    Date,
    Timestamp,
    Boolean,
}

impl ColumnType {
    fn parse(text: &str) -> Option<Self> {
        Some(match text.to_ascii_uppercase().as_str() {
            "STRING" => Self::String,
            "BIGINT" => Self::Bigint,
            "DOUBLE" => Self::Double,
            "DATE" => Self::Date,
            "TIMESTAMP" => Self::Timestamp,
            "BOOLEAN" => Self::Boolean,
            _ => return None,
        })
    }

    pub fn data_type(self) -> DataType {
        match self {
            Self::String => DataType::Utf8,
            Self::Bigint => DataType::Int64,
            Self::Double => DataType::Float64,
            Self::Date => DataType::Date32,
            Self::Timestamp => DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into())),
            Self::Boolean => DataType::Boolean,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::String => "STRING",
            Self::Bigint => "BIGINT",
            Self::Double => "DOUBLE",
            Self::Date => "DATE",
            Self::Timestamp => "TIMESTAMP",
            Self::Boolean => "BOOLEAN",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Column {
    pub name: String,
    pub ty: ColumnType,
}

/// One SQL file of the derive step.
#[derive(Debug, Clone)]
pub struct SqlDefinition {
    pub name: String,
    pub kind: SqlKind,
    pub family: Option<String>,
    pub summary: String,
    /// `-- scope: daily`: every row depends on one local day's events only,
    /// so the table is computed in chunks of days (bounded memory however
    /// long the history) and the chunks' results are simply concatenated.
    pub daily: bool,
    /// Declared output columns (empty for views and cached tables, whose
    /// shape is internal).
    pub columns: Vec<Column>,
    pub sql: String,
    /// Where the file came from, for error messages.
    pub origin: String,
}

impl SqlDefinition {
    /// Parses a file's header; `origin` names the file in errors.
    pub fn parse(origin: &str, text: &str) -> Result<Self, DeriveError> {
        let problem = |line: usize, message: String| DeriveError::Definition {
            origin: origin.to_string(),
            line,
            message,
        };
        let (mut name, mut kind, mut family, mut summary, mut columns) =
            (None, None, None, None, None);
        let mut daily = false;
        for (index, line) in text.lines().enumerate() {
            let line_no = index + 1;
            let Some(comment) = line.trim_start().strip_prefix("--") else {
                if line.trim().is_empty() {
                    continue;
                }
                break;
            };
            let Some((key, value)) = comment.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match key.trim() {
                "name" => {
                    if !is_table_name(value) {
                        return Err(problem(
                            line_no,
                            format!(
                                "name {value:?} is not a table name; use lower-case letters, digits and _"
                            ),
                        ));
                    }
                    name = Some(value.to_string());
                }
                "kind" => {
                    kind = Some(SqlKind::parse(value).ok_or_else(|| {
                        problem(
                            line_no,
                            format!(
                                "kind {value:?} is unknown; write one of view, cached, intermediate, metric"
                            ),
                        )
                    })?);
                }
                "family" => family = Some(value.to_string()),
                "scope" => {
                    daily = match value {
                        "daily" => true,
                        "all" => false,
                        _ => {
                            return Err(problem(
                                line_no,
                                format!("scope {value:?} is unknown; write daily or all"),
                            ));
                        }
                    }
                }
                "summary" => summary = Some(value.to_string()),
                "columns" => columns = Some(parse_columns(value).map_err(|m| problem(line_no, m))?),
                _ => {}
            }
        }
        let name = name.ok_or_else(|| {
            problem(
                1,
                "the header has no `-- name: <table>` line; add one".into(),
            )
        })?;
        let kind = kind.unwrap_or(SqlKind::Metric);
        let columns = columns.unwrap_or_default();
        if matches!(kind, SqlKind::Metric | SqlKind::Intermediate) && columns.is_empty() {
            return Err(problem(
                1,
                format!(
                    "{} {name} declares no columns; add `-- columns: name TYPE, ...` (types: STRING, BIGINT, DOUBLE, DATE, TIMESTAMP, BOOLEAN)",
                    kind.as_str()
                ),
            ));
        }
        if daily && !matches!(kind, SqlKind::Cached | SqlKind::Intermediate) {
            return Err(problem(
                1,
                format!(
                    "{} {name} cannot have scope daily; only cached and intermediate tables are computed per chunk of days",
                    kind.as_str()
                ),
            ));
        }
        Ok(Self {
            name,
            kind,
            family,
            daily,
            summary: summary.unwrap_or_default(),
            columns,
            sql: text.to_string(),
            origin: origin.to_string(),
        })
    }

    /// Whether this is the shipped file of its name, unchanged: state a run
    /// keeps for the next (see `identity`, `user_month`) relies on its SQL.
    pub fn is_shipped(&self) -> bool {
        let file = format!("{}.sql", self.name);
        EMBEDDED
            .iter()
            .any(|(name, text)| *name == file && *text == self.sql)
    }

    /// The declared columns as the Parquet file schema.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| Field::new(&c.name, c.ty.data_type(), true))
                .collect::<Vec<_>>(),
        ))
    }
}

fn is_table_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
}

fn parse_columns(text: &str) -> Result<Vec<Column>, String> {
    let mut columns: Vec<Column> = Vec::new();
    for part in text.split(',') {
        let mut words = part.split_whitespace();
        let (Some(name), Some(ty), None) = (words.next(), words.next(), words.next()) else {
            return Err(format!(
                "column {:?} must be `name TYPE`, e.g. `dau BIGINT`",
                part.trim()
            ));
        };
        let ty = ColumnType::parse(ty).ok_or_else(|| {
            format!(
                "column {name}: type {ty:?} is unknown; use STRING, BIGINT, DOUBLE, DATE, TIMESTAMP or BOOLEAN"
            )
        })?;
        if columns.iter().any(|c| c.name == name) {
            return Err(format!("column {name} is declared twice"));
        }
        columns.push(Column {
            name: name.to_string(),
            ty,
        });
    }
    Ok(columns)
}

macro_rules! embedded {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../../jobs/sql/", $file)))),*]
    };
}

/// The shipped SQL files, built into the binary.
pub const EMBEDDED: &[(&str, &str)] = embedded!(
    "activity_all.sql",
    "event_groups.sql",
    "domain_fallback.sql",
    "day_groups.sql",
    "activity_resolved.sql",
    "activity.sql",
    "identity.sql",
    "user_sessions.sql",
    "user_day.sql",
    "user_day_feature.sql",
    "user_month.sql",
    "user_lifetime.sql",
    "known_domains.sql",
    "dau.sql",
    "wau.sql",
    "mau.sql",
    "stickiness.sql",
    "user_roster.sql",
    "connector_usage.sql",
    "feature_adoption_matrix.sql",
    "engagement_quadrant.sql",
    "feature_trends_weekly.sql",
    "top_events.sql",
    "top_pages.sql",
    "pageviews_per_user.sql",
    "actions_per_session.sql",
    "session_duration.sql",
    "engagement_tiers.sql",
    "power_users.sql",
    "activation_funnel.sql",
    "churned_users.sql",
    "reactivated_users.sql",
    "day_n_retention.sql",
    "funnel_analysis.sql",
    "monthly_cohort_retention.sql",
);

/// The shipped definitions, then every `*.sql` in `sql_dir` (a file with
/// the same `name` replaces the shipped one; a new name adds a table).
/// Order is kept: shipped pipeline order first, added files by file name.
pub fn load_catalog(sql_dir: Option<&Path>) -> Result<Vec<SqlDefinition>, DeriveError> {
    load_sql_files(EMBEDDED, "jobs/sql/", sql_dir)
}

/// A catalog of SQL files: the `embedded` ones (named `<shipped_dir><file>
/// (built in)` in messages), then every `*.sql` in `sql_dir` by file
/// name, where a file named like a shipped one replaces it. The metrics,
/// usage and platform catalogs all load this way.
pub fn load_sql_files(
    embedded: &[(&str, &str)],
    shipped_dir: &str,
    sql_dir: Option<&Path>,
) -> Result<Vec<SqlDefinition>, DeriveError> {
    let mut defs = embedded
        .iter()
        .map(|(file, text)| SqlDefinition::parse(&format!("{shipped_dir}{file} (built in)"), text))
        .collect::<Result<Vec<_>, _>>()?;
    let Some(dir) = sql_dir else {
        return Ok(defs);
    };
    let entries = std::fs::read_dir(dir).map_err(|source| DeriveError::SqlDir {
        path: dir.display().to_string(),
        source,
    })?;
    let mut files: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    files.sort();
    for path in files {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(&path).map_err(|source| DeriveError::SqlDir {
            path: origin.clone(),
            source,
        })?;
        let def = SqlDefinition::parse(&origin, &text)?;
        match defs.iter_mut().find(|d| d.name == def.name) {
            Some(existing) => *existing = def,
            None => defs.push(def),
        }
    }
    Ok(defs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shipped_file_parses_and_names_are_unique() {
        let defs = load_catalog(None).unwrap();
        let mut names: Vec<_> = defs.iter().map(|d| d.name.as_str()).collect();
        let metrics = defs.iter().filter(|d| d.kind == SqlKind::Metric).count();
        assert_eq!(metrics, 22);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), defs.len());
    }

    #[test]
    fn header_errors_name_the_file_line_and_fix() {
        let err = SqlDefinition::parse("my.sql", "-- name: x\n-- columns: a BIGNUM\nSELECT 1")
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "my.sql:2: column a: type \"BIGNUM\" is unknown; use STRING, BIGINT, DOUBLE, DATE, TIMESTAMP or BOOLEAN"
        );
        let err = SqlDefinition::parse("my.sql", "SELECT 1").unwrap_err();
        assert_eq!(
            err.to_string(),
            "my.sql:1: the header has no `-- name: <table>` line; add one"
        );
    }
}
