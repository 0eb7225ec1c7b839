//! Planning errors: Flink's wording, at the right line and column.

use super::{err, parse, scope};
use crate::sql::expr::{compile, Scope};
use crate::sql::types::Column;
use crate::sql::SqlType;

#[test]
fn unknown_columns_and_tables() {
    assert_eq!(
        err("price + nope"),
        (1, 9, "Column 'nope' not found in any table".into())
    );
    assert_eq!(
        err("price +\n   nope"),
        (2, 4, "Column 'nope' not found in any table".into())
    );
    assert_eq!(err("B.price"), (1, 1, "Table 'B' not found".into()));
    // Case-sensitive, like Flink.
    assert_eq!(
        err("PRICE"),
        (1, 1, "Column 'PRICE' not found in any table".into())
    );
}

#[test]
fn qualified_and_ambiguous_columns() {
    let mut a = Column::new("id", SqlType::BigInt);
    a.qualifier = Some("A".into());
    let mut b = Column::new("id", SqlType::BigInt);
    b.qualifier = Some("B".into());
    let mut c = Column::new("name", SqlType::STRING);
    c.qualifier = Some("B".into());
    let s = Scope::new(vec![a, b, c]);
    let resolve = |t: &str| compile(&parse(t), &s).map(|e| e.as_column());
    assert_eq!(resolve("A.id").unwrap(), Some(0));
    assert_eq!(resolve("B.id").unwrap(), Some(1));
    assert_eq!(resolve("name").unwrap(), Some(2));
    let msg = |t: &str| match compile(&parse(t), &s) {
        Err(crate::error::Error::Sql {
            message, column, ..
        }) => (column, message),
        other => panic!("{other:?}"),
    };
    assert_eq!(msg("id"), (1, "Column 'id' is ambiguous".into()));
    assert_eq!(
        msg("A.name"),
        (3, "Column 'name' not found in table 'A'".into())
    );
    assert_eq!(
        msg("x + C.id"),
        (1, "Column 'x' not found in any table".into())
    );
}

#[test]
fn unknown_functions_list_argument_families() {
    assert_eq!(
        err("foo(1, 'a')"),
        (
            1,
            1,
            "No match found for function signature foo(<NUMERIC>, <CHARACTER>)".into()
        )
    );
    assert_eq!(
        err("price + bar(date_time, b, dt)").2,
        "No match found for function signature bar(<TIMESTAMP>, <BOOLEAN>, <DATE>)"
    );
    assert_eq!(err("price + bar(date_time)").1, 9);
}

#[test]
fn wrong_argument_types() {
    assert_eq!(
        err("UPPER(1)"),
        (
            1,
            1,
            "Cannot apply 'UPPER' to arguments of type 'UPPER(<INTEGER>)'. Supported form(s): 'UPPER(<CHARACTER>)'"
                .into()
        )
    );
    assert!(err("SPLIT_INDEX(url, 1, 2)").2.starts_with(
        "Cannot apply 'SPLIT_INDEX' to arguments of type 'SPLIT_INDEX(<VARCHAR(2147483647)>, <INTEGER>, <INTEGER>)'"
    ));
    assert!(err("HOUR(price)").2.starts_with("Cannot apply 'HOUR'"));
    assert!(err("CONCAT(price, 'a')")
        .2
        .starts_with("Cannot apply 'CONCAT'"));
    assert_eq!(
        err("UPPER(channel, 'x')").2,
        "Invalid number of arguments to function 'UPPER'. Was expecting 1 arguments"
    );
    assert!(err("ROUND(d, i)").2.contains("must be an integer constant"));
}

#[test]
fn bad_operand_types() {
    assert_eq!(
        err("channel = 1"),
        (
            1,
            1,
            "Cannot apply '=' to arguments of type '<VARCHAR(2147483647)> = <INTEGER>'. Supported form(s): '<COMPARABLE_TYPE> = <COMPARABLE_TYPE>'"
                .into()
        )
    );
    assert!(err("b < 1")
        .2
        .starts_with("Cannot apply '<' to arguments of type '<BOOLEAN> < <INTEGER>'"));
    assert!(err("channel + 1")
        .2
        .starts_with("Cannot apply '+' to arguments of type '<VARCHAR(2147483647)> + <INTEGER>'"));
    assert!(err("-channel")
        .2
        .starts_with("Cannot apply '-' to arguments of type '-<VARCHAR(2147483647)>'"));
    assert!(err("price AND b").2.starts_with("Cannot apply 'AND'"));
    assert!(err("price || 'a'").2.starts_with("Cannot apply '||'"));
    assert_eq!(
        err("CASE WHEN b THEN 1 ELSE 'a' END").2,
        "Illegal mixing of types in CASE or COALESCE statement"
    );
    assert_eq!(
        err("i IN (1, 'a')").2,
        "Values passed to IN operator must have compatible types"
    );
    assert_eq!(
        err("CAST(b AS DATE)").2,
        "Cast function cannot convert value of type BOOLEAN to type DATE"
    );
    assert!(err("price LIKE 'a'").2.starts_with("Cannot apply 'LIKE'"));
}

#[test]
fn aggregates_and_other_unsupported_forms() {
    assert_eq!(
        err("price + SUM(price)"),
        (1, 9, "Aggregate function 'SUM' is not allowed here".into())
    );
    assert_eq!(
        err("count(*)").2,
        "Aggregate function 'COUNT' is not allowed here"
    );
    assert_eq!(
        err("ROW_NUMBER() OVER (ORDER BY price)").2,
        "Window function 'ROW_NUMBER' is not allowed here"
    );
    assert!(err("price IN (SELECT 1)")
        .2
        .contains("subqueries are supported only in WHERE"));
    assert!(err("REGEXP_EXTRACT(url, '(', 1)")
        .2
        .starts_with("Invalid regular expression '('"));
    assert_eq!(err("REGEXP_EXTRACT(url, '(', 1)").1, 21);
    assert!(err("DATE_FORMAT(date_time, 'yyyy-TT')")
        .2
        .contains("Unknown pattern letter: T"));
    assert!(err("DATE '2020-13-01'")
        .2
        .starts_with("Illegal DATE literal '2020-13-01'"));
    assert!(err("TIMESTAMP '2020-01-01 25:00:00'")
        .2
        .starts_with("Illegal TIMESTAMP literal"));
    assert!(err("TIMESTAMPADD(FORTNIGHT, 1, date_time)")
        .2
        .contains("Unknown time unit 'FORTNIGHT'"));
    let _ = scope();
}
