//! Top-N over an updating input: Flink SQL's
//! `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY p ORDER BY o) AS rn FROM t)
//! WHERE rn <= N` when `t` is itself a changelog (`+I`/`-U`/`+U`/`-D`), such as "the top 3
//! auctions by bid count" over a non-windowed `GROUP BY` (Flink's `Rank` with
//! `RetractStrategy`, `RetractableTopNFunction`).
//!
//! Per partition the operator keeps *every* live input row, not only the top N: a row
//! pushed out of the top N comes back when a row ahead of it is retracted. Rows rank by the
//! `ORDER BY` columns and, among equal sort keys, by arrival (the earlier row first). A
//! `+I`/`+U` row is added; a `-U`/`-D` row removes one copy of an equal row (every column
//! equal; the first such copy in rank order, as Flink's list of rows per sort key does). A
//! retraction of a row its partition does not hold is ignored and counted
//! ([`RetractableRank::unmatched_retractions`]; Flink logs "Attempt to retract non-existed
//! record").
//!
//! ```text
//!  batch ─▶ partition columns ─▶ GroupIndexer ─▶ group id per row
//!        ├▶ ORDER BY columns ─▶ RowConverter ─▶ sort key bytes per row
//!        └▶ every column but $op ─▶ RowConverter ─▶ whole-row bytes per row
//!                  │ per row, in arrival order: +I/+U insert, -U/-D retract
//!                  ▼ into the partition's RankedRows (top N list, B-tree of the rest,
//!                    whole-row hash index of the rest)
//!   per partition whose top N changed: top N before the batch vs after
//!        ─▶ -U/-D then +U/+I rows ─▶ convert_rows (whole-row bytes ─▶ columns), one batch
//! ```
//!
//! **Output.** Every input column but `$op`, the rank (`Int64`) when built with
//! `emit_rank`, then `$op`. Each input batch is one mini-batch, as in
//! [`Rank`](super::Rank)'s updating mode: for every partition whose top N the batch changed,
//! the top N before the batch is compared with the one after it. With the rank column, each
//! rank whose row changed emits `-U old` / `+U new` (`-D` for a rank left empty, `+I` for a
//! newly filled one); without it, rows that left the top N emit `-D` and rows that entered
//! emit `+I`, compared as multisets of whole rows (a row retracted and added back unchanged
//! emits nothing). A partition's retractions precede its additions; partitions appear in
//! order of their first change in the batch. The table the changelog builds is the one
//! Flink's builds; the intermediate changes are coarser (Flink emits per input row), and
//! Flink's `UpdateFastStrategy` (picked when the input has a unique key and the sort key
//! moves one way, as a count does) emits other kinds for the same table. Watermarks pass
//! through; nothing is late; nothing is emitted on a watermark, a barrier or at the end.
//!
//! # State and cost
//! Per live row: its sort key and its columns, `arrow::row`-encoded (one encoding answers
//! rank order, whole-row equality and, through `convert_rows`, the output columns), and an
//! arrival sequence number, and for rows below the top N a hash index entry. Per input
//! row: a hash of its bytes, a binary search in the top list (≤ N rows) and, for a row
//! ranked below it, a B-tree insert or removal (`O(log rows)`); a retraction finds its row
//! through the hash index, not by walking the rows that tie with it (Flink walks its list
//! of rows per sort key, which grows long when many rows tie, as the counts of a
//! `GROUP BY` do). Per partition a batch changes: an `O(N)` copy
//! of its top N before the change, and an `O(N)` comparison. Per output batch: one
//! `convert_rows`. A partition whose rows were all retracted keeps only its key in the
//! group index.
//!
//! # Checkpoints
//! As for [`Rank`](super::Rank): one keyed table (`"rows"`: every input column but `$op`,
//! then `__seq`), every live row of every partition in rank order, filed by the key group
//! of the partition columns (key group 0 without any), so `O(live rows)` per checkpoint. A
//! restore keeps the key groups this subtask owns, and the output continues exactly as an
//! uninterrupted run's.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, Int8Array, UInt64Array};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, Int8Type, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, RowParser, SortField};

use super::ranked::{Item, RankedRows};
use super::store::Partitions;
use super::{
    check_keys, check_schema, snapshot, sort_fields, SortKey, DELETE, INSERT, OP_COLUMN,
    RANK_COLUMN, ROWS_TABLE, UPDATE_AFTER, UPDATE_BEFORE,
};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Location, Result};
use crate::operator::{OpContext, Operator, Output};

/// Name of this operator in error messages.
const NAME: &str = "retractable rank";

/// Top-N over an updating input (Flink's `RetractableTopNFunction`).
///
/// The input ends with the `$op` column. Per partition every live row is kept, ranked by
/// the ORDER BY and then by arrival; `+I`/`+U` add a row, `-U`/`-D` remove the first equal
/// row (a retraction of an absent row is ignored and counted). Each input batch emits, per
/// partition whose top N changed, `-U`/`+U` per changed rank (`-D`/`+I` where a rank
/// empties or fills) with the rank column, or `-D`/`+I` for rows that left or entered the
/// top N without it. The changelog builds the table Flink's builds. Semantics, state, cost
/// and checkpoints are described in the docs of `core/src/operator/rank/retract.rs`.
///
/// # Example
/// ```
/// use millstream_core::operator::rank::{RetractableRank, SortKey};
/// // Top 3 auctions per category by bid count: PARTITION BY column 0 ORDER BY column 2 DESC,
/// // over the changelog of `SELECT category, auction, COUNT(*) ... GROUP BY category, auction`.
/// let order = vec![SortKey { column: 2, descending: true, nulls_first: false }];
/// let _op = RetractableRank::new(vec![0], order, 3, false)?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct RetractableRank {
    partition: Vec<usize>,
    order: Vec<SortKey>,
    limit: usize,
    emit_rank: bool,
    bound: Option<Bound>,
    /// Arrival sequence of the next input row.
    next_seq: u64,
    /// Retractions of rows their partition did not hold.
    unmatched: u64,
    /// Scratch: group ids of a batch.
    ids: Vec<u32>,
}

/// What a [`RetractableRank`] learns from its input schema (first batch or restored state).
struct Bound {
    /// The input, `$op` last.
    input: SchemaRef,
    /// The input without `$op`: the columns kept, snapshotted and emitted.
    data: SchemaRef,
    output: SchemaRef,
    /// Encodes the ORDER BY columns.
    keys: RowConverter,
    /// Encodes whole rows (the [`Bound::data`] columns), and decodes them for output.
    rows: RowConverter,
    parser: RowParser,
    /// Hashes whole-row bytes (equal rows, equal hashes).
    hasher: ahash::RandomState,
    parts: Partitions<RankedRows>,
    /// Scratch: group id -> first-touch marker of the current batch (`u32::MAX`: untouched).
    local_of: Vec<u32>,
}

impl RetractableRank {
    /// partition: input column indices (may be empty = one partition); order: the ORDER BY;
    /// limit: N of `rn <= N` (≥ 1); emit_rank: whether the output carries the row number as
    /// an Int64 column. The input's last column is `$op`; indices refer to the columns
    /// before it.
    ///
    /// # Errors
    /// [`Error::Plan`] for `limit == 0` or an empty `order`. Column indices and types are
    /// checked against the input schema ([`RetractableRank::output_schema`]).
    pub fn new(
        partition: Vec<usize>,
        order: Vec<SortKey>,
        limit: usize,
        emit_rank: bool,
    ) -> Result<Self> {
        if limit == 0 {
            return Err(Error::Plan(format!(
                "{NAME}: the row-number limit (rn <= N) must be at least 1"
            )));
        }
        if order.is_empty() {
            return Err(Error::Plan(format!(
                "{NAME}: ROW_NUMBER() needs an ORDER BY column"
            )));
        }
        Ok(RetractableRank {
            partition,
            order,
            limit,
            emit_rank,
            bound: None,
            next_seq: 0,
            unmatched: 0,
            ids: Vec::new(),
        })
    }

    /// Output schema for an input schema: every input column but the trailing `$op`, then
    /// `rank` Int64 non-null if emit_rank, then `$op` Int8 non-null.
    ///
    /// # Errors
    /// [`Error::Schema`] when the input's last column is not `$op` (Int8), a column index is
    /// out of range (or names `$op`), a partition or sort column has a type that cannot be
    /// hashed or ordered, or a column cannot be row-encoded.
    pub fn output_schema(&self, input: &Schema) -> Result<SchemaRef> {
        let fields = input.fields();
        let has_op = fields
            .last()
            .is_some_and(|f| f.name() == OP_COLUMN && f.data_type() == &DataType::Int8);
        if !has_op {
            return Err(Error::Schema(format!(
                "{NAME}: the input must be an updating stream ending with the '{OP_COLUMN}' \
                 column (Int8), but it has [{}]",
                crate::batch::column_names(input)
            )));
        }
        let usable = fields.len() - 1;
        check_keys(&self.partition, &self.order, input, usable, NAME)?;
        if !RowConverter::supports_fields(&whole_row_fields(&fields[..usable])) {
            return Err(Error::Schema(format!(
                "{NAME}: a column of [{}] has a type whose rows cannot be compared",
                crate::batch::column_names(input)
            )));
        }
        let mut out: Vec<Arc<Field>> = fields[..usable].to_vec();
        if self.emit_rank {
            out.push(Arc::new(Field::new(RANK_COLUMN, DataType::Int64, false)));
        }
        out.push(Arc::new(Field::new(OP_COLUMN, DataType::Int8, false)));
        Ok(Arc::new(Schema::new(out)))
    }

    /// Retractions so far of rows that their partition did not hold (ignored, as Flink
    /// ignores them).
    pub fn unmatched_retractions(&self) -> u64 {
        self.unmatched
    }

    fn bind(&self, input: SchemaRef) -> Result<Bound> {
        let output = self.output_schema(&input)?;
        let usable = input.fields().len() - 1;
        let data = Arc::new(Schema::new(input.fields()[..usable].to_vec()));
        let keys = RowConverter::new(sort_fields(&self.order, &input))?;
        let rows = RowConverter::new(whole_row_fields(data.fields()))?;
        let parser = rows.parser();
        let partition_types: Vec<DataType> = self
            .partition
            .iter()
            .map(|&i| input.field(i).data_type().clone())
            .collect();
        Ok(Bound {
            input,
            data,
            output,
            keys,
            rows,
            parser,
            hasher: ahash::RandomState::new(),
            parts: Partitions::new(&partition_types)?,
            local_of: Vec::new(),
        })
    }

    /// The bound state, binding on `schema` (an input schema, `$op` last) when unbound.
    fn bound_or_bind(&mut self, schema: impl FnOnce() -> SchemaRef) -> Result<&mut Bound> {
        if self.bound.is_none() {
            self.bound = Some(self.bind(schema())?);
        }
        self.bound
            .as_mut()
            .ok_or_else(|| Error::Internal(format!("{NAME}: input schema not bound")))
    }

    /// Apply one changelog batch and emit the changes of the touched partitions.
    fn apply(&mut self, batch: &RecordBatch, out: &mut Output) -> Result<()> {
        if let Some(b) = &self.bound {
            check_schema(&b.input, batch)?;
        }
        let n = batch.num_rows();
        let pcols = super::columns(batch, &self.partition);
        let scols = super::sort_columns(&self.order, batch);
        let (limit, emit_rank, base) = (self.limit, self.emit_rank, self.next_seq);
        let mut ids = std::mem::take(&mut self.ids);
        let b = self.bound_or_bind(|| batch.schema())?;
        let last = batch.num_columns() - 1;
        let ops = op_codes(batch, last)?;
        let keys = b.keys.convert_columns(&scols)?;
        let rows = b.rows.convert_columns(&batch.columns()[..last])?;
        b.parts.intern(&pcols, n, &mut ids)?;
        if b.local_of.len() < b.parts.tops.len() {
            b.local_of.resize(b.parts.tops.len(), u32::MAX);
        }
        let mut before = Before::default();
        let mut unmatched = 0;
        for (i, (&g, &op)) in ids.iter().zip(ops).enumerate() {
            let part = b
                .parts
                .tops
                .get_mut(g as usize)
                .ok_or_else(|| Error::Internal(format!("{NAME}: group {g} has no rows")))?;
            let slot = &mut b.local_of[g as usize];
            let touch = |top: &[Item]| before.save(slot, g, top);
            let (key, row) = (keys.row(i).data(), rows.row(i).data());
            let hash = b.hasher.hash_one(row);
            if op == INSERT || op == UPDATE_AFTER {
                let item = Item {
                    key: key.into(),
                    seq: base + i as u64,
                    row: row.into(),
                    hash,
                };
                part.insert(limit, item, touch);
            } else if !part.retract(key, row, hash, touch) {
                unmatched += 1;
            }
        }
        for &g in &before.touched {
            b.local_of[g as usize] = u32::MAX;
        }
        let mut changes = Changes::default();
        for (l, &g) in before.touched.iter().enumerate() {
            let old: Vec<&[u8]> = before.top(l).collect();
            let new = &b.parts.tops[g as usize].top;
            changes.diff(&old, new, emit_rank);
        }
        if !changes.rows.is_empty() {
            out.emit(b.build(changes, emit_rank)?);
        }
        self.ids = ids;
        self.unmatched += unmatched;
        self.next_seq = base + n as u64;
        Ok(())
    }

    /// Load restored rows (every input column but `$op`) with their arrival sequences.
    fn load(&mut self, data: &RecordBatch, seqs: &UInt64Array) -> Result<()> {
        let n = data.num_rows();
        if n == 0 {
            return Ok(());
        }
        if let Some(b) = &self.bound {
            check_schema(&b.data, data)?;
        }
        let pcols = super::columns(data, &self.partition);
        let scols = super::sort_columns(&self.order, data);
        let limit = self.limit;
        let mut ids = std::mem::take(&mut self.ids);
        let b = self.bound_or_bind(|| {
            let mut fields: Vec<Arc<Field>> = data.schema().fields().iter().cloned().collect();
            fields.push(Arc::new(Field::new(OP_COLUMN, DataType::Int8, false)));
            Arc::new(Schema::new(fields))
        })?;
        let keys = b.keys.convert_columns(&scols)?;
        let rows = b.rows.convert_columns(data.columns())?;
        b.parts.intern(&pcols, n, &mut ids)?;
        for (i, (&g, &seq)) in ids.iter().zip(seqs.values()).enumerate() {
            let part = b
                .parts
                .tops
                .get_mut(g as usize)
                .ok_or_else(|| Error::Internal(format!("{NAME}: group {g} has no rows")))?;
            let row = rows.row(i).data();
            let item = Item {
                key: keys.row(i).data().into(),
                seq,
                row: row.into(),
                hash: b.hasher.hash_one(row),
            };
            part.insert(limit, item, |_| {});
        }
        let max_seq = seqs.values().iter().copied().max().unwrap_or(0);
        self.next_seq = self.next_seq.max(max_seq.saturating_add(1));
        self.ids = ids;
        Ok(())
    }
}

/// Whole-row encoding of `fields` (for equality and decoding only: default sort options).
fn whole_row_fields(fields: &[Arc<Field>]) -> Vec<SortField> {
    fields
        .iter()
        .map(|f| SortField::new(f.data_type().clone()))
        .collect()
}

/// The row kinds of an updating batch (column `last`, Int8 after the schema check).
fn op_codes(batch: &RecordBatch, last: usize) -> Result<&[i8]> {
    let ops = batch
        .column(last)
        .as_primitive_opt::<Int8Type>()
        .ok_or_else(|| Error::Internal(format!("{NAME}: '{OP_COLUMN}' is not Int8")))?;
    let bad = ops
        .values()
        .iter()
        .filter(|o| !(0..=3).contains(*o))
        .count();
    if ops.null_count() > 0 || bad > 0 {
        return Err(Error::Data {
            location: Location {
                source: "retractable rank operator".into(),
                line: None,
                column: Some(OP_COLUMN.into()),
            },
            detail: format!(
                "{} null and {bad} unknown row kinds (expected 0 = +I, 1 = -U, 2 = +U, 3 = -D)",
                ops.null_count()
            ),
        });
    }
    Ok(ops.values())
}

/// The partitions a batch changed, in order of first change, with their top lists as they
/// were before the change (whole-row bytes, back to back).
#[derive(Default)]
struct Before {
    touched: Vec<u32>,
    bytes: Vec<u8>,
    /// Each saved row's range in `bytes`.
    rows: Vec<Range<usize>>,
    /// Per touched partition, where its rows start in `rows`.
    at: Vec<usize>,
}

impl Before {
    /// Save `top` for group `g` unless it was saved in this batch (`slot` is its marker).
    fn save(&mut self, slot: &mut u32, g: u32, top: &[Item]) {
        if *slot != u32::MAX {
            return;
        }
        *slot = self.touched.len() as u32;
        self.touched.push(g);
        self.at.push(self.rows.len());
        for e in top {
            let start = self.bytes.len();
            self.bytes.extend_from_slice(&e.row);
            self.rows.push(start..self.bytes.len());
        }
    }

    /// The saved top list of the `l`-th touched partition.
    fn top(&self, l: usize) -> impl Iterator<Item = &[u8]> + '_ {
        let end = self.at.get(l + 1).copied().unwrap_or(self.rows.len());
        self.rows[self.at[l]..end]
            .iter()
            .map(|r| &self.bytes[r.clone()])
    }
}

/// The output rows of a batch: whole-row bytes, ranks (1-based) and row kinds.
#[derive(Default)]
struct Changes<'a> {
    rows: Vec<&'a [u8]>,
    ranks: Vec<i64>,
    ops: Vec<i8>,
}

impl<'a> Changes<'a> {
    fn push(&mut self, row: &'a [u8], rank: usize, op: i8) {
        self.rows.push(row);
        self.ranks.push(rank as i64 + 1);
        self.ops.push(op);
    }

    /// Append the changelog of one partition (top list `old` before the batch, `new`
    /// after): retractions first, then additions.
    fn diff(&mut self, old: &[&'a [u8]], new: &'a [Item], emit_rank: bool) {
        if emit_rank {
            let len = old.len().max(new.len());
            let at = |r: usize| (old.get(r).copied(), new.get(r).map(|n| n.row.as_ref()));
            for r in 0..len {
                match at(r) {
                    (Some(o), Some(n)) if o != n => self.push(o, r, UPDATE_BEFORE),
                    (Some(o), None) => self.push(o, r, DELETE),
                    _ => {}
                }
            }
            for r in 0..len {
                match at(r) {
                    (Some(o), Some(n)) if o != n => self.push(n, r, UPDATE_AFTER),
                    (None, Some(n)) => self.push(n, r, INSERT),
                    _ => {}
                }
            }
            return;
        }
        // Membership only: match equal rows of the two lists (≤ N each) as multisets.
        let mut by_old: Vec<usize> = (0..old.len()).collect();
        by_old.sort_unstable_by_key(|&i| old[i]);
        let mut by_new: Vec<usize> = (0..new.len()).collect();
        by_new.sort_unstable_by_key(|&j| new[j].row.as_ref());
        let mut kept_old = vec![false; old.len()];
        let mut kept_new = vec![false; new.len()];
        let (mut x, mut y) = (0, 0);
        while x < by_old.len() && y < by_new.len() {
            let (i, j) = (by_old[x], by_new[y]);
            match old[i].cmp(new[j].row.as_ref()) {
                std::cmp::Ordering::Less => x += 1,
                std::cmp::Ordering::Greater => y += 1,
                std::cmp::Ordering::Equal => {
                    kept_old[i] = true;
                    kept_new[j] = true;
                    x += 1;
                    y += 1;
                }
            }
        }
        for (r, o) in old.iter().enumerate() {
            if !kept_old[r] {
                self.push(o, r, DELETE);
            }
        }
        for (r, n) in new.iter().enumerate() {
            if !kept_new[r] {
                self.push(&n.row, r, INSERT);
            }
        }
    }
}

impl Bound {
    /// The columns of whole-row encoded `rows` (dictionary columns come back hydrated by
    /// `arrow::row` and are cast back).
    fn decode(&self, rows: &[&[u8]]) -> Result<Vec<ArrayRef>> {
        let arrays = self
            .rows
            .convert_rows(rows.iter().map(|r| self.parser.parse(r)))?;
        arrays
            .into_iter()
            .zip(self.data.fields())
            .map(|(a, f)| {
                if a.data_type() == f.data_type() {
                    Ok(a)
                } else {
                    Ok(cast(&a, f.data_type())?)
                }
            })
            .collect()
    }

    /// The output batch of `changes`, with their ranks when `emit_rank`.
    fn build(&self, changes: Changes<'_>, emit_rank: bool) -> Result<RecordBatch> {
        let mut columns = self.decode(&changes.rows)?;
        if emit_rank {
            columns.push(Arc::new(Int64Array::from(changes.ranks)));
        }
        columns.push(Arc::new(Int8Array::from(changes.ops)));
        Ok(RecordBatch::try_new(self.output.clone(), columns)?)
    }
}

impl Operator for RetractableRank {
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
        self.apply(&batch, out)
    }

    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        let Some(b) = &self.bound else {
            return Ok(state);
        };
        let total: usize = b.parts.tops.iter().map(RankedRows::len).sum();
        if total == 0 {
            return Ok(state);
        }
        let mut rows: Vec<&[u8]> = Vec::with_capacity(total);
        let mut seqs: Vec<u64> = Vec::with_capacity(total);
        for (seq, row) in b.parts.tops.iter().flat_map(RankedRows::iter) {
            rows.push(row);
            seqs.push(seq);
        }
        let columns = b.decode(&rows)?;
        let (kgs, batch) =
            snapshot::rows_table(&b.data, columns, seqs, &self.partition, ctx.max_parallelism)?;
        state.push_keyed(ROWS_TABLE, kgs, &batch)?;
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        for (data, seqs) in snapshot::restored_rows(&state, ctx)? {
            self.load(&data, &seqs)?;
        }
        Ok(())
    }
}
