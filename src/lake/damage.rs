//! Naming the damaged file behind a failed read. DataFusion's Parquet errors
//! ("Corrupt footer", "EOF") do not say which of a table's files failed, and
//! a user cannot repair a lake from that. A query that fails with a Parquet
//! error gets its scanned tables' files checked (each footer read, as
//! `usagelake tables` does) and the error names the ones that do not open.
//! The check runs only after a failure, so a healthy read pays nothing.

use std::error::Error;
use std::sync::Arc;

use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::catalog::TableProvider;
use datafusion::common::tree_node::TreeNodeRecursion;
use datafusion::datasource::listing::ListingTable;
use datafusion::datasource::source_as_provider;
use datafusion::error::DataFusionError;
use datafusion::execution::runtime_env::RuntimeEnv;
use datafusion::logical_expr::LogicalPlan;
use datafusion::parquet::errors::ParquetError;
use datafusion::prelude::DataFrame;
use futures::TryStreamExt;

use super::LakeError;
use super::stats::read_footer_from;

/// Collects `frame`; when that fails on a damaged Parquet file, the error
/// says which file and how to repair it.
pub async fn collect_naming_damage(frame: DataFrame) -> Result<Vec<RecordBatch>, DataFusionError> {
    let plan = frame.logical_plan().clone();
    let runtime = frame.task_ctx().runtime_env();
    match frame.collect().await {
        Err(error) if stems_from_parquet(&error) => {
            Err(name_damaged_files(&plan, &runtime, error).await)
        }
        other => other,
    }
}

fn stems_from_parquet(error: &DataFusionError) -> bool {
    let mut next: Option<&(dyn Error + 'static)> = Some(error);
    while let Some(error) = next {
        if error.is::<ParquetError>()
            || matches!(
                error.downcast_ref::<ArrowError>(),
                Some(ArrowError::ParquetError(_))
            )
        {
            return true;
        }
        next = error.source();
    }
    false
}

/// The listing tables `plan` reads, through views too (a view's scans sit in
/// its own plan, which the unoptimized plan does not inline).
fn listing_scans(plan: &LogicalPlan, scans: &mut Vec<Arc<dyn TableProvider>>) {
    let _ = plan.apply_with_subqueries(|node| {
        if let LogicalPlan::TableScan(scan) = node
            && let Ok(provider) = source_as_provider(&scan.source)
        {
            if let Some(view) = provider.get_logical_plan() {
                listing_scans(&view, scans);
            } else if provider.is::<ListingTable>()
                && !scans.iter().any(|seen| Arc::ptr_eq(seen, &provider))
            {
                scans.push(provider);
            }
        }
        Ok(TreeNodeRecursion::Continue)
    });
}

/// A file that did not open. Its path names the table: a scan's own name
/// may be `?table?` (a table read through a DataFrame).
struct Damaged {
    path: String,
    reason: String,
}

async fn name_damaged_files(
    plan: &LogicalPlan,
    runtime: &Arc<RuntimeEnv>,
    error: DataFusionError,
) -> DataFusionError {
    let mut scans = Vec::new();
    listing_scans(plan, &mut scans);
    let mut damaged = Vec::new();
    for provider in &scans {
        let Some(listing) = provider.downcast_ref::<ListingTable>() else {
            continue;
        };
        for url in listing.table_paths() {
            // A table whose files cannot even be listed keeps the original error.
            let Ok(store) = runtime.object_store(url) else {
                continue;
            };
            let Ok(files) = store.list(Some(url.prefix())).try_collect::<Vec<_>>().await else {
                continue;
            };
            for file in files {
                if !file.location.as_ref().ends_with(".parquet") {
                    continue;
                }
                let footer = read_footer_from(store.as_ref(), &file.location, file.size).await;
                if let Err(error) = footer {
                    let reason = match error {
                        LakeError::Parquet { source, .. } => source.to_string(),
                        other => other.to_string(),
                    };
                    damaged.push(Damaged {
                        path: file.location.to_string(),
                        reason,
                    });
                }
            }
        }
    }
    if damaged.is_empty() {
        return error;
    }
    let files: Vec<String> = damaged
        .iter()
        .map(|file| format!("{} ({})", file.path, file.reason))
        .collect();
    error.context(format!(
        "damaged Parquet file{} in the lake: {}; restore {} from a backup, or delete {} and re-run the job that writes that partition",
        if files.len() == 1 { "" } else { "s" },
        files.join(", "),
        if files.len() == 1 { "it" } else { "them" },
        if files.len() == 1 { "it" } else { "them" },
    ))
}
