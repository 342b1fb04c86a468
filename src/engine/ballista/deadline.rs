//! A bound on every query a client session sends to the cluster.
//!
//! Ballista's client polls the job's status until it ends, with no limit of
//! its own, so a job the scheduler never finishes (a task whose status it
//! refused, an executor that never came) would hold the run forever. Each
//! query instead gets `[engine] job_timeout_secs`; past it the job is
//! cancelled and the query fails naming the scheduler, the job and the
//! state it was left in.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ballista_core::execution_plans::DistributedQueryExec;
use ballista_core::serde::protobuf::scheduler_grpc_client::SchedulerGrpcClient;
use ballista_core::serde::protobuf::{CancelJobParams, GetJobStatusParams, job_status};
use datafusion::catalog::Session;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::common::{DataFusionError, Result};
use datafusion::execution::context::QueryPlanner;
use datafusion::execution::{SendableRecordBatchStream, TaskContext};
use datafusion::logical_expr::LogicalPlan;
use datafusion::physical_expr::PhysicalExpr;
use datafusion::physical_plan::stream::RecordBatchStreamAdapter;
use datafusion::physical_plan::{DisplayAs, DisplayFormatType, ExecutionPlan, PlanProperties};
use datafusion_proto::protobuf::LogicalPlanNode;
use futures::StreamExt;

/// How long the status and cancel requests after a timeout may take.
const ASK_TIMEOUT: Duration = Duration::from_secs(5);

/// Where the jobs go: the name errors give, and the scheduler's gRPC
/// address when this process knows it (not for an in-process scheduler).
#[derive(Debug, Clone)]
pub struct Scheduler {
    pub name: String,
    pub endpoint: Option<String>,
}

/// Wraps the client's query planner: every plan it makes runs under the
/// deadline.
#[derive(Debug)]
pub struct DeadlinePlanner {
    pub inner: Arc<dyn QueryPlanner + Send + Sync>,
    pub scheduler: Scheduler,
    pub timeout: Duration,
}

#[async_trait::async_trait]
impl QueryPlanner for DeadlinePlanner {
    async fn create_physical_plan(
        &self,
        logical_plan: &LogicalPlan,
        session: &dyn Session,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let inner = self
            .inner
            .create_physical_plan(logical_plan, session)
            .await?;
        Ok(Arc::new(DeadlineExec {
            inner,
            scheduler: self.scheduler.clone(),
            timeout: self.timeout,
        }))
    }
}

/// The client's plan (a `DistributedQueryExec`: the whole job) with a
/// deadline on its output.
#[derive(Debug)]
struct DeadlineExec {
    inner: Arc<dyn ExecutionPlan>,
    scheduler: Scheduler,
    timeout: Duration,
}

impl DisplayAs for DeadlineExec {
    fn fmt_as(&self, _t: DisplayFormatType, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "DeadlineExec: timeout={}s", self.timeout.as_secs())
    }
}

impl ExecutionPlan for DeadlineExec {
    fn name(&self) -> &str {
        "DeadlineExec"
    }

    fn properties(&self) -> &Arc<PlanProperties> {
        self.inner.properties()
    }

    fn children(&self) -> Vec<&Arc<dyn ExecutionPlan>> {
        vec![&self.inner]
    }

    fn apply_expressions(
        &self,
        _f: &mut dyn FnMut(&Arc<dyn PhysicalExpr>) -> Result<TreeNodeRecursion>,
    ) -> Result<TreeNodeRecursion> {
        Ok(TreeNodeRecursion::Continue)
    }

    fn with_new_children(
        self: Arc<Self>,
        mut children: Vec<Arc<dyn ExecutionPlan>>,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        let inner = children
            .pop()
            .filter(|_| children.is_empty())
            .ok_or_else(|| DataFusionError::Internal("DeadlineExec has one child".into()))?;
        Ok(Arc::new(Self {
            inner,
            scheduler: self.scheduler.clone(),
            timeout: self.timeout,
        }))
    }

    fn execute(
        &self,
        partition: usize,
        context: Arc<TaskContext>,
    ) -> Result<SendableRecordBatchStream> {
        let stream = self.inner.execute(partition, context)?;
        let schema = stream.schema();
        let expired = Arc::new(AtomicBool::new(false));
        let timer = {
            let expired = Arc::clone(&expired);
            let timeout = self.timeout;
            async move {
                tokio::time::sleep(timeout).await;
                expired.store(true, Ordering::SeqCst);
            }
        };
        let inner = Arc::clone(&self.inner);
        let scheduler = self.scheduler.clone();
        let timeout = self.timeout;
        let failure = futures::stream::once(async move {
            if !expired.load(Ordering::SeqCst) {
                return None;
            }
            let job = inner
                .downcast_ref::<DistributedQueryExec<LogicalPlanNode>>()
                .and_then(|q| q.job_id())
                .map(|id| id.to_string());
            Some(Err(timed_out(&scheduler, job, timeout).await))
        })
        .filter_map(futures::future::ready);
        let bounded = stream.take_until(timer).chain(failure);
        Ok(Box::pin(RecordBatchStreamAdapter::new(schema, bounded)))
    }
}

/// The error of a query past its deadline; cancels the job first.
async fn timed_out(
    scheduler: &Scheduler,
    job: Option<String>,
    timeout: Duration,
) -> DataFusionError {
    let secs = timeout.as_secs();
    let Some(job) = job else {
        return DataFusionError::Execution(format!(
            "Ballista scheduler {} did not accept the query within {secs} s ([engine] job_timeout_secs)",
            scheduler.name
        ));
    };
    let state = match &scheduler.endpoint {
        Some(endpoint) => job_state_and_cancel(endpoint, &job).await,
        None => "left unfinished".to_string(),
    };
    DataFusionError::Execution(format!(
        "Ballista job {job} on {} did not finish within {secs} s ([engine] job_timeout_secs): it was {state}; a scheduler started with USAGELAKE_LOG=ballista_scheduler=debug logs each stage's tasks and where they ran",
        scheduler.name
    ))
}

/// What the scheduler says of `job`, after asking it to cancel the job.
async fn job_state_and_cancel(endpoint: &str, job: &str) -> String {
    let ask = async {
        let mut client = SchedulerGrpcClient::connect(endpoint.to_string())
            .await
            .map_err(|e| e.to_string())?;
        let status = client
            .get_job_status(GetJobStatusParams {
                job_id: job.to_string(),
            })
            .await
            .map_err(|e| e.message().to_string())?
            .into_inner()
            .status
            .and_then(|s| s.status);
        let cancelled = client
            .cancel_job(CancelJobParams {
                job_id: job.to_string(),
            })
            .await
            .map(|r| r.into_inner().cancelled)
            .unwrap_or(false);
        Ok::<_, String>(format!(
            "{}, {}",
            describe(status),
            if cancelled {
                "now cancelled"
            } else {
                "not cancelled"
            }
        ))
    };
    match tokio::time::timeout(ASK_TIMEOUT, ask).await {
        Ok(Ok(state)) => state,
        Ok(Err(e)) => format!("in an unknown state (the scheduler did not answer: {e})"),
        Err(_) => format!(
            "in an unknown state (the scheduler did not answer within {} s)",
            ASK_TIMEOUT.as_secs()
        ),
    }
}

fn describe(status: Option<job_status::Status>) -> String {
    match status {
        None => "not yet planned".to_string(),
        Some(job_status::Status::Queued(_)) => "queued".to_string(),
        Some(job_status::Status::Running(_)) => "running".to_string(),
        Some(job_status::Status::Failed(failed)) => format!("failed ({})", failed.error),
        Some(job_status::Status::Successful(_)) => "finished as the deadline passed".to_string(),
    }
}
