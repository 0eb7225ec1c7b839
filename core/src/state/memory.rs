//! [`MemoryStateBackend`]: the default [`StateBackend`], on the heap.
//!
//! One ordered map (`BTreeMap<key bytes, value bytes>`) per (table, key group), so a prefix
//! scan is a range scan and a key group snapshots in key order, as with RocksDB. Get, put
//! and delete are `O(log n)` in the entries of one key group plus the key and value
//! lengths; a snapshot of a key group is linear in its size. Nothing survives the process:
//! durability comes from checkpoints (`snapshot_key_group`).

use std::collections::BTreeMap;
use std::ops::Bound;

use super::{KeyGroupRange, StateBackend, StateEntry, TableId};
use crate::error::{Error, Result};

type Group = BTreeMap<Vec<u8>, Vec<u8>>;

/// Keyed state on the heap, for the key groups of one subtask.
///
/// # Example
/// ```
/// use millstream_core::state::{KeyGroupRange, MemoryStateBackend, StateBackend};
/// let mut s = MemoryStateBackend::new(KeyGroupRange::all(128));
/// let t = s.register_table("counts")?;
/// s.put(t, 7, b"apple", b"3")?;
/// assert_eq!(s.get(t, 7, b"apple")?, Some(b"3".to_vec()));
/// assert_eq!(s.snapshot_key_group(7)?.len(), 1);
/// # Ok::<(), millstream_core::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct MemoryStateBackend {
    range: KeyGroupRange,
    names: Vec<String>,
    /// `tables[table][key_group - range.start]`.
    tables: Vec<Vec<Group>>,
    entries: usize,
    bytes: usize,
}

impl MemoryStateBackend {
    /// An empty backend for the key groups in `range`.
    pub fn new(range: KeyGroupRange) -> Self {
        MemoryStateBackend {
            range,
            names: Vec::new(),
            tables: Vec::new(),
            entries: 0,
            bytes: 0,
        }
    }

    /// An empty backend for the key groups subtask `subtask` of `parallelism` owns.
    ///
    /// # Panics
    /// As [`KeyGroupRange::for_subtask`].
    pub fn for_subtask(max_parallelism: usize, parallelism: usize, subtask: usize) -> Self {
        Self::new(KeyGroupRange::for_subtask(
            max_parallelism,
            parallelism,
            subtask,
        ))
    }

    fn slot(&self, key_group: usize) -> Result<usize> {
        if self.range.contains(key_group) {
            Ok(key_group - self.range.start)
        } else {
            Err(Error::Internal(format!(
                "memory state backend: key group {key_group} is outside this subtask's range {} (row routed to the wrong subtask)",
                self.range
            )))
        }
    }

    fn group(&self, table: TableId, key_group: usize) -> Result<&Group> {
        let slot = self.slot(key_group)?;
        self.tables
            .get(table.0 as usize)
            .map(|t| &t[slot])
            .ok_or_else(|| unknown_table(table))
    }

    fn group_mut(&mut self, table: TableId, key_group: usize) -> Result<&mut Group> {
        let slot = self.slot(key_group)?;
        self.tables
            .get_mut(table.0 as usize)
            .map(|t| &mut t[slot])
            .ok_or_else(|| unknown_table(table))
    }

    fn remove_group(&mut self, slot: usize) {
        for table in &mut self.tables {
            let group = std::mem::take(&mut table[slot]);
            for (k, v) in &group {
                self.bytes -= k.len() + v.len();
            }
            self.entries -= group.len();
        }
    }
}

fn unknown_table(table: TableId) -> Error {
    Error::Internal(format!(
        "memory state backend: table id {} was never registered",
        table.0
    ))
}

/// The keys `>= prefix` and `< prefix + 1` (the next prefix of the same length), or all
/// keys `>= prefix` when the prefix is all `0xff`.
fn prefix_bounds(prefix: &[u8]) -> (Bound<Vec<u8>>, Bound<Vec<u8>>) {
    let start = Bound::Included(prefix.to_vec());
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return (start, Bound::Excluded(end));
        }
    }
    (start, Bound::Unbounded)
}

impl StateBackend for MemoryStateBackend {
    fn key_group_range(&self) -> KeyGroupRange {
        self.range
    }

    fn register_table(&mut self, name: &str) -> Result<TableId> {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return Ok(TableId(i as u32));
        }
        let id = u32::try_from(self.names.len()).map_err(|_| {
            Error::Internal("memory state backend: more than u32::MAX tables".into())
        })?;
        self.names.push(name.to_string());
        self.tables.push(vec![Group::new(); self.range.len()]);
        Ok(TableId(id))
    }

    fn tables(&self) -> Vec<(TableId, String)> {
        self.names
            .iter()
            .enumerate()
            .map(|(i, n)| (TableId(i as u32), n.clone()))
            .collect()
    }

    fn get(&self, table: TableId, key_group: usize, key: &[u8]) -> Result<Option<Vec<u8>>> {
        Ok(self.group(table, key_group)?.get(key).cloned())
    }

    fn put(&mut self, table: TableId, key_group: usize, key: &[u8], value: &[u8]) -> Result<()> {
        let group = self.group_mut(table, key_group)?;
        let (added, removed) = match group.get_mut(key) {
            Some(old) => {
                let removed = old.len();
                old.clear();
                old.extend_from_slice(value);
                (value.len(), removed)
            }
            None => {
                group.insert(key.to_vec(), value.to_vec());
                self.entries += 1;
                (key.len() + value.len(), 0)
            }
        };
        self.bytes = self.bytes + added - removed;
        Ok(())
    }

    fn append(&mut self, table: TableId, key_group: usize, key: &[u8], bytes: &[u8]) -> Result<()> {
        let group = self.group_mut(table, key_group)?;
        match group.get_mut(key) {
            Some(old) => old.extend_from_slice(bytes),
            None => {
                group.insert(key.to_vec(), bytes.to_vec());
                self.entries += 1;
                self.bytes += key.len();
            }
        }
        self.bytes += bytes.len();
        Ok(())
    }

    fn delete(&mut self, table: TableId, key_group: usize, key: &[u8]) -> Result<()> {
        if let Some(old) = self.group_mut(table, key_group)?.remove(key) {
            self.entries -= 1;
            self.bytes -= key.len() + old.len();
        }
        Ok(())
    }

    fn scan_prefix(
        &self,
        table: TableId,
        key_group: usize,
        prefix: &[u8],
    ) -> Result<Vec<(Vec<u8>, Vec<u8>)>> {
        let group = self.group(table, key_group)?;
        Ok(group
            .range(prefix_bounds(prefix))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn delete_prefix(&mut self, table: TableId, key_group: usize, prefix: &[u8]) -> Result<usize> {
        let group = self.group_mut(table, key_group)?;
        let keys: Vec<Vec<u8>> = group
            .range(prefix_bounds(prefix))
            .map(|(k, _)| k.clone())
            .collect();
        let mut freed = 0;
        for k in &keys {
            if let Some(v) = group.remove(k) {
                freed += k.len() + v.len();
            }
        }
        self.entries -= keys.len();
        self.bytes -= freed;
        Ok(keys.len())
    }

    fn num_entries(&self) -> usize {
        self.entries
    }

    fn approximate_size_bytes(&self) -> usize {
        self.bytes
    }

    fn snapshot_key_group(&self, key_group: usize) -> Result<Vec<StateEntry>> {
        let slot = self.slot(key_group)?;
        let mut out = Vec::new();
        for (name, table) in self.names.iter().zip(&self.tables) {
            out.extend(table[slot].iter().map(|(k, v)| StateEntry {
                table: name.clone(),
                key: k.clone(),
                value: v.clone(),
            }));
        }
        Ok(out)
    }

    fn restore_key_group(&mut self, key_group: usize, entries: Vec<StateEntry>) -> Result<()> {
        let slot = self.slot(key_group)?;
        self.remove_group(slot);
        for e in entries {
            let table = self.register_table(&e.table)?;
            self.put(table, key_group, &e.key, &e.value)?;
        }
        Ok(())
    }

    fn clear_key_group(&mut self, key_group: usize) -> Result<()> {
        let slot = self.slot(key_group)?;
        self.remove_group(slot);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_put_delete_and_sizes() {
        let mut s = MemoryStateBackend::new(KeyGroupRange::new(10, 20));
        let a = s.register_table("a").unwrap();
        let b = s.register_table("b").unwrap();
        assert_eq!(s.register_table("a").unwrap(), a, "same name, same id");
        s.put(a, 10, b"k1", b"v1").unwrap();
        s.put(a, 19, b"k1", b"other group").unwrap();
        s.put(b, 10, b"k1", b"other table").unwrap();
        assert_eq!(s.get(a, 10, b"k1").unwrap(), Some(b"v1".to_vec()));
        assert_eq!(s.get(a, 11, b"k1").unwrap(), None);
        assert_eq!(s.num_entries(), 3);
        assert_eq!(s.approximate_size_bytes(), 4 + 13 + 13);
        s.put(a, 10, b"k1", b"longer").unwrap();
        assert_eq!(s.approximate_size_bytes(), 2 + 6 + 13 + 13);
        s.delete(a, 10, b"k1").unwrap();
        s.delete(a, 10, b"absent").unwrap();
        assert_eq!(s.get(a, 10, b"k1").unwrap(), None);
        assert_eq!(s.num_entries(), 2);
        assert_eq!(s.approximate_size_bytes(), 26);
        s.append(a, 12, b"l", b"xy").unwrap();
        s.append(a, 12, b"l", b"z").unwrap();
        assert_eq!(s.get(a, 12, b"l").unwrap(), Some(b"xyz".to_vec()));
        assert_eq!(s.approximate_size_bytes(), 26 + 4);
    }

    #[test]
    fn key_group_outside_range_is_an_error() {
        let mut s = MemoryStateBackend::new(KeyGroupRange::new(10, 20));
        let a = s.register_table("a").unwrap();
        let e = s.put(a, 20, b"k", b"v").unwrap_err().to_string();
        assert!(e.contains("key group 20") && e.contains("[10, 20)"), "{e}");
        assert!(s.get(TableId(9), 10, b"k").is_err());
    }

    #[test]
    fn scan_by_key_group_and_prefix() {
        let mut s = MemoryStateBackend::new(KeyGroupRange::all(4));
        let t = s.register_table("t").unwrap();
        for (kg, k) in [
            (1, &b"ab"[..]),
            (1, b"abc"),
            (1, b"b"),
            (2, b"ab"),
            (1, b"a\xff"),
            (1, b"\xff\xff"),
        ] {
            s.put(t, kg, k, k).unwrap();
        }
        let keys = |v: Vec<(Vec<u8>, Vec<u8>)>| v.into_iter().map(|(k, _)| k).collect::<Vec<_>>();
        assert_eq!(
            keys(s.scan_prefix(t, 1, b"").unwrap()),
            vec![
                b"ab".to_vec(),
                b"abc".to_vec(),
                b"a\xff".to_vec(),
                b"b".to_vec(),
                b"\xff\xff".to_vec()
            ]
        );
        assert_eq!(
            keys(s.scan_prefix(t, 1, b"ab").unwrap()),
            vec![b"ab".to_vec(), b"abc".to_vec()]
        );
        assert_eq!(keys(s.scan_prefix(t, 1, b"a").unwrap()).len(), 3);
        assert_eq!(
            keys(s.scan_prefix(t, 1, b"\xff").unwrap()),
            vec![b"\xff\xff".to_vec()]
        );
        assert_eq!(s.delete_prefix(t, 1, b"ab").unwrap(), 2);
        assert_eq!(s.scan_prefix(t, 1, b"").unwrap().len(), 3);
        assert_eq!(s.scan_prefix(t, 2, b"").unwrap().len(), 1);
        assert_eq!(s.num_entries(), 4);
    }

    #[test]
    fn snapshot_restore_moves_a_key_group() {
        let mut a = MemoryStateBackend::for_subtask(8, 1, 0);
        let t = a.register_table("t").unwrap();
        let u = a.register_table("u").unwrap();
        a.put(t, 3, b"x", b"1").unwrap();
        a.put(u, 3, b"y", b"2").unwrap();
        a.put(t, 4, b"z", b"3").unwrap();
        let snap = a.snapshot_key_group(3).unwrap();
        assert_eq!(
            snap,
            vec![
                StateEntry {
                    table: "t".into(),
                    key: b"x".to_vec(),
                    value: b"1".to_vec()
                },
                StateEntry {
                    table: "u".into(),
                    key: b"y".to_vec(),
                    value: b"2".to_vec()
                },
            ]
        );
        // Rescale to parallelism 2: key group 3 belongs to subtask 0 ([0, 4)).
        let mut b = MemoryStateBackend::for_subtask(8, 2, 0);
        b.register_table("other").unwrap();
        b.restore_key_group(3, snap.clone()).unwrap();
        assert_eq!(b.snapshot_key_group(3).unwrap(), snap);
        let tb = b.register_table("t").unwrap();
        assert_eq!(b.get(tb, 3, b"x").unwrap(), Some(b"1".to_vec()));
        assert!(
            b.restore_key_group(4, Vec::new()).is_err(),
            "key group 4 is subtask 1's"
        );
        // Restoring replaces what was there.
        b.restore_key_group(3, snap[..1].to_vec()).unwrap();
        assert_eq!(b.num_entries(), 1);
        a.clear_key_group(3).unwrap();
        assert_eq!(a.num_entries(), 1);
        assert_eq!(a.approximate_size_bytes(), 2);
    }
}
