//! Every row of one partition of a [`RetractableRank`](super::RetractableRank), in rank
//! order, split where the top N ends.
//!
//! ```text
//!  top:   [Item{key, seq, row, hash}, ...]           the first N rows, rank order
//!  rest:  BTreeMap key ─▶ BTreeMap seq ─▶ (row, hash) the others, by key, then arrival
//!  index: whole-row hash ─▶ seqs of `rest` rows       finds the row a retraction names
//! ```
//!
//! Rows rank by their encoded sort key, then by arrival (`seq`), as in Flink's
//! `RetractableTopNFunction`, whose state is the same multiset (a sorted map of sort key →
//! count, and sort key → the list of rows in arrival order). The first N rows sit in a
//! short vector: "does this change touch the top N" is a binary search, and the changelog
//! reads the top N without walking the maps. The rest are kept because they come back
//! when rows ahead of them are retracted. Where Flink walks the list of rows with the
//! retracted row's sort key, which is long when many rows tie (every auction with one bid
//! has count 1), `index` finds the candidates by the hash of the whole row.
//!
//! Invariants: every `top` row ranks ahead of every `rest` row; `rest` holds rows only
//! when `top` is full; no inner map of `rest` is empty; `index` holds exactly the
//! `(hash, seq)` of the rows in `rest`.

use std::cmp::Ordering;
use std::collections::BTreeMap;

use hashbrown::HashTable;

/// One row of a partition.
#[derive(Debug, Clone)]
pub(super) struct Item {
    /// The ORDER BY columns, `arrow::row`-encoded (byte order = rank order).
    pub(super) key: Box<[u8]>,
    /// Arrival sequence: among equal keys the earlier row ranks first.
    pub(super) seq: u64,
    /// Every input column, `arrow::row`-encoded (equal bytes = equal rows).
    pub(super) row: Box<[u8]>,
    /// Hash of `row`.
    pub(super) hash: u64,
}

/// A row below the top N (its key and sequence are the map keys above it).
#[derive(Debug)]
struct Stored {
    row: Box<[u8]>,
    hash: u64,
}

/// The arrival sequences of the `rest` rows whose whole rows have one hash, ascending.
/// Usually one; equal rows share a hash.
#[derive(Debug)]
enum Seqs {
    One(u64),
    Many(Vec<u64>),
}

impl Seqs {
    fn as_slice(&self) -> &[u64] {
        match self {
            Seqs::One(s) => std::slice::from_ref(s),
            Seqs::Many(v) => v,
        }
    }

    fn add(&mut self, seq: u64) {
        let mut all = self.as_slice().to_vec();
        let at = all.partition_point(|&s| s < seq);
        all.insert(at, seq);
        *self = Seqs::Many(all);
    }

    /// Remove `seq`; returns whether none is left.
    fn remove(&mut self, seq: u64) -> bool {
        match self {
            Seqs::One(s) => *s == seq,
            Seqs::Many(v) => {
                v.retain(|&s| s != seq);
                match v.as_slice() {
                    [] => true,
                    [one] => {
                        *self = Seqs::One(*one);
                        false
                    }
                    _ => false,
                }
            }
        }
    }
}

/// Every row of one partition in rank order (see the [module docs](self)).
#[derive(Debug, Default)]
pub(super) struct RankedRows {
    /// The first `limit` rows, in rank order.
    pub(super) top: Vec<Item>,
    /// The other rows: sort key → arrival sequence → row.
    rest: BTreeMap<Box<[u8]>, BTreeMap<u64, Stored>>,
    /// Rows in `rest`.
    rest_len: usize,
    /// Whole-row hash → sequences of the `rest` rows with that hash.
    index: HashTable<(u64, Seqs)>,
}

/// Whether a row with `(key, seq)` ranks ahead of one with `(k2, s2)`.
#[inline]
fn ahead(key: &[u8], seq: u64, k2: &[u8], s2: u64) -> bool {
    match key.cmp(k2) {
        Ordering::Less => true,
        Ordering::Greater => false,
        Ordering::Equal => seq < s2,
    }
}

impl RankedRows {
    /// Number of rows.
    pub(super) fn len(&self) -> usize {
        self.top.len() + self.rest_len
    }

    /// Add a row. `touch` sees the top list just before it changes (not at all when the
    /// row ranks below the top `limit`).
    pub(super) fn insert(&mut self, limit: usize, item: Item, touch: impl FnOnce(&[Item])) {
        let pos = self
            .top
            .partition_point(|e| ahead(&e.key, e.seq, &item.key, item.seq));
        if pos >= limit {
            self.store(item);
            return;
        }
        touch(&self.top);
        self.top.insert(pos, item);
        if self.top.len() > limit {
            if let Some(last) = self.top.pop() {
                self.store(last);
            }
        }
    }

    /// Remove the first row (in rank order) with sort key `key` whose columns equal `row`
    /// (of hash `hash`), as Flink retracts one copy of an equal row. `touch` sees the top
    /// list just before it changes. Returns whether such a row was found.
    pub(super) fn retract(
        &mut self,
        key: &[u8],
        row: &[u8],
        hash: u64,
        touch: impl FnOnce(&[Item]),
    ) -> bool {
        let from = self.top.partition_point(|e| e.key.as_ref() < key);
        let hit = self.top[from..]
            .iter()
            .take_while(|e| e.key.as_ref() == key)
            .position(|e| e.hash == hash && e.row.as_ref() == row);
        if let Some(i) = hit {
            touch(&self.top);
            self.top.remove(from + i);
            self.promote();
            return true;
        }
        let Some(queue) = self.rest.get_mut(key) else {
            return false;
        };
        // Equal rows have equal keys; among them the earliest ranks first.
        let Some(seq) = self
            .index
            .find(hash, |(h, _)| *h == hash)
            .and_then(|(_, seqs)| {
                seqs.as_slice().iter().copied().find(|s| {
                    queue
                        .get(s)
                        .is_some_and(|stored| stored.row.as_ref() == row)
                })
            })
        else {
            return false;
        };
        queue.remove(&seq);
        if queue.is_empty() {
            self.rest.remove(key);
        }
        self.unindex(hash, seq);
        self.rest_len -= 1;
        true
    }

    /// Put a row below the top list.
    fn store(&mut self, item: Item) {
        match self
            .index
            .entry(item.hash, |(h, _)| *h == item.hash, |(h, _)| *h)
        {
            hashbrown::hash_table::Entry::Occupied(mut e) => e.get_mut().1.add(item.seq),
            hashbrown::hash_table::Entry::Vacant(e) => {
                e.insert((item.hash, Seqs::One(item.seq)));
            }
        }
        let stored = Stored {
            row: item.row,
            hash: item.hash,
        };
        self.rest
            .entry(item.key)
            .or_default()
            .insert(item.seq, stored);
        self.rest_len += 1;
    }

    /// Drop `seq` from the index entry of `hash`.
    fn unindex(&mut self, hash: u64, seq: u64) {
        if let Ok(mut e) = self.index.find_entry(hash, |(h, _)| *h == hash) {
            if e.get_mut().1.remove(seq) {
                e.remove();
            }
        }
    }

    /// Move the best row of `rest` to the end of `top` (after a row left `top`).
    fn promote(&mut self) {
        let Some(mut first) = self.rest.first_entry() else {
            return;
        };
        let Some((seq, stored)) = first.get_mut().pop_first() else {
            return;
        };
        let key = if first.get().is_empty() {
            first.remove_entry().0
        } else {
            first.key().clone()
        };
        self.unindex(stored.hash, seq);
        self.rest_len -= 1;
        self.top.push(Item {
            key,
            seq,
            row: stored.row,
            hash: stored.hash,
        });
    }

    /// Every row in rank order: `(seq, row bytes)`.
    pub(super) fn iter(&self) -> impl Iterator<Item = (u64, &[u8])> + '_ {
        self.top.iter().map(|e| (e.seq, e.row.as_ref())).chain(
            self.rest
                .values()
                .flatten()
                .map(|(seq, stored)| (*seq, stored.row.as_ref())),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row of sort key `key`; its bytes are `[key, v]`, hashed to `key` so that rows of
    /// one key collide in the index.
    fn item(key: u8, seq: u64, v: u8) -> Item {
        Item {
            key: Box::new([key]),
            seq,
            row: Box::new([key, v]),
            hash: u64::from(key),
        }
    }

    fn retract(r: &mut RankedRows, key: u8, v: u8, touch: impl FnOnce(&[Item])) -> bool {
        r.retract(&[key], &[key, v], u64::from(key), touch)
    }

    fn rows(r: &RankedRows) -> Vec<(u64, Vec<u8>)> {
        r.iter().map(|(s, b)| (s, b.to_vec())).collect()
    }

    /// The index holds exactly the rows of `rest`.
    fn check_index(r: &RankedRows) {
        let mut indexed: Vec<u64> = r
            .index
            .iter()
            .flat_map(|(_, s)| s.as_slice().to_vec())
            .collect();
        indexed.sort_unstable();
        let mut stored: Vec<u64> = r.rest.values().flat_map(|q| q.keys().copied()).collect();
        stored.sort_unstable();
        assert_eq!(indexed, stored);
        assert_eq!(stored.len(), r.rest_len);
    }

    #[test]
    fn keeps_every_row_in_rank_order_and_refills_the_top() {
        let mut r = RankedRows::default();
        let mut touched = 0;
        for (seq, (k, v)) in [(5, 0), (3, 0), (5, 1), (1, 0), (3, 0), (9, 0)]
            .into_iter()
            .enumerate()
        {
            r.insert(2, item(k, seq as u64, v), |_| touched += 1);
            check_index(&r);
        }
        // (1,s3) (3,s1) | (3,s4) (5,s0) (5,s2) (9,s5)
        let order: Vec<u64> = r.iter().map(|(s, _)| s).collect();
        assert_eq!(order, [3, 1, 4, 0, 2, 5]);
        assert_eq!(r.top.len(), 2);
        assert_eq!(r.len(), 6);
        // Rows 0, 1, 3 entered the top; the rest went below it.
        assert_eq!(touched, 3);
        // Retract an equal copy of key 3: the first one (in the top) goes, s4 moves up.
        let mut saw = Vec::new();
        assert!(retract(&mut r, 3, 0, |top| saw =
            top.iter().map(|e| e.seq).collect()));
        assert_eq!(saw, [3, 1]);
        assert_eq!(r.top.iter().map(|e| e.seq).collect::<Vec<_>>(), [3, 4]);
        check_index(&r);
        // A row below the top leaves without touching it; absent rows are not found,
        // whether their key or only their hash is there.
        assert!(retract(&mut r, 5, 1, |_| panic!("the top did not change")));
        assert!(!retract(&mut r, 5, 7, |_| panic!("absent")));
        assert!(!retract(&mut r, 4, 0, |_| panic!("absent")));
        check_index(&r);
        assert_eq!(
            rows(&r),
            [
                (3, vec![1, 0]),
                (4, vec![3, 0]),
                (0, vec![5, 0]),
                (5, vec![9, 0])
            ]
        );
        for (k, v) in [(1, 0), (3, 0), (5, 0), (9, 0)] {
            assert!(retract(&mut r, k, v, |_| {}));
            check_index(&r);
        }
        assert_eq!(r.len(), 0);
        assert!(r.rest.is_empty() && r.index.is_empty());
    }

    #[test]
    fn equal_rows_below_the_top_leave_first_come_first() {
        let mut r = RankedRows::default();
        for seq in 0..6 {
            // Keys 2, 2, 2, ... below a top of one row of key 1.
            let (k, v) = if seq == 0 {
                (1, 0)
            } else {
                (2, (seq % 2) as u8)
            };
            r.insert(1, item(k, seq, v), |_| {});
        }
        // Rows of key 2: s1 v1, s2 v0, s3 v1, s4 v0, s5 v1.
        assert!(retract(&mut r, 2, 1, |_| {}));
        assert!(retract(&mut r, 2, 0, |_| {}));
        check_index(&r);
        let order: Vec<u64> = r.iter().map(|(s, _)| s).collect();
        assert_eq!(order, [0, 3, 4, 5]);
    }

    #[test]
    fn restored_rows_may_arrive_out_of_sequence() {
        let mut r = RankedRows::default();
        for seq in [7, 2, 9, 4] {
            r.insert(1, item(1, seq, seq as u8), |_| {});
        }
        let order: Vec<u64> = r.iter().map(|(s, _)| s).collect();
        assert_eq!(order, [2, 4, 7, 9]);
        check_index(&r);
    }
}
