//! `SUM`: wrapping `Int64` over signed integers (Java `long`), wrapping
//! `UInt64` over unsigned ones, `Float64` over floats.

use arrow::datatypes::*;

use super::prim::PrimitiveAccumulator;
use super::GroupsAccumulator;
use crate::error::{KernelError, Result};

/// A sum of `$in` values into `$out`, each value widened by `as $native`.
macro_rules! sum {
    ($input:expr, $in:ty, $out:ty, $native:ty, $out_type:expr) => {
        Box::new(PrimitiveAccumulator::<$in, $out, _, _>::new(
            "SUM",
            $input,
            $out_type,
            <$native as ArrowNativeTypeOp>::ZERO,
            |acc: &mut $native, _seen, v| *acc = acc.add_wrapping(v as $native),
            |acc: &mut $native, _seen, v: $native| *acc = acc.add_wrapping(v),
        ))
    };
}

/// The `SUM` accumulator for `input`.
pub(super) fn create(input: &DataType) -> Result<Box<dyn GroupsAccumulator>> {
    use DataType::*;
    Ok(match input {
        Int8 => sum!(input, Int8Type, Int64Type, i64, Int64),
        Int16 => sum!(input, Int16Type, Int64Type, i64, Int64),
        Int32 => sum!(input, Int32Type, Int64Type, i64, Int64),
        Int64 => sum!(input, Int64Type, Int64Type, i64, Int64),
        UInt8 => sum!(input, UInt8Type, UInt64Type, u64, UInt64),
        UInt16 => sum!(input, UInt16Type, UInt64Type, u64, UInt64),
        UInt32 => sum!(input, UInt32Type, UInt64Type, u64, UInt64),
        UInt64 => sum!(input, UInt64Type, UInt64Type, u64, UInt64),
        Float32 => sum!(input, Float32Type, Float64Type, f64, Float64),
        Float64 => sum!(input, Float64Type, Float64Type, f64, Float64),
        other => return Err(KernelError::unsupported("SUM", other)),
    })
}
