//! Registering lake tables in a DataFusion session with typed Hive partition
//! columns (and small in-memory tables beside them). A fresh session per run: ListingTable caches file lists, and a
//! run must see the partitions the previous step wrote.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, StringArray};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::datasource::MemTable;
use datafusion::datasource::file_format::parquet::ParquetFormat;
use datafusion::datasource::listing::{
    ListingOptions, ListingTable, ListingTableConfig, ListingTableUrl,
};
use datafusion::prelude::{SessionConfig, SessionContext};

use super::tables::{self, TableContract, TableSpec};
use super::{Lake, Result};

/// Every lake is registered under this one URL, local or S3 alike, so table
/// paths are the same relative paths the writer uses.
pub const LAKE_URL: &str = "lake://lake/";

/// A new session with the lake's store and every catalog table registered.
pub fn session_for(lake: &Lake) -> Result<SessionContext> {
    let config = SessionConfig::new()
        .with_information_schema(true)
        .with_target_partitions(std::thread::available_parallelism().map_or(2, |n| n.get()));
    let ctx = SessionContext::new_with_config(config);
    register_tables(&ctx, lake, tables::ALL)?;
    Ok(ctx)
}

/// Registers `specs` (and the lake's store) in `ctx`.
pub fn register_tables(
    ctx: &SessionContext,
    lake: &Lake,
    specs: &[&'static TableSpec],
) -> Result<()> {
    let base = url::Url::parse(LAKE_URL).expect("constant URL parses");
    ctx.register_object_store(&base, Arc::clone(lake.store()));
    for spec in specs {
        ctx.register_table(spec.name, Arc::new(listing_table(*spec)?))?;
    }
    Ok(())
}

/// A ListingTable over `spec`'s folder with typed partition columns.
pub fn listing_table(spec: &dyn TableContract) -> Result<ListingTable> {
    let url = ListingTableUrl::parse(format!("{LAKE_URL}{}", spec.root()))?;
    let options = ListingOptions::new(Arc::new(ParquetFormat::default()))
        .with_file_extension(".parquet")
        .with_table_partition_cols(
            spec.partition_keys()
                .iter()
                .map(|(name, kind)| (name.to_string(), kind.data_type()))
                .collect(),
        );
    let config = ListingTableConfig::new(url)
        .with_listing_options(options)
        .with_schema(spec.file_schema());
    Ok(ListingTable::try_new(config)?)
}

/// An in-memory table of non-null text columns.
pub fn text_table(
    columns: &[&str],
    rows: &[Vec<String>],
) -> datafusion::error::Result<Arc<MemTable>> {
    let schema = Arc::new(Schema::new(
        columns
            .iter()
            .map(|c| Field::new(*c, DataType::Utf8, false))
            .collect::<Vec<_>>(),
    ));
    let arrays = (0..columns.len())
        .map(|i| Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r[i]))) as ArrayRef)
        .collect();
    let batch = RecordBatch::try_new(Arc::clone(&schema), arrays)?;
    Ok(Arc::new(MemTable::try_new(schema, vec![vec![batch]])?))
}
