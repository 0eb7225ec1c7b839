//! The queries. Each function builds the dataflow of one query and returns its result
//! stream, with the columns of Flink's sink table in order.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{ArrayRef, BooleanArray, Decimal128Array, Int64Array};
use arrow::compute::{filter_record_batch, max as max_kernel};
use arrow::datatypes::{Field, Schema};
use arrow::record_batch::RecordBatch;
use millstream_connectors::NexmarkTable;
use millstream_core::api::{DataStream, StreamExecutionEnvironment};
use millstream_core::checkpoint::OperatorState;
use millstream_core::expr::{col, lit};
use millstream_core::operator::window::AggSpec;
use millstream_core::operator::{factory, OpContext, Operator, Output};
use millstream_core::window::WindowAssigner;
use millstream_core::{Error, Result};
use millstream_kernels::window::as_i64_values;

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
/// Plan: a local pre-filter (per subtask, before any exchange) drops every bid whose price is
/// below the highest price its subtask has already seen in the bid's own window: such a bid
/// can equal neither its window's maximum nor, unless it lies exactly on a window boundary
/// (kept), the previous window's. The maximum and the join then see a few rows per window
/// instead of every bid; the result is the same.
fn q7(env: &StreamExecutionEnvironment, input: &NexmarkInput) -> Result<DataStream> {
    let bids = input
        .stream(
            env,
            NexmarkTable::Bid,
            &["auction", "price", "bidder", "date_time", "extra"],
        )?
        .transform(
            "q7: running-max prefilter",
            factory(|_| Ok(RunningMaxFilter::new(TEN_SECONDS_MS))),
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

/// Keeps the bids that may still be the highest of their tumbling window (see [`q7`]).
///
/// **Checkpoint**: a non-keyed table [`RunningMaxFilter::STATE_TABLE`] with one row per
/// window it tracks, `(window_start, max_price)` (both `Int64`), in its list order; restored
/// as is, the filter drops exactly the rows an uninterrupted run drops. After a rescale the
/// old subtasks' maxima are ignored and the filter starts empty: each new subtask sees other
/// bids than any old one did, and an empty filter drops nothing it should keep (it only lets
/// a few more rows through until its maxima build up again).
struct RunningMaxFilter {
    size: i64,
    /// (window start, highest price seen) of the windows this subtask has seen recently.
    maxes: Vec<(i64, i64)>,
    keep: Vec<bool>,
}

impl RunningMaxFilter {
    /// Name of the state table.
    const STATE_TABLE: &'static str = "window_max";

    fn new(size: i64) -> Self {
        RunningMaxFilter {
            size,
            maxes: Vec::new(),
            keep: Vec::new(),
        }
    }
}

impl Operator for RunningMaxFilter {
    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        _: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let price = int64(&batch, "price")?.values();
        let ts = as_i64_values(batch.column(batch.schema().index_of("date_time")?))?;
        self.keep.clear();
        let mut slot = usize::MAX;
        for (&p, &t) in price.iter().zip(ts) {
            let start = t - t.rem_euclid(self.size);
            if slot >= self.maxes.len() || self.maxes[slot].0 != start {
                slot = match self.maxes.iter().position(|(s, _)| *s == start) {
                    Some(i) => i,
                    None => {
                        self.maxes.push((start, i64::MIN));
                        self.maxes.len() - 1
                    }
                };
            }
            let entry = &mut self.maxes[slot];
            let keep = p >= entry.1 || t == start;
            entry.1 = entry.1.max(p);
            self.keep.push(keep);
        }
        // Windows far behind the newest one cannot receive rows any more (bounded disorder);
        // keep the list short.
        if self.maxes.len() > 8 {
            self.maxes.sort_unstable();
            let excess = self.maxes.len() - 8;
            self.maxes.drain(..excess);
        }
        let mask = BooleanArray::from(std::mem::take(&mut self.keep));
        out.emit(filter_record_batch(&batch, &mask)?);
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, _ctx: &mut OpContext) -> Result<OperatorState> {
        let starts = Int64Array::from_iter_values(self.maxes.iter().map(|m| m.0));
        let maxes = Int64Array::from_iter_values(self.maxes.iter().map(|m| m.1));
        let batch = RecordBatch::try_from_iter([
            ("window_start", Arc::new(starts) as ArrayRef),
            ("max_price", Arc::new(maxes) as ArrayRef),
        ])?;
        let mut state = OperatorState::new();
        state.push_operator(Self::STATE_TABLE, batch);
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, _ctx: &mut OpContext) -> Result<()> {
        let what = "q7 running-max prefilter: restore";
        if let Some(t) = state
            .tables
            .iter()
            .find(|t| t.name != Self::STATE_TABLE && t.num_rows() > 0)
        {
            return Err(Error::Schema(format!(
                "{what}: unknown state table '{}'",
                t.name
            )));
        }
        self.maxes.clear();
        if state.rescaled {
            return Ok(());
        }
        let Some(t) = state.table(Self::STATE_TABLE) else {
            return Ok(());
        };
        for b in &t.batches {
            let starts = int64(b, "window_start")?.values();
            let maxes = int64(b, "max_price")?.values();
            self.maxes
                .extend(starts.iter().copied().zip(maxes.iter().copied()));
        }
        Ok(())
    }
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use arrow::array::TimestampMillisecondArray;
    use millstream_core::checkpoint::testing::{
        ipc_round_trip, restore_equivalence, run_steps, Step,
    };
    use millstream_core::operator::OutItem;
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    /// Random bids over many 10 s windows, with disorder and some bids exactly on window
    /// starts, in random batches. `auction` is a unique row id.
    fn bids(seed: u64) -> Vec<Step> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut steps = Vec::new();
        let (mut clock, mut id) = (0i64, 0i64);
        for _ in 0..60 {
            let n = rng.random_range(1..20);
            let mut rows = Vec::new();
            for _ in 0..n {
                id += 1;
                clock += rng.random_range(0..400);
                let t = if rng.random_bool(0.05) {
                    clock - clock.rem_euclid(TEN_SECONDS_MS)
                } else {
                    clock - rng.random_range(0..3_000)
                };
                rows.push((id, rng.random_range(1..1_000), t));
            }
            let col = |f: fn(&(i64, i64, i64)) -> i64| -> Vec<i64> { rows.iter().map(f).collect() };
            let b = RecordBatch::try_from_iter([
                (
                    "auction",
                    Arc::new(Int64Array::from(col(|r| r.0))) as ArrayRef,
                ),
                (
                    "price",
                    Arc::new(Int64Array::from(col(|r| r.1))) as ArrayRef,
                ),
                (
                    "bidder",
                    Arc::new(Int64Array::from(col(|r| r.0 % 7))) as ArrayRef,
                ),
                (
                    "date_time",
                    Arc::new(TimestampMillisecondArray::from(col(|r| r.2))) as ArrayRef,
                ),
            ])
            .unwrap();
            steps.push(Step::Batch(0, b));
        }
        steps.push(Step::End);
        steps
    }

    /// The `auction` ids of every emitted row.
    fn ids(items: &[OutItem]) -> Vec<i64> {
        items
            .iter()
            .filter_map(|i| match i {
                OutItem::Batch(_, b) => Some(int64(b, "auction").unwrap().values().to_vec()),
                _ => None,
            })
            .flatten()
            .collect()
    }

    fn make() -> Result<Box<dyn Operator>> {
        Ok(Box::new(RunningMaxFilter::new(TEN_SECONDS_MS)))
    }

    #[test]
    fn q7_prefilter_restored_mid_stream_keeps_the_same_rows() {
        let mut dropped = 0;
        for seed in 0..4 {
            let steps = bids(seed);
            for cut in 0..=steps.len() {
                let (whole, cut_run) = restore_equivalence(&make, &steps, cut, 1, 128)
                    .unwrap_or_else(|e| panic!("seed {seed} cut {cut}: {e}"));
                assert_eq!(ids(&whole), ids(&cut_run), "seed {seed} cut {cut}");
            }
            let total: usize = steps
                .iter()
                .map(|s| match s {
                    Step::Batch(_, b) => b.num_rows(),
                    _ => 0,
                })
                .sum();
            let (whole, _) = restore_equivalence(&make, &steps, 0, 1, 128).unwrap();
            dropped += total - ids(&whole).len();
        }
        assert!(dropped > 1000, "the filter drops rows: {dropped}");
    }

    #[test]
    fn q7_prefilter_after_a_rescale_drops_nothing_it_would_keep() {
        let mut extra = 0;
        for seed in 10..13 {
            let steps = bids(seed);
            for cut in 1..steps.len() {
                let run_restored = |rescaled: bool| {
                    let mut op = make().unwrap();
                    let mut ctx = OpContext::new(0, 1, 128);
                    run_steps(op.as_mut(), &mut ctx, &steps[..cut]).unwrap();
                    let mut state = ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap();
                    assert!(!state.is_empty(), "the filter tracks windows");
                    state.rescaled = rescaled;
                    let mut op = make().unwrap();
                    let mut ctx = OpContext::new(0, 2, 128);
                    op.restore(state, &mut ctx).unwrap();
                    ids(&run_steps(op.as_mut(), &mut ctx, &steps[cut..]).unwrap())
                };
                let exact = run_restored(false);
                let rescaled = run_restored(true);
                assert!(
                    exact.iter().all(|id| rescaled.contains(id)),
                    "seed {seed} cut {cut}: a rescaled restore keeps every row the exact one keeps"
                );
                extra += rescaled.len() - exact.len();
            }
        }
        assert!(extra > 0, "a rescaled restore lets some more rows through");
    }

    #[test]
    fn q7_prefilter_rejects_foreign_state() {
        let mut op = make().unwrap();
        let mut ctx = OpContext::new(0, 1, 128);
        let mut state = OperatorState::new();
        state.push_bytes("offsets", &[vec![1]]);
        assert!(op.restore(state, &mut ctx).is_err());
    }
}
