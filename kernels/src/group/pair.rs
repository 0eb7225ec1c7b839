//! The two-integer fast path of [`GroupIndexer`](super::GroupIndexer): keys of two
//! integer-like columns (e.g. `(group id, value)` pairs of a `COUNT(DISTINCT)`, or
//! `GROUP BY auction, bidder`) are held inline in the hash table as `(i64, i64)` plus a
//! two-bit null mask, so a lookup hashes and compares two words instead of encoding an
//! `arrow::row` row and comparing its bytes.
//!
//! Each column is first widened into a reused `Vec<i64>` (one typed pass per column), then
//! one untyped loop probes the table.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::datatypes::{ArrowPrimitiveType, DataType};
use hashbrown::hash_table::HashTable;
use hashbrown::DefaultHashBuilder;

use super::IntKey;
use crate::dispatch_types::with_int_type;

/// One table entry: the key inline, so probing never leaves the table.
#[derive(Debug, Clone, Copy)]
struct Entry {
    a: i64,
    b: i64,
    /// Bit 0: the first key is null; bit 1: the second is.
    nulls: u8,
    id: u32,
}

/// Two integer-like key columns, each widened to `i64`. The table's entries are the only
/// copy of the keys (ids are dense: group `i` is the `i`-th entry inserted).
#[derive(Debug, Default)]
pub(super) struct PairGroups {
    table: HashTable<Entry>,
    hasher: DefaultHashBuilder,
    /// Scratch: the widened columns of the batch.
    widened: [Vec<i64>; 2],
}

impl PairGroups {
    pub(super) fn num_groups(&self) -> usize {
        self.table.len()
    }

    pub(super) fn size_bytes(&self) -> usize {
        self.table.allocation_size() + self.widened.iter().map(|w| w.capacity() * 8).sum::<usize>()
    }

    pub(super) fn clear(&mut self) {
        self.table.clear();
    }

    /// Interns the rows of `keys` (two integer-like columns of equal length, as checked by
    /// the indexer), pushing one group id per row.
    pub(super) fn intern(&mut self, keys: &[ArrayRef], group_ids: &mut Vec<u32>) {
        let [wa, wb] = &mut self.widened;
        widen(&keys[0], wa);
        widen(&keys[1], wb);
        let (wa, wb) = (std::mem::take(wa), std::mem::take(wb));
        let na = keys[0].nulls().filter(|n| n.null_count() > 0);
        let nb = keys[1].nulls().filter(|n| n.null_count() > 0);
        if na.is_none() && nb.is_none() {
            // the common case, kept free of per-row null checks
            for (&a, &b) in wa.iter().zip(&wb) {
                group_ids.push(self.find_or_insert(a, b, 0));
            }
        } else {
            let is_null = |n: Option<&NullBuffer>, i: usize| n.is_some_and(|n| n.is_null(i));
            for (i, (&a, &b)) in wa.iter().zip(&wb).enumerate() {
                let mask = is_null(na, i) as u8 | (is_null(nb, i) as u8) << 1;
                let a = if mask & 1 != 0 { 0 } else { a };
                let b = if mask & 2 != 0 { 0 } else { b };
                group_ids.push(self.find_or_insert(a, b, mask));
            }
        }
        self.widened = [wa, wb];
    }

    #[inline]
    fn find_or_insert(&mut self, a: i64, b: i64, nulls: u8) -> u32 {
        let hash = self.hasher.hash_one((a, b, nulls));
        // Look up first and insert out of line: in steady state most rows hit.
        match self
            .table
            .find(hash, |e| e.a == a && e.b == b && e.nulls == nulls)
        {
            Some(e) => e.id,
            None => self.insert(a, b, nulls, hash),
        }
    }

    #[inline(never)]
    fn insert(&mut self, a: i64, b: i64, nulls: u8, hash: u64) -> u32 {
        // bounded by the u32::MAX check in intern_with_hashes
        let id = self.table.len() as u32;
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, Entry { a, b, nulls, id }, |e| {
                hasher.hash_one((e.a, e.b, e.nulls))
            });
        id
    }

    /// The distinct keys as two arrays of the given types, in group-id order.
    pub(super) fn emit(&self, types: &[DataType]) -> Vec<ArrayRef> {
        let mut keys = vec![(0i64, 0i64); self.table.len()];
        let mut masks = vec![0u8; self.table.len()];
        for e in self.table.iter() {
            keys[e.id as usize] = (e.a, e.b);
            masks[e.id as usize] = e.nulls;
        }
        (0..2)
            .map(|c| {
                let nulls = masks
                    .iter()
                    .any(|m| m & (1 << c) != 0)
                    .then(|| NullBuffer::from_iter(masks.iter().map(|m| m & (1 << c) == 0)));
                let values = keys.iter().map(|k| if c == 0 { k.0 } else { k.1 });
                with_int_type!(
                    &types[c],
                    T => typed::<T>(values, nulls, &types[c]),
                    else unreachable!("only integer-like types take this path")
                )
            })
            .collect()
    }
}

fn typed<T>(
    values: impl Iterator<Item = i64>,
    nulls: Option<NullBuffer>,
    data_type: &DataType,
) -> ArrayRef
where
    T: ArrowPrimitiveType,
    T::Native: IntKey,
{
    let values: ScalarBuffer<T::Native> = values.map(T::Native::from_key).collect();
    Arc::new(PrimitiveArray::<T>::new(values, nulls).with_data_type(data_type.clone()))
}

/// Writes the values of an integer-like column, widened to `i64`, into `out`.
fn widen(column: &ArrayRef, out: &mut Vec<i64>) {
    out.clear();
    with_int_type!(
        column.data_type(),
        T => out.extend(column.as_primitive::<T>().values().iter().map(|&v| v.to_key())),
        else unreachable!("checked by GroupIndexer::check_keys")
    )
}
