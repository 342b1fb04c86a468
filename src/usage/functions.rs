//! The two SQL functions the usage files call, bound to the configuration:
//!
//! - `usage_table(connector_id, database, name)`: the full name of a
//!   `referenced_tables` entry as that connector's warehouse means it.
//! - `usage_products(connector_id, table_name)`: the ids of the space's
//!   products whose tables include it (a list, empty when none).

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, ListBuilder, StringBuilder};
use datafusion::arrow::compute::cast;
use datafusion::arrow::datatypes::{DataType, Field};
use datafusion::common::Result;
use datafusion::logical_expr::{ColumnarValue, ScalarUDF, Volatility, create_udf};
use datafusion::prelude::SessionContext;

use super::Resolver;

pub fn register(ctx: &SessionContext, resolver: Arc<Resolver>) {
    ctx.register_udf(usage_table(Arc::clone(&resolver)));
    ctx.register_udf(usage_products(resolver));
}

/// An argument as a plain string array of `rows` rows.
fn strings(args: &[ColumnarValue], index: usize, rows: usize) -> Result<ArrayRef> {
    let array = match &args[index] {
        ColumnarValue::Array(a) => Arc::clone(a),
        ColumnarValue::Scalar(s) => s.to_array_of_size(rows)?,
    };
    Ok(if array.data_type() == &DataType::Utf8 {
        array
    } else {
        cast(&array, &DataType::Utf8)?
    })
}

fn rows(args: &[ColumnarValue]) -> usize {
    args.iter()
        .find_map(|a| match a {
            ColumnarValue::Array(a) => Some(a.len()),
            ColumnarValue::Scalar(_) => None,
        })
        .unwrap_or(1)
}

fn usage_table(resolver: Arc<Resolver>) -> ScalarUDF {
    create_udf(
        "usage_table",
        vec![DataType::Utf8, DataType::Utf8, DataType::Utf8],
        DataType::Utf8,
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let n = rows(args);
            let (connector, database, name) = (
                strings(args, 0, n)?,
                strings(args, 1, n)?,
                strings(args, 2, n)?,
            );
            let (connector, database, name) = (
                connector.as_string::<i32>(),
                database.as_string::<i32>(),
                name.as_string::<i32>(),
            );
            let mut out = StringBuilder::new();
            for i in 0..n {
                if name.is_null(i) {
                    out.append_null();
                    continue;
                }
                let connector = if connector.is_null(i) {
                    ""
                } else {
                    connector.value(i)
                };
                let database = (!database.is_null(i)).then(|| database.value(i));
                out.append_value(resolver.table(connector, database, name.value(i)));
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        }),
    )
}

fn usage_products(resolver: Arc<Resolver>) -> ScalarUDF {
    create_udf(
        "usage_products",
        vec![DataType::Utf8, DataType::Utf8],
        DataType::List(Arc::new(Field::new("item", DataType::Utf8, true))),
        Volatility::Immutable,
        Arc::new(move |args: &[ColumnarValue]| {
            let n = rows(args);
            let (connector, name) = (strings(args, 0, n)?, strings(args, 1, n)?);
            let (connector, name) = (connector.as_string::<i32>(), name.as_string::<i32>());
            let mut out = ListBuilder::new(StringBuilder::new());
            for i in 0..n {
                if !name.is_null(i) {
                    let connector = if connector.is_null(i) {
                        ""
                    } else {
                        connector.value(i)
                    };
                    for id in resolver.products(connector, name.value(i)) {
                        out.values().append_value(id);
                    }
                }
                out.append(true);
            }
            Ok(ColumnarValue::Array(Arc::new(out.finish())))
        }),
    )
}
