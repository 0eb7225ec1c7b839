//! The window operators through the crate's public API only: a keyed tumbling count and a
//! window process function, fed directly as a task would.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Int64Type, Schema, TimeUnit, TimestampMillisecondType};
use millstream_core::operator::window::{AggSpec, WindowAggregate, WindowFn, WindowProcess};
use millstream_core::operator::{OpContext, Operator, OutItem, Output};
use millstream_core::time::Watermark;
use millstream_core::window::{WindowAssigner, WindowInfo, WindowSpec};

fn batch(rows: &[(i64, i64)]) -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("k", DataType::Int64, false),
    ]));
    let ts = TimestampMillisecondArray::from_iter_values(rows.iter().map(|r| r.0));
    let k = Int64Array::from_iter_values(rows.iter().map(|r| r.1));
    RecordBatch::try_new(schema, vec![Arc::new(ts) as ArrayRef, Arc::new(k)]).unwrap()
}

fn run(op: &mut dyn Operator, batches: &[RecordBatch]) -> Vec<RecordBatch> {
    let mut ctx = OpContext::new(0, 1, 128);
    let mut out = Output::new();
    for b in batches {
        op.on_batch(0, b.clone(), &mut ctx, &mut out).unwrap();
    }
    // A bounded input ends with the final watermark, then the end of input.
    ctx.watermark = Watermark::MAX;
    op.on_watermark(Watermark::MAX, &mut ctx, &mut out).unwrap();
    op.on_end(&mut ctx, &mut out).unwrap();
    let items: Vec<OutItem> = out.drain().collect();
    assert!(matches!(
        items.last(),
        Some(OutItem::Watermark(Watermark::MAX))
    ));
    items
        .into_iter()
        .filter_map(|i| match i {
            OutItem::Batch(0, b) => Some(b),
            _ => None,
        })
        .collect()
}

#[test]
fn tumbling_count_per_key() {
    let spec = WindowSpec::new(WindowAssigner::tumble(std::time::Duration::from_secs(1)));
    let mut op = WindowAggregate::new(
        vec!["k".into()],
        Some("ts".into()),
        spec,
        vec![AggSpec::count("n")],
    )
    .unwrap();
    let out = run(
        &mut op,
        &[
            batch(&[(10, 1), (20, 2), (999, 1)]),
            batch(&[(1000, 1), (1500, 1)]),
        ],
    );
    let rows: Vec<(i64, i64, i64)> = out
        .iter()
        .flat_map(|b| {
            let k = b.column(0).as_primitive::<Int64Type>().clone();
            let s = b
                .column(1)
                .as_primitive::<TimestampMillisecondType>()
                .clone();
            let n = b.column(4).as_primitive::<Int64Type>().clone();
            (0..b.num_rows()).map(move |i| (k.value(i), s.value(i), n.value(i)))
        })
        .collect();
    assert_eq!(rows, vec![(1, 0, 2), (2, 0, 1), (1, 1000, 2)]);
}

#[test]
fn process_function_per_key_and_window() {
    let f: WindowFn = Arc::new(|w: &WindowInfo, rows: &RecordBatch| {
        let schema = Arc::new(Schema::new(vec![
            Field::new("end", DataType::Int64, false),
            Field::new("rows", DataType::Int64, false),
        ]));
        let cols: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![w.end])),
            Arc::new(Int64Array::from(vec![rows.num_rows() as i64])),
        ];
        Ok(Some(RecordBatch::try_new(schema, cols)?))
    });
    let spec = WindowSpec::new(WindowAssigner::session(std::time::Duration::from_millis(
        100,
    )));
    let mut op = WindowProcess::new(vec!["k".into()], Some("ts".into()), spec, f).unwrap();
    let out = run(&mut op, &[batch(&[(0, 1), (50, 1), (500, 1), (60, 2)])]);
    let rows: Vec<(i64, i64)> = out
        .iter()
        .flat_map(|b| {
            let e = b.column(0).as_primitive::<Int64Type>().clone();
            let n = b.column(1).as_primitive::<Int64Type>().clone();
            (0..b.num_rows()).map(move |i| (e.value(i), n.value(i)))
        })
        .collect();
    assert_eq!(rows, vec![(150, 2), (160, 1), (600, 1)]);
}
