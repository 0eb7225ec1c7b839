use arrow::array::{
    BooleanArray, Decimal128Array, Float64Array, Int32Array, Int64Array, StringArray,
    TimestampMillisecondArray,
};
use arrow::datatypes::TimeUnit;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::*;
use crate::checkpoint::testing::ipc_round_trip;
use crate::operator::process::tests::recovery::MAX_P;
use crate::operator::OutItem;

pub(super) fn call(
    kind: AggKind,
    input: Option<usize>,
    distinct: bool,
    name: &str,
) -> GroupAggCall {
    GroupAggCall {
        kind,
        input,
        distinct,
        name: name.into(),
    }
}

/// The output rows as `"<op> col|col|..."`, nulls empty.
pub(super) fn changelog(items: &[OutItem]) -> Vec<String> {
    let mut out = Vec::new();
    for item in items {
        let OutItem::Batch(0, b) = item else { continue };
        let n = b.num_columns() - 1;
        let ops = b.column(n).as_primitive::<Int8Type>();
        let fmt: Vec<_> = b.columns()[..n]
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &FormatOptions::default()).unwrap())
            .collect();
        for r in 0..b.num_rows() {
            let vals: Vec<String> = fmt.iter().map(|f| f.value(r).to_string()).collect();
            let op = ["+I", "-U", "+U", "-D"][ops.value(r) as usize];
            out.push(format!("{op} {}", vals.join("|")));
        }
    }
    out
}

fn run(op: &mut GroupAggregate, batches: &[RecordBatch]) -> Vec<Vec<String>> {
    let mut ctx = OpContext::new(0, 1, MAX_P);
    batches
        .iter()
        .map(|b| {
            let mut out = Output::new();
            op.on_batch(0, b.clone(), &mut ctx, &mut out).unwrap();
            assert!(out.items().len() <= 1, "one output batch per input batch");
            changelog(out.items())
        })
        .collect()
}

/// A batch `k: Utf8, v: Int64` (insert-only) or with `$op` codes (updating).
fn kv(rows: &[(&str, Option<i64>)], ops: Option<&[i8]>) -> RecordBatch {
    let mut cols: Vec<(&str, ArrayRef)> = vec![
        (
            "k",
            Arc::new(StringArray::from_iter_values(rows.iter().map(|r| r.0))),
        ),
        (
            "v",
            Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.1))),
        ),
    ];
    if let Some(ops) = ops {
        cols.push((OP_COLUMN, Arc::new(Int8Array::from(ops.to_vec()))));
    }
    RecordBatch::try_from_iter(cols).unwrap()
}

fn lines(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn insert_only_aggregates_with_nulls() {
    let calls = vec![
        call(AggKind::Count, None, false, "n"),
        call(AggKind::CountNonNull, Some(1), false, "nv"),
        call(AggKind::Sum, Some(1), false, "sum"),
        call(AggKind::Min, Some(1), false, "min"),
        call(AggKind::Max, Some(1), false, "max"),
        call(AggKind::Avg, Some(1), false, "avg"),
        call(AggKind::Count, Some(1), true, "nd"),
    ];
    let mut op = GroupAggregate::new(vec![0], calls, false).unwrap();
    let out = run(
        &mut op,
        &[
            kv(
                &[("a", Some(1)), ("b", None), ("a", Some(3)), ("a", Some(1))],
                None,
            ),
            kv(&[("b", Some(7)), ("a", None)], None),
            kv(&[("c", Some(-4)), ("c", Some(-3))], None),
        ],
    );
    assert_eq!(
        out,
        vec![
            lines(&["+I a|3|3|5|1|3|1|2", "+I b|1|0|||||0"]),
            lines(&[
                "-U b|1|0|||||0",
                "+U b|2|1|7|7|7|7|1",
                "-U a|3|3|5|1|3|1|2",
                "+U a|4|3|5|1|3|1|2",
            ]),
            // AVG of BIGINT truncates toward zero: -7 / 2 = -3
            lines(&["+I c|2|2|-7|-4|-3|-3|2"]),
        ]
    );
    let schema = op.output_schema(&kv(&[], None).schema()).unwrap();
    let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
    assert_eq!(
        types,
        [
            &DataType::Utf8,
            &DataType::Int64,
            &DataType::Int64,
            &DataType::Int64,
            &DataType::Int64,
            &DataType::Int64,
            &DataType::Int64,
            &DataType::Int64,
            &DataType::Int8
        ]
    );
    assert!(!schema.field(8).is_nullable() && schema.field(2).is_nullable());
}

#[test]
fn unchanged_aggregates_emit_nothing() {
    let mut op = GroupAggregate::new(
        vec![0],
        vec![call(AggKind::Max, Some(1), false, "m")],
        false,
    )
    .unwrap();
    let out = run(
        &mut op,
        &[
            kv(&[("a", Some(5))], None),
            kv(&[("a", Some(2)), ("a", None)], None),
            kv(&[("a", Some(6))], None),
        ],
    );
    assert_eq!(
        out,
        vec![lines(&["+I a|5"]), vec![], lines(&["-U a|5", "+U a|6"])]
    );
}

#[test]
fn updating_input_retracts() {
    let calls = vec![
        call(AggKind::Count, None, false, "n"),
        call(AggKind::Sum, Some(1), false, "sum"),
        call(AggKind::Max, Some(1), false, "max"),
        call(AggKind::Count, Some(1), true, "nd"),
    ];
    let mut op = GroupAggregate::new(vec![0], calls, true).unwrap();
    let (i, ub, ua, d) = (INSERT, UPDATE_BEFORE, UPDATE_AFTER, DELETE);
    let out = run(
        &mut op,
        &[
            kv(
                &[
                    ("a", Some(5)),
                    ("a", Some(9)),
                    ("a", Some(5)),
                    ("b", Some(1)),
                ],
                Some(&[i, i, i, i]),
            ),
            kv(&[("a", Some(9)), ("a", Some(4))], Some(&[ub, ua])),
            kv(&[("a", Some(5))], Some(&[d])),
            kv(&[("a", Some(5))], Some(&[d])),
            kv(&[("b", Some(1)), ("a", Some(4))], Some(&[d, d])),
            kv(&[("a", Some(2))], Some(&[i])),
            // retraction without state; a group inserted and deleted within one batch
            kv(
                &[("z", Some(1)), ("c", Some(1)), ("c", Some(1))],
                Some(&[d, i, d]),
            ),
            // leading retraction of a fresh group is dropped, the insert counts
            kv(&[("e", Some(3)), ("e", Some(2))], Some(&[d, i])),
        ],
    );
    assert_eq!(
        out,
        vec![
            lines(&["+I a|3|19|9|2", "+I b|1|1|1|1"]),
            // MAX retraction finds the next max (5)
            lines(&["-U a|3|19|9|2", "+U a|3|14|5|2"]),
            // one of two 5s retracted: max and distinct count unchanged
            lines(&["-U a|3|14|5|2", "+U a|2|9|5|2"]),
            // the last 5 goes: the distinct count decreases
            lines(&["-U a|2|9|5|2", "+U a|1|4|4|1"]),
            lines(&["-D b|1|1|1|1", "-D a|1|4|4|1"]),
            // deleted, then re-inserted: a fresh +I
            lines(&["+I a|1|2|2|1"]),
            vec![],
            lines(&["+I e|1|2|2|1"]),
        ]
    );
}

#[test]
fn global_aggregate() {
    let calls = vec![
        call(AggKind::Count, None, false, "n"),
        call(AggKind::Sum, Some(1), false, "s"),
    ];
    let mut op = GroupAggregate::new(vec![], calls.clone(), true).unwrap();
    let out = run(
        &mut op,
        &[
            kv(&[("a", Some(1)), ("b", Some(2))], Some(&[0, 0])),
            kv(&[("x", Some(2))], Some(&[3])),
            kv(&[("y", Some(1))], Some(&[3])),
            kv(&[("y", Some(4))], Some(&[0])),
        ],
    );
    assert_eq!(
        out,
        vec![
            lines(&["+I 2|3"]),
            lines(&["-U 2|3", "+U 1|1"]),
            lines(&["-D 1|1"]),
            lines(&["+I 1|4"]),
        ]
    );
    let schema = op.output_schema(&kv(&[], Some(&[])).schema()).unwrap();
    assert_eq!(schema.fields().len(), 3);

    // A global aggregate's state lives in key group 0: after a rescale to 2, only
    // subtask 0 continues it.
    let mut ctx = OpContext::new(0, 1, MAX_P);
    let state = ipc_round_trip(op.snapshot(1, &mut ctx).unwrap()).unwrap();
    for (subtask, expected) in [(0, lines(&["-U 1|4", "+U 2|9"])), (1, lines(&["+I 1|5"]))] {
        let mut op = GroupAggregate::new(vec![], calls.clone(), true).unwrap();
        let mut ctx = OpContext::new(subtask, 2, MAX_P);
        op.restore(state.clone(), &mut ctx).unwrap();
        let mut out = Output::new();
        op.on_batch(0, kv(&[("q", Some(5))], Some(&[0])), &mut ctx, &mut out)
            .unwrap();
        assert_eq!(changelog(out.items()), expected, "subtask {subtask}");
    }
}

#[test]
fn types_of_min_max_and_distinct() {
    let b = RecordBatch::try_from_iter([
        ("k", Arc::new(Int32Array::from(vec![1, 1, 1])) as ArrayRef),
        (
            "b",
            Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        ),
        (
            "s",
            Arc::new(StringArray::from(vec!["pear", "apple", "fig"])),
        ),
        (
            "t",
            Arc::new(TimestampMillisecondArray::from(vec![3000, 1000, 2000])),
        ),
        (
            "d",
            Arc::new(
                Decimal128Array::from(vec![125, -250, 101])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ),
        (
            "f",
            Arc::new(Float64Array::from(vec![Some(-0.5), None, Some(2.25)])),
        ),
    ])
    .unwrap();
    let mut calls = Vec::new();
    for (i, c) in ["b", "s", "t", "d", "f"].iter().enumerate() {
        calls.push(call(AggKind::Min, Some(i + 1), false, &format!("min_{c}")));
        calls.push(call(AggKind::Max, Some(i + 1), false, &format!("max_{c}")));
        calls.push(call(AggKind::Count, Some(i + 1), true, &format!("nd_{c}")));
    }
    calls.push(call(AggKind::Sum, Some(4), false, "sum_d"));
    calls.push(call(AggKind::Avg, Some(4), false, "avg_d"));
    calls.push(call(AggKind::Sum, Some(5), true, "sum_f"));
    calls.push(call(AggKind::Avg, Some(5), false, "avg_f"));
    let expected = "+I 1|false|true|2|apple|pear|3|1970-01-01T00:00:01|1970-01-01T00:00:03|3\
        |-2.50|1.25|3|-0.5|2.25|2|-0.24|-0.080000|1.75|0.875";
    for updating in [false, true] {
        let mut op = GroupAggregate::new(vec![0], calls.clone(), updating).unwrap();
        let mut batch = b.clone();
        if updating {
            let ops: ArrayRef = Arc::new(Int8Array::from(vec![0i8; 3]));
            let mut cols = batch.columns().to_vec();
            cols.push(ops);
            let mut fields: Vec<Field> = batch
                .schema()
                .fields()
                .iter()
                .map(|f| (**f).clone())
                .collect();
            fields.push(Field::new(OP_COLUMN, DataType::Int8, false));
            batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), cols).unwrap();
        }
        let schema = op.output_schema(&batch.schema()).unwrap();
        assert_eq!(
            schema.field_with_name("avg_d").unwrap().data_type(),
            &DataType::Decimal128(38, 6)
        );
        assert_eq!(
            schema.field_with_name("sum_d").unwrap().data_type(),
            &DataType::Decimal128(38, 2)
        );
        assert_eq!(
            schema.field_with_name("max_t").unwrap().data_type(),
            &DataType::Timestamp(TimeUnit::Millisecond, None)
        );
        assert_eq!(
            run(&mut op, &[batch]),
            vec![lines(&[expected])],
            "{updating}"
        );
    }
}

#[test]
fn typing_and_errors() {
    let c = |kind, input| call(kind, input, false, "x");
    assert!(matches!(
        GroupAggregate::new(vec![0], vec![c(AggKind::Sum, None)], false),
        Err(Error::Plan(_))
    ));
    assert!(matches!(
        GroupAggregate::new(vec![0], vec![call(AggKind::Count, None, true, "x")], false),
        Err(Error::Plan(_))
    ));
    assert!(matches!(
        GroupAggregate::new(vec![0], vec![c(AggKind::First, Some(1))], false),
        Err(Error::Unsupported(_))
    ));
    let schema = kv(&[], None).schema();
    let op = GroupAggregate::new(vec![0], vec![c(AggKind::Sum, Some(0))], false).unwrap();
    assert!(matches!(
        op.output_schema(&schema),
        Err(Error::Unsupported(_))
    ));
    let op = GroupAggregate::new(vec![5], vec![], false).unwrap();
    assert!(matches!(op.output_schema(&schema), Err(Error::Plan(_))));
    // updating without `$op`, and insert-only with one
    let op = GroupAggregate::new(vec![0], vec![], true).unwrap();
    assert!(matches!(op.output_schema(&schema), Err(Error::Plan(_))));
    let op = GroupAggregate::new(vec![0], vec![], false).unwrap();
    let with_op = kv(&[], Some(&[])).schema();
    assert!(matches!(op.output_schema(&with_op), Err(Error::Plan(_))));
    // SUM(INT) is BIGINT, AVG(INT) is INT (as the window aggregates)
    let ints = Schema::new(vec![Field::new("i", DataType::Int32, true)]);
    let op = GroupAggregate::new(
        vec![],
        vec![c(AggKind::Sum, Some(0)), c(AggKind::Avg, Some(0))],
        false,
    )
    .unwrap();
    let out = op.output_schema(&ints).unwrap();
    assert_eq!(out.field(0).data_type(), &DataType::Int64);
    assert_eq!(out.field(1).data_type(), &DataType::Int32);
    // a bad op code is a data error, not a panic
    let mut op = GroupAggregate::new(vec![0], vec![c(AggKind::Count, None)], true).unwrap();
    let e = op
        .on_batch(
            0,
            kv(&[("a", Some(1))], Some(&[7])),
            &mut OpContext::new(0, 1, MAX_P),
            &mut Output::new(),
        )
        .unwrap_err();
    assert!(matches!(e, Error::Data { .. }), "{e}");
    // a later batch of other types is a schema error
    let mut op = GroupAggregate::new(vec![0], vec![c(AggKind::Sum, Some(1))], false).unwrap();
    let mut ctx = OpContext::new(0, 1, MAX_P);
    op.on_batch(0, kv(&[("a", Some(1))], None), &mut ctx, &mut Output::new())
        .unwrap();
    let other = RecordBatch::try_from_iter([
        ("k", Arc::new(StringArray::from(vec!["a"])) as ArrayRef),
        ("v", Arc::new(Float64Array::from(vec![1.0])) as ArrayRef),
    ])
    .unwrap();
    let e = op
        .on_batch(0, other, &mut ctx, &mut Output::new())
        .unwrap_err();
    assert!(matches!(e, Error::Schema(_)), "{e}");
}
