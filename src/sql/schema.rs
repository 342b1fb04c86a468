//! The optional schema (table → columns) that makes column resolution
//! exact: an unqualified name goes to the one table that has it, also
//! across scopes (a correlated subquery's outer columns). Without one, a
//! name goes to a scope's only table or stays bare.
//!
//! Table names match by their last parts, case-insensitively: a schema
//! entry `prod.sales.orders` serves `orders`, `sales.orders` and
//! `prod.sales.orders` in a query, unless another entry ends the same way
//! (then only its longer names match).

use std::collections::{HashMap, HashSet};
use std::path::Path;

/// A table's lower-case column names. aHash, not the standard SipHash:
/// resolution looks names up for every column reference of every query,
/// and query text only looks up (the sets are built from the schema).
pub(crate) type Columns = HashSet<String, ahash::RandomState>;

/// Why a schema file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("{path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error(
        "{path}: not a schema: {reason}; write a JSON object of table name → list of column \
         names, e.g. {{\"sales.orders\": [\"id\", \"amount\"]}} (sqlglot's nested \
         {{\"db\": {{\"table\": {{\"column\": \"type\"}}}}}} form is read too)"
    )]
    Shape { path: String, reason: String },
}

/// Tables and their columns, as a warehouse's `information_schema` or a
/// schema file lists them.
#[derive(Debug, Clone, Default)]
pub struct Schema {
    /// Lower-case table name (and each of its shorter suffixes) → index in
    /// `columns`; `None` when two tables share that suffix.
    names: HashMap<String, Option<usize>, ahash::RandomState>,
    /// Lower-case column names per table.
    columns: Vec<Columns>,
}

impl Schema {
    /// A schema from `(table name, column names)` pairs; a table name may
    /// be qualified (`db.schema.table`).
    pub fn new<T, C, S>(tables: T) -> Self
    where
        T: IntoIterator<Item = (S, C)>,
        C: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut schema = Schema::default();
        let mut full = Vec::new();
        for (table, columns) in tables {
            let name = table.as_ref().to_lowercase();
            let index = schema.columns.len();
            schema.columns.push(
                columns
                    .into_iter()
                    .map(|c| c.as_ref().to_lowercase())
                    .collect(),
            );
            let parts: Vec<&str> = name.split('.').collect();
            for start in 1..parts.len() {
                let suffix = parts[start..].join(".");
                schema
                    .names
                    .entry(suffix)
                    .and_modify(|i| {
                        if *i != Some(index) {
                            *i = None
                        }
                    })
                    .or_insert(Some(index));
            }
            full.push((name, index));
        }
        // A full name always names its own table.
        for (name, index) in full {
            schema.names.insert(name, Some(index));
        }
        schema
    }

    /// Reads a JSON schema file: `{"table": ["column", …]}`, or sqlglot's
    /// mapping (`{"table": {"column": "type"}}`, nested by catalog / db).
    pub fn from_file(path: &Path) -> Result<Self, SchemaError> {
        let text = std::fs::read_to_string(path).map_err(|source| SchemaError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_json(&text).map_err(|reason| SchemaError::Shape {
            path: path.display().to_string(),
            reason,
        })
    }

    /// The JSON forms `from_file` reads; `Err` says what is wrong (never
    /// quoting the input beyond a table name).
    pub fn from_json(text: &str) -> Result<Self, String> {
        let value: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("invalid JSON at line {}, column {}", e.line(), e.column()))?;
        let serde_json::Value::Object(map) = value else {
            return Err("the top level is not an object".into());
        };
        let mut tables = Vec::new();
        collect(&map, "", &mut tables)?;
        Ok(Self::new(tables))
    }

    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }

    /// The columns of `table` (a name as the query writes it, folded),
    /// when the schema knows it.
    pub(crate) fn columns(&self, table: &str) -> Option<&Columns> {
        if self.columns.is_empty() {
            return None;
        }
        let lower = table.to_lowercase();
        let mut name = lower.as_str();
        // A query may qualify more than the schema does: drop leading parts.
        loop {
            if let Some(found) = self.names.get(name) {
                return found.map(|i| &self.columns[i]);
            }
            name = name.split_once('.')?.1;
        }
    }
}

fn collect(
    map: &serde_json::Map<String, serde_json::Value>,
    prefix: &str,
    out: &mut Vec<(String, Vec<String>)>,
) -> Result<(), String> {
    for (key, value) in map {
        let name = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            serde_json::Value::Array(items) => {
                let columns = items
                    .iter()
                    .map(|i| i.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>()
                    .ok_or_else(|| format!("the columns of {name} are not all strings"))?;
                out.push((name, columns));
            }
            // {"column": "type", …} is a table; {"table": {…}} a level above.
            serde_json::Value::Object(inner) if inner.values().all(|v| v.is_string()) => {
                out.push((name, inner.keys().cloned().collect()));
            }
            serde_json::Value::Object(inner) => collect(inner, &name, out)?,
            _ => return Err(format!("{name} is neither a column list nor an object")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::Schema;

    #[test]
    fn names_match_by_suffix_unless_shared() {
        let s = Schema::from_json(
            r#"{"prod": {"sales": {"orders": {"ID": "int"}}, "crm": {"orders": ["id", "crm_only"]}},
                "users": ["id", "email"]}"#,
        )
        .unwrap();
        assert!(s.columns("USERS").unwrap().contains("email"));
        assert!(s.columns("analytics.users").unwrap().contains("email"));
        // `orders` ends two entries: only the longer names tell them apart.
        assert!(s.columns("orders").is_none());
        assert!(s.columns("crm.orders").unwrap().contains("crm_only"));
        assert!(!s.columns("prod.sales.orders").unwrap().contains("crm_only"));
        assert!(s.columns("other").is_none());
        assert_eq!(
            Schema::from_json(r#"{"t": [1]}"#).unwrap_err(),
            "the columns of t are not all strings"
        );
        assert!(Schema::from_json("[]").is_err());
    }
}
