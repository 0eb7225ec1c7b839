//! Checkpoints of [`WindowProcess`].
//!
//! Besides the metadata row every window operator writes (`window_meta`, see
//! `window/snapshot.rs`), tumbling, hopping and cumulating windows write two keyed tables,
//! each row filed under the key group of its key (key group 0 without keys):
//!
//! | table | columns | rows |
//! |---|---|---|
//! | `process_rows` | `origin: UInt32, seq: UInt64, row: UInt32, c0..` (the input columns) | every row some open window refers to, once |
//! | `process_refs` | `origin, window_start: Int64, window_end: Int64, pos: UInt64, seq, row, fired: Boolean, dirty: Boolean` | every (window, row) reference, `pos` its place in the window |
//!
//! `(origin, seq, row)` identifies a row: the subtask that wrote it and the row's place in
//! that subtask's row store. Restore stores the rows again in identity order (see
//! `rows.rs`), sorts the references by `(window_end, window_start, pos)`, and rebuilds each
//! window's indexer by interning its rows' keys in that order: the group ids come out as
//! before the checkpoint, so the function is called per key in the same order with the same
//! rows. `dirty` is the flag of the row's key; after a rescale, keys of an old subtask where
//! the window had not fired are marked changed in a window another one had fired. Sessions
//! write the tables of `session.rs` instead.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, UInt32Array, UInt64Array};
use arrow::compute::take;
use arrow::datatypes::{Int64Type, UInt32Type, UInt64Type};
use millstream_kernels::group::GroupIndexer;

use super::{ProcWindow, WindowProcess};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::window::rows::RowRef;
use crate::operator::window::snapshot::{
    bad_state, booleans, key_groups, owned_rows, primitive, push_meta, restore_meta, runs,
    sorted_by, state_batch,
};
use crate::operator::OpContext;

/// Keyed table of the rows open windows refer to.
const ROWS_TABLE: &str = "process_rows";
/// Keyed table of the windows' references to them.
const REFS_TABLE: &str = "process_refs";
/// Identity columns of [`ROWS_TABLE`] before the input columns.
const ROW_ID: usize = 3;

impl WindowProcess {
    /// [`Operator::snapshot`](crate::operator::Operator::snapshot).
    pub(super) fn snapshot_state(&mut self, ctx: &OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        let wm = ctx.watermark.0.max(self.wm_floor);
        push_meta(&mut state, self.layout.as_ref().map(|l| &l.input), wm)?;
        if let Some(sessions) = &mut self.sessions {
            sessions.snapshot(ctx, &mut state)?;
            return Ok(state);
        }
        let Some(store) = &self.store else {
            return Ok(state);
        };
        let origin = ctx.subtask as u32;
        // Every reference with its key group: rows are written once, under that group.
        let mut all: Vec<(RowRef, u32)> = Vec::new();
        for (&(end, start), w) in &self.windows {
            let keys = match &w.indexer {
                Some(ix) => ix.emit_keys()?,
                None => Vec::new(),
            };
            let group_kg = key_groups(&keys, w.num_groups, ctx)?;
            let kg = w
                .gids
                .iter()
                .map(|&g| group_kg.get(g as usize).copied())
                .collect::<Option<Vec<u32>>>()
                .ok_or_else(|| Error::Internal("window row of an unknown group".into()))?;
            all.extend(w.refs.iter().copied().zip(kg.iter().copied()));
            let n = w.refs.len();
            let flag = |g: u32| Some(w.dirty_flag.get(g as usize).copied().unwrap_or(false));
            let columns: Vec<(String, ArrayRef)> = vec![
                (
                    "origin".into(),
                    Arc::new(UInt32Array::from_value(origin, n)),
                ),
                (
                    "window_start".into(),
                    Arc::new(Int64Array::from_value(start, n)),
                ),
                (
                    "window_end".into(),
                    Arc::new(Int64Array::from_value(end, n)),
                ),
                (
                    "pos".into(),
                    Arc::new(UInt64Array::from_iter_values(0..n as u64)),
                ),
                (
                    "seq".into(),
                    Arc::new(UInt64Array::from_iter_values(w.refs.iter().map(|r| r.0))),
                ),
                (
                    "row".into(),
                    Arc::new(UInt32Array::from_iter_values(w.refs.iter().map(|r| r.1))),
                ),
                (
                    "fired".into(),
                    Arc::new(BooleanArray::from(vec![w.fired; n])),
                ),
                (
                    "dirty".into(),
                    Arc::new(w.gids.iter().map(|&g| flag(g)).collect::<BooleanArray>()),
                ),
            ];
            state.push_keyed(REFS_TABLE, kg, &state_batch(columns, n)?)?;
        }
        if all.is_empty() {
            return Ok(state);
        }
        all.sort_unstable();
        all.dedup_by_key(|e| e.0);
        let (refs, kg): (Vec<RowRef>, Vec<u32>) = all.into_iter().unzip();
        let columns = store.snapshot_rows(&refs, origin)?;
        state.push_keyed(ROWS_TABLE, kg, &state_batch(columns, refs.len())?)?;
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
            self.restore_windows(state)?;
        }
        self.request_timer(ctx);
        Ok(())
    }

    fn restore_windows(&mut self, state: &OperatorState) -> Result<()> {
        let (Some(layout), Some(store)) = (&self.layout, &mut self.store) else {
            return Ok(());
        };
        let Some(refs) = owned_rows(state, REFS_TABLE)? else {
            return Ok(());
        };
        let rows = owned_rows(state, ROWS_TABLE)?
            .ok_or_else(|| bad_state(ROWS_TABLE, "window references but no rows"))?;
        let restored = store.restore_rows(&rows, ROW_ID, ROWS_TABLE)?;
        let refs = sorted_by(&refs, &[2, 1, 3, 0])?;
        let origins = primitive::<UInt32Type>(&refs, 0, REFS_TABLE)?.values();
        let starts = primitive::<Int64Type>(&refs, 1, REFS_TABLE)?;
        let ends = primitive::<Int64Type>(&refs, 2, REFS_TABLE)?;
        let seqs = primitive::<UInt64Type>(&refs, 4, REFS_TABLE)?.values();
        let row_idx = primitive::<UInt32Type>(&refs, 5, REFS_TABLE)?.values();
        let fired = booleans(&refs, 6, REFS_TABLE)?;
        let dirty = booleans(&refs, 7, REFS_TABLE)?;
        for (from, to) in runs(starts, ends) {
            let mut positions = Vec::with_capacity(to - from);
            let mut wrefs = Vec::with_capacity(to - from);
            for i in from..to {
                let p = restored
                    .find((origins[i], seqs[i], row_idx[i]))
                    .ok_or_else(|| {
                        bad_state(
                            REFS_TABLE,
                            format!("reference to missing row ({}, {})", seqs[i], row_idx[i]),
                        )
                    })?;
                positions.push(p as u32);
                let r = restored.refs[p];
                wrefs.push(r);
                store.add_refs(r.0, 1)?;
            }
            let (indexer, gids, num_groups) = if layout.key_types.is_empty() {
                (None, vec![0; to - from], 1)
            } else {
                let mut ix = GroupIndexer::new(&layout.key_types)?;
                let positions = UInt32Array::from(positions);
                let keys = layout
                    .key_idx
                    .iter()
                    .map(|&k| {
                        take(
                            restored.sorted.column(ROW_ID + k).as_ref(),
                            &positions,
                            None,
                        )
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                let mut gids = Vec::new();
                ix.intern(&keys, &mut gids)?;
                let n = ix.num_groups();
                (Some(ix), gids, n)
            };
            let mut w = ProcWindow {
                indexer,
                num_groups,
                refs: wrefs,
                gids,
                fired: (from..to).any(|i| fired.value(i)),
                dirty: Vec::new(),
                dirty_flag: Vec::new(),
            };
            if w.fired {
                w.dirty_flag.resize(num_groups, false);
                for (i, &g) in (from..to).zip(&w.gids) {
                    if (dirty.value(i) || !fired.value(i)) && !w.dirty_flag[g as usize] {
                        w.dirty_flag[g as usize] = true;
                        w.dirty.push(g);
                    }
                }
            }
            self.windows
                .insert((ends.value(from), starts.value(from)), w);
        }
        restored.release_unreferenced(store)
    }
}
