//! Rolling keyed aggregation: Flink's `KeyedStream.reduce` (typed, per record) and its
//! vectorized, columnar counterpart [`KeyedAggregate`] (mini-batch upserts).
//!
//! **[`KeyedReduce`]** (Flink `StreamGroupedReduceOperator`): per key, the current reduced
//! value `acc = f(acc, value)` lives in keyed state ([`StateBackend`], one `postcard`-encoded
//! `T` per key). Every input row emits the updated value of its key, so the output has
//! exactly one row per input row, in input order (WordCount prints rolling counts). Within
//! a batch the values of touched keys are cached and written back once. Per row: one serde
//! conversion each way and `f`; per distinct key of a batch: one state read and write. The
//! backend is of the job's kind ([`OpContext::state_backend`]); on a barrier it adds itself
//! to the snapshot under `"backend"` ([`StateBackend::snapshot_into`]) and a restore keeps
//! the key groups of the subtask's range.
//!
//! **[`KeyedAggregate`]** (Flink SQL's non-windowed `GROUP BY` with mini-batch, as an
//! upsert stream): keys map to dense group ids through a
//! [`GroupIndexer`] kept for the job's lifetime,
//! and each aggregate's intermediate state ([`GroupsAccumulator::state`]) is kept as Arrow
//! columns: chunks of state rows plus one `(chunk, row)` location per group. For each input
//! batch it merges the touched groups' previous state into fresh accumulators, adds the
//! batch, and emits **one row per key touched by the batch** with the key columns and the
//! aggregates over every row of that key so far. Downstream, a later row for a key
//! supersedes earlier ones (upsert on the key columns); no retraction rows are produced.
//! Work per batch is `O(rows + touched groups)` (state gathered with `interleave`); dead
//! state rows are compacted once they outnumber live ones, `O(groups)` amortized over as
//! many updates. This columnar state is snapshotted as Arrow IPC, not through the byte
//! backend: on a barrier, one keyed table `"groups"` with a row per key (the key columns,
//! then every aggregate's state columns `s0, s1, ...`), filed by the key's key group
//! (`O(groups)`, one gather). A restore keeps the rows of this subtask's key groups; they
//! are interned when the first batch binds the input schema, so the next update of a
//! restored key continues its rolling value exactly.
//!
//! Neither operator uses event time: watermarks pass through, nothing is emitted on a
//! watermark or at the end of input, and no row is late.

use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, UInt32Array};
use arrow::compute::{interleave, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use millstream_kernels::agg::{create_accumulator, output_type, AggKind, GroupsAccumulator};
use millstream_kernels::group::GroupIndexer;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::process::{ensure_backend, KeyEncoder, BACKEND_STATE};
use super::{OpContext, Operator, Output};
use crate::batch::column_index;
use crate::checkpoint::{key_groups_of, split_key_groups, OperatorState};
use crate::error::{Error, Result};
use crate::state::keyed::{decode, encode};
use crate::state::StateBackend;
use crate::typed::{from_batch, to_batch, RecordSchema};

/// Name of the keyed-state table holding the reduced values.
const REDUCE_TABLE: &str = "reduce";
/// Label of the state backend instances of [`KeyedReduce`].
const LABEL: &str = "keyed-reduce";
/// Name of the group table of a [`KeyedAggregate`] snapshot.
const GROUP_STATE: &str = "groups";

/// Rolling reduce per key: emits the updated reduced value for every input row (Flink
/// `KeyedStream.reduce`).
///
/// # Example
/// ```
/// use millstream_core::operator::keyed_reduce::KeyedReduce;
/// use serde::{Deserialize, Serialize};
/// #[derive(Clone, Serialize, Deserialize)]
/// struct WordCount { word: String, count: i64 }
/// let _op = KeyedReduce::new(vec!["word".into()], |a: WordCount, b: WordCount| {
///     Ok(WordCount { word: a.word, count: a.count + b.count })
/// })?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct KeyedReduce<T, F> {
    keys: KeyEncoder,
    f: F,
    schema: RecordSchema<T>,
    backend: Option<Box<dyn StateBackend>>,
    _t: PhantomData<fn(T) -> T>,
}

impl<T, F> KeyedReduce<T, F>
where
    T: Serialize + DeserializeOwned + Clone + Send + 'static,
    F: FnMut(T, T) -> Result<T> + Send + 'static,
{
    /// Reduce rows of `T` keyed by the columns `keys` with `f(current, new)`.
    ///
    /// # Errors
    /// No key column; `T` has a shape arrow cannot hold.
    pub fn new(keys: Vec<String>, f: F) -> Result<Self> {
        Ok(KeyedReduce {
            keys: KeyEncoder::new(keys, "keyed reduce")?,
            f,
            schema: RecordSchema::of()?,
            backend: None,
            _t: PhantomData,
        })
    }

    /// Keep state in `backend` instead of one of the job's kind (it must hold the key groups
    /// of the subtask this instance runs as).
    pub fn with_state_backend(mut self, backend: Box<dyn StateBackend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The schema of the output batches (that of `T`).
    pub fn output_schema(&self) -> SchemaRef {
        self.schema.schema()
    }

    /// The keyed state, once the operator has been opened or has seen a row.
    pub fn state_backend(&self) -> Option<&dyn StateBackend> {
        self.backend.as_deref()
    }
}

impl<T, F> Operator for KeyedReduce<T, F>
where
    T: Serialize + DeserializeOwned + Clone + Send + 'static,
    F: FnMut(T, T) -> Result<T> + Send + 'static,
{
    fn open(&mut self, ctx: &mut OpContext) -> Result<()> {
        ensure_backend(&mut self.backend, ctx, LABEL)?;
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        ensure_backend(&mut self.backend, ctx, LABEL)?.snapshot_into(BACKEND_STATE, &mut state)?;
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        ensure_backend(&mut self.backend, ctx, LABEL)?.restore_from(BACKEND_STATE, &state)
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keyed = self.keys.encode(&batch, ctx.max_parallelism)?;
        let values: Vec<T> = from_batch(&batch)?;
        let backend = ensure_backend(&mut self.backend, ctx, LABEL)?;
        let table = backend.register_table(REDUCE_TABLE)?;
        // The current value of each key touched by this batch, written back once.
        let mut current: HashMap<&[u8], (usize, T), ahash::RandomState> = HashMap::default();
        let mut emitted = Vec::with_capacity(values.len());
        for (i, value) in values.into_iter().enumerate() {
            let key = keyed.rows.row(i).data();
            let kg = keyed.key_groups[i];
            let prev = match current.remove(key) {
                Some((_, v)) => Some(v),
                None => backend
                    .get(table, kg, key)?
                    .map(|b| decode::<T>(&b))
                    .transpose()?,
            };
            let next = match prev {
                Some(acc) => (self.f)(acc, value)?,
                None => value,
            };
            emitted.push(next.clone());
            current.insert(key, (kg, next));
        }
        for (key, (kg, value)) in current {
            backend.put(table, kg, key, &encode(&value)?)?;
        }
        out.emit(to_batch(&self.schema, &emitted)?);
        Ok(())
    }
}

/// One aggregate of a [`KeyedAggregate`], resolved against the input schema.
struct AggColumn {
    kind: AggKind,
    input: Option<usize>,
    input_type: Option<DataType>,
    /// Number of state columns.
    width: usize,
}

/// What a [`KeyedAggregate`] learns from its first batch.
struct Bound {
    key_idx: Vec<usize>,
    aggs: Vec<AggColumn>,
    schema: SchemaRef,
    groups: GroupIndexer,
    /// Chunks of state rows; a chunk holds every aggregate's state columns side by side.
    chunks: Vec<Vec<ArrayRef>>,
    /// Per group id: (chunk, row) of its current state.
    loc: Vec<(u32, u32)>,
    /// Rows in `chunks` (live and dead).
    stored_rows: usize,
}

/// Vectorized rolling aggregation per key with mini-batch upsert output.
///
/// Output columns: the key columns, then one column per aggregate (named by its output
/// name, typed as `millstream_kernels::agg::output_type`). One row per key touched by each
/// input batch, in order of first appearance in the batch, holding the aggregate over all
/// rows of the key so far.
///
/// # Example
/// ```
/// use millstream_core::operator::keyed_reduce::KeyedAggregate;
/// use millstream_kernels::agg::AggKind;
/// let _op = KeyedAggregate::new(
///     vec!["auction".into()],
///     vec![
///         (AggKind::Count, None, "bids".into()),
///         (AggKind::Max, Some("price".into()), "max_price".into()),
///     ],
/// )?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct KeyedAggregate {
    keys: Vec<String>,
    specs: Vec<(AggKind, Option<String>, String)>,
    bound: Option<Bound>,
    group_ids: Vec<u32>,
    /// Global group id -> local id in the current batch (`u32::MAX`: untouched).
    local_of: Vec<u32>,
    /// Restored group rows (key groups, then key and state columns), interned once the
    /// first batch binds the input schema.
    restored: Vec<(Vec<u32>, RecordBatch)>,
}

impl KeyedAggregate {
    /// Aggregate per key: each `(kind, input column, output name)`; the input column is
    /// `None` only for [`AggKind::Count`] (`COUNT(*)`).
    ///
    /// # Errors
    /// No key column, or an aggregate other than `Count` without an input column.
    pub fn new(keys: Vec<String>, aggs: Vec<(AggKind, Option<String>, String)>) -> Result<Self> {
        if keys.is_empty() {
            return Err(Error::Plan(
                "keyed aggregate: at least one key column is needed".into(),
            ));
        }
        if let Some((kind, _, name)) = aggs
            .iter()
            .find(|(k, c, _)| c.is_none() && *k != AggKind::Count)
        {
            return Err(Error::Plan(format!(
                "keyed aggregate: {}(...) for '{name}' needs an input column",
                kind.sql_name()
            )));
        }
        Ok(KeyedAggregate {
            keys,
            specs: aggs,
            bound: None,
            group_ids: Vec::new(),
            local_of: Vec::new(),
            restored: Vec::new(),
        })
    }

    /// Number of distinct keys seen.
    pub fn num_groups(&self) -> usize {
        self.bound.as_ref().map_or(0, |b| b.groups.num_groups())
    }

    /// Rows of aggregate state held, dead ones (awaiting compaction) included.
    pub fn state_rows(&self) -> usize {
        self.bound.as_ref().map_or(0, |b| b.stored_rows)
    }

    fn bind(&self, batch: &RecordBatch) -> Result<Bound> {
        let schema = batch.schema();
        let key_idx = self
            .keys
            .iter()
            .map(|k| column_index(&schema, k))
            .collect::<Result<Vec<_>>>()?;
        let mut fields: Vec<Field> = key_idx.iter().map(|&i| schema.field(i).clone()).collect();
        let mut aggs = Vec::with_capacity(self.specs.len());
        for (kind, input, name) in &self.specs {
            let input = input
                .as_ref()
                .map(|c| column_index(&schema, c))
                .transpose()?;
            let input_type = input.map(|i| schema.field(i).data_type().clone());
            let out_type = output_type(*kind, input_type.as_ref())?;
            let width = millstream_kernels::agg::state_types(*kind, input_type.as_ref())?.len();
            fields.push(Field::new(name, out_type, true));
            aggs.push(AggColumn {
                kind: *kind,
                input,
                input_type,
                width,
            });
        }
        let key_types: Vec<DataType> = key_idx
            .iter()
            .map(|&i| schema.field(i).data_type().clone())
            .collect();
        Ok(Bound {
            key_idx,
            aggs,
            schema: Arc::new(Schema::new(fields)),
            groups: GroupIndexer::new(&key_types)?,
            chunks: Vec::new(),
            loc: Vec::new(),
            stored_rows: 0,
        })
    }
}

/// The state rows at `locs` (chunk, row), one `interleave` per state column.
fn gather_state(
    chunks: &[Vec<ArrayRef>],
    locs: &[(usize, usize)],
    columns: usize,
) -> Result<Vec<ArrayRef>> {
    (0..columns)
        .map(|c| {
            let arrays: Vec<&dyn Array> = chunks.iter().map(|chunk| chunk[c].as_ref()).collect();
            Ok(interleave(&arrays, locs)?)
        })
        .collect()
}

impl Bound {
    /// Number of state columns over all aggregates.
    fn width(&self) -> usize {
        self.aggs.iter().map(|a| a.width).sum()
    }

    /// Every group as one row: the key columns, then the state columns `s0, s1, ...`.
    fn groups_batch(&self) -> Result<RecordBatch> {
        let mut columns = self.groups.emit_keys()?;
        let locs: Vec<(usize, usize)> = self
            .loc
            .iter()
            .map(|&(c, r)| (c as usize, r as usize))
            .collect();
        let mut fields: Vec<Field> = columns
            .iter()
            .zip(self.schema.fields())
            .map(|(c, f)| Field::new(f.name(), c.data_type().clone(), true))
            .collect();
        let state = gather_state(&self.chunks, &locs, self.width())?;
        for (i, c) in state.iter().enumerate() {
            fields.push(Field::new(format!("s{i}"), c.data_type().clone(), true));
        }
        columns.extend(state);
        Ok(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?)
    }

    /// Intern restored group rows (key columns, then state columns) as a new chunk.
    fn load(&mut self, rows: &RecordBatch) -> Result<()> {
        let nk = self.key_idx.len();
        if rows.num_columns() != nk + self.width() {
            return Err(Error::Internal(format!(
                "keyed aggregate: restored state has {} columns, expected {} key and {} state columns (was the job changed?)",
                rows.num_columns(),
                nk,
                self.width()
            )));
        }
        let mut ids = Vec::with_capacity(rows.num_rows());
        self.groups.intern(&rows.columns()[..nk], &mut ids)?;
        let chunk = u32::try_from(self.chunks.len())
            .map_err(|_| Error::Internal("keyed aggregate: too many state chunks".into()))?;
        self.chunks.push(rows.columns()[nk..].to_vec());
        if self.loc.len() < self.groups.num_groups() {
            self.loc.resize(self.groups.num_groups(), (0, 0));
        }
        for (row, &g) in ids.iter().enumerate() {
            self.loc[g as usize] = (chunk, row as u32);
        }
        self.stored_rows += rows.num_rows();
        Ok(())
    }

    /// Rewrite the state of every group into one chunk, in group order.
    fn compact(&mut self) -> Result<()> {
        let locs: Vec<(usize, usize)> = self
            .loc
            .iter()
            .map(|&(c, r)| (c as usize, r as usize))
            .collect();
        let width = self.aggs.iter().map(|a| a.width).sum();
        let merged = gather_state(&self.chunks, &locs, width)?;
        self.chunks = vec![merged];
        for (g, l) in self.loc.iter_mut().enumerate() {
            *l = (0, g as u32);
        }
        self.stored_rows = self.loc.len();
        Ok(())
    }
}

impl KeyedAggregate {
    /// Intern the restored rows, once bound.
    fn load_restored(&mut self) -> Result<()> {
        if let Some(b) = self.bound.as_mut() {
            for (_, rows) in self.restored.drain(..) {
                b.load(&rows)?;
            }
        }
        Ok(())
    }
}

impl Operator for KeyedAggregate {
    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        for (kgs, rows) in &self.restored {
            state.push_keyed(GROUP_STATE, kgs.clone(), rows)?;
        }
        if let Some(b) = self.bound.as_ref().filter(|b| b.groups.num_groups() > 0) {
            let rows = b.groups_batch()?;
            let keys = &rows.columns()[..b.key_idx.len()];
            let kgs = key_groups_of(keys, ctx.max_parallelism)?;
            state.push_keyed(GROUP_STATE, kgs, &rows)?;
        }
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        let Some(table) = state.table(GROUP_STATE) else {
            return Ok(());
        };
        self.restored
            .extend(split_key_groups(table, ctx.key_group_range())?);
        self.load_restored()
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        if self.bound.is_none() {
            self.bound = Some(self.bind(&batch)?);
            self.load_restored()?;
        }
        let Some(b) = self.bound.as_mut() else {
            return Err(Error::Internal("keyed aggregate not bound".into()));
        };
        let keys: Vec<ArrayRef> = b.key_idx.iter().map(|&i| batch.column(i).clone()).collect();
        b.groups.intern(&keys, &mut self.group_ids)?;
        let num_groups = b.groups.num_groups();
        if self.local_of.len() < num_groups {
            self.local_of.resize(num_groups, u32::MAX);
        }
        // Touched groups in order of first appearance, with their first row.
        let mut touched: Vec<u32> = Vec::new();
        let mut first_row: Vec<u32> = Vec::new();
        let mut local_ids: Vec<u32> = Vec::with_capacity(self.group_ids.len());
        for (row, &g) in self.group_ids.iter().enumerate() {
            let slot = &mut self.local_of[g as usize];
            if *slot == u32::MAX {
                *slot = touched.len() as u32;
                touched.push(g);
                first_row.push(row as u32);
            }
            local_ids.push(*slot);
        }
        for &g in &touched {
            self.local_of[g as usize] = u32::MAX;
        }
        let k = touched.len();
        // Previous state of the touched groups that have one.
        let (prev_local, prev_locs): (Vec<u32>, Vec<(usize, usize)>) = touched
            .iter()
            .enumerate()
            .filter(|(_, &g)| (g as usize) < b.loc.len())
            .map(|(l, &g)| {
                let (c, r) = b.loc[g as usize];
                (l as u32, (c as usize, r as usize))
            })
            .unzip();
        let width: usize = b.aggs.iter().map(|a| a.width).sum();
        let prev = if prev_locs.is_empty() {
            Vec::new()
        } else {
            gather_state(&b.chunks, &prev_locs, width)?
        };
        let identity: Vec<u32> = (0..k as u32).collect();
        let mut new_state: Vec<ArrayRef> = Vec::with_capacity(width);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(b.key_idx.len() + b.aggs.len());
        let first_row = UInt32Array::from(first_row);
        for key in &keys {
            columns.push(take(key.as_ref(), &first_row, None)?);
        }
        let mut offset = 0;
        for agg in &b.aggs {
            let mut acc: Box<dyn GroupsAccumulator> =
                create_accumulator(agg.kind, agg.input_type.as_ref())?;
            if !prev.is_empty() {
                acc.merge_batch(&prev[offset..offset + agg.width], &prev_local, k)?;
            }
            let values = agg.input.map(|i| batch.column(i));
            acc.update_batch(values, &local_ids, None, k)?;
            let state = acc.state()?;
            acc.merge_batch(&state, &identity, k)?;
            columns.push(acc.evaluate()?);
            new_state.extend(state);
            offset += agg.width;
        }
        // Store the new state rows and point the touched groups at them.
        let chunk = u32::try_from(b.chunks.len())
            .map_err(|_| Error::Internal("keyed aggregate: too many state chunks".into()))?;
        b.chunks.push(new_state);
        if b.loc.len() < num_groups {
            b.loc.resize(num_groups, (0, 0));
        }
        for (l, &g) in touched.iter().enumerate() {
            b.loc[g as usize] = (chunk, l as u32);
        }
        b.stored_rows += k;
        if b.stored_rows > 2 * b.loc.len() {
            b.compact()?;
        }
        out.emit(RecordBatch::try_new(b.schema.clone(), columns)?);
        Ok(())
    }
}

#[cfg(test)]
mod tests;
