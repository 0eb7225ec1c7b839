//! The coordinator's handling of sink committables when a checkpoint does not complete.
//!
//! A sink closes its part files when it acknowledges a checkpoint and hands their
//! committable out only in that acknowledgement; if the checkpoint then aborts (a task
//! finished or timed out before acknowledging, or the acknowledgement came late), those rows
//! must still be committed by a later checkpoint or by the end of the job.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crossbeam_channel::{unbounded, Receiver, Sender};

use super::*;
use crate::checkpoint::storage::read_manifest;
use crate::connector::{Sink, SinkFactory};

/// Graph node of the source and of the sink in the jobs below.
const SOURCE: usize = 0;
const SINK: usize = 1;

/// A sink factory that records every commit.
#[derive(Default)]
struct Recorder {
    commits: Mutex<Vec<(u64, Vec<Vec<u8>>)>>,
}

impl Recorder {
    fn commits(&self) -> Vec<(u64, Vec<Vec<u8>>)> {
        let mut v = self.commits.lock().unwrap().clone();
        for (_, cs) in &mut v {
            cs.sort();
        }
        v
    }
}

impl SinkFactory for Recorder {
    fn name(&self) -> String {
        "recorder".into()
    }

    fn create(&self, _: usize, _: usize) -> Result<Box<dyn Sink>> {
        Err(Error::Internal("not used".into()))
    }

    fn commit(&self, checkpoint_id: u64, committables: &[Vec<u8>]) -> Result<()> {
        let mut commits = self.commits.lock().unwrap();
        commits.push((checkpoint_id, committables.to_vec()));
        Ok(())
    }
}

/// A coordinator of a job of two tasks, each a source chained with a sink, checkpointing
/// into `dir`; the receivers of the tasks' triggers and the sender of their messages.
fn coordinator(
    dir: &Path,
    sink: Arc<Recorder>,
) -> (Coordinator, Vec<Receiver<Barrier>>, Sender<TaskMessage>) {
    let config = CheckpointConfig::new(dir, Duration::from_millis(1));
    let (tx, rx) = unbounded();
    let (mut triggers, mut trigger_rx) = (Vec::new(), Vec::new());
    for task in 0..2 {
        let (t, r) = unbounded();
        triggers.push((task, t));
        trigger_rx.push(r);
    }
    let c = Coordinator {
        shape: JobShape {
            name: "job".into(),
            max_parallelism: 128,
            nodes: vec![("source".into(), 2), ("sink".into(), 2)],
            committers: vec![(SINK, sink as SinkFactoryRef)],
            num_tasks: 2,
        },
        config: Some(config),
        store: Some(CheckpointStore::open(dir).unwrap()),
        triggers,
        rx,
        control: Arc::new(JobControl::new()),
        cancel: Arc::new(AtomicBool::new(false)),
        next_id: 1,
    };
    (c, trigger_rx, tx)
}

/// What task `task` acknowledges: its source position and its sink's committables.
fn snapshots(task: usize, committables: &[&[u8]]) -> Vec<SubtaskSnapshot> {
    vec![
        SubtaskSnapshot {
            node: SOURCE,
            subtask: task,
            source_position: Some(vec![task as u8]),
            ..SubtaskSnapshot::default()
        },
        SubtaskSnapshot {
            node: SINK,
            subtask: task,
            committables: committables.iter().map(|c| c.to_vec()).collect(),
            ..SubtaskSnapshot::default()
        },
    ]
}

fn ack(task: usize, checkpoint_id: u64, committables: &[&[u8]]) -> TaskMessage {
    TaskMessage::Ack {
        checkpoint_id,
        task,
        snapshots: snapshots(task, committables),
        alignment: Duration::ZERO,
        sync: Duration::ZERO,
    }
}

fn finished(task: usize, committables: &[&[u8]]) -> TaskMessage {
    TaskMessage::Finished {
        task,
        is_source: true,
        committables: committables.iter().map(|c| (SINK, c.to_vec())).collect(),
    }
}

fn sorted(mut v: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
    v.sort();
    v
}

/// The committables the manifest of checkpoint directory `dir` records for the sink.
fn recorded(dir: &Path) -> Vec<Vec<u8>> {
    let m = read_manifest(dir).unwrap();
    let cs = m.nodes[SINK].subtasks.iter().flat_map(|s| &s.committables);
    sorted(
        cs.map(|c| crate::checkpoint::manifest::from_hex(c).unwrap())
            .collect(),
    )
}

#[test]
fn committables_of_a_checkpoint_a_finishing_task_aborts_are_committed_at_the_end() {
    // Task 1 reaches the end of its input with checkpoint n's trigger unread; task 0 has
    // acknowledged n, closing part file "a". Nothing else will ever commit "a".
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Recorder::default());
    let (c, triggers, tx) = coordinator(dir.path(), sink.clone());
    let coord = std::thread::spawn(move || c.run());
    let n = triggers[0]
        .recv_timeout(Duration::from_secs(30))
        .unwrap()
        .checkpoint_id;
    tx.send(ack(0, n, &[b"a"])).unwrap();
    tx.send(finished(1, &[b"b"])).unwrap();
    tx.send(finished(0, &[b"c"])).unwrap();
    drop(tx);
    let report = coord.join().unwrap().unwrap();
    assert_eq!(report.aborted, 1);
    assert!(report.checkpoints.is_empty());
    let last = report
        .final_committables
        .get(&SINK)
        .cloned()
        .unwrap_or_default();
    assert_eq!(sorted(last), [b"a".to_vec(), b"b".to_vec(), b"c".to_vec()]);
}

#[test]
fn an_acknowledgement_after_the_abort_is_committed_at_the_end() {
    // As above, but task 1's end reaches the coordinator before task 0's acknowledgement.
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Recorder::default());
    let (c, triggers, tx) = coordinator(dir.path(), sink.clone());
    let coord = std::thread::spawn(move || c.run());
    let n = triggers[0]
        .recv_timeout(Duration::from_secs(30))
        .unwrap()
        .checkpoint_id;
    tx.send(finished(1, &[])).unwrap();
    tx.send(ack(0, n, &[b"a"])).unwrap();
    tx.send(finished(0, &[])).unwrap();
    drop(tx);
    let report = coord.join().unwrap().unwrap();
    assert_eq!(report.aborted, 1);
    let last = report
        .final_committables
        .get(&SINK)
        .cloned()
        .unwrap_or_default();
    assert_eq!(last, [b"a".to_vec()]);
}

#[test]
fn the_next_checkpoint_records_and_commits_what_an_aborted_one_carried() {
    let dir = tempfile::tempdir().unwrap();
    let sink = Arc::new(Recorder::default());
    let (mut c, _triggers, _tx) = coordinator(dir.path(), sink.clone());
    let mut carried = Carried::new();
    // Checkpoint 1: task 0 acknowledges with "a", then it aborts (a timeout).
    let mut p1 = c.trigger(BarrierKind::Checkpoint, &[false, false]).unwrap();
    c.write_ack(
        &mut p1,
        0,
        snapshots(0, &[b"a"]),
        Duration::ZERO,
        Duration::ZERO,
    )
    .unwrap();
    carry(Some(p1), &mut carried);
    // Task 1 acknowledges checkpoint 1 late, with "b": discarded, its committable kept.
    discard(snapshots(1, &[b"b"]), &mut carried);
    // Checkpoint 2 completes, with "c" of task 0 and nothing new of task 1.
    let mut p2 = c.trigger(BarrierKind::Checkpoint, &[false, false]).unwrap();
    for (task, cs) in [(0, &[b"c" as &[u8]][..]), (1, &[])] {
        c.write_ack(
            &mut p2,
            task,
            snapshots(task, cs),
            Duration::ZERO,
            Duration::ZERO,
        )
        .unwrap();
    }
    let stats = c.complete(p2, &mut carried).unwrap();
    assert!(carried.is_empty());
    let all = vec![b"a".to_vec(), b"b".to_vec(), b"c".to_vec()];
    assert_eq!(sink.commits(), [(2, all.clone())]);
    // A restore from checkpoint 2 commits them again: the manifest has them all.
    assert_eq!(recorded(&stats.path), all);
    let per_subtask: HashMap<usize, usize> = read_manifest(&stats.path).unwrap().nodes[SINK]
        .subtasks
        .iter()
        .map(|s| (s.subtask, s.committables.len()))
        .collect();
    assert_eq!(per_subtask, HashMap::from([(0, 2), (1, 1)]));
}
