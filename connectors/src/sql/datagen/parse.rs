//! Option values of the datagen connector: numbers (unscaled `DECIMAL`s), timestamps, dates
//! and Flink durations.

use millstream_core::sql::SqlType;

/// The range of an integer type, or of the unscaled values of a `DECIMAL`.
pub(super) fn int_range(ty: &SqlType) -> Option<(i128, i128)> {
    Some(match ty {
        SqlType::TinyInt => (i8::MIN.into(), i8::MAX.into()),
        SqlType::SmallInt => (i16::MIN.into(), i16::MAX.into()),
        SqlType::Int => (i32::MIN.into(), i32::MAX.into()),
        SqlType::BigInt => (i64::MIN.into(), i64::MAX.into()),
        SqlType::Decimal { precision, .. } => {
            let m = 10i128.pow(u32::from(*precision)) - 1;
            (-m, m)
        }
        _ => return None,
    })
}

/// A number of type `ty` as an integer: the value, or the unscaled value of a `DECIMAL`.
pub(super) fn unscaled(text: &str, ty: &SqlType) -> Option<i128> {
    let scale = match ty {
        SqlType::Decimal { scale, .. } => *scale as u32,
        _ => 0,
    };
    let (neg, digits) = match text.trim().strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.trim().trim_start_matches('+')),
    };
    let (int, frac) = digits.split_once('.').unwrap_or((digits, ""));
    if int.is_empty() && frac.is_empty()
        || !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit())
        || frac.len() > scale as usize
    {
        return None;
    }
    let mut v: i128 = if int.is_empty() { 0 } else { int.parse().ok()? };
    v = v.checked_mul(10i128.pow(scale))?;
    if !frac.is_empty() {
        let f: i128 = frac.parse().ok()?;
        v = v.checked_add(f * 10i128.pow(scale - frac.len() as u32))?;
    }
    Some(if neg { -v } else { v })
}

/// A sequence bound: a number (unscaled for a `DECIMAL`), a timestamp in milliseconds or a
/// date in days.
pub(super) fn sequence_value(text: &str, ty: &SqlType) -> Option<i128> {
    match ty {
        SqlType::Timestamp(_) | SqlType::TimestampLtz(_) => text
            .trim()
            .parse::<i64>()
            .ok()
            .or_else(|| timestamp_ms(text))
            .map(i128::from),
        SqlType::Date => timestamp_ms(&format!("{} 00:00:00", text.trim()))
            .map(|ms| i128::from(ms.div_euclid(86_400_000))),
        SqlType::Float | SqlType::Double => text.trim().parse::<i64>().ok().map(i128::from),
        SqlType::Char(_) | SqlType::Varchar(_) => text.trim().parse::<i128>().ok(),
        t => unscaled(text, t),
    }
}

/// Milliseconds since the epoch of `yyyy-MM-dd HH:mm:ss[.fff]` (or a `T` separator).
pub(super) fn timestamp_ms(text: &str) -> Option<i64> {
    let t = text.trim();
    let (date, time) = t.split_once([' ', 'T'])?;
    let mut d = date.splitn(3, '-');
    let (y, m, day): (i64, i64, i64) = (
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
        d.next()?.parse().ok()?,
    );
    let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
    let mut p = hms.splitn(3, ':');
    let (h, mi, s): (i64, i64, i64) = (
        p.next()?.parse().ok()?,
        p.next()?.parse().ok()?,
        p.next().unwrap_or("0").parse().ok()?,
    );
    if !(1..=12).contains(&m) || !(1..=31).contains(&day) || h > 23 || mi > 59 || s > 59 {
        return None;
    }
    let ms = if frac.is_empty() {
        0
    } else {
        let f3 = format!("{frac:0<3}");
        f3.get(..3)?.parse::<i64>().ok()?
    };
    // Days from civil (Howard Hinnant).
    let yy = if m <= 2 { y - 1 } else { y };
    let era = yy.div_euclid(400);
    let yoe = yy - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + day - 1;
    let days = era * 146_097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719_468;
    Some(((days * 24 + h) * 60 + mi) * 60_000 + s * 1000 + ms)
}

/// A Flink duration: a number with an optional unit (`ms`, `s`, `min`, `h`, `d` and their
/// long forms); a bare number is milliseconds.
pub(super) fn duration_ms(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "ms" | "milli" | "millis" | "millisecond" | "milliseconds" => 1,
        "s" | "sec" | "secs" | "second" | "seconds" => 1000,
        "m" | "min" | "mins" | "minute" | "minutes" => 60_000,
        "h" | "hour" | "hours" => 3_600_000,
        "d" | "day" | "days" => 86_400_000,
        _ => return None,
    };
    n.checked_mul(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_durations_and_timestamps_parse() {
        let d = SqlType::Decimal {
            precision: 10,
            scale: 2,
        };
        assert_eq!(unscaled("12.5", &d), Some(1250));
        assert_eq!(unscaled("-0.01", &d), Some(-1));
        assert_eq!(unscaled("1.234", &d), None);
        assert_eq!(unscaled("42", &SqlType::Int), Some(42));
        assert_eq!(unscaled("4x", &SqlType::Int), None);
        assert_eq!(duration_ms("5s"), Some(5000));
        assert_eq!(duration_ms("1 min"), Some(60_000));
        assert_eq!(duration_ms("250"), Some(250));
        assert_eq!(duration_ms("3 weeks"), None);
        assert_eq!(
            timestamp_ms("2015-07-15 00:00:00.527"),
            Some(1_436_918_400_527)
        );
        assert_eq!(timestamp_ms("1970-01-01T00:00:01"), Some(1000));
        assert_eq!(timestamp_ms("1970-13-01 00:00:00"), None);
    }
}
