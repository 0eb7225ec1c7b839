//! Arithmetic: `+ - * / %`, unary minus, and time ± interval, with Flink's result types.
//!
//! Integers and floats use arrow's kernels (integers wrap on overflow like Java's;
//! division truncates and a zero divisor is an error naming the expression). Decimals are
//! computed exactly in `i128` at the operands' scales and rounded HALF_UP to the result
//! scale; a result that does not fit the result precision is NULL, as in Flink.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::compute::kernels::numeric;
use arrow::datatypes::{
    Date32Type, Decimal128Type, DurationMillisecondType, TimestampMillisecondType,
};
use arrow::error::ArrowError;
use sqlparser::tokenizer::Location;

use super::coerce::{calcite_name, numeric_result, ArithOp, NumericPlan};
use super::datetime::MS_PER_DAY;
use super::value::{collect_prim, datum2, row_error, try_collect_prim, PrimArg, Value};
use super::{sql_error, Node, TypedExpr};
use crate::error::{Error, Result};
use crate::sql::types::SqlType;

/// Type `l op r` and insert the casts its evaluation expects.
pub(super) fn build(op: ArithOp, l: TypedExpr, r: TypedExpr, at: Location) -> Result<TypedExpr> {
    use SqlType as T;
    let nullable = l.nullable || r.nullable;
    let temporal = |t: SqlType| matches!(t, T::Date | T::Timestamp(_) | T::TimestampLtz(_));
    let (lt, rt) = (l.ty, r.ty);
    let node = |op, l: TypedExpr, r: TypedExpr, ty| {
        TypedExpr::build(
            Node::Arith {
                op,
                l: Box::new(l),
                r: Box::new(r),
            },
            ty,
            nullable,
        )
    };
    let additive = matches!(op, ArithOp::Add | ArithOp::Sub);
    // Time and intervals: TIMESTAMP ± INTERVAL, INTERVAL + TIMESTAMP, INTERVAL ± INTERVAL.
    match (lt, rt) {
        (t, T::Interval | T::Null) if additive && temporal(t) => {
            return Ok(node(op, l, r.coerce(T::Interval), t));
        }
        (T::Interval, t) if op == ArithOp::Add && temporal(t) => {
            return Ok(node(op, r, l, t));
        }
        (T::Interval, T::Interval | T::Null) | (T::Null, T::Interval) if additive => {
            return Ok(node(
                op,
                l.coerce(T::Interval),
                r.coerce(T::Interval),
                T::Interval,
            ));
        }
        _ => {}
    }
    match numeric_result(op, lt, rt) {
        Some(NumericPlan::Same(t)) => {
            let out = node(op, l.coerce(t), r.coerce(t), t);
            // Calcite types an integer remainder by its divisor (NULLABLE_MOD): BIGINT % INT
            // is an INT. It is computed in the wider type; |remainder| < |divisor| fits.
            if op == ArithOp::Mod && rt.is_integer() && rt != t {
                Ok(out.coerce(rt))
            } else {
                Ok(out)
            }
        }
        Some(NumericPlan::Decimal(t)) => {
            let as_dec = |e: TypedExpr, other: SqlType| {
                let src = if e.ty == T::Null { other } else { e.ty };
                let (p, s) = src.as_decimal().unwrap_or((38, 0));
                e.coerce(T::Decimal {
                    precision: p,
                    scale: s,
                })
            };
            let (l, r) = (as_dec(l, rt), as_dec(r, lt));
            Ok(node(op, l, r, t))
        }
        None => {
            let sym = op.symbol();
            let forms = match op {
                ArithOp::Add | ArithOp::Sub => format!(
                    "'<NUMERIC> {sym} <NUMERIC>'\n'<DATETIME_INTERVAL> {sym} <DATETIME_INTERVAL>'\n'<DATETIME> {sym} <DATETIME_INTERVAL>'"
                ),
                _ => format!("'<NUMERIC> {sym} <NUMERIC>'"),
            };
            Err(sql_error(
                at,
                format!(
                    "Cannot apply '{sym}' to arguments of type '<{}> {sym} <{}>'. Supported form(s): {forms}",
                    calcite_name(lt),
                    calcite_name(rt)
                ),
            ))
        }
    }
}

/// Type unary minus.
pub(super) fn build_neg(arg: TypedExpr, at: Location) -> Result<TypedExpr> {
    let t = match arg.ty {
        SqlType::Null => SqlType::Int,
        t if t.is_numeric() || t == SqlType::Interval => t,
        t => {
            return Err(sql_error(
                at,
                format!(
                    "Cannot apply '-' to arguments of type '-<{}>'. Supported form(s): '-<NUMERIC>'\n'-<DATETIME_INTERVAL>'",
                    calcite_name(t)
                ),
            ))
        }
    };
    let nullable = arg.nullable;
    Ok(TypedExpr::build(
        Node::Neg(Box::new(arg.coerce(t))),
        t,
        nullable,
    ))
}

/// Evaluate unary minus.
pub(super) fn eval_neg(e: &TypedExpr, v: Value) -> Result<Value> {
    v.map(|a| Ok(numeric::neg_wrapping(a.as_ref())?))
        .map_err(|err| kernel_error(e, err))
}

/// Evaluate `l op r` (operands as [`build`] typed them).
pub(super) fn eval_arith(
    e: &TypedExpr,
    op: ArithOp,
    l: &TypedExpr,
    lv: &Value,
    r: &TypedExpr,
    rv: &Value,
) -> Result<Value> {
    use SqlType as T;
    let scalar = lv.is_scalar() && rv.is_scalar();
    // The rows are the array operand's (a scalar is one row, even over an empty batch).
    let n = match (lv.is_scalar(), rv.is_scalar()) {
        (true, true) => 1,
        (false, _) => lv.array().len(),
        (true, false) => rv.array().len(),
    };
    match e.ty {
        T::Decimal { precision, scale } => {
            let (p1, s1, p2, s2) = match (l.ty, r.ty) {
                (
                    T::Decimal {
                        precision: p1,
                        scale: a,
                    },
                    T::Decimal {
                        precision: p2,
                        scale: b,
                    },
                ) => (p1, a, p2, b),
                _ => return Err(Error::Internal(format!("decimal operands expected in {e}"))),
            };
            // A product of at most `precision` digits at scale `s1 + s2` can neither overflow
            // nor need rounding (Flink's DECIMAL(p1 + p2, s1 + s2) whenever p1 + p2 <= 38,
            // as for q1's `0.908 * price`): one vectorized multiply, no per-row checks.
            if op == ArithOp::Mul
                && i16::from(scale) == i16::from(s1) + i16::from(s2)
                && u16::from(p1) + u16::from(p2) <= u16::from(precision)
            {
                return datum2(lv, rv, |a, b| {
                    let out = numeric::mul_wrapping(a, b).map_err(|err| kernel_error(e, err))?;
                    let out = out
                        .as_primitive_opt::<Decimal128Type>()
                        .ok_or_else(|| Error::Internal(format!("{e}: the product is not DECIMAL")))?
                        .clone()
                        .with_precision_and_scale(precision, scale)?;
                    Ok(Arc::new(out) as ArrayRef)
                });
            }
            let a = PrimArg::<Decimal128Type>::new(lv)?;
            let b = PrimArg::<Decimal128Type>::new(rv)?;
            let out = try_collect_prim::<Decimal128Type>(n, |i| {
                let (Some(x), Some(y)) = (a.get(i), b.get(i)) else {
                    return Ok(None);
                };
                decimal_op(op, x, s1, y, s2, scale, precision).map_err(|m| row_error(e, m))
            })?
            .with_precision_and_scale(precision, scale)?;
            Ok(Value::wrap(Arc::new(out), scalar))
        }
        T::Timestamp(_) | T::TimestampLtz(_) | T::Date | T::Interval => {
            let d = PrimArg::<DurationMillisecondType>::new(rv)?;
            let sign = if op == ArithOp::Sub { -1 } else { 1 };
            let out: ArrayRef = match e.ty {
                T::Date => {
                    let a = PrimArg::<Date32Type>::new(lv)?;
                    Arc::new(collect_prim::<Date32Type>(n, |i| {
                        let ms = (i64::from(a.get(i)?) * MS_PER_DAY)
                            .checked_add(d.get(i)?.checked_mul(sign)?)?;
                        i32::try_from(ms.div_euclid(MS_PER_DAY)).ok()
                    }))
                }
                T::Interval => {
                    let a = PrimArg::<DurationMillisecondType>::new(lv)?;
                    Arc::new(collect_prim::<DurationMillisecondType>(n, |i| {
                        a.get(i)?.checked_add(d.get(i)?.checked_mul(sign)?)
                    }))
                }
                _ => {
                    let a = PrimArg::<TimestampMillisecondType>::new(lv)?;
                    let tz = matches!(e.ty, T::TimestampLtz(_)).then_some("UTC");
                    Arc::new(
                        collect_prim::<TimestampMillisecondType>(n, |i| {
                            a.get(i)?.checked_add(d.get(i)?.checked_mul(sign)?)
                        })
                        .with_timezone_opt(tz),
                    )
                }
            };
            Ok(Value::wrap(out, scalar))
        }
        _ => datum2(lv, rv, |a, b| {
            let out = match op {
                ArithOp::Add => numeric::add_wrapping(a, b),
                ArithOp::Sub => numeric::sub_wrapping(a, b),
                ArithOp::Mul => numeric::mul_wrapping(a, b),
                ArithOp::Div => numeric::div(a, b),
                ArithOp::Mod => numeric::rem(a, b),
            };
            out.map_err(|err| kernel_error(e, err))
        }),
    }
}

fn kernel_error(e: &TypedExpr, err: impl Into<Error>) -> Error {
    match err.into() {
        Error::Arrow(ArrowError::DivideByZero) => row_error(e, "division by zero"),
        Error::Arrow(ArrowError::ArithmeticOverflow(m)) => row_error(e, format!("overflow: {m}")),
        other => other,
    }
}

const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// `10^k`, for `k` in 0..=38.
pub(super) fn pow10(k: u32) -> i128 {
    POW10[k.min(38) as usize]
}

/// `v / d` rounded HALF_UP (ties away from zero); `d > 0`.
pub(super) fn round_div(v: i128, d: i128) -> i128 {
    let (q, r) = (v / d, v % d);
    if r.abs() >= d - r.abs() {
        q + v.signum()
    } else {
        q
    }
}

/// `v` (at scale `from`) at scale `to`, rounded HALF_UP; `None` on overflow.
pub(super) fn rescale(v: i128, from: i8, to: i8) -> Option<i128> {
    let diff = i32::from(to) - i32::from(from);
    if diff >= 0 {
        v.checked_mul(*POW10.get(diff as usize)?)
    } else {
        Some(match POW10.get((-diff) as usize) {
            Some(d) => round_div(v, *d),
            None => 0,
        })
    }
}

/// One decimal operation: `Ok(None)` when the result overflows its precision (Flink's NULL),
/// `Err` for a zero divisor.
fn decimal_op(
    op: ArithOp,
    a: i128,
    s1: i8,
    b: i128,
    s2: i8,
    s: i8,
    p: u8,
) -> Result<Option<i128>, String> {
    let v = match op {
        ArithOp::Add | ArithOp::Sub => {
            let sm = s1.max(s2);
            let (Some(x), Some(y)) = (rescale(a, s1, sm), rescale(b, s2, sm)) else {
                return Ok(None);
            };
            let v = if op == ArithOp::Add {
                x.checked_add(y)
            } else {
                x.checked_sub(y)
            };
            v.and_then(|v| rescale(v, sm, s))
        }
        ArithOp::Mul => a.checked_mul(b).and_then(|v| rescale(v, s1 + s2, s)),
        ArithOp::Div => {
            if b == 0 {
                return Err("division by zero".into());
            }
            // a / b at scale s = a * 10^(s - s1 + s2) / b.
            let k = i32::from(s) - i32::from(s1) + i32::from(s2);
            div_scaled(a, b, k)
        }
        ArithOp::Mod => {
            if b == 0 {
                return Err("division by zero".into());
            }
            let sm = s1.max(s2);
            match (rescale(a, s1, sm), rescale(b, s2, sm)) {
                (Some(x), Some(y)) => rescale(x % y, sm, s),
                _ => None,
            }
        }
    };
    Ok(v.filter(|v| v.unsigned_abs() < pow10(u32::from(p)).unsigned_abs()))
}

/// `a * 10^k / b`, rounded HALF_UP; `None` on overflow.
fn div_scaled(a: i128, b: i128, k: i32) -> Option<i128> {
    if k < 0 {
        let d = b.checked_mul(*POW10.get((-k) as usize)?)?;
        return Some(round_div_signed(a, d));
    }
    if let Some(num) = POW10.get(k as usize).and_then(|m| a.checked_mul(*m)) {
        return Some(round_div_signed(num, b));
    }
    // a * 10^k overflows: long division, one digit at a time.
    let neg = (a < 0) != (b < 0);
    let (ua, ub) = (a.unsigned_abs(), b.unsigned_abs());
    let (mut q, mut r) = (ua / ub, ua % ub);
    for _ in 0..k {
        let r10 = r.checked_mul(10)?;
        q = q.checked_mul(10)?.checked_add(r10 / ub)?;
        r = r10 % ub;
    }
    if r >= ub - r {
        q = q.checked_add(1)?;
    }
    let q = i128::try_from(q).ok()?;
    Some(if neg { -q } else { q })
}

fn round_div_signed(v: i128, d: i128) -> i128 {
    if d < 0 {
        round_div(-v, -d)
    } else {
        round_div(v, d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_kernels_round_half_up_and_null_on_overflow() {
        // 0.908 * 100 at DECIMAL(22, 3)
        assert_eq!(
            decimal_op(ArithOp::Mul, 908, 3, 100, 0, 3, 22),
            Ok(Some(90_800))
        );
        // 1.00 / 3 at scale 6: 0.333333
        assert_eq!(
            decimal_op(ArithOp::Div, 100, 2, 3, 0, 6, 16),
            Ok(Some(333_333))
        );
        // 2 / 3 rounds up: 0.666667
        assert_eq!(
            decimal_op(ArithOp::Div, 2, 0, 3, 0, 6, 16),
            Ok(Some(666_667))
        );
        assert_eq!(
            decimal_op(ArithOp::Div, -2, 0, 3, 0, 6, 16),
            Ok(Some(-666_667))
        );
        assert!(decimal_op(ArithOp::Div, 1, 0, 0, 0, 6, 16).is_err());
        // 1.5 + 0.25 = 1.75
        assert_eq!(decimal_op(ArithOp::Add, 15, 1, 25, 2, 2, 5), Ok(Some(175)));
        // 99 + 1 does not fit DECIMAL(2, 0)
        assert_eq!(decimal_op(ArithOp::Add, 99, 0, 1, 0, 0, 2), Ok(None));
        // 7.5 % 2 = 1.5
        assert_eq!(decimal_op(ArithOp::Mod, 75, 1, 2, 0, 1, 3), Ok(Some(15)));
        // scale reduction on multiply: 0.125 * 0.5 = 0.0625 -> 0.063 at scale 3
        assert_eq!(decimal_op(ArithOp::Mul, 125, 3, 5, 1, 3, 10), Ok(Some(63)));
        // long division path: 10^30 / 3 at scale 10
        let big = pow10(30);
        let v = decimal_op(ArithOp::Div, big, 0, pow10(10), 0, 10, 38);
        assert_eq!(v, Ok(Some(big)));
        let thirds: i128 = "3".repeat(30).parse().unwrap();
        assert_eq!(div_scaled(pow10(30), 3 * pow10(10), 10), Some(thirds));
        assert_eq!(
            div_scaled(-2 * pow10(30), 3 * pow10(10), 10),
            Some(-(2 * thirds + 1))
        );
    }
}
