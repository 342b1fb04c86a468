//! The binary end to end: validate, run, backfill with its ledger, and
//! crash safety under SIGKILL.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::support::{page, text, track, usagelake, write_events};

/// Segment arrival folders for `days` days from 2025-11-01, `per_day` events each.
fn write_days(root: &Path, days: u32, per_day: u32) {
    for day in 0..days {
        let date =
            chrono::NaiveDate::from_ymd_opt(2025, 11, 1).unwrap() + chrono::Days::new(day as u64);
        let ms = date
            .and_hms_opt(0, 0, 0)
            .unwrap()
            .and_utc()
            .timestamp_millis();
        let lines: Vec<String> = (0..per_day)
            .map(|i| {
                let ts = format!(
                    "{date}T{:02}:{:02}:{:02}Z",
                    (i / 3600) % 24,
                    (i / 60) % 60,
                    i % 60
                );
                if i % 3 == 0 {
                    track(
                        &format!("t-{day}-{i}"),
                        &format!("u{}", i % 97),
                        "acme.com",
                        "discovery_search_results",
                        &ts,
                    )
                } else {
                    page(
                        &format!("p-{day}-{i}"),
                        &format!("u{}", i % 97),
                        "acme.com",
                        "discovery",
                        &ts,
                    )
                }
            })
            .collect();
        write_events(root, &format!("segment-logs/web/{ms}/part-0.json"), &lines);
    }
}

#[test]
fn validate_reports_every_problem_and_exits_2() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("config")).unwrap();
    std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
    std::fs::write(
        dir.path().join("config/usagelake.toml"),
        "[lake]\nurl = \"./lake\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("jobs/nightly.toml"),
        "name = \"nightly\"\nschedule = \"0 25 * * *\"\n\n[[steps]]\ntype = \"ingest\"\nsource = \"./in\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("jobs/broken.toml"),
        "name = \"broken\"\nstepz = []\n",
    )
    .unwrap();
    let out = usagelake(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stderr),
        "jobs/broken.toml:2: unknown field `stepz`, expected one of `name`, `description`, `schedule`, `timezone`, `params`, `steps`; remove it or fix its spelling\n\
         jobs/nightly.toml:2: schedule: cron \"0 25 * * *\": hour field \"25\": 25 is outside 0–23\n\
         2 problem(s); nothing was run\n"
    );
    // Nothing touched: validate does no I/O beyond reading the files.
    assert!(!dir.path().join("lake").exists());

    std::fs::remove_file(dir.path().join("jobs/broken.toml")).unwrap();
    std::fs::write(
        dir.path().join("jobs/nightly.toml"),
        "name = \"nightly\"\nschedule = \"0 5 * * *\"\n\n[[steps]]\ntype = \"ingest\"\nsource = \"./in\"\n",
    )
    .unwrap();
    let out = usagelake(dir.path(), &["validate"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "configuration ok: lake ./lake, timezone UTC, 0 connector(s), 0 space(s), 4 job(s): daily, metrics, nightly, platform\n"
    );
}

#[test]
fn backfill_records_the_ledger_skips_done_dates_and_reports_failures() {
    let dir = tempfile::tempdir().unwrap();
    write_days(&dir.path().join("events"), 3, 10);
    let set = "events=./events";
    let args = [
        "backfill",
        "daily",
        "--from",
        "2025-11-01",
        "--to",
        "2025-11-03",
        "--set",
        set,
    ];
    let out = usagelake(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "daily 2025-11-01..2025-11-03: 3 succeeded, 0 skipped (done), 0 failed\n"
    );
    let ledger = dir
        .path()
        .join("lake/_usagelake/runs/daily/2025-11-02/attempt-0001.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ledger).unwrap()).unwrap();
    assert_eq!(record["status"], "succeeded");
    assert_eq!(record["steps"][0]["kind"], "ingest");
    assert_eq!(record["steps"][0]["counts"]["written"]["pages"], 6);
    assert_eq!(record["steps"][0]["counts"]["written"]["tracks"], 4);
    // No lease is left behind.
    assert!(
        !dir.path()
            .join("lake/_usagelake/leases/daily.json")
            .exists()
    );

    let out = usagelake(dir.path(), &args);
    assert_eq!(
        text(&out.stdout),
        "daily 2025-11-01..2025-11-03: 0 succeeded, 3 skipped (done), 0 failed\n"
    );
    let mut forced = args.to_vec();
    forced.push("--force");
    let out = usagelake(dir.path(), &forced);
    assert_eq!(
        text(&out.stdout),
        "daily 2025-11-01..2025-11-03: 3 succeeded, 0 skipped (done), 0 failed\n"
    );
    assert!(
        dir.path()
            .join("lake/_usagelake/runs/daily/2025-11-02/attempt-0002.json")
            .exists()
    );

    let out = usagelake(
        dir.path(),
        &[
            "query",
            "SELECT count(*) AS n FROM pages",
            "--format",
            "csv",
        ],
    );
    assert_eq!(text(&out.stdout), "n\n18\n");

    // A failing date does not stop the others; the exit code says it failed.
    let out = usagelake(
        dir.path(),
        &[
            "backfill",
            "daily",
            "--from",
            "2025-11-04",
            "--to",
            "2025-11-05",
            "--set",
            "events=./missing",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let stdout = text(&out.stdout);
    assert!(
        stdout
            .starts_with("daily 2025-11-04..2025-11-05: 0 succeeded, 0 skipped (done), 2 failed\n"),
        "{stdout}"
    );
    assert!(
        stdout
            .contains("  2025-11-05: ingest source \"./missing\": folder ./missing does not exist"),
        "{stdout}"
    );

    let out = usagelake(
        dir.path(),
        &["run", "daily", "--date", "2025-11-01", "--set", "evnts=x"],
    );
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "error: job daily: --set evnts: job \"daily\" has no parameter \"evnts\"; its parameters are [\"events\"]\n"
    );
}

/// Counts rows per table with the binary (a fresh process sees only what was committed).
fn counts(dir: &Path) -> String {
    let out = usagelake(
        dir,
        &[
            "query",
            "SELECT (SELECT count(*) FROM pages) AS pages, (SELECT count(*) FROM tracks) AS tracks, \
             (SELECT count(DISTINCT message_id) FROM pages) AS distinct_pages",
            "--format",
            "csv",
        ],
    );
    assert!(
        out.status.success(),
        "lake unreadable: {}",
        text(&out.stderr)
    );
    text(&out.stdout)
}

#[test]
fn sigkill_at_any_point_leaves_a_readable_lake_and_the_rerun_completes() {
    let dir = tempfile::tempdir().unwrap();
    write_days(&dir.path().join("events"), 12, 20_000);
    let args = [
        "backfill",
        "daily",
        "--from",
        "2025-11-01",
        "--to",
        "2025-11-12",
        "--set",
        "events=./events",
    ];

    // Reference: an uninterrupted run in another folder.
    let reference = tempfile::tempdir().unwrap();
    write_days(&reference.path().join("events"), 12, 20_000);
    assert!(usagelake(reference.path(), &args).status.success());
    let expected = counts(reference.path());
    assert_eq!(
        expected,
        "pages,tracks,distinct_pages\n159996,80004,159996\n"
    );

    let started = std::time::Instant::now();
    assert!(
        usagelake(
            reference.path(),
            &[
                "backfill",
                "daily",
                "--from",
                "2025-11-01",
                "--to",
                "2025-11-12",
                "--set",
                "events=./events",
                "--force"
            ]
        )
        .status
        .success()
    );
    let full_run = started.elapsed().as_millis() as u64;
    // Kill points spread over a whole run, whatever this machine's speed.
    for delay_ms in [
        full_run / 10,
        full_run / 4,
        full_run / 2,
        full_run * 3 / 4,
        full_run * 9 / 10,
    ] {
        let mut child = Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(dir.path())
            .args(args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL on Unix
        child.wait().unwrap();
        // Readable after every kill: every partition is an old or a new whole file.
        let now = counts(dir.path());
        let line = now.lines().nth(1).unwrap().to_string();
        let fields: Vec<u64> = line.split(',').map(|v| v.parse().unwrap()).collect();
        assert_eq!(
            fields[0], fields[2],
            "no duplicate rows after kill at {delay_ms} ms: {now}"
        );
        assert!(fields[0] <= 159_996);
    }
    // The next run takes over the dead holder's lease and finishes the rest.
    let out = usagelake(dir.path(), &args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(counts(dir.path()), expected);
}

#[test]
fn spilling_ingest_gives_the_same_lake_as_in_memory() {
    let dir = tempfile::tempdir().unwrap();
    write_days(&dir.path().join("events"), 4, 3000);
    // A duplicate file: every row of day 2 arrives twice.
    let day2 = dir.path().join("events/segment-logs/web/1762041600000");
    std::fs::copy(day2.join("part-0.json"), day2.join("part-1.json")).unwrap();
    // Returns the summary line and the bytes spilled, from the debug log.
    let run = |lake: &str, buffer_mb: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(dir.path())
            .env("USAGELAKE_INGEST_BUFFER_MB", buffer_mb)
            .env("USAGELAKE_LOG", "usagelake=debug")
            .args(["--lake", lake, "ingest", "./events", "--date", "2025-11-05"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let log = text(&out.stderr);
        let spilled: u64 = log
            .split("spilled_bytes=")
            .nth(1)
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no spilled_bytes in the debug log:\n{log}"));
        let summary = text(&out.stdout).lines().next().unwrap().to_string();
        (summary, spilled)
    };
    // Budget 0: every partition is merged into the lake as soon as its
    // first file is read; day 2's second copy then spills to disk and is
    // read back for the final merge.
    let (spilled, spilled_bytes) = run("./lake-spill", "0");
    let (in_memory, in_memory_spilled) = run("./lake-mem", "512");
    assert!(spilled_bytes > 0);
    assert_eq!(in_memory_spilled, 0);
    assert_eq!(spilled, in_memory);
    assert_eq!(
        spilled,
        "read 15000 lines from 5 files; parsed 15000; wrote 12000 new rows (pages 8000, tracks 4000, users 0) to 8 partitions; deduped 3000; quarantined 0"
    );
    let query = "SELECT date, count(*) AS n, min(message_id) AS lo, max(message_id) AS hi FROM pages GROUP BY date ORDER BY date";
    let a = usagelake(
        dir.path(),
        &["--lake", "./lake-spill", "query", query, "--format", "csv"],
    );
    let b = usagelake(
        dir.path(),
        &["--lake", "./lake-mem", "query", query, "--format", "csv"],
    );
    assert_eq!(text(&a.stdout), text(&b.stdout));
    assert!(
        text(&a.stdout).starts_with("date,n,lo,hi\n2025-11-01,2000,p-0-1,p-0-998\n"),
        "{}",
        text(&a.stdout)
    );
}
