//! A tokenizer for the common shape of query text, giving exactly the
//! tokens (values, quote styles, keywords, spans) sqlparser 0.62's
//! `Tokenizer` gives with `with_unescape(false)`, at a fraction of its
//! cost: it reads bytes instead of a peekable `char` iterator, asks the
//! dialect about characters once per dialect instead of once per
//! character, and finds keywords by hash instead of a binary search.
//!
//! It reads plain words, quoted identifiers, numbers, quoted strings, the common operators and punctuation, whitespace and comments.
//! At anything else — a non-ASCII character outside a string, quoted name
//! or comment, a prefixed string (`E'…'`, `N'…'`, `X'…'`, `B'…'`, `R'…'`,
//! `U&'…'`), `$`, `@`, `#`, `?`, exponents, custom
//! operators, an unterminated quote — it gives up on the whole text, and
//! sqlparser's tokenizer reads it instead. A test holds both tokenizers to
//! the same output on the corpus and on random token soup in every dialect.

use std::sync::{LazyLock, OnceLock};

use datafusion::sql::sqlparser::dialect::Dialect;
use datafusion::sql::sqlparser::keywords::{ALL_KEYWORDS, ALL_KEYWORDS_INDEX, Keyword};
use datafusion::sql::sqlparser::tokenizer::{
    Location, Span, Token, TokenWithSpan, Whitespace, Word,
};

use super::SqlDialect;

const START: u8 = 1;
const PART: u8 = 2;
const DELIMITED: u8 = 4;
const NESTED: u8 = 8;
const OPERATOR: u8 = 16;

/// What one dialect's tokenizer does with each ASCII character, asked once.
#[derive(Debug)]
pub(super) struct Lexicon {
    /// Per ASCII byte: START, PART, DELIMITED, NESTED, OPERATOR bits.
    class: [u8; 128],
    backslash_escape: bool,
    triple_quoted_strings: bool,
    numeric_prefix: bool,
    numeric_underscores: bool,
    nested_comments: bool,
    comment_needs_whitespace: bool,
    comment_hints: bool,
}

impl Lexicon {
    fn of(dialect: &dyn Dialect) -> Self {
        let mut class = [0u8; 128];
        for (byte, bits) in class.iter_mut().enumerate() {
            let ch = char::from(byte as u8);
            for (yes, bit) in [
                (dialect.is_identifier_start(ch), START),
                (dialect.is_identifier_part(ch), PART),
                (dialect.is_delimited_identifier_start(ch), DELIMITED),
                (dialect.is_nested_delimited_identifier_start(ch), NESTED),
                (dialect.is_custom_operator_part(ch), OPERATOR),
            ] {
                if yes {
                    *bits |= bit;
                }
            }
        }
        Self {
            class,
            backslash_escape: dialect.supports_string_literal_backslash_escape(),
            triple_quoted_strings: dialect.supports_triple_quoted_string(),
            numeric_prefix: dialect.supports_numeric_prefix(),
            numeric_underscores: dialect.supports_numeric_literal_underscores(),
            nested_comments: dialect.supports_nested_comments(),
            comment_needs_whitespace: dialect.requires_single_line_comment_whitespace(),
            comment_hints: dialect.supports_multiline_comment_hints(),
        }
    }

    /// The lexicon of `dialect`'s sqlparser dialect, made on first use.
    pub(super) fn get(dialect: SqlDialect) -> &'static Self {
        static LEXICONS: [OnceLock<Lexicon>; 8] = [const { OnceLock::new() }; 8];
        LEXICONS[dialect as usize]
            .get_or_init(|| Self::of(dialect.sqlparser_dialect(false).as_ref()))
    }

    /// Whether `byte` has `bit`; false for bytes past ASCII (and for the
    /// end of the text, read as 0).
    fn is(&self, byte: u8, bit: u8) -> bool {
        self.class
            .get(usize::from(byte))
            .is_some_and(|c| c & bit != 0)
    }
}

/// Open-addressing table of keyword indices (+1; 0 is empty), hashed on
/// the upper-case bytes.
struct Keywords {
    slots: Vec<u16>,
}

/// Longer words are no keyword (the longest has fewer bytes; a test
/// checks).
const LONGEST: usize = 48;

/// FNV-1a's start and step, 32 bit.
const HASH_START: u32 = 0x811c_9dc5;

fn hash_step(hash: u32, byte: u8) -> u32 {
    (hash ^ u32::from(byte)).wrapping_mul(0x0100_0193)
}

static KEYWORDS: LazyLock<Keywords> = LazyLock::new(|| {
    let size = (ALL_KEYWORDS.len() * 4).next_power_of_two();
    let mut slots = vec![0u16; size];
    for (index, keyword) in ALL_KEYWORDS.iter().enumerate() {
        let hash = keyword.bytes().fold(HASH_START, hash_step);
        let mut slot = hash as usize & (size - 1);
        while slots[slot] != 0 {
            slot = (slot + 1) & (size - 1);
        }
        slots[slot] = u16::try_from(index + 1).expect("fewer than 65,535 keywords");
    }
    Keywords { slots }
});

/// The keyword an unquoted word is, as sqlparser's tokenizer finds it
/// (ASCII case-insensitive). Keywords are upper case, so the word's upper
/// case form is compared whole instead of byte by byte ignoring case.
pub(super) fn keyword(word: &str) -> Keyword {
    let bytes = word.as_bytes();
    if bytes.len() > LONGEST {
        return Keyword::NoKeyword;
    }
    // Upper-cased and hashed in one pass (a copy then an in-place change
    // cost a `memcpy` call per word).
    let mut buffer = [0u8; LONGEST];
    let mut hash = HASH_START;
    for (to, &byte) in buffer.iter_mut().zip(bytes) {
        *to = byte.to_ascii_uppercase();
        hash = hash_step(hash, *to);
    }
    let upper = &buffer[..bytes.len()];
    let keywords = &*KEYWORDS;
    let mask = keywords.slots.len() - 1;
    let mut slot = hash as usize & mask;
    loop {
        match keywords.slots[slot] {
            0 => return Keyword::NoKeyword,
            entry => {
                let index = usize::from(entry - 1);
                if ALL_KEYWORDS[index].as_bytes() == upper {
                    return ALL_KEYWORDS_INDEX[index];
                }
            }
        }
        slot = (slot + 1) & mask;
    }
}

/// Where `text` ends when it starts at `line`/`column`, counted as
/// sqlparser counts: one column per character, a new line after `\n`.
fn advance(text: &[u8], mut line: u64, mut column: u64) -> (u64, u64) {
    for &byte in text {
        if byte == b'\n' {
            line += 1;
            column = 1;
        } else if byte & 0xC0 != 0x80 {
            column += 1;
        }
    }
    (line, column)
}

/// Appends the tokens of `sql` to `out` as sqlparser's tokenizer (without
/// unescaping) would, or returns `None` (with `out` in any state) when the
/// text holds something it does not read exactly alike. `runs`: of a run
/// of whitespace and comments only the first token (the anonymizer keeps
/// no more; indented text is mostly whitespace tokens).
pub(super) fn tokenize(
    sql: &str,
    lexicon: &Lexicon,
    runs: bool,
    out: &mut Vec<TokenWithSpan>,
) -> Option<()> {
    let bytes = sql.as_bytes();
    let at = |i: usize| bytes.get(i).copied().unwrap_or(0);
    let (mut i, mut line, mut column) = (0usize, 1u64, 1u64);
    let mut last_is_word = false;
    while i < bytes.len() {
        let c = bytes[i];
        let next = at(i + 1);
        // Each arm gives the token and its length in bytes; arms in the
        // order of sqlparser's `next_token`, which decides ties.
        let (token, len) = match c {
            b' ' => (Token::Whitespace(Whitespace::Space), 1),
            b'\t' => (Token::Whitespace(Whitespace::Tab), 1),
            b'\n' => (Token::Whitespace(Whitespace::Newline), 1),
            b'\r' => (
                Token::Whitespace(Whitespace::Newline),
                if next == b'\n' { 2 } else { 1 },
            ),
            b'a'..=b'z' | b'A'..=b'Z' | b'_' => {
                // Letters that may open a prefixed string.
                let prefixed = match c.to_ascii_lowercase() {
                    b'b' | b'r' | b'n' | b'q' | b'e' | b'x' => {
                        next == b'\''
                            || next == b'"'
                            || ((c | 0x20) == b'n' && (next | 0x20) == b'q')
                    }
                    b'u' => next == b'&',
                    _ => false,
                };
                if prefixed || !lexicon.is(c, START) {
                    return None;
                }
                let mut end = i + 1;
                while lexicon.is(at(end), PART) {
                    end += 1;
                }
                if at(end) >= 0x80 {
                    return None;
                }
                let value = &sql[i..end];
                let token = Token::Word(Word {
                    value: value.to_string(),
                    quote_style: None,
                    keyword: keyword(value),
                });
                (token, end - i)
            }
            // A double quote not opening a name is a string.
            b'\'' | b'"' if c == b'\'' || !lexicon.is(c, DELIMITED | START) => {
                if lexicon.triple_quoted_strings && next == c {
                    return None;
                }
                let mut end = i + 1;
                loop {
                    match *bytes.get(end)? {
                        q if q == c && at(end + 1) == c => end += 2,
                        q if q == c => break,
                        b'\\' if lexicon.backslash_escape => {
                            bytes.get(end + 1)?;
                            end += 2;
                        }
                        _ => end += 1,
                    }
                }
                let value = sql[i + 1..end].to_string();
                let token = if c == b'\'' {
                    Token::SingleQuotedString(value)
                } else {
                    Token::DoubleQuotedString(value)
                };
                (token, end + 1 - i)
            }
            quote if lexicon.is(quote, DELIMITED) => {
                let close = match quote {
                    b'"' => b'"',
                    b'`' => b'`',
                    b'[' => b']',
                    _ => return None,
                };
                let mut end = i + 1;
                loop {
                    match *bytes.get(end)? {
                        b if b == close && at(end + 1) == close => end += 2,
                        b if b == close => break,
                        _ => end += 1,
                    }
                }
                let token = Token::Word(Word {
                    value: sql[i + 1..end].to_string(),
                    quote_style: Some(char::from(quote)),
                    keyword: Keyword::NoKeyword,
                });
                (token, end + 1 - i)
            }
            b'0'..=b'9' | b'.' => {
                if c == b'.' && next == b'_' {
                    if !last_is_word {
                        return None;
                    }
                    (Token::Period, 1)
                } else {
                    let digits = |mut end: usize| {
                        while at(end).is_ascii_digit() {
                            end += 1;
                        }
                        end
                    };
                    let mut end = digits(i);
                    if (lexicon.numeric_underscores && at(end) == b'_')
                        || (&sql[i..end] == "0" && at(end) == b'x')
                    {
                        return None;
                    }
                    if at(end) == b'.' {
                        end += 1;
                    }
                    let period = &sql[i..end] == ".";
                    if period && lexicon.numeric_prefix && last_is_word {
                        (Token::Period, 1)
                    } else {
                        end = digits(end);
                        if lexicon.numeric_underscores && at(end) == b'_' {
                            return None;
                        }
                        if &sql[i..end] == "." {
                            (Token::Period, 1)
                        } else {
                            let after = at(end);
                            if after == b'e'
                                || after == b'E'
                                || after >= 0x80
                                || (lexicon.numeric_prefix && lexicon.is(after, PART))
                            {
                                return None;
                            }
                            let long = after == b'L';
                            let token = Token::Number(sql[i..end].to_string(), long);
                            (token, end - i + usize::from(long))
                        }
                    }
                }
            }
            b'(' => (Token::LParen, 1),
            b')' => (Token::RParen, 1),
            b',' => (Token::Comma, 1),
            b'-' => match next {
                b'-' => {
                    if lexicon.comment_needs_whitespace && !at(i + 2).is_ascii_whitespace() {
                        return None;
                    }
                    let start = i + 2;
                    let mut end = start;
                    loop {
                        match bytes.get(end) {
                            None => break,
                            Some(b'\n') => {
                                end += 1;
                                break;
                            }
                            // Postgres ends a comment at `\r` too.
                            Some(b'\r') => return None,
                            Some(_) => end += 1,
                        }
                    }
                    let token = Token::Whitespace(Whitespace::SingleLineComment {
                        comment: sql[start..end].to_string(),
                        prefix: "--".to_string(),
                    });
                    (token, end - i)
                }
                b'>' => return None,
                n if lexicon.is(n, OPERATOR) => return None,
                _ => (Token::Minus, 1),
            },
            b'/' => match next {
                b'*' => {
                    let start = i + 2;
                    let mut end = start;
                    let mut depth = 1;
                    loop {
                        let b = *bytes.get(end)?;
                        if lexicon.nested_comments && b == b'/' && at(end + 1) == b'*' {
                            depth += 1;
                            end += 2;
                        } else if b == b'*' && at(end + 1) == b'/' {
                            depth -= 1;
                            end += 2;
                            if depth == 0 {
                                break;
                            }
                        } else {
                            end += 1;
                        }
                    }
                    let comment = &sql[start..end - 2];
                    if lexicon.comment_hints && comment.starts_with('!') {
                        return None;
                    }
                    let token =
                        Token::Whitespace(Whitespace::MultiLineComment(comment.to_string()));
                    (token, end - i)
                }
                b'/' => return None,
                _ => (Token::Div, 1),
            },
            b'+' => (Token::Plus, 1),
            b'*' => (Token::Mul, 1),
            b'%' if matches!(next, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c) => (Token::Mod, 1),
            b'|' if next == b'|' && at(i + 2) != b'/' && !lexicon.is(at(i + 2), OPERATOR) => {
                (Token::StringConcat, 2)
            }
            b'=' => match next {
                b'>' => (Token::RArrow, 2),
                b'=' => (Token::DoubleEq, 2),
                _ => (Token::Eq, 1),
            },
            b'!' if next == b'=' => (Token::Neq, 2),
            b'<' => match next {
                b'=' => match at(i + 2) {
                    b'>' => return None,
                    b'+' | b'-' => (Token::LtEq, 2),
                    n if lexicon.is(n, OPERATOR) => return None,
                    _ => (Token::LtEq, 2),
                },
                b'>' if !lexicon.is(at(i + 2), OPERATOR) => (Token::Neq, 2),
                b'+' => (Token::Lt, 1),
                b'>' | b'|' | b'<' | b'-' | b'^' | b'@' => return None,
                n if lexicon.is(n, OPERATOR) => return None,
                _ => (Token::Lt, 1),
            },
            b'>' => match next {
                b'=' if !lexicon.is(at(i + 2), OPERATOR) => (Token::GtEq, 2),
                b'=' | b'>' | b'^' => return None,
                n if lexicon.is(n, OPERATOR) => return None,
                _ => (Token::Gt, 1),
            },
            b':' => match next {
                b':' => (Token::DoubleColon, 2),
                b'=' => (Token::Assignment, 2),
                _ => (Token::Colon, 1),
            },
            b';' => (Token::SemiColon, 1),
            b'\\' => (Token::Backslash, 1),
            b'[' | b']' | b'{' | b'}' if !lexicon.is(c, NESTED) => {
                let token = match c {
                    b'[' => Token::LBracket,
                    b']' => Token::RBracket,
                    b'{' => Token::LBrace,
                    _ => Token::RBrace,
                };
                (token, 1)
            }
            _ => return None,
        };
        let start = Location { line, column };
        let consumed = &bytes[i..i + len];
        (line, column) = match &token {
            Token::Whitespace(Whitespace::Space | Whitespace::Tab)
            | Token::Word(Word {
                quote_style: None, ..
            }) => (line, column + len as u64),
            _ => advance(consumed, line, column),
        };
        last_is_word = matches!(token, Token::Word(_));
        let whitespace = matches!(token, Token::Whitespace(_));
        let skip = runs
            && whitespace
            && matches!(
                out.last(),
                Some(TokenWithSpan {
                    token: Token::Whitespace(_),
                    ..
                })
            );
        if !skip {
            out.push(TokenWithSpan {
                token,
                span: Span::new(start, Location { line, column }),
            });
        }
        i += len;
        if runs && whitespace {
            // The rest of the run is dropped: its spaces, tabs and line
            // breaks only move the position.
            while let Some(&byte) = bytes.get(i) {
                match byte {
                    b' ' | b'\t' | b'\r' => column += 1,
                    b'\n' => (line, column) = (line + 1, 1),
                    _ => break,
                }
                i += 1;
            }
        }
    }
    Some(())
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;
    use datafusion::sql::sqlparser::keywords::{ALL_KEYWORDS, ALL_KEYWORDS_INDEX, Keyword};
    use datafusion::sql::sqlparser::tokenizer::{Token, TokenWithSpan, Tokenizer};
    use proptest::prelude::*;

    use super::{Lexicon, keyword, tokenize};
    use crate::sql::{SqlDialect, corpus, template};

    #[test]
    fn keywords_are_found_in_any_case_and_nothing_else_is_one() {
        for (index, word) in ALL_KEYWORDS.iter().enumerate() {
            assert_eq!(keyword(word), ALL_KEYWORDS_INDEX[index], "{word}");
            assert_eq!(keyword(&word.to_lowercase()), ALL_KEYWORDS_INDEX[index]);
        }
        // The lookup compares upper case forms and skips long words.
        for word in ALL_KEYWORDS {
            assert_eq!(word.to_ascii_uppercase(), *word);
            assert!(word.len() <= super::LONGEST, "{word}");
        }
        let long = "a".repeat(super::LONGEST + 1);
        for word in [
            &long,
            "",
            "selectx",
            "SELEC",
            "revenue",
            "ss_sold_date_sk",
            "_",
            "a1",
        ] {
            assert_eq!(keyword(word), Keyword::NoKeyword, "{word}");
        }
    }

    /// `tokens` without the whitespace tokens that follow another.
    fn first_of_runs(tokens: &[TokenWithSpan]) -> Vec<&TokenWithSpan> {
        let mut out: Vec<&TokenWithSpan> = Vec::new();
        for t in tokens {
            let again = matches!(t.token, Token::Whitespace(_))
                && out
                    .last()
                    .is_some_and(|l| matches!(l.token, Token::Whitespace(_)));
            if !again {
                out.push(t);
            }
        }
        out
    }

    /// Both tokenizers on `sql` in `dialect`: `Ok(true)` when ours read it
    /// and gave sqlparser's tokens (Debug, spans included; with `runs`,
    /// only the first of each whitespace run), `Ok(false)`
    /// when it left the text to sqlparser, `Err` on any difference.
    fn same_tokens(sql: &str, dialect: SqlDialect) -> Result<bool, String> {
        let d = dialect.sqlparser_dialect(false);
        let theirs = Tokenizer::new(d.as_ref(), sql)
            .with_unescape(false)
            .tokenize_with_location();
        let mut ours = Vec::new();
        let mut runs = Vec::new();
        match (
            tokenize(sql, Lexicon::get(dialect), false, &mut ours),
            theirs,
        ) {
            (None, _) => Ok(false),
            (Some(()), Ok(theirs))
                if format!("{ours:?}") == format!("{theirs:?}")
                    && tokenize(sql, Lexicon::get(dialect), true, &mut runs).is_some()
                    && format!("{runs:?}") == format!("{:?}", first_of_runs(&theirs)) =>
            {
                Ok(true)
            }
            (Some(()), theirs) => Err(format!(
                "{dialect:?} {sql:?}:\nsqlparser: {theirs:?}\nours:      {ours:?}"
            )),
        }
    }

    #[test]
    fn corpus_tokens_are_sqlparsers_in_every_dialect() {
        let texts: Vec<(String, SqlDialect, String)> = corpus()
            .into_iter()
            .map(|entry| {
                let id = entry["id"].as_str().unwrap().to_string();
                let own = serde_json::from_value(entry["dialect"].clone()).unwrap();
                // As `analyze` reads it: templates made plain first.
                let (plain, _) = template::neutralize(entry["sql"].as_str().unwrap());
                (id, own, plain.into_owned())
            })
            .collect();
        let mut failures = Vec::new();
        // Texts our tokenizer left to sqlparser in their own dialect.
        let mut left = Vec::new();
        for (id, own, sql) in &texts {
            for &dialect in SqlDialect::value_variants() {
                match same_tokens(sql, dialect) {
                    Ok(false) if dialect == *own => left.push(id.as_str()),
                    Ok(_) => {}
                    Err(difference) => failures.push(difference),
                }
            }
        }
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
        // The fast path must be the common one: every TPC query and
        // nearly every other text in its own dialect.
        assert!(!left.iter().any(|id| id.starts_with("tpc")), "{left:?}");
        assert!(
            left.len() * 20 <= texts.len(),
            "{} of {}: {left:?}",
            left.len(),
            texts.len()
        );
    }

    /// Text made of the pieces the tokenizers treat differently, glued
    /// with and without space.
    fn soup() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "a",
            "Select",
            "from",
            "_x",
            "t1",
            "x$y",
            "a#b",
            "a@b",
            "b",
            "B",
            "r",
            "N",
            "nq",
            "e",
            "E",
            "u",
            "U",
            "x",
            "X",
            "q",
            "0",
            "1",
            "12",
            "3.5",
            ".5",
            "1.",
            "1e3",
            "1E",
            "2L",
            "0x1F",
            "1_000",
            "'s'",
            "'it''s'",
            "'a\\'b'",
            "'\\\\'",
            "'a\\'b\\'c'",
            "\\'",
            "''",
            "'''x'''",
            "'",
            "\"q\"",
            "\"a\"\"b\"",
            "\"",
            "`b`",
            "[c]",
            "[\"c\"]",
            "[",
            "]",
            "{",
            "}",
            "(",
            ")",
            ",",
            ";",
            ".",
            "._",
            ":",
            "::",
            ":=",
            "=",
            "==",
            "=>",
            "!",
            "!=",
            "!!",
            "<",
            "<=",
            "<>",
            "<=>",
            "<<",
            "<-",
            "<+",
            "<=-",
            "<@",
            ">",
            ">=",
            ">>",
            "-",
            "--",
            "-- c\n",
            "--c",
            "->",
            "->>",
            "+",
            "*",
            "/",
            "//",
            "/* c */",
            "/* a /* b */ c */",
            "/*!1 x*/",
            "/*",
            "%",
            "% ",
            "%x",
            "|",
            "||",
            "||/",
            "|/",
            "&",
            "&&",
            "^",
            "~",
            "#",
            "# c\n",
            "@",
            "@@",
            "?",
            "?1",
            "$",
            "$1",
            "$$x$$",
            "\\",
            " ",
            "  ",
            "\t",
            "\n",
            "\r",
            "\r\n",
            "é",
            "'é'",
            "\"é\"",
            "-- é\n",
            "/* é */",
            "\u{a0}",
            "\0",
            "~*",
            "#>",
            "@>",
            "&&&",
        ]);
        prop::collection::vec(piece, 1..16).prop_map(|pieces| pieces.concat())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(20_000))]

        #[test]
        fn any_text_tokenizes_alike_in_every_dialect(sql in soup()) {
            for &dialect in SqlDialect::value_variants() {
                if let Err(difference) = same_tokens(&sql, dialect) {
                    prop_assert!(false, "{}", difference);
                }
            }
        }

        #[test]
        fn any_word_is_the_keyword_sqlparser_finds(word in "[A-Za-z_][A-Za-z0-9_]{0,12}") {
            let Token::Word(expected) = Token::make_word(&word, None) else { unreachable!() };
            prop_assert_eq!(keyword(&word), expected.keyword);
        }
    }
}
