//! Differential tests of `DISTINCT` aggregates and of `COUNT(*)` without keys in
//! [`WindowAggregate`]: the model of `oracle.rs` says which rows each firing holds; the
//! expected results are computed from those rows.

use std::collections::BTreeSet;

use arrow::record_batch::RecordBatch;

use super::oracle::{assigners, drive, generate, i64_col, model, Firing, Step};
use super::{AggSpec, WindowAggregate};
use crate::window::WindowSpec;

/// The oracle's inputs with values folded into `0..7`, so that windows repeat values.
fn small_values(steps: Vec<Step>) -> Vec<Step> {
    steps
        .into_iter()
        .map(|s| match s {
            Step::Batch(mut evs) => {
                for e in &mut evs {
                    e.v = e.v.map(|v| v.rem_euclid(7));
                }
                Step::Batch(evs)
            }
            other => other,
        })
        .collect()
}

/// Key, start, end, then the results of [`distinct_aggs`].
type Row = (i64, i64, i64, Vec<Option<i64>>);

fn distinct_aggs() -> Vec<AggSpec> {
    vec![
        AggSpec::count_non_null("v", "cd").distinct(),
        AggSpec::sum("v", "sd").distinct(),
        AggSpec::avg("v", "ad").distinct(),
        AggSpec::sum("v", "sv"),
        AggSpec::count_non_null("s", "cs").distinct(),
        AggSpec::count("c"),
    ]
}

fn expected(f: &Firing) -> Row {
    let all: Vec<i64> = f.3.iter().filter_map(|e| e.v).collect();
    let set: BTreeSet<i64> = all.iter().copied().collect();
    let strings: BTreeSet<i64> = f.3.iter().map(|e| e.key % 3).collect();
    let sum = |v: &[i64]| (!v.is_empty()).then(|| v.iter().sum::<i64>());
    let distinct: Vec<i64> = set.into_iter().collect();
    let sd = sum(&distinct);
    (
        f.0,
        f.1,
        f.2,
        vec![
            Some(distinct.len() as i64),
            sd,
            sd.map(|s| s / distinct.len() as i64),
            sum(&all),
            Some(strings.len() as i64),
            Some(f.3.len() as i64),
        ],
    )
}

fn rows(batches: &[RecordBatch], keyed: bool, outputs: &[&str]) -> Vec<Row> {
    let mut out = Vec::new();
    for b in batches {
        let n = b.num_rows();
        let k = if keyed {
            i64_col(b, "k")
        } else {
            vec![Some(0); n]
        };
        let (st, en) = (i64_col(b, "window_start"), i64_col(b, "window_end"));
        let cols: Vec<Vec<Option<i64>>> = outputs.iter().map(|o| i64_col(b, o)).collect();
        for i in 0..n {
            let vals = cols.iter().map(|c| c[i]).collect();
            out.push((k[i].unwrap(), st[i].unwrap(), en[i].unwrap(), vals));
        }
    }
    out.sort();
    out
}

#[test]
fn distinct_aggregates_match_model() {
    let mut results = 0;
    for a in assigners() {
        for keyed in [true, false] {
            for lateness in [0, 15] {
                for seed in 0..3u64 {
                    let steps = small_values(generate(seed * 13 + lateness as u64, 160));
                    let keys = if keyed { vec!["k".to_string()] } else { vec![] };
                    let spec = WindowSpec {
                        allowed_lateness: lateness,
                        ..WindowSpec::new(a)
                    };
                    let mut op =
                        WindowAggregate::new(keys, Some("ts".into()), spec, distinct_aggs())
                            .unwrap();
                    let run = drive(&mut op, &steps);
                    let (fired, _) = model(&steps, a, lateness, keyed);
                    let mut want: Vec<Row> = fired.iter().map(expected).collect();
                    want.sort();
                    let got = rows(&run.main, keyed, &["cd", "sd", "ad", "sv", "cs", "c"]);
                    assert_eq!(
                        got, want,
                        "{a:?} keyed {keyed} lateness {lateness} seed {seed}"
                    );
                    results += want.len();
                }
            }
        }
    }
    assert!(results > 3000, "{results} results");
}

/// `COUNT(*)` alone without keys reads no column at all: the rows are still counted (they
/// were not, once: the row count came from the first column read).
#[test]
fn count_star_alone_without_keys_counts_rows() {
    for a in assigners() {
        let steps = generate(5, 120);
        let mut op = WindowAggregate::new(
            vec![],
            Some("ts".into()),
            WindowSpec::new(a),
            vec![AggSpec::count("c")],
        )
        .unwrap();
        let run = drive(&mut op, &steps);
        let (fired, _) = model(&steps, a, 0, false);
        let mut want: Vec<Row> = fired
            .iter()
            .map(|f| (0, f.1, f.2, vec![Some(f.3.len() as i64)]))
            .collect();
        want.sort();
        assert!(!want.is_empty());
        assert_eq!(rows(&run.main, false, &["c"]), want, "{a:?}");
    }
}
