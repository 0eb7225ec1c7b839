//! Window assignment as array operations on event time (ms, `i64`).
//!
//! - [`tumble_start`]: one window per row (Flink `TUMBLE`).
//! - [`hop_windows`]: every sliding window containing each row (Flink `HOP`).
//! - [`cumulate_windows`]: every cumulating window containing each row
//!   (Flink `CUMULATE`).
//!
//! The multi-window kernels emit *pairs* `(row index, window)`, so an operator
//! can `take` the input rows once and aggregate by (window, key) groups.
//!
//! All arithmetic is on `i64` with Euclidean remainders, so negative
//! timestamps (before 1970) land in the right windows. Timestamps within
//! `size` of `i64::MIN`/`i64::MAX` wrap (as Java's `long` does in Flink).

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::buffer::NullBuffer;
use arrow::datatypes::*;

use crate::error::{KernelError, Result};

/// The start of the window of `size` containing `ts`, with windows aligned to
/// `offset` (Flink `TimeWindow.getWindowStartWithOffset`).
#[inline]
fn window_start(ts: i64, size: i64, offset: i64) -> i64 {
    ts.wrapping_sub(ts.wrapping_sub(offset).rem_euclid(size))
}

/// The start of the aligned window containing `ts`, remembering the last
/// window: event time within a batch mostly moves a little at a time, so most
/// rows fall in the previous row's window and skip the division (a 64-bit
/// `idiv` costs tens of cycles; the range check, one).
struct WindowCache {
    size: i64,
    offset: i64,
    /// The last window, `[lo, hi)`; `hi` saturates, so a window at the very end
    /// of time is only ever recomputed, never wrongly reused.
    lo: i64,
    hi: i64,
}

impl WindowCache {
    fn new(size: i64, offset: i64) -> Self {
        // empty until the first row
        Self {
            size,
            offset,
            lo: 0,
            hi: 0,
        }
    }

    #[inline]
    fn start(&mut self, ts: i64) -> i64 {
        if ts < self.lo || ts >= self.hi {
            self.lo = window_start(ts, self.size, self.offset);
            self.hi = self.lo.saturating_add(self.size);
        }
        self.lo
    }
}

/// The tumbling window start of each timestamp, into `out` (cleared first):
/// `ts - (ts - offset).rem_euclid(size)`.
///
/// # Example
/// ```
/// use millstream_kernels::window::tumble_start;
/// let mut starts = Vec::new();
/// tumble_start(&[0, 999, 1000, -1], 1000, 0, &mut starts);
/// assert_eq!(starts, vec![0, 0, 1000, -1000]);
/// ```
///
/// # Panics
/// If `size <= 0`.
pub fn tumble_start(ts: &[i64], size: i64, offset: i64, out: &mut Vec<i64>) {
    assert!(size > 0, "tumble_start: size must be positive, got {size}");
    out.clear();
    let mut cache = WindowCache::new(size, offset);
    out.extend(ts.iter().map(|&t| cache.start(t)));
}

/// Every `(row, window start)` pair of the sliding windows of `size` every
/// `slide` (starts `≡ offset (mod slide)`) that contain each timestamp:
/// `start <= ts < start + size`.
///
/// `row_idx` and `starts` are cleared, then filled in row order and, within a
/// row, in increasing start. `size` need not be a multiple of `slide`; when
/// `size < slide` some rows fall in no window (Flink drops them too).
///
/// # Example
/// ```
/// use millstream_kernels::window::hop_windows;
/// let (mut rows, mut starts) = (Vec::new(), Vec::new());
/// // 10-ms windows every 5 ms
/// hop_windows(&[7, 12], 10, 5, 0, &mut rows, &mut starts);
/// assert_eq!(rows, vec![0, 0, 1, 1]);
/// assert_eq!(starts, vec![0, 5, 5, 10]);
/// ```
///
/// # Panics
/// If `size <= 0` or `slide <= 0`, or there are more than `u32::MAX` rows.
pub fn hop_windows(
    ts: &[i64],
    size: i64,
    slide: i64,
    offset: i64,
    row_idx: &mut Vec<u32>,
    starts: &mut Vec<i64>,
) {
    assert!(
        size > 0 && slide > 0,
        "hop_windows: size {size} and slide {slide} must be positive"
    );
    row_idx.clear();
    starts.clear();
    // capped: a day-long window sliding by the millisecond is 86.4M per row
    let per_row = (size as u64).div_ceil(slide as u64).min(64) as usize;
    row_idx.reserve(ts.len() * per_row);
    starts.reserve(ts.len() * per_row);
    // A row `r = ts - last` past its last window start is in `q + 1` windows
    // if `r < m`, else in `q` (`size = q * slide + m`): no division per row.
    let (q, m) = (size / slide, size % slide);
    let mut cache = WindowCache::new(slide, offset);
    for (row, &t) in ts.iter().enumerate() {
        let row = u32::try_from(row).expect("batches have at most u32::MAX rows");
        let last = cache.start(t);
        let n = q + i64::from(t.wrapping_sub(last) < m);
        let first = last.wrapping_sub((n - 1).wrapping_mul(slide));
        for j in 0..n {
            row_idx.push(row);
            starts.push(first.wrapping_add(j.wrapping_mul(slide)));
        }
    }
}

/// Every `(row, window end)` pair of the cumulating windows containing each
/// timestamp (Flink `CUMULATE`).
///
/// With `ws` the start of the tumbling window of `max_size` containing `ts`
/// (see [`tumble_start`]), the windows are `[ws, ws + k*step)` for
/// `k = 1..=max_size/step`; a row belongs to those with `ws + k*step > ts`.
/// `ends` gets each window's end (its start is `tumble_start` of the end - 1).
/// `row_idx` and `ends` are cleared, then filled in row order and, within a
/// row, in increasing end.
///
/// # Example
/// ```
/// use millstream_kernels::window::cumulate_windows;
/// let (mut rows, mut ends) = (Vec::new(), Vec::new());
/// // windows growing by 10 ms up to 30 ms
/// cumulate_windows(&[5, 25], 30, 10, 0, &mut rows, &mut ends);
/// assert_eq!(rows, vec![0, 0, 0, 1]);
/// assert_eq!(ends, vec![10, 20, 30, 30]);
/// ```
///
/// # Panics
/// If `max_size <= 0`, `step <= 0` or `step > max_size`, or there are more than
/// `u32::MAX` rows.
pub fn cumulate_windows(
    ts: &[i64],
    max_size: i64,
    step: i64,
    offset: i64,
    row_idx: &mut Vec<u32>,
    ends: &mut Vec<i64>,
) {
    assert!(
        max_size > 0 && step > 0 && step <= max_size,
        "cumulate_windows: need 0 < step ({step}) <= max_size ({max_size})"
    );
    row_idx.clear();
    ends.clear();
    let num_windows = max_size / step;
    // rows in the same step `[lo, hi)` of the same window share ws and first_k
    let (mut lo, mut hi, mut ws, mut first_k) = (0i64, 0i64, 0i64, 0i64);
    for (row, &t) in ts.iter().enumerate() {
        let row = u32::try_from(row).expect("batches have at most u32::MAX rows");
        if t < lo || t >= hi {
            ws = window_start(t, max_size, offset);
            // smallest k with ws + k*step > t
            first_k = t.wrapping_sub(ws) / step + 1;
            lo = ws.wrapping_add((first_k - 1) * step);
            hi = lo.saturating_add(step).min(ws.saturating_add(max_size));
        }
        for k in first_k..=num_windows {
            row_idx.push(row);
            ends.push(ws.wrapping_add(k * step));
        }
    }
}

/// The minimum and maximum of `ts`, or `None` if empty.
///
/// Written as independent lanes so it auto-vectorises: this runs once per
/// batch to derive watermarks, never per row.
///
/// # Example
/// ```
/// use millstream_kernels::window::min_max_i64;
/// assert_eq!(min_max_i64(&[3, -1, 7]), Some((-1, 7)));
/// assert_eq!(min_max_i64(&[]), None);
/// ```
pub fn min_max_i64(ts: &[i64]) -> Option<(i64, i64)> {
    const LANES: usize = 8;
    if ts.is_empty() {
        return None;
    }
    let mut lo = [i64::MAX; LANES];
    let mut hi = [i64::MIN; LANES];
    let chunks = ts.chunks_exact(LANES);
    let rest = chunks.remainder();
    for chunk in chunks {
        for j in 0..LANES {
            lo[j] = lo[j].min(chunk[j]);
            hi[j] = hi[j].max(chunk[j]);
        }
    }
    let mut min = lo.into_iter().min().unwrap_or(i64::MAX);
    let mut max = hi.into_iter().max().unwrap_or(i64::MIN);
    for &t in rest {
        min = min.min(t);
        max = max.max(t);
    }
    Some((min, max))
}

/// The raw `i64` values of an `Int64`, `Timestamp` (any unit, any time zone)
/// or `Date64` column, without a copy. Null slots hold unspecified values:
/// read the validity from [`as_i64_values_with_nulls`] or `array.nulls()`.
///
/// # Example
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::{ArrayRef, TimestampMillisecondArray};
/// use millstream_kernels::window::as_i64_values;
/// let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(vec![1000, 2000]));
/// assert_eq!(as_i64_values(&ts)?, &[1000, 2000]);
/// # Ok::<(), millstream_kernels::KernelError>(())
/// ```
///
/// # Errors
/// [`KernelError::UnsupportedType`] for any other type.
pub fn as_i64_values(array: &ArrayRef) -> Result<&[i64]> {
    Ok(as_i64_values_with_nulls(array)?.0)
}

/// [`as_i64_values`] plus the validity (`None` when there are no nulls).
///
/// # Errors
/// [`KernelError::UnsupportedType`] for a type other than `Int64`,
/// `Timestamp` or `Date64`.
pub fn as_i64_values_with_nulls(array: &ArrayRef) -> Result<(&[i64], Option<&NullBuffer>)> {
    let values: &[i64] = match array.data_type() {
        DataType::Int64 => array.as_primitive::<Int64Type>().values(),
        DataType::Date64 => array.as_primitive::<Date64Type>().values(),
        DataType::Timestamp(TimeUnit::Second, _) => {
            array.as_primitive::<TimestampSecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            array.as_primitive::<TimestampMillisecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().values()
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            array.as_primitive::<TimestampNanosecondType>().values()
        }
        other => return Err(KernelError::unsupported("as_i64_values", other)),
    };
    Ok((values, array.nulls().filter(|n| n.null_count() > 0)))
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Date32Array, Int64Array, TimestampNanosecondArray};
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn tumble_known_answers() {
        let mut out = Vec::new();
        tumble_start(&[-1001, -1000, -1, 0, 1, 1499, 1500], 1000, 500, &mut out);
        assert_eq!(out, vec![-1500, -1500, -500, -500, -500, 500, 1500]);
    }

    #[test]
    fn hop_size_not_multiple_of_slide() {
        let (mut rows, mut starts) = (Vec::new(), Vec::new());
        // size 7, slide 3: windows [0,7), [3,10), [6,13), ...
        hop_windows(&[6, -1], 7, 3, 0, &mut rows, &mut starts);
        assert_eq!(rows, vec![0, 0, 0, 1, 1]);
        assert_eq!(starts, vec![0, 3, 6, -6, -3]);
        // size < slide leaves gaps: windows [0,2), [5,7)
        hop_windows(&[1, 3, 5], 2, 5, 0, &mut rows, &mut starts);
        assert_eq!(rows, vec![0, 2]);
        assert_eq!(starts, vec![0, 5]);
    }

    #[test]
    fn cumulate_negative() {
        let (mut rows, mut ends) = (Vec::new(), Vec::new());
        cumulate_windows(&[-1, -30], 30, 10, 0, &mut rows, &mut ends);
        assert_eq!(rows, vec![0, 1, 1, 1]);
        assert_eq!(ends, vec![0, -20, -10, 0]);
    }

    #[test]
    fn min_max() {
        let v: Vec<i64> = (0..100).map(|i| (i * 37) % 101 - 50).collect();
        assert_eq!(
            min_max_i64(&v),
            Some((*v.iter().min().unwrap(), *v.iter().max().unwrap()))
        );
        assert_eq!(min_max_i64(&[5]), Some((5, 5)));
    }

    #[test]
    fn i64_views() {
        let ts: ArrayRef = Arc::new(TimestampNanosecondArray::from(vec![Some(1), None]));
        let (v, nulls) = as_i64_values_with_nulls(&ts).unwrap();
        assert_eq!(v[0], 1);
        assert_eq!(nulls.unwrap().null_count(), 1);
        let i: ArrayRef = Arc::new(Int64Array::from(vec![4]));
        assert_eq!(as_i64_values(&i).unwrap(), &[4]);
        let d: ArrayRef = Arc::new(Date32Array::from(vec![4]));
        assert!(as_i64_values(&d).is_err());
    }

    proptest! {
        #[test]
        fn tumble_matches_definition(
            mut ts in proptest::collection::vec(-10_000i64..10_000, 0..50),
            size in 1i64..300,
            offset in -500i64..500,
            sorted in any::<bool>(),
        ) {
            if sorted {
                // runs of rows in one window exercise the window cache
                ts.sort_unstable();
            }
            let mut out = Vec::new();
            tumble_start(&ts, size, offset, &mut out);
            for (&t, &s) in ts.iter().zip(&out) {
                prop_assert!(s <= t && t < s + size);
                prop_assert_eq!((s - offset).rem_euclid(size), 0);
            }
        }

        #[test]
        fn hop_matches_brute_force(
            mut ts in proptest::collection::vec(-1_000i64..1_000, 0..30),
            size in 1i64..60,
            slide in 1i64..40,
            offset in -50i64..50,
            sorted in any::<bool>(),
        ) {
            if sorted {
                // runs of rows in one window exercise the window cache
                ts.sort_unstable();
            }
            let (mut rows, mut starts) = (Vec::new(), Vec::new());
            hop_windows(&ts, size, slide, offset, &mut rows, &mut starts);
            let mut expected = Vec::new();
            for (row, &t) in ts.iter().enumerate() {
                for start in (t - size - slide)..=t {
                    if (start - offset).rem_euclid(slide) == 0 && start <= t && t < start + size {
                        expected.push((row as u32, start));
                    }
                }
            }
            let got: Vec<(u32, i64)> = rows.into_iter().zip(starts).collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn cumulate_matches_brute_force(
            mut ts in proptest::collection::vec(-1_000i64..1_000, 0..30),
            steps in 1i64..6,
            step in 1i64..20,
            extra in 0i64..3,
            offset in -50i64..50,
            sorted in any::<bool>(),
        ) {
            if sorted {
                // runs of rows in one window exercise the window cache
                ts.sort_unstable();
            }
            // max_size a multiple of step, or not (extra), as the contract allows
            let max_size = steps * step + extra.min(step - 1);
            let (mut rows, mut ends) = (Vec::new(), Vec::new());
            cumulate_windows(&ts, max_size, step, offset, &mut rows, &mut ends);
            let mut expected = Vec::new();
            for (row, &t) in ts.iter().enumerate() {
                for ws in (t - max_size)..=t {
                    if (ws - offset).rem_euclid(max_size) != 0 || t >= ws + max_size {
                        continue;
                    }
                    for k in 1..=max_size / step {
                        if ws <= t && t < ws + k * step {
                            expected.push((row as u32, ws + k * step));
                        }
                    }
                }
            }
            let got: Vec<(u32, i64)> = rows.into_iter().zip(ends).collect();
            prop_assert_eq!(got, expected);
        }

        #[test]
        fn min_max_matches_iter(ts in proptest::collection::vec(any::<i64>(), 0..100)) {
            let expected = ts.iter().min().map(|&m| (m, *ts.iter().max().unwrap()));
            prop_assert_eq!(min_max_i64(&ts), expected);
        }
    }
}
