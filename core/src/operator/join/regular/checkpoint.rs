//! Checkpoints of a [`RegularJoin`] (the layouts are described in `regular.rs`): the
//! retained batches of an inner join of insert-only inputs; those of an outer join plus
//! partner counts, pending rows and input schemas; and in changelog mode the live rows of
//! each side, with partner counts for a preserved side.

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch, UInt64Array};
use arrow::compute::{concat_batches, sort_to_indices, take_record_batch};
use arrow::datatypes::UInt64Type;

use super::store::DEAD;
use super::RegularJoin;
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::join::state::{
    check_outer_tables, check_tables, restored_rows, schema_from_ipc, schema_to_ipc, split_matches,
    with_column, MATCHES_COLUMN, PENDING_TABLES, SCHEMA_TABLES, SEQ_COLUMN, SIDE_TABLES,
};
use crate::operator::OpContext;

impl RegularJoin {
    /// [`Operator::snapshot`](crate::operator::Operator::snapshot) of an inner join of
    /// insert-only inputs.
    pub(super) fn snapshot_inner(&mut self, ctx: &OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let cache = &mut self.key_groups[side];
            for b in &self.batches[side][cache.len()..] {
                cache.push(self.inputs.key_groups(side, b, ctx.max_parallelism)?);
            }
            for (b, kg) in self.batches[side].iter().zip(cache.iter()) {
                state.push_keyed(*name, kg.clone(), b)?;
            }
        }
        Ok(state)
    }

    /// [`Operator::restore`](crate::operator::Operator::restore) of an inner join of
    /// insert-only inputs.
    pub(super) fn restore_inner(&mut self, state: OperatorState) -> Result<()> {
        check_tables(&state, "regular join")?;
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            for batch in restored_rows(&state, name)? {
                let (batch, _) = split_matches(batch, false, name)?;
                let p = self.inputs.prepare(side, batch, None)?;
                if p.batch.num_rows() > 0 {
                    self.keep(side, p, None)?;
                }
            }
        }
        Ok(())
    }

    /// [`Operator::snapshot`] of an outer join.
    pub(super) fn snapshot_outer(&mut self, ctx: &OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let cache = &mut self.key_groups[side];
            for b in &self.batches[side][cache.len()..] {
                cache.push(self.inputs.key_groups(side, b, ctx.max_parallelism)?);
            }
            let preserved = self.join_type.preserves(side);
            for (i, (b, kg)) in self.batches[side].iter().zip(cache.iter()).enumerate() {
                if preserved {
                    let counts = self.matches[side].get(i).ok_or_else(|| {
                        Error::Internal("regular join: a kept batch has no match counts".into())
                    })?;
                    let counts = Arc::new(UInt64Array::from(counts.clone()));
                    state.push_keyed(
                        *name,
                        kg.clone(),
                        &with_column(b, MATCHES_COLUMN, counts)?,
                    )?;
                } else {
                    state.push_keyed(*name, kg.clone(), b)?;
                }
            }
            let mut seq = 0u64;
            for b in &self.pending[side] {
                let kg = self.inputs.key_groups(side, b, ctx.max_parallelism)?;
                let n = b.num_rows() as u64;
                let seqs = Arc::new(UInt64Array::from_iter_values(seq..seq + n));
                state.push_keyed(PENDING_TABLES[side], kg, &with_column(b, SEQ_COLUMN, seqs)?)?;
                seq += n;
            }
            if let Some(schema) = self.bound(side) {
                state.push_bytes(SCHEMA_TABLES[side], &[schema_to_ipc(schema)?]);
            }
        }
        Ok(state)
    }

    /// [`Operator::restore`] of an outer join.
    pub(super) fn restore_outer(&mut self, state: OperatorState) -> Result<()> {
        check_outer_tables(&state)?;
        for (side, name) in SCHEMA_TABLES.iter().enumerate() {
            // After a rescale every old subtask's copy arrives: they are all the same.
            if let Some(bytes) = state.bytes(name).first() {
                if self.bound(side).is_none() {
                    let schema = schema_from_ipc(bytes)?;
                    self.inputs.bind(side, &RecordBatch::new_empty(schema))?;
                }
            }
        }
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let preserved = self.join_type.preserves(side);
            for batch in restored_rows(&state, name)? {
                let (data, counts) = split_matches(batch, preserved, name)?;
                let p = self.inputs.prepare(side, data, None)?;
                if counts
                    .as_ref()
                    .is_some_and(|c| c.len() != p.batch.num_rows())
                {
                    return Err(Error::Schema(format!(
                        "regular join: restore: state table '{name}' holds rows with null keys"
                    )));
                }
                if p.batch.num_rows() > 0 {
                    self.keep(side, p, counts)?;
                }
            }
            let pending = restored_rows(&state, PENDING_TABLES[side])?;
            if pending.is_empty() {
                continue;
            }
            if !preserved {
                return Err(Error::Schema(format!(
                    "regular join: restore: the checkpoint holds pending {name} rows, but this \
                     {:?} join does not preserve the {name} side",
                    self.join_type
                )));
            }
            let all = concat_batches(&pending[0].schema(), &pending)?;
            let n = all.num_columns();
            let schema = all.schema();
            let seq = schema
                .fields()
                .last()
                .filter(|f| f.name() == SEQ_COLUMN)
                .and_then(|_| all.column(n - 1).as_primitive_opt::<UInt64Type>())
                .ok_or_else(|| {
                    Error::Schema(format!(
                        "regular join: restore: state table '{}' does not end with \
                         {SEQ_COLUMN} (UInt64)",
                        PENDING_TABLES[side]
                    ))
                })?;
            let data = all.project(&(0..n - 1).collect::<Vec<_>>())?;
            let data = if seq.values().is_sorted() {
                data
            } else {
                take_record_batch(&data, &sort_to_indices(seq, None, None)?)?
            };
            self.pending[side].push(data);
        }
        Ok(())
    }

    /// [`Operator::snapshot`](crate::operator::Operator::snapshot) in changelog mode: the
    /// live rows of each side in arrival order, with `__matches` on a preserved side.
    pub(super) fn snapshot_changelog(&mut self, ctx: &OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let inputs = &self.inputs;
            let rows = self.changelog.stores[side]
                .live_rows(|b| inputs.key_groups(side, b, ctx.max_parallelism))?;
            let preserved = self.join_type.preserves(side);
            for (data, kg, counts) in rows {
                if preserved {
                    let counts = Arc::new(UInt64Array::from(counts));
                    state.push_keyed(*name, kg, &with_column(&data, MATCHES_COLUMN, counts)?)?;
                } else {
                    state.push_keyed(*name, kg, &data)?;
                }
            }
        }
        Ok(state)
    }

    /// [`Operator::restore`](crate::operator::Operator::restore) in changelog mode: keep
    /// the restored rows, each key's in stored order, and rebuild the indexes.
    pub(super) fn restore_changelog(&mut self, state: OperatorState) -> Result<()> {
        check_tables(&state, "regular join")?;
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let preserved = self.join_type.preserves(side);
            for batch in restored_rows(&state, name)? {
                let (data, counts) = split_matches(batch, preserved, name)?;
                let n = data.num_rows();
                let p = self.inputs.prepare(side, data, None)?;
                let counts = counts.unwrap_or_else(|| vec![0; n]);
                if p.batch.num_rows() != n || counts.contains(&DEAD) {
                    return Err(Error::Schema(format!(
                        "regular join: restore: state table '{name}' holds rows with null keys \
                         or impossible partner counts"
                    )));
                }
                if n > 0 {
                    self.keep_changelog(side, p, counts)?;
                }
            }
        }
        Ok(())
    }
}
