//! Usage per data product: `bi_queries` rows (BI scrapes and query logs,
//! whoever wrote them) turned into `product_usage_stats` and
//! `table_usage_stats`, unused products and popular query patterns.
//!
//! The counting is SQL (`jobs/sql/usage/`, see [`catalog`]); this module
//! binds the space's parameters, gives the SQL the two things SQL cannot
//! say well (a dialect's name folding and completion, and glob matching:
//! `usage_table` and `usage_products`, see [`names`]), and writes or
//! returns the results.

pub mod catalog;
mod functions;
pub mod names;
mod report;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use chrono::{DateTime, Days, NaiveDate, Utc};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, GenericListArray, ListArray, RecordBatch,
};
use datafusion::arrow::compute::{cast, concat_batches};
use datafusion::arrow::datatypes::{DataType, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::error::DataFusionError;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use names::{ConnectorNames, Folding, Resolver};
pub use report::{
    AggregateSummary, Coverage, MissingDays, PatternSummary, ProductPatterns, ProductSummary,
    ReportFormat, UsageStatus, render_popular, render_unused,
};

use crate::config::{AppConfig, SpaceConfig};
use crate::lake::tables::{PRODUCT_USAGE_STATS, TABLE_USAGE_STATS, TableSpec};
use crate::lake::{Lake, LakeError, PartitionValue, TableContract, register_tables, tables};
use crate::metrics::{DeriveError, SqlDefinition, SqlKind};

#[derive(Debug, thiserror::Error)]
pub enum UsageError {
    #[error(
        "no space with slug {slug:?} in the configuration (known: {known}); add a [[spaces]] entry or use one of those"
    )]
    UnknownSpace { slug: String, known: String },
    #[error(
        "space {space:?} has no product {product:?} (known: {known}); use a product's name or id"
    )]
    UnknownProduct {
        space: String,
        product: String,
        known: String,
    },
    #[error("{origin}: {message}")]
    Definition { origin: String, message: String },
    #[error(transparent)]
    Header(#[from] DeriveError),
    #[error("sql folder {path}: {source}")]
    SqlDir {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{origin}: {source}")]
    Sql {
        origin: String,
        #[source]
        source: Box<DataFusionError>,
    },
    #[error("{origin}: the result does not match table {table}: {message}")]
    Shape {
        origin: String,
        table: String,
        message: String,
    },
    #[error("--days must be at least 1")]
    NoDays,
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// One usage computation: a space, an as-of date and a window.
#[derive(Debug, Clone)]
pub struct UsageRequest {
    pub as_of: NaiveDate,
    pub window_days: u32,
    /// A folder of `.sql` files that replace or add to the shipped ones.
    pub sql_dir: Option<PathBuf>,
    /// When the run happened (`updated_at`).
    pub now: DateTime<Utc>,
    /// How many columns `top_columns` holds and patterns `popular` lists.
    pub top_columns: i64,
    pub top_patterns: i64,
}

impl UsageRequest {
    pub fn new(space: &SpaceConfig, as_of: NaiveDate) -> Self {
        Self {
            as_of,
            window_days: space.window_days,
            sql_dir: None,
            now: Utc::now(),
            top_columns: 10,
            top_patterns: 10,
        }
    }

    pub fn window_start(&self) -> NaiveDate {
        self.as_of - Days::new(u64::from(self.window_days.max(1)) - 1)
    }
}

/// The space named `slug`.
pub fn space<'a>(config: &'a AppConfig, slug: &str) -> Result<&'a SpaceConfig, UsageError> {
    config.space(slug).ok_or_else(|| UsageError::UnknownSpace {
        slug: slug.to_string(),
        known: if config.spaces.is_empty() {
            "none".to_string()
        } else {
            config
                .spaces
                .iter()
                .map(|s| s.slug.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        },
    })
}

fn date_scalar(day: NaiveDate) -> ScalarValue {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
    ScalarValue::Date32(Some((day - epoch).num_days() as i32))
}

fn placeholders(space: &SpaceConfig, request: &UsageRequest) -> ParamValues {
    let end_of_day = (request.as_of + Days::new(1))
        .and_hms_opt(0, 0, 0)
        .expect("midnight exists")
        .and_utc();
    let values: Vec<(&str, ScalarValue)> = vec![
        ("as_of", date_scalar(request.as_of)),
        ("window_start", date_scalar(request.window_start())),
        (
            "scan_start",
            date_scalar(request.window_start() - Days::new(1)),
        ),
        ("scan_end", date_scalar(request.as_of + Days::new(1))),
        (
            "end_of_day_us",
            ScalarValue::Int64(Some(end_of_day.timestamp_micros())),
        ),
        (
            "half_life_days",
            ScalarValue::Float64(Some(space.recency_half_life_days)),
        ),
        (
            "dedup_us",
            ScalarValue::Int64(Some(i64::from(space.dedup_seconds) * 1_000_000)),
        ),
        ("top_columns", ScalarValue::Int64(Some(request.top_columns))),
        (
            "top_patterns",
            ScalarValue::Int64(Some(request.top_patterns)),
        ),
        (
            "updated_at_us",
            ScalarValue::Int64(Some(request.now.timestamp_micros())),
        ),
        ("space_id", ScalarValue::Utf8(Some(space.id_string()))),
    ];
    ParamValues::Map(
        values
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into()))
            .collect(),
    )
}

fn session(
    lake: &Lake,
    config: &AppConfig,
    space: &SpaceConfig,
) -> Result<SessionContext, UsageError> {
    let ctx = SessionContext::new_with_config(
        SessionConfig::new()
            .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get())),
    );
    register_tables(&ctx, lake, tables::ALL)?;
    functions::register(&ctx, Arc::new(Resolver::new(config, space)));
    register_parameter_tables(&ctx, config, space).map_err(LakeError::DataFusion)?;
    Ok(ctx)
}

/// `space_products(product_id, product_name)` and
/// `bi_service_accounts(connector_id, warehouse_user)`.
fn register_parameter_tables(
    ctx: &SessionContext,
    config: &AppConfig,
    space: &SpaceConfig,
) -> datafusion::error::Result<()> {
    ctx.register_table(
        "space_products",
        crate::lake::text_table(
            &["product_id", "product_name"],
            &space
                .products
                .iter()
                .map(|p| vec![p.id_string(), p.name.clone()])
                .collect::<Vec<_>>(),
        )?,
    )?;
    ctx.register_table(
        "bi_service_accounts",
        crate::lake::text_table(
            &["connector_id", "warehouse_user"],
            &config
                .connectors
                .iter()
                .filter(|c| c.kind.is_bi())
                .filter_map(|c| Some(vec![c.id_string(), c.warehouse_user.clone()?]))
                .collect::<Vec<_>>(),
        )?,
    )?;
    Ok(())
}

/// Runs the files `targets` need and returns each target's rows.
async fn run(
    lake: &Lake,
    config: &AppConfig,
    space: &SpaceConfig,
    request: &UsageRequest,
    targets: &[&str],
) -> Result<HashMap<String, (SqlDefinition, Vec<RecordBatch>)>, UsageError> {
    let catalog = catalog::load(request.sql_dir.as_deref())?;
    let ctx = session(lake, config, space)?;
    let params = placeholders(space, request);
    let mut out = HashMap::new();
    for def in catalog::needed(&catalog, targets) {
        let err = |source| UsageError::Sql {
            origin: def.origin.clone(),
            source: Box::new(source),
        };
        let df = ctx
            .sql(&def.sql)
            .await
            .map_err(err)?
            .with_param_values(params.clone())
            .map_err(err)?;
        if def.kind == SqlKind::View {
            ctx.register_table(def.name.as_str(), df.into_view())
                .map_err(err)?;
            continue;
        }
        let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
        let batches = crate::lake::collect_naming_damage(df).await.map_err(err)?;
        let table = MemTable::try_new(Arc::clone(&schema), vec![batches.clone()]).map_err(err)?;
        ctx.register_table(def.name.as_str(), Arc::new(table))
            .map_err(err)?;
        tracing::debug!(file = %def.name, rows = batches.iter().map(|b| b.num_rows()).sum::<usize>(), "usage");
        if targets.contains(&def.name.as_str()) {
            out.insert(def.name.clone(), (def.clone(), batches));
        }
    }
    Ok(out)
}

/// Checks a result against a table's contract and returns it as one
/// batch in the contract's column order. String views become strings,
/// timestamps without a zone are UTC, and a missing list is an empty one.
fn conform(
    def: &SqlDefinition,
    table: &dyn TableContract,
    batches: &[RecordBatch],
) -> Result<RecordBatch, UsageError> {
    let shape = |message: String| UsageError::Shape {
        origin: def.origin.clone(),
        table: table.name().to_string(),
        message,
    };
    let wanted = table.file_schema();
    let Some(first) = batches.first() else {
        return Ok(RecordBatch::new_empty(wanted));
    };
    let got = first.schema();
    let whole = concat_batches(&got, batches).map_err(|e| shape(e.to_string()))?;
    let mut columns: Vec<ArrayRef> = Vec::new();
    for field in wanted.fields() {
        let index = got.index_of(field.name()).map_err(|_| {
            shape(format!(
                "column {} is missing from the SELECT; the table's columns are {}",
                field.name(),
                wanted
                    .fields()
                    .iter()
                    .map(|f| f.name().as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        let array = whole.column(index);
        let array = if array.data_type() == field.data_type() {
            Arc::clone(array)
        } else {
            cast(array, field.data_type()).map_err(|e| {
                shape(format!(
                    "column {} is {}, the table holds {}: {e}",
                    field.name(),
                    array.data_type(),
                    field.data_type()
                ))
            })?
        };
        let array = if matches!(field.data_type(), DataType::List(_)) {
            empty_lists_for_nulls(array.as_list::<i32>())
        } else {
            array
        };
        if !field.is_nullable() && array.null_count() > 0 {
            return Err(shape(format!(
                "column {} has NULLs, which the table does not allow; COALESCE it",
                field.name()
            )));
        }
        columns.push(array);
    }
    for field in got.fields() {
        if wanted.field_with_name(field.name()).is_err() {
            return Err(shape(format!(
                "column {} is not a column of the table; drop it from the SELECT",
                field.name()
            )));
        }
    }
    RecordBatch::try_new(wanted, columns).map_err(|e| shape(e.to_string()))
}

/// A list column with every NULL replaced by an empty list.
fn empty_lists_for_nulls(list: &ListArray) -> ArrayRef {
    if list.null_count() == 0 {
        return Arc::new(list.clone());
    }
    let (field, offsets, values, _) = list.clone().into_parts();
    // A NULL list's slot spans no values (arrow builders write equal
    // offsets for it), so dropping the validity leaves an empty list.
    Arc::new(GenericListArray::<i32>::new(field, offsets, values, None))
}

/// Recomputes `product_usage_stats` and `table_usage_stats` of `space_slug`
/// for as-of date `date`: exactly the partitions (as_of = date, space_id)
/// are rewritten.
pub async fn aggregate(
    lake: &Lake,
    config: &AppConfig,
    space_slug: &str,
    date: NaiveDate,
) -> Result<AggregateSummary, UsageError> {
    let space = space(config, space_slug)?;
    aggregate_with(lake, config, space, &UsageRequest::new(space, date)).await
}

/// [`aggregate`] with the SQL files of `sql_dir` replacing or adding to
/// the shipped ones.
pub async fn aggregate_dir(
    lake: &Lake,
    config: &AppConfig,
    space_slug: &str,
    date: NaiveDate,
    sql_dir: Option<PathBuf>,
) -> Result<AggregateSummary, UsageError> {
    let space = space(config, space_slug)?;
    let mut request = UsageRequest::new(space, date);
    request.sql_dir = sql_dir;
    aggregate_with(lake, config, space, &request).await
}

/// [`aggregate`] with every knob of the request.
pub async fn aggregate_with(
    lake: &Lake,
    config: &AppConfig,
    space: &SpaceConfig,
    request: &UsageRequest,
) -> Result<AggregateSummary, UsageError> {
    let outputs: [(&str, &TableSpec); 2] = [
        ("product_stats", &PRODUCT_USAGE_STATS),
        ("table_stats", &TABLE_USAGE_STATS),
    ];
    let mut results = run(lake, config, space, request, &outputs.map(|(name, _)| name)).await?;
    let key = [
        PartitionValue::Date(request.as_of),
        PartitionValue::Str(space.id_string()),
    ];
    let mut summary = AggregateSummary::default();
    for (name, table) in outputs {
        let (def, batches) = results.remove(name).expect("a target is always run");
        let batch = conform(&def, table, &batches)?;
        if table.name == PRODUCT_USAGE_STATS.name {
            summary.products_updated = batch.num_rows() as u64;
        } else {
            summary.tables = batch.num_rows() as u64;
        }
        lake.write_partition(table)
            .partition(key.clone())
            .write(&[batch])
            .await?;
    }
    Ok(summary)
}

fn string_at(batch: &RecordBatch, column: &str, row: usize) -> Option<String> {
    let array = batch.column_by_name(column)?;
    if array.is_null(row) {
        return None;
    }
    let array = cast(array, &DataType::Utf8).ok()?;
    Some(array.as_string::<i32>().value(row).to_string())
}

fn int_at(batch: &RecordBatch, column: &str, row: usize) -> i64 {
    batch
        .column_by_name(column)
        .and_then(|a| cast(a, &DataType::Int64).ok())
        .map(|a| {
            let a = a.as_primitive::<datafusion::arrow::datatypes::Int64Type>();
            if a.is_null(row) { 0 } else { a.value(row) }
        })
        .unwrap_or(0)
}

fn time_at(batch: &RecordBatch, column: &str, row: usize) -> Option<DateTime<Utc>> {
    let array = batch.column_by_name(column)?;
    let array = cast(
        array,
        &DataType::Timestamp(
            datafusion::arrow::datatypes::TimeUnit::Microsecond,
            Some("UTC".into()),
        ),
    )
    .ok()?;
    let array = array.as_primitive::<datafusion::arrow::datatypes::TimestampMicrosecondType>();
    if array.is_null(row) {
        return None;
    }
    DateTime::from_timestamp_micros(array.value(row))
}

/// Products of `space_slug` with no reference in the `days` days ending on
/// `date`, each with its coverage: `unused` only when every collecting
/// connector succeeded on every day of the window since its first success,
/// else `unknown` with the connectors and days missing.
pub async fn unused(
    lake: &Lake,
    config: &AppConfig,
    space_slug: &str,
    days: u32,
    date: NaiveDate,
) -> Result<Vec<ProductSummary>, UsageError> {
    if days == 0 {
        return Err(UsageError::NoDays);
    }
    let space = space(config, space_slug)?;
    let mut request = UsageRequest::new(space, date);
    request.window_days = days;
    let mut results = run(
        lake,
        config,
        space,
        &request,
        &["product_stats", "sync_coverage", "product_last_queried"],
    )
    .await?;
    let mut take = |name: &str| results.remove(name).map(|(_, b)| b).unwrap_or_default();
    let (stats, coverage_rows, last_rows) = (
        take("product_stats"),
        take("sync_coverage"),
        take("product_last_queried"),
    );
    let mut referenced: HashMap<String, i64> = HashMap::new();
    for batch in &stats {
        for row in 0..batch.num_rows() {
            if let Some(id) = string_at(batch, "product_id", row) {
                referenced.insert(id, int_at(batch, "query_count_30d", row));
            }
        }
    }
    let mut last_queried: HashMap<String, DateTime<Utc>> = HashMap::new();
    for batch in &last_rows {
        for row in 0..batch.num_rows() {
            if let (Some(id), Some(at)) = (
                string_at(batch, "product_id", row),
                time_at(batch, "last_queried_at", row),
            ) {
                last_queried.insert(id, at);
            }
        }
    }
    let mut succeeded: HashMap<String, std::collections::BTreeSet<NaiveDate>> = HashMap::new();
    for batch in &coverage_rows {
        let dates = cast(
            batch
                .column_by_name("date")
                .expect("sync_coverage has date"),
            &DataType::Date32,
        )
        .map_err(|e| LakeError::DataFusion(e.into()))?;
        let dates = dates.as_primitive::<datafusion::arrow::datatypes::Date32Type>();
        for row in 0..batch.num_rows() {
            if int_at(batch, "succeeded", row) == 1
                && let Some(id) = string_at(batch, "connector_id", row)
            {
                let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
                succeeded
                    .entry(id)
                    .or_default()
                    .insert(epoch + chrono::Duration::days(i64::from(dates.value(row))));
            }
        }
    }
    let coverage = report::coverage(config, &succeeded, request.window_start(), date);
    Ok(space
        .products
        .iter()
        .filter(|p| referenced.get(&p.id_string()).copied().unwrap_or(0) == 0)
        .map(|p| ProductSummary {
            id: p.id_string(),
            name: p.name.clone(),
            tables: p.tables.clone(),
            last_queried_at: last_queried.get(&p.id_string()).copied(),
            coverage: coverage.clone(),
        })
        .collect())
}

/// The most run query patterns per product of `space_slug` (or of one
/// product, by name or id) over the space's window ending on `date`.
pub async fn popular(
    lake: &Lake,
    config: &AppConfig,
    space_slug: &str,
    product: Option<&str>,
    date: NaiveDate,
) -> Result<Vec<ProductPatterns>, UsageError> {
    let space = space(config, space_slug)?;
    let only = match product {
        Some(p) => Some(
            space
                .product(p)
                .ok_or_else(|| UsageError::UnknownProduct {
                    space: space.slug.clone(),
                    product: p.to_string(),
                    known: space
                        .products
                        .iter()
                        .map(|p| p.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })?
                .id_string(),
        ),
        None => None,
    };
    let request = UsageRequest::new(space, date);
    let mut results = run(lake, config, space, &request, &["popular_patterns"]).await?;
    let batches = results
        .remove("popular_patterns")
        .map(|(_, b)| b)
        .unwrap_or_default();
    let mut by_product: HashMap<String, Vec<PatternSummary>> = HashMap::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let Some(id) = string_at(batch, "product_id", row) else {
                continue;
            };
            by_product.entry(id).or_default().push(PatternSummary {
                fingerprint: string_at(batch, "query_fingerprint", row).unwrap_or_default(),
                executions: int_at(batch, "executions", row),
                users: int_at(batch, "users", row),
                last_run_at: time_at(batch, "last_run_at", row),
                example_sql: string_at(batch, "example_sql", row),
            });
        }
    }
    Ok(space
        .products
        .iter()
        .filter(|p| only.as_ref().is_none_or(|id| *id == p.id_string()))
        .map(|p| ProductPatterns {
            id: p.id_string(),
            name: p.name.clone(),
            patterns: by_product.remove(&p.id_string()).unwrap_or_default(),
        })
        .collect())
}
