//! End-to-end runtime tests through the public API: sources, chaining, exchanges,
//! watermarks, backpressure and failure propagation.

use std::sync::Arc;

use arrow::array::{Array, Int64Array};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::record_batch::RecordBatch;
use millstream_core::api::StreamExecutionEnvironment;
use millstream_core::expr::{col, lit};
use millstream_core::Error;

fn batches(n: usize, rows: usize) -> (Arc<Schema>, Vec<RecordBatch>) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Int64, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let out = (0..n)
        .map(|b| {
            let base = (b * rows) as i64;
            RecordBatch::try_new(
                schema.clone(),
                vec![
                    Arc::new(Int64Array::from_iter_values(
                        (0..rows as i64).map(|i| (base + i) % 7),
                    )),
                    Arc::new(Int64Array::from_iter_values(
                        (0..rows as i64).map(|i| base + i),
                    )),
                ],
            )
            .unwrap()
        })
        .collect();
    (schema, out)
}

fn sum_col(batches: &[RecordBatch], name: &str) -> i64 {
    batches
        .iter()
        .map(|b| {
            let a = b.column_by_name(name).unwrap();
            a.as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .values()
                .iter()
                .sum::<i64>()
        })
        .sum()
}

#[test]
fn filter_at_several_parallelisms() {
    for p in [1, 2, 4] {
        let env = StreamExecutionEnvironment::new();
        env.set_parallelism(p);
        let (schema, input) = batches(10, 100);
        let out = env
            .from_record_batches(schema, input)
            .unwrap()
            .filter(col("v").rem(lit(2)).eq(lit(0)))
            .collect();
        env.execute("filter").unwrap();
        let got = out.take();
        assert_eq!(
            got.iter().map(|b| b.num_rows()).sum::<usize>(),
            500,
            "p={p}"
        );
        assert_eq!(
            sum_col(&got, "v"),
            (0..1000).filter(|v| v % 2 == 0).sum::<i64>()
        );
    }
}

#[test]
fn key_by_sends_each_key_to_one_subtask() {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(3);
    let (schema, input) = batches(20, 50);
    let out = env
        .from_record_batches(schema, input)
        .unwrap()
        .key_by(["k"])
        .as_stream()
        .map_batches(|b| {
            // Tag each row with the thread that saw it.
            let name = std::thread::current().name().unwrap_or("").to_string();
            let sub: i64 = name.rsplit('#').next().unwrap().parse().unwrap();
            millstream_core::api::append_column(
                &b,
                "sub",
                Arc::new(Int64Array::from(vec![sub; b.num_rows()])),
            )
        })
        .collect();
    let result = env.execute("keyed").unwrap();
    let mut owner = std::collections::HashMap::new();
    let mut rows = 0;
    for b in out.take() {
        let k = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        let s = b.column(2).as_any().downcast_ref::<Int64Array>().unwrap();
        for i in 0..b.num_rows() {
            rows += 1;
            let prev = owner.insert(k.value(i), s.value(i));
            assert!(
                prev.is_none() || prev == Some(s.value(i)),
                "key {} on two subtasks",
                k.value(i)
            );
        }
    }
    assert_eq!(rows, 1000);
    assert!(result.plan.contains("HASH[k]"), "{}", result.plan);
}

#[test]
fn typed_map_and_flat_map() {
    let env = StreamExecutionEnvironment::new();
    let out = env
        .from_collection(vec!["a b".to_string(), "c".to_string()])
        .unwrap()
        .flat_map(|line: String, out: &mut Vec<String>| {
            out.extend(line.split(' ').map(String::from))
        })
        .map(|w: String| (w.clone(), w.len() as i64))
        .collect();
    env.execute("typed").unwrap();
    let b = out.concat().unwrap().unwrap();
    assert_eq!(b.num_rows(), 3);
}

#[test]
fn operator_error_fails_job_with_its_name() {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2);
    let (schema, input) = batches(50, 10);
    env.from_record_batches(schema, input)
        .unwrap()
        .rebalance()
        .map_batches(|b| {
            if b.column(1)
                .as_any()
                .downcast_ref::<Int64Array>()
                .unwrap()
                .value(0)
                >= 200
            {
                Err(Error::User("boom".into()))
            } else {
                Ok(b)
            }
        })
        .name("exploder")
        .collect();
    let err = env.execute("fails").unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("exploder") && msg.contains("boom"), "{msg}");
}

#[test]
fn unknown_column_is_a_plan_error() {
    let env = StreamExecutionEnvironment::new();
    let (schema, input) = batches(1, 10);
    env.from_record_batches(schema, input)
        .unwrap()
        .filter(col("nope").gt(lit(1)))
        .collect();
    let msg = env.execute("bad").unwrap_err().to_string();
    assert!(msg.contains("nope") && msg.contains("k, v"), "{msg}");
}

#[test]
fn each_source_reports_its_own_rows() {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2);
    let (schema, a) = batches(3, 10);
    let (_, b) = batches(2, 10);
    let s1 = env
        .from_record_batches(schema.clone(), a)
        .unwrap()
        .name("left");
    let s2 = env.from_record_batches(schema, b).unwrap().name("right");
    s1.union(&[s2]).collect();
    let result = env.execute("two sources").unwrap();
    assert_eq!(result.operator("left").unwrap().metrics.rows_out, 30);
    assert_eq!(result.operator("right").unwrap().metrics.rows_out, 20);
}

#[test]
fn union_merges_streams() {
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(2);
    let (schema, a) = batches(3, 10);
    let (_, b) = batches(2, 10);
    let s1 = env.from_record_batches(schema.clone(), a).unwrap();
    let s2 = env.from_record_batches(schema, b).unwrap();
    let out = s1.union(&[s2]).collect();
    env.execute("union").unwrap();
    assert_eq!(out.num_rows(), 50);
    let _ = out.take().iter().map(|b| b.column(0).len()).sum::<usize>();
}
