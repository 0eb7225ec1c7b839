//! The Nexmark queries produce the same rows as Apache Flink 2.3 on the same CSV files.
//!
//! Golden files: `tests/golden/nexmark/<q>.csv`, written by Flink through
//! `../shared/flink/run_query.py` on `tests/data/nexmark` (see `tests/golden/regenerate.sh`).
//! Rows are compared as multisets (both sides sorted), at parallelism 1 and 4.

mod common;

use common::{read_rows, root};
use std::sync::Arc;

use millstream::connectors::file::CsvSinkFactory;
use millstream::core::api::StreamExecutionEnvironment;
use millstream::nexmark::{build_query, NexmarkInput, QUERIES};

fn run(query: &str, parallelism: usize) -> Vec<String> {
    let out = tempfile::tempdir().unwrap();
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(parallelism);
    // Small batches so windows, exchanges and watermarks interleave as in a long run.
    env.set_batch_size(1000);
    let input = NexmarkInput::Csv(root().join("tests/data/nexmark"));
    build_query(&env, &input, query)
        .unwrap()
        .sink_to(Arc::new(CsvSinkFactory::new(out.path())));
    env.execute(query)
        .unwrap_or_else(|e| panic!("{query} p={parallelism}: {e}"));
    read_rows(out.path())
}

fn check(query: &str, parallelism: usize) {
    common::check_rows(query, parallelism, run(query, parallelism));
}

macro_rules! golden_tests {
    ($($name:ident => $q:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                check($q, 1);
                check($q, 4);
            }
        )*
    };
}

golden_tests!(
    q0_equals_flink => "q0",
    q1_equals_flink => "q1",
    q2_equals_flink => "q2",
    q3_equals_flink => "q3",
    q5_equals_flink => "q5",
    q7_equals_flink => "q7",
    q8_equals_flink => "q8",
    tumble_count_equals_flink => "tumble_count",
);

#[test]
fn every_query_has_a_golden_file() {
    for q in QUERIES {
        assert!(
            root()
                .join(format!("tests/golden/nexmark/{q}.csv"))
                .exists(),
            "{q}"
        );
    }
}

#[test]
fn missing_data_directory_names_the_file() {
    let env = StreamExecutionEnvironment::new();
    let err = build_query(&env, &NexmarkInput::Csv("/nonexistent/dir".into()), "q0")
        .err()
        .expect("must fail")
        .to_string();
    assert!(err.contains("/nonexistent/dir/bid.csv"), "{err}");
}
