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

type Opt<'a> = Option<Text<'a>>;

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
struct PageProperties<'a> {
    #[serde(borrow)]
    tab: Opt<'a>,
    #[serde(borrow)]
    asset_guid: Opt<'a>,
    #[serde(borrow)]
    connector_name: Opt<'a>,
    #[serde(borrow)]
    asset_type: Opt<'a>,
    #[serde(borrow)]
    domain: Opt<'a>,
}

#[derive(Deserialize, Default)]
struct Traits<'a> {
    #[serde(borrow)]
    email: Opt<'a>,
    #[serde(borrow)]
    username: Opt<'a>,
    #[serde(borrow)]
    role: Opt<'a>,
    #[serde(borrow)]
    license_type: Opt<'a>,
    #[serde(borrow)]
    job_role: Opt<'a>,
    #[serde(borrow)]
    domain: Opt<'a>,
    #[serde(borrow)]
    created_at: Opt<'a>,
}

/// Fields common to page and track rows.
#[derive(Debug, PartialEq)]
pub struct Common<'a> {
    pub message_id: Cow<'a, str>,
    pub user_id: Option<Cow<'a, str>>,
    pub anonymous_id: Option<Cow<'a, str>>,
    pub customer_domain: Option<String>,
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
        customer_domain: Option<String>,
        created_at: Option<i64>,
        received_at: i64,
    },
}

fn owned<'a>(t: Opt<'a>) -> Option<Cow<'a, str>> {
    t.map(|t| t.0).filter(|s| !s.is_empty())
}

/// Parses one line. `Err` carries the reason written to quarantine.
pub fn parse_line(line: &str) -> Result<Row<'_>, String> {
    // serde would read a JSON array into the struct positionally: refuse any
    // line that is not an object up front, with a reason that says so.
    match line.trim_start().chars().next() {
        Some('{') => {}
        Some(c) => return Err(format!("not a JSON object: the line starts with {c:?}")),
        None => return Err("empty line".into()),
    }
    let raw: Raw<'_> = serde_json::from_str(line).map_err(|e| format!("invalid JSON: {e}"))?;
    let kind = non_empty(&raw.kind).ok_or("missing field `type` (page, track or identify)")?;
    let message_id = owned(raw.message_id).ok_or("missing field `messageId` (the dedup key)")?;
    let received_at = match non_empty(&raw.received_at) {
        Some(text) => Some(parse_timestamp(text).map_err(|e| format!("field `receivedAt`: {e}"))?),
        None => None,
    };
    let context = raw.context.unwrap_or_default();
    let context_domain = context.traits.and_then(|t| owned(t.domain));
    let url_host = context
        .page
        .and_then(|p| owned(p.url))
        .and_then(|u| host_of(&u).map(str::to_string));

    match kind {
        "identify" => {
            let user_id = owned(raw.user_id)
                .ok_or("identify without `userId`: nothing to attach the traits to")?;
            // Segment sets receivedAt on every message; the event timestamp stands in when a replay dropped it.
            let received_at = match received_at {
                Some(t) => t,
                None => event_time(&raw.timestamp, &raw.original_timestamp)?,
            };
            let traits = raw.traits.unwrap_or_default();
            let created_at = non_empty(&traits.created_at).and_then(|t| parse_timestamp(t).ok());
            let customer_domain = owned(traits.domain)
                .map(|d| d.into_owned())
                .or(context_domain.map(|d| d.into_owned()))
                .or(url_host);
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
            let is_page = kind == "page";
            let page_props: PageProperties<'_> = match (is_page, raw.properties) {
                (true, Some(p)) => serde_json::from_str(p.get()).unwrap_or_default(),
                _ => PageProperties::default(),
            };
            // A track's properties are parsed again only when the context
            // has no domain: most events carry it there.
            let customer_domain = context_domain
                .or_else(|| {
                    if is_page {
                        owned(page_props.domain.clone())
                    } else {
                        raw.properties
                            .and_then(|p| serde_json::from_str::<DomainOnly<'_>>(p.get()).ok())
                            .and_then(|d| owned(d.domain))
                    }
                })
                .map(|d| d.into_owned())
                .or(url_host);
            let common = Common {
                message_id,
                user_id: owned(raw.user_id),
                anonymous_id: owned(raw.anonymous_id),
                customer_domain,
                timestamp,
                received_at,
            };
            if is_page {
                Ok(Row::Page {
                    common,
                    page_name: owned(raw.name),
                    tab: owned(page_props.tab),
                    asset_guid: owned(page_props.asset_guid),
                    connector_name: owned(page_props.connector_name),
                    asset_type: owned(page_props.asset_type),
                })
            } else {
                Ok(Row::Track {
                    common,
                    event_name: owned(raw.event),
                    properties: raw.properties.map(RawValue::get),
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
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|t| t.timestamp_micros())
        .map_err(|_| {
            format!("{text:?} is not an RFC 3339 timestamp such as 2026-11-23T14:05:09.123Z")
        })
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
}
