//! [`RegularJoin`]: the SQL regular (unbounded) equi-join of two insert-only streams:
//! inner, left, right or full outer ([`JoinType`]).
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
//! (padding interleaves one cached all-null row).

use std::sync::Arc;

use arrow::array::{
    new_null_array, Array, ArrayRef, AsArray, BooleanBufferBuilder, Int8Array, RecordBatch,
    UInt32Array, UInt64Array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::{concat_batches, sort_to_indices, take, take_record_batch};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};

use super::state::{
    check_outer_tables, check_tables, restored_rows, schema_from_ipc, schema_to_ipc, split_matches,
    with_column, MATCHES_COLUMN, PENDING_TABLES, SCHEMA_TABLES, SEQ_COLUMN, SIDE_TABLES,
};
use super::{side_of, take_rows, Gather, JoinInputs, KeyIndex, Prepared};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, Output};
use crate::time::Watermark;

/// A row location: (batch index in its side's list, row).
type RowLoc = (u32, u32);

/// Name of the changelog column of an outer join's output.
const OP_COLUMN: &str = "$op";
/// Flink RowKind codes of [`OP_COLUMN`] that a join of insert-only inputs produces.
const INSERT: i8 = 0;
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

/// Unbounded equi-join of two insert-only streams: inner by default, outer with
/// [`RegularJoin::with_join_type`].
///
/// # Example
/// ```
/// use millstream_core::operator::join::{JoinType, RegularJoin};
/// let _inner = RegularJoin::new(vec!["auction".into()], vec!["id".into()])?;
/// let _left = RegularJoin::new(vec!["auction".into()], vec!["id".into()])?
///     .with_join_type(JoinType::LeftOuter);
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct RegularJoin {
    inputs: JoinInputs,
    join_type: JoinType,
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
    /// Output schema of an outer join, known once both sides are.
    out_schema: Option<SchemaRef>,
}

/// The output rows of one batch of an outer join, in order, as positions to gather.
#[derive(Default)]
struct Changes {
    /// Row of the arriving batch, per output row (any value where padded).
    probe: Vec<u32>,
    /// Which output rows take a row of the arriving batch; `None` while all do.
    probe_valid: Option<BooleanBufferBuilder>,
    /// Row of the other side per output row; batch [`PAD`] where padded.
    other: Vec<RowLoc>,
    ops: Vec<i8>,
}

impl Changes {
    fn push(&mut self, probe: Option<u32>, other: RowLoc, op: i8) {
        match probe {
            Some(row) => {
                if let Some(v) = &mut self.probe_valid {
                    v.append(true);
                }
                self.probe.push(row);
            }
            None => {
                let before = self.probe.len();
                self.probe_valid
                    .get_or_insert_with(|| {
                        let mut v = BooleanBufferBuilder::new(before.max(64));
                        v.append_n(before, true);
                        v
                    })
                    .append(false);
                self.probe.push(0);
            }
        }
        self.other.push(other);
        self.ops.push(op);
    }
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
    /// output ends with the `$op` changelog column, and its inputs must be insert-only
    /// (no `$op` column).
    pub fn with_join_type(mut self, t: JoinType) -> Self {
        self.join_type = t;
        self
    }

    /// Declare the schemas of the two inputs, instead of learning them from their first
    /// batches. An outer join then pads a preserved row at once even when the other side
    /// has sent nothing yet (or never will: an empty input, or a subtask that no row of
    /// that side is routed to).
    ///
    /// # Errors
    /// A key column is missing, or the key types of the two sides differ.
    pub fn with_input_schemas(mut self, left: SchemaRef, right: SchemaRef) -> Result<Self> {
        for (side, schema) in [left, right].into_iter().enumerate() {
            self.inputs.bind(side, &RecordBatch::new_empty(schema))?;
        }
        Ok(self)
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
        self.rows
    }

    /// Distinct keys in state.
    pub fn num_keys(&self) -> usize {
        self.index.len()
    }

    /// Approximate heap bytes held: retained batches, the key index, the key groups cached
    /// for checkpoints, partner counts, and pending batches (whose columns a retained
    /// batch may share: they are counted again).
    pub fn state_bytes(&self) -> usize {
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

    /// The output schema of an outer join: the inner join's columns, those of a side that
    /// can be padded nullable, then `$op`.
    fn outer_schema(&mut self) -> Result<SchemaRef> {
        if let Some(s) = &self.out_schema {
            return Ok(s.clone());
        }
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            if self
                .bound(side)
                .is_some_and(|s| s.column_with_name(OP_COLUMN).is_some())
            {
                return Err(Error::Unsupported(format!(
                    "regular join: the {name} input has a '{OP_COLUMN}' column (an updating \
                     stream); outer joins of updating inputs are not supported"
                )));
            }
        }
        let joined = self.inputs.output_schema()?;
        let n_left = self.bound(0).map_or(0, |s| s.fields().len());
        let pad = [self.join_type.preserves(1), self.join_type.preserves(0)];
        let mut fields: Vec<Field> = joined
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let f = f.as_ref().clone();
                if pad[usize::from(i >= n_left)] {
                    f.with_nullable(true)
                } else {
                    f
                }
            })
            .collect();
        fields.push(Field::new(OP_COLUMN, DataType::Int8, false));
        let schema = Arc::new(Schema::new_with_metadata(fields, joined.metadata().clone()));
        self.out_schema = Some(schema.clone());
        Ok(schema)
    }

    /// Build (once) the all-null row of `side`.
    fn ensure_nulls(&mut self, side: usize) -> Result<()> {
        if self.nulls[side].is_some() {
            return Ok(());
        }
        let Some(schema) = self.bound(side) else {
            return Err(Error::Internal(
                "regular join: padding a side never seen".into(),
            ));
        };
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let columns = fields
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect();
        self.nulls[side] = Some(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?);
        Ok(())
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
            let schema = self.outer_schema()?;
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

    /// Which rows of `batch` (of `side`) have no null key.
    fn key_valid(&self, side: usize, batch: &RecordBatch) -> Result<BooleanBuffer> {
        let Some(b) = &self.inputs.sides[side].bound else {
            return Err(Error::Internal("regular join: input not bound".into()));
        };
        let mut valid: Option<NullBuffer> = None;
        for &i in &b.key_idx {
            valid = NullBuffer::union(valid.as_ref(), batch.column(i).logical_nulls().as_ref());
        }
        Ok(valid.map_or_else(
            || BooleanBuffer::new_set(batch.num_rows()),
            |v| v.into_inner(),
        ))
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
        let valid = if m < n {
            let v = self.key_valid(side, &batch)?;
            if v.count_set_bits() != m {
                return Err(Error::Internal(
                    "regular join: null keys counted differently".into(),
                ));
            }
            Some(v)
        } else {
            None
        };
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
        if !changes.ops.is_empty() {
            let b = self.assemble_changes(side, &batch, changes)?;
            out.emit(b);
        }
        if m > 0 {
            if preserved {
                self.matches[side].push(counts);
            }
            self.rows[side] += m;
            self.batches[side].push(p.batch);
        }
        Ok(())
    }

    /// The output batch of `changes`: rows of `probe` (an input batch of `side`) and
    /// retained rows of the other side, either possibly padded, then `$op`.
    fn assemble_changes(
        &mut self,
        side: usize,
        probe: &RecordBatch,
        c: Changes,
    ) -> Result<RecordBatch> {
        let other = 1 - side;
        let schema = self.outer_schema()?;
        self.ensure_nulls(other)?;
        let nulls = c.probe_valid.map(|mut v| NullBuffer::new(v.finish()));
        let idx = UInt32Array::new(c.probe.into(), nulls);
        let probe_cols = probe
            .columns()
            .iter()
            .map(|a| Ok(take(a.as_ref(), &idx, None)?))
            .collect::<Result<Vec<_>>>()?;
        let stored = &self.batches[other];
        let pad = self.nulls[other].as_ref();
        let mut gather = Gather::new();
        for &(b, r) in &c.other {
            gather.push(b, r as usize, |b| {
                if b == PAD {
                    pad
                } else {
                    stored.get(b as usize)
                }
            })?;
        }
        let other_cols = gather.finish()?;
        let (mut columns, right) = if side == 0 {
            (probe_cols, other_cols)
        } else {
            (other_cols, probe_cols)
        };
        columns.extend(right);
        columns.push(Arc::new(Int8Array::from(c.ops)));
        Ok(RecordBatch::try_new(schema, columns)?)
    }

    /// [`Operator::snapshot`] of an outer join.
    fn snapshot_outer(&mut self, ctx: &OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let cache = &mut self.key_groups[side];
            for b in &self.batches[side][cache.len()..] {
                cache.push(self.inputs.key_groups(side, b, ctx.max_parallelism)?);
            }
            let preserved = self.join_type.preserves(side);
            for (i, (b, kg)) in self.batches[side].iter().zip(cache.iter()).enumerate() {
                if preserved {
                    let counts = self.matches[side].get(i).ok_or_else(|| {
                        Error::Internal("regular join: a kept batch has no match counts".into())
                    })?;
                    let counts = Arc::new(UInt64Array::from(counts.clone()));
                    state.push_keyed(
                        *name,
                        kg.clone(),
                        &with_column(b, MATCHES_COLUMN, counts)?,
                    )?;
                } else {
                    state.push_keyed(*name, kg.clone(), b)?;
                }
            }
            let mut seq = 0u64;
            for b in &self.pending[side] {
                let kg = self.inputs.key_groups(side, b, ctx.max_parallelism)?;
                let n = b.num_rows() as u64;
                let seqs = Arc::new(UInt64Array::from_iter_values(seq..seq + n));
                state.push_keyed(PENDING_TABLES[side], kg, &with_column(b, SEQ_COLUMN, seqs)?)?;
                seq += n;
            }
            if let Some(schema) = self.bound(side) {
                state.push_bytes(SCHEMA_TABLES[side], &[schema_to_ipc(schema)?]);
            }
        }
        Ok(state)
    }

    /// [`Operator::restore`] of an outer join.
    fn restore_outer(&mut self, state: OperatorState) -> Result<()> {
        check_outer_tables(&state)?;
        for (side, name) in SCHEMA_TABLES.iter().enumerate() {
            // After a rescale every old subtask's copy arrives: they are all the same.
            if let Some(bytes) = state.bytes(name).first() {
                if self.bound(side).is_none() {
                    let schema = schema_from_ipc(bytes)?;
                    self.inputs.bind(side, &RecordBatch::new_empty(schema))?;
                }
            }
        }
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let preserved = self.join_type.preserves(side);
            for batch in restored_rows(&state, name)? {
                let (data, counts) = split_matches(batch, preserved, name)?;
                let p = self.inputs.prepare(side, data, None)?;
                if counts
                    .as_ref()
                    .is_some_and(|c| c.len() != p.batch.num_rows())
                {
                    return Err(Error::Schema(format!(
                        "regular join: restore: state table '{name}' holds rows with null keys"
                    )));
                }
                if p.batch.num_rows() > 0 {
                    self.keep(side, p, counts)?;
                }
            }
            let pending = restored_rows(&state, PENDING_TABLES[side])?;
            if pending.is_empty() {
                continue;
            }
            if !preserved {
                return Err(Error::Schema(format!(
                    "regular join: restore: the checkpoint holds pending {name} rows, but this \
                     {:?} join does not preserve the {name} side",
                    self.join_type
                )));
            }
            let all = concat_batches(&pending[0].schema(), &pending)?;
            let n = all.num_columns();
            let schema = all.schema();
            let seq = schema
                .fields()
                .last()
                .filter(|f| f.name() == SEQ_COLUMN)
                .and_then(|_| all.column(n - 1).as_primitive_opt::<UInt64Type>())
                .ok_or_else(|| {
                    Error::Schema(format!(
                        "regular join: restore: state table '{}' does not end with \
                         {SEQ_COLUMN} (UInt64)",
                        PENDING_TABLES[side]
                    ))
                })?;
            let data = all.project(&(0..n - 1).collect::<Vec<_>>())?;
            let data = if seq.values().is_sorted() {
                data
            } else {
                take_record_batch(&data, &sort_to_indices(seq, None, None)?)?
            };
            self.pending[side].push(data);
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
        if self.join_type.is_outer() {
            self.flush_pending(out)?;
        }
        out.emit_watermark(wm);
        Ok(())
    }

    /// # Errors
    /// An outer join still holds rows it cannot pad: the other input ended without a
    /// single batch, and its schema was not declared.
    fn on_end(&mut self, _ctx: &mut OpContext, out: &mut Output) -> Result<()> {
        if !self.join_type.is_outer() {
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

    /// Keyed tables `left` and `right`: the retained batches of each side (plus partner
    /// counts, pending rows and input schemas for an outer join).
    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        if self.join_type.is_outer() {
            return self.snapshot_outer(ctx);
        }
        let mut state = OperatorState::new();
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let cache = &mut self.key_groups[side];
            for b in &self.batches[side][cache.len()..] {
                cache.push(self.inputs.key_groups(side, b, ctx.max_parallelism)?);
            }
            for (b, kg) in self.batches[side].iter().zip(cache.iter()) {
                state.push_keyed(*name, kg.clone(), b)?;
            }
        }
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, _ctx: &mut OpContext) -> Result<()> {
        if self.join_type.is_outer() {
            return self.restore_outer(state);
        }
        check_tables(&state, "regular join")?;
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            for batch in restored_rows(&state, name)? {
                let (batch, _) = split_matches(batch, false, name)?;
                let p = self.inputs.prepare(side, batch, None)?;
                if p.batch.num_rows() > 0 {
                    self.keep(side, p, None)?;
                }
            }
        }
        Ok(())
    }
}
