//! Operators: the synchronous, push-based units of computation inside a task.
//!
//! A task runs a chain of operators on one thread. The task hands each operator its input
//! (batches, watermarks, timers, end of input) and the operator writes what it produces into
//! an [`Output`], which the task passes on to the next operator of the chain or to the
//! task's output channels. Operators never block, never see channels and never share state
//! with other threads; everything they keep lives in their own fields (reached through the
//! state module), so checkpoint barriers can be aligned by the task and the operator only has
//! to snapshot and restore.
//!
//! ```text
//!  input channels ─▶ task ─▶ op[0].on_batch(b, ctx, out) ─▶ out ─▶ op[1].on_batch ─▶ ... ─▶ output channels
//!                        └─▶ op[0].on_watermark(w)     ─▶ out ─▶ op[1].on_watermark ─▶ ...
//! ```

pub mod filter;
pub mod group_agg;
pub mod join;
pub mod keyed_reduce;
pub mod map;
pub mod over;
pub mod prefilter;
pub mod process;
pub mod rank;
pub mod sink;
pub mod watermark;
pub mod window;

use std::sync::Arc;

use arrow::record_batch::RecordBatch;

use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::state::StateBackendKind;
use crate::time::Watermark;

/// One item produced by an operator, in order.
#[derive(Debug, Clone)]
pub enum OutItem {
    /// A batch on output port `port` (0 = main output, 1.. = side outputs).
    Batch(usize, RecordBatch),
    /// A watermark for every downstream consumer.
    Watermark(Watermark),
    /// The operator's output is idle until its next batch or watermark.
    Idle,
}

/// Where an operator writes what it produces. Items keep their order.
#[derive(Debug, Default)]
pub struct Output {
    items: Vec<OutItem>,
}

impl Output {
    /// An empty output buffer.
    pub fn new() -> Self {
        Output::default()
    }

    /// Emit a batch on the main output. Empty batches are dropped here, once.
    pub fn emit(&mut self, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.items.push(OutItem::Batch(0, batch));
        }
    }

    /// Emit a batch on side output `port` (1 and up).
    pub fn emit_side(&mut self, port: usize, batch: RecordBatch) {
        if batch.num_rows() > 0 {
            self.items.push(OutItem::Batch(port, batch));
        }
    }

    /// Forward a watermark.
    pub fn emit_watermark(&mut self, wm: Watermark) {
        self.items.push(OutItem::Watermark(wm));
    }

    /// Declare the output idle.
    pub fn emit_idle(&mut self) {
        self.items.push(OutItem::Idle);
    }

    /// Move the buffered items out, keeping the buffer's capacity.
    pub fn drain(&mut self) -> std::vec::Drain<'_, OutItem> {
        self.items.drain(..)
    }

    /// Whether nothing is buffered.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The buffered items.
    pub fn items(&self) -> &[OutItem] {
        &self.items
    }
}

/// Per-operator counters, one set per subtask, summed per operator at the end of a job.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OperatorMetrics {
    /// Rows received.
    pub rows_in: u64,
    /// Rows emitted on all ports.
    pub rows_out: u64,
    /// Batches received.
    pub batches_in: u64,
    /// Batches emitted.
    pub batches_out: u64,
    /// Time spent inside the operator, in nanoseconds.
    pub busy_ns: u64,
    /// Late rows dropped.
    pub late_dropped: u64,
    /// Late rows sent to a side output.
    pub late_side_output: u64,
    /// Rows dropped because their side output has no consumer.
    pub side_output_unconsumed: u64,
}

impl OperatorMetrics {
    /// Add another subtask's counters.
    pub fn merge(&mut self, other: &OperatorMetrics) {
        self.rows_in += other.rows_in;
        self.rows_out += other.rows_out;
        self.batches_in += other.batches_in;
        self.batches_out += other.batches_out;
        self.busy_ns += other.busy_ns;
        self.late_dropped += other.late_dropped;
        self.late_side_output += other.late_side_output;
        self.side_output_unconsumed += other.side_output_unconsumed;
    }
}

/// What an operator may know and ask of the task that runs it.
#[derive(Debug)]
pub struct OpContext {
    /// This subtask's index.
    pub subtask: usize,
    /// Parallelism of the operator.
    pub parallelism: usize,
    /// Number of key groups (Flink's max parallelism).
    pub max_parallelism: usize,
    /// The current input watermark of the task.
    pub watermark: Watermark,
    /// Operator counters (late rows are counted here by the operator).
    pub metrics: OperatorMetrics,
    /// Where keyed state that does not stay in the operator's columns lives (the job's
    /// choice; memory by default).
    pub state_backend: StateBackendKind,
    processing_timer: Option<i64>,
}

impl OpContext {
    /// A context for subtask `subtask` of `parallelism`.
    pub fn new(subtask: usize, parallelism: usize, max_parallelism: usize) -> Self {
        OpContext {
            subtask,
            parallelism,
            max_parallelism,
            watermark: Watermark::MIN,
            metrics: OperatorMetrics::default(),
            state_backend: StateBackendKind::Memory,
            processing_timer: None,
        }
    }

    /// The key groups this subtask owns.
    pub fn key_group_range(&self) -> crate::state::KeyGroupRange {
        crate::state::KeyGroupRange::for_subtask(
            self.max_parallelism,
            self.parallelism,
            self.subtask,
        )
    }

    /// Ask for a call of [`Operator::on_processing_time`] at or after wall-clock time `at_ms`.
    /// Only the earliest pending request is kept; the operator asks again from the callback.
    pub fn request_processing_time(&mut self, at_ms: i64) {
        self.processing_timer = Some(self.processing_timer.map_or(at_ms, |t| t.min(at_ms)));
    }

    /// The pending processing-time request.
    pub fn processing_timer(&self) -> Option<i64> {
        self.processing_timer
    }

    /// Clear the pending request (the task does this before calling back).
    pub fn take_processing_timer(&mut self) -> Option<i64> {
        self.processing_timer.take()
    }

    /// Processing time now, in ms since the epoch.
    pub fn now_ms(&self) -> i64 {
        crate::time::now_ms()
    }
}

/// A synchronous operator. Only [`Operator::on_batch`] is required.
pub trait Operator: Send {
    /// Process a batch that arrived on input `input` (0, or 1 for the second input of a
    /// two-input operator).
    ///
    /// # Errors
    /// Any error fails the task and the job.
    fn on_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()>;

    /// The task's combined input watermark advanced to `wm` (`ctx.watermark` is already
    /// `wm`). Fire what is due, then forward the watermark (the default does only that).
    ///
    /// # Errors
    /// Any error fails the task.
    fn on_watermark(&mut self, wm: Watermark, ctx: &mut OpContext, out: &mut Output) -> Result<()> {
        let _ = ctx;
        out.emit_watermark(wm);
        Ok(())
    }

    /// A processing-time callback requested with
    /// [`OpContext::request_processing_time`] is due.
    ///
    /// # Errors
    /// Any error fails the task.
    fn on_processing_time(
        &mut self,
        now_ms: i64,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let _ = (now_ms, ctx, out);
        Ok(())
    }

    /// Every input ended (after the final watermark). Flush what is left.
    ///
    /// # Errors
    /// Any error fails the task.
    fn on_end(&mut self, ctx: &mut OpContext, out: &mut Output) -> Result<()> {
        let _ = (ctx, out);
        Ok(())
    }

    /// Called once before the first input, with the context of this subtask.
    ///
    /// # Errors
    /// Any error fails the task.
    fn open(&mut self, ctx: &mut OpContext) -> Result<()> {
        let _ = ctx;
        Ok(())
    }

    /// Snapshot the operator's state for checkpoint `checkpoint_id`: the barrier has been
    /// seen on every input and nothing after it has been processed. Return owned data
    /// (Arc-cloned arrays, or one copy of the accumulators): processing goes on while the
    /// checkpoint is written. Keyed rows go in keyed tables
    /// ([`OperatorState::push_keyed`]) so a restore can redistribute them by key group.
    /// The default is a stateless operator.
    ///
    /// # Errors
    /// Any error declines the checkpoint and fails the task.
    fn snapshot(&mut self, checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let _ = (checkpoint_id, ctx);
        Ok(OperatorState::new())
    }

    /// Load state taken by [`Operator::snapshot`] (of this subtask, or, after a rescale, the
    /// key groups this subtask now owns). Called after [`Operator::open`], before any input.
    /// The output of the restored operator continues exactly where the snapshot left it.
    ///
    /// # Errors
    /// State the operator cannot read; the default rejects any non-empty state.
    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        let _ = ctx;
        if state.is_empty() {
            Ok(())
        } else {
            Err(Error::Unsupported(
                "this operator keeps no state but its checkpoint holds some".into(),
            ))
        }
    }
}

/// Everything an operator factory is told about the subtask it builds for.
#[derive(Debug, Clone, Copy)]
pub struct OperatorInit {
    /// Subtask index.
    pub subtask: usize,
    /// Parallelism of the operator.
    pub parallelism: usize,
    /// Number of key groups.
    pub max_parallelism: usize,
}

impl OperatorInit {
    /// The key groups this subtask owns.
    pub fn key_group_range(&self) -> crate::state::KeyGroupRange {
        crate::state::KeyGroupRange::for_subtask(
            self.max_parallelism,
            self.parallelism,
            self.subtask,
        )
    }
}

/// Builds one operator instance per parallel subtask; lives in the job graph.
pub type OperatorFactory = Arc<dyn Fn(&OperatorInit) -> Result<Box<dyn Operator>> + Send + Sync>;

/// Build an [`OperatorFactory`] from a closure.
pub fn factory<F, O>(f: F) -> OperatorFactory
where
    F: Fn(&OperatorInit) -> Result<O> + Send + Sync + 'static,
    O: Operator + 'static,
{
    Arc::new(move |init: &OperatorInit| Ok(Box::new(f(init)?) as Box<dyn Operator>))
}
