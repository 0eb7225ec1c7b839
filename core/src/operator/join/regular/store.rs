//! The rows one side of a [`RegularJoin`](super::RegularJoin) keeps in changelog mode: its
//! input batches (rows with a null key and retractions left out), with per row the number
//! of partners (Flink's `numOfAssociations`, kept for a preserved side) or [`DEAD`] once a
//! retraction removed it, and, for an updating side, the `arrow::row` encoding of every
//! whole row and its hash, which a retraction is compared with. A batch is freed once none
//! of its rows is live, and its id is given to a later batch (no row refers to it any
//! more), so the store's size follows the live rows, not the length of the stream.

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::row::{Row, Rows};

use crate::error::{Error, Result};
use crate::operator::join::Gather;

/// Partner count of a row that left the state.
pub(super) const DEAD: u64 = u64::MAX;

/// A kept row: (batch id in its side's store, row).
pub(super) type RowLoc = (u32, u32);

/// The whole-row encodings of a batch's rows, and their hashes.
pub(super) struct Whole {
    pub(super) rows: Rows,
    pub(super) hashes: Vec<u64>,
}

impl Whole {
    /// Whether row `r` is `row`, whose hash is `hash`.
    pub(super) fn is(&self, r: usize, hash: u64, row: Row<'_>) -> bool {
        self.hashes.get(r) == Some(&hash) && self.rows.row(r) == row
    }
}

/// Live rows of one kept batch as a checkpoint writes them: the rows, their key groups and
/// their partner counts.
pub(super) type LiveRows = (RecordBatch, Vec<u32>, Vec<u64>);

/// One kept batch.
struct Stored {
    data: RecordBatch,
    /// Partners per row ([`DEAD`] once removed).
    counts: Vec<u64>,
    live: usize,
    /// Of an updating side.
    whole: Option<Whole>,
    /// Key group per row, computed by the first snapshot that holds the batch.
    key_groups: Option<Vec<u32>>,
    /// Arrival order among the side's batches (ids are reused).
    seq: u64,
}

/// The kept batches of one side.
#[derive(Default)]
pub(super) struct Store {
    batches: Vec<Option<Stored>>,
    live: usize,
    /// Batches whose last live row died, freed by [`Store::sweep`].
    emptied: Vec<u32>,
    /// Ids of freed batches, for the next ones.
    free: Vec<u32>,
    /// The `seq` of the next batch.
    next_seq: u64,
}

impl Store {
    /// The id the next pushed batch gets.
    pub(super) fn next_id(&self) -> Result<u32> {
        if let Some(&id) = self.free.last() {
            return Ok(id);
        }
        // u32::MAX is the padding row's id in a `Gather`.
        u32::try_from(self.batches.len())
            .ok()
            .filter(|&id| id < u32::MAX)
            .ok_or_else(|| Error::Internal("regular join: too many kept batches".into()))
    }

    /// Keep `data` with the partner counts of its rows (some may be [`DEAD`] already).
    pub(super) fn push(
        &mut self,
        data: RecordBatch,
        counts: Vec<u64>,
        whole: Option<Whole>,
    ) -> Result<u32> {
        let id = self.next_id()?;
        let live = counts.iter().filter(|&&c| c != DEAD).count();
        self.live += live;
        if live == 0 {
            self.emptied.push(id);
        }
        let stored = Some(Stored {
            data,
            counts,
            live,
            whole,
            key_groups: None,
            seq: self.next_seq,
        });
        self.next_seq += 1;
        match self.batches.get_mut(id as usize) {
            Some(slot) => {
                self.free.pop();
                *slot = stored;
            }
            None => self.batches.push(stored),
        }
        Ok(id)
    }

    fn get(&self, b: u32) -> Option<&Stored> {
        self.batches.get(b as usize).and_then(Option::as_ref)
    }

    /// The columns of the batch `b` (for a [`Gather`]).
    pub(super) fn batch(&self, b: u32) -> Option<&RecordBatch> {
        self.get(b).map(|s| &s.data)
    }

    /// The columns of the rows at `locs`, in order.
    pub(super) fn gather(&self, locs: &[RowLoc]) -> Result<Vec<ArrayRef>> {
        let mut gather = Gather::new();
        for &(b, r) in locs {
            gather.push(b, r as usize, |b| self.batch(b))?;
        }
        gather.finish()
    }

    /// Rows in state.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// Whether the live row at `loc` is the whole row `row` (of hash `hash`).
    pub(super) fn is(&self, (b, r): RowLoc, hash: u64, row: Row<'_>) -> bool {
        self.get(b).is_some_and(|s| {
            s.counts.get(r as usize).is_some_and(|&c| c != DEAD)
                && s.whole
                    .as_ref()
                    .is_some_and(|w| w.is(r as usize, hash, row))
        })
    }

    /// The partner count of the row at `loc`.
    pub(super) fn count_mut(&mut self, (b, r): RowLoc) -> Result<&mut u64> {
        self.batches
            .get_mut(b as usize)
            .and_then(Option::as_mut)
            .and_then(|s| s.counts.get_mut(r as usize))
            .filter(|c| **c != DEAD)
            .ok_or_else(|| Error::Internal("regular join: a kept row is gone".into()))
    }

    /// The row at `loc` leaves the state.
    pub(super) fn kill(&mut self, (b, r): RowLoc) -> Result<()> {
        *self.count_mut((b, r))? = DEAD;
        self.live -= 1;
        if let Some(s) = self.batches.get_mut(b as usize).and_then(Option::as_mut) {
            s.live -= 1;
            if s.live == 0 {
                self.emptied.push(b);
            }
        }
        Ok(())
    }

    /// Free the batches without live rows.
    pub(super) fn sweep(&mut self) {
        for b in self.emptied.drain(..) {
            if let Some(slot) = self.batches.get_mut(b as usize) {
                if slot.take().is_some() {
                    self.free.push(b);
                }
            }
        }
    }

    /// Approximate heap bytes: batches, counts, encodings, cached key groups.
    pub(super) fn size_bytes(&self) -> usize {
        self.batches
            .iter()
            .flatten()
            .map(|s| {
                s.data.get_array_memory_size()
                    + s.counts.len() * size_of::<u64>()
                    + s.whole
                        .as_ref()
                        .map_or(0, |w| w.rows.size() + w.hashes.len() * size_of::<u64>())
                    + s.key_groups
                        .as_ref()
                        .map_or(0, |k| k.len() * size_of::<u32>())
            })
            .sum::<usize>()
            + self.batches.capacity() * size_of::<Option<Stored>>()
            + self.free.capacity() * size_of::<u32>()
    }

    /// Every batch's live rows, with their key groups (computed once per batch by
    /// `key_groups`) and partner counts, in arrival order (so each key's rows are in the
    /// order of its list).
    pub(super) fn live_rows(
        &mut self,
        mut key_groups: impl FnMut(&RecordBatch) -> Result<Vec<u32>>,
    ) -> Result<Vec<LiveRows>> {
        let mut batches: Vec<&mut Stored> = self
            .batches
            .iter_mut()
            .flatten()
            .filter(|s| s.live > 0)
            .collect();
        batches.sort_unstable_by_key(|s| s.seq);
        let mut out = Vec::with_capacity(batches.len());
        for s in batches {
            let kg = match &s.key_groups {
                Some(kg) => kg,
                None => s.key_groups.insert(key_groups(&s.data)?),
            };
            if s.live == s.counts.len() {
                out.push((s.data.clone(), kg.clone(), s.counts.clone()));
                continue;
            }
            let rows: Vec<u32> = (0..s.counts.len() as u32)
                .filter(|&r| s.counts[r as usize] != DEAD)
                .collect();
            let kg = rows.iter().map(|&r| kg[r as usize]).collect();
            let counts = rows.iter().map(|&r| s.counts[r as usize]).collect();
            let data = take_record_batch(&s.data, &UInt32Array::from(rows))?;
            out.push((data, kg, counts));
        }
        Ok(out)
    }
}
