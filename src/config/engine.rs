//! `[engine]`: where the derive step's SQL runs, this process or an Apache
//! Ballista cluster (issue 22).

use serde::Deserialize;

/// Ballista's own default scheduler port, taken when `df://HOST` has none.
pub const DEFAULT_SCHEDULER_PORT: u16 = 50050;

/// How long a query may run on the cluster before the run fails, when
/// `[engine] job_timeout_secs` is not set.
pub const DEFAULT_JOB_TIMEOUT_SECS: u64 = 3600;

/// The message a build without the `distributed` feature gives for any
/// request of the distributed engine.
pub const NOT_BUILT: &str =
    "this build has no distributed engine; build with --features distributed";

#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    #[serde(default)]
    pub kind: EngineKind,
    /// `df://HOST:PORT` of the Ballista scheduler (`usagelake ballista
    /// scheduler --bind HOST:PORT`); needed by kind = "ballista", and by
    /// `--engine ballista` for one run.
    #[serde(default)]
    pub scheduler: Option<String>,
    /// Longest a query may take on the cluster (queued, run and its result
    /// fetched); past it the job is cancelled and the run fails [default:
    /// 3600].
    #[serde(default)]
    pub job_timeout_secs: Option<u64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EngineKind {
    #[default]
    Local,
    Ballista,
}

/// A scheduler address as Ballista's client wants it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchedulerAddress {
    pub host: String,
    pub port: u16,
}

impl SchedulerAddress {
    /// `df://HOST:PORT` (the port defaults to Ballista's 50050).
    pub fn parse(text: &str) -> Result<Self, String> {
        let bad = |why: &str| {
            format!("scheduler {text:?} {why}; write df://HOST:PORT, e.g. \"df://127.0.0.1:50050\"")
        };
        if !text.starts_with("df://") {
            return Err(bad("must start with df://"));
        }
        let url = url::Url::parse(text).map_err(|_| bad("is not a valid address"))?;
        if !url.username().is_empty() || url.password().is_some() {
            return Err(bad("must not carry a user or password"));
        }
        if !matches!(url.path(), "" | "/") || url.query().is_some() || url.fragment().is_some() {
            return Err(bad("must have no path, query or fragment"));
        }
        let host = match url.host_str() {
            Some(host) if !host.is_empty() => host.to_string(),
            _ => return Err(bad("has no host")),
        };
        Ok(Self {
            host,
            port: url.port().unwrap_or(DEFAULT_SCHEDULER_PORT),
        })
    }

    pub fn url(&self) -> String {
        format!("df://{}:{}", self.host, self.port)
    }
}

impl EngineConfig {
    pub fn job_timeout(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.job_timeout_secs.unwrap_or(DEFAULT_JOB_TIMEOUT_SECS))
    }

    /// Pure checks; `distributed` says whether this build has the engine.
    pub fn problems(&self, distributed: bool) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.kind == EngineKind::Ballista {
            if !distributed {
                problems.push(("engine.kind", NOT_BUILT.to_string()));
            }
            if self.scheduler.is_none() {
                problems.push((
                    "engine.scheduler",
                    "kind = \"ballista\" needs scheduler = \"df://HOST:PORT\" (where `usagelake ballista scheduler --bind HOST:PORT` listens)".to_string(),
                ));
            }
        }
        if let Some(text) = &self.scheduler
            && let Err(message) = SchedulerAddress::parse(text)
        {
            problems.push(("engine.scheduler", message));
        }
        if self.job_timeout_secs == Some(0) {
            problems.push((
                "engine.job_timeout_secs",
                format!("0 leaves no time for a query; give 1 or more (default {DEFAULT_JOB_TIMEOUT_SECS})"),
            ));
        }
        problems
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(kind: EngineKind, scheduler: Option<&str>) -> EngineConfig {
        EngineConfig {
            kind,
            scheduler: scheduler.map(str::to_string),
            job_timeout_secs: None,
        }
    }

    #[test]
    fn scheduler_addresses() {
        assert_eq!(
            SchedulerAddress::parse("df://127.0.0.1:50123"),
            Ok(SchedulerAddress {
                host: "127.0.0.1".into(),
                port: 50123
            })
        );
        assert_eq!(
            SchedulerAddress::parse("df://localhost").map(|a| a.url()),
            Ok("df://localhost:50050".to_string())
        );
        assert_eq!(
            SchedulerAddress::parse("http://127.0.0.1:50050"),
            Err("scheduler \"http://127.0.0.1:50050\" must start with df://; write df://HOST:PORT, e.g. \"df://127.0.0.1:50050\"".to_string())
        );
        assert_eq!(
            SchedulerAddress::parse("127.0.0.1:50050"),
            Err("scheduler \"127.0.0.1:50050\" must start with df://; write df://HOST:PORT, e.g. \"df://127.0.0.1:50050\"".to_string())
        );
        assert_eq!(
            SchedulerAddress::parse("df://127.0.0.1:50050/x"),
            Err("scheduler \"df://127.0.0.1:50050/x\" must have no path, query or fragment; write df://HOST:PORT, e.g. \"df://127.0.0.1:50050\"".to_string())
        );
    }

    #[test]
    fn problems_with_and_without_the_feature() {
        assert!(config(EngineKind::Local, None).problems(false).is_empty());
        let ballista = config(EngineKind::Ballista, Some("df://127.0.0.1:50050"));
        assert!(ballista.problems(true).is_empty());
        assert_eq!(
            ballista.problems(false),
            vec![(
                "engine.kind",
                "this build has no distributed engine; build with --features distributed"
                    .to_string()
            )]
        );
        assert_eq!(
            config(EngineKind::Ballista, None).problems(true),
            vec![(
                "engine.scheduler",
                "kind = \"ballista\" needs scheduler = \"df://HOST:PORT\" (where `usagelake ballista scheduler --bind HOST:PORT` listens)".to_string()
            )]
        );
        let no_time = EngineConfig {
            job_timeout_secs: Some(0),
            ..config(EngineKind::Local, None)
        };
        assert_eq!(
            no_time.problems(true),
            vec![(
                "engine.job_timeout_secs",
                "0 leaves no time for a query; give 1 or more (default 3600)".to_string()
            )]
        );
        assert_eq!(no_time.job_timeout().as_secs(), 0);
        assert_eq!(
            config(EngineKind::Local, None).job_timeout().as_secs(),
            3600
        );
        assert_eq!(
            config(EngineKind::Local, Some("df://")).problems(true),
            vec![(
                "engine.scheduler",
                "scheduler \"df://\" has no host; write df://HOST:PORT, e.g. \"df://127.0.0.1:50050\"".to_string()
            )]
        );
    }
}
