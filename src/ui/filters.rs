//! The page's global filters as they arrive in a query string: parsed,
//! checked (a bad value is a 400 naming the key and why) and turned into
//! bound placeholder values.

use std::collections::{BTreeMap, HashMap};

use chrono::{Days, NaiveDate};
use datafusion::common::{ParamValues, ScalarValue};

use super::UiError;

/// Query keys the data API accepts; `x`/`y` only on drilldowns.
const FILTER_KEYS: &[&str] = &[
    "as_of", "from", "to", "domain", "role", "license", "group", "package",
];
const DRILL_KEYS: &[&str] = &["x", "y"];

/// The default date range when the page gives none: the 30 days up to
/// the as-of date, the metrics' default window.
const DEFAULT_RANGE_DAYS: u64 = 29;
/// A longer range makes the rolling series scan more than a page should.
const MAX_RANGE_DAYS: i64 = 3 * 366;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filters {
    pub as_of: NaiveDate,
    pub from: NaiveDate,
    pub to: NaiveDate,
    pub domain: String,
    pub role: String,
    pub license: String,
    pub group: String,
    pub package: String,
    /// The clicked point of a drilldown.
    pub x: String,
    pub y: String,
}

impl Filters {
    /// Parses `query`; `default_as_of` is the lake's latest metrics date.
    /// Unknown keys, unparsable dates, a reversed or too long range and
    /// text values with control characters are refused.
    pub fn parse(
        query: &HashMap<String, String>,
        default_as_of: NaiveDate,
        drill: bool,
    ) -> Result<Self, UiError> {
        let ordered: BTreeMap<_, _> = query.iter().collect();
        for key in ordered.keys() {
            let known = FILTER_KEYS.contains(&key.as_str())
                || (drill && DRILL_KEYS.contains(&key.as_str()));
            if !known {
                return Err(UiError::BadFilter(format!(
                    "unknown filter {key:?}; known: {}",
                    if drill {
                        [FILTER_KEYS, DRILL_KEYS].concat().join(", ")
                    } else {
                        FILTER_KEYS.join(", ")
                    }
                )));
            }
        }
        let text = |key: &str| -> Result<String, UiError> {
            let value = query.get(key).map(|v| v.trim()).unwrap_or("");
            if value.len() > 512 || value.chars().any(char::is_control) {
                return Err(UiError::BadFilter(format!(
                    "{key}: at most 512 characters and no control characters"
                )));
            }
            Ok(value.to_string())
        };
        let date = |key: &str| -> Result<Option<NaiveDate>, UiError> {
            match query.get(key).map(|v| v.trim()).filter(|v| !v.is_empty()) {
                None => Ok(None),
                Some(v) => NaiveDate::parse_from_str(v, "%Y-%m-%d")
                    .map(Some)
                    .map_err(|_| {
                        UiError::BadFilter(format!(
                            "{key}: {:?} is not a date; write YYYY-MM-DD",
                            v.chars().take(40).collect::<String>()
                        ))
                    }),
            }
        };
        let as_of = date("as_of")?.unwrap_or(default_as_of);
        let to = date("to")?.unwrap_or(as_of);
        let from = date("from")?.unwrap_or(to - Days::new(DEFAULT_RANGE_DAYS));
        if from > to {
            return Err(UiError::BadFilter(format!(
                "from {from} is after to {to}; swap them"
            )));
        }
        if (to - from).num_days() > MAX_RANGE_DAYS {
            return Err(UiError::BadFilter(format!(
                "from {from} to {to} spans more than {MAX_RANGE_DAYS} days; pick a shorter range"
            )));
        }
        Ok(Self {
            as_of,
            from,
            to,
            domain: text("domain")?,
            role: text("role")?,
            license: text("license")?,
            group: text("group")?,
            package: text("package")?,
            x: text("x")?,
            y: text("y")?,
        })
    }

    /// The placeholder values every panel query may use.
    pub fn placeholders(&self) -> ParamValues {
        let date = |d: NaiveDate| {
            let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date");
            ScalarValue::Date32(Some((d - epoch).num_days() as i32))
        };
        let text = |s: &str| ScalarValue::Utf8(Some(s.to_string()));
        let values = [
            ("as_of", date(self.as_of)),
            ("from", date(self.from)),
            ("to", date(self.to)),
            ("domain", text(&self.domain)),
            ("role", text(&self.role)),
            ("license", text(&self.license)),
            ("group", text(&self.group)),
            ("package", text(&self.package)),
            ("x", text(&self.x)),
            ("y", text(&self.y)),
        ];
        ParamValues::Map(
            values
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.into()))
                .collect(),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)], drill: bool) -> Result<Filters, String> {
        let query = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let default = NaiveDate::from_ymd_opt(2026, 11, 20).unwrap();
        Filters::parse(&query, default, drill).map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_are_the_thirty_days_up_to_the_latest_metrics_date() {
        let f = parse(&[], false).unwrap();
        assert_eq!(f.as_of.to_string(), "2026-11-20");
        assert_eq!(f.to.to_string(), "2026-11-20");
        assert_eq!(f.from.to_string(), "2026-10-22");
        assert_eq!(f.domain, "");
    }

    #[test]
    fn bad_values_name_the_key_and_the_fix() {
        assert_eq!(
            parse(&[("as_of", "2026-13-01")], false).unwrap_err(),
            "bad filter: as_of: \"2026-13-01\" is not a date; write YYYY-MM-DD"
        );
        assert_eq!(
            parse(&[("from", "2026-11-21"), ("to", "2026-11-20")], false).unwrap_err(),
            "bad filter: from 2026-11-21 is after to 2026-11-20; swap them"
        );
        assert_eq!(
            parse(&[("x", "a")], false).unwrap_err(),
            "bad filter: unknown filter \"x\"; known: as_of, from, to, domain, role, license, group, package"
        );
        assert!(parse(&[("x", "a")], true).is_ok());
        assert_eq!(
            parse(&[("domain", "a\u{0}b")], false).unwrap_err(),
            "bad filter: domain: at most 512 characters and no control characters"
        );
    }
}
