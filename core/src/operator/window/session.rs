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

use std::collections::BTreeSet;
use std::ops::Range;

use arrow::array::ArrayRef;
use arrow::datatypes::{DataType, SchemaRef};
use arrow::record_batch::RecordBatch;
use millstream_kernels::group::GroupIndexer;

use super::rows::{RowRef, RowStore};
use super::{window_is_due, window_is_late, RowTimes};
use crate::error::{Error, Result};
use crate::window::WindowInfo;

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
