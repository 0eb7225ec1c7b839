//! The JSON-lines file source: arrow's JSON decoder over chunks of the file.
//!
//! One JSON object per line. Fields not in the schema are ignored, so a projection is just
//! a smaller schema. Timestamps may be strings arrow can parse
//! (`2015-07-15 00:00:00.000`, ISO 8601) or integers (milliseconds).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use arrow::json::reader::Decoder;
use arrow::json::ReaderBuilder;
use arrow::record_batch::RecordBatch;
use millstream_core::connector::{Source, SourceContext, SourceFactory};
use millstream_core::error::Result;

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
    schema: SchemaRef,
    output: SchemaRef,
}

impl JsonSourceFactory {
    /// A JSON-lines source over `path` (file or directory) whose objects have `schema`.
    pub fn new(path: impl Into<PathBuf>, schema: SchemaRef, options: JsonOptions) -> Self {
        JsonSourceFactory {
            settings: FileSettings::new(path.into(), "json source", false, options.on_error),
            output: schema.clone(),
            schema,
        }
    }

    /// Decodes only `columns`, in that order.
    ///
    /// # Errors
    /// [`Error::Plan`] for a column not in the schema.
    ///
    /// [`Error::Plan`]: millstream_core::error::Error::Plan
    pub fn with_projection<S: AsRef<str>>(mut self, columns: &[S]) -> Result<Self> {
        let (_, output) = self.settings.project(&self.schema, columns)?;
        self.output = output;
        Ok(self)
    }

    /// Size of the byte ranges the files are split into (default 4 MiB).
    pub fn with_chunk_size(mut self, bytes: usize) -> Self {
        self.settings.set_chunk_size(bytes);
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
        let format = JsonFormat {
            schema: self.output.clone(),
        };
        self.settings.create(Arc::new(format), ctx)
    }

    /// Resumes after the last batch every old subtask returned, as
    /// [`CsvSourceFactory`](super::CsvSourceFactory) does.
    ///
    /// # Errors
    /// [`Error::Connector`](millstream_core::error::Error::Connector) for missing,
    /// unreadable or inconsistent positions or a file whose length changed.
    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        let format = JsonFormat {
            schema: self.output.clone(),
        };
        self.settings.restore(Arc::new(format), ctx, positions)
    }
}

/// How to decode the JSON lines of one source.
struct JsonFormat {
    schema: SchemaRef,
}

struct JsonDecoder(Decoder);

impl BatchDecoder for JsonDecoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        self.0.decode(buf)
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        self.0.flush()
    }
}

fn json_decoder(schema: SchemaRef, batch_size: usize) -> Result<JsonDecoder, ArrowError> {
    Ok(JsonDecoder(
        ReaderBuilder::new(schema)
            .with_batch_size(batch_size)
            .build_decoder()?,
    ))
}

impl LineFormat for JsonFormat {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn decoder(&self, batch_size: usize) -> Result<Box<dyn BatchDecoder>, ArrowError> {
        Ok(Box::new(json_decoder(self.schema.clone(), batch_size)?))
    }

    fn diagnose(&self, line: &[u8], err: &ArrowError) -> (Option<String>, String) {
        let value: serde_json::Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => return (None, format!("invalid JSON: {e}")),
        };
        let Some(object) = value.as_object() else {
            return (None, format!("expected a JSON object, got {value}"));
        };
        // Decode the fields one at a time: the first that fails is at fault.
        for field in self.schema.fields() {
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
}
