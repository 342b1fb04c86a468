//! Job definitions: `jobs/<name>.toml`.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{ConfigErrors, ConfigProblem, CronSchedule, SourceText, parse_typed};

/// Job parameters: free-form values that steps reference as `{name}` and
/// that `--set name=value` overrides for one run.
pub type Params = BTreeMap<String, toml::Value>;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobConfig {
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    /// 5-field cron read in `timezone`; absent = on demand only.
    #[serde(default)]
    pub schedule: Option<String>,
    /// IANA zone of `schedule`, of the scheduled runs' logical dates and
    /// of a derive step's day buckets when `params.timezone` is unset
    /// [default: defaults.timezone].
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub params: Params,
    pub steps: Vec<StepConfig>,
}

/// One step of a job, run in order for a logical date.
#[derive(Debug, Clone, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum StepConfig {
    /// Segment-spec NDJSON (plain or gzip) into pages / tracks / users.
    Ingest {
        /// Folder, `file://` or `s3://` prefix of the event files.
        source: String,
        #[serde(default)]
        files: FileSelection,
        /// Quarantine a page or track whose `timestamp` is more than this
        /// many days after its `receivedAt` [default: 1].
        #[serde(default)]
        event_time_max_ahead_days: Option<u32>,
        /// … or more than this many days before it [default: 365].
        #[serde(default)]
        event_time_max_behind_days: Option<u32>,
    },
    /// Scrape a BI tool connector into bi_queries.
    BiSync { connector: String },
    /// Mine a warehouse's query log into bi_queries.
    MineLogs { connector: String },
    /// Read a platform's event store (PostgreSQL) into the platform tables.
    CollectEvents { connector: String },
    /// Run metric SQL files into metric tables.
    Derive {
        /// Which shipped tables: the product metrics, or the platform
        /// event-store analyses.
        #[serde(default)]
        catalog: DeriveCatalog,
        #[serde(default)]
        sql_dir: Option<String>,
        #[serde(default)]
        metrics: Option<Vec<String>>,
    },
    /// Recompute product_usage_stats and table_usage_stats of a space.
    Aggregate {
        space: String,
        /// A folder of `.sql` files that replace (by `-- name:`) or add to
        /// the shipped usage files (`jobs/sql/usage/`).
        #[serde(default)]
        sql_dir: Option<String>,
    },
}

impl StepConfig {
    /// What kind of connector the step needs, when `kind` is not one.
    pub fn connector_mismatch(&self, kind: super::ConnectorKind) -> Option<&'static str> {
        let need = match self {
            Self::BiSync { .. } => super::ConnectorUse::BiSync,
            Self::MineLogs { .. } => super::ConnectorUse::MineLogs,
            Self::CollectEvents { .. } => super::ConnectorUse::CollectEvents,
            _ => return None,
        };
        (!need.fits(kind)).then_some(need.wanted())
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Self::Ingest { .. } => "ingest",
            Self::BiSync { .. } => "bi_sync",
            Self::MineLogs { .. } => "mine_logs",
            Self::CollectEvents { .. } => "collect_events",
            Self::Derive { .. } => "derive",
            Self::Aggregate { .. } => "aggregate",
        }
    }
}

/// The SQL files a derive step runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeriveCatalog {
    /// The product-analytics metrics of `jobs/sql/` (docs/metrics.md).
    #[default]
    Metrics,
    /// The platform event-store analyses of `jobs/sql/platform/`
    /// (docs/platform.md).
    Platform,
}

/// Which input files an ingest step reads for a logical date D.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileSelection {
    /// Files in D's arrival folder (Segment's `<epoch_ms>/`, or
    /// `YYYY-MM-DD/`, `date=YYYY-MM-DD/`); files outside any dated folder are
    /// read on every run (dedup keeps that idempotent).
    #[default]
    ByArrivalDate,
    /// Every file under the source.
    All,
}

impl JobConfig {
    /// Parses and validates one job file (no I/O).
    pub fn parse(
        file: &str,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
        config: &super::AppConfig,
    ) -> Result<Self, ConfigErrors> {
        let source = SourceText { file, text };
        let job: Self = parse_typed(&source, env).map_err(ConfigErrors)?;
        let problems = job.validate(&source, config);
        if problems.is_empty() {
            Ok(job)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    fn validate(&self, source: &SourceText<'_>, config: &super::AppConfig) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let at = |key: &str, message: String| source.problem(source.line_of_key(key), key, message);
        if self.name.is_empty()
            || !self
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            problems.push(at(
                "name",
                format!(
                    "job name {:?} must be non-empty letters, digits, - or _",
                    self.name
                ),
            ));
        }
        if let Some(schedule) = &self.schedule
            && let Err(message) = CronSchedule::parse(schedule)
        {
            problems.push(at("schedule", message));
        }
        if let Some(tz) = &self.timezone
            && let Err(message) = super::check_timezone(tz)
        {
            problems.push(at("timezone", message));
        }
        if let Some(tz) = self.params.get("timezone") {
            match tz.as_str() {
                Some(name) => {
                    if let Err(message) = super::check_timezone(name) {
                        problems.push(at("params.timezone", message));
                    }
                }
                None => problems.push(at(
                    "params.timezone",
                    "must be a string such as \"UTC\"".into(),
                )),
            }
        }
        if self.steps.is_empty() {
            problems.push(at(
                "steps",
                "a job needs at least one [[steps]] entry".into(),
            ));
        }
        for (i, step) in self.steps.iter().enumerate() {
            let key = |field: &str| format!("steps[{i}].{field}");
            match step {
                StepConfig::Ingest { source: src, .. } => {
                    if let Err(message) = expand_params(src, &self.params) {
                        problems.push(at(&key("source"), message));
                    }
                }
                StepConfig::BiSync { connector }
                | StepConfig::MineLogs { connector }
                | StepConfig::CollectEvents { connector } => match expand_params(connector, &self.params)
                {
                    Err(message) => problems.push(at(&key("connector"), message)),
                    // A shipped job names its connector by a parameter left
                    // empty, set per run with --set (the run checks it then).
                    Ok(connector) if connector.is_empty() => {}
                    Ok(connector) => match config.connector(&connector) {
                    None => problems.push(at(
                        &key("connector"),
                        format!(
                            "no connector named {connector:?} in the configuration; known: {:?}",
                            config.connector_names()
                        ),
                    )),
                    Some(c) => {
                        if let Some(wanted) = step.connector_mismatch(c.kind) {
                            problems.push(at(
                                &key("connector"),
                                format!(
                                    "connector {connector:?} is a {} connector; {} takes {wanted}",
                                    c.kind.as_str(),
                                    step.kind()
                                ),
                            ));
                        }
                    }
                    },
                },
                StepConfig::Aggregate { space, .. } => {
                    if !config.spaces.iter().any(|s| &s.slug == space) {
                        problems.push(at(
                            &key("space"),
                            format!("no space with slug {space:?} in the configuration"),
                        ));
                    }
                }
                StepConfig::Derive {
                    catalog,
                    sql_dir,
                    metrics,
                } => {
                    let any_day = chrono::NaiveDate::from_ymd_opt(2026, 1, 1).expect("valid date");
                    let checked = match catalog {
                        DeriveCatalog::Metrics => {
                            crate::metrics::MetricParams::from_params(&self.params, any_day)
                                .map(drop)
                        }
                        DeriveCatalog::Platform => {
                            for (field, set) in
                                [("sql_dir", sql_dir.is_some()), ("metrics", metrics.is_some())]
                            {
                                if set {
                                    problems.push(at(
                                        &key(field),
                                        format!("catalog \"platform\" runs every platform table; remove {field}"),
                                    ));
                                }
                            }
                            crate::platform::PlatformParams::from_params(&self.params, any_day)
                                .map(drop)
                        }
                    };
                    if let Err(crate::metrics::DeriveError::Param { key, message }) = checked {
                        problems.push(at(&format!("params.{key}"), message));
                    }
                }
            }
        }
        problems
    }

    /// The job's parameters with `--set` overrides applied. Only declared
    /// parameters may be overridden: a typo must not be silently ignored.
    pub fn params_with(&self, overrides: &[(String, toml::Value)]) -> Result<Params, String> {
        let mut params = self.params.clone();
        for (key, value) in overrides {
            if !params.contains_key(key) && key != "timezone" {
                return Err(format!(
                    "--set {key}: job {:?} has no parameter {key:?}; its parameters are {:?}",
                    self.name,
                    self.params.keys().collect::<Vec<_>>()
                ));
            }
            params.insert(key.clone(), value.clone());
        }
        Ok(params)
    }
}

/// Replaces `{name}` in a step field with the parameter's value.
pub fn expand_params(text: &str, params: &Params) -> Result<String, String> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("unterminated {{ in {text:?}; write {{parameter_name}}"))?;
        let name = &after[..end];
        match params.get(name) {
            Some(toml::Value::String(s)) => out.push_str(s),
            Some(other) => out.push_str(&other.to_string()),
            None => {
                return Err(format!(
                    "{{{name}}} names no parameter; add {name} = \"…\" under [params] (known: {:?})",
                    params.keys().collect::<Vec<_>>()
                ));
            }
        }
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Parses `key=value` from `--set`: the value as a TOML value when it is
/// one (`7`, `true`, `["a","b"]`), otherwise as a plain string.
pub fn parse_set(arg: &str) -> Result<(String, toml::Value), String> {
    let (key, raw) = arg
        .split_once('=')
        .ok_or_else(|| format!("--set {arg:?}: write key=value"))?;
    let key = key.trim();
    if key.is_empty() {
        return Err(format!("--set {arg:?}: the key is empty; write key=value"));
    }
    let value = toml::from_str::<toml::Table>(&format!("v = {raw}"))
        .ok()
        .and_then(|mut t| t.remove("v"))
        .unwrap_or_else(|| toml::Value::String(raw.to_string()));
    Ok((key.to_string(), value))
}
