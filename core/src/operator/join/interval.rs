//! [`IntervalJoin`]: event-time interval join (Flink DataStream
//! `keyed.intervalJoin(other).between(lower, upper)`, `IntervalJoinOperator`; SQL
//! `a JOIN b ON a.k = b.k AND b.ts BETWEEN a.ts + lower AND a.ts + upper`).
//!
//! **Semantics**: a left row `l` and a right row `r` with equal keys match when
//! `l.ts + lower <= r.ts <= l.ts + upper` (both bounds inclusive). An arriving batch is
//! probed against the other side's state and its matches are emitted at once; then its rows
//! are kept. A row whose event time is below the current watermark (`ts < watermark`, as
//! Flink's `isLate`) is dropped and counted in `late_dropped`; so each pair of on-time rows
//! is emitted exactly once, when the later of the two arrives.
//!
//! **State**: per side, rows in time buckets of `bucket_width` ms (default
//! `max(upper - lower + 1, 1000)`), each bucket holding its retained batches and a hash
//! table from key bytes to `(ts, batch, row)`. Future rows have `ts >= watermark`, so a
//! left row can still match only while `l.ts + upper >= watermark`, and a right row while
//! `r.ts - lower >= watermark`. On each watermark the buckets whose last millisecond fails
//! that test are dropped whole: state is freed at most one bucket width after the exact
//! point, in `O(1)` per bucket.
//!
//! **On a watermark**: clean up state, then forward the watermark; nothing is emitted.
//!
//! **Checkpoint**: the keyed tables `left` and `right` hold each side's retained batches,
//! bucket by bucket in time order (the input columns as they arrived, filed by the key
//! group of the join key; each retained batch is hashed for a checkpoint only once). The
//! bucket of a row follows from its event time, so no bucket metadata is stored: a restore
//! re-buckets the rows it receives, in their stored order, and rebuilds the hash tables;
//! the watermark comes from the task (`ctx.watermark`). Each key's rows keep their order
//! within a bucket, so a restored join emits the same pairs in the same order.
//!
//! **Complexity**: per probe row one hash lookup in each bucket the interval overlaps (at
//! most two with the default width) plus the candidates of its key there; per output batch
//! one `take` and one `interleave` per column.

use std::collections::BTreeMap;

use arrow::array::UInt32Array;
use arrow::compute::take_record_batch;
use arrow::record_batch::RecordBatch;

use super::state::{check_tables, restored_rows, SIDE_TABLES};
use super::{side_of, take_rows, Gather, JoinInputs, KeyIndex};
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, Output};
use crate::time::Watermark;

/// Smallest default bucket width, in ms: narrow intervals still get coarse buckets.
const MIN_DEFAULT_BUCKET_MS: i64 = 1000;

/// A stored row: event time and location in its bucket.
#[derive(Debug, Clone, Copy)]
struct RowRef {
    ts: i64,
    batch: u32,
    row: u32,
}

/// The rows of one key in a bucket. On nearly unique keys (q7 joins on prices) most keys
/// have one row: it is kept inline, so storing a row allocates nothing.
#[derive(Debug, Clone, Default)]
enum KeyRows {
    #[default]
    Empty,
    One(RowRef),
    Many(Vec<RowRef>),
}

impl KeyRows {
    fn push(&mut self, r: RowRef) {
        match self {
            KeyRows::Empty => *self = KeyRows::One(r),
            KeyRows::One(first) => *self = KeyRows::Many(vec![*first, r]),
            KeyRows::Many(v) => v.push(r),
        }
    }

    fn as_slice(&self) -> &[RowRef] {
        match self {
            KeyRows::Empty => &[],
            KeyRows::One(r) => std::slice::from_ref(r),
            KeyRows::Many(v) => v,
        }
    }
}

struct Bucket {
    batches: Vec<RecordBatch>,
    index: KeyIndex<KeyRows>,
    rows: usize,
    /// Key groups of the first `batches`, filled in by snapshots.
    key_groups: Vec<Vec<u32>>,
}

/// The rows of one side, by time bucket.
#[derive(Default)]
struct Store {
    buckets: BTreeMap<i64, Bucket>,
    rows: usize,
}

/// Event-time interval join of two keyed streams.
///
/// # Example
/// ```
/// use millstream_core::operator::join::IntervalJoin;
/// // bids within 10 s after their auction was created (bounds inclusive)
/// let _join = IntervalJoin::new(
///     vec!["id".into()], vec!["auction".into()],
///     "date_time".into(), "date_time".into(),
///     0, 10_000,
/// )?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct IntervalJoin {
    inputs: JoinInputs,
    lower: i64,
    upper: i64,
    bucket_width: i64,
    sides: [Store; 2],
    watermark: i64,
}

impl IntervalJoin {
    /// Join left and right rows with equal keys where
    /// `left_time + lower <= right_time <= left_time + upper`.
    ///
    /// # Errors
    /// `lower > upper`; no key columns, or different numbers on the two sides.
    pub fn new(
        left_keys: Vec<String>,
        right_keys: Vec<String>,
        left_time: String,
        right_time: String,
        lower: i64,
        upper: i64,
    ) -> Result<Self> {
        if lower > upper {
            return Err(Error::Plan(format!(
                "interval join: lower bound {lower} is above upper bound {upper}"
            )));
        }
        let inputs = JoinInputs::new(
            "interval join",
            left_keys,
            right_keys,
            Some(left_time),
            Some(right_time),
            Vec::new(),
        )?;
        let span = upper.saturating_sub(lower).saturating_add(1);
        Ok(IntervalJoin {
            inputs,
            lower,
            upper,
            bucket_width: span.max(MIN_DEFAULT_BUCKET_MS),
            sides: [Store::default(), Store::default()],
            watermark: i64::MIN,
        })
    }

    /// Keep rows in time buckets of `width` ms (at least 1): smaller buckets free state
    /// closer to the exact point, at the cost of more buckets to probe.
    pub fn with_bucket_width(mut self, width: i64) -> Self {
        self.bucket_width = width.max(1);
        self
    }

    /// Rows kept in state, per side (left, right).
    pub fn state_rows(&self) -> [usize; 2] {
        [self.sides[0].rows, self.sides[1].rows]
    }

    /// Time buckets kept, per side.
    pub fn state_buckets(&self) -> [usize; 2] {
        [self.sides[0].buckets.len(), self.sides[1].buckets.len()]
    }

    fn bucket_of(&self, ts: i64) -> i64 {
        ts.div_euclid(self.bucket_width)
    }

    /// The interval of the other side's times a row of `side` at `ts` matches.
    fn range(&self, side: usize, ts: i64) -> (i64, i64) {
        if side == 0 {
            (ts.saturating_add(self.lower), ts.saturating_add(self.upper))
        } else {
            (ts.saturating_sub(self.upper), ts.saturating_sub(self.lower))
        }
    }

    /// Drop the buckets no future row can match.
    fn clean_up(&mut self) {
        let wm = self.watermark;
        let width = self.bucket_width;
        for side in 0..2 {
            let store = &mut self.sides[side];
            if wm == i64::MAX {
                store.buckets.clear();
                store.rows = 0;
                continue;
            }
            while let Some((&b, _)) = store.buckets.first_key_value() {
                let last_ts = b.saturating_mul(width).saturating_add(width - 1);
                // The latest time a future row of the other side may have and still match.
                let reach = if side == 0 {
                    last_ts.saturating_add(self.upper)
                } else {
                    last_ts.saturating_sub(self.lower)
                };
                if reach >= wm {
                    break;
                }
                if let Some((_, bucket)) = store.buckets.pop_first() {
                    store.rows -= bucket.rows;
                }
            }
        }
    }

    /// Keep the rows of a prepared batch in `side`'s buckets.
    fn insert(&mut self, side: usize, p: super::Prepared) -> Result<()> {
        let n = p.batch.num_rows();
        let buckets: Vec<i64> = p.times.iter().map(|&t| self.bucket_of(t)).collect();
        let mut by_bucket: BTreeMap<i64, Vec<u32>> = BTreeMap::new();
        if buckets.iter().all(|&b| b == buckets[0]) {
            by_bucket.insert(buckets[0], (0..n as u32).collect());
        } else {
            for (i, &b) in buckets.iter().enumerate() {
                by_bucket.entry(b).or_default().push(i as u32);
            }
        }
        let single = by_bucket.len() == 1;
        let store = &mut self.sides[side];
        for (b, rows) in by_bucket {
            let part = if single {
                p.batch.clone()
            } else {
                take_record_batch(&p.batch, &UInt32Array::from(rows.clone()))?
            };
            let bucket = store.buckets.entry(b).or_insert_with(|| Bucket {
                batches: Vec::new(),
                index: KeyIndex::new(),
                rows: 0,
                key_groups: Vec::new(),
            });
            let batch = u32::try_from(bucket.batches.len()).map_err(|_| {
                Error::Internal("interval join: too many batches in a bucket".into())
            })?;
            for (j, &i) in rows.iter().enumerate() {
                let i = i as usize;
                bucket
                    .index
                    .get_or_insert_with(p.hashes[i], p.keys.row(i).data(), KeyRows::default)
                    .push(RowRef {
                        ts: p.times[i],
                        batch,
                        row: j as u32,
                    });
            }
            bucket.rows += rows.len();
            store.rows += rows.len();
            bucket.batches.push(part);
        }
        Ok(())
    }
}

impl Operator for IntervalJoin {
    fn on_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let side = side_of(input, "interval join")?;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        self.watermark = self.watermark.max(ctx.watermark.0);
        let p = self.inputs.prepare(side, batch, Some(self.watermark))?;
        ctx.metrics.late_dropped += p.late as u64;
        if p.batch.num_rows() == 0 {
            return Ok(());
        }
        // Probe the other side.
        let other = &self.sides[1 - side];
        let mut probe: Vec<u32> = Vec::new();
        let mut gather = Gather::new();
        for (i, &ts) in p.times.iter().enumerate() {
            let (lo, hi) = self.range(side, ts);
            let (key, hash) = (p.keys.row(i).data(), p.hashes[i]);
            for (&b, bucket) in other.buckets.range(self.bucket_of(lo)..=self.bucket_of(hi)) {
                let Some(rows) = bucket.index.get(hash, key) else {
                    continue;
                };
                for r in rows.as_slice().iter().filter(|r| lo <= r.ts && r.ts <= hi) {
                    probe.push(i as u32);
                    gather.push((b, r.batch), r.row as usize, |(_, batch)| {
                        bucket.batches.get(batch as usize)
                    })?;
                }
            }
        }
        if gather.len() > 0 {
            let probe_cols = take_rows(&p.batch, &probe)?;
            let other_cols = gather.finish()?;
            let (left, right) = if side == 0 {
                (probe_cols, other_cols)
            } else {
                (other_cols, probe_cols)
            };
            out.emit(self.inputs.assemble(left, right, Vec::new())?);
        }
        self.insert(side, p)
    }

    fn on_watermark(
        &mut self,
        wm: Watermark,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        self.watermark = self.watermark.max(wm.0);
        self.clean_up();
        out.emit_watermark(wm);
        Ok(())
    }

    /// Keyed tables `left` and `right`: each side's retained batches, bucket by bucket.
    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        for (side, store) in self.sides.iter_mut().enumerate() {
            for bucket in store.buckets.values_mut() {
                for b in &bucket.batches[bucket.key_groups.len()..] {
                    let kg = self.inputs.key_groups(side, b, ctx.max_parallelism)?;
                    bucket.key_groups.push(kg);
                }
                for (b, kg) in bucket.batches.iter().zip(&bucket.key_groups) {
                    state.push_keyed(SIDE_TABLES[side], kg.clone(), b)?;
                }
            }
        }
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        check_tables(&state, "interval join")?;
        self.watermark = self.watermark.max(ctx.watermark.0);
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            for batch in restored_rows(&state, name)? {
                let p = self.inputs.prepare(side, batch, None)?;
                if p.batch.num_rows() > 0 {
                    self.insert(side, p)?;
                }
            }
        }
        // After a rescale the task's watermark may be ahead of some old subtask's.
        self.clean_up();
        Ok(())
    }
}
