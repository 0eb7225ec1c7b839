//! What a SQL statement returns: a message, rows, a plan, or a finished job.
//!
//! Query results are changelogs, as in Flink: each batch carries the kind of each row
//! (`+I` insert, `-U` update-before, `+U` update-after, `-D` delete). An insert-only query
//! returns batches whose rows are all `+I` ([`ChangeBatch::kinds`] is `None`);
//! [`QueryResult::final_rows`] applies the changelog and gives the rows that remain.

use arrow::array::{Int8Array, RecordBatch};
use arrow::compute::concat_batches;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::row::{RowConverter, SortField};
use std::sync::Arc;

use crate::error::Result;
use crate::runtime::JobResult;
use crate::sql::types::Column;

/// The kind of a changelog row (Flink's `RowKind`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum RowKind {
    /// `+I`: a new row.
    Insert = 0,
    /// `-U`: the old version of an updated row.
    UpdateBefore = 1,
    /// `+U`: the new version of an updated row.
    UpdateAfter = 2,
    /// `-D`: a removed row.
    Delete = 3,
}

impl RowKind {
    /// Flink's short string: `+I`, `-U`, `+U`, `-D`.
    pub fn short(self) -> &'static str {
        match self {
            RowKind::Insert => "+I",
            RowKind::UpdateBefore => "-U",
            RowKind::UpdateAfter => "+U",
            RowKind::Delete => "-D",
        }
    }

    /// The kind stored as `code` in a kinds column.
    pub fn from_code(code: i8) -> RowKind {
        match code {
            1 => RowKind::UpdateBefore,
            2 => RowKind::UpdateAfter,
            3 => RowKind::Delete,
            _ => RowKind::Insert,
        }
    }

    /// Whether the row adds to the result (`+I`, `+U`) rather than retracting.
    pub fn is_accumulate(self) -> bool {
        matches!(self, RowKind::Insert | RowKind::UpdateAfter)
    }
}

/// Rows of a changelog with their kinds.
#[derive(Debug, Clone)]
pub struct ChangeBatch {
    /// The kind of each row (codes of [`RowKind`]); `None` when every row is an insert.
    pub kinds: Option<Int8Array>,
    /// The rows.
    pub rows: RecordBatch,
}

impl ChangeBatch {
    /// A batch of a planned stream: when `updating`, its last column holds the row kinds
    /// (the planner's `$op` column) and is split off into [`ChangeBatch::kinds`].
    ///
    /// # Errors
    /// An updating batch whose last column is not Int8.
    pub fn from_stream_batch(batch: RecordBatch, updating: bool) -> Result<ChangeBatch> {
        if !updating {
            return Ok(ChangeBatch {
                kinds: None,
                rows: batch,
            });
        }
        let last = batch.num_columns().checked_sub(1).ok_or_else(|| {
            crate::error::Error::Internal("updating batch without its row kinds".into())
        })?;
        let kinds = batch
            .column(last)
            .as_any()
            .downcast_ref::<Int8Array>()
            .ok_or_else(|| crate::error::Error::Internal("row kinds are not Int8".into()))?
            .clone();
        let rows = batch.project(&(0..last).collect::<Vec<_>>())?;
        Ok(ChangeBatch {
            kinds: Some(kinds),
            rows,
        })
    }

    /// The kind of row `i`.
    pub fn kind(&self, i: usize) -> RowKind {
        match &self.kinds {
            Some(k) => RowKind::from_code(k.value(i)),
            None => RowKind::Insert,
        }
    }
}

/// The result of a query: its columns and its changelog.
#[derive(Debug, Clone)]
pub struct QueryResult {
    /// The result columns, with SQL types.
    pub columns: Vec<Column>,
    /// The changelog, in arrival order.
    pub changes: Vec<ChangeBatch>,
    /// The job that computed it (`None` for `SHOW`/`DESCRIBE`, answered from the catalog,
    /// and for a live query that was cancelled).
    pub job: Option<JobResult>,
    /// Whether a query observer was shown the rows while the job ran (see
    /// [`TableEnvironment::set_query_observer`](super::TableEnvironment::set_query_observer)).
    pub live: bool,
}

impl QueryResult {
    /// The Arrow schema of the rows.
    pub fn schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| c.field(&c.name))
                .collect::<Vec<_>>(),
        ))
    }

    /// Whether any row is not an insert.
    pub fn is_updating(&self) -> bool {
        self.changes.iter().any(|c| {
            c.kinds
                .as_ref()
                .is_some_and(|k| k.values().iter().any(|&v| v != 0))
        })
    }

    /// The rows that remain after applying the changelog: each `-U`/`-D` removes one equal
    /// row added before; `+I`/`+U` add one. Order: the order rows were added in.
    ///
    /// # Errors
    /// The batches do not share one schema.
    pub fn final_rows(&self) -> Result<RecordBatch> {
        let schema = self.schema();
        if !self.is_updating() {
            let batches: Vec<RecordBatch> = self.changes.iter().map(|c| c.rows.clone()).collect();
            return Ok(concat_batches(&schema, &batches)?);
        }
        let fields = schema
            .fields()
            .iter()
            .map(|f| SortField::new(f.data_type().clone()))
            .collect();
        let converter = RowConverter::new(fields)?;
        // (batch, row) of every live row, by encoded row; a retraction removes the latest.
        let mut live: Vec<Option<(usize, usize)>> = Vec::new();
        let mut index: std::collections::HashMap<Vec<u8>, Vec<usize>> = Default::default();
        for (b, change) in self.changes.iter().enumerate() {
            let rows = converter.convert_columns(change.rows.columns())?;
            for i in 0..change.rows.num_rows() {
                let key = rows.row(i).as_ref().to_vec();
                if change.kind(i).is_accumulate() {
                    index.entry(key).or_default().push(live.len());
                    live.push(Some((b, i)));
                } else if let Some(slot) = index.get_mut(&key).and_then(Vec::pop) {
                    live[slot] = None;
                }
            }
        }
        let indices: Vec<(usize, usize)> = live.into_iter().flatten().collect();
        if indices.is_empty() {
            return Ok(RecordBatch::new_empty(schema));
        }
        let columns = (0..schema.fields().len())
            .map(|c| {
                let arrays: Vec<&dyn arrow::array::Array> = self
                    .changes
                    .iter()
                    .map(|b| b.rows.column(c).as_ref())
                    .collect();
                arrow::compute::interleave(&arrays, &indices)
            })
            .collect::<std::result::Result<Vec<_>, _>>()?;
        Ok(RecordBatch::try_new(schema, columns)?)
    }
}

/// What one statement returned.
#[derive(Debug)]
pub enum StatementResult {
    /// A statement with no rows (`CREATE TABLE`, `SET`...): Flink's `[INFO]` message.
    Done(String),
    /// Rows: a `SELECT`, `SHOW TABLES`, `DESCRIBE`.
    Rows(QueryResult),
    /// The text of `EXPLAIN`.
    Explain(String),
    /// An `INSERT` or `EXECUTE STATEMENT SET`, run to its end.
    Job(JobResult),
}
