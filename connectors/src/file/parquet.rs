//! Parquet files: a parallel source split by row groups, and the part files of
//! [`ParquetSinkFactory`](super::ParquetSinkFactory).
//!
//! The source lists its input as the line sources do (a file, or every visible file below a
//! directory, sorted), reads each file's footer, and cuts the input into units of one row
//! group. Subtask `i` of `p` reads units `i, i + p, ...`, decoding only the projected
//! columns (a projection mask over the file's root columns):
//!
//! ```text
//!  a.parquet ─▶ [rg 0][rg 1]   b.parquet ─▶ [rg 0]     units: (a,0) (a,1) (b,0)
//!                 │     │                      │                 │     │     │
//!                 ▼     ▼                      ▼             subtask 0  1     0
//!        projected columns only, batch_size rows at a time, cast to the table's types
//! ```
//!
//! Columns are found by name. A column the table needs that a file lacks, or holds with
//! another type, fails the job with [`Error::Data`] naming the file and the column. The
//! types must match, except that a timestamp of any unit is read as the table's
//! `TIMESTAMP(3)` (Flink writes `INT96` timestamps, which arrow reads as nanoseconds), a
//! decimal of another precision but the same scale is cast, and large or view strings are
//! read as strings.
//!
//! Checkpoints: a subtask's position is the units it has not finished, each with the rows of
//! it already returned:
//!
//! ```text
//!  {"source":"parquet source","files":[["/data/a.parquet",18231]],"units":[[0,1,4096]]}
//! ```
//!
//! A restore gathers every old subtask's units, checks that each file still has its length,
//! and gives unit `k` (in file and row-group order) to new subtask `k % p'`; a unit started
//! resumes after the rows already returned.
//!
//! The sink writes one Parquet file per part file, with the arrow schema embedded,
//! Snappy-compressed, a row group per million rows; `TIMESTAMP(3)` is stored as
//! `INT64` milliseconds (Parquet's `TIMESTAMP(MILLIS)`), `DECIMAL` as `INT32`, `INT64` or
//! fixed-length bytes by precision, as Flink does.

use std::collections::{BTreeMap, VecDeque};
use std::fs::File;
use std::io::BufWriter;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::cast;
use arrow::datatypes::{DataType, Field, FieldRef, Schema, SchemaRef};
use arrow::error::ArrowError;
use millstream_core::connector::{Source, SourceContext, SourceFactory, SourcePoll};
use millstream_core::error::{Error, Location, Result};
use parquet::arrow::arrow_reader::{
    ArrowReaderMetadata, ArrowReaderOptions, ParquetRecordBatchReader,
    ParquetRecordBatchReaderBuilder,
};
use parquet::arrow::{ArrowWriter, ProjectionMask};
use parquet::basic::Compression;
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

use super::chunks::list_files;
use super::partition::{PartitionLayout, PartitionValues, Partitioning, SourceColumns};
use super::sink::PartFormat;
use super::sql_type;

const WHAT: &str = "parquet source";

/// Parquet part files.
pub(crate) struct ParquetPart;

/// An open Parquet part file and its schema.
pub(crate) struct ParquetWriter {
    writer: ArrowWriter<BufWriter<File>>,
    schema: SchemaRef,
}

impl PartFormat for ParquetPart {
    type Writer = ParquetWriter;
    const EXT: &'static str = "parquet";

    fn open(out: BufWriter<File>, schema: &SchemaRef) -> Result<Self::Writer, ArrowError> {
        // Nullable columns, so batches that differ only in nullability fit.
        let fields: Vec<Field> = schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect();
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let schema = Arc::new(Schema::new(fields));
        Ok(ParquetWriter {
            writer: ArrowWriter::try_new(out, schema.clone(), Some(props))?,
            schema,
        })
    }

    fn write(w: &mut Self::Writer, batch: &RecordBatch) -> Result<(), ArrowError> {
        if batch.schema() == w.schema {
            return Ok(w.writer.write(batch)?);
        }
        let batch = batch.clone().with_schema(w.schema.clone())?;
        Ok(w.writer.write(&batch)?)
    }

    fn close(w: Self::Writer) -> Result<BufWriter<File>, ArrowError> {
        Ok(w.writer.into_inner()?)
    }
}

/// A [`SourceFactory`] reading Parquet files in parallel, split by row groups (see the
/// [module docs](self)).
///
/// # Example
/// ```no_run
/// use std::sync::Arc;
/// use arrow::datatypes::{DataType, Field, Schema};
/// use millstream_connectors::file::ParquetSourceFactory;
///
/// let schema = Arc::new(Schema::new(vec![
///     Field::new("auction", DataType::Int64, true),
///     Field::new("price", DataType::Int64, true),
/// ]));
/// let bids = ParquetSourceFactory::new("data/bids/", schema).with_projection(&["price"])?;
/// # Ok::<(), millstream_core::error::Error>(())
/// ```
///
/// # Errors
/// Creating a subtask fails with [`Error::Io`] for a path that cannot be opened, and with
/// [`Error::Data`] naming the file for one that is not Parquet or lacks a needed column or
/// holds it with another type.
///
/// [`Error::Io`]: millstream_core::error::Error::Io
#[derive(Debug, Clone)]
pub struct ParquetSourceFactory {
    path: PathBuf,
    columns: SourceColumns,
    output: SchemaRef,
    layout: Option<Arc<PartitionLayout>>,
}

impl ParquetSourceFactory {
    /// A Parquet source over `path` (file or directory) whose rows have `schema`.
    pub fn new(path: impl Into<PathBuf>, schema: SchemaRef) -> Self {
        ParquetSourceFactory {
            path: path.into(),
            output: schema.clone(),
            columns: SourceColumns::new(schema),
            layout: None,
        }
    }

    /// Reads only `columns`, in that order: the other columns are never decoded, nor read
    /// from disk.
    ///
    /// # Errors
    /// [`Error::Plan`] for a column not in the schema.
    pub fn with_projection<S: AsRef<str>>(mut self, columns: &[S]) -> Result<Self> {
        let table = self.columns.table().clone();
        let indices = columns
            .iter()
            .map(|c| {
                table.index_of(c.as_ref()).map_err(|_| {
                    Error::Plan(format!(
                        "{WHAT} '{}' has no column '{}'",
                        self.path.display(),
                        c.as_ref()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.columns.set_projection(indices);
        self.refresh();
        Ok(self)
    }

    /// Takes the columns of `partitioning` from the partition directories, as
    /// [`CsvSourceFactory::with_partitioning`](super::CsvSourceFactory::with_partitioning).
    ///
    /// # Errors
    /// [`Error::Plan`] for a partition column not in the schema.
    pub fn with_partitioning(mut self, partitioning: Partitioning) -> Result<Self> {
        self.columns.set_partitioning(partitioning, WHAT)?;
        self.refresh();
        Ok(self)
    }

    fn refresh(&mut self) {
        self.output = self.columns.output();
        self.layout = self.columns.layout(&self.path, WHAT);
    }

    /// The file or directory read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The columns read from the files, in output order (before the partition columns are
    /// put in).
    fn file_fields(&self) -> Vec<FieldRef> {
        let file = self.columns.file_schema();
        self.columns
            .file_projection(false)
            .into_iter()
            .map(|i| file.fields()[i].clone())
            .collect()
    }

    fn start(
        &self,
        ctx: &SourceContext,
        inputs: Vec<ParquetInput>,
        units: Vec<Unit>,
    ) -> Box<dyn Source> {
        let fields = self.file_fields();
        Box::new(ParquetSource {
            inputs: Arc::new(inputs),
            units: units.into(),
            current: None,
            batch_size: ctx.batch.batch_size.max(1),
            file_schema: Arc::new(Schema::new(fields)),
            partitions: self.layout.clone().map(|l| (l, PartitionValues::default())),
            rows_read: 0,
        })
    }
}

impl SourceFactory for ParquetSourceFactory {
    fn name(&self) -> String {
        format!("parquet({})", self.path.display())
    }

    fn schema(&self) -> SchemaRef {
        self.output.clone()
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        let fields = self.file_fields();
        let inputs = list_files(&self.path, WHAT)?
            .into_iter()
            .map(|f| ParquetInput::open(f.path, &fields))
            .collect::<Result<Vec<_>>>()?;
        let p = ctx.parallelism.max(1);
        let units = all_units(&inputs)
            .into_iter()
            .skip(ctx.subtask)
            .step_by(p)
            .collect();
        Ok(self.start(ctx, inputs, units))
    }

    /// Resumes after the last batch every old subtask returned; the units left are shared
    /// out among the new subtasks, so each remaining row is read once.
    ///
    /// # Errors
    /// [`Error::Connector`] for missing, unreadable or inconsistent positions or a file whose
    /// length changed; the errors of [`SourceFactory::create`] for the files.
    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        let err = |detail: String| Error::Connector {
            connector: WHAT.to_string(),
            detail: format!("cannot resume: {detail}"),
        };
        if positions.is_empty() {
            return Err(err("the checkpoint holds no position of this source".into()));
        }
        let mut lengths: BTreeMap<String, u64> = BTreeMap::new();
        let mut decoded = Vec::with_capacity(positions.len());
        for (j, bytes) in positions.iter().enumerate() {
            let pos: ParquetPosition = serde_json::from_slice(bytes).map_err(|e| {
                err(format!(
                    "the position of old subtask {j} is unreadable: {e}"
                ))
            })?;
            if pos.source != WHAT {
                return Err(err(format!(
                    "the position of old subtask {j} belongs to a {}",
                    pos.source
                )));
            }
            for (path, len) in &pos.files {
                if lengths
                    .insert(path.clone(), *len)
                    .is_some_and(|l| l != *len)
                {
                    return Err(err(format!(
                        "inconsistent positions: '{path}' has two lengths"
                    )));
                }
            }
            decoded.push(pos);
        }
        let fields = self.file_fields();
        let mut inputs = Vec::with_capacity(lengths.len());
        for (path, &len) in &lengths {
            let input = ParquetInput::open(PathBuf::from(path), &fields)?;
            if input.len != len {
                return Err(err(format!(
                    "'{path}' changed since the checkpoint (was {len} bytes, now {})",
                    input.len
                )));
            }
            inputs.push(input);
        }
        let order: BTreeMap<&str, usize> = lengths
            .keys()
            .enumerate()
            .map(|(i, p)| (p.as_str(), i))
            .collect();
        let mut units = Vec::new();
        for (j, pos) in decoded.iter().enumerate() {
            for &(f, row_group, skip) in &pos.units {
                let path = pos.files.get(f).ok_or_else(|| {
                    err(format!("the position of old subtask {j} names file {f}"))
                })?;
                let file = order.get(path.0.as_str()).copied().unwrap_or_default();
                let meta = inputs[file].meta.metadata();
                if row_group >= meta.num_row_groups() {
                    return Err(err(format!("'{}' has no row group {row_group}", path.0)));
                }
                let rows = meta.row_group(row_group).num_rows().max(0) as u64;
                units.push(Unit {
                    file,
                    row_group,
                    skip,
                    rows,
                });
            }
        }
        units.sort_by_key(|u| (u.file, u.row_group));
        for w in units.windows(2) {
            if (w[0].file, w[0].row_group) == (w[1].file, w[1].row_group) {
                return Err(err(format!(
                    "inconsistent positions: two old subtasks still had row group {} of '{}'",
                    w[0].row_group,
                    inputs[w[0].file].path.display()
                )));
            }
        }
        let p = ctx.parallelism.max(1);
        let mine = units
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % p == ctx.subtask)
            .map(|(_, u)| u)
            .collect();
        Ok(self.start(ctx, inputs, mine))
    }
}

/// The serialized position of one Parquet source subtask.
#[derive(Debug, Serialize, Deserialize)]
struct ParquetPosition {
    source: String,
    /// Path and length in bytes of the files the units name.
    files: Vec<(String, u64)>,
    /// `(file index, row group, rows of it already returned)`.
    units: Vec<(usize, usize, u64)>,
}

/// One row group to read, from row `skip` on.
#[derive(Debug, Clone, Copy)]
struct Unit {
    file: usize,
    row_group: usize,
    skip: u64,
    rows: u64,
}

/// Every row group of `inputs` that has rows, in file and row-group order.
fn all_units(inputs: &[ParquetInput]) -> Vec<Unit> {
    let mut out = Vec::new();
    for (file, input) in inputs.iter().enumerate() {
        let meta = input.meta.metadata();
        for row_group in 0..meta.num_row_groups() {
            let rows = meta.row_group(row_group).num_rows().max(0) as u64;
            if rows > 0 {
                out.push(Unit {
                    file,
                    row_group,
                    skip: 0,
                    rows,
                });
            }
        }
    }
    out
}

/// One input file, its footer, and how to read the needed columns from it.
struct ParquetInput {
    path: PathBuf,
    len: u64,
    meta: ArrowReaderMetadata,
    /// The file's root columns to read, ascending.
    mask: ProjectionMask,
    /// For each needed column, its index among the columns read.
    order: Vec<usize>,
    /// For each needed column, the type to cast it to when the file's differs.
    casts: Vec<Option<DataType>>,
}

/// Whether a file column of type `file` can be read as `want` (by a cast).
fn castable(file: &DataType, want: &DataType) -> bool {
    use DataType::*;
    match (file, want) {
        (Timestamp(_, a), Timestamp(_, b)) => a.is_some() == b.is_some(),
        (Decimal128(_, a) | Decimal256(_, a), Decimal128(_, b)) => a == b,
        (Utf8 | LargeUtf8 | Utf8View, Utf8) => true,
        (Date64, Date32) => true,
        _ => false,
    }
}

impl ParquetInput {
    /// Opens `path`, reads its footer and checks that it holds `fields`.
    fn open(path: PathBuf, fields: &[FieldRef]) -> Result<Self> {
        let file = File::open(&path)
            .map_err(|e| Error::io(format!("{WHAT}: cannot open '{}'", path.display()), e))?;
        let len = file
            .metadata()
            .map_err(|e| Error::io(format!("{WHAT}: cannot open '{}'", path.display()), e))?
            .len();
        let meta = ArrowReaderMetadata::load(&file, ArrowReaderOptions::new()).map_err(|e| {
            Error::Data {
                location: Location::file(&path),
                detail: format!("{WHAT}: not a readable Parquet file: {e}"),
            }
        })?;
        let schema = meta.schema().clone();
        let mut roots = Vec::with_capacity(fields.len());
        let mut casts = Vec::with_capacity(fields.len());
        for f in fields {
            let Ok(i) = schema.index_of(f.name()) else {
                let has: Vec<String> = schema
                    .fields()
                    .iter()
                    .map(|g| format!("{} {}", g.name(), sql_type(g.data_type())))
                    .collect();
                return Err(Error::Data {
                    location: Location {
                        source: path.display().to_string(),
                        line: None,
                        column: Some(f.name().clone()),
                    },
                    detail: format!(
                        "{WHAT}: the file has no column '{}' ({}); its columns are: {}",
                        f.name(),
                        sql_type(f.data_type()),
                        has.join(", ")
                    ),
                });
            };
            let t = schema.field(i).data_type();
            casts.push(if t == f.data_type() {
                None
            } else if castable(t, f.data_type()) {
                Some(f.data_type().clone())
            } else {
                return Err(Error::Data {
                    location: Location {
                        source: path.display().to_string(),
                        line: None,
                        column: Some(f.name().clone()),
                    },
                    detail: format!(
                        "{WHAT}: expected {} ({}), the file has {} ({t})",
                        sql_type(f.data_type()),
                        f.data_type(),
                        sql_type(t)
                    ),
                });
            });
            roots.push(i);
        }
        let mut read = roots.clone();
        read.sort_unstable();
        read.dedup();
        let order = roots
            .iter()
            .map(|r| read.binary_search(r).unwrap_or_default())
            .collect();
        let mask = ProjectionMask::roots(meta.parquet_schema(), read);
        Ok(ParquetInput {
            path,
            len,
            meta,
            mask,
            order,
            casts,
        })
    }

    /// A reader of `unit` (a row group of this file), from its row `unit.skip` on.
    fn reader(&self, unit: &Unit, batch_size: usize) -> Result<ParquetRecordBatchReader> {
        let file = File::open(&self.path)
            .map_err(|e| Error::io(format!("{WHAT}: cannot open '{}'", self.path.display()), e))?;
        let mut builder =
            ParquetRecordBatchReaderBuilder::new_with_metadata(file, self.meta.clone())
                .with_row_groups(vec![unit.row_group])
                .with_projection(self.mask.clone())
                .with_batch_size(batch_size);
        if unit.skip > 0 {
            builder = builder.with_offset(unit.skip as usize);
        }
        builder
            .build()
            .map_err(|e| self.read_error(unit, e.to_string()))
    }

    fn read_error(&self, unit: &Unit, e: String) -> Error {
        Error::Data {
            location: Location::file(&self.path),
            detail: format!("{WHAT}: cannot read row group {}: {e}", unit.row_group),
        }
    }

    /// The needed columns of a batch read from this file, in order and with the table's
    /// types.
    fn convert(&self, batch: &RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
        let columns = self
            .order
            .iter()
            .zip(&self.casts)
            .map(|(&i, t)| {
                let c = batch.column(i);
                Ok(match t {
                    Some(t) => cast(c.as_ref(), t)?,
                    None => c.clone(),
                })
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        RecordBatch::try_new_with_options(schema.clone(), columns, &options).map_err(|e| {
            Error::Data {
                location: Location::file(&self.path),
                detail: format!("{WHAT}: {e}"),
            }
        })
    }
}

/// The row group being read.
struct Reading {
    unit: Unit,
    reader: ParquetRecordBatchReader,
    /// Rows of the unit returned so far (after `unit.skip`).
    done: u64,
}

/// One subtask of a Parquet source.
struct ParquetSource {
    inputs: Arc<Vec<ParquetInput>>,
    /// The units not started, in reading order.
    units: VecDeque<Unit>,
    current: Option<Reading>,
    batch_size: usize,
    /// The columns read from the files, in output order.
    file_schema: SchemaRef,
    partitions: Option<(Arc<PartitionLayout>, PartitionValues)>,
    rows_read: u64,
}

impl Source for ParquetSource {
    fn poll(&mut self) -> Result<SourcePoll> {
        loop {
            let Some(cur) = &mut self.current else {
                let Some(unit) = self.units.pop_front() else {
                    return Ok(SourcePoll::End);
                };
                let reader = self.inputs[unit.file].reader(&unit, self.batch_size)?;
                self.current = Some(Reading {
                    unit,
                    reader,
                    done: 0,
                });
                continue;
            };
            let input = &self.inputs[cur.unit.file];
            match cur.reader.next() {
                None => self.current = None,
                Some(Err(e)) => return Err(input.read_error(&cur.unit, e.to_string())),
                Some(Ok(b)) if b.num_rows() == 0 => {}
                Some(Ok(b)) => {
                    cur.done += b.num_rows() as u64;
                    self.rows_read += b.num_rows() as u64;
                    let b = input.convert(&b, &self.file_schema)?;
                    let b = match &mut self.partitions {
                        None => b,
                        Some((layout, values)) => {
                            layout.assemble(&b, cur.unit.file, &input.path, values)?
                        }
                    };
                    return Ok(SourcePoll::Batch(b));
                }
            }
        }
    }

    /// Rows returned so far.
    fn position(&self) -> u64 {
        self.rows_read
    }

    /// The rest of the row group being read, then the row groups not started.
    fn snapshot_position(&mut self) -> Result<Vec<u8>> {
        let rest = self.current.as_ref().and_then(|c| {
            let skip = c.unit.skip + c.done;
            (skip < c.unit.rows).then_some(Unit { skip, ..c.unit })
        });
        let mut index: BTreeMap<usize, usize> = BTreeMap::new();
        let mut pos = ParquetPosition {
            source: WHAT.to_string(),
            files: Vec::new(),
            units: Vec::new(),
        };
        for u in rest.into_iter().chain(self.units.iter().copied()) {
            let next = index.len();
            let i = *index.entry(u.file).or_insert(next);
            if i == next {
                let input = &self.inputs[u.file];
                let path = input.path.to_str().ok_or_else(|| {
                    Error::Unsupported(format!(
                        "{WHAT}: cannot checkpoint '{}': the path is not UTF-8",
                        input.path.display()
                    ))
                })?;
                pos.files.push((path.to_string(), input.len));
            }
            pos.units.push((i, u.row_group, u.skip));
        }
        serde_json::to_vec(&pos)
            .map_err(|e| Error::Internal(format!("{WHAT}: cannot serialize position: {e}")))
    }
}
