//! Vectorised kernels for Millstream: hashing, partitioning, grouping,
//! aggregation and window assignment over Arrow arrays.
//!
//! Every kernel is a free function (or a small reusable struct) over whole
//! arrays, never a per-row interpreter: one pass per column, tight loops over
//! value slices, buffers reused across batches. The crate depends on arrow
//! only; it never depends on `millstream-core`.
//!
//! # A batch's journey
//!
//! A keyed, windowed aggregation (`GROUP BY TUMBLE(ts, ...), k`) uses every
//! module in turn:
//!
//! ```text
//!  RecordBatch ─┬─ key columns ──▶ hash::hash_columns ──▶ u64 per row
//!               │                        │
//!               │        partition::assign_targets (key group ─▶ operator)
//!               │                        │
//!               │        partition::split_batch ──▶ one batch per target ──▶ channels
//!               │
//!   (downstream) ── ts column ──▶ window::tumble_start / hop_windows / cumulate_windows
//!               │                        │ window start (or end) per row
//!               │                        ▼
//!               └─ (window, keys) ──▶ group::GroupIndexer::intern ──▶ dense group ids
//!                                        │
//!                    agg::GroupsAccumulator::update_batch (one Vec slot per group)
//!                                        │  on watermark
//!                                        ▼
//!                    GroupIndexer::emit_keys + GroupsAccumulator::evaluate ──▶ output batch
//! ```
//!
//! # Example
//!
//! Count and sum per key:
//!
//! ```
//! # use std::sync::Arc;
//! use arrow::array::{ArrayRef, AsArray, Int64Array};
//! use arrow::datatypes::{DataType, Int64Type};
//! use millstream_kernels::agg::{create_accumulator, AggKind};
//! use millstream_kernels::group::GroupIndexer;
//!
//! let keys: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 1, 1]));
//! let prices: ArrayRef = Arc::new(Int64Array::from(vec![10, 20, 30, 40]));
//!
//! let mut groups = GroupIndexer::new(&[DataType::Int64])?;
//! let mut count = create_accumulator(AggKind::Count, None)?;
//! let mut sum = create_accumulator(AggKind::Sum, Some(&DataType::Int64))?;
//!
//! let mut ids = Vec::new();
//! groups.intern(&[keys], &mut ids)?;
//! count.update_batch(None, &ids, None, groups.num_groups())?;
//! sum.update_batch(Some(&prices), &ids, None, groups.num_groups())?;
//!
//! let keys = groups.emit_keys()?;
//! assert_eq!(keys[0].as_primitive::<Int64Type>().values(), &[1, 2]);
//! assert_eq!(count.evaluate()?.as_primitive::<Int64Type>().values(), &[3, 1]);
//! assert_eq!(sum.evaluate()?.as_primitive::<Int64Type>().values(), &[80, 20]);
//! # Ok::<(), millstream_kernels::KernelError>(())
//! ```
//!
//! # Determinism
//!
//! [`hash::hash_columns`] uses fixed seeds: the same key hashes to the same
//! value, key group and operator in every process of the same build, which
//! keyed state and rescaling rely on.
#![warn(missing_docs)]

pub mod agg;
mod dispatch_types;
mod error;
pub mod group;
pub mod hash;
pub mod partition;
pub mod text;
pub mod window;

pub use error::{KernelError, Result};
pub use window::as_i64_values;
