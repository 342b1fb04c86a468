//! PostgreSQL server logs (`log_statement = 'all'` or
//! `log_min_duration_statement`) → one `query_log` row per executed
//! statement. Files are streamed record by record: memory holds the day's
//! rows and one entry per open session, never a file.
//!
//! Facts of PostgreSQL 15 this follows:
//! - `log_destination = 'csvlog,jsonlog'` writes every record to
//!   `X.csv` and `X.json` (and early messages to `X.log`): one format is
//!   read per file stem, csv before json before stderr;
//! - a failing statement is logged as `statement: …`, then an `ERROR`
//!   record of the same session repeats it in its query field: not usage;
//! - extended protocol logs `execute <name>: … $1 …` with the bound values
//!   in `detail`, which is never read;
//! - `query_id` is 0 on `statement:` records and some connection records
//!   carry unrelated ones: it is never used.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::Deserialize;

use super::log_time::parse_log_time;
use super::prefix::{DEFAULT_PREFIX, LinePrefix, join_continuation};
use super::{is_excluded_user, is_session_control};
use crate::config::ConnectorConfig;
use crate::sources::bi_queries::RowSink;
use crate::sources::collect::{BiRow, CollectError, Collected, ResourceType, RowScope, Slice};

/// Records logged this long after the mined day ends stop a file's read:
/// the syslogger writes in arrival order, and a statement's `ERROR` comes
/// milliseconds after it.
const AFTER_DAY_MARGIN: chrono::Duration = chrono::Duration::minutes(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Format {
    Csv,
    Json,
    Stderr,
}

#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    format: Format,
    /// The file name without `.csv` / `.json` / `.log`: PostgreSQL names
    /// the formats of one log file this way.
    stem: String,
}

/// One log record, whichever the format.
#[derive(Debug, Default)]
struct Record<'a> {
    time: Option<DateTime<Utc>>,
    user: Option<&'a str>,
    database: Option<&'a str>,
    application: Option<&'a str>,
    /// `session_id` (csv, json, `%c`), else the process id.
    session: Option<&'a str>,
    line_num: Option<u64>,
    severity: &'a str,
    message: &'a str,
    /// The statement an `ERROR` record repeats.
    query: Option<&'a str>,
    /// The record's first line in its file (1-based).
    file_line: u64,
}

/// Whether to keep reading a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Continue,
    Stop,
}

/// Counts kept with the sync job.
#[derive(Debug, Default)]
struct Stats {
    files_read: u64,
    files_other_format: u64,
    files_older_than_day: u64,
    records: u64,
    failed_statements: u64,
    excluded_user_statements: u64,
    session_control_statements: u64,
    other_day_statements: u64,
    statements_without_user: u64,
    unparsed_lines: u64,
}

/// Turns records into rows for one day.
struct Miner<'c> {
    connector: &'c ConnectorConfig,
    day_start: DateTime<Utc>,
    day_end: DateTime<Utc>,
    /// Per session, the row of its last statement while its fate (an
    /// `ERROR` record) is still open; once settled it goes to `ready`.
    pending: HashMap<String, BiRow>,
    /// Statements that ran, handed to the sink in batches so a day's log
    /// is never held whole.
    ready: Vec<BiRow>,
    sink: &'c RowSink,
    statements: u64,
    stats: Stats,
}

/// Rows handed to the sink at a time: one lock per batch, little memory.
const READY_BATCH: usize = 4096;

/// Mines the statements `connector`'s `log_dir` holds for `date`.
pub fn mine(
    connector: &ConnectorConfig,
    date: NaiveDate,
    sink: &RowSink,
) -> Result<Collected, CollectError> {
    let dir = Path::new(connector.log_dir.as_deref().unwrap_or_default());
    let prefix_text = connector
        .log_line_prefix
        .as_deref()
        .unwrap_or(DEFAULT_PREFIX);
    let prefix = LinePrefix::parse(prefix_text).map_err(|e| CollectError::source(connector, e))?;
    let day_start = date.and_hms_opt(0, 0, 0).expect("midnight").and_utc();
    let mut miner = Miner {
        connector,
        day_start,
        day_end: day_start + Days::new(1),
        pending: HashMap::new(),
        ready: Vec::new(),
        sink,
        statements: 0,
        stats: Stats::default(),
    };
    let files = discover(connector, dir, &mut miner.stats)?;
    for file in &files {
        // A file last written before the day began holds none of it.
        let modified = std::fs::metadata(&file.path)
            .and_then(|m| m.modified())
            .map(DateTime::<Utc>::from)
            .map_err(|e| read_error(connector, &file.path, &e))?;
        if modified < day_start {
            miner.stats.files_older_than_day += 1;
            continue;
        }
        miner.stats.files_read += 1;
        let stem = file.stem.clone();
        let mut on_record = |record: &Record| miner.on_record(record, &stem);
        match file.format {
            Format::Csv => read_csv(connector, &file.path, &mut on_record)?,
            Format::Json => read_json(connector, &file.path, &mut on_record)?,
            Format::Stderr => {
                if !prefix.has_time() {
                    return Err(CollectError::source(
                        connector,
                        format!(
                            "{}: log_line_prefix {prefix_text:?} puts no time on lines, so statements cannot be dated; add %m to the server's log_line_prefix (and to the connector's), or log with log_destination = 'csvlog'",
                            file.path.display()
                        ),
                    ));
                }
                let unparsed = read_stderr(connector, &file.path, &prefix, &mut on_record)?;
                miner.stats.unparsed_lines += unparsed;
            }
        }
    }
    Ok(miner.finish(date))
}

fn read_error(connector: &ConnectorConfig, path: &Path, e: &std::io::Error) -> CollectError {
    CollectError::source(
        connector,
        format!(
            "reading the server log {}: {e}; check that log_dir is right and readable by this user",
            path.display()
        ),
    )
}

/// The log files of `dir`, one format per stem, sorted by name (the
/// order PostgreSQL's `log_filename` patterns write them in).
fn discover(
    connector: &ConnectorConfig,
    dir: &Path,
    stats: &mut Stats,
) -> Result<Vec<LogFile>, CollectError> {
    let entries = std::fs::read_dir(dir).map_err(|e| {
        CollectError::source(
            connector,
            format!(
                "log_dir {}: {e}; set log_dir to the server's log_directory (SHOW log_directory, relative to the data directory)",
                dir.display()
            ),
        )
    })?;
    let mut by_stem: BTreeMap<String, Vec<LogFile>> = BTreeMap::new();
    for entry in entries {
        let entry = entry.map_err(|e| read_error(connector, dir, &e))?;
        let path = entry.path();
        if !path.is_file() {
            continue;
        }
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let (stem, format) = if let Some(stem) = name.strip_suffix(".csv") {
            (stem, Format::Csv)
        } else if let Some(stem) = name.strip_suffix(".json") {
            (stem, Format::Json)
        } else if let Some(stem) = name.strip_suffix(".log") {
            (stem, Format::Stderr)
        } else {
            continue;
        };
        by_stem.entry(stem.to_string()).or_default().push(LogFile {
            stem: stem.to_string(),
            path,
            format,
        });
    }
    let mut files = Vec::new();
    for (_, mut formats) in by_stem {
        formats.sort_by_key(|f| f.format);
        stats.files_other_format += formats.len() as u64 - 1;
        files.push(formats.remove(0));
    }
    Ok(files)
}

/// The statement text of a record's message, if it logs one being run.
fn statement_text(message: &str) -> Option<&str> {
    // `log_min_duration_statement` logs `duration: 1.2 ms  statement: …`
    // after the run (and the duration alone when the statement was
    // already logged).
    let message = match message.strip_prefix("duration: ") {
        Some(rest) => rest.split_once(" ms  ")?.1,
        None => message,
    };
    if let Some(text) = message.strip_prefix("statement: ") {
        return Some(text);
    }
    // `execute <unnamed>: …`, `execute s0: …`, `execute s/portal: …`;
    // `execute fetch from …` continues a portal already counted.
    let rest = message.strip_prefix("execute ")?;
    if rest.starts_with("fetch from ") {
        return None;
    }
    Some(rest.split_once(": ")?.1)
}

/// A statement as stored and compared: without the trailing `;` psql
/// sends and surrounding blanks.
fn trimmed(text: &str) -> &str {
    text.trim().trim_end_matches(';').trim_end()
}

impl Miner<'_> {
    fn on_record(&mut self, record: &Record, stem: &str) -> Flow {
        self.stats.records += 1;
        let session = record.session.unwrap_or("");
        if matches!(record.severity, "ERROR" | "FATAL" | "PANIC") {
            // The error of the session's pending statement: it did not run.
            if let Some(query) = record.query
                && self
                    .pending
                    .get(session)
                    .is_some_and(|row| row.sql.as_deref() == Some(trimmed(query)))
            {
                self.pending.remove(session);
                self.stats.failed_statements += 1;
            }
        } else if record.severity == "LOG"
            && let Some(text) = statement_text(record.message)
        {
            // The session's previous statement ran; this one is pending.
            let ran = match self.on_statement(record, trimmed(text), stem) {
                Some(row) => match self.pending.get_mut(session) {
                    Some(slot) => Some(std::mem::replace(slot, row)),
                    None => self.pending.insert(session.to_string(), row),
                },
                None => self.pending.remove(session),
            };
            if let Some(row) = ran {
                self.ran(row);
            }
        }
        match record.time {
            Some(t) if t > self.day_end + AFTER_DAY_MARGIN => Flow::Stop,
            _ => Flow::Continue,
        }
    }

    /// The row of a statement that counts, if it does.
    fn on_statement(&mut self, record: &Record, text: &str, stem: &str) -> Option<BiRow> {
        let time = record.time?;
        if time < self.day_start || time >= self.day_end {
            self.stats.other_day_statements += 1;
            return None;
        }
        match record.user {
            Some(user) if is_excluded_user(self.connector, user) => {
                self.stats.excluded_user_statements += 1;
                return None;
            }
            Some(_) => {}
            None => self.stats.statements_without_user += 1,
        }
        if is_session_control(text) {
            self.stats.session_control_statements += 1;
            return None;
        }
        let resource_id = match (record.session, record.line_num) {
            (Some(session), Some(line)) => format!("{session}:{line}"),
            _ => format!("{stem}:{}", record.file_line),
        };
        Some(BiRow {
            title: record.application.map(str::to_string),
            sql: Some(text.to_string()),
            database: record.database.map(str::to_string),
            executed_by: record.user.map(str::to_string),
            executed_at: Some(time),
            ..BiRow::new(ResourceType::QueryLog, resource_id)
        })
    }

    fn ran(&mut self, row: BiRow) {
        self.statements += 1;
        self.ready.push(row);
        if self.ready.len() >= READY_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let mut sink = self.sink.lock().unwrap_or_else(|e| e.into_inner());
        for row in self.ready.drain(..) {
            sink.push(&row);
        }
    }

    fn finish(mut self, date: NaiveDate) -> Collected {
        // A session's last statement had no error after it: it ran.
        let settled: Vec<BiRow> = self.pending.drain().map(|(_, row)| row).collect();
        for row in settled {
            self.ran(row);
        }
        self.flush();
        let Miner {
            statements, stats, ..
        } = self;
        let mut report = serde_json::Map::new();
        report.insert("source".into(), "logs".into());
        for (key, value) in [
            ("files_read", stats.files_read),
            ("files_other_format", stats.files_other_format),
            ("files_older_than_day", stats.files_older_than_day),
            ("records", stats.records),
            ("statements", statements),
            ("failed_statements", stats.failed_statements),
            ("excluded_user_statements", stats.excluded_user_statements),
            (
                "session_control_statements",
                stats.session_control_statements,
            ),
            ("other_day_statements", stats.other_day_statements),
            ("statements_without_user", stats.statements_without_user),
            ("unparsed_lines", stats.unparsed_lines),
        ] {
            report.insert(key.into(), value.into());
        }
        Collected {
            rows: Vec::new(),
            slices: vec![Slice {
                date,
                scope: RowScope::Executions,
            }],
            report,
            checkpoint: None,
        }
    }
}

/// csvlog columns (stable since PostgreSQL 9.0; later versions append).
mod csv_col {
    pub const LOG_TIME: usize = 0;
    pub const USER: usize = 1;
    pub const DATABASE: usize = 2;
    pub const PID: usize = 3;
    pub const SESSION: usize = 5;
    pub const LINE_NUM: usize = 6;
    pub const SEVERITY: usize = 11;
    pub const MESSAGE: usize = 13;
    pub const QUERY: usize = 19;
    pub const APPLICATION: usize = 22;
    pub const COUNT: usize = 23;
}

fn read_csv(
    connector: &ConnectorConfig,
    path: &Path,
    on_record: &mut dyn FnMut(&Record) -> Flow,
) -> Result<(), CollectError> {
    let file = File::open(path).map_err(|e| read_error(connector, path, &e))?;
    // Multi-line statements are quoted multi-line fields: a CSV parser,
    // not line splitting.
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .buffer_capacity(1 << 16)
        .from_reader(file);
    let mut raw = csv::ByteRecord::new();
    loop {
        match reader.read_byte_record(&mut raw) {
            Ok(true) => {}
            Ok(false) => return Ok(()),
            Err(e) => {
                return Err(CollectError::source(
                    connector,
                    format!(
                        "{}: not a csvlog file ({e}); give log_dir the server's log_directory, whose .csv files PostgreSQL writes",
                        path.display()
                    ),
                ));
            }
        }
        let line = raw.position().map_or(0, |p| p.line());
        if raw.len() < csv_col::COUNT {
            // The last record of a file being written can be cut short.
            continue;
        }
        let field = |i: usize| String::from_utf8_lossy(raw.get(i).unwrap_or_default());
        let log_time = field(csv_col::LOG_TIME);
        let time =
            parse_log_time(&log_time).ok_or_else(|| bad_time(connector, path, line, "log_time"))?;
        let session = field(csv_col::SESSION);
        let pid = field(csv_col::PID);
        let user = field(csv_col::USER);
        let database = field(csv_col::DATABASE);
        let application = field(csv_col::APPLICATION);
        let severity = field(csv_col::SEVERITY);
        let message = field(csv_col::MESSAGE);
        let query = field(csv_col::QUERY);
        let line_num = field(csv_col::LINE_NUM);
        let record = Record {
            time: Some(time),
            user: non_empty(&user),
            database: non_empty(&database),
            application: non_empty(&application),
            session: non_empty(&session).or(non_empty(&pid)),
            line_num: line_num.parse().ok(),
            severity: &severity,
            message: &message,
            query: non_empty(&query),
            file_line: line,
        };
        if on_record(&record) == Flow::Stop {
            return Ok(());
        }
    }
}

fn non_empty(value: &str) -> Option<&str> {
    (!value.is_empty()).then_some(value)
}

fn bad_time(connector: &ConnectorConfig, path: &Path, line: u64, field: &str) -> CollectError {
    CollectError::source(
        connector,
        format!(
            "{}:{line}: the {field} field is not a time PostgreSQL writes with a known zone; set log_timezone = 'UTC' on the server",
            path.display()
        ),
    )
}

/// jsonlog keys (PostgreSQL 15+); absent when null.
#[derive(Deserialize)]
struct JsonRecord<'a> {
    #[serde(borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    user: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dbname: Option<Cow<'a, str>>,
    pid: Option<u64>,
    #[serde(borrow)]
    session_id: Option<Cow<'a, str>>,
    line_num: Option<u64>,
    #[serde(borrow)]
    error_severity: Option<Cow<'a, str>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
    #[serde(borrow)]
    statement: Option<Cow<'a, str>>,
    #[serde(borrow)]
    application_name: Option<Cow<'a, str>>,
}

fn read_json(
    connector: &ConnectorConfig,
    path: &Path,
    on_record: &mut dyn FnMut(&Record) -> Flow,
) -> Result<(), CollectError> {
    let file = File::open(path).map_err(|e| read_error(connector, path, &e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut line = 0u64;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| read_error(connector, path, &e))?;
        if n == 0 {
            return Ok(());
        }
        line += 1;
        let complete = buf.last() == Some(&b'\n');
        let text = buf.trim_ascii();
        if text.is_empty() {
            continue;
        }
        let json: JsonRecord = match serde_json::from_slice(text) {
            Ok(json) => json,
            // The last line of a file being written can be cut short.
            Err(_) if !complete => return Ok(()),
            Err(e) => {
                return Err(CollectError::source(
                    connector,
                    format!(
                        "{}:{line}: not a jsonlog record (column {}); give log_dir the server's log_directory, whose .json files PostgreSQL 15+ writes",
                        path.display(),
                        e.column()
                    ),
                ));
            }
        };
        let time = json
            .timestamp
            .as_deref()
            .and_then(parse_log_time)
            .ok_or_else(|| bad_time(connector, path, line, "timestamp"))?;
        let pid = json.pid.map(|p| p.to_string());
        let record = Record {
            time: Some(time),
            user: json.user.as_deref(),
            database: json.dbname.as_deref(),
            application: json.application_name.as_deref().and_then(non_empty),
            session: json.session_id.as_deref().or(pid.as_deref()),
            line_num: json.line_num,
            severity: json.error_severity.as_deref().unwrap_or(""),
            message: json.message.as_deref().unwrap_or(""),
            query: json.statement.as_deref(),
            file_line: line,
        };
        if on_record(&record) == Flow::Stop {
            return Ok(());
        }
    }
}

/// What a stderr record is being assembled from.
#[derive(Debug, Default)]
struct StderrRecord {
    time: Option<DateTime<Utc>>,
    user: Option<String>,
    database: Option<String>,
    application: Option<String>,
    session: Option<String>,
    line_num: Option<u64>,
    severity: String,
    message: String,
    query: Option<String>,
    file_line: u64,
    /// Where a tab-indented continuation line goes.
    continues: Continues,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
enum Continues {
    #[default]
    Message,
    Query,
    Nothing,
}

impl StderrRecord {
    fn as_record(&self) -> Record<'_> {
        Record {
            time: self.time,
            user: self.user.as_deref(),
            database: self.database.as_deref(),
            application: self.application.as_deref(),
            session: self.session.as_deref(),
            line_num: self.line_num,
            severity: &self.severity,
            message: &self.message,
            query: self.query.as_deref(),
            file_line: self.file_line,
        }
    }
}

/// Reads a stderr log; returns how many lines neither start with the
/// prefix nor continue a record.
fn read_stderr(
    connector: &ConnectorConfig,
    path: &Path,
    prefix: &LinePrefix,
    on_record: &mut dyn FnMut(&Record) -> Flow,
) -> Result<u64, CollectError> {
    let file = File::open(path).map_err(|e| read_error(connector, path, &e))?;
    let mut reader = BufReader::with_capacity(1 << 16, file);
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    let mut unparsed = 0u64;
    let mut current: Option<StderrRecord> = None;
    loop {
        buf.clear();
        let n = reader
            .read_until(b'\n', &mut buf)
            .map_err(|e| read_error(connector, path, &e))?;
        if n == 0 {
            break;
        }
        line_no += 1;
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']);
        if line.starts_with('\t') {
            if let Some(record) = current.as_mut() {
                match record.continues {
                    Continues::Message => join_continuation(&mut record.message, line),
                    Continues::Query => {
                        join_continuation(record.query.get_or_insert_default(), line)
                    }
                    Continues::Nothing => {}
                }
            }
            continue;
        }
        let Some(parsed) = prefix.match_line(line) else {
            unparsed += 1;
            if let Some(record) = current.as_mut() {
                record.continues = Continues::Nothing;
            }
            continue;
        };
        let key = parsed.values.session.or(parsed.values.pid);
        let detail = matches!(
            parsed.severity,
            "DETAIL" | "HINT" | "QUERY" | "CONTEXT" | "LOCATION" | "STATEMENT"
        );
        if detail
            && let Some(record) = current.as_mut()
            && record.session.as_deref() == key
        {
            if parsed.severity == "STATEMENT" {
                record.query = Some(parsed.message.to_string());
                record.continues = Continues::Query;
            } else {
                record.continues = Continues::Nothing;
            }
            continue;
        }
        if let Some(done) = current.take()
            && on_record(&done.as_record()) == Flow::Stop
        {
            return Ok(unparsed);
        }
        let values = parsed.values;
        current = Some(StderrRecord {
            time: values.time,
            user: values.user.map(str::to_string),
            database: values.database.map(str::to_string),
            application: values.application.map(str::to_string),
            session: key.map(str::to_string),
            line_num: values.line_num,
            severity: parsed.severity.to_string(),
            message: parsed.message.to_string(),
            query: None,
            file_line: line_no,
            continues: if detail {
                Continues::Nothing
            } else {
                Continues::Message
            },
        });
    }
    if let Some(done) = current.take() {
        on_record(&done.as_record());
    }
    Ok(unparsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_texts_of_both_protocols_and_durations() {
        assert_eq!(statement_text("statement: SELECT 1;"), Some("SELECT 1;"));
        assert_eq!(
            statement_text("execute <unnamed>: SELECT * FROM t WHERE id = $1"),
            Some("SELECT * FROM t WHERE id = $1")
        );
        assert_eq!(statement_text("execute s0/C_1: SELECT 2"), Some("SELECT 2"));
        assert_eq!(statement_text("execute fetch from s0/C_1: SELECT 2"), None);
        assert_eq!(
            statement_text("duration: 12.041 ms  statement: SELECT 3"),
            Some("SELECT 3")
        );
        assert_eq!(
            statement_text("duration: 0.041 ms  execute <unnamed>: SELECT 4"),
            Some("SELECT 4")
        );
        assert_eq!(
            statement_text("duration: 0.041 ms  parse <unnamed>: SELECT 4"),
            None
        );
        assert_eq!(
            statement_text("duration: 0.041 ms  bind s1: SELECT 4"),
            None
        );
        assert_eq!(statement_text("duration: 0.041 ms"), None);
        assert_eq!(statement_text("connection authorized: user=alice"), None);
        assert_eq!(trimmed(" SELECT 1 ;\n"), "SELECT 1");
    }
}
