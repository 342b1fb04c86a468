//! `usagelake query` and `usagelake tables`: SQL over the registered lake,
//! and an inventory of what the lake holds.

use std::collections::BTreeMap;

use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::util::pretty::pretty_format_batches;
use datafusion::parquet::file::metadata::ParquetMetaDataReader;
use futures::TryStreamExt;
use object_store::ObjectStoreExt;
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
    Ok(ctx.sql(sql).await?.collect().await?)
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
    for table in crate::metrics::shipped_outputs() {
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
    {
        let root = object_store::path::Path::from(spec.root());
        let metas: Vec<_> =
            lake.store()
                .list(Some(&root))
                .try_collect()
                .await
                .map_err(|source| LakeError::Store {
                    path: root.to_string(),
                    source,
                })?;
        let mut partitions = BTreeMap::new();
        let mut inv = TableInventory {
            table: spec.name().to_string(),
            ..Default::default()
        };
        for meta in metas
            .into_iter()
            .filter(|m| m.location.as_ref().ends_with(".parquet"))
        {
            let footer = read_footer(lake, &meta.location, meta.size).await?;
            inv.rows += footer.file_metadata().num_rows() as u64;
            inv.bytes += meta.size;
            let partition = meta
                .location
                .as_ref()
                .trim_start_matches(&spec.root())
                .rsplit_once('/')
                .map(|(p, _)| p.to_string())
                .unwrap_or_default();
            partitions.insert(partition, ());
        }
        inv.partitions = partitions.len() as u64;
        inv.first_partition = partitions.keys().next().cloned();
        inv.last_partition = partitions.keys().next_back().cloned();
        Ok(inv)
    }
}

/// Reads only a Parquet file's footer (two small range reads).
async fn read_footer(
    lake: &Lake,
    path: &object_store::path::Path,
    size: u64,
) -> Result<datafusion::parquet::file::metadata::ParquetMetaData, LakeError> {
    let store_err = |source| LakeError::Store {
        path: path.to_string(),
        source,
    };
    let parquet_err = |source| LakeError::Parquet {
        path: path.to_string(),
        source,
    };
    let tail = lake
        .store()
        .get_range(path, size.saturating_sub(8)..size)
        .await
        .map_err(store_err)?;
    let tail: [u8; 8] = tail.as_ref().try_into().map_err(|_| {
        parquet_err(datafusion::parquet::errors::ParquetError::EOF(
            "file shorter than a footer".into(),
        ))
    })?;
    let footer =
        datafusion::parquet::file::metadata::FooterTail::try_new(&tail).map_err(parquet_err)?;
    let start = size.saturating_sub(8 + footer.metadata_length() as u64);
    let bytes = lake
        .store()
        .get_range(path, start..size - 8)
        .await
        .map_err(store_err)?;
    ParquetMetaDataReader::decode_metadata(&bytes).map_err(parquet_err)
}
