//! The runtime: runs a physical plan as parallel tasks on threads, connected by bounded
//! channels (Flink's JobManager and TaskManagers, in one process).
//!
//! ```text
//!  JobGraph ──plan()──▶ PhysicalPlan (chains × parallelism)
//!                          │ execute()
//!                          ▼
//!  [source#0 → map]──┐  hash   ┌─▶[window#0 → sink]
//!                    ├─────────┤
//!  [source#1 → map]──┘ bounded └─▶[window#1 → sink]
//!                      channels
//! ```
//!
//! Each task (one subtask of a chain) is one thread. Channels are bounded crossbeam
//! channels of [`StreamEvent`]s: when a consumer falls behind, its producers block on send,
//! and so on up to the sources, so memory stays bounded (backpressure). A failed task makes
//! its channels disconnect; its neighbours stop with [`Error::Cancelled`] and the job
//! returns the first real error.

mod channel;
mod task;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

pub use channel::ChannelStats;
pub use task::JobProgress;

use self::channel::OutputEdge;
use self::task::{ChainedOp, InputChannel, Task, TaskReport};
use crate::batch::{BatchConfig, StreamEvent};
use crate::connector::SourceContext;
use crate::error::{Error, Result};
use crate::operator::{OpContext, OperatorInit, OperatorMetrics, Output};
use crate::plan::{JobGraph, NodeKind, Partitioning, PhysicalPlan};

/// Settings of one job run.
#[derive(Debug, Clone)]
pub struct JobConfig {
    /// Default parallelism of every operator (default: number of cores).
    pub parallelism: usize,
    /// Number of key groups; upper bound of any keyed operator's parallelism.
    pub max_parallelism: usize,
    /// Capacity of every channel, in messages (batches and control events).
    pub channel_capacity: usize,
    /// Micro-batching knobs for sources.
    pub batch: BatchConfig,
    /// Whether forward-connected operators are chained into one task.
    pub chaining: bool,
    /// Live counters, shared with whoever watches the job.
    pub progress: Arc<JobProgress>,
}

impl Default for JobConfig {
    fn default() -> Self {
        JobConfig {
            parallelism: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_parallelism: millstream_kernels::partition::DEFAULT_MAX_PARALLELISM,
            channel_capacity: 8,
            batch: BatchConfig::default(),
            chaining: true,
            progress: Arc::new(JobProgress::new()),
        }
    }
}

/// Metrics of one operator, summed over its subtasks.
#[derive(Debug, Clone)]
pub struct OperatorSummary {
    /// Operator name.
    pub name: String,
    /// Its parallelism.
    pub parallelism: usize,
    /// Summed counters.
    pub metrics: OperatorMetrics,
}

/// What [`execute`] returns.
#[derive(Debug, Clone)]
pub struct JobResult {
    /// Job name.
    pub name: String,
    /// Wall time from start to the last task's end.
    pub elapsed: Duration,
    /// Rows produced by all sources.
    pub source_rows: u64,
    /// Per-operator metrics, in graph order.
    pub operators: Vec<OperatorSummary>,
    /// Per-channel queue statistics.
    pub channels: Vec<ChannelStats>,
    /// The physical plan that ran, as text.
    pub plan: String,
}

impl JobResult {
    /// Metrics of the operator named `name`.
    pub fn operator(&self, name: &str) -> Option<&OperatorSummary> {
        self.operators.iter().find(|o| o.name == name)
    }

    /// A table of per-operator metrics.
    pub fn metrics_table(&self) -> String {
        let mut s = format!(
            "{:<32} {:>4} {:>14} {:>14} {:>10} {:>10} {:>10}\n",
            "operator", "p", "rows in", "rows out", "batches", "busy ms", "late"
        );
        for o in &self.operators {
            let m = &o.metrics;
            s.push_str(&format!(
                "{:<32} {:>4} {:>14} {:>14} {:>10} {:>10.1} {:>10}\n",
                o.name,
                o.parallelism,
                m.rows_in,
                m.rows_out,
                m.batches_in.max(m.batches_out),
                m.busy_ns as f64 / 1e6,
                m.late_dropped + m.late_side_output
            ));
        }
        s
    }
}

/// Plan and run a job graph to completion (a bounded job) or until it fails.
///
/// # Errors
/// The first error of any task, wrapped with the operator and subtask it came from.
pub fn execute(name: &str, graph: &JobGraph, config: &JobConfig) -> Result<JobResult> {
    let plan = crate::plan::plan(graph, config.parallelism, config.chaining)?;
    let started = Instant::now();
    let tasks = build_tasks(&plan, config)?;
    let cancel = tasks.first().map(|t| t.cancel.clone());
    let mut handles = Vec::with_capacity(tasks.len());
    for (label, task) in tasks.into_iter().map(|t| (task_label(&plan, &t), t)) {
        let cancel = task.cancel.clone();
        let h = std::thread::Builder::new()
            .name(label.clone())
            .spawn(move || {
                let r = task.run();
                if r.is_err() {
                    cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                r
            })
            .map_err(|e| Error::io(format!("spawning task thread {label}"), e))?;
        handles.push(h);
    }
    let mut reports: Vec<TaskReport> = Vec::new();
    let mut first_error: Option<Error> = None;
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => reports.push(r),
            Ok(Err(e)) => {
                if let Some(c) = &cancel {
                    c.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                let replace = match &first_error {
                    None => true,
                    Some(prev) => {
                        matches!(prev, Error::Cancelled) && !matches!(e, Error::Cancelled)
                    }
                };
                if replace {
                    first_error = Some(e);
                }
            }
            Err(panic) => {
                let msg = panic
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_else(|| "unknown panic".into());
                first_error = Some(Error::Internal(format!("task panicked: {msg}")));
            }
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    Ok(summarize(name, &plan, reports, started.elapsed()))
}

fn task_label(plan: &PhysicalPlan, task: &Task) -> String {
    let node = task
        .source
        .as_ref()
        .map(|(n, _, _)| *n)
        .or_else(|| task.ops.first().map(|c| c.node))
        .unwrap_or(0);
    format!("{}#{}", plan.graph.nodes[node].name, task.subtask)
}

fn summarize(
    name: &str,
    plan: &PhysicalPlan,
    reports: Vec<TaskReport>,
    elapsed: Duration,
) -> JobResult {
    let g = &plan.graph;
    let mut per_node: Vec<OperatorMetrics> = vec![OperatorMetrics::default(); g.nodes.len()];
    let mut channels = Vec::new();
    let mut source_rows = 0;
    for r in reports {
        for (node, m) in &r.operators {
            per_node[*node].merge(m);
        }
        channels.extend(r.channels);
        source_rows += r.source_rows;
    }
    JobResult {
        name: name.to_string(),
        elapsed,
        source_rows,
        operators: g
            .nodes
            .iter()
            .map(|n| OperatorSummary {
                name: n.name.clone(),
                parallelism: plan.parallelism[n.id.0],
                metrics: per_node[n.id.0].clone(),
            })
            .collect(),
        channels,
        plan: plan.explain(),
    }
}

type Wire = (
    Vec<Vec<Sender<StreamEvent>>>,
    Vec<Vec<Receiver<StreamEvent>>>,
);

/// Create the channels of one edge: `senders[producer][i]` and `receivers[consumer]`.
fn wire(partitioning: &Partitioning, p_from: usize, p_to: usize, capacity: usize) -> Wire {
    let mut senders = vec![Vec::new(); p_from];
    let mut receivers = vec![Vec::new(); p_to];
    if *partitioning == Partitioning::Forward {
        for i in 0..p_from {
            let (s, r) = bounded(capacity);
            senders[i].push(s);
            receivers[i].push(r);
        }
    } else {
        for from in senders.iter_mut() {
            for to in receivers.iter_mut() {
                let (s, r) = bounded(capacity);
                from.push(s);
                to.push(r);
            }
        }
    }
    (senders, receivers)
}

fn build_tasks(plan: &PhysicalPlan, config: &JobConfig) -> Result<Vec<Task>> {
    let g: &JobGraph = &plan.graph;
    let cancel = Arc::new(AtomicBool::new(false));
    // Per chain, per subtask: input channels and output edges per port.
    let mut inputs: Vec<Vec<Vec<InputChannel>>> = plan
        .chains
        .iter()
        .map(|c| (0..c.parallelism).map(|_| Vec::new()).collect())
        .collect();
    let mut outputs: Vec<Vec<Vec<Vec<OutputEdge>>>> = plan
        .chains
        .iter()
        .map(|c| (0..c.parallelism).map(|_| Vec::new()).collect())
        .collect();
    for (chain_idx, chain) in plan.chains.iter().enumerate() {
        let head = chain.head();
        let to_node = g.node(head);
        for e in &to_node.inputs {
            let from_chain = plan.chain_of[e.from.0];
            if from_chain == chain_idx {
                continue;
            }
            let p_from = plan.chains[from_chain].parallelism;
            let p_to = plan.chains[chain_idx].parallelism;
            let (senders, receivers) = wire(&e.partitioning, p_from, p_to, config.channel_capacity);
            for (sub, rxs) in receivers.into_iter().enumerate() {
                for rx in rxs {
                    inputs[chain_idx][sub].push(InputChannel { rx, input: e.input });
                }
            }
            for (sub, txs) in senders.into_iter().enumerate() {
                let ports = &mut outputs[from_chain][sub];
                if ports.len() <= e.port {
                    ports.resize_with(e.port + 1, Vec::new);
                }
                ports[e.port].push(OutputEdge::new(
                    e.partitioning.clone(),
                    txs,
                    config.max_parallelism,
                    sub,
                    &g.node(e.from).name,
                    &to_node.name,
                    config.channel_capacity,
                ));
            }
        }
    }
    let mut tasks = Vec::new();
    for (ci, chain) in plan.chains.iter().enumerate() {
        let terminal = g.consumers(chain.tail()).is_empty();
        for sub in 0..chain.parallelism {
            let mut source = None;
            let mut ops = Vec::new();
            for id in &chain.nodes {
                let node = g.node(*id);
                let p = plan.parallelism[id.0];
                match &node.kind {
                    NodeKind::Source(f) => {
                        let ctx = SourceContext {
                            subtask: sub,
                            parallelism: p,
                            batch: config.batch,
                        };
                        let s = f.create(&ctx).map_err(|e| Error::WithOperator {
                            operator: node.name.clone(),
                            subtask: sub,
                            inner: Box::new(e),
                        })?;
                        source = Some((id.0, node.name.clone(), s));
                    }
                    NodeKind::Operator(f) => {
                        let init = OperatorInit {
                            subtask: sub,
                            parallelism: p,
                            max_parallelism: config.max_parallelism,
                        };
                        let op = f(&init).map_err(|e| Error::WithOperator {
                            operator: node.name.clone(),
                            subtask: sub,
                            inner: Box::new(e),
                        })?;
                        ops.push(ChainedOp {
                            node: id.0,
                            name: node.name.clone(),
                            op,
                            ctx: OpContext::new(sub, p, config.max_parallelism),
                            out: Output::new(),
                        });
                    }
                }
            }
            tasks.push(Task {
                subtask: sub,
                source,
                ops,
                inputs: std::mem::take(&mut inputs[ci][sub]),
                outputs: std::mem::take(&mut outputs[ci][sub]),
                cancel: cancel.clone(),
                progress: config.progress.clone(),
                is_terminal: terminal,
                source_rows: 0,
                source_metrics: OperatorMetrics::default(),
                barrier_counts: Vec::new(),
            });
        }
    }
    Ok(tasks)
}
