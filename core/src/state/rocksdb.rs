//! [`RocksDbStateBackend`]: keyed state in an embedded RocksDB instance per operator
//! subtask, for state larger than memory (Flink's `EmbeddedRocksDBStateBackend`).
//!
//! ```text
//!  put(table, kg, key, value) ─▶ memtable ─flush─▶ immutable SST files (local dir, own per subtask)
//!  get / scan_prefix          ◀─ memtable + block cache (memory_budget_bytes) ◀─ SST files
//!  snapshot_into ─ flush, RocksDB checkpoint (hard links of the SST files) ─▶ StateFiles dir
//!                     ─▶ checkpoint writer copies the files it does not hold yet (incremental)
//!  restore_from  ◀─ same key groups: link the files in and open them as this instance
//!                ◀─ rescaled: open each old instance read-only, copy this range's key groups
//! ```
//!
//! **Layout.** One key space: `[key group: u16 BE][table id: u32 BE][user key]`, so a key
//! group is one contiguous range (a key-group snapshot or delete is a range scan or a
//! `DeleteRange`) and, within it, a table's keys are ordered as the trait requires. The
//! table names are kept in the DB itself under the reserved key group `0xffff`
//! (`[0xff, 0xff, b'T', name] → id: u32 BE`), so they travel with the files and a restored
//! instance maps names to the ids its data was written with.
//!
//! **Memory.** One LRU block cache of `memory_budget_bytes` holds data, index and filter
//! blocks; memtables are charged to the same cache by a write buffer manager (half of the
//! budget at most), as Flink's managed memory does. RSS therefore stays near the budget
//! however much state there is; the rest lives on disk (and in the OS page cache).
//!
//! **Durability.** The write-ahead log is disabled: a crash loses the instance, and
//! recovery restores the last checkpoint, as in Flink. `append` is a RocksDB merge with a
//! concatenating operator (no read). Get, put and merge cost `O(log n)` memtable work plus,
//! for reads that miss the memtable, a bloom-filtered lookup per sorted run.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use ::rocksdb::checkpoint::Checkpoint;
use ::rocksdb::{
    BlockBasedIndexType, BlockBasedOptions, Cache, DBCompressionType, Direction, IteratorMode,
    MergeOperands, Options, ReadOptions, WriteBatch, WriteBufferManager, WriteOptions, DB,
};

use super::{KeyGroupRange, RocksDbOptions, StateBackend, StateEntry, TableId};
use crate::checkpoint::{OperatorState, StateFiles};
use crate::error::{Error, Result};

/// Key groups must fit in the 2-byte prefix below the reserved metadata group `0xffff`.
pub const MAX_KEY_GROUPS: usize = 0xffff;

/// First two bytes of every metadata key (the reserved key group `0xffff`).
const META: [u8; 2] = [0xff, 0xff];
/// Metadata kind of the table-name entries: `META ++ b'T' ++ name → id (u32 BE)`.
const META_TABLE: u8 = b'T';
/// Budget of a source instance opened read-only to copy key groups out of it.
const READ_BUDGET: usize = 16 << 20;

/// Instances and checkpoint directories made by this process, for unique names.
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Keyed state in RocksDB, for the key groups of one subtask. The instance lives in a fresh
/// subdirectory of [`RocksDbOptions::dir`], removed when the backend is dropped.
///
/// # Example
/// ```
/// use millstream_core::state::{KeyGroupRange, RocksDbOptions, StateBackend};
/// use millstream_core::state::rocksdb::RocksDbStateBackend;
/// let dir = std::env::temp_dir().join("millstream-doc-rocksdb");
/// let mut s = RocksDbStateBackend::open(KeyGroupRange::all(128), &RocksDbOptions::new(&dir), "doc")?;
/// let t = s.register_table("counts")?;
/// s.put(t, 7, b"apple", b"3")?;
/// assert_eq!(s.get(t, 7, b"apple")?, Some(b"3".to_vec()));
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct RocksDbStateBackend {
    range: KeyGroupRange,
    budget: usize,
    /// Where instances and checkpoint directories are made.
    root: PathBuf,
    /// Stem of the names of this instance's directories.
    label: String,
    /// This instance's directory.
    dir: PathBuf,
    /// `None` only while being replaced or dropped.
    db: Option<DB>,
    write: WriteOptions,
    /// Table names by id (ids are dense, in registration order).
    names: Vec<String>,
    ids: HashMap<String, TableId>,
}

impl fmt::Debug for RocksDbStateBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RocksDbStateBackend")
            .field("range", &self.range)
            .field("dir", &self.dir)
            .field("budget", &self.budget)
            .field("tables", &self.names)
            .finish()
    }
}

/// The associative merge of `append`: concatenation.
fn concat(_key: &[u8], existing: Option<&[u8]>, operands: &MergeOperands) -> Option<Vec<u8>> {
    let len = existing.map_or(0, <[u8]>::len) + operands.iter().map(<[u8]>::len).sum::<usize>();
    let mut out = Vec::with_capacity(len);
    if let Some(e) = existing {
        out.extend_from_slice(e);
    }
    for op in operands {
        out.extend_from_slice(op);
    }
    Some(out)
}

/// RocksDB options bounded by `budget` bytes of cache and memtables.
fn db_options(budget: usize) -> Options {
    let budget = budget.max(1 << 20);
    let cache = Cache::new_lru_cache(budget);
    // Memtables are charged to the block cache, so cache + memtables stay within the budget.
    let buffers =
        WriteBufferManager::new_write_buffer_manager_with_cache(budget / 2, false, cache.clone());
    let mut table = BlockBasedOptions::default();
    table.set_block_cache(&cache);
    // Point reads of absent keys (every new key) skip sorted runs by their bloom filters.
    table.set_bloom_filter(10.0, false);
    // Index and filter blocks go through the cache too, partitioned so that only the small
    // top level stays pinned: without this they grow with the data, outside the budget.
    table.set_cache_index_and_filter_blocks(true);
    table.set_cache_index_and_filter_blocks_with_high_priority(true);
    table.set_index_type(BlockBasedIndexType::TwoLevelIndexSearch);
    table.set_partition_filters(true);
    table.set_pin_top_level_index_and_filter(true);
    table.set_pin_l0_filter_and_index_blocks_in_cache(true);
    let mut o = Options::default();
    o.create_if_missing(true);
    o.set_block_based_table_factory(&table);
    o.set_write_buffer_manager(&buffers);
    o.set_write_buffer_size((budget / 4).max(256 << 10));
    o.set_max_write_buffer_number(2);
    // Built without compression libraries: state files are local and short-lived.
    o.set_compression_type(DBCompressionType::None);
    o.set_merge_operator_associative("millstream-concat", concat);
    o.set_max_background_jobs(2);
    o.set_keep_log_file_num(2);
    o
}

fn rocks_err(dir: &Path, what: &str, e: ::rocksdb::Error) -> Error {
    Error::io(
        format!("rocksdb state backend at {}: {what}", dir.display()),
        std::io::Error::other(e.into_string()),
    )
}

fn io_err(path: &Path, what: &str, e: std::io::Error) -> Error {
    Error::io(
        format!("rocksdb state backend: {what} {}", path.display()),
        e,
    )
}

/// The 2-byte prefix of key group `kg`.
fn group_prefix(kg: usize) -> [u8; 2] {
    // Key groups are checked against MAX_KEY_GROUPS when the instance is opened.
    (kg as u16).to_be_bytes()
}

/// `[kg][table][key]`: where a user key of one table and key group is stored.
fn data_key(kg: usize, table: TableId, key: &[u8]) -> Vec<u8> {
    let mut k = Vec::with_capacity(6 + key.len());
    k.extend_from_slice(&group_prefix(kg));
    k.extend_from_slice(&table.0.to_be_bytes());
    k.extend_from_slice(key);
    k
}

/// The smallest key greater than every key starting with `prefix`. Every data prefix starts
/// with a key group below `0xffff`, so it exists and is at most [`META`].
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    META.to_vec()
}

/// Split a data key into (key group, table id, user key).
fn split_key(k: &[u8]) -> Option<(usize, u32, &[u8])> {
    let (kg, rest) = k.split_first_chunk::<2>()?;
    let (table, user) = rest.split_first_chunk::<4>()?;
    Some((
        u16::from_be_bytes(*kg) as usize,
        u32::from_be_bytes(*table),
        user,
    ))
}

/// Visit every (key, value) in `[lower, upper)` in key order.
fn scan_range(
    db: &DB,
    dir: &Path,
    lower: &[u8],
    upper: &[u8],
    fill_cache: bool,
    mut f: impl FnMut(&[u8], &[u8]) -> Result<()>,
) -> Result<()> {
    let mut ro = ReadOptions::default();
    ro.set_iterate_lower_bound(lower.to_vec());
    ro.set_iterate_upper_bound(upper.to_vec());
    ro.fill_cache(fill_cache);
    for item in db.iterator_opt(IteratorMode::From(lower, Direction::Forward), ro) {
        let (k, v) = item.map_err(|e| rocks_err(dir, "scan", e))?;
        f(&k, &v)?;
    }
    Ok(())
}

/// The table names stored in `db`, by id.
fn read_names(db: &DB, dir: &Path) -> Result<Vec<String>> {
    let lower = [META[0], META[1], META_TABLE];
    let upper = [META[0], META[1], META_TABLE + 1];
    let mut by_id: Vec<(u32, String)> = Vec::new();
    scan_range(db, dir, &lower, &upper, true, |k, v| {
        let name = String::from_utf8(k[3..].to_vec()).map_err(|_| {
            Error::Internal(format!(
                "rocksdb state backend at {}: table name is not UTF-8",
                dir.display()
            ))
        })?;
        let id = v.try_into().map(u32::from_be_bytes).map_err(|_| {
            Error::Internal(format!(
                "rocksdb state backend at {}: table '{name}' has a malformed id",
                dir.display()
            ))
        })?;
        by_id.push((id, name));
        Ok(())
    })?;
    by_id.sort();
    let dense = by_id
        .iter()
        .enumerate()
        .all(|(i, (id, _))| *id as usize == i);
    if !dense {
        return Err(Error::Internal(format!(
            "rocksdb state backend at {}: table ids are not 0..{}",
            dir.display(),
            by_id.len()
        )));
    }
    Ok(by_id.into_iter().map(|(_, n)| n).collect())
}

/// A path under `root` that does not exist yet: `{stem}-{pid}-{seq}{suffix}`.
fn fresh_path(root: &Path, stem: &str, suffix: &str) -> PathBuf {
    loop {
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        let p = root.join(format!("{stem}-{}-{seq}{suffix}", std::process::id()));
        if !p.exists() {
            return p;
        }
    }
}

/// Make `dst` (absent) a copy of the checkpoint directory `src`: SST files are immutable and
/// hard-linked (copied across file systems), the others (MANIFEST, CURRENT, OPTIONS), which
/// an open instance appends to or rewrites, are copied.
fn link_checkpoint(src: &Path, dst: &Path) -> Result<()> {
    std::fs::create_dir_all(dst).map_err(|e| io_err(dst, "creating", e))?;
    let entries = std::fs::read_dir(src).map_err(|e| io_err(src, "reading", e))?;
    for entry in entries {
        let entry = entry.map_err(|e| io_err(src, "reading", e))?;
        let from = entry.path();
        if !from.is_file() {
            continue;
        }
        let to = dst.join(entry.file_name());
        let is_sst = from.extension().is_some_and(|e| e == "sst");
        if !(is_sst && std::fs::hard_link(&from, &to).is_ok()) {
            std::fs::copy(&from, &to).map_err(|e| io_err(&from, "copying", e))?;
        }
    }
    Ok(())
}

fn sanitize(label: &str) -> String {
    let s: String = label
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect();
    if s.is_empty() {
        "state".into()
    } else {
        s
    }
}

impl RocksDbStateBackend {
    /// A fresh, empty instance for the key groups in `range`, in a new subdirectory of
    /// `options.dir` named after `label` (operator and subtask, for people reading the
    /// directory).
    ///
    /// # Errors
    /// The directory or the instance cannot be created; `range` reaches past
    /// [`MAX_KEY_GROUPS`].
    pub fn open(range: KeyGroupRange, options: &RocksDbOptions, label: &str) -> Result<Self> {
        if range.end > MAX_KEY_GROUPS {
            return Err(Error::Unsupported(format!(
                "rocksdb state backend: key group range {range} reaches past {MAX_KEY_GROUPS} (max parallelism too large)"
            )));
        }
        let root = options.dir.clone();
        std::fs::create_dir_all(&root).map_err(|e| io_err(&root, "creating", e))?;
        let label = sanitize(label);
        let dir = fresh_path(&root, &label, "");
        let db = DB::open(&db_options(options.memory_budget_bytes), &dir)
            .map_err(|e| rocks_err(&dir, "opening", e))?;
        let mut write = WriteOptions::default();
        write.disable_wal(true);
        Ok(RocksDbStateBackend {
            range,
            budget: options.memory_budget_bytes,
            root,
            label,
            dir,
            db: Some(db),
            write,
            names: Vec::new(),
            ids: HashMap::new(),
        })
    }

    /// The directory of this instance.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    fn db(&self) -> Result<&DB> {
        self.db.as_ref().ok_or_else(|| {
            Error::Internal(format!(
                "rocksdb state backend at {}: instance is closed",
                self.dir.display()
            ))
        })
    }

    fn err(&self, what: &str, e: ::rocksdb::Error) -> Error {
        rocks_err(&self.dir, what, e)
    }

    /// Check the key group and the table id of an access.
    fn check(&self, table: TableId, key_group: usize) -> Result<()> {
        if !self.range.contains(key_group) {
            return Err(Error::Internal(format!(
                "rocksdb state backend: key group {key_group} is outside this subtask's range {} (row routed to the wrong subtask)",
                self.range
            )));
        }
        if table.0 as usize >= self.names.len() {
            return Err(Error::Internal(format!(
                "rocksdb state backend: table id {} was never registered",
                table.0
            )));
        }
        Ok(())
    }

    fn check_group(&self, key_group: usize) -> Result<()> {
        if self.range.contains(key_group) {
            Ok(())
        } else {
            Err(Error::Internal(format!(
                "rocksdb state backend: key group {key_group} is outside this subtask's range {}",
                self.range
            )))
        }
    }

    fn write_batch(&self, batch: WriteBatch) -> Result<()> {
        self.db()?
            .write_opt(batch, &self.write)
            .map_err(|e| self.err("write", e))
    }

    /// Adopt the checkpoint directory `src` (holding exactly this instance's key groups) as
    /// this instance. Returns `false`, changing nothing, when tables registered here before
    /// the restore have other ids there (the caller then copies entry by entry).
    fn adopt(&mut self, src: &Path) -> Result<bool> {
        let dir = fresh_path(&self.root, &self.label, "");
        link_checkpoint(src, &dir)?;
        let db = match DB::open(&db_options(self.budget), &dir) {
            Ok(db) => db,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(rocks_err(&dir, "opening restored instance", e));
            }
        };
        let restored = match read_names(&db, &dir) {
            Ok(names) => names,
            Err(e) => {
                drop(db);
                let _ = std::fs::remove_dir_all(&dir);
                return Err(e);
            }
        };
        let common = self.names.len().min(restored.len());
        if self.names[..common] != restored[..common] {
            drop(db);
            let _ = std::fs::remove_dir_all(&dir);
            return Ok(false);
        }
        let registered_here = self.names.split_off(common);
        let old = self.db.replace(db);
        drop(old);
        let _ = std::fs::remove_dir_all(&self.dir);
        self.dir = dir;
        self.names = restored;
        self.ids = self
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), TableId(i as u32)))
            .collect();
        for name in registered_here {
            self.register_table(&name)?;
        }
        Ok(true)
    }
}

impl Drop for RocksDbStateBackend {
    fn drop(&mut self) {
        // Close before deleting the files under it.
        drop(self.db.take());
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Copy the key groups of `backend`'s range that the RocksDB checkpoint `files` holds into
/// `backend` (each such key group is replaced), opening the files read-only. This is how a
/// rescaled RocksDB instance, or another backend, restores RocksDB checkpoint files.
///
/// # Errors
/// The files cannot be opened or hold malformed keys; the backend's errors.
pub fn restore_files<B: StateBackend + ?Sized>(backend: &mut B, files: &StateFiles) -> Result<()> {
    let target = backend.key_group_range();
    let lo = target.start.max(files.key_groups.start);
    let hi = target.end.min(files.key_groups.end);
    if lo >= hi {
        return Ok(());
    }
    let dir = &files.dir;
    let src = DB::open_for_read_only(&db_options(READ_BUDGET), dir, false)
        .map_err(|e| rocks_err(dir, "opening checkpoint files", e))?;
    let names = read_names(&src, dir)?;
    for kg in lo..hi {
        let mut entries = Vec::new();
        let lower = group_prefix(kg);
        let upper = prefix_end(&lower);
        scan_range(&src, dir, &lower, &upper, false, |k, v| {
            let (_, table, key) = split_key(k).ok_or_else(|| {
                Error::Internal(format!("malformed state key in {}", dir.display()))
            })?;
            let table = names.get(table as usize).ok_or_else(|| {
                Error::Internal(format!(
                    "state key of unknown table id {table} in {}",
                    dir.display()
                ))
            })?;
            entries.push(StateEntry {
                table: table.clone(),
                key: key.to_vec(),
                value: v.to_vec(),
            });
            Ok(())
        })?;
        backend.restore_key_group(kg, entries)?;
    }
    Ok(())
}

impl StateBackend for RocksDbStateBackend {
    fn key_group_range(&self) -> KeyGroupRange {
        self.range
    }

    fn register_table(&mut self, name: &str) -> Result<TableId> {
        if let Some(&id) = self.ids.get(name) {
            return Ok(id);
        }
        let id = TableId(u32::try_from(self.names.len()).map_err(|_| {
            Error::Internal("rocksdb state backend: more than u32::MAX tables".into())
        })?);
        let mut key = vec![META[0], META[1], META_TABLE];
        key.extend_from_slice(name.as_bytes());
        self.db()?
            .put_opt(&key, id.0.to_be_bytes(), &self.write)
            .map_err(|e| self.err("registering a table", e))?;
        self.names.push(name.to_string());
        self.ids.insert(name.to_string(), id);
        Ok(id)
    }

    fn tables(&self) -> Vec<(TableId, String)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (TableId(i as u32), n.clone()))
            .collect()
    }

    fn get(&self, table: TableId, key_group: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.check(table, key_group)?;
        self.db()?
            .get(data_key(key_group, table, key))
            .map_err(|e| self.err("get", e))
    }

    fn put(&mut self, table: TableId, key_group: usize, key: &[u8], value: &[u8]) -> Result<()> {
        self.check(table, key_group)?;
        self.db()?
            .put_opt(data_key(key_group, table, key), value, &self.write)
            .map_err(|e| self.err("put", e))
    }

    fn append(&mut self, table: TableId, key_group: usize, key: &[u8], bytes: &[u8]) -> Result<()> {
        self.check(table, key_group)?;
        self.db()?
            .merge_opt(data_key(key_group, table, key), bytes, &self.write)
            .map_err(|e| self.err("append", e))
    }

    fn delete(&mut self, table: TableId, key_group: usize, key: &[u8]) -> Result<()> {
        self.check(table, key_group)?;
        self.db()?
            .delete_opt(data_key(key_group, table, key), &self.write)
            .map_err(|e| self.err("delete", e))
    }

    fn scan_prefix(
        &self,
        table: TableId,
        key_group: usize,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        self.check(table, key_group)?;
        let lower = data_key(key_group, table, prefix);
        let upper = prefix_end(&lower);
        let mut out = Vec::new();
        scan_range(self.db()?, &self.dir, &lower, &upper, true, |k, v| {
            out.push((k[6..].to_vec(), v.to_vec()));
            Ok(())
        })?;
        Ok(out)
    }

    fn delete_prefix(&mut self, table: TableId, key_group: usize, prefix: &[u8]) -> Result<usize> {
        self.check(table, key_group)?;
        let lower = data_key(key_group, table, prefix);
        let upper = prefix_end(&lower);
        let mut keys = Vec::new();
        scan_range(self.db()?, &self.dir, &lower, &upper, true, |k, _| {
            keys.push(k.to_vec());
            Ok(())
        })?;
        let mut batch = WriteBatch::default();
        // A few point deletes read faster later than a range tombstone per cleared key.
        if keys.len() <= 16 {
            for k in &keys {
                batch.delete(k);
            }
        } else {
            batch.delete_range(&lower, &upper);
        }
        self.write_batch(batch)?;
        Ok(keys.len())
    }

    /// Counts by scanning every key: `O(entries)`, for tests and reports.
    fn num_entries(&self) -> usize {
        let Ok(db) = self.db() else { return 0 };
        let mut n = 0;
        let counted = scan_range(db, &self.dir, &[0, 0], &META, false, |_, _| {
            n += 1;
            Ok(())
        });
        if counted.is_err() {
            return 0;
        }
        n
    }

    /// RocksDB's estimate of live data on disk plus the memtables.
    fn approximate_size_bytes(&self) -> usize {
        let Ok(db) = self.db() else { return 0 };
        let prop = |name: &str| db.property_int_value(name).ok().flatten().unwrap_or(0);
        (prop("rocksdb.estimate-live-data-size") + prop("rocksdb.cur-size-all-mem-tables")) as usize
    }

    fn snapshot_key_group(&self, key_group: usize) -> Result<Vec<StateEntry>> {
        self.check_group(key_group)?;
        let lower = group_prefix(key_group);
        let upper = prefix_end(&lower);
        let mut out = Vec::new();
        scan_range(self.db()?, &self.dir, &lower, &upper, false, |k, v| {
            let (_, table, key) = split_key(k)
                .ok_or_else(|| Error::Internal("rocksdb state backend: malformed key".into()))?;
            let table = self.names.get(table as usize).ok_or_else(|| {
                Error::Internal(format!(
                    "rocksdb state backend: data of unknown table id {table}"
                ))
            })?;
            out.push(StateEntry {
                table: table.clone(),
                key: key.to_vec(),
                value: v.to_vec(),
            });
            Ok(())
        })?;
        Ok(out)
    }

    fn restore_key_group(&mut self, key_group: usize, entries: Vec<StateEntry>) -> Result<()> {
        self.check_group(key_group)?;
        let lower = group_prefix(key_group);
        let mut batch = WriteBatch::default();
        batch.delete_range(&lower[..], &prefix_end(&lower)[..]);
        for e in entries {
            let table = self.register_table(&e.table)?;
            batch.put(data_key(key_group, table, &e.key), &e.value);
            // Bounded batches: a key group may hold millions of entries.
            if batch.size_in_bytes() > 4 << 20 {
                self.write_batch(std::mem::take(&mut batch))?;
            }
        }
        self.write_batch(batch)
    }

    fn clear_key_group(&mut self, key_group: usize) -> Result<()> {
        self.check_group(key_group)?;
        let lower = group_prefix(key_group);
        let mut batch = WriteBatch::default();
        batch.delete_range(&lower[..], &prefix_end(&lower)[..]);
        self.write_batch(batch)
    }

    /// Flush the memtables and take a RocksDB checkpoint (hard links of the immutable SST
    /// files, plus copies of the small MANIFEST, CURRENT and OPTIONS files) into a fresh
    /// directory beside the instance, handed over as [`StateFiles`]. `O(memtable + files)`,
    /// not `O(state)`.
    fn snapshot_into(&mut self, name: &str, state: &mut OperatorState) -> Result<()> {
        let db = self.db()?;
        db.flush()
            .map_err(|e| self.err("flushing for a checkpoint", e))?;
        let dir = fresh_path(&self.root, &self.label, ".chk");
        Checkpoint::new(db)
            .and_then(|c| c.create_checkpoint(&dir))
            .map_err(|e| self.err("creating a checkpoint", e))?;
        state.files.push(StateFiles {
            name: name.to_string(),
            key_groups: self.range,
            dir,
        });
        Ok(())
    }

    /// Restore RocksDB files written by [`snapshot_into`](Self::snapshot_into): one
    /// directory with exactly this instance's key groups is adopted as this instance's
    /// files (no copy of the data); otherwise (a rescale) each overlapping old instance is
    /// opened read-only and this range's key groups are copied. A columnar table written by
    /// another backend under `name` is loaded too, so a job can switch backends.
    fn restore_from(&mut self, name: &str, state: &OperatorState) -> Result<()> {
        let files: Vec<&StateFiles> = state.files.iter().filter(|f| f.name == name).collect();
        let adopted = match files[..] {
            [only] if only.key_groups == self.range => self.adopt(&only.dir)?,
            _ => false,
        };
        if !adopted {
            for f in files {
                restore_files(self, f)?;
            }
        }
        // After the files: adopting them replaces the whole instance.
        if state.table(name).is_some() {
            super::snapshot::table_to_entries(self, name, state)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
