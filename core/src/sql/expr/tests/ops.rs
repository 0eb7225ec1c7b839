//! Operators: arithmetic, comparisons, logic, IN, LIKE, CASE, COALESCE, CAST.

use super::{batch, one, row, typed};
use crate::sql::types::SqlType;

#[test]
fn integer_arithmetic_widens_and_divides_like_java() {
    assert_eq!(typed("i + price").ty(), SqlType::BigInt);
    assert_eq!(typed("i + i").ty(), SqlType::Int);
    assert_eq!(row("price + i"), "107|1999993|-|50");
    assert_eq!(row("i / 2"), "3|-3|-|0");
    assert_eq!(typed("i / 2").ty(), SqlType::Int);
    assert_eq!(row("i % 4"), "3|-3|-|0");
    assert_eq!(row("MOD(i, 4)"), "3|-3|-|0");
    // A remainder has its divisor's type, as in Flink (tests/slt/scalar.slt).
    assert_eq!(row("MOD(price, 7)"), "2|2|-|1");
    assert_eq!(typed("MOD(price, 7)").ty(), SqlType::Int);
    assert_eq!(typed("price % i").ty(), SqlType::Int);
    assert_eq!(typed("MOD(i, price)").ty(), SqlType::BigInt);
    assert_eq!(
        super::err("MOD(x, 2)").2,
        "Cannot apply 'MOD' to arguments of type 'MOD(<DOUBLE>, <INTEGER>)'. Supported form(s): 'MOD(<EXACT_NUMERIC>, <EXACT_NUMERIC>)'"
    );
    assert_eq!(row("-i"), "-7|7|-|0");
    assert_eq!(row("price - bidder * 2"), "98|1999996|-|42");
    assert_eq!(one("2147483647 + 1"), "-2147483648");
}

#[test]
fn integer_division_by_zero_is_a_row_error_naming_the_expression() {
    let e = typed("price / i");
    let err = e.evaluate(&batch()).unwrap_err().to_string();
    assert!(
        err.contains("division by zero") && err.contains("(price / i)"),
        "{err}"
    );
    let m = typed("price % i")
        .evaluate(&batch())
        .unwrap_err()
        .to_string();
    assert!(m.contains("division by zero"), "{m}");
    // Floating point division follows IEEE.
    assert_eq!(row("x / 0"), "Infinity|-Infinity|-|NaN");
}

#[test]
fn guarded_division_does_not_fail() {
    assert_eq!(
        row("CASE WHEN i = 0 THEN -1 ELSE 100 / i END"),
        "14|-14|-|-1"
    );
    assert_eq!(row("i <> 0 AND 100 / i > 10"), "TRUE|FALSE|-|FALSE");
    assert_eq!(row("i = 0 OR 100 / i > 10"), "TRUE|FALSE|-|TRUE");
    // NULL rows still reach the right side: NULL AND FALSE is FALSE.
    assert_eq!(
        row("(price > 0) AND bidder / 1 < 3"),
        "TRUE|TRUE|FALSE|FALSE"
    );
    assert_eq!(row("(price > 0) OR bidder / 1 > 2"), "TRUE|TRUE|TRUE|TRUE");
    assert_eq!(row("COALESCE(NULLIF(i, 0), 1)"), "7|-7|1|1");
}

#[test]
fn decimal_arithmetic() {
    let dec = |p, s| SqlType::Decimal {
        precision: p,
        scale: s,
    };
    assert_eq!(typed("d + 1").ty(), dec(13, 2));
    assert_eq!(row("d + 1"), "2.50|-1.25|-|101.00");
    assert_eq!(typed("d * d").ty(), dec(20, 4));
    assert_eq!(row("d * d"), "2.2500|5.0625|-|10000.0000");
    // Vectorized products (no overflow possible) and the checked path (one is possible).
    assert_eq!(typed("0.908 * price").ty(), dec(22, 3));
    assert_eq!(row("0.908 * price"), "90.800|1816000.000|-|45.400");
    assert_eq!(row("price * 0.908"), "90.800|1816000.000|-|45.400");
    assert_eq!(
        row("CAST(d AS DECIMAL(38, 2)) * d"),
        "2.2500|5.0625|-|10000.0000"
    );
    assert_eq!(typed("d / 3").ty(), dec(21, 13));
    assert_eq!(
        row("d / 3"),
        "0.5000000000000|-0.7500000000000|-|33.3333333333333"
    );
    assert_eq!(row("d - 0.005"), "1.495|-2.255|-|99.995");
    assert_eq!(row("d % 1"), "0.50|-0.25|-|0.00");
    assert_eq!(typed("d * x").ty(), SqlType::Double);
    assert_eq!(row("d * x"), "2.25|4.5|-|0.0");
    assert_eq!(row("-d"), "-1.50|2.25|-|-100.00");
    let err = typed("d / 0").evaluate(&batch()).unwrap_err().to_string();
    assert!(err.contains("division by zero"), "{err}");
}

#[test]
fn time_plus_interval() {
    assert_eq!(
        typed("date_time + INTERVAL '1' HOUR").ty(),
        SqlType::Timestamp(3)
    );
    assert_eq!(
        row("date_time + INTERVAL '1' HOUR"),
        "2020-01-01 09:30:00.123|2020-06-15 20:00:00.000|-|2022-01-01 00:59:59.999"
    );
    assert_eq!(
        row("date_time - INTERVAL '0.5' SECOND"),
        "2020-01-01 08:29:59.623|2020-06-15 18:59:59.500|-|2021-12-31 23:59:59.499"
    );
    assert_eq!(
        row("INTERVAL '1' DAY + dt"),
        "2020-01-02|2020-03-01|-|1970-01-01"
    );
    assert_eq!(
        one("INTERVAL '1' MINUTE + INTERVAL '30' SECOND"),
        "+0 00:01:30.000"
    );
}

#[test]
fn comparisons_widen_and_propagate_nulls() {
    assert_eq!(row("price > i"), "TRUE|TRUE|-|TRUE");
    assert_eq!(row("i = 7"), "TRUE|FALSE|-|FALSE");
    assert_eq!(row("i <> 7"), "FALSE|TRUE|-|TRUE");
    assert_eq!(row("i != 7"), "FALSE|TRUE|-|TRUE");
    assert_eq!(row("d >= 1.5"), "TRUE|FALSE|-|TRUE");
    assert_eq!(row("x < d"), "FALSE|FALSE|-|TRUE");
    assert_eq!(row("channel < 'B'"), "TRUE|FALSE|-|FALSE");
    assert_eq!(row("b = TRUE"), "TRUE|FALSE|-|TRUE");
    assert_eq!(
        row("date_time > TIMESTAMP '2020-03-01 00:00:00'"),
        "FALSE|TRUE|-|TRUE"
    );
    assert_eq!(
        row("date_time > '2020-03-01 00:00:00'"),
        "FALSE|TRUE|-|TRUE"
    );
    assert_eq!(row("dt < DATE '2020-02-01'"), "TRUE|FALSE|-|TRUE");
    assert_eq!(row("dt < date_time"), "TRUE|TRUE|-|TRUE");
    assert_eq!(row("i = NULL"), "-|-|-|-");
    assert_eq!(row("i IS DISTINCT FROM 7"), "FALSE|TRUE|TRUE|TRUE");
    assert_eq!(row("i IS NOT DISTINCT FROM NULL"), "FALSE|FALSE|TRUE|FALSE");
    assert_eq!(row("i <=> 0"), "FALSE|FALSE|FALSE|TRUE");
    assert!(!typed("i IS DISTINCT FROM 7").nullable());
}

#[test]
fn three_valued_logic() {
    // b: TRUE, FALSE, NULL, TRUE; (i > 0): TRUE, FALSE, NULL, FALSE
    assert_eq!(row("b AND i > 0"), "TRUE|FALSE|-|FALSE");
    assert_eq!(row("b OR i > 0"), "TRUE|FALSE|-|TRUE");
    assert_eq!(row("NULL AND FALSE"), "FALSE|FALSE|FALSE|FALSE");
    assert_eq!(row("NULL OR TRUE"), "TRUE|TRUE|TRUE|TRUE");
    assert_eq!(row("b AND NULL"), "-|FALSE|-|-");
    assert_eq!(row("b OR NULL"), "TRUE|-|-|TRUE");
    assert_eq!(row("NOT b"), "FALSE|TRUE|-|FALSE");
    assert_eq!(row("b IS NULL"), "FALSE|FALSE|TRUE|FALSE");
    assert_eq!(row("b IS NOT NULL"), "TRUE|TRUE|FALSE|TRUE");
    assert_eq!(row("b IS TRUE"), "TRUE|FALSE|FALSE|TRUE");
    assert_eq!(row("b IS NOT TRUE"), "FALSE|TRUE|TRUE|FALSE");
    assert_eq!(row("b IS FALSE"), "FALSE|TRUE|FALSE|FALSE");
    assert_eq!(row("b IS NOT FALSE"), "TRUE|FALSE|TRUE|TRUE");
    assert_eq!(row("b IS UNKNOWN"), "FALSE|FALSE|TRUE|FALSE");
    assert!(!typed("b IS TRUE").nullable());
}

#[test]
fn between_and_in() {
    assert_eq!(row("i BETWEEN 0 AND 7"), "TRUE|FALSE|-|TRUE");
    assert_eq!(row("i NOT BETWEEN 0 AND 6"), "TRUE|TRUE|-|FALSE");
    assert_eq!(row("i IN (7, 0)"), "TRUE|FALSE|-|TRUE");
    assert_eq!(row("i NOT IN (7, 0)"), "FALSE|TRUE|-|FALSE");
    assert_eq!(row("i IN (7, NULL)"), "TRUE|-|-|-");
    assert_eq!(row("i NOT IN (7, NULL)"), "FALSE|-|-|-");
    assert_eq!(row("price IN (100, 2.5)"), "TRUE|FALSE|-|FALSE");
    assert_eq!(row("x IN (1.5, 0)"), "TRUE|FALSE|-|TRUE");
    assert_eq!(row("d IN (1.5, 100)"), "TRUE|FALSE|-|TRUE");
    assert_eq!(row("b IN (FALSE)"), "FALSE|TRUE|-|FALSE");
    assert_eq!(row("dt IN (DATE '2020-01-01')"), "TRUE|FALSE|-|FALSE");
    assert_eq!(row("channel IN ('Apple', 'other')"), "TRUE|FALSE|-|TRUE");
    // A list with a column compiles to comparisons.
    assert_eq!(row("i IN (bidder, 0)"), "FALSE|FALSE|-|TRUE");
    assert_eq!(row("i NOT IN (bidder, 0)"), "TRUE|TRUE|-|FALSE");
    assert_eq!(typed("i IN (7, 0)").to_string(), "i IN (7, 0)");
}

#[test]
fn like_patterns() {
    assert_eq!(row("channel LIKE 'A%'"), "TRUE|FALSE|-|FALSE");
    assert_eq!(row("channel LIKE '_oogle'"), "FALSE|TRUE|-|FALSE");
    assert_eq!(row("channel NOT LIKE '%e%'"), "FALSE|FALSE|-|FALSE");
    assert_eq!(row("url LIKE '%channel\\_id%'"), "FALSE|FALSE|-|FALSE");
    assert_eq!(
        row("url LIKE '%channel!_id%' ESCAPE '!'"),
        "FALSE|TRUE|-|TRUE"
    );
    assert_eq!(row("'50%' LIKE '50!%' ESCAPE '!'"), "TRUE|TRUE|TRUE|TRUE");
    assert_eq!(row("'a\\b' LIKE 'a\\b'"), "TRUE|TRUE|TRUE|TRUE");
    assert_eq!(row("channel ILIKE 'apple'"), "TRUE|FALSE|-|FALSE");
    assert_eq!(row("channel LIKE s"), "FALSE|FALSE|-|FALSE");
    assert_eq!(
        typed("url LIKE '%a!_b%' ESCAPE '!'").to_string(),
        "url LIKE '%a!_b%' ESCAPE '!'"
    );
}

#[test]
fn case_forms() {
    assert_eq!(
        row("CASE i WHEN 7 THEN 'seven' WHEN 0 THEN 'zero' END"),
        "seven|-|-|zero"
    );
    assert_eq!(row("CASE WHEN b THEN 1 ELSE 2.5 END"), "1.0|2.5|2.5|1.0");
    assert_eq!(
        typed("CASE WHEN b THEN 1 ELSE 2.5 END").ty(),
        SqlType::Decimal {
            precision: 11,
            scale: 1
        }
    );
    assert_eq!(row("CASE WHEN i > 0 THEN price END"), "100|-|-|-");
    assert!(!typed("CASE WHEN b THEN 'a' ELSE 'b' END").nullable());
    assert!(typed("CASE WHEN b THEN 'a' END").nullable());
    assert_eq!(row("CASE WHEN FALSE THEN 1 ELSE i END"), "7|-7|-|0");
    assert_eq!(row("IF(b, 'yes', 'no')"), "yes|no|no|yes");
    assert_eq!(row("IF(i > 0, i, -i)"), "7|7|-|0");
}

#[test]
fn coalesce_nullif_ifnull() {
    assert_eq!(row("COALESCE(channel, 'none')"), "Apple|Google|none|other");
    assert!(!typed("COALESCE(channel, 'none')").nullable());
    assert!(typed("COALESCE(channel, s)").nullable());
    assert_eq!(row("COALESCE(price, i, 0)"), "100|2000000|0|50");
    assert_eq!(row("IFNULL(i, 42)"), "7|-7|42|0");
    assert_eq!(row("NULLIF(i, 0)"), "7|-7|-|-");
    assert_eq!(row("COALESCE(NULL, 1)"), "1|1|1|1");
}

#[test]
fn casts_follow_flink() {
    assert_eq!(row("CAST(i AS STRING)"), "7|-7|-|0");
    assert_eq!(row("CAST(x AS VARCHAR)"), "1.5|-2.0|-|0.0");
    assert_eq!(row("CAST(b AS STRING)"), "TRUE|FALSE|-|TRUE");
    assert_eq!(row("CAST(d AS INT)"), "1|-2|-|100");
    assert_eq!(row("CAST(x AS DECIMAL(5, 1))"), "1.5|-2.0|-|0.0");
    assert_eq!(
        row("CAST(date_time AS DATE)"),
        "2020-01-01|2020-06-15|-|2021-12-31"
    );
    assert_eq!(
        row("CAST(date_time AS TIMESTAMP(0))"),
        "2020-01-01 08:30:00|2020-06-15 19:00:00|-|2021-12-31 23:59:59"
    );
    assert_eq!(
        row("CAST(dt AS TIMESTAMP(3))"),
        "2020-01-01 00:00:00.000|2020-02-29 00:00:00.000|-|1969-12-31 00:00:00.000"
    );
    assert_eq!(one("CAST(' 42 ' AS INT)"), "42");
    assert_eq!(one("CAST('2020-01-02' AS DATE)"), "2020-01-02");
    assert_eq!(
        one("CAST('2020-01-02 03:04:05' AS TIMESTAMP(3))"),
        "2020-01-02 03:04:05.000"
    );
    assert_eq!(one("CAST('true' AS BOOLEAN)"), "TRUE");
    assert_eq!(one("CAST('abcdef' AS VARCHAR(3))"), "abc");
    assert_eq!(one("CAST('ab' AS CHAR(4))"), "ab  ");
    assert_eq!(one("CAST(1e10 AS STRING)"), "1.0E10");
    assert_eq!(one("CAST(0.001 AS DOUBLE)"), "0.001");
    assert_eq!(one("CAST(1234567.0 AS DOUBLE)"), "1234567.0");
    assert_eq!(one("CAST(1.5e-5 AS STRING)"), "1.5E-5");
    assert_eq!(one("TRY_CAST('abc' AS INT)"), "NULL");
    assert_eq!(one("CAST(NULL AS INT)"), "NULL");
    assert_eq!(one("CAST(3000000000 AS INT)"), "NULL");
    assert_eq!(row("TRY_CAST(s AS INT)"), "-|-|-|-");
    let err = typed("CAST(s AS INT)")
        .evaluate(&batch())
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot cast '  hi  ' to INTEGER"), "{err}");
    assert!(typed("TRY_CAST(i AS BIGINT)").nullable());
    assert_eq!(typed("CAST(i AS BIGINT)").to_string(), "CAST(i AS BIGINT)");
}
