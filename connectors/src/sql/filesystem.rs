//! `'connector' = 'filesystem'`: CSV or JSON-lines files, read with the parallel file
//! sources and written with the two-phase-commit part-file sinks of [`file`](crate::file).
//!
//! Differences from Flink's filesystem connector: `csv.ignore-parse-errors` drops a bad row
//! (and counts it) where Flink sets the bad fields to NULL; `parquet` and the other formats,
//! partitioned writes, rolling policies and directory monitoring are not supported; a
//! `TIMESTAMP_LTZ` is written as `2020-01-01T00:00:00.000Z` where Flink writes
//! `2020-01-01 00:00:00Z`.

use std::path::PathBuf;
use std::sync::Arc;

use millstream_core::connector::{SinkFactoryRef, SourceFactoryRef};
use millstream_core::error::{Error, Result};
use millstream_core::sql::{TableConnector, TableDef};

use super::{bool_option, check_options};
use crate::file::{
    CsvOptions, CsvSinkFactory, CsvSourceFactory, JsonOptions, JsonSinkFactory, JsonSourceFactory,
    OnError,
};

const SUPPORTED: &[&str] = &[
    "path",
    "format",
    "csv.field-delimiter",
    "csv.ignore-parse-errors",
    "json.ignore-parse-errors",
];

/// The `filesystem` connector: options `path` (a file or directory; required), `format`
/// (`csv` or `json`; required), `csv.field-delimiter` (one character, default `,`),
/// `csv.ignore-parse-errors` and `json.ignore-parse-errors` (`true`: skip and count rows
/// that do not decode).
///
/// A source reads the file, or every visible file under the directory; a sink writes
/// part files into the directory `path`, visible once a checkpoint (or the end of the job)
/// commits them.
///
/// # Example
/// ```
/// use std::collections::BTreeMap;
/// use millstream_connectors::sql::FileSystemConnector;
/// use millstream_core::sql::{Column, SqlType, TableConnector, TableDef};
///
/// let table = TableDef {
///     name: "out".into(),
///     columns: vec![Column::new("id", SqlType::BigInt)],
///     watermark: None,
///     primary_key: vec![],
///     partitioned_by: vec![],
///     options: BTreeMap::from([
///         ("connector".into(), "filesystem".into()),
///         ("path".into(), "/tmp/out".into()),
///         ("format".into(), "csv".into()),
///     ]),
/// };
/// FileSystemConnector.validate(&table)?;
/// let sink = FileSystemConnector.sink(&table)?;
/// assert_eq!(sink.name(), "csv_sink(/tmp/out)");
/// # Ok::<(), millstream_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSystemConnector;

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    Json,
}

/// A table's options, checked.
#[derive(Debug)]
struct Options {
    path: PathBuf,
    format: Format,
    delimiter: u8,
    on_error: OnError,
}

fn options(table: &TableDef) -> Result<Options> {
    check_options(table, "filesystem", |k| SUPPORTED.contains(&k), SUPPORTED)?;
    let path = PathBuf::from(table.required_option("path")?);
    let format = match table.required_option("format")?.to_ascii_lowercase().as_str() {
        "csv" => Format::Csv,
        "json" => Format::Json,
        "parquet" | "avro" | "orc" | "raw" | "debezium-json" | "canal-json" | "maxwell-json" => {
            return Err(Error::Unsupported(format!(
                "table '{}': option 'format' = '{}' is not supported by millstream's filesystem connector (supported: csv, json)",
                table.name,
                table.option("format").unwrap_or_default()
            )))
        }
        other => {
            return Err(Error::Plan(format!(
                "table '{}': unknown value '{other}' for option 'format' (supported: csv, json)",
                table.name
            )))
        }
    };
    let for_format = |key: &str, f: Format| {
        if table.option(key).is_some() && format != f {
            Err(Error::Plan(format!(
                "table '{}': option '{key}' needs 'format' = '{}'",
                table.name,
                if f == Format::Csv { "csv" } else { "json" }
            )))
        } else {
            Ok(())
        }
    };
    for_format("csv.field-delimiter", Format::Csv)?;
    for_format("csv.ignore-parse-errors", Format::Csv)?;
    for_format("json.ignore-parse-errors", Format::Json)?;
    let delimiter = match table.option("csv.field-delimiter") {
        None => b',',
        Some(d) => delimiter(d).ok_or_else(|| {
            Error::Plan(format!(
                "table '{}': option 'csv.field-delimiter' must be a single ASCII character, got '{d}'",
                table.name
            ))
        })?,
    };
    let ignore = match format {
        Format::Csv => bool_option(table, "csv.ignore-parse-errors")?,
        Format::Json => bool_option(table, "json.ignore-parse-errors")?,
    };
    Ok(Options {
        path,
        format,
        delimiter,
        on_error: if ignore == Some(true) {
            OnError::Skip
        } else {
            OnError::Fail
        },
    })
}

/// One ASCII character; Flink also accepts the escapes `\t` and the unicode form `\u0009`.
fn delimiter(d: &str) -> Option<u8> {
    let c = match d {
        "\\t" => '\t',
        _ => match d.strip_prefix("\\u") {
            Some(hex) => char::from_u32(u32::from_str_radix(hex, 16).ok()?)?,
            None => {
                let mut chars = d.chars();
                let c = chars.next()?;
                if chars.next().is_some() {
                    return None;
                }
                c
            }
        },
    };
    (c.is_ascii() && c != '\n' && c != '\r' && c != '"').then_some(c as u8)
}

impl TableConnector for FileSystemConnector {
    fn validate(&self, table: &TableDef) -> Result<()> {
        options(table).map(|_| ())
    }

    /// # Errors
    /// Bad options; a `path` that does not exist ([`Error::Plan`] naming it); a projected
    /// column the table does not have.
    fn source(&self, table: &TableDef, projection: &[String]) -> Result<SourceFactoryRef> {
        let o = options(table)?;
        if !o.path.exists() {
            return Err(Error::Plan(format!(
                "table '{}': path '{}' does not exist",
                table.name,
                o.path.display()
            )));
        }
        let schema = table.arrow_schema();
        Ok(match o.format {
            Format::Csv => {
                let options = CsvOptions {
                    has_header: false,
                    delimiter: o.delimiter,
                    on_error: o.on_error,
                };
                Arc::new(
                    CsvSourceFactory::new(o.path, schema, options).with_projection(projection)?,
                )
            }
            Format::Json => {
                let options = JsonOptions {
                    on_error: o.on_error,
                };
                Arc::new(
                    JsonSourceFactory::new(o.path, schema, options).with_projection(projection)?,
                )
            }
        })
    }

    /// # Errors
    /// Bad options, or a CSV delimiter other than `,` (the part-file writer writes commas).
    fn sink(&self, table: &TableDef) -> Result<SinkFactoryRef> {
        let o = options(table)?;
        if o.path.is_file() {
            return Err(Error::Plan(format!(
                "table '{}': the filesystem sink writes part files into the directory 'path', but '{}' is a file",
                table.name,
                o.path.display()
            )));
        }
        Ok(match o.format {
            Format::Csv => {
                if o.delimiter != b',' {
                    return Err(Error::Unsupported(format!(
                        "table '{}': the filesystem sink writes only ',' as 'csv.field-delimiter'",
                        table.name
                    )));
                }
                Arc::new(CsvSinkFactory::new(o.path))
            }
            Format::Json => Arc::new(JsonSinkFactory::new(o.path)),
        })
    }

    fn is_bounded(&self, _table: &TableDef) -> bool {
        true
    }
}
