//! Known answers, and every accumulator against a scalar oracle.

use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::*;
use proptest::prelude::*;

use super::*;

/// A scalar, for comparing accumulator output with the oracle.
#[derive(Clone, Debug)]
enum V {
    I(i64),
    U(u64),
    F(f64),
    S(String),
}

impl PartialEq for V {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (V::I(a), V::I(b)) => a == b,
            (V::U(a), V::U(b)) => a == b,
            // NaN payloads may differ with the order of additions
            (V::F(a), V::F(b)) => a.to_bits() == b.to_bits() || (a.is_nan() && b.is_nan()),
            (V::S(a), V::S(b)) => a == b,
            _ => false,
        }
    }
}

/// The input types the oracle tests run over.
fn input_types() -> Vec<DataType> {
    vec![
        DataType::Int32,
        DataType::Int64,
        DataType::UInt64,
        DataType::Float64,
        DataType::Utf8,
        DataType::Utf8View,
        DataType::Timestamp(TimeUnit::Millisecond, Some("+01:00".into())),
    ]
}

/// Maps a generated `i64` to the scalar of `data_type` it stands for.
fn scalar(data_type: &DataType, v: i64) -> V {
    match data_type {
        DataType::Int32 => V::I(v as i32 as i64),
        DataType::UInt64 => V::U(v as u64),
        DataType::Float64 => V::F(match v {
            13 => f64::NAN,
            -13 => -0.0,
            v => v as f64 / 4.0,
        }),
        DataType::Utf8 | DataType::Utf8View => V::S(format!("s{v}")),
        _ => V::I(v),
    }
}

fn array(data_type: &DataType, values: &[Option<V>]) -> ArrayRef {
    let ints = || {
        values.iter().map(|v| {
            v.as_ref().map(|v| match v {
                V::I(i) => *i,
                _ => unreachable!(),
            })
        })
    };
    let strs = || {
        values.iter().map(|v| {
            v.as_ref().map(|v| match v {
                V::S(s) => s.clone(),
                _ => unreachable!(),
            })
        })
    };
    match data_type {
        DataType::Int32 => Arc::new(ints().map(|v| v.map(|v| v as i32)).collect::<Int32Array>()),
        DataType::Int64 => Arc::new(ints().collect::<Int64Array>()),
        DataType::UInt64 => Arc::new(
            values
                .iter()
                .map(|v| {
                    v.as_ref()
                        .map(|v| if let V::U(u) = v { *u } else { unreachable!() })
                })
                .collect::<UInt64Array>(),
        ),
        DataType::Float64 => Arc::new(
            values
                .iter()
                .map(|v| {
                    v.as_ref()
                        .map(|v| if let V::F(f) = v { *f } else { unreachable!() })
                })
                .collect::<Float64Array>(),
        ),
        DataType::Utf8 => Arc::new(strs().collect::<StringArray>()),
        DataType::Utf8View => Arc::new(strs().collect::<StringViewArray>()),
        DataType::Timestamp(TimeUnit::Millisecond, tz) => Arc::new(
            ints()
                .collect::<TimestampMillisecondArray>()
                .with_timezone_opt(tz.clone()),
        ),
        other => unreachable!("{other}"),
    }
}

fn scalars(array: &ArrayRef) -> Vec<Option<V>> {
    (0..array.len())
        .map(|i| {
            array.is_valid(i).then(|| match array.data_type() {
                DataType::Int32 => V::I(array.as_primitive::<Int32Type>().value(i) as i64),
                DataType::Int64 => V::I(array.as_primitive::<Int64Type>().value(i)),
                DataType::UInt64 => V::U(array.as_primitive::<UInt64Type>().value(i)),
                DataType::Float64 => V::F(array.as_primitive::<Float64Type>().value(i)),
                DataType::Utf8 => V::S(array.as_string::<i32>().value(i).to_string()),
                DataType::Utf8View => V::S(array.as_string_view().value(i).to_string()),
                DataType::Timestamp(TimeUnit::Millisecond, _) => {
                    V::I(array.as_primitive::<TimestampMillisecondType>().value(i))
                }
                other => unreachable!("{other}"),
            })
        })
        .collect()
}

/// One input row: group id, value, filter.
type Row = (u32, Option<V>, Option<bool>);

/// What `kind` gives for one group's rows, computed the slow, obvious way.
fn oracle(kind: AggKind, data_type: &DataType, rows: &[&Row]) -> Option<V> {
    let counted: Vec<&&Row> = rows.iter().filter(|r| r.2 == Some(true)).collect();
    let values: Vec<V> = counted.iter().filter_map(|r| r.1.clone()).collect();
    let sum = || {
        values.iter().fold(None, |acc: Option<V>, v| {
            Some(match (acc, v) {
                (None, V::I(b)) => V::I(*b),
                (None, V::U(b)) => V::U(*b),
                (None, V::F(b)) => V::F(0.0 + *b),
                (Some(V::I(a)), V::I(b)) => V::I(a.wrapping_add(*b)),
                (Some(V::U(a)), V::U(b)) => V::U(a.wrapping_add(*b)),
                (Some(V::F(a)), V::F(b)) => V::F(a + b),
                _ => unreachable!(),
            })
        })
    };
    let cmp = |a: &V, b: &V| match (a, b) {
        (V::I(a), V::I(b)) => a.cmp(b),
        (V::U(a), V::U(b)) => a.cmp(b),
        (V::F(a), V::F(b)) => a.total_cmp(b),
        (V::S(a), V::S(b)) => a.cmp(b),
        _ => unreachable!(),
    };
    let n = values.len() as i64;
    match kind {
        AggKind::Count => Some(V::I(counted.len() as i64)),
        AggKind::CountNonNull => Some(V::I(n)),
        AggKind::Sum => sum(),
        AggKind::Min => values.iter().min_by(|a, b| cmp(a, b)).cloned(),
        // max_by returns the last of equals, min_by the first: same value either way
        AggKind::Max => values.iter().max_by(|a, b| cmp(a, b)).cloned(),
        AggKind::First => values.first().cloned(),
        AggKind::Last => values.last().cloned(),
        AggKind::Avg => sum().map(|s| match (s, data_type) {
            (V::I(s), DataType::Int32) => V::I((s / n) as i32 as i64),
            (V::I(s), _) => V::I(s / n),
            (V::U(s), _) => V::U(s / n as u64),
            (V::F(s), _) => V::F(s / n as f64),
            (V::S(_), _) => unreachable!(),
        }),
    }
}

fn oracle_all(
    kind: AggKind,
    data_type: &DataType,
    rows: &[Row],
    num_groups: usize,
) -> Vec<Option<V>> {
    (0..num_groups as u32)
        .map(|g| {
            let group: Vec<&Row> = rows.iter().filter(|r| r.0 == g).collect();
            oracle(kind, data_type, &group)
        })
        .collect()
}

/// Feeds `rows` to `acc` in batches cut at `cuts`, with or without a filter.
fn feed(
    acc: &mut dyn GroupsAccumulator,
    data_type: &DataType,
    rows: &[Row],
    cuts: &[usize],
    filter: bool,
) {
    let mut points: Vec<usize> = cuts.iter().map(|c| c % (rows.len() + 1)).collect();
    points.extend([0, rows.len()]);
    points.sort_unstable();
    points.dedup();
    let mut total = 0;
    for w in points.windows(2) {
        let batch = &rows[w[0]..w[1]];
        let values: Vec<Option<V>> = batch.iter().map(|r| r.1.clone()).collect();
        let ids: Vec<u32> = batch.iter().map(|r| r.0).collect();
        let filter_array: BooleanArray = batch.iter().map(|r| r.2).collect();
        total = total.max(ids.iter().map(|&g| g as usize + 1).max().unwrap_or(0));
        acc.update_batch(
            Some(&array(data_type, &values)),
            &ids,
            filter.then_some(&filter_array),
            total,
        )
        .unwrap();
    }
}

const KINDS: [AggKind; 8] = [
    AggKind::Count,
    AggKind::CountNonNull,
    AggKind::Sum,
    AggKind::Min,
    AggKind::Max,
    AggKind::Avg,
    AggKind::First,
    AggKind::Last,
];

fn row() -> impl Strategy<Value = (u32, Option<i64>, Option<bool>)> {
    (
        0u32..6,
        proptest::option::weighted(
            0.8,
            prop_oneof![8 => -20i64..20, 1 => Just(i64::MAX), 1 => Just(i64::MIN)],
        ),
        proptest::option::weighted(0.9, proptest::bool::weighted(0.8)),
    )
}

/// Every kind over every input type: direct updates, `merge(state())`, and
/// a two-phase split, all equal the oracle.
fn check_accumulators(
    raw: &[(u32, Option<i64>, Option<bool>)],
    cuts: &[usize],
    filter: bool,
    split: usize,
) -> Result<(), TestCaseError> {
    for data_type in input_types() {
        let mut rows: Vec<Row> = raw
            .iter()
            .map(|(g, v, f)| (*g, v.map(|v| scalar(&data_type, v)), *f))
            .collect();
        if !filter {
            rows.iter_mut().for_each(|r| r.2 = Some(true));
        }
        let num_groups = rows.iter().map(|r| r.0 as usize + 1).max().unwrap_or(0);
        for kind in KINDS {
            let Ok(out_type) = output_type(kind, Some(&data_type)) else {
                continue; // e.g. SUM(Utf8)
            };
            let expected = oracle_all(kind, &data_type, &rows, num_groups);
            let ctx = format!("{kind:?}({data_type})");

            let mut acc = create_accumulator(kind, Some(&data_type)).unwrap();
            feed(acc.as_mut(), &data_type, &rows, cuts, filter);
            let out = acc.evaluate().unwrap();
            prop_assert_eq!(out.data_type(), &out_type, "{}", ctx);
            prop_assert_eq!(&scalars(&out), &expected, "{} direct", ctx);
            prop_assert!(acc.evaluate().unwrap().is_empty(), "{} reset", ctx);

            // merge(state()) into a fresh accumulator
            feed(acc.as_mut(), &data_type, &rows, cuts, filter);
            let state = acc.state().unwrap();
            let types: Vec<DataType> = state.iter().map(|s| s.data_type().clone()).collect();
            prop_assert_eq!(
                types,
                state_types(kind, Some(&data_type)).unwrap(),
                "{}",
                ctx
            );
            let ids: Vec<u32> = (0..num_groups as u32).collect();
            let mut merged = create_accumulator(kind, Some(&data_type)).unwrap();
            merged.merge_batch(&state, &ids, num_groups).unwrap();
            prop_assert_eq!(
                &scalars(&merged.evaluate().unwrap()),
                &expected,
                "{} merged",
                ctx
            );

            // two phases: each half's state merged, in arrival order
            let at = split % (rows.len() + 1);
            let mut total = create_accumulator(kind, Some(&data_type)).unwrap();
            for half in [&rows[..at], &rows[at..]] {
                let mut partial = create_accumulator(kind, Some(&data_type)).unwrap();
                feed(partial.as_mut(), &data_type, half, &[], filter);
                let state = partial.state().unwrap();
                let n = state[0].len();
                total.merge_batch(&state, &ids[..n], num_groups).unwrap();
            }
            let two_phase = scalars(&total.evaluate().unwrap());
            // float sums may round differently when regrouped
            if !(data_type == DataType::Float64 && matches!(kind, AggKind::Sum | AggKind::Avg)) {
                prop_assert_eq!(two_phase, expected, "{} two-phase", ctx);
            }
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn accumulators_match_oracle(
        raw in proptest::collection::vec(row(), 0..80),
        cuts in proptest::collection::vec(any::<usize>(), 0..4),
        filter in any::<bool>(),
        split in any::<usize>(),
    ) {
        check_accumulators(&raw, &cuts, filter, split)?;
    }
}

#[test]
fn types() {
    let ts = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    assert_eq!(output_type(AggKind::Count, None).unwrap(), DataType::Int64);
    assert_eq!(
        output_type(AggKind::Sum, Some(&DataType::Int8)).unwrap(),
        DataType::Int64
    );
    assert_eq!(
        output_type(AggKind::Sum, Some(&DataType::UInt16)).unwrap(),
        DataType::UInt64
    );
    assert_eq!(
        output_type(AggKind::Sum, Some(&DataType::Float32)).unwrap(),
        DataType::Float64
    );
    assert_eq!(
        output_type(AggKind::Avg, Some(&DataType::Int16)).unwrap(),
        DataType::Int16
    );
    assert_eq!(
        output_type(AggKind::Avg, Some(&DataType::Float32)).unwrap(),
        DataType::Float64
    );
    assert_eq!(output_type(AggKind::Max, Some(&ts)).unwrap(), ts);
    assert_eq!(
        output_type(AggKind::Min, Some(&DataType::Utf8)).unwrap(),
        DataType::Utf8
    );
    assert!(matches!(
        output_type(AggKind::Sum, Some(&DataType::Utf8)),
        Err(KernelError::UnsupportedType { kernel: "SUM", .. })
    ));
    assert!(output_type(AggKind::Sum, None).is_err());
    assert!(output_type(AggKind::CountNonNull, None).is_err());
    assert!(create_accumulator(AggKind::Min, Some(&DataType::Boolean)).is_err());
    assert_eq!(
        state_types(AggKind::Avg, Some(&DataType::Int32)).unwrap(),
        vec![DataType::Int64, DataType::Int64]
    );
}

#[test]
fn avg_truncates_like_java() {
    let mut avg = create_accumulator(AggKind::Avg, Some(&DataType::Int32)).unwrap();
    let values: ArrayRef = Arc::new(Int32Array::from(vec![-7, 0, 7, 0, 1, 2, 2]));
    avg.update_batch(Some(&values), &[0, 0, 1, 1, 2, 2, 2], None, 4)
        .unwrap();
    let out = avg.evaluate().unwrap();
    // -7/2 = -3 (toward zero), 7/2 = 3, 5/3 = 1, no values: null
    assert_eq!(
        out.as_primitive::<Int32Type>(),
        &Int32Array::from(vec![Some(-3), Some(3), Some(1), None])
    );
}

#[test]
fn sum_wraps_like_java_long() {
    let mut sum = create_accumulator(AggKind::Sum, Some(&DataType::Int64)).unwrap();
    let values: ArrayRef = Arc::new(Int64Array::from(vec![i64::MAX, 1]));
    sum.update_batch(Some(&values), &[0, 0], None, 1).unwrap();
    assert_eq!(
        sum.evaluate().unwrap().as_primitive::<Int64Type>().value(0),
        i64::MIN
    );
}

#[test]
fn count_star_counts_null_rows_and_honours_filter() {
    let mut count = create_accumulator(AggKind::Count, None).unwrap();
    let filter = BooleanArray::from(vec![Some(true), None, Some(false), Some(true)]);
    count
        .update_batch(None, &[0, 0, 0, 1], Some(&filter), 3)
        .unwrap();
    assert_eq!(
        count
            .evaluate()
            .unwrap()
            .as_primitive::<Int64Type>()
            .values(),
        &[1, 1, 0]
    );

    let mut non_null = create_accumulator(AggKind::CountNonNull, Some(&DataType::Null)).unwrap();
    let nulls: ArrayRef = Arc::new(NullArray::new(2));
    non_null
        .update_batch(Some(&nulls), &[0, 0], None, 1)
        .unwrap();
    assert_eq!(
        non_null
            .evaluate()
            .unwrap()
            .as_primitive::<Int64Type>()
            .values(),
        &[0]
    );
}

#[test]
fn float_min_max_total_order() {
    let values: ArrayRef = Arc::new(Float32Array::from(vec![0.0, -0.0, f32::NAN, 1.0]));
    let mut min = create_accumulator(AggKind::Min, Some(&DataType::Float32)).unwrap();
    let mut max = create_accumulator(AggKind::Max, Some(&DataType::Float32)).unwrap();
    min.update_batch(Some(&values), &[0; 4], None, 1).unwrap();
    max.update_batch(Some(&values), &[0; 4], None, 1).unwrap();
    let min = min.evaluate().unwrap();
    let max = max.evaluate().unwrap();
    assert!(min
        .as_primitive::<Float32Type>()
        .value(0)
        .is_sign_negative());
    assert!(max.as_primitive::<Float32Type>().value(0).is_nan());
}

#[test]
fn bad_arguments() {
    let mut sum = create_accumulator(AggKind::Sum, Some(&DataType::Int64)).unwrap();
    let values: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let wrong: ArrayRef = Arc::new(Int32Array::from(vec![1, 2]));
    assert!(sum.update_batch(None, &[0, 0], None, 1).is_err());
    assert!(sum.update_batch(Some(&wrong), &[0, 0], None, 1).is_err());
    assert!(sum.update_batch(Some(&values), &[0], None, 1).is_err());
    assert!(sum.update_batch(Some(&values), &[0, 1], None, 1).is_err());
    let short = BooleanArray::from(vec![true]);
    assert!(sum
        .update_batch(Some(&values), &[0, 0], Some(&short), 1)
        .is_err());
    assert!(sum.merge_batch(&[], &[], 0).is_err());
    let mut avg = create_accumulator(AggKind::Avg, Some(&DataType::Int64)).unwrap();
    assert!(avg
        .merge_batch(std::slice::from_ref(&values), &[0, 0], 1)
        .is_err());
    // an empty batch with zero groups is fine
    assert!(sum
        .update_batch(Some(&values.slice(0, 0)), &[], None, 0)
        .is_ok());
}

#[test]
fn size_bytes_tracks_groups() {
    let mut max = create_accumulator(AggKind::Max, Some(&DataType::Utf8)).unwrap();
    let values: ArrayRef = Arc::new(StringArray::from(vec!["a".repeat(100), "b".repeat(100)]));
    max.update_batch(Some(&values), &[0, 1], None, 2).unwrap();
    assert!(max.size_bytes() >= 200);
    max.evaluate().unwrap();
    assert!(max.size_bytes() < 200);
}
