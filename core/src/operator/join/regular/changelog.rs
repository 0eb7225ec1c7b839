//! The changelog mode of a [`RegularJoin`]: a join of updating inputs (or with a residual
//! predicate), as Flink's `StreamingJoinOperator` on retracting inputs.
//!
//! Each side keeps its live rows as a multiset (a [`Store`] of batches; equal rows are kept
//! once each), indexed by join key, oldest first, and a preserved side keeps each row's
//! number of partners. A batch of one side is processed in two passes:
//!
//! ```text
//!  batch ─▶ split $op ─▶ prepare (keys) ─▶ 1. partners of every row: the other side's rows
//!                                             of its key, where the residual holds
//!                                             (evaluated on chunks of pairs)
//!                                          2. rows in order: update this side's state and
//!                                             the other side's partner counts, collect
//!                                             the output rows ─▶ one output batch
//! ```
//!
//! Pass 1 can run for the whole batch first because a batch changes only its own side's
//! rows. Per row, as Flink does (`+I` and `+U` *accumulate*, `-U` and `-D` *retract*):
//! * an **accumulating** row is added to its side; where the other side is preserved, each
//!   partner that had none is first retracted padded (`-D (NULLs, partner)`); then the row
//!   is emitted with each partner: `+I`, or its own kind (`+I`/`+U`) in an inner join. A
//!   row of a preserved side without partners is emitted padded (`+I (row, NULLs)`);
//! * a **retracting** row removes the oldest equal live row of its side (compared on the
//!   `arrow::row` encoding of the whole row), then is emitted with each partner: `-D` when
//!   its side is preserved, else its own kind (`-U`/`-D`); a preserved row without partners
//!   is retracted padded (`-D (row, NULLs)`); where the other side is preserved, each
//!   partner left without any is emitted padded again (`+I (NULLs, partner)`). The
//!   retraction of a row that is not in the state (never sent, or already retracted)
//!   changes nothing and emits nothing, where Flink would emit the retractions anyway.
//! * a row with a null key never matches: on a preserved side it is emitted (or retracted)
//!   padded at once and not kept, elsewhere dropped.
//!
//! Applying the output changelog therefore gives, after every batch, the SQL join of the
//! two sides' current multisets.

use std::hash::BuildHasher;

use arrow::array::{Array, AsArray, Int8Array, RecordBatch, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::compute::take_record_batch;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};

use super::store::{RowLoc, Store, Whole, DEAD};
use super::{Changes, RegularJoin, DELETE, INSERT, OP_COLUMN, PAD, UPDATE_BEFORE};
use crate::error::{Error, Result};
use crate::operator::join::state::split_row_kinds;
use crate::operator::join::{take_rows, KeyIndex, PairPredicate, Prepared};
use crate::operator::Output;

/// Pairs per evaluation of the residual predicate.
const PAIR_CHUNK: usize = 8 * 1024;

/// The state of a [`RegularJoin`] in changelog mode.
pub(super) struct Changelog {
    /// Each side's live rows.
    pub(super) stores: [Store; 2],
    /// The live rows of each key, per side, oldest first.
    index: KeyIndex<[Vec<RowLoc>; 2]>,
    /// Whole-row encoder of each updating side, made from its first rows.
    whole: [Option<RowConverter>; 2],
    /// Hashes whole-row encodings (in memory only: rebuilt on restore).
    hasher: hashbrown::DefaultHashBuilder,
    /// Left then right data columns, all nullable: the batches of pairs the residual
    /// predicate is evaluated on.
    pair_schema: Option<SchemaRef>,
}

impl Default for Changelog {
    fn default() -> Self {
        Changelog {
            stores: [Store::default(), Store::default()],
            index: KeyIndex::new(),
            whole: [None, None],
            hasher: hashbrown::DefaultHashBuilder::default(),
            pair_schema: None,
        }
    }
}

impl Changelog {
    /// Live rows per side.
    pub(super) fn live_rows(&self) -> [usize; 2] {
        [self.stores[0].live(), self.stores[1].live()]
    }

    /// Distinct keys ever seen.
    pub(super) fn num_keys(&self) -> usize {
        self.index.len()
    }

    /// Approximate heap bytes held.
    pub(super) fn size_bytes(&self) -> usize {
        let locs = (self.stores[0].live() + self.stores[1].live()) * size_of::<RowLoc>();
        self.stores[0].size_bytes() + self.stores[1].size_bytes() + locs + self.index.size_bytes()
    }
}

/// The partners of the rows of a prepared batch: row `i`'s are
/// `locs[offsets[i]..offsets[i + 1]]`.
struct Partners {
    offsets: Vec<usize>,
    locs: Vec<RowLoc>,
}

impl Partners {
    fn of(&self, i: usize) -> &[RowLoc] {
        match (self.offsets.get(i), self.offsets.get(i + 1)) {
            (Some(&a), Some(&b)) => self.locs.get(a..b).unwrap_or_default(),
            _ => &[],
        }
    }
}

/// The rows of the batch being processed that are kept, as they will be stored.
struct Kept {
    /// The store id the batch will get.
    id: u32,
    /// Row of the prepared batch, per kept row.
    rows: Vec<u32>,
    /// Partner count per kept row ([`DEAD`] once retracted within the batch).
    counts: Vec<u64>,
}

/// Whether `op` retracts a row (`-U`, `-D`).
fn is_retraction(op: i8) -> bool {
    op == UPDATE_BEFORE || op == DELETE
}

impl RegularJoin {
    /// [`Operator::on_batch`](crate::operator::Operator::on_batch) in changelog mode.
    pub(super) fn on_batch_changelog(
        &mut self,
        side: usize,
        batch: RecordBatch,
        out: &mut Output,
    ) -> Result<()> {
        if self.join_type.is_outer() && !self.declared {
            return Err(Error::Plan(
                "regular join: an outer join of updating inputs (or with a residual predicate) \
                 needs its input schemas declared (RegularJoin::with_input_schemas)"
                    .into(),
            ));
        }
        let other = 1 - side;
        let (data, ops) = self.split_ops(side, batch)?;
        let n = data.num_rows();
        // Prepared even when empty: a first batch tells the side's schema.
        let p = self.inputs.prepare(side, data.clone(), None)?;
        if n == 0 {
            return Ok(());
        }
        let valid = self.valid_rows(side, &data, p.batch.num_rows())?;
        let whole = self.encode_whole(side, &p.batch)?;
        let partners = self.partners(side, &p)?;
        let preserved = self.join_type.preserves(side);
        let other_preserved = self.join_type.preserves(other);
        let mut kept = Kept {
            id: self.changelog.stores[side].next_id()?,
            rows: Vec::with_capacity(p.batch.num_rows()),
            counts: Vec::with_capacity(p.batch.num_rows()),
        };
        let mut changes = Changes::default();
        let mut i = 0usize;
        for j in 0..n {
            let op = ops.as_ref().map_or(INSERT, |o| o.value(j));
            let retract = is_retraction(op);
            let probe = Some(j as u32);
            if valid.as_ref().is_some_and(|v| !v.value(j)) {
                if preserved {
                    changes.push(probe, (PAD, 0), if retract { DELETE } else { INSERT });
                }
                continue;
            }
            let row = i;
            i += 1;
            let found = partners.of(row);
            if !retract {
                if other_preserved {
                    for &loc in found {
                        let c = self.changelog.stores[other].count_mut(loc)?;
                        if *c == 0 {
                            changes.push(None, loc, DELETE);
                        }
                        *c += 1;
                    }
                }
                if preserved && found.is_empty() {
                    changes.push(probe, (PAD, 0), INSERT);
                }
                let kind = if preserved || other_preserved {
                    INSERT
                } else {
                    op
                };
                for &loc in found {
                    changes.push(probe, loc, kind);
                }
                self.changelog.index.get_or_insert_with(
                    p.hashes[row],
                    p.keys.row(row).data(),
                    Default::default,
                )[side]
                    .push((kept.id, kept.rows.len() as u32));
                kept.rows.push(row as u32);
                kept.counts
                    .push(if preserved { found.len() as u64 } else { 0 });
                continue;
            }
            if !self.remove_equal(side, &p, row, whole.as_ref(), &mut kept)? {
                continue;
            }
            if found.is_empty() {
                if preserved {
                    changes.push(probe, (PAD, 0), DELETE);
                }
                continue;
            }
            let kind = if preserved { DELETE } else { op };
            for &loc in found {
                changes.push(probe, loc, kind);
            }
            if other_preserved {
                for &loc in found {
                    let c = self.changelog.stores[other].count_mut(loc)?;
                    if *c == 1 {
                        changes.push(None, loc, INSERT);
                    }
                    *c = c.saturating_sub(1);
                }
            }
        }
        self.emit_changes(side, &data, changes, out)?;
        self.store_kept(side, p.batch, whole, kept)?;
        self.changelog.stores[side].sweep();
        Ok(())
    }

    /// The data columns and row kinds of a batch of `side`.
    fn split_ops(
        &self,
        side: usize,
        batch: RecordBatch,
    ) -> Result<(RecordBatch, Option<Int8Array>)> {
        split_row_kinds("regular join", side, self.updating[side], OP_COLUMN, batch)
    }

    /// The whole-row encodings of `data`'s rows when `side` is updating (a retraction is
    /// compared with them).
    fn encode_whole(&mut self, side: usize, data: &RecordBatch) -> Result<Option<Whole>> {
        if !self.updating[side] {
            return Ok(None);
        }
        let cl = &mut self.changelog;
        let conv = match &mut cl.whole[side] {
            Some(c) => c,
            slot => {
                let fields = data
                    .schema_ref()
                    .fields()
                    .iter()
                    .map(|f| SortField::new(f.data_type().clone()))
                    .collect();
                slot.insert(RowConverter::new(fields)?)
            }
        };
        let rows = conv.convert_columns(data.columns())?;
        let hashes = rows.iter().map(|r| cl.hasher.hash_one(r.data())).collect();
        Ok(Some(Whole { rows, hashes }))
    }

    /// The other side's rows each row of `p` (of `side`) matches: those of its key where
    /// the residual predicate holds.
    fn partners(&mut self, side: usize, p: &Prepared) -> Result<Partners> {
        let other = 1 - side;
        let m = p.batch.num_rows();
        let mut offsets = Vec::with_capacity(m + 1);
        offsets.push(0);
        let mut locs: Vec<RowLoc> = Vec::new();
        let index = &self.changelog.index;
        let Some(pred) = self.residual.clone() else {
            for i in 0..m {
                if let Some(rows) = index.get(p.hashes[i], p.keys.row(i).data()) {
                    locs.extend_from_slice(&rows[other]);
                }
                offsets.push(locs.len());
            }
            return Ok(Partners { offsets, locs });
        };
        // Candidates by key, then the residual predicate on chunks of pairs.
        let (mut probe, mut cands): (Vec<u32>, Vec<RowLoc>) = (Vec::new(), Vec::new());
        for i in 0..m {
            if let Some(rows) = index.get(p.hashes[i], p.keys.row(i).data()) {
                for &loc in &rows[other] {
                    probe.push(i as u32);
                    cands.push(loc);
                }
            }
        }
        let mut next = 0usize;
        for start in (0..cands.len()).step_by(PAIR_CHUNK) {
            let end = (start + PAIR_CHUNK).min(cands.len());
            let mask = self.residual_mask(
                &pred,
                side,
                &p.batch,
                &probe[start..end],
                &cands[start..end],
            )?;
            for k in mask.set_indices() {
                let i = probe[start + k] as usize;
                while next < i {
                    offsets.push(locs.len());
                    next += 1;
                }
                locs.push(cands[start + k]);
            }
        }
        while offsets.len() < m + 1 {
            offsets.push(locs.len());
        }
        Ok(Partners { offsets, locs })
    }

    /// Where the residual predicate holds on the pairs (row `rows[k]` of `probe`, a batch
    /// of `side`; the other side's row `locs[k]`), `NULL` counting as false.
    fn residual_mask(
        &mut self,
        pred: &PairPredicate,
        side: usize,
        probe: &RecordBatch,
        rows: &[u32],
        locs: &[RowLoc],
    ) -> Result<BooleanBuffer> {
        let schema = self.pair_schema()?;
        let mine = take_rows(probe, rows)?;
        let theirs = self.changelog.stores[1 - side].gather(locs)?;
        let (mut columns, right) = if side == 0 {
            (mine, theirs)
        } else {
            (theirs, mine)
        };
        columns.extend(right);
        let mask = pred(&RecordBatch::try_new(schema, columns)?)?;
        let mask = mask.as_boolean_opt().ok_or_else(|| {
            Error::Internal("regular join: the residual predicate is not BOOLEAN".into())
        })?;
        Ok(match mask.logical_nulls() {
            Some(n) if n.null_count() > 0 => mask.values() & n.inner(),
            _ => mask.values().clone(),
        })
    }

    fn pair_schema(&mut self) -> Result<SchemaRef> {
        if let Some(s) = &self.changelog.pair_schema {
            return Ok(s.clone());
        }
        let (Some(l), Some(r)) = (self.bound(0), self.bound(1)) else {
            return Err(Error::Internal(
                "regular join: pairs before both inputs were seen".into(),
            ));
        };
        let fields: Vec<_> = l
            .fields()
            .iter()
            .chain(r.fields().iter())
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let s = std::sync::Arc::new(Schema::new(fields));
        self.changelog.pair_schema = Some(s.clone());
        Ok(s)
    }

    /// Remove the oldest live row of `side` equal to row `row` of `p` (a retraction), among
    /// the stored rows and those `kept` so far from `p`. Returns whether there was one.
    fn remove_equal(
        &mut self,
        side: usize,
        p: &Prepared,
        row: usize,
        whole: Option<&Whole>,
        kept: &mut Kept,
    ) -> Result<bool> {
        let Some(w) = whole else {
            return Err(Error::Internal(
                "regular join: a retraction on an insert-only input".into(),
            ));
        };
        let (hash, target) = match w.hashes.get(row) {
            Some(&h) => (h, w.rows.row(row)),
            None => {
                return Err(Error::Internal(
                    "regular join: a row without its encoding".into(),
                ))
            }
        };
        let cl = &mut self.changelog;
        let Some(lists) = cl.index.get_mut(p.hashes[row], p.keys.row(row).data()) else {
            return Ok(false);
        };
        let list = &mut lists[side];
        let store = &cl.stores[side];
        let at = list.iter().position(|&(b, r)| {
            if b == kept.id {
                let r = r as usize;
                kept.counts.get(r).is_some_and(|&c| c != DEAD)
                    && kept
                        .rows
                        .get(r)
                        .is_some_and(|&k| w.is(k as usize, hash, target))
            } else {
                store.is((b, r), hash, target)
            }
        });
        let Some(at) = at else {
            return Ok(false);
        };
        // Key lists hold live rows only, so probes need no liveness check.
        let (b, r) = list.remove(at);
        if list.is_empty() && list.capacity() > 4 {
            *list = Vec::new();
        }
        if b == kept.id {
            if let Some(c) = kept.counts.get_mut(r as usize) {
                *c = DEAD;
            }
        } else {
            cl.stores[side].kill((b, r))?;
        }
        Ok(true)
    }

    /// Store the `kept` rows of `prepared` (with their encodings `whole`) as the next batch
    /// of `side`.
    fn store_kept(
        &mut self,
        side: usize,
        prepared: RecordBatch,
        whole: Option<Whole>,
        kept: Kept,
    ) -> Result<()> {
        if kept.rows.is_empty() {
            return Ok(());
        }
        let (data, whole) = if kept.rows.len() == prepared.num_rows() {
            (prepared, whole)
        } else {
            let whole = match (whole, &self.changelog.whole[side]) {
                (Some(w), Some(conv)) => {
                    let bytes = kept
                        .rows
                        .iter()
                        .map(|&r| w.rows.row(r as usize).data().len());
                    let mut rows = conv.empty_rows(kept.rows.len(), bytes.sum());
                    let mut hashes = Vec::with_capacity(kept.rows.len());
                    for &r in &kept.rows {
                        rows.push(w.rows.row(r as usize));
                        hashes.push(w.hashes.get(r as usize).copied().unwrap_or_default());
                    }
                    Some(Whole { rows, hashes })
                }
                _ => None,
            };
            let idx = UInt32Array::from(kept.rows);
            (take_record_batch(&prepared, &idx)?, whole)
        };
        let id = self.changelog.stores[side].push(data, kept.counts, whole)?;
        if id != kept.id {
            return Err(Error::Internal(
                "regular join: kept batch ids out of step".into(),
            ));
        }
        Ok(())
    }

    /// Keep the restored rows `p` of `side` with their partner counts, and index them.
    pub(super) fn keep_changelog(
        &mut self,
        side: usize,
        p: Prepared,
        counts: Vec<u64>,
    ) -> Result<()> {
        let whole = self.encode_whole(side, &p.batch)?;
        let cl = &mut self.changelog;
        let id = cl.stores[side].next_id()?;
        for i in 0..p.batch.num_rows() {
            cl.index
                .get_or_insert_with(p.hashes[i], p.keys.row(i).data(), Default::default)[side]
                .push((id, i as u32));
        }
        cl.stores[side].push(p.batch, counts, whole)?;
        Ok(())
    }
}
