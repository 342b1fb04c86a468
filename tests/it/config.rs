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
fn the_engine_section_names_the_feature_and_the_scheduler_fix() {
    let text = "[engine]\nkind = \"ballista\"\nscheduler = \"http://10.0.0.1\"\n";
    let mut want = Vec::new();
    if !cfg!(feature = "distributed") {
        want.push(
            "c.toml:2: engine.kind: this build has no distributed engine; build with --features distributed",
        );
    }
    want.push(
        "c.toml:3: engine.scheduler: scheduler \"http://10.0.0.1\" must start with df://; write df://HOST:PORT, e.g. \"df://127.0.0.1:50050\"",
    );
    assert_eq!(messages(AppConfig::parse("c.toml", text, &no_env)), want);
    assert_eq!(
        messages(AppConfig::parse(
            "c.toml",
            "[engine]\nkind = \"spark\"\n",
            &no_env
        )),
        vec![
            "c.toml:2: unknown variant `spark`, expected `local` or `ballista`; use one of the listed values"
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
            "j.toml:4: unknown variant `ingset`, expected one of `ingest`, `bi_sync`, `mine_logs`, `collect_events`, `derive`, `aggregate`; use one of the listed values"
        ]
    );
    let text = "name = \"j\"\n\n[[steps]]\ntype = \"bi_sync\"\nconnector = \"superset-prod\"\n";
    assert_eq!(
        messages(JobConfig::parse("j.toml", text, &no_env, &config)),
        vec![
            "j.toml:5: steps[0].connector: no connector named \"superset-prod\" in the configuration; known: []"
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

#[test]
fn connector_keys_are_checked_per_type() {
    let text = r#"
[[connectors]]
id = "superset-prod"
name = "superset prod"
type = "superset"
url = "https://superset.example.com"
username = "u"
account = "acme"

[[connectors]]
id = "5f0c2a57-1d7e-4b8e-8d7e-0c6f4f1b9c22"
name = "wh"
type = "snowflake"
account = "acme-xy"

[[connectors]]
id = "5F0C2A57-1D7E-4B8E-8D7E-0C6F4F1B9C22"
name = "wh"
type = "postgres"
url = "https://db.example.com"
"#;
    assert_eq!(
        messages(AppConfig::parse("c.toml", text, &no_env)),
        vec![
            "c.toml:4: connectors[0].name: connector \"superset prod\": connector name \"superset prod\" must be 1-64 letters, digits, - or _",
            "c.toml:3: connectors[0].id: connector \"superset prod\": connector id \"superset-prod\" is not a UUID; write one such as \"a76c241e-c4ee-546d-ad99-79ffe5e09dd7\"",
            "c.toml:2: connectors[0].password: connector \"superset prod\": a superset connector needs password; add password = \"…\"",
            "c.toml:8: connectors[0].account: connector \"superset prod\": a superset connector does not use account; remove it",
            "c.toml:10: connectors[1].username: connector \"wh\": a snowflake connector needs username; add username = \"…\"",
            "c.toml:10: connectors[1].private_key_path: connector \"wh\": a snowflake connector needs one of private_key_path, private_key; add one",
            "c.toml:20: connectors[2].url: connector \"wh\": url must start with postgres:// or postgresql:// and name a host",
            "c.toml:17: connectors[2].id: duplicate connector id \"5F0C2A57-1D7E-4B8E-8D7E-0C6F4F1B9C22\"; every connector needs its own id",
            "c.toml:18: connectors[2].name: duplicate connector name \"wh\"; every connector needs its own name",
        ]
    );
}

#[test]
fn connectors_are_found_by_name_or_id_and_steps_check_their_kind() {
    let config = AppConfig::parse(
        "c.toml",
        r#"
[[connectors]]
id = "5f0c2a57-1d7e-4b8e-8d7e-0c6f4f1b9c22"
name = "warehouse"
type = "postgres"
log_dir = "/var/log/postgresql"
"#,
        &no_env,
    )
    .unwrap();
    assert_eq!(config.connector("warehouse").unwrap().name, "warehouse");
    let by_id = config
        .connector("5F0C2A57-1D7E-4B8E-8D7E-0C6F4F1B9C22")
        .unwrap();
    assert_eq!(by_id.id_string(), "5f0c2a57-1d7e-4b8e-8d7e-0c6f4f1b9c22");
    let job = "name = \"j\"\n\n[[steps]]\ntype = \"bi_sync\"\nconnector = \"warehouse\"\n";
    assert_eq!(
        messages(JobConfig::parse("j.toml", job, &no_env, &config)),
        vec![
            "j.toml:5: steps[0].connector: connector \"warehouse\" is a postgres connector; bi_sync takes BI tools (superset, metabase, looker, tableau, power_bi)"
        ]
    );
    let job = "name = \"j\"\n\n[[steps]]\ntype = \"mine_logs\"\nconnector = \"5f0c2a57-1d7e-4b8e-8d7e-0c6f4f1b9c22\"\n";
    assert!(JobConfig::parse("j.toml", job, &no_env, &config).is_ok());
}
