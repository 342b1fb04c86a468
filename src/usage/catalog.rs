//! The usage SQL files (`jobs/sql/usage/`, built in; a folder of `.sql`
//! files can replace one by its `-- name:` or add one), with the same
//! header as the metric files.

use std::path::Path;

use super::UsageError;
use crate::metrics::{DeriveError, SqlDefinition, SqlKind};

macro_rules! embedded {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../../jobs/sql/usage/", $file)))),*]
    };
}

/// The shipped files, in the order they run.
pub const EMBEDDED: &[(&str, &str)] = embedded!(
    "usage_rows.sql",
    "usage_refs.sql",
    "usage_product_refs.sql",
    "usage_column_refs.sql",
    "product_stats.sql",
    "table_stats.sql",
    "popular_patterns.sql",
    "sync_coverage.sql",
    "product_last_queried.sql",
);

/// The shipped definitions, then every `*.sql` in `sql_dir` (same name
/// replaces, a new name is added at the end, by file name).
pub fn load(sql_dir: Option<&Path>) -> Result<Vec<SqlDefinition>, UsageError> {
    let defs = crate::metrics::load_sql_files(EMBEDDED, "jobs/sql/usage/", sql_dir).map_err(
        |e| match e {
            DeriveError::SqlDir { path, source } => UsageError::SqlDir { path, source },
            other => UsageError::from(other),
        },
    )?;
    for def in &defs {
        if !matches!(def.kind, SqlKind::View | SqlKind::Cached) {
            return Err(UsageError::Definition {
                origin: def.origin.clone(),
                message: format!(
                    "usage files are `-- kind: view` or `-- kind: cached`, not {}; the command decides what is written",
                    def.kind.as_str()
                ),
            });
        }
    }
    Ok(defs)
}

/// The definitions `targets` need, in catalog order: the targets and,
/// transitively, every file whose name their SQL mentions.
pub fn needed<'a>(catalog: &'a [SqlDefinition], targets: &[&str]) -> Vec<&'a SqlDefinition> {
    let mut wanted: std::collections::HashSet<&str> = targets.iter().copied().collect();
    loop {
        let before = wanted.len();
        for def in catalog {
            if wanted.contains(def.name.as_str()) {
                for other in catalog {
                    if other.name != def.name && mentions(&def.sql, &other.name) {
                        wanted.insert(other.name.as_str());
                    }
                }
            }
        }
        if wanted.len() == before {
            break;
        }
    }
    catalog
        .iter()
        .filter(|d| wanted.contains(d.name.as_str()))
        .collect()
}

/// Whether `sql` names `table` as a whole word (outside `--` comments).
fn mentions(sql: &str, table: &str) -> bool {
    sql.lines()
        .map(|line| line.split("--").next().unwrap_or(""))
        .flat_map(|line| line.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')))
        .any(|word| word.eq_ignore_ascii_case(table))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_files_parse_and_targets_pull_their_inputs() {
        let catalog = load(None).unwrap();
        let names = |targets: &[&str]| {
            needed(&catalog, targets)
                .iter()
                .map(|d| d.name.as_str())
                .collect::<Vec<_>>()
        };
        assert_eq!(
            names(&["product_stats"]),
            vec![
                "usage_rows",
                "usage_refs",
                "usage_product_refs",
                "usage_column_refs",
                "product_stats"
            ]
        );
        assert_eq!(
            names(&["table_stats"]),
            vec!["usage_rows", "usage_refs", "table_stats"]
        );
        assert_eq!(names(&["sync_coverage"]), vec!["sync_coverage"]);
    }
}
