//! File sinks: one CSV or JSON-lines file per subtask in a directory.
//!
//! Subtask `i` writes `.part-<i>.<ext>.inprogress` (hidden: Flink's `compare.py` and the file
//! sources skip names starting with `.`) and renames it to `part-<i>.<ext>` in `finish`, so
//! a reader never sees a half-written file:
//!
//! ```text
//!  write(batch) ─▶ arrow csv / json writer ─▶ BufWriter ─▶ .part-0.csv.inprogress
//!  finish()     ─▶ flush ─▶ rename ─▶ part-0.csv
//! ```
//!
//! The CSV format is what `../shared/flink/compare.py` reads: no header, minimal quoting,
//! nulls as empty fields, `TIMESTAMP(3)` as `yyyy-MM-dd HH:mm:ss.SSS`, doubles in arrow's
//! shortest round-trip form (compare.py compares doubles at 12 significant digits).

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use arrow::error::ArrowError;
use arrow::json::writer::LineDelimited;
use arrow::record_batch::RecordBatch;
use millstream_core::connector::{Sink, SinkFactory};
use millstream_core::error::{Error, Result};

/// Timestamp layout of the file sinks, Flink's `TIMESTAMP(3)`.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// A [`SinkFactory`] writing `part-<subtask>.csv` files into a directory.
///
/// # Example
/// ```no_run
/// use millstream_connectors::file::CsvSinkFactory;
/// use millstream_core::connector::SinkFactory;
///
/// let sink = CsvSinkFactory::new("out/q5");
/// let mut part = sink.create(0, 1)?;
/// part.finish()?; // out/q5/part-0.csv now exists (empty)
/// # Ok::<(), millstream_core::error::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct CsvSinkFactory {
    dir: PathBuf,
}

impl CsvSinkFactory {
    /// A sink writing into `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        CsvSinkFactory { dir: dir.into() }
    }

    /// The output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl SinkFactory for CsvSinkFactory {
    fn name(&self) -> String {
        format!("csv_sink({})", self.dir.display())
    }

    fn create(&self, subtask: usize, _parallelism: usize) -> Result<Box<dyn Sink>> {
        let part = PartFile::create(&self.dir, subtask, "csv")?;
        let writer = arrow::csv::WriterBuilder::new()
            .with_header(false)
            .with_timestamp_format(TIMESTAMP_FORMAT.to_string())
            .build(part.open()?);
        Ok(Box::new(CsvSink {
            part,
            writer: Some(writer),
        }))
    }
}

/// A [`SinkFactory`] writing `part-<subtask>.json` files (JSON lines, nulls written
/// explicitly, timestamps as `"yyyy-MM-dd HH:mm:ss.SSS"`) into a directory.
#[derive(Debug, Clone)]
pub struct JsonSinkFactory {
    dir: PathBuf,
}

impl JsonSinkFactory {
    /// A sink writing into `dir` (created if missing).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        JsonSinkFactory { dir: dir.into() }
    }

    /// The output directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl SinkFactory for JsonSinkFactory {
    fn name(&self) -> String {
        format!("json_sink({})", self.dir.display())
    }

    fn create(&self, subtask: usize, _parallelism: usize) -> Result<Box<dyn Sink>> {
        let part = PartFile::create(&self.dir, subtask, "json")?;
        let writer = arrow::json::WriterBuilder::new()
            .with_explicit_nulls(true)
            .with_timestamp_format(TIMESTAMP_FORMAT.to_string())
            .build::<_, LineDelimited>(part.open()?);
        Ok(Box::new(JsonSink {
            part,
            writer: Some(writer),
        }))
    }
}

/// The in-progress and final names of one part file.
#[derive(Debug)]
struct PartFile {
    hidden: PathBuf,
    visible: PathBuf,
}

impl PartFile {
    fn create(dir: &Path, subtask: usize, ext: &str) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create '{}'", dir.display()), e))?;
        Ok(PartFile {
            hidden: dir.join(format!(".part-{subtask}.{ext}.inprogress")),
            visible: dir.join(format!("part-{subtask}.{ext}")),
        })
    }

    fn open(&self) -> Result<BufWriter<File>> {
        let f = File::create(&self.hidden)
            .map_err(|e| Error::io(format!("cannot create '{}'", self.hidden.display()), e))?;
        Ok(BufWriter::with_capacity(1 << 20, f))
    }

    /// Flushes `out` and gives the file its visible name.
    fn commit(&self, mut out: BufWriter<File>) -> Result<()> {
        let ctx = || format!("cannot write '{}'", self.hidden.display());
        out.flush().map_err(|e| Error::io(ctx(), e))?;
        drop(out);
        std::fs::rename(&self.hidden, &self.visible).map_err(|e| {
            Error::io(
                format!(
                    "cannot rename '{}' to '{}'",
                    self.hidden.display(),
                    self.visible.display()
                ),
                e,
            )
        })
    }

    /// An arrow write error, with the path when it is an I/O error.
    fn error(&self, e: ArrowError) -> Error {
        match e {
            ArrowError::IoError(_, io) => {
                Error::io(format!("cannot write '{}'", self.hidden.display()), io)
            }
            other => Error::Arrow(other),
        }
    }

    fn finished(&self) -> Error {
        Error::Internal(format!("'{}' written after finish", self.visible.display()))
    }
}

/// One subtask of [`CsvSinkFactory`].
struct CsvSink {
    part: PartFile,
    writer: Option<arrow::csv::Writer<BufWriter<File>>>,
}

impl Sink for CsvSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let w = self.writer.as_mut().ok_or_else(|| self.part.finished())?;
        w.write(batch).map_err(|e| self.part.error(e))
    }

    fn finish(&mut self) -> Result<()> {
        match self.writer.take() {
            Some(w) => self.part.commit(w.into_inner()),
            None => Ok(()),
        }
    }
}

/// One subtask of [`JsonSinkFactory`].
struct JsonSink {
    part: PartFile,
    writer: Option<arrow::json::Writer<BufWriter<File>, LineDelimited>>,
}

impl Sink for JsonSink {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let w = self.writer.as_mut().ok_or_else(|| self.part.finished())?;
        w.write(batch).map_err(|e| self.part.error(e))
    }

    fn finish(&mut self) -> Result<()> {
        match self.writer.take() {
            Some(mut w) => {
                w.finish().map_err(|e| self.part.error(e))?;
                self.part.commit(w.into_inner())
            }
            None => Ok(()),
        }
    }
}
