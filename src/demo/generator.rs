//! A seeded generator of realistic Segment telemetry for a data-catalog web
//! app: power-law domains and users, sessions, page / track / identify calls,
//! noise events, late arrivals, duplicates and malformed lines, written in
//! Segment's S3 destination layout
//! `segment-logs/<source_id>/<epoch_ms of arrival day>/part-NNNNN.gz`.
//!
//! Same options, same bytes: every random choice comes from one seeded
//! stream consumed in a fixed order.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::mpsc;

use chrono::{Datelike, NaiveDate, TimeDelta, Weekday};
use flate2::Compression;
use flate2::write::GzEncoder;

const SOURCE_ID: &str = "demo_web";
const LINES_PER_FILE: usize = 200_000;
/// Late events arrive up to this many days after their timestamp.
const MAX_LATE_DAYS: u64 = 3;

#[derive(Debug, Clone)]
pub struct GeneratorOptions {
    pub seed: u64,
    /// Total lines to write, approximately.
    pub events: u64,
    pub days: u32,
    /// Last activity day (UTC).
    pub end_date: NaiveDate,
    pub domains: usize,
    pub malformed_per_million: u32,
}

impl Default for GeneratorOptions {
    fn default() -> Self {
        Self {
            seed: 42,
            events: 200_000,
            days: 45,
            end_date: chrono::Utc::now().date_naive() - chrono::Days::new(1),
            domains: 5,
            malformed_per_million: 200,
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct GeneratedSummary {
    pub files: usize,
    pub lines: u64,
    pub pages: u64,
    pub tracks: u64,
    pub identifies: u64,
    pub malformed: u64,
    pub late: u64,
    pub first_date: Option<NaiveDate>,
    pub last_date: Option<NaiveDate>,
    /// The latest arrival folder written (late events land after last_date).
    pub last_arrival: Option<NaiveDate>,
}

/// splitmix64: tiny, fast, and good enough for synthetic data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const DOMAINS: &[&str] = &[
    "acme.com",
    "globex.io",
    "initech.net",
    "umbrella.org",
    "hooli.dev",
];
const PAGES: &[(&str, &[&str])] = &[
    ("discovery", &["all", "tables", "dashboards"]),
    (
        "asset_profile",
        &["overview", "columns", "lineage", "activity"],
    ),
    ("overview", &["overview"]),
    ("saved_query", &[]),
    ("insights", &[]),
    ("glossary", &["terms", "categories"]),
    ("term", &["overview", "linked_assets"]),
    ("classifications", &[]),
    ("custom_metadata", &[]),
    ("reverse-metadata-sidebar", &["overview"]),
    ("users", &[]),
    ("personas", &[]),
    ("workflows-home", &[]),
    ("runs", &[]),
    ("monitor", &[]),
    ("marketplace", &[]),
    ("home", &[]),
    ("inbox", &[]),
];
const ASSET_PAGES: &[&str] = &["asset_profile", "overview", "reverse-metadata-sidebar"];
const CONNECTORS: &[&str] = &[
    "snowflake",
    "bigquery",
    "postgres",
    "tableau",
    "looker",
    "databricks",
    "redshift",
];
const ASSET_TYPES: &[&str] = &["Table", "View", "Column", "Dashboard", "Schema"];
const ACTIONS: &[&str] = &[
    "discovery_search_results",
    "discovery_search_results",
    "discovery_filter_applied",
    "chrome_extension_opened",
    "insights_query_run",
    "insights_query_saved",
    "governance_term_created",
    "gtc_tree_expanded",
    "atlan_ai_conversation_prompt_submitted",
    "lineage_graph_opened",
    "products_home_viewed",
];
const NOISE: &[&str] = &[
    "atlan_analaytics_aggregateinfo_fetch",
    "api_error_emit",
    "api_evaluator_succeeded",
    "web_vital_metric_lcp_track",
    "performance_metric_user_timing_app_bootstrap",
];
const ROLES: &[&str] = &["admin", "member", "member", "member", "guest"];
const JOB_ROLES: &[&str] = &[
    "Data Engineer",
    "Analyst",
    "Data Steward",
    "Analytics Engineer",
    "Product Manager",
];

struct User {
    id: String,
    domain: usize,
    identified: bool,
    created_at: Option<i64>,
}

/// Lines of one arrival day, in generation order.
type DayLines = Vec<Vec<u8>>;

pub fn generate(opts: &GeneratorOptions, out_dir: &Path) -> std::io::Result<GeneratedSummary> {
    let days = opts.days.max(1);
    let first = opts.end_date - chrono::Days::new(u64::from(days) - 1);
    let mut rng = Rng(opts.seed ^ 0x05EE_D0FA_71A5);
    let domains: Vec<String> = (0..opts.domains.max(1))
        .map(|i| match DOMAINS.get(i) {
            Some(d) => d.to_string(),
            None => format!("tenant{i}.example"),
        })
        .collect();
    let users = make_users(&mut rng, &domains, opts.events);
    // Zipf weights: user i of the whole population gets 1/(i+1)^1.1 of activity.
    let mut cumulative = Vec::with_capacity(users.len());
    let mut total = 0.0;
    for i in 0..users.len() {
        total += 1.0 / ((i + 1) as f64).powf(1.1);
        cumulative.push(total);
    }
    let mut users = users;

    let folder = out_dir.join("segment-logs").join(SOURCE_ID);
    let (tx, rx) = mpsc::sync_channel::<(NaiveDate, DayLines)>(2);
    let writer = std::thread::spawn(move || write_days(&folder, rx));

    let mut summary = GeneratedSummary {
        first_date: Some(first),
        last_date: Some(opts.end_date),
        ..Default::default()
    };
    let weights: Vec<f64> = first
        .iter_days()
        .take(days as usize)
        .map(|d| {
            if matches!(d.weekday(), Weekday::Sat | Weekday::Sun) {
                0.35
            } else {
                1.0
            }
        })
        .collect();
    let weight_sum: f64 = weights.iter().sum();
    let mut pending: std::collections::BTreeMap<NaiveDate, DayLines> = Default::default();
    let mut seq = 0u64;
    for (index, day) in first.iter_days().take(days as usize).enumerate() {
        let budget = (opts.events as f64 * weights[index] / weight_sum).round() as u64;
        let mut emitted = 0u64;
        while emitted < budget {
            let pick = rng.next() as f64 / u64::MAX as f64 * total;
            let u = cumulative
                .partition_point(|&c| c < pick)
                .min(users.len() - 1);
            let day_start = day
                .and_hms_opt(0, 0, 0)
                .expect("midnight")
                .and_utc()
                .timestamp_millis();
            let mut ts = day_start
                + (7 * 3600 + rng.below(13 * 3600)) as i64 * 1000
                + rng.below(1000) as i64;
            let session_len = 1 + rng.below(4) + if rng.chance(0.3) { rng.below(25) } else { 0 };
            for _ in 0..session_len {
                if ts >= day_start + 86_400_000 {
                    break;
                }
                let mut line = Vec::with_capacity(640);
                // Nothing arrives after end_date: that day has not come yet.
                let arrival = if rng.chance(0.01) {
                    (day + chrono::Days::new(1 + rng.below(MAX_LATE_DAYS))).min(opts.end_date)
                } else {
                    day
                };
                summary.late += u64::from(arrival > day);
                if !users[u].identified {
                    users[u].identified = true;
                    seq += 1;
                    identify(&mut line, &mut rng, &users[u], &domains, ts - 2000, seq);
                    summary.identifies += 1;
                    pending
                        .entry(arrival)
                        .or_default()
                        .push(std::mem::take(&mut line));
                    emitted += 1;
                }
                seq += 1;
                if rng.chance(0.55) {
                    page(&mut line, &mut rng, &users[u], &domains, ts, seq);
                    summary.pages += 1;
                } else {
                    track(&mut line, &mut rng, &users[u], &domains, ts, seq);
                    summary.tracks += 1;
                }
                let lines = pending.entry(arrival).or_default();
                if rng.chance(0.005) {
                    // Segment retries deliver the same message twice.
                    lines.push(line.clone());
                    if line.starts_with(b"{\"type\":\"page\"") {
                        summary.pages += 1;
                    } else {
                        summary.tracks += 1;
                    }
                    emitted += 1;
                }
                lines.push(line);
                emitted += 1;
                if rng.below(1_000_000) < u64::from(opts.malformed_per_million) {
                    lines.push(malformed(&mut rng, ts, seq));
                    summary.malformed += 1;
                    emitted += 1;
                }
                ts += (2 + rng.below(240)) as i64 * 1000 + rng.below(1000) as i64;
            }
        }
        // Arrival day `day` is complete: nothing generated later arrives earlier.
        if let Some(lines) = pending.remove(&day) {
            summary.lines += lines.len() as u64;
            tx.send((day, lines))
                .map_err(|_| std::io::Error::other("writer thread stopped"))?;
        }
    }
    summary.last_arrival = pending.keys().next_back().copied().or(Some(opts.end_date));
    for (day, lines) in std::mem::take(&mut pending) {
        summary.lines += lines.len() as u64;
        tx.send((day, lines))
            .map_err(|_| std::io::Error::other("writer thread stopped"))?;
    }
    drop(tx);
    summary.files = writer
        .join()
        .map_err(|_| std::io::Error::other("writer thread panicked"))??;
    Ok(summary)
}

fn make_users(rng: &mut Rng, domains: &[String], events: u64) -> Vec<User> {
    let count = (events / 120).clamp(12, 200_000) as usize;
    let mut users = Vec::with_capacity(count + 2);
    // The last domain has exactly one user (an edge case metrics must handle).
    let big = domains.len().saturating_sub(1).max(1);
    for i in 0..count {
        // Power-law domain sizes: domain k gets about half of what k-1 gets.
        let mut domain = 0;
        while domain + 1 < big && rng.chance(0.45) {
            domain += 1;
        }
        users.push(User {
            id: format!("u-{}-{i}", &domains[domain][..3]),
            domain,
            identified: false,
            created_at: None,
        });
    }
    if domains.len() > 1 {
        let last = domains.len() - 1;
        users.insert(
            count / 3,
            User {
                id: format!("u-{}-solo", &domains[last][..3]),
                domain: last,
                identified: false,
                created_at: None,
            },
        );
    }
    // A service user that emits workflow events in the first domain.
    users.insert(
        1,
        User {
            id: "svc-workflows".into(),
            domain: 0,
            identified: false,
            created_at: None,
        },
    );
    for user in &mut users {
        if rng.chance(0.6) {
            user.created_at = Some(1_700_000_000_000 + rng.below(60 * 86_400_000) as i64);
        }
    }
    users
}

fn iso(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .expect("in range")
        .format("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

fn header(line: &mut Vec<u8>, kind: &str, seq: u64, rng: &mut Rng, ts: i64) {
    let received = ts + 100 + rng.below(3000) as i64;
    write!(
        line,
        r#"{{"type":"{kind}","messageId":"msg-{seq:010}-{:08x}","timestamp":"{t}","originalTimestamp":"{t}","sentAt":"{t}","receivedAt":"{r}""#,
        rng.next() as u32,
        t = iso(ts),
        r = iso(received),
    )
    .expect("write to Vec");
}

fn context(line: &mut Vec<u8>, rng: &mut Rng, domain: &str, path: &str) {
    let traits = if rng.chance(0.95) {
        format!(r#","traits":{{"domain":"{domain}"}}"#)
    } else {
        String::new()
    };
    write!(
        line,
        r#","context":{{"library":{{"name":"analytics.js","version":"4.1.0"}},"page":{{"url":"https://{domain}/{path}"}}{traits},"userAgent":"Mozilla/5.0 (X11; Linux x86_64)"}}"#
    )
    .expect("write to Vec");
}

fn page(line: &mut Vec<u8>, rng: &mut Rng, user: &User, domains: &[String], ts: i64, seq: u64) {
    header(line, "page", seq, rng, ts);
    let (name, tabs) = *rng.pick(PAGES);
    let who = if rng.chance(0.02) {
        format!(r#","anonymousId":"anon-{:x}""#, rng.next() as u32)
    } else {
        format!(
            r#","userId":"{}","anonymousId":"anon-{}""#,
            user.id, user.id
        )
    };
    line.extend_from_slice(who.as_bytes());
    write!(
        line,
        r#","name":"{name}","properties":{{"path":"/{name}","title":"Atlan""#
    )
    .expect("write to Vec");
    if !tabs.is_empty() && rng.chance(0.8) {
        write!(line, r#","tab":"{}""#, rng.pick(tabs)).expect("write to Vec");
    }
    if ASSET_PAGES.contains(&name) {
        write!(
            line,
            r#","asset_guid":"{:08x}-{:04x}-4000-8000-{:012x}","connector_name":"{}","asset_type":"{}""#,
            rng.next() as u32 % 5000,
            rng.below(0xffff),
            rng.below(1 << 40),
            rng.pick(CONNECTORS),
            rng.pick(ASSET_TYPES)
        )
        .expect("write to Vec");
    }
    line.push(b'}');
    context(line, rng, &domains[user.domain], name);
    line.push(b'}');
}

fn track(line: &mut Vec<u8>, rng: &mut Rng, user: &User, domains: &[String], ts: i64, seq: u64) {
    header(line, "track", seq, rng, ts);
    let event = if user.id == "svc-workflows" {
        if rng.chance(0.5) {
            "workflow_run_started"
        } else {
            "workflow_run_completed"
        }
    } else if rng.chance(0.2) {
        rng.pick(NOISE)
    } else {
        rng.pick(ACTIONS)
    };
    write!(
        line,
        r#","userId":"{}","event":"{event}","properties":{{"result_count":{},"search_query":"q{}"}}"#,
        user.id,
        rng.below(200),
        rng.below(50)
    )
    .expect("write to Vec");
    context(line, rng, &domains[user.domain], "assets");
    line.push(b'}');
}

fn identify(line: &mut Vec<u8>, rng: &mut Rng, user: &User, domains: &[String], ts: i64, seq: u64) {
    header(line, "identify", seq, rng, ts);
    let domain = &domains[user.domain];
    let created = match user.created_at {
        Some(ms) => format!(r#""{}""#, iso(ms)),
        None => "null".into(),
    };
    write!(
        line,
        r#","userId":"{id}","traits":{{"email":"{id}@{domain}","username":"{id}","role":"{}","license_type":"{}","job_role":"{}","domain":"{domain}","created_at":{created}}}"#,
        rng.pick(ROLES),
        if rng.chance(0.7) { "Full" } else { "Viewer" },
        rng.pick(JOB_ROLES),
        id = user.id,
    )
    .expect("write to Vec");
    context(line, rng, domain, "home");
    line.push(b'}');
}

fn malformed(rng: &mut Rng, ts: i64, seq: u64) -> Vec<u8> {
    match rng.below(5) {
        0 => format!(
            r#"{{"type":"page","messageId":"bad-{seq}","timestamp":"{}""#,
            iso(ts)
        )
        .into_bytes(),
        1 => br#"[{"type":"page"}]"#.to_vec(),
        2 => format!(r#"{{"messageId":"bad-{seq}","timestamp":"{}"}}"#, iso(ts)).into_bytes(),
        3 => format!(
            r#"{{"type":"track","event":"x","timestamp":"{}"}}"#,
            iso(ts)
        )
        .into_bytes(),
        _ => format!(
            r#"{{"type":"track","messageId":"bad-{seq}","event":"x","timestamp":"yesterday"}}"#
        )
        .into_bytes(),
    }
}

/// Compresses and writes each arrival day's lines; returns the file count.
fn write_days(folder: &Path, rx: mpsc::Receiver<(NaiveDate, DayLines)>) -> std::io::Result<usize> {
    let mut files = 0;
    for (day, lines) in rx {
        let ms = day
            .and_hms_opt(0, 0, 0)
            .expect("midnight")
            .and_utc()
            .timestamp_millis();
        let dir: PathBuf = folder.join(ms.to_string());
        std::fs::create_dir_all(&dir)?;
        for (part, chunk) in lines.chunks(LINES_PER_FILE).enumerate() {
            let file = std::fs::File::create(dir.join(format!("part-{part:05}.gz")))?;
            let mut gz = GzEncoder::new(std::io::BufWriter::new(file), Compression::fast());
            for line in chunk {
                gz.write_all(line)?;
                gz.write_all(b"\n")?;
            }
            gz.finish()?.flush()?;
            files += 1;
        }
    }
    Ok(files)
}

impl GeneratedSummary {
    /// The UTC day span of the activity.
    pub fn span_days(&self) -> i64 {
        match (self.first_date, self.last_date) {
            (Some(a), Some(b)) => (b - a + TimeDelta::days(1)).num_days(),
            _ => 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn read_all(root: &Path) -> Vec<(String, Vec<u8>)> {
        let mut out = Vec::new();
        let mut stack = vec![root.to_path_buf()];
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                if entry.path().is_dir() {
                    stack.push(entry.path());
                } else {
                    let rel = entry
                        .path()
                        .strip_prefix(root)
                        .unwrap()
                        .display()
                        .to_string();
                    out.push((rel, std::fs::read(entry.path()).unwrap()));
                }
            }
        }
        out.sort();
        out
    }

    #[test]
    fn deterministic_counted_and_in_segment_layout() {
        let base = std::env::temp_dir().join(format!("usagelake-gen-test-{}", std::process::id()));
        let opts = GeneratorOptions {
            events: 20_000,
            days: 6,
            end_date: NaiveDate::from_ymd_opt(2026, 11, 1).unwrap(),
            malformed_per_million: 5_000,
            ..Default::default()
        };
        let a = generate(&opts, &base.join("a")).unwrap();
        let b = generate(&opts, &base.join("b")).unwrap();
        assert_eq!(a, b);
        let files_a = read_all(&base.join("a"));
        assert_eq!(files_a, read_all(&base.join("b")), "same seed, same bytes");
        assert_eq!(files_a.len(), a.files);

        let (mut lines, mut pages, mut tracks, mut identifies, mut bad) = (0u64, 0, 0, 0, 0);
        for (path, bytes) in &files_a {
            let parts: Vec<&str> = path.split('/').collect();
            assert_eq!(parts[0], "segment-logs");
            assert_eq!(parts[1], SOURCE_ID);
            let ms: i64 = parts[2].parse().unwrap();
            assert_eq!((parts[2].len(), ms % 86_400_000), (13, 0), "{path}");
            assert!(
                parts[3].starts_with("part-") && parts[3].ends_with(".gz"),
                "{path}"
            );
            let mut text = String::new();
            flate2::read::GzDecoder::new(&bytes[..])
                .read_to_string(&mut text)
                .unwrap();
            for line in text.lines() {
                lines += 1;
                let v: Option<serde_json::Value> = serde_json::from_str(line).ok();
                let ok = v.as_ref().is_some_and(|v| {
                    v.get("messageId").is_some()
                        && v["timestamp"]
                            .as_str()
                            .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
                });
                match v
                    .filter(|_| ok)
                    .and_then(|v| v["type"].as_str().map(str::to_string))
                    .as_deref()
                {
                    Some("page") => pages += 1,
                    Some("track") => tracks += 1,
                    Some("identify") => identifies += 1,
                    _ => bad += 1,
                }
            }
        }
        assert_eq!(
            (lines, pages, tracks, identifies, bad),
            (a.lines, a.pages, a.tracks, a.identifies, a.malformed)
        );
        assert!(a.lines.abs_diff(20_000) < 400, "{a:?}");
        assert!(a.late > 0 && a.malformed > 0 && a.identifies > 0, "{a:?}");
        assert_eq!(a.span_days(), 6);
        std::fs::remove_dir_all(&base).unwrap();
    }
}
