//! Aggregates that gather each group's rows as `(i64, i64)` pairs and turn
//! them into one value at the end: sessions of a user-day, a user's funnel
//! walk. Both need every event of the group in time order; a
//! `GroupsAccumulator` collects them in one hash-aggregation pass instead of
//! sorting all events (DataFusion's window path sorts the whole input).

use std::fmt::Debug;
use std::hash::Hash;
use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Int64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{Result, ScalarValue};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, EmitTo, GroupsAccumulator, Signature, Volatility,
};

/// What a pair-collecting aggregate does with its rows.
pub trait PairsFinish: Debug + Clone + PartialEq + Eq + Hash + Send + Sync + 'static {
    fn name(&self) -> &'static str;
    fn input_types(&self) -> Vec<DataType>;
    fn output_type(&self) -> DataType;
    /// Each input row as a pair; `None` skips the row.
    fn pairs(&self, values: &[ArrayRef]) -> Result<Vec<Option<(i64, i64)>>>;
    /// One output value per group, in group order (the groups may be
    /// reordered in place).
    fn finish(&self, groups: &mut [Vec<(i64, i64)>]) -> Result<ArrayRef>;
}

/// Builds the SQL aggregate function for `finish`.
pub fn pairs_udaf<F: PairsFinish>(finish: F) -> AggregateUDF {
    let signature = Signature::exact(finish.input_types(), Volatility::Immutable);
    AggregateUDF::new_from_impl(PairsUdaf { finish, signature })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct PairsUdaf<F> {
    finish: F,
    signature: Signature,
}

fn list_of_i64() -> DataType {
    DataType::List(Arc::new(Field::new("item", DataType::Int64, true)))
}

impl<F: PairsFinish> AggregateUDFImpl for PairsUdaf<F> {
    fn name(&self) -> &str {
        self.finish.name()
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(self.finish.output_type())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(PairsRow {
            finish: self.finish.clone(),
            pairs: Vec::new(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(["first", "second"]
            .iter()
            .map(|part| {
                Arc::new(Field::new(
                    format!("{}_{part}", args.name),
                    list_of_i64(),
                    true,
                ))
            })
            .collect())
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        _args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(PairsGroups {
            finish: self.finish.clone(),
            groups: Vec::new(),
        }))
    }
}

/// The partial state of groups: two parallel lists per group.
fn state_arrays(groups: &[Vec<(i64, i64)>]) -> Vec<ArrayRef> {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    let item = Arc::new(Field::new("item", DataType::Int64, true));
    let part = |pick: fn(&(i64, i64)) -> i64| -> ArrayRef {
        let values = Int64Array::from_iter_values(groups.iter().flatten().map(pick));
        Arc::new(ListArray::new(
            Arc::clone(&item),
            offsets.clone(),
            Arc::new(values),
            None,
        ))
    };
    vec![part(|p| p.0), part(|p| p.1)]
}

/// Appends row `row` of a partial state to `into`.
fn merge_state_row(states: &[ArrayRef], row: usize, into: &mut Vec<(i64, i64)>) {
    let (first, second) = (states[0].as_list::<i32>(), states[1].as_list::<i32>());
    if first.is_null(row) {
        return;
    }
    let (a, b) = (first.value(row), second.value(row));
    let (a, b) = (a.as_primitive::<Int64Type>(), b.as_primitive::<Int64Type>());
    into.extend(a.values().iter().copied().zip(b.values().iter().copied()));
}

struct PairsGroups<F> {
    finish: F,
    groups: Vec<Vec<(i64, i64)>>,
}

impl<F: PairsFinish> GroupsAccumulator for PairsGroups<F> {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let pairs = self.finish.pairs(values)?;
        for (row, (&group, pair)) in group_indices.iter().zip(pairs).enumerate() {
            let keep = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if let (true, Some(pair)) = (keep, pair) {
                self.groups[group].push(pair);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut taken = emit_to.take_needed(&mut self.groups);
        self.finish.finish(&mut taken)
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(state_arrays(&emit_to.take_needed(&mut self.groups)))
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        for (row, &group) in group_indices.iter().enumerate() {
            merge_state_row(values, row, &mut self.groups[group]);
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows: Vec<Vec<(i64, i64)>> = self
            .finish
            .pairs(values)?
            .into_iter()
            .enumerate()
            .map(|(row, pair)| {
                let keep = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
                pair.filter(|_| keep).into_iter().collect()
            })
            .collect();
        Ok(state_arrays(&rows))
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Vec<(i64, i64)>>()
            + self
                .groups
                .iter()
                .map(|g| g.capacity() * std::mem::size_of::<(i64, i64)>())
                .sum::<usize>()
    }
}

/// The single-group form, for plans without GROUP BY.
#[derive(Debug)]
struct PairsRow<F> {
    finish: F,
    pairs: Vec<(i64, i64)>,
}

impl<F: PairsFinish> Accumulator for PairsRow<F> {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        self.pairs
            .extend(self.finish.pairs(values)?.into_iter().flatten());
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        let mut groups = [std::mem::take(&mut self.pairs)];
        let array = self.finish.finish(&mut groups)?;
        self.pairs = std::mem::take(&mut groups[0]);
        ScalarValue::try_from_array(&array, 0)
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.pairs.capacity() * std::mem::size_of::<(i64, i64)>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        state_arrays(std::slice::from_ref(&self.pairs))
            .iter()
            .map(|a| ScalarValue::try_from_array(a, 0))
            .collect()
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for row in 0..states[0].len() {
            merge_state_row(states, row, &mut self.pairs);
        }
        Ok(())
    }
}
