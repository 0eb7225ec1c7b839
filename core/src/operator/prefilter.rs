//! [`ExtremeFilter`]: drops, before any exchange, the rows that can be neither the maximum
//! (or minimum) of their own tumbling event-time window nor equal to that of any other window
//! they may be joined with. It is an exact local pre-aggregation for two plan shapes:
//!
//! - the input of a window aggregation with no grouping key whose aggregates are all `MAX`
//!   (or all `MIN`) of one column: a row below the running maximum of its window on this
//!   subtask cannot change the window's maximum, so only the rows that raise it travel to
//!   the single aggregating task;
//! - the other input of a join on `value = MAX(value)` of such an aggregation (Nexmark q7:
//!   the bids whose price is the highest of a 10 s window): a row can only meet the windows
//!   whose start lies in a band around its time (the join's time bounds), and it can match
//!   none of them if its value is below each one's running maximum.
//!
//! **Data flow**: per batch, one pass over the value and time columns. For each row with a
//! value and a time, the running best of its own window is raised (only while that window is
//! still open at this task's watermark, so every value counted here is counted by the
//! aggregation too); then the row is kept if some window of its band has no running best yet
//! or one its value reaches. Rows with a null value or time pass. The kept rows leave in one
//! `filter_record_batch`; a batch that loses nothing leaves as is. Watermarks pass through.
//!
//! **Why it is exact**: a window's running best on one subtask is the best of some of the
//! rows the aggregation sees for that window, so it never exceeds the window's result; a
//! dropped row is strictly worse than it, hence worse than the result.
//!
//! **State**: the running best of recent windows (those a row on time can still reach),
//! at most [`ExtremeFilter::MAX_WINDOWS`]. **Checkpoint**: a non-keyed table
//! [`ExtremeFilter::STATE_TABLE`] of `(window_start, best)`; restored as is, the filter drops
//! what an uninterrupted run drops. After a rescale it starts empty: an empty filter drops
//! nothing, and the running bests build up again.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::SchemaRef;
use millstream_kernels::window::as_i64_values_with_nulls;

use super::{OpContext, Operator, Output};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};

/// Keeps the rows that may still be the maximum (or minimum) of a tumbling window they can
/// meet; see the module docs.
///
/// # Example
/// ```
/// use millstream_core::operator::prefilter::ExtremeFilter;
/// // bids that may be the highest of their 10 s window, or of the previous one when they
/// // lie on a window start (a join bound reaching one millisecond back)
/// let _f = ExtremeFilter::max("price", "date_time", 10_000)?.with_reach(0, 10_000)?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExtremeFilter {
    value: String,
    time: String,
    size: i64,
    offset: i64,
    /// A row at time `t` may meet the windows whose start lies in `[t - reach.1, t - reach.0]`.
    reach: (i64, i64),
    max: bool,
    /// `(window start, running best)` of recent windows, in no particular order.
    best: Vec<(i64, i64)>,
    bound: Option<(SchemaRef, usize, usize)>,
    keep: Vec<bool>,
}

impl ExtremeFilter {
    /// Name of the state table.
    pub const STATE_TABLE: &'static str = "window_extreme";
    /// The most windows whose running best is kept.
    pub const MAX_WINDOWS: usize = 16;
    /// The most windows one row's band may span.
    pub const MAX_BAND: i64 = 4;
    /// Times, window sizes and reaches are at most this far from zero (about 36,000 years
    /// of milliseconds), so the window arithmetic cannot overflow; rows timed beyond it pass.
    const MAX_TIME: i64 = 1 << 60;

    /// Keep the rows of `value` (BIGINT) that may be the maximum of their tumbling window of
    /// `size` ms over the event time `time`.
    ///
    /// # Errors
    /// `size` is not positive.
    pub fn max(value: impl Into<String>, time: impl Into<String>, size: i64) -> Result<Self> {
        Self::new(value.into(), time.into(), size, true)
    }

    /// As [`ExtremeFilter::max`], for the minimum.
    ///
    /// # Errors
    /// `size` is not positive.
    pub fn min(value: impl Into<String>, time: impl Into<String>, size: i64) -> Result<Self> {
        Self::new(value.into(), time.into(), size, false)
    }

    fn new(value: String, time: String, size: i64, max: bool) -> Result<Self> {
        if size <= 0 || size > Self::MAX_TIME / 4 {
            return Err(Error::Plan(format!(
                "extreme filter: window size must be positive and at most {} ms, got {size} ms",
                Self::MAX_TIME / 4
            )));
        }
        Ok(ExtremeFilter {
            value,
            time,
            size,
            offset: 0,
            reach: (0, size - 1),
            max,
            best: Vec::new(),
            bound: None,
            keep: Vec::new(),
        })
    }

    /// Windows start at `offset` (mod `size`), as `TUMBLE(..., offset)`.
    pub fn with_offset(mut self, offset: i64) -> Self {
        self.offset = offset.rem_euclid(self.size);
        self
    }

    /// A row at time `t` may meet the windows starting in `[t - hi, t - lo]` (by default
    /// `[t - size + 1, t]`: its own window only).
    ///
    /// # Errors
    /// `lo > hi`, or a band over more than [`ExtremeFilter::MAX_BAND`] windows.
    pub fn with_reach(mut self, lo: i64, hi: i64) -> Result<Self> {
        let far = |x: i64| x.unsigned_abs() > (Self::MAX_TIME / 2) as u64;
        if lo > hi || far(lo) || far(hi) || (hi - lo) / self.size + 1 > Self::MAX_BAND {
            return Err(Error::Plan(format!(
                "extreme filter: band [t - {hi}, t - {lo}] spans too many {} ms windows",
                self.size
            )));
        }
        self.reach = (lo, hi);
        Ok(self)
    }

    fn columns(&mut self, batch: &RecordBatch) -> Result<(usize, usize)> {
        let schema = batch.schema();
        if let Some((s, v, t)) = &self.bound {
            if Arc::ptr_eq(s, &schema) || s.fields() == schema.fields() {
                return Ok((*v, *t));
            }
        }
        let v = schema.index_of(&self.value)?;
        let t = schema.index_of(&self.time)?;
        self.bound = Some((schema, v, t));
        Ok((v, t))
    }

    /// Whether `p` reaches the running best `b`.
    #[inline]
    fn reaches(&self, p: i64, b: i64) -> bool {
        if self.max {
            p >= b
        } else {
            p <= b
        }
    }

    fn slot(&mut self, start: i64) -> usize {
        match self.best.iter().position(|(s, _)| *s == start) {
            Some(i) => i,
            None => {
                let init = if self.max { i64::MIN } else { i64::MAX };
                self.best.push((start, init));
                self.best.len() - 1
            }
        }
    }

    /// Forget the windows no row on time can reach, and the oldest beyond the cap.
    fn prune(&mut self, watermark: i64) {
        let oldest_reachable = watermark.saturating_sub(self.reach.1);
        self.best
            .retain(|(s, _)| s.saturating_add(self.size) > oldest_reachable);
        if self.best.len() > Self::MAX_WINDOWS {
            self.best.sort_unstable();
            let excess = self.best.len() - Self::MAX_WINDOWS;
            self.best.drain(..excess);
        }
    }
}

impl Operator for ExtremeFilter {
    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let (v, t) = self.columns(&batch)?;
        let kernel = |e| Error::Schema(format!("extreme filter: {e}"));
        let (values, value_nulls) = as_i64_values_with_nulls(batch.column(v)).map_err(kernel)?;
        let (times, time_nulls) = as_i64_values_with_nulls(batch.column(t)).map_err(kernel)?;
        let wm = ctx.watermark.0;
        let (size, offset, (lo, hi)) = (self.size, self.offset, self.reach);
        let mut keep = std::mem::take(&mut self.keep);
        keep.clear();
        let mut own = usize::MAX;
        for (i, (&p, &ts)) in values.iter().zip(times).enumerate() {
            if value_nulls.is_some_and(|n| n.is_null(i))
                || time_nulls.is_some_and(|n| n.is_null(i))
                || ts.unsigned_abs() > Self::MAX_TIME as u64
            {
                keep.push(true);
                continue;
            }
            let start = ts - (ts - offset).rem_euclid(size);
            if start + (size - 1) <= wm {
                // Late for its own window: kept, so the operator after this one sees it
                // and counts it as late (or joins it), as without the filter.
                keep.push(true);
                continue;
            }
            if own >= self.best.len() || self.best[own].0 != start {
                if self.best.len() >= 4 * Self::MAX_WINDOWS {
                    // Sparse times open many windows in one batch: forget the oldest (a
                    // forgotten best only keeps more rows) so each lookup stays short.
                    self.prune(wm);
                }
                own = self.slot(start);
            }
            let best = &mut self.best[own].1;
            *best = if self.max {
                (*best).max(p)
            } else {
                (*best).min(p)
            };
            // The band's window starts, on the grid of window starts.
            let (first, last) = (ts - hi, ts - lo);
            let mut s = first + (offset - first).rem_euclid(size);
            let mut k = false;
            while s <= last && !k {
                k = match self.best.iter().find(|(w, _)| *w == s) {
                    Some(&(_, b)) => self.reaches(p, b),
                    None => true,
                };
                s = s.saturating_add(size);
            }
            keep.push(k);
        }
        self.prune(wm);
        if keep.iter().all(|&k| k) {
            self.keep = keep;
            out.emit(batch);
            return Ok(());
        }
        let mask = BooleanArray::from(std::mem::take(&mut keep));
        out.emit(filter_record_batch(&batch, &mask)?);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, _ctx: &mut OpContext) -> Result<OperatorState> {
        let starts = Int64Array::from_iter_values(self.best.iter().map(|b| b.0));
        let best = Int64Array::from_iter_values(self.best.iter().map(|b| b.1));
        let batch = RecordBatch::try_from_iter([
            ("window_start", Arc::new(starts) as ArrayRef),
            ("best", Arc::new(best) as ArrayRef),
        ])?;
        let mut state = OperatorState::new();
        state.push_operator(Self::STATE_TABLE, batch);
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, _ctx: &mut OpContext) -> Result<()> {
        if let Some(t) = state
            .tables
            .iter()
            .find(|t| t.name != Self::STATE_TABLE && t.num_rows() > 0)
        {
            return Err(Error::Schema(format!(
                "extreme filter: restore: unknown state table '{}'",
                t.name
            )));
        }
        self.best.clear();
        if state.rescaled {
            return Ok(());
        }
        let Some(t) = state.table(Self::STATE_TABLE) else {
            return Ok(());
        };
        for b in &t.batches {
            let column = |name: &str| -> Result<&Int64Array> {
                b.column_by_name(name)
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>())
                    .ok_or_else(|| {
                        Error::Schema(format!(
                            "extreme filter: restore: state column '{name}' is missing or not BIGINT"
                        ))
                    })
            };
            let (starts, best) = (column("window_start")?, column("best")?);
            self.best.extend(
                starts
                    .values()
                    .iter()
                    .copied()
                    .zip(best.values().iter().copied()),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
#[path = "prefilter_tests.rs"]
mod tests;
