//! The derive step on Apache Ballista (issue 22): the same 25 tables as the
//! local engine, row by row, from an in-process cluster and from real
//! scheduler and executor processes; a clear failure when the scheduler is
//! not there.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use datafusion::arrow::util::display::array_value_to_string;
use usagelake::config::{FileSelection, Params};
use usagelake::engine::Engine;
use usagelake::lake::{Lake, LakeLocation};
use usagelake::metrics::{DeriveRequest, MetricParams, derive_on, shipped_outputs};
use usagelake::query::run_sql;
use usagelake::runner::{Ledger, RunStatus};
use usagelake::sources::segment::{IngestRequest, ingest};

use crate::support::s3_none;

const END: (i32, u32, u32) = (2026, 11, 20);

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(END.0, END.1, END.2).unwrap()
}

/// Generated demo events (5 domains, 40 days) ingested into `root/lake`;
/// returns the folder of the event files too.
async fn demo_lake(root: &Path) -> Lake {
    use usagelake::demo::generator::{GeneratorOptions, generate};
    let options = GeneratorOptions {
        events: 20_000,
        days: 40,
        end_date: end(),
        ..Default::default()
    };
    generate(&options, &root.join("data")).unwrap();
    let lake = Lake::open(&LakeLocation::Local(root.join("lake"))).unwrap();
    ingest(
        &lake,
        &IngestRequest {
            source: root.join("data/segment-logs").display().to_string(),
            selection: FileSelection::All,
            date: end(),
            s3: s3_none(),
            event_time: Default::default(),
        },
    )
    .await
    .unwrap();
    lake
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Every row of every metric and intermediate table, one sorted text line
/// per row, by table.
async fn derived_rows(lake: &Lake) -> Vec<(String, Vec<String>)> {
    let mut out = Vec::new();
    for table in shipped_outputs() {
        let batches = run_sql(lake, &format!("SELECT * FROM {}", table.name))
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", table.name));
        let mut rows = Vec::new();
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
                rows.push(cells.join("|"));
            }
        }
        rows.sort();
        out.push((table.name.clone(), rows));
    }
    out
}

fn assert_same_tables(local: &[(String, Vec<String>)], other: &[(String, Vec<String>)]) {
    assert_eq!(local.len(), 25, "22 metrics and 3 intermediate tables");
    let names = |t: &[(String, Vec<String>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(local), names(other));
    for ((name, want), (_, got)) in local.iter().zip(other) {
        assert_eq!(want.len(), got.len(), "{name}: row count");
        for (i, (w, g)) in want.iter().zip(got).enumerate() {
            assert_eq!(w, g, "{name}: row {i} of {}", want.len());
        }
    }
    let rows: usize = local.iter().map(|(_, r)| r.len()).sum();
    let empty: Vec<&str> = local
        .iter()
        .filter(|(_, r)| r.is_empty())
        .map(|(n, _)| n.as_str())
        .collect();
    // The comparison means something only if the demo fills the tables.
    assert!(rows > 1_000, "only {rows} rows derived");
    assert!(empty.len() <= 2, "empty tables: {empty:?}");
}

fn request() -> DeriveRequest {
    let params: Params = toml::from_str("").unwrap();
    DeriveRequest {
        params: MetricParams::from_params(&params, end()).unwrap(),
        sql_dir: None,
        metrics: None,
        force: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_in_process_cluster_derives_the_same_25_tables_as_the_local_engine() {
    let dir = tempfile::tempdir().unwrap();
    let local = demo_lake(&dir.path().join("local")).await;
    copy_dir(
        &dir.path().join("local/lake"),
        &dir.path().join("cluster/lake"),
    );
    let cluster = Lake::open(&LakeLocation::Local(dir.path().join("cluster/lake"))).unwrap();

    let local_report = derive_on(&local, &request(), &Engine::Local).await.unwrap();
    let cluster_report = derive_on(&cluster, &request(), &Engine::Standalone)
        .await
        .unwrap();
    let counts = |r: &usagelake::metrics::DeriveReport| {
        r.tables
            .iter()
            .map(|t| (t.table.clone(), t.rows, t.partitions))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&local_report), counts(&cluster_report));
    assert_same_tables(&derived_rows(&local).await, &derived_rows(&cluster).await);
}

#[tokio::test]
async fn an_unreachable_scheduler_fails_the_run_in_the_ledger_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let started = Instant::now();
    let out = usagelake(
        dir.path(),
        &[
            "run",
            "metrics",
            "--lake",
            "lake",
            "--date",
            "2026-11-20",
            "--engine",
            &format!("df://127.0.0.1:{port}"),
        ],
    );
    // Bounded by the connect timeout (10 s), not by Ballista's retries.
    assert!(started.elapsed() < Duration::from_secs(60));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    let reason = format!(
        "Ballista scheduler df://127.0.0.1:{port} is unreachable: Connection refused (os error 111); start it with `usagelake ballista scheduler --bind HOST:PORT`, or run on the local engine (--engine local)"
    );
    assert_eq!(stderr.trim(), format!("error: {reason}"));
    let lake = Lake::open(&LakeLocation::Local(dir.path().join("lake"))).unwrap();
    let runs = Ledger::new(&lake).recent(5).await.unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].status, RunStatus::Failed);
    assert_eq!(runs[0].error.as_deref(), Some(reason.as_str()));
    assert_eq!(runs[0].steps[0].error.as_deref(), Some(reason.as_str()));
}

fn usagelake(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_usagelake"))
        .current_dir(cwd)
        .args(args)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Started processes, killed and reaped however the test ends.
struct Cluster {
    children: Vec<Child>,
}

impl Cluster {
    fn start(&mut self, cwd: &Path, args: &[&str], log: &str) {
        let log = std::fs::File::create(cwd.join(log)).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(cwd)
            .args(args)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.children.push(child);
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Waits until something listens on `port` (bounded).
fn wait_for_port(port: u16, what: &str, cwd: &Path, log: &str) {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_err() {
        if Instant::now() > deadline {
            panic!(
                "{what} did not listen on {port} within 60 s; its log:\n{}",
                std::fs::read_to_string(cwd.join(log)).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_scheduler_and_two_executor_processes_derive_what_the_local_engine_does() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(demo_lake(&dir.path().join("local")));
    copy_dir(
        &dir.path().join("local/lake"),
        &dir.path().join("cluster/lake"),
    );
    let cwd = dir.path();

    let (scheduler, first, second) = (free_port(), free_port(), free_port());
    let mut cluster = Cluster {
        children: Vec::new(),
    };
    let lake = "cluster/lake";
    let scheduler_at = format!("127.0.0.1:{scheduler}");
    cluster.start(
        cwd,
        &[
            "ballista",
            "scheduler",
            "--lake",
            lake,
            "--bind",
            &scheduler_at,
        ],
        "scheduler.log",
    );
    wait_for_port(scheduler, "the scheduler", cwd, "scheduler.log");
    for (port, log) in [(first, "executor-1.log"), (second, "executor-2.log")] {
        cluster.start(
            cwd,
            &[
                "ballista",
                "executor",
                "--lake",
                lake,
                "--scheduler",
                &scheduler_at,
                "--bind",
                &format!("127.0.0.1:{port}"),
                "--concurrent-tasks",
                "1",
            ],
            log,
        );
        wait_for_port(port, "an executor", cwd, log);
    }

    let run = |lake: &str, engine: &str| {
        let out = usagelake(
            cwd,
            &[
                "run",
                "metrics",
                "--lake",
                lake,
                "--date",
                "2026-11-20",
                "--engine",
                engine,
            ],
        );
        assert!(
            out.status.success(),
            "{engine}: {}\nscheduler log:\n{}",
            text(&out.stderr),
            std::fs::read_to_string(cwd.join("scheduler.log")).unwrap_or_default()
        );
        text(&out.stdout)
    };
    let local_summary = run("local/lake", "local");
    let cluster_summary = run(lake, &format!("df://{scheduler_at}"));
    // "succeeded in N ms; derive: derived 22 metric tables (R rows) as of …"
    let rows = |s: &str| {
        let derived = s.split("derive: ").nth(1).unwrap_or(s);
        derived.split(" as of ").next().unwrap().to_string()
    };
    assert_eq!(rows(&local_summary), rows(&cluster_summary));
    drop(cluster);

    let open = |rel: &str| Lake::open(&LakeLocation::Local(cwd.join(rel))).unwrap();
    let (local, clustered) = runtime.block_on(async {
        (
            derived_rows(&open("local/lake")).await,
            derived_rows(&open(lake)).await,
        )
    });
    assert_same_tables(&local, &clustered);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_without_our_functions_fails_the_run_with_the_reason() {
    use std::sync::Arc;

    use ballista::prelude::SessionConfigExt;
    use ballista_core::RuntimeProducer;
    use ballista_core::serde::BallistaCodec;
    use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
    use ballista_core::utils::default_session_builder;
    use datafusion::execution::runtime_env::RuntimeEnvBuilder;
    use datafusion::prelude::SessionConfig;
    use usagelake::config::SchedulerAddress;
    use usagelake::engine::ballista::{LogicalCodec, PhysicalCodec, register_lake, session_config};

    let dir = tempfile::tempdir().unwrap();
    let lake = demo_lake(dir.path()).await;
    // Our scheduler (it plans with our codec) …
    let scheduler_lake = lake.clone();
    let builder: ballista_scheduler::SessionBuilder = Arc::new(move |config| {
        let state = default_session_builder(config)?;
        register_lake(state.runtime_env(), &scheduler_lake);
        Ok(state)
    });
    let config = || session_config(SessionConfig::new_with_ballista());
    let ours = BallistaCodec::new(
        Arc::new(LogicalCodec::default()),
        Arc::new(PhysicalCodec::default()),
    );
    let at = ballista_scheduler::standalone::new_standalone_scheduler_with_builder(
        builder,
        Arc::new(config),
        ours,
    )
    .await
    .unwrap();
    let client = SchedulerGrpcClient::connect(format!("http://localhost:{}", at.port()))
        .await
        .unwrap();
    // … and a plain Ballista executor: Ballista's codec, none of our functions.
    let executor_lake = lake.clone();
    let runtime: RuntimeProducer = Arc::new(move |_| {
        let runtime = RuntimeEnvBuilder::new().build_arc()?;
        register_lake(&runtime, &executor_lake);
        Ok(runtime)
    });
    ballista_executor::new_standalone_executor_from_builder(
        client,
        2,
        Arc::new(config),
        runtime,
        BallistaCodec::default(),
        Default::default(),
    )
    .await
    .unwrap();

    let engine = Engine::Ballista(SchedulerAddress {
        host: "localhost".into(),
        port: at.port(),
    });
    let err = derive_on(&lake, &request(), &engine).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("PhysicalExtensionCodec is not provided for"),
        "{message}"
    );
}
