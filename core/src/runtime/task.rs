//! A task: one thread running one subtask of a chain.
//!
//! A source task polls its [`Source`] and pushes each batch through the chain; any other
//! task waits on all its input channels at once (crossbeam `Select`), combines their
//! watermarks with a [`WatermarkTracker`], and pushes what arrives through the chain. The
//! chain's last operator writes into the task's output edges. Everything a task does happens
//! on its one thread, so operators need no locks and barriers can be aligned here.

use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::record_batch::RecordBatch;
use crossbeam_channel::{Receiver, RecvTimeoutError, Select, Sender, TryRecvError};

use super::channel::{ChannelStats, OutputEdge};
use super::coordinator::TaskMessage;
use crate::batch::{Barrier, BarrierKind, StreamEvent};
use crate::checkpoint::{CheckpointMode, OperatorState, SubtaskSnapshot};
use crate::connector::{Source, SourcePoll};
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, OperatorMetrics, OutItem, Output};
use crate::time::{now_ms, Watermark, WatermarkTracker};

/// Live counters a job exposes while it runs (for progress lines).
#[derive(Debug, Default)]
pub struct JobProgress {
    /// Rows produced by all sources so far.
    pub source_rows: AtomicU64,
    /// Source positions (e.g. generator events) summed over subtasks, updated per batch.
    pub source_position: AtomicU64,
    /// Highest watermark reached by any task whose chain ends the dataflow.
    pub sink_watermark: AtomicI64,
}

impl JobProgress {
    /// Fresh counters.
    pub fn new() -> Self {
        JobProgress {
            sink_watermark: AtomicI64::new(i64::MIN),
            ..Default::default()
        }
    }
}

/// One operator of a chain with its context and output buffer.
pub(crate) struct ChainedOp {
    pub(crate) node: usize,
    pub(crate) name: String,
    pub(crate) op: Box<dyn Operator>,
    pub(crate) ctx: OpContext,
    pub(crate) out: Output,
}

/// An input channel of a task.
pub(crate) struct InputChannel {
    pub(crate) rx: Receiver<StreamEvent>,
    pub(crate) input: usize,
}

/// What a task starts from when the job restores a checkpoint.
#[derive(Default)]
pub(crate) struct TaskRestore {
    /// Per chained operator: its state and input watermark.
    pub(crate) ops: Vec<(OperatorState, i64)>,
    /// In-flight rows of an unaligned checkpoint, replayed before any new input.
    pub(crate) channel_state: Vec<(usize, RecordBatch)>,
}

/// Checkpoint wiring of a task.
pub(crate) struct TaskCheckpointing {
    /// Index of the task within the job (for acknowledgements).
    pub(crate) index: usize,
    /// Where acknowledgements go.
    pub(crate) coordinator: Sender<TaskMessage>,
    /// Trigger barriers, for a source task.
    pub(crate) triggers: Option<Receiver<Barrier>>,
    /// Barrier handling.
    pub(crate) mode: CheckpointMode,
    /// Per chained operator: whether it is a sink with a committer.
    pub(crate) committing: Vec<bool>,
    /// State to start from.
    pub(crate) restore: Option<TaskRestore>,
}

/// The barrier being aligned at a task with inputs.
struct Alignment {
    barrier: Barrier,
    seen: Vec<bool>,
    started: Instant,
    /// Unaligned mode: the snapshot taken at the first barrier, and rows that arrived on
    /// other inputs before their barrier.
    early: Option<(Vec<SubtaskSnapshot>, Duration)>,
    in_flight: Vec<(usize, RecordBatch)>,
}

/// What a finished task reports.
pub(crate) struct TaskReport {
    pub(crate) operators: Vec<(usize, OperatorMetrics)>,
    pub(crate) channels: Vec<ChannelStats>,
    pub(crate) source_rows: u64,
}

pub(crate) struct Task {
    pub(crate) subtask: usize,
    pub(crate) source: Option<(usize, String, Box<dyn Source>)>,
    pub(crate) ops: Vec<ChainedOp>,
    pub(crate) inputs: Vec<InputChannel>,
    /// Output edges per port of the chain's tail.
    pub(crate) outputs: Vec<Vec<OutputEdge>>,
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) progress: Arc<JobProgress>,
    pub(crate) is_terminal: bool,
    pub(crate) source_rows: u64,
    pub(crate) source_metrics: OperatorMetrics,
    pub(crate) checkpointing: TaskCheckpointing,
    /// The watermark last handed to the chain's head.
    pub(crate) input_watermark: Watermark,
    /// Rows per second this source subtask may produce.
    pub(crate) max_rate: Option<f64>,
}

impl Task {
    pub(crate) fn run(mut self) -> Result<TaskReport> {
        for c in &mut self.ops {
            let r = c.op.open(&mut c.ctx);
            r.map_err(|e| with_op(&c.name, self.subtask, e))?;
        }
        let mut replay = Vec::new();
        if let Some(restore) = self.checkpointing.restore.take() {
            for (c, (state, wm)) in self.ops.iter_mut().zip(restore.ops) {
                c.ctx.watermark = Watermark(wm);
                let r = c.op.restore(state, &mut c.ctx);
                r.map_err(|e| with_op(&c.name, self.subtask, e))?;
            }
            if let Some(head) = self.ops.first() {
                self.input_watermark = head.ctx.watermark;
            }
            replay = restore.channel_state;
        }
        if self.source.is_some() {
            self.run_source()?;
        } else {
            for (input, batch) in replay {
                self.push_batch(0, input, batch)?;
            }
            self.run_inputs()?;
        }
        self.finish()?;
        self.report_finished()?;
        let mut operators: Vec<(usize, OperatorMetrics)> = self
            .ops
            .iter()
            .map(|c| (c.node, c.ctx.metrics.clone()))
            .collect();
        if let Some((node, _, _)) = &self.source {
            operators.insert(0, (*node, self.source_metrics.clone()));
        }
        let channels = self
            .outputs
            .iter()
            .flat_map(|port| port.iter().flat_map(|e| e.stats.iter().cloned()))
            .collect();
        Ok(TaskReport {
            operators,
            channels,
            source_rows: self.source_rows,
        })
    }

    fn run_source(&mut self) -> Result<()> {
        let Some((node, name, mut source)) = self.source.take() else {
            return Ok(());
        };
        let mut last_position = 0u64;
        let mut triggers = self.checkpointing.triggers.take();
        let throttle_start = Instant::now();
        let result = (|| -> Result<()> {
            loop {
                if self.cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                if let Some(rx) = &triggers {
                    match rx.try_recv() {
                        Ok(b) => self.source_checkpoint(b, node, &name, source.as_mut())?,
                        Err(TryRecvError::Disconnected) => triggers = None,
                        Err(TryRecvError::Empty) => {}
                    }
                }
                self.fire_processing_timers()?;
                if let Some(rate) = self.max_rate {
                    // Ahead of the allowed rate: wait, still answering checkpoint triggers.
                    let due = Duration::from_secs_f64(self.source_rows as f64 / rate.max(1e-3));
                    let ahead = due.saturating_sub(throttle_start.elapsed());
                    if !ahead.is_zero() {
                        let wait = ahead.min(Duration::from_millis(50));
                        self.wait_for_trigger(&mut triggers, wait, node, &name, source.as_mut())?;
                        continue;
                    }
                }
                let started = Instant::now();
                let polled = source.poll().map_err(|e| with_op(&name, self.subtask, e))?;
                self.source_metrics.busy_ns += started.elapsed().as_nanos() as u64;
                if let Some(errors) = source.take_error_rows() {
                    self.route(1, errors)?;
                }
                // Rows a pushed-down filter dropped were read all the same.
                let filtered = source.take_filtered_rows();
                self.source_rows += filtered;
                self.progress
                    .source_rows
                    .fetch_add(filtered, Ordering::Relaxed);
                match polled {
                    SourcePoll::Batch(batch) => {
                        let rows = batch.num_rows() as u64;
                        self.source_rows += rows;
                        self.source_metrics.rows_out += rows;
                        self.source_metrics.batches_out += 1;
                        self.progress.source_rows.fetch_add(rows, Ordering::Relaxed);
                        let pos = source.position();
                        self.progress
                            .source_position
                            .fetch_add(pos.saturating_sub(last_position), Ordering::Relaxed);
                        last_position = pos;
                        self.push_batch(0, 0, batch)?;
                    }
                    SourcePoll::Pending(wait) => {
                        let wait = match self.next_timer() {
                            Some(t) => {
                                wait.min(Duration::from_millis((t - now_ms()).max(0) as u64))
                            }
                            None => wait,
                        };
                        let wait = wait.min(Duration::from_millis(100));
                        self.wait_for_trigger(&mut triggers, wait, node, &name, source.as_mut())?;
                    }
                    SourcePoll::End => return Ok(()),
                }
            }
        })();
        let pos = source.position();
        self.progress
            .source_position
            .fetch_add(pos.saturating_sub(last_position), Ordering::Relaxed);
        self.source = Some((node, name, source));
        result?;
        // A bounded source ends with the final watermark: every event-time window fires.
        self.push_watermark(0, Watermark::MAX)
    }

    fn run_inputs(&mut self) -> Result<()> {
        let inputs = std::mem::take(&mut self.inputs);
        let n = inputs.len();
        let mut tracker = WatermarkTracker::new(n);
        let mut ended = vec![false; n];
        let mut blocked = vec![false; n];
        let mut open = n;
        let mut align: Option<Alignment> = None;
        // The select set holds the open, unblocked inputs; rebuilt when that set changes.
        let mut sel = Select::new();
        let mut sel_map: Vec<usize> = Vec::new();
        let mut dirty = true;
        while open > 0 {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
            }
            if dirty {
                sel = Select::new();
                sel_map.clear();
                for (i, ch) in inputs.iter().enumerate() {
                    if !ended[i] && !blocked[i] {
                        sel.recv(&ch.rx);
                        sel_map.push(i);
                    }
                }
                dirty = false;
            }
            let oper = match self.next_timer() {
                Some(t) => {
                    let wait = Duration::from_millis((t - now_ms()).max(0) as u64);
                    match sel.select_timeout(wait) {
                        Ok(op) => op,
                        Err(_) => {
                            self.fire_processing_timers()?;
                            continue;
                        }
                    }
                }
                None => sel.select(),
            };
            let ch = sel_map[oper.index()];
            let ev = oper.recv(&inputs[ch].rx).map_err(|_| Error::Cancelled)?;
            match ev {
                StreamEvent::Batch(batch) => {
                    tracker.activate(ch);
                    if let Some(a) = align.as_mut().filter(|a| a.early.is_some() && !a.seen[ch]) {
                        a.in_flight.push((inputs[ch].input, batch.clone()));
                    }
                    self.push_batch(0, inputs[ch].input, batch)?;
                }
                StreamEvent::Watermark(wm) => {
                    if let Some(w) = tracker.update(ch, wm) {
                        self.push_input_watermark(w)?;
                    }
                }
                StreamEvent::Idle => {
                    if let Some(w) = tracker.set_idle(ch) {
                        self.push_input_watermark(w)?;
                    }
                    if tracker.all_idle() {
                        self.broadcast(&StreamEvent::Idle)?;
                    }
                }
                StreamEvent::Barrier(b) => {
                    let fresh = align
                        .as_ref()
                        .is_none_or(|a| a.barrier.checkpoint_id != b.checkpoint_id);
                    if fresh {
                        if align
                            .as_ref()
                            .is_some_and(|a| a.barrier.checkpoint_id > b.checkpoint_id)
                        {
                            // A barrier of a checkpoint already superseded: ignore it.
                            continue;
                        }
                        // A newer checkpoint replaces one that was abandoned.
                        blocked.iter_mut().for_each(|x| *x = false);
                        dirty = true;
                        align = Some(self.start_alignment(b, n)?);
                    }
                    if let Some(a) = align.as_mut() {
                        a.seen[ch] = true;
                        if self.blocks_on(b) {
                            blocked[ch] = true;
                            dirty = true;
                        }
                    }
                }
                StreamEvent::End => {
                    ended[ch] = true;
                    dirty = true;
                    open -= 1;
                    if let Some(w) = tracker.end(ch) {
                        self.push_input_watermark(w)?;
                    }
                }
            }
            // A finished input sends no more barriers: it counts as aligned (Flink skips
            // finished channels the same way).
            if align
                .as_ref()
                .is_some_and(|a| (0..n).all(|i| a.seen[i] || ended[i]))
            {
                if let Some(a) = align.take() {
                    self.complete_alignment(a)?;
                }
                if blocked.iter().any(|&x| x) {
                    blocked.iter_mut().for_each(|x| *x = false);
                    dirty = true;
                }
            }
            self.fire_processing_timers()?;
        }
        Ok(())
    }

    /// Whether barrier `b` blocks the input that delivered it until alignment completes.
    fn blocks_on(&self, b: Barrier) -> bool {
        b.kind == BarrierKind::Savepoint || self.checkpointing.mode == CheckpointMode::ExactlyOnce
    }

    fn start_alignment(&mut self, b: Barrier, n: usize) -> Result<Alignment> {
        let unaligned = b.kind == BarrierKind::Checkpoint
            && self.checkpointing.mode == CheckpointMode::Unaligned;
        let early = if unaligned {
            // Snapshot now and let the barrier overtake the rows still queued at this task.
            let started = Instant::now();
            let snaps = self.snapshot_chain(b.checkpoint_id)?;
            let sync = started.elapsed();
            self.broadcast(&StreamEvent::Barrier(b))?;
            Some((snaps, sync))
        } else {
            None
        };
        Ok(Alignment {
            barrier: b,
            seen: vec![false; n],
            started: Instant::now(),
            early,
            in_flight: Vec::new(),
        })
    }

    fn complete_alignment(&mut self, a: Alignment) -> Result<()> {
        let alignment = a.started.elapsed();
        let id = a.barrier.checkpoint_id;
        match a.early {
            Some((mut snaps, sync)) => {
                if let Some(head) = snaps.iter_mut().find(|s| s.source_position.is_none()) {
                    head.channel_state = a.in_flight;
                }
                self.ack(id, snaps, Duration::ZERO, sync);
            }
            None => {
                let started = Instant::now();
                let snaps = self.snapshot_chain(id)?;
                self.ack(id, snaps, alignment, started.elapsed());
                self.broadcast(&StreamEvent::Barrier(a.barrier))?;
            }
        }
        Ok(())
    }

    /// Checkpoint at a source task: record the position after the last batch sent,
    /// snapshot the chain, acknowledge, and send the barrier downstream.
    fn source_checkpoint(
        &mut self,
        b: Barrier,
        node: usize,
        name: &str,
        source: &mut dyn Source,
    ) -> Result<()> {
        let started = Instant::now();
        let position = source
            .snapshot_position()
            .map_err(|e| with_op(name, self.subtask, e))?;
        let mut snaps = vec![SubtaskSnapshot {
            node,
            subtask: self.subtask,
            watermark: i64::MIN,
            source_position: Some(position),
            ..SubtaskSnapshot::default()
        }];
        snaps.extend(self.snapshot_chain(b.checkpoint_id)?);
        self.ack(b.checkpoint_id, snaps, Duration::ZERO, started.elapsed());
        self.broadcast(&StreamEvent::Barrier(b))
    }

    /// Sleep up to `wait`, taking a checkpoint if a trigger arrives meanwhile.
    fn wait_for_trigger(
        &mut self,
        triggers: &mut Option<Receiver<Barrier>>,
        wait: Duration,
        node: usize,
        name: &str,
        source: &mut dyn Source,
    ) -> Result<()> {
        match triggers.as_ref().map(|rx| rx.recv_timeout(wait)) {
            Some(Ok(b)) => self.source_checkpoint(b, node, name, source),
            Some(Err(RecvTimeoutError::Disconnected)) => {
                *triggers = None;
                Ok(())
            }
            Some(Err(RecvTimeoutError::Timeout)) => Ok(()),
            None => {
                std::thread::sleep(wait);
                Ok(())
            }
        }
    }

    /// The synchronous part of a checkpoint: every chained operator's state.
    fn snapshot_chain(&mut self, id: u64) -> Result<Vec<SubtaskSnapshot>> {
        let mut out = Vec::with_capacity(self.ops.len());
        for c in &mut self.ops {
            let started = Instant::now();
            let r = c.op.snapshot(id, &mut c.ctx);
            c.ctx.metrics.busy_ns += started.elapsed().as_nanos() as u64;
            let mut state = r.map_err(|e| with_op(&c.name, self.subtask, e))?;
            let committables = take_committables(&mut state);
            out.push(SubtaskSnapshot {
                node: c.node,
                subtask: self.subtask,
                watermark: c.ctx.watermark.0,
                source_position: None,
                state,
                committables,
                channel_state: Vec::new(),
            });
        }
        Ok(out)
    }

    fn ack(
        &self,
        checkpoint_id: u64,
        snapshots: Vec<SubtaskSnapshot>,
        alignment: Duration,
        sync: Duration,
    ) {
        // The coordinator is gone only when the job is being torn down.
        let _ = self.checkpointing.coordinator.send(TaskMessage::Ack {
            checkpoint_id,
            task: self.checkpointing.index,
            snapshots,
            alignment,
            sync,
        });
    }

    /// After the end of input: the sinks' last committables go to the coordinator.
    fn report_finished(&mut self) -> Result<()> {
        let mut committables = Vec::new();
        for (i, c) in self.ops.iter_mut().enumerate() {
            if self
                .checkpointing
                .committing
                .get(i)
                .copied()
                .unwrap_or(false)
            {
                let r = c.op.snapshot(u64::MAX, &mut c.ctx);
                let mut state = r.map_err(|e| with_op(&c.name, self.subtask, e))?;
                committables.extend(
                    take_committables(&mut state)
                        .into_iter()
                        .map(|b| (c.node, b)),
                );
            }
        }
        let _ = self.checkpointing.coordinator.send(TaskMessage::Finished {
            task: self.checkpointing.index,
            is_source: self.source.is_some(),
            committables,
        });
        Ok(())
    }

    /// Hand the combined input watermark to the chain, if it advanced past what the chain
    /// has (after a restore the chain starts at its checkpointed watermark).
    fn push_input_watermark(&mut self, w: Watermark) -> Result<()> {
        if w <= self.input_watermark {
            return Ok(());
        }
        self.input_watermark = w;
        self.push_watermark(0, w)
    }

    fn finish(&mut self) -> Result<()> {
        for i in 0..self.ops.len() {
            let c = &mut self.ops[i];
            let started = Instant::now();
            let r = c.op.on_end(&mut c.ctx, &mut c.out);
            c.ctx.metrics.busy_ns += started.elapsed().as_nanos() as u64;
            r.map_err(|e| with_op(&c.name, self.subtask, e))?;
            self.flush(i)?;
        }
        self.broadcast(&StreamEvent::End)
    }

    fn next_timer(&self) -> Option<i64> {
        self.ops
            .iter()
            .filter_map(|c| c.ctx.processing_timer())
            .min()
    }

    fn fire_processing_timers(&mut self) -> Result<()> {
        let Some(t) = self.next_timer() else {
            return Ok(());
        };
        let now = now_ms();
        if t > now {
            return Ok(());
        }
        for i in 0..self.ops.len() {
            let c = &mut self.ops[i];
            if c.ctx.processing_timer().is_some_and(|t| t <= now) {
                c.ctx.take_processing_timer();
                let started = Instant::now();
                let r = c.op.on_processing_time(now, &mut c.ctx, &mut c.out);
                c.ctx.metrics.busy_ns += started.elapsed().as_nanos() as u64;
                r.map_err(|e| with_op(&c.name, self.subtask, e))?;
                self.flush(i)?;
            }
        }
        Ok(())
    }

    fn push_batch(&mut self, idx: usize, input: usize, batch: RecordBatch) -> Result<()> {
        if idx == self.ops.len() {
            return self.route(0, batch);
        }
        let c = &mut self.ops[idx];
        c.ctx.metrics.rows_in += batch.num_rows() as u64;
        c.ctx.metrics.batches_in += 1;
        let started = Instant::now();
        let r = c.op.on_batch(input, batch, &mut c.ctx, &mut c.out);
        c.ctx.metrics.busy_ns += started.elapsed().as_nanos() as u64;
        r.map_err(|e| with_op(&c.name, self.subtask, e))?;
        self.flush(idx)
    }

    fn push_watermark(&mut self, idx: usize, wm: Watermark) -> Result<()> {
        if idx == 0 && self.is_terminal {
            self.progress
                .sink_watermark
                .fetch_max(wm.0, Ordering::Relaxed);
        }
        if idx == self.ops.len() {
            return self.broadcast(&StreamEvent::Watermark(wm));
        }
        let c = &mut self.ops[idx];
        c.ctx.watermark = wm;
        let started = Instant::now();
        let r = c.op.on_watermark(wm, &mut c.ctx, &mut c.out);
        c.ctx.metrics.busy_ns += started.elapsed().as_nanos() as u64;
        r.map_err(|e| with_op(&c.name, self.subtask, e))?;
        self.flush(idx)
    }

    /// Pass what operator `idx` produced to the next operator or the task's outputs.
    fn flush(&mut self, idx: usize) -> Result<()> {
        if self.ops[idx].out.is_empty() {
            return Ok(());
        }
        let mut out = std::mem::take(&mut self.ops[idx].out);
        let last = idx + 1 == self.ops.len();
        let mut result = Ok(());
        for item in out.drain() {
            if result.is_err() {
                break;
            }
            result = match item {
                OutItem::Batch(port, batch) => {
                    let m = &mut self.ops[idx].ctx.metrics;
                    m.rows_out += batch.num_rows() as u64;
                    m.batches_out += 1;
                    if port == 0 {
                        self.push_batch(idx + 1, 0, batch)
                    } else if last {
                        self.route(port, batch)
                    } else {
                        // The planner only chains through main outputs: a side output of a
                        // chained operator has no consumer.
                        self.ops[idx].ctx.metrics.side_output_unconsumed += batch.num_rows() as u64;
                        Ok(())
                    }
                }
                OutItem::Watermark(wm) => self.push_watermark(idx + 1, wm),
                OutItem::Idle => self.broadcast(&StreamEvent::Idle),
            };
        }
        self.ops[idx].out = out;
        result
    }

    fn route(&mut self, port: usize, batch: RecordBatch) -> Result<()> {
        match self.outputs.get_mut(port) {
            Some(edges) if !edges.is_empty() => {
                let last = edges.len() - 1;
                for (i, e) in edges.iter_mut().enumerate() {
                    // The last edge takes the batch itself; others take a cheap clone
                    // (reference-counted buffers).
                    if i == last {
                        e.send_batch(batch)?;
                        break;
                    }
                    e.send_batch(batch.clone())?;
                }
                Ok(())
            }
            _ => {
                if port > 0 {
                    if let Some(c) = self.ops.last_mut() {
                        c.ctx.metrics.side_output_unconsumed += batch.num_rows() as u64;
                    }
                }
                Ok(())
            }
        }
    }

    fn broadcast(&mut self, ev: &StreamEvent) -> Result<()> {
        for port in &mut self.outputs {
            for e in port {
                e.broadcast(ev)?;
            }
        }
        Ok(())
    }
}

/// Move a sink's committables (table `__committables`) out of its snapshot.
fn take_committables(state: &mut OperatorState) -> Vec<Vec<u8>> {
    let c = state.bytes("__committables");
    state.tables.retain(|t| t.name != "__committables");
    c
}

fn with_op(name: &str, subtask: usize, e: Error) -> Error {
    match e {
        Error::Cancelled | Error::WithOperator { .. } => e,
        other => Error::WithOperator {
            operator: name.to_string(),
            subtask,
            inner: Box::new(other),
        },
    }
}
