//! Shared fixtures: temporary lakes, Segment lines, SQL helpers.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use std::fmt::Write as _;

use chrono::NaiveDate;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::display::array_value_to_string;
use datafusion::arrow::util::pretty::pretty_format_batches;
use usagelake::config::FileSelection;
use usagelake::demo::generator::{GeneratorOptions, generate};
use usagelake::lake::{Lake, LakeLocation, S3Options};
use usagelake::sources::segment::{IngestRequest, ingest};

pub fn temp_lake() -> (tempfile::TempDir, Lake) {
    let dir = tempfile::tempdir().unwrap();
    let lake = Lake::open(&LakeLocation::Local(dir.path().join("lake"))).unwrap();
    (dir, lake)
}

/// Writes `lines` as one file at `dir/rel`, creating folders.
pub fn write_events(dir: &Path, rel: &str, lines: &[String]) -> PathBuf {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

pub fn page(id: &str, user: &str, domain: &str, name: &str, ts: &str) -> String {
    format!(
        r#"{{"type":"page","messageId":"{id}","userId":"{user}","name":"{name}","timestamp":"{ts}","receivedAt":"{ts}","properties":{{"tab":"overview"}},"context":{{"traits":{{"domain":"{domain}"}}}}}}"#
    )
}

pub fn track(id: &str, user: &str, domain: &str, event: &str, ts: &str) -> String {
    format!(
        r#"{{"type":"track","messageId":"{id}","userId":"{user}","event":"{event}","timestamp":"{ts}","properties":{{"n":1}},"context":{{"traits":{{"domain":"{domain}"}}}}}}"#
    )
}

pub fn identify(id: &str, user: &str, domain: &str, email: &str, ts: &str) -> String {
    format!(
        r#"{{"type":"identify","messageId":"{id}","userId":"{user}","traits":{{"domain":"{domain}","email":"{email}"}},"timestamp":"{ts}","receivedAt":"{ts}"}}"#
    )
}

pub fn s3_none() -> S3Options {
    S3Options::default()
}

/// Runs SQL against the lake and renders the result as a sorted text table.
pub async fn sql(lake: &Lake, query: &str) -> String {
    let batches: Vec<RecordBatch> = usagelake::query::run_sql(lake, query).await.unwrap();
    pretty_format_batches(&batches).unwrap().to_string()
}

/// Generated demo events written under `dir/data` and ingested into `lake`
/// (every file, as of `options.end_date`).
pub async fn ingest_generated(dir: &Path, lake: &Lake, options: &GeneratorOptions) {
    generate(options, &dir.join("data")).unwrap();
    ingest(
        lake,
        &IngestRequest {
            source: dir.join("data/segment-logs").display().to_string(),
            selection: FileSelection::All,
            date: options.end_date,
            s3: s3_none(),
            event_time: Default::default(),
        },
    )
    .await
    .unwrap();
}

/// Runs SQL against the lake: one line per row, cells joined by `|`
/// (NULL for a null), in the order the query gives.
pub async fn render(lake: &Lake, sql: &str) -> String {
    let batches = usagelake::query::run_sql(lake, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    let mut out = String::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| {
                    if c.is_null(row) {
                        "NULL".to_string()
                    } else {
                        array_value_to_string(c, row).unwrap()
                    }
                })
                .collect();
            writeln!(out, "{}", cells.join("|")).unwrap();
        }
    }
    out
}

/// Every metric table's rows as of `as_of` and every per-day table's rows
/// up to it, sorted, doubles to 10 significant digits (a different
/// summation order moves the last bits of an average).
pub async fn table_rows(lake: &Lake, as_of: NaiveDate) -> Vec<(String, Vec<String>)> {
    let normalize = |line: &str| {
        line.split('|')
            .map(|cell| match cell.parse::<f64>() {
                Ok(x) if cell.contains('.') => format!("{x:.9e}"),
                _ => cell.to_string(),
            })
            .collect::<Vec<_>>()
            .join("|")
    };
    let mut tables = Vec::new();
    for table in usagelake::metrics::shipped_outputs() {
        let key = table.partition_keys[0].0;
        let filter = if key == "as_of" { "=" } else { "<=" };
        let sql = format!(
            "SELECT * FROM {} WHERE \"{key}\" {filter} DATE '{as_of}'",
            table.name
        );
        let mut rows: Vec<String> = render(lake, &sql).await.lines().map(normalize).collect();
        rows.sort();
        tables.push((table.name.clone(), rows));
    }
    tables
}

/// Copies the folder `from` to `to`, recursively.
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// Every file under `root`, relative, sorted.
pub fn files_under(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                out.push(path.strip_prefix(root).unwrap().display().to_string());
            }
        }
    }
    out.sort();
    out
}

/// The `usagelake` binary in a temporary project folder: its
/// `config/usagelake.toml` is `config`, run with `envs` set (secrets go
/// through `${NAME}`) and debug logs, so a test can grep every line.
pub struct Cli {
    pub dir: tempfile::TempDir,
    envs: Vec<(String, String)>,
}

impl Cli {
    pub fn new(config: &str, envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("config")).unwrap();
        std::fs::write(dir.path().join("config/usagelake.toml"), config).unwrap();
        let envs = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Self { dir, envs }
    }

    pub async fn run(&self, args: &[&str]) -> (Option<i32>, String, String) {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(self.dir.path())
            .envs(self.envs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .env("USAGELAKE_LOG", "debug")
            .args(args)
            .output()
            .await
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `usagelake query SQL --format csv`, which must succeed.
    pub async fn query(&self, sql: &str) -> String {
        let (status, stdout, stderr) = self.run(&["query", sql, "--format", "csv"]).await;
        assert_eq!(status, Some(0), "{stderr}");
        stdout
    }

    /// Fails naming the line when any needle is in `outputs`, in the rows
    /// of `bi_queries` or `sync_jobs`, or in any file the runs wrote.
    pub async fn assert_no_leak(&self, outputs: &[String], needles: &[&str]) {
        let mut texts = outputs.to_vec();
        texts.push(self.query(BI_QUERIES_TEXT_COLUMNS).await);
        texts.push(self.query("SELECT * FROM sync_jobs").await);
        texts.extend(written_files(self.dir.path()));
        assert_none_contains(&texts, needles);
    }
}

/// Every `bi_queries` column a secret or a literal could reach, one query.
pub const BI_QUERIES_TEXT_COLUMNS: &str = "SELECT id, title, sql_text, query_fingerprint, database, executed_by, dashboard_title, dashboard_url, array_to_string(referenced_tables, ',') AS t, array_to_string(written_tables, ',') AS w, array_to_string(referenced_columns, ',') AS c FROM bi_queries";

/// Every file under a project folder that a run wrote (the lake, ledgers;
/// not `config/`, which holds the `${NAME}` references), as text.
pub fn written_files(project: &Path) -> Vec<String> {
    files_under(project)
        .into_iter()
        .filter(|f| !f.starts_with("config/"))
        .map(|f| String::from_utf8_lossy(&std::fs::read(project.join(&f)).unwrap()).into_owned())
        .collect()
}

/// Fails naming the needle and the line it is on.
pub fn assert_none_contains(texts: &[String], needles: &[&str]) {
    for text in texts {
        for needle in needles {
            let line = text.lines().find(|l| l.contains(needle));
            assert!(line.is_none(), "{needle:?} leaked: {line:?}");
        }
    }
}

/// Serves `app` on a free loopback port; the base URL (`http://127.0.0.1:N`).
pub async fn serve_loopback(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

/// Runs the built `usagelake` binary in `cwd` and waits for it.
pub fn usagelake(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usagelake"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

/// A process's output bytes as text.
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A loopback port free at the time of asking.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
