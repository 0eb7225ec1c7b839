//! [`RegularJoin`]: the SQL regular (unbounded) equi-join of two streams: inner, left,
//! right or full outer ([`JoinType`]), of insert-only inputs or, in *changelog mode*, of
//! updating ones.
//!
//! **Semantics** (Flink SQL `SELECT * FROM a [LEFT | RIGHT | FULL] JOIN b ON a.k = b.k`
//! without time constraints, as `StreamingJoinOperator` on insert-only inputs without a state
//! TTL): every row that arrives is probed against every row the other side has ever sent,
//! the matches are emitted at once, and the row is then kept forever. Each matching pair is
//! emitted exactly once, when the later of its two rows arrives.
//! * **Inner** join: only pairs. Inputs and output are append-only; the output has no `$op`
//!   column.
//! * **Outer** joins keep every row of a *preserved* side (left for `LEFT`, right for
//!   `RIGHT`, both for `FULL`). Such a row without a partner on arrival is emitted padded
//!   with NULLs, `+I (row, NULLs)`; when its first partner arrives, `-D (row, NULLs)` then
//!   `+I (row, partner)`; every later partner adds `+I (row, partner)`. Per arriving row,
//!   the retractions it causes come before its own rows, as in Flink. The output is an
//!   updating stream: batches end with `$op` (`Int8`, Flink RowKind codes; only `0` = `+I`
//!   and `3` = `-D` occur), and the columns of a side that can be padded are nullable.
//!   Applying the changelog (`+I` adds a row, `-D` removes an equal one) gives, after every
//!   batch, the SQL outer join of all rows seen so far.
//! * A row with a null key never matches: on a preserved side it is emitted padded at once
//!   (and not kept, since nothing can change it), elsewhere it is dropped.
//! * **Padding needs the other side's columns**, which a join learns from that side's first
//!   batch, unless they were declared with [`RegularJoin::with_input_schemas`]. A preserved
//!   row that arrives before then is held back (*pending*) and emitted padded as soon as the
//!   other side's first batch arrives, just before that batch's results. An input that ends
//!   with rows still pending fails [`Operator::on_end`] rather than lose them.
//!
//! **Changelog mode** (`regular/changelog.rs`), when an input is declared updating
//! ([`RegularJoin::with_updating_inputs`]: its batches end with `$op`) or the join has a
//! residual predicate ([`RegularJoin::with_residual`]): Flink's `StreamingJoinOperator` on
//! retracting inputs. Each side is a multiset of live rows: `+I`/`+U` add a row, `-U`/`-D`
//! remove the oldest equal one (whole-row comparison), and the pairs a row makes or unmakes
//! are emitted (`+I`/`-D`, or the input's own kind in an inner join), with padded rows
//! retracted and re-emitted as a preserved row's partner count crosses zero. The output is
//! updating (it ends with `$op`) unless the join is inner and both inputs insert-only; an
//! outer join needs its input schemas declared. State: the live rows of each side (rows are
//! dropped by their retraction; a batch is freed when none of its rows is live), per key
//! the list of its live rows per side, partner counts of a preserved side, and the whole-row
//! `arrow::row` encoding of each live row of an updating side. Its checkpoint is the keyed
//! tables `left` and `right` of live rows, with `__matches` on a preserved side.
//!
//! **State**: every input batch of both sides (rows with null keys removed), plus one hash
//! table from key bytes to the `(batch, row)` locations of each side's rows of that key;
//! for a preserved side, the number of partners of every kept row (Flink's
//! `numOfAssociations`) and the pending rows. State grows without bound, as in Flink without
//! a state TTL.
//!
//! **Checkpoint**: the retained batches of each side go into the keyed tables `left` and
//! `right` (the input columns as they arrived, filed by the key group of the join key; key
//! groups are computed once per retained batch, at the first snapshot that holds it); a
//! preserved side's table ends with a `__matches` (`UInt64`) column of partner counts, so an
//! inner join's tables are unchanged. An outer join adds the keyed tables `left_pending` /
//! `right_pending` (pending rows, with their arrival order in `__seq`) and the non-keyed
//! `left_schema` / `right_schema` (each known input schema, Arrow IPC), so that a restored
//! subtask that holds no row of a side can still pad with its columns. A restore re-encodes
//! the keys of the rows it receives and rebuilds the hash table; each key's rows keep their
//! order and counts, so the restored join emits what an uninterrupted one would.
//!
//! **Watermarks** are forwarded unchanged (an outer join first emits pending rows it can
//! pad, which only happens after a rescale); nothing else is emitted on a watermark or at
//! the end. Output rows keep both inputs' time columns, but they are not event-time
//! attributes downstream (an old row can match a new one at any time).
//!
//! **Complexity**: per input row one hash lookup plus one output row per match (and per
//! padding or retraction); per output batch one `take` and one `interleave` per column
//! (padding interleaves one cached all-null row). A retraction also scans its key's live
//! rows of its side for the equal one; a residual predicate is evaluated on batches of
//! candidate pairs (the key's rows on the other side), so a hot key costs the product of
//! its rows on both sides, as Flink's nested loop does.

use std::sync::Arc;

use arrow::array::{new_null_array, ArrayRef, Int8Array, RecordBatch};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::SchemaRef;

use super::state::SIDE_TABLES;
use super::{side_of, take_rows, Gather, JoinInputs, KeyIndex, PairPredicate, Prepared};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, Output};
use crate::time::Watermark;

mod changelog;
mod checkpoint;
mod output;
mod store;

use self::changelog::Changelog;
use self::output::Changes;

/// A row location: (batch index in its side's list, row).
type RowLoc = (u32, u32);

/// Name of the changelog column of updating inputs and outputs.
const OP_COLUMN: &str = "$op";
/// Flink RowKind codes of [`OP_COLUMN`]: `+I`, `-U`, `-D` (`+U` is any other accumulating
/// kind).
const INSERT: i8 = 0;
const UPDATE_BEFORE: i8 = 1;
const DELETE: i8 = 3;
/// Batch id of the all-null padding row in a [`Gather`].
const PAD: u32 = u32::MAX;

/// Which rows a join emits: SQL's `[INNER] JOIN`, `LEFT`, `RIGHT` and `FULL [OUTER] JOIN`.
///
/// An outer join *preserves* a side: each of its rows is emitted even without a partner,
/// padded with NULLs on the other side, and its output is an updating stream (see
/// [`RegularJoin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum JoinType {
    /// Matching pairs only; the output is insert-only.
    #[default]
    Inner,
    /// Every left row; right columns NULL where it has no partner.
    LeftOuter,
    /// Every right row; left columns NULL where it has no partner.
    RightOuter,
    /// Every row of both sides.
    FullOuter,
}

impl JoinType {
    /// Whether left rows without a partner are emitted (`LEFT`, `FULL`).
    pub fn preserves_left(self) -> bool {
        matches!(self, JoinType::LeftOuter | JoinType::FullOuter)
    }

    /// Whether right rows without a partner are emitted (`RIGHT`, `FULL`).
    pub fn preserves_right(self) -> bool {
        matches!(self, JoinType::RightOuter | JoinType::FullOuter)
    }

    /// Whether this is an outer join (its output is an updating stream).
    pub fn is_outer(self) -> bool {
        self != JoinType::Inner
    }

    /// Whether rows of `side` (0 left, 1 right) without a partner are emitted.
    fn preserves(self, side: usize) -> bool {
        if side == 0 {
            self.preserves_left()
        } else {
            self.preserves_right()
        }
    }
}

/// Everything but the keys that defines a [`RegularJoin`]: what
/// [`KeyedStream::regular_join`](crate::api::KeyedStream::regular_join) builds each
/// subtask's operator from.
#[derive(Clone, Default)]
pub struct RegularJoinSpec {
    /// Inner, left, right or full outer.
    pub join_type: JoinType,
    /// The schemas of the left and right inputs' data columns (without `$op`), if known
    /// ([`RegularJoin::with_input_schemas`]; required for an outer join in changelog mode).
    pub schemas: Option<(SchemaRef, SchemaRef)>,
    /// Whether the left and the right input are updating streams (end with `$op`).
    pub updating: [bool; 2],
    /// A condition on the pairs besides the keys ([`RegularJoin::with_residual`]).
    pub residual: Option<PairPredicate>,
}

impl RegularJoinSpec {
    /// An insert-only `join_type` join on the keys alone, schemas learnt from the inputs.
    pub fn new(join_type: JoinType) -> Self {
        RegularJoinSpec {
            join_type,
            ..RegularJoinSpec::default()
        }
    }

    /// The operator joining on `left_keys = right_keys`.
    ///
    /// # Errors
    /// As [`RegularJoin::new`] and [`RegularJoin::with_input_schemas`].
    pub fn build(&self, left_keys: Vec<String>, right_keys: Vec<String>) -> Result<RegularJoin> {
        let mut join = RegularJoin::new(left_keys, right_keys)?
            .with_join_type(self.join_type)
            .with_updating_inputs(self.updating[0], self.updating[1]);
        if let Some(p) = &self.residual {
            join = join.with_residual(p.clone());
        }
        match &self.schemas {
            Some((l, r)) => join.with_input_schemas(l.clone(), r.clone()),
            None => Ok(join),
        }
    }
}

/// Unbounded equi-join: inner by default, outer with [`RegularJoin::with_join_type`], of
/// insert-only or updating inputs ([`RegularJoin::with_updating_inputs`]).
///
/// # Example
/// ```
/// use millstream_core::operator::join::{JoinType, RegularJoin};
/// let _inner = RegularJoin::new(vec!["auction".into()], vec!["id".into()])?;
/// let _left = RegularJoin::new(vec!["auction".into()], vec!["id".into()])?
///     .with_join_type(JoinType::LeftOuter);
/// // A join of two changelogs (say, two GROUP BY results).
/// let _updating = RegularJoin::new(vec!["k".into()], vec!["k".into()])?
///     .with_updating_inputs(true, true);
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct RegularJoin {
    inputs: JoinInputs,
    join_type: JoinType,
    /// Whether the left and the right input end with `$op`.
    updating: [bool; 2],
    /// A condition on the pairs besides the keys (changelog mode only).
    residual: Option<PairPredicate>,
    /// Whether the input schemas were declared ([`RegularJoin::with_input_schemas`]).
    declared: bool,
    /// The state of the changelog mode (empty in insert-only mode).
    changelog: Changelog,
    batches: [Vec<RecordBatch>; 2],
    index: KeyIndex<[Vec<RowLoc>; 2]>,
    rows: [usize; 2],
    /// Key groups of the first retained batches of each side, filled in by snapshots:
    /// retained batches never change, so each is hashed for a checkpoint only once.
    key_groups: [Vec<Vec<u32>>; 2],
    /// Of a preserved side: the partners of each retained row, parallel to `batches`.
    matches: [Vec<Vec<u64>>; 2],
    /// Of a preserved side: input batches (null keys included) whose padding waits for
    /// the other side's schema, in arrival order.
    pending: [Vec<RecordBatch>; 2],
    /// One all-null row per side (its schema made nullable): what padding gathers.
    nulls: [Option<RecordBatch>; 2],
    /// Output schema of an outer join or of the changelog mode, known once both sides are.
    out_schema: Option<SchemaRef>,
}

impl RegularJoin {
    /// Inner join of left rows with right rows where `left_keys = right_keys` (pairwise,
    /// same types).
    ///
    /// # Errors
    /// No key columns, or different numbers on the two sides.
    ///
    /// # See also
    /// [`RegularJoin::with_join_type`] for outer joins.
    pub fn new(left_keys: Vec<String>, right_keys: Vec<String>) -> Result<Self> {
        Ok(RegularJoin {
            inputs: JoinInputs::new(
                "regular join",
                left_keys,
                right_keys,
                None,
                None,
                Vec::new(),
            )?,
            join_type: JoinType::Inner,
            updating: [false, false],
            residual: None,
            declared: false,
            changelog: Changelog::default(),
            batches: [Vec::new(), Vec::new()],
            index: KeyIndex::new(),
            rows: [0, 0],
            key_groups: [Vec::new(), Vec::new()],
            matches: [Vec::new(), Vec::new()],
            pending: [Vec::new(), Vec::new()],
            nulls: [None, None],
            out_schema: None,
        })
    }

    /// The same join as a `t` join (call it before the first input). An outer join's
    /// output ends with the `$op` changelog column.
    pub fn with_join_type(mut self, t: JoinType) -> Self {
        self.join_type = t;
        self
    }

    /// Declare which inputs are updating streams, whose batches end with the `$op` column
    /// (call it before the first input). Either one puts the join in changelog mode (see
    /// the module docs): its output is updating too, and an outer join then needs
    /// [`RegularJoin::with_input_schemas`].
    pub fn with_updating_inputs(mut self, left: bool, right: bool) -> Self {
        self.updating = [left, right];
        self
    }

    /// Match only the pairs where `p` also holds, as part of the join condition (call it
    /// before the first input): for an outer join this differs from a filter after the
    /// join, as a preserved row whose partners all fail `p` is emitted padded. `p` is
    /// evaluated on batches of pairs, the left input's columns then the right input's
    /// (without `$op`), `NULL` counting as false. Puts the join in changelog mode.
    pub fn with_residual(mut self, p: PairPredicate) -> Self {
        self.residual = Some(p);
        self
    }

    /// Declare the schemas of the two inputs (their data columns, without `$op`), instead
    /// of learning them from their first batches. An outer join then pads a preserved row
    /// at once even when the other side has sent nothing yet (or never will: an empty
    /// input, or a subtask that no row of that side is routed to).
    ///
    /// # Errors
    /// A key column is missing, or the key types of the two sides differ.
    pub fn with_input_schemas(mut self, left: SchemaRef, right: SchemaRef) -> Result<Self> {
        for (side, schema) in [left, right].into_iter().enumerate() {
            self.inputs.bind(side, &RecordBatch::new_empty(schema))?;
        }
        self.declared = true;
        Ok(self)
    }

    /// Whether the join runs in changelog mode: an updating input or a residual predicate.
    fn changelog_mode(&self) -> bool {
        self.updating[0] || self.updating[1] || self.residual.is_some()
    }

    /// Whether the output is an updating stream (ends with `$op`): an outer join, or an
    /// updating input.
    pub fn output_updating(&self) -> bool {
        self.join_type.is_outer() || self.updating[0] || self.updating[1]
    }

    /// The kind of join.
    pub fn join_type(&self) -> JoinType {
        self.join_type
    }

    /// The id the next retained batch of `side` gets.
    fn next_batch_id(&self, side: usize) -> Result<u32> {
        u32::try_from(self.batches[side].len()).map_err(|_| {
            Error::Internal("regular join: more than u32::MAX retained batches".into())
        })
    }

    /// Keep a prepared batch of `side` and index its rows (restore: no probe), with the
    /// partner counts of its rows when `side` is preserved.
    fn keep(&mut self, side: usize, p: Prepared, matches: Option<Vec<u64>>) -> Result<()> {
        let batch_id = self.next_batch_id(side)?;
        let n = p.batch.num_rows();
        for i in 0..n {
            self.index
                .get_or_insert_with(p.hashes[i], p.keys.row(i).data(), Default::default)[side]
                .push((batch_id, i as u32));
        }
        if let Some(m) = matches {
            self.matches[side].push(m);
        }
        self.rows[side] += n;
        self.batches[side].push(p.batch);
        Ok(())
    }

    /// Rows kept in state, per side (left, right).
    pub fn state_rows(&self) -> [usize; 2] {
        if self.changelog_mode() {
            return self.changelog.live_rows();
        }
        self.rows
    }

    /// Distinct keys in state (in changelog mode: ever seen).
    pub fn num_keys(&self) -> usize {
        if self.changelog_mode() {
            return self.changelog.num_keys();
        }
        self.index.len()
    }

    /// Approximate heap bytes held: retained batches, the key index, the key groups cached
    /// for checkpoints, partner counts, and pending batches (whose columns a retained
    /// batch may share: they are counted again); in changelog mode also the whole-row
    /// encodings of updating sides.
    pub fn state_bytes(&self) -> usize {
        if self.changelog_mode() {
            return self.changelog.size_bytes();
        }
        let batches: usize = self
            .batches
            .iter()
            .chain(&self.pending)
            .flatten()
            .map(|b| b.get_array_memory_size())
            .sum();
        let locs = (self.rows[0] + self.rows[1]) * size_of::<RowLoc>();
        let key_groups: usize = self
            .key_groups
            .iter()
            .flatten()
            .map(|g| g.len() * size_of::<u32>())
            .sum();
        let matches: usize = self
            .matches
            .iter()
            .flatten()
            .map(|m| m.len() * size_of::<u64>())
            .sum();
        batches + locs + key_groups + matches + self.index.size_bytes()
    }

    fn bound(&self, side: usize) -> Option<&SchemaRef> {
        self.inputs.sides[side].bound.as_ref().map(|b| &b.schema)
    }

    /// Emit `+I (row, NULLs)` for the pending rows of every side whose other side is now
    /// known, in arrival order.
    fn flush_pending(&mut self, out: &mut Output) -> Result<()> {
        for side in 0..2 {
            if self.pending[side].is_empty() {
                continue;
            }
            let Some(other) = self.bound(1 - side).cloned() else {
                continue;
            };
            let schema = self.out_schema()?;
            for b in std::mem::take(&mut self.pending[side]) {
                let n = b.num_rows();
                let pad: Vec<ArrayRef> = other
                    .fields()
                    .iter()
                    .map(|f| new_null_array(f.data_type(), n))
                    .collect();
                let (mut columns, right) = if side == 0 {
                    (b.columns().to_vec(), pad)
                } else {
                    (pad, b.columns().to_vec())
                };
                columns.extend(right);
                columns.push(Arc::new(Int8Array::from(vec![INSERT; n])));
                out.emit(RecordBatch::try_new(schema.clone(), columns)?);
            }
        }
        Ok(())
    }

    /// Which rows of `batch` (of `side`) have no null key, given that `kept` of them do
    /// (`None`: all).
    fn valid_rows(
        &self,
        side: usize,
        batch: &RecordBatch,
        kept: usize,
    ) -> Result<Option<BooleanBuffer>> {
        if kept == batch.num_rows() {
            return Ok(None);
        }
        let Some(b) = &self.inputs.sides[side].bound else {
            return Err(Error::Internal("regular join: input not bound".into()));
        };
        let mut valid: Option<NullBuffer> = None;
        for &i in &b.key_idx {
            valid = NullBuffer::union(valid.as_ref(), batch.column(i).logical_nulls().as_ref());
        }
        match valid {
            Some(v) if v.len() - v.null_count() == kept => Ok(Some(v.into_inner())),
            _ => Err(Error::Internal(
                "regular join: null keys counted differently".into(),
            )),
        }
    }

    /// Reject a batch with a `$op` column on an input not declared updating.
    fn check_insert_only(&self, side: usize, batch: &RecordBatch) -> Result<()> {
        let schema = batch.schema_ref();
        if schema
            .fields()
            .last()
            .is_some_and(|f| f.name() == OP_COLUMN)
        {
            return Err(Error::Unsupported(format!(
                "regular join: the {} input has a '{OP_COLUMN}' column (an updating stream) \
                 but was not declared updating (RegularJoin::with_updating_inputs)",
                SIDE_TABLES[side]
            )));
        }
        Ok(())
    }

    /// [`Operator::on_batch`] of an outer join.
    fn on_batch_outer(&mut self, side: usize, batch: RecordBatch, out: &mut Output) -> Result<()> {
        let other = 1 - side;
        // Prepared even when empty: a first batch tells the side's schema.
        let p = self.inputs.prepare(side, batch.clone(), None)?;
        self.flush_pending(out)?;
        let n = batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let preserved = self.join_type.preserves(side);
        let m = p.batch.num_rows();
        if preserved && self.bound(other).is_none() {
            // The other side has sent nothing, so no row has a partner; all wait for the
            // other side's columns to be padded with.
            self.pending[side].push(batch);
            if m > 0 {
                self.keep(side, p, Some(vec![0; m]))?;
            }
            return Ok(());
        }
        let batch_id = self.next_batch_id(side)?;
        if batch_id == PAD {
            return Err(Error::Internal(
                "regular join: more than u32::MAX - 1 retained batches".into(),
            ));
        }
        // Rows of `batch` that `prepare` kept (rows with a null key are not in `p`).
        let valid = self.valid_rows(side, &batch, m)?;
        let other_preserved = self.join_type.preserves(other);
        let mut changes = Changes::default();
        let mut counts: Vec<u64> = Vec::with_capacity(if preserved { m } else { 0 });
        let mut i = 0usize;
        for j in 0..n {
            if valid.as_ref().is_some_and(|v| !v.value(j)) {
                if preserved {
                    changes.push(Some(j as u32), (PAD, 0), INSERT);
                }
                continue;
            }
            let slot =
                self.index
                    .get_or_insert_with(p.hashes[i], p.keys.row(i).data(), Default::default);
            let partners = &slot[other];
            if other_preserved {
                for &(b, r) in partners {
                    let c = self.matches[other]
                        .get_mut(b as usize)
                        .and_then(|m| m.get_mut(r as usize))
                        .ok_or_else(|| {
                            Error::Internal("regular join: a kept row has no match count".into())
                        })?;
                    if *c == 0 {
                        changes.push(None, (b, r), DELETE);
                    }
                    *c += 1;
                }
            }
            for &loc in partners {
                changes.push(Some(j as u32), loc, INSERT);
            }
            if preserved {
                if partners.is_empty() {
                    changes.push(Some(j as u32), (PAD, 0), INSERT);
                }
                counts.push(partners.len() as u64);
            }
            slot[side].push((batch_id, i as u32));
            i += 1;
        }
        self.emit_changes(side, &batch, changes, out)?;
        if m > 0 {
            if preserved {
                self.matches[side].push(counts);
            }
            self.rows[side] += m;
            self.batches[side].push(p.batch);
        }
        Ok(())
    }
}

impl Operator for RegularJoin {
    fn on_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let side = side_of(input, "regular join")?;
        if self.changelog_mode() {
            return self.on_batch_changelog(side, batch, out);
        }
        self.check_insert_only(side, &batch)?;
        if self.join_type.is_outer() {
            return self.on_batch_outer(side, batch, out);
        }
        let other = 1 - side;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let p = self.inputs.prepare(side, batch, None)?;
        let n = p.batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let batch_id = self.next_batch_id(side)?;
        let mut probe: Vec<u32> = Vec::new();
        let mut found: Vec<RowLoc> = Vec::new();
        for i in 0..n {
            let slot =
                self.index
                    .get_or_insert_with(p.hashes[i], p.keys.row(i).data(), Default::default);
            for &loc in &slot[other] {
                probe.push(i as u32);
                found.push(loc);
            }
            slot[side].push((batch_id, i as u32));
        }
        self.rows[side] += n;
        if !probe.is_empty() {
            let probe_cols = take_rows(&p.batch, &probe)?;
            let stored = &self.batches[other];
            let mut gather = Gather::new();
            for &(b, r) in &found {
                gather.push(b, r as usize, |b| stored.get(b as usize))?;
            }
            let other_cols = gather.finish()?;
            let (left, right) = if side == 0 {
                (probe_cols, other_cols)
            } else {
                (other_cols, probe_cols)
            };
            out.emit(self.inputs.assemble(left, right, Vec::new())?);
        }
        self.batches[side].push(p.batch);
        Ok(())
    }

    /// An outer join first emits the pending rows it can now pad (after a rescale).
    fn on_watermark(
        &mut self,
        wm: Watermark,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if self.join_type.is_outer() && !self.changelog_mode() {
            self.flush_pending(out)?;
        }
        out.emit_watermark(wm);
        Ok(())
    }

    /// # Errors
    /// An outer join still holds rows it cannot pad: the other input ended without a
    /// single batch, and its schema was not declared.
    fn on_end(&mut self, _ctx: &mut OpContext, out: &mut Output) -> Result<()> {
        if !self.join_type.is_outer() || self.changelog_mode() {
            return Ok(());
        }
        self.flush_pending(out)?;
        for side in 0..2 {
            let rows: usize = self.pending[side].iter().map(RecordBatch::num_rows).sum();
            if rows > 0 {
                return Err(Error::Unsupported(format!(
                    "regular join: the {other} input ended without sending a batch, so {rows} \
                     {this} rows without a partner cannot be padded with its columns (its \
                     schema is unknown); declare the input schemas with \
                     RegularJoin::with_input_schemas",
                    other = SIDE_TABLES[1 - side],
                    this = SIDE_TABLES[side]
                )));
            }
        }
        Ok(())
    }

    /// Keyed tables `left` and `right`: the retained (in changelog mode: live) rows of
    /// each side, plus partner counts of a preserved side, and pending rows and input
    /// schemas for an outer join of insert-only inputs.
    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        if self.changelog_mode() {
            self.snapshot_changelog(ctx)
        } else if self.join_type.is_outer() {
            self.snapshot_outer(ctx)
        } else {
            self.snapshot_inner(ctx)
        }
    }

    fn restore(&mut self, state: OperatorState, _ctx: &mut OpContext) -> Result<()> {
        if self.changelog_mode() {
            self.restore_changelog(state)
        } else if self.join_type.is_outer() {
            self.restore_outer(state)
        } else {
            self.restore_inner(state)
        }
    }
}
