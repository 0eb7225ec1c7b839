//! The retained rows of one side of a [`super::SemiAntiJoin`]: its input batches and the
//! match count of every row ([`DEAD`] once the row left the state). A batch is freed once
//! none of its rows is live.

use arrow::array::{ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;

use crate::error::{Error, Result};
use crate::operator::join::Gather;

/// Match count of a row that left the state.
pub(super) const DEAD: u64 = u64::MAX;

/// A stored row: (batch index in its side's store, row).
pub(super) type RowLoc = (u32, u32);

/// One retained batch and the match count of each of its rows ([`DEAD`] once gone).
pub(super) struct Stored {
    pub(super) data: RecordBatch,
    pub(super) counts: Vec<u64>,
    pub(super) live: usize,
}

/// The retained batches of one side.
#[derive(Default)]
pub(super) struct Store {
    pub(super) batches: Vec<Option<Stored>>,
    pub(super) live: usize,
    /// Batches whose last live row died, freed by [`Store::sweep`] once nothing gathers
    /// from them any more.
    pub(super) emptied: Vec<u32>,
}

impl Store {
    pub(super) fn next_id(&self) -> Result<u32> {
        u32::try_from(self.batches.len())
            .map_err(|_| Error::Internal("semi join: more than u32::MAX retained batches".into()))
    }

    pub(super) fn push(&mut self, data: RecordBatch, counts: Vec<u64>) -> Result<u32> {
        let id = self.next_id()?;
        let live = counts.iter().filter(|&&c| c != DEAD).count();
        self.live += live;
        self.batches.push(Some(Stored { data, counts, live }));
        if live == 0 {
            self.emptied.push(id);
        }
        Ok(id)
    }

    pub(super) fn get(&self, b: u32) -> Option<&Stored> {
        self.batches.get(b as usize).and_then(Option::as_ref)
    }

    /// The columns of the rows at `locs`, in order.
    pub(super) fn gather(&self, locs: impl IntoIterator<Item = RowLoc>) -> Result<Vec<ArrayRef>> {
        let mut gather = Gather::new();
        for (b, r) in locs {
            gather.push(b, r as usize, |b| self.get(b).map(|s| &s.data))?;
        }
        gather.finish()
    }

    /// Whether the row is still in the state.
    pub(super) fn is_live(&self, (b, r): RowLoc) -> bool {
        self.get(b)
            .and_then(|s| s.counts.get(r as usize))
            .is_some_and(|&c| c != DEAD)
    }

    pub(super) fn count_mut(&mut self, (b, r): RowLoc) -> Result<&mut u64> {
        self.batches
            .get_mut(b as usize)
            .and_then(Option::as_mut)
            .and_then(|s| s.counts.get_mut(r as usize))
            .ok_or_else(|| Error::Internal("semi join: a stored row is gone".into()))
    }

    /// The row leaves the state.
    pub(super) fn kill(&mut self, loc: RowLoc) -> Result<()> {
        let c = self.count_mut(loc)?;
        if *c == DEAD {
            return Ok(());
        }
        *c = DEAD;
        self.live -= 1;
        if let Some(s) = self
            .batches
            .get_mut(loc.0 as usize)
            .and_then(Option::as_mut)
        {
            s.live -= 1;
            if s.live == 0 {
                self.emptied.push(loc.0);
            }
        }
        Ok(())
    }

    pub(super) fn sweep(&mut self) {
        for b in self.emptied.drain(..) {
            if let Some(slot) = self.batches.get_mut(b as usize) {
                *slot = None;
            }
        }
    }

    /// Each stored batch's live rows and their counts.
    pub(super) fn live_batches(&self) -> Result<Vec<(RecordBatch, Vec<u64>)>> {
        let mut out = Vec::new();
        for s in self.batches.iter().flatten() {
            if s.live == 0 {
                continue;
            }
            let rows: Vec<u32> = (0..s.counts.len() as u32)
                .filter(|&r| s.counts[r as usize] != DEAD)
                .collect();
            let counts: Vec<u64> = s.counts.iter().copied().filter(|&c| c != DEAD).collect();
            let data = if rows.len() == s.counts.len() {
                s.data.clone()
            } else {
                take_record_batch(&s.data, &UInt32Array::from(rows))?
            };
            out.push((data, counts));
        }
        Ok(out)
    }
}
