//! SQL functions the metric files call. Each is built from the run's
//! parameters, so a noise list or area mapping is bound data, not SQL text.
//!
//! - `to_local_date(ts, tz)`: the calendar date of a UTC timestamp in zone
//!   `tz`, with the zone's DST rules.
//! - `is_noise(event_name)`, `is_search(event_name)`: METRICS.md §0.
//! - `feature_area(source, name)`: the area of a page (`'page'`, exact
//!   page_name) or track (`'track'`, literal event-name prefix), or NULL.
//! - `funnel_times(step_index, ts_us, is_entry)`: aggregate; the times (µs)
//!   at which one user reached each funnel step, greedy and ordered.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, ListArray, StringArray,
};
use datafusion::arrow::datatypes::{
    DataType, Field, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, ColumnarValue, ScalarUDF, Volatility, create_udaf, create_udf,
};
use datafusion::prelude::SessionContext;

use super::params::{FeatureArea, MetricParams};

/// Registers every function of this module in `ctx` for `params`.
pub fn register(ctx: &SessionContext, params: &MetricParams) {
    ctx.register_udf(to_local_date());
    ctx.register_udf(is_noise(&params.noise_events, &params.noise_prefixes));
    ctx.register_udf(is_search(&params.search_events));
    ctx.register_udf(feature_area(&params.feature_areas));
    ctx.register_udaf(funnel_times(
        params.funnel_steps.len(),
        params.funnel_conversion_days * 86_400_000_000,
    ));
}

fn utc_micros() -> DataType {
    DataType::Timestamp(TimeUnit::Microsecond, Some("UTC".into()))
}

fn array_arg(args: &[ColumnarValue], index: usize) -> Result<ArrayRef> {
    match &args[index] {
        ColumnarValue::Array(a) => Ok(Arc::clone(a)),
        ColumnarValue::Scalar(s) => s.to_array_of_size(1),
    }
}

/// The zone's offset is looked up once per UTC hour instead of per row:
/// transitions are months apart, so an hour whose two ends share an offset
/// holds none; an hour with a transition is looked up row by row.
struct LocalDates {
    tz: Tz,
    hour: i64,
    offset_us: Option<i64>,
}

const HOUR_US: i64 = 3_600_000_000;
const DAY_US: i64 = 86_400_000_000;
const EPOCH_DAYS_CE: i32 = 719_163;

impl LocalDates {
    fn offset_at(&self, us: i64) -> i64 {
        let utc = DateTime::from_timestamp_micros(us).unwrap_or_default();
        i64::from(
            self.tz
                .offset_from_utc_datetime(&utc.naive_utc())
                .fix()
                .local_minus_utc(),
        ) * 1_000_000
    }

    fn local_day(&mut self, us: i64) -> i32 {
        let hour = us.div_euclid(HOUR_US);
        if hour != self.hour {
            self.hour = hour;
            let start = self.offset_at(hour * HOUR_US);
            let end = self.offset_at(hour * HOUR_US + HOUR_US - 1);
            self.offset_us = (start == end).then_some(start);
        }
        let offset = self.offset_us.unwrap_or_else(|| self.offset_at(us));
        (us + offset).div_euclid(DAY_US) as i32
    }
}

fn to_local_date() -> ScalarUDF {
    create_udf(
        "to_local_date",
        vec![utc_micros(), DataType::Utf8],
        DataType::Date32,
        Volatility::Immutable,
        Arc::new(|args: &[ColumnarValue]| {
            let ColumnarValue::Scalar(ScalarValue::Utf8(Some(zone))) = &args[1] else {
                return exec_err!("to_local_date: the time zone must be one constant string");
            };
            let tz: Tz = zone.parse().map_err(|_| {
                DataFusionError::Execution(format!("to_local_date: unknown time zone {zone:?}"))
            })?;
            let ts = array_arg(args, 0)?;
            let ts = ts.as_primitive::<TimestampMicrosecondType>();
            let mut days = LocalDates {
                tz,
                hour: i64::MIN,
                offset_us: None,
            };
            let out: Date32Array = ts.iter().map(|v| v.map(|us| days.local_day(us))).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn string_predicate(
    name: &str,
    test: impl Fn(Option<&str>) -> bool + Send + Sync + 'static,
) -> ScalarUDF {
    create_udf(
        name,
        vec![DataType::Utf8],
        DataType::Boolean,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let values = array_arg(args, 0)?;
            let values = values.as_string::<i32>();
            let out: BooleanArray = values.iter().map(|v| Some(test(v))).collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn is_noise(events: &[String], prefixes: &[String]) -> ScalarUDF {
    let events: HashSet<String> = events.iter().cloned().collect();
    let prefixes = prefixes.to_vec();
    string_predicate("is_noise", move |name| match name {
        None | Some("") => true,
        Some(name) => {
            events.contains(name) || prefixes.iter().any(|p| name.starts_with(p.as_str()))
        }
    })
}

fn is_search(events: &[String]) -> ScalarUDF {
    let events: HashSet<String> = events.iter().cloned().collect();
    string_predicate("is_search", move |name| {
        name.is_some_and(|n| events.contains(n))
    })
}

fn feature_area(areas: &[FeatureArea]) -> ScalarUDF {
    let areas = areas.to_vec();
    create_udf(
        "feature_area",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let sources = array_arg(args, 0)?;
            let names = array_arg(args, 1)?;
            let (sources, names) = (sources.as_string::<i32>(), names.as_string::<i32>());
            let len = names.len().max(sources.len());
            let out: StringArray = (0..len)
                .map(|i| {
                    let source = sources.value(if sources.len() == 1 { 0 } else { i });
                    let null = if sources.len() == 1 {
                        sources.is_null(0)
                    } else {
                        sources.is_null(i)
                    };
                    if null || names.is_null(i) {
                        return None;
                    }
                    area_of(&areas, source, names.value(i))
                })
                .collect();
            Ok(ColumnarValue::Array(Arc::new(out)))
        }),
    )
}

fn area_of<'a>(areas: &'a [FeatureArea], source: &str, name: &str) -> Option<&'a str> {
    let found = match source {
        "page" => areas.iter().find(|a| a.pages.iter().any(|p| p == name)),
        "track" => areas.iter().find(|a| {
            a.event_prefixes
                .iter()
                .any(|p| name.starts_with(p.as_str()))
        }),
        _ => None,
    };
    found.map(|a| a.name.as_str())
}

fn list_of_i64() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))
}

fn funnel_times(steps: usize, window_us: i64) -> AggregateUDF {
    create_udaf(
        "funnel_times",
        vec![DataType::Int64, DataType::Int64, DataType::Boolean],
        Arc::new(list_of_i64()),
        Volatility::Immutable,
        Arc::new(move |_| {
            Ok(Box::new(FunnelTimes {
                steps,
                window_us,
                events: Vec::new(),
            }))
        }),
        Arc::new(vec![
            list_of_i64(),
            list_of_i64(),
            DataType::List(Arc::new(Field::new("item", DataType::Boolean, true))),
        ]),
    )
}

/// One user's step events; the greedy walk runs once all are in.
#[derive(Debug)]
struct FunnelTimes {
    steps: usize,
    window_us: i64,
    /// (step index, time µs, whether it may open the funnel)
    events: Vec<(i64, i64, bool)>,
}

impl FunnelTimes {
    fn push_arrays(&mut self, steps: &ArrayRef, times: &ArrayRef, entries: &ArrayRef) {
        let steps = steps.as_primitive::<Int64Type>();
        let times = times.as_primitive::<Int64Type>();
        let entries = entries.as_boolean();
        for i in 0..steps.len() {
            if steps.is_null(i) || times.is_null(i) {
                continue;
            }
            let entry = !entries.is_null(i) && entries.value(i);
            self.events.push((steps.value(i), times.value(i), entry));
        }
    }

    /// METRICS.md §5: t1 = earliest entry event of step 1; each later step
    /// the earliest event strictly after the previous step and within the
    /// conversion window of t1.
    fn walk(&self) -> Vec<i64> {
        let Some(t1) = self
            .events
            .iter()
            .filter(|(s, _, entry)| *s == 1 && *entry)
            .map(|(_, t, _)| *t)
            .min()
        else {
            return Vec::new();
        };
        let mut times = vec![t1];
        for step in 2..=self.steps as i64 {
            let prev = *times.last().expect("non-empty");
            let next = self
                .events
                .iter()
                .filter(|(s, t, _)| *s == step && *t > prev && *t - t1 <= self.window_us)
                .map(|(_, t, _)| *t)
                .min();
            match next {
                Some(t) => times.push(t),
                None => break,
            }
        }
        times
    }
}

fn list_scalar(values: impl IntoIterator<Item = ScalarValue>, ty: &DataType) -> ScalarValue {
    ScalarValue::List(ScalarValue::new_list_nullable(
        &values.into_iter().collect::<Vec<_>>(),
        ty,
    ))
}

impl Accumulator for FunnelTimes {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.push_arrays(&values[0], &values[1], &values[2]);
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(list_scalar(
            self.walk().into_iter().map(|t| ScalarValue::Int64(Some(t))),
            &DataType::Int64,
        ))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self)
            + self.events.capacity() * std::mem::size_of::<(i64, i64, bool)>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![
            list_scalar(
                self.events.iter().map(|e| ScalarValue::Int64(Some(e.0))),
                &DataType::Int64,
            ),
            list_scalar(
                self.events.iter().map(|e| ScalarValue::Int64(Some(e.1))),
                &DataType::Int64,
            ),
            list_scalar(
                self.events.iter().map(|e| ScalarValue::Boolean(Some(e.2))),
                &DataType::Boolean,
            ),
        ])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        let lists: Vec<&ListArray> = states.iter().map(|s| s.as_list::<i32>()).collect();
        for row in 0..lists[0].len() {
            if lists[0].is_null(row) {
                continue;
            }
            let (s, t, e) = (
                lists[0].value(row),
                lists[1].value(row),
                lists[2].value(row),
            );
            self.push_arrays(&s, &t, &e);
        }
        Ok(())
    }
}

/// The date of a Date32 value (days since 1970-01-01).
pub fn date_from_days(days: i32) -> NaiveDate {
    NaiveDate::from_num_days_from_ce_opt(days + EPOCH_DAYS_CE).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn local(zone: &str, utc: &str) -> NaiveDate {
        let us = DateTime::parse_from_rfc3339(utc)
            .unwrap()
            .timestamp_micros();
        let mut days = LocalDates {
            tz: zone.parse().unwrap(),
            hour: i64::MIN,
            offset_us: None,
        };
        date_from_days(days.local_day(us))
    }

    #[test]
    fn local_dates_follow_dst() {
        // 2026-03-08: New York springs forward at 07:00 UTC (02:00 EST).
        assert_eq!(
            local("America/New_York", "2026-03-09T03:30:00Z").to_string(),
            "2026-03-08"
        );
        assert_eq!(
            local("America/New_York", "2026-03-09T04:30:00Z").to_string(),
            "2026-03-09"
        );
        // Before the change the offset is -5: 04:30Z is 23:30 on the 7th.
        assert_eq!(
            local("America/New_York", "2026-03-08T04:30:00Z").to_string(),
            "2026-03-07"
        );
        assert_eq!(
            local("Asia/Kolkata", "2026-03-08T18:29:59Z").to_string(),
            "2026-03-08"
        );
        assert_eq!(
            local("Asia/Kolkata", "2026-03-08T18:30:00Z").to_string(),
            "2026-03-09"
        );
        assert_eq!(
            local("UTC", "1969-12-31T23:59:59Z").to_string(),
            "1969-12-31"
        );
    }

    #[test]
    fn funnel_walk_is_ordered_greedy_and_windowed() {
        let f = FunnelTimes {
            steps: 3,
            window_us: 100,
            events: vec![
                (1, 10, false),
                (1, 20, true),
                (2, 15, false),
                (2, 30, false),
                (3, 30, false),
                (3, 121, false),
            ],
        };
        // Step 2 at 15 is before t1 = 20; step 3 must be strictly after 30
        // and within 100 of t1: 121 is 101 late.
        assert_eq!(f.walk(), vec![20, 30]);
    }
}
