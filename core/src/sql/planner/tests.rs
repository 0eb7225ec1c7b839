//! Planner regressions found with the fuzz harness (`fuzz/`): inputs that once overflowed
//! the stack. Each is planned (`explain_sql`), never run.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};

use crate::runtime::JobConfig;
use crate::sql::dialect::MAX_NESTING;
use crate::sql::{ConnectorRegistry, TableEnvironment};

use super::MAX_VIEW_NESTING;

/// A session with `t(a BIGINT, b VARCHAR, c DOUBLE, ts TIMESTAMP(3))`, no rows.
fn env() -> TableEnvironment {
    let mut env = TableEnvironment::new(JobConfig::default(), ConnectorRegistry::new());
    let schema = Arc::new(Schema::new(vec![
        Field::new("a", DataType::Int64, true),
        Field::new("b", DataType::Utf8, true),
        Field::new("c", DataType::Float64, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    env.register_batches("t", schema, vec![]).unwrap();
    env
}

fn explain_err(env: &mut TableEnvironment, sql: &str) -> String {
    env.explain_sql(sql).unwrap_err().to_string()
}

#[test]
fn a_with_query_does_not_see_itself() {
    let mut env = env();
    // Its own name in its body is the table outside, as in Flink (WITH is not recursive).
    let plan = env
        .explain_sql("WITH t AS (SELECT a FROM t WHERE a > 0) SELECT a FROM t")
        .unwrap();
    assert!(plan.contains("Logical Plan"), "{plan}");
    let err = explain_err(&mut env, "WITH w AS (SELECT a FROM w) SELECT a FROM w");
    assert!(err.contains("'w' not found"), "{err}");
    let err = explain_err(
        &mut env,
        "WITH x AS (SELECT a FROM y), y AS (SELECT a FROM x) SELECT a FROM x",
    );
    assert!(err.contains("not found"), "{err}");
}

#[test]
fn views_naming_themselves_or_nesting_too_deeply_are_errors() {
    let mut env = env();
    env.execute_sql("CREATE VIEW v AS SELECT a, b FROM t")
        .unwrap();
    // The new query plans against the old `v`; afterwards `v` names itself.
    env.execute_sql("CREATE OR REPLACE VIEW v AS SELECT a, b FROM v")
        .unwrap();
    let err = explain_err(&mut env, "SELECT a FROM v");
    assert!(err.contains("nest more than"), "{err}");

    let mut env = self::env();
    for i in 0..=MAX_VIEW_NESTING {
        let from = if i == 0 {
            "t".to_string()
        } else {
            format!("v{}", i - 1)
        };
        env.execute_sql(&format!("CREATE VIEW v{i} AS SELECT a FROM {from}"))
            .unwrap();
    }
    // The deepest chain allowed plans (in a debug build, on a test thread's stack).
    env.explain_sql(&format!("SELECT a FROM v{}", MAX_VIEW_NESTING - 1))
        .unwrap();
    let err = explain_err(&mut env, &format!("SELECT a FROM v{MAX_VIEW_NESTING}"));
    assert!(err.contains("nest more than"), "{err}");
}

// The deepest statements the parser accepts plan without overflowing a test thread's
// stack in a debug build.

/// The longest of `shape(1)`, `shape(2)`, ... that parses.
fn deepest_accepted(shape: impl Fn(usize) -> String) -> String {
    let n = (1..10 * MAX_NESTING)
        .take_while(|&n| crate::sql::statement::parse_script(&shape(n)).is_ok())
        .last()
        .unwrap();
    shape(n)
}

#[test]
fn operator_chains_at_the_nesting_limit_plan() {
    let mut env = env();
    env.explain_sql(&deepest_accepted(|n| {
        format!("SELECT {}a FROM t", "a + ".repeat(n))
    }))
    .unwrap();
    env.explain_sql(&deepest_accepted(|n| {
        let ors: Vec<String> = (0..n).map(|i| format!("a = {i}")).collect();
        format!("SELECT a FROM t WHERE {}", ors.join(" OR "))
    }))
    .unwrap();
}

#[test]
fn subqueries_as_deep_as_the_parser_allows_plan() {
    let q = deepest_accepted(|n| {
        format!(
            "SELECT a FROM {}t{}",
            "(SELECT a FROM ".repeat(n),
            ") AS s".repeat(n)
        )
    });
    env().explain_sql(&q).unwrap();
}

#[test]
fn a_union_all_chain_at_the_nesting_limit_plans() {
    env()
        .explain_sql(&vec!["SELECT a FROM t"; MAX_NESTING + 1].join(" UNION ALL "))
        .unwrap();
}

#[test]
fn with_queries_at_the_view_nesting_limit_plan() {
    let ctes: Vec<String> = (0..MAX_VIEW_NESTING)
        .map(|i| match i {
            0 => "w0 AS (SELECT a FROM t)".to_string(),
            _ => format!("w{i} AS (SELECT a FROM w{})", i - 1),
        })
        .collect();
    let q = format!(
        "WITH {} SELECT a FROM w{}",
        ctes.join(", "),
        MAX_VIEW_NESTING - 1
    );
    env().explain_sql(&q).unwrap();
}

#[test]
fn repeated_column_names_are_numbered_in_linear_time() {
    use crate::sql::planner::field_names;
    use crate::sql::types::{Column, SqlType};
    let cols = |names: &[&str]| -> Vec<Column> {
        names
            .iter()
            .map(|n| Column::new(*n, SqlType::BigInt))
            .collect()
    };
    assert_eq!(
        field_names(&cols(&["a", "a$1", "a", "a", "b", "a$1"])),
        ["a", "a$1", "a$2", "a$3", "b", "a$1$1"]
    );
    // Once a linear search per repeat per suffix: minutes for a thousand repeats.
    assert_eq!(field_names(&cols(&vec!["a"; 20_000]))[19_999], "a$19999");
    let select = format!("SELECT {} FROM t", vec!["a"; 1000].join(", "));
    env().explain_sql(&select).unwrap();
}
