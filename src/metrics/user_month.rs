//! `user_month` folded forward, so a daily run reads the user_day
//! partitions of the months that changed, not every day of history.
//!
//! `user_month` as of D aggregates the user_day rows up to D per (domain,
//! user, local month); a month's rows depend only on its days' user_day
//! partitions up to D. Each run keeps every month it computed as one object,
//! `_usagelake/derive/user_month/<YYYY-MM>.parquet`, with the user_day
//! objects (path, size, ETag, last-modified) of the days it read and the
//! last day it covers. A later run for D takes a month's kept rows only
//! when that object covers the same days (through min(D, the month's last
//! day)) of the same objects, under the same per-day shape (parameters and
//! SQL of the per-day tables); every other month with user_day rows up to D
//! is computed again from its partitions: the new day's month, the month of
//! a day a late event re-derived, a month whose kept object is gone or
//! damaged, every month after a timezone change or on `--force`. The kept
//! rows are what the same computation gave for the same partitions, so the
//! result equals a from-scratch one. When a job's `sql_dir` replaces
//! user_month.sql nothing is kept or read.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use datafusion::arrow::array::{AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{concat_batches, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use datafusion::catalog::MemTable;
use datafusion::logical_expr::Expr;
use datafusion::prelude::{SessionContext, col, lit};
use serde::{Deserialize, Serialize};

use super::functions::date_value;
use super::kept;
use super::manifest::{InputObject, list, partition_date};
use super::{DeriveError, SqlDefinition};
use crate::lake::{DerivedTable, Lake, LakeError, TableContract};

/// The Parquet key-value entry of a kept month.
const META_KEY: &str = "usagelake.user_month";
const VERSION: u32 = 1;

/// What a kept month's rows were computed from.
#[derive(Debug, Serialize, Deserialize)]
struct MonthMeta {
    version: u32,
    /// The per-day tables' shape hash (`manifest::shape_hash`).
    shape: String,
    /// The last local day the rows include.
    through: NaiveDate,
    /// The user_day objects of the month's days up to `through`.
    days: BTreeMap<NaiveDate, Vec<InputObject>>,
}

/// `year * 12 + month - 1`, as user_month.sql computes `month_index`.
fn month_index(day: NaiveDate) -> i64 {
    i64::from(day.year()) * 12 + i64::from(day.month0())
}

fn first_day(month: i64) -> NaiveDate {
    NaiveDate::from_ymd_opt(
        (month.div_euclid(12)) as i32,
        month.rem_euclid(12) as u32 + 1,
        1,
    )
    .expect("a month index of a listed day")
}

fn last_day(month: i64) -> NaiveDate {
    first_day(month + 1).pred_opt().expect("a date")
}

fn object_name(month: i64) -> String {
    format!(
        "derive/user_month/{}.parquet",
        first_day(month).format("%Y-%m")
    )
}

/// The columns of `user_month_kept`, as user_month.sql selects them.
fn schema() -> SchemaRef {
    let ts = || DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()));
    Arc::new(Schema::new(vec![
        Field::new("customer_domain", DataType::Utf8, true),
        Field::new("user_id", DataType::Utf8, true),
        Field::new("month_index", DataType::Int64, true),
        Field::new("first_activity_at", ts(), true),
        Field::new("last_activity_at", ts(), true),
        Field::new("first_active_date", DataType::Date32, true),
        Field::new("last_active_date", DataType::Date32, true),
        Field::new("total_events", DataType::Int64, true),
        Field::new("active_days", DataType::Int64, true),
    ]))
}

/// Which months a run computes and the kept rows of the others.
pub struct MonthPlan {
    /// Months computed from user_day; `None`: all of them.
    computed: Option<BTreeSet<i64>>,
    /// The kept rows of the other months (`user_month_kept`).
    kept: Vec<RecordBatch>,
    /// user_day objects by local day up to as_of, listed now.
    days: BTreeMap<NaiveDate, Vec<InputObject>>,
    shape: String,
    as_of: NaiveDate,
    /// Whether computed months are kept (the shipped user_month.sql).
    keep: bool,
}

/// Decides which months of `user_day` (as the lake holds it after phase 1)
/// `as_of`'s run computes. `shape` is the per-day tables' shape hash.
pub async fn plan(
    lake: &Lake,
    user_day: &DerivedTable,
    as_of: NaiveDate,
    shape: &str,
    force: bool,
    user_month: Option<&SqlDefinition>,
) -> Result<MonthPlan, DeriveError> {
    let root = user_day.root();
    let mut days: BTreeMap<NaiveDate, Vec<InputObject>> = BTreeMap::new();
    for meta in list(lake, &root).await? {
        if !meta.location.as_ref().ends_with(".parquet") {
            continue;
        }
        if let Some(day) = partition_date(meta.location.as_ref(), &root)
            && day <= as_of
        {
            days.entry(day).or_default().push(InputObject::from(&meta));
        }
    }
    for objects in days.values_mut() {
        objects.sort_by(|a, b| a.path.cmp(&b.path));
    }
    let keep = user_month.is_some_and(SqlDefinition::is_shipped);
    let mut plan = MonthPlan {
        computed: None,
        kept: Vec::new(),
        days,
        shape: shape.to_string(),
        as_of,
        keep,
    };
    if force || !keep {
        return Ok(plan);
    }
    let months: BTreeSet<i64> = plan.days.keys().map(|d| month_index(*d)).collect();
    let reads = months.iter().map(|&month| async move {
        let kept = kept::read::<MonthMeta>(lake, &object_name(month), META_KEY, &schema()).await?;
        Ok::<_, DeriveError>((month, kept))
    });
    let mut computed = BTreeSet::new();
    for (month, kept) in futures::future::try_join_all(reads).await? {
        match kept {
            Some((meta, batches)) if plan.vouches(month, &meta) => plan.kept.extend(batches),
            _ => {
                computed.insert(month);
            }
        }
    }
    plan.computed = Some(computed);
    Ok(plan)
}

impl MonthPlan {
    /// The last day of `month` this run includes.
    fn through(&self, month: i64) -> NaiveDate {
        self.as_of.min(last_day(month))
    }

    /// The user_day objects of `month`'s days this run includes.
    fn month_days(&self, month: i64) -> BTreeMap<NaiveDate, Vec<InputObject>> {
        self.days
            .range(first_day(month)..=self.through(month))
            .map(|(day, objects)| (*day, objects.clone()))
            .collect()
    }

    /// Whether a kept month holds exactly what this run would compute.
    fn vouches(&self, month: i64, meta: &MonthMeta) -> bool {
        meta.version == VERSION
            && meta.shape == self.shape
            && meta.through == self.through(month)
            && meta.days == self.month_days(month)
    }

    /// Months computed again, and the months kept.
    pub fn counts(&self) -> (usize, usize) {
        let months: BTreeSet<i64> = self.days.keys().map(|d| month_index(*d)).collect();
        match &self.computed {
            None => (months.len(), 0),
            Some(computed) => (computed.len(), months.len() - computed.len()),
        }
    }

    /// Registers `user_month_kept` and `user_month_days` (the user_day rows
    /// of the computed months; `user_day` must be registered) in `ctx`.
    pub async fn register(&self, ctx: &SessionContext) -> datafusion::error::Result<()> {
        let kept = MemTable::try_new(schema(), vec![self.kept.clone()])?;
        ctx.deregister_table("user_month_kept")?;
        ctx.register_table("user_month_kept", Arc::new(kept))?;
        let mut days = ctx.table("user_day").await?;
        if let Some(computed) = &self.computed {
            days = days.filter(self.filter(computed))?;
        }
        ctx.deregister_table("user_month_days")?;
        ctx.register_table("user_month_days", days.into_view())?;
        Ok(())
    }

    /// `date` within one of `months`, as ranges of consecutive months, so
    /// the listing prunes every other partition.
    fn filter(&self, months: &BTreeSet<i64>) -> Expr {
        let mut ranges: Vec<(i64, i64)> = Vec::new();
        for &month in months {
            match ranges.last_mut() {
                Some((_, end)) if *end + 1 == month => *end = month,
                _ => ranges.push((month, month)),
            }
        }
        ranges
            .into_iter()
            .map(|(start, end)| {
                col("date")
                    .gt_eq(lit(date_value(first_day(start))))
                    .and(col("date").lt_eq(lit(date_value(last_day(end)))))
            })
            .reduce(Expr::or)
            .unwrap_or(lit(false))
    }

    /// Keeps the months this run computed, from `user_month` as computed in
    /// `ctx`: one object per month.
    pub async fn save(&self, lake: &Lake, ctx: &SessionContext) -> Result<(), DeriveError> {
        if !self.keep {
            return Ok(());
        }
        let datafusion = |e| DeriveError::Lake(LakeError::DataFusion(e));
        let arrow = |e: datafusion::arrow::error::ArrowError| datafusion(e.into());
        let computed: BTreeSet<i64> = match &self.computed {
            Some(computed) => computed.clone(),
            None => self.days.keys().map(|d| month_index(*d)).collect(),
        };
        if computed.is_empty() {
            return Ok(());
        }
        let batches = ctx
            .table("user_month")
            .await
            .map_err(datafusion)?
            .collect()
            .await
            .map_err(datafusion)?;
        let schema = schema();
        let rows = batches
            .iter()
            .map(|b| kept::conform(b, &schema))
            .collect::<Result<Vec<_>, _>>()?;
        let all = concat_batches(&schema, &rows).map_err(arrow)?;
        let mut by_month: BTreeMap<i64, Vec<u32>> =
            computed.iter().map(|&m| (m, Vec::new())).collect();
        let months = all
            .column(schema.index_of("month_index").map_err(arrow)?)
            .as_primitive::<Int64Type>();
        for (row, month) in months.iter().enumerate() {
            if let Some(rows) = month.and_then(|m| by_month.get_mut(&m)) {
                rows.push(row as u32);
            }
        }
        for (month, rows) in by_month {
            let part = take_record_batch(&all, &UInt32Array::from(rows)).map_err(arrow)?;
            let meta = MonthMeta {
                version: VERSION,
                shape: self.shape.clone(),
                through: self.through(month),
                days: self.month_days(month),
            };
            kept::write(lake, &object_name(month), META_KEY, &meta, &schema, &[part]).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_indexes_match_the_sql_and_bound_their_days() {
        let day = NaiveDate::from_ymd_opt(2026, 2, 14).unwrap();
        assert_eq!(month_index(day), 2026 * 12 + 1);
        assert_eq!(
            first_day(month_index(day)),
            NaiveDate::from_ymd_opt(2026, 2, 1).unwrap()
        );
        assert_eq!(
            last_day(month_index(day)),
            NaiveDate::from_ymd_opt(2026, 2, 28).unwrap()
        );
        let december = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
        assert_eq!(last_day(month_index(december)), december);
        assert_eq!(
            object_name(month_index(december)),
            "derive/user_month/2025-12.parquet"
        );
    }
}
