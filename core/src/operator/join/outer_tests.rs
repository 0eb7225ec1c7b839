//! Outer regular joins: exact changelogs, a naive-outer-join oracle over random runs (the
//! changelog applied as a multiset must equal the SQL outer join of the rows seen so far),
//! and checkpoints: restore at every cut, after key-group filing, and at another parallelism.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, StringArray, UInt32Array};
use arrow::compute::take_record_batch;
use arrow::datatypes::{DataType, Field, Int64Type, Int8Type, Schema};
use millstream_kernels::partition::operator_index_for_key_group;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tests::{Event, Row};
use super::*;
use crate::checkpoint::testing::{ipc_round_trip, restore_equivalence, run_steps, Step};
use crate::checkpoint::{filter_key_groups, key_groups_of, OperatorState, StateTable};
use crate::operator::{OpContext, Operator, OutItem, Output};
use crate::state::KeyGroupRange;

const MAX_PARALLELISM: usize = 128;
const OUTER: [JoinType; 3] = [
    JoinType::LeftOuter,
    JoinType::RightOuter,
    JoinType::FullOuter,
];

/// One output row: (`$op` code, left id, right id); `None` where padded.
type Change = (i8, Option<i64>, Option<i64>);

/// [`super::tests::batch`] with every column nullable, so that all batches of a side have
/// one schema whether or not they hold null keys.
fn batch(side: usize, rows: &[Row]) -> RecordBatch {
    let b = super::tests::batch(side, rows);
    let fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone().with_nullable(true))
        .collect();
    b.with_schema(Arc::new(Schema::new(fields))).unwrap()
}

/// A join of `t` on `k`, with the test inputs' schemas declared or not.
fn join(t: JoinType, declare: bool) -> RegularJoin {
    let j = RegularJoin::new(vec!["k".into()], vec!["k".into()])
        .unwrap()
        .with_join_type(t);
    if declare {
        j.with_input_schemas(batch(0, &[]).schema(), batch(1, &[]).schema())
            .unwrap()
    } else {
        j
    }
}

fn make(t: JoinType, declare: bool) -> impl Fn() -> Result<Box<dyn Operator>> {
    move || Ok(Box::new(join(t, declare)) as Box<dyn Operator>)
}

fn row(k: Option<i64>, id: i64) -> Row {
    Row { k, ts: 0, id }
}

/// The changes of every output batch of `items`, in order.
fn changes(items: &[OutItem]) -> Vec<Change> {
    let mut v = Vec::new();
    for item in items {
        let OutItem::Batch(0, b) = item else { continue };
        let id = |n: &str| {
            b.column_by_name(n)
                .unwrap()
                .as_primitive::<Int64Type>()
                .clone()
        };
        let (l, r) = (id("lid"), id("rid"));
        let op = b
            .column_by_name("$op")
            .expect("an outer join's output has $op")
            .as_primitive::<Int8Type>()
            .clone();
        assert_eq!(op.null_count(), 0);
        for i in 0..b.num_rows() {
            let get = |a: &Int64Array| a.is_valid(i).then(|| a.value(i));
            v.push((op.value(i), get(&l), get(&r)));
        }
    }
    v
}

/// `changes` as text: `+I 1 -` (op, left id, right id, `-` where padded).
fn text(changes: &[Change]) -> Vec<String> {
    let id = |x: Option<i64>| x.map_or("-".to_string(), |x| x.to_string());
    changes
        .iter()
        .map(|&(op, l, r)| {
            let op = ["+I", "-U", "+U", "-D"][op as usize];
            format!("{op} {} {}", id(l), id(r))
        })
        .collect()
}

/// Apply `changes` to `table` (a multiset): `+I` adds a row, `-D` removes an equal one,
/// which must be there and padded.
fn apply(table: &mut Vec<(Option<i64>, Option<i64>)>, changes: &[Change]) {
    for &(op, l, r) in changes {
        match op {
            0 => table.push((l, r)),
            3 => {
                assert!(l.is_none() || r.is_none(), "only padded rows are retracted");
                let at = table
                    .iter()
                    .position(|&x| x == (l, r))
                    .unwrap_or_else(|| panic!("-D of a row not in the table: {l:?} {r:?}"));
                table.swap_remove(at);
            }
            other => panic!("unexpected op {other}"),
        }
    }
}

/// The SQL outer join `t` of all `rows` (per side), sorted.
fn naive(rows: &[Vec<Row>; 2], t: JoinType) -> Vec<(Option<i64>, Option<i64>)> {
    let matches = |a: &Row, b: &Row| a.k.is_some() && a.k == b.k;
    let mut v = Vec::new();
    for l in &rows[0] {
        for r in &rows[1] {
            if matches(l, r) {
                v.push((Some(l.id), Some(r.id)));
            }
        }
    }
    if t.preserves_left() {
        for l in rows[0]
            .iter()
            .filter(|l| !rows[1].iter().any(|r| matches(l, r)))
        {
            v.push((Some(l.id), None));
        }
    }
    if t.preserves_right() {
        for r in rows[1]
            .iter()
            .filter(|r| !rows[0].iter().any(|l| matches(l, r)))
        {
            v.push((None, Some(r.id)));
        }
    }
    v.sort();
    v
}

fn feed(op: &mut RegularJoin, ctx: &mut OpContext, side: usize, rows: &[Row]) -> Vec<Change> {
    let mut out = Output::new();
    op.on_batch(side, batch(side, rows), ctx, &mut out).unwrap();
    changes(out.items())
}

/// The inputs of the known-answer tests: (side, rows), with several matches, rows
/// without partners on both sides, null keys, and two rows of one batch matching one
/// unmatched row.
fn known_inputs() -> Vec<(usize, Vec<Row>)> {
    let k = Some;
    vec![
        (0, vec![row(k(1), 1), row(k(2), 2), row(None, 3)]),
        (
            1,
            vec![row(k(1), 10), row(None, 16), row(k(1), 11), row(k(3), 12)],
        ),
        (0, vec![row(k(1), 4), row(k(3), 5), row(k(4), 6)]),
        (1, vec![row(k(4), 13), row(k(2), 14), row(k(4), 15)]),
    ]
}

fn known_answer(t: JoinType) -> Vec<Vec<String>> {
    let mut op = join(t, true);
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    known_inputs()
        .iter()
        .map(|(side, rows)| text(&feed(&mut op, &mut ctx, *side, rows)))
        .collect()
}

#[test]
fn left_outer_changelog() {
    assert_eq!(
        known_answer(JoinType::LeftOuter),
        [
            vec!["+I 1 -", "+I 2 -", "+I 3 -"],
            vec!["-D 1 -", "+I 1 10", "+I 1 11"],
            vec!["+I 4 10", "+I 4 11", "+I 5 12", "+I 6 -"],
            vec!["-D 6 -", "+I 6 13", "-D 2 -", "+I 2 14", "+I 6 15"],
        ]
    );
}

#[test]
fn right_outer_changelog() {
    assert_eq!(
        known_answer(JoinType::RightOuter),
        [
            vec![],
            vec!["+I 1 10", "+I - 16", "+I 1 11", "+I - 12"],
            vec!["+I 4 10", "+I 4 11", "-D - 12", "+I 5 12"],
            vec!["+I 6 13", "+I 2 14", "+I 6 15"],
        ]
    );
}

#[test]
fn full_outer_changelog() {
    assert_eq!(
        known_answer(JoinType::FullOuter),
        [
            vec!["+I 1 -", "+I 2 -", "+I 3 -"],
            vec!["-D 1 -", "+I 1 10", "+I - 16", "+I 1 11", "+I - 12"],
            vec!["+I 4 10", "+I 4 11", "-D - 12", "+I 5 12", "+I 6 -"],
            vec!["-D 6 -", "+I 6 13", "-D 2 -", "+I 2 14", "+I 6 15"],
        ]
    );
}

#[test]
fn inner_join_type_is_the_inner_join() {
    // Same rows as `RegularJoin::new`, same schema, no `$op`.
    let run = |op: &mut RegularJoin| {
        let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
        let mut items = Vec::new();
        for (side, rows) in known_inputs() {
            let mut out = Output::new();
            op.on_batch(side, batch(side, &rows), &mut ctx, &mut out)
                .unwrap();
            items.extend(out.drain());
        }
        items
    };
    let plain = run(&mut RegularJoin::new(vec!["k".into()], vec!["k".into()]).unwrap());
    let typed = run(&mut join(JoinType::Inner, false));
    let show = |items: &[OutItem]| {
        items
            .iter()
            .map(|i| match i {
                OutItem::Batch(_, b) => {
                    arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b))
                        .unwrap()
                        .to_string()
                }
                other => format!("{other:?}"),
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(show(&plain), show(&typed));
    let OutItem::Batch(_, b) = &typed[0] else {
        panic!("a batch")
    };
    assert!(b.column_by_name("$op").is_none());
    assert_eq!(super::tests::pairs_of(&typed).len(), 8);
}

#[test]
fn output_schema_pads_nullable_and_ends_with_op() {
    let schema = |names: [&str; 2], types: [DataType; 2]| {
        Arc::new(Schema::new(vec![
            Field::new(names[0], types[0].clone(), false),
            Field::new(names[1], types[1].clone(), false),
        ]))
    };
    let ls = schema(["k", "a"], [DataType::Int64, DataType::Utf8]);
    let rs = schema(["k", "b"], [DataType::Int64, DataType::Int64]);
    let left = RecordBatch::try_new(
        ls.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef,
            Arc::new(StringArray::from(vec!["x", "y"])),
        ],
    )
    .unwrap();
    let right = RecordBatch::try_new(
        rs.clone(),
        vec![
            Arc::new(Int64Array::from(vec![2, 3])) as ArrayRef,
            Arc::new(Int64Array::from(vec![20, 30])),
        ],
    )
    .unwrap();
    for (t, want) in [
        (JoinType::Inner, "k:n a:n k_right:n b:n"),
        (JoinType::LeftOuter, "k:n a:n k_right:y b:y $op:n"),
        (JoinType::RightOuter, "k:y a:y k_right:n b:n $op:n"),
        (JoinType::FullOuter, "k:y a:y k_right:y b:y $op:n"),
    ] {
        let mut op = RegularJoin::new(vec!["k".into()], vec!["k".into()])
            .unwrap()
            .with_join_type(t)
            .with_input_schemas(ls.clone(), rs.clone())
            .unwrap();
        assert_eq!(op.join_type(), t);
        let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
        let mut out = Output::new();
        op.on_batch(0, left.clone(), &mut ctx, &mut out).unwrap();
        op.on_batch(1, right.clone(), &mut ctx, &mut out).unwrap();
        let batches: Vec<RecordBatch> = out
            .items()
            .iter()
            .filter_map(|i| match i {
                OutItem::Batch(0, b) => Some(b.clone()),
                _ => None,
            })
            .collect();
        let fields: Vec<String> = batches[0]
            .schema()
            .fields()
            .iter()
            .map(|f| format!("{}:{}", f.name(), if f.is_nullable() { "y" } else { "n" }))
            .collect();
        assert_eq!(fields.join(" "), want, "{t:?}");
        if t == JoinType::FullOuter {
            let shown = arrow::util::pretty::pretty_format_batches(&batches)
                .unwrap()
                .to_string();
            let want = [
                "+---+---+---------+----+-----+",
                "| k | a | k_right | b  | $op |",
                "+---+---+---------+----+-----+",
                "| 1 | x |         |    | 0   |",
                "| 2 | y |         |    | 0   |",
                "| 2 | y |         |    | 3   |",
                "| 2 | y | 2       | 20 | 0   |",
                "|   |   | 3       | 30 | 0   |",
                "+---+---+---------+----+-----+",
            ];
            assert_eq!(shown.lines().collect::<Vec<_>>(), want);
        }
    }
}

#[test]
fn pending_rows_wait_for_the_other_sides_first_batch() {
    // Without declared schemas the right columns are unknown until the right side's first
    // batch: left rows wait, and come out padded just before that batch's results.
    let run = |cut: bool| {
        let mut op: Box<dyn Operator> = Box::new(join(JoinType::LeftOuter, false));
        let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
        let mut items = run_steps(
            op.as_mut(),
            &mut ctx,
            &[
                Step::Batch(0, batch(0, &[row(Some(1), 1), row(None, 2)])),
                Step::Watermark(5),
                Step::Batch(0, batch(0, &[row(Some(2), 3)])),
            ],
        )
        .unwrap();
        assert_eq!(
            changes(&items),
            [],
            "nothing before the right side's schema"
        );
        if cut {
            let state = ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap();
            assert!(state.table("left_pending").is_some());
            op = Box::new(join(JoinType::LeftOuter, false));
            op.restore(state, &mut ctx).unwrap();
        }
        items.extend(
            run_steps(
                op.as_mut(),
                &mut ctx,
                &[
                    Step::Batch(1, batch(1, &[row(Some(2), 10), row(Some(7), 11)])),
                    Step::End,
                ],
            )
            .unwrap(),
        );
        text(&changes(&items))
    };
    let want = ["+I 1 -", "+I 2 -", "+I 3 -", "-D 3 -", "+I 3 10"];
    assert_eq!(run(false), want);
    assert_eq!(run(true), want);
}

#[test]
fn a_restored_join_knows_a_schema_it_holds_no_rows_of() {
    // The right side's only row has a null key: dropped, but its batch told the right
    // columns. The snapshot carries that schema, so the restored join pads at once.
    let steps = [
        Step::Batch(1, batch(1, &[row(None, 10)])),
        Step::Batch(0, batch(0, &[row(Some(1), 1)])),
        Step::End,
    ];
    let (whole, cut) = restore_equivalence(
        &make(JoinType::LeftOuter, false),
        &steps,
        1,
        1,
        MAX_PARALLELISM,
    )
    .unwrap();
    assert_eq!(text(&changes(&whole)), ["+I 1 -"]);
    assert_eq!(text(&changes(&cut)), ["+I 1 -"]);
}

#[test]
fn end_with_rows_that_cannot_be_padded_is_an_error() {
    let steps = [Step::Batch(1, batch(1, &[row(Some(1), 1)])), Step::End];
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let e = run_steps(&mut join(JoinType::RightOuter, false), &mut ctx, &steps)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("the left input ended without sending a batch")
            && e.contains("1 right rows")
            && e.contains("with_input_schemas"),
        "{e}"
    );
    // Declared schemas pad at once; a LEFT join does not pad right rows, so holds none.
    let items = run_steps(&mut join(JoinType::RightOuter, true), &mut ctx, &steps).unwrap();
    assert_eq!(text(&changes(&items)), ["+I - 1"]);
    run_steps(&mut join(JoinType::LeftOuter, false), &mut ctx, &steps).unwrap();
}

#[test]
fn updating_inputs_are_rejected() {
    let left = batch(0, &[row(Some(1), 1)]);
    let mut fields: Vec<Field> = left
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("$op", DataType::Int8, false));
    let mut columns = left.columns().to_vec();
    columns.push(Arc::new(arrow::array::Int8Array::from(vec![0])));
    let updating = RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap();
    let mut op = join(JoinType::LeftOuter, false);
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let mut out = Output::new();
    op.on_batch(1, batch(1, &[row(Some(1), 10)]), &mut ctx, &mut out)
        .unwrap();
    let e = op.on_batch(0, updating, &mut ctx, &mut out).unwrap_err();
    assert!(
        matches!(&e, Error::Unsupported(m) if m.contains("the left input has a '$op' column")),
        "{e}"
    );
}

/// A random run: batches of random sides and sizes, keys that partly overlap (left 0..6,
/// right 3..9, some null), sometimes a long stretch of one side first, some watermarks.
/// Both sides send at least one batch.
fn outer_scenario(rng: &mut StdRng, steps: usize) -> Vec<Event> {
    let mut events = Vec::new();
    let mut id = 0;
    let first_only = rng.random_bool(0.5).then(|| rng.random_range(0..2usize));
    let head = rng.random_range(0..steps / 3);
    let mut seen = [false; 2];
    for s in 0..steps {
        if rng.random_bool(0.1) {
            events.push(Event::Watermark(s as i64));
            continue;
        }
        let side = match first_only {
            Some(f) if s < head => f,
            _ => rng.random_range(0..2),
        };
        events.push(random_batch(rng, side, &mut id));
        seen[side] = true;
    }
    for (side, seen) in seen.into_iter().enumerate() {
        if !seen {
            events.push(random_batch(rng, side, &mut id));
        }
    }
    events
}

fn random_batch(rng: &mut StdRng, side: usize, id: &mut i64) -> Event {
    let n = rng.random_range(1..7);
    let rows = (0..n)
        .map(|_| {
            *id += 1;
            let k = rng.random_range(0..6) + 3 * side as i64;
            row(rng.random_bool(0.9).then_some(k), *id)
        })
        .collect();
    Event::Batch(side, rows)
}

fn steps_of(events: &[Event]) -> Vec<Step> {
    let mut steps: Vec<Step> = events
        .iter()
        .map(|e| match e {
            Event::Batch(side, rows) => Step::Batch(*side, batch(*side, rows)),
            Event::Watermark(w) => Step::Watermark(*w),
        })
        .collect();
    steps.push(Step::End);
    steps
}

#[test]
fn changelog_applies_to_the_naive_outer_join() {
    let mut checked = 0;
    for t in OUTER {
        for declare in [true, false] {
            for seed in 0..40u64 {
                let mut rng = StdRng::seed_from_u64(seed);
                let events = outer_scenario(&mut rng, 40);
                let mut op = join(t, declare);
                let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
                let mut rows: [Vec<Row>; 2] = [Vec::new(), Vec::new()];
                let mut seen = [declare; 2];
                let mut table = Vec::new();
                for e in &events {
                    let mut out = Output::new();
                    match e {
                        Event::Batch(side, r) => {
                            op.on_batch(*side, batch(*side, r), &mut ctx, &mut out)
                                .unwrap();
                            rows[*side].extend(r.iter().copied());
                            seen[*side] = true;
                        }
                        Event::Watermark(w) => {
                            op.on_watermark(crate::time::Watermark(*w), &mut ctx, &mut out)
                                .unwrap();
                            assert!(matches!(out.items().last(), Some(OutItem::Watermark(_))));
                        }
                    }
                    apply(&mut table, &changes(out.items()));
                    // Once both schemas are known the table is always exact; before, the
                    // rows of a preserved side are pending.
                    if seen == [true, true] {
                        table.sort();
                        assert_eq!(table, naive(&rows, t), "{t:?} seed {seed}");
                        checked += table.len();
                    }
                }
                let mut out = Output::new();
                op.on_end(&mut ctx, &mut out).unwrap();
                assert!(out.is_empty());
                table.sort();
                assert_eq!(
                    table,
                    naive(&rows, t),
                    "{t:?} declared {declare} seed {seed}"
                );
                let kept: usize = rows.iter().flatten().filter(|r| r.k.is_some()).count();
                let [l, r] = op.state_rows();
                assert_eq!(l + r, kept);
                assert!(op.state_bytes() > 0 && op.num_keys() <= 9);
            }
        }
    }
    assert!(checked > 10_000, "non-trivial runs: {checked}");
}

#[test]
fn restore_equivalence_at_every_cut() {
    for t in OUTER {
        for declare in [true, false] {
            let make = make(t, declare);
            for seed in 0..4u64 {
                let steps = steps_of(&outer_scenario(&mut StdRng::seed_from_u64(seed), 40));
                for cut in 0..=steps.len() {
                    let (whole, cut_run) =
                        restore_equivalence(&make, &steps, cut, 1, MAX_PARALLELISM)
                            .unwrap_or_else(|e| panic!("{t:?} seed {seed} cut {cut}: {e}"));
                    assert_eq!(
                        text(&changes(&whole)),
                        text(&changes(&cut_run)),
                        "{t:?} declared {declare} seed {seed} cut {cut}"
                    );
                }
            }
        }
    }
}

/// The state of each new subtask of `new_p`, assembled from the old subtasks' snapshots as
/// the checkpoint writer and the runtime do (see `checkpoint_tests.rs`): keyed rows filed
/// in blocks of key groups, non-keyed rows to the same subtask, or to all after a rescale.
pub(super) fn redistribute(old: &[OperatorState], new_p: usize) -> Vec<OperatorState> {
    let block = (MAX_PARALLELISM / 32).max(1);
    let rescaled = old.len() != new_p;
    (0..new_p)
        .map(|s| {
            let range = KeyGroupRange::for_subtask(MAX_PARALLELISM, new_p, s);
            let mut tables: Vec<StateTable> = Vec::new();
            for (o, state) in old.iter().enumerate() {
                for t in &state.tables {
                    let batches = if t.keyed {
                        let mut v = Vec::new();
                        for start in (0..MAX_PARALLELISM).step_by(block) {
                            let r = KeyGroupRange::new(
                                start.max(range.start),
                                (start + block).min(range.end),
                            );
                            if r.start < r.end {
                                v.extend(filter_key_groups(t, r).unwrap());
                            }
                        }
                        v
                    } else if rescaled || o == s {
                        t.batches.clone()
                    } else {
                        Vec::new()
                    };
                    match tables.iter_mut().find(|x| x.name == t.name) {
                        Some(x) => x.batches.extend(batches),
                        None => tables.push(StateTable {
                            name: t.name.clone(),
                            keyed: t.keyed,
                            batches,
                        }),
                    }
                }
            }
            OperatorState {
                tables,
                files: Vec::new(),
                rescaled,
            }
        })
        .collect()
}

/// The steps of subtask `s` of `p`: each batch cut to the rows whose key group `s` owns.
pub(super) fn route(steps: &[Step], s: usize, p: usize) -> Vec<Step> {
    steps
        .iter()
        .filter_map(|step| match step {
            Step::Batch(input, b) => {
                let kg = key_groups_of(&[b.column(0).clone()], MAX_PARALLELISM).unwrap();
                let rows: Vec<u32> = (0..b.num_rows() as u32)
                    .filter(|&i| {
                        operator_index_for_key_group(MAX_PARALLELISM, p, kg[i as usize] as usize)
                            == s
                    })
                    .collect();
                (!rows.is_empty()).then(|| {
                    Step::Batch(
                        *input,
                        take_record_batch(b, &UInt32Array::from(rows)).unwrap(),
                    )
                })
            }
            other => Some(other.clone()),
        })
        .collect()
}

fn start(
    t: JoinType,
    declare: bool,
    s: usize,
    p: usize,
    state: Option<OperatorState>,
) -> (Box<dyn Operator>, OpContext) {
    let mut op = make(t, declare)().unwrap();
    let mut ctx = OpContext::new(s, p, MAX_PARALLELISM);
    op.open(&mut ctx).unwrap();
    if let Some(state) = state {
        op.restore(state, &mut ctx).unwrap();
    }
    (op, ctx)
}

#[test]
fn restore_after_key_group_filing_keeps_the_order() {
    // The checkpoint writer files keyed rows (and pending rows) by blocks of key groups,
    // which reorders rows of different keys; the restored join emits the same changelog.
    let mut rng = StdRng::seed_from_u64(99);
    for t in OUTER {
        for declare in [true, false] {
            for seed in 0..8u64 {
                let steps = steps_of(&outer_scenario(&mut StdRng::seed_from_u64(seed + 100), 60));
                let (mut a, mut ctx_a) = start(t, declare, 0, 1, None);
                let whole = text(&changes(
                    &run_steps(a.as_mut(), &mut ctx_a, &steps).unwrap(),
                ));
                for _ in 0..6 {
                    let cut = rng.random_range(0..=steps.len());
                    let (mut b, mut ctx_b) = start(t, declare, 0, 1, None);
                    let mut got = run_steps(b.as_mut(), &mut ctx_b, &steps[..cut]).unwrap();
                    let snap = ipc_round_trip(b.snapshot(7, &mut ctx_b).unwrap()).unwrap();
                    let restored = redistribute(&[snap], 1).pop().unwrap();
                    let (mut c, mut ctx_c) = start(t, declare, 0, 1, Some(restored));
                    got.extend(run_steps(c.as_mut(), &mut ctx_c, &steps[cut..]).unwrap());
                    assert_eq!(whole, text(&changes(&got)), "{t:?} seed {seed} cut {cut}");
                }
            }
        }
    }
}

#[test]
fn restore_at_another_parallelism_gives_the_same_table() {
    // Two subtasks run to a random cut and snapshot; 1, 2 or 4 subtasks restore and finish.
    // The union of all changelogs, applied, is the naive outer join. Without declared
    // schemas a subtask may hold pending rows (or have seen no batch of a side): each new
    // subtask is finally sent an empty batch of each side, as a stand-in for a first batch.
    let mut rng = StdRng::seed_from_u64(7);
    let mut checked = 0;
    for t in OUTER {
        for declare in [true, false] {
            for seed in 0..8u64 {
                let events = outer_scenario(&mut StdRng::seed_from_u64(seed + 200), 60);
                let mut rows: [Vec<Row>; 2] = [Vec::new(), Vec::new()];
                for e in &events {
                    if let Event::Batch(side, r) = e {
                        rows[*side].extend(r.iter().copied());
                    }
                }
                let want = naive(&rows, t);
                let mut steps = steps_of(&events);
                steps.pop();
                let cut = rng.random_range(steps.len() / 4..=steps.len() * 3 / 4);
                let mut before = Vec::new();
                let mut snaps = Vec::new();
                for s in 0..2 {
                    let (mut op, mut ctx) = start(t, declare, s, 2, None);
                    before.extend(
                        run_steps(op.as_mut(), &mut ctx, &route(&steps[..cut], s, 2)).unwrap(),
                    );
                    snaps.push(ipc_round_trip(op.snapshot(3, &mut ctx).unwrap()).unwrap());
                }
                for new_p in [1, 2, 4] {
                    let mut got = before.clone();
                    for (s, state) in redistribute(&snaps, new_p).into_iter().enumerate() {
                        let (mut op, mut ctx) = start(t, declare, s, new_p, Some(state));
                        let mut mine = route(&steps[cut..], s, new_p);
                        mine.extend([
                            Step::Batch(0, batch(0, &[])),
                            Step::Batch(1, batch(1, &[])),
                            Step::End,
                        ]);
                        got.extend(run_steps(op.as_mut(), &mut ctx, &mine).unwrap());
                    }
                    let mut table = Vec::new();
                    apply(&mut table, &changes(&got));
                    table.sort();
                    assert_eq!(
                        table, want,
                        "{t:?} declared {declare} seed {seed} cut {cut}: p 2 -> {new_p}"
                    );
                    checked += want.len();
                }
            }
        }
    }
    assert!(checked > 2_000, "non-trivial runs: {checked}");
}

#[test]
fn rescaled_restore_pads_pending_rows_with_another_subtasks_schema() {
    // Old subtask 0 saw only left rows (pending: no right schema), old subtask 1 only right
    // rows. After a restore at parallelism 1 the right schema is known from subtask 1's
    // snapshot, so the pending rows come out at the next event, before anything else.
    let owner = |k: i64| {
        let keys: ArrayRef = Arc::new(Int64Array::from(vec![k]));
        let kg = key_groups_of(&[keys], MAX_PARALLELISM).unwrap();
        operator_index_for_key_group(MAX_PARALLELISM, 2, kg[0] as usize)
    };
    let key_of = |s: usize| (0..1000).find(|&k| owner(k) == s).unwrap();
    let (l, r) = (row(Some(key_of(0)), 1), row(Some(key_of(1)), 10));
    let mut snaps = Vec::new();
    for (s, side, x) in [(0, 0, l), (1, 1, r)] {
        let (mut op, mut ctx) = start(JoinType::FullOuter, false, s, 2, None);
        let items = run_steps(
            op.as_mut(),
            &mut ctx,
            &[Step::Batch(side, batch(side, &[x]))],
        )
        .unwrap();
        assert_eq!(changes(&items), [], "subtask {s}: pending");
        snaps.push(ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap());
    }
    let state = redistribute(&snaps, 1).pop().unwrap();
    let (mut op, mut ctx) = start(JoinType::FullOuter, false, 0, 1, Some(state));
    let items = run_steps(op.as_mut(), &mut ctx, &[Step::Watermark(1), Step::End]).unwrap();
    assert_eq!(text(&changes(&items)), ["+I 1 -", "+I - 10"]);
    assert!(matches!(items.last(), Some(OutItem::Watermark(w)) if w.0 == 1));
}

#[test]
fn checkpoints_of_another_join_type_are_rejected() {
    let steps = [
        Step::Batch(0, batch(0, &[row(Some(1), 1)])),
        Step::Batch(1, batch(1, &[row(Some(1), 10)])),
    ];
    let snapshot = |t: JoinType| {
        let (mut op, mut ctx) = start(t, false, 0, 1, None);
        run_steps(op.as_mut(), &mut ctx, &steps).unwrap();
        ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap()
    };
    let restore = |t: JoinType, state: OperatorState| {
        let mut op = make(t, false)().unwrap();
        let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
        op.restore(state, &mut ctx).map_err(|e| e.to_string())
    };
    for (from, into, says) in [
        (
            JoinType::Inner,
            JoinType::LeftOuter,
            "has no __matches column",
        ),
        (
            JoinType::LeftOuter,
            JoinType::Inner,
            "unknown state table 'left_schema'",
        ),
        (
            JoinType::LeftOuter,
            JoinType::RightOuter,
            "ends with __matches",
        ),
        (
            JoinType::FullOuter,
            JoinType::LeftOuter,
            "ends with __matches",
        ),
    ] {
        let e = restore(into, snapshot(from)).unwrap_err();
        assert!(e.contains(says), "{from:?} into {into:?}: {e}");
    }
    for t in [JoinType::Inner, JoinType::LeftOuter, JoinType::FullOuter] {
        restore(t, snapshot(t)).unwrap();
    }
    let mut foreign = OperatorState::new();
    foreign.push_bytes("position", &[vec![1]]);
    let e = restore(JoinType::FullOuter, foreign).unwrap_err();
    assert!(e.contains("unknown state table 'position'"), "{e}");
}
