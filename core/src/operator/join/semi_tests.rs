//! Semi and anti joins: exact changelogs, an oracle over random runs (after every batch the
//! changelog applied as a multiset must equal the SQL semi or anti join of the rows live so
//! far, for every combination of kind, residual predicate, keys and updating inputs), and
//! checkpoints: restore at every cut, after key-group filing, and at another parallelism.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, Int8Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Int8Type, Schema};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::checkpoint_tests::{redistribute, route};
use super::*;
use crate::checkpoint::testing::{ipc_round_trip, restore_equivalence, run_steps, Step};
use crate::checkpoint::OperatorState;
use crate::operator::{OpContext, Operator, OutItem, Output};

const MAX_PARALLELISM: usize = 128;

/// A left row: key (None = null), unique id, value for the residual predicate.
#[derive(Debug, Clone, Copy, PartialEq)]
struct L {
    k: Option<i64>,
    id: i64,
    v: i64,
}

/// A right row: key and value.
#[derive(Debug, Clone, Copy, PartialEq)]
struct R {
    k: Option<i64>,
    v: i64,
}

/// Which join: kind, with the residual `lv < rv`, with the left filter `lv % 3 <> 0`,
/// keyed on `k` (else no keys), and which inputs are updating.
#[derive(Debug, Clone, Copy)]
struct Config {
    kind: SemiJoinKind,
    residual: bool,
    left_filter: bool,
    keyed: bool,
    updating: [bool; 2],
}

impl Config {
    /// A `kind` join on `k` alone, of insert-only inputs.
    fn keyed(kind: SemiJoinKind) -> Self {
        Config {
            kind,
            residual: false,
            left_filter: false,
            keyed: true,
            updating: [false, false],
        }
    }
}

fn batch(fields: Vec<(&str, ArrayRef)>, ops: Option<Vec<i8>>) -> RecordBatch {
    let mut f: Vec<Field> = fields
        .iter()
        .map(|(n, a)| Field::new(*n, a.data_type().clone(), true))
        .collect();
    let mut columns: Vec<ArrayRef> = fields.into_iter().map(|(_, a)| a).collect();
    if let Some(ops) = ops {
        f.push(Field::new("$op", DataType::Int8, false));
        columns.push(Arc::new(Int8Array::from(ops)));
    }
    RecordBatch::try_new(Arc::new(Schema::new(f)), columns).unwrap()
}

/// A batch of the BIGINT columns `names`, whose values `row` gives (plus `$op` when
/// updating).
fn rows_batch<T>(
    names: &[&str],
    rows: &[(T, i8)],
    row: impl Fn(&T) -> Vec<Option<i64>>,
    updating: bool,
) -> RecordBatch {
    let values: Vec<Vec<Option<i64>>> = rows.iter().map(|(r, _)| row(r)).collect();
    let fields = names
        .iter()
        .enumerate()
        .map(|(c, n)| {
            let col: Vec<Option<i64>> = values.iter().map(|v| v[c]).collect();
            (*n, Arc::new(Int64Array::from(col)) as ArrayRef)
        })
        .collect();
    batch(
        fields,
        updating.then(|| rows.iter().map(|&(_, op)| op).collect()),
    )
}

/// Left batch `k, lid, lv` (plus `$op` when updating).
fn left_batch(rows: &[(L, i8)], updating: bool) -> RecordBatch {
    let row = |r: &L| vec![r.k, Some(r.id), Some(r.v)];
    rows_batch(&["k", "lid", "lv"], rows, row, updating)
}

/// Right batch `k, rv` (plus `$op` when updating).
fn right_batch(rows: &[(R, i8)], updating: bool) -> RecordBatch {
    rows_batch(&["k", "rv"], rows, |r| vec![r.k, Some(r.v)], updating)
}

/// `lv < rv` over a pair batch `k, lid, lv, k, rv`.
fn less_than() -> PairPredicate {
    Arc::new(|b: &RecordBatch| {
        Ok(Arc::new(arrow::compute::kernels::cmp::lt(b.column(2), b.column(4))?) as ArrayRef)
    })
}

/// `lv % 3 <> 0` over a left batch `k, lid, lv`.
fn not_multiple_of_three() -> PairPredicate {
    Arc::new(|b: &RecordBatch| {
        let v = b.column(2).as_primitive::<Int64Type>();
        Ok(Arc::new(arrow::array::BooleanArray::from_unary(v, |x| x % 3 != 0)) as ArrayRef)
    })
}

fn join(c: Config) -> SemiAntiJoin {
    let keys = || {
        if c.keyed {
            vec!["k".to_string()]
        } else {
            vec![]
        }
    };
    let j = SemiAntiJoin::new(c.kind, keys(), keys())
        .unwrap()
        .with_updating_inputs(c.updating[0], c.updating[1]);
    let j = if c.residual {
        j.with_residual(less_than())
    } else {
        j
    };
    if c.left_filter {
        j.with_left_filter(not_multiple_of_three())
    } else {
        j
    }
}

fn make(c: Config) -> impl Fn() -> Result<Box<dyn Operator>> {
    move || Ok(Box::new(join(c)) as Box<dyn Operator>)
}

/// Every output row as (`$op` code, left id), in order (`+I` without a `$op` column).
fn changes(items: &[OutItem]) -> Vec<(i8, i64)> {
    let mut v = Vec::new();
    for item in items {
        let OutItem::Batch(0, b) = item else { continue };
        let ids = b.column_by_name("lid").unwrap().as_primitive::<Int64Type>();
        let ops = b
            .column_by_name("$op")
            .map(|o| o.as_primitive::<Int8Type>().values().to_vec());
        for i in 0..b.num_rows() {
            v.push((ops.as_ref().map_or(0, |o| o[i]), ids.value(i)));
        }
    }
    v
}

fn text(changes: &[(i8, i64)]) -> Vec<String> {
    changes
        .iter()
        .map(|&(op, id)| format!("{} {id}", ["+I", "-U", "+U", "-D"][op as usize]))
        .collect()
}

/// Apply a changelog to a multiset of left ids.
fn apply(table: &mut Vec<i64>, changes: &[(i8, i64)]) {
    for &(op, id) in changes {
        if op == 0 || op == 2 {
            table.push(id);
        } else {
            let at = table
                .iter()
                .position(|&x| x == id)
                .unwrap_or_else(|| panic!("retraction of {id}, which is not in the result"));
            table.swap_remove(at);
        }
    }
}

/// The SQL semi or anti join of the live rows: sorted left ids.
fn naive(c: Config, left: &[L], right: &[R]) -> Vec<i64> {
    let matches = |l: &L, r: &R| {
        (!c.keyed || (l.k.is_some() && l.k == r.k))
            && (!c.residual || l.v < r.v)
            && (!c.left_filter || l.v % 3 != 0)
    };
    let mut v: Vec<i64> = left
        .iter()
        .filter(|l| right.iter().any(|r| matches(l, r)) == (c.kind == SemiJoinKind::Semi))
        .map(|l| l.id)
        .collect();
    v.sort_unstable();
    v
}

fn configs() -> Vec<Config> {
    let mut v = Vec::new();
    for kind in [SemiJoinKind::Semi, SemiJoinKind::Anti] {
        for residual in [false, true] {
            for keyed in [true, false] {
                for updating in [[false, false], [true, false], [false, true], [true, true]] {
                    v.push(Config {
                        kind,
                        residual,
                        left_filter: residual == keyed,
                        keyed,
                        updating,
                    });
                }
            }
        }
    }
    v
}

fn l(k: Option<i64>, id: i64) -> (L, i8) {
    (L { k, id, v: id }, 0)
}

fn r(k: Option<i64>) -> (R, i8) {
    (R { k, v: 100 }, 0)
}

/// Semi and anti changelogs of one insert-only run with null keys on both sides.
fn known_answer(kind: SemiJoinKind) -> Vec<Vec<String>> {
    let mut op = join(Config::keyed(kind));
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let k = Some;
    let steps = [
        Step::Batch(0, left_batch(&[l(k(1), 1), l(k(2), 2), l(None, 3)], false)),
        Step::Batch(1, right_batch(&[r(k(1)), r(None), r(k(1)), r(k(3))], false)),
        Step::Batch(0, left_batch(&[l(k(1), 4), l(k(3), 5), l(k(4), 6)], false)),
        Step::Batch(1, right_batch(&[r(k(4)), r(k(2)), r(k(4))], false)),
    ];
    steps
        .iter()
        .map(|s| {
            text(&changes(
                &run_steps(&mut op, &mut ctx, std::slice::from_ref(s)).unwrap(),
            ))
        })
        .collect()
}

#[test]
fn semi_join_changelog() {
    assert_eq!(
        known_answer(SemiJoinKind::Semi),
        [
            vec![],
            vec!["+I 1"],
            vec!["+I 4", "+I 5"],
            vec!["+I 6", "+I 2"],
        ]
    );
}

#[test]
fn anti_join_changelog() {
    assert_eq!(
        known_answer(SemiJoinKind::Anti),
        [
            vec!["+I 1", "+I 2", "+I 3"],
            vec!["-D 1"],
            vec!["+I 6"],
            vec!["-D 6", "-D 2"],
        ]
    );
}

#[test]
fn output_is_insert_only_for_a_semi_join_of_insert_only_inputs() {
    for c in configs() {
        let want = c.kind == SemiJoinKind::Anti || c.updating != [false, false];
        assert_eq!(join(c).output_updating(), want, "{c:?}");
        let mut op = join(c);
        let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
        let mut out = Output::new();
        // The anti join emits on the left batch, the semi join on the right one.
        op.on_batch(
            0,
            left_batch(&[l(Some(1), 1), l(Some(2), 2)], c.updating[0]),
            &mut ctx,
            &mut out,
        )
        .unwrap();
        op.on_batch(
            1,
            right_batch(&[r(Some(1))], c.updating[1]),
            &mut ctx,
            &mut out,
        )
        .unwrap();
        let items: Vec<OutItem> = out.drain().collect();
        let OutItem::Batch(_, b) = &items[0] else {
            panic!("{c:?}: a batch")
        };
        let schema = b.schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let mut expect = vec!["k", "lid", "lv"];
        if want {
            expect.push("$op");
        }
        assert_eq!(names, expect, "{c:?}");
    }
}

#[test]
fn right_retractions_unmatch_and_rematch() {
    // Semi: the left row appears with its first match and goes with its last one.
    let c = Config {
        updating: [false, true],
        ..Config::keyed(SemiJoinKind::Semi)
    };
    let mut op = join(c);
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let right = |op: i8| right_batch(&[(R { k: Some(1), v: 0 }, op)], true);
    let steps = [
        Step::Batch(0, left_batch(&[l(Some(1), 1)], false)),
        Step::Batch(1, right(0)),
        Step::Batch(1, right(0)),
        Step::Batch(1, right(1)),
        Step::Batch(1, right(3)),
        // A retraction of a row that is not there changes nothing.
        Step::Batch(1, right(3)),
        Step::Batch(1, right(2)),
    ];
    let out = run_steps(&mut op, &mut ctx, &steps).unwrap();
    assert_eq!(text(&changes(&out)), ["+I 1", "-D 1", "+I 1"]);
    let mut anti = join(Config {
        kind: SemiJoinKind::Anti,
        ..c
    });
    let out = run_steps(&mut anti, &mut ctx, &steps).unwrap();
    assert_eq!(text(&changes(&out)), ["+I 1", "-D 1", "+I 1", "-D 1"]);
}

#[test]
fn left_retractions_are_forwarded_while_visible() {
    let c = Config {
        residual: true,
        updating: [true, false],
        ..Config::keyed(SemiJoinKind::Anti)
    };
    let row = |id, v, op| (L { k: Some(1), id, v }, op);
    let steps = [
        // Two rows, one retracted in the same batch; an -U/+U pair.
        Step::Batch(
            0,
            left_batch(&[row(1, 5, 0), row(2, 50, 0), row(2, 50, 3)], true),
        ),
        Step::Batch(0, left_batch(&[row(1, 5, 1), row(3, 6, 2)], true)),
        // Matches 3 (6 < 10) only.
        Step::Batch(1, right_batch(&[(R { k: Some(1), v: 10 }, 0)], false)),
        // Retracting 3 now: it is not visible (matched), so nothing is emitted.
        Step::Batch(
            0,
            left_batch(&[row(3, 6, 3), row(4, 70, 0), row(4, 70, 3)], true),
        ),
    ];
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let out = run_steps(&mut join(c), &mut ctx, &steps).unwrap();
    assert_eq!(
        text(&changes(&out)),
        ["+I 1", "+I 2", "-D 2", "-U 1", "+U 3", "-D 3", "+I 4", "-D 4"]
    );
}

/// A random run of batches on both sides: keys 0..4 or null, values 0..10; an updating
/// side sometimes retracts (`-U` or `-D`) a live row, possibly one of the same batch.
fn scenario(rng: &mut StdRng, c: Config, steps: usize) -> Vec<Step> {
    let mut live_left: Vec<L> = Vec::new();
    let mut live_right: Vec<R> = Vec::new();
    let mut id = 0;
    let mut out = Vec::new();
    let key = |rng: &mut StdRng| (!rng.random_bool(0.1)).then(|| rng.random_range(0..4));
    for _ in 0..steps {
        let side = rng.random_range(0..2usize);
        let n = rng.random_range(1..6);
        let retract_op = |rng: &mut StdRng| if rng.random_bool(0.5) { 1 } else { 3 };
        let insert_op = |rng: &mut StdRng, updating: bool| {
            if updating && rng.random_bool(0.3) {
                2
            } else {
                0
            }
        };
        if side == 0 {
            let mut rows = Vec::new();
            for _ in 0..n {
                if c.updating[0] && !live_left.is_empty() && rng.random_bool(0.3) {
                    let at = rng.random_range(0..live_left.len());
                    rows.push((live_left.swap_remove(at), retract_op(rng)));
                } else {
                    id += 1;
                    let row = L {
                        k: key(rng),
                        id,
                        v: rng.random_range(0..10),
                    };
                    live_left.push(row);
                    rows.push((row, insert_op(rng, c.updating[0])));
                }
            }
            out.push(Step::Batch(0, left_batch(&rows, c.updating[0])));
        } else {
            let mut rows = Vec::new();
            for _ in 0..n {
                if c.updating[1] && !live_right.is_empty() && rng.random_bool(0.35) {
                    let at = rng.random_range(0..live_right.len());
                    rows.push((live_right.swap_remove(at), retract_op(rng)));
                } else {
                    let row = R {
                        k: key(rng),
                        v: rng.random_range(0..10),
                    };
                    live_right.push(row);
                    rows.push((row, insert_op(rng, c.updating[1])));
                }
            }
            out.push(Step::Batch(1, right_batch(&rows, c.updating[1])));
        }
    }
    out.push(Step::End);
    out
}

/// The rows of a step as the oracle sees them: (side, left rows, right rows, retraction?).
fn live_after(steps: &[Step]) -> (Vec<L>, Vec<R>) {
    let (mut left, mut right) = (Vec::new(), Vec::new());
    for s in steps {
        let Step::Batch(side, b) = s else { continue };
        let col = |n: &str| {
            b.column_by_name(n)
                .map(|a| a.as_primitive::<Int64Type>().clone())
        };
        let ops = b
            .column_by_name("$op")
            .map(|o| o.as_primitive::<Int8Type>().values().to_vec());
        let k = col("k").unwrap();
        for i in 0..b.num_rows() {
            let kv = k.is_valid(i).then(|| k.value(i));
            let retract = ops.as_ref().is_some_and(|o| o[i] == 1 || o[i] == 3);
            if *side == 0 {
                let row = L {
                    k: kv,
                    id: col("lid").unwrap().value(i),
                    v: col("lv").unwrap().value(i),
                };
                if retract {
                    let at = left.iter().position(|x| *x == row).unwrap();
                    left.swap_remove(at);
                } else {
                    left.push(row);
                }
            } else {
                let row = R {
                    k: kv,
                    v: col("rv").unwrap().value(i),
                };
                if retract {
                    let at = right.iter().position(|x| *x == row).unwrap();
                    right.swap_remove(at);
                } else {
                    right.push(row);
                }
            }
        }
    }
    (left, right)
}

#[test]
fn changelog_applies_to_the_naive_semi_and_anti_join() {
    let mut checked = 0;
    for c in configs() {
        for seed in 0..12u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let steps = scenario(&mut rng, c, 30);
            let mut op = join(c);
            let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
            let mut table = Vec::new();
            for (i, s) in steps.iter().enumerate() {
                let out = run_steps(&mut op, &mut ctx, std::slice::from_ref(s)).unwrap();
                apply(&mut table, &changes(&out));
                table.sort_unstable();
                let (left, right) = live_after(&steps[..=i]);
                assert_eq!(table, naive(c, &left, &right), "{c:?} seed {seed} step {i}");
                checked += table.len();
            }
            // Rows that can never match (null key, filtered out) are not kept; of insert-only
            // inputs only unmatched rows are, as a row's first match seals its fate.
            let (left, right) = live_after(&steps);
            let never = left
                .iter()
                .filter(|l| (c.keyed && l.k.is_none()) || (c.left_filter && l.v % 3 == 0))
                .count();
            let kept = if c.updating == [false, false] {
                let anti = Config {
                    kind: SemiJoinKind::Anti,
                    ..c
                };
                naive(anti, &left, &right).len()
            } else {
                left.len()
            };
            assert_eq!(op.state_rows()[0], kept - never, "{c:?} seed {seed}");
        }
    }
    assert!(
        checked > 10_000,
        "non-trivial runs: {checked} result rows checked"
    );
}

/// Every output row as text, in order.
fn lines(items: &[OutItem]) -> Vec<String> {
    text(&changes(items))
}

#[test]
fn restore_equivalence_at_every_cut() {
    for c in configs() {
        for seed in 0..2u64 {
            let steps = scenario(&mut StdRng::seed_from_u64(seed + 50), c, 24);
            for cut in 0..=steps.len() {
                let (whole, cut_run) =
                    restore_equivalence(&make(c), &steps, cut, 1, MAX_PARALLELISM)
                        .unwrap_or_else(|e| panic!("{c:?} seed {seed} cut {cut}: {e}"));
                assert_eq!(
                    lines(&whole),
                    lines(&cut_run),
                    "{c:?} seed {seed} cut {cut}"
                );
            }
        }
    }
}

fn start(c: Config, s: usize, p: usize, state: Option<OperatorState>) -> (SemiAntiJoin, OpContext) {
    let mut op = join(c);
    let mut ctx = OpContext::new(s, p, MAX_PARALLELISM);
    op.open(&mut ctx).unwrap();
    if let Some(state) = state {
        op.restore(state, &mut ctx).unwrap();
    }
    (op, ctx)
}

#[test]
fn restore_after_key_group_filing_keeps_the_order() {
    let mut rng = StdRng::seed_from_u64(99);
    for c in configs() {
        let steps = scenario(&mut StdRng::seed_from_u64(7), c, 40);
        let (mut a, mut ctx_a) = start(c, 0, 1, None);
        let whole = run_steps(&mut a, &mut ctx_a, &steps).unwrap();
        for _ in 0..4 {
            let cut = rng.random_range(0..=steps.len());
            let (mut b, mut ctx_b) = start(c, 0, 1, None);
            let mut got = run_steps(&mut b, &mut ctx_b, &steps[..cut]).unwrap();
            let snap = ipc_round_trip(b.snapshot(7, &mut ctx_b).unwrap()).unwrap();
            let restored = redistribute(&[snap], 1).pop().unwrap();
            let (mut d, mut ctx_d) = start(c, 0, 1, Some(restored));
            got.extend(run_steps(&mut d, &mut ctx_d, &steps[cut..]).unwrap());
            assert_eq!(lines(&whole), lines(&got), "{c:?} cut {cut}");
        }
    }
}

#[test]
fn restore_at_another_parallelism_gives_the_same_result() {
    let mut rng = StdRng::seed_from_u64(3);
    for c in configs().into_iter().filter(|c| c.keyed) {
        for seed in 0..3u64 {
            let steps = scenario(&mut StdRng::seed_from_u64(seed + 300), c, 40);
            let (left, right) = live_after(&steps);
            let want = naive(c, &left, &right);
            let cut = rng.random_range(steps.len() / 4..=steps.len() * 3 / 4);
            let mut before = Vec::new();
            let mut snaps = Vec::new();
            for s in 0..2 {
                let (mut op, mut ctx) = start(c, s, 2, None);
                before.extend(run_steps(&mut op, &mut ctx, &route(&steps[..cut], s, 2)).unwrap());
                snaps.push(ipc_round_trip(op.snapshot(3, &mut ctx).unwrap()).unwrap());
            }
            for new_p in [1, 2, 3] {
                let mut got = before.clone();
                for (s, state) in redistribute(&snaps, new_p).into_iter().enumerate() {
                    let (mut op, mut ctx) = start(c, s, new_p, Some(state));
                    got.extend(
                        run_steps(&mut op, &mut ctx, &route(&steps[cut..], s, new_p)).unwrap(),
                    );
                }
                let mut table = Vec::new();
                apply(&mut table, &changes(&got));
                table.sort_unstable();
                assert_eq!(table, want, "{c:?} seed {seed} cut {cut}: p 2 -> {new_p}");
            }
        }
    }
}

#[test]
fn snapshot_of_an_idle_join_is_empty_and_restores() {
    for c in configs() {
        let (mut op, mut ctx) = start(c, 0, 1, None);
        let state = op.snapshot(1, &mut ctx).unwrap();
        assert!(state.is_empty(), "{c:?}");
        join(c).restore(state, &mut ctx).unwrap();
    }
}

#[test]
fn restore_rejects_foreign_state() {
    let c = configs()[0];
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let mut state = OperatorState::new();
    state.push_bytes("position", &[vec![1]]);
    let e = join(c).restore(state, &mut ctx).unwrap_err().to_string();
    assert!(e.contains("unknown state table 'position'"), "{e}");
    // A residual join's checkpoint (right rows) is not one of a counting join.
    let with_rows = Config {
        residual: true,
        ..c
    };
    let steps = [Step::Batch(1, right_batch(&[r(Some(1))], false))];
    let (mut op, mut ctx) = start(with_rows, 0, 1, None);
    run_steps(&mut op, &mut ctx, &steps).unwrap();
    let state = op.snapshot(1, &mut ctx).unwrap();
    let e = join(c).restore(state, &mut ctx).unwrap_err().to_string();
    assert!(e.contains("unknown state table 'right'"), "{e}");
}

#[test]
fn inputs_must_match_their_declaration() {
    let c = configs()[0];
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let mut out = Output::new();
    let e = join(c)
        .on_batch(0, left_batch(&[l(Some(1), 1)], true), &mut ctx, &mut out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the left input is not declared updating"), "{e}");
    let updating = Config {
        updating: [false, true],
        ..c
    };
    let e = join(updating)
        .on_batch(1, right_batch(&[r(Some(1))], false), &mut ctx, &mut out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("the right input is declared updating"), "{e}");
    let mut bad_kind = left_batch(&[l(Some(1), 1)], true);
    let mut cols = bad_kind.columns().to_vec();
    cols[3] = Arc::new(Int8Array::from(vec![9]));
    bad_kind = RecordBatch::try_new(bad_kind.schema(), cols).unwrap();
    let e = join(Config {
        updating: [true, false],
        ..c
    })
    .on_batch(0, bad_kind, &mut ctx, &mut out)
    .unwrap_err()
    .to_string();
    assert!(e.contains("row kind 9"), "{e}");
}

#[test]
fn key_types_must_agree() {
    let mut op = join(configs()[0]);
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    let mut out = Output::new();
    op.on_batch(0, left_batch(&[l(Some(1), 1)], false), &mut ctx, &mut out)
        .unwrap();
    let strings = batch(
        vec![(
            "k",
            Arc::new(arrow::array::StringArray::from(vec!["1"])) as ArrayRef,
        )],
        None,
    );
    let e = op
        .on_batch(1, strings, &mut ctx, &mut out)
        .unwrap_err()
        .to_string();
    assert!(e.contains("key types differ"), "{e}");
}
