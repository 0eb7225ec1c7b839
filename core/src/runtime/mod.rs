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
mod coordinator;
mod restore;
mod task;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{bounded, Receiver, Sender};

pub use channel::ChannelStats;
pub use coordinator::{CheckpointStats, JobControl, SAVEPOINT_REQUEST_FILE};
pub use task::JobProgress;

use self::channel::OutputEdge;
use self::coordinator::{commit_all, Coordinator, CoordinatorReport, JobShape, TaskMessage};
use self::restore::Restorer;
use self::task::{ChainedOp, InputChannel, Task, TaskCheckpointing, TaskReport, TaskRestore};
use crate::batch::{Barrier, BatchConfig, StreamEvent};
use crate::checkpoint::manifest::{Manifest, NodeManifest, SubtaskManifest, MANIFEST_VERSION};
use crate::checkpoint::{
    CheckpointConfig, CheckpointMode, CheckpointStore, LoadedCheckpoint, RestartStrategy,
    RestoreFrom, SnapshotKind,
};
use crate::connector::{SinkFactoryRef, SourceContext};
use crate::error::{Error, Result};
use crate::operator::{OpContext, OperatorInit, OperatorMetrics, Output};
use crate::plan::{JobGraph, NodeKind, Partitioning, PhysicalPlan};
use crate::state::StateBackendKind;

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
    /// Periodic checkpoints; `None` disables them (sinks still commit at the end).
    pub checkpoint: Option<CheckpointConfig>,
    /// Where the job starts from.
    pub restore: RestoreFrom,
    /// What happens when a task fails.
    pub restart: RestartStrategy,
    /// Where keyed state lives.
    pub state_backend: StateBackendKind,
    /// Savepoint requests and results, shared with the program.
    pub control: Arc<JobControl>,
    /// Rows per second of wall time each source node may produce (spread over its
    /// subtasks); `None` for no limit.
    pub source_max_rate: Option<u64>,
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
            checkpoint: None,
            restore: RestoreFrom::Nothing,
            restart: RestartStrategy::None,
            state_backend: StateBackendKind::Memory,
            control: Arc::new(JobControl::new()),
            source_max_rate: None,
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
    /// Checkpoints and savepoints completed (over all attempts).
    pub checkpoints: Vec<CheckpointStats>,
    /// Checkpoints aborted (timeout, a task finished or failed first).
    pub checkpoints_aborted: u64,
    /// Restarts after task failures.
    pub restarts: u32,
    /// The checkpoint the job first started from.
    pub restored_from: Option<std::path::PathBuf>,
    /// Id of the last commit of the sinks' output (the final one when the job ended).
    pub final_checkpoint_id: u64,
    /// The checkpoint to restore from said the job had already finished: nothing ran.
    pub already_finished: bool,
    /// Time from the start of `execute` until every task of the first attempt held its
    /// restored state (finding, verifying and reading the checkpoint), when restoring.
    pub restore_time: Option<Duration>,
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
/// With checkpointing configured, the job snapshots its state periodically; a task failure
/// restarts it from the latest completed checkpoint under [`JobConfig::restart`]; sinks
/// commit their output when a checkpoint completes and at the end.
///
/// # Errors
/// The first error of any task, wrapped with the operator and subtask it came from, once
/// the restart strategy gives up; an unusable checkpoint to restore from.
pub fn execute(name: &str, graph: &JobGraph, config: &JobConfig) -> Result<JobResult> {
    let plan = crate::plan::plan(graph, config.parallelism, config.chaining)?;
    let started = Instant::now();
    let committers: Vec<(usize, SinkFactoryRef)> = plan
        .graph
        .nodes
        .iter()
        .filter_map(|n| n.committer.as_ref().map(|c| (n.id.0, c.0.clone())))
        .collect();
    let store_dir = config.checkpoint.as_ref().map(|c| c.dir.clone());
    let warn = &mut |m: String| eprintln!("warning: {m}");
    let mut restore: Option<LoadedCheckpoint> = match &config.restore {
        RestoreFrom::Nothing => None,
        RestoreFrom::Path(p) => Some(LoadedCheckpoint::load(p)?),
        RestoreFrom::Latest => match &store_dir {
            Some(d) => CheckpointStore::open(d)?.latest_valid(warn)?,
            None => {
                return Err(Error::Plan(
                    "restoring the latest checkpoint needs a checkpoint directory".into(),
                ))
            }
        },
    };
    let restored_from = restore.as_ref().map(|r| r.dir.clone());
    let mut next_id = match &store_dir {
        Some(d) => CheckpointStore::open(d)?.max_id()? + 1,
        None => 1,
    };
    if let Some(r) = &restore {
        next_id = next_id.max(r.manifest.checkpoint_id + 1);
    }
    let mut checkpoints = Vec::new();
    let mut aborted = 0;
    let mut restarts = 0u32;
    let mut restore_time = None;
    loop {
        // Output of the checkpoint we start from is committed (again: commits are
        // idempotent); anything written after it is dropped.
        if let Some(r) = &restore {
            let restorer = Restorer {
                checkpoint: r,
                max_parallelism: config.max_parallelism,
            };
            restorer.check(&plan)?;
            commit_all(
                &committers,
                r.manifest.checkpoint_id,
                &restorer.committables(),
            )?;
            if r.manifest.kind == SnapshotKind::Final {
                return Ok(JobResult {
                    already_finished: true,
                    final_checkpoint_id: r.manifest.checkpoint_id,
                    restored_from,
                    ..summarize(name, &plan, Vec::new(), started.elapsed())
                });
            }
        }
        let resuming = config.restore != RestoreFrom::Nothing || restarts > 0;
        let base = restore.as_ref().map_or(0, |r| r.manifest.checkpoint_id);
        for (_, sink) in &committers {
            sink.abort_uncommitted()?;
            if resuming {
                sink.rollback_after(base)?;
            }
        }
        let (attempt, error) =
            run_attempt(name, &plan, config, restore.as_ref(), next_id, &committers);
        if restarts == 0 && restore.is_some() {
            restore_time = attempt.built.map(|t| t.duration_since(started));
        }
        next_id = attempt.report.next_id;
        checkpoints.extend(attempt.report.checkpoints.iter().cloned());
        aborted += attempt.report.aborted;
        let Some(error) = error else {
            let final_id = next_id;
            finish_job(name, config, &plan, &committers, &attempt.report, final_id)?;
            let mut result = summarize(name, &plan, attempt.tasks, started.elapsed());
            result.checkpoints = checkpoints;
            result.checkpoints_aborted = aborted;
            result.restarts = restarts;
            result.restored_from = restored_from;
            result.final_checkpoint_id = final_id;
            result.restore_time = restore_time;
            return Ok(result);
        };
        restarts += 1;
        let delay = match config.restart.delay(restarts) {
            Some(d) if !matches!(error, Error::Cancelled) => d,
            _ => return Err(error),
        };
        if let Some(d) = &store_dir {
            if let Some(latest) = CheckpointStore::open(d)?.latest_valid(warn)? {
                if restore
                    .as_ref()
                    .is_none_or(|r| r.manifest.checkpoint_id < latest.manifest.checkpoint_id)
                {
                    restore = Some(latest);
                }
            }
        }
        eprintln!(
            "job '{name}' failed ({error}); restart {restarts} in {delay:?} from {}",
            restore
                .as_ref()
                .map_or("the beginning".to_string(), |r| r.dir.display().to_string())
        );
        std::thread::sleep(delay);
    }
}

/// What one attempt produced.
struct Attempt {
    tasks: Vec<TaskReport>,
    report: CoordinatorReport,
    /// When the tasks were built (restored state read).
    built: Option<Instant>,
}

/// Run the tasks once, with a coordinator, until they end or one fails.
fn run_attempt(
    name: &str,
    plan: &PhysicalPlan,
    config: &JobConfig,
    restore: Option<&LoadedCheckpoint>,
    next_id: u64,
    committers: &[(usize, SinkFactoryRef)],
) -> (Attempt, Option<Error>) {
    let empty = |next_id| CoordinatorReport {
        checkpoints: Vec::new(),
        aborted: 0,
        final_committables: Default::default(),
        next_id,
    };
    let (coord_tx, coord_rx) = crossbeam_channel::unbounded::<TaskMessage>();
    let built = build_tasks(plan, config, restore, &coord_tx);
    let built_at = Some(Instant::now());
    drop(coord_tx);
    let (tasks, triggers) = match built {
        Ok(t) => t,
        Err(e) => {
            return (
                Attempt {
                    tasks: Vec::new(),
                    report: empty(next_id),
                    built: None,
                },
                Some(e),
            )
        }
    };
    let cancel = tasks
        .first()
        .map(|t| t.cancel.clone())
        .unwrap_or_else(|| Arc::new(AtomicBool::new(false)));
    let store = match &config.checkpoint {
        Some(c) => match CheckpointStore::open(&c.dir) {
            Ok(s) => Some(s),
            Err(e) => {
                return (
                    Attempt {
                        tasks: Vec::new(),
                        report: empty(next_id),
                        built: None,
                    },
                    Some(e),
                )
            }
        },
        None => None,
    };
    let coordinator = Coordinator {
        shape: JobShape {
            name: name.to_string(),
            max_parallelism: config.max_parallelism,
            nodes: plan
                .graph
                .nodes
                .iter()
                .map(|n| (n.name.clone(), plan.parallelism[n.id.0]))
                .collect(),
            committers: committers.to_vec(),
            num_tasks: tasks.len(),
        },
        config: config.checkpoint.clone(),
        store,
        triggers,
        rx: coord_rx,
        control: config.control.clone(),
        cancel: cancel.clone(),
        next_id,
    };
    let coord_cancel = cancel.clone();
    let coord = std::thread::Builder::new()
        .name("checkpoint-coordinator".into())
        .spawn(move || {
            let r = coordinator.run();
            if r.is_err() {
                coord_cancel.store(true, std::sync::atomic::Ordering::Relaxed);
            }
            r
        });
    let mut handles = Vec::with_capacity(tasks.len());
    let mut first_error: Option<Error> = None;
    for (label, task) in tasks.into_iter().map(|t| (task_label(plan, &t), t)) {
        let task_cancel = task.cancel.clone();
        let h = std::thread::Builder::new()
            .name(label.clone())
            .spawn(move || {
                let r = task.run();
                if r.is_err() {
                    task_cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                }
                r
            });
        match h {
            Ok(h) => handles.push(h),
            Err(e) => {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                first_error = Some(Error::io(format!("spawning task thread {label}"), e));
            }
        }
    }
    let mut reports: Vec<TaskReport> = Vec::new();
    for h in handles {
        match h.join() {
            Ok(Ok(r)) => reports.push(r),
            Ok(Err(e)) => {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                note_error(&mut first_error, e);
            }
            Err(panic) => {
                cancel.store(true, std::sync::atomic::Ordering::Relaxed);
                note_error(
                    &mut first_error,
                    Error::Internal(format!("task panicked: {}", panic_message(&panic))),
                );
            }
        }
    }
    let report = match coord {
        Ok(h) => match h.join() {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => {
                note_error(&mut first_error, e);
                empty(next_id)
            }
            Err(panic) => {
                note_error(
                    &mut first_error,
                    Error::Internal(format!(
                        "checkpoint coordinator panicked: {}",
                        panic_message(&panic)
                    )),
                );
                empty(next_id)
            }
        },
        Err(e) => {
            note_error(
                &mut first_error,
                Error::io("spawning the checkpoint coordinator", e),
            );
            empty(next_id)
        }
    };
    let attempt = Attempt {
        tasks: reports,
        report,
        built: built_at,
    };
    (attempt, first_error)
}

/// Keep the first real error (a cancellation only until a real one shows up).
fn note_error(first: &mut Option<Error>, e: Error) {
    let replace = match first {
        None => true,
        Some(prev) => matches!(prev, Error::Cancelled) && !matches!(e, Error::Cancelled),
    };
    if replace {
        *first = Some(e);
    }
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// The end of a successful run: record the sinks' last committables in a final checkpoint
/// (so a restart after a crash right here commits them instead of running again), then
/// commit them.
fn finish_job(
    name: &str,
    config: &JobConfig,
    plan: &PhysicalPlan,
    committers: &[(usize, SinkFactoryRef)],
    report: &CoordinatorReport,
    final_id: u64,
) -> Result<()> {
    if let Some(c) = &config.checkpoint {
        let mut store = CheckpointStore::open(&c.dir)?;
        let nodes = plan
            .graph
            .nodes
            .iter()
            .map(|n| NodeManifest {
                name: n.name.clone(),
                parallelism: plan.parallelism[n.id.0],
                subtasks: report
                    .final_committables
                    .get(&n.id.0)
                    .map(|cs| {
                        vec![SubtaskManifest {
                            committables: cs
                                .iter()
                                .map(|c| crate::checkpoint::manifest::to_hex(c))
                                .collect(),
                            ..SubtaskManifest::default()
                        }]
                    })
                    .unwrap_or_default(),
            })
            .collect();
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            checkpoint_id: final_id,
            kind: SnapshotKind::Final,
            timestamp_ms: crate::time::now_ms(),
            job: name.to_string(),
            max_parallelism: config.max_parallelism,
            nodes,
        };
        store.write_manifest(&store.checkpoint_dir(final_id), &manifest)?;
        commit_all(committers, final_id, &report.final_committables)?;
        store.prune(c.retain)?;
    } else {
        commit_all(committers, final_id, &report.final_committables)?;
    }
    Ok(())
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
        checkpoints: Vec::new(),
        checkpoints_aborted: 0,
        restarts: 0,
        restored_from: None,
        final_checkpoint_id: 0,
        already_finished: false,
        restore_time: None,
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

type Triggers = Vec<(usize, crossbeam_channel::Sender<Barrier>)>;

fn build_tasks(
    plan: &PhysicalPlan,
    config: &JobConfig,
    restore: Option<&LoadedCheckpoint>,
    coordinator: &crossbeam_channel::Sender<TaskMessage>,
) -> Result<(Vec<Task>, Triggers)> {
    let g: &JobGraph = &plan.graph;
    let restorer = restore.map(|checkpoint| Restorer {
        checkpoint,
        max_parallelism: config.max_parallelism,
    });
    let mut triggers: Triggers = Vec::new();
    let mode = config
        .checkpoint
        .as_ref()
        .map_or(CheckpointMode::ExactlyOnce, |c| c.mode);
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
            let mut committing = Vec::new();
            let mut task_restore = restorer.as_ref().map(|_| TaskRestore::default());
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
                        let created = match &restorer {
                            Some(r) => r
                                .source_positions(id.0)
                                .and_then(|pos| f.restore(&ctx, &pos)),
                            None => f.create(&ctx),
                        };
                        let s = created.map_err(|e| Error::WithOperator {
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
                        if let (Some(r), Some(tr)) = (&restorer, task_restore.as_mut()) {
                            tr.ops.push(r.operator_state(id.0, sub, p)?);
                            if ops.is_empty() {
                                tr.channel_state = r.channel_state(id.0, sub, p)?;
                            }
                        }
                        let mut ctx = OpContext::new(sub, p, config.max_parallelism);
                        ctx.state_backend = config.state_backend.clone();
                        committing.push(node.committer.is_some());
                        ops.push(ChainedOp {
                            node: id.0,
                            name: node.name.clone(),
                            op,
                            ctx,
                            out: Output::new(),
                        });
                    }
                }
            }
            let index = tasks.len();
            let source_triggers = if source.is_some() {
                let (tx, rx) = crossbeam_channel::unbounded();
                triggers.push((index, tx));
                Some(rx)
            } else {
                None
            };
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
                checkpointing: TaskCheckpointing {
                    index,
                    coordinator: coordinator.clone(),
                    triggers: source_triggers,
                    mode,
                    committing,
                    restore: task_restore,
                },
                input_watermark: crate::time::Watermark::MIN,
                max_rate: config
                    .source_max_rate
                    .map(|r| r as f64 / chain.parallelism.max(1) as f64),
            });
        }
    }
    Ok((tasks, triggers))
}
