//! The rows of `platform_events`, `platform_errors` and `platform_users`,
//! to and from Arrow, and the per-day partition merge that makes
//! re-collecting idempotent.

use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::NaiveDate;
use datafusion::arrow::array::{
    ArrayRef, AsArray, BooleanArray, Float64Array, ListBuilder, RecordBatch, StringArray,
    StringBuilder, TimestampMicrosecondArray,
};
use datafusion::arrow::datatypes::{Float64Type, TimestampMicrosecondType};

use crate::lake::tables::{PLATFORM_ERRORS, PLATFORM_EVENTS, PLATFORM_USERS};
use crate::lake::{Lake, LakeError, PartitionValue, TableContract, TableSpec, read_partition};

#[derive(Debug, Clone, PartialEq)]
pub(super) struct EventRow {
    pub event_id: String,
    pub event_type: Option<String>,
    pub source: Option<String>,
    pub friendly_name: Option<String>,
    pub user_login: Option<String>,
    pub session_id: Option<String>,
    pub package: String,
    pub duration_ms: Option<f64>,
    pub is_error: bool,
    pub parameters: Option<String>,
    pub event_time_us: i64,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct ErrorRow {
    pub event_id: String,
    pub user_login: Option<String>,
    pub session_id: Option<String>,
    pub package: String,
    pub error_message: Option<String>,
    pub signature: Option<String>,
    pub event_time_us: i64,
    pub preceding_event_type: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct UserRow {
    pub login: String,
    pub friendly_name: Option<String>,
    pub joined_us: Option<i64>,
    pub groups: Vec<String>,
}

/// A row of a table partitioned by the UTC day of its event, keyed by event id.
pub(super) trait DayRow: Clone + PartialEq + Sized {
    const TABLE: &'static TableSpec;
    fn event_id(&self) -> &str;
    fn event_time_us(&self) -> i64;
    fn to_batch(rows: &[Self]) -> Result<RecordBatch, LakeError>;
    fn from_batch(batch: &RecordBatch) -> Vec<Self>;
}

fn arrow_err(table: &TableSpec) -> impl Fn(datafusion::arrow::error::ArrowError) -> LakeError {
    move |source| LakeError::Arrow {
        table: table.name.to_string(),
        source,
    }
}

fn strings<'a>(values: impl Iterator<Item = Option<&'a str>>) -> ArrayRef {
    Arc::new(values.collect::<StringArray>())
}

fn times(values: impl Iterator<Item = Option<i64>>) -> ArrayRef {
    Arc::new(
        values
            .collect::<TimestampMicrosecondArray>()
            .with_timezone("UTC"),
    )
}

fn string_column(batch: &RecordBatch, name: &str) -> Vec<Option<String>> {
    match batch.column_by_name(name) {
        Some(array) => array
            .as_string::<i32>()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect(),
        None => vec![None; batch.num_rows()],
    }
}

fn time_column(batch: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    match batch.column_by_name(name) {
        Some(array) => array
            .as_primitive::<TimestampMicrosecondType>()
            .iter()
            .collect(),
        None => vec![None; batch.num_rows()],
    }
}

impl DayRow for EventRow {
    const TABLE: &'static TableSpec = &PLATFORM_EVENTS;

    fn event_id(&self) -> &str {
        &self.event_id
    }

    fn event_time_us(&self) -> i64 {
        self.event_time_us
    }

    fn to_batch(rows: &[Self]) -> Result<RecordBatch, LakeError> {
        let columns: Vec<ArrayRef> = vec![
            strings(rows.iter().map(|r| Some(r.event_id.as_str()))),
            strings(rows.iter().map(|r| r.event_type.as_deref())),
            strings(rows.iter().map(|r| r.source.as_deref())),
            strings(rows.iter().map(|r| r.friendly_name.as_deref())),
            strings(rows.iter().map(|r| r.user_login.as_deref())),
            strings(rows.iter().map(|r| r.session_id.as_deref())),
            strings(rows.iter().map(|r| Some(r.package.as_str()))),
            Arc::new(rows.iter().map(|r| r.duration_ms).collect::<Float64Array>()),
            Arc::new(
                rows.iter()
                    .map(|r| Some(r.is_error))
                    .collect::<BooleanArray>(),
            ),
            strings(rows.iter().map(|r| r.parameters.as_deref())),
            times(rows.iter().map(|r| Some(r.event_time_us))),
        ];
        RecordBatch::try_new(Self::TABLE.file_schema(), columns).map_err(arrow_err(Self::TABLE))
    }

    fn from_batch(batch: &RecordBatch) -> Vec<Self> {
        let n = batch.num_rows();
        let [
            ids,
            types,
            sources,
            names,
            logins,
            sessions,
            packages,
            parameters,
        ] = [
            "event_id",
            "event_type",
            "source",
            "friendly_name",
            "user_login",
            "session_id",
            "package",
            "parameters",
        ]
        .map(|c| string_column(batch, c));
        let durations: Vec<Option<f64>> = batch
            .column_by_name("duration_ms")
            .map(|a| a.as_primitive::<Float64Type>().iter().collect())
            .unwrap_or_else(|| vec![None; n]);
        let errors: Vec<bool> = batch
            .column_by_name("is_error")
            .map(|a| a.as_boolean().iter().map(|v| v.unwrap_or(false)).collect())
            .unwrap_or_else(|| vec![false; n]);
        let times = time_column(batch, "event_time");
        (0..n)
            .map(|i| EventRow {
                event_id: ids[i].clone().unwrap_or_default(),
                event_type: types[i].clone(),
                source: sources[i].clone(),
                friendly_name: names[i].clone(),
                user_login: logins[i].clone(),
                session_id: sessions[i].clone(),
                package: packages[i].clone().unwrap_or_default(),
                duration_ms: durations[i],
                is_error: errors[i],
                parameters: parameters[i].clone(),
                event_time_us: times[i].unwrap_or_default(),
            })
            .collect()
    }
}

impl DayRow for ErrorRow {
    const TABLE: &'static TableSpec = &PLATFORM_ERRORS;

    fn event_id(&self) -> &str {
        &self.event_id
    }

    fn event_time_us(&self) -> i64 {
        self.event_time_us
    }

    fn to_batch(rows: &[Self]) -> Result<RecordBatch, LakeError> {
        let columns: Vec<ArrayRef> = vec![
            strings(rows.iter().map(|r| Some(r.event_id.as_str()))),
            strings(rows.iter().map(|r| r.user_login.as_deref())),
            strings(rows.iter().map(|r| r.session_id.as_deref())),
            strings(rows.iter().map(|r| Some(r.package.as_str()))),
            strings(rows.iter().map(|r| r.error_message.as_deref())),
            strings(rows.iter().map(|r| r.signature.as_deref())),
            times(rows.iter().map(|r| Some(r.event_time_us))),
            strings(rows.iter().map(|r| r.preceding_event_type.as_deref())),
        ];
        RecordBatch::try_new(Self::TABLE.file_schema(), columns).map_err(arrow_err(Self::TABLE))
    }

    fn from_batch(batch: &RecordBatch) -> Vec<Self> {
        let [
            ids,
            logins,
            sessions,
            packages,
            messages,
            signatures,
            preceding,
        ] = [
            "event_id",
            "user_login",
            "session_id",
            "package",
            "error_message",
            "signature",
            "preceding_event_type",
        ]
        .map(|c| string_column(batch, c));
        let times = time_column(batch, "event_time");
        (0..batch.num_rows())
            .map(|i| ErrorRow {
                event_id: ids[i].clone().unwrap_or_default(),
                user_login: logins[i].clone(),
                session_id: sessions[i].clone(),
                package: packages[i].clone().unwrap_or_default(),
                error_message: messages[i].clone(),
                signature: signatures[i].clone(),
                event_time_us: times[i].unwrap_or_default(),
                preceding_event_type: preceding[i].clone(),
            })
            .collect()
    }
}

/// What merging one day's partition did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(super) struct DayMerge {
    /// Rows that are new or differ from the lake's row with the same id.
    pub upserted: u64,
    /// Rows of the lake that a whole-day re-read no longer found.
    pub removed: u64,
    pub written: bool,
}

/// Merges `rows` (all of `day`) into the day's partition of `R::TABLE`.
/// A row replaces the lake's row with the same event id (the store's
/// latest word: a function's finish time arrives after its start). With
/// `replace`, the read covered the whole day, so the partition becomes
/// exactly `rows`. Nothing is written when nothing changed.
pub(super) async fn merge_day<R: DayRow>(
    lake: &Lake,
    day: NaiveDate,
    rows: Vec<R>,
    replace: bool,
) -> Result<DayMerge, LakeError> {
    let partition = [PartitionValue::Date(day)];
    let existing: Vec<R> = read_partition(lake, R::TABLE, &partition)
        .await?
        .unwrap_or_default()
        .iter()
        .flat_map(R::from_batch)
        .collect();
    let before: BTreeMap<&str, &R> = existing.iter().map(|r| (r.event_id(), r)).collect();
    let mut merged: BTreeMap<String, R> = if replace {
        BTreeMap::new()
    } else {
        existing
            .iter()
            .map(|r| (r.event_id().to_string(), r.clone()))
            .collect()
    };
    let mut outcome = DayMerge::default();
    for row in rows {
        if before.get(row.event_id()) != Some(&&row) {
            outcome.upserted += 1;
        }
        merged.insert(row.event_id().to_string(), row);
    }
    outcome.removed = before
        .keys()
        .filter(|id| !merged.contains_key(**id))
        .count() as u64;
    let mut merged: Vec<R> = merged.into_values().collect();
    merged
        .sort_by(|a, b| (a.event_time_us(), a.event_id()).cmp(&(b.event_time_us(), b.event_id())));
    let mut existing = existing;
    existing
        .sort_by(|a, b| (a.event_time_us(), a.event_id()).cmp(&(b.event_time_us(), b.event_id())));
    // Unchanged (including a day with no events, before and after): no
    // write, so a repeated collect leaves the lake's objects untouched.
    if merged == existing {
        return Ok(outcome);
    }
    lake.write_partition(R::TABLE)
        .partition(partition)
        .write(&[R::to_batch(&merged)?])
        .await?;
    outcome.written = true;
    Ok(outcome)
}

/// Writes the users snapshot of `day` (the collection's UTC day).
pub(super) async fn write_users(
    lake: &Lake,
    day: NaiveDate,
    users: &[UserRow],
) -> Result<(), LakeError> {
    let mut groups = ListBuilder::new(StringBuilder::new());
    for user in users {
        for group in &user.groups {
            groups.values().append_value(group);
        }
        groups.append(true);
    }
    let columns: Vec<ArrayRef> = vec![
        strings(users.iter().map(|u| Some(u.login.as_str()))),
        strings(users.iter().map(|u| u.friendly_name.as_deref())),
        times(users.iter().map(|u| u.joined_us)),
        Arc::new(groups.finish()),
    ];
    let batch = RecordBatch::try_new(PLATFORM_USERS.file_schema(), columns)
        .map_err(arrow_err(&PLATFORM_USERS))?;
    lake.write_partition(&PLATFORM_USERS)
        .partition([PartitionValue::Date(day)])
        .write(&[batch])
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, us: i64, duration: Option<f64>) -> EventRow {
        EventRow {
            event_id: id.into(),
            event_type: Some("open".into()),
            source: Some("usage".into()),
            friendly_name: None,
            user_login: Some("alice".into()),
            session_id: Some("s1".into()),
            package: "Core".into(),
            duration_ms: duration,
            is_error: false,
            parameters: Some(r#"{"file":"a.csv"}"#.into()),
            event_time_us: us,
        }
    }

    #[test]
    fn event_rows_round_trip_through_arrow() {
        let rows = vec![event("b", 2, Some(1.5)), event("a", 1, None)];
        let batch = EventRow::to_batch(&rows).unwrap();
        assert_eq!(EventRow::from_batch(&batch), rows);
    }

    #[tokio::test]
    async fn merging_a_day_twice_changes_nothing_and_newer_rows_win() {
        let dir = tempfile::tempdir().unwrap();
        let lake = Lake::open(&crate::lake::LakeLocation::Local(dir.path().into())).unwrap();
        let day = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap();
        let first = vec![event("a", 1, None), event("b", 2, None)];
        let merged = merge_day(&lake, day, first.clone(), false).await.unwrap();
        assert_eq!((merged.upserted, merged.written), (2, true));
        let again = merge_day(&lake, day, first, false).await.unwrap();
        assert_eq!(again, DayMerge::default());
        // A re-read of part of the day: b finished meanwhile, a is outside it.
        let later = merge_day(&lake, day, vec![event("b", 2, Some(7.0))], false)
            .await
            .unwrap();
        assert_eq!((later.upserted, later.removed), (1, 0));
        let whole_day = merge_day(&lake, day, vec![event("b", 2, Some(7.0))], true)
            .await
            .unwrap();
        assert_eq!((whole_day.upserted, whole_day.removed), (0, 1));
        let stored = read_partition(&lake, &PLATFORM_EVENTS, &[PartitionValue::Date(day)])
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            EventRow::from_batch(&stored[0]),
            vec![event("b", 2, Some(7.0))]
        );
    }
}
