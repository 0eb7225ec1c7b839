//! Checkpoint tests of the OVER aggregate: a run cut by snapshot → Arrow IPC → restore must
//! produce what an uninterrupted run produces, at every cut, for every frame kind and
//! partitioning; a snapshot of two subtasks restored into one (and of one into two or
//! three) must produce, per partition, what one uninterrupted subtask produces.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::oracle::{actual, frames, generate, harness_steps, make as new_op, partitionings, K};
use super::OverFrame;
use crate::checkpoint::key_groups_of;
use crate::checkpoint::testing::{ipc_round_trip, restore_equivalence, run_steps};
use crate::error::Result;
use crate::operator::process::tests::recovery::{rows_by_key, run_rescaled, MAX_P};
use crate::operator::{OpContext, Operator};

#[test]
fn restores_at_every_cut() {
    let mut rows = 0;
    for frame in frames() {
        for partition in partitionings() {
            for seed in 0..2u64 {
                let steps = harness_steps(&generate(seed * 13 + 5, 40));
                let make =
                    || -> Result<Box<dyn Operator>> { Ok(Box::new(new_op(&partition, frame))) };
                for cut in 0..=steps.len() {
                    let (whole, _) = restore_equivalence(&make, &steps, cut, 1, MAX_P)
                        .unwrap_or_else(|e| {
                            panic!("{frame:?} partition {partition:?} seed {seed} cut {cut}: {e}")
                        });
                    rows += actual(&whole).len();
                }
            }
        }
    }
    assert!(rows > 20_000, "only {rows} rows compared");
}

#[test]
fn rescales_two_to_one_and_one_to_two() {
    for frame in frames() {
        for seed in 0..3u64 {
            let steps = harness_steps(&generate(seed + 40, 60));
            let mut op = new_op(&[K], frame);
            let whole = run_steps(&mut op, &mut OpContext::new(0, 1, MAX_P), &steps).unwrap();
            let expected = rows_by_key(&whole, "k");
            assert!(expected.len() > 1, "several partitions");
            let make = |_sub: usize, _p: usize| -> Result<Box<dyn Operator>> {
                Ok(Box::new(new_op(&[K], frame)))
            };
            let mut rng = StdRng::seed_from_u64(seed);
            for (from, to) in [(2, 1), (1, 2), (2, 3)] {
                for _ in 0..6 {
                    let cut = rng.random_range(0..=steps.len());
                    let got = run_rescaled(&make, &steps, "k", cut, from, to).unwrap();
                    assert_eq!(
                        rows_by_key(&got, "k"),
                        expected,
                        "{frame:?} seed {seed} {from} -> {to} at cut {cut}"
                    );
                }
            }
        }
    }
}

#[test]
fn keyless_state_goes_to_the_owner_of_key_group_0() {
    let frame = OverFrame::Range {
        preceding_ms: Some(10),
    };
    let steps = harness_steps(&generate(8, 60));
    let whole = run_steps(
        &mut new_op(&[], frame),
        &mut OpContext::new(0, 1, MAX_P),
        &steps,
    )
    .unwrap();
    let cut = steps.len() / 2;
    let mut a = new_op(&[], frame);
    let mut ctx = OpContext::new(0, 1, MAX_P);
    let mut got = actual(&run_steps(&mut a, &mut ctx, &steps[..cut]).unwrap());
    let state = ipc_round_trip(a.snapshot(1, &mut ctx).unwrap()).unwrap();
    assert!(
        a.pending_rows() + a.retained_rows() > 0,
        "nothing to restore"
    );
    for sub in 0..2 {
        let mut b = new_op(&[], frame);
        let mut ctx = OpContext::new(sub, 2, MAX_P);
        b.restore(state.clone(), &mut ctx).unwrap();
        if sub == 0 {
            assert_eq!(b.pending_rows(), a.pending_rows());
            assert_eq!(b.retained_rows(), a.retained_rows());
            got.extend(actual(&run_steps(&mut b, &mut ctx, &steps[cut..]).unwrap()));
        } else {
            assert_eq!(b.pending_rows() + b.retained_rows(), 0);
        }
    }
    assert_eq!(got, actual(&whole));
}

#[test]
fn snapshot_tables_are_filed_by_partition_key_group() {
    let mut op = new_op(&[K], OverFrame::Rows { preceding: Some(3) });
    let mut ctx = OpContext::new(0, 1, MAX_P);
    let steps = harness_steps(&generate(21, 50));
    // Stop where rows are both pending and retained.
    let mut at = 0;
    while at < steps.len() && (at < 10 || op.pending_rows() == 0 || op.retained_rows() == 0) {
        run_steps(&mut op, &mut ctx, &steps[at..at + 1]).unwrap();
        at += 1;
    }
    let state = op.snapshot(1, &mut ctx).unwrap();
    let rows = state.table("over_rows").expect("retained rows");
    let pending = state.table("over_pending").expect("pending rows");
    assert!(rows.keyed && pending.keyed);
    assert!(!state.table("over_meta").expect("meta").keyed);
    assert_eq!(rows.num_rows(), op.retained_rows());
    assert_eq!(pending.num_rows(), op.pending_rows());
    assert!(rows.num_rows() > 0 && pending.num_rows() > 0);
    // Rows table: key group, then the partition column `p0`.
    for (b, kg) in rows.batches.iter().zip(rows.key_groups().unwrap()) {
        let expected = key_groups_of(&[b.column(1).clone()], MAX_P).unwrap();
        assert_eq!(kg.values().to_vec(), expected);
    }
    for (b, kg) in pending.batches.iter().zip(pending.key_groups().unwrap()) {
        let expected = key_groups_of(&[b.column(1 + K).clone()], MAX_P).unwrap();
        assert_eq!(kg.values().to_vec(), expected);
    }
    assert!(state.table("over_base").is_none());
}

#[test]
fn snapshot_right_after_restore_keeps_everything() {
    for frame in frames() {
        for partition in partitionings() {
            let steps = harness_steps(&generate(77, 50));
            let whole = run_steps(
                &mut new_op(&partition, frame),
                &mut OpContext::new(0, 1, MAX_P),
                &steps,
            )
            .unwrap();
            let cut = steps.len() * 2 / 3;
            let mut a = new_op(&partition, frame);
            let mut ctx = OpContext::new(0, 1, MAX_P);
            let mut got = actual(&run_steps(&mut a, &mut ctx, &steps[..cut]).unwrap());
            let mut state = ipc_round_trip(a.snapshot(1, &mut ctx).unwrap()).unwrap();
            // Restore and snapshot again twice before any new input.
            // A fresh context each time: the watermark floor comes from the checkpoint.
            for _ in 0..2 {
                let mut b = new_op(&partition, frame);
                let mut ctx = OpContext::new(0, 1, MAX_P);
                b.restore(state, &mut ctx).unwrap();
                state = ipc_round_trip(b.snapshot(2, &mut ctx).unwrap()).unwrap();
            }
            let mut c = new_op(&partition, frame);
            let mut ctx = OpContext::new(0, 1, MAX_P);
            c.restore(state, &mut ctx).unwrap();
            got.extend(actual(&run_steps(&mut c, &mut ctx, &steps[cut..]).unwrap()));
            assert_eq!(got, actual(&whole), "{frame:?} partition {partition:?}");
        }
    }
}
