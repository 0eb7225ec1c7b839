//! Keyed window aggregation: `GROUP BY key, window` with incremental aggregates.
//!
//! Flink equivalent: `WindowOperator` with an `AggregateFunction`
//! (`keyBy(..).window(..).aggregate(..)`), and SQL window TVF aggregation
//! (`GROUP BY k, window_start, window_end` over `TUMBLE`/`HOP`/`CUMULATE`/`SESSION`).
//!
//! State (tumble, hop, cumulate): per open window, a [`GroupIndexer`] mapping keys to dense
//! group ids and one [`GroupsAccumulator`] per aggregate — `O(groups)` memory per window,
//! rows are never retained. Sessions keep their rows instead (see `session.rs`) and aggregate
//! them when they fire, since merging sessions would otherwise need state merges per key.
//!
//! Per batch: the time column is read as `&[i64]`; the whole batch usually falls in one
//! tumbling window, found from its min and max alone, and then the key and value columns are
//! used as they are. Otherwise the window kernels assign (row, window) pairs, a counting sort
//! groups rows by window and each window `take`s its rows. Keys are interned into the
//! window's indexer (the only per-row hashing) and the accumulators update in one pass.
//! `DISTINCT` aggregates (`COUNT(DISTINCT x)`, `SUM`, `AVG`) also intern each row's
//! (group, value) pair in a per-window set and pass the accumulator a filter of the rows that
//! bring a new pair (`aggregate/distinct.rs`); aggregates over the same column share the set.
//! Complexity `O(rows × windows per row)`; no per-row allocation.
//!
//! On a watermark `wm`: every window with `end - 1 <= wm` that has not fired (or changed since
//! it fired) emits one batch — `keys.., window_start, window_end, window_time, aggregates..`,
//! rows in group-id (first appearance) order — in order of end; windows past their allowed
//! lateness are dropped; then the watermark is forwarded. With allowed lateness a row for a
//! fired window re-fires it right after its batch, for the keys it changed.
//!
//! Barriers emit nothing. A snapshot copies each open window's accumulator state once, as
//! columns (one row per (window, key): the indexer's keys in group-id order, the
//! accumulators' `state()` columns, fired and changed flags), in a keyed table filed by the
//! key's key group, and the `DISTINCT` sets' pairs likewise; sessions write their retained
//! rows (see `session.rs`). Restore interns
//! the keys again in group-id order and merges the states back, so a restored window fires
//! the same rows in the same order (see `aggregate/snapshot.rs`).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, TimestampMillisecondArray, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};
use millstream_kernels::agg::{create_accumulator, output_type, AggKind, GroupsAccumulator};
use millstream_kernels::group::GroupIndexer;

use super::session::{FiredSessions, SessionWindows};
use super::{
    check_spec, check_time_type, check_unique_names, event_times, fires_on, route_late,
    window_columns, window_fields, window_is_due, window_is_late, RowTimes, Splitter,
};
use crate::batch::{column_index, column_names};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, Output};
use crate::time::Watermark;
use crate::window::{TimeDomain, WindowAssigner, WindowInfo, WindowSpec};

mod distinct;
mod snapshot;
mod spec;

pub use spec::AggSpec;

use distinct::{DistinctInputs, Seen};

/// Column positions and types, resolved from the first batch's schema.
#[derive(Debug)]
struct Layout {
    input: SchemaRef,
    time_idx: Option<usize>,
    num_keys: usize,
    key_types: Vec<DataType>,
    /// Input columns used: the keys, then the distinct aggregate inputs.
    used: Vec<usize>,
    /// Per aggregate: its input's position in `used`.
    agg_input: Vec<Option<usize>>,
    agg_types: Vec<Option<DataType>>,
    /// The inputs aggregated `DISTINCT`.
    distinct: DistinctInputs,
    output: SchemaRef,
    /// `used` as a schema: what sessions retain.
    stored: SchemaRef,
}

impl Layout {
    fn resolve(op: &WindowAggregate, schema: &SchemaRef) -> Result<Layout> {
        let time_idx = match &op.time_column {
            Some(name) => {
                let i = column_index(schema, name)?;
                check_time_type(name, schema.field(i).data_type())?;
                Some(i)
            }
            None => None,
        };
        let mut used = Vec::new();
        let mut fields: Vec<Field> = Vec::new();
        for k in &op.keys {
            let i = column_index(schema, k)?;
            used.push(i);
            fields.push(schema.field(i).clone());
        }
        let key_types = fields.iter().map(|f| f.data_type().clone()).collect();
        fields.extend(window_fields());
        let mut agg_input = Vec::new();
        let mut agg_types = Vec::new();
        let mut distinct = DistinctInputs::default();
        for a in &op.aggs {
            let (input, input_type) = match (&a.column, a.kind) {
                (_, AggKind::Count) => (None, None),
                (None, kind) => {
                    return Err(Error::Plan(format!(
                        "aggregate {} AS {} needs an input column",
                        kind.sql_name(),
                        a.output
                    )))
                }
                (Some(c), _) => {
                    let i = column_index(schema, c)?;
                    let pos = match used[op.keys.len()..].iter().position(|&u| u == i) {
                        Some(p) => op.keys.len() + p,
                        None => {
                            used.push(i);
                            used.len() - 1
                        }
                    };
                    (Some(pos), Some(schema.field(i).data_type().clone()))
                }
            };
            let out_type = output_type(a.kind, input_type.as_ref()).map_err(|e| {
                Error::Plan(format!(
                    "aggregate {} AS {}: {e}",
                    a.kind.sql_name(),
                    a.output
                ))
            })?;
            let nullable = !matches!(a.kind, AggKind::Count | AggKind::CountNonNull);
            fields.push(Field::new(a.output.as_str(), out_type, nullable));
            distinct.push(a.distinct, input, input_type.as_ref());
            agg_input.push(input);
            agg_types.push(input_type);
        }
        check_unique_names(fields.iter().map(|f| f.name().as_str()))?;
        let stored = Arc::new(schema.project(&used)?);
        Ok(Layout {
            input: schema.clone(),
            time_idx,
            num_keys: op.keys.len(),
            key_types,
            used,
            agg_input,
            agg_types,
            distinct,
            output: Arc::new(Schema::new(fields)),
            stored,
        })
    }
}

/// Aggregation state of one (non-session) window.
struct WindowState {
    /// `None` for a non-keyed aggregation: one group.
    indexer: Option<GroupIndexer>,
    num_groups: usize,
    accs: Vec<Box<dyn GroupsAccumulator>>,
    /// Per distinct input: the (group, value) pairs seen.
    seen: Vec<Seen>,
    fired: bool,
    /// Groups changed since the window fired (allowed lateness), and their flags.
    dirty: Vec<u32>,
    dirty_flag: Vec<bool>,
}

/// Reused buffers.
#[derive(Default)]
struct Scratch {
    gids: Vec<u32>,
    zeros: Vec<u32>,
    ids: Vec<u32>,
    due: Vec<(i64, i64)>,
}

/// Keyed window aggregation (Flink `WindowOperator` with an `AggregateFunction`; SQL
/// `GROUP BY` window).
///
/// Output columns: the keys (input names and types), `window_start`, `window_end`,
/// `window_time` (`Timestamp(Millisecond, None)`, `window_time = window_end - 1`), then one
/// column per [`AggSpec`] named `output`, of the type `millstream_kernels::agg::output_type`
/// gives. One batch per fired window (sessions: one per watermark).
pub struct WindowAggregate {
    keys: Vec<String>,
    time_column: Option<String>,
    spec: WindowSpec,
    aggs: Vec<AggSpec>,
    layout: Option<Layout>,
    /// Open windows by (end, start): iteration order is firing order.
    windows: BTreeMap<(i64, i64), WindowState>,
    /// Emptied window states kept for reuse (their allocations survive).
    pool: Vec<WindowState>,
    sessions: Option<SessionWindows>,
    splitter: Splitter,
    scratch: Scratch,
    /// The watermark at the checkpoint this operator was restored from (`MIN` if none): rows
    /// are judged late against at least this (see `window/snapshot.rs`).
    wm_floor: i64,
}

impl std::fmt::Debug for WindowAggregate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowAggregate")
            .field("keys", &self.keys)
            .field("time_column", &self.time_column)
            .field("spec", &self.spec)
            .field("aggs", &self.aggs)
            .field("open_windows", &self.windows.len())
            .finish()
    }
}

impl WindowAggregate {
    /// Aggregates `aggs` per `keys` (empty: one group per window, Flink's `windowAll`) and
    /// window of `spec`; event-time windows read times from `time_column`.
    ///
    /// Columns are resolved against the first batch's schema; a later batch with another
    /// schema is an error.
    ///
    /// # Example
    /// ```
    /// use std::time::Duration;
    /// use millstream_core::operator::window::{AggSpec, WindowAggregate};
    /// use millstream_core::window::{WindowAssigner, WindowSpec};
    ///
    /// // SELECT auction, window_start, window_end, window_time, COUNT(*) AS bids,
    /// //        MAX(price) AS max_price
    /// // FROM TUMBLE(bid, date_time, 10 s) GROUP BY auction, window_start, window_end
    /// let spec = WindowSpec::new(WindowAssigner::tumble(Duration::from_secs(10)));
    /// let op = WindowAggregate::new(
    ///     vec!["auction".into()],
    ///     Some("date_time".into()),
    ///     spec,
    ///     vec![AggSpec::count("bids"), AggSpec::max("price", "max_price")],
    /// )?;
    /// # drop(op);
    /// # Ok::<(), millstream_core::Error>(())
    /// ```
    ///
    /// # Errors
    /// An invalid window (see [`WindowAssigner::validate`]), negative allowed lateness, or an
    /// event-time spec without a time column.
    pub fn new(
        keys: Vec<String>,
        time_column: Option<String>,
        spec: WindowSpec,
        aggs: Vec<AggSpec>,
    ) -> Result<Self> {
        check_spec(&spec, &time_column)?;
        Ok(WindowAggregate {
            keys,
            time_column,
            splitter: Splitter::new(spec.assigner),
            spec,
            aggs,
            layout: None,
            windows: BTreeMap::new(),
            pool: Vec::new(),
            sessions: None,
            scratch: Scratch::default(),
            wm_floor: i64::MIN,
        })
    }

    fn event_time(&self) -> bool {
        self.spec.domain == TimeDomain::EventTime
    }

    /// Open windows (sessions included).
    #[cfg(test)]
    pub(crate) fn open_windows(&self) -> usize {
        self.windows.len() + self.sessions.as_ref().map_or(0, |s| s.open_sessions())
    }

    /// Input batches retained by session windows.
    #[cfg(test)]
    pub(crate) fn retained_batches(&self) -> usize {
        self.sessions.as_ref().map_or(0, |s| s.batches_held())
    }

    /// Allowed lateness; processing-time windows are purged as they fire.
    fn lateness(&self) -> i64 {
        if self.event_time() {
            self.spec.allowed_lateness
        } else {
            0
        }
    }

    /// Resolves the layout from the first batch, then checks later batches against it.
    fn check_layout(&mut self, schema: &SchemaRef) -> Result<()> {
        match &self.layout {
            Some(l) if Arc::ptr_eq(&l.input, schema) || l.input == *schema => Ok(()),
            Some(l) => Err(Error::Schema(format!(
                "window aggregate: batch columns [{}] differ from the first batch's [{}]",
                column_names(schema),
                column_names(&l.input)
            ))),
            None => {
                let layout = Layout::resolve(self, schema)?;
                if let WindowAssigner::Session { gap } = self.spec.assigner {
                    let key_types = &layout.key_types;
                    let lateness = self.lateness();
                    self.sessions = Some(SessionWindows::new(
                        gap,
                        lateness,
                        key_types,
                        layout.stored.clone(),
                    )?);
                }
                self.layout = Some(layout);
                Ok(())
            }
        }
    }

    fn new_state(&mut self, layout: &Layout) -> Result<WindowState> {
        if let Some(s) = self.pool.pop() {
            return Ok(s);
        }
        let indexer = if layout.key_types.is_empty() {
            None
        } else {
            Some(GroupIndexer::new(&layout.key_types)?)
        };
        let accs = self
            .aggs
            .iter()
            .zip(&layout.agg_types)
            .map(|(a, t)| create_accumulator(a.kind, t.as_ref()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(WindowState {
            indexer,
            num_groups: 0,
            accs,
            seen: layout.distinct.new_sets()?,
            fired: false,
            dirty: Vec::new(),
            dirty_flag: Vec::new(),
        })
    }

    fn recycle(&mut self, mut st: WindowState) {
        if self.pool.len() < 4 {
            if let Some(ix) = &mut st.indexer {
                ix.clear();
            }
            st.num_groups = 0;
            st.seen.iter_mut().for_each(Seen::clear);
            st.fired = false;
            st.dirty.clear();
            st.dirty_flag.clear();
            self.pool.push(st);
        }
    }

    fn on_batch_windows(
        &mut self,
        batch: &RecordBatch,
        layout: &Layout,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let n = batch.num_rows();
        let lateness = self.lateness();
        let wm = self.watermark(ctx);
        match (layout.time_idx, self.event_time()) {
            (Some(i), true) => {
                let ts = event_times(batch, i, self.time_column.as_deref().unwrap_or_default())?;
                self.splitter.split(RowTimes::Event(ts), n, lateness, wm);
            }
            _ => self
                .splitter
                .split(RowTimes::Uniform(ctx.now_ms()), n, 0, i64::MIN),
        }
        let (mask, count) = self.splitter.late();
        route_late(&self.spec, batch, mask, count, ctx, out)?;
        let mut refire: Vec<(i64, i64)> = Vec::new();
        for w in 0..self.splitter.windows.len() {
            let sw = self.splitter.windows[w].clone();
            if sw.late || sw.rows.as_ref().is_some_and(|r| r.is_empty()) {
                continue;
            }
            let cols: Vec<ArrayRef> = match &sw.rows {
                None => layout
                    .used
                    .iter()
                    .map(|&i| batch.column(i).clone())
                    .collect(),
                Some(r) => {
                    let idx = UInt32Array::from(self.splitter.rows[r.clone()].to_vec());
                    layout
                        .used
                        .iter()
                        .map(|&i| take(batch.column(i).as_ref(), &idx, None))
                        .collect::<Result<_, _>>()?
                }
            };
            let key = (sw.info.end, sw.info.start);
            if !self.windows.contains_key(&key) {
                let st = self.new_state(layout)?;
                self.windows.insert(key, st);
            }
            let st = self
                .windows
                .get_mut(&key)
                .ok_or_else(|| Error::Internal("window state vanished".into()))?;
            let rows = sw.rows.as_ref().map_or(n, |r| r.len());
            update(st, &cols, rows, layout, &mut self.scratch)?;
            if self.event_time() && window_is_due(sw.info.end, wm) {
                refire.push(key);
            }
        }
        // Rows within the allowed lateness of a fired (or due) window re-fire it now.
        for (end, start) in refire {
            if let Some(st) = self.windows.get_mut(&(end, start)) {
                let info = WindowInfo { start, end };
                if let Some(b) = emit(st, info, true, layout, &self.aggs, &mut self.scratch.ids)? {
                    out.emit(b);
                }
            }
        }
        Ok(())
    }

    /// Fires what is due at `t`, purging windows past their lateness.
    fn fire_due(&mut self, t: i64, layout: &Layout, out: &mut Output) -> Result<()> {
        let lateness = self.lateness();
        if let Some(sessions) = &mut self.sessions {
            if let Some(fired) = sessions.fire_due(t)? {
                out.emit(session_result(
                    fired,
                    layout,
                    &self.aggs,
                    &mut self.scratch.ids,
                )?);
            }
            return Ok(());
        }
        let mut due = std::mem::take(&mut self.scratch.due);
        due.clear();
        due.extend(
            self.windows
                .keys()
                .take_while(|(end, _)| window_is_due(*end, t))
                .copied(),
        );
        for &(end, start) in &due {
            let info = WindowInfo { start, end };
            if window_is_late(end, lateness, t) {
                if let Some(mut st) = self.windows.remove(&(end, start)) {
                    let reset = !st.fired;
                    if let Some(b) = emit(
                        &mut st,
                        info,
                        false,
                        layout,
                        &self.aggs,
                        &mut self.scratch.ids,
                    )? {
                        out.emit(b);
                    }
                    if reset {
                        self.recycle(st);
                    }
                }
            } else if let Some(st) = self.windows.get_mut(&(end, start)) {
                if let Some(b) = emit(st, info, true, layout, &self.aggs, &mut self.scratch.ids)? {
                    out.emit(b);
                }
            }
        }
        self.scratch.due = due;
        Ok(())
    }

    /// In processing time, asks for a callback when the first open window is due.
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

    /// Runs `f` with the layout taken out of `self` (it borrows `self` mutably).
    fn with_layout(&mut self, f: impl FnOnce(&mut Self, &Layout) -> Result<()>) -> Result<()> {
        let Some(layout) = self.layout.take() else {
            return Ok(());
        };
        let r = f(self, &layout);
        self.layout = Some(layout);
        r
    }
}

/// Adds a window's `n` rows (`cols`: the layout's `used` columns, none at all for a
/// `COUNT(*)` without keys) to its state.
fn update(
    st: &mut WindowState,
    cols: &[ArrayRef],
    n: usize,
    layout: &Layout,
    scratch: &mut Scratch,
) -> Result<()> {
    let ids: &[u32] = match &mut st.indexer {
        Some(ix) => {
            ix.intern(&cols[..layout.num_keys], &mut scratch.gids)?;
            st.num_groups = ix.num_groups();
            &scratch.gids
        }
        None => {
            st.num_groups = 1;
            if scratch.zeros.len() < n {
                scratch.zeros.resize(n, 0);
            }
            &scratch.zeros[..n]
        }
    };
    let masks = layout.distinct.masks(&mut st.seen, ids, cols)?;
    for ((acc, input), slot) in st
        .accs
        .iter_mut()
        .zip(&layout.agg_input)
        .zip(&layout.distinct.of_agg)
    {
        let mask = slot.map(|s| &masks[s]);
        acc.update_batch(input.map(|p| &cols[p]), ids, mask, st.num_groups)?;
    }
    if st.fired {
        st.dirty_flag.resize(st.num_groups, false);
        for &g in ids {
            if !st.dirty_flag[g as usize] {
                st.dirty_flag[g as usize] = true;
                st.dirty.push(g);
            }
        }
    }
    Ok(())
}

fn identity(ids: &mut Vec<u32>, n: usize) -> &[u32] {
    ids.clear();
    ids.extend(0..n as u32);
    ids
}

/// The result batch of a window: every group the first time, the changed groups after that.
/// `keep` leaves the state intact (allowed lateness); otherwise the accumulators are
/// evaluated destructively.
fn emit(
    st: &mut WindowState,
    info: WindowInfo,
    keep: bool,
    layout: &Layout,
    aggs: &[AggSpec],
    ids: &mut Vec<u32>,
) -> Result<Option<RecordBatch>> {
    let n = st.num_groups;
    if n == 0 || (st.fired && st.dirty.is_empty()) {
        return Ok(None);
    }
    let select = if st.fired {
        let mut d = std::mem::take(&mut st.dirty);
        d.sort_unstable();
        for &g in &d {
            st.dirty_flag[g as usize] = false;
        }
        Some(UInt32Array::from(d))
    } else {
        None
    };
    let pick = |a: ArrayRef| -> Result<ArrayRef> {
        match &select {
            Some(s) => Ok(take(a.as_ref(), s, None)?),
            None => Ok(a),
        }
    };
    let m = select.as_ref().map_or(n, |s| s.len());
    let mut columns = Vec::with_capacity(layout.output.fields().len());
    if let Some(ix) = &st.indexer {
        for k in ix.emit_keys()? {
            columns.push(pick(k)?);
        }
    }
    columns.extend(window_columns(info, m));
    for (i, acc) in st.accs.iter_mut().enumerate() {
        if !keep {
            columns.push(pick(acc.evaluate()?)?);
            continue;
        }
        // Evaluation is destructive: take the state, put it back, and evaluate a copy.
        let states = acc.state()?;
        acc.merge_batch(&states, identity(ids, n), n)?;
        let states = states.into_iter().map(&pick).collect::<Result<Vec<_>>>()?;
        let mut copy = create_accumulator(aggs[i].kind, layout.agg_types[i].as_ref())?;
        copy.merge_batch(&states, identity(ids, m), m)?;
        columns.push(copy.evaluate()?);
    }
    st.fired = true;
    Ok(Some(RecordBatch::try_new(layout.output.clone(), columns)?))
}

/// Aggregates fired sessions: one result row per session.
fn session_result(
    fired: FiredSessions,
    layout: &Layout,
    aggs: &[AggSpec],
    ids: &mut Vec<u32>,
) -> Result<RecordBatch> {
    let m = fired.sessions.len();
    ids.clear();
    for (g, (_, range)) in fired.sessions.iter().enumerate() {
        ids.extend(std::iter::repeat_n(g as u32, range.len()));
    }
    let firsts = UInt32Array::from_iter_values(fired.sessions.iter().map(|(_, r)| r.start as u32));
    let mut columns = Vec::with_capacity(layout.output.fields().len());
    for k in 0..layout.num_keys {
        columns.push(take(fired.rows.column(k).as_ref(), &firsts, None)?);
    }
    let starts = fired.sessions.iter().map(|(w, _)| w.start);
    let ends = fired.sessions.iter().map(|(w, _)| w.end);
    let times = fired.sessions.iter().map(|(w, _)| w.max_timestamp());
    for values in [starts.collect::<Vec<_>>(), ends.collect(), times.collect()] {
        columns.push(Arc::new(TimestampMillisecondArray::from(values)));
    }
    // DISTINCT: the first row of each (session, value) pair, found with a set of this firing.
    let mut sets = layout.distinct.new_sets()?;
    let masks = layout
        .distinct
        .masks(&mut sets, ids, fired.rows.columns())?;
    for (i, a) in aggs.iter().enumerate() {
        let mut acc = create_accumulator(a.kind, layout.agg_types[i].as_ref())?;
        let values = layout.agg_input[i].map(|p| fired.rows.column(p));
        let mask = layout.distinct.of_agg[i].map(|s| &masks[s]);
        acc.update_batch(values, ids, mask, m)?;
        columns.push(acc.evaluate()?);
    }
    Ok(RecordBatch::try_new(layout.output.clone(), columns)?)
}

impl Operator for WindowAggregate {
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
        self.with_layout(|op, layout| {
            if op.sessions.is_some() {
                op.on_batch_sessions(&batch, layout, ctx, out)?;
            } else {
                op.on_batch_windows(&batch, layout, ctx, out)?;
            }
            op.request_timer(ctx);
            Ok(())
        })
    }

    fn on_watermark(&mut self, wm: Watermark, ctx: &mut OpContext, out: &mut Output) -> Result<()> {
        if fires_on(self.spec.domain, wm) {
            self.with_layout(|op, layout| op.fire_due(wm.0, layout, out))?;
        }
        let _ = ctx;
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
        self.with_layout(|op, layout| {
            op.fire_due(now_ms, layout, out)?;
            op.request_timer(ctx);
            Ok(())
        })
    }

    fn on_end(&mut self, _: &mut OpContext, out: &mut Output) -> Result<()> {
        // Every open window fires (after the final watermark, event-time ones already have).
        self.with_layout(|op, layout| op.fire_due(i64::MAX, layout, out))
    }

    fn snapshot(&mut self, _: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        self.snapshot_state(ctx)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        self.restore_state(&state, ctx)
    }
}

impl WindowAggregate {
    fn on_batch_sessions(
        &mut self,
        batch: &RecordBatch,
        layout: &Layout,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let n = batch.num_rows();
        let cols: Vec<ArrayRef> = layout
            .used
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(n));
        let stored = RecordBatch::try_new_with_options(layout.stored.clone(), cols, &options)?;
        let key_cols: Vec<ArrayRef> = stored.columns()[..layout.num_keys].to_vec();
        let wm = self.watermark(ctx);
        let Some(sessions) = &mut self.sessions else {
            return Ok(());
        };
        match (layout.time_idx, self.spec.domain) {
            (Some(i), TimeDomain::EventTime) => {
                let ts = event_times(batch, i, self.time_column.as_deref().unwrap_or_default())?;
                sessions.insert(stored, &key_cols, RowTimes::Event(ts), wm)?;
            }
            _ => sessions.insert(stored, &key_cols, RowTimes::Uniform(ctx.now_ms()), i64::MIN)?,
        }
        let (flags, count) = sessions.late();
        let mask = (count > 0 && count < n).then(|| flags.iter().map(|&f| Some(f)).collect());
        route_late(&self.spec, batch, mask.as_ref(), count, ctx, out)?;
        if self.spec.domain == TimeDomain::EventTime {
            if let Some(fired) = sessions.fire_touched(wm)? {
                out.emit(session_result(
                    fired,
                    layout,
                    &self.aggs,
                    &mut self.scratch.ids,
                )?);
            }
        }
        Ok(())
    }
}
