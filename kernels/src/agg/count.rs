//! `COUNT(*)` and `COUNT(x)`: an `i64` per group, never null.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, Int64Array};
use arrow::datatypes::{DataType, Int64Type};

use super::{check_batch, primitive_batch, required, row_mask, state_columns, GroupsAccumulator};
use crate::error::Result;

/// Counts rows (`COUNT(*)`) or non-null values (`COUNT(x)`) per group.
#[derive(Debug)]
pub(crate) struct CountAccumulator {
    counts: Vec<i64>,
    /// `COUNT(x)` rather than `COUNT(*)`.
    non_null: bool,
}

impl CountAccumulator {
    pub(crate) fn new(non_null: bool) -> Self {
        Self {
            counts: Vec::new(),
            non_null,
        }
    }

    fn resize(&mut self, total_num_groups: usize) {
        if total_num_groups > self.counts.len() {
            self.counts.resize(total_num_groups, 0);
        }
    }

    fn take_array(&mut self) -> ArrayRef {
        Arc::new(Int64Array::from(std::mem::take(&mut self.counts)))
    }
}

impl GroupsAccumulator for CountAccumulator {
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        group_ids: &[u32],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let nulls = if self.non_null {
            let values = required("COUNT", values)?;
            check_batch(
                "COUNT",
                Some(values.len()),
                group_ids,
                opt_filter,
                total_num_groups,
            )?;
            values.logical_nulls()
        } else {
            check_batch("COUNT", None, group_ids, opt_filter, total_num_groups)?;
            None
        };
        self.resize(total_num_groups);
        match row_mask(nulls.as_ref(), opt_filter) {
            None => {
                for &g in group_ids {
                    self.counts[g as usize] += 1;
                }
            }
            Some(mask) => {
                for i in mask.set_indices() {
                    self.counts[group_ids[i] as usize] += 1;
                }
            }
        }
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
        let [state] = state_columns("COUNT", states)?;
        let state = primitive_batch::<Int64Type>(
            "COUNT",
            &DataType::Int64,
            state,
            group_ids,
            None,
            total_num_groups,
        )?;
        self.resize(total_num_groups);
        let partial = state.values();
        match row_mask(state.nulls(), None) {
            None => {
                for (&g, &c) in group_ids.iter().zip(partial.iter()) {
                    self.counts[g as usize] += c;
                }
            }
            Some(mask) => {
                for i in mask.set_indices() {
                    self.counts[group_ids[i] as usize] += partial[i];
                }
            }
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.counts.capacity() * size_of::<i64>()
    }
}
