//! Differential tests: the window operators against a brute-force model of Flink's
//! semantics, over random out-of-order inputs.
//!
//! Each case draws events with bounded disorder plus a few very late rows, cuts them into
//! batches of random sizes and puts watermarks at random places (ending with
//! `Watermark::MAX`). The model keeps plain `Vec`s of rows per (window, key) or per session,
//! finds a row's windows by scanning every candidate start, and applies the same rule: a row
//! is late iff, when it arrives, the watermark has passed `end - 1 + lateness` of every window
//! it belongs to. It records what each firing must contain (the key's rows, in arrival
//! order); the aggregate and process outputs are derived from that and compared as multisets,
//! together with the late rows (dropped and counted, or on side output 1).

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, StringArray, TimestampMillisecondArray};
use arrow::datatypes::{
    DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit, TimestampMillisecondType,
};
use arrow::record_batch::RecordBatch;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::{AggSpec, WindowAggregate, WindowFn, WindowProcess};
use crate::operator::{OpContext, Operator, OperatorMetrics, OutItem, Output};
use crate::time::Watermark;
use crate::window::{WindowAssigner, WindowInfo, WindowSpec};

#[derive(Debug, Clone)]
pub(super) struct Ev {
    pub(super) id: i64,
    pub(super) ts: i64,
    pub(super) key: i64,
    pub(super) v: Option<i64>,
}

#[derive(Debug, Clone)]
pub(super) enum Step {
    Batch(Vec<Ev>),
    Wm(i64),
}

pub(super) fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("k", DataType::Int64, false),
        Field::new("s", DataType::Utf8, false),
        Field::new("v", DataType::Int64, true),
    ]))
}

pub(super) fn to_batch(evs: &[Ev]) -> RecordBatch {
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(evs.iter().map(|e| e.id))),
        Arc::new(TimestampMillisecondArray::from_iter_values(
            evs.iter().map(|e| e.ts),
        )),
        Arc::new(Int64Array::from_iter_values(evs.iter().map(|e| e.key))),
        Arc::new(StringArray::from_iter_values(
            evs.iter().map(|e| format!("s{}", e.key % 3)),
        )),
        Arc::new(Int64Array::from_iter(evs.iter().map(|e| e.v))),
    ];
    RecordBatch::try_new(schema(), cols).unwrap()
}

/// Random events: mostly increasing with disorder up to `disorder`, ~3% very late.
pub(super) fn generate(seed: u64, n: usize) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let disorder = rng.random_range(0..25);
    let mut steps = Vec::new();
    let (mut max_ts, mut wm, mut id) = (i64::MIN, i64::MIN, 0i64);
    let mut batch = Vec::new();
    let mut target = rng.random_range(1..12);
    for i in 0..n as i64 {
        let base = i * 2 + rng.random_range(-5..5);
        let ts = if rng.random_bool(0.03) {
            base - rng.random_range(40..200)
        } else {
            base + rng.random_range(0..=disorder)
        };
        let v = (!rng.random_bool(0.1)).then(|| rng.random_range(-50..100));
        batch.push(Ev {
            id,
            ts,
            key: rng.random_range(0..5),
            v,
        });
        id += 1;
        max_ts = max_ts.max(ts);
        if batch.len() >= target {
            steps.push(Step::Batch(std::mem::take(&mut batch)));
            target = rng.random_range(1..12);
            if rng.random_bool(0.4) {
                let w = max_ts - rng.random_range(0..30);
                if w > wm {
                    wm = w;
                    steps.push(Step::Wm(w));
                }
            }
        }
    }
    if !batch.is_empty() {
        steps.push(Step::Batch(batch));
    }
    steps.push(Step::Wm(i64::MAX));
    steps
}

/// Every window containing `t`, by scanning candidate starts.
fn windows_of(a: WindowAssigner, t: i64) -> Vec<(i64, i64)> {
    let aligned = |s: i64, unit: i64, off: i64| (s - off).rem_euclid(unit) == 0;
    match a {
        WindowAssigner::Tumble { size, offset } => ((t - size + 1)..=t)
            .filter(|&s| aligned(s, size, offset))
            .map(|s| (s, s + size))
            .collect(),
        WindowAssigner::Hop {
            size,
            slide,
            offset,
        } => ((t - size + 1)..=t)
            .filter(|&s| aligned(s, slide, offset))
            .map(|s| (s, s + size))
            .collect(),
        WindowAssigner::Cumulate {
            max_size,
            step,
            offset,
        } => {
            let ws = ((t - max_size + 1)..=t)
                .find(|&s| aligned(s, max_size, offset))
                .unwrap();
            (1..=max_size / step)
                .map(|k| (ws, ws + k * step))
                .filter(|&(_, e)| t < e)
                .collect()
        }
        WindowAssigner::Session { .. } => unreachable!(),
    }
}

fn late_window(end: i64, lateness: i64, wm: i64) -> bool {
    end.saturating_sub(1).saturating_add(lateness) <= wm
}

/// One firing the model expects: key, window, the key's rows in arrival order.
pub(super) type Firing = (i64, i64, i64, Vec<Ev>);

#[derive(Default)]
struct ModelWindow {
    keys: Vec<(i64, Vec<Ev>)>,
    fired: bool,
    changed: Vec<i64>,
}

impl ModelWindow {
    fn fire(&mut self, start: i64, end: i64, out: &mut Vec<Firing>) {
        for (k, rows) in &self.keys {
            if !self.fired || self.changed.contains(k) {
                out.push((*k, start, end, rows.clone()));
            }
        }
        self.fired = true;
        self.changed.clear();
    }
}

/// The model: what must fire, and which rows are late.
pub(super) fn model(
    steps: &[Step],
    a: WindowAssigner,
    lateness: i64,
    keyed: bool,
) -> (Vec<Firing>, Vec<i64>) {
    if let WindowAssigner::Session { gap } = a {
        return model_sessions(steps, gap, lateness, keyed);
    }
    let mut windows: BTreeMap<(i64, i64), ModelWindow> = BTreeMap::new();
    let (mut wm, mut fired, mut late) = (i64::MIN, Vec::new(), Vec::new());
    for step in steps {
        match step {
            Step::Batch(evs) => {
                let mut touched = Vec::new();
                for e in evs {
                    let all = windows_of(a, e.ts);
                    if all.is_empty() {
                        continue; // in no window (hop gaps): ignored, not late
                    }
                    let live: Vec<_> = all
                        .into_iter()
                        .filter(|&(_, en)| !late_window(en, lateness, wm))
                        .collect();
                    if live.is_empty() {
                        late.push(e.id);
                    }
                    let key = if keyed { e.key } else { 0 };
                    for (s, en) in live {
                        let w = windows.entry((en, s)).or_default();
                        match w.keys.iter_mut().find(|(k, _)| *k == key) {
                            Some((_, rows)) => rows.push(e.clone()),
                            None => w.keys.push((key, vec![e.clone()])),
                        }
                        if w.fired && !w.changed.contains(&key) {
                            w.changed.push(key);
                        }
                        if !touched.contains(&(en, s)) {
                            touched.push((en, s));
                        }
                    }
                }
                for (en, s) in touched {
                    if en - 1 <= wm {
                        windows.get_mut(&(en, s)).unwrap().fire(s, en, &mut fired);
                    }
                }
            }
            Step::Wm(w) => {
                wm = *w;
                let keys: Vec<_> = windows.keys().copied().collect();
                for (en, s) in keys {
                    if en - 1 <= wm {
                        let win = windows.get_mut(&(en, s)).unwrap();
                        if !win.fired {
                            win.fire(s, en, &mut fired);
                        }
                        if late_window(en, lateness, wm) {
                            windows.remove(&(en, s));
                        }
                    }
                }
            }
        }
    }
    (fired, late)
}

struct ModelSession {
    start: i64,
    end: i64,
    rows: Vec<Ev>,
    dirty: bool,
}

fn model_sessions(steps: &[Step], gap: i64, lateness: i64, keyed: bool) -> (Vec<Firing>, Vec<i64>) {
    let mut sessions: BTreeMap<i64, Vec<ModelSession>> = BTreeMap::new();
    let (mut wm, mut fired, mut late) = (i64::MIN, Vec::new(), Vec::new());
    for step in steps {
        match step {
            Step::Batch(evs) => {
                let mut touched = Vec::new();
                for e in evs {
                    let key = if keyed { e.key } else { 0 };
                    let list = sessions.entry(key).or_default();
                    let (ws, we) = (e.ts, e.ts + gap);
                    let (mut hit, rest): (Vec<_>, Vec<_>) =
                        list.drain(..).partition(|s| s.start <= we && s.end >= ws);
                    *list = rest;
                    if hit.is_empty() && late_window(we, lateness, wm) {
                        late.push(e.id);
                        continue;
                    }
                    let mut merged = ModelSession {
                        start: ws,
                        end: we,
                        rows: vec![e.clone()],
                        dirty: true,
                    };
                    for s in hit.drain(..) {
                        merged.start = merged.start.min(s.start);
                        merged.end = merged.end.max(s.end);
                        merged.rows.extend(s.rows);
                    }
                    merged.rows.sort_by_key(|r| r.id);
                    list.push(merged);
                    if !touched.contains(&key) {
                        touched.push(key);
                    }
                }
                for key in touched {
                    for s in sessions.get_mut(&key).unwrap() {
                        if s.dirty && s.end - 1 <= wm {
                            fired.push((key, s.start, s.end, s.rows.clone()));
                            s.dirty = false;
                        }
                    }
                }
            }
            Step::Wm(w) => {
                wm = *w;
                for (key, list) in sessions.iter_mut() {
                    for s in list.iter_mut() {
                        if s.dirty && s.end - 1 <= wm {
                            fired.push((*key, s.start, s.end, s.rows.clone()));
                            s.dirty = false;
                        }
                    }
                    list.retain(|s| !late_window(s.end, lateness, wm));
                }
            }
        }
    }
    (fired, late)
}

/// What a run of an operator produced.
pub(super) struct Run {
    pub(super) main: Vec<RecordBatch>,
    pub(super) side: Vec<RecordBatch>,
    pub(super) metrics: OperatorMetrics,
}

/// Drives `op` through `steps`, checking the watermark contract on the way.
pub(super) fn drive(op: &mut dyn Operator, steps: &[Step]) -> Run {
    let mut ctx = OpContext::new(0, 1, 128);
    let mut out = Output::new();
    let mut run = Run {
        main: Vec::new(),
        side: Vec::new(),
        metrics: OperatorMetrics::default(),
    };
    op.open(&mut ctx).unwrap();
    let collect = |out: &mut Output, run: &mut Run, wm: Option<i64>| {
        let items: Vec<OutItem> = out.drain().collect();
        let mut last_end = i64::MIN;
        for (i, item) in items.iter().enumerate() {
            match item {
                OutItem::Batch(0, b) => {
                    if let Some(ends) = b.column_by_name("window_end") {
                        let ends = ends.as_primitive::<TimestampMillisecondType>();
                        let e = ends.value(0);
                        if wm.is_some() {
                            assert!(e >= last_end, "windows fire in order of end");
                            last_end = e;
                        }
                    }
                    run.main.push(b.clone())
                }
                OutItem::Batch(1, b) => run.side.push(b.clone()),
                OutItem::Watermark(w) => {
                    assert_eq!(Some(w.0), wm, "only the watermark given is forwarded");
                    assert_eq!(
                        i,
                        items.len() - 1,
                        "the watermark follows the results it fired"
                    );
                }
                other => panic!("unexpected output {other:?}"),
            }
        }
        if wm.is_some() {
            assert!(
                matches!(items.last(), Some(OutItem::Watermark(_))),
                "watermark forwarded"
            );
        }
    };
    for step in steps {
        match step {
            Step::Batch(evs) => {
                op.on_batch(0, to_batch(evs), &mut ctx, &mut out).unwrap();
                collect(&mut out, &mut run, None);
            }
            Step::Wm(w) => {
                ctx.watermark = Watermark(*w);
                op.on_watermark(Watermark(*w), &mut ctx, &mut out).unwrap();
                collect(&mut out, &mut run, Some(*w));
            }
        }
    }
    op.on_end(&mut ctx, &mut out).unwrap();
    assert!(
        out.is_empty(),
        "nothing is left to fire after Watermark::MAX"
    );
    run.metrics = ctx.metrics.clone();
    run
}

/// Checks late rows: on side output 1 with their original columns, or dropped; counted.
fn check_late(run: &Run, late: &[i64], side_output: bool, what: &str) {
    let mut expected = late.to_vec();
    expected.sort_unstable();
    if side_output {
        let mut got: Vec<i64> = Vec::new();
        for b in &run.side {
            assert_eq!(b.schema(), schema(), "{what}: late rows keep their columns");
            got.extend(b.column(0).as_primitive::<Int64Type>().values().iter());
        }
        got.sort_unstable();
        assert_eq!(got, expected, "{what}: late rows on side output");
        assert_eq!(run.metrics.late_side_output, late.len() as u64, "{what}");
        assert_eq!(run.metrics.late_dropped, 0, "{what}");
    } else {
        assert!(run.side.is_empty(), "{what}: no side output");
        assert_eq!(
            run.metrics.late_dropped,
            late.len() as u64,
            "{what}: late rows counted"
        );
        assert_eq!(run.metrics.late_side_output, 0, "{what}");
    }
}

/// (key, start, end, count, count(v), sum, min, max, avg).
type AggRow = (
    i64,
    i64,
    i64,
    i64,
    i64,
    Option<i64>,
    Option<i64>,
    Option<i64>,
    Option<i64>,
);

fn expected_agg(f: &Firing) -> AggRow {
    let vals: Vec<i64> = f.3.iter().filter_map(|e| e.v).collect();
    let sum = (!vals.is_empty()).then(|| vals.iter().sum::<i64>());
    (
        f.0,
        f.1,
        f.2,
        f.3.len() as i64,
        vals.len() as i64,
        sum,
        vals.iter().copied().min(),
        vals.iter().copied().max(),
        sum.map(|s| s / vals.len() as i64),
    )
}

pub(super) fn i64_col(b: &RecordBatch, name: &str) -> Vec<Option<i64>> {
    let c = b
        .column_by_name(name)
        .unwrap_or_else(|| panic!("column {name}"));
    match c.data_type() {
        DataType::Int64 => c.as_primitive::<Int64Type>().iter().collect(),
        _ => c
            .as_primitive::<TimestampMillisecondType>()
            .iter()
            .collect(),
    }
}

fn agg_rows(run: &Run, keys: &[&str], session: bool) -> Vec<AggRow> {
    let mut rows = Vec::new();
    for b in &run.main {
        let n = b.num_rows();
        let k = if keys.is_empty() {
            vec![Some(0); n]
        } else {
            i64_col(b, "k")
        };
        if keys.contains(&"s") {
            let s = b.column_by_name("s").unwrap().as_string::<i32>();
            for (i, key) in k.iter().enumerate() {
                assert_eq!(s.value(i), format!("s{}", key.unwrap() % 3));
            }
        }
        let [st, en, wt] = ["window_start", "window_end", "window_time"].map(|c| i64_col(b, c));
        if !session {
            assert!(st.iter().all(|x| *x == st[0]), "one window per batch");
        }
        let [c, cnn, sum, mn, mx, avg] =
            ["c", "cnn", "sum", "mn", "mx", "avg"].map(|c| i64_col(b, c));
        for i in 0..n {
            assert_eq!(wt[i].unwrap(), en[i].unwrap() - 1, "window_time = end - 1");
            rows.push((
                k[i].unwrap(),
                st[i].unwrap(),
                en[i].unwrap(),
                c[i].unwrap(),
                cnn[i].unwrap(),
                sum[i],
                mn[i],
                mx[i],
                avg[i],
            ));
        }
    }
    rows.sort_unstable();
    rows
}

pub(super) fn aggs() -> Vec<AggSpec> {
    vec![
        AggSpec::count("c"),
        AggSpec::count_non_null("v", "cnn"),
        AggSpec::sum("v", "sum"),
        AggSpec::min("v", "mn"),
        AggSpec::max("v", "mx"),
        AggSpec::avg("v", "avg"),
    ]
}

pub(super) fn assigners() -> Vec<WindowAssigner> {
    vec![
        WindowAssigner::Tumble {
            size: 10,
            offset: 0,
        },
        WindowAssigner::Tumble { size: 7, offset: 3 },
        WindowAssigner::Hop {
            size: 12,
            slide: 4,
            offset: 0,
        },
        WindowAssigner::Hop {
            size: 10,
            slide: 3,
            offset: 1,
        },
        WindowAssigner::Hop {
            size: 3,
            slide: 5,
            offset: 0,
        },
        WindowAssigner::Cumulate {
            max_size: 12,
            step: 4,
            offset: 0,
        },
        WindowAssigner::Cumulate {
            max_size: 9,
            step: 3,
            offset: 2,
        },
        WindowAssigner::Session { gap: 6 },
    ]
}

/// The configurations of one assigner: keys, lateness, side output.
fn configs() -> Vec<(Vec<&'static str>, i64, bool)> {
    let mut c = Vec::new();
    for keys in [vec!["k"], vec!["k", "s"], vec![]] {
        for (lateness, side) in [(0, false), (0, true), (15, true), (40, false)] {
            c.push((keys.clone(), lateness, side));
        }
    }
    c
}

const SEEDS: u64 = 6;
const EVENTS: usize = 160;

#[test]
fn aggregate_matches_model() {
    let (mut cases, mut fired_total, mut late_total) = (0, 0, 0);
    for a in assigners() {
        for (keys, lateness, side) in configs() {
            for seed in 0..SEEDS {
                let steps = generate(seed * 7919 + lateness as u64, EVENTS);
                let spec = WindowSpec {
                    allowed_lateness: lateness,
                    late_side_output: side,
                    ..WindowSpec::new(a)
                };
                let key_names = keys.iter().map(|k| k.to_string()).collect();
                let mut op =
                    WindowAggregate::new(key_names, Some("ts".into()), spec, aggs()).unwrap();
                let run = drive(&mut op, &steps);
                let (fired, late) = model(&steps, a, lateness, !keys.is_empty());
                let what = format!("{a:?} keys {keys:?} lateness {lateness} seed {seed}");
                assert_eq!(
                    (op.open_windows(), op.retained_batches()),
                    (0, 0),
                    "{what}: state left"
                );
                check_late(&run, &late, side, &what);
                let mut expected: Vec<AggRow> = fired.iter().map(expected_agg).collect();
                expected.sort_unstable();
                let got = agg_rows(&run, &keys, matches!(a, WindowAssigner::Session { .. }));
                assert_eq!(got, expected, "{what}");
                cases += 1;
                fired_total += expected.len();
                late_total += late.len();
            }
        }
    }
    // The inputs must exercise what they claim to.
    assert!(
        fired_total > cases * 10 && late_total > cases,
        "{fired_total} results, {late_total} late"
    );
}

/// A process function that reports its call: key, window and the row ids in order.
pub(super) fn report_fn(keyed: bool) -> WindowFn {
    let out_schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("start", DataType::Int64, false),
        Field::new("end", DataType::Int64, false),
        Field::new("ids", DataType::Utf8, false),
    ]));
    Arc::new(move |w: &WindowInfo, rows: &RecordBatch| {
        let keys = rows.column(2).as_primitive::<Int64Type>();
        let key = if keyed { keys.value(0) } else { 0 };
        if keyed && keys.iter().any(|k| k != Some(key)) {
            return Err(crate::Error::User(
                "rows of several keys in one call".into(),
            ));
        }
        assert_eq!(
            rows.schema(),
            schema(),
            "the function sees the input columns"
        );
        let ids: Vec<String> = rows
            .column(0)
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .map(|i| i.to_string())
            .collect();
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![key])),
            Arc::new(Int64Array::from(vec![w.start])),
            Arc::new(Int64Array::from(vec![w.end])),
            Arc::new(StringArray::from(vec![ids.join(",")])),
        ];
        Ok(Some(RecordBatch::try_new(out_schema.clone(), cols)?))
    })
}

pub(super) fn process_rows(run: &Run) -> Vec<(i64, i64, i64, String)> {
    let mut rows = Vec::new();
    for b in &run.main {
        let k = b.column(0).as_primitive::<Int64Type>();
        let s = b.column(1).as_primitive::<Int64Type>();
        let e = b.column(2).as_primitive::<Int64Type>();
        let ids = b.column(3).as_string::<i32>();
        for i in 0..b.num_rows() {
            rows.push((k.value(i), s.value(i), e.value(i), ids.value(i).to_string()));
        }
    }
    rows.sort();
    rows
}

#[test]
fn process_matches_model() {
    let mut fired_total = 0;
    for a in assigners() {
        for (keys, lateness, side) in configs() {
            if keys.len() == 2 {
                continue;
            }
            for seed in 0..SEEDS {
                let steps = generate(seed * 104_729 + 3, EVENTS);
                let spec = WindowSpec {
                    allowed_lateness: lateness,
                    late_side_output: side,
                    ..WindowSpec::new(a)
                };
                let key_names = keys.iter().map(|k| k.to_string()).collect();
                let mut op = WindowProcess::new(
                    key_names,
                    Some("ts".into()),
                    spec,
                    report_fn(!keys.is_empty()),
                )
                .unwrap();
                let run = drive(&mut op, &steps);
                let (fired, late) = model(&steps, a, lateness, !keys.is_empty());
                let what = format!("process {a:?} keys {keys:?} lateness {lateness} seed {seed}");
                assert_eq!(op.retained_batches(), 0, "{what}: rows left");
                check_late(&run, &late, side, &what);
                let mut expected: Vec<(i64, i64, i64, String)> = fired
                    .iter()
                    .map(|f| {
                        let ids: Vec<String> = f.3.iter().map(|e| e.id.to_string()).collect();
                        (f.0, f.1, f.2, ids.join(","))
                    })
                    .collect();
                expected.sort();
                assert_eq!(process_rows(&run), expected, "{what}");
                fired_total += expected.len();
            }
        }
    }
    assert!(fired_total > 1000, "{fired_total}");
}

#[test]
fn model_sees_refires_and_lateness() {
    // Guard against inputs too tame to test re-firing and lateness: over the seeds the
    // differential tests use, windows must re-fire and lateness must accept late rows.
    let (mut refires, mut late0, mut late40) = (0, 0, 0);
    for a in assigners() {
        for seed in 0..SEEDS {
            let steps = generate(seed * 7919 + 40, EVENTS);
            let (fired, late) = model(&steps, a, 40, true);
            let mut seen = std::collections::HashSet::new();
            refires += fired
                .iter()
                .filter(|f| !seen.insert((f.0, f.1, f.2)))
                .count();
            late40 += late.len();
            late0 += model(&steps, a, 0, true).1.len();
        }
    }
    eprintln!("refires {refires}, late rows without lateness {late0}, with 40 ms {late40}");
    assert!(refires > 20, "{refires} re-fires");
    assert!(
        late0 > late40 && late40 > 0,
        "late rows: {late0} without lateness, {late40} with"
    );
}
