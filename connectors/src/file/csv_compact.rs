//! Projection below the CSV tokenizer: copies only the fields a job reads out of each line,
//! so arrow's CSV decoder tokenizes a short line instead of the whole row.
//!
//! arrow's decoder (through `csv_core`) copies every byte of every field into its record
//! buffer, even for columns its projection drops; on Nexmark's `bid.csv` (185-byte rows,
//! `url` and `extra` the long fields) that is most of the decoding time for a query reading
//! two narrow columns. The [`Compactor`] finds the field boundaries of a line with one
//! `memchr2` pass over the buffer (delimiters and newlines), checks the field count, and
//! appends the wanted fields, in projection order, as a new line to a scratch buffer that
//! the decoder then reads with the projected schema. The output has one line per non-empty
//! input line, so row counts and line numbers are unchanged.
//!
//! The compacted path is only correct where a delimiter or newline byte always ends a
//! field: it is taken for a buffer with no quote (`"`) and no carriage return (`\r`, which
//! `csv_core` also reads as a line end); any other buffer goes to arrow's decoder whole.
//! A line with the wrong number of fields is an error here too, and the file source's error
//! path then diagnoses it against the original line. One difference remains: bytes of a
//! field the job does not read are not checked to be UTF-8.

use arrow::error::ArrowError;

/// Copies the wanted fields of simple CSV lines into a scratch buffer.
#[derive(Debug)]
pub(crate) struct Compactor {
    delimiter: u8,
    /// Fields per line in the file.
    fields: usize,
    /// The file field of each output field, in output order.
    wanted: Vec<usize>,
    /// The largest wanted field index: later fields are only counted.
    last: usize,
    /// `(start, end)` of fields `0..=last` of the current line.
    bounds: Vec<(usize, usize)>,
    out: Vec<u8>,
}

impl Compactor {
    /// A compactor for lines of `fields` fields keeping the fields `wanted`, in that order.
    pub(crate) fn new(delimiter: u8, fields: usize, wanted: &[usize]) -> Self {
        let last = wanted.iter().copied().max().unwrap_or(0);
        Compactor {
            delimiter,
            fields,
            wanted: wanted.to_vec(),
            last,
            bounds: vec![(0, 0); last + 1],
            out: Vec::new(),
        }
    }

    /// Whether the compacted path can read `buf`: no quotes and no carriage returns.
    pub(crate) fn is_simple(buf: &[u8]) -> bool {
        memchr::memchr2(b'"', b'\r', buf).is_none()
    }

    /// Compacts up to `max_rows` lines from the start of `buf` (a simple buffer, see
    /// [`is_simple`](Self::is_simple)); returns the bytes of `buf` used, whole lines only
    /// (a final line without a newline counts as whole). The lines are in
    /// [`output`](Self::output) until the next call.
    ///
    /// # Errors
    /// [`ArrowError::CsvError`] for a line whose field count is not the file's.
    pub(crate) fn compact(&mut self, buf: &[u8], max_rows: usize) -> Result<usize, ArrowError> {
        self.out.clear();
        let (mut line_start, mut field, mut field_start, mut rows) = (0, 0, 0, 0);
        let mut hits = memchr::memchr2_iter(self.delimiter, b'\n', buf);
        while rows < max_rows {
            let pos = match hits.next() {
                Some(pos) => pos,
                None if line_start < buf.len() => buf.len(),
                None => break,
            };
            if pos < buf.len() && buf[pos] == self.delimiter {
                if field <= self.last {
                    self.bounds[field] = (field_start, pos);
                }
                field += 1;
                field_start = pos + 1;
                continue;
            }
            // The end of a line: `csv_core` skips empty ones.
            if pos > line_start {
                if field <= self.last {
                    self.bounds[field] = (field_start, pos);
                }
                if field + 1 != self.fields {
                    return Err(ArrowError::CsvError(format!(
                        "incorrect number of fields, expected {} got {}",
                        self.fields,
                        field + 1
                    )));
                }
                self.push_line(buf);
                rows += 1;
            }
            line_start = (pos + 1).min(buf.len());
            field = 0;
            field_start = line_start;
        }
        Ok(line_start)
    }

    fn push_line(&mut self, buf: &[u8]) {
        for (k, &i) in self.wanted.iter().enumerate() {
            if k > 0 {
                self.out.push(self.delimiter);
            }
            let (s, e) = self.bounds[i];
            self.out.extend_from_slice(&buf[s..e]);
        }
        if self.wanted.len() == 1 && self.out.last().is_none_or(|&b| b == b'\n') {
            // A lone empty field would be an empty line, which the tokenizer skips: quote it.
            self.out.extend_from_slice(b"\"\"");
        }
        self.out.push(b'\n');
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
        let used = c.compact(buf.as_bytes(), max).unwrap();
        (used, String::from_utf8(c.output().to_vec()).unwrap())
    }

    #[test]
    fn keeps_wanted_fields_in_projection_order() {
        let (used, out) = compact(4, &[3, 0], "a,b,c,d\n1,,3,\n", 10);
        assert_eq!(used, 14);
        assert_eq!(out, "d,a\n,1\n");
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
    fn quotes_and_carriage_returns_are_not_simple() {
        assert!(Compactor::is_simple(b"a,b\nc,d\n"));
        assert!(!Compactor::is_simple(b"a,\"b,c\"\n"));
        assert!(!Compactor::is_simple(b"a,b\r\n"));
    }
}
