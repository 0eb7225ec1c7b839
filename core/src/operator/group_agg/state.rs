//! Snapshot and restore of a [`GroupAggregate`](super::GroupAggregate)'s groups.
//!
//! Only live groups (row count > 0) are written; between batches they are exactly the
//! groups with an emitted row, so the row count doubles as that flag. Table `"groups"`:
//! the key columns, `$rows`, then every aggregate's state columns `a{i}_{j}`; table
//! `"values{i}"`: the key columns, `value` and `count` of aggregate `i`'s value counts
//! (retractable `MIN`/`MAX`, `DISTINCT`). Every row is filed under its key's key group
//! ([`key_groups_of`], as the hash exchange routes rows; a global aggregate under key
//! group 0), so a restore at any parallelism loads the rows of the key groups it owns.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;

use super::acc::ValueCounts;
use super::{Bound, Restored, GROUP_TABLE, VALUES_TABLE};
use crate::checkpoint::{key_groups_of, OperatorState};
use crate::error::{Error, Result};

impl Bound {
    /// Add the live groups to `state`: the group table, then the value-count tables.
    pub(super) fn snapshot_into(
        &self,
        state: &mut OperatorState,
        max_parallelism: usize,
    ) -> Result<()> {
        let live: Vec<u32> = (0..self.num_groups as u32)
            .filter(|&g| self.rows[g as usize] > 0)
            .collect();
        if live.is_empty() {
            return Ok(());
        }
        let all_keys = match &self.groups {
            Some(g) => g.emit_keys()?,
            None => Vec::new(),
        };
        // The key columns of `ids`, their fields, and their key groups.
        let keys_of = |ids: &[u32]| -> Result<(Vec<Field>, Vec<ArrayRef>, Vec<u32>)> {
            let idx = UInt32Array::from(ids.to_vec());
            let cols = all_keys
                .iter()
                .map(|k| take(k.as_ref(), &idx, None))
                .collect::<Result<Vec<_>, _>>()?;
            let fields = cols
                .iter()
                .zip(self.output.fields())
                .map(|(c, f)| Field::new(f.name(), c.data_type().clone(), true))
                .collect();
            let kgs = if cols.is_empty() {
                vec![0; ids.len()]
            } else {
                key_groups_of(&cols, max_parallelism)?
            };
            Ok((fields, cols, kgs))
        };
        let (mut fields, mut cols, kgs) = keys_of(&live)?;
        fields.push(Field::new("$rows", DataType::Int64, false));
        cols.push(Arc::new(Int64Array::from_iter_values(
            live.iter().map(|&g| self.rows[g as usize]),
        )));
        for (i, a) in self.accs.iter().enumerate() {
            for (j, c) in a.state(&live)?.into_iter().enumerate() {
                fields.push(Field::new(format!("a{i}_{j}"), c.data_type().clone(), true));
                cols.push(c);
            }
        }
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?;
        state.push_keyed(GROUP_TABLE, kgs, &batch)?;
        for (i, a) in self.accs.iter().enumerate() {
            let Some(vc) = a.value_counts()? else {
                continue;
            };
            if vc.groups.is_empty() {
                continue;
            }
            let (mut fields, mut cols, kgs) = keys_of(&vc.groups)?;
            fields.push(Field::new("value", vc.values.data_type().clone(), true));
            fields.push(Field::new("count", DataType::Int64, false));
            cols.push(vc.values);
            cols.push(Arc::new(Int64Array::from(vc.counts)));
            let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?;
            state.push_keyed(format!("{VALUES_TABLE}{i}"), kgs, &batch)?;
        }
        Ok(())
    }

    /// Load one restored table's rows.
    pub(super) fn load(&mut self, r: &Restored) -> Result<()> {
        let nk = self.key_types.len();
        let rows = &r.rows;
        let bad = |expected: usize| {
            Error::Internal(format!(
                "group aggregate: restored table '{}' has {} columns, expected {expected} (was the job changed?)",
                r.table,
                rows.num_columns()
            ))
        };
        let counts = |i: usize| -> Result<&Int64Array> {
            rows.column(i)
                .as_primitive_opt::<Int64Type>()
                .ok_or_else(|| bad(rows.num_columns()))
        };
        let mut ids = Vec::with_capacity(rows.num_rows());
        if r.table == GROUP_TABLE {
            let width = nk + 1 + self.accs.iter().map(|a| a.state_width()).sum::<usize>();
            if rows.num_columns() != width {
                return Err(bad(width));
            }
            self.intern(&rows.columns()[..nk], rows.num_rows(), &mut ids)?;
            for (&g, &c) in ids.iter().zip(counts(nk)?.values()) {
                self.rows[g as usize] = c;
            }
            let mut offset = nk + 1;
            for a in &mut self.accs {
                let w = a.state_width();
                a.load_state(&ids, &rows.columns()[offset..offset + w], self.num_groups)?;
                offset += w;
            }
            return Ok(());
        }
        let index = r
            .table
            .strip_prefix(VALUES_TABLE)
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|&i| i < self.accs.len())
            .ok_or_else(|| {
                Error::Internal(format!(
                    "group aggregate: unknown state table '{}' (was the job changed?)",
                    r.table
                ))
            })?;
        if rows.num_columns() != nk + 2 {
            return Err(bad(nk + 2));
        }
        self.intern(&rows.columns()[..nk], rows.num_rows(), &mut ids)?;
        let vc = ValueCounts {
            groups: ids,
            values: rows.column(nk).clone(),
            counts: counts(nk + 1)?.values().to_vec(),
        };
        let num_groups = self.num_groups;
        self.accs[index].load_value_counts(&vc, num_groups)
    }
}
