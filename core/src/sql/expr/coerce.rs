//! Flink's type rules: the common type of two branches, the result type of arithmetic, and
//! the type names Calcite prints in its error messages.

use crate::sql::types::{SqlType, MAX_DECIMAL_PRECISION, MAX_VARCHAR};

/// The smallest scale a decimal result keeps when its precision is capped (Flink's
/// `LogicalTypeMerging.MINIMUM_ADJUSTED_SCALE`).
const MIN_ADJUSTED_SCALE: i32 = 6;

/// The type two branches or operands unify to (CASE, COALESCE, UNION ALL, IN lists, the two
/// sides of a comparison), with Flink's rules; `None` if they are incompatible.
///
/// * the same type, or `NULL` with anything, gives that type;
/// * integers widen to the larger; integer with `DECIMAL` gives a `DECIMAL` wide enough for
///   both; anything with `DOUBLE` gives `DOUBLE`; `FLOAT` with an exact type gives `FLOAT`,
///   with `DECIMAL` `DOUBLE`;
/// * `CHAR(n)` with `CHAR(n)` stays; other strings give `VARCHAR` of the larger length
///   (Flink converts ragged `CHAR` unions to `VARCHAR`);
/// * `DATE` with `TIMESTAMP` gives the `TIMESTAMP`; timestamps take the larger precision.
///
/// # Example
/// ```
/// use millstream_core::sql::expr::common_type;
/// use millstream_core::sql::SqlType;
/// assert_eq!(common_type(SqlType::Int, SqlType::BigInt), Some(SqlType::BigInt));
/// assert_eq!(
///     common_type(SqlType::Decimal { precision: 3, scale: 3 }, SqlType::BigInt),
///     Some(SqlType::Decimal { precision: 22, scale: 3 })
/// );
/// assert_eq!(common_type(SqlType::STRING, SqlType::Int), None);
/// ```
pub fn common_type(a: SqlType, b: SqlType) -> Option<SqlType> {
    use SqlType as T;
    if a == b {
        return Some(a);
    }
    Some(match (a, b) {
        (T::Null, x) | (x, T::Null) => x,
        (x, y) if x.is_integer() && y.is_integer() => {
            if int_rank(x) >= int_rank(y) {
                x
            } else {
                y
            }
        }
        (T::Double, y) | (y, T::Double) if y.is_numeric() => T::Double,
        (T::Float, T::Decimal { .. }) | (T::Decimal { .. }, T::Float) => T::Double,
        (T::Float, y) | (y, T::Float) if y.is_numeric() => T::Float,
        (x, y) if x.is_numeric() && y.is_numeric() => {
            let (p1, s1) = x.as_decimal()?;
            let (p2, s2) = y.as_decimal()?;
            let s = i32::from(s1.max(s2));
            let int = (i32::from(p1) - i32::from(s1)).max(i32::from(p2) - i32::from(s2));
            let p = (int + s).min(i32::from(MAX_DECIMAL_PRECISION));
            let s = s.min(p - int.min(p));
            T::Decimal {
                precision: p as u8,
                scale: s as i8,
            }
        }
        (T::Char(n), T::Char(m)) => T::Varchar(n.max(m)),
        (T::Char(n) | T::Varchar(n), T::Char(m) | T::Varchar(m)) => T::Varchar(n.max(m)),
        (T::Date, T::Timestamp(p)) | (T::Timestamp(p), T::Date) => T::Timestamp(p),
        (T::Date, T::TimestampLtz(p)) | (T::TimestampLtz(p), T::Date) => T::TimestampLtz(p),
        (T::Timestamp(p), T::Timestamp(q)) => T::Timestamp(p.max(q)),
        (T::TimestampLtz(p), T::TimestampLtz(q)) => T::TimestampLtz(p.max(q)),
        _ => return None,
    })
}

fn int_rank(t: SqlType) -> u8 {
    match t {
        SqlType::TinyInt => 1,
        SqlType::SmallInt => 2,
        SqlType::Int => 3,
        _ => 4,
    }
}

/// Cap a decimal's precision at 38, giving up scale but keeping at least `min(scale, 6)`
/// digits after the point (Flink's `LogicalTypeMerging.adjustPrecisionScale`).
pub(super) fn adjust_decimal(precision: i32, scale: i32) -> SqlType {
    let max = i32::from(MAX_DECIMAL_PRECISION);
    let (p, s) = if precision <= max {
        (precision.max(1), scale)
    } else {
        let int_digits = precision - scale;
        let min_scale = scale.min(MIN_ADJUSTED_SCALE);
        (max, (max - int_digits).max(min_scale))
    };
    SqlType::Decimal {
        precision: p as u8,
        scale: s.clamp(0, p) as i8,
    }
}

/// An arithmetic operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ArithOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%` / `MOD`
    Mod,
}

impl ArithOp {
    /// The SQL spelling.
    pub(super) fn symbol(self) -> &'static str {
        match self {
            ArithOp::Add => "+",
            ArithOp::Sub => "-",
            ArithOp::Mul => "*",
            ArithOp::Div => "/",
            ArithOp::Mod => "%",
        }
    }
}

/// How the operands of a numeric operator are brought together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum NumericPlan {
    /// Both operands cast to this integer or floating type, computed there.
    Same(SqlType),
    /// Decimal arithmetic: operands as decimals (integers as `DECIMAL(p, 0)`), result type.
    Decimal(SqlType),
}

/// The result of numeric `a op b` with Flink's rules; `None` if either side is not numeric.
pub(super) fn numeric_result(op: ArithOp, a: SqlType, b: SqlType) -> Option<NumericPlan> {
    use SqlType as T;
    if !(a.is_numeric() || a == T::Null) || !(b.is_numeric() || b == T::Null) {
        return None;
    }
    // NULL takes the other side's type (INT for NULL op NULL).
    let (a, b) = match (a, b) {
        (T::Null, T::Null) => (T::Int, T::Int),
        (T::Null, x) | (x, T::Null) => (x, x),
        other => other,
    };
    if a.is_integer() && b.is_integer() {
        return common_type(a, b).map(NumericPlan::Same);
    }
    if matches!(a, T::Double | T::Float) || matches!(b, T::Double | T::Float) {
        let t = if matches!((a, b), (T::Float, T::Float))
            || (a == T::Float && b.is_integer())
            || (b == T::Float && a.is_integer())
        {
            T::Float
        } else {
            T::Double
        };
        return Some(NumericPlan::Same(t));
    }
    let (p1, s1) = a.as_decimal()?;
    let (p2, s2) = b.as_decimal()?;
    let (p1, s1, p2, s2) = (i32::from(p1), i32::from(s1), i32::from(p2), i32::from(s2));
    let t = match op {
        ArithOp::Add | ArithOp::Sub => {
            let s = s1.max(s2);
            adjust_decimal((p1 - s1).max(p2 - s2) + s + 1, s)
        }
        ArithOp::Mul => adjust_decimal(p1 + p2, s1 + s2),
        ArithOp::Div => {
            let s = MIN_ADJUSTED_SCALE.max(s1 + p2 + 1);
            adjust_decimal(p1 - s1 + s2 + s, s)
        }
        ArithOp::Mod => {
            let s = s1.max(s2);
            adjust_decimal((p1 - s1).min(p2 - s2) + s, s)
        }
    };
    Some(NumericPlan::Decimal(t))
}

/// The type as Calcite prints it in messages: `INTEGER`, `VARCHAR(2147483647)`, `CHAR(3)`,
/// `DECIMAL(3, 3)`, `TIMESTAMP(3)`.
pub(super) fn calcite_name(t: SqlType) -> String {
    match t {
        SqlType::Int => "INTEGER".into(),
        SqlType::Varchar(n) => format!("VARCHAR({n})"),
        SqlType::TimestampLtz(p) => format!("TIMESTAMP_WITH_LOCAL_TIME_ZONE({p})"),
        SqlType::Interval => "INTERVAL SECOND(3)".into(),
        other => other.to_string(),
    }
}

/// The type family Calcite prints in "No match found for function signature" messages.
pub(super) fn family_name(t: SqlType) -> &'static str {
    match t {
        t if t.is_numeric() => "NUMERIC",
        t if t.is_string() => "CHARACTER",
        SqlType::Boolean => "BOOLEAN",
        SqlType::Date => "DATE",
        SqlType::Timestamp(_) | SqlType::TimestampLtz(_) => "TIMESTAMP",
        SqlType::Interval => "INTERVAL",
        _ => "NULL",
    }
}

/// The length of a string type (`MAX_VARCHAR` for anything else).
pub(super) fn string_len(t: SqlType) -> u32 {
    match t {
        SqlType::Char(n) | SqlType::Varchar(n) => n,
        _ => MAX_VARCHAR,
    }
}

/// `VARCHAR(a + b)`, capped at `STRING`.
pub(super) fn varchar_sum(lens: impl IntoIterator<Item = u32>) -> SqlType {
    let total = lens
        .into_iter()
        .fold(0u64, |acc, n| acc + u64::from(n))
        .min(u64::from(MAX_VARCHAR));
    SqlType::Varchar(total as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(p: u8, s: i8) -> SqlType {
        SqlType::Decimal {
            precision: p,
            scale: s,
        }
    }

    #[test]
    fn decimal_arithmetic_types_follow_flink() {
        let plan = |op, a, b| match numeric_result(op, a, b) {
            Some(NumericPlan::Decimal(t)) => t,
            other => panic!("{other:?}"),
        };
        assert_eq!(plan(ArithOp::Mul, dec(3, 3), SqlType::BigInt), dec(22, 3));
        assert_eq!(plan(ArithOp::Add, dec(10, 2), dec(5, 4)), dec(13, 4));
        assert_eq!(plan(ArithOp::Div, dec(10, 2), dec(5, 0)), dec(16, 8));
        assert_eq!(plan(ArithOp::Div, SqlType::BigInt, dec(19, 0)), dec(38, 19));
        assert_eq!(plan(ArithOp::Mul, dec(38, 10), dec(38, 10)), dec(38, 6));
        assert_eq!(plan(ArithOp::Mod, dec(10, 2), SqlType::Int), dec(10, 2));
    }

    #[test]
    fn numeric_results_widen() {
        use NumericPlan::Same;
        assert_eq!(
            numeric_result(ArithOp::Add, SqlType::Int, SqlType::BigInt),
            Some(Same(SqlType::BigInt))
        );
        assert_eq!(
            numeric_result(ArithOp::Div, SqlType::Int, SqlType::Int),
            Some(Same(SqlType::Int))
        );
        assert_eq!(
            numeric_result(ArithOp::Add, dec(5, 2), SqlType::Double),
            Some(Same(SqlType::Double))
        );
        assert_eq!(
            numeric_result(ArithOp::Add, SqlType::Float, SqlType::Int),
            Some(Same(SqlType::Float))
        );
        assert_eq!(
            numeric_result(ArithOp::Add, SqlType::STRING, SqlType::Int),
            None
        );
    }

    #[test]
    fn common_types() {
        assert_eq!(
            common_type(SqlType::Char(7), SqlType::Char(9)),
            Some(SqlType::Varchar(9))
        );
        assert_eq!(
            common_type(SqlType::Null, SqlType::Date),
            Some(SqlType::Date)
        );
        assert_eq!(
            common_type(SqlType::Date, SqlType::Timestamp(3)),
            Some(SqlType::Timestamp(3))
        );
        assert_eq!(common_type(SqlType::Int, dec(5, 2)), Some(dec(12, 2)));
        assert_eq!(common_type(SqlType::Boolean, SqlType::Int), None);
        assert_eq!(
            common_type(SqlType::Float, SqlType::BigInt),
            Some(SqlType::Float)
        );
    }
}
