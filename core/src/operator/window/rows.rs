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
//!
//! Checkpoints: the operator gathers the referenced rows once ([`RowStore::snapshot_rows`]),
//! each with its identity `(origin subtask, sequence number, row)`, and writes them to a
//! keyed table. [`RowStore::restore_rows`] sorts restored rows by identity (arrival order
//! within an old subtask) and stores one batch per old batch that still had rows referenced,
//! so references keep their order and batches are released as before; callers then map
//! their saved identities to the new references with [`RestoredRows::find`].

use std::collections::VecDeque;
use std::ops::Range;
use std::sync::Arc;

use arrow::array::{new_empty_array, Array, ArrayRef, UInt32Array, UInt64Array};
use arrow::compute::interleave;
use arrow::datatypes::{SchemaRef, UInt32Type, UInt64Type};
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::snapshot::{bad_state, primitive, sorted_by};
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

    /// The identity columns and the rows of `refs` (sorted, distinct) for a checkpoint
    /// table: `origin: UInt32` (this subtask), `seq: UInt64`, `row: UInt32`, then the store's
    /// columns (named `c0`, `c1`, ...).
    ///
    /// # Errors
    /// As [`gather`](Self::gather).
    pub(crate) fn snapshot_rows(
        &self,
        refs: &[RowRef],
        origin: u32,
    ) -> Result<Vec<(String, ArrayRef)>> {
        let rows = self.gather(refs)?;
        let mut columns: Vec<(String, ArrayRef)> = vec![
            (
                "origin".into(),
                Arc::new(UInt32Array::from_value(origin, refs.len())),
            ),
            (
                "seq".into(),
                Arc::new(UInt64Array::from_iter_values(refs.iter().map(|r| r.0))),
            ),
            (
                "row".into(),
                Arc::new(UInt32Array::from_iter_values(refs.iter().map(|r| r.1))),
            ),
        ];
        for (i, c) in rows.columns().iter().enumerate() {
            columns.push((format!("c{i}"), c.clone()));
        }
        Ok(columns)
    }

    /// Stores the rows of a restored table written from [`snapshot_rows`](Self::snapshot_rows)
    /// columns (the identity at columns 0, 1, 2 and the store's columns from `data_from`),
    /// one batch per `(origin, seq)`, in identity order. The batches hold no references yet:
    /// add them with [`add_refs`](Self::add_refs), then call
    /// [`RestoredRows::release_unreferenced`].
    ///
    /// # Errors
    /// Columns of the wrong types ([`Error::Data`] naming `table`).
    pub(crate) fn restore_rows(
        &mut self,
        rows: &RecordBatch,
        data_from: usize,
        table: &str,
    ) -> Result<RestoredRows> {
        let sorted = sorted_by(rows, &[0, 1, 2])?;
        let origins = primitive::<UInt32Type>(&sorted, 0, table)?.values();
        let seqs = primitive::<UInt64Type>(&sorted, 1, table)?.values();
        let row_idx = primitive::<UInt32Type>(&sorted, 2, table)?.values();
        let width = self.schema.fields().len();
        if sorted.num_columns() != data_from + width {
            return Err(bad_state(
                table,
                format!(
                    "{} columns, expected {} identity and {width} row columns",
                    sorted.num_columns(),
                    data_from
                ),
            ));
        }
        let n = sorted.num_rows();
        let mut ids = Vec::with_capacity(n);
        let mut refs = Vec::with_capacity(n);
        let first_seq = self.base + self.slots.len() as u64;
        let mut i = 0;
        while i < n {
            let mut j = i + 1;
            while j < n && origins[j] == origins[i] && seqs[j] == seqs[i] {
                j += 1;
            }
            let part = sorted.slice(i, j - i);
            let options = RecordBatchOptions::new().with_row_count(Some(j - i));
            let batch = RecordBatch::try_new_with_options(
                self.schema.clone(),
                part.columns()[data_from..].to_vec(),
                &options,
            )
            .map_err(|e| bad_state(table, e.to_string()))?;
            let seq = self.push(batch);
            for k in i..j {
                ids.push((origins[k], seqs[k], row_idx[k]));
                refs.push((seq, (k - i) as u32));
            }
            i = j;
        }
        let pushed = first_seq..self.base + self.slots.len() as u64;
        Ok(RestoredRows {
            sorted,
            ids,
            refs,
            pushed,
        })
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

/// Rows restored into a [`RowStore`] by [`RowStore::restore_rows`].
#[derive(Debug)]
pub(crate) struct RestoredRows {
    /// The restored table sorted by identity: row `i` is stored at `refs[i]`.
    pub(crate) sorted: RecordBatch,
    /// `(origin, seq, row)` of each row of `sorted`, ascending.
    ids: Vec<(u32, u64, u32)>,
    /// Where each row of `sorted` is stored now.
    pub(crate) refs: Vec<RowRef>,
    /// The sequence numbers of the batches stored.
    pushed: Range<u64>,
}

impl RestoredRows {
    /// The position in [`sorted`](Self::sorted) of the row saved as `(origin, seq, row)`.
    pub(crate) fn find(&self, id: (u32, u64, u32)) -> Option<usize> {
        self.ids.binary_search(&id).ok()
    }

    /// Drops the restored batches no reference was added to.
    ///
    /// # Errors
    /// A batch already released (a bug).
    pub(crate) fn release_unreferenced(&self, store: &mut RowStore) -> Result<()> {
        for seq in self.pushed.clone() {
            store.release(seq, 0)?;
        }
        Ok(())
    }
}
