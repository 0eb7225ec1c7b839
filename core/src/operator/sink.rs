//! Sinks as operators: [`SinkOperator`] drives a [`Sink`] (writes each batch, finishes at
//! end of input); [`PrintSink`] prints rows as Flink's `print()` does (`2> +I[a, 1]`);
//! [`CollectSink`] hands the result back to the program as batches. Sinks keep no keyed
//! state; they swallow watermarks.
//!
//! Exactly-once output is a two-phase commit (Flink's `TwoPhaseCommitSinkFunction`): on a
//! barrier, [`SinkOperator`] asks its sink to [`prepare_commit`](Sink::prepare_commit) and
//! puts the committable it gets into its snapshot, as the bytes table
//! [`COMMITTABLES_TABLE`]; once the checkpoint is complete the coordinator hands every
//! subtask's committables to [`SinkFactory::commit`]. At the end of input the runtime calls
//! `on_end` (which finishes the sink) and then `snapshot(u64::MAX, ..)` for the last
//! committable:
//!
//! ```text
//!  batch ─▶ sink.write (staged, invisible)
//!  barrier n ─▶ snapshot(n) ─▶ sink.prepare_commit(n) ─▶ OperatorState["__committables"]
//!  checkpoint n complete ─▶ coordinator ─▶ factory.commit(n, committables) ─▶ visible
//! ```
//!
//! [`CollectSink`] is transactional in the same way (rows are visible to
//! [`CollectHandle`] only once committed, tagged with their checkpoint); [`PrintSink`] and
//! [`BlackholeSink`] write at once and have nothing to commit.

use std::collections::{HashMap, HashSet};
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::{OpContext, Operator, Output};
use crate::checkpoint::OperatorState;
use crate::connector::{Sink, SinkFactory};
use crate::error::{Error, Result};
use crate::time::Watermark;

/// Runs a [`Sink`] as the last operator of a chain.
pub struct SinkOperator {
    sink: Box<dyn Sink>,
}

impl SinkOperator {
    /// Wrap a sink instance.
    pub fn new(sink: Box<dyn Sink>) -> Self {
        SinkOperator { sink }
    }
}

impl Operator for SinkOperator {
    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        _: &mut OpContext,
        _: &mut Output,
    ) -> Result<()> {
        self.sink.write(&batch)
    }

    fn on_watermark(&mut self, _: Watermark, _: &mut OpContext, _: &mut Output) -> Result<()> {
        Ok(())
    }

    /// Finishes the sink; the runtime then calls `snapshot(u64::MAX, ..)` to collect the
    /// last committable.
    fn on_end(&mut self, _: &mut OpContext, _: &mut Output) -> Result<()> {
        self.sink.finish()
    }

    /// The first phase of the commit: the sink's committable for this checkpoint, if it has
    /// one, as the single row of the bytes table [`COMMITTABLES_TABLE`].
    fn snapshot(&mut self, checkpoint_id: u64, _: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        if let Some(c) = self.sink.prepare_commit(checkpoint_id)? {
            state.push_bytes(COMMITTABLES_TABLE, &[c]);
        }
        Ok(state)
    }

    /// Accepts an empty state or committables only: the coordinator commits those itself
    /// before the job restarts, so there is nothing to load here.
    fn restore(&mut self, state: OperatorState, _: &mut OpContext) -> Result<()> {
        let foreign = state
            .tables
            .iter()
            .find(|t| t.name != COMMITTABLES_TABLE && t.num_rows() > 0);
        match foreign {
            Some(t) => Err(Error::Unsupported(format!(
                "sink operator: its checkpoint holds a state table '{}' it never writes",
                t.name
            ))),
            None if !state.files.is_empty() => Err(Error::Unsupported(
                "sink operator: its checkpoint holds state files it never writes".into(),
            )),
            None => Ok(()),
        }
    }
}

/// Name of the bytes table (see [`OperatorState::push_bytes`]) in which [`SinkOperator`]
/// snapshots its sink's committable; the checkpoint coordinator reads it.
pub const COMMITTABLES_TABLE: &str = "__committables";

/// Format one row as Flink's `print()` does: `+I[v1, v2, ...]`.
pub fn format_row(formatters: &[ArrayFormatter<'_>], row: usize) -> String {
    let mut s = String::from("+I[");
    for (i, f) in formatters.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&f.value(row).to_string());
    }
    s.push(']');
    s
}

/// Prints every row to stdout, prefixed with the subtask number when parallel.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintSink;

struct PrintInstance {
    prefix: String,
}

impl Sink for PrintInstance {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let opts = FormatOptions::default().with_null("null");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut text = String::with_capacity(batch.num_rows() * 32);
        for row in 0..batch.num_rows() {
            text.push_str(&self.prefix);
            text.push_str(&format_row(&formatters, row));
            text.push('\n');
        }
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        lock.write_all(text.as_bytes())
            .map_err(|e| Error::io("print sink: stdout", e))
    }
}

impl SinkFactory for PrintSink {
    fn name(&self) -> String {
        "print".into()
    }

    fn create(&self, subtask: usize, parallelism: usize) -> Result<Box<dyn Sink>> {
        let prefix = if parallelism > 1 {
            format!("{}> ", subtask + 1)
        } else {
            String::new()
        };
        Ok(Box::new(PrintInstance { prefix }))
    }
}

/// Collects every batch a job produces; read them back with [`CollectHandle::take`] after
/// `execute`.
///
/// It is transactional: a subtask's batches are staged until the runtime prepares and
/// commits them at a checkpoint or at the end of the job, so the handle sees exactly the
/// rows of completed checkpoints, never the ones a failed attempt produced after its last
/// checkpoint.
///
/// [`CollectSink::immediate`] makes rows visible as they are written instead (for
/// unbounded jobs read while they run; not exactly-once across restarts).
#[derive(Debug, Clone, Default)]
pub struct CollectSink {
    handle: CollectHandle,
    immediate: bool,
}

/// The program's side of a [`CollectSink`].
#[derive(Debug, Clone, Default)]
pub struct CollectHandle {
    state: Arc<Mutex<CollectState>>,
}

/// What a [`CollectSink`] holds, staged, pending and visible.
#[derive(Debug, Default)]
struct CollectState {
    /// Instance ids handed out so far.
    instances: u64,
    /// Batches written since the instance's last `prepare_commit`, per instance.
    staged: HashMap<u64, Vec<RecordBatch>>,
    /// Prepared batches waiting for their commit, per `(instance, sequence)`.
    pending: HashMap<(u64, u64), Vec<RecordBatch>>,
    /// Committables committed already (a repeated commit is a no-op).
    committed: HashSet<(u64, u64)>,
    /// Committed batches with their checkpoint, in commit order.
    visible: Vec<(u64, RecordBatch)>,
}

impl CollectHandle {
    fn lock(&self) -> MutexGuard<'_, CollectState> {
        // A panicking writer cannot leave the lists half-updated (each update is one push
        // or move), so a poisoned lock is still consistent.
        match self.state.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }

    /// The committed batches so far (all of them once the job has finished), moved out.
    pub fn take(&self) -> Vec<RecordBatch> {
        self.take_with_checkpoints()
            .into_iter()
            .map(|(_, b)| b)
            .collect()
    }

    /// The committed batches so far, each with the id of the checkpoint that committed it
    /// (`u64::MAX` for the end of the job), moved out.
    pub fn take_with_checkpoints(&self) -> Vec<(u64, RecordBatch)> {
        std::mem::take(&mut self.lock().visible)
    }

    /// All committed rows concatenated into one batch, or `None` if nothing was committed.
    ///
    /// # Errors
    /// Batches with different schemas.
    pub fn concat(&self) -> Result<Option<RecordBatch>> {
        let batches = self.take();
        match batches.first() {
            None => Ok(None),
            Some(b) => Ok(Some(arrow::compute::concat_batches(&b.schema(), &batches)?)),
        }
    }

    /// Clones (buffers shared, not copied) of the visible batches from the `start`-th on,
    /// leaving them in place: how a display follows an immediate sink while the job runs.
    pub fn visible_from(&self, start: usize) -> Vec<RecordBatch> {
        let state = self.lock();
        state
            .visible
            .get(start..)
            .map_or_else(Vec::new, |v| v.iter().map(|(_, b)| b.clone()).collect())
    }

    /// Number of committed rows so far.
    pub fn num_rows(&self) -> usize {
        self.lock().visible.iter().map(|(_, b)| b.num_rows()).sum()
    }
}

impl CollectSink {
    /// A new collect sink and the handle to read it.
    pub fn new() -> (Self, CollectHandle) {
        let s = CollectSink::default();
        let h = s.handle.clone();
        (s, h)
    }

    /// A collect sink whose rows are visible as soon as they are written (checkpoint id
    /// 0), and the handle to read it.
    pub fn immediate() -> (Self, CollectHandle) {
        let s = CollectSink {
            immediate: true,
            ..CollectSink::default()
        };
        let h = s.handle.clone();
        (s, h)
    }
}

/// A collect committable: instance id and sequence number, little-endian.
fn encode_committable(instance: u64, seq: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(16);
    v.extend_from_slice(&instance.to_le_bytes());
    v.extend_from_slice(&seq.to_le_bytes());
    v
}

fn decode_committable(bytes: &[u8]) -> Result<(u64, u64)> {
    let word = |i: usize| -> Option<u64> {
        Some(u64::from_le_bytes(bytes.get(i..i + 8)?.try_into().ok()?))
    };
    match (bytes.len(), word(0), word(8)) {
        (16, Some(instance), Some(seq)) => Ok((instance, seq)),
        _ => Err(Error::Connector {
            connector: "collect".into(),
            detail: format!("a committable of {} bytes, expected 16", bytes.len()),
        }),
    }
}

struct CollectInstance {
    handle: CollectHandle,
    immediate: bool,
    id: u64,
    /// Committables prepared so far.
    seq: u64,
}

impl Sink for CollectInstance {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        // One lock per batch, never per row.
        if self.immediate {
            self.handle.lock().visible.push((0, batch.clone()));
            return Ok(());
        }
        self.handle
            .lock()
            .staged
            .entry(self.id)
            .or_default()
            .push(batch.clone());
        Ok(())
    }

    fn prepare_commit(&mut self, _checkpoint_id: u64) -> Result<Option<Vec<u8>>> {
        let mut state = self.handle.lock();
        let staged = state.staged.remove(&self.id).unwrap_or_default();
        if staged.is_empty() {
            return Ok(None);
        }
        let key = (self.id, self.seq);
        self.seq += 1;
        state.pending.insert(key, staged);
        Ok(Some(encode_committable(key.0, key.1)))
    }
}

impl SinkFactory for CollectSink {
    fn name(&self) -> String {
        "collect".into()
    }

    fn create(&self, _: usize, _: usize) -> Result<Box<dyn Sink>> {
        let id = {
            let mut state = self.handle.lock();
            state.instances += 1;
            state.instances
        };
        Ok(Box::new(CollectInstance {
            handle: self.handle.clone(),
            immediate: self.immediate,
            id,
            seq: 0,
        }))
    }

    /// Makes the batches of `committables` visible, tagged with `checkpoint_id`; a
    /// committable committed before is skipped.
    ///
    /// # Errors
    /// [`Error::Connector`] for a committable that was never prepared or was aborted (its
    /// batches are gone) or cannot be read.
    fn commit(&self, checkpoint_id: u64, committables: &[Vec<u8>]) -> Result<()> {
        let keys = committables
            .iter()
            .map(|c| decode_committable(c))
            .collect::<Result<Vec<_>>>()?;
        let mut state = self.handle.lock();
        for key in keys {
            if let Some(batches) = state.pending.remove(&key) {
                state
                    .visible
                    .extend(batches.into_iter().map(|b| (checkpoint_id, b)));
                state.committed.insert(key);
            } else if !state.committed.contains(&key) {
                return Err(Error::Connector {
                    connector: "collect".into(),
                    detail: format!(
                        "cannot commit batch set {} of sink instance {}: it was never prepared or was aborted",
                        key.1, key.0
                    ),
                });
            }
        }
        Ok(())
    }

    /// Drops every staged and prepared batch not yet committed.
    fn abort_uncommitted(&self) -> Result<()> {
        let mut state = self.handle.lock();
        state.staged.clear();
        state.pending.clear();
        Ok(())
    }

    /// Drops the visible batches of checkpoints after `checkpoint_id` that the program has
    /// not taken yet (the job resumes from an older checkpoint and produces them again).
    fn rollback_after(&self, checkpoint_id: u64) -> Result<()> {
        self.handle
            .lock()
            .visible
            .retain(|(id, _)| *id <= checkpoint_id);
        Ok(())
    }
}

/// Discards everything (for benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct BlackholeSink;

struct BlackholeInstance;

impl Sink for BlackholeInstance {
    fn write(&mut self, _: &RecordBatch) -> Result<()> {
        Ok(())
    }
}

impl SinkFactory for BlackholeSink {
    fn name(&self) -> String {
        "blackhole".into()
    }

    fn create(&self, _: usize, _: usize) -> Result<Box<dyn Sink>> {
        Ok(Box::new(BlackholeInstance))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap()
    }

    fn values(batches: &[RecordBatch]) -> Vec<i64> {
        batches
            .iter()
            .flat_map(|b| {
                let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
                a.values().to_vec()
            })
            .collect()
    }

    #[test]
    fn collect_sink_shows_only_committed_batches() {
        let (sink, handle) = CollectSink::new();
        let mut a = sink.create(0, 2).unwrap();
        let mut b = sink.create(1, 2).unwrap();
        assert_eq!(a.prepare_commit(1).unwrap(), None, "nothing staged");
        a.write(&batch(&[1, 2])).unwrap();
        b.write(&batch(&[3])).unwrap();
        assert_eq!(handle.num_rows(), 0, "staged rows are invisible");
        let ca = a.prepare_commit(1).unwrap().unwrap();
        let cb = b.prepare_commit(1).unwrap().unwrap();
        a.write(&batch(&[4])).unwrap();
        assert_eq!(handle.num_rows(), 0, "prepared rows are invisible");
        sink.commit(1, &[ca.clone(), cb.clone()]).unwrap();
        assert_eq!(handle.num_rows(), 3);
        // Idempotent: committing checkpoint 1 again adds nothing.
        sink.commit(1, &[ca, cb]).unwrap();
        assert_eq!(handle.num_rows(), 3);
        a.finish().unwrap();
        let last = a.prepare_commit(u64::MAX).unwrap().unwrap();
        sink.commit(u64::MAX, &[last]).unwrap();
        let tagged = handle.take_with_checkpoints();
        let ids: Vec<u64> = tagged.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids, [1, 1, u64::MAX]);
        let batches: Vec<RecordBatch> = tagged.into_iter().map(|(_, b)| b).collect();
        assert_eq!(values(&batches), [1, 2, 3, 4]);
        assert!(handle.take().is_empty(), "take moves the batches out");
    }

    #[test]
    fn collect_sink_abort_drops_uncommitted_batches() {
        let (sink, handle) = CollectSink::new();
        let mut a = sink.create(0, 1).unwrap();
        a.write(&batch(&[1])).unwrap();
        let c1 = a.prepare_commit(1).unwrap().unwrap();
        a.write(&batch(&[2])).unwrap();
        let c2 = a.prepare_commit(2).unwrap().unwrap();
        a.write(&batch(&[3])).unwrap();
        // Restart from checkpoint 1: commit it, drop the rest.
        sink.commit(1, &[c1]).unwrap();
        sink.abort_uncommitted().unwrap();
        let mut again = sink.create(0, 1).unwrap();
        assert_eq!(again.prepare_commit(2).unwrap(), None);
        let err = sink.commit(2, &[c2]).unwrap_err().to_string();
        assert!(err.contains("never prepared or was aborted"), "{err}");
        assert!(sink.commit(2, &[vec![1, 2, 3]]).is_err());
        // Checkpoint 3 is committed, then the job falls back to checkpoint 1.
        again.write(&batch(&[9])).unwrap();
        let c3 = again.prepare_commit(3).unwrap().unwrap();
        sink.commit(3, &[c3]).unwrap();
        assert_eq!(handle.num_rows(), 2);
        sink.rollback_after(1).unwrap();
        assert_eq!(
            values(&handle.concat().unwrap().into_iter().collect::<Vec<_>>()),
            [1]
        );
        assert_eq!(handle.concat().unwrap(), None);
    }

    #[test]
    fn sink_operator_snapshots_committables() {
        let (sink, handle) = CollectSink::new();
        let mut op = SinkOperator::new(sink.create(0, 1).unwrap());
        let mut ctx = OpContext::new(0, 1, 128);
        let mut out = Output::new();
        assert!(op.snapshot(1, &mut ctx).unwrap().is_empty());
        op.on_batch(0, batch(&[5, 6]), &mut ctx, &mut out).unwrap();
        let state = op.snapshot(2, &mut ctx).unwrap();
        let committables = state.bytes(COMMITTABLES_TABLE);
        assert_eq!(committables.len(), 1);
        assert_eq!(state.tables.len(), 1);
        op.on_batch(0, batch(&[7]), &mut ctx, &mut out).unwrap();
        op.on_end(&mut ctx, &mut out).unwrap();
        let last = op.snapshot(u64::MAX, &mut ctx).unwrap();
        sink.commit(2, &committables).unwrap();
        sink.commit(u64::MAX, &last.bytes(COMMITTABLES_TABLE))
            .unwrap();
        assert_eq!(values(&handle.take()), [5, 6, 7]);

        // Restore accepts nothing or committables only.
        op.restore(OperatorState::new(), &mut ctx).unwrap();
        op.restore(state, &mut ctx).unwrap();
        let mut other = OperatorState::new();
        other.push_bytes("max", &[vec![1]]);
        assert!(matches!(
            op.restore(other, &mut ctx),
            Err(Error::Unsupported(_))
        ));
        // Print and blackhole sinks have nothing to commit.
        let mut bh = SinkOperator::new(BlackholeSink.create(0, 1).unwrap());
        bh.on_batch(0, batch(&[1]), &mut ctx, &mut out).unwrap();
        assert!(bh.snapshot(3, &mut ctx).unwrap().is_empty());
    }
}
