//! Checkpoint state shared by the window operators: the metadata table every subtask writes,
//! readers for the columns of restored tables, and the sort that puts restored rows back in
//! their original order.
//!
//! Every window operator writes one non-keyed row to [`META_TABLE`]:
//!
//! | column | type | meaning |
//! |---|---|---|
//! | `input_schema` | `Binary` (nullable) | the input schema as an Arrow IPC stream, null before the first batch |
//! | `watermark` | `Int64` | the input watermark at the barrier |
//!
//! A restored operator resolves its column layout from the schema at once (so windows it
//! restores can fire before any new batch arrives), and keeps the watermark as a floor for
//! lateness decisions, in case the task restarts its input watermark at `MIN`: rows after the
//! barrier saw at least that watermark in the uninterrupted run. After a rescale the floor is
//! the minimum over the old subtasks, so no row is declared late that was not late in every
//! old subtask.
//!
//! Keyed tables are read with [`owned_rows`]. The runtime hands an operator only the rows of
//! the key groups it owns (gathered from every old subtask after a rescale), so the operators
//! do not filter by key group again: they restore every row they are given. (A harness that
//! feeds one subtask every key, as `checkpoint::testing` does, restores correctly at any
//! parallelism for the same reason.)

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BinaryArray, BooleanArray, Int64Array,
    PrimitiveArray,
};
use arrow::compute::{concat_batches, lexsort_to_indices, take_record_batch, SortColumn};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::RecordBatch;

use crate::checkpoint::{key_groups_of, OperatorState};
use crate::error::{Error, Location, Result};
use crate::operator::OpContext;

/// Named columns of a state table being built.
pub(super) type Columns = Vec<(String, ArrayRef)>;

/// Name of the non-keyed metadata table of every window operator.
pub(super) const META_TABLE: &str = "window_meta";

/// The error for a state table the operator cannot read.
pub(super) fn bad_state(table: &str, detail: impl Into<String>) -> Error {
    Error::Data {
        location: Location {
            source: format!("window checkpoint table '{table}'"),
            ..Location::default()
        },
        detail: detail.into(),
    }
}

/// What [`read_meta`] found.
#[derive(Debug, Default)]
pub(super) struct Meta {
    /// The input schema, when some old subtask had seen a batch.
    pub(super) input: Option<SchemaRef>,
    /// The lowest watermark of the old subtasks, if any wrote one.
    pub(super) watermark: Option<i64>,
}

/// Adds this subtask's metadata row.
///
/// # Errors
/// A schema Arrow IPC cannot encode.
pub(super) fn push_meta(
    state: &mut OperatorState,
    input: Option<&SchemaRef>,
    watermark: i64,
) -> Result<()> {
    let bytes = input.map(|s| schema_bytes(s)).transpose()?;
    let schema = Arc::new(Schema::new(vec![
        Field::new("input_schema", DataType::Binary, true),
        Field::new("watermark", DataType::Int64, false),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(BinaryArray::from(vec![bytes.as_deref()])),
        Arc::new(Int64Array::from(vec![watermark])),
    ];
    state.push_operator(META_TABLE, RecordBatch::try_new(schema, columns)?);
    Ok(())
}

/// Reads the metadata rows (one per old subtask after a rescale, else this subtask's own).
///
/// # Errors
/// A table of another shape, or a schema that does not decode.
pub(super) fn read_meta(state: &OperatorState) -> Result<Meta> {
    let mut meta = Meta::default();
    let Some(table) = state.table(META_TABLE) else {
        return Ok(meta);
    };
    for b in &table.batches {
        let schemas = b
            .columns()
            .first()
            .and_then(|c| c.as_binary_opt::<i32>())
            .ok_or_else(|| bad_state(META_TABLE, "column 0 is not a binary schema"))?;
        let wms = primitive::<arrow::datatypes::Int64Type>(b, 1, META_TABLE)?;
        for i in 0..b.num_rows() {
            if meta.input.is_none() && schemas.is_valid(i) {
                meta.input = Some(schema_from_bytes(schemas.value(i))?);
            }
            let w = wms.value(i);
            meta.watermark = Some(meta.watermark.map_or(w, |m| m.min(w)));
        }
    }
    Ok(meta)
}

/// The start of every window operator's restore: read the meta table, raise `wm_floor` to
/// the checkpointed watermark, and return the input schema, or `None` when the checkpoint
/// holds no windows (a subtask that never saw a row).
///
/// # Errors
/// Keyed rows to restore without an input schema, or an unreadable meta table.
pub(super) fn restore_meta(state: &OperatorState, wm_floor: &mut i64) -> Result<Option<SchemaRef>> {
    let meta = read_meta(state)?;
    if let Some(w) = meta.watermark {
        *wm_floor = w;
    }
    if meta.input.is_none() && state.tables.iter().any(|t| t.num_rows() > 0 && t.keyed) {
        return Err(bad_state(
            "window_meta",
            "windows to restore but no input schema",
        ));
    }
    Ok(meta.input)
}

/// A schema as an Arrow IPC stream without batches.
fn schema_bytes(schema: &Schema) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut buf, schema)?;
        w.finish()?;
    }
    Ok(buf)
}

fn schema_from_bytes(bytes: &[u8]) -> Result<SchemaRef> {
    Ok(StreamReader::try_new(Cursor::new(bytes), None)?.schema())
}

/// Column `i` of a restored table as a primitive array of `T`.
///
/// # Errors
/// The column is missing or of another type.
pub(super) fn primitive<'a, T: ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    i: usize,
    table: &str,
) -> Result<&'a PrimitiveArray<T>> {
    batch
        .columns()
        .get(i)
        .and_then(|c| c.as_primitive_opt::<T>())
        .ok_or_else(|| bad_state(table, format!("column {i} is not {}", T::DATA_TYPE)))
}

/// Column `i` of a restored table as booleans.
///
/// # Errors
/// The column is missing or not boolean.
pub(super) fn booleans<'a>(
    batch: &'a RecordBatch,
    i: usize,
    table: &str,
) -> Result<&'a BooleanArray> {
    batch
        .columns()
        .get(i)
        .and_then(|c| c.as_boolean_opt())
        .ok_or_else(|| bad_state(table, format!("column {i} is not boolean")))
}

/// The rows of keyed table `name` handed to this subtask (those of the key groups it owns),
/// without the key group column, as one batch; `None` when there are none.
///
/// # Errors
/// The table is not keyed, or its batches differ in schema.
pub(super) fn owned_rows(state: &OperatorState, name: &str) -> Result<Option<RecordBatch>> {
    let Some(table) = state.table(name) else {
        return Ok(None);
    };
    if !table.keyed {
        return Err(bad_state(name, "expected a keyed table"));
    }
    let batches = table.data_batches()?;
    let Some(first) = batches.iter().find(|b| b.num_rows() > 0) else {
        return Ok(None);
    };
    Ok(Some(concat_batches(&first.schema(), &batches)?))
}

/// `batch` sorted by the columns `by` (ascending, lexicographic).
///
/// # Errors
/// A column index out of range or a type that cannot be sorted.
pub(super) fn sorted_by(batch: &RecordBatch, by: &[usize]) -> Result<RecordBatch> {
    let columns: Vec<SortColumn> = by
        .iter()
        .map(|&i| {
            batch
                .columns()
                .get(i)
                .map(|c| SortColumn {
                    values: c.clone(),
                    options: None,
                })
                .ok_or_else(|| Error::Internal(format!("sort column {i} out of range")))
        })
        .collect::<Result<_>>()?;
    let indices = lexsort_to_indices(&columns, None)?;
    Ok(take_record_batch(batch, &indices)?)
}

/// The key group of every row of `keys`, or key group 0 for all `rows` of a non-keyed
/// operator (whose state lives with subtask 0 however the job scales, as every key group
/// range starting at 0 belongs to subtask 0).
///
/// # Errors
/// A key type that cannot be hashed.
pub(super) fn key_groups(keys: &[ArrayRef], rows: usize, ctx: &OpContext) -> Result<Vec<u32>> {
    if keys.is_empty() {
        Ok(vec![0; rows])
    } else {
        key_groups_of(keys, ctx.max_parallelism)
    }
}

/// Builds a batch from named columns (all nullable: state columns hold nulls freely).
///
/// # Errors
/// Columns of different lengths.
pub(super) fn state_batch(columns: Columns, rows: usize) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(n.as_str(), a.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    let options = arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(rows));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &options,
    )?)
}

/// Runs of equal `(a, b)` in two sorted columns: `(first row, past last row)` each.
pub(super) fn runs(a: &Int64Array, b: &Int64Array) -> Vec<(usize, usize)> {
    let (a, b) = (a.values(), b.values());
    let mut out = Vec::new();
    let mut i = 0;
    while i < a.len() {
        let mut j = i + 1;
        while j < a.len() && a[j] == a[i] && b[j] == b[i] {
            j += 1;
        }
        out.push((i, j));
        i = j;
    }
    out
}
