//! A store of retained input batches, for window state that keeps rows rather than
//! accumulators (session aggregates, window process functions).
//!
//! Windows refer to rows by [`RowRef`] `(batch sequence number, row)`; a batch is kept as long
//! as some window refers to one of its rows (a reference count per batch), so a row that
//! belongs to several windows (hop, cumulate) or moves between sessions on a merge is stored
//! once and never copied until its window fires. Sequence numbers grow with arrival, so
//! sorting references restores arrival order. Firing gathers the referenced rows with one
//! arrow `interleave` per column.
//!
//! Cost: `O(1)` per stored batch and per released run of references; gathering is
//! `O(rows gathered + batches spanned)`. Memory: the retained batches (whole, even when only
//! some rows are still referenced) plus 16 bytes per reference.

use std::collections::VecDeque;

use arrow::array::{new_empty_array, Array, ArrayRef};
use arrow::compute::interleave;
use arrow::datatypes::SchemaRef;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use crate::error::{Error, Result};

/// A row of a retained batch: (batch sequence number, row index).
pub(crate) type RowRef = (u64, u32);

#[derive(Debug)]
struct Stored {
    batch: RecordBatch,
    refs: u64,
}

/// Retained batches with reference counts.
#[derive(Debug)]
pub(crate) struct RowStore {
    schema: SchemaRef,
    /// Sequence number of `slots[0]`.
    base: u64,
    /// `None` once released; released slots at the front are popped.
    slots: VecDeque<Option<Stored>>,
}

impl RowStore {
    /// An empty store of batches of `schema`.
    pub(crate) fn new(schema: SchemaRef) -> Self {
        RowStore {
            schema,
            base: 0,
            slots: VecDeque::new(),
        }
    }

    /// Number of batches held.
    #[cfg(test)]
    pub(crate) fn batches_held(&self) -> usize {
        self.slots.iter().filter(|s| s.is_some()).count()
    }

    /// Stores `batch` with no references yet; returns its sequence number. Call
    /// [`add_refs`](Self::add_refs) for the rows kept, then [`release`](Self::release) with 0
    /// drops it if none was.
    pub(crate) fn push(&mut self, batch: RecordBatch) -> u64 {
        let seq = self.base + self.slots.len() as u64;
        self.slots.push_back(Some(Stored { batch, refs: 0 }));
        seq
    }

    fn slot_mut(&mut self, seq: u64) -> Result<&mut Stored> {
        seq.checked_sub(self.base)
            .and_then(|i| self.slots.get_mut(i as usize))
            .and_then(|s| s.as_mut())
            .ok_or_else(|| Error::Internal(format!("window row store: batch {seq} is not held")))
    }

    /// `n` more references to rows of batch `seq`.
    pub(crate) fn add_refs(&mut self, seq: u64, n: u64) -> Result<()> {
        self.slot_mut(seq)?.refs += n;
        Ok(())
    }

    /// `n` fewer references to batch `seq`; the batch is dropped when none is left.
    pub(crate) fn release(&mut self, seq: u64, n: u64) -> Result<()> {
        let slot = self.slot_mut(seq)?;
        slot.refs = slot.refs.saturating_sub(n);
        if slot.refs == 0 {
            let i = (seq - self.base) as usize;
            self.slots[i] = None;
            while matches!(self.slots.front(), Some(None)) {
                self.slots.pop_front();
                self.base += 1;
            }
        }
        Ok(())
    }

    /// Releases every reference in `refs` (one call per run of equal batches).
    pub(crate) fn release_all(&mut self, refs: &[RowRef]) -> Result<()> {
        let mut i = 0;
        while i < refs.len() {
            let seq = refs[i].0;
            let run = refs[i..].iter().take_while(|r| r.0 == seq).count();
            self.release(seq, run as u64)?;
            i += run;
        }
        Ok(())
    }

    /// The referenced rows, in the order of `refs`, as one batch of the store's schema.
    ///
    /// # Errors
    /// A reference to a batch that is not held (a bug), or an arrow error.
    pub(crate) fn gather(&self, refs: &[RowRef]) -> Result<RecordBatch> {
        let Some(lo) = refs.iter().map(|r| r.0).min() else {
            return Ok(RecordBatch::new_empty(self.schema.clone()));
        };
        let hi = refs.iter().map(|r| r.0).max().unwrap_or(lo);
        let mut batches: Vec<Option<&RecordBatch>> = Vec::with_capacity((hi - lo + 1) as usize);
        for seq in lo..=hi {
            let slot = seq
                .checked_sub(self.base)
                .and_then(|i| self.slots.get(i as usize))
                .and_then(|s| s.as_ref())
                .map(|s| &s.batch);
            batches.push(slot);
        }
        let mut indices = Vec::with_capacity(refs.len());
        for &(seq, row) in refs {
            let i = (seq - lo) as usize;
            if batches[i].is_none() {
                return Err(Error::Internal(format!(
                    "window row store: batch {seq} is not held"
                )));
            }
            indices.push((i, row as usize));
        }
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(self.schema.fields().len());
        for (c, field) in self.schema.fields().iter().enumerate() {
            // Released batches in the span are never referenced: an empty stand-in keeps the
            // positions of the others.
            let empty = new_empty_array(field.data_type());
            let sources: Vec<&dyn Array> = batches
                .iter()
                .map(|b| b.map_or(empty.as_ref(), |b| b.column(c).as_ref()))
                .collect();
            columns.push(interleave(&sources, &indices)?);
        }
        // With no columns (a keyless COUNT(*)) the row count must be given.
        let options = RecordBatchOptions::new().with_row_count(Some(refs.len()));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }
}
