//! Partitioned directories, Flink's layout: `path/c1=v1/c2=v2/part-...`.
//!
//! A partitioned sink writes each row into the directory of its partition values, without
//! the partition columns (Flink's filesystem sink drops them from csv and json rows too); a
//! partitioned source reads every file below `path` and takes the partition columns from the
//! directory names, typed as the table declares them:
//!
//! ```text
//!  row (id 1, dt '2020-01-01', hr 1)  ─▶  path/dt=2020-01-01/hr=1/c..-part-...csv  "1"
//!  row (id 2, dt 'a/b', hr NULL)      ─▶  path/dt=a%2Fb/hr=__DEFAULT_PARTITION__/...  "2"
//! ```
//!
//! Values are spelled as Flink's `RowDataPartitionComputer` spells them (the `toString` of
//! Flink's internal values): strings as they are, `true`, `12.50` (a decimal with its
//! scale), `9.08E7`, `2020-01-01T00:00:01.500` (a timestamp as Java's `LocalDateTime`), and a
//! `DATE` as its day number since 1970-01-01 (`18262`). NULL and the empty string become the
//! default partition name (`partition.default-name`, `__DEFAULT_PARTITION__`). Names and
//! values are escaped by Flink's `PartitionPathUtils.escapePathName`: control characters and
//! `"#%'*/:=?\{}[]^` and DEL become `%XX` (upper-case hex); everything else, spaces and
//! non-ASCII characters included, stays. A source reads the default name back as NULL
//! (Flink 2.3's filesystem source fails on such a directory).

use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, RecordBatch, RecordBatchOptions, StringArray};
use arrow::array::{AsArray, UInt32Array};
use arrow::compute::{cast_with_options, take, take_record_batch, CastOptions};
use arrow::datatypes::{DataType, Date32Type, FieldRef, Schema, SchemaRef, TimeUnit};
use millstream_core::error::{Error, Location, Result};

use super::sql_type;
use crate::sql::{ValueFormatter, ValueStyle};

/// Flink's `partition.default-name`: the directory name of a NULL or empty partition value.
pub const DEFAULT_PARTITION_NAME: &str = "__DEFAULT_PARTITION__";

/// Which columns partition a table's files, and the directory name of NULL values.
///
/// # Example
/// ```
/// use millstream_connectors::file::{CsvSinkFactory, Partitioning};
///
/// let sink = CsvSinkFactory::new("/tmp/out").with_partitioning(Partitioning::new(["dt", "hr"]));
/// # let _ = sink;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partitioning {
    /// The partition columns, outermost directory first.
    pub columns: Vec<String>,
    /// The directory name of a NULL (or empty) value.
    pub default_name: String,
}

impl Partitioning {
    /// Partitioned by `columns`, NULL values in [`DEFAULT_PARTITION_NAME`].
    pub fn new<S: Into<String>>(columns: impl IntoIterator<Item = S>) -> Self {
        Partitioning {
            columns: columns.into_iter().map(Into::into).collect(),
            default_name: DEFAULT_PARTITION_NAME.to_string(),
        }
    }

    /// The same columns, NULL values in the directory named `name`.
    pub fn with_default_name(mut self, name: impl Into<String>) -> Self {
        self.default_name = name.into();
        self
    }

    /// Whether there are no partition columns.
    pub fn is_empty(&self) -> bool {
        self.columns.is_empty()
    }
}

impl Default for Partitioning {
    fn default() -> Self {
        Partitioning::new(Vec::<String>::new())
    }
}

/// Whether Flink's `escapePathName` escapes `c`.
fn needs_escaping(c: char) -> bool {
    matches!(
        c,
        '\u{0}'
            ..='\u{1f}'
                | '"'
                | '#'
                | '%'
                | '\''
                | '*'
                | '/'
                | ':'
                | '='
                | '?'
                | '\\'
                | '\u{7f}'
                | '{'
                | '}'
                | '['
                | ']'
                | '^'
    )
}

/// Flink's `PartitionPathUtils.escapePathName`: the characters that cannot appear in a
/// partition directory name as `%XX`.
///
/// # Example
/// ```
/// use millstream_connectors::file::escape_path_name;
/// assert_eq!(escape_path_name("a/b=c d%e:f"), "a%2Fb%3Dc d%25e%3Af");
/// ```
pub fn escape_path_name(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if needs_escaping(c) {
            out.push_str(&format!("%{:02X}", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// The inverse of [`escape_path_name`] (Flink's `unescapePathName`): `%XX` with two hex
/// digits becomes that character; anything else stays.
pub fn unescape_path_name(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    let mut start = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Some(code) = std::str::from_utf8(&bytes[i + 1..i + 3])
                .ok()
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push_str(&s[start..i]);
                out.push(char::from(code));
                i += 3;
                start = i;
                continue;
            }
        }
        i += 1;
    }
    out.push_str(&s[start..]);
    out
}

/// Splits batches by partition, for a partitioned sink.
#[derive(Debug, Clone)]
pub(crate) struct Partitioner {
    partitioning: Partitioning,
    /// `name=` of each partition column, escaped.
    prefixes: Vec<String>,
}

impl Partitioner {
    pub(crate) fn new(partitioning: Partitioning) -> Self {
        let prefixes = partitioning
            .columns
            .iter()
            .map(|c| format!("{}=", escape_path_name(c)))
            .collect();
        Partitioner {
            partitioning,
            prefixes,
        }
    }

    /// The rows of `batch` by partition directory (`dt=x/hr=1`), in the order the partitions
    /// first appear, each without the partition columns.
    ///
    /// # Errors
    /// [`Error::Schema`] when `batch` lacks a partition column.
    pub(crate) fn split(&self, batch: &RecordBatch) -> Result<Vec<(String, RecordBatch)>> {
        let schema = batch.schema();
        let mut keys = Vec::with_capacity(self.partitioning.columns.len());
        for c in &self.partitioning.columns {
            let i = schema.index_of(c).map_err(|_| {
                Error::Schema(format!(
                    "partitioned file sink: the rows have no partition column '{c}' (columns: {})",
                    field_names(&schema)
                ))
            })?;
            keys.push(i);
        }
        let data: Vec<usize> = (0..schema.fields().len())
            .filter(|i| !keys.contains(i))
            .collect();
        let data_batch = batch.project(&data)?;
        let formatters: Vec<(ValueFormatter<'_>, bool)> = keys
            .iter()
            .map(|&i| {
                let c = batch.column(i).as_ref();
                (
                    ValueFormatter::new(c, ValueStyle::Java),
                    c.data_type() == &DataType::Date32,
                )
            })
            .collect();
        let mut groups: Vec<(String, Vec<u32>)> = Vec::new();
        let mut index: HashMap<String, usize> = HashMap::new();
        let mut key = String::new();
        let mut value = String::new();
        for row in 0..batch.num_rows() {
            key.clear();
            for (j, (f, is_date)) in formatters.iter().enumerate() {
                if j > 0 {
                    key.push('/');
                }
                key.push_str(&self.prefixes[j]);
                value.clear();
                if *is_date && !f.is_null(row) {
                    // Flink's internal DATE is an int: its toString is the day number.
                    let days = batch
                        .column(keys[j])
                        .as_primitive::<Date32Type>()
                        .value(row);
                    value.push_str(&days.to_string());
                } else {
                    f.write(row, &mut value);
                }
                if value.is_empty() {
                    key.push_str(&escape_path_name(&self.partitioning.default_name));
                } else {
                    key.push_str(&escape_path_name(&value));
                }
            }
            let g = match index.get(key.as_str()) {
                Some(&g) => g,
                None => {
                    index.insert(key.clone(), groups.len());
                    groups.push((key.clone(), Vec::new()));
                    groups.len() - 1
                }
            };
            groups[g].1.push(row as u32);
        }
        if groups.len() == 1 {
            let (dir, _) = groups.pop().expect("one group");
            return Ok(vec![(dir, data_batch)]);
        }
        groups
            .into_iter()
            .map(|(dir, rows)| {
                let rows = take_record_batch(&data_batch, &UInt32Array::from(rows))?;
                Ok((dir, rows))
            })
            .collect()
    }
}

fn field_names(schema: &Schema) -> String {
    schema
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The columns of a file source: the table's, which of them come from partition
/// directories, and the projection.
#[derive(Debug, Clone)]
pub(crate) struct SourceColumns {
    table: SchemaRef,
    partitioning: Partitioning,
    /// Indices into `table`, in output order.
    projection: Vec<usize>,
}

/// Where an output column comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    /// Column `k` of the batch read from the file.
    File(usize),
    /// Partition column `k` of the projected ones.
    Partition(usize),
}

impl SourceColumns {
    /// All columns of `table`, read from the files.
    pub(crate) fn new(table: SchemaRef) -> Self {
        SourceColumns {
            projection: (0..table.fields().len()).collect(),
            table,
            partitioning: Partitioning::default(),
        }
    }

    /// The table's schema.
    pub(crate) fn table(&self) -> &SchemaRef {
        &self.table
    }

    /// Outputs the columns `indices` of the table, in that order.
    pub(crate) fn set_projection(&mut self, indices: Vec<usize>) {
        self.projection = indices;
    }

    /// Takes the columns of `p` from partition directories.
    ///
    /// # Errors
    /// [`Error::Plan`] for a column the table does not have.
    pub(crate) fn set_partitioning(&mut self, p: Partitioning, what: &str) -> Result<()> {
        for c in &p.columns {
            if self.table.index_of(c).is_err() {
                return Err(Error::Plan(format!(
                    "{what}: partition column '{c}' is not a column of the table (columns: {})",
                    field_names(&self.table)
                )));
            }
        }
        self.partitioning = p;
        Ok(())
    }

    fn is_partition(&self, i: usize) -> bool {
        let name = self.table.field(i).name();
        self.partitioning.columns.iter().any(|c| c == name)
    }

    /// The schema the source outputs.
    pub(crate) fn output(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.projection
                .iter()
                .map(|&i| self.table.field(i).clone())
                .collect::<Vec<_>>(),
        ))
    }

    /// The columns inside the files: the table's without the partition columns.
    pub(crate) fn file_schema(&self) -> SchemaRef {
        if self.partitioning.is_empty() {
            return self.table.clone();
        }
        Arc::new(Schema::new(
            (0..self.table.fields().len())
                .filter(|&i| !self.is_partition(i))
                .map(|i| self.table.field(i).clone())
                .collect::<Vec<_>>(),
        ))
    }

    /// The columns of [`Self::file_schema`] to read, in output order. `at_least_one`: when
    /// only partition columns are projected, read the first file column anyway (the line
    /// decoders count rows by decoding a column; the partition layout drops it).
    pub(crate) fn file_projection(&self, at_least_one: bool) -> Vec<usize> {
        let to_file: Vec<Option<usize>> = self.file_index();
        let mut out: Vec<usize> = self.projection.iter().filter_map(|&i| to_file[i]).collect();
        if out.is_empty()
            && at_least_one
            && !self.partitioning.is_empty()
            && !self.file_schema().fields().is_empty()
        {
            out.push(0);
        }
        out
    }

    /// For each table column, its index in the file schema.
    fn file_index(&self) -> Vec<Option<usize>> {
        let mut next = 0;
        (0..self.table.fields().len())
            .map(|i| {
                (!self.is_partition(i)).then(|| {
                    next += 1;
                    next - 1
                })
            })
            .collect()
    }

    /// How to add the partition columns to the batches read from the files below `root`;
    /// `None` when the table is not partitioned.
    pub(crate) fn layout(&self, root: &Path, what: &'static str) -> Option<Arc<PartitionLayout>> {
        if self.partitioning.is_empty() {
            return None;
        }
        let mut slots = Vec::new();
        let mut fields = Vec::new();
        let mut file_k = 0;
        for &i in &self.projection {
            if self.is_partition(i) {
                slots.push(Slot::Partition(fields.len()));
                fields.push(self.table.fields()[i].clone());
            } else {
                slots.push(Slot::File(file_k));
                file_k += 1;
            }
        }
        Some(Arc::new(PartitionLayout {
            root: root.to_path_buf(),
            slots,
            fields,
            output: self.output(),
            default_name: self.partitioning.default_name.clone(),
            what,
        }))
    }
}

/// How a partitioned source assembles its output from a file's batch and the file's
/// directory names.
#[derive(Debug)]
pub(crate) struct PartitionLayout {
    root: PathBuf,
    slots: Vec<Slot>,
    /// The projected partition columns.
    fields: Vec<FieldRef>,
    output: SchemaRef,
    default_name: String,
    what: &'static str,
}

/// The partition values of the files a subtask has read, by file index.
#[derive(Debug, Default)]
pub(crate) struct PartitionValues {
    values: HashMap<usize, Vec<ArrayRef>>,
}

impl PartitionLayout {
    /// Output column `k` of the partition columns of `file`: one-row arrays.
    fn values(&self, file: &Path) -> Result<Vec<ArrayRef>> {
        // The `name=value` directories between the root and the file, innermost last.
        // Relative to the root; a root that is the file itself: its whole path.
        let rel = file
            .strip_prefix(&self.root)
            .ok()
            .filter(|r| !r.as_os_str().is_empty())
            .unwrap_or(file);
        let mut dirs: Vec<(String, String)> = Vec::new();
        if let Some(parent) = rel.parent() {
            for c in parent.components() {
                let c = c.as_os_str().to_string_lossy();
                if let Some((k, v)) = c.split_once('=') {
                    dirs.push((unescape_path_name(k), unescape_path_name(v)));
                }
            }
        }
        self.fields
            .iter()
            .map(|f| {
                let text = dirs
                    .iter()
                    .rev()
                    .find(|(k, _)| k == f.name())
                    .map(|(_, v)| v.as_str())
                    .ok_or_else(|| Error::Data {
                        location: Location::file(file),
                        detail: format!(
                            "{}: the file is not in a partition directory '{}=...' below '{}'",
                            self.what,
                            escape_path_name(f.name()),
                            self.root.display()
                        ),
                    })?;
                if text == self.default_name {
                    return Ok(new_null_array(f.data_type(), 1));
                }
                parse_value(text, f.data_type()).ok_or_else(|| Error::Data {
                    location: Location {
                        source: file.display().to_string(),
                        line: None,
                        column: Some(f.name().clone()),
                    },
                    detail: format!(
                        "{}: partition value {text:?} is not a valid {}",
                        self.what,
                        sql_type(f.data_type())
                    ),
                })
            })
            .collect()
    }

    /// The output batch: `batch` (read from file `index`, path `file`) with the partition
    /// columns put in their places.
    ///
    /// # Errors
    /// [`Error::Data`] naming the file when a directory is missing or its value does not
    /// parse as the column's type.
    pub(crate) fn assemble(
        &self,
        batch: &RecordBatch,
        index: usize,
        file: &Path,
        cache: &mut PartitionValues,
    ) -> Result<RecordBatch> {
        let values = match cache.values.entry(index) {
            Entry::Occupied(e) => e.into_mut(),
            Entry::Vacant(e) => e.insert(self.values(file)?),
        };
        let rows = batch.num_rows();
        let repeat = UInt32Array::from(vec![0u32; rows]);
        let columns = self
            .slots
            .iter()
            .map(|slot| match *slot {
                Slot::File(k) => Ok(batch.column(k).clone()),
                Slot::Partition(k) => Ok(take(values[k].as_ref(), &repeat, None)?),
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.output.clone(),
            columns,
            &options,
        )?)
    }
}

/// A partition directory value as a one-row array of type `t`; `None` when it does not
/// parse. Accepts Flink's spellings (`2020-01-01T00:00`, a `DATE` as a day number) and the
/// SQL ones.
fn parse_value(text: &str, t: &DataType) -> Option<ArrayRef> {
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    let cast = |s: &str| {
        cast_with_options(&StringArray::from(vec![s]), t, &options)
            .ok()
            .filter(|a| a.is_valid(0))
    };
    match t {
        DataType::Utf8 => Some(Arc::new(StringArray::from(vec![text]))),
        DataType::Date32 => match text.parse::<i32>() {
            Ok(days) => Some(Arc::new(arrow::array::Date32Array::from(vec![days]))),
            Err(_) => cast(text),
        },
        DataType::Timestamp(TimeUnit::Millisecond, _) => cast(text).or_else(|| {
            // Java's LocalDateTime leaves out zero seconds: 2020-01-01T00:00.
            (text.len() == 16)
                .then(|| cast(&format!("{text}:00")))
                .flatten()
        }),
        DataType::Boolean => match text.to_ascii_lowercase().as_str() {
            "true" => Some(Arc::new(arrow::array::BooleanArray::from(vec![true]))),
            "false" => Some(Arc::new(arrow::array::BooleanArray::from(vec![false]))),
            _ => None,
        },
        _ => cast(text),
    }
}

impl PartitionValues {
    /// Forgets the values of every file.
    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        self.values.clear();
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Int32Array, Int64Array};
    use arrow::datatypes::Field;

    use super::*;

    #[test]
    fn names_are_escaped_as_flink_escapes_them() {
        // The directory names Flink 2.3 wrote for these values.
        for (value, dir) in [
            ("2020-01-01", "2020-01-01"),
            ("a/b=c d%e:f", "a%2Fb%3Dc d%25e%3Af"),
            ("ü{#}?*\"<>|^[]\u{1}", "ü%7B%23%7D%3F%2A%22<>|%5E%5B%5D%01"),
            ("q'uo\\te", "q%27uo%5Cte"),
            ("sp ace", "sp ace"),
            ("2020-01-01T00:00:01.500", "2020-01-01T00%3A00%3A01.500"),
        ] {
            assert_eq!(escape_path_name(value), dir);
            assert_eq!(unescape_path_name(dir), value);
        }
        assert_eq!(unescape_path_name("100%"), "100%");
        assert_eq!(unescape_path_name("%zz%4"), "%zz%4");
    }

    #[test]
    fn rows_split_by_partition_without_the_partition_columns() {
        let batch = RecordBatch::try_from_iter([
            (
                "id",
                Arc::new(Int64Array::from(vec![1, 2, 3, 4])) as ArrayRef,
            ),
            (
                "dt",
                Arc::new(StringArray::from(vec![
                    Some("a"),
                    Some("b/c"),
                    None,
                    Some("a"),
                ])) as _,
            ),
            ("hr", Arc::new(Int32Array::from(vec![1, 2, 3, 1])) as _),
        ])
        .unwrap();
        let p = Partitioner::new(Partitioning::new(["dt", "hr"]));
        let parts = p.split(&batch).unwrap();
        let got: Vec<(String, Vec<i64>)> = parts
            .iter()
            .map(|(d, b)| {
                assert_eq!(b.num_columns(), 1);
                let ids = b.column(0).as_primitive::<arrow::datatypes::Int64Type>();
                (d.clone(), ids.values().to_vec())
            })
            .collect();
        assert_eq!(
            got,
            [
                ("dt=a/hr=1".to_string(), vec![1, 4]),
                ("dt=b%2Fc/hr=2".to_string(), vec![2]),
                ("dt=__DEFAULT_PARTITION__/hr=3".to_string(), vec![3]),
            ]
        );
        let e = Partitioner::new(Partitioning::new(["nope"]))
            .split(&batch)
            .unwrap_err();
        assert!(e.to_string().contains("no partition column 'nope'"), "{e}");
    }

    #[test]
    fn partition_values_are_typed_from_the_directories() {
        let table = Arc::new(Schema::new(vec![
            Field::new("id", DataType::Int64, true),
            Field::new("dt", DataType::Utf8, true),
            Field::new("hr", DataType::Int32, true),
            Field::new("t", DataType::Timestamp(TimeUnit::Millisecond, None), true),
        ]));
        let mut cols = SourceColumns::new(table);
        cols.set_partitioning(Partitioning::new(["dt", "hr", "t"]), "test")
            .unwrap();
        cols.set_projection(vec![2, 0, 3, 1]);
        assert_eq!(cols.file_projection(false), [0]);
        let layout = cols.layout(Path::new("/r"), "test").unwrap();
        let file_batch = RecordBatch::try_from_iter([(
            "id",
            Arc::new(Int64Array::from(vec![7, 8])) as ArrayRef,
        )])
        .unwrap();
        let mut cache = PartitionValues::default();
        let out = layout
            .assemble(
                &file_batch,
                0,
                Path::new("/r/dt=a%2Fb/hr=__DEFAULT_PARTITION__/t=2020-01-01T00%3A00/f.csv"),
                &mut cache,
            )
            .unwrap();
        let cells: Vec<Vec<Option<String>>> = out
            .columns()
            .iter()
            .map(|c| {
                let f = ValueFormatter::new(c.as_ref(), ValueStyle::Sql);
                (0..c.len()).map(|r| f.value(r)).collect()
            })
            .collect();
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            cells,
            [
                vec![None, None],
                vec![s("7"), s("8")],
                vec![s("2020-01-01 00:00:00.000"), s("2020-01-01 00:00:00.000")],
                vec![s("a/b"), s("a/b")],
            ]
        );
        cache.clear();
        let e = layout
            .assemble(
                &file_batch,
                1,
                Path::new("/r/dt=a/hr=x/t=2020-01-01T00%3A00/f.csv"),
                &mut cache,
            )
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("hr=x") && e.contains("\"x\" is not a valid INT"),
            "{e}"
        );
        let e = layout
            .assemble(&file_batch, 2, Path::new("/r/f.csv"), &mut cache)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("/r/f.csv") && e.contains("partition directory 'hr=...'"),
            "{e}"
        );
    }
}
