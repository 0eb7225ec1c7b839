//! Helpers shared by the tests that compare query output with Flink's golden rows.

use std::path::{Path, PathBuf};

/// The repository root.
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The rows of every committed file in `dir`, sorted; fails on a leftover in-progress file.
pub fn read_rows(dir: &Path) -> Vec<String> {
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

/// Flink's rows for `query` (`tests/golden/nexmark/<query>.csv`), sorted.
pub fn golden(query: &str) -> Vec<String> {
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

/// Fail with a few missing and extra rows unless `got` equals Flink's rows for `query`.
pub fn check_rows(query: &str, parallelism: usize, got: Vec<String>) {
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

/// The rows of a query result as Flink's `csv` format writes them (minimal quoting), sorted.
#[allow(dead_code)] // used by some of the test binaries that include this module
pub fn csv_rows(result: &millstream::core::sql::QueryResult) -> Vec<String> {
    use millstream::connectors::sql::format::{ValueFormatter, ValueStyle};
    let batch = result.final_rows().unwrap();
    let formatters: Vec<ValueFormatter<'_>> = batch
        .columns()
        .iter()
        .zip(&result.columns)
        .map(|(a, c)| ValueFormatter::new(a.as_ref(), ValueStyle::Csv).with_sql_type(&c.ty))
        .collect();
    let mut rows: Vec<String> = (0..batch.num_rows())
        .map(|r| {
            formatters
                .iter()
                .map(|f| {
                    let v = f.value(r).unwrap_or_default();
                    if v.contains([',', '"', '\n']) {
                        format!("\"{}\"", v.replace('"', "\"\""))
                    } else {
                        v
                    }
                })
                .collect::<Vec<_>>()
                .join(",")
        })
        .collect();
    rows.sort();
    rows
}
