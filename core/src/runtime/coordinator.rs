//! The checkpoint coordinator (Flink's `CheckpointCoordinator`, on its own thread): triggers
//! checkpoints at the sources, collects the tasks' acknowledgements, writes their state
//! while the tasks go on processing, completes checkpoints and commits the sinks.
//!
//! ```text
//!  every interval: Trigger(barrier n) ─▶ each source task
//!  each task:      Ack(n, snapshots)  ─▶ write state files (this thread: asynchronous for
//!                                         the tasks) ─▶ all acked ─▶ manifest ─▶ complete
//!                                         ─▶ sinks commit ─▶ prune old checkpoints
//!  a source task finished, a task failed, or the timeout passed ─▶ the pending one aborts
//! ```
//!
//! A sink closes its files when it acknowledges a checkpoint and hands them out once, in
//! that acknowledgement. So the committables of a checkpoint that never completes (aborted,
//! or acknowledged after it was) are carried: the next checkpoint to complete records and
//! commits them (its positions are past their rows), or the end of the job does. A failure
//! before then drops them with the rest of the uncommitted output, and the restore replays
//! their rows.
//!
//! One checkpoint is pending at a time. A savepoint is a checkpoint written self-contained
//! into `savepoints/sp-N/`, requested through [`JobControl`] or by creating the file
//! `savepoint-request` in the checkpoint directory (what `millstream savepoint` does).

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};

use crate::batch::{Barrier, BarrierKind};
use crate::checkpoint::manifest::{
    Manifest, NodeManifest, SnapshotKind, SubtaskManifest, MANIFEST_VERSION,
};
use crate::checkpoint::storage::Destination;
use crate::checkpoint::{CheckpointConfig, CheckpointStore, SubtaskSnapshot, WriteStats};
use crate::connector::SinkFactoryRef;
use crate::error::{Error, Result};

/// File whose presence in the checkpoint directory asks the running job for a savepoint.
pub const SAVEPOINT_REQUEST_FILE: &str = "savepoint-request";

/// What tasks tell the coordinator.
pub(crate) enum TaskMessage {
    /// A task snapshotted its chain for checkpoint `checkpoint_id`.
    Ack {
        checkpoint_id: u64,
        task: usize,
        snapshots: Vec<SubtaskSnapshot>,
        alignment: Duration,
        sync: Duration,
    },
    /// A task reached the end of its input; `committables` are its sinks' last ones.
    Finished {
        task: usize,
        is_source: bool,
        committables: Vec<(usize, Vec<u8>)>,
    },
}

/// Live control of a running job, shared with the program that started it.
#[derive(Debug, Default)]
pub struct JobControl {
    savepoint_requested: AtomicBool,
    savepoints: Mutex<Vec<PathBuf>>,
    cancel_requested: AtomicBool,
}

impl JobControl {
    /// A fresh control handle.
    pub fn new() -> Self {
        JobControl::default()
    }

    /// Ask for a savepoint at the next opportunity.
    pub fn request_savepoint(&self) {
        self.savepoint_requested.store(true, Ordering::Relaxed);
    }

    /// Ask the job to stop: its tasks end soon after and `execute` returns
    /// [`Error::Cancelled`](crate::error::Error::Cancelled), with no restart. How an
    /// unbounded query is stopped (Ctrl-C in `millstream sql`).
    pub fn cancel(&self) {
        self.cancel_requested.store(true, Ordering::Relaxed);
    }

    /// Whether [`cancel`](Self::cancel) was called.
    pub fn is_cancel_requested(&self) -> bool {
        self.cancel_requested.load(Ordering::Relaxed)
    }

    /// Directories of the savepoints completed so far.
    pub fn savepoints(&self) -> Vec<PathBuf> {
        match self.savepoints.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn push_savepoint(&self, p: PathBuf) {
        match self.savepoints.lock() {
            Ok(mut g) => g.push(p),
            Err(poisoned) => poisoned.into_inner().push(p),
        }
    }
}

/// Figures of one completed checkpoint.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckpointStats {
    /// Checkpoint id.
    pub id: u64,
    /// Checkpoint or savepoint.
    pub kind: SnapshotKind,
    /// Where it is.
    pub path: PathBuf,
    /// From trigger to completion.
    pub duration: Duration,
    /// Longest time any task spent aligning barriers.
    pub alignment: Duration,
    /// Longest synchronous snapshot phase of any task.
    pub sync: Duration,
    /// Time spent writing state files (the asynchronous phase).
    pub write: Duration,
    /// Files and bytes written and referenced.
    pub written: WriteStats,
}

impl CheckpointStats {
    /// Bytes written per second of write time.
    pub fn write_bytes_per_sec(&self) -> f64 {
        self.written.bytes_written as f64 / self.write.as_secs_f64().max(1e-9)
    }
}

struct Pending {
    id: u64,
    kind: BarrierKind,
    started: Instant,
    acked: Vec<bool>,
    nodes: Vec<NodeManifest>,
    /// The sinks' committables in the acknowledgements so far, by `(node, subtask)`.
    committables: Carried,
    written: WriteStats,
    write_time: Duration,
    alignment: Duration,
    sync: Duration,
    dir: PathBuf,
}

/// Committables by `(node, subtask)`: of a pending checkpoint, or carried over from
/// checkpoints that did not complete.
type Carried = BTreeMap<(usize, usize), Vec<Vec<u8>>>;

/// What the coordinator reports when the job's tasks are gone.
pub(crate) struct CoordinatorReport {
    pub(crate) checkpoints: Vec<CheckpointStats>,
    pub(crate) aborted: u64,
    pub(crate) final_committables: HashMap<usize, Vec<Vec<u8>>>,
    pub(crate) next_id: u64,
}

/// Static facts about the job the coordinator works for.
pub(crate) struct JobShape {
    pub(crate) name: String,
    pub(crate) max_parallelism: usize,
    /// Per graph node: name and parallelism.
    pub(crate) nodes: Vec<(String, usize)>,
    /// Sink nodes and their committers.
    pub(crate) committers: Vec<(usize, SinkFactoryRef)>,
    pub(crate) num_tasks: usize,
}

pub(crate) struct Coordinator {
    pub(crate) shape: JobShape,
    pub(crate) config: Option<CheckpointConfig>,
    pub(crate) store: Option<CheckpointStore>,
    pub(crate) triggers: Vec<(usize, Sender<Barrier>)>,
    pub(crate) rx: Receiver<TaskMessage>,
    pub(crate) control: Arc<JobControl>,
    pub(crate) cancel: Arc<AtomicBool>,
    pub(crate) next_id: u64,
}

impl Coordinator {
    /// Run until every task has dropped its sender.
    pub(crate) fn run(mut self) -> Result<CoordinatorReport> {
        let mut report = CoordinatorReport {
            checkpoints: Vec::new(),
            aborted: 0,
            final_committables: HashMap::new(),
            next_id: self.next_id,
        };
        let mut pending: Option<Pending> = None;
        // Committables of acknowledgements whose checkpoint did not complete.
        let mut carried = Carried::new();
        let mut sources_running = self.triggers.len();
        let mut finished = vec![false; self.shape.num_tasks];
        let interval = self.config.as_ref().map(|c| c.interval);
        let mut next_trigger = interval.map(|i| Instant::now() + i);
        let result = loop {
            let wait = match (&pending, next_trigger) {
                (None, Some(t)) => t.saturating_duration_since(Instant::now()),
                _ => Duration::from_millis(100),
            }
            .min(Duration::from_millis(100));
            match self.rx.recv_timeout(wait) {
                Ok(TaskMessage::Ack {
                    checkpoint_id,
                    task,
                    snapshots,
                    alignment,
                    sync,
                }) => match pending.as_mut().filter(|p| p.id == checkpoint_id) {
                    Some(p) => {
                        if let Err(e) = self.write_ack(p, task, snapshots, alignment, sync) {
                            break Err(e);
                        }
                    }
                    None => discard(snapshots, &mut carried),
                },
                Ok(TaskMessage::Finished {
                    task,
                    is_source,
                    committables,
                }) => {
                    finished[task] = true;
                    if is_source {
                        sources_running = sources_running.saturating_sub(1);
                    }
                    for (node, c) in committables {
                        report.final_committables.entry(node).or_default().push(c);
                    }
                    // A task that ends before acknowledging can no longer do so.
                    if pending.as_ref().is_some_and(|p| !p.acked[task]) {
                        carry(pending.take(), &mut carried);
                        report.aborted += 1;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => break Ok(()),
            }
            if self.control.is_cancel_requested() {
                self.cancel.store(true, Ordering::Relaxed);
            }
            if self.cancel.load(Ordering::Relaxed) {
                break Ok(());
            }
            if let Some(p) = &pending {
                if p.acked.iter().all(|&a| a) {
                    let Some(p) = pending.take() else { continue };
                    match self.complete(p, &mut carried) {
                        Ok(s) => report.checkpoints.push(s),
                        Err(e) => break Err(e),
                    }
                    next_trigger = interval.map(|i| Instant::now() + i);
                } else if let Some(c) = &self.config {
                    if p.started.elapsed() > c.timeout {
                        eprintln!(
                            "checkpoint {} timed out after {:?}; aborted",
                            p.id, c.timeout
                        );
                        carry(pending.take(), &mut carried);
                        report.aborted += 1;
                        next_trigger = interval.map(|i| Instant::now() + i);
                    }
                }
            }
            if pending.is_none() && sources_running == self.triggers.len() && self.store.is_some() {
                let savepoint = self.savepoint_requested();
                let due = next_trigger.is_some_and(|t| Instant::now() >= t);
                if savepoint || due {
                    let kind = if savepoint {
                        BarrierKind::Savepoint
                    } else {
                        BarrierKind::Checkpoint
                    };
                    pending = self.trigger(kind, &finished);
                    if pending.is_none() {
                        report.aborted += 1;
                    }
                    next_trigger = interval.map(|i| Instant::now() + i);
                }
            }
        };
        if let Some(p) = pending {
            if p.kind == BarrierKind::Savepoint {
                let _ = std::fs::remove_dir_all(&p.dir);
            }
            carry(Some(p), &mut carried);
        }
        // The job's last commit (after a successful run) takes what no checkpoint did.
        for ((node, _), cs) in carried {
            report
                .final_committables
                .entry(node)
                .or_default()
                .extend(cs);
        }
        report.next_id = self.next_id;
        result.map(|()| report)
    }

    fn savepoint_requested(&self) -> bool {
        let flag = self.control.savepoint_requested.load(Ordering::Relaxed);
        let file = self
            .store
            .as_ref()
            .is_some_and(|s| s.root().join(SAVEPOINT_REQUEST_FILE).exists());
        flag || file
    }

    fn trigger(&mut self, kind: BarrierKind, finished: &[bool]) -> Option<Pending> {
        let store = self.store.as_ref()?;
        let id = self.next_id;
        self.next_id += 1;
        let barrier = Barrier {
            checkpoint_id: id,
            kind,
        };
        for (_, tx) in &self.triggers {
            if tx.send(barrier).is_err() {
                return None;
            }
        }
        let dir = match kind {
            BarrierKind::Checkpoint => store.checkpoint_dir(id),
            BarrierKind::Savepoint => store.savepoint_dir(id),
        };
        Some(Pending {
            id,
            kind,
            started: Instant::now(),
            acked: finished.iter().map(|_| false).collect(),
            nodes: self
                .shape
                .nodes
                .iter()
                .map(|(name, p)| NodeManifest {
                    name: name.clone(),
                    parallelism: *p,
                    subtasks: Vec::new(),
                })
                .collect(),
            committables: Carried::new(),
            written: WriteStats::default(),
            write_time: Duration::ZERO,
            alignment: Duration::ZERO,
            sync: Duration::ZERO,
            dir,
        })
    }

    fn write_ack(
        &mut self,
        p: &mut Pending,
        task: usize,
        snapshots: Vec<SubtaskSnapshot>,
        alignment: Duration,
        sync: Duration,
    ) -> Result<()> {
        let Some(store) = self.store.as_mut() else {
            return Ok(());
        };
        let started = Instant::now();
        let dest = match p.kind {
            BarrierKind::Checkpoint => Destination::Shared,
            BarrierKind::Savepoint => Destination::Savepoint(p.dir.clone()),
        };
        for snap in snapshots {
            let node = snap.node;
            if !snap.committables.is_empty() {
                p.committables
                    .entry((node, snap.subtask))
                    .or_default()
                    .extend(snap.committables.iter().cloned());
            }
            let (m, stats) = store.write_subtask(snap, self.shape.max_parallelism, &dest)?;
            p.written.add(stats);
            if let Some(n) = p.nodes.get_mut(node) {
                n.subtasks.push(m);
            }
        }
        p.write_time += started.elapsed();
        p.alignment = p.alignment.max(alignment);
        p.sync = p.sync.max(sync);
        if let Some(a) = p.acked.get_mut(task) {
            *a = true;
        }
        Ok(())
    }

    /// Complete `p`: record and commit its committables and the `carried` ones (which
    /// every task acknowledged before it acknowledged `p`, so their rows are before `p`'s
    /// positions).
    fn complete(&mut self, mut p: Pending, carried: &mut Carried) -> Result<CheckpointStats> {
        let Some(store) = self.store.as_mut() else {
            return Err(Error::Internal(
                "checkpoint completed without a store".into(),
            ));
        };
        for ((node, subtask), cs) in std::mem::take(carried) {
            if let Some(n) = p.nodes.get_mut(node) {
                let hex = cs.iter().map(|c| crate::checkpoint::manifest::to_hex(c));
                match n.subtasks.iter_mut().find(|s| s.subtask == subtask) {
                    Some(s) => s.committables.extend(hex),
                    None => n.subtasks.push(SubtaskManifest {
                        subtask,
                        committables: hex.collect(),
                        ..SubtaskManifest::default()
                    }),
                }
            }
            p.committables
                .entry((node, subtask))
                .or_default()
                .extend(cs);
        }
        for n in &mut p.nodes {
            n.subtasks.sort_by_key(|s| s.subtask);
        }
        let kind = match p.kind {
            BarrierKind::Checkpoint => SnapshotKind::Checkpoint,
            BarrierKind::Savepoint => SnapshotKind::Savepoint,
        };
        let manifest = Manifest {
            version: MANIFEST_VERSION,
            checkpoint_id: p.id,
            kind,
            timestamp_ms: crate::time::now_ms(),
            job: self.shape.name.clone(),
            max_parallelism: self.shape.max_parallelism,
            nodes: p.nodes,
        };
        store.write_manifest(&p.dir, &manifest)?;
        let mut by_node: HashMap<usize, Vec<Vec<u8>>> = HashMap::new();
        for ((node, _), cs) in p.committables {
            by_node.entry(node).or_default().extend(cs);
        }
        commit_all(&self.shape.committers, p.id, &by_node)?;
        if kind == SnapshotKind::Savepoint {
            self.control
                .savepoint_requested
                .store(false, Ordering::Relaxed);
            let _ = std::fs::remove_file(store.root().join(SAVEPOINT_REQUEST_FILE));
            let _ = std::fs::write(
                store.root().join("savepoints").join("latest"),
                p.dir.display().to_string(),
            );
            self.control.push_savepoint(p.dir.clone());
        } else if let Some(c) = &self.config {
            store.prune(c.retain)?;
        }
        Ok(CheckpointStats {
            id: p.id,
            kind,
            path: p.dir,
            duration: p.started.elapsed(),
            alignment: p.alignment,
            sync: p.sync,
            write: p.write_time,
            written: p.written,
        })
    }
}

/// Commit every sink's committables of checkpoint `id`.
pub(crate) fn commit_all(
    committers: &[(usize, SinkFactoryRef)],
    id: u64,
    committables: &HashMap<usize, Vec<Vec<u8>>>,
) -> Result<()> {
    for (node, sink) in committers {
        if let Some(c) = committables.get(node) {
            sink.commit(id, c)?;
        }
    }
    Ok(())
}

/// Keep the committables of a checkpoint that will not complete for a later one.
fn carry(p: Option<Pending>, carried: &mut Carried) {
    for (key, cs) in p.into_iter().flat_map(|p| p.committables) {
        carried.entry(key).or_default().extend(cs);
    }
}

/// Drop the state files of snapshots that no checkpoint will use; their committables are
/// carried (the sinks closed those files and will not hand them out again).
fn discard(snapshots: Vec<SubtaskSnapshot>, carried: &mut Carried) {
    for s in snapshots {
        if !s.committables.is_empty() {
            carried
                .entry((s.node, s.subtask))
                .or_default()
                .extend(s.committables);
        }
        for f in s.state.files {
            let _ = std::fs::remove_dir_all(&f.dir);
        }
    }
}

#[cfg(test)]
#[path = "coordinator_tests.rs"]
mod tests;
