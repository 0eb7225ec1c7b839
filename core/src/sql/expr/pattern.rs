//! Java `DateTimeFormatter` / `SimpleDateFormat` patterns (`yyyy-MM-dd HH:mm:ss`),
//! compiled once into a list of fields, for DATE_FORMAT, TO_TIMESTAMP, FROM_UNIXTIME and
//! UNIX_TIMESTAMP.

use super::datetime::{pad, to_millis, Cursor, Fields};

const MONTHS: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];
const WEEKDAYS: [&str; 7] = [
    "Monday",
    "Tuesday",
    "Wednesday",
    "Thursday",
    "Friday",
    "Saturday",
    "Sunday",
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Field {
    Era,
    Year,
    Quarter,
    Month,
    Week,
    Day,
    DayOfYear,
    DayName,
    AmPm,
    Hour24,
    Hour24From1,
    Hour12,
    Hour12From0,
    Minute,
    Second,
    Fraction,
    Zone(u8),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    Lit(String),
    Field(Field, usize),
}

impl Item {
    fn numeric(&self) -> bool {
        match self {
            Item::Field(f, n) => match f {
                Field::Month | Field::Quarter => *n <= 2,
                Field::Era | Field::DayName | Field::AmPm | Field::Zone(_) => false,
                _ => true,
            },
            Item::Lit(_) => false,
        }
    }
}

/// A Java `DateTimeFormatter` / `SimpleDateFormat` pattern (`yyyy-MM-dd HH:mm:ss`),
/// compiled once: the letters `G y u Q M L w d D E a H k h K m s S` and the zone letters
/// `Z X x z O`, with literal text in single quotes (`''` is a quote).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct JavaPattern {
    items: Vec<Item>,
}

impl JavaPattern {
    /// Compile a pattern.
    ///
    /// # Errors
    /// A letter that is not a pattern letter, or an unterminated quote (Java's message).
    pub(super) fn compile(pattern: &str) -> Result<JavaPattern, String> {
        let chars: Vec<char> = pattern.chars().collect();
        let mut items: Vec<Item> = Vec::new();
        let mut lit = String::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            if c == '\'' {
                if chars.get(i + 1) == Some(&'\'') {
                    lit.push('\'');
                    i += 2;
                    continue;
                }
                let mut j = i + 1;
                loop {
                    match chars.get(j) {
                        None => {
                            return Err(format!(
                                "Pattern ends with an incomplete string literal: {pattern}"
                            ))
                        }
                        Some('\'') if chars.get(j + 1) == Some(&'\'') => {
                            lit.push('\'');
                            j += 2;
                        }
                        Some('\'') => break,
                        Some(&ch) => {
                            lit.push(ch);
                            j += 1;
                        }
                    }
                }
                i = j + 1;
                continue;
            }
            if !c.is_ascii_alphabetic() {
                lit.push(c);
                i += 1;
                continue;
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            let field = match c {
                'G' => Field::Era,
                'y' | 'u' | 'Y' => Field::Year,
                'Q' | 'q' => Field::Quarter,
                'M' | 'L' => Field::Month,
                'w' => Field::Week,
                'd' => Field::Day,
                'D' => Field::DayOfYear,
                'E' => Field::DayName,
                'a' => Field::AmPm,
                'H' => Field::Hour24,
                'k' => Field::Hour24From1,
                'h' => Field::Hour12,
                'K' => Field::Hour12From0,
                'm' => Field::Minute,
                's' => Field::Second,
                'S' => Field::Fraction,
                'Z' | 'X' | 'x' | 'z' | 'O' | 'V' => Field::Zone(c as u8),
                other => return Err(format!("Unknown pattern letter: {other}")),
            };
            if !lit.is_empty() {
                items.push(Item::Lit(std::mem::take(&mut lit)));
            }
            items.push(Item::Field(field, n));
            i += n;
        }
        if !lit.is_empty() {
            items.push(Item::Lit(lit));
        }
        Ok(JavaPattern { items })
    }

    /// Append `ms` (UTC) formatted with this pattern.
    pub(super) fn format(&self, ms: i64, out: &mut String) {
        let f = Fields::of(ms);
        for item in &self.items {
            let (field, n) = match item {
                Item::Lit(s) => {
                    out.push_str(s);
                    continue;
                }
                Item::Field(field, n) => (*field, *n),
            };
            match field {
                Field::Era => out.push_str(if f.year > 0 { "AD" } else { "BC" }),
                Field::Year if n == 2 => pad(out, f.year.rem_euclid(100), 2),
                Field::Year => pad(out, f.year, n),
                Field::Quarter => {
                    let q = (f.month - 1) / 3 + 1;
                    match n {
                        1 | 2 => pad(out, i64::from(q), n),
                        3 => {
                            out.push('Q');
                            pad(out, i64::from(q), 1);
                        }
                        _ => out.push_str(["1st", "2nd", "3rd", "4th"][q as usize - 1]),
                    }
                    if n >= 4 {
                        out.push_str(" quarter");
                    }
                }
                Field::Month => {
                    let name = MONTHS[f.month as usize - 1];
                    match n {
                        1 | 2 => pad(out, i64::from(f.month), n),
                        3 => out.push_str(&name[..3]),
                        _ => out.push_str(name),
                    }
                }
                Field::Week => pad(out, i64::from(f.iso_week()), n),
                Field::Day => pad(out, i64::from(f.day), n),
                Field::DayOfYear => pad(out, i64::from(f.day_of_year()), n),
                Field::DayName => {
                    let name = WEEKDAYS[f.iso_day_of_week() as usize - 1];
                    out.push_str(if n <= 3 { &name[..3] } else { name });
                }
                Field::AmPm => out.push_str(if f.hour < 12 { "AM" } else { "PM" }),
                Field::Hour24 => pad(out, i64::from(f.hour), n),
                Field::Hour24From1 => pad(out, i64::from(if f.hour == 0 { 24 } else { f.hour }), n),
                Field::Hour12 => {
                    let h = f.hour % 12;
                    pad(out, i64::from(if h == 0 { 12 } else { h }), n)
                }
                Field::Hour12From0 => pad(out, i64::from(f.hour % 12), n),
                Field::Minute => pad(out, i64::from(f.minute), n),
                Field::Second => pad(out, i64::from(f.second), n),
                Field::Fraction => {
                    let digits = [f.milli / 100, f.milli / 10 % 10, f.milli % 10];
                    for k in 0..n {
                        out.push((b'0' + digits.get(k).copied().unwrap_or(0) as u8) as char);
                    }
                }
                Field::Zone(b'X') => out.push('Z'),
                Field::Zone(b'x') => out.push_str(if n == 1 { "+00" } else { "+0000" }),
                Field::Zone(b'z') | Field::Zone(b'V') => out.push_str("UTC"),
                Field::Zone(b'O') => out.push_str("GMT"),
                Field::Zone(_) => out.push_str("+0000"),
            }
        }
    }

    /// Parse text written with this pattern to UTC milliseconds; `None` if it does not
    /// match. Missing fields default to 1970-01-01 00:00:00.000.
    pub(super) fn parse(&self, s: &str) -> Option<i64> {
        let mut c = Cursor {
            b: s.as_bytes(),
            i: 0,
        };
        let (mut y, mut mo, mut d, mut h, mut mi, mut sec, mut ms) =
            (1970i64, 1u32, 1u32, 0u32, 0u32, 0u32, 0u32);
        let mut pm: Option<bool> = None;
        let mut offset_ms = 0i64;
        for (k, item) in self.items.iter().enumerate() {
            let (field, n) = match item {
                Item::Lit(l) => {
                    if !c.b[c.i..].starts_with(l.as_bytes()) {
                        return None;
                    }
                    c.i += l.len();
                    continue;
                }
                Item::Field(f, n) => (*f, *n),
            };
            // A numeric field followed by another numeric field reads exactly its width
            // (`yyyyMMdd`); otherwise it reads all the digits there are.
            let adjacent = self.items.get(k + 1).is_some_and(Item::numeric);
            let num = |c: &mut Cursor<'_>| {
                if adjacent {
                    c.digits(n, n).map(|(v, _)| v)
                } else {
                    c.digits(1, 10).map(|(v, _)| v)
                }
            };
            match field {
                Field::Year => {
                    let neg = c.eat(b'-');
                    let (v, len) = if adjacent {
                        c.digits(n, n)?
                    } else {
                        c.digits(1, 10)?
                    };
                    y = if n == 2 && len == 2 { 2000 + v } else { v };
                    if neg {
                        y = -y;
                    }
                }
                Field::Month if n >= 3 => {
                    let rest = &c.b[c.i..];
                    let (idx, len) = MONTHS
                        .iter()
                        .enumerate()
                        .find_map(|(i, name)| name_len(rest, name).map(|len| (i, len)))?;
                    mo = idx as u32 + 1;
                    c.i += len;
                }
                Field::Month => mo = u32::try_from(num(&mut c)?).ok()?,
                Field::Day => d = u32::try_from(num(&mut c)?).ok()?,
                Field::Hour24 | Field::Hour12From0 => h = u32::try_from(num(&mut c)?).ok()?,
                Field::Hour24From1 => h = u32::try_from(num(&mut c)?).ok()? % 24,
                Field::Hour12 => h = u32::try_from(num(&mut c)?).ok()? % 12,
                Field::Minute => mi = u32::try_from(num(&mut c)?).ok()?,
                Field::Second => sec = u32::try_from(num(&mut c)?).ok()?,
                Field::Fraction => {
                    let (v, len) = if adjacent {
                        c.digits(n, n)?
                    } else {
                        c.digits(1, 9)?
                    };
                    ms = if len >= 3 {
                        (v / 10i64.pow(len as u32 - 3)) as u32
                    } else {
                        (v * 10i64.pow(3 - len as u32)) as u32
                    };
                }
                Field::AmPm => {
                    let rest = s.get(c.i..c.i + 2)?;
                    pm = Some(if rest.eq_ignore_ascii_case("PM") {
                        true
                    } else if rest.eq_ignore_ascii_case("AM") {
                        false
                    } else {
                        return None;
                    });
                    c.i += 2;
                }
                Field::DayName => {
                    let rest = &c.b[c.i..];
                    let len = WEEKDAYS.iter().find_map(|name| name_len(rest, name))?;
                    c.i += len;
                }
                Field::Zone(_) => offset_ms = parse_zone(&mut c)?,
                Field::Era => {
                    if !(c.eat(b'A') && c.eat(b'D')) {
                        return None;
                    }
                }
                Field::Quarter | Field::Week | Field::DayOfYear => {
                    num(&mut c)?;
                }
            }
        }
        if !c.done() {
            return None;
        }
        if pm == Some(true) && h < 12 {
            h += 12;
        }
        to_millis(y, mo, d, h, mi, sec, ms).map(|t| t - offset_ms)
    }
}

/// How many bytes of `rest` spell `name` or its three-letter abbreviation (any case).
fn name_len(rest: &[u8], name: &str) -> Option<usize> {
    let name = name.as_bytes();
    let starts = |n: usize| rest.len() >= n && rest[..n].eq_ignore_ascii_case(&name[..n]);
    if starts(name.len()) {
        Some(name.len())
    } else if starts(3) {
        Some(3)
    } else {
        None
    }
}

/// `Z`, `UTC`, `GMT`, `+hh`, `+hhmm`, `+hh:mm`: the offset in milliseconds.
fn parse_zone(c: &mut Cursor<'_>) -> Option<i64> {
    let rest = &c.b[c.i..];
    for name in [&b"UTC"[..], b"GMT", b"Z"] {
        if rest.starts_with(name) {
            c.i += name.len();
            return Some(0);
        }
    }
    let sign = if c.eat(b'+') {
        1
    } else if c.eat(b'-') {
        -1
    } else {
        return None;
    };
    let (h, _) = c.digits(2, 2)?;
    c.eat(b':');
    let m = c.digits(2, 2).map_or(0, |(m, _)| m);
    Some(sign * (h * 3_600_000 + m * 60_000))
}
