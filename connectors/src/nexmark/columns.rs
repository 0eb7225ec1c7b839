//! Column generation of the Nexmark generator: one tight loop per requested column over the
//! events of one kind in a range, straight into arrow buffers.
//!
//! Every value is a pure function of `(seed, column, n)` ([`Stream`]), so a column that is not
//! requested is never drawn, and the values of the requested ones do not depend on which
//! others were requested. The field logic follows `gen_nexmark.py` (itself the Nexmark
//! generator with its default configuration); see the module docs of
//! [`nexmark`](crate::nexmark) for the differences.

use std::ops::Range;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, Int64Array, RecordBatch, RecordBatchOptions, TimestampMillisecondArray,
};
use arrow::datatypes::SchemaRef;
use millstream_core::error::Result;

use super::{NexmarkConfig, NexmarkTable};
use crate::generator::{
    below, below_bits, fill_time_offsets, round_to_i64, select, threshold32, time_offset, unit,
    Exp2, Stream, StringTable, Utf8Column,
};

const TOTAL_PROPORTION: u64 = 50;
const AUCTION_PROPORTION: u64 = 3;
const FIRST_PERSON_ID: u64 = 1000;
const FIRST_AUCTION_ID: u64 = 1000;
const FIRST_CATEGORY_ID: u64 = 10;
const NUM_CATEGORIES: u64 = 5;
const HOT_RATIO: u64 = 100;
const NUM_ACTIVE_PEOPLE: u64 = 1000;
const NUM_IN_FLIGHT_AUCTIONS: u64 = 100;
const ID_LEAD: u64 = 10;
const AVG_PERSON_BYTES: i64 = 200;
const AVG_AUCTION_BYTES: i64 = 500;
const AVG_BID_BYTES: i64 = 100;
/// Events spanned by the in-flight auctions: `nextAuctionLengthMs`'s horizon.
const EVENTS_FOR_AUCTIONS: u64 = NUM_IN_FLIGHT_AUCTIONS * TOTAL_PROPORTION / AUCTION_PROPORTION;
const CHANNELS_NUMBER: usize = 10_000;
const HOT_CHANNELS: [&str; 4] = ["Google", "Facebook", "Baidu", "Apple"];
const US_STATES: [&str; 6] = ["AZ", "CA", "ID", "OR", "WA", "WY"];
const US_CITIES: [&str; 10] = [
    "Phoenix",
    "Los Angeles",
    "San Francisco",
    "Boise",
    "Portland",
    "Bend",
    "Redmond",
    "Seattle",
    "Kent",
    "Cheyenne",
];
const FIRST_NAMES: [&str; 11] = [
    "Peter", "Paul", "Luke", "John", "Saul", "Vicky", "Kate", "Julie", "Sarah", "Deiter", "Walter",
];
const LAST_NAMES: [&str; 9] = [
    "Shultz", "Abrams", "Spencer", "White", "Bartels", "Walton", "Smith", "Jones", "Noris",
];
/// Random character pool for `nextString` (a-z, and ' ' with probability 1/13).
const POOL_LEN: usize = 1 << 20;
/// Pool of `nextExtra` (a-z), like `StringsGenerator`'s reusable extra string.
const REUSABLE_LEN: usize = 1 << 20;
const LOG2_10: f64 = std::f64::consts::LOG2_10;

/// Stream numbers; fixed so that a column's values never depend on the projection.
mod field {
    pub(super) const DELAY: u64 = 1;
    pub(super) const P_NAME: u64 = 10;
    pub(super) const P_EMAIL: u64 = 11;
    pub(super) const P_CARD: u64 = 12;
    pub(super) const P_CITY: u64 = 13;
    pub(super) const P_STATE: u64 = 14;
    pub(super) const P_EXTRA: u64 = 15;
    pub(super) const A_NAME: u64 = 20;
    pub(super) const A_DESC: u64 = 21;
    pub(super) const A_INITIAL: u64 = 22;
    pub(super) const A_RESERVE: u64 = 23;
    pub(super) const A_EXPIRES: u64 = 24;
    pub(super) const A_SELLER: u64 = 25;
    pub(super) const A_CATEGORY: u64 = 26;
    pub(super) const A_EXTRA: u64 = 27;
    pub(super) const B_AUCTION: u64 = 30;
    pub(super) const B_BIDDER: u64 = 31;
    pub(super) const B_PRICE: u64 = 32;
    pub(super) const B_CHANNEL: u64 = 33;
    pub(super) const B_EXTRA: u64 = 34;
    pub(super) const TABLES: u64 = 99;
}

/// Per-seed tables the Java generator builds once: URLs, channels, character pools.
pub(crate) struct Tables {
    hot_channels: StringTable,
    hot_urls: StringTable,
    channels: StringTable,
    channel_urls: StringTable,
    names: StringTable,
    pool: Vec<u8>,
    reusable: Vec<u8>,
}

impl std::fmt::Debug for Tables {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tables")
            .field("channels", &self.channels)
            .field("pool_bytes", &self.pool.len())
            .field("reusable_bytes", &self.reusable.len())
            .finish_non_exhaustive()
    }
}

impl Tables {
    /// The tables for `seed` (a few milliseconds; built once per factory).
    pub(crate) fn new(seed: u64) -> Self {
        let mut rng = Counter(Stream::new(seed, field::TABLES), 0);
        let hot_urls: Vec<String> = HOT_CHANNELS.iter().map(|_| rng.base_url()).collect();
        let mut channel_urls = Vec::with_capacity(CHANNELS_NUMBER);
        for i in 0..CHANNELS_NUMBER {
            let mut url = rng.base_url();
            if below(rng.next(), 10) > 0 {
                // Math.abs(Integer.reverse(i)), as the Java generator's channel cache.
                let id = (i as i32).reverse_bits().unsigned_abs();
                url.push_str(&format!("&channel_id={id}"));
            }
            channel_urls.push(url);
        }
        let pool = (0..POOL_LEN)
            .map(|_| {
                let r = rng.next();
                if below_bits(r, 32, 13) == 0 {
                    b' '
                } else {
                    b'a' + below(r, 26) as u8
                }
            })
            .collect();
        let reusable = (0..REUSABLE_LEN)
            .map(|_| b'a' + below(rng.next(), 26) as u8)
            .collect();
        let names = FIRST_NAMES
            .iter()
            .flat_map(|f| LAST_NAMES.iter().map(move |l| format!("{f} {l}")));
        Tables {
            hot_channels: StringTable::new(HOT_CHANNELS),
            hot_urls: StringTable::new(hot_urls),
            channels: StringTable::new((0..CHANNELS_NUMBER).map(|i| format!("channel-{i}"))),
            channel_urls: StringTable::new(channel_urls),
            names: StringTable::new(names),
            pool,
            reusable,
        }
    }

    /// `nextString(max_len)` from 32 random bits: a slice of the pool of length
    /// `3..max_len`, trimmed, never empty.
    #[inline(always)]
    fn string(&self, r: u64, max_len: u64) -> &[u8] {
        let len = 3 + below_bits(r, 8, max_len - 3) as usize;
        let off = below_bits(r >> 8, 24, (POOL_LEN - max_len as usize) as u64) as usize;
        match self.pool[off..off + len].trim_ascii() {
            [] => b"x",
            s => s,
        }
    }

    /// `nextExtra(current, avg)`: a slice of the reusable pool padding a row to about `avg`
    /// bytes.
    #[inline(always)]
    fn extra(&self, r: u64, current: i64, avg: i64) -> &[u8] {
        let desired = avg - current;
        if desired <= 0 {
            return b"";
        }
        let delta = (desired as f64 * 0.2).round() as i64;
        let mut size = desired - delta;
        if delta > 0 {
            size += below_bits(r, 32, 2 * delta as u64) as i64;
        }
        let size = size as usize;
        let off = below_bits(r >> 32, 32, (REUSABLE_LEN - 4096) as u64) as usize;
        &self.reusable[off..off + size.min(4096)]
    }
}

/// A sequential draw from a [`Stream`], for the per-seed tables.
struct Counter(Stream, u64);

impl Counter {
    fn next(&mut self) -> u64 {
        self.1 += 1;
        self.0.at(self.1)
    }

    /// `StringsGenerator.nextString(max_len, special)`, drawn character by character.
    fn scalar_string(&mut self, max_len: u64, special: char) -> String {
        let len = 3 + below(self.next(), max_len - 3);
        (0..len)
            .map(|_| {
                if below(self.next(), 13) == 0 {
                    special
                } else {
                    char::from(b'a' + below(self.next(), 26) as u8)
                }
            })
            .collect()
    }

    fn base_url(&mut self) -> String {
        let a = self.scalar_string(5, '_');
        let b = self.scalar_string(5, '_');
        let c = self.scalar_string(5, '_');
        format!("https://www.nexmark.com/{a}/{b}/{c}/item.htm?query=1")
    }
}

/// Reused buffers of one subtask.
#[derive(Debug, Default)]
pub(crate) struct Scratch {
    /// Events of the generated kind in the range.
    ns: Vec<u64>,
    /// `n * 1000 / rate` for every event of the range.
    offsets: Vec<i64>,
}

/// Generates batches of one Nexmark table with a projection.
#[derive(Debug)]
pub(crate) struct Generator {
    table: NexmarkTable,
    /// Requested column indices into the table's full schema.
    columns: Vec<usize>,
    schema: SchemaRef,
    tables: Arc<Tables>,
    rate: u64,
    base_time_ms: i64,
    delay_threshold: u64,
    max_delay_ms: u64,
    seed: u64,
    exp2: Exp2,
}

#[inline(always)]
fn last_base0_person_id(n: u64) -> u64 {
    n / TOTAL_PROPORTION
}

#[inline(always)]
fn last_base0_auction_id(n: u64) -> u64 {
    let (epoch, offset) = (n / TOTAL_PROPORTION, n % TOTAL_PROPORTION);
    if offset == 0 {
        // A person: the last auction is the previous epoch's last (-1 before any auction;
        // callers only ask for it on auctions and bids, which always follow one).
        (epoch * AUCTION_PROPORTION).wrapping_sub(1)
    } else if offset <= AUCTION_PROPORTION {
        epoch * AUCTION_PROPORTION + offset - 1
    } else {
        epoch * AUCTION_PROPORTION + AUCTION_PROPORTION - 1
    }
}

/// `nextBase0PersonId`: one of the active people, or a few ids ahead of them.
#[inline(always)]
fn next_base0_person_id(n: u64, r: u64) -> u64 {
    let num_people = last_base0_person_id(n) + 1;
    let active = num_people.min(NUM_ACTIVE_PEOPLE);
    num_people - active + below(r, active + ID_LEAD)
}

/// `nextPrice`: `round(10^(u * 6) * 100)`, log-uniform between 1.00 and 1,000,000.00.
#[inline(always)]
fn price(exp2: &Exp2, r: u64) -> i64 {
    // Ties go to even rather than up: no tie ever occurs with a random double. `f64::round`
    // is a libm call on baseline x86-64 and cost 12 % of the bid generator.
    round_to_i64(exp2.eval(unit(r) * (6.0 * LOG2_10)) * 100.0)
}

/// The events of `table`'s kind in `range`, as `gen_nexmark.py` assigns kinds: person when
/// `n % 50 == 0`, auction when `n % 50` is 1-3, bid otherwise.
fn events_of_kind(table: NexmarkTable, range: Range<u64>, out: &mut Vec<u64>) {
    out.clear();
    let (lo, hi) = match table {
        NexmarkTable::Person => (0, 1),
        NexmarkTable::Auction => (1, 1 + AUCTION_PROPORTION),
        NexmarkTable::Bid => (1 + AUCTION_PROPORTION, TOTAL_PROPORTION),
    };
    let mut base = range.start - range.start % TOTAL_PROPORTION;
    while base < range.end {
        let a = base.saturating_add(lo).max(range.start);
        let b = base.saturating_add(hi).min(range.end);
        if a < b {
            out.extend(a..b);
        }
        base = base.saturating_add(TOTAL_PROPORTION);
    }
}

impl Generator {
    pub(crate) fn new(
        table: NexmarkTable,
        columns: Vec<usize>,
        schema: SchemaRef,
        tables: Arc<Tables>,
        cfg: &NexmarkConfig,
    ) -> Self {
        Generator {
            table,
            columns,
            schema,
            tables,
            rate: cfg.rate.max(1),
            base_time_ms: cfg.base_time_ms,
            delay_threshold: threshold32(cfg.delay_prob),
            max_delay_ms: cfg.max_delay_ms.max(0) as u64,
            seed: cfg.seed,
            exp2: Exp2::new(),
        }
    }

    fn stream(&self, field: u64) -> Stream {
        Stream::new(self.seed, field)
    }

    /// The rows of the events of this table's kind in `range`; `None` if there are none.
    pub(crate) fn generate(
        &self,
        range: Range<u64>,
        scratch: &mut Scratch,
    ) -> Result<Option<RecordBatch>> {
        events_of_kind(self.table, range.clone(), &mut scratch.ns);
        if scratch.ns.is_empty() {
            return Ok(None);
        }
        let time_columns: &[usize] = match self.table {
            NexmarkTable::Person => &[6],
            NexmarkTable::Auction => &[5, 6],
            NexmarkTable::Bid => &[5],
        };
        if self.columns.iter().any(|c| time_columns.contains(c)) {
            fill_time_offsets(range.clone(), self.rate, &mut scratch.offsets);
        }
        let ctx = Ctx {
            ns: &scratch.ns,
            offsets: &scratch.offsets,
            lo: range.start,
        };
        let arrays = self
            .columns
            .iter()
            .map(|&c| match self.table {
                NexmarkTable::Person => self.person_column(c, &ctx),
                NexmarkTable::Auction => self.auction_column(c, &ctx),
                NexmarkTable::Bid => self.bid_column(c, &ctx),
            })
            .collect::<Result<Vec<_>>>()?;
        let options = RecordBatchOptions::new().with_row_count(Some(scratch.ns.len()));
        Ok(Some(RecordBatch::try_new_with_options(
            self.schema.clone(),
            arrays,
            &options,
        )?))
    }

    /// Event time of event `n`: `base + n / rate`, moved back by `1..=max_delay_ms` with
    /// probability `delay_prob`.
    #[inline(always)]
    fn date_time(&self, delay: Stream, ctx: &Ctx<'_>, n: u64) -> i64 {
        let r = delay.at(n);
        let delayed = (r & 0xFFFF_FFFF) < self.delay_threshold;
        let d = select(delayed, 1 + (((r >> 32) * self.max_delay_ms) >> 32), 0);
        self.base_time_ms + ctx.offsets[(n - ctx.lo) as usize] - d as i64
    }

    fn timestamps(&self, ctx: &Ctx<'_>) -> ArrayRef {
        let delay = self.stream(field::DELAY);
        let v: Vec<i64> = ctx
            .ns
            .iter()
            .map(|&n| self.date_time(delay, ctx, n))
            .collect();
        Arc::new(TimestampMillisecondArray::from(v))
    }

    fn ints(ctx: &Ctx<'_>, f: impl Fn(u64) -> u64) -> ArrayRef {
        let v: Vec<i64> = ctx.ns.iter().map(|&n| f(n) as i64).collect();
        Arc::new(Int64Array::from(v))
    }

    fn strings<'a>(ctx: &Ctx<'_>, avg: usize, f: impl Fn(u64) -> &'a [u8]) -> Result<ArrayRef> {
        let mut col = Utf8Column::with_capacity(ctx.ns.len(), avg);
        for &n in ctx.ns {
            col.push(f(n));
        }
        Ok(Arc::new(col.finish()?))
    }

    // ------------------------------------------------------------------ person

    fn person_name(&self, n: u64) -> &[u8] {
        let r = self.stream(field::P_NAME).at(n);
        self.tables
            .names
            .get(below(r, self.tables.names.len() as u64) as usize)
    }

    fn person_email(&self, n: u64) -> (&[u8], &[u8]) {
        let r = self.stream(field::P_EMAIL).at(n);
        (self.tables.string(r, 7), self.tables.string(r >> 32, 5))
    }

    fn person_city(&self, n: u64) -> &'static str {
        US_CITIES[below(self.stream(field::P_CITY).at(n), 10) as usize]
    }

    fn person_state(&self, n: u64) -> &'static str {
        US_STATES[below(self.stream(field::P_STATE).at(n), 6) as usize]
    }

    fn person_column(&self, c: usize, ctx: &Ctx<'_>) -> Result<ArrayRef> {
        let t = &self.tables;
        Ok(match c {
            0 => Self::ints(ctx, |n| last_base0_person_id(n) + FIRST_PERSON_ID),
            1 => Self::strings(ctx, 12, |n| self.person_name(n))?,
            2 => {
                let mut col = Utf8Column::with_capacity(ctx.ns.len(), 16);
                for &n in ctx.ns {
                    let (a, b) = self.person_email(n);
                    let v = col.values();
                    v.extend_from_slice(a);
                    v.push(b'@');
                    v.extend_from_slice(b);
                    v.extend_from_slice(b".com");
                    col.end_row();
                }
                Arc::new(col.finish()?)
            }
            3 => {
                let s = self.stream(field::P_CARD);
                let mut col = Utf8Column::with_capacity(ctx.ns.len(), 19);
                for &n in ctx.ns {
                    let r = s.at(n);
                    let v = col.values();
                    for g in 0..4 {
                        if g > 0 {
                            v.push(b' ');
                        }
                        let x = below_bits(r >> (16 * g), 16, 10_000);
                        v.extend_from_slice(&[
                            b'0' + (x / 1000) as u8,
                            b'0' + (x / 100 % 10) as u8,
                            b'0' + (x / 10 % 10) as u8,
                            b'0' + (x % 10) as u8,
                        ]);
                    }
                    col.end_row();
                }
                Arc::new(col.finish()?)
            }
            4 => Self::strings(ctx, 8, |n| self.person_city(n).as_bytes())?,
            5 => Self::strings(ctx, 2, |n| self.person_state(n).as_bytes())?,
            6 => self.timestamps(ctx),
            _ => {
                let s = self.stream(field::P_EXTRA);
                Self::strings(ctx, 130, |n| {
                    let (a, b) = self.person_email(n);
                    let current = 8
                        + self.person_name(n).len()
                        + (a.len() + b.len() + 5)
                        + 19
                        + self.person_city(n).len()
                        + 2;
                    t.extra(s.at(n), current as i64, AVG_PERSON_BYTES)
                })?
            }
        })
    }

    // ------------------------------------------------------------------ auction

    fn auction_name(&self, n: u64) -> &[u8] {
        self.tables.string(self.stream(field::A_NAME).at(n), 20)
    }

    fn auction_description(&self, n: u64) -> &[u8] {
        self.tables.string(self.stream(field::A_DESC).at(n), 100)
    }

    fn auction_column(&self, c: usize, ctx: &Ctx<'_>) -> Result<ArrayRef> {
        Ok(match c {
            0 => Self::ints(ctx, |n| last_base0_auction_id(n) + FIRST_AUCTION_ID),
            1 => Self::strings(ctx, 12, |n| self.auction_name(n))?,
            2 => Self::strings(ctx, 50, |n| self.auction_description(n))?,
            3 => {
                let s = self.stream(field::A_INITIAL);
                Self::ints(ctx, |n| price(&self.exp2, s.at(n)) as u64)
            }
            4 => {
                let (a, b) = (self.stream(field::A_INITIAL), self.stream(field::A_RESERVE));
                let e = &self.exp2;
                Self::ints(ctx, |n| (price(e, a.at(n)) + price(e, b.at(n))) as u64)
            }
            5 => self.timestamps(ctx),
            6 => {
                let (delay, s) = (self.stream(field::DELAY), self.stream(field::A_EXPIRES));
                let v: Vec<i64> = ctx
                    .ns
                    .iter()
                    .map(|&n| {
                        let ts = self.date_time(delay, ctx, n);
                        let future = self.base_time_ms
                            + time_offset(n.saturating_add(EVENTS_FOR_AUCTIONS), self.rate);
                        let horizon = (future - ts).max(0) as u64;
                        ts + 1 + below(s.at(n), (horizon * 2).max(1)) as i64
                    })
                    .collect();
                Arc::new(TimestampMillisecondArray::from(v))
            }
            7 => {
                let s = self.stream(field::A_SELLER);
                Self::ints(ctx, |n| {
                    let r = s.at(n);
                    let hot = last_base0_person_id(n) / HOT_RATIO * HOT_RATIO;
                    select(r & 3 != 0, hot, next_base0_person_id(n, r)) + FIRST_PERSON_ID
                })
            }
            8 => {
                let s = self.stream(field::A_CATEGORY);
                Self::ints(ctx, |n| FIRST_CATEGORY_ID + below(s.at(n), NUM_CATEGORIES))
            }
            _ => {
                let s = self.stream(field::A_EXTRA);
                Self::strings(ctx, 420, |n| {
                    let current =
                        8 + self.auction_name(n).len() + self.auction_description(n).len() + 40;
                    self.tables
                        .extra(s.at(n), current as i64, AVG_AUCTION_BYTES)
                })?
            }
        })
    }

    // ------------------------------------------------------------------ bid

    fn bid_column(&self, c: usize, ctx: &Ctx<'_>) -> Result<ArrayRef> {
        let t = &self.tables;
        Ok(match c {
            0 => {
                let s = self.stream(field::B_AUCTION);
                Self::ints(ctx, |n| {
                    // Bids only: the last auction is that of the epoch's three.
                    let last = n / TOTAL_PROPORTION * AUCTION_PROPORTION + AUCTION_PROPORTION - 1;
                    let min = last.saturating_sub(NUM_IN_FLIGHT_AUCTIONS);
                    let r = s.at(n);
                    let hot = last / HOT_RATIO * HOT_RATIO;
                    let other = min + below(r, last - min + 1 + ID_LEAD);
                    select(r & 1 != 0, hot, other) + FIRST_AUCTION_ID
                })
            }
            1 => {
                let s = self.stream(field::B_BIDDER);
                Self::ints(ctx, |n| {
                    let r = s.at(n);
                    let hot = last_base0_person_id(n) / HOT_RATIO * HOT_RATIO + 1;
                    select(r & 3 != 0, hot, next_base0_person_id(n, r)) + FIRST_PERSON_ID
                })
            }
            2 => {
                let s = self.stream(field::B_PRICE);
                Self::ints(ctx, |n| price(&self.exp2, s.at(n)) as u64)
            }
            3 | 4 => {
                let s = self.stream(field::B_CHANNEL);
                let (hot, all) = if c == 3 {
                    (&t.hot_channels, &t.channels)
                } else {
                    (&t.hot_urls, &t.channel_urls)
                };
                Self::strings(ctx, if c == 3 { 10 } else { 60 }, |n| {
                    let r = s.at(n);
                    if r & 1 != 0 {
                        hot.get(below(r, hot.len() as u64) as usize)
                    } else {
                        all.get(below(r, all.len() as u64) as usize)
                    }
                })?
            }
            5 => self.timestamps(ctx),
            _ => {
                let s = self.stream(field::B_EXTRA);
                Self::strings(ctx, 68, |n| t.extra(s.at(n), 32, AVG_BID_BYTES))?
            }
        })
    }
}

/// The events of one generated batch.
struct Ctx<'a> {
    ns: &'a [u64],
    offsets: &'a [i64],
    lo: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_proportions() {
        let mut v = Vec::new();
        events_of_kind(NexmarkTable::Person, 0..100, &mut v);
        assert_eq!(v, vec![0, 50]);
        events_of_kind(NexmarkTable::Auction, 49..103, &mut v);
        assert_eq!(v, vec![51, 52, 53, 101, 102]);
        events_of_kind(NexmarkTable::Bid, 0..5, &mut v);
        assert_eq!(v, vec![4]);
    }

    #[test]
    fn ids_match_the_python_generator() {
        assert_eq!(last_base0_auction_id(1), 0);
        assert_eq!(last_base0_auction_id(3), 2);
        assert_eq!(last_base0_auction_id(4), 2);
        assert_eq!(last_base0_auction_id(99), 5);
        assert_eq!(last_base0_auction_id(50), 2);
        assert_eq!(last_base0_auction_id(51), 3);
        assert_eq!(last_base0_person_id(49), 0);
        assert_eq!(last_base0_person_id(50), 1);
    }

    #[test]
    fn prices_are_log_uniform_in_range() {
        let e = Exp2::new();
        assert_eq!(price(&e, 0), 100);
        assert_eq!(price(&e, u64::MAX), 100_000_000);
        let s = Stream::new(1, 2);
        for n in 0..10_000 {
            let p = price(&e, s.at(n));
            assert!((100..=100_000_000).contains(&p), "{p}");
        }
    }

    #[test]
    fn strings_are_trimmed_and_bounded() {
        let t = Tables::new(42);
        let s = Stream::new(42, 5);
        for n in 0..10_000 {
            let v = t.string(s.at(n), 20);
            assert!(!v.is_empty() && v.len() < 20);
            assert!(v[0] != b' ' && v[v.len() - 1] != b' ');
        }
        for n in 0..1000 {
            let len = t.extra(s.at(n), 32, 100).len();
            assert!((54..=81).contains(&len), "{len}");
        }
        assert!(t.extra(1, 600, 500).is_empty());
    }
}
