//! Grouping, aggregation and window kernels, each group against a memcpy of
//! the same bytes, so results read as ratios from one run.
//!
//! `cargo bench --bench kernels_agg`

use std::hint::black_box;
use std::sync::Arc;

use arrow::array::{ArrayRef, BooleanArray, Int64Array, StringArray};
use arrow::datatypes::DataType;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};
use millstream_kernels::agg::{create_accumulator, AggKind};
use millstream_kernels::group::GroupIndexer;
use millstream_kernels::window::{hop_windows, min_max_i64, tumble_start};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const ROWS: usize = 64 * 1024;

/// `ROWS` keys drawn uniformly from `0..distinct`.
fn keys(seed: u64, distinct: i64) -> Vec<i64> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..ROWS).map(|_| rng.random_range(0..distinct)).collect()
}

/// Copies `src` into a reused buffer: the bandwidth floor for a kernel that
/// reads the same bytes.
fn memcpy_bench<T: Copy + Default>(group: &mut BenchmarkGroup<'_, WallTime>, src: &[T]) {
    let mut dst = vec![T::default(); src.len()];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(src));
            black_box(&dst);
        })
    });
}

fn bench_intern(c: &mut Criterion) {
    let mut group = c.benchmark_group("intern i64 64K");
    group.throughput(Throughput::Elements(ROWS as u64));
    memcpy_bench(&mut group, &keys(0, 1000));
    for distinct in [1_000, 100_000] {
        let values = keys(1, distinct);
        let array: ArrayRef = Arc::new(Int64Array::from(values));
        // steady state: every key already has a group, as in a long-running job
        let mut indexer = GroupIndexer::new(&[DataType::Int64]).unwrap();
        let all: ArrayRef = Arc::new(Int64Array::from_iter_values(0..distinct));
        let mut ids = Vec::with_capacity(ROWS);
        indexer.intern(&[all], &mut ids).unwrap();
        group.bench_function(format!("GroupIndexer::intern i64 {distinct}-keys"), |b| {
            b.iter(|| {
                indexer
                    .intern(black_box(std::slice::from_ref(&array)), &mut ids)
                    .unwrap()
            })
        });
    }
    // the general (row-format) path, for comparison
    let ints = keys(2, 1000);
    let names: StringArray = ints
        .iter()
        .map(|k| Some(format!("name-{}", k % 50)))
        .collect();
    let composite: Vec<ArrayRef> = vec![Arc::new(Int64Array::from(ints)), Arc::new(names)];
    let mut indexer = GroupIndexer::new(&[DataType::Int64, DataType::Utf8]).unwrap();
    let mut ids = Vec::with_capacity(ROWS);
    indexer.intern(&composite, &mut ids).unwrap();
    group.bench_function("GroupIndexer::intern (i64,utf8) 1000-keys", |b| {
        b.iter(|| indexer.intern(black_box(&composite), &mut ids).unwrap())
    });
    group.finish();
}

fn bench_update(c: &mut Criterion) {
    const GROUPS: i64 = 1000;
    let values = keys(3, 1_000_000);
    let array: ArrayRef = Arc::new(Int64Array::from(values.clone()));
    let nullable: ArrayRef = Arc::new(
        values
            .iter()
            .enumerate()
            .map(|(i, &v)| (i % 10 != 0).then_some(v))
            .collect::<Int64Array>(),
    );
    let filter: BooleanArray = (0..ROWS).map(|i| Some(i % 2 == 0)).collect();
    let group_ids: Vec<u32> = keys(4, GROUPS).iter().map(|&k| k as u32).collect();
    let total = GROUPS as usize;

    let mut group = c.benchmark_group("update i64 64K 1000-groups");
    group.throughput(Throughput::Elements(ROWS as u64));
    // values and group ids are what an update reads
    let bytes: Vec<i64> = values.iter().chain(&values[..ROWS / 2]).copied().collect();
    memcpy_bench(&mut group, &bytes);
    let cases: [(&str, AggKind, Option<&ArrayRef>, Option<&BooleanArray>); 6] = [
        ("Count i64 no-nulls", AggKind::Count, None, None),
        ("Sum i64 no-nulls", AggKind::Sum, Some(&array), None),
        ("Sum i64 10%-nulls", AggKind::Sum, Some(&nullable), None),
        (
            "Sum i64 filter-50%",
            AggKind::Sum,
            Some(&array),
            Some(&filter),
        ),
        ("Max i64 no-nulls", AggKind::Max, Some(&array), None),
        ("Avg i64 no-nulls", AggKind::Avg, Some(&array), None),
    ];
    for (name, kind, input, opt_filter) in cases {
        let mut acc = create_accumulator(kind, Some(&DataType::Int64)).unwrap();
        group.bench_function(format!("update_batch {name}"), |b| {
            b.iter(|| {
                acc.update_batch(input, black_box(&group_ids), opt_filter, total)
                    .unwrap()
            })
        });
    }
    group.finish();
}

fn bench_window(c: &mut Criterion) {
    let mut rng = StdRng::seed_from_u64(5);
    // ~1 event per ms, slightly out of order, as from a source
    let ts: Vec<i64> = (0..ROWS as i64)
        .map(|i| 1_700_000_000_000 + i + rng.random_range(-50..50))
        .collect();
    let mut starts = Vec::with_capacity(ROWS);
    let mut rows = Vec::with_capacity(ROWS * 2);
    let mut hop_starts = Vec::with_capacity(ROWS * 2);

    let mut group = c.benchmark_group("window ts 64K");
    group.throughput(Throughput::Elements(ROWS as u64));
    memcpy_bench(&mut group, &ts);
    group.bench_function("tumble_start i64 10s", |b| {
        b.iter(|| tumble_start(black_box(&ts), 10_000, 0, &mut starts))
    });
    group.bench_function("min_max_i64 i64", |b| {
        b.iter(|| min_max_i64(black_box(&ts)))
    });
    group.bench_function("hop_windows i64 10s/5s", |b| {
        b.iter(|| hop_windows(black_box(&ts), 10_000, 5_000, 0, &mut rows, &mut hop_starts))
    });
    group.finish();
}

criterion_group!(benches, bench_intern, bench_update, bench_window);
criterion_main!(benches);
