//! Streaming SQL in Flink's dialect.
//!
//! A script is split into statements, each parsed by `sqlparser` with a Flink dialect
//! ([`dialect`]); DDL goes to the catalog, queries to the planner, which types every
//! expression ([`expr`]) and lowers the query to the DataStream operators, so a SQL job
//! runs on the same vectorized runtime as a hand-written one.
//!
//! ```text
//!  script ─▶ dialect::split + parse ─▶ Statement
//!     CREATE TABLE/VIEW, SET, SHOW, DESCRIBE ─▶ catalog / settings
//!     SELECT / INSERT / EXPLAIN ─▶ planner: scope + typed exprs ─▶ DataStream graph ─▶ runtime
//! ```
//!
//! [`TableEnvironment`] is the entry point, for the CLI (`millstream sql`) and for programs.

pub mod catalog;
pub mod connector;
pub mod ddl;
pub mod dialect;
pub mod expr;
pub mod live;
pub mod planner;
pub mod result;
pub mod statement;
pub mod types;

pub use connector::{ConnectorRegistry, TableConnector, TableDef, WatermarkDef};
pub use result::{ChangeBatch, QueryResult, RowKind, StatementResult};
pub use types::{Column, SqlType};
mod env;
pub use env::TableEnvironment;
pub use live::{LiveQuery, QueryObserver};
