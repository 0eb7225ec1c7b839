//! How SQL tables reach connectors: `CREATE TABLE ... WITH ('connector' = 'x', ...)` names a
//! [`TableConnector`] registered under `x`; the planner asks it for a source (with the columns
//! the query reads, so projections are pushed into the source) or a sink.
//!
//! ```text
//!  CREATE TABLE ─▶ TableDef (columns, watermark, options) ─▶ catalog
//!  SELECT ... FROM t ─▶ planner ─▶ registry["filesystem"].source(&def, ["price", "date_time"])
//!  INSERT INTO t ...  ─▶ planner ─▶ registry["filesystem"].sink(&def)
//! ```
//!
//! The core crate knows no concrete connector; `millstream-connectors` registers
//! `filesystem`, `nexmark`, `datagen`, `print` and `blackhole`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use arrow::datatypes::{Schema, SchemaRef};

use crate::connector::{SinkFactoryRef, SourceFactoryRef};
use crate::error::{Error, Result};
use crate::sql::types::Column;

/// The watermark of a table: `WATERMARK FOR column AS column - INTERVAL 'delay'`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkDef {
    /// The event-time column.
    pub column: String,
    /// How far the watermark trails the largest timestamp seen, milliseconds.
    pub delay_ms: i64,
}

/// A table declared with `CREATE TABLE` (or registered through the API).
#[derive(Debug, Clone)]
pub struct TableDef {
    /// The table name.
    pub name: String,
    /// The physical columns, in declared order: what the connector reads or writes.
    /// Computed columns are not here (the planner computes them after the source).
    pub columns: Vec<Column>,
    /// The watermark declaration, if any.
    pub watermark: Option<WatermarkDef>,
    /// `PRIMARY KEY (...) NOT ENFORCED` columns.
    pub primary_key: Vec<String>,
    /// `PARTITIONED BY (...)` columns.
    pub partitioned_by: Vec<String>,
    /// The `WITH (...)` options, keys as written.
    pub options: BTreeMap<String, String>,
}

impl TableDef {
    /// The Arrow schema of the physical columns (field names are the column names).
    pub fn arrow_schema(&self) -> SchemaRef {
        Arc::new(Schema::new(
            self.columns
                .iter()
                .map(|c| c.field(&c.name))
                .collect::<Vec<_>>(),
        ))
    }

    /// An option's value.
    pub fn option(&self, key: &str) -> Option<&str> {
        self.options.get(key).map(String::as_str)
    }

    /// An option that must be present.
    ///
    /// # Errors
    /// The option is missing; the message names the table and the option.
    pub fn required_option(&self, key: &str) -> Result<&str> {
        self.option(key).ok_or_else(|| {
            Error::Plan(format!(
                "table '{}': missing required option '{key}'",
                self.name
            ))
        })
    }

    /// The physical column called `name`.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// A connector usable from SQL DDL.
pub trait TableConnector: Send + Sync {
    /// Check the options of a table when it is created, so that `CREATE TABLE` fails early
    /// (unknown or missing options, a bad `format`).
    ///
    /// # Errors
    /// The options are not valid for this connector.
    fn validate(&self, table: &TableDef) -> Result<()> {
        let _ = table;
        Ok(())
    }

    /// A source producing the physical columns named in `projection`, in that order, with
    /// the Arrow types of their SQL types.
    ///
    /// # Errors
    /// The connector cannot read (a sink-only connector), or opening the input failed.
    fn source(&self, table: &TableDef, projection: &[String]) -> Result<SourceFactoryRef>;

    /// A sink taking batches with all physical columns of the table, in order, named as the
    /// columns and typed by their SQL types.
    ///
    /// # Errors
    /// The connector cannot write (a source-only connector).
    fn sink(&self, table: &TableDef) -> Result<SinkFactoryRef>;

    /// Whether the sink accepts updating (changelog) input. Flink's filesystem sink does
    /// not; `print` and `blackhole` do.
    fn accepts_updates(&self) -> bool {
        false
    }

    /// Whether the sink of `table` accepts updating input: [`TableConnector::accepts_updates`]
    /// unless the table's options decide (Flink's filesystem sink takes updates only in a
    /// changelog format such as `debezium-json`).
    fn accepts_updates_for(&self, table: &TableDef) -> bool {
        let _ = table;
        self.accepts_updates()
    }

    /// Whether the source is bounded for these options (a file is, a generator with an
    /// event count is).
    fn is_bounded(&self, table: &TableDef) -> bool {
        let _ = table;
        true
    }
}

/// Connectors by the value of their `'connector'` option.
#[derive(Clone, Default)]
pub struct ConnectorRegistry {
    connectors: HashMap<String, Arc<dyn TableConnector>>,
}

impl std::fmt::Debug for ConnectorRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<&String> = self.connectors.keys().collect();
        names.sort();
        f.debug_struct("ConnectorRegistry")
            .field("connectors", &names)
            .finish()
    }
}

impl ConnectorRegistry {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `connector` under `name` (replacing any earlier one).
    pub fn register(&mut self, name: impl Into<String>, connector: Arc<dyn TableConnector>) {
        self.connectors.insert(name.into(), connector);
    }

    /// The connector of a table, from its `'connector'` option.
    ///
    /// # Errors
    /// No `'connector'` option, or no connector of that name; the message lists the known
    /// ones.
    pub fn for_table(&self, table: &TableDef) -> Result<&Arc<dyn TableConnector>> {
        let name = table.required_option("connector")?;
        self.connectors.get(name).ok_or_else(|| {
            let mut known: Vec<&str> = self.connectors.keys().map(String::as_str).collect();
            known.sort_unstable();
            Error::Plan(format!(
                "table '{}': unknown connector '{name}'; known connectors: {}",
                table.name,
                known.join(", ")
            ))
        })
    }
}
