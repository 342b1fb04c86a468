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
//! - `sessionize(ts_us, is_page)`: aggregate; one user-day's sessions as a
//!   list of structs (index, start, end, events, pageviews, actions,
//!   duration_s).
//! - `percentile_cont(p) WITHIN GROUP (ORDER BY x)`: aggregate; replaces
//!   DataFusion's, whose interpolation weight is quantized (see percentile.rs).

use std::collections::HashSet;
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;
use datafusion::arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Float64Array, Int64Array, ListArray,
    StringArray, StructArray, TimestampMicrosecondArray,
};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{
    DataType, Field, Fields, Int64Type, TimeUnit, TimestampMicrosecondType,
};
use datafusion::common::{DataFusionError, Result, ScalarValue, exec_err};
use datafusion::logical_expr::{AggregateUDF, ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;
use serde::{Deserialize, Serialize};

use super::collect::{PairsFinish, pairs_udaf};
use super::params::{FeatureArea, MetricParams};
use super::percentile::percentile_cont_udaf;

/// One of our SQL functions with what it is built from: a Ballista node
/// rebuilds the function from this (see `engine`), so a parameter such as
/// the noise list travels with the plan instead of living in the node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "function", rename_all = "snake_case", deny_unknown_fields)]
pub enum SqlFunction {
    ToLocalDate,
    IsNoise {
        events: Vec<String>,
        prefixes: Vec<String>,
    },
    IsSearch {
        events: Vec<String>,
    },
    FeatureArea {
        areas: Vec<FeatureArea>,
    },
    FunnelTimes {
        steps: usize,
        window_us: i64,
    },
    Sessionize {
        gap_us: i64,
    },
    PercentileCont,
    /// The platform analyses' `json_text(json, key)`.
    JsonText,
}

/// A built function, ready to register.
pub enum BuiltFunction {
    Scalar(ScalarUDF),
    Aggregate(AggregateUDF),
}

impl SqlFunction {
    pub fn build(&self) -> BuiltFunction {
        use BuiltFunction::{Aggregate, Scalar};
        match self {
            Self::ToLocalDate => Scalar(to_local_date()),
            Self::IsNoise { events, prefixes } => Scalar(is_noise(events, prefixes)),
            Self::IsSearch { events } => Scalar(is_search(events)),
            Self::FeatureArea { areas } => Scalar(feature_area(areas)),
            Self::FunnelTimes { steps, window_us } => Aggregate(pairs_udaf(FunnelTimes {
                steps: *steps,
                window_us: *window_us,
            })),
            Self::Sessionize { gap_us } => Aggregate(pairs_udaf(Sessionize { gap_us: *gap_us })),
            Self::PercentileCont => Aggregate(percentile_cont_udaf()),
            Self::JsonText => Scalar(crate::platform::json_text()),
        }
    }
}

/// Every function the metric files call, for `params`.
pub fn all(params: &MetricParams) -> Vec<SqlFunction> {
    vec![
        SqlFunction::PercentileCont,
        SqlFunction::ToLocalDate,
        SqlFunction::IsNoise {
            events: params.noise_events.clone(),
            prefixes: params.noise_prefixes.clone(),
        },
        SqlFunction::IsSearch {
            events: params.search_events.clone(),
        },
        SqlFunction::FeatureArea {
            areas: params.feature_areas.clone(),
        },
        SqlFunction::FunnelTimes {
            steps: params.funnel_steps.len(),
            window_us: params.funnel_conversion_days * 86_400_000_000,
        },
        SqlFunction::Sessionize {
            gap_us: (params.session_gap_minutes * 60_000_000.0).round() as i64,
        },
    ]
}

/// Registers `function` in `ctx` as it is (the local engine).
pub fn register(ctx: &SessionContext, function: &SqlFunction) {
    match function.build() {
        BuiltFunction::Scalar(udf) => ctx.register_udf(udf),
        BuiltFunction::Aggregate(udaf) => ctx.register_udaf(udaf),
    }
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

/// `funnel_times(step_index, ts_us, is_entry)`: pairs are
/// (step × 2 + entry flag, ts).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FunnelTimes {
    steps: usize,
    window_us: i64,
}

impl FunnelTimes {
    /// METRICS.md §5: t1 = earliest entry event of step 1; each later step
    /// the earliest event strictly after the previous step and within the
    /// conversion window of t1.
    fn walk(&self, events: &[(i64, i64)]) -> Vec<i64> {
        let step_of = |code: i64| code >> 1;
        let Some(t1) = events
            .iter()
            .filter(|(code, _)| *code == 3)
            .map(|(_, t)| *t)
            .min()
        else {
            return Vec::new();
        };
        let mut times = vec![t1];
        for step in 2..=self.steps as i64 {
            let prev = *times.last().expect("non-empty");
            let next = events
                .iter()
                .filter(|(code, t)| {
                    step_of(*code) == step && *t > prev && *t - t1 <= self.window_us
                })
                .map(|(_, t)| *t)
                .min();
            match next {
                Some(t) => times.push(t),
                None => break,
            }
        }
        times
    }
}

impl PairsFinish for FunnelTimes {
    fn name(&self) -> &'static str {
        "funnel_times"
    }

    fn input_types(&self) -> Vec<DataType> {
        vec![DataType::Int64, DataType::Int64, DataType::Boolean]
    }

    fn output_type(&self) -> DataType {
        DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))
    }

    fn pairs(&self, values: &[ArrayRef]) -> Result<Vec<Option<(i64, i64)>>> {
        let steps = values[0].as_primitive::<Int64Type>();
        let times = values[1].as_primitive::<Int64Type>();
        let entries = values[2].as_boolean();
        Ok((0..steps.len())
            .map(|i| {
                if steps.is_null(i) || times.is_null(i) {
                    return None;
                }
                let entry = !entries.is_null(i) && entries.value(i);
                Some((steps.value(i) * 2 + i64::from(entry), times.value(i)))
            })
            .collect())
    }

    fn finish(&self, groups: &mut [Vec<(i64, i64)>]) -> Result<ArrayRef> {
        let walks: Vec<Vec<i64>> = groups.iter().map(|g| self.walk(g)).collect();
        let offsets = OffsetBuffer::from_lengths(walks.iter().map(Vec::len));
        let values = Int64Array::from_iter_values(walks.into_iter().flatten());
        Ok(Arc::new(ListArray::new(
            Arc::new(Field::new("item", DataType::Int64, true)),
            offsets,
            Arc::new(values),
            None,
        )))
    }
}

/// `sessionize(ts_us, is_page)`: one user-day's events as a list of
/// sessions (METRICS.md "Sessions"); pairs are (ts, page flag).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Sessionize {
    gap_us: i64,
}

fn session_fields() -> Fields {
    Fields::from(vec![
        Field::new("session_index", DataType::Int64, false),
        Field::new("session_start", utc_micros(), false),
        Field::new("session_end", utc_micros(), false),
        Field::new("events", DataType::Int64, false),
        Field::new("pageviews", DataType::Int64, false),
        Field::new("actions", DataType::Int64, false),
        Field::new("duration_s", DataType::Float64, false),
    ])
}

impl PairsFinish for Sessionize {
    fn name(&self) -> &'static str {
        "sessionize"
    }

    fn input_types(&self) -> Vec<DataType> {
        vec![DataType::Int64, DataType::Boolean]
    }

    fn output_type(&self) -> DataType {
        DataType::List(Arc::new(Field::new(
            "item",
            DataType::Struct(session_fields()),
            true,
        )))
    }

    fn pairs(&self, values: &[ArrayRef]) -> Result<Vec<Option<(i64, i64)>>> {
        let times = values[0].as_primitive::<Int64Type>();
        let pages = values[1].as_boolean();
        Ok((0..times.len())
            .map(|i| {
                (!times.is_null(i)).then(|| {
                    let page = !pages.is_null(i) && pages.value(i);
                    (times.value(i), i64::from(page))
                })
            })
            .collect())
    }

    fn finish(&self, groups: &mut [Vec<(i64, i64)>]) -> Result<ArrayRef> {
        let (mut index, mut start, mut end) = (Vec::new(), Vec::new(), Vec::new());
        let (mut events, mut pageviews, mut duration) = (Vec::new(), Vec::new(), Vec::new());
        let mut lengths = Vec::with_capacity(groups.len());
        for group in groups.iter_mut() {
            // Equal timestamps are a gap of 0, so their order does not matter.
            group.sort_unstable();
            let mut sessions = 0;
            let mut previous: Option<i64> = None;
            for &(ts, page) in group.iter() {
                if previous.is_none_or(|p| ts - p > self.gap_us) {
                    sessions += 1;
                    index.push(sessions);
                    start.push(ts);
                    end.push(ts);
                    events.push(0i64);
                    pageviews.push(0i64);
                }
                let last = index.len() - 1;
                end[last] = ts;
                events[last] += 1;
                pageviews[last] += page;
                previous = Some(ts);
            }
            lengths.push(sessions as usize);
        }
        duration.extend(
            start
                .iter()
                .zip(&end)
                .map(|(s, e)| (e - s) as f64 / 1_000_000.0),
        );
        let actions: Vec<i64> = events.iter().zip(&pageviews).map(|(e, p)| e - p).collect();
        let timestamps = |v: Vec<i64>| -> ArrayRef {
            Arc::new(TimestampMicrosecondArray::from(v).with_timezone("UTC"))
        };
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(index)),
            timestamps(start),
            timestamps(end),
            Arc::new(Int64Array::from(events)),
            Arc::new(Int64Array::from(pageviews)),
            Arc::new(Int64Array::from(actions)),
            Arc::new(Float64Array::from(duration)),
        ];
        let sessions = StructArray::try_new(session_fields(), columns, None)?;
        Ok(Arc::new(ListArray::new(
            Arc::new(Field::new("item", DataType::Struct(session_fields()), true)),
            OffsetBuffer::from_lengths(lengths),
            Arc::new(sessions),
            None,
        )))
    }
}

/// The date of a Date32 value (days since 1970-01-01).
/// A date as the `DATE` scalar placeholders bind.
pub fn date_value(date: NaiveDate) -> ScalarValue {
    ScalarValue::Date32(Some(
        (date - NaiveDate::from_ymd_opt(1970, 1, 1).expect("valid date")).num_days() as i32,
    ))
}

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
        // 2026-03-08: New York springs forward at 07:00 UTC (02:00 EST);
        // before it 04:30Z is 23:30 on the 7th, after it 03:30Z is 23:30.
        let cases = [
            ("America/New_York", "2026-03-09T03:30:00Z", "2026-03-08"),
            ("America/New_York", "2026-03-09T04:30:00Z", "2026-03-09"),
            ("America/New_York", "2026-03-08T04:30:00Z", "2026-03-07"),
            ("Asia/Kolkata", "2026-03-08T18:29:59Z", "2026-03-08"),
            ("Asia/Kolkata", "2026-03-08T18:30:00Z", "2026-03-09"),
            ("UTC", "1969-12-31T23:59:59Z", "1969-12-31"),
        ];
        for (zone, utc, expected) in cases {
            assert_eq!(local(zone, utc).to_string(), expected, "{zone} {utc}");
        }
    }

    #[test]
    fn funnel_walk_is_ordered_greedy_and_windowed() {
        let f = FunnelTimes {
            steps: 3,
            window_us: 100,
        };
        // (step × 2 + entry flag, ts): step 1 at 10 cannot open, at 20 it can.
        let events = [(2, 10), (3, 20), (4, 15), (4, 30), (6, 30), (6, 121)];
        // Step 2 at 15 is before t1 = 20; step 3 must be strictly after 30
        // and within 100 of t1: 121 is 101 late.
        assert_eq!(f.walk(&events), vec![20, 30]);
    }

    #[test]
    fn sessions_split_on_a_gap_longer_than_the_limit() {
        let s = Sessionize { gap_us: 100 };
        // Unsorted input; 100 apart stays, 101 apart splits.
        let mut groups = vec![vec![(300, 1), (100, 1), (200, 0), (401, 0)], vec![(5, 0)]];
        let out = s.finish(&mut groups).unwrap();
        let lists = out.as_list::<i32>();
        assert_eq!(
            (0..lists.len())
                .map(|i| lists.value_length(i))
                .collect::<Vec<_>>(),
            vec![2, 1]
        );
        let sessions = lists.values().as_struct();
        let column = |name: &str| {
            sessions
                .column_by_name(name)
                .unwrap()
                .as_primitive::<Int64Type>()
                .values()
                .to_vec()
        };
        assert_eq!(column("session_index"), vec![1, 2, 1]);
        assert_eq!(column("events"), vec![3, 1, 1]);
        assert_eq!(column("pageviews"), vec![2, 0, 0]);
        assert_eq!(column("actions"), vec![1, 1, 1]);
    }
}
