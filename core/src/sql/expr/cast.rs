//! `CAST` with Flink's semantics: which conversions exist, how values print as strings
//! (`TRUE`, `1.0E10`, `2020-01-01 00:00:00.000`), how strings parse (trimmed; a malformed
//! value is an error for `CAST` and NULL for `TRY_CAST`), and `CHAR(n)` / `VARCHAR(n)`
//! lengths for explicit casts.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Date32Array, PrimitiveArray, StringArray,
    StringBuilder, TimestampMillisecondArray,
};
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{
    DataType, Date32Type, DurationMillisecondType, Float32Type, Float64Type, Int64Type,
    TimestampMillisecondType,
};
use arrow::record_batch::RecordBatch;

use super::value::{collect_prim, row_error, Value};
use super::{datetime, CastMode, TypedExpr};
use crate::error::{Error, Result};
use crate::sql::types::{SqlType, MAX_VARCHAR};

/// Whether Flink can `CAST` a value of type `from` to `to`.
pub(super) fn castable(from: SqlType, to: SqlType) -> bool {
    use SqlType as T;
    let temporal = |t: SqlType| matches!(t, T::Date | T::Timestamp(_) | T::TimestampLtz(_));
    from == to
        || from == T::Null
        || to.is_string()
        || (from.is_string() && to != T::Interval && to != T::Null)
        || ((from.is_numeric() || from == T::Boolean) && (to.is_numeric() || to == T::Boolean))
        || (temporal(from) && temporal(to))
        || (from.is_integer() && matches!(to, T::TimestampLtz(_)))
        || (matches!(from, T::TimestampLtz(_)) && to.is_integer())
}

/// Whether a cast can fail on a row (only parsing strings can).
pub(super) fn may_fail(from: SqlType, to: SqlType) -> bool {
    from.is_string() && !to.is_string()
}

/// Arrow-level cast between SQL types with Flink's semantics (used by sinks and `CAST`):
/// numbers print as Java prints them, booleans as `TRUE`/`FALSE`, timestamps as
/// `yyyy-MM-dd HH:mm:ss[.fff]`; strings parse after trimming; string lengths are not
/// enforced.
///
/// # Errors
/// [`Error::Plan`] for a conversion Flink does not have; [`Error::Data`] for a string that
/// does not parse as the target type.
///
/// # Example
/// ```
/// use std::sync::Arc;
/// use arrow::array::{Array, ArrayRef, AsArray, Float64Array};
/// use millstream_core::sql::expr::cast_array;
/// use millstream_core::sql::SqlType;
/// let a: ArrayRef = Arc::new(Float64Array::from(vec![100.0, 1e10]));
/// let s = cast_array(&a, SqlType::Double, SqlType::STRING).unwrap();
/// assert_eq!(s.as_string::<i32>().value(0), "100.0");
/// assert_eq!(s.as_string::<i32>().value(1), "1.0E10");
/// ```
pub fn cast_array(array: &ArrayRef, from: SqlType, to: SqlType) -> Result<ArrayRef> {
    cast_impl(array, from, to, CastMode::Implicit, &"CAST")
}

/// Evaluate a cast node.
pub(super) fn eval_cast(
    e: &TypedExpr,
    arg: &TypedExpr,
    mode: CastMode,
    batch: &RecordBatch,
) -> Result<Value> {
    arg.eval(batch)?
        .map(|a| cast_impl(a, arg.ty, e.ty, mode, e))
}

fn cast_impl(
    a: &ArrayRef,
    from: SqlType,
    to: SqlType,
    mode: CastMode,
    what: &dyn std::fmt::Display,
) -> Result<ArrayRef> {
    use SqlType as T;
    if from == T::Null {
        return Ok(arrow::array::new_null_array(&to.arrow(), a.len()));
    }
    if to.is_string() {
        let s = if from.is_string() {
            Arc::clone(a)
        } else {
            Arc::new(to_strings(a, from)?) as ArrayRef
        };
        return Ok(match (mode, to) {
            (CastMode::Explicit | CastMode::Try, T::Char(n)) => fit_length(&s, n, true)?,
            (CastMode::Explicit | CastMode::Try, T::Varchar(n)) if n < MAX_VARCHAR => {
                fit_length(&s, n, false)?
            }
            _ => s,
        });
    }
    if from.is_string() {
        return parse_strings(a.as_string::<i32>(), to, mode, what);
    }
    if from == to || (from.arrow() == to.arrow() && !matches!(to, T::Timestamp(0..=2))) {
        return Ok(Arc::clone(a));
    }
    let ms_of = |a: &ArrayRef| -> Result<PrimitiveArray<TimestampMillisecondType>> {
        Ok(match from {
            T::Date => a
                .as_primitive::<Date32Type>()
                .unary(|d| i64::from(d) * datetime::MS_PER_DAY),
            _ => a.as_primitive::<TimestampMillisecondType>().clone(),
        })
    };
    let out: ArrayRef = match (from, to) {
        (f, t) if (f.is_numeric() || f == T::Boolean) && (t.is_numeric() || t == T::Boolean) => {
            arrow_cast(a, &to.arrow())?
        }
        (T::Date | T::Timestamp(_) | T::TimestampLtz(_), T::Date) => Arc::new(
            ms_of(a)?.unary::<_, Date32Type>(|ms| ms.div_euclid(datetime::MS_PER_DAY) as i32),
        ),
        (T::Date | T::Timestamp(_) | T::TimestampLtz(_), T::Timestamp(p) | T::TimestampLtz(p)) => {
            let ms = ms_of(a)?;
            let ms = if p < 3 {
                let unit = 10i64.pow(3 - u32::from(p));
                ms.unary(|v| v.wrapping_sub(v.rem_euclid(unit)))
            } else {
                ms
            };
            Arc::new(ms.with_timezone_opt(match to {
                T::TimestampLtz(_) => Some("UTC"),
                _ => None,
            }))
        }
        (f, T::TimestampLtz(_)) if f.is_integer() => {
            let secs = arrow_cast(a, &DataType::Int64)?;
            let secs = secs.as_primitive::<Int64Type>();
            Arc::new(
                collect_prim::<TimestampMillisecondType>(secs.len(), |i| {
                    secs.is_valid(i)
                        .then(|| secs.value(i).checked_mul(1000))
                        .flatten()
                })
                .with_timezone("UTC"),
            )
        }
        (T::TimestampLtz(_), t) if t.is_integer() => {
            let secs: ArrayRef = Arc::new(
                a.as_primitive::<TimestampMillisecondType>()
                    .unary::<_, Int64Type>(|ms| ms.div_euclid(1000)),
            );
            arrow_cast(&secs, &to.arrow())?
        }
        _ => {
            return Err(Error::Plan(format!(
                "Cast function cannot convert value of type {} to type {}",
                super::coerce::calcite_name(from),
                super::coerce::calcite_name(to)
            )))
        }
    };
    Ok(out)
}

/// arrow's cast, NULL on overflow.
fn arrow_cast(a: &ArrayRef, to: &DataType) -> Result<ArrayRef> {
    let opts = CastOptions {
        safe: true,
        ..Default::default()
    };
    Ok(cast_with_options(a.as_ref(), to, &opts)?)
}

/// Values as strings, Flink's way.
fn to_strings(a: &ArrayRef, from: SqlType) -> Result<StringArray> {
    use SqlType as T;
    let n = a.len();
    let mut b = StringBuilder::with_capacity(n, n * 8);
    let mut s = String::new();
    macro_rules! each {
        ($arr:expr, |$v:ident| $body:expr) => {{
            let arr = $arr;
            for i in 0..n {
                if arr.is_null(i) {
                    b.append_null();
                } else {
                    s.clear();
                    let $v = arr.value(i);
                    $body;
                    b.append_value(&s);
                }
            }
        }};
    }
    match from {
        T::Boolean => each!(a.as_boolean(), |v| s.push_str(if v {
            "TRUE"
        } else {
            "FALSE"
        })),
        T::Double => each!(a.as_primitive::<Float64Type>(), |v| java_double(v, &mut s)),
        T::Float => each!(a.as_primitive::<Float32Type>(), |v| java_float(v, &mut s)),
        T::Date => each!(a.as_primitive::<Date32Type>(), |v| datetime::format_date(
            i64::from(v),
            &mut s
        )),
        T::Timestamp(p) | T::TimestampLtz(p) => {
            each!(a.as_primitive::<TimestampMillisecondType>(), |v| {
                datetime::format_timestamp(v, p, &mut s)
            })
        }
        T::Interval => each!(a.as_primitive::<DurationMillisecondType>(), |v| {
            datetime::format_interval(v, &mut s)
        }),
        T::Null => {
            for _ in 0..n {
                b.append_null();
            }
        }
        _ => {
            // Integers and decimals print as arrow prints them (`90.800` for DECIMAL(5, 3)).
            let out = arrow_cast(a, &DataType::Utf8)?;
            return Ok(out.as_string::<i32>().clone());
        }
    }
    Ok(b.finish())
}

/// Java's `Double.toString`: `100.0`, `0.001`, `1.0E7`, `1.5E-4`, `NaN`, `Infinity`.
pub(super) fn java_double(v: f64, out: &mut String) {
    java_fmt(
        v,
        v.abs(),
        out,
        |o, v| write!(o, "{v}"),
        |o, v| write!(o, "{v:e}"),
    )
}

/// Java's `Float.toString`.
pub(super) fn java_float(v: f32, out: &mut String) {
    java_fmt(
        f64::from(v),
        f64::from(v.abs()),
        out,
        |o, _| write!(o, "{v}"),
        |o, _| write!(o, "{v:e}"),
    )
}

fn java_fmt(
    v: f64,
    abs: f64,
    out: &mut String,
    plain: impl Fn(&mut String, f64) -> std::fmt::Result,
    sci: impl Fn(&mut String, f64) -> std::fmt::Result,
) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else if abs == 0.0 || (1e-3..1e7).contains(&abs) {
        let start = out.len();
        let _ = plain(out, v);
        if !out[start..].contains('.') {
            out.push_str(".0");
        }
    } else {
        let mut t = String::new();
        let _ = sci(&mut t, v);
        let (mantissa, exp) = t.split_once('e').unwrap_or((&t, "0"));
        out.push_str(mantissa);
        if !mantissa.contains('.') {
            out.push_str(".0");
        }
        out.push('E');
        out.push_str(exp);
    }
}

/// Enforce `CHAR(n)` (pad with spaces, truncate) or `VARCHAR(n)` (truncate).
fn fit_length(a: &ArrayRef, n: u32, pad: bool) -> Result<ArrayRef> {
    let s = a.as_string::<i32>();
    let n = n as usize;
    let fits = |v: &str| {
        let len = if v.is_ascii() {
            v.len()
        } else {
            v.chars().count()
        };
        if pad {
            len == n
        } else {
            len <= n
        }
    };
    if s.iter().flatten().all(fits) {
        return Ok(Arc::clone(a));
    }
    let mut b = StringBuilder::with_capacity(s.len(), s.len() * n);
    for v in s.iter() {
        match v {
            None => b.append_null(),
            Some(v) => {
                let end = v.char_indices().nth(n).map_or(v.len(), |(i, _)| i);
                let cut = &v[..end];
                let _ = b.write_str(cut);
                if pad {
                    for _ in cut.chars().count()..n {
                        let _ = b.write_char(' ');
                    }
                }
                b.append_value("");
            }
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Parse strings as `to`; a value that does not parse is NULL for `TRY_CAST` and an error
/// otherwise.
fn parse_strings(
    s: &StringArray,
    to: SqlType,
    mode: CastMode,
    what: &dyn std::fmt::Display,
) -> Result<ArrayRef> {
    use SqlType as T;
    let out: ArrayRef = match to {
        T::Date => Arc::new(
            s.iter()
                .map(|v| v.and_then(datetime::parse_date))
                .collect::<Date32Array>(),
        ),
        T::Timestamp(_) | T::TimestampLtz(_) => {
            let ts: TimestampMillisecondArray = s
                .iter()
                .map(|v| v.and_then(|v| datetime::parse_timestamp(v).map(|(ms, _)| ms)))
                .collect();
            let ts = if matches!(to, T::TimestampLtz(_)) {
                ts.with_timezone("UTC")
            } else {
                ts
            };
            // Truncate to the precision, as any other timestamp cast does.
            return cast_impl(
                &(Arc::new(ts) as ArrayRef),
                if matches!(to, T::TimestampLtz(_)) {
                    T::TimestampLtz(3)
                } else {
                    T::Timestamp(3)
                },
                to,
                mode,
                what,
            )
            .and_then(|out| check_parsed(s, &out, to, mode, what).map(|_| out));
        }
        T::Boolean => Arc::new(
            s.iter()
                .map(|v| v.and_then(parse_bool))
                .collect::<BooleanArray>(),
        ),
        _ => {
            let first = arrow_cast(&(Arc::new(s.clone()) as ArrayRef), &to.arrow())?;
            if first.null_count() == s.null_count() {
                first
            } else {
                // Flink trims before parsing numbers; only pay for it when needed.
                let trimmed: StringArray = s.iter().map(|v| v.map(str::trim)).collect();
                arrow_cast(&(Arc::new(trimmed) as ArrayRef), &to.arrow())?
            }
        }
    };
    check_parsed(s, &out, to, mode, what)?;
    Ok(out)
}

fn check_parsed(
    s: &StringArray,
    out: &ArrayRef,
    to: SqlType,
    mode: CastMode,
    what: &dyn std::fmt::Display,
) -> Result<()> {
    if mode == CastMode::Try || out.null_count() == s.null_count() {
        return Ok(());
    }
    let bad = (0..s.len())
        .find(|&i| s.is_valid(i) && out.is_null(i))
        .map_or("", |i| s.value(i));
    Err(row_error(
        what,
        format!("cannot cast '{bad}' to {}", super::coerce::calcite_name(to)),
    ))
}

/// Flink's string-to-boolean: `true`/`t`/`yes`/`y`/`1` and their opposites, any case.
fn parse_bool(v: &str) -> Option<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}
