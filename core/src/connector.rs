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

    /// Rows read but dropped by a pushed-down filter ([`SourceFactory::with_filter`]) since
    /// the last call: the runtime counts them as read (metrics, rate limits).
    fn take_filtered_rows(&mut self) -> u64 {
        0
    }
}

/// A predicate pushed into a source (SQL `WHERE` over a scan) so that it can skip work for
/// rows that cannot pass, such as decoding their long text columns.
///
/// The contract keeps results exact whatever a source does with it: the planner still
/// applies the full predicate after the source, so a source may keep any row, and may drop
/// only rows where the predicate is not true. It must keep, in each batch it returns, the
/// row holding the batch's largest value of column [`SourceFilter::keep_max`] (the event
/// time the watermark is computed from), as though unfiltered: the watermark after each
/// batch is then what it would have been without the filter.
pub struct SourceFilter {
    /// The source's output columns the predicate reads, in the order of the batch
    /// [`SourceFilter::evaluate`] takes.
    pub columns: Vec<usize>,
    /// The output column whose per-batch maximum row must be kept, when a watermark is
    /// computed from it.
    pub keep_max: Option<usize>,
    /// The predicate, for plans.
    pub text: String,
    predicate: Box<Predicate>,
}

/// The predicate of a [`SourceFilter`].
type Predicate = dyn Fn(&RecordBatch) -> Result<arrow::array::BooleanArray> + Send + Sync;

impl SourceFilter {
    /// A filter reading the output `columns` with `predicate` (over a batch of exactly those
    /// columns, in that order; NULL is not true).
    pub fn new(
        columns: Vec<usize>,
        keep_max: Option<usize>,
        text: String,
        predicate: impl Fn(&RecordBatch) -> Result<arrow::array::BooleanArray> + Send + Sync + 'static,
    ) -> Self {
        SourceFilter {
            columns,
            keep_max,
            text,
            predicate: Box::new(predicate),
        }
    }

    /// Evaluates the predicate over `batch` (the columns [`SourceFilter::columns`]).
    ///
    /// # Errors
    /// Those of the predicate; a source then keeps the rows (the filter after it reports
    /// the error where it belongs).
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<arrow::array::BooleanArray> {
        (self.predicate)(batch)
    }
}

impl std::fmt::Debug for SourceFilter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceFilter")
            .field("columns", &self.columns)
            .field("keep_max", &self.keep_max)
            .field("text", &self.text)
            .finish()
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

    /// This source with `filter` pushed into it (see [`SourceFilter`] for what a source may
    /// do with it), or `None` when it cannot use filters (the default). Positions are those
    /// of the unfiltered source: a checkpoint restores either.
    fn with_filter(&self, filter: Arc<SourceFilter>) -> Option<SourceFactoryRef> {
        let _ = filter;
        None
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
