use std::collections::{BTreeMap, HashSet};

use arrow::array::TimestampMillisecondArray;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::checkpoint::testing::{ipc_round_trip, restore_equivalence, run_steps, Step};
use crate::operator::OutItem;
use crate::time::Watermark;

const SIZE: i64 = 10_000;

/// A row: id, value (`None` = null), event time.
type Row = (i64, Option<i64>, i64);

/// Random rows over many windows in random batches, with watermarks `clock - 3 s`: disorder
/// within the watermark delay, some rows late (far behind), some exactly on window starts,
/// some null values. Returns the steps and, per row, the watermark it arrived under.
fn rows(seed: u64) -> (Vec<Step>, Vec<(Row, i64)>) {
    let mut rng = StdRng::seed_from_u64(seed);
    let (mut steps, mut all) = (Vec::new(), Vec::new());
    let (mut clock, mut id, mut wm) = (0i64, 0i64, i64::MIN);
    for _ in 0..80 {
        let mut batch: Vec<Row> = Vec::new();
        for _ in 0..rng.random_range(1..20) {
            id += 1;
            clock += rng.random_range(0..400);
            let t = match rng.random_range(0..20) {
                0 => clock - clock.rem_euclid(SIZE),
                1 => clock - rng.random_range(4_000..25_000),
                _ => clock - rng.random_range(0..3_000),
            };
            let v = (!rng.random_bool(0.03)).then(|| rng.random_range(1..1_000));
            batch.push((id, v, t));
            all.push(((id, v, t), wm));
        }
        steps.push(Step::Batch(0, batch_of(&batch)));
        if rng.random_bool(0.5) {
            wm = wm.max(clock - 3_000);
            steps.push(Step::Watermark(wm));
        }
    }
    steps.push(Step::End);
    (steps, all)
}

fn batch_of(rows: &[Row]) -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "id",
            Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))) as ArrayRef,
        ),
        (
            "price",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))) as ArrayRef,
        ),
        (
            "date_time",
            Arc::new(TimestampMillisecondArray::from_iter_values(
                rows.iter().map(|r| r.2),
            )) as ArrayRef,
        ),
    ])
    .unwrap()
}

/// The ids of every emitted row.
fn ids(items: &[OutItem]) -> Vec<i64> {
    items
        .iter()
        .filter_map(|i| match i {
            OutItem::Batch(_, b) => Some(
                b.column(0)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .values()
                    .to_vec(),
            ),
            _ => None,
        })
        .flatten()
        .collect()
}

fn run(filter: &ExtremeFilter, steps: &[Step]) -> HashSet<i64> {
    let mut op = filter.clone();
    let mut ctx = OpContext::new(0, 1, 128);
    ids(&run_steps(&mut op, &mut ctx, steps).unwrap())
        .into_iter()
        .collect()
}

fn start_of(t: i64) -> i64 {
    t - t.rem_euclid(SIZE)
}

/// The best value per window over the rows a window aggregation accepts (window still
/// open at the watermark the row arrived under).
fn window_best(all: &[(Row, i64)], max: bool) -> BTreeMap<i64, i64> {
    let mut best = BTreeMap::new();
    for &((_, v, t), wm) in all {
        let (Some(v), s) = (v, start_of(t)) else {
            continue;
        };
        if s + SIZE - 1 > wm {
            let b = best.entry(s).or_insert(v);
            *b = if max { (*b).max(v) } else { (*b).min(v) };
        }
    }
    best
}

#[test]
fn an_aggregation_input_keeps_every_window_best() {
    let mut dropped = 0;
    for seed in 0..40 {
        for max in [true, false] {
            let (steps, all) = rows(seed);
            let f = if max {
                ExtremeFilter::max("price", "date_time", SIZE).unwrap()
            } else {
                ExtremeFilter::min("price", "date_time", SIZE).unwrap()
            };
            let kept = run(&f, &steps);
            let kept_rows: Vec<(Row, i64)> = all
                .iter()
                .filter(|(r, _)| kept.contains(&r.0))
                .copied()
                .collect();
            assert_eq!(
                window_best(&all, max),
                window_best(&kept_rows, max),
                "seed {seed} max {max}: the window results are the same"
            );
            for ((id, v, _), _) in &all {
                assert!(v.is_some() || kept.contains(id), "null values pass");
            }
            dropped += all.len() - kept.len();
        }
    }
    assert!(dropped > 5_000, "the filter drops rows: {dropped}");
}

#[test]
fn a_join_input_keeps_every_row_equal_to_a_window_best_in_its_band() {
    // Bands: own window; own plus the previous one on a window start (q7 with
    // window_time); a band reaching into the next window; a wide one over three windows.
    for (lo, hi) in [
        (0, SIZE - 1),
        (0, SIZE),
        (-2_000, SIZE - 1),
        (-SIZE, SIZE + 500),
    ] {
        let mut dropped = 0;
        for seed in 0..30 {
            let (steps, all) = rows(seed);
            let f = ExtremeFilter::max("price", "date_time", SIZE)
                .unwrap()
                .with_reach(lo, hi)
                .unwrap();
            let kept = run(&f, &steps);
            let best = window_best(&all, true);
            for &((id, v, t), _) in &all {
                let Some(v) = v else { continue };
                let matches = best.range(t - hi..=t - lo).any(|(_, &b)| b == v);
                assert!(
                    !matches || kept.contains(&id),
                    "band [{lo}, {hi}] seed {seed}: row {id} ({v} at {t}) equals a window's best"
                );
            }
            dropped += all.len() - kept.len();
        }
        assert!(dropped > 1_000, "band [{lo}, {hi}] drops rows: {dropped}");
    }
}

#[test]
fn offsets_place_the_windows() {
    // With a 3 s offset the windows are [3 s, 13 s), ...: 12.9 s and 13.0 s lie in
    // different windows, so the second row is kept though it is lower.
    let f = ExtremeFilter::max("price", "date_time", SIZE)
        .unwrap()
        .with_offset(3_000);
    let steps = vec![
        Step::Batch(0, batch_of(&[(1, Some(50), 12_900), (2, Some(10), 13_000)])),
        Step::Batch(0, batch_of(&[(3, Some(5), 12_000), (4, Some(9), 13_500)])),
    ];
    let kept = run(&f, &steps);
    assert_eq!(kept, HashSet::from([1, 2]));
}

#[test]
fn bad_settings_and_columns_are_errors() {
    assert!(ExtremeFilter::max("v", "t", 0).is_err());
    let f = ExtremeFilter::max("v", "t", SIZE).unwrap();
    assert!(f.clone().with_reach(5, 1).is_err());
    assert!(f.clone().with_reach(0, 10 * SIZE).is_err());
    let mut op = f;
    let mut ctx = OpContext::new(0, 1, 128);
    let steps = [Step::Batch(0, batch_of(&[(1, Some(1), 1)]))];
    let e = run_steps(&mut op, &mut ctx, &steps).unwrap_err();
    assert!(e.to_string().contains("v"), "{e}");
}

#[test]
fn a_restored_filter_keeps_the_same_rows() {
    let make = || -> Result<Box<dyn Operator>> {
        Ok(Box::new(
            ExtremeFilter::max("price", "date_time", SIZE)?.with_reach(0, SIZE)?,
        ))
    };
    for seed in 0..3 {
        let (steps, _) = rows(seed);
        for cut in 0..=steps.len() {
            let (whole, cut_run) = restore_equivalence(&make, &steps, cut, 1, 128)
                .unwrap_or_else(|e| panic!("seed {seed} cut {cut}: {e}"));
            assert_eq!(ids(&whole), ids(&cut_run), "seed {seed} cut {cut}");
        }
    }
}

#[test]
fn after_a_rescale_it_drops_nothing_it_would_keep() {
    let mut extra = 0;
    for seed in 10..13 {
        let (steps, _) = rows(seed);
        for cut in 1..steps.len() {
            let run_restored = |rescaled: bool| {
                let mut op = ExtremeFilter::max("price", "date_time", SIZE).unwrap();
                let mut ctx = OpContext::new(0, 1, 128);
                run_steps(&mut op, &mut ctx, &steps[..cut]).unwrap();
                let mut state = ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap();
                state.rescaled = rescaled;
                let mut op = ExtremeFilter::max("price", "date_time", SIZE).unwrap();
                let mut ctx = OpContext::new(0, 2, 128);
                ctx.watermark = Watermark(i64::MIN);
                op.restore(state, &mut ctx).unwrap();
                ids(&run_steps(&mut op, &mut ctx, &steps[cut..]).unwrap())
            };
            let exact = run_restored(false);
            let rescaled = run_restored(true);
            assert!(
                exact.iter().all(|id| rescaled.contains(id)),
                "seed {seed} cut {cut}: a rescaled restore keeps every row the exact one keeps"
            );
            extra += rescaled.len() - exact.len();
        }
    }
    assert!(extra > 0, "a rescaled restore lets some more rows through");
}

#[test]
fn foreign_state_is_an_error() {
    let mut op = ExtremeFilter::max("price", "date_time", SIZE).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let mut state = OperatorState::new();
    state.push_bytes("offsets", &[vec![1]]);
    assert!(op.restore(state, &mut ctx).is_err());
}

#[test]
fn late_rows_pass_so_the_next_operator_counts_them() {
    for seed in 0..20 {
        let (steps, all) = rows(seed);
        let f = ExtremeFilter::max("price", "date_time", SIZE).unwrap();
        let kept = run(&f, &steps);
        for &((id, _, t), wm) in &all {
            if start_of(t) + SIZE - 1 <= wm {
                assert!(
                    kept.contains(&id),
                    "seed {seed}: late row {id} at {t} (wm {wm})"
                );
            }
        }
    }
}

#[test]
fn extreme_times_pass_without_overflow() {
    let rows: Vec<Row> = vec![
        (1, Some(5), i64::MIN),
        (2, Some(5), i64::MIN + 1),
        (3, Some(1), i64::MAX),
        (4, Some(7), 0),
        (5, Some(1), 1),
    ];
    for (lo, hi) in [(0, SIZE - 1), (-SIZE, SIZE + 500)] {
        let f = ExtremeFilter::max("price", "date_time", SIZE)
            .unwrap()
            .with_reach(lo, hi)
            .unwrap();
        let kept = run(&f, &[Step::Batch(0, batch_of(&rows))]);
        for id in [1, 2, 3, 4] {
            assert!(kept.contains(&id), "row {id} kept: {kept:?}");
        }
        if lo == 0 {
            assert!(
                !kept.contains(&5),
                "row 5 is below its window's best: {kept:?}"
            );
        }
    }
    assert!(ExtremeFilter::max("price", "date_time", i64::MAX).is_err());
    let f = ExtremeFilter::max("price", "date_time", SIZE).unwrap();
    assert!(f.clone().with_reach(0, i64::MAX).is_err());
    assert!(f.with_reach(i64::MIN, 0).is_err());
}

#[test]
fn many_windows_in_one_batch_stay_bounded() {
    // One row per window over 10,000 windows in a single batch: every row is its window's
    // first, so all are kept, and the running bests stay few.
    let rows: Vec<Row> = (0..10_000).map(|i| (i, Some(i), i * SIZE)).collect();
    let f = ExtremeFilter::max("price", "date_time", SIZE).unwrap();
    let mut op = f.clone();
    let mut ctx = OpContext::new(0, 1, 128);
    let out = run_steps(&mut op, &mut ctx, &[Step::Batch(0, batch_of(&rows))]).unwrap();
    assert_eq!(ids(&out).len(), 10_000);
    assert!(
        op.best.len() <= 4 * ExtremeFilter::MAX_WINDOWS,
        "{}",
        op.best.len()
    );
}
