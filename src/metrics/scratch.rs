//! Where daily tables live between their chunks and the metrics.
//!
//! Each chunk's rows of a daily table that a later file reads are appended
//! to an Arrow IPC file in a temporary folder; after the last chunk the
//! files are registered as tables and read back as streams. Memory holds
//! one chunk, whatever the length of the history; the folder goes away
//! with the run.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufWriter;
use std::path::PathBuf;
use std::sync::Arc;

use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::{Field, Schema, SchemaRef};
use datafusion::arrow::ipc::writer::FileWriter;
use datafusion::datasource::file_format::options::ArrowReadOptions;
use datafusion::prelude::SessionContext;

use super::DeriveError;

#[derive(Default)]
pub struct Scratch {
    /// Created on the first append: a run with one chunk never needs it.
    dir: Option<tempfile::TempDir>,
    files: HashMap<String, (PathBuf, FileWriter<BufWriter<File>>)>,
}

impl Scratch {
    /// Appends one chunk's rows of `table`.
    pub fn append(
        &mut self,
        table: &str,
        schema: &SchemaRef,
        batches: &[RecordBatch],
    ) -> Result<(), DeriveError> {
        if !self.files.contains_key(table) {
            if self.dir.is_none() {
                let dir = tempfile::Builder::new()
                    .prefix("usagelake-derive-")
                    .tempdir()
                    .map_err(|e| scratch_error("(folder)", e))?;
                self.dir = Some(dir);
            }
            let dir = self.dir.as_ref().expect("created above");
            let path = dir.path().join(format!("{table}.arrow"));
            let file = File::create(&path).map_err(|e| scratch_error(table, e))?;
            // Nullable everywhere: one chunk's plan may prove a column
            // non-null where another's cannot.
            let schema = Schema::new(
                schema
                    .fields()
                    .iter()
                    .map(|f| Field::new(f.name(), f.data_type().clone(), true))
                    .collect::<Vec<_>>(),
            );
            let writer = FileWriter::try_new(BufWriter::new(file), &schema)
                .map_err(|e| scratch_error(table, e))?;
            self.files.insert(table.to_string(), (path, writer));
        }
        let (_, writer) = self.files.get_mut(table).expect("inserted above");
        let schema = Arc::clone(writer.schema());
        for batch in batches.iter().filter(|b| b.num_rows() > 0) {
            let batch = RecordBatch::try_new(Arc::clone(&schema), batch.columns().to_vec())
                .map_err(|e| scratch_error(table, e))?;
            writer.write(&batch).map_err(|e| scratch_error(table, e))?;
        }
        Ok(())
    }

    /// Closes every file and registers it in `ctx` under its table's name.
    pub async fn register_all(&mut self, ctx: &SessionContext) -> Result<(), DeriveError> {
        for (table, (path, mut writer)) in self.files.drain() {
            writer.finish().map_err(|e| scratch_error(&table, e))?;
            drop(writer);
            let path = path.to_string_lossy().into_owned();
            // Replaces the last chunk's in-memory rows.
            ctx.deregister_table(table.as_str())
                .map_err(|e| scratch_error(&table, e))?;
            ctx.register_arrow(&table, &path, ArrowReadOptions::default())
                .await
                .map_err(|e| scratch_error(&table, e))?;
        }
        Ok(())
    }
}

fn scratch_error(
    table: &str,
    source: impl std::error::Error + Send + Sync + 'static,
) -> DeriveError {
    DeriveError::Scratch {
        table: table.to_string(),
        source: Box::new(source),
    }
}
