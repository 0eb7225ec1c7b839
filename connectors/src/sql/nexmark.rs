//! `'connector' = 'nexmark'`: one table of the built-in Nexmark generator
//! ([`NexmarkSource`]).
//!
//! Flink's Nexmark connector (nexmark/nexmark) declares a single table of nested rows;
//! here each of `person`, `auction` and `bid` is its own table, with the flat columns of
//! `../shared/flink/queries/sources.sql`, so the Nexmark queries run unchanged on either.

use millstream_core::connector::{SinkFactoryRef, SourceFactoryRef};
use millstream_core::error::{Error, Result};
use millstream_core::sql::{TableConnector, TableDef};

use super::{check_options, u64_option, Relabeled};
use crate::nexmark::{NexmarkConfig, NexmarkSource, NexmarkTable};

const SUPPORTED: &[&str] = &[
    "table",
    "events.num",
    "first-event.rate",
    "rate",
    "seed",
    "max-rate",
];

/// The `nexmark` connector: options `table` (`person`, `auction` or `bid`; inferred when
/// absent: a column `bidder` means bid, `seller` auction, `emailAddress` person, else the
/// table's name),
/// `events.num` (events of all three kinds together; unbounded when absent),
/// `first-event.rate` or `rate` (events per second of event time, default 10,000), `seed`
/// (default 42) and `max-rate` (a wall-clock limit in events per second).
///
/// The declared columns must be columns of the table, with the generated types (`BIGINT`,
/// `VARCHAR`/`STRING`, `TIMESTAMP(3)`), in any order and any subset.
///
/// # Example
/// ```
/// use std::collections::BTreeMap;
/// use millstream_connectors::sql::NexmarkConnector;
/// use millstream_core::sql::{Column, SqlType, TableConnector, TableDef};
///
/// let bid = TableDef {
///     name: "bid".into(),
///     columns: vec![Column::new("bidder", SqlType::BigInt), Column::new("price", SqlType::BigInt)],
///     watermark: None,
///     primary_key: vec![],
///     partitioned_by: vec![],
///     options: BTreeMap::from([
///         ("connector".into(), "nexmark".into()),
///         ("events.num".into(), "1000".into()),
///     ]),
/// };
/// let source = NexmarkConnector.source(&bid, &["price".to_string()])?;
/// assert_eq!(source.schema().fields().len(), 1);
/// # Ok::<(), millstream_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct NexmarkConnector;

/// The generated table and configuration of a table definition.
fn config(table: &TableDef) -> Result<(NexmarkTable, NexmarkConfig)> {
    check_options(table, "nexmark", |k| SUPPORTED.contains(&k), SUPPORTED)?;
    let which = match table.option("table") {
        Some(t) => match t.to_ascii_lowercase().as_str() {
            "person" => NexmarkTable::Person,
            "auction" => NexmarkTable::Auction,
            "bid" => NexmarkTable::Bid,
            other => {
                return Err(Error::Plan(format!(
                    "table '{}': option 'table' must be person, auction or bid, got '{other}'",
                    table.name
                )))
            }
        },
        None => {
            if table.column("bidder").is_some() {
                NexmarkTable::Bid
            } else if table.column("seller").is_some() {
                NexmarkTable::Auction
            } else if table.column("emailAddress").is_some() {
                NexmarkTable::Person
            } else if let Some(t) = [
                NexmarkTable::Person,
                NexmarkTable::Auction,
                NexmarkTable::Bid,
            ]
            .into_iter()
            .find(|t| t.name().eq_ignore_ascii_case(&table.name))
            {
                t
            } else {
                return Err(Error::Plan(format!(
                    "table '{}': set option 'table' to person, auction or bid (it is inferred only from a column bidder, seller or emailAddress)",
                    table.name
                )));
            }
        }
    };
    let full = which.schema();
    for c in &table.columns {
        let Ok(field) = full.field_with_name(&c.name) else {
            let known: Vec<&str> = full.fields().iter().map(|f| f.name().as_str()).collect();
            return Err(Error::Plan(format!(
                "table '{}': column '{}' is not a column of the nexmark {} table ({})",
                table.name,
                c.name,
                which.name(),
                known.join(", ")
            )));
        };
        if c.ty.arrow() != *field.data_type() {
            return Err(Error::Plan(format!(
                "table '{}': column '{}' is declared {} but the nexmark {} table generates {}",
                table.name,
                c.name,
                c.ty,
                which.name(),
                crate::file::sql_type(field.data_type())
            )));
        }
    }
    let mut cfg = NexmarkConfig::default();
    if let Some(n) = u64_option(table, "events.num")? {
        cfg.events = n;
    }
    let rate = match (
        u64_option(table, "first-event.rate")?,
        u64_option(table, "rate")?,
    ) {
        (Some(a), Some(b)) if a != b => {
            return Err(Error::Plan(format!(
                "table '{}': options 'first-event.rate' and 'rate' disagree ({a} vs {b})",
                table.name
            )))
        }
        (a, b) => a.or(b),
    };
    if let Some(r) = rate {
        if r == 0 {
            return Err(Error::Plan(format!(
                "table '{}': the event rate must be positive",
                table.name
            )));
        }
        cfg.rate = r;
    }
    if let Some(s) = u64_option(table, "seed")? {
        cfg.seed = s;
    }
    cfg.max_rate = u64_option(table, "max-rate")?;
    Ok((which, cfg))
}

impl TableConnector for NexmarkConnector {
    fn validate(&self, table: &TableDef) -> Result<()> {
        config(table).map(|_| ())
    }

    fn source(&self, table: &TableDef, projection: &[String]) -> Result<SourceFactoryRef> {
        let (which, cfg) = config(table)?;
        for name in projection {
            if table.column(name).is_none() {
                return Err(Error::Plan(format!(
                    "table '{}' has no column '{name}'",
                    table.name
                )));
            }
        }
        let source = NexmarkSource::new(which, cfg, Some(projection.to_vec()))?;
        let full = table.arrow_schema();
        let indices = projection
            .iter()
            .map(|n| full.index_of(n))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let schema = std::sync::Arc::new(full.project(&indices)?);
        let name = format!("nexmark_{}({})", which.name(), table.name);
        Ok(Relabeled::wrap(std::sync::Arc::new(source), schema, name))
    }

    fn sink(&self, table: &TableDef) -> Result<SinkFactoryRef> {
        Err(Error::Unsupported(format!(
            "table '{}': nexmark is a source; it cannot be written to",
            table.name
        )))
    }

    fn is_bounded(&self, table: &TableDef) -> bool {
        table.option("events.num").is_some()
    }
}
