//! Output edges of a task: how a batch leaving a task is spread over the consumer's
//! subtasks, one channel send per target per batch (never per row).
//!
//! Hash partitioning hashes the key columns as arrays ([`hash_columns`]), maps each hash to
//! a key group and each key group to a subtask (Flink's assignment, so state can be
//! redistributed by key group on rescale), then splits the batch with one `take` per target.

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use crossbeam_channel::Sender;
use millstream_kernels::hash::hash_columns;
use millstream_kernels::partition::{assign_targets, split_batch};

use crate::batch::StreamEvent;
use crate::error::{Error, Result};
use crate::plan::Partitioning;

/// Largest queue depth seen on one channel.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelStats {
    /// Producer node name.
    pub from: String,
    /// Consumer node name.
    pub to: String,
    /// Channel capacity in messages.
    pub capacity: usize,
    /// Largest number of messages seen queued right after a send.
    pub max_depth: usize,
    /// Batches sent.
    pub batches: u64,
}

/// One outgoing edge of a task: its partitioner and a sender per consumer subtask.
pub(crate) struct OutputEdge {
    partitioning: Partitioning,
    senders: Vec<Sender<StreamEvent>>,
    key_indices: Vec<usize>,
    key_schema: Option<arrow::datatypes::SchemaRef>,
    max_parallelism: usize,
    next: usize,
    hashes: Vec<u64>,
    targets: Vec<u32>,
    pub(crate) stats: Vec<ChannelStats>,
}

impl OutputEdge {
    pub(crate) fn new(
        partitioning: Partitioning,
        senders: Vec<Sender<StreamEvent>>,
        max_parallelism: usize,
        subtask: usize,
        from: &str,
        to: &str,
        capacity: usize,
    ) -> Self {
        let stats = (0..senders.len())
            .map(|_| ChannelStats {
                from: from.to_string(),
                to: to.to_string(),
                capacity,
                max_depth: 0,
                batches: 0,
            })
            .collect();
        OutputEdge {
            partitioning,
            senders,
            key_indices: Vec::new(),
            key_schema: None,
            max_parallelism,
            next: subtask,
            hashes: Vec::new(),
            targets: Vec::new(),
            stats,
        }
    }

    fn send_to(&mut self, target: usize, ev: StreamEvent) -> Result<()> {
        let is_batch = matches!(ev, StreamEvent::Batch(_));
        self.senders[target]
            .send(ev)
            .map_err(|_| Error::Cancelled)?;
        let st = &mut self.stats[target];
        st.max_depth = st.max_depth.max(self.senders[target].len());
        if is_batch {
            st.batches += 1;
        }
        Ok(())
    }

    /// Send a control event (watermark, idle, barrier, end) to every consumer subtask.
    pub(crate) fn broadcast(&mut self, ev: &StreamEvent) -> Result<()> {
        for t in 0..self.senders.len() {
            self.send_to(t, ev.clone())?;
        }
        Ok(())
    }

    /// Send a batch according to the partitioning.
    pub(crate) fn send_batch(&mut self, batch: RecordBatch) -> Result<()> {
        let n = self.senders.len();
        match &self.partitioning {
            Partitioning::Forward => self.send_to(0, StreamEvent::Batch(batch)),
            Partitioning::Rebalance => {
                let t = self.next % n;
                self.next = self.next.wrapping_add(1);
                self.send_to(t, StreamEvent::Batch(batch))
            }
            Partitioning::Broadcast => {
                for t in 0..n {
                    self.send_to(t, StreamEvent::Batch(batch.clone()))?;
                }
                Ok(())
            }
            Partitioning::Hash(keys) => {
                if n == 1 {
                    return self.send_to(0, StreamEvent::Batch(batch));
                }
                let schema = batch.schema();
                if self
                    .key_schema
                    .as_ref()
                    .is_none_or(|s| !Arc::ptr_eq(s, &schema))
                {
                    self.key_indices = keys
                        .iter()
                        .map(|k| {
                            schema.index_of(k).map_err(|_| {
                                Error::Plan(format!(
                                    "key column '{k}' not found in stream with columns [{}]",
                                    crate::batch::column_names(&schema)
                                ))
                            })
                        })
                        .collect::<Result<_>>()?;
                    self.key_schema = Some(schema.clone());
                }
                let cols: Vec<_> = self
                    .key_indices
                    .iter()
                    .map(|i| batch.column(*i).clone())
                    .collect();
                hash_columns(&cols, &mut self.hashes)?;
                assign_targets(&self.hashes, self.max_parallelism, n, &mut self.targets);
                let parts = split_batch(&batch, &self.targets, n)?;
                for (t, part) in parts.into_iter().enumerate() {
                    if let Some(p) = part {
                        self.send_to(t, StreamEvent::Batch(p))?;
                    }
                }
                Ok(())
            }
        }
    }
}
