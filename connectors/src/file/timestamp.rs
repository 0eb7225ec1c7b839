//! Fast conversion of `yyyy-MM-dd HH:mm:ss.SSS` text columns to `Timestamp(Millisecond)`.
//!
//! Flink writes `TIMESTAMP(3)` in exactly this fixed layout, so the CSV source reads such
//! columns as text and converts them here: fixed byte positions, digit checks, and the
//! days-from-civil formula, with no time-zone machinery. A column holding any other layout
//! (ISO `T`, no fraction, an offset...) falls back, as a whole, to arrow's cast, which accepts
//! everything arrow's CSV reader does; so results never depend on which path ran.

use arrow::array::timezone::Tz;
use arrow::array::{Array, ArrayRef, PrimitiveArray, StringArray};
use arrow::compute::kernels::cast_utils::string_to_datetime;
use arrow::compute::{cast_with_options, CastOptions};
use arrow::datatypes::{ArrowTimestampType, DataType, TimeUnit, TimestampMillisecondType};
use arrow::error::ArrowError;

/// Milliseconds since the epoch of a `yyyy-MM-dd HH:mm:ss.SSS` (or `T` separator) value;
/// `None` for any other layout or an invalid date.
#[cfg(test)]
pub(crate) fn parse_millis(s: &[u8]) -> Option<i64> {
    MillisParser::default().parse(s)
}

/// [`parse_millis`] for a column: the day number of the last date is remembered, since
/// the rows of a batch mostly share their date (`days_from_civil` and the date's checks
/// were a third of the parsing time).
#[derive(Debug, Default)]
pub(crate) struct MillisParser {
    /// The last date parsed and its day number.
    last: Option<([u8; 10], i64)>,
}

impl MillisParser {
    /// As [`parse_millis`].
    #[inline]
    pub(crate) fn parse(&mut self, s: &[u8]) -> Option<i64> {
        let s: &[u8; 23] = s.try_into().ok()?;
        let (date, time) = s.split_at(10);
        let date: &[u8; 10] = date.try_into().ok()?;
        let days = match self.last {
            Some((d, days)) if d == *date => days,
            _ => {
                let days = parse_date(date)?;
                self.last = Some((*date, days));
                days
            }
        };
        Some(days * 86_400_000 + parse_time(time)?)
    }
}

/// The value of the ASCII digit `b`, and whether it was not one (`bad`).
#[inline]
fn digit(b: u8, bad: &mut u8) -> i64 {
    let v = b.wrapping_sub(b'0');
    *bad |= (v > 9) as u8;
    i64::from(v)
}

/// Days since 1970-01-01 of `yyyy-MM-dd`; `None` for another layout or no such date.
#[inline]
fn parse_date(s: &[u8; 10]) -> Option<i64> {
    if s[4] != b'-' || s[7] != b'-' {
        return None;
    }
    let mut bad = 0u8;
    let mut d = |i: usize| digit(s[i], &mut bad);
    let year = d(0) * 1000 + d(1) * 100 + d(2) * 10 + d(3);
    let month = d(5) * 10 + d(6);
    let day = d(8) * 10 + d(9);
    if bad != 0 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    Some(days_from_civil(year, month, day))
}

/// Milliseconds into the day of ` HH:mm:ss.SSS` (or with `T`); `None` otherwise.
#[inline]
fn parse_time(s: &[u8]) -> Option<i64> {
    let s: &[u8; 13] = s.try_into().ok()?;
    if (s[0] != b' ' && s[0] != b'T') || s[3] != b':' || s[6] != b':' || s[9] != b'.' {
        return None;
    }
    let mut bad = 0u8;
    let mut d = |i: usize| digit(s[i], &mut bad);
    let hour = d(1) * 10 + d(2);
    let minute = d(4) * 10 + d(5);
    let second = d(7) * 10 + d(8);
    let milli = d(10) * 100 + d(11) * 10 + d(12);
    if bad != 0 || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    Some(((hour * 60 + minute) * 60 + second) * 1000 + milli)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Milliseconds of `s` as arrow's cast of a text value to `Timestamp(Millisecond, None)`
/// reads it (`string_to_datetime` in UTC, then the naive time), for values not in Flink's
/// layout; its error for a value arrow cannot read.
pub(crate) fn cast_millis(s: &str) -> Result<i64, ArrowError> {
    let utc: Tz = "+00:00".parse()?;
    let naive = string_to_datetime(&utc, s)?.naive_utc();
    TimestampMillisecondType::from_naive_datetime(naive, None)
        .ok_or_else(|| ArrowError::CastError(format!("Overflow converting {naive} to Millisecond")))
}

/// Converts a text column to `Timestamp(Millisecond, None)`; nulls stay null. Errors when a
/// value is not a timestamp arrow can parse.
pub(crate) fn text_to_millis(text: &StringArray) -> Result<ArrayRef, ArrowError> {
    let mut values = Vec::with_capacity(text.len());
    let offsets = text.value_offsets();
    let bytes = text.value_data();
    let mut fast = true;
    let mut parser = MillisParser::default();
    for i in 0..text.len() {
        let v = &bytes[offsets[i] as usize..offsets[i + 1] as usize];
        match parser.parse(v) {
            Some(ms) => values.push(ms),
            None if text.is_null(i) => values.push(0),
            None => {
                fast = false;
                break;
            }
        }
    }
    if fast {
        let array =
            PrimitiveArray::<TimestampMillisecondType>::new(values.into(), text.nulls().cloned());
        return Ok(std::sync::Arc::new(array));
    }
    let options = CastOptions {
        safe: false,
        ..Default::default()
    };
    cast_with_options(
        text,
        &DataType::Timestamp(TimeUnit::Millisecond, None),
        &options,
    )
}

#[cfg(test)]
mod tests {
    use arrow::array::AsArray;

    use super::*;

    fn arrow_millis(s: &str) -> Option<i64> {
        let a = StringArray::from(vec![s]);
        let options = CastOptions {
            safe: false,
            ..Default::default()
        };
        let t = cast_with_options(
            &a,
            &DataType::Timestamp(TimeUnit::Millisecond, None),
            &options,
        )
        .ok()?;
        Some(t.as_primitive::<TimestampMillisecondType>().value(0))
    }

    #[test]
    fn agrees_with_arrow() {
        for s in [
            "2015-07-15 00:00:00.000",
            "2015-07-15 23:59:59.999",
            "1970-01-01 00:00:00.000",
            "1969-12-31 23:59:59.999",
            "2000-02-29 12:34:56.789",
            "2100-03-01 01:02:03.004",
            "1900-01-01 00:00:00.000",
            "0001-01-01 00:00:00.000",
            "2024-12-31T08:00:00.500",
        ] {
            assert_eq!(parse_millis(s.as_bytes()), arrow_millis(s), "{s}");
        }
    }

    #[test]
    fn one_value_casts_as_arrow_casts_a_column() {
        for s in [
            "2015-07-15T01:02:03",
            "2015-07-15 01:02:03.5",
            "2015-07-15 01:02:03.123456",
            "2015-07-15T01:02:03Z",
            "2015-07-15T01:02:03+02:00",
            "2015-07-15",
            "1969-12-31 23:59:59.5",
            "2015-02-30 00:00:00.000",
            "noon",
        ] {
            assert_eq!(cast_millis(s).ok(), arrow_millis(s), "{s}");
        }
    }

    #[test]
    fn rejects_other_layouts_and_bad_dates() {
        for s in [
            "2015-07-15 00:00:00",
            "2015-07-15 00:00:00.0000",
            "2015-13-15 00:00:00.000",
            "2015-02-29 00:00:00.000",
            "2015-07-15 24:00:00.000",
            "2015-07-15 00:60:00.000",
            "2015-07-1a 00:00:00.000",
            "2015/07/15 00:00:00.000",
        ] {
            assert_eq!(parse_millis(s.as_bytes()), None, "{s}");
        }
    }

    #[test]
    fn a_remembered_date_still_checks_the_rest() {
        let mut p = MillisParser::default();
        let day = 1_436_918_400_000;
        assert_eq!(p.parse(b"2015-07-15 00:00:01.000"), Some(day + 1000));
        assert_eq!(p.parse(b"2015-07-15 23:59:59.999"), Some(day + 86_399_999));
        assert_eq!(p.parse(b"2015-07-15 24:00:00.000"), None);
        assert_eq!(p.parse(b"2015-07-15x00:00:00.000"), None);
        assert_eq!(p.parse(b"2015-07-16 00:00:00.000"), Some(day + 86_400_000));
        assert_eq!(p.parse(b"2015-02-29 00:00:00.000"), None);
        assert_eq!(p.parse(b"2015-07-16 00:00:00.00"), None);
    }

    #[test]
    fn columns_fall_back_to_arrow_for_other_layouts() {
        let a = StringArray::from(vec![Some("2015-07-15 00:00:01.000"), None]);
        let t = text_to_millis(&a).unwrap();
        let t = t.as_primitive::<TimestampMillisecondType>();
        assert_eq!(t.value(0), 1_436_918_401_000);
        assert!(t.is_null(1));

        let a = StringArray::from(vec!["2015-07-15 00:00:01.000", "2015-07-15T00:00:02"]);
        let t = text_to_millis(&a).unwrap();
        assert_eq!(
            t.as_primitive::<TimestampMillisecondType>().value(1),
            1_436_918_402_000
        );

        let a = StringArray::from(vec!["2015-07-15 00:00:01.000", "yesterday"]);
        assert!(text_to_millis(&a).is_err());
    }
}
