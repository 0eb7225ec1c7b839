//! Keyed state: byte tables organised by key group, and typed handles over them.
//!
//! Flink's model, kept so that state can be checkpointed and rescaled:
//!
//! ```text
//!  key columns ─hash_columns─▶ hash ─key_group(hash, max_parallelism)─▶ key group kg
//!                                                                         │
//!  subtask s of p owns KeyGroupRange::for_subtask(max_parallelism, p, s) ∋ kg
//!                                                                         │
//!  StateBackend: (table, kg, key bytes) ─▶ value bytes ◀─ ValueState / ListState / MapState
//! ```
//!
//! * A **key group** is the unit of state placement: every key hashes to one of
//!   `max_parallelism` key groups (`millstream_kernels::partition::key_group`), and each
//!   parallel subtask owns a contiguous [`KeyGroupRange`]. Rescaling moves whole key groups,
//!   which is why a [`StateBackend`] can snapshot and restore one key group at a time.
//! * A [`StateBackend`] stores byte keys and byte values per (table, key group), ordered by
//!   key within a key group (so a prefix scan is a range scan, as in RocksDB). The
//!   [`MemoryStateBackend`] is the default; [`RocksDbStateBackend`] (feature `rocksdb`, on
//!   by default) keeps state on local disk for state larger than memory. Operators get
//!   theirs from [`create_backend`] with the job's [`StateBackendKind`].
//! * Checkpoints: a backend adds itself to its operator's snapshot with
//!   [`StateBackend::snapshot_into`] (the memory backend as one keyed Arrow table, RocksDB
//!   as a directory of files) and loads it back with [`StateBackend::restore_from`], which
//!   keeps only this instance's key groups, so state moves between parallelisms and
//!   between backends.
//! * The typed handles [`ValueState`], [`ListState`] and [`MapState`] (Flink's keyed state
//!   primitives) encode values with serde + `postcard` and are scoped to one key: the key a
//!   [`KeyedProcessFunction`](crate::operator::process::KeyedProcessFunction) is called for.
//!
//! This module holds **per-key, per-record** state: what typed user functions keep. Columnar
//! operator state (window accumulators, join buffers, rolling aggregates) lives in the
//! operators' own columnar structures (`Vec`s indexed by group id, retained `RecordBatch`es)
//! and is snapshotted as Arrow IPC per key group by the checkpoint module; it never goes
//! through a byte-per-row backend.

pub mod keyed;
pub mod memory;
#[cfg(feature = "rocksdb")]
pub mod rocksdb;
mod snapshot;

use std::fmt;
use std::ops::Range;
use std::path::PathBuf;

#[cfg(feature = "rocksdb")]
pub use self::rocksdb::RocksDbStateBackend;
pub use keyed::{KeyScope, ListState, MapState, ValueState};
pub use memory::MemoryStateBackend;

use crate::error::Result;

/// Which [`StateBackend`] a job's keyed state lives in. Chosen per job
/// (`JobConfig::state_backend`, `--state-backend`); memory is the default.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum StateBackendKind {
    /// [`MemoryStateBackend`]: ordered maps on the heap.
    #[default]
    Memory,
    /// An embedded RocksDB instance per operator subtask, for state larger than memory.
    RocksDb(RocksDbOptions),
}

/// Settings of the RocksDB state backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RocksDbOptions {
    /// Directory under which each operator subtask opens its own instance (local disk).
    pub dir: PathBuf,
    /// Memory RocksDB may use per instance (block cache and write buffers), in bytes.
    pub memory_budget_bytes: usize,
}

impl RocksDbOptions {
    /// Instances under `dir` with a 64 MiB budget each.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        RocksDbOptions {
            dir: dir.into(),
            memory_budget_bytes: 64 << 20,
        }
    }
}

/// A backend of kind `kind` for the key groups in `range`: what an operator subtask holds its
/// keyed state in. `label` names the instance where it shows (the RocksDB directory); use
/// the operator and subtask.
///
/// # Example
/// ```
/// use millstream_core::state::{create_backend, KeyGroupRange, StateBackendKind};
/// let b = create_backend(&StateBackendKind::Memory, KeyGroupRange::all(128), "reduce-0")?;
/// assert_eq!(b.key_group_range(), KeyGroupRange::all(128));
/// # Ok::<(), millstream_core::Error>(())
/// ```
///
/// # Errors
/// The RocksDB instance cannot be created, or the crate was built without the `rocksdb`
/// feature.
pub fn create_backend(
    kind: &StateBackendKind,
    range: KeyGroupRange,
    label: &str,
) -> Result<Box<dyn StateBackend>> {
    match kind {
        StateBackendKind::Memory => Ok(Box::new(MemoryStateBackend::new(range))),
        #[cfg(feature = "rocksdb")]
        StateBackendKind::RocksDb(options) => Ok(Box::new(
            self::rocksdb::RocksDbStateBackend::open(range, options, label)?,
        )),
        #[cfg(not(feature = "rocksdb"))]
        StateBackendKind::RocksDb(_) => Err(crate::error::Error::Unsupported(format!(
            "state backend for '{label}': millstream-core was built without the 'rocksdb' feature"
        ))),
    }
}

/// A contiguous range of key groups `[start, end)`, owned by one parallel subtask.
///
/// Flink's `KeyGroupRange` has an inclusive end; this one is half-open like Rust ranges:
/// `end` is Flink's `endKeyGroup + 1`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyGroupRange {
    /// First key group of the range.
    pub start: usize,
    /// One past the last key group of the range.
    pub end: usize,
}

impl KeyGroupRange {
    /// The range `[start, end)`.
    pub fn new(start: usize, end: usize) -> Self {
        KeyGroupRange { start, end }
    }

    /// Every key group: `[0, max_parallelism)`.
    pub fn all(max_parallelism: usize) -> Self {
        KeyGroupRange::new(0, max_parallelism)
    }

    /// The key groups subtask `subtask` of `parallelism` owns, as Flink's
    /// `KeyGroupRangeAssignment.computeKeyGroupRangeForOperatorIndex`:
    /// `start = ceil(subtask * max_parallelism / parallelism)`,
    /// `end = floor(((subtask + 1) * max_parallelism - 1) / parallelism) + 1`.
    ///
    /// It is the inverse of `millstream_kernels::partition::operator_index_for_key_group`:
    /// key group `kg` is in this range exactly when `kg * parallelism / max_parallelism`
    /// is `subtask`, so the ranges of all subtasks cover every key group once.
    ///
    /// # Example
    /// ```
    /// use millstream_core::state::KeyGroupRange;
    /// assert_eq!(KeyGroupRange::for_subtask(128, 3, 0), KeyGroupRange::new(0, 43));
    /// assert_eq!(KeyGroupRange::for_subtask(128, 3, 1), KeyGroupRange::new(43, 86));
    /// assert_eq!(KeyGroupRange::for_subtask(128, 3, 2), KeyGroupRange::new(86, 128));
    /// ```
    ///
    /// # Panics
    /// If `parallelism` is zero or above `max_parallelism`, or `subtask >= parallelism`
    /// (the planner never builds such a subtask).
    pub fn for_subtask(max_parallelism: usize, parallelism: usize, subtask: usize) -> Self {
        assert!(
            parallelism > 0 && parallelism <= max_parallelism && subtask < parallelism,
            "key group range: subtask {subtask} of parallelism {parallelism} with max parallelism {max_parallelism}"
        );
        let start = (subtask * max_parallelism).div_ceil(parallelism);
        let end = ((subtask + 1) * max_parallelism - 1) / parallelism + 1;
        KeyGroupRange { start, end }
    }

    /// Whether `key_group` is in the range.
    pub fn contains(&self, key_group: usize) -> bool {
        self.start <= key_group && key_group < self.end
    }

    /// Number of key groups in the range.
    pub fn len(&self) -> usize {
        self.end.saturating_sub(self.start)
    }

    /// Whether the range holds no key group.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The key groups, in order.
    pub fn iter(&self) -> Range<usize> {
        self.start..self.end
    }
}

impl fmt::Display for KeyGroupRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}, {})", self.start, self.end)
    }
}

/// A state table registered with one backend instance ([`StateBackend::register_table`]).
///
/// Ids are local to the instance; snapshots name tables by their registered name, so they
/// restore into any instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TableId(pub u32);

/// One entry of a key-group snapshot: what [`StateBackend::snapshot_key_group`] returns and
/// [`StateBackend::restore_key_group`] takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateEntry {
    /// Registered name of the table.
    pub table: String,
    /// Key bytes.
    pub key: Vec<u8>,
    /// Value bytes.
    pub value: Vec<u8>,
}

/// A keyed state store: byte keys and values per (table, key group), keys ordered within a
/// key group. Object safe (operators hold a `Box<dyn StateBackend>`); one instance belongs
/// to one subtask and is used from its one thread.
///
/// Every method taking a key group fails with [`Error::Internal`](crate::Error::Internal)
/// when the key group is outside [`key_group_range`](Self::key_group_range) (a row was
/// routed to the wrong subtask) or the table id was not registered with this instance.
///
/// # See also
/// [`MemoryStateBackend`], the default; [`ValueState`], [`ListState`], [`MapState`], the
/// typed handles over it.
pub trait StateBackend: Send {
    /// The key groups this instance holds.
    fn key_group_range(&self) -> KeyGroupRange;

    /// The id of table `name`, registering it on first use (same name, same id).
    ///
    /// # Errors
    /// The backend cannot create the table.
    fn register_table(&mut self, name: &str) -> Result<TableId>;

    /// The registered tables, as (id, name).
    fn tables(&self) -> Vec<(TableId, String)>;

    /// The value under `key`, if any.
    ///
    /// # Errors
    /// See the trait docs; I/O errors of persistent backends.
    fn get(&self, table: TableId, key_group: usize, key: &[u8]) -> Result<Option<Vec<u8>>>;

    /// Set the value under `key`.
    ///
    /// # Errors
    /// See the trait docs.
    fn put(&mut self, table: TableId, key_group: usize, key: &[u8], value: &[u8]) -> Result<()>;

    /// Append `bytes` to the value under `key` (an absent value counts as empty): RocksDB's
    /// merge with a concatenating operator, used by [`ListState::add`].
    ///
    /// # Errors
    /// See the trait docs.
    fn append(&mut self, table: TableId, key_group: usize, key: &[u8], bytes: &[u8]) -> Result<()> {
        let mut value = self.get(table, key_group, key)?.unwrap_or_default();
        value.extend_from_slice(bytes);
        self.put(table, key_group, key, &value)
    }

    /// Remove `key`; removing an absent key is not an error.
    ///
    /// # Errors
    /// See the trait docs.
    fn delete(&mut self, table: TableId, key_group: usize, key: &[u8]) -> Result<()>;

    /// Every (key, value) of one key group of `table` whose key starts with `prefix`, in key
    /// order. An empty prefix scans the whole key group.
    ///
    /// # Errors
    /// See the trait docs.
    fn scan_prefix(
        &self,
        table: TableId,
        key_group: usize,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>>;

    /// Remove every key of one key group of `table` that starts with `prefix`; returns how
    /// many were removed.
    ///
    /// # Errors
    /// See the trait docs.
    fn delete_prefix(&mut self, table: TableId, key_group: usize, prefix: &[u8]) -> Result<usize> {
        let entries = self.scan_prefix(table, key_group, prefix)?;
        for (k, _) in &entries {
            self.delete(table, key_group, k)?;
        }
        Ok(entries.len())
    }

    /// Number of entries over all tables and key groups.
    fn num_entries(&self) -> usize;

    /// Approximate bytes held (keys plus values, without per-entry overhead).
    fn approximate_size_bytes(&self) -> usize;

    /// Every entry of one key group, all tables, in (table, key) order: the unit a
    /// checkpoint writes and a rescale moves.
    ///
    /// # Errors
    /// See the trait docs.
    fn snapshot_key_group(&self, key_group: usize) -> Result<Vec<StateEntry>>;

    /// Replace the content of one key group with `entries` (tables are registered by name
    /// as needed).
    ///
    /// # Errors
    /// See the trait docs.
    fn restore_key_group(&mut self, key_group: usize, entries: Vec<StateEntry>) -> Result<()>;

    /// Remove every entry of one key group.
    ///
    /// # Errors
    /// See the trait docs.
    fn clear_key_group(&mut self, key_group: usize) -> Result<()>;

    /// Add this backend's content to a checkpoint of its operator, under `name`. The
    /// default writes one keyed table (`table: Utf8, key: Binary, value: Binary` per entry,
    /// key group by key group); a backend with its own files (RocksDB) adds
    /// [`StateFiles`](crate::checkpoint::StateFiles) instead.
    ///
    /// # Errors
    /// Reading the state failed.
    fn snapshot_into(
        &mut self,
        name: &str,
        state: &mut crate::checkpoint::OperatorState,
    ) -> Result<()> {
        snapshot::entries_to_table(self, name, state)
    }

    /// Load what [`StateBackend::snapshot_into`] wrote under `name` (after a rescale, the
    /// parts of several old subtasks), keeping the key groups of this instance's range.
    /// The default reads the columnar table of the default `snapshot_into`, and RocksDB
    /// checkpoint files (entry by entry, with the `rocksdb` feature), so a job can switch
    /// backends between runs.
    ///
    /// # Errors
    /// State this backend cannot read.
    fn restore_from(&mut self, name: &str, state: &crate::checkpoint::OperatorState) -> Result<()> {
        snapshot::restore_default(self, name, state)
    }
}

#[cfg(test)]
mod tests {
    use millstream_kernels::partition::operator_index_for_key_group;

    use super::*;

    /// Flink's formula, with its inclusive end, written as in `KeyGroupRangeAssignment`.
    #[expect(
        clippy::manual_div_ceil,
        reason = "Flink's formula, spelled as Flink spells it"
    )]
    fn flink_range(max_parallelism: usize, parallelism: usize, index: usize) -> (usize, usize) {
        let start = (index * max_parallelism + parallelism - 1) / parallelism;
        let end = ((index + 1) * max_parallelism - 1) / parallelism;
        (start, end)
    }

    #[test]
    fn for_subtask_matches_flink_and_covers_all_once() {
        for max_parallelism in [1, 2, 7, 128, 1000, 32768] {
            for parallelism in [1, 2, 3, 4, 5, 7, 16, 100, 127, 128] {
                if parallelism > max_parallelism {
                    continue;
                }
                let mut owner = vec![usize::MAX; max_parallelism];
                for subtask in 0..parallelism {
                    let r = KeyGroupRange::for_subtask(max_parallelism, parallelism, subtask);
                    let (fs, fe) = flink_range(max_parallelism, parallelism, subtask);
                    assert_eq!(
                        (r.start, r.end),
                        (fs, fe + 1),
                        "{max_parallelism}/{parallelism}/{subtask}"
                    );
                    assert!(!r.is_empty());
                    for kg in r.iter() {
                        assert_eq!(owner[kg], usize::MAX, "key group {kg} owned twice");
                        owner[kg] = subtask;
                        assert_eq!(
                            operator_index_for_key_group(max_parallelism, parallelism, kg),
                            subtask
                        );
                    }
                }
                assert!(
                    owner.iter().all(|&o| o != usize::MAX),
                    "every key group owned"
                );
            }
        }
    }

    #[test]
    fn range_helpers() {
        let r = KeyGroupRange::new(4, 8);
        assert!(r.contains(4) && r.contains(7) && !r.contains(8) && !r.contains(3));
        assert_eq!(r.len(), 4);
        assert_eq!(r.to_string(), "[4, 8)");
        assert_eq!(KeyGroupRange::all(128), KeyGroupRange::new(0, 128));
    }

    #[test]
    #[should_panic(expected = "key group range")]
    fn for_subtask_rejects_bad_index() {
        let _ = KeyGroupRange::for_subtask(128, 2, 2);
    }
}
