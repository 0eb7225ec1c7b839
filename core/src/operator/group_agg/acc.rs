//! Retractable accumulators of a [`GroupAggregate`](super::GroupAggregate): one slot per
//! dense group id in plain `Vec`s, updated by signed rows.
//!
//! Each input row reaches an accumulator with a weight: `+1` adds its value (`+I`, `+U`),
//! `-1` retracts it (`-U`, `-D`), `0` skips it (a retraction the operator ignores). The
//! loops below are chosen once per batch by [`for_each_row`] (weights or not, nulls or not)
//! and the kind and type once per aggregate by [`create`], so the per-row body is a few
//! typed instructions. `COUNT`, `SUM` and `AVG` keep a count and a sum per group and retract
//! by subtraction; `MIN`/`MAX` and `DISTINCT` keep values and live in
//! [`super::values`].
//!
//! | kind | input | output | state per group |
//! |---|---|---|---|
//! | `COUNT(*)` | none | `Int64` | count |
//! | `COUNT(x)` | any | `Int64` | count of non-null |
//! | `SUM(x)` | `Int*` / `UInt*` / `Float*` / `Decimal128(p, s)` | `Int64` (wrapping) / `UInt64` / `Float64` / `Decimal128(38, s)` | sum, count |
//! | `AVG(x)` | `Int*`, `UInt*` / `Float*` / `Decimal128(p, s)` | same type, `sum / count` truncated / `Float64` / `Decimal128(38, max(6, s))` rounded half up | sum, count |
//! | `MIN`/`MAX(x)` | numeric, temporal, decimal, `Boolean`, strings | same | running value, or value → count |
//!
//! Integer and float types follow [`millstream_kernels::agg::output_type`] (the window
//! aggregates' types); decimals follow Flink (`SUM` → `DECIMAL(38, s)`, `AVG` →
//! `DECIMAL(38, max(6, s))`), and a decimal result beyond 38 digits is null, as Flink's
//! overflow is.

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowNativeTypeOp, AsArray, Int64Array, PrimitiveArray, UInt32Array,
};
use arrow::buffer::NullBuffer;
use arrow::compute::take;
use arrow::datatypes::*;
use millstream_kernels::agg::AggKind;

use super::values;
use super::GroupAggCall;
use crate::error::{Error, Result};

/// The rows of one input batch as the accumulators see them.
pub(super) struct Rows<'a> {
    /// Dense group id of each row.
    pub groups: &'a [u32],
    /// Per row: `+1` add, `-1` retract, `0` skip; `None`: every row adds.
    pub weights: Option<&'a [i8]>,
    /// Groups known after this batch: every accumulator grows to this many slots.
    pub num_groups: usize,
}

/// Values kept per (group, value) pair: retractable `MIN`/`MAX` and `DISTINCT`.
pub(super) struct ValueCounts {
    /// Group of each pair.
    pub groups: Vec<u32>,
    /// The value of each pair.
    pub values: ArrayRef,
    /// How many live rows hold the pair.
    pub counts: Vec<i64>,
}

/// One retractable aggregate over dense group ids.
pub(super) trait Acc: Send {
    /// Make room for groups `0..num_groups` (fresh ones empty).
    fn grow(&mut self, num_groups: usize);
    /// Apply the rows of a batch (`values`: the input column, `None` for `COUNT(*)`).
    fn update(&mut self, values: Option<&ArrayRef>, rows: &Rows<'_>) -> Result<()>;
    /// The aggregate of each of `groups`, in order (null where it has no value).
    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef>;
    /// Forget `groups`: their row count dropped to zero, a later row starts afresh.
    fn reset(&mut self, groups: &[u32]);
    /// The state columns of `groups` (one row per group; none for value-keeping kinds).
    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>>;
    /// How many columns [`Acc::state`] returns.
    fn state_width(&self) -> usize;
    /// Load state columns written by [`Acc::state`] into `groups`.
    fn load_state(&mut self, groups: &[u32], state: &[ArrayRef], num_groups: usize) -> Result<()>;
    /// The (group, value) counts of a value-keeping kind, else `None`.
    fn value_counts(&self) -> Result<Option<ValueCounts>>;
    /// Load counts written by [`Acc::value_counts`].
    fn load_value_counts(&mut self, vc: &ValueCounts, num_groups: usize) -> Result<()>;
}

/// Calls `f(row, group, add)` for every row to apply: non-null in `nulls` and of non-zero
/// weight (`add`: weight `+1`). The branch on the row shape is taken here, once per batch.
#[inline(always)]
pub(super) fn for_each_row(
    rows: &Rows<'_>,
    nulls: Option<&NullBuffer>,
    mut f: impl FnMut(usize, usize, bool),
) {
    let nulls = nulls.filter(|n| n.null_count() > 0);
    match (rows.weights, nulls) {
        (None, None) => {
            for (i, &g) in rows.groups.iter().enumerate() {
                f(i, g as usize, true);
            }
        }
        (None, Some(n)) => {
            for i in n.valid_indices() {
                f(i, rows.groups[i] as usize, true);
            }
        }
        (Some(w), None) => {
            for (i, (&g, &w)) in rows.groups.iter().zip(w).enumerate() {
                if w != 0 {
                    f(i, g as usize, w > 0);
                }
            }
        }
        (Some(w), Some(n)) => {
            for i in n.valid_indices() {
                if w[i] != 0 {
                    f(i, rows.groups[i] as usize, w[i] > 0);
                }
            }
        }
    }
}

/// The input column of a kind that needs one, checked against the row count.
pub(super) fn input<'a>(
    what: &str,
    values: Option<&'a ArrayRef>,
    rows: &Rows<'_>,
) -> Result<&'a ArrayRef> {
    let v = values.ok_or_else(|| Error::Internal(format!("group aggregate {what}: no input")))?;
    if v.len() != rows.groups.len() || rows.weights.is_some_and(|w| w.len() != v.len()) {
        return Err(Error::Internal(format!(
            "group aggregate {what}: {} values for {} rows",
            v.len(),
            rows.groups.len()
        )));
    }
    Ok(v)
}

/// `array` as a `PrimitiveArray<T>`, or an internal error naming `what`.
pub(super) fn primitive<'a, T: ArrowPrimitiveType>(
    what: &str,
    array: &'a ArrayRef,
) -> Result<&'a PrimitiveArray<T>> {
    array.as_primitive_opt::<T>().ok_or_else(|| {
        Error::Internal(format!(
            "group aggregate {what}: unexpected column type {}",
            array.data_type()
        ))
    })
}

/// `dense` (one row per present group) spread to one row per group of `present`, null
/// where a group has no value.
pub(super) fn spread(dense: ArrayRef, present: &[bool]) -> Result<ArrayRef> {
    if present.iter().all(|&p| p) {
        return Ok(dense);
    }
    let mut next = 0u32;
    let idx: UInt32Array = present
        .iter()
        .map(|&p| {
            p.then(|| {
                next += 1;
                next - 1
            })
        })
        .collect();
    Ok(take(dense.as_ref(), &idx, None)?)
}

/// The output type of `call` over an input of type `input`.
///
/// # Errors
/// [`Error::Plan`] for a missing input, [`Error::Unsupported`] for a kind or type this
/// operator cannot aggregate.
pub(super) fn output_type(call: &GroupAggCall, input: Option<&DataType>) -> Result<DataType> {
    let kind = call.kind;
    let unsupported = |t: &DataType| {
        Error::Unsupported(format!(
            "group aggregate '{}': {}{} over {t}",
            call.name,
            kind.sql_name(),
            if call.distinct { " DISTINCT" } else { "" }
        ))
    };
    let kernel_type = |t: &DataType| {
        millstream_kernels::agg::output_type(kind, Some(t)).map_err(|_| unsupported(t))
    };
    match (kind, input) {
        (AggKind::Count, None) if call.distinct => Err(Error::Plan(format!(
            "group aggregate '{}': COUNT(DISTINCT) needs an input column",
            call.name
        ))),
        (AggKind::Count, _) | (AggKind::CountNonNull, Some(_)) => Ok(DataType::Int64),
        (AggKind::First | AggKind::Last, _) => Err(Error::Unsupported(format!(
            "group aggregate '{}': {} is not supported in a non-windowed GROUP BY",
            call.name,
            kind.sql_name()
        ))),
        (_, None) => Err(Error::Plan(format!(
            "group aggregate '{}': {} needs an input column",
            call.name,
            kind.sql_name()
        ))),
        (AggKind::Sum, Some(DataType::Decimal128(_, s))) => Ok(DataType::Decimal128(38, *s)),
        (AggKind::Avg, Some(DataType::Decimal128(_, s))) => {
            Ok(DataType::Decimal128(38, (*s).max(6)))
        }
        (AggKind::Sum | AggKind::Avg, Some(t)) => kernel_type(t),
        (AggKind::Min | AggKind::Max, Some(t)) => {
            if values::min_max_supports(t) {
                Ok(t.clone())
            } else {
                Err(unsupported(t))
            }
        }
    }
}

/// The accumulator of `call` over `input`; `updating`: the input has retractions.
///
/// # Errors
/// As [`output_type`], and [`Error::Unsupported`] for a `DISTINCT` over a type whose
/// values cannot be interned.
pub(super) fn create(
    call: &GroupAggCall,
    input: Option<&DataType>,
    updating: bool,
) -> Result<Box<dyn Acc>> {
    let out = output_type(call, input)?;
    let plain = |kind: AggKind| -> Result<Box<dyn Acc>> {
        match (kind, input) {
            (AggKind::Count, _) => Ok(Box::new(CountAcc::new(false))),
            (AggKind::CountNonNull, _) => Ok(Box::new(CountAcc::new(true))),
            (AggKind::Sum | AggKind::Avg, Some(t)) => sum_avg(kind, t, &out),
            _ => Err(Error::Internal(format!(
                "group aggregate '{}': no accumulator for {kind:?}",
                call.name
            ))),
        }
    };
    match (call.kind, input) {
        (AggKind::Min | AggKind::Max, Some(t)) => {
            values::min_max(call.kind == AggKind::Max, t, updating)
        }
        (kind, Some(t)) if call.distinct => {
            // COUNT(DISTINCT x) counts distinct non-null values.
            let inner = plain(if kind == AggKind::Count {
                AggKind::CountNonNull
            } else {
                kind
            })?;
            values::distinct(t, inner).map_err(|e| {
                Error::Unsupported(format!(
                    "group aggregate '{}': DISTINCT over {t}: {e}",
                    call.name
                ))
            })
        }
        (kind, _) => plain(kind),
    }
}

/// `COUNT(*)` (every row) or `COUNT(x)` (non-null rows) per group.
struct CountAcc {
    non_null: bool,
    counts: Vec<i64>,
}

impl CountAcc {
    fn new(non_null: bool) -> Self {
        CountAcc {
            non_null,
            counts: Vec::new(),
        }
    }
}

impl Acc for CountAcc {
    fn grow(&mut self, num_groups: usize) {
        if self.counts.len() < num_groups {
            self.counts.resize(num_groups, 0);
        }
    }

    fn update(&mut self, values: Option<&ArrayRef>, rows: &Rows<'_>) -> Result<()> {
        let nulls = if self.non_null {
            input("COUNT", values, rows)?.logical_nulls()
        } else {
            None
        };
        self.grow(rows.num_groups);
        let counts = &mut self.counts;
        for_each_row(rows, nulls.as_ref(), |_, g, add| {
            counts[g] += if add { 1 } else { -1 };
        });
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        Ok(Arc::new(Int64Array::from_iter_values(
            groups.iter().map(|&g| self.counts[g as usize].max(0)),
        )))
    }

    fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            self.counts[g as usize] = 0;
        }
    }

    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(groups)?])
    }

    fn state_width(&self) -> usize {
        1
    }

    fn load_state(&mut self, groups: &[u32], state: &[ArrayRef], num_groups: usize) -> Result<()> {
        let [c] = state else {
            return Err(bad_state("COUNT", state.len(), 1));
        };
        let c = primitive::<Int64Type>("COUNT state", c)?;
        self.grow(num_groups);
        for (&g, &v) in groups.iter().zip(c.values()) {
            self.counts[g as usize] = v;
        }
        Ok(())
    }

    fn value_counts(&self) -> Result<Option<ValueCounts>> {
        Ok(None)
    }

    fn load_value_counts(&mut self, _: &ValueCounts, _: usize) -> Result<()> {
        Err(bad_state("COUNT", 1, 0))
    }
}

/// The error for restored state of the wrong shape.
pub(super) fn bad_state(what: &str, got: usize, expected: usize) -> Error {
    Error::Internal(format!(
        "group aggregate {what}: restored state has {got} columns, expected {expected} (was the job changed?)"
    ))
}

/// `SUM` or `AVG`: a sum of `S` and a count of non-null values per group, over input `I`,
/// finishing to `O` with `finish(sum, count)` (`count > 0`; `None` is null, an overflow).
struct SumAcc<I, S: ArrowPrimitiveType, O, W, F> {
    name: &'static str,
    sum_type: DataType,
    output_type: DataType,
    sums: Vec<S::Native>,
    counts: Vec<i64>,
    /// Widens an input value to the sum type.
    widen: W,
    finish: F,
    _types: PhantomData<fn() -> (I, O)>,
}

impl<I, S, O, W, F> SumAcc<I, S, O, W, F>
where
    I: ArrowPrimitiveType,
    S: ArrowPrimitiveType,
    O: ArrowPrimitiveType,
    W: Fn(I::Native) -> S::Native + Send,
    F: Fn(S::Native, i64) -> Option<O::Native> + Send,
{
    fn boxed(
        name: &'static str,
        sum_type: DataType,
        output_type: DataType,
        widen: W,
        finish: F,
    ) -> Box<dyn Acc>
    where
        I: 'static,
        O: 'static,
        W: 'static,
        F: 'static,
    {
        Box::new(SumAcc::<I, S, O, W, F> {
            name,
            sum_type,
            output_type,
            sums: Vec::new(),
            counts: Vec::new(),
            widen,
            finish,
            _types: PhantomData,
        })
    }
}

impl<I, S, O, W, F> Acc for SumAcc<I, S, O, W, F>
where
    I: ArrowPrimitiveType,
    S: ArrowPrimitiveType,
    O: ArrowPrimitiveType,
    W: Fn(I::Native) -> S::Native + Send,
    F: Fn(S::Native, i64) -> Option<O::Native> + Send,
{
    fn grow(&mut self, num_groups: usize) {
        if self.sums.len() < num_groups {
            self.sums.resize(num_groups, S::Native::ZERO);
            self.counts.resize(num_groups, 0);
        }
    }

    fn update(&mut self, values: Option<&ArrayRef>, rows: &Rows<'_>) -> Result<()> {
        let values = primitive::<I>(self.name, input(self.name, values, rows)?)?;
        self.grow(rows.num_groups);
        let data = values.values();
        let (sums, counts, widen) = (&mut self.sums, &mut self.counts, &self.widen);
        for_each_row(rows, values.nulls(), |i, g, add| {
            let v = widen(data[i]);
            if add {
                sums[g] = sums[g].add_wrapping(v);
                counts[g] += 1;
            } else {
                counts[g] -= 1;
                // An empty group restarts from an exact zero: no float residue survives
                // the retraction of every value.
                sums[g] = if counts[g] == 0 {
                    S::Native::ZERO
                } else {
                    sums[g].sub_wrapping(v)
                };
            }
        });
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let out: PrimitiveArray<O> = groups
            .iter()
            .map(|&g| {
                let (s, c) = (self.sums[g as usize], self.counts[g as usize]);
                if c > 0 {
                    (self.finish)(s, c)
                } else {
                    None
                }
            })
            .collect();
        Ok(Arc::new(out.with_data_type(self.output_type.clone())))
    }

    fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            self.sums[g as usize] = S::Native::ZERO;
            self.counts[g as usize] = 0;
        }
    }

    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        let sums =
            PrimitiveArray::<S>::from_iter_values(groups.iter().map(|&g| self.sums[g as usize]))
                .with_data_type(self.sum_type.clone());
        let counts = Int64Array::from_iter_values(groups.iter().map(|&g| self.counts[g as usize]));
        Ok(vec![Arc::new(sums), Arc::new(counts)])
    }

    fn state_width(&self) -> usize {
        2
    }

    fn load_state(&mut self, groups: &[u32], state: &[ArrayRef], num_groups: usize) -> Result<()> {
        let [s, c] = state else {
            return Err(bad_state(self.name, state.len(), 2));
        };
        let s = primitive::<S>(self.name, s)?;
        let c = primitive::<Int64Type>(self.name, c)?;
        self.grow(num_groups);
        for (i, &g) in groups.iter().enumerate() {
            self.sums[g as usize] = s.value(i);
            self.counts[g as usize] = c.value(i);
        }
        Ok(())
    }

    fn value_counts(&self) -> Result<Option<ValueCounts>> {
        Ok(None)
    }

    fn load_value_counts(&mut self, _: &ValueCounts, _: usize) -> Result<()> {
        Err(bad_state(self.name, 1, 0))
    }
}

/// `10^38`: a `Decimal128(38, _)` holds values of magnitude below it.
const DECIMAL38_BOUND: i128 = 10i128.pow(38);

/// `v` if it fits 38 decimal digits (Flink: a decimal overflow is null).
fn fits_decimal38(v: i128) -> Option<i128> {
    (v > -DECIMAL38_BOUND && v < DECIMAL38_BOUND).then_some(v)
}

/// The `SUM` or `AVG` accumulator for `input`, with output type `out`.
fn sum_avg(kind: AggKind, input: &DataType, out: &DataType) -> Result<Box<dyn Acc>> {
    use DataType::*;
    let avg = kind == AggKind::Avg;
    // SUM: the sum type is the output type. AVG: integers truncate `sum / count` (Java
    // `long` division) and narrow to the input type, as the window aggregates do.
    macro_rules! int {
        ($in:ty, $sum:ty, $native:ty, $out:ty) => {
            if avg {
                SumAcc::<$in, $sum, $in, _, _>::boxed(
                    "AVG",
                    <$sum>::DATA_TYPE,
                    out.clone(),
                    |v| v as $native,
                    |s: $native, c: i64| Some((s / c as $native) as $out),
                )
            } else {
                SumAcc::<$in, $sum, $sum, _, _>::boxed(
                    "SUM",
                    <$sum>::DATA_TYPE,
                    out.clone(),
                    |v| v as $native,
                    |s, _| Some(s),
                )
            }
        };
    }
    macro_rules! float {
        ($in:ty) => {
            if avg {
                SumAcc::<$in, Float64Type, Float64Type, _, _>::boxed(
                    "AVG",
                    Float64,
                    out.clone(),
                    |v| v as f64,
                    |s: f64, c: i64| Some(s / c as f64),
                )
            } else {
                SumAcc::<$in, Float64Type, Float64Type, _, _>::boxed(
                    "SUM",
                    Float64,
                    out.clone(),
                    |v| v as f64,
                    |s, _| Some(s),
                )
            }
        };
    }
    Ok(match input {
        Int8 => int!(Int8Type, Int64Type, i64, i8),
        Int16 => int!(Int16Type, Int64Type, i64, i16),
        Int32 => int!(Int32Type, Int64Type, i64, i32),
        Int64 => int!(Int64Type, Int64Type, i64, i64),
        UInt8 => int!(UInt8Type, UInt64Type, u64, u8),
        UInt16 => int!(UInt16Type, UInt64Type, u64, u16),
        UInt32 => int!(UInt32Type, UInt64Type, u64, u32),
        UInt64 => int!(UInt64Type, UInt64Type, u64, u64),
        Float32 => float!(Float32Type),
        Float64 => float!(Float64Type),
        Decimal128(_, s) => {
            let sum_type = Decimal128(38, *s);
            if avg {
                let out_scale = match out {
                    Decimal128(_, so) => *so,
                    _ => *s,
                };
                let factor = 10i128.pow(u32::from((out_scale - *s).max(0).unsigned_abs()));
                SumAcc::<Decimal128Type, Decimal128Type, Decimal128Type, _, _>::boxed(
                    "AVG",
                    sum_type,
                    out.clone(),
                    |v| v,
                    move |s: i128, c: i64| {
                        // sum / count at the output scale, rounded half up (away from zero).
                        let scaled = s.checked_mul(factor)?;
                        let c = i128::from(c);
                        let (q, r) = (scaled / c, scaled % c);
                        let q = if r.abs() * 2 >= c {
                            q + scaled.signum()
                        } else {
                            q
                        };
                        fits_decimal38(q)
                    },
                )
            } else {
                SumAcc::<Decimal128Type, Decimal128Type, Decimal128Type, _, _>::boxed(
                    "SUM",
                    sum_type,
                    out.clone(),
                    |v| v,
                    |s, _| fits_decimal38(s),
                )
            }
        }
        other => {
            return Err(Error::Unsupported(format!(
                "group aggregate: {} over {other}",
                kind.sql_name()
            )))
        }
    })
}
