//! Subqueries in `WHERE` on in-memory tables: plan shapes (which conditions become keys,
//! side filters or the residual predicate), results (NULL semantics of `NOT IN`, updating
//! inputs at several parallelisms), and the forms that are refused, at their place.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array, RecordBatch};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};

use crate::runtime::JobConfig;
use crate::sql::{ConnectorRegistry, StatementResult, TableEnvironment};

/// A table of BIGINT columns (`!` after a name: NOT NULL) with these rows.
fn table(env: &mut TableEnvironment, name: &str, columns: &[&str], rows: &[&[Option<i64>]]) {
    let fields: Vec<Field> = columns
        .iter()
        .map(|c| match c.strip_suffix('!') {
            Some(n) => Field::new(n, DataType::Int64, false),
            None => Field::new(*c, DataType::Int64, true),
        })
        .collect();
    let schema = Arc::new(Schema::new(fields));
    let arrays: Vec<ArrayRef> = (0..columns.len())
        .map(|i| {
            Arc::new(Int64Array::from(
                rows.iter().map(|r| r[i]).collect::<Vec<_>>(),
            )) as _
        })
        .collect();
    let batch = RecordBatch::try_new(schema.clone(), arrays).unwrap();
    env.register_batches(name, schema, vec![batch]).unwrap();
}

/// `o(k, v, id NOT NULL)` and `c(k, w, nk NOT NULL)`, with NULL keys on both sides.
fn env(parallelism: usize) -> TableEnvironment {
    let config = JobConfig {
        parallelism,
        ..JobConfig::default()
    };
    let mut env = TableEnvironment::new(config, ConnectorRegistry::new());
    let n = None;
    table(
        &mut env,
        "o",
        &["k", "v", "id!"],
        &[
            &[Some(1), Some(10), Some(1)],
            &[Some(2), Some(20), Some(2)],
            &[n, Some(30), Some(3)],
            &[Some(4), Some(40), Some(4)],
            &[Some(1), Some(50), Some(5)],
        ],
    );
    table(
        &mut env,
        "c",
        &["k", "w", "nk!"],
        &[
            &[Some(1), Some(5), Some(1)],
            &[Some(2), Some(50), Some(2)],
            &[n, Some(7), Some(3)],
        ],
    );
    env
}

/// The first column of the query's final rows, sorted.
fn ids(env: &mut TableEnvironment, sql: &str) -> Vec<i64> {
    let Some(StatementResult::Rows(r)) = env.execute_sql(sql).unwrap().pop() else {
        panic!("{sql}: no rows")
    };
    let rows = r.final_rows().unwrap();
    let mut v: Vec<i64> = rows.column(0).as_primitive::<Int64Type>().values().to_vec();
    v.sort_unstable();
    v
}

fn plan(sql: &str) -> String {
    env(1).explain_sql(sql).unwrap()
}

fn error(sql: &str) -> String {
    env(1).explain_sql(sql).unwrap_err().to_string()
}

#[test]
fn correlation_equalities_are_keys_and_inner_conditions_filter_the_subquery() {
    let p = plan("SELECT id FROM o WHERE EXISTS (SELECT 1 FROM c WHERE c.k = o.k AND c.w > 6)");
    assert!(
        p.contains(
            "Join(joinType=[LeftSemiJoin], leftKeys=[k], rightKeys=[$r0], where=[c.k = o.k])"
        ),
        "{p}"
    );
    assert!(p.contains("where=[(w > 6)]"), "{p}");
    // A condition over both sides is the residual predicate.
    let p =
        plan("SELECT id FROM o WHERE NOT EXISTS (SELECT 1 FROM c WHERE c.k = o.k AND c.w > o.v)");
    assert!(p.contains("LeftAntiJoin") && p.contains("c.w > o.v"), "{p}");
}

#[test]
fn an_outer_condition_filters_the_outer_rows_of_a_semi_join_only() {
    let sql = |not: &str| {
        format!(
            "SELECT id FROM o WHERE {not} EXISTS (SELECT 1 FROM c WHERE c.k = o.k AND o.v > 15)"
        )
    };
    let semi = plan(&sql(""));
    assert!(semi.contains("where=[(v > 15)]"), "{semi}");
    let anti = plan(&sql("NOT"));
    assert!(!anti.contains("where=[(v > 15)]"), "{anti}");
    for p in [1, 3] {
        assert_eq!(ids(&mut env(p), &sql("")), [2, 5], "p {p}");
        assert_eq!(ids(&mut env(p), &sql("NOT")), [1, 3, 4], "p {p}");
    }
}

#[test]
fn not_in_over_nullable_columns_is_anti_joins_on_keys() {
    // x = y, then the subquery's NULLs, then the outer NULLs against any subquery row.
    let p = plan("SELECT id FROM o WHERE v NOT IN (SELECT w FROM c)");
    for join in [
        "LeftAntiJoin], leftKeys=[v], rightKeys=[$r0], where=[o.v = c.w])",
        "where=[c.w IS NULL])",
        "where=[o.v IS NULL])",
    ] {
        assert!(p.contains(join), "{join}: {p}");
    }
    // Over NOT NULL columns NOT IN is one anti join on a key; with a condition over both
    // sides, one keyless join comparing every pair, as Flink plans it.
    let p = plan("SELECT id FROM o WHERE id NOT IN (SELECT nk FROM c)");
    assert_eq!(p.matches("LeftAntiJoin").count(), 1, "{p}");
    assert!(p.contains("leftKeys=[id], rightKeys=[$r0]"), "{p}");
    let p = plan("SELECT id FROM o WHERE v NOT IN (SELECT w FROM c WHERE c.k > o.k)");
    assert_eq!(p.matches("LeftAntiJoin").count(), 1, "{p}");
    assert!(p.contains("(o.v = c.w) IS NOT FALSE"), "{p}");
    for par in [1, 4] {
        let mut e = env(par);
        assert_eq!(
            ids(
                &mut e,
                "SELECT id FROM o WHERE id NOT IN (SELECT nk FROM c)"
            ),
            [4, 5]
        );
        // c.k holds a NULL: no row is NOT IN it.
        assert_eq!(
            ids(&mut e, "SELECT id FROM o WHERE k NOT IN (SELECT k FROM c)"),
            [0i64; 0]
        );
        assert_eq!(
            ids(
                &mut e,
                "SELECT id FROM o WHERE k NOT IN (SELECT k FROM c WHERE k IS NOT NULL)"
            ),
            [4]
        );
        // A NULL on the left is NOT IN only an empty subquery.
        assert_eq!(
            ids(
                &mut e,
                "SELECT id FROM o WHERE k NOT IN (SELECT k FROM c WHERE w > 100)"
            ),
            [1, 2, 3, 4, 5]
        );
        assert_eq!(
            ids(&mut e, "SELECT id FROM o WHERE k IN (SELECT k FROM c)"),
            [1, 2, 5]
        );
        assert_eq!(
            ids(
                &mut e,
                "SELECT id FROM o WHERE v NOT IN (SELECT w FROM c WHERE c.k > o.k)"
            ),
            [1, 2, 3, 4]
        );
        // Row lists: a pair is unknown, not false, only where no column compares false.
        assert_eq!(
            ids(
                &mut e,
                "SELECT id FROM o WHERE (k, v / 10) NOT IN (SELECT k, w / 5 FROM c)"
            ),
            [2, 3, 4, 5]
        );
        assert_eq!(
            ids(
                &mut e,
                "SELECT id FROM o WHERE (k, v / 10) IN (SELECT k, w / 5 FROM c)"
            ),
            [1]
        );
    }
}

#[test]
fn updating_inputs_on_both_sides() {
    for p in [1, 2, 4] {
        let mut e = env(p);
        // The subquery's groups come and go as rows arrive (HAVING on a changing count).
        assert_eq!(
            ids(
                &mut e,
                "SELECT id FROM o WHERE k IN (SELECT k FROM o GROUP BY k HAVING COUNT(*) = 1)"
            ),
            [2, 4]
        );
        assert_eq!(
            ids(&mut e, "SELECT n FROM (SELECT k, COUNT(*) AS n FROM o GROUP BY k) t WHERE t.k NOT IN (SELECT nk FROM c)"),
            [1]
        );
        assert_eq!(
            ids(&mut e, "SELECT id FROM o WHERE v > (SELECT AVG(w) FROM c)"),
            [3, 4, 5]
        );
        assert_eq!(ids(&mut e, "SELECT id FROM o WHERE v BETWEEN (SELECT MIN(w) FROM c) AND (SELECT MAX(w) FROM c) - 10"), [1, 2, 3, 4]);
    }
}

#[test]
fn refused_forms_name_their_place() {
    let cases = [
        (
            "SELECT id FROM o WHERE k IN (SELECT k FROM c) OR v > 1",
            "line 1, column 24: IN and EXISTS subqueries are supported only as conditions",
        ),
        (
            "SELECT k IN (SELECT k FROM c) FROM o",
            "line 1, column 8: subqueries are supported only in WHERE",
        ),
        (
            "SELECT k, COUNT(*) FROM o GROUP BY k HAVING COUNT(*) > (SELECT COUNT(*) FROM c)",
            "subqueries are supported only in WHERE",
        ),
        (
            "SELECT id FROM o WHERE EXISTS (SELECT 1 FROM c WHERE c.k = o.k GROUP BY c.w)",
            "line 1, column 32: correlated subqueries are supported only as SELECT .. FROM .. WHERE",
        ),
        (
            "SELECT id FROM o WHERE v > (SELECT w FROM c)",
            "line 1, column 29: a scalar subquery must be one aggregate without GROUP BY",
        ),
        (
            "SELECT id FROM o WHERE v > (SELECT MIN(w) FROM c) + (SELECT MAX(w) FROM c)",
            "line 1, column 24: a condition may compare with one scalar subquery only",
        ),
        (
            "SELECT id FROM o WHERE COALESCE((SELECT MAX(w) FROM c), 0) < v",
            "scalar subqueries are supported only as operands",
        ),
        (
            "SELECT id FROM o WHERE EXISTS (SELECT 1 FROM c, c AS d WHERE c.k = d.k AND k = o.k)",
            "Column 'k' is ambiguous",
        ),
        (
            "SELECT id FROM o WHERE EXISTS (SELECT 1 FROM c WHERE c.k = o.nope)",
            "line 1, column 62: Column 'nope' not found in table 'o'",
        ),
        (
            "SELECT id FROM o WHERE (k, v) IN (SELECT k FROM c)",
            "Values passed to IN operator must have compatible types: 2 value(s), and the subquery \
             returns 1 column(s)",
        ),
    ];
    for (sql, want) in cases {
        let e = error(sql);
        assert!(e.contains(want), "{sql}: {e}");
    }
}
