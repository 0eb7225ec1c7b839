//! Checkpoints of [`WindowAggregate`].
//!
//! Besides the metadata row every window operator writes (`window_meta`, see
//! `window/snapshot.rs`), tumbling, hopping and cumulating windows write one keyed table,
//! `window_groups`, with one row per (open window, key), filed under the key's key group
//! (key group 0 without keys):
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `window_start`, `window_end` | `Int64` | the window |
//! | `group` | `UInt32` | the key's group id in the window (first-appearance order) |
//! | `fired` | `Boolean` | the window has fired (allowed lateness keeps it) |
//! | `dirty` | `Boolean` | the key changed since the window fired: it re-fires |
//! | `key0`, ... | key types | the key |
//! | `agg0_0`, ... | [`state_types`] | each aggregate's state columns, in [`AggSpec`](super::AggSpec) order |
//!
//! Windows with `DISTINCT` aggregates also write, per distinct input `s`, a keyed table
//! `window_distinct{s}` of the (group, value) pairs seen, filed like the group's row:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `window_start`, `window_end` | `Int64` | the window |
//! | `key0`, ... | key types | the key of the pair's group |
//! | `value` | the input's type | the value |
//!
//! The accumulators' state is taken with `state()` and merged straight back: one copy, in
//! the synchronous phase. Restore sorts the rows by `(window_end, window_start, group)`,
//! interns the keys in that order (same group ids as before the checkpoint, so a fired
//! window's rows keep their order) and merges the states into fresh accumulators; merging
//! also folds a key found in several old subtasks' tables (possible only without keys).
//! After a rescale a window fired in one old subtask but not in another is restored as
//! fired, with the other's keys marked changed: they fire at the next watermark, as they
//! would have. Distinct pairs are restored after the groups: their keys are interned again
//! (finding the restored groups) and the pairs added to the window's sets, in any order.
//! Sessions write the tables of `session.rs` instead.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::Int64Type;
use millstream_kernels::agg::state_types;

use super::{identity, Layout, WindowAggregate, WindowState};
use crate::checkpoint::OperatorState;
use crate::error::Result;
use crate::operator::window::snapshot::{
    bad_state, booleans, key_groups, owned_rows, primitive, push_meta, restore_meta, runs,
    sorted_by, state_batch, Columns,
};
use crate::operator::OpContext;
use crate::window::WindowInfo;

/// Keyed table of the open windows' groups.
const GROUPS_TABLE: &str = "window_groups";
/// Columns of [`GROUPS_TABLE`] before the keys.
const GROUP_META: usize = 5;

/// The keyed table of the (group, value) pairs of distinct input `slot`.
fn distinct_table(slot: usize) -> String {
    format!("window_distinct{slot}")
}

impl WindowAggregate {
    /// The watermark rows are judged late against: the task's, or the restored one if higher.
    pub(super) fn watermark(&self, ctx: &OpContext) -> i64 {
        ctx.watermark.0.max(self.wm_floor)
    }

    /// [`Operator::snapshot`](crate::operator::Operator::snapshot).
    pub(super) fn snapshot_state(&mut self, ctx: &OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        push_meta(
            &mut state,
            self.layout.as_ref().map(|l| &l.input),
            self.watermark(ctx),
        )?;
        if let Some(sessions) = &mut self.sessions {
            sessions.snapshot(ctx, &mut state)?;
            return Ok(state);
        }
        for (&(end, start), st) in &mut self.windows {
            let info = WindowInfo { start, end };
            let (columns, keys) = window_columns(st, info, &mut self.scratch.ids)?;
            let n = st.num_groups;
            let kg = key_groups(&keys, n, ctx)?;
            state.push_keyed(GROUPS_TABLE, kg.clone(), &state_batch(columns, n)?)?;
            for (slot, seen) in st.seen.iter().enumerate() {
                if seen.len() == 0 {
                    continue;
                }
                let (groups, values) = seen.pairs()?;
                let m = groups.len();
                let mut pairs = bounds(info, m);
                for (i, k) in keys.iter().enumerate() {
                    pairs.push((format!("key{i}"), take(k.as_ref(), &groups, None)?));
                }
                pairs.push(("value".into(), values));
                // Filed like the pair's group.
                let pair_kg = groups.values().iter().map(|&g| kg[g as usize]).collect();
                state.push_keyed(distinct_table(slot), pair_kg, &state_batch(pairs, m)?)?;
            }
        }
        Ok(state)
    }

    /// [`Operator::restore`](crate::operator::Operator::restore) on a fresh operator.
    pub(super) fn restore_state(
        &mut self,
        state: &OperatorState,
        ctx: &mut OpContext,
    ) -> Result<()> {
        let Some(input) = restore_meta(state, &mut self.wm_floor)? else {
            return Ok(());
        };
        self.check_layout(&input)?;
        if let Some(sessions) = &mut self.sessions {
            sessions.restore(state)?;
        } else {
            self.with_layout(|op, layout| op.restore_windows(state, layout))?;
        }
        self.request_timer(ctx);
        Ok(())
    }

    fn restore_windows(&mut self, state: &OperatorState, layout: &Layout) -> Result<()> {
        let Some(rows) = owned_rows(state, GROUPS_TABLE)? else {
            return Ok(());
        };
        let rows = sorted_by(&rows, &[1, 0, 2])?;
        let widths = self
            .aggs
            .iter()
            .zip(&layout.agg_types)
            .map(|(a, t)| Ok(state_types(a.kind, t.as_ref())?.len()))
            .collect::<Result<Vec<_>>>()?;
        let expected = GROUP_META + layout.num_keys + widths.iter().sum::<usize>();
        if rows.num_columns() != expected {
            return Err(bad_state(
                GROUPS_TABLE,
                format!("{} columns, expected {expected}", rows.num_columns()),
            ));
        }
        let starts = primitive::<Int64Type>(&rows, 0, GROUPS_TABLE)?;
        let ends = primitive::<Int64Type>(&rows, 1, GROUPS_TABLE)?;
        let fired = booleans(&rows, 3, GROUPS_TABLE)?;
        let dirty = booleans(&rows, 4, GROUPS_TABLE)?;
        let mut gids = Vec::new();
        for (from, to) in runs(starts, ends) {
            let part = rows.slice(from, to - from);
            let mut st = self.new_state(layout)?;
            match &mut st.indexer {
                Some(ix) => {
                    let keys = &part.columns()[GROUP_META..GROUP_META + layout.num_keys];
                    ix.intern(keys, &mut gids)?;
                    st.num_groups = ix.num_groups();
                }
                None => {
                    gids.clear();
                    gids.resize(part.num_rows(), 0);
                    st.num_groups = 1;
                }
            }
            let mut c = GROUP_META + layout.num_keys;
            for (acc, &w) in st.accs.iter_mut().zip(&widths) {
                acc.merge_batch(&part.columns()[c..c + w], &gids, st.num_groups)?;
                c += w;
            }
            st.fired = (from..to).any(|i| fired.value(i));
            if st.fired {
                st.dirty_flag.resize(st.num_groups, false);
                for (i, &g) in (from..to).zip(&gids) {
                    // A key of an old subtask where the window had not fired yet must fire.
                    if (dirty.value(i) || !fired.value(i)) && !st.dirty_flag[g as usize] {
                        st.dirty_flag[g as usize] = true;
                        st.dirty.push(g);
                    }
                }
            }
            self.windows
                .insert((ends.value(from), starts.value(from)), st);
        }
        for slot in 0..layout.distinct.slots.len() {
            self.restore_distinct(state, layout, slot)?;
        }
        Ok(())
    }

    /// Adds the (group, value) pairs of distinct input `slot` to the restored windows.
    fn restore_distinct(
        &mut self,
        state: &OperatorState,
        layout: &Layout,
        slot: usize,
    ) -> Result<()> {
        let table = distinct_table(slot);
        let Some(rows) = owned_rows(state, &table)? else {
            return Ok(());
        };
        let expected = 3 + layout.num_keys;
        if rows.num_columns() != expected {
            return Err(bad_state(
                &table,
                format!("{} columns, expected {expected}", rows.num_columns()),
            ));
        }
        let rows = sorted_by(&rows, &[1, 0])?;
        let starts = primitive::<Int64Type>(&rows, 0, &table)?;
        let ends = primitive::<Int64Type>(&rows, 1, &table)?;
        let mut gids = Vec::new();
        for (from, to) in runs(starts, ends) {
            let part = rows.slice(from, to - from);
            let key = (ends.value(from), starts.value(from));
            let Some(st) = self.windows.get_mut(&key) else {
                return Err(bad_state(
                    &table,
                    format!("pairs of a window {key:?} without groups"),
                ));
            };
            match &mut st.indexer {
                Some(ix) => {
                    ix.intern(&part.columns()[2..2 + layout.num_keys], &mut gids)?;
                    if ix.num_groups() != st.num_groups {
                        return Err(bad_state(&table, "a pair of a key without a group"));
                    }
                }
                None => {
                    gids.clear();
                    gids.resize(part.num_rows(), 0);
                }
            }
            let groups: ArrayRef = Arc::new(UInt32Array::from(std::mem::take(&mut gids)));
            st.seen[slot].load(&groups, part.column(2 + layout.num_keys))?;
        }
        Ok(())
    }
}

/// The `window_start` and `window_end` columns of `n` rows of one window: the first columns
/// of [`GROUPS_TABLE`] and of the distinct tables.
fn bounds(info: WindowInfo, n: usize) -> Columns {
    vec![
        (
            "window_start".into(),
            Arc::new(Int64Array::from_value(info.start, n)),
        ),
        (
            "window_end".into(),
            Arc::new(Int64Array::from_value(info.end, n)),
        ),
    ]
}

/// The columns of one window's rows in [`GROUPS_TABLE`], and its key columns. Takes the
/// accumulators' state and merges it back (one copy).
fn window_columns(
    st: &mut WindowState,
    info: WindowInfo,
    ids: &mut Vec<u32>,
) -> Result<(Columns, Vec<ArrayRef>)> {
    let n = st.num_groups;
    let dirty = (0..n).map(|g| Some(st.dirty_flag.get(g).copied().unwrap_or(false)));
    let mut columns = bounds(info, n);
    columns.extend::<Columns>(vec![
        (
            "group".into(),
            Arc::new(UInt32Array::from_iter_values(0..n as u32)),
        ),
        (
            "fired".into(),
            Arc::new(BooleanArray::from(vec![st.fired; n])),
        ),
        ("dirty".into(), Arc::new(dirty.collect::<BooleanArray>())),
    ]);
    let keys = match &st.indexer {
        Some(ix) => ix.emit_keys()?,
        None => Vec::new(),
    };
    for (i, k) in keys.iter().enumerate() {
        columns.push((format!("key{i}"), k.clone()));
    }
    for (a, acc) in st.accs.iter_mut().enumerate() {
        let states = acc.state()?;
        acc.merge_batch(&states, identity(ids, n), n)?;
        for (j, s) in states.into_iter().enumerate() {
            columns.push((format!("agg{a}_{j}"), s));
        }
    }
    Ok((columns, keys))
}
