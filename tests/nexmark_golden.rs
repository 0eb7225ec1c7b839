//! The Nexmark queries produce the same rows as Apache Flink 2.3 on the same CSV files.
//!
//! Golden files: `tests/golden/nexmark/<q>.csv`, written by Flink through
//! `../shared/flink/run_query.py` on `tests/data/nexmark` (see `tests/golden/regenerate.sh`).
//! Rows are compared as multisets (both sides sorted), at parallelism 1 and 4.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use millstream::connectors::file::CsvSinkFactory;
use millstream::core::api::StreamExecutionEnvironment;
use millstream::nexmark::{build_query, NexmarkInput, QUERIES};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn read_rows(dir: &Path) -> Vec<String> {
    let mut rows = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        assert!(
            !name.starts_with('.'),
            "in-progress file left behind: {name}"
        );
        let text = std::fs::read_to_string(&path).unwrap();
        rows.extend(text.lines().filter(|l| !l.is_empty()).map(String::from));
    }
    rows.sort();
    rows
}

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

fn golden(query: &str) -> Vec<String> {
    let text =
        std::fs::read_to_string(root().join(format!("tests/golden/nexmark/{query}.csv"))).unwrap();
    let mut rows: Vec<String> = text
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    rows.sort();
    rows
}

fn check(query: &str, parallelism: usize) {
    let got = run(query, parallelism);
    let want = golden(query);
    if got != want {
        let missing: Vec<_> = want.iter().filter(|r| !got.contains(r)).take(5).collect();
        let extra: Vec<_> = got.iter().filter(|r| !want.contains(r)).take(5).collect();
        panic!(
            "{query} at parallelism {parallelism}: {} rows, Flink {}; missing e.g. {missing:?}; extra e.g. {extra:?}",
            got.len(),
            want.len()
        );
    }
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
