//! SQL intelligence for query text that enters the lake (BI scrapes,
//! warehouse logs): anonymization (every literal becomes `?`), a stable
//! fingerprint, and the tables and columns a statement reads and writes.
//!
//! `analyze` is the one call a collector makes per query text; it never
//! fails and never returns a literal from its input, not even in an error.

mod anonymize;
mod columns;
mod dialect;
mod lexer;
mod references;
mod repair;
mod schema;
mod template;

use datafusion::sql::sqlparser::dialect::{
    BigQueryDialect, DatabricksDialect, Dialect, GenericDialect, MsSqlDialect, MySqlDialect,
    PostgreSqlDialect, RedshiftSqlDialect, SnowflakeDialect,
};
use datafusion::sql::sqlparser::parser::Parser;
use serde::{Deserialize, Serialize};

pub use references::References;
pub use schema::{Schema, SchemaError};

/// The SQL dialects query text is read in.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, clap::ValueEnum,
)]
#[serde(rename_all = "lowercase")]
pub enum SqlDialect {
    #[default]
    Generic,
    Postgres,
    Snowflake,
    Bigquery,
    Mysql,
    Redshift,
    #[value(alias = "spark")]
    #[serde(alias = "spark")]
    Databricks,
    Mssql,
}

impl SqlDialect {
    /// sqlparser's dialect, reading plain names in one step
    /// ([`dialect::NamesFirst`]).
    fn parser_dialect(self) -> Box<dyn Dialect> {
        self.sqlparser_dialect(true)
    }

    /// sqlparser's dialect as it is (`names_first: false`) or wrapped.
    fn sqlparser_dialect(self, names_first: bool) -> Box<dyn Dialect> {
        fn boxed<D: Dialect>(d: D, names_first: bool) -> Box<dyn Dialect> {
            if names_first {
                Box::new(dialect::NamesFirst(d))
            } else {
                Box::new(d)
            }
        }
        match self {
            Self::Generic => boxed(GenericDialect {}, names_first),
            Self::Postgres => boxed(PostgreSqlDialect {}, names_first),
            Self::Snowflake => boxed(SnowflakeDialect {}, names_first),
            Self::Bigquery => boxed(BigQueryDialect {}, names_first),
            Self::Mysql => boxed(MySqlDialect {}, names_first),
            Self::Redshift => boxed(RedshiftSqlDialect {}, names_first),
            Self::Databricks => boxed(DatabricksDialect {}, names_first),
            Self::Mssql => boxed(MsSqlDialect {}, names_first),
        }
    }
}

/// The analysis of one statement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StatementAnalysis {
    /// The statement with every literal replaced by `?` and comments dropped.
    pub anonymized: String,
    /// 16 hex digits; equal for statements that differ only in literals,
    /// list lengths, keyword case, whitespace or identifier quoting.
    pub fingerprint: String,
    /// Tables read.
    pub tables: Vec<String>,
    /// Tables written (INSERT, UPDATE, DELETE, MERGE, CREATE … AS).
    pub written_tables: Vec<String>,
    /// `table.column` where the text allows, else `column`.
    pub columns: Vec<String>,
    /// `parse_error: …` when references could not be extracted; the
    /// anonymized text and fingerprint are still valid.
    pub error: Option<String>,
}

/// FNV-1a, 64 bit: stable across Rust versions and platforms (unlike the
/// standard library's hasher), so fingerprints in the lake stay comparable.
struct Fnv1a(u64);

impl Default for Fnv1a {
    fn default() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Fnv1a {
    fn byte(&mut self, byte: u8) {
        self.0 ^= u64::from(byte);
        self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
    }

    fn write(&mut self, bytes: &[u8]) {
        bytes.iter().for_each(|&b| self.byte(b));
    }

    /// 16 hex digits.
    fn hex(&self) -> String {
        format!("{:016x}", self.0)
    }
}

fn fnv1a(text: &str) -> String {
    let mut hash = Fnv1a::default();
    hash.write(text.as_bytes());
    hash.hex()
}

/// One fingerprint for a text of several statements: the statements'
/// fingerprints in order, hashed again.
pub fn fingerprint_of_fingerprints(parts: &[&str]) -> String {
    fnv1a(&parts.join(";"))
}

/// The parser's message without any quoted input: only where it stopped.
fn parse_error(message: &str) -> String {
    let position = message
        .find("Line: ")
        .map(|at| message[at..].trim_end_matches(|c: char| !c.is_ascii_digit()))
        .filter(|p| {
            p.chars()
                .all(|c| c.is_ascii_digit() || " ,:LineColum".contains(c))
        });
    match position {
        Some(p) => format!("parse_error: the statement does not parse as SQL here ({p})"),
        None => "parse_error: the statement does not parse as SQL".to_string(),
    }
}

/// Analyzes every statement of `sql` (one result per statement; a text
/// with none gives none).
pub fn analyze(sql: &str, dialect: SqlDialect) -> Vec<StatementAnalysis> {
    analyze_with_schema(sql, dialect, &Schema::default())
}

/// `analyze` with the tables' columns known (from a schema file or a
/// warehouse's `information_schema`): an unqualified column goes to the
/// table that has it, also out of a correlated subquery.
pub fn analyze_with_schema(
    sql: &str,
    dialect: SqlDialect,
    schema: &Schema,
) -> Vec<StatementAnalysis> {
    analyze_in(
        sql,
        dialect,
        schema,
        dialect.parser_dialect().as_ref(),
        Some(lexer::Lexicon::get(dialect)),
    )
}

/// `analyze_with_schema` with the parser's dialect given, and our
/// tokenizer's lexicon (`None`: sqlparser's tokenizer only).
fn analyze_in(
    sql: &str,
    dialect: SqlDialect,
    schema: &Schema,
    parser_dialect: &dyn Dialect,
    lexicon: Option<&lexer::Lexicon>,
) -> Vec<StatementAnalysis> {
    let (plain, _templated) = template::neutralize(sql);
    let statements = match anonymize::tokenize(&plain, parser_dialect, lexicon) {
        Ok(statements) => statements,
        Err((line, column)) => {
            let anonymized = anonymize::scrub(&plain);
            return vec![StatementAnalysis {
                fingerprint: fnv1a(&anonymized.to_lowercase()),
                anonymized,
                tables: Vec::new(),
                written_tables: Vec::new(),
                columns: Vec::new(),
                error: Some(format!(
                    "parse_error: the text does not tokenize as SQL (Line: {line}, Column: {column})"
                )),
            }];
        }
    };
    statements
        .into_iter()
        .map(|statement| {
            let anonymize::Statement {
                anonymized,
                fingerprint,
                tokens,
            } = statement;
            let parse = |sql: &str| {
                Parser::new(parser_dialect)
                    .try_with_sql(sql)
                    .and_then(|mut p| p.parse_statements())
            };
            // The tokens the anonymizer made go to the parser as they are.
            let mut parser = Parser::new(parser_dialect).with_tokens_with_locations(tokens);
            // Dialect syntax the parser does not know gets one retry in a
            // form it does (same names); the first error is the one told.
            let parsed = parser.parse_statements().or_else(|error| {
                let source = anonymize::source(&parser.into_tokens());
                repair::repair(&source, dialect, parser_dialect)
                    .and_then(|repaired| parse(&repaired).ok())
                    .ok_or(error)
            });
            let (refs, error) = match parsed {
                Ok(parsed) => {
                    let mut all = References::default();
                    for s in &parsed {
                        let r = references::references(s, dialect, schema);
                        all.tables.extend(r.tables);
                        all.written_tables.extend(r.written_tables);
                        all.columns.extend(r.columns);
                    }
                    (all, None)
                }
                Err(e) => (References::default(), Some(parse_error(&e.to_string()))),
            };
            StatementAnalysis {
                anonymized,
                fingerprint,
                tables: refs.tables,
                written_tables: refs.written_tables,
                columns: refs.columns,
                error,
            }
        })
        .collect()
}

/// Just the anonymized statements of `sql`.
pub fn anonymize(sql: &str, dialect: SqlDialect) -> Vec<String> {
    analyze(sql, dialect)
        .into_iter()
        .map(|a| a.anonymized)
        .collect()
}

/// One input line of `usagelake sql analyze`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeInput {
    pub id: serde_json::Value,
    pub sql: String,
}

/// One output line: the input id with one statement's analysis.
#[derive(Debug, Serialize)]
pub struct AnalyzeOutput {
    pub id: serde_json::Value,
    #[serde(flatten)]
    pub analysis: StatementAnalysis,
}

/// Reads JSON lines `{"id", "sql"}` and writes one JSON line per
/// statement. A line that is not such an object gets an output line with
/// its line number as id and the error, and the run goes on.
pub fn analyze_lines(
    input: impl std::io::BufRead,
    output: impl std::io::Write,
    dialect: SqlDialect,
) -> std::io::Result<usize> {
    analyze_lines_with_schema(input, output, dialect, &Schema::default())
}

/// `analyze_lines` resolving columns with `schema`.
pub fn analyze_lines_with_schema(
    input: impl std::io::BufRead,
    mut output: impl std::io::Write,
    dialect: SqlDialect,
    schema: &Schema,
) -> std::io::Result<usize> {
    let mut written = 0;
    for (index, line) in input.lines().enumerate() {
        let line = line?;
        if line.trim().is_empty() {
            continue;
        }
        let outputs = match serde_json::from_str::<AnalyzeInput>(&line) {
            Ok(input) => analyze_with_schema(&input.sql, dialect, schema)
                .into_iter()
                .map(|analysis| AnalyzeOutput {
                    id: input.id.clone(),
                    analysis,
                })
                .collect(),
            // serde's message may quote the line; say only where and what to write.
            Err(_) => vec![AnalyzeOutput {
                id: serde_json::Value::from(index + 1),
                analysis: StatementAnalysis {
                    anonymized: String::new(),
                    fingerprint: String::new(),
                    tables: Vec::new(),
                    written_tables: Vec::new(),
                    columns: Vec::new(),
                    error: Some(format!(
                        "input line {}: expected a JSON object {{\"id\": …, \"sql\": \"…\"}}",
                        index + 1
                    )),
                },
            }],
        };
        for out in outputs {
            serde_json::to_writer(&mut output, &out)?;
            output.write_all(b"\n")?;
            written += 1;
        }
    }
    Ok(written)
}

/// Every entry of the SQL corpus (`tests/data/sql/*.jsonl`), for the
/// tests that hold a fast path to the slow one on it.
#[cfg(test)]
fn corpus() -> Vec<serde_json::Value> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sql");
    let mut entries = Vec::new();
    for file in std::fs::read_dir(dir).unwrap() {
        let path = file.unwrap().path();
        if path.extension().is_none_or(|x| x != "jsonl") {
            continue;
        }
        for line in std::fs::read_to_string(&path).unwrap().lines() {
            entries.push(serde_json::from_str(line).unwrap());
        }
    }
    assert!(entries.len() >= 500, "{}", entries.len());
    entries
}
