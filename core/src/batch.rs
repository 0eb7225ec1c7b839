//! The stream model: what flows over an edge of the dataflow.
//!
//! A stream is a sequence of [`StreamEvent`]s. Data travels as arrow [`RecordBatch`]es
//! (micro-batches; buffers are reference counted, so moving a batch across a channel copies
//! nothing); control elements travel in-band between them:
//!
//! ```text
//!  source ──▶ [Batch][Batch][Watermark(t)][Batch][Barrier(7)][Batch]...[End] ──▶ operator
//! ```
//!
//! * a [`Watermark`](crate::time::Watermark) promises that no later row has an event time at
//!   or below it;
//! * a [`Barrier`] marks a consistent cut for checkpoint `checkpoint_id`: a task snapshots its
//!   state once it has seen the barrier on every input (aligned barriers);
//! * `End` says the channel is finished; a bounded source sends a final `Watermark::MAX`
//!   before it, so every event-time window fires.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;

use crate::time::Watermark;

/// One element of a stream.
#[derive(Debug, Clone)]
pub enum StreamEvent {
    /// A micro-batch of rows.
    Batch(RecordBatch),
    /// Event-time progress.
    Watermark(Watermark),
    /// A checkpoint barrier.
    Barrier(Barrier),
    /// The producer is idle: until its next batch or watermark, it must not hold back the
    /// watermark of the tasks downstream (Flink's `WatermarkStatus.IDLE`).
    Idle,
    /// The producer is done; nothing follows on this channel.
    End,
}

/// Whether a barrier is for a periodic checkpoint or a user-requested savepoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BarrierKind {
    /// A periodic checkpoint.
    Checkpoint,
    /// A savepoint taken on demand.
    Savepoint,
}

/// A checkpoint barrier, injected at the sources and aligned at every task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Barrier {
    /// Monotonically increasing checkpoint id.
    pub checkpoint_id: u64,
    /// Checkpoint or savepoint.
    pub kind: BarrierKind,
}

/// The schema of a stream plus which column carries event time.
#[derive(Debug, Clone)]
pub struct StreamSchema {
    /// The arrow schema of every batch in the stream.
    pub schema: SchemaRef,
    /// Name of the event-time column (milliseconds since the epoch), if any.
    pub time_column: Option<String>,
}

/// Micro-batching knobs: one trades latency for throughput.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchConfig {
    /// Target rows per batch produced by sources.
    pub batch_size: usize,
    /// Longest a source holds back a partial batch before emitting it.
    pub max_delay: std::time::Duration,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            batch_size: 16 * 1024,
            max_delay: std::time::Duration::from_millis(50),
        }
    }
}

/// Comma-separated column names of a schema, for error messages.
pub fn column_names(schema: &arrow::datatypes::Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Index of column `name`, or a plan error that lists the columns there are.
///
/// # Errors
/// No such column.
pub fn column_index(schema: &arrow::datatypes::Schema, name: &str) -> crate::Result<usize> {
    schema.index_of(name).map_err(|_| {
        crate::Error::Plan(format!(
            "unknown column '{name}'; the stream has [{}]",
            column_names(schema)
        ))
    })
}
