//! `'connector' = 'filesystem'`: CSV, JSON-lines, Parquet or debezium-json files, read with
//! the parallel file sources and written with the two-phase-commit part-file sinks of
//! [`file`](crate::file).
//!
//! | `format` | source | sink | one row (or change) in a file |
//! |---|---|---|---|
//! | `csv` | yes | insert-only input | `1,abc,12.50,2020-01-01 00:00:01.500` |
//! | `json` | yes | insert-only input | `{"id":1,"name":"abc","price":12.5,"ts":"2020-01-01 00:00:01.5"}` |
//! | `parquet` | yes, by row groups, projected columns only | insert-only input | one Parquet file per part file, Snappy |
//! | `debezium-json` | no (see below) | any changelog | `{"before":null,"after":{"id":1,...},"op":"c"}` |
//!
//! A sink writes part files into the directory `path`, visible once a checkpoint (or the end
//! of the job) commits them: `path/c<checkpoint>-part-<attempt>-<subtask>-<seq>.<ext>`, with
//! `<ext>` `csv`, `json` or `parquet`. With `PARTITIONED BY (dt, hr)` each row goes below
//! the directories of its partition values, without the partition columns, as in Flink:
//! `path/dt=2020-01-01/hr=1/c0000000001-part-0195f7a2b3c4d5e6-0-0.csv`; values are escaped
//! as Flink's `PartitionPathUtils.escapePathName` escapes them (`a/b` is `dt=a%2Fb`), and a
//! NULL or empty value goes to `partition.default-name` (`__DEFAULT_PARTITION__`). Every
//! partition's in-progress files commit together at a checkpoint. A source reads the file,
//! or every visible file below the directory, and takes the partition columns from the
//! directory names, typed as declared (see [`file::partition`](crate::file::partition)).
//!
//! Updating queries can only be written as a changelog: the sink accepts updates
//! ([`TableConnector::accepts_updates_for`]) only for `'format' = 'debezium-json'`, which
//! writes `+I`/`+U` rows as `{"before":null,"after":{...},"op":"c"}` and `-U`/`-D` rows as
//! `{"before":{...},"after":null,"op":"d"}`, as Flink's debezium-json serializer does (see
//! [`file::changelog`](crate::file::changelog)). Values in `json` and `debezium-json` lines
//! are spelled as Flink's json format writes them (`1.0E-4`, `"2020-01-01 00:00:01.5"`,
//! decimals without trailing zeros, `1E+1` for `10.00`).
//!
//! Differences from Flink's filesystem connector: `csv.ignore-parse-errors` drops a bad row
//! (and counts it) where Flink sets the bad fields to NULL; a `debezium-json` table cannot be
//! read from SQL yet (the planner reads every table as insert-only;
//! [`DebeziumJsonSourceFactory`](crate::file::DebeziumJsonSourceFactory) reads such files as
//! a changelog through the DataStream API); `avro`, `orc`, `raw` and the other changelog
//! formats, rolling policies, partition commit policies (`_SUCCESS` files, metastore) and
//! directory monitoring are not supported; part files are named
//! `c<checkpoint>-part-<attempt>-<subtask>-<seq>.<ext>` where Flink writes
//! `part-<uuid>-<subtask>-<seq>`; CSV values keep Millstream's spellings (`12.50` and
//! `2020-01-01 00:00:00.000` where Flink writes `12.5` and `"2020-01-01 00:00:00"`);
//! Parquet stores `TIMESTAMP(3)` as `INT64` milliseconds where Flink writes `INT96` (both
//! are read); a `TIMESTAMP_LTZ` is written to CSV as `2020-01-01T00:00:00.000Z` where Flink
//! writes `2020-01-01 00:00:00Z`; a partition directory named `partition.default-name` is
//! read back as NULL, where Flink 2.3's source fails on it.

mod options;

use std::sync::Arc;

use millstream_core::connector::{SinkFactoryRef, SourceFactoryRef};
use millstream_core::error::{Error, Result};
use millstream_core::sql::{TableConnector, TableDef};

use self::options::{options, Format};
use crate::file::{
    CsvOptions, CsvSinkFactory, CsvSourceFactory, DebeziumJsonSinkFactory, JsonOptions,
    JsonSinkFactory, JsonSourceFactory, ParquetSinkFactory, ParquetSourceFactory,
};

/// The `filesystem` connector: options `path` (a file or directory; required), `format`
/// (`csv`, `json`, `parquet` or `debezium-json`; required), `partition.default-name` (the
/// directory of NULL partition values, default `__DEFAULT_PARTITION__`),
/// `csv.field-delimiter` (one character, default `,`), and `csv.ignore-parse-errors` /
/// `json.ignore-parse-errors` / `debezium-json.ignore-parse-errors` (`true`: skip and count
/// rows that do not decode).
///
/// A source reads the file, or every visible file under the directory; a sink writes
/// part files into the directory `path` (below its partition directories for a
/// `PARTITIONED BY` table), visible once a checkpoint (or the end of the job) commits them.
/// The layouts: partition directories in [`file::partition`](crate::file::partition), the
/// debezium-json lines in [`file::changelog`](crate::file::changelog), the Parquet files in
/// [`file::parquet`](crate::file::parquet).
///
/// # Example
/// ```
/// use std::collections::BTreeMap;
/// use millstream_connectors::sql::FileSystemConnector;
/// use millstream_core::sql::{Column, SqlType, TableConnector, TableDef};
///
/// let table = TableDef {
///     name: "out".into(),
///     columns: vec![Column::new("id", SqlType::BigInt), Column::new("dt", SqlType::STRING)],
///     watermark: None,
///     primary_key: vec![],
///     partitioned_by: vec!["dt".into()],
///     options: BTreeMap::from([
///         ("connector".into(), "filesystem".into()),
///         ("path".into(), "/tmp/out".into()),
///         ("format".into(), "parquet".into()),
///     ]),
/// };
/// FileSystemConnector.validate(&table)?;
/// let sink = FileSystemConnector.sink(&table)?;
/// assert_eq!(sink.name(), "parquet_sink(/tmp/out)");
/// assert!(!FileSystemConnector.accepts_updates_for(&table), "only debezium-json takes updates");
/// # Ok::<(), millstream_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSystemConnector;

impl TableConnector for FileSystemConnector {
    fn validate(&self, table: &TableDef) -> Result<()> {
        options(table).map(|_| ())
    }

    /// # Errors
    /// Bad options; a `path` that does not exist ([`Error::Plan`] naming it); a projected
    /// column the table does not have; a `debezium-json` table ([`Error::Unsupported`]: the
    /// planner reads tables as insert-only).
    fn source(&self, table: &TableDef, projection: &[String]) -> Result<SourceFactoryRef> {
        let o = options(table)?;
        if o.format == Format::DebeziumJson {
            return Err(Error::Unsupported(format!(
                "table '{}': reading 'format' = 'debezium-json' from SQL is not supported yet (Millstream's planner reads tables as insert-only); the DataStream API reads it with millstream_connectors::file::DebeziumJsonSourceFactory",
                table.name
            )));
        }
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
                    CsvSourceFactory::new(o.path, schema, options)
                        .with_partitioning(o.partitioning)?
                        .with_projection(projection)?,
                )
            }
            Format::Json => {
                let options = JsonOptions {
                    on_error: o.on_error,
                };
                Arc::new(
                    JsonSourceFactory::new(o.path, schema, options)
                        .with_partitioning(o.partitioning)?
                        .with_projection(projection)?,
                )
            }
            Format::Parquet => Arc::new(
                ParquetSourceFactory::new(o.path, schema)
                    .with_partitioning(o.partitioning)?
                    .with_projection(projection)?,
            ),
            Format::DebeziumJson => {
                return Err(Error::Internal(
                    "filesystem source: debezium-json was refused above".into(),
                ))
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
        let p = o.partitioning;
        Ok(match o.format {
            Format::Csv => {
                if o.delimiter != b',' {
                    return Err(Error::Unsupported(format!(
                        "table '{}': the filesystem sink writes only ',' as 'csv.field-delimiter'",
                        table.name
                    )));
                }
                Arc::new(CsvSinkFactory::new(o.path).with_partitioning(p))
            }
            Format::Json => Arc::new(JsonSinkFactory::new(o.path).with_partitioning(p)),
            Format::Parquet => Arc::new(ParquetSinkFactory::new(o.path).with_partitioning(p)),
            Format::DebeziumJson => {
                Arc::new(DebeziumJsonSinkFactory::new(o.path).with_partitioning(p))
            }
        })
    }

    /// Only a changelog format (`debezium-json`) can hold updates, as in Flink; `csv`,
    /// `json` and `parquet` sinks take insert-only queries.
    fn accepts_updates_for(&self, table: &TableDef) -> bool {
        options(table).is_ok_and(|o| o.format == Format::DebeziumJson)
    }

    fn is_bounded(&self, _table: &TableDef) -> bool {
        true
    }
}
