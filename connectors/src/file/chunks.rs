//! Input listing, chunk planning and the read-ahead thread of the file sources.
//!
//! A chunk is a nominal byte range `[start, end)` of one file; it owns the lines that *start*
//! inside it. Reading it means reading from `start - 1` (to see whether a line starts at
//! `start`), dropping the partial first line, and reading on past `end` to the end of the
//! last line. Every subtask plans the same chunks from the same file sizes, so the split is
//! deterministic and each line is decoded exactly once.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crossbeam_channel::{bounded, Receiver, Sender};
use millstream_core::error::{Error, Result};

use super::mapped::{map_range, ChunkBytes};

/// One input file.
#[derive(Debug, Clone)]
pub(crate) struct InputFile {
    pub(crate) path: PathBuf,
    pub(crate) len: u64,
}

/// Lists the input: `path` itself, or every visible file below the directory `path`
/// (recursively, sorted by path; names starting with `.` or `_` are skipped, as Flink and
/// Hadoop do for in-progress and marker files).
pub(crate) fn list_files(path: &Path, what: &str) -> Result<Vec<InputFile>> {
    let meta = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("{what}: cannot open '{}'", path.display()), e))?;
    if meta.is_file() {
        return Ok(vec![InputFile {
            path: path.to_path_buf(),
            len: meta.len(),
        }]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![path.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|e| Error::io(format!("{what}: cannot list '{}'", dir.display()), e))?;
        for entry in entries {
            let entry = entry
                .map_err(|e| Error::io(format!("{what}: cannot list '{}'", dir.display()), e))?;
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') || name.starts_with('_') {
                continue;
            }
            let p = entry.path();
            let meta = std::fs::metadata(&p)
                .map_err(|e| Error::io(format!("{what}: cannot open '{}'", p.display()), e))?;
            if meta.is_dir() {
                dirs.push(p);
            } else if meta.is_file() {
                out.push(InputFile {
                    path: p,
                    len: meta.len(),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// A nominal byte range of one input file: it owns the lines that start in `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ChunkSpec {
    pub(crate) file: usize,
    pub(crate) start: u64,
    pub(crate) end: u64,
    /// The 1-based line number of the line starting exactly at `start`, when known (a
    /// range resumed from a checkpoint); `None` makes the error path count it.
    pub(crate) line: Option<u64>,
}

/// Cuts every file into ranges of `chunk_size` bytes (the last one of a file shorter).
pub(crate) fn plan_chunks(files: &[InputFile], chunk_size: usize) -> Vec<ChunkSpec> {
    let size = chunk_size.max(1) as u64;
    let mut out = Vec::new();
    for (i, f) in files.iter().enumerate() {
        let mut start = 0;
        while start < f.len {
            let end = (start + size).min(f.len);
            out.push(ChunkSpec {
                file: i,
                start,
                end,
                line: None,
            });
            start = end;
        }
    }
    out
}

/// The lines of one chunk, read.
#[derive(Debug)]
pub(crate) struct Chunk {
    /// Index of the file in the input list.
    pub(crate) file: usize,
    /// The bytes; the chunk's lines are `data[begin..]`, which ends with a newline.
    pub(crate) data: ChunkBytes,
    /// First byte of the chunk's first line in `data`.
    pub(crate) begin: usize,
    /// File offset of `data[begin]`.
    pub(crate) offset: u64,
    /// Nominal length of the chunk, for progress.
    pub(crate) nominal: u64,
    /// Nominal end of the chunk in the file.
    pub(crate) end: u64,
    /// The line number of the line at `offset`, when the spec knew it.
    pub(crate) line: Option<u64>,
}

/// How chunks are brought into memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadMode {
    /// Mapped from the file (module `mapped`), read where mapping fails.
    Map,
    /// Read into buffers.
    Read,
}

/// Reads the lines of `spec` from `file`; skips the first line of a file when `skip_header`.
/// `data` is a recycled buffer (its contents are discarded), used when the chunk is read
/// rather than mapped.
pub(crate) fn read_chunk(
    file: &mut File,
    input: &InputFile,
    spec: ChunkSpec,
    skip_header: bool,
    mode: ReadMode,
    data: Vec<u8>,
) -> std::io::Result<Chunk> {
    let from = spec.start.saturating_sub(1);
    let mapped = match mode {
        ReadMode::Map => map_lines(file, from, spec.end)?,
        ReadMode::Read => None,
    };
    let data = match mapped {
        Some(bytes) => bytes,
        None => ChunkBytes::Owned(read_lines(file, input, from, spec.end, data)?),
    };
    // The first line belongs to this chunk only if it starts at `start`: that is, at offset 0
    // or right after a newline at `start - 1`.
    let mut begin = if spec.start == 0 {
        0
    } else {
        memchr::memchr(b'\n', &data).map_or(data.len(), |i| i + 1)
    };
    if skip_header && spec.start == 0 {
        begin = memchr::memchr(b'\n', &data).map_or(data.len(), |i| i + 1);
    }
    let data = if begin < data.len() && data.last() != Some(&b'\n') {
        // The file's last line has no newline: the chunk is copied to add one (at most one
        // chunk per file).
        let mut owned = match data {
            ChunkBytes::Owned(v) => v,
            ChunkBytes::Mapped { .. } => data.to_vec(),
        };
        owned.push(b'\n');
        ChunkBytes::Owned(owned)
    } else {
        data
    };
    Ok(Chunk {
        file: spec.file,
        begin,
        offset: from + begin as u64,
        data,
        nominal: spec.end - spec.start,
        end: spec.end,
        // A header is skipped only at offset 0, where no line number is ever recorded.
        line: spec.line.filter(|_| spec.start > 0),
    })
}

/// Reads `[from, end)` of `file` and on to the end of the line that straddles `end`.
fn read_lines(
    file: &mut File,
    input: &InputFile,
    from: u64,
    end: u64,
    mut data: Vec<u8>,
) -> std::io::Result<Vec<u8>> {
    file.seek(SeekFrom::Start(from))?;
    data.clear();
    data.reserve((end - from) as usize + (64 << 10));
    file.by_ref().take(end - from).read_to_end(&mut data)?;
    if data.last() != Some(&b'\n') && end < input.len {
        loop {
            let old = data.len();
            file.by_ref().take(64 << 10).read_to_end(&mut data)?;
            if data.len() == old {
                break;
            }
            if let Some(i) = memchr::memchr(b'\n', &data[old..]) {
                data.truncate(old + i + 1);
                break;
            }
        }
    }
    Ok(data)
}

/// Maps `[from, end)` of `file` and on to the end of the line that straddles `end`, as
/// [`read_lines`] reads it, within the file's length now. `None` when mapping fails: the
/// caller reads instead.
fn map_lines(file: &File, from: u64, end: u64) -> std::io::Result<Option<ChunkBytes>> {
    let file_len = file.metadata()?.len();
    let end = end.min(file_len);
    if from >= end {
        return Ok(Some(ChunkBytes::Owned(Vec::new())));
    }
    let nominal = (end - from) as usize;
    let mut reach = 64u64 << 10;
    loop {
        let map_end = end.saturating_add(reach).min(file_len);
        let Ok(map) = map_range(file, from, (map_end - from) as usize) else {
            return Ok(None);
        };
        let len = if map[nominal - 1] == b'\n' || end == file_len {
            nominal
        } else if let Some(i) = memchr::memchr(b'\n', &map[nominal..]) {
            nominal + i + 1
        } else if map_end < file_len {
            // A line longer than the reach: map further.
            reach = reach.saturating_mul(4);
            continue;
        } else {
            map.len()
        };
        return Ok(Some(ChunkBytes::Mapped { map, len }));
    }
}

/// The read-ahead thread of one subtask: chunks come on `chunks`; buffers sent back on
/// `recycle` are reused when chunks are read (fresh 4 MiB buffers cost about 5 % in page
/// faults).
pub(crate) struct Reader {
    pub(crate) chunks: Receiver<Result<Chunk>>,
    pub(crate) recycle: Sender<Vec<u8>>,
}

/// Starts the read-ahead thread of one subtask: it maps or reads (`mode`) `specs` in order
/// and keeps one chunk ready beyond the one being decoded. It stops when the receiver is dropped.
pub(crate) fn spawn_reader(
    files: Arc<Vec<InputFile>>,
    specs: Vec<ChunkSpec>,
    skip_header: bool,
    mode: ReadMode,
    what: String,
) -> Result<Reader> {
    let (tx, rx) = bounded(1);
    let (recycle, recycled) = bounded::<Vec<u8>>(2);
    let name = format!("{what}-read");
    std::thread::Builder::new()
        .name(name)
        .spawn(move || {
            let mut open: Option<(usize, File)> = None;
            for spec in specs {
                let input = &files[spec.file];
                let ctx = || format!("{what}: cannot read '{}'", input.path.display());
                let file = match &mut open {
                    Some((i, f)) if *i == spec.file => f,
                    _ => match File::open(&input.path) {
                        Ok(f) => &mut open.insert((spec.file, f)).1,
                        Err(e) => {
                            let _ = tx.send(Err(Error::io(ctx(), e)));
                            return;
                        }
                    },
                };
                let buffer = recycled.try_recv().unwrap_or_default();
                let chunk = read_chunk(file, input, spec, skip_header, mode, buffer)
                    .map_err(|e| Error::io(ctx(), e));
                let failed = chunk.is_err();
                if tx.send(chunk).is_err() || failed {
                    return;
                }
            }
        })
        .map_err(|e| Error::io("file source: cannot start the read-ahead thread", e))?;
    Ok(Reader {
        chunks: rx,
        recycle,
    })
}

/// Number of newlines in the first `offset` bytes of `path` (error path only).
pub(crate) fn newlines_before(path: &Path, offset: u64) -> Result<u64> {
    let ctx = || format!("cannot read '{}'", path.display());
    let file = File::open(path).map_err(|e| Error::io(ctx(), e))?;
    let mut reader = file.take(offset);
    let mut buf = vec![0u8; 1 << 20];
    let mut count = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(|e| Error::io(ctx(), e))?;
        if n == 0 {
            return Ok(count);
        }
        count += memchr::memchr_iter(b'\n', &buf[..n]).count() as u64;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    /// A temporary file holding `text`, as listed, and opened.
    fn temp_input(text: &str) -> (tempfile::NamedTempFile, InputFile, File) {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(text.as_bytes()).unwrap();
        let input = InputFile {
            path: f.path().to_path_buf(),
            len: text.len() as u64,
        };
        let file = File::open(f.path()).unwrap();
        (f, input, file)
    }

    fn lines_of_all_chunks(text: &str, chunk: usize, header: bool, mode: ReadMode) -> Vec<String> {
        let (_f, input, mut file) = temp_input(text);
        let mut out = Vec::new();
        for spec in plan_chunks(std::slice::from_ref(&input), chunk) {
            let c = read_chunk(&mut file, &input, spec, header, mode, Vec::new()).unwrap();
            let lines = std::str::from_utf8(&c.data[c.begin..]).unwrap();
            if !lines.is_empty() {
                assert!(lines.ends_with('\n'));
                let first = &text[c.offset as usize..];
                assert!(first.starts_with(lines.trim_end_matches('\n')));
            }
            out.extend(lines.lines().map(String::from));
        }
        out
    }

    #[test]
    fn every_line_is_read_once_whatever_the_chunk_size() {
        let text = "a,1\nbb,22\n\nccc,333\nd,4\neeeee,55555";
        let expected: Vec<String> = text.lines().map(String::from).collect();
        for mode in [ReadMode::Map, ReadMode::Read] {
            for chunk in 1..=text.len() + 1 {
                assert_eq!(
                    lines_of_all_chunks(text, chunk, false, mode),
                    expected,
                    "chunk {chunk} {mode:?}"
                );
                assert_eq!(
                    lines_of_all_chunks(text, chunk, true, mode),
                    expected[1..],
                    "chunk {chunk} {mode:?}"
                );
            }
        }
    }

    #[test]
    fn mapped_chunks_equal_read_chunks_across_long_lines() {
        // Lines longer than the first reach past a chunk's end (64 KiB) make the map grow.
        let long = "x".repeat(300 << 10);
        let text = format!("a\n{long}\nb,{long}\nc\n{long}");
        let (_f, input, mut file) = temp_input(&text);
        for chunk in [1000, 64 << 10, 100_003, 1 << 20] {
            for spec in plan_chunks(std::slice::from_ref(&input), chunk) {
                let m = read_chunk(&mut file, &input, spec, false, ReadMode::Map, Vec::new());
                let r = read_chunk(&mut file, &input, spec, false, ReadMode::Read, Vec::new());
                let (m, r) = (m.unwrap(), r.unwrap());
                assert_eq!((m.begin, m.offset), (r.begin, r.offset), "{spec:?}");
                assert!(*m.data == *r.data, "{spec:?}");
            }
        }
        let all: Vec<String> = text.lines().map(String::from).collect();
        assert_eq!(
            lines_of_all_chunks(&text, 70_000, false, ReadMode::Map),
            all
        );
    }

    #[test]
    fn a_file_shorter_than_listed_is_read_to_its_end() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"a,1\nb,2\nc,3\n").unwrap();
        let input = InputFile {
            path: f.path().to_path_buf(),
            len: 100, // listed longer than it is now
        };
        for mode in [ReadMode::Map, ReadMode::Read] {
            let mut file = File::open(f.path()).unwrap();
            let mut lines = Vec::new();
            for spec in plan_chunks(std::slice::from_ref(&input), 5) {
                let c = read_chunk(&mut file, &input, spec, false, mode, Vec::new()).unwrap();
                lines.extend(
                    c.data[c.begin..]
                        .split(|&b| b == b'\n')
                        .filter(|l| !l.is_empty())
                        .map(|l| l.to_vec()),
                );
            }
            assert_eq!(
                lines,
                [b"a,1".to_vec(), b"b,2".to_vec(), b"c,3".to_vec()],
                "{mode:?}"
            );
        }
    }

    #[test]
    fn directories_are_listed_sorted_without_hidden_files() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.csv", "a.csv", ".hidden.csv", "_SUCCESS", "sub/c.csv"] {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, "x\n").unwrap();
        }
        let names: Vec<String> = list_files(dir.path(), "test")
            .unwrap()
            .iter()
            .map(|f| {
                f.path
                    .strip_prefix(dir.path())
                    .unwrap()
                    .display()
                    .to_string()
            })
            .collect();
        assert_eq!(names, ["a.csv", "b.csv", "sub/c.csv"]);
    }

    #[test]
    fn counts_newlines_before_an_offset() {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        f.write_all(b"a\nb\nc\nd").unwrap();
        assert_eq!(newlines_before(f.path(), 0).unwrap(), 0);
        assert_eq!(newlines_before(f.path(), 2).unwrap(), 1);
        assert_eq!(newlines_before(f.path(), 7).unwrap(), 3);
    }
}
