//! Top-N and deduplication: Flink SQL's
//! `SELECT * FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY p ORDER BY o) AS rn FROM t)
//! WHERE rn <= N` (Flink `RankOperator` / `AppendOnlyTopNFunction`,
//! `WindowRankOperator`, and the deduplicate operators, which are Top-1 by time).
//!
//! [`Rank`] ranks an insert-only input and keeps only the top N. Over an updating input
//! (a changelog), a retraction can bring a dropped row back, so [`RetractableRank`]
//! (Flink's `RetractableTopNFunction`) keeps every row; both write the same checkpoint
//! table.
//!
//! Per partition (the `PARTITION BY` columns) [`Rank`] keeps the best `N` rows by the
//! `ORDER BY` columns; a row that cannot enter the top N is dropped at once and never
//! stored. Among rows whose sort keys are equal, the earlier arrival ranks first, unless the
//! operator is built with `new_ties_first` (Flink's deduplication "keep last row": `ORDER BY
//! time DESC`, N = 1).
//!
//! ```text
//!  batch ─▶ partition columns ─▶ GroupIndexer ─▶ group id per row
//!        └▶ ORDER BY columns ─▶ RowConverter ─▶ comparable byte key per row
//!                  │ per row, in arrival order: binary search in the group's top list
//!                  ▼ (≤ N entries of (key, arrival seq, (chunk, row)))
//!        rows that stay in a top list ─▶ `take` ─▶ one new Arrow chunk
//!                  │
//!   Updating: per touched partition, top list before vs after the batch
//!             ─▶ -U/-D then +U/+I rows, one batch (`interleave` from the chunks)
//!   Window:   on a watermark ≥ window_end - 1: the final top N of each due window,
//!             as inserts, windows in order of end; then the window's state is dropped
//! ```
//!
//! # Modes
//! - [`RankMode::Updating`] (continuous Top-N over an insert-only stream): the output is an
//!   updating stream with a trailing [`OP_COLUMN`] (`$op`, Int8, Flink RowKind codes 0 = +I,
//!   1 = -U, 2 = +U, 3 = -D). Each input batch is one mini-batch: for every partition it
//!   changed, the top list before the batch is compared with the one after. With the rank
//!   column, each rank position whose row changed emits `-U old` / `+U new` (or `+I` for a
//!   newly filled position); without it, rows that left the top N emit `-D` and rows that
//!   entered emit `+I` (a row that only moved emits nothing). A row that entered and left
//!   within one batch emits nothing. Retractions of a partition precede its additions;
//!   partitions appear in order of their first change in the batch. Watermarks pass
//!   through; nothing is late.
//! - [`RankMode::Window`] (window Top-N): rows are ranked per partition *and* window (the
//!   `window_end` column) and buffered until the watermark reaches `window_end - 1`; then the
//!   window's final top N is emitted as insert-only rows (no `$op`), one batch per window
//!   in order of window end (partitions in order of first arrival, rows in rank order),
//!   before the watermark is forwarded. Rows of a window whose `window_end - 1` is at or
//!   below the current watermark are late: counted in `late_dropped` and dropped. At the
//!   end of input every window left fires.
//!
//! # State and cost
//! Retained rows (at most `N` per partition, per window in window mode) live in Arrow chunks
//! with every input column; the top lists hold only the encoded sort key, an arrival
//! sequence number and the row's `(chunk, row)`. Per input row: one key encoding and a
//! binary search in a list of ≤ N entries (plus an insert when the row enters). Per batch:
//! one `take` of the surviving rows and one `interleave` for the output. Dead rows are
//! compacted once they outnumber live ones, `O(live rows)` amortized over as many deaths.
//!
//! # Checkpoints
//! On a barrier the retained rows go into one keyed table (`"rows"`: every input column,
//! then `__seq`, the arrival sequence), in rank order per partition, filed by the key group
//! of the partition columns (computed like the hash exchange routes them; without partition
//! columns everything is filed under key group 0 and restored by the subtask owning it).
//! A restore keeps the rows of the key groups this subtask owns and rebuilds the top lists
//! from them, so the output continues exactly as an uninterrupted run's. Nothing is emitted
//! on a barrier.

mod exec;
mod ranked;
mod retract;
mod snapshot;
mod store;

#[cfg(test)]
mod retract_tests;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

pub use self::retract::RetractableRank;

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef};
use arrow::compute::SortOptions;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, SortField};

use self::store::{Entry, Partitions, Ranking, Store};
use super::{OpContext, Operator, Output};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::time::Watermark;

/// Name of the changelog column of an updating stream (Int8, Flink RowKind codes).
pub const OP_COLUMN: &str = "$op";
/// Name of the row-number column ([`Rank`] built with `emit_rank`).
pub const RANK_COLUMN: &str = "rank";

/// RowKind codes of [`OP_COLUMN`].
const INSERT: i8 = 0;
const UPDATE_BEFORE: i8 = 1;
const UPDATE_AFTER: i8 = 2;
const DELETE: i8 = 3;

/// Name of the keyed state table of retained rows.
const ROWS_TABLE: &str = "rows";
/// Name of the arrival sequence column of [`ROWS_TABLE`].
const SEQ_COLUMN: &str = "__seq";

/// One column of the `ORDER BY`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SortKey {
    /// Input column index.
    pub column: usize,
    /// Largest first (`DESC`).
    pub descending: bool,
    /// Nulls before every value (independent of `descending`, as arrow's `SortOptions`).
    pub nulls_first: bool,
}

/// When and how a [`Rank`] emits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RankMode {
    /// Continuous Top-N over an insert-only input: updating output.
    Updating,
    /// Window Top-N: `window_end` is the input column (Timestamp ms) of the window end; rows
    /// are buffered per partition until the watermark reaches `window_end - 1`, then the
    /// final top N of that window is emitted as inserts (no `$op` column) and its state
    /// dropped; rows arriving for a window whose `end - 1 <= current watermark` are late and
    /// dropped (counted in `late_dropped`).
    Window {
        /// Input column index of the window end.
        window_end: usize,
    },
}

/// The Top-N / deduplication operator (see the [module docs](self)).
///
/// # Example
/// ```
/// use millstream_core::operator::rank::{Rank, RankMode, SortKey};
/// // Top 3 bids per auction by price: PARTITION BY column 0 ORDER BY column 2 DESC.
/// let order = vec![SortKey { column: 2, descending: true, nulls_first: false }];
/// let _op = Rank::new(vec![0], order, 3, true, false, RankMode::Updating)?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct Rank {
    partition: Vec<usize>,
    order: Vec<SortKey>,
    ranking: Ranking,
    emit_rank: bool,
    mode: RankMode,
    bound: Option<Bound>,
    /// Arrival sequence of the next input row.
    next_seq: u64,
    /// Scratch: group ids of a batch.
    ids: Vec<u32>,
}

/// What a [`Rank`] learns from its input schema (first batch or restored state).
struct Bound {
    input: SchemaRef,
    output: SchemaRef,
    converter: RowConverter,
    partition_types: Vec<DataType>,
    emit_rank: bool,
    store: Store,
    scopes: Scopes,
    /// Scratch: group id -> first-touch marker of the current batch (`u32::MAX`: untouched).
    local_of: Vec<u32>,
}

/// The partitions of the whole stream, or of every open window by window end.
enum Scopes {
    Updating(Partitions),
    Window(BTreeMap<i64, Partitions>),
}

impl Scopes {
    /// Call `f` on every retained entry: windows by end, groups by id, entries in rank
    /// order (the order compaction and snapshots write rows in).
    fn for_each_entry(&mut self, mut f: impl FnMut(&mut Entry)) {
        match self {
            Scopes::Updating(p) => p.tops.iter_mut().flatten().for_each(&mut f),
            Scopes::Window(w) => w
                .values_mut()
                .flat_map(|p| p.tops.iter_mut().flatten())
                .for_each(f),
        }
    }
}

impl Rank {
    /// partition: input column indices (may be empty = one partition); order: the ORDER BY;
    /// limit: N of `rn <= N` (≥ 1); emit_rank: whether the output carries the row number as
    /// an Int64 column; new_ties_first: when a new row compares EQUAL to a kept row, the new
    /// row ranks ahead of it (true for Flink's deduplication "keep last row", i.e. ORDER BY
    /// time DESC with N = 1; false for Top-N and "keep first row", where among equal sort
    /// keys earlier rows rank first).
    ///
    /// # Errors
    /// [`Error::Plan`] for `limit == 0` or an empty `order`. Column indices and types are
    /// checked against the input schema ([`Rank::output_schema`]).
    pub fn new(
        partition: Vec<usize>,
        order: Vec<SortKey>,
        limit: usize,
        emit_rank: bool,
        new_ties_first: bool,
        mode: RankMode,
    ) -> Result<Self> {
        if limit == 0 {
            return Err(Error::Plan(
                "rank: the row-number limit (rn <= N) must be at least 1".into(),
            ));
        }
        if order.is_empty() {
            return Err(Error::Plan(
                "rank: ROW_NUMBER() needs an ORDER BY column".into(),
            ));
        }
        Ok(Rank {
            partition,
            order,
            ranking: Ranking {
                limit,
                new_ties_first,
            },
            emit_rank,
            mode,
            bound: None,
            next_seq: 0,
            ids: Vec::new(),
        })
    }

    /// Output schema for an input schema: every input column, then `rank` Int64 non-null if
    /// emit_rank, then `$op` Int8 non-null in Updating mode.
    ///
    /// # Errors
    /// [`Error::Schema`] when a column index is out of range, the input already has a `$op`
    /// column (it must be insert-only), the window end column is not milliseconds, or a
    /// partition or sort column has a type that cannot be hashed or ordered.
    pub fn output_schema(&self, input: &Schema) -> Result<SchemaRef> {
        let n = input.fields().len();
        check_keys(&self.partition, &self.order, input, n, "rank")?;
        if let RankMode::Window { window_end } = self.mode {
            check_index(input, window_end, n, "rank", "window end")?;
            let f = input.field(window_end);
            if !matches!(
                f.data_type(),
                DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, _)
            ) {
                return Err(Error::Schema(format!(
                    "rank: window end column '{}' must be TIMESTAMP(3) or BIGINT milliseconds, got {}",
                    f.name(),
                    f.data_type()
                )));
            }
        }
        if input.fields().iter().any(|f| f.name() == OP_COLUMN) {
            return Err(Error::Schema(format!(
                "rank: the input must be insert-only, but it has a '{OP_COLUMN}' column \
                 (an updating input needs a RetractableRank)"
            )));
        }
        let mut fields: Vec<Arc<Field>> = input.fields().iter().cloned().collect();
        if self.emit_rank {
            fields.push(Arc::new(Field::new(RANK_COLUMN, DataType::Int64, false)));
        }
        if self.mode == RankMode::Updating {
            fields.push(Arc::new(Field::new(OP_COLUMN, DataType::Int8, false)));
        }
        Ok(Arc::new(Schema::new(fields)))
    }

    fn bind(&self, input: SchemaRef) -> Result<Bound> {
        let output = self.output_schema(&input)?;
        let converter = RowConverter::new(sort_fields(&self.order, &input))?;
        let partition_types: Vec<DataType> = self
            .partition
            .iter()
            .map(|&i| input.field(i).data_type().clone())
            .collect();
        let scopes = match self.mode {
            RankMode::Updating => Scopes::Updating(Partitions::new(&partition_types)?),
            RankMode::Window { .. } => Scopes::Window(BTreeMap::new()),
        };
        Ok(Bound {
            input,
            output,
            converter,
            partition_types,
            emit_rank: self.emit_rank,
            store: Store::default(),
            scopes,
            local_of: Vec::new(),
        })
    }

    /// Bind on the first schema seen; check later batches against it. Column indices are
    /// valid for `batch` after this (never panic in indexing, the row encoding or
    /// `interleave` on a changed schema).
    fn check_input(&mut self, batch: &RecordBatch) -> Result<()> {
        match &self.bound {
            Some(b) => check_schema(&b.input, batch),
            None => {
                self.bound = Some(self.bind(batch.schema())?);
                Ok(())
            }
        }
    }

    /// The bound state (after [`Rank::check_input`]).
    fn bound_mut(&mut self) -> Result<&mut Bound> {
        self.bound
            .as_mut()
            .ok_or_else(|| Error::Internal("rank: input schema not bound".into()))
    }
}

/// The `arrow::row` fields that encode `order` over `input` (byte order = rank order).
fn sort_fields(order: &[SortKey], input: &Schema) -> Vec<SortField> {
    order
        .iter()
        .map(|k| {
            SortField::new_with_options(
                input.field(k.column).data_type().clone(),
                SortOptions {
                    descending: k.descending,
                    nulls_first: k.nulls_first,
                },
            )
        })
        .collect()
}

/// Checks that column `i` is one of the first `usable` columns of `input`.
fn check_index(input: &Schema, i: usize, usable: usize, op: &str, what: &str) -> Result<()> {
    if i < usable {
        return Ok(());
    }
    Err(Error::Schema(format!(
        "{op}: {what} column index {i} is out of range for an input of {usable} columns [{}]",
        crate::batch::column_names(input)
    )))
}

/// Checks the partition and ORDER BY columns against `input`, of which the first `usable`
/// columns are data: in range, partition columns hashable, sort columns orderable.
fn check_keys(
    partition: &[usize],
    order: &[SortKey],
    input: &Schema,
    usable: usize,
    op: &str,
) -> Result<()> {
    for &p in partition {
        check_index(input, p, usable, op, "partition")?;
        let t = input.field(p).data_type();
        if !millstream_kernels::hash::is_hashable(t) {
            return Err(Error::Schema(format!(
                "{op}: partition column '{}' of type {t} cannot be hashed",
                input.field(p).name()
            )));
        }
    }
    for k in order {
        check_index(input, k.column, usable, op, "ORDER BY")?;
    }
    if !RowConverter::supports_fields(&sort_fields(order, input)) {
        return Err(Error::Schema(format!(
            "{op}: an ORDER BY column has a type that cannot be ordered"
        )));
    }
    Ok(())
}

/// Checks that `batch` has the bound input's column types, and no nulls where the bound
/// schema promises none.
fn check_schema(input: &SchemaRef, batch: &RecordBatch) -> Result<()> {
    let schema = batch.schema();
    if Arc::ptr_eq(input, &schema) {
        return Ok(());
    }
    let same_types = input.fields().len() == schema.fields().len()
        && input
            .fields()
            .iter()
            .zip(schema.fields())
            .all(|(a, b)| a.data_type() == b.data_type());
    if !same_types {
        return Err(Error::Schema(format!(
            "rank: input columns [{}] differ from those of the first input [{}]",
            crate::batch::column_names(&schema),
            crate::batch::column_names(input)
        )));
    }
    if let Some(f) = input
        .fields()
        .iter()
        .zip(batch.columns())
        .find(|(f, c)| !f.is_nullable() && c.null_count() > 0)
        .map(|(f, _)| f)
    {
        return Err(Error::Schema(format!(
            "rank: column '{}' was declared NOT NULL by the first input but now holds nulls",
            f.name()
        )));
    }
    Ok(())
}

impl Operator for Rank {
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
        match self.mode {
            RankMode::Updating => self.batch_updating(&batch, out),
            RankMode::Window { window_end } => self.batch_window(&batch, window_end, ctx),
        }
    }

    fn on_watermark(
        &mut self,
        wm: Watermark,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if matches!(self.mode, RankMode::Window { .. }) {
            self.fire(Some(wm.0), out)?;
        }
        out.emit_watermark(wm);
        Ok(())
    }

    fn on_end(&mut self, _ctx: &mut OpContext, out: &mut Output) -> Result<()> {
        if matches!(self.mode, RankMode::Window { .. }) {
            self.fire(None, out)?;
        }
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        if let Some((kgs, rows)) = self.retained(ctx.max_parallelism)? {
            state.push_keyed(ROWS_TABLE, kgs, &rows)?;
        }
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        for (data, seqs) in snapshot::restored_rows(&state, ctx)? {
            self.load(data, &seqs)?;
        }
        Ok(())
    }
}

/// The columns `idx` of `batch` (shared, not copied).
pub(super) fn columns(batch: &RecordBatch, idx: &[usize]) -> Vec<ArrayRef> {
    idx.iter().map(|&i| batch.column(i).clone()).collect()
}

/// The sort-key columns of `batch`, in `order`.
pub(super) fn sort_columns(order: &[SortKey], batch: &RecordBatch) -> Vec<ArrayRef> {
    order
        .iter()
        .map(|k| batch.column(k.column).clone())
        .collect()
}
