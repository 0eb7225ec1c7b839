//! Hashing, partitioning and text classification kernels, each group against a memcpy of
//! the same bytes, so results read as ratios from one run.
//!
//! `cargo bench --bench kernels_hash`

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, Int64Array, RecordBatch, StringArray, StringViewArray};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use millstream_kernels::hash::{hash_columns, hash_i64};
use millstream_kernels::partition::{assign_targets, split_batch, DEFAULT_MAX_PARALLELISM};
use millstream_kernels::text::{classify_block, classify_block_scalar, BLOCK};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ROWS: usize = 64 * 1024;

fn i64_values(seed: u64) -> Vec<i64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..ROWS).map(|_| rng.random_range(0..1_000_000)).collect()
}

/// Strings of 4 to 20 characters (Nexmark-like names and URLs are short).
fn strings(seed: u64) -> StringArray {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..ROWS)
        .map(|_| {
            let len = rng.random_range(4..=20);
            Some(
                (0..len)
                    .map(|_| rng.random_range(b'a'..=b'z') as char)
                    .collect::<String>(),
            )
        })
        .collect()
}

/// Copies `src` into a reused buffer: the bandwidth floor for a kernel that
/// reads the same bytes.
fn memcpy_bench<T: Copy + Default>(
    c: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    src: &[T],
) {
    let mut dst = vec![T::default(); src.len()];
    c.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(src));
            black_box(&dst);
        })
    });
}

fn bench_hash_i64(c: &mut Criterion) {
    let values = i64_values(1);
    let array: ArrayRef = Arc::new(Int64Array::from(values.clone()));
    let nullable: ArrayRef = Arc::new(
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i % 10 != 0).then_some(v))
            .collect::<Int64Array>(),
    );
    let mut out = Vec::with_capacity(ROWS);

    let mut group = c.benchmark_group("hash i64 64K");
    group.throughput(Throughput::Elements(ROWS as u64));
    memcpy_bench(&mut group, &values);
    group.bench_function("hash_i64 i64 no-nulls", |b| {
        b.iter(|| hash_i64(black_box(&values), &mut out))
    });
    group.bench_function("hash_columns i64 no-nulls", |b| {
        b.iter(|| hash_columns(black_box(std::slice::from_ref(&array)), &mut out).unwrap())
    });
    group.bench_function("hash_columns i64 10%-nulls", |b| {
        b.iter(|| hash_columns(black_box(std::slice::from_ref(&nullable)), &mut out).unwrap())
    });
    group.finish();
}

fn bench_hash_utf8(c: &mut Criterion) {
    let strings = strings(2);
    // the bytes a hash of this column reads: offsets and characters
    let bytes: Vec<u8> = strings
        .offsets()
        .inner()
        .inner()
        .as_slice()
        .iter()
        .chain(strings.values().as_slice())
        .copied()
        .collect();
    let utf8: ArrayRef = Arc::new(strings.clone());
    let view: ArrayRef = Arc::new(strings.iter().collect::<StringViewArray>());
    let ints: ArrayRef = Arc::new(Int64Array::from(i64_values(3)));
    let composite = vec![ints, utf8.clone()];
    let mut out = Vec::with_capacity(ROWS);

    let mut group = c.benchmark_group("hash utf8 64K");
    group.throughput(Throughput::Elements(ROWS as u64));
    memcpy_bench(&mut group, &bytes);
    group.bench_function("hash_columns utf8 4-20B", |b| {
        b.iter(|| hash_columns(black_box(std::slice::from_ref(&utf8)), &mut out).unwrap())
    });
    group.bench_function("hash_columns utf8view 4-20B", |b| {
        b.iter(|| hash_columns(black_box(std::slice::from_ref(&view)), &mut out).unwrap())
    });
    group.bench_function("hash_columns (i64,utf8) 4-20B", |b| {
        b.iter(|| hash_columns(black_box(&composite), &mut out).unwrap())
    });
    group.finish();
}

fn bench_partition(c: &mut Criterion) {
    let values = i64_values(4);
    let keys: ArrayRef = Arc::new(Int64Array::from(values.clone()));
    let payload: ArrayRef = Arc::new(Int64Array::from(i64_values(5)));
    let batch = RecordBatch::try_from_iter([("k", keys), ("v", payload)]).unwrap();
    let bytes: Vec<i64> = values.iter().chain(&values).copied().collect();
    let mut hashes = Vec::with_capacity(ROWS);
    hash_i64(&values, &mut hashes);
    let mut targets = Vec::with_capacity(ROWS);

    let mut group = c.benchmark_group("partition 64K");
    group.throughput(Throughput::Elements(ROWS as u64));
    memcpy_bench(&mut group, &bytes);
    group.bench_function("assign_targets u64 p=4", |b| {
        b.iter(|| assign_targets(black_box(&hashes), DEFAULT_MAX_PARALLELISM, 4, &mut targets))
    });
    assign_targets(&hashes, DEFAULT_MAX_PARALLELISM, 4, &mut targets);
    group.bench_function("split_batch (i64,i64) p=4", |b| {
        b.iter(|| {
            let parts = split_batch(black_box(&batch), &targets, 4).unwrap();
            black_box(parts.iter().flatten().map(|p| p.num_rows()).sum::<usize>())
        })
    });
    group.finish();
    black_box(batch.column(0).len());
}

/// The CSV split path's byte classification over 64 KiB of Nexmark-like bid lines: the SSE2
/// kernel against its scalar oracle (the gain that justifies the `unsafe` load).
fn bench_classify(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(5);
    let mut text = Vec::with_capacity(ROWS + 200);
    while text.len() < ROWS {
        let extra: String = (0..rng.random_range(60..90))
            .map(|_| rng.random_range(b'a'..=b'z') as char)
            .collect();
        text.extend_from_slice(
            format!(
                "{},{},{},Google,https://www.nexmark.com/a/b/c/item.htm?query=1,\
                 2015-07-15 00:00:00.{:03},{extra}\n",
                rng.random_range(1000..2000),
                rng.random_range(1000..5000),
                rng.random_range(1..100_000_000),
                rng.random_range(0..1000)
            )
            .as_bytes(),
        );
    }
    text.truncate(ROWS);
    let blocks: Vec<[u8; BLOCK]> = text
        .chunks_exact(BLOCK)
        .map(|b| b.try_into().expect("chunks_exact gives whole blocks"))
        .collect();
    let mut group = c.benchmark_group("classify_block 64K");
    group.throughput(Throughput::Bytes(ROWS as u64));
    memcpy_bench(&mut group, &text);
    let blocks = &blocks;
    let run = |f: fn(&[u8; BLOCK], u8) -> (u64, u64)| {
        move || {
            blocks
                .iter()
                .fold(0u32, |n, b| n + f(black_box(b), b',').0.count_ones())
        }
    };
    group.bench_function("classify_block simd", |b| b.iter(run(classify_block)));
    group.bench_function("classify_block scalar", |b| {
        b.iter(run(classify_block_scalar))
    });
    group.finish();
}

criterion_group!(
    benches,
    bench_hash_i64,
    bench_hash_utf8,
    bench_partition,
    bench_classify
);
criterion_main!(benches);
