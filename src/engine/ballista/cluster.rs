//! `usagelake ballista scheduler` and `usagelake ballista executor`:
//! Ballista's own scheduler and executor processes, with our codecs (so our
//! SQL functions and in-memory tables decode) and the lake's store (so
//! planning lists the lake's files and tasks read them).
//!
//! Executors pull work from the scheduler (`pull-staged`), so each needs
//! only the one port it serves shuffle data on.

use std::net::SocketAddr;
use std::sync::Arc;

use ballista::prelude::SessionConfigExt;
use ballista_core::config::TaskSchedulingPolicy;
use ballista_core::extension::ballista_scalar_functions;
use ballista_core::registry::BallistaFunctionRegistry;
use ballista_core::utils::default_session_builder;
use ballista_core::{ConfigProducer, RuntimeProducer};
use ballista_executor::executor_process::{ExecutorProcessConfig, start_executor_process};
use ballista_scheduler::SessionBuilder;
use ballista_scheduler::cluster::BallistaCluster;
use ballista_scheduler::config::SchedulerConfig;
use ballista_scheduler::scheduler_process::start_server;
use datafusion::execution::SessionStateBuilder;
use datafusion::execution::runtime_env::RuntimeEnvBuilder;
use datafusion::prelude::SessionConfig;

use super::{
    LogicalCodec, MAX_MESSAGE_BYTES, PhysicalCodec, planning_state, register_lake, session_config,
};
use crate::engine::EngineError;
use crate::lake::Lake;

fn config_producer() -> ConfigProducer {
    Arc::new(|| session_config(SessionConfig::new_with_ballista()))
}

fn ballista_error(e: impl std::fmt::Display) -> EngineError {
    EngineError::Ballista(e.to_string())
}

/// How a usagelake scheduler makes each client session's state: Ballista's,
/// planning with [`MemoryLeaves`](super::MemoryLeaves), listing the lake.
pub fn scheduler_session_builder(lake: &Lake) -> SessionBuilder {
    let lake = lake.clone();
    Arc::new(move |config: SessionConfig| {
        let state = planning_state(SessionStateBuilder::new_from_existing(
            default_session_builder(config)?,
        ))
        .build();
        register_lake(state.runtime_env(), &lake);
        Ok(state)
    })
}

/// Serves a scheduler on `bind` until the process is stopped.
pub async fn run_scheduler(bind: SocketAddr, lake: &Lake) -> Result<(), EngineError> {
    let config = SchedulerConfig {
        bind_host: bind.ip().to_string(),
        external_host: bind.ip().to_string(),
        bind_port: bind.port(),
        scheduling_policy: TaskSchedulingPolicy::PullStaged,
        grpc_server_max_decoding_message_size: MAX_MESSAGE_BYTES as u32,
        grpc_server_max_encoding_message_size: MAX_MESSAGE_BYTES as u32,
        grpc_client_max_message_size: MAX_MESSAGE_BYTES as u32,
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        override_session_builder: Some(scheduler_session_builder(lake)),
        override_config_producer: Some(config_producer()),
        ..SchedulerConfig::default()
    };
    let cluster = BallistaCluster::new_from_config(&config)
        .await
        .map_err(ballista_error)?;
    tracing::info!(%bind, "Ballista scheduler listening");
    start_server(cluster, bind, Arc::new(config))
        .await
        .map_err(ballista_error)
}

/// One executor.
#[derive(Debug, Clone)]
pub struct ExecutorOptions {
    /// Where the scheduler listens (`usagelake ballista scheduler --bind`).
    pub scheduler: SocketAddr,
    /// Where this executor serves its shuffle data to the others.
    pub bind: SocketAddr,
    /// Tasks at once [default: the machine's cores].
    pub concurrent_tasks: Option<usize>,
}

/// Every function the client's sessions plan with. Ballista's default
/// executor registry lacks DataFusion's nested functions (`cardinality`,
/// `array_*`, …), which its client sessions do have: a plan using one
/// fails on the executor with "… is not provided for scalar function
/// cardinality".
fn function_registry() -> BallistaFunctionRegistry {
    let mut registry = BallistaFunctionRegistry::default();
    for function in ballista_scalar_functions() {
        registry
            .scalar_functions
            .insert(function.name().to_string(), function);
    }
    registry
}

/// Runs an executor until the process is stopped (SIGTERM, Ctrl-C).
pub async fn run_executor(options: &ExecutorOptions, lake: &Lake) -> Result<(), EngineError> {
    let work_dir = tempfile::Builder::new()
        .prefix("usagelake-executor-")
        .tempdir()
        .map_err(ballista_error)?;
    let temp = work_dir.path().to_path_buf();
    let runtime_lake = lake.clone();
    let runtime_producer: RuntimeProducer = Arc::new(move |_config: &SessionConfig| {
        let runtime = RuntimeEnvBuilder::new()
            .with_temp_file_path(temp.clone())
            .build_arc()?;
        register_lake(&runtime, &runtime_lake);
        Ok(runtime)
    });
    let host = options.bind.ip().to_string();
    let defaults = ExecutorProcessConfig::default();
    let config = ExecutorProcessConfig {
        bind_host: host.clone(),
        external_host: Some(host),
        port: options.bind.port(),
        // Unused when pulling work; kept off the flight port.
        grpc_port: 0,
        scheduler_host: options.scheduler.ip().to_string(),
        scheduler_port: options.scheduler.port(),
        // An executor started before its scheduler waits for it this long.
        scheduler_connect_timeout_seconds: 30,
        vcores: options.concurrent_tasks.unwrap_or(defaults.vcores),
        task_scheduling_policy: TaskSchedulingPolicy::PullStaged,
        work_dir: Some(work_dir.path().display().to_string()),
        print_thread_info: false,
        grpc_max_decoding_message_size: MAX_MESSAGE_BYTES as u32,
        grpc_max_encoding_message_size: MAX_MESSAGE_BYTES as u32,
        override_logical_codec: Some(Arc::new(LogicalCodec::default())),
        override_physical_codec: Some(Arc::new(PhysicalCodec::default())),
        override_runtime_producer: Some(runtime_producer),
        override_function_registry: Some(Arc::new(function_registry())),
        override_config_producer: Some(config_producer()),
        ..defaults
    };
    tracing::info!(bind = %options.bind, scheduler = %options.scheduler, "Ballista executor starting");
    let result = start_executor_process(Arc::new(config))
        .await
        .map_err(ballista_error);
    drop(work_dir);
    result
}
