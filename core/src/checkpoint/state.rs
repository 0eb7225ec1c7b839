//! What an operator hands to a checkpoint, and what it gets back on restore.
//!
//! Operator state is columnar: an operator snapshots itself as named Arrow tables
//! ([`StateTable`]). A **keyed** table's first column is [`KEY_GROUP_COLUMN`] (`UInt32`, the
//! key group of the row's key, computed with [`key_groups_of`] exactly as the hash exchange
//! routes rows), so the checkpoint writer can file its rows by key group and a restore at any
//! parallelism hands each subtask the rows of the key groups it owns. A **non-keyed** table
//! (operator state: a running maximum, a source position) is restored to the same subtask
//! when the parallelism is unchanged, and as the union of every old subtask's rows when it
//! changed ([`OperatorState::rescaled`] tells which).
//!
//! ```text
//!  snapshot (task thread, synchronous: cheap Arc clones or one copy of the accumulators)
//!     op.snapshot() ─▶ OperatorState { tables: [StateTable { name, keyed, batches }], files }
//!                          │ checkpoint writer (coordinator thread, asynchronous)
//!                          ▼
//!     split by key group ─▶ Arrow IPC ─▶ content-addressed files + manifest
//!  restore
//!     manifest ─▶ files of the key groups this subtask owns ─▶ op.restore(OperatorState)
//! ```
//!
//! State kept outside Arrow (a RocksDB instance) is handed over as a directory of files
//! ([`StateFiles`]) which the writer copies into the checkpoint, skipping files it already
//! holds (RocksDB's SST files are immutable, so this is incremental).

use std::path::PathBuf;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};
use crate::state::KeyGroupRange;

/// Name of the key group column that leads every keyed state table.
pub const KEY_GROUP_COLUMN: &str = "__kg";

/// One named table of operator state.
#[derive(Debug, Clone)]
pub struct StateTable {
    /// Table name, unique within the operator.
    pub name: String,
    /// Whether rows are filed by key group (first column [`KEY_GROUP_COLUMN`]).
    pub keyed: bool,
    /// The rows; every batch has the same schema.
    pub batches: Vec<RecordBatch>,
}

impl StateTable {
    /// Rows in all batches.
    pub fn num_rows(&self) -> usize {
        self.batches.iter().map(RecordBatch::num_rows).sum()
    }

    /// The batches without the leading key group column (for keyed tables), as stored by
    /// the operator before [`OperatorState::push_keyed`] added it.
    pub fn data_batches(&self) -> Result<Vec<RecordBatch>> {
        if !self.keyed {
            return Ok(self.batches.clone());
        }
        self.batches
            .iter()
            .map(|b| {
                let keep: Vec<usize> = (1..b.num_columns()).collect();
                Ok(b.project(&keep)?)
            })
            .collect()
    }

    /// The key group column of each batch of a keyed table.
    pub fn key_groups(&self) -> Result<Vec<&UInt32Array>> {
        self.batches
            .iter()
            .map(|b| key_group_column(b, &self.name))
            .collect()
    }
}

/// A directory of files that holds state kept outside Arrow (a RocksDB checkpoint).
#[derive(Debug, Clone)]
pub struct StateFiles {
    /// Name, unique within the operator.
    pub name: String,
    /// The key groups the files hold.
    pub key_groups: KeyGroupRange,
    /// A directory the writer may move files out of; it is removed after the write.
    pub dir: PathBuf,
}

/// Snapshot of one operator subtask, or the state handed to it on restore.
#[derive(Debug, Clone, Default)]
pub struct OperatorState {
    /// Columnar tables.
    pub tables: Vec<StateTable>,
    /// Directories of files. On restore, each entry's `dir` is a fresh private copy of the
    /// files of one old subtask whose key groups overlap this subtask's; several entries may
    /// share a name after a rescale.
    pub files: Vec<StateFiles>,
    /// On restore: the job's parallelism changed since the snapshot (non-keyed tables hold
    /// the union of every old subtask's rows). Always false in a snapshot.
    pub rescaled: bool,
}

impl OperatorState {
    /// An empty state (a stateless operator).
    pub fn new() -> Self {
        OperatorState::default()
    }

    /// Whether there is nothing in it.
    pub fn is_empty(&self) -> bool {
        self.tables.iter().all(|t| t.num_rows() == 0) && self.files.is_empty()
    }

    /// Add a keyed table: `batch` with the key group of each row (`key_groups.len() ==
    /// batch.num_rows()`) prepended as the [`KEY_GROUP_COLUMN`].
    ///
    /// # Errors
    /// The lengths differ.
    pub fn push_keyed(
        &mut self,
        name: impl Into<String>,
        key_groups: Vec<u32>,
        batch: &RecordBatch,
    ) -> Result<()> {
        let name = name.into();
        if key_groups.len() != batch.num_rows() {
            return Err(Error::Internal(format!(
                "state table '{name}': {} key groups for {} rows",
                key_groups.len(),
                batch.num_rows()
            )));
        }
        let mut fields = vec![Arc::new(Field::new(
            KEY_GROUP_COLUMN,
            DataType::UInt32,
            false,
        ))];
        fields.extend(batch.schema().fields().iter().cloned());
        let mut columns: Vec<ArrayRef> = vec![Arc::new(UInt32Array::from(key_groups))];
        columns.extend(batch.columns().iter().cloned());
        let b = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields)),
            columns,
            &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )?;
        self.push_table(name, true, b);
        Ok(())
    }

    /// Add a non-keyed (operator) table.
    pub fn push_operator(&mut self, name: impl Into<String>, batch: RecordBatch) {
        self.push_table(name.into(), false, batch);
    }

    /// Add a non-keyed table of opaque byte values (one `value: Binary` column, one row per
    /// value): small serialized state such as a source position or a running maximum.
    pub fn push_bytes(&mut self, name: impl Into<String>, values: &[Vec<u8>]) {
        let array = BinaryArray::from_iter_values(values.iter());
        let schema = Arc::new(Schema::new(vec![Field::new(
            "value",
            DataType::Binary,
            false,
        )]));
        // One column of the declared type: cannot fail.
        if let Ok(b) = RecordBatch::try_new(schema, vec![Arc::new(array)]) {
            self.push_operator(name, b);
        }
    }

    fn push_table(&mut self, name: String, keyed: bool, batch: RecordBatch) {
        match self.tables.iter_mut().find(|t| t.name == name) {
            Some(t) => t.batches.push(batch),
            None => self.tables.push(StateTable {
                name,
                keyed,
                batches: vec![batch],
            }),
        }
    }

    /// The table called `name`.
    pub fn table(&self, name: &str) -> Option<&StateTable> {
        self.tables.iter().find(|t| t.name == name)
    }

    /// The byte values of a table written with [`OperatorState::push_bytes`] (empty when
    /// there is no such table).
    pub fn bytes(&self, name: &str) -> Vec<Vec<u8>> {
        let mut out = Vec::new();
        if let Some(t) = self.table(name) {
            for b in &t.batches {
                if let Some(a) = b.column(0).as_any().downcast_ref::<BinaryArray>() {
                    out.extend(a.iter().flatten().map(<[u8]>::to_vec));
                }
            }
        }
        out
    }
}

/// The key group of every row of `columns` (the key columns), computed as the hash
/// exchange routes rows, so that restored state lands where its keys will arrive.
///
/// # Errors
/// A key column type that cannot be hashed.
pub fn key_groups_of(columns: &[ArrayRef], max_parallelism: usize) -> Result<Vec<u32>> {
    let mut hashes = Vec::new();
    millstream_kernels::hash::hash_columns(columns, &mut hashes)?;
    Ok(hashes
        .iter()
        .map(|&h| millstream_kernels::partition::key_group(h, max_parallelism) as u32)
        .collect())
}

/// Keep the rows of `table` whose key group is in `range` (a keyed table) as one batch per
/// input batch, dropping empty ones.
///
/// # Errors
/// The table has no key group column.
pub fn filter_key_groups(table: &StateTable, range: KeyGroupRange) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for (b, kg) in table.batches.iter().zip(table.key_groups()?) {
        let mask: arrow::array::BooleanArray = kg
            .values()
            .iter()
            .map(|&g| Some(range.contains(g as usize)))
            .collect();
        let f = arrow::compute::filter_record_batch(b, &mask)?;
        if f.num_rows() > 0 {
            out.push(f);
        }
    }
    Ok(out)
}

/// [`filter_key_groups`], with each kept batch split into its key groups and the rows
/// without the key group column: what a keyed operator's `restore` loads.
///
/// # Errors
/// The table has no key group column.
pub fn split_key_groups(
    table: &StateTable,
    range: KeyGroupRange,
) -> Result<Vec<(Vec<u32>, RecordBatch)>> {
    filter_key_groups(table, range)?
        .into_iter()
        .map(|b| {
            let key_groups = key_group_column(&b, &table.name)?.values().to_vec();
            let rows = b.project(&(1..b.num_columns()).collect::<Vec<_>>())?;
            Ok((key_groups, rows))
        })
        .collect()
}

/// The key group column (the first) of a batch of the keyed table `name`.
fn key_group_column<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a UInt32Array> {
    b.column(0)
        .as_any()
        .downcast_ref::<UInt32Array>()
        .ok_or_else(|| {
            Error::Internal(format!(
                "state table '{name}' has no {KEY_GROUP_COLUMN} column"
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::Int64Array;

    #[test]
    fn keyed_tables_carry_key_groups_and_filter_by_range() {
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6]));
        let kg = key_groups_of(std::slice::from_ref(&keys), 128).unwrap();
        let batch = RecordBatch::try_from_iter(vec![("k", keys)]).unwrap();
        let mut s = OperatorState::new();
        s.push_keyed("t", kg.clone(), &batch).unwrap();
        let t = s.table("t").unwrap();
        assert!(t.keyed);
        let lo = filter_key_groups(t, KeyGroupRange::new(0, 64)).unwrap();
        let hi = filter_key_groups(t, KeyGroupRange::new(64, 128)).unwrap();
        let n: usize = lo.iter().chain(&hi).map(RecordBatch::num_rows).sum();
        assert_eq!(n, 6);
        let expect_lo = kg.iter().filter(|&&g| g < 64).count();
        assert_eq!(
            lo.iter().map(RecordBatch::num_rows).sum::<usize>(),
            expect_lo
        );
        assert_eq!(t.data_batches().unwrap()[0].num_columns(), 1);
        let split = split_key_groups(t, KeyGroupRange::new(0, 64)).unwrap();
        assert_eq!(split.len(), lo.len());
        for ((kgs, rows), b) in split.iter().zip(&lo) {
            assert!(kgs.iter().all(|&g| g < 64));
            assert_eq!(kgs.len(), rows.num_rows());
            assert_eq!(rows.num_columns(), 1);
            assert_eq!(rows.column(0), b.column(1));
        }
    }

    #[test]
    fn byte_tables_round_trip() {
        let mut s = OperatorState::new();
        s.push_bytes("pos", &[vec![1, 2], vec![3]]);
        assert_eq!(s.bytes("pos"), vec![vec![1, 2], vec![3]]);
        assert!(s.bytes("missing").is_empty());
        assert!(!s.is_empty());
    }
}
