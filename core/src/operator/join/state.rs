//! Checkpoint helpers shared by the joins.
//!
//! Every join snapshots its retained rows as one keyed table per side ([`SIDE_TABLES`]),
//! each row filed under the key group of its join key, so a restore at any parallelism hands
//! a subtask exactly the rows of the keys it will receive. The tables hold the retained
//! batches themselves (Arc-cloned columns, nothing copied at snapshot time) plus, for some
//! joins, a few trailing bookkeeping columns. The checkpoint writer keeps the order of the
//! rows within a key group, so a restore rebuilds each key's rows in their original order
//! and probes find them in the same order as an uninterrupted run.

use arrow::compute::concat_batches;
use arrow::record_batch::RecordBatch;

use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};

/// Names of the keyed state tables of the left and the right side.
pub(crate) const SIDE_TABLES: [&str; 2] = ["left", "right"];

/// Rows per batch after a restore. Restored tables arrive cut into one piece per block of
/// key groups; gluing consecutive pieces back together keeps the per-batch costs (batch
/// ids, `Gather` lookups) as low as before the checkpoint.
pub(crate) const RESTORE_BATCH_ROWS: usize = 64 * 1024;

/// Reject state that is not a join's: unknown or non-keyed tables, or state files.
pub(crate) fn check_tables(state: &OperatorState, what: &str) -> Result<()> {
    if !state.files.is_empty() {
        return Err(Error::Schema(format!(
            "{what}: restore: the checkpoint holds state files; a join keeps none"
        )));
    }
    for t in &state.tables {
        if t.num_rows() == 0 {
            continue;
        }
        if !SIDE_TABLES.contains(&t.name.as_str()) {
            return Err(Error::Schema(format!(
                "{what}: restore: unknown state table '{}' (expected {})",
                t.name,
                SIDE_TABLES.join(", ")
            )));
        }
        if !t.keyed {
            return Err(Error::Schema(format!(
                "{what}: restore: state table '{}' is not keyed",
                t.name
            )));
        }
    }
    Ok(())
}

/// The rows of the keyed table `name` (none when it is absent), without the key group
/// column, in their stored order, glued into batches of up to [`RESTORE_BATCH_ROWS`] rows.
///
/// # Errors
/// A malformed table.
pub(crate) fn restored_rows(state: &OperatorState, name: &str) -> Result<Vec<RecordBatch>> {
    let Some(t) = state.table(name) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    let mut pending: Vec<RecordBatch> = Vec::new();
    let mut rows = 0;
    for b in t.data_batches()? {
        if b.num_rows() == 0 {
            continue;
        }
        if rows + b.num_rows() > RESTORE_BATCH_ROWS && !pending.is_empty() {
            out.push(glue(&pending)?);
            pending.clear();
            rows = 0;
        }
        rows += b.num_rows();
        pending.push(b);
    }
    if !pending.is_empty() {
        out.push(glue(&pending)?);
    }
    Ok(out)
}

fn glue(batches: &[RecordBatch]) -> Result<RecordBatch> {
    match batches {
        [one] => Ok(one.clone()),
        _ => {
            let schema = batches
                .first()
                .map(RecordBatch::schema)
                .ok_or_else(|| Error::Internal("join restore: gluing no batches".into()))?;
            Ok(concat_batches(&schema, batches)?)
        }
    }
}

/// The key group of each row from its `hash_columns` hash, as the hash exchange computes it.
pub(crate) fn key_groups_from_hashes(hashes: &[u64], max_parallelism: usize) -> Vec<u32> {
    hashes
        .iter()
        .map(|&h| millstream_kernels::partition::key_group(h, max_parallelism) as u32)
        .collect()
}
