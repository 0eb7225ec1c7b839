//! Direct decoding of simple CSV lines: the fields a job reads are found in one pass of
//! 64-byte SIMD classification ([`LineSplitter`]) and parsed straight into Arrow columns
//! with arrow's own value parsers, so no tokenizer copies the line first.
//!
//! arrow's CSV decoder runs `csv_core`'s byte-at-a-time state machine over every byte of
//! every field, copies the fields into a record buffer, checks that buffer is UTF-8 and
//! then parses each projected value out of it. For a line with no quote and no carriage
//! return (see `csv_compact::is_simple`) a delimiter or newline byte always ends a field,
//! so the field bounds come from the delimiter and newline bit masks, and:
//!
//! ```text
//!  buf ──split──▶ bounds (row × wanted field) ──per column, one typed loop──▶ arrays
//!                                                 Utf8: one copy into the values buffer
//!                                                 numbers, decimals, booleans, dates:
//!                                                 arrow_cast's parsers, as arrow-csv;
//!                                                 TIMESTAMP(3): Flink's layout in place
//! ```
//!
//! Values are read exactly as arrow-csv reads them: an empty field is null; numbers, dates
//! and decimals go through the same `arrow_cast` parsers (`Parser::parse`, `parse_decimal`)
//! and booleans through the same case-insensitive `true`/`false`; a `Timestamp(Millisecond)`
//! column is read as the other paths read it (module `timestamp`). A column of any other
//! type (timestamps with a zone, times, intervals...) makes the CSV source take the
//! compacted path instead. The lines are split first, then checked to be simple and UTF-8
//! as a whole (as arrow's decoder checks every field) while they are still in cache; lines
//! that are not simple are left to arrow's decoder. A value that does not parse, lines that
//! are not UTF-8, or a wrong field count fail the whole decode call; the file source then
//! bisects the batch with fresh decoders and diagnoses the bad line against the whole line,
//! so errors are the same as on the other paths.
//!
//! Measured by the `csv_throughput` test (see the `csv` module).

use std::marker::PhantomData;
use std::sync::Arc;

use arrow::array::StringBuilder;
use arrow::array::{Array, AsArray, BooleanBufferBuilder, NullBufferBuilder};
use arrow::array::{ArrayRef, BooleanArray, PrimitiveArray, RecordBatch, RecordBatchOptions};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::compute::kernels::cast_utils::{parse_decimal, Parser};
use arrow::compute::{concat_batches, FilterBuilder};
use arrow::datatypes::*;
use arrow::error::ArrowError;

use millstream_core::connector::SourceFilter;

use super::csv_compact::LineSplitter;
use super::timestamp::{cast_millis, MillisParser};

/// Builds one column from the fields of split lines. (`extend` and `extend_rows` are
/// compiled for each column type: `push` is a static call in their loops.)
trait Column: Send {
    /// Appends field `s..e` of `text`: null when empty.
    fn push(&mut self, text: &str, s: usize, e: usize) -> Result<(), ArrowError>;
    /// Makes room for `rows` more values.
    fn reserve(&mut self, rows: usize) {
        let _ = rows;
    }
    /// Appends field `col` of each row of `bounds` (rows of `stride` fields) from `text`.
    fn extend(
        &mut self,
        text: &str,
        bounds: &[(usize, usize)],
        stride: usize,
        col: usize,
    ) -> Result<(), ArrowError> {
        self.reserve(bounds.len() / stride.max(1));
        for &(s, e) in bounds.iter().skip(col).step_by(stride.max(1)) {
            self.push(text, s, e)?;
        }
        Ok(())
    }
    /// [`extend`](Self::extend) with only the rows `rows` (ascending indices).
    fn extend_rows(
        &mut self,
        text: &str,
        bounds: &[(usize, usize)],
        stride: usize,
        col: usize,
        rows: &[u32],
    ) -> Result<(), ArrowError> {
        self.reserve(rows.len());
        for &r in rows {
            let (s, e) = bounds[r as usize * stride + col];
            self.push(text, s, e)?;
        }
        Ok(())
    }
    /// Whether a field can fail to parse, so that every row must be parsed for its errors
    /// (numbers...), or only fails with the line's UTF-8 check (text with an ASCII
    /// delimiter).
    fn may_fail(&self) -> bool;
    /// The values appended since the last call.
    fn finish(&mut self) -> Result<ArrayRef, ArrowError>;
}

/// Field `s..e` of `text`; an error only where a delimiter that is not ASCII cut a character.
#[inline]
fn field(text: &str, s: usize, e: usize) -> Result<&str, ArrowError> {
    text.get(s..e).ok_or_else(|| {
        ArrowError::CsvError("a delimiter splits a UTF-8 character of a field".into())
    })
}

fn parse_error(value: &str, data_type: &DataType) -> ArrowError {
    ArrowError::ParseError(format!(
        "Error while parsing value '{value}' as type '{data_type}'"
    ))
}

/// How the values of one non-string type are parsed and assembled, as arrow-csv does it.
trait Values: Send {
    /// The value of one field.
    type Native: Default + Send;
    /// Parses a non-empty field.
    fn parse(&mut self, s: &str) -> Result<Self::Native, ArrowError>;
    /// The array of `values` with `nulls`.
    fn array(
        &self,
        values: Vec<Self::Native>,
        nulls: Option<NullBuffer>,
    ) -> Result<ArrayRef, ArrowError>;
}

/// A primitive type read with its `arrow_cast` parser.
struct Prim<T>(DataType, PhantomData<fn() -> T>);

impl<T: ArrowPrimitiveType + Parser> Values for Prim<T> {
    type Native = T::Native;

    fn parse(&mut self, s: &str) -> Result<T::Native, ArrowError> {
        T::parse(s).ok_or_else(|| parse_error(s, &self.0))
    }

    fn array(
        &self,
        values: Vec<T::Native>,
        nulls: Option<NullBuffer>,
    ) -> Result<ArrayRef, ArrowError> {
        Ok(Arc::new(PrimitiveArray::<T>::try_new(
            ScalarBuffer::from(values),
            nulls,
        )?))
    }
}

/// `Decimal128`, read with arrow's `parse_decimal`.
struct Dec128(u8, i8);

impl Values for Dec128 {
    type Native = i128;

    fn parse(&mut self, s: &str) -> Result<i128, ArrowError> {
        match plain_integer(s.as_bytes(), self.0, self.1) {
            Some(v) => Ok(v),
            None => parse_decimal::<Decimal128Type>(s, self.0, self.1),
        }
    }

    fn array(&self, values: Vec<i128>, nulls: Option<NullBuffer>) -> Result<ArrayRef, ArrowError> {
        Ok(Arc::new(
            PrimitiveArray::<Decimal128Type>::try_new(ScalarBuffer::from(values), nulls)?
                .with_precision_and_scale(self.0, self.1)?,
        ))
    }
}

/// The `Decimal128(precision, scale)` value of a field of only digits (and a leading `-`)
/// that surely fits, as `parse_decimal` reads it; `None` for anything else, which
/// `parse_decimal` then reads (Nexmark's prices are such integers: this skips its general
/// loop for them).
#[inline]
fn plain_integer(s: &[u8], precision: u8, scale: i8) -> Option<i128> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    if digits.is_empty()
        || digits.len() > 18
        || !(0..=18).contains(&scale)
        || digits.len() + scale as usize > usize::from(precision)
    {
        return None;
    }
    let mut v: i64 = 0;
    for &b in digits {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return None;
        }
        v = v * 10 + i64::from(d);
    }
    let v = i128::from(v) * 10i128.pow(scale as u32);
    Some(if negative { -v } else { v })
}

/// `Boolean`, read as arrow-csv reads it: `true` or `false` in any case.
struct Bool;

impl Values for Bool {
    type Native = bool;

    fn parse(&mut self, s: &str) -> Result<bool, ArrowError> {
        if s.eq_ignore_ascii_case("false") {
            Ok(false)
        } else if s.eq_ignore_ascii_case("true") {
            Ok(true)
        } else {
            Err(parse_error(s, &DataType::Boolean))
        }
    }

    fn array(&self, values: Vec<bool>, nulls: Option<NullBuffer>) -> Result<ArrayRef, ArrowError> {
        Ok(Arc::new(BooleanArray::new(
            values.into_iter().collect(),
            nulls,
        )))
    }
}

/// `Timestamp(Millisecond, None)`: Flink's fixed `yyyy-MM-dd HH:mm:ss.SSS` layout parsed in
/// place (module `timestamp`), any other layout as arrow's cast reads that one value, which
/// is what the other paths do for the whole column (`timestamp::text_to_millis`).
struct Millis(MillisParser);

impl Values for Millis {
    type Native = i64;

    #[inline]
    fn parse(&mut self, s: &str) -> Result<i64, ArrowError> {
        match self.0.parse(s.as_bytes()) {
            Some(ms) => Ok(ms),
            None => cast_millis(s),
        }
    }

    fn array(&self, values: Vec<i64>, nulls: Option<NullBuffer>) -> Result<ArrayRef, ArrowError> {
        Ok(Arc::new(
            PrimitiveArray::<TimestampMillisecondType>::try_new(ScalarBuffer::from(values), nulls)?,
        ))
    }
}

/// A column of a non-string type: an empty field is null, any other is parsed by `V`.
struct Parsed<V: Values> {
    values: Vec<V::Native>,
    nulls: NullBufferBuilder,
    how: V,
}

impl<V: Values> Column for Parsed<V> {
    #[inline]
    fn push(&mut self, text: &str, s: usize, e: usize) -> Result<(), ArrowError> {
        if s == e {
            self.values.push(V::Native::default());
            self.nulls.append_null();
        } else {
            self.values.push(self.how.parse(field(text, s, e)?)?);
            self.nulls.append_non_null();
        }
        Ok(())
    }

    fn reserve(&mut self, rows: usize) {
        self.values.reserve(rows);
    }

    fn may_fail(&self) -> bool {
        true
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        self.how
            .array(std::mem::take(&mut self.values), self.nulls.finish())
    }
}

/// A `Utf8` column: each field copied once into the builder's values buffer (the text was
/// checked to be UTF-8 as a whole).
struct Utf8(StringBuilder, bool);

impl Column for Utf8 {
    #[inline]
    fn push(&mut self, text: &str, s: usize, e: usize) -> Result<(), ArrowError> {
        if s == e {
            self.0.append_null();
        } else {
            self.0.append_value(field(text, s, e)?);
        }
        Ok(())
    }

    fn may_fail(&self) -> bool {
        // Only a delimiter that is not ASCII can cut a character (`field`).
        self.1
    }

    fn finish(&mut self) -> Result<ArrayRef, ArrowError> {
        let array = self.0.finish();
        // The next batch is about as large: sized now, its buffers never grow by copying.
        let bytes = array.value_data().len();
        self.0 = StringBuilder::with_capacity(array.len(), bytes + bytes / 8);
        Ok(Arc::new(array))
    }
}

fn parsed<V: Values + 'static>(how: V) -> Box<dyn Column> {
    Box::new(Parsed {
        values: Vec::new(),
        nulls: NullBufferBuilder::new(0),
        how,
    })
}

fn prim<T: ArrowPrimitiveType + Parser>(t: &DataType) -> Box<dyn Column> {
    parsed(Prim::<T>(t.clone(), PhantomData))
}

/// The column builder for `t` in lines split at `delimiter`, `None` for a type only
/// arrow's decoder reads.
fn column(t: &DataType, delimiter: u8) -> Option<Box<dyn Column>> {
    Some(match t {
        DataType::Utf8 => Box::new(Utf8(StringBuilder::new(), !delimiter.is_ascii())),
        DataType::Boolean => parsed(Bool),
        DataType::Int8 => prim::<Int8Type>(t),
        DataType::Int16 => prim::<Int16Type>(t),
        DataType::Int32 => prim::<Int32Type>(t),
        DataType::Int64 => prim::<Int64Type>(t),
        DataType::UInt8 => prim::<UInt8Type>(t),
        DataType::UInt16 => prim::<UInt16Type>(t),
        DataType::UInt32 => prim::<UInt32Type>(t),
        DataType::UInt64 => prim::<UInt64Type>(t),
        DataType::Float32 => prim::<Float32Type>(t),
        DataType::Float64 => prim::<Float64Type>(t),
        DataType::Date32 => prim::<Date32Type>(t),
        DataType::Decimal128(p, s) => parsed(Dec128(*p, *s)),
        DataType::Timestamp(TimeUnit::Millisecond, None) => parsed(Millis(MillisParser::default())),
        _ => return None,
    })
}

/// Decodes simple CSV lines into batches of `schema` (the projected fields, in order).
pub(crate) struct SplitDecoder {
    splitter: LineSplitter,
    columns: Vec<Box<dyn Column>>,
    schema: SchemaRef,
    /// Rows decoded since the last flush.
    rows: usize,
    batch_size: usize,
    /// A pushed-down filter, when the source has one.
    filter: Option<Box<Filtering>>,
}

/// A pushed-down filter ([`SourceFilter`]) and what evaluating it takes: each decode call
/// parses the columns the predicate reads (and the event-time column) for all its lines,
/// evaluates the predicate, and then builds the output columns of the rows that pass and
/// of the line with the latest event time (the watermark's). Lines that do not pass are
/// still checked (UTF-8, field count, every value parses), so errors do not depend on the
/// filter.
struct Filtering {
    filter: Arc<SourceFilter>,
    /// Builders of the output columns the predicate reads and of the event-time column,
    /// each once, by output column.
    scratch: Vec<(usize, Box<dyn Column>)>,
    /// The schema of the predicate's batch.
    schema: SchemaRef,
    /// Rows dropped since the last [`SplitDecoder::take_filtered`].
    dropped: u64,
    /// The batches of the decode calls since the last flush.
    pending: Vec<RecordBatch>,
}

impl Filtering {
    fn new(filter: Arc<SourceFilter>, schema: &SchemaRef, delimiter: u8) -> Option<Self> {
        let n = schema.fields().len();
        if filter
            .columns
            .iter()
            .chain(&filter.keep_max)
            .any(|&c| c >= n)
        {
            return None;
        }
        let mut scratch: Vec<(usize, Box<dyn Column>)> = Vec::new();
        for &c in filter.columns.iter().chain(&filter.keep_max) {
            if scratch.iter().all(|(k, _)| *k != c) {
                scratch.push((c, column(schema.field(c).data_type(), delimiter)?));
            }
        }
        let predicate = Arc::new(schema.project(&filter.columns).ok()?);
        Some(Filtering {
            filter,
            scratch,
            schema: predicate,
            dropped: 0,
            pending: Vec::new(),
        })
    }

    /// Which of the `rows` split lines to keep, and the columns the predicate read (by
    /// output column, every line parsed).
    fn keep(
        &mut self,
        text: &str,
        bounds: &[(usize, usize)],
        stride: usize,
        rows: usize,
    ) -> Result<(BooleanArray, Vec<ArrayRef>), ArrowError> {
        let mut arrays = Vec::with_capacity(self.scratch.len());
        for (c, b) in &mut self.scratch {
            b.extend(text, bounds, stride, *c)?;
            arrays.push(b.finish()?);
        }
        let read = |c: usize| {
            let k = self.scratch.iter().position(|(x, _)| *x == c);
            k.and_then(|k| arrays.get(k))
        };
        let columns: Option<Vec<ArrayRef>> = self
            .filter
            .columns
            .iter()
            .map(|&c| read(c).cloned())
            .collect();
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        let mask = columns
            .and_then(|c| RecordBatch::try_new_with_options(self.schema.clone(), c, &options).ok())
            .and_then(|b| self.filter.evaluate(&b).ok())
            .filter(|mask| mask.len() == rows);
        // A predicate that cannot run here keeps every row: the filter after the source
        // reports its error.
        let Some(mask) = mask else {
            return Ok((BooleanArray::from(vec![true; rows]), arrays));
        };
        let passed = match mask.nulls() {
            Some(nulls) => mask.values() & nulls.inner(),
            None => mask.values().clone(),
        };
        let latest = self.filter.keep_max.and_then(read);
        let passed = match latest.and_then(|t| latest_row(t.as_ref())) {
            Some(i) if !passed.value(i) => {
                let mut b = BooleanBufferBuilder::new(rows);
                b.append_buffer(&passed);
                b.set_bit(i, true);
                b.finish()
            }
            _ => passed,
        };
        Ok((BooleanArray::new(passed, None), arrays))
    }
}

/// The row of the largest value of an event-time column (first of equals), if any is set.
fn latest_row(times: &dyn Array) -> Option<usize> {
    let values = match times.data_type() {
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            times.as_primitive::<TimestampMillisecondType>().values()
        }
        DataType::Int64 => times.as_primitive::<Int64Type>().values(),
        _ => return None,
    };
    let mut best: Option<(usize, i64)> = None;
    for (i, &v) in values.iter().enumerate() {
        if times.is_valid(i) && best.is_none_or(|(_, b)| v > b) {
            best = Some((i, v));
        }
    }
    best.map(|(i, _)| i)
}

impl SplitDecoder {
    /// A decoder of the fields `wanted` of lines of `fields` fields, read as `schema` (one
    /// field per wanted field); `None` when a column's type is not read here.
    pub(crate) fn new(
        delimiter: u8,
        fields: usize,
        wanted: &[usize],
        schema: SchemaRef,
        batch_size: usize,
    ) -> Option<Self> {
        if wanted.is_empty() || wanted.len() != schema.fields().len() {
            return None;
        }
        let columns = schema
            .fields()
            .iter()
            .map(|f| column(f.data_type(), delimiter))
            .collect::<Option<Vec<_>>>()?;
        Some(SplitDecoder {
            splitter: LineSplitter::new(delimiter, fields, wanted),
            columns,
            schema,
            rows: 0,
            batch_size,
            filter: None,
        })
    }

    /// Applies `filter` (over this decoder's output columns) as each call decodes; `None`
    /// when its columns cannot be read here.
    pub(crate) fn with_filter(mut self, filter: Arc<SourceFilter>) -> Option<Self> {
        let delimiter = self.splitter.delimiter();
        self.filter = Some(Box::new(Filtering::new(filter, &self.schema, delimiter)?));
        Some(self)
    }

    /// Rows a pushed-down filter dropped since the last call.
    pub(crate) fn take_filtered(&mut self) -> u64 {
        self.filter
            .as_mut()
            .map_or(0, |f| std::mem::take(&mut f.dropped))
    }

    /// Rows the current batch can still take.
    pub(crate) fn capacity(&self) -> usize {
        self.batch_size - self.rows
    }

    /// Decodes lines from the start of `buf` until the batch is full; returns the bytes
    /// used (whole lines), or `None`, having used nothing, when those lines are not simple
    /// (a quote or a carriage return: arrow's decoder must read them).
    ///
    /// The lines are split first and checked after, while they are in cache: one pass over
    /// memory instead of two.
    ///
    /// # Errors
    /// A wrong field count, a value that does not parse, lines that are not UTF-8.
    pub(crate) fn decode(&mut self, buf: &[u8]) -> Result<Option<usize>, ArrowError> {
        let Some((used, rows)) = self.splitter.split_simple(buf, self.capacity())? else {
            return Ok(None);
        };
        let lines = &buf[..used];
        let text = std::str::from_utf8(lines)
            .map_err(|e| ArrowError::CsvError(format!("CSV lines are not UTF-8: {e}")))?;
        let (bounds, stride) = (self.splitter.bounds(), self.splitter.width());
        let filter = self.filter.as_mut().filter(|_| rows > 0);
        let Some(f) = filter else {
            for (col, c) in self.columns.iter_mut().enumerate() {
                c.extend(text, bounds, stride, col)?;
            }
            self.rows += rows;
            return Ok(Some(used));
        };
        // Columns the predicate read are filtered; other columns that can fail are parsed
        // for every line and filtered; text is copied for the kept lines only.
        let (keep, read) = f.keep(text, bounds, stride, rows)?;
        let kept = keep.true_count();
        let predicate = FilterBuilder::new(&keep).optimize().build();
        let selected: Vec<u32> = keep.values().set_indices().map(|i| i as u32).collect();
        let mut out = Vec::with_capacity(self.columns.len());
        for (col, c) in self.columns.iter_mut().enumerate() {
            let array = match f.scratch.iter().position(|(k, _)| *k == col) {
                Some(k) => predicate.filter(read[k].as_ref())?,
                None if c.may_fail() => {
                    c.extend(text, bounds, stride, col)?;
                    predicate.filter(c.finish()?.as_ref())?
                }
                None => {
                    c.extend_rows(text, bounds, stride, col, &selected)?;
                    c.finish()?
                }
            };
            out.push(array);
        }
        f.dropped += (rows - kept) as u64;
        if kept > 0 {
            let options = RecordBatchOptions::new().with_row_count(Some(kept));
            let batch = RecordBatch::try_new_with_options(self.schema.clone(), out, &options)?;
            f.pending.push(batch);
            self.rows += kept;
        }
        Ok(Some(used))
    }

    /// The rows decoded since the last flush, `None` if there are none.
    ///
    /// # Errors
    /// A string column that is not UTF-8; nulls in a column declared NOT NULL.
    pub(crate) fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.rows == 0 {
            return Ok(None);
        }
        let rows = std::mem::take(&mut self.rows);
        if let Some(f) = &mut self.filter {
            let mut pending = std::mem::take(&mut f.pending);
            return Ok(match pending.len() {
                1 => pending.pop(),
                _ => Some(concat_batches(&self.schema, &pending)?),
            });
        }
        let columns = self
            .columns
            .iter_mut()
            .map(|c| c.finish())
            .collect::<Result<Vec<_>, _>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(Some(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?))
    }
}

#[cfg(test)]
#[path = "csv_split_tests.rs"]
mod tests;
