//! Dialect syntax that warehouses log every day but the parser does not
//! know, rewritten into syntax it does, keeping every name. Used only to
//! retry a statement that failed to parse: the rewritten text goes to the
//! parser and nowhere else (the anonymized text and the fingerprint come
//! from the original tokens).
//!
//! - Redshift: `APPROXIMATE COUNT(…)`, `COMPOUND` / `INTERLEAVED SORTKEY`,
//!   column `IDENTITY(seed, step)` and `ENCODE codec` → dropped;
//! - Databricks: `CREATE TABLE … USING delta` → the `USING format` goes;
//!   MERGE's `UPDATE SET *` / `INSERT *` → one placeholder assignment /
//!   value (the MERGE's tables are what matter, and a MERGE's columns are
//!   not resolved);
//! - SQL Server: `DELETE` / `UPDATE` / `INSERT TOP (n)` → the `TOP (n)` goes.

use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::tokenizer::{Token, Tokenizer};

use super::SqlDialect;
use super::template::PARAM;

fn is_word(token: Option<&Token>, word: &str) -> bool {
    matches!(token, Some(Token::Word(w)) if w.quote_style.is_none() && w.value.eq_ignore_ascii_case(word))
}

/// What to do at one significant token.
enum Fix {
    /// Leave out this many tokens from here.
    Drop(usize),
    /// Keep this token and put this text in place of the next one.
    ReplaceNext(String),
}

/// The fix at significant token `k` (`at` gives the significant tokens,
/// `creates`: the statement is a CREATE).
fn fix_at<'t>(
    dialect: SqlDialect,
    at: impl Fn(usize) -> Option<&'t Token>,
    k: usize,
    creates: bool,
) -> Option<Fix> {
    let word = |i: usize, w: &str| is_word(at(i), w);
    match dialect {
        SqlDialect::Redshift => {
            let qualifier = (word(k, "APPROXIMATE")
                && (word(k + 1, "COUNT") || word(k + 1, "PERCENTILE_DISC")))
                || ((word(k, "COMPOUND") || word(k, "INTERLEAVED")) && word(k + 1, "SORTKEY"));
            let identity = creates
                && word(k, "IDENTITY")
                && matches!(at(k + 1), Some(Token::LParen))
                && matches!(at(k + 2), Some(Token::Number(..)))
                && matches!(at(k + 3), Some(Token::Comma))
                && matches!(at(k + 4), Some(Token::Number(..)))
                && matches!(at(k + 5), Some(Token::RParen));
            let encode = creates && word(k, "ENCODE") && matches!(at(k + 1), Some(Token::Word(_)));
            if qualifier {
                Some(Fix::Drop(1))
            } else if identity {
                Some(Fix::Drop(6))
            } else if encode {
                Some(Fix::Drop(2))
            } else {
                None
            }
        }
        SqlDialect::Databricks => {
            let star = matches!(at(k + 1), Some(Token::Mul));
            let previous = k.checked_sub(1);
            let after = |w: &str| previous.is_some_and(|p| word(p, w));
            if creates && word(k, "USING") && matches!(at(k + 1), Some(Token::Word(_))) {
                Some(Fix::Drop(2))
            } else if star && word(k, "SET") && after("UPDATE") {
                Some(Fix::ReplaceNext(format!("{PARAM} = {PARAM}")))
            } else if star && word(k, "INSERT") && after("THEN") {
                Some(Fix::ReplaceNext(format!("VALUES ({PARAM})")))
            } else {
                None
            }
        }
        SqlDialect::Mssql => {
            let dml = word(0, "DELETE") || word(0, "UPDATE") || word(0, "INSERT");
            if k != 1 || !dml || !word(1, "TOP") || !matches!(at(2), Some(Token::LParen)) {
                return None;
            }
            // TOP ( expression ): up to the matching parenthesis.
            let mut depth = 0;
            let mut end = 2;
            while let Some(token) = at(end) {
                match token {
                    Token::LParen => depth += 1,
                    Token::RParen => depth -= 1,
                    _ => {}
                }
                end += 1;
                if depth == 0 {
                    break;
                }
            }
            Some(Fix::Drop(end - 1))
        }
        _ => None,
    }
}

/// `source` with the rewrites above, or `None` when none applies.
pub fn repair(source: &str, dialect: SqlDialect, parser_dialect: &dyn Dialect) -> Option<String> {
    if !matches!(
        dialect,
        SqlDialect::Redshift | SqlDialect::Databricks | SqlDialect::Mssql
    ) {
        return None;
    }
    let tokens = Tokenizer::new(parser_dialect, source)
        .with_unescape(false)
        .tokenize()
        .ok()?;
    // Indices of the tokens that are not whitespace.
    let significant: Vec<usize> = (0..tokens.len())
        .filter(|&i| !matches!(tokens[i], Token::Whitespace(_)))
        .collect();
    let at = |k: usize| significant.get(k).map(|&i| &tokens[i]);
    let creates = is_word(at(0), "CREATE");
    // Per significant token: left out, or this text in its place.
    let mut dropped = vec![false; significant.len()];
    let mut replaced: Vec<Option<String>> = vec![None; significant.len()];
    let mut any = false;
    let mut k = 0;
    while k < significant.len() {
        match fix_at(dialect, at, k, creates) {
            Some(Fix::Drop(n)) => {
                let end = (k + n).min(significant.len());
                dropped[k..end].iter_mut().for_each(|d| *d = true);
                k = end;
            }
            Some(Fix::ReplaceNext(text)) => {
                replaced[k + 1] = Some(text);
                k += 2;
            }
            None => {
                k += 1;
                continue;
            }
        }
        any = true;
    }
    if !any {
        return None;
    }
    let mut out = String::with_capacity(source.len());
    let mut next = 0;
    for (i, token) in tokens.iter().enumerate() {
        if significant.get(next) == Some(&i) {
            let k = next;
            next += 1;
            if dropped[k] {
                continue;
            }
            if let Some(text) = &replaced[k] {
                out.push_str(text);
                continue;
            }
        }
        out.push_str(&token.to_string());
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use datafusion::sql::sqlparser::dialect::{
        DatabricksDialect, MsSqlDialect, RedshiftSqlDialect,
    };
    use datafusion::sql::sqlparser::parser::Parser;

    use super::{SqlDialect, repair};

    #[test]
    fn unknown_dialect_syntax_becomes_parsable_keeping_names() {
        let cases: [(SqlDialect, &dyn super::Dialect, &str, &str); 5] = [
            (
                SqlDialect::Redshift,
                &RedshiftSqlDialect {},
                "SELECT APPROXIMATE COUNT(DISTINCT u) FROM t",
                "SELECT  COUNT(DISTINCT u) FROM t",
            ),
            (
                SqlDialect::Redshift,
                &RedshiftSqlDialect {},
                "CREATE TABLE s.t (id BIGINT IDENTITY(1,1) ENCODE az64, u INT) COMPOUND SORTKEY (id)",
                "CREATE TABLE s.t (id BIGINT   , u INT)  SORTKEY (id)",
            ),
            (
                SqlDialect::Databricks,
                &DatabricksDialect {},
                "CREATE TABLE c.s.t USING DELTA AS SELECT * FROM c.s.u",
                "CREATE TABLE c.s.t   AS SELECT * FROM c.s.u",
            ),
            (
                SqlDialect::Databricks,
                &DatabricksDialect {},
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
                "MERGE INTO t USING s ON t.id = s.id WHEN MATCHED THEN UPDATE SET usagelake_param = usagelake_param WHEN NOT MATCHED THEN INSERT VALUES (usagelake_param)",
            ),
            (
                SqlDialect::Mssql,
                &MsSqlDialect {},
                "DELETE TOP (5000) FROM dbo.q WHERE a < 1",
                "DELETE   FROM dbo.q WHERE a < 1",
            ),
        ];
        for (dialect, parser_dialect, input, expected) in cases {
            assert!(Parser::parse_sql(parser_dialect, input).is_err(), "{input}");
            assert_eq!(
                repair(input, dialect, parser_dialect).as_deref(),
                Some(expected),
                "{input}"
            );
            assert!(
                Parser::parse_sql(parser_dialect, expected).is_ok(),
                "{expected}"
            );
        }
        assert_eq!(
            repair(
                "SELECT a FROM t JOIN u USING (id)",
                SqlDialect::Databricks,
                &DatabricksDialect {}
            ),
            None
        );
    }
}
