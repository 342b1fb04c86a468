//! The daemon in process: scheduled ticks in the job's timezone, catch-up
//! order and limit, leases (heartbeat, takeover, a second daemon refused)
//! and a drain that records a cut-off run as interrupted.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use chrono::{DateTime, NaiveDate, Utc};
use usagelake::config::{AppConfig, JobConfig, Loaded};
use usagelake::daemon::{Daemon, ServeOptions, TriggerError};
use usagelake::lake::Lake;
use usagelake::runner::{self, Lease, Ledger, RunError, RunOptions, RunRecord, RunStatus};

use crate::support::temp_lake;

fn loaded(config: &str, jobs: &[&str]) -> Loaded {
    let env = |_: &str| None;
    let config = AppConfig::parse("usagelake.toml", config, &env).unwrap();
    let jobs = jobs
        .iter()
        .map(|text| {
            let job = JobConfig::parse("job.toml", text, &env, &config).unwrap();
            (job.name.clone(), job)
        })
        .collect();
    Loaded { config, jobs }
}

/// A job whose one step ingests an empty local folder: succeeds at once.
fn quick_job(name: &str, schedule: &str, timezone: &str, events: &std::path::Path) -> String {
    format!(
        "name = \"{name}\"\nschedule = \"{schedule}\"\ntimezone = \"{timezone}\"\n\n[[steps]]\ntype = \"ingest\"\nsource = \"{}\"\n",
        events.display()
    )
}

fn utc(s: &str) -> DateTime<Utc> {
    s.parse().unwrap()
}

fn date(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

/// Polls the ledger until `job`'s attempts satisfy `done` (the runs go on
/// in the background); fails after a generous deadline.
async fn wait_for(lake: &Lake, job: &str, done: impl Fn(&[RunRecord]) -> bool) -> Vec<RunRecord> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let filter = runner::RunFilter {
            job: Some(job.to_string()),
            ..Default::default()
        };
        let records = Ledger::new(lake).query(&filter).await.unwrap();
        if done(&records) {
            return records;
        }
        assert!(
            Instant::now() < deadline,
            "runs of {job} never got there: {records:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tick_fires_the_skipped_berlin_time_for_the_previous_local_day() {
    let (dir, lake) = temp_lake();
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    let loaded = loaded(
        "[defaults]\ncatch_up_limit = 0\n",
        &[&quick_job(
            "nightly",
            "30 2 * * *",
            "Europe/Berlin",
            &events,
        )],
    );
    let daemon = Daemon::new(lake.clone(), loaded, ServeOptions::default());
    // Start just before Berlin's spring-forward night; 02:30 does not exist
    // on 2026-03-29 and fires at 03:00 CEST = 01:00Z.
    daemon
        .catch_up(utc("2026-03-29T00:00:00Z"))
        .await
        .await
        .unwrap();
    assert!(daemon.tick(utc("2026-03-29T00:59:59Z")).is_empty());
    assert_eq!(
        daemon.tick(utc("2026-03-29T01:00:00Z")),
        [("nightly".to_string(), date("2026-03-28"))]
    );
    let records = wait_for(&lake, "nightly", |r| {
        r.len() == 1 && r[0].status == RunStatus::Succeeded
    })
    .await;
    assert_eq!(records[0].date, date("2026-03-28"));
    assert!(!records[0].run_id.is_empty());
    // The next day's 02:30 CEST is 00:30Z.
    assert_eq!(
        daemon.tick(utc("2026-03-30T00:30:00Z")),
        [("nightly".to_string(), date("2026-03-29"))]
    );
    wait_for(&lake, "nightly", |r| {
        r.len() == 2 && r.iter().all(|r| r.status == RunStatus::Succeeded)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn catch_up_runs_missed_dates_oldest_first_up_to_the_limit() {
    let (dir, lake) = temp_lake();
    let events = dir.path().join("events");
    std::fs::create_dir_all(&events).unwrap();
    let loaded = loaded(
        "[defaults]\ncatch_up_limit = 3\n",
        &[&quick_job("nightly", "0 0 * * *", "UTC", &events)],
    );
    // The 28th already ran (by hand).
    runner::run_job(
        &lake,
        &loaded.config,
        &loaded.jobs["nightly"],
        date("2026-03-28"),
        &RunOptions::default(),
    )
    .await
    .unwrap();
    let daemon = Daemon::new(lake.clone(), loaded, ServeOptions::default());
    // Down since the 20th; at noon on the 30th the last three fires are
    // for the 27th, 28th and 29th: two are missing.
    let now = utc("2026-03-30T12:00:00Z");
    assert_eq!(
        daemon.missed_dates(now).await.unwrap(),
        [(
            "nightly".to_string(),
            vec![date("2026-03-27"), date("2026-03-29")]
        )]
    );
    daemon.catch_up(now).await.await.unwrap();
    let mut records = wait_for(&lake, "nightly", |r| r.len() == 3).await;
    records.sort_by_key(|r| r.started_at);
    let dates: Vec<NaiveDate> = records.iter().map(|r| r.date).collect();
    assert_eq!(
        dates,
        [date("2026-03-28"), date("2026-03-27"), date("2026-03-29")]
    );
    assert!(records.iter().all(|r| r.status == RunStatus::Succeeded));
    // Oldest first, one after the other.
    assert!(records[2].started_at >= records[1].finished_at.unwrap());
    // Nothing older than the limit ran.
    assert!(
        Ledger::new(&lake)
            .attempts("nightly", date("2026-03-26"))
            .await
            .unwrap()
            .is_empty()
    );
    // A second start finds nothing missing.
    assert!(daemon.missed_dates(now).await.unwrap().is_empty());
}

fn lease_file(dir: &std::path::Path, job: &str) -> std::path::PathBuf {
    dir.join("lake/_usagelake/leases")
        .join(format!("{job}.json"))
}

fn write_foreign_lease(dir: &std::path::Path, job: &str, expires_at: DateTime<Utc>) {
    let path = lease_file(dir, job);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let body = serde_json::json!({
        "holder": "pid 4242 on elsewhere",
        "host": "elsewhere",
        "pid": 4242,
        "token": "theirs",
        "acquired_at": "2026-03-29T00:00:00Z",
        "expires_at": expires_at,
    });
    std::fs::write(path, body.to_string()).unwrap();
}

fn lease_body(dir: &std::path::Path, job: &str) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(lease_file(dir, job)).unwrap()).unwrap()
}

#[tokio::test]
async fn a_live_lease_is_refused_an_expired_one_taken_over_and_renewal_extends_it() {
    let (dir, lake) = temp_lake();
    let ttl = Duration::from_secs(120);
    // Another host's holder that still renews: refused, named in the error.
    let until = Utc::now() + chrono::Duration::seconds(60);
    write_foreign_lease(dir.path(), "nightly", until);
    match Lease::acquire_with_ttl(&lake, "nightly", ttl).await {
        Err(RunError::Busy {
            job,
            holder,
            expires_at,
            ..
        }) => {
            assert_eq!(job, "nightly");
            assert_eq!(holder, "pid 4242 on elsewhere");
            assert_eq!(expires_at, until.to_rfc3339());
        }
        Err(e) => panic!("expected Busy, got {e}"),
        Ok(_) => panic!("expected Busy, got the lease"),
    }
    // It stopped renewing (crashed): taken over after expiry.
    write_foreign_lease(
        dir.path(),
        "nightly",
        Utc::now() - chrono::Duration::seconds(1),
    );
    let lease = Lease::acquire_with_ttl(&lake, "nightly", ttl)
        .await
        .unwrap();
    let body = lease_body(dir.path(), "nightly");
    assert_eq!(body["pid"], std::process::id());
    let first: DateTime<Utc> = serde_json::from_value(body["expires_at"].clone()).unwrap();
    // A heartbeat pushes the expiry one TTL past now.
    let renewed = lease.renew().await.unwrap();
    assert!(renewed >= first);
    let stored: DateTime<Utc> =
        serde_json::from_value(lease_body(dir.path(), "nightly")["expires_at"].clone()).unwrap();
    assert_eq!(stored, renewed);
    // Someone took it over meanwhile: the renewal says so and release
    // leaves their lease alone.
    write_foreign_lease(
        dir.path(),
        "nightly",
        Utc::now() + chrono::Duration::seconds(60),
    );
    assert!(matches!(lease.renew().await, Err(RunError::Busy { .. })));
    lease.release().await;
    assert_eq!(lease_body(dir.path(), "nightly")["token"], "theirs");
    // Our own release deletes the object.
    std::fs::remove_file(lease_file(dir.path(), "nightly")).unwrap();
    let lease = Lease::acquire_with_ttl(&lake, "nightly", ttl)
        .await
        .unwrap();
    lease.release().await;
    assert!(!lease_file(dir.path(), "nightly").exists());
}

/// An S3-API endpoint that accepts connections and never answers: a step
/// reading from it runs until cancelled.
fn stalled_endpoint() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for mut stream in listener.incoming().flatten() {
            let mut buf = [0u8; 1024];
            let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
            let _ = stream.read(&mut buf);
            held.push(stream);
        }
    });
    port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_records_a_cut_off_run_as_interrupted_and_a_second_daemon_is_refused() {
    let (dir, lake) = temp_lake();
    let port = stalled_endpoint();
    let config = format!(
        "[defaults]\ncatch_up_limit = 0\n\n[lake.s3]\nendpoint = \"http://127.0.0.1:{port}\"\nregion = \"us-east-1\"\naccess_key_id = \"test\"\nsecret_access_key = \"test\"\nallow_http = true\n"
    );
    let job = "name = \"stuck\"\n\n[[steps]]\ntype = \"ingest\"\nsource = \"s3://stall/events\"\nfiles = \"all\"\n";
    let first = Daemon::new(
        lake.clone(),
        loaded(&config, &[job]),
        ServeOptions::default(),
    );
    let second = Daemon::new(
        lake.clone(),
        loaded(&config, &[job]),
        ServeOptions::default(),
    );
    let started = first.trigger("stuck", date("2026-11-23")).await.unwrap();
    assert_eq!(started.job, "stuck");
    assert_eq!(started.status, RunStatus::Running);
    // The same daemon again: its own run is in the way.
    assert!(matches!(
        first.trigger("stuck", date("2026-11-23")).await,
        Err(TriggerError::RunningHere(_))
    ));
    // Another daemon on the lake: the lease is in the way.
    match second.trigger("stuck", date("2026-11-24")).await {
        Err(TriggerError::Run(RunError::Busy { job, .. })) => assert_eq!(job, "stuck"),
        other => panic!("expected Busy, got {other:?}"),
    }
    wait_for(&lake, "stuck", |r| {
        r.len() == 1 && r[0].status == RunStatus::Running
    })
    .await;
    assert_eq!(first.running(), 1);
    first.drain(Duration::from_millis(300)).await;
    let records = Ledger::new(&lake)
        .attempts("stuck", date("2026-11-23"))
        .await
        .unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].run_id, started.run_id);
    assert_eq!(records[0].status, RunStatus::Interrupted);
    assert_eq!(
        records[0].error.as_deref(),
        Some(
            "interrupted: the daemon shut down and the run was still going 0.3 s later (shutdown_timeout_seconds); run the date again"
        )
    );
    assert!(records[0].finished_at.is_some());
    assert_eq!(first.running(), 0);
    assert!(!lease_file(dir.path(), "stuck").exists());
    // Draining: nothing new starts.
    assert!(matches!(
        first.trigger("stuck", date("2026-11-25")).await,
        Err(TriggerError::Draining)
    ));
}

#[tokio::test]
async fn runs_left_running_by_a_dead_process_are_closed_unless_their_lease_is_held() {
    let (dir, lake) = temp_lake();
    let loaded = loaded("[defaults]\ncatch_up_limit = 0\n", &[]);
    let ledger = Ledger::new(&lake);
    // Two runs a killed process left "running": one job's lease is free,
    // the other's is held by a live holder elsewhere.
    let dead = ledger
        .begin("nightly", date("2026-11-23"), "r-dead".into())
        .await
        .unwrap();
    let alive = ledger
        .begin("hourly", date("2026-11-23"), "r-alive".into())
        .await
        .unwrap();
    write_foreign_lease(
        dir.path(),
        "hourly",
        Utc::now() + chrono::Duration::seconds(60),
    );
    let daemon = Daemon::new(lake.clone(), loaded, ServeOptions::default());
    assert_eq!(daemon.close_dead_runs().await.unwrap(), 1);
    let closed = ledger.latest("nightly", dead.date).await.unwrap().unwrap();
    assert_eq!(closed.run_id, "r-dead");
    assert_eq!(closed.status, RunStatus::Interrupted);
    assert_eq!(
        closed.error.as_deref(),
        Some(
            "interrupted: the process running it stopped before it finished (its lease was free when the daemon started); run the date again"
        )
    );
    assert_eq!(closed.finished_at, None);
    let untouched = ledger.latest("hourly", alive.date).await.unwrap().unwrap();
    assert_eq!(untouched, alive);
    // The free lease was only borrowed for the check.
    assert!(!lease_file(dir.path(), "nightly").exists());
}
