//! `usagelake query` and `usagelake tables`: SQL over the registered lake,
//! and an inventory of what the lake holds.

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use serde::Serialize;

use crate::lake::{self, Lake, LakeError, TableContract, tables};

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Csv,
    Json,
}

/// Runs `sql` over every lake table in a fresh session.
pub async fn run_sql(lake: &Lake, sql: &str) -> Result<Vec<RecordBatch>, LakeError> {
    let ctx = lake::session_for(lake)?;
    crate::metrics::register_outputs(&ctx)?;
    crate::platform::register_outputs(&ctx)?;
    Ok(lake::collect_naming_damage(ctx.sql(sql).await?).await?)
}

/// Renders batches as a text table, CSV (with header) or JSON lines.
pub fn format_batches(batches: &[RecordBatch], format: OutputFormat) -> Result<String, LakeError> {
    let arrow_err = |source| LakeError::Arrow {
        table: "query result".into(),
        source,
    };
    match format {
        OutputFormat::Table => Ok(pretty_format_batches(batches)
            .map_err(arrow_err)?
            .to_string()),
        OutputFormat::Csv => {
            let mut out = Vec::new();
            {
                let mut writer = datafusion::arrow::csv::WriterBuilder::new()
                    .with_header(true)
                    .build(&mut out);
                for batch in batches {
                    writer.write(batch).map_err(arrow_err)?;
                }
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
        OutputFormat::Json => {
            let mut out = Vec::new();
            {
                let mut writer = datafusion::arrow::json::LineDelimitedWriter::new(&mut out);
                for batch in batches {
                    writer.write(batch).map_err(arrow_err)?;
                }
                writer.finish().map_err(arrow_err)?;
            }
            Ok(String::from_utf8_lossy(&out).into_owned())
        }
    }
}

/// One table of the inventory.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct TableInventory {
    pub table: String,
    pub partitions: u64,
    pub rows: u64,
    pub bytes: u64,
    pub first_partition: Option<String>,
    pub last_partition: Option<String>,
}

/// Lists every catalog table's partitions, row counts (from Parquet footers,
/// no data read) and sizes, then the metric tables that have been written.
pub async fn inventory(lake: &Lake) -> Result<Vec<TableInventory>, LakeError> {
    let mut out = Vec::new();
    for spec in tables::ALL {
        out.push(table_inventory(lake, *spec).await?);
    }
    let derived = crate::metrics::shipped_outputs()
        .into_iter()
        .chain(crate::platform::shipped_outputs());
    for table in derived {
        let inv = table_inventory(lake, &table).await?;
        if inv.partitions > 0 {
            out.push(inv);
        }
    }
    Ok(out)
}

async fn table_inventory(
    lake: &Lake,
    spec: &dyn TableContract,
) -> Result<TableInventory, LakeError> {
    let partitions = lake::partition_stats(lake, spec).await?;
    Ok(TableInventory {
        table: spec.name().to_string(),
        partitions: partitions.len() as u64,
        rows: partitions.values().map(|p| p.rows).sum(),
        bytes: partitions.values().map(|p| p.bytes).sum(),
        first_partition: partitions.keys().next().cloned(),
        last_partition: partitions.keys().next_back().cloned(),
    })
}
