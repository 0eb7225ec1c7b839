use std::collections::BTreeMap;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::state::{MemoryStateBackend, StateBackendKind};

fn opts(dir: &tempfile::TempDir) -> RocksDbOptions {
    RocksDbOptions {
        dir: dir.path().to_path_buf(),
        memory_budget_bytes: 8 << 20,
    }
}

fn open(dir: &tempfile::TempDir, range: KeyGroupRange) -> RocksDbStateBackend {
    RocksDbStateBackend::open(range, &opts(dir), "test").unwrap()
}

/// Every entry of `b`, by (key group, table name, key).
fn dump(b: &dyn StateBackend) -> BTreeMap<(usize, String, Vec<u8>), Vec<u8>> {
    let mut out = BTreeMap::new();
    for kg in b.key_group_range().iter() {
        for e in b.snapshot_key_group(kg).unwrap() {
            out.insert((kg, e.table, e.key), e.value);
        }
    }
    out
}

/// The same random operations on both backends.
fn fill(backends: &mut [&mut dyn StateBackend], seed: u64, ops: usize, max_kg: usize) {
    let mut rng = StdRng::seed_from_u64(seed);
    let names = ["a", "b", "c"];
    for _ in 0..ops {
        let name = names[rng.random_range(0..names.len())];
        let kg = rng.random_range(0..max_kg);
        let key = format!("k{}", rng.random_range(0..40)).into_bytes();
        let value = vec![rng.random::<u8>(); rng.random_range(0..5)];
        let op = rng.random_range(0..10);
        for b in backends.iter_mut() {
            let t = b.register_table(name).unwrap();
            match op {
                0 => b.delete(t, kg, &key).unwrap(),
                1 => b.append(t, kg, &key, &value).unwrap(),
                2 => {
                    b.delete_prefix(t, kg, &key[..2]).unwrap();
                }
                _ => b.put(t, kg, &key, &value).unwrap(),
            }
        }
    }
}

#[test]
fn get_put_delete_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, KeyGroupRange::new(10, 20));
    let a = s.register_table("a").unwrap();
    let b = s.register_table("b").unwrap();
    assert_eq!(s.register_table("a").unwrap(), a, "same name, same id");
    assert_eq!(s.tables(), vec![(a, "a".to_string()), (b, "b".to_string())]);
    s.put(a, 10, b"k1", b"v1").unwrap();
    s.put(a, 19, b"k1", b"other group").unwrap();
    s.put(b, 10, b"k1", b"other table").unwrap();
    assert_eq!(s.get(a, 10, b"k1").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(s.get(a, 11, b"k1").unwrap(), None);
    assert_eq!(s.num_entries(), 3);
    s.put(a, 10, b"k1", b"longer").unwrap();
    assert_eq!(s.get(a, 10, b"k1").unwrap(), Some(b"longer".to_vec()));
    s.delete(a, 10, b"k1").unwrap();
    s.delete(a, 10, b"absent").unwrap();
    assert_eq!(s.get(a, 10, b"k1").unwrap(), None);
    assert_eq!(s.num_entries(), 2);
    s.append(a, 12, b"l", b"xy").unwrap();
    s.append(a, 12, b"l", b"z").unwrap();
    assert_eq!(s.get(a, 12, b"l").unwrap(), Some(b"xyz".to_vec()));
    s.put(a, 12, b"l", b"p").unwrap();
    s.append(a, 12, b"l", b"q").unwrap();
    assert_eq!(s.get(a, 12, b"l").unwrap(), Some(b"pq".to_vec()));
    assert!(s.approximate_size_bytes() > 0);
}

#[test]
fn key_group_outside_range_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, KeyGroupRange::new(10, 20));
    let a = s.register_table("a").unwrap();
    let e = s.put(a, 20, b"k", b"v").unwrap_err().to_string();
    assert!(e.contains("key group 20") && e.contains("[10, 20)"), "{e}");
    assert!(s.get(TableId(9), 10, b"k").is_err());
    assert!(s.snapshot_key_group(9).is_err());
    let e = RocksDbStateBackend::open(KeyGroupRange::all(70_000), &opts(&dir), "big")
        .unwrap_err()
        .to_string();
    assert!(e.contains("max parallelism"), "{e}");
}

#[test]
fn scan_by_key_group_and_prefix() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, KeyGroupRange::all(4));
    let t = s.register_table("t").unwrap();
    let u = s.register_table("u").unwrap();
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
    s.put(u, 1, b"ab", b"other table").unwrap();
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
        s.scan_prefix(t, 1, b"ab").unwrap(),
        vec![
            (b"ab".to_vec(), b"ab".to_vec()),
            (b"abc".to_vec(), b"abc".to_vec())
        ]
    );
    assert_eq!(keys(s.scan_prefix(t, 1, b"a").unwrap()).len(), 3);
    assert_eq!(
        keys(s.scan_prefix(t, 1, b"\xff").unwrap()),
        vec![b"\xff\xff".to_vec()]
    );
    assert_eq!(s.delete_prefix(t, 1, b"ab").unwrap(), 2);
    assert_eq!(s.scan_prefix(t, 1, b"").unwrap().len(), 3);
    assert_eq!(s.scan_prefix(t, 2, b"").unwrap().len(), 1);
    assert_eq!(
        s.scan_prefix(u, 1, b"").unwrap().len(),
        1,
        "other table kept"
    );
    // Enough keys for a range tombstone.
    for i in 0..50u8 {
        s.put(t, 3, &[b'p', i], b"v").unwrap();
    }
    assert_eq!(s.delete_prefix(t, 3, b"p").unwrap(), 50);
    assert!(s.scan_prefix(t, 3, b"").unwrap().is_empty());
    assert_eq!(s.num_entries(), 5);
}

#[test]
fn snapshot_restore_moves_a_key_group() {
    let dir = tempfile::tempdir().unwrap();
    let mut a = open(&dir, KeyGroupRange::all(8));
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
    let mut b = open(&dir, KeyGroupRange::for_subtask(8, 2, 0));
    b.register_table("other").unwrap();
    b.restore_key_group(3, snap.clone()).unwrap();
    assert_eq!(b.snapshot_key_group(3).unwrap(), snap);
    let tb = b.register_table("t").unwrap();
    assert_eq!(b.get(tb, 3, b"x").unwrap(), Some(b"1".to_vec()));
    assert!(b.restore_key_group(4, Vec::new()).is_err());
    b.restore_key_group(3, snap[..1].to_vec()).unwrap();
    assert_eq!(b.num_entries(), 1, "restoring replaces what was there");
    a.clear_key_group(3).unwrap();
    assert_eq!(a.num_entries(), 1);
}

#[test]
fn matches_the_memory_backend() {
    let dir = tempfile::tempdir().unwrap();
    for seed in 0..4 {
        let mut m = MemoryStateBackend::new(KeyGroupRange::all(8));
        let mut r = open(&dir, KeyGroupRange::all(8));
        fill(&mut [&mut m, &mut r], seed, 600, 8);
        assert_eq!(dump(&m), dump(&r), "seed {seed}");
        assert_eq!(m.num_entries(), r.num_entries());
    }
}

#[test]
fn drop_removes_the_instance_and_snapshots_are_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = open(&dir, KeyGroupRange::all(4));
    let path = s.path().to_path_buf();
    assert!(path.starts_with(dir.path()) && path.exists());
    let t = s.register_table("t").unwrap();
    s.put(t, 1, b"k", b"v").unwrap();
    let mut st = OperatorState::new();
    s.snapshot_into("backend", &mut st).unwrap();
    assert_eq!(st.files.len(), 1);
    assert_eq!(st.files[0].key_groups, KeyGroupRange::all(4));
    let has_sst = std::fs::read_dir(&st.files[0].dir)
        .unwrap()
        .any(|e| e.unwrap().path().extension().is_some_and(|x| x == "sst"));
    assert!(has_sst, "memtable flushed into an SST file");
    drop(s);
    assert!(!path.exists());
    assert!(
        st.files[0].dir.exists(),
        "the checkpoint outlives the instance"
    );
}

/// One operator state holding the snapshots of every backend, as a rescaled restore gets.
fn snapshot_all(backends: &mut [Box<dyn StateBackend>]) -> OperatorState {
    let mut st = OperatorState::new();
    for b in backends.iter_mut() {
        b.snapshot_into("backend", &mut st).unwrap();
    }
    st
}

fn make(kind: &StateBackendKind, range: KeyGroupRange) -> Box<dyn StateBackend> {
    crate::state::create_backend(kind, range, "t").unwrap()
}

#[test]
fn round_trips_and_rescales_between_backends() {
    let dir = tempfile::tempdir().unwrap();
    let rocks = StateBackendKind::RocksDb(opts(&dir));
    let memory = StateBackendKind::Memory;
    let max_p = 16;
    for (from, to) in [(&rocks, &rocks), (&rocks, &memory), (&memory, &rocks)] {
        // The uninterrupted content, in one memory backend.
        let mut whole = MemoryStateBackend::new(KeyGroupRange::all(max_p));
        let mut old: Vec<Box<dyn StateBackend>> = (0..2)
            .map(|s| make(from, KeyGroupRange::for_subtask(max_p, 2, s)))
            .collect();
        // Register tables in different orders so their ids differ between instances.
        old[1].register_table("c").unwrap();
        let mut rng = StdRng::seed_from_u64(7);
        for _ in 0..400 {
            let kg = rng.random_range(0..max_p);
            let table = ["a", "b", "c"][rng.random_range(0..3)];
            let key = format!("key{}", rng.random_range(0..50)).into_bytes();
            let value = rng.random::<u64>().to_le_bytes();
            let owner = &mut old[usize::from(KeyGroupRange::for_subtask(max_p, 2, 1).contains(kg))];
            let t = owner.register_table(table).unwrap();
            owner.put(t, kg, &key, &value).unwrap();
            let t = whole.register_table(table).unwrap();
            whole.put(t, kg, &key, &value).unwrap();
        }
        let st = snapshot_all(&mut old);
        drop(old);
        for p in [1, 2, 4] {
            let mut merged = BTreeMap::new();
            for s in 0..p {
                let mut b = make(to, KeyGroupRange::for_subtask(max_p, p, s));
                // A table registered before the restore keeps working.
                let pre = b.register_table("b").unwrap();
                b.restore_from("backend", &st).unwrap();
                assert_eq!(b.register_table("b").unwrap(), pre);
                merged.extend(dump(b.as_ref()));
                // Writes after the restore land with the right names.
                let t = b.register_table("a").unwrap();
                let kg = b.key_group_range().start;
                b.put(t, kg, b"new", b"1").unwrap();
                assert_eq!(b.get(t, kg, b"new").unwrap(), Some(b"1".to_vec()));
            }
            assert_eq!(
                merged,
                dump(&whole),
                "{from:?} -> {to:?} at parallelism {p}"
            );
        }
    }
}

#[test]
fn same_range_restore_adopts_the_files_and_can_repeat() {
    let dir = tempfile::tempdir().unwrap();
    let range = KeyGroupRange::all(8);
    let mut a = open(&dir, range);
    let mut m = MemoryStateBackend::new(range);
    fill(&mut [&mut a, &mut m], 3, 300, 8);
    let mut st = OperatorState::new();
    a.snapshot_into("backend", &mut st).unwrap();
    drop(a);
    for _ in 0..2 {
        let mut b = open(&dir, range);
        let fresh = b.path().to_path_buf();
        b.restore_from("backend", &st).unwrap();
        assert_ne!(
            b.path(),
            fresh,
            "adopted the checkpoint's files as a new instance"
        );
        assert!(!fresh.exists(), "the empty instance was removed");
        assert_eq!(dump(&b), dump(&m));
        assert_eq!(b.tables().len(), 3);
        // The restored instance is writable and independent of the checkpoint's files.
        let t = b.register_table("fresh").unwrap();
        b.put(t, 0, b"k", b"v").unwrap();
        b.clear_key_group(1).unwrap();
    }
    // Names registered first under other ids: copied entry by entry instead.
    let mut c = open(&dir, range);
    c.register_table("zzz").unwrap();
    let fresh = c.path().to_path_buf();
    c.restore_from("backend", &st).unwrap();
    assert_eq!(c.path(), fresh, "copied into the instance");
    assert_eq!(c.tables()[0].1, "zzz");
    assert_eq!(dump(&c), dump(&m));
    // Nothing under another name.
    let mut d = open(&dir, range);
    d.restore_from("other", &st).unwrap();
    assert_eq!(d.num_entries(), 0);
}
