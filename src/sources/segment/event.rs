//! One Segment-spec JSON line → a row for pages, tracks or users, or the
//! reason it cannot be used. Borrowed parsing: no allocation per field
//! unless the JSON string holds escapes.

use std::borrow::Cow;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};
use serde_json::value::RawValue;

/// A field Segment documents as a string but that producers also send as a
/// number or boolean (userId = 42 is common): kept as its text.
#[derive(Debug, Clone, PartialEq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Text<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(V)
    }
}

pub(super) type Opt<'a> = Option<Text<'a>>;

fn non_empty<'a, 'b>(t: &'b Opt<'a>) -> Option<&'b str> {
    t.as_ref().map(|t| t.0.as_ref()).filter(|s| !s.is_empty())
}

#[derive(Deserialize)]
struct Raw<'a> {
    #[serde(rename = "type", borrow)]
    kind: Opt<'a>,
    #[serde(rename = "messageId", borrow)]
    message_id: Opt<'a>,
    #[serde(rename = "userId", borrow)]
    user_id: Opt<'a>,
    #[serde(rename = "anonymousId", borrow)]
    anonymous_id: Opt<'a>,
    #[serde(borrow)]
    timestamp: Opt<'a>,
    #[serde(rename = "originalTimestamp", borrow)]
    original_timestamp: Opt<'a>,
    #[serde(rename = "receivedAt", borrow)]
    received_at: Opt<'a>,
    #[serde(borrow)]
    name: Opt<'a>,
    #[serde(borrow)]
    event: Opt<'a>,
    #[serde(borrow)]
    properties: Option<&'a RawValue>,
    #[serde(borrow)]
    context: Option<Context<'a>>,
    #[serde(borrow)]
    traits: Option<Traits<'a>>,
}

#[derive(Deserialize, Default)]
struct Context<'a> {
    #[serde(borrow)]
    traits: Option<DomainOnly<'a>>,
    #[serde(borrow)]
    page: Option<PageContext<'a>>,
}

#[derive(Deserialize, Default)]
struct DomainOnly<'a> {
    #[serde(borrow)]
    domain: Opt<'a>,
}

#[derive(Deserialize, Default)]
struct PageContext<'a> {
    #[serde(borrow)]
    url: Opt<'a>,
}

#[derive(Deserialize, Default)]
pub(super) struct PageProperties<'a> {
    #[serde(borrow)]
    pub(super) tab: Opt<'a>,
    #[serde(borrow)]
    pub(super) asset_guid: Opt<'a>,
    #[serde(borrow)]
    pub(super) connector_name: Opt<'a>,
    #[serde(borrow)]
    pub(super) asset_type: Opt<'a>,
    #[serde(borrow)]
    pub(super) domain: Opt<'a>,
}

#[derive(Deserialize, Default)]
pub(super) struct Traits<'a> {
    #[serde(borrow)]
    pub(super) email: Opt<'a>,
    #[serde(borrow)]
    pub(super) username: Opt<'a>,
    #[serde(borrow)]
    pub(super) role: Opt<'a>,
    #[serde(borrow)]
    pub(super) license_type: Opt<'a>,
    #[serde(borrow)]
    pub(super) job_role: Opt<'a>,
    #[serde(borrow)]
    pub(super) domain: Opt<'a>,
    #[serde(borrow)]
    pub(super) created_at: Opt<'a>,
}

/// Fields common to page and track rows.
#[derive(Debug, PartialEq)]
pub struct Common<'a> {
    pub message_id: Cow<'a, str>,
    pub user_id: Option<Cow<'a, str>>,
    pub anonymous_id: Option<Cow<'a, str>>,
    pub customer_domain: Option<Cow<'a, str>>,
    /// Microseconds since the epoch, UTC.
    pub timestamp: i64,
    pub received_at: Option<i64>,
}

#[derive(Debug, PartialEq)]
pub enum Row<'a> {
    Page {
        common: Common<'a>,
        page_name: Option<Cow<'a, str>>,
        tab: Option<Cow<'a, str>>,
        asset_guid: Option<Cow<'a, str>>,
        connector_name: Option<Cow<'a, str>>,
        asset_type: Option<Cow<'a, str>>,
    },
    Track {
        common: Common<'a>,
        event_name: Option<Cow<'a, str>>,
        properties: Option<&'a str>,
    },
    Identify {
        message_id: Cow<'a, str>,
        user_id: Cow<'a, str>,
        email: Option<Cow<'a, str>>,
        username: Option<Cow<'a, str>>,
        role: Option<Cow<'a, str>>,
        license_type: Option<Cow<'a, str>>,
        job_role: Option<Cow<'a, str>>,
        customer_domain: Option<Cow<'a, str>>,
        created_at: Option<i64>,
        received_at: i64,
    },
}

fn owned<'a>(t: Opt<'a>) -> Option<Cow<'a, str>> {
    t.map(|t| t.0).filter(|s| !s.is_empty())
}

/// The fields a row is built from, however the line was read.
#[derive(Default)]
pub(super) struct Fields<'a> {
    pub kind: Opt<'a>,
    pub message_id: Opt<'a>,
    pub user_id: Opt<'a>,
    pub anonymous_id: Opt<'a>,
    pub timestamp: Opt<'a>,
    pub original_timestamp: Opt<'a>,
    pub received_at: Opt<'a>,
    pub name: Opt<'a>,
    pub event: Opt<'a>,
    /// The `properties` value's JSON text, stored as is for tracks.
    pub properties: Option<&'a str>,
    /// Keys of `properties` pages keep; for tracks only `domain` is read.
    pub page_properties: PageProperties<'a>,
    pub context_domain: Opt<'a>,
    pub page_url: Opt<'a>,
    pub traits: Traits<'a>,
}

/// Parses one line. `Err` carries the reason written to quarantine.
pub fn parse_line(line: &str) -> Result<Row<'_>, String> {
    match super::scan::scan(line) {
        Some(fields) => row_of(fields),
        None => row_of(read_with_serde(line)?),
    }
}

/// The slow path, for lines the scanner leaves to serde: its errors are
/// the reasons quarantine records.
fn read_with_serde(line: &str) -> Result<Fields<'_>, String> {
    // serde would read a JSON array into the struct positionally: refuse any
    // line that is not an object up front, with a reason that says so.
    match line.trim_start().chars().next() {
        Some('{') => {}
        Some(c) => return Err(format!("not a JSON object: the line starts with {c:?}")),
        None => return Err("empty line".into()),
    }
    let raw: Raw<'_> = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let context = raw.context.unwrap_or_default();
    let is_page = non_empty(&raw.kind) == Some("page");
    let page_properties = match raw.properties {
        Some(p) if is_page => serde_json::from_str(p.get()).unwrap_or_default(),
        Some(p) => PageProperties {
            domain: serde_json::from_str::<DomainOnly<'_>>(p.get())
                .map(|d| d.domain)
                .unwrap_or_default(),
            ..PageProperties::default()
        },
        None => PageProperties::default(),
    };
    Ok(Fields {
        kind: raw.kind,
        message_id: raw.message_id,
        user_id: raw.user_id,
        anonymous_id: raw.anonymous_id,
        timestamp: raw.timestamp,
        original_timestamp: raw.original_timestamp,
        received_at: raw.received_at,
        name: raw.name,
        event: raw.event,
        properties: raw.properties.map(RawValue::get),
        page_properties,
        context_domain: context.traits.and_then(|t| t.domain),
        page_url: context.page.and_then(|p| p.url),
        traits: raw.traits.unwrap_or_default(),
    })
}

fn row_of(raw: Fields<'_>) -> Result<Row<'_>, String> {
    let kind = non_empty(&raw.kind).ok_or("missing field `type` (page, track or identify)")?;
    let message_id = owned(raw.message_id).ok_or("missing field `messageId` (the dedup key)")?;
    let received_at = match non_empty(&raw.received_at) {
        Some(text) => Some(parse_timestamp(text).map_err(|e| format!("field `receivedAt`: {e}"))?),
        None => None,
    };
    let context_domain = owned(raw.context_domain);
    // Only the last resort for the domain: most events name it outright,
    // so the URL is not cut up unless it is needed.
    let page_url = raw.page_url;
    let url_host = move || {
        owned(page_url).and_then(|url| match url {
            Cow::Borrowed(url) => host_of(url).map(Cow::Borrowed),
            Cow::Owned(url) => host_of(&url).map(|h| Cow::Owned(h.to_string())),
        })
    };

    match kind {
        "identify" => {
            let user_id = owned(raw.user_id)
                .ok_or("identify without `userId`: nothing to attach the traits to")?;
            // Segment sets receivedAt on every message; the event timestamp stands in when a replay dropped it.
            let received_at = match received_at {
                Some(t) => t,
                None => event_time(&raw.timestamp, &raw.original_timestamp)?,
            };
            let traits = raw.traits;
            let created_at = non_empty(&traits.created_at).and_then(|t| parse_timestamp(t).ok());
            let customer_domain = owned(traits.domain).or(context_domain).or_else(url_host);
            Ok(Row::Identify {
                message_id,
                user_id,
                email: owned(traits.email),
                username: owned(traits.username),
                role: owned(traits.role),
                license_type: owned(traits.license_type),
                job_role: owned(traits.job_role),
                customer_domain,
                created_at,
                received_at,
            })
        }
        "page" | "track" => {
            let timestamp = event_time(&raw.timestamp, &raw.original_timestamp)?;
            let props = raw.page_properties;
            let customer_domain = context_domain
                .or_else(|| owned(props.domain))
                .or_else(url_host);
            let common = Common {
                message_id,
                user_id: owned(raw.user_id),
                anonymous_id: owned(raw.anonymous_id),
                customer_domain,
                timestamp,
                received_at,
            };
            if kind == "page" {
                Ok(Row::Page {
                    common,
                    page_name: owned(raw.name),
                    tab: owned(props.tab),
                    asset_guid: owned(props.asset_guid),
                    connector_name: owned(props.connector_name),
                    asset_type: owned(props.asset_type),
                })
            } else {
                Ok(Row::Track {
                    common,
                    event_name: owned(raw.event),
                    properties: raw.properties,
                })
            }
        }
        other => Err(format!(
            "type {other:?} is not collected (pages, tracks and users take page, track and identify)"
        )),
    }
}

fn event_time(timestamp: &Opt<'_>, original: &Opt<'_>) -> Result<i64, String> {
    match (non_empty(timestamp), non_empty(original)) {
        (Some(t), _) => parse_timestamp(t).map_err(|e| format!("field `timestamp`: {e}")),
        (None, Some(t)) => {
            parse_timestamp(t).map_err(|e| format!("field `originalTimestamp`: {e}"))
        }
        (None, None) => Err("missing field `timestamp` (and no `originalTimestamp`)".into()),
    }
}

/// RFC 3339 / ISO 8601 with an offset → UTC microseconds.
pub fn parse_timestamp(text: &str) -> Result<i64, String> {
    if let Some(micros) = utc_timestamp_micros(text) {
        return Ok(micros);
    }
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|_| {
            format!("{text:?} is not an RFC 3339 timestamp such as 2026-11-23T14:05:09.123Z")
        })
}

/// The form Segment's libraries send, `2026-11-23T14:05:09.123Z`, read
/// without chrono's general parser (two per event); `None` for anything
/// else, which chrono then reads.
fn utc_timestamp_micros(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    if b.len() < 20
        || b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
    {
        return None;
    }
    let number = |range: std::ops::Range<usize>| {
        b[range].iter().try_fold(0i64, |n, &d| {
            d.is_ascii_digit().then(|| n * 10 + i64::from(d - b'0'))
        })
    };
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let nanos = match (b[19], &b[20..]) {
        (b'Z', []) => 0,
        (b'.', [digits @ .., b'Z']) if (1..=9).contains(&digits.len()) => {
            let value = number(20..20 + digits.len())?;
            value * 10i64.pow(9 - digits.len() as u32)
        }
        _ => return None,
    };
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let date: [u8; 10] = b[..10].try_into().expect("length checked above");
    let days = LAST_DATE.with(|last| match last.get() {
        (seen, days) if seen == date => Some(days),
        _ => {
            let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
            if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
                return None;
            }
            let days = days_from_civil(year, month, day);
            last.set((date, days));
            Some(days)
        }
    })?;
    let seconds = days * 86_400 + hour * 3600 + minute * 60 + second;
    Some(seconds * 1_000_000 + nanos / 1000)
}

thread_local! {
    /// The last valid date text read and its day number. A file's events
    /// fall on a few days, so nearly every timestamp skips the calendar
    /// (the zeros never match: a date has `-` at 4 and 7).
    static LAST_DATE: std::cell::Cell<([u8; 10], i64)> = const { std::cell::Cell::new(([0; 10], 0)) };
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// `days_from_civil`).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// Host of an http(s) URL, lowercased, without port or `www.`.
fn host_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#', ':']).unwrap_or(rest.len());
    let host = &rest[..end];
    let host = host.rsplit_once('@').map_or(host, |(_, h)| h);
    let host = host.strip_prefix("www.").unwrap_or(host);
    (!host.is_empty()).then_some(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_with_url_host_domain_and_numeric_user() {
        let row = parse_line(
            r#"{"type":"page","messageId":"m1","userId":42,"name":"discovery","timestamp":"2026-11-23T10:00:00Z",
                "properties":{"tab":"overview","asset_guid":"g1"},"context":{"page":{"url":"https://www.acme.com/assets?x=1"}}}"#,
        )
        .unwrap();
        let Row::Page {
            common,
            page_name,
            tab,
            ..
        } = row
        else {
            panic!("not a page")
        };
        assert_eq!(common.user_id.as_deref(), Some("42"));
        assert_eq!(common.customer_domain.as_deref(), Some("acme.com"));
        assert_eq!(page_name.as_deref(), Some("discovery"));
        assert_eq!(tab.as_deref(), Some("overview"));
        assert_eq!(common.timestamp, 1_795_428_000_000_000);
    }

    #[test]
    fn reasons_name_the_field() {
        assert_eq!(
            parse_line(r#"{"messageId":"m","timestamp":"2026-11-23T10:00:00Z"}"#).unwrap_err(),
            "missing field `type` (page, track or identify)"
        );
        assert_eq!(
            parse_line(r#"{"type":"track","messageId":"m","timestamp":"yesterday"}"#).unwrap_err(),
            "field `timestamp`: \"yesterday\" is not an RFC 3339 timestamp such as 2026-11-23T14:05:09.123Z"
        );
        assert_eq!(
            parse_line("{\"type\":").unwrap_err(),
            "invalid JSON: EOF while parsing a value at line 1 column 8"
        );
        assert_eq!(
            parse_line(r#"[{"type":"page"}]"#).unwrap_err(),
            "not a JSON object: the line starts with '['"
        );
    }

    #[test]
    fn utc_timestamps_read_as_chrono_reads_them() {
        let chrono_micros = |t: &str| {
            chrono::DateTime::parse_from_rfc3339(t)
                .ok()
                .map(|t| t.timestamp_micros())
        };
        let mut checked = 0;
        for year in [1969, 1970, 1999, 2000, 2023, 2024, 2026, 2100, 2400] {
            for month in 0..=13 {
                for day in [0, 1, 15, 28, 29, 30, 31, 32] {
                    for time in ["00:00:00", "23:59:59", "12:34:56", "24:00:00", "10:60:00"] {
                        for fraction in ["", ".5", ".123", ".123456", ".123456789", ".1234567891"] {
                            let text = format!("{year:04}-{month:02}-{day:02}T{time}{fraction}Z");
                            let expected = chrono_micros(&text);
                            if let Some(fast) = utc_timestamp_micros(&text) {
                                assert_eq!(Some(fast), expected, "{text}");
                                checked += 1;
                            }
                            assert_eq!(parse_timestamp(&text).ok(), expected, "{text}");
                        }
                    }
                }
            }
        }
        assert!(checked > 5000, "the fast path read only {checked}");
        for other in [
            "2026-11-23T10:00:00+02:00",
            "2026-11-23 10:00:00Z",
            "2026-11-23t10:00:00z",
            "2026-11-23T10:00:00.Z",
            "2026-11-23T10:00:0aZ",
        ] {
            assert_eq!(utc_timestamp_micros(other), None, "{other}");
            assert_eq!(parse_timestamp(other).ok(), chrono_micros(other), "{other}");
        }
    }

    /// The scanner either leaves a line to serde or reads it exactly as
    /// serde does.
    fn assert_paths_agree(line: &str) {
        let slow = read_with_serde(line).and_then(row_of);
        if let Some(fields) = super::super::scan::scan(line) {
            assert_eq!(row_of(fields), slow, "scanner and serde differ on {line}");
        }
    }

    #[test]
    fn scanner_reads_lines_as_serde_does() {
        let lines = [
            r#"{"type":"page","messageId":"m1","userId":42,"name":"d","timestamp":"2026-11-23T10:00:00Z","properties":{"tab":"t","asset_guid":"g","connector_name":"c","asset_type":"a","domain":"p.com","x":[1,2,{"y":null}]},"context":{"traits":{"domain":"c.com"},"page":{"url":"https://www.u.com/x"}}}"#,
            r#" { "type" : "track" , "messageId" : "m\u00e9\n" , "userId" : true , "event" : "E\"q" , "timestamp" : "2026-11-23T10:00:00+02:00" , "properties" : { "domain" : "p.com" , "n" : -1.5e+3 } } "#,
            r#"{"type":"identify","messageId":"m","userId":"u","receivedAt":"2026-11-23T10:00:00Z","traits":{"email":"e","username":null,"role":"r","license_type":"l","job_role":"j","domain":"d","created_at":"2026-01-01T00:00:00Z"}}"#,
            r#"{"type":"identify","messageId":"m","userId":-7,"timestamp":"2026-11-23T10:00:00Z","traits":null,"context":null}"#,
            r#"{"type":"track","messageId":"m","timestamp":"2026-11-23T10:00:00Z","properties":"plain"}"#,
            r#"{"type":"track","messageId":"m","timestamp":"2026-11-23T10:00:00Z","properties":null,"event":1.5}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","properties":["a","b","c","d","e"]}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","properties":{"tab":"a","tab":"b"}}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","properties":{"tab":{"nested":1}}}"#,
            r#"{"type":"page","type":"track","messageId":"m","timestamp":"2026-11-23T10:00:00Z"}"#,
            r#"{"t\u0079pe":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z"}"#,
            r#"{"type":"page","messageId":12345678901234567890,"timestamp":"2026-11-23T10:00:00Z"}"#,
            r#"{"type":"page","messageId":-0,"timestamp":"2026-11-23T10:00:00Z"}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","context":"x"}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","context":{"page":{"url":"a"},"page":{}}}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","x":"\ud800"}"#,
            r#"{"type":"page","messageId":"\ud800","timestamp":"2026-11-23T10:00:00Z"}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","x":01}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z",}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z"} x"#,
            "{\"type\":\"page\",\"messageId\":\"a\tb\",\"timestamp\":\"2026-11-23T10:00:00Z\"}",
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","x":[1,]}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","x":tru}"#,
            r#"{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","x":"\x"}"#,
            r#"{}"#,
            r#"{"type":"#,
        ];
        for line in lines {
            assert_paths_agree(line);
        }
        // The common shapes are the scanner's, not serde's.
        assert!(super::super::scan::scan(lines[0]).is_some());
        assert!(super::super::scan::scan(lines[1]).is_some());
        assert!(super::super::scan::scan(lines[2]).is_some());
        let deep = format!(
            r#"{{"type":"page","messageId":"m","timestamp":"2026-11-23T10:00:00Z","x":{}{}}}"#,
            "[".repeat(200),
            "]".repeat(200)
        );
        assert_paths_agree(&deep);
    }

    /// Every prefix and every one-byte change of real lines: wherever the
    /// scanner answers, it answers as serde does.
    #[test]
    fn scanner_agrees_with_serde_on_damaged_lines() {
        let line = r#"{"type":"track","messageId":"m-1","userId":"u1","anonymousId":null,"event":"Searched","timestamp":"2026-11-23T10:00:00.250Z","receivedAt":"2026-11-23T10:00:01Z","properties":{"result_count":12,"domain":"p.com","q":"a\"b"},"context":{"library":{"name":"js"},"traits":{"domain":"acme.com"},"page":{"url":"https://acme.com/x"}}}"#;
        let mut scanned = 0;
        for end in 0..=line.len() {
            assert_paths_agree(&line[..end]);
        }
        for at in 0..line.len() {
            for b in [
                b'"', b'{', b'}', b'[', b',', b':', b'\\', b'1', b'-', b'n', b' ', 0x01,
            ] {
                let mut bytes = line.as_bytes().to_vec();
                bytes[at] = b;
                let Ok(damaged) = String::from_utf8(bytes) else {
                    continue;
                };
                assert_paths_agree(&damaged);
                scanned += usize::from(super::super::scan::scan(&damaged).is_some());
            }
        }
        assert!(scanned > 100, "the scanner answered only {scanned} times");
    }
}
