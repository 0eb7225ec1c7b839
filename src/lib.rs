//! # Millstream
//!
//! A stream-first engine with Apache Flink's model — stateful, event-time processing of
//! unbounded and bounded streams — on a columnar core: micro-batches of Apache Arrow
//! columns flow through vectorized operators on all cores of one machine.
//!
//! This crate is the facade: it re-exports the DataStream API of `millstream-core`, the
//! kernels of `millstream-kernels` and the connectors of `millstream-connectors`, and holds
//! the Nexmark queries that the `millstream` binary runs.
//!
//! ```text
//!  source (generator / CSV / JSON / RecordBatches) ─▶ watermarks ─▶ operators ─▶ key_by ─▶
//!  windows / joins / process functions ─▶ sink (CSV / JSON / print / collect)
//! ```
//!
//! # Example: WordCount
//! ```
//! use millstream::prelude::*;
//!
//! let env = StreamExecutionEnvironment::new();
//! let counts = env
//!     .from_collection(vec!["to be or not to be".to_string()])
//!     .unwrap()
//!     .flat_map(|line: String, out: &mut Vec<(String, i64)>| {
//!         out.extend(line.split_whitespace().map(|w| (w.to_string(), 1)))
//!     })
//!     .key_by_fn(|wc: &(String, i64)| wc.0.clone())
//!     .reduce(|a: (String, i64), b: (String, i64)| (a.0, a.1 + b.1))
//!     .collect();
//! env.execute("wordcount").unwrap();
//! assert_eq!(counts.num_rows(), 6); // one rolling update per word occurrence
//! ```

#![forbid(unsafe_code)]

pub mod nexmark;
pub mod sysinfo;

/// Flink SQL in one place: the core's [`TableEnvironment`](millstream_core::sql::TableEnvironment),
/// types and results, and the SQL connectors of `millstream-connectors`
/// ([`default_registry`](millstream_connectors::sql::default_registry): `filesystem`,
/// `nexmark`, `datagen`, `print`, `blackhole`) with Flink's spelling of values
/// ([`ValueFormatter`](millstream_connectors::sql::ValueFormatter)).
///
/// # Example
/// ```
/// use millstream::core::runtime::JobConfig;
/// use millstream::sql::{default_registry, TableEnvironment};
///
/// let env = TableEnvironment::new(JobConfig::default(), default_registry());
/// # let _ = env;
/// ```
pub mod sql {
    pub use millstream_connectors::sql::{
        default_registry, format_value, BlackholeConnector, DataGenConnector, FileSystemConnector,
        NexmarkConnector, PrintConnector, ValueFormatter, ValueStyle,
    };
    pub use millstream_core::sql::*;
}

pub use millstream_connectors as connectors;
pub use millstream_core as core;
pub use millstream_kernels as kernels;

/// The types most programs need.
pub mod prelude {
    pub use millstream_core::api::{
        DataStream, KeyedStream, StreamExecutionEnvironment, WindowedStream,
    };
    pub use millstream_core::expr::{col, lit, Expr};
    pub use millstream_core::operator::window::AggSpec;
    pub use millstream_core::time::WatermarkStrategy;
    pub use millstream_core::window::WindowAssigner;
    pub use millstream_core::{Error, Result};
}
