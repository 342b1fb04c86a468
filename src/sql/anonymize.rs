//! Literal removal on the token stream. Working on tokens, not the AST,
//! means every statement gets anonymized, also one the parser rejects, and
//! nothing the tokenizer classified as a literal can survive.

use std::borrow::Cow;
use std::fmt::Write;

use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer, Whitespace};

use super::Fnv1a;
use super::lexer::{self, Lexicon};

/// One statement of a text.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    /// The statement with every literal replaced by `?` and comments
    /// dropped, spaced where the input was.
    pub anonymized: String,
    /// The fingerprint of the anonymized statement (see [`fingerprint`]).
    pub fingerprint: String,
    /// The statement's tokens for the parser (literals kept: the parser
    /// needs them; never stored), a run of whitespace or comments as one
    /// space. Handing these to the parser saves tokenizing the text a
    /// second time.
    pub tokens: Vec<TokenWithSpan>,
}

/// One output unit of a statement: `?`, a keyword, an identifier,
/// punctuation. Borrows the token's text: no string per word.
#[derive(Debug, Clone, PartialEq)]
struct Unit<'t> {
    /// Static for `?` and common punctuation, borrowed for names.
    text: Cow<'t, str>,
    kind: UnitKind,
    /// Whitespace (or a comment) came before it in the input.
    spaced: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UnitKind {
    Literal,
    Keyword,
    Identifier { quoted: bool },
    Punct,
}

/// A punctuation token's text, as its `Display` writes it.
fn punct<'t>(token: &Token) -> Cow<'t, str> {
    Cow::Borrowed(match token {
        Token::Comma => ",",
        Token::Period => ".",
        Token::LParen => "(",
        Token::RParen => ")",
        Token::Eq => "=",
        Token::Neq => "<>",
        Token::Lt => "<",
        Token::Gt => ">",
        Token::LtEq => "<=",
        Token::GtEq => ">=",
        Token::Plus => "+",
        Token::Minus => "-",
        Token::Mul => "*",
        Token::Div => "/",
        Token::Mod => "%",
        Token::StringConcat => "||",
        Token::Colon => ":",
        Token::DoubleColon => "::",
        Token::LBracket => "[",
        Token::RBracket => "]",
        other => return Cow::Owned(other.to_string()),
    })
}

pub(super) fn is_literal(token: &Token) -> bool {
    matches!(
        token,
        Token::Number(..)
            | Token::SingleQuotedString(_)
            | Token::DoubleQuotedString(_)
            | Token::TripleSingleQuotedString(_)
            | Token::TripleDoubleQuotedString(_)
            | Token::DollarQuotedString(_)
            | Token::SingleQuotedByteStringLiteral(_)
            | Token::DoubleQuotedByteStringLiteral(_)
            | Token::TripleSingleQuotedByteStringLiteral(_)
            | Token::TripleDoubleQuotedByteStringLiteral(_)
            | Token::SingleQuotedRawStringLiteral(_)
            | Token::DoubleQuotedRawStringLiteral(_)
            | Token::TripleSingleQuotedRawStringLiteral(_)
            | Token::TripleDoubleQuotedRawStringLiteral(_)
            | Token::NationalStringLiteral(_)
            | Token::QuoteDelimitedStringLiteral(_)
            | Token::NationalQuoteDelimitedStringLiteral(_)
            | Token::EscapedStringLiteral(_)
            | Token::UnicodeStringLiteral(_)
            | Token::HexStringLiteral(_)
            | Token::Placeholder(_)
    )
}

/// Splits `sql` into statements of anonymized units. `Err` carries the
/// tokenizer's position when the text cannot be tokenized.
/// `lexicon`: read with our tokenizer where it can ([`super::lexer`]).
pub fn tokenize(
    sql: &str,
    dialect: &dyn Dialect,
    lexicon: Option<&Lexicon>,
) -> Result<Vec<Statement>, (u64, u64)> {
    // Sized once instead of regrown (each growth copies every token):
    // whitespace runs are tokens too, so about one per 2 bytes of SQL.
    let mut tokens = Vec::with_capacity(sql.len() / 2 + 8);
    let read = lexicon.is_some_and(|l| lexer::tokenize(sql, l, true, &mut tokens).is_some());
    if !read {
        tokens.clear();
        Tokenizer::new(dialect, sql)
            .with_unescape(false)
            .tokenize_with_location_into_buf(&mut tokens)
            .map_err(|e| (e.location.line, e.location.column))?;
    }
    // Statements are cut out of the token vector in place (kept tokens
    // shift left over dropped ones): a text of one statement, the common
    // case, keeps its vector and moves no token.
    let mut ranges: Vec<std::ops::Range<usize>> = Vec::new();
    let mut write = 0;
    let mut start = 0;
    // Whether the tokens since `start` hold more than whitespace.
    let mut significant = false;
    let mut spaced = false;
    let mut depth = 0i32;
    for read in 0..tokens.len() {
        match &tokens[read].token {
            Token::Whitespace(_) => {
                // A run of whitespace (comments included) is one space to
                // the parser: only whether there is any matters to it, and
                // every token it has to skip costs (indented text is
                // mostly whitespace tokens).
                if spaced {
                    continue;
                }
                tokens[read].token = Token::Whitespace(Whitespace::Space);
                spaced = true;
            }
            Token::SemiColon if depth == 0 => {
                if significant {
                    ranges.push(start..write);
                    start = write;
                } else {
                    write = start;
                }
                significant = false;
                spaced = false;
                continue;
            }
            Token::EOF => continue,
            token => {
                match token {
                    Token::LParen => depth += 1,
                    Token::RParen => depth -= 1,
                    _ => {}
                }
                significant = true;
                spaced = false;
            }
        }
        if write != read {
            tokens.swap(write, read);
        }
        write += 1;
    }
    if significant {
        ranges.push(start..write);
    }
    tokens.truncate(ranges.last().map_or(0, |r| r.end));
    let mut statements: Vec<Statement> = ranges
        .iter()
        .rev()
        .map(|range| {
            let part = if range.start == 0 {
                std::mem::take(&mut tokens)
            } else {
                tokens.split_off(range.start)
            };
            Statement::of(part)
        })
        .collect();
    statements.reverse();
    Ok(statements)
}

impl Statement {
    /// The statement of `tokens` (one statement's, whitespace runs as one
    /// token), anonymized and fingerprinted.
    fn of(tokens: Vec<TokenWithSpan>) -> Self {
        let mut units = Vec::with_capacity(tokens.len());
        let mut spaced = false;
        for with_span in &tokens {
            let token = &with_span.token;
            if let Token::Whitespace(_) = token {
                spaced = true;
                continue;
            }
            let unit = unit(token, spaced);
            if let Some(named) = named_parameter(&units, &unit) {
                units.pop();
                units.push(named);
            } else {
                push_unit(&mut units, unit);
            }
            spaced = false;
        }
        collapse_lists(&mut units);
        let anonymized = render(&units);
        let fingerprint = fingerprint(&units);
        drop(units);
        Self {
            anonymized,
            fingerprint,
            tokens,
        }
    }
}

/// The unit a token (not whitespace) gives.
fn unit(token: &Token, spaced: bool) -> Unit<'_> {
    if is_literal(token) {
        Unit {
            text: "?".into(),
            kind: UnitKind::Literal,
            spaced,
        }
    } else if let Token::Word(word) = token
        && word.quote_style.is_none()
        && (word.value == super::template::PARAM || word.value.starts_with('@'))
    {
        // A template parameter, or an MSSQL/BigQuery `@variable`.
        Unit {
            text: "?".into(),
            kind: UnitKind::Literal,
            spaced,
        }
    } else if let Token::Word(word) = token {
        match word.quote_style {
            None => Unit {
                text: Cow::Borrowed(&word.value),
                kind: if word.keyword != Keyword::NoKeyword {
                    UnitKind::Keyword
                } else {
                    UnitKind::Identifier { quoted: false }
                },
                spaced,
            },
            Some(_) => Unit {
                text: Cow::Owned(token.to_string()),
                kind: UnitKind::Identifier { quoted: true },
                spaced,
            },
        }
    } else {
        Unit {
            text: punct(token),
            kind: UnitKind::Punct,
            spaced,
        }
    }
}

/// The statement as SQL text again (for the repair pass, which rewrites
/// text). Escaped and Unicode strings come out of the tokenizer decoded, so
/// printed back as is they may not re-tokenize: they become plain strings
/// (only names matter there).
pub fn source(tokens: &[TokenWithSpan]) -> String {
    let mut out = String::new();
    for t in tokens {
        match &t.token {
            Token::EscapedStringLiteral(value) | Token::UnicodeStringLiteral(value) => {
                out.push('\'');
                out.push_str(&value.replace('\'', "''"));
                out.push('\'');
            }
            token => {
                let _ = write!(out, "{token}");
            }
        }
    }
    out
}

/// `:name` right after an operator, `(`, `,` or keyword is a bind
/// parameter; after a name it is Snowflake's path access (`v:field`).
fn named_parameter<'t>(units: &[Unit<'t>], unit: &Unit<'t>) -> Option<Unit<'t>> {
    let colon = units.last()?;
    if unit.spaced
        || !matches!(
            unit.kind,
            UnitKind::Identifier { quoted: false } | UnitKind::Keyword
        )
        || colon.kind != UnitKind::Punct
        || colon.text != ":"
    {
        return None;
    }
    let parameter = match units.len().checked_sub(2).map(|i| &units[i]) {
        None => true,
        Some(before) => match before.kind {
            UnitKind::Keyword => true,
            UnitKind::Punct => before.text != ")" && before.text != "]",
            UnitKind::Literal | UnitKind::Identifier { .. } => false,
        },
    };
    parameter.then(|| Unit {
        text: "?".into(),
        kind: UnitKind::Literal,
        spaced: colon.spaced,
    })
}

/// Folds a sign into the number after it when the sign is unary (after an
/// operator, `(`, `,` or a keyword): `x = -5` becomes `x = ?`.
fn push_unit<'t>(units: &mut Vec<Unit<'t>>, unit: Unit<'t>) {
    if unit.kind == UnitKind::Literal
        && let Some(sign) = units.last()
        && sign.kind == UnitKind::Punct
        && (sign.text == "-" || sign.text == "+")
    {
        let before = units.len().checked_sub(2).map(|i| &units[i]);
        let unary = match before {
            None => true,
            Some(b) => match b.kind {
                UnitKind::Keyword => true,
                UnitKind::Punct => b.text != ")" && b.text != "]",
                UnitKind::Literal | UnitKind::Identifier { .. } => false,
            },
        };
        if unary {
            let spaced = sign.spaced;
            units.pop();
            units.push(Unit { spaced, ..unit });
            return;
        }
    }
    units.push(unit);
}

fn is(unit: Option<&Unit<'_>>, text: &str) -> bool {
    unit.is_some_and(|u| u.text == text && u.kind == UnitKind::Punct)
}

fn keyword(unit: Option<&Unit<'_>>, word: &str) -> bool {
    unit.is_some_and(|u| u.kind == UnitKind::Keyword && u.text.eq_ignore_ascii_case(word))
}

/// If `units[start]` opens a list (`(` or `[`) holding only literals and
/// commas, the index of its closing unit.
fn literal_list_end(units: &[Unit<'_>], start: usize) -> Option<usize> {
    let close = match units.get(start)?.text.as_ref() {
        "(" => ")",
        "[" => "]",
        _ => return None,
    };
    let mut i = start + 1;
    loop {
        if units.get(i)?.kind != UnitKind::Literal {
            return None;
        }
        i += 1;
        if is(units.get(i), close) {
            return Some(i);
        }
        if !is(units.get(i), ",") {
            return None;
        }
        i += 1;
    }
}

/// `IN (1, 2, 3)`, `ARRAY[1, 2]` and `VALUES (1, 'a'), (2, 'b')` become one
/// `(?)` / `[?]` group, so list length does not change the pattern.
fn collapse_lists(units: &mut Vec<Unit<'_>>) {
    // Most statements have no literal list: leave them untouched. A list
    // opens with `(` or `[` (checked first: most units are neither).
    let any = (1..units.len()).any(|i| {
        matches!(units[i].text.as_ref(), "(" | "[")
            && (keyword(Some(&units[i - 1]), "IN")
                || keyword(Some(&units[i - 1]), "ARRAY")
                || keyword(Some(&units[i - 1]), "VALUES")
                || is(Some(&units[i - 1]), "["))
            && literal_list_end(units, i).is_some()
    });
    if !any {
        return;
    }
    let input = std::mem::take(units);
    let mut out: Vec<Unit<'_>> = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        let opens_list = keyword(out.last(), "IN")
            || keyword(out.last(), "ARRAY")
            || keyword(out.last(), "VALUES")
            || is(out.last(), "[");
        if opens_list && let Some(end) = literal_list_end(&input, i) {
            let values = keyword(out.last(), "VALUES");
            let (open, close) = (input[i].clone(), input[end].clone());
            out.push(open);
            out.push(Unit {
                text: "?".into(),
                kind: UnitKind::Literal,
                spaced: false,
            });
            out.push(close);
            i = end + 1;
            // More all-literal tuples of the same VALUES list fold in too.
            while values && is(input.get(i), ",") {
                match literal_list_end(&input, i + 1) {
                    Some(next_end) => i = next_end + 1,
                    None => break,
                }
            }
            continue;
        }
        out.push(input[i].clone());
        i += 1;
    }
    *units = out;
}

/// The length of the units' text with a space between each.
fn text_len(units: &[Unit<'_>]) -> usize {
    units.iter().map(|u| u.text.len() + 1).sum()
}

/// The statement as text, spaced where the input was.
fn render(units: &[Unit<'_>]) -> String {
    let mut out = String::with_capacity(text_len(units));
    for (i, unit) in units.iter().enumerate() {
        if i > 0 && unit.spaced {
            out.push(' ');
        }
        out.push_str(&unit.text);
    }
    out
}

/// FNV-1a of the canonical text: one space between units, keywords upper
/// case, identifiers lower case without quotes. The text is hashed as it
/// is made, never built.
fn fingerprint(units: &[Unit<'_>]) -> String {
    let mut hash = Fnv1a::default();
    for (i, unit) in units.iter().enumerate() {
        if i > 0 {
            hash.byte(b' ');
        }
        match unit.kind {
            UnitKind::Keyword => unit
                .text
                .bytes()
                .for_each(|b| hash.byte(b.to_ascii_uppercase())),
            UnitKind::Identifier { quoted } => {
                let text = if quoted {
                    &unit.text[1..unit.text.len().saturating_sub(1).max(1)]
                } else {
                    unit.text.as_ref()
                };
                if text.is_ascii() {
                    text.bytes().for_each(|b| hash.byte(b.to_ascii_lowercase()));
                } else {
                    hash.write(text.to_lowercase().as_bytes());
                }
            }
            UnitKind::Literal | UnitKind::Punct => hash.write(unit.text.as_bytes()),
        }
    }
    hash.hex()
}

/// Last resort when the text does not even tokenize (an unterminated
/// quote, say): keep only words and punctuation, replace every quoted span
/// and every number with `?`.
pub fn scrub(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' | '"' | '`' | '$' => {
                // Everything up to the matching quote (or the end) is data.
                for next in chars.by_ref() {
                    if next == c {
                        break;
                    }
                }
                out.push('?');
            }
            '0'..='9' => {
                while chars
                    .peek()
                    .is_some_and(|n| n.is_ascii_alphanumeric() || *n == '.')
                {
                    chars.next();
                }
                out.push('?');
            }
            c if c.is_alphabetic() || c == '_' => {
                out.push(c);
                // Digits inside a word are part of the identifier.
                while let Some(&n) = chars.peek() {
                    if n.is_alphanumeric() || n == '_' {
                        out.push(n);
                        chars.next();
                    } else {
                        break;
                    }
                }
            }
            c if c.is_whitespace() => {
                if !out.ends_with(' ') {
                    out.push(' ');
                }
            }
            '-' if chars.peek() == Some(&'-') => {
                for next in chars.by_ref() {
                    if next == '\n' {
                        break;
                    }
                }
                out.push(' ');
            }
            c => out.push(c),
        }
    }
    out.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::{Token, punct};

    #[test]
    fn punctuation_reads_as_the_tokenizer_prints_it() {
        let tokens = [
            Token::Comma,
            Token::Period,
            Token::LParen,
            Token::RParen,
            Token::Eq,
            Token::Neq,
            Token::Lt,
            Token::Gt,
            Token::LtEq,
            Token::GtEq,
            Token::Plus,
            Token::Minus,
            Token::Mul,
            Token::Div,
            Token::Mod,
            Token::StringConcat,
            Token::Colon,
            Token::DoubleColon,
            Token::LBracket,
            Token::RBracket,
            Token::Arrow,
        ];
        for token in tokens {
            assert_eq!(punct(&token), token.to_string());
        }
    }
}
