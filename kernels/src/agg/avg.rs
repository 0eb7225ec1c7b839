//! `AVG`: a sum and a count per group.
//!
//! As Flink: the average of an integer type is that integer type, computed as
//! `sum / count` with truncating division on a wrapping 64-bit sum (Java
//! `long`), then narrowed; the average of a float is a `Float64`.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowNativeTypeOp, AsArray, BooleanArray, Int64Array, PrimitiveArray,
};
use arrow::buffer::NullBuffer;
use arrow::datatypes::*;

use super::{
    check_batch, primitive_batch, required, row_mask, state_columns, wrong_type, GroupsAccumulator,
};
use crate::error::{KernelError, Result};

/// Sums of `S` and counts per group, over input `I`, finishing to `O`.
struct AvgAccumulator<I, S, O, C, D>
where
    S: ArrowPrimitiveType,
{
    input_type: DataType,
    sum_type: DataType,
    output_type: DataType,
    sums: Vec<S::Native>,
    counts: Vec<i64>,
    /// Widens an input value to the sum type.
    widen: C,
    /// `sum / count`, for `count > 0`.
    finish: D,
    _types: PhantomData<fn() -> (I, O)>,
}

impl<I, S, O, C, D> AvgAccumulator<I, S, O, C, D>
where
    I: ArrowPrimitiveType,
    S: ArrowPrimitiveType,
    O: ArrowPrimitiveType,
    C: Fn(I::Native) -> S::Native + Send,
    D: Fn(S::Native, i64) -> O::Native + Send,
{
    fn new(
        input_type: &DataType,
        sum_type: DataType,
        output_type: DataType,
        widen: C,
        finish: D,
    ) -> Self {
        Self {
            input_type: input_type.clone(),
            sum_type,
            output_type,
            sums: Vec::new(),
            counts: Vec::new(),
            widen,
            finish,
            _types: PhantomData,
        }
    }

    fn resize(&mut self, total_num_groups: usize) {
        if total_num_groups > self.sums.len() {
            self.sums.resize(total_num_groups, S::Native::ZERO);
            self.counts.resize(total_num_groups, 0);
        }
    }

    /// Null for groups without values, else non-null.
    fn count_nulls(&self) -> Option<NullBuffer> {
        if self.counts.iter().all(|&c| c > 0) {
            None
        } else {
            Some(self.counts.iter().map(|&c| c > 0).collect())
        }
    }
}

impl<I, S, O, C, D> GroupsAccumulator for AvgAccumulator<I, S, O, C, D>
where
    I: ArrowPrimitiveType,
    S: ArrowPrimitiveType,
    O: ArrowPrimitiveType,
    C: Fn(I::Native) -> S::Native + Send,
    D: Fn(S::Native, i64) -> O::Native + Send,
{
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        group_ids: &[u32],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()> {
        let values = primitive_batch::<I>(
            "AVG",
            &self.input_type,
            required("AVG", values)?,
            group_ids,
            opt_filter,
            total_num_groups,
        )?;
        self.resize(total_num_groups);
        let data = values.values();
        match row_mask(values.nulls(), opt_filter) {
            None => {
                for (&g, &v) in group_ids.iter().zip(data.iter()) {
                    let g = g as usize;
                    self.sums[g] = self.sums[g].add_wrapping((self.widen)(v));
                    self.counts[g] += 1;
                }
            }
            Some(mask) => {
                for i in mask.set_indices() {
                    let g = group_ids[i] as usize;
                    self.sums[g] = self.sums[g].add_wrapping((self.widen)(data[i]));
                    self.counts[g] += 1;
                }
            }
        }
        Ok(())
    }

    fn evaluate(&mut self) -> Result<ArrayRef> {
        let nulls = self.count_nulls();
        let sums = std::mem::take(&mut self.sums);
        let counts = std::mem::take(&mut self.counts);
        let values: Vec<O::Native> = sums
            .iter()
            .zip(&counts)
            .map(|(&s, &c)| {
                if c > 0 {
                    (self.finish)(s, c)
                } else {
                    O::Native::ZERO
                }
            })
            .collect();
        Ok(Arc::new(
            PrimitiveArray::<O>::new(values.into(), nulls).with_data_type(self.output_type.clone()),
        ))
    }

    fn state(&mut self) -> Result<Vec<ArrayRef>> {
        let sums = std::mem::take(&mut self.sums);
        let counts = std::mem::take(&mut self.counts);
        let sums =
            PrimitiveArray::<S>::new(sums.into(), None).with_data_type(self.sum_type.clone());
        Ok(vec![Arc::new(sums), Arc::new(Int64Array::from(counts))])
    }

    fn merge_batch(
        &mut self,
        states: &[ArrayRef],
        group_ids: &[u32],
        total_num_groups: usize,
    ) -> Result<()> {
        let [sums, counts] = state_columns("AVG", states)?;
        let sums = sums
            .as_primitive_opt::<S>()
            .ok_or_else(|| wrong_type("AVG", &self.sum_type, sums.data_type()))?;
        let counts = counts
            .as_primitive_opt::<Int64Type>()
            .ok_or_else(|| wrong_type("AVG", &DataType::Int64, counts.data_type()))?;
        if sums.len() != counts.len() {
            return Err(KernelError::InvalidArgument(format!(
                "AVG: {} sums for {} counts",
                sums.len(),
                counts.len()
            )));
        }
        check_batch("AVG", Some(sums.len()), group_ids, None, total_num_groups)?;
        self.resize(total_num_groups);
        let nulls = NullBuffer::union(sums.nulls(), counts.nulls());
        let mut merge = |i: usize| {
            let g = group_ids[i] as usize;
            self.sums[g] = self.sums[g].add_wrapping(sums.value(i));
            self.counts[g] += counts.value(i);
        };
        match row_mask(nulls.as_ref(), None) {
            None => (0..group_ids.len()).for_each(&mut merge),
            Some(mask) => mask.set_indices().for_each(&mut merge),
        }
        Ok(())
    }

    fn size_bytes(&self) -> usize {
        self.sums.capacity() * size_of::<S::Native>() + self.counts.capacity() * size_of::<i64>()
    }
}

/// `AVG` of a signed (`i64` sum) or unsigned (`u64` sum) integer type, or a float.
macro_rules! avg {
    ($input:expr, $in:ty, signed $native:ty) => {
        Box::new(AvgAccumulator::<$in, Int64Type, $in, _, _>::new(
            $input,
            DataType::Int64,
            $input.clone(),
            |v: $native| v as i64,
            // Java's long division truncates toward zero, as Rust's does
            |s: i64, c: i64| (s / c) as $native,
        ))
    };
    ($input:expr, $in:ty, unsigned $native:ty) => {
        Box::new(AvgAccumulator::<$in, UInt64Type, $in, _, _>::new(
            $input,
            DataType::UInt64,
            $input.clone(),
            |v: $native| v as u64,
            |s: u64, c: i64| (s / c as u64) as $native,
        ))
    };
    ($input:expr, $in:ty, float $native:ty) => {
        Box::new(AvgAccumulator::<$in, Float64Type, Float64Type, _, _>::new(
            $input,
            DataType::Float64,
            DataType::Float64,
            |v: $native| v as f64,
            |s: f64, c: i64| s / c as f64,
        ))
    };
}

/// The `AVG` accumulator for `input`.
pub(super) fn create(input: &DataType) -> Result<Box<dyn GroupsAccumulator>> {
    use DataType::*;
    Ok(match input {
        Int8 => avg!(input, Int8Type, signed i8),
        Int16 => avg!(input, Int16Type, signed i16),
        Int32 => avg!(input, Int32Type, signed i32),
        Int64 => avg!(input, Int64Type, signed i64),
        UInt8 => avg!(input, UInt8Type, unsigned u8),
        UInt16 => avg!(input, UInt16Type, unsigned u16),
        UInt32 => avg!(input, UInt32Type, unsigned u32),
        UInt64 => avg!(input, UInt64Type, unsigned u64),
        Float32 => avg!(input, Float32Type, float f32),
        Float64 => avg!(input, Float64Type, float f64),
        other => return Err(KernelError::unsupported("AVG", other)),
    })
}
