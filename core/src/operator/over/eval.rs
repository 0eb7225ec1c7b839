//! The aggregates of a step: one typed sliding loop per aggregate over the [`Layout`]'s
//! frames ([`walk`]), chosen by a `match` on kind and input type before the loop.
//!
//! - `COUNT(*)`, `COUNT(x)`: a count, up on entering rows, down on leaving ones.
//! - `SUM`, `AVG`: a sum and a count of non-null values, with retraction. Integer sums wrap
//!   (Java `long`, as `millstream_kernels::agg`); float sums keep NaN and infinities as
//!   counts beside the finite part, so an infinity that leaves the frame leaves no NaN, and
//!   the finite part restarts at 0 whenever no finite value is left (no drift across gaps).
//! - `MIN`, `MAX`, `FIRST_VALUE`, `LAST_VALUE`: positions in a monotonic deque, in
//!   `extreme.rs`.
//!
//! Unbounded frames never remove rows: each partition's running state (a [`Base`]) is
//! loaded at the start of its segment and stored at the end.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, PrimitiveArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::*;
use millstream_kernels::agg::{output_type, AggKind};

use super::extreme::extreme;
use super::layout::{walk, Layout, Window};
use super::store::ValueStore;
use crate::error::{Error, Result};

/// One aggregate, resolved against the input schema.
#[derive(Debug, Clone)]
pub(super) struct BoundCall {
    /// The function.
    pub(super) kind: AggKind,
    /// Its input: an index into the step's work columns (`None` for `COUNT(*)`).
    pub(super) slot: Option<usize>,
    /// The input column's type.
    pub(super) input_type: Option<DataType>,
    /// The result type.
    pub(super) output_type: DataType,
}

/// The running state of one aggregate per partition id, for unbounded frames.
#[derive(Debug)]
pub(super) enum Base {
    /// A bounded frame: state is the retained rows, not accumulators.
    Bounded,
    /// `COUNT`: the count.
    Count(Vec<i64>),
    /// `SUM`/`AVG` of signed integers: wrapping sum and count of non-null values.
    SumI(Vec<i64>, Vec<i64>),
    /// `SUM`/`AVG` of unsigned integers.
    SumU(Vec<u64>, Vec<i64>),
    /// `SUM`/`AVG` of floats.
    SumF(Vec<f64>, Vec<i64>),
    /// `MIN`/`MAX`/`FIRST_VALUE`/`LAST_VALUE`: the current value.
    Value(ValueStore),
}

impl Base {
    /// The state of `call`: [`Base::Bounded`] unless the frame is `unbounded`.
    ///
    /// # Errors
    /// An input type the aggregate does not support.
    pub(super) fn new(call: &BoundCall, unbounded: bool) -> Result<Base> {
        if !unbounded {
            return Ok(Base::Bounded);
        }
        Ok(match call.kind {
            AggKind::Count | AggKind::CountNonNull => Base::Count(Vec::new()),
            AggKind::Sum | AggKind::Avg => {
                match output_type(AggKind::Sum, call.input_type.as_ref())? {
                    DataType::Int64 => Base::SumI(Vec::new(), Vec::new()),
                    DataType::UInt64 => Base::SumU(Vec::new(), Vec::new()),
                    _ => Base::SumF(Vec::new(), Vec::new()),
                }
            }
            AggKind::Min | AggKind::Max | AggKind::First | AggKind::Last => {
                Base::Value(ValueStore::new(call.output_type.clone()))
            }
        })
    }

    /// Makes room for `partitions` partition ids.
    pub(super) fn grow(&mut self, partitions: usize) {
        fn grow<T: Default + Clone>(v: &mut Vec<T>, n: usize) {
            if v.len() < n {
                v.resize(n, T::default());
            }
        }
        match self {
            Base::Bounded | Base::Value(_) => {}
            Base::Count(c) => grow(c, partitions),
            Base::SumI(s, c) => {
                grow(s, partitions);
                grow(c, partitions);
            }
            Base::SumU(s, c) => {
                grow(s, partitions);
                grow(c, partitions);
            }
            Base::SumF(s, c) => {
                grow(s, partitions);
                grow(c, partitions);
            }
        }
    }

    /// Number of checkpoint columns.
    pub(super) fn width(&self) -> usize {
        match self {
            Base::Bounded => 0,
            Base::Count(_) | Base::Value(_) => 1,
            Base::SumI(..) | Base::SumU(..) | Base::SumF(..) => 2,
        }
    }

    /// The checkpoint columns of partitions `0..partitions`.
    ///
    /// # Errors
    /// Arrow errors.
    pub(super) fn columns(&mut self, partitions: usize) -> Result<Vec<ArrayRef>> {
        self.grow(partitions);
        let counts =
            |c: &[i64]| -> ArrayRef { Arc::new(Int64Array::from(c[..partitions].to_vec())) };
        Ok(match self {
            Base::Bounded => Vec::new(),
            Base::Count(c) => vec![counts(c)],
            Base::SumI(s, c) => vec![
                Arc::new(PrimitiveArray::<Int64Type>::from(s[..partitions].to_vec())),
                counts(c),
            ],
            Base::SumU(s, c) => vec![
                Arc::new(PrimitiveArray::<UInt64Type>::from(s[..partitions].to_vec())),
                counts(c),
            ],
            Base::SumF(s, c) => vec![
                Arc::new(PrimitiveArray::<Float64Type>::from(
                    s[..partitions].to_vec(),
                )),
                counts(c),
            ],
            Base::Value(v) => {
                let all: Vec<u32> = (0..partitions as u32).collect();
                vec![v.gather(&all)?]
            }
        })
    }

    /// Loads checkpoint columns (as from [`Base::columns`]) of the partitions `pids`.
    ///
    /// # Errors
    /// Columns of another shape.
    pub(super) fn load(&mut self, pids: &[u32], columns: &[ArrayRef]) -> Result<()> {
        fn values<T: ArrowPrimitiveType>(c: &ArrayRef) -> Result<&[T::Native]> {
            c.as_primitive_opt::<T>()
                .map(|a| a.values().as_ref())
                .ok_or_else(|| {
                    Error::Internal(format!(
                        "over aggregate: restored state column is {}, expected {}",
                        c.data_type(),
                        T::DATA_TYPE
                    ))
                })
        }
        fn put<T: Copy>(dst: &mut [T], pids: &[u32], src: &[T]) {
            for (&p, &v) in pids.iter().zip(src) {
                dst[p as usize] = v;
            }
        }
        if columns.len() != self.width() || columns.iter().any(|c| c.len() != pids.len()) {
            return Err(Error::Internal(
                "over aggregate: restored state has another shape (was the query changed?)".into(),
            ));
        }
        let n = pids.iter().map(|&p| p as usize + 1).max().unwrap_or(0);
        self.grow(n);
        match self {
            Base::Bounded => {}
            Base::Count(c) => put(c, pids, values::<Int64Type>(&columns[0])?),
            Base::SumI(s, c) => {
                put(s, pids, values::<Int64Type>(&columns[0])?);
                put(c, pids, values::<Int64Type>(&columns[1])?);
            }
            Base::SumU(s, c) => {
                put(s, pids, values::<UInt64Type>(&columns[0])?);
                put(c, pids, values::<Int64Type>(&columns[1])?);
            }
            Base::SumF(s, c) => {
                put(s, pids, values::<Float64Type>(&columns[0])?);
                put(c, pids, values::<Int64Type>(&columns[1])?);
            }
            Base::Value(v) => v.set(pids, columns[0].clone())?,
        }
        Ok(())
    }
}

/// The result column (in output order) of `call` over every new row of `layout`, updating
/// `base` for unbounded frames. `work` is the call's input column in work order.
///
/// # Errors
/// A missing input column, an unsupported type, or Arrow errors.
pub(super) fn evaluate(
    call: &BoundCall,
    layout: &Layout,
    work: Option<&ArrayRef>,
    base: &mut Base,
) -> Result<ArrayRef> {
    let input = || {
        work.ok_or_else(|| {
            Error::Internal(format!(
                "over aggregate: {} without an input column",
                call.kind.sql_name()
            ))
        })
    };
    match call.kind {
        AggKind::Count => count(layout, None, base),
        AggKind::CountNonNull => count(layout, input()?.logical_nulls().as_ref(), base),
        AggKind::Sum | AggKind::Avg => sum_avg(call, layout, input()?, base),
        AggKind::Min | AggKind::Max | AggKind::First | AggKind::Last => {
            extreme(call, layout, input()?, base)
        }
    }
}

/// Whether position `i` holds a value.
#[inline]
pub(super) fn is_valid(nulls: Option<&NullBuffer>, i: usize) -> bool {
    nulls.is_none_or(|n| n.is_valid(i))
}

/// Nulls for the output rows whose count is zero.
fn zero_count_nulls(counts: &[i64]) -> Option<NullBuffer> {
    if counts.iter().all(|&c| c > 0) {
        None
    } else {
        Some(counts.iter().map(|&c| c > 0).collect())
    }
}

struct CountWindow<'a> {
    valid: Option<&'a NullBuffer>,
    count: i64,
    out: Vec<i64>,
    base: Option<&'a mut Vec<i64>>,
    touched: &'a [u32],
}

impl Window for CountWindow<'_> {
    fn begin(&mut self, seg: usize) {
        self.count = self
            .base
            .as_ref()
            .map_or(0, |b| b[self.touched[seg] as usize]);
    }
    fn add(&mut self, pos: usize) {
        self.count += i64::from(is_valid(self.valid, pos));
    }
    fn remove(&mut self, pos: usize) {
        self.count -= i64::from(is_valid(self.valid, pos));
    }
    fn emit(&mut self, out: usize) {
        self.out[out] = self.count;
    }
    fn end(&mut self, seg: usize) {
        if let Some(b) = self.base.as_mut() {
            b[self.touched[seg] as usize] = self.count;
        }
    }
}

fn count(layout: &Layout, valid: Option<&NullBuffer>, base: &mut Base) -> Result<ArrayRef> {
    let base = match base {
        Base::Bounded => None,
        Base::Count(c) => Some(c),
        _ => return Err(mismatch("COUNT")),
    };
    let mut w = CountWindow {
        valid: valid.filter(|n| n.null_count() > 0),
        count: 0,
        out: vec![0; layout.output_rows()],
        base,
        touched: &layout.touched,
    };
    walk(layout, &mut w);
    Ok(Arc::new(Int64Array::from(w.out)))
}

pub(super) fn mismatch(what: &str) -> Error {
    Error::Internal(format!(
        "over aggregate: {what} has the state of another aggregate"
    ))
}

/// A sum with retraction, over the sum type `N`.
trait Summer: Default + Copy {
    /// The Arrow type of the sum.
    type A: ArrowPrimitiveType;
    fn add(&mut self, v: <Self::A as ArrowPrimitiveType>::Native);
    fn sub(&mut self, v: <Self::A as ArrowPrimitiveType>::Native);
    fn get(&self) -> <Self::A as ArrowPrimitiveType>::Native;
}

/// Wrapping (Java `long`) sum of signed integers.
#[derive(Default, Clone, Copy)]
struct SumI(i64);

impl Summer for SumI {
    type A = Int64Type;
    fn add(&mut self, v: i64) {
        self.0 = self.0.wrapping_add(v);
    }
    fn sub(&mut self, v: i64) {
        self.0 = self.0.wrapping_sub(v);
    }
    fn get(&self) -> i64 {
        self.0
    }
}

/// Wrapping sum of unsigned integers.
#[derive(Default, Clone, Copy)]
struct SumU(u64);

impl Summer for SumU {
    type A = UInt64Type;
    fn add(&mut self, v: u64) {
        self.0 = self.0.wrapping_add(v);
    }
    fn sub(&mut self, v: u64) {
        self.0 = self.0.wrapping_sub(v);
    }
    fn get(&self) -> u64 {
        self.0
    }
}

/// A float sum that can retract infinities and NaN: they are counted, not added.
#[derive(Default, Clone, Copy)]
struct SumF {
    finite: f64,
    finite_n: u64,
    nan: u64,
    pos_inf: u64,
    neg_inf: u64,
}

impl Summer for SumF {
    type A = Float64Type;
    fn add(&mut self, v: f64) {
        if v.is_nan() {
            self.nan += 1;
        } else if v == f64::INFINITY {
            self.pos_inf += 1;
        } else if v == f64::NEG_INFINITY {
            self.neg_inf += 1;
        } else {
            self.finite += v;
            self.finite_n += 1;
        }
    }
    fn sub(&mut self, v: f64) {
        if v.is_nan() {
            self.nan -= 1;
        } else if v == f64::INFINITY {
            self.pos_inf -= 1;
        } else if v == f64::NEG_INFINITY {
            self.neg_inf -= 1;
        } else {
            self.finite_n -= 1;
            // Restart from an exact 0 instead of carrying rounding error forward.
            self.finite = if self.finite_n == 0 {
                0.0
            } else {
                self.finite - v
            };
        }
    }
    fn get(&self) -> f64 {
        if self.nan > 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            f64::NAN
        } else if self.pos_inf > 0 {
            f64::INFINITY
        } else if self.neg_inf > 0 {
            f64::NEG_INFINITY
        } else {
            self.finite
        }
    }
}

type SumNative<S> = <<S as Summer>::A as ArrowPrimitiveType>::Native;

struct SumWindow<'a, T: ArrowPrimitiveType, S: Summer, F> {
    values: &'a [T::Native],
    valid: Option<&'a NullBuffer>,
    widen: F,
    acc: S,
    count: i64,
    sums: Vec<SumNative<S>>,
    counts: Vec<i64>,
    base: Option<(&'a mut Vec<SumNative<S>>, &'a mut Vec<i64>)>,
    touched: &'a [u32],
}

impl<T, S, F> Window for SumWindow<'_, T, S, F>
where
    T: ArrowPrimitiveType,
    S: Summer,
    F: Fn(T::Native) -> SumNative<S>,
{
    fn begin(&mut self, seg: usize) {
        self.acc = S::default();
        self.count = 0;
        if let Some((s, c)) = self.base.as_ref() {
            let p = self.touched[seg] as usize;
            if c[p] > 0 {
                self.acc.add(s[p]);
                self.count = c[p];
            }
        }
    }
    fn add(&mut self, pos: usize) {
        if is_valid(self.valid, pos) {
            self.acc.add((self.widen)(self.values[pos]));
            self.count += 1;
        }
    }
    fn remove(&mut self, pos: usize) {
        if is_valid(self.valid, pos) {
            self.count -= 1;
            if self.count == 0 {
                self.acc = S::default();
            } else {
                self.acc.sub((self.widen)(self.values[pos]));
            }
        }
    }
    fn emit(&mut self, out: usize) {
        self.sums[out] = self.acc.get();
        self.counts[out] = self.count;
    }
    fn end(&mut self, seg: usize) {
        if let Some((s, c)) = self.base.as_mut() {
            let p = self.touched[seg] as usize;
            s[p] = self.acc.get();
            c[p] = self.count;
        }
    }
}

/// Per output row, the frame's sum (as `S`) and count of non-null values of `work`.
fn run_sum<T, S, F>(
    layout: &Layout,
    work: &ArrayRef,
    base: Option<(&mut Vec<SumNative<S>>, &mut Vec<i64>)>,
    widen: F,
) -> Result<(Vec<SumNative<S>>, Vec<i64>)>
where
    T: ArrowPrimitiveType,
    S: Summer,
    F: Fn(T::Native) -> SumNative<S>,
{
    let values = work.as_primitive_opt::<T>().ok_or_else(|| {
        Error::Internal(format!(
            "over aggregate: SUM input is {}, expected {}",
            work.data_type(),
            T::DATA_TYPE
        ))
    })?;
    let rows = layout.output_rows();
    let mut w = SumWindow::<T, S, F> {
        values: values.values(),
        valid: values.nulls().filter(|n| n.null_count() > 0),
        widen,
        acc: S::default(),
        count: 0,
        sums: vec![SumNative::<S>::default(); rows],
        counts: vec![0; rows],
        base,
        touched: &layout.touched,
    };
    walk(layout, &mut w);
    Ok((w.sums, w.counts))
}

/// Values `f(sum, count)` where the count is positive, else null.
fn finish<O: ArrowPrimitiveType, N: Copy>(
    sums: &[N],
    counts: &[i64],
    f: impl Fn(N, i64) -> O::Native,
    data_type: &DataType,
) -> ArrayRef {
    let values: Vec<O::Native> = sums
        .iter()
        .zip(counts)
        .map(|(&s, &c)| if c > 0 { f(s, c) } else { O::Native::default() })
        .collect();
    Arc::new(
        PrimitiveArray::<O>::new(values.into(), zero_count_nulls(counts))
            .with_data_type(data_type.clone()),
    )
}

fn sum_avg(
    call: &BoundCall,
    layout: &Layout,
    work: &ArrayRef,
    base: &mut Base,
) -> Result<ArrayRef> {
    let avg = call.kind == AggKind::Avg;
    let out = &call.output_type;
    let name = call.kind.sql_name();
    macro_rules! signed {
        ($t:ty, $n:ty) => {{
            let base = match base {
                Base::Bounded => None,
                Base::SumI(s, c) => Some((s, c)),
                _ => return Err(mismatch(name)),
            };
            let (s, c) = run_sum::<$t, SumI, _>(layout, work, base, |v: $n| v as i64)?;
            if avg {
                // Java's long division truncates toward zero, as Rust's does.
                finish::<$t, i64>(&s, &c, |s, c| s.wrapping_div(c) as $n, out)
            } else {
                finish::<Int64Type, i64>(&s, &c, |s, _| s, out)
            }
        }};
    }
    macro_rules! unsigned {
        ($t:ty, $n:ty) => {{
            let base = match base {
                Base::Bounded => None,
                Base::SumU(s, c) => Some((s, c)),
                _ => return Err(mismatch(name)),
            };
            let (s, c) = run_sum::<$t, SumU, _>(layout, work, base, |v: $n| v as u64)?;
            if avg {
                finish::<$t, u64>(&s, &c, |s, c| (s / c as u64) as $n, out)
            } else {
                finish::<UInt64Type, u64>(&s, &c, |s, _| s, out)
            }
        }};
    }
    macro_rules! float {
        ($t:ty, $n:ty) => {{
            let base = match base {
                Base::Bounded => None,
                Base::SumF(s, c) => Some((s, c)),
                _ => return Err(mismatch(name)),
            };
            let (s, c) = run_sum::<$t, SumF, _>(layout, work, base, |v: $n| f64::from(v))?;
            if avg {
                finish::<Float64Type, f64>(&s, &c, |s, c| s / c as f64, out)
            } else {
                finish::<Float64Type, f64>(&s, &c, |s, _| s, out)
            }
        }};
    }
    Ok(match work.data_type() {
        DataType::Int8 => signed!(Int8Type, i8),
        DataType::Int16 => signed!(Int16Type, i16),
        DataType::Int32 => signed!(Int32Type, i32),
        DataType::Int64 => signed!(Int64Type, i64),
        DataType::UInt8 => unsigned!(UInt8Type, u8),
        DataType::UInt16 => unsigned!(UInt16Type, u16),
        DataType::UInt32 => unsigned!(UInt32Type, u32),
        DataType::UInt64 => unsigned!(UInt64Type, u64),
        DataType::Float32 => float!(Float32Type, f32),
        DataType::Float64 => float!(Float64Type, f64),
        other => {
            return Err(Error::Unsupported(format!(
                "over aggregate: {name} of {other}"
            )))
        }
    })
}
