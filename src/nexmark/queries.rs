//! The queries. Each function builds the dataflow of one query and returns its result
//! stream, with the columns of Flink's sink table in order.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, Decimal128Array, Int64Array};
use arrow::compute::{filter_record_batch, max as max_kernel};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use millstream_connectors::NexmarkTable;
use millstream_core::api::{DataStream, StreamExecutionEnvironment};
use millstream_core::expr::{col, lit};
use millstream_core::operator::factory;
use millstream_core::operator::prefilter::ExtremeFilter;
use millstream_core::operator::window::AggSpec;
use millstream_core::window::WindowAssigner;
use millstream_core::{Error, Result};

use super::NexmarkInput;

/// The queries this module implements.
pub const QUERIES: &[&str] = &["q0", "q1", "q2", "q3", "q5", "q7", "q8", "tumble_count"];

const TEN_SECONDS: Duration = Duration::from_secs(10);

/// Build query `name` on `input`; returns the result stream.
///
/// # Errors
/// An unknown query name (the message lists the known ones), or a source error.
pub fn build_query(
    env: &StreamExecutionEnvironment,
    input: &NexmarkInput,
    name: &str,
) -> Result<DataStream> {
    match name {
        "q0" => q0(env, input),
        "q1" => q1(env, input),
        "q2" => q2(env, input),
        "q3" => q3(env, input),
        "q5" => q5(env, input),
        "q7" => q7(env, input),
        "q8" => q8(env, input),
        "tumble_count" => tumble_count(env, input),
        other => Err(Error::Plan(format!(
            "unknown Nexmark query '{other}'; known: {}",
            QUERIES.join(", ")
        ))),
    }
}

/// q0, pass-through: `SELECT auction, bidder, price, date_time, extra FROM bid`.
fn q0(env: &StreamExecutionEnvironment, input: &NexmarkInput) -> Result<DataStream> {
    input.stream(
        env,
        NexmarkTable::Bid,
        &["auction", "bidder", "price", "date_time", "extra"],
    )
}

/// q1, currency conversion: `0.908 * price` as `DECIMAL(23, 3)`, computed exactly on the
/// unscaled integers (price × 908 at scale 3), as Flink's decimal arithmetic does.
fn q1(env: &StreamExecutionEnvironment, input: &NexmarkInput) -> Result<DataStream> {
    let bids = input.stream(
        env,
        NexmarkTable::Bid,
        &["auction", "bidder", "price", "date_time", "extra"],
    )?;
    Ok(bids
        .map_batches(|b| {
            let idx = b.schema().index_of("price")?;
            let price = b
                .column(idx)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| Error::Schema("q1: price must be BIGINT".into()))?;
            let dollars: Decimal128Array = arrow::compute::unary(price, |p| p as i128 * 908);
            let dollars = dollars.with_precision_and_scale(23, 3)?;
            replace_column(&b, idx, Arc::new(dollars))
        })
        .name("q1: price * 0.908"))
}

/// q2, selection: `SELECT auction, price FROM bid WHERE MOD(auction, 123) = 0`.
fn q2(env: &StreamExecutionEnvironment, input: &NexmarkInput) -> Result<DataStream> {
    let bids = input.stream(env, NexmarkTable::Bid, &["auction", "price"])?;
    Ok(bids.filter(col("auction").rem(lit(123)).eq(lit(0))))
}

/// q3, local item suggestion: a regular (unwindowed) join of sellers in OR/ID/CA with
/// their auctions in category 10.
fn q3(env: &StreamExecutionEnvironment, input: &NexmarkInput) -> Result<DataStream> {
    let auctions = input
        .stream(env, NexmarkTable::Auction, &["id", "seller", "category"])?
        .filter(col("category").eq(lit(10)))
        .select(vec![col("id"), col("seller")]);
    let persons = input
        .stream(env, NexmarkTable::Person, &["id", "name", "city", "state"])?
        .filter(
            col("state")
                .eq(lit("OR"))
                .or(col("state").eq(lit("ID")))
                .or(col("state").eq(lit("CA"))),
        );
    // Left = auction (id, seller), right = person (id -> id_right, name, city, state).
    let joined = auctions.key_by(["seller"]).join(&persons.key_by(["id"]));
    Ok(joined.select(vec![col("name"), col("city"), col("state"), col("id")]))
}

/// q5, hot items: per 10 s window sliding every 2 s, the auctions with the most bids.
fn q5(env: &StreamExecutionEnvironment, input: &NexmarkInput) -> Result<DataStream> {
    let bids = input.stream(env, NexmarkTable::Bid, &["auction", "date_time"])?;
    let counts = bids
        .key_by(["auction"])
        .window(WindowAssigner::hop(TEN_SECONDS, Duration::from_secs(2)))
        .count("num");
    // Every hop window ends on a multiple of 2 s, so a 2 s tumbling window over
    // `window_time` (= end - 1) holds the counts of exactly one hop window.
    Ok(counts
        .key_by(["window_start", "window_end"])
        .window(WindowAssigner::tumble(Duration::from_secs(2)))
        .process(|_, rows| {
            let num = int64(rows, "num")?;
            let Some(max) = max_kernel(num) else {
                return Ok(None);
            };
            let mask = arrow::compute::kernels::cmp::gt_eq(num, &Int64Array::new_scalar(max))?;
            let hot = filter_record_batch(rows, &mask)?;
            Ok(Some(hot.project(&[
                hot.schema().index_of("auction")?,
                hot.schema().index_of("num")?,
            ])?))
        })
        .name("q5: max per window"))
}

/// q7, highest bid: the bids whose price equals the highest price of a 10 s window and
/// whose time lies in `[window_end - 10 s, window_end]` (both ends included, as Flink's
/// `BETWEEN`). The maximum of each window carries `window_time = end - 1`, so the bid time
/// range is `[window_time - 9999 ms, window_time + 1 ms]`: an interval join on price.
///
/// Plan: a local pre-filter ([`ExtremeFilter`], per subtask, before any exchange) drops every
/// bid whose price is below the highest price its subtask has already seen in each window the
/// bid can meet (its own and, on a window start, the previous one): such a bid can be no
/// window's maximum. The maximum and the join then see a few rows per window instead of
/// every bid; the result is the same. The SQL planner inserts the same filter for q7's text.
fn q7(env: &StreamExecutionEnvironment, input: &NexmarkInput) -> Result<DataStream> {
    let bids = input
        .stream(
            env,
            NexmarkTable::Bid,
            &["auction", "price", "bidder", "date_time", "extra"],
        )?
        .transform(
            "q7: running-max prefilter",
            // A bid at t meets the maxima of the windows starting in [t - 10 s, t].
            factory(|_| {
                ExtremeFilter::max("price", "date_time", TEN_SECONDS_MS)?
                    .with_reach(0, TEN_SECONDS_MS)
            }),
        );
    let max = bids
        .window_all(WindowAssigner::tumble(TEN_SECONDS))
        .aggregate(vec![AggSpec::max("price", "maxprice")])
        .select(vec![col("maxprice"), col("window_time")]);
    let joined = max
        .key_by(["maxprice"])
        .interval_join(&bids.key_by(["price"]), -9_999, 1);
    Ok(joined.select(vec![
        col("auction"),
        col("price"),
        col("bidder"),
        col("date_time"),
        col("extra"),
    ]))
}

/// q8, new users: people who opened an account and created an auction in the same 10 s
/// window; `stime` is the window start.
fn q8(env: &StreamExecutionEnvironment, input: &NexmarkInput) -> Result<DataStream> {
    let persons = input
        .stream(env, NexmarkTable::Person, &["id", "name", "date_time"])?
        .key_by(["id", "name"])
        .window(WindowAssigner::tumble(TEN_SECONDS))
        .count("n")
        .select(vec![col("id"), col("name"), col("window_time")]);
    let sellers = input
        .stream(env, NexmarkTable::Auction, &["seller", "date_time"])?
        .key_by(["seller"])
        .window(WindowAssigner::tumble(TEN_SECONDS))
        .count("n")
        .select(vec![col("seller"), col("window_time")]);
    let joined = persons.key_by(["id"]).window_join(
        &sellers.key_by(["seller"]),
        WindowAssigner::tumble(TEN_SECONDS),
    );
    Ok(joined.select(vec![
        col("id"),
        col("name"),
        col("window_start").alias("stime"),
    ]))
}

/// tumble_count: bids per bidder per 10 s tumbling window.
fn tumble_count(env: &StreamExecutionEnvironment, input: &NexmarkInput) -> Result<DataStream> {
    let bids = input.stream(env, NexmarkTable::Bid, &["bidder", "date_time"])?;
    Ok(bids
        .key_by(["bidder"])
        .window(WindowAssigner::tumble(TEN_SECONDS))
        .count("num")
        .select(vec![
            col("bidder"),
            col("window_start"),
            col("window_end"),
            col("num"),
        ]))
}

const TEN_SECONDS_MS: i64 = 10_000;

fn int64<'a>(b: &'a RecordBatch, name: &str) -> Result<&'a Int64Array> {
    b.column(b.schema().index_of(name)?)
        .as_any()
        .downcast_ref::<Int64Array>()
        .ok_or_else(|| Error::Schema(format!("column '{name}' must be BIGINT")))
}

fn replace_column(b: &RecordBatch, idx: usize, column: ArrayRef) -> Result<RecordBatch> {
    let mut fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields[idx] = Field::new(
        fields[idx].name(),
        column.data_type().clone(),
        fields[idx].is_nullable(),
    );
    let mut cols = b.columns().to_vec();
    cols[idx] = column;
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), cols)?)
}
