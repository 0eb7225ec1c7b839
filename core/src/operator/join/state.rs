//! Checkpoint helpers shared by the joins.
//!
//! Every join snapshots its retained rows as one keyed table per side ([`SIDE_TABLES`]),
//! each row filed under the key group of its join key, so a restore at any parallelism hands
//! a subtask exactly the rows of the keys it will receive. The tables hold the retained
//! batches themselves (Arc-cloned columns, nothing copied at snapshot time) plus, for some
//! joins, a few trailing bookkeeping columns. The checkpoint writer keeps the order of the
//! rows within a key group, so a restore rebuilds each key's rows in their original order
//! and probes find them in the same order as an uninterrupted run. An outer regular join
//! adds match counts, pending rows and input schemas (see `regular.rs`); the helpers for
//! those tables are at the end.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::concat_batches;
use arrow::datatypes::{Field, Schema, SchemaRef, UInt64Type};
use arrow::record_batch::RecordBatch;

use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};

/// Names of the keyed state tables of the left and the right side.
pub(crate) const SIDE_TABLES: [&str; 2] = ["left", "right"];

/// Trailing column of a preserved side's table of an outer regular join: partners of each
/// row.
pub(crate) const MATCHES_COLUMN: &str = "__matches";
/// Trailing column of a pending table: arrival order.
pub(crate) const SEQ_COLUMN: &str = "__seq";
/// Keyed tables of an outer regular join's pending rows (waiting for the other side's
/// schema), per side.
pub(crate) const PENDING_TABLES: [&str; 2] = ["left_pending", "right_pending"];
/// Non-keyed tables of an outer regular join's input schemas (Arrow IPC), per side.
pub(crate) const SCHEMA_TABLES: [&str; 2] = ["left_schema", "right_schema"];

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

/// `batch` with `column` (non-null) appended as `name`.
pub(crate) fn with_column(
    batch: &RecordBatch,
    name: &str,
    column: ArrayRef,
) -> Result<RecordBatch> {
    let schema = batch.schema();
    let mut fields: Vec<Arc<Field>> = schema.fields().iter().cloned().collect();
    fields.push(Arc::new(Field::new(
        name,
        column.data_type().clone(),
        false,
    )));
    let mut columns = batch.columns().to_vec();
    columns.push(column);
    Ok(RecordBatch::try_new(
        Arc::new(Schema::new_with_metadata(fields, schema.metadata().clone())),
        columns,
    )?)
}

/// A restored row batch of a side table, split into the input columns and, when the side
/// is `preserved`, the partner counts of its trailing `__matches` column.
pub(crate) fn split_matches(
    batch: RecordBatch,
    preserved: bool,
    table: &str,
) -> Result<(RecordBatch, Option<Vec<u64>>)> {
    let n = batch.num_columns();
    let schema = batch.schema();
    let counts = schema
        .fields()
        .last()
        .filter(|f| f.name() == MATCHES_COLUMN)
        .and_then(|_| batch.column(n - 1).as_primitive_opt::<UInt64Type>());
    match (counts, preserved) {
        (Some(c), true) => {
            let c = c.values().to_vec();
            Ok((batch.project(&(0..n - 1).collect::<Vec<_>>())?, Some(c)))
        }
        (None, false) => Ok((batch, None)),
        (Some(_), false) => Err(Error::Schema(format!(
            "regular join: restore: state table '{table}' ends with {MATCHES_COLUMN}: the \
             checkpoint is of an outer join that preserves this side, not of this join"
        ))),
        (None, true) => Err(Error::Schema(format!(
            "regular join: restore: state table '{table}' has no {MATCHES_COLUMN} column: the \
             checkpoint is of a join that does not preserve this side (an inner join?)"
        ))),
    }
}

/// Reject state that is not an outer regular join's.
pub(crate) fn check_outer_tables(state: &OperatorState) -> Result<()> {
    if !state.files.is_empty() {
        return Err(Error::Schema(
            "regular join: restore: the checkpoint holds state files; a join keeps none".into(),
        ));
    }
    for t in &state.tables {
        if t.num_rows() == 0 {
            continue;
        }
        let name = t.name.as_str();
        let keyed = if SIDE_TABLES.contains(&name) || PENDING_TABLES.contains(&name) {
            true
        } else if SCHEMA_TABLES.contains(&name) {
            false
        } else {
            return Err(Error::Schema(format!(
                "regular join: restore: unknown state table '{name}' (expected {})",
                [SIDE_TABLES, PENDING_TABLES, SCHEMA_TABLES]
                    .concat()
                    .join(", ")
            )));
        };
        if t.keyed != keyed {
            return Err(Error::Schema(format!(
                "regular join: restore: state table '{name}' is {}keyed",
                if t.keyed { "" } else { "not " }
            )));
        }
    }
    Ok(())
}

/// `schema` as an Arrow IPC stream without batches.
pub(crate) fn schema_to_ipc(schema: &Schema) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, schema)?;
    w.finish()?;
    drop(w);
    Ok(buf)
}

/// The schema of an Arrow IPC stream written by [`schema_to_ipc`].
pub(crate) fn schema_from_ipc(bytes: &[u8]) -> Result<SchemaRef> {
    let r = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)?;
    Ok(r.schema())
}

/// The data columns and row kinds of a batch from the `side` input of a join (`what`, for
/// errors): a batch of an input declared `updating` ends with a non-null Int8 `op_column`
/// of row kinds 0..=3, which is split off; one of an insert-only input has none.
///
/// # Errors
/// [`Error::Schema`] when the column's presence does not match the declaration, or it is
/// not a non-null Int8 of known row kinds.
pub(crate) fn split_row_kinds(
    what: &str,
    side: usize,
    updating: bool,
    op_column: &str,
    batch: RecordBatch,
) -> Result<(RecordBatch, Option<arrow::array::Int8Array>)> {
    let n = batch.num_columns();
    let has_op = n > 0 && batch.schema_ref().field(n - 1).name() == op_column;
    let name = SIDE_TABLES[side];
    match (updating, has_op) {
        (false, false) => Ok((batch, None)),
        (true, true) => {
            let ops = batch
                .column(n - 1)
                .as_primitive_opt::<arrow::datatypes::Int8Type>()
                .filter(|o| o.null_count() == 0)
                .ok_or_else(|| {
                    Error::Schema(format!(
                        "{what}: the {name} input's {op_column} column is not a non-null Int8"
                    ))
                })?
                .clone();
            if let Some(bad) = ops.values().iter().find(|&&o| !(0..=3).contains(&o)) {
                return Err(Error::Schema(format!(
                    "{what}: row kind {bad} in the {name} input's {op_column} column"
                )));
            }
            Ok((batch.project(&(0..n - 1).collect::<Vec<_>>())?, Some(ops)))
        }
        (declared, _) => Err(Error::Schema(format!(
            "{what}: the {name} input is {}declared updating but its batches {} a {op_column} \
             column",
            if declared { "" } else { "not " },
            if declared { "lack" } else { "have" }
        ))),
    }
}
