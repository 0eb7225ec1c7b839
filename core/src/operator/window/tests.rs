//! Unit tests of the window operators, fed directly (no runtime).

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, Float64Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{
    DataType, Field, Float64Type, Int64Type, Schema, TimeUnit, TimestampMillisecondType,
};
use arrow::record_batch::RecordBatch;
use millstream_kernels::agg::AggKind;

use super::oracle::{report_fn, to_batch, Ev};
use super::{AggSpec, WindowAggregate, WindowProcess};
use crate::error::Error;
use crate::operator::{OpContext, Operator, OutItem, Output};
use crate::time::Watermark;
use crate::window::{WindowAssigner, WindowSpec};

/// Feeds one operator and hands back what each call produced.
pub(super) struct Harness<O> {
    pub(super) op: O,
    pub(super) ctx: OpContext,
    pub(super) out: Output,
    next_id: i64,
}

impl<O: Operator> Harness<O> {
    pub(super) fn new(op: O) -> Self {
        Harness {
            op,
            ctx: OpContext::new(0, 1, 128),
            out: Output::new(),
            next_id: 0,
        }
    }

    /// Rows (ts, key, v) with ids counting up across calls.
    pub(super) fn evs(&mut self, rows: &[(i64, i64, i64)]) -> Vec<Ev> {
        rows.iter()
            .map(|&(ts, key, v)| {
                self.next_id += 1;
                Ev {
                    id: self.next_id,
                    ts,
                    key,
                    v: Some(v),
                }
            })
            .collect()
    }

    pub(super) fn batch(&mut self, rows: &[(i64, i64, i64)]) -> Vec<OutItem> {
        let b = to_batch(&self.evs(rows));
        self.op
            .on_batch(0, b, &mut self.ctx, &mut self.out)
            .unwrap();
        self.out.drain().collect()
    }

    pub(super) fn wm(&mut self, w: i64) -> Vec<OutItem> {
        self.ctx.watermark = Watermark(w);
        self.op
            .on_watermark(Watermark(w), &mut self.ctx, &mut self.out)
            .unwrap();
        self.out.drain().collect()
    }

    pub(super) fn end(&mut self) -> Vec<OutItem> {
        self.op.on_end(&mut self.ctx, &mut self.out).unwrap();
        self.out.drain().collect()
    }
}

pub(super) fn spec(a: WindowAssigner) -> WindowSpec {
    WindowSpec::new(a)
}

pub(super) fn tumble(size: i64) -> WindowAssigner {
    WindowAssigner::Tumble { size, offset: 0 }
}

pub(super) fn count_op(keys: &[&str], spec: WindowSpec) -> WindowAggregate {
    let keys = keys.iter().map(|k| k.to_string()).collect();
    WindowAggregate::new(
        keys,
        Some("ts".into()),
        spec,
        vec![AggSpec::count("c"), AggSpec::sum("v", "sum")],
    )
    .unwrap()
}

pub(super) fn col(b: &RecordBatch, name: &str) -> Vec<i64> {
    let c = b.column_by_name(name).unwrap();
    match c.data_type() {
        DataType::Int64 => c.as_primitive::<Int64Type>().values().to_vec(),
        _ => c
            .as_primitive::<TimestampMillisecondType>()
            .values()
            .to_vec(),
    }
}

pub(super) fn main_batches(items: &[OutItem]) -> Vec<RecordBatch> {
    items
        .iter()
        .filter_map(|i| match i {
            OutItem::Batch(0, b) => Some(b.clone()),
            _ => None,
        })
        .collect()
}

/// (key, start, end, count) of every result row, in output order.
pub(super) fn counts(items: &[OutItem]) -> Vec<(i64, i64, i64, i64)> {
    let mut rows = Vec::new();
    for b in main_batches(items) {
        let (k, s, e, c) = (
            col(&b, "k"),
            col(&b, "window_start"),
            col(&b, "window_end"),
            col(&b, "c"),
        );
        for i in 0..b.num_rows() {
            rows.push((k[i], s[i], e[i], c[i]));
        }
    }
    rows
}

pub(super) fn is_watermark(item: Option<&OutItem>, w: i64) -> bool {
    matches!(item, Some(OutItem::Watermark(x)) if x.0 == w)
}

#[test]
fn tumble_fires_on_watermark_in_order_of_end_then_forwards() {
    let mut h = Harness::new(count_op(&["k"], spec(tumble(10))));
    assert!(h
        .batch(&[(1, 1, 1), (2, 2, 1), (3, 1, 1), (12, 1, 1), (25, 3, 1)])
        .is_empty());
    // end - 1 = 9 is not reached by 8
    let items = h.wm(8);
    assert_eq!(items.len(), 1);
    let items = h.wm(9);
    assert_eq!(counts(&items), vec![(1, 0, 10, 2), (2, 0, 10, 1)]);
    assert!(is_watermark(items.last(), 9));
    let items = h.wm(40);
    assert_eq!(main_batches(&items).len(), 2, "one batch per window");
    assert_eq!(counts(&items), vec![(1, 10, 20, 1), (3, 20, 30, 1)]);
    assert!(is_watermark(items.last(), 40));
    let b = &main_batches(&h.wm(9))[..];
    assert!(b.is_empty());
}

#[test]
fn output_schema() {
    let mut h = Harness::new(count_op(&["k"], spec(tumble(10))));
    h.batch(&[(1, 1, 1)]);
    let b = main_batches(&h.wm(100)).remove(0);
    let names: Vec<&str> = b
        .schema_ref()
        .fields()
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    assert_eq!(
        names,
        ["k", "window_start", "window_end", "window_time", "c", "sum"]
    );
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    for n in ["window_start", "window_end", "window_time"] {
        assert_eq!(b.schema().field_with_name(n).unwrap().data_type(), &ts);
    }
    assert_eq!(col(&b, "window_time"), vec![9]);
    assert_eq!(
        b.schema().field_with_name("c").unwrap().data_type(),
        &DataType::Int64
    );
}

#[test]
fn result_rows_in_first_appearance_order() {
    let mut h = Harness::new(count_op(&["k"], spec(tumble(10))));
    h.batch(&[(1, 5, 1), (2, 3, 1)]);
    h.batch(&[(3, 5, 1), (4, 9, 1), (5, 3, 1)]);
    let keys: Vec<i64> = counts(&h.wm(9)).iter().map(|r| r.0).collect();
    assert_eq!(keys, vec![5, 3, 9]);
}

#[test]
fn bounded_input_final_watermark_fires_every_window() {
    for a in [
        tumble(10),
        WindowAssigner::Hop {
            size: 20,
            slide: 10,
            offset: 0,
        },
        WindowAssigner::Session { gap: 4 },
    ] {
        let mut h = Harness::new(count_op(&["k"], spec(a)));
        let rows: Vec<(i64, i64, i64)> = (0..200).map(|i| (i * 7 % 500, i % 3, 1)).collect();
        for chunk in rows.chunks(17) {
            h.batch(chunk);
        }
        let mut items = h.wm(100);
        let last = h.wm(Watermark::MAX.0);
        assert!(is_watermark(last.last(), i64::MAX));
        items.extend(last);
        assert_eq!(
            h.op.open_windows(),
            0,
            "{a:?}: every window fired and was purged"
        );
        assert!(
            h.end().is_empty(),
            "{a:?}: nothing left for the end of input"
        );
        let total: i64 = counts(&items).iter().map(|r| r.3).sum();
        let per_row = if matches!(a, WindowAssigner::Hop { .. }) {
            2
        } else {
            1
        };
        assert_eq!(
            total,
            200 * per_row,
            "{a:?}: every row counted in each of its windows"
        );
    }
}

#[test]
fn final_watermark_fires_all_windows_with_exact_counts() {
    let mut h = Harness::new(count_op(&["k"], spec(tumble(10))));
    h.batch(&[(5, 1, 1), (15, 1, 1), (16, 2, 1), (1005, 1, 1), (-3, 2, 1)]);
    let items = h.wm(i64::MAX);
    assert_eq!(
        counts(&items),
        vec![
            (2, -10, 0, 1),
            (1, 0, 10, 1),
            (1, 10, 20, 1),
            (2, 10, 20, 1),
            (1, 1000, 1010, 1)
        ]
    );
}

#[test]
fn late_rows_are_dropped_and_counted() {
    let mut h = Harness::new(count_op(&["k"], spec(tumble(10))));
    h.batch(&[(1, 1, 1)]);
    h.wm(19);
    let items = h.batch(&[(5, 1, 1), (25, 1, 1), (9, 2, 1)]);
    assert!(items.is_empty(), "no side output unless asked");
    assert_eq!(h.ctx.metrics.late_dropped, 2);
    assert_eq!(h.ctx.metrics.late_side_output, 0);
    assert_eq!(counts(&h.wm(29)), vec![(1, 20, 30, 1)]);
}

#[test]
fn late_rows_go_to_side_output_unchanged() {
    let s = WindowSpec {
        late_side_output: true,
        ..spec(tumble(10))
    };
    let mut h = Harness::new(count_op(&["k"], s));
    h.wm(19);
    let evs = h.evs(&[(5, 1, 7), (25, 1, 8), (19, 2, 9)]);
    h.op.on_batch(0, to_batch(&evs), &mut h.ctx, &mut h.out)
        .unwrap();
    let items: Vec<OutItem> = h.out.drain().collect();
    let side: Vec<&RecordBatch> = items
        .iter()
        .filter_map(|i| match i {
            OutItem::Batch(1, b) => Some(b),
            _ => None,
        })
        .collect();
    assert_eq!(side.len(), 1);
    assert_eq!(side[0], &to_batch(&[evs[0].clone(), evs[2].clone()]));
    assert_eq!(h.ctx.metrics.late_side_output, 2);
    assert_eq!(h.ctx.metrics.late_dropped, 0);

    // A batch that is late as a whole goes out as it is.
    let evs = h.evs(&[(1, 1, 1), (2, 1, 1)]);
    h.op.on_batch(0, to_batch(&evs), &mut h.ctx, &mut h.out)
        .unwrap();
    let items: Vec<OutItem> = h.out.drain().collect();
    assert!(matches!(&items[..], [OutItem::Batch(1, b)] if b.num_rows() == 2));
    assert_eq!(h.ctx.metrics.late_side_output, 4);
}

#[test]
fn allowed_lateness_refires_the_changed_keys() {
    let s = WindowSpec {
        allowed_lateness: 10,
        ..spec(tumble(10))
    };
    let mut h = Harness::new(count_op(&["k"], s));
    h.batch(&[(1, 1, 1), (2, 2, 1)]);
    assert_eq!(counts(&h.wm(9)), vec![(1, 0, 10, 1), (2, 0, 10, 1)]);
    // within lateness: updates and re-fires key 1 only, right away
    assert_eq!(
        counts(&h.batch(&[(5, 1, 1), (8, 1, 1)])),
        vec![(1, 0, 10, 3)]
    );
    assert!(
        counts(&h.wm(18)).is_empty(),
        "a fired window does not fire again unchanged"
    );
    assert_eq!(counts(&h.batch(&[(6, 2, 1)])), vec![(2, 0, 10, 2)]);
    // 9 + 10 <= 19: purged, later rows are late
    assert!(counts(&h.wm(19)).is_empty());
    assert_eq!(h.op.open_windows(), 0);
    assert!(h.batch(&[(7, 1, 1)]).is_empty());
    assert_eq!(h.ctx.metrics.late_dropped, 1);
}

#[test]
fn allowed_lateness_fires_a_new_window_at_once() {
    // A window that had no rows before the watermark passed it fires on its first row.
    let s = WindowSpec {
        allowed_lateness: 100,
        ..spec(tumble(10))
    };
    let mut h = Harness::new(count_op(&["k"], s));
    h.wm(50);
    assert_eq!(
        counts(&h.batch(&[(12, 4, 1), (55, 4, 1)])),
        vec![(4, 10, 20, 1)]
    );
    assert_eq!(counts(&h.wm(59)), vec![(4, 50, 60, 1)]);
}

#[test]
fn hop_counts_a_row_in_each_of_its_windows() {
    let a = WindowAssigner::Hop {
        size: 10,
        slide: 5,
        offset: 0,
    };
    let mut h = Harness::new(count_op(&["k"], spec(a)));
    h.batch(&[(7, 1, 1), (12, 1, 1)]);
    assert_eq!(
        counts(&h.wm(100)),
        vec![(1, 0, 10, 1), (1, 5, 15, 2), (1, 10, 20, 1)]
    );
}

#[test]
fn hop_rows_between_windows_are_ignored_not_late() {
    let a = WindowAssigner::Hop {
        size: 2,
        slide: 5,
        offset: 0,
    };
    let mut h = Harness::new(count_op(&["k"], spec(a)));
    h.batch(&[(1, 1, 1), (3, 1, 1), (6, 1, 1)]);
    assert_eq!(counts(&h.wm(100)), vec![(1, 0, 2, 1), (1, 5, 7, 1)]);
    assert_eq!(h.ctx.metrics.late_dropped, 0);
}

#[test]
fn cumulate_windows_share_their_start() {
    let a = WindowAssigner::Cumulate {
        max_size: 30,
        step: 10,
        offset: 0,
    };
    let mut h = Harness::new(count_op(&["k"], spec(a)));
    h.batch(&[(5, 1, 1), (15, 1, 1), (25, 1, 1), (35, 1, 1)]);
    assert_eq!(counts(&h.wm(19)), vec![(1, 0, 10, 1), (1, 0, 20, 2)]);
    assert_eq!(counts(&h.wm(39)), vec![(1, 0, 30, 3), (1, 30, 40, 1)]);
}

#[test]
fn batch_spanning_windows_and_sparse_batches() {
    let mut h = Harness::new(count_op(&["k"], spec(tumble(10))));
    h.batch(&[(1, 1, 1), (11, 1, 1), (2, 2, 1), (13, 2, 1), (4, 1, 1)]);
    assert_eq!(
        counts(&h.wm(19)),
        vec![(1, 0, 10, 2), (2, 0, 10, 1), (1, 10, 20, 1), (2, 10, 20, 1)]
    );
    // windows far apart: distinct windows found by sorting
    let mut h = Harness::new(count_op(&["k"], spec(tumble(1))));
    h.batch(&[(0, 1, 1), (1_000_000, 1, 1), (0, 1, 1), (-5, 2, 1)]);
    assert_eq!(
        counts(&h.wm(i64::MAX)),
        vec![(2, -5, -4, 1), (1, 0, 1, 2), (1, 1_000_000, 1_000_001, 1)]
    );
}

#[test]
fn sessions_merge_per_key() {
    let mut h = Harness::new(count_op(&["k"], spec(WindowAssigner::Session { gap: 5 })));
    h.batch(&[(1, 1, 1), (3, 1, 1), (12, 1, 1), (2, 2, 1)]);
    // k1: [1,8) and [12,17); k2: [2,7)
    assert_eq!(counts(&h.wm(6)), vec![(2, 2, 7, 1)]);
    // 7 bridges [1,8) and [12,17): [7,12) touches both
    h.batch(&[(7, 1, 1)]);
    assert_eq!(h.op.open_windows(), 1);
    assert_eq!(counts(&h.wm(100)), vec![(1, 1, 17, 4)]);
}

#[test]
fn session_windows_that_touch_merge() {
    // Flink's TimeWindow.intersects is inclusive: [1,6) and [6,11) merge.
    let mut h = Harness::new(count_op(&["k"], spec(WindowAssigner::Session { gap: 5 })));
    h.batch(&[(1, 1, 1), (6, 1, 1), (12, 1, 1)]);
    assert_eq!(counts(&h.wm(100)), vec![(1, 1, 11, 2), (1, 12, 17, 1)]);
}

#[test]
fn session_allowed_lateness() {
    let s = WindowSpec {
        allowed_lateness: 10,
        ..spec(WindowAssigner::Session { gap: 5 })
    };
    let mut h = Harness::new(count_op(&["k"], s));
    h.batch(&[(1, 1, 1)]);
    assert_eq!(counts(&h.wm(5)), vec![(1, 1, 6, 1)]);
    // joins the fired session without extending it past the watermark: re-fires now
    assert_eq!(counts(&h.batch(&[(0, 1, 1)])), vec![(1, 0, 6, 2)]);
    // extends it past the watermark: fires at the watermark
    assert!(counts(&h.batch(&[(4, 1, 1)])).is_empty());
    assert_eq!(counts(&h.wm(8)), vec![(1, 0, 9, 3)]);
    h.wm(19);
    assert_eq!(h.op.open_windows(), 0);
    assert!(h.batch(&[(2, 1, 1)]).is_empty());
    assert_eq!(h.ctx.metrics.late_dropped, 1);
}

#[test]
fn non_keyed_window_all() {
    let mut h = Harness::new(count_op(&[], spec(tumble(10))));
    h.batch(&[(1, 1, 2), (2, 2, 3), (13, 3, 4)]);
    let b = main_batches(&h.wm(100));
    assert_eq!(b.len(), 2);
    assert_eq!(b[0].schema().field(0).name(), "window_start");
    assert_eq!((col(&b[0], "c"), col(&b[0], "sum")), (vec![2], vec![5]));
    assert_eq!((col(&b[1], "c"), col(&b[1], "sum")), (vec![1], vec![4]));
}

#[test]
fn several_key_columns_and_result_types() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("ts", DataType::Int64, false),
        Field::new("name", DataType::Utf8, true),
        Field::new("n", DataType::Int64, false),
        Field::new("x", DataType::Float64, true),
    ]));
    let cols: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![1, 2, 3, 4])),
        Arc::new(StringArray::from(vec![Some("a"), None, Some("a"), None])),
        Arc::new(Int64Array::from(vec![7, 7, 7, 7])),
        Arc::new(Float64Array::from(vec![
            Some(1.5),
            Some(2.0),
            None,
            Some(4.0),
        ])),
    ];
    let batch = RecordBatch::try_new(schema, cols).unwrap();
    let aggs = vec![
        AggSpec::sum("x", "sx"),
        AggSpec::avg("n", "an"),
        AggSpec::new(AggKind::Max, Some("x"), "mx"),
        AggSpec::first("x", "fx"),
        AggSpec::last("x", "lx"),
        AggSpec::min("name", "mn"),
    ];
    let op = WindowAggregate::new(
        vec!["name".into(), "n".into()],
        Some("ts".into()),
        spec(tumble(10)),
        aggs,
    )
    .unwrap();
    let mut h = Harness::new(op);
    h.op.on_batch(0, batch, &mut h.ctx, &mut h.out).unwrap();
    let b = main_batches(&h.wm(9)).remove(0);
    let types: Vec<DataType> = b
        .schema()
        .fields()
        .iter()
        .map(|f| f.data_type().clone())
        .collect();
    let ts = DataType::Timestamp(TimeUnit::Millisecond, None);
    use DataType::*;
    assert_eq!(
        types,
        vec![
            Utf8,
            Int64,
            ts.clone(),
            ts.clone(),
            ts,
            Float64,
            Int64,
            Float64,
            Float64,
            Float64,
            Utf8
        ]
    );
    let names = b.column(0).as_string::<i32>();
    assert_eq!((names.value(0), names.is_null(1)), ("a", true));
    assert_eq!(
        b.column_by_name("sx")
            .unwrap()
            .as_primitive::<Float64Type>()
            .values(),
        &[1.5, 6.0]
    );
    assert_eq!(col(&b, "an"), vec![7, 7]);
    assert_eq!(
        b.column_by_name("lx")
            .unwrap()
            .as_primitive::<Float64Type>()
            .values(),
        &[1.5, 4.0]
    );
}

#[test]
fn errors() {
    let ok = || vec![AggSpec::count("c")];
    // event time needs a time column
    let e = WindowAggregate::new(vec![], None, spec(tumble(10)), ok()).unwrap_err();
    assert!(matches!(e, Error::Plan(_)), "{e}");
    assert!(WindowProcess::new(vec![], None, spec(tumble(10)), report_fn(false)).is_err());
    assert!(WindowAggregate::new(vec![], Some("ts".into()), spec(tumble(0)), ok()).is_err());
    let neg = WindowSpec {
        allowed_lateness: -1,
        ..spec(tumble(10))
    };
    assert!(WindowAggregate::new(vec![], Some("ts".into()), neg, ok()).is_err());

    let b = to_batch(&[Ev {
        id: 1,
        ts: 1,
        key: 1,
        v: None,
    }]);
    let mut ctx = OpContext::new(0, 1, 128);
    let mut out = Output::new();
    let run = |keys: Vec<&str>, aggs: Vec<AggSpec>, time: &str| {
        let keys = keys.into_iter().map(String::from).collect();
        let mut op = WindowAggregate::new(keys, Some(time.into()), spec(tumble(10)), aggs).unwrap();
        op.on_batch(
            0,
            b.clone(),
            &mut OpContext::new(0, 1, 128),
            &mut Output::new(),
        )
    };
    assert!(matches!(run(vec!["nope"], ok(), "ts"), Err(Error::Plan(m)) if m.contains("nope")));
    assert!(matches!(
        run(vec![], vec![AggSpec::sum("s", "x")], "ts"),
        Err(Error::Plan(_))
    ));
    assert!(matches!(
        run(vec![], vec![AggSpec::new(AggKind::Sum, None, "x")], "ts"),
        Err(Error::Plan(_))
    ));
    assert!(matches!(
        run(vec![], vec![AggSpec::count("window_end")], "ts"),
        Err(Error::Plan(_))
    ));
    assert!(matches!(run(vec![], ok(), "s"), Err(Error::Schema(_))));

    // null event time
    let schema = Arc::new(Schema::new(vec![Field::new(
        "ts",
        DataType::Timestamp(TimeUnit::Millisecond, None),
        true,
    )]));
    let nulls = RecordBatch::try_new(
        schema,
        vec![Arc::new(TimestampMillisecondArray::from(vec![
            Some(1),
            None,
        ]))],
    )
    .unwrap();
    let mut op = WindowAggregate::new(vec![], Some("ts".into()), spec(tumble(10)), ok()).unwrap();
    assert!(matches!(
        op.on_batch(0, nulls.clone(), &mut ctx, &mut out),
        Err(Error::Data { .. })
    ));
    // a later batch of another schema
    let mut op = WindowAggregate::new(vec![], Some("ts".into()), spec(tumble(10)), ok()).unwrap();
    op.on_batch(0, b.clone(), &mut ctx, &mut out).unwrap();
    assert!(matches!(
        op.on_batch(0, nulls, &mut ctx, &mut out),
        Err(Error::Schema(_))
    ));
    // an empty batch is nothing
    let mut op = WindowAggregate::new(vec![], Some("ts".into()), spec(tumble(10)), ok()).unwrap();
    op.on_batch(0, b.slice(0, 0), &mut ctx, &mut out).unwrap();
    assert_eq!(op.open_windows(), 0);
}

#[test]
fn tumble_with_offset_and_negative_times() {
    let a = WindowAssigner::Tumble {
        size: 10,
        offset: 3,
    };
    let mut h = Harness::new(count_op(&["k"], spec(a)));
    h.batch(&[(-8, 1, 1), (2, 1, 1), (3, 1, 1)]);
    assert_eq!(
        counts(&h.wm(i64::MAX)),
        vec![(1, -17, -7, 1), (1, -7, 3, 1), (1, 3, 13, 1)]
    );
}

#[test]
fn non_keyed_session_count_only() {
    // Sessions retain no column at all here: only row counts.
    let op = WindowAggregate::new(
        vec![],
        Some("ts".into()),
        spec(WindowAssigner::Session { gap: 3 }),
        vec![AggSpec::count("c")],
    )
    .unwrap();
    let mut h = Harness::new(op);
    h.batch(&[(1, 1, 1), (2, 2, 1), (10, 3, 1)]);
    h.batch(&[(4, 1, 1)]);
    let b = main_batches(&h.wm(i64::MAX));
    assert_eq!(b.len(), 1, "sessions fired by one watermark share a batch");
    assert_eq!(col(&b[0], "window_start"), vec![1, 10]);
    assert_eq!(col(&b[0], "window_end"), vec![7, 13]);
    assert_eq!(col(&b[0], "c"), vec![3, 1]);
    assert_eq!(h.op.retained_batches(), 0);
}
