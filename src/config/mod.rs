//! Configuration (`config/usagelake.toml`) and job definitions (`jobs/*.toml`).
//!
//! Loading is pure: text in, typed config or a list of problems out. Each
//! problem names the file, line, key and what to write instead. `${VAR}` in
//! any string value is replaced from the environment (for secrets).

mod connector;
mod cron;
mod engine;
mod interpolate;
mod job;
mod problem;
mod server;
mod space;

use std::collections::BTreeMap;

use serde::Deserialize;

pub use connector::{ConnectorConfig, ConnectorKind, ConnectorUse, PostgresLogSource};
pub use cron::{CronFields, CronSchedule};
pub use engine::{EngineConfig, EngineKind, NOT_BUILT, SchedulerAddress};
pub use job::{
    DeriveCatalog, FileSelection, JobConfig, Params, StepConfig, expand_params, parse_set,
};
pub use problem::{ConfigErrors, ConfigProblem, SourceText};
pub use server::ServerConfig;
pub use space::{PatternPart, ProductConfig, SpaceConfig, TablePattern, glob_match};

use crate::lake::{LakeLocation, S3Options};

/// A secret string (password, token, key): never printed by `Debug`.
#[derive(Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// `config/usagelake.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AppConfig {
    #[serde(default)]
    pub lake: LakeConfig,
    #[serde(default)]
    pub defaults: Defaults,
    #[serde(default)]
    pub server: ServerConfig,
    #[serde(default)]
    pub connectors: Vec<ConnectorConfig>,
    #[serde(default)]
    pub spaces: Vec<SpaceConfig>,
    #[serde(default)]
    pub engine: EngineConfig,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LakeConfig {
    #[serde(default = "default_lake_url")]
    pub url: String,
    #[serde(default)]
    pub s3: S3Options,
}

impl Default for LakeConfig {
    fn default() -> Self {
        Self {
            url: default_lake_url(),
            s3: S3Options::default(),
        }
    }
}

fn default_lake_url() -> String {
    "./lake".to_string()
}

impl LakeConfig {
    pub fn location(&self) -> Result<LakeLocation, crate::lake::LakeError> {
        let location = LakeLocation::parse(&self.url, &self.s3)?;
        location.validate()?;
        Ok(location)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Defaults {
    /// Reporting timezone (IANA name): logical dates and day buckets use it.
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// Folder of job definitions, relative to the working directory.
    #[serde(default = "default_jobs_dir")]
    pub jobs_dir: String,
    /// How many missed scheduled dates the daemon catches up on start.
    #[serde(default = "default_catch_up_limit")]
    pub catch_up_limit: u32,
}

impl Default for Defaults {
    fn default() -> Self {
        Self {
            timezone: default_timezone(),
            jobs_dir: default_jobs_dir(),
            catch_up_limit: default_catch_up_limit(),
        }
    }
}

fn default_timezone() -> String {
    "UTC".into()
}
fn default_jobs_dir() -> String {
    "jobs".into()
}
fn default_catch_up_limit() -> u32 {
    7
}

/// Parses `toml` text into `T`, reporting structural problems (syntax,
/// unknown keys, wrong types) with their line, then interpolates `${VAR}`.
fn parse_typed<T: serde::de::DeserializeOwned>(
    source: &SourceText<'_>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<T, Vec<ConfigProblem>> {
    if let Err(e) = toml::from_str::<T>(source.text) {
        let line = e.span().map(|s| source.line_of_offset(s.start));
        return Err(vec![source.problem(
            line,
            "",
            explain_toml_error(e.message()),
        )]);
    }
    let mut table: toml::Table = toml::from_str(source.text)
        .map_err(|e| vec![source.problem(None, "", e.message().to_string())])?;
    let problems = interpolate::interpolate_table(&mut table, source, env);
    if !problems.is_empty() {
        return Err(problems);
    }
    table
        .try_into()
        .map_err(|e: toml::de::Error| vec![source.problem(None, "", e.message().to_string())])
}

/// serde's messages are good but end without a fix: add one.
fn explain_toml_error(message: &str) -> String {
    let message = message.trim_end();
    if message.starts_with("unknown field") {
        format!("{message}; remove it or fix its spelling")
    } else if message.starts_with("unknown variant") {
        format!("{message}; use one of the listed values")
    } else {
        message.to_string()
    }
}

impl AppConfig {
    /// Parses and validates configuration text (no I/O).
    pub fn parse(
        file: &str,
        text: &str,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ConfigErrors> {
        let source = SourceText { file, text };
        let config: Self = parse_typed(&source, env).map_err(ConfigErrors)?;
        let problems = config.validate(&source);
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(ConfigErrors(problems))
        }
    }

    fn validate(&self, source: &SourceText<'_>) -> Vec<ConfigProblem> {
        let mut problems = Vec::new();
        let at = |key: &str, message: String| source.problem(source.line_of_key(key), key, message);
        if let Err(e) = self.lake.location() {
            problems.push(at("lake.url", e.to_string()));
        }
        if let Err(message) = check_timezone(&self.defaults.timezone) {
            problems.push(at("defaults.timezone", message));
        }
        for (key, message) in self.server.problems() {
            problems.push(at(key, message));
        }
        for (key, message) in self.engine.problems(cfg!(feature = "distributed")) {
            problems.push(at(key, message));
        }
        let mut ids = std::collections::HashSet::new();
        let mut names = std::collections::HashSet::new();
        for (i, c) in self.connectors.iter().enumerate() {
            let key = |field: &str| format!("connectors[{i}].{field}");
            for (field, message) in c.problems() {
                problems.push(at(
                    &key(&field),
                    format!("connector {:?}: {message}", c.name),
                ));
            }
            if uuid::Uuid::parse_str(&c.id).is_ok() && !ids.insert(c.uuid()) {
                problems.push(at(
                    &key("id"),
                    format!(
                        "duplicate connector id {:?}; every connector needs its own id",
                        c.id
                    ),
                ));
            }
            if !names.insert(c.name.as_str()) {
                problems.push(at(
                    &key("name"),
                    format!(
                        "duplicate connector name {:?}; every connector needs its own name",
                        c.name
                    ),
                ));
            }
        }
        let mut slugs = std::collections::HashSet::new();
        let mut space_ids = std::collections::HashSet::new();
        for (i, s) in self.spaces.iter().enumerate() {
            for (field, message) in s.problems() {
                let key = format!("spaces[{i}].{field}");
                // Products are usually inline tables: point at the
                // `products =` line when the exact key has none.
                let line = source
                    .line_of_key(&key)
                    .or_else(|| source.line_of_key(&format!("spaces[{i}].products")))
                    .or_else(|| source.line_of_key(&format!("spaces[{i}].slug")));
                problems.push(source.problem(line, key, format!("space {:?}: {message}", s.slug)));
            }
            if !slugs.insert(s.slug.as_str()) {
                problems.push(at(
                    &format!("spaces[{i}].slug"),
                    format!(
                        "duplicate space slug {:?}; every space needs its own slug",
                        s.slug
                    ),
                ));
            }
            if uuid::Uuid::parse_str(&s.id).is_ok() && !space_ids.insert(s.id_string()) {
                problems.push(at(
                    &format!("spaces[{i}].id"),
                    format!(
                        "duplicate space id {:?}; every space needs its own id",
                        s.id
                    ),
                ));
            }
        }
        problems
    }

    /// The connector named `name_or_id` (its name or its UUID).
    pub fn connector(&self, name_or_id: &str) -> Option<&ConnectorConfig> {
        self.connectors.iter().find(|c| c.is(name_or_id))
    }

    /// The names of every connector (for "known: …" messages).
    pub fn connector_names(&self) -> Vec<&str> {
        self.connectors.iter().map(|c| c.name.as_str()).collect()
    }

    pub fn space(&self, slug: &str) -> Option<&SpaceConfig> {
        self.spaces.iter().find(|s| s.slug == slug)
    }
}

pub fn check_timezone(name: &str) -> Result<chrono_tz::Tz, String> {
    name.parse::<chrono_tz::Tz>().map_err(|_| {
        format!("unknown timezone {name:?}; write an IANA name such as \"UTC\", \"America/New_York\" or \"Asia/Kolkata\"")
    })
}

/// Everything `validate` and the runner need: the configuration and the jobs.
#[derive(Debug, Clone, Default)]
pub struct Loaded {
    pub config: AppConfig,
    pub jobs: BTreeMap<String, JobConfig>,
}

/// The jobs shipped inside the binary; a file in the jobs folder with the
/// same name replaces one.
pub const EMBEDDED_JOBS: &[(&str, &str)] = &[
    ("jobs/daily.toml", include_str!("../../jobs/daily.toml")),
    ("jobs/metrics.toml", include_str!("../../jobs/metrics.toml")),
    (
        "jobs/platform.toml",
        include_str!("../../jobs/platform.toml"),
    ),
];

/// Where the configuration came from (for messages).
pub const DEFAULT_CONFIG_PATH: &str = "config/usagelake.toml";

/// Reads the configuration (the given file; else `config/usagelake.toml`
/// when present; else built-in defaults) and every job: the embedded ones,
/// replaced or extended by `*.toml` files in the jobs folder.
pub fn load(config_path: Option<&std::path::Path>) -> Result<Loaded, ConfigErrors> {
    let env = |name: &str| std::env::var(name).ok();
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors(vec![ConfigProblem {
                file: path.display().to_string(),
                line: None,
                key: String::new(),
                message: format!("cannot read: {e}"),
            }])
        })
    };
    let default_path = std::path::Path::new(DEFAULT_CONFIG_PATH);
    let config = match config_path {
        Some(path) => AppConfig::parse(&path.display().to_string(), &read(path)?, &env)?,
        None if default_path.exists() => {
            AppConfig::parse(DEFAULT_CONFIG_PATH, &read(default_path)?, &env)?
        }
        None => AppConfig::default(),
    };
    let mut problems = Vec::new();
    let mut jobs = BTreeMap::new();
    let mut sources: Vec<(String, String)> = EMBEDDED_JOBS
        .iter()
        .map(|(f, t)| (format!("(built-in) {f}"), t.to_string()))
        .collect();
    if let Ok(entries) = std::fs::read_dir(&config.defaults.jobs_dir) {
        let mut paths: Vec<_> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .collect();
        paths.sort();
        for path in paths {
            sources.push((path.display().to_string(), read(&path)?));
        }
    }
    for (file, text) in sources {
        match JobConfig::parse(&file, &text, &env, &config) {
            Ok(job) => {
                jobs.insert(job.name.clone(), job);
            }
            Err(ConfigErrors(p)) => problems.extend(p),
        }
    }
    if problems.is_empty() {
        Ok(Loaded { config, jobs })
    } else {
        Err(ConfigErrors(problems))
    }
}
