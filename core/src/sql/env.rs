//! [`TableEnvironment`]: the catalog, the settings and the connectors of a SQL session, and
//! the entry point that runs statements.
//!
//! Each statement runs on its own: DDL changes the catalog; a query or an `INSERT` is
//! planned into a fresh [`StreamExecutionEnvironment`] with the session's job configuration
//! (and `SET` options), executed to its end, and its result returned.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use arrow::array::{RecordBatch, StringArray};
use arrow::datatypes::SchemaRef;
use sqlparser::ast;

use crate::api::StreamExecutionEnvironment;
use crate::error::{Error, Result};
use crate::runtime::{JobConfig, JobControl};
use crate::sql::catalog::{Catalog, CatalogObject};
use crate::sql::connector::{ConnectorRegistry, TableConnector, TableDef};
use crate::sql::ddl::{CreateTable, TableColumn};
use crate::sql::dialect::sql_error;
use crate::sql::expr::{compile, TypedExpr};
use crate::sql::live::{LiveQuery, QueryObserver};
use crate::sql::planner::{calc, Planner, Rel};
use crate::sql::result::{ChangeBatch, QueryResult, StatementResult};
use crate::sql::statement::{parse_script, Statement};
use crate::sql::types::{Column, SqlType};

/// A SQL session: tables and views, `SET` options, connectors, and the job configuration
/// queries run with.
///
/// # Example
/// ```no_run
/// use millstream_core::runtime::JobConfig;
/// use millstream_core::sql::{ConnectorRegistry, TableEnvironment};
///
/// let mut env = TableEnvironment::new(JobConfig::default(), ConnectorRegistry::new());
/// let results = env.execute_sql("SHOW TABLES;")?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
#[derive(Debug)]
pub struct TableEnvironment {
    pub(crate) config: JobConfig,
    pub(crate) connectors: ConnectorRegistry,
    pub(crate) settings: BTreeMap<String, String>,
    catalog: Catalog,
    jobs: usize,
    observer: Observer,
}

/// The query observer slot (a closure, shown by presence only).
#[derive(Default)]
struct Observer(Option<QueryObserver>);

impl std::fmt::Debug for Observer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.is_some() {
            "Some(observer)"
        } else {
            "None"
        })
    }
}

impl TableEnvironment {
    /// A session running jobs with `config`, resolving `'connector'` options in `connectors`.
    pub fn new(config: JobConfig, connectors: ConnectorRegistry) -> Self {
        TableEnvironment {
            config,
            connectors,
            settings: BTreeMap::new(),
            catalog: Catalog::default(),
            jobs: 0,
            observer: Observer::default(),
        }
    }

    /// Follow queries over unbounded tables while they run: `observer` receives a
    /// [`LiveQuery`] as each starts (see the `live` module). `None` turns it off; a query's
    /// rows are then only seen in its result, when it ends.
    pub fn set_query_observer(&mut self, observer: Option<QueryObserver>) {
        self.observer = Observer(observer);
    }

    /// Register a connector under `name` (the value of the `'connector'` option).
    pub fn register_connector(&mut self, name: &str, connector: Arc<dyn TableConnector>) {
        self.connectors.register(name, connector);
    }

    /// The job configuration queries run with (parallelism, checkpoints, state backend).
    pub fn config_mut(&mut self) -> &mut JobConfig {
        &mut self.config
    }

    /// Register in-memory batches as a bounded table `name` (the embedding path; the batches
    /// are shared, not copied). Its columns are typed from the Arrow schema.
    ///
    /// # Errors
    /// A column type with no SQL type, a batch with another schema, or a taken name.
    pub fn register_batches(
        &mut self,
        name: &str,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<()> {
        let columns = schema
            .fields()
            .iter()
            .map(|f| {
                let mut c = Column::new(f.name().clone(), SqlType::from_arrow(f.data_type())?);
                c.nullable = f.is_nullable();
                Ok(c)
            })
            .collect::<Result<Vec<_>>>()?;
        let connector = format!("__batches_{name}");
        let source = crate::sources::BatchSource::new(name, schema, batches)?;
        self.connectors
            .register(connector.clone(), Arc::new(BatchTable { source }));
        let def = TableDef {
            name: name.to_string(),
            columns,
            watermark: None,
            primary_key: vec![],
            partitioned_by: vec![],
            options: [("connector".to_string(), connector)].into_iter().collect(),
        };
        let layout = (0..def.columns.len()).map(TableColumn::Physical).collect();
        self.catalog.add(
            name,
            CatalogObject::Table(Box::new(CreateTable {
                def,
                layout,
                if_not_exists: false,
                location: sqlparser::tokenizer::Location { line: 0, column: 0 },
            })),
            false,
        )
    }

    /// Run every statement of `script` (statements end with `;`, as in Flink's SQL client),
    /// in order, and return what each returned. Stops at the first failing statement.
    ///
    /// # Errors
    /// [`Error::Sql`] with the line and column of the offending text, or the error of the
    /// job a statement ran.
    pub fn execute_sql(&mut self, script: &str) -> Result<Vec<StatementResult>> {
        let statements = parse_script(script)?;
        let mut out = Vec::with_capacity(statements.len());
        for s in statements {
            out.push(self.execute(s)?);
        }
        Ok(out)
    }

    /// Run one query and return its result.
    ///
    /// # Errors
    /// As [`TableEnvironment::execute_sql`]; a script that is not one query.
    pub fn sql_query(&mut self, query: &str) -> Result<QueryResult> {
        let mut results = self.execute_sql(query)?;
        match (results.pop(), results.is_empty()) {
            (Some(StatementResult::Rows(r)), true) => Ok(r),
            _ => Err(Error::Plan("sql_query expects exactly one SELECT".into())),
        }
    }

    /// The `EXPLAIN` text of a statement without running it.
    ///
    /// # Errors
    /// As planning the statement.
    pub fn explain_sql(&mut self, statement: &str) -> Result<String> {
        let mut s = parse_script(statement)?;
        if s.len() != 1 {
            return Err(Error::Plan("explain_sql expects one statement".into()));
        }
        self.explain(s.remove(0))
    }

    fn job_config(&self) -> Result<JobConfig> {
        let mut config = self.config.clone();
        for (k, v) in &self.settings {
            match k.as_str() {
                "parallelism.default" => {
                    config.parallelism = v.parse().ok().filter(|&p| p > 0).ok_or_else(|| {
                        Error::Plan(format!(
                            "'parallelism.default' must be a positive integer, not '{v}'"
                        ))
                    })?;
                }
                "table.exec.mini-batch.size" | "execution.batch.size" => {
                    if let Ok(n) = v.parse::<usize>() {
                        config.batch.batch_size = n.max(1);
                    }
                }
                // Throttle every source to this many rows per second (tests, demos).
                "millstream.source.max-rate" => {
                    config.source_max_rate = Some(v.parse().map_err(|_| {
                        Error::Plan(format!(
                            "'millstream.source.max-rate' must be rows per second, not '{v}'"
                        ))
                    })?);
                }
                _ => {}
            }
        }
        Ok(config)
    }

    fn next_job_name(&mut self, what: &str) -> String {
        self.jobs += 1;
        format!("{what}-{}", self.jobs)
    }

    fn execute(&mut self, statement: Statement) -> Result<StatementResult> {
        match statement {
            Statement::CreateTable(t) => {
                let connector = self
                    .connectors
                    .for_table(&t.def)
                    .map_err(|e| sql_error(t.location, e.to_string()))?;
                connector
                    .validate(&t.def)
                    .map_err(|e| sql_error(t.location, e.to_string()))?;
                let name = t.def.name.clone();
                if t.if_not_exists && self.catalog.get(&name).is_some() {
                    return Ok(StatementResult::Done("Execute statement succeeded.".into()));
                }
                self.catalog
                    .add(&name, CatalogObject::Table(t.clone()), false)
                    .map_err(|e| sql_error(t.location, e.to_string()))?;
                Ok(StatementResult::Done("Execute statement succeeded.".into()))
            }
            Statement::CreateView {
                name,
                columns,
                query,
                if_not_exists,
                or_replace,
            } => {
                if if_not_exists && self.catalog.get(&name).is_some() {
                    return Ok(StatementResult::Done("Execute statement succeeded.".into()));
                }
                // Plan it once now so errors show at CREATE VIEW.
                let env = StreamExecutionEnvironment::with_config(self.job_config()?);
                Planner::new(env, &self.catalog, &self.connectors, &*query).plan_query(&query)?;
                self.catalog
                    .add(&name, CatalogObject::View { query, columns }, or_replace)?;
                Ok(StatementResult::Done("Execute statement succeeded.".into()))
            }
            Statement::Drop {
                name,
                if_exists,
                view,
            } => {
                let is_view = matches!(self.catalog.get(&name), Some(CatalogObject::View { .. }));
                if self.catalog.get(&name).is_some() && is_view == view {
                    self.catalog.remove(&name);
                } else if !if_exists {
                    let what = if view { "View" } else { "Table" };
                    return Err(Error::Plan(format!(
                        "{what} with identifier '{name}' does not exist"
                    )));
                }
                Ok(StatementResult::Done("Execute statement succeeded.".into()))
            }
            Statement::Set(None) => Ok(StatementResult::Rows(strings_result(
                &["key", "value"],
                self.settings
                    .iter()
                    .map(|(k, v)| vec![k.clone(), v.clone()])
                    .collect(),
            )?)),
            Statement::Set(Some((k, v))) => {
                self.settings.insert(k, v);
                self.job_config()?;
                Ok(StatementResult::Done("Execute statement succeeded.".into()))
            }
            Statement::Reset(key) => {
                match key {
                    Some(k) => {
                        self.settings.remove(&k);
                    }
                    None => self.settings.clear(),
                }
                Ok(StatementResult::Done("Execute statement succeeded.".into()))
            }
            Statement::ShowTables => Ok(StatementResult::Rows(strings_result(
                &["table name"],
                self.catalog
                    .all_names()
                    .into_iter()
                    .map(|n| vec![n])
                    .collect(),
            )?)),
            Statement::ShowViews => Ok(StatementResult::Rows(strings_result(
                &["view name"],
                self.catalog
                    .names(true)
                    .into_iter()
                    .map(|n| vec![n])
                    .collect(),
            )?)),
            Statement::Describe(name, at) => self.describe(&name, at),
            Statement::Explain(inner) => Ok(StatementResult::Explain(self.explain(*inner)?)),
            Statement::Query(q) => self.run_query(&q),
            insert @ Statement::Insert { .. } => {
                let env = StreamExecutionEnvironment::with_config(self.job_config()?);
                let name = match &insert {
                    Statement::Insert { table, .. } => format!("insert-into_{table}"),
                    _ => String::new(),
                };
                self.plan_insert(&env, &insert)?;
                Ok(StatementResult::Job(env.execute(&name)?))
            }
            Statement::StatementSet(inserts) => {
                let env = StreamExecutionEnvironment::with_config(self.job_config()?);
                for i in &inserts {
                    self.plan_insert(&env, i)?;
                }
                let name = self.next_job_name("statement-set");
                Ok(StatementResult::Job(env.execute(&name)?))
            }
        }
    }

    /// Runs a `SELECT` to its end (or until a live query is cancelled) and returns its
    /// changelog.
    fn run_query(&mut self, q: &ast::Query) -> Result<StatementResult> {
        let mut config = self.job_config()?;
        // A live query gets its own control, so that cancelling it stops nothing else.
        let control = Arc::new(JobControl::new());
        let session_control = std::mem::replace(&mut config.control, control.clone());
        let env = StreamExecutionEnvironment::with_config(config);
        let mut planner = Planner::new(env.clone(), &self.catalog, &self.connectors, q);
        let rel = planner.plan_query(q)?;
        let live = planner.reads_unbounded() && self.observer.0.is_some();
        if live {
            // Rows are shown as they are written, so a restart would show them twice.
            env.set_restart_strategy(crate::checkpoint::RestartStrategy::None);
        } else {
            env.inner.borrow_mut().config.control = session_control;
        }
        let columns: Vec<Column> = rel
            .columns
            .iter()
            .map(|c| Column {
                qualifier: None,
                rowtime: false,
                ..c.clone()
            })
            .collect();
        let updating = rel.updating;
        let finished = Arc::new(AtomicBool::new(false));
        let handle = if live {
            let handle = rel.stream.collect_immediate();
            if let Some(observe) = self.observer.0.as_mut() {
                observe(LiveQuery {
                    columns: columns.clone(),
                    updating,
                    rows: handle.clone(),
                    control: control.clone(),
                    finished: finished.clone(),
                });
            }
            handle
        } else {
            rel.stream.collect()
        };
        let name = self.next_job_name("collect");
        let outcome = env.execute(&name);
        finished.store(true, Ordering::Release);
        let job = match outcome {
            Ok(job) => Some(job),
            Err(Error::Cancelled) if control.is_cancel_requested() => None,
            Err(e) => return Err(e),
        };
        // A live display reads the batches after the job ends too: they stay in place.
        let batches = if live {
            handle.visible_from(0)
        } else {
            handle.take()
        };
        let changes = batches
            .into_iter()
            .map(|rows| ChangeBatch::from_stream_batch(rows, updating))
            .collect::<Result<_>>()?;
        Ok(StatementResult::Rows(QueryResult {
            columns,
            changes,
            job,
            live,
        }))
    }

    /// Plan an `INSERT INTO` into `env`: the query, cast to the sink's column types.
    fn plan_insert(&self, env: &StreamExecutionEnvironment, insert: &Statement) -> Result<()> {
        let Statement::Insert {
            table,
            columns,
            query,
            location,
        } = insert
        else {
            return Err(Error::Internal("plan_insert on a non-INSERT".into()));
        };
        let Some(CatalogObject::Table(t)) = self.catalog.get(table) else {
            return Err(sql_error(*location, format!("Object '{table}' not found")));
        };
        let rel = Planner::new(env.clone(), &self.catalog, &self.connectors, &**query)
            .plan_query(query)?;
        let rel = crate::sql::planner::materialize(rel)?;
        let def = &t.def;
        let connector = self.connectors.for_table(def)?;
        if rel.updating && !connector.accepts_updates_for(def) {
            return Err(sql_error(
                *location,
                format!(
                    "Table sink '{table}' doesn't support consuming update changes which is produced by the query"
                ),
            ));
        }
        // Target columns: all physical ones in order, or the listed ones (others NULL).
        let targets: Vec<usize> = if columns.is_empty() {
            (0..def.columns.len()).collect()
        } else {
            columns
                .iter()
                .map(|c| {
                    def.columns
                        .iter()
                        .position(|d| &d.name == c)
                        .ok_or_else(|| sql_error(*location, format!("Unknown target column '{c}'")))
                })
                .collect::<Result<_>>()?
        };
        if targets.len() != rel.columns.len() {
            return Err(sql_error(
                *location,
                format!(
                    "Column types of query result and sink for '{table}' do not match: the query has {} columns, the sink {}",
                    rel.columns.len(),
                    targets.len()
                ),
            ));
        }
        let mut exprs: Vec<TypedExpr> = def
            .columns
            .iter()
            .map(|c| TypedExpr::literal_null(c.ty))
            .collect();
        for (src, &dst) in targets.iter().enumerate() {
            let target = &def.columns[dst];
            let e = TypedExpr::column(src, &rel.columns[src])
                .cast_to(target.ty)
                .map_err(|e| {
                    sql_error(
                        *location,
                        format!(
                            "column '{}' of sink '{table}': cannot write {} as {}: {e}",
                            target.name, rel.columns[src].ty, target.ty
                        ),
                    )
                })?;
            exprs[dst] = e;
        }
        let out_cols: Vec<Column> = def
            .columns
            .iter()
            .map(|c| Column {
                rowtime: false,
                ..c.clone()
            })
            .collect();
        let rel: Rel = calc(rel, None, exprs, out_cols);
        let sink = connector.sink(def)?;
        rel.stream.sink_to(sink);
        Ok(())
    }

    fn explain(&self, statement: Statement) -> Result<String> {
        let env = StreamExecutionEnvironment::with_config(self.job_config()?);
        let logical = match &statement {
            Statement::Query(q) => {
                let rel = Planner::new(env.clone(), &self.catalog, &self.connectors, &**q)
                    .plan_query(q)?;
                let plan = rel.plan.render();
                rel.stream.collect();
                plan
            }
            insert @ Statement::Insert { query, table, .. } => {
                self.plan_insert(&env, insert)?;
                let rel = Planner::new(
                    StreamExecutionEnvironment::with_config(self.job_config()?),
                    &self.catalog,
                    &self.connectors,
                    &**query,
                )
                .plan_query(query)?;
                format!(
                    "Sink(table=[{table}])\n+- {}",
                    rel.plan.render().replace('\n', "\n   ").trim_end()
                )
            }
            _ => return Err(Error::Plan("EXPLAIN supports SELECT and INSERT".into())),
        };
        Ok(format!(
            "== Logical Plan ==\n{}\n\n== Physical Execution Plan ==\n{}",
            logical.trim_end(),
            env.explain()?
        ))
    }

    fn describe(&self, name: &str, at: sqlparser::tokenizer::Location) -> Result<StatementResult> {
        let rows: Vec<Vec<String>> = match self.catalog.get(name) {
            Some(CatalogObject::Table(t)) => {
                let scope = crate::sql::expr::Scope::new(t.def.columns.clone());
                t.layout
                    .iter()
                    .map(|c| {
                        let (name, col) = match c {
                            TableColumn::Physical(i) => {
                                (t.def.columns[*i].name.clone(), t.def.columns[*i].clone())
                            }
                            TableColumn::Computed { name, expr } => {
                                let te = compile(expr, &scope)?;
                                let mut col = Column::new(name.clone(), te.ty());
                                col.nullable = te.nullable();
                                (name.clone(), col)
                            }
                        };
                        let key = if t.def.primary_key.contains(&name) {
                            format!("PRI({})", t.def.primary_key.join(", "))
                        } else {
                            String::new()
                        };
                        let wm = match &t.def.watermark {
                            Some(w) if w.column == name => {
                                format!(
                                    "`{}` - INTERVAL '{}' SECOND",
                                    w.column,
                                    w.delay_ms as f64 / 1000.0
                                )
                            }
                            _ => String::new(),
                        };
                        let ty = if col.rowtime {
                            format!("{} *ROWTIME*", col.ty)
                        } else {
                            col.ty.to_string()
                        };
                        Ok(vec![
                            name,
                            ty,
                            col.nullable.to_string().to_uppercase(),
                            key,
                            wm,
                        ])
                    })
                    .collect::<Result<_>>()?
            }
            Some(CatalogObject::View { query, .. }) => {
                let env = StreamExecutionEnvironment::with_config(self.job_config()?);
                let rel = Planner::new(env, &self.catalog, &self.connectors, &**query)
                    .plan_query(query)?;
                rel.columns
                    .iter()
                    .map(|c| {
                        vec![
                            c.name.clone(),
                            c.ty.to_string(),
                            c.nullable.to_string().to_uppercase(),
                            String::new(),
                            String::new(),
                        ]
                    })
                    .collect()
            }
            None => {
                return Err(sql_error(
                    at,
                    format!("Tables or views with the identifier '{name}' doesn't exist"),
                ))
            }
        };
        Ok(StatementResult::Rows(strings_result(
            &["name", "type", "null", "key", "watermark"],
            rows,
        )?))
    }
}

/// A result of STRING columns.
fn strings_result(names: &[&str], rows: Vec<Vec<String>>) -> Result<QueryResult> {
    let columns: Vec<Column> = names
        .iter()
        .map(|n| Column::new(*n, SqlType::STRING))
        .collect();
    let arrays = (0..names.len())
        .map(|i| {
            Arc::new(StringArray::from_iter_values(
                rows.iter().map(|r| r[i].as_str()),
            )) as arrow::array::ArrayRef
        })
        .collect();
    let schema = crate::sql::planner::schema_of(&columns);
    let batch = RecordBatch::try_new(schema, arrays)?;
    Ok(QueryResult {
        live: false,
        columns,
        changes: vec![ChangeBatch {
            kinds: None,
            rows: batch,
        }],
        job: None,
    })
}

/// A table over in-memory batches registered with [`TableEnvironment::register_batches`].
struct BatchTable {
    source: crate::sources::BatchSource,
}

impl TableConnector for BatchTable {
    fn source(
        &self,
        table: &TableDef,
        projection: &[String],
    ) -> Result<crate::connector::SourceFactoryRef> {
        let idx: Vec<usize> = projection
            .iter()
            .map(|p| {
                table
                    .columns
                    .iter()
                    .position(|c| &c.name == p)
                    .ok_or_else(|| Error::Plan(format!("no column '{p}'")))
            })
            .collect::<Result<_>>()?;
        Ok(Arc::new(self.source.project(&idx)?))
    }

    fn sink(&self, table: &TableDef) -> Result<crate::connector::SinkFactoryRef> {
        Err(Error::Unsupported(format!(
            "table '{}' holds registered batches and cannot be written",
            table.name
        )))
    }
}
