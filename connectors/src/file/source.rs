//! The parallel, line-oriented file source shared by CSV and JSON: chunk scheduling, batch
//! decoding, and the error path.
//!
//! The fast path hands a whole chunk to the format's arrow decoder and takes out `batch_size`
//! rows at a time. When a batch fails, its lines (at most `batch_size`) are decoded again by
//! bisection: a half that decodes is kept whole, a half that fails is split again, down to
//! single bad lines. That costs `O(bad lines × log batch_size)` decodes, so a file with a few
//! bad rows in `Skip` or `SideOutput` mode keeps most of its speed. Each bad line is then
//! diagnosed by the format (which column, what value) and located (absolute line number).
//!
//! For checkpoints a subtask keeps the list of its chunks and how many it has taken from the
//! read-ahead thread, so its position is the input after the last batch `poll` returned (see
//! the `position` module), whatever the read-ahead thread has read beyond it.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{RecordBatch, StringArray, UInt64Array};
use arrow::compute::concat_batches;
use arrow::datatypes::{Schema, SchemaRef};
use arrow::error::ArrowError;
use crossbeam_channel::RecvTimeoutError;
use millstream_core::connector::{error_rows_schema, Source, SourceContext, SourcePoll};
use millstream_core::error::{Error, Location, Result};

use super::chunks::{
    list_files, newlines_before, plan_chunks, spawn_reader, Chunk, ChunkSpec, InputFile, ReadMode,
    Reader,
};
use super::partition::{PartitionLayout, PartitionValues};
use super::OnError;

/// An arrow decoder fed with whole lines.
pub(crate) trait BatchDecoder: Send {
    /// Decodes rows from the start of `buf` until the batch is full; returns the bytes used.
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError>;
    /// The rows decoded since the last flush.
    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError>;
    /// Rows a pushed-down filter dropped since the last call.
    fn take_filtered(&mut self) -> u64 {
        0
    }
}

/// What a line format (CSV, JSON lines) provides to [`FileSource`].
pub(crate) trait LineFormat: Send + Sync + 'static {
    /// Output schema (after projection).
    fn schema(&self) -> SchemaRef;
    /// A decoder producing batches of at most `batch_size` rows.
    fn decoder(&self, batch_size: usize) -> Result<Box<dyn BatchDecoder>, ArrowError>;
    /// Why `line` (without its newline) does not decode: the column at fault, if one is, and
    /// a message such as `expected BIGINT (Int64), got "abc"`. `err` is what the decoder
    /// said, for when nothing better is found.
    fn diagnose(&self, line: &[u8], err: &ArrowError) -> (Option<String>, String);
}

/// Decodes all of `bytes` (whole lines) with `decoder`.
pub(crate) fn decode_all(
    decoder: &mut dyn BatchDecoder,
    bytes: &[u8],
) -> Result<Vec<RecordBatch>, ArrowError> {
    let mut out = Vec::new();
    let mut pos = 0;
    loop {
        let used = decoder.decode(&bytes[pos..])?;
        pos += used;
        match decoder.flush()? {
            Some(b) => out.push(b),
            None if pos >= bytes.len() => return Ok(out),
            None if used == 0 => {
                return Err(ArrowError::ComputeError(
                    "decoder made no progress (this is a bug)".into(),
                ))
            }
            None => {}
        }
    }
}

/// The settings every file source shares.
#[derive(Debug, Clone)]
pub(crate) struct FileSettings {
    /// A file or a directory.
    pub(crate) path: PathBuf,
    /// `"csv source"`, `"json source"`: the start of messages.
    pub(crate) what: &'static str,
    pub(crate) has_header: bool,
    pub(crate) on_error: OnError,
    pub(crate) chunk_size: usize,
    /// Whether chunks are mapped (the default) or read.
    pub(crate) read_mode: ReadMode,
    /// Rows skipped or sent to the side output, across all subtasks.
    pub(crate) bad_rows: Arc<AtomicU64>,
    /// How to add partition columns from the directory names, when partitioned.
    pub(crate) partitions: Option<Arc<PartitionLayout>>,
}

impl FileSettings {
    pub(crate) fn new(
        path: PathBuf,
        what: &'static str,
        has_header: bool,
        on_error: OnError,
    ) -> Self {
        FileSettings {
            path,
            what,
            has_header,
            on_error,
            chunk_size: super::DEFAULT_CHUNK_SIZE,
            read_mode: ReadMode::Map,
            bad_rows: Arc::new(AtomicU64::new(0)),
            partitions: None,
        }
    }

    /// The indices of `columns` in `schema`, in that order, and the projected schema.
    ///
    /// # Errors
    /// [`Error::Plan`] for a column not in `schema`.
    pub(crate) fn project<S: AsRef<str>>(
        &self,
        schema: &Schema,
        columns: &[S],
    ) -> Result<(Vec<usize>, SchemaRef)> {
        let indices = columns
            .iter()
            .map(|c| {
                schema.index_of(c.as_ref()).map_err(|_| {
                    Error::Plan(format!(
                        "{} '{}' has no column '{}'",
                        self.what,
                        self.path.display(),
                        c.as_ref()
                    ))
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let output = Arc::new(schema.project(&indices)?);
        Ok((indices, output))
    }

    /// Sets the size of the byte ranges the files are split into (at least 1).
    pub(crate) fn set_chunk_size(&mut self, bytes: usize) {
        self.chunk_size = bytes.max(1);
    }

    /// Maps the files (`true`, the default) or reads them into buffers.
    pub(crate) fn set_memory_map(&mut self, map: bool) {
        self.read_mode = if map { ReadMode::Map } else { ReadMode::Read };
    }

    /// Rows skipped or sent to the side output so far, across all subtasks.
    pub(crate) fn bad_rows(&self) -> u64 {
        self.bad_rows.load(Ordering::Relaxed)
    }

    /// The file or directory read.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Creates subtask `ctx.subtask` of a source of `format` over these files.
    pub(crate) fn create<F: LineFormat>(
        &self,
        format: Arc<F>,
        ctx: &SourceContext,
    ) -> Result<Box<dyn Source>> {
        let files = list_files(&self.path, self.what)?;
        let p = ctx.parallelism.max(1);
        let specs = plan_chunks(&files, self.chunk_size)
            .into_iter()
            .skip(ctx.subtask)
            .step_by(p)
            .collect();
        self.start(format, ctx, files, specs)
    }

    /// Creates subtask `ctx.subtask` resuming from the positions of every old subtask: it
    /// reads its share of what no old subtask had returned (see the `position` module).
    pub(crate) fn restore<F: LineFormat>(
        &self,
        format: Arc<F>,
        ctx: &SourceContext,
        positions: &[Vec<u8>],
    ) -> Result<Box<dyn Source>> {
        let (files, specs) = super::position::restore(
            self.what,
            positions,
            self.chunk_size,
            ctx.subtask,
            ctx.parallelism,
        )?;
        self.start(format, ctx, files, specs)
    }

    fn start<F: LineFormat>(
        &self,
        format: Arc<F>,
        ctx: &SourceContext,
        files: Vec<InputFile>,
        specs: Vec<ChunkSpec>,
    ) -> Result<Box<dyn Source>> {
        let files = Arc::new(files);
        let reader = spawn_reader(
            files.clone(),
            specs.clone(),
            self.has_header,
            self.read_mode,
            format!("{} {}", self.what, ctx.subtask),
        )?;
        Ok(Box::new(FileSource {
            format,
            what: self.what,
            files,
            specs,
            taken: 0,
            reader,
            on_error: self.on_error,
            bad_rows: self.bad_rows.clone(),
            batch_size: ctx.batch.batch_size.max(1),
            current: None,
            done_bytes: 0,
            errors: ErrorRows::default(),
            filtered: 0,
            partitions: self
                .partitions
                .clone()
                .map(|l| (l, PartitionValues::default())),
        }))
    }
}

/// The chunk being decoded.
struct Current {
    chunk: Chunk,
    pos: usize,
    decoder: Option<Box<dyn BatchDecoder>>,
    /// `(byte index in data, 1-based line number there)`, once the error path needed it.
    line_mark: Option<(usize, u64)>,
}

/// Bad rows waiting for [`Source::take_error_rows`].
#[derive(Default)]
struct ErrorRows {
    source: Vec<String>,
    line: Vec<u64>,
    column: Vec<Option<String>>,
    error: Vec<String>,
    raw: Vec<String>,
}

/// One subtask of a file source.
struct FileSource<F: LineFormat> {
    format: Arc<F>,
    /// `csv source`, `json source`.
    what: &'static str,
    files: Arc<Vec<InputFile>>,
    /// The chunks of this subtask, in reading order (the read-ahead thread reads them).
    specs: Vec<ChunkSpec>,
    /// Chunks received from the read-ahead thread: `specs[taken - 1]` is the current one.
    taken: usize,
    reader: Reader,
    on_error: OnError,
    bad_rows: Arc<AtomicU64>,
    batch_size: usize,
    current: Option<Current>,
    /// Nominal bytes of the chunks finished.
    done_bytes: u64,
    errors: ErrorRows,
    /// Rows a pushed-down filter dropped, not yet reported.
    filtered: u64,
    /// The partition layout and the values of the files seen, when partitioned.
    partitions: Option<(Arc<PartitionLayout>, PartitionValues)>,
}

/// A line that did not decode.
struct BadLine {
    start: usize,
    end: usize,
    err: ArrowError,
}

/// Decodes lines `data[start..end]` by bisection: the good rows as batches, in order, and
/// the bad lines.
fn bisect(
    format: &dyn LineFormat,
    data: &[u8],
    start: usize,
    end: usize,
) -> (Vec<RecordBatch>, Vec<BadLine>) {
    let mut lines = Vec::new();
    let mut s = start;
    for nl in memchr::memchr_iter(b'\n', &data[start..end]) {
        lines.push((s, start + nl + 1));
        s = start + nl + 1;
    }
    let (mut good, mut bad) = (Vec::new(), Vec::new());
    // Depth-first, left half first, so rows and errors keep the file order.
    let mut stack = vec![(0, lines.len())];
    while let Some((a, b)) = stack.pop() {
        if a >= b {
            continue;
        }
        let bytes = &data[lines[a].0..lines[b - 1].1];
        match format
            .decoder(b - a)
            .and_then(|mut d| decode_all(d.as_mut(), bytes))
        {
            Ok(batches) => good.extend(batches),
            Err(err) if b - a == 1 => bad.push(BadLine {
                start: lines[a].0,
                end: lines[a].1 - 1,
                err,
            }),
            Err(_) => {
                let mid = a + (b - a) / 2;
                stack.push((mid, b));
                stack.push((a, mid));
            }
        }
    }
    (good, bad)
}

impl<F: LineFormat> FileSource<F> {
    /// The slow path for the batch starting at `cur.pos`, which failed to decode.
    fn recover(&mut self) -> Result<Option<RecordBatch>> {
        let Some(cur) = self.current.as_mut() else {
            return Err(Error::Internal(
                "file source recovery without a chunk".into(),
            ));
        };
        cur.decoder = None;
        let data = &cur.chunk.data;
        let start = cur.pos;
        let end = memchr::memchr_iter(b'\n', &data[start..])
            .nth(self.batch_size - 1)
            .map_or(data.len(), |i| start + i + 1);
        let (good, bad) = bisect(self.format.as_ref(), data, start, end);
        let path = &self.files[cur.chunk.file].path;
        // No bad line (the batch failed on a line past its first `batch_size` lines, as
        // when empty lines are skipped): the good rows go on, and the next batch meets the
        // bad line and isolates it.
        for b in bad {
            let line_no = line_number(cur, path, b.start)?;
            let line = &cur.chunk.data[b.start..b.end];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let (column, detail) = self.format.diagnose(line, &b.err);
            match self.on_error {
                OnError::Fail => {
                    return Err(Error::Data {
                        location: Location {
                            source: path.display().to_string(),
                            line: Some(line_no),
                            column,
                        },
                        detail,
                    })
                }
                OnError::Skip => {}
                OnError::SideOutput => {
                    self.errors.source.push(path.display().to_string());
                    self.errors.line.push(line_no);
                    self.errors.column.push(column);
                    self.errors.error.push(detail);
                    self.errors
                        .raw
                        .push(String::from_utf8_lossy(line).into_owned());
                }
            }
            self.bad_rows.fetch_add(1, Ordering::Relaxed);
        }
        cur.pos = end;
        let good: Vec<RecordBatch> = good.into_iter().filter(|b| b.num_rows() > 0).collect();
        if good.is_empty() {
            return Ok(None);
        }
        Ok(Some(concat_batches(&self.format.schema(), &good)?))
    }
}

/// The 1-based line number in its file of the line starting at `data[at]`; moves the mark
/// forward so that successive bad lines of a chunk cost one pass in all.
fn line_number(cur: &mut Current, path: &Path, at: usize) -> Result<u64> {
    let (mark, line) = match cur.line_mark {
        Some((m, l)) if m <= at => (m, l),
        _ => (
            cur.chunk.begin,
            1 + newlines_before(path, cur.chunk.offset)?,
        ),
    };
    let line = line + memchr::memchr_iter(b'\n', &cur.chunk.data[mark..at]).count() as u64;
    cur.line_mark = Some((at, line));
    Ok(line)
}

impl<F: LineFormat> FileSource<F> {
    /// The next batch as decoded from the file, without partition columns.
    fn poll_file(&mut self) -> Result<SourcePoll> {
        loop {
            if self.current.is_none() {
                match self.reader.chunks.recv_timeout(Duration::from_millis(20)) {
                    Ok(chunk) => {
                        let chunk = chunk?;
                        self.taken += 1;
                        self.current = Some(Current {
                            pos: chunk.begin,
                            line_mark: chunk.line.map(|l| (chunk.begin, l)),
                            chunk,
                            decoder: None,
                        });
                    }
                    // The read-ahead thread is behind: let the task do other work meanwhile.
                    Err(RecvTimeoutError::Timeout) => {
                        return Ok(SourcePoll::Pending(Duration::ZERO))
                    }
                    Err(RecvTimeoutError::Disconnected) => return Ok(SourcePoll::End),
                }
            }
            let Some(cur) = self.current.as_mut() else {
                continue;
            };
            if cur.pos >= cur.chunk.data.len() {
                self.done_bytes += cur.chunk.nominal;
                if let Some(done) = self.current.take() {
                    // The reader may have stopped (all read): then the buffer is just dropped.
                    if let Some(buffer) = done.chunk.data.into_buffer() {
                        let _ = self.reader.recycle.try_send(buffer);
                    }
                }
                continue;
            }
            let decoder = match &mut cur.decoder {
                Some(d) => d,
                None => cur.decoder.insert(self.format.decoder(self.batch_size)?),
            };
            let rest = &cur.chunk.data[cur.pos..];
            let res = decoder
                .decode(rest)
                .and_then(|used| Ok((used, decoder.flush()?)));
            self.filtered += decoder.take_filtered();
            match res {
                Ok((used, batch)) => {
                    if used == 0 && batch.is_none() {
                        return Err(Error::Internal(format!(
                            "{} decoder made no progress",
                            self.files[cur.chunk.file].path.display()
                        )));
                    }
                    cur.pos += used;
                    if let Some(b) = batch.filter(|b| b.num_rows() > 0) {
                        return Ok(SourcePoll::Batch(b));
                    }
                }
                Err(_) => {
                    if let Some(b) = self.recover()? {
                        return Ok(SourcePoll::Batch(b));
                    }
                }
            }
        }
    }
}

impl<F: LineFormat> Source for FileSource<F> {
    fn poll(&mut self) -> Result<SourcePoll> {
        let b = match self.poll_file()? {
            SourcePoll::Batch(b) => b,
            other => return Ok(other),
        };
        let Some((layout, values)) = &mut self.partitions else {
            return Ok(SourcePoll::Batch(b));
        };
        // A batch never spans chunks, so it comes from the current chunk's file.
        let Some(cur) = &self.current else {
            return Err(Error::Internal(
                "file source: a batch without a chunk".into(),
            ));
        };
        let file = cur.chunk.file;
        let b = layout.assemble(&b, file, &self.files[file].path, values)?;
        Ok(SourcePoll::Batch(b))
    }

    fn position(&self) -> u64 {
        self.done_bytes
            + self
                .current
                .as_ref()
                .map_or(0, |c| (c.pos - c.chunk.begin) as u64)
    }

    /// The rest of the current chunk from the line after the last batch, then the chunks
    /// not started (those read ahead included).
    fn snapshot_position(&mut self) -> Result<Vec<u8>> {
        let rest = self.current.as_ref().and_then(|cur| {
            let data = &cur.chunk.data;
            let mut pos = cur.pos;
            // Decoders stop right after a record, maybe before its line break: resume at
            // the next line (the bytes skipped are the line's end).
            if pos > cur.chunk.begin && pos < data.len() && data[pos - 1] != b'\n' {
                pos = memchr::memchr(b'\n', &data[pos..]).map_or(data.len(), |i| pos + i + 1);
            }
            let start = cur.chunk.offset + (pos - cur.chunk.begin) as u64;
            if pos >= data.len() || start >= cur.chunk.end {
                return None;
            }
            let line = cur
                .line_mark
                .filter(|(m, _)| *m <= pos)
                .map(|(m, l)| l + memchr::memchr_iter(b'\n', &data[m..pos]).count() as u64);
            Some(ChunkSpec {
                file: cur.chunk.file,
                start,
                end: cur.chunk.end,
                line: line.filter(|_| start > 0),
            })
        });
        let unstarted = self.specs.iter().skip(self.taken).copied();
        super::position::encode(self.what, &self.files, rest.into_iter().chain(unstarted))
    }

    fn take_filtered_rows(&mut self) -> u64 {
        std::mem::take(&mut self.filtered)
    }

    fn take_error_rows(&mut self) -> Option<RecordBatch> {
        if self.errors.line.is_empty() {
            return None;
        }
        let e = std::mem::take(&mut self.errors);
        let columns: Vec<arrow::array::ArrayRef> = vec![
            Arc::new(StringArray::from(e.source)),
            Arc::new(UInt64Array::from(e.line)),
            Arc::new(StringArray::from(e.column)),
            Arc::new(StringArray::from(e.error)),
            Arc::new(StringArray::from(e.raw)),
        ];
        // The schema and the arrays are built together above, so this cannot fail.
        RecordBatch::try_new(error_rows_schema(), columns).ok()
    }
}
