//! `DISTINCT` aggregates of a window (`COUNT(DISTINCT x)`, `SUM(DISTINCT x)`,
//! `AVG(DISTINCT x)`): the `(group, value)` pairs a window has seen, and the rows that bring
//! a new one.
//!
//! ```text
//!  group ids ─┐
//!  values ────┴─▶ GroupIndexer over (UInt32 group, value) ─▶ pair ids
//!                  pair id == next new id ─▶ first row of a new pair ─▶ filter mask
//!                                                                        │
//!  accumulator.update_batch(values, group ids, Some(mask)) ◀─────────────┘
//! ```
//!
//! The indexer numbers pairs in order of first appearance, so within a batch the first row
//! of each new pair is the one whose pair id equals the count of pairs so far: one pass, no
//! second lookup. Accumulators only ever see each group's distinct values, so their state
//! is the aggregate of those values and checkpoints as usual; the pairs themselves are
//! written as their own keyed table per distinct input (see `aggregate/snapshot.rs`).
//! Null values are interned like any other value; every accumulator skips them.
//! One window's memory: one entry per distinct (group, value) pair.

use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, UInt32Array};
use arrow::buffer::BooleanBuffer;
use arrow::datatypes::DataType;
use millstream_kernels::group::GroupIndexer;

use crate::error::Result;

/// The `(group, value)` pairs one distinct input of one window has seen.
pub(super) struct Seen {
    pairs: GroupIndexer,
    /// Scratch: pair id per row.
    ids: Vec<u32>,
}

impl Seen {
    /// An empty set for values of `value_type`.
    ///
    /// # Errors
    /// A value type the group indexer cannot hash.
    pub(super) fn new(value_type: &DataType) -> Result<Self> {
        Ok(Seen {
            pairs: GroupIndexer::new(&[DataType::UInt32, value_type.clone()])?,
            ids: Vec::new(),
        })
    }

    /// Adds the pairs `(groups[i], values[i])`; the mask is true on the first row of each
    /// pair not seen before.
    ///
    /// # Errors
    /// `values` of another type, or lengths that differ.
    pub(super) fn first_seen(
        &mut self,
        groups: &ArrayRef,
        values: &ArrayRef,
    ) -> Result<BooleanArray> {
        let mut next = self.pairs.num_groups() as u32;
        self.load(groups, values)?;
        let ids = &self.ids;
        let mask = BooleanBuffer::collect_bool(ids.len(), |i| {
            let new = ids[i] == next;
            next += u32::from(new);
            new
        });
        Ok(BooleanArray::new(mask, None))
    }

    /// Adds the pairs `(groups[i], values[i])` (`groups`: a `UInt32` column of group ids).
    ///
    /// # Errors
    /// As [`first_seen`](Self::first_seen).
    pub(super) fn load(&mut self, groups: &ArrayRef, values: &ArrayRef) -> Result<()> {
        self.pairs
            .intern(&[groups.clone(), values.clone()], &mut self.ids)?;
        Ok(())
    }

    /// Every pair: the group ids and the values, in order of first appearance.
    ///
    /// # Errors
    /// An arrow error building the columns.
    pub(super) fn pairs(&self) -> Result<(UInt32Array, ArrayRef)> {
        let mut keys = self.pairs.emit_keys()?.into_iter();
        let (Some(groups), Some(values)) = (keys.next(), keys.next()) else {
            return Err(crate::error::Error::Internal(
                "distinct pairs without their two columns".into(),
            ));
        };
        let groups = groups
            .as_any()
            .downcast_ref::<UInt32Array>()
            .cloned()
            .ok_or_else(|| {
                crate::error::Error::Internal("distinct pair groups not UInt32".into())
            })?;
        Ok((groups, values))
    }

    /// Number of distinct pairs.
    pub(super) fn len(&self) -> usize {
        self.pairs.num_groups()
    }

    /// Forgets every pair, keeping the allocations.
    pub(super) fn clear(&mut self) {
        self.pairs.clear();
    }
}

/// Which inputs of a window aggregation are aggregated `DISTINCT`, shared by the aggregates
/// over the same input column: `slots[s]` is the position (in the layout's used columns)
/// and type of distinct input `s`; `of_agg[a]` is aggregate `a`'s slot.
#[derive(Debug, Default)]
pub(super) struct DistinctInputs {
    pub(super) slots: Vec<(usize, DataType)>,
    pub(super) of_agg: Vec<Option<usize>>,
}

impl DistinctInputs {
    /// Registers aggregate input `pos` of `data_type`, aggregated distinct or not.
    pub(super) fn push(
        &mut self,
        distinct: bool,
        pos: Option<usize>,
        data_type: Option<&DataType>,
    ) {
        let slot = match (distinct, pos, data_type) {
            (true, Some(p), Some(t)) => Some(match self.slots.iter().position(|(q, _)| *q == p) {
                Some(s) => s,
                None => {
                    self.slots.push((p, t.clone()));
                    self.slots.len() - 1
                }
            }),
            _ => None,
        };
        self.of_agg.push(slot);
    }

    /// A fresh set per slot.
    ///
    /// # Errors
    /// A value type the group indexer cannot hash.
    pub(super) fn new_sets(&self) -> Result<Vec<Seen>> {
        self.slots.iter().map(|(_, t)| Seen::new(t)).collect()
    }

    /// The masks of one batch: per slot, the rows bringing a new `(group, value)` pair into
    /// `sets` (`cols`: the layout's used columns, `groups`: each row's group id). Empty,
    /// without allocating, when no input is distinct.
    ///
    /// # Errors
    /// As [`Seen::first_seen`].
    pub(super) fn masks(
        &self,
        sets: &mut [Seen],
        groups: &[u32],
        cols: &[ArrayRef],
    ) -> Result<Vec<BooleanArray>> {
        if self.slots.is_empty() {
            return Ok(Vec::new());
        }
        // One group id column per batch, shared by every distinct input.
        let groups: ArrayRef = Arc::new(UInt32Array::from(groups.to_vec()));
        self.slots
            .iter()
            .zip(sets.iter_mut())
            .map(|((pos, _), set)| set.first_seen(&groups, &cols[*pos]))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::{Int64Array, StringArray};

    fn ids(groups: &[u32]) -> ArrayRef {
        Arc::new(UInt32Array::from(groups.to_vec()))
    }

    #[test]
    fn first_rows_of_new_pairs_only() {
        let mut s = Seen::new(&DataType::Int64).unwrap();
        let v: ArrayRef = Arc::new(Int64Array::from(vec![
            Some(1),
            Some(1),
            Some(2),
            None,
            Some(1),
        ]));
        let m = s.first_seen(&ids(&[0, 0, 0, 0, 1]), &v).unwrap();
        assert_eq!(m, BooleanArray::from(vec![true, false, true, true, true]));
        // A later batch: (0, 1) and (1, 1) are old, (1, 2) new, twice in the batch.
        let v: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 2, 1]));
        let m = s.first_seen(&ids(&[0, 1, 1, 1]), &v).unwrap();
        assert_eq!(m, BooleanArray::from(vec![false, true, false, false]));
        assert_eq!(s.len(), 5);
        let (g, vals) = s.pairs().unwrap();
        let mut restored = Seen::new(&DataType::Int64).unwrap();
        restored.load(&(Arc::new(g) as ArrayRef), &vals).unwrap();
        let v: ArrayRef = Arc::new(Int64Array::from(vec![2, 3]));
        let m = restored.first_seen(&ids(&[1, 1]), &v).unwrap();
        assert_eq!(m, BooleanArray::from(vec![false, true]));
        s.clear();
        assert_eq!(s.len(), 0);
    }

    #[test]
    fn strings_and_booleans_are_values_too() {
        let mut s = Seen::new(&DataType::Utf8).unwrap();
        let v: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a"]));
        let m = s.first_seen(&ids(&[3, 3, 3]), &v).unwrap();
        assert_eq!(m, BooleanArray::from(vec![true, true, false]));
        let mut b = Seen::new(&DataType::Boolean).unwrap();
        let v: ArrayRef = Arc::new(BooleanArray::from(vec![true, false, true]));
        let m = b.first_seen(&ids(&[0, 0, 0]), &v).unwrap();
        assert_eq!(m, BooleanArray::from(vec![true, true, false]));
    }

    #[test]
    fn inputs_share_a_slot_per_column() {
        let mut d = DistinctInputs::default();
        d.push(true, Some(2), Some(&DataType::Int64));
        d.push(false, Some(2), Some(&DataType::Int64));
        d.push(true, Some(2), Some(&DataType::Int64));
        d.push(true, Some(3), Some(&DataType::Utf8));
        d.push(true, None, None);
        assert_eq!(d.of_agg, vec![Some(0), None, Some(0), Some(1), None]);
        assert_eq!(d.slots.len(), 2);
    }
}
