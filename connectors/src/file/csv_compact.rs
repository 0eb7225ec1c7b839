//! Projection below the CSV tokenizer: copies only the fields a job reads out of each line,
//! so arrow's CSV decoder tokenizes a short line instead of the whole row.
//!
//! arrow's decoder (through `csv_core`) copies every byte of every field into its record
//! buffer, even for columns its projection drops; on Nexmark's `bid.csv` (185-byte rows,
//! `url` and `extra` the long fields) that is most of the decoding time for a query reading
//! two narrow columns. The [`Compactor`] finds the field boundaries of the lines with the
//! [`LineSplitter`] (one pass over the bytes, which also checks the field counts and whether
//! the lines are simple), and appends the wanted fields, in projection order, as new lines
//! to a scratch buffer that the decoder then reads with the projected schema. The output has
//! one line per non-empty input line, so row counts and line numbers are unchanged. The
//! `csv_split` module reads the same split lines straight into columns instead.
//!
//! Both paths are only correct where a delimiter or newline byte always ends a field: they
//! read lines with no quote (`"`) and no carriage return (`\r`, which `csv_core` also reads
//! as a line end); for any other lines they return `None` and arrow's decoder reads them.
//! A line with the wrong number of fields is an error here too, and the file source's error
//! path then diagnoses it against the original line. One difference remains: bytes of a
//! field the job does not read are not checked to be UTF-8.

use arrow::error::ArrowError;
use millstream_kernels::text::{classify_block, BLOCK};

/// Finds the wanted fields of simple CSV lines (see [`is_simple`]) in one pass over the
/// bytes, checking each line's field count.
///
/// The pass classifies 64 bytes at a time into two bit masks, delimiters and newlines, and
/// quotes and carriage returns (`millstream_kernels::text::classify_block`: SIMD compares
/// and a byte mask); the set bits of the first mask are then visited in order with
/// `trailing_zeros`. A field costs a few instructions, where a `memchr2` call per
/// field (fields are ~25 bytes on Nexmark rows) cost a search setup each; and the lines
/// are checked to be simple in the same pass, not in another one over memory.
#[derive(Debug)]
pub(crate) struct LineSplitter {
    delimiter: u8,
    /// Fields per line in the file.
    fields: usize,
    /// The file field of each output field, in output order.
    wanted: Vec<usize>,
    /// Per file field up to the last wanted one: its place in a row of `bounds`, or
    /// `NOT_WANTED` (later fields are only counted).
    slot: Vec<u32>,
    /// Places in a row that repeat a field wanted earlier in the row: `(place, earlier)`.
    repeats: Vec<(usize, usize)>,
    /// `(start, end)` of the wanted fields of every line split, row after row; while
    /// splitting, one more row for the line being split.
    bounds: Vec<(usize, usize)>,
    /// Whether the lines of the last split had no quote and no carriage return.
    simple: bool,
}

/// Whether the split and compacted paths can read `buf`: no quotes and no carriage returns.
pub(crate) fn is_simple(buf: &[u8]) -> bool {
    memchr::memchr2(b'"', b'\r', buf).is_none()
}

/// [`LineSplitter`]'s mark of a file field no output field reads.
const NOT_WANTED: u32 = u32::MAX;

/// Where [`LineSplitter::split`] is in the current line.
#[derive(Clone, Copy, Default)]
struct Cursor {
    line_start: usize,
    field: usize,
    field_start: usize,
    rows: usize,
}

impl LineSplitter {
    /// A splitter for lines of `fields` fields keeping the fields `wanted`, in that order.
    pub(crate) fn new(delimiter: u8, fields: usize, wanted: &[usize]) -> Self {
        let last = wanted.iter().copied().max().unwrap_or(0);
        let mut slot = vec![NOT_WANTED; last + 1];
        let mut repeats = Vec::new();
        for (k, &f) in wanted.iter().enumerate() {
            match slot[f] {
                NOT_WANTED => slot[f] = k as u32,
                first => repeats.push((k, first as usize)),
            }
        }
        LineSplitter {
            delimiter,
            fields,
            wanted: wanted.to_vec(),
            slot,
            repeats,
            bounds: Vec::new(),
            simple: true,
        }
    }

    /// Records field `field` of the current line, `start..end`, if it is wanted.
    #[inline]
    fn record(&mut self, field: usize, start: usize, end: usize) {
        if let Some(&k) = self.slot.get(field) {
            if k != NOT_WANTED {
                let at = self.bounds.len() - self.wanted.len() + k as usize;
                self.bounds[at] = (start, end);
            }
        }
    }

    /// Splits up to `max_rows` lines from the start of `buf`; returns the bytes of `buf`
    /// used, whole lines only (a final line without a newline counts as whole), and the
    /// lines split. Empty lines are skipped, as `csv_core` skips them. The fields are in
    /// [`bounds`](Self::bounds), and whether those lines are simple in
    /// [`simple`](Self::simple), until the next call. The bounds are right only for simple
    /// lines.
    ///
    /// # Errors
    /// [`ArrowError::CsvError`] for a line whose field count is not the file's (which may
    /// be a line that is not simple: a quoted delimiter).
    pub(crate) fn split(
        &mut self,
        buf: &[u8],
        max_rows: usize,
    ) -> Result<(usize, usize), ArrowError> {
        let width = self.wanted.len();
        self.bounds.clear();
        self.bounds
            .reserve(max_rows.min(buf.len() / 2 + 1).saturating_add(1) * width);
        self.bounds.resize(width, (0, 0));
        self.simple = true;
        let mut c = Cursor::default();
        let mut base = 0;
        let mut tail = [0u8; BLOCK];
        while base < buf.len() && c.rows < max_rows {
            let end = (base + BLOCK).min(buf.len());
            let block: &[u8; BLOCK] = match buf[base..end].try_into() {
                Ok(block) => block,
                Err(_) => {
                    // The last, short block: padded with a byte that is neither a
                    // delimiter nor a newline, quote or carriage return.
                    let pad = if self.delimiter == 0 { 1 } else { 0 };
                    tail.fill(pad);
                    tail[..end - base].copy_from_slice(&buf[base..end]);
                    &tail
                }
            };
            let (mut hits, mut special) = classify_block(block, self.delimiter);
            while hits != 0 {
                let bit = hits.trailing_zeros() as usize;
                hits &= hits - 1;
                let pos = base + bit;
                if buf[pos] == self.delimiter {
                    self.record(c.field, c.field_start, pos);
                    c.field += 1;
                    c.field_start = pos + 1;
                } else {
                    self.end_line(&mut c, pos)?;
                    if c.rows == max_rows {
                        // Only the bytes of the lines split count.
                        special &= u64::MAX >> (BLOCK - 1 - bit);
                        break;
                    }
                }
            }
            self.simple &= special == 0;
            base = end;
        }
        if c.rows < max_rows && c.line_start < buf.len() {
            self.end_line(&mut c, buf.len())?;
        }
        // Drop the row of the line that was not split.
        self.bounds.truncate(c.rows * width);
        Ok((c.line_start.min(buf.len()), c.rows))
    }

    /// The line ends at `pos` (a newline, or the end of the buffer).
    #[inline]
    fn end_line(&mut self, c: &mut Cursor, pos: usize) -> Result<(), ArrowError> {
        if pos > c.line_start {
            self.record(c.field, c.field_start, pos);
            if c.field + 1 != self.fields {
                return Err(ArrowError::CsvError(format!(
                    "incorrect number of fields, expected {} got {}",
                    self.fields,
                    c.field + 1
                )));
            }
            let row = self.bounds.len() - self.wanted.len();
            for &(k, first) in &self.repeats {
                self.bounds[row + k] = self.bounds[row + first];
            }
            self.bounds.resize(row + 2 * self.wanted.len(), (0, 0));
            c.rows += 1;
        }
        c.line_start = pos + 1;
        c.field = 0;
        c.field_start = c.line_start;
        Ok(())
    }

    /// [`split`](Self::split), for the paths that read only simple lines: `None` when the
    /// lines split are not simple (a quote or a carriage return), or when splitting failed
    /// on a buffer that is not simple (a quoted delimiter miscounts the fields); the bounds
    /// of `Some` lines are right.
    ///
    /// # Errors
    /// A simple line whose field count is not the file's.
    pub(crate) fn split_simple(
        &mut self,
        buf: &[u8],
        max_rows: usize,
    ) -> Result<Option<(usize, usize)>, ArrowError> {
        match self.split(buf, max_rows) {
            Ok(split) => Ok(self.simple.then_some(split)),
            Err(_) if !is_simple(buf) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// Whether the lines of the last [`split`](Self::split) have no quote and no carriage
    /// return: their bounds are right.
    #[cfg(test)]
    pub(crate) fn simple(&self) -> bool {
        self.simple
    }

    /// `(start, end)` in the last split buffer of each wanted field of each line split by
    /// the last [`split`](Self::split), row after row.
    pub(crate) fn bounds(&self) -> &[(usize, usize)] {
        &self.bounds
    }

    /// The field delimiter.
    pub(crate) fn delimiter(&self) -> u8 {
        self.delimiter
    }

    /// Fields kept per line.
    pub(crate) fn width(&self) -> usize {
        self.wanted.len()
    }
}

/// Copies the wanted fields of simple CSV lines into a scratch buffer.
#[derive(Debug)]
pub(crate) struct Compactor {
    splitter: LineSplitter,
    out: Vec<u8>,
}

impl Compactor {
    /// A compactor for lines of `fields` fields keeping the fields `wanted`, in that order.
    pub(crate) fn new(delimiter: u8, fields: usize, wanted: &[usize]) -> Self {
        Compactor {
            splitter: LineSplitter::new(delimiter, fields, wanted),
            out: Vec::new(),
        }
    }

    /// Compacts up to `max_rows` lines from the start of `buf`; returns the bytes of `buf`
    /// used, whole lines only (a final line without a newline counts as whole), or `None`
    /// when those lines are not simple (see [`LineSplitter::split_simple`]). The lines are
    /// in [`output`](Self::output) until the next call.
    ///
    /// # Errors
    /// [`ArrowError::CsvError`] for a simple line whose field count is not the file's.
    pub(crate) fn compact(
        &mut self,
        buf: &[u8],
        max_rows: usize,
    ) -> Result<Option<usize>, ArrowError> {
        self.out.clear();
        let Some((used, _)) = self.splitter.split_simple(buf, max_rows)? else {
            return Ok(None);
        };
        let (delimiter, width) = (self.splitter.delimiter, self.splitter.width());
        for row in self.splitter.bounds().chunks_exact(width.max(1)) {
            for (k, &(s, e)) in row.iter().enumerate() {
                if k > 0 {
                    self.out.push(delimiter);
                }
                self.out.extend_from_slice(&buf[s..e]);
            }
            if width == 1 && row[0].0 == row[0].1 {
                // A lone empty field would be an empty line, which the tokenizer skips:
                // quote it.
                self.out.extend_from_slice(b"\"\"");
            }
            self.out.push(b'\n');
        }
        Ok(Some(used))
    }

    /// The lines of the last [`compact`](Self::compact) call.
    pub(crate) fn output(&self) -> &[u8] {
        &self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compact(fields: usize, wanted: &[usize], buf: &str, max: usize) -> (usize, String) {
        let mut c = Compactor::new(b',', fields, wanted);
        let used = c.compact(buf.as_bytes(), max).unwrap().unwrap();
        (used, String::from_utf8(c.output().to_vec()).unwrap())
    }

    #[test]
    fn keeps_wanted_fields_in_projection_order() {
        let (used, out) = compact(4, &[3, 0], "a,b,c,d\n1,,3,\n", 10);
        assert_eq!(used, 14);
        assert_eq!(out, "d,a\n,1\n");
    }

    #[test]
    fn a_field_wanted_twice_is_kept_twice() {
        let (used, out) = compact(3, &[1, 0, 1], "a,b,c\nd,,f\n", 10);
        assert_eq!(used, 11);
        assert_eq!(out, "b,a,b\n,d,\n");
    }

    #[test]
    fn skips_empty_lines_and_stops_after_max_rows() {
        let (used, out) = compact(2, &[1], "\n\na,b\n\nc,d\ne,f\n", 2);
        assert_eq!(used, "\n\na,b\n\nc,d\n".len());
        assert_eq!(out, "b\nd\n");
        let (used, out) = compact(2, &[0], "a,b", 5);
        assert_eq!((used, out.as_str()), (3, "a\n"));
        let (_, out) = compact(2, &[1], "a,\nb,c\n", 5);
        assert_eq!(out, "\"\"\nc\n");
    }

    #[test]
    fn wrong_field_count_is_an_error() {
        let mut c = Compactor::new(b',', 3, &[0]);
        let err = c.compact(b"a,b,c\na,b\n", 10).unwrap_err().to_string();
        assert!(err.contains("expected 3 got 2"), "{err}");
        let err = c.compact(b"a,b,c,d\n", 10).unwrap_err().to_string();
        assert!(err.contains("expected 3 got 4"), "{err}");
    }

    #[test]
    fn lines_that_are_not_simple_are_left_to_arrow() {
        for buf in [&b"1,\"a,b\"\n"[..], b"1,a\r\n", b"1,2\n3,\"x\"\n"] {
            let mut c = Compactor::new(b',', 2, &[1]);
            assert_eq!(c.compact(buf, 10).unwrap(), None, "{buf:?}");
        }
        // Not simple past the lines asked for: those lines are read.
        let mut c = Compactor::new(b',', 2, &[1]);
        assert_eq!(c.compact(b"1,2\n3,\"x\"\n", 1).unwrap(), Some(4));
    }

    #[test]
    fn quotes_and_carriage_returns_are_not_simple() {
        assert!(is_simple(b"a,b\nc,d\n"));
        assert!(!is_simple(b"a,\"b,c\"\n"));
        assert!(!is_simple(b"a,b\r\n"));
    }

    /// The lines, fields and simplicity a plain byte loop finds.
    fn reference(buf: &[u8], fields: usize, wanted: &[usize], max: usize) -> Option<Split> {
        let (mut out, mut rows, mut start, mut simple) = (Vec::new(), 0, 0, true);
        while rows < max && start < buf.len() {
            let end = buf[start..]
                .iter()
                .position(|&b| b == b'\n')
                .map_or(buf.len(), |i| start + i);
            let line = &buf[start..end];
            simple &= !line.iter().any(|&b| b == b'"' || b == b'\r');
            if !line.is_empty() {
                let mut bounds = Vec::new();
                let mut s = start;
                for (i, &b) in line.iter().enumerate() {
                    if b == b',' {
                        bounds.push((s, start + i));
                        s = start + i + 1;
                    }
                }
                bounds.push((s, end));
                if bounds.len() != fields {
                    return None;
                }
                out.extend(wanted.iter().map(|&i| bounds[i]));
                rows += 1;
            }
            start = (end + 1).min(buf.len());
        }
        Some((start, rows, out, simple))
    }

    type Split = (usize, usize, Vec<(usize, usize)>, bool);

    #[test]
    fn block_split_agrees_with_a_byte_loop() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let alphabet = b"ab,,,\n\n\"\r";
        for case in 0..3_000 {
            let len = rng.random_range(0..300);
            let buf: Vec<u8> = (0..len)
                .map(|_| {
                    if rng.random_bool(0.9) {
                        alphabet[rng.random_range(0..6)]
                    } else {
                        alphabet[rng.random_range(0..alphabet.len())]
                    }
                })
                .collect();
            let fields = rng.random_range(1..4);
            let wanted: Vec<usize> = (0..fields).filter(|_| rng.random_bool(0.7)).collect();
            let wanted = if wanted.is_empty() { vec![0] } else { wanted };
            let max = rng.random_range(1..20);
            let mut sp = LineSplitter::new(b',', fields, &wanted);
            let got = sp
                .split(&buf, max)
                .ok()
                .map(|(used, rows)| (used, rows, sp.bounds().to_vec(), sp.simple()));
            let want = reference(&buf, fields, &wanted, max);
            assert_eq!(
                got,
                want,
                "case {case}: {:?}",
                String::from_utf8_lossy(&buf)
            );
        }
    }
}
