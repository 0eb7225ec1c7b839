//! Checkpoint tests of the window operators: a run cut by snapshot → Arrow IPC → restore
//! at every step must produce what an uninterrupted run produces (same rows, same order),
//! over the random inputs of the oracle tests; and a snapshot of two subtasks restored into
//! one or four must produce, together, what one uninterrupted subtask produces.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, StringArray};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use millstream_kernels::partition::operator_index_for_key_group;

use super::oracle::{aggs, assigners, generate, report_fn, to_batch, Ev, Step};
use super::{AggSpec, WindowAggregate, WindowFn, WindowProcess};
use crate::checkpoint::testing::{ipc_round_trip, restore_equivalence, run_steps, Step as CStep};
use crate::checkpoint::{filter_key_groups, key_groups_of, OperatorState, StateTable};
use crate::error::Result;
use crate::operator::watermark::WatermarkAssigner;
use crate::operator::{OpContext, Operator, OutItem};
use crate::time::{Watermark, WatermarkStrategy};
use crate::window::{TimeDomain, WindowAssigner, WindowInfo, WindowSpec};

const MAX_P: usize = 128;

/// The oracle's steps as harness steps, ending with the end of input.
fn harness_steps(steps: &[Step]) -> Vec<CStep> {
    let mut out: Vec<CStep> = steps
        .iter()
        .map(|s| match s {
            Step::Batch(evs) => CStep::Batch(0, to_batch(evs)),
            Step::Wm(w) => CStep::Watermark(*w),
        })
        .collect();
    out.push(CStep::End);
    out
}

type Make<'a> = dyn Fn() -> Result<Box<dyn Operator>> + 'a;

/// Restore equivalence at every cut; returns the rows of the uninterrupted run.
fn every_cut(make: &Make<'_>, steps: &[CStep], what: &str) -> usize {
    let mut rows = 0;
    for cut in 0..=steps.len() {
        let (whole, _) = restore_equivalence(make, steps, cut, 1, MAX_P)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        rows = batch_rows(&whole);
    }
    rows
}

fn batch_rows(items: &[OutItem]) -> usize {
    items
        .iter()
        .map(|i| match i {
            OutItem::Batch(_, b) => b.num_rows(),
            _ => 0,
        })
        .sum()
}

/// The oracle's aggregates plus the order-sensitive ones, a string one and `DISTINCT` ones
/// (whose seen values are state of their own: `s` and `k` repeat in every window).
fn all_aggs() -> Vec<AggSpec> {
    let mut a = aggs();
    a.push(AggSpec::first("v", "fv"));
    a.push(AggSpec::last("v", "lv"));
    a.push(AggSpec::min("s", "ms"));
    a.push(AggSpec::count_non_null("s", "cds").distinct());
    a.push(AggSpec::sum("k", "sdk").distinct());
    a.push(AggSpec::avg("k", "adk").distinct());
    a.push(AggSpec::count_non_null("v", "cdv").distinct());
    a
}

fn event_spec(a: WindowAssigner, lateness: i64, side: bool) -> WindowSpec {
    WindowSpec {
        allowed_lateness: lateness,
        late_side_output: side,
        ..WindowSpec::new(a)
    }
}

/// Keys, allowed lateness, side output: the oracle tests' configurations.
fn configs() -> Vec<(Vec<&'static str>, i64, bool)> {
    let mut c = Vec::new();
    for keys in [vec!["k"], vec!["k", "s"], vec![]] {
        for (lateness, side) in [(0, false), (0, true), (15, true), (40, false)] {
            c.push((keys.clone(), lateness, side));
        }
    }
    c
}

fn names(keys: &[&str]) -> Vec<String> {
    keys.iter().map(|k| k.to_string()).collect()
}

#[test]
fn aggregate_restores_at_every_cut() {
    let mut total = 0;
    for a in assigners() {
        for (keys, lateness, side) in configs() {
            for seed in 0..2u64 {
                let steps = harness_steps(&generate(seed * 31 + lateness as u64, 50));
                let make = || -> Result<Box<dyn Operator>> {
                    let spec = event_spec(a, lateness, side);
                    let op =
                        WindowAggregate::new(names(&keys), Some("ts".into()), spec, all_aggs())?;
                    Ok(Box::new(op))
                };
                let what =
                    format!("{a:?} keys {keys:?} lateness {lateness} side {side} seed {seed}");
                total += every_cut(&make, &steps, &what);
            }
        }
    }
    assert!(total > 2000, "{total} result rows");
}

#[test]
fn process_restores_at_every_cut() {
    let mut total = 0;
    for a in assigners() {
        for (keys, lateness, side) in configs() {
            if keys.len() == 2 {
                continue;
            }
            let steps = harness_steps(&generate(lateness as u64 + 7, 50));
            let keyed = !keys.is_empty();
            let make = || -> Result<Box<dyn Operator>> {
                let spec = event_spec(a, lateness, side);
                let op =
                    WindowProcess::new(names(&keys), Some("ts".into()), spec, report_fn(keyed))?;
                Ok(Box::new(op))
            };
            let what = format!("process {a:?} keys {keys:?} lateness {lateness} side {side}");
            total += every_cut(&make, &steps, &what);
        }
    }
    assert!(total > 500, "{total} result rows");
}

#[test]
fn restore_keeps_key_types_nulls_and_float_states() {
    // As `several_key_columns_and_result_types`: a nullable string key, float sums, first and
    // last, a string minimum; plus allowed lateness so fired windows are snapshotted.
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("n", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
    ]));
    let batch = |ts: Vec<i64>, names: Vec<Option<&str>>, x: Vec<Option<f64>>| {
        let n = ts.len();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(ts)),
            Arc::new(StringArray::from(names)),
            Arc::new(Int64Array::from(vec![7; n])),
            Arc::new(Float64Array::from(x)),
        ];
        RecordBatch::try_new(schema.clone(), cols).unwrap()
    };
    let steps = vec![
        CStep::Batch(
            0,
            batch(
                vec![1, 2],
                vec![Some("a"), None],
                vec![Some(1.5), Some(-0.0)],
            ),
        ),
        CStep::Batch(
            0,
            batch(
                vec![3, 4, 12],
                vec![Some("a"), None, Some("b")],
                vec![None, Some(4.0), Some(f64::NAN)],
            ),
        ),
        CStep::Watermark(9),
        CStep::Batch(
            0,
            batch(
                vec![5, 13],
                vec![Some("c"), None],
                vec![Some(2.5), Some(1.0)],
            ),
        ),
        CStep::Watermark(25),
        CStep::Batch(0, batch(vec![14], vec![Some("b")], vec![Some(0.0)])),
        CStep::Watermark(40),
        CStep::End,
    ];
    let make = || -> Result<Box<dyn Operator>> {
        let aggs = vec![
            AggSpec::sum("x", "sx"),
            AggSpec::avg("n", "an"),
            AggSpec::max("x", "mx"),
            AggSpec::first("x", "fx"),
            AggSpec::last("x", "lx"),
            AggSpec::min("name", "mn"),
            AggSpec::count_non_null("name", "cn"),
        ];
        let spec = WindowSpec {
            allowed_lateness: 20,
            ..WindowSpec::new(WindowAssigner::Tumble {
                size: 10,
                offset: 0,
            })
        };
        let op = WindowAggregate::new(
            vec!["name".into(), "n".into()],
            Some("ts".into()),
            spec,
            aggs,
        )?;
        Ok(Box::new(op))
    };
    assert!(every_cut(&make, &steps, "typed keys") >= 6);
}

/// A process function that reports only the row ids: its output does not depend on the
/// window bounds, which processing time draws from the clock.
fn ids_fn() -> WindowFn {
    let out = Arc::new(Schema::new(vec![Field::new("ids", DataType::Utf8, false)]));
    Arc::new(move |_: &WindowInfo, rows: &RecordBatch| {
        let ids: Vec<String> = rows
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .map(i64::to_string)
            .collect();
        let col: ArrayRef = Arc::new(StringArray::from(vec![ids.join(",")]));
        Ok(Some(RecordBatch::try_new(out.clone(), vec![col])?))
    })
}

#[test]
fn processing_time_windows_restore() {
    // Windows far longer than the test, so both runs see the same window; results come at the
    // end of input. Session bounds come from the clock: only the process function (ids) and
    // a window-less aggregate output are deterministic there.
    let proc_spec = |a| WindowSpec {
        domain: TimeDomain::ProcessingTime,
        ..WindowSpec::new(a)
    };
    let huge = WindowAssigner::Tumble {
        size: 1 << 45,
        offset: 0,
    };
    let steps = harness_steps(&generate(5, 40));
    let make = || -> Result<Box<dyn Operator>> {
        let op = WindowAggregate::new(vec!["k".into()], None, proc_spec(huge), all_aggs())?;
        Ok(Box::new(op))
    };
    assert!(every_cut(&make, &steps, "processing-time tumble aggregate") > 0);
    for a in [huge, WindowAssigner::Session { gap: 3_600_000 }] {
        for keys in [vec!["k"], vec![]] {
            let make = || -> Result<Box<dyn Operator>> {
                let op = WindowProcess::new(names(&keys), None, proc_spec(a), ids_fn())?;
                Ok(Box::new(op))
            };
            let what = format!("processing-time process {a:?} keys {keys:?}");
            if matches!(a, WindowAssigner::Session { .. }) && !keys.is_empty() {
                // Keyed sessions fire in order of end, which the clock decides: compare
                // the rows (each key's ids in arrival order) as a multiset.
                for cut in 0..=steps.len() {
                    every_cut_unordered(&make, &steps, cut, &what);
                }
            } else {
                assert!(every_cut(&make, &steps, &what) > 0);
            }
        }
    }
}

/// As `restore_equivalence`, comparing rows as multisets.
fn every_cut_unordered(make: &Make<'_>, steps: &[CStep], cut: usize, what: &str) {
    let mut a = make().unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    a.open(&mut ctx).unwrap();
    let whole = run_steps(a.as_mut(), &mut ctx, steps).unwrap();
    let mut b = make().unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    b.open(&mut ctx).unwrap();
    let mut cut_run = run_steps(b.as_mut(), &mut ctx, &steps[..cut]).unwrap();
    let state = ipc_round_trip(b.snapshot(1, &mut ctx).unwrap()).unwrap();
    let mut c = make().unwrap();
    let wm = ctx.watermark;
    let mut ctx = OpContext::new(0, 1, MAX_P);
    c.open(&mut ctx).unwrap();
    ctx.watermark = wm;
    c.restore(state, &mut ctx).unwrap();
    cut_run.extend(run_steps(c.as_mut(), &mut ctx, &steps[cut..]).unwrap());
    assert!(!whole.is_empty());
    assert_eq!(multiset(&whole), multiset(&cut_run), "{what}: cut {cut}");
}

#[test]
fn processing_time_restore_requests_a_callback() {
    let spec = WindowSpec {
        domain: TimeDomain::ProcessingTime,
        ..WindowSpec::new(WindowAssigner::Tumble {
            size: 1 << 45,
            offset: 0,
        })
    };
    let mut op = WindowAggregate::new(vec!["k".into()], None, spec.clone(), aggs()).unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    let evs = [Ev {
        id: 1,
        ts: 0,
        key: 1,
        v: Some(1),
    }];
    run_steps(&mut op, &mut ctx, &[CStep::Batch(0, to_batch(&evs))]).unwrap();
    let asked = ctx.processing_timer();
    assert!(asked.is_some());
    let state = ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap();
    let mut fresh = WindowAggregate::new(vec!["k".into()], None, spec, aggs()).unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    fresh.open(&mut ctx).unwrap();
    fresh.restore(state, &mut ctx).unwrap();
    assert_eq!(
        ctx.processing_timer(),
        asked,
        "the restored window's callback"
    );
}

#[test]
fn empty_and_unused_operators_restore() {
    for a in assigners() {
        let make = || -> Result<Box<dyn Operator>> {
            let op = WindowAggregate::new(
                vec!["k".into()],
                Some("ts".into()),
                WindowSpec::new(a),
                aggs(),
            )?;
            Ok(Box::new(op))
        };
        // Cut before the first batch: no schema is known yet.
        restore_equivalence(&make, &harness_steps(&generate(1, 20)), 0, 1, MAX_P).unwrap();
        let mut op = make().unwrap();
        let mut ctx = OpContext::new(0, 1, MAX_P);
        let state = op.snapshot(3, &mut ctx).unwrap();
        let mut fresh = make().unwrap();
        fresh
            .restore(ipc_round_trip(state).unwrap(), &mut ctx)
            .unwrap();
    }
}

/// Rows of `batch` per subtask of `p`, routed by the key groups of `keys` as the hash
/// exchange does.
fn route(batch: &RecordBatch, keys: &[&str], p: usize) -> Vec<RecordBatch> {
    let cols: Vec<ArrayRef> = keys
        .iter()
        .map(|k| batch.column_by_name(k).unwrap().clone())
        .collect();
    let kg = key_groups_of(&cols, MAX_P).unwrap();
    (0..p)
        .map(|s| {
            let mask = kg
                .iter()
                .map(|&g| Some(operator_index_for_key_group(MAX_P, p, g as usize) == s))
                .collect();
            filter_record_batch(batch, &mask).unwrap()
        })
        .collect()
}

/// Feeds `steps` to subtask `s` of `p`: its share of each batch, every watermark.
fn run_subtask(
    op: &mut dyn Operator,
    ctx: &mut OpContext,
    steps: &[CStep],
    keys: &[&str],
) -> Vec<OutItem> {
    let mine: Vec<CStep> = steps
        .iter()
        .map(|st| match st {
            CStep::Batch(i, b) => {
                CStep::Batch(*i, route(b, keys, ctx.parallelism).swap_remove(ctx.subtask))
            }
            other => other.clone(),
        })
        .collect();
    run_steps(op, ctx, &mine).unwrap()
}

/// Rows per port as sorted text lines: a multiset.
fn multiset(items: &[OutItem]) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for i in items {
        if let OutItem::Batch(port, b) = i {
            let text = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b)).unwrap();
            for line in text.to_string().lines().skip(3) {
                if !line.starts_with('+') {
                    // Cells without the padding, which depends on the batch.
                    let cells: Vec<&str> = line.split('|').map(str::trim).collect();
                    out.push((*port, cells.join("|")));
                }
            }
        }
    }
    out.sort();
    out
}

/// The state the runtime hands subtask `ctx` after a rescale: every old subtask's tables
/// concatenated, keyed ones filtered to the key groups it owns, `rescaled` set.
fn rescaled_state(old: &[OperatorState], ctx: &OpContext) -> OperatorState {
    let mut tables: Vec<StateTable> = Vec::new();
    for s in old {
        for t in &s.tables {
            match tables.iter_mut().find(|x| x.name == t.name) {
                Some(x) => x.batches.extend(t.batches.iter().cloned()),
                None => tables.push(t.clone()),
            }
        }
    }
    for t in &mut tables {
        if t.keyed {
            t.batches = filter_key_groups(t, ctx.key_group_range()).unwrap();
        }
    }
    OperatorState {
        tables,
        files: Vec::new(),
        rescaled: true,
    }
}

/// Two subtasks of parallelism 2 snapshot after `cut` steps; their state is restored into
/// `new_p` subtasks which finish the input. Every output together must be, as a multiset,
/// what one uninterrupted subtask of parallelism 1 produces.
fn check_rescale(
    make: &Make<'_>,
    steps: &[CStep],
    keys: &[&str],
    cut: usize,
    new_p: usize,
    what: &str,
) {
    let mut whole_op = make().unwrap();
    let mut whole_ctx = OpContext::new(0, 1, MAX_P);
    whole_op.open(&mut whole_ctx).unwrap();
    let expected = multiset(&run_steps(whole_op.as_mut(), &mut whole_ctx, steps).unwrap());

    let mut got = Vec::new();
    let mut old_states = Vec::new();
    let mut wm = Watermark::MIN;
    for s in 0..2 {
        let mut op = make().unwrap();
        let mut ctx = OpContext::new(s, 2, MAX_P);
        op.open(&mut ctx).unwrap();
        got.extend(run_subtask(op.as_mut(), &mut ctx, &steps[..cut], keys));
        old_states.push(ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap());
        wm = ctx.watermark;
    }
    for s in 0..new_p {
        let mut op = make().unwrap();
        let mut ctx = OpContext::new(s, new_p, MAX_P);
        op.open(&mut ctx).unwrap();
        // Into 4 the task's watermark starts at MIN: the operator's own floor must judge
        // lateness as the old subtasks did.
        if new_p == 1 {
            ctx.watermark = wm;
        }
        op.restore(rescaled_state(&old_states, &ctx), &mut ctx)
            .unwrap();
        got.extend(run_subtask(op.as_mut(), &mut ctx, &steps[cut..], keys));
    }
    let got = multiset(&got);
    if got != expected {
        let missing: Vec<_> = expected.iter().filter(|r| !got.contains(r)).collect();
        let extra: Vec<_> = got.iter().filter(|r| !expected.contains(r)).collect();
        panic!(
            "{what}: cut {cut} into {new_p}: {} rows, expected {}; missing {missing:?}, extra {extra:?}",
            got.len(),
            expected.len()
        );
    }
}

#[test]
fn aggregate_rescales_from_two_subtasks_into_one_and_four() {
    for a in assigners() {
        for (keys, lateness, side) in configs() {
            if keys.is_empty() {
                continue;
            }
            let steps = harness_steps(&generate(lateness as u64 + 11, 60));
            let make = || -> Result<Box<dyn Operator>> {
                let spec = event_spec(a, lateness, side);
                let op = WindowAggregate::new(names(&keys), Some("ts".into()), spec, all_aggs())?;
                Ok(Box::new(op))
            };
            let what = format!("{a:?} keys {keys:?} lateness {lateness} side {side}");
            for cut in (1..steps.len()).step_by(3) {
                for new_p in [1, 4] {
                    check_rescale(&make, &steps, &keys, cut, new_p, &what);
                }
            }
        }
    }
}

#[test]
fn process_rescales_from_two_subtasks_into_one_and_four() {
    for a in assigners() {
        for lateness in [0, 40] {
            let steps = harness_steps(&generate(lateness as u64 + 13, 60));
            let make = || -> Result<Box<dyn Operator>> {
                let spec = event_spec(a, lateness, true);
                let op =
                    WindowProcess::new(vec!["k".into()], Some("ts".into()), spec, report_fn(true))?;
                Ok(Box::new(op))
            };
            let what = format!("process {a:?} lateness {lateness}");
            for cut in (1..steps.len()).step_by(4) {
                for new_p in [1, 4] {
                    check_rescale(&make, &steps, &["k"], cut, new_p, &what);
                }
            }
        }
    }
}

/// Items as text, watermarks included, for operators whose watermarks are their output.
fn transcript(items: &[OutItem]) -> Vec<String> {
    items
        .iter()
        .map(|i| match i {
            OutItem::Batch(p, b) => format!(
                "batch {p}: {}",
                arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b)).unwrap()
            ),
            OutItem::Watermark(w) => format!("watermark {}", w.0),
            OutItem::Idle => "idle".into(),
        })
        .collect()
}

fn assigner_steps(seed: u64) -> Vec<CStep> {
    let mut steps = harness_steps(&generate(seed, 60));
    // Upstream watermarks are swallowed except the last; keep them to check that too.
    steps.retain(|s| !matches!(s, CStep::Watermark(w) if *w != i64::MAX));
    steps
}

#[test]
fn watermark_assigner_restores_at_every_cut() {
    for seed in 0..4 {
        let steps = assigner_steps(seed);
        let make = || -> Result<Box<dyn Operator>> {
            let strategy = WatermarkStrategy::bounded_out_of_orderness(
                "ts",
                std::time::Duration::from_millis(5),
            );
            Ok(Box::new(WatermarkAssigner::new(strategy)))
        };
        for cut in 0..=steps.len() {
            let (whole, cut_run) = restore_equivalence(&make, &steps, cut, 1, MAX_P).unwrap();
            assert_eq!(
                transcript(&whole),
                transcript(&cut_run),
                "seed {seed} cut {cut}"
            );
            assert!(
                whole
                    .iter()
                    .filter(|i| matches!(i, OutItem::Watermark(_)))
                    .count()
                    > 5
            );
        }
    }
}

#[test]
fn watermark_assigner_rescale_takes_the_minimum() {
    let strategy = WatermarkStrategy::monotonous("ts");
    let feed = |op: &mut WatermarkAssigner, ctx: &mut OpContext, ts: &[i64]| {
        let evs: Vec<Ev> = ts
            .iter()
            .map(|&t| Ev {
                id: 0,
                ts: t,
                key: 0,
                v: None,
            })
            .collect();
        let items = run_steps(op, ctx, &[CStep::Batch(0, to_batch(&evs))]).unwrap();
        items
            .iter()
            .filter_map(|i| match i {
                OutItem::Watermark(w) => Some(w.0),
                _ => None,
            })
            .collect::<Vec<_>>()
    };
    let mut old = Vec::new();
    for max in [100, 50] {
        let mut op = WatermarkAssigner::new(strategy.clone());
        let mut ctx = OpContext::new(old.len(), 2, MAX_P);
        op.open(&mut ctx).unwrap();
        assert_eq!(feed(&mut op, &mut ctx, &[max - 10, max]).len(), 1);
        old.push(ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap());
    }
    let mut op = WatermarkAssigner::new(strategy.clone());
    let mut ctx = OpContext::new(0, 1, MAX_P);
    op.open(&mut ctx).unwrap();
    op.restore(rescaled_state(&old, &ctx), &mut ctx).unwrap();
    // Restored from the minimum (50): 60 advances it, 55 does not.
    let w60 = feed(&mut op, &mut ctx, &[60]);
    assert_eq!(w60.len(), 1, "{w60:?}");
    assert!(feed(&mut op, &mut ctx, &[55]).is_empty());
    // Same parallelism: the subtask's own value (100) holds; 60 emits nothing.
    let mut op = WatermarkAssigner::new(strategy);
    op.open(&mut ctx).unwrap();
    op.restore(old.swap_remove(0), &mut ctx).unwrap();
    assert!(feed(&mut op, &mut ctx, &[60]).is_empty());
}

#[test]
fn restore_rejects_foreign_state() {
    let mut op = WindowAggregate::new(
        vec!["k".into()],
        Some("ts".into()),
        WindowSpec::new(assigners()[0]),
        aggs(),
    )
    .unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    let b = to_batch(&[Ev {
        id: 1,
        ts: 1,
        key: 1,
        v: Some(1),
    }]);
    run_steps(&mut op, &mut ctx, &[CStep::Batch(0, b.clone())]).unwrap();
    let mut state = op.snapshot(1, &mut ctx).unwrap();
    // A table of the wrong shape under the operator's name.
    for t in &mut state.tables {
        if t.keyed {
            t.batches = vec![t.batches[0].project(&[0, 1, 2]).unwrap()];
        }
    }
    let mut fresh = WindowAggregate::new(
        vec!["k".into()],
        Some("ts".into()),
        WindowSpec::new(assigners()[0]),
        aggs(),
    )
    .unwrap();
    assert!(fresh.restore(state, &mut ctx).is_err());
}
