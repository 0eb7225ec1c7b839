//! # millstream-core
//!
//! The core of Millstream, a stream-first engine with Flink's model (stateful, event-time
//! processing of unbounded and bounded streams) on a columnar base: micro-batches of arrow
//! columns flow through vectorized operators.
//!
//! ## A batch's journey
//!
//! ```text
//!  program ──api──▶ JobGraph ──plan──▶ PhysicalPlan ──runtime──▶ threads (tasks)
//!
//!  Source::poll ─▶ RecordBatch ─▶ [watermark assigner ─▶ filter ─▶ ...] ─hash(key)─▶
//!      [window aggregate ─▶ sink]      (chains run on one thread; bounded channels between)
//! ```
//!
//! * [`api`]: the DataStream API (`StreamExecutionEnvironment`, `DataStream`, `KeyedStream`,
//!   `WindowedStream`).
//! * [`plan`]: logical graph → parallelism and operator chains.
//! * [`runtime`]: tasks on threads, bounded channels, watermark propagation, metrics.
//! * [`operator`]: the operators (filter, project, windows, joins, process functions, sinks).
//! * [`time`], [`window`], [`state`]: event time and watermarks, window assigners, keyed
//!   state.
//! * [`connector`]: the source and sink traits that `millstream-connectors` implements.
//!
//! ## Example
//! ```
//! use std::time::Duration;
//! use millstream_core::api::StreamExecutionEnvironment;
//! use millstream_core::time::WatermarkStrategy;
//! use millstream_core::window::WindowAssigner;
//! use serde::{Deserialize, Serialize};
//!
//! #[derive(Serialize, Deserialize)]
//! struct Click { user: i64, ts: i64 }
//!
//! let env = StreamExecutionEnvironment::new();
//! let clicks = env
//!     .from_collection(vec![Click { user: 1, ts: 1_000 }, Click { user: 1, ts: 2_000 }, Click { user: 2, ts: 12_000 }])
//!     .unwrap()
//!     .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous("ts"));
//! let counts = clicks
//!     .key_by(["user"])
//!     .window(WindowAssigner::tumble(Duration::from_secs(10)))
//!     .count("clicks")
//!     .collect();
//! env.execute("clicks per user").unwrap();
//! assert_eq!(counts.num_rows(), 2);
//! ```

#![forbid(unsafe_code)]
#![warn(clippy::unwrap_used)]

pub mod api;
pub mod batch;
pub mod checkpoint;
pub mod connector;
pub mod error;
pub mod expr;
pub mod operator;
pub mod plan;
pub mod runtime;
pub mod sources;
pub mod sql;
pub mod state;
pub mod time;
pub mod typed;
pub mod window;

pub use error::{Error, Location, Result};
