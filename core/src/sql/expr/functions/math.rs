//! Math functions: ABS, SIGN, CEIL/CEILING, FLOOR, ROUND, TRUNCATE, POWER, SQRT, EXP, LN,
//! LOG, LOG10, LOG2, the trigonometric functions, DEGREES, RADIANS, PI, E.
//!
//! Exact types stay exact (ROUND of a DECIMAL is a DECIMAL with Flink's result scale,
//! rounded HALF_UP); the transcendental functions compute in DOUBLE.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, Float64Array, PrimitiveArray};
use arrow::datatypes::{
    ArrowPrimitiveType, Decimal128Type, Float32Type, Float64Type, Int16Type, Int32Type, Int64Type,
    Int8Type,
};

use super::{Call, Func, Kind};
use crate::error::{Error, Result};
use crate::sql::expr::arith::{pow10, round_div};
use crate::sql::expr::value::{collect_prim, PrimArg, Value};
use crate::sql::expr::{sql_error, TypedExpr};
use crate::sql::types::SqlType;

/// A DOUBLE → DOUBLE function.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::sql::expr) enum Unary {
    Sqrt,
    Exp,
    Ln,
    Log10,
    Log2,
    Sin,
    Cos,
    Tan,
    Cot,
    Asin,
    Acos,
    Atan,
    Sinh,
    Cosh,
    Tanh,
    Degrees,
    Radians,
}

impl Unary {
    fn parse(name: &str) -> Option<Unary> {
        Some(match name {
            "SQRT" => Unary::Sqrt,
            "EXP" => Unary::Exp,
            "LN" => Unary::Ln,
            "LOG10" => Unary::Log10,
            "LOG2" => Unary::Log2,
            "SIN" => Unary::Sin,
            "COS" => Unary::Cos,
            "TAN" => Unary::Tan,
            "COT" => Unary::Cot,
            "ASIN" => Unary::Asin,
            "ACOS" => Unary::Acos,
            "ATAN" => Unary::Atan,
            "SINH" => Unary::Sinh,
            "COSH" => Unary::Cosh,
            "TANH" => Unary::Tanh,
            "DEGREES" => Unary::Degrees,
            "RADIANS" => Unary::Radians,
            _ => return None,
        })
    }

    fn apply(self, x: f64) -> f64 {
        match self {
            Unary::Sqrt => x.sqrt(),
            Unary::Exp => x.exp(),
            Unary::Ln => x.ln(),
            Unary::Log10 => x.log10(),
            Unary::Log2 => x.ln() / std::f64::consts::LN_2,
            Unary::Sin => x.sin(),
            Unary::Cos => x.cos(),
            Unary::Tan => x.tan(),
            Unary::Cot => 1.0 / x.tan(),
            Unary::Asin => x.asin(),
            Unary::Acos => x.acos(),
            Unary::Atan => x.atan(),
            Unary::Sinh => x.sinh(),
            Unary::Cosh => x.cosh(),
            Unary::Tanh => x.tanh(),
            Unary::Degrees => x.to_degrees(),
            Unary::Radians => x.to_radians(),
        }
    }

    fn name(self) -> &'static str {
        match self {
            Unary::Sqrt => "SQRT",
            Unary::Exp => "EXP",
            Unary::Ln => "LN",
            Unary::Log10 => "LOG10",
            Unary::Log2 => "LOG2",
            Unary::Sin => "SIN",
            Unary::Cos => "COS",
            Unary::Tan => "TAN",
            Unary::Cot => "COT",
            Unary::Asin => "ASIN",
            Unary::Acos => "ACOS",
            Unary::Atan => "ATAN",
            Unary::Sinh => "SINH",
            Unary::Cosh => "COSH",
            Unary::Tanh => "TANH",
            Unary::Degrees => "DEGREES",
            Unary::Radians => "RADIANS",
        }
    }
}

/// A math function.
#[derive(Debug, Clone)]
pub(in crate::sql::expr) enum MathFunc {
    Abs,
    Sign,
    Floor,
    Ceil,
    /// ROUND to this many digits after the point (negative: before).
    Round(i32),
    /// TRUNCATE to this many digits.
    Truncate(i32),
    Unary(Unary),
    Power,
    /// `LOG(base, x)`.
    Log,
    Atan2,
}

impl MathFunc {
    pub(super) fn name(&self) -> &'static str {
        match self {
            MathFunc::Abs => "ABS",
            MathFunc::Sign => "SIGN",
            MathFunc::Floor => "FLOOR",
            MathFunc::Ceil => "CEIL",
            MathFunc::Round(_) => "ROUND",
            MathFunc::Truncate(_) => "TRUNCATE",
            MathFunc::Unary(u) => u.name(),
            MathFunc::Power => "POWER",
            MathFunc::Log => "LOG",
            MathFunc::Atan2 => "ATAN2",
        }
    }

    /// Evaluate over `n` rows.
    pub(super) fn eval(&self, e: &TypedExpr, v: &[Value], n: usize) -> Result<ArrayRef> {
        let first = v
            .first()
            .ok_or_else(|| Error::Internal(format!("missing argument in {e}")))?;
        match self {
            MathFunc::Unary(u) => {
                let a = first.clone().into_array(n)?;
                let u = *u;
                Ok(Arc::new(
                    a.as_primitive::<Float64Type>()
                        .unary::<_, Float64Type>(|x| u.apply(x)),
                ))
            }
            MathFunc::Power | MathFunc::Log | MathFunc::Atan2 => {
                let a = PrimArg::<Float64Type>::new(first)?;
                let b = PrimArg::<Float64Type>::new(
                    v.get(1)
                        .ok_or_else(|| Error::Internal(format!("missing argument in {e}")))?,
                )?;
                let f = match self {
                    MathFunc::Power => f64::powf,
                    MathFunc::Log => |base: f64, x: f64| x.ln() / base.ln(),
                    _ => f64::atan2,
                };
                Ok(Arc::new(collect_prim::<Float64Type>(n, |i| {
                    Some(f(a.get(i)?, b.get(i)?))
                })))
            }
            _ => {
                let a = first.clone().into_array(n)?;
                exact(self, &a, e.ty)
            }
        }
    }
}

/// ABS, SIGN, FLOOR, CEIL, ROUND, TRUNCATE on any numeric array.
fn exact(f: &MathFunc, a: &ArrayRef, ty: SqlType) -> Result<ArrayRef> {
    fn ints<T: ArrowPrimitiveType>(
        a: &ArrayRef,
        f: &MathFunc,
        to_i64: fn(T::Native) -> i64,
        from_i64: fn(i64) -> T::Native,
    ) -> ArrayRef {
        let a = a.as_primitive::<T>();
        let out: PrimitiveArray<T> = match f {
            MathFunc::Abs => a.unary(|v| from_i64(to_i64(v).wrapping_abs())),
            MathFunc::Sign => a.unary(|v| from_i64(to_i64(v).signum())),
            MathFunc::Round(d) | MathFunc::Truncate(d) if *d < 0 => {
                let m = pow10(d.unsigned_abs());
                let round = matches!(f, MathFunc::Round(_));
                a.unary(|v| {
                    let x = i128::from(to_i64(v));
                    let q = if round { round_div(x, m) } else { x / m };
                    from_i64(q.wrapping_mul(m) as i64)
                })
            }
            _ => a.clone(),
        };
        Arc::new(out)
    }
    Ok(match a.data_type() {
        arrow::datatypes::DataType::Int8 => ints::<Int8Type>(a, f, i64::from, |v| v as i8),
        arrow::datatypes::DataType::Int16 => ints::<Int16Type>(a, f, i64::from, |v| v as i16),
        arrow::datatypes::DataType::Int32 => ints::<Int32Type>(a, f, i64::from, |v| v as i32),
        arrow::datatypes::DataType::Int64 => ints::<Int64Type>(a, f, |v| v, |v| v),
        arrow::datatypes::DataType::Float32 => {
            let a = a.as_primitive::<Float32Type>();
            Arc::new(a.unary::<_, Float32Type>(|x| float_op(f, f64::from(x)) as f32))
        }
        arrow::datatypes::DataType::Float64 => {
            let a = a.as_primitive::<Float64Type>();
            Arc::new(a.unary::<_, Float64Type>(|x| float_op(f, x)))
        }
        arrow::datatypes::DataType::Decimal128(_, s) => {
            let s = *s;
            let SqlType::Decimal { precision, scale } = ty else {
                return Err(Error::Internal(format!(
                    "{} of a decimal typed {ty}",
                    f.name()
                )));
            };
            let a = a.as_primitive::<Decimal128Type>();
            let out = decimal_op(f, a, s).with_precision_and_scale(precision, scale)?;
            Arc::new(out)
        }
        other => {
            return Err(Error::Internal(format!("{} of {other}", f.name())));
        }
    })
}

fn float_op(f: &MathFunc, x: f64) -> f64 {
    match f {
        MathFunc::Abs => x.abs(),
        MathFunc::Sign => {
            if x > 0.0 {
                1.0
            } else if x < 0.0 {
                -1.0
            } else {
                x
            }
        }
        MathFunc::Floor => x.floor(),
        MathFunc::Ceil => x.ceil(),
        MathFunc::Round(d) => round_double(x, *d),
        MathFunc::Truncate(d) => {
            let m = 10f64.powi(*d);
            (x * m).trunc() / m
        }
        _ => x,
    }
}

/// Flink rounds a DOUBLE through its shortest decimal text, HALF_UP; the fast path is
/// exact unless the scaled value sits on a tie.
fn round_double(x: f64, d: i32) -> f64 {
    if !x.is_finite() {
        return x;
    }
    let m = 10f64.powi(d);
    let scaled = x * m;
    let frac = (scaled - scaled.trunc()).abs();
    if (frac - 0.5).abs() > 1e-6 {
        return scaled.round() / m;
    }
    // Near a tie: decide on the decimal text, as BigDecimal.valueOf would.
    let text = format!("{x}");
    let (int, fr) = text.split_once('.').unwrap_or((&text, ""));
    let neg = int.starts_with('-');
    let digits = format!("{}{fr}", int.trim_start_matches('-'));
    let Ok(unscaled) = digits.parse::<i128>() else {
        return scaled.round() / m;
    };
    let scale = fr.len() as i32;
    let v = if neg { -unscaled } else { unscaled };
    let r = if d >= scale {
        return x;
    } else {
        round_div(v, pow10((scale - d) as u32))
    };
    r as f64 / m
}

fn decimal_op(
    f: &MathFunc,
    a: &PrimitiveArray<Decimal128Type>,
    s: i8,
) -> PrimitiveArray<Decimal128Type> {
    let unit = pow10(s.max(0) as u32);
    match f {
        MathFunc::Abs => a.unary(|v| v.wrapping_abs()),
        MathFunc::Sign => a.unary(|v| v.signum() * unit),
        MathFunc::Floor => a.unary(|v| v.div_euclid(unit)),
        MathFunc::Ceil => a.unary(|v| -(-v).div_euclid(unit)),
        MathFunc::Round(d) | MathFunc::Truncate(d) => {
            let round = matches!(f, MathFunc::Round(_));
            let d = *d;
            if d >= i32::from(s) {
                return a.clone();
            }
            // Drop digits below 10^-d, then write the result at the output scale.
            let drop = pow10((i32::from(s) - d) as u32);
            let back = if d < 0 { pow10(d.unsigned_abs()) } else { 1 };
            a.unary(|v| {
                let q = if round { round_div(v, drop) } else { v / drop };
                q.wrapping_mul(back)
            })
        }
        _ => a.clone(),
    }
}

/// Flink's type of ROUND(DECIMAL(p, s), d).
fn round_type(t: SqlType, d: i32) -> SqlType {
    match t {
        SqlType::Decimal { precision, scale } => {
            let (p, s) = (i32::from(precision), i32::from(scale));
            let (p, s) = if d >= s {
                (p, s)
            } else if d < 0 {
                ((1 + p - s).min(38), 0)
            } else {
                ((1 + p - s + d).min(38), d)
            };
            SqlType::Decimal {
                precision: p.max(1) as u8,
                scale: s as i8,
            }
        }
        SqlType::Null => SqlType::Int,
        t => t,
    }
}

const D: SqlType = SqlType::Double;

/// Type a math function call, or give the call back if the name is not one.
pub(super) fn resolve(call: Call) -> Result<Result<TypedExpr, Call>> {
    use Kind::{Int, Num};
    let nullable = call.any_nullable();
    let first = call.args.first().map_or(SqlType::Null, |a| a.ty);
    let num1 = |call: &Call| -> Result<()> {
        call.arity(1, 1)?;
        call.check(&[Num], &format!("'{}(<NUMERIC>)'", call.upper))
    };
    let e = match call.upper.as_str() {
        "ABS" | "SIGN" => {
            num1(&call)?;
            let ty = if first == SqlType::Null {
                SqlType::Int
            } else {
                first
            };
            let f = if call.upper == "ABS" {
                MathFunc::Abs
            } else {
                MathFunc::Sign
            };
            call.build(Func::Math(f), &[ty], ty, nullable)
        }
        "FLOOR" | "CEIL" | "CEILING" => {
            num1(&call)?;
            let input = if first == SqlType::Null {
                SqlType::Int
            } else {
                first
            };
            let ty = match input {
                SqlType::Decimal { precision, scale } => SqlType::Decimal {
                    precision: (precision - scale.max(0) as u8 + u8::from(scale > 0)).clamp(1, 38),
                    scale: 0,
                },
                t => t,
            };
            let f = if call.upper == "FLOOR" {
                MathFunc::Floor
            } else {
                MathFunc::Ceil
            };
            call.build(Func::Math(f), &[input], ty, nullable)
        }
        "ROUND" | "TRUNCATE" => {
            call.arity(1, 2)?;
            call.check(
                &[Num, Int],
                &format!("'{0}(<NUMERIC>)'\n'{0}(<NUMERIC>, <INTEGER>)'", call.upper),
            )?;
            let d = match call.const_int(1) {
                None if call.args.len() == 1 => 0,
                Some(Some(d)) => d.clamp(-38, 38) as i32,
                _ => {
                    return Err(sql_error(
                        call.arg_at(1),
                        format!(
                            "The second argument of {} must be an integer constant",
                            call.upper
                        ),
                    ))
                }
            };
            let input = if first == SqlType::Null {
                SqlType::Int
            } else {
                first
            };
            let ty = round_type(input, d);
            let f = if call.upper == "ROUND" {
                MathFunc::Round(d)
            } else {
                MathFunc::Truncate(d)
            };
            let mut call = call;
            call.args.truncate(1);
            call.build(Func::Math(f), &[input], ty, nullable)
        }
        "POWER" | "POW" | "ATAN2" => {
            call.arity(2, 2)?;
            call.check(&[Num], &format!("'{}(<NUMERIC>, <NUMERIC>)'", call.upper))?;
            let f = if call.upper == "ATAN2" {
                MathFunc::Atan2
            } else {
                MathFunc::Power
            };
            call.build(Func::Math(f), &[D], D, nullable)
        }
        "LOG" => {
            call.arity(1, 2)?;
            call.check(&[Num], "'LOG(<NUMERIC>)'\n'LOG(<NUMERIC>, <NUMERIC>)'")?;
            let f = if call.args.len() == 1 {
                MathFunc::Unary(Unary::Ln)
            } else {
                MathFunc::Log
            };
            call.build(Func::Math(f), &[D], D, nullable)
        }
        "PI" | "E" => {
            call.arity(0, 0)?;
            let v = if call.upper == "PI" {
                std::f64::consts::PI
            } else {
                std::f64::consts::E
            };
            TypedExpr::literal(Arc::new(Float64Array::from(vec![v])), D)
        }
        name => match Unary::parse(name) {
            Some(u) => {
                num1(&call)?;
                call.build(Func::Math(MathFunc::Unary(u)), &[D], D, nullable)
            }
            None => return Ok(Err(call)),
        },
    };
    Ok(Ok(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_follows_flink() {
        assert_eq!(round_double(2.675, 2), 2.68);
        assert_eq!(round_double(-2.5, 0), -3.0);
        assert_eq!(round_double(1.2345, 3), 1.235);
        assert_eq!(round_double(1234.5, -2), 1200.0);
        assert_eq!(round_double(0.1 + 0.2, 1), 0.3);
        assert_eq!(
            round_type(
                SqlType::Decimal {
                    precision: 10,
                    scale: 4
                },
                2
            ),
            SqlType::Decimal {
                precision: 9,
                scale: 2
            }
        );
        assert_eq!(
            round_type(
                SqlType::Decimal {
                    precision: 10,
                    scale: 4
                },
                -1
            ),
            SqlType::Decimal {
                precision: 7,
                scale: 0
            }
        );
    }
}
