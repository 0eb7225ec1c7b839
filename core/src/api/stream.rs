//! `DataStream`: a stream in the program being built.

use std::sync::Arc;

use arrow::array::ArrayRef;
use arrow::datatypes::Field;
use arrow::record_batch::RecordBatch;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::env::{edge, watermark_factory};
use super::{KeyedStream, StreamExecutionEnvironment};
use crate::connector::SinkFactoryRef;
use crate::error::{Error, Result};
use crate::expr::Expr;
use crate::operator::filter::Filter;
use crate::operator::map::{MapBatches, Project, TypedFlatMap};
use crate::operator::sink::{CollectHandle, CollectSink, PrintSink, SinkOperator};
use crate::operator::{factory, OperatorFactory};
use crate::plan::{NodeId, Partitioning};
use crate::time::WatermarkStrategy;
use crate::typed::{from_batch, to_batch, RecordSchema};

/// A stream of record batches in a job being defined.
#[derive(Clone)]
pub struct DataStream {
    pub(crate) env: StreamExecutionEnvironment,
    pub(crate) node: NodeId,
    pub(crate) port: usize,
    pub(crate) time_column: Option<String>,
    pub(crate) partitioning: Partitioning,
}

impl DataStream {
    pub(crate) fn new(
        env: StreamExecutionEnvironment,
        node: NodeId,
        port: usize,
        time_column: Option<String>,
    ) -> Self {
        DataStream {
            env,
            node,
            port,
            time_column,
            partitioning: Partitioning::Forward,
        }
    }

    /// A key for [`StreamExecutionEnvironment::reuse`]: this stream's identity and `what`,
    /// the full description of a transformation applied to it.
    pub(crate) fn reuse_key(&self, what: &str) -> String {
        format!(
            "{}:{}:{:?}|{what}",
            self.node.0, self.port, self.partitioning
        )
    }

    /// Add a one-input operator after this stream.
    pub(crate) fn then(
        &self,
        name: &str,
        f: OperatorFactory,
        partitioning: Partitioning,
    ) -> DataStream {
        let id = self
            .env
            .add_operator(name, f, vec![edge(self, 0, partitioning)]);
        DataStream::new(self.env.clone(), id, 0, self.time_column.clone())
    }

    fn then_forward(&self, name: &str, f: OperatorFactory) -> DataStream {
        self.then(name, f, self.partitioning.clone())
    }

    /// The environment this stream belongs to.
    pub fn env(&self) -> &StreamExecutionEnvironment {
        &self.env
    }

    /// The event-time column, once watermarks are assigned.
    pub fn time_column(&self) -> Option<&str> {
        self.time_column.as_deref()
    }

    /// Declare which column holds event time without adding a watermark assigner (for a
    /// stream whose watermarks come from upstream, e.g. after a projection that renamed it).
    pub fn with_time_column(mut self, column: impl Into<String>) -> Self {
        self.time_column = Some(column.into());
        self
    }

    /// Name the last operator (for plans and metrics).
    pub fn name(self, name: &str) -> Self {
        self.env.inner.borrow_mut().graph.node_mut(self.node).name = name.to_string();
        self
    }

    /// Set the parallelism of the last operator.
    pub fn set_parallelism(self, p: usize) -> Self {
        self.env
            .inner
            .borrow_mut()
            .graph
            .node_mut(self.node)
            .parallelism = Some(p.max(1));
        self
    }

    /// Add a custom operator (Flink's `transform`): `f` builds one instance per subtask.
    pub fn transform(&self, name: &str, f: OperatorFactory) -> DataStream {
        self.then_forward(name, f)
    }

    /// Apply a closure to every batch (the vectorized fast path).
    pub fn map_batches<F>(&self, f: F) -> DataStream
    where
        F: Fn(RecordBatch) -> Result<RecordBatch> + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.then_forward(
            "map_batches",
            factory(move |_| {
                let f = f.clone();
                Ok(MapBatches::new(move |b| f(b)))
            }),
        )
    }

    /// Project onto column expressions (`col("a")`, `col("p").mul(lit(2)).alias("p2")`).
    pub fn select(&self, exprs: Vec<Expr>) -> DataStream {
        let keeps_time = self
            .time_column
            .as_ref()
            .is_some_and(|t| exprs.iter().any(|e| &e.name() == t));
        let exprs = Arc::new(exprs);
        let mut s = self.then_forward("select", factory(move |_| Ok(Project::new(exprs.to_vec()))));
        if !keeps_time {
            s.time_column = None;
        }
        s
    }

    /// Keep rows where the boolean expression is true.
    pub fn filter(&self, predicate: Expr) -> DataStream {
        self.then_forward(
            "filter",
            factory(move |_| Ok(Filter::new(predicate.clone()))),
        )
    }

    /// Per-record map over typed values (serde), as Flink's `MapFunction`.
    pub fn map<I, O, F>(&self, f: F) -> DataStream
    where
        I: DeserializeOwned + 'static,
        O: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(I) -> O + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.flat_map(move |i: I, out: &mut Vec<O>| out.push(f(i)))
    }

    /// Per-record flat-map over typed values: each input pushes zero or more outputs.
    pub fn flat_map<I, O, F>(&self, f: F) -> DataStream
    where
        I: DeserializeOwned + 'static,
        O: Serialize + DeserializeOwned + Send + 'static,
        F: Fn(I, &mut Vec<O>) + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        self.then_forward(
            "flat_map",
            factory(move |_| {
                let f = f.clone();
                Ok(TypedFlatMap::new(
                    move |i: I, out: &mut Vec<O>| {
                        f(i, out);
                        Ok(())
                    },
                    RecordSchema::<O>::of()?,
                ))
            }),
        )
    }

    /// Per-record filter over typed values.
    pub fn filter_records<T, F>(&self, f: F) -> DataStream
    where
        T: DeserializeOwned + Serialize + Send + 'static,
        F: Fn(&T) -> bool + Send + Sync + 'static,
    {
        self.flat_map(move |t: T, out: &mut Vec<T>| {
            if f(&t) {
                out.push(t)
            }
        })
    }

    /// Assign event time from a column and generate watermarks (one per batch).
    pub fn assign_timestamps_and_watermarks(&self, strategy: WatermarkStrategy) -> DataStream {
        let col = strategy.column().to_string();
        let mut s = self.then_forward("watermarks", watermark_factory(strategy));
        s.time_column = Some(col);
        s
    }

    /// Partition by the values of these columns (Flink's `keyBy`).
    pub fn key_by<S: Into<String>>(&self, columns: impl IntoIterator<Item = S>) -> KeyedStream {
        KeyedStream::new(self.clone(), columns.into_iter().map(Into::into).collect())
    }

    /// Partition by a key computed per typed record; the key travels in an extra column
    /// ([`KEY_COLUMN`](crate::typed::KEY_COLUMN)) that typed conversions skip.
    pub fn key_by_fn<T, K, F>(&self, f: F) -> KeyedStream
    where
        T: DeserializeOwned + 'static,
        K: Serialize + DeserializeOwned + 'static,
        F: Fn(&T) -> K + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        // Traced once here, not once per batch.
        let key_schema = RecordSchema::<K>::of();
        let with_key = self.map_batches(move |batch| {
            let key_schema = key_schema
                .as_ref()
                .map_err(|e| Error::Plan(format!("key_by_fn: {e}")))?;
            let rows: Vec<T> = from_batch(&batch)?;
            let keys: Vec<K> = rows.iter().map(|r| f(r)).collect();
            let key_batch = to_batch(key_schema, &keys)?;
            if key_batch.num_columns() != 1 {
                return Err(Error::Plan(
                    "key_by_fn: the key must be a single value, not a struct".into(),
                ));
            }
            append_column(
                &batch,
                crate::typed::KEY_COLUMN,
                key_batch.column(0).clone(),
            )
        });
        KeyedStream::new(
            with_key.name("key_by_fn"),
            vec![crate::typed::KEY_COLUMN.into()],
        )
    }

    /// Merge streams with the same schema.
    pub fn union(&self, others: &[DataStream]) -> DataStream {
        let mut inputs = vec![edge(self, 0, self.partitioning.clone())];
        inputs.extend(others.iter().map(|o| edge(o, 0, o.partitioning.clone())));
        let id = self
            .env
            .add_operator("union", factory(|_| Ok(MapBatches::new(Ok))), inputs);
        DataStream::new(self.env.clone(), id, 0, self.time_column.clone())
    }

    /// Spread whole batches round-robin over the next operator's subtasks.
    pub fn rebalance(mut self) -> Self {
        self.partitioning = Partitioning::Rebalance;
        self
    }

    /// Send every batch to every subtask of the next operator.
    pub fn broadcast(mut self) -> Self {
        self.partitioning = Partitioning::Broadcast;
        self
    }

    /// Side output `port` of this stream's operator (1 = late rows of a window, or rows a
    /// source could not decode).
    pub fn side_output(&self, port: usize) -> DataStream {
        DataStream::new(self.env.clone(), self.node, port, self.time_column.clone())
    }

    /// Late rows of the window operator that produced this stream (configure with
    /// [`WindowedStream::side_output_late_data`]).
    pub fn late_data(&self) -> DataStream {
        self.side_output(1)
    }

    /// Write to a sink connector.
    pub fn sink_to(&self, sink: SinkFactoryRef) -> DataStream {
        let name = sink.name();
        let max_p = sink.max_parallelism();
        let committer = sink.clone();
        let s = self.then_forward(
            &format!("sink: {name}"),
            factory(move |init| {
                Ok(SinkOperator::new(
                    sink.create(init.subtask, init.parallelism)?,
                ))
            }),
        );
        {
            let mut inner = s.env.inner.borrow_mut();
            let node = inner.graph.node_mut(s.node);
            node.max_parallelism = max_p;
            node.committer = Some(crate::plan::graph::Committer(committer));
        }
        s
    }

    /// Print every row to stdout (Flink's `print()`).
    pub fn print(&self) -> DataStream {
        self.sink_to(Arc::new(PrintSink))
    }

    /// Collect every row into memory; read them from the handle after `execute`.
    pub fn collect(&self) -> CollectHandle {
        let (sink, handle) = CollectSink::new();
        self.sink_to(Arc::new(sink));
        handle
    }

    /// Like [`DataStream::collect`], but rows are visible on the handle as soon as the sink
    /// writes them, while the job runs (not exactly-once across restarts).
    pub fn collect_immediate(&self) -> CollectHandle {
        let (sink, handle) = CollectSink::immediate();
        self.sink_to(Arc::new(sink));
        handle
    }
}

/// A batch with one more column.
///
/// # Errors
/// Column length differs from the batch.
pub fn append_column(batch: &RecordBatch, name: &str, column: ArrayRef) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = batch
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new(name, column.data_type().clone(), true));
    let mut cols = batch.columns().to_vec();
    cols.push(column);
    Ok(RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        cols,
    )?)
}
