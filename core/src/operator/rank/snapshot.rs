//! Checkpoints of a [`Rank`]: the retained rows as one keyed table, and loading them back.

use std::collections::btree_map;
use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array, UInt64Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use super::exec::{offer, split_windows, window_ends};
use super::store::Partitions;
use super::{Rank, RankMode, Scopes, SEQ_COLUMN};
use crate::checkpoint::key_groups_of;
use crate::error::{Error, Result};

impl Rank {
    /// Load restored rows (input columns) with their arrival sequence numbers.
    pub(super) fn load(&mut self, data: RecordBatch, seqs: &UInt64Array) -> Result<()> {
        let n = data.num_rows();
        if n == 0 {
            return Ok(());
        }
        self.check_input(&data)?;
        let pcols = Self::columns(&data, &self.partition);
        let scols = self.sort_columns(&data);
        let (ranking, mode) = (self.ranking, self.mode);
        let mut ids = std::mem::take(&mut self.ids);
        let b = self.bound_mut()?;
        let keys = b.converter.convert_columns(&scols)?;
        let chunk = b.store.next_chunk()?;
        let seq_values = seqs.values();
        let seq = |row: usize| seq_values[row];
        let loc = |row: usize| (chunk, row as u32);
        let mut added = 0;
        match (&mut b.scopes, mode) {
            (Scopes::Updating(parts), _) => {
                parts.intern(&pcols, n, &mut ids)?;
                added += offer(ranking, parts, &ids, None, &keys, seq, loc, |_, _| {})?;
            }
            (Scopes::Window(scopes), RankMode::Window { window_end }) => {
                let (windows, _) = split_windows(window_ends(&data, window_end)?, |_| false);
                for (end, members) in &windows {
                    let parts = match scopes.entry(*end) {
                        btree_map::Entry::Occupied(e) => e.into_mut(),
                        btree_map::Entry::Vacant(e) => {
                            e.insert(Partitions::new(&b.partition_types)?)
                        }
                    };
                    let idx = UInt32Array::from(members.clone());
                    let pc = pcols
                        .iter()
                        .map(|c| Ok(take(c.as_ref(), &idx, None)?))
                        .collect::<Result<Vec<_>>>()?;
                    parts.intern(&pc, members.len(), &mut ids)?;
                    added += offer(
                        ranking,
                        parts,
                        &ids,
                        Some(members),
                        &keys,
                        seq,
                        loc,
                        |_, _| {},
                    )?;
                }
            }
            (Scopes::Window(_), RankMode::Updating) => {
                return Err(Error::Internal(
                    "rank: window state in updating mode".into(),
                ));
            }
        }
        b.store.live += added;
        b.store.push(data);
        let max_seq = seq_values.iter().copied().max().unwrap_or(0);
        self.next_seq = self.next_seq.max(max_seq.saturating_add(1));
        self.ids = ids;
        self.bound.as_mut().map_or(Ok(()), |b| b.maybe_compact())
    }

    /// Every retained row (input columns, then `__seq`) in scope order, with the key group
    /// of its partition.
    pub(super) fn retained(
        &mut self,
        max_parallelism: usize,
    ) -> Result<Option<(Vec<u32>, RecordBatch)>> {
        let Some(b) = self.bound.as_mut() else {
            return Ok(None);
        };
        let mut locs: Vec<(u32, u32)> = Vec::with_capacity(b.store.live);
        let mut seqs: Vec<u64> = Vec::with_capacity(b.store.live);
        b.scopes.for_each_entry(|e| {
            locs.push((e.chunk, e.row));
            seqs.push(e.seq);
        });
        if locs.is_empty() {
            return Ok(None);
        }
        let mut columns = b.store.gather(&b.input, &locs)?;
        let kgs = if self.partition.is_empty() {
            vec![0; locs.len()]
        } else {
            key_groups_of(
                &Self::columns_of(&columns, &self.partition),
                max_parallelism,
            )?
        };
        columns.push(Arc::new(UInt64Array::from(seqs)));
        let mut fields: Vec<Arc<Field>> = b.input.fields().iter().cloned().collect();
        fields.push(Arc::new(Field::new(SEQ_COLUMN, DataType::UInt64, false)));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        Ok(Some((kgs, batch)))
    }

    fn columns_of(columns: &[ArrayRef], idx: &[usize]) -> Vec<ArrayRef> {
        idx.iter().map(|&i| columns[i].clone()).collect()
    }
}
