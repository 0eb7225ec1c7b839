//! Rolling keyed aggregation: Flink's `KeyedStream.reduce` (typed, per record) and its
//! vectorized, columnar counterpart [`KeyedAggregate`] (mini-batch upserts).
//!
//! **[`KeyedReduce`]** (Flink `StreamGroupedReduceOperator`): per key, the current reduced
//! value `acc = f(acc, value)` lives in keyed state ([`StateBackend`], one `postcard`-encoded
//! `T` per key). Every input row emits the updated value of its key, so the output has
//! exactly one row per input row, in input order (WordCount prints rolling counts). Within
//! a batch the values of touched keys are cached and written back once. Per row: one serde
//! conversion each way and `f`; per distinct key of a batch: one state read and write.
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
//! backend.
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

use super::process::{ensure_backend, KeyEncoder};
use super::{OpContext, Operator, Output};
use crate::batch::column_index;
use crate::error::{Error, Result};
use crate::state::keyed::{decode, encode};
use crate::state::StateBackend;
use crate::typed::{from_batch, to_batch, RecordSchema};

/// Name of the keyed-state table holding the reduced values.
const REDUCE_TABLE: &str = "reduce";

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

    /// Keep state in `backend` instead of a memory backend.
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
        ensure_backend(&mut self.backend, ctx);
        Ok(())
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
        let backend = ensure_backend(&mut self.backend, ctx);
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

impl Operator for KeyedAggregate {
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
mod tests {
    use std::collections::BTreeMap;

    use arrow::array::{AsArray, Int64Array, StringArray};
    use arrow::datatypes::Int64Type;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use serde::Deserialize;

    use super::*;
    use crate::operator::OutItem;

    fn batches(out: &Output) -> Vec<RecordBatch> {
        out.items()
            .iter()
            .filter_map(|i| match i {
                OutItem::Batch(0, b) => Some(b.clone()),
                _ => None,
            })
            .collect()
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct WordCount {
        word: String,
        count: i64,
    }

    fn wc(word: &str, count: i64) -> WordCount {
        WordCount {
            word: word.into(),
            count,
        }
    }

    #[test]
    fn keyed_reduce_emits_rolling_values() {
        let mut op = KeyedReduce::new(vec!["word".into()], |a: WordCount, b: WordCount| {
            Ok(WordCount {
                word: a.word,
                count: a.count + b.count,
            })
        })
        .unwrap();
        let mut ctx = OpContext::new(0, 1, 128);
        op.open(&mut ctx).unwrap();
        let schema = RecordSchema::<WordCount>::of().unwrap();
        let mut out = Output::new();
        let b1 = to_batch(&schema, &[wc("a", 1), wc("b", 1), wc("a", 1)]).unwrap();
        let b2 = to_batch(&schema, &[wc("b", 1), wc("a", 5)]).unwrap();
        op.on_batch(0, b1, &mut ctx, &mut out).unwrap();
        op.on_batch(0, b2, &mut ctx, &mut out).unwrap();
        let rows: Vec<WordCount> = batches(&out)
            .iter()
            .flat_map(|b| from_batch::<WordCount>(b).unwrap())
            .collect();
        assert_eq!(
            rows,
            vec![wc("a", 1), wc("b", 1), wc("a", 2), wc("b", 2), wc("a", 7)]
        );
        assert_eq!(op.state_backend().unwrap().num_entries(), 2);
        assert_eq!(op.output_schema().field(1).name(), "count");
    }

    #[test]
    fn keyed_reduce_propagates_user_errors() {
        let mut op = KeyedReduce::new(vec!["word".into()], |_: WordCount, _: WordCount| {
            Err(Error::User("nope".into()))
        })
        .unwrap();
        let mut ctx = OpContext::new(0, 1, 128);
        let schema = RecordSchema::<WordCount>::of().unwrap();
        let b = to_batch(&schema, &[wc("a", 1), wc("a", 1)]).unwrap();
        let e = op.on_batch(0, b, &mut ctx, &mut Output::new()).unwrap_err();
        assert!(matches!(e, Error::User(_)));
        assert!(KeyedReduce::new(vec![], |a: WordCount, _| Ok(a)).is_err());
    }

    /// Oracle value of one aggregate over a key's values (in arrival order).
    #[derive(Debug, Default, Clone)]
    struct Oracle {
        rows: i64,
        values: Vec<i64>,
    }

    #[test]
    fn keyed_aggregate_matches_oracle() {
        let kinds = [
            (AggKind::Count, None, "cnt"),
            (AggKind::CountNonNull, Some("v"), "cnt_v"),
            (AggKind::Sum, Some("v"), "sum"),
            (AggKind::Min, Some("v"), "min"),
            (AggKind::Max, Some("v"), "max"),
            (AggKind::Avg, Some("v"), "avg"),
            (AggKind::First, Some("v"), "first"),
            (AggKind::Last, Some("v"), "last"),
        ];
        for seed in 0..5u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let aggs = kinds
                .iter()
                .map(|(k, c, n)| (*k, c.map(String::from), n.to_string()))
                .collect();
            let mut op = KeyedAggregate::new(vec!["k".into(), "s".into()], aggs).unwrap();
            let mut ctx = OpContext::new(0, 1, 128);
            let mut oracle: BTreeMap<(i64, String), Oracle> = BTreeMap::new();
            for _ in 0..40 {
                let n = rng.random_range(1..60);
                let k: Vec<i64> = (0..n).map(|_| rng.random_range(0..12)).collect();
                let s: Vec<String> = (0..n)
                    .map(|_| ["x", "y"][rng.random_range(0..2)].to_string())
                    .collect();
                let v: Vec<Option<i64>> = (0..n)
                    .map(|_| rng.random_bool(0.8).then(|| rng.random_range(-100..100)))
                    .collect();
                let batch = RecordBatch::try_from_iter([
                    ("k", Arc::new(Int64Array::from(k.clone())) as ArrayRef),
                    ("s", Arc::new(StringArray::from(s.clone())) as ArrayRef),
                    ("v", Arc::new(Int64Array::from(v.clone())) as ArrayRef),
                ])
                .unwrap();
                for i in 0..n {
                    let o = oracle.entry((k[i], s[i].clone())).or_default();
                    o.rows += 1;
                    o.values.extend(v[i]);
                }
                let mut out = Output::new();
                op.on_batch(0, batch, &mut ctx, &mut out).unwrap();
                let got = batches(&out);
                assert_eq!(got.len(), 1);
                let got = &got[0];
                let distinct: std::collections::BTreeSet<_> = k.iter().zip(&s).collect();
                assert_eq!(got.num_rows(), distinct.len(), "one row per touched key");
                let col = |name: &str| {
                    got.column_by_name(name)
                        .unwrap()
                        .as_primitive::<Int64Type>()
                        .clone()
                };
                let keys = got.column(0).as_primitive::<Int64Type>();
                let strs = got.column(1).as_string::<i32>();
                for r in 0..got.num_rows() {
                    let o = &oracle[&(keys.value(r), strs.value(r).to_string())];
                    let opt = |name: &str| {
                        let c = col(name);
                        c.is_valid(r).then(|| c.value(r))
                    };
                    let vals = &o.values;
                    assert_eq!(opt("cnt"), Some(o.rows));
                    assert_eq!(opt("cnt_v"), Some(vals.len() as i64));
                    assert_eq!(
                        opt("sum"),
                        (!vals.is_empty()).then(|| vals.iter().sum::<i64>())
                    );
                    assert_eq!(opt("min"), vals.iter().min().copied());
                    assert_eq!(opt("max"), vals.iter().max().copied());
                    assert_eq!(
                        opt("avg"),
                        (!vals.is_empty()).then(|| vals.iter().sum::<i64>() / vals.len() as i64)
                    );
                    assert_eq!(opt("first"), vals.first().copied());
                    assert_eq!(opt("last"), vals.last().copied());
                }
            }
            assert_eq!(op.num_groups(), oracle.len());
            assert!(
                op.state_rows() <= 2 * oracle.len(),
                "compaction bounds dead state"
            );
        }
    }

    #[test]
    fn keyed_aggregate_rejects_missing_inputs() {
        assert!(KeyedAggregate::new(vec![], vec![]).is_err());
        assert!(
            KeyedAggregate::new(vec!["k".into()], vec![(AggKind::Sum, None, "s".into())]).is_err()
        );
        let mut op = KeyedAggregate::new(
            vec!["nope".into()],
            vec![(AggKind::Count, None, "c".into())],
        )
        .unwrap();
        let batch =
            RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
                .unwrap();
        let e = op
            .on_batch(0, batch, &mut OpContext::new(0, 1, 128), &mut Output::new())
            .unwrap_err();
        assert!(e.to_string().contains("unknown column 'nope'"), "{e}");
    }
}
