//! `percentile_cont(p) WITHIN GROUP (ORDER BY x)`, exact (METRICS.md:
//! linear interpolation between the closest ranks, over DOUBLE values).
//!
//! DataFusion 55's own `percentile_cont` quantizes the interpolation weight
//! to 1e-6 (truncating), so a p90 of 19.2 came out 19.199999. This one takes
//! the same name and syntax in the metric sessions. It also computes the rank
//! p·(n−1) in integers from p's decimal form (0.9 = 9/10): the float product
//! 0.9·7 = 6.2999999999999998 would otherwise put a weight of
//! 0.2999999999999998 (not 0.3) into the interpolation.

use std::sync::Arc;

use datafusion::arrow::array::{Array, ArrayRef, AsArray, BooleanArray, Float64Array, ListArray};
use datafusion::arrow::buffer::OffsetBuffer;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Float64Type};
use datafusion::common::types::{NativeType, logical_float64};
use datafusion::common::{Result, ScalarValue, not_impl_err, plan_err};
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::utils::format_state_name;
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, Coercion, EmitTo, GroupsAccumulator, Signature,
    TypeSignatureClass, Volatility,
};
use datafusion::physical_expr::expressions::Literal;

/// The aggregate, to register in a session (it replaces DataFusion's).
pub fn percentile_cont_udaf() -> AggregateUDF {
    let double = || {
        Coercion::new_implicit(
            TypeSignatureClass::Native(logical_float64()),
            vec![TypeSignatureClass::Numeric],
            NativeType::Float64,
        )
    };
    AggregateUDF::new_from_impl(ExactPercentileCont {
        signature: Signature::coercible(vec![double(), double()], Volatility::Immutable),
        aliases: vec!["quantile_cont".to_string()],
    })
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct ExactPercentileCont {
    signature: Signature,
    aliases: Vec<String>,
}

/// A percentile p as the exact fraction num / den of its shortest decimal
/// form (the one Rust prints, which reads back as the same f64).
#[derive(Debug, Clone, Copy, PartialEq)]
struct Fraction {
    num: u128,
    den: u128,
}

/// More decimals would overflow num·(n−1) in u128 for n up to 2^64.
const MAX_DECIMALS: usize = 18;

impl Fraction {
    fn of(p: f64) -> Result<Self> {
        if !(0.0..=1.0).contains(&p) {
            return plan_err!("percentile_cont: the percentile must be in [0, 1], not {p}");
        }
        // f64's Display is the shortest round-trip decimal, never exponent form.
        let text = p.to_string();
        let (int, decimals) = text.split_once('.').unwrap_or((&text, ""));
        if decimals.len() > MAX_DECIMALS {
            return plan_err!(
                "percentile_cont: write the percentile {p} with at most {MAX_DECIMALS} decimals"
            );
        }
        let den = 10u128.pow(decimals.len() as u32);
        let digits = |s: &str| s.parse::<u128>().unwrap_or(0);
        Ok(Self {
            num: digits(int) * den + digits(decimals),
            den,
        })
    }

    /// 1 − p: the percentile an ascending order gives for a descending one.
    fn complement(self) -> Self {
        Self {
            num: self.den - self.num,
            den: self.den,
        }
    }
}

/// The exact percentile of `values` (reordered in place); None when empty.
fn percentile(values: &mut [f64], p: Fraction) -> Option<f64> {
    let last = values.len().checked_sub(1)?;
    let rank = p.num * last as u128;
    let lower = (rank / p.den) as usize;
    let remainder = rank % p.den;
    let (_, low, above) = values.select_nth_unstable_by(lower, f64::total_cmp);
    let low = *low;
    if remainder == 0 {
        return Some(low);
    }
    // The next rank up is the smallest value above `lower`'s partition.
    let high = above.iter().copied().min_by(f64::total_cmp)?;
    let weight = remainder as f64 / p.den as f64;
    Some(low + (high - low) * weight)
}

fn percentile_arg(args: &AccumulatorArgs) -> Result<Fraction> {
    if args.is_distinct {
        return not_impl_err!("percentile_cont(DISTINCT …) is not supported");
    }
    let literal = args.exprs.get(1).and_then(|e| e.downcast_ref::<Literal>());
    let p = match literal.map(Literal::value) {
        Some(ScalarValue::Float64(Some(p))) => *p,
        _ => return plan_err!("percentile_cont: the percentile must be a constant number"),
    };
    let p = Fraction::of(p)?;
    let descending = args.order_bys.first().is_some_and(|s| s.options.descending);
    Ok(if descending { p.complement() } else { p })
}

fn list_of_doubles() -> DataType {
    DataType::List(Arc::new(Field::new_list_field(DataType::Float64, true)))
}

impl AggregateUDFImpl for ExactPercentileCont {
    fn name(&self) -> &str {
        "percentile_cont"
    }

    fn aliases(&self) -> &[String] {
        &self.aliases
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Float64)
    }

    fn state_fields(&self, args: StateFieldsArgs) -> Result<Vec<FieldRef>> {
        Ok(vec![Arc::new(Field::new(
            format_state_name(args.name, "percentile_cont"),
            list_of_doubles(),
            true,
        ))])
    }

    fn accumulator(&self, args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(PercentileRow {
            p: percentile_arg(&args)?,
            values: Vec::new(),
        }))
    }

    fn groups_accumulator_supported(&self, _args: AccumulatorArgs) -> bool {
        true
    }

    fn create_groups_accumulator(
        &self,
        args: AccumulatorArgs,
    ) -> Result<Box<dyn GroupsAccumulator>> {
        Ok(Box::new(PercentileGroups {
            p: percentile_arg(&args)?,
            groups: Vec::new(),
        }))
    }

    fn supports_within_group_clause(&self) -> bool {
        true
    }
}

/// Each group's values as one list row (the partial state).
fn state_array(groups: &[Vec<f64>]) -> ArrayRef {
    let offsets = OffsetBuffer::from_lengths(groups.iter().map(Vec::len));
    let values = Float64Array::from_iter_values(groups.iter().flatten().copied());
    Arc::new(ListArray::new(
        Arc::new(Field::new_list_field(DataType::Float64, true)),
        offsets,
        Arc::new(values),
        None,
    ))
}

fn extend_from_state(states: &[ArrayRef], row: usize, into: &mut Vec<f64>) {
    let lists = states[0].as_list::<i32>();
    if lists.is_valid(row) {
        into.extend(
            lists
                .value(row)
                .as_primitive::<Float64Type>()
                .iter()
                .flatten(),
        );
    }
}

struct PercentileGroups {
    p: Fraction,
    groups: Vec<Vec<f64>>,
}

impl GroupsAccumulator for PercentileGroups {
    fn update_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        let values = values[0].as_primitive::<Float64Type>();
        for (row, (&group, value)) in group_indices.iter().zip(values).enumerate() {
            let keep = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
            if let (true, Some(value)) = (keep, value) {
                self.groups[group].push(value);
            }
        }
        Ok(())
    }

    fn evaluate(&mut self, emit_to: EmitTo) -> Result<ArrayRef> {
        let mut taken = emit_to.take_needed(&mut self.groups);
        let out: Float64Array = taken
            .iter_mut()
            .map(|values| percentile(values, self.p))
            .collect();
        Ok(Arc::new(out))
    }

    fn state(&mut self, emit_to: EmitTo) -> Result<Vec<ArrayRef>> {
        Ok(vec![state_array(&emit_to.take_needed(&mut self.groups))])
    }

    fn merge_batch(
        &mut self,
        values: &[ArrayRef],
        group_indices: &[usize],
        total_num_groups: usize,
    ) -> Result<()> {
        self.groups.resize_with(total_num_groups, Vec::new);
        for (row, &group) in group_indices.iter().enumerate() {
            extend_from_state(values, row, &mut self.groups[group]);
        }
        Ok(())
    }

    fn convert_to_state(
        &self,
        values: &[ArrayRef],
        opt_filter: Option<&BooleanArray>,
    ) -> Result<Vec<ArrayRef>> {
        let rows: Vec<Vec<f64>> = values[0]
            .as_primitive::<Float64Type>()
            .iter()
            .enumerate()
            .map(|(row, value)| {
                let keep = opt_filter.is_none_or(|f| f.is_valid(row) && f.value(row));
                value.filter(|_| keep).into_iter().collect()
            })
            .collect();
        Ok(vec![state_array(&rows)])
    }

    fn size(&self) -> usize {
        self.groups.capacity() * std::mem::size_of::<Vec<f64>>()
            + self
                .groups
                .iter()
                .map(|g| g.capacity() * std::mem::size_of::<f64>())
                .sum::<usize>()
    }
}

/// The single-group form, for plans without GROUP BY.
#[derive(Debug)]
struct PercentileRow {
    p: Fraction,
    values: Vec<f64>,
}

impl Accumulator for PercentileRow {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = values[0].as_primitive::<Float64Type>();
        self.values.extend(values.iter().flatten());
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Float64(percentile(&mut self.values, self.p)))
    }

    fn size(&self) -> usize {
        std::mem::size_of_val(self) + self.values.capacity() * std::mem::size_of::<f64>()
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        let list = state_array(std::slice::from_ref(&self.values));
        Ok(vec![ScalarValue::List(Arc::new(
            list.as_list::<i32>().clone(),
        ))])
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        for row in 0..states[0].len() {
            extend_from_state(states, row, &mut self.values);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(value: f64) -> Fraction {
        Fraction::of(value).unwrap()
    }

    #[test]
    fn percentiles_are_read_as_their_decimals() {
        assert_eq!(p(0.9), Fraction { num: 9, den: 10 });
        assert_eq!(p(0.25), Fraction { num: 25, den: 100 });
        assert_eq!(p(1.0), Fraction { num: 1, den: 1 });
        assert_eq!(p(0.0), Fraction { num: 0, den: 1 });
        assert_eq!(p(0.9).complement(), Fraction { num: 1, den: 10 });
        assert!(Fraction::of(1.5).is_err());
        assert!(Fraction::of(1e-30).is_err());
    }

    #[test]
    fn interpolation_is_exact_where_float_ranks_and_quantized_weights_are_not() {
        // n = 8: rank 0.9·7 = 6.3 exactly; 4 + (14 − 4)·0.3 = 7. The float
        // rank's weight 0.2999999999999998 gives 6.999999999999998,
        // DataFusion's quantized 0.299999 gives 6.99999.
        let mut values = [14.0, 1.0, 2.0, 2.0, 3.0, 3.0, 4.0, 1.0];
        assert_eq!(percentile(&mut values, p(0.9)), Some(7.0));
        // n = 19: rank 0.9·18 = 16.2; 19 + 0.2 = 19.2 (quantized: 19.199999).
        let mut values: Vec<f64> = (0..16).map(f64::from).chain([19.0, 20.0, 21.0]).collect();
        values.reverse();
        assert_eq!(percentile(&mut values, p(0.9)), Some(19.2));
        assert_eq!(percentile(&mut values, p(0.5)), Some(9.0));
        assert_eq!(percentile(&mut values, p(0.0)), Some(0.0));
        assert_eq!(percentile(&mut values, p(1.0)), Some(21.0));
        assert_eq!(percentile(&mut [5.0], p(0.9)), Some(5.0));
        assert_eq!(percentile(&mut [], p(0.5)), None);
        assert_eq!(percentile(&mut [1.0, 2.0], p(0.5)), Some(1.5));
    }
}
