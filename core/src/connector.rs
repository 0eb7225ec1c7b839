//! Source and sink traits. Implementations live in `millstream-connectors`; the core only
//! drives them.
//!
//! A [`SourceFactory`] is part of the job graph; at run time the scheduler asks it for one
//! [`Source`] per parallel subtask. Each source reads its own split (a byte range of a file,
//! every n-th event of a generator...) and hands out whole batches:
//!
//! ```text
//!  SourceFactory ──create(subtask 0 of 2)──▶ Source ──poll()──▶ Batch | Pending | End
//!                └─create(subtask 1 of 2)──▶ Source ──poll()──▶ ...
//! ```
//!
//! Sinks are the mirror image: a [`SinkFactory`] creates one [`Sink`] per subtask, and the
//! runtime calls [`Sink::write`] with every batch and [`Sink::finish`] at end of input.

use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::batch::BatchConfig;
use crate::error::Result;

/// What the scheduler tells a source about where it runs.
#[derive(Debug, Clone, Copy)]
pub struct SourceContext {
    /// This subtask's index, `0..parallelism`.
    pub subtask: usize,
    /// Number of parallel subtasks of the source.
    pub parallelism: usize,
    /// Batch size and batching delay.
    pub batch: BatchConfig,
}

/// The answer of [`Source::poll`].
#[derive(Debug)]
pub enum SourcePoll {
    /// A batch of rows.
    Batch(RecordBatch),
    /// Nothing available now; poll again after about this long.
    Pending(Duration),
    /// The source is exhausted (a bounded source).
    End,
}

/// One parallel instance of a source.
pub trait Source: Send {
    /// Produce the next batch, report that none is ready, or report the end.
    ///
    /// # Errors
    /// Malformed input is reported as [`Error::Data`](crate::Error::Data) naming the file,
    /// line and column.
    fn poll(&mut self) -> Result<SourcePoll>;

    /// How far this source has read, in its own unit (events, bytes), for progress reports.
    fn position(&self) -> u64 {
        0
    }

    /// The position just after the last batch [`Source::poll`] returned, serialized, for a
    /// checkpoint ([`SourceFactory::restore`] resumes from it). Read-ahead the source did
    /// beyond that batch is not part of the position.
    ///
    /// # Errors
    /// The source cannot be checkpointed (the default).
    fn snapshot_position(&mut self) -> Result<Vec<u8>> {
        Err(crate::Error::Unsupported(
            "this source cannot record its position in a checkpoint".into(),
        ))
    }

    /// Rows the source could not decode since the last call, when it was configured to send
    /// them to the error side output instead of failing. The batch has the schema
    /// [`error_rows_schema`]; the runtime routes it to the source's side output port 1.
    fn take_error_rows(&mut self) -> Option<RecordBatch> {
        None
    }
}

/// Schema of the rows a source sends to its error side output: where the row was, why it
/// failed, and its raw text.
pub fn error_rows_schema() -> SchemaRef {
    use arrow::datatypes::{DataType, Field, Schema};
    Arc::new(Schema::new(vec![
        Field::new("source", DataType::Utf8, false),
        Field::new("line", DataType::UInt64, true),
        Field::new("column", DataType::Utf8, true),
        Field::new("error", DataType::Utf8, false),
        Field::new("raw", DataType::Utf8, true),
    ]))
}

/// Creates the parallel instances of a source; lives in the job graph.
pub trait SourceFactory: Send + Sync {
    /// A short name for plans and metrics.
    fn name(&self) -> String;
    /// The schema of every batch the source produces.
    fn schema(&self) -> SchemaRef;
    /// Most subtasks this source can use (`Some(1)` for a collection), `None` for any.
    fn max_parallelism(&self) -> Option<usize> {
        None
    }
    /// Create subtask `ctx.subtask` of `ctx.parallelism`.
    ///
    /// # Errors
    /// Opening the underlying input failed (missing file...).
    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>>;

    /// Create subtask `ctx.subtask` of `ctx.parallelism`, resuming from a checkpoint.
    /// `positions` holds what [`Source::snapshot_position`] returned on every old subtask,
    /// in old subtask order; after a rescale there are not `ctx.parallelism` of them. Taken
    /// together, the new subtasks must produce exactly the rows no old subtask had produced
    /// at its position: none twice, none lost.
    ///
    /// # Errors
    /// A position this source cannot read, or a source that cannot resume (the default).
    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        let _ = (ctx, positions);
        Err(crate::Error::Unsupported(format!(
            "source '{}' cannot resume from a checkpoint",
            self.name()
        )))
    }
}

/// One parallel instance of a sink.
pub trait Sink: Send {
    /// Write one batch.
    ///
    /// # Errors
    /// Writing failed.
    fn write(&mut self, batch: &RecordBatch) -> Result<()>;
    /// The input ended: flush and close. [`Sink::prepare_commit`] follows.
    ///
    /// # Errors
    /// Flushing failed.
    fn finish(&mut self) -> Result<()> {
        Ok(())
    }

    /// First phase of a two-phase commit (Flink's `prepareCommit`), at checkpoint
    /// `checkpoint_id` or at the end of input: make everything written since the last call
    /// durable but not yet visible, and return what [`SinkFactory::commit`] needs to make it
    /// visible. `None` for a sink whose writes are visible at once (print, blackhole) or
    /// that has nothing new.
    ///
    /// # Errors
    /// Flushing or closing failed.
    fn prepare_commit(&mut self, checkpoint_id: u64) -> Result<Option<Vec<u8>>> {
        let _ = checkpoint_id;
        Ok(None)
    }
}

/// Creates the parallel instances of a sink; lives in the job graph.
pub trait SinkFactory: Send + Sync {
    /// A short name for plans and metrics.
    fn name(&self) -> String;
    /// Create subtask `subtask` of `parallelism`.
    ///
    /// # Errors
    /// Opening the output failed.
    fn create(&self, subtask: usize, parallelism: usize) -> Result<Box<dyn Sink>>;
    /// Most subtasks this sink can use, `None` for any.
    fn max_parallelism(&self) -> Option<usize> {
        None
    }

    /// Second phase of the two-phase commit: make the rows of these committables (from
    /// [`Sink::prepare_commit`] of any subtask) visible, as part of completed checkpoint
    /// `checkpoint_id`. Must be idempotent: after a crash the same committables are
    /// committed again.
    ///
    /// # Errors
    /// A committable whose data is gone.
    fn commit(&self, checkpoint_id: u64, committables: &[Vec<u8>]) -> Result<()> {
        let _ = (checkpoint_id, committables);
        Ok(())
    }

    /// Drop everything written but never committed (in-progress files of a failed run).
    /// Called when a job starts, after the committables of the checkpoint it restores from
    /// were committed.
    ///
    /// # Errors
    /// Cleaning up failed.
    fn abort_uncommitted(&self) -> Result<()> {
        Ok(())
    }

    /// Take back output committed by checkpoints after `checkpoint_id`: a job resuming
    /// from an older checkpoint (newer ones were corrupt) produces those rows again. Called
    /// when a job resumes (`0`: from the beginning), before it runs.
    ///
    /// # Errors
    /// Deleting failed.
    fn rollback_after(&self, checkpoint_id: u64) -> Result<()> {
        let _ = checkpoint_id;
        Ok(())
    }
}

/// Shared handle to a source factory.
pub type SourceFactoryRef = Arc<dyn SourceFactory>;
/// Shared handle to a sink factory.
pub type SinkFactoryRef = Arc<dyn SinkFactory>;

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;
    use arrow::datatypes::Schema;

    struct Empty;
    impl Source for Empty {
        fn poll(&mut self) -> Result<SourcePoll> {
            Ok(SourcePoll::End)
        }
    }
    struct EmptyFactory;
    impl SourceFactory for EmptyFactory {
        fn name(&self) -> String {
            "empty".into()
        }
        fn schema(&self) -> SchemaRef {
            Arc::new(Schema::empty())
        }
        fn create(&self, _: &SourceContext) -> Result<Box<dyn Source>> {
            Ok(Box::new(Empty))
        }
    }
    pub(crate) fn empty_source() -> SourceFactoryRef {
        Arc::new(EmptyFactory)
    }
}
