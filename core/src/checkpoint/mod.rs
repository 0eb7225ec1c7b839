//! Checkpoints: consistent snapshots of a running job, taken without stopping it, from which
//! the job resumes with exactly-once results (Flink's asynchronous barrier snapshotting).
//!
//! ```text
//!  coordinator ──trigger(n)──▶ source tasks: record position, snapshot chain, emit barrier n
//!                                  │ barrier n flows with the data
//!                                  ▼
//!  task: align barrier n on every input (block channels that delivered it), snapshot the
//!        chain's operators (synchronous part: hand over owned columnar data), ack, forward n
//!                                  │ ack(n, state)
//!                                  ▼
//!  coordinator: write state as Arrow IPC by key group (asynchronous part: tasks go on),
//!               all acks written ─▶ manifest ─▶ checkpoint n complete ─▶ sinks commit
//! ```
//!
//! * [`state`]: what operators hand over ([`OperatorState`]) and get back on restore.
//! * [`config`]: checkpoint, restore and restart settings.
//! * [`manifest`], [`storage`]: the on-disk layout, writing, verification and pruning.
//! * [`testing`]: a harness that checks an operator's restore against an uninterrupted run.

pub mod config;
pub mod manifest;
pub mod state;
pub mod storage;
pub mod testing;

pub use config::{CheckpointConfig, CheckpointMode, RestartStrategy, RestoreFrom};
pub use manifest::{Manifest, SnapshotKind};
pub use state::{
    filter_key_groups, key_groups_of, split_key_groups, OperatorState, StateFiles, StateTable,
    KEY_GROUP_COLUMN,
};
pub use storage::{CheckpointStore, LoadedCheckpoint, SubtaskSnapshot, WriteStats};
