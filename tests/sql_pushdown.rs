//! Filter pushdown into sources: which `WHERE` clauses the planner hands to a scan, and
//! that results (rows, late rows, rows read) are the same as without it.

use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use millstream::connectors::sql::default_registry;
use millstream::core::runtime::JobConfig;
use millstream::core::sql::TableEnvironment;

/// Bids: `id, price, name, ts`; line 2 (filtered out by `price > 0`) has the latest time.
const BIDS: &str = "\
1,100,a,2020-01-01 00:00:01.000
2,-1,b,2020-01-01 00:01:40.000
3,100,c,2020-01-01 00:00:02.000
4,100,d,2020-01-01 00:00:03.000
5,100,e,2020-01-01 00:02:00.000
6,-5,f,2020-01-01 00:00:04.000
";

/// A table environment at parallelism 1 with batches of `batch` rows and table `t` over
/// `BIDS`; the directory holds the file.
fn env(batch: usize) -> (tempfile::TempDir, TableEnvironment) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bids.csv");
    std::fs::write(&path, BIDS).unwrap();
    let mut config = JobConfig {
        parallelism: 1,
        ..JobConfig::default()
    };
    config.batch.batch_size = batch;
    let mut env = TableEnvironment::new(config, default_registry());
    env.execute_sql(&format!(
        "CREATE TABLE t (id BIGINT, price BIGINT, name VARCHAR, ts TIMESTAMP(3),
           WATERMARK FOR ts AS ts - INTERVAL '4' SECOND)
         WITH ('connector' = 'filesystem', 'path' = '{}', 'format' = 'csv')",
        path.display()
    ))
    .unwrap();
    (dir, env)
}

fn scan_line(plan: &str) -> String {
    let line = plan.lines().find(|l| l.contains("TableSourceScan"));
    line.unwrap_or_default().to_string()
}

/// The values of column `col` (BIGINT) of a query's final rows, sorted.
fn column(env: &mut TableEnvironment, sql: &str, col: usize) -> Vec<i64> {
    let result = env.sql_query(sql).unwrap();
    let rows = result.final_rows().unwrap();
    let a = rows.column(col).as_primitive::<Int64Type>();
    let mut v: Vec<i64> = (0..a.len()).map(|i| a.value(i)).collect();
    v.sort_unstable();
    v
}

#[test]
fn cheap_exact_filters_over_a_scan_are_pushed_and_others_are_not() {
    let (_dir, mut env) = env(2);
    let pushed = env
        .explain_sql("SELECT id, name FROM t WHERE price > 0 AND id IN (1, 3)")
        .unwrap();
    let scan = scan_line(&pushed);
    assert!(scan.contains("filter=[((price > 0) AND"), "{pushed}");
    assert!(
        pushed.contains("where=["),
        "the Calc keeps the filter: {pushed}"
    );
    for not_pushed in [
        // A function call (cost), a division (it can fail), NOW() (not deterministic).
        "SELECT id, name FROM t WHERE UPPER(name) = 'A'",
        "SELECT id, name FROM t WHERE 10 / price > 1",
        "SELECT id, name FROM t WHERE ts < LOCALTIMESTAMP",
        // Over a join, not a scan.
        "SELECT a.id, b.name FROM t a JOIN t b ON a.id = b.id WHERE a.price > 0",
        // Only numbers read: nothing to save in the CSV source.
        "SELECT id FROM t WHERE price > 0",
    ] {
        let plan = env.explain_sql(not_pushed).unwrap();
        assert!(!plan.contains("filter=["), "{not_pushed}\n{plan}");
    }
}

#[test]
fn a_table_read_again_after_a_pushed_filter_is_read_whole() {
    // The first scan of `t` takes the filter; the second must not reuse that source.
    let (_dir, mut env) = env(2);
    let sql = "SELECT id, name FROM t WHERE price > 0 UNION ALL SELECT id, name FROM t";
    let plan = env.explain_sql(sql).unwrap();
    assert_eq!(plan.matches("filter=[").count(), 1, "{plan}");
    assert_eq!(
        column(&mut env, sql, 0),
        [1, 1, 2, 3, 3, 4, 4, 5, 5, 6],
        "ids 1, 3, 4, 5 twice"
    );
}

#[test]
fn late_rows_and_windows_are_as_without_pushdown() {
    // Batches of two lines. Line 2 fails the filter but carries the latest time of its
    // batch (1:40): the watermark after it is 1:36 whether or not the source filtered, so
    // lines 3 and 4 (0:02, 0:03) are late for the window [0:00, 0:10) either way, which
    // then counts only line 1.
    let (_dir, mut env) = env(2);
    let query = |filter: &str| {
        format!(
            "SELECT COUNT(name) AS n, MAX(id) AS last FROM t WHERE {filter}
             GROUP BY TUMBLE(ts, INTERVAL '10' SECOND)"
        )
    };
    let pushed = query("price > 0");
    // COALESCE is not pushed (not cheap); on these rows it is the same condition.
    let kept = query("COALESCE(price, 0) > 0");
    assert!(env.explain_sql(&pushed).unwrap().contains("filter=["));
    assert!(!env.explain_sql(&kept).unwrap().contains("filter=["));
    let (a, b) = (column(&mut env, &pushed, 0), column(&mut env, &kept, 0));
    assert_eq!(a, b);
    assert_eq!(
        a,
        [1, 1],
        "[0:00, 0:10) counts line 1 only; [2:00, 2:10) line 5"
    );
}

#[test]
fn rows_read_count_the_rows_the_source_dropped() {
    let (_dir, mut env) = env(2);
    let result = env
        .sql_query("SELECT id, name FROM t WHERE price > 0")
        .unwrap();
    assert_eq!(result.final_rows().unwrap().num_rows(), 4);
    let job = result.job.expect("a job ran");
    assert_eq!(job.source_rows, 6, "every line read");
}
