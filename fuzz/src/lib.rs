//! Shared pieces of the SQL fuzz targets: a fixed catalog, a connector that never reads or
//! writes anything, and a driver that plans (never runs) the statements of a script.
//!
//! Nothing here executes a job: queries and `INSERT`s go through `explain_sql` only, so an
//! input can neither hang on a source nor spawn tasks.

use std::cell::RefCell;
use std::sync::Arc;

use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use millstream_core::connector::{
    Sink, SinkFactory, SinkFactoryRef, Source, SourceContext, SourceFactory, SourceFactoryRef,
    SourceFilter,
};
use millstream_core::runtime::JobConfig;
use millstream_core::sources::BatchSource;
use millstream_core::sql::dialect::split_statements;
use millstream_core::sql::statement::{parse_script, Statement};
use millstream_core::sql::{ConnectorRegistry, TableConnector, TableDef, TableEnvironment};
use millstream_core::Result;

pub mod gen;

/// The catalog every planning input sees: the Nexmark tables, a small table of every
/// common type, sinks for `INSERT`, a view, and a table of registered batches (`tb`).
pub const SETUP_DDL: &str = "
CREATE TABLE person (
    id BIGINT, name VARCHAR, emailAddress VARCHAR, creditCard VARCHAR, city VARCHAR,
    state VARCHAR, date_time TIMESTAMP(3), extra VARCHAR,
    WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'fuzz');
CREATE TABLE auction (
    id BIGINT, itemName VARCHAR, description VARCHAR, initialBid BIGINT, reserve BIGINT,
    date_time TIMESTAMP(3), expires TIMESTAMP(3), seller BIGINT, category BIGINT,
    extra VARCHAR,
    WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'fuzz');
CREATE TABLE bid (
    auction BIGINT, bidder BIGINT, price BIGINT, channel VARCHAR, url VARCHAR,
    date_time TIMESTAMP(3), extra VARCHAR,
    WATERMARK FOR date_time AS date_time - INTERVAL '4' SECOND
) WITH ('connector' = 'fuzz');
CREATE TABLE t (
    a BIGINT, b VARCHAR, c DOUBLE, ts TIMESTAMP(3),
    WATERMARK FOR ts AS ts - INTERVAL '1' SECOND
) WITH ('connector' = 'fuzz');
CREATE TABLE u (
    k INT NOT NULL, s STRING, d DECIMAL(10, 2), f FLOAT, bo BOOLEAN, dt DATE,
    ts TIMESTAMP(3), i SMALLINT, y TINYINT,
    k2 AS k * 2,
    PRIMARY KEY (k) NOT ENFORCED
) WITH ('connector' = 'fuzz');
CREATE TABLE sink_append (a BIGINT, b VARCHAR, c DOUBLE, ts TIMESTAMP(3))
    WITH ('connector' = 'fuzz');
CREATE TABLE sink_updates (a BIGINT, b VARCHAR, c DOUBLE, ts TIMESTAMP(3))
    WITH ('connector' = 'fuzz-updates');
CREATE VIEW v AS SELECT a, b, ts FROM t WHERE a > 0;
";

/// Table names of the catalog, for generators and dictionaries.
pub const TABLES: &[(&str, &[&str])] = &[
    (
        "person",
        &[
            "id",
            "name",
            "emailAddress",
            "creditCard",
            "city",
            "state",
            "date_time",
            "extra",
        ],
    ),
    (
        "auction",
        &[
            "id",
            "itemName",
            "description",
            "initialBid",
            "reserve",
            "date_time",
            "expires",
            "seller",
            "category",
            "extra",
        ],
    ),
    (
        "bid",
        &[
            "auction",
            "bidder",
            "price",
            "channel",
            "url",
            "date_time",
            "extra",
        ],
    ),
    ("t", &["a", "b", "c", "ts"]),
    ("u", &["k", "s", "d", "f", "bo", "dt", "ts", "i", "y", "k2"]),
    ("v", &["a", "b", "ts"]),
    ("tb", &["a", "b", "c", "ts"]),
];

/// Tables with a rowtime attribute (usable in window TVFs), and that column.
pub const ROWTIME_TABLES: &[(&str, &str)] = &[
    ("bid", "date_time"),
    ("auction", "date_time"),
    ("person", "date_time"),
    ("t", "ts"),
    ("v", "ts"),
];

/// A table connector that reads no rows and drops every row written.
struct NullTable {
    updates: bool,
}

impl TableConnector for NullTable {
    fn source(&self, table: &TableDef, projection: &[String]) -> Result<SourceFactoryRef> {
        let schema = table.arrow_schema();
        let idx: Vec<usize> = projection
            .iter()
            .filter_map(|p| schema.index_of(p).ok())
            .collect();
        let schema = Arc::new(schema.project(&idx)?);
        let rows = Arc::new(BatchSource::new(table.name.clone(), schema, vec![])?);
        Ok(Arc::new(Filterable { rows }))
    }

    fn sink(&self, _table: &TableDef) -> Result<SinkFactoryRef> {
        Ok(Arc::new(NullSink))
    }

    fn accepts_updates(&self) -> bool {
        self.updates
    }
}

/// A source with no rows that takes pushed-down filters, evaluating each once over an
/// empty batch of its columns (so the planner's pushdown is exercised too).
struct Filterable {
    rows: SourceFactoryRef,
}

impl SourceFactory for Filterable {
    fn name(&self) -> String {
        self.rows.name()
    }

    fn schema(&self) -> arrow_schema::SchemaRef {
        self.rows.schema()
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        self.rows.create(ctx)
    }

    fn with_filter(&self, filter: Arc<SourceFilter>) -> Option<SourceFactoryRef> {
        let columns = self.rows.schema().project(&filter.columns).ok()?;
        let empty = arrow_array::RecordBatch::new_empty(Arc::new(columns));
        let _ = filter.evaluate(&empty);
        Some(Arc::new(Filterable {
            rows: self.rows.clone(),
        }))
    }
}

struct NullSink;

impl SinkFactory for NullSink {
    fn name(&self) -> String {
        "null".into()
    }

    fn create(&self, _subtask: usize, _parallelism: usize) -> Result<Box<dyn Sink>> {
        Ok(Box::new(NullSink))
    }
}

impl Sink for NullSink {
    fn write(&mut self, _batch: &arrow_array::RecordBatch) -> Result<()> {
        Ok(())
    }
}

/// A session holding the catalog of [`SETUP_DDL`] plus `tb`, registered batches.
///
/// # Panics
/// The setup script fails: a bug in the harness or in the DDL it exercises.
pub fn catalog() -> TableEnvironment {
    let config = JobConfig {
        parallelism: 2,
        ..JobConfig::default()
    };
    let mut connectors = ConnectorRegistry::new();
    connectors.register("fuzz", Arc::new(NullTable { updates: false }));
    connectors.register("fuzz-updates", Arc::new(NullTable { updates: true }));
    let mut env = TableEnvironment::new(config, connectors);
    let schema: SchemaRef = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Utf8, true),
        Field::new("c", DataType::Float64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    env.register_batches("tb", schema, vec![])
        .expect("register tb");
    env.execute_sql(SETUP_DDL).expect("setup DDL");
    env
}

thread_local! {
    static SHARED: RefCell<TableEnvironment> = RefCell::new(catalog());
}

/// Plan `sql`, one query or `INSERT`, in the shared catalog (not changed by planning).
pub fn explain(sql: &str) -> Result<String> {
    report(sql, SHARED.with(|env| env.borrow_mut().explain_sql(sql)))
}

/// With `MILLSTREAM_FUZZ_VERBOSE` set, print each input and its outcome (to see whether
/// seeds and generated queries plan, or why not).
fn report(sql: &str, r: Result<String>) -> Result<String> {
    static VERBOSE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    if *VERBOSE.get_or_init(|| std::env::var_os("MILLSTREAM_FUZZ_VERBOSE").is_some()) {
        match &r {
            Ok(plan) => eprintln!("--- {sql}\n{plan}"),
            Err(e) => eprintln!("--- {sql}\nerror: {e}"),
        }
    }
    r
}

/// Whether running a statement would start a job; those are only ever explained.
fn runs_job(s: &Statement) -> bool {
    matches!(
        s,
        Statement::Query(_) | Statement::Insert { .. } | Statement::StatementSet(_)
    )
}

/// Plan a script the way a session would, without running any job: a script of one
/// statement is explained in the shared catalog; in a longer one, every statement but the
/// last must be one that runs no job (DDL, `SET`, `SHOW`, `DESCRIBE`, `EXPLAIN`...) and
/// runs in a fresh catalog, and the last is explained there (or run if it starts no job).
pub fn plan_script(script: &str) {
    let statements = match parse_script(script) {
        Ok(s) => s,
        Err(e) => {
            let _ = report(script, Err(e));
            return;
        }
    };
    match statements.len() {
        0 => {}
        1 if runs_job(&statements[0]) => {
            let _ = explain(script);
        }
        _ => {
            let (last_statement, prefix) = statements.split_last().expect("non-empty");
            if prefix.iter().any(runs_job) {
                return;
            }
            let Some(split) = last_statement_offset(script) else {
                return;
            };
            let mut env = catalog();
            if let Err(e) = env.execute_sql(&script[..split]) {
                let _ = report(&script[..split], Err(e));
                return;
            }
            let last = &script[split..];
            let r = if runs_job(last_statement) {
                env.explain_sql(last)
            } else {
                env.execute_sql(last).map(|_| String::new())
            };
            let _ = report(last, r);
        }
    }
}

/// The byte offset where the last statement of `script` starts.
fn last_statement_offset(script: &str) -> Option<usize> {
    let start = split_statements(script).ok()?.last()?.start;
    // Locations count lines and characters from 1.
    let mut line = 1;
    let mut column = 1;
    for (i, ch) in script.char_indices() {
        if line == start.line && column == start.column {
            return Some(i);
        }
        if ch == '\n' {
            line += 1;
            column = 1;
        } else {
            column += 1;
        }
    }
    None
}
