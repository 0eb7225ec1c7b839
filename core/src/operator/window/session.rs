//! Session windows: per key, each row opens a window `[t, t + gap)` that merges with every
//! window of the same key it overlaps or touches, so a session ends after `gap` without rows.
//!
//! Flink equivalent: `EventTimeSessionWindows` / `ProcessingTimeSessionWindows`, a
//! `MergingWindowAssigner` whose windows merge through `MergingWindowSet` (Flink's
//! `TimeWindow.intersects` is inclusive, so `[0, 5)` and `[5, 10)` merge into `[0, 10)`; so do
//! they here), with the `EventTimeTrigger`. The SQL form is `SESSION(TABLE t, DESCRIPTOR(ts),
//! gap)`.
//!
//! State: one [`GroupIndexer`] giving every key a dense id (keys are never forgotten: memory
//! `O(distinct keys)`), per key a short list of open sessions sorted by start, each holding
//! references to its rows in a [`RowStore`] (the input batches, projected to the columns the
//! operator needs, kept once however sessions merge), and an index of sessions by end.
//!
//! Lateness: a row is late when the session it would belong to after merging is late
//! (`end - 1 + allowed_lateness <= watermark`); since late sessions are purged by the
//! watermark that makes them late, that is exactly a row that joins no open session and
//! whose own window `[t, t + gap)` is late. Allowed lateness is supported: a fired session
//! stays until `end - 1 + lateness <= watermark`; a row that joins it marks it changed and
//! it re-fires right after the row's batch with all its rows (Flink's trigger fires the
//! merged window again), or at a later watermark if the row extended it past the watermark.
//!
//! On a watermark (or processing-time callback) every changed session with `end - 1 <= t`
//! fires, in order of end; all fired sessions' rows are gathered into one batch (each
//! session's rows contiguous, in arrival order).
//!
//! Complexity: per row, one key lookup (the batch's keys are interned once per batch) and a
//! binary search in the key's session list; merging moves row references (`O(rows of the
//! merged sessions)`); firing is `O(rows of fired sessions)` plus `O(log sessions)` each.
//!
//! Checkpoints ([`SessionWindows::snapshot`]) write two keyed tables, each row filed under
//! the key group of its key (key group 0 without keys):
//!
//! | table | columns | rows |
//! |---|---|---|
//! | `session_keys` | `origin: UInt32, key_id: UInt32, key0..` | every key of the indexer, in id order (keyed sessions only) |
//! | `session_rows` | `origin, seq: UInt64, row: UInt32, key_id, start: Int64, end: Int64, dirty: Boolean, c0..` | every row of an open session, with its session, in arrival order per session |
//!
//! `origin` is the subtask that wrote the row, so identities stay distinct when a rescale
//! hands one subtask the rows of several. Keys are re-interned in `(key_id, origin)` order:
//! at the same parallelism every key gets its old id back, which keeps the order in which
//! sessions with equal ends fire; after a rescale only the order between keys changes. Rows
//! are stored again in arrival order, so a restored session fires its rows in the order the
//! uninterrupted run would. Sessions of one key from several old subtasks (possible only
//! without keys) are merged where they overlap, as new rows would merge them.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, UInt32Array};
use arrow::datatypes::{DataType, Int64Type, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;
use millstream_kernels::group::GroupIndexer;

use super::rows::{RowRef, RowStore};
use super::snapshot::{bad_state, booleans, key_groups, owned_rows, primitive, sorted_by};
use super::{window_is_due, window_is_late, RowTimes};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::OpContext;
use crate::window::WindowInfo;

/// Keyed table of the session keys.
const KEYS_TABLE: &str = "session_keys";
/// Keyed table of the rows of open sessions.
const ROWS_TABLE: &str = "session_rows";
/// Columns of [`ROWS_TABLE`] before the stored row's.
const ROW_META: usize = 7;

#[derive(Debug)]
struct Session {
    start: i64,
    end: i64,
    rows: Vec<RowRef>,
    /// Rows are in arrival order (false after merging sessions).
    sorted: bool,
    /// Changed since it last fired (or never fired).
    dirty: bool,
}

/// Sessions fired together: their rows gathered into one batch.
#[derive(Debug)]
pub(crate) struct FiredSessions {
    /// The gathered rows (the store's columns): each session's rows contiguous.
    pub(crate) rows: RecordBatch,
    /// Per fired session: the window and its range of `rows`.
    pub(crate) sessions: Vec<(WindowInfo, Range<usize>)>,
}

/// Per-key session windows over retained rows.
#[derive(Debug)]
pub(crate) struct SessionWindows {
    gap: i64,
    lateness: i64,
    /// `None` for a non-keyed session window (every row is key 0).
    keys: Option<GroupIndexer>,
    key_ids: Vec<u32>,
    /// Open sessions per key id, sorted by start, pairwise separated (`end < next.start`).
    sessions: Vec<Vec<Session>>,
    /// (end, key id, start) of every open session.
    by_end: BTreeSet<(i64, u32, i64)>,
    store: RowStore,
    /// Keys that received rows in the current batch.
    touched: Vec<u32>,
    touched_flag: Vec<bool>,
    /// Late rows of the last batch.
    late: Vec<bool>,
    late_count: usize,
}

impl SessionWindows {
    /// Sessions with inactivity `gap`, kept `lateness` ms after they fire, keyed by columns
    /// of `key_types` (none: one session sequence for the whole stream), storing rows of
    /// `store_schema`.
    pub(crate) fn new(
        gap: i64,
        lateness: i64,
        key_types: &[DataType],
        store_schema: SchemaRef,
    ) -> Result<Self> {
        let keys = if key_types.is_empty() {
            None
        } else {
            Some(GroupIndexer::new(key_types)?)
        };
        Ok(SessionWindows {
            gap,
            lateness,
            keys,
            key_ids: Vec::new(),
            sessions: Vec::new(),
            by_end: BTreeSet::new(),
            store: RowStore::new(store_schema),
            touched: Vec::new(),
            touched_flag: Vec::new(),
            late: Vec::new(),
            late_count: 0,
        })
    }

    /// Number of open sessions.
    #[cfg(test)]
    pub(crate) fn open_sessions(&self) -> usize {
        self.by_end.len()
    }

    /// Number of retained batches.
    #[cfg(test)]
    pub(crate) fn batches_held(&self) -> usize {
        self.store.batches_held()
    }

    /// The earliest end of an open session.
    pub(crate) fn first_end(&self) -> Option<i64> {
        self.by_end.first().map(|e| e.0)
    }

    /// Late rows of the last [`insert`](Self::insert): a per-row flag and their count.
    pub(crate) fn late(&self) -> (&[bool], usize) {
        (&self.late, self.late_count)
    }

    /// Adds a batch: `stored` (the columns to keep), `key_cols` (its key columns), the row
    /// times and the current watermark (`i64::MIN` in processing time: nothing is late).
    pub(crate) fn insert(
        &mut self,
        stored: RecordBatch,
        key_cols: &[ArrayRef],
        times: RowTimes<'_>,
        wm: i64,
    ) -> Result<()> {
        let n = stored.num_rows();
        self.late.clear();
        self.late_count = 0;
        for &k in &self.touched {
            self.touched_flag[k as usize] = false;
        }
        self.touched.clear();
        if n == 0 {
            return Ok(());
        }
        match &mut self.keys {
            Some(ix) => ix.intern(key_cols, &mut self.key_ids)?,
            None => {
                self.key_ids.clear();
                self.key_ids.resize(n, 0);
            }
        }
        let num_keys = self.keys.as_ref().map_or(1, |ix| ix.num_groups());
        if self.sessions.len() < num_keys {
            self.sessions.resize_with(num_keys, Vec::new);
            self.touched_flag.resize(num_keys, false);
        }
        let seq = self.store.push(stored);
        let mut kept = 0u64;
        for row in 0..n {
            let t = match times {
                RowTimes::Event(ts) => ts[row],
                RowTimes::Uniform(now) => now,
            };
            let key = self.key_ids[row];
            if self.add_row(key, t, (seq, row as u32), wm) {
                kept += 1;
                if !self.touched_flag[key as usize] {
                    self.touched_flag[key as usize] = true;
                    self.touched.push(key);
                }
            } else {
                if self.late.is_empty() {
                    self.late.resize(n, false);
                }
                self.late[row] = true;
                self.late_count += 1;
            }
        }
        self.store.add_refs(seq, kept)?;
        // Drops the batch again if every row was late.
        self.store.release(seq, 0)
    }

    /// Adds one row of `key` at time `t`; false if it is late.
    fn add_row(&mut self, key: u32, t: i64, r: RowRef, wm: i64) -> bool {
        let (ws, we) = (t, t.saturating_add(self.gap));
        let list = &mut self.sessions[key as usize];
        // Sessions are separated, so ends increase with starts: the first one that can
        // touch [ws, we) is the first with end >= ws.
        let first = list.partition_point(|s| s.end < ws);
        let last = first + list[first..].iter().take_while(|s| s.start <= we).count();
        if first == last {
            if window_is_late(we, self.lateness, wm) {
                return false;
            }
            list.insert(
                first,
                Session {
                    start: ws,
                    end: we,
                    rows: vec![r],
                    sorted: true,
                    dirty: true,
                },
            );
            self.by_end.insert((we, key, ws));
            return true;
        }
        let s = &mut list[first];
        if last == first + 1 && s.start <= ws && we <= s.end {
            // Inside an open session: its bounds do not move.
            s.rows.push(r);
            s.dirty = true;
            return true;
        }
        // Merge sessions first..last and the new window into the first.
        let mut merged = list.drain(first + 1..last).collect::<Vec<_>>();
        let s = &mut list[first];
        self.by_end.remove(&(s.end, key, s.start));
        for m in &mut merged {
            self.by_end.remove(&(m.end, key, m.start));
            s.end = s.end.max(m.end);
            s.rows.append(&mut m.rows);
            s.sorted = false;
        }
        s.start = s.start.min(ws);
        s.end = s.end.max(we);
        s.rows.push(r);
        s.sorted &= merged.is_empty();
        s.dirty = true;
        self.by_end.insert((s.end, key, s.start));
        true
    }

    /// Fires the changed sessions of the keys touched by the last batch that are due at
    /// `wm` (late rows for a fired session re-fire it at once).
    pub(crate) fn fire_touched(&mut self, wm: i64) -> Result<Option<FiredSessions>> {
        let mut due = Vec::new();
        for &k in &self.touched {
            for s in &self.sessions[k as usize] {
                if s.dirty && window_is_due(s.end, wm) {
                    due.push((s.end, k, s.start));
                }
            }
        }
        due.sort_unstable();
        self.fire(&due, wm)
    }

    /// Fires every changed session with `end - 1 <= t` (in order of end) and purges the
    /// sessions past their lateness at `t`.
    pub(crate) fn fire_due(&mut self, t: i64) -> Result<Option<FiredSessions>> {
        let due: Vec<(i64, u32, i64)> = self
            .by_end
            .iter()
            .take_while(|(end, _, _)| window_is_due(*end, t))
            .copied()
            .collect();
        self.fire(&due, t)
    }

    fn fire(&mut self, due: &[(i64, u32, i64)], t: i64) -> Result<Option<FiredSessions>> {
        let mut refs: Vec<RowRef> = Vec::new();
        let mut sessions = Vec::new();
        let mut purged: Vec<Session> = Vec::new();
        for &(end, key, start) in due {
            let list = &mut self.sessions[key as usize];
            let i = list
                .binary_search_by_key(&start, |s| s.start)
                .map_err(|_| {
                    Error::Internal(format!(
                        "session window [{start}, {end}) of key {key} is lost"
                    ))
                })?;
            let s = &mut list[i];
            if s.dirty {
                if !s.sorted {
                    s.rows.sort_unstable();
                    s.sorted = true;
                }
                let from = refs.len();
                refs.extend_from_slice(&s.rows);
                sessions.push((WindowInfo { start, end }, from..refs.len()));
                s.dirty = false;
            }
            if window_is_late(end, self.lateness, t) {
                self.by_end.remove(&(end, key, start));
                purged.push(list.remove(i));
            }
        }
        let fired = if sessions.is_empty() {
            None
        } else {
            Some(FiredSessions {
                rows: self.store.gather(&refs)?,
                sessions,
            })
        };
        for s in &purged {
            self.store.release_all(&s.rows)?;
        }
        Ok(fired)
    }
}

impl SessionWindows {
    /// Writes the sessions to `state` (see the module docs for the tables). Sorts the rows
    /// of merged sessions, as firing them would.
    ///
    /// # Errors
    /// A key type that cannot be hashed, or an arrow error.
    pub(crate) fn snapshot(&mut self, ctx: &OpContext, state: &mut OperatorState) -> Result<()> {
        let origin = ctx.subtask as u32;
        let key_kg = match &self.keys {
            Some(ix) => {
                let keys = ix.emit_keys()?;
                let n = ix.num_groups();
                let kg = key_groups(&keys, n, ctx)?;
                let mut columns: Vec<(String, ArrayRef)> = vec![
                    (
                        "origin".into(),
                        Arc::new(UInt32Array::from_value(origin, n)),
                    ),
                    (
                        "key_id".into(),
                        Arc::new(UInt32Array::from_iter_values(0..n as u32)),
                    ),
                ];
                for (i, k) in keys.into_iter().enumerate() {
                    columns.push((format!("key{i}"), k));
                }
                state.push_keyed(
                    KEYS_TABLE,
                    kg.clone(),
                    &super::snapshot::state_batch(columns, n)?,
                )?;
                kg
            }
            None => vec![0; self.sessions.len()],
        };
        let (mut refs, mut key_ids, mut starts, mut ends, mut dirty) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for (key, list) in self.sessions.iter_mut().enumerate() {
            for s in list.iter_mut() {
                if !s.sorted {
                    s.rows.sort_unstable();
                    s.sorted = true;
                }
                refs.extend_from_slice(&s.rows);
                let n = s.rows.len();
                key_ids.extend(std::iter::repeat_n(key as u32, n));
                starts.extend(std::iter::repeat_n(s.start, n));
                ends.extend(std::iter::repeat_n(s.end, n));
                dirty.extend(std::iter::repeat_n(s.dirty, n));
            }
        }
        if refs.is_empty() {
            return Ok(());
        }
        let kg = key_ids
            .iter()
            .map(|&k| key_kg.get(k as usize).copied())
            .collect::<Option<Vec<u32>>>()
            .ok_or_else(|| Error::Internal("session of an unknown key".into()))?;
        let n = refs.len();
        let mut columns = self.store.snapshot_rows(&refs, origin)?;
        let rows = columns.split_off(3);
        columns.push(("key_id".into(), Arc::new(UInt32Array::from(key_ids))));
        columns.push(("start".into(), Arc::new(Int64Array::from(starts))));
        columns.push(("end".into(), Arc::new(Int64Array::from(ends))));
        columns.push(("dirty".into(), Arc::new(BooleanArray::from(dirty))));
        columns.extend(rows);
        state.push_keyed(ROWS_TABLE, kg, &super::snapshot::state_batch(columns, n)?)
    }

    /// Loads the sessions handed to this subtask (those of the key groups it owns; the
    /// operator is fresh).
    ///
    /// # Errors
    /// Tables this operator did not write ([`Error::Data`]).
    pub(crate) fn restore(&mut self, state: &OperatorState) -> Result<()> {
        let mut key_map: HashMap<(u32, u32), u32> = HashMap::new();
        if let (Some(ix), Some(keys)) = (&mut self.keys, owned_rows(state, KEYS_TABLE)?) {
            let keys = sorted_by(&keys, &[1, 0])?;
            let origins = primitive::<UInt32Type>(&keys, 0, KEYS_TABLE)?.values();
            let old = primitive::<UInt32Type>(&keys, 1, KEYS_TABLE)?.values();
            let mut ids = Vec::new();
            ix.intern(&keys.columns()[2..], &mut ids)?;
            for ((&o, &k), &id) in origins.iter().zip(old.iter()).zip(&ids) {
                key_map.insert((o, k), id);
            }
        }
        let num_keys = self.keys.as_ref().map_or(1, |ix| ix.num_groups());
        if self.sessions.len() < num_keys {
            self.sessions.resize_with(num_keys, Vec::new);
            self.touched_flag.resize(num_keys, false);
        }
        let Some(rows) = owned_rows(state, ROWS_TABLE)? else {
            return Ok(());
        };
        let restored = self.store.restore_rows(&rows, ROW_META, ROWS_TABLE)?;
        let b = &restored.sorted;
        let origins = primitive::<UInt32Type>(b, 0, ROWS_TABLE)?.values();
        let key_ids = primitive::<UInt32Type>(b, 3, ROWS_TABLE)?.values();
        let starts = primitive::<Int64Type>(b, 4, ROWS_TABLE)?.values();
        let ends = primitive::<Int64Type>(b, 5, ROWS_TABLE)?.values();
        let dirty = booleans(b, 6, ROWS_TABLE)?;
        // Rows come in identity order, so each session's references ascend.
        let mut found: BTreeMap<(u32, i64), Session> = BTreeMap::new();
        for (i, &r) in restored.refs.iter().enumerate() {
            let key = match self.keys {
                Some(_) => *key_map.get(&(origins[i], key_ids[i])).ok_or_else(|| {
                    bad_state(ROWS_TABLE, format!("row of unknown key {}", key_ids[i]))
                })?,
                None => 0,
            };
            let s = found.entry((key, starts[i])).or_insert_with(|| Session {
                start: starts[i],
                end: ends[i],
                rows: Vec::new(),
                sorted: true,
                dirty: false,
            });
            s.end = s.end.max(ends[i]);
            s.dirty |= dirty.value(i);
            s.rows.push(r);
            self.store.add_refs(r.0, 1)?;
        }
        for ((key, _), s) in found {
            let list = &mut self.sessions[key as usize];
            match list.last_mut() {
                // Sorted by start: only the last can overlap or touch the next.
                Some(last) if s.start <= last.end => {
                    last.end = last.end.max(s.end);
                    last.rows.extend(s.rows);
                    last.sorted = false;
                    last.dirty |= s.dirty;
                }
                _ => list.push(s),
            }
        }
        for (key, list) in self.sessions.iter().enumerate() {
            for s in list {
                self.by_end.insert((s.end, key as u32, s.start));
            }
        }
        restored.release_unreferenced(&mut self.store)
    }
}
