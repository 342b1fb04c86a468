//! `[[spaces]]`: data products grouped for usage aggregation.
//!
//! A product is a set of tables, each an exact name (`analytics.finance.revenue`,
//! `finance.revenue`, `revenue`) or a glob per dot-separated part
//! (`analytics.orders_*`, `marketing.*`). The patterns are parsed here so
//! `validate` can name one that can never match; matching them against the
//! names a warehouse folds per dialect is the usage module's job.

use serde::Deserialize;

/// A space: a group of data products aggregated together.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SpaceConfig {
    /// Short unique name that commands and routes take.
    pub slug: String,
    /// A UUID (the `space_id` partition of the usage tables).
    pub id: String,
    pub name: Option<String>,
    #[serde(default)]
    pub products: Vec<ProductConfig>,
    /// Days of history the usage counts cover, ending on the as-of date.
    #[serde(default = "default_window_days")]
    pub window_days: u32,
    /// Days after which a product's recency factor halves.
    #[serde(default = "default_half_life")]
    pub recency_half_life_days: f64,
    /// How far apart (seconds) a BI tool's execution and the same statement
    /// in a warehouse log may be and still be one execution.
    #[serde(default = "default_dedup_seconds")]
    pub dedup_seconds: u32,
}

fn default_window_days() -> u32 {
    30
}
fn default_half_life() -> f64 {
    7.0
}
fn default_dedup_seconds() -> u32 {
    60
}

/// A data product: a named set of tables.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductConfig {
    /// A UUID (the `product_id` column).
    pub id: String,
    pub name: String,
    /// Exact names or globs, as `db.schema.table` or shorter.
    pub tables: Vec<String>,
}

impl SpaceConfig {
    /// The space id as the lake stores it (lower-case hyphenated UUID).
    pub fn id_string(&self) -> String {
        canonical_uuid(&self.id)
    }

    pub fn product(&self, id_or_name: &str) -> Option<&ProductConfig> {
        self.products.iter().find(|p| {
            p.name == id_or_name
                || uuid::Uuid::parse_str(id_or_name)
                    .is_ok_and(|u| u.hyphenated().to_string() == p.id_string())
        })
    }

    /// Problems of this space alone, as (key relative to the space, message).
    pub fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if self.slug.is_empty()
            || self.slug.len() > 64
            || !self
                .slug
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            problems.push((
                "slug".to_string(),
                format!(
                    "space slug {:?} must be 1-64 letters, digits, - or _",
                    self.slug
                ),
            ));
        }
        if uuid::Uuid::parse_str(&self.id).is_err() {
            problems.push((
                "id".to_string(),
                format!(
                    "space id {:?} is not a UUID; write one such as \"{}\"",
                    self.id,
                    uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_URL, self.slug.as_bytes())
                ),
            ));
        }
        if self.window_days == 0 {
            problems.push((
                "window_days".to_string(),
                "window_days must be at least 1".to_string(),
            ));
        }
        if !(self.recency_half_life_days.is_finite() && self.recency_half_life_days > 0.0) {
            problems.push((
                "recency_half_life_days".to_string(),
                "recency_half_life_days must be a positive number of days, e.g. 7".to_string(),
            ));
        }
        let mut ids = std::collections::HashSet::new();
        // Exact tables already claimed: folded name -> (product index, entry).
        let mut claimed: std::collections::HashMap<String, (usize, String)> = Default::default();
        for (p, product) in self.products.iter().enumerate() {
            let key = |field: &str| format!("products[{p}].{field}");
            if uuid::Uuid::parse_str(&product.id).is_err() {
                problems.push((
                    key("id"),
                    format!(
                        "product {:?}: id {:?} is not a UUID; write one such as \"{}\"",
                        product.name,
                        product.id,
                        uuid::Uuid::new_v5(
                            &uuid::Uuid::NAMESPACE_URL,
                            format!("{}/{}", self.slug, product.name).as_bytes()
                        )
                    ),
                ));
            } else if !ids.insert(product.id_string()) {
                problems.push((
                    key("id"),
                    format!(
                        "product {:?}: duplicate product id {:?}; every product needs its own id",
                        product.name, product.id
                    ),
                ));
            }
            if product.tables.is_empty() {
                problems.push((
                    key("tables"),
                    format!(
                        "product {:?} has no tables, so nothing can ever match it; add tables = [\"db.schema.table\"]",
                        product.name
                    ),
                ));
            }
            for (t, entry) in product.tables.iter().enumerate() {
                match TablePattern::parse(entry) {
                    Err(message) => problems.push((
                        format!("products[{p}].tables[{t}]"),
                        format!("product {:?}: table {entry:?} {message}", product.name),
                    )),
                    Ok(pattern) if pattern.is_exact() => {
                        let folded = pattern.folded_key();
                        match claimed.get(&folded) {
                            Some((other, other_entry)) if *other != p => {
                                problems.push((
                                    format!("products[{p}].tables[{t}]"),
                                    format!(
                                        "product {:?} claims table {entry:?}, which product {:?} already claims as {other_entry:?}; a table belongs to one product of a space: remove it from one of them",
                                        product.name, self.products[*other].name
                                    ),
                                ));
                            }
                            Some(_) => {}
                            None => {
                                claimed.insert(folded, (p, entry.clone()));
                            }
                        }
                    }
                    Ok(_) => {}
                }
            }
        }
        problems
    }
}

impl ProductConfig {
    /// The product id as the lake stores it (lower-case hyphenated UUID).
    pub fn id_string(&self) -> String {
        canonical_uuid(&self.id)
    }

    /// The product's table patterns (`validate` guarantees they parse).
    pub fn patterns(&self) -> Vec<TablePattern> {
        self.tables
            .iter()
            .filter_map(|t| TablePattern::parse(t).ok())
            .collect()
    }
}

fn canonical_uuid(text: &str) -> String {
    uuid::Uuid::parse_str(text)
        .map(|u| u.hyphenated().to_string())
        .unwrap_or_else(|_| text.to_string())
}

/// One dot-separated part of a table pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternPart {
    /// The part without its quotes.
    pub text: String,
    /// Quoted (`"Revenue"`): kept as written, never folded, never a glob.
    pub quoted: bool,
}

impl PatternPart {
    pub fn is_glob(&self) -> bool {
        !self.quoted && self.text.contains(['*', '?', '['])
    }
}

/// A parsed `tables` entry: one to three parts, the last being the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TablePattern {
    pub parts: Vec<PatternPart>,
}

impl TablePattern {
    /// Parses an entry; the error says why it can never match and what to
    /// write instead.
    pub fn parse(text: &str) -> Result<Self, String> {
        const EXAMPLE: &str =
            "write a name such as analytics.finance.revenue or a glob such as marketing.*";
        if text.trim().is_empty() {
            return Err(format!("is empty and can never match; {EXAMPLE}"));
        }
        let mut parts = Vec::new();
        let mut current = String::new();
        let mut quoted = false;
        let mut chars = text.chars().peekable();
        let mut closed_quote = false;
        while let Some(c) = chars.next() {
            match c {
                '"' | '`' if current.is_empty() && !closed_quote => {
                    let mut done = false;
                    while let Some(q) = chars.next() {
                        if q == c {
                            if chars.peek() == Some(&c) {
                                chars.next();
                                current.push(c);
                            } else {
                                done = true;
                                break;
                            }
                        } else {
                            current.push(q);
                        }
                    }
                    if !done {
                        return Err(format!("has an unclosed {c} quote; close it or {EXAMPLE}"));
                    }
                    quoted = true;
                    closed_quote = true;
                }
                '.' => {
                    parts.push(PatternPart {
                        text: std::mem::take(&mut current),
                        quoted,
                    });
                    quoted = false;
                    closed_quote = false;
                }
                _ if closed_quote => {
                    return Err(format!(
                        "has text after a closing quote; quote the whole part or {EXAMPLE}"
                    ));
                }
                c if c.is_whitespace() => {
                    return Err(format!(
                        "contains a space; quote a name with spaces (\"my table\") or {EXAMPLE}"
                    ));
                }
                c => current.push(c),
            }
        }
        parts.push(PatternPart {
            text: current,
            quoted,
        });
        if parts.iter().any(|p| p.text.is_empty()) {
            return Err(format!(
                "has an empty part between dots and can never match; {EXAMPLE}"
            ));
        }
        if parts.len() > 3 {
            return Err(format!(
                "has {} parts, but a table name has at most three (database.schema.table) and can never match; {EXAMPLE}",
                parts.len()
            ));
        }
        for part in parts.iter().filter(|p| p.is_glob()) {
            check_glob(&part.text).map_err(|m| format!("{m}; {EXAMPLE}"))?;
        }
        Ok(Self { parts })
    }

    /// True when no part is a glob.
    pub fn is_exact(&self) -> bool {
        !self.parts.iter().any(PatternPart::is_glob)
    }

    /// The entry with unquoted parts lower-cased: two exact entries with the
    /// same key name the same table in every dialect that folds names.
    pub fn folded_key(&self) -> String {
        self.parts
            .iter()
            .map(|p| {
                if p.quoted {
                    p.text.clone()
                } else {
                    p.text.to_lowercase()
                }
            })
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// Checks a glob's character classes (`[abc]`, `[a-z]`, `[!x]`).
fn check_glob(text: &str) -> Result<(), String> {
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '[' {
            let mut members = 0;
            let mut closed = false;
            for (i, m) in chars.by_ref().enumerate() {
                if m == ']' {
                    closed = true;
                    break;
                }
                if !(i == 0 && m == '!') {
                    members += 1;
                }
            }
            if !closed {
                return Err(format!(
                    "glob {text:?} has a [ without its ]; close the class or drop the ["
                ));
            }
            if members == 0 {
                return Err(format!(
                    "glob {text:?} has an empty class [] that matches nothing"
                ));
            }
        }
    }
    Ok(())
}

/// Matches `text` against a glob of one name part: `*` any run of
/// characters, `?` one character, `[abc]` / `[a-z]` / `[!abc]` a class.
/// Case-sensitive: the caller folds both sides first.
pub fn glob_match(glob: &str, text: &str) -> bool {
    let pattern: Vec<char> = glob.chars().collect();
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was and how much of the text it has taken.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
                continue;
            }
            Some('?') => Some(p + 1),
            Some('[') => match_class(&pattern, p, text[t]),
            Some(&c) if c == text[t] => Some(p + 1),
            _ => None,
        };
        match (step, star) {
            (Some(next), _) => {
                p = next;
                t += 1;
            }
            (None, Some((sp, st))) => {
                p = sp + 1;
                t = st + 1;
                star = Some((sp, st + 1));
            }
            (None, None) => return false,
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

/// Matches `c` against the class starting at `pattern[start] == '['`;
/// returns the index after the class when it matches.
fn match_class(pattern: &[char], start: usize, c: char) -> Option<usize> {
    let mut i = start + 1;
    let negated = pattern.get(i) == Some(&'!');
    if negated {
        i += 1;
    }
    let mut matched = false;
    while i < pattern.len() && pattern[i] != ']' {
        if pattern.get(i + 1) == Some(&'-') && pattern.get(i + 2).is_some_and(|&e| e != ']') {
            matched |= pattern[i] <= c && c <= pattern[i + 2];
            i += 3;
        } else {
            matched |= pattern[i] == c;
            i += 1;
        }
    }
    if i >= pattern.len() {
        return None;
    }
    (matched != negated).then_some(i + 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_per_part() {
        assert!(glob_match("orders_*", "orders_2024"));
        assert!(glob_match("orders_*", "orders_"));
        assert!(!glob_match("orders_*", "orders"));
        assert!(glob_match("*", ""));
        assert!(glob_match("a*b*c", "axxbyyc"));
        assert!(!glob_match("a*b*c", "axxbyy"));
        assert!(glob_match("t?", "t1"));
        assert!(!glob_match("t?", "t"));
        assert!(glob_match("fact_[a-c]", "fact_b"));
        assert!(!glob_match("fact_[a-c]", "fact_d"));
        assert!(glob_match("fact_[!a-c]", "fact_d"));
        assert!(!glob_match("fact_[!a-c]", "fact_a"));
        assert!(glob_match("revenue", "revenue"));
        assert!(!glob_match("revenue", "Revenue"));
    }

    #[test]
    fn patterns_parse_quotes_and_parts() {
        let p = TablePattern::parse("analytics.\"Finance\".rev*").unwrap();
        assert_eq!(
            p.parts,
            vec![
                PatternPart {
                    text: "analytics".into(),
                    quoted: false
                },
                PatternPart {
                    text: "Finance".into(),
                    quoted: true
                },
                PatternPart {
                    text: "rev*".into(),
                    quoted: false
                },
            ]
        );
        assert!(!p.is_exact());
        assert_eq!(TablePattern::parse("\"a.b\"").unwrap().parts.len(), 1);
        assert_eq!(
            TablePattern::parse("FINANCE.\"Rev\"").unwrap().folded_key(),
            "finance.Rev"
        );
    }

    #[test]
    fn patterns_that_can_never_match() {
        let err = |t: &str| TablePattern::parse(t).unwrap_err();
        let tail = "write a name such as analytics.finance.revenue or a glob such as marketing.*";
        assert_eq!(err(""), format!("is empty and can never match; {tail}"));
        assert_eq!(
            err("finance..revenue"),
            format!("has an empty part between dots and can never match; {tail}")
        );
        assert_eq!(
            err("marketing."),
            format!("has an empty part between dots and can never match; {tail}")
        );
        assert_eq!(
            err("a.b.c.d"),
            format!(
                "has 4 parts, but a table name has at most three (database.schema.table) and can never match; {tail}"
            )
        );
        assert_eq!(
            err("orders_[a-"),
            format!(
                "glob \"orders_[a-\" has a [ without its ]; close the class or drop the [; {tail}"
            )
        );
        assert_eq!(
            err("orders_[]"),
            format!("glob \"orders_[]\" has an empty class [] that matches nothing; {tail}")
        );
        assert_eq!(
            err("\"orders"),
            format!("has an unclosed \" quote; close it or {tail}")
        );
    }
}
