//! Two-input equi-joins: input 0 is the left side, input 1 the right side. All are inner
//! joins except [`RegularJoin`], which can also be a left, right or full outer join
//! ([`JoinType`]), and [`SemiAntiJoin`], which emits left rows only.
//!
//! | operator | Flink equivalent | state | emits |
//! |---|---|---|---|
//! | [`WindowJoin`] | DataStream `join().where().equalTo().window(..)` | rows per window until it fires | all pairs of a window when the watermark passes its end |
//! | [`IntervalJoin`] | DataStream `intervalJoin().between(lower, upper)` | rows per side until no future row can match | pairs as soon as both rows are present |
//! | [`LookupJoin`] | SQL `s JOIN d FOR SYSTEM_TIME AS OF s.proc_time` (`LookupJoin`, full cache) | the dimension table, read once per subtask | each stream row's matches at once (insert-only); a left join pads an unmatched row |
//! | [`RegularJoin`] | SQL `a JOIN b ON a.k = b.k` (unbounded) | every row of both sides, forever (of an updating input: its live rows) | pairs as soon as both rows are present (insert-only); an outer join also emits unmatched rows padded with NULLs and retracts them (`-D`) when their first partner arrives (an updating stream with a trailing `$op` column); over updating inputs, also the retractions of the pairs a retracted row made |
//! | [`SemiAntiJoin`] | SQL `WHERE x [NOT] IN (SELECT ..)`, `[NOT] EXISTS (..)` (`StreamingSemiAntiJoinOperator`) | left rows that can still change, right rows (or only a count per key) | a left row while it has a match (semi) or none (anti); an anti join retracts (`-D`) a row when its first match arrives; left rows only, plus `$op` when updating |
//!
//! Shared rules:
//! * **Output schema**: every left column, then every right column (a right column whose
//!   name is also a left column's gets the suffix `_right`), then the operator's own columns
//!   (`window_start`, `window_end` for the window join; `$op` for an outer join, whose
//!   padded side's columns are nullable).
//! * **Keys** are compared on their values: rows are hashed with
//!   `millstream_kernels::hash::hash_columns` to find candidates, and candidates are checked
//!   on the `arrow::row` encoding of the key columns. Both sides must have key columns of
//!   the same types. A row with a null key never matches (SQL semantics) and is dropped on
//!   arrival, except on the preserved side of an outer join, where it is emitted padded; a
//!   row with a null event time in a time-based join is dropped too.
//! * **Batches, never rows**: an arriving batch is probed as a whole, producing
//!   `(probe row, stored row)` index pairs, and each output batch is built with one `take`
//!   (probe side) and one `interleave` (rows from several retained batches) per column.
//! * Event time is an `Int64`, `Timestamp(Millisecond)` or `Date64` column, in ms.
//! * **Checkpoints**: each join snapshots its retained rows (Arc-cloned batches) as one keyed
//!   table per side, `left` and `right`, filed by the key group of the join key; on restore
//!   it rebuilds its key indexes from the rows of the key groups it owns. Rows of one key
//!   come back in their original order, so a restored join emits exactly what an
//!   uninterrupted one would, in the same order (see each operator for its table layout).

#[cfg(test)]
mod checkpoint_tests;
mod interval;
mod lookup;
#[cfg(test)]
mod outer_tests;
mod regular;
mod semi;
#[cfg(test)]
mod semi_tests;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod updating_tests;
mod window_join;

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BooleanArray, UInt32Array};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::compute::{filter_record_batch, interleave, take};
use arrow::datatypes::{
    DataType, Date64Type, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMillisecondType,
};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::hash_table::{Entry, HashTable};

pub use interval::IntervalJoin;
pub use lookup::LookupJoin;
pub use regular::{JoinType, RegularJoin, RegularJoinSpec};
pub use semi::{PairPredicate, SemiAntiJoin, SemiJoinKind, SemiJoinSpec};
pub use window_join::WindowJoin;

use crate::batch::column_index;
use crate::error::{Error, Result};

/// Which side an input index is, or an internal error for anything but 0 and 1.
fn side_of(input: usize, what: &str) -> Result<usize> {
    if input < 2 {
        Ok(input)
    } else {
        Err(Error::Internal(format!(
            "{what}: input {input} on a two-input operator"
        )))
    }
}

/// Key and time columns of one side, resolved by name on its first batch.
struct Side {
    keys: Vec<String>,
    time: Option<String>,
    bound: Option<BoundSide>,
}

struct BoundSide {
    schema: SchemaRef,
    key_idx: Vec<usize>,
    time_idx: Option<usize>,
}

/// One input batch ready to join: rows with a null key or null time removed.
pub(crate) struct Prepared {
    /// The batch, without the dropped rows.
    pub(crate) batch: RecordBatch,
    /// `arrow::row` encoding of the key columns: equal keys, equal bytes.
    pub(crate) keys: Rows,
    /// `hash_columns` of the key columns.
    pub(crate) hashes: Vec<u64>,
    /// Event time per row (empty for a join without time).
    pub(crate) times: Vec<i64>,
    /// Rows dropped as late (event time below the bound given to `prepare`).
    pub(crate) late: usize,
}

/// The two inputs of a join: binds their columns, encodes their keys, builds output batches.
pub(crate) struct JoinInputs {
    what: &'static str,
    sides: [Side; 2],
    converter: Option<(Vec<DataType>, RowConverter)>,
    extra: Vec<Field>,
    schema: Option<SchemaRef>,
}

/// The `i64` milliseconds of an event-time column.
fn time_values<'a>(array: &'a ArrayRef, what: &str, name: &str) -> Result<&'a [i64]> {
    match array.data_type() {
        DataType::Int64 => Ok(array.as_primitive::<Int64Type>().values()),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            Ok(array.as_primitive::<TimestampMillisecondType>().values())
        }
        DataType::Date64 => Ok(array.as_primitive::<Date64Type>().values()),
        other => Err(Error::Schema(format!(
            "{what}: time column '{name}' is {other}; expected BIGINT or TIMESTAMP(3) milliseconds"
        ))),
    }
}

impl JoinInputs {
    /// Inputs joined on `left_keys = right_keys`, with optional event-time columns, and
    /// `extra` columns appended to the output.
    pub(crate) fn new(
        what: &'static str,
        left_keys: Vec<String>,
        right_keys: Vec<String>,
        left_time: Option<String>,
        right_time: Option<String>,
        extra: Vec<Field>,
    ) -> Result<Self> {
        if left_keys.is_empty() || left_keys.len() != right_keys.len() {
            return Err(Error::Plan(format!(
                "{what}: need the same non-zero number of key columns on both sides, got {} and {}",
                left_keys.len(),
                right_keys.len()
            )));
        }
        Ok(JoinInputs {
            what,
            sides: [
                Side {
                    keys: left_keys,
                    time: left_time,
                    bound: None,
                },
                Side {
                    keys: right_keys,
                    time: right_time,
                    bound: None,
                },
            ],
            converter: None,
            extra,
            schema: None,
        })
    }

    fn bind(&mut self, side: usize, batch: &RecordBatch) -> Result<()> {
        let schema = batch.schema();
        let s = &self.sides[side];
        let key_idx = s
            .keys
            .iter()
            .map(|k| column_index(&schema, k))
            .collect::<Result<Vec<_>>>()?;
        let time_idx = s
            .time
            .as_ref()
            .map(|t| column_index(&schema, t))
            .transpose()?;
        let types: Vec<DataType> = key_idx
            .iter()
            .map(|&i| schema.field(i).data_type().clone())
            .collect();
        match &self.converter {
            Some((expected, _)) if *expected != types => {
                let show = |t: &[DataType]| {
                    t.iter()
                        .map(|t| t.to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let (l, r) = if side == 0 {
                    (&types, expected)
                } else {
                    (expected, &types)
                };
                return Err(Error::Schema(format!(
                    "{}: key types differ: left [{}] ({}), right [{}] ({})",
                    self.what,
                    self.sides[0].keys.join(", "),
                    show(l),
                    self.sides[1].keys.join(", "),
                    show(r)
                )));
            }
            Some(_) => {}
            None => {
                let fields = types.iter().map(|t| SortField::new(t.clone())).collect();
                self.converter = Some((types, RowConverter::new(fields)?));
            }
        }
        self.sides[side].bound = Some(BoundSide {
            schema,
            key_idx,
            time_idx,
        });
        Ok(())
    }

    /// Drop the rows of `batch` (from `side`) with a null key or time, and those with a time
    /// below `late_before` (counted in [`Prepared::late`]); encode the rest.
    pub(crate) fn prepare(
        &mut self,
        side: usize,
        batch: RecordBatch,
        late_before: Option<i64>,
    ) -> Result<Prepared> {
        if self.sides[side].bound.is_none() {
            self.bind(side, &batch)?;
        }
        let (Some(b), Some((_, converter))) = (&self.sides[side].bound, &self.converter) else {
            return Err(Error::Internal(format!("{}: input not bound", self.what)));
        };
        let keys: Vec<ArrayRef> = b.key_idx.iter().map(|&i| batch.column(i).clone()).collect();
        let time = b.time_idx.map(|i| batch.column(i).clone());
        // Rows with no null key or time.
        let mut valid: Option<NullBuffer> = None;
        for a in keys.iter().chain(time.iter()) {
            valid = NullBuffer::union(valid.as_ref(), a.logical_nulls().as_ref());
        }
        let mut keep: Option<BooleanBuffer> = valid
            .filter(|v| v.null_count() > 0)
            .map(|v| v.inner().clone());
        let mut late = 0;
        if let (Some(bound), Some(t)) = (late_before, &time) {
            let name = self.sides[side].time.as_deref().unwrap_or_default();
            let ts = time_values(t, self.what, name)?;
            let on_time = BooleanBuffer::collect_bool(ts.len(), |i| ts[i] >= bound);
            let valid_rows = keep.as_ref().map_or(ts.len(), |k| k.count_set_bits());
            keep = Some(match keep {
                Some(k) => &k & &on_time,
                None => on_time,
            });
            late = valid_rows - keep.as_ref().map_or(0, |k| k.count_set_bits());
        }
        let (batch, keys, time) = match keep {
            Some(k) if k.count_set_bits() < batch.num_rows() => {
                let filtered = filter_record_batch(&batch, &BooleanArray::new(k, None))?;
                let keys = b
                    .key_idx
                    .iter()
                    .map(|&i| filtered.column(i).clone())
                    .collect();
                let time = b.time_idx.map(|i| filtered.column(i).clone());
                (filtered, keys, time)
            }
            _ => (batch, keys, time),
        };
        let rows = converter.convert_columns(&keys)?;
        let mut hashes = Vec::new();
        millstream_kernels::hash::hash_columns(&keys, &mut hashes)?;
        let times = match &time {
            Some(t) => time_values(
                t,
                self.what,
                self.sides[side].time.as_deref().unwrap_or_default(),
            )?
            .to_vec(),
            None => Vec::new(),
        };
        Ok(Prepared {
            batch,
            keys: rows,
            hashes,
            times,
            late,
        })
    }

    /// The key group of every row of `batch`, a batch of `side` as it was prepared.
    ///
    /// # Errors
    /// The side was never bound (no batch of it seen), or its key types cannot be hashed.
    pub(crate) fn key_groups(
        &self,
        side: usize,
        batch: &RecordBatch,
        max_parallelism: usize,
    ) -> Result<Vec<u32>> {
        let Some(b) = &self.sides[side].bound else {
            return Err(Error::Internal(format!(
                "{}: rows kept for an input never seen",
                self.what
            )));
        };
        let keys: Vec<ArrayRef> = b.key_idx.iter().map(|&i| batch.column(i).clone()).collect();
        crate::checkpoint::key_groups_of(&keys, max_parallelism)
    }

    /// The output schema: left columns, right columns (clashing names suffixed `_right`),
    /// extra columns. Known once both sides have been bound.
    pub(crate) fn output_schema(&mut self) -> Result<SchemaRef> {
        if let Some(s) = &self.schema {
            return Ok(s.clone());
        }
        let (Some(l), Some(r)) = (&self.sides[0].bound, &self.sides[1].bound) else {
            return Err(Error::Internal(format!(
                "{}: output before both inputs were seen",
                self.what
            )));
        };
        let mut fields: Vec<Field> = l
            .schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        for f in r.schema.fields() {
            let clash = l.schema.fields().iter().any(|lf| lf.name() == f.name());
            let field = f.as_ref().clone();
            fields.push(if clash {
                field.with_name(format!("{}_right", f.name()))
            } else {
                field
            });
        }
        fields.extend(self.extra.iter().cloned());
        let schema = Arc::new(Schema::new(fields));
        self.schema = Some(schema.clone());
        Ok(schema)
    }

    /// An output batch from the left columns, right columns and extra columns of the pairs.
    pub(crate) fn assemble(
        &mut self,
        left: Vec<ArrayRef>,
        right: Vec<ArrayRef>,
        extra: Vec<ArrayRef>,
    ) -> Result<RecordBatch> {
        let schema = self.output_schema()?;
        let mut columns = left;
        columns.extend(right);
        columns.extend(extra);
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// The rows of `batch` at `rows`, one `take` per column.
pub(crate) fn take_rows(batch: &RecordBatch, rows: &[u32]) -> Result<Vec<ArrayRef>> {
    let idx = UInt32Array::from(rows.to_vec());
    batch
        .columns()
        .iter()
        .map(|c| Ok(take(c.as_ref(), &idx, None)?))
        .collect()
}

/// Collects `(batch, row)` positions over retained batches named by `K`, then builds their
/// columns with one `interleave` per column (one `take` when every row comes from one
/// batch).
pub(crate) struct Gather<'a, K> {
    index: HashMap<K, usize>,
    /// The batch of the previous row: runs of rows from one batch skip the map.
    last: Option<(K, usize)>,
    batches: Vec<&'a RecordBatch>,
    locs: Vec<(usize, usize)>,
}

impl<'a, K: Hash + Eq + Copy> Gather<'a, K> {
    pub(crate) fn new() -> Self {
        Gather {
            index: HashMap::new(),
            last: None,
            batches: Vec::new(),
            locs: Vec::new(),
        }
    }

    /// Add row `row` of the batch named `id`, looked up with `lookup` the first time.
    pub(crate) fn push(
        &mut self,
        id: K,
        row: usize,
        lookup: impl FnOnce(K) -> Option<&'a RecordBatch>,
    ) -> Result<()> {
        let b = match self.last {
            Some((last, b)) if last == id => b,
            _ => match self.index.get(&id) {
                Some(&b) => b,
                None => {
                    let batch = lookup(id)
                        .ok_or_else(|| Error::Internal("join: row of a released batch".into()))?;
                    self.batches.push(batch);
                    self.index.insert(id, self.batches.len() - 1);
                    self.batches.len() - 1
                }
            },
        };
        self.last = Some((id, b));
        self.locs.push((b, row));
        Ok(())
    }

    /// Number of rows collected.
    pub(crate) fn len(&self) -> usize {
        self.locs.len()
    }

    /// The columns of the collected rows, in order.
    pub(crate) fn finish(self) -> Result<Vec<ArrayRef>> {
        if let [single] = self.batches[..] {
            let rows: Vec<u32> = self.locs.iter().map(|&(_, r)| r as u32).collect();
            return take_rows(single, &rows);
        }
        let Some(first) = self.batches.first() else {
            return Err(Error::Internal("join: gathering no rows".into()));
        };
        (0..first.num_columns())
            .map(|c| {
                let arrays: Vec<&dyn Array> =
                    self.batches.iter().map(|b| b.column(c).as_ref()).collect();
                Ok(interleave(&arrays, &self.locs)?)
            })
            .collect()
    }
}

struct Slot<V> {
    hash: u64,
    /// The key's bytes: `keys[start..start + len]` of the index.
    start: usize,
    len: usize,
    value: V,
}

impl<V> Slot<V> {
    /// The key's bytes, in the arena `keys` of its index.
    fn key<'k>(&self, keys: &'k [u8]) -> &'k [u8] {
        &keys[self.start..self.start + self.len]
    }

    /// Whether this is the slot of `key` (whose hash is `hash`).
    fn is(&self, keys: &[u8], hash: u64, key: &[u8]) -> bool {
        self.hash == hash && self.key(keys) == key
    }
}

/// A hash table from key bytes to `V`, probed with precomputed `hash_columns` hashes; a hit
/// compares the key bytes, so equal hashes of different keys never match. The keys' bytes
/// live in one growing arena (a new key costs no allocation of its own: joins on nearly
/// unique keys, such as q7's prices, insert one per row).
pub(crate) struct KeyIndex<V> {
    table: HashTable<Slot<V>>,
    keys: Vec<u8>,
}

impl<V> KeyIndex<V> {
    pub(crate) fn new() -> Self {
        KeyIndex {
            table: HashTable::new(),
            keys: Vec::new(),
        }
    }

    /// The value of `key` (whose hash is `hash`).
    pub(crate) fn get(&self, hash: u64, key: &[u8]) -> Option<&V> {
        self.table
            .find(hash, |s| s.is(&self.keys, hash, key))
            .map(|s| &s.value)
    }

    /// The value of `key` (whose hash is `hash`), to change.
    pub(crate) fn get_mut(&mut self, hash: u64, key: &[u8]) -> Option<&mut V> {
        let keys = &self.keys;
        self.table
            .find_mut(hash, |s| s.is(keys, hash, key))
            .map(|s| &mut s.value)
    }

    /// Every key's bytes and value, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &V)> {
        self.table.iter().map(|s| (s.key(&self.keys), &s.value))
    }

    /// The value of `key`, inserted with `init` if absent.
    pub(crate) fn get_or_insert_with(
        &mut self,
        hash: u64,
        key: &[u8],
        init: impl FnOnce() -> V,
    ) -> &mut V {
        let keys = &self.keys;
        match self
            .table
            .entry(hash, |s| s.is(keys, hash, key), |s| s.hash)
        {
            Entry::Occupied(o) => &mut o.into_mut().value,
            Entry::Vacant(v) => {
                let start = self.keys.len();
                self.keys.extend_from_slice(key);
                let slot = Slot {
                    hash,
                    start,
                    len: key.len(),
                    value: init(),
                };
                &mut v.insert(slot).into_mut().value
            }
        }
    }

    /// Number of distinct keys.
    pub(crate) fn len(&self) -> usize {
        self.table.len()
    }

    /// Heap bytes of the table and its keys (values not included).
    pub(crate) fn size_bytes(&self) -> usize {
        self.table.allocation_size() + self.keys.capacity()
    }
}
