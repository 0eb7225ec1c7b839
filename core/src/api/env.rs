//! The execution environment: job settings, sources, and `execute`.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::DataStream;
use crate::connector::{SourceFactoryRef, SourceFilter};
use crate::error::Result;
use crate::operator::watermark::WatermarkAssigner;
use crate::operator::{factory, OperatorFactory};
use crate::plan::{Edge, JobGraph, NodeId, NodeKind, Partitioning};
use crate::runtime::{execute, JobConfig, JobProgress, JobResult};
use crate::sources::{BatchSource, ChannelSource};
use crate::time::WatermarkStrategy;
use crate::typed::{to_batch, RecordSchema};

pub(crate) struct Inner {
    pub(crate) graph: JobGraph,
    pub(crate) config: JobConfig,
    names: HashMap<String, usize>,
    /// Streams built under a reuse key ([`StreamExecutionEnvironment::reuse`]), kept as
    /// their parts: a whole `DataStream` holds the environment and would make a cycle.
    reused: HashMap<String, StreamParts>,
}

/// A [`DataStream`] without its environment handle.
type StreamParts = (NodeId, usize, Option<String>, Partitioning);

/// Where a job is defined and run (Flink's `StreamExecutionEnvironment`).
///
/// # Example
/// ```
/// use millstream_core::api::StreamExecutionEnvironment;
/// use millstream_core::expr::{col, lit};
/// let env = StreamExecutionEnvironment::new();
/// let out = env
///     .from_collection(vec![1i64, 5, 10])
///     .unwrap()
///     .filter(col("item").gt(lit(3)))
///     .collect();
/// env.execute("filter").unwrap();
/// assert_eq!(out.num_rows(), 2);
/// ```
#[derive(Clone)]
pub struct StreamExecutionEnvironment {
    pub(crate) inner: Rc<RefCell<Inner>>,
}

impl Default for StreamExecutionEnvironment {
    fn default() -> Self {
        Self::new()
    }
}

impl StreamExecutionEnvironment {
    /// An environment with default settings (parallelism = number of cores).
    pub fn new() -> Self {
        Self::with_config(JobConfig::default())
    }

    /// An environment with the given settings.
    pub fn with_config(config: JobConfig) -> Self {
        StreamExecutionEnvironment {
            inner: Rc::new(RefCell::new(Inner {
                graph: JobGraph::default(),
                config,
                names: HashMap::new(),
                reused: HashMap::new(),
            })),
        }
    }

    /// Default parallelism of operators.
    pub fn set_parallelism(&self, p: usize) -> &Self {
        self.inner.borrow_mut().config.parallelism = p.max(1);
        self
    }

    /// Rows per source batch (throughput) ...
    pub fn set_batch_size(&self, rows: usize) -> &Self {
        self.inner.borrow_mut().config.batch.batch_size = rows.max(1);
        self
    }

    /// ... and the longest a source holds a partial batch back (latency).
    pub fn set_max_batch_delay(&self, d: Duration) -> &Self {
        self.inner.borrow_mut().config.batch.max_delay = d;
        self
    }

    /// Capacity of every channel, in batches: the backpressure bound.
    pub fn set_channel_capacity(&self, n: usize) -> &Self {
        self.inner.borrow_mut().config.channel_capacity = n.max(1);
        self
    }

    /// Take a checkpoint every `config.interval` into `config.dir` (Flink's
    /// `enableCheckpointing`).
    pub fn enable_checkpointing(&self, config: crate::checkpoint::CheckpointConfig) -> &Self {
        self.inner.borrow_mut().config.checkpoint = Some(config);
        self
    }

    /// Start the job from a checkpoint or savepoint.
    pub fn set_restore(&self, from: crate::checkpoint::RestoreFrom) -> &Self {
        self.inner.borrow_mut().config.restore = from;
        self
    }

    /// What happens when a task fails.
    pub fn set_restart_strategy(&self, strategy: crate::checkpoint::RestartStrategy) -> &Self {
        self.inner.borrow_mut().config.restart = strategy;
        self
    }

    /// Where keyed state lives.
    pub fn set_state_backend(&self, kind: crate::state::StateBackendKind) -> &Self {
        self.inner.borrow_mut().config.state_backend = kind;
        self
    }

    /// Hold every source node to `rows_per_sec` rows per second of wall time, spread over
    /// its subtasks (for crash tests and latency runs).
    pub fn set_source_max_rate(&self, rows_per_sec: Option<u64>) -> &Self {
        self.inner.borrow_mut().config.source_max_rate = rows_per_sec;
        self
    }

    /// The job's control handle (savepoint requests and results).
    pub fn control(&self) -> Arc<crate::runtime::JobControl> {
        self.inner.borrow().config.control.clone()
    }

    /// Turn operator chaining off (every operator its own task).
    pub fn disable_chaining(&self) -> &Self {
        self.inner.borrow_mut().config.chaining = false;
        self
    }

    /// The current settings.
    pub fn config(&self) -> JobConfig {
        self.inner.borrow().config.clone()
    }

    /// Live counters of the next `execute` (for progress reports from another thread).
    pub fn progress(&self) -> Arc<JobProgress> {
        self.inner.borrow().config.progress.clone()
    }

    /// A bounded stream of typed records (one subtask).
    ///
    /// # Errors
    /// `T` has a shape arrow cannot represent.
    pub fn from_collection<T: Serialize + DeserializeOwned>(
        &self,
        items: Vec<T>,
    ) -> Result<DataStream> {
        let schema = RecordSchema::<T>::of()?;
        let size = self.inner.borrow().config.batch.batch_size;
        let batches = items
            .chunks(size.max(1))
            .map(|c| to_batch(&schema, c))
            .collect::<Result<Vec<_>>>()?;
        let src = BatchSource::new("collection", schema.schema(), batches)?;
        let s = self.from_source(Arc::new(src), None);
        s.env
            .inner
            .borrow_mut()
            .graph
            .node_mut(s.node)
            .max_parallelism = Some(1);
        Ok(s)
    }

    /// A bounded stream of the given batches (no copy: buffers are shared).
    ///
    /// # Errors
    /// A batch whose schema differs from `schema`.
    pub fn from_record_batches(
        &self,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<DataStream> {
        Ok(self.from_source(
            Arc::new(BatchSource::new("batches", schema, batches)?),
            None,
        ))
    }

    /// An unbounded stream fed from the returned sender; it ends when the sender is dropped.
    pub fn from_channel(
        &self,
        schema: SchemaRef,
    ) -> (crossbeam_channel::Sender<RecordBatch>, DataStream) {
        let (tx, rx) = crossbeam_channel::bounded(4);
        let s = self.from_source(Arc::new(ChannelSource::new("channel", schema, rx)), None);
        (tx, s)
    }

    /// A stream from a source connector, with watermarks following `strategy` if given.
    pub fn from_source(
        &self,
        source: SourceFactoryRef,
        strategy: Option<WatermarkStrategy>,
    ) -> DataStream {
        let name = source.name();
        let max_p = source.max_parallelism();
        let id = self.add_node(&name, NodeKind::Source(source), vec![]);
        self.inner.borrow_mut().graph.node_mut(id).max_parallelism = max_p;
        let s = DataStream::new(self.clone(), id, 0, None);
        match strategy {
            Some(st) => s.assign_timestamps_and_watermarks(st),
            None => s,
        }
    }

    /// Whether `id` is a source, or reached from one by forward edges only, with no node on
    /// the way capped below the job's parallelism nor given its own: every subtask of `id`
    /// then sees exactly the rows and watermarks of one source subtask, in order.
    pub(crate) fn is_forward_from_parallel_source(&self, id: NodeId) -> bool {
        let inner = self.inner.borrow();
        let mut node = inner.graph.node(id);
        loop {
            if node.max_parallelism.is_some() || node.parallelism.is_some() {
                return false;
            }
            match (&node.kind, node.inputs.as_slice()) {
                (NodeKind::Source(_), []) => return true,
                (NodeKind::Operator(_), [e]) if e.partitioning == Partitioning::Forward => {
                    node = inner.graph.node(e.from);
                }
                _ => return false,
            }
        }
    }

    /// Pushes `filter` into the source `stream` reads ([`SourceFactory::with_filter`]) when
    /// `stream` is the source's main output, or that of the one operator (its watermark
    /// assigner) forward-chained after it, and nothing reads either but that chain. A later
    /// [`try_reuse`](Self::try_reuse) of the stream builds a new source. Returns whether the
    /// source took the filter.
    ///
    /// [`SourceFactory::with_filter`]: crate::connector::SourceFactory::with_filter
    pub(crate) fn push_filter_into_source(
        &self,
        stream: &DataStream,
        filter: Arc<SourceFilter>,
    ) -> bool {
        let mut inner = self.inner.borrow_mut();
        let graph = &inner.graph;
        if stream.port != 0 || !graph.consumers(stream.node).is_empty() {
            return false;
        }
        let node = graph.node(stream.node);
        let source = match (&node.kind, node.inputs.as_slice()) {
            (NodeKind::Source(_), []) => stream.node,
            (NodeKind::Operator(_), [e])
                if e.port == 0
                    && e.partitioning == Partitioning::Forward
                    && graph.consumers(e.from).len() == 1 =>
            {
                e.from
            }
            _ => return false,
        };
        let NodeKind::Source(factory) = &graph.node(source).kind else {
            return false;
        };
        let Some(filtered) = factory.with_filter(filter) else {
            return false;
        };
        inner.graph.node_mut(source).kind = NodeKind::Source(filtered);
        inner
            .reused
            .retain(|_, parts| parts.0 != stream.node && parts.0 != source);
        true
    }

    pub(crate) fn add_node(&self, name: &str, kind: NodeKind, inputs: Vec<Edge>) -> NodeId {
        let mut inner = self.inner.borrow_mut();
        let n = inner.names.entry(name.to_string()).or_insert(0);
        *n += 1;
        let unique = if *n == 1 {
            name.to_string()
        } else {
            format!("{name}-{n}")
        };
        inner.graph.add(unique, kind, inputs)
    }

    /// The stream built for `key` before, or `build`'s, remembered under `key`: the SQL
    /// planner's sub-plan reuse (Flink's `table.optimizer.reuse-sub-plan-enabled`), so that
    /// a table read twice in one job is read once and an aggregation written twice runs
    /// once, its output going to both consumers. `key` must name the transformation and
    /// its input completely (see [`DataStream::reuse_key`]).
    pub(crate) fn reuse(&self, key: String, build: impl FnOnce() -> DataStream) -> DataStream {
        let Ok(s) = self.try_reuse(key, || Ok::<_, std::convert::Infallible>(build()));
        s
    }

    /// [`reuse`](Self::reuse) with a `build` that can fail; it runs only when `key` is new
    /// (a reused source is not created again).
    ///
    /// # Errors
    /// Those of `build`.
    pub(crate) fn try_reuse<E>(
        &self,
        key: String,
        build: impl FnOnce() -> std::result::Result<DataStream, E>,
    ) -> std::result::Result<DataStream, E> {
        let found = self.inner.borrow().reused.get(&key).cloned();
        if let Some((node, port, time_column, partitioning)) = found {
            let mut s = DataStream::new(self.clone(), node, port, time_column);
            s.partitioning = partitioning;
            return Ok(s);
        }
        let s = build()?;
        let parts = (
            s.node,
            s.port,
            s.time_column.clone(),
            s.partitioning.clone(),
        );
        self.inner.borrow_mut().reused.insert(key, parts);
        Ok(s)
    }

    pub(crate) fn add_operator(&self, name: &str, f: OperatorFactory, inputs: Vec<Edge>) -> NodeId {
        self.add_node(name, NodeKind::Operator(f), inputs)
    }

    /// The physical plan the job would run with, as a readable DAG.
    ///
    /// # Errors
    /// The graph cannot be planned (no source).
    pub fn explain(&self) -> Result<String> {
        let inner = self.inner.borrow();
        Ok(crate::plan::plan(
            &inner.graph,
            inner.config.parallelism,
            inner.config.chaining,
        )?
        .explain())
    }

    /// Run the job defined so far to completion, then clear it.
    ///
    /// # Errors
    /// The first error of any task, naming the operator and subtask.
    pub fn execute(&self, name: &str) -> Result<JobResult> {
        let (graph, config) = {
            let mut inner = self.inner.borrow_mut();
            inner.names.clear();
            (std::mem::take(&mut inner.graph), inner.config.clone())
        };
        execute(name, &graph, &config)
    }
}

pub(crate) fn watermark_factory(strategy: WatermarkStrategy) -> OperatorFactory {
    factory(move |_| Ok(WatermarkAssigner::new(strategy.clone())))
}

pub(crate) fn edge(from: &DataStream, input: usize, partitioning: Partitioning) -> Edge {
    Edge {
        from: from.node,
        port: from.port,
        input,
        partitioning,
    }
}
