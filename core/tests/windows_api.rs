//! Windows through the whole runtime (sources, watermarks, key_by exchange, window
//! operators, collect), checked against brute-force computations over the same events, at
//! several parallelisms and batch sizes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, Int64Array, TimestampMillisecondArray};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use arrow::record_batch::RecordBatch;
use millstream_core::api::StreamExecutionEnvironment;
use millstream_core::operator::window::AggSpec;
use millstream_core::time::WatermarkStrategy;
use millstream_core::window::WindowAssigner;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

type Event = (i64, i64, i64); // key, ts, value

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new(
            "ts",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
        Field::new("v", DataType::Int64, false),
    ]))
}

fn events(seed: u64, n: usize, disorder: i64) -> Vec<Event> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n)
        .map(|i| {
            let ts = i as i64 * 7 - rng.random_range(0..=disorder);
            (rng.random_range(0..13), ts, rng.random_range(-50..100))
        })
        .collect()
}

fn to_batches(ev: &[Event], rng: &mut StdRng) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < ev.len() {
        let n = rng.random_range(1..200).min(ev.len() - i);
        let part = &ev[i..i + n];
        out.push(
            RecordBatch::try_new(
                schema(),
                vec![
                    Arc::new(Int64Array::from_iter_values(part.iter().map(|e| e.0))),
                    Arc::new(TimestampMillisecondArray::from_iter_values(
                        part.iter().map(|e| e.1),
                    )),
                    Arc::new(Int64Array::from_iter_values(part.iter().map(|e| e.2))),
                ],
            )
            .unwrap(),
        );
        i += n;
    }
    out
}

/// (key, start, end) -> (count, sum)
type Table = BTreeMap<(i64, i64, i64), (i64, i64)>;

fn run(assigner: WindowAssigner, ev: &[Event], parallelism: usize, seed: u64) -> Table {
    let mut rng = StdRng::seed_from_u64(seed);
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(parallelism);
    let out = env
        .from_record_batches(schema(), to_batches(ev, &mut rng))
        .unwrap()
        .assign_timestamps_and_watermarks(WatermarkStrategy::bounded_out_of_orderness(
            "ts",
            Duration::from_millis(500),
        ))
        .key_by(["k"])
        .window(assigner)
        .aggregate(vec![AggSpec::count("c"), AggSpec::sum("v", "s")])
        .collect();
    env.execute("windows").unwrap();
    let mut t = Table::new();
    for b in out.take() {
        let col = |n: &str| b.column_by_name(n).unwrap().clone();
        let k = col("k");
        let k = k.as_any().downcast_ref::<Int64Array>().unwrap();
        let ws = col("window_start");
        let ws = ws
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        let we = col("window_end");
        let we = we
            .as_any()
            .downcast_ref::<TimestampMillisecondArray>()
            .unwrap();
        let c = col("c");
        let c = c.as_any().downcast_ref::<Int64Array>().unwrap();
        let s = col("s");
        let s = s.as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..b.num_rows() {
            let prev = t.insert(
                (k.value(i), ws.value(i), we.value(i)),
                (c.value(i), s.value(i)),
            );
            assert!(prev.is_none(), "window fired twice");
        }
    }
    t
}

fn assert_tables(got: &Table, want: &Table, what: &str) {
    if got != want {
        let missing: Vec<_> = want
            .iter()
            .filter(|(k, v)| got.get(k) != Some(v))
            .take(5)
            .collect();
        let extra: Vec<_> = got
            .iter()
            .filter(|(k, v)| want.get(k) != Some(v))
            .take(5)
            .collect();
        panic!("{what}: {} windows, expected {}; expected but not got {missing:?}; got but not expected {extra:?}", got.len(), want.len());
    }
}

fn brute_fixed(windows_of: impl Fn(i64) -> Vec<(i64, i64)>, ev: &[Event]) -> Table {
    let mut t = Table::new();
    for &(k, ts, v) in ev {
        for (s, e) in windows_of(ts) {
            let entry = t.entry((k, s, e)).or_insert((0, 0));
            entry.0 += 1;
            entry.1 += v;
        }
    }
    t
}

fn brute_session(gap: i64, ev: &[Event]) -> Table {
    let mut per_key: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for &(k, ts, v) in ev {
        per_key.entry(k).or_default().push((ts, v));
    }
    let mut t = Table::new();
    for (k, mut rows) in per_key {
        rows.sort();
        let mut start = rows[0].0;
        let mut end = start + gap;
        let mut acc = (0, 0);
        for (ts, v) in rows {
            // Flink's TimeWindow.intersects is inclusive: touching sessions merge.
            if ts > end {
                t.insert((k, start, end), acc);
                start = ts;
                acc = (0, 0);
            }
            end = end.max(ts + gap);
            acc.0 += 1;
            acc.1 += v;
        }
        t.insert((k, start, end), acc);
    }
    t
}

#[test]
fn tumble_hop_cumulate_session_match_brute_force() {
    for seed in 0..3u64 {
        let ev = events(seed, 3000, 400);
        for p in [1, 2, 3] {
            let tumble = run(
                WindowAssigner::tumble(Duration::from_millis(1000)),
                &ev,
                p,
                seed,
            );
            let want = brute_fixed(
                |ts| {
                    let s = ts.div_euclid(1000) * 1000;
                    vec![(s, s + 1000)]
                },
                &ev,
            );
            assert_tables(&tumble, &want, &format!("tumble seed={seed} p={p}"));

            let hop = run(
                WindowAssigner::hop(Duration::from_millis(1000), Duration::from_millis(300)),
                &ev,
                p,
                seed,
            );
            let want = brute_fixed(
                |ts| {
                    let mut w = Vec::new();
                    let mut s = ts.div_euclid(300) * 300;
                    while s > ts - 1000 {
                        w.push((s, s + 1000));
                        s -= 300;
                    }
                    w
                },
                &ev,
            );
            assert_tables(&hop, &want, &format!("hop seed={seed} p={p}"));

            let cum = run(
                WindowAssigner::cumulate(Duration::from_millis(1000), Duration::from_millis(250)),
                &ev,
                p,
                seed,
            );
            let want = brute_fixed(
                |ts| {
                    let s = ts.div_euclid(1000) * 1000;
                    (1..=4)
                        .map(|k| (s, s + 250 * k))
                        .filter(|&(_, e)| e > ts)
                        .collect()
                },
                &ev,
            );
            assert_tables(&cum, &want, &format!("cumulate seed={seed} p={p}"));

            let sess = run(
                WindowAssigner::session(Duration::from_millis(40)),
                &ev,
                p,
                seed,
            );
            assert_tables(
                &sess,
                &brute_session(40, &ev),
                &format!("session seed={seed} p={p}"),
            );
        }
    }
}

fn batch(rows: &[(i64, i64, i64)]) -> RecordBatch {
    let mut rng = StdRng::seed_from_u64(0);
    let mut b = to_batches(rows, &mut rng);
    arrow::compute::concat_batches(&schema(), &std::mem::take(&mut b)).unwrap()
}

#[test]
fn late_rows_are_dropped_and_counted_or_side_output() {
    // Batch 1 moves the watermark to 19_999; the row at 1_000 in batch 2 is late for
    // window [0, 10_000), which has already fired.
    let input = vec![
        batch(&[(1, 500, 1), (1, 20_000, 1)]),
        batch(&[(1, 1_000, 5), (1, 20_500, 1)]),
    ];
    for side in [false, true] {
        let env = StreamExecutionEnvironment::new();
        env.set_parallelism(1);
        let windowed = env
            .from_record_batches(schema(), input.clone())
            .unwrap()
            .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous("ts"))
            .key_by(["k"])
            .window(WindowAssigner::tumble(Duration::from_secs(10)));
        let windowed = if side {
            windowed.side_output_late_data()
        } else {
            windowed
        };
        let result = windowed.count("c").name("counts");
        let late = result.late_data().collect();
        let out = result.collect();
        let job = env.execute("late").unwrap();
        let rows = out.concat().unwrap().unwrap();
        let c = rows
            .column_by_name("c")
            .unwrap()
            .as_any()
            .downcast_ref::<Int64Array>()
            .unwrap()
            .clone();
        let mut counts: Vec<i64> = c.values().to_vec();
        counts.sort();
        assert_eq!(counts, vec![1, 2], "the late row must not be counted");
        let m = &job.operator("counts").unwrap().metrics;
        if side {
            assert_eq!(m.late_side_output, 1);
            assert_eq!(late.num_rows(), 1);
        } else {
            assert_eq!(m.late_dropped, 1);
            assert_eq!(late.num_rows(), 0);
        }
    }
}

#[test]
fn allowed_lateness_refires_the_window() {
    let input = vec![
        batch(&[(1, 500, 1), (1, 12_000, 1)]),
        batch(&[(1, 1_000, 5)]),
    ];
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(1);
    let out = env
        .from_record_batches(schema(), input)
        .unwrap()
        .assign_timestamps_and_watermarks(WatermarkStrategy::monotonous("ts"))
        .key_by(["k"])
        .window(WindowAssigner::tumble(Duration::from_secs(10)))
        .allowed_lateness(Duration::from_secs(5))
        .count("c")
        .collect();
    env.execute("lateness").unwrap();
    let rows = out.concat().unwrap().unwrap();
    let ws = rows
        .column_by_name("window_start")
        .unwrap()
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .unwrap()
        .clone();
    let c = rows
        .column_by_name("c")
        .unwrap()
        .as_any()
        .downcast_ref::<Int64Array>()
        .unwrap()
        .clone();
    let first: Vec<i64> = (0..rows.num_rows())
        .filter(|i| ws.value(*i) == 0)
        .map(|i| c.value(i))
        .collect();
    assert_eq!(
        first,
        vec![1, 2],
        "fired once on time, re-fired with the late row"
    );
}
