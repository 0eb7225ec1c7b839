//! Backpressure: with a deliberately slow sink, queues stay within their bound and the source
//! cannot run ahead of the sink by more than the queued batches (asserted on counts, not time).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arrow::array::Int64Array;
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use millstream_core::api::StreamExecutionEnvironment;

#[test]
fn slow_sink_bounds_queues_and_source() {
    const ROWS: u64 = 100;
    const BATCHES: usize = 60;
    const CAPACITY: usize = 2;
    let schema = Arc::new(Schema::new(vec![Field::new("v", DataType::Int64, false)]));
    let batches: Vec<RecordBatch> = (0..BATCHES)
        .map(|b| {
            RecordBatch::try_new(
                schema.clone(),
                vec![Arc::new(Int64Array::from_iter_values(
                    (0..ROWS as i64).map(|i| b as i64 * 1000 + i),
                ))],
            )
            .unwrap()
        })
        .collect();
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(1).set_channel_capacity(CAPACITY);
    let progress = env.progress();
    let seen = Arc::new(AtomicU64::new(0));
    let worst_lead = Arc::new(AtomicU64::new(0));
    let (seen2, lead2) = (seen.clone(), worst_lead.clone());
    let out = env
        .from_record_batches(schema, batches)
        .unwrap()
        .rebalance()
        .map_batches(move |b| {
            std::thread::sleep(Duration::from_millis(3));
            let k = seen2.fetch_add(1, Ordering::SeqCst) + 1;
            let produced = progress.source_rows.load(Ordering::SeqCst) / ROWS;
            lead2.fetch_max(produced.saturating_sub(k), Ordering::SeqCst);
            Ok(b)
        })
        .name("slow")
        .collect();
    let result = env.execute("backpressure").unwrap();
    assert_eq!(out.num_rows() as u64, ROWS * BATCHES as u64);
    for ch in &result.channels {
        assert!(ch.max_depth <= ch.capacity, "{ch:?}");
    }
    let into_slow = result.channels.iter().find(|c| c.to == "slow").unwrap();
    assert_eq!(into_slow.capacity, CAPACITY);
    // Queued (capacity) + one being sent by the source + the one the sink works on.
    let lead = worst_lead.load(Ordering::SeqCst);
    assert!(
        lead <= CAPACITY as u64 + 2,
        "source ran {lead} batches ahead of the slow sink"
    );
    // And the source really was held back (the queue filled up).
    assert_eq!(into_slow.max_depth, CAPACITY, "{into_slow:?}");
}
