//! The Nexmark benchmark generator as three sources: `person`, `auction` and `bid`.
//!
//! The event sequence is the one of `../shared/flink/gen_nexmark.py` and of the Nexmark
//! generator it follows: event `n` is a person if `n % 50 == 0`, an auction if `n % 50` is
//! 1-3, else a bid (proportions 1:3:46). Its event time is
//! `base_time_ms + n * 1000 / rate`, moved back by `1..=max_delay_ms` with probability
//! `delay_prob`, so a watermark delay above `max_delay_ms` never sees a late event. Ids, hot
//! auctions / bidders / sellers, prices, channels, URLs, categories, expiry and the padding
//! in `extra` follow the Nexmark defaults as `gen_nexmark.py` does.
//!
//! Each of the three sources walks the whole event sequence and keeps the events of its kind;
//! a batch covers `batch_size` *events*, so the bid source yields about 46/50 of that in rows:
//!
//! ```text
//!  NexmarkSource::bid(cfg, Some([auction, price, date_time]))      (a SourceFactory)
//!      │ create(subtask i of p)
//!      ▼
//!  Blocks: events [i*B, (i+1)*B), [(i+p)*B, ...) ──▶ Throttle (max_rate) ──▶ Generator
//!      ──▶ one loop per requested column, value = f(seed, column, n) ──▶ RecordBatch
//! ```
//!
//! Differences from `gen_nexmark.py` (which itself differs from the Java generator as its
//! docstring lists): random numbers are a counter-based hash of `(seed, column, n)` instead of
//! numpy's PCG64 per 100,000-event chunk, so the data are the same *distribution* but not the
//! same bytes; a person's name is one of the 99 first-last combinations picked at once; random
//! strings are slices of a 1 MiB per-seed character pool.
//!
//! Checkpoints: a subtask's position is its block and the next event in it (JSON, written
//! by the shared generator code); event `n` is a pure function of `(seed, n)`, so a restore
//! at any parallelism regenerates exactly the events no old subtask had generated.
//!
//! Throughput (release build, one core of the 2-core development machine, shared and noisy;
//! the `#[ignore]`d `bid_throughput` tests): the bid source with `auction, bidder, price,
//! date_time` makes about 70 M events/s (65 M rows/s), with all seven columns about 17 M
//! events/s (the string columns are byte copies). The costs that mattered: libm's `round`
//! and `exp2` in `price` (replaced by a table + polynomial and a branch-free rounding), `u64`
//! to `f64` conversions, and branches on random coin flips (replaced by selects).

mod columns;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use millstream_core::connector::{Source, SourceContext, SourceFactory, SourcePoll};
use millstream_core::error::{Error, Result};

use crate::generator::{Blocks, Throttle};
use columns::{Generator, Scratch, Tables};

/// Knobs of the Nexmark generator. `Default` gives `gen_nexmark.py`'s defaults and an
/// unbounded stream.
#[derive(Debug, Clone, PartialEq)]
pub struct NexmarkConfig {
    /// Total events of all three kinds; `u64::MAX` means unbounded.
    pub events: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Events per second of *event* time (Nexmark's `firstEventRate`), default 10,000.
    pub rate: u64,
    /// Event time of event 0, ms since the epoch; default 2015-07-15 00:00:00.000 UTC.
    pub base_time_ms: i64,
    /// Probability that an event's time is moved back, default 0.1.
    pub delay_prob: f64,
    /// Largest move back, ms (the out-of-orderness bound), default 2000.
    pub max_delay_ms: i64,
    /// Wall-clock limit in events per second across all subtasks; `None` for as fast as
    /// possible.
    pub max_rate: Option<u64>,
}

impl Default for NexmarkConfig {
    fn default() -> Self {
        NexmarkConfig {
            events: u64::MAX,
            seed: 42,
            rate: 10_000,
            base_time_ms: 1_436_918_400_000,
            delay_prob: 0.1,
            max_delay_ms: 2000,
            max_rate: None,
        }
    }
}

impl NexmarkConfig {
    /// The default configuration with `events` events in total.
    pub fn bounded(events: u64) -> Self {
        NexmarkConfig {
            events,
            ..Self::default()
        }
    }
}

/// Which of the three Nexmark tables a source produces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NexmarkTable {
    /// `person(id, name, emailAddress, creditCard, city, state, date_time, extra)`.
    Person,
    /// `auction(id, itemName, description, initialBid, reserve, date_time, expires, seller,
    /// category, extra)`.
    Auction,
    /// `bid(auction, bidder, price, channel, url, date_time, extra)`.
    Bid,
}

impl NexmarkTable {
    /// The table name as in `sources.sql`.
    pub fn name(self) -> &'static str {
        match self {
            NexmarkTable::Person => "person",
            NexmarkTable::Auction => "auction",
            NexmarkTable::Bid => "bid",
        }
    }

    /// The full schema, column names and types as in `../shared/flink/queries/sources.sql`
    /// (`BIGINT` as `Int64`, `VARCHAR` as `Utf8`, `TIMESTAMP(3)` as
    /// `Timestamp(Millisecond, None)`; generated values are never null).
    pub fn schema(self) -> SchemaRef {
        let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
        let f = |name: &str, t: &DataType| Field::new(name, t.clone(), false);
        let (i, s) = (DataType::Int64, DataType::Utf8);
        Arc::new(Schema::new(match self {
            NexmarkTable::Person => vec![
                f("id", &i),
                f("name", &s),
                f("emailAddress", &s),
                f("creditCard", &s),
                f("city", &s),
                f("state", &s),
                f("date_time", &ts),
                f("extra", &s),
            ],
            NexmarkTable::Auction => vec![
                f("id", &i),
                f("itemName", &s),
                f("description", &s),
                f("initialBid", &i),
                f("reserve", &i),
                f("date_time", &ts),
                f("expires", &ts),
                f("seller", &i),
                f("category", &i),
                f("extra", &s),
            ],
            NexmarkTable::Bid => vec![
                f("auction", &i),
                f("bidder", &i),
                f("price", &i),
                f("channel", &s),
                f("url", &s),
                f("date_time", &ts),
                f("extra", &s),
            ],
        }))
    }
}

/// A [`SourceFactory`] for one Nexmark table, generating only the requested columns.
///
/// # Example
/// ```
/// use millstream_connectors::nexmark::{NexmarkConfig, NexmarkSource};
/// use millstream_core::connector::{SourceContext, SourceFactory, SourcePoll};
///
/// let bids = NexmarkSource::bid(
///     NexmarkConfig::bounded(1000),
///     Some(vec!["auction".into(), "price".into()]),
/// )?;
/// let ctx = SourceContext { subtask: 0, parallelism: 1, batch: Default::default() };
/// let mut source = bids.create(&ctx)?;
/// let SourcePoll::Batch(batch) = source.poll()? else { panic!("expected a batch") };
/// assert_eq!(batch.num_columns(), 2);
/// assert_eq!(batch.num_rows(), 920); // 46 of every 50 events are bids
/// # Ok::<(), millstream_core::error::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct NexmarkSource {
    table: NexmarkTable,
    cfg: NexmarkConfig,
    columns: Vec<usize>,
    schema: SchemaRef,
    tables: Arc<Tables>,
}

impl NexmarkSource {
    /// The `person` table; `columns` is a projection (`None` for all columns).
    ///
    /// # Errors
    /// [`Error::Plan`] when a requested column does not exist.
    pub fn person(cfg: NexmarkConfig, columns: Option<Vec<String>>) -> Result<Self> {
        Self::new(NexmarkTable::Person, cfg, columns)
    }

    /// The `auction` table; `columns` is a projection (`None` for all columns).
    ///
    /// # Errors
    /// [`Error::Plan`] when a requested column does not exist.
    pub fn auction(cfg: NexmarkConfig, columns: Option<Vec<String>>) -> Result<Self> {
        Self::new(NexmarkTable::Auction, cfg, columns)
    }

    /// The `bid` table; `columns` is a projection (`None` for all columns).
    ///
    /// # Errors
    /// [`Error::Plan`] when a requested column does not exist.
    pub fn bid(cfg: NexmarkConfig, columns: Option<Vec<String>>) -> Result<Self> {
        Self::new(NexmarkTable::Bid, cfg, columns)
    }

    /// Any of the three tables; the output columns come in the order of `columns`.
    ///
    /// # Errors
    /// [`Error::Plan`] when a requested column does not exist.
    pub fn new(
        table: NexmarkTable,
        cfg: NexmarkConfig,
        columns: Option<Vec<String>>,
    ) -> Result<Self> {
        let full = table.schema();
        let (columns, schema) = project(&full, columns, table.name())?;
        Ok(NexmarkSource {
            table,
            tables: Arc::new(Tables::new(cfg.seed)),
            cfg,
            columns,
            schema,
        })
    }

    /// The table this source produces.
    pub fn table(&self) -> NexmarkTable {
        self.table
    }

    /// The generator configuration.
    pub fn config(&self) -> &NexmarkConfig {
        &self.cfg
    }
}

/// Resolves a projection by name against `full`: the column indices and the projected schema.
pub(crate) fn project(
    full: &SchemaRef,
    columns: Option<Vec<String>>,
    what: &str,
) -> Result<(Vec<usize>, SchemaRef)> {
    let Some(names) = columns else {
        return Ok(((0..full.fields().len()).collect(), full.clone()));
    };
    let indices = names
        .iter()
        .map(|name| {
            full.index_of(name).map_err(|_| {
                let known: Vec<&str> = full.fields().iter().map(|f| f.name().as_str()).collect();
                Error::Plan(format!(
                    "{what} has no column '{name}' (columns: {})",
                    known.join(", ")
                ))
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let schema = Arc::new(full.project(&indices)?);
    Ok((indices, schema))
}

impl SourceFactory for NexmarkSource {
    fn name(&self) -> String {
        format!("nexmark_{}", self.table.name())
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        let blocks = Blocks::new(
            self.cfg.events,
            ctx.batch.batch_size,
            ctx.subtask,
            ctx.parallelism,
        );
        Ok(Box::new(self.subtask(ctx, blocks)))
    }

    /// Resumes from the positions of every old subtask: the new subtask `t` of `p'` takes
    /// the blocks `t (mod p')` no old subtask had generated, resuming the ones an old
    /// subtask was in, in blocks of the recorded size.
    ///
    /// # Errors
    /// [`Error::Connector`] for missing, unreadable or inconsistent positions.
    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        let blocks = Blocks::restore(
            &self.name(),
            self.cfg.events,
            ctx.subtask,
            ctx.parallelism,
            positions,
        )?;
        Ok(Box::new(self.subtask(ctx, blocks)))
    }
}

impl NexmarkSource {
    fn subtask(&self, ctx: &SourceContext, blocks: Blocks) -> NexmarkSubtask {
        let generator = Generator::new(
            self.table,
            self.columns.clone(),
            self.schema.clone(),
            self.tables.clone(),
            &self.cfg,
        );
        NexmarkSubtask {
            name: self.name(),
            generator,
            blocks,
            max_batch: ctx.batch.batch_size.max(1) as u64,
            throttle: Throttle::new(self.cfg.max_rate, ctx.parallelism, ctx.batch.max_delay),
            scratch: Scratch::default(),
        }
    }
}

/// One parallel instance of a Nexmark source.
#[derive(Debug)]
struct NexmarkSubtask {
    /// The source's name, recorded in positions.
    name: String,
    generator: Generator,
    blocks: Blocks,
    /// Most events per batch (the block size may differ after a restore).
    max_batch: u64,
    throttle: Throttle,
    scratch: Scratch,
}

impl Source for NexmarkSubtask {
    fn poll(&mut self) -> Result<SourcePoll> {
        loop {
            let want = self.blocks.left_in_block().min(self.max_batch);
            if want == 0 {
                return Ok(SourcePoll::End);
            }
            let n = match self.throttle.allowed(self.blocks.generated(), want) {
                Ok(n) => n,
                Err(wait) => return Ok(SourcePoll::Pending(wait)),
            };
            let Some(range) = self.blocks.next_range(n) else {
                return Ok(SourcePoll::End);
            };
            // A range without an event of this kind (a small batch of the person table) is
            // skipped rather than sent as an empty batch.
            if let Some(batch) = self.generator.generate(range, &mut self.scratch)? {
                return Ok(SourcePoll::Batch(batch));
            }
        }
    }

    fn position(&self) -> u64 {
        self.blocks.generated()
    }

    /// The block and event after the last batch (a range without rows of this table moves
    /// it too: nothing is lost, as those events have no rows here).
    fn snapshot_position(&mut self) -> Result<Vec<u8>> {
        self.blocks.snapshot(&self.name)
    }
}
