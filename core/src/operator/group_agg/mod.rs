//! Non-windowed `GROUP BY` producing a changelog: Flink SQL's `GroupAggFunction` in its
//! mini-batch form (`MiniBatchGroupAggFunction`), vectorized.
//!
//! **Input.** An insert-only stream, or an *updating* one whose batches end with an `$op`
//! column (`Int8`, Flink `RowKind` codes: 0 `+I`, 1 `-U`, 2 `+U`, 3 `-D`): `+I`/`+U` add
//! a row to its group, `-U`/`-D` retract one. **Output.** The key columns, one column per
//! aggregate, and `$op`: for every group a batch touched, in order of first appearance,
//!
//! | before the batch | after the batch | emitted |
//! |---|---|---|
//! | no row emitted | row count > 0 | `+I new` |
//! | row emitted | row count > 0, aggregates changed | `-U old`, `+U new` |
//! | row emitted | row count > 0, aggregates equal | nothing |
//! | row emitted | row count ≤ 0 | `-D old`, and the group's state is dropped |
//! | no row emitted | row count ≤ 0 | nothing (state dropped) |
//!
//! all in **one output batch per input batch**. A group "has an emitted row" exactly when
//! its row count is positive between batches (a group whose count drops to zero is reset),
//! so the count is the flag. As in Flink's mini-batch function, retractions that reach a
//! group with no state before any row of the batch added to it are dropped; later
//! retractions apply, and a count that ends at or below zero deletes the group.
//!
//! ```text
//!  batch ─▶ GroupIndexer::intern(keys) ─▶ group id per row ─▶ touched groups, row weights (+1/-1/0)
//!     old = evaluate(touched groups with a row)        ─┐
//!     row counts += weights; acc.update(values, ids, weights) for each aggregate (typed loops)
//!     new = evaluate(touched groups with count > 0)    ─┤
//!     compare old/new (not_distinct) ─▶ plan of (op, old|new, key row) ─▶ take / interleave ─▶ one batch
//! ```
//!
//! **State** (dense group ids from a [`GroupIndexer`] over the keys; an empty key list is
//! one global group): the row count per group, and per aggregate a retractable accumulator
//! (`COUNT`/`SUM`/`AVG`: count and sum; `MIN`/`MAX`: a running value over insert-only
//! input, a value → count multiset over updating input; `DISTINCT`: `(group, value)` →
//! count). **On a barrier** the live groups (row count > 0) are written to the keyed table
//! `"groups"` (keys, `$rows`, then each aggregate's state columns) and the value counts of
//! aggregate `i` to `"values{i}"` (keys, `value`, `count`), every row filed under its key's
//! key group (a global aggregate under key group 0, which subtask 0 owns), so a restore at
//! any parallelism takes the rows of its key groups and continues exactly: a `-U` after
//! restore carries the restored old values. Dead groups are not written, so a restore also
//! compacts the group ids, which otherwise grow with every key ever seen.
//!
//! Event time plays no part: watermarks pass through, nothing is emitted on a watermark or
//! at the end of input. Work per batch is `O(rows + touched groups)` (plus `O(log values)`
//! per row for retractable `MIN`/`MAX`); a checkpoint is `O(groups)`.

mod acc;
mod state;
mod values;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array, UInt32Array};
use arrow::compute::kernels::cmp::not_distinct;
use arrow::compute::{interleave, take};
use arrow::datatypes::{DataType, Field, Int8Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use millstream_kernels::agg::AggKind;
use millstream_kernels::group::GroupIndexer;

use self::acc::{Acc, Rows};
use super::{OpContext, Operator, Output};
use crate::checkpoint::{split_key_groups, OperatorState};
use crate::error::{Error, Location, Result};

/// Name of the changelog column of an updating stream (last column, `Int8`).
const OP_COLUMN: &str = "$op";
/// Flink `RowKind` codes of the `$op` column.
const INSERT: i8 = 0;
const UPDATE_BEFORE: i8 = 1;
const UPDATE_AFTER: i8 = 2;
const DELETE: i8 = 3;
/// Row weight per `$op` code: `+I`/`+U` add a row, `-U`/`-D` retract one.
const WEIGHT: [i8; 4] = [1, -1, 1, -1];
/// Keyed table of the live groups.
const GROUP_TABLE: &str = "groups";
/// Prefix of the keyed table of aggregate `i`'s value counts (`values{i}`).
const VALUES_TABLE: &str = "values";

/// One aggregate call of a [`GroupAggregate`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupAggCall {
    /// The function: `Count` (`COUNT(*)`, no input), `CountNonNull`, `Sum`, `Min`, `Max`
    /// or `Avg`.
    pub kind: AggKind,
    /// The input column index (`None` only for `COUNT(*)`).
    pub input: Option<usize>,
    /// Aggregate distinct non-null values only (`COUNT`/`SUM`/`AVG`; no effect on
    /// `MIN`/`MAX`).
    pub distinct: bool,
    /// The output column name.
    pub name: String,
}

/// Non-windowed `GROUP BY` over an insert-only or updating stream, emitting a changelog
/// (`+I`, `-U`/`+U`, `-D`) with one batch per input batch. See the [module docs](self).
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use arrow::array::{ArrayRef, Int64Array, StringArray};
/// use arrow::record_batch::RecordBatch;
/// use millstream_core::operator::group_agg::{GroupAggCall, GroupAggregate};
/// use millstream_core::operator::{OpContext, Operator, OutItem, Output};
/// use millstream_kernels::agg::AggKind;
///
/// let calls = vec![GroupAggCall { kind: AggKind::Sum, input: Some(1), distinct: false, name: "total".into() }];
/// let mut op = GroupAggregate::new(vec![0], calls, false)?;
/// let (mut ctx, mut out) = (OpContext::new(0, 1, 128), Output::new());
/// let batch = |v: Vec<i64>| RecordBatch::try_from_iter([
///     ("k", Arc::new(StringArray::from(vec!["a"; v.len()])) as ArrayRef),
///     ("v", Arc::new(Int64Array::from(v)) as ArrayRef),
/// ]);
/// op.on_batch(0, batch(vec![1, 2])?, &mut ctx, &mut out)?; // +I a 3
/// op.on_batch(0, batch(vec![4])?, &mut ctx, &mut out)?;    // -U a 3, +U a 7
/// let rows: usize = out.items().iter().map(|i| match i { OutItem::Batch(_, b) => b.num_rows(), _ => 0 }).sum();
/// assert_eq!(rows, 3);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct GroupAggregate {
    keys: Vec<usize>,
    calls: Vec<GroupAggCall>,
    input_updating: bool,
    bound: Option<Bound>,
    /// Restored state rows, loaded once the first batch binds the input types.
    restored: Vec<Restored>,
    scratch: Scratch,
}

/// Rows of one restored state table.
struct Restored {
    table: String,
    key_groups: Vec<u32>,
    rows: RecordBatch,
}

/// Buffers reused from batch to batch.
#[derive(Default)]
struct Scratch {
    group_ids: Vec<u32>,
    /// Group id → index among this batch's touched groups (`u32::MAX`: untouched).
    local_of: Vec<u32>,
    weights: Vec<i8>,
}

/// The input types, as resolved against a schema.
struct Resolved {
    output: SchemaRef,
    key_types: Vec<DataType>,
    input_types: Vec<Option<DataType>>,
}

/// The operator's state once it knows the input types.
struct Bound {
    output: SchemaRef,
    key_types: Vec<DataType>,
    input_types: Vec<Option<DataType>>,
    /// `None` for a global aggregate (every row is group 0).
    groups: Option<GroupIndexer>,
    num_groups: usize,
    /// Net rows per group.
    rows: Vec<i64>,
    accs: Vec<Box<dyn Acc>>,
}

impl GroupAggregate {
    /// Group by the input columns `keys` (empty: one global group) and compute `calls`;
    /// `input_updating`: the input's last column is `$op`.
    ///
    /// # Errors
    /// [`Error::Plan`] for a call without the input column it needs (all but `COUNT(*)`);
    /// [`Error::Unsupported`] for `FIRST_VALUE`/`LAST_VALUE`. Types are checked by
    /// [`GroupAggregate::output_schema`] and on the first batch.
    pub fn new(keys: Vec<usize>, calls: Vec<GroupAggCall>, input_updating: bool) -> Result<Self> {
        for call in &calls {
            if call.input.is_none() || matches!(call.kind, AggKind::First | AggKind::Last) {
                // Without an input type this checks exactly the kind and the input's presence.
                acc::output_type(call, None)?;
            }
        }
        Ok(GroupAggregate {
            keys,
            calls,
            input_updating,
            bound: None,
            restored: Vec::new(),
            scratch: Scratch::default(),
        })
    }

    /// The output schema for `input`: the key fields as in the input, one nullable field
    /// per call (named `call.name`; `COUNT`: `Int64`; `SUM`/`AVG` as
    /// [`millstream_kernels::agg::output_type`], decimals as Flink: `SUM` `DECIMAL(38, s)`,
    /// `AVG` `DECIMAL(38, max(6, s))`; `MIN`/`MAX` the input type), then
    /// `$op` (`Int8`, non-null).
    ///
    /// # Errors
    /// [`Error::Plan`] for a column index out of range, or a missing or misplaced `$op`
    /// column; [`Error::Unsupported`] for an aggregate over a type it does not support.
    pub fn output_schema(&self, input: &Schema) -> Result<SchemaRef> {
        Ok(self.resolve(input)?.output)
    }

    fn resolve(&self, input: &Schema) -> Result<Resolved> {
        let n = input.fields().len();
        let last_is_op = input
            .fields()
            .last()
            .is_some_and(|f| f.name() == OP_COLUMN && f.data_type() == &DataType::Int8);
        let data_columns = match (self.input_updating, last_is_op) {
            (true, true) => n - 1,
            (false, false) => n,
            (true, false) => {
                return Err(Error::Plan(format!(
                    "group aggregate: the input is updating but its last column is not `{OP_COLUMN}` (Int8); it has [{}]",
                    crate::batch::column_names(input)
                )))
            }
            (false, true) => {
                return Err(Error::Plan(format!(
                    "group aggregate: the input ends with a `{OP_COLUMN}` column but was declared insert-only"
                )))
            }
        };
        let field = |i: usize, what: &str| -> Result<&Field> {
            if i < data_columns {
                Ok(input.field(i))
            } else {
                Err(Error::Plan(format!(
                    "group aggregate: {what} refers to column {i}, but the input has {data_columns} data columns"
                )))
            }
        };
        let mut fields = Vec::with_capacity(self.keys.len() + self.calls.len() + 1);
        let mut key_types = Vec::with_capacity(self.keys.len());
        for &k in &self.keys {
            let f = field(k, "a group key")?;
            key_types.push(f.data_type().clone());
            fields.push(f.clone());
        }
        let mut input_types = Vec::with_capacity(self.calls.len());
        for call in &self.calls {
            let t = call
                .input
                .map(|i| field(i, &format!("aggregate '{}'", call.name)))
                .transpose()?
                .map(|f| f.data_type().clone());
            let out = acc::output_type(call, t.as_ref())?;
            fields.push(Field::new(&call.name, out, true));
            input_types.push(t);
        }
        fields.push(Field::new(OP_COLUMN, DataType::Int8, false));
        Ok(Resolved {
            output: Arc::new(Schema::new(fields)),
            key_types,
            input_types,
        })
    }

    fn bind(&self, input: &Schema) -> Result<Bound> {
        let r = self.resolve(input)?;
        let accs = self
            .calls
            .iter()
            .zip(&r.input_types)
            .map(|(call, t)| acc::create(call, t.as_ref(), self.input_updating))
            .collect::<Result<Vec<_>>>()?;
        let groups = if r.key_types.is_empty() {
            None
        } else {
            Some(GroupIndexer::new(&r.key_types).map_err(|e| {
                Error::Unsupported(format!("group aggregate: cannot group by these keys: {e}"))
            })?)
        };
        Ok(Bound {
            output: r.output,
            key_types: r.key_types,
            input_types: r.input_types,
            groups,
            num_groups: 0,
            rows: Vec::new(),
            accs,
        })
    }

    /// Load the restored rows, once bound (group tables first).
    fn load_restored(&mut self) -> Result<()> {
        let Some(b) = self.bound.as_mut() else {
            return Ok(());
        };
        self.restored.sort_by_key(|r| r.table != GROUP_TABLE);
        for r in self.restored.drain(..) {
            b.load(&r)?;
        }
        Ok(())
    }

    /// The batch's column types are those the operator was bound to.
    fn check(&self, b: &Bound, batch: &RecordBatch) -> Result<()> {
        let cols = batch.num_columns();
        let ok = |i: usize, t: &DataType| i < cols && batch.column(i).data_type() == t;
        let keys_ok = self.keys.iter().zip(&b.key_types).all(|(&i, t)| ok(i, t));
        let inputs_ok = self
            .calls
            .iter()
            .zip(&b.input_types)
            .all(|(c, t)| match (c.input, t) {
                (Some(i), Some(t)) => ok(i, t),
                _ => true,
            });
        let op_ok = !self.input_updating || (cols > 0 && ok(cols - 1, &DataType::Int8));
        if keys_ok && inputs_ok && op_ok {
            Ok(())
        } else {
            Err(Error::Schema(format!(
                "group aggregate: batch columns [{}] differ in type from the first batch's",
                crate::batch::column_names(&batch.schema())
            )))
        }
    }
}

/// The `$op` codes of an updating batch.
fn op_codes(batch: &RecordBatch) -> Result<&[i8]> {
    let bad = |detail: String| Error::Data {
        location: Location {
            source: "group aggregate input".into(),
            line: None,
            column: Some(OP_COLUMN.into()),
        },
        detail,
    };
    let col = batch
        .columns()
        .last()
        .and_then(|c| c.as_primitive_opt::<Int8Type>())
        .ok_or_else(|| bad("missing Int8 changelog column".into()))?;
    if col.null_count() > 0 {
        return Err(bad("null changelog op".into()));
    }
    Ok(col.values())
}

impl Bound {
    /// Group ids of `keys` (`n` rows) into `ids`; grows every per-group slot.
    fn intern(&mut self, keys: &[ArrayRef], n: usize, ids: &mut Vec<u32>) -> Result<()> {
        match &mut self.groups {
            Some(g) => {
                g.intern(keys, ids)?;
                self.num_groups = g.num_groups();
            }
            None => {
                ids.clear();
                ids.resize(n, 0);
                self.num_groups = 1;
            }
        }
        if self.rows.len() < self.num_groups {
            self.rows.resize(self.num_groups, 0);
        }
        for a in &mut self.accs {
            a.grow(self.num_groups);
        }
        Ok(())
    }

    /// Every aggregate's value for `groups`.
    fn evaluate(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        self.accs.iter().map(|a| a.evaluate(groups)).collect()
    }

    /// Drop the state of `groups`.
    fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            self.rows[g as usize] = 0;
        }
        for a in &mut self.accs {
            a.reset(groups);
        }
    }
}

/// Per candidate (a group with an old and a new row): whether any aggregate differs.
fn changed(
    old: &[ArrayRef],
    new: &[ArrayRef],
    old_idx: Vec<u32>,
    new_idx: Vec<u32>,
) -> Result<Vec<bool>> {
    let mut changed = vec![false; old_idx.len()];
    if old_idx.is_empty() {
        return Ok(changed);
    }
    let (old_idx, new_idx) = (UInt32Array::from(old_idx), UInt32Array::from(new_idx));
    for (o, n) in old.iter().zip(new) {
        let o = take(o.as_ref(), &old_idx, None)?;
        let n = take(n.as_ref(), &new_idx, None)?;
        let same = not_distinct(&o, &n)?;
        for (c, s) in changed.iter_mut().zip(same.values().iter()) {
            *c |= !s;
        }
    }
    Ok(changed)
}

impl Operator for GroupAggregate {
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
            self.bound = Some(self.bind(&batch.schema())?);
            self.load_restored()?;
        }
        let Some(b) = self.bound.as_ref() else {
            return Err(Error::Internal("group aggregate not bound".into()));
        };
        self.check(b, &batch)?;
        let Some(b) = self.bound.as_mut() else {
            return Err(Error::Internal("group aggregate not bound".into()));
        };
        let s = &mut self.scratch;
        let keys: Vec<ArrayRef> = self.keys.iter().map(|&i| batch.column(i).clone()).collect();
        b.intern(&keys, batch.num_rows(), &mut s.group_ids)?;
        let num_groups = b.num_groups;

        // Touched groups in order of first appearance, and each row's weight. Leading
        // retractions of a group without state are dropped (Flink's mini-batch rule).
        let ops = if self.input_updating {
            Some(op_codes(&batch)?)
        } else {
            None
        };
        if s.local_of.len() < num_groups {
            s.local_of.resize(num_groups, u32::MAX);
        }
        let mut touched: Vec<u32> = Vec::new();
        let mut first_row: Vec<u32> = Vec::new();
        let mut started: Vec<bool> = Vec::new();
        let mut bad_op = None;
        s.weights.clear();
        for (row, &g) in s.group_ids.iter().enumerate() {
            let slot = &mut s.local_of[g as usize];
            if *slot == u32::MAX {
                *slot = touched.len() as u32;
                touched.push(g);
                first_row.push(row as u32);
                started.push(b.rows[g as usize] > 0);
            }
            if let Some(ops) = ops {
                let op = ops[row];
                let w = WEIGHT.get(op as u8 as usize).copied().unwrap_or_else(|| {
                    bad_op.get_or_insert(op);
                    0
                });
                let begun = &mut started[*slot as usize];
                let w = if w < 0 && !*begun { 0 } else { w };
                *begun |= w > 0;
                s.weights.push(w);
            }
        }
        for &g in &touched {
            s.local_of[g as usize] = u32::MAX;
        }
        if let Some(op) = bad_op {
            return Err(Error::Data {
                location: Location {
                    source: "group aggregate input".into(),
                    line: None,
                    column: Some(OP_COLUMN.into()),
                },
                detail: format!("unknown changelog op code {op} (expected 0..=3)"),
            });
        }

        // Old values, then the update, then new values.
        let had: Vec<bool> = touched.iter().map(|&g| b.rows[g as usize] > 0).collect();
        let pick = |flags: &[bool]| -> Vec<u32> {
            touched
                .iter()
                .zip(flags)
                .filter_map(|(&g, &f)| f.then_some(g))
                .collect()
        };
        let old = b.evaluate(&pick(&had))?;
        let weights = ops.map(|_| s.weights.as_slice());
        match weights {
            None => s.group_ids.iter().for_each(|&g| b.rows[g as usize] += 1),
            Some(w) => s
                .group_ids
                .iter()
                .zip(w)
                .for_each(|(&g, &w)| b.rows[g as usize] += i64::from(w)),
        }
        let rows = Rows {
            groups: &s.group_ids,
            weights,
            num_groups,
        };
        for (a, call) in b.accs.iter_mut().zip(&self.calls) {
            a.update(call.input.map(|i| batch.column(i)), &rows)?;
        }
        let live: Vec<bool> = touched.iter().map(|&g| b.rows[g as usize] > 0).collect();
        let new = b.evaluate(&pick(&live))?;

        // Position of each touched group among the old / new rows.
        let (mut old_pos, mut new_pos) = (vec![0u32; touched.len()], vec![0u32; touched.len()]);
        let (mut o, mut n) = (0u32, 0u32);
        let (mut cand_old, mut cand_new) = (Vec::new(), Vec::new());
        for l in 0..touched.len() {
            old_pos[l] = o;
            new_pos[l] = n;
            o += u32::from(had[l]);
            n += u32::from(live[l]);
            if had[l] && live[l] {
                cand_old.push(old_pos[l]);
                cand_new.push(new_pos[l]);
            }
        }
        let changed = changed(&old, &new, cand_old, cand_new)?;

        // The changelog rows: (op, (old 0 | new 1, index), key row).
        let mut out_ops: Vec<i8> = Vec::new();
        let mut sources: Vec<(usize, usize)> = Vec::new();
        let mut key_rows: Vec<u32> = Vec::new();
        let mut reset: Vec<u32> = Vec::new();
        let mut candidate = 0;
        for l in 0..touched.len() {
            let (old_at, new_at) = (old_pos[l] as usize, new_pos[l] as usize);
            let mut emit = |kind: i8, source: (usize, usize)| {
                out_ops.push(kind);
                sources.push(source);
                key_rows.push(first_row[l]);
            };
            match (had[l], live[l]) {
                (true, true) => {
                    if changed[candidate] {
                        emit(UPDATE_BEFORE, (0, old_at));
                        emit(UPDATE_AFTER, (1, new_at));
                    }
                    candidate += 1;
                }
                (true, false) => {
                    emit(DELETE, (0, old_at));
                    reset.push(touched[l]);
                }
                (false, true) => emit(INSERT, (1, new_at)),
                (false, false) => reset.push(touched[l]),
            }
        }
        b.reset(&reset);
        if out_ops.is_empty() {
            return Ok(());
        }
        let key_rows = UInt32Array::from(key_rows);
        let mut columns = Vec::with_capacity(b.output.fields().len());
        for k in &keys {
            columns.push(take(k.as_ref(), &key_rows, None)?);
        }
        for (o, n) in old.iter().zip(&new) {
            columns.push(interleave(&[o.as_ref(), n.as_ref()], &sources)?);
        }
        columns.push(Arc::new(Int8Array::from(out_ops)));
        out.emit(RecordBatch::try_new(b.output.clone(), columns)?);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        // Restored rows not yet loaded (no batch since the restore) go back as they came.
        for r in &self.restored {
            state.push_keyed(r.table.clone(), r.key_groups.clone(), &r.rows)?;
        }
        if let Some(b) = &self.bound {
            b.snapshot_into(&mut state, ctx.max_parallelism)?;
        }
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        for table in &state.tables {
            if table.name != GROUP_TABLE && !table.name.starts_with(VALUES_TABLE) {
                return Err(Error::Internal(format!(
                    "group aggregate: unknown state table '{}' (was the job changed?)",
                    table.name
                )));
            }
            for (key_groups, rows) in split_key_groups(table, ctx.key_group_range())? {
                self.restored.push(Restored {
                    table: table.name.clone(),
                    key_groups,
                    rows,
                });
            }
        }
        self.load_restored()
    }
}

#[cfg(test)]
mod oracle_tests;
#[cfg(test)]
mod tests;
