//! The time PostgreSQL writes in its logs: `2026-12-06 17:45:06.123 UTC`,
//! local to `log_timezone`, with the zone as an abbreviation or offset.

use chrono::{DateTime, FixedOffset, NaiveDateTime, Utc};

/// Abbreviations PostgreSQL prints for common `log_timezone` settings
/// (unambiguous ones only: `IST` is three zones, so it is refused). Other
/// zones print an offset such as `+03`, which always parses.
const ZONES: &[(&str, i32)] = &[
    ("UTC", 0),
    ("GMT", 0),
    ("UCT", 0),
    ("Z", 0),
    ("WET", 0),
    ("WEST", 60),
    ("BST", 60),
    ("CET", 60),
    ("CEST", 120),
    ("MET", 60),
    ("MEST", 120),
    ("EET", 120),
    ("EEST", 180),
    ("SAST", 120),
    ("MSK", 180),
    ("JST", 540),
    ("KST", 540),
    ("AWST", 480),
    ("ACST", 570),
    ("ACDT", 630),
    ("AEST", 600),
    ("AEDT", 660),
    ("NZST", 720),
    ("NZDT", 780),
    ("HST", -600),
    ("AKST", -540),
    ("AKDT", -480),
    ("PST", -480),
    ("PDT", -420),
    ("MST", -420),
    ("MDT", -360),
    ("CST", -360),
    ("CDT", -300),
    ("EST", -300),
    ("EDT", -240),
    ("AST", -240),
    ("ADT", -180),
    ("NST", -210),
    ("NDT", -150),
];

/// Parses a log time; `None` when the text or its zone is not one
/// PostgreSQL prints (or an ambiguous abbreviation).
pub fn parse_log_time(text: &str) -> Option<DateTime<Utc>> {
    let (local, zone) = text.rsplit_once(' ')?;
    let local = NaiveDateTime::parse_from_str(local, "%Y-%m-%d %H:%M:%S%.f").ok()?;
    let minutes = zone_minutes(zone)?;
    let offset = FixedOffset::east_opt(minutes * 60)?;
    Some(
        local
            .and_local_timezone(offset)
            .single()?
            .with_timezone(&Utc),
    )
}

fn zone_minutes(zone: &str) -> Option<i32> {
    if let Some((_, minutes)) = ZONES.iter().find(|(name, _)| *name == zone) {
        return Some(*minutes);
    }
    let (sign, digits) = match zone.as_bytes().first()? {
        b'+' => (1, &zone[1..]),
        b'-' => (-1, &zone[1..]),
        _ => return None,
    };
    let digits: String = digits.chars().filter(|c| *c != ':').collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (hours, minutes) = match digits.len() {
        1 | 2 => (digits.parse::<i32>().ok()?, 0),
        4 => (
            digits[..2].parse::<i32>().ok()?,
            digits[2..].parse::<i32>().ok()?,
        ),
        _ => return None,
    };
    Some(sign * (hours * 60 + minutes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(text: &str) -> Option<DateTime<Utc>> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn zones_as_postgres_prints_them() {
        assert_eq!(
            parse_log_time("2026-12-06 17:45:06.123 UTC"),
            utc("2026-12-06T17:45:06.123Z")
        );
        assert_eq!(
            parse_log_time("2026-12-06 17:45:06 UTC"),
            utc("2026-12-06T17:45:06Z")
        );
        assert_eq!(
            parse_log_time("2026-07-01 02:00:00.000 CEST"),
            utc("2026-07-01T00:00:00Z")
        );
        assert_eq!(
            parse_log_time("2026-12-06 00:30:00 +03"),
            utc("2026-12-05T21:30:00Z")
        );
        assert_eq!(
            parse_log_time("2026-12-06 00:30:00 -0330"),
            utc("2026-12-06T04:00:00Z")
        );
        assert_eq!(parse_log_time("2026-12-06 00:30:00 IST"), None);
        assert_eq!(parse_log_time("2026-12-06T00:30:00Z"), None);
    }
}
