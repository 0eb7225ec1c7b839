//! Regular joins in changelog mode (updating inputs, residual predicates): Flink's exact
//! changelogs on known inputs, a multiset oracle over random changelogs (after every batch,
//! the output changelog applied must be the SQL join of the two sides' live rows), and
//! checkpoints: restore at every cut, and at another parallelism.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, Int8Array, RecordBatch};
use arrow::compute::kernels::cmp::lt_eq;
use arrow::datatypes::{DataType, Field, Int64Type, Int8Type, Schema, SchemaRef};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::outer_tests::{redistribute, route};
use super::*;
use crate::checkpoint::testing::{ipc_round_trip, restore_equivalence, run_steps, Step};
use crate::checkpoint::OperatorState;
use crate::operator::{OpContext, Operator, OutItem, Output};

const MAX_PARALLELISM: usize = 128;
const ALL: [JoinType; 4] = [
    JoinType::Inner,
    JoinType::LeftOuter,
    JoinType::RightOuter,
    JoinType::FullOuter,
];
const I: i8 = 0;
const UB: i8 = 1;
const UA: i8 = 2;
const D: i8 = 3;

/// A row of either side: key (None = null) and value (`v` on the left, `w` on the right).
type Row = (Option<i64>, i64);
/// An output row: (`$op`, left row, right row); `None` where padded.
type Change = (i8, Option<Row>, Option<Row>);

/// The data columns of `side`: `k: Int64` (nullable), then `v` (left) or `w` (right).
fn schema(side: usize) -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, true),
        Field::new(["v", "w"][side], DataType::Int64, false),
    ]))
}

/// A batch of `side` with `$op` when `updating` (then every row's kind is used).
fn batch(side: usize, rows: &[(i8, Row)], updating: bool) -> RecordBatch {
    let mut columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1 .0))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1 .1))),
    ];
    let mut fields: Vec<Field> = schema(side)
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    if updating {
        columns.push(Arc::new(Int8Array::from_iter_values(
            rows.iter().map(|r| r.0),
        )));
        fields.push(Field::new("$op", DataType::Int8, false));
    }
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// `v <= w`: the residual predicate of the tests, over (k, v, k, w) pairs.
fn v_le_w() -> PairPredicate {
    Arc::new(|b: &RecordBatch| Ok(Arc::new(lt_eq(b.column(1), b.column(3))?) as ArrayRef))
}

/// The join under test: `t` on `k`, inputs updating as `updating`, schemas declared.
#[derive(Clone, Copy, Debug)]
struct Setup {
    t: JoinType,
    updating: [bool; 2],
    residual: bool,
}

impl Setup {
    fn build(self) -> RegularJoin {
        let spec = RegularJoinSpec {
            join_type: self.t,
            schemas: Some((schema(0), schema(1))),
            updating: self.updating,
            residual: self.residual.then(v_le_w),
        };
        spec.build(vec!["k".into()], vec!["k".into()]).unwrap()
    }

    fn make(self) -> impl Fn() -> Result<Box<dyn Operator>> {
        move || Ok(Box::new(self.build()) as Box<dyn Operator>)
    }

    fn step(self, side: usize, rows: &[(i8, Row)]) -> Step {
        Step::Batch(side, batch(side, rows, self.updating[side]))
    }

    /// Every combination with at least one updating input, with and without a residual.
    fn all() -> Vec<Setup> {
        let mut v = Vec::new();
        for t in ALL {
            for updating in [[true, true], [true, false], [false, true]] {
                for residual in [false, true] {
                    v.push(Setup {
                        t,
                        updating,
                        residual,
                    });
                }
            }
        }
        v
    }
}

/// The rows of every output batch of `items`, in order.
fn changes(items: &[OutItem]) -> Vec<Change> {
    let mut v = Vec::new();
    for item in items {
        let OutItem::Batch(0, b) = item else { continue };
        let col = |i: usize| b.column(i).as_primitive::<Int64Type>().clone();
        let (lk, lv, rk, rw) = (col(0), col(1), col(2), col(3));
        let ops = b
            .column_by_name("$op")
            .map(|o| o.as_primitive::<Int8Type>().clone());
        for i in 0..b.num_rows() {
            let side = |k: &Int64Array, x: &Int64Array| {
                (!x.is_null(i)).then(|| ((!k.is_null(i)).then(|| k.value(i)), x.value(i)))
            };
            let op = ops.as_ref().map_or(I, |o| o.value(i));
            v.push((op, side(&lk, &lv), side(&rk, &rw)));
        }
    }
    v
}

fn text(changes: &[Change]) -> Vec<String> {
    let row = |r: Option<Row>| match r {
        Some((k, x)) => format!("{}:{x}", k.map_or("null".into(), |k| k.to_string())),
        None => "-".into(),
    };
    changes
        .iter()
        .map(|&(op, l, r)| {
            let op = ["+I", "-U", "+U", "-D"][op as usize];
            format!("{op} {} {}", row(l), row(r))
        })
        .collect()
}

type Table = Vec<(Option<Row>, Option<Row>)>;

/// Apply `changes` to `table` (a multiset); a retraction must find its row.
fn apply(table: &mut Table, changes: &[Change]) {
    for &(op, l, r) in changes {
        if op == I || op == UA {
            table.push((l, r));
        } else {
            let at = table
                .iter()
                .position(|&x| x == (l, r))
                .unwrap_or_else(|| panic!("retraction of a row not in the table: {l:?} {r:?}"));
            table.swap_remove(at);
        }
    }
}

/// The SQL join of the live rows of both sides, sorted.
fn oracle(live: &[Vec<Row>; 2], s: Setup) -> Table {
    let matches = |l: &Row, r: &Row| l.0.is_some() && l.0 == r.0 && (!s.residual || l.1 <= r.1);
    let mut v = Vec::new();
    for l in &live[0] {
        for r in &live[1] {
            if matches(l, r) {
                v.push((Some(*l), Some(*r)));
            }
        }
    }
    if s.t.preserves_left() {
        for l in live[0]
            .iter()
            .filter(|l| !live[1].iter().any(|r| matches(l, r)))
        {
            v.push((Some(*l), None));
        }
    }
    if s.t.preserves_right() {
        for r in live[1]
            .iter()
            .filter(|r| !live[0].iter().any(|l| matches(l, r)))
        {
            v.push((None, Some(*r)));
        }
    }
    v.sort();
    v
}

fn run(s: Setup, steps: &[Step]) -> Vec<Change> {
    let mut op = s.build();
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    changes(&run_steps(&mut op, &mut ctx, steps).unwrap())
}

fn setup(t: JoinType) -> Setup {
    Setup {
        t,
        updating: [true, true],
        residual: false,
    }
}

#[test]
fn inner_join_forwards_the_row_kinds() {
    let s = setup(JoinType::Inner);
    let got = run(
        s,
        &[
            s.step(0, &[(I, (Some(1), 10))]),
            s.step(1, &[(UA, (Some(1), 5)), (I, (Some(2), 6))]),
            s.step(0, &[(UB, (Some(1), 10)), (UA, (Some(1), 11))]),
            s.step(1, &[(D, (Some(1), 5))]),
        ],
    );
    assert_eq!(
        text(&got),
        ["+U 1:10 1:5", "-U 1:10 1:5", "+U 1:11 1:5", "-D 1:11 1:5"]
    );
}

#[test]
fn left_join_changelog_is_flinks() {
    // As Flink's StreamingJoinOperator: a padded row is retracted before its first pair
    // and emitted again when its last partner goes; the non-preserved side's retractions
    // keep their kind, the preserved side's become -D.
    let s = setup(JoinType::LeftOuter);
    let got = run(
        s,
        &[
            s.step(0, &[(I, (Some(1), 10)), (I, (None, 7))]),
            s.step(1, &[(I, (Some(1), 5))]),
            s.step(1, &[(UB, (Some(1), 5)), (UA, (Some(1), 6))]),
            s.step(0, &[(UB, (Some(1), 10)), (UA, (Some(1), 12))]),
            s.step(0, &[(D, (None, 7)), (D, (Some(1), 12))]),
        ],
    );
    assert_eq!(
        text(&got),
        [
            "+I 1:10 -",
            "+I null:7 -",
            "-D 1:10 -",
            "+I 1:10 1:5",
            "-U 1:10 1:5",
            "+I 1:10 -",
            "-D 1:10 -",
            "+I 1:10 1:6",
            "-D 1:10 1:6",
            "+I 1:12 1:6",
            "-D null:7 -",
            "-D 1:12 1:6",
        ]
    );
}

#[test]
fn retracting_a_row_with_several_partners_retracts_every_pair() {
    let s = setup(JoinType::FullOuter);
    let right: Vec<(i8, Row)> = (0..3).map(|w| (I, (Some(1), w))).collect();
    let got = run(
        s,
        &[
            s.step(1, &right),
            s.step(0, &[(I, (Some(1), 9))]),
            s.step(0, &[(D, (Some(1), 9))]),
        ],
    );
    assert_eq!(
        text(&got),
        [
            "+I - 1:0",
            "+I - 1:1",
            "+I - 1:2",
            "-D - 1:0",
            "-D - 1:1",
            "-D - 1:2",
            "+I 1:9 1:0",
            "+I 1:9 1:1",
            "+I 1:9 1:2",
            "-D 1:9 1:0",
            "-D 1:9 1:1",
            "-D 1:9 1:2",
            "+I - 1:0",
            "+I - 1:1",
            "+I - 1:2",
        ]
    );
}

#[test]
fn duplicates_are_a_multiset_and_unknown_retractions_change_nothing() {
    let s = setup(JoinType::Inner);
    let mut op = s.build();
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let steps = [
        // Two equal rows, then one retracted in the same batch as a third copy arrives.
        s.step(0, &[(I, (Some(1), 1)), (I, (Some(1), 1))]),
        s.step(1, &[(I, (Some(1), 2))]),
        s.step(
            0,
            &[(D, (Some(1), 1)), (I, (Some(1), 1)), (D, (Some(1), 1))],
        ),
        // Never sent: no output, no change.
        s.step(0, &[(D, (Some(1), 4)), (UB, (Some(3), 1))]),
        s.step(1, &[(D, (Some(2), 2))]),
    ];
    let got = changes(&run_steps(&mut op, &mut ctx, &steps).unwrap());
    assert_eq!(
        text(&got),
        [
            "+I 1:1 1:2",
            "+I 1:1 1:2",
            "-D 1:1 1:2",
            "+I 1:1 1:2",
            "-D 1:1 1:2"
        ]
    );
    assert_eq!(op.state_rows(), [1, 1]);
    let mut table = Vec::new();
    apply(&mut table, &got);
    assert_eq!(table, [(Some((Some(1), 1)), Some((Some(1), 2)))]);
}

#[test]
fn a_residual_predicate_is_part_of_the_outer_join_condition() {
    // LEFT JOIN ON k AND v <= w, insert-only inputs: a left row whose partners all fail
    // the predicate stays padded.
    let s = Setup {
        t: JoinType::LeftOuter,
        updating: [false, false],
        residual: true,
    };
    let got = run(
        s,
        &[
            s.step(0, &[(I, (Some(1), 5)), (I, (Some(1), 1))]),
            s.step(1, &[(I, (Some(1), 3))]),
        ],
    );
    assert_eq!(
        text(&got),
        ["+I 1:5 -", "+I 1:1 -", "-D 1:1 -", "+I 1:1 1:3"]
    );
    // An inner join of insert-only inputs with a residual stays insert-only.
    let mut op = Setup {
        t: JoinType::Inner,
        ..s
    }
    .build();
    assert!(!op.output_updating());
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let mut out = Output::new();
    op.on_batch(0, batch(0, &[(I, (Some(1), 1))], false), &mut ctx, &mut out)
        .unwrap();
    op.on_batch(1, batch(1, &[(I, (Some(1), 3))], false), &mut ctx, &mut out)
        .unwrap();
    let b = out.items().iter().find_map(|i| match i {
        OutItem::Batch(0, b) => Some(b.clone()),
        _ => None,
    });
    let b = b.unwrap();
    assert_eq!(b.num_rows(), 1);
    assert!(b.column_by_name("$op").is_none());
}

#[test]
fn malformed_inputs_are_errors() {
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let mut out = Output::new();
    // Declared updating, but no $op; and a row kind out of range.
    let mut op = setup(JoinType::Inner).build();
    let e = op
        .on_batch(0, batch(0, &[(I, (Some(1), 1))], false), &mut ctx, &mut out)
        .unwrap_err();
    assert!(e.to_string().contains("lack a $op column"), "{e}");
    let e = op
        .on_batch(0, batch(0, &[(7, (Some(1), 1))], true), &mut ctx, &mut out)
        .unwrap_err();
    assert!(e.to_string().contains("row kind 7"), "{e}");
    // An insert-only join sent an updating batch.
    let mut op = RegularJoin::new(vec!["k".into()], vec!["k".into()]).unwrap();
    let e = op
        .on_batch(1, batch(1, &[(I, (Some(1), 1))], true), &mut ctx, &mut out)
        .unwrap_err();
    assert!(e.to_string().contains("not declared updating"), "{e}");
    // An outer join in changelog mode needs declared schemas.
    let mut op = RegularJoin::new(vec!["k".into()], vec!["k".into()])
        .unwrap()
        .with_join_type(JoinType::LeftOuter)
        .with_updating_inputs(true, false);
    let e = op
        .on_batch(0, batch(0, &[(I, (Some(1), 1))], true), &mut ctx, &mut out)
        .unwrap_err();
    assert!(e.to_string().contains("with_input_schemas"), "{e}");
}

/// A random changelog of one side: inserts (`+I`, or `+U` on an updating side) of rows
/// from a small domain (so equal rows are common), and on an updating side retractions
/// (`-D`, or `-U` mostly followed by a `+U`) of live rows; `live` is kept up to date.
fn random_changes(rng: &mut StdRng, live: &mut Vec<Row>, updating: bool) -> Vec<(i8, Row)> {
    let mut rows = Vec::new();
    for _ in 0..rng.random_range(1..7) {
        if updating && !live.is_empty() && rng.random_bool(0.45) {
            let old = live.swap_remove(rng.random_range(0..live.len()));
            if rng.random_bool(0.5) {
                rows.push((D, old));
                continue;
            }
            rows.push((UB, old));
            if rng.random_bool(0.8) {
                let new = (old.0, rng.random_range(0..4));
                live.push(new);
                rows.push((UA, new));
            }
            continue;
        }
        let row = (
            rng.random_bool(0.9).then(|| rng.random_range(0..4)),
            rng.random_range(0..4),
        );
        live.push(row);
        let op = if updating && rng.random_bool(0.3) {
            UA
        } else {
            I
        };
        rows.push((op, row));
    }
    rows
}

/// A random run of `s`: steps, and the live rows of both sides after each step.
fn scenario(rng: &mut StdRng, s: Setup, steps: usize) -> (Vec<Step>, Vec<[Vec<Row>; 2]>) {
    let mut live: [Vec<Row>; 2] = [Vec::new(), Vec::new()];
    let (mut out, mut states) = (Vec::new(), Vec::new());
    for _ in 0..steps {
        let side = rng.random_range(0..2);
        let rows = random_changes(rng, &mut live[side], s.updating[side]);
        out.push(s.step(side, &rows));
        states.push(live.clone());
    }
    (out, states)
}

#[test]
fn changelog_applies_to_the_join_of_the_live_rows() {
    let mut checked = 0;
    for s in Setup::all() {
        for seed in 0..12u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let (steps, states) = scenario(&mut rng, s, 40);
            let mut op = s.build();
            let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
            let mut table = Vec::new();
            for (i, (step, live)) in steps.iter().zip(&states).enumerate() {
                let got =
                    changes(&run_steps(&mut op, &mut ctx, std::slice::from_ref(step)).unwrap());
                apply(&mut table, &got);
                table.sort();
                assert_eq!(table, oracle(live, s), "{s:?} seed {seed} step {i}");
                checked += table.len();
                let rows = |l: &[Row]| l.iter().filter(|r| r.0.is_some()).count();
                assert_eq!(op.state_rows(), [rows(&live[0]), rows(&live[1])]);
            }
        }
    }
    assert!(checked > 20_000, "non-trivial runs: {checked}");
}

#[test]
fn restore_equivalence_at_every_cut() {
    for s in Setup::all() {
        for seed in 0..2u64 {
            let (steps, _) = scenario(&mut StdRng::seed_from_u64(seed + 50), s, 30);
            for cut in 0..=steps.len() {
                restore_equivalence(&s.make(), &steps, cut, 1, MAX_PARALLELISM)
                    .unwrap_or_else(|e| panic!("{s:?} seed {seed} cut {cut}: {e}"));
            }
        }
    }
}

#[test]
fn restore_at_another_parallelism_gives_the_same_table() {
    // Two subtasks run to a random cut and snapshot; 1, 2 or 4 subtasks restore and finish.
    let mut rng = StdRng::seed_from_u64(3);
    let mut checked = 0;
    for s in Setup::all() {
        for seed in 0..3u64 {
            let (steps, states) = scenario(&mut StdRng::seed_from_u64(seed + 100), s, 50);
            let want = oracle(&states[states.len() - 1], s);
            let cut = rng.random_range(steps.len() / 4..=steps.len() * 3 / 4);
            let start = |sub: usize, p: usize, state: Option<OperatorState>| {
                let mut op = s.make()().unwrap();
                let mut ctx = OpContext::new(sub, p, MAX_PARALLELISM);
                op.open(&mut ctx).unwrap();
                if let Some(state) = state {
                    op.restore(state, &mut ctx).unwrap();
                }
                (op, ctx)
            };
            let (mut before, mut snaps) = (Vec::new(), Vec::new());
            for sub in 0..2 {
                let (mut op, mut ctx) = start(sub, 2, None);
                let mine = route(&steps[..cut], sub, 2);
                before.extend(run_steps(op.as_mut(), &mut ctx, &mine).unwrap());
                snaps.push(ipc_round_trip(op.snapshot(3, &mut ctx).unwrap()).unwrap());
            }
            for new_p in [1, 2, 4] {
                let mut got = before.clone();
                for (sub, state) in redistribute(&snaps, new_p).into_iter().enumerate() {
                    let (mut op, mut ctx) = start(sub, new_p, Some(state));
                    let mine = route(&steps[cut..], sub, new_p);
                    got.extend(run_steps(op.as_mut(), &mut ctx, &mine).unwrap());
                }
                let mut table = Vec::new();
                apply(&mut table, &changes(&got));
                table.sort();
                assert_eq!(table, want, "{s:?} seed {seed} cut {cut}: p 2 -> {new_p}");
                checked += want.len();
            }
        }
    }
    assert!(checked > 1_000, "non-trivial runs: {checked}");
}

#[test]
fn state_is_freed_as_rows_are_retracted() {
    // An aggregate-like input: every key's row replaced again and again (-U old, +U new).
    let s = setup(JoinType::FullOuter);
    let mut op = s.build();
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let mut out = Output::new();
    let mut early = 0;
    for round in 0..200i64 {
        for side in 0..2 {
            let rows: Vec<(i8, Row)> = (0..8)
                .flat_map(|k| {
                    let new = (UA, (Some(k), round));
                    if round == 0 {
                        vec![(I, (Some(k), round))]
                    } else {
                        vec![(UB, (Some(k), round - 1)), new]
                    }
                })
                .collect();
            op.on_batch(side, batch(side, &rows, true), &mut ctx, &mut out)
                .unwrap();
        }
        out.drain();
        if round == 5 {
            early = op.state_bytes();
        }
    }
    assert_eq!(op.state_rows(), [8, 8]);
    assert_eq!(op.num_keys(), 8);
    // Retracted rows' batches are freed and their slots reused: no growth with the stream.
    assert!(op.state_bytes() <= early, "{} > {early}", op.state_bytes());
}
