//! The JSON-lines file source: arrow's JSON decoder over chunks of the file.
//!
//! One JSON object per line. Fields not in the schema are ignored, so a projection is just
//! a smaller schema. Timestamps may be strings arrow can parse
//! (`2015-07-15 00:00:00.000`, ISO 8601) or integers (milliseconds).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, RecordBatchOptions};
use arrow::datatypes::{
    DataType, Field, Schema, SchemaRef, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType,
};
use arrow::error::ArrowError;
use arrow::json::reader::Decoder;
use arrow::json::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use millstream_core::connector::{Source, SourceContext, SourceFactory};
use millstream_core::error::Result;

use super::partition::{Partitioning, SourceColumns};
use super::source::{decode_all, BatchDecoder, FileSettings, LineFormat};
use super::{sql_type, OnError};

/// Options of a [`JsonSourceFactory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct JsonOptions {
    /// What to do with a line that does not decode.
    pub on_error: OnError,
}

/// A [`SourceFactory`] reading JSON-lines files in parallel, chunked like
/// [`CsvSourceFactory`](super::CsvSourceFactory).
///
/// # Example
/// ```no_run
/// use std::sync::Arc;
/// use arrow::datatypes::{DataType, Field, Schema};
/// use millstream_connectors::file::{JsonOptions, JsonSourceFactory};
///
/// let schema = Arc::new(Schema::new(vec![Field::new("price", DataType::Int64, true)]));
/// let source = JsonSourceFactory::new("data/bids.jsonl", schema, JsonOptions::default());
/// ```
///
/// # Errors
/// As [`CsvSourceFactory`](super::CsvSourceFactory): [`Error::Io`] for a missing path,
/// [`Error::Data`] with the absolute line (and the field, when one is at fault) for a bad
/// line in [`OnError::Fail`] mode.
///
/// [`Error::Io`]: millstream_core::error::Error::Io
/// [`Error::Data`]: millstream_core::error::Error::Data
#[derive(Debug, Clone)]
pub struct JsonSourceFactory {
    settings: FileSettings,
    columns: SourceColumns,
    output: SchemaRef,
}

impl JsonSourceFactory {
    /// A JSON-lines source over `path` (file or directory) whose objects have `schema`.
    pub fn new(path: impl Into<PathBuf>, schema: SchemaRef, options: JsonOptions) -> Self {
        JsonSourceFactory {
            settings: FileSettings::new(path.into(), "json source", false, options.on_error),
            output: schema.clone(),
            columns: SourceColumns::new(schema),
        }
    }

    /// Decodes only `columns`, in that order.
    ///
    /// # Errors
    /// [`Error::Plan`] for a column not in the schema.
    ///
    /// [`Error::Plan`]: millstream_core::error::Error::Plan
    pub fn with_projection<S: AsRef<str>>(mut self, columns: &[S]) -> Result<Self> {
        let (indices, _) = self.settings.project(self.columns.table(), columns)?;
        self.columns.set_projection(indices);
        self.refresh();
        Ok(self)
    }

    /// Takes the columns of `partitioning` from the partition directories, as
    /// [`CsvSourceFactory::with_partitioning`](super::CsvSourceFactory::with_partitioning).
    ///
    /// # Errors
    /// [`Error::Plan`] for a partition column not in the schema.
    ///
    /// [`Error::Plan`]: millstream_core::error::Error::Plan
    pub fn with_partitioning(mut self, partitioning: Partitioning) -> Result<Self> {
        self.columns.set_partitioning(partitioning, "json source")?;
        self.refresh();
        Ok(self)
    }

    fn refresh(&mut self) {
        self.output = self.columns.output();
        self.settings.partitions = self.columns.layout(&self.settings.path, "json source");
    }

    /// How to decode the lines: the projected file columns.
    fn format(&self) -> Result<JsonFormat> {
        let file = self.columns.file_schema();
        Ok(JsonFormat {
            schema: Arc::new(file.project(&self.columns.file_projection(true))?),
        })
    }

    /// Size of the byte ranges the files are split into (default 4 MiB).
    pub fn with_chunk_size(mut self, bytes: usize) -> Self {
        self.settings.set_chunk_size(bytes);
        self
    }

    /// Whether the files are memory-mapped (the default) or read into buffers. Mapping saves
    /// a copy of every byte; input files must not change while a job reads them either way
    /// (a mapped file truncated meanwhile ends the process with `SIGBUS`), so switch it off
    /// for files another process may rewrite in place.
    pub fn with_memory_map(mut self, map: bool) -> Self {
        self.settings.set_memory_map(map);
        self
    }

    /// Lines skipped or sent to the side output so far, across all subtasks.
    pub fn bad_rows(&self) -> u64 {
        self.settings.bad_rows()
    }

    /// The file or directory read.
    pub fn path(&self) -> &Path {
        self.settings.path()
    }
}

impl SourceFactory for JsonSourceFactory {
    fn name(&self) -> String {
        format!("json({})", self.settings.path.display())
    }

    fn schema(&self) -> SchemaRef {
        self.output.clone()
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        self.settings.create(Arc::new(self.format()?), ctx)
    }

    /// Resumes after the last batch every old subtask returned, as
    /// [`CsvSourceFactory`](super::CsvSourceFactory) does.
    ///
    /// # Errors
    /// [`Error::Connector`](millstream_core::error::Error::Connector) for missing,
    /// unreadable or inconsistent positions or a file whose length changed.
    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        self.settings
            .restore(Arc::new(self.format()?), ctx, positions)
    }
}

/// How to decode the JSON lines of one source.
struct JsonFormat {
    schema: SchemaRef,
}

/// Arrow's JSON decoder; timestamps with a time zone are decoded without one (arrow parses
/// zone names only with its `chrono-tz` feature) and labeled with it afterwards.
pub(crate) struct JsonDecoder {
    inner: Decoder,
    /// The schema to label batches with, when it differs from the decoded one.
    output: Option<SchemaRef>,
}

impl BatchDecoder for JsonDecoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        self.inner.decode(buf)
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        let Some(batch) = self.inner.flush()? else {
            return Ok(None);
        };
        let Some(output) = &self.output else {
            return Ok(Some(batch));
        };
        let columns = batch
            .columns()
            .iter()
            .zip(output.fields())
            .map(|(c, f)| with_zone(c, f.data_type()))
            .collect::<Result<Vec<_>, ArrowError>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(output.clone(), columns, &options).map(Some)
    }
}

/// `column` (a timestamp without a zone, when `t` has one) labeled as `t`; the instants
/// stay.
fn with_zone(column: &ArrayRef, t: &DataType) -> Result<ArrayRef, ArrowError> {
    let DataType::Timestamp(unit, Some(tz)) = t else {
        return Ok(column.clone());
    };
    let tz = tz.clone();
    Ok(match unit {
        TimeUnit::Second => Arc::new(
            column
                .as_primitive::<TimestampSecondType>()
                .clone()
                .with_timezone(tz),
        ),
        TimeUnit::Millisecond => Arc::new(
            column
                .as_primitive::<TimestampMillisecondType>()
                .clone()
                .with_timezone(tz),
        ),
        TimeUnit::Microsecond => Arc::new(
            column
                .as_primitive::<TimestampMicrosecondType>()
                .clone()
                .with_timezone(tz),
        ),
        TimeUnit::Nanosecond => Arc::new(
            column
                .as_primitive::<TimestampNanosecondType>()
                .clone()
                .with_timezone(tz),
        ),
    })
}

pub(crate) fn json_decoder(
    schema: SchemaRef,
    batch_size: usize,
) -> Result<JsonDecoder, ArrowError> {
    let zoned = |f: &Field| matches!(f.data_type(), DataType::Timestamp(_, Some(_)));
    let (read, output) = if schema.fields().iter().any(|f| zoned(f)) {
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| match f.data_type() {
                DataType::Timestamp(unit, Some(_)) => f
                    .as_ref()
                    .clone()
                    .with_data_type(DataType::Timestamp(*unit, None)),
                _ => f.as_ref().clone(),
            })
            .collect();
        (Arc::new(Schema::new(fields)), Some(schema))
    } else {
        (schema, None)
    };
    Ok(JsonDecoder {
        inner: ReaderBuilder::new(read)
            .with_batch_size(batch_size)
            .build_decoder()?,
        output,
    })
}

/// Why the JSON object `line` does not decode as `schema`: the field at fault (the first that
/// fails alone) and what it holds; `err` when no single field fails.
pub(crate) fn diagnose_object(
    schema: &Schema,
    line: &[u8],
    err: &ArrowError,
) -> (Option<String>, String) {
    let value: serde_json::Value = match serde_json::from_slice(line) {
        Ok(v) => v,
        Err(e) => return (None, format!("invalid JSON: {e}")),
    };
    let Some(object) = value.as_object() else {
        return (None, format!("expected a JSON object, got {value}"));
    };
    // Decode the fields one at a time: the first that fails is at fault.
    for field in schema.fields() {
        let single = Arc::new(Schema::new(vec![field.clone()]));
        let fails = json_decoder(single, 1)
            .and_then(|mut d| decode_all(&mut d, line))
            .is_err();
        if fails {
            let got = object
                .get(field.name())
                .map_or_else(|| "no value".to_string(), |v| v.to_string());
            let t = field.data_type();
            return (
                Some(field.name().clone()),
                format!("expected {} ({t}), got {got}", sql_type(t)),
            );
        }
    }
    (None, err.to_string())
}

impl LineFormat for JsonFormat {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn decoder(&self, batch_size: usize) -> Result<Box<dyn BatchDecoder>, ArrowError> {
        Ok(Box::new(json_decoder(self.schema.clone(), batch_size)?))
    }

    fn diagnose(&self, line: &[u8], err: &ArrowError) -> (Option<String>, String) {
        diagnose_object(&self.schema, line, err)
    }
}
