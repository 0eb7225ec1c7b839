//! Built-in in-memory sources: a collection of typed records and a list of record batches
//! (the embedding path: a service hands its own batches in, with no copy).
//!
//! Both are bounded. A collection source runs as one subtask (Flink's `fromCollection`); a
//! batch source spreads its batches round-robin over its subtasks.

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::Receiver;

use crate::connector::{Source, SourceContext, SourceFactory, SourcePoll};
use crate::error::{Error, Result};

/// A bounded source over batches held in memory.
#[derive(Debug, Clone)]
pub struct BatchSource {
    schema: SchemaRef,
    batches: Arc<Vec<RecordBatch>>,
    name: String,
}

impl BatchSource {
    /// A source over `batches`, which must all have `schema`.
    ///
    /// # Errors
    /// A batch with another schema.
    pub fn new(
        name: impl Into<String>,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<Self> {
        for (i, b) in batches.iter().enumerate() {
            if b.schema().fields() != schema.fields() {
                return Err(Error::Schema(format!(
                    "batch {i} has columns [{}], expected [{}]",
                    crate::batch::column_names(&b.schema()),
                    crate::batch::column_names(&schema)
                )));
            }
        }
        Ok(BatchSource {
            schema,
            batches: Arc::new(batches),
            name: name.into(),
        })
    }
}

struct BatchSourceInstance {
    batches: Arc<Vec<RecordBatch>>,
    next: usize,
    step: usize,
}

impl Source for BatchSourceInstance {
    fn poll(&mut self) -> Result<SourcePoll> {
        match self.batches.get(self.next) {
            Some(b) => {
                self.next += self.step;
                Ok(SourcePoll::Batch(b.clone()))
            }
            None => Ok(SourcePoll::End),
        }
    }

    fn position(&self) -> u64 {
        self.next as u64
    }
}

impl SourceFactory for BatchSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        Ok(Box::new(BatchSourceInstance {
            batches: self.batches.clone(),
            next: ctx.subtask,
            step: ctx.parallelism,
        }))
    }
}

/// An unbounded source fed by the embedding program through a channel of batches: the
/// stream ends when every sender is dropped. Runs as one subtask.
pub struct ChannelSource {
    schema: SchemaRef,
    rx: Receiver<RecordBatch>,
    name: String,
}

impl ChannelSource {
    /// A source reading batches of `schema` from `rx`.
    pub fn new(name: impl Into<String>, schema: SchemaRef, rx: Receiver<RecordBatch>) -> Self {
        ChannelSource {
            schema,
            rx,
            name: name.into(),
        }
    }
}

struct ChannelSourceInstance {
    rx: Receiver<RecordBatch>,
    schema: SchemaRef,
    name: String,
    rows: u64,
}

impl Source for ChannelSourceInstance {
    fn poll(&mut self) -> Result<SourcePoll> {
        match self.rx.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(b) => {
                if b.schema().fields() != self.schema.fields() {
                    return Err(Error::Schema(format!(
                        "source '{}': batch has columns [{}], expected [{}]",
                        self.name,
                        crate::batch::column_names(&b.schema()),
                        crate::batch::column_names(&self.schema)
                    )));
                }
                self.rows += b.num_rows() as u64;
                Ok(SourcePoll::Batch(b))
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                Ok(SourcePoll::Pending(std::time::Duration::ZERO))
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Ok(SourcePoll::End),
        }
    }

    fn position(&self) -> u64 {
        self.rows
    }
}

impl SourceFactory for ChannelSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn max_parallelism(&self) -> Option<usize> {
        Some(1)
    }

    fn create(&self, _: &SourceContext) -> Result<Box<dyn Source>> {
        Ok(Box::new(ChannelSourceInstance {
            rx: self.rx.clone(),
            schema: self.schema.clone(),
            name: self.name.clone(),
            rows: 0,
        }))
    }
}
