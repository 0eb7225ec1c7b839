//! `MIN`, `MAX`, `FIRST_VALUE`, `LAST_VALUE`: one value per group, of the
//! input's type, over primitives (numeric and temporal) and strings.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayAccessor, ArrayRef, AsArray, BooleanArray, LargeStringArray, StringArray,
    StringViewArray,
};
use arrow::datatypes::*;

use super::prim::PrimitiveAccumulator;
use super::{
    check_batch, required, row_mask, seen_to_nulls, state_columns, wrong_type, AggKind,
    GroupsAccumulator,
};
use crate::dispatch_types::with_primitive_type;
use crate::error::{KernelError, Result};

/// Whether `MIN`, `MAX`, `FIRST_VALUE` and `LAST_VALUE` support this type.
pub(super) fn supports(data_type: &DataType) -> bool {
    // primitives: whether `with_primitive_type!` has an arm, so `create` agrees
    fn has_arm<T: ArrowPrimitiveType>() -> bool {
        T::DATA_TYPE.is_primitive()
    }
    let string = matches!(
        data_type,
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    string || with_primitive_type!(data_type, T => has_arm::<T>(), else false)
}

/// The accumulator for `kind` (one of `Min`, `Max`, `First`, `Last`) over `input`.
pub(super) fn create(kind: AggKind, input: &DataType) -> Result<Box<dyn GroupsAccumulator>> {
    match input {
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => {
            Ok(Box::new(StringAccumulator::new(kind, input)))
        }
        _ => with_primitive_type!(
            input,
            T => Ok(primitive::<T>(kind, input)),
            else Err(KernelError::unsupported(kind.sql_name(), input))
        ),
    }
}

/// A primitive accumulator for `kind` whose state and output are `T`.
fn primitive<T: ArrowPrimitiveType>(kind: AggKind, input: &DataType) -> Box<dyn GroupsAccumulator> {
    fn boxed<T, F>(
        kind: AggKind,
        input: &DataType,
        init: T::Native,
        op: F,
    ) -> Box<dyn GroupsAccumulator>
    where
        T: ArrowPrimitiveType,
        F: Fn(&mut T::Native, bool, T::Native) + Copy + Send + 'static,
    {
        Box::new(PrimitiveAccumulator::<T, T, F, F>::new(
            kind.sql_name(),
            input,
            input.clone(),
            init,
            op,
            op,
        ))
    }
    // Min and Max start from the extreme of the total order, so the first value
    // needs no special case and the loop stays branch-light (a compare and move).
    match kind {
        AggKind::Min => boxed::<T, _>(kind, input, T::Native::MAX_TOTAL_ORDER, |a, _, v| {
            if v.is_lt(*a) {
                *a = v;
            }
        }),
        AggKind::Max => boxed::<T, _>(kind, input, T::Native::MIN_TOTAL_ORDER, |a, _, v| {
            if v.is_gt(*a) {
                *a = v;
            }
        }),
        AggKind::First => boxed::<T, _>(kind, input, T::Native::ZERO, |a, seen, v| {
            if !seen {
                *a = v;
            }
        }),
        _ => boxed::<T, _>(kind, input, T::Native::ZERO, |a, _, v| *a = v),
    }
}

/// `MIN`/`MAX`/`FIRST_VALUE`/`LAST_VALUE` over `Utf8`, `LargeUtf8` or `Utf8View`.
///
/// One `String` per group, reused: replacing a value copies into the existing
/// allocation.
#[derive(Debug)]
struct StringAccumulator {
    kind: AggKind,
    data_type: DataType,
    values: Vec<String>,
    seen: Vec<bool>,
    /// Sum of the strings' capacities, kept current for `size_bytes`.
    heap_bytes: usize,
}

impl StringAccumulator {
    fn new(kind: AggKind, data_type: &DataType) -> Self {
        Self {
            kind,
            data_type: data_type.clone(),
            values: Vec::new(),
            seen: Vec::new(),
            heap_bytes: 0,
        }
    }

    fn resize(&mut self, total_num_groups: usize) {
        if total_num_groups > self.values.len() {
            self.values.resize(total_num_groups, String::new());
            self.seen.resize(total_num_groups, false);
        }
    }

    #[inline]
    fn apply(&mut self, group: usize, v: &str) {
        let seen = self.seen[group];
        let current = &mut self.values[group];
        let replace = match self.kind {
            AggKind::Min => !seen || v < current.as_str(),
            AggKind::Max => !seen || v > current.as_str(),
            AggKind::First => !seen,
            _ => true,
        };
        if replace {
            let before = current.capacity();
            current.clear();
            current.push_str(v);
            self.heap_bytes += current.capacity() - before;
            self.seen[group] = true;
        }
    }

    fn fold<'a, A>(&mut self, array: A, group_ids: &[u32], opt_filter: Option<&BooleanArray>)
    where
        A: ArrayAccessor<Item = &'a str>,
    {
        match row_mask(array.nulls(), opt_filter) {
            None => {
                for (i, &g) in group_ids.iter().enumerate() {
                    self.apply(g as usize, array.value(i));
                }
            }
            Some(mask) => {
                for i in mask.set_indices() {
                    self.apply(group_ids[i] as usize, array.value(i));
                }
            }
        }
    }

    fn fold_array(
        &mut self,
        values: &ArrayRef,
        group_ids: &[u32],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let name = self.kind.sql_name();
        if values.data_type() != &self.data_type {
            return Err(wrong_type(name, &self.data_type, values.data_type()));
        }
        check_batch(
            name,
            Some(values.len()),
            group_ids,
            opt_filter,
            total_num_groups,
        )?;
        self.resize(total_num_groups);
        match values.data_type() {
            DataType::Utf8 => self.fold(values.as_string::<i32>(), group_ids, opt_filter),
            DataType::LargeUtf8 => self.fold(values.as_string::<i64>(), group_ids, opt_filter),
            _ => self.fold(values.as_string_view(), group_ids, opt_filter),
        }
        Ok(())
    }

    fn take_array(&mut self) -> ArrayRef {
        let values = std::mem::take(&mut self.values);
        let seen = std::mem::take(&mut self.seen);
        self.heap_bytes = 0;
        let nulls = seen_to_nulls(&seen);
        let iter = values.iter().enumerate().map(|(i, s)| {
            nulls
                .as_ref()
                .is_none_or(|n| n.is_valid(i))
                .then_some(s.as_str())
        });
        match self.data_type {
            DataType::Utf8 => Arc::new(iter.collect::<StringArray>()),
            DataType::LargeUtf8 => Arc::new(iter.collect::<LargeStringArray>()),
            _ => Arc::new(iter.collect::<StringViewArray>()),
        }
    }
}

impl GroupsAccumulator for StringAccumulator {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        group_ids: &[u32],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = required(self.kind.sql_name(), values)?;
        self.fold_array(values, group_ids, opt_filter, total_num_groups)
    }

    fn evaluate(&mut self) -> Result<ArrayRef> {
        Ok(self.take_array())
    }

    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.take_array()])
    }

    fn merge_batch(
        &mut self,
        states: &[ArrayRef],
        group_ids: &[u32],
        total_num_groups: usize,
    ) -> Result<()> {
        let [state] = state_columns(self.kind.sql_name(), states)?;
        // the state is a column of values: merging is folding them in order
        self.fold_array(state, group_ids, None, total_num_groups)
    }

    fn size_bytes(&self) -> usize {
        self.values.capacity() * size_of::<String>() + self.seen.capacity() + self.heap_bytes
    }
}
