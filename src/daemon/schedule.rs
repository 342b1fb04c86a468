//! When a job's schedule fires, computed by us in the job's timezone.
//!
//! tokio-cron-scheduler reads cron at a fixed UTC offset taken when the job
//! is created, so after a DST change its local times are an hour off. Here
//! the 5-field cron is matched against wall-clock time in the zone and each
//! match is turned into an instant:
//! - a wall time that occurs once fires then;
//! - a wall time that occurs twice (clocks go back) fires once, at the
//!   first occurrence;
//! - a wall time that a change skips (clocks go forward) fires once at the
//!   next minute that exists, e.g. 02:30 on Berlin's spring-forward day
//!   fires at 03:00 CEST.

use chrono::{DateTime, Datelike, LocalResult, NaiveDate, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;

use crate::config::{CronFields, CronSchedule, JobConfig, check_timezone};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    fields: CronFields,
    tz: Tz,
}

impl Schedule {
    pub fn new(cron: &CronSchedule, tz: Tz) -> Self {
        Self {
            fields: cron.fields(),
            tz,
        }
    }

    /// The job's schedule, read in its timezone (else `default_tz`); `None`
    /// for an on-demand job. Jobs are validated, so errors are unexpected.
    pub fn for_job(job: &JobConfig, default_tz: &str) -> Option<Result<Self, String>> {
        let cron = job.schedule.as_deref()?;
        Some((|| {
            let cron = CronSchedule::parse(cron)?;
            let tz = check_timezone(job.timezone.as_deref().unwrap_or(default_tz))?;
            Ok(Self::new(&cron, tz))
        })())
    }

    pub fn timezone(&self) -> Tz {
        self.tz
    }

    /// Every fire instant in `(after, upto]`, ascending, each once.
    pub fn fires_between(&self, after: DateTime<Utc>, upto: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        if upto <= after {
            return out;
        }
        // A day either side: a skipped wall time can land on the next day.
        let first = after.with_timezone(&self.tz).date_naive() - chrono::Days::new(1);
        let last = upto.with_timezone(&self.tz).date_naive() + chrono::Days::new(1);
        for day in first.iter_days().take_while(|d| *d <= last) {
            if !self.fields.matches_day(
                day.month(),
                day.day(),
                day.weekday().num_days_from_sunday(),
            ) {
                continue;
            }
            for hour in self.fields.hours() {
                for minute in self.fields.minutes() {
                    let wall = day.and_hms_opt(hour, minute, 0).expect("valid time");
                    let at = self.resolve(wall);
                    if at > after && at <= upto {
                        out.push(at);
                    }
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }

    /// The instant a wall-clock time stands for (see the module comment).
    fn resolve(&self, wall: NaiveDateTime) -> DateTime<Utc> {
        match self.tz.from_local_datetime(&wall) {
            LocalResult::Single(t) => t.with_timezone(&Utc),
            LocalResult::Ambiguous(a, b) => a.min(b).with_timezone(&Utc),
            LocalResult::None => {
                // Gaps last an hour in most zones, a day at most (Samoa 2011).
                let mut next = wall;
                for _ in 0..(26 * 60) {
                    next += chrono::Duration::minutes(1);
                    if let Some(t) = self.tz.from_local_datetime(&next).earliest() {
                        return t.with_timezone(&Utc);
                    }
                }
                wall.and_utc()
            }
        }
    }

    /// The logical date a run fired at `fire` works on: the previous day
    /// in the schedule's timezone (as `usagelake run` defaults to yesterday).
    pub fn logical_date(&self, fire: DateTime<Utc>) -> NaiveDate {
        fire.with_timezone(&self.tz).date_naive() - chrono::Days::new(1)
    }

    /// The logical dates of the most recent fires at or before `upto`, at
    /// most `limit` distinct dates, oldest first: what a restarted daemon
    /// may have missed.
    pub fn recent_dates(&self, upto: DateTime<Utc>, limit: usize) -> Vec<NaiveDate> {
        if limit == 0 {
            return Vec::new();
        }
        let mut window_days = 2;
        loop {
            let after = upto - chrono::Duration::days(window_days);
            let mut dates: Vec<NaiveDate> = self
                .fires_between(after, upto)
                .into_iter()
                .map(|f| self.logical_date(f))
                .collect();
            dates.dedup();
            // A window of `window_days` can hold a partial oldest day; more
            // dates than needed means the oldest kept ones are complete.
            if dates.len() > limit || window_days >= 4 * 366 {
                let skip = dates.len().saturating_sub(limit);
                return dates.split_off(skip);
            }
            window_days *= 4;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(cron: &str, tz: &str) -> Schedule {
        Schedule::new(&CronSchedule::parse(cron).unwrap(), tz.parse().unwrap())
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fires(s: &Schedule, after: &str, upto: &str) -> Vec<String> {
        s.fires_between(utc(after), utc(upto))
            .iter()
            .map(|t| t.format("%Y-%m-%dT%H:%MZ").to_string())
            .collect()
    }

    /// (cron, zone, window start, window end, expected fires in UTC); the
    /// comment on each row gives the local times.
    #[test]
    fn fires_across_dst_changes() {
        let cases: &[(&str, &str, &str, &str, &[&str])] = &[
            // Berlin springs forward 2026-03-29 02:00 CET -> 03:00 CEST:
            // 02:30 CET, then 02:30 does not exist -> 03:00 CEST, then 02:30 CEST.
            (
                "30 2 * * *",
                "Europe/Berlin",
                "2026-03-27T12:00:00Z",
                "2026-03-30T12:00:00Z",
                &[
                    "2026-03-28T01:30Z",
                    "2026-03-29T01:00Z",
                    "2026-03-30T00:30Z",
                ],
            ),
            // Berlin falls back 2026-10-25 03:00 CEST -> 02:00 CET: 02:30
            // happens twice and fires once, at the first (CEST) one.
            (
                "30 2 * * *",
                "Europe/Berlin",
                "2026-10-23T12:00:00Z",
                "2026-10-26T12:00:00Z",
                &[
                    "2026-10-24T00:30Z",
                    "2026-10-25T00:30Z",
                    "2026-10-26T01:30Z",
                ],
            ),
            // A minute inside the gap other than its first: 02:45 -> 03:00 CEST.
            (
                "45 2 * * *",
                "Europe/Berlin",
                "2026-03-29T00:00:00Z",
                "2026-03-29T23:00:00Z",
                &["2026-03-29T01:00Z"],
            ),
            // New York springs forward 2026-03-08 02:00 EST -> 03:00 EDT.
            (
                "30 2 * * *",
                "America/New_York",
                "2026-03-07T00:00:00Z",
                "2026-03-09T23:00:00Z",
                &[
                    "2026-03-07T07:30Z",
                    "2026-03-08T07:00Z",
                    "2026-03-09T06:30Z",
                ],
            ),
            // Every half hour through the gap: 02:00, 02:30 and 03:00 local
            // are all 07:00Z and fire once.
            (
                "*/30 * * * *",
                "America/New_York",
                "2026-03-08T05:59:00Z",
                "2026-03-08T07:30:00Z",
                &[
                    "2026-03-08T06:00Z",
                    "2026-03-08T06:30Z",
                    "2026-03-08T07:00Z",
                    "2026-03-08T07:30Z",
                ],
            ),
            // New York falls back 2026-11-01 02:00 EDT -> 01:00 EST: 01:30
            // EDT (05:30Z) fires, 01:30 EST (06:30Z) does not.
            (
                "30 1 * * *",
                "America/New_York",
                "2026-10-31T00:00:00Z",
                "2026-11-02T23:00:00Z",
                &[
                    "2026-10-31T05:30Z",
                    "2026-11-01T05:30Z",
                    "2026-11-02T06:30Z",
                ],
            ),
            // Hourly over the fall-back: 01:00 runs once, so two hours pass
            // from 05:00Z to 07:00Z.
            (
                "0 * * * *",
                "America/New_York",
                "2026-11-01T03:30:00Z",
                "2026-11-01T07:00:00Z",
                &[
                    "2026-11-01T04:00Z",
                    "2026-11-01T05:00Z",
                    "2026-11-01T07:00Z",
                ],
            ),
            // No DST: a fixed +05:30.
            (
                "0 6 * * *",
                "Asia/Kolkata",
                "2026-03-28T00:00:00Z",
                "2026-03-30T00:00:00Z",
                &["2026-03-28T00:30Z", "2026-03-29T00:30Z"],
            ),
            // Weekdays only; 2026-03-27 is a Friday.
            (
                "0 9 * * MON-FRI",
                "UTC",
                "2026-03-27T00:00:00Z",
                "2026-03-31T00:00:00Z",
                &["2026-03-27T09:00Z", "2026-03-30T09:00Z"],
            ),
            // The window is open at the start and closed at the end.
            (
                "0 0 * * *",
                "UTC",
                "2026-01-01T00:00:00Z",
                "2026-01-02T00:00:00Z",
                &["2026-01-02T00:00Z"],
            ),
        ];
        for (cron, tz, after, upto, expected) in cases {
            assert_eq!(
                fires(&schedule(cron, tz), after, upto),
                *expected,
                "{cron} in {tz} over {after}..{upto}"
            );
        }
    }

    #[test]
    fn logical_date_is_the_previous_local_day() {
        let berlin = schedule("30 2 * * *", "Europe/Berlin");
        // 03:00 CEST on the spring-forward day works on the 28th.
        assert_eq!(
            berlin.logical_date(utc("2026-03-29T01:00:00Z")),
            NaiveDate::from_ymd_opt(2026, 3, 28).unwrap()
        );
        // 23:30 EST on Nov 1 is Nov 2 in UTC; the local day decides.
        let ny = schedule("30 23 * * *", "America/New_York");
        assert_eq!(
            ny.logical_date(utc("2026-11-02T04:30:00Z")),
            NaiveDate::from_ymd_opt(2026, 10, 31).unwrap()
        );
    }

    #[test]
    fn recent_dates_are_the_last_distinct_dates_oldest_first() {
        let d = |s: &str| s.parse::<NaiveDate>().unwrap();
        let daily = schedule("30 2 * * *", "Europe/Berlin");
        // At 2026-03-30 08:00Z the last fires were the 30th (00:30Z),
        // 29th (01:00Z, the skipped 02:30) and 28th.
        assert_eq!(
            daily.recent_dates(utc("2026-03-30T08:00:00Z"), 3),
            [d("2026-03-27"), d("2026-03-28"), d("2026-03-29")]
        );
        // Just before the 30th's fire it is not yet due.
        assert_eq!(
            daily.recent_dates(utc("2026-03-30T00:29:00Z"), 2),
            [d("2026-03-27"), d("2026-03-28")]
        );
        assert!(
            daily
                .recent_dates(utc("2026-03-30T08:00:00Z"), 0)
                .is_empty()
        );
        // Every minute: all of a day's fires share one logical date.
        let minutely = schedule("* * * * *", "UTC");
        assert_eq!(
            minutely.recent_dates(utc("2026-03-30T08:00:00Z"), 2),
            [d("2026-03-28"), d("2026-03-29")]
        );
        // Monthly: the window widens until it holds enough fires.
        let monthly = schedule("0 3 1 * *", "UTC");
        assert_eq!(
            monthly.recent_dates(utc("2026-03-30T08:00:00Z"), 3),
            [d("2025-12-31"), d("2026-01-31"), d("2026-02-28")]
        );
    }
}
