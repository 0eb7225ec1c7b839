//! Idle sources: a quiet input holds the watermark back until it is marked idle; with an
//! idleness timeout the other input's watermark fires the windows while the quiet one is
//! still open.

use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use millstream_core::api::StreamExecutionEnvironment;
use millstream_core::operator::sink::CollectHandle;
use millstream_core::time::WatermarkStrategy;
use millstream_core::window::WindowAssigner;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]))
}

/// Starts a job: a bounded input with rows in [0, 30 s) unioned with an open channel input.
/// Returns the collected windows and the sender that keeps the channel input open.
fn start(
    idleness: Option<Duration>,
) -> (
    CollectHandle,
    crossbeam_channel::Sender<RecordBatch>,
    std::thread::JoinHandle<()>,
) {
    let (tx_handle, rx_handle) = std::sync::mpsc::channel();
    let job = std::thread::spawn(move || {
        let env = StreamExecutionEnvironment::new();
        env.set_parallelism(1);
        let rows = RecordBatch::try_new(
            schema(),
            vec![
                Arc::new(Int64Array::from(vec![1, 1, 2])),
                Arc::new(TimestampMillisecondArray::from(vec![1_000, 12_000, 25_000])),
            ],
        )
        .unwrap();
        let strategy = WatermarkStrategy::monotonous("ts");
        let busy = env
            .from_record_batches(schema(), vec![rows])
            .unwrap()
            .assign_timestamps_and_watermarks(strategy.clone());
        let (tx, quiet) = env.from_channel(schema());
        let quiet = quiet.assign_timestamps_and_watermarks(match idleness {
            Some(t) => strategy.with_idleness(t),
            None => strategy,
        });
        let out = busy
            .union(&[quiet])
            .key_by(["k"])
            .window(WindowAssigner::tumble(Duration::from_secs(10)))
            .count("n")
            .collect_immediate();
        tx_handle.send((out, tx)).unwrap();
        env.execute("idleness").unwrap();
    });
    let (out, tx) = rx_handle.recv().unwrap();
    (out, tx, job)
}

#[test]
fn idle_input_lets_windows_fire() {
    let (out, tx, job) = start(Some(Duration::from_millis(50)));
    let deadline = Instant::now() + Duration::from_secs(20);
    while out.num_rows() < 3 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(10));
    }
    // All three windows fired while the quiet input is still open.
    assert_eq!(out.num_rows(), 3);
    drop(tx);
    job.join().unwrap();
}

#[test]
fn active_quiet_input_holds_the_watermark() {
    let (out, tx, job) = start(None);
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        out.num_rows(),
        0,
        "no window may fire while an active input has no watermark"
    );
    drop(tx);
    job.join().unwrap();
    assert_eq!(out.num_rows(), 3, "the end of input fires every window");
}
