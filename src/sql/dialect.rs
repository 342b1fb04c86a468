//! The parser's dialects, each wrapped so that a plain name in an
//! expression is read in one step.
//!
//! sqlparser 0.62 (pinned by DataFusion) starts every expression prefix by
//! trying to read it as a typed literal (`DATE '…'`, `BOOL 'true'`): for a
//! column name that builds an object name as a data type, fails with a
//! formatted error and rewinds, before reading the name again as what it
//! is. On TPC-DS that attempt was about a seventh of all instructions of an
//! analysis (and a literal or a `-` costs a formatted error too).
//! [`NamesFirst`] answers sqlparser's `Dialect::parse_prefix` hook for
//! exactly the prefixes whose attempt cannot succeed (names, function
//! calls, literals, signs) with what sqlparser's own path would give, and
//! leaves every other prefix, and every other dialect method, to the
//! wrapped dialect.

use std::any::TypeId;
use std::iter::Peekable;
use std::str::Chars;

use datafusion::sql::sqlparser::ast::{
    ColumnOption, Expr, GranteesType, Ident, ObjectName, ObjectNamePart, Statement, UnaryOperator,
};
use datafusion::sql::sqlparser::dialect::{Dialect, Precedence};
use datafusion::sql::sqlparser::keywords::Keyword;
use datafusion::sql::sqlparser::parser::{Parser, ParserError};
use datafusion::sql::sqlparser::tokenizer::Token;

use super::anonymize::is_literal;

/// A dialect `D` whose expressions read plain names without the typed
/// literal attempt; `dialect()` is `D`'s, so sqlparser's `dialect_of!`
/// checks see `D`.
#[derive(Debug)]
pub(super) struct NamesFirst<D>(pub D);

/// Keywords sqlparser's prefix path gives a meaning of their own: the
/// data type names and what follows them (`Parser::parse_data_type_helper`),
/// the words that start special expressions
/// (`Parser::parse_expr_prefix_by_reserved_word`), and `XML`, whose type
/// takes a typed literal by name (a test compares the list with
/// sqlparser's source). Any other word, keyword or not, is read there as a
/// plain name.
macro_rules! special_keywords {
    ($($keyword:ident),* $(,)?) => {
        fn special(keyword: Keyword) -> bool {
            matches!(keyword, $(Keyword::$keyword)|*)
        }

        #[cfg(test)]
        const SPECIAL: &[&str] = &[$(stringify!($keyword)),*];
    };
}

special_keywords! {
    ANY, ARRAY, BIGDECIMAL, BIGINT, BIGNUMERIC, BINARY, BIT, BLOB, BOOL, BOOLEAN, BOX, BYTEA,
    BYTES, CASE, CAST, CEIL, CHAR, CHARACTER, CIRCLE, CLOB, CONVERT, CURRENT_CATALOG,
    CURRENT_DATE, CURRENT_TIME, CURRENT_TIMESTAMP, CURRENT_USER, DATE, DATE32, DATETIME,
    DATETIME64, DEC, DECIMAL, DOUBLE, ENUM, ENUM16, ENUM8, EXISTS, EXTRACT, FALSE, FIXEDSTRING,
    FLOAT, FLOAT32, FLOAT4, FLOAT64, FLOAT8, FLOOR, HUGEINT, INT, INT128, INT16, INT2, INT256,
    INT32, INT4, INT64, INT8, INTEGER, INTERVAL, JSON, JSONB, LAMBDA, LARGE, LINE, LOCALTIME,
    LOCALTIMESTAMP, LONG, LONGBLOB, LONGTEXT, LOWCARDINALITY, LSEG, MAP, MATCH, MEDIUMBLOB,
    MEDIUMINT, MEDIUMTEXT, NESTED, NOT, NULL, NULLABLE, NUMERIC, NVARCHAR, OBJECT, OVERLAY, PATH,
    POINT, POLYGON, POSITION, PRECISION, PRIOR, REAL, REGCLASS, SAFE_CAST, SELECT, SESSION_USER,
    SET, SIGNED, SMALLINT, STRING, STRUCT, SUBSTR, SUBSTRING, TABLE, TEXT, TIME, TIMESTAMP,
    TIMESTAMPTZ, TIMESTAMP_NTZ, TIMETZ, TINYBLOB, TINYINT, TINYTEXT, TRIGGER, TRIM, TRUE,
    TRY_CAST, TRY_CONVERT, TSQUERY, TSVECTOR, TUPLE, TYPE, UBIGINT, UHUGEINT, UINT128, UINT16,
    UINT256, UINT32, UINT64, UINT8, UNION, UNSIGNED, USER, USMALLINT, UTINYINT, UUID, VARBINARY,
    VARBIT, VARCHAR, VARYING, WITH, WITHOUT, XML, ZONE,
}

/// Whether sqlparser's typed-literal attempt, having read a type name up to
/// the `n`th token ahead, would read an array type there (`name[…]`,
/// `name(mods)[…]`), which a value could follow as a typed literal. Long
/// argument lists count as yes (left to sqlparser) so the look-ahead stays
/// short.
fn array_type_at(parser: &Parser, mut n: usize) -> bool {
    if parser.peek_nth_token_ref(n).token == Token::LParen {
        // sqlparser's type modifiers: words, numbers and strings.
        loop {
            n += 1;
            match &parser.peek_nth_token_ref(n).token {
                Token::Word(_)
                | Token::Number(..)
                | Token::SingleQuotedString(_)
                | Token::Comma
                    if n < 32 => {}
                Token::RParen => break,
                _ => return n >= 32,
            }
        }
        n += 1;
    }
    parser.peek_nth_token_ref(n).token == Token::LBracket
}

impl<D: Dialect> NamesFirst<D> {
    /// The prefix at the parser's position, read as sqlparser's own prefix
    /// path (`Parser::parse_prefix`) reads it but without its typed-literal
    /// attempt, where that attempt cannot succeed: a name that is not a
    /// special keyword (quoted names never are) as `Expr::Identifier` or a
    /// function call, a literal, a unary sign. `None` (nothing consumed)
    /// for anything else.
    ///
    /// The attempt reads a word that is not special as a custom type,
    /// which it drops, unless it is an array type (see `array_type_at`).
    /// After it, a name is a function before `(` (unless `(+)`, an outer
    /// join), a charset introducer before a string (`_utf8'…'`), a lambda
    /// before `->` or before `TYPE ->`, else an identifier; what follows
    /// (`.b`, `::type`, operators) is read after the prefix by the parser's
    /// compound and infix steps in both paths alike.
    fn prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
        let function = match &parser.peek_token_ref().token {
            Token::Word(word) if !special(word.keyword) => {
                match &parser.peek_nth_token_ref(1).token {
                    Token::Comma
                    | Token::RParen
                    | Token::EOF
                    | Token::SemiColon
                    | Token::Eq
                    | Token::DoubleEq
                    | Token::Neq
                    | Token::Lt
                    | Token::Gt
                    | Token::LtEq
                    | Token::GtEq
                    | Token::Plus
                    | Token::Minus
                    | Token::Mul
                    | Token::Div
                    | Token::Mod
                    | Token::StringConcat
                    | Token::DoubleColon => false,
                    Token::Word(_) if parser.peek_nth_token_ref(2).token != Token::Arrow => false,
                    Token::Period => {
                        let mut n = 1;
                        while parser.peek_nth_token_ref(n).token == Token::Period {
                            match parser.peek_nth_token_ref(n + 1).token {
                                Token::Word(_) => n += 2,
                                _ => return None,
                            }
                        }
                        if array_type_at(parser, n) {
                            return None;
                        }
                        false
                    }
                    Token::LParen
                        if !array_type_at(parser, 1)
                            && parser.peek_nth_token_ref(2).token != Token::Plus =>
                    {
                        true
                    }
                    _ => return None,
                }
            }
            // sqlparser reads these as a value in every dialect (an escaped
            // string only in some; placeholders are left to it).
            literal
                if is_literal(literal)
                    && !matches!(
                        literal,
                        Token::EscapedStringLiteral(_) | Token::Placeholder(_)
                    ) =>
            {
                return Some(parser.parse_value().map(Expr::Value));
            }
            Token::Minus | Token::Plus => {
                let op = if parser.peek_token_ref().token == Token::Plus {
                    UnaryOperator::Plus
                } else {
                    UnaryOperator::Minus
                };
                parser.advance_token();
                let operand = parser.parse_subexpr(self.0.prec_value(Precedence::MulDivModOp));
                return Some(operand.map(|expr| Expr::UnaryOp {
                    op,
                    expr: Box::new(expr),
                }));
            }
            _ => return None,
        };
        parser.advance_token();
        let token = parser.get_current_token();
        let Token::Word(word) = &token.token else {
            return None;
        };
        let name = word.to_ident(token.span);
        Some(if function {
            parser.parse_function(ObjectName::from(vec![name]))
        } else {
            Ok(Expr::Identifier(name))
        })
    }
}

/// Implements `Dialect` for `NamesFirst<D>`: `parse_prefix` as above, every
/// method listed forwarded to `D` (the list is every other method of the
/// trait; a test compares it with sqlparser's source).
macro_rules! forward_to_inner {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)*) -> $ret:ty;)*) => {
        impl<D: Dialect> Dialect for NamesFirst<D> {
            fn parse_prefix(&self, parser: &mut Parser) -> Option<Result<Expr, ParserError>> {
                self.0
                    .parse_prefix(parser)
                    .or_else(|| self.prefix(parser))
            }

            $(
                fn $name(&self $(, $arg: $ty)*) -> $ret {
                    self.0.$name($($arg),*)
                }
            )*
        }

        /// Every `Dialect` method `NamesFirst` defines.
        #[cfg(test)]
        const DEFINED: &[&str] = &["parse_prefix", $(stringify!($name)),*];
    };
}

forward_to_inner! {
    fn dialect(&self) -> TypeId;
    fn is_delimited_identifier_start(&self, ch: char) -> bool;
    fn is_nested_delimited_identifier_start(&self, ch: char) -> bool;
    fn peek_nested_delimited_identifier_quotes(&self, chars: Peekable<Chars<'_>>) -> Option<(char, Option<char>)>;
    fn identifier_quote_style(&self, identifier: &str) -> Option<char>;
    fn is_identifier_start(&self, ch: char) -> bool;
    fn is_identifier_part(&self, ch: char) -> bool;
    fn is_custom_operator_part(&self, ch: char) -> bool;
    fn supports_string_literal_backslash_escape(&self) -> bool;
    fn ignores_wildcard_escapes(&self) -> bool;
    fn supports_unicode_string_literal(&self) -> bool;
    fn supports_filter_during_aggregation(&self) -> bool;
    fn supports_window_clause_named_window_reference(&self) -> bool;
    fn supports_within_after_array_aggregation(&self) -> bool;
    fn supports_partition_by_after_order_by(&self) -> bool;
    fn supports_array_join_syntax(&self) -> bool;
    fn supports_group_by_expr(&self) -> bool;
    fn supports_group_by_with_modifier(&self) -> bool;
    fn supports_left_associative_joins_without_parens(&self) -> bool;
    fn supports_outer_join_operator(&self) -> bool;
    fn supports_cross_join_constraint(&self) -> bool;
    fn supports_connect_by(&self) -> bool;
    fn supports_execute_immediate(&self) -> bool;
    fn supports_match_recognize(&self) -> bool;
    fn supports_in_empty_list(&self) -> bool;
    fn supports_start_transaction_modifier(&self) -> bool;
    fn supports_end_transaction_modifier(&self) -> bool;
    fn supports_named_fn_args_with_eq_operator(&self) -> bool;
    fn supports_named_fn_args_with_colon_operator(&self) -> bool;
    fn supports_named_fn_args_with_assignment_operator(&self) -> bool;
    fn supports_named_fn_args_with_rarrow_operator(&self) -> bool;
    fn supports_named_fn_args_with_expr_name(&self) -> bool;
    fn supports_numeric_prefix(&self) -> bool;
    fn supports_numeric_literal_underscores(&self) -> bool;
    fn supports_window_function_null_treatment_arg(&self) -> bool;
    fn supports_dictionary_syntax(&self) -> bool;
    fn support_map_literal_syntax(&self) -> bool;
    fn supports_lambda_functions(&self) -> bool;
    fn supports_parenthesized_set_variables(&self) -> bool;
    fn supports_comma_separated_set_assignments(&self) -> bool;
    fn supports_update_order_by(&self) -> bool;
    fn supports_select_wildcard_except(&self) -> bool;
    fn convert_type_before_value(&self) -> bool;
    fn supports_triple_quoted_string(&self) -> bool;
    fn supports_trailing_commas(&self) -> bool;
    fn supports_limit_comma(&self) -> bool;
    fn supports_string_literal_concatenation(&self) -> bool;
    fn supports_string_literal_concatenation_with_newline(&self) -> bool;
    fn supports_projection_trailing_commas(&self) -> bool;
    fn supports_from_trailing_commas(&self) -> bool;
    fn supports_column_definition_trailing_commas(&self) -> bool;
    fn supports_object_name_double_dot_notation(&self) -> bool;
    fn supports_struct_literal(&self) -> bool;
    fn supports_empty_projections(&self) -> bool;
    fn supports_select_expr_star(&self) -> bool;
    fn supports_from_first_select(&self) -> bool;
    fn supports_from_first_insert(&self) -> bool;
    fn supports_pipe_operator(&self) -> bool;
    fn supports_user_host_grantee(&self) -> bool;
    fn supports_match_against(&self) -> bool;
    fn supports_select_wildcard_exclude(&self) -> bool;
    fn supports_select_exclude(&self) -> bool;
    fn supports_create_table_multi_schema_info_sources(&self) -> bool;
    fn supports_select_modifiers(&self) -> bool;
    fn parse_infix(&self, parser: &mut Parser, expr: &Expr, precedence: u8) -> Option<Result<Expr, ParserError>>;
    fn get_next_precedence(&self, parser: &Parser) -> Option<Result<u8, ParserError>>;
    fn get_next_precedence_default(&self, parser: &Parser) -> Result<u8, ParserError>;
    fn parse_statement(&self, parser: &mut Parser) -> Option<Result<Statement, ParserError>>;
    fn parse_column_option(&self, parser: &mut Parser) -> Result<Option<Result<Option<ColumnOption>, ParserError>>, ParserError>;
    fn prec_value(&self, prec: Precedence) -> u8;
    fn prec_unknown(&self) -> u8;
    fn describe_requires_table_keyword(&self) -> bool;
    fn allow_extract_custom(&self) -> bool;
    fn allow_extract_single_quotes(&self) -> bool;
    fn supports_extract_comma_syntax(&self) -> bool;
    fn supports_subquery_as_function_arg(&self) -> bool;
    fn supports_create_view_comment_syntax(&self) -> bool;
    fn supports_array_typedef_without_element_type(&self) -> bool;
    fn supports_parens_around_table_factor(&self) -> bool;
    fn supports_values_as_table_factor(&self) -> bool;
    fn supports_dollar_placeholder(&self) -> bool;
    fn supports_dollar_as_money_prefix(&self) -> bool;
    fn supports_create_index_with_clause(&self) -> bool;
    fn require_interval_qualifier(&self) -> bool;
    fn supports_explain_with_utility_options(&self) -> bool;
    fn supports_asc_desc_in_column_definition(&self) -> bool;
    fn supports_factorial_operator(&self) -> bool;
    fn supports_bitwise_shift_operators(&self) -> bool;
    fn supports_nested_comments(&self) -> bool;
    fn supports_multiline_comment_hints(&self) -> bool;
    fn supports_eq_alias_assignment(&self) -> bool;
    fn supports_try_convert(&self) -> bool;
    fn supports_bang_not_operator(&self) -> bool;
    fn supports_listen_notify(&self) -> bool;
    fn supports_load_data(&self) -> bool;
    fn supports_load_extension(&self) -> bool;
    fn supports_top_before_distinct(&self) -> bool;
    fn supports_boolean_literals(&self) -> bool;
    fn supports_show_like_before_in(&self) -> bool;
    fn supports_comment_on(&self) -> bool;
    fn supports_create_table_select(&self) -> bool;
    fn supports_partiql(&self) -> bool;
    fn supports_constraint_keyword_without_name(&self) -> bool;
    fn supports_key_column_option(&self) -> bool;
    fn is_reserved_for_identifier(&self, kw: Keyword) -> bool;
    fn get_reserved_keywords_for_select_item_operator(&self) -> &[Keyword];
    fn get_reserved_grantees_types(&self) -> &[GranteesType];
    fn supports_table_sample_before_alias(&self) -> bool;
    fn supports_insert_set(&self) -> bool;
    fn supports_insert_table_function(&self) -> bool;
    fn supports_insert_table_query(&self) -> bool;
    fn supports_insert_format(&self) -> bool;
    fn supports_insert_table_alias(&self) -> bool;
    fn supports_set_stmt_without_operator(&self) -> bool;
    fn is_column_alias(&self, kw: &Keyword, parser: &mut Parser) -> bool;
    fn is_select_item_alias(&self, explicit: bool, kw: &Keyword, parser: &mut Parser) -> bool;
    fn is_table_factor(&self, kw: &Keyword, parser: &mut Parser) -> bool;
    fn is_table_alias(&self, kw: &Keyword, parser: &mut Parser) -> bool;
    fn is_table_factor_alias(&self, explicit: bool, kw: &Keyword, parser: &mut Parser) -> bool;
    fn supports_table_versioning(&self) -> bool;
    fn supports_string_escape_constant(&self) -> bool;
    fn supports_table_hints(&self) -> bool;
    fn requires_single_line_comment_whitespace(&self) -> bool;
    fn supports_array_typedef_with_brackets(&self) -> bool;
    fn supports_geometric_types(&self) -> bool;
    fn supports_order_by_all(&self) -> bool;
    fn supports_set_names(&self) -> bool;
    fn supports_space_separated_column_options(&self) -> bool;
    fn supports_alter_column_type_using(&self) -> bool;
    fn supports_comma_separated_drop_column_list(&self) -> bool;
    fn is_identifier_generating_function_name(&self, ident: &Ident, name_parts: &[ObjectNamePart]) -> bool;
    fn supports_notnull_operator(&self) -> bool;
    fn supports_data_type_signed_suffix(&self) -> bool;
    fn supports_interval_options(&self) -> bool;
    fn supports_create_table_like_parenthesized(&self) -> bool;
    fn supports_semantic_view_table_factor(&self) -> bool;
    fn supports_quote_delimited_string(&self) -> bool;
    fn supports_comment_optimizer_hint(&self) -> bool;
    fn supports_double_ampersand_operator(&self) -> bool;
    fn supports_binary_kw_as_cast(&self) -> bool;
    fn supports_select_wildcard_replace(&self) -> bool;
    fn supports_select_wildcard_ilike(&self) -> bool;
    fn supports_select_wildcard_rename(&self) -> bool;
    fn supports_select_wildcard_with_alias(&self) -> bool;
    fn supports_optimize_table(&self) -> bool;
    fn supports_install(&self) -> bool;
    fn supports_detach(&self) -> bool;
    fn supports_prewhere(&self) -> bool;
    fn supports_with_fill(&self) -> bool;
    fn supports_limit_by(&self) -> bool;
    fn supports_interpolate(&self) -> bool;
    fn supports_settings(&self) -> bool;
    fn supports_select_format(&self) -> bool;
    fn supports_comma_separated_trim(&self) -> bool;
    fn supports_cte_without_as(&self) -> bool;
    fn supports_select_item_multi_column_alias(&self) -> bool;
    fn supports_xml_expressions(&self) -> bool;
    fn supports_create_table_using(&self) -> bool;
    fn supports_long_type_as_bigint(&self) -> bool;
    fn supports_map_literal_with_angle_brackets(&self) -> bool;
}

#[cfg(test)]
mod tests {
    use clap::ValueEnum;
    use datafusion::sql::sqlparser::parser::Parser;
    use proptest::prelude::*;

    use super::{DEFINED, SPECIAL};
    use crate::sql::lexer::Lexicon;
    use crate::sql::{Schema, SqlDialect, analyze_in, corpus, template};

    /// A source file of the sqlparser this build uses (located by `cargo
    /// metadata`).
    fn sqlparser_source(file: &str) -> String {
        let metadata = std::process::Command::new(env!("CARGO"))
            .args([
                "metadata",
                "--format-version",
                "1",
                "--offline",
                "--manifest-path",
            ])
            .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml"))
            .output()
            .expect("cargo metadata runs");
        assert!(metadata.status.success(), "cargo metadata: {metadata:?}");
        let metadata: serde_json::Value = serde_json::from_slice(&metadata.stdout).unwrap();
        let manifests: Vec<&str> = metadata["packages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["name"] == "sqlparser")
            .map(|p| p["manifest_path"].as_str().unwrap())
            .collect();
        let [manifest] = manifests[..] else {
            panic!("expected one sqlparser package, found {manifests:?}");
        };
        let path = std::path::Path::new(manifest).with_file_name(file);
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// The methods of sqlparser's `Dialect` trait.
    fn trait_methods() -> Vec<String> {
        let source = sqlparser_source("src/dialect/mod.rs");
        let body = &source[source.find("pub trait Dialect").expect("trait Dialect")..];
        body.lines()
            .skip(1)
            .take_while(|l| *l != "}")
            .filter_map(|l| l.strip_prefix("    fn "))
            .map(|l| l[..l.find(['(', '<']).unwrap()].to_string())
            .collect()
    }

    #[test]
    fn special_keywords_are_those_of_sqlparsers_prefix_path() {
        // A keyword sqlparser starts to treat specially in an expression
        // prefix (a new data type, a new special form) must not be read as
        // a plain name.
        let source = sqlparser_source("src/parser/mod.rs");
        let lines: Vec<&str> = source.lines().collect();
        let mut found = std::collections::BTreeSet::from(["XML".to_string()]);
        for function in [
            "parse_prefix",
            "parse_expr_prefix_by_reserved_word",
            "parse_expr_prefix_by_unreserved_word",
            "parse_data_type_helper",
        ] {
            let start = lines
                .iter()
                .position(|l| {
                    let l = l.trim_start_matches("    ").trim_start_matches("pub ");
                    l.starts_with(&format!("fn {function}("))
                })
                .unwrap_or_else(|| panic!("fn {function} not found"));
            let end = start + lines[start..].iter().position(|l| *l == "    }").unwrap();
            for line in &lines[start..end] {
                for (at, _) in line.match_indices("Keyword::") {
                    let name: String = line[at + 9..]
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_')
                        .collect();
                    found.insert(name);
                }
            }
        }
        let ours: std::collections::BTreeSet<String> =
            SPECIAL.iter().map(|k| k.to_string()).collect();
        assert!(found.len() > 100, "{found:?}");
        assert_eq!(ours, found);
    }

    #[test]
    fn names_first_defines_every_method_of_the_dialect_trait() {
        // A method NamesFirst does not define would silently take the
        // trait's default instead of the wrapped dialect's answer.
        let mut methods = trait_methods();
        methods.sort();
        let mut defined: Vec<String> = DEFINED.iter().map(|m| m.to_string()).collect();
        defined.sort();
        assert!(methods.len() > 150, "{methods:?}");
        assert_eq!(defined, methods);
    }

    /// Parses `sql` (templates made plain, as `analyze` does) with the
    /// dialect as it is and wrapped, and analyzes it both ways (as it is
    /// with sqlparser's tokenizer, wrapped with ours, as `analyze` does):
    /// the trees (spans included) or errors and the analyses must be
    /// identical.
    fn assert_alike(sql: &str, dialect: SqlDialect, schema: &Schema) -> Result<(), String> {
        let (plain, _) = template::neutralize(sql);
        let [bare, wrapped] = [false, true].map(|names_first| {
            let d = dialect.sqlparser_dialect(names_first);
            let tree = format!("{:?}", Parser::parse_sql(d.as_ref(), &plain));
            let lexicon = names_first.then(|| Lexicon::get(dialect));
            (tree, analyze_in(sql, dialect, schema, d.as_ref(), lexicon))
        });
        if bare == wrapped {
            Ok(())
        } else {
            Err(format!("{dialect:?} {sql:?}:\n{bare:?}\n{wrapped:?}"))
        }
    }

    /// The prefixes NamesFirst must leave alone, next to the ones it takes.
    const EDGES: &[&str] = &[
        "SELECT a, b.c, \"d\".\"e\", t.u.v FROM t WHERE a = 1 AND b <> c OR x::int > 2",
        "SELECT f(a), s.f(a), a (+) = b, _utf8'x', _latin1 X'4D', x -> x + 1, x INT -> x",
        "SELECT xml '<a/>', \"xml\" 'x', d '2020-01-01', t.d '2020', a[1], t.a[1], a.b.c[2]",
        "SELECT a:b.c, a:b::int, a::varchar(10), a || b, a - b * c / d % e, a.*, t.* FROM t",
        "SELECT INTERVAL n DAY, INTERVAL '1' DAY + n, CAST(a AS int), a IS NULL, a IN (b, c)",
        "SELECT CASE a WHEN b THEN c ELSE d END, a BETWEEN b AND c, a LIKE b, NOT a, -a",
        "SELECT `a`.`b`, [a].[b], a.b->>'k', a->'k', a#>'{k}', a @> b, a => b FROM t",
        "SELECT a b, a AS b FROM t ORDER BY a DESC, b.c NULLS FIRST LIMIT n",
        "UPDATE t SET a = b, c = d.e WHERE f = g; DELETE FROM t WHERE a = b",
        "SELECT transform(arr, x -> x + 1), filter(arr, (x, y) -> x > y), a..b FROM t",
        "SELECT f(a)[1] 'x', f(1, 'a')[2], a.b(1)[2] 'x', f() [1], sum(a), count(*), avg(DISTINCT a)",
        "SELECT xml NULL, xml \"x\", -a, +1, - - 1, -(a), t.a (+) = b, coalesce(a, 1) FROM t",
    ];

    #[test]
    fn corpus_and_edge_cases_parse_and_analyze_alike_in_every_dialect() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/sql");
        let mut texts: Vec<(String, Schema)> = corpus()
            .into_iter()
            .map(|entry| {
                let schema = match &entry["schema"] {
                    serde_json::Value::Null => Schema::default(),
                    serde_json::Value::String(name) => Schema::from_file(
                        &std::path::Path::new(dir).join(format!("schemas/{name}.json")),
                    )
                    .unwrap(),
                    inline => Schema::from_json(&inline.to_string()).unwrap(),
                };
                (entry["sql"].as_str().unwrap().to_string(), schema)
            })
            .collect();
        texts.extend(EDGES.iter().map(|sql| (sql.to_string(), Schema::default())));
        let failures: Vec<String> = texts
            .iter()
            .flat_map(|(sql, schema)| {
                SqlDialect::value_variants()
                    .iter()
                    .filter_map(|&d| assert_alike(sql, d, schema).err())
            })
            .collect();
        assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    }

    /// Token soup around names: what sqlparser does with each neighbour of
    /// a name, well-formed or not, must not change.
    fn soup() -> impl Strategy<Value = String> {
        let piece = prop::sample::select(vec![
            "a", "b", "t", "_utf8", "xml", "\"q\"", "`q`", "[q]", "DATE", "INTERVAL", "INT",
            "ARRAY", "STRUCT", "CASE", "WHEN", "THEN", "END", "NOT", "AND", "AS", "FROM", "WHERE",
            "SELECT", "(", ")", ",", ".", "[", "]", "::", ":", "->", "->>", "=>", "=", "+", "-",
            "*", "||", "<", ">", "'x'", "1", "$1", "?", "@p", "(+)", "{", "}", "DAY", "IS", "NULL",
            "SUM", "COUNT", "CAST", "N'x'", "E'x'", "\"x\"", "/", "%", ";", "TRUE", "2.5",
        ]);
        let joint = prop::sample::select(vec![" ", "", "."]);
        prop::collection::vec((piece, joint), 1..12).prop_map(|pieces| {
            let mut sql = String::from("SELECT ");
            for (piece, joint) in pieces {
                sql.push_str(piece);
                sql.push_str(joint);
            }
            sql
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(3000))]

        #[test]
        fn any_text_parses_alike_in_every_dialect(sql in soup()) {
            for &dialect in SqlDialect::value_variants() {
                if let Err(difference) = assert_alike(&sql, dialect, &Schema::default()) {
                    prop_assert!(false, "{}", difference);
                }
            }
        }
    }
}
