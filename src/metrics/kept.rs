//! State a derive run keeps for the next one under `_usagelake/derive/`:
//! one Parquet object per piece, rows in a fixed schema and, in its
//! key-value metadata (under a key naming the kind of state), a JSON
//! description of what the rows were folded from. Rows and description are one object, written in one put, so a
//! reader never sees one without the other.

use datafusion::arrow::array::{ArrayRef, RecordBatch};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::SchemaRef;
use parquet::arrow::ArrowWriter;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::DeriveError;
use crate::lake::{Lake, LakeError};

/// `batch`'s columns named like `schema`'s, cast to its types.
pub(super) fn conform(batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch, LakeError> {
    let columns = schema
        .fields()
        .iter()
        .map(|field| {
            let column = batch.column_by_name(field.name()).ok_or_else(|| {
                LakeError::DataFusion(datafusion::error::DataFusionError::Plan(format!(
                    "kept state has no column {}",
                    field.name()
                )))
            })?;
            cast(column, field.data_type()).map_err(|e| LakeError::DataFusion(e.into()))
        })
        .collect::<Result<Vec<ArrayRef>, _>>()?;
    RecordBatch::try_new(schema.clone(), columns).map_err(|e| LakeError::DataFusion(e.into()))
}

/// The kept object `name` (under `_usagelake/`) as its description and
/// rows in `schema`, or `None` when there is none or it cannot be read:
/// that only costs computing its rows again, so it is a warning.
pub(super) async fn read<M: DeserializeOwned>(
    lake: &Lake,
    name: &str,
    key: &str,
    schema: &SchemaRef,
) -> Result<Option<(M, Vec<RecordBatch>)>, DeriveError> {
    let path = lake.meta_path(name);
    let Some(bytes) = lake.read_meta(&path).await? else {
        return Ok(None);
    };
    let parsed = (|| -> Result<(M, Vec<RecordBatch>), String> {
        let builder = ParquetRecordBatchReaderBuilder::try_new(bytes).map_err(|e| e.to_string())?;
        let text = builder
            .metadata()
            .file_metadata()
            .key_value_metadata()
            .and_then(|kv| kv.iter().find(|e| e.key == key))
            .and_then(|e| e.value.clone())
            .ok_or_else(|| format!("no {key} entry"))?;
        let meta: M = serde_json::from_str(&text).map_err(|e| e.to_string())?;
        let batches = builder
            .build()
            .map_err(|e| e.to_string())?
            .map(|b| {
                b.map_err(|e| e.to_string())
                    .and_then(|b| conform(&b, schema).map_err(|e| e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok((meta, batches))
    })();
    match parsed {
        Ok(kept) => Ok(Some(kept)),
        Err(e) => {
            tracing::warn!("{path} is not kept derive state ({e}); computing its rows again");
            Ok(None)
        }
    }
}

/// Replaces the kept object `name` with `batches` (conformed to `schema`)
/// described by `meta` under `key`.
pub(super) async fn write<M: Serialize>(
    lake: &Lake,
    name: &str,
    key: &str,
    meta: &M,
    schema: &SchemaRef,
    batches: &[RecordBatch],
) -> Result<(), DeriveError> {
    let properties = WriterProperties::builder()
        .set_key_value_metadata(Some(vec![KeyValue::new(
            key.to_string(),
            serde_json::to_string(meta).expect("kept state metadata serializes"),
        )]))
        .build();
    let parquet =
        |e: parquet::errors::ParquetError| DeriveError::Lake(LakeError::DataFusion(e.into()));
    let mut body = Vec::new();
    let mut writer =
        ArrowWriter::try_new(&mut body, schema.clone(), Some(properties)).map_err(parquet)?;
    for batch in batches {
        writer.write(&conform(batch, schema)?).map_err(parquet)?;
    }
    writer.close().map_err(parquet)?;
    Ok(lake.write_meta(&lake.meta_path(name), body).await?)
}
