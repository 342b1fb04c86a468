//! 5-field cron as users write it (minute hour day-of-month month
//! day-of-week). The scheduler wants 6 fields with seconds first: convert.

const FIELDS: [(&str, u32, u32); 5] = [
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day-of-month", 1, 31),
    ("month", 1, 12),
    ("day-of-week", 0, 7),
];

const MONTHS: [&str; 12] = [
    "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
];
const DAYS: [&str; 7] = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"];

/// A validated 5-field cron expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronSchedule(String);

impl CronSchedule {
    pub fn parse(expr: &str) -> Result<Self, String> {
        let fields: Vec<&str> = expr.split_whitespace().collect();
        if fields.len() != 5 {
            return Err(format!(
                "cron {expr:?} has {} fields; write 5 fields: minute hour day-of-month month day-of-week, e.g. \"30 2 * * *\"",
                fields.len()
            ));
        }
        for (field, (name, min, max)) in fields.iter().zip(FIELDS) {
            check_field(field, name, min, max)
                .map_err(|why| format!("cron {expr:?}: {name} field {field:?}: {why}"))?;
        }
        Ok(Self(fields.join(" ")))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 6-field form (seconds first) that tokio-cron-scheduler takes.
    pub fn with_seconds(&self) -> String {
        format!("0 {}", self.0)
    }

    /// The sets of values each field matches.
    pub fn fields(&self) -> CronFields {
        let f: Vec<&str> = self.0.split_whitespace().collect();
        let set = |i: usize| {
            let (name, min, max) = FIELDS[i];
            expand(f[i], name, min, max)
        };
        let mut day_of_week = set(4);
        // 7 is another name for Sunday.
        if day_of_week & (1 << 7) != 0 {
            day_of_week |= 1;
        }
        CronFields {
            minutes: set(0),
            hours: set(1),
            days_of_month: set(2),
            months: set(3),
            days_of_week: day_of_week & 0x7f,
            // Vixie cron: when both day fields are restricted a day matching
            // either one fires; a field starting with `*` is unrestricted.
            any_day_of_month: f[2].starts_with('*'),
            any_day_of_week: f[4].starts_with('*'),
        }
    }
}

/// A parsed cron expression: bit `v` of a set is on when value `v` matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CronFields {
    pub minutes: u64,
    pub hours: u64,
    pub days_of_month: u64,
    pub months: u64,
    /// 0 = Sunday.
    pub days_of_week: u64,
    pub any_day_of_month: bool,
    pub any_day_of_week: bool,
}

impl CronFields {
    pub fn matches_day(&self, month: u32, day_of_month: u32, day_of_week: u32) -> bool {
        if self.months & (1 << month) == 0 {
            return false;
        }
        let dom = self.days_of_month & (1 << day_of_month) != 0;
        let dow = self.days_of_week & (1 << day_of_week) != 0;
        match (self.any_day_of_month, self.any_day_of_week) {
            (false, false) => dom || dow,
            _ => dom && dow,
        }
    }

    /// Matching hours, ascending.
    pub fn hours(&self) -> impl Iterator<Item = u32> + '_ {
        (0..24).filter(|h| self.hours & (1 << h) != 0)
    }

    /// Matching minutes, ascending.
    pub fn minutes(&self) -> impl Iterator<Item = u32> + '_ {
        (0..60).filter(|m| self.minutes & (1 << m) != 0)
    }
}

/// The values a field matches (the field is already validated).
fn expand(field: &str, name: &str, min: u32, max: u32) -> u64 {
    let mut set = 0u64;
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, s.parse::<u32>().unwrap_or(1).max(1)),
            None => (item, 1),
        };
        let (lo, hi) = if range == "*" {
            (min, max)
        } else {
            match range.split_once('-') {
                Some((a, b)) => (
                    value(a, name, min, max).unwrap_or(min),
                    value(b, name, min, max).unwrap_or(max),
                ),
                // `5/15` means from 5 to the end in steps of 15.
                None if item.contains('/') => (value(range, name, min, max).unwrap_or(min), max),
                None => {
                    let v = value(range, name, min, max).unwrap_or(min);
                    (v, v)
                }
            }
        };
        let mut v = lo;
        while v <= hi {
            set |= 1 << v;
            v += step;
        }
    }
    set
}

fn check_field(field: &str, name: &str, min: u32, max: u32) -> Result<(), String> {
    for item in field.split(',') {
        let (range, step) = match item.split_once('/') {
            Some((r, s)) => (r, Some(s)),
            None => (item, None),
        };
        if let Some(step) = step {
            match step.parse::<u32>() {
                Ok(s) if s > 0 => {}
                _ => return Err(format!("step {step:?} must be a whole number ≥ 1")),
            }
        }
        if range == "*" {
            continue;
        }
        let (lo, hi) = match range.split_once('-') {
            Some((a, b)) => (value(a, name, min, max)?, value(b, name, min, max)?),
            None => {
                let v = value(range, name, min, max)?;
                (v, v)
            }
        };
        if lo > hi {
            return Err(format!("range {range:?} runs backwards"));
        }
    }
    Ok(())
}

fn value(text: &str, name: &str, min: u32, max: u32) -> Result<u32, String> {
    let upper = text.to_ascii_uppercase();
    let named = match name {
        "month" => MONTHS
            .iter()
            .position(|m| *m == upper)
            .map(|i| i as u32 + 1),
        "day-of-week" => DAYS.iter().position(|d| *d == upper).map(|i| i as u32),
        _ => None,
    };
    let v = match named {
        Some(v) => v,
        None => text
            .parse::<u32>()
            .map_err(|_| format!("{text:?} is not a number"))?,
    };
    if v < min || v > max {
        return Err(format!("{v} is outside {min}–{max}"));
    }
    Ok(v)
}

#[cfg(test)]
mod tests {
    use super::CronSchedule;

    #[test]
    fn accepts_common_forms() {
        for expr in [
            "30 2 * * *",
            "*/15 * * * MON-FRI",
            "0 0 1 JAN,JUL *",
            "0 6-18/2 * * 1-5",
        ] {
            CronSchedule::parse(expr).unwrap();
        }
        assert_eq!(
            CronSchedule::parse("30 2 * * *").unwrap().with_seconds(),
            "0 30 2 * * *"
        );
    }

    #[test]
    fn fields_expand_ranges_steps_names_and_sunday_7() {
        let f = CronSchedule::parse("*/20 6-18/4 1,15 JAN-MAR 7")
            .unwrap()
            .fields();
        assert_eq!(f.minutes().collect::<Vec<_>>(), [0, 20, 40]);
        assert_eq!(f.hours().collect::<Vec<_>>(), [6, 10, 14, 18]);
        assert_eq!(f.days_of_month, (1 << 1) | (1 << 15));
        assert_eq!(f.months, (1 << 1) | (1 << 2) | (1 << 3));
        assert_eq!(f.days_of_week, 1);
        // Both day fields restricted: either one matches.
        assert!(f.matches_day(2, 15, 3));
        assert!(f.matches_day(2, 16, 0));
        assert!(!f.matches_day(2, 16, 3));
        assert!(!f.matches_day(4, 15, 0));
        // Only day-of-week restricted: it alone decides.
        let weekdays = CronSchedule::parse("0 9 * * MON-FRI").unwrap().fields();
        assert!(weekdays.matches_day(6, 13, 5));
        assert!(!weekdays.matches_day(6, 14, 6));
        let from_five = CronSchedule::parse("5/15 * * * *").unwrap().fields();
        assert_eq!(from_five.minutes().collect::<Vec<_>>(), [5, 20, 35, 50]);
    }

    #[test]
    fn rejects_with_reason() {
        assert_eq!(
            CronSchedule::parse("61 2 * * *").unwrap_err(),
            "cron \"61 2 * * *\": minute field \"61\": 61 is outside 0–59"
        );
        assert!(
            CronSchedule::parse("0 2 * *")
                .unwrap_err()
                .contains("has 4 fields")
        );
        assert!(
            CronSchedule::parse("0 2 * * */0")
                .unwrap_err()
                .contains("step \"0\"")
        );
    }
}
