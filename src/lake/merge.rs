//! Rewriting a partition with new rows: rows already in the lake win, then the
//! first occurrence in input order; the result is sorted by the table's sort key.

use std::collections::HashSet;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, UInt32Array};
use datafusion::arrow::compute::{
    SortColumn, concat_batches, interleave_record_batch, lexsort_to_indices, take_record_batch,
};
use datafusion::arrow::datatypes::{Schema, TimestampMicrosecondType};
use datafusion::arrow::error::ArrowError;
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
    let batches: Vec<&RecordBatch> = existing
        .iter()
        .chain(incoming)
        .filter(|b| b.num_rows() > 0)
        .collect();
    // Only the key columns are put end to end; every column is then
    // gathered once, straight from its batch, instead of being
    // concatenated and then taken (two copies of the partition).
    let mut key_names: Vec<&str> = table.dedup_key.to_vec();
    key_names.extend(
        table
            .sort_key
            .iter()
            .filter(|k| !table.dedup_key.contains(k)),
    );
    let key_indices = column_indices(&schema, &key_names);
    let key_schema = schema.project(&key_indices).map_err(arrow_err)?;
    let key_batches = batches
        .iter()
        .map(|b| b.project(&key_indices))
        .collect::<Result<Vec<_>, _>>()
        .map_err(arrow_err)?;
    let keys = concat_batches(&Arc::new(key_schema), &key_batches).map_err(arrow_err)?;

    let keep = first_of_each_key(&keys, table.dedup_key).map_err(arrow_err)?;
    let duplicates = (keys.num_rows() - keep.len()) as u64;
    let order = sort_kept(&keys, table.sort_key, keep).map_err(arrow_err)?;
    let batch = match batches.as_slice() {
        [] => RecordBatch::new_empty(schema.clone()),
        [only] => take_record_batch(only, &order).map_err(arrow_err)?,
        _ => {
            let mut starts = Vec::with_capacity(batches.len());
            let mut rows = 0u32;
            for b in &batches {
                starts.push(rows);
                rows += b.num_rows() as u32;
            }
            let sources: Vec<(usize, usize)> = order
                .values()
                .iter()
                .map(|&row| {
                    let which = starts.partition_point(|&start| start <= row) - 1;
                    (which, (row - starts[which]) as usize)
                })
                .collect();
            interleave_record_batch(&batches, &sources).map_err(arrow_err)?
        }
    };
    // The file schema, not the first batch's (one read back from the lake
    // may carry other metadata).
    let batch = RecordBatch::try_new(schema, batch.columns().to_vec()).map_err(arrow_err)?;
    Ok(Merged { batch, duplicates })
}

fn column_indices(schema: &Schema, names: &[&str]) -> Vec<usize> {
    names
        .iter()
        .map(|name| {
            schema.index_of(name).unwrap_or_else(|_| {
                panic!("catalog key column {name} missing from its table schema")
            })
        })
        .collect()
}

/// Row numbers of the first row of each distinct key, in row order.
fn first_of_each_key(batch: &RecordBatch, key: &[&str]) -> Result<Vec<u32>, ArrowError> {
    let key_columns = columns(batch, key);
    let rows = 0..batch.num_rows() as u32;
    // One string key (message_id, the telemetry tables' key): hash the
    // strings themselves rather than copies in the row format.
    if let [only] = key_columns.as_slice()
        && let Some(strings) = only.as_string_opt::<i32>()
    {
        let mut seen = HashSet::with_capacity_and_hasher(strings.len(), ahash::RandomState::new());
        return Ok(rows
            .filter(|&i| {
                seen.insert(
                    strings
                        .is_valid(i as usize)
                        .then(|| strings.value(i as usize)),
                )
            })
            .collect());
    }
    let converter = RowConverter::new(
        key_columns
            .iter()
            .map(|c| SortField::new(c.data_type().clone()))
            .collect(),
    )?;
    let converted = converter.convert_columns(&key_columns)?;
    let mut seen = HashSet::with_capacity(batch.num_rows());
    Ok(rows
        .filter(|&i| seen.insert(converted.row(i as usize)))
        .collect())
}

/// `keep` reordered by the sort key (ascending, nulls first).
fn sort_kept(batch: &RecordBatch, key: &[&str], keep: Vec<u32>) -> Result<UInt32Array, ArrowError> {
    let key_columns = columns(batch, key);
    // (time, string) without nulls, the telemetry tables' order: compare
    // the values directly rather than through arrow's dynamic comparator.
    if let [time, text] = key_columns.as_slice()
        && let Some(time) = time.as_primitive_opt::<TimestampMicrosecondType>()
        && let Some(text) = text.as_string_opt::<i32>()
        && time.null_count() == 0
        && text.null_count() == 0
    {
        // Sorting (time, row) pairs side by side, not row numbers that
        // look their times up: a comparison then reads no other memory
        // (the lookups were a cache miss each on a day's partition).
        let times = time.values();
        let mut pairs: Vec<(i64, u32)> =
            keep.iter().map(|&row| (times[row as usize], row)).collect();
        pairs.sort_unstable_by(|&(time_a, a), &(time_b, b)| {
            time_a
                .cmp(&time_b)
                .then_with(|| text.value(a as usize).cmp(text.value(b as usize)))
        });
        return Ok(UInt32Array::from_iter_values(
            pairs.into_iter().map(|(_, row)| row),
        ));
    }
    let keep = UInt32Array::from(keep);
    let kept = take_record_batch(batch, &keep)?;
    let sort_columns: Vec<SortColumn> = columns(&kept, key)
        .into_iter()
        .map(|values| SortColumn {
            values,
            options: None,
        })
        .collect();
    let order = lexsort_to_indices(&sort_columns, None)?;
    Ok(order
        .values()
        .iter()
        .map(|&i| keep.value(i as usize))
        .collect())
}

fn columns(batch: &RecordBatch, names: &[&str]) -> Vec<ArrayRef> {
    column_indices(batch.schema_ref(), names)
        .into_iter()
        .map(|i| batch.column(i).clone())
        .collect()
}

#[cfg(test)]
mod tests {
    use datafusion::arrow::array::{StringArray, TimestampMicrosecondArray};

    use super::*;
    use crate::lake::tables::PAGES;

    /// A pages batch whose `user_id` names the row's origin ("b1r7").
    fn pages(batch: usize, rows: &[(String, i64)]) -> RecordBatch {
        let schema = PAGES.file_schema();
        let mut columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from_iter_values(rows.iter().map(|(m, _)| m))),
            Arc::new(StringArray::from_iter_values(
                (0..rows.len()).map(|r| format!("b{batch}r{r}")),
            )),
        ];
        for _ in 2..9 {
            columns.push(Arc::new(StringArray::new_null(rows.len())));
        }
        let times = || {
            Arc::new(
                TimestampMicrosecondArray::from_iter_values(rows.iter().map(|(_, t)| *t))
                    .with_timezone("UTC"),
            ) as ArrayRef
        };
        columns.push(times());
        columns.push(times());
        RecordBatch::try_new(schema, columns).unwrap()
    }

    #[test]
    fn keeps_the_first_of_each_id_sorted_by_time_then_id() {
        // Few distinct ids and times: many duplicates and many ties.
        let mut seed = 7u64;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let batches: Vec<Vec<(String, i64)>> = (0..4)
            .map(|_| {
                (0..300)
                    .map(|_| (format!("m{}", next(500)), next(40) as i64))
                    .collect()
            })
            .collect();
        let arrow: Vec<RecordBatch> = batches
            .iter()
            .enumerate()
            .map(|(b, rows)| pages(b, rows))
            .collect();

        // The model: first occurrence in (existing, incoming) order wins,
        // then a stable sort by (time, id).
        let mut seen = HashSet::new();
        let mut expected: Vec<(i64, String, String)> = Vec::new();
        for (b, rows) in batches.iter().enumerate() {
            for (r, (id, time)) in rows.iter().enumerate() {
                if seen.insert(id.clone()) {
                    expected.push((*time, id.clone(), format!("b{b}r{r}")));
                }
            }
        }
        expected.sort();

        let merged = merge_dedup(&PAGES, &arrow[..1], &arrow[1..]).unwrap();
        assert_eq!(merged.duplicates as usize, 1200 - expected.len());
        let batch = merged.batch;
        let ids = batch.column(0).as_string::<i32>();
        let origins = batch.column(1).as_string::<i32>();
        let times = batch.column(9).as_primitive::<TimestampMicrosecondType>();
        let got: Vec<(i64, String, String)> = (0..batch.num_rows())
            .map(|i| {
                (
                    times.value(i),
                    ids.value(i).to_string(),
                    origins.value(i).to_string(),
                )
            })
            .collect();
        assert_eq!(got, expected);
        assert_eq!(batch.schema(), PAGES.file_schema());

        // One batch alone takes the single-batch path to the same answer.
        let alone = merge_dedup(&PAGES, &[], &arrow[..1]).unwrap();
        let mut first: Vec<(i64, String)> = Vec::new();
        let mut seen = HashSet::new();
        for (id, time) in &batches[0] {
            if seen.insert(id) {
                first.push((*time, id.clone()));
            }
        }
        first.sort();
        let ids = alone.batch.column(0).as_string::<i32>();
        let times = alone
            .batch
            .column(9)
            .as_primitive::<TimestampMicrosecondType>();
        let got: Vec<(i64, String)> = (0..alone.batch.num_rows())
            .map(|i| (times.value(i), ids.value(i).to_string()))
            .collect();
        assert_eq!(got, first);
    }
}
