//! WordCount (Flink's example) against a brute-force count: the last rolling update of each
//! word equals its number of occurrences, and there is one update per occurrence.

use std::collections::HashMap;

use arrow::array::{Array, Int64Array, StringArray};
use millstream::prelude::*;

#[test]
fn wordcount_matches_brute_force() {
    let text: Vec<String> = (0..200)
        .map(|i| format!("w{} w{} common w{}", i % 7, i % 13, i % 3))
        .collect();
    let mut want: HashMap<String, i64> = HashMap::new();
    for line in &text {
        for w in line.split_whitespace() {
            *want.entry(w.to_string()).or_default() += 1;
        }
    }
    for p in [1, 3] {
        let env = StreamExecutionEnvironment::new();
        env.set_parallelism(p).set_batch_size(37);
        let out = env
            .from_collection(text.clone())
            .unwrap()
            .flat_map(|line: String, out: &mut Vec<(String, i64)>| {
                out.extend(line.split_whitespace().map(|w| (w.to_string(), 1)))
            })
            .key_by_fn(|wc: &(String, i64)| wc.0.clone())
            .reduce(|a: (String, i64), b: (String, i64)| (a.0, a.1 + b.1))
            .collect();
        env.execute("wordcount").unwrap();
        let mut last: HashMap<String, i64> = HashMap::new();
        let mut updates = 0;
        for b in out.take() {
            let words = b.column(0).as_any().downcast_ref::<StringArray>().unwrap();
            let counts = b.column(1).as_any().downcast_ref::<Int64Array>().unwrap();
            for i in 0..b.num_rows() {
                updates += 1;
                let c = last.entry(words.value(i).to_string()).or_default();
                // Per key, updates arrive in order: counts only grow.
                assert!(counts.value(i) > *c, "p={p}");
                *c = counts.value(i);
            }
        }
        assert_eq!(last, want, "p={p}");
        assert_eq!(updates, want.values().sum::<i64>(), "p={p}");
    }
}
