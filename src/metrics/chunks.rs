//! Splitting the days to derive into chunks of local days for the daily
//! tables.
//!
//! Every `scope: daily` table is a function of one local day's events, so
//! computing it over days [a, b] and then [b+1, c] and concatenating gives
//! exactly the table over [a, c]. Chunks are cut so each holds about
//! `chunk_events` raw events (from the Parquet footers of `pages` and
//! `tracks`, no data read): memory then depends on the chunk, not on how
//! many days a run derives.

use std::collections::BTreeMap;

use chrono::{NaiveDate, Offset, TimeZone};
use chrono_tz::Tz;

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

/// Cuts the local days to derive (ascending) into ranges of consecutive
/// days holding about `chunk_events` raw events each. `utc_rows` holds raw
/// events per UTC day; local day d is counted with UTC day d, close enough
/// for a memory budget.
pub fn cut(
    days: &[NaiveDate],
    utc_rows: &BTreeMap<NaiveDate, u64>,
    chunk_events: u64,
) -> Vec<DayRange> {
    let mut chunks = Vec::new();
    let mut current: Option<(DayRange, u64)> = None;
    for &day in days {
        let rows = utc_rows.get(&day).copied().unwrap_or(0);
        match &mut current {
            Some((range, held))
                if range.end.succ_opt() == Some(day)
                    && (*held == 0 || *held + rows <= chunk_events) =>
            {
                range.end = day;
                *held += rows;
            }
            _ => {
                chunks.extend(current.take().map(|(range, _)| range));
                current = Some((
                    DayRange {
                        start: day,
                        end: day,
                    },
                    rows,
                ));
            }
        }
    }
    chunks.extend(current.map(|(range, _)| range));
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
    fn chunks_hold_about_the_budget_and_keep_to_consecutive_days() {
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
        let all: Vec<NaiveDate> = date("2025-12-31")
            .iter_days()
            .take_while(|d| *d <= date("2026-01-07"))
            .collect();
        assert_eq!(
            cut(&all, &per_day, 80),
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
            cut(&all, &per_day, 1_000),
            vec![range("2025-12-31", "2026-01-07")]
        );
        // Days left out (reused) split the ranges.
        let some = [date("2026-01-01"), date("2026-01-02"), date("2026-01-06")];
        assert_eq!(
            cut(&some, &per_day, 1_000),
            vec![
                range("2026-01-01", "2026-01-02"),
                range("2026-01-06", "2026-01-06")
            ]
        );
        assert_eq!(cut(&[], &per_day, 10), vec![]);
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
