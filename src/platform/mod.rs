//! The platform usage analyses (seed 002): what a Usage Analysis
//! application shows over a platform's event store (unique users over
//! time, usage by package, function usage with durations, event sources,
//! errors, request latency, summary cards), computed from
//! `platform_events`, `platform_errors` and `platform_users`.
//!
//! Each analysis is a SQL file in `jobs/sql/platform/` (built in), with the
//! metric files' header, written as `tables/<name>/as_of=D/`. The window is
//! the UTC days [D−W+1, D]; the cards compare it with the W days before.
//! The filters are job parameters bound as data: `groups` (user groups by
//! name, nested groups included) and `packages` (package names); empty
//! means everything.

use std::sync::Arc;
use std::time::Instant;

use chrono::{Days, NaiveDate};
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, Date32Array, RecordBatch, StringArray, StringBuilder,
};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::catalog::MemTable;
use datafusion::common::{ParamValues, ScalarValue};
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::config::Params;
use crate::engine::Engine;
use crate::lake::{DerivedTable, Lake, LakeError, register_tables, tables};
use crate::metrics::{self, DeriveError, DeriveReport, SqlDefinition, SqlKind};

macro_rules! embedded {
    ($($file:literal),* $(,)?) => {
        &[$(($file, include_str!(concat!("../../jobs/sql/platform/", $file)))),*]
    };
}

/// The shipped platform SQL files, in run order.
pub const EMBEDDED: &[(&str, &str)] = embedded!(
    "platform_latest_users.sql",
    "platform_selected_users.sql",
    "platform_window_events.sql",
    "platform_window_errors.sql",
    "platform_active_users.sql",
    "platform_package_usage.sql",
    "platform_function_usage.sql",
    "platform_event_sources.sql",
    "platform_error_signatures.sql",
    "platform_request_latency.sql",
    "platform_cards.sql",
);

/// The parameters of a platform derive, from the job's `[params]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformParams {
    pub as_of: NaiveDate,
    /// W: the window is [as_of − W + 1, as_of].
    pub window_days: i64,
    /// Group names; users in any of them (or a group nested in one) count.
    pub groups: Vec<String>,
    /// Package names; only their events count.
    pub packages: Vec<String>,
}

fn bad(key: &str, message: impl Into<String>) -> DeriveError {
    DeriveError::Param {
        key: key.to_string(),
        message: message.into(),
    }
}

/// A list of names: a TOML list of strings, or one string (`--set
/// groups=Chemists`), empty for none.
fn names(params: &Params, key: &str) -> Result<Vec<String>, DeriveError> {
    match params.get(key) {
        None => Ok(Vec::new()),
        Some(toml::Value::String(s)) if s.trim().is_empty() => Ok(Vec::new()),
        Some(toml::Value::String(s)) => Ok(vec![s.clone()]),
        Some(toml::Value::Array(items)) => items
            .iter()
            .map(|item| match item {
                toml::Value::String(s) => Ok(s.clone()),
                other => Err(bad(
                    key,
                    format!("{other} is not a name; write {key} = [\"a\", \"b\"] (empty for all)"),
                )),
            })
            .collect(),
        Some(other) => Err(bad(
            key,
            format!(
                "expected a list of names, got {other}; write {key} = [\"a\", \"b\"] (empty for all)"
            ),
        )),
    }
}

impl PlatformParams {
    pub fn from_params(params: &Params, as_of: NaiveDate) -> Result<Self, DeriveError> {
        let window_days = match params.get("window_days") {
            None => 30,
            Some(toml::Value::Integer(i)) if (1..=3660).contains(i) => *i,
            Some(other) => {
                return Err(bad(
                    "window_days",
                    format!(
                        "expected a whole number of days from 1 to 3660, got {other}; write window_days = 30"
                    ),
                ));
            }
        };
        Ok(Self {
            as_of,
            window_days,
            groups: names(params, "groups")?,
            packages: names(params, "packages")?,
        })
    }

    fn days_before(&self, n: i64) -> NaiveDate {
        self.as_of - Days::new(n as u64)
    }

    /// First day of the window.
    pub fn window_start(&self) -> NaiveDate {
        self.days_before(self.window_days - 1)
    }

    fn placeholders(&self) -> ParamValues {
        let date = |d: NaiveDate| ScalarValue::Date32(Some(epoch_days(d)));
        let w = self.window_days;
        let values: Vec<(&str, ScalarValue)> = vec![
            ("as_of", date(self.as_of)),
            ("window_days", ScalarValue::Int64(Some(w))),
            ("window_start", date(self.window_start())),
            ("prev_window_start", date(self.days_before(2 * w - 1))),
            ("prev_window_end", date(self.days_before(w))),
            (
                "all_groups",
                ScalarValue::Boolean(Some(self.groups.is_empty())),
            ),
            (
                "all_packages",
                ScalarValue::Boolean(Some(self.packages.is_empty())),
            ),
        ];
        ParamValues::Map(
            values
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect(),
        )
    }
}

fn epoch_days(day: NaiveDate) -> i32 {
    (day - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")).num_days() as i32
}

/// The shipped platform definitions.
pub fn catalog() -> Vec<SqlDefinition> {
    EMBEDDED
        .iter()
        .map(|(file, text)| {
            SqlDefinition::parse(&format!("jobs/sql/platform/{file} (built in)"), text)
                .expect("built-in platform SQL files parse (unit-tested)")
        })
        .collect()
}

/// The platform tables as the lake holds them (for `query` and `tables`).
pub fn shipped_outputs() -> Vec<DerivedTable> {
    catalog().iter().filter_map(metrics::output_table).collect()
}

/// Registers the platform analysis tables in `ctx`, so `usagelake query`
/// reads them like the raw tables.
pub fn register_outputs(ctx: &SessionContext) -> Result<(), LakeError> {
    for table in shipped_outputs() {
        let provider = crate::lake::listing_table_for(&table)?;
        ctx.register_table(table.name.as_str(), Arc::new(provider))?;
    }
    Ok(())
}

/// Derives every platform analysis for `params.as_of`.
pub async fn derive(lake: &Lake, params: &PlatformParams) -> Result<DeriveReport, DeriveError> {
    derive_on(lake, params, &Engine::Local).await
}

/// [`derive`] with its queries run by `engine`.
pub async fn derive_on(
    lake: &Lake,
    params: &PlatformParams,
    engine: &Engine,
) -> Result<DeriveReport, DeriveError> {
    let started = Instant::now();
    let ctx = session(lake, params, engine).await?;
    let tables =
        metrics::run_catalog(&ctx, lake, &catalog(), &params.placeholders(), params.as_of).await?;
    Ok(DeriveReport {
        as_of: params.as_of,
        days_derived: 0,
        days_reused: 0,
        tables,
        millis: started.elapsed().as_millis() as u64,
    })
}

async fn session(
    lake: &Lake,
    params: &PlatformParams,
    engine: &Engine,
) -> Result<SessionContext, DeriveError> {
    let lake_err = |e| DeriveError::Lake(LakeError::DataFusion(e));
    let runtime = RuntimeEnvBuilder::new()
        .with_memory_limit(metrics::memory_limit_bytes(), 1.0)
        .build_arc()
        .map_err(lake_err)?;
    let config = SessionConfig::new()
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let ctx = engine.session(lake, config, runtime).await?;
    register_tables(&ctx, lake, tables::ALL)?;
    // Exact percentiles: DataFusion's own quantizes the interpolation weight.
    engine.register_functions(
        &ctx,
        &[
            metrics::SqlFunction::JsonText,
            metrics::SqlFunction::PercentileCont,
        ],
    );
    register_parameter_tables(&ctx, params).map_err(lake_err)?;
    Ok(ctx)
}

/// `platform_window_days(day)`: every day of the window, so a day without
/// events still has its row; `platform_filter_groups(name)`,
/// `platform_filter_packages(name)`: the filters.
fn register_parameter_tables(
    ctx: &SessionContext,
    params: &PlatformParams,
) -> datafusion::error::Result<()> {
    let one_column = |name: &str, data_type: DataType, array: ArrayRef| {
        let schema = Arc::new(Schema::new(vec![Field::new(name, data_type, false)]));
        let batch = RecordBatch::try_new(Arc::clone(&schema), vec![array])?;
        MemTable::try_new(schema, vec![vec![batch]]).map(Arc::new)
    };
    let start = params.window_start();
    let days: Date32Array = (0..params.window_days)
        .map(|i| Some(epoch_days(start + Days::new(i as u64))))
        .collect();
    ctx.register_table(
        "platform_window_days",
        one_column("day", DataType::Date32, Arc::new(days))?,
    )?;
    for (table, names) in [
        ("platform_filter_groups", &params.groups),
        ("platform_filter_packages", &params.packages),
    ] {
        let array: StringArray = names.iter().map(|n| Some(n.as_str())).collect();
        ctx.register_table(table, one_column("name", DataType::Utf8, Arc::new(array))?)?;
    }
    Ok(())
}

/// `json_text(json, key)`: the value of `key` in a JSON object text as a
/// string (numbers and booleans as written), NULL when absent, null or
/// the text is not an object. Event parameters are stored as such objects.
pub(crate) fn json_text() -> ScalarUDF {
    create_udf(
        "json_text",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let rows = args
                .iter()
                .find_map(|a| match a {
                    ColumnarValue::Array(a) => Some(a.len()),
                    ColumnarValue::Scalar(_) => None,
                })
                .unwrap_or(1);
            // Parquet strings may arrive as views: read them as plain strings.
            let arrays = args
                .iter()
                .map(|a| {
                    let array = a.clone().into_array(rows)?;
                    Ok(cast(&array, &DataType::Utf8)?)
                })
                .collect::<datafusion::error::Result<Vec<_>>>()?;
            let (texts, keys) = (arrays[0].as_string::<i32>(), arrays[1].as_string::<i32>());
            let mut out = StringBuilder::new();
            for i in 0..rows {
                let value = match (texts.is_valid(i), keys.is_valid(i)) {
                    (true, true) => lookup(texts.value(i), keys.value(i)),
                    _ => None,
                };
                out.append_option(value);
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        }),
    )
}

fn lookup(text: &str, key: &str) -> Option<String> {
    let serde_json::Value::Object(map) = serde_json::from_str(text).ok()? else {
        return None;
    };
    match map.get(key)? {
        serde_json::Value::Null => None,
        serde_json::Value::String(s) => Some(s.clone()),
        other => Some(other.to_string()),
    }
}

/// One line per platform table for `usagelake metrics list`.
pub fn describe() -> Vec<(String, String, String)> {
    catalog()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_platform_file_parses_and_names_its_columns() {
        let defs = catalog();
        let metrics: Vec<&str> = defs
            .iter()
            .filter(|d| d.kind == SqlKind::Metric)
            .map(|d| d.name.as_str())
            .collect();
        assert_eq!(
            metrics,
            [
                "platform_active_users",
                "platform_package_usage",
                "platform_function_usage",
                "platform_event_sources",
                "platform_error_signatures",
                "platform_request_latency",
                "platform_cards",
            ]
        );
    }

    #[test]
    fn params_take_defaults_lists_and_single_names() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 10).unwrap();
        let p = PlatformParams::from_params(&Params::new(), day).unwrap();
        assert_eq!((p.window_days, p.groups.len()), (30, 0));
        assert_eq!(
            p.window_start(),
            NaiveDate::from_ymd_opt(2026, 2, 9).unwrap()
        );
        let mut params = Params::new();
        params.insert("groups".into(), toml::Value::String("Chemists".into()));
        params.insert(
            "packages".into(),
            toml::Value::Array(vec![toml::Value::String("Chem".into())]),
        );
        params.insert("window_days".into(), toml::Value::Integer(7));
        let p = PlatformParams::from_params(&params, day).unwrap();
        assert_eq!(
            (p.groups, p.packages),
            (vec!["Chemists".to_string()], vec!["Chem".to_string()])
        );
        params.insert("window_days".into(), toml::Value::Integer(0));
        let err = PlatformParams::from_params(&params, day).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter window_days: expected a whole number of days from 1 to 3660, got 0; write window_days = 30"
        );
    }

    #[test]
    fn json_text_reads_strings_numbers_and_nothing_else() {
        let text = r#"{"route":"/api/x","status":404,"none":null}"#;
        assert_eq!(lookup(text, "route").as_deref(), Some("/api/x"));
        assert_eq!(lookup(text, "status").as_deref(), Some("404"));
        assert_eq!(lookup(text, "none"), None);
        assert_eq!(lookup(text, "missing"), None);
        assert_eq!(lookup("[1]", "route"), None);
        assert_eq!(lookup("not json", "route"), None);
    }
}
