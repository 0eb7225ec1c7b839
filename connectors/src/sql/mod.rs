//! The connectors of SQL tables: what `CREATE TABLE ... WITH ('connector' = '...')` can name.
//!
//! Each connector implements [`TableConnector`](millstream_core::sql::TableConnector): it
//! checks a table's `WITH` options (unknown options are errors that list the supported ones,
//! as in Flink) and builds a source that reads the projected physical columns, or a sink that
//! writes all of them.
//!
//! ```text
//!  CREATE TABLE t (...) WITH ('connector' = 'filesystem', 'path' = 'bids/', 'format' = 'csv')
//!      │ default_registry()["filesystem"]
//!      ├─ source(t, [price, date_time]) ─▶ CsvSourceFactory::with_projection ─▶ batches
//!      └─ sink(t)                       ─▶ CsvSinkFactory (part files, two-phase commit)
//! ```
//!
//! | connector | reads | writes | options |
//! |---|---|---|---|
//! | [`filesystem`](FileSystemConnector) | CSV, JSON lines, Parquet (a file, a directory, or a `PARTITIONED BY` layout) | CSV, JSON lines, Parquet part files (partitioned by directory), `debezium-json` changelogs | `path`, `format`, `csv.field-delimiter`, `csv.ignore-parse-errors`, `json.ignore-parse-errors`, `debezium-json.ignore-parse-errors`, `partition.default-name` |
//! | [`nexmark`](NexmarkConnector) | the built-in generator | - | `table`, `events.num`, `first-event.rate` (`rate`), `seed`, `max-rate` |
//! | [`datagen`](DataGenConnector) | random or sequence rows | - | `number-of-rows`, `rows-per-second`, `seed`, `fields.<col>.{kind,min,max,max-past,length,var-len,start,end,null-rate}` |
//! | [`print`](PrintConnector) | - | `+I[1, abc]` lines on stdout | `print-identifier`, `standard-error` |
//! | [`blackhole`](BlackholeConnector) | - | nothing | - |
//!
//! Sinks that accept updates (`print`, `blackhole`) see a changelog batch as the table's
//! columns followed by one `Int8` column of [`RowKind`](millstream_core::sql::RowKind) codes
//! (see [`PrintConnector`]); an insert-only batch has just the table's columns.
//!
//! [`format`](mod@format) spells values as Flink does ([`ValueFormatter`]), for `print` and
//! for the `millstream sql` client.

mod datagen;
mod filesystem;
pub mod format;
mod nexmark;
mod print;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use millstream_core::connector::{
    Source, SourceContext, SourceFactory, SourceFactoryRef, SourcePoll,
};
use millstream_core::error::{Error, Result};
use millstream_core::sql::{ConnectorRegistry, TableDef};

pub use datagen::DataGenConnector;
pub use filesystem::FileSystemConnector;
pub use format::{format_value, ValueFormatter, ValueStyle};
pub use nexmark::NexmarkConnector;
pub use print::{BlackholeConnector, PrintConnector};

/// A registry with every SQL connector of this crate: `filesystem`, `nexmark`, `datagen`,
/// `print` and `blackhole`.
///
/// # Example
/// ```
/// use millstream_connectors::sql::default_registry;
/// use millstream_core::runtime::JobConfig;
/// use millstream_core::sql::TableEnvironment;
///
/// let env = TableEnvironment::new(JobConfig::default(), default_registry());
/// # let _ = env;
/// ```
pub fn default_registry() -> ConnectorRegistry {
    let mut r = ConnectorRegistry::new();
    r.register("filesystem", Arc::new(FileSystemConnector));
    r.register("nexmark", Arc::new(NexmarkConnector));
    r.register("datagen", Arc::new(DataGenConnector));
    r.register("print", Arc::new(PrintConnector));
    r.register("blackhole", Arc::new(BlackholeConnector));
    r
}

/// Rejects options `known` does not accept, listing `supported`.
fn check_options(
    table: &TableDef,
    connector: &str,
    known: impl Fn(&str) -> bool,
    supported: &[&str],
) -> Result<()> {
    let unknown: Vec<&str> = table
        .options
        .keys()
        .map(String::as_str)
        .filter(|k| *k != "connector" && !known(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    let supported = if supported.is_empty() {
        "none".to_string()
    } else {
        supported.join(", ")
    };
    Err(Error::Plan(format!(
        "table '{}': unsupported option{} {} for connector '{connector}'; supported options: {supported}",
        table.name,
        if unknown.len() > 1 { "s" } else { "" },
        unknown
            .iter()
            .map(|k| format!("'{k}'"))
            .collect::<Vec<_>>()
            .join(", "),
    )))
}

/// An option parsed with `parse`, `None` when absent.
fn parse_option<T>(
    table: &TableDef,
    key: &str,
    what: &str,
    parse: impl Fn(&str) -> Option<T>,
) -> Result<Option<T>> {
    let Some(v) = table.option(key) else {
        return Ok(None);
    };
    parse(v.trim()).map(Some).ok_or_else(|| {
        Error::Plan(format!(
            "table '{}': option '{key}' must be {what}, got '{v}'",
            table.name
        ))
    })
}

/// A `'true'` / `'false'` option (case-insensitive), `None` when absent.
fn bool_option(table: &TableDef, key: &str) -> Result<Option<bool>> {
    parse_option(table, key, "'true' or 'false'", |v| {
        match v.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    })
}

/// A non-negative integer option, `None` when absent.
fn u64_option(table: &TableDef, key: &str) -> Result<Option<u64>> {
    parse_option(table, key, "a non-negative integer", |v| v.parse().ok())
}

/// A source factory whose batches are relabeled with the table's projected schema (the
/// generators declare their columns NOT NULL; the table's columns are nullable).
struct Relabeled {
    inner: SourceFactoryRef,
    schema: SchemaRef,
    name: String,
}

impl Relabeled {
    /// `inner` with `schema`, which must contain `inner`'s schema field for field.
    fn wrap(inner: SourceFactoryRef, schema: SchemaRef, name: String) -> SourceFactoryRef {
        Arc::new(Relabeled {
            inner,
            schema,
            name,
        })
    }
}

impl SourceFactory for Relabeled {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn max_parallelism(&self) -> Option<usize> {
        self.inner.max_parallelism()
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        Ok(Box::new(RelabeledSource {
            inner: self.inner.create(ctx)?,
            schema: self.schema.clone(),
        }))
    }

    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        Ok(Box::new(RelabeledSource {
            inner: self.inner.restore(ctx, positions)?,
            schema: self.schema.clone(),
        }))
    }
}

struct RelabeledSource {
    inner: Box<dyn Source>,
    schema: SchemaRef,
}

impl Source for RelabeledSource {
    fn poll(&mut self) -> Result<SourcePoll> {
        Ok(match self.inner.poll()? {
            SourcePoll::Batch(b) => SourcePoll::Batch(relabel(b, &self.schema)?),
            other => other,
        })
    }

    fn position(&self) -> u64 {
        self.inner.position()
    }

    fn snapshot_position(&mut self) -> Result<Vec<u8>> {
        self.inner.snapshot_position()
    }

    fn take_error_rows(&mut self) -> Option<RecordBatch> {
        self.inner.take_error_rows()
    }
}

fn relabel(batch: RecordBatch, schema: &SchemaRef) -> Result<RecordBatch> {
    if batch.schema() == *schema {
        return Ok(batch);
    }
    batch.with_schema(schema.clone()).map_err(|e| {
        Error::Internal(format!(
            "source batch does not fit the table schema ({e}); the connector checked the types"
        ))
    })
}
