//! How our plans cross the wire: Ballista's codecs plus what only we use.
//!
//! - Our SQL functions are built from run parameters (the noise list, the
//!   session gap, …), so no node can hold them in a fixed registry, and our
//!   exact `percentile_cont` has DataFusion's own name. Each is registered
//!   with a recipe alias (its [`SqlFunction`] as JSON); the codec writes
//!   the recipe as the function's definition and rebuilds the function from
//!   it on the scheduler and on every executor. A node without this codec
//!   fails the job with "… is not provided for scalar function …".
//! - In-memory tables (parameter tables, cached and intermediate results)
//!   travel as Arrow IPC inside the plan.

use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};

use ballista_core::serde::{BallistaLogicalExtensionCodec, BallistaPhysicalExtensionCodec};
use datafusion::arrow::array::RecordBatch;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::ipc::reader::StreamReader;
use datafusion::arrow::ipc::writer::StreamWriter;
use datafusion::catalog::{MemTable, TableProvider};
use datafusion::common::{DataFusionError, Result, TableReference};
use datafusion::datasource::file_format::FileFormatFactory;
use datafusion::execution::TaskContext;
use datafusion::logical_expr::{AggregateUDF, Extension, LogicalPlan, ScalarUDF};
use datafusion::physical_plan::ExecutionPlan;
use datafusion_proto::logical_plan::LogicalExtensionCodec;
use datafusion_proto::physical_plan::{PhysicalExtensionCodec, PhysicalProtoConverterExtension};

use crate::metrics::{BuiltFunction, SqlFunction};

/// Marks the alias that carries a function's recipe.
const RECIPE: &str = "usagelake-recipe:";
/// Marks a table provider we encoded (an in-memory table).
const MEM_TABLE: &[u8] = b"usagelake-memtable:";

/// `function` built with its recipe alias.
pub fn shippable(function: &SqlFunction) -> BuiltFunction {
    let recipe = serde_json::to_string(function).expect("recipes serialize");
    let alias = interned(format!("{RECIPE}{recipe}"));
    match function.build() {
        BuiltFunction::Scalar(udf) => BuiltFunction::Scalar(udf.with_aliases([alias])),
        BuiltFunction::Aggregate(udaf) => BuiltFunction::Aggregate(udaf.with_aliases([alias])),
    }
}

/// DataFusion takes aliases as `&'static str`. Each distinct recipe (one
/// per distinct set of run parameters) is kept once per process, so a
/// long-lived executor holds a few, not one per task.
fn interned(text: String) -> &'static str {
    static SEEN: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();
    let mut seen = SEEN
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(known) = seen.get(text.as_str()) {
        return known;
    }
    let leaked: &'static str = Box::leak(text.into_boxed_str());
    seen.insert(leaked);
    leaked
}

fn recipe_of(aliases: &[String]) -> Option<&str> {
    aliases.iter().find_map(|a| a.strip_prefix(RECIPE))
}

fn rebuild(name: &str, buf: &[u8]) -> Result<BuiltFunction> {
    let function: SqlFunction = serde_json::from_slice(buf).map_err(|e| {
        DataFusionError::Plan(format!(
            "function {name}: its recipe does not parse ({e}); the client and this node run different usagelake versions"
        ))
    })?;
    Ok(shippable(&function))
}

/// A function's recipe, or nothing for a function of DataFusion's (every
/// node has those).
fn encode_function(aliases: &[String], buf: &mut Vec<u8>) {
    if let Some(recipe) = recipe_of(aliases) {
        buf.extend_from_slice(recipe.as_bytes());
    }
}

fn decode_udf(name: &str, buf: &[u8]) -> Result<Option<Arc<ScalarUDF>>> {
    if buf.is_empty() {
        return Ok(None);
    }
    match rebuild(name, buf)? {
        BuiltFunction::Scalar(udf) => Ok(Some(Arc::new(udf))),
        BuiltFunction::Aggregate(_) => Err(DataFusionError::Plan(format!(
            "function {name}: the recipe is of an aggregate, the plan calls a scalar function"
        ))),
    }
}

fn decode_udaf(name: &str, buf: &[u8]) -> Result<Option<Arc<AggregateUDF>>> {
    if buf.is_empty() {
        return Ok(None);
    }
    match rebuild(name, buf)? {
        BuiltFunction::Aggregate(udaf) => Ok(Some(Arc::new(udaf))),
        BuiltFunction::Scalar(_) => Err(DataFusionError::Plan(format!(
            "function {name}: the recipe is of a scalar function, the plan calls an aggregate"
        ))),
    }
}

/// The function methods of both codecs (the two traits declare the same
/// four): our recipe when the function has one, else Ballista's codec in
/// `self.inner`.
macro_rules! function_methods {
    () => {
        fn try_decode_udf(&self, name: &str, buf: &[u8]) -> Result<Arc<ScalarUDF>> {
            match decode_udf(name, buf)? {
                Some(udf) => Ok(udf),
                None => self.inner.try_decode_udf(name, buf),
            }
        }

        fn try_encode_udf(&self, node: &ScalarUDF, buf: &mut Vec<u8>) -> Result<()> {
            encode_function(node.aliases(), buf);
            Ok(())
        }

        fn try_decode_udaf(&self, name: &str, buf: &[u8]) -> Result<Arc<AggregateUDF>> {
            match decode_udaf(name, buf)? {
                Some(udaf) => Ok(udaf),
                None => self.inner.try_decode_udaf(name, buf),
            }
        }

        fn try_encode_udaf(&self, node: &AggregateUDF, buf: &mut Vec<u8>) -> Result<()> {
            encode_function(node.aliases(), buf);
            Ok(())
        }
    };
}

/// One IPC stream of every partition's batches (our in-memory tables have
/// one partition; more are kept, as one).
fn encode_mem_table(table: &MemTable, buf: &mut Vec<u8>) -> Result<()> {
    let schema = table.schema();
    let mut batches: Vec<RecordBatch> = Vec::new();
    for partition in &table.batches {
        let guard = partition.try_read().map_err(|_| {
            DataFusionError::Internal("an in-memory table is being written while sent".into())
        })?;
        batches.extend(guard.iter().cloned());
    }
    buf.extend_from_slice(MEM_TABLE);
    let mut writer = StreamWriter::try_new(&mut *buf, &schema)?;
    for batch in &batches {
        writer.write(batch)?;
    }
    writer.finish()?;
    Ok(())
}

fn decode_mem_table(bytes: &[u8]) -> Result<Arc<dyn TableProvider>> {
    let reader = StreamReader::try_new(bytes, None)?;
    let schema: SchemaRef = reader.schema();
    let batches = reader.collect::<Result<Vec<_>, _>>()?;
    Ok(Arc::new(MemTable::try_new(schema, vec![batches])?))
}

/// Ballista's logical codec plus our functions and in-memory tables.
#[derive(Debug, Default)]
pub struct LogicalCodec {
    inner: BallistaLogicalExtensionCodec,
}

impl LogicalExtensionCodec for LogicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[LogicalPlan],
        ctx: &TaskContext,
    ) -> Result<Extension> {
        self.inner.try_decode(buf, inputs, ctx)
    }

    fn try_encode(&self, node: &Extension, buf: &mut Vec<u8>) -> Result<()> {
        self.inner.try_encode(node, buf)
    }

    fn try_decode_table_provider(
        &self,
        buf: &[u8],
        table_ref: &TableReference,
        schema: SchemaRef,
        ctx: &TaskContext,
    ) -> Result<Arc<dyn TableProvider>> {
        match buf.strip_prefix(MEM_TABLE) {
            Some(ipc) => decode_mem_table(ipc),
            None => self
                .inner
                .try_decode_table_provider(buf, table_ref, schema, ctx),
        }
    }

    fn try_encode_table_provider(
        &self,
        table_ref: &TableReference,
        node: Arc<dyn TableProvider>,
        buf: &mut Vec<u8>,
    ) -> Result<()> {
        match node.downcast_ref::<MemTable>() {
            Some(table) => encode_mem_table(table, buf),
            None => self.inner.try_encode_table_provider(table_ref, node, buf),
        }
    }

    fn try_decode_file_format(
        &self,
        buf: &[u8],
        ctx: &TaskContext,
    ) -> Result<Arc<dyn FileFormatFactory>> {
        self.inner.try_decode_file_format(buf, ctx)
    }

    fn try_encode_file_format(
        &self,
        buf: &mut Vec<u8>,
        node: Arc<dyn FileFormatFactory>,
    ) -> Result<()> {
        self.inner.try_encode_file_format(buf, node)
    }

    function_methods!();
}

/// Ballista's physical codec plus our functions (in-memory tables are
/// DataFusion's own `MemoryScan` by then).
#[derive(Debug, Default)]
pub struct PhysicalCodec {
    inner: BallistaPhysicalExtensionCodec,
}

impl PhysicalExtensionCodec for PhysicalCodec {
    fn try_decode(
        &self,
        buf: &[u8],
        inputs: &[Arc<dyn ExecutionPlan>],
        ctx: &TaskContext,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<Arc<dyn ExecutionPlan>> {
        self.inner.try_decode(buf, inputs, ctx, proto_converter)
    }

    fn try_encode(
        &self,
        node: Arc<dyn ExecutionPlan>,
        buf: &mut Vec<u8>,
        proto_converter: &dyn PhysicalProtoConverterExtension,
    ) -> Result<()> {
        self.inner.try_encode(node, buf, proto_converter)
    }

    function_methods!();
}

#[cfg(test)]
mod tests {
    use super::*;
    use datafusion::arrow::array::{Int64Array, StringArray};
    use datafusion::arrow::datatypes::{DataType, Field, Schema};

    #[test]
    fn functions_come_back_from_their_recipes() {
        let function = SqlFunction::IsNoise {
            events: vec!["ping".into()],
            prefixes: vec!["web_vital_".into()],
        };
        let BuiltFunction::Scalar(udf) = shippable(&function) else {
            panic!("is_noise is scalar")
        };
        let mut buf = Vec::new();
        LogicalCodec::default()
            .try_encode_udf(&udf, &mut buf)
            .unwrap();
        assert_eq!(
            String::from_utf8(buf.clone()).unwrap(),
            r#"{"function":"is_noise","events":["ping"],"prefixes":["web_vital_"]}"#
        );
        let back = PhysicalCodec::default()
            .try_decode_udf("is_noise", &buf)
            .unwrap();
        assert_eq!(back.name(), "is_noise");
        assert_eq!(back.aliases(), udf.aliases());
        // Without a recipe (a function of DataFusion's), Ballista's codec answers.
        let err = PhysicalCodec::default()
            .try_decode_udf("nope", &[])
            .unwrap_err();
        assert!(err.to_string().contains("nope"), "{err}");
        let err = LogicalCodec::default()
            .try_decode_udaf("is_noise", &buf)
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "Error during planning: function is_noise: the recipe is of a scalar function, the plan calls an aggregate"
        );
    }

    #[test]
    fn in_memory_tables_travel_as_ipc() {
        let schema = Arc::new(Schema::new(vec![
            Field::new("area", DataType::Utf8, false),
            Field::new("area_order", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            Arc::clone(&schema),
            vec![
                Arc::new(StringArray::from(vec!["Discovery", "Lineage"])),
                Arc::new(Int64Array::from(vec![1, 2])),
            ],
        )
        .unwrap();
        let table =
            Arc::new(MemTable::try_new(Arc::clone(&schema), vec![vec![batch.clone()]]).unwrap());
        let codec = LogicalCodec::default();
        let mut buf = Vec::new();
        codec
            .try_encode_table_provider(&TableReference::bare("feature_areas"), table, &mut buf)
            .unwrap();
        let back = codec
            .try_decode_table_provider(
                &buf,
                &TableReference::bare("feature_areas"),
                Arc::clone(&schema),
                &TaskContext::default(),
            )
            .unwrap();
        let back = back.downcast_ref::<MemTable>().expect("a MemTable");
        assert_eq!(back.schema(), schema);
        let rows = back.batches[0].try_read().unwrap().clone();
        assert_eq!(rows, vec![batch]);
    }
}
