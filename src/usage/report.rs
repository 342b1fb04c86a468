//! What the usage commands (and the API's routes) return.

use std::collections::{BTreeSet, HashMap};

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Serialize;

use crate::config::AppConfig;

/// What `aggregate` did: `{"products_updated": N}`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct AggregateSummary {
    pub products_updated: u64,
    /// Rows written to `table_usage_stats` (tables, schemas, databases).
    #[serde(skip)]
    pub tables: u64,
}

impl std::fmt::Display for AggregateSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} products, {} table/schema/database rows",
            self.products_updated, self.tables
        )
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UsageStatus {
    /// Every collecting connector covered every day: no reference means none.
    Unused,
    /// Some connector missed a day: no reference seen, but usage is not known.
    Unknown,
}

/// The days a connector has no succeeded `sync_jobs` row for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MissingDays {
    pub connector_id: String,
    pub connector: String,
    pub days: Vec<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub status: UsageStatus,
    pub missing: Vec<MissingDays>,
}

/// A product as `unused` lists it (and the API's `/usage/unused`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductSummary {
    pub id: String,
    pub name: String,
    pub tables: Vec<String>,
    /// The latest query any aggregate up to the date saw; null if none.
    pub last_queried_at: Option<DateTime<Utc>>,
    pub coverage: Coverage,
}

/// One query pattern of a product.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PatternSummary {
    pub fingerprint: String,
    pub executions: i64,
    pub users: i64,
    pub last_run_at: Option<DateTime<Utc>>,
    /// The latest run's anonymized text (every literal is `?`).
    pub example_sql: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProductPatterns {
    pub id: String,
    pub name: String,
    pub patterns: Vec<PatternSummary>,
}

/// Coverage of the window `[start, end]`: every connector that collects
/// queries (BI tools and warehouses) needs a succeeded attempt for each day
/// since its first succeeded one; a connector that never succeeded misses
/// every day.
pub fn coverage(
    config: &AppConfig,
    succeeded: &HashMap<String, BTreeSet<NaiveDate>>,
    start: NaiveDate,
    end: NaiveDate,
) -> Coverage {
    let empty = BTreeSet::new();
    let mut missing = Vec::new();
    for connector in config
        .connectors
        .iter()
        .filter(|c| c.kind.is_bi() || c.kind.is_warehouse())
    {
        let days = succeeded.get(&connector.id_string()).unwrap_or(&empty);
        let from = days.first().map_or(start, |first| (*first).max(start));
        let absent: Vec<NaiveDate> = from
            .iter_days()
            .take_while(|day| *day <= end)
            .filter(|day| !days.contains(day))
            .collect();
        if !absent.is_empty() {
            missing.push(MissingDays {
                connector_id: connector.id_string(),
                connector: connector.name.clone(),
                days: absent,
            });
        }
    }
    Coverage {
        status: if missing.is_empty() {
            UsageStatus::Unused
        } else {
            UsageStatus::Unknown
        },
        missing,
    }
}

/// Consecutive days as ranges: `2026-03-01..2026-03-04, 2026-03-09`.
fn day_ranges(days: &[NaiveDate]) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let mut j = i;
        while j + 1 < days.len() && days[j + 1] == days[j] + Days::new(1) {
            j += 1;
        }
        out.push(if i == j {
            days[i].to_string()
        } else {
            format!("{}..{}", days[i], days[j])
        });
        i = j + 1;
    }
    out.join(", ")
}

/// How the usage commands print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ReportFormat {
    Table,
    /// The JSON array the API returns.
    Json,
}

pub fn render_unused(products: &[ProductSummary], format: ReportFormat) -> String {
    match format {
        ReportFormat::Json => json_line(products),
        ReportFormat::Table => unused_table(products),
    }
}

pub fn render_popular(products: &[ProductPatterns], format: ReportFormat) -> String {
    match format {
        ReportFormat::Json => json_line(products),
        ReportFormat::Table => popular_table(products),
    }
}

fn json_line<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).expect("usage reports serialize") + "\n"
}

fn popular_table(products: &[ProductPatterns]) -> String {
    let mut out = String::new();
    for p in products {
        out.push_str(&format!("{}  ({})\n", p.name, p.id));
        if p.patterns.is_empty() {
            out.push_str("  no executions in the window\n");
        }
        for (i, pattern) in p.patterns.iter().enumerate() {
            let last = pattern
                .last_run_at
                .map_or("-".to_string(), |t| t.to_rfc3339());
            out.push_str(&format!(
                "  {:>2}. {}  {} executions, {} users, last {}\n      {}\n",
                i + 1,
                pattern.fingerprint,
                pattern.executions,
                pattern.users,
                last,
                pattern
                    .example_sql
                    .as_deref()
                    .unwrap_or("")
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            ));
        }
    }
    out
}

fn unused_table(products: &[ProductSummary]) -> String {
    if products.is_empty() {
        return "no product without references in the window\n".to_string();
    }
    let mut out = String::new();
    for p in products {
        let status = match p.coverage.status {
            UsageStatus::Unused => "unused",
            UsageStatus::Unknown => "unknown",
        };
        let last = p.last_queried_at.map_or("never seen".to_string(), |t| {
            format!("last queried {}", t.to_rfc3339())
        });
        out.push_str(&format!(
            "{status:<8} {}  ({})  {}  [{}]\n",
            p.name,
            p.id,
            last,
            p.tables.join(", ")
        ));
        for m in &p.coverage.missing {
            out.push_str(&format!(
                "         missing {}: {}\n",
                m.connector,
                day_ranges(&m.days)
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_ranges_join_consecutive_days() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        assert_eq!(
            day_ranges(&[
                d("2026-03-01"),
                d("2026-03-02"),
                d("2026-03-03"),
                d("2026-03-05")
            ]),
            "2026-03-01..2026-03-03, 2026-03-05"
        );
    }
}
