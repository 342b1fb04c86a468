//! PostgreSQL's `log_line_prefix`, read backwards: the stderr log format
//! is a prefix the administrator chose, a severity and a message, so a
//! line is matched against the prefix's escapes to recover the user,
//! database, session and time.

use chrono::{DateTime, Utc};

use super::log_time::parse_log_time;

/// PostgreSQL's own default (`postgresql.conf` since 10). Debian ships
/// `'%m [%p] %q%u@%d '`, which names the user and database.
pub const DEFAULT_PREFIX: &str = "%m [%p] ";

/// Severities a stderr line can carry after the prefix, longest first so
/// `DEBUG1` is not read as `DEBUG`.
const SEVERITIES: &[&str] = &[
    "STATEMENT",
    "LOCATION",
    "WARNING",
    "CONTEXT",
    "DETAIL",
    "NOTICE",
    "DEBUG1",
    "DEBUG2",
    "DEBUG3",
    "DEBUG4",
    "DEBUG5",
    "DEBUG",
    "ERROR",
    "FATAL",
    "PANIC",
    "QUERY",
    "INFO",
    "HINT",
    "LOG",
];

/// The longest prefix value searched for (user, database, application).
const MAX_NAME: usize = 256;

/// What a `%` escape prints, by the shape of its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Escape {
    Application,
    User,
    Database,
    /// `%r` host and port, `%h` host, `%b` backend type, `%i` command tag,
    /// `%e` SQLSTATE, `%v` virtual transaction id: text nobody reads here.
    Other,
    /// `%p` process id.
    Pid,
    /// `%P`, `%x`, `%Q`: numbers nobody reads here (possibly empty).
    Number,
    /// `%l` line number within the session.
    LineNum,
    /// `%c` session id: hex start time `.` hex pid.
    Session,
    /// `%m` time with milliseconds, `%t` without: `YYYY-MM-DD HH:MM:SS[.mmm] ZONE`.
    Time,
    /// `%s` session start, same shape as `%t`.
    SessionStart,
    /// `%n` Unix epoch with milliseconds.
    Epoch,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Literal(String),
    Field(Escape),
    /// `%q`: non-session processes stop the prefix here.
    StopIfNoSession,
}

/// A compiled `log_line_prefix`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinePrefix {
    parts: Vec<Part>,
}

/// The values a line's prefix carried.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PrefixValues<'a> {
    pub time: Option<DateTime<Utc>>,
    pub user: Option<&'a str>,
    pub database: Option<&'a str>,
    pub application: Option<&'a str>,
    pub pid: Option<&'a str>,
    pub session: Option<&'a str>,
    pub line_num: Option<u64>,
}

/// One stderr line that starts with the prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PrefixedLine<'a> {
    pub values: PrefixValues<'a>,
    pub severity: &'a str,
    /// The text after `SEVERITY:  ` (and the SQLSTATE that
    /// `log_error_verbosity = verbose` adds).
    pub message: &'a str,
}

impl LinePrefix {
    /// Compiles a `log_line_prefix` value; `Err` names the escape that
    /// is not PostgreSQL's.
    pub fn parse(format: &str) -> Result<Self, String> {
        let mut parts: Vec<Part> = Vec::new();
        let mut literal = String::new();
        let mut chars = format.chars().peekable();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            // Padding such as `%-10u` or `%10u`: values are trimmed below.
            while chars
                .peek()
                .is_some_and(|c| *c == '-' || c.is_ascii_digit())
            {
                chars.next();
            }
            let escape = match chars.next() {
                Some('%') => {
                    literal.push('%');
                    continue;
                }
                Some('a') => Escape::Application,
                Some('u') => Escape::User,
                Some('d') => Escape::Database,
                Some('r' | 'h' | 'b' | 'i' | 'e' | 'v') => Escape::Other,
                Some('p') => Escape::Pid,
                Some('P' | 'x' | 'Q') => Escape::Number,
                Some('l') => Escape::LineNum,
                Some('c') => Escape::Session,
                Some('m' | 't') => Escape::Time,
                Some('s') => Escape::SessionStart,
                Some('n') => Escape::Epoch,
                Some('q') => {
                    if !literal.is_empty() {
                        parts.push(Part::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(Part::StopIfNoSession);
                    continue;
                }
                Some(other) => {
                    return Err(format!(
                        "log_line_prefix {format:?} has %{other}, which PostgreSQL does not know; copy the server's log_line_prefix exactly (SHOW log_line_prefix)"
                    ));
                }
                None => {
                    return Err(format!(
                        "log_line_prefix {format:?} ends in a lone %; copy the server's log_line_prefix exactly (SHOW log_line_prefix)"
                    ));
                }
            };
            if !literal.is_empty() {
                parts.push(Part::Literal(std::mem::take(&mut literal)));
            }
            parts.push(Part::Field(escape));
        }
        if !literal.is_empty() {
            parts.push(Part::Literal(literal));
        }
        Ok(Self { parts })
    }

    /// True when session lines carry a time (`%m`, `%t` or `%n`; after a
    /// `%q` is fine: statements always come from sessions).
    pub fn has_time(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Field(Escape::Time | Escape::Epoch)))
    }

    /// True when lines name a session (`%c`) or at least a process (`%p`).
    pub fn has_session_or_pid(&self) -> bool {
        self.parts
            .iter()
            .any(|p| matches!(p, Part::Field(Escape::Session | Escape::Pid)))
    }

    /// Matches `line` against the prefix; `None` when the line does not
    /// start with it (a continuation line, foreign output).
    pub fn match_line<'a>(&self, line: &'a str) -> Option<PrefixedLine<'a>> {
        let mut values = PrefixValues::default();
        let end = match_parts(&self.parts, line, 0, &mut values)?;
        let (severity, message) = severity_at(&line[end..])?;
        Some(PrefixedLine {
            values,
            severity,
            message,
        })
    }
}

/// `SEVERITY:  message` at the start of `rest`.
fn severity_at(rest: &str) -> Option<(&str, &str)> {
    let severity = SEVERITIES.iter().find(|s| {
        rest.strip_prefix(**s)
            .is_some_and(|after| after.starts_with(":  "))
    })?;
    let mut message = &rest[severity.len() + 3..];
    // `log_error_verbosity = verbose` puts the SQLSTATE first.
    if message.len() >= 7
        && message.as_bytes()[5] == b':'
        && message.as_bytes()[6] == b' '
        && message.as_bytes()[..5]
            .iter()
            .all(|b| b.is_ascii_digit() || b.is_ascii_uppercase())
    {
        message = &message[7..];
    }
    Some((severity, message))
}

/// Matches `parts` from byte `pos`; returns where the prefix ends.
/// Variable-width values (names) backtrack over the places the next part
/// could start, so a name holding the next literal still parses.
fn match_parts<'a>(
    parts: &[Part],
    line: &'a str,
    pos: usize,
    values: &mut PrefixValues<'a>,
) -> Option<usize> {
    let Some((first, rest)) = parts.split_first() else {
        return Some(pos);
    };
    match first {
        Part::Literal(text) => line[pos..]
            .starts_with(text.as_str())
            .then(|| match_parts(rest, line, pos + text.len(), values))
            .flatten(),
        Part::StopIfNoSession => {
            if severity_at(&line[pos..]).is_some() {
                let saved = values.clone();
                if let Some(end) = match_parts(rest, line, pos, values) {
                    return Some(end);
                }
                *values = saved;
                return Some(pos);
            }
            match_parts(rest, line, pos, values)
        }
        Part::Field(escape) => {
            let text = &line[pos..];
            let fixed = match escape {
                Escape::Time | Escape::SessionStart => time_len(text),
                Escape::Epoch => number_len(text, true),
                Escape::Pid | Escape::LineNum => {
                    let len = leading_spaces(text);
                    Some(len + number_len(&text[len..], false)?)
                }
                Escape::Session => session_len(text),
                _ => None,
            };
            if let Some(len) = fixed {
                let value = &text[..len];
                let saved = values.clone();
                set(values, *escape, value)?;
                if let Some(end) = match_parts(rest, line, pos + len, values) {
                    return Some(end);
                }
                *values = saved;
                return None;
            }
            if matches!(
                escape,
                Escape::Time
                    | Escape::SessionStart
                    | Escape::Epoch
                    | Escape::Pid
                    | Escape::LineNum
                    | Escape::Session
            ) {
                return None;
            }
            // A name: try every end from the shortest. Names are short
            // (NAMEDATALEN is 64 bytes): a few hundred bytes bound the search.
            let ends: Box<dyn Iterator<Item = usize>> = match rest.first() {
                Some(Part::Literal(next)) => {
                    Box::new(text.match_indices(next.as_str()).map(|(i, _)| i))
                }
                _ => Box::new(
                    text.char_indices()
                        .map(|(i, _)| i)
                        .chain(std::iter::once(text.len())),
                ),
            };
            let ends = ends.take_while(|i| *i <= MAX_NAME);
            for len in ends {
                let saved = values.clone();
                if set(values, *escape, &text[..len]).is_none() {
                    continue;
                }
                if let Some(end) = match_parts(rest, line, pos + len, values) {
                    // The whole line must also end in a severity; a
                    // shorter name that lets a later part match but leaves
                    // no severity is the wrong split.
                    if severity_at(&line[end..]).is_some() {
                        return Some(end);
                    }
                }
                *values = saved;
            }
            None
        }
    }
}

fn set<'a>(values: &mut PrefixValues<'a>, escape: Escape, raw: &'a str) -> Option<()> {
    let value = raw.trim();
    let named = (!value.is_empty()).then_some(value);
    match escape {
        Escape::Application => values.application = named,
        Escape::User => values.user = named,
        Escape::Database => values.database = named,
        Escape::Pid => values.pid = named,
        Escape::LineNum => values.line_num = Some(value.parse().ok()?),
        Escape::Session => values.session = named,
        Escape::Time => values.time = Some(parse_log_time(value)?),
        Escape::Epoch => {
            let (secs, frac) = value.split_once('.').unwrap_or((value, "0"));
            let millis: i64 = format!("{frac:0<3}")[..3].parse().ok()?;
            values.time =
                DateTime::from_timestamp_millis(secs.parse::<i64>().ok()? * 1000 + millis);
        }
        Escape::SessionStart | Escape::Number | Escape::Other => {}
    }
    Some(())
}

fn leading_spaces(text: &str) -> usize {
    text.len() - text.trim_start_matches(' ').len()
}

fn number_len(text: &str, fraction: bool) -> Option<usize> {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    if fraction && text.as_bytes().get(digits) == Some(&b'.') {
        let more = text[digits + 1..]
            .bytes()
            .take_while(u8::is_ascii_digit)
            .count();
        return Some(digits + 1 + more);
    }
    Some(digits)
}

/// `YYYY-MM-DD HH:MM:SS[.fff] ZONE`.
fn time_len(text: &str) -> Option<usize> {
    let b = text.as_bytes();
    let digit = |i: usize| b.get(i).is_some_and(u8::is_ascii_digit);
    let shape = "dddd-dd-dd dd:dd:dd";
    for (i, c) in shape.bytes().enumerate() {
        let ok = if c == b'd' {
            digit(i)
        } else {
            b.get(i) == Some(&c)
        };
        if !ok {
            return None;
        }
    }
    let mut at = shape.len();
    if b.get(at) == Some(&b'.') {
        at += 1;
        while digit(at) {
            at += 1;
        }
    }
    if b.get(at) != Some(&b' ') {
        return None;
    }
    at += 1;
    // An abbreviation (`UTC`, `CEST`) or an offset (`+03`, `-0330`).
    let zone = b[at..]
        .iter()
        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'+' || **c == b'-')
        .count();
    (zone > 0).then_some(at + zone)
}

/// `%c`: the session start time and the pid in hex, joined by a dot.
fn session_len(text: &str) -> Option<usize> {
    let hex = |s: &str| s.bytes().take_while(u8::is_ascii_hexdigit).count();
    let first = hex(text);
    if first == 0 || text.as_bytes().get(first) != Some(&b'.') {
        return None;
    }
    let second = hex(&text[first + 1..]);
    (second > 0).then_some(first + 1 + second)
}

/// A message's first line and its tab-indented continuation lines,
/// rejoined (PostgreSQL puts a tab after each newline of a message).
pub fn join_continuation(message: &mut String, line: &str) {
    message.push('\n');
    message.push_str(line.strip_prefix('\t').unwrap_or(line));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Option<DateTime<Utc>> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn the_default_prefix_gives_time_and_pid() {
        let prefix = LinePrefix::parse(DEFAULT_PREFIX).unwrap();
        let line = prefix
            .match_line("2026-12-06 17:45:06.123 UTC [4242] LOG:  statement: SELECT 1;")
            .unwrap();
        assert_eq!(line.values.time, at("2026-12-06T17:45:06.123Z"));
        assert_eq!(line.values.pid, Some("4242"));
        assert_eq!(line.values.user, None);
        assert_eq!(line.severity, "LOG");
        assert_eq!(line.message, "statement: SELECT 1;");
        assert!(prefix.has_time() && prefix.has_session_or_pid());
        // A continuation line (tab) or foreign output does not match.
        assert_eq!(prefix.match_line("\tFROM orders"), None);
        assert_eq!(prefix.match_line("could not open file"), None);
    }

    #[test]
    fn debians_prefix_stops_at_q_for_processes_without_a_session() {
        let prefix = LinePrefix::parse("%m [%p] %q%u@%d ").unwrap();
        let session = prefix
            .match_line(
                "2026-12-06 17:45:06.123 CET [77] alice@shop ERROR:  relation \"x\" does not exist",
            )
            .unwrap();
        assert_eq!(session.values.time, at("2026-12-06T16:45:06.123Z"));
        assert_eq!(
            (session.values.user, session.values.database),
            (Some("alice"), Some("shop"))
        );
        assert_eq!(session.severity, "ERROR");
        let checkpointer = prefix
            .match_line("2026-12-06 17:45:06.123 UTC [70] LOG:  checkpoint starting: time")
            .unwrap();
        assert_eq!(checkpointer.values.user, None);
        assert_eq!(checkpointer.message, "checkpoint starting: time");
        // A session before authentication prints empty user and database.
        let early = prefix
            .match_line("2026-12-06 17:45:06.123 UTC [78] [unknown]@[unknown] LOG:  connection received: host=127.0.0.1 port=5555")
            .unwrap();
        assert_eq!(early.values.user, Some("[unknown]"));
    }

    #[test]
    fn names_holding_the_separator_and_padding_and_verbose_sqlstate() {
        let prefix = LinePrefix::parse("%t:%r:%-8u@%d:[%p]:%a|%c|%l|%n ").unwrap();
        let line = prefix
            .match_line(
                "2026-12-06 17:45:06 +0130:127.0.0.1(5432):bob     @my@db:[9]:my app|6752e2b1.1a2b|17|1765043106.250 LOG:  00000: execute <unnamed>: SELECT $1",
            )
            .unwrap();
        // %n comes last and wins for the time.
        assert_eq!(line.values.time, at("2025-12-06T17:45:06.250Z"));
        assert_eq!(line.values.user, Some("bob"));
        assert_eq!(line.values.database, Some("my@db"));
        assert_eq!(line.values.application, Some("my app"));
        assert_eq!(line.values.session, Some("6752e2b1.1a2b"));
        assert_eq!(line.values.line_num, Some(17));
        assert_eq!(line.message, "execute <unnamed>: SELECT $1");
        let t = LinePrefix::parse("%t ").unwrap();
        assert_eq!(
            t.match_line("2026-12-06 17:45:06 +0130 LOG:  x")
                .unwrap()
                .values
                .time,
            at("2026-12-06T16:15:06Z")
        );
    }

    #[test]
    fn a_prefix_ending_in_a_name_finds_the_severity() {
        let prefix = LinePrefix::parse("%m %u").unwrap();
        let line = prefix
            .match_line("2026-12-06 17:45:06.123 UTC carol LOG:  statement: SELECT 1")
            .unwrap();
        assert_eq!(line.values.user, Some("carol"));
        let prefix = LinePrefix::parse("%m user=%u ").unwrap();
        let line = prefix
            .match_line("2026-12-06 17:45:06.123 UTC user=carol LOG:  statement: SELECT 1")
            .unwrap();
        assert_eq!(line.values.user, Some("carol"));
    }

    #[test]
    fn unknown_escapes_and_missing_time_are_reported() {
        let err = LinePrefix::parse("%m %z ").unwrap_err();
        assert!(
            err.contains("%z") && err.contains("SHOW log_line_prefix"),
            "{err}"
        );
        assert!(LinePrefix::parse("%m 100%").is_err());
        assert!(!LinePrefix::parse("[%p] %u ").unwrap().has_time());
        assert!(LinePrefix::parse("[%p] %q%m ").unwrap().has_time());
        assert_eq!(
            LinePrefix::parse("100%% %m ").unwrap().parts[0],
            Part::Literal("100% ".into())
        );
    }
}
