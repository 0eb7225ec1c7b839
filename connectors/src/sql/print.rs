//! `'connector' = 'print'` and `'connector' = 'blackhole'`: the two sinks for looking at, or
//! throwing away, a query's changelog.
//!
//! `print` writes one line per row as Flink's print connector does: the row kind, then the
//! values as Java's `toString` spells them (`+I[1, abc, 2020-01-01T00:00]`), after a prefix
//! of the `print-identifier` and, when the sink runs in parallel, the subtask number counted
//! from 1 (`id:2> `; Flink's `PrintSinkOutputWriter`). Differences from Flink: lines are
//! written a batch at a time, so the rows of two subtasks interleave by batch rather than by
//! row; `sink.parallelism` is not an option (the sink runs at the job's parallelism).

use std::io::Write as _;
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch};
use arrow::datatypes::{DataType, Int8Type};
use millstream_core::connector::{Sink, SinkFactory, SinkFactoryRef, SourceFactoryRef};
use millstream_core::error::{Error, Result};
use millstream_core::sql::{RowKind, TableConnector, TableDef};

use super::format::{ValueFormatter, ValueStyle};
use super::{bool_option, check_options};

const PRINT_OPTIONS: &[&str] = &["print-identifier", "standard-error"];

/// The `print` sink connector: options `print-identifier` (a prefix of every line) and
/// `standard-error` (`true`: print to stderr). Accepts updates: a changelog batch carries
/// its row kinds as a trailing `Int8` column of [`RowKind`] codes after the table's columns,
/// and each line starts with the kind (`-U[...]`, `+U[...]`).
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Int64Array, StringArray};
/// use arrow::record_batch::RecordBatch;
/// use millstream_connectors::sql::PrintConnector;
///
/// let batch = RecordBatch::try_from_iter([
///     ("id", Arc::new(Int64Array::from(vec![1, 2])) as _),
///     ("name", Arc::new(StringArray::from(vec![Some("abc"), None])) as _),
/// ])?;
/// let text = PrintConnector::format_batch(&batch, 2, "");
/// assert_eq!(text, "+I[1, abc]\n+I[2, null]\n");
/// # Ok::<(), arrow::error::ArrowError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintConnector;

impl PrintConnector {
    /// The lines `print` writes for `batch`, whose first `columns` columns are the table's
    /// (a further `Int8` column, if any, holds the row kinds), each line after `prefix`.
    pub fn format_batch(batch: &RecordBatch, columns: usize, prefix: &str) -> String {
        let columns = columns.min(batch.num_columns());
        let kinds = (batch.num_columns() == columns + 1)
            .then(|| batch.column(columns))
            .filter(|k| k.data_type() == &DataType::Int8)
            .map(|k| k.as_primitive::<Int8Type>());
        let formatters: Vec<ValueFormatter<'_>> = batch.columns()[..columns]
            .iter()
            .map(|c| ValueFormatter::new(c.as_ref(), ValueStyle::Java))
            .collect();
        let mut text = String::with_capacity(batch.num_rows() * (16 + 8 * columns));
        for row in 0..batch.num_rows() {
            let kind = match kinds {
                Some(k) if k.is_valid(row) => RowKind::from_code(k.value(row)),
                _ => RowKind::Insert,
            };
            text.push_str(prefix);
            text.push_str(kind.short());
            text.push('[');
            for (i, f) in formatters.iter().enumerate() {
                if i > 0 {
                    text.push_str(", ");
                }
                if !f.write(row, &mut text) {
                    text.push_str("null");
                }
            }
            text.push_str("]\n");
        }
        text
    }
}

impl TableConnector for PrintConnector {
    fn validate(&self, table: &TableDef) -> Result<()> {
        check_options(
            table,
            "print",
            |k| PRINT_OPTIONS.contains(&k),
            PRINT_OPTIONS,
        )?;
        bool_option(table, "standard-error").map(|_| ())
    }

    fn source(&self, table: &TableDef, _projection: &[String]) -> Result<SourceFactoryRef> {
        Err(Error::Unsupported(format!(
            "table '{}': print is a sink; it cannot be read",
            table.name
        )))
    }

    fn sink(&self, table: &TableDef) -> Result<SinkFactoryRef> {
        self.validate(table)?;
        Ok(Arc::new(PrintSinkFactory {
            table: table.name.clone(),
            identifier: table
                .option("print-identifier")
                .unwrap_or_default()
                .to_string(),
            stderr: bool_option(table, "standard-error")?.unwrap_or(false),
            columns: table.columns.len(),
        }))
    }

    fn accepts_updates(&self) -> bool {
        true
    }
}

/// The sink factory of one `print` table.
#[derive(Debug, Clone)]
struct PrintSinkFactory {
    table: String,
    identifier: String,
    stderr: bool,
    columns: usize,
}

impl SinkFactory for PrintSinkFactory {
    fn name(&self) -> String {
        format!("print({})", self.table)
    }

    fn create(&self, subtask: usize, parallelism: usize) -> Result<Box<dyn Sink>> {
        Ok(Box::new(PrintSink {
            prefix: line_prefix(&self.identifier, subtask, parallelism),
            stderr: self.stderr,
            columns: self.columns,
        }))
    }
}

/// The prefix of each line: `identifier`, then `:` and the 1-based subtask when parallel,
/// then `> ` unless both are absent (Flink's `PrintSinkOutputWriter`).
fn line_prefix(identifier: &str, subtask: usize, parallelism: usize) -> String {
    let mut prefix = identifier.to_string();
    if parallelism > 1 {
        if !prefix.is_empty() {
            prefix.push(':');
        }
        prefix.push_str(&(subtask + 1).to_string());
    }
    if !prefix.is_empty() {
        prefix.push_str("> ");
    }
    prefix
}

struct PrintSink {
    prefix: String,
    stderr: bool,
    columns: usize,
}

impl Sink for PrintSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let text = PrintConnector::format_batch(batch, self.columns, &self.prefix);
        let written = if self.stderr {
            std::io::stderr().lock().write_all(text.as_bytes())
        } else {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes()).and_then(|()| out.flush())
        };
        written.map_err(|e| {
            Error::io(
                if self.stderr {
                    "print sink: stderr"
                } else {
                    "print sink: stdout"
                },
                e,
            )
        })
    }
}

/// The `blackhole` sink connector: discards every row (for measuring a query without its
/// output). No options; accepts updates.
#[derive(Debug, Clone, Copy, Default)]
pub struct BlackholeConnector;

impl TableConnector for BlackholeConnector {
    fn validate(&self, table: &TableDef) -> Result<()> {
        check_options(table, "blackhole", |_| false, &[])
    }

    fn source(&self, table: &TableDef, _projection: &[String]) -> Result<SourceFactoryRef> {
        Err(Error::Unsupported(format!(
            "table '{}': blackhole is a sink; it cannot be read",
            table.name
        )))
    }

    fn sink(&self, table: &TableDef) -> Result<SinkFactoryRef> {
        self.validate(table)?;
        Ok(Arc::new(millstream_core::operator::sink::BlackholeSink))
    }

    fn accepts_updates(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::line_prefix;

    #[test]
    fn prefixes_name_the_identifier_and_the_subtask() {
        assert_eq!(line_prefix("", 0, 1), "");
        assert_eq!(line_prefix("", 1, 4), "2> ");
        assert_eq!(line_prefix("id", 0, 1), "id> ");
        assert_eq!(line_prefix("id", 3, 4), "id:4> ");
    }
}
