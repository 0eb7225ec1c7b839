//! `KeyedStream`: a stream partitioned by key, for keyed state, windows and joins.

use super::DataStream;
use crate::plan::Partitioning;

/// A stream partitioned by the values of key columns (Flink's `KeyedStream`): every row of
/// a key reaches the same subtask.
#[derive(Clone)]
pub struct KeyedStream {
    pub(crate) stream: DataStream,
    pub(crate) keys: Vec<String>,
}

impl KeyedStream {
    pub(crate) fn new(stream: DataStream, keys: Vec<String>) -> Self {
        KeyedStream { stream, keys }
    }

    /// The key columns.
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    pub(crate) fn partitioning(&self) -> Partitioning {
        if self.keys.is_empty() {
            // A non-keyed ("all") operation runs as one subtask.
            Partitioning::Rebalance
        } else {
            Partitioning::Hash(self.keys.clone())
        }
    }

    pub(crate) fn then_keyed(&self, name: &str, f: crate::operator::OperatorFactory) -> DataStream {
        let s = self.stream.then(name, f, self.partitioning());
        if self.keys.is_empty() {
            s.env
                .inner
                .borrow_mut()
                .graph
                .node_mut(s.node)
                .max_parallelism = Some(1);
        }
        s
    }

    /// The keyed stream as a plain stream whose next operator receives each key's rows on
    /// one subtask (Flink's `KeyedStream` is a `DataStream`): for per-batch steps that need
    /// only that guarantee.
    pub fn as_stream(&self) -> DataStream {
        let mut s = self.stream.clone();
        s.partitioning = self.partitioning();
        s
    }
}
