//! The Nexmark queries as Flink SQL text, run by Millstream's SQL planner, give the rows
//! Apache Flink 2.3 gives on the same CSV files.
//!
//! The scripts are the ones Flink ran (`tests/golden/nexmark/sql/`: `sources.sql` plus the
//! query, with `${SINK}` a filesystem CSV sink); the expected rows are Flink's
//! (`tests/golden/nexmark/<q>.csv`, from `tests/golden/regenerate.sh`). Each query runs at
//! parallelism 1 and 4. The queries with updating results (non-windowed aggregation, Top-N,
//! deduplication) run as a `SELECT` whose changelog is applied, as Flink's rows were
//! collected; into the filesystem sink they are refused, as Flink refuses them.

mod common;

use std::path::Path;

use common::{read_rows, root};

use millstream::connectors::sql::default_registry;
use millstream::core::runtime::JobConfig;
use millstream::core::sql::TableEnvironment;

/// The script Flink ran for `query`, writing CSV part files into `out`.
fn script(query: &str, out: &Path) -> String {
    let dir = root().join("tests/golden/nexmark/sql");
    let sources = std::fs::read_to_string(dir.join("sources.sql")).unwrap();
    let q = std::fs::read_to_string(dir.join(format!("{query}.sql"))).unwrap();
    let data = root().join("tests/data/nexmark");
    let sink = format!(
        "'connector' = 'filesystem', 'path' = '{}', 'format' = 'csv'",
        out.display()
    );
    let data = data.display().to_string();
    format!(
        "{}\n{}",
        sources.replace("${DATA_DIR}", &data),
        q.replace("${SINK}", &sink).replace("${DATA_DIR}", &data)
    )
}

fn env(parallelism: usize) -> TableEnvironment {
    let mut config = JobConfig {
        parallelism,
        ..JobConfig::default()
    };
    // Small batches so windows, exchanges and watermarks interleave as in a long run.
    config.batch.batch_size = 1000;
    TableEnvironment::new(config, default_registry())
}

fn run(query: &str, parallelism: usize) -> Vec<String> {
    let out = tempfile::tempdir().unwrap();
    let mut env = env(parallelism);
    env.execute_sql(&script(query, out.path()))
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
    sql_q0_equals_flink => "q0",
    sql_q1_equals_flink => "q1",
    sql_q2_equals_flink => "q2",
    sql_q3_equals_flink => "q3",
    sql_q5_equals_flink => "q5",
    sql_q7_equals_flink => "q7",
    sql_q8_equals_flink => "q8",
    sql_q11_equals_flink => "q11",
    sql_q14_equals_flink => "q14",
    sql_q20_equals_flink => "q20",
    sql_q21_equals_flink => "q21",
    sql_q22_equals_flink => "q22",
    sql_q13_lookup_join_equals_flink => "q13",
    sql_tumble_count_equals_flink => "tumble_count",
    sql_tumble_count_tvf_equals_flink => "tumble_count_tvf",
);

/// The script of an updating query as a `SELECT` (Flink's golden rows come from collecting
/// its changelog and applying it): the sources, then the query without its sink.
fn select_script(query: &str) -> String {
    let out = Path::new("/nonexistent");
    let text = script(query, out);
    let insert = format!("INSERT INTO nexmark_{query}");
    let at = text.find(&insert).unwrap();
    let sink = text.find(&format!("CREATE TABLE nexmark_{query}")).unwrap();
    format!("{}{}", &text[..sink], &text[at + insert.len()..])
}

/// Run an updating query as a `SELECT` and apply its changelog.
fn run_updating(query: &str, parallelism: usize) -> Vec<String> {
    use millstream::core::sql::StatementResult;
    let results = env(parallelism)
        .execute_sql(&select_script(query))
        .unwrap_or_else(|e| panic!("{query} p={parallelism}: {e}"));
    let Some(StatementResult::Rows(r)) = results.last() else {
        panic!("{query}: no rows")
    };
    assert!(r.is_updating(), "{query}: no updates in the changelog");
    common::csv_rows(r)
}

macro_rules! updating_golden_tests {
    ($($name:ident => $q:literal),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                common::check_rows($q, 1, run_updating($q, 1));
                common::check_rows($q, 4, run_updating($q, 4));
            }
        )*
    };
}

updating_golden_tests!(
    sql_q4_equals_flink => "q4",
    sql_q9_equals_flink => "q9",
    sql_q15_equals_flink => "q15",
    sql_q16_equals_flink => "q16",
    sql_q17_equals_flink => "q17",
    sql_q18_equals_flink => "q18",
    sql_q19_equals_flink => "q19",
);

/// An updating result cannot go into a sink that takes only inserts, as in Flink: the
/// error names the sink, and nothing is written.
#[test]
fn updating_results_are_refused_by_insert_only_sinks() {
    for q in ["q4", "q18"] {
        let out = tempfile::tempdir().unwrap();
        let err = env(1)
            .execute_sql(&script(q, out.path()))
            .err()
            .unwrap_or_else(|| panic!("{q} must be refused"))
            .to_string();
        assert!(
            err.contains("doesn't support consuming update changes") && err.contains("line "),
            "{q}: {err}"
        );
        assert!(read_rows(out.path()).is_empty(), "{q} wrote rows");
    }
}

/// DDL, `SHOW TABLES`, `DESCRIBE`, `EXPLAIN`, and errors that name the place.
#[test]
fn catalog_statements_explain_and_errors() {
    use millstream::core::sql::StatementResult;
    let out = tempfile::tempdir().unwrap();
    let mut env = env(1);
    let ddl = script("q0", out.path());
    let ddl = &ddl[..ddl.find("INSERT INTO").unwrap()];
    env.execute_sql(ddl).unwrap();

    let rows = |r: &StatementResult| -> Vec<String> {
        let StatementResult::Rows(q) = r else {
            panic!("not rows: {r:?}")
        };
        let b = q.final_rows().unwrap();
        (0..b.num_rows())
            .map(|i| {
                (0..b.num_columns())
                    .map(|c| arrow::util::display::array_value_to_string(b.column(c), i).unwrap())
                    .collect::<Vec<_>>()
                    .join("|")
            })
            .collect()
    };
    let r = env.execute_sql("SHOW TABLES;").unwrap();
    assert_eq!(rows(&r[0]), ["auction", "bid", "nexmark_q0", "person"]);
    let r = env.execute_sql("DESCRIBE bid;").unwrap();
    let d = rows(&r[0]);
    assert!(
        d.iter()
            .any(|l| l.starts_with("date_time|TIMESTAMP(3) *ROWTIME*|TRUE")),
        "{d:?}"
    );

    let r = env
        .execute_sql(
            "EXPLAIN SELECT bidder, COUNT(*) FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), \
             INTERVAL '10' SECOND)) GROUP BY bidder, window_start, window_end;",
        )
        .unwrap();
    let StatementResult::Explain(text) = &r[0] else {
        panic!("not an explain")
    };
    assert!(text.contains("WindowAggregate(groupBy=[bidder]"), "{text}");
    assert!(
        text.contains("TableSourceScan(table=[bid], fields=[bidder, date_time])"),
        "{text}"
    );
    assert!(text.contains("== Physical Execution Plan =="), "{text}");

    let err = env
        .execute_sql("SELECT auction,\n  nosuch FROM bid;")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("line 2, column 3") && err.contains("nosuch"),
        "{err}"
    );
    let err = env
        .execute_sql("SELECT * FROM missing_table;")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("missing_table") && err.contains("line 1"),
        "{err}"
    );
    let err = env
        .execute_sql("SELECT NO_SUCH_FN(price) FROM bid;")
        .unwrap_err()
        .to_string();
    assert!(err.contains("NO_SUCH_FN"), "{err}");
}

/// A `SELECT` returns its rows to the caller; registered batches are tables.
#[test]
fn queries_return_rows_and_registered_batches_are_tables() {
    use arrow::array::{Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Schema};
    use std::sync::Arc;
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, false),
        Field::new("v", DataType::Int64, false),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec!["a", "b", "c"])),
            Arc::new(Int64Array::from(vec![1, 20, 300])),
        ],
    )
    .unwrap();
    let mut env = env(2);
    env.register_batches("t", schema, vec![batch]).unwrap();
    let r = env
        .sql_query("SELECT UPPER(k) AS K, v * 2 AS v2 FROM t WHERE v > 5")
        .unwrap();
    let b = r.final_rows().unwrap();
    let mut got: Vec<(String, i64)> = (0..b.num_rows())
        .map(|i| {
            (
                b.column(0)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .unwrap()
                    .value(i)
                    .to_string(),
                b.column(1)
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .unwrap()
                    .value(i),
            )
        })
        .collect();
    got.sort();
    assert_eq!(got, [("B".to_string(), 40), ("C".to_string(), 600)]);
    assert_eq!(r.columns[0].name, "K");
}

/// Every file under `dir` with the partition values of its directories (`k=v`, `%XX`
/// escapes decoded) appended to each row, sorted.
fn partitioned_rows(dir: &Path) -> Vec<String> {
    fn walk(dir: &Path, parts: &[String], out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().to_string();
            assert!(
                !name.starts_with('.'),
                "in-progress file left: {}",
                path.display()
            );
            if path.is_dir() {
                let (_, value) = name.split_once('=').expect("a partition directory k=v");
                let mut p = parts.to_vec();
                p.push(unescape(value));
                walk(&path, &p, out);
            } else {
                let text = std::fs::read_to_string(&path).unwrap();
                for line in text.lines().filter(|l| !l.is_empty()) {
                    let mut row = line.to_string();
                    for v in parts {
                        row.push(',');
                        row.push_str(v);
                    }
                    out.push(row);
                }
            }
        }
    }
    fn unescape(v: &str) -> String {
        let bytes = v.as_bytes();
        let mut out = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' && i + 2 < bytes.len() {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                out.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                out.push(bytes[i]);
                i += 1;
            }
        }
        String::from_utf8(out).unwrap()
    }
    let mut rows = Vec::new();
    walk(dir, &[], &mut rows);
    rows.sort();
    rows
}

/// q10 writes into a sink `PARTITIONED BY (dt, hm)`: the rows Flink writes (its q10 SELECT
/// into an unpartitioned sink, `q10_flat.sql`) are the file rows plus the partition values
/// of their directories.
#[test]
fn sql_q10_partitioned_sink_equals_flink() {
    for p in [1, 4] {
        let out = tempfile::tempdir().unwrap();
        env(p)
            .execute_sql(&script("q10", out.path()))
            .unwrap_or_else(|e| panic!("q10 p={p}: {e}"));
        let got = partitioned_rows(out.path());
        common::check_rows("q10", p, got);
        // One directory per day of the data (events start just before midnight).
        let mut dirs: Vec<_> = std::fs::read_dir(out.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
            .collect();
        dirs.sort();
        assert_eq!(dirs, ["dt=2015-07-14", "dt=2015-07-15"], "q10 p={p}");
    }
}

/// q12 counts bids per bidder in processing-time windows of 10 s: the rows depend on the
/// wall clock, so the check is that every window is 10 s long and aligned, and that the
/// counts per bidder add up to the bidder's bids in the input.
#[test]
fn sql_q12_processing_time_window_counts_every_bid() {
    let bids = std::fs::read_to_string(root().join("tests/data/nexmark/bid.csv")).unwrap();
    let mut want: std::collections::BTreeMap<String, i64> = Default::default();
    for line in bids.lines().filter(|l| !l.is_empty()) {
        let bidder = line.split(',').nth(1).unwrap().to_string();
        *want.entry(bidder).or_default() += 1;
    }
    for p in [1, 4] {
        let out = tempfile::tempdir().unwrap();
        env(p)
            .execute_sql(&script("q12", out.path()))
            .unwrap_or_else(|e| panic!("q12 p={p}: {e}"));
        let mut got: std::collections::BTreeMap<String, i64> = Default::default();
        for row in read_rows(out.path()) {
            let f: Vec<&str> = row.split(',').collect();
            let (start, end) = (ts_ms(f[2]), ts_ms(f[3]));
            assert_eq!(end - start, 10_000, "q12: {row}");
            assert_eq!(start % 10_000, 0, "q12: {row}");
            *got.entry(f[0].to_string()).or_default() += f[1].parse::<i64>().unwrap();
        }
        assert_eq!(got, want, "q12 p={p}: bids per bidder");
    }
}

/// Milliseconds of `yyyy-MM-dd HH:mm:ss.SSS` since the day began (enough to compare).
fn ts_ms(v: &str) -> i64 {
    let (date, time) = v.split_once(' ').unwrap();
    let day: i64 = date.replace('-', "").parse().unwrap();
    let mut parts = time.split([':', '.']);
    let mut n = |_| parts.next().unwrap_or("0").parse::<i64>().unwrap();
    let (h, m, s, ms) = (n(0), n(1), n(2), n(3));
    day * 86_400_000 + ((h * 60 + m) * 60 + s) * 1000 + ms
}

/// The plan of `query` (its sources registered first, then `EXPLAIN` of its `INSERT`).
fn explain(query: &str) -> String {
    let out = tempfile::tempdir().unwrap();
    let script = script(query, out.path());
    let (ddl, insert) = script.split_at(script.find("INSERT INTO").unwrap());
    let mut env = env(2);
    env.execute_sql(ddl).unwrap();
    env.explain_sql(insert.trim().trim_end_matches(';'))
        .unwrap()
}

#[test]
fn sub_plans_are_reused_and_q7_is_an_interval_join() {
    // q5 reads `bid` once and runs its HOP aggregation once for both sides of its join.
    let q5 = explain("q5");
    let physical = q5.split("Physical").nth(1).unwrap();
    assert_eq!(physical.matches("csv(").count(), 1, "{q5}");
    assert_eq!(physical.matches("]: window_aggregate").count(), 2, "{q5}");
    // q7's bound on the window maxima's `window_end` keeps bids only while they can match.
    let q7 = explain("q7");
    assert!(q7.contains("IntervalJoin("), "{q7}");
    assert!(q7.contains("rightTime=[date_time]"), "{q7}");
    let physical = q7.split("Physical").nth(1).unwrap();
    assert_eq!(physical.matches("csv(").count(), 1, "{q7}");
    // Both uses of the bids drop, before their exchange, the bids below a running maximum:
    // those into the window maximum and those into the join with it.
    let (logical, physical) = q7.split_once("Physical").unwrap();
    assert_eq!(logical.matches("ExtremeFilter(").count(), 2, "{q7}");
    assert!(
        logical.contains("starting in [date_time - 10000, date_time - 0]"),
        "a bid meets the windows ending within 10 s after it: {q7}"
    );
    assert_eq!(physical.matches("ExtremeFilter").count(), 4, "{q7}");
}

#[test]
fn a_where_clause_and_select_list_run_in_one_calc_computing_repeats_once() {
    // q21 calls the same REGEXP_EXTRACT in its WHERE clause and its select list.
    let q21 = explain("q21");
    let logical = q21.split("Physical").next().unwrap();
    assert_eq!(logical.matches("Calc(").count(), 1, "{q21}");
    let once = logical
        .split(", once=[")
        .nth(1)
        .and_then(|rest| rest.lines().next())
        .expect("shared expressions are shown");
    assert_eq!(once.matches("REGEXP_EXTRACT").count(), 1, "{q21}");
    assert!(once.contains("LOWER(channel)"), "{q21}");
    // q14's price product is in its WHERE clause twice and in its select list.
    let q14 = explain("q14");
    assert!(q14.contains("once=[(0.908 * price)"), "{q14}");
    // q14's cheap WHERE is also pushed into the scan (the Calc keeps it); q21's calls a
    // regular expression, which is not run twice.
    let scan = |plan: &str| {
        let line = plan.lines().find(|l| l.contains("TableSourceScan"));
        line.unwrap_or_default().to_string()
    };
    assert!(scan(&q14).contains(", filter=[((("), "{q14}");
    assert!(!scan(&q21).contains("filter="), "{q21}");
}

#[test]
fn extreme_filters_are_planned_only_where_they_are_exact() {
    let out = tempfile::tempdir().unwrap();
    let script = script("q7", out.path());
    let (ddl, _) = script.split_at(script.find("INSERT INTO").unwrap());
    let mut env = env(2);
    env.execute_sql(ddl).unwrap();
    let filters = |env: &mut TableEnvironment, sub: &str, on: &str| {
        let sql = format!(
            "SELECT B.auction FROM bid B JOIN ({sub}) M ON {on} \
             WHERE B.date_time BETWEEN M.we - INTERVAL '10' SECOND AND M.we"
        );
        let plan = env.explain_sql(&sql).unwrap();
        let logical = plan.split("Physical").next().unwrap().to_string();
        (
            logical.matches("of its window").count(),
            logical.matches("starting in").count(),
        )
    };
    let tumble = "FROM TABLE(TUMBLE(TABLE bid, DESCRIPTOR(date_time), INTERVAL '10' SECOND))";
    let group = "GROUP BY window_start, window_end";
    let max = format!("SELECT MAX(price) AS m, window_end AS we {tumble} {group}");
    assert_eq!(filters(&mut env, &max, "B.price = M.m"), (1, 1));
    // Another aggregate beside MAX: every row counts, but the maxima are still exact.
    let counted =
        format!("SELECT MAX(price) AS m, COUNT(*) AS n, window_end AS we {tumble} {group}");
    assert_eq!(filters(&mut env, &counted, "B.price = M.m"), (0, 1));
    // Maxima of some rows only: a bid below one may still equal the maximum of the rest.
    let filtered =
        format!("SELECT MAX(price) AS m, window_end AS we {tumble} WHERE auction > 5 {group}");
    assert_eq!(filters(&mut env, &filtered, "B.price = M.m"), (1, 0));
    // A key computed from the price, or another column than the maximum's.
    assert_eq!(filters(&mut env, &max, "B.price + 1 = M.m"), (1, 0));
    assert_eq!(filters(&mut env, &max, "B.bidder = M.m"), (1, 0));
    // Keyed windows: the maximum is per key.
    let keyed = format!("SELECT MAX(price) AS m, window_end AS we {tumble} GROUP BY auction, window_start, window_end");
    assert_eq!(filters(&mut env, &keyed, "B.price = M.m"), (0, 0));
}
