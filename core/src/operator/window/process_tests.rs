//! Unit tests of processing-time windows and window process functions, fed directly.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;

use super::oracle::{drive, process_rows, report_fn, Ev, Run, Step};
use super::tests::{counts, main_batches, spec, tumble, Harness};
use super::{AggSpec, WindowAggregate, WindowProcess};
use crate::operator::{Operator, OutItem};
use crate::window::{TimeDomain, WindowAssigner, WindowSpec};

fn proc_spec(a: WindowAssigner) -> WindowSpec {
    WindowSpec {
        domain: TimeDomain::ProcessingTime,
        ..WindowSpec::new(a)
    }
}

#[test]
fn processing_time_end_of_input_fires_one_window_per_key() {
    // One hour windows: a single batch gets one arrival time, so one window per key.
    let op = WindowAggregate::new(
        vec!["k".into()],
        None,
        proc_spec(tumble(3_600_000)),
        vec![AggSpec::count("c")],
    )
    .unwrap();
    let mut h = Harness::new(op);
    assert!(h.batch(&[(1, 1, 1), (99_999, 2, 1), (-7, 1, 1)]).is_empty());
    let timer = h.ctx.processing_timer().expect("a callback is requested");
    // Watermarks do not fire processing-time windows, except the final one (end of input):
    // results then precede it, as event-time results do.
    assert!(counts(&h.wm(i64::MAX - 1)).is_empty());
    let rows = counts(&h.wm(i64::MAX));
    assert!(counts(&h.end()).is_empty());
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0].0, rows[0].3, rows[1].0, rows[1].3), (1, 2, 2, 1));
    assert_eq!(
        rows[0].2 - 1,
        timer,
        "the callback is at the window's end - 1"
    );
    assert_eq!(rows[0].2 - rows[0].1, 3_600_000);
}

#[test]
fn processing_time_callback_fires_due_windows() {
    let op = WindowAggregate::new(
        vec!["k".into()],
        None,
        proc_spec(tumble(1000)),
        vec![AggSpec::count("c")],
    )
    .unwrap();
    let mut h = Harness::new(op);
    h.batch(&[(0, 1, 1), (0, 1, 1)]);
    let t = h.ctx.take_processing_timer().unwrap();
    h.op.on_processing_time(t - 1, &mut h.ctx, &mut h.out)
        .unwrap();
    assert!(h.out.is_empty(), "not due yet");
    assert_eq!(h.ctx.take_processing_timer(), Some(t), "asks again");
    h.op.on_processing_time(t, &mut h.ctx, &mut h.out).unwrap();
    let items: Vec<OutItem> = h.out.drain().collect();
    assert_eq!(
        counts(&items)
            .iter()
            .map(|r| (r.0, r.3))
            .collect::<Vec<_>>(),
        vec![(1, 2)]
    );
    assert_eq!(h.ctx.processing_timer(), None, "nothing open");
    assert!(h.end().is_empty());
}

#[test]
fn processing_time_sessions_and_process() {
    let op = WindowAggregate::new(
        vec!["k".into()],
        None,
        proc_spec(WindowAssigner::Session { gap: 60_000 }),
        vec![AggSpec::count("c")],
    )
    .unwrap();
    let mut h = Harness::new(op);
    h.batch(&[(1, 1, 1), (2, 2, 1), (3, 1, 1)]);
    let rows = counts(&h.end());
    assert_eq!(
        rows.iter().map(|r| (r.0, r.3)).collect::<Vec<_>>(),
        vec![(1, 2), (2, 1)]
    );

    let op = WindowProcess::new(
        vec!["k".into()],
        None,
        proc_spec(tumble(3_600_000)),
        report_fn(true),
    )
    .unwrap();
    let mut h = Harness::new(op);
    h.batch(&[(1, 1, 1), (2, 2, 1), (3, 1, 1)]);
    let run_items = h.end();
    let ids: Vec<String> = main_batches(&run_items)
        .iter()
        .flat_map(|b| {
            b.column(3)
                .as_string::<i32>()
                .iter()
                .map(|s| s.unwrap().to_string())
                .collect::<Vec<_>>()
        })
        .collect();
    assert_eq!(ids, vec!["1,3", "2"]);
}

#[test]
fn process_gets_each_key_in_arrival_order() {
    let op = WindowProcess::new(
        vec!["k".into()],
        Some("ts".into()),
        spec(tumble(10)),
        report_fn(true),
    )
    .unwrap();
    let mut h = Harness::new(op);
    h.batch(&[(5, 1, 0), (1, 2, 0), (3, 1, 0)]);
    h.batch(&[(2, 1, 0), (15, 2, 0)]);
    let items = h.wm(9);
    let batches = main_batches(&items);
    assert_eq!(batches.len(), 1, "results of a window are concatenated");
    let run = Run {
        main: batches,
        side: vec![],
        metrics: Default::default(),
    };
    assert_eq!(
        process_rows(&run),
        vec![(1, 0, 10, "1,3,4".to_string()), (2, 0, 10, "2".to_string())]
    );
    // the key order inside the window's batch is first appearance
    assert_eq!(
        run.main[0].column(0).as_primitive::<Int64Type>().values(),
        &[1, 2]
    );
}

#[test]
fn process_with_lateness_refires_with_all_rows_and_releases_batches() {
    let s = WindowSpec {
        allowed_lateness: 10,
        ..spec(tumble(10))
    };
    let op = WindowProcess::new(vec!["k".into()], Some("ts".into()), s, report_fn(true)).unwrap();
    let mut h = Harness::new(op);
    h.batch(&[(1, 1, 0), (2, 2, 0)]);
    h.wm(9);
    let run = |items: &[OutItem]| Run {
        main: main_batches(items),
        side: vec![],
        metrics: Default::default(),
    };
    let items = h.batch(&[(3, 1, 0)]);
    assert_eq!(
        process_rows(&run(&items)),
        vec![(1, 0, 10, "1,3".to_string())]
    );
    assert_eq!(h.op.retained_batches(), 2);
    h.wm(19);
    assert_eq!(
        h.op.retained_batches(),
        0,
        "purged windows release their rows"
    );
}

#[test]
fn process_results_for_bounded_input() {
    let steps = vec![
        Step::Batch(vec![
            Ev {
                id: 1,
                ts: 3,
                key: 1,
                v: None,
            },
            Ev {
                id: 2,
                ts: 30,
                key: 1,
                v: None,
            },
        ]),
        Step::Batch(vec![Ev {
            id: 3,
            ts: 4,
            key: 1,
            v: None,
        }]),
        Step::Wm(i64::MAX),
    ];
    let mut op = WindowProcess::new(
        vec!["k".into()],
        Some("ts".into()),
        spec(WindowAssigner::Session { gap: 10 }),
        report_fn(true),
    )
    .unwrap();
    let run = drive(&mut op, &steps);
    assert_eq!(
        process_rows(&run),
        vec![(1, 3, 14, "1,3".to_string()), (1, 30, 40, "2".to_string())]
    );
    assert_eq!(op.retained_batches(), 0);
}

/// Throughput of the tumble-count hot path (run with `--release -- --ignored --nocapture`).
#[test]
#[ignore = "timing; run by hand in release mode"]
fn throughput_tumble_count() {
    use std::sync::Arc;
    use std::time::Instant;

    use arrow::array::{ArrayRef, Int64Array, RecordBatch, TimestampMillisecondArray};
    use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

    use crate::operator::{OpContext, Output};
    use crate::time::Watermark;

    let schema = Arc::new(Schema::new(vec![
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("k", DataType::Int64, false),
    ]));
    let (rows, batch) = (10_000_000i64, 16 * 1024i64);
    let batches: Vec<RecordBatch> = (0..rows / batch)
        .map(|b| {
            let ids = b * batch..(b + 1) * batch;
            // 1M events per second of event time, 10k keys
            let ts = TimestampMillisecondArray::from_iter_values(ids.clone().map(|i| i / 1000));
            let k = Int64Array::from_iter_values(ids.map(|i| (i * 7919) % 10_000));
            RecordBatch::try_new(schema.clone(), vec![Arc::new(ts) as ArrayRef, Arc::new(k)])
                .unwrap()
        })
        .collect();
    let tumble = WindowAssigner::Tumble {
        size: 1000,
        offset: 0,
    };
    let hop = WindowAssigner::Hop {
        size: 5000,
        slide: 1000,
        offset: 0,
    };
    for (a, keys) in [
        (tumble, vec!["k".to_string()]),
        (tumble, vec![]),
        (hop, vec!["k".to_string()]),
    ] {
        let spec = WindowSpec::new(a);
        let mut op = WindowAggregate::new(
            keys.clone(),
            Some("ts".into()),
            spec,
            vec![AggSpec::count("c")],
        )
        .unwrap();
        let mut ctx = OpContext::new(0, 1, 128);
        let mut out = Output::new();
        let started = Instant::now();
        let mut results = 0;
        for b in &batches {
            let wm = Watermark(
                b.column(0)
                    .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                    .value(b.num_rows() - 1)
                    - 1,
            );
            op.on_batch(0, b.clone(), &mut ctx, &mut out).unwrap();
            ctx.watermark = wm;
            op.on_watermark(wm, &mut ctx, &mut out).unwrap();
            for item in out.drain() {
                if let OutItem::Batch(_, b) = item {
                    results += b.num_rows();
                }
            }
        }
        let secs = started.elapsed().as_secs_f64();
        eprintln!(
            "{a:?} count keys {keys:?}: {:.1} M rows/s ({results} results)",
            rows as f64 / secs / 1e6
        );
    }
}
