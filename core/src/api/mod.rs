//! The DataStream API, modelled on Flink's: a [`StreamExecutionEnvironment`] creates
//! sources, [`DataStream`] methods add transformations, [`KeyedStream`] and
//! [`WindowedStream`] add keyed and windowed ones, and `execute` runs the job.
//!
//! These types are builders only: every method adds a node to the environment's logical
//! [`JobGraph`](crate::plan::JobGraph); nothing runs until
//! [`StreamExecutionEnvironment::execute`].
//!
//! Each step can be written two ways: vectorized, over arrow columns
//! ([`DataStream::filter`] with a column expression, [`DataStream::map_batches`] with a
//! closure over a whole `RecordBatch`) — the fast path — or per record over typed Rust values
//! ([`DataStream::map`], [`DataStream::flat_map`], [`KeyedStream::reduce`]), converted with
//! serde, as in Flink's `MapFunction`.

mod env;
mod keyed;
mod keyed_ops;
mod stream;
mod window;

pub use env::StreamExecutionEnvironment;
pub use keyed::KeyedStream;
pub use stream::{append_column, DataStream};
pub use window::WindowedStream;
