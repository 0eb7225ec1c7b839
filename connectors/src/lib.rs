//! Millstream's sources and sinks: the Nexmark and telemetry generators, and CSV / JSON-lines
//! files.
//!
//! Everything here implements the traits of
//! [`millstream_core::connector`]: a [`SourceFactory`](millstream_core::connector::SourceFactory)
//! sits in the job graph and creates one [`Source`](millstream_core::connector::Source) per
//! parallel subtask; each source hands out whole arrow batches of its own share of the input.
//!
//! ```text
//!  generators                          files
//!  ──────────                          ─────
//!  NexmarkSource::{person,auction,bid} CsvSourceFactory / JsonSourceFactory
//!  TelemetrySource                       file or directory ─▶ ~4 MiB chunks cut at newlines
//!    event n = f(seed, n)                subtask i decodes chunks i, i+p, ... (read-ahead
//!    subtask i: blocks i, i+p, ...       thread), arrow csv / json decoders, projection,
//!    only the projected columns          bad rows: Fail | Skip | SideOutput
//!            │                                     │
//!            └──────────── RecordBatch ────────────┘
//!                              │  (the engine: operators, windows, state)
//!                              ▼
//!              CsvSinkFactory / JsonSinkFactory: hidden in-progress part files, renamed to
//!              c<checkpoint>-part-<attempt>-<subtask>-<seq>.csv by a two-phase commit
//! ```
//!
//! | module | what |
//! |---|---|
//! | [`nexmark`] | the Nexmark generator (`person`, `auction`, `bid`), columns generated straight into arrow buffers |
//! | [`telemetry`] | hosts × metrics with bounded disorder and a few very late rows |
//! | [`file`](mod@file) | CSV and JSON-lines sources (parallel, projected, with located errors) and sinks |
//!
//! # Example
//!
//! Generate the first bids and write them as CSV:
//!
//! ```
//! use millstream_connectors::{CsvSinkFactory, NexmarkConfig, NexmarkSource};
//! use millstream_core::connector::{SinkFactory, SourceContext, SourceFactory, SourcePoll};
//!
//! let bids = NexmarkSource::bid(NexmarkConfig::bounded(10_000), None)?;
//! let ctx = SourceContext { subtask: 0, parallelism: 1, batch: Default::default() };
//! let mut source = bids.create(&ctx)?;
//!
//! let dir = std::env::temp_dir().join(format!("millstream-doc-{}", std::process::id()));
//! # std::fs::remove_dir_all(&dir).ok(); // left by an earlier process with the same id
//! let csv = CsvSinkFactory::new(&dir);
//! let mut sink = csv.create(0, 1)?;
//! let mut rows = 0;
//! while let SourcePoll::Batch(batch) = source.poll()? {
//!     rows += batch.num_rows();
//!     sink.write(&batch)?;
//! }
//! // What the runtime does at the end of a job: the two phases of the commit.
//! sink.finish()?;
//! if let Some(committable) = sink.prepare_commit(u64::MAX)? {
//!     csv.commit(u64::MAX, &[committable])?;
//! }
//! assert_eq!(rows, 9_200);
//! assert_eq!(std::fs::read_dir(&dir)?.count(), 1); // c<checkpoint>-part-<attempt>-0-0.csv
//! # std::fs::remove_dir_all(&dir).ok();
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![deny(unsafe_code)]
#![warn(clippy::unwrap_used)]

pub mod file;
mod generator;
pub mod nexmark;
pub mod sql;
pub mod telemetry;

pub use file::{
    CsvOptions, CsvSinkFactory, CsvSourceFactory, JsonOptions, JsonSinkFactory, JsonSourceFactory,
    OnError,
};
pub use nexmark::{NexmarkConfig, NexmarkSource, NexmarkTable};
pub use telemetry::{TelemetryConfig, TelemetrySource};
