//! The data path of a [`Rank`]: offering each batch's rows to the top lists, the
//! changelog of an updating run, and firing windows.

use std::collections::{btree_map, HashMap};
use std::sync::Arc;

use arrow::array::{Int64Array, Int8Array, UInt32Array};
use arrow::compute::{take, take_record_batch};
use arrow::record_batch::RecordBatch;
use arrow::row::Rows;
use millstream_kernels::window::as_i64_values_with_nulls;

use super::store::{adopt_pending, Entry, Partitions, Ranking, PENDING};
use super::{Bound, Rank, Scopes, DELETE, INSERT, UPDATE_AFTER, UPDATE_BEFORE};
use crate::error::{Error, Location, Result};
use crate::operator::{OpContext, Output};

/// The window end of every row (no nulls).
pub(super) fn window_ends(batch: &RecordBatch, idx: usize) -> Result<&[i64]> {
    let col = batch.column(idx);
    let (values, nulls) = as_i64_values_with_nulls(col)?;
    if let Some(n) = nulls {
        return Err(Error::Data {
            location: Location {
                source: "rank operator".into(),
                line: None,
                column: Some(batch.schema().field(idx).name().clone()),
            },
            detail: format!("{} rows have a null window end", n.null_count()),
        });
    }
    Ok(values)
}

/// Rows of a batch grouped by window end (in order of first appearance), skipping rows for
/// which `late` holds; returns the groups and the number of skipped rows.
pub(super) fn split_windows(
    ends: &[i64],
    late: impl Fn(i64) -> bool,
) -> (Vec<(i64, Vec<u32>)>, usize) {
    let mut groups: Vec<(i64, Vec<u32>)> = Vec::new();
    let mut slot_of: HashMap<i64, usize, ahash::RandomState> = HashMap::default();
    let mut last: Option<(i64, usize)> = None;
    let mut skipped = 0;
    for (i, &end) in ends.iter().enumerate() {
        if late(end) {
            skipped += 1;
            continue;
        }
        // Batches usually hold one or two windows: the last hit answers most rows.
        let slot = match last {
            Some((e, s)) if e == end => s,
            _ => *slot_of.entry(end).or_insert_with(|| {
                groups.push((end, Vec::new()));
                groups.len() - 1
            }),
        };
        last = Some((end, slot));
        groups[slot].1.push(i as u32);
    }
    (groups, skipped)
}

/// Offer rows to the top lists of `parts`: row `j` of `ids` is input row `rows[j]` (or `j`
/// when `rows` is `None`), with sort key `keys.row(row)`, sequence `seq(row)` and location
/// `loc(row)`. `touch(g, top)` is called with a group's list before each insert into it.
/// Returns the change in the number of live rows.
pub(super) fn offer(
    ranking: Ranking,
    parts: &mut Partitions,
    ids: &[u32],
    rows: Option<&[u32]>,
    keys: &Rows,
    seq: impl Fn(usize) -> u64,
    loc: impl Fn(usize) -> (u32, u32),
    mut touch: impl FnMut(u32, &[Entry]),
) -> Result<usize> {
    let mut added = 0;
    for (j, &g) in ids.iter().enumerate() {
        let row = rows.map_or(j, |r| r[j] as usize);
        let top = parts
            .tops
            .get_mut(g as usize)
            .ok_or_else(|| Error::Internal(format!("rank: group {g} has no top list")))?;
        let key = keys.row(row).data();
        let s = seq(row);
        let Some(pos) = ranking.position(top, key, s) else {
            continue;
        };
        touch(g, top);
        let (chunk, r) = loc(row);
        let entry = Entry {
            key: key.into(),
            seq: s,
            chunk,
            row: r,
        };
        if !ranking.insert(top, pos, entry) {
            added += 1;
        }
    }
    Ok(added)
}

impl Bound {
    /// The output batch of the rows at `locs`, with their ranks (when the output has a rank
    /// column) and ops (updating mode; empty in window mode).
    pub(super) fn build(
        &self,
        locs: &[(u32, u32)],
        ranks: Vec<i64>,
        ops: Vec<i8>,
    ) -> Result<RecordBatch> {
        let mut columns = self.store.gather(&self.input, locs)?;
        if self.emit_rank {
            columns.push(Arc::new(Int64Array::from(ranks)));
        }
        if !ops.is_empty() {
            columns.push(Arc::new(Int8Array::from(ops)));
        }
        Ok(RecordBatch::try_new(self.output.clone(), columns)?)
    }

    /// Compact the chunks if dead rows dominate.
    pub(super) fn maybe_compact(&mut self) -> Result<()> {
        if !self.store.needs_compaction() {
            return Ok(());
        }
        let mut locs: Vec<(u32, u32)> = Vec::with_capacity(self.store.live);
        self.scopes.for_each_entry(|e| locs.push((e.chunk, e.row)));
        self.store.compact(&self.input, &locs)?;
        let mut i = 0;
        self.scopes.for_each_entry(|e| {
            e.chunk = 0;
            e.row = i;
            i += 1;
        });
        Ok(())
    }
}

/// Appends the changelog of one partition (top list `old` before the batch, `new` after)
/// to `locs` / `ranks` / `ops`: retractions first, then additions.
fn diff(
    old: &[(u64, u32, u32)],
    new: &[Entry],
    emit_rank: bool,
    locs: &mut Vec<(u32, u32)>,
    ranks: &mut Vec<i64>,
    ops: &mut Vec<i8>,
) {
    let mut push = |loc: (u32, u32), rank: usize, op: i8| {
        locs.push(loc);
        ranks.push(rank as i64 + 1);
        ops.push(op);
    };
    if emit_rank {
        let len = old.len().max(new.len());
        for r in 0..len {
            match (old.get(r), new.get(r)) {
                (Some(o), Some(n)) if o.0 != n.seq => push((o.1, o.2), r, UPDATE_BEFORE),
                (Some(o), None) => push((o.1, o.2), r, DELETE),
                _ => {}
            }
        }
        for r in 0..len {
            match (old.get(r), new.get(r)) {
                (Some(o), Some(n)) if o.0 != n.seq => push((n.chunk, n.row), r, UPDATE_AFTER),
                (None, Some(n)) => push((n.chunk, n.row), r, INSERT),
                _ => {}
            }
        }
    } else {
        // Lists hold at most N entries; sorted sequence numbers answer membership.
        let mut old_seqs: Vec<u64> = old.iter().map(|o| o.0).collect();
        old_seqs.sort_unstable();
        let mut new_seqs: Vec<u64> = new.iter().map(|n| n.seq).collect();
        new_seqs.sort_unstable();
        for (r, o) in old.iter().enumerate() {
            if new_seqs.binary_search(&o.0).is_err() {
                push((o.1, o.2), r, DELETE);
            }
        }
        for (r, n) in new.iter().enumerate() {
            if old_seqs.binary_search(&n.seq).is_err() {
                push((n.chunk, n.row), r, INSERT);
            }
        }
    }
}

impl Rank {
    /// Updating mode: rank the batch's rows and emit the changes of the touched partitions.
    pub(super) fn batch_updating(&mut self, batch: &RecordBatch, out: &mut Output) -> Result<()> {
        self.check_input(batch)?;
        let n = batch.num_rows();
        let pcols = super::columns(batch, &self.partition);
        let scols = super::sort_columns(&self.order, batch);
        let (ranking, emit_rank, base) = (self.ranking, self.emit_rank, self.next_seq);
        let mut ids = std::mem::take(&mut self.ids);
        let b = self.bound_mut()?;
        let keys = b.converter.convert_columns(&scols)?;
        let Scopes::Updating(parts) = &mut b.scopes else {
            return Err(Error::Internal(
                "rank: updating mode without its partitions".into(),
            ));
        };
        parts.intern(&pcols, n, &mut ids)?;
        if b.local_of.len() < parts.tops.len() {
            b.local_of.resize(parts.tops.len(), u32::MAX);
        }
        // Touched groups in order of first change, with their top lists before the batch.
        let mut touched: Vec<u32> = Vec::new();
        let mut before: Vec<(u64, u32, u32)> = Vec::new();
        let mut before_at: Vec<usize> = Vec::new();
        let local_of = &mut b.local_of;
        let added = offer(
            ranking,
            parts,
            &ids,
            None,
            &keys,
            |row| base + row as u64,
            |row| (PENDING, row as u32),
            |g, top| {
                let slot = &mut local_of[g as usize];
                if *slot == u32::MAX {
                    *slot = touched.len() as u32;
                    touched.push(g);
                    before_at.push(before.len());
                    before.extend(top.iter().map(|e| (e.seq, e.chunk, e.row)));
                }
            },
        )?;
        before_at.push(before.len());
        b.store.live += added;
        let chunk = b.store.next_chunk()?;
        let mut rows = Vec::new();
        for &g in &touched {
            b.local_of[g as usize] = u32::MAX;
            adopt_pending(&mut parts.tops[g as usize], chunk, &mut rows);
        }
        if !rows.is_empty() {
            b.store
                .push(take_record_batch(batch, &UInt32Array::from(rows))?);
        }
        let (mut locs, mut ranks, mut ops) = (Vec::new(), Vec::new(), Vec::new());
        for (l, &g) in touched.iter().enumerate() {
            let old = &before[before_at[l]..before_at[l + 1]];
            diff(
                old,
                &parts.tops[g as usize],
                emit_rank,
                &mut locs,
                &mut ranks,
                &mut ops,
            );
        }
        if !locs.is_empty() {
            out.emit(b.build(&locs, ranks, ops)?);
        }
        b.maybe_compact()?;
        self.ids = ids;
        self.next_seq = base + n as u64;
        Ok(())
    }

    /// Window mode: rank the batch's rows into their windows; drop late rows.
    pub(super) fn batch_window(
        &mut self,
        batch: &RecordBatch,
        window_end: usize,
        ctx: &mut OpContext,
    ) -> Result<()> {
        self.check_input(batch)?;
        let n = batch.num_rows();
        let scols = super::sort_columns(&self.order, batch);
        let (ranking, base) = (self.ranking, self.next_seq);
        let partition = self.partition.clone();
        let mut ids = std::mem::take(&mut self.ids);
        let wm = ctx.watermark.0;
        let b = self.bound_mut()?;
        let ends = window_ends(batch, window_end)?;
        let (windows, late) = split_windows(ends, |end| end.saturating_sub(1) <= wm);
        ctx.metrics.late_dropped += late as u64;
        let keys = b.converter.convert_columns(&scols)?;
        let Scopes::Window(scopes) = &mut b.scopes else {
            return Err(Error::Internal(
                "rank: window mode without its windows".into(),
            ));
        };
        let chunk = b.store.next_chunk()?;
        let mut rows = Vec::new();
        for (end, members) in &windows {
            let parts = match scopes.entry(*end) {
                btree_map::Entry::Occupied(e) => e.into_mut(),
                btree_map::Entry::Vacant(e) => e.insert(Partitions::new(&b.partition_types)?),
            };
            let pcols = if members.len() == n {
                super::columns(batch, &partition)
            } else {
                let idx = UInt32Array::from(members.clone());
                partition
                    .iter()
                    .map(|&i| Ok(take(batch.column(i).as_ref(), &idx, None)?))
                    .collect::<Result<Vec<_>>>()?
            };
            parts.intern(&pcols, members.len(), &mut ids)?;
            if b.local_of.len() < parts.tops.len() {
                b.local_of.resize(parts.tops.len(), u32::MAX);
            }
            let mut touched: Vec<u32> = Vec::new();
            let local_of = &mut b.local_of;
            b.store.live += offer(
                ranking,
                parts,
                &ids,
                Some(members),
                &keys,
                |row| base + row as u64,
                |row| (PENDING, row as u32),
                |g, _| {
                    if local_of[g as usize] == u32::MAX {
                        local_of[g as usize] = 0;
                        touched.push(g);
                    }
                },
            )?;
            for &g in &touched {
                b.local_of[g as usize] = u32::MAX;
                adopt_pending(&mut parts.tops[g as usize], chunk, &mut rows);
            }
        }
        if !rows.is_empty() {
            b.store
                .push(take_record_batch(batch, &UInt32Array::from(rows))?);
        }
        b.maybe_compact()?;
        self.ids = ids;
        self.next_seq = base + n as u64;
        Ok(())
    }

    /// Window mode: emit and drop every window with `end - 1 <= upto` (all when `None`), in
    /// order of end.
    pub(super) fn fire(&mut self, upto: Option<i64>, out: &mut Output) -> Result<()> {
        let Some(b) = self.bound.as_mut() else {
            return Ok(());
        };
        let Scopes::Window(scopes) = &mut b.scopes else {
            return Ok(());
        };
        let mut due = Vec::new();
        while let Some(entry) = scopes.first_entry() {
            if upto.is_some_and(|wm| entry.key().saturating_sub(1) > wm) {
                break;
            }
            due.push(entry.remove());
        }
        if due.is_empty() {
            return Ok(());
        }
        for parts in due {
            let mut locs = Vec::with_capacity(parts.len());
            let mut ranks = Vec::with_capacity(parts.len());
            for top in &parts.tops {
                for (r, e) in top.iter().enumerate() {
                    locs.push((e.chunk, e.row));
                    ranks.push(r as i64 + 1);
                }
            }
            b.store.live -= locs.len();
            out.emit(b.build(&locs, ranks, Vec::new())?);
        }
        b.maybe_compact()
    }
}
