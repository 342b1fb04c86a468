//! The Ballista side of [`Engine`]: client sessions, and the scheduler and
//! executor that `usagelake ballista …` embeds (`cluster`).

mod cluster;
mod codec;

use std::sync::Arc;
use std::time::Duration;

use ballista::prelude::{SessionConfigExt, SessionContextExt};
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::prelude::{SessionConfig, SessionContext};

pub use cluster::{ExecutorOptions, run_executor, run_scheduler};
pub use codec::{LogicalCodec, PhysicalCodec};

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
    let state = SessionStateBuilder::new()
        .with_default_features()
        .with_config(session_config(config))
        .with_runtime_env(runtime)
        .build();
    match engine {
        Engine::Standalone => Ok(SessionContext::standalone_with_state(state).await?),
        Engine::Ballista(address) => {
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
            Ok(SessionContext::remote_with_state(&address.url(), state).await?)
        }
        Engine::Local => unreachable!("the local engine has its own session"),
    }
}

pub(super) fn register_function(ctx: &SessionContext, function: &SqlFunction) {
    match codec::shippable(function) {
        BuiltFunction::Scalar(udf) => ctx.register_udf(udf),
        BuiltFunction::Aggregate(udaf) => ctx.register_udaf(udaf),
    }
}
