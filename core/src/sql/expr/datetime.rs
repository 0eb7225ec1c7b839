//! Calendar arithmetic on UTC milliseconds and Flink's timestamp text forms (Java date
//! patterns are in [`super::pattern`]).
//!
//! Everything is integer arithmetic on days since 1970-01-01 (proleptic Gregorian, Howard
//! Hinnant's `days_from_civil`), so a date part or a formatted timestamp costs a few integer
//! divisions and no allocation per row.

use std::fmt::Write as _;

/// Milliseconds in a day.
pub(super) const MS_PER_DAY: i64 = 86_400_000;

/// Days since 1970-01-01 of a proleptic Gregorian date.
pub(super) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The (year, month, day) of a day number since 1970-01-01.
pub(super) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Whether `y` is a leap year.
pub(super) fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

/// Days in month `m` of year `y`.
pub(super) fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        4 | 6 | 9 | 11 => 30,
        2 if is_leap(y) => 29,
        2 => 28,
        _ => 31,
    }
}

/// A timestamp broken into calendar fields.
#[derive(Debug, Clone, Copy)]
pub(super) struct Fields {
    pub(super) days: i64,
    pub(super) year: i64,
    pub(super) month: u32,
    pub(super) day: u32,
    pub(super) hour: u32,
    pub(super) minute: u32,
    pub(super) second: u32,
    pub(super) milli: u32,
}

impl Fields {
    /// The fields of a UTC timestamp in milliseconds.
    pub(super) fn of(ms: i64) -> Fields {
        let days = ms.div_euclid(MS_PER_DAY);
        let tod = ms.rem_euclid(MS_PER_DAY) as u32;
        let (year, month, day) = civil_from_days(days);
        Fields {
            days,
            year,
            month,
            day,
            hour: tod / 3_600_000,
            minute: tod / 60_000 % 60,
            second: tod / 1000 % 60,
            milli: tod % 1000,
        }
    }

    /// Milliseconds into the day.
    pub(super) fn time_of_day(&self) -> i64 {
        i64::from(self.hour) * 3_600_000
            + i64::from(self.minute) * 60_000
            + i64::from(self.second) * 1000
            + i64::from(self.milli)
    }

    /// 1 = Sunday ... 7 = Saturday (Flink's `DAYOFWEEK`).
    pub(super) fn day_of_week(&self) -> u32 {
        (self.days + 4).rem_euclid(7) as u32 + 1
    }

    /// 1 = Monday ... 7 = Sunday.
    pub(super) fn iso_day_of_week(&self) -> u32 {
        (self.days + 3).rem_euclid(7) as u32 + 1
    }

    /// Day of the year, 1-based.
    pub(super) fn day_of_year(&self) -> u32 {
        (self.days - days_from_civil(self.year, 1, 1)) as u32 + 1
    }

    /// ISO-8601 week of the year (weeks start on Monday; week 1 holds January 4th).
    pub(super) fn iso_week(&self) -> u32 {
        let week = (self.day_of_year() as i64 - self.iso_day_of_week() as i64 + 10) / 7;
        if week < 1 {
            weeks_in_year(self.year - 1)
        } else if week > i64::from(weeks_in_year(self.year)) {
            1
        } else {
            week as u32
        }
    }
}

fn weeks_in_year(y: i64) -> u32 {
    // A year has 53 ISO weeks when it starts on a Thursday, or on a Wednesday in a leap year.
    let jan1 = Fields::of(days_from_civil(y, 1, 1) * MS_PER_DAY).iso_day_of_week();
    if jan1 == 4 || (jan1 == 3 && is_leap(y)) {
        53
    } else {
        52
    }
}

/// Epoch milliseconds of calendar fields, checked.
pub(super) fn to_millis(y: i64, mo: u32, d: u32, h: u32, mi: u32, s: u32, ms: u32) -> Option<i64> {
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) || h > 23 || mi > 59 {
        return None;
    }
    if s > 59 || ms > 999 || !(-1_000_000..=1_000_000).contains(&y) {
        return None;
    }
    let tod = i64::from(h) * 3_600_000 + i64::from(mi) * 60_000 + i64::from(s) * 1000;
    Some(days_from_civil(y, mo, d) * MS_PER_DAY + tod + i64::from(ms))
}

/// A cursor over ASCII text.
pub(super) struct Cursor<'a> {
    pub(super) b: &'a [u8],
    pub(super) i: usize,
}

impl Cursor<'_> {
    pub(super) fn eat(&mut self, c: u8) -> bool {
        if self.b.get(self.i) == Some(&c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    /// Between `min` and `max` digits: (value, digits read).
    pub(super) fn digits(&mut self, min: usize, max: usize) -> Option<(i64, usize)> {
        let start = self.i;
        let mut v: i64 = 0;
        while self.i - start < max {
            match self.b.get(self.i) {
                Some(c) if c.is_ascii_digit() => {
                    v = v * 10 + i64::from(c - b'0');
                    self.i += 1;
                }
                _ => break,
            }
        }
        let n = self.i - start;
        (n >= min).then_some((v, n))
    }

    pub(super) fn done(&self) -> bool {
        self.i == self.b.len()
    }
}

/// Days since epoch of `yyyy-MM-dd` (1-2 digit month and day accepted, spaces trimmed).
pub(super) fn parse_date(s: &str) -> Option<i32> {
    let mut c = Cursor {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let days = parse_ymd(&mut c)?;
    c.done().then_some(days)?.try_into().ok()
}

fn parse_ymd(c: &mut Cursor<'_>) -> Option<i64> {
    let neg = c.eat(b'-');
    let (y, _) = c.digits(1, 9)?;
    let y = if neg { -y } else { y };
    if !c.eat(b'-') {
        return None;
    }
    let (m, _) = c.digits(1, 2)?;
    if !c.eat(b'-') {
        return None;
    }
    let (d, _) = c.digits(1, 2)?;
    let (m, d) = (m as u32, d as u32);
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    Some(days_from_civil(y, m, d))
}

/// A timestamp in Flink's text form: `yyyy-MM-dd[( |T)HH:mm[:ss[.fffffffff]]]`; returns the
/// epoch milliseconds and how many fraction digits were written.
pub(super) fn parse_timestamp(s: &str) -> Option<(i64, u8)> {
    let mut c = Cursor {
        b: s.trim().as_bytes(),
        i: 0,
    };
    let days = parse_ymd(&mut c)?;
    if c.done() {
        return Some((days * MS_PER_DAY, 0));
    }
    if !(c.eat(b' ') || c.eat(b'T')) {
        return None;
    }
    let (h, _) = c.digits(1, 2)?;
    if !c.eat(b':') {
        return None;
    }
    let (mi, _) = c.digits(1, 2)?;
    let (mut sec, mut ms, mut frac) = (0, 0, 0u8);
    if c.eat(b':') {
        sec = c.digits(1, 2)?.0;
        if c.eat(b'.') {
            let (f, n) = c.digits(1, 9)?;
            // Keep milliseconds: the first three digits of the fraction.
            ms = if n >= 3 {
                f / 10i64.pow(n as u32 - 3)
            } else {
                f * 10i64.pow(3 - n as u32)
            };
            frac = n as u8;
        }
    }
    if !c.done() || h > 23 || mi > 59 || sec > 59 {
        return None;
    }
    Some((
        days * MS_PER_DAY + h * 3_600_000 + mi * 60_000 + sec * 1000 + ms,
        frac,
    ))
}

/// Write `v` zero-padded to `width` digits.
pub(super) fn pad(out: &mut String, v: i64, width: usize) {
    if v < 0 {
        out.push('-');
    }
    let v = v.unsigned_abs();
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut x = v;
    loop {
        i -= 1;
        buf[i] = b'0' + (x % 10) as u8;
        x /= 10;
        if x == 0 {
            break;
        }
    }
    for _ in (buf.len() - i)..width {
        out.push('0');
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// `yyyy-MM-dd`.
pub(super) fn format_date(days: i64, out: &mut String) {
    let (y, m, d) = civil_from_days(days);
    pad(out, y, 4);
    out.push('-');
    pad(out, i64::from(m), 2);
    out.push('-');
    pad(out, i64::from(d), 2);
}

/// `yyyy-MM-dd HH:mm:ss[.fff]` as Flink casts `TIMESTAMP(precision)` to a string: the
/// fraction keeps at least `precision` digits and drops trailing zeros beyond them.
pub(super) fn format_timestamp(ms: i64, precision: u8, out: &mut String) {
    let f = Fields::of(ms);
    format_date(f.days, out);
    out.push(' ');
    pad(out, i64::from(f.hour), 2);
    out.push(':');
    pad(out, i64::from(f.minute), 2);
    out.push(':');
    pad(out, i64::from(f.second), 2);
    let mut digits = [b'0'; 9];
    let milli = f.milli;
    digits[0] = b'0' + (milli / 100) as u8;
    digits[1] = b'0' + (milli / 10 % 10) as u8;
    digits[2] = b'0' + (milli % 10) as u8;
    let mut len = 9;
    while len > usize::from(precision) && digits[len - 1] == b'0' {
        len -= 1;
    }
    if len > 0 {
        out.push('.');
        for &d in &digits[..len] {
            out.push(d as char);
        }
    }
}

/// A day-time interval as Flink prints it: `+1 02:03:04.500`.
pub(super) fn format_interval(ms: i64, out: &mut String) {
    out.push(if ms < 0 { '-' } else { '+' });
    let v = ms.unsigned_abs();
    let _ = write!(
        out,
        "{} {:02}:{:02}:{:02}.{:03}",
        v / 86_400_000,
        v / 3_600_000 % 24,
        v / 60_000 % 60,
        v / 1000 % 60,
        v % 1000
    );
}

/// A unit of `TIMESTAMPADD`, `TIMESTAMPDIFF`, `FLOOR(ts TO unit)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TimeUnit {
    Millisecond,
    Second,
    Minute,
    Hour,
    Day,
    Week,
    Month,
    Quarter,
    Year,
}

impl TimeUnit {
    /// The unit named `s` (case-insensitive; `SQL_TSI_` prefixes and plurals accepted).
    pub(super) fn parse(s: &str) -> Option<TimeUnit> {
        let u = s.to_ascii_uppercase();
        let u = u.strip_prefix("SQL_TSI_").unwrap_or(&u);
        let u = u.strip_suffix('S').unwrap_or(u);
        Some(match u {
            "MILLISECOND" | "FRAC_SECOND" => TimeUnit::Millisecond,
            "SECOND" => TimeUnit::Second,
            "MINUTE" => TimeUnit::Minute,
            "HOUR" => TimeUnit::Hour,
            "DAY" => TimeUnit::Day,
            "WEEK" => TimeUnit::Week,
            "MONTH" => TimeUnit::Month,
            "QUARTER" => TimeUnit::Quarter,
            "YEAR" => TimeUnit::Year,
            _ => return None,
        })
    }

    /// The SQL name.
    pub(super) fn name(self) -> &'static str {
        match self {
            TimeUnit::Millisecond => "MILLISECOND",
            TimeUnit::Second => "SECOND",
            TimeUnit::Minute => "MINUTE",
            TimeUnit::Hour => "HOUR",
            TimeUnit::Day => "DAY",
            TimeUnit::Week => "WEEK",
            TimeUnit::Month => "MONTH",
            TimeUnit::Quarter => "QUARTER",
            TimeUnit::Year => "YEAR",
        }
    }

    /// The length in milliseconds of a fixed-length unit; `None` for months and longer.
    pub(super) fn fixed_ms(self) -> Option<i64> {
        Some(match self {
            TimeUnit::Millisecond => 1,
            TimeUnit::Second => 1000,
            TimeUnit::Minute => 60_000,
            TimeUnit::Hour => 3_600_000,
            TimeUnit::Day => MS_PER_DAY,
            TimeUnit::Week => 7 * MS_PER_DAY,
            TimeUnit::Month | TimeUnit::Quarter | TimeUnit::Year => return None,
        })
    }

    fn months(self) -> i64 {
        match self {
            TimeUnit::Quarter => 3,
            TimeUnit::Year => 12,
            _ => 1,
        }
    }
}

/// `ms + n units`; months clamp the day to the end of the target month.
pub(super) fn add_units(ms: i64, unit: TimeUnit, n: i64) -> Option<i64> {
    if let Some(len) = unit.fixed_ms() {
        return ms.checked_add(n.checked_mul(len)?);
    }
    let f = Fields::of(ms);
    let total =
        (f.year * 12 + i64::from(f.month) - 1).checked_add(n.checked_mul(unit.months())?)?;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    if !(-1_000_000..=1_000_000).contains(&y) {
        return None;
    }
    let d = f.day.min(days_in_month(y, m));
    (days_from_civil(y, m, d) * MS_PER_DAY).checked_add(f.time_of_day())
}

/// Whole `unit`s from `a` to `b`, truncated toward zero (`TIMESTAMPDIFF`).
///
/// Months, quarters and years count as Flink does (Calcite's `DateTimeUtils.subtractMonths`):
/// `b` is one month after `a` when adding a month to `a`'s day, clamped to the end of the
/// month, reaches `b`'s day, so 2021-01-31 to 2021-02-28 is one month. The time of day only
/// matters when the days line up exactly, and then as Calcite has it: from `a` at noon to
/// `b` at midnight of the same day is -1 month, in either direction of the day count.
pub(super) fn diff_units(unit: TimeUnit, a: i64, b: i64) -> i64 {
    if let Some(len) = unit.fixed_ms() {
        return b.wrapping_sub(a) / len;
    }
    let (day_a, tod_a) = (a.div_euclid(MS_PER_DAY), a.rem_euclid(MS_PER_DAY));
    let (day_b, tod_b) = (b.div_euclid(MS_PER_DAY), b.rem_euclid(MS_PER_DAY));
    let mut months = subtract_months(day_b, day_a);
    if add_months_to_day(day_a, months) == day_b && tod_b < tod_a {
        months -= 1;
    }
    months / unit.months()
}

/// `day + months` months, the day of month clamped to the target month's length.
fn add_months_to_day(day: i64, months: i64) -> i64 {
    let (y, m, d) = civil_from_days(day);
    let total = y * 12 + i64::from(m) - 1 + months;
    let (y, m) = (total.div_euclid(12), total.rem_euclid(12) as u32 + 1);
    days_from_civil(y, m, d.min(days_in_month(y, m)))
}

/// Whole months from day `d1` to day `d0` (Calcite's `subtractMonths(int, int)`).
fn subtract_months(d0: i64, d1: i64) -> i64 {
    if d0 < d1 {
        return -subtract_months(d1, d0);
    }
    // No month is longer than 31 days, so this estimate is at most the answer.
    let mut m = (d0 - d1) / 31;
    while add_months_to_day(d1, m) < d0 && add_months_to_day(d1, m + 1) <= d0 {
        m += 1;
    }
    m
}

/// The start of the `unit` holding `ms` (`FLOOR(ts TO unit)`); weeks start on Monday.
pub(super) fn floor_to(ms: i64, unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Week => {
            let days = ms.div_euclid(MS_PER_DAY);
            (days - (days + 3).rem_euclid(7)).wrapping_mul(MS_PER_DAY)
        }
        u => match u.fixed_ms() {
            Some(len) => ms.wrapping_sub(ms.rem_euclid(len)),
            None => {
                let f = Fields::of(ms);
                let m = match u {
                    TimeUnit::Year => 1,
                    TimeUnit::Quarter => (f.month - 1) / 3 * 3 + 1,
                    _ => f.month,
                };
                days_from_civil(f.year, m, 1).wrapping_mul(MS_PER_DAY)
            }
        },
    }
}

/// The smallest start of a `unit` at or after `ms` (`CEIL(ts TO unit)`).
pub(super) fn ceil_to(ms: i64, unit: TimeUnit) -> Option<i64> {
    let f = floor_to(ms, unit);
    if f == ms {
        Some(ms)
    } else {
        add_units(f, unit, 1)
    }
}
