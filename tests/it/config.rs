//! Configuration errors: each with the exact message a user sees.

use usagelake::config::{AppConfig, ConfigErrors, JobConfig, Secret};

fn no_env(_: &str) -> Option<String> {
    None
}

fn messages(result: Result<impl std::fmt::Debug, ConfigErrors>) -> Vec<String> {
    result
        .unwrap_err()
        .0
        .iter()
        .map(|p| p.to_string())
        .collect()
}

#[test]
fn unknown_key_names_file_line_and_fix() {
    let text = "[lake]\nurl = \"./lake\"\nurll = \"x\"\n";
    assert_eq!(
        messages(AppConfig::parse("config/usagelake.toml", text, &no_env)),
        vec![
            "config/usagelake.toml:3: unknown field `urll`, expected `url` or `s3`; remove it or fix its spelling"
        ]
    );
}

#[test]
fn bad_lake_url_and_timezone() {
    let text = "[lake]\nurl = \"ftp://host/lake\"\n\n[defaults]\ntimezone = \"Mars/Olympus\"\n";
    assert_eq!(
        messages(AppConfig::parse("c.toml", text, &no_env)),
        vec![
            "c.toml:2: lake.url: lake URL \"ftp://host/lake\": unsupported scheme \"ftp\"; write a local path, file:///abs/path or s3://bucket/prefix",
            "c.toml:5: defaults.timezone: unknown timezone \"Mars/Olympus\"; write an IANA name such as \"UTC\", \"America/New_York\" or \"Asia/Kolkata\"",
        ]
    );
}

#[test]
fn missing_env_var_points_at_its_line() {
    let text = "[lake]\nurl = \"s3://bucket/lake\"\n\n[lake.s3]\nregion = \"us-east-1\"\nsecret_access_key = \"${LAKE_SECRET}\"\n";
    assert_eq!(
        messages(AppConfig::parse("c.toml", text, &no_env)),
        vec![
            "c.toml:6: lake.s3.secret_access_key: environment variable LAKE_SECRET is not set; export LAKE_SECRET=… before running, or write the value in the file"
        ]
    );
    let with_env = |name: &str| (name == "LAKE_SECRET").then(|| "s3cr\"et".to_string());
    let config = AppConfig::parse("c.toml", text, &with_env).unwrap();
    assert_eq!(
        config.lake.s3.secret_access_key,
        Some(Secret::new("s3cr\"et"))
    );
    // Secrets never reach Debug output (and so never logs).
    assert!(!format!("{config:?}").contains("s3cr"));
}

#[test]
fn bad_cron_and_unknown_param_in_a_job() {
    let config = AppConfig::default();
    let text = "name = \"daily\"\nschedule = \"61 2 * * *\"\n\n[params]\nevents = \"./x\"\n\n[[steps]]\ntype = \"ingest\"\nsource = \"{event}\"\n";
    assert_eq!(
        messages(JobConfig::parse("jobs/daily.toml", text, &no_env, &config)),
        vec![
            "jobs/daily.toml:2: schedule: cron \"61 2 * * *\": minute field \"61\": 61 is outside 0–59",
            "jobs/daily.toml:9: steps[0].source: {event} names no parameter; add event = \"…\" under [params] (known: [\"events\"])",
        ]
    );
}

#[test]
fn unknown_step_type_and_connector() {
    let config = AppConfig::default();
    let text = "name = \"j\"\n\n[[steps]]\ntype = \"ingset\"\nsource = \"x\"\n";
    assert_eq!(
        messages(JobConfig::parse("j.toml", text, &no_env, &config)),
        vec![
            "j.toml:4: unknown variant `ingset`, expected one of `ingest`, `bi_sync`, `mine_logs`, `derive`, `aggregate`; use one of the listed values"
        ]
    );
    let text = "name = \"j\"\n\n[[steps]]\ntype = \"bi_sync\"\nconnector = \"superset-prod\"\n";
    assert_eq!(
        messages(JobConfig::parse("j.toml", text, &no_env, &config)),
        vec![
            "j.toml:5: steps[0].connector: no connector with id \"superset-prod\" in the configuration; known: []"
        ]
    );
}

#[test]
fn shipped_files_are_valid() {
    let text = std::fs::read_to_string("config/usagelake.toml").unwrap();
    let config = AppConfig::parse("config/usagelake.toml", &text, &no_env).unwrap();
    let job = std::fs::read_to_string("jobs/daily.toml").unwrap();
    let job = JobConfig::parse("jobs/daily.toml", &job, &no_env, &config).unwrap();
    assert_eq!(job.name, "daily");
}
