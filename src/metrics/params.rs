//! Metric parameters (METRICS.md §0): read from the job's `[params]`, with
//! the documented defaults, validated before any query runs. They reach SQL
//! as bound placeholders (`$as_of`, `$window_days`, …) and as small tables
//! (`feature_areas`, `funnel_steps`), never as pasted text.

use std::collections::HashMap;

use chrono::NaiveDate;
use chrono_tz::Tz;
use datafusion::common::{ParamValues, ScalarValue};

use super::DeriveError;
use crate::config::Params;

pub const DEFAULT_NOISE_EVENTS: &[&str] = &[
    "atlan_analaytics_aggregateinfo_fetch",
    "api_error_emit",
    "api_evaluator_cancelled",
    "api_evaluator_succeeded",
    "Experiment Started",
    "$experiment_started",
    "web_vital_metric_inp_track",
    "web_vital_metric_ttfb_track",
    "web_vital_metric_fcp_track",
    "web_vital_metric_lcp_track",
    "performance_metric_user_timing_discovery_search",
    "performance_metric_user_timing_app_bootstrap",
];

const DEFAULT_SEARCH_EVENTS: &[&str] = &[
    "discovery_search_results",
    "atlan_ai_conversation_prompt_submitted",
];

/// `(area, pages, event prefixes)` in AREAS order.
const DEFAULT_FEATURE_AREAS: &[(&str, &[&str], &[&str])] = &[
    ("Discovery", &["discovery"], &["discovery_"]),
    (
        "Chrome Extension",
        &["reverse-metadata-sidebar"],
        &["chrome_"],
    ),
    ("Insights", &["saved_query", "insights"], &["insights_"]),
    (
        "Governance",
        &[
            "glossary",
            "term",
            "category",
            "classifications",
            "custom_metadata",
        ],
        &["governance_", "gtc_tree_"],
    ),
    ("AI Copilot", &[], &["atlan_ai_"]),
    ("Lineage", &[], &["lineage_"]),
    ("Asset Profile", &["asset_profile", "overview"], &[]),
    (
        "Admin",
        &[
            "users",
            "personas",
            "config",
            "sso",
            "api-access",
            "api_keys",
            "policyManager",
            "manage",
        ],
        &[],
    ),
    (
        "Workflows",
        &["workflows-home", "workflows-profile", "runs", "playbook"],
        &[],
    ),
    ("Data Quality", &["monitor"], &[]),
    ("Data Products", &[], &["products_home_"]),
    ("Marketplace", &["marketplace"], &[]),
];

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeatureArea {
    pub name: String,
    pub pages: Vec<String>,
    pub event_prefixes: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepSource {
    Page,
    Track,
}

impl StepSource {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Page => "page",
            Self::Track => "track",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunnelStep {
    pub name: String,
    pub source: StepSource,
    pub names: Vec<String>,
}

/// Every parameter of METRICS.md §0, resolved.
#[derive(Debug, Clone)]
pub struct MetricParams {
    pub as_of: NaiveDate,
    pub timezone: Tz,
    pub window_days: i64,
    pub wau_days: i64,
    pub session_gap_minutes: f64,
    pub noise_events: Vec<String>,
    pub noise_prefixes: Vec<String>,
    pub search_events: Vec<String>,
    pub feature_areas: Vec<FeatureArea>,
    pub stickiness_strong: f64,
    pub stickiness_moderate: f64,
    pub roster_churned_days: i64,
    pub top_n: i64,
    pub power_users_top_n: i64,
    pub power_weights: [f64; 3],
    pub tier_power_percent_rank: f64,
    pub reactivation_gap_days: i64,
    pub retention_days: i64,
    pub funnel_steps: Vec<FunnelStep>,
    pub funnel_conversion_days: i64,
    /// Raw events per chunk of days for the daily tables (memory, not
    /// results: any value gives the same tables).
    pub chunk_events: u64,
}

/// Reads typed values out of the job's params, naming the key on error.
struct Reader<'a> {
    params: &'a Params,
}

fn bad(key: &str, message: impl Into<String>) -> DeriveError {
    DeriveError::Param {
        key: key.to_string(),
        message: message.into(),
    }
}

impl Reader<'_> {
    fn int(&self, key: &str, default: i64, min: i64) -> Result<i64, DeriveError> {
        let value = match self.params.get(key) {
            None => default,
            Some(toml::Value::Integer(i)) => *i,
            Some(other) => {
                return Err(bad(
                    key,
                    format!("expected a whole number, got {other}; write {key} = {default}"),
                ));
            }
        };
        if value < min {
            return Err(bad(key, format!("{value} is below the minimum {min}")));
        }
        Ok(value)
    }

    fn float(&self, key: &str, default: f64, range: (f64, f64)) -> Result<f64, DeriveError> {
        let value = match self.params.get(key) {
            None => default,
            Some(toml::Value::Float(f)) => *f,
            Some(toml::Value::Integer(i)) => *i as f64,
            Some(other) => {
                return Err(bad(
                    key,
                    format!("expected a number, got {other}; write {key} = {default}"),
                ));
            }
        };
        if !(range.0..=range.1).contains(&value) {
            return Err(bad(
                key,
                format!("{value} is outside [{}, {}]", range.0, range.1),
            ));
        }
        Ok(value)
    }

    fn strings(&self, key: &str, default: &[&str]) -> Result<Vec<String>, DeriveError> {
        match self.params.get(key) {
            None => Ok(default.iter().map(|s| s.to_string()).collect()),
            Some(value) => string_list(key, value),
        }
    }
}

fn string_list(key: &str, value: &toml::Value) -> Result<Vec<String>, DeriveError> {
    let fix = || format!("expected a list of strings, e.g. {key} = [\"a\", \"b\"]");
    let toml::Value::Array(items) = value else {
        return Err(bad(key, fix()));
    };
    items
        .iter()
        .map(|item| match item {
            toml::Value::String(s) => Ok(s.clone()),
            _ => Err(bad(key, fix())),
        })
        .collect()
}

fn table_field<'a>(
    key: &str,
    index: usize,
    table: &'a toml::Table,
    field: &str,
) -> Result<&'a toml::Value, DeriveError> {
    table.get(field).ok_or_else(|| {
        bad(
            &format!("{key}[{index}]"),
            format!("missing {field:?}; each entry needs {field} = …"),
        )
    })
}

fn tables<'a>(key: &str, value: &'a toml::Value) -> Result<Vec<&'a toml::Table>, DeriveError> {
    let toml::Value::Array(items) = value else {
        return Err(bad(
            key,
            format!("expected a list of tables: [[params.{key}]] entries"),
        ));
    };
    items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            item.as_table().ok_or_else(|| {
                bad(
                    &format!("{key}[{i}]"),
                    "expected a table with named fields".to_string(),
                )
            })
        })
        .collect()
}

fn feature_areas(value: Option<&toml::Value>) -> Result<Vec<FeatureArea>, DeriveError> {
    let key = "feature_areas";
    let Some(value) = value else {
        return Ok(DEFAULT_FEATURE_AREAS
            .iter()
            .map(|(name, pages, prefixes)| FeatureArea {
                name: name.to_string(),
                pages: pages.iter().map(|s| s.to_string()).collect(),
                event_prefixes: prefixes.iter().map(|s| s.to_string()).collect(),
            })
            .collect());
    };
    let mut areas = Vec::new();
    for (i, table) in tables(key, value)?.into_iter().enumerate() {
        let at = format!("{key}[{i}]");
        for field in table.keys() {
            if !matches!(field.as_str(), "name" | "pages" | "event_prefixes") {
                return Err(bad(
                    &at,
                    format!("unknown field {field:?}; fields are name, pages, event_prefixes"),
                ));
            }
        }
        let name = match table_field(key, i, table, "name")? {
            toml::Value::String(s) if !s.is_empty() => s.clone(),
            _ => return Err(bad(&at, "name must be a non-empty string")),
        };
        let list = |field: &str| {
            table
                .get(field)
                .map(|v| string_list(&format!("{at}.{field}"), v))
                .transpose()
                .map(Option::unwrap_or_default)
        };
        areas.push(FeatureArea {
            name,
            pages: list("pages")?,
            event_prefixes: list("event_prefixes")?,
        });
    }
    Ok(areas)
}

fn funnel_steps(value: Option<&toml::Value>) -> Result<Vec<FunnelStep>, DeriveError> {
    let key = "funnel_steps";
    let Some(value) = value else {
        return Ok(vec![
            FunnelStep {
                name: "Visited discovery".into(),
                source: StepSource::Page,
                names: vec!["discovery".into()],
            },
            FunnelStep {
                name: "Searched".into(),
                source: StepSource::Track,
                names: vec!["discovery_search_results".into()],
            },
            FunnelStep {
                name: "Opened asset".into(),
                source: StepSource::Page,
                names: vec!["asset_profile".into()],
            },
        ]);
    };
    let mut steps = Vec::new();
    for (i, table) in tables(key, value)?.into_iter().enumerate() {
        let at = format!("{key}[{i}]");
        for field in table.keys() {
            if !matches!(field.as_str(), "name" | "source" | "names") {
                return Err(bad(
                    &at,
                    format!("unknown field {field:?}; fields are name, source, names"),
                ));
            }
        }
        let name = match table_field(key, i, table, "name")? {
            toml::Value::String(s) if !s.is_empty() => s.clone(),
            _ => return Err(bad(&at, "name must be a non-empty string")),
        };
        let source = match table_field(key, i, table, "source")? {
            toml::Value::String(s) if s == "page" => StepSource::Page,
            toml::Value::String(s) if s == "track" => StepSource::Track,
            other => {
                return Err(bad(
                    &format!("{at}.source"),
                    format!("{other} is not a source; write \"page\" or \"track\""),
                ));
            }
        };
        let names = string_list(&format!("{at}.names"), table_field(key, i, table, "names")?)?;
        if names.is_empty() {
            return Err(bad(&format!("{at}.names"), "list at least one name"));
        }
        steps.push(FunnelStep {
            name,
            source,
            names,
        });
    }
    if steps.is_empty() {
        return Err(bad(key, "a funnel needs at least one step"));
    }
    Ok(steps)
}

impl MetricParams {
    /// Resolves every parameter from the job's params for as-of date `as_of`.
    pub fn from_params(params: &Params, as_of: NaiveDate) -> Result<Self, DeriveError> {
        let r = Reader { params };
        let timezone = match params.get("timezone") {
            None => chrono_tz::UTC,
            Some(toml::Value::String(name)) => {
                crate::config::check_timezone(name).map_err(|message| bad("timezone", message))?
            }
            Some(other) => {
                return Err(bad(
                    "timezone",
                    format!("expected an IANA zone name, got {other}; write timezone = \"UTC\""),
                ));
            }
        };
        let weights = match params.get("power_weights") {
            None => [40.0, 30.0, 30.0],
            Some(toml::Value::Array(items)) if items.len() == 3 => {
                let mut out = [0.0; 3];
                for (slot, item) in out.iter_mut().zip(items) {
                    *slot = match item {
                        toml::Value::Integer(i) if *i >= 0 => *i as f64,
                        toml::Value::Float(f) if *f >= 0.0 => *f,
                        _ => {
                            return Err(bad(
                                "power_weights",
                                "weights must be numbers ≥ 0, e.g. [40, 30, 30]",
                            ));
                        }
                    };
                }
                out
            }
            Some(_) => {
                return Err(bad(
                    "power_weights",
                    "expected three weights (active days, breadth, volume), e.g. [40, 30, 30]",
                ));
            }
        };
        let out = Self {
            as_of,
            timezone,
            window_days: r.int("window_days", 30, 1)?,
            wau_days: r.int("wau_days", 7, 1)?,
            session_gap_minutes: r.float("session_gap_minutes", 30.0, (0.0, 1440.0))?,
            noise_events: r.strings("noise_events", DEFAULT_NOISE_EVENTS)?,
            noise_prefixes: r.strings("noise_prefixes", &["workflow_"])?,
            search_events: r.strings("search_events", DEFAULT_SEARCH_EVENTS)?,
            feature_areas: feature_areas(params.get("feature_areas"))?,
            stickiness_strong: r.float("stickiness_strong", 0.3, (0.0, 1.0))?,
            stickiness_moderate: r.float("stickiness_moderate", 0.1, (0.0, 1.0))?,
            roster_churned_days: r.int("roster_churned_days", 90, 1)?,
            top_n: r.int("top_n", 50, 1)?,
            power_users_top_n: r.int("power_users_top_n", 25, 1)?,
            power_weights: weights,
            tier_power_percent_rank: r.float("tier_power_percent_rank", 0.9, (0.0, 1.0))?,
            reactivation_gap_days: r.int("reactivation_gap_days", 30, 1)?,
            retention_days: r.int("retention_days", 14, 0)?,
            funnel_steps: funnel_steps(params.get("funnel_steps"))?,
            funnel_conversion_days: r.int("funnel_conversion_days", 14, 0)?,
            chunk_events: r.int("chunk_events", 16_000_000, 1)? as u64,
        };
        if out.stickiness_moderate > out.stickiness_strong {
            return Err(bad(
                "stickiness_moderate",
                format!(
                    "{} is above stickiness_strong ({}); the moderate band must start lower",
                    out.stickiness_moderate, out.stickiness_strong
                ),
            ));
        }
        if out.roster_churned_days < out.window_days {
            return Err(bad(
                "roster_churned_days",
                format!(
                    "{} is below window_days ({}); a user cannot be churned while still in the window",
                    out.roster_churned_days, out.window_days
                ),
            ));
        }
        Ok(out)
    }

    fn days_before(&self, days: i64) -> NaiveDate {
        self.as_of - chrono::Duration::days(days)
    }

    /// First local date any shipped metric reads raw activity for: the
    /// window, and the funnel's entry window plus its conversion days.
    pub fn activity_start(&self) -> NaiveDate {
        self.days_before(self.window_days + self.funnel_conversion_days - 1)
    }

    /// The placeholder values every SQL file may use.
    pub fn placeholders(&self) -> ParamValues {
        let date = super::functions::date_value;
        let int = |i: i64| ScalarValue::Int64(Some(i));
        let float = |f: f64| ScalarValue::Float64(Some(f));
        let w = self.window_days;
        let c = self.funnel_conversion_days;
        let values: Vec<(&str, ScalarValue)> = vec![
            ("as_of", date(self.as_of)),
            (
                "timezone",
                ScalarValue::Utf8(Some(self.timezone.name().into())),
            ),
            ("window_days", int(w)),
            ("window_start", date(self.days_before(w - 1))),
            ("prev_window_start", date(self.days_before(2 * w - 1))),
            ("prev_window_end", date(self.days_before(w))),
            ("wau_days", int(self.wau_days)),
            ("activity_start", date(self.activity_start())),
            (
                "session_gap_us",
                int((self.session_gap_minutes * 60_000_000.0).round() as i64),
            ),
            ("stickiness_strong", float(self.stickiness_strong)),
            ("stickiness_moderate", float(self.stickiness_moderate)),
            ("roster_churned_days", int(self.roster_churned_days)),
            ("top_n", int(self.top_n)),
            ("power_users_top_n", int(self.power_users_top_n)),
            ("power_weight_days", float(self.power_weights[0])),
            ("power_weight_breadth", float(self.power_weights[1])),
            ("power_weight_volume", float(self.power_weights[2])),
            (
                "tier_power_percent_rank",
                float(self.tier_power_percent_rank),
            ),
            ("reactivation_gap_days", int(self.reactivation_gap_days)),
            ("retention_days", int(self.retention_days)),
            ("cohort_date", date(self.days_before(self.retention_days))),
            ("funnel_conversion_days", int(c)),
            ("funnel_conversion_us", int(c * 86_400_000_000)),
            ("funnel_step_count", int(self.funnel_steps.len() as i64)),
            ("funnel_entry_start", date(self.days_before(c + w - 1))),
            ("funnel_entry_end", date(self.days_before(c))),
        ];
        ParamValues::Map(
            values
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect::<HashMap<_, _>>(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(text: &str) -> Params {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_follow_metrics_md() {
        let p = MetricParams::from_params(
            &Params::new(),
            NaiveDate::from_ymd_opt(2026, 3, 31).unwrap(),
        )
        .unwrap();
        assert_eq!(p.window_days, 30);
        assert_eq!(p.noise_events.len(), 12);
        assert_eq!(p.feature_areas.len(), 12);
        assert_eq!(p.funnel_steps.len(), 3);
        assert_eq!(
            p.activity_start(),
            NaiveDate::from_ymd_opt(2026, 2, 16).unwrap()
        );
    }

    #[test]
    fn errors_name_the_parameter_and_the_fix() {
        let day = NaiveDate::from_ymd_opt(2026, 3, 31).unwrap();
        let err = MetricParams::from_params(&params("window_days = \"30\""), day).unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter window_days: expected a whole number, got \"30\"; write window_days = 30"
        );
        let err = MetricParams::from_params(
            &params("[[funnel_steps]]\nname = \"a\"\nsource = \"click\"\nnames = [\"x\"]"),
            day,
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "parameter funnel_steps[0].source: \"click\" is not a source; write \"page\" or \"track\""
        );
    }
}
