//! The derive step for product-analytics metrics (METRICS.md).
//!
//! Every table is a SQL file (`jobs/sql/`, built in; a job's `sql_dir` can
//! replace or add files). One run, for one as-of date D:
//!
//! 1. views over the lake's raw tables (`activity_all`, …), evaluated where
//!    used so partition pruning sees the bound dates;
//! 2. the per-day (`scope: daily`) tables of the local days the lake does
//!    not already hold as their input now is (see `manifest`): the
//!    intermediates (`user_day`, `user_sessions`, `user_day_feature`) are
//!    written by local `date`, and every later file reads them from the
//!    lake, up to D, so no metric rescans old raw events;
//! 3. the metrics, each written as `tables/<name>/as_of=D/data.parquet`.

mod chunks;
mod collect;
mod definition;
mod functions;
mod identity;
mod kept;
mod manifest;
mod params;
mod percentile;
mod user_month;

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use chrono::NaiveDate;
use datafusion::arrow::array::{ArrayRef, AsArray, RecordBatch, UInt32Array};
use datafusion::arrow::compute::{cast, concat_batches, take_record_batch};
use datafusion::arrow::datatypes::{DataType, Date32Type, Field, Schema, SchemaRef};
use datafusion::catalog::MemTable;
use datafusion::common::ParamValues;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::{SessionConfig, SessionContext, col, lit};
use serde::Serialize;

use chunks::DayRange;

pub use definition::{
    Column, ColumnType, EMBEDDED, SqlDefinition, SqlKind, load_catalog, load_sql_files,
};
pub use functions::{BuiltFunction, SqlFunction, register as register_function};
pub use params::{FeatureArea, FunnelStep, MetricParams, StepSource};
pub use percentile::percentile_cont_udaf;

use crate::engine::{Engine, EngineError};
use crate::lake::{
    DerivedTable, Lake, LakeError, PartitionType, PartitionValue, register_tables, tables,
};

#[derive(Debug, thiserror::Error)]
pub enum DeriveError {
    #[error("{origin}:{line}: {message}")]
    Definition {
        origin: String,
        line: usize,
        message: String,
    },
    #[error("parameter {key}: {message}")]
    Param { key: String, message: String },
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
    #[error("{origin}: the result does not match the declared columns: {message}")]
    Shape { origin: String, message: String },
    #[error("unknown metric {name:?}; `usagelake metrics list` shows the known ones")]
    UnknownMetric { name: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error(transparent)]
    Lake(#[from] LakeError),
}

/// Memory the derive step's queries may hold before they spill to disk.
pub(crate) fn memory_limit_bytes() -> usize {
    std::env::var("USAGELAKE_DERIVE_MEMORY_MB")
        .ok()
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(1536)
        * 1024
        * 1024
}

/// One derive run.
#[derive(Debug, Clone)]
pub struct DeriveRequest {
    pub params: MetricParams,
    /// A folder of `.sql` files that replace or add to the shipped ones.
    pub sql_dir: Option<PathBuf>,
    /// Only these metrics (all when `None`); the pipeline tables always run.
    pub metrics: Option<Vec<String>>,
    /// Derive every local day's per-day tables again instead of reusing
    /// those whose inputs did not change.
    pub force: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableOutcome {
    pub table: String,
    pub kind: &'static str,
    pub rows: u64,
    pub partitions: usize,
    pub millis: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct DeriveReport {
    pub as_of: NaiveDate,
    /// Local days whose per-day tables this run computed.
    pub days_derived: usize,
    /// Local days whose per-day tables were read as the lake held them.
    pub days_reused: usize,
    pub tables: Vec<TableOutcome>,
    pub millis: u64,
}

impl std::fmt::Display for DeriveReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let metrics = self.tables.iter().filter(|t| t.kind == "metric").count();
        let rows: u64 = self
            .tables
            .iter()
            .filter(|t| t.kind == "metric")
            .map(|t| t.rows)
            .sum();
        write!(
            f,
            "derived {metrics} metric tables ({rows} rows) as of {} in {:.1} s",
            self.as_of,
            self.millis as f64 / 1000.0
        )?;
        if self.days_derived + self.days_reused > 0 {
            write!(
                f,
                "; per-day tables of {} days derived, {} reused",
                self.days_derived, self.days_reused
            )?;
        }
        Ok(())
    }
}

/// The lake tables a derive run writes for `def`.
pub fn output_table(def: &SqlDefinition) -> Option<DerivedTable> {
    let key = match def.kind {
        SqlKind::Metric => "as_of",
        SqlKind::Intermediate => "date",
        SqlKind::View | SqlKind::Cached => return None,
    };
    Some(DerivedTable {
        name: def.name.clone(),
        schema: def.schema(),
        partition_keys: vec![(key, PartitionType::Date)],
    })
}

/// The shipped metric and intermediate tables as the lake holds them.
pub fn shipped_outputs() -> Vec<DerivedTable> {
    load_catalog(None)
        .expect("built-in SQL files parse (unit-tested)")
        .iter()
        .filter_map(output_table)
        .collect()
}

/// Registers the shipped metric and intermediate tables (as written in the
/// lake) in `ctx`, so `usagelake query` reads them like the raw tables.
pub fn register_outputs(ctx: &SessionContext) -> Result<(), LakeError> {
    for table in shipped_outputs() {
        let provider = crate::lake::listing_table_for(&table)?;
        ctx.register_table(table.name.as_str(), Arc::new(provider))?;
    }
    Ok(())
}

fn sql_error(def: &SqlDefinition, source: DataFusionError) -> DeriveError {
    DeriveError::Sql {
        origin: def.origin.clone(),
        source: Box::new(source),
    }
}

/// Runs the whole derive pipeline for `request.params.as_of`.
pub async fn derive(lake: &Lake, request: &DeriveRequest) -> Result<DeriveReport, DeriveError> {
    derive_on(lake, request, &Engine::Local).await
}

/// [`derive`] with its queries run by `engine`; the results are written
/// here, by the lake writer, whatever the engine.
pub async fn derive_on(
    lake: &Lake,
    request: &DeriveRequest,
    engine: &Engine,
) -> Result<DeriveReport, DeriveError> {
    let started = Instant::now();
    let catalog = load_catalog(request.sql_dir.as_deref())?;
    if let Some(only) = &request.metrics {
        for name in only {
            if !catalog
                .iter()
                .any(|d| d.kind == SqlKind::Metric && &d.name == name)
            {
                return Err(DeriveError::UnknownMetric { name: name.clone() });
            }
        }
    }
    let params = &request.params;
    let ctx = session(lake, params, engine).await?;
    let base = params.placeholders();
    let as_of = params.as_of;
    let mut outcomes: BTreeMap<usize, TableOutcome> = BTreeMap::new();
    let mut record = |index: usize, def: &SqlDefinition, derived: &Derived, started: Instant| {
        if def.kind == SqlKind::View {
            return;
        }
        let millis = started.elapsed().as_millis() as u64;
        tracing::debug!(table = %def.name, rows = derived.rows, ms = millis, "derived");
        let outcome = outcomes.entry(index).or_insert_with(|| TableOutcome {
            table: def.name.clone(),
            kind: def.kind.as_str(),
            rows: 0,
            partitions: 0,
            millis: 0,
        });
        outcome.rows += derived.rows;
        outcome.partitions += derived.partitions;
        outcome.millis += millis;
    };
    let mut days = (0, 0);
    let window_cached = window_cached(&catalog);
    let mut months = None;

    // Phase 1: the daily tables (and the views before them) of the days the
    // lake does not already hold as they are now, chunk by chunk.
    if let Some(last_daily) = catalog.iter().rposition(|d| d.daily) {
        let pipeline = manifest::daily_pipeline(&catalog);
        let intermediates: Vec<DerivedTable> = pipeline
            .iter()
            .filter(|d| d.kind == SqlKind::Intermediate)
            .filter_map(|d| output_table(d))
            .collect();
        let shape = manifest::shape_hash(params, &pipeline);
        let plan =
            manifest::plan(lake, params, shape.clone(), &intermediates, request.force).await?;
        let chunks = chunks::cut(&plan.dirty, &plan.utc_rows, params.chunk_events);
        tracing::debug!(
            derived = plan.dirty.len(),
            reused = plan.reused,
            chunks = chunks.len(),
            "daily tables"
        );
        plan.begin(lake).await?;
        let mut written: BTreeMap<String, BTreeSet<NaiveDate>> = BTreeMap::new();
        for range in &chunks {
            let placeholders = with_days(&base, *range, params);
            for (index, def) in catalog[..=last_daily].iter().enumerate() {
                if def.kind != SqlKind::View && !def.daily {
                    continue;
                }
                let step_started = Instant::now();
                let derived = run_definition(&ctx, lake, def, &placeholders, as_of).await?;
                written
                    .entry(def.name.clone())
                    .or_default()
                    .extend(&derived.dates);
                record(index, def, &derived, step_started);
            }
        }
        let deleted = plan.finish(lake, &written).await?;
        tracing::debug!(deleted, "stale per-day partitions");
        days = (plan.dirty.len(), plan.reused);
        // Phase 2 reads every day up to as_of from the lake: the days just
        // written and the ones reused alike.
        for def in &pipeline {
            if def.kind == SqlKind::Intermediate {
                register_from_lake(&ctx, def, as_of)?;
            }
        }
        if let Some(user_day) = intermediates.iter().find(|t| t.name == "user_day") {
            let plan = user_month::plan(
                lake,
                user_day,
                as_of,
                &shape,
                request.force,
                catalog.iter().find(|d| d.name == "user_month"),
            )
            .await?;
            let (computed, kept) = plan.counts();
            tracing::debug!(computed, kept, "user_month months");
            plan.register(&ctx)
                .await
                .map_err(|e| DeriveError::Lake(LakeError::DataFusion(e)))?;
            months = Some(plan);
        }
    }

    // Phase 2: everything else over the whole history, with the views
    // bound to the days the window metrics read.
    let window = DayRange {
        start: params.activity_start(),
        end: as_of,
    };
    let mut placeholders = with_days(&base, window, params);
    let identity = identity::plan(
        lake,
        params,
        request.force,
        catalog
            .iter()
            .any(|d| d.name == "identity" && d.is_shipped()),
    )
    .await?;
    tracing::debug!(from = %identity.from, folds = identity.folds(), "identity");
    identity
        .register(&ctx)
        .map_err(|e| DeriveError::Lake(LakeError::DataFusion(e)))?;
    if let ParamValues::Map(map) = &mut placeholders {
        map.insert(
            "identity_from".to_string(),
            functions::date_value(identity.from).into(),
        );
    }
    for (index, def) in catalog.iter().enumerate() {
        if def.daily {
            if def.kind == SqlKind::Cached && window_cached.contains(def.name.as_str()) {
                run_definition(&ctx, lake, def, &placeholders, as_of).await?;
            }
            continue;
        }
        if def.kind == SqlKind::Metric
            && request
                .metrics
                .as_ref()
                .is_some_and(|only| !only.contains(&def.name))
        {
            continue;
        }
        let step_started = Instant::now();
        let derived = run_definition(&ctx, lake, def, &placeholders, as_of).await?;
        let computed = step_started.elapsed();
        if def.name == "identity" && def.kind == SqlKind::Cached {
            identity.save(lake, &ctx, params).await?;
        }
        if def.name == "user_month"
            && def.kind == SqlKind::Cached
            && let Some(months) = &months
        {
            months.save(lake, &ctx).await?;
        }
        tracing::debug!(
            table = %def.name,
            ms = computed.as_millis() as u64,
            kept_ms = (step_started.elapsed() - computed).as_millis() as u64,
            "computed"
        );
        record(index, def, &derived, step_started);
    }
    Ok(DeriveReport {
        as_of,
        days_derived: days.0,
        days_reused: days.1,
        tables: outcomes.into_values().collect(),
        millis: started.elapsed().as_millis() as u64,
    })
}

/// Runs `defs` in order for `as_of` in `ctx`: views registered, cached
/// tables kept, metrics written as `as_of=` partitions. For SQL catalogs
/// without per-day tables (the platform analyses), which need none of the
/// chunking above.
pub async fn run_catalog(
    ctx: &SessionContext,
    lake: &Lake,
    defs: &[SqlDefinition],
    placeholders: &ParamValues,
    as_of: NaiveDate,
) -> Result<Vec<TableOutcome>, DeriveError> {
    let mut outcomes = Vec::new();
    for def in defs {
        let started = Instant::now();
        let derived = run_definition(ctx, lake, def, placeholders, as_of).await?;
        if def.kind != SqlKind::View {
            outcomes.push(TableOutcome {
                table: def.name.clone(),
                kind: def.kind.as_str(),
                rows: derived.rows,
                partitions: derived.partitions,
                millis: started.elapsed().as_millis() as u64,
            });
        }
    }
    Ok(outcomes)
}

/// The daily cached tables phase 2 computes over the window: they are not
/// in the lake, so those a later file reads, and the daily cached tables
/// they come from, are computed again for the days phase 2 reads.
fn window_cached(catalog: &[SqlDefinition]) -> HashSet<&str> {
    let daily_cached = || {
        catalog
            .iter()
            .filter(|d| d.daily && d.kind == SqlKind::Cached)
    };
    let mut needed: HashSet<&str> = daily_cached()
        .filter(|d| {
            catalog
                .iter()
                .any(|x| !x.daily && mentions(&x.sql, &d.name))
        })
        .map(|d| d.name.as_str())
        .collect();
    loop {
        let more: Vec<&str> = daily_cached()
            .filter(|d| !needed.contains(d.name.as_str()))
            .filter(|d| {
                catalog
                    .iter()
                    .filter(|x| needed.contains(x.name.as_str()))
                    .any(|x| mentions(&x.sql, &d.name))
            })
            .map(|d| d.name.as_str())
            .collect();
        if more.is_empty() {
            return needed;
        }
        needed.extend(more);
    }
}

/// `base` plus the day range being computed: `$day_start`/`$day_end` (local
/// days) and `$utc_start`/`$utc_end` (the raw partitions they touch).
fn with_days(base: &ParamValues, range: DayRange, params: &MetricParams) -> ParamValues {
    let ParamValues::Map(map) = base else {
        unreachable!("placeholders are named")
    };
    let (utc_start, utc_end) = range.utc_days(params.timezone);
    let mut map = map.clone();
    for (key, day) in [
        ("day_start", range.start),
        ("day_end", range.end),
        ("utc_start", utc_start),
        ("utc_end", utc_end),
    ] {
        map.insert(key.to_string(), functions::date_value(day).into());
    }
    ParamValues::Map(map)
}

/// Whether `sql` names `table` as a whole word (a cheap, conservative
/// "is read by": a false hit only keeps a table around).
fn mentions(sql: &str, table: &str) -> bool {
    sql.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|word| word.eq_ignore_ascii_case(table))
}

async fn session(
    lake: &Lake,
    params: &MetricParams,
    engine: &Engine,
) -> Result<SessionContext, DeriveError> {
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(memory_limit_bytes(), 1.0)
        .build_arc()
        .map_err(|e| DeriveError::Lake(LakeError::DataFusion(e)))?;
    let config = SessionConfig::new()
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let ctx = engine.session(lake, config, runtime).await?;
    register_tables(&ctx, lake, tables::ALL)?;
    engine.register_functions(&ctx, &functions::all(params));
    register_parameter_tables(&ctx, params)
        .map_err(|e| DeriveError::Lake(LakeError::DataFusion(e)))?;
    Ok(ctx)
}

/// `feature_areas(area, area_order)`, `funnel_steps(step_index,
/// step_name)` and `funnel_step_events(step_index, source, name)`.
fn register_parameter_tables(
    ctx: &SessionContext,
    params: &MetricParams,
) -> datafusion::error::Result<()> {
    use datafusion::arrow::array::{Int64Array, StringArray};
    let table =
        |fields: Vec<Field>, columns: Vec<ArrayRef>| -> datafusion::error::Result<Arc<MemTable>> {
            let schema = Arc::new(Schema::new(fields));
            let batch = RecordBatch::try_new(Arc::clone(&schema), columns)?;
            Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
        };
    let areas = &params.feature_areas;
    ctx.register_table(
        "feature_areas",
        table(
            vec![
                Field::new("area", DataType::Utf8, false),
                Field::new("area_order", DataType::Int64, false),
            ],
            vec![
                Arc::new(StringArray::from_iter_values(
                    areas.iter().map(|a| a.name.as_str()),
                )),
                Arc::new(Int64Array::from_iter_values(1..=areas.len() as i64)),
            ],
        )?,
    )?;
    let steps = &params.funnel_steps;
    ctx.register_table(
        "funnel_steps",
        table(
            vec![
                Field::new("step_index", DataType::Int64, false),
                Field::new("step_name", DataType::Utf8, false),
            ],
            vec![
                Arc::new(Int64Array::from_iter_values(1..=steps.len() as i64)),
                Arc::new(StringArray::from_iter_values(
                    steps.iter().map(|s| s.name.as_str()),
                )),
            ],
        )?,
    )?;
    let events: Vec<(i64, &str, &str)> = steps
        .iter()
        .enumerate()
        .flat_map(|(i, s)| {
            s.names
                .iter()
                .map(move |n| (i as i64 + 1, s.source.as_str(), n.as_str()))
        })
        .collect();
    ctx.register_table(
        "funnel_step_events",
        table(
            vec![
                Field::new("step_index", DataType::Int64, false),
                Field::new("source", DataType::Utf8, false),
                Field::new("name", DataType::Utf8, false),
            ],
            vec![
                Arc::new(Int64Array::from_iter_values(events.iter().map(|e| e.0))),
                Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.1))),
                Arc::new(StringArray::from_iter_values(events.iter().map(|e| e.2))),
            ],
        )?,
    )?;
    Ok(())
}

/// What one SQL file produced.
struct Derived {
    rows: u64,
    partitions: usize,
    /// The `date=` partitions an intermediate wrote.
    dates: Vec<NaiveDate>,
}

async fn run_definition(
    ctx: &SessionContext,
    lake: &Lake,
    def: &SqlDefinition,
    placeholders: &ParamValues,
    as_of: NaiveDate,
) -> Result<Derived, DeriveError> {
    let err = |source| sql_error(def, source);
    let df = ctx
        .sql(&def.sql)
        .await
        .map_err(err)?
        .with_param_values(placeholders.clone())
        .map_err(err)?;
    let keep = |schema: SchemaRef, batches: Vec<RecordBatch>| -> Result<(), DeriveError> {
        let table = MemTable::try_new(schema, vec![batches]).map_err(err)?;
        replace_table(ctx, &def.name, Arc::new(table)).map_err(err)
    };
    match def.kind {
        SqlKind::View => {
            replace_table(ctx, &def.name, df.into_view()).map_err(err)?;
            Ok(Derived {
                rows: 0,
                partitions: 0,
                dates: Vec::new(),
            })
        }
        SqlKind::Cached => {
            let schema: SchemaRef = Arc::new(df.schema().as_arrow().clone());
            let batches = crate::lake::collect_naming_damage(df).await.map_err(err)?;
            let rows = batches.iter().map(|b| b.num_rows() as u64).sum();
            keep(schema, batches)?;
            Ok(Derived {
                rows,
                partitions: 0,
                dates: Vec::new(),
            })
        }
        SqlKind::Intermediate => {
            let batches = crate::lake::collect_naming_damage(df).await.map_err(err)?;
            let with_date = conform(def, &batches, true)?;
            let rows = with_date.num_rows() as u64;
            let target = output_table(def).expect("intermediate has an output table");
            let by_date = split_by_date(&with_date)?;
            let dates: Vec<NaiveDate> = by_date.keys().copied().collect();
            for (date, batch) in by_date {
                lake.write_partition(&target)
                    .partition([PartitionValue::Date(date)])
                    .write(&[batch])
                    .await?;
            }
            keep(with_date.schema(), vec![with_date])?;
            Ok(Derived {
                rows,
                partitions: dates.len(),
                dates,
            })
        }
        SqlKind::Metric => {
            let batches = crate::lake::collect_naming_damage(df).await.map_err(err)?;
            let batch = conform(def, &batches, false)?;
            let target = output_table(def).expect("metric has an output table");
            let rows = batch.num_rows() as u64;
            lake.write_partition(&target)
                .partition([PartitionValue::Date(as_of)])
                .write(&[batch])
                .await?;
            Ok(Derived {
                rows,
                partitions: 1,
                dates: Vec::new(),
            })
        }
    }
}

/// Registers intermediate `def` as the lake holds it, days up to `as_of`
/// (a later run may have written later days).
fn register_from_lake(
    ctx: &SessionContext,
    def: &SqlDefinition,
    as_of: NaiveDate,
) -> Result<(), DeriveError> {
    let err = |source| sql_error(def, source);
    let table = output_table(def).expect("intermediate has an output table");
    let provider = crate::lake::listing_table_for(&table)?;
    let days = ctx
        .read_table(Arc::new(provider))
        .map_err(err)?
        .filter(col("date").lt_eq(lit(functions::date_value(as_of))))
        .map_err(err)?;
    replace_table(ctx, &def.name, days.into_view()).map_err(err)
}

/// Registers `table` as `name`, replacing what a previous chunk or phase
/// registered under that name.
fn replace_table(
    ctx: &SessionContext,
    name: &str,
    table: Arc<dyn datafusion::catalog::TableProvider>,
) -> datafusion::error::Result<()> {
    ctx.deregister_table(name)?;
    ctx.register_table(name, table)?;
    Ok(())
}

/// Checks a result against the declared columns and returns it as one
/// batch in declared order (with a leading `date` for intermediates).
/// String views are stored as plain strings; any other type difference is
/// the SQL file's to fix, so it is an error naming the column.
fn conform(
    def: &SqlDefinition,
    batches: &[RecordBatch],
    with_date: bool,
) -> Result<RecordBatch, DeriveError> {
    let shape = |message: String| DeriveError::Shape {
        origin: def.origin.clone(),
        message,
    };
    let mut wanted: Vec<Column> = Vec::new();
    if with_date {
        wanted.push(Column {
            name: "date".into(),
            ty: ColumnType::Date,
        });
    }
    wanted.extend(def.columns.iter().cloned());
    let out_schema = Arc::new(Schema::new(
        wanted
            .iter()
            .map(|c| Field::new(&c.name, c.ty.data_type(), true))
            .collect::<Vec<_>>(),
    ));
    let Some(first) = batches.first() else {
        return Ok(RecordBatch::new_empty(out_schema));
    };
    let got = first.schema();
    for field in got.fields() {
        if !wanted.iter().any(|c| c.name == *field.name()) {
            return Err(shape(format!(
                "column {} is not declared; add it to `-- columns:` or drop it from the SELECT",
                field.name()
            )));
        }
    }
    let mut indices = Vec::new();
    for column in &wanted {
        let index = got.index_of(&column.name).map_err(|_| {
            shape(format!(
                "declared column {} is missing from the SELECT",
                column.name
            ))
        })?;
        let actual = got.field(index).data_type();
        let expected = column.ty.data_type();
        let string_view = matches!(actual, DataType::Utf8View | DataType::LargeUtf8)
            && expected == DataType::Utf8;
        if actual != &expected && !string_view && actual != &DataType::Null {
            return Err(shape(format!(
                "column {} is {actual}, declared {}; write CAST(… AS {}) in the SELECT",
                column.name,
                column.ty.as_str(),
                column.ty.as_str()
            )));
        }
        indices.push(index);
    }
    let whole = concat_batches(&got, batches).map_err(|e| shape(e.to_string()))?;
    let columns = indices
        .iter()
        .zip(&wanted)
        .map(|(&i, column)| {
            let array = whole.column(i);
            if array.data_type() == &column.ty.data_type() {
                Ok(Arc::clone(array))
            } else {
                cast(array, &column.ty.data_type())
            }
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| shape(e.to_string()))?;
    RecordBatch::try_new(out_schema, columns).map_err(|e| shape(e.to_string()))
}

/// Splits a batch whose first column is `date` into one batch per date,
/// without the date column (it is the partition key).
fn split_by_date(batch: &RecordBatch) -> Result<BTreeMap<NaiveDate, RecordBatch>, DeriveError> {
    let dates = batch.column(0).as_primitive::<Date32Type>();
    let mut rows: BTreeMap<i32, Vec<u32>> = BTreeMap::new();
    for (i, d) in dates.iter().enumerate() {
        if let Some(d) = d {
            rows.entry(d).or_default().push(i as u32);
        }
    }
    let without_date = batch
        .project(&(1..batch.num_columns()).collect::<Vec<_>>())
        .map_err(|e| LakeError::DataFusion(e.into()))?;
    let mut out = BTreeMap::new();
    for (day, indices) in rows {
        let date = functions::date_from_days(day);
        let part = take_record_batch(&without_date, &UInt32Array::from(indices))
            .map_err(|e| LakeError::DataFusion(e.into()))?;
        out.insert(date, part);
    }
    Ok(out)
}

/// One line per metric for `usagelake metrics list`.
pub fn describe(catalog: &[SqlDefinition]) -> Vec<(String, String, String)> {
    catalog
        .iter()
        .filter(|d| d.kind == SqlKind::Metric)
        .map(|d| {
            (
                d.family.clone().unwrap_or_default(),
                d.name.clone(),
                d.summary.clone(),
            )
        })
        .collect()
}
