//! BI tools store SQL with template syntax that no SQL parser accepts. It is
//! rewritten to plain SQL before tokenizing, keeping byte-for-byte nothing of
//! the template's contents that could be a literal:
//!
//! - Metabase `{{var}}` and Jinja `{{ expr }}` → a parameter marker (every
//!   dialect parses it as a name; the anonymizer prints it as `?`);
//! - Jinja `{% … %}` / `{# … #}` → dropped (control flow, comments);
//! - Metabase optional clauses `[[ … ]]` → their contents (the brackets go);
//! - Looker `${TABLE}` → `looker_table`, `${view.SQL_TABLE_NAME}` → the
//!   marker (another view's table), `${view.field}` → `view.field`;
//! - Snowflake `IDENTIFIER('db.t')` / `IDENTIFIER($var)` → `db.t` / marker;
//! - Tableau custom SQL parameters `<Parameters.Name>` (as Desktop shows
//!   them) and `<[Parameters].[Name]>` (as workbooks store them) → marker.

use std::borrow::Cow;

/// Stands for a template parameter: a plain identifier, because `?`, `$1`
/// and `:name` each parse in only some dialects.
pub const PARAM: &str = "usagelake_param";

/// Stands for Looker's `${TABLE}` (the view's table, not in the text).
pub const LOOKER_TABLE: &str = "looker_table";

/// Plain SQL for `sql` (the text itself when it holds no template), and
/// whether any template syntax was found.
pub fn neutralize(sql: &str) -> (Cow<'_, str>, bool) {
    // Most texts hold no template: one scan for the openers instead of a
    // prefix test at every character (5 % of a TPC-DS query's analysis).
    if !may_hold_template(sql) {
        return (Cow::Borrowed(sql), false);
    }
    let mut out = String::with_capacity(sql.len());
    let mut templated = false;
    let mut rest = sql;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("{{") {
            templated = true;
            rest = after.find("}}").map_or("", |end| &after[end + 2..]);
            out.push_str(PARAM);
        } else if let Some(after) = rest.strip_prefix("{%").or_else(|| rest.strip_prefix("{#")) {
            templated = true;
            let close = if rest.starts_with("{%") { "%}" } else { "#}" };
            rest = after.find(close).map_or("", |end| &after[end + 2..]);
            out.push(' ');
        } else if let Some(after) = rest.strip_prefix("[[").or_else(|| rest.strip_prefix("]]")) {
            templated = true;
            rest = after;
            out.push(' ');
        } else if let Some(after) = rest.strip_prefix("${") {
            templated = true;
            let end = after.find('}').unwrap_or(after.len());
            let inner = after[..end].trim();
            let table_name = inner.len() > 15
                && inner.is_char_boundary(inner.len() - 15)
                && inner[inner.len() - 15..].eq_ignore_ascii_case(".SQL_TABLE_NAME");
            if inner.eq_ignore_ascii_case("TABLE") {
                out.push_str(LOOKER_TABLE);
            } else if table_name {
                // Another view's table: unknown here, like a parameter.
                out.push_str(PARAM);
            } else if !inner.is_empty()
                && inner
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
            {
                out.push_str(inner);
            } else {
                out.push_str(PARAM);
            }
            rest = after.get(end + 1..).unwrap_or("");
        } else if let Some(len) = tableau_parameter(rest) {
            templated = true;
            out.push_str(PARAM);
            rest = &rest[len..];
        } else if let Some((replacement, after)) = identifier_call(rest) {
            templated = true;
            out.push_str(&replacement);
            rest = after;
        } else {
            let ch = rest.chars().next().expect("non-empty");
            out.push(ch);
            rest = &rest[ch.len_utf8()..];
            // Quoted text is copied as is: a `{{` inside a string is data.
            if ch == '\'' {
                let end = rest.find('\'').map_or(rest.len(), |e| e + 1);
                out.push_str(&rest[..end]);
                rest = &rest[end..];
            }
        }
    }
    (Cow::Owned(out), templated)
}

/// Whether `sql` has anything [`neutralize`] rewrites: one pass that
/// looks further only at the bytes that open something.
fn may_hold_template(sql: &str) -> bool {
    // The bytes that open something, looked up in a table: the scan costs
    // a few instructions per byte instead of a match on each.
    const OPENS: [bool; 256] = {
        let mut opens = [false; 256];
        let mut i = 0;
        while i < 6 {
            opens[b"{[]$(<"[i] as usize] = true;
            i += 1;
        }
        opens
    };
    let bytes = sql.as_bytes();
    let mut candidates = bytes
        .iter()
        .enumerate()
        .filter(|&(_, &b)| OPENS[usize::from(b)]);
    candidates.any(|(i, &b)| {
        let next = bytes.get(i + 1).copied();
        match b {
            b'{' => matches!(next, Some(b'{' | b'%' | b'#')),
            b'[' | b']' => next == Some(b),
            b'$' => next == Some(b'{'),
            b'(' => i >= 10 && bytes[i - 10..i].eq_ignore_ascii_case(b"IDENTIFIER"),
            b'<' => tableau_parameter(&sql[i..]).is_some(),
            _ => false,
        }
    })
}

/// The length of a Tableau parameter reference at the start of `text`.
fn tableau_parameter(text: &str) -> Option<usize> {
    let opens = ["<Parameters.", "<[Parameters]."];
    let head = opens.iter().find(|open| {
        text.get(..open.len())
            .is_some_and(|h| h.eq_ignore_ascii_case(open))
    })?;
    let end = text[head.len()..].find(['>', '\n'])? + head.len();
    text[end..].starts_with('>').then_some(end + 1)
}

/// Snowflake's `IDENTIFIER('name')` / `IDENTIFIER($var)` at the start of
/// `text`, as the identifier it names (or `?` when it is a variable).
fn identifier_call(text: &str) -> Option<(String, &str)> {
    let head = text.get(..11)?;
    if !head.eq_ignore_ascii_case("IDENTIFIER(") {
        return None;
    }
    let inner_start = &text[11..];
    let end = inner_start.find(')')?;
    let inner = inner_start[..end].trim();
    let name = inner.trim_matches(|c| c == '\'' || c == '"');
    let replacement = if !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'.')
    {
        name.to_string()
    } else {
        PARAM.to_string()
    };
    Some((replacement, &inner_start[end + 1..]))
}

#[cfg(test)]
mod tests {
    use super::{Cow, neutralize};

    #[test]
    fn bi_templates_become_plain_sql() {
        let cases = [
            (
                "SELECT * FROM orders WHERE 1=1 [[AND status = {{status}}]]",
                "SELECT * FROM orders WHERE 1=1  AND status = usagelake_param ",
            ),
            (
                "SELECT * FROM t {% if x %}WHERE a = {{ x | sqlsafe }}{% endif %}",
                "SELECT * FROM t  WHERE a = usagelake_param ",
            ),
            (
                "SELECT ${orders.id} FROM ${TABLE}",
                "SELECT orders.id FROM looker_table",
            ),
            ("SELECT * FROM IDENTIFIER('db.s.t')", "SELECT * FROM db.s.t"),
            (
                "SELECT * FROM identifier($tbl)",
                "SELECT * FROM usagelake_param",
            ),
            ("SELECT '{{not a template}}'", "SELECT '{{not a template}}'"),
            (
                "SELECT * FROM t WHERE region = <Parameters.Region> AND d >= <[Parameters].[Start Date]>",
                "SELECT * FROM t WHERE region = usagelake_param AND d >= usagelake_param",
            ),
            ("SELECT a FROM t WHERE a <b", "SELECT a FROM t WHERE a <b"),
        ];
        for (input, expected) in cases {
            assert_eq!(neutralize(input).0, expected, "{input}");
        }
        assert!(!neutralize("SELECT 1").1);
        assert!(
            neutralize("SELECT a FROM t WHERE x IN (SELECT y FROM u) AND z = 'b'")
                == (
                    Cow::Borrowed("SELECT a FROM t WHERE x IN (SELECT y FROM u) AND z = 'b'"),
                    false
                )
        );
    }
}
