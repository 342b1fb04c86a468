//! Where the derive step's SQL runs: in this process (DataFusion), or on an
//! Apache Ballista cluster that runs the same plans (issue 22, the
//! `distributed` feature).
//!
//! The derive code plans every file the same way on both; only the
//! `SessionContext` differs. On Ballista the client sends each logical
//! plan to the scheduler, executors run its stages, and the result comes
//! back to this process, where the lake writer commits it as always. Our
//! SQL functions travel with the plan as recipes ([`SqlFunction`]) and the
//! in-memory tables (parameters, cached and intermediate results) as Arrow
//! IPC, so every node runs exactly what the local engine would.

#[cfg(feature = "distributed")]
pub mod ballista;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

use crate::config::{EngineConfig, EngineKind, NOT_BUILT, SchedulerAddress};
use crate::lake::Lake;
use crate::metrics::SqlFunction;

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("{}", NOT_BUILT)]
    NotBuilt,
    #[error("--engine {given:?}: {message}")]
    BadChoice { given: String, message: String },
    #[error(
        "Ballista scheduler {scheduler} is unreachable: {reason}; start it with `usagelake ballista scheduler --bind HOST:PORT`, or run on the local engine (--engine local)"
    )]
    Unreachable { scheduler: String, reason: String },
    #[error("{flag}: {message}")]
    BadAddress { flag: &'static str, message: String },
    #[error("Ballista: {0}")]
    Ballista(String),
    #[error("datafusion: {0}")]
    DataFusion(#[from] datafusion::error::DataFusionError),
}

/// The engine of one run.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Engine {
    /// DataFusion in this process.
    #[default]
    Local,
    /// A Ballista cluster, through its scheduler; each query may take
    /// `job_timeout` there.
    Ballista {
        scheduler: SchedulerAddress,
        job_timeout: Duration,
    },
    /// A Ballista scheduler and executor started inside this process for
    /// the run (tests, and trying the engine without a cluster).
    Standalone { job_timeout: Duration },
}

impl Engine {
    /// The configured engine (`[engine]`, already validated).
    pub fn from_config(config: &EngineConfig) -> Result<Self, EngineError> {
        match (config.kind, &config.scheduler) {
            (EngineKind::Local, _) => Ok(Self::Local),
            (EngineKind::Ballista, Some(text)) => Self::ballista(text, text, config),
            (EngineKind::Ballista, None) => Err(EngineError::BadChoice {
                given: "ballista".into(),
                message: "[engine] has no scheduler".into(),
            }),
        }
    }

    /// `--engine local | ballista | standalone | df://HOST:PORT`;
    /// `ballista` is the configured scheduler.
    pub fn choose(given: &str, config: &EngineConfig) -> Result<Self, EngineError> {
        Self::choose_in(given, config, cfg!(feature = "distributed"))
    }

    /// [`Engine::choose`] in a build that has the distributed engine or not.
    fn choose_in(
        given: &str,
        config: &EngineConfig,
        distributed: bool,
    ) -> Result<Self, EngineError> {
        let bad = |message: &str| EngineError::BadChoice {
            given: given.to_string(),
            message: message.to_string(),
        };
        let engine = match given {
            "local" => Self::Local,
            "standalone" => Self::Standalone {
                job_timeout: config.job_timeout(),
            },
            "ballista" => match &config.scheduler {
                Some(text) => Self::ballista(given, text, config)?,
                None => {
                    return Err(bad(
                        "[engine] has no scheduler; write --engine df://HOST:PORT or set [engine] scheduler",
                    ));
                }
            },
            text if text.starts_with("df://") => Self::ballista(given, text, config)?,
            _ => {
                return Err(bad(
                    "expected local, ballista, standalone or df://HOST:PORT",
                ));
            }
        };
        if engine != Self::Local && !distributed {
            return Err(EngineError::NotBuilt);
        }
        Ok(engine)
    }

    fn ballista(given: &str, text: &str, config: &EngineConfig) -> Result<Self, EngineError> {
        SchedulerAddress::parse(text)
            .map(|scheduler| Self::Ballista {
                scheduler,
                job_timeout: config.job_timeout(),
            })
            .map_err(|message| EngineError::BadChoice {
                given: given.to_string(),
                message,
            })
    }

    /// A session on this engine with `config` and `runtime` (the memory
    /// limit; on Ballista it bounds only what this process holds).
    pub async fn session(
        &self,
        lake: &Lake,
        config: SessionConfig,
        runtime: Arc<RuntimeEnv>,
    ) -> Result<SessionContext, EngineError> {
        match self {
            Self::Local => Ok(SessionContext::new_with_config_rt(config, runtime)),
            #[cfg(feature = "distributed")]
            Self::Ballista { .. } | Self::Standalone { .. } => {
                ballista::session(self, lake, config, runtime).await
            }
            #[cfg(not(feature = "distributed"))]
            Self::Ballista { .. } | Self::Standalone { .. } => {
                let _ = lake;
                Err(EngineError::NotBuilt)
            }
        }
    }

    /// Registers our SQL `functions` in `ctx`, built so that the nodes of
    /// this engine can rebuild them.
    pub fn register_functions(&self, ctx: &SessionContext, functions: &[SqlFunction]) {
        for function in functions {
            match self {
                Self::Local => crate::metrics::register_function(ctx, function),
                #[cfg(feature = "distributed")]
                Self::Ballista { .. } | Self::Standalone { .. } => {
                    ballista::register_function(ctx, function)
                }
                #[cfg(not(feature = "distributed"))]
                Self::Ballista { .. } | Self::Standalone { .. } => {
                    unreachable!("sessions of a distributed engine fail in this build")
                }
            }
        }
    }
}

/// `usagelake ballista scheduler --bind IP:PORT`: serves until stopped.
pub async fn run_scheduler(bind: &str, lake: &Lake) -> Result<(), EngineError> {
    let bind = socket_address("--bind", bind)?;
    scheduler_process(bind, lake).await
}

#[cfg(feature = "distributed")]
async fn scheduler_process(bind: SocketAddr, lake: &Lake) -> Result<(), EngineError> {
    ballista::run_scheduler(bind, lake).await
}

#[cfg(not(feature = "distributed"))]
async fn scheduler_process(_bind: SocketAddr, _lake: &Lake) -> Result<(), EngineError> {
    Err(EngineError::NotBuilt)
}

/// `usagelake ballista executor --scheduler IP:PORT --bind IP:PORT`:
/// runs until SIGTERM or Ctrl-C.
pub async fn run_executor(
    scheduler: &str,
    bind: &str,
    concurrent_tasks: Option<usize>,
    lake: &Lake,
) -> Result<(), EngineError> {
    let scheduler = socket_address("--scheduler", scheduler)?;
    let bind = socket_address("--bind", bind)?;
    if concurrent_tasks == Some(0) {
        return Err(EngineError::BadAddress {
            flag: "--concurrent-tasks",
            message: "0 runs nothing; give 1 or more, or leave it out for one per core".into(),
        });
    }
    executor_process(scheduler, bind, concurrent_tasks, lake).await
}

#[cfg(feature = "distributed")]
async fn executor_process(
    scheduler: SocketAddr,
    bind: SocketAddr,
    concurrent_tasks: Option<usize>,
    lake: &Lake,
) -> Result<(), EngineError> {
    let options = ballista::ExecutorOptions {
        scheduler,
        bind,
        concurrent_tasks,
    };
    ballista::run_executor(&options, lake).await
}

#[cfg(not(feature = "distributed"))]
async fn executor_process(
    _scheduler: SocketAddr,
    _bind: SocketAddr,
    _concurrent_tasks: Option<usize>,
    _lake: &Lake,
) -> Result<(), EngineError> {
    Err(EngineError::NotBuilt)
}

fn socket_address(flag: &'static str, text: &str) -> Result<SocketAddr, EngineError> {
    text.parse().map_err(|_| EngineError::BadAddress {
        flag,
        message: format!("{text:?} is not IP:PORT; write e.g. 127.0.0.1:50050"),
    })
}

impl std::fmt::Display for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Local => f.write_str("local"),
            Self::Ballista { scheduler, .. } => f.write_str(&scheduler.url()),
            Self::Standalone { .. } => f.write_str("standalone"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices() {
        let config = EngineConfig {
            kind: EngineKind::Local,
            scheduler: Some("df://127.0.0.2:50050".into()),
            job_timeout_secs: Some(60),
        };
        let job_timeout = Duration::from_secs(60);
        for distributed in [false, true] {
            let choose = |given: &str, config: &EngineConfig| {
                Engine::choose_in(given, config, distributed).map_err(|e| e.to_string())
            };
            let err = |given: &str| choose(given, &EngineConfig::default()).unwrap_err();
            assert_eq!(choose("local", &config), Ok(Engine::Local));
            assert_eq!(
                err("spark"),
                "--engine \"spark\": expected local, ballista, standalone or df://HOST:PORT"
            );
            assert_eq!(
                err("ballista"),
                "--engine \"ballista\": [engine] has no scheduler; write --engine df://HOST:PORT or set [engine] scheduler"
            );
            assert_eq!(
                err("df://127.0.0.1:7/x"),
                "--engine \"df://127.0.0.1:7/x\": scheduler \"df://127.0.0.1:7/x\" must have no path, query or fragment; write df://HOST:PORT, e.g. \"df://127.0.0.1:50050\""
            );
            let distributed_choices = [
                choose("ballista", &config),
                choose("df://127.0.0.1:7", &config),
                choose("standalone", &config),
            ];
            if distributed {
                assert_eq!(
                    distributed_choices,
                    [
                        Ok(Engine::Ballista {
                            scheduler: SchedulerAddress {
                                host: "127.0.0.2".into(),
                                port: 50050
                            },
                            job_timeout
                        }),
                        Ok(Engine::Ballista {
                            scheduler: SchedulerAddress {
                                host: "127.0.0.1".into(),
                                port: 7
                            },
                            job_timeout
                        }),
                        Ok(Engine::Standalone { job_timeout }),
                    ]
                );
            } else {
                let refused = Err(
                    "this build has no distributed engine; build with --features distributed"
                        .to_string(),
                );
                assert_eq!(
                    distributed_choices,
                    [refused.clone(), refused.clone(), refused]
                );
            }
        }
        assert_eq!(
            Engine::Ballista {
                scheduler: SchedulerAddress {
                    host: "127.0.0.1".into(),
                    port: 7
                },
                job_timeout
            }
            .to_string(),
            "df://127.0.0.1:7"
        );
    }
}
