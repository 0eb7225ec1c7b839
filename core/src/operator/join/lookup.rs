//! The lookup join: SQL `s JOIN d FOR SYSTEM_TIME AS OF s.proc_time AS d ON s.k = d.k`
//! (Flink's `LookupJoin` over a table source that caches the whole table, as its
//! filesystem connector does).
//!
//! Each subtask loads the whole dimension table once, before it probes its first stream row,
//! by reading the table's source to its end; its rows go into one batch and a key index
//! (key bytes → row indices). Stream batches are then probed whole and never kept: the join
//! holds no state but the table, takes no part in checkpoints (a restored subtask loads the
//! table again) and its output is insert-only. An inner join emits one row per match; a
//! left join emits an unmatched stream row (or one with a NULL key) once, padded with NULLs.
//! Output rows keep the order of their stream rows. Watermarks pass through (a probe never
//! waits for one). The table is read as it is when the subtask starts and is not reloaded
//! (Flink reloads its cache after `lookup.join.cache-ttl`); it must be bounded.
//!
//! **Cost.** Loading is one pass over the table plus one index insert per row; a stream
//! batch of `n` rows with `m` matches costs `n` key encodings, hashes and probes and one
//! `take` per output column over `m` (or, left join, `m` plus unmatched) rows. Memory: the
//! table's rows and its key index, per subtask.
//!
//! ```text
//!  dimension source ─▶ (read to its end, once per subtask) ─▶ rows + KeyIndex
//!  stream batch ─▶ encode keys ─▶ probe ─▶ (stream row, table row | none) pairs
//!              ─▶ one `take` per column on each side ─▶ output batch
//! ```

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, RecordBatch, UInt32Array};
use arrow::compute::{concat_batches, take};
use arrow::datatypes::{Field, Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};

use super::KeyIndex;
use crate::batch::column_index;
use crate::batch::BatchConfig;
use crate::connector::{SourceContext, SourceFactoryRef, SourcePoll};
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, Output};

/// The dimension table, loaded.
struct Table {
    rows: RecordBatch,
    /// Key bytes → indices of the rows with that key (rows with a NULL key are left out).
    index: KeyIndex<Vec<u32>>,
    converter: RowConverter,
    output: SchemaRef,
    /// Stream-side key column indices, bound at the first batch.
    stream_keys: Vec<usize>,
}

/// The runtime operator of a lookup join; see the [module docs](self).
pub struct LookupJoin {
    stream_keys: Vec<String>,
    table_keys: Vec<String>,
    source: SourceFactoryRef,
    left_outer: bool,
    table: Option<Table>,
    hashes: Vec<u64>,
}

impl LookupJoin {
    /// A join of the input stream's `stream_keys` columns with the `table_keys` columns of
    /// the table `source` reads (same number, same types); `left_outer` keeps unmatched
    /// stream rows, padded with NULLs.
    ///
    /// # Errors
    /// [`Error::Plan`] for no key or key lists of different lengths.
    pub fn new(
        stream_keys: Vec<String>,
        table_keys: Vec<String>,
        source: SourceFactoryRef,
        left_outer: bool,
    ) -> Result<Self> {
        if stream_keys.is_empty() || stream_keys.len() != table_keys.len() {
            return Err(Error::Plan(format!(
                "lookup join: need the same non-zero number of keys on both sides, got {} and {}",
                stream_keys.len(),
                table_keys.len()
            )));
        }
        Ok(LookupJoin {
            stream_keys,
            table_keys,
            source,
            left_outer,
            table: None,
            hashes: Vec::new(),
        })
    }

    /// Reads the whole table and indexes it; binds the stream side to `stream`.
    fn load(&self, stream: &SchemaRef) -> Result<Table> {
        let ctx = SourceContext {
            subtask: 0,
            parallelism: 1,
            batch: BatchConfig::default(),
        };
        let mut source = self.source.create(&ctx)?;
        let schema = self.source.schema();
        let mut batches = Vec::new();
        loop {
            match source.poll()? {
                SourcePoll::Batch(b) => batches.push(b),
                SourcePoll::Pending(d) => std::thread::sleep(d.max(Duration::from_millis(1))),
                SourcePoll::End => break,
            }
        }
        let rows = concat_batches(&schema, &batches)?;
        let table_keys: Vec<usize> = self
            .table_keys
            .iter()
            .map(|k| column_index(&schema, k))
            .collect::<Result<_>>()?;
        let stream_keys: Vec<usize> = self
            .stream_keys
            .iter()
            .map(|k| column_index(stream, k))
            .collect::<Result<_>>()?;
        for (&s, &t) in stream_keys.iter().zip(&table_keys) {
            let (a, b) = (stream.field(s), schema.field(t));
            if a.data_type() != b.data_type() {
                return Err(Error::Schema(format!(
                    "lookup join: key '{}' is {} but the table's '{}' is {}",
                    a.name(),
                    a.data_type(),
                    b.name(),
                    b.data_type()
                )));
            }
        }
        let keys: Vec<ArrayRef> = table_keys.iter().map(|&i| rows.column(i).clone()).collect();
        let converter = RowConverter::new(
            keys.iter()
                .map(|k| SortField::new(k.data_type().clone()))
                .collect(),
        )?;
        let encoded = converter.convert_columns(&keys)?;
        let mut hashes = Vec::new();
        millstream_kernels::hash::hash_columns(&keys, &mut hashes)?;
        let valid = valid_keys(&keys);
        let mut index: KeyIndex<Vec<u32>> = KeyIndex::new();
        for (i, &h) in hashes.iter().enumerate() {
            if valid.as_ref().is_some_and(|v| v.is_null(i)) {
                continue;
            }
            index
                .get_or_insert_with(h, encoded.row(i).as_ref(), Vec::new)
                .push(i as u32);
        }
        let mut fields: Vec<Field> = stream.fields().iter().map(|f| f.as_ref().clone()).collect();
        for f in schema.fields() {
            let clash = stream.fields().iter().any(|s| s.name() == f.name());
            let name = if clash {
                format!("{}_right", f.name())
            } else {
                f.name().clone()
            };
            fields.push(
                f.as_ref()
                    .clone()
                    .with_name(name)
                    .with_nullable(f.is_nullable() || self.left_outer),
            );
        }
        Ok(Table {
            rows,
            index,
            converter,
            output: Arc::new(Schema::new(fields)),
            stream_keys,
        })
    }

    /// The output rows of one stream batch.
    fn probe(&mut self, batch: &RecordBatch) -> Result<Option<RecordBatch>> {
        let Some(t) = self.table.as_ref() else {
            return Err(Error::Internal(
                "lookup join: probing before loading".into(),
            ));
        };
        let keys: Vec<ArrayRef> = t
            .stream_keys
            .iter()
            .map(|&i| batch.column(i).clone())
            .collect();
        let encoded = t.converter.convert_columns(&keys)?;
        millstream_kernels::hash::hash_columns(&keys, &mut self.hashes)?;
        let valid = valid_keys(&keys);
        let mut stream_rows: Vec<u32> = Vec::with_capacity(batch.num_rows());
        let mut table_rows: Vec<Option<u32>> = Vec::with_capacity(batch.num_rows());
        for (i, &h) in self.hashes.iter().enumerate() {
            let matches = if valid.as_ref().is_some_and(|v| v.is_null(i)) {
                None
            } else {
                t.index.get(h, encoded.row(i).as_ref())
            };
            match matches {
                Some(rows) => {
                    for &r in rows {
                        stream_rows.push(i as u32);
                        table_rows.push(Some(r));
                    }
                }
                None if self.left_outer => {
                    stream_rows.push(i as u32);
                    table_rows.push(None);
                }
                None => {}
            }
        }
        if stream_rows.is_empty() {
            return Ok(None);
        }
        let s = UInt32Array::from(stream_rows);
        let r = UInt32Array::from(table_rows);
        let mut columns: Vec<ArrayRef> = Vec::with_capacity(t.output.fields().len());
        for c in batch.columns() {
            columns.push(take(c.as_ref(), &s, None)?);
        }
        for c in t.rows.columns() {
            columns.push(take(c.as_ref(), &r, None)?);
        }
        Ok(Some(RecordBatch::try_new(t.output.clone(), columns)?))
    }
}

/// The rows whose key columns are all non-null (`None`: every row), one mask per batch.
fn valid_keys(keys: &[ArrayRef]) -> Option<arrow::buffer::NullBuffer> {
    keys.iter().fold(None, |acc, k| {
        arrow::buffer::NullBuffer::union(acc.as_ref(), k.logical_nulls().as_ref())
    })
}

impl Operator for LookupJoin {
    fn on_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if self.table.is_none() {
            self.table = Some(self.load(&batch.schema())?);
        }
        if let Some(b) = self.probe(&batch)? {
            out.emit(b);
        }
        Ok(())
    }
}
