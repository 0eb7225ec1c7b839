//! Window operators: keyed window aggregation ([`WindowAggregate`]) and full-window process
//! functions ([`WindowProcess`]) over tumbling, hopping, cumulating and session windows, in
//! event time or processing time.
//!
//! Flink equivalent: `WindowOperator` (DataStream `keyBy(..).window(..).aggregate(..)` /
//! `.process(..)`) and the SQL window TVF aggregations (`GROUP BY window_start, window_end`).
//!
//! ```text
//!  batch ─▶ time column ─▶ kernels::window (tumble_start / hop_windows / cumulate_windows)
//!             │                 │ (row, window) pairs
//!             │                 ▼
//!             │           Splitter: distinct windows of the batch (usually 1-2),
//!             │           rows grouped by window (counting sort), late rows
//!             ▼                 │
//!     late rows ─▶ side output 1 / dropped (always counted)
//!                               ▼
//!             per window: GroupIndexer (key → dense id) + GroupsAccumulators (aggregate)
//!                         or row references into a RowStore (process, sessions)
//!                               │ on_watermark(wm): every window with end-1 <= wm, by end
//!                               ▼
//!                     one batch per fired window, then the watermark
//! ```
//!
//! # Semantics (Flink's)
//! - A window `[start, end)` fires when the watermark reaches `end - 1` (its `window_time`).
//!   Windows fire in order of end; results of a watermark precede the forwarded watermark.
//! - A window is *late* when `end - 1 + allowed_lateness <= watermark`. A row is late when
//!   every window it belongs to is late; it is counted in `late_dropped`, or sent unchanged
//!   to side output 1 and counted in `late_side_output` when the spec asks for it. A row
//!   that falls in no window at all (hop with `size < slide`) is not late: it is ignored, as
//!   in Flink.
//! - With `allowed_lateness > 0` a fired window stays until `end - 1 + lateness <= wm`; rows
//!   arriving for it (not late) update it and re-fire it right after their batch, for the
//!   keys that changed, as Flink's `EventTimeTrigger` does — once per batch rather than once
//!   per row.
//! - Processing-time windows take the wall clock at arrival as every row's time, fire from
//!   processing-time callbacks at `end - 1`, and are never late. At end of input (the final
//!   watermark, [`Watermark::MAX`](crate::time::Watermark::MAX), or
//!   [`Operator::on_end`](crate::operator::Operator::on_end)) every open window fires, in
//!   either time domain, before the final watermark goes on.
//!
//! # Cost
//! Tumble/hop/cumulate aggregates keep `O(groups)` accumulator state per open window and
//! never retain rows; sessions and process functions retain the input rows of open windows
//! (see `rows.rs`). A watermark costs `O(windows due or kept for lateness)` plus the fired
//! results; barriers emit nothing.
//!
//! # Checkpoints
//! [`Operator::snapshot`](crate::operator::Operator::snapshot) writes the open windows as
//! keyed Arrow tables filed by the key group of each key (aggregates: one row per window and
//! key with the accumulators' state columns; sessions and process functions: the retained
//! rows and each window's references to them), plus one non-keyed metadata row (input schema
//! and watermark; `snapshot.rs`). Restore rebuilds the indexers, accumulators and row stores
//! so that the output continues exactly as an uninterrupted run's, rows in the same order;
//! after a rescale each subtask restores the windows of the key groups it owns, gathered
//! from every old subtask. The layouts are in the docs of `aggregate/snapshot.rs`,
//! `process/snapshot.rs` and `session.rs`.

mod aggregate;
mod process;
mod rows;
mod session;
mod snapshot;

#[cfg(test)]
mod distinct_tests;
#[cfg(test)]
mod oracle;
#[cfg(test)]
mod process_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

pub use aggregate::{AggSpec, WindowAggregate};
pub use process::{WindowFn, WindowProcess};

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, TimestampMillisecondArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, TimeUnit};
use arrow::record_batch::RecordBatch;
use millstream_kernels::window::{
    as_i64_values, cumulate_windows, hop_windows, min_max_i64, tumble_start,
};

use super::{OpContext, Output};
use crate::error::{Error, Location, Result};
use crate::time::Watermark;
use crate::window::{TimeDomain, WindowAssigner, WindowInfo, WindowSpec};

/// Names of the window columns every window aggregate result carries.
pub(crate) const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// Whether a window ending at `end` is past its allowed lateness at watermark `wm`
/// (Flink's `isWindowLate`: `maxTimestamp + allowedLateness <= currentWatermark`).
#[inline]
pub(crate) fn window_is_late(end: i64, lateness: i64, wm: i64) -> bool {
    end.saturating_sub(1).saturating_add(lateness) <= wm
}

/// Whether a window ending at `end` is due to fire at time `t` (`end - 1 <= t`).
#[inline]
pub(crate) fn window_is_due(end: i64, t: i64) -> bool {
    end.saturating_sub(1) <= t
}

/// Whether watermark `wm` fires windows of `domain`: every watermark fires event-time
/// windows; the final one (end of input) fires processing-time windows too. The runtime
/// calls `on_end` only after that watermark has gone downstream, so a processing-time result
/// fired there would follow it, where the watermark says no row can come.
#[inline]
pub(crate) fn fires_on(domain: TimeDomain, wm: Watermark) -> bool {
    domain == TimeDomain::EventTime || wm == Watermark::MAX
}

/// Checks the spec and that event-time windows name their time column.
pub(crate) fn check_spec(spec: &WindowSpec, time_column: &Option<String>) -> Result<()> {
    spec.assigner.validate()?;
    if spec.domain == TimeDomain::EventTime && time_column.is_none() {
        return Err(Error::Plan(
            "event-time window needs a time column (or use processing time)".into(),
        ));
    }
    if spec.allowed_lateness < 0 {
        return Err(Error::Plan(format!(
            "window allowed lateness must not be negative, got {} ms",
            spec.allowed_lateness
        )));
    }
    Ok(())
}

/// Checks that a time column holds milliseconds (`Int64`, `Date64`, `Timestamp(ms)`).
pub(crate) fn check_time_type(name: &str, data_type: &DataType) -> Result<()> {
    match data_type {
        DataType::Int64 | DataType::Date64 | DataType::Timestamp(TimeUnit::Millisecond, _) => {
            Ok(())
        }
        other => Err(Error::Schema(format!(
            "window time column '{name}' must be BIGINT or TIMESTAMP(3) milliseconds, got {other}"
        ))),
    }
}

/// The event times of a batch's time column: the raw `i64` milliseconds, no copy.
///
/// # Errors
/// A null event time (Flink fails on a null rowtime too).
pub(crate) fn event_times<'a>(batch: &'a RecordBatch, idx: usize, name: &str) -> Result<&'a [i64]> {
    let col = batch.column(idx);
    if col.null_count() > 0 {
        return Err(Error::Data {
            location: Location {
                source: "window operator".into(),
                line: None,
                column: Some(name.to_string()),
            },
            detail: format!("{} rows have a null event time", col.null_count()),
        });
    }
    Ok(as_i64_values(col)?)
}

/// The three window fields (`window_start`, `window_end`, `window_time`), never null.
pub(crate) fn window_fields() -> Vec<Field> {
    WINDOW_COLUMNS
        .iter()
        .map(|n| Field::new(*n, DataType::Timestamp(TimeUnit::Millisecond, None), false))
        .collect()
}

/// The window columns for `rows` result rows of one window.
pub(crate) fn window_columns(info: WindowInfo, rows: usize) -> [ArrayRef; 3] {
    [
        Arc::new(TimestampMillisecondArray::from_value(info.start, rows)),
        Arc::new(TimestampMillisecondArray::from_value(info.end, rows)),
        Arc::new(TimestampMillisecondArray::from_value(
            info.max_timestamp(),
            rows,
        )),
    ]
}

/// Sends late rows where the spec says and counts them.
pub(crate) fn route_late(
    spec: &WindowSpec,
    batch: &RecordBatch,
    late: Option<&BooleanArray>,
    count: usize,
    ctx: &mut OpContext,
    out: &mut Output,
) -> Result<()> {
    if count == 0 {
        return Ok(());
    }
    if spec.late_side_output {
        let rows = match late {
            Some(mask) => filter_record_batch(batch, mask)?,
            None => batch.clone(),
        };
        out.emit_side(1, rows);
        ctx.metrics.late_side_output += count as u64;
    } else {
        ctx.metrics.late_dropped += count as u64;
    }
    Ok(())
}

/// Every output column name once: keys, window columns and results must not collide.
pub(crate) fn check_unique_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<()> {
    let mut seen: Vec<&str> = Vec::new();
    for n in names {
        if seen.contains(&n) {
            return Err(Error::Plan(format!(
                "window output has two columns named '{n}'"
            )));
        }
        seen.push(n);
    }
    Ok(())
}

/// The times rows of a batch are assigned by.
#[derive(Debug, Clone, Copy)]
pub(crate) enum RowTimes<'a> {
    /// Event time, one per row.
    Event(&'a [i64]),
    /// Processing time: every row of the batch at this instant.
    Uniform(i64),
}

/// One window touched by a batch.
#[derive(Debug, Clone)]
pub(crate) struct SplitWindow {
    /// The window.
    pub(crate) info: WindowInfo,
    /// Past its allowed lateness: its rows are not added.
    pub(crate) late: bool,
    /// Its rows: a range of [`Splitter::rows`], or `None` for every row of the batch in
    /// order (then the batch's columns are used as they are, without a `take`).
    pub(crate) rows: Option<Range<usize>>,
}

/// Beyond this many window slots between a batch's first and last window, distinct windows
/// are found by sorting instead of a dense table.
const DENSE_LIMIT: i64 = 4096;

/// Splits a batch's rows by window (tumble, hop, cumulate), reusing its buffers across
/// batches. `O(pairs)` per batch with `pairs = rows × windows per row`; no allocation once
/// the buffers have grown, no hashing.
#[derive(Debug)]
pub(crate) struct Splitter {
    assigner: WindowAssigner,
    /// Window key per (row, window) pair: start (tumble, hop) or end (cumulate).
    keys: Vec<i64>,
    /// Row of each pair (empty for tumble, where pair `i` is row `i`).
    pair_rows: Vec<u32>,
    /// Distinct-window index of each pair.
    pair_win: Vec<u32>,
    /// Dense slot table or sorted distinct keys, scratch.
    dense: Vec<u32>,
    sorted: Vec<i64>,
    /// Per row: 0 no window, 1 only late windows, 2 some live window.
    row_state: Vec<u8>,
    /// Windows of the last batch, ascending by window key.
    pub(crate) windows: Vec<SplitWindow>,
    /// Rows grouped by window (ranges in [`SplitWindow::rows`]), ascending within a window.
    pub(crate) rows: Vec<u32>,
    /// Late rows of the last batch, and their count.
    late: Option<BooleanArray>,
    late_count: usize,
}

impl Splitter {
    /// A splitter for a non-session assigner.
    pub(crate) fn new(assigner: WindowAssigner) -> Self {
        Splitter {
            assigner,
            keys: Vec::new(),
            pair_rows: Vec::new(),
            pair_win: Vec::new(),
            dense: Vec::new(),
            sorted: Vec::new(),
            row_state: Vec::new(),
            windows: Vec::new(),
            rows: Vec::new(),
            late: None,
            late_count: 0,
        }
    }

    /// The late rows of the last batch: a mask (`None` when all `count` rows are late or
    /// none is) and their count.
    pub(crate) fn late(&self) -> (Option<&BooleanArray>, usize) {
        (self.late.as_ref(), self.late_count)
    }

    /// The window with key `key` (start, or end for cumulate).
    fn info(&self, key: i64) -> WindowInfo {
        match self.assigner {
            WindowAssigner::Tumble { size, .. } | WindowAssigner::Hop { size, .. } => WindowInfo {
                start: key,
                end: key.wrapping_add(size),
            },
            WindowAssigner::Cumulate {
                max_size, offset, ..
            } => {
                let last = key.wrapping_sub(1);
                let start = last.wrapping_sub(last.wrapping_sub(offset).rem_euclid(max_size));
                WindowInfo { start, end: key }
            }
            WindowAssigner::Session { .. } => WindowInfo {
                start: key,
                end: key,
            },
        }
    }

    /// Distance between neighbouring window keys.
    fn unit(&self) -> i64 {
        match self.assigner {
            WindowAssigner::Tumble { size, .. } => size,
            WindowAssigner::Hop { slide, .. } => slide,
            WindowAssigner::Cumulate { step, .. } => step,
            WindowAssigner::Session { gap } => gap,
        }
    }

    /// Whether every time in `lo..=hi` has the same windows; if so they are left in
    /// `sorted`. Times in one slice (`unit`-aligned, where window bounds lie) whose two ends
    /// have the same windows all do: a row's window set shrinks monotonically within a slice.
    fn same_windows(&mut self, lo: i64, hi: i64) -> bool {
        let (unit, offset) = match self.assigner {
            WindowAssigner::Tumble { size, offset } => (size, offset),
            WindowAssigner::Hop { slide, offset, .. } => (slide, offset),
            WindowAssigner::Cumulate { step, offset, .. } => (step, offset),
            WindowAssigner::Session { .. } => return false,
        };
        let slice = |t: i64| t.wrapping_sub(t.wrapping_sub(offset).rem_euclid(unit));
        if slice(lo) != slice(hi) {
            return false;
        }
        self.assign(&[hi]);
        std::mem::swap(&mut self.keys, &mut self.sorted);
        self.assign(&[lo]);
        self.keys == self.sorted
    }

    /// Fills `keys` (and `pair_rows`) with the windows of `ts`.
    fn assign(&mut self, ts: &[i64]) {
        match self.assigner {
            WindowAssigner::Tumble { size, offset } => {
                self.pair_rows.clear();
                tumble_start(ts, size, offset, &mut self.keys);
            }
            WindowAssigner::Hop {
                size,
                slide,
                offset,
            } => {
                hop_windows(ts, size, slide, offset, &mut self.pair_rows, &mut self.keys);
            }
            WindowAssigner::Cumulate {
                max_size,
                step,
                offset,
            } => {
                cumulate_windows(
                    ts,
                    max_size,
                    step,
                    offset,
                    &mut self.pair_rows,
                    &mut self.keys,
                );
            }
            WindowAssigner::Session { .. } => {
                self.pair_rows.clear();
                self.keys.clear();
            }
        }
    }

    /// Splits a batch of `num_rows` rows with times `times`; windows with
    /// `end - 1 + lateness <= wm` are late.
    pub(crate) fn split(&mut self, times: RowTimes<'_>, num_rows: usize, lateness: i64, wm: i64) {
        self.windows.clear();
        self.rows.clear();
        self.late = None;
        self.late_count = 0;
        if num_rows == 0 {
            return;
        }
        let ts = match times {
            RowTimes::Uniform(now) => {
                // Every row has the same time: the windows of one instant, all rows each.
                self.assign(&[now]);
                for i in 0..self.keys.len() {
                    let info = self.info(self.keys[i]);
                    self.windows.push(SplitWindow {
                        info,
                        late: false,
                        rows: None,
                    });
                }
                return;
            }
            RowTimes::Event(ts) => ts,
        };
        if let Some((lo, hi)) = min_max_i64(ts) {
            if self.same_windows(lo, hi) {
                // The common case: every row of the batch has the same windows (usually one
                // tumbling window), found from the batch's min and max alone (one
                // vectorised pass, no per-row window, no `take` later).
                let mut all_late = !self.sorted.is_empty();
                for i in 0..self.sorted.len() {
                    let info = self.info(self.sorted[i]);
                    let late = window_is_late(info.end, lateness, wm);
                    all_late &= late;
                    self.windows.push(SplitWindow {
                        info,
                        late,
                        rows: None,
                    });
                }
                if all_late {
                    self.late_count = num_rows;
                }
                return;
            }
        }
        self.assign(ts);
        self.distinct_windows();
        let mut any_late = false;
        for i in 0..self.sorted.len() {
            let info = self.info(self.sorted[i]);
            let late = window_is_late(info.end, lateness, wm);
            any_late |= late;
            self.windows.push(SplitWindow {
                info,
                late,
                rows: None,
            });
        }
        self.group_rows(num_rows);
        if any_late {
            self.find_late_rows(num_rows);
        }
    }

    /// Fills `sorted` with the distinct window keys (ascending) and `pair_win` with each
    /// pair's index into it.
    fn distinct_windows(&mut self) {
        self.sorted.clear();
        self.pair_win.clear();
        let Some((lo, hi)) = min_max_i64(&self.keys) else {
            return;
        };
        let unit = self.unit();
        let span = (hi as i128 - lo as i128) / unit as i128 + 1;
        if span <= DENSE_LIMIT as i128 {
            // Window keys are multiples of `unit` apart: a dense table indexed by
            // (key - lo) / unit maps each pair to its window without hashing.
            let span = span as usize;
            self.dense.clear();
            self.dense.resize(span, u32::MAX);
            for &k in &self.keys {
                self.dense[(k.wrapping_sub(lo) / unit) as usize] = 0;
            }
            for (slot, d) in self.dense.iter_mut().enumerate() {
                if *d == 0 {
                    *d = self.sorted.len() as u32;
                    self.sorted.push(lo.wrapping_add(slot as i64 * unit));
                }
            }
            let dense = &self.dense;
            self.pair_win.extend(
                self.keys
                    .iter()
                    .map(|&k| dense[(k.wrapping_sub(lo) / unit) as usize]),
            );
        } else {
            self.sorted.extend_from_slice(&self.keys);
            self.sorted.sort_unstable();
            self.sorted.dedup();
            let sorted = &self.sorted;
            self.pair_win.extend(
                self.keys
                    .iter()
                    .map(|k| sorted.binary_search(k).unwrap_or(0) as u32),
            );
        }
    }

    /// Counting sort of the pairs by window into `rows`, for live windows only.
    fn group_rows(&mut self, num_rows: usize) {
        let nw = self.windows.len();
        let mut counts = vec![0usize; nw + 1];
        for &w in &self.pair_win {
            counts[w as usize + 1] += 1;
        }
        for i in 0..nw {
            counts[i + 1] += counts[i];
        }
        // Whole-batch windows keep `rows: None`: their columns need no `take`.
        let mut fill = vec![false; nw];
        let mut total = 0;
        for (i, w) in self.windows.iter_mut().enumerate() {
            let len = counts[i + 1] - counts[i];
            if w.late || len == 0 {
                w.rows = Some(0..0);
            } else if len == num_rows {
                w.rows = None;
            } else {
                w.rows = Some(total..total + len);
                fill[i] = true;
                total += len;
            }
        }
        if total == 0 {
            return;
        }
        self.rows.resize(total, 0);
        let mut next: Vec<usize> = self
            .windows
            .iter()
            .map(|w| w.rows.as_ref().map_or(0, |r| r.start))
            .collect();
        for (p, &w) in self.pair_win.iter().enumerate() {
            let w = w as usize;
            if fill[w] {
                let row = if self.pair_rows.is_empty() {
                    p as u32
                } else {
                    self.pair_rows[p]
                };
                self.rows[next[w]] = row;
                next[w] += 1;
            }
        }
    }

    /// Marks rows whose windows are all late.
    fn find_late_rows(&mut self, num_rows: usize) {
        self.row_state.clear();
        self.row_state.resize(num_rows, 0);
        for (p, &w) in self.pair_win.iter().enumerate() {
            let row = if self.pair_rows.is_empty() {
                p
            } else {
                self.pair_rows[p] as usize
            };
            let s = if self.windows[w as usize].late { 1 } else { 2 };
            self.row_state[row] = self.row_state[row].max(s);
        }
        let count = self.row_state.iter().filter(|&&s| s == 1).count();
        self.late_count = count;
        if count > 0 && count < num_rows {
            self.late = Some(self.row_state.iter().map(|&s| Some(s == 1)).collect());
        }
    }
}
