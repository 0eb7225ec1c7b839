//! Machinery shared by the generator sources ([`nexmark`](crate::nexmark) and
//! [`telemetry`](crate::telemetry)).
//!
//! A generator numbers its events `0, 1, 2, ...` and makes every field of event `n` a pure
//! function of `(seed, field, n)`, so any subtask can produce any event without talking to the
//! others, and a checkpointed position is just a block and a cursor:
//!
//! ```text
//!  events   [ block 0 ][ block 1 ][ block 2 ][ block 3 ][ block 4 ] ...   (batch_size events each)
//!  p = 2      sub 0      sub 1      sub 0      sub 1      sub 0
//!             │
//!             └─ Blocks::next_range ─▶ Throttle::allowed ─▶ columns of the events in the range
//!                                                             (Stream::at(n) per field)
//! ```
//!
//! * [`Stream`] is a counter-based random number stream (the splitmix64 finalizer applied to
//!   `key + n * golden`): random access in `n`, about a nanosecond a draw, and independent
//!   across fields because each field has its own key. It is faster here than seeding a
//!   `rand` generator per event, which costs a full seeding round per event and draws
//!   sequentially, so a projected-away column would still have to be drawn.
//! * [`Blocks`] hands subtask `i` of `p` the blocks `i, i + p, i + 2p, ...`, so each event is
//!   generated exactly once whatever `p`; its position ([`Blocks::snapshot`]) lets a restore
//!   at another parallelism ([`Blocks::restore`]) generate exactly the events not yet
//!   generated (module `blocks`).
//! * [`Throttle`] limits the wall-clock rate when the job asks for one.
//! * [`Utf8Column`] builds a `Utf8` column straight into an offsets vector and a value buffer.

mod blocks;

use std::ops::Range;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::StringArray;
use arrow::buffer::{Buffer, OffsetBuffer, ScalarBuffer};
use millstream_core::error::{Error, Result};

pub(crate) use blocks::Blocks;

/// The 64-bit golden ratio, splitmix64's increment.
const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The splitmix64 finalizer: a bijective mixer with full avalanche.
#[inline(always)]
pub(crate) fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Uniform integer in `0..k` from 64 random bits (Lemire's multiply-shift, no division).
#[inline(always)]
pub(crate) fn below(r: u64, k: u64) -> u64 {
    ((u128::from(r) * u128::from(k)) >> 64) as u64
}

/// Uniform integer in `0..k` from the low `bits` bits of `r` (`k < 2^(64 - bits)`).
#[inline(always)]
pub(crate) fn below_bits(r: u64, bits: u32, k: u64) -> u64 {
    ((r & ((1u64 << bits) - 1)) * k) >> bits
}

/// `if cond { a } else { b }` without a branch: the generators' choices are coin flips a
/// branch predictor cannot learn (a mispredict costs more than computing both sides).
#[inline(always)]
pub(crate) fn select(cond: bool, a: u64, b: u64) -> u64 {
    let mask = u64::from(cond).wrapping_neg();
    (a & mask) | (b & !mask)
}

/// `x` rounded to the nearest integer (ties to even), for `|x| < 2^51`, without a branch:
/// adding 1.5 * 2^52 leaves the rounded value in the low mantissa bits. Rust's `as i64`
/// saturates, which costs two compares and showed up as a fifth of the bid generator.
#[inline(always)]
pub(crate) fn round_to_i64(x: f64) -> i64 {
    const MAGIC: f64 = 6_755_399_441_055_744.0;
    (x + MAGIC).to_bits() as i64 - MAGIC.to_bits() as i64
}

/// `2^x` for `x` in `[0, 1023)`, relative error below 1e-12: a 64-entry table of `2^(j/64)`
/// and a degree-4 polynomial for the rest. About 4x faster than libm's `exp2`, and inlined.
#[derive(Debug, Clone)]
pub(crate) struct Exp2 {
    table: [f64; 64],
}

impl Exp2 {
    pub(crate) fn new() -> Self {
        let mut table = [0.0; 64];
        for (j, t) in table.iter_mut().enumerate() {
            *t = (j as f64 / 64.0).exp2();
        }
        Exp2 { table }
    }

    #[inline(always)]
    pub(crate) fn eval(&self, x: f64) -> f64 {
        let scaled = x * 64.0;
        // Rounded, not truncated: t in [-1/2, 1/2] / 64 keeps the polynomial accurate.
        let i = round_to_i64(scaled);
        let t = (scaled - i as f64) * (std::f64::consts::LN_2 / 64.0);
        let poly = 1.0 + t * (1.0 + t * (0.5 + t * (1.0 / 6.0 + t * (1.0 / 24.0))));
        let pow2 = f64::from_bits((((i >> 6) + 1023) as u64) << 52);
        pow2 * self.table[(i & 63) as usize] * poly
    }
}

/// Uniform `f64` in `[0, 1)` from 64 random bits.
#[inline(always)]
pub(crate) fn unit(r: u64) -> f64 {
    // Through i64: baseline x86-64 converts i64 <-> f64 in one instruction, u64 in several.
    ((r >> 11) as i64) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A random stream for one field: [`Stream::at`] is a pure function of `(seed, field, n)`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stream(u64);

impl Stream {
    /// The stream of field number `field` under `seed`.
    pub(crate) fn new(seed: u64, field: u64) -> Self {
        Stream(mix64(
            seed ^ mix64(field.wrapping_add(1).wrapping_mul(GOLDEN)),
        ))
    }

    /// 64 random bits for event `n`.
    #[inline(always)]
    pub(crate) fn at(self, n: u64) -> u64 {
        mix64(self.0.wrapping_add(n.wrapping_mul(GOLDEN)))
    }
}

/// Probability `p` as a threshold on 32 random bits: `(r as u32 as u64) < threshold` with
/// probability `p`.
pub(crate) fn threshold32(p: f64) -> u64 {
    let p = if p.is_nan() { 0.0 } else { p.clamp(0.0, 1.0) };
    (p * 4_294_967_296.0) as u64
}

/// Event-time offsets `n * 1000 / rate` (ms) of a run of consecutive events, computed
/// incrementally: one 128-bit division per run instead of one 64-bit division per event.
pub(crate) fn fill_time_offsets(range: Range<u64>, rate: u64, out: &mut Vec<i64>) {
    out.clear();
    let rate = rate.max(1);
    let num = u128::from(range.start) * 1000;
    let mut q = (num / u128::from(rate)) as u64;
    let mut r = (num % u128::from(rate)) as u64;
    let (step_q, step_r) = (1000 / rate, 1000 % rate);
    out.reserve((range.end - range.start) as usize);
    for _ in range {
        out.push(q as i64);
        q += step_q;
        r += step_r;
        if r >= rate {
            r -= rate;
            q += 1;
        }
    }
}

/// Event-time offset `n * 1000 / rate` (ms) of one event.
pub(crate) fn time_offset(n: u64, rate: u64) -> i64 {
    (u128::from(n) * 1000 / u128::from(rate.max(1))) as i64
}

/// Wall-clock rate limit of one subtask.
#[derive(Debug)]
pub(crate) struct Throttle {
    /// Events per second for this subtask; `None` means unthrottled.
    rate: Option<f64>,
    start: Option<Instant>,
    last_emit: Option<Instant>,
    max_delay: Duration,
}

impl Throttle {
    /// A throttle at `max_rate` events/s across the job, split evenly over `parallelism`.
    pub(crate) fn new(max_rate: Option<u64>, parallelism: usize, max_delay: Duration) -> Self {
        Throttle {
            rate: max_rate.map(|r| (r.max(1) as f64) / parallelism.max(1) as f64),
            start: None,
            last_emit: None,
            max_delay,
        }
    }

    /// How many of the `want` next events may be generated now (`Ok`, at least 1), or how long
    /// to wait (`Err`). A partial amount is granted only once `max_delay` has passed since the
    /// last grant, so low rates still give batches of reasonable size.
    pub(crate) fn allowed(&mut self, generated: u64, want: u64) -> Result<u64, Duration> {
        let Some(rate) = self.rate else {
            return Ok(want);
        };
        let now = Instant::now();
        let start = *self.start.get_or_insert(now);
        let last = *self.last_emit.get_or_insert(now);
        let elapsed = now.duration_since(start).as_secs_f64();
        let budget = ((elapsed * rate) as u64).saturating_sub(generated);
        let grant = if budget >= want {
            want
        } else if budget > 0 && now.duration_since(last) >= self.max_delay {
            budget
        } else {
            let to_full = (generated + want) as f64 / rate - elapsed;
            let to_one = (generated + 1) as f64 / rate - elapsed;
            let to_flush = self.max_delay.saturating_sub(now.duration_since(last));
            let wait = to_full.min(to_one.max(to_flush.as_secs_f64()));
            return Err(Duration::from_secs_f64(wait.clamp(0.0001, 0.1)));
        };
        self.last_emit = Some(now);
        Ok(grant)
    }
}

/// A `Utf8` column under construction: offsets and bytes, built without per-row
/// allocation.
#[derive(Debug)]
pub(crate) struct Utf8Column {
    offsets: Vec<i32>,
    values: Vec<u8>,
}

impl Utf8Column {
    /// An empty column with room for `rows` rows of about `avg` bytes.
    pub(crate) fn with_capacity(rows: usize, avg: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Utf8Column {
            offsets,
            values: Vec::with_capacity(rows * avg),
        }
    }

    /// The value bytes; write a row's bytes here, then call [`Utf8Column::end_row`].
    #[inline(always)]
    pub(crate) fn values(&mut self) -> &mut Vec<u8> {
        &mut self.values
    }

    /// Ends the row whose bytes were written to [`Utf8Column::values`].
    #[inline(always)]
    pub(crate) fn end_row(&mut self) {
        // Truncation is caught in `finish`: offsets only ever grow, so a wrapped offset shows
        // up as a value buffer over `i32::MAX`.
        self.offsets.push(self.values.len() as i32);
    }

    /// Appends one row.
    #[inline(always)]
    pub(crate) fn push(&mut self, s: &[u8]) {
        self.values.extend_from_slice(s);
        self.end_row();
    }

    /// The finished array (validates UTF-8 once for the whole buffer).
    pub(crate) fn finish(self) -> Result<StringArray> {
        if self.values.len() > i32::MAX as usize {
            return Err(Error::Internal(format!(
                "generated string column of {} bytes exceeds the Utf8 limit",
                self.values.len()
            )));
        }
        let offsets = OffsetBuffer::new(ScalarBuffer::from(self.offsets));
        Ok(StringArray::try_new(
            offsets,
            Buffer::from_vec(self.values),
            None,
        )?)
    }
}

/// A set of strings laid out in one buffer, for columns that pick among fixed values.
#[derive(Clone)]
pub(crate) struct StringTable {
    bytes: Arc<Vec<u8>>,
    ends: Arc<Vec<usize>>,
}

impl std::fmt::Debug for StringTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "StringTable({} strings, {} bytes)",
            self.len(),
            self.bytes.len()
        )
    }
}

impl StringTable {
    /// A table of the given strings.
    pub(crate) fn new<S: AsRef<str>>(strings: impl IntoIterator<Item = S>) -> Self {
        let mut bytes = Vec::new();
        let mut ends = Vec::new();
        for s in strings {
            bytes.extend_from_slice(s.as_ref().as_bytes());
            ends.push(bytes.len());
        }
        StringTable {
            bytes: Arc::new(bytes),
            ends: Arc::new(ends),
        }
    }

    /// Number of strings.
    pub(crate) fn len(&self) -> usize {
        self.ends.len()
    }

    /// String `i` (`i < len()`).
    #[inline(always)]
    pub(crate) fn get(&self, i: usize) -> &[u8] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.bytes[start..self.ends[i]]
    }
}

/// CPU seconds of the calling thread (from `/proc/thread-self/stat`, 10 ms resolution), for
/// throughput tests on a shared machine: wall time counts the other processes' turns too.
#[cfg(test)]
pub(crate) fn thread_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let rest = stat.rsplit(')').next().unwrap_or_default();
    let f: Vec<f64> = rest
        .split_whitespace()
        .map(|x| x.parse().unwrap_or(0.0))
        .collect();
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    (f.get(11).copied().unwrap_or(0.0) + f.get(12).copied().unwrap_or(0.0)) / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_offsets_match_division() {
        for rate in [1, 7, 999, 1000, 1001, 10_000, 3_333_333] {
            let mut out = Vec::new();
            fill_time_offsets(12_345..12_845, rate, &mut out);
            for (i, &v) in out.iter().enumerate() {
                assert_eq!(v, time_offset(12_345 + i as u64, rate), "rate {rate}");
            }
        }
    }

    #[test]
    fn streams_are_pure_and_distinct() {
        let a = Stream::new(42, 1);
        let b = Stream::new(42, 2);
        assert_eq!(a.at(7), Stream::new(42, 1).at(7));
        assert_ne!(a.at(7), b.at(7));
        assert_ne!(a.at(7), Stream::new(43, 1).at(7));
        let mean = (0..100_000).map(|n| unit(a.at(n))).sum::<f64>() / 100_000.0;
        assert!((mean - 0.5).abs() < 0.01);
    }

    #[test]
    fn rounds_like_round_except_ties() {
        for x in [0.0, 0.4, 0.6, 1.49, 99.51, -0.6, -3.2, 1e15 + 0.7] {
            assert_eq!(round_to_i64(x), x.round() as i64, "{x}");
        }
        assert_eq!(round_to_i64(2.5), 2);
    }

    #[test]
    fn fast_exp2_is_accurate() {
        let e = Exp2::new();
        for i in 0..100_000 {
            let x = i as f64 * 0.000_2;
            let (got, want) = (e.eval(x), x.exp2());
            assert!(((got - want) / want).abs() < 1e-12, "{x}: {got} vs {want}");
        }
    }

    #[test]
    fn string_table_round_trips() {
        let t = StringTable::new(["a", "", "bcd"]);
        assert_eq!(t.len(), 3);
        assert_eq!(t.get(0), b"a");
        assert_eq!(t.get(1), b"");
        assert_eq!(t.get(2), b"bcd");
    }
}
