//! The RocksDB state backend under a whole job, CI-sized: a rolling sum per key over 200k
//! keys with an 8 MiB budget per instance, so the state is flushed to SST files on disk;
//! every rolling value is checked against its closed form. `examples/big_state.rs` is the
//! full-size version (tens of millions of keys).

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use arrow::array::{Array, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Schema};
use millstream_core::api::StreamExecutionEnvironment;
use millstream_core::runtime::JobConfig;
use millstream_core::state::{RocksDbOptions, StateBackendKind};
use millstream_core::{Error, Result};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Acc {
    k: i64,
    v: i64,
    n: i64,
}

fn has_sst(path: &Path) -> bool {
    std::fs::read_dir(path).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            let p = e.path();
            if p.is_dir() {
                has_sst(&p)
            } else {
                p.extension().is_some_and(|x| x == "sst")
            }
        })
    })
}

struct Outcome {
    rows: u64,
    wrong: u64,
    finals: u64,
    sst_seen: bool,
}

/// Run the rolling sum over `keys` keys seen `rounds` times (row `r` of key `k` carries
/// `v = k + r`), checking every output row in place.
fn run(kind: StateBackendKind, keys: u64, rounds: u64, parallelism: usize) -> Result<Outcome> {
    let dir = match &kind {
        StateBackendKind::RocksDb(o) => Some(o.dir.clone()),
        StateBackendKind::Memory => None,
    };
    let env = StreamExecutionEnvironment::with_config(JobConfig {
        parallelism,
        state_backend: kind,
        ..JobConfig::default()
    });
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
        Field::new("n", DataType::Int64, false),
    ]));
    let (tx, input) = env.from_channel(schema.clone());
    let (rows, wrong, finals) = (
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
        Arc::new(AtomicU64::new(0)),
    );
    let sst_seen = Arc::new(AtomicBool::new(false));
    let (r, w, f, s) = (
        rows.clone(),
        wrong.clone(),
        finals.clone(),
        sst_seen.clone(),
    );
    let last = rounds as i64;
    let _ = input
        .key_by(["k"])
        .reduce(|a: Acc, b: Acc| Acc {
            k: a.k,
            v: a.v + b.v,
            n: a.n + b.n,
        })
        .map_batches(move |b: RecordBatch| {
            let col = |name: &str| {
                b.column_by_name(name)
                    .and_then(|c| c.as_any().downcast_ref::<Int64Array>().cloned())
                    .ok_or_else(|| Error::Schema(format!("no BIGINT '{name}'")))
            };
            let (k, v, n) = (col("k")?, col("v")?, col("n")?);
            for i in 0..b.num_rows() {
                let (k, v, n) = (k.value(i), v.value(i), n.value(i));
                if v != n * k + n * (n - 1) / 2 {
                    w.fetch_add(1, Ordering::Relaxed);
                }
                if n == last {
                    f.fetch_add(1, Ordering::Relaxed);
                }
            }
            r.fetch_add(b.num_rows() as u64, Ordering::Relaxed);
            // The instances live while the job runs: their flushed state is on disk.
            if let Some(dir) = &dir {
                if !s.load(Ordering::Relaxed) && has_sst(dir) {
                    s.store(true, Ordering::Relaxed);
                }
            }
            Ok(b.slice(0, 0))
        })
        .collect();
    let generator = std::thread::spawn(move || {
        for r in 0..rounds {
            // A different order each round: i ↦ i·7919 + r mod keys (7919 is prime).
            let order: Vec<i64> = (0..keys)
                .map(|i| ((i * 7_919 + r * 13) % keys) as i64)
                .collect();
            for chunk in order.chunks(4096) {
                let k = Int64Array::from(chunk.to_vec());
                let v: Int64Array = chunk.iter().map(|&k| k + r as i64).collect();
                let n = Int64Array::from(vec![1i64; chunk.len()]);
                let batch = RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(k), Arc::new(v), Arc::new(n)],
                )
                .expect("columns match the schema");
                if tx.send(batch).is_err() {
                    return;
                }
            }
        }
    });
    env.execute("rocksdb_state")?;
    generator.join().expect("generator");
    Ok(Outcome {
        rows: rows.load(Ordering::Relaxed),
        wrong: wrong.load(Ordering::Relaxed),
        finals: finals.load(Ordering::Relaxed),
        sst_seen: sst_seen.load(Ordering::Relaxed),
    })
}

#[test]
fn rolling_sum_over_200k_keys_spills_to_disk() {
    let dir = tempfile::tempdir().unwrap();
    let keys = 200_000;
    let kind = StateBackendKind::RocksDb(RocksDbOptions {
        dir: dir.path().to_path_buf(),
        memory_budget_bytes: 8 << 20,
    });
    let out = run(kind, keys, 3, 2).unwrap();
    assert_eq!(out.rows, 3 * keys, "one rolling value per input row");
    assert_eq!(out.wrong, 0, "every rolling value equals the closed form");
    assert_eq!(out.finals, keys, "every key reached its final value");
    assert!(
        out.sst_seen,
        "state was flushed to SST files under the budget"
    );
    // Instances remove their directories when the job ends.
    assert!(!has_sst(dir.path()));
}

#[test]
fn memory_backend_gives_the_same_results() {
    let keys = 20_000;
    let out = run(StateBackendKind::Memory, keys, 3, 2).unwrap();
    assert_eq!((out.rows, out.wrong, out.finals), (3 * keys, 0, keys));
}
