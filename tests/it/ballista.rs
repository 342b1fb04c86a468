//! The derive step on Apache Ballista (issue 22): the same 25 tables as the
//! local engine, row by row, from an in-process cluster and from real
//! scheduler and executor processes; a clear failure when the scheduler is
//! not there.

use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use std::sync::Arc;

use ballista::prelude::SessionConfigExt;
use ballista_core::RuntimeProducer;
use ballista_core::serde::BallistaCodec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{GetJobStatusParams, job_status};
use chrono::NaiveDate;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;
use usagelake::config::{Params, SchedulerAddress};
use usagelake::demo::generator::GeneratorOptions;
use usagelake::engine::Engine;
use usagelake::engine::ballista::{
    LogicalCodec, PhysicalCodec, register_lake, scheduler_session_builder, session_config,
};
use usagelake::lake::{Lake, LakeLocation};
use usagelake::metrics::{DeriveRequest, MetricParams, derive_on};
use usagelake::runner::{Ledger, RunStatus};

use crate::support::{copy_dir, free_port, ingest_generated, table_rows, text, usagelake};

const END: (i32, u32, u32) = (2026, 11, 20);

fn end() -> NaiveDate {
    NaiveDate::from_ymd_opt(END.0, END.1, END.2).unwrap()
}

/// Generated demo events (5 domains, 40 days) ingested into `root/lake`.
async fn demo_lake(root: &Path) -> Lake {
    let lake = Lake::open(&LakeLocation::Local(root.join("lake"))).unwrap();
    let options = GeneratorOptions {
        events: 20_000,
        days: 40,
        end_date: end(),
        ..Default::default()
    };
    ingest_generated(root, &lake, &options).await;
    lake
}

/// Every one of the 25 tables of `other` has the rows of `local`'s.
async fn assert_same_tables(local: &Lake, other: &Lake) {
    let (local, other) = (
        table_rows(local, end()).await,
        table_rows(other, end()).await,
    );
    assert_eq!(local.len(), 25, "22 metrics and 3 intermediate tables");
    let names = |t: &[(String, Vec<String>)]| t.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    assert_eq!(names(&local), names(&other));
    for ((name, want), (_, got)) in local.iter().zip(&other) {
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
    let standalone = Engine::Standalone {
        job_timeout: Duration::from_secs(600),
    };
    let cluster_report = derive_on(&cluster, &request(), &standalone).await.unwrap();
    let counts = |r: &usagelake::metrics::DeriveReport| {
        r.tables
            .iter()
            .map(|t| (t.table.clone(), t.rows, t.partitions))
            .collect::<Vec<_>>()
    };
    assert_eq!(counts(&local_report), counts(&cluster_report));
    assert_same_tables(&local, &cluster).await;
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
    // A run that waits on the cluster fails within this, not never.
    std::fs::create_dir_all(cwd.join("config")).unwrap();
    std::fs::write(
        cwd.join("config/usagelake.toml"),
        "[engine]\njob_timeout_secs = 600\n",
    )
    .unwrap();

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
    runtime.block_on(assert_same_tables(&open("local/lake"), &open(lake)));
}

/// A usagelake scheduler in this process, with no executor; its port.
async fn scheduler_in_process(lake: &Lake) -> u16 {
    let config = || session_config(SessionConfig::new_with_ballista());
    let ours = BallistaCodec::new(
        Arc::new(LogicalCodec::default()),
        Arc::new(PhysicalCodec::default()),
    );
    ballista_scheduler::standalone::new_standalone_scheduler_with_builder(
        scheduler_session_builder(lake),
        Arc::new(config),
        ours,
    )
    .await
    .unwrap()
    .port()
}

fn cluster_at(port: u16, job_timeout: Duration) -> Engine {
    Engine::Ballista {
        scheduler: SchedulerAddress {
            host: "localhost".into(),
            port,
        },
        job_timeout,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_executor_without_our_functions_fails_the_run_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let lake = demo_lake(dir.path()).await;
    // Our scheduler (it plans with our codec) …
    let port = scheduler_in_process(&lake).await;
    let client = SchedulerGrpcClient::connect(format!("http://localhost:{port}"))
        .await
        .unwrap();
    // … and a plain Ballista executor: Ballista's codec, none of our functions.
    let executor_lake = lake.clone();
    let runtime: RuntimeProducer = Arc::new(move |_| {
        let runtime = RuntimeEnvBuilder::new().build_arc()?;
        register_lake(&runtime, &executor_lake);
        Ok(runtime)
    });
    let config = || session_config(SessionConfig::new_with_ballista());
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

    let engine = cluster_at(port, Duration::from_secs(600));
    let err = derive_on(&lake, &request(), &engine).await.unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("PhysicalExtensionCodec is not provided for"),
        "{message}"
    );
}

/// A job no executor runs does not hold the run: past the job timeout the
/// job is cancelled and the run fails naming the scheduler, the job and
/// where it stood.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_no_executor_runs_fails_the_run_after_the_job_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let lake = demo_lake(dir.path()).await;
    let port = scheduler_in_process(&lake).await;

    let engine = cluster_at(port, Duration::from_secs(2));
    let message = derive_on(&lake, &request(), &engine)
        .await
        .unwrap_err()
        .to_string();
    let job = message
        .split("Ballista job ")
        .nth(1)
        .and_then(|rest| rest.split(' ').next())
        .unwrap_or_else(|| panic!("no job id in {message}"));
    assert_eq!(
        message,
        format!(
            "jobs/sql/event_groups.sql (built in): Execution error: Ballista job {job} on df://localhost:{port} did not finish within 2 s ([engine] job_timeout_secs): it was running, now cancelled; a scheduler started with USAGELAKE_LOG=ballista_scheduler=debug logs each stage's tasks and where they ran"
        )
    );
    let mut client = SchedulerGrpcClient::connect(format!("http://localhost:{port}"))
        .await
        .unwrap();
    let status = client
        .get_job_status(GetJobStatusParams {
            job_id: job.to_string(),
        })
        .await
        .unwrap()
        .into_inner()
        .status
        .and_then(|s| s.status);
    assert!(
        matches!(status, Some(job_status::Status::Failed(_))),
        "{status:?}"
    );
}
