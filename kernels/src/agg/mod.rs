//! Grouped aggregation: accumulators over dense group ids.
//!
//! The contract is DataFusion's `GroupsAccumulator`: a
//! [`GroupIndexer`](crate::group::GroupIndexer) turns key columns into group
//! ids, and each [`GroupsAccumulator`] keeps one slot per group in plain `Vec`s
//! indexed by group id, updated in tight loops over the input's value slice.
//!
//! ```text
//!  keys ──GroupIndexer::intern──▶ group_ids ─┐
//!  values ───────────────────────────────────┴─▶ update_batch ─▶ Vec<state> per group
//!                                                                   │
//!                 state() ◀── checkpoint / partial ─────────────────┤
//!                 merge_batch(state) ── restore / final phase       ▼
//!                                                              evaluate() ─▶ one row per group
//! ```
//!
//! Types and semantics are Flink SQL's ([`output_type`]):
//!
//! | kind | input | output | empty group |
//! |---|---|---|---|
//! | `Count` | any, or none (`COUNT(*)`) | `Int64` | 0 |
//! | `CountNonNull` | any | `Int64` | 0 |
//! | `Sum` | `Int8`..`Int64` / `UInt8`..`UInt64` / `Float32`, `Float64` | `Int64` (wrapping, as Java `long`) / `UInt64` / `Float64` | null |
//! | `Min`, `Max` | numeric, temporal, `Utf8`, `LargeUtf8`, `Utf8View` | same | null |
//! | `Avg` | integers / floats | same integer type (truncating `sum / count`) / `Float64` | null |
//! | `First`, `Last` | as `Min` | same | null |
//!
//! Nulls are skipped by every kind except `Count`, and so are rows whose
//! filter is false or null. Float `Min`/`Max` use IEEE total order (as arrow's
//! `min`/`max`): `-0.0 < 0.0` and NaN is greater than every number.
//! `First`/`Last` keep the first/last non-null value in arrival order; merging
//! states keeps the first/last *state* in merge order.

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, PrimitiveArray};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{ArrowPrimitiveType, DataType};

use crate::error::{KernelError, Result};

mod avg;
mod count;
mod min_max;
mod prim;
mod sum;

/// Which aggregate function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AggKind {
    /// `COUNT(*)`: rows per group, never null.
    Count,
    /// `COUNT(x)`: non-null values per group, never null.
    CountNonNull,
    /// `SUM(x)`; null for a group with no non-null value.
    Sum,
    /// `MIN(x)`; null for a group with no non-null value.
    Min,
    /// `MAX(x)`; null for a group with no non-null value.
    Max,
    /// `AVG(x)`: integer inputs give the same integer type (truncated).
    Avg,
    /// `FIRST_VALUE(x)`: the first non-null value in arrival order.
    First,
    /// `LAST_VALUE(x)`: the last non-null value in arrival order.
    Last,
}

impl AggKind {
    /// The Flink SQL function name (`"COUNT"`, `"SUM"`, ...).
    pub fn sql_name(self) -> &'static str {
        match self {
            Self::Count | Self::CountNonNull => "COUNT",
            Self::Sum => "SUM",
            Self::Min => "MIN",
            Self::Max => "MAX",
            Self::Avg => "AVG",
            Self::First => "FIRST_VALUE",
            Self::Last => "LAST_VALUE",
        }
    }
}

/// State per group, for one aggregate function (DataFusion's contract).
///
/// Group ids come from a [`GroupIndexer`](crate::group::GroupIndexer); the
/// accumulator grows to `total_num_groups` on each call and never shrinks
/// except by [`evaluate`](Self::evaluate) and [`state`](Self::state).
pub trait GroupsAccumulator: Send {
    /// Adds one batch: `values` is the input column (ignored for `Count`),
    /// `group_ids` has one id per row, `total_num_groups` is the group count
    /// after this batch, and rows where `opt_filter` is false or null are
    /// skipped.
    ///
    /// # Errors
    /// [`KernelError::InvalidArgument`] if lengths differ, a group id is
    /// `>= total_num_groups`, or `values` is missing or of the wrong type.
    fn update_batch(
        &mut self,
        values: Option<&ArrayRef>,
        group_ids: &[u32],
        opt_filter: Option<&BooleanArray>,
        total_num_groups: usize,
    ) -> Result<()>;

    /// Final values for all groups, in group-id order, then resets to zero
    /// groups.
    ///
    /// # Errors
    /// [`KernelError::Arrow`] if the output array cannot be built.
    fn evaluate(&mut self) -> Result<ArrayRef>;

    /// Intermediate state columns (e.g. `Avg`: sum and count), then resets to
    /// zero groups; for checkpoints and two-phase aggregation. See
    /// [`state_types`] for their types.
    ///
    /// # Errors
    /// [`KernelError::Arrow`] if the arrays cannot be built.
    fn state(&mut self) -> Result<Vec<ArrayRef>>;

    /// Merges state columns (as produced by [`state`](Self::state)) into
    /// groups: row `i` of the states goes into group `group_ids[i]`.
    ///
    /// # Errors
    /// As [`update_batch`](Self::update_batch), for the state columns.
    fn merge_batch(
        &mut self,
        states: &[ArrayRef],
        group_ids: &[u32],
        total_num_groups: usize,
    ) -> Result<()>;

    /// Heap bytes held (capacity, not length).
    fn size_bytes(&self) -> usize;
}

/// A boxed accumulator for `kind` over a column of `input_type` (`None` only
/// for `Count`).
///
/// # Example
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::{ArrayRef, AsArray, Int64Array};
/// # use arrow::datatypes::{DataType, Int64Type};
/// use millstream_kernels::agg::{create_accumulator, AggKind};
/// let mut sum = create_accumulator(AggKind::Sum, Some(&DataType::Int64))?;
/// let values: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), Some(2), None, Some(4)]));
/// sum.update_batch(Some(&values), &[0, 1, 2, 0], None, 3)?;
/// let out = sum.evaluate()?;
/// assert_eq!(out.as_primitive::<Int64Type>(), &Int64Array::from(vec![Some(5), Some(2), None]));
/// # Ok::<(), millstream_kernels::KernelError>(())
/// ```
///
/// # Errors
/// As [`output_type`].
pub fn create_accumulator(
    kind: AggKind,
    input_type: Option<&DataType>,
) -> Result<Box<dyn GroupsAccumulator>> {
    output_type(kind, input_type)?;
    match (kind, input_type) {
        (AggKind::Count, _) => Ok(Box::new(count::CountAccumulator::new(false))),
        (AggKind::CountNonNull, _) => Ok(Box::new(count::CountAccumulator::new(true))),
        (_, None) => Err(missing_input(kind)),
        (AggKind::Sum, Some(t)) => sum::create(t),
        (AggKind::Avg, Some(t)) => avg::create(t),
        (AggKind::Min | AggKind::Max | AggKind::First | AggKind::Last, Some(t)) => {
            min_max::create(kind, t)
        }
    }
}

/// The output type of `kind` over `input_type` (`None` only for `Count`).
///
/// # Errors
/// [`KernelError::UnsupportedType`] if `kind` has no implementation for
/// `input_type`; [`KernelError::InvalidArgument`] if `input_type` is `None`
/// for a kind other than `Count`.
pub fn output_type(kind: AggKind, input_type: Option<&DataType>) -> Result<DataType> {
    use DataType::*;
    let unsupported = |t: &DataType| KernelError::UnsupportedType {
        kernel: kind.sql_name(),
        data_type: t.clone(),
    };
    match (kind, input_type) {
        (AggKind::Count, _) | (AggKind::CountNonNull, Some(_)) => Ok(Int64),
        (_, None) => Err(missing_input(kind)),
        (AggKind::Sum, Some(t)) => match t {
            Int8 | Int16 | Int32 | Int64 => Ok(Int64),
            UInt8 | UInt16 | UInt32 | UInt64 => Ok(UInt64),
            Float32 | Float64 => Ok(Float64),
            t => Err(unsupported(t)),
        },
        (AggKind::Avg, Some(t)) => match t {
            Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32 | UInt64 => Ok(t.clone()),
            Float32 | Float64 => Ok(Float64),
            t => Err(unsupported(t)),
        },
        (AggKind::Min | AggKind::Max | AggKind::First | AggKind::Last, Some(t)) => {
            if min_max::supports(t) {
                Ok(t.clone())
            } else {
                Err(unsupported(t))
            }
        }
    }
}

/// The types of the columns [`GroupsAccumulator::state`] returns (all
/// nullable), e.g. for a checkpoint schema.
///
/// # Errors
/// As [`output_type`].
pub fn state_types(kind: AggKind, input_type: Option<&DataType>) -> Result<Vec<DataType>> {
    let out = output_type(kind, input_type)?;
    Ok(match kind {
        AggKind::Avg => {
            let sum_type = output_type(AggKind::Sum, input_type)?;
            vec![sum_type, DataType::Int64]
        }
        _ => vec![out],
    })
}

fn missing_input(kind: AggKind) -> KernelError {
    KernelError::InvalidArgument(format!("{}: needs an input column", kind.sql_name()))
}

/// Checks the shape of an `update_batch`/`merge_batch` call.
pub(crate) fn check_batch(
    kernel: &str,
    num_values: Option<usize>,
    group_ids: &[u32],
    opt_filter: Option<&BooleanArray>,
    total_num_groups: usize,
) -> Result<()> {
    let rows = group_ids.len();
    if let Some(n) = num_values.filter(|&n| n != rows) {
        return Err(KernelError::InvalidArgument(format!(
            "{kernel}: {n} values for {rows} group ids"
        )));
    }
    if let Some(f) = opt_filter.filter(|f| f.len() != rows) {
        return Err(KernelError::InvalidArgument(format!(
            "{kernel}: filter of {} rows for {rows} group ids",
            f.len()
        )));
    }
    // a vectorised max beats a bounds check turned error in the hot loop
    let max = group_ids.iter().copied().max().unwrap_or(0) as usize;
    if rows > 0 && max >= total_num_groups {
        return Err(KernelError::InvalidArgument(format!(
            "{kernel}: group id {max} out of range for {total_num_groups} groups"
        )));
    }
    Ok(())
}

/// `values` as a `PrimitiveArray<T>` (else a [`wrong_type`] error against
/// `expected`), for an `update_batch`/`merge_batch` call that passes
/// [`check_batch`].
pub(crate) fn primitive_batch<'a, T: ArrowPrimitiveType>(
    kernel: &str,
    expected: &DataType,
    values: &'a ArrayRef,
    group_ids: &[u32],
    opt_filter: Option<&BooleanArray>,
    total_num_groups: usize,
) -> Result<&'a PrimitiveArray<T>> {
    let values = values
        .as_primitive_opt::<T>()
        .ok_or_else(|| wrong_type(kernel, expected, values.data_type()))?;
    check_batch(
        kernel,
        Some(values.len()),
        group_ids,
        opt_filter,
        total_num_groups,
    )?;
    Ok(values)
}

/// The `N` state columns of a `merge_batch` call.
pub(crate) fn state_columns<'a, const N: usize>(
    kernel: &str,
    states: &'a [ArrayRef],
) -> Result<&'a [ArrayRef; N]> {
    states.try_into().map_err(|_| {
        KernelError::InvalidArgument(format!(
            "{kernel}: expected {N} state column{}, got {}",
            if N == 1 { "" } else { "s" },
            states.len()
        ))
    })
}

/// The rows to aggregate, or `None` for all rows: valid in `nulls` and true
/// (and valid) in `filter`.
pub(crate) fn row_mask(
    nulls: Option<&NullBuffer>,
    filter: Option<&BooleanArray>,
) -> Option<BooleanBuffer> {
    let valid = nulls
        .filter(|n| n.null_count() > 0)
        .map(|n| n.inner().clone());
    let selected = filter.map(|f| match f.nulls().filter(|n| n.null_count() > 0) {
        Some(n) => f.values() & n.inner(),
        None => f.values().clone(),
    });
    match (valid, selected) {
        (None, None) => None,
        (Some(m), None) | (None, Some(m)) => Some(m),
        (Some(a), Some(b)) => Some(&a & &b),
    }
}

/// A `NullBuffer` marking groups never `seen` as null, or `None` if all were.
pub(crate) fn seen_to_nulls(seen: &[bool]) -> Option<NullBuffer> {
    if seen.iter().all(|&s| s) {
        None
    } else {
        Some(NullBuffer::from(seen))
    }
}

/// The input column, which every kind but `Count` needs.
pub(crate) fn required<'a>(kernel: &str, values: Option<&'a ArrayRef>) -> Result<&'a ArrayRef> {
    values.ok_or_else(|| KernelError::InvalidArgument(format!("{kernel}: no input column")))
}

/// The error for a column of an unexpected type.
pub(crate) fn wrong_type(kernel: &str, expected: &DataType, got: &DataType) -> KernelError {
    KernelError::InvalidArgument(format!("{kernel}: expected {expected} input, got {got}"))
}

#[cfg(test)]
mod tests;
