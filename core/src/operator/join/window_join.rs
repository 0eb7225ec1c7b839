//! [`WindowJoin`]: windowed inner equi-join (Flink DataStream
//! `a.join(b).where(..).equalTo(..).window(assigner)`, executed there as a co-grouped
//! window; SQL window join `... ON a.k = b.k AND a.window_start = b.window_start AND
//! a.window_end = b.window_end`).
//!
//! **Semantics**: rows of both sides are assigned to event-time windows (tumble, hop or
//! cumulate; session windows are not supported). When the watermark reaches a window's
//! last millisecond (`watermark >= end - 1`) every pair of a left and a right row of that
//! window with equal keys is emitted, with the window's `window_start` and `window_end`
//! appended (`TIMESTAMP(3)`). A row is dropped from each window that has already fired
//! (Flink's `isWindowLate` with no allowed lateness); a row all of whose windows have fired
//! is counted in `late_dropped`.
//!
//! **State**: the input batches (rows with null keys or times removed) with their key
//! bytes and hashes, and per window the `(batch, row)` references of each side. A batch is
//! released once the last window that references it has fired.
//!
//! **On a watermark**: fire every due window in (end, start) order, building a hash table
//! over the smaller side of each window and probing it with the other; all pairs of all
//! fired windows go out as one batch (one `interleave` per column), then the watermark.
//!
//! **Complexity**: `O(rows x windows per row)` to assign; per fired window
//! `O(left + right + pairs)`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::row::Rows;
use millstream_kernels::window::{cumulate_windows, hop_windows, tumble_start};

use super::{side_of, Gather, JoinInputs, KeyIndex};
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, Output};
use crate::time::Watermark;
use crate::window::WindowAssigner;

/// A retained input batch with its encoded keys.
struct Stored {
    batch: RecordBatch,
    keys: Rows,
    hashes: Vec<u64>,
    /// The largest end of the windows that reference this batch.
    last_end: i64,
}

/// References of one window: (stored batch id, row) per side.
type WindowRows = [Vec<(u64, u32)>; 2];

/// Event-time window join.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use millstream_core::operator::join::WindowJoin;
/// use millstream_core::window::WindowAssigner;
/// let _join = WindowJoin::new(
///     vec!["auction".into()], vec!["id".into()],
///     "date_time".into(), "date_time".into(),
///     WindowAssigner::tumble(Duration::from_secs(10)),
/// )?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct WindowJoin {
    inputs: JoinInputs,
    assigner: WindowAssigner,
    stored: [HashMap<u64, Stored>; 2],
    next_id: u64,
    /// Pending windows by (end, start).
    windows: BTreeMap<(i64, i64), WindowRows>,
    watermark: i64,
}

impl WindowJoin {
    /// Join left and right rows with equal keys that fall in the same window of
    /// `assigner`, by event time `left_time` / `right_time` (ms).
    ///
    /// # Errors
    /// An invalid or session window; no key columns, or different numbers on the two sides.
    pub fn new(
        left_keys: Vec<String>,
        right_keys: Vec<String>,
        left_time: String,
        right_time: String,
        assigner: WindowAssigner,
    ) -> Result<Self> {
        assigner.validate()?;
        if let WindowAssigner::Session { .. } = assigner {
            return Err(Error::Unsupported(
                "window join over session windows".into(),
            ));
        }
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let extra = vec![
            Field::new("window_start", ts.clone(), false),
            Field::new("window_end", ts, false),
        ];
        Ok(WindowJoin {
            inputs: JoinInputs::new(
                "window join",
                left_keys,
                right_keys,
                Some(left_time),
                Some(right_time),
                extra,
            )?,
            assigner,
            stored: [HashMap::new(), HashMap::new()],
            next_id: 0,
            windows: BTreeMap::new(),
            watermark: i64::MIN,
        })
    }

    /// Rows of retained batches, per side (left, right).
    pub fn state_rows(&self) -> [usize; 2] {
        let rows = |s: &HashMap<u64, Stored>| s.values().map(|b| b.batch.num_rows()).sum();
        [rows(&self.stored[0]), rows(&self.stored[1])]
    }

    /// Windows waiting for the watermark.
    pub fn pending_windows(&self) -> usize {
        self.windows.len()
    }

    /// `(row, start, end)` of every window of every row.
    fn assign(&self, ts: &[i64]) -> Vec<(u32, i64, i64)> {
        let mut rows = Vec::new();
        let mut bounds = Vec::new();
        match self.assigner {
            WindowAssigner::Tumble { size, offset } => {
                tumble_start(ts, size, offset, &mut bounds);
                bounds
                    .iter()
                    .enumerate()
                    .map(|(r, &s)| (r as u32, s, s.saturating_add(size)))
                    .collect()
            }
            WindowAssigner::Hop {
                size,
                slide,
                offset,
            } => {
                hop_windows(ts, size, slide, offset, &mut rows, &mut bounds);
                rows.iter()
                    .zip(&bounds)
                    .map(|(&r, &s)| (r, s, s.saturating_add(size)))
                    .collect()
            }
            WindowAssigner::Cumulate {
                max_size,
                step,
                offset,
            } => {
                cumulate_windows(ts, max_size, step, offset, &mut rows, &mut bounds);
                rows.iter()
                    .zip(&bounds)
                    .map(|(&r, &e)| {
                        let last = e - 1;
                        (r, last - (last - offset).rem_euclid(max_size), e)
                    })
                    .collect()
            }
            // Rejected in `new`.
            WindowAssigner::Session { .. } => Vec::new(),
        }
    }

    /// Emit the pairs of every window with `end - 1 <= wm`.
    fn fire(&mut self, wm: i64, out: &mut Output) -> Result<()> {
        let mut fired = Vec::new();
        while let Some(entry) = self.windows.first_entry() {
            if entry.key().0.saturating_sub(1) > wm {
                break;
            }
            let ((end, start), rows) = entry.remove_entry();
            if !rows[0].is_empty() && !rows[1].is_empty() {
                fired.push((start, end, rows));
            }
        }
        let [left_store, right_store] = &self.stored;
        let stores = [left_store, right_store];
        let mut gathers = [Gather::new(), Gather::new()];
        let (mut starts, mut ends) = (Vec::new(), Vec::new());
        for (start, end, rows) in &fired {
            // Build on the smaller side, probe with the larger.
            let build = usize::from(rows[1].len() < rows[0].len());
            let probe = 1 - build;
            let mut index: KeyIndex<Vec<u32>> = KeyIndex::new();
            for (j, &(id, r)) in rows[build].iter().enumerate() {
                let s = stores[build].get(&id).ok_or_else(|| {
                    Error::Internal("window join: window refers to a released batch".into())
                })?;
                index
                    .get_or_insert_with(
                        s.hashes[r as usize],
                        s.keys.row(r as usize).data(),
                        Vec::new,
                    )
                    .push(j as u32);
            }
            for &(id, r) in &rows[probe] {
                let s = stores[probe].get(&id).ok_or_else(|| {
                    Error::Internal("window join: window refers to a released batch".into())
                })?;
                let Some(matches) = index.get(s.hashes[r as usize], s.keys.row(r as usize).data())
                else {
                    continue;
                };
                for &j in matches {
                    let (bid, br) = rows[build][j as usize];
                    gathers[probe].push(id, r as usize, |id| {
                        stores[probe].get(&id).map(|s| &s.batch)
                    })?;
                    gathers[build].push(bid, br as usize, |id| {
                        stores[build].get(&id).map(|s| &s.batch)
                    })?;
                    starts.push(*start);
                    ends.push(*end);
                }
            }
        }
        if !starts.is_empty() {
            let [left, right] = gathers;
            let (left, right) = (left.finish()?, right.finish()?);
            let extra: Vec<ArrayRef> = vec![
                Arc::new(TimestampMillisecondArray::from(starts)),
                Arc::new(TimestampMillisecondArray::from(ends)),
            ];
            out.emit(self.inputs.assemble(left, right, extra)?);
        }
        for store in &mut self.stored {
            store.retain(|_, s| s.last_end.saturating_sub(1) > wm);
        }
        Ok(())
    }
}

impl Operator for WindowJoin {
    fn on_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        ctx: &mut OpContext,
        _out: &mut Output,
    ) -> Result<()> {
        let side = side_of(input, "window join")?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.watermark = self.watermark.max(ctx.watermark.0);
        let wm = self.watermark;
        let p = self.inputs.prepare(side, batch, None)?;
        let n = p.batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let id = self.next_id;
        // Per row: 0 = no window, 1 = only fired windows (late), 2 = kept in a window.
        let mut status = vec![0u8; n];
        let mut last_end = i64::MIN;
        for (row, start, end) in self.assign(&p.times) {
            let r = row as usize;
            if end.saturating_sub(1) <= wm {
                status[r] = status[r].max(1);
                continue;
            }
            status[r] = 2;
            last_end = last_end.max(end);
            self.windows.entry((end, start)).or_default()[side].push((id, row));
        }
        ctx.metrics.late_dropped += status.iter().filter(|&&s| s == 1).count() as u64;
        if status.contains(&2) {
            self.next_id += 1;
            self.stored[side].insert(
                id,
                Stored {
                    batch: p.batch,
                    keys: p.keys,
                    hashes: p.hashes,
                    last_end,
                },
            );
        }
        Ok(())
    }

    fn on_watermark(
        &mut self,
        wm: Watermark,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        self.watermark = self.watermark.max(wm.0);
        self.fire(self.watermark, out)?;
        out.emit_watermark(wm);
        Ok(())
    }
}
