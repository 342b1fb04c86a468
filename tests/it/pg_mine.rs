//! PostgreSQL query-log mining against a real server: a known workload of
//! three users over both protocols, mined through the CLI from csvlog,
//! jsonlog, stderr and pg_stat_statements, with exact rows asserted.

use std::path::Path;

use tokio_postgres::types::Type;
use usagelake::lake::{Lake, LakeLocation};
use usagelake::query::{OutputFormat, format_batches, run_sql};

use crate::pg_server::{PgServer, SUPERUSER_PASSWORD};
use crate::support::usagelake;

const LOGS_ID: &str = "3a6f3b4e-8c1d-4f7a-9b2e-5d0c1e2f3a41";
const JSON_ID: &str = "3a6f3b4e-8c1d-4f7a-9b2e-5d0c1e2f3a42";
const STDERR_ID: &str = "3a6f3b4e-8c1d-4f7a-9b2e-5d0c1e2f3a43";
const STATS_ID: &str = "3a6f3b4e-8c1d-4f7a-9b2e-5d0c1e2f3a44";

/// Literals of the workload that must never reach the lake.
const SECRETS: &[&str] = &[
    "Zed Secret",
    "Bobby Secret",
    "987654321",
    "alice-pw",
    "bob-pw",
    "carol-pw",
    SUPERUSER_PASSWORD,
];

fn mine(cwd: &Path, connector: &str, date: &str) -> String {
    let out = usagelake(cwd, &["mine", connector, "--date", date]);
    assert!(
        out.status.success(),
        "mine {connector} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn open_lake(dir: &Path) -> Lake {
    Lake::open(&LakeLocation::Local(dir.join("lake"))).unwrap()
}

async fn table(lake: &Lake, sql: &str) -> String {
    let batches = run_sql(lake, sql).await.unwrap();
    format_batches(&batches, OutputFormat::Csv).unwrap()
}

/// The rows of one connector, in a fixed order, every column that a
/// re-run must reproduce.
async fn rows_of(lake: &Lake, connector_id: &str) -> String {
    table(
        lake,
        &format!(
            "SELECT id, resource_id, title, sql_text, query_fingerprint, array_to_string(referenced_tables, '|') AS t, \
             array_to_string(written_tables, '|') AS w, array_to_string(referenced_columns, '|') AS c, \
             database, executed_by, executed_at, execution_count \
             FROM bi_queries WHERE connector_id = '{connector_id}' ORDER BY executed_at, resource_id"
        ),
    )
    .await
}

/// Per user, per statement (anonymized, so one line per fingerprint).
async fn usage_of(lake: &Lake, connector_id: &str) -> String {
    table(
        lake,
        &format!(
            "SELECT executed_by, database, sql_text, count(*) AS n_rows, sum(execution_count) AS executions \
             FROM bi_queries WHERE connector_id = '{connector_id}' \
             GROUP BY executed_by, database, sql_text ORDER BY executed_by, sql_text"
        ),
    )
    .await
}

/// Executions per table read and per table written.
async fn per_table(lake: &Lake, connector_id: &str) -> String {
    table(
        lake,
        &format!(
            "SELECT t, access, sum(execution_count) AS executions FROM ( \
               SELECT unnest(referenced_tables) AS t, 'read' AS access, execution_count FROM bi_queries WHERE connector_id = '{connector_id}' \
               UNION ALL \
               SELECT unnest(written_tables) AS t, 'written' AS access, execution_count FROM bi_queries WHERE connector_id = '{connector_id}') \
             GROUP BY t, access ORDER BY t, access"
        ),
    )
    .await
}

/// Everything the lake holds, as text: every table read through SQL
/// (Parquet is compressed, so raw bytes prove nothing) plus the raw
/// bytes of every other file (checkpoints, ledgers).
async fn assert_no_secret(dir: &Path, lake: &Lake) {
    let mut text = String::new();
    for query in ["SELECT * FROM bi_queries", "SELECT * FROM sync_jobs"] {
        text.push_str(&crate::support::sql(lake, query).await);
    }
    for file in crate::support::files_under(&dir.join("lake")) {
        if !file.ends_with(".parquet") {
            text.push_str(&String::from_utf8_lossy(
                &std::fs::read(dir.join("lake").join(&file)).unwrap(),
            ));
        }
    }
    assert!(text.contains("customers") && text.contains("bob"), "{text}");
    for secret in SECRETS {
        assert!(!text.contains(secret), "{secret:?} is in the lake");
    }
}

fn copy_files(files: &[std::path::PathBuf], to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for file in files {
        std::fs::copy(file, to.join(file.file_name().unwrap())).unwrap();
    }
}

/// psql as alice: simple protocol, a transaction, a multi-line
/// statement, IN-lists of two lengths, a failing statement.
fn alice_workload(pg: &PgServer) {
    pg.psql(
        "alice",
        "alice-pw",
        "shop",
        "SELECT id FROM customers WHERE name = 'Zed Secret';\n\
         SELECT o.id,\n       c.name\nFROM orders o\nJOIN customers c ON c.id = o.customer_id\nWHERE o.total > 100;\n\
         BEGIN;\n\
         UPDATE orders SET total = total + 1 WHERE id = 7;\n\
         COMMIT;\n\
         SELECT name FROM customers WHERE id IN (1, 2);\n\
         SELECT name FROM customers WHERE id IN (3, 4, 5, 6);\n",
    );
    let error = pg
        .try_psql("alice", "alice-pw", "shop", "SELECT nope FROM orders;")
        .unwrap_err();
    assert!(error.contains("nope"), "{error}");
}

/// tokio-postgres as bob: named and unnamed extended-protocol statements
/// with bind values, a transaction, a statement failing at execution.
async fn bob_workload(pg: &PgServer) {
    let bob = pg.connect("bob", "bob-pw", "shop").await;
    for id in [987654321i32, 42] {
        bob.query("SELECT total FROM orders WHERE id = $1", &[&id])
            .await
            .unwrap();
    }
    bob.query_typed(
        "SELECT name FROM customers WHERE id = $1",
        &[(&7i32, Type::INT4)],
    )
    .await
    .unwrap();
    bob.execute(
        "INSERT INTO orders (id, customer_id, total) VALUES ($1, $2, $3)",
        &[&8i32, &3i32, &250i32],
    )
    .await
    .unwrap();
    let mut bob = bob;
    let tx = bob.transaction().await.unwrap();
    tx.execute(
        "UPDATE customers SET name = $1 WHERE id = $2",
        &[&"Bobby Secret", &3i32],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    let failed = bob
        .query("SELECT total / $1 FROM orders", &[&0i32])
        .await
        .unwrap_err();
    assert!(
        failed
            .as_db_error()
            .is_some_and(|e| e.message().contains("division by zero")),
        "{failed}"
    );
}

#[tokio::test]
async fn mining_logs_and_pg_stat_statements_gives_exact_usage() {
    // stderr beside csvlog and jsonlog, with a prefix naming user, database
    // and session: one server shows all three formats of the same records.
    let pg = PgServer::start_with(&[
        ("log_destination", "'stderr,csvlog,jsonlog'"),
        ("log_line_prefix", "'%m [%p] %q%u@%d %c:%l '"),
    ]);
    for (user, password) in [
        ("alice", "alice-pw"),
        ("bob", "bob-pw"),
        ("carol", "carol-pw"),
    ] {
        pg.create_user(user, password);
    }
    pg.create_database("shop", "postgres");
    pg.psql(
        "postgres",
        SUPERUSER_PASSWORD,
        "shop",
        "CREATE TABLE customers (id int PRIMARY KEY, name text);\n\
         CREATE TABLE orders (id int, customer_id int, total int);\n\
         INSERT INTO customers SELECT g, 'c' || g FROM generate_series(1, 9) g;\n\
         INSERT INTO orders VALUES (7, 1, 150), (9, 2, 50);\n\
         GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA public TO alice, bob, carol;",
    );
    let dir = tempfile::tempdir().unwrap();
    let json_dir = dir.path().join("json-only");
    let stderr_dir = dir.path().join("stderr-only");
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/usagelake.toml"),
        format!(
            "[lake]\nurl = \"./lake\"\n\n\
             [[connectors]]\nid = \"{LOGS_ID}\"\nname = \"pg-logs\"\ntype = \"postgres\"\nlog_dir = \"{}\"\nexclude_users = [\"carol\"]\n\n\
             [[connectors]]\nid = \"{JSON_ID}\"\nname = \"pg-json\"\ntype = \"postgres\"\nlog_dir = \"{}\"\nexclude_users = [\"carol\"]\n\n\
             [[connectors]]\nid = \"{STDERR_ID}\"\nname = \"pg-stderr\"\ntype = \"postgres\"\nlog_dir = \"{}\"\nlog_line_prefix = \"%m [%p] %q%u@%d %c:%l \"\nexclude_users = [\"carol\"]\n\n\
             [[connectors]]\nid = \"{STATS_ID}\"\nname = \"pg-stats\"\ntype = \"postgres\"\nurl = \"{}\"\nexclude_users = [\"carol\"]\n",
            pg.log_dir().display(),
            json_dir.display(),
            stderr_dir.display(),
            pg.url("postgres", SUPERUSER_PASSWORD, "shop"),
        ),
    )
    .unwrap();
    let cwd = dir.path();
    let today = chrono::Utc::now().date_naive().to_string();

    // pg_stat_statements before the workload: alice's first query already
    // ran 3 times, so the reset below drives its counter down.
    for _ in 0..3 {
        pg.psql(
            "alice",
            "alice-pw",
            "shop",
            "SELECT id FROM customers WHERE name = 'Zed Secret';",
        );
    }
    assert_eq!(
        mine(cwd, "pg-stats", &today),
        format!("{{\"rows_upserted\":0,\"dates\":[\"{today}\"]}}")
    );

    alice_workload(&pg);
    bob_workload(&pg).await;
    pg.psql("carol", "carol-pw", "shop", "SELECT * FROM orders;");
    pg.sync_logs();
    copy_files(&pg.log_files("json"), &json_dir);
    copy_files(&pg.log_files("log"), &stderr_dir);

    let lake = open_lake(cwd);
    // Every format gives the same usage: the csv/json/log trio of one
    // stem is read once.
    for (name, id) in [
        ("pg-logs", LOGS_ID),
        ("pg-json", JSON_ID),
        ("pg-stderr", STDERR_ID),
    ] {
        let printed = mine(cwd, name, &today);
        assert_eq!(
            printed,
            format!("{{\"rows_upserted\":13,\"dates\":[\"{today}\"]}}"),
            "{name}"
        );
        assert_eq!(
            usage_of(&lake, id).await,
            "executed_by,database,sql_text,n_rows,executions\n\
             alice,shop,SELECT id FROM customers WHERE name = ?,4,4\n\
             alice,shop,SELECT name FROM customers WHERE id IN (?),2,2\n\
             alice,shop,\"SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total > ?\",1,1\n\
             alice,shop,UPDATE orders SET total = total + ? WHERE id = ?,1,1\n\
             bob,shop,\"INSERT INTO orders (id, customer_id, total) VALUES (?)\",1,1\n\
             bob,shop,SELECT name FROM customers WHERE id = ?,1,1\n\
             bob,shop,SELECT total FROM orders WHERE id = ?,2,2\n\
             bob,shop,UPDATE customers SET name = ? WHERE id = ?,1,1\n",
            "{name}"
        );
        assert_eq!(
            per_table(&lake, id).await,
            "t,access,executions\ncustomers,read,8\ncustomers,written,1\norders,read,3\norders,written,2\n",
            "{name}"
        );
    }
    let logs = rows_of(&lake, LOGS_ID).await;
    // csvlog and jsonlog give the same rows, resource ids included (stderr
    // numbers each line of a record with %l, so its ids differ).
    let same = |id: &str| {
        format!(
            "SELECT resource_id, title, sql_text, database, executed_by, executed_at FROM bi_queries \
             WHERE connector_id = '{id}' ORDER BY resource_id"
        )
    };
    let csv_rows = table(&lake, &same(LOGS_ID)).await;
    assert_eq!(csv_rows.lines().count(), 14);
    assert_eq!(table(&lake, &same(JSON_ID)).await, csv_rows);
    assert_eq!(
        table(
            &lake,
            &format!(
                "SELECT count(DISTINCT query_fingerprint) AS fingerprints, count(DISTINCT resource_id) AS ids, \
                 min(title) AS app1, max(title) AS app2 FROM bi_queries WHERE connector_id = '{LOGS_ID}'"
            )
        )
        .await,
        "fingerprints,ids,app1,app2\n8,13,psql,tokio-postgres\n"
    );
    let report = table(
        &lake,
        &format!(
            "SELECT report FROM sync_jobs WHERE connector_id = '{LOGS_ID}' AND status = 'succeeded'"
        ),
    )
    .await;
    for fact in [
        "\"\"failed_statements\"\":2",
        "\"\"excluded_user_statements\"\":1",
        "\"\"files_other_format\"\":2",
    ] {
        assert!(report.contains(fact), "{fact} in {report}");
    }
    // Mining again gives the same rows, ids included.
    for _ in 0..2 {
        mine(cwd, "pg-logs", &today);
        assert_eq!(rows_of(&lake, LOGS_ID).await, logs);
    }

    // pg_stat_statements: the calls since the baseline, per query, user
    // and database (the view keeps IN-lists of different lengths apart;
    // the fingerprint joins them).
    assert_eq!(
        mine(cwd, "pg-stats", &today),
        format!("{{\"rows_upserted\":9,\"dates\":[\"{today}\"]}}")
    );
    let stats_usage = "executed_by,database,sql_text,n_rows,executions\n\
             alice,shop,SELECT id FROM customers WHERE name = ?,1,1\n\
             alice,shop,SELECT name FROM customers WHERE id IN (?),2,2\n\
             alice,shop,\"SELECT o.id, c.name FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.total > ?\",1,1\n\
             alice,shop,UPDATE orders SET total = total + ? WHERE id = ?,1,1\n\
             bob,shop,\"INSERT INTO orders (id, customer_id, total) VALUES (?)\",1,1\n\
             bob,shop,SELECT name FROM customers WHERE id = ?,1,1\n\
             bob,shop,SELECT total FROM orders WHERE id = ?,1,2\n\
             bob,shop,UPDATE customers SET name = ? WHERE id = ?,1,1\n";
    assert_eq!(usage_of(&lake, STATS_ID).await, stats_usage);
    let stats = rows_of(&lake, STATS_ID).await;
    for _ in 0..2 {
        mine(cwd, "pg-stats", &today);
        assert_eq!(rows_of(&lake, STATS_ID).await, stats);
    }

    // A reset between snapshots: alice's counter goes from 4 to 2. The
    // day's usage is the new value, never 2 - 4.
    pg.psql(
        "postgres",
        SUPERUSER_PASSWORD,
        "shop",
        "SELECT pg_stat_statements_reset();",
    );
    for _ in 0..2 {
        pg.psql(
            "alice",
            "alice-pw",
            "shop",
            "SELECT id FROM customers WHERE name = 'Zed Secret';",
        );
    }
    mine(cwd, "pg-stats", &today);
    assert_eq!(
        usage_of(&lake, STATS_ID).await,
        "executed_by,database,sql_text,n_rows,executions\n\
         alice,shop,SELECT id FROM customers WHERE name = ?,1,2\n"
    );
    assert_eq!(
        table(&lake, "SELECT min(execution_count) AS m FROM bi_queries").await,
        "m\n1\n"
    );
    assert_no_secret(cwd, &lake).await;
    pg.stop();
}

#[tokio::test]
async fn an_unreachable_server_or_missing_log_dir_is_a_failed_job_and_no_rows() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::write(
        dir.path().join("config/usagelake.toml"),
        format!(
            "[lake]\nurl = \"./lake\"\n\n\
             [[connectors]]\nid = \"{LOGS_ID}\"\nname = \"pg-logs\"\ntype = \"postgres\"\nlog_dir = \"{}\"\n\n\
             [[connectors]]\nid = \"{STATS_ID}\"\nname = \"pg-stats\"\ntype = \"postgres\"\nurl = \"postgres://usagelake:very-secret-pw@127.0.0.1:{port}/shop\"\n",
            dir.path().join("no-such-dir").display()
        ),
    )
    .unwrap();
    let cwd = dir.path();
    let out = usagelake(cwd, &["mine", "pg-logs", "--date", "2026-11-02"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("connector pg-logs: log_dir")
            && stderr.contains("no-such-dir")
            && stderr.contains("SHOW log_directory"),
        "{stderr}"
    );
    let today = chrono::Utc::now().date_naive().to_string();
    let out = usagelake(cwd, &["mine", "pg-stats", "--date", &today]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("connector pg-stats: postgres connection")
            && stderr.contains("check the host and port"),
        "{stderr}"
    );
    assert!(!stderr.contains("very-secret-pw"), "{stderr}");
    let lake = open_lake(cwd);
    assert_eq!(
        table(
            &lake,
            "SELECT status, count(*) AS n, count(error) AS errors FROM sync_jobs GROUP BY status"
        )
        .await,
        "status,n,errors\nfailed,2,2\n"
    );
    assert_eq!(
        table(&lake, "SELECT count(*) AS n FROM bi_queries").await,
        "n\n0\n"
    );
    let sync_jobs = table(&lake, "SELECT * FROM sync_jobs").await;
    assert!(!sync_jobs.contains("very-secret-pw"));
}
