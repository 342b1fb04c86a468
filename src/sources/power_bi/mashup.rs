//! What a Power Query (M) expression reads: the SQL it sends
//! (`Value.NativeQuery(Source, "…")`, a connector's `[Query = "…"]`
//! option), the warehouse it sends it to (the connector function: its
//! dialect and database), and the tables it navigates to without SQL
//! (`Source{[Schema = "dbo", Item = "Orders"]}[Data]`).
//!
//! Only M's lexical structure is needed (Microsoft's "M language
//! specification: Lexical structure"): text literals with `""` for a quote
//! and `#(cr,lf)`-style escapes, quoted identifiers `#"…"`, comments.
//! SQL built with `&` from parameters keeps a `{{param}}` marker where
//! each non-literal piece was, which the SQL module reads as a parameter.

use std::collections::BTreeSet;

use crate::sql::SqlDialect;

/// Stands in the SQL for a piece the M expression computes (a parameter,
/// a function call): the SQL module's template parameter.
const PARAM: &str = "{{param}}";

/// How deep names are followed to the text they are bound to.
const MAX_DEPTH: u8 = 4;

/// A connector function: its dialect and which arguments are the
/// database and the query text (when the function takes SQL directly).
struct Connector {
    function: &'static str,
    dialect: SqlDialect,
    database_arg: Option<usize>,
    query_arg: Option<usize>,
}

const fn connector(
    function: &'static str,
    dialect: SqlDialect,
    database_arg: Option<usize>,
    query_arg: Option<usize>,
) -> Connector {
    Connector {
        function,
        dialect,
        database_arg,
        query_arg,
    }
}

/// The Power Query connectors whose SQL dialect is known (their M
/// function reference pages give the arguments).
const CONNECTORS: &[Connector] = &[
    connector("Sql.Database", SqlDialect::Mssql, Some(1), None),
    connector("Sql.Databases", SqlDialect::Mssql, None, None),
    connector("Snowflake.Databases", SqlDialect::Snowflake, None, None),
    connector("GoogleBigQuery.Database", SqlDialect::Bigquery, None, None),
    connector("PostgreSQL.Database", SqlDialect::Postgres, Some(1), None),
    connector("MySQL.Database", SqlDialect::Mysql, Some(1), None),
    connector(
        "AmazonRedshift.Database",
        SqlDialect::Redshift,
        Some(1),
        None,
    ),
    connector("Databricks.Catalogs", SqlDialect::Databricks, None, None),
    connector("Databricks.Query", SqlDialect::Databricks, None, None),
    connector("Oracle.Database", SqlDialect::Generic, None, None),
    connector("Odbc.Query", SqlDialect::Generic, None, Some(1)),
];

/// What one expression (with the shared expressions it names) reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mashup {
    /// The first known connector's dialect.
    pub dialect: Option<SqlDialect>,
    pub database: Option<String>,
    /// Each SQL text sent, in order of appearance.
    pub queries: Vec<String>,
    /// Whether a query had computed pieces (`"… " & Param & " …"`).
    pub templated: bool,
    /// Tables navigated to by schema and item (`schema.item`, lower case).
    pub tables: Vec<String>,
    /// Every name the expression mentions (to find the shared expressions
    /// a table's source refers to).
    pub names: BTreeSet<String>,
}

impl Mashup {
    /// Adds what a referenced expression reads; this one's own connector
    /// and database come first.
    pub fn merge(&mut self, other: Mashup) {
        self.dialect = self.dialect.or(other.dialect);
        if self.database.is_none() {
            self.database = other.database;
        }
        for query in other.queries {
            if !self.queries.contains(&query) {
                self.queries.push(query);
            }
        }
        self.templated |= other.templated;
        for table in other.tables {
            if !self.tables.contains(&table) {
                self.tables.push(table);
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Text(String),
    Name(String),
    Punct(char),
    Other,
}

/// Reads one M expression.
pub fn read(expression: &str) -> Mashup {
    let tokens = tokenize(expression);
    let mut out = Mashup::default();
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Name(name) => {
                out.names.insert(name.clone());
                if tokens.get(i + 1) == Some(&Token::Punct('(')) {
                    let close = matching(&tokens, i + 1);
                    let args = split(&tokens[i + 2..close], ',');
                    call(name, &args, &tokens, &mut out);
                }
            }
            Token::Punct('[') => {
                let close = matching(&tokens, i);
                let fields = record(&tokens[i + 1..close]);
                let text = |key: &str| {
                    fields.iter().find_map(|(k, v)| match v {
                        [Token::Text(t)] if k == key => Some(t.clone()),
                        _ => None,
                    })
                };
                if let (Some(schema), Some(item)) = (text("Schema"), text("Item")) {
                    let table = format!("{schema}.{item}").to_lowercase();
                    if !out.tables.contains(&table) {
                        out.tables.push(table);
                    }
                }
            }
            _ => {}
        }
    }
    out
}

fn call(name: &str, args: &[&[Token]], all: &[Token], out: &mut Mashup) {
    let push = |arg: Option<&&[Token]>, out: &mut Mashup| {
        if let Some((sql, templated)) = arg.and_then(|a| text_of(a, all, 0)) {
            out.templated |= templated;
            if !sql.trim().is_empty() && !out.queries.contains(&sql) {
                out.queries.push(sql);
            }
        }
    };
    if name == "Value.NativeQuery" {
        push(args.get(1), out);
        return;
    }
    let Some(connector) = CONNECTORS.iter().find(|c| c.function == name) else {
        return;
    };
    out.dialect = out.dialect.or(Some(connector.dialect));
    if out.database.is_none()
        && let Some([Token::Text(db)]) = connector.database_arg.and_then(|n| args.get(n))
    {
        out.database = Some(db.clone());
    }
    push(connector.query_arg.and_then(|n| args.get(n)), out);
    // The options record: `[Query = "…", CommandTimeout = …]`.
    for arg in args {
        if let [Token::Punct('['), inner @ .., Token::Punct(']')] = arg {
            for (key, value) in record(inner) {
                if key == "Query" {
                    push(Some(&value), out);
                }
            }
        }
    }
}

/// The text an expression evaluates to when it is built from literals:
/// `"a" & Param & "b"` is `a{{param}}b` (templated). A lone name is
/// followed to its `let` binding; `None` when no literal is in sight.
fn text_of(expr: &[Token], all: &[Token], depth: u8) -> Option<(String, bool)> {
    let parts = split(expr, '&');
    let mut text = String::new();
    let mut literal = false;
    let mut templated = false;
    for part in parts {
        match part {
            [Token::Text(t)] => {
                text.push_str(t);
                literal = true;
            }
            [Token::Name(name)] if depth < MAX_DEPTH => {
                match binding(all, name).and_then(|b| text_of(b, all, depth + 1)) {
                    Some((t, inner)) => {
                        text.push_str(&t);
                        literal = true;
                        templated |= inner;
                    }
                    None => {
                        text.push_str(PARAM);
                        templated = true;
                    }
                }
            }
            _ => {
                text.push_str(PARAM);
                templated = true;
            }
        }
    }
    literal.then_some((text, templated))
}

/// The expression bound to `name` in a `let` (`name = …,` or `… in`).
fn binding<'a>(tokens: &'a [Token], name: &str) -> Option<&'a [Token]> {
    let start = tokens.windows(3).position(|w| {
        matches!(&w[1], Token::Name(n) if n == name)
            && w[2] == Token::Punct('=')
            && (w[0] == Token::Punct(',') || w[0] == Token::Name("let".into()))
    })? + 3;
    let mut depth = 0i32;
    let mut end = start;
    while end < tokens.len() {
        match &tokens[end] {
            Token::Punct('(' | '[' | '{') => depth += 1,
            Token::Punct(')' | ']' | '}') => depth -= 1,
            Token::Punct(',') if depth == 0 => break,
            Token::Name(n) if depth == 0 && n == "in" => break,
            _ => {}
        }
        if depth < 0 {
            break;
        }
        end += 1;
    }
    Some(&tokens[start..end])
}

/// The fields of a record literal's inside: `name = value` pairs.
fn record(inner: &[Token]) -> Vec<(String, &[Token])> {
    split(inner, ',')
        .into_iter()
        .filter_map(|field| match field {
            [Token::Name(key), Token::Punct('='), value @ ..] => Some((key.clone(), value)),
            _ => None,
        })
        .collect()
}

/// The index of the bracket closing the one at `open` (or the end).
fn matching(tokens: &[Token], open: usize) -> usize {
    let mut depth = 0i32;
    for (i, token) in tokens.iter().enumerate().skip(open) {
        match token {
            Token::Punct('(' | '[' | '{') => depth += 1,
            Token::Punct(')' | ']' | '}') => {
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            _ => {}
        }
    }
    tokens.len()
}

/// `tokens` cut at `sep` where no bracket is open.
fn split(tokens: &[Token], sep: char) -> Vec<&[Token]> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, token) in tokens.iter().enumerate() {
        match token {
            Token::Punct('(' | '[' | '{') => depth += 1,
            Token::Punct(')' | ']' | '}') => depth -= 1,
            Token::Punct(c) if *c == sep && depth == 0 => {
                parts.push(&tokens[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if start < tokens.len() || !parts.is_empty() {
        parts.push(&tokens[start..]);
    }
    parts
}

fn tokenize(src: &str) -> Vec<Token> {
    let mut tokens = Vec::new();
    let mut chars = src.char_indices().peekable();
    while let Some((at, c)) = chars.next() {
        let rest = &src[at..];
        if c.is_whitespace() {
            continue;
        }
        if rest.starts_with("//") {
            while chars.next_if(|(_, c)| *c != '\n').is_some() {}
        } else if let Some(comment) = rest.strip_prefix("/*") {
            let end = comment.find("*/").map_or(src.len(), |e| at + 2 + e + 2);
            while chars.next_if(|(i, _)| *i < end).is_some() {}
        } else if c == '"' || rest.starts_with("#\"") {
            let start = if c == '"' { at + 1 } else { at + 2 };
            let (value, end) = text_literal(src, start);
            while chars.next_if(|(i, _)| *i < end).is_some() {}
            tokens.push(if c == '"' {
                Token::Text(value)
            } else {
                Token::Name(value)
            });
        } else if c.is_alphabetic() || c == '_' || c == '#' {
            let mut end = at + c.len_utf8();
            while let Some((i, c)) =
                chars.next_if(|(_, c)| c.is_alphanumeric() || *c == '_' || *c == '.')
            {
                end = i + c.len_utf8();
            }
            tokens.push(Token::Name(src[at..end].trim_end_matches('.').to_string()));
        } else if c.is_ascii_digit() {
            while chars
                .next_if(|(_, c)| c.is_ascii_alphanumeric() || *c == '.')
                .is_some()
            {}
            tokens.push(Token::Other);
        } else {
            tokens.push(Token::Punct(c));
        }
    }
    tokens
}

/// The value of the text literal whose characters start at byte `start`
/// (after the opening quote), and the byte after its closing quote.
fn text_literal(src: &str, start: usize) -> (String, usize) {
    let mut value = String::new();
    let mut i = start;
    while i < src.len() {
        let rest = &src[i..];
        if let Some(after) = rest.strip_prefix("\"\"") {
            value.push('"');
            i = src.len() - after.len();
        } else if rest.starts_with('"') {
            return (value, i + 1);
        } else if let Some((decoded, used)) = escape(rest) {
            value.push_str(&decoded);
            i += used;
        } else {
            let c = rest.chars().next().unwrap_or_default();
            value.push(c);
            i += c.len_utf8();
        }
    }
    (value, src.len())
}

/// A `#(…)` escape at the start of `rest`: `cr`, `lf`, `tab`, `#`, or 4 or
/// 8 hex digits, comma-separated. `None` (kept as written) when malformed.
fn escape(rest: &str) -> Option<(String, usize)> {
    let inner = rest.strip_prefix("#(")?;
    let close = inner.find(')')?;
    let mut out = String::new();
    for item in inner[..close].split(',') {
        match item {
            "cr" => out.push('\r'),
            "lf" => out.push('\n'),
            "tab" => out.push('\t'),
            "#" => out.push('#'),
            hex if (hex.len() == 4 || hex.len() == 8)
                && hex.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                out.push(char::from_u32(u32::from_str_radix(hex, 16).ok()?)?);
            }
            _ => return None,
        }
    }
    Some((out, 2 + close + 1))
}

/// The dialect of a scan result's `datasourceType` (when the M expression
/// names no known connector).
pub fn datasource_dialect(datasource_type: &str) -> Option<SqlDialect> {
    Some(match datasource_type.to_ascii_lowercase().as_str() {
        "sql" => SqlDialect::Mssql,
        "snowflake" => SqlDialect::Snowflake,
        "googlebigquery" => SqlDialect::Bigquery,
        "postgresql" => SqlDialect::Postgres,
        "mysql" => SqlDialect::Mysql,
        "amazonredshift" => SqlDialect::Redshift,
        "databricks" => SqlDialect::Databricks,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_literals_unescape_quotes_and_escapes() {
        let src = r#""a ""b"" #(cr,lf)c#(tab)#(#)(d #(0041)#(0001F600) #(bogus)""#;
        let (value, end) = text_literal(src, 1);
        assert_eq!(value, "a \"b\" \r\nc\t#(d A\u{1F600} #(bogus)");
        assert_eq!(end, src.len());
    }

    #[test]
    fn native_queries_and_their_connector_are_read() {
        let m = "let\n    Source = Sql.Database(\"srv.database.windows.net\", \"Sales\"),\n    \
                 // a comment with \"quotes\"\n    Q = Value.NativeQuery(Source, \"SELECT o.id#(lf)FROM dbo.orders o WHERE o.note = 'it''s \"\"x\"\"'\", null, [EnableFolding=true])\nin\n    Q";
        let read = read(m);
        assert_eq!(read.dialect, Some(SqlDialect::Mssql));
        assert_eq!(read.database.as_deref(), Some("Sales"));
        assert_eq!(
            read.queries,
            vec!["SELECT o.id\nFROM dbo.orders o WHERE o.note = 'it''s \"x\"'"]
        );
        assert!(!read.templated);
    }

    #[test]
    fn query_options_bindings_and_parameters() {
        let m = r#"let
    Sql = "SELECT * FROM public.events WHERE day >= '" & Text.From(StartDate) & "' AND kind = " & Kind,
    Kind = "'view'",
    Source = PostgreSQL.Database("pg", "analytics", [Query = Sql, CommandTimeout = #duration(0, 0, 5, 0)])
in
    Source"#;
        let read = read(m);
        assert_eq!(read.dialect, Some(SqlDialect::Postgres));
        assert_eq!(read.database.as_deref(), Some("analytics"));
        assert_eq!(
            read.queries,
            vec!["SELECT * FROM public.events WHERE day >= '{{param}}' AND kind = 'view'"]
        );
        assert!(read.templated);
    }

    #[test]
    fn navigation_without_sql_names_the_table() {
        let m = "let\n    Source = Sql.Database(Server, Db),\n    #\"dbo Orders\" = Source{[Schema=\"dbo\",Item=\"Orders\"]}[Data]\nin\n    #\"dbo Orders\"";
        let read = read(m);
        assert_eq!(read.queries, Vec::<String>::new());
        assert_eq!(read.tables, vec!["dbo.orders"]);
        assert_eq!(read.database, None);
        assert!(read.names.contains("dbo Orders"));
    }

    #[test]
    fn other_sources_read_nothing() {
        let m = "let\n    Source = Excel.Workbook(Web.Contents(\"https://example.invalid/x.xlsx\"), null, true)\nin\n    Source";
        let excel = read(m);
        assert_eq!(excel.dialect, None);
        assert!(excel.queries.is_empty() && excel.tables.is_empty());
        // A query that is only a parameter has no SQL to keep.
        assert!(
            read("Value.NativeQuery(Source, QueryParam)")
                .queries
                .is_empty()
        );
    }
}
