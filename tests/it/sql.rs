//! SQL intelligence: exact anonymization per hard case and dialect, table
//! and column references, a corpus with hand-checked tables, property tests
//! that no literal survives, and the `sql analyze` command.

use std::io::Write;
use std::process::{Command, Stdio};

use proptest::prelude::*;
use usagelake::sql::{Schema, SqlDialect, analyze, analyze_with_schema, anonymize};

fn one(sql: &str, dialect: SqlDialect) -> usagelake::sql::StatementAnalysis {
    let mut all = analyze(sql, dialect);
    assert_eq!(all.len(), 1, "{sql}");
    all.remove(0)
}

#[test]
fn every_kind_of_literal_becomes_a_placeholder() {
    use SqlDialect::*;
    let cases = [
        (
            Generic,
            "SELECT * FROM t WHERE a = 'x' AND b = -1.5e3 AND c = 0x1F",
            "SELECT * FROM t WHERE a = ? AND b = ? AND c = ?",
        ),
        (
            Generic,
            "SELECT a - 1, -2, (3) FROM t",
            "SELECT a - ?, ?, (?) FROM t",
        ),
        (
            Postgres,
            "SELECT $tag$it's$tag$, E'\\n', B'101', X'FF' FROM t",
            "SELECT ?, ?, ?, ? FROM t",
        ),
        (
            Postgres,
            "SELECT * FROM t WHERE d > DATE '2024-01-01' AND ts < now() - INTERVAL '3 days'",
            "SELECT * FROM t WHERE d > DATE ? AND ts < now() - INTERVAL ?",
        ),
        (
            Mysql,
            "SELECT * FROM t WHERE d > NOW() - INTERVAL 30 DAY AND s = \"dq\"",
            "SELECT * FROM t WHERE d > NOW() - INTERVAL ? DAY AND s = ?",
        ),
        (
            Generic,
            "SELECT * FROM t WHERE id IN (1, 2, 3) AND k IN ('a')",
            "SELECT * FROM t WHERE id IN (?) AND k IN (?)",
        ),
        (
            Postgres,
            "SELECT * FROM t WHERE id = ANY(ARRAY[1, 2, 3])",
            "SELECT * FROM t WHERE id = ANY(ARRAY[?])",
        ),
        (
            Generic,
            "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y'), (3, 'z')",
            "INSERT INTO t (a, b) VALUES (?)",
        ),
        (
            Generic,
            "SELECT 1 -- secret comment\n, /* another */ 2",
            "SELECT ? , ?",
        ),
        (
            Postgres,
            "SELECT * FROM t WHERE a = $1 AND b = $2",
            "SELECT * FROM t WHERE a = ? AND b = ?",
        ),
        (
            Snowflake,
            "SELECT v:name FROM t WHERE a = :x",
            "SELECT v:name FROM t WHERE a = ?",
        ),
        (
            Mssql,
            "SELECT TOP 5 * FROM t WHERE a = @p AND b = N'x'",
            "SELECT TOP ? * FROM t WHERE a = ? AND b = ?",
        ),
        (
            Bigquery,
            "SELECT * FROM `p.d.t` WHERE s = r'raw' AND b = b'bytes'",
            "SELECT * FROM `p.d.t` WHERE s = ? AND b = ?",
        ),
        (
            Generic,
            "SELECT * FROM t WHERE a = ?",
            "SELECT * FROM t WHERE a = ?",
        ),
    ];
    for (dialect, sql, expected) in cases {
        assert_eq!(
            anonymize(sql, dialect),
            vec![expected.to_string()],
            "{dialect:?}: {sql}"
        );
    }
}

#[test]
fn bi_templates_do_not_fail() {
    let a = one(
        "SELECT count(*) FROM orders WHERE 1=1 [[AND status = {{status}}]] [[AND region IN ({{regions}})]]",
        SqlDialect::Postgres,
    );
    assert_eq!(
        a.anonymized,
        "SELECT count(*) FROM orders WHERE ?=? AND status = ? AND region IN (?)"
    );
    assert_eq!(a.tables, vec!["orders"]);
    assert_eq!(a.error, None);
    let a = one(
        "select * from {{ ref('stg') }} s join analytics.c on c.id = s.cid {% if x %}where s.v > 3{% endif %}",
        SqlDialect::Snowflake,
    );
    assert_eq!(a.tables, vec!["ANALYTICS.C"]);
    assert!(!a.anonymized.contains("stg"), "{}", a.anonymized);
    let a = one(
        "SELECT ${orders.id} FROM ${TABLE} AS orders",
        SqlDialect::Generic,
    );
    assert_eq!(a.tables, vec!["looker_table"]);
    // `${TABLE}` stands for a table the text does not name: bare columns.
    assert_eq!(a.columns, vec!["id"]);
    let a = one(
        "SELECT * FROM IDENTIFIER('ANALYTICS.PUBLIC.T')",
        SqlDialect::Snowflake,
    );
    assert_eq!(a.tables, vec!["ANALYTICS.PUBLIC.T"]);
}

#[test]
fn fingerprints_ignore_literals_lists_case_spacing_and_quotes() {
    let f = |sql: &str| one(sql, SqlDialect::Postgres).fingerprint;
    let base = f("SELECT a FROM t WHERE id IN (1, 2) AND s = 'x'");
    assert_eq!(base.len(), 16);
    assert_eq!(
        base,
        f("select a  from T where ID in (7,8,9,10) and s = 'other'")
    );
    assert_eq!(
        base,
        f("SELECT \"a\" FROM \"t\" WHERE id IN (3) AND s = 'y' -- note")
    );
    assert_ne!(base, f("SELECT a FROM t WHERE id IN (1, 2) OR s = 'x'"));
    assert_ne!(base, f("SELECT b FROM t WHERE id IN (1, 2) AND s = 'x'"));
}

#[test]
fn tables_and_columns_resolve_through_aliases_subqueries_and_ctes() {
    let a = one(
        "WITH recent AS (SELECT o.id AS order_id, o.customer_id, o.amount FROM sales.orders o WHERE o.ts > '2024-01-01') \
         SELECT c.name, sum(r.amount), x.total FROM recent r \
         JOIN crm.customers AS c ON c.id = r.customer_id \
         JOIN (SELECT customer_id, max(amount) AS total FROM sales.refunds GROUP BY customer_id) x ON x.customer_id = c.id \
         WHERE status = 'open' GROUP BY c.name, x.total",
        SqlDialect::Postgres,
    );
    assert_eq!(
        a.tables,
        vec!["crm.customers", "sales.orders", "sales.refunds"]
    );
    assert_eq!(a.written_tables, Vec::<String>::new());
    assert_eq!(
        a.columns,
        vec![
            "crm.customers.id",
            "crm.customers.name",
            // `status` has no qualifier and three sources, but the CTE
            // and the derived table own only their outputs.
            "crm.customers.status",
            "sales.orders.amount",
            "sales.orders.customer_id",
            "sales.orders.id",
            "sales.orders.ts",
            // x.total is an aggregate, not a base column: nothing.
            "sales.refunds.amount",
            "sales.refunds.customer_id",
        ]
    );
}

#[test]
fn case_folds_per_dialect_and_writes_are_kept_apart() {
    let sql = "INSERT INTO Marts.Daily SELECT \"Id\", Name FROM Raw.Users u";
    let pg = one(sql, SqlDialect::Postgres);
    assert_eq!(pg.tables, vec!["raw.users"]);
    assert_eq!(pg.written_tables, vec!["marts.daily"]);
    assert_eq!(pg.columns, vec!["raw.users.Id", "raw.users.name"]);
    let sf = one(sql, SqlDialect::Snowflake);
    assert_eq!(sf.tables, vec!["RAW.USERS"]);
    assert_eq!(sf.written_tables, vec!["MARTS.DAILY"]);
    assert_eq!(sf.columns, vec!["RAW.USERS.Id", "RAW.USERS.NAME"]);
    let bq = one("SELECT * FROM `Proj.Data.Tab`", SqlDialect::Bigquery);
    assert_eq!(bq.tables, vec!["Proj.Data.Tab"]);
}

#[test]
fn multi_statement_text_gives_one_result_each() {
    let all = analyze(
        "UPDATE a SET x = 1 WHERE id = 2; DELETE FROM b WHERE y < 3; SELECT * FROM c;",
        SqlDialect::Generic,
    );
    let summary: Vec<_> = all
        .iter()
        .map(|a| {
            (
                a.anonymized.as_str(),
                a.tables.clone(),
                a.written_tables.clone(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (
                "UPDATE a SET x = ? WHERE id = ?",
                vec![],
                vec!["a".to_string()]
            ),
            ("DELETE FROM b WHERE y < ?", vec![], vec!["b".to_string()]),
            ("SELECT * FROM c", vec!["c".to_string()], vec![]),
        ]
    );
}

#[test]
fn unparsable_text_is_still_anonymized_and_the_error_quotes_nothing() {
    let a = one(
        "SELEC name FROM WHERE pw = 'hunter2' AND pin = 4711",
        SqlDialect::Generic,
    );
    assert_eq!(a.anonymized, "SELEC name FROM WHERE pw = ? AND pin = ?");
    assert_eq!(
        a.error.as_deref(),
        Some("parse_error: the statement does not parse as SQL here (Line: 1, Column: 1)")
    );
    // Not even tokenizable: an unterminated quote.
    let a = one("SELECT * FROM t WHERE pw = 'hunter2", SqlDialect::Generic);
    assert_eq!(a.anonymized, "SELECT * FROM t WHERE pw = ?");
    assert!(
        a.error
            .unwrap()
            .starts_with("parse_error: the text does not tokenize")
    );
}

/// (tables, written_tables) over every statement of `sql`, in order.
fn reads_and_writes(sql: &str, dialect: SqlDialect) -> (Vec<String>, Vec<String>) {
    let all = analyze(sql, dialect);
    for a in &all {
        assert_eq!(a.error, None, "{sql}");
    }
    (
        all.iter().flat_map(|a| a.tables.clone()).collect(),
        all.iter().flat_map(|a| a.written_tables.clone()).collect(),
    )
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn every_kind_of_write_names_its_target_and_only_that() {
    use SqlDialect::*;
    let cases: [(SqlDialect, &str, &[&str], &[&str]); 11] = [
        // SELECT … INTO creates the table it names (SQL Server temp tables).
        (
            Mssql,
            "SELECT id INTO #recent FROM dbo.Orders WHERE d > 1",
            &["dbo.Orders"],
            &["#recent"],
        ),
        (
            Postgres,
            "COPY public.staging FROM STDIN",
            &[],
            &["public.staging"],
        ),
        (
            Postgres,
            "COPY public.audit TO STDOUT",
            &["public.audit"],
            &[],
        ),
        (
            Redshift,
            "COPY staging.clicks FROM 's3://b/p' IAM_ROLE 'arn:r' FORMAT AS JSON 'auto'",
            &[],
            &["staging.clicks"],
        ),
        (
            Snowflake,
            "COPY INTO raw.s.t FROM @raw.s.stage FILE_FORMAT = (TYPE = 'JSON')",
            &[],
            &["RAW.S.T"],
        ),
        (
            Postgres,
            "TRUNCATE TABLE staging.clicks",
            &[],
            &["staging.clicks"],
        ),
        (
            Databricks,
            "OPTIMIZE main.gold.f ZORDER BY (a)",
            &[],
            &["main.gold.f"],
        ),
        // A DELETE inside a CTE writes too; the CTE is not a table.
        (
            Postgres,
            "WITH moved AS (DELETE FROM queue.jobs WHERE done RETURNING *) INSERT INTO archive.jobs SELECT * FROM moved",
            &[],
            &["archive.jobs", "queue.jobs"],
        ),
        // A clone reads its source.
        (
            Snowflake,
            "CREATE TABLE dev.s.t CLONE prod.s.t",
            &["PROD.S.T"],
            &["DEV.S.T"],
        ),
        // UPDATE / DELETE naming their target by an alias of the FROM.
        (
            Mssql,
            "UPDATE p SET p.Price = 1 FROM Production.Product p JOIN Production.Sub s ON s.Id = p.SubId",
            &["Production.Sub"],
            &["Production.Product"],
        ),
        (
            Mysql,
            "DELETE s FROM web.sessions s JOIN web.users u ON u.id = s.user_id WHERE u.banned = 1",
            &["web.users"],
            &["web.sessions"],
        ),
    ];
    for (dialect, sql, tables, written) in cases {
        assert_eq!(
            reads_and_writes(sql, dialect),
            (names(tables), names(written)),
            "{dialect:?}: {sql}"
        );
    }
}

#[test]
fn functions_in_from_and_containers_in_show_are_not_tables() {
    use SqlDialect::*;
    let cases: [(SqlDialect, &str, &[&str]); 4] = [
        (
            Postgres,
            "SELECT d, count(o.id) FROM generate_series($1::date, $2::date, interval '1 day') d LEFT JOIN orders o ON o.day = d GROUP BY 1",
            &["orders"],
        ),
        (
            Mssql,
            "SELECT st.text FROM sys.dm_exec_query_stats qs CROSS APPLY sys.dm_exec_sql_text(qs.sql_handle) st",
            &["sys.dm_exec_query_stats"],
        ),
        (Snowflake, "SHOW TABLES IN SCHEMA analytics.core", &[]),
        // The query UNLOAD runs is a string; its tables are still read.
        (
            Redshift,
            "UNLOAD ('SELECT * FROM analytics.orders WHERE d >= ''2024-01-01''') TO 's3://b/p/' IAM_ROLE 'arn:r'",
            &["analytics.orders"],
        ),
    ];
    for (dialect, sql, tables) in cases {
        assert_eq!(
            reads_and_writes(sql, dialect),
            (names(tables), vec![]),
            "{dialect:?}: {sql}"
        );
    }
}

#[test]
fn databricks_table_names_are_lower_case_quoted_or_not() {
    let (tables, _) = reads_and_writes(
        "SELECT c.Region FROM Main.Sales.Orders o JOIN `Main`.`Sales`.`Customers` c ON c.Id = o.CustomerId",
        SqlDialect::Databricks,
    );
    assert_eq!(tables, vec!["main.sales.customers", "main.sales.orders"]);
}

#[test]
fn dialect_syntax_the_parser_lacks_still_gives_tables() {
    use SqlDialect::*;
    let cases: [(SqlDialect, &str, &[&str], &[&str]); 5] = [
        (
            Redshift,
            "SELECT APPROXIMATE COUNT(DISTINCT user_id) FROM Public.Subscriptions",
            &["public.subscriptions"],
            &[],
        ),
        (
            Redshift,
            "CREATE TABLE a.views (id BIGINT IDENTITY(1,1) ENCODE az64, u BIGINT) DISTSTYLE KEY DISTKEY (u) COMPOUND SORTKEY (id)",
            &[],
            &["a.views"],
        ),
        (
            Databricks,
            "CREATE OR REPLACE TABLE main.gold.d USING DELTA AS SELECT * FROM main.silver.o",
            &["main.silver.o"],
            &["main.gold.d"],
        ),
        (
            Databricks,
            "MERGE INTO main.s.t USING main.b.cdc s ON t.id = s.id WHEN MATCHED THEN UPDATE SET * WHEN NOT MATCHED THEN INSERT *",
            &["main.b.cdc"],
            &["main.s.t"],
        ),
        (
            Mssql,
            "DELETE TOP (5000) FROM dbo.EventQueue WHERE ProcessedAt < '2024-01-01'",
            &[],
            &["dbo.EventQueue"],
        ),
    ];
    for (dialect, sql, tables, written) in cases {
        assert_eq!(
            reads_and_writes(sql, dialect),
            (names(tables), names(written)),
            "{dialect:?}: {sql}"
        );
    }
    // The anonymized text is the original's, not the repaired one's.
    let a = one(
        "DELETE TOP (5000) FROM dbo.EventQueue WHERE ProcessedAt < '2024-01-01'",
        SqlDialect::Mssql,
    );
    assert_eq!(
        a.anonymized,
        "DELETE TOP (?) FROM dbo.EventQueue WHERE ProcessedAt < ?"
    );
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct CorpusEntry {
    id: String,
    dialect: SqlDialect,
    sql: String,
    tables: Vec<String>,
    written_tables: Vec<String>,
    /// The columns read or written, where checked by hand (or, for TPC-H
    /// and TPC-DS, derived from their schema by add_column_truth.py).
    #[serde(default)]
    columns: Option<Vec<String>>,
    /// The schema to resolve with: a file name under schemas/ (without
    /// `.json`) or the schema itself.
    #[serde(default)]
    schema: Option<serde_json::Value>,
    /// Why the expected lists are what they are, where the text leaves a
    /// choice (read by people, not by the test).
    #[serde(default, rename = "note")]
    _note: Option<String>,
}

/// Every `*.jsonl` file of tests/data/sql, so a new file is picked up.
fn corpus() -> Vec<CorpusEntry> {
    let dir = format!("{}/tests/data/sql", env!("CARGO_MANIFEST_DIR"));
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    files
        .iter()
        .flat_map(|f| {
            std::fs::read_to_string(f)
                .unwrap()
                .lines()
                .enumerate()
                .map(|(i, l)| {
                    serde_json::from_str(l)
                        .unwrap_or_else(|e| panic!("{}:{}: {e}", f.display(), i + 1))
                })
                .collect::<Vec<CorpusEntry>>()
        })
        .collect()
}

/// The quoted string literals of a statement (longer than 2 characters,
/// not also written elsewhere in the text as a name, not the name inside
/// Snowflake's IDENTIFIER('…')), to check none survives.
fn literals(sql: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = sql;
    while let Some(start) = rest.find('\'') {
        let identifier = rest[..start].to_ascii_uppercase().ends_with("IDENTIFIER(");
        let after = &rest[start + 1..];
        let end = after.find('\'').unwrap_or(after.len());
        let literal = &after[..end];
        if end > 2 && !identifier && sql.matches(literal).count() == 1 {
            out.push(literal.to_string());
        }
        rest = after.get(end + 1..).unwrap_or("");
    }
    out
}

#[test]
fn corpus_tables_match_the_hand_checked_lists() {
    let corpus = corpus();
    let mut ids = std::collections::HashSet::new();
    for entry in &corpus {
        assert!(ids.insert(entry.id.as_str()), "duplicate id {}", entry.id);
    }
    // Written or collected and checked by hand (generated.jsonl's lists come
    // from construction and are counted apart).
    let hand_checked = corpus.iter().filter(|e| !e.id.starts_with("gen-")).count();
    assert!(hand_checked >= 250, "{hand_checked}");
    assert!(corpus.len() >= 300, "{}", corpus.len());
    let mut failures = Vec::new();
    for entry in &corpus {
        let all = analyze_with_schema(&entry.sql, entry.dialect, &schema_of(entry));
        let tables: Vec<String> = all.iter().flat_map(|a| a.tables.clone()).collect();
        let written: Vec<String> = all.iter().flat_map(|a| a.written_tables.clone()).collect();
        let errors: Vec<_> = all.iter().filter_map(|a| a.error.clone()).collect();
        if tables != entry.tables || written != entry.written_tables || !errors.is_empty() {
            failures.push(format!(
                "{}: tables {tables:?} (want {:?}), written {written:?} (want {:?}), errors {errors:?}",
                entry.id, entry.tables, entry.written_tables
            ));
        }
        for literal in literals(&entry.sql) {
            for a in &all {
                if a.anonymized.contains(&literal) {
                    failures.push(format!("{}: literal {literal:?} survived", entry.id));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

fn schema_of(entry: &CorpusEntry) -> Schema {
    match &entry.schema {
        None => Schema::default(),
        Some(serde_json::Value::String(name)) => Schema::from_file(std::path::Path::new(&format!(
            "{}/tests/data/sql/schemas/{name}.json",
            env!("CARGO_MANIFEST_DIR")
        )))
        .unwrap(),
        Some(inline) => Schema::from_json(&inline.to_string()).unwrap(),
    }
}

/// (true positives, reported, expected) of the columns over `entries`,
/// each entry's lists taken as sets.
fn column_counts<'a>(entries: impl Iterator<Item = &'a CorpusEntry>) -> (usize, usize, usize) {
    let (mut hits, mut reported, mut expected) = (0, 0, 0);
    for entry in entries {
        let want: std::collections::BTreeSet<String> =
            entry.columns.iter().flatten().cloned().collect();
        let got: std::collections::BTreeSet<String> =
            analyze_with_schema(&entry.sql, entry.dialect, &schema_of(entry))
                .into_iter()
                .flat_map(|a| a.columns)
                .collect();
        hits += got.intersection(&want).count();
        reported += got.len();
        expected += want.len();
    }
    (hits, reported, expected)
}

fn f1((hits, reported, expected): (usize, usize, usize)) -> f64 {
    let precision = hits as f64 / reported.max(1) as f64;
    let recall = hits as f64 / expected.max(1) as f64;
    2.0 * precision * recall / (precision + recall).max(f64::MIN_POSITIVE)
}

#[test]
fn corpus_columns_match_the_hand_checked_lists() {
    let corpus = corpus();
    let checked: Vec<&CorpusEntry> = corpus.iter().filter(|e| e.columns.is_some()).collect();
    let benchmark = |e: &&&CorpusEntry| e.id.starts_with("tpch-") || e.id.starts_with("tpcds-");
    // TPC-H's 22 and TPC-DS's 103 texts, and the cases of every class of
    // column error, in eight dialects.
    assert_eq!(checked.iter().filter(benchmark).count(), 125);
    let dialect_cases: Vec<&CorpusEntry> =
        checked.iter().filter(|e| !benchmark(e)).copied().collect();
    assert!(dialect_cases.len() >= 50, "{}", dialect_cases.len());
    let mut misses = Vec::new();
    for entry in &checked {
        let want: std::collections::BTreeSet<String> =
            entry.columns.iter().flatten().cloned().collect();
        let got: std::collections::BTreeSet<String> =
            analyze_with_schema(&entry.sql, entry.dialect, &schema_of(entry))
                .into_iter()
                .flat_map(|a| a.columns)
                .collect();
        if got != want {
            misses.push(format!(
                "{}: extra {:?}, missing {:?}",
                entry.id,
                got.difference(&want).collect::<Vec<_>>(),
                want.difference(&got).collect::<Vec<_>>()
            ));
        }
    }
    let overall = f1(column_counts(checked.iter().copied()));
    let dialects = f1(column_counts(dialect_cases.iter().copied()));
    println!("columns F1 {overall:.4} overall, {dialects:.4} on the dialect cases");
    println!("{}", misses.join("\n"));
    assert!(overall >= 0.99, "F1 {overall:.4}\n{}", misses.join("\n"));
    assert!(dialects >= 0.98, "F1 {dialects:.4}\n{}", misses.join("\n"));
}

#[test]
fn sql_analyze_reads_json_lines_and_writes_one_line_per_statement() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_usagelake"))
        .args(["sql", "analyze", "--dialect", "postgres"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(
            b"{\"id\": 7, \"sql\": \"SELECT o.id FROM shop.orders o WHERE o.total > 100; SELECT 1\"}\n\
              not json 'secret'\n",
        )
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        "{\"id\":7,\"anonymized\":\"SELECT o.id FROM shop.orders o WHERE o.total > ?\",\"fingerprint\":\"".to_string()
            + &one("SELECT o.id FROM shop.orders o WHERE o.total > 100", SqlDialect::Postgres).fingerprint
            + "\",\"tables\":[\"shop.orders\"],\"written_tables\":[],\"columns\":[\"shop.orders.id\",\"shop.orders.total\"],\"error\":null}\n\
               {\"id\":7,\"anonymized\":\"SELECT ?\",\"fingerprint\":\""
            + &one("SELECT 1", SqlDialect::Postgres).fingerprint
            + "\",\"tables\":[],\"written_tables\":[],\"columns\":[],\"error\":null}\n\
               {\"id\":2,\"anonymized\":\"\",\"fingerprint\":\"\",\"tables\":[],\"written_tables\":[],\"columns\":[],\"error\":\"input line 2: expected a JSON object {\\\"id\\\": …, \\\"sql\\\": \\\"…\\\"}\"}\n"
    );
}

fn literal() -> impl Strategy<Value = String> {
    prop_oneof![
        // A marker no SQL text around it contains, so finding the literal's
        // body in the output can only mean it leaked.
        "zq[a-zA-Z0-9 _%@.-]{1,10}".prop_map(|s| format!("'{}'", s.replace('\'', "''"))),
        (100_000i64..999_999_999).prop_map(|n| n.to_string()),
        (100_000i64..999_999_999).prop_map(|n| format!("-{n}")),
        (1000.0f64..99999.0).prop_map(|f| format!("{f:.4}")),
        (1u32..9, 100u32..999).prop_map(|(a, b)| format!("{a}.{b}e{}", a + 1)),
        "[0-9A-F]{6}".prop_map(|h| format!("X'{h}'")),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn no_literal_survives_and_fingerprints_ignore_them(
        a in literal(), b in literal(), list in proptest::collection::vec(literal(), 1..6),
        c in literal(), d in literal(), other in proptest::collection::vec(literal(), 1..6),
    ) {
        let shape = |x: &str, y: &str, l: &[String]| format!(
            "SELECT o.id, sum(o.total) FROM shop.orders o WHERE o.status = {x} AND o.amount > {y} \
             AND o.region IN ({}) GROUP BY o.id", l.join(", "));
        let first = one(&shape(&a, &b, &list), SqlDialect::Postgres);
        for literal in [&a, &b].into_iter().chain(&list) {
            let bare = literal.trim_matches('\'').trim_start_matches("X'");
            let bare = bare.strip_prefix('-').unwrap_or(bare);
            prop_assert!(!first.anonymized.contains(bare), "{} in {}", literal, first.anonymized);
        }
        let second = one(&shape(&c, &d, &other), SqlDialect::Postgres);
        prop_assert_eq!(&first.fingerprint, &second.fingerprint);
        prop_assert_eq!(first.anonymized, second.anonymized);
    }
}

#[test]
fn sql_analyze_resolves_with_a_schema_file_and_names_a_bad_one() {
    let dir = tempfile::tempdir().unwrap();
    let schema = dir.path().join("schema.json");
    std::fs::write(
        &schema,
        r#"{"hr": {"employees": {"id": "int", "name": "text", "dept_id": "int"}, "departments": ["id", "name"]}}"#,
    )
    .unwrap();
    let run = |args: &[&str]| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .args(["sql", "analyze", "--dialect", "postgres"])
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(
                b"{\"id\": 1, \"sql\": \"SELECT e.name, (SELECT d.name FROM hr.departments d WHERE d.id = dept_id) FROM hr.employees e\"}\n",
            )
            .unwrap();
        child.wait_with_output().unwrap()
    };
    let columns = |out: &std::process::Output| {
        let line: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        line["columns"].clone()
    };
    // Without a schema `dept_id` goes to the subquery's only table; the
    // schema says it is the outer one's.
    let out = run(&[]);
    assert!(out.status.success());
    assert_eq!(
        columns(&out),
        serde_json::json!([
            "hr.departments.dept_id",
            "hr.departments.id",
            "hr.departments.name",
            "hr.employees.name"
        ])
    );
    let out = run(&["--schema", schema.to_str().unwrap()]);
    assert!(out.status.success());
    assert_eq!(
        columns(&out),
        serde_json::json!([
            "hr.departments.id",
            "hr.departments.name",
            "hr.employees.dept_id",
            "hr.employees.name"
        ])
    );
    std::fs::write(&schema, r#"{"hr.employees": "id, name"}"#).unwrap();
    let out = run(&["--schema", schema.to_str().unwrap()]);
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(
        stderr.contains(&format!(
            "{}: not a schema: hr.employees is neither a column list nor an object",
            schema.display()
        )),
        "{stderr}"
    );
}

#[test]
fn escape_strings_parse_and_template_references_keep_fingerprints() {
    // E'…' with an escaped quote: parsed (columns found), no literal kept.
    let a = one(
        r"SELECT id FROM app.logs WHERE msg LIKE E'%it\'s%' AND lvl = U&'d\0061t'",
        SqlDialect::Postgres,
    );
    assert_eq!(a.error, None);
    assert_eq!(
        a.anonymized,
        "SELECT id FROM app.logs WHERE msg LIKE ? AND lvl = ?"
    );
    assert_eq!(a.columns, ["app.logs.id", "app.logs.lvl", "app.logs.msg"]);
    let f = |sql: &str, dialect| one(sql, dialect).fingerprint;
    assert_eq!(
        f(
            "SELECT a FROM t WHERE b = U&'d\\0061t'",
            SqlDialect::Postgres
        ),
        f("SELECT a FROM t WHERE b = U&'other'", SqlDialect::Postgres)
    );
    assert_eq!(
        f(
            "SELECT ${orders.id} FROM ${TABLE} AS orders WHERE ${orders.status} = 'open'",
            SqlDialect::Generic
        ),
        f(
            "SELECT ${orders.id} FROM ${TABLE} AS orders WHERE ${orders.status} = 'closed'",
            SqlDialect::Generic
        )
    );
}
