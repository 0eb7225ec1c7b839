//! Checkpoint tests of the joins: a run cut by snapshot → Arrow IPC → restore must emit
//! exactly what an uninterrupted run emits, at every cut point of random runs (random batch
//! boundaries and interleavings of the two inputs, null keys, out-of-order rows,
//! watermarks), also when the checkpoint writer re-files the rows by key group; and a
//! restore at another parallelism must emit, over all subtasks, the same pairs.

use arrow::array::{ArrayRef, UInt32Array};
use arrow::compute::take_record_batch;
use millstream_kernels::partition::operator_index_for_key_group;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tests::{batch, pairs_of, scenario, Event};
use super::*;
use crate::checkpoint::testing::{ipc_round_trip, restore_equivalence, run_steps, Step};
use crate::checkpoint::{filter_key_groups, key_groups_of, OperatorState, StateTable};
use crate::operator::{OpContext, Operator, OutItem};
use crate::state::KeyGroupRange;
use crate::window::WindowAssigner;

const MAX_PARALLELISM: usize = 128;

type Make = Box<dyn Fn() -> Result<Box<dyn Operator>>>;

/// The joins under test, with a name: one of each kind, several shapes of time bounds.
fn joins() -> Vec<(&'static str, Make)> {
    let keys = || (vec!["k".to_string()], vec!["k".to_string()]);
    let interval = move |lower: i64, upper: i64, width: Option<i64>| -> Make {
        Box::new(move || {
            let (l, r) = keys();
            let j = IntervalJoin::new(l, r, "ts".into(), "ts".into(), lower, upper)?;
            Ok(Box::new(match width {
                Some(w) => j.with_bucket_width(w),
                None => j,
            }) as Box<dyn Operator>)
        })
    };
    let window = move |assigner: WindowAssigner| -> Make {
        Box::new(move || {
            let (l, r) = keys();
            Ok(Box::new(WindowJoin::new(l, r, "ts".into(), "ts".into(), assigner)?) as _)
        })
    };
    vec![
        (
            "regular",
            Box::new(move || {
                let (l, r) = keys();
                Ok(Box::new(RegularJoin::new(l, r)?) as Box<dyn Operator>)
            }),
        ),
        ("interval [-20, 20]", interval(-20, 20, None)),
        ("interval [5, 30] width 7", interval(5, 30, Some(7))),
        ("interval [-30, -5] width 1", interval(-30, -5, Some(1))),
        (
            "window tumble",
            window(WindowAssigner::Tumble {
                size: 20,
                offset: 0,
            }),
        ),
        (
            "window hop",
            window(WindowAssigner::Hop {
                size: 30,
                slide: 10,
                offset: 0,
            }),
        ),
        (
            "window cumulate",
            window(WindowAssigner::Cumulate {
                max_size: 30,
                step: 10,
                offset: 0,
            }),
        ),
    ]
}

/// The events of a random run as harness steps, ending with the end of input.
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

/// Every output item as text, in order: one line per row (with its port), one per
/// watermark. Batch boundaries do not show.
fn lines(items: &[OutItem]) -> Vec<String> {
    let mut out = Vec::new();
    for i in items {
        match i {
            OutItem::Batch(port, b) => {
                let text = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b))
                    .unwrap()
                    .to_string();
                out.extend(
                    text.lines()
                        .skip(3)
                        .filter(|l| !l.starts_with('+'))
                        .map(|l| format!("{port} {l}")),
                );
            }
            OutItem::Watermark(w) => out.push(format!("watermark {}", w.0)),
            OutItem::Idle => out.push("idle".into()),
        }
    }
    out
}

/// The state of each new subtask of `new_p`, assembled from the snapshots of the old
/// subtasks as the checkpoint writer and the runtime do: keyed rows are filed in blocks of
/// `MAX_PARALLELISM / 32` key groups and handed to the subtask that owns them, read old
/// subtask by old subtask, block by block; non-keyed rows go to the same subtask when the
/// parallelism is unchanged, to every subtask otherwise.
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

/// A fresh, opened instance for subtask `s` of `p`, restored from `state` (if any) at
/// watermark `wm`.
fn start(
    make: &Make,
    s: usize,
    p: usize,
    state: Option<OperatorState>,
    wm: i64,
) -> (Box<dyn Operator>, OpContext) {
    let mut op = make().unwrap();
    let mut ctx = OpContext::new(s, p, MAX_PARALLELISM);
    op.open(&mut ctx).unwrap();
    ctx.watermark = crate::time::Watermark(wm);
    if let Some(state) = state {
        op.restore(state, &mut ctx).unwrap();
    }
    (op, ctx)
}

/// The watermark in effect after `steps`.
fn watermark_after(steps: &[Step]) -> i64 {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Watermark(w) => Some(*w),
            _ => None,
        })
        .max()
        .unwrap_or(i64::MIN)
}

/// The steps of subtask `s` of `p`: each batch cut to the rows whose key group `s` owns
/// (hash routing); watermarks and the end go to every subtask.
pub(super) fn route(steps: &[Step], s: usize, p: usize) -> Vec<Step> {
    steps
        .iter()
        .filter_map(|step| match step {
            Step::Batch(input, b) => {
                let keys: ArrayRef = b.column(0).clone();
                let kg = key_groups_of(&[keys], MAX_PARALLELISM).unwrap();
                let rows: Vec<u32> = (0..b.num_rows() as u32)
                    .filter(|&i| {
                        operator_index_for_key_group(MAX_PARALLELISM, p, kg[i as usize] as usize)
                            == s
                    })
                    .collect();
                (!rows.is_empty()).then(|| {
                    let part = take_record_batch(b, &UInt32Array::from(rows)).unwrap();
                    Step::Batch(*input, part)
                })
            }
            other => Some(other.clone()),
        })
        .collect()
}

#[test]
fn restore_equivalence_at_every_cut() {
    for (name, make) in joins() {
        for seed in 0..3u64 {
            let mut rng = StdRng::seed_from_u64(seed);
            let steps = steps_of(&scenario(&mut rng, 80));
            for cut in 0..=steps.len() {
                let (whole, cut_run) = restore_equivalence(&make, &steps, cut, 1, MAX_PARALLELISM)
                    .unwrap_or_else(|e| panic!("{name} seed {seed} cut {cut}: {e}"));
                assert_eq!(
                    lines(&whole),
                    lines(&cut_run),
                    "{name} seed {seed} cut {cut}: same rows, same order"
                );
            }
        }
    }
}

#[test]
fn restore_after_key_group_filing_keeps_the_order() {
    // The checkpoint writer files keyed rows by blocks of key groups, which reorders rows of
    // different keys; the restored join must still emit the same rows in the same order.
    let mut rng = StdRng::seed_from_u64(99);
    for (name, make) in joins() {
        for seed in 0..6u64 {
            let steps = steps_of(&scenario(&mut StdRng::seed_from_u64(seed + 100), 120));
            let (mut a, mut ctx_a) = start(&make, 0, 1, None, i64::MIN);
            let whole = run_steps(a.as_mut(), &mut ctx_a, &steps).unwrap();
            for _ in 0..8 {
                let cut = rng.random_range(0..=steps.len());
                let (mut b, mut ctx_b) = start(&make, 0, 1, None, i64::MIN);
                let mut got = run_steps(b.as_mut(), &mut ctx_b, &steps[..cut]).unwrap();
                let snap = ipc_round_trip(b.snapshot(7, &mut ctx_b).unwrap()).unwrap();
                let restored = redistribute(&[snap], 1).pop().unwrap();
                let wm = ctx_b.watermark.0;
                let (mut c, mut ctx_c) = start(&make, 0, 1, Some(restored), wm);
                got.extend(run_steps(c.as_mut(), &mut ctx_c, &steps[cut..]).unwrap());
                assert_eq!(lines(&whole), lines(&got), "{name} seed {seed} cut {cut}");
            }
        }
    }
}

#[test]
fn restore_at_another_parallelism_emits_the_same_pairs() {
    let mut rng = StdRng::seed_from_u64(7);
    let mut checked = 0;
    for (name, make) in joins() {
        for seed in 0..6u64 {
            let steps = steps_of(&scenario(&mut StdRng::seed_from_u64(seed + 200), 120));
            let (mut a, mut ctx_a) = start(&make, 0, 1, None, i64::MIN);
            let want = pairs_of(&run_steps(a.as_mut(), &mut ctx_a, &steps).unwrap());
            let cut = rng.random_range(steps.len() / 4..=steps.len() * 3 / 4);
            let wm = watermark_after(&steps[..cut]);
            // Two subtasks run up to the cut and snapshot.
            let mut before = Vec::new();
            let mut snaps = Vec::new();
            for s in 0..2 {
                let (mut op, mut ctx) = start(&make, s, 2, None, i64::MIN);
                let mine = route(&steps[..cut], s, 2);
                before.extend(run_steps(op.as_mut(), &mut ctx, &mine).unwrap());
                snaps.push(ipc_round_trip(op.snapshot(3, &mut ctx).unwrap()).unwrap());
            }
            for new_p in [1, 2, 4] {
                let mut got = before.clone();
                for (s, state) in redistribute(&snaps, new_p).into_iter().enumerate() {
                    assert_eq!(state.rescaled, new_p != 2);
                    let (mut op, mut ctx) = start(&make, s, new_p, Some(state), wm);
                    let mine = route(&steps[cut..], s, new_p);
                    got.extend(run_steps(op.as_mut(), &mut ctx, &mine).unwrap());
                }
                assert_eq!(
                    pairs_of(&got),
                    want,
                    "{name} seed {seed} cut {cut}: p 2 -> {new_p}"
                );
                checked += want.len();
            }
        }
    }
    assert!(checked > 1000, "non-trivial runs: {checked} pairs");
}

#[test]
fn restore_rejects_foreign_state() {
    for (name, make) in joins() {
        let mut op = make().unwrap();
        let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
        op.open(&mut ctx).unwrap();
        let mut state = OperatorState::new();
        state.push_bytes("position", &[vec![1]]);
        let e = op.restore(state, &mut ctx).unwrap_err().to_string();
        assert!(e.contains("unknown state table 'position'"), "{name}: {e}");
    }
}

#[test]
fn snapshot_of_an_idle_join_is_empty_and_restores() {
    for (name, make) in joins() {
        let mut op = make().unwrap();
        let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
        op.open(&mut ctx).unwrap();
        let state = op.snapshot(1, &mut ctx).unwrap();
        assert!(state.is_empty(), "{name}");
        make().unwrap().restore(state, &mut ctx).unwrap();
    }
}

#[test]
fn window_join_restores_windows_a_late_watermark_left_open() {
    // The task's watermark moved past a window's end before the operator was told (a batch
    // arrives between the two): rows that came before still belong to the window, rows that
    // came after do not; a restore must keep that distinction.
    let make = || -> Result<WindowJoin> {
        WindowJoin::new(
            vec!["k".into()],
            vec!["k".into()],
            "ts".into(),
            "ts".into(),
            WindowAssigner::Tumble {
                size: 10,
                offset: 0,
            },
        )
    };
    let row = |k, ts, id| super::tests::Row { k: Some(k), ts, id };
    let steps = vec![
        Step::Batch(0, batch(0, &[row(1, 5, 1)])),
        Step::Batch(1, batch(1, &[row(1, 6, 2)])),
    ];
    let tail = vec![Step::Watermark(20), Step::End];
    let run = |restore: bool| {
        let mut op: Box<dyn Operator> = Box::new(make().unwrap());
        let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
        let mut items = run_steps(op.as_mut(), &mut ctx, &steps).unwrap();
        // The watermark moves without `on_watermark`, then a right row arrives: it is late
        // for [0, 10) although the window has not fired.
        ctx.watermark = crate::time::Watermark(12);
        items.extend(
            run_steps(
                op.as_mut(),
                &mut ctx,
                &[Step::Batch(1, batch(1, &[row(1, 7, 3), row(1, 15, 4)]))],
            )
            .unwrap(),
        );
        if restore {
            let state = ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap();
            op = Box::new(make().unwrap());
            op.restore(state, &mut ctx).unwrap();
        }
        items.extend(run_steps(op.as_mut(), &mut ctx, &tail).unwrap());
        pairs_of(&items)
    };
    let want = vec![(1, 2, 0, 10)];
    assert_eq!(run(false), want);
    assert_eq!(run(true), want);
}

#[test]
fn restored_state_is_freed_like_the_original() {
    let steps = steps_of(&scenario(&mut StdRng::seed_from_u64(5), 100));
    let cut = steps.len() / 2;
    let mut ij = IntervalJoin::new(
        vec!["k".into()],
        vec!["k".into()],
        "ts".into(),
        "ts".into(),
        -10,
        10,
    )
    .unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    run_steps(&mut ij, &mut ctx, &steps[..cut]).unwrap();
    let rows = ij.state_rows();
    let state = ipc_round_trip(ij.snapshot(1, &mut ctx).unwrap()).unwrap();
    let mut back = IntervalJoin::new(
        vec!["k".into()],
        vec!["k".into()],
        "ts".into(),
        "ts".into(),
        -10,
        10,
    )
    .unwrap();
    back.restore(state, &mut ctx).unwrap();
    assert_eq!(back.state_rows(), rows);
    assert_eq!(back.state_buckets(), ij.state_buckets());
    run_steps(&mut back, &mut ctx, &steps[cut..]).unwrap();
    assert_eq!(back.state_rows(), [0, 0]);

    let mut rj = RegularJoin::new(vec!["k".into()], vec!["k".into()]).unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_PARALLELISM);
    run_steps(&mut rj, &mut ctx, &steps[..cut]).unwrap();
    let state = ipc_round_trip(rj.snapshot(1, &mut ctx).unwrap()).unwrap();
    // A second snapshot reuses the cached key groups and holds the same rows.
    let again = rj.snapshot(2, &mut ctx).unwrap();
    assert_eq!(
        again.table("left").map(StateTable::num_rows),
        state.table("left").map(StateTable::num_rows)
    );
    let mut back = RegularJoin::new(vec!["k".into()], vec!["k".into()]).unwrap();
    back.restore(state, &mut ctx).unwrap();
    assert_eq!(back.state_rows(), rj.state_rows());
    assert_eq!(back.num_keys(), rj.num_keys());
}
