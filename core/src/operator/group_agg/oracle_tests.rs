//! Randomized tests: the changelog applied by key equals a from-scratch computation over the
//! net multiset of input rows; a run cut by a checkpoint (also across a rescale) equals an
//! uninterrupted one.

use std::collections::{BTreeMap, BTreeSet};

use arrow::array::{Decimal128Array, Float64Array, Int64Array, StringArray};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tests::{call, changelog};
use super::*;
use crate::checkpoint::testing::{restore_equivalence, run_steps, Step};
use crate::operator::process::tests::recovery::{rows_by_key, run_rescaled, MAX_P};

/// One input row: keys `k`, `tag`; values `v`, `w`, `d` (DECIMAL(10, 2), unscaled), `f`.
#[derive(Debug, Clone)]
struct Row {
    k: i64,
    tag: &'static str,
    v: Option<i64>,
    w: Option<&'static str>,
    d: Option<i128>,
    f: Option<f64>,
}

const WORDS: [&str; 5] = ["ant", "bee", "cat", "dog", ""];

fn random_row(rng: &mut StdRng, k: i64, tag: &'static str) -> Row {
    Row {
        k,
        tag,
        v: rng.random_bool(0.8).then(|| rng.random_range(-20..20)),
        w: rng
            .random_bool(0.8)
            .then(|| WORDS[rng.random_range(0..WORDS.len())]),
        d: rng.random_bool(0.8).then(|| rng.random_range(-999..999)),
        f: rng
            .random_bool(0.8)
            .then(|| f64::from(rng.random_range(-10..10))),
    }
}

fn to_batch(rows: &[(Row, i8)], updating: bool) -> RecordBatch {
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        (
            "k",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0.k))),
        ),
        (
            "tag",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0.tag))),
        ),
        (
            "v",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.0.v))),
        ),
        (
            "w",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.0.w))),
        ),
        (
            "d",
            Arc::new(
                Decimal128Array::from_iter(rows.iter().map(|r| r.0.d))
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        (
            "f",
            Arc::new(Float64Array::from_iter(rows.iter().map(|r| r.0.f))),
        ),
    ];
    if updating {
        cols.push((
            OP_COLUMN,
            Arc::new(Int8Array::from_iter_values(rows.iter().map(|r| r.1))),
        ));
    }
    RecordBatch::try_from_iter(cols).unwrap()
}

/// Random batches (random sizes), and the live rows after each. Updating input retracts
/// random live rows with `-D`, or with `-U` followed by a `+U` of a new row of that key.
fn random_input(rng: &mut StdRng, updating: bool, batches: usize) -> Vec<(RecordBatch, Vec<Row>)> {
    let mut live: Vec<Row> = Vec::new();
    let mut out = Vec::new();
    for _ in 0..batches {
        let mut rows = Vec::new();
        for _ in 0..rng.random_range(1..25) {
            if updating && !live.is_empty() && rng.random_bool(0.4) {
                let r = live.swap_remove(rng.random_range(0..live.len()));
                if rng.random_bool(0.5) {
                    rows.push((r, DELETE));
                } else {
                    let new = random_row(rng, r.k, r.tag);
                    rows.push((r, UPDATE_BEFORE));
                    rows.push((new.clone(), UPDATE_AFTER));
                    live.push(new);
                }
            } else {
                let (k, tag) = (rng.random_range(0..6), ["x", "y"][rng.random_range(0..2)]);
                let r = random_row(rng, k, tag);
                rows.push((r.clone(), INSERT));
                live.push(r);
            }
        }
        out.push((to_batch(&rows, updating), live.clone()));
    }
    out
}

fn calls() -> Vec<GroupAggCall> {
    use AggKind::*;
    vec![
        call(Count, None, false, "n"),
        call(CountNonNull, Some(2), false, "nv"),
        call(Sum, Some(2), false, "sum_v"),
        call(Min, Some(2), false, "min_v"),
        call(Max, Some(2), false, "max_v"),
        call(Avg, Some(2), false, "avg_v"),
        call(Count, Some(2), true, "nd_v"),
        call(Sum, Some(2), true, "sumd_v"),
        call(Avg, Some(2), true, "avgd_v"),
        call(Min, Some(3), false, "min_w"),
        call(Max, Some(3), false, "max_w"),
        call(CountNonNull, Some(3), true, "nd_w"),
        call(Sum, Some(4), false, "sum_d"),
        call(Avg, Some(4), false, "avg_d"),
        call(Max, Some(4), false, "max_d"),
        call(Avg, Some(5), false, "avg_f"),
        call(Min, Some(5), false, "min_f"),
    ]
}

fn fmt(a: ArrayRef) -> String {
    ArrayFormatter::try_new(a.as_ref(), &FormatOptions::default())
        .unwrap()
        .value(0)
        .to_string()
}

fn int(v: Option<i64>) -> String {
    fmt(Arc::new(Int64Array::from(vec![v])))
}

fn dec(v: Option<i128>, scale: i8) -> String {
    fmt(Arc::new(
        Decimal128Array::from(vec![v])
            .with_precision_and_scale(38, scale)
            .unwrap(),
    ))
}

fn float(v: Option<f64>) -> String {
    fmt(Arc::new(Float64Array::from(vec![v])))
}

/// The row of one group computed from scratch over its live rows.
fn oracle_row(rows: &[&Row]) -> String {
    let vs: Vec<i64> = rows.iter().filter_map(|r| r.v).collect();
    let vset: BTreeSet<i64> = vs.iter().copied().collect();
    let ws: Vec<&str> = rows.iter().filter_map(|r| r.w).collect();
    let ds: Vec<i128> = rows.iter().filter_map(|r| r.d).collect();
    let fs: Vec<f64> = rows.iter().filter_map(|r| r.f).collect();
    let nonempty = |n: usize| n > 0;
    let sum_v = nonempty(vs.len()).then(|| vs.iter().sum::<i64>());
    let sumd_v = nonempty(vset.len()).then(|| vset.iter().sum::<i64>());
    let sum_d = nonempty(ds.len()).then(|| ds.iter().sum::<i128>());
    // AVG(DECIMAL(10, 2)) is DECIMAL(38, 6), rounded half away from zero
    let avg_d = sum_d.map(|s| {
        let (num, c) = ((s * 10_000).abs(), ds.len() as i128);
        (2 * num + c) / (2 * c) * s.signum()
    });
    let sum_f = fs.iter().sum::<f64>();
    let cols = [
        rows[0].k.to_string(),
        rows[0].tag.to_string(),
        rows.len().to_string(),
        vs.len().to_string(),
        int(sum_v),
        int(vs.iter().min().copied()),
        int(vs.iter().max().copied()),
        int(sum_v.map(|s| s / vs.len() as i64)),
        vset.len().to_string(),
        int(sumd_v),
        int(sumd_v.map(|s| s / vset.len() as i64)),
        ws.iter().min().map_or(String::new(), |s| s.to_string()),
        ws.iter().max().map_or(String::new(), |s| s.to_string()),
        ws.iter().collect::<BTreeSet<_>>().len().to_string(),
        dec(sum_d, 2),
        dec(avg_d, 6),
        dec(ds.iter().max().copied(), 2),
        float(nonempty(fs.len()).then(|| sum_f / fs.len() as f64)),
        float(fs.iter().copied().min_by(f64::total_cmp)),
    ];
    cols.join("|")
}

/// The table of final rows per key (`k|tag`) after applying `lines`, checking that every
/// retraction carries exactly the row last emitted for its key.
fn apply(table: &mut BTreeMap<String, String>, lines: &[String]) {
    for line in lines {
        let (op, row) = line.split_once(' ').unwrap();
        let key = row.splitn(3, '|').take(2).collect::<Vec<_>>().join("|");
        match op {
            "+I" | "+U" => {
                let prev = table.insert(key, row.to_string());
                assert!(prev.is_none(), "{line}: key already has {prev:?}");
            }
            _ => assert_eq!(table.remove(&key).as_deref(), Some(row), "{line}"),
        }
    }
}

#[test]
fn changelog_matches_recomputation() {
    for seed in 0..12u64 {
        let updating = seed % 3 != 0;
        let mut rng = StdRng::seed_from_u64(seed);
        let mut op = GroupAggregate::new(vec![0, 1], calls(), updating).unwrap();
        let mut ctx = OpContext::new(0, 1, MAX_P);
        let mut table = BTreeMap::new();
        for (i, (batch, live)) in random_input(&mut rng, updating, 30).into_iter().enumerate() {
            let mut out = Output::new();
            op.on_batch(0, batch, &mut ctx, &mut out).unwrap();
            apply(&mut table, &changelog(out.items()));
            let mut groups: BTreeMap<(i64, &str), Vec<&Row>> = BTreeMap::new();
            for r in &live {
                groups.entry((r.k, r.tag)).or_default().push(r);
            }
            let expected: BTreeMap<String, String> = groups
                .values()
                .map(|rows| {
                    let row = oracle_row(rows);
                    let key = row.splitn(3, '|').take(2).collect::<Vec<_>>().join("|");
                    (key, row)
                })
                .collect();
            assert_eq!(table, expected, "seed {seed} batch {i}");
        }
    }
}

/// Random steps keyed by `k` only (so batches can be routed by it), with watermarks.
fn steps(seed: u64, updating: bool) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut steps = Vec::new();
    for (i, (b, _)) in random_input(&mut rng, updating, 10).into_iter().enumerate() {
        steps.push(Step::Batch(0, b));
        if rng.random_bool(0.3) {
            steps.push(Step::Watermark(i as i64));
        }
    }
    steps.push(Step::End);
    steps
}

fn make(updating: bool) -> Result<Box<dyn Operator>> {
    Ok(Box::new(GroupAggregate::new(vec![0], calls(), updating)?))
}

#[test]
fn restore_continues_exactly_at_every_cut() {
    for seed in 0..4u64 {
        for updating in [false, true] {
            let steps = steps(seed, updating);
            for cut in 0..=steps.len() {
                restore_equivalence(&|| make(updating), &steps, cut, 1, MAX_P)
                    .unwrap_or_else(|e| panic!("seed {seed} updating {updating} cut {cut}: {e}"));
            }
        }
    }
}

#[test]
fn restore_rescales_by_key_group() {
    for seed in 10..14u64 {
        for updating in [false, true] {
            let steps = steps(seed, updating);
            let mut op = make(updating).unwrap();
            let mut ctx = OpContext::new(0, 1, MAX_P);
            let expected = rows_by_key(&run_steps(op.as_mut(), &mut ctx, &steps).unwrap(), "k");
            assert!(!expected.is_empty());
            let mk = |_: usize, _: usize| make(updating);
            let mut rng = StdRng::seed_from_u64(seed);
            let cut = rng.random_range(1..steps.len());
            for (from, to) in [(2, 1), (1, 2), (2, 3)] {
                let got = run_rescaled(&mk, &steps, "k", cut, from, to).unwrap();
                assert_eq!(
                    rows_by_key(&got, "k"),
                    expected,
                    "seed {seed} updating {updating} cut {cut}: {from} -> {to}"
                );
            }
        }
    }
}

#[test]
fn snapshot_before_any_batch_after_restore_keeps_state() {
    let steps = steps(7, true);
    let mut a = make(true).unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    run_steps(a.as_mut(), &mut ctx, &steps[..steps.len() / 2]).unwrap();
    let first = a.snapshot(1, &mut ctx).unwrap();
    let mut b = make(true).unwrap();
    b.restore(first.clone(), &mut ctx).unwrap();
    let second = b.snapshot(2, &mut ctx).unwrap();
    let shape = |s: &OperatorState| {
        s.tables
            .iter()
            .map(|t| (t.name.clone(), t.num_rows()))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(shape(&second), shape(&first));
    assert!(shape(&first).get(GROUP_TABLE).is_some_and(|&n| n > 0));
    assert!(shape(&first).keys().any(|t| t.starts_with(VALUES_TABLE)));
}
