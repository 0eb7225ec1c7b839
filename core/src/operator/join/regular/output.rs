//! Output batches of a [`RegularJoin`] whose output is a changelog (an outer join, or the
//! changelog mode): the schema, the all-null rows padding gathers, and the assembly of a
//! batch's [`Changes`] with one `take` (arriving rows) and one `interleave` (kept rows of
//! the other side, or the padding row) per column.

use std::sync::Arc;

use arrow::array::{new_null_array, BooleanBufferBuilder, Int8Array, RecordBatch, UInt32Array};
use arrow::buffer::NullBuffer;
use arrow::compute::take;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};

use super::{RegularJoin, RowLoc, OP_COLUMN, PAD};
use crate::error::{Error, Result};
use crate::operator::join::state::SIDE_TABLES;
use crate::operator::join::Gather;
use crate::operator::Output;

/// The output rows of one input batch, in order, as positions to gather.
#[derive(Default)]
pub(super) struct Changes {
    /// Row of the arriving batch, per output row (any value where padded).
    probe: Vec<u32>,
    /// Which output rows take a row of the arriving batch; `None` while all do.
    probe_valid: Option<BooleanBufferBuilder>,
    /// Row of the other side per output row; batch [`PAD`] where padded.
    other: Vec<RowLoc>,
    ops: Vec<i8>,
}

impl Changes {
    /// Add an output row: row `probe` of the arriving batch (`None`: padded) with the
    /// other side's row at `other` (batch [`PAD`]: padded), of kind `op`.
    pub(super) fn push(&mut self, probe: Option<u32>, other: RowLoc, op: i8) {
        match probe {
            Some(row) => {
                if let Some(v) = &mut self.probe_valid {
                    v.append(true);
                }
                self.probe.push(row);
            }
            None => {
                let before = self.probe.len();
                self.probe_valid
                    .get_or_insert_with(|| {
                        let mut v = BooleanBufferBuilder::new(before.max(64));
                        v.append_n(before, true);
                        v
                    })
                    .append(false);
                self.probe.push(0);
            }
        }
        self.other.push(other);
        self.ops.push(op);
    }

    fn is_empty(&self) -> bool {
        self.ops.is_empty()
    }
}

impl RegularJoin {
    /// The output schema of an outer join or of the changelog mode: the inner join's
    /// columns, those of a side that can be padded nullable, then `$op` when the output is
    /// updating.
    pub(super) fn out_schema(&mut self) -> Result<SchemaRef> {
        if let Some(s) = &self.out_schema {
            return Ok(s.clone());
        }
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            if self
                .bound(side)
                .is_some_and(|s| s.column_with_name(OP_COLUMN).is_some())
            {
                return Err(Error::Unsupported(format!(
                    "regular join: the {name} input has a '{OP_COLUMN}' column among its data \
                     columns; declare an updating input with RegularJoin::with_updating_inputs \
                     and its schema without '{OP_COLUMN}'"
                )));
            }
        }
        let joined = self.inputs.output_schema()?;
        let n_left = self.bound(0).map_or(0, |s| s.fields().len());
        let pad = [self.join_type.preserves(1), self.join_type.preserves(0)];
        let mut fields: Vec<Field> = joined
            .fields()
            .iter()
            .enumerate()
            .map(|(i, f)| {
                let f = f.as_ref().clone();
                if pad[usize::from(i >= n_left)] {
                    f.with_nullable(true)
                } else {
                    f
                }
            })
            .collect();
        if self.output_updating() {
            fields.push(Field::new(OP_COLUMN, DataType::Int8, false));
        }
        let schema = Arc::new(Schema::new_with_metadata(fields, joined.metadata().clone()));
        self.out_schema = Some(schema.clone());
        Ok(schema)
    }

    /// Build (once) the all-null row of `side`.
    fn ensure_nulls(&mut self, side: usize) -> Result<()> {
        if self.nulls[side].is_some() {
            return Ok(());
        }
        let Some(schema) = self.bound(side) else {
            return Err(Error::Internal(
                "regular join: padding a side never seen".into(),
            ));
        };
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let columns = fields
            .iter()
            .map(|f| new_null_array(f.data_type(), 1))
            .collect();
        self.nulls[side] = Some(RecordBatch::try_new(
            Arc::new(Schema::new(fields)),
            columns,
        )?);
        Ok(())
    }

    /// Emit the output batch of `changes` (if any): rows of `probe` (an input batch of
    /// `side`, data columns only) and kept rows of the other side, either possibly padded.
    pub(super) fn emit_changes(
        &mut self,
        side: usize,
        probe: &RecordBatch,
        changes: Changes,
        out: &mut Output,
    ) -> Result<()> {
        if changes.is_empty() {
            return Ok(());
        }
        let other = 1 - side;
        let schema = self.out_schema()?;
        if changes.other.iter().any(|&(b, _)| b == PAD) {
            self.ensure_nulls(other)?;
        }
        let pad = self.nulls[other].as_ref();
        let with_op = self.output_updating();
        let batch = if self.changelog_mode() {
            let store = &self.changelog.stores[other];
            assemble(schema, side, probe, changes, with_op, |b| {
                if b == PAD {
                    pad
                } else {
                    store.batch(b)
                }
            })?
        } else {
            let stored = &self.batches[other];
            assemble(schema, side, probe, changes, with_op, |b| {
                if b == PAD {
                    pad
                } else {
                    stored.get(b as usize)
                }
            })?
        };
        out.emit(batch);
        Ok(())
    }
}

/// The output batch of `c`: rows of `probe` (of `side`) and rows of the other side found
/// by `lookup` (batch [`PAD`] included), then `$op` when `with_op`.
fn assemble<'a>(
    schema: SchemaRef,
    side: usize,
    probe: &RecordBatch,
    c: Changes,
    with_op: bool,
    lookup: impl Fn(u32) -> Option<&'a RecordBatch>,
) -> Result<RecordBatch> {
    let nulls = c.probe_valid.map(|mut v| NullBuffer::new(v.finish()));
    let idx = UInt32Array::new(c.probe.into(), nulls);
    let probe_cols = probe
        .columns()
        .iter()
        .map(|a| Ok(take(a.as_ref(), &idx, None)?))
        .collect::<Result<Vec<_>>>()?;
    let mut gather = Gather::new();
    for &(b, r) in &c.other {
        gather.push(b, r as usize, &lookup)?;
    }
    let other_cols = gather.finish()?;
    let (mut columns, right) = if side == 0 {
        (probe_cols, other_cols)
    } else {
        (other_cols, probe_cols)
    };
    columns.extend(right);
    if with_op {
        columns.push(Arc::new(Int8Array::from(c.ops)));
    }
    Ok(RecordBatch::try_new(schema, columns)?)
}
