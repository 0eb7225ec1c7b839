//! File sinks: CSV, JSON-lines, debezium-json or Parquet part files in a directory, made
//! visible by a two-phase commit (Flink's `FileSink`).
//!
//! A subtask writes rows into a hidden in-progress file. At a checkpoint (and at the end of
//! input) [`Sink::prepare_commit`] closes it and returns a committable naming it; the next
//! row opens a new one. Only [`SinkFactory::commit`], run once the checkpoint is complete,
//! renames a closed file to its visible name, so a reader listing the directory never sees
//! a partial file or rows of a checkpoint that did not complete:
//!
//! ```text
//!  write(batch)          ─▶ format writer ─▶ [dt=x/]…/.part-<attempt>-<subtask>-<seq>.csv.inprogress
//!  prepare_commit(id)    ─▶ flush, sync, close every open file ─▶ committable {"files":[[hidden, visible], ...]}
//!  commit(id, [c, ...])  ─▶ rename hidden ─▶ [dt=x/]…/c<id>-part-<attempt>-<subtask>-<seq>.csv   (idempotent)
//!  abort_uncommitted()   ─▶ delete every .*.inprogress below the directory
//!  rollback_after(id)    ─▶ delete every c<n>-part-* below the directory with n > id
//! ```
//!
//! A partitioned sink ([`Partitioning`]) keeps one open file per partition directory
//! (`dt=2020-01-01/hr=1/`, see the [`partition`](super::partition) module) and a checkpoint
//! closes and commits them all together: the committable of a subtask names every file it
//! closed, with its path relative to the sink directory.
//!
//! Hidden names start with `.` (Flink's `compare.py` and the file sources skip them). The
//! attempt id is chosen when a subtask's sink is created (milliseconds since the epoch and
//! random bits, in hex), so the files of a restarted attempt never collide with those a
//! failed attempt left behind.
//!
//! The CSV format is what `../shared/flink/compare.py` reads: no header, minimal quoting,
//! nulls as empty fields, `TIMESTAMP(3)` as `yyyy-MM-dd HH:mm:ss.SSS`, doubles in arrow's
//! shortest round-trip form (compare.py compares doubles at 12 significant digits). JSON
//! lines spell values as Flink's `json` format does (see `json_value`); debezium-json wraps
//! them in Flink's change envelope (see [`changelog`](super::changelog)); Parquet files hold
//! one row group per million rows, Snappy-compressed (see [`parquet`](super::parquet)).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};

use arrow::datatypes::SchemaRef;
use arrow::error::ArrowError;
use arrow::record_batch::RecordBatch;
use millstream_core::connector::{Sink, SinkFactory};
use millstream_core::error::{Error, Result};
use serde::{Deserialize, Serialize};

use super::changelog::DebeziumPart;
use super::json_value::JsonRows;
use super::parquet::ParquetPart;
use super::partition::{Partitioner, Partitioning};

/// Timestamp layout of the CSV sink, Flink's `TIMESTAMP(3)`.
const TIMESTAMP_FORMAT: &str = "%Y-%m-%d %H:%M:%S%.3f";

/// Suffix of in-progress files.
const IN_PROGRESS: &str = ".inprogress";

/// A part-file sink factory type: a directory, part files of format `$part`, and the
/// two-phase commit of [`commit_files`] / [`abort_files`] / [`rollback_files`].
macro_rules! part_sink_factory {
    ($(#[$meta:meta])* $name:ident, $part:ty, $label:literal) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            dir: PathBuf,
            partitioning: Partitioning,
        }

        impl $name {
            /// A sink writing into `dir` (created if missing).
            pub fn new(dir: impl Into<PathBuf>) -> Self {
                $name {
                    dir: dir.into(),
                    partitioning: Partitioning::default(),
                }
            }

            /// Writes each row into the directory of its partition values
            /// (`dir/c1=v1/c2=v2/`), without the partition columns (see the
            /// [`partition`](crate::file::partition) module).
            pub fn with_partitioning(mut self, partitioning: Partitioning) -> Self {
                self.partitioning = partitioning;
                self
            }

            /// The output directory.
            pub fn dir(&self) -> &Path {
                &self.dir
            }
        }

        impl SinkFactory for $name {
            fn name(&self) -> String {
                format!(concat!($label, "({})"), self.dir.display())
            }

            fn create(&self, subtask: usize, _parallelism: usize) -> Result<Box<dyn Sink>> {
                Ok(Box::new(PartSink::<$part>::new(
                    &self.dir,
                    subtask,
                    &self.partitioning,
                )?))
            }

            fn commit(&self, checkpoint_id: u64, committables: &[Vec<u8>]) -> Result<()> {
                commit_files(&self.dir, checkpoint_id, committables)
            }

            fn abort_uncommitted(&self) -> Result<()> {
                abort_files(&self.dir)
            }

            fn rollback_after(&self, checkpoint_id: u64) -> Result<()> {
                rollback_files(&self.dir, checkpoint_id)
            }
        }
    };
}

part_sink_factory!(
/// A [`SinkFactory`] writing `c<checkpoint>-part-<attempt>-<subtask>-<seq>.csv` files into a
/// directory,
/// visible once committed (see the [`file`](crate::file) module docs).
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use arrow::array::Int64Array;
/// use arrow::record_batch::RecordBatch;
/// use millstream_connectors::file::CsvSinkFactory;
/// use millstream_core::connector::SinkFactory;
///
/// let dir = std::env::temp_dir().join(format!("millstream-sink-doc-{}", std::process::id()));
/// # std::fs::remove_dir_all(&dir).ok(); // left by an earlier process with the same id
/// let sink = CsvSinkFactory::new(&dir);
/// let mut part = sink.create(0, 1)?;
/// let batch = RecordBatch::try_from_iter([("x", Arc::new(Int64Array::from(vec![1, 2])) as _)])?;
/// part.write(&batch)?;
/// part.finish()?;
/// let committable = part.prepare_commit(u64::MAX)?.expect("rows were written");
/// sink.commit(u64::MAX, &[committable])?; // now dir holds c<u64::MAX>-part-<attempt>-0-0.csv
/// let names: Vec<String> = std::fs::read_dir(&dir)?
///     .map(|e| Ok(e?.file_name().to_string_lossy().into_owned()))
///     .collect::<std::io::Result<_>>()?;
/// assert_eq!(names.len(), 1);
/// assert!(names[0].starts_with(&format!("c{}-part-", u64::MAX)) && names[0].ends_with("-0-0.csv"));
/// # std::fs::remove_dir_all(&dir).ok();
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
    CsvSinkFactory, CsvPart, "csv_sink");

part_sink_factory!(
/// A [`SinkFactory`] writing `c<checkpoint>-part-<attempt>-<subtask>-<seq>.json` files (JSON
/// lines spelled as Flink's `json` format writes them: `{"id":1,"price":1.5,"ts":"2020-01-01
/// 00:00:01.5","name":null}`) into a directory, visible once committed (see the
/// [`file`](crate::file) module docs).
    JsonSinkFactory,
    JsonPart,
    "json_sink"
);

part_sink_factory!(
/// A [`SinkFactory`] writing `c<checkpoint>-part-<attempt>-<subtask>-<seq>.parquet` files
/// (one Parquet file per part, Snappy-compressed) into a directory, visible once committed
/// (see the [`parquet`](crate::file::parquet) module docs).
    ParquetSinkFactory,
    ParquetPart,
    "parquet_sink"
);

part_sink_factory!(
/// A [`SinkFactory`] writing a changelog as Flink's `debezium-json` format does, one change
/// per line (`{"before":null,"after":{"id":1},"op":"c"}`), into
/// `c<checkpoint>-part-<attempt>-<subtask>-<seq>.json` files visible once committed. A batch
/// whose last column is an `Int8` column named `$op` carries the row kinds (see the
/// [`changelog`](crate::file::changelog) module); without it every row is an insert.
    DebeziumJsonSinkFactory,
    DebeziumPart,
    "debezium_json_sink"
);

/// What [`Sink::prepare_commit`] returns: file names in the sink directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct Committable {
    /// `(hidden in-progress path, visible path)` of each closed file, relative to the sink
    /// directory (`dt=a/.part-...inprogress`).
    files: Vec<(String, String)>,
}

/// Whether `rel` is a relative path of plain components: no `..`, `.`, empty part, root or
/// backslash, so that a committable cannot name a file outside the sink directory.
fn is_plain_relative(rel: &str) -> bool {
    !rel.is_empty()
        && !rel.contains('\\')
        && rel
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..")
}

/// Renames the files of `committables` to their visible names; files already renamed are
/// fine (a commit repeated after a crash).
///
/// The visible name gets the checkpoint id as a prefix (`c<id>-part-...`), so that a
/// restore from an older checkpoint can take back what newer ones committed
/// ([`rollback_files`]).
fn commit_files(dir: &Path, checkpoint_id: u64, committables: &[Vec<u8>]) -> Result<()> {
    let what = || format!("file sink '{}'", dir.display());
    let mut touched: Vec<PathBuf> = Vec::new();
    for bytes in committables {
        let c: Committable = serde_json::from_slice(bytes).map_err(|e| Error::Connector {
            connector: what(),
            detail: format!("unreadable committable: {e}"),
        })?;
        for (hidden, visible) in &c.files {
            for name in [hidden, visible] {
                if !is_plain_relative(name) {
                    return Err(Error::Connector {
                        connector: what(),
                        detail: format!("committable names '{name}', not a file of the directory"),
                    });
                }
            }
            let (from, to) = (
                dir.join(hidden),
                dir.join(committed_name(checkpoint_id, visible)),
            );
            match std::fs::rename(&from, &to) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if !to.exists() {
                        return Err(Error::Connector {
                            connector: what(),
                            detail: format!(
                                "cannot commit '{}': neither it nor '{hidden}' exists (the data is lost)",
                                to.display()
                            ),
                        });
                    }
                }
                Err(e) => {
                    return Err(Error::io(
                        format!("cannot rename '{}' to '{}'", from.display(), to.display()),
                        e,
                    ))
                }
            }
            if let Some(parent) = to.parent() {
                if !touched.iter().any(|p| p == parent) {
                    touched.push(parent.to_path_buf());
                }
            }
        }
    }
    for d in touched {
        sync_dir(&d);
    }
    Ok(())
}

/// The visible path of a part file committed by checkpoint `checkpoint_id`: the file name
/// gets the prefix `c<id>-`.
fn committed_name(checkpoint_id: u64, visible: &str) -> String {
    match visible.rsplit_once('/') {
        Some((dirs, name)) => format!("{dirs}/c{checkpoint_id:010}-{name}"),
        None => format!("c{checkpoint_id:010}-{visible}"),
    }
}

/// Calls `f` with every file below `dir` (recursively, not following links); a missing
/// `dir` has none.
fn for_each_file(dir: &Path, f: &mut dyn FnMut(&Path, &str) -> Result<()>) -> Result<()> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::io(format!("cannot list '{}'", dir.display()), e)),
    };
    for entry in entries {
        let entry = entry.map_err(|e| Error::io(format!("cannot list '{}'", dir.display()), e))?;
        let path = entry.path();
        let kind = entry
            .file_type()
            .map_err(|e| Error::io(format!("cannot list '{}'", dir.display()), e))?;
        if kind.is_dir() {
            for_each_file(&path, f)?;
        } else if kind.is_file() {
            let name = entry.file_name();
            f(&path, &name.to_string_lossy())?;
        }
    }
    Ok(())
}

/// Deletes `path`; already gone is fine.
fn remove(path: &Path) -> Result<()> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(Error::io(format!("cannot delete '{}'", path.display()), e)),
    }
}

/// Deletes the part files committed by checkpoints after `checkpoint_id` (a job restoring
/// an older checkpoint, because newer ones are corrupt, produces those rows again), in the
/// directory and its partition directories.
fn rollback_files(dir: &Path, checkpoint_id: u64) -> Result<()> {
    for_each_file(dir, &mut |path, name| {
        let id = name
            .strip_prefix('c')
            .and_then(|r| r.split_once('-'))
            .and_then(|(id, rest)| rest.starts_with("part-").then_some(id))
            .and_then(|id| id.parse::<u64>().ok());
        if id.is_some_and(|id| id > checkpoint_id) {
            remove(path)?;
        }
        Ok(())
    })
}

/// Deletes every in-progress file (`.*.inprogress`) below the sink directory.
fn abort_files(dir: &Path) -> Result<()> {
    for_each_file(dir, &mut |path, name| {
        if name.starts_with('.') && name.ends_with(IN_PROGRESS) {
            remove(path)?;
        }
        Ok(())
    })
}

/// Makes renames in `dir` durable. Best effort: not every platform can sync a directory.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// An id for one sink instance, unique across attempts: milliseconds since the epoch (so
/// names sort by attempt) and 16 random bits (two instances in the same millisecond).
fn attempt_id() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64);
    format!("{ms:011x}{:04x}", rand::random::<u16>())
}

/// One file format of the part sink.
pub(crate) trait PartFormat: Send + 'static {
    /// An open writer.
    type Writer: Send;
    /// File name extension.
    const EXT: &'static str;
    /// A writer over `out` for batches of `schema` (the first batch's).
    fn open(out: BufWriter<File>, schema: &SchemaRef) -> Result<Self::Writer, ArrowError>;
    /// Writes one batch.
    fn write(w: &mut Self::Writer, batch: &RecordBatch) -> Result<(), ArrowError>;
    /// Ends the file and gives the buffered output back.
    fn close(w: Self::Writer) -> Result<BufWriter<File>, ArrowError>;
}

/// CSV part files.
struct CsvPart;

impl PartFormat for CsvPart {
    type Writer = arrow::csv::Writer<BufWriter<File>>;
    const EXT: &'static str = "csv";

    fn open(out: BufWriter<File>, _schema: &SchemaRef) -> Result<Self::Writer, ArrowError> {
        Ok(arrow::csv::WriterBuilder::new()
            .with_header(false)
            .with_timestamp_format(TIMESTAMP_FORMAT.to_string())
            .build(out))
    }

    fn write(w: &mut Self::Writer, batch: &RecordBatch) -> Result<(), ArrowError> {
        w.write(batch)
    }

    fn close(w: Self::Writer) -> Result<BufWriter<File>, ArrowError> {
        Ok(w.into_inner())
    }
}

/// A line writer: text built in a buffer, handed to the file in large pieces.
pub(crate) struct LineWriter {
    pub(crate) out: BufWriter<File>,
    pub(crate) text: String,
}

impl LineWriter {
    pub(crate) fn new(out: BufWriter<File>) -> Self {
        LineWriter {
            out,
            text: String::with_capacity(1 << 16),
        }
    }

    /// Hands the buffered text to the file once it is large.
    pub(crate) fn spill(&mut self, force: bool) -> Result<(), ArrowError> {
        if force || self.text.len() >= 1 << 16 {
            self.out.write_all(self.text.as_bytes())?;
            self.text.clear();
        }
        Ok(())
    }
}

/// JSON-lines part files, spelled as Flink's `json` format.
struct JsonPart;

impl PartFormat for JsonPart {
    type Writer = LineWriter;
    const EXT: &'static str = "json";

    fn open(out: BufWriter<File>, _schema: &SchemaRef) -> Result<Self::Writer, ArrowError> {
        Ok(LineWriter::new(out))
    }

    fn write(w: &mut Self::Writer, batch: &RecordBatch) -> Result<(), ArrowError> {
        let schema = batch.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let rows = JsonRows::new(&names, batch.columns());
        for row in 0..batch.num_rows() {
            rows.write_object(row, &mut w.text);
            w.text.push('\n');
            w.spill(false)?;
        }
        Ok(())
    }

    fn close(mut w: Self::Writer) -> Result<BufWriter<File>, ArrowError> {
        w.spill(true)?;
        Ok(w.out)
    }
}

/// The open in-progress file of a subtask in one partition directory.
struct OpenPart<W> {
    /// Paths relative to the sink directory.
    hidden: String,
    visible: String,
    writer: W,
}

/// One subtask of a file sink.
struct PartSink<F: PartFormat> {
    dir: PathBuf,
    subtask: usize,
    attempt: String,
    /// Number of the next part file.
    seq: u64,
    /// The open files by partition directory (`""` when not partitioned).
    open: BTreeMap<String, OpenPart<F::Writer>>,
    partitioner: Option<Partitioner>,
    finished: bool,
}

impl<F: PartFormat> PartSink<F> {
    fn new(dir: &Path, subtask: usize, partitioning: &Partitioning) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| Error::io(format!("cannot create '{}'", dir.display()), e))?;
        Ok(PartSink {
            dir: dir.to_path_buf(),
            subtask,
            attempt: attempt_id(),
            seq: 0,
            open: BTreeMap::new(),
            partitioner: (!partitioning.is_empty()).then(|| Partitioner::new(partitioning.clone())),
            finished: false,
        })
    }

    /// A write error, with the path when it is an I/O error.
    fn error(dir: &Path, name: &str, e: ArrowError) -> Error {
        match e {
            ArrowError::IoError(_, io) => {
                Error::io(format!("cannot write '{}'", dir.join(name).display()), io)
            }
            other => Error::Connector {
                connector: format!("file sink '{}'", dir.display()),
                detail: format!("cannot write '{name}': {other}"),
            },
        }
    }

    /// Writes `batch` into the open file of partition directory `part` (`""`: the sink
    /// directory), opening the next one if none is.
    fn write_part(&mut self, part: &str, batch: &RecordBatch) -> Result<()> {
        if !self.open.contains_key(part) {
            let name = format!(
                "part-{}-{}-{}.{}",
                self.attempt,
                self.subtask,
                self.seq,
                F::EXT
            );
            let (hidden, visible) = if part.is_empty() {
                (format!(".{name}{IN_PROGRESS}"), name)
            } else {
                let dir = self.dir.join(part);
                std::fs::create_dir_all(&dir)
                    .map_err(|e| Error::io(format!("cannot create '{}'", dir.display()), e))?;
                (
                    format!("{part}/.{name}{IN_PROGRESS}"),
                    format!("{part}/{name}"),
                )
            };
            let path = self.dir.join(&hidden);
            let f = File::create(&path)
                .map_err(|e| Error::io(format!("cannot create '{}'", path.display()), e))?;
            self.seq += 1;
            let writer = F::open(BufWriter::with_capacity(1 << 20, f), &batch.schema())
                .map_err(|e| Self::error(&self.dir, &hidden, e))?;
            self.open.insert(
                part.to_string(),
                OpenPart {
                    hidden,
                    visible,
                    writer,
                },
            );
        }
        let open = self
            .open
            .get_mut(part)
            .ok_or_else(|| Error::Internal("file sink: no open part file".into()))?;
        F::write(&mut open.writer, batch).map_err(|e| Self::error(&self.dir, &open.hidden, e))
    }
}

impl<F: PartFormat> Sink for PartSink<F> {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        if self.finished {
            return Err(Error::Internal(format!(
                "file sink '{}' subtask {} written after finish",
                self.dir.display(),
                self.subtask
            )));
        }
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let parts = match &self.partitioner {
            None => return self.write_part("", batch),
            Some(p) => p.split(batch)?,
        };
        for (part, rows) in parts {
            self.write_part(&part, &rows)?;
        }
        Ok(())
    }

    /// Marks the end of input; the rows become visible through
    /// [`Sink::prepare_commit`] and [`SinkFactory::commit`], never here.
    fn finish(&mut self) -> Result<()> {
        self.finished = true;
        Ok(())
    }

    /// Closes every open part file (flushed and synced to disk) and returns their names;
    /// `None` when nothing was written since the last call.
    fn prepare_commit(&mut self, _checkpoint_id: u64) -> Result<Option<Vec<u8>>> {
        if self.open.is_empty() {
            return Ok(None);
        }
        let mut files = Vec::with_capacity(self.open.len());
        for (_, part) in std::mem::take(&mut self.open) {
            let path = self.dir.join(&part.hidden);
            let ctx = || format!("cannot write '{}'", path.display());
            let out = F::close(part.writer).map_err(|e| Self::error(&self.dir, &part.hidden, e))?;
            let file = out
                .into_inner()
                .map_err(|e| Error::io(ctx(), e.into_error()))?;
            file.sync_all().map_err(|e| Error::io(ctx(), e))?;
            files.push((part.hidden, part.visible));
        }
        serde_json::to_vec(&Committable { files })
            .map(Some)
            .map_err(|e| Error::Internal(format!("file sink: cannot serialize committable: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::Int64Array;
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn batch(values: &[i64]) -> RecordBatch {
        RecordBatch::try_new(
            Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)])),
            vec![Arc::new(Int64Array::from(values.to_vec()))],
        )
        .unwrap()
    }

    /// The names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    /// The text of every visible file of `dir`, in name order.
    fn visible_text(dir: &Path) -> String {
        names(dir)
            .iter()
            .filter(|n| !n.starts_with('.'))
            .map(|n| std::fs::read_to_string(dir.join(n)).unwrap())
            .collect()
    }

    #[test]
    fn rows_become_visible_only_on_commit() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("nested/out");
        let factory = CsvSinkFactory::new(&out);
        let mut sink = factory.create(1, 2).unwrap();
        assert_eq!(sink.prepare_commit(1).unwrap(), None, "nothing written");
        sink.write(&batch(&[1, 2])).unwrap();
        let hidden = names(&out);
        assert_eq!(hidden.len(), 1);
        assert!(hidden[0].starts_with(".part-") && hidden[0].ends_with("-1-0.csv.inprogress"));
        let c1 = sink.prepare_commit(1).unwrap().unwrap();
        assert_eq!(sink.prepare_commit(1).unwrap(), None, "nothing new");
        // Rows after the checkpoint go to a new file.
        sink.write(&batch(&[3])).unwrap();
        sink.write(&batch(&[])).unwrap();
        sink.finish().unwrap();
        assert!(matches!(sink.write(&batch(&[4])), Err(Error::Internal(_))));
        let c2 = sink.prepare_commit(u64::MAX).unwrap().unwrap();
        assert_eq!(visible_text(&out), "", "nothing visible before commit");

        factory.commit(1, std::slice::from_ref(&c1)).unwrap();
        assert_eq!(visible_text(&out), "1\n2\n");
        // Committing again (after a crash) is fine.
        factory.commit(1, &[c1]).unwrap();
        factory.commit(2, &[c2]).unwrap();
        assert_eq!(visible_text(&out), "1\n2\n3\n");
        let all = names(&out);
        assert_eq!(all.len(), 2);
        assert!(
            all.iter()
                .all(|n| n.starts_with('c') && n.contains("-part-")),
            "{all:?}"
        );
        assert!(all[0].ends_with("-1-0.csv") && all[1].ends_with("-1-1.csv"));
    }

    #[test]
    fn abort_deletes_uncommitted_files_and_attempts_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let factory = JsonSinkFactory::new(dir.path());
        let mut failed = factory.create(0, 1).unwrap();
        failed.write(&batch(&[1])).unwrap();
        let prepared = failed.prepare_commit(7).unwrap().unwrap();
        failed.write(&batch(&[2])).unwrap();
        // The restarted attempt: commit what the checkpoint holds, drop the rest.
        let mut again = factory.create(0, 1).unwrap();
        factory.commit(7, &[prepared]).unwrap();
        factory.abort_uncommitted().unwrap();
        assert_eq!(visible_text(dir.path()), "{\"x\":1}\n");
        assert!(names(dir.path()).iter().all(|n| !n.starts_with('.')));
        again.write(&batch(&[2])).unwrap();
        let c = again.prepare_commit(8).unwrap().unwrap();
        factory.commit(8, &[c]).unwrap();
        let all = names(dir.path());
        assert_eq!(all.len(), 2, "{all:?}");
        assert_ne!(all[0], all[1]);
        assert_eq!(visible_text(dir.path()).lines().count(), 2);
        // Aborting a directory that does not exist is fine.
        JsonSinkFactory::new(dir.path().join("none"))
            .abort_uncommitted()
            .unwrap();
    }

    #[test]
    fn rollback_deletes_what_later_checkpoints_committed() {
        let dir = tempfile::tempdir().unwrap();
        let factory = CsvSinkFactory::new(dir.path());
        let mut sink = factory.create(0, 1).unwrap();
        for (id, v) in [(1, 1), (2, 2), (12, 3)] {
            sink.write(&batch(&[v])).unwrap();
            let c = sink.prepare_commit(id).unwrap().unwrap();
            factory.commit(id, &[c]).unwrap();
        }
        std::fs::write(dir.path().join("c9-other.csv"), "x\n").unwrap();
        assert_eq!(visible_text(dir.path()).lines().count(), 4);
        factory.rollback_after(1).unwrap();
        let left = names(dir.path());
        assert_eq!(left.len(), 2, "{left:?}");
        assert!(left[0].starts_with("c0000000001-part-"), "{left:?}");
        assert_eq!(left[1], "c9-other.csv", "not a part file: kept");
        CsvSinkFactory::new(dir.path().join("none"))
            .rollback_after(0)
            .unwrap();
    }

    #[test]
    fn a_committable_whose_file_is_gone_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let factory = CsvSinkFactory::new(dir.path());
        let mut sink = factory.create(0, 1).unwrap();
        sink.write(&batch(&[1])).unwrap();
        let c = sink.prepare_commit(1).unwrap().unwrap();
        factory.abort_uncommitted().unwrap();
        let err = factory.commit(1, &[c]).unwrap_err().to_string();
        assert!(
            err.contains("cannot commit") && err.contains("-0-0.csv"),
            "{err}"
        );
        let bad = factory.commit(1, &[b"nope".to_vec()]).unwrap_err();
        assert!(bad.to_string().contains("unreadable committable"), "{bad}");
        let escape = br#"{"files":[["../x",".y"]]}"#.to_vec();
        assert!(factory.commit(1, &[escape]).is_err());
    }
}
