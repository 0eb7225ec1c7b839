//! Checkpoint tables of [`OverAggregate`] (layouts in the module docs of `over`).
//!
//! | table | keyed | columns |
//! |---|---|---|
//! | `over_meta` | no | `input_schema: Binary` (Arrow IPC, null before the first batch), `watermark: Int64` |
//! | `over_pending` | yes | the input columns, batches in arrival order |
//! | `over_rows` | yes | `p0..` partition columns, `ts: Int64`, `in0..` aggregate inputs |
//! | `over_base` | yes | `p0..` partition columns, `s{call}_{i}` each aggregate's state columns |
//!
//! Keyed rows are filed by the key group of their partition columns, as the hash exchange
//! routes them; without partition columns under key group 0 (owned by subtask 0 at any
//! parallelism).

use std::io::Cursor;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, BinaryArray, Int64Array, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef};
use arrow::ipc::reader::StreamReader;
use arrow::ipc::writer::StreamWriter;
use arrow::record_batch::{RecordBatch, RecordBatchOptions};

use super::{Bound, OverAggregate, OverFrame, Pending};
use crate::checkpoint::{key_groups_of, split_key_groups, OperatorState};
use crate::error::{Error, Location, Result};
use crate::operator::OpContext;
use crate::state::KeyGroupRange;

const META: &str = "over_meta";
const PENDING: &str = "over_pending";
const ROWS: &str = "over_rows";
const BASE: &str = "over_base";

/// The error for a state table the operator cannot read.
fn bad_state(table: &str, detail: impl Into<String>) -> Error {
    Error::Data {
        location: Location {
            source: format!("over aggregate checkpoint table '{table}'"),
            ..Location::default()
        },
        detail: detail.into(),
    }
}

/// The key group of each row of `keys`, or 0 for every one of `rows` rows without keys.
fn key_groups(keys: &[ArrayRef], rows: usize, ctx: &OpContext) -> Result<Vec<u32>> {
    if keys.is_empty() {
        Ok(vec![0; rows])
    } else {
        key_groups_of(keys, ctx.max_parallelism)
    }
}

/// A batch of named nullable columns with `rows` rows (there may be no column).
fn named_batch(columns: Vec<(String, ArrayRef)>, rows: usize) -> Result<RecordBatch> {
    let fields: Vec<Field> = columns
        .iter()
        .map(|(n, a)| Field::new(n.as_str(), a.data_type().clone(), true))
        .collect();
    let arrays = columns.into_iter().map(|(_, a)| a).collect();
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        arrays,
        &RecordBatchOptions::new().with_row_count(Some(rows)),
    )?)
}

/// The rows of keyed table `name` this subtask owns, without the key group column.
fn owned(state: &OperatorState, name: &str, range: KeyGroupRange) -> Result<Vec<RecordBatch>> {
    let Some(table) = state.table(name) else {
        return Ok(Vec::new());
    };
    if !table.keyed {
        return Err(bad_state(name, "expected a keyed table"));
    }
    Ok(split_key_groups(table, range)?
        .into_iter()
        .map(|(_, rows)| rows)
        .collect())
}

fn schema_bytes(schema: &Schema) -> Result<Vec<u8>> {
    let mut buf = Vec::new();
    {
        let mut w = StreamWriter::try_new(&mut buf, schema)?;
        w.finish()?;
    }
    Ok(buf)
}

impl OverAggregate {
    pub(super) fn snapshot_state(&mut self, ctx: &OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        let schema = self
            .bound
            .as_ref()
            .map(|b| schema_bytes(&b.input))
            .transpose()?;
        let meta = RecordBatch::try_new(
            Arc::new(Schema::new(vec![
                Field::new("input_schema", DataType::Binary, true),
                Field::new("watermark", DataType::Int64, false),
            ])),
            vec![
                Arc::new(BinaryArray::from(vec![schema.as_deref()])),
                Arc::new(Int64Array::from(vec![self.watermark])),
            ],
        )?;
        state.push_operator(META, meta);
        for p in &self.pending {
            let keys: Vec<ArrayRef> = self
                .partition
                .iter()
                .map(|&i| p.batch.column(i).clone())
                .collect();
            let kgs = key_groups(&keys, p.batch.num_rows(), ctx)?;
            state.push_keyed(PENDING, kgs, &p.batch)?;
        }
        if let Some(b) = self.bound.as_mut() {
            let wm = self.watermark;
            b.snapshot_into(&mut state, wm, ctx)?;
        }
        Ok(state)
    }

    pub(super) fn restore_state(&mut self, state: &OperatorState, ctx: &OpContext) -> Result<()> {
        let mut input: Option<SchemaRef> = None;
        let mut floor: Option<i64> = None;
        if let Some(t) = state.table(META) {
            for b in &t.batches {
                let schemas = b
                    .columns()
                    .first()
                    .and_then(|c| c.as_binary_opt::<i32>())
                    .ok_or_else(|| bad_state(META, "column 0 is not a binary schema"))?;
                let wms = b
                    .columns()
                    .get(1)
                    .and_then(|c| c.as_primitive_opt::<Int64Type>())
                    .ok_or_else(|| bad_state(META, "column 1 is not an Int64 watermark"))?;
                for i in 0..b.num_rows() {
                    if input.is_none() && schemas.is_valid(i) {
                        let r = StreamReader::try_new(Cursor::new(schemas.value(i)), None)?;
                        input = Some(r.schema());
                    }
                    let w = wms.value(i);
                    floor = Some(floor.map_or(w, |f| f.min(w)));
                }
            }
        }
        if let Some(w) = floor {
            self.watermark = self.watermark.max(w);
        }
        let range = ctx.key_group_range();
        let Some(input) = input else {
            if [PENDING, ROWS, BASE]
                .iter()
                .any(|t| state.table(t).is_some_and(|t| t.num_rows() > 0))
            {
                return Err(bad_state(META, "state to restore but no input schema"));
            }
            return Ok(());
        };
        let time = self.time;
        self.bound_for(&input)?;
        for b in owned(state, PENDING, range)? {
            let b = RecordBatch::try_new(input.clone(), b.columns().to_vec())
                .map_err(|e| bad_state(PENDING, e.to_string()))?;
            if b.num_rows() > 0 {
                self.pending.push(Pending::new(b, time)?);
            }
        }
        let b = self
            .bound
            .as_mut()
            .ok_or_else(|| Error::Internal("over aggregate: not bound".into()))?;
        b.load_rows(owned(state, ROWS, range)?)?;
        b.load_bases(owned(state, BASE, range)?)?;
        Ok(())
    }
}

impl Bound {
    /// The distinct partition keys, in id order (none without partition columns).
    fn keys(&self) -> Result<Vec<ArrayRef>> {
        match &self.groups {
            Some(g) if self.partitions > 0 => Ok(g.emit_keys()?),
            _ => Ok(Vec::new()),
        }
    }

    fn snapshot_into(&mut self, state: &mut OperatorState, wm: i64, ctx: &OpContext) -> Result<()> {
        if self.partitions == 0 {
            return Ok(());
        }
        let keys = self.keys()?;
        if self.frame.is_unbounded() {
            let mut columns: Vec<(String, ArrayRef)> = keys
                .iter()
                .enumerate()
                .map(|(i, k)| (format!("p{i}"), k.clone()))
                .collect();
            for (c, base) in self.bases.iter_mut().enumerate() {
                for (i, col) in base.columns(self.partitions)?.into_iter().enumerate() {
                    columns.push((format!("s{c}_{i}"), col));
                }
            }
            let kgs = key_groups(&keys, self.partitions, ctx)?;
            state.push_keyed(BASE, kgs, &named_batch(columns, self.partitions)?)?;
            return Ok(());
        }
        let (at, pids) = self.rows.live_rows(self.expired_to(wm))?;
        if at.is_empty() {
            return Ok(());
        }
        let rows = at.len();
        let idx = UInt32Array::from(pids);
        let mut key_columns = Vec::with_capacity(keys.len());
        for k in &keys {
            key_columns.push(take(k.as_ref(), &idx, None)?);
        }
        let mut columns: Vec<(String, ArrayRef)> = key_columns
            .iter()
            .enumerate()
            .map(|(i, k)| (format!("p{i}"), k.clone()))
            .collect();
        for (i, col) in self
            .rows
            .gather(&at, self.inputs.len() + 1)?
            .into_iter()
            .enumerate()
        {
            let name = if i == 0 {
                "ts".to_string()
            } else {
                format!("in{}", i - 1)
            };
            columns.push((name, col));
        }
        let kgs = key_groups(&key_columns, rows, ctx)?;
        state.push_keyed(ROWS, kgs, &named_batch(columns, rows)?)?;
        Ok(())
    }

    /// Partition ids of the leading key columns of restored rows.
    fn intern_restored(&mut self, batch: &RecordBatch) -> Result<Vec<u32>> {
        let nk = self.partition.len();
        let keys: Vec<ArrayRef> = batch.columns()[..nk].to_vec();
        let mut pids = Vec::with_capacity(batch.num_rows());
        self.intern(&keys, batch.num_rows(), &mut pids)?;
        Ok(pids)
    }

    fn load_rows(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        let Some(first) = batches.first() else {
            return Ok(());
        };
        if matches!(
            self.frame,
            OverFrame::Rows { preceding: None } | OverFrame::Range { preceding_ms: None }
        ) {
            return Err(bad_state(ROWS, "rows for an unbounded frame"));
        }
        let width = self.inputs.len() + 1;
        let nk = self.partition.len();
        if first.num_columns() != nk + width {
            return Err(bad_state(
                ROWS,
                format!(
                    "{} columns, expected {nk} partition and {width} row columns (was the query changed?)",
                    first.num_columns()
                ),
            ));
        }
        let all = concat_batches(&first.schema(), &batches)?;
        let pids = self.intern_restored(&all)?;
        self.rows.load(&pids, &all.columns()[nk..], width)
    }

    fn load_bases(&mut self, batches: Vec<RecordBatch>) -> Result<()> {
        let nk = self.partition.len();
        let width: usize = self.bases.iter().map(|b| b.width()).sum();
        for b in batches {
            if b.num_columns() != nk + width {
                return Err(bad_state(
                    BASE,
                    format!(
                        "{} columns, expected {nk} partition and {width} state columns (was the query changed?)",
                        b.num_columns()
                    ),
                ));
            }
            let pids = self.intern_restored(&b)?;
            let mut offset = nk;
            for base in &mut self.bases {
                let w = base.width();
                base.load(&pids, &b.columns()[offset..offset + w])?;
                offset += w;
            }
        }
        Ok(())
    }
}
