//! Join tests: known answers, and brute-force nested-loop oracles over random inputs with
//! random batch boundaries, interleavings, null keys, out-of-order rows and watermarks.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{Int64Type, TimestampMillisecondType};
use arrow::record_batch::RecordBatch;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::operator::{OpContext, Operator, OutItem, Output};
use crate::time::Watermark;
use crate::window::WindowAssigner;

/// One generated row: key (None = null), event time, unique id.
#[derive(Debug, Clone, Copy)]
pub(super) struct Row {
    pub(super) k: Option<i64>,
    pub(super) ts: i64,
    pub(super) id: i64,
}

/// Sorted output rows of each event: (left id, right id, window start, window end).
type PerEvent = Vec<Vec<(i64, i64, i64, i64)>>;

#[derive(Debug, Clone)]
pub(super) enum Event {
    Batch(usize, Vec<Row>),
    Watermark(i64),
}

/// Left: `k: Int64, ts: Int64, lid: Int64, tag: Utf8`. Right: `k: Int64,
/// ts: Timestamp(ms), rid: Int64` (so `k` and `ts` clash and get `_right`).
pub(super) fn batch(side: usize, rows: &[Row]) -> RecordBatch {
    let k: ArrayRef = Arc::new(Int64Array::from(
        rows.iter().map(|r| r.k).collect::<Vec<_>>(),
    ));
    let ids: ArrayRef = Arc::new(Int64Array::from(
        rows.iter().map(|r| r.id).collect::<Vec<_>>(),
    ));
    let ts: Vec<i64> = rows.iter().map(|r| r.ts).collect();
    if side == 0 {
        let tags: ArrayRef = Arc::new(StringArray::from(
            rows.iter()
                .map(|r| format!("l{}", r.id))
                .collect::<Vec<_>>(),
        ));
        RecordBatch::try_from_iter([
            ("k", k),
            ("ts", Arc::new(Int64Array::from(ts)) as ArrayRef),
            ("lid", ids),
            ("tag", tags),
        ])
        .unwrap()
    } else {
        RecordBatch::try_from_iter([
            ("k", k),
            (
                "ts",
                Arc::new(TimestampMillisecondArray::from(ts)) as ArrayRef,
            ),
            ("rid", ids),
        ])
        .unwrap()
    }
}

/// A random run: rows of both sides roughly in time order with disorder, random batch
/// sizes and interleaving, watermarks that sometimes overtake rows still to come.
pub(super) fn scenario(rng: &mut StdRng, steps: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut clock = 0i64;
    let mut wm = i64::MIN;
    let mut id = 0;
    for _ in 0..steps {
        if rng.random_bool(0.3) {
            let w = clock - rng.random_range(0..40);
            if w > wm {
                wm = w;
                events.push(Event::Watermark(w));
            }
            continue;
        }
        let side = rng.random_range(0..2);
        let n = rng.random_range(1..8);
        let rows = (0..n)
            .map(|_| {
                id += 1;
                clock += rng.random_range(0..6);
                Row {
                    k: rng.random_bool(0.9).then(|| rng.random_range(0..4)),
                    ts: clock - rng.random_range(0..30),
                    id,
                }
            })
            .collect();
        events.push(Event::Batch(side, rows));
    }
    events.push(Event::Watermark(i64::MAX));
    events
}

/// (left id, right id, window start, window end) of every output row.
fn pairs(out: &Output) -> Vec<(i64, i64, i64, i64)> {
    pairs_of(out.items())
}

/// (left id, right id, window start, window end) of every output row of `items`, sorted.
pub(super) fn pairs_of(items: &[OutItem]) -> Vec<(i64, i64, i64, i64)> {
    let mut v = Vec::new();
    for item in items {
        let OutItem::Batch(0, b) = item else { continue };
        let col = |n: &str| {
            b.column_by_name(n)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let (l, r) = (col("lid"), col("rid"));
        let w = |n: &str| {
            b.column_by_name(n).map(|c| {
                c.as_primitive::<TimestampMillisecondType>()
                    .values()
                    .to_vec()
            })
        };
        let (s, e) = (w("window_start"), w("window_end"));
        for i in 0..b.num_rows() {
            let s = s.as_ref().map_or(0, |s| s[i]);
            let e = e.as_ref().map_or(0, |e| e[i]);
            v.push((l.value(i), r.value(i), s, e));
        }
    }
    v.sort();
    v
}

/// Drives `op` through `events`, returning the sorted output of each event.
fn run(op: &mut dyn Operator, ctx: &mut OpContext, events: &[Event]) -> PerEvent {
    let mut per_event = Vec::new();
    for e in events {
        let mut out = Output::new();
        match e {
            Event::Batch(side, rows) => op
                .on_batch(*side, batch(*side, rows), ctx, &mut out)
                .unwrap(),
            Event::Watermark(w) => {
                ctx.watermark = Watermark(*w);
                op.on_watermark(Watermark(*w), ctx, &mut out).unwrap();
                assert!(matches!(out.items().last(), Some(OutItem::Watermark(x)) if x.0 == *w));
            }
        }
        per_event.push(pairs(&out));
    }
    per_event
}

/// Interval-join oracle: at each batch, its on-time rows against every earlier on-time row
/// of the other side.
fn interval_oracle(events: &[Event], lower: i64, upper: i64) -> (PerEvent, u64) {
    let mut kept: [Vec<Row>; 2] = [Vec::new(), Vec::new()];
    let mut wm = i64::MIN;
    let mut late = 0;
    let mut per_event = Vec::new();
    for e in events {
        let mut v = Vec::new();
        match e {
            Event::Watermark(w) => wm = *w,
            Event::Batch(side, rows) => {
                for r in rows.iter().filter(|r| r.k.is_some()) {
                    if r.ts < wm {
                        late += 1;
                        continue;
                    }
                    for o in &kept[1 - side] {
                        let (l, rr) = if *side == 0 { (r, o) } else { (o, r) };
                        if l.k == rr.k && l.ts + lower <= rr.ts && rr.ts <= l.ts + upper {
                            v.push((l.id, rr.id, 0, 0));
                        }
                    }
                    kept[*side].push(*r);
                }
            }
        }
        v.sort();
        per_event.push(v);
    }
    (per_event, late)
}

/// Window-join oracle: every (row, window) whose window had not fired on arrival; each
/// watermark fires the windows it reaches.
fn window_oracle(events: &[Event], windows: impl Fn(i64) -> Vec<(i64, i64)>) -> (PerEvent, u64) {
    let mut kept: Vec<(usize, Row, i64, i64)> = Vec::new();
    let mut fired_up_to = i64::MIN;
    let mut late = 0;
    let mut per_event = Vec::new();
    for e in events {
        let mut v = Vec::new();
        match e {
            Event::Batch(side, rows) => {
                for r in rows.iter().filter(|r| r.k.is_some()) {
                    let ws = windows(r.ts);
                    let open: Vec<_> = ws.iter().filter(|(_, end)| end - 1 > fired_up_to).collect();
                    if open.is_empty() && !ws.is_empty() {
                        late += 1;
                    }
                    kept.extend(open.into_iter().map(|&(s, e)| (*side, *r, s, e)));
                }
            }
            Event::Watermark(w) => {
                let due: Vec<_> = kept
                    .iter()
                    .filter(|(_, _, _, e)| e - 1 <= *w && e - 1 > fired_up_to)
                    .collect();
                for (ls, l, s, e) in &due {
                    for (rs, r, s2, e2) in &due {
                        if *ls == 0 && *rs == 1 && (s, e) == (s2, e2) && l.k == r.k {
                            v.push((l.id, r.id, *s, *e));
                        }
                    }
                }
                fired_up_to = *w;
            }
        }
        v.sort();
        per_event.push(v);
    }
    (per_event, late)
}

#[test]
fn interval_join_matches_oracle() {
    let (mut total_pairs, mut total_late) = (0, 0);
    for seed in 0..24u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let (lower, upper) = [(-20, 20), (0, 0), (5, 30), (-30, -5), (-3, 50)][seed as usize % 5];
        let events = scenario(&mut rng, 120);
        let mut op = IntervalJoin::new(
            vec!["k".into()],
            vec!["k".into()],
            "ts".into(),
            "ts".into(),
            lower,
            upper,
        )
        .unwrap();
        if seed % 3 != 0 {
            op = op.with_bucket_width([1, 7, 16][seed as usize % 3]);
        }
        let mut ctx = OpContext::new(0, 1, 128);
        let got = run(&mut op, &mut ctx, &events);
        let (want, late) = interval_oracle(&events, lower, upper);
        assert_eq!(got, want, "seed {seed} bounds [{lower}, {upper}]");
        assert_eq!(ctx.metrics.late_dropped, late, "seed {seed}");
        assert_eq!(
            op.state_rows(),
            [0, 0],
            "the final watermark frees everything"
        );
        total_pairs += want.iter().map(Vec::len).sum::<usize>();
        total_late += late;
    }
    assert!(
        total_pairs > 500 && total_late > 20,
        "non-trivial runs: {total_pairs} pairs, {total_late} late"
    );
}

#[test]
fn window_join_matches_oracle() {
    let assigners = [
        (
            WindowAssigner::Tumble {
                size: 20,
                offset: 0,
            },
            "tumble",
        ),
        (
            WindowAssigner::Tumble {
                size: 15,
                offset: 4,
            },
            "tumble offset",
        ),
        (
            WindowAssigner::Hop {
                size: 30,
                slide: 10,
                offset: 0,
            },
            "hop",
        ),
        (
            WindowAssigner::Hop {
                size: 10,
                slide: 25,
                offset: 3,
            },
            "hop with gaps",
        ),
        (
            WindowAssigner::Cumulate {
                max_size: 30,
                step: 10,
                offset: 0,
            },
            "cumulate",
        ),
    ];
    let (mut total_pairs, mut total_late) = (0, 0);
    for seed in 0..20u64 {
        let (assigner, name) = assigners[seed as usize % assigners.len()];
        let mut rng = StdRng::seed_from_u64(seed);
        let events = scenario(&mut rng, 120);
        let mut op = WindowJoin::new(
            vec!["k".into()],
            vec!["k".into()],
            "ts".into(),
            "ts".into(),
            assigner,
        )
        .unwrap();
        let mut ctx = OpContext::new(0, 1, 128);
        let got = run(&mut op, &mut ctx, &events);
        let windows = |t: i64| -> Vec<(i64, i64)> {
            match assigner {
                WindowAssigner::Tumble { size, offset } => {
                    let s = t - (t - offset).rem_euclid(size);
                    vec![(s, s + size)]
                }
                WindowAssigner::Hop {
                    size,
                    slide,
                    offset,
                } => (t - size - slide..=t + slide)
                    .filter(|s| (s - offset).rem_euclid(slide) == 0 && *s <= t && t < s + size)
                    .map(|s| (s, s + size))
                    .collect(),
                WindowAssigner::Cumulate {
                    max_size,
                    step,
                    offset,
                } => {
                    let s = t - (t - offset).rem_euclid(max_size);
                    (1..=max_size / step)
                        .map(|k| (s, s + k * step))
                        .filter(|&(_, e)| e > t)
                        .collect()
                }
                WindowAssigner::Session { .. } => unreachable!(),
            }
        };
        let (want, late) = window_oracle(&events, windows);
        assert_eq!(got, want, "seed {seed} {name}");
        assert_eq!(ctx.metrics.late_dropped, late, "seed {seed} {name}");
        assert_eq!(op.state_rows(), [0, 0], "seed {seed}: every batch released");
        assert_eq!(op.pending_windows(), 0);
        total_pairs += want.iter().map(Vec::len).sum::<usize>();
        total_late += late;
    }
    assert!(
        total_pairs > 500 && total_late > 20,
        "non-trivial runs: {total_pairs} pairs, {total_late} late"
    );
}

#[test]
fn regular_join_matches_oracle() {
    for seed in 0..12u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let events = scenario(&mut rng, 100);
        let mut op = RegularJoin::new(vec!["k".into()], vec!["k".into()]).unwrap();
        let mut ctx = OpContext::new(0, 1, 128);
        let got = run(&mut op, &mut ctx, &events);
        // Unbounded interval: every earlier row of the other side, nothing late.
        let no_wm: Vec<Event> = events
            .iter()
            .map(|e| match e {
                Event::Watermark(_) => Event::Watermark(i64::MIN),
                b => b.clone(),
            })
            .collect();
        let (want, late) = interval_oracle(&no_wm, i64::MIN / 4, i64::MAX / 4);
        assert_eq!(late, 0);
        assert_eq!(got, want, "seed {seed}");
        let rows: usize = events
            .iter()
            .map(|e| match e {
                Event::Batch(_, rows) => rows.iter().filter(|r| r.k.is_some()).count(),
                _ => 0,
            })
            .sum();
        let [l, r] = op.state_rows();
        assert_eq!(l + r, rows, "everything kept");
        assert!(op.num_keys() <= 4 && op.state_bytes() > 0);
        assert!(
            want.iter().map(Vec::len).sum::<usize>() > 100,
            "seed {seed}: many pairs"
        );
    }
}

fn row(k: i64, ts: i64, id: i64) -> Row {
    Row { k: Some(k), ts, id }
}

#[test]
fn interval_bounds_are_inclusive_and_state_is_freed() {
    let mut op = IntervalJoin::new(
        vec!["k".into()],
        vec!["k".into()],
        "ts".into(),
        "ts".into(),
        -5,
        10,
    )
    .unwrap()
    .with_bucket_width(1);
    let mut ctx = OpContext::new(0, 1, 128);
    let mut out = Output::new();
    op.on_batch(
        0,
        batch(0, &[row(1, 100, 1), row(2, 100, 2)]),
        &mut ctx,
        &mut out,
    )
    .unwrap();
    let right = [
        row(1, 94, 10),
        row(1, 95, 11),
        row(1, 110, 12),
        row(1, 111, 13),
        row(2, 100, 14),
        row(3, 100, 15),
    ];
    op.on_batch(1, batch(1, &right), &mut ctx, &mut out)
        .unwrap();
    assert_eq!(
        pairs(&out),
        vec![(1, 11, 0, 0), (1, 12, 0, 0), (2, 14, 0, 0)]
    );
    let b = out.items().iter().find_map(|i| match i {
        OutItem::Batch(0, b) => Some(b.clone()),
        _ => None,
    });
    let names: Vec<String> = b
        .unwrap()
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(
        names,
        ["k", "ts", "lid", "tag", "k_right", "ts_right", "rid"]
    );
    assert_eq!(op.state_rows(), [2, 6]);

    // Left rows at 100 can match right rows up to 110: kept while the watermark is <= 110.
    // Right rows at t can match left rows up to t + 5.
    let mut wm = |op: &mut IntervalJoin, w: i64| {
        ctx.watermark = Watermark(w);
        op.on_watermark(Watermark(w), &mut ctx, &mut Output::new())
            .unwrap();
        op.state_rows()
    };
    assert_eq!(wm(&mut op, 99), [2, 6], "right 94 matches left rows at 99");
    assert_eq!(
        wm(&mut op, 100),
        [2, 5],
        "right 94 can only match left <= 99"
    );
    assert_eq!(
        wm(&mut op, 110),
        [2, 2],
        "left 100 still matches a right row at 110"
    );
    assert_eq!(wm(&mut op, 111), [0, 2]);
    assert_eq!(
        wm(&mut op, 116),
        [0, 1],
        "right 111 matches left rows up to 116"
    );
    assert_eq!(wm(&mut op, 117), [0, 0]);

    // A row below the watermark is late: dropped and counted; one at the watermark is not.
    let mut out = Output::new();
    op.on_batch(
        0,
        batch(0, &[row(1, 116, 20), row(1, 117, 21)]),
        &mut ctx,
        &mut out,
    )
    .unwrap();
    assert_eq!(ctx.metrics.late_dropped, 1);
    assert_eq!(op.state_rows(), [1, 0]);
}

#[test]
fn interval_default_buckets_free_state_within_a_bucket() {
    let mut op = IntervalJoin::new(
        vec!["k".into()],
        vec!["k".into()],
        "ts".into(),
        "ts".into(),
        0,
        100,
    )
    .unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let rows: Vec<Row> = (0..50).map(|i| row(i % 3, i * 100, i)).collect();
    op.on_batch(0, batch(0, &rows), &mut ctx, &mut Output::new())
        .unwrap();
    assert_eq!(op.state_rows(), [50, 0]);
    assert_eq!(op.state_buckets(), [5, 0], "1000 ms buckets");
    op.on_watermark(Watermark(3_000), &mut ctx, &mut Output::new())
        .unwrap();
    // Rows before 2900 can no longer match; whole buckets go, so [2000, 2900) stays.
    assert_eq!(op.state_rows(), [30, 0]);
}

#[test]
fn window_join_fires_on_watermark_and_counts_late_rows() {
    let tumble = WindowAssigner::Tumble {
        size: 10,
        offset: 0,
    };
    let mut op = WindowJoin::new(
        vec!["k".into()],
        vec!["k".into()],
        "ts".into(),
        "ts".into(),
        tumble,
    )
    .unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let mut out = Output::new();
    op.on_batch(
        0,
        batch(0, &[row(1, 1, 1), row(1, 9, 2), row(2, 12, 3)]),
        &mut ctx,
        &mut out,
    )
    .unwrap();
    op.on_batch(
        1,
        batch(1, &[row(1, 5, 10), row(2, 5, 11), row(2, 19, 12)]),
        &mut ctx,
        &mut out,
    )
    .unwrap();
    assert!(out.is_empty(), "nothing before the watermark");
    assert_eq!(op.state_rows(), [3, 3]);
    let mut out = Output::new();
    ctx.watermark = Watermark(9);
    op.on_watermark(Watermark(9), &mut ctx, &mut out).unwrap();
    assert_eq!(pairs(&out), vec![(1, 10, 0, 10), (2, 10, 0, 10)]);
    let OutItem::Batch(0, b) = &out.items()[0] else {
        panic!("batch first")
    };
    assert_eq!(b.schema().field(8).name(), "window_end");
    assert_eq!(
        op.state_rows(),
        [3, 3],
        "both batches still hold rows of [10, 20)"
    );
    // A right row for the fired window [0, 10) is late.
    op.on_batch(
        1,
        batch(1, &[row(1, 3, 13), row(2, 15, 14)]),
        &mut ctx,
        &mut Output::new(),
    )
    .unwrap();
    assert_eq!(ctx.metrics.late_dropped, 1);
    let mut out = Output::new();
    op.on_watermark(Watermark(19), &mut ctx, &mut out).unwrap();
    assert_eq!(pairs(&out), vec![(3, 12, 10, 20), (3, 14, 10, 20)]);
    assert_eq!(op.state_rows(), [0, 0]);
}

#[test]
fn key_equality_is_checked_on_values() {
    // Multi-column string keys, equal hashes impossible to force here; check that keys that
    // differ only in one column do not match, and nulls never match.
    let mut op =
        RegularJoin::new(vec!["a".into(), "b".into()], vec!["x".into(), "y".into()]).unwrap();
    let left = RecordBatch::try_from_iter([
        (
            "a",
            Arc::new(StringArray::from(vec![Some("p"), Some("p"), None])) as ArrayRef,
        ),
        ("b", Arc::new(Int64Array::from(vec![1, 2, 1])) as ArrayRef),
    ])
    .unwrap();
    let right = RecordBatch::try_from_iter([
        (
            "x",
            Arc::new(StringArray::from(vec![Some("p"), Some("q"), None])) as ArrayRef,
        ),
        ("y", Arc::new(Int64Array::from(vec![2, 1, 1])) as ArrayRef),
    ])
    .unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let mut out = Output::new();
    op.on_batch(0, left, &mut ctx, &mut out).unwrap();
    op.on_batch(1, right, &mut ctx, &mut out).unwrap();
    let OutItem::Batch(0, b) = &out.items()[0] else {
        panic!("one batch")
    };
    assert_eq!(out.items().len(), 1);
    assert_eq!(b.num_rows(), 1);
    assert_eq!(b.column(1).as_primitive::<Int64Type>().value(0), 2);
    assert_eq!(b.column(3).as_primitive::<Int64Type>().value(0), 2);
    assert_eq!(op.state_rows(), [2, 2], "null keys are not kept");
}

#[test]
fn plan_and_schema_errors() {
    assert!(RegularJoin::new(vec![], vec![]).is_err());
    assert!(RegularJoin::new(vec!["a".into()], vec!["a".into(), "b".into()]).is_err());
    assert!(IntervalJoin::new(
        vec!["k".into()],
        vec!["k".into()],
        "t".into(),
        "t".into(),
        5,
        4
    )
    .is_err());
    let session = WindowAssigner::Session { gap: 10 };
    assert!(WindowJoin::new(
        vec!["k".into()],
        vec!["k".into()],
        "t".into(),
        "t".into(),
        session
    )
    .is_err());
    let mut op = RegularJoin::new(vec!["k".into()], vec!["k".into()]).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    op.on_batch(0, batch(0, &[row(1, 1, 1)]), &mut ctx, &mut Output::new())
        .unwrap();
    let strings =
        RecordBatch::try_from_iter([("k", Arc::new(StringArray::from(vec!["1"])) as ArrayRef)])
            .unwrap();
    let e = op
        .on_batch(1, strings, &mut ctx, &mut Output::new())
        .unwrap_err()
        .to_string();
    assert!(e.contains("key types differ"), "{e}");
    assert!(op
        .on_batch(2, batch(0, &[row(1, 1, 1)]), &mut ctx, &mut Output::new())
        .is_err());
}
