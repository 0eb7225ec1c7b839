//! Checkpoint positions of the file sources, and how a restore shares out what is left.
//!
//! A subtask's position is the input it has not yet handed out, as byte ranges with the
//! chunks' meaning (a range owns the lines that *start* inside it): the rest of the chunk it
//! is decoding, from the line after the last batch [`Source::poll`] returned, then every
//! chunk it has not started. Chunks the read-ahead thread has read but `poll` has not
//! returned are in the position, so a restore reads them again. The range it stopped in
//! starts exactly at a line, and carries that line's number when the subtask knew it, so a
//! later error names the absolute line without counting from the file's start.
//!
//! ```text
//!  {"source":"csv source",
//!   "files":[["/data/bid.csv",10485760]],          path and length when the job started
//!   "ranges":[[0,1048999,2097152,null],            file index, start, end, line at start
//!             [0,6291456,8388608,null]]}
//! ```
//!
//! A restore takes the ranges of every old subtask (they are disjoint), sorts and merges
//! them, cuts them into chunks of the factory's chunk size, and gives chunk `k` to new
//! subtask `k % p'`: every new subtask computes the same list, so together they read each
//! remaining line once. The files must still have the recorded length.
//!
//! [`Source::poll`]: millstream_core::connector::Source::poll

use std::collections::BTreeMap;
use std::path::PathBuf;

use millstream_core::error::{Error, Result};
use serde::{Deserialize, Serialize};

use super::chunks::{ChunkSpec, InputFile};

/// The serialized position of one file source subtask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct FilePosition {
    /// `csv source` or `json source`, checked on restore.
    source: String,
    /// The files the ranges refer to: path and length in bytes.
    files: Vec<(String, u64)>,
    /// What is left: `(file index, start, end, line number at start)`; lines starting in
    /// `[start, end)`.
    ranges: Vec<(usize, u64, u64, Option<u64>)>,
}

/// Merges ranges of the same file that touch (`a.end == b.start`); the line number of the
/// first is kept.
fn coalesce(ranges: impl IntoIterator<Item = ChunkSpec>) -> Vec<ChunkSpec> {
    let mut out: Vec<ChunkSpec> = Vec::new();
    for r in ranges {
        if r.start >= r.end {
            continue;
        }
        match out.last_mut() {
            Some(last) if last.file == r.file && last.end == r.start => last.end = r.end,
            _ => out.push(r),
        }
    }
    out
}

/// The position of a subtask with `remaining` left to read (in reading order).
///
/// # Errors
/// A path that is not UTF-8 ([`Error::Unsupported`]).
pub(crate) fn encode(
    what: &str,
    files: &[InputFile],
    remaining: impl IntoIterator<Item = ChunkSpec>,
) -> Result<Vec<u8>> {
    let mut index: BTreeMap<usize, usize> = BTreeMap::new();
    let mut pos = FilePosition {
        source: what.to_string(),
        files: Vec::new(),
        ranges: Vec::new(),
    };
    for r in coalesce(remaining) {
        let next = index.len();
        let i = match index.get(&r.file) {
            Some(&i) => i,
            None => {
                let f = files.get(r.file).ok_or_else(|| {
                    Error::Internal(format!("{what}: position names file {}", r.file))
                })?;
                let path = f.path.to_str().ok_or_else(|| {
                    Error::Unsupported(format!(
                        "{what}: cannot checkpoint '{}': the path is not UTF-8",
                        f.path.display()
                    ))
                })?;
                pos.files.push((path.to_string(), f.len));
                index.insert(r.file, next);
                next
            }
        };
        pos.ranges.push((i, r.start, r.end, r.line));
    }
    serde_json::to_vec(&pos)
        .map_err(|e| Error::Internal(format!("{what}: cannot serialize position: {e}")))
}

/// The files and chunks of new subtask `subtask` of `parallelism` resuming from
/// `positions` (every old subtask's), in chunks of at most `chunk_size` bytes.
///
/// # Errors
/// [`Error::Connector`] for no positions, an unreadable one, one of another source, ranges
/// that overlap, or a file whose length changed; [`Error::Io`] for a file that is gone.
pub(crate) fn restore(
    what: &str,
    positions: &[Vec<u8>],
    chunk_size: usize,
    subtask: usize,
    parallelism: usize,
) -> Result<(Vec<InputFile>, Vec<ChunkSpec>)> {
    let err = |detail: String| Error::Connector {
        connector: what.to_string(),
        detail: format!("cannot resume: {detail}"),
    };
    if positions.is_empty() {
        return Err(err("the checkpoint holds no position of this source".into()));
    }
    let mut lengths: BTreeMap<String, u64> = BTreeMap::new();
    let mut decoded = Vec::with_capacity(positions.len());
    for (j, bytes) in positions.iter().enumerate() {
        let pos: FilePosition = serde_json::from_slice(bytes).map_err(|e| {
            err(format!(
                "the position of old subtask {j} is unreadable: {e}"
            ))
        })?;
        if pos.source != what {
            return Err(err(format!(
                "the position of old subtask {j} belongs to a {}",
                pos.source
            )));
        }
        for (path, len) in &pos.files {
            match lengths.get(path) {
                Some(l) if l != len => {
                    return Err(err(format!(
                        "inconsistent positions: '{path}' was {l} bytes long for one old subtask and {len} for another"
                    )))
                }
                _ => {
                    lengths.insert(path.clone(), *len);
                }
            }
        }
        decoded.push(pos);
    }
    // Files in path order; ranges renumbered into that list.
    let order: BTreeMap<&str, usize> = lengths
        .keys()
        .enumerate()
        .map(|(i, p)| (p.as_str(), i))
        .collect();
    let mut ranges = Vec::new();
    for (j, pos) in decoded.iter().enumerate() {
        for &(f, start, end, line) in &pos.ranges {
            let path = pos.files.get(f).ok_or_else(|| {
                err(format!(
                    "the position of old subtask {j} names file {f} of {}",
                    pos.files.len()
                ))
            })?;
            let file = order.get(path.0.as_str()).copied().unwrap_or_default();
            ranges.push(ChunkSpec {
                file,
                start,
                end,
                line,
            });
        }
    }
    ranges.sort_by_key(|r| (r.file, r.start));
    let mut files = Vec::with_capacity(lengths.len());
    for (path, &len) in &lengths {
        let meta = std::fs::metadata(path)
            .map_err(|e| Error::io(format!("{what}: cannot open '{path}' to resume"), e))?;
        if meta.len() != len {
            return Err(err(format!(
                "'{path}' changed since the checkpoint (was {len} bytes, now {})",
                meta.len()
            )));
        }
        files.push(InputFile {
            path: PathBuf::from(path),
            len,
        });
    }
    for w in ranges.windows(2) {
        if w[0].file == w[1].file && w[1].start < w[0].end {
            return Err(err(format!(
                "inconsistent positions: two old subtasks still had bytes {}..{} of '{}'",
                w[1].start,
                w[0].end.min(w[1].end),
                files[w[0].file].path.display()
            )));
        }
    }
    let size = chunk_size.max(1) as u64;
    let mut chunks = Vec::new();
    for r in coalesce(ranges) {
        let mut start = r.start;
        let mut line = r.line;
        while start < r.end {
            let end = start.saturating_add(size).min(r.end);
            chunks.push(ChunkSpec {
                file: r.file,
                start,
                end,
                line: line.take(),
            });
            start = end;
        }
    }
    let p = parallelism.max(1);
    let mine = chunks
        .into_iter()
        .enumerate()
        .filter(|(k, _)| k % p == subtask)
        .map(|(_, c)| c)
        .collect();
    Ok((files, mine))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(file: usize, start: u64, end: u64, line: Option<u64>) -> ChunkSpec {
        ChunkSpec {
            file,
            start,
            end,
            line,
        }
    }

    #[test]
    fn positions_round_trip_and_share_out_the_rest() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::write(&a, vec![b'x'; 100]).unwrap();
        std::fs::write(&b, vec![b'y'; 50]).unwrap();
        let files = vec![
            InputFile { path: a, len: 100 },
            InputFile { path: b, len: 50 },
        ];
        // Old subtask 0 has 10..20 and 30..40 of a left; old subtask 1 has 20..30 and all of b.
        let p0 = encode(
            "csv source",
            &files,
            [spec(0, 10, 20, Some(3)), spec(0, 30, 40, None)],
        )
        .unwrap();
        let p1 = encode(
            "csv source",
            &files,
            [
                spec(0, 20, 30, None),
                spec(1, 0, 25, None),
                spec(1, 25, 50, None),
            ],
        )
        .unwrap();
        let text = String::from_utf8(p1.clone()).unwrap();
        assert!(text.contains("[1,0,50,null]"), "ranges coalesce: {text}");
        let positions = [p0, p1];
        let mut all = Vec::new();
        for t in 0..3 {
            let (fs, mine) = restore("csv source", &positions, 12, t, 3).unwrap();
            assert_eq!(fs.len(), 2);
            all.extend(mine);
        }
        all.sort_by_key(|c| (c.file, c.start));
        let got: Vec<(usize, u64, u64, Option<u64>)> = all
            .iter()
            .map(|c| (c.file, c.start, c.end, c.line))
            .collect();
        assert_eq!(
            got,
            [
                (0, 10, 22, Some(3)),
                (0, 22, 34, None),
                (0, 34, 40, None),
                (1, 0, 12, None),
                (1, 12, 24, None),
                (1, 24, 36, None),
                (1, 36, 48, None),
                (1, 48, 50, None),
            ]
        );
        // Overlapping positions, another source, a changed file.
        let dup = restore(
            "csv source",
            &[positions[0].clone(), positions[0].clone()],
            12,
            0,
            1,
        );
        assert!(dup.err().unwrap().to_string().contains("inconsistent"));
        let other = restore("json source", &positions, 12, 0, 1);
        assert!(other
            .err()
            .unwrap()
            .to_string()
            .contains("belongs to a csv source"));
        std::fs::write(&files[1].path, b"short").unwrap();
        let changed = restore("csv source", &positions, 12, 0, 1);
        assert!(changed
            .err()
            .unwrap()
            .to_string()
            .contains("changed since the checkpoint"));
        assert!(restore("csv source", &[], 12, 0, 1).is_err());
        assert!(restore("csv source", &[b"{".to_vec()], 12, 0, 1)
            .err()
            .unwrap()
            .to_string()
            .contains("unreadable"));
    }
}
