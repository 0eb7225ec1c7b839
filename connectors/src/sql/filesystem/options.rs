//! The `WITH` options of a `filesystem` table, checked.

use std::path::PathBuf;

use millstream_core::error::{Error, Result};
use millstream_core::sql::TableDef;

use super::super::{bool_option, check_options};
use crate::file::{OnError, Partitioning, DEFAULT_PARTITION_NAME};

/// The options the connector knows.
pub(super) const SUPPORTED: &[&str] = &[
    "path",
    "format",
    "partition.default-name",
    "csv.field-delimiter",
    "csv.ignore-parse-errors",
    "json.ignore-parse-errors",
    "debezium-json.ignore-parse-errors",
];

/// The formats the connector reads or writes.
const FORMATS: &str = "csv, json, parquet, debezium-json";

/// The file formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Format {
    Csv,
    Json,
    Parquet,
    /// Flink's changelog format: one `{"before":...,"after":...,"op":...}` line per change.
    DebeziumJson,
}

impl Format {
    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::Json => "json",
            Format::Parquet => "parquet",
            Format::DebeziumJson => "debezium-json",
        }
    }
}

/// A table's options, checked.
#[derive(Debug)]
pub(super) struct Options {
    pub(super) path: PathBuf,
    pub(super) format: Format,
    pub(super) delimiter: u8,
    pub(super) on_error: OnError,
    pub(super) partitioning: Partitioning,
}

/// The checked options of `table`.
///
/// # Errors
/// [`Error::Plan`] for unknown or malformed options, a missing `path` or `format`, an option
/// of another format, or a partition column the table does not have;
/// [`Error::Unsupported`] for a format of Flink's that is not implemented.
pub(super) fn options(table: &TableDef) -> Result<Options> {
    check_options(table, "filesystem", |k| SUPPORTED.contains(&k), SUPPORTED)?;
    let path = PathBuf::from(table.required_option("path")?);
    let format = match table.required_option("format")?.to_ascii_lowercase().as_str() {
        "csv" => Format::Csv,
        "json" => Format::Json,
        "parquet" => Format::Parquet,
        "debezium-json" => Format::DebeziumJson,
        "avro" | "orc" | "raw" | "canal-json" | "maxwell-json" | "ogg-json"
        | "debezium-avro-confluent" | "avro-confluent" => {
            return Err(Error::Unsupported(format!(
                "table '{}': option 'format' = '{}' is not supported by millstream's filesystem connector (supported: {FORMATS})",
                table.name,
                table.option("format").unwrap_or_default()
            )))
        }
        other => {
            return Err(Error::Plan(format!(
                "table '{}': unknown value '{other}' for option 'format' (supported: {FORMATS})",
                table.name
            )))
        }
    };
    let for_format = |key: &str, f: Format| {
        if table.option(key).is_some() && format != f {
            Err(Error::Plan(format!(
                "table '{}': option '{key}' needs 'format' = '{}'",
                table.name,
                f.name()
            )))
        } else {
            Ok(())
        }
    };
    for_format("csv.field-delimiter", Format::Csv)?;
    for_format("csv.ignore-parse-errors", Format::Csv)?;
    for_format("json.ignore-parse-errors", Format::Json)?;
    for_format("debezium-json.ignore-parse-errors", Format::DebeziumJson)?;
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
        Format::DebeziumJson => bool_option(table, "debezium-json.ignore-parse-errors")?,
        Format::Parquet => None,
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
        partitioning: partitioning(table)?,
    })
}

/// The `PARTITIONED BY` columns and `partition.default-name`.
fn partitioning(table: &TableDef) -> Result<Partitioning> {
    let available = || {
        table
            .columns
            .iter()
            .map(|c| c.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    for (i, p) in table.partitioned_by.iter().enumerate() {
        if table.column(p).is_none() {
            // Flink's message.
            return Err(Error::Plan(format!(
                "table '{}': partition column '{p}' not defined in the table schema. Available columns: [{}]",
                table.name,
                available()
            )));
        }
        if table.partitioned_by[..i].contains(p) {
            return Err(Error::Plan(format!(
                "table '{}': partition column '{p}' is listed twice in PARTITIONED BY",
                table.name
            )));
        }
    }
    if !table.partitioned_by.is_empty() && table.partitioned_by.len() >= table.columns.len() {
        return Err(Error::Plan(format!(
            "table '{}': every column is a partition column; the files need at least one other",
            table.name
        )));
    }
    let mut p = Partitioning::new(table.partitioned_by.iter().cloned());
    if let Some(name) = table.option("partition.default-name") {
        if name.is_empty() {
            return Err(Error::Plan(format!(
                "table '{}': option 'partition.default-name' must not be empty",
                table.name
            )));
        }
        p = p.with_default_name(name);
    } else {
        p = p.with_default_name(DEFAULT_PARTITION_NAME);
    }
    Ok(p)
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
