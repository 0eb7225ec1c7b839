//! Checkpoints of a [`Rank`]: the retained rows as one keyed table, and loading them back.

use std::collections::btree_map;
use std::sync::Arc;

use arrow::array::{ArrayRef, UInt32Array, UInt64Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use super::exec::{offer, split_windows, window_ends};
use super::store::Partitions;
use super::{Rank, RankMode, Scopes, ROWS_TABLE, SEQ_COLUMN};
use crate::checkpoint::{filter_key_groups, key_groups_of, OperatorState};
use crate::error::{Error, Result};
use crate::operator::OpContext;

/// The rows of [`ROWS_TABLE`] in the key groups this subtask owns: per stored batch, the
/// input columns and the arrival sequence numbers (the format of both rank operators).
///
/// # Errors
/// [`Error::Internal`] when the table does not have the key group, input columns and
/// `__seq` layout.
pub(super) fn restored_rows(
    state: &OperatorState,
    ctx: &OpContext,
) -> Result<Vec<(RecordBatch, UInt64Array)>> {
    let Some(table) = state.table(ROWS_TABLE) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for b in filter_key_groups(table, ctx.key_group_range())? {
        let n = b.num_columns();
        let schema = b.schema();
        if n < 2 || schema.field(n - 1).name() != SEQ_COLUMN {
            return Err(Error::Internal(format!(
                "rank: restored state has columns [{}], expected the key group, the input columns and '{SEQ_COLUMN}'",
                crate::batch::column_names(&schema)
            )));
        }
        let seqs = b
            .column(n - 1)
            .as_any()
            .downcast_ref::<UInt64Array>()
            .ok_or_else(|| Error::Internal(format!("rank: restored '{SEQ_COLUMN}' is not UInt64")))?
            .clone();
        out.push((b.project(&(1..n - 1).collect::<Vec<_>>())?, seqs));
    }
    Ok(out)
}

/// `(key group of each row, rows + __seq)` for retained rows `columns` (input columns) with
/// arrival sequences `seqs`, as [`ROWS_TABLE`] files them: by the key group of the
/// partition columns, everything under key group 0 without any.
///
/// # Errors
/// Hashing the partition columns, or building the batch.
pub(super) fn rows_table(
    input: &Schema,
    mut columns: Vec<ArrayRef>,
    seqs: Vec<u64>,
    partition: &[usize],
    max_parallelism: usize,
) -> Result<(Vec<u32>, RecordBatch)> {
    let kgs = if partition.is_empty() {
        vec![0; seqs.len()]
    } else {
        let pcols: Vec<ArrayRef> = partition.iter().map(|&i| columns[i].clone()).collect();
        key_groups_of(&pcols, max_parallelism)?
    };
    columns.push(Arc::new(UInt64Array::from(seqs)));
    let mut fields: Vec<Arc<Field>> = input.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(SEQ_COLUMN, DataType::UInt64, false)));
    let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
    Ok((kgs, batch))
}

impl Rank {
    /// Load restored rows (input columns) with their arrival sequence numbers.
    pub(super) fn load(&mut self, data: RecordBatch, seqs: &UInt64Array) -> Result<()> {
        let n = data.num_rows();
        if n == 0 {
            return Ok(());
        }
        self.check_input(&data)?;
        let pcols = super::columns(&data, &self.partition);
        let scols = super::sort_columns(&self.order, &data);
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
        let columns = b.store.gather(&b.input, &locs)?;
        rows_table(&b.input, columns, seqs, &self.partition, max_parallelism).map(Some)
    }
}
