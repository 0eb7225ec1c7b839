//! A synthetic telemetry source: hosts reporting metrics, with bounded disorder and a few very
//! late rows, for exercising event-time windows, watermarks and late-data handling.
//!
//! Row `n` is one measurement `(host, region, metric, value, ts)`; every field is a pure
//! function of `(seed, n)` and subtasks split the sequence in blocks exactly as the
//! [`nexmark`](crate::nexmark) generator does:
//!
//! ```text
//!  TelemetrySource::new(cfg, columns) ──create(i of p)──▶ blocks i, i+p, ... of batch_size rows
//!      ──▶ host = h(n) % hosts, region = region of host, metric = h'(n) % 6
//!      ──▶ value ~ per-metric distribution (host baseline + noise, log-normal tails)
//!      ──▶ ts = base + n*1000/rate − U[0, disorder_ms]   (− 10 × disorder_ms for late rows)
//! ```
//!
//! A checkpoint records each subtask's block and next row; a restore at any parallelism
//! generates exactly the rows no old subtask had generated.
//!
//! With a watermark delay of at least `disorder_ms`, exactly the `late_fraction` rows are late
//! (give or take the ones that land behind the watermark anyway).

use std::sync::Arc;

use arrow::array::TimestampMillisecondArray;
use arrow::array::{ArrayRef, Float64Array, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use millstream_core::connector::{Source, SourceContext, SourceFactory, SourcePoll};
use millstream_core::error::{Error, Result};

use crate::generator::{
    below, fill_time_offsets, mix64, threshold32, unit, Blocks, Stream, StringTable, Throttle,
    Utf8Column,
};
use crate::nexmark::project;

/// Metric names, in the order of [`TelemetrySource`]'s `metric` codes.
pub const METRICS: [&str; 6] = ["cpu", "mem", "disk_io", "net_in", "net_out", "latency_ms"];
/// Region names; host `h` is in region `h % 5`.
pub const REGIONS: [&str; 5] = [
    "us-east-1",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-southeast-1",
];

/// Knobs of the telemetry generator.
#[derive(Debug, Clone, PartialEq)]
pub struct TelemetryConfig {
    /// Total rows; `u64::MAX` means unbounded.
    pub events: u64,
    /// Number of distinct hosts, `host-0000` ... (default 1000).
    pub hosts: u64,
    /// Seed of every random choice.
    pub seed: u64,
    /// Rows per second of event time (default 10,000).
    pub rate: u64,
    /// Event time of row 0, ms since the epoch (default 2024-01-01 00:00:00 UTC).
    pub base_time_ms: i64,
    /// Bounded disorder: each row's `ts` moves back by `0..=disorder_ms` (default 1000).
    pub disorder_ms: i64,
    /// Fraction of rows moved back a further `10 × disorder_ms` (very late; default 0.001).
    pub late_fraction: f64,
    /// Wall-clock limit in rows per second across all subtasks; `None` for as fast as
    /// possible.
    pub max_rate: Option<u64>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig {
            events: u64::MAX,
            hosts: 1000,
            seed: 42,
            rate: 10_000,
            base_time_ms: 1_704_067_200_000,
            disorder_ms: 1000,
            late_fraction: 0.001,
            max_rate: None,
        }
    }
}

impl TelemetryConfig {
    /// The default configuration with `events` rows in total.
    pub fn bounded(events: u64) -> Self {
        TelemetryConfig {
            events,
            ..Self::default()
        }
    }
}

/// A [`SourceFactory`] of telemetry rows `(host, region, metric, value, ts)`.
///
/// # Example
/// ```
/// use millstream_connectors::telemetry::{TelemetryConfig, TelemetrySource};
/// use millstream_core::connector::{SourceContext, SourceFactory, SourcePoll};
///
/// let f = TelemetrySource::new(TelemetryConfig::bounded(100), None)?;
/// let ctx = SourceContext { subtask: 0, parallelism: 1, batch: Default::default() };
/// let SourcePoll::Batch(b) = f.create(&ctx)?.poll()? else { panic!("expected rows") };
/// assert_eq!((b.num_rows(), b.num_columns()), (100, 5));
/// # Ok::<(), millstream_core::error::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct TelemetrySource {
    cfg: TelemetryConfig,
    columns: Vec<usize>,
    schema: SchemaRef,
    host_names: StringTable,
}

impl TelemetrySource {
    /// The full schema: `host`, `region`, `metric` (Utf8), `value` (Float64), `ts`
    /// (`Timestamp(Millisecond, None)`).
    pub fn full_schema() -> SchemaRef {
        Arc::new(Schema::new(vec![
            Field::new("host", DataType::Utf8, false),
            Field::new("region", DataType::Utf8, false),
            Field::new("metric", DataType::Utf8, false),
            Field::new("value", DataType::Float64, false),
            Field::new(
                "ts",
                DataType::Timestamp(TimeUnit::Millisecond, None),
                false,
            ),
        ]))
    }

    /// A telemetry source; `columns` is a projection (`None` for all columns).
    ///
    /// # Errors
    /// [`Error::Plan`] when a requested column does not exist or `hosts` is 0.
    pub fn new(cfg: TelemetryConfig, columns: Option<Vec<String>>) -> Result<Self> {
        if cfg.hosts == 0 {
            return Err(Error::Plan(
                "telemetry source needs at least one host".into(),
            ));
        }
        let (columns, schema) = project(&Self::full_schema(), columns, "telemetry")?;
        let host_names = StringTable::new((0..cfg.hosts).map(|h| format!("host-{h:04}")));
        Ok(TelemetrySource {
            cfg,
            columns,
            schema,
            host_names,
        })
    }

    /// The generator configuration.
    pub fn config(&self) -> &TelemetryConfig {
        &self.cfg
    }
}

impl SourceFactory for TelemetrySource {
    fn name(&self) -> String {
        "telemetry".into()
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

    /// Resumes from the positions of every old subtask, as the Nexmark source does: new
    /// subtask `t` of `p'` generates the rows `t (mod p')` no old subtask had generated.
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

impl TelemetrySource {
    fn subtask(&self, ctx: &SourceContext, blocks: Blocks) -> TelemetrySubtask {
        TelemetrySubtask {
            f: self.clone(),
            blocks,
            max_batch: ctx.batch.batch_size.max(1) as u64,
            throttle: Throttle::new(self.cfg.max_rate, ctx.parallelism, ctx.batch.max_delay),
            offsets: Vec::new(),
            late_threshold: threshold32(self.cfg.late_fraction),
        }
    }
}

/// One parallel instance of the telemetry source.
#[derive(Debug)]
struct TelemetrySubtask {
    f: TelemetrySource,
    blocks: Blocks,
    /// Most rows per batch (the block size may differ after a restore).
    max_batch: u64,
    throttle: Throttle,
    offsets: Vec<i64>,
    late_threshold: u64,
}

impl TelemetrySubtask {
    fn stream(&self, field: u64) -> Stream {
        Stream::new(self.f.cfg.seed, 1000 + field)
    }

    #[inline(always)]
    fn host(&self, s: Stream, n: u64) -> u64 {
        below(s.at(n), self.f.cfg.hosts)
    }

    fn generate(&mut self, range: std::ops::Range<u64>) -> Result<RecordBatch> {
        let rows = (range.end - range.start) as usize;
        let (host_s, metric_s, value_s, ts_s) = (
            self.stream(0),
            self.stream(1),
            self.stream(2),
            self.stream(3),
        );
        let seed = self.f.cfg.seed;
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.f.columns.len());
        for &c in &self.f.columns {
            arrays.push(match c {
                0 | 1 => {
                    let mut col = Utf8Column::with_capacity(rows, 10);
                    for n in range.clone() {
                        let h = self.host(host_s, n);
                        if c == 0 {
                            col.push(self.f.host_names.get(h as usize));
                        } else {
                            col.push(REGIONS[(h % REGIONS.len() as u64) as usize].as_bytes());
                        }
                    }
                    Arc::new(col.finish()?)
                }
                2 => {
                    let mut col = Utf8Column::with_capacity(rows, 6);
                    for n in range.clone() {
                        col.push(METRICS[below(metric_s.at(n), 6) as usize].as_bytes());
                    }
                    Arc::new(col.finish()?)
                }
                3 => {
                    let v: Vec<f64> = range
                        .clone()
                        .map(|n| {
                            let h = self.host(host_s, n);
                            let m = below(metric_s.at(n), 6);
                            value(m, unit(mix64(seed ^ h.wrapping_mul(0x9E37))), value_s.at(n))
                        })
                        .collect();
                    Arc::new(Float64Array::from(v))
                }
                _ => {
                    fill_time_offsets(range.clone(), self.f.cfg.rate, &mut self.offsets);
                    let (base, dis) = (self.f.cfg.base_time_ms, self.f.cfg.disorder_ms.max(0));
                    let v: Vec<i64> = range
                        .clone()
                        .zip(&self.offsets)
                        .map(|(n, &off)| {
                            let r = ts_s.at(n);
                            let back = below(r >> 32, dis as u64 + 1) as i64;
                            let late = if (r & 0xFFFF_FFFF) < self.late_threshold {
                                10 * dis
                            } else {
                                0
                            };
                            base + off - back - late
                        })
                        .collect();
                    Arc::new(TimestampMillisecondArray::from(v))
                }
            });
        }
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        Ok(RecordBatch::try_new_with_options(
            self.f.schema.clone(),
            arrays,
            &options,
        )?)
    }
}

/// A standard-normal-ish draw from 64 random bits: the Irwin–Hall sum of four 16-bit uniforms,
/// rescaled (cheap, bounded at ±3.5 σ).
#[inline(always)]
fn normal(r: u64) -> f64 {
    let s = (r & 0xFFFF) + ((r >> 16) & 0xFFFF) + ((r >> 32) & 0xFFFF) + (r >> 48);
    (s as f64 / 65_536.0 - 2.0) * 3f64.sqrt()
}

/// A measurement of metric `m` for a host with baseline `host_u` in `[0, 1)`.
#[inline(always)]
fn value(m: u64, host_u: f64, r: u64) -> f64 {
    let z = normal(r);
    match m {
        // cpu %: a per-host load level plus noise
        0 => (10.0 + 70.0 * host_u + 10.0 * z).clamp(0.0, 100.0),
        // mem %: steadier
        1 => (30.0 + 60.0 * host_u + 3.0 * z).clamp(0.0, 100.0),
        // disk_io MB/s: log-normal
        2 => (2.0 + host_u + 0.8 * z).exp(),
        // net_in / net_out bytes/s: log-normal, wide
        3 => (11.0 + 2.0 * host_u + 1.2 * z).exp(),
        4 => (10.5 + 2.0 * host_u + 1.2 * z).exp(),
        // latency ms: log-normal with a long tail (1 in 100 is a 10x outlier)
        _ => {
            let base = (3.0 + 0.5 * host_u + 0.6 * z).exp();
            if r.is_multiple_of(100) {
                base * 10.0
            } else {
                base
            }
        }
    }
}

impl Source for TelemetrySubtask {
    fn poll(&mut self) -> Result<SourcePoll> {
        let want = self.blocks.left_in_block().min(self.max_batch);
        if want == 0 {
            return Ok(SourcePoll::End);
        }
        let n = match self.throttle.allowed(self.blocks.generated(), want) {
            Ok(n) => n,
            Err(wait) => return Ok(SourcePoll::Pending(wait)),
        };
        match self.blocks.next_range(n) {
            Some(range) => Ok(SourcePoll::Batch(self.generate(range)?)),
            None => Ok(SourcePoll::End),
        }
    }

    fn position(&self) -> u64 {
        self.blocks.generated()
    }

    fn snapshot_position(&mut self) -> Result<Vec<u8>> {
        self.blocks.snapshot("telemetry")
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use arrow::array::{Array, AsArray};
    use arrow::datatypes::{Float64Type, TimestampMillisecondType};
    use millstream_core::batch::BatchConfig;

    use super::*;

    fn drain(f: &TelemetrySource, p: usize, batch_size: usize) -> Vec<RecordBatch> {
        let mut out = Vec::new();
        for i in 0..p {
            let ctx = SourceContext {
                subtask: i,
                parallelism: p,
                batch: BatchConfig {
                    batch_size,
                    max_delay: Duration::from_millis(50),
                },
            };
            let mut s = f.create(&ctx).unwrap();
            while let SourcePoll::Batch(b) = s.poll().unwrap() {
                out.push(b);
            }
        }
        out
    }

    fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
        let mut rows = Vec::new();
        for b in batches {
            for r in 0..b.num_rows() {
                let cells: Vec<String> = b
                    .columns()
                    .iter()
                    .map(|c| arrow::util::display::array_value_to_string(c, r).unwrap())
                    .collect();
                rows.push(cells.join("|"));
            }
        }
        rows.sort();
        rows
    }

    #[test]
    fn deterministic_and_split_independent() {
        let f = TelemetrySource::new(TelemetryConfig::bounded(10_000), None).unwrap();
        let base = sorted_rows(&drain(&f, 1, 1000));
        assert_eq!(base.len(), 10_000);
        assert_eq!(base, sorted_rows(&drain(&f, 1, 1000)));
        assert_eq!(base, sorted_rows(&drain(&f, 3, 333)));
    }

    #[test]
    fn disorder_is_bounded_except_late_rows() {
        let cfg = TelemetryConfig {
            disorder_ms: 200,
            late_fraction: 0.01,
            ..TelemetryConfig::bounded(200_000)
        };
        let f = TelemetrySource::new(cfg.clone(), Some(vec!["ts".into()])).unwrap();
        let mut max = i64::MIN;
        let (mut late, mut total) = (0usize, 0usize);
        for b in drain(&f, 1, 4096) {
            for &t in b
                .column(0)
                .as_primitive::<TimestampMillisecondType>()
                .values()
            {
                if t < max.saturating_sub(200) {
                    late += 1;
                    assert!(t >= max - 11 * 200 - 1);
                }
                max = max.max(t);
                total += 1;
            }
        }
        let expected = total / 100;
        assert!(
            late > expected * 8 / 10 && late < expected * 12 / 10,
            "{late}"
        );
    }

    #[test]
    fn values_follow_the_metric() {
        let f = TelemetrySource::new(TelemetryConfig::bounded(50_000), None).unwrap();
        let mut per_metric: HashMap<String, (f64, f64, usize)> = HashMap::new();
        for b in drain(&f, 1, 8192) {
            let host = b.column(0).as_string::<i32>();
            let region = b.column(1).as_string::<i32>();
            let metric = b.column(2).as_string::<i32>();
            let value = b.column(3).as_primitive::<Float64Type>();
            assert_eq!(value.null_count(), 0);
            for i in 0..b.num_rows() {
                let h: usize = host.value(i)["host-".len()..].parse().unwrap();
                assert!(h < 1000);
                assert_eq!(region.value(i), REGIONS[h % 5]);
                let e = per_metric.entry(metric.value(i).to_string()).or_insert((
                    f64::MAX,
                    f64::MIN,
                    0,
                ));
                e.0 = e.0.min(value.value(i));
                e.1 = e.1.max(value.value(i));
                e.2 += 1;
            }
        }
        assert_eq!(per_metric.len(), 6);
        let cpu = per_metric["cpu"];
        assert!(cpu.0 >= 0.0 && cpu.1 <= 100.0);
        assert!(per_metric["net_in"].1 > 100_000.0);
        assert!(per_metric["latency_ms"].0 > 0.0);
    }
}
