//! Checkpoints of a [`SemiAntiJoin`]: the keyed tables `left` (live left rows plus their
//! match counts, `__matches`), and `right` (live right rows, with a residual predicate) or
//! `right_counts` (key columns plus `__count`, without one), each row filed under the key
//! group of its join key (all in group 0 without keys: one subtask).

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatch, UInt64Array};
use arrow::datatypes::{DataType, Field, Schema, UInt64Type};

use super::{Entry, SemiAntiJoin};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::join::state::{restored_rows, with_column, MATCHES_COLUMN, SIDE_TABLES};

/// Keyed state table of the right side's row counts per key (no residual predicate).
const RIGHT_COUNTS: &str = "right_counts";
/// Trailing column of [`RIGHT_COUNTS`].
const COUNT_COLUMN: &str = "__count";

impl SemiAntiJoin {
    /// The key group of every row of `data` (an input's data columns).
    pub(super) fn key_groups(
        &self,
        side: usize,
        data: &RecordBatch,
        max_parallelism: usize,
    ) -> Result<Vec<u32>> {
        let Some(b) = &self.sides[side] else {
            return Err(Error::Internal(
                "semi join: rows kept for an unseen input".into(),
            ));
        };
        if b.key_idx.is_empty() {
            return Ok(vec![0; data.num_rows()]);
        }
        let keys: Vec<ArrayRef> = b.key_idx.iter().map(|&i| data.column(i).clone()).collect();
        crate::checkpoint::key_groups_of(&keys, max_parallelism)
    }

    /// The [`RIGHT_COUNTS`] table's rows: key columns and counts of keys with right rows.
    pub(super) fn right_counts_batch(
        &self,
        max_parallelism: usize,
    ) -> Result<Option<(Vec<u32>, RecordBatch)>> {
        let (mut keys, mut counts): (Vec<&[u8]>, Vec<u64>) = (Vec::new(), Vec::new());
        for (k, e) in self.index.iter() {
            if e.right_count > 0 {
                keys.push(k);
                counts.push(e.right_count);
            }
        }
        if counts.is_empty() {
            return Ok(None);
        }
        let mut fields = Vec::new();
        let mut columns: Vec<ArrayRef> = Vec::new();
        let kg = match &self.converter {
            Some((types, conv)) => {
                let parser = conv.parser();
                columns = conv.convert_rows(keys.iter().map(|k| parser.parse(k)))?;
                for (name, t) in self.keys[1].iter().zip(types) {
                    fields.push(Field::new(name, t.clone(), true));
                }
                crate::checkpoint::key_groups_of(&columns, max_parallelism)?
            }
            None => vec![0; counts.len()],
        };
        fields.push(Field::new(COUNT_COLUMN, DataType::UInt64, false));
        columns.push(Arc::new(UInt64Array::from(counts)));
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)?;
        Ok(Some((kg, batch)))
    }

    /// The keyed tables `left` (with `__matches`) and `right` or `right_counts`.
    pub(super) fn snapshot_state(&mut self, max_parallelism: usize) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            for (data, counts) in self.stores[side].live_batches()? {
                let kg = self.key_groups(side, &data, max_parallelism)?;
                let rows = if side == 0 {
                    with_column(&data, MATCHES_COLUMN, Arc::new(UInt64Array::from(counts)))?
                } else {
                    data
                };
                state.push_keyed(*name, kg, &rows)?;
            }
        }
        if self.residual.is_none() {
            if let Some((kg, batch)) = self.right_counts_batch(max_parallelism)? {
                state.push_keyed(RIGHT_COUNTS, kg, &batch)?;
            }
        }
        Ok(state)
    }

    /// Load the tables of [`SemiAntiJoin::snapshot_state`] (of the key groups this subtask
    /// owns): re-encode the keys and rebuild the index, each key's rows in stored order.
    pub(super) fn restore_state(&mut self, state: OperatorState) -> Result<()> {
        if !state.files.is_empty() {
            return Err(Error::Schema(
                "semi join: restore: the checkpoint holds state files; a semi join keeps none"
                    .into(),
            ));
        }
        let right_table = if self.residual.is_some() {
            SIDE_TABLES[1]
        } else {
            RIGHT_COUNTS
        };
        for t in &state.tables {
            if t.num_rows() == 0 {
                continue;
            }
            if t.name != SIDE_TABLES[0] && t.name != right_table {
                return Err(Error::Schema(format!(
                    "semi join: restore: unknown state table '{}' (expected {}, {right_table})",
                    t.name, SIDE_TABLES[0]
                )));
            }
            if !t.keyed {
                return Err(Error::Schema(format!(
                    "semi join: restore: state table '{}' is not keyed",
                    t.name
                )));
            }
        }
        // Without a residual predicate the right side is counts only.
        let sides = if self.residual.is_some() { 2 } else { 1 };
        for (side, &name) in SIDE_TABLES.iter().enumerate().take(sides) {
            for batch in restored_rows(&state, name)? {
                let (data, counts) = if side == 0 {
                    split_trailing(batch, MATCHES_COLUMN, name)?
                } else {
                    let n = batch.num_rows();
                    (batch, vec![0; n])
                };
                if self.sides[side].is_none() {
                    self.bind(side, data.schema())?;
                }
                let p = self.encode(side, data, None)?;
                let id = self.stores[side].next_id()?;
                for i in 0..p.data.num_rows() {
                    if !p.is_valid(i) {
                        return Err(Error::Schema(format!(
                            "semi join: restore: state table '{name}' holds a row with a null key"
                        )));
                    }
                    self.track(side, &p, i, (id, i as u32));
                }
                self.stores[side].push(p.data, counts)?;
            }
        }
        if self.residual.is_none() {
            for batch in restored_rows(&state, RIGHT_COUNTS)? {
                let (keys, counts) = split_trailing(batch, COUNT_COLUMN, RIGHT_COUNTS)?;
                let cols = keys.columns().to_vec();
                self.ensure_converter(cols.iter().map(|c| c.data_type().clone()).collect(), 1)?;
                let (rows, hashes) = self.encode_keys(&cols, counts.len())?;
                for (i, &c) in counts.iter().enumerate() {
                    let key = rows.as_ref().map_or(&[][..], |r| r.row(i).data());
                    self.index
                        .get_or_insert_with(hashes[i], key, Entry::default)
                        .right_count += c;
                }
            }
        }
        Ok(())
    }
}

/// A restored batch split into its data columns and its trailing `UInt64` column `name`.
fn split_trailing(batch: RecordBatch, name: &str, table: &str) -> Result<(RecordBatch, Vec<u64>)> {
    let n = batch.num_columns();
    let schema = batch.schema();
    let values = schema
        .fields()
        .last()
        .filter(|f| f.name() == name)
        .and_then(|_| batch.column(n - 1).as_primitive_opt::<UInt64Type>())
        .ok_or_else(|| {
            Error::Schema(format!(
                "semi join: restore: state table '{table}' does not end with {name} (UInt64)"
            ))
        })?
        .values()
        .to_vec();
    Ok((batch.project(&(0..n - 1).collect::<Vec<_>>())?, values))
}
