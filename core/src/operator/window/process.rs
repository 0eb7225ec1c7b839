//! Full-window process functions: buffer every row of each (key, window), and when the window
//! fires call a user function once per key with all of that key's rows.
//!
//! Flink equivalent: `WindowOperator` with a `ProcessWindowFunction`
//! (`keyBy(..).window(..).process(..)`, or `windowAll(..).process(..)` without keys): the
//! function sees the window and an iterable of its elements (here a [`RecordBatch`] of the
//! key's rows in arrival order, all input columns) and emits zero or more rows (here an
//! optional batch).
//!
//! State: the input batches, retained once in a row store while some window refers to one
//! of their rows; per open window a [`GroupIndexer`] (key → dense id) and one row reference
//! and group id per row (20 bytes a row, whatever the row's width; a hop row is referenced
//! from each of its windows but stored once). Sessions use the per-key session machinery of
//! `session.rs`.
//!
//! On a watermark `wm`: every window with `end - 1 <= wm` fires in order of end: its rows
//! are gathered grouped by key (group-id order, i.e. first appearance; arrival order within
//! a key) with one `interleave` per column, the function runs per key, and its results for
//! the window are concatenated into one batch when they share a schema. Then the watermark
//! is forwarded. With allowed lateness a window stays until `end - 1 + lateness <= wm`, and
//! a row arriving for it re-fires it after its batch for the changed keys, with all of
//! their rows (Flink's `FIRE` without purge).
//!
//! Barriers: nothing is emitted. A snapshot gathers the rows still referenced by open
//! windows once (each row once, however many windows refer to it) and writes them, with
//! each window's references in order and its fired and changed flags, to keyed tables filed
//! by the key's key group; restore stores the rows again and rebuilds each window's indexer
//! by interning its rows' keys in reference order, so a restored window calls the function
//! with the same rows in the same order (see `process/snapshot.rs`). Sessions write the
//! tables of `session.rs`.
//!
//! Complexity per batch: `O(rows × windows per row)` plus one key interning per window;
//! per firing: `O(rows in the window + groups)` plus the function's own cost.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use millstream_kernels::group::GroupIndexer;

use super::rows::{RowRef, RowStore};
use super::session::SessionWindows;
use super::{
    check_spec, check_time_type, event_times, fires_on, route_late, window_is_due, window_is_late,
    RowTimes, Splitter,
};
use crate::batch::{column_index, column_names};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, Output};
use crate::time::Watermark;
use crate::window::{TimeDomain, WindowAssigner, WindowInfo, WindowSpec};

mod snapshot;

/// A full-window function: called when a window fires, once per key, with the window and
/// all rows of that key in the window (arrival order, every input column); what it returns
/// is emitted.
pub type WindowFn =
    Arc<dyn Fn(&WindowInfo, &RecordBatch) -> Result<Option<RecordBatch>> + Send + Sync>;

/// Rows of one (non-session) window.
struct ProcWindow {
    /// `None` without keys: one group.
    indexer: Option<GroupIndexer>,
    num_groups: usize,
    /// One reference and group id per row, in arrival order.
    refs: Vec<RowRef>,
    gids: Vec<u32>,
    fired: bool,
    dirty: Vec<u32>,
    dirty_flag: Vec<bool>,
}

struct Layout {
    input: SchemaRef,
    time_idx: Option<usize>,
    key_idx: Vec<usize>,
    key_types: Vec<DataType>,
}

/// Full-window process function (Flink `ProcessWindowFunction`): buffers the rows of each
/// (key, window) and, when the window fires, emits what the [`WindowFn`] returns per key.
pub struct WindowProcess {
    keys: Vec<String>,
    time_column: Option<String>,
    spec: WindowSpec,
    f: WindowFn,
    layout: Option<Layout>,
    windows: BTreeMap<(i64, i64), ProcWindow>,
    store: Option<RowStore>,
    sessions: Option<SessionWindows>,
    splitter: Splitter,
    gids: Vec<u32>,
    /// The watermark at the checkpoint this operator was restored from (`MIN` if none).
    wm_floor: i64,
}

impl std::fmt::Debug for WindowProcess {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowProcess")
            .field("keys", &self.keys)
            .field("time_column", &self.time_column)
            .field("spec", &self.spec)
            .field("open_windows", &self.windows.len())
            .finish()
    }
}

impl WindowProcess {
    /// Runs `f` per key (`keys` empty: over all rows, Flink's `windowAll`) and window of
    /// `spec`; event-time windows read times from `time_column`.
    ///
    /// # Example
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use arrow::record_batch::RecordBatch;
    /// use millstream_core::operator::window::{WindowFn, WindowProcess};
    /// use millstream_core::window::{WindowAssigner, WindowInfo, WindowSpec};
    ///
    /// // Keep the rows of sessions with at least 3 rows.
    /// let f: WindowFn = Arc::new(|_w: &WindowInfo, rows: &RecordBatch| {
    ///     Ok((rows.num_rows() >= 3).then(|| rows.clone()))
    /// });
    /// let spec = WindowSpec::new(WindowAssigner::session(Duration::from_secs(30)));
    /// let op = WindowProcess::new(vec!["user".into()], Some("ts".into()), spec, f)?;
    /// # drop(op);
    /// # Ok::<(), millstream_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// An invalid window, negative allowed lateness, or an event-time spec without a time
    /// column.
    pub fn new(
        keys: Vec<String>,
        time_column: Option<String>,
        spec: WindowSpec,
        f: WindowFn,
    ) -> Result<Self> {
        check_spec(&spec, &time_column)?;
        Ok(WindowProcess {
            keys,
            time_column,
            splitter: Splitter::new(spec.assigner),
            spec,
            f,
            layout: None,
            windows: BTreeMap::new(),
            store: None,
            sessions: None,
            gids: Vec::new(),
            wm_floor: i64::MIN,
        })
    }

    fn event_time(&self) -> bool {
        self.spec.domain == TimeDomain::EventTime
    }

    /// Input batches still held for open windows.
    #[cfg(test)]
    pub(crate) fn retained_batches(&self) -> usize {
        self.store.as_ref().map_or(0, |s| s.batches_held())
            + self.sessions.as_ref().map_or(0, |s| s.batches_held())
    }

    fn lateness(&self) -> i64 {
        if self.event_time() {
            self.spec.allowed_lateness
        } else {
            0
        }
    }

    fn check_layout(&mut self, schema: &SchemaRef) -> Result<()> {
        match &self.layout {
            Some(l) if Arc::ptr_eq(&l.input, schema) || l.input == *schema => Ok(()),
            Some(l) => Err(Error::Schema(format!(
                "window process: batch columns [{}] differ from the first batch's [{}]",
                column_names(schema),
                column_names(&l.input)
            ))),
            None => {
                let time_idx = match &self.time_column {
                    Some(name) => {
                        let i = column_index(schema, name)?;
                        check_time_type(name, schema.field(i).data_type())?;
                        Some(i)
                    }
                    None => None,
                };
                let key_idx = self
                    .keys
                    .iter()
                    .map(|k| column_index(schema, k))
                    .collect::<Result<Vec<_>>>()?;
                let key_types: Vec<DataType> = key_idx
                    .iter()
                    .map(|&i| schema.field(i).data_type().clone())
                    .collect();
                if let WindowAssigner::Session { gap } = self.spec.assigner {
                    self.sessions = Some(SessionWindows::new(
                        gap,
                        self.lateness(),
                        &key_types,
                        schema.clone(),
                    )?);
                } else {
                    self.store = Some(RowStore::new(schema.clone()));
                }
                self.layout = Some(Layout {
                    input: schema.clone(),
                    time_idx,
                    key_idx,
                    key_types,
                });
                Ok(())
            }
        }
    }

    fn times<'a>(&self, batch: &'a RecordBatch, ctx: &OpContext) -> Result<(RowTimes<'a>, i64)> {
        let time_idx = self.layout.as_ref().and_then(|l| l.time_idx);
        match (time_idx, self.event_time()) {
            (Some(i), true) => {
                let ts = event_times(batch, i, self.time_column.as_deref().unwrap_or_default())?;
                Ok((RowTimes::Event(ts), ctx.watermark.0.max(self.wm_floor)))
            }
            _ => Ok((RowTimes::Uniform(ctx.now_ms()), i64::MIN)),
        }
    }

    fn on_batch_sessions(
        &mut self,
        batch: RecordBatch,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let n = batch.num_rows();
        let key_idx = self
            .layout
            .as_ref()
            .map(|l| l.key_idx.clone())
            .unwrap_or_default();
        let key_cols: Vec<ArrayRef> = key_idx.iter().map(|&i| batch.column(i).clone()).collect();
        let (times, wm) = self.times(&batch, ctx)?;
        let Some(sessions) = &mut self.sessions else {
            return Ok(());
        };
        sessions.insert(batch.clone(), &key_cols, times, wm)?;
        let (flags, count) = sessions.late();
        let mask = (count > 0 && count < n).then(|| flags.iter().map(|&f| Some(f)).collect());
        route_late(&self.spec, &batch, mask.as_ref(), count, ctx, out)?;
        if self.spec.domain == TimeDomain::EventTime {
            let fired = sessions.fire_touched(wm)?;
            self.emit_sessions(fired, out)?;
        }
        Ok(())
    }

    fn emit_sessions(
        &self,
        fired: Option<super::session::FiredSessions>,
        out: &mut Output,
    ) -> Result<()> {
        let Some(fired) = fired else {
            return Ok(());
        };
        let mut results = Vec::new();
        for (info, range) in &fired.sessions {
            let rows = fired.rows.slice(range.start, range.len());
            if let Some(b) = (self.f)(info, &rows)? {
                results.push(b);
            }
        }
        emit_results(results, out)
    }

    fn on_batch_windows(
        &mut self,
        batch: RecordBatch,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let n = batch.num_rows();
        let (times, wm) = self.times(&batch, ctx)?;
        let lateness = if self.event_time() {
            self.lateness()
        } else {
            0
        };
        self.splitter.split(times, n, lateness, wm);
        let (mask, count) = self.splitter.late();
        route_late(&self.spec, &batch, mask, count, ctx, out)?;
        let (Some(layout), Some(store)) = (&self.layout, &mut self.store) else {
            return Ok(());
        };
        let seq = store.push(batch.clone());
        let mut refire = Vec::new();
        for sw in &self.splitter.windows {
            if sw.late || sw.rows.as_ref().is_some_and(|r| r.is_empty()) {
                continue;
            }
            let rows: Option<&[u32]> = sw.rows.as_ref().map(|r| &self.splitter.rows[r.clone()]);
            let key = (sw.info.end, sw.info.start);
            let st = match self.windows.entry(key) {
                std::collections::btree_map::Entry::Occupied(e) => e.into_mut(),
                std::collections::btree_map::Entry::Vacant(e) => {
                    let indexer = if layout.key_types.is_empty() {
                        None
                    } else {
                        Some(GroupIndexer::new(&layout.key_types)?)
                    };
                    e.insert(ProcWindow {
                        indexer,
                        num_groups: 0,
                        refs: Vec::new(),
                        gids: Vec::new(),
                        fired: false,
                        dirty: Vec::new(),
                        dirty_flag: Vec::new(),
                    })
                }
            };
            let len = rows.map_or(n, |r| r.len());
            match &mut st.indexer {
                Some(ix) => {
                    let keys: Vec<ArrayRef> = match rows {
                        None => layout
                            .key_idx
                            .iter()
                            .map(|&i| batch.column(i).clone())
                            .collect(),
                        Some(r) => {
                            let idx = UInt32Array::from(r.to_vec());
                            layout
                                .key_idx
                                .iter()
                                .map(|&i| take(batch.column(i).as_ref(), &idx, None))
                                .collect::<Result<_, _>>()?
                        }
                    };
                    ix.intern(&keys, &mut self.gids)?;
                    st.num_groups = ix.num_groups();
                }
                None => {
                    self.gids.clear();
                    self.gids.resize(len, 0);
                    st.num_groups = 1;
                }
            }
            st.gids.extend_from_slice(&self.gids);
            match rows {
                None => st.refs.extend((0..n as u32).map(|r| (seq, r))),
                Some(r) => st.refs.extend(r.iter().map(|&r| (seq, r))),
            }
            store.add_refs(seq, len as u64)?;
            if st.fired {
                st.dirty_flag.resize(st.num_groups, false);
                for &g in &self.gids {
                    if !st.dirty_flag[g as usize] {
                        st.dirty_flag[g as usize] = true;
                        st.dirty.push(g);
                    }
                }
            }
            if self.spec.domain == TimeDomain::EventTime && window_is_due(sw.info.end, wm) {
                refire.push(key);
            }
        }
        store.release(seq, 0)?;
        for (end, start) in refire {
            self.fire_window(end, start, true, out)?;
        }
        Ok(())
    }

    /// Fires window (end, start): every key the first time, the changed keys after that.
    /// Without `keep` the window is purged.
    fn fire_window(&mut self, end: i64, start: i64, keep: bool, out: &mut Output) -> Result<()> {
        let info = WindowInfo { start, end };
        let Some(store) = &mut self.store else {
            return Ok(());
        };
        let st = if keep {
            self.windows.get_mut(&(end, start))
        } else {
            None
        };
        let mut removed = None;
        let st = match st {
            Some(st) => st,
            None if !keep => match self.windows.remove(&(end, start)) {
                Some(st) => removed.insert(st),
                None => return Ok(()),
            },
            None => return Ok(()),
        };
        let mut results = Vec::new();
        if !(st.fired && st.dirty.is_empty()) && st.num_groups > 0 {
            // Which groups, and where each one's rows go: a stable counting sort by group.
            let n = st.num_groups;
            let mut selected = vec![!st.fired; n];
            for &g in &st.dirty {
                selected[g as usize] = true;
                st.dirty_flag[g as usize] = false;
            }
            st.dirty.clear();
            let mut start_of = vec![0usize; n + 1];
            for &g in &st.gids {
                if selected[g as usize] {
                    start_of[g as usize + 1] += 1;
                }
            }
            for g in 0..n {
                start_of[g + 1] += start_of[g];
            }
            let total = start_of[n];
            let mut next = start_of.clone();
            let mut picked: Vec<RowRef> = vec![(0, 0); total];
            for (&g, &r) in st.gids.iter().zip(&st.refs) {
                if selected[g as usize] {
                    picked[next[g as usize]] = r;
                    next[g as usize] += 1;
                }
            }
            let rows = store.gather(&picked)?;
            for g in 0..n {
                let len = start_of[g + 1] - start_of[g];
                if selected[g] && len > 0 {
                    if let Some(b) = (self.f)(&info, &rows.slice(start_of[g], len))? {
                        results.push(b);
                    }
                }
            }
            st.fired = true;
        }
        if let Some(st) = removed {
            store.release_all(&st.refs)?;
        }
        emit_results(results, out)
    }

    /// Fires what is due at `t`, purging windows past their lateness.
    fn fire_due(&mut self, t: i64, out: &mut Output) -> Result<()> {
        let lateness = self.lateness();
        if let Some(sessions) = &mut self.sessions {
            let fired = sessions.fire_due(t)?;
            return self.emit_sessions(fired, out);
        }
        let due: Vec<(i64, i64)> = self
            .windows
            .keys()
            .take_while(|(end, _)| window_is_due(*end, t))
            .copied()
            .collect();
        for (end, start) in due {
            let keep = !window_is_late(end, lateness, t);
            self.fire_window(end, start, keep, out)?;
        }
        Ok(())
    }

    fn request_timer(&self, ctx: &mut OpContext) {
        if self.event_time() {
            return;
        }
        let first = match &self.sessions {
            Some(s) => s.first_end(),
            None => self.windows.keys().next().map(|k| k.0),
        };
        if let Some(end) = first {
            ctx.request_processing_time(end.saturating_sub(1));
        }
    }
}

/// Emits a window's results: one batch when they share a schema, else one each.
fn emit_results(results: Vec<RecordBatch>, out: &mut Output) -> Result<()> {
    match results.len() {
        0 => {}
        1 => results.into_iter().for_each(|b| out.emit(b)),
        _ => {
            let schema = results[0].schema();
            if results.iter().all(|b| b.schema() == schema) {
                out.emit(concat_batches(&schema, &results)?);
            } else {
                results.into_iter().for_each(|b| out.emit(b));
            }
        }
    }
    Ok(())
}

impl Operator for WindowProcess {
    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.check_layout(batch.schema_ref())?;
        if self.sessions.is_some() {
            self.on_batch_sessions(batch, ctx, out)?;
        } else {
            self.on_batch_windows(batch, ctx, out)?;
        }
        self.request_timer(ctx);
        Ok(())
    }

    fn on_watermark(&mut self, wm: Watermark, _: &mut OpContext, out: &mut Output) -> Result<()> {
        if fires_on(self.spec.domain, wm) {
            self.fire_due(wm.0, out)?;
        }
        out.emit_watermark(wm);
        Ok(())
    }

    fn on_processing_time(
        &mut self,
        now_ms: i64,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if self.event_time() {
            return Ok(());
        }
        self.fire_due(now_ms, out)?;
        self.request_timer(ctx);
        Ok(())
    }

    fn on_end(&mut self, _: &mut OpContext, out: &mut Output) -> Result<()> {
        self.fire_due(i64::MAX, out)
    }

    fn snapshot(&mut self, _: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        self.snapshot_state(ctx)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        self.restore_state(&state, ctx)
    }
}
