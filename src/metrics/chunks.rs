//! Splitting the history into chunks of local days for the daily tables.
//!
//! Every `scope: daily` table is a function of one local day's events, so
//! computing it over days [a, b] and then [b+1, c] and concatenating gives
//! exactly the table over [a, c]. Chunks are cut so each holds about
//! `chunk_events` raw events (from the Parquet footers of `pages` and
//! `tracks`, no data read): memory then depends on the chunk, not on how
//! long the history is.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;

use crate::lake::{Lake, LakeError, partition_stats, tables};

/// An inclusive range of local days.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DayRange {
    pub start: NaiveDate,
    pub end: NaiveDate,
}

impl DayRange {
    /// The UTC days (raw `date=` partitions) that can hold events of these
    /// local days in `tz`. Local day d spans UTC d-1 (east of UTC) to d+1
    /// (west of UTC); only the two ends of the range matter.
    pub fn utc_days(&self, tz: Tz) -> (NaiveDate, NaiveDate) {
        let day = chrono::Days::new(1);
        // Offsets near the range's first midnight and the midnight after its
        // last day, a day either side so a DST change there cannot hide an
        // east- or west-of-UTC offset.
        let offsets = |d: NaiveDate| {
            [d - day, d, d + day].map(|x| {
                let midnight = x.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc();
                tz.offset_from_utc_datetime(&midnight.naive_utc())
                    .fix()
                    .local_minus_utc()
            })
        };
        let start = if offsets(self.start).iter().any(|&o| o > 0) {
            self.start - day
        } else {
            self.start
        };
        let after = self.end + day;
        let end = if offsets(after).iter().any(|&o| o < 0) {
            after
        } else {
            self.end
        };
        (start, end)
    }
}

/// Cuts local days up to `as_of` into chunks of about `chunk_events` raw
/// events each. Always at least one chunk, so every daily table exists
/// (empty) on an empty lake.
pub async fn plan(
    lake: &Lake,
    as_of: NaiveDate,
    chunk_events: u64,
) -> Result<Vec<DayRange>, LakeError> {
    let mut per_day: BTreeMap<NaiveDate, u64> = BTreeMap::new();
    for spec in [
        &tables::PAGES as &dyn crate::lake::TableContract,
        &tables::TRACKS,
    ] {
        for (partition, stats) in partition_stats(lake, spec).await? {
            let Some(date) = partition
                .strip_prefix("date=")
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            else {
                continue;
            };
            *per_day.entry(date).or_default() += stats.rows;
        }
    }
    Ok(cut(&per_day, as_of, chunk_events))
}

/// The pure part of [`plan`]: `per_day` holds raw events per UTC day.
pub fn cut(
    per_day: &BTreeMap<NaiveDate, u64>,
    as_of: NaiveDate,
    chunk_events: u64,
) -> Vec<DayRange> {
    let day = chrono::Days::new(1);
    // A UTC day's events can fall on the local day before it.
    let first = per_day
        .keys()
        .next()
        .map_or(as_of, |&d| (d - day).min(as_of));
    let mut chunks = Vec::new();
    let (mut start, mut held) = (first, 0u64);
    let mut d = first;
    while d <= as_of {
        let rows = per_day.get(&d).copied().unwrap_or(0);
        if held > 0 && held + rows > chunk_events {
            chunks.push(DayRange {
                start,
                end: d - day,
            });
            (start, held) = (d, 0);
        }
        held += rows;
        d = d + day;
    }
    chunks.push(DayRange { start, end: as_of });
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    fn range(a: &str, b: &str) -> DayRange {
        DayRange {
            start: date(a),
            end: date(b),
        }
    }

    #[test]
    fn chunks_hold_about_the_budget_and_cover_every_day() {
        let per_day: BTreeMap<_, _> = [
            ("2026-01-01", 40),
            ("2026-01-02", 40),
            ("2026-01-03", 40),
            ("2026-01-05", 100),
            ("2026-01-06", 10),
        ]
        .into_iter()
        .map(|(d, n)| (date(d), n))
        .collect();
        assert_eq!(
            cut(&per_day, date("2026-01-07"), 80),
            vec![
                // 40 + 40 is within the budget of 80; 40 more is not.
                range("2025-12-31", "2026-01-02"),
                range("2026-01-03", "2026-01-04"),
                // A day over the budget is a chunk of its own.
                range("2026-01-05", "2026-01-05"),
                range("2026-01-06", "2026-01-07"),
            ]
        );
        assert_eq!(
            cut(&per_day, date("2026-01-07"), 1_000),
            vec![range("2025-12-31", "2026-01-07")]
        );
        // Days after as_of are not read; an empty lake is one chunk.
        assert_eq!(
            cut(&per_day, date("2026-01-02"), 1_000),
            vec![range("2025-12-31", "2026-01-02")]
        );
        assert_eq!(
            cut(&BTreeMap::new(), date("2026-01-02"), 10),
            vec![range("2026-01-02", "2026-01-02")]
        );
    }

    #[test]
    fn utc_days_follow_the_side_of_utc() {
        let r = range("2026-03-07", "2026-03-08");
        assert_eq!(
            r.utc_days(chrono_tz::UTC),
            (date("2026-03-07"), date("2026-03-08"))
        );
        // West of UTC: local days end on the next UTC day.
        assert_eq!(
            r.utc_days(chrono_tz::America::New_York),
            (date("2026-03-07"), date("2026-03-09"))
        );
        // East of UTC: local days start on the UTC day before.
        assert_eq!(
            r.utc_days(chrono_tz::Asia::Tokyo),
            (date("2026-03-06"), date("2026-03-08"))
        );
        // London is UTC+1 from 2026-03-29: local midnight of the 30th is
        // 23:00 UTC on the 29th.
        assert_eq!(
            range("2026-03-30", "2026-03-31").utc_days(chrono_tz::Europe::London),
            (date("2026-03-29"), date("2026-03-31"))
        );
    }
}
