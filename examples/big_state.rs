//! Keyed state larger than the state backend's memory: a rolling sum per key over N distinct
//! keys (default 20 million), each key seen `--rounds` times, on the memory or the RocksDB
//! backend.
//!
//! ```text
//!  generator source ─hash(k)─▶ reduce (state: one (k, v, n, pad) per key)
//!     round r: every key k once,             ─▶ check every rolling value against
//!     in a scrambled order, v = k + r            n·k + n(n-1)/2, mark keys that reach n = rounds
//! ```
//!
//! Prints rows/s, the peak RSS (`VmHWM`), the largest size the RocksDB directory reached,
//! and fails unless every key's final value equals the closed form.
//!
//! With `--checkpoint-dir DIR` the job checkpoints every `--checkpoint-interval-ms`; the
//! summary then gives the checkpoint count, duration, state size and bytes written, so two
//! runs (with and without) show what checkpointing costs. `--pad N` adds an N-byte string to
//! every key's state, to reach a state size with fewer keys.
//!
//! Run with `cargo run --release --example big_state -- --backend rocksdb --keys 20000000
//! --budget-mb 64`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use clap::{Parser, ValueEnum};
use millstream::core::checkpoint::CheckpointConfig;
use millstream::core::connector::{Source, SourceContext, SourceFactory, SourcePoll};
use millstream::core::runtime::{CheckpointStats, JobConfig};
use millstream::core::state::{RocksDbOptions, StateBackendKind};
use millstream::prelude::*;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Backend {
    Memory,
    Rocksdb,
}

/// Rolling sum per key over many distinct keys.
#[derive(Debug, Parser)]
struct Args {
    /// State backend.
    #[arg(long, value_enum, default_value = "rocksdb")]
    backend: Backend,
    /// Distinct keys.
    #[arg(long, default_value_t = 20_000_000)]
    keys: u64,
    /// Times each key is seen.
    #[arg(long, default_value_t = 3)]
    rounds: u64,
    /// RocksDB memory budget per instance (block cache and memtables), MiB.
    #[arg(long, default_value_t = 64)]
    budget_mb: usize,
    /// Parallelism of the keyed reduce.
    #[arg(long, default_value_t = 1)]
    parallelism: usize,
    /// Where RocksDB instances live (removed at the end).
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Rows per generated batch.
    #[arg(long, default_value_t = 8192)]
    batch_rows: u64,
    /// Bytes of padding stored with every key's value.
    #[arg(long, default_value_t = 0)]
    pad: usize,
    /// Checkpoint into this directory (removed at the end).
    #[arg(long)]
    checkpoint_dir: Option<PathBuf>,
    /// Time between checkpoints, milliseconds.
    #[arg(long, default_value_t = 2000)]
    checkpoint_interval_ms: u64,
}

/// The reduced value of one key: its sum and how many rows it has seen.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Acc {
    k: i64,
    v: i64,
    n: i64,
    pad: String,
}

/// A prime above any key count used here: `i ↦ i·P mod N` is a permutation of `0..N`.
const SCRAMBLE: u128 = 1_000_000_007;

/// The key at position `i` of round `r`: every key once per round, in an order that differs
/// between rounds, so reads do not follow writes through the key space.
fn key_at(i: u64, r: u64, keys: u64) -> i64 {
    ((u128::from(i) * SCRAMBLE + u128::from(r) * 7_919) % u128::from(keys)) as i64
}

/// The rolling value after `n` rows of key `k` (row `r` carries `v = k + r`).
fn closed_form(k: i64, n: i64) -> i64 {
    n * k + n * (n - 1) / 2
}

fn peak_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn dir_size(path: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(path) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_size(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

/// Checkpoint figures of the run: count, duration, state size, bytes written.
fn print_checkpoints(stats: &[CheckpointStats], aborted: u64) {
    if stats.is_empty() {
        println!("checkpoints=0 aborted={aborted}");
        return;
    }
    let n = stats.len() as f64;
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let avg = stats.iter().map(|c| ms(c.duration)).sum::<f64>() / n;
    let max = stats.iter().map(|c| ms(c.duration)).fold(0.0, f64::max);
    let mib = |b: u64| b as f64 / (1 << 20) as f64;
    let written = stats.iter().map(|c| c.written.bytes_written).sum::<u64>();
    let largest = stats
        .iter()
        .map(|c| c.written.bytes_total)
        .max()
        .unwrap_or(0);
    println!(
        "checkpoints={} aborted={aborted} duration avg={avg:.0} ms max={max:.0} ms  \
         state (largest)={:.0} MiB  written in all={:.0} MiB (avg {:.0} MiB each)",
        stats.len(),
        mib(largest),
        mib(written),
        mib(written) / n
    );
}

/// Every key once per round, as batches of `(k, v, n, pad)`; restorable: its position is
/// the index of the next row over all rounds.
struct KeyRounds {
    schema: SchemaRef,
    keys: u64,
    rounds: u64,
    batch_rows: u64,
    pad: String,
}

/// One subtask of [`KeyRounds`] (it runs as one).
struct KeyRoundsSource {
    spec: Arc<KeyRoundsSpec>,
    next: u64,
}

/// What the generator needs, shared with its subtask.
struct KeyRoundsSpec {
    schema: SchemaRef,
    keys: u64,
    rounds: u64,
    batch_rows: u64,
    pad: String,
}

impl KeyRounds {
    fn spec(&self) -> Arc<KeyRoundsSpec> {
        Arc::new(KeyRoundsSpec {
            schema: self.schema.clone(),
            keys: self.keys,
            rounds: self.rounds,
            batch_rows: self.batch_rows,
            pad: self.pad.clone(),
        })
    }
}

impl SourceFactory for KeyRounds {
    fn name(&self) -> String {
        "key_rounds".into()
    }
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
    fn max_parallelism(&self) -> Option<usize> {
        Some(1)
    }
    fn create(&self, _ctx: &SourceContext) -> Result<Box<dyn Source>> {
        Ok(Box::new(KeyRoundsSource {
            spec: self.spec(),
            next: 0,
        }))
    }
    fn restore(&self, _ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        let next = match positions {
            [p] => u64::from_le_bytes(p.as_slice().try_into().map_err(|_| {
                Error::Plan(format!("key_rounds position has {} bytes, not 8", p.len()))
            })?),
            _ => {
                return Err(Error::Plan(format!(
                    "key_rounds has one subtask, the checkpoint has {}",
                    positions.len()
                )))
            }
        };
        Ok(Box::new(KeyRoundsSource {
            spec: self.spec(),
            next,
        }))
    }
}

impl Source for KeyRoundsSource {
    fn poll(&mut self) -> Result<SourcePoll> {
        let s = &self.spec;
        let total = s.keys * s.rounds;
        if self.next >= total {
            return Ok(SourcePoll::End);
        }
        let (r, i) = (self.next / s.keys, self.next % s.keys);
        let end = (i + s.batch_rows).min(s.keys);
        let k: Int64Array = (i..end).map(|j| key_at(j, r, s.keys)).collect();
        let v: Int64Array = k.values().iter().map(|&k| k + r as i64).collect();
        let n = Int64Array::from(vec![1i64; k.len()]);
        let pad = StringArray::from_iter_values(std::iter::repeat_n(s.pad.as_str(), k.len()));
        let batch = RecordBatch::try_new(
            s.schema.clone(),
            vec![Arc::new(k), Arc::new(v), Arc::new(n), Arc::new(pad)],
        )?;
        self.next += end - i;
        Ok(SourcePoll::Batch(batch))
    }
    fn position(&self) -> u64 {
        self.next
    }
    fn snapshot_position(&mut self) -> Result<Vec<u8>> {
        Ok(self.next.to_le_bytes().to_vec())
    }
}

/// Counts of the check of every output row.
#[derive(Default)]
struct Check {
    rows: AtomicU64,
    wrong: AtomicU64,
    finals: AtomicU64,
    duplicate_finals: AtomicU64,
}

fn main() -> Result<()> {
    let args = Args::parse();
    if args.keys == 0 || args.keys as u128 >= SCRAMBLE || args.rounds == 0 {
        return Err(Error::Plan(
            "--keys must be in 1..1e9 and --rounds at least 1".into(),
        ));
    }
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| std::env::temp_dir().join("millstream-big-state"));
    let budget = args.budget_mb << 20;
    let state_backend = match args.backend {
        Backend::Memory => StateBackendKind::Memory,
        Backend::Rocksdb => StateBackendKind::RocksDb(RocksDbOptions {
            dir: dir.clone(),
            memory_budget_bytes: budget,
        }),
    };
    let env = StreamExecutionEnvironment::with_config(JobConfig {
        parallelism: args.parallelism,
        state_backend,
        ..JobConfig::default()
    });
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
        Field::new("n", DataType::Int64, false),
        Field::new("pad", DataType::Utf8, false),
    ]));
    if let Some(ck) = &args.checkpoint_dir {
        env.enable_checkpointing(CheckpointConfig::new(
            ck,
            Duration::from_millis(args.checkpoint_interval_ms),
        ));
    }
    let source = KeyRounds {
        schema: schema.clone(),
        keys: args.keys,
        rounds: args.rounds,
        batch_rows: args.batch_rows.max(1),
        pad: "x".repeat(args.pad),
    };
    let input = env.from_source(Arc::new(source), None);

    let (keys, rounds) = (args.keys, args.rounds as i64);
    let check = Arc::new(Check::default());
    let seen: Arc<Vec<AtomicU64>> =
        Arc::new((0..keys.div_ceil(64)).map(|_| AtomicU64::new(0)).collect());
    let (c, s) = (check.clone(), seen.clone());
    let _ = input
        .key_by(["k"])
        .reduce(|a: Acc, b: Acc| Acc {
            k: a.k,
            v: a.v + b.v,
            n: a.n + b.n,
            pad: a.pad,
        })
        .map_batches(move |b: RecordBatch| {
            let col = |name: &str| {
                b.column_by_name(name)
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
                    .ok_or_else(|| Error::Schema(format!("reduce output has no BIGINT '{name}'")))
            };
            let (k, v, n) = (col("k")?, col("v")?, col("n")?);
            let mut wrong = 0;
            for i in 0..b.num_rows() {
                let (k, v, n) = (k.value(i), v.value(i), n.value(i));
                if v != closed_form(k, n) || !(1..=rounds).contains(&n) {
                    wrong += 1;
                }
                if n == rounds {
                    c.finals.fetch_add(1, Ordering::Relaxed);
                    let bit = 1u64 << (k % 64);
                    if s[k as usize / 64].fetch_or(bit, Ordering::Relaxed) & bit != 0 {
                        c.duplicate_finals.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
            c.rows.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            c.wrong.fetch_add(wrong, Ordering::Relaxed);
            Ok(b.slice(0, 0))
        })
        .collect();

    // The largest the RocksDB directory gets while the job runs.
    let running = Arc::new(AtomicBool::new(true));
    let disk_peak = Arc::new(AtomicU64::new(0));
    let sampler = {
        let (running, disk_peak, dir) = (running.clone(), disk_peak.clone(), dir.clone());
        std::thread::spawn(move || {
            while running.load(Ordering::Relaxed) {
                disk_peak.fetch_max(dir_size(&dir), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(500));
            }
        })
    };

    let start = Instant::now();
    let result = env.execute("big_state");
    let elapsed = start.elapsed();
    running.store(false, Ordering::Relaxed);
    let _ = sampler.join();
    let result = result?;
    if args.backend == Backend::Rocksdb {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if let Some(ck) = &args.checkpoint_dir {
        let _ = std::fs::remove_dir_all(ck);
    }

    let rows = keys * args.rounds;
    let checked = check.rows.load(Ordering::Relaxed);
    let wrong = check.wrong.load(Ordering::Relaxed);
    let finals = check.finals.load(Ordering::Relaxed);
    let duplicates = check.duplicate_finals.load(Ordering::Relaxed);
    let secs = elapsed.as_secs_f64();
    println!(
        "backend={:?} keys={keys} rounds={} rows={rows} parallelism={} budget={} MiB",
        args.backend, args.rounds, args.parallelism, args.budget_mb
    );
    println!(
        "time={secs:.1} s  rows/s={:.0}  peak RSS={:.0} MiB  RocksDB dir peak={:.0} MiB",
        rows as f64 / secs,
        peak_rss_kib() as f64 / 1024.0,
        disk_peak.load(Ordering::Relaxed) as f64 / (1 << 20) as f64
    );
    print_checkpoints(&result.checkpoints, result.checkpoints_aborted);
    println!(
        "checked {checked} rolling values: {wrong} wrong; {finals} keys final, {duplicates} twice"
    );
    if checked != rows || wrong != 0 || finals != keys || duplicates != 0 {
        return Err(Error::Internal(format!(
            "big_state: expected {rows} correct rolling values and {keys} final keys"
        )));
    }
    println!(
        "every key's final value equals {rounds}·k + {}",
        rounds * (rounds - 1) / 2
    );
    Ok(())
}
