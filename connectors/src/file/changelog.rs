//! Changelogs in files: Flink's `debezium-json` format.
//!
//! An updating stream's batches carry their row kinds in a trailing `Int8` column named
//! [`OP_COLUMN`] (`$op`), holding Flink's `RowKind` codes: 0 = `+I`, 1 = `-U`, 2 = `+U`,
//! 3 = `-D`. The sink ([`DebeziumJsonSinkFactory`](super::DebeziumJsonSinkFactory)) writes one
//! line per row, as Flink's `DebeziumJsonSerializationSchema` does:
//!
//! ```text
//!  +I, +U  ─▶ {"before":null,"after":{"k":"a","cnt":2},"op":"c"}
//!  -U, -D  ─▶ {"before":{"k":"a","cnt":1},"after":null,"op":"d"}
//! ```
//!
//! The row objects spell values as Flink's `json` format (see `json_value`). A batch without
//! an `$op` column is insert-only: every row is a `c`.
//!
//! The source ([`DebeziumJsonSourceFactory`]) reads such lines, and Debezium's own: `c` and
//! `r` (snapshot read) give a `+I` of `after`, `u` gives `-U` of `before` then `+U` of
//! `after`, `d` gives `-D` of `before`, as Flink's `DebeziumJsonDeserializationSchema`.
//! So a line the sink wrote for `-U` reads back as `-D`, as in Flink. Its batches are the
//! projected columns followed by `$op`. Fields not in the schema are ignored; the
//! `schema`/`payload` envelope of `debezium-json.schema-include` is not read.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Int8Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int8Type, Schema, SchemaRef};
use arrow::error::ArrowError;
use millstream_core::connector::{Source, SourceContext, SourceFactory};
use millstream_core::error::Result;
use millstream_core::sql::RowKind;

use super::json::{diagnose_object, json_decoder, JsonOptions};
use super::json_value::JsonRows;
use super::sink::{LineWriter, PartFormat};
use super::source::{decode_all, BatchDecoder, FileSettings, LineFormat};

/// The name of the row-kind column of an updating stream's batches.
pub const OP_COLUMN: &str = "$op";

/// The number of data columns of `schema`, and whether its last column is the `$op` column.
fn op_column(schema: &Schema) -> (usize, bool) {
    let n = schema.fields().len();
    let has_op = n > 0 && {
        let last = schema.field(n - 1);
        last.name() == OP_COLUMN && last.data_type() == &DataType::Int8
    };
    (if has_op { n - 1 } else { n }, has_op)
}

/// debezium-json part files.
pub(crate) struct DebeziumPart;

impl PartFormat for DebeziumPart {
    type Writer = LineWriter;
    const EXT: &'static str = "json";

    fn open(
        out: std::io::BufWriter<std::fs::File>,
        _: &SchemaRef,
    ) -> Result<LineWriter, ArrowError> {
        Ok(LineWriter::new(out))
    }

    fn write(w: &mut LineWriter, batch: &RecordBatch) -> Result<(), ArrowError> {
        let schema = batch.schema();
        let (data, has_op) = op_column(&schema);
        let names: Vec<&str> = schema.fields()[..data]
            .iter()
            .map(|f| f.name().as_str())
            .collect();
        let rows = JsonRows::new(&names, &batch.columns()[..data]);
        let ops = has_op.then(|| batch.column(data).as_primitive::<Int8Type>());
        for row in 0..batch.num_rows() {
            let kind = match ops {
                Some(o) if o.is_valid(row) => RowKind::from_code(o.value(row)),
                _ => RowKind::Insert,
            };
            if kind.is_accumulate() {
                w.text.push_str("{\"before\":null,\"after\":");
                rows.write_object(row, &mut w.text);
                w.text.push_str(",\"op\":\"c\"}\n");
            } else {
                w.text.push_str("{\"before\":");
                rows.write_object(row, &mut w.text);
                w.text.push_str(",\"after\":null,\"op\":\"d\"}\n");
            }
            w.spill(false)?;
        }
        Ok(())
    }

    fn close(mut w: LineWriter) -> Result<std::io::BufWriter<std::fs::File>, ArrowError> {
        w.spill(true)?;
        Ok(w.out)
    }
}

/// A [`SourceFactory`] reading `debezium-json` files (a file or a directory of them, chunked
/// and read in parallel like [`JsonSourceFactory`](super::JsonSourceFactory)) as a changelog:
/// the projected columns and a trailing `$op` column of row kinds (see the
/// [module docs](self)).
///
/// # Example
/// ```no_run
/// use std::sync::Arc;
/// use arrow::datatypes::{DataType, Field, Schema};
/// use millstream_connectors::file::{DebeziumJsonSourceFactory, JsonOptions};
/// use millstream_core::connector::SourceFactory;
///
/// let schema = Arc::new(Schema::new(vec![Field::new("k", DataType::Utf8, true)]));
/// let source = DebeziumJsonSourceFactory::new("changes/", schema, JsonOptions::default());
/// assert_eq!(source.schema().field(1).name(), "$op");
/// ```
///
/// # Errors
/// As [`JsonSourceFactory`](super::JsonSourceFactory); a line with an unknown `op`, or an
/// `u`/`d` line without `before`, is a bad line ([`Error::Data`] with its place in
/// [`OnError::Fail`](super::OnError::Fail) mode).
///
/// [`Error::Data`]: millstream_core::error::Error::Data
#[derive(Debug, Clone)]
pub struct DebeziumJsonSourceFactory {
    settings: FileSettings,
    schema: SchemaRef,
    /// The projected columns, without `$op`.
    projected: SchemaRef,
}

impl DebeziumJsonSourceFactory {
    /// A debezium-json source over `path` (file or directory) whose rows have `schema`.
    pub fn new(path: impl Into<PathBuf>, schema: SchemaRef, options: JsonOptions) -> Self {
        DebeziumJsonSourceFactory {
            settings: FileSettings::new(
                path.into(),
                "debezium-json source",
                false,
                options.on_error,
            ),
            projected: schema.clone(),
            schema,
        }
    }

    /// Decodes only `columns`, in that order (then `$op`).
    ///
    /// # Errors
    /// [`Error::Plan`](millstream_core::error::Error::Plan) for a column not in the schema.
    pub fn with_projection<S: AsRef<str>>(mut self, columns: &[S]) -> Result<Self> {
        let (_, projected) = self.settings.project(&self.schema, columns)?;
        self.projected = projected;
        Ok(self)
    }

    /// Size of the byte ranges the files are split into (default 4 MiB).
    pub fn with_chunk_size(mut self, bytes: usize) -> Self {
        self.settings.set_chunk_size(bytes);
        self
    }

    /// Lines skipped or sent to the side output so far, across all subtasks.
    pub fn bad_rows(&self) -> u64 {
        self.settings.bad_rows()
    }

    /// The file or directory read.
    pub fn path(&self) -> &Path {
        self.settings.path()
    }

    fn format(&self) -> DebeziumFormat {
        let mut fields: Vec<Field> = self
            .projected
            .fields()
            .iter()
            .map(|f| f.as_ref().clone())
            .collect();
        fields.push(Field::new(OP_COLUMN, DataType::Int8, false));
        DebeziumFormat {
            rows: self.projected.clone(),
            output: Arc::new(Schema::new(fields)),
        }
    }
}

impl SourceFactory for DebeziumJsonSourceFactory {
    fn name(&self) -> String {
        format!("debezium_json({})", self.settings.path.display())
    }

    fn schema(&self) -> SchemaRef {
        self.format().output
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        self.settings.create(Arc::new(self.format()), ctx)
    }

    /// Resumes after the last batch every old subtask returned, as the JSON source does.
    ///
    /// # Errors
    /// [`Error::Connector`](millstream_core::error::Error::Connector) for missing,
    /// unreadable or inconsistent positions or a file whose length changed.
    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        self.settings
            .restore(Arc::new(self.format()), ctx, positions)
    }
}

/// How to decode debezium-json lines.
struct DebeziumFormat {
    /// The row objects' columns.
    rows: SchemaRef,
    /// `rows` and `$op`.
    output: SchemaRef,
}

/// The row objects of one change line, with their kinds.
fn changes(line: &[u8]) -> Result<Vec<(serde_json::Value, RowKind)>, ArrowError> {
    let bad = |m: String| ArrowError::JsonError(m);
    let mut v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| bad(format!("invalid JSON: {e}")))?;
    let Some(object) = v.as_object_mut() else {
        return Err(bad(format!("expected a JSON object, got {v}")));
    };
    let op = object
        .get("op")
        .and_then(|o| o.as_str())
        .map(str::to_string)
        .ok_or_else(|| bad("no string field 'op'".into()))?;
    let mut take = |field: &str, what: &str| {
        match object.remove(field) {
            Some(row @ serde_json::Value::Object(_)) => Ok(row),
            // Flink's message: Postgres sends no `before` without REPLICA IDENTITY FULL.
            _ => Err(bad(format!(
                "the '{field}' field of {what} message is null or not an object (with Debezium's Postgres connector, set the table's REPLICA IDENTITY to FULL)"
            ))),
        }
    };
    Ok(match op.as_str() {
        "c" | "r" => vec![(take("after", "an INSERT")?, RowKind::Insert)],
        "u" => vec![
            (take("before", "an UPDATE")?, RowKind::UpdateBefore),
            (take("after", "an UPDATE")?, RowKind::UpdateAfter),
        ],
        "d" => vec![(take("before", "a DELETE")?, RowKind::Delete)],
        other => {
            return Err(bad(format!(
                "unknown \"op\" value \"{other}\" (expected c, r, u or d)"
            )))
        }
    })
}

/// Collects the row objects of whole change lines, then decodes them with arrow's JSON
/// decoder in one go.
struct DebeziumDecoder {
    rows: SchemaRef,
    output: SchemaRef,
    batch_size: usize,
    /// The row objects as JSON lines.
    objects: Vec<u8>,
    ops: Vec<i8>,
}

impl BatchDecoder for DebeziumDecoder {
    fn decode(&mut self, buf: &[u8]) -> Result<usize, ArrowError> {
        let mut used = 0;
        while self.ops.len() < self.batch_size && used < buf.len() {
            let end = memchr::memchr(b'\n', &buf[used..]).map_or(buf.len(), |i| used + i + 1);
            let line = buf[used..end].trim_ascii();
            if !line.is_empty() {
                for (row, kind) in changes(line)? {
                    serde_json::to_writer(&mut self.objects, &row)
                        .map_err(|e| ArrowError::JsonError(e.to_string()))?;
                    self.objects.push(b'\n');
                    self.ops.push(kind as i8);
                }
            }
            used = end;
        }
        Ok(used)
    }

    fn flush(&mut self) -> Result<Option<RecordBatch>, ArrowError> {
        if self.ops.is_empty() {
            return Ok(None);
        }
        let mut decoder = json_decoder(self.rows.clone(), self.ops.len())?;
        let batches = decode_all(&mut decoder, &self.objects)?;
        self.objects.clear();
        let ops = std::mem::take(&mut self.ops);
        let mut columns: Vec<ArrayRef> = match batches.as_slice() {
            [one] if one.num_rows() == ops.len() => one.columns().to_vec(),
            _ => {
                return Err(ArrowError::JsonError(format!(
                    "debezium-json: {} changes decoded into {} batches (this is a bug)",
                    ops.len(),
                    batches.len()
                )))
            }
        };
        let rows = ops.len();
        columns.push(Arc::new(Int8Array::from(ops)));
        RecordBatch::try_new_with_options(
            self.output.clone(),
            columns,
            &arrow::array::RecordBatchOptions::new().with_row_count(Some(rows)),
        )
        .map(Some)
    }
}

impl LineFormat for DebeziumFormat {
    fn schema(&self) -> SchemaRef {
        self.output.clone()
    }

    fn decoder(&self, batch_size: usize) -> Result<Box<dyn BatchDecoder>, ArrowError> {
        Ok(Box::new(DebeziumDecoder {
            rows: self.rows.clone(),
            output: self.output.clone(),
            batch_size: batch_size.max(1),
            objects: Vec::new(),
            ops: Vec::new(),
        }))
    }

    fn diagnose(&self, line: &[u8], err: &ArrowError) -> (Option<String>, String) {
        match changes(line) {
            Err(e) => (
                None,
                e.to_string().trim_start_matches("Json error: ").to_string(),
            ),
            Ok(rows) => {
                for (row, kind) in rows {
                    let text = row.to_string();
                    let (column, detail) = diagnose_object(&self.rows, text.as_bytes(), err);
                    if column.is_some() {
                        let side = if kind.is_accumulate() {
                            "after"
                        } else {
                            "before"
                        };
                        return (column, format!("'{side}': {detail}"));
                    }
                }
                (None, err.to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn change_lines_give_rows_and_kinds() {
        let kinds = |line: &str| -> Vec<(String, i8)> {
            changes(line.as_bytes())
                .unwrap()
                .into_iter()
                .map(|(v, k)| (v.to_string(), k as i8))
                .collect()
        };
        assert_eq!(
            kinds(r#"{"before":null,"after":{"k":"a"},"op":"c"}"#),
            [("{\"k\":\"a\"}".to_string(), 0)]
        );
        assert_eq!(
            kinds(r#"{"before":{"k":1},"after":{"k":2},"op":"u","source":{}}"#),
            [("{\"k\":1}".to_string(), 1), ("{\"k\":2}".to_string(), 2)]
        );
        assert_eq!(
            kinds(r#"{"before":{"k":1},"after":null,"op":"d"}"#),
            [("{\"k\":1}".to_string(), 3)]
        );
        assert_eq!(kinds(r#"{"after":{"k":1},"op":"r"}"#)[0].1, 0);
        for (line, why) in [
            (
                r#"{"before":null,"after":{"k":2},"op":"u"}"#,
                "'before' field of an UPDATE",
            ),
            (
                r#"{"after":{"k":2},"op":"x"}"#,
                "unknown \"op\" value \"x\"",
            ),
            (r#"{"after":{"k":2}}"#, "no string field 'op'"),
            ("[1]", "expected a JSON object"),
            ("{", "invalid JSON"),
        ] {
            let e = changes(line.as_bytes()).unwrap_err().to_string();
            assert!(e.contains(why), "{line}: {e}");
        }
    }
}
