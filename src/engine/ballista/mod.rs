//! The Ballista side of [`Engine`]: client sessions, and the scheduler and
//! executor that `usagelake ballista …` embeds (`cluster`).

mod cluster;
mod codec;
mod deadline;
mod leaves;

use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use ballista_core::config::BALLISTA_CLIENT_PULL;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use cluster::{ExecutorOptions, run_executor, run_scheduler, scheduler_session_builder};
pub use codec::{LogicalCodec, PhysicalCodec};
pub use leaves::MemoryLeaves;

use deadline::{DeadlinePlanner, Scheduler};

use super::{Engine, EngineError};
use crate::lake::{LAKE_URL, Lake};
use crate::metrics::{BuiltFunction, SqlFunction};

/// Largest plan or result message between client, scheduler and executors.
/// Ballista's 16 MiB default is too small for plans that carry a run's
/// intermediate tables.
pub const MAX_MESSAGE_BYTES: usize = 1 << 30;

/// How long a client waits for the scheduler's port before the run fails.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// `config` with our codecs and message limits: every node of a usagelake
/// cluster builds its sessions from this.
pub fn session_config(config: SessionConfig) -> SessionConfig {
    // First Ballista's own settings (no round-robin repartition, no string
    // views over Flight): they apply only to a config not yet upgraded.
    config
        .upgrade_for_ballista()
        .with_ballista_logical_extension_codec(Arc::new(LogicalCodec::default()))
        .with_ballista_physical_extension_codec(Arc::new(PhysicalCodec::default()))
        .with_ballista_grpc_client_max_message_size(MAX_MESSAGE_BYTES)
        .with_ballista_job_name("usagelake derive")
        // The adaptive planner replans with its own fixed rule list, which
        // drops MemoryLeaves, and makes empty leaves of its own at run time.
        .with_ballista_adaptive_query_planner(false)
        // Polling for the job's status, the client has the job id as soon
        // as the scheduler takes the query (pushed, only with the first
        // status change): a query past its deadline is named and cancelled.
        .set_bool(BALLISTA_CLIENT_PULL, true)
}

/// `builder` with what every session that plans for a usagelake cluster
/// needs beyond its config.
pub fn planning_state(builder: SessionStateBuilder) -> SessionStateBuilder {
    builder.with_physical_optimizer_rule(Arc::new(MemoryLeaves))
}

/// Registers the lake's store under [`LAKE_URL`] in `runtime`: every node
/// reads the lake at the paths the client planned.
pub fn register_lake(runtime: &RuntimeEnv, lake: &Lake) {
    let url = url::Url::parse(LAKE_URL).expect("constant URL parses");
    runtime.register_object_store(&url, Arc::clone(lake.store()));
}

pub(super) async fn session(
    engine: &Engine,
    lake: &Lake,
    config: SessionConfig,
    runtime: Arc<RuntimeEnv>,
) -> Result<SessionContext, EngineError> {
    register_lake(&runtime, lake);
    // An in-process scheduler plans with this state itself.
    let state = planning_state(
        SessionStateBuilder::new()
            .with_default_features()
            .with_config(session_config(config))
            .with_runtime_env(runtime),
    )
    .build();
    let (ctx, scheduler, job_timeout) = match engine {
        Engine::Standalone { job_timeout } => {
            let ctx = SessionContext::standalone_with_state(state).await?;
            let scheduler = Scheduler {
                name: "the in-process scheduler".into(),
                endpoint: None,
            };
            (ctx, scheduler, *job_timeout)
        }
        Engine::Ballista {
            scheduler: address,
            job_timeout,
        } => {
            // Ballista connects only when a query runs, and then retries:
            // find out now, within a bound, so the run fails with the reason.
            let reachable = tokio::time::timeout(
                CONNECT_TIMEOUT,
                tokio::net::TcpStream::connect((address.host.as_str(), address.port)),
            )
            .await;
            let unreachable = |reason: String| EngineError::Unreachable {
                scheduler: address.url(),
                reason,
            };
            match reachable {
                Err(_) => {
                    return Err(unreachable(format!(
                        "no answer within {} s",
                        CONNECT_TIMEOUT.as_secs()
                    )));
                }
                Ok(Err(e)) => return Err(unreachable(e.to_string())),
                Ok(Ok(_)) => {}
            }
            let ctx = SessionContext::remote_with_state(&address.url(), state).await?;
            let scheduler = Scheduler {
                name: address.url(),
                endpoint: Some(format!("http://{}:{}", address.host, address.port)),
            };
            (ctx, scheduler, *job_timeout)
        }
        Engine::Local => unreachable!("the local engine has its own session"),
    };
    Ok(with_deadline(ctx, scheduler, job_timeout))
}

/// `ctx` with every query bounded by `timeout` (see [`deadline`]).
fn with_deadline(ctx: SessionContext, scheduler: Scheduler, timeout: Duration) -> SessionContext {
    let state = ctx.state();
    let planner = DeadlinePlanner {
        inner: Arc::clone(state.query_planner()),
        scheduler,
        timeout,
    };
    let session_id = state.session_id().to_string();
    let state = SessionStateBuilder::new_from_existing(state)
        .with_session_id(session_id)
        .with_query_planner(Arc::new(planner))
        .build();
    SessionContext::new_with_state(state)
}

pub(super) fn register_function(ctx: &SessionContext, function: &SqlFunction) {
    match codec::shippable(function) {
        BuiltFunction::Scalar(udf) => ctx.register_udf(udf),
        BuiltFunction::Aggregate(udaf) => ctx.register_udaf(udaf),
    }
}
