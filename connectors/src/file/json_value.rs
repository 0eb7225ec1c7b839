//! Rows spelled as Flink's `json` format writes them (`JsonRowDataSerializationSchema` with
//! its default options), for the `json` and `debezium-json` part files.
//!
//! | type | spelling |
//! |---|---|
//! | `BOOLEAN` | `true` |
//! | `TINYINT` ... `BIGINT` | `42` |
//! | `FLOAT` / `DOUBLE` | Java's `Double.toString`: `1.5`, `9.08E7`, `1.0E-4`; `"NaN"`, `"Infinity"` as strings |
//! | `DECIMAL(p, s)` | Jackson's normalized `BigDecimal`: trailing zeros stripped, `1.5`, `0`, `1E+1` for `10.00` |
//! | `VARCHAR` | a JSON string with Jackson's escapes (`\"`, `\\`, `\n`, `\u0001`); other characters as UTF-8 |
//! | `DATE` | `"2020-01-01"` |
//! | `TIMESTAMP(p)` | `"2020-01-01 00:00:01.5"`: the fraction without trailing zeros, none when zero |
//! | `TIMESTAMP_LTZ(p)` | `"2020-01-01 00:00:01.5Z"` (UTC) |
//! | `INTERVAL` (day-time) | milliseconds, a number |
//! | `NULL` | `null`, always written (`json.encode.ignore-null-fields` = false) |
//!
//! Fields are written in column order, without spaces: `{"id":1,"name":null}`. These are the
//! lines Flink 2.3 wrote for the same rows (checked with its filesystem sink); the decimal
//! spelling is Jackson's, which Flink's JSON node factory normalizes.

use std::fmt::Write as _;

use arrow::array::{Array, ArrayRef, AsArray};
use arrow::datatypes::{
    DataType, Decimal128Type, DurationMillisecondType, Float32Type, Float64Type, TimeUnit,
    TimestampMicrosecondType, TimestampMillisecondType, TimestampNanosecondType,
    TimestampSecondType,
};

use crate::sql::format::civil_from_days;
use crate::sql::{ValueFormatter, ValueStyle};

/// Writes the rows of some columns as JSON objects; built once per batch.
pub(crate) struct JsonRows<'a> {
    /// `"name":` of each column, escaped.
    keys: Vec<String>,
    columns: Vec<&'a dyn Array>,
    formatters: Vec<ValueFormatter<'a>>,
}

impl<'a> JsonRows<'a> {
    /// The rows of `columns`, named `names`.
    pub(crate) fn new<S: AsRef<str>>(names: &[S], columns: &'a [ArrayRef]) -> Self {
        let keys = names
            .iter()
            .map(|n| {
                let mut k = String::new();
                write_string(&mut k, n.as_ref());
                k.push(':');
                k
            })
            .collect();
        JsonRows {
            keys,
            columns: columns.iter().map(|c| c.as_ref()).collect(),
            formatters: columns
                .iter()
                .map(|c| ValueFormatter::new(c.as_ref(), ValueStyle::Csv))
                .collect(),
        }
    }

    /// Appends row `row` as one JSON object (no line break).
    pub(crate) fn write_object(&self, row: usize, out: &mut String) {
        out.push('{');
        for (i, key) in self.keys.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            out.push_str(key);
            write_value(out, self.columns[i], &self.formatters[i], row);
        }
        out.push('}');
    }
}

/// Appends the value of `row` of `array` (`f` formats it) as JSON.
fn write_value(out: &mut String, array: &dyn Array, f: &ValueFormatter<'_>, row: usize) {
    if f.is_null(row) {
        out.push_str("null");
        return;
    }
    match array.data_type() {
        DataType::Boolean
        | DataType::Int8
        | DataType::Int16
        | DataType::Int32
        | DataType::Int64
        | DataType::UInt8
        | DataType::UInt16
        | DataType::UInt32
        | DataType::UInt64 => {
            f.write(row, out);
        }
        DataType::Float32 | DataType::Float64 => {
            let v = match array.data_type() {
                DataType::Float32 => f64::from(array.as_primitive::<Float32Type>().value(row)),
                _ => array.as_primitive::<Float64Type>().value(row),
            };
            // Jackson quotes the non-numbers (`WRITE_NAN_AS_STRINGS`).
            let quote = !v.is_finite();
            if quote {
                out.push('"');
            }
            f.write(row, out);
            if quote {
                out.push('"');
            }
        }
        DataType::Decimal128(_, scale) => {
            write_decimal(
                out,
                array.as_primitive::<Decimal128Type>().value(row),
                *scale,
            );
        }
        DataType::Utf8 => write_string(out, array.as_string::<i32>().value(row)),
        DataType::LargeUtf8 => write_string(out, array.as_string::<i64>().value(row)),
        DataType::Utf8View => write_string(out, array.as_string_view().value(row)),
        DataType::Timestamp(unit, tz) => {
            let (secs, nanos) = match unit {
                TimeUnit::Second => (array.as_primitive::<TimestampSecondType>().value(row), 0),
                TimeUnit::Millisecond => {
                    let v = array.as_primitive::<TimestampMillisecondType>().value(row);
                    (v.div_euclid(1000), v.rem_euclid(1000) * 1_000_000)
                }
                TimeUnit::Microsecond => {
                    let v = array.as_primitive::<TimestampMicrosecondType>().value(row);
                    (v.div_euclid(1_000_000), v.rem_euclid(1_000_000) * 1000)
                }
                TimeUnit::Nanosecond => {
                    let v = array.as_primitive::<TimestampNanosecondType>().value(row);
                    (v.div_euclid(1_000_000_000), v.rem_euclid(1_000_000_000))
                }
            };
            out.push('"');
            write_timestamp(out, secs, nanos as u32);
            if tz.is_some() {
                out.push('Z');
            }
            out.push('"');
        }
        DataType::Duration(TimeUnit::Millisecond) => {
            let _ = write!(
                out,
                "{}",
                array.as_primitive::<DurationMillisecondType>().value(row)
            );
        }
        // Dates and anything else: the text, as a string.
        _ => {
            let text = f.value(row).unwrap_or_default();
            write_string(out, &text);
        }
    }
}

/// A JSON string with Jackson's escapes: `\"`, `\\`, the short forms of `\b \t \n \f \r`, and
/// `\u00XX` (upper-case hex) for the other control characters.
pub(crate) fn write_string(out: &mut String, s: &str) {
    out.push('"');
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let esc: &str = match b {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\t' => "\\t",
            b'\r' => "\\r",
            0x08 => "\\b",
            0x0c => "\\f",
            0..=0x1f => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u{b:04X}");
        } else {
            out.push_str(esc);
        }
        start = i + 1;
    }
    out.push_str(&s[start..]);
    out.push('"');
}

/// Java's `BigDecimal.stripTrailingZeros().toString()` of `unscaled × 10^-scale`: plain
/// digits while the exponent is small, else `d.dddE±n`; zero is `0`.
pub(crate) fn write_decimal(out: &mut String, unscaled: i128, scale: i8) {
    if unscaled == 0 {
        out.push('0');
        return;
    }
    let mut u = unscaled.unsigned_abs();
    let mut scale = i64::from(scale);
    while u.is_multiple_of(10) {
        u /= 10;
        scale -= 1;
    }
    let digits = u.to_string();
    if unscaled < 0 {
        out.push('-');
    }
    let n = digits.len() as i64;
    let adjusted = n - 1 - scale;
    if scale >= 0 && adjusted >= -6 {
        let scale = scale as usize;
        if scale == 0 {
            out.push_str(&digits);
        } else if digits.len() > scale {
            let (int, frac) = digits.split_at(digits.len() - scale);
            out.push_str(int);
            out.push('.');
            out.push_str(frac);
        } else {
            out.push_str("0.");
            out.extend(std::iter::repeat_n('0', scale - digits.len()));
            out.push_str(&digits);
        }
    } else {
        out.push_str(&digits[..1]);
        if digits.len() > 1 {
            out.push('.');
            out.push_str(&digits[1..]);
        }
        let _ = write!(out, "E{}{adjusted}", if adjusted >= 0 { "+" } else { "" });
    }
}

/// `yyyy-MM-dd HH:mm:ss[.fraction]`, the fraction without trailing zeros (Java's
/// `ISO_LOCAL_TIME` after a space).
fn write_timestamp(out: &mut String, secs: i64, nanos: u32) {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    if (0..=9999).contains(&y) {
        let _ = write!(out, "{y:04}-{m:02}-{d:02}");
    } else {
        let sign = if y < 0 { '-' } else { '+' };
        let _ = write!(out, "{sign}{:04}-{m:02}-{d:02}", y.unsigned_abs());
    }
    let _ = write!(
        out,
        " {:02}:{:02}:{:02}",
        sod / 3600,
        sod % 3600 / 60,
        sod % 60
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        out.push('.');
        out.push_str(frac.trim_end_matches('0'));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{
        BooleanArray, Date32Array, Decimal128Array, Float64Array, Int32Array, StringArray,
        TimestampMillisecondArray,
    };

    use super::*;

    fn decimal(unscaled: i128, scale: i8) -> String {
        let mut s = String::new();
        write_decimal(&mut s, unscaled, scale);
        s
    }

    #[test]
    fn decimals_are_normalized_as_jackson_writes_them() {
        // What Flink 2.3 wrote for DECIMAL(10, 2) and DECIMAL(10, 0) values.
        for (unscaled, scale, want) in [
            (1000, 2, "1E+1"),
            (100, 0, "1E+2"),
            (0, 2, "0"),
            (-50, 2, "-0.5"),
            (1_234_567_890, 2, "12345678.9"),
            (12_345_678, 0, "12345678"),
            (1200, 0, "1.2E+3"),
            (150, 2, "1.5"),
            (5, 2, "0.05"),
            (1, 7, "1E-7"),
            (1, 6, "0.000001"),
            (-123, 9, "-1.23E-7"),
        ] {
            assert_eq!(decimal(unscaled, scale), want, "{unscaled} scale {scale}");
        }
    }

    #[test]
    fn rows_are_written_as_flink_writes_them() {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(StringArray::from(vec![Some("a\"b\\c\n\u{1}ü"), None])),
            Arc::new(Float64Array::from(vec![Some(9.08e7), Some(f64::NAN)])),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_577_836_801_500),
                Some(1_577_836_800_000),
            ])),
            Arc::new(
                TimestampMillisecondArray::from(vec![1_577_836_801_500, -1]).with_timezone("UTC"),
            ),
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(Int32Array::from(vec![Some(-1), None])),
            Arc::new(Date32Array::from(vec![18_262, 0])),
            Arc::new(
                Decimal128Array::from(vec![Some(375), None])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
        ];
        let rows = JsonRows::new(&["s", "d", "t", "l", "b", "i", "dt", "x"], &columns);
        let mut out = String::new();
        rows.write_object(0, &mut out);
        out.push('\n');
        rows.write_object(1, &mut out);
        assert_eq!(
            out,
            "{\"s\":\"a\\\"b\\\\c\\n\\u0001ü\",\"d\":9.08E7,\"t\":\"2020-01-01 00:00:01.5\",\"l\":\"2020-01-01 00:00:01.5Z\",\"b\":true,\"i\":-1,\"dt\":\"2020-01-01\",\"x\":3.75}\n\
             {\"s\":null,\"d\":\"NaN\",\"t\":\"2020-01-01 00:00:00\",\"l\":\"1969-12-31 23:59:59.999Z\",\"b\":null,\"i\":null,\"dt\":\"1970-01-01\",\"x\":null}"
        );
    }
}
