//! One generic accumulator for every kind whose state is a single primitive
//! per group: `Sum`, `Min`, `Max`, `First`, `Last` (after DataFusion's
//! `prim_op.rs`).

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, PrimitiveArray};
use arrow::datatypes::{ArrowPrimitiveType, DataType};

use super::{primitive_batch, required, row_mask, seen_to_nulls, state_columns, GroupsAccumulator};
use crate::error::Result;

/// State `O::Native` per group, fed values of `I`.
///
/// `update(acc, seen, value)` folds one input value into a group's slot and
/// `merge(acc, seen, state)` one state value; `seen` tells whether the group
/// had a value before. Both are closures (not `fn` pointers), so they inline
/// into the loops below.
pub(crate) struct PrimitiveAccumulator<I, O, F, M>
where
    I: ArrowPrimitiveType,
    O: ArrowPrimitiveType,
{
    name: &'static str,
    /// The input type (exact, e.g. with a time zone).
    input_type: DataType,
    /// The output and state type (exact, e.g. with a time zone).
    output_type: DataType,
    values: Vec<O::Native>,
    /// Whether each group has seen a non-null value: its output is null if not.
    seen: Vec<bool>,
    /// The value of a group before its first input.
    init: O::Native,
    update: F,
    merge: M,
    _input: PhantomData<fn() -> I>,
}

impl<I, O, F, M> PrimitiveAccumulator<I, O, F, M>
where
    I: ArrowPrimitiveType,
    O: ArrowPrimitiveType,
    F: Fn(&mut O::Native, bool, I::Native) + Send,
    M: Fn(&mut O::Native, bool, O::Native) + Send,
{
    pub(crate) fn new(
        name: &'static str,
        input_type: &DataType,
        output_type: DataType,
        init: O::Native,
        update: F,
        merge: M,
    ) -> Self {
        Self {
            name,
            input_type: input_type.clone(),
            output_type,
            values: Vec::new(),
            seen: Vec::new(),
            init,
            update,
            merge,
            _input: PhantomData,
        }
    }

    fn resize(&mut self, total_num_groups: usize) {
        if total_num_groups > self.values.len() {
            self.values.resize(total_num_groups, self.init);
            self.seen.resize(total_num_groups, false);
        }
    }

    /// Takes the values out as an array, leaving zero groups.
    fn take_array(&mut self) -> ArrayRef {
        let nulls = seen_to_nulls(&self.seen);
        self.seen = Vec::new();
        let values = std::mem::take(&mut self.values);
        Arc::new(
            PrimitiveArray::<O>::new(values.into(), nulls).with_data_type(self.output_type.clone()),
        )
    }
}

/// Folds `values` into `acc`/`seen` by group: the hot loop of every kind.
#[inline]
fn fold<T, N>(
    acc: &mut [N],
    seen: &mut [bool],
    group_ids: &[u32],
    values: &PrimitiveArray<T>,
    opt_filter: Option<&BooleanArray>,
    op: impl Fn(&mut N, bool, T::Native),
) where
    T: ArrowPrimitiveType,
{
    let data = values.values();
    match row_mask(values.nulls(), opt_filter) {
        None => {
            // no nulls, no filter: a straight loop over two slices
            for (&g, &v) in group_ids.iter().zip(data.iter()) {
                let g = g as usize;
                op(&mut acc[g], seen[g], v);
                seen[g] = true;
            }
        }
        Some(mask) => {
            for i in mask.set_indices() {
                let g = group_ids[i] as usize;
                op(&mut acc[g], seen[g], data[i]);
                seen[g] = true;
            }
        }
    }
}

impl<I, O, F, M> GroupsAccumulator for PrimitiveAccumulator<I, O, F, M>
where
    I: ArrowPrimitiveType,
    O: ArrowPrimitiveType,
    F: Fn(&mut O::Native, bool, I::Native) + Send,
    M: Fn(&mut O::Native, bool, O::Native) + Send,
{
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        group_ids: &[u32],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = primitive_batch::<I>(
            self.name,
            &self.input_type,
            required(self.name, values)?,
            group_ids,
            opt_filter,
            total_num_groups,
        )?;
        self.resize(total_num_groups);
        fold(
            &mut self.values,
            &mut self.seen,
            group_ids,
            values,
            opt_filter,
            &self.update,
        );
        Ok(())
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
        let [state] = state_columns(self.name, states)?;
        let state = primitive_batch::<O>(
            self.name,
            &self.output_type,
            state,
            group_ids,
            None,
            total_num_groups,
        )?;
        self.resize(total_num_groups);
        fold(
            &mut self.values,
            &mut self.seen,
            group_ids,
            state,
            None,
            &self.merge,
        );
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.values.capacity() * size_of::<O::Native>() + self.seen.capacity()
    }
}
