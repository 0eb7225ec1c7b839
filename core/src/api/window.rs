//! `WindowedStream`: a keyed stream cut into windows, waiting for its aggregation.

use std::sync::Arc;
use std::time::Duration;

use arrow::record_batch::RecordBatch;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{DataStream, KeyedStream};
use crate::error::{Error, Result};
use crate::operator::factory;
use crate::operator::window::{AggSpec, WindowAggregate, WindowProcess};
use crate::typed::{from_batch, to_batch, RecordSchema};
use crate::window::{TimeDomain, WindowAssigner, WindowInfo, WindowSpec};

/// A windowed keyed stream (Flink's `WindowedStream`).
#[derive(Clone)]
pub struct WindowedStream {
    keyed: KeyedStream,
    spec: WindowSpec,
}

impl WindowedStream {
    pub(crate) fn new(keyed: KeyedStream, spec: WindowSpec) -> Self {
        WindowedStream { keyed, spec }
    }

    /// Keep windows this long after they fired; late rows within it update and re-fire them.
    pub fn allowed_lateness(mut self, d: Duration) -> Self {
        self.spec.allowed_lateness = d.as_millis() as i64;
        self
    }

    /// Send late rows to the result's [`DataStream::late_data`] instead of dropping them.
    pub fn side_output_late_data(mut self) -> Self {
        self.spec.late_side_output = true;
        self
    }

    /// Use processing time (the wall clock at arrival) instead of event time.
    pub fn processing_time(mut self) -> Self {
        self.spec.domain = TimeDomain::ProcessingTime;
        self
    }

    fn time_column(&self) -> Option<String> {
        self.keyed.stream.time_column.clone()
    }

    fn finish(&self, s: DataStream) -> DataStream {
        s.with_time_column("window_time")
    }

    /// Incremental aggregation: one row per key and window with `keys..., window_start,
    /// window_end, window_time, aggregates...`.
    pub fn aggregate(&self, aggs: Vec<AggSpec>) -> DataStream {
        let keys = self.keyed.keys.clone();
        let time = self.time_column();
        let spec = self.spec.clone();
        let s = self.keyed.then_keyed(
            "window_aggregate",
            factory(move |_| {
                WindowAggregate::new(keys.clone(), time.clone(), spec.clone(), aggs.clone())
            }),
        );
        self.finish(s)
    }

    /// Count rows per key and window into column `output`.
    pub fn count(&self, output: &str) -> DataStream {
        self.aggregate(vec![AggSpec::count(output)])
    }

    /// A full-window function: called once per key and window with all of its rows.
    pub fn process<F>(&self, f: F) -> DataStream
    where
        F: Fn(&WindowInfo, &RecordBatch) -> Result<Option<RecordBatch>> + Send + Sync + 'static,
    {
        let keys = self.keyed.keys.clone();
        let time = self.time_column();
        let spec = self.spec.clone();
        let f: crate::operator::window::WindowFn = Arc::new(f);
        let s = self.keyed.then_keyed(
            "window_process",
            factory(move |_| {
                WindowProcess::new(keys.clone(), time.clone(), spec.clone(), f.clone())
            }),
        );
        self.finish(s)
    }

    /// Reduce the typed records of each key and window to one.
    pub fn reduce<T, F>(&self, f: F) -> DataStream
    where
        T: Serialize + DeserializeOwned + 'static,
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let schema = RecordSchema::<T>::of();
        self.process(move |_, rows| {
            let schema = schema.as_ref().map_err(|e| Error::Plan(e.to_string()))?;
            let mut it = from_batch::<T>(rows)?.into_iter();
            let Some(first) = it.next() else {
                return Ok(None);
            };
            let acc = it.fold(first, &f);
            Ok(Some(to_batch(schema, &[acc])?))
        })
    }
}

impl KeyedStream {
    /// Event-time windows of the given kind.
    pub fn window(&self, assigner: WindowAssigner) -> WindowedStream {
        WindowedStream::new(self.clone(), WindowSpec::new(assigner))
    }
}

impl DataStream {
    /// Windows over the whole stream (Flink's `windowAll`, parallelism 1).
    pub fn window_all(&self, assigner: WindowAssigner) -> WindowedStream {
        WindowedStream::new(
            KeyedStream::new(self.clone(), vec![]),
            WindowSpec::new(assigner),
        )
    }
}
