//! The CSV file source: arrow's CSV decoder over chunks of the file, with a projection and a
//! fast path for `TIMESTAMP(3)` columns.
//!
//! Columns of type `Timestamp(Millisecond, None)` are parsed in Flink's `yyyy-MM-dd
//! HH:mm:ss.SSS` layout at fixed positions, with arrow's own parser for any other layout:
//! by the split path value by value, elsewhere decoded by arrow as text and converted by
//! [`text_to_millis`](super::timestamp::text_to_millis). Empty fields are nulls, as in
//! arrow's reader.
//!
//! Simple lines (no quotes, no carriage returns) are split straight into Arrow columns by
//! the `csv_split` module where every projected column's type allows (numbers, decimals,
//! booleans, dates, strings, the fast-path timestamps); otherwise they are cut
//! down to the projected fields by the `csv_compact` module, so arrow's tokenizer
//! (`csv_core::Reader::read_record`, which copies every byte of every field) sees only what
//! the job reads. Other lines go to arrow's decoder whole.
//!
//! Measured with the `csv_throughput` test (`MILLSTREAM_BID_CSV=... cargo test --release -p
//! millstream-connectors --lib csv_throughput -- --ignored --nocapture`, a 920,000-row
//! `bid.csv`, one decoding thread, decoded rows per CPU second, split / compacted / whole
//! lines in one run): q14's `auction, bidder, price, date_time, extra` 7.67 M / 3.41 M /
//! 3.54 M; `auction, bidder, price, date_time` 11.50 M / 5.75 M / 4.38 M; `bidder,
//! date_time` 18.40 M / 10.22 M / 5.41 M; all seven columns 4.84 M / 2.97 M / 3.07 M. With
//! arrow's timestamp parser instead of the fixed-layout path (which turns the split path
//! off for that column type) the four columns read at 4.84 M.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, RecordBatch, RecordBatchOptions};
use arrow::csv::reader::Decoder;
use arrow::csv::ReaderBuilder;
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use arrow::error::ArrowError;
use millstream_core::connector::{
    Source, SourceContext, SourceFactory, SourceFactoryRef, SourceFilter,
};
use millstream_core::error::Result;

use super::csv_compact::Compactor;
use super::csv_split::SplitDecoder;
use super::partition::{Partitioning, SourceColumns};
use super::source::{decode_all, BatchDecoder, FileSettings, LineFormat};
use super::timestamp::text_to_millis;
use super::{sql_type, OnError};

/// Options of a [`CsvSourceFactory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsvOptions {
    /// Whether the first line of each file is a header (skipped, not validated).
    pub has_header: bool,
    /// Field delimiter, `b','` by default.
    pub delimiter: u8,
    /// What to do with a row that does not decode.
    pub on_error: OnError,
}

impl Default for CsvOptions {
    fn default() -> Self {
        CsvOptions {
            has_header: false,
            delimiter: b',',
            on_error: OnError::Fail,
        }
    }
}

/// A [`SourceFactory`] reading CSV files in parallel.
///
/// `path` is a file or a directory (every visible file below it, sorted). Each subtask
/// decodes every `p`-th chunk of about 4 MiB, with a read-ahead thread.
///
/// # Example
/// ```no_run
/// use std::sync::Arc;
/// use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
/// use millstream_connectors::file::{CsvOptions, CsvSourceFactory, OnError};
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("auction", DataType::Int64, true),
///     Field::new("price", DataType::Int64, true),
///     Field::new("date_time", DataType::Timestamp(TimeUnit::Millisecond, None), true),
/// ]));
/// let options = CsvOptions { on_error: OnError::SideOutput, ..Default::default() };
/// let bids = CsvSourceFactory::new("data/bid.csv", schema, options)
///     .with_projection(&["price", "date_time"])?;
/// # Ok::<(), millstream_core::error::Error>(())
/// ```
///
/// # Errors
/// Creating a subtask fails with [`Error::Io`] naming the path when it cannot be opened;
/// polling fails with [`Error::Data`] (file, absolute line, column) on a bad row in
/// [`OnError::Fail`] mode.
///
/// [`Error::Io`]: millstream_core::error::Error::Io
/// [`Error::Data`]: millstream_core::error::Error::Data
#[derive(Debug, Clone)]
pub struct CsvSourceFactory {
    settings: FileSettings,
    columns: SourceColumns,
    options: CsvOptions,
    /// The schema after projection.
    output: SchemaRef,
    fast_timestamps: bool,
    /// How simple lines (no quotes, no carriage returns) are read.
    simple_lines: SimpleLines,
    /// A filter pushed down by the planner: rows that cannot pass are not materialized.
    filter: Option<Arc<SourceFilter>>,
}

/// How a CSV source reads simple lines (no quotes, no carriage returns).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SimpleLines {
    /// Split by a SIMD byte classification and parsed straight into columns
    /// (`csv_split`), where every projected column's type allows; else compacted.
    Split,
    /// Cut down to the projected fields for arrow's decoder (`csv_compact`); the path
    /// `Split` falls back to for other types.
    #[cfg(test)]
    Compact,
    /// Whole, through arrow's decoder (for measurements and differential tests).
    Whole,
}

impl CsvSourceFactory {
    /// A CSV source over `path` (file or directory) whose rows have `schema`.
    pub fn new(path: impl Into<PathBuf>, schema: SchemaRef, options: CsvOptions) -> Self {
        CsvSourceFactory {
            settings: FileSettings::new(
                path.into(),
                "csv source",
                options.has_header,
                options.on_error,
            ),
            output: schema.clone(),
            columns: SourceColumns::new(schema),
            options,
            fast_timestamps: true,
            simple_lines: SimpleLines::Split,
            filter: None,
        }
    }

    /// Decodes only `columns`, in that order (arrow's CSV projection: other fields are
    /// split but never parsed).
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

    /// Takes the columns of `partitioning` from the partition directories the files are in
    /// (`path/dt=2020-01-01/hr=1/...`, see [`Partitioning`]) rather than from the files,
    /// which hold the other columns of the schema, in order.
    ///
    /// # Errors
    /// [`Error::Plan`] for a partition column not in the schema.
    ///
    /// [`Error::Plan`]: millstream_core::error::Error::Plan
    pub fn with_partitioning(mut self, partitioning: Partitioning) -> Result<Self> {
        self.columns.set_partitioning(partitioning, "csv source")?;
        self.refresh();
        Ok(self)
    }

    fn refresh(&mut self) {
        self.output = self.columns.output();
        self.settings.partitions = self.columns.layout(&self.settings.path, "csv source");
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

    /// Rows skipped or sent to the side output so far, across all subtasks.
    pub fn bad_rows(&self) -> u64 {
        self.settings.bad_rows()
    }

    /// The file or directory read.
    pub fn path(&self) -> &Path {
        self.settings.path()
    }

    /// Turns the fixed-layout timestamp fast path off (for measurements).
    #[cfg(test)]
    pub(crate) fn with_fast_timestamps(mut self, on: bool) -> Self {
        self.fast_timestamps = on;
        self
    }

    /// How simple lines are read (for measurements and differential tests).
    #[cfg(test)]
    pub(crate) fn with_simple_lines(mut self, how: SimpleLines) -> Self {
        self.simple_lines = how;
        self
    }

    fn format(&self) -> Result<CsvFormat> {
        let schema = self.columns.file_schema();
        let projection = self.columns.file_projection(true);
        let output = Arc::new(schema.project(&projection)?);
        let is_fast_ts = |t: &DataType| {
            self.fast_timestamps && *t == DataType::Timestamp(TimeUnit::Millisecond, None)
        };
        let read_fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| {
                let t = if is_fast_ts(f.data_type()) {
                    DataType::Utf8
                } else {
                    f.data_type().clone()
                };
                f.as_ref().clone().with_data_type(t)
            })
            .collect();
        let text_fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| Field::new(f.name(), DataType::Utf8, true))
            .collect();
        Ok(CsvFormat {
            read_schema: Arc::new(Schema::new(read_fields)),
            text_schema: Arc::new(Schema::new(text_fields)),
            full_schema: schema.clone(),
            output,
            projection,
            delimiter: self.options.delimiter,
            simple_lines: self.simple_lines,
            fast_timestamps: self.fast_timestamps,
            filter: self.filter.clone(),
        })
    }
}

impl SourceFactory for CsvSourceFactory {
    fn name(&self) -> String {
        format!("csv({})", self.settings.path.display())
    }

    fn schema(&self) -> SchemaRef {
        self.output.clone()
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        self.settings.create(Arc::new(self.format()?), ctx)
    }

    /// Resumes after the last batch every old subtask returned; the remaining byte ranges
    /// are shared out among the new subtasks, so each remaining line is read once.
    ///
    /// # Errors
    /// [`Error::Connector`](millstream_core::error::Error::Connector) for missing,
    /// unreadable or inconsistent positions or a file whose length changed.
    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        self.settings
            .restore(Arc::new(self.format()?), ctx, positions)
    }

    /// Takes the filter where it reads the output columns as the file has them (no
    /// partition columns) and some text column it does not read can be skipped: simple
    /// lines are then split, the filter's columns parsed, and the text columns built only
    /// for the rows that pass (see `csv_split`).
    fn with_filter(&self, filter: Arc<SourceFilter>) -> Option<SourceFactoryRef> {
        if self.settings.partitions.is_some() || self.simple_lines != SimpleLines::Split {
            return None;
        }
        // Only text columns the filter does not read are saved work (numbers are parsed
        // for every row anyway, for their errors).
        let saves = (self.output.fields().iter().enumerate())
            .any(|(i, f)| *f.data_type() == DataType::Utf8 && !filter.columns.contains(&i));
        if !saves {
            return None;
        }
        let mut filtered = self.clone();
        filtered.filter = Some(filter);
        Some(Arc::new(filtered))
    }
}

/// How to decode the CSV lines of one source.
#[derive(Debug)]
struct CsvFormat {
    /// The file schema with fast-path timestamp columns as `Utf8`.
    read_schema: SchemaRef,
    /// Every column as `Utf8`, for diagnosis.
    text_schema: SchemaRef,
    full_schema: SchemaRef,
    output: SchemaRef,
    projection: Vec<usize>,
    delimiter: u8,
    simple_lines: SimpleLines,
    /// Whether `TIMESTAMP(3)` columns take the fixed-layout path (on the split path too).
    fast_timestamps: bool,
    /// A pushed-down filter over `output`, applied on the split path.
    filter: Option<Arc<SourceFilter>>,
}

impl CsvFormat {
    fn builder(&self, schema: &SchemaRef, batch_size: usize) -> ReaderBuilder {
        ReaderBuilder::new(schema.clone())
            .with_header(false)
            .with_delimiter(self.delimiter)
            .with_batch_size(batch_size)
    }

    /// A decoder of the columns `projection` of the file (with timestamp conversion), which
    /// splits simple lines straight into columns where their types allow, or else compacts
    /// them to those columns first when the projection drops any.
    fn projected_decoder(
        &self,
        projection: &[usize],
        batch_size: usize,
        filter: Option<&Arc<SourceFilter>>,
    ) -> Result<CsvDecoder, ArrowError> {
        let ts_columns = projection
            .iter()
            .enumerate()
            .filter(|(_, &i)| {
                self.read_schema.field(i).data_type() != self.full_schema.field(i).data_type()
            })
            .map(|(k, _)| k)
            .collect();
        let fields = self.full_schema.fields().len();
        let schema = Arc::new(self.read_schema.project(projection)?);
        let output = Arc::new(self.full_schema.project(projection)?);
        // The split path parses timestamps itself: its batches have the output schema.
        let arrow_timestamps = !self.fast_timestamps
            && (output.fields().iter())
                .any(|f| *f.data_type() == DataType::Timestamp(TimeUnit::Millisecond, None));
        let split = match self.simple_lines {
            SimpleLines::Split if !arrow_timestamps => SplitDecoder::new(
                self.delimiter,
                fields,
                projection,
                output.clone(),
                batch_size,
            )
            .and_then(|d| match filter {
                Some(f) => d.with_filter(f.clone()),
                None => Some(d),
            }),
            _ => None,
        };
        let compact = match split {
            Some(split) => Some(SimplePath::Split(split)),
            None if self.simple_lines != SimpleLines::Whole
                && !projection.is_empty()
                && projection.len() < fields =>
            {
                Some(SimplePath::Compact(Box::new((
                    Compactor::new(self.delimiter, fields, projection),
                    self.builder(&schema, batch_size).build_decoder(),
                ))))
            }
            None => None,
        };
        Ok(CsvDecoder {
            full: self
                .builder(&self.read_schema, batch_size)
                .with_projection(projection.to_vec())
                .build_decoder(),
            compact,
            batch_size,
            output,
            ts_columns,
        })
    }
}

/// The path of a [`CsvDecoder`] for simple lines; see [`SimpleLines`]. Both variants
/// split the lines with `csv_compact::LineSplitter`, which checks they are simple in the
/// same pass.
enum SimplePath {
    /// Lines split straight into columns.
    Split(SplitDecoder),
    /// Lines compacted, then read by arrow's decoder with the projected columns, in
    /// projection order.
    Compact(Box<(Compactor, Decoder)>),
}

impl SimplePath {
    fn capacity(&self) -> usize {
        match self {
            SimplePath::Split(d) => d.capacity(),
            SimplePath::Compact(c) => c.1.capacity(),
        }
    }

    /// Decodes from `buf`: the bytes used, or `None` when the lines are not simple.
    fn decode(&mut self, buf: &[u8]) -> Result<Option<usize>, ArrowError> {
        match self {
            SimplePath::Split(d) => d.decode(buf),
            SimplePath::Compact(c) => {
                let (compactor, decoder) = &mut **c;
                let Some(used) = compactor.compact(buf, decoder.capacity())? else {
                    return Ok(None);
                };
                let lines = compactor.output();
                let read = decoder.decode(lines)?;
                if read != lines.len() {
                    return Err(ArrowError::CsvError(format!(
                        "compacted CSV lines not read whole ({read} of {} bytes)",
                        lines.len()
                    )));
                }
                Ok(Some(used))
            }
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        match self {
            SimplePath::Split(d) => d.flush(),
            SimplePath::Compact(c) => c.1.flush(),
        }
    }
}

/// Arrow's CSV decoder plus the timestamp conversion, reading simple lines by the simple
/// path while the input is simple and whole lines otherwise. Only one of the two holds
/// rows at a time.
struct CsvDecoder {
    full: Decoder,
    /// Dropped for good at the first buffer that is not simple.
    compact: Option<SimplePath>,
    /// Rows per batch of both decoders.
    batch_size: usize,
    output: SchemaRef,
    ts_columns: Vec<usize>,
}

impl CsvDecoder {
    /// Decodes through the simple path; `None` when `buf` must go to the full decoder.
    fn decode_compact(&mut self, buf: &[u8]) -> Option<Result<usize, ArrowError>> {
        let c = self.compact.as_mut()?;
        if self.full.capacity() == self.batch_size {
            if c.capacity() == 0 {
                return Some(Ok(0));
            }
            match c.decode(buf) {
                Ok(Some(used)) => return Some(Ok(used)),
                Ok(None) => {}
                Err(e) => return Some(Err(e)),
            }
        }
        if c.capacity() < self.batch_size {
            // Rows of the compacted path are pending: the caller flushes them first.
            return Some(Ok(0));
        }
        self.compact = None;
        None
    }
}

impl BatchDecoder for CsvDecoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        match self.decode_compact(buf) {
            Some(res) => res,
            None => self.full.decode(buf),
        }
    }

    fn take_filtered(&mut self) -> u64 {
        match &mut self.compact {
            Some(SimplePath::Split(d)) => d.take_filtered(),
            _ => 0,
        }
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        let compacted = match &mut self.compact {
            Some(c) => c.flush()?,
            None => None,
        };
        let Some(batch) = compacted.map_or_else(|| self.full.flush(), |b| Ok(Some(b)))? else {
            return Ok(None);
        };
        // Batches of the split path, or of a projection without fast timestamps.
        if batch.schema() == self.output {
            return Ok(Some(batch));
        }
        let rows = batch.num_rows();
        let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
        for &i in &self.ts_columns {
            columns[i] = text_to_millis(columns[i].as_string::<i32>())?;
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(Some(RecordBatch::try_new_with_options(
            self.output.clone(),
            columns,
            &options,
        )?))
    }
}

impl LineFormat for CsvFormat {
    fn schema(&self) -> SchemaRef {
        self.output.clone()
    }

    fn decoder(&self, batch_size: usize) -> Result<Box<dyn BatchDecoder>, ArrowError> {
        Ok(Box::new(self.projected_decoder(
            &self.projection,
            batch_size,
            self.filter.as_ref(),
        )?))
    }

    fn diagnose(&self, line: &[u8], err: &ArrowError) -> (Option<String>, String) {
        let mut bytes = line.to_vec();
        bytes.push(b'\n');
        // 1. Split the row into text fields with the same CSV dialect: a failure here is a
        // malformed row (wrong number of fields, bad UTF-8).
        let mut text = CsvDecoder {
            full: self.builder(&self.text_schema, 1).build_decoder(),
            compact: None,
            batch_size: 1,
            output: self.text_schema.clone(),
            ts_columns: vec![],
        };
        let row = match decode_all(&mut text, &bytes) {
            Ok(batches) => match batches.into_iter().next() {
                Some(row) => row,
                None => return (None, err.to_string()),
            },
            Err(e) => return malformed(&e, &self.full_schema),
        };
        // 2. Decode the projected columns one at a time: the first that fails is at fault.
        for &i in &self.projection {
            let fails = self
                .projected_decoder(&[i], 1, None)
                .and_then(|mut d| decode_all(&mut d, &bytes))
                .is_err();
            if fails {
                let field = self.full_schema.field(i);
                let value = row.column(i).as_string::<i32>();
                let t = field.data_type();
                let got = if value.is_null(0) {
                    "an empty field (null) in a NOT NULL column".to_string()
                } else {
                    format!("{:?}", value.value(0))
                };
                return (
                    Some(field.name().clone()),
                    format!("expected {} ({t}), got {got}", sql_type(t)),
                );
            }
        }
        (None, err.to_string())
    }
}

/// "expected 7 fields, got 6" from arrow's field-count error; the column is the first
/// missing one when the row is short.
fn malformed(e: &ArrowError, schema: &Schema) -> (Option<String>, String) {
    let msg = e.to_string();
    let Some(tail) = msg.split("expected ").nth(1) else {
        return (None, format!("malformed row: {msg}"));
    };
    let mut parts = tail.split(" got ");
    let expected = parts.next().unwrap_or_default().trim();
    let got = parts.next().unwrap_or_default().trim();
    let column = got
        .parse::<usize>()
        .ok()
        .and_then(|g| schema.fields().get(g))
        .map(|f| f.name().clone());
    (column, format!("expected {expected} fields, got {got}"))
}
