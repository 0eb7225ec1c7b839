use serde::Deserialize;

use super::*;
use crate::operator::OutItem;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Ev {
    k: String,
    ts: i64,
    v: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Out {
    k: String,
    what: String,
    n: i64,
}

fn out(k: &str, what: &str, n: i64) -> Out {
    Out {
        k: k.into(),
        what: what.into(),
        n,
    }
}

/// Sums per key, remembers values (list) and their counts (map); an event-time timer
/// 10 ms after each row reports; a negative value asks for a processing-time timer.
struct Fun;

impl KeyedProcessFunction for Fun {
    type In = Ev;
    type Out = Out;

    fn process_element(
        &mut self,
        e: Ev,
        ctx: &mut ProcessContext<'_>,
        out: &mut Vec<Out>,
    ) -> Result<()> {
        ctx.value_state::<String>("key")?.update(&e.k)?;
        let mut sum = ctx.value_state::<i64>("sum")?;
        let s = sum.value()?.unwrap_or(0) + e.v;
        sum.update(&s)?;
        ctx.list_state::<i64>("seen")?.add(&e.v)?;
        let mut counts = ctx.map_state::<i64, i64>("counts")?;
        let c = counts.get(&e.v)?.unwrap_or(0);
        counts.put(&e.v, &(c + 1))?;
        let t = ctx.timestamp().expect("time column given");
        ctx.register_event_time_timer(t + 10);
        if e.v == 100 {
            ctx.delete_event_time_timer(t + 10);
        }
        if e.v < 0 {
            ctx.register_processing_time_timer(1_000);
            ctx.register_processing_time_timer(5_000);
            ctx.delete_processing_time_timer(5_000);
        }
        out.push(Out {
            k: e.k,
            what: "elem".into(),
            n: s,
        });
        Ok(())
    }

    fn on_timer(
        &mut self,
        t: i64,
        domain: TimeDomain,
        ctx: &mut ProcessContext<'_>,
        out: &mut Vec<Out>,
    ) -> Result<()> {
        assert_eq!(ctx.timestamp(), Some(t));
        let k = ctx
            .value_state::<String>("key")?
            .value()?
            .expect("key stored");
        match domain {
            TimeDomain::EventTime => {
                let sum = ctx.value_state::<i64>("sum")?.value()?.unwrap_or(0);
                let seen = ctx.list_state::<i64>("seen")?.get()?;
                let mut counts = ctx.map_state::<i64, i64>("counts")?.entries()?;
                counts.sort();
                out.push(Out {
                    k,
                    what: format!(
                        "event@{t} wm={} seen={seen:?} counts={counts:?}",
                        ctx.current_watermark()
                    ),
                    n: sum,
                });
                if t == 15 {
                    // Due within the same watermark: fires in this call, after 15.
                    ctx.register_event_time_timer(16);
                }
            }
            TimeDomain::ProcessingTime => {
                ctx.value_state::<i64>("sum")?.clear()?;
                ctx.list_state::<i64>("seen")?.clear()?;
                ctx.map_state::<i64, i64>("counts")?.clear()?;
                out.push(Out {
                    k,
                    what: "proc".into(),
                    n: t,
                });
            }
        }
        Ok(())
    }
}

fn ev(k: &str, ts: i64, v: i64) -> Ev {
    Ev { k: k.into(), ts, v }
}

fn rows(o: &Output) -> Vec<Out> {
    o.items()
        .iter()
        .flat_map(|i| match i {
            OutItem::Batch(0, b) => from_batch::<Out>(b).unwrap(),
            _ => Vec::new(),
        })
        .collect()
}

fn feed(op: &mut KeyedProcess<Fun>, ctx: &mut OpContext, events: &[Ev]) -> Vec<Out> {
    let b = to_batch(&RecordSchema::<Ev>::of().unwrap(), events).unwrap();
    let mut o = Output::new();
    op.on_batch(0, b, ctx, &mut o).unwrap();
    rows(&o)
}

fn watermark(op: &mut KeyedProcess<Fun>, ctx: &mut OpContext, wm: i64) -> Output {
    ctx.watermark = Watermark(wm);
    let mut o = Output::new();
    op.on_watermark(Watermark(wm), ctx, &mut o).unwrap();
    o
}

#[test]
fn state_and_timers() {
    let mut op = KeyedProcess::new(vec!["k".into()], Some("ts".into()), Fun).unwrap();
    assert_eq!(op.output_schema().field(1).name(), "what");
    let mut ctx = OpContext::new(0, 1, 128);
    op.open(&mut ctx).unwrap();
    let got = feed(
        &mut op,
        &mut ctx,
        &[
            ev("a", 1, 1),
            ev("b", 2, 2),
            ev("a", 5, 3),
            ev("b", 2, 0),
            ev("c", 3, 100),
        ],
    );
    assert_eq!(
        got,
        vec![
            out("a", "elem", 1),
            out("b", "elem", 2),
            out("a", "elem", 4),
            out("b", "elem", 2),
            out("c", "elem", 100)
        ]
    );
    // (11, a), (12, b) registered twice, (15, a); c's was deleted.
    assert_eq!(op.pending_timers(), (3, 0));
    assert_eq!(ctx.processing_timer(), None);

    let o = watermark(&mut op, &mut ctx, 11);
    assert_eq!(
        rows(&o),
        vec![out(
            "a",
            "event@11 wm=11 seen=[1, 3] counts=[(1, 1), (3, 1)]",
            4
        )]
    );
    assert!(
        matches!(o.items().last(), Some(OutItem::Watermark(Watermark(11)))),
        "timer output, then the watermark"
    );

    let got = feed(&mut op, &mut ctx, &[ev("a", 20, -1), ev("a", 21, 3)]);
    assert_eq!(got, vec![out("a", "elem", 3), out("a", "elem", 6)]);
    assert_eq!(
        ctx.processing_timer(),
        Some(1_000),
        "earliest processing-time timer requested"
    );
    assert_eq!(op.pending_timers(), (4, 1));

    let o = watermark(&mut op, &mut ctx, 100);
    let what: Vec<(String, String)> = rows(&o).into_iter().map(|r| (r.k, r.what)).collect();
    assert_eq!(
        what,
        vec![
            (
                "b".into(),
                "event@12 wm=100 seen=[2, 0] counts=[(0, 1), (2, 1)]".into()
            ),
            (
                "a".into(),
                "event@15 wm=100 seen=[1, 3, -1, 3] counts=[(-1, 1), (1, 1), (3, 2)]".into()
            ),
            (
                "a".into(),
                "event@16 wm=100 seen=[1, 3, -1, 3] counts=[(-1, 1), (1, 1), (3, 2)]".into()
            ),
            (
                "a".into(),
                "event@30 wm=100 seen=[1, 3, -1, 3] counts=[(-1, 1), (1, 1), (3, 2)]".into()
            ),
            (
                "a".into(),
                "event@31 wm=100 seen=[1, 3, -1, 3] counts=[(-1, 1), (1, 1), (3, 2)]".into()
            ),
        ]
    );
    assert_eq!(op.pending_timers(), (0, 1));

    // The task clears the request before calling back.
    assert_eq!(ctx.take_processing_timer(), Some(1_000));
    let mut o = Output::new();
    op.on_processing_time(999, &mut ctx, &mut o).unwrap();
    assert!(o.is_empty(), "not due yet");
    assert_eq!(ctx.take_processing_timer(), Some(1_000), "asked again");
    op.on_processing_time(1_500, &mut ctx, &mut o).unwrap();
    assert_eq!(rows(&o), vec![out("a", "proc", 1_000)]);
    assert_eq!(ctx.processing_timer(), None, "5000 was deleted");
    assert_eq!(op.pending_timers(), (0, 0));

    // a's sum, list and map were cleared; the key values and b's and c's state remain.
    let backend = op.state_backend().unwrap();
    // key: a b c; sum: b c; seen: b c; counts: b (2 values) c (1 value)
    assert_eq!(backend.num_entries(), 3 + 2 + 2 + 3);
    let mut o = Output::new();
    op.on_end(&mut ctx, &mut o).unwrap();
    assert!(o.is_empty());
}

#[test]
fn keys_are_checked_against_the_subtask_range() {
    // Parallelism 4: subtask 0 owns key groups [0, 32); some key lands elsewhere.
    let mut op = KeyedProcess::new(vec!["k".into()], None, Fun).unwrap();
    let mut ctx = OpContext::new(0, 4, 128);
    op.open(&mut ctx).unwrap();
    let events: Vec<Ev> = (0..64).map(|i| ev(&format!("key{i}"), 0, 1)).collect();
    let b = to_batch(&RecordSchema::<Ev>::of().unwrap(), &events).unwrap();
    let e = op.on_batch(0, b, &mut ctx, &mut Output::new()).unwrap_err();
    assert!(
        e.to_string().contains("outside this subtask's range"),
        "{e}"
    );
}

#[test]
fn missing_columns_are_plan_errors() {
    assert!(KeyedProcess::new(vec![], None, Fun).is_err());
    let mut op = KeyedProcess::new(vec!["nope".into()], None, Fun).unwrap();
    let b = to_batch(&RecordSchema::<Ev>::of().unwrap(), &[ev("a", 1, 1)]).unwrap();
    let e = op
        .on_batch(0, b, &mut OpContext::new(0, 1, 128), &mut Output::new())
        .unwrap_err();
    assert!(e.to_string().contains("unknown column 'nope'"), "{e}");
}

// ---- checkpoint / restore ----

/// Helpers for restore and rescale tests of keyed operators.
pub(crate) mod recovery {
    use std::collections::BTreeMap;

    use arrow::array::{ArrayRef, BooleanArray};
    use millstream_kernels::partition::operator_index_for_key_group;

    use crate::checkpoint::testing::{ipc_round_trip, run_steps, Step};
    use crate::checkpoint::{key_groups_of, OperatorState};
    use crate::operator::{OpContext, Operator, OutItem};
    use crate::state::{create_backend, KeyGroupRange, RocksDbOptions, StateBackendKind};
    use crate::Result;

    /// Max parallelism of these tests.
    pub(crate) const MAX_P: usize = 128;

    /// The backends to test with: memory, and RocksDB under `dir`.
    pub(crate) fn kinds(dir: &tempfile::TempDir) -> Vec<StateBackendKind> {
        vec![
            StateBackendKind::Memory,
            StateBackendKind::RocksDb(RocksDbOptions {
                dir: dir.path().to_path_buf(),
                memory_budget_bytes: 4 << 20,
            }),
        ]
    }

    /// A backend of `kind` for subtask `subtask` of `p`.
    pub(crate) fn backend(
        kind: &StateBackendKind,
        subtask: usize,
        p: usize,
    ) -> Result<Box<dyn crate::state::StateBackend>> {
        create_backend(kind, KeyGroupRange::for_subtask(MAX_P, p, subtask), "test")
    }

    /// `steps` as each of `p` subtasks sees them: batches split by the key group of
    /// column `key`, watermarks and processing time broadcast.
    pub(crate) fn route(steps: &[Step], key: &str, p: usize) -> Vec<Vec<Step>> {
        let mut out = vec![Vec::new(); p];
        for s in steps {
            match s {
                Step::Batch(input, b) => {
                    let col: ArrayRef = b.column_by_name(key).expect("key column").clone();
                    let kgs = key_groups_of(&[col], MAX_P).unwrap();
                    for (sub, steps) in out.iter_mut().enumerate() {
                        let mask: BooleanArray = kgs
                            .iter()
                            .map(|&g| {
                                Some(operator_index_for_key_group(MAX_P, p, g as usize) == sub)
                            })
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

    /// The union of snapshots of every old subtask, as a restore after a rescale gets it.
    pub(crate) fn merge(states: Vec<OperatorState>) -> OperatorState {
        let mut merged = OperatorState::new();
        for st in states {
            for t in st.tables {
                match merged.tables.iter_mut().find(|m| m.name == t.name) {
                    Some(m) => m.batches.extend(t.batches),
                    None => merged.tables.push(t),
                }
            }
            merged.files.extend(st.files);
        }
        merged.rescaled = true;
        merged
    }

    /// Run `steps[..cut]` on `p_from` subtasks, snapshot them all, restore into `p_to`
    /// fresh subtasks and run the rest; returns every output, phase by phase.
    pub(crate) fn run_rescaled(
        make: &dyn Fn(usize, usize) -> Result<Box<dyn Operator>>,
        steps: &[Step],
        key: &str,
        cut: usize,
        p_from: usize,
        p_to: usize,
    ) -> Result<Vec<OutItem>> {
        let mut items = Vec::new();
        let mut states = Vec::new();
        let mut watermark = crate::time::Watermark::MIN;
        for (sub, part) in route(&steps[..cut], key, p_from).iter().enumerate() {
            let mut op = make(sub, p_from)?;
            let mut ctx = OpContext::new(sub, p_from, MAX_P);
            op.open(&mut ctx)?;
            items.extend(run_steps(op.as_mut(), &mut ctx, part)?);
            states.push(ipc_round_trip(op.snapshot(1, &mut ctx)?)?);
            watermark = ctx.watermark;
        }
        let state = merge(states);
        for (sub, part) in route(&steps[cut..], key, p_to).iter().enumerate() {
            let mut op = make(sub, p_to)?;
            let mut ctx = OpContext::new(sub, p_to, MAX_P);
            ctx.watermark = watermark;
            op.open(&mut ctx)?;
            op.restore(state.clone(), &mut ctx)?;
            items.extend(run_steps(op.as_mut(), &mut ctx, part)?);
        }
        Ok(items)
    }

    /// Output rows (main port) grouped by the value of `column` (formatted), in order.
    pub(crate) fn rows_by_key(items: &[OutItem], column: &str) -> BTreeMap<String, Vec<String>> {
        let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for i in items {
            if let OutItem::Batch(0, b) = i {
                let formatters: Vec<_> = b
                    .columns()
                    .iter()
                    .map(|c| {
                        arrow::util::display::ArrayFormatter::try_new(
                            c.as_ref(),
                            &Default::default(),
                        )
                        .unwrap()
                    })
                    .collect();
                let k = b.schema().index_of(column).unwrap();
                for r in 0..b.num_rows() {
                    let row: Vec<String> =
                        formatters.iter().map(|f| f.value(r).to_string()).collect();
                    out.entry(row[k].clone()).or_default().push(row.join("|"));
                }
            }
        }
        out
    }
}

use crate::checkpoint::testing::{restore_equivalence, Step};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use recovery::{backend, kinds, rows_by_key, run_rescaled, MAX_P};

/// Random batches of `Ev` (random sizes, so random batch boundaries), watermarks and
/// processing-time callbacks, ending with the final watermark and end of input.
fn random_steps(seed: u64) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let schema = RecordSchema::<Ev>::of().unwrap();
    let mut steps = Vec::new();
    let (mut ts, mut wm) = (0i64, i64::MIN);
    for _ in 0..rng.random_range(6..12) {
        let events: Vec<Ev> = (0..rng.random_range(1..8))
            .map(|_| {
                ts += rng.random_range(0..4);
                let v = match rng.random_range(0..12) {
                    0 => -1,
                    1 => 100,
                    _ => rng.random_range(1..10),
                };
                ev(&format!("k{}", rng.random_range(0..7)), ts, v)
            })
            .collect();
        steps.push(Step::Batch(0, to_batch(&schema, &events).unwrap()));
        if rng.random_bool(0.4) {
            wm = wm.max(ts - rng.random_range(0..6));
            steps.push(Step::Watermark(wm));
        }
        if rng.random_bool(0.15) {
            steps.push(Step::ProcessingTime(rng.random_range(500..2_000)));
        }
    }
    steps.push(Step::Watermark(i64::MAX));
    steps.push(Step::End);
    steps
}

fn make_process(
    kind: &crate::state::StateBackendKind,
    subtask: usize,
    p: usize,
) -> Result<Box<dyn Operator>> {
    let op = KeyedProcess::new(vec!["k".into()], Some("ts".into()), Fun)?
        .with_state_backend(backend(kind, subtask, p)?);
    Ok(Box::new(op))
}

#[test]
fn restore_equivalence_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    for kind in kinds(&dir) {
        for seed in 0..3 {
            let steps = random_steps(seed);
            let make = || make_process(&kind, 0, 1);
            for cut in 0..=steps.len() {
                restore_equivalence(&make, &steps, cut, 1, MAX_P)
                    .unwrap_or_else(|e| panic!("{kind:?} seed {seed} cut {cut}: {e}"));
            }
        }
    }
}

#[test]
fn restores_timers_and_state_at_other_parallelism() {
    let dir = tempfile::tempdir().unwrap();
    for kind in kinds(&dir) {
        for seed in 10..13 {
            let steps = random_steps(seed);
            let mut whole = make_process(&kind, 0, 1).unwrap();
            let mut ctx = OpContext::new(0, 1, MAX_P);
            whole.open(&mut ctx).unwrap();
            let expected = rows_by_key(
                &crate::checkpoint::testing::run_steps(whole.as_mut(), &mut ctx, &steps).unwrap(),
                "k",
            );
            let make = |s: usize, p: usize| make_process(&kind, s, p);
            for cut in [0, steps.len() / 3, steps.len() / 2, steps.len() - 1] {
                for p_to in [1, 4] {
                    let got = run_rescaled(&make, &steps, "k", cut, 2, p_to).unwrap();
                    assert_eq!(
                        rows_by_key(&got, "k"),
                        expected,
                        "{kind:?} seed {seed} cut {cut}: 2 -> {p_to}"
                    );
                }
            }
        }
    }
}

#[test]
fn uses_the_jobs_backend_kind() {
    let dir = tempfile::tempdir().unwrap();
    let kind = kinds(&dir).pop().unwrap();
    let mut op = KeyedProcess::new(vec!["k".into()], Some("ts".into()), Fun).unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    ctx.state_backend = kind;
    op.open(&mut ctx).unwrap();
    feed(&mut op, &mut ctx, &[ev("a", 1, 1)]);
    let instances: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(instances.len(), 1, "one RocksDB instance for the subtask");
    assert!(op.state_backend().unwrap().num_entries() > 0);
}
