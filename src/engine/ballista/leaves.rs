//! Plans empty and one-row leaves as in-memory scans before Ballista splits
//! a stage into tasks.
//!
//! Ballista's scheduler narrows each task's plan to the partitions the task
//! reads; a leaf under a `UnionExec` whose partitions a task does not read
//! becomes an empty in-memory scan. For an `EmptyExec` (an empty table, a
//! `WHERE false` branch) or a `PlaceholderRowExec` that changes the shape
//! of the plan: those two report no metrics, the scan does. Tasks of one
//! stage then report metric lists of different lengths, the scheduler
//! refuses the second ("task metrics array size 12 does not equal with the
//! stage metrics array size 11"), only logs it, and the job waits for that
//! task forever. As in-memory scans from the start, the leaves look the
//! same in every task.

use std::sync::Arc;

use datafusion::arrow::array::{RecordBatch, RecordBatchOptions, new_null_array};
use datafusion::common::Result;
use datafusion::common::config::ConfigOptions;
use datafusion::common::tree_node::{Transformed, TreeNode};
use datafusion::datasource::memory::MemorySourceConfig;
use datafusion::datasource::source::DataSourceExec;
use datafusion::physical_optimizer::PhysicalOptimizerRule;
use datafusion::physical_plan::ExecutionPlan;
use datafusion::physical_plan::empty::EmptyExec;
use datafusion::physical_plan::placeholder_row::PlaceholderRowExec;

/// The physical optimizer rule (last, on the scheduler's sessions).
#[derive(Debug, Default)]
pub struct MemoryLeaves;

impl PhysicalOptimizerRule for MemoryLeaves {
    fn optimize(
        &self,
        plan: Arc<dyn ExecutionPlan>,
        _config: &ConfigOptions,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        plan.transform_up(|node| {
            Ok(match as_memory_scan(&node)? {
                Some(scan) => Transformed::yes(scan),
                None => Transformed::no(node),
            })
        })
        .map(|t| t.data)
    }

    fn name(&self) -> &str {
        "usagelake_memory_leaves"
    }

    fn schema_check(&self) -> bool {
        true
    }
}

/// The in-memory scan with the same partitions and rows as `node`, if
/// `node` is one of the two leaves.
fn as_memory_scan(node: &Arc<dyn ExecutionPlan>) -> Result<Option<Arc<dyn ExecutionPlan>>> {
    let partitions = node.properties().output_partitioning().partition_count();
    let schema = node.schema();
    let rows: Vec<RecordBatch> = if node.is::<EmptyExec>() {
        Vec::new()
    } else if node.is::<PlaceholderRowExec>() {
        // One row, every column null (a placeholder row has no values; its
        // columns are projected away or nullable).
        if schema.fields().iter().any(|f| !f.is_nullable()) {
            return Ok(None);
        }
        let columns = schema
            .fields()
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect();
        vec![RecordBatch::try_new_with_options(
            Arc::clone(&schema),
            columns,
            &RecordBatchOptions::new().with_row_count(Some(1)),
        )?]
    } else {
        return Ok(None);
    };
    let source = MemorySourceConfig::try_new(&vec![rows; partitions], schema, None)?;
    Ok(Some(DataSourceExec::from_data_source(source)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::datatypes::{DataType, Field, Schema};
    use datafusion::physical_plan::union::UnionExec;
    use datafusion::physical_plan::{collect, displayable};
    use datafusion::prelude::SessionContext;

    fn schema(nullable: bool) -> Arc<Schema> {
        Arc::new(Schema::new(vec![Field::new(
            "n",
            DataType::Int64,
            nullable,
        )]))
    }

    #[tokio::test]
    async fn leaves_become_scans_of_the_same_partitions_and_rows() {
        let plan: Arc<dyn ExecutionPlan> = UnionExec::try_new(vec![
            Arc::new(EmptyExec::new(schema(true)).with_partitions(2)),
            Arc::new(PlaceholderRowExec::new(schema(true))),
        ])
        .unwrap();
        let rewritten = MemoryLeaves
            .optimize(Arc::clone(&plan), &ConfigOptions::default())
            .unwrap();
        assert_eq!(
            displayable(rewritten.as_ref()).indent(false).to_string(),
            "UnionExec\n  DataSourceExec: partitions=2, partition_sizes=[0, 0]\n  DataSourceExec: partitions=1, partition_sizes=[1]\n"
        );
        let task = SessionContext::new().task_ctx();
        let before = collect(plan, Arc::clone(&task)).await.unwrap();
        let after = collect(rewritten, task).await.unwrap();
        let rows = |batches: &[RecordBatch]| batches.iter().map(|b| b.num_rows()).sum::<usize>();
        assert_eq!((rows(&before), rows(&after)), (1, 1));
        // A placeholder row with a non-null column has no null row to copy.
        let strict: Arc<dyn ExecutionPlan> = Arc::new(PlaceholderRowExec::new(schema(false)));
        let kept = MemoryLeaves
            .optimize(strict, &ConfigOptions::default())
            .unwrap();
        assert!(kept.is::<PlaceholderRowExec>());
    }
}
