//! Values spelled as Flink spells them, in the three places Millstream shows rows as text.
//!
//! | type | [`ValueStyle::Sql`] (SQL client, `CAST(x AS STRING)`) | [`ValueStyle::Csv`] (csv format) | [`ValueStyle::Java`] (`print` connector) |
//! |---|---|---|---|
//! | `BOOLEAN` | `TRUE` | `true` | `true` |
//! | `DOUBLE` / `FLOAT` | Java's `Double.toString`: `1.5`, `9.08E7`, `1.0E-4` | same | same |
//! | `DECIMAL(p, s)` | exactly `s` decimals: `12.50` | same | same |
//! | `TIMESTAMP(p)` | `2020-01-01 00:00:00.000` (`p` decimals) | same | `LocalDateTime`: `2020-01-01T00:00` |
//! | `TIMESTAMP_LTZ(p)` | as `TIMESTAMP(p)`, in UTC | same | `Instant`: `2020-01-01T00:00:00Z` |
//! | `DATE` | `2020-01-01` | same | same |
//! | `INTERVAL` (day-time) | `+0 00:00:10.000` | same | `Duration`: `PT10S` |
//!
//! NULL is not spelled here: [`ValueFormatter::value`] returns `None` and the caller writes
//! `<NULL>` (SQL client table), an empty field (CSV) or `null` (print).
//!
//! Known differences from Flink: Java's `BigDecimal.toString` (the `print` connector) switches
//! to scientific notation for tiny values (`1E-7`), here decimals are always plain; doubles
//! use the shortest round-trip digits (Java 19 and later do too; older JVMs sometimes print
//! one more digit).

use std::fmt::Write as _;

use arrow::array::{Array, AsArray};
use arrow::datatypes::{
    DataType, Date32Type, Decimal128Type, DurationMillisecondType, Float32Type, Float64Type,
    Int16Type, Int32Type, Int64Type, Int8Type, TimeUnit, TimestampMicrosecondType,
    TimestampMillisecondType, TimestampNanosecondType, TimestampSecondType, UInt16Type, UInt32Type,
    UInt64Type, UInt8Type,
};
use arrow::util::display::{ArrayFormatter, FormatOptions};
use millstream_core::error::Result;
use millstream_core::sql::SqlType;

/// Which of Flink's spellings to use (see the [module docs](self)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ValueStyle {
    /// The SQL client's result tables and `CAST(x AS STRING)`.
    Sql,
    /// Flink's `csv` format (the filesystem connector).
    Csv,
    /// Java's `toString` of Flink's external types (`Row.toString`, the `print` connector).
    Java,
}

/// Formats the values of one column; built once per batch column, then asked per row.
///
/// # Example
/// ```
/// use arrow::array::{Float64Array, TimestampMillisecondArray};
/// use millstream_connectors::sql::{ValueFormatter, ValueStyle};
///
/// let prices = Float64Array::from(vec![Some(1.5), Some(9.08e7), None]);
/// let f = ValueFormatter::new(&prices, ValueStyle::Sql);
/// assert_eq!(f.value(0).as_deref(), Some("1.5"));
/// assert_eq!(f.value(1).as_deref(), Some("9.08E7"));
/// assert_eq!(f.value(2), None);
///
/// let ts = TimestampMillisecondArray::from(vec![1_436_918_400_527]);
/// assert_eq!(ValueFormatter::new(&ts, ValueStyle::Sql).value(0).as_deref(), Some("2015-07-15 00:00:00.527"));
/// assert_eq!(ValueFormatter::new(&ts, ValueStyle::Java).value(0).as_deref(), Some("2015-07-15T00:00:00.527"));
/// ```
pub struct ValueFormatter<'a> {
    array: &'a dyn Array,
    style: ValueStyle,
    /// Fraction digits of timestamps (the declared precision), when known.
    precision: Option<u8>,
    /// Arrow's formatter for types this module does not spell itself.
    fallback: Option<ArrayFormatter<'a>>,
}

impl std::fmt::Debug for ValueFormatter<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ValueFormatter")
            .field("type", self.array.data_type())
            .field("style", &self.style)
            .field("precision", &self.precision)
            .finish()
    }
}

/// Whether this module spells values of `t` itself.
fn is_native(t: &DataType) -> bool {
    matches!(
        t,
        DataType::Null
            | DataType::Boolean
            | DataType::Int8
            | DataType::Int16
            | DataType::Int32
            | DataType::Int64
            | DataType::UInt8
            | DataType::UInt16
            | DataType::UInt32
            | DataType::UInt64
            | DataType::Float32
            | DataType::Float64
            | DataType::Decimal128(_, _)
            | DataType::Utf8
            | DataType::LargeUtf8
            | DataType::Utf8View
            | DataType::Date32
            | DataType::Timestamp(_, _)
            | DataType::Duration(TimeUnit::Millisecond)
    )
}

impl<'a> ValueFormatter<'a> {
    /// A formatter of `array`'s values in `style`. Types without a Flink spelling here
    /// (lists, structs...) are shown as arrow shows them.
    pub fn new(array: &'a dyn Array, style: ValueStyle) -> Self {
        let fallback = if is_native(array.data_type()) {
            None
        } else {
            ArrayFormatter::try_new(array, &FormatOptions::default()).ok()
        };
        ValueFormatter {
            array,
            style,
            precision: None,
            fallback,
        }
    }

    /// Takes the timestamp precision of the column's SQL type (`TIMESTAMP(6)` prints six
    /// decimals, although Millstream keeps milliseconds).
    pub fn with_sql_type(mut self, ty: &SqlType) -> Self {
        if let SqlType::Timestamp(p) | SqlType::TimestampLtz(p) = ty {
            self.precision = Some(*p);
        }
        self
    }

    /// Whether row `row` is NULL.
    pub fn is_null(&self, row: usize) -> bool {
        self.array.is_null(row) || matches!(self.array.data_type(), DataType::Null)
    }

    /// The value of row `row`, `None` for NULL.
    pub fn value(&self, row: usize) -> Option<String> {
        let mut s = String::new();
        self.write(row, &mut s).then_some(s)
    }

    /// Appends the value of row `row` to `out`; returns `false` (writing nothing) for NULL.
    pub fn write(&self, row: usize, out: &mut String) -> bool {
        if self.is_null(row) {
            return false;
        }
        let a = self.array;
        match a.data_type() {
            DataType::Boolean => {
                let v = a.as_boolean().value(row);
                out.push_str(match (self.style, v) {
                    (ValueStyle::Sql, true) => "TRUE",
                    (ValueStyle::Sql, false) => "FALSE",
                    (_, true) => "true",
                    (_, false) => "false",
                });
            }
            DataType::Int8 => push(out, a.as_primitive::<Int8Type>().value(row)),
            DataType::Int16 => push(out, a.as_primitive::<Int16Type>().value(row)),
            DataType::Int32 => push(out, a.as_primitive::<Int32Type>().value(row)),
            DataType::Int64 => push(out, a.as_primitive::<Int64Type>().value(row)),
            DataType::UInt8 => push(out, a.as_primitive::<UInt8Type>().value(row)),
            DataType::UInt16 => push(out, a.as_primitive::<UInt16Type>().value(row)),
            DataType::UInt32 => push(out, a.as_primitive::<UInt32Type>().value(row)),
            DataType::UInt64 => push(out, a.as_primitive::<UInt64Type>().value(row)),
            DataType::Float32 => {
                let v = a.as_primitive::<Float32Type>().value(row);
                write_java_float(out, f64::from(v), format!("{:e}", v.abs()));
            }
            DataType::Float64 => {
                let v = a.as_primitive::<Float64Type>().value(row);
                write_java_float(out, v, format!("{:e}", v.abs()));
            }
            DataType::Decimal128(_, scale) => {
                write_decimal(out, a.as_primitive::<Decimal128Type>().value(row), *scale);
            }
            DataType::Utf8 => out.push_str(a.as_string::<i32>().value(row)),
            DataType::LargeUtf8 => out.push_str(a.as_string::<i64>().value(row)),
            DataType::Utf8View => out.push_str(a.as_string_view().value(row)),
            DataType::Date32 => {
                write_date(out, i64::from(a.as_primitive::<Date32Type>().value(row)));
            }
            DataType::Timestamp(unit, tz) => {
                let (secs, nanos, digits) = match unit {
                    TimeUnit::Second => (a.as_primitive::<TimestampSecondType>().value(row), 0, 0),
                    TimeUnit::Millisecond => {
                        let v = a.as_primitive::<TimestampMillisecondType>().value(row);
                        (v.div_euclid(1000), v.rem_euclid(1000) * 1_000_000, 3)
                    }
                    TimeUnit::Microsecond => {
                        let v = a.as_primitive::<TimestampMicrosecondType>().value(row);
                        (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1000, 6)
                    }
                    TimeUnit::Nanosecond => {
                        let v = a.as_primitive::<TimestampNanosecondType>().value(row);
                        (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000), 9)
                    }
                };
                let digits = self.precision.unwrap_or(digits).min(9);
                write_timestamp(out, secs, nanos as u32, digits, tz.is_some(), self.style);
            }
            DataType::Duration(TimeUnit::Millisecond) => {
                let ms = a.as_primitive::<DurationMillisecondType>().value(row);
                write_interval(out, ms, self.style);
            }
            _ => match &self.fallback {
                Some(f) => {
                    let _ = write!(out, "{}", f.value(row));
                }
                None => out.push('?'),
            },
        }
        true
    }
}

/// The value of row `row` of `array` in `style`, `None` for NULL.
///
/// # Errors
/// None today; the `Result` leaves room for types that cannot be shown.
pub fn format_value(array: &dyn Array, row: usize, style: ValueStyle) -> Result<Option<String>> {
    Ok(ValueFormatter::new(array, style).value(row))
}

fn push(out: &mut String, v: impl std::fmt::Display) {
    let _ = write!(out, "{v}");
}

/// Java's `Double.toString` from Rust's shortest digits (`sci` is `{:e}` of `|v|`):
/// plain notation with at least one decimal for `1e-3 <= |v| < 1e7`, else `d.dddE±n`.
fn write_java_float(out: &mut String, v: f64, sci: String) {
    if v.is_nan() {
        out.push_str("NaN");
        return;
    }
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
        return;
    }
    if v.is_sign_negative() {
        out.push('-');
    }
    if v == 0.0 {
        out.push_str("0.0");
        return;
    }
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let abs = v.abs();
    if (1e-3..1e7).contains(&abs) {
        if exp >= 0 {
            let int_len = exp as usize + 1;
            if digits.len() <= int_len {
                out.push_str(&digits);
                out.extend(std::iter::repeat_n('0', int_len - digits.len()));
                out.push_str(".0");
            } else {
                out.push_str(&digits[..int_len]);
                out.push('.');
                out.push_str(&digits[int_len..]);
            }
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', (-exp - 1) as usize));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        out.push('.');
        out.push_str(if digits.len() > 1 { &digits[1..] } else { "0" });
        let _ = write!(out, "E{exp}");
    }
}

/// A `DECIMAL` with exactly `scale` decimals (Java's `BigDecimal.toPlainString`).
fn write_decimal(out: &mut String, unscaled: i128, scale: i8) {
    if unscaled < 0 {
        out.push('-');
    }
    let digits = unscaled.unsigned_abs().to_string();
    if scale <= 0 {
        out.push_str(&digits);
        if unscaled != 0 {
            out.extend(std::iter::repeat_n('0', scale.unsigned_abs() as usize));
        }
        return;
    }
    let scale = scale as usize;
    if digits.len() <= scale {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', scale - digits.len()));
        out.push_str(&digits);
    } else {
        let (int, frac) = digits.split_at(digits.len() - scale);
        out.push_str(int);
        out.push('.');
        out.push_str(frac);
    }
}

/// Year, month, day of a day number since 1970-01-01 (Howard Hinnant's algorithm).
pub(crate) fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn write_date(out: &mut String, days: i64) {
    let (y, m, d) = civil_from_days(days);
    if (0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    } else {
        // Java's ISO dates sign years outside 0..=9999.
        let sign = if y < 0 { '-' } else { '+' };
        let _ = write!(out, "{sign}{:04}-{m:02}-{d:02}", y.unsigned_abs());
    }
}

/// A timestamp `secs` seconds and `nanos` nanoseconds after the epoch.
fn write_timestamp(
    out: &mut String,
    secs: i64,
    nanos: u32,
    digits: u8,
    ltz: bool,
    style: ValueStyle,
) {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    let (h, mi, s) = (sod / 3600, sod % 3600 / 60, sod % 60);
    write_date(out, days);
    match style {
        ValueStyle::Sql | ValueStyle::Csv => {
            let _ = write!(out, " {h:02}:{mi:02}:{s:02}");
            if digits > 0 {
                let frac = format!("{nanos:09}");
                out.push('.');
                out.push_str(&frac[..usize::from(digits)]);
            }
        }
        ValueStyle::Java => {
            // LocalDateTime / Instant toString: seconds only when needed (always for an
            // Instant), the fraction in groups of three digits.
            let _ = write!(out, "T{h:02}:{mi:02}");
            if ltz || s != 0 || nanos != 0 {
                let _ = write!(out, ":{s:02}");
            }
            if nanos != 0 {
                let frac = format!("{nanos:09}");
                let len = if nanos.is_multiple_of(1_000_000) {
                    3
                } else if nanos.is_multiple_of(1000) {
                    6
                } else {
                    9
                };
                out.push('.');
                out.push_str(&frac[..len]);
            }
            if ltz {
                out.push('Z');
            }
        }
    }
}

/// A day-time interval of `ms` milliseconds.
fn write_interval(out: &mut String, ms: i64, style: ValueStyle) {
    let sign = if ms < 0 { '-' } else { '+' };
    let abs = ms.unsigned_abs();
    let (days, rest) = (abs / 86_400_000, abs % 86_400_000);
    let (h, m, s, milli) = (
        rest / 3_600_000,
        rest % 3_600_000 / 60_000,
        rest % 60_000 / 1000,
        rest % 1000,
    );
    match style {
        ValueStyle::Sql | ValueStyle::Csv => {
            let _ = write!(out, "{sign}{days} {h:02}:{m:02}:{s:02}.{milli:03}");
        }
        ValueStyle::Java => {
            // java.time.Duration.toString: PT26H3M4.5S; days are shown as hours.
            if ms == 0 {
                out.push_str("PT0S");
                return;
            }
            let neg = if ms < 0 { "-" } else { "" };
            out.push_str("PT");
            let hours = days * 24 + h;
            if hours > 0 {
                let _ = write!(out, "{neg}{hours}H");
            }
            if m > 0 {
                let _ = write!(out, "{neg}{m}M");
            }
            if s > 0 || milli > 0 {
                let _ = write!(out, "{neg}{s}");
                if milli > 0 {
                    let frac = format!("{milli:03}");
                    let _ = write!(out, ".{}", frac.trim_end_matches('0'));
                }
                out.push('S');
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        ArrayRef, BooleanArray, Date32Array, Decimal128Array, DurationMillisecondArray,
        Float32Array, Float64Array, NullArray, StringArray, TimestampMillisecondArray,
    };

    use super::*;

    fn all(array: ArrayRef, style: ValueStyle) -> Vec<Option<String>> {
        let f = ValueFormatter::new(array.as_ref(), style);
        (0..array.len()).map(|i| f.value(i)).collect()
    }

    fn some(v: &[&str]) -> Vec<Option<String>> {
        v.iter().map(|s| Some(s.to_string())).collect()
    }

    #[test]
    fn doubles_print_as_javas_double_to_string() {
        let cases = [
            (0.0, "0.0"),
            (-0.0, "-0.0"),
            (1.0, "1.0"),
            (1.5, "1.5"),
            (100.0, "100.0"),
            (123_456.789, "123456.789"),
            (9_999_999.0, "9999999.0"),
            (1e7, "1.0E7"),
            (9.08e7, "9.08E7"),
            (0.001, "0.001"),
            (0.000_1, "1.0E-4"),
            (1.234_5e-5, "1.2345E-5"),
            (-2.5e10, "-2.5E10"),
            (0.1 + 0.2, "0.30000000000000004"),
            (f64::NAN, "NaN"),
            (f64::NEG_INFINITY, "-Infinity"),
            (1.797_693_134_862_315_7e308, "1.7976931348623157E308"),
        ];
        let a: ArrayRef = Arc::new(Float64Array::from(
            cases.iter().map(|c| c.0).collect::<Vec<_>>(),
        ));
        let want: Vec<&str> = cases.iter().map(|c| c.1).collect();
        assert_eq!(all(a, ValueStyle::Sql), some(&want));
        let f: ArrayRef = Arc::new(Float32Array::from(vec![0.1f32, 1e10, 3.0]));
        assert_eq!(
            all(f, ValueStyle::Java),
            some(&["0.1", "1.0E10", "3.0"]),
            "floats use f32's shortest digits"
        );
    }

    #[test]
    fn decimals_keep_their_scale() {
        let a: ArrayRef = Arc::new(
            Decimal128Array::from(vec![121_790_040, -5, 0, 7, 123])
                .with_precision_and_scale(23, 3)
                .unwrap(),
        );
        assert_eq!(
            all(a, ValueStyle::Csv),
            some(&["121790.040", "-0.005", "0.000", "0.007", "0.123"])
        );
        let z: ArrayRef = Arc::new(
            Decimal128Array::from(vec![42, 0])
                .with_precision_and_scale(10, 0)
                .unwrap(),
        );
        assert_eq!(all(z, ValueStyle::Sql), some(&["42", "0"]));
    }

    #[test]
    fn timestamps_dates_and_intervals_follow_each_style() {
        let ms = [
            1_577_836_800_000, // 2020-01-01 00:00:00.000
            1_436_918_401_527, // 2015-07-15 00:00:01.527
            -1,                // 1969-12-31 23:59:59.999
            1_577_836_830_000, // 2020-01-01 00:00:30.000
        ];
        let ts: ArrayRef = Arc::new(TimestampMillisecondArray::from(ms.to_vec()));
        assert_eq!(
            all(ts.clone(), ValueStyle::Sql),
            some(&[
                "2020-01-01 00:00:00.000",
                "2015-07-15 00:00:01.527",
                "1969-12-31 23:59:59.999",
                "2020-01-01 00:00:30.000"
            ])
        );
        assert_eq!(
            all(ts.clone(), ValueStyle::Java),
            some(&[
                "2020-01-01T00:00",
                "2015-07-15T00:00:01.527",
                "1969-12-31T23:59:59.999",
                "2020-01-01T00:00:30"
            ])
        );
        let f =
            ValueFormatter::new(ts.as_ref(), ValueStyle::Sql).with_sql_type(&SqlType::Timestamp(0));
        assert_eq!(f.value(1).as_deref(), Some("2015-07-15 00:00:01"));
        let f =
            ValueFormatter::new(ts.as_ref(), ValueStyle::Sql).with_sql_type(&SqlType::Timestamp(6));
        assert_eq!(f.value(1).as_deref(), Some("2015-07-15 00:00:01.527000"));
        let ltz: ArrayRef =
            Arc::new(TimestampMillisecondArray::from(ms.to_vec()).with_timezone("UTC"));
        assert_eq!(
            all(ltz.clone(), ValueStyle::Java)[0].as_deref(),
            Some("2020-01-01T00:00:00Z")
        );
        assert_eq!(
            all(ltz, ValueStyle::Sql)[0].as_deref(),
            Some("2020-01-01 00:00:00.000")
        );

        let d: ArrayRef = Arc::new(Date32Array::from(vec![0, 18_262, -1, 19_782]));
        assert_eq!(
            all(d, ValueStyle::Java),
            some(&["1970-01-01", "2020-01-01", "1969-12-31", "2024-02-29"])
        );
        let i: ArrayRef = Arc::new(DurationMillisecondArray::from(vec![10_000, 93_784_500, 0]));
        assert_eq!(
            all(i.clone(), ValueStyle::Sql),
            some(&["+0 00:00:10.000", "+1 02:03:04.500", "+0 00:00:00.000"])
        );
        assert_eq!(
            all(i, ValueStyle::Java),
            some(&["PT10S", "PT26H3M4.5S", "PT0S"])
        );
    }

    #[test]
    fn booleans_strings_and_nulls() {
        let b: ArrayRef = Arc::new(BooleanArray::from(vec![Some(true), Some(false), None]));
        assert_eq!(
            all(b.clone(), ValueStyle::Sql),
            vec![Some("TRUE".into()), Some("FALSE".into()), None]
        );
        assert_eq!(all(b, ValueStyle::Csv)[0].as_deref(), Some("true"));
        let s: ArrayRef = Arc::new(StringArray::from(vec![Some("a, b"), None]));
        assert_eq!(all(s, ValueStyle::Java), vec![Some("a, b".into()), None]);
        let n: ArrayRef = Arc::new(NullArray::new(2));
        assert_eq!(all(n, ValueStyle::Sql), vec![None, None]);
    }
}
