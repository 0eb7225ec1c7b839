//! The default checkpoint form of a [`StateBackend`]: one keyed Arrow table of its entries.

use std::sync::Arc;

use arrow::array::{Array, BinaryArray, BinaryBuilder, StringArray, StringBuilder};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;

use super::{StateBackend, StateEntry};
use crate::checkpoint::{filter_key_groups, OperatorState};
use crate::error::{Error, Result};

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("table", DataType::Utf8, false),
        Field::new("key", DataType::Binary, false),
        Field::new("value", DataType::Binary, false),
    ]))
}

/// Write every entry of `backend` as rows of keyed table `name`.
pub(super) fn entries_to_table<B: StateBackend + ?Sized>(
    backend: &B,
    name: &str,
    state: &mut OperatorState,
) -> Result<()> {
    let mut kgs = Vec::new();
    let mut tables = StringBuilder::new();
    let mut keys = BinaryBuilder::new();
    let mut values = BinaryBuilder::new();
    for kg in backend.key_group_range().iter() {
        for e in backend.snapshot_key_group(kg)? {
            kgs.push(kg as u32);
            tables.append_value(&e.table);
            keys.append_value(&e.key);
            values.append_value(&e.value);
        }
    }
    let batch = RecordBatch::try_new(
        schema(),
        vec![
            Arc::new(tables.finish()),
            Arc::new(keys.finish()),
            Arc::new(values.finish()),
        ],
    )?;
    state.push_keyed(name, kgs, &batch)
}

/// The default [`StateBackend::restore_from`]: the columnar table `name`, then any RocksDB
/// checkpoint files under `name`, entry by entry.
pub(super) fn restore_default<B: StateBackend + ?Sized>(
    backend: &mut B,
    name: &str,
    state: &OperatorState,
) -> Result<()> {
    table_to_entries(backend, name, state)?;
    for files in state.files.iter().filter(|f| f.name == name) {
        #[cfg(feature = "rocksdb")]
        super::rocksdb::restore_files(backend, files)?;
        #[cfg(not(feature = "rocksdb"))]
        return Err(Error::Unsupported(format!(
            "state '{name}' was checkpointed as RocksDB files ({}), but millstream-core was built without the 'rocksdb' feature",
            files.dir.display()
        )));
    }
    Ok(())
}

/// Load the rows of keyed table `name` that fall in the backend's key groups.
pub(super) fn table_to_entries<B: StateBackend + ?Sized>(
    backend: &mut B,
    name: &str,
    state: &OperatorState,
) -> Result<()> {
    let Some(table) = state.table(name) else {
        return Ok(());
    };
    let range = backend.key_group_range();
    let mut per_group: std::collections::BTreeMap<usize, Vec<StateEntry>> = Default::default();
    for b in filter_key_groups(table, range)? {
        let bad = || Error::Internal(format!("state table '{name}' has an unexpected schema"));
        let kg = b
            .column(0)
            .as_any()
            .downcast_ref::<arrow::array::UInt32Array>()
            .ok_or_else(bad)?;
        let t = b
            .column(1)
            .as_any()
            .downcast_ref::<StringArray>()
            .ok_or_else(bad)?;
        let k = b
            .column(2)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(bad)?;
        let v = b
            .column(3)
            .as_any()
            .downcast_ref::<BinaryArray>()
            .ok_or_else(bad)?;
        for i in 0..b.num_rows() {
            per_group
                .entry(kg.value(i) as usize)
                .or_default()
                .push(StateEntry {
                    table: t.value(i).to_string(),
                    key: k.value(i).to_vec(),
                    value: v.value(i).to_vec(),
                });
        }
    }
    for (kg, entries) in per_group {
        backend.restore_key_group(kg, entries)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{KeyGroupRange, MemoryStateBackend};
    use super::*;

    #[test]
    fn memory_backend_round_trips_and_rescales() {
        let mut a = MemoryStateBackend::new(KeyGroupRange::new(0, 8));
        let t = a.register_table("counts").unwrap();
        for kg in 0..8 {
            a.put(t, kg, format!("k{kg}").as_bytes(), &[kg as u8])
                .unwrap();
        }
        let mut st = OperatorState::new();
        a.snapshot_into("backend", &mut st).unwrap();
        let mut lo = MemoryStateBackend::new(KeyGroupRange::new(0, 4));
        lo.restore_from("backend", &st).unwrap();
        let mut hi = MemoryStateBackend::new(KeyGroupRange::new(4, 8));
        hi.restore_from("backend", &st).unwrap();
        assert_eq!(lo.num_entries() + hi.num_entries(), 8);
        let t = hi.register_table("counts").unwrap();
        assert_eq!(hi.get(t, 5, b"k5").unwrap(), Some(vec![5]));
    }
}
