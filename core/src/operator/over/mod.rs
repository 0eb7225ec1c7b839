//! OVER aggregations in event time (and, with
//! [`OverAggregate::with_processing_time`], in processing time): Flink SQL's
//! `SELECT k, ts, SUM(x) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND
//! CURRENT ROW) FROM t` (Flink `RowTimeRowsBoundedPrecedingFunction`,
//! `RowTimeRangeBoundedPrecedingFunction` and their unbounded variants).
//!
//! **Processing time.** With an `ORDER BY` on a processing-time attribute, each batch is
//! stamped with the operator's clock when it arrives and processed at once (no watermark,
//! nothing late), so frames follow arrival order. Two batches stamped in the same
//! millisecond are processed one after the other: for a `RANGE` frame the first does not see
//! the second as a peer (Flink fires a millisecond's rows together on a timer). The rest of
//! this section describes event time.
//!
//! **Semantics.** The `ORDER BY` is an event-time column (ms), ascending. Every input row
//! that is not late produces exactly one output row (insert-only): its own columns, then one
//! column per aggregate ([`OverCall`]) computed over the row's *frame* within its partition
//! (the `PARTITION BY` columns; none = one partition). Rows wait until the watermark passes
//! their time (`ts <= watermark`) and are then processed per partition in `(ts, arrival)`
//! order. Frames ([`OverFrame`]):
//! - `ROWS BETWEEN n PRECEDING AND CURRENT ROW` / `UNBOUNDED PRECEDING`: the row and the `n`
//!   (or all) rows before it in that order;
//! - `RANGE BETWEEN INTERVAL 'd' PRECEDING AND CURRENT ROW` / `UNBOUNDED PRECEDING`: every
//!   row of the partition with `ts` in `[row.ts - d, row.ts]`, peers (equal `ts`) included,
//!   so peers get equal results.
//!
//! Aggregates are `millstream_kernels::agg`'s kinds with its result types
//! ([`output_type`]): `COUNT(*)`, `COUNT(x)`, `SUM`, `AVG`, `MIN`, `MAX`, `FIRST_VALUE`,
//! `LAST_VALUE`; `SUM`/`AVG`/`MIN`/`MAX` of a frame without a non-null value are null. A row
//! whose time is at or below the watermark when it arrives is late: it is dropped and counted
//! in `late_dropped` (Flink drops it too). A null event time fails the job.
//!
//! ```text
//!  batch ─▶ late rows (ts <= watermark) ─▶ dropped, counted
//!        └▶ pending batches, as they arrived (no copy)
//!                 │ on_watermark(wm): the rows with ts <= wm (filter)
//!                 ▼
//!  stable sort of row indices by ts ─▶ output order (ts, arrival)
//!  partition ids (GroupIndexer), counting sort ─▶ work layout: per touched partition
//!      [ retained rows | new rows ], input columns gathered with `interleave` (layout.rs)
//!                 │ frame [lo, hi] of every new row; one typed sliding loop per aggregate
//!                 ▼ (eval.rs: counts, retractable sums; extreme.rs: monotonic deques)
//!  one output batch: input columns (`take`/`interleave`) + aggregate arrays, then the watermark
//!                 │
//!  retained rows := the suffix of each partition's work rows inside some future frame
//! ```
//!
//! **State** (per partition id, dense from a [`GroupIndexer`] kept for the job's lifetime,
//! one id per distinct partition key): the pending input batches; for bounded frames the
//! rows still inside some future frame (`ROWS n`: the last `n`; `RANGE d`: those with
//! `ts > watermark - d`), only their time and aggregate inputs, in Arrow chunks
//! (`store.rs`); for unbounded frames only running accumulators (count, sum, and the current
//! `MIN`/`MAX`/`FIRST`/`LAST` value, which never needs retraction there).
//!
//! **Cost.** A watermark that readies `N` rows of `P` partitions holding `R` retained rows
//! costs `O(N log N)` for the sort plus `O(N + R)` per aggregate; dead retained rows are
//! compacted once they outnumber the live ones. Floating-point sums over bounded frames
//! retract (as Flink does), so they can differ from a fresh sum by rounding; infinities and
//! NaN are counted, not added, so they leave the frame cleanly.
//!
//! **Checkpoints.** Nothing is emitted on a barrier. [`Operator::snapshot`] writes the
//! pending rows (`"over_pending"`, the input columns), the retained rows (`"over_rows"`:
//! partition columns, time, aggregate inputs, partitions in id order, oldest first) and the
//! running accumulators (`"over_base"`: partition columns, then each aggregate's state
//! columns), all keyed by the key group of the partition columns (key group 0 without
//! partition columns, which subtask 0 owns), plus one non-keyed row (`"over_meta"`: input
//! schema, watermark). A restore keeps the rows of its key groups, takes the lowest
//! watermark of the old subtasks as its lateness floor, and continues exactly as an
//! uninterrupted run. (If old subtasks stood at different watermarks, a rescaled subtask
//! accepts rows above the lowest one; the others' partitions may then have expired rows
//! such a row's frame would have needed.)

mod eval;
mod extreme;
mod layout;
mod snapshot;
mod store;

#[cfg(test)]
mod oracle;
#[cfg(test)]
mod snapshot_tests;
#[cfg(test)]
mod tests;

use arrow::array::{Array, ArrayRef, BooleanArray, UInt32Array};
use arrow::compute::{filter_record_batch, interleave, take};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::record_batch::RecordBatch;
use millstream_kernels::agg::{output_type, AggKind};
use millstream_kernels::group::GroupIndexer;

use self::eval::{evaluate, Base, BoundCall};
use self::layout::{Layout, NewRows};
use self::store::RowStore;
use super::{OpContext, Operator, Output};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Location, Result};
use crate::time::Watermark;

/// The frame of an OVER aggregate, always ending at the current row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OverFrame {
    /// `ROWS BETWEEN n PRECEDING AND CURRENT ROW` (`None`: `UNBOUNDED PRECEDING`).
    Rows {
        /// Rows before the current one (`None` = unbounded).
        preceding: Option<u64>,
    },
    /// `RANGE BETWEEN INTERVAL 'd' PRECEDING AND CURRENT ROW` (`None`: `UNBOUNDED
    /// PRECEDING`): rows with `ts` in `[row.ts - d, row.ts]`.
    Range {
        /// `d` in milliseconds (`None` = unbounded).
        preceding_ms: Option<i64>,
    },
}

impl OverFrame {
    /// Whether the frame starts at the partition's first row.
    fn is_unbounded(self) -> bool {
        matches!(
            self,
            OverFrame::Rows { preceding: None } | OverFrame::Range { preceding_ms: None }
        )
    }
}

/// One aggregate of an OVER clause.
#[derive(Debug, Clone)]
pub struct OverCall {
    /// The function.
    pub kind: AggKind,
    /// The input column index (`None` only for `COUNT(*)`, [`AggKind::Count`]).
    pub input: Option<usize>,
    /// The output column name.
    pub name: String,
}

/// Input rows waiting for the watermark, with their time range.
#[derive(Debug)]
struct Pending {
    batch: RecordBatch,
    min_ts: i64,
    max_ts: i64,
}

/// The runtime operator of `AGG(..) OVER (PARTITION BY .. ORDER BY ts <frame>)` in event
/// time; see the [module docs](self).
///
/// # Example
/// ```
/// use millstream_core::operator::over::{OverAggregate, OverCall, OverFrame};
/// use millstream_kernels::agg::AggKind;
/// // SUM(v) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND CURRENT ROW)
/// // over input columns (ts, k, v)
/// let _op = OverAggregate::new(
///     vec![1],
///     0,
///     OverFrame::Rows { preceding: Some(2) },
///     vec![OverCall { kind: AggKind::Sum, input: Some(2), name: "s".into() }],
/// )?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct OverAggregate {
    partition: Vec<usize>,
    time: usize,
    frame: OverFrame,
    calls: Vec<OverCall>,
    bound: Option<Bound>,
    pending: Vec<Pending>,
    /// The highest watermark processed (or the restored floor): rows at or below are late.
    /// In processing time: the latest time stamped on rows.
    watermark: i64,
    /// Processing time: rows are stamped with the wall clock on arrival and processed at
    /// once, in arrival order (see [`OverAggregate::with_processing_time`]).
    processing_time: bool,
}

/// What the operator learns from the input schema, and its per-partition state.
struct Bound {
    input: SchemaRef,
    output: SchemaRef,
    partition: Vec<usize>,
    time: usize,
    frame: OverFrame,
    /// `None` without partition columns: every row is in partition 0.
    groups: Option<GroupIndexer>,
    /// Partition ids handed out.
    partitions: usize,
    /// The distinct input columns of the aggregates (work columns `1..` of the row store).
    inputs: Vec<usize>,
    calls: Vec<BoundCall>,
    rows: RowStore,
    bases: Vec<Base>,
    ids: Vec<u32>,
    local_of: Vec<u32>,
}

impl OverAggregate {
    /// An OVER aggregate. `partition`: input column indices (may be empty); `time`: the
    /// input column (`TIMESTAMP(3)` or `BIGINT` ms) of the `ORDER BY`; `frame`; `calls`: the
    /// aggregates, all over the same frame.
    ///
    /// # Errors
    /// [`Error::Plan`] for no aggregate, an aggregate other than `COUNT(*)` without an input
    /// column, or a negative `RANGE` interval. Types are checked against the input schema
    /// by [`OverAggregate::output_schema`] and on the first batch.
    pub fn new(
        partition: Vec<usize>,
        time: usize,
        frame: OverFrame,
        calls: Vec<OverCall>,
    ) -> Result<Self> {
        if calls.is_empty() {
            return Err(Error::Plan("over aggregate: no aggregate function".into()));
        }
        if let Some(c) = calls
            .iter()
            .find(|c| c.input.is_none() && c.kind != AggKind::Count)
        {
            return Err(Error::Plan(format!(
                "over aggregate: {}(...) for '{}' needs an input column",
                c.kind.sql_name(),
                c.name
            )));
        }
        if let OverFrame::Range {
            preceding_ms: Some(d),
        } = frame
        {
            if d < 0 {
                return Err(Error::Plan(format!(
                    "over aggregate: RANGE interval must not be negative, got {d} ms"
                )));
            }
        }
        Ok(OverAggregate {
            partition,
            time,
            frame,
            calls,
            bound: None,
            pending: Vec::new(),
            watermark: i64::MIN,
            processing_time: false,
        })
    }

    /// Orders by processing time instead (Flink's `ProcTimeRowsBoundedPrecedingFunction`
    /// and its `RANGE` and unbounded variants): each batch is stamped, on arrival, with the
    /// operator's wall clock in ms (never below the previous stamp), which replaces the
    /// `time` column's values, and is processed at once; watermarks pass through. `ROWS`
    /// frames are then the rows that arrived before in the partition; `RANGE` frames the
    /// rows stamped within the interval, a batch's rows being peers.
    pub fn with_processing_time(mut self) -> Self {
        self.processing_time = true;
        self
    }

    /// The output schema for `input`: every input field, then one nullable field per call
    /// (named `call.name`, typed as [`output_type`]).
    ///
    /// # Errors
    /// [`Error::Plan`] for a column index out of range or an aggregate that does not
    /// support its input type; [`Error::Schema`] for a time column that is not milliseconds.
    pub fn output_schema(&self, input: &Schema) -> Result<SchemaRef> {
        let n = input.fields().len();
        let field = |i: usize, what: &str| {
            input.fields().get(i).ok_or_else(|| {
                Error::Plan(format!(
                    "over aggregate: {what} column {i} out of range ({n} input columns)"
                ))
            })
        };
        for &p in &self.partition {
            field(p, "partition")?;
        }
        let time = field(self.time, "time")?;
        match time.data_type() {
            DataType::Int64 | DataType::Timestamp(TimeUnit::Millisecond, _) => {}
            other => {
                return Err(Error::Schema(format!(
                    "over aggregate: ORDER BY column '{}' must be TIMESTAMP(3) or BIGINT ms, got {other}",
                    time.name()
                )))
            }
        }
        let mut fields: Vec<Field> = input.fields().iter().map(|f| f.as_ref().clone()).collect();
        for c in &self.calls {
            let input_type = c
                .input
                .map(|i| field(i, "aggregate input").map(|f| f.data_type().clone()))
                .transpose()?;
            let out = output_type(c.kind, input_type.as_ref()).map_err(|e| {
                Error::Plan(format!(
                    "over aggregate: {}(...) for '{}': {e}",
                    c.kind.sql_name(),
                    c.name
                ))
            })?;
            fields.push(Field::new(&c.name, out, true));
        }
        Ok(std::sync::Arc::new(Schema::new_with_metadata(
            fields,
            input.metadata().clone(),
        )))
    }

    /// Rows waiting for the watermark.
    pub fn pending_rows(&self) -> usize {
        self.pending.iter().map(|p| p.batch.num_rows()).sum()
    }

    /// Rows retained for future frames (bounded frames).
    pub fn retained_rows(&self) -> usize {
        self.bound.as_ref().map_or(0, |b| b.rows.live())
    }

    fn bind(&self, input: &SchemaRef) -> Result<Bound> {
        let output = self.output_schema(input)?;
        let groups = if self.partition.is_empty() {
            None
        } else {
            let types: Vec<DataType> = self
                .partition
                .iter()
                .map(|&i| input.field(i).data_type().clone())
                .collect();
            Some(GroupIndexer::new(&types)?)
        };
        let mut inputs: Vec<usize> = Vec::new();
        let mut calls = Vec::with_capacity(self.calls.len());
        for c in &self.calls {
            let input_type = c.input.map(|i| input.field(i).data_type().clone());
            let slot = match (c.kind, c.input) {
                (AggKind::Count, _) | (_, None) => None,
                (_, Some(i)) => Some(inputs.iter().position(|&x| x == i).unwrap_or_else(|| {
                    inputs.push(i);
                    inputs.len() - 1
                })),
            };
            calls.push(BoundCall {
                kind: c.kind,
                slot,
                output_type: output_type(c.kind, input_type.as_ref())?,
                input_type,
            });
        }
        let unbounded = self.frame.is_unbounded();
        let bases = calls
            .iter()
            .map(|c| Base::new(c, unbounded))
            .collect::<Result<Vec<_>>>()?;
        Ok(Bound {
            input: input.clone(),
            output,
            partition: self.partition.clone(),
            time: self.time,
            frame: self.frame,
            groups,
            partitions: 0,
            inputs,
            calls,
            rows: RowStore::default(),
            bases,
            ids: Vec::new(),
            local_of: Vec::new(),
        })
    }

    /// The bound state, binding to `schema` first if needed, or checking `schema` against it.
    fn bound_for(&mut self, schema: &SchemaRef) -> Result<&mut Bound> {
        if self.bound.is_none() {
            self.bound = Some(self.bind(schema)?);
        }
        let b = self
            .bound
            .as_mut()
            .ok_or_else(|| Error::Internal("over aggregate: not bound".into()))?;
        let same = b.input.fields().len() == schema.fields().len()
            && b.input
                .fields()
                .iter()
                .zip(schema.fields())
                .all(|(a, c)| a.data_type() == c.data_type());
        if !same {
            return Err(Error::Schema(format!(
                "over aggregate: batch schema {schema:?} differs from the first batch's {:?}",
                b.input
            )));
        }
        Ok(b)
    }

    /// Processes the pending rows with `ts <= wm` and emits their results as one batch.
    fn advance(&mut self, wm: i64, out: &mut Output) -> Result<()> {
        let mut ready = Vec::new();
        for p in std::mem::take(&mut self.pending) {
            if p.max_ts <= wm {
                ready.push(p.batch);
            } else if p.min_ts > wm {
                self.pending.push(p);
            } else {
                let ts = event_times(&p.batch, self.time)?;
                let mask: BooleanArray = ts.iter().map(|&t| Some(t <= wm)).collect();
                ready.push(filter_record_batch(&p.batch, &mask)?);
                let rest = filter_record_batch(&p.batch, &arrow::compute::not(&mask)?)?;
                self.pending.push(Pending::new(rest, self.time)?);
            }
        }
        if ready.is_empty() {
            return Ok(());
        }
        let bound = self
            .bound
            .as_mut()
            .ok_or_else(|| Error::Internal("over aggregate: rows pending but not bound".into()))?;
        out.emit(bound.process(&ready, wm)?);
        Ok(())
    }
}

impl Pending {
    fn new(batch: RecordBatch, time: usize) -> Result<Pending> {
        let ts = event_times(&batch, time)?;
        let min_ts = ts.iter().copied().min().unwrap_or(i64::MAX);
        let max_ts = ts.iter().copied().max().unwrap_or(i64::MIN);
        Ok(Pending {
            batch,
            min_ts,
            max_ts,
        })
    }
}

/// `batch` with every value of column `idx` set to `ms` (in the column's type).
fn stamp(batch: RecordBatch, idx: usize, ms: i64) -> Result<RecordBatch> {
    let mut columns = batch.columns().to_vec();
    let Some(col) = columns.get(idx) else {
        return Err(Error::Schema(format!(
            "over aggregate: no time column {idx} in the batch"
        )));
    };
    let stamped = arrow::array::Int64Array::from(vec![ms; batch.num_rows()]);
    columns[idx] = arrow::compute::cast(&stamped, col.data_type())?;
    Ok(RecordBatch::try_new(batch.schema(), columns)?)
}

/// The event times of column `idx` of `batch` as raw ms, no copy.
///
/// # Errors
/// A null event time (Flink fails on a null rowtime too), or a type that is not ms.
fn event_times(batch: &RecordBatch, idx: usize) -> Result<&[i64]> {
    let col = batch.columns().get(idx).ok_or_else(|| {
        Error::Schema(format!("over aggregate: no time column {idx} in the batch"))
    })?;
    if col.null_count() > 0 {
        return Err(Error::Data {
            location: Location {
                source: "over aggregate".into(),
                line: None,
                column: Some(batch.schema().field(idx).name().clone()),
            },
            detail: format!("{} rows have a null event time", col.null_count()),
        });
    }
    Ok(millstream_kernels::as_i64_values(col)?)
}

impl Bound {
    /// Partition ids of `batch`'s rows, appended to `pids`.
    fn intern(&mut self, keys: &[ArrayRef], rows: usize, pids: &mut Vec<u32>) -> Result<()> {
        match self.groups.as_mut() {
            Some(g) => {
                g.intern(keys, &mut self.ids)?;
                pids.extend_from_slice(&self.ids);
                self.partitions = g.num_groups();
            }
            None => {
                pids.resize(pids.len() + rows, 0);
                if rows > 0 {
                    self.partitions = 1;
                }
            }
        }
        Ok(())
    }

    /// Rows with `ts <= expired_to` are in no future frame (bounded `RANGE` only).
    fn expired_to(&self, wm: i64) -> Option<i64> {
        match self.frame {
            OverFrame::Range {
                preceding_ms: Some(d),
            } => Some(wm.saturating_sub(d)),
            _ => None,
        }
    }

    /// One processing step: the `ready` batches (every row has `ts <= wm`) become one
    /// output batch, and the state moves to watermark `wm`.
    fn process(&mut self, ready: &[RecordBatch], wm: i64) -> Result<RecordBatch> {
        let n: usize = ready.iter().map(RecordBatch::num_rows).sum();
        let mut ts: Vec<i64> = Vec::with_capacity(n);
        let mut pids: Vec<u32> = Vec::with_capacity(n);
        let mut at: Vec<(usize, usize)> = Vec::with_capacity(n);
        for (b, batch) in ready.iter().enumerate() {
            ts.extend_from_slice(event_times(batch, self.time)?);
            let keys: Vec<ArrayRef> = self
                .partition
                .iter()
                .map(|&i| batch.column(i).clone())
                .collect();
            self.intern(&keys, batch.num_rows(), &mut pids)?;
            at.extend((0..batch.num_rows()).map(|r| (b, r)));
        }
        if u32::try_from(n).is_err() {
            return Err(Error::Unsupported(format!(
                "over aggregate: {n} rows ready at once (more than u32::MAX)"
            )));
        }
        // A stable sort: rows with equal times keep their arrival order.
        let mut order: Vec<u32> = (0..n as u32).collect();
        order.sort_by_key(|&i| ts[i as usize]);
        let new = NewRows {
            ts: &ts,
            pids: &pids,
            order: &order,
            at: &at,
        };
        let layout = Layout::build(
            &new,
            &self.rows,
            &mut self.local_of,
            self.partitions,
            self.frame,
        )?;
        // The aggregates' input columns in work order: retained rows, then ready rows.
        let mut work: Vec<ArrayRef> = Vec::with_capacity(self.inputs.len());
        for (slot, &col) in self.inputs.iter().enumerate() {
            let mut sources = self.rows.sources(slot + 1)?;
            sources.extend(ready.iter().map(|b| b.column(col).as_ref()));
            work.push(interleave(&sources, &layout.src)?);
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.output.fields().len());
        if let [only] = ready {
            let idx = UInt32Array::from(order);
            for c in only.columns() {
                columns.push(take(c.as_ref(), &idx, None)?);
            }
        } else {
            let pairs: Vec<(usize, usize)> = order.iter().map(|&g| at[g as usize]).collect();
            for c in 0..self.input.fields().len() {
                let sources: Vec<&dyn Array> = ready.iter().map(|b| b.column(c).as_ref()).collect();
                columns.push(interleave(&sources, &pairs)?);
            }
        }
        for (call, base) in self.calls.iter().zip(self.bases.iter_mut()) {
            base.grow(self.partitions);
            columns.push(evaluate(call, &layout, call.slot.map(|s| &work[s]), base)?);
        }
        self.retain(&layout, &work, wm)?;
        Ok(RecordBatch::try_new(self.output.clone(), columns)?)
    }

    /// Keeps, per touched partition, the suffix of its work rows that some future frame
    /// (of a row with `ts > wm`) may contain.
    fn retain(&mut self, layout: &Layout, work: &[ArrayRef], wm: i64) -> Result<()> {
        let keep: Vec<(usize, usize)> = match self.frame {
            OverFrame::Rows { preceding: Some(n) } => {
                let n = usize::try_from(n).unwrap_or(usize::MAX);
                layout
                    .segs
                    .iter()
                    .map(|s| (s.end.saturating_sub(n).max(s.start), s.end))
                    .collect()
            }
            OverFrame::Range {
                preceding_ms: Some(d),
            } => {
                let cut = wm.saturating_sub(d);
                layout
                    .segs
                    .iter()
                    .map(|s| {
                        let skip = layout.ts[s.start..s.end].partition_point(|&t| t <= cut);
                        (s.start + skip, s.end)
                    })
                    .collect()
            }
            _ => return Ok(()),
        };
        self.rows
            .replace(&layout.touched, &keep, &layout.ts, work)?;
        if self.rows.wants_compaction() {
            self.rows
                .compact(self.expired_to(wm), self.inputs.len() + 1)?;
        }
        Ok(())
    }
}

impl Operator for OverAggregate {
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
        self.bound_for(&batch.schema())?;
        if self.processing_time {
            let now = self.watermark.max(ctx.now_ms());
            let batch = stamp(batch, self.time, now)?;
            self.pending.push(Pending::new(batch, self.time)?);
            self.watermark = now;
            return self.advance(now, out);
        }
        let wm = self.watermark.max(ctx.watermark.0);
        let ts = event_times(&batch, self.time)?;
        let late = ts.iter().filter(|&&t| t <= wm).count();
        if late == 0 {
            self.pending.push(Pending::new(batch, self.time)?);
            return Ok(());
        }
        ctx.metrics.late_dropped += late as u64;
        if late < batch.num_rows() {
            let mask: BooleanArray = ts.iter().map(|&t| Some(t > wm)).collect();
            let kept = filter_record_batch(&batch, &mask)?;
            self.pending.push(Pending::new(kept, self.time)?);
        }
        Ok(())
    }

    fn on_watermark(
        &mut self,
        wm: Watermark,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if !self.processing_time {
            if !self.pending.is_empty() {
                self.advance(wm.0, out)?;
            }
            self.watermark = self.watermark.max(wm.0);
        }
        out.emit_watermark(wm);
        Ok(())
    }

    fn on_end(&mut self, _ctx: &mut OpContext, out: &mut Output) -> Result<()> {
        // Every input has ended: every pending row is ready.
        self.advance(i64::MAX, out)
    }

    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        self.snapshot_state(ctx)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        self.restore_state(&state, ctx)
    }
}
