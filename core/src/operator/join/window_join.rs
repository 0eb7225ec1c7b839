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
//! **Checkpoint**: the keyed tables `left` and `right` hold each side's retained rows (the
//! input columns as they arrived, filed by the key group of the join key) followed by two
//! bookkeeping columns: `__join_seq` (`UInt64`, the row's arrival rank on its side) and
//! `__join_after` (`Int64`): the row still belongs to exactly those of its windows whose
//! last millisecond is above this value (the later of the watermark when it arrived and the
//! last watermark that fired windows). Window membership is thus recomputed from event
//! time, so nothing else is stored; the watermark comes from the task (`ctx.watermark`).
//! A restore sorts its rows by arrival rank and reassigns them to their pending windows,
//! so every window lists its rows in the original order and fires the same pairs in the
//! same order.
//!
//! **Complexity**: `O(rows x windows per row)` to assign; per fired window
//! `O(left + right + pairs)`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, TimestampMillisecondArray, UInt64Array};
use arrow::compute::interleave_record_batch;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit, UInt64Type};
use arrow::record_batch::RecordBatch;
use arrow::row::Rows;
use millstream_kernels::window::{cumulate_windows, hop_windows, tumble_start};

use super::state::{
    check_tables, key_groups_from_hashes, restored_rows, RESTORE_BATCH_ROWS, SIDE_TABLES,
};
use super::{side_of, Gather, JoinInputs, KeyIndex};
use crate::checkpoint::OperatorState;
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
    /// The rows joined those of their windows whose last millisecond is above this
    /// watermark (the operator's watermark when the batch arrived).
    since: i64,
}

/// Name of the arrival-rank column of the state tables.
const SEQ_COLUMN: &str = "__join_seq";
/// Name of the column of the state tables below which a row's windows are gone.
const AFTER_COLUMN: &str = "__join_after";

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
    /// The last watermark windows were fired for: every window whose last millisecond is
    /// at or below it is gone.
    fired: i64,
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
            fired: i64::MIN,
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
        self.fired = self.fired.max(wm);
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

    /// The state table rows of one retained batch: its columns, then [`SEQ_COLUMN`] from
    /// `seq` on and [`AFTER_COLUMN`].
    fn state_batch(&self, s: &Stored, seq: u64) -> Result<RecordBatch> {
        let n = s.batch.num_rows();
        let schema = s.batch.schema();
        let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(SEQ_COLUMN, DataType::UInt64, false)));
        fields.push(Arc::new(Field::new(AFTER_COLUMN, DataType::Int64, false)));
        let mut columns = s.batch.columns().to_vec();
        columns.push(Arc::new(UInt64Array::from_iter_values(seq..seq + n as u64)));
        let after = s.since.max(self.fired);
        columns.push(Arc::new(Int64Array::from_value(after, n)));
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// Restore the rows of one side: state table batches (see [`WindowJoin::state_batch`]).
    fn restore_side(&mut self, side: usize, batches: Vec<RecordBatch>) -> Result<()> {
        let mut data = Vec::with_capacity(batches.len());
        let mut order: Vec<(u64, i64, usize, usize)> = Vec::new();
        for b in &batches {
            let n = b.num_columns();
            let schema = b.schema();
            let names_ok = n >= 2
                && schema.field(n - 2).name() == SEQ_COLUMN
                && schema.field(n - 1).name() == AFTER_COLUMN;
            let seq = b
                .column(n.saturating_sub(2))
                .as_primitive_opt::<UInt64Type>();
            let after = b
                .column(n.saturating_sub(1))
                .as_primitive_opt::<Int64Type>();
            let (true, Some(seq), Some(after)) = (names_ok, seq, after) else {
                return Err(Error::Schema(format!(
                    "window join: restore: state table '{}' does not end with {SEQ_COLUMN} \
                     (UInt64) and {AFTER_COLUMN} (Int64)",
                    SIDE_TABLES[side]
                )));
            };
            let part = data.len();
            order.extend(
                seq.values()
                    .iter()
                    .zip(after.values())
                    .enumerate()
                    .map(|(row, (&q, &a))| (q, a, part, row)),
            );
            data.push(b.project(&(0..n - 2).collect::<Vec<_>>())?);
        }
        if !order.is_sorted_by_key(|o| o.0) {
            order.sort_unstable_by_key(|o| o.0);
        }
        let parts: Vec<&RecordBatch> = data.iter().collect();
        // One retained batch per run of rows with the same `after`, in arrival order.
        let mut i = 0;
        while i < order.len() {
            let after = order[i].1;
            let mut j = i + 1;
            while j < order.len() && j - i < RESTORE_BATCH_ROWS && order[j].1 == after {
                j += 1;
            }
            let rows: Vec<(usize, usize)> = order[i..j].iter().map(|o| (o.2, o.3)).collect();
            let batch = interleave_record_batch(&parts, &rows)?;
            self.restore_run(side, batch, after)?;
            i = j;
        }
        Ok(())
    }

    /// Keep restored rows of `side` in those of their windows whose last millisecond is
    /// above `after`.
    fn restore_run(&mut self, side: usize, batch: RecordBatch, after: i64) -> Result<()> {
        let p = self.inputs.prepare(side, batch, None)?;
        let id = self.next_id;
        let mut last_end = i64::MIN;
        for (row, start, end) in self.assign(&p.times) {
            if end.saturating_sub(1) <= after {
                continue;
            }
            last_end = last_end.max(end);
            self.windows.entry((end, start)).or_default()[side].push((id, row));
        }
        if last_end > i64::MIN {
            self.next_id += 1;
            self.stored[side].insert(
                id,
                Stored {
                    batch: p.batch,
                    keys: p.keys,
                    hashes: p.hashes,
                    last_end,
                    since: after,
                },
            );
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
                    since: wm,
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

    /// Keyed tables `left` and `right`: each side's retained rows with their arrival rank
    /// and window bookkeeping.
    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let mut ids: Vec<u64> = self.stored[side].keys().copied().collect();
            ids.sort_unstable();
            let mut seq = 0u64;
            for id in ids {
                let Some(s) = self.stored[side].get(&id) else {
                    continue;
                };
                let kg = key_groups_from_hashes(&s.hashes, ctx.max_parallelism);
                state.push_keyed(*name, kg, &self.state_batch(s, seq)?)?;
                seq += s.batch.num_rows() as u64;
            }
        }
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        check_tables(&state, "window join")?;
        self.watermark = self.watermark.max(ctx.watermark.0);
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let batches = restored_rows(&state, name)?;
            self.restore_side(side, batches)?;
        }
        Ok(())
    }
}
