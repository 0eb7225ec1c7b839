use std::collections::BTreeMap;

use arrow::array::{AsArray, Int64Array, StringArray};
use arrow::datatypes::Int64Type;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Deserialize;

use super::*;
use crate::operator::OutItem;

fn batches(out: &Output) -> Vec<RecordBatch> {
    out.items()
        .iter()
        .filter_map(|i| match i {
            OutItem::Batch(0, b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct WordCount {
    word: String,
    count: i64,
}

fn wc(word: &str, count: i64) -> WordCount {
    WordCount {
        word: word.into(),
        count,
    }
}

#[test]
fn keyed_reduce_emits_rolling_values() {
    let mut op = KeyedReduce::new(vec!["word".into()], |a: WordCount, b: WordCount| {
        Ok(WordCount {
            word: a.word,
            count: a.count + b.count,
        })
    })
    .unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    op.open(&mut ctx).unwrap();
    let schema = RecordSchema::<WordCount>::of().unwrap();
    let mut out = Output::new();
    let b1 = to_batch(&schema, &[wc("a", 1), wc("b", 1), wc("a", 1)]).unwrap();
    let b2 = to_batch(&schema, &[wc("b", 1), wc("a", 5)]).unwrap();
    op.on_batch(0, b1, &mut ctx, &mut out).unwrap();
    op.on_batch(0, b2, &mut ctx, &mut out).unwrap();
    let rows: Vec<WordCount> = batches(&out)
        .iter()
        .flat_map(|b| from_batch::<WordCount>(b).unwrap())
        .collect();
    assert_eq!(
        rows,
        vec![wc("a", 1), wc("b", 1), wc("a", 2), wc("b", 2), wc("a", 7)]
    );
    assert_eq!(op.state_backend().unwrap().num_entries(), 2);
    assert_eq!(op.output_schema().field(1).name(), "count");
}

#[test]
fn keyed_reduce_propagates_user_errors() {
    let mut op = KeyedReduce::new(vec!["word".into()], |_: WordCount, _: WordCount| {
        Err(Error::User("nope".into()))
    })
    .unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let schema = RecordSchema::<WordCount>::of().unwrap();
    let b = to_batch(&schema, &[wc("a", 1), wc("a", 1)]).unwrap();
    let e = op.on_batch(0, b, &mut ctx, &mut Output::new()).unwrap_err();
    assert!(matches!(e, Error::User(_)));
    assert!(KeyedReduce::new(vec![], |a: WordCount, _| Ok(a)).is_err());
}

/// Oracle value of one aggregate over a key's values (in arrival order).
#[derive(Debug, Default, Clone)]
struct Oracle {
    rows: i64,
    values: Vec<i64>,
}

#[test]
fn keyed_aggregate_matches_oracle() {
    let kinds = [
        (AggKind::Count, None, "cnt"),
        (AggKind::CountNonNull, Some("v"), "cnt_v"),
        (AggKind::Sum, Some("v"), "sum"),
        (AggKind::Min, Some("v"), "min"),
        (AggKind::Max, Some("v"), "max"),
        (AggKind::Avg, Some("v"), "avg"),
        (AggKind::First, Some("v"), "first"),
        (AggKind::Last, Some("v"), "last"),
    ];
    for seed in 0..5u64 {
        let mut rng = StdRng::seed_from_u64(seed);
        let aggs = kinds
            .iter()
            .map(|(k, c, n)| (*k, c.map(String::from), n.to_string()))
            .collect();
        let mut op = KeyedAggregate::new(vec!["k".into(), "s".into()], aggs).unwrap();
        let mut ctx = OpContext::new(0, 1, 128);
        let mut oracle: BTreeMap<(i64, String), Oracle> = BTreeMap::new();
        for _ in 0..40 {
            let n = rng.random_range(1..60);
            let k: Vec<i64> = (0..n).map(|_| rng.random_range(0..12)).collect();
            let s: Vec<String> = (0..n)
                .map(|_| ["x", "y"][rng.random_range(0..2)].to_string())
                .collect();
            let v: Vec<Option<i64>> = (0..n)
                .map(|_| rng.random_bool(0.8).then(|| rng.random_range(-100..100)))
                .collect();
            let batch = RecordBatch::try_from_iter([
                ("k", Arc::new(Int64Array::from(k.clone())) as ArrayRef),
                ("s", Arc::new(StringArray::from(s.clone())) as ArrayRef),
                ("v", Arc::new(Int64Array::from(v.clone())) as ArrayRef),
            ])
            .unwrap();
            for i in 0..n {
                let o = oracle.entry((k[i], s[i].clone())).or_default();
                o.rows += 1;
                o.values.extend(v[i]);
            }
            let mut out = Output::new();
            op.on_batch(0, batch, &mut ctx, &mut out).unwrap();
            let got = batches(&out);
            assert_eq!(got.len(), 1);
            let got = &got[0];
            let distinct: std::collections::BTreeSet<_> = k.iter().zip(&s).collect();
            assert_eq!(got.num_rows(), distinct.len(), "one row per touched key");
            let col = |name: &str| {
                got.column_by_name(name)
                    .unwrap()
                    .as_primitive::<Int64Type>()
                    .clone()
            };
            let keys = got.column(0).as_primitive::<Int64Type>();
            let strs = got.column(1).as_string::<i32>();
            for r in 0..got.num_rows() {
                let o = &oracle[&(keys.value(r), strs.value(r).to_string())];
                let opt = |name: &str| {
                    let c = col(name);
                    c.is_valid(r).then(|| c.value(r))
                };
                let vals = &o.values;
                assert_eq!(opt("cnt"), Some(o.rows));
                assert_eq!(opt("cnt_v"), Some(vals.len() as i64));
                assert_eq!(
                    opt("sum"),
                    (!vals.is_empty()).then(|| vals.iter().sum::<i64>())
                );
                assert_eq!(opt("min"), vals.iter().min().copied());
                assert_eq!(opt("max"), vals.iter().max().copied());
                assert_eq!(
                    opt("avg"),
                    (!vals.is_empty()).then(|| vals.iter().sum::<i64>() / vals.len() as i64)
                );
                assert_eq!(opt("first"), vals.first().copied());
                assert_eq!(opt("last"), vals.last().copied());
            }
        }
        assert_eq!(op.num_groups(), oracle.len());
        assert!(
            op.state_rows() <= 2 * oracle.len(),
            "compaction bounds dead state"
        );
    }
}

#[test]
fn keyed_aggregate_rejects_missing_inputs() {
    assert!(KeyedAggregate::new(vec![], vec![]).is_err());
    assert!(KeyedAggregate::new(vec!["k".into()], vec![(AggKind::Sum, None, "s".into())]).is_err());
    let mut op = KeyedAggregate::new(
        vec!["nope".into()],
        vec![(AggKind::Count, None, "c".into())],
    )
    .unwrap();
    let batch =
        RecordBatch::try_from_iter([("k", Arc::new(Int64Array::from(vec![1])) as ArrayRef)])
            .unwrap();
    let e = op
        .on_batch(0, batch, &mut OpContext::new(0, 1, 128), &mut Output::new())
        .unwrap_err();
    assert!(e.to_string().contains("unknown column 'nope'"), "{e}");
}

// ---- checkpoint / restore ----

use crate::checkpoint::testing::{restore_equivalence, run_steps, Step};
use crate::operator::process::tests::recovery::{backend, kinds, rows_by_key, run_rescaled, MAX_P};
use crate::state::StateBackendKind;

/// Random batches of word counts (random sizes: random batch boundaries), with watermarks
/// in between (which these operators pass through).
fn word_steps(seed: u64) -> Vec<Step> {
    let mut rng = StdRng::seed_from_u64(seed);
    let schema = RecordSchema::<WordCount>::of().unwrap();
    let mut steps = Vec::new();
    for i in 0..rng.random_range(5..10) {
        let rows: Vec<WordCount> = (0..rng.random_range(1..12))
            .map(|_| {
                wc(
                    &format!("w{}", rng.random_range(0..9)),
                    rng.random_range(1..5),
                )
            })
            .collect();
        steps.push(Step::Batch(0, to_batch(&schema, &rows).unwrap()));
        if rng.random_bool(0.3) {
            steps.push(Step::Watermark(i));
        }
    }
    steps.push(Step::End);
    steps
}

fn make_reduce(kind: &StateBackendKind, subtask: usize, p: usize) -> Result<Box<dyn Operator>> {
    let op = KeyedReduce::new(vec!["word".into()], |a: WordCount, b: WordCount| {
        Ok(WordCount {
            word: a.word,
            count: a.count + b.count,
        })
    })?
    .with_state_backend(backend(kind, subtask, p)?);
    Ok(Box::new(op))
}

fn make_aggregate() -> Result<Box<dyn Operator>> {
    Ok(Box::new(KeyedAggregate::new(
        vec!["word".into()],
        vec![
            (AggKind::Count, None, "n".into()),
            (AggKind::Sum, Some("count".into()), "sum".into()),
            (AggKind::Min, Some("count".into()), "min".into()),
            (AggKind::Avg, Some("count".into()), "avg".into()),
            (AggKind::First, Some("count".into()), "first".into()),
            (AggKind::Last, Some("count".into()), "last".into()),
        ],
    )?))
}

/// Per-key output of an uninterrupted single-subtask run.
fn uninterrupted(
    op: &mut dyn Operator,
    steps: &[Step],
) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut ctx = OpContext::new(0, 1, MAX_P);
    op.open(&mut ctx).unwrap();
    rows_by_key(&run_steps(op, &mut ctx, steps).unwrap(), "word")
}

#[test]
fn keyed_reduce_restore_equivalence_at_every_cut() {
    let dir = tempfile::tempdir().unwrap();
    for kind in kinds(&dir) {
        for seed in 0..3 {
            let steps = word_steps(seed);
            let make = || make_reduce(&kind, 0, 1);
            for cut in 0..=steps.len() {
                restore_equivalence(&make, &steps, cut, 1, MAX_P)
                    .unwrap_or_else(|e| panic!("{kind:?} seed {seed} cut {cut}: {e}"));
            }
        }
    }
}

#[test]
fn keyed_reduce_rescales() {
    let dir = tempfile::tempdir().unwrap();
    for kind in kinds(&dir) {
        for seed in 20..23 {
            let steps = word_steps(seed);
            let expected = uninterrupted(make_reduce(&kind, 0, 1).unwrap().as_mut(), &steps);
            let make = |s: usize, p: usize| make_reduce(&kind, s, p);
            for cut in [0, 1, steps.len() / 2, steps.len() - 1] {
                for p_to in [1, 4] {
                    let got = run_rescaled(&make, &steps, "word", cut, 2, p_to).unwrap();
                    assert_eq!(
                        rows_by_key(&got, "word"),
                        expected,
                        "{kind:?} seed {seed} cut {cut}: 2 -> {p_to}"
                    );
                }
            }
        }
    }
}

#[test]
fn keyed_reduce_switches_backends_between_runs() {
    let dir = tempfile::tempdir().unwrap();
    let [memory, rocks] = <[StateBackendKind; 2]>::try_from(kinds(&dir)).unwrap();
    let steps = word_steps(5);
    let cut = steps.len() / 2;
    let expected = uninterrupted(make_reduce(&memory, 0, 1).unwrap().as_mut(), &steps);
    for (from, to) in [(&memory, &rocks), (&rocks, &memory)] {
        let make = |s: usize, p: usize| {
            // Subtasks of the first run (p = 2) use `from`, those of the second `to`.
            make_reduce(if p == 2 { from } else { to }, s, p)
        };
        let got = run_rescaled(&make, &steps, "word", cut, 2, 3).unwrap();
        assert_eq!(rows_by_key(&got, "word"), expected, "{from:?} -> {to:?}");
    }
}

#[test]
fn keyed_aggregate_restore_equivalence_at_every_cut() {
    for seed in 0..4 {
        let steps = word_steps(seed);
        for cut in 0..=steps.len() {
            restore_equivalence(&make_aggregate, &steps, cut, 1, MAX_P)
                .unwrap_or_else(|e| panic!("seed {seed} cut {cut}: {e}"));
        }
    }
}

#[test]
fn keyed_aggregate_rescales() {
    for seed in 30..34 {
        let steps = word_steps(seed);
        let expected = uninterrupted(make_aggregate().unwrap().as_mut(), &steps);
        let make = |_: usize, _: usize| make_aggregate();
        for cut in [0, 1, steps.len() / 2, steps.len() - 1] {
            for p_to in [1, 4] {
                let got = run_rescaled(&make, &steps, "word", cut, 2, p_to).unwrap();
                assert_eq!(
                    rows_by_key(&got, "word"),
                    expected,
                    "seed {seed} cut {cut}: 2 -> {p_to}"
                );
            }
        }
    }
}

#[test]
fn keyed_aggregate_snapshot_before_any_input_after_restore_keeps_state() {
    // Restore, then snapshot again before a batch binds the schema: nothing is lost.
    let steps = word_steps(9);
    let cut = steps.len() / 2;
    let mut a = make_aggregate().unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    run_steps(a.as_mut(), &mut ctx, &steps[..cut]).unwrap();
    let first = a.snapshot(1, &mut ctx).unwrap();
    let mut b = make_aggregate().unwrap();
    b.restore(first.clone(), &mut ctx).unwrap();
    let second = b.snapshot(2, &mut ctx).unwrap();
    let rows = |s: &OperatorState| s.table(GROUP_STATE).map_or(0, |t| t.num_rows());
    assert_eq!(rows(&second), rows(&first));
    assert!(rows(&first) > 0);
}
