//! Literals: numbers, strings, booleans, `DATE '…'` / `TIMESTAMP '…'`, and day-time
//! intervals; and how constants are shown in EXPLAIN.

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, Decimal128Array, DurationMillisecondArray,
    Float64Array, Int32Array, Int64Array, StringArray, TimestampMillisecondArray,
};
use sqlparser::ast::{self, DateTimeField, Spanned};

use super::{cast, datetime, sql_error, TypedExpr};
use crate::error::Result;
use crate::sql::types::SqlType;

/// The typed constant of a `sqlparser` literal.
pub(super) fn compile_value(v: &ast::ValueWithSpan) -> Result<TypedExpr> {
    let at = v.span.start;
    match &v.value {
        ast::Value::Number(text, _) => number(text)
            .ok_or_else(|| sql_error(at, format!("Numeric literal '{text}' out of range"))),
        ast::Value::SingleQuotedString(s)
        | ast::Value::EscapedStringLiteral(s)
        | ast::Value::NationalStringLiteral(s)
        | ast::Value::TripleSingleQuotedString(s) => Ok(string(s)),
        ast::Value::Boolean(b) => Ok(TypedExpr::literal(
            Arc::new(BooleanArray::from(vec![*b])),
            SqlType::Boolean,
        )),
        ast::Value::Null => Ok(TypedExpr::literal_null(SqlType::Null)),
        other => Err(sql_error(at, format!("Unsupported literal {other}"))),
    }
}

/// `'abc'`: `CHAR(3) NOT NULL`.
pub(super) fn string(s: &str) -> TypedExpr {
    TypedExpr::literal(
        Arc::new(StringArray::from(vec![s])),
        SqlType::Char(s.chars().count() as u32),
    )
}

/// A BIGINT constant.
pub(super) fn bigint(v: i64) -> TypedExpr {
    TypedExpr::literal(Arc::new(Int64Array::from(vec![v])), SqlType::BigInt)
}

/// Flink's type of a numeric literal: `INT` if it fits, else `BIGINT`, else `DECIMAL(p, 0)`;
/// `0.908` is `DECIMAL(3, 3)`; `1e3` is `DOUBLE`.
fn number(text: &str) -> Option<TypedExpr> {
    if text.contains(['e', 'E']) {
        let v: f64 = text.parse().ok()?;
        return Some(TypedExpr::literal(
            Arc::new(Float64Array::from(vec![v])),
            SqlType::Double,
        ));
    }
    let (int, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.is_empty() && !text.contains('.') {
        if let Ok(v) = int.parse::<i64>() {
            return Some(match i32::try_from(v) {
                Ok(v) => TypedExpr::literal(Arc::new(Int32Array::from(vec![v])), SqlType::Int),
                Err(_) => bigint(v),
            });
        }
    }
    let digits = format!("{int}{frac}");
    let unscaled: i128 = digits.parse().ok()?;
    let scale = frac.len();
    let significant = digits.trim_start_matches('0').len();
    let precision = significant.max(scale).max(1);
    if precision > 38 {
        return None;
    }
    let ty = SqlType::Decimal {
        precision: precision as u8,
        scale: scale as i8,
    };
    let a = Decimal128Array::from(vec![unscaled])
        .with_precision_and_scale(precision as u8, scale as i8)
        .ok()?;
    Some(TypedExpr::literal(Arc::new(a), ty))
}

/// `DATE '2020-01-01'`, `TIMESTAMP '2020-01-01 00:00:00'`, `TIMESTAMP(3) '…'`.
pub(super) fn typed_string(t: &ast::TypedString) -> Result<TypedExpr> {
    let at = t.value.span.start;
    let text = match &t.value.value {
        ast::Value::SingleQuotedString(s) => s.as_str(),
        other => return Err(sql_error(at, format!("Unsupported literal {other}"))),
    };
    match &t.data_type {
        ast::DataType::Date => {
            let days = datetime::parse_date(text).ok_or_else(|| {
                sql_error(
                    at,
                    format!("Illegal DATE literal '{text}': not in format 'yyyy-MM-dd'"),
                )
            })?;
            Ok(TypedExpr::literal(
                Arc::new(Date32Array::from(vec![days])),
                SqlType::Date,
            ))
        }
        ast::DataType::Timestamp(p, _) => {
            let (ms, frac) = datetime::parse_timestamp(text).ok_or_else(|| {
                sql_error(
                    at,
                    format!(
                        "Illegal TIMESTAMP literal '{text}': not in format 'yyyy-MM-dd HH:mm:ss'"
                    ),
                )
            })?;
            let p = p.map_or(frac, |p| p.min(9) as u8);
            Ok(TypedExpr::literal(
                Arc::new(TimestampMillisecondArray::from(vec![ms])),
                SqlType::Timestamp(p),
            ))
        }
        other => Err(sql_error(
            at,
            format!("Unsupported literal of type {other}"),
        )),
    }
}

/// The milliseconds of a constant day-time interval: `INTERVAL '10' SECOND`,
/// `INTERVAL '0.5' SECOND`, `INTERVAL '2' MINUTE`, `INTERVAL '1:30' MINUTE TO SECOND`,
/// `INTERVAL '1 02:00:00' DAY TO SECOND`.
///
/// # Errors
/// [`crate::error::Error::Sql`] for anything else (a year-month interval, a non-constant,
/// malformed text).
///
/// # Example
/// ```
/// use millstream_core::sql::expr::interval_millis;
/// use sqlparser::dialect::GenericDialect;
/// use sqlparser::parser::Parser;
/// let e = Parser::new(&GenericDialect {}).try_with_sql("INTERVAL '1:30' MINUTE TO SECOND").unwrap().parse_expr().unwrap();
/// assert_eq!(interval_millis(&e).unwrap(), 90_000);
/// ```
pub fn interval_millis(expr: &ast::Expr) -> Result<i64> {
    match expr {
        ast::Expr::Nested(e) => interval_millis(e),
        ast::Expr::Interval(iv) => interval(iv),
        other => Err(sql_error(
            other.span().start,
            format!("Expected a constant interval such as INTERVAL '10' SECOND, got {other}"),
        )),
    }
}

/// The milliseconds of an `INTERVAL` literal.
pub(super) fn interval(iv: &ast::Interval) -> Result<i64> {
    let at = iv.value.span().start;
    let text = match iv.value.as_ref() {
        ast::Expr::Value(v) => match &v.value {
            ast::Value::SingleQuotedString(s) => s.clone(),
            ast::Value::Number(n, _) => n.clone(),
            _ => String::new(),
        },
        ast::Expr::UnaryOp {
            op: ast::UnaryOperator::Minus,
            expr,
        } => match expr.as_ref() {
            ast::Expr::Value(v) => match &v.value {
                ast::Value::SingleQuotedString(s) | ast::Value::Number(s, _) => format!("-{s}"),
                _ => String::new(),
            },
            _ => String::new(),
        },
        _ => String::new(),
    };
    parse_interval(&text, iv.leading_field.as_ref(), iv.last_field.as_ref())
        .map_err(|m| sql_error(at, m))
}

fn unit_ms(f: &DateTimeField) -> Option<(usize, i64)> {
    Some(match f {
        DateTimeField::Day | DateTimeField::Days => (0, 86_400_000),
        DateTimeField::Hour | DateTimeField::Hours => (1, 3_600_000),
        DateTimeField::Minute | DateTimeField::Minutes => (2, 60_000),
        DateTimeField::Second | DateTimeField::Seconds => (3, 1000),
        DateTimeField::Millisecond | DateTimeField::Milliseconds => (4, 1),
        _ => return None,
    })
}

const UNIT_MS: [i64; 5] = [86_400_000, 3_600_000, 60_000, 1000, 1];

fn parse_interval(
    text: &str,
    leading: Option<&DateTimeField>,
    last: Option<&DateTimeField>,
) -> Result<i64, String> {
    let bad = || format!("Illegal interval literal '{text}'");
    let t = text.trim();
    let (neg, body) = match t.strip_prefix('-') {
        Some(b) => (true, b),
        None => (false, t.strip_prefix('+').unwrap_or(t)),
    };
    let ms = match (leading, last) {
        (None, None) => {
            // `INTERVAL '10 seconds'`.
            let (n, unit) = body.split_once(' ').ok_or_else(bad)?;
            let unit = unit.trim().to_ascii_uppercase();
            let unit = unit.strip_suffix('S').unwrap_or(&unit);
            let idx = ["DAY", "HOUR", "MINUTE", "SECOND", "MILLISECOND"]
                .iter()
                .position(|u| *u == unit)
                .ok_or_else(bad)?;
            scaled(n, UNIT_MS[idx]).ok_or_else(bad)?
        }
        (Some(f), None) => {
            let (_, len) = unit_ms(f).ok_or_else(|| year_month(f))?;
            scaled(body, len).ok_or_else(bad)?
        }
        (Some(f), Some(l)) => {
            let (i, _) = unit_ms(f).ok_or_else(|| year_month(f))?;
            let (j, _) = unit_ms(l).ok_or_else(|| year_month(l))?;
            if j <= i || j > 3 {
                return Err(bad());
            }
            let parts: Vec<&str> = body.split([' ', ':']).collect();
            if parts.len() != j - i + 1 {
                return Err(bad());
            }
            let mut total = 0i64;
            for (k, part) in parts.iter().enumerate() {
                let unit = i + k;
                let v = if unit == 3 {
                    scaled(part, 1000)
                } else {
                    part.parse::<i64>()
                        .ok()
                        .and_then(|v| v.checked_mul(UNIT_MS[unit]))
                };
                total = total.checked_add(v.ok_or_else(bad)?).ok_or_else(bad)?;
            }
            total
        }
        (None, Some(_)) => return Err(bad()),
    };
    Ok(if neg { -ms } else { ms })
}

fn year_month(f: &DateTimeField) -> String {
    format!("Year-month intervals (INTERVAL ... {f}) are not supported; use a day-time interval")
}

/// A decimal number of units in milliseconds, rounded.
fn scaled(n: &str, unit_ms: i64) -> Option<i64> {
    let n = n.trim();
    if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return None;
    }
    let v: f64 = n.parse().ok()?;
    let ms = (v * unit_ms as f64).round();
    (ms.abs() < 9.2e18).then_some(ms as i64)
}

/// Write a constant as SQL text: `'abc'`, `0.908`, `TIMESTAMP '2020-01-01 00:00:00'`.
pub(super) fn fmt_literal(f: &mut fmt::Formatter<'_>, a: &ArrayRef, ty: SqlType) -> fmt::Result {
    if a.is_null(0) {
        return f.write_str("NULL");
    }
    if ty == SqlType::Interval {
        let ms = a
            .as_any()
            .downcast_ref::<DurationMillisecondArray>()
            .map_or(0, |d| d.value(0));
        let secs = ms as f64 / 1000.0;
        return write!(f, "INTERVAL '{secs}' SECOND");
    }
    let text = match cast::cast_array(a, ty, SqlType::STRING) {
        Ok(s) => s.as_string::<i32>().value(0).to_string(),
        Err(_) => return f.write_str("?"),
    };
    match ty {
        SqlType::Char(_) | SqlType::Varchar(_) => write!(f, "'{}'", text.replace('\'', "''")),
        SqlType::Date => write!(f, "DATE '{text}'"),
        SqlType::Timestamp(_) => write!(f, "TIMESTAMP '{text}'"),
        SqlType::TimestampLtz(_) => write!(f, "TIMESTAMP_LTZ '{text}'"),
        _ => f.write_str(&text),
    }
}
