//! The inputs of a [`SemiAntiJoin`]: each side's columns, resolved by name on its first
//! batch (or its restored rows), and every arriving batch split into its data columns and
//! row kinds, with its keys encoded (`arrow::row`) and hashed, and its rows encoded whole
//! when the side is updating.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int8Array, RecordBatch};
use arrow::buffer::{BooleanBuffer, NullBuffer};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::row::{RowConverter, Rows, SortField};

use super::{holds, SemiAntiJoin, INSERT, OP_COLUMN};
use crate::batch::column_index;
use crate::error::{Error, Result};
use crate::operator::join::state::{split_row_kinds, SIDE_TABLES};

/// An input's columns, resolved on its first batch (or its restored rows).
pub(super) struct Bound {
    /// The input's columns without `$op`.
    pub(super) data: SchemaRef,
    pub(super) key_idx: Vec<usize>,
    /// Whole-row encoder of an updating input.
    pub(super) full: Option<RowConverter>,
}

/// One arriving batch, split and encoded.
pub(super) struct Input {
    pub(super) data: RecordBatch,
    pub(super) ops: Option<Int8Array>,
    pub(super) keys: Option<Rows>,
    pub(super) hashes: Vec<u64>,
    /// Rows with no null key (`None`: all).
    pub(super) valid: Option<BooleanBuffer>,
    pub(super) full: Option<Rows>,
    /// Hashes of the whole-row encodings.
    pub(super) full_hashes: Vec<u64>,
}

impl Input {
    pub(super) fn op(&self, i: usize) -> i8 {
        self.ops.as_ref().map_or(INSERT, |o| o.value(i))
    }

    pub(super) fn is_valid(&self, i: usize) -> bool {
        self.valid.as_ref().is_none_or(|v| v.value(i))
    }

    pub(super) fn key(&self, i: usize) -> &[u8] {
        self.keys.as_ref().map_or(&[], |k| k.row(i).data())
    }
}

impl SemiAntiJoin {
    pub(super) fn ensure_converter(&mut self, types: Vec<DataType>, side: usize) -> Result<()> {
        match &self.converter {
            Some((expected, _)) if *expected != types => Err(Error::Schema(format!(
                "semi join: key types differ: the {} keys [{}] are {types:?}, the other side's \
                 {expected:?}",
                SIDE_TABLES[side],
                self.keys[side].join(", ")
            ))),
            Some(_) => Ok(()),
            None if types.is_empty() => Ok(()),
            None => {
                let fields = types.iter().map(|t| SortField::new(t.clone())).collect();
                self.converter = Some((types, RowConverter::new(fields)?));
                Ok(())
            }
        }
    }

    pub(super) fn bind(&mut self, side: usize, data: SchemaRef) -> Result<()> {
        let key_idx = self.keys[side]
            .iter()
            .map(|k| column_index(&data, k))
            .collect::<Result<Vec<_>>>()?;
        let types = key_idx
            .iter()
            .map(|&i| data.field(i).data_type().clone())
            .collect();
        self.ensure_converter(types, side)?;
        let full = if self.updating[side] {
            let fields = data
                .fields()
                .iter()
                .map(|f| SortField::new(f.data_type().clone()))
                .collect();
            Some(RowConverter::new(fields)?)
        } else {
            None
        };
        self.sides[side] = Some(Bound {
            data,
            key_idx,
            full,
        });
        // Pairs need both inputs' columns; each input binds once.
        if let (Some(l), Some(r)) = (&self.sides[0], &self.sides[1]) {
            let fields: Vec<Field> = l
                .data
                .fields()
                .iter()
                .chain(r.data.fields().iter())
                .map(|f| f.as_ref().clone().with_nullable(true))
                .collect();
            self.pair_schema = Some(Arc::new(Schema::new(fields)));
        }
        Ok(())
    }

    /// The data columns and row kinds of an input batch.
    pub(super) fn split(
        &self,
        side: usize,
        batch: RecordBatch,
    ) -> Result<(RecordBatch, Option<Int8Array>)> {
        split_row_kinds("semi join", side, self.updating[side], OP_COLUMN, batch)
    }

    /// Split, bind on first use, and encode keys (and whole rows of an updating input).
    pub(super) fn prepare(&mut self, side: usize, batch: RecordBatch) -> Result<Input> {
        let (data, ops) = self.split(side, batch)?;
        if self.sides[side].is_none() {
            self.bind(side, data.schema())?;
        }
        self.encode(side, data, ops)
    }

    /// The `arrow::row` encoding and `hash_columns` hashes of `n` rows' key columns `keys`
    /// (no encoding and hash 0 without keys: every row shares one entry).
    pub(super) fn encode_keys(
        &self,
        keys: &[ArrayRef],
        n: usize,
    ) -> Result<(Option<Rows>, Vec<u64>)> {
        match &self.converter {
            Some((_, conv)) if !keys.is_empty() => {
                let mut hashes = Vec::with_capacity(n);
                millstream_kernels::hash::hash_columns(keys, &mut hashes)?;
                Ok((Some(conv.convert_columns(keys)?), hashes))
            }
            _ => Ok((None, vec![0; n])),
        }
    }

    pub(super) fn encode(
        &self,
        side: usize,
        data: RecordBatch,
        ops: Option<Int8Array>,
    ) -> Result<Input> {
        let Some(b) = &self.sides[side] else {
            return Err(Error::Internal("semi join: input not bound".into()));
        };
        let n = data.num_rows();
        let keys: Vec<ArrayRef> = b.key_idx.iter().map(|&i| data.column(i).clone()).collect();
        let mut valid: Option<NullBuffer> = None;
        for k in &keys {
            valid = NullBuffer::union(valid.as_ref(), k.logical_nulls().as_ref());
        }
        let (rows, hashes) = self.encode_keys(&keys, n)?;
        let full = match &b.full {
            Some(conv) => Some(conv.convert_columns(data.columns())?),
            None => None,
        };
        let full_hashes = full.as_ref().map_or_else(Vec::new, |rows| {
            rows.iter()
                .map(|r| self.row_hasher.hash_one(r.data()))
                .collect()
        });
        let mut valid = valid.filter(|v| v.null_count() > 0).map(|v| v.into_inner());
        if let (0, Some(f)) = (side, &self.left_filter) {
            // Rows the filter rejects can never match, like rows with a null key.
            let holds = holds(f, &data, "left filter")?;
            valid = Some(match valid {
                Some(v) => &v & &holds,
                None => holds,
            });
        }
        Ok(Input {
            data,
            ops,
            keys: rows,
            hashes,
            valid,
            full,
            full_hashes,
        })
    }
}
