//! Lookup joins against the regular joins Flink runs for the same rows: a lookup join over a
//! table that does not change while the job runs has the rows of the regular join (Flink's
//! q13 golden rows come from that form too), but keeps no stream state and is insert-only.

use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use arrow::util::display::{ArrayFormatter, FormatOptions};

use crate::runtime::JobConfig;
use crate::sql::{ConnectorRegistry, StatementResult, TableEnvironment};

/// `orders(oid, cid)` with a NULL key and keys missing from `customers(cid, name)`, which
/// has a duplicate key.
fn env(parallelism: usize) -> TableEnvironment {
    let config = JobConfig {
        parallelism,
        ..JobConfig::default()
    };
    let mut env = TableEnvironment::new(config, ConnectorRegistry::new());
    let orders = Arc::new(Schema::new(vec![
        Field::new("oid", DataType::Int64, true),
        Field::new("cid", DataType::Int64, true),
    ]));
    let o = RecordBatch::try_new(
        orders.clone(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2, 3, 4, 5, 6])),
            Arc::new(Int64Array::from(vec![
                Some(10),
                Some(20),
                None,
                Some(40),
                Some(10),
                Some(30),
            ])),
        ],
    )
    .unwrap();
    env.register_batches("orders", orders, vec![o]).unwrap();
    let customers = Arc::new(Schema::new(vec![
        Field::new("cid", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let c = RecordBatch::try_new(
        customers.clone(),
        vec![
            Arc::new(Int64Array::from(vec![Some(10), Some(20), Some(20), None])),
            Arc::new(StringArray::from(vec!["a", "b", "bb", "n"])),
        ],
    )
    .unwrap();
    env.register_batches("customers", customers, vec![c])
        .unwrap();
    env
}

/// The final rows of a query, one sorted line each; and whether it was updating.
fn rows(env: &mut TableEnvironment, sql: &str) -> (Vec<String>, bool) {
    let r = env.sql_query(sql).unwrap();
    let updating = r.is_updating();
    let batch = r.final_rows().unwrap();
    let options = FormatOptions::default().with_null("NULL");
    let f: Vec<ArrayFormatter<'_>> = batch
        .columns()
        .iter()
        .map(|c| ArrayFormatter::try_new(c.as_ref(), &options).unwrap())
        .collect();
    let mut out: Vec<String> = (0..batch.num_rows())
        .map(|i| {
            f.iter()
                .map(|f| f.value(i).to_string())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect();
    out.sort();
    (out, updating)
}

const STREAM: &str = "(SELECT *, PROCTIME() AS pt FROM orders) o";

#[test]
fn lookup_joins_have_the_rows_of_regular_joins() {
    let cases = [
        ("JOIN", "o.cid = c.cid"),
        ("LEFT JOIN", "o.cid = c.cid"),
        ("JOIN", "o.cid + 0 = c.cid AND o.oid > 1 AND c.name <> 'bb'"),
    ];
    for p in [1, 4] {
        let mut env = env(p);
        for (join, on) in cases {
            let lookup = format!(
                "SELECT o.oid, c.cid, c.name FROM {STREAM} {join} customers \
                 FOR SYSTEM_TIME AS OF o.pt AS c ON {on}"
            );
            let regular =
                format!("SELECT o.oid, c.cid, c.name FROM {STREAM} {join} customers c ON {on}");
            let (got, updating) = rows(&mut env, &lookup);
            let (want, _) = rows(&mut env, &regular);
            assert_eq!(got, want, "{join} ON {on} at p={p}");
            assert!(!updating, "a lookup join is insert-only: {lookup}");
            assert!(!got.is_empty());
        }
    }
    // Spelled out once: duplicates of a table key each match; the NULL key never does.
    let (got, _) = rows(
        &mut env(1),
        &format!(
            "SELECT o.oid, c.name FROM {STREAM} LEFT JOIN customers FOR SYSTEM_TIME AS OF o.pt \
             AS c ON o.cid = c.cid"
        ),
    );
    assert_eq!(
        got,
        ["1 a", "2 b", "2 bb", "3 NULL", "4 NULL", "5 a", "6 NULL"]
    );
}

#[test]
fn the_plan_is_a_lookup_join_and_bad_forms_are_errors() {
    let mut env = env(1);
    let plan = env
        .explain_sql(&format!(
            "SELECT o.oid, c.name FROM {STREAM} JOIN customers FOR SYSTEM_TIME AS OF o.pt AS c \
             ON o.cid = c.cid"
        ))
        .unwrap();
    assert!(
        plan.contains("LookupJoin(table=[customers], joinType=[InnerJoin]"),
        "{plan}"
    );
    let mut err = |sql: String| match env.execute_sql(&sql) {
        Err(e) => e.to_string(),
        Ok(r) => panic!(
            "{sql} planned: {:?}",
            r.iter()
                .map(|r| matches!(r, StatementResult::Rows(_)))
                .collect::<Vec<_>>()
        ),
    };
    let e = err(format!(
        "SELECT o.oid FROM {STREAM} JOIN customers FOR SYSTEM_TIME AS OF o.oid AS c ON o.cid = c.cid"
    ));
    assert!(e.contains("needs a time attribute"), "{e}");
    let e = err(format!(
        "SELECT o.oid FROM {STREAM} RIGHT JOIN customers FOR SYSTEM_TIME AS OF o.pt AS c ON o.cid = c.cid"
    ));
    assert!(e.contains("inner or a left join"), "{e}");
    let e = err(format!(
        "SELECT o.oid FROM {STREAM} JOIN customers FOR SYSTEM_TIME AS OF o.pt AS c ON o.cid = c.cid + 1"
    ));
    assert!(e.contains("columns of the lookup table"), "{e}");
    let e = err(format!(
        "SELECT o.oid FROM {STREAM} LEFT JOIN customers FOR SYSTEM_TIME AS OF o.pt AS c ON o.cid = c.cid AND o.oid > 1"
    ));
    assert!(e.contains("only equalities"), "{e}");
}
