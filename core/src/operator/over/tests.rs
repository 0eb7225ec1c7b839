//! Known-answer tests of the OVER aggregate: every frame kind over several partitions and
//! watermarks, peers, late rows, special float values, schemas and errors.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Float64Type, Schema, SchemaRef, TimeUnit};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use millstream_kernels::agg::AggKind;

use super::oracle::{actual, generate, harness_steps, make, naive, K};
use super::{OverAggregate, OverCall, OverFrame};
use crate::checkpoint::testing::{run_steps, Step as CStep};
use crate::error::Error;
use crate::operator::{OpContext, Operator, OutItem, Output};

fn call(kind: AggKind, input: Option<usize>, name: &str) -> OverCall {
    OverCall {
        kind,
        input,
        name: name.into(),
    }
}

/// `(ts: Int64, k: Int64, v: Int64)` rows.
fn b3(rows: &[(i64, i64, Option<i64>)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, true),
    ]));
    let columns: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.0))),
        Arc::new(Int64Array::from_iter_values(rows.iter().map(|r| r.1))),
        Arc::new(Int64Array::from_iter(rows.iter().map(|r| r.2))),
    ];
    RecordBatch::try_new(schema, columns).unwrap()
}

/// `(ts: Int64, k: Int64, v: Int64, s: Utf8)` rows.
fn b4(rows: &[(i64, i64, Option<i64>, Option<&str>)]) -> RecordBatch {
    let b = b3(&rows.iter().map(|r| (r.0, r.1, r.2)).collect::<Vec<_>>());
    let mut fields: Vec<Field> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.as_ref().clone())
        .collect();
    fields.push(Field::new("s", DataType::Utf8, true));
    let mut columns = b.columns().to_vec();
    columns.push(Arc::new(StringArray::from_iter(rows.iter().map(|r| r.3))));
    RecordBatch::try_new(Arc::new(Schema::new(fields)), columns).unwrap()
}

/// Output as text: one line per row (columns joined by spaces, nulls as `null`), and
/// `wm N` per watermark.
fn lines(items: &[OutItem]) -> Vec<String> {
    let options = FormatOptions::default().with_null("null");
    let mut out = Vec::new();
    for i in items {
        match i {
            OutItem::Batch(_, b) => {
                let f: Vec<ArrayFormatter<'_>> = b
                    .columns()
                    .iter()
                    .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
                    .collect();
                for r in 0..b.num_rows() {
                    let row: Vec<String> = f.iter().map(|f| f.value(r).to_string()).collect();
                    out.push(row.join(" "));
                }
            }
            OutItem::Watermark(w) => out.push(format!("wm {}", w.0)),
            OutItem::Idle => out.push("idle".into()),
        }
    }
    out
}

fn run(op: &mut OverAggregate, ctx: &mut OpContext, steps: &[CStep]) -> Vec<String> {
    lines(&run_steps(op, ctx, steps).unwrap())
}

fn v3(ts: i64, k: i64, v: i64) -> (i64, i64, Option<i64>) {
    (ts, k, Some(v))
}

#[test]
fn rows_bounded_frame_over_partitions_and_watermarks() {
    let calls = vec![
        call(AggKind::Count, None, "cnt"),
        call(AggKind::CountNonNull, Some(2), "cnt_v"),
        call(AggKind::Sum, Some(2), "sum"),
        call(AggKind::Min, Some(2), "min"),
        call(AggKind::Max, Some(2), "max"),
        call(AggKind::Avg, Some(2), "avg"),
    ];
    let mut op =
        OverAggregate::new(vec![1], 0, OverFrame::Rows { preceding: Some(2) }, calls).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let steps = vec![
        CStep::Batch(
            0,
            b3(&[
                v3(1, 1, 10),
                v3(3, 1, 20),
                v3(2, 2, 5),
                (2, 1, None),
                v3(5, 1, 40),
            ]),
        ),
        CStep::Watermark(3),
        // (1, 1, 99) and (3, 2, 50) are late: at or below watermark 3.
        CStep::Batch(
            0,
            b3(&[
                v3(4, 1, 1),
                v3(4, 2, 7),
                v3(1, 1, 99),
                v3(3, 2, 50),
                v3(6, 2, 3),
            ]),
        ),
        CStep::Watermark(6),
        CStep::End,
    ];
    let got = run(&mut op, &mut ctx, &steps);
    let expected = [
        "1 1 10 1 1 10 10 10 10",
        "2 2 5 1 1 5 5 5 5",
        "2 1 null 2 1 10 10 10 10",
        "3 1 20 3 2 30 10 20 15",
        "wm 3",
        "4 1 1 3 2 21 1 20 10",
        "4 2 7 2 2 12 5 7 6",
        "5 1 40 3 3 61 1 40 20",
        "6 2 3 3 3 15 3 7 5",
        "wm 6",
    ];
    assert_eq!(got, expected);
    assert_eq!(ctx.metrics.late_dropped, 2);
    assert_eq!(op.pending_rows(), 0);
    // The last two rows of each partition stay for future frames.
    assert_eq!(op.retained_rows(), 4);
}

#[test]
fn range_bounded_frame_includes_peers() {
    let calls = vec![
        call(AggKind::Sum, Some(2), "sum"),
        call(AggKind::Count, None, "cnt"),
        call(AggKind::Max, Some(2), "max"),
    ];
    let frame = OverFrame::Range {
        preceding_ms: Some(2),
    };
    let mut op = OverAggregate::new(vec![1], 0, frame, calls).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let input = b3(&[
        v3(1, 1, 1),
        v3(2, 1, 2),
        v3(4, 1, 4),
        v3(2, 1, 3),
        v3(5, 1, 5),
        v3(8, 1, 7),
        v3(4, 2, 10),
        v3(5, 1, 6),
    ]);
    let first = run(
        &mut op,
        &mut ctx,
        &[CStep::Batch(0, input), CStep::Watermark(4)],
    );
    assert_eq!(
        first,
        [
            "1 1 1 1 1 1",
            "2 1 2 6 3 3",
            "2 1 3 6 3 3",
            "4 1 4 9 3 4",
            "4 2 10 10 1 10",
            "wm 4",
        ]
    );
    // Rows with ts <= 4 - 2 can be in no later frame: one row per partition is left.
    assert_eq!(op.retained_rows(), 2);
    assert_eq!(op.pending_rows(), 3);
    let rest = run(&mut op, &mut ctx, &[CStep::End]);
    assert_eq!(rest, ["5 1 5 15 3 6", "5 1 6 15 3 6", "8 1 7 7 1 7"]);
}

#[test]
fn unbounded_frames_keep_running_accumulators() {
    let calls = || {
        vec![
            call(AggKind::Sum, Some(2), "sum"),
            call(AggKind::Min, Some(3), "min_s"),
            call(AggKind::Max, Some(3), "max_s"),
            call(AggKind::Count, None, "cnt"),
            call(AggKind::First, Some(2), "first"),
            call(AggKind::Last, Some(2), "last"),
        ]
    };
    let steps = vec![
        CStep::Batch(
            0,
            b4(&[
                (1, 1, Some(5), Some("m")),
                (2, 1, None, Some("c")),
                (2, 2, Some(1), Some("z")),
            ]),
        ),
        CStep::Watermark(2),
        CStep::Batch(0, b4(&[(3, 1, Some(2), None), (3, 1, Some(7), Some("x"))])),
        CStep::Watermark(3),
        CStep::Batch(0, b4(&[(4, 2, None, Some("a"))])),
        CStep::End,
    ];
    let head = [
        "1 1 5 m 5 m m 1 5 5",
        "2 1 null c 5 c m 2 5 5",
        "2 2 1 z 1 z z 1 1 1",
        "wm 2",
    ];
    let rows = OverFrame::Rows { preceding: None };
    let mut op = OverAggregate::new(vec![1], 0, rows, calls()).unwrap();
    let got = run(&mut op, &mut OpContext::new(0, 1, 128), &steps);
    let mut expected = head.to_vec();
    expected.extend([
        "3 1 2 null 7 c m 3 5 2",
        "3 1 7 x 14 c x 4 5 7",
        "wm 3",
        "4 2 null a 1 a z 2 1 1",
    ]);
    assert_eq!(got, expected);
    assert_eq!(op.retained_rows(), 0);

    // RANGE: both rows at ts 3 are peers and see each other.
    let range = OverFrame::Range { preceding_ms: None };
    let mut op = OverAggregate::new(vec![1], 0, range, calls()).unwrap();
    let got = run(&mut op, &mut OpContext::new(0, 1, 128), &steps);
    let mut expected = head.to_vec();
    expected.extend([
        "3 1 2 null 14 c x 4 5 7",
        "3 1 7 x 14 c x 4 5 7",
        "wm 3",
        "4 2 null a 1 a z 2 1 1",
    ]);
    assert_eq!(got, expected);
}

#[test]
fn late_rows_are_dropped_and_counted() {
    let calls = vec![call(AggKind::Sum, Some(2), "sum")];
    let mut op =
        OverAggregate::new(vec![], 0, OverFrame::Rows { preceding: Some(1) }, calls).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let got = run(
        &mut op,
        &mut ctx,
        &[
            CStep::Batch(0, b3(&[v3(1, 1, 1), v3(2, 2, 2)])),
            CStep::Watermark(5),
            // All late (ts <= 5), then partly late.
            CStep::Batch(0, b3(&[v3(5, 1, 100), v3(3, 1, 100)])),
            CStep::Batch(0, b3(&[v3(4, 1, 100), v3(6, 1, 3)])),
            CStep::End,
        ],
    );
    // No partition columns: one partition, ROWS 1 PRECEDING.
    assert_eq!(got, ["1 1 1 1", "2 2 2 3", "wm 5", "6 1 3 5"]);
    assert_eq!(ctx.metrics.late_dropped, 3);
}

#[test]
fn float_sums_retract_infinities_and_nan() {
    let values = [
        f64::INFINITY,
        1.0,
        2.0,
        f64::NAN,
        3.0,
        4.0,
        f64::NEG_INFINITY,
        f64::INFINITY,
        5.0,
    ];
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("f", DataType::Float64, true),
    ]));
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from_iter_values(1..=values.len() as i64)),
            Arc::new(Float64Array::from(values.to_vec())),
        ],
    )
    .unwrap();
    let calls = vec![
        call(AggKind::Sum, Some(1), "sum"),
        call(AggKind::Avg, Some(1), "avg"),
    ];
    let mut op =
        OverAggregate::new(vec![], 0, OverFrame::Rows { preceding: Some(1) }, calls).unwrap();
    let items = run_steps(
        &mut op,
        &mut OpContext::new(0, 1, 128),
        &[CStep::Batch(0, batch), CStep::End],
    )
    .unwrap();
    let OutItem::Batch(0, out) = &items[0] else {
        panic!("expected a batch, got {items:?}")
    };
    let inf = f64::INFINITY;
    let sums = [inf, inf, 3.0, f64::NAN, f64::NAN, 7.0, -inf, f64::NAN, inf];
    let avgs = [inf, inf, 1.5, f64::NAN, f64::NAN, 3.5, -inf, f64::NAN, inf];
    for (col, expected) in [(2, sums), (3, avgs)] {
        let got = out.column(col).as_primitive::<Float64Type>();
        for (i, e) in expected.iter().enumerate() {
            let g = got.value(i);
            assert!(
                (g.is_nan() && e.is_nan()) || g == *e,
                "column {col} row {i}: {g} != {e}"
            );
        }
    }
}

#[test]
fn timestamp_time_column_and_result_types() {
    let schema = Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("i", DataType::Int32, true),
        Field::new("s", DataType::Utf8, true),
    ]);
    let calls = vec![
        call(AggKind::Avg, Some(1), "avg_i"),
        call(AggKind::Sum, Some(1), "sum_i"),
        call(AggKind::Count, None, "cnt"),
        call(AggKind::Min, Some(2), "min_s"),
    ];
    let op = OverAggregate::new(vec![2], 0, OverFrame::Rows { preceding: None }, calls).unwrap();
    let out: SchemaRef = op.output_schema(&schema).unwrap();
    let types: Vec<(&str, &DataType, bool)> = out
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type(), f.is_nullable()))
        .collect();
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    assert_eq!(
        types,
        [
            ("ts", &ts, false),
            ("i", &DataType::Int32, true),
            ("s", &DataType::Utf8, true),
            ("avg_i", &DataType::Int32, true),
            ("sum_i", &DataType::Int64, true),
            ("cnt", &DataType::Int64, true),
            ("min_s", &DataType::Utf8, true),
        ]
    );
}

#[test]
fn invalid_definitions_are_plan_errors() {
    let rows = OverFrame::Rows { preceding: Some(1) };
    let sum = || vec![call(AggKind::Sum, Some(1), "s")];
    assert!(matches!(
        OverAggregate::new(vec![], 0, rows, vec![]),
        Err(Error::Plan(_))
    ));
    assert!(matches!(
        OverAggregate::new(vec![], 0, rows, vec![call(AggKind::Sum, None, "s")]),
        Err(Error::Plan(_))
    ));
    let negative = OverFrame::Range {
        preceding_ms: Some(-1),
    };
    assert!(matches!(
        OverAggregate::new(vec![], 0, negative, sum()),
        Err(Error::Plan(_))
    ));
    let schema = Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("s", DataType::Utf8, true),
        Field::new("d", DataType::Float64, true),
    ]);
    // SUM of a string, a column out of range, a time column that is not ms.
    let op = OverAggregate::new(vec![], 0, rows, sum()).unwrap();
    assert!(matches!(op.output_schema(&schema), Err(Error::Plan(_))));
    let op = OverAggregate::new(vec![7], 0, rows, vec![call(AggKind::Count, None, "c")]).unwrap();
    assert!(matches!(op.output_schema(&schema), Err(Error::Plan(_))));
    let op = OverAggregate::new(vec![], 2, rows, vec![call(AggKind::Count, None, "c")]).unwrap();
    assert!(matches!(op.output_schema(&schema), Err(Error::Schema(_))));
}

#[test]
fn null_event_times_and_schema_changes_are_errors() {
    let calls = vec![call(AggKind::Count, None, "c")];
    let mut op =
        OverAggregate::new(vec![1], 0, OverFrame::Rows { preceding: None }, calls).unwrap();
    let mut ctx = OpContext::new(0, 1, 128);
    let mut out = Output::new();
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, true),
        Field::new("k", DataType::Int64, false),
    ]));
    let nulls = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(vec![Some(1), None])),
            Arc::new(Int64Array::from(vec![1, 1])),
        ],
    )
    .unwrap();
    let err = op.on_batch(0, nulls, &mut ctx, &mut out).unwrap_err();
    assert!(matches!(err, Error::Data { .. }), "{err}");
    let other = b4(&[(1, 1, None, None)]);
    let err = op.on_batch(0, other, &mut ctx, &mut out).unwrap_err();
    assert!(matches!(err, Error::Schema(_)), "{err}");
}

#[test]
fn long_runs_compact_state_and_stay_exact() {
    for frame in [
        OverFrame::Rows { preceding: Some(2) },
        OverFrame::Range {
            preceding_ms: Some(3),
        },
        OverFrame::Rows { preceding: None },
    ] {
        let steps = generate(99, 2500);
        let (expected, _) = naive(&steps, &[K], frame);
        let mut op = make(&[K], frame);
        let items = run_steps(
            &mut op,
            &mut OpContext::new(0, 1, 128),
            &harness_steps(&steps),
        )
        .unwrap();
        assert_eq!(actual(&items), expected, "{frame:?}");
        // 4 partitions: at most the frame's rows each stay (ROWS 2: 2 rows).
        if frame == (OverFrame::Rows { preceding: Some(2) }) {
            assert!(op.retained_rows() <= 8, "{}", op.retained_rows());
        }
        assert!(expected.len() > 3000, "{} rows", expected.len());
    }
}

/// Processing time: rows are stamped and processed on arrival, in arrival order whatever
/// their time column says, and nothing is late, even below the watermark.
#[test]
fn processing_time_frames_follow_arrival_order() {
    let calls = vec![
        call(AggKind::Count, None, "cnt"),
        call(AggKind::Sum, Some(2), "sum"),
    ];
    let mut op = OverAggregate::new(vec![1], 0, OverFrame::Rows { preceding: Some(1) }, calls)
        .unwrap()
        .with_processing_time();
    let mut ctx = OpContext::new(0, 1, 128);
    let before = crate::time::now_ms();
    let steps = vec![
        CStep::Batch(0, b3(&[v3(50, 1, 10), v3(3, 1, 20), v3(7, 2, 5)])),
        CStep::Watermark(100),
        // Below the watermark: still processed.
        CStep::Batch(0, b3(&[v3(1, 1, 40), v3(2, 2, 1)])),
        CStep::End,
    ];
    let items = run_steps(&mut op, &mut ctx, &steps).unwrap();
    // Output right after each batch, before the watermark that follows it.
    let got: Vec<String> = lines(&items)
        .into_iter()
        .map(|l| {
            l.split_once(' ')
                .map_or(l.clone(), |(_, rest)| rest.to_string())
        })
        .collect();
    assert_eq!(
        got,
        [
            "1 10 1 10",
            "1 20 2 30",
            "2 5 1 5",
            "100",
            "1 40 2 60",
            "2 1 2 6"
        ]
    );
    // The time column holds the stamps: the wall clock, non-decreasing.
    let stamps: Vec<i64> = items
        .iter()
        .filter_map(|i| match i {
            OutItem::Batch(_, b) => Some(
                b.column(0)
                    .as_primitive::<arrow::datatypes::Int64Type>()
                    .values()
                    .to_vec(),
            ),
            _ => None,
        })
        .flatten()
        .collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{stamps:?}");
    assert!(stamps.iter().all(|&t| t >= before), "{stamps:?}");
}
