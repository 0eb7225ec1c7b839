//! `MIN`, `MAX`, `FIRST_VALUE`, `LAST_VALUE` over sliding frames: a monotonic deque of
//! candidate positions (the best first), so each position is pushed and popped at most
//! once; `FIRST_VALUE` keeps every valid position in order and `LAST_VALUE` the last one
//! added. The winner is a position, and the result one `interleave` of the input column,
//! so every primitive and string type shares the same loop (a `match` on the type picks the
//! value accessor and the order before the loop). Unbounded frames start each partition's
//! segment from its running value ([`ValueStore`](super::store::ValueStore)) and store the
//! winner back.

use std::marker::PhantomData;

use arrow::array::{
    downcast_primitive_array, new_null_array, Array, ArrayRef, ArrowNativeTypeOp, AsArray,
    PrimitiveArray,
};
use arrow::buffer::NullBuffer;
use arrow::compute::interleave;
use arrow::datatypes::{ArrowPrimitiveType, DataType};
use millstream_kernels::agg::AggKind;

use super::eval::{is_valid, mismatch, Base, BoundCall};
use super::layout::{walk, Layout, Window};
use crate::error::{Error, Result};

/// Which end of the order, or which arrival, an extreme aggregate keeps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Min,
    Max,
    First,
    Last,
}

/// An `interleave` index into `[work column, partition base values, one null]`.
type Cand = (usize, usize);
/// The null result.
const NULL: Cand = (2, 0);

/// What an extreme aggregate's loop reads: values of the work column and of the
/// partitions' base values (same type), their validity, and the order.
struct ExtremeInput<'a, G, H, B> {
    mode: Mode,
    unbounded: bool,
    work_valid: Option<&'a NullBuffer>,
    base_valid: Option<&'a NullBuffer>,
    work: G,
    base: H,
    /// `better(a, b)`: `a` wins over `b` (`MIN`/`MAX` only).
    better: B,
}

struct ExtremeWindow<'a, V, G, H, B> {
    input: ExtremeInput<'a, G, H, B>,
    /// Candidates in position order; those before `head` have left the frame.
    queue: Vec<Cand>,
    head: usize,
    last: Option<Cand>,
    out: Vec<Cand>,
    finals: Vec<Cand>,
    _v: PhantomData<fn() -> V>,
}

impl<V, G, H, B> ExtremeWindow<'_, V, G, H, B>
where
    V: Copy,
    G: Fn(usize) -> V,
    H: Fn(usize) -> V,
    B: Fn(V, V) -> bool,
{
    #[inline]
    fn value(&self, c: Cand) -> V {
        if c.0 == 0 {
            (self.input.work)(c.1)
        } else {
            (self.input.base)(c.1)
        }
    }

    #[inline]
    fn push(&mut self, c: Cand) {
        match self.input.mode {
            Mode::Last => self.last = Some(c),
            Mode::First => self.queue.push(c),
            Mode::Min | Mode::Max => {
                let v = self.value(c);
                while self.queue.len() > self.head {
                    let back = self.queue[self.queue.len() - 1];
                    if (self.input.better)(self.value(back), v) {
                        break;
                    }
                    self.queue.pop();
                }
                self.queue.push(c);
            }
        }
    }

    #[inline]
    fn current(&self) -> Cand {
        match self.input.mode {
            Mode::Last => self.last.unwrap_or(NULL),
            _ => self.queue.get(self.head).copied().unwrap_or(NULL),
        }
    }
}

impl<V, G, H, B> Window for ExtremeWindow<'_, V, G, H, B>
where
    V: Copy,
    G: Fn(usize) -> V,
    H: Fn(usize) -> V,
    B: Fn(V, V) -> bool,
{
    fn begin(&mut self, seg: usize) {
        self.queue.clear();
        self.head = 0;
        self.last = None;
        if self.input.unbounded && is_valid(self.input.base_valid, seg) {
            self.push((1, seg));
        }
    }
    fn add(&mut self, pos: usize) {
        if is_valid(self.input.work_valid, pos) {
            self.push((0, pos));
        }
    }
    fn remove(&mut self, pos: usize) {
        if self.input.mode == Mode::Last {
            if self.last == Some((0, pos)) {
                self.last = None;
            }
        } else if self.queue.get(self.head) == Some(&(0, pos)) {
            self.head += 1;
        }
    }
    fn emit(&mut self, out: usize) {
        self.out[out] = self.current();
    }
    fn end(&mut self, seg: usize) {
        if self.input.unbounded {
            self.finals[seg] = self.current();
        }
    }
}

/// Per output row and per segment (the partition's new running value), the winning
/// candidate.
fn run_extreme<V, G, H, B>(
    layout: &Layout,
    input: ExtremeInput<'_, G, H, B>,
) -> (Vec<Cand>, Vec<Cand>)
where
    V: Copy,
    G: Fn(usize) -> V,
    H: Fn(usize) -> V,
    B: Fn(V, V) -> bool,
{
    let mut w = ExtremeWindow {
        input,
        queue: Vec::new(),
        head: 0,
        last: None,
        out: vec![NULL; layout.output_rows()],
        finals: vec![NULL; layout.segs.len()],
        _v: PhantomData,
    };
    walk(layout, &mut w);
    (w.out, w.finals)
}

/// [`run_extreme`] with `better` derived from the strict order `lt` and the mode.
fn by_mode<V, G, H>(
    layout: &Layout,
    input: ExtremeInput<'_, G, H, ()>,
    lt: impl Fn(V, V) -> bool,
) -> (Vec<Cand>, Vec<Cand>)
where
    V: Copy,
    G: Fn(usize) -> V,
    H: Fn(usize) -> V,
{
    let ExtremeInput {
        mode,
        unbounded,
        work_valid,
        base_valid,
        work,
        base,
        better: (),
    } = input;
    macro_rules! with {
        ($better:expr) => {
            run_extreme(
                layout,
                ExtremeInput {
                    mode,
                    unbounded,
                    work_valid,
                    base_valid,
                    work,
                    base,
                    better: $better,
                },
            )
        };
    }
    match mode {
        Mode::Min => with!(|a, b| lt(a, b)),
        Mode::Max => with!(|a, b| lt(b, a)),
        Mode::First | Mode::Last => with!(|_: V, _: V| false),
    }
}

fn prim_extreme<T: ArrowPrimitiveType>(
    layout: &Layout,
    mode: Mode,
    unbounded: bool,
    work: &PrimitiveArray<T>,
    base: &ArrayRef,
) -> Result<(Vec<Cand>, Vec<Cand>)> {
    let base = base
        .as_primitive_opt::<T>()
        .ok_or_else(|| mismatch("MIN/MAX"))?;
    let (wv, bv) = (work.values(), base.values());
    let input = ExtremeInput {
        mode,
        unbounded,
        work_valid: work.nulls(),
        base_valid: base.nulls(),
        work: |i: usize| wv[i],
        base: |i: usize| bv[i],
        better: (),
    };
    Ok(by_mode(layout, input, |a: T::Native, b: T::Native| {
        a.is_lt(b)
    }))
}

fn str_extreme<'a, A>(
    layout: &Layout,
    mode: Mode,
    unbounded: bool,
    work: A,
    base: A,
) -> (Vec<Cand>, Vec<Cand>)
where
    A: arrow::array::ArrayAccessor<Item = &'a str> + Copy + 'a,
{
    let input = ExtremeInput {
        mode,
        unbounded,
        work_valid: work.nulls(),
        base_valid: base.nulls(),
        work: |i: usize| work.value(i),
        base: |i: usize| base.value(i),
        better: (),
    };
    by_mode(layout, input, |a: &str, b: &str| a < b)
}

/// The result column (in output order) of a `MIN`/`MAX`/`FIRST_VALUE`/`LAST_VALUE` call,
/// updating its running values for unbounded frames.
///
/// # Errors
/// An unsupported input type, or Arrow errors.
pub(super) fn extreme(
    call: &BoundCall,
    layout: &Layout,
    work: &ArrayRef,
    base: &mut Base,
) -> Result<ArrayRef> {
    let mode = match call.kind {
        AggKind::Min => Mode::Min,
        AggKind::Max => Mode::Max,
        AggKind::First => Mode::First,
        _ => Mode::Last,
    };
    let null = new_null_array(work.data_type(), 1);
    let (unbounded, base_values) = match base {
        Base::Bounded => (false, null.clone()),
        Base::Value(store) => (true, store.gather(&layout.touched)?),
        _ => return Err(mismatch(call.kind.sql_name())),
    };
    let bad = || mismatch(call.kind.sql_name());
    let (out, finals) = downcast_primitive_array!(
        work => prim_extreme(layout, mode, unbounded, work, &base_values)?,
        DataType::Utf8 => str_extreme(
            layout, mode, unbounded,
            work.as_string::<i32>(),
            base_values.as_string_opt::<i32>().ok_or_else(bad)?,
        ),
        DataType::LargeUtf8 => str_extreme(
            layout, mode, unbounded,
            work.as_string::<i64>(),
            base_values.as_string_opt::<i64>().ok_or_else(bad)?,
        ),
        DataType::Utf8View => str_extreme(
            layout, mode, unbounded,
            work.as_string_view(),
            base_values.as_string_view_opt().ok_or_else(bad)?,
        ),
        other => return Err(Error::Unsupported(format!(
            "over aggregate: {} of {other}",
            call.kind.sql_name()
        )))
    );
    let sources: [&dyn Array; 3] = [work.as_ref(), base_values.as_ref(), null.as_ref()];
    let result = interleave(&sources, &out)?;
    if let Base::Value(store) = base {
        store.set(&layout.touched, interleave(&sources, &finals)?)?;
    }
    Ok(result)
}
