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
use crossbeam_channel::{Receiver, Select};

use super::channel::{ChannelStats, OutputEdge};
use crate::batch::{Barrier, StreamEvent};
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
    pub(crate) barrier_counts: Vec<(Barrier, usize)>,
}

impl Task {
    pub(crate) fn run(mut self) -> Result<TaskReport> {
        for c in &mut self.ops {
            let r = c.op.open(&mut c.ctx);
            r.map_err(|e| with_op(&c.name, self.subtask, e))?;
        }
        if self.source.is_some() {
            self.run_source()?;
        } else {
            self.run_inputs()?;
        }
        self.finish()?;
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
        let result = (|| -> Result<()> {
            loop {
                if self.cancel.load(Ordering::Relaxed) {
                    return Err(Error::Cancelled);
                }
                self.fire_processing_timers()?;
                let started = Instant::now();
                let polled = source.poll().map_err(|e| with_op(&name, self.subtask, e))?;
                self.source_metrics.busy_ns += started.elapsed().as_nanos() as u64;
                if let Some(errors) = source.take_error_rows() {
                    self.route(1, errors)?;
                }
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
                        std::thread::sleep(wait.min(Duration::from_millis(100)));
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
        let mut tracker = WatermarkTracker::new(inputs.len());
        let mut sel = Select::new();
        for ch in &inputs {
            sel.recv(&ch.rx);
        }
        let mut open = inputs.len();
        self.barrier_counts.clear();
        while open > 0 {
            if self.cancel.load(Ordering::Relaxed) {
                return Err(Error::Cancelled);
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
            let ch = oper.index();
            let ev = oper.recv(&inputs[ch].rx).map_err(|_| Error::Cancelled)?;
            match ev {
                StreamEvent::Batch(batch) => {
                    tracker.activate(ch);
                    self.push_batch(0, inputs[ch].input, batch)?;
                }
                StreamEvent::Watermark(wm) => {
                    if let Some(w) = tracker.update(ch, wm) {
                        self.push_watermark(0, w)?;
                    }
                }
                StreamEvent::Idle => {
                    if let Some(w) = tracker.set_idle(ch) {
                        self.push_watermark(0, w)?;
                    }
                    if tracker.all_idle() {
                        self.broadcast(&StreamEvent::Idle)?;
                    }
                }
                StreamEvent::Barrier(b) => {
                    // Barriers are counted and forwarded once seen on every open input (the
                    // at-least-once form); alignment with blocked channels builds on this.
                    match self
                        .barrier_counts
                        .iter_mut()
                        .find(|(seen, _)| seen.checkpoint_id == b.checkpoint_id)
                    {
                        Some(e) => e.1 += 1,
                        None => self.barrier_counts.push((b, 1)),
                    }
                    self.forward_complete_barriers(open)?;
                }
                StreamEvent::End => {
                    sel.remove(ch);
                    open -= 1;
                    if let Some(w) = tracker.end(ch) {
                        self.push_watermark(0, w)?;
                    }
                    // A finished input will send no more barriers: pending ones may now be
                    // complete (Flink skips finished channels the same way).
                    if open > 0 {
                        self.forward_complete_barriers(open)?;
                    }
                }
            }
            self.fire_processing_timers()?;
        }
        Ok(())
    }

    /// Forward, in checkpoint order, every barrier that has arrived on all `open` inputs.
    fn forward_complete_barriers(&mut self, open: usize) -> Result<()> {
        self.barrier_counts
            .sort_unstable_by_key(|(b, _)| b.checkpoint_id);
        while let Some(&(barrier, seen)) = self.barrier_counts.first() {
            if seen < open {
                break;
            }
            self.barrier_counts.remove(0);
            self.broadcast(&StreamEvent::Barrier(barrier))?;
        }
        Ok(())
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
