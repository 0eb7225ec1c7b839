//! Nexmark queries written with the DataStream API, over the built-in generator or the CSV
//! files of `../shared/flink/gen_nexmark.py`.
//!
//! Each query reads only the columns it needs (projection pushed into the source), uses the
//! watermark of the Nexmark DDL (`date_time - 4 s`), and writes rows in the column order of
//! the Flink SQL text in `../shared/flink/queries/<q>.sql`, so its output compares row for
//! row with Flink's.
//!
//! ```text
//!  NexmarkInput (generator | CSV) ──▶ query (q0..q8, tumble_count) ──▶ sink (CSV dir | blackhole | collect)
//! ```

mod queries;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use millstream_connectors::file::{CsvOptions, CsvSourceFactory};
use millstream_connectors::{NexmarkConfig, NexmarkSource, NexmarkTable};
use millstream_core::api::{DataStream, StreamExecutionEnvironment};
use millstream_core::connector::SourceFactoryRef;
use millstream_core::time::WatermarkStrategy;
use millstream_core::{Error, Result};

pub use queries::{build_query, QUERIES};

/// Where Nexmark events come from.
#[derive(Debug, Clone)]
pub enum NexmarkInput {
    /// The built-in generator.
    Generator(NexmarkConfig),
    /// `person.csv`, `auction.csv`, `bid.csv` in a directory.
    Csv(PathBuf),
}

/// Watermark delay of the Nexmark DDL.
pub const WATERMARK_DELAY: Duration = Duration::from_secs(4);

impl NexmarkInput {
    /// A stream of `table` with only `columns`, event time `date_time`, watermark
    /// `date_time - 4 s`.
    ///
    /// # Errors
    /// A column the table does not have; a missing CSV file.
    pub fn stream(
        &self,
        env: &StreamExecutionEnvironment,
        table: NexmarkTable,
        columns: &[&str],
    ) -> Result<DataStream> {
        let cols: Vec<String> = columns.iter().map(|c| c.to_string()).collect();
        let source: SourceFactoryRef = match self {
            NexmarkInput::Generator(cfg) => Arc::new(match table {
                NexmarkTable::Person => NexmarkSource::person(cfg.clone(), Some(cols))?,
                NexmarkTable::Auction => NexmarkSource::auction(cfg.clone(), Some(cols))?,
                NexmarkTable::Bid => NexmarkSource::bid(cfg.clone(), Some(cols))?,
            }),
            NexmarkInput::Csv(dir) => {
                let path = dir.join(format!("{}.csv", table.name()));
                if !path.exists() {
                    return Err(Error::io(
                        path.display().to_string(),
                        std::io::Error::new(std::io::ErrorKind::NotFound, "no such file"),
                    ));
                }
                Arc::new(
                    CsvSourceFactory::new(path, table.schema(), CsvOptions::default())
                        .with_projection(columns)?,
                )
            }
        };
        let strategy = columns
            .contains(&"date_time")
            .then(|| WatermarkStrategy::max_timestamp_minus("date_time", WATERMARK_DELAY));
        Ok(env.from_source(source, strategy))
    }
}
