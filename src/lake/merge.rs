//! Rewriting a partition with new rows: rows already in the lake win, then the
//! first occurrence in input order; the result is sorted by the table's sort key.

use std::collections::HashSet;

use datafusion::arrow::array::{ArrayRef, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::arrow::row::{RowConverter, SortField};

use super::tables::{TableContract, TableSpec};
use super::{LakeError, Result};

/// Result of [`merge_dedup`].
#[derive(Debug)]
pub struct Merged {
    pub batch: RecordBatch,
    /// Incoming rows dropped because their key was already present.
    pub duplicates: u64,
}

pub fn merge_dedup(
    table: &'static TableSpec,
    existing: &[RecordBatch],
    incoming: &[RecordBatch],
) -> Result<Merged> {
    let arrow_err = |source| LakeError::Arrow {
        table: table.name.to_string(),
        source,
    };
    let schema = table.file_schema();
    let all = concat_batches(&schema, existing.iter().chain(incoming)).map_err(arrow_err)?;

    let key_columns = columns(&all, table.dedup_key);
    let converter = RowConverter::new(
        key_columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )
    .map_err(arrow_err)?;
    let rows = converter.convert_columns(&key_columns).map_err(arrow_err)?;
    let mut seen = HashSet::with_capacity(all.num_rows());
    let keep: Vec<u32> = (0..all.num_rows())
        .filter(|&i| seen.insert(rows.row(i)))
        .map(|i| i as u32)
        .collect();
    let duplicates = (all.num_rows() - keep.len()) as u64;
    let deduped = if keep.len() == all.num_rows() {
        all
    } else {
        take_record_batch(&all, &UInt32Array::from(keep)).map_err(arrow_err)?
    };

    let sort_columns: Vec<SortColumn> = columns(&deduped, table.sort_key)
        .into_iter()
        .map(|values| SortColumn {
            values,
            options: None,
        })
        .collect();
    let order = lexsort_to_indices(&sort_columns, None).map_err(arrow_err)?;
    let batch = take_record_batch(&deduped, &order).map_err(arrow_err)?;
    Ok(Merged { batch, duplicates })
}

fn columns(batch: &RecordBatch, names: &[&str]) -> Vec<ArrayRef> {
    names
        .iter()
        .map(|name| {
            batch
                .column_by_name(name)
                .unwrap_or_else(|| {
                    panic!("catalog key column {name} missing from its table schema")
                })
                .clone()
        })
        .collect()
}
