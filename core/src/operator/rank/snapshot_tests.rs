//! Checkpoint tests of [`Rank`]: a run cut by snapshot → Arrow IPC → restore at every step
//! produces exactly what an uninterrupted run produces (same rows, same order), in both
//! modes; and snapshots of `p` subtasks restored into a different number of subtasks
//! produce, per partition, what one uninterrupted subtask produces.

use arrow::array::{AsArray, BooleanArray};
use millstream_kernels::partition::operator_index_for_key_group;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::tests::windowed;
use super::*;
use crate::checkpoint::key_groups_of;
use crate::checkpoint::testing::{ipc_round_trip, restore_equivalence, run_steps, Step};
use crate::operator::process::tests::recovery::{merge, rows_by_key};
use crate::operator::OutItem;

const MAX_P: usize = 128;

/// Random batches of `p, v, id, we` (random sizes: random batch boundaries; event times
/// drifting forward with some disorder, so window mode sees late rows), watermarks in
/// between, then the end of input.
pub(super) fn random_steps(seed: u64) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut steps = Vec::new();
    let (mut t, mut wm, mut id) = (0i64, i64::MIN, 0);
    for _ in 0..rng.random_range(6..16) {
        let rows: Vec<(i64, i64, String, i64)> = (0..rng.random_range(1..16))
            .map(|_| {
                id += 1;
                let ts = t + rng.random_range(-15..10);
                let end = (ts.div_euclid(10) + 1) * 10;
                (
                    rng.random_range(0..5),
                    rng.random_range(0..8),
                    format!("r{id}"),
                    end,
                )
            })
            .collect();
        let rows: Vec<(i64, i64, &str, i64)> = rows
            .iter()
            .map(|(p, v, id, end)| (*p, *v, id.as_str(), *end))
            .collect();
        steps.push(Step::Batch(0, windowed(&rows)));
        t += rng.random_range(0..8);
        if rng.random_bool(0.4) {
            wm = wm.max(t - 6);
            steps.push(Step::Watermark(wm));
        }
    }
    steps.push(Step::End);
    steps
}

/// One configuration: mode, partition columns, limit, emit_rank, new_ties_first.
#[derive(Debug, Clone)]
struct Config {
    mode: RankMode,
    partition: Vec<usize>,
    limit: usize,
    emit_rank: bool,
    new_ties_first: bool,
    descending: bool,
}

impl Config {
    fn random(rng: &mut StdRng) -> Config {
        Config {
            mode: if rng.random_bool(0.5) {
                RankMode::Updating
            } else {
                RankMode::Window { window_end: 3 }
            },
            partition: if rng.random_bool(0.7) {
                vec![0]
            } else {
                vec![]
            },
            limit: rng.random_range(1..=3),
            emit_rank: rng.random_bool(0.5),
            new_ties_first: rng.random_bool(0.5),
            descending: rng.random_bool(0.5),
        }
    }

    fn make(&self) -> Result<Box<dyn Operator>> {
        let order = vec![SortKey {
            column: 1,
            descending: self.descending,
            nulls_first: false,
        }];
        Ok(Box::new(Rank::new(
            self.partition.clone(),
            order,
            self.limit,
            self.emit_rank,
            self.new_ties_first,
            self.mode,
        )?))
    }
}

fn rows_out(items: &[OutItem]) -> usize {
    items
        .iter()
        .map(|i| match i {
            OutItem::Batch(_, b) => b.num_rows(),
            _ => 0,
        })
        .sum()
}

#[test]
fn restore_at_every_cut_continues_exactly() {
    let mut total = 0;
    let mut modes = [0, 0];
    for seed in 0..40u64 {
        let mut rng = StdRng::seed_from_u64(seed + 1000);
        let config = Config::random(&mut rng);
        modes[usize::from(config.mode == RankMode::Updating)] += 1;
        let steps = random_steps(seed);
        let make = || config.make();
        for cut in 0..=steps.len() {
            let (whole, _) = restore_equivalence(&make, &steps, cut, 1, MAX_P)
                .unwrap_or_else(|e| panic!("seed {seed} {config:?} cut {cut}: {e}"));
            if cut == 0 {
                total += rows_out(&whole);
            }
        }
    }
    assert!(modes[0] > 5 && modes[1] > 5, "{modes:?}");
    assert!(total > 400, "{total} rows");
}

/// `steps` as each of `p` subtasks sees them: batches split by the key group of the
/// partition columns (key group 0 without any), watermarks broadcast.
pub(super) fn route(steps: &[Step], partition: &[usize], p: usize) -> Vec<Vec<Step>> {
    let mut out = vec![Vec::new(); p];
    for s in steps {
        match s {
            Step::Batch(input, b) => {
                let kgs = if partition.is_empty() {
                    vec![0; b.num_rows()]
                } else {
                    let cols: Vec<ArrayRef> =
                        partition.iter().map(|&i| b.column(i).clone()).collect();
                    key_groups_of(&cols, MAX_P).unwrap()
                };
                for (sub, steps) in out.iter_mut().enumerate() {
                    let mask: BooleanArray = kgs
                        .iter()
                        .map(|&g| Some(operator_index_for_key_group(MAX_P, p, g as usize) == sub))
                        .collect();
                    let part = arrow::compute::filter_record_batch(b, &mask).unwrap();
                    if part.num_rows() > 0 {
                        steps.push(Step::Batch(*input, part));
                    }
                }
            }
            other => out.iter_mut().for_each(|steps| steps.push(other.clone())),
        }
    }
    out
}

/// Run `steps[..cut]` on `p_from` subtasks, snapshot them all, restore into `p_to` fresh
/// subtasks and run the rest; returns every output and the restored subtasks' snapshot
/// sizes (rows) taken right after the restore.
fn run_rescaled(
    config: &Config,
    steps: &[Step],
    cut: usize,
    p_from: usize,
    p_to: usize,
) -> Result<(Vec<OutItem>, Vec<usize>)> {
    let mut items = Vec::new();
    let mut states = Vec::new();
    let mut watermark = Watermark::MIN;
    for (sub, part) in route(&steps[..cut], &config.partition, p_from)
        .iter()
        .enumerate()
    {
        let mut op = config.make()?;
        let mut ctx = OpContext::new(sub, p_from, MAX_P);
        op.open(&mut ctx)?;
        items.extend(run_steps(op.as_mut(), &mut ctx, part)?);
        states.push(ipc_round_trip(op.snapshot(1, &mut ctx)?)?);
        watermark = ctx.watermark;
    }
    let state = merge(states);
    let mut restored_rows = Vec::new();
    for (sub, part) in route(&steps[cut..], &config.partition, p_to)
        .iter()
        .enumerate()
    {
        let mut op = config.make()?;
        let mut ctx = OpContext::new(sub, p_to, MAX_P);
        ctx.watermark = watermark;
        op.open(&mut ctx)?;
        op.restore(state.clone(), &mut ctx)?;
        let again = op.snapshot(2, &mut ctx)?;
        restored_rows.push(again.table(ROWS_TABLE).map_or(0, |t| t.num_rows()));
        items.extend(run_steps(op.as_mut(), &mut ctx, part)?);
    }
    Ok((items, restored_rows))
}

#[test]
fn rescale_keeps_every_partitions_output() {
    let mut compared = 0;
    for seed in 0..24u64 {
        let mut rng = StdRng::seed_from_u64(seed + 2000);
        let config = Config::random(&mut rng);
        let steps = random_steps(seed + 500);
        let mut op = config.make().unwrap();
        let mut ctx = OpContext::new(0, 1, MAX_P);
        op.open(&mut ctx).unwrap();
        let expected = rows_by_key(&run_steps(op.as_mut(), &mut ctx, &steps).unwrap(), "p");
        for cut in [1, steps.len() / 2, rng.random_range(0..steps.len())] {
            for (p_from, p_to) in [(2, 1), (1, 2), (2, 3)] {
                let what = format!("seed {seed} {config:?} cut {cut}: {p_from} -> {p_to}");
                let (got, restored) = run_rescaled(&config, &steps, cut, p_from, p_to)
                    .unwrap_or_else(|e| panic!("{what}: {e}"));
                assert_eq!(rows_by_key(&got, "p"), expected, "{what}");
                if config.partition.is_empty() {
                    // One partition: its state lives in the subtask that owns key group 0.
                    assert!(
                        restored[1..].iter().all(|&r| r == 0),
                        "{what}: {restored:?}"
                    );
                }
                compared += 1;
            }
        }
    }
    assert_eq!(compared, 24 * 9);
}

#[test]
fn snapshot_holds_only_retained_rows_and_survives_a_second_restore() {
    let config = Config {
        mode: RankMode::Updating,
        partition: vec![0],
        limit: 2,
        emit_rank: true,
        new_ties_first: false,
        descending: true,
    };
    let steps = random_steps(77);
    let cut = steps.len() - 1;
    let mut a = config.make().unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    run_steps(a.as_mut(), &mut ctx, &steps[..cut]).unwrap();
    let first = ipc_round_trip(a.snapshot(1, &mut ctx).unwrap()).unwrap();
    let table = first.table(ROWS_TABLE).unwrap();
    // `limit` rows of each partition (fewer where fewer arrived), no more.
    let mut per_p = std::collections::BTreeMap::new();
    for s in &steps[..cut] {
        if let Step::Batch(_, b) = s {
            for &p in b
                .column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
            {
                *per_p.entry(p).or_insert(0usize) += 1;
            }
        }
    }
    let expected: usize = per_p.values().map(|&n| n.min(2)).sum();
    assert_eq!(table.num_rows(), expected);
    assert!(table.keyed);
    let names: Vec<String> = table.batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names, ["__kg", "p", "v", "id", "we", SEQ_COLUMN]);
    // Restore, then snapshot again before any input: nothing is lost.
    let mut b = config.make().unwrap();
    b.restore(first.clone(), &mut ctx).unwrap();
    let second = b.snapshot(2, &mut ctx).unwrap();
    let data = |s: &OperatorState| {
        let t = s.table(ROWS_TABLE).unwrap();
        t.batches
            .iter()
            .flat_map(super::tests::batch_lines)
            .collect::<Vec<_>>()
    };
    assert_eq!(data(&second), data(&first));
}
