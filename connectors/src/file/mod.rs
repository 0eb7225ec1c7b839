//! File sources and sinks: CSV, JSON lines and debezium-json read in parallel by byte ranges,
//! Parquet by row groups (module [`parquet`]), partitioned directories (module [`partition`]).
//!
//! A file source lists its input (one file, or every visible file under a directory, sorted,
//! as Flink's filesystem source), cuts each file into chunks of about 4 MiB, and lets subtask
//! `i` of `p` decode chunks `i, i + p, ...`. A read-ahead thread per subtask maps the next
//! chunk read-only (module `mapped`; `read()` where mapping fails) while the current one
//! decodes, and arrow's readers, or the CSV split path, do the decoding:
//!
//! ```text
//!  file ─▶ [chunk 0][chunk 1][chunk 2][chunk 3] ...   cut at newlines; a chunk owns the lines
//!             │         │                             that start inside it
//!             ▼         ▼
//!        read-ahead  read-ahead          (one thread per subtask, one chunk ahead)
//!             │         │
//!             ▼         ▼
//!         arrow csv / json decoder, batch_size rows at a time, projected columns only
//!             │   └─ error ─▶ bisect the batch's lines ─▶ bad line: Fail | Skip | SideOutput
//!             ▼
//!        RecordBatch ─▶ downstream          error rows ─▶ Source::take_error_rows
//! ```
//!
//! Line numbers are only computed on the error path: the newlines before the chunk are
//! counted then, so the fast path never counts lines. Records must not contain line breaks
//! inside quoted fields (the chunks are cut at newlines).
//!
//! Checkpoints: a source subtask's position is the byte ranges it has not yet returned
//! (module `position`); a restore at any parallelism shares them out so each remaining line
//! is read once, and error messages keep absolute line numbers.
//!
//! The sinks ([`CsvSinkFactory`], [`JsonSinkFactory`], [`ParquetSinkFactory`],
//! [`DebeziumJsonSinkFactory`]) write hidden in-progress part files into a directory (or
//! into its partition directories, `dt=2020-01-01/`, with [`Partitioning`]) and make them
//! visible by a two-phase commit: closed at each checkpoint, renamed to
//! `c<checkpoint>-part-<attempt>-<subtask>-<seq>.<ext>` once it completes.

pub mod changelog;
mod chunks;
mod csv;
mod csv_compact;
mod csv_split;
#[cfg(test)]
mod filter_tests;
mod json;
mod json_value;
mod mapped;
pub mod parquet;
pub mod partition;
mod position;
mod sink;
mod source;
#[cfg(test)]
mod tests;
mod timestamp;

use arrow::datatypes::{DataType, TimeUnit};

pub use self::changelog::{DebeziumJsonSourceFactory, OP_COLUMN};
pub use self::csv::{CsvOptions, CsvSourceFactory};
pub use self::json::{JsonOptions, JsonSourceFactory};
pub use self::parquet::ParquetSourceFactory;
pub use self::partition::{
    escape_path_name, unescape_path_name, Partitioning, DEFAULT_PARTITION_NAME,
};
pub use self::sink::{
    CsvSinkFactory, DebeziumJsonSinkFactory, JsonSinkFactory, ParquetSinkFactory,
};

/// Default size of the byte ranges a file is split into.
pub const DEFAULT_CHUNK_SIZE: usize = 4 << 20;

/// What a file source does with a row it cannot decode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// Fail the job with [`Error::Data`](millstream_core::error::Error::Data) naming the file,
    /// line and column.
    #[default]
    Fail,
    /// Drop the row and count it (see the factory's `bad_rows()`).
    Skip,
    /// Send the row to the source's error side output
    /// ([`Source::take_error_rows`](millstream_core::connector::Source::take_error_rows),
    /// schema [`error_rows_schema`](millstream_core::connector::error_rows_schema)) and count
    /// it.
    SideOutput,
}

/// The Flink SQL name of an arrow type, for error messages (`BIGINT` for `Int64`...).
pub(crate) fn sql_type(t: &DataType) -> String {
    match t {
        DataType::Boolean => "BOOLEAN".into(),
        DataType::Int8 => "TINYINT".into(),
        DataType::Int16 => "SMALLINT".into(),
        DataType::Int32 => "INT".into(),
        DataType::Int64 => "BIGINT".into(),
        DataType::Float32 => "FLOAT".into(),
        DataType::Float64 => "DOUBLE".into(),
        DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => "VARCHAR".into(),
        DataType::Date32 | DataType::Date64 => "DATE".into(),
        DataType::Decimal128(p, s) | DataType::Decimal256(p, s) => format!("DECIMAL({p}, {s})"),
        DataType::Timestamp(unit, tz) => {
            let p = match unit {
                TimeUnit::Second => 0,
                TimeUnit::Millisecond => 3,
                TimeUnit::Microsecond => 6,
                TimeUnit::Nanosecond => 9,
            };
            if tz.is_some() {
                format!("TIMESTAMP_LTZ({p})")
            } else {
                format!("TIMESTAMP({p})")
            }
        }
        other => other.to_string(),
    }
}
