//! Behaviour of [`Rank`]: exact changelogs of small Top-N and deduplication runs, a seeded
//! oracle test (the table a changelog builds equals a from-scratch Top-N after every batch),
//! window Top-N firing and late rows, and bad input.

use std::collections::BTreeMap;

use arrow::array::{AsArray, Int64Array, Int8Array, StringArray, TimestampMillisecondArray};
use arrow::compute::cast;
use arrow::datatypes::Int8Type;
use arrow::util::display::ArrayFormatter;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::operator::OutItem;

/// A batch `p: Int64, v: Int64 (nullable), id: Utf8`.
pub(super) fn pvi(rows: &[(i64, Option<i64>, &str)]) -> RecordBatch {
    RecordBatch::try_from_iter_with_nullable([
        (
            "p",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
            false,
        ),
        (
            "v",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))) as ArrayRef,
            true,
        ),
        (
            "id",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))) as ArrayRef,
            false,
        ),
    ])
    .unwrap()
}

fn desc(column: usize) -> SortKey {
    SortKey {
        column,
        descending: true,
        nulls_first: false,
    }
}

fn asc(column: usize) -> SortKey {
    SortKey {
        column,
        descending: false,
        nulls_first: false,
    }
}

/// Rows of one batch as text: the op (`+I`, `-U`, `+U`, `-D`) first when there is a `$op`
/// column, then the other values separated by spaces (timestamps as milliseconds).
pub(super) fn batch_lines(b: &RecordBatch) -> Vec<String> {
    let schema = b.schema();
    let mut op: Option<&Int8Array> = None;
    let mut cols = Vec::new();
    for (f, c) in schema.fields().iter().zip(b.columns()) {
        if f.name() == OP_COLUMN {
            op = Some(c.as_primitive::<Int8Type>());
        } else if matches!(f.data_type(), DataType::Timestamp(..)) {
            cols.push(cast(c, &DataType::Int64).unwrap());
        } else {
            cols.push(c.clone());
        }
    }
    let fmts: Vec<_> = cols
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &Default::default()).unwrap())
        .collect();
    (0..b.num_rows())
        .map(|r| {
            let mut parts: Vec<String> = Vec::new();
            if let Some(op) = op {
                parts.push(["+I", "-U", "+U", "-D"][op.value(r) as usize].to_string());
            }
            parts.extend(fmts.iter().map(|f| f.value(r).to_string()));
            parts.join(" ")
        })
        .collect()
}

/// Feed one batch; return its output rows as text (and check it is at most one batch).
fn feed(op: &mut Rank, ctx: &mut OpContext, b: RecordBatch) -> Vec<String> {
    let mut out = Output::new();
    op.on_batch(0, b, ctx, &mut out).unwrap();
    let batches: Vec<_> = out
        .items()
        .iter()
        .map(|i| match i {
            OutItem::Batch(0, b) => b.clone(),
            other => panic!("unexpected {other:?}"),
        })
        .collect();
    assert!(batches.len() <= 1, "one output batch per input batch");
    batches.iter().flat_map(batch_lines).collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn top3_with_rank_emits_exact_changelog() {
    let mut op = Rank::new(vec![0], vec![desc(1)], 3, true, false, RankMode::Updating).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let b1 = pvi(&[(1, Some(10), "a"), (1, Some(20), "b"), (2, Some(5), "c")]);
    let schema = op.output_schema(&b1.schema()).unwrap();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(names, ["p", "v", "id", "rank", "$op"]);
    assert!(!schema.field(3).is_nullable() && !schema.field(4).is_nullable());
    assert_eq!(
        feed(&mut op, &mut ctx, b1),
        strs(&["+I 1 20 b 1", "+I 1 10 a 2", "+I 2 5 c 1"])
    );
    // d enters at rank 2, e at rank 1 (pushing a out), f cannot enter.
    let b2 = pvi(&[(1, Some(15), "d"), (1, Some(30), "e"), (1, Some(1), "f")]);
    assert_eq!(
        feed(&mut op, &mut ctx, b2),
        strs(&[
            "-U 1 20 b 1",
            "-U 1 10 a 2",
            "+U 1 30 e 1",
            "+U 1 20 b 2",
            "+I 1 15 d 3"
        ])
    );
    // Ties rank the earlier row first: g after c, h after b (pushing d out).
    let b3 = pvi(&[(2, Some(5), "g"), (1, Some(20), "h")]);
    assert_eq!(
        feed(&mut op, &mut ctx, b3),
        strs(&["+I 2 5 g 2", "-U 1 15 d 3", "+U 1 20 h 3"])
    );
    // Rows that cannot enter emit nothing and are not kept.
    assert!(feed(
        &mut op,
        &mut ctx,
        pvi(&[(1, Some(0), "z"), (1, Some(20), "y")])
    )
    .is_empty());
    let b = op.bound.as_ref().unwrap();
    assert_eq!(b.store.live, 5);
    assert!(b.store.stored <= 2 * b.store.live);
    // Watermarks pass through.
    let mut out = Output::new();
    op.on_watermark(Watermark(7), &mut ctx, &mut out).unwrap();
    assert!(matches!(out.items(), [OutItem::Watermark(Watermark(7))]));
}

#[test]
fn top_n_without_rank_emits_entries_and_exits_ties_in_arrival_order() {
    let mut op = Rank::new(vec![0], vec![asc(1)], 2, false, false, RankMode::Updating).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let b1 = pvi(&[(1, Some(5), "a"), (1, Some(5), "b")]);
    let names: Vec<String> = op
        .output_schema(&b1.schema())
        .unwrap()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["p", "v", "id", "$op"]);
    assert_eq!(feed(&mut op, &mut ctx, b1), strs(&["+I 1 5 a", "+I 1 5 b"]));
    // c ties a and b but arrived later: it cannot enter. d pushes b out; a stays silently.
    let b2 = pvi(&[(1, Some(5), "c"), (1, Some(3), "d")]);
    assert_eq!(feed(&mut op, &mut ctx, b2), strs(&["-D 1 5 b", "+I 1 3 d"]));
    // e enters and leaves within the batch: only a's exit and f's entry show.
    let b3 = pvi(&[(1, Some(4), "e"), (1, Some(2), "f")]);
    assert_eq!(feed(&mut op, &mut ctx, b3), strs(&["-D 1 5 a", "+I 1 2 f"]));
    // Nulls last (ascending, nulls_first = false).
    let b4 = pvi(&[(2, None, "n"), (2, Some(7), "x"), (2, None, "m")]);
    assert_eq!(feed(&mut op, &mut ctx, b4), strs(&["+I 2 7 x", "+I 2  n"]));
}

#[test]
fn deduplicate_keep_last_and_keep_first() {
    // Keep last: ORDER BY ts DESC, N = 1, a new row wins ties.
    let mut op = Rank::new(vec![0], vec![desc(1)], 1, false, true, RankMode::Updating).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let b1 = pvi(&[(1, Some(1), "a"), (1, Some(1), "b"), (2, Some(5), "x")]);
    assert_eq!(feed(&mut op, &mut ctx, b1), strs(&["+I 1 1 b", "+I 2 5 x"]));
    let b2 = pvi(&[(1, Some(2), "c")]);
    assert_eq!(feed(&mut op, &mut ctx, b2), strs(&["-D 1 1 b", "+I 1 2 c"]));
    // An older row does not replace a newer one; an equal time does.
    let b3 = pvi(&[(1, Some(0), "d"), (1, Some(2), "e")]);
    assert_eq!(feed(&mut op, &mut ctx, b3), strs(&["-D 1 2 c", "+I 1 2 e"]));

    // The same with a row number: updates instead of delete + insert.
    let mut op = Rank::new(vec![0], vec![desc(1)], 1, true, true, RankMode::Updating).unwrap();
    let b1 = pvi(&[(1, Some(1), "a")]);
    assert_eq!(feed(&mut op, &mut ctx, b1), strs(&["+I 1 1 a 1"]));
    let b2 = pvi(&[(1, Some(1), "b")]);
    assert_eq!(
        feed(&mut op, &mut ctx, b2),
        strs(&["-U 1 1 a 1", "+U 1 1 b 1"])
    );

    // Keep first: ORDER BY ts ASC, N = 1, earlier rows win ties.
    let mut op = Rank::new(vec![0], vec![asc(1)], 1, false, false, RankMode::Updating).unwrap();
    let b1 = pvi(&[(1, Some(1), "a"), (1, Some(1), "b")]);
    assert_eq!(feed(&mut op, &mut ctx, b1), strs(&["+I 1 1 a"]));
    let b2 = pvi(&[(1, Some(2), "c"), (1, Some(1), "d")]);
    assert!(feed(&mut op, &mut ctx, b2).is_empty());
    // A row with an earlier time (out of order) does replace it.
    let b3 = pvi(&[(1, Some(0), "e")]);
    assert_eq!(feed(&mut op, &mut ctx, b3), strs(&["-D 1 1 a", "+I 1 0 e"]));
    assert_eq!(op.bound.as_ref().unwrap().store.live, 1);
}

/// One row of the oracle test: `p, q` partition, `v, s` order, `id` arrival.
#[derive(Debug, Clone)]
struct Row {
    p: i64,
    q: String,
    v: Option<i64>,
    s: Option<String>,
    id: i64,
}

fn rows_batch(rows: &[Row]) -> RecordBatch {
    RecordBatch::try_from_iter_with_nullable([
        (
            "p",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.p))) as ArrayRef,
            false,
        ),
        (
            "q",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| &r.q))) as ArrayRef,
            false,
        ),
        (
            "v",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.v))) as ArrayRef,
            true,
        ),
        (
            "s",
            Arc::new(StringArray::from_iter(rows.iter().map(|r| r.s.clone()))) as ArrayRef,
            true,
        ),
        (
            "id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.id))) as ArrayRef,
            false,
        ),
    ])
    .unwrap()
}

/// `a` against `b` under one sort key (nulls placed independently of the direction).
fn cmp_opt<T: Ord>(a: &Option<T>, b: &Option<T>, k: &SortKey) -> std::cmp::Ordering {
    use std::cmp::Ordering::*;
    match (a, b) {
        (None, None) => Equal,
        (None, Some(_)) => {
            if k.nulls_first {
                Less
            } else {
                Greater
            }
        }
        (Some(_), None) => {
            if k.nulls_first {
                Greater
            } else {
                Less
            }
        }
        (Some(x), Some(y)) if k.descending => y.cmp(x),
        (Some(x), Some(y)) => x.cmp(y),
    }
}

/// The Top-N table recomputed from scratch: every partition's rows sorted by the ORDER BY,
/// ties by arrival (latest first with `new_ties_first`), the first `limit`, as text lines.
fn oracle(
    rows: &[Row],
    partition: &[usize],
    order: &[SortKey],
    limit: usize,
    emit_rank: bool,
    new_ties_first: bool,
) -> BTreeMap<String, i64> {
    let mut parts: BTreeMap<(Option<i64>, Option<String>), Vec<&Row>> = BTreeMap::new();
    for r in rows {
        let key = (
            partition.contains(&0).then_some(r.p),
            partition.contains(&1).then(|| r.q.clone()),
        );
        parts.entry(key).or_default().push(r);
    }
    let mut table = BTreeMap::new();
    for list in parts.values_mut() {
        list.sort_by(|a, b| {
            let mut o = std::cmp::Ordering::Equal;
            for k in order {
                o = o.then_with(|| match k.column {
                    2 => cmp_opt(&a.v, &b.v, k),
                    _ => cmp_opt(&a.s, &b.s, k),
                });
            }
            let tie = if new_ties_first {
                b.id.cmp(&a.id)
            } else {
                a.id.cmp(&b.id)
            };
            o.then(tie)
        });
        for (rank, r) in list.iter().take(limit).enumerate() {
            let mut line = format!(
                "{} {} {} {} {}",
                r.p,
                r.q,
                r.v.map_or(String::new(), |v| v.to_string()),
                r.s.clone().unwrap_or_default(),
                r.id
            );
            if emit_rank {
                line.push_str(&format!(" {}", rank + 1));
            }
            *table.entry(line).or_insert(0) += 1;
        }
    }
    table
}

/// Apply changelog lines to a table of row counts; retractions must hit existing rows.
fn apply(table: &mut BTreeMap<String, i64>, lines: &[String], what: &str) {
    for l in lines {
        let (op, row) = l.split_at(3);
        let row = row.to_string();
        match op.trim() {
            "+I" | "+U" => *table.entry(row).or_insert(0) += 1,
            _ => {
                let c = table
                    .get_mut(&row)
                    .unwrap_or_else(|| panic!("{what}: retraction of absent row '{row}'"));
                *c -= 1;
                if *c == 0 {
                    table.remove(&row);
                }
            }
        }
    }
}

/// Random configurations; random rows in random batch sizes; after every batch the table
/// built from the changelog equals the from-scratch Top-N.
#[test]
fn changelog_table_matches_naive_top_n() {
    let mut checked = 0;
    for seed in 0..60u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let partition = [vec![0], vec![0, 1], vec![]][rng.random_range(0..3)].clone();
        let mut order = vec![SortKey {
            column: 2,
            descending: rng.random_bool(0.5),
            nulls_first: rng.random_bool(0.5),
        }];
        if rng.random_bool(0.5) {
            order.push(SortKey {
                column: 3,
                descending: rng.random_bool(0.5),
                nulls_first: rng.random_bool(0.5),
            });
        }
        let limit = rng.random_range(1..=5);
        let emit_rank = rng.random_bool(0.5);
        let new_ties_first = rng.random_bool(0.5);
        let what = format!(
            "seed {seed}: partition {partition:?} order {order:?} limit {limit} rank {emit_rank} new ties first {new_ties_first}"
        );
        let mut op = Rank::new(
            partition.clone(),
            order.clone(),
            limit,
            emit_rank,
            new_ties_first,
            RankMode::Updating,
        )
        .unwrap();
        let mut ctx = OpContext::new(0, 1, 128);
        let mut all: Vec<Row> = Vec::new();
        let mut table = BTreeMap::new();
        let mut id = 0;
        for _ in 0..rng.random_range(5..25) {
            let batch: Vec<Row> = (0..rng.random_range(1..25))
                .map(|_| {
                    id += 1;
                    Row {
                        p: rng.random_range(0..4),
                        q: ["x", "y"][rng.random_range(0..2)].to_string(),
                        v: rng.random_bool(0.85).then(|| rng.random_range(0..6)),
                        s: rng
                            .random_bool(0.85)
                            .then(|| ["a", "b", "c"][rng.random_range(0..3)].to_string()),
                        id,
                    }
                })
                .collect();
            all.extend(batch.iter().cloned());
            let lines = feed(&mut op, &mut ctx, rows_batch(&batch));
            apply(&mut table, &lines, &what);
            let expected = oracle(&all, &partition, &order, limit, emit_rank, new_ties_first);
            assert_eq!(table, expected, "{what}");
            let b = op.bound.as_ref().unwrap();
            assert_eq!(
                b.store.live,
                expected.values().sum::<i64>() as usize,
                "{what}"
            );
            assert!(b.store.stored <= 2 * b.store.live, "{what}: compaction");
            checked += 1;
        }
    }
    assert!(checked > 500);
}

/// A batch `p, v, id, we: Timestamp(ms)`.
pub(super) fn windowed(rows: &[(i64, i64, &str, i64)]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "p",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
        ),
        (
            "v",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))) as ArrayRef,
        ),
        (
            "id",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.2))) as ArrayRef,
        ),
        (
            "we",
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.3),
            )) as ArrayRef,
        ),
    ])
    .unwrap()
}

/// Output items as text: rows, and `wm N` for watermarks.
fn item_lines(items: &[OutItem]) -> Vec<String> {
    let mut lines = Vec::new();
    for i in items {
        match i {
            OutItem::Batch(0, b) => lines.extend(batch_lines(b)),
            OutItem::Watermark(w) => lines.push(format!("wm {}", w.0)),
            other => panic!("unexpected {other:?}"),
        }
    }
    lines
}

#[test]
fn window_top_n_fires_by_watermark_and_drops_late_rows() {
    let mode = RankMode::Window { window_end: 3 };
    let mut op = Rank::new(vec![0], vec![desc(1)], 2, true, false, mode).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let mut out = Output::new();
    let b1 = windowed(&[
        (1, 5, "a", 10),
        (1, 7, "b", 10),
        (2, 1, "c", 10),
        (1, 9, "d", 20),
    ]);
    let names: Vec<String> = op
        .output_schema(&b1.schema())
        .unwrap()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["p", "v", "id", "we", "rank"]);
    let mut step = |op: &mut Rank, ctx: &mut OpContext, s: Option<RecordBatch>, wm: Option<i64>| {
        match (s, wm) {
            (Some(b), _) => op.on_batch(0, b, ctx, &mut out).unwrap(),
            (None, Some(w)) => {
                ctx.watermark = Watermark(w);
                op.on_watermark(Watermark(w), ctx, &mut out).unwrap();
            }
            (None, None) => op.on_end(ctx, &mut out).unwrap(),
        }
        item_lines(&out.drain().collect::<Vec<_>>())
    };
    assert!(step(&mut op, &mut ctx, Some(b1), None).is_empty());
    assert_eq!(step(&mut op, &mut ctx, None, Some(5)), strs(&["wm 5"]));
    let b2 = windowed(&[(1, 8, "e", 10), (2, 3, "f", 20), (1, 2, "g", 20)]);
    assert!(step(&mut op, &mut ctx, Some(b2), None).is_empty());
    assert_eq!(
        step(&mut op, &mut ctx, None, Some(9)),
        strs(&["1 8 e 10 1", "1 7 b 10 2", "2 1 c 10 1", "wm 9"])
    );
    // Window 10 is gone: its rows are late now. Window 30 is open.
    let b3 = windowed(&[(1, 100, "h", 10), (2, 4, "i", 30)]);
    assert!(step(&mut op, &mut ctx, Some(b3), None).is_empty());
    assert_eq!(ctx.metrics.late_dropped, 1);
    assert_eq!(
        step(&mut op, &mut ctx, None, Some(25)),
        strs(&["1 9 d 20 1", "1 2 g 20 2", "2 3 f 20 1", "wm 25"])
    );
    // A window due at the current watermark + 1 is not late.
    let b4 = windowed(&[(3, 1, "j", 27), (3, 2, "k", 27), (3, 3, "l", 27)]);
    assert!(step(&mut op, &mut ctx, Some(b4), None).is_empty());
    assert_eq!(ctx.metrics.late_dropped, 1);
    assert_eq!(
        step(&mut op, &mut ctx, None, None),
        strs(&["3 3 l 27 1", "3 2 k 27 2", "2 4 i 30 1"])
    );
    let b = op.bound.as_ref().unwrap();
    assert_eq!(b.store.live, 0);
    assert!(b.store.chunks.is_empty(), "fired windows free their rows");
}

#[test]
fn window_top_n_without_partition_keeps_one_list_per_window() {
    let mode = RankMode::Window { window_end: 3 };
    let mut op = Rank::new(vec![], vec![asc(1)], 2, false, false, mode).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let mut out = Output::new();
    let b = windowed(&[
        (1, 5, "a", 10),
        (2, 3, "b", 20),
        (3, 4, "c", 10),
        (4, 1, "d", 10),
    ]);
    op.on_batch(0, b, &mut ctx, &mut out).unwrap();
    ctx.watermark = Watermark(100);
    op.on_watermark(Watermark(100), &mut ctx, &mut out).unwrap();
    assert_eq!(
        item_lines(&out.drain().collect::<Vec<_>>()),
        strs(&["4 1 d 10", "3 4 c 10", "2 3 b 20", "wm 100"])
    );
}

/// Window Top-N against a from-scratch computation: every non-late row ranked within its
/// (window, partition), over random inputs with disorder; windows come out in order of end
/// and every late row is counted.
#[test]
fn window_top_n_matches_naive_top_n() {
    use crate::checkpoint::testing::{run_steps, Step};
    let mut fired = 0;
    for seed in 0..30u64 {
        let mut rng = StdRng::seed_from_u64(seed + 3000);
        let (limit, descending, new_ties_first) = (
            rng.random_range(1..=3),
            rng.random_bool(0.5),
            rng.random_bool(0.5),
        );
        let partition = if rng.random_bool(0.7) {
            vec![0]
        } else {
            vec![]
        };
        let order = vec![SortKey {
            column: 1,
            descending,
            nulls_first: false,
        }];
        let mode = RankMode::Window { window_end: 3 };
        let mut op =
            Rank::new(partition.clone(), order, limit, true, new_ties_first, mode).unwrap();
        let steps = super::snapshot_tests::random_steps(seed);
        let mut ctx = OpContext::new(0, 1, 128);
        let items = run_steps(&mut op, &mut ctx, &steps).unwrap();
        // The oracle: (end, partition) -> rows (v, arrival, line) of non-late rows.
        // (v, arrival, row text) of a row.
        type Ranked = (i64, usize, String);
        let mut windows: BTreeMap<(i64, i64), Vec<Ranked>> = BTreeMap::new();
        let (mut wm, mut late, mut arrival) = (i64::MIN, 0, 0);
        for s in &steps {
            match s {
                Step::Batch(_, b) => {
                    for line in batch_lines(b) {
                        let f: Vec<&str> = line.split(' ').collect();
                        let (p, v, end) = (
                            f[0].parse().unwrap(),
                            f[1].parse().unwrap(),
                            f[3].parse::<i64>().unwrap(),
                        );
                        arrival += 1;
                        if end - 1 <= wm {
                            late += 1;
                            continue;
                        }
                        let key = (end, if partition.is_empty() { 0 } else { p });
                        windows.entry(key).or_default().push((v, arrival, line));
                    }
                }
                Step::Watermark(w) => wm = *w,
                _ => {}
            }
        }
        let mut expected = Vec::new();
        for rows in windows.values_mut() {
            rows.sort_by(|a, b| {
                let by_v = if descending {
                    b.0.cmp(&a.0)
                } else {
                    a.0.cmp(&b.0)
                };
                let tie = if new_ties_first {
                    b.1.cmp(&a.1)
                } else {
                    a.1.cmp(&b.1)
                };
                by_v.then(tie)
            });
            for (r, (_, _, line)) in rows.iter().take(limit).enumerate() {
                expected.push(format!("{line} {}", r + 1));
            }
        }
        let got = item_lines(&items);
        let rows: Vec<&String> = got.iter().filter(|l| !l.starts_with("wm")).collect();
        let ends: Vec<i64> = rows
            .iter()
            .map(|l| l.split(' ').nth(3).unwrap().parse().unwrap())
            .collect();
        assert!(
            ends.windows(2).all(|w| w[0] <= w[1]),
            "seed {seed}: windows out of order"
        );
        let mut rows: Vec<String> = rows.into_iter().cloned().collect();
        rows.sort();
        expected.sort();
        assert_eq!(rows, expected, "seed {seed}");
        assert_eq!(ctx.metrics.late_dropped, late, "seed {seed}");
        fired += rows.len();
    }
    assert!(fired > 300, "{fired} rows");
}

#[test]
fn bad_configurations_and_inputs_are_errors() {
    let k = vec![desc(1)];
    assert!(matches!(
        Rank::new(vec![0], k.clone(), 0, true, false, RankMode::Updating),
        Err(Error::Plan(_))
    ));
    assert!(matches!(
        Rank::new(vec![0], vec![], 1, true, false, RankMode::Updating),
        Err(Error::Plan(_))
    ));
    let b = pvi(&[(1, Some(1), "a")]);
    let mut ctx = OpContext::new(0, 1, 128);
    let schema_err = |op: &mut Rank, b: RecordBatch| {
        let e = op.on_batch(0, b, &mut OpContext::new(0, 1, 128), &mut Output::new());
        assert!(matches!(e, Err(Error::Schema(_))), "{e:?}");
    };
    // Column out of range.
    schema_err(
        &mut Rank::new(vec![7], k.clone(), 1, true, false, RankMode::Updating).unwrap(),
        b.clone(),
    );
    schema_err(
        &mut Rank::new(vec![0], vec![desc(9)], 1, true, false, RankMode::Updating).unwrap(),
        b.clone(),
    );
    // Window end of the wrong type.
    let mode = RankMode::Window { window_end: 2 };
    schema_err(
        &mut Rank::new(vec![0], k.clone(), 1, true, false, mode).unwrap(),
        b.clone(),
    );
    // An updating input.
    let with_op = RecordBatch::try_from_iter([
        ("p", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("v", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        (OP_COLUMN, Arc::new(Int8Array::from(vec![0])) as ArrayRef),
    ])
    .unwrap();
    schema_err(
        &mut Rank::new(vec![0], k.clone(), 1, true, false, RankMode::Updating).unwrap(),
        with_op,
    );
    // A schema change between batches.
    let mut op = Rank::new(vec![0], k.clone(), 1, true, false, RankMode::Updating).unwrap();
    op.on_batch(0, b, &mut ctx, &mut Output::new()).unwrap();
    let other = RecordBatch::try_from_iter([
        ("p", Arc::new(StringArray::from(vec!["x"])) as ArrayRef),
        ("v", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
    ])
    .unwrap();
    schema_err(&mut op, other);
    // Nulls in a column the first input declared NOT NULL.
    let mut op = Rank::new(vec![0], k.clone(), 1, true, false, RankMode::Updating).unwrap();
    let not_null = RecordBatch::try_from_iter([
        ("p", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("v", Arc::new(Int64Array::from(vec![1])) as ArrayRef),
        ("id", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
    ])
    .unwrap();
    op.on_batch(0, not_null, &mut ctx, &mut Output::new())
        .unwrap();
    schema_err(&mut op, pvi(&[(1, None, "b")]));
    // A null window end is a data error.
    let nulls = RecordBatch::try_from_iter([
        ("p", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        ("v", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef),
        (
            "id",
            Arc::new(StringArray::from(vec!["a", "b"])) as ArrayRef,
        ),
        (
            "we",
            Arc::new(TimestampMillisecondArray::from(vec![Some(10), None])) as ArrayRef,
        ),
    ])
    .unwrap();
    let mode = RankMode::Window { window_end: 3 };
    let mut op = Rank::new(vec![0], k, 1, true, false, mode).unwrap();
    let e = op.on_batch(0, nulls, &mut ctx, &mut Output::new());
    assert!(matches!(e, Err(Error::Data { .. })), "{e:?}");
}
