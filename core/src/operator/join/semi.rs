//! [`SemiAntiJoin`]: the streaming semi join (`IN`, `EXISTS`) and anti join (`NOT IN`,
//! `NOT EXISTS`) of SQL subqueries in `WHERE`.
//!
//! **Semantics** (Flink's `StreamingSemiAntiJoinOperator`, without a state TTL): input 0 is
//! the outer query's rows (left), input 1 the subquery's (right). A left row *matches* a
//! right row when their key columns are equal (none null) and the optional residual
//! predicate over the pair holds (`NULL` counts as false), and the left row passes the
//! optional left filter. The operator emits left rows only, unchanged:
//! * a **semi** join emits a left row while it has at least one match: on arrival if it has
//!   one, else `+I` when its match count goes 0 → 1 (and `-D` when it goes back to 0, which
//!   only a retraction on the right causes);
//! * an **anti** join emits a left row while it has no match: on arrival if it has none, and
//!   retracts it (`-D`) when its first match arrives (`+I` again if the count returns to 0).
//!
//! Either input may be an updating stream (its batches end with the `$op` column,
//! declared with [`SemiAntiJoin::with_updating_inputs`]): a left `-U`/`-D` removes the
//! oldest equal stored row and is forwarded, with its own kind, when the row was visible
//! (per the matches it has now); a right `-U`/`-D` removes the oldest equal right row and
//! lowers the match counts it had raised (a retraction of a row never seen changes
//! nothing). The output is insert-only (no `$op`) only for a semi join of two insert-only
//! inputs, as in Flink; otherwise it ends with `$op`. Left rows that cannot match (a null
//! key, or failing the left filter) are emitted at once by an anti join, dropped by a semi
//! join, and kept by neither; right rows with a null key are dropped.
//!
//! **State**, per key (hash of the key bytes, as [`super::RegularJoin`]): the left rows
//! whose output can still change, with their match counts, and of the right side either
//! the number of rows (without a residual predicate, nothing else is needed) or the rows
//! themselves (to evaluate the predicate against later left rows). When both inputs are
//! insert-only a left row's fate is sealed by its first match, so only left rows without a
//! match are kept. Rows of an updating side are also indexed by their whole-row encoding
//! (`arrow::row`), so a retraction finds its row with one lookup; the key's list drops dead
//! rows once they are half of it. A retained batch is freed once none of its rows is live.
//! With an empty key every row shares one entry (a non-keyed join, one subtask).
//!
//! **Checkpoint**: keyed tables, filed by the key group of the join key: `left` (live left
//! rows plus `__matches`, `UInt64`), and `right` (live right rows, with a residual
//! predicate) or `right_counts` (key columns plus `__count`, without one). A restore
//! re-encodes the keys and rebuilds the index; each key's rows keep their order, so the
//! restored join emits what an uninterrupted one would, in the same order.
//!
//! **Watermarks** are forwarded; output rows are no event-time attributes downstream.
//!
//! **Complexity**: per input row one hash lookup; a right row without a residual predicate
//! changes a counter, and touches the key's left rows only when the count crosses zero. A
//! residual predicate is evaluated a chunk of pairs at a time (each arriving row against
//! the other side's rows of its key, gathered with `take`/`interleave`), so a key with many
//! rows on both sides costs their product, as Flink's nested loop does. Output batches are
//! one `take` (arriving left rows) or one `interleave` (stored ones) per column.

mod checkpoint;
mod input;
mod store;

use std::collections::VecDeque;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array, RecordBatch, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::RowConverter;

use self::input::{Bound, Input};
use self::store::{RowLoc, Store, DEAD};
use super::{side_of, take_rows, KeyIndex};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, Output};

/// A row predicate, giving a `Boolean` array (`NULL` meaning false). As a residual it is
/// evaluated on a batch of pairs: the left input's columns followed by the right input's
/// (without their `$op` columns), one row per pair; as a left filter, on a left batch.
pub type PairPredicate = Arc<dyn Fn(&RecordBatch) -> Result<ArrayRef> + Send + Sync>;

/// Everything but the keys that defines a [`SemiAntiJoin`]: what
/// [`KeyedStream::semi_join`](crate::api::KeyedStream::semi_join) builds each subtask's
/// operator from.
#[derive(Clone)]
pub struct SemiJoinSpec {
    /// Semi or anti join.
    pub kind: SemiJoinKind,
    /// Whether the left and the right input are updating streams (end with `$op`).
    pub updating: [bool; 2],
    /// A condition on the pairs besides the keys ([`SemiAntiJoin::with_residual`]).
    pub residual: Option<PairPredicate>,
    /// A condition a left row needs to match at all ([`SemiAntiJoin::with_left_filter`]).
    pub left_filter: Option<PairPredicate>,
}

impl SemiJoinSpec {
    /// A `kind` join of insert-only inputs on the keys alone.
    pub fn new(kind: SemiJoinKind) -> Self {
        SemiJoinSpec {
            kind,
            updating: [false, false],
            residual: None,
            left_filter: None,
        }
    }

    /// The operator joining on `left_keys = right_keys`.
    ///
    /// # Errors
    /// As [`SemiAntiJoin::new`].
    pub fn build(&self, left_keys: Vec<String>, right_keys: Vec<String>) -> Result<SemiAntiJoin> {
        let mut j = SemiAntiJoin::new(self.kind, left_keys, right_keys)?
            .with_updating_inputs(self.updating[0], self.updating[1]);
        j.residual = self.residual.clone();
        j.left_filter = self.left_filter.clone();
        Ok(j)
    }
}

/// The changelog column of updating inputs and output.
const OP_COLUMN: &str = "$op";
/// Flink RowKind codes: `+I`, `-U`, `-D`.
const INSERT: i8 = 0;
const UPDATE_BEFORE: i8 = 1;
const DELETE: i8 = 3;
/// Pairs per evaluation of the residual predicate.
const PAIR_CHUNK: usize = 8 * 1024;

/// Which left rows a [`SemiAntiJoin`] emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SemiJoinKind {
    /// Rows with at least one match (`IN`, `EXISTS`).
    Semi,
    /// Rows without a match (`NOT IN`, `NOT EXISTS`).
    Anti,
}

/// The state of one key.
#[derive(Default)]
struct Entry {
    /// Rows of `left` and `right` that left the state since the lists were last compacted.
    dead: [u32; 2],
    /// Rows in state per side, in arrival order (dead ones too, until compacted): left
    /// rows, and right rows only with a residual predicate.
    rows: [Vec<RowLoc>; 2],
    /// Live right rows (without a residual predicate).
    right_count: u64,
}

fn is_retraction(op: i8) -> bool {
    op == UPDATE_BEFORE || op == DELETE
}

/// The rows of `batch` where `pred` (the `what`) holds, `NULL` counting as false.
fn holds(pred: &PairPredicate, batch: &RecordBatch, what: &str) -> Result<BooleanBuffer> {
    let mask = pred(batch)?;
    let mask = mask
        .as_boolean_opt()
        .ok_or_else(|| Error::Internal(format!("semi join: the {what} is not BOOLEAN")))?;
    Ok(match mask.logical_nulls() {
        Some(n) if n.null_count() > 0 => mask.values() & n.inner(),
        _ => mask.values().clone(),
    })
}

/// Whether the row at `loc` is in the state: for a row of the batch being kept as
/// `batch_id`, per its `kept_counts` so far; else per `store`.
fn is_live(store: &Store, batch_id: u32, kept_counts: &[u64], (b, r): RowLoc) -> bool {
    if b == batch_id {
        kept_counts.get(r as usize).is_some_and(|&c| c != DEAD)
    } else {
        store.is_live((b, r))
    }
}

/// Streaming semi or anti join of an outer query's rows (input 0) with a subquery's
/// (input 1), as Flink's `StreamingSemiAntiJoinOperator`: emits a left row while it has a
/// match (semi) or none (anti), retracting it (`-D`) when that changes; either input may
/// be updating. State: the left rows whose output can still change and the right rows (or
/// only a count per key); checkpointed by key group. See [`crate::operator::join`].
///
/// # Example
/// ```
/// use millstream_core::operator::join::{SemiAntiJoin, SemiJoinKind};
/// // `WHERE cid NOT IN (SELECT cid FROM customers)` over non-null columns.
/// let _anti = SemiAntiJoin::new(SemiJoinKind::Anti, vec!["cid".into()], vec!["cid".into()])?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct SemiAntiJoin {
    kind: SemiJoinKind,
    keys: [Vec<String>; 2],
    updating: [bool; 2],
    residual: Option<PairPredicate>,
    left_filter: Option<PairPredicate>,
    sides: [Option<Bound>; 2],
    /// Key encoder (none without key columns) and the key types.
    converter: Option<(Vec<DataType>, RowConverter)>,
    index: KeyIndex<Entry>,
    stores: [Store; 2],
    /// Of an updating side: its stored rows by whole-row encoding, oldest first, to find
    /// the row a retraction names.
    rows_index: [KeyIndex<VecDeque<RowLoc>>; 2],
    /// Hashes whole-row encodings (in memory only: rebuilt on restore).
    row_hasher: hashbrown::DefaultHashBuilder,
    out_schema: Option<SchemaRef>,
    pair_schema: Option<SchemaRef>,
}

impl SemiAntiJoin {
    /// A `kind` join of left rows with right rows where `left_keys = right_keys` (pairwise,
    /// same types). No keys: every left row is compared with every right row (run it as
    /// one subtask).
    ///
    /// # Errors
    /// Different numbers of key columns on the two sides.
    pub fn new(
        kind: SemiJoinKind,
        left_keys: Vec<String>,
        right_keys: Vec<String>,
    ) -> Result<Self> {
        if left_keys.len() != right_keys.len() {
            return Err(Error::Plan(format!(
                "semi join: {} left key columns but {} right ones",
                left_keys.len(),
                right_keys.len()
            )));
        }
        Ok(SemiAntiJoin {
            kind,
            keys: [left_keys, right_keys],
            updating: [false, false],
            residual: None,
            left_filter: None,
            sides: [None, None],
            converter: None,
            index: KeyIndex::new(),
            stores: [Store::default(), Store::default()],
            rows_index: [KeyIndex::new(), KeyIndex::new()],
            row_hasher: hashbrown::DefaultHashBuilder::default(),
            out_schema: None,
            pair_schema: None,
        })
    }

    /// Match only pairs where `p` also holds (call before the first input).
    pub fn with_residual(mut self, p: PairPredicate) -> Self {
        self.residual = Some(p);
        self
    }

    /// Let only left rows where `p` holds match (call before the first input): `p` is
    /// evaluated on a left batch's columns (without `$op`); a row where it is false or NULL
    /// is treated as one with a null key (an anti join emits it at once, keeping nothing),
    /// without comparing it with any right row.
    pub fn with_left_filter(mut self, p: PairPredicate) -> Self {
        self.left_filter = Some(p);
        self
    }

    /// Declare which inputs are updating streams (their batches end with `$op`).
    pub fn with_updating_inputs(mut self, left: bool, right: bool) -> Self {
        self.updating = [left, right];
        self
    }

    /// Whether the output is an updating stream (ends with `$op`): all but a semi join of
    /// insert-only inputs.
    pub fn output_updating(&self) -> bool {
        self.kind == SemiJoinKind::Anti || self.updating[0] || self.updating[1]
    }

    /// Live rows in state, per side (right: 0 without a residual predicate, which keeps
    /// counts only).
    pub fn state_rows(&self) -> [usize; 2] {
        [self.stores[0].live, self.stores[1].live]
    }

    /// Distinct keys ever seen.
    pub fn num_keys(&self) -> usize {
        self.index.len()
    }

    /// A left row matched right now must be kept if a right retraction can unmatch it, or
    /// if its own retraction may come (rows leave the state of an updating side only by
    /// their retraction, which keeps its whole-row index exact).
    fn keep_matched(&self) -> bool {
        self.updating[0] || self.updating[1]
    }

    /// What a left row whose match count crossed zero (to `matched`) becomes downstream.
    fn transition_op(&self, matched: bool) -> i8 {
        if matched == (self.kind == SemiJoinKind::Semi) {
            INSERT
        } else {
            DELETE
        }
    }

    fn out_schema(&mut self) -> Result<SchemaRef> {
        if let Some(s) = &self.out_schema {
            return Ok(s.clone());
        }
        let Some(l) = &self.sides[0] else {
            return Err(Error::Internal(
                "semi join: output before a left input".into(),
            ));
        };
        let mut fields: Vec<Field> = l.data.fields().iter().map(|f| f.as_ref().clone()).collect();
        if self.output_updating() {
            fields.push(Field::new(OP_COLUMN, DataType::Int8, false));
        }
        let s = Arc::new(Schema::new(fields));
        self.out_schema = Some(s.clone());
        Ok(s)
    }

    /// An output batch of left columns and their row kinds.
    fn assemble(&mut self, mut columns: Vec<ArrayRef>, ops: Vec<i8>) -> Result<RecordBatch> {
        let schema = self.out_schema()?;
        if self.output_updating() {
            columns.push(Arc::new(Int8Array::from(ops)));
        }
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// Stored left rows with their new kinds, as an output batch.
    fn emit_stored(&mut self, changes: &[(RowLoc, i8)], out: &mut Output) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let columns = self.stores[0].gather(changes.iter().map(|&(loc, _)| loc))?;
        let ops = changes.iter().map(|&(_, op)| op).collect();
        let batch = self.assemble(columns, ops)?;
        out.emit(batch);
        Ok(())
    }

    /// Rows of the residual predicate's pairs that hold: `left` and `right` are the two
    /// sides' columns of the pairs.
    fn residual_mask(
        &self,
        pred: &PairPredicate,
        left: Vec<ArrayRef>,
        right: Vec<ArrayRef>,
    ) -> Result<BooleanBuffer> {
        let schema = self
            .pair_schema
            .clone()
            .ok_or_else(|| Error::Internal("semi join: pairs before both inputs".into()))?;
        let mut columns = left;
        columns.extend(right);
        let pairs = RecordBatch::try_new(schema, columns)?;
        holds(pred, &pairs, "residual predicate")
    }

    /// The match count of every row of an arriving left batch (0 for null keys).
    fn left_counts(&mut self, p: &Input) -> Result<Vec<u64>> {
        let n = p.data.num_rows();
        let mut counts = vec![0u64; n];
        let Some(pred) = self.residual.clone() else {
            for (i, c) in counts.iter_mut().enumerate() {
                if p.is_valid(i) {
                    if let Some(e) = self.index.get(p.hashes[i], p.key(i)) {
                        *c = e.right_count;
                    }
                }
            }
            return Ok(counts);
        };
        let mut probe: Vec<u32> = Vec::new();
        let mut locs: Vec<RowLoc> = Vec::new();
        for i in 0..n {
            if !p.is_valid(i) {
                continue;
            }
            let Some(e) = self.index.get(p.hashes[i], p.key(i)) else {
                continue;
            };
            for &loc in e.rows[1].iter().filter(|&&l| self.stores[1].is_live(l)) {
                probe.push(i as u32);
                locs.push(loc);
                if probe.len() >= PAIR_CHUNK {
                    self.count_left_pairs(&pred, p, &mut probe, &mut locs, &mut counts)?;
                }
            }
        }
        if !probe.is_empty() {
            self.count_left_pairs(&pred, p, &mut probe, &mut locs, &mut counts)?;
        }
        Ok(counts)
    }

    fn count_left_pairs(
        &self,
        pred: &PairPredicate,
        p: &Input,
        probe: &mut Vec<u32>,
        locs: &mut Vec<RowLoc>,
        counts: &mut [u64],
    ) -> Result<()> {
        let left = take_rows(&p.data, probe)?;
        let right = self.stores[1].gather(locs.iter().copied())?;
        let mask = self.residual_mask(pred, left, right)?;
        for k in mask.set_indices() {
            counts[probe[k] as usize] += 1;
        }
        probe.clear();
        locs.clear();
        Ok(())
    }

    /// Remove the stored row of `side` equal to row `i` of `p` (a retraction), if any (the
    /// oldest of equal ones): rows of `p` kept so far (stored later as batch `batch_id`,
    /// with `kept_counts`) count too. Returns whether one was found.
    fn remove_equal(
        &mut self,
        side: usize,
        p: &Input,
        i: usize,
        batch_id: u32,
        kept_counts: &mut [u64],
    ) -> Result<bool> {
        let Some(full) = &p.full else {
            return Err(Error::Internal(
                "semi join: a retraction on an insert-only input".into(),
            ));
        };
        let store = &mut self.stores[side];
        let Some(queue) = self.rows_index[side].get_mut(p.full_hashes[i], full.row(i).data())
        else {
            return Ok(false);
        };
        // Every indexed row is live (rows of an updating side leave only this way); the
        // check keeps a broken invariant from retracting a row twice.
        let live = |&loc: &RowLoc| is_live(store, batch_id, kept_counts, loc);
        let Some((b, r)) = std::iter::from_fn(|| queue.pop_front()).find(live) else {
            return Ok(false);
        };
        if b == batch_id {
            if let Some(c) = kept_counts.get_mut(r as usize) {
                *c = DEAD;
            }
        } else {
            store.kill((b, r))?;
        }
        // The key's list keeps the dead row until dead rows are half of it.
        if let Some(e) = self.index.get_mut(p.hashes[i], p.key(i)) {
            let list = &mut e.rows[side];
            e.dead[side] += 1;
            if e.dead[side] as usize * 2 > list.len() {
                list.retain(|&loc| is_live(store, batch_id, kept_counts, loc));
                e.dead[side] = 0;
            }
        }
        Ok(true)
    }

    /// Index row `i` of `p` (of `side`), kept at `loc`: in its key's list, and by its
    /// whole-row encoding when `side` is updating.
    fn track(&mut self, side: usize, p: &Input, i: usize, loc: RowLoc) {
        self.index
            .get_or_insert_with(p.hashes[i], p.key(i), Entry::default)
            .rows[side]
            .push(loc);
        if let Some(full) = &p.full {
            self.rows_index[side]
                .get_or_insert_with(p.full_hashes[i], full.row(i).data(), VecDeque::new)
                .push_back(loc);
        }
    }

    /// Keep the rows `kept` of `p` (with their counts) as a new batch of `side`.
    fn store(&mut self, side: usize, p: Input, kept: Vec<u32>, counts: Vec<u64>) -> Result<u32> {
        let data = if kept.len() == p.data.num_rows() {
            p.data
        } else {
            take_record_batch(&p.data, &UInt32Array::from(kept))?
        };
        self.stores[side].push(data, counts)
    }

    fn on_left(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let p = self.prepare(0, batch)?;
        let n = p.data.num_rows();
        if n == 0 {
            return Ok(());
        }
        let counts = self.left_counts(&p)?;
        let anti = self.kind == SemiJoinKind::Anti;
        let keep_matched = self.keep_matched();
        let batch_id = self.stores[0].next_id()?;
        let (mut emit, mut ops) = (Vec::new(), Vec::new());
        let (mut kept, mut kept_counts) = (Vec::new(), Vec::new());
        for (i, &count) in counts.iter().enumerate() {
            let op = p.op(i);
            if (count > 0) != anti {
                emit.push(i as u32);
                ops.push(op);
            }
            if !p.is_valid(i) {
                continue;
            }
            if is_retraction(op) {
                self.remove_equal(0, &p, i, batch_id, &mut kept_counts)?;
            } else if keep_matched || count == 0 {
                self.track(0, &p, i, (batch_id, kept.len() as u32));
                kept.push(i as u32);
                // Without a residual predicate the key's right count is authoritative.
                kept_counts.push(if self.residual.is_some() { count } else { 0 });
            }
        }
        if !emit.is_empty() {
            // Rows are picked in order, so all of them is the batch as it is.
            let columns = if emit.len() == n {
                p.data.columns().to_vec()
            } else {
                take_rows(&p.data, &emit)?
            };
            let batch = self.assemble(columns, ops)?;
            out.emit(batch);
        }
        if !kept.is_empty() {
            let id = self.store(0, p, kept, kept_counts)?;
            debug_assert_eq!(id, batch_id);
        }
        self.stores[0].sweep();
        Ok(())
    }

    fn on_right(&mut self, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let p = self.prepare(1, batch)?;
        if p.data.num_rows() == 0 {
            return Ok(());
        }
        let changes = match self.residual.clone() {
            None => self.right_counted(&p)?,
            Some(pred) => self.right_residual(&pred, p)?,
        };
        self.emit_stored(&changes, out)?;
        self.stores[0].sweep();
        self.stores[1].sweep();
        Ok(())
    }

    /// A right batch without a residual predicate: counts per key.
    fn right_counted(&mut self, p: &Input) -> Result<Vec<(RowLoc, i8)>> {
        let keep_matched = self.keep_matched();
        let (up, down) = (self.transition_op(true), self.transition_op(false));
        let mut changes = Vec::new();
        for j in 0..p.data.num_rows() {
            if !p.is_valid(j) {
                continue;
            }
            let retract = is_retraction(p.op(j));
            let e = if retract {
                match self.index.get_mut(p.hashes[j], p.key(j)) {
                    Some(e) if e.right_count > 0 => {
                        e.right_count -= 1;
                        e
                    }
                    // The retraction of a row never counted: nothing changes.
                    _ => continue,
                }
            } else {
                let e = self
                    .index
                    .get_or_insert_with(p.hashes[j], p.key(j), Entry::default);
                e.right_count += 1;
                e
            };
            // Only a count crossing zero changes what the key's left rows are.
            let crossed = if retract {
                e.right_count == 0
            } else {
                e.right_count == 1
            };
            if !crossed {
                continue;
            }
            let op = if retract { down } else { up };
            let store = &self.stores[0];
            changes.extend(
                e.rows[0]
                    .iter()
                    .filter(|&&loc| store.is_live(loc))
                    .map(|&loc| (loc, op)),
            );
            if !keep_matched {
                e.dead[0] = 0;
                for loc in e.rows[0].drain(..) {
                    self.stores[0].kill(loc)?;
                }
            }
        }
        Ok(changes)
    }

    /// A right batch with a residual predicate: store (or remove) the rows, then evaluate
    /// the predicate against the left rows of each one's key.
    fn right_residual(&mut self, pred: &PairPredicate, p: Input) -> Result<Vec<(RowLoc, i8)>> {
        let batch_id = self.stores[1].next_id()?;
        let (mut kept, mut kept_counts) = (Vec::new(), Vec::new());
        // Rows that change the state, with +1 or -1.
        let mut effective: Vec<(u32, bool)> = Vec::new();
        for j in 0..p.data.num_rows() {
            if !p.is_valid(j) {
                continue;
            }
            if is_retraction(p.op(j)) {
                if self.remove_equal(1, &p, j, batch_id, &mut kept_counts)? {
                    effective.push((j as u32, false));
                }
            } else {
                self.track(1, &p, j, (batch_id, kept.len() as u32));
                kept.push(j as u32);
                kept_counts.push(0);
                effective.push((j as u32, true));
            }
        }
        let mut changes = Vec::new();
        let mut pairs: Vec<(RowLoc, u32, bool)> = Vec::new();
        // The key's left rows, copied so that applying a chunk may change the state.
        let mut lefts: Vec<RowLoc> = Vec::new();
        let mut pruned = false;
        for &(j, add) in &effective {
            lefts.clear();
            if let Some(e) = self.index.get(p.hashes[j as usize], p.key(j as usize)) {
                let store = &self.stores[0];
                lefts.extend(e.rows[0].iter().filter(|&&loc| store.is_live(loc)));
            }
            for &loc in &lefts {
                pairs.push((loc, j, add));
                if pairs.len() >= PAIR_CHUNK {
                    pruned |= self.apply_right_pairs(pred, &p, &mut pairs, &mut changes)?;
                }
            }
        }
        if !pairs.is_empty() {
            pruned |= self.apply_right_pairs(pred, &p, &mut pairs, &mut changes)?;
        }
        if pruned {
            let store = &self.stores[0];
            for &(j, _) in &effective {
                if let Some(e) = self.index.get_mut(p.hashes[j as usize], p.key(j as usize)) {
                    e.rows[0].retain(|&loc| store.is_live(loc));
                    e.dead[0] = 0;
                }
            }
        }
        if !kept.is_empty() {
            let id = self.store(1, p, kept, kept_counts)?;
            debug_assert_eq!(id, batch_id);
        }
        Ok(changes)
    }

    /// Evaluate a chunk of (stored left row, arriving right row, added?) pairs and apply
    /// the matches in order. Returns whether left rows left the state.
    fn apply_right_pairs(
        &mut self,
        pred: &PairPredicate,
        p: &Input,
        pairs: &mut Vec<(RowLoc, u32, bool)>,
        changes: &mut Vec<(RowLoc, i8)>,
    ) -> Result<bool> {
        let left = self.stores[0].gather(pairs.iter().map(|&(loc, _, _)| loc))?;
        let rows: Vec<u32> = pairs.iter().map(|&(_, j, _)| j).collect();
        let right = take_rows(&p.data, &rows)?;
        let mask = self.residual_mask(pred, left, right)?;
        let keep_matched = self.keep_matched();
        let (up, down) = (self.transition_op(true), self.transition_op(false));
        let mut pruned = false;
        for k in mask.set_indices() {
            let (loc, _, add) = pairs[k];
            let c = self.stores[0].count_mut(loc)?;
            let old = *c;
            if old == DEAD || (!add && old == 0) {
                continue;
            }
            *c = if add { old + 1 } else { old - 1 };
            match (old, *c) {
                (0, _) => {
                    changes.push((loc, up));
                    if !keep_matched {
                        self.stores[0].kill(loc)?;
                        pruned = true;
                    }
                }
                (_, 0) => changes.push((loc, down)),
                _ => {}
            }
        }
        pairs.clear();
        Ok(pruned)
    }
}

impl Operator for SemiAntiJoin {
    fn on_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        match side_of(input, "semi join")? {
            0 => self.on_left(batch, out),
            _ => self.on_right(batch, out),
        }
    }

    /// Keyed tables `left` (with `__matches`) and `right` or `right_counts`.
    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        self.snapshot_state(ctx.max_parallelism)
    }

    fn restore(&mut self, state: OperatorState, _ctx: &mut OpContext) -> Result<()> {
        self.restore_state(state)
    }
}
