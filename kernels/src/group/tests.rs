use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::*;
use arrow::datatypes::*;
use proptest::prelude::*;

use super::*;

fn intern_all(indexer: &mut GroupIndexer, batches: &[Vec<ArrayRef>]) -> Vec<u32> {
    let mut all = Vec::new();
    let mut ids = Vec::new();
    for keys in batches {
        indexer.intern(keys, &mut ids).unwrap();
        all.extend_from_slice(&ids);
    }
    all
}

/// Group ids by first appearance, the way a `BTreeMap` would assign them.
fn oracle<K: Ord + Clone>(keys: &[K]) -> (Vec<u32>, Vec<K>) {
    let mut map = BTreeMap::new();
    let mut distinct = Vec::new();
    let ids = keys
        .iter()
        .map(|k| {
            *map.entry(k.clone()).or_insert_with(|| {
                distinct.push(k.clone());
                distinct.len() as u32 - 1
            })
        })
        .collect();
    (ids, distinct)
}

/// Cuts `0..len` at the given (sorted, deduplicated) points.
fn ranges(len: usize, cuts: &[usize]) -> Vec<(usize, usize)> {
    let mut points: Vec<usize> = cuts.iter().map(|&c| c % (len + 1)).collect();
    points.push(0);
    points.push(len);
    points.sort_unstable();
    points.dedup();
    points.windows(2).map(|w| (w[0], w[1] - w[0])).collect()
}

#[test]
fn single_int_with_nulls() {
    let mut g = GroupIndexer::new(&[DataType::Int64]).unwrap();
    let keys: ArrayRef = Arc::new(Int64Array::from(vec![
        Some(5),
        None,
        Some(5),
        None,
        Some(0),
    ]));
    let mut ids = Vec::new();
    g.intern(&[keys], &mut ids).unwrap();
    assert_eq!(ids, vec![0, 1, 0, 1, 2]);
    assert_eq!(g.num_groups(), 3);
    let out = g.emit_keys().unwrap();
    assert_eq!(
        out[0].as_primitive::<Int64Type>(),
        &Int64Array::from(vec![Some(5), None, Some(0)])
    );
    g.clear();
    assert_eq!(g.num_groups(), 0);
    let keys: ArrayRef = Arc::new(Int64Array::from(vec![None, Some(9)]));
    g.intern(&[keys], &mut ids).unwrap();
    assert_eq!(ids, vec![0, 1]);
}

#[test]
fn int_like_types_round_trip() {
    let cases: Vec<ArrayRef> = vec![
        Arc::new(UInt64Array::from(vec![u64::MAX, 0, u64::MAX])),
        Arc::new(Int32Array::from(vec![-1, i32::MIN, -1])),
        Arc::new(UInt8Array::from(vec![255, 0, 255])),
        Arc::new(Date32Array::from(vec![-3, 4, -3])),
        Arc::new(
            TimestampMillisecondArray::from(vec![Some(-1), None, Some(-1)]).with_timezone("+02:00"),
        ),
    ];
    for keys in cases {
        let mut g = GroupIndexer::new(&[keys.data_type().clone()]).unwrap();
        assert!(matches!(g.inner, Inner::Int(_)), "{}", keys.data_type());
        let mut ids = Vec::new();
        g.intern(std::slice::from_ref(&keys), &mut ids).unwrap();
        assert_eq!(ids, vec![0, 1, 0]);
        let out = g.emit_keys().unwrap();
        assert_eq!(&out[0], &keys.slice(0, 2), "{}", keys.data_type());
    }
}

#[test]
fn general_path_strings_and_floats() {
    let strings: ArrayRef = Arc::new(StringViewArray::from(vec![
        Some("x"),
        None,
        Some("a long string, longer than twelve bytes"),
        Some("x"),
        None,
    ]));
    let mut g = GroupIndexer::new(&[DataType::Utf8View]).unwrap();
    let mut ids = Vec::new();
    g.intern(std::slice::from_ref(&strings), &mut ids).unwrap();
    assert_eq!(ids, vec![0, 1, 2, 0, 1]);
    assert_eq!(&g.emit_keys().unwrap()[0], &strings.slice(0, 3));

    let floats: ArrayRef = Arc::new(Float64Array::from(vec![
        0.0,
        -0.0,
        f64::NAN,
        -f64::NAN,
        1.0,
    ]));
    let mut g = GroupIndexer::new(&[DataType::Float64]).unwrap();
    g.intern(&[floats], &mut ids).unwrap();
    assert_eq!(ids, vec![0, 0, 1, 1, 2]);
}

#[test]
fn precomputed_hashes_give_same_groups() {
    let a: ArrayRef = Arc::new(Int64Array::from(vec![Some(1), None, Some(2), Some(1)]));
    let b: ArrayRef = Arc::new(StringArray::from(vec!["p", "q", "p", "p"]));
    for keys in [vec![a.clone()], vec![a, b]] {
        let types: Vec<DataType> = keys.iter().map(|k| k.data_type().clone()).collect();
        let mut hashes = Vec::new();
        crate::hash::hash_columns(&keys, &mut hashes).unwrap();
        let (mut g1, mut g2) = (
            GroupIndexer::new(&types).unwrap(),
            GroupIndexer::new(&types).unwrap(),
        );
        let (mut ids1, mut ids2) = (Vec::new(), Vec::new());
        g1.intern(&keys, &mut ids1).unwrap();
        g2.intern_with_hashes(&keys, Some(&hashes), &mut ids2)
            .unwrap();
        assert_eq!(ids1, ids2);
        assert_eq!(ids1, vec![0, 1, 2, 0]);
        assert!(g2
            .intern_with_hashes(&keys, Some(&hashes[1..]), &mut ids2)
            .is_err());
    }
}

#[test]
fn errors() {
    assert!(GroupIndexer::new(&[]).is_err());
    let list = DataType::List(Arc::new(Field::new("item", DataType::Int32, true)));
    assert!(matches!(
        GroupIndexer::new(&[list]),
        Err(KernelError::UnsupportedType { .. })
    ));
    let mut g = GroupIndexer::new(&[DataType::Int64]).unwrap();
    let wrong: ArrayRef = Arc::new(Int32Array::from(vec![1]));
    let mut ids = vec![7];
    assert!(g.intern(&[wrong], &mut ids).is_err());
    assert!(ids.is_empty());
    let mut g = GroupIndexer::new(&[DataType::Int64, DataType::Utf8]).unwrap();
    let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
    let b: ArrayRef = Arc::new(StringArray::from(vec!["x"]));
    assert!(g.intern(std::slice::from_ref(&a), &mut ids).is_err());
    assert!(g.intern(&[a, b], &mut ids).is_err());
}

#[test]
fn size_grows_and_clear_keeps_capacity() {
    let mut g = GroupIndexer::new(&[DataType::Int64, DataType::Utf8]).unwrap();
    let before = g.size_bytes();
    let a: ArrayRef = Arc::new(Int64Array::from_iter_values(0..1000));
    let b: ArrayRef = Arc::new(StringArray::from_iter_values(
        (0..1000).map(|i| format!("k{i}")),
    ));
    let mut ids = Vec::new();
    g.intern(&[a, b], &mut ids).unwrap();
    let after = g.size_bytes();
    assert!(after > before + 1000 * 8, "{before} {after}");
    g.clear();
    assert_eq!(g.num_groups(), 0);
    assert!(g.emit_keys().unwrap()[0].is_empty());
}

proptest! {
    #[test]
    fn single_i64_matches_oracle(
        keys in proptest::collection::vec(proptest::option::of(-20i64..20), 0..300),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let array: ArrayRef = Arc::new(Int64Array::from(keys.clone()));
        let batches: Vec<Vec<ArrayRef>> = ranges(keys.len(), &cuts)
            .into_iter()
            .map(|(o, l)| vec![array.slice(o, l)])
            .collect();
        let mut g = GroupIndexer::new(&[DataType::Int64]).unwrap();
        let ids = intern_all(&mut g, &batches);
        let (expected, distinct) = oracle(&keys);
        prop_assert_eq!(ids, expected);
        let emitted = g.emit_keys().unwrap();
        prop_assert_eq!(emitted[0].as_primitive::<Int64Type>(), &Int64Array::from(distinct));
    }

    #[test]
    fn composite_matches_oracle(
        keys in proptest::collection::vec(
            (proptest::option::of(-3i64..3), proptest::option::of("[ab]{0,2}")),
            0..300,
        ),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let ints: ArrayRef = Arc::new(keys.iter().map(|k| k.0).collect::<Int64Array>());
        let strs: ArrayRef = Arc::new(keys.iter().map(|k| k.1.clone()).collect::<StringArray>());
        let batches: Vec<Vec<ArrayRef>> = ranges(keys.len(), &cuts)
            .into_iter()
            .map(|(o, l)| vec![ints.slice(o, l), strs.slice(o, l)])
            .collect();
        let mut g = GroupIndexer::new(&[DataType::Int64, DataType::Utf8]).unwrap();
        let ids = intern_all(&mut g, &batches);
        let (expected, distinct) = oracle(&keys);
        prop_assert_eq!(ids, expected);
        let emitted = g.emit_keys().unwrap();
        let want_ints: Int64Array = distinct.iter().map(|k| k.0).collect();
        let want_strs: StringArray = distinct.iter().map(|k| k.1.clone()).collect();
        prop_assert_eq!(emitted[0].as_primitive::<Int64Type>(), &want_ints);
        prop_assert_eq!(emitted[1].as_string::<i32>(), &want_strs);
    }
}

#[test]
fn int_pairs_take_the_pair_path_and_round_trip() {
    let a: ArrayRef = Arc::new(UInt32Array::from(vec![
        Some(u32::MAX),
        None,
        Some(u32::MAX),
        Some(0),
    ]));
    let b: ArrayRef = Arc::new(
        TimestampMillisecondArray::from(vec![Some(-1), Some(-1), Some(-1), None])
            .with_timezone("+02:00"),
    );
    let mut g = GroupIndexer::new(&[a.data_type().clone(), b.data_type().clone()]).unwrap();
    assert!(matches!(g.inner, Inner::Pair(_)));
    let mut ids = Vec::new();
    g.intern(&[a.clone(), b.clone()], &mut ids).unwrap();
    assert_eq!(ids, vec![0, 1, 0, 2]);
    let out = g.emit_keys().unwrap();
    let rows = UInt32Array::from(vec![0, 1, 3]);
    assert_eq!(&out[0], &arrow::compute::take(&a, &rows, None).unwrap());
    assert_eq!(&out[1], &arrow::compute::take(&b, &rows, None).unwrap());
    assert!(g.size_bytes() > 0);
    g.clear();
    assert_eq!(g.num_groups(), 0);
}

proptest! {
    #[test]
    fn int_pairs_match_oracle(
        keys in proptest::collection::vec(
            (proptest::option::of(0u32..4), proptest::option::of(-3i64..3)),
            0..300,
        ),
        cuts in proptest::collection::vec(any::<usize>(), 0..6),
    ) {
        let a: ArrayRef = Arc::new(keys.iter().map(|k| k.0).collect::<UInt32Array>());
        let b: ArrayRef = Arc::new(keys.iter().map(|k| k.1).collect::<Int64Array>());
        let batches: Vec<Vec<ArrayRef>> = ranges(keys.len(), &cuts)
            .into_iter()
            .map(|(o, l)| vec![a.slice(o, l), b.slice(o, l)])
            .collect();
        let mut g = GroupIndexer::new(&[DataType::UInt32, DataType::Int64]).unwrap();
        let ids = intern_all(&mut g, &batches);
        let (expected, distinct) = oracle(&keys);
        prop_assert_eq!(ids, expected);
        let emitted = g.emit_keys().unwrap();
        let want_a: UInt32Array = distinct.iter().map(|k| k.0).collect();
        let want_b: Int64Array = distinct.iter().map(|k| k.1).collect();
        prop_assert_eq!(emitted[0].as_primitive::<UInt32Type>(), &want_a);
        prop_assert_eq!(emitted[1].as_primitive::<Int64Type>(), &want_b);
    }
}
