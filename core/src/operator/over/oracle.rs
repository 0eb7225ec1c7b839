//! A from-scratch reference for the OVER aggregate: random inputs (batch boundaries,
//! out-of-order and late rows, watermarks) and a naive recomputation that sorts every
//! partition's accepted rows and evaluates each frame directly; plus the test that the
//! operator matches it for every frame kind and partitioning.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int32Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray, UInt32Array,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int32Type, Int64Type, Schema, TimeUnit, UInt64Type,
};
use millstream_kernels::agg::AggKind;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{OverAggregate, OverCall, OverFrame};
use crate::checkpoint::testing::{run_steps, Step as CStep};
use crate::operator::{OpContext, OutItem};

/// One input row.
#[derive(Debug, Clone)]
pub(super) struct Ev {
    pub(super) id: i64,
    pub(super) ts: i64,
    pub(super) k: i64,
    pub(super) g: &'static str,
    pub(super) v: Option<i64>,
    pub(super) f: Option<f64>,
    pub(super) s: Option<String>,
    pub(super) u: Option<u32>,
    pub(super) i: Option<i32>,
}

/// One input event.
#[derive(Debug, Clone)]
pub(super) enum Step {
    Batch(Vec<Ev>),
    Wm(i64),
}

/// Input columns: id, ts, k, g, v, f, s, u, i.
pub(super) fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("k", DataType::Int64, false),
        Field::new("g", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
        Field::new("f", DataType::Float64, true),
        Field::new("s", DataType::Utf8, true),
        Field::new("u", DataType::UInt32, true),
        Field::new("i", DataType::Int32, true),
    ]))
}

pub(super) const TS: usize = 1;
pub(super) const K: usize = 2;
pub(super) const G: usize = 3;

pub(super) fn to_batch(evs: &[Ev]) -> RecordBatch {
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(evs.iter().map(|e| e.id))),
        Arc::new(TimestampMillisecondArray::from_iter_values(
            evs.iter().map(|e| e.ts),
        )),
        Arc::new(Int64Array::from_iter_values(evs.iter().map(|e| e.k))),
        Arc::new(StringArray::from_iter_values(evs.iter().map(|e| e.g))),
        Arc::new(Int64Array::from_iter(evs.iter().map(|e| e.v))),
        Arc::new(Float64Array::from_iter(evs.iter().map(|e| e.f))),
        Arc::new(StringArray::from_iter(evs.iter().map(|e| e.s.clone()))),
        Arc::new(UInt32Array::from_iter(evs.iter().map(|e| e.u))),
        Arc::new(Int32Array::from_iter(evs.iter().map(|e| e.i))),
    ];
    RecordBatch::try_new(schema(), columns).expect("oracle batch")
}

/// Random steps: a clock moving forward, rows around it (some out of order, some late),
/// watermarks trailing it, batches of 0 to 7 rows.
pub(super) fn generate(seed: u64, steps: usize) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut out = Vec::new();
    let mut clock = 0i64;
    let mut wm = i64::MIN;
    let mut id = 0;
    let words = ["ant", "bee", "cat", "dog", "eel"];
    for _ in 0..steps {
        if rng.random_bool(0.35) {
            let w = clock - rng.random_range(0..6);
            if w > wm || rng.random_bool(0.2) {
                wm = wm.max(w);
                out.push(Step::Wm(w));
            }
            continue;
        }
        let mut evs = Vec::new();
        for _ in 0..rng.random_range(0..8) {
            clock += rng.random_range(0..3);
            let maybe = |rng: &mut StdRng| rng.random_bool(0.85);
            evs.push(Ev {
                id,
                ts: clock - rng.random_range(0..9),
                k: rng.random_range(0..4),
                g: if rng.random_bool(0.5) { "x" } else { "y" },
                v: maybe(&mut rng).then(|| rng.random_range(-50..50)),
                f: maybe(&mut rng).then(|| f64::from(rng.random_range(-20..20))),
                s: maybe(&mut rng).then(|| words[rng.random_range(0..words.len())].to_string()),
                u: maybe(&mut rng).then(|| rng.random_range(0..1000)),
                i: maybe(&mut rng).then(|| rng.random_range(-9..9)),
            });
            id += 1;
        }
        out.push(Step::Batch(evs));
    }
    out
}

/// The aggregates under test: every kind, over several input types.
pub(super) fn calls() -> Vec<OverCall> {
    let c = |kind, input: Option<usize>, name: &str| OverCall {
        kind,
        input,
        name: name.into(),
    };
    vec![
        c(AggKind::Count, None, "cnt"),
        c(AggKind::CountNonNull, Some(4), "cnt_v"),
        c(AggKind::Sum, Some(4), "sum_v"),
        c(AggKind::Avg, Some(4), "avg_v"),
        c(AggKind::Min, Some(4), "min_v"),
        c(AggKind::Max, Some(4), "max_v"),
        c(AggKind::Sum, Some(5), "sum_f"),
        c(AggKind::Avg, Some(5), "avg_f"),
        c(AggKind::Min, Some(5), "min_f"),
        c(AggKind::Min, Some(6), "min_s"),
        c(AggKind::Max, Some(6), "max_s"),
        c(AggKind::First, Some(4), "first_v"),
        c(AggKind::Last, Some(6), "last_s"),
        c(AggKind::Sum, Some(7), "sum_u"),
        c(AggKind::Avg, Some(8), "avg_i"),
        c(AggKind::Max, Some(8), "max_i"),
    ]
}

/// Every frame kind, with small and zero bounds.
pub(super) fn frames() -> Vec<OverFrame> {
    vec![
        OverFrame::Rows { preceding: Some(0) },
        OverFrame::Rows { preceding: Some(2) },
        OverFrame::Rows { preceding: Some(5) },
        OverFrame::Rows { preceding: None },
        OverFrame::Range {
            preceding_ms: Some(0),
        },
        OverFrame::Range {
            preceding_ms: Some(3),
        },
        OverFrame::Range {
            preceding_ms: Some(10),
        },
        OverFrame::Range { preceding_ms: None },
    ]
}

/// A result value.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Null,
    I(i64),
    U(u64),
    F(f64),
    S(String),
}

/// The partition key of a row under partition columns `partition` (of `K`, `G`).
fn key(e: &Ev, partition: &[usize]) -> (Option<i64>, Option<&'static str>) {
    (
        partition.contains(&K).then_some(e.k),
        partition.contains(&G).then_some(e.g),
    )
}

/// The aggregates of `calls()` over the frame `rows` (in partition order).
fn aggregate(rows: &[&Ev]) -> Vec<Val> {
    fn or_null<T>(v: Option<T>, f: impl Fn(T) -> Val) -> Val {
        v.map_or(Val::Null, f)
    }
    let v: Vec<i64> = rows.iter().filter_map(|e| e.v).collect();
    let f: Vec<f64> = rows.iter().filter_map(|e| e.f).collect();
    let s: Vec<&str> = rows.iter().filter_map(|e| e.s.as_deref()).collect();
    let u: Vec<u32> = rows.iter().filter_map(|e| e.u).collect();
    let i: Vec<i32> = rows.iter().filter_map(|e| e.i).collect();
    let sum_v = v.iter().fold(0i64, |a, &b| a.wrapping_add(b));
    let sum_f: f64 = f.iter().sum();
    let sum_i: i64 = i.iter().map(|&x| i64::from(x)).sum();
    vec![
        Val::I(rows.len() as i64),
        Val::I(v.len() as i64),
        or_null((!v.is_empty()).then_some(sum_v), Val::I),
        or_null((!v.is_empty()).then(|| sum_v / v.len() as i64), Val::I),
        or_null(v.iter().min().copied(), Val::I),
        or_null(v.iter().max().copied(), Val::I),
        or_null((!f.is_empty()).then_some(sum_f), Val::F),
        or_null((!f.is_empty()).then(|| sum_f / f.len() as f64), Val::F),
        or_null(f.iter().copied().reduce(f64::min), Val::F),
        or_null(s.iter().min().map(|x| x.to_string()), Val::S),
        or_null(s.iter().max().map(|x| x.to_string()), Val::S),
        or_null(v.first().copied(), Val::I),
        or_null(s.last().map(|x| x.to_string()), Val::S),
        or_null(
            (!u.is_empty()).then(|| u.iter().map(|&x| u64::from(x)).sum()),
            Val::U,
        ),
        or_null(
            (!i.is_empty()).then(|| i64::from((sum_i / i.len() as i64) as i32)),
            Val::I,
        ),
        or_null(i.iter().max().map(|&x| i64::from(x)), Val::I),
    ]
}

/// Expected output, computed from scratch: `(id, aggregate values)` per output row in
/// emission order (by watermark, then `(ts, arrival)`), and the number of late rows.
pub(super) fn naive(
    steps: &[Step],
    partition: &[usize],
    frame: OverFrame,
) -> (Vec<(i64, Vec<Val>)>, u64) {
    let mut wm = i64::MIN;
    let mut late = 0u64;
    let mut pending: Vec<Ev> = Vec::new();
    let mut accepted: Vec<Ev> = Vec::new();
    let mut groups: Vec<Vec<Ev>> = Vec::new();
    for s in steps {
        match s {
            Step::Batch(evs) => {
                for e in evs {
                    if e.ts <= wm {
                        late += 1;
                    } else {
                        pending.push(e.clone());
                        accepted.push(e.clone());
                    }
                }
            }
            Step::Wm(w) => {
                let (ready, rest): (Vec<Ev>, Vec<Ev>) = pending.drain(..).partition(|e| e.ts <= *w);
                pending = rest;
                if !ready.is_empty() {
                    groups.push(ready);
                }
                wm = wm.max(*w);
            }
        }
    }
    if !pending.is_empty() {
        groups.push(pending);
    }
    // Each row's frame within its partition's whole history, sorted by (ts, arrival).
    let mut results: std::collections::HashMap<i64, Vec<Val>> = Default::default();
    let mut keys: Vec<_> = accepted.iter().map(|e| key(e, partition)).collect();
    keys.sort();
    keys.dedup();
    for k in keys {
        let mut seq: Vec<&Ev> = accepted.iter().filter(|e| key(e, partition) == k).collect();
        seq.sort_by_key(|e| e.ts);
        for (i, e) in seq.iter().enumerate() {
            let frame_rows: Vec<&Ev> = match frame {
                OverFrame::Rows { preceding } => {
                    let from = preceding.map_or(0, |n| i.saturating_sub(n as usize));
                    seq[from..=i].to_vec()
                }
                OverFrame::Range { preceding_ms } => seq
                    .iter()
                    .filter(|x| x.ts <= e.ts && preceding_ms.is_none_or(|d| x.ts >= e.ts - d))
                    .copied()
                    .collect(),
            };
            results.insert(e.id, aggregate(&frame_rows));
        }
    }
    let mut out = Vec::new();
    for mut g in groups {
        g.sort_by_key(|e| e.ts);
        for e in g {
            out.push((e.id, results[&e.id].clone()));
        }
    }
    (out, late)
}

/// The operator's output as `(id, aggregate values)` rows (main port batches).
pub(super) fn actual(items: &[OutItem]) -> Vec<(i64, Vec<Val>)> {
    let mut out = Vec::new();
    for item in items {
        let OutItem::Batch(0, b) = item else { continue };
        let ids = b.column(0).as_primitive::<Int64Type>();
        for r in 0..b.num_rows() {
            let vals = b.columns()[9..].iter().map(|c| value(c, r)).collect();
            out.push((ids.value(r), vals));
        }
    }
    out
}

/// Row `r` of `c` as a [`Val`].
pub(super) fn value(c: &ArrayRef, r: usize) -> Val {
    if c.is_null(r) {
        return Val::Null;
    }
    match c.data_type() {
        DataType::Int64 => Val::I(c.as_primitive::<Int64Type>().value(r)),
        DataType::Int32 => Val::I(i64::from(c.as_primitive::<Int32Type>().value(r))),
        DataType::UInt64 => Val::U(c.as_primitive::<UInt64Type>().value(r)),
        DataType::Float64 => Val::F(c.as_primitive::<Float64Type>().value(r)),
        DataType::Utf8 => Val::S(c.as_string::<i32>().value(r).to_string()),
        other => panic!("unexpected result type {other}"),
    }
}

/// The steps as harness steps, ending with the end of input.
pub(super) fn harness_steps(steps: &[Step]) -> Vec<CStep> {
    let mut out: Vec<CStep> = steps
        .iter()
        .map(|s| match s {
            Step::Batch(evs) => CStep::Batch(0, to_batch(evs)),
            Step::Wm(w) => CStep::Watermark(*w),
        })
        .collect();
    out.push(CStep::End);
    out
}

/// Partitionings under test: by `k`, by `(k, g)`, and none.
pub(super) fn partitionings() -> Vec<Vec<usize>> {
    vec![vec![K], vec![K, G], vec![]]
}

pub(super) fn make(partition: &[usize], frame: OverFrame) -> OverAggregate {
    OverAggregate::new(partition.to_vec(), TS, frame, calls()).expect("valid over aggregate")
}

#[test]
fn matches_naive_recomputation() {
    let mut rows = 0;
    for frame in frames() {
        for partition in partitionings() {
            for seed in 0..6u64 {
                let steps = generate(seed * 7 + 1, 60);
                let (expected, late) = naive(&steps, &partition, frame);
                let mut op = make(&partition, frame);
                let mut ctx = OpContext::new(0, 1, 128);
                let items = run_steps(&mut op, &mut ctx, &harness_steps(&steps)).unwrap();
                let got = actual(&items);
                assert_eq!(
                    got, expected,
                    "frame {frame:?} partition {partition:?} seed {seed}"
                );
                assert_eq!(ctx.metrics.late_dropped, late, "late rows, seed {seed}");
                rows += got.len();
            }
        }
    }
    assert!(rows > 5000, "only {rows} result rows");
}

#[test]
fn watermarks_follow_their_results() {
    let steps = generate(3, 80);
    let mut op = make(&[K], OverFrame::Rows { preceding: Some(2) });
    let items = run_steps(
        &mut op,
        &mut OpContext::new(0, 1, 128),
        &harness_steps(&steps),
    )
    .unwrap();
    // Every watermark is forwarded once, after the rows it released: no row comes out
    // behind a watermark already forwarded.
    let wms = steps.iter().filter(|s| matches!(s, Step::Wm(_))).count();
    let seen = items
        .iter()
        .filter(|i| matches!(i, OutItem::Watermark(_)))
        .count();
    assert_eq!(seen, wms);
    let mut last_wm = i64::MIN;
    for i in &items {
        match i {
            OutItem::Watermark(w) => last_wm = last_wm.max(w.0),
            OutItem::Batch(_, b) => {
                let ts = b
                    .column(TS)
                    .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
                assert!(
                    ts.values().iter().all(|&t| t > last_wm),
                    "row behind a watermark"
                );
            }
            OutItem::Idle => {}
        }
    }
}
