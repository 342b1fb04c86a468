//! Segment ingest: exact rows, dedup, late events, quarantine, file selection.

use std::io::Write;

use chrono::NaiveDate;
use usagelake::config::FileSelection;
use usagelake::lake::Lake;
use usagelake::sources::segment::{IngestReport, IngestRequest, ingest};

use crate::support::{page, s3_none, sql, temp_lake, track, write_events};

fn request(source: &std::path::Path, selection: FileSelection, date: &str) -> IngestRequest {
    IngestRequest {
        source: source.display().to_string(),
        selection,
        date: date.parse::<NaiveDate>().unwrap(),
        s3: s3_none(),
        event_time: Default::default(),
    }
}

/// Ingests the arrival folder of `date` (Segment's layout) from `events`.
async fn ingest_arrivals(lake: &Lake, events: &std::path::Path, date: &str) -> IngestReport {
    ingest(lake, &request(events, FileSelection::ByArrivalDate, date))
        .await
        .unwrap()
}

/// Segment's arrival folder for a UTC day.
fn arrival(date: &str) -> String {
    let d: NaiveDate = date.parse().unwrap();
    let ms = d.and_hms_opt(0, 0, 0).unwrap().and_utc().timestamp_millis();
    format!("segment-logs/web/{ms}")
}

#[tokio::test]
async fn exact_rows_dedup_and_quarantine() {
    let (dir, lake) = temp_lake();
    let events = dir.path().join("events");
    write_events(
        &events,
        &format!("{}/part-0.json", arrival("2025-11-23")),
        &[
            page("p1", "alice", "acme.com", "discovery", "2025-11-23T10:00:00.250Z"),
            track("t1", "alice", "acme.com", "discovery_search_results", "2025-11-23T10:01:00Z"),
            // Same messageId again (Segment retries): kept once.
            track("t1", "alice", "acme.com", "discovery_search_results", "2025-11-23T10:01:00Z"),
            r#"{"type":"identify","messageId":"i1","userId":"alice","traits":{"email":"a@acme.com","username":"alice","role":"admin","license_type":"Full","job_role":"Analyst","domain":"acme.com","created_at":null},"timestamp":"2025-11-23T09:00:00Z","receivedAt":"2025-11-23T09:00:02Z"}"#.to_string(),
            // userId only as anonymous: still a page row.
            r#"{"type":"page","messageId":"p2","anonymousId":"anon-9","name":"home","timestamp":"2025-11-23T11:00:00Z","context":{"page":{"url":"https://www.globex.io/home?x=1"}}}"#.to_string(),
            "{\"type\": \"page\", \"messageId\": ".to_string(),
            r#"{"messageId":"x1","timestamp":"2025-11-23T10:00:00Z"}"#.to_string(),
            r#"{"type":"track","messageId":"x2","event":"e","timestamp":"yesterday"}"#.to_string(),
            r#"{"type":"group","messageId":"x3","timestamp":"2025-11-23T10:00:00Z"}"#.to_string(),
        ],
    );
    let report = ingest_arrivals(&lake, &events, "2025-11-23").await;
    assert_eq!(report.lines, 9);
    assert_eq!(report.deduped, 1);
    assert_eq!(report.quarantined, 4);
    assert_eq!(report.written.get("pages"), Some(&2));
    assert_eq!(report.written.get("tracks"), Some(&1));
    assert_eq!(report.written.get("users"), Some(&1));

    assert_eq!(
        sql(&lake, "SELECT message_id, user_id, anonymous_id, customer_domain, page_name, tab, timestamp, date FROM pages ORDER BY message_id").await,
        "\
+------------+---------+--------------+-----------------+-----------+----------+--------------------------+------------+
| message_id | user_id | anonymous_id | customer_domain | page_name | tab      | timestamp                | date       |
+------------+---------+--------------+-----------------+-----------+----------+--------------------------+------------+
| p1         | alice   |              | acme.com        | discovery | overview | 2025-11-23T10:00:00.250Z | 2025-11-23 |
| p2         |         | anon-9       | globex.io       | home      |          | 2025-11-23T11:00:00Z     | 2025-11-23 |
+------------+---------+--------------+-----------------+-----------+----------+--------------------------+------------+"
    );
    assert_eq!(
        sql(
            &lake,
            "SELECT message_id, event_name, properties, customer_domain FROM tracks"
        )
        .await,
        "\
+------------+--------------------------+------------+-----------------+
| message_id | event_name               | properties | customer_domain |
+------------+--------------------------+------------+-----------------+
| t1         | discovery_search_results | {\"n\":1}    | acme.com        |
+------------+--------------------------+------------+-----------------+"
    );
    assert_eq!(
        sql(&lake, "SELECT user_id, email, role, license_type, job_role, customer_domain, created_at, received_at, date FROM users").await,
        "\
+---------+------------+-------+--------------+----------+-----------------+------------+----------------------+------------+
| user_id | email      | role  | license_type | job_role | customer_domain | created_at | received_at          | date       |
+---------+------------+-------+--------------+----------+-----------------+------------+----------------------+------------+
| alice   | a@acme.com | admin | Full         | Analyst  | acme.com        |            | 2025-11-23T09:00:02Z | 2025-11-23 |
+---------+------------+-------+--------------+----------+-----------------+------------+----------------------+------------+"
    );
    assert_eq!(
        sql(&lake, "SELECT line, reason, source, date FROM quarantine ORDER BY line").await,
        "\
+------+----------------------------------------------------------------------------------------------+---------+------------+
| line | reason                                                                                       | source  | date       |
+------+----------------------------------------------------------------------------------------------+---------+------------+
| 6    | invalid JSON: EOF while parsing a value at line 1 column 30                                  | segment | 2025-11-23 |
| 7    | missing field `type` (page, track or identify)                                               | segment | 2025-11-23 |
| 8    | field `timestamp`: \"yesterday\" is not an RFC 3339 timestamp such as 2026-11-23T14:05:09.123Z | segment | 2025-11-23 |
| 9    | type \"group\" is not collected (pages, tracks and users take page, track and identify)        | segment | 2025-11-23 |
+------+----------------------------------------------------------------------------------------------+---------+------------+"
    );
    let raw = sql(&lake, "SELECT raw FROM quarantine WHERE line = 7").await;
    assert!(
        raw.contains(r#"{"messageId":"x1","timestamp":"2025-11-23T10:00:00Z"}"#),
        "{raw}"
    );

    // Re-running the same date changes nothing.
    let again = ingest_arrivals(&lake, &events, "2025-11-23").await;
    assert_eq!(again.written.values().sum::<u64>(), 0);
    assert_eq!(again.deduped, 5);
    assert!(
        sql(&lake, "SELECT count(*) AS n FROM quarantine")
            .await
            .contains("| 4 |")
    );
}

/// Windows line ends, a line that is not UTF-8 (quarantined alone, its
/// neighbours kept) and a gzip file of two members (`cat a.gz b.gz`): the
/// second member's events are read, not dropped.
#[tokio::test]
async fn crlf_bad_utf8_and_concatenated_gzip_members() {
    let (dir, lake) = temp_lake();
    let events = dir.path().join("events");
    let folder = events.join(arrival("2025-11-23"));
    std::fs::create_dir_all(&folder).unwrap();
    let mut plain = Vec::new();
    plain.extend_from_slice(
        page("p1", "alice", "acme.com", "home", "2025-11-23T10:00:00Z").as_bytes(),
    );
    plain.extend_from_slice(b"\r\n");
    plain.extend_from_slice(b"{\"type\":\"page\",\"messageId\":\"bad\xff\"}\r\n");
    plain.extend_from_slice(
        page("p2", "bob", "acme.com", "home", "2025-11-23T11:00:00Z").as_bytes(),
    );
    plain.extend_from_slice(b"\r\n");
    std::fs::write(folder.join("a.json"), &plain).unwrap();

    let member = |lines: &[String]| {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        for line in lines {
            writeln!(gz, "{line}").unwrap();
        }
        gz.finish().unwrap()
    };
    let mut two = member(&[page(
        "p3",
        "carol",
        "acme.com",
        "home",
        "2025-11-23T12:00:00Z",
    )]);
    two.extend(member(&[
        page("p4", "dave", "acme.com", "home", "2025-11-23T13:00:00Z"),
        page("p5", "erin", "acme.com", "home", "2025-11-23T14:00:00Z"),
    ]));
    std::fs::write(folder.join("b.gz"), &two).unwrap();

    let report = ingest_arrivals(&lake, &events, "2025-11-23").await;
    assert_eq!((report.files, report.lines, report.quarantined), (2, 6, 1));
    assert_eq!(
        sql(
            &lake,
            "SELECT message_id, user_id FROM pages ORDER BY timestamp"
        )
        .await,
        "\
+------------+---------+
| message_id | user_id |
+------------+---------+
| p1         | alice   |
| p2         | bob     |
| p3         | carol   |
| p4         | dave    |
| p5         | erin    |
+------------+---------+"
    );
    assert_eq!(
        sql(&lake, "SELECT line, reason FROM quarantine").await,
        "\
+------+-----------------+
| line | reason          |
+------+-----------------+
| 2    | not valid UTF-8 |
+------+-----------------+"
    );
}

#[tokio::test]
async fn late_events_merge_into_their_own_day_and_gzip_is_read() {
    let (dir, lake) = temp_lake();
    let events = dir.path().join("events");
    write_events(
        &events,
        &format!("{}/a.json", arrival("2025-11-22")),
        &[
            page(
                "p1",
                "alice",
                "acme.com",
                "discovery",
                "2025-11-22T10:00:00Z",
            ),
            page("p2", "bob", "acme.com", "home", "2025-11-22T12:00:00Z"),
        ],
    );
    // Arrives on the 23rd: one event of the 23rd, one late event of the 22nd
    // (and a repeat of p1, which must not duplicate), gzip-compressed.
    let late_dir = events.join(arrival("2025-11-23"));
    std::fs::create_dir_all(&late_dir).unwrap();
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(late_dir.join("b.gz")).unwrap(),
        flate2::Compression::default(),
    );
    for line in [
        page(
            "p3",
            "carol",
            "acme.com",
            "discovery",
            "2025-11-23T08:00:00Z",
        ),
        page(
            "p0",
            "dave",
            "acme.com",
            "insights",
            "2025-11-22T23:59:59.999Z",
        ),
        page(
            "p1",
            "alice",
            "acme.com",
            "discovery",
            "2025-11-22T10:00:00Z",
        ),
    ] {
        writeln!(gz, "{line}").unwrap();
    }
    gz.finish().unwrap();

    let first = ingest_arrivals(&lake, &events, "2025-11-22").await;
    assert_eq!((first.files, first.lines), (1, 2));
    let second = ingest_arrivals(&lake, &events, "2025-11-23").await;
    assert_eq!((second.files, second.lines, second.deduped), (1, 3, 1));
    assert_eq!(second.written.get("pages"), Some(&2));
    assert_eq!(
        sql(
            &lake,
            "SELECT date, message_id FROM pages ORDER BY date, timestamp"
        )
        .await,
        "\
+------------+------------+
| date       | message_id |
+------------+------------+
| 2025-11-22 | p1         |
| 2025-11-22 | p2         |
| 2025-11-22 | p0         |
| 2025-11-23 | p3         |
+------------+------------+"
    );
    // One object per partition after the merge.
    let files = crate::support::files_under(&dir.path().join("lake/tables/pages"));
    assert_eq!(
        files,
        vec![
            "date=2025-11-22/data.parquet",
            "date=2025-11-23/data.parquet"
        ]
    );
}

#[tokio::test]
async fn missing_source_folder_is_a_clear_error() {
    let (dir, lake) = temp_lake();
    let missing = dir.path().join("nope");
    let err = ingest(&lake, &request(&missing, FileSelection::All, "2025-11-23"))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "ingest source {:?}: folder {} does not exist; run `usagelake demo` to generate one, or point the step's source at your event files",
            missing.display().to_string(),
            missing.display()
        )
    );
}

fn gzip_member(lines: &[String], level: flate2::Compression) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), level);
    for line in lines {
        writeln!(gz, "{line}").unwrap();
    }
    gz.finish().unwrap()
}

/// An arrival day of 2025-11-23 with three damaged gzip files among good
/// ones; returns the quarantine rows expected (file, line, reason).
fn write_damaged_day(events: &std::path::Path) -> Vec<String> {
    let folder = events.join(arrival("2025-11-23"));
    std::fs::create_dir_all(&folder).unwrap();
    let at = |hour: u32| format!("2025-11-23T{hour:02}:00:00Z");
    let pages = |ids: &[&str]| -> Vec<String> {
        ids.iter()
            .zip(1..)
            .map(|(id, hour)| page(id, "alice", "acme.com", "home", &at(hour)))
            .collect()
    };
    let read = "lines before the damage were read, fix or replace the file and run the date again";
    std::fs::write(folder.join("a.json"), pages(&["a1"]).join("\n")).unwrap();

    // Truncated in the middle of its third line. Stored (level 0) deflate
    // holds the text as is, so the cut is at a known line.
    let lines = pages(&["b1", "b2", "b3"]);
    let stored = gzip_member(&lines, flate2::Compression::none());
    let third = stored
        .windows(lines[2].len())
        .position(|w| w == lines[2].as_bytes())
        .unwrap();
    let cut = third + 10;
    std::fs::write(folder.join("b.gz"), &stored[..cut]).unwrap();

    // A good member, then one whose CRC-32 does not match its content.
    let good = gzip_member(&pages(&["c1"]), flate2::Compression::fast());
    let mut bad = gzip_member(&pages(&["c2"]), flate2::Compression::fast());
    let crc = bad.len() - 8;
    bad[crc] ^= 0x01;
    std::fs::write(folder.join("c.gz"), [good.clone(), bad].concat()).unwrap();

    // Garbage after a good member (a shipper appending a partial write).
    let good_d = gzip_member(&pages(&["d1", "d2"]), flate2::Compression::fast());
    let garbage = b"\x00\x00\x1fnot gzip";
    std::fs::write(folder.join("d.gz"), [good_d.as_slice(), garbage].concat()).unwrap();

    std::fs::write(folder.join("e.json"), pages(&["e1"]).join("\n")).unwrap();
    vec![
        format!(
            "b.gz|0|gzip: member 1 (at byte 0) is cut short: the file ends at byte {cut} inside it (a partial upload?); the 2 {read}"
        ),
        format!(
            "c.gz|0|gzip: member 2 (at byte {}) decodes but fails its CRC-32 check, so none of its content is used; the 1 {read}",
            good.len()
        ),
        format!(
            "d.gz|0|gzip: bytes {}..{} after member 1 are not gzip data; the 2 {read}",
            good_d.len(),
            good_d.len() + garbage.len()
        ),
    ]
}

/// Rows as `a|b|c` lines (NULL for a null).
async fn rows(lake: &Lake, query: &str) -> Vec<String> {
    use datafusion::arrow::util::display::array_value_to_string;
    let batches = usagelake::query::run_sql(lake, query).await.unwrap();
    let mut out = Vec::new();
    for batch in &batches {
        for row in 0..batch.num_rows() {
            let cells: Vec<String> = batch
                .columns()
                .iter()
                .map(|c| array_value_to_string(c, row).unwrap())
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

/// One damaged file no longer stops the day: what decoded before the
/// damage is ingested, each damaged file gets one quarantine row saying
/// where, and the other files are read.
#[tokio::test]
async fn damaged_gzip_files_are_read_up_to_the_damage() {
    let (dir, lake) = temp_lake();
    let events = dir.path().join("events");
    let expected = write_damaged_day(&events);
    let report = ingest_arrivals(&lake, &events, "2025-11-23").await;
    assert_eq!(
        (
            report.files,
            report.lines,
            report.quarantined,
            report.damaged_files
        ),
        (5, 7, 3, 3)
    );
    assert!(
        report.to_string().ends_with(
            "quarantined 3; 3 damaged files read up to the damage (quarantine rows with line 0)"
        ),
        "{report}"
    );
    assert_eq!(
        rows(&lake, "SELECT message_id FROM pages ORDER BY message_id").await,
        ["a1", "b1", "b2", "c1", "d1", "d2", "e1"]
    );
    assert_eq!(
        rows(
            &lake,
            "SELECT regexp_replace(input, '.*/', ''), line, reason, raw FROM quarantine ORDER BY 1"
        )
        .await,
        expected.iter().map(|r| format!("{r}|")).collect::<Vec<_>>()
    );
}

/// The run says so: a distinct status in the ledger and exit code 3.
#[test]
fn a_run_with_a_damaged_file_succeeds_with_quarantined_input() {
    let dir = tempfile::tempdir().unwrap();
    write_damaged_day(&dir.path().join("events"));
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_usagelake"))
        .current_dir(dir.path())
        .args([
            "run",
            "daily",
            "--date",
            "2025-11-23",
            "--set",
            "events=./events",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(3),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.starts_with("daily 2025-11-23: succeeded with quarantined input in "),
        "{stdout}"
    );
    let ledger = dir
        .path()
        .join("lake/_usagelake/runs/daily/2025-11-23/attempt-0001.json");
    let record: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&ledger).unwrap()).unwrap();
    assert_eq!(record["status"], "succeeded_with_quarantined_input");
    assert_eq!(
        record["steps"][0]["status"],
        "succeeded_with_quarantined_input"
    );
    assert_eq!(record["steps"][0]["counts"]["damaged_files"], 3);
    assert_eq!(record["steps"][0]["counts"]["written"]["pages"], 7);

    // A backfill counts the date as done; forced, it says so and exits 3.
    let backfill = |force: bool| {
        let mut args = vec![
            "backfill",
            "daily",
            "--from",
            "2025-11-22",
            "--to",
            "2025-11-23",
            "--set",
            "events=./events",
        ];
        if force {
            args.push("--force");
        }
        std::process::Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let resumed = backfill(false);
    assert_eq!(resumed.status.code(), Some(0));
    assert_eq!(
        String::from_utf8_lossy(&resumed.stdout),
        "daily 2025-11-22..2025-11-23: 1 succeeded, 1 skipped (done), 0 failed\n"
    );
    let forced = backfill(true);
    assert_eq!(forced.status.code(), Some(3));
    assert_eq!(
        String::from_utf8_lossy(&forced.stdout),
        "daily 2025-11-22..2025-11-23: 2 succeeded (1 with quarantined input), 0 skipped (done), 0 failed\n"
    );
}

/// Event times far from `receivedAt` (device clocks at 1970 or 9999) are
/// quarantined instead of making one-row partitions; the bounds are
/// inclusive and configurable.
#[tokio::test]
async fn implausible_event_times_are_quarantined() {
    let (dir, lake) = temp_lake();
    let events = dir.path().join("events");
    let received = "2025-11-23T12:00:00Z";
    let at = |id: &str, ts: &str| {
        format!(
            r#"{{"type":"page","messageId":"{id}","userId":"u","name":"home","timestamp":"{ts}","receivedAt":"{received}"}}"#
        )
    };
    let lines = [
        at("epoch", "1970-01-01T00:00:00Z"),
        at("far-future", "9999-12-31T23:59:59Z"),
        // Exactly on the bounds: kept.
        at("ahead-1d", "2025-11-24T12:00:00Z"),
        at("behind-365d", "2024-11-23T12:00:00Z"),
        // One millisecond past them.
        at("ahead-1d-1ms", "2025-11-24T12:00:00.001Z"),
        at("behind-365d-1ms", "2024-11-23T11:59:59.999Z"),
        // No receivedAt: nothing to compare with.
        r#"{"type":"track","messageId":"no-received","event":"e","timestamp":"1999-01-01T00:00:00Z"}"#
            .to_string(),
    ];
    write_events(&events, "day/part-0.json", &lines);
    let report = ingest(&lake, &request(&events, FileSelection::All, "2025-11-23"))
        .await
        .unwrap();
    assert_eq!((report.lines, report.quarantined), (7, 4));
    assert_eq!(
        rows(
            &lake,
            "SELECT message_id, CAST(date AS VARCHAR) FROM pages ORDER BY 1"
        )
        .await,
        ["ahead-1d|2025-11-24", "behind-365d|2024-11-23"]
    );
    assert_eq!(
        rows(&lake, "SELECT message_id FROM tracks").await,
        ["no-received"]
    );
    let ahead = "day(s) after `receivedAt` 2025-11-23T12:00:00Z (bound: ingest step's event_time_max_ahead_days)";
    let behind = "day(s) before `receivedAt` 2025-11-23T12:00:00Z (bound: ingest step's event_time_max_behind_days)";
    assert_eq!(
        rows(&lake, "SELECT line, reason FROM quarantine ORDER BY line").await,
        [
            format!(
                "1|implausible event time: `timestamp` 1970-01-01T00:00:00Z is more than 365 {behind}"
            ),
            format!(
                "2|implausible event time: `timestamp` 9999-12-31T23:59:59Z is more than 1 {ahead}"
            ),
            format!(
                "5|implausible event time: `timestamp` 2025-11-24T12:00:00.001Z is more than 1 {ahead}"
            ),
            format!(
                "6|implausible event time: `timestamp` 2024-11-23T11:59:59.999Z is more than 365 {behind}"
            ),
        ]
    );

    // Wider bounds take the 2024 event in.
    let (_dir2, lake2) = temp_lake();
    let mut wide = request(&events, FileSelection::All, "2025-11-23");
    wide.event_time.max_behind_days = 400;
    let report = ingest(&lake2, &wide).await.unwrap();
    assert_eq!(report.quarantined, 3);
    assert_eq!(
        rows(&lake2, "SELECT message_id FROM pages ORDER BY 1").await,
        ["ahead-1d", "behind-365d", "behind-365d-1ms"]
    );
}

/// The bounds are keys of a job's ingest step.
#[test]
fn event_time_bounds_come_from_the_ingest_step() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("jobs")).unwrap();
    std::fs::write(
        dir.path().join("jobs/strict.toml"),
        "name = \"strict\"\n\n[[steps]]\ntype = \"ingest\"\nsource = \"./events\"\nfiles = \"all\"\n\
         event_time_max_ahead_days = 0\nevent_time_max_behind_days = 2\n",
    )
    .unwrap();
    let at = |id: &str, ts: &str| {
        format!(
            r#"{{"type":"page","messageId":"{id}","userId":"u","name":"home","timestamp":"{ts}","receivedAt":"2025-11-23T12:00:00Z"}}"#
        )
    };
    write_events(
        &dir.path().join("events"),
        "part-0.json",
        &[
            at("ahead-1min", "2025-11-23T12:01:00Z"),
            at("behind-2d", "2025-11-21T12:00:00Z"),
            at("behind-3d", "2025-11-20T12:00:00Z"),
        ],
    );
    let usagelake = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_usagelake"))
            .current_dir(dir.path())
            .args(args)
            .output()
            .unwrap()
    };
    let run = usagelake(&["run", "strict", "--date", "2025-11-23"]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let query = usagelake(&[
        "query",
        "SELECT line, reason FROM quarantine ORDER BY line",
        "--format",
        "csv",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&query.stdout),
        "line,reason\n\
         1,implausible event time: `timestamp` 2025-11-23T12:01:00Z is more than 0 day(s) after `receivedAt` 2025-11-23T12:00:00Z (bound: ingest step's event_time_max_ahead_days)\n\
         3,implausible event time: `timestamp` 2025-11-20T12:00:00Z is more than 2 day(s) before `receivedAt` 2025-11-23T12:00:00Z (bound: ingest step's event_time_max_behind_days)\n"
    );
}
