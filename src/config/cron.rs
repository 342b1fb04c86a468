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
