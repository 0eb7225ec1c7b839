//! Time functions: EXTRACT and YEAR ... SECOND, DATE_FORMAT, TIMESTAMPADD, TIMESTAMPDIFF,
//! TO_TIMESTAMP, TO_TIMESTAMP_LTZ, TO_DATE, FROM_UNIXTIME, UNIX_TIMESTAMP, FLOOR/CEIL(ts TO
//! unit), and the clock (NOW, CURRENT_TIMESTAMP, LOCALTIMESTAMP, CURRENT_DATE).
//!
//! Timestamps are UTC milliseconds (the session time zone is UTC); date parts are integer
//! arithmetic ([`datetime`]); patterns are compiled once when constant.

use std::fmt;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{ArrayRef, AsArray, StringBuilder};
use arrow::datatypes::{Date32Type, Int32Type, Int64Type, TimestampMillisecondType};
use sqlparser::ast::DateTimeField;
use sqlparser::tokenizer::Location;

use super::{Call, Func, Kind};
use crate::error::{Error, Result};
use crate::sql::expr::coerce::calcite_name;
use crate::sql::expr::datetime::{self, Fields, TimeUnit, MS_PER_DAY};
use crate::sql::expr::pattern::JavaPattern;
use crate::sql::expr::value::{collect_prim, PrimArg, StrArg, Value};
use crate::sql::expr::{sql_error, write_list, Node, TypedExpr};
use crate::sql::types::SqlType;

/// A part EXTRACT reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::sql::expr) enum Part {
    Year,
    Quarter,
    Month,
    Week,
    Day,
    DayOfWeek,
    DayOfYear,
    Hour,
    Minute,
    Second,
    Millisecond,
    Epoch,
}

impl Part {
    fn name(self) -> &'static str {
        match self {
            Part::Year => "YEAR",
            Part::Quarter => "QUARTER",
            Part::Month => "MONTH",
            Part::Week => "WEEK",
            Part::Day => "DAY",
            Part::DayOfWeek => "DOW",
            Part::DayOfYear => "DOY",
            Part::Hour => "HOUR",
            Part::Minute => "MINUTE",
            Part::Second => "SECOND",
            Part::Millisecond => "MILLISECOND",
            Part::Epoch => "EPOCH",
        }
    }

    fn of(self, ms: i64) -> i64 {
        match self {
            // The time-of-day parts need no calendar.
            Part::Hour => ms.div_euclid(3_600_000).rem_euclid(24),
            Part::Minute => ms.div_euclid(60_000).rem_euclid(60),
            Part::Second => ms.div_euclid(1000).rem_euclid(60),
            Part::Millisecond => ms.rem_euclid(60_000),
            Part::Epoch => ms.div_euclid(1000),
            part => {
                let f = Fields::of(ms);
                i64::from(match part {
                    Part::Year => return f.year,
                    Part::Quarter => (f.month - 1) / 3 + 1,
                    Part::Month => f.month,
                    Part::Week => f.iso_week(),
                    Part::Day => f.day,
                    Part::DayOfWeek => f.day_of_week(),
                    _ => f.day_of_year(),
                })
            }
        }
    }
}

/// What the clock functions return.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::sql::expr) enum Clock {
    /// `NOW()`, `CURRENT_TIMESTAMP`, `PROCTIME()`: TIMESTAMP_LTZ(3).
    Instant,
    /// `LOCALTIMESTAMP`: TIMESTAMP(3).
    Local,
    /// `CURRENT_DATE`.
    Date,
    /// `UNIX_TIMESTAMP()`: seconds.
    UnixSeconds,
}

/// A time function.
#[derive(Debug, Clone)]
pub(in crate::sql::expr) enum TimeFunc {
    /// `(ts)` → BIGINT.
    Extract(Part),
    /// `(ts, pattern)`.
    DateFormat(Option<Arc<JavaPattern>>),
    /// `(n, ts)`; `to_date` when the input and result are DATEs.
    TimestampAdd {
        unit: TimeUnit,
        to_date: bool,
    },
    /// `(a, b)` → INT.
    TimestampDiff(TimeUnit),
    /// `(s[, pattern])`; `to_date` for TO_DATE.
    Parse {
        pattern: Option<Arc<JavaPattern>>,
        to_date: bool,
    },
    /// `(seconds[, pattern])` → STRING.
    FromUnixtime(Option<Arc<JavaPattern>>),
    /// `(s[, pattern])` → BIGINT seconds, `Long.MIN_VALUE` when unparsable (Flink's value).
    UnixTimestamp(Option<Arc<JavaPattern>>),
    /// `(n)` with the multiplier to milliseconds.
    ToTimestampLtz(i64),
    /// `FLOOR(ts TO unit)` / `CEIL(ts TO unit)`.
    Round {
        unit: TimeUnit,
        ceil: bool,
        to_date: bool,
    },
    Clock(Clock),
}

impl TimeFunc {
    pub(super) fn is_deterministic(&self) -> bool {
        !matches!(self, TimeFunc::Clock(_))
    }

    pub(super) fn fmt_call(&self, f: &mut fmt::Formatter<'_>, args: &[TypedExpr]) -> fmt::Result {
        let name = match self {
            TimeFunc::Extract(p) => {
                return match args.first() {
                    Some(a) => write!(f, "EXTRACT({} FROM {a})", p.name()),
                    None => f.write_str("EXTRACT()"),
                }
            }
            TimeFunc::Round { unit, ceil, .. } => {
                let name = if *ceil { "CEIL" } else { "FLOOR" };
                return match args.first() {
                    Some(a) => write!(f, "{name}({a} TO {})", unit.name()),
                    None => write!(f, "{name}()"),
                };
            }
            TimeFunc::TimestampAdd { unit, .. } | TimeFunc::TimestampDiff(unit) => {
                let name = if matches!(self, TimeFunc::TimestampDiff(_)) {
                    "TIMESTAMPDIFF"
                } else {
                    "TIMESTAMPADD"
                };
                write!(f, "{name}({}, ", unit.name())?;
                write_list(f, args)?;
                return f.write_str(")");
            }
            TimeFunc::DateFormat(_) => "DATE_FORMAT",
            TimeFunc::Parse { to_date: true, .. } => "TO_DATE",
            TimeFunc::Parse { .. } => "TO_TIMESTAMP",
            TimeFunc::FromUnixtime(_) => "FROM_UNIXTIME",
            TimeFunc::UnixTimestamp(_) | TimeFunc::Clock(Clock::UnixSeconds) => "UNIX_TIMESTAMP",
            TimeFunc::ToTimestampLtz(_) => "TO_TIMESTAMP_LTZ",
            TimeFunc::Clock(Clock::Instant) => "NOW",
            TimeFunc::Clock(Clock::Local) => "LOCALTIMESTAMP",
            TimeFunc::Clock(Clock::Date) => "CURRENT_DATE",
        };
        write!(f, "{name}(")?;
        write_list(f, args)?;
        f.write_str(")")
    }

    /// Evaluate over `n` rows.
    pub(super) fn eval(&self, e: &TypedExpr, v: &[Value], n: usize) -> Result<ArrayRef> {
        let arg = |i: usize| {
            v.get(i)
                .ok_or_else(|| Error::Internal(format!("missing argument in {e}")))
        };
        let ts = |i: usize| PrimArg::<TimestampMillisecondType>::new(arg(i)?);
        let tz = match e.ty {
            SqlType::TimestampLtz(_) => Some("UTC"),
            _ => None,
        };
        Ok(match self {
            TimeFunc::Extract(part) => {
                let a = arg(0)?.clone().into_array(n)?;
                let part = *part;
                Arc::new(
                    a.as_primitive::<TimestampMillisecondType>()
                        .unary::<_, Int64Type>(|ms| part.of(ms)),
                )
            }
            TimeFunc::DateFormat(fixed) => {
                let (t, pat) = (ts(0)?, StrArg::new(arg(1)?)?);
                let mut cache = PatternCache::new(fixed);
                let mut b = StringBuilder::with_capacity(n, n * 20);
                let mut s = String::new();
                for i in 0..n {
                    match (t.get(i), pat.get(i).and_then(|p| cache.get(p))) {
                        (Some(ms), Some(p)) => {
                            s.clear();
                            p.format(ms, &mut s);
                            b.append_value(&s);
                        }
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            TimeFunc::TimestampAdd { unit, to_date } => {
                let (k, t) = (PrimArg::<Int64Type>::new(arg(0)?)?, ts(1)?);
                let out = collect_prim::<TimestampMillisecondType>(n, |i| {
                    datetime::add_units(t.get(i)?, *unit, k.get(i)?)
                });
                if *to_date {
                    Arc::new(out.unary::<_, Date32Type>(|ms| ms.div_euclid(MS_PER_DAY) as i32))
                } else {
                    Arc::new(out.with_timezone_opt(tz))
                }
            }
            TimeFunc::TimestampDiff(unit) => {
                let (a, b) = (ts(0)?, ts(1)?);
                Arc::new(collect_prim::<Int32Type>(n, |i| {
                    i32::try_from(datetime::diff_units(*unit, a.get(i)?, b.get(i)?)).ok()
                }))
            }
            TimeFunc::Parse { pattern, to_date } => {
                let s = StrArg::new(arg(0)?)?;
                let pat = match v.get(1) {
                    Some(p) => Some(StrArg::new(p)?),
                    None => None,
                };
                let mut cache = PatternCache::new(pattern);
                let parse = |i: usize, cache: &mut PatternCache<'_>| -> Option<i64> {
                    let text = s.get(i)?;
                    match &pat {
                        None if *to_date => {
                            datetime::parse_date(text).map(|d| i64::from(d) * MS_PER_DAY)
                        }
                        None => datetime::parse_timestamp(text).map(|(ms, _)| ms),
                        Some(p) => cache.get(p.get(i)?)?.parse(text),
                    }
                };
                if *to_date {
                    Arc::new(collect_prim::<Date32Type>(n, |i| {
                        i32::try_from(parse(i, &mut cache)?.div_euclid(MS_PER_DAY)).ok()
                    }))
                } else {
                    Arc::new(collect_prim::<TimestampMillisecondType>(n, |i| {
                        parse(i, &mut cache)
                    }))
                }
            }
            TimeFunc::FromUnixtime(fixed) => {
                let secs = PrimArg::<Int64Type>::new(arg(0)?)?;
                let pat = match v.get(1) {
                    Some(p) => Some(StrArg::new(p)?),
                    None => None,
                };
                let mut cache = PatternCache::new(fixed);
                let mut b = StringBuilder::with_capacity(n, n * 19);
                let mut s = String::new();
                for i in 0..n {
                    let p = match &pat {
                        None => cache.fixed,
                        Some(p) => p.get(i).and_then(|p| cache.get(p)),
                    };
                    match (secs.get(i).and_then(|x| x.checked_mul(1000)), p) {
                        (Some(ms), Some(p)) => {
                            s.clear();
                            p.format(ms, &mut s);
                            b.append_value(&s);
                        }
                        _ => b.append_null(),
                    }
                }
                Arc::new(b.finish())
            }
            TimeFunc::UnixTimestamp(fixed) => {
                let s = StrArg::new(arg(0)?)?;
                let pat = match v.get(1) {
                    Some(p) => Some(StrArg::new(p)?),
                    None => None,
                };
                let mut cache = PatternCache::new(fixed);
                Arc::new(collect_prim::<Int64Type>(n, |i| {
                    let text = s.get(i)?;
                    let ms = match &pat {
                        None => datetime::parse_timestamp(text).map(|(ms, _)| ms),
                        Some(p) => cache.get(p.get(i)?)?.parse(text),
                    };
                    Some(ms.map_or(i64::MIN, |ms| ms.div_euclid(1000)))
                }))
            }
            TimeFunc::ToTimestampLtz(mult) => {
                let k = PrimArg::<Int64Type>::new(arg(0)?)?;
                Arc::new(
                    collect_prim::<TimestampMillisecondType>(n, |i| k.get(i)?.checked_mul(*mult))
                        .with_timezone("UTC"),
                )
            }
            TimeFunc::Round {
                unit,
                ceil,
                to_date,
            } => {
                let t = ts(0)?;
                let out = collect_prim::<TimestampMillisecondType>(n, |i| {
                    let ms = t.get(i)?;
                    if *ceil {
                        datetime::ceil_to(ms, *unit)
                    } else {
                        Some(datetime::floor_to(ms, *unit))
                    }
                });
                if *to_date {
                    Arc::new(out.unary::<_, Date32Type>(|ms| ms.div_euclid(MS_PER_DAY) as i32))
                } else {
                    Arc::new(out.with_timezone_opt(tz))
                }
            }
            TimeFunc::Clock(c) => {
                let now = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_millis() as i64);
                match c {
                    Clock::Date => Arc::new(arrow::array::Date32Array::from(vec![
                        now.div_euclid(MS_PER_DAY)
                            as i32;
                        n
                    ])),
                    Clock::UnixSeconds => Arc::new(arrow::array::Int64Array::from(vec![
                            now.div_euclid(1000);
                            n
                        ])),
                    _ => Arc::new(
                        arrow::array::TimestampMillisecondArray::from(vec![now; n])
                            .with_timezone_opt(tz),
                    ),
                }
            }
        })
    }
}

/// The pattern of a row: compiled at plan time, or the last one seen.
struct PatternCache<'a> {
    fixed: Option<&'a JavaPattern>,
    last: Option<(String, Option<JavaPattern>)>,
}

impl<'a> PatternCache<'a> {
    fn new(fixed: &'a Option<Arc<JavaPattern>>) -> Self {
        PatternCache {
            fixed: fixed.as_deref(),
            last: None,
        }
    }

    fn get(&mut self, p: &str) -> Option<&JavaPattern> {
        if let Some(f) = self.fixed {
            return Some(f);
        }
        if self.last.as_ref().is_none_or(|(q, _)| q != p) {
            self.last = Some((p.to_string(), JavaPattern::compile(p).ok()));
        }
        self.last.as_ref().and_then(|(_, c)| c.as_ref())
    }
}

/// The pattern of argument `i` when constant (`default` when the argument is absent).
fn const_pattern(call: &Call, i: usize, default: Option<&str>) -> Result<Option<Arc<JavaPattern>>> {
    let text = match call.const_str(i) {
        Some(Some(p)) => p,
        Some(None) => return Ok(None),
        None if i >= call.args.len() => match default {
            Some(d) => d.to_string(),
            None => return Ok(None),
        },
        None => return Ok(None),
    };
    JavaPattern::compile(&text)
        .map(|p| Some(Arc::new(p)))
        .map_err(|m| sql_error(call.arg_at(i), format!("Invalid date format '{text}': {m}")))
}

/// A time unit named in SQL.
pub(super) fn unit(name: &str, at: Location) -> Result<TimeUnit> {
    TimeUnit::parse(name).ok_or_else(|| sql_error(at, format!("Unknown time unit '{name}'")))
}

fn is_temporal(t: SqlType) -> bool {
    matches!(
        t,
        SqlType::Date | SqlType::Timestamp(_) | SqlType::TimestampLtz(_)
    )
}

/// The timestamp type a DATE argument is computed as.
fn as_ts(t: SqlType) -> SqlType {
    match t {
        SqlType::Date | SqlType::Null => SqlType::Timestamp(3),
        t => t,
    }
}

const TS3: SqlType = SqlType::Timestamp(3);
const S: SqlType = SqlType::STRING;
const I: SqlType = SqlType::BigInt;

/// Type a time function call, or give the call back if the name is not one.
pub(super) fn resolve(call: Call) -> Result<Result<TypedExpr, Call>> {
    use Kind::{Int, Str, Temporal, TemporalOrStr};
    let nullable = call.any_nullable();
    let first = call.args.first().map_or(SqlType::Null, |a| a.ty);
    let part = match call.upper.as_str() {
        "YEAR" => Some(Part::Year),
        "QUARTER" => Some(Part::Quarter),
        "MONTH" => Some(Part::Month),
        "WEEK" => Some(Part::Week),
        "DAYOFMONTH" => Some(Part::Day),
        "DAYOFYEAR" => Some(Part::DayOfYear),
        "DAYOFWEEK" => Some(Part::DayOfWeek),
        "HOUR" => Some(Part::Hour),
        "MINUTE" => Some(Part::Minute),
        "SECOND" => Some(Part::Second),
        _ => None,
    };
    if let Some(part) = part {
        call.arity(1, 1)?;
        call.check(&[Temporal], &format!("'{}(<DATETIME>)'", call.upper))?;
        let ty = as_ts(first);
        return Ok(Ok(call.build(
            Func::Time(TimeFunc::Extract(part)),
            &[ty],
            SqlType::BigInt,
            nullable,
        )));
    }
    let e = match call.upper.as_str() {
        "DATE_FORMAT" => {
            call.arity(2, 2)?;
            call.check(
                &[TemporalOrStr, Str],
                "'DATE_FORMAT(<TIMESTAMP>, <CHARACTER>)'\n'DATE_FORMAT(<CHARACTER>, <CHARACTER>)'",
            )?;
            let pattern = const_pattern(&call, 1, None)?;
            let mut call = call;
            if first.is_string() {
                // A string input is read as a timestamp first; unparsable text gives NULL.
                let s = call.args.remove(0).coerce(S);
                call.args.insert(0, try_cast(s, TS3));
            }
            let ty = as_ts(call.args[0].ty);
            call.build(Func::Time(TimeFunc::DateFormat(pattern)), &[ty, S], S, true)
        }
        "TO_TIMESTAMP" | "TO_DATE" => {
            call.arity(1, 2)?;
            call.check(
                &[Str, Str],
                &format!("'{}(<CHARACTER>[, <CHARACTER>])'", call.upper),
            )?;
            let pattern = const_pattern(&call, 1, None)?;
            let to_date = call.upper == "TO_DATE";
            let ty = if to_date { SqlType::Date } else { TS3 };
            call.build(
                Func::Time(TimeFunc::Parse { pattern, to_date }),
                &[S],
                ty,
                true,
            )
        }
        "FROM_UNIXTIME" => {
            call.arity(1, 2)?;
            call.check(&[Int, Str], "'FROM_UNIXTIME(<INTEGER>[, <CHARACTER>])'")?;
            let pattern = const_pattern(&call, 1, Some("yyyy-MM-dd HH:mm:ss"))?;
            call.build(
                Func::Time(TimeFunc::FromUnixtime(pattern)),
                &[I, S],
                S,
                nullable,
            )
        }
        "UNIX_TIMESTAMP" => {
            call.arity(0, 2)?;
            if call.args.is_empty() {
                call.build(
                    Func::Time(TimeFunc::Clock(Clock::UnixSeconds)),
                    &[],
                    I,
                    false,
                )
            } else {
                call.check(
                    &[Str, Str],
                    "'UNIX_TIMESTAMP()'\n'UNIX_TIMESTAMP(<CHARACTER>[, <CHARACTER>])'",
                )?;
                let pattern = const_pattern(&call, 1, None)?;
                call.build(
                    Func::Time(TimeFunc::UnixTimestamp(pattern)),
                    &[S],
                    I,
                    nullable,
                )
            }
        }
        "TO_TIMESTAMP_LTZ" => {
            call.arity(1, 2)?;
            call.check(&[Int, Int], "'TO_TIMESTAMP_LTZ(<INTEGER>, <INTEGER>)'")?;
            let mult = match call.const_int(1) {
                None if call.args.len() == 1 => 1,
                Some(Some(0)) => 1000,
                Some(Some(3)) => 1,
                _ => {
                    return Err(sql_error(
                        call.arg_at(1),
                        "The precision of TO_TIMESTAMP_LTZ must be the constant 0 or 3",
                    ))
                }
            };
            let mut call = call;
            call.args.truncate(1);
            call.build(
                Func::Time(TimeFunc::ToTimestampLtz(mult)),
                &[I],
                SqlType::TimestampLtz(3),
                nullable,
            )
        }
        "NOW"
        | "CURRENT_TIMESTAMP"
        | "PROCTIME"
        | "CURRENT_ROW_TIMESTAMP"
        | "LOCALTIMESTAMP"
        | "CURRENT_DATE" => {
            call.arity(0, 0)?;
            let (clock, ty) = match call.upper.as_str() {
                "LOCALTIMESTAMP" => (Clock::Local, TS3),
                "CURRENT_DATE" => (Clock::Date, SqlType::Date),
                _ => (Clock::Instant, SqlType::TimestampLtz(3)),
            };
            call.build(Func::Time(TimeFunc::Clock(clock)), &[], ty, false)
        }
        _ => return Ok(Err(call)),
    };
    Ok(Ok(e))
}

fn try_cast(e: TypedExpr, ty: SqlType) -> TypedExpr {
    TypedExpr::build(
        Node::Cast {
            arg: Box::new(e),
            mode: crate::sql::expr::CastMode::Try,
        },
        ty,
        true,
    )
}

fn bad_time_arg(name: &str, arg: &TypedExpr, at: Location) -> Error {
    sql_error(
        at,
        format!(
            "Cannot apply '{name}' to arguments of type '{name}(<{}>)'. Supported form(s): '{name}(<DATETIME>)'",
            calcite_name(arg.ty)
        ),
    )
}

/// `TIMESTAMPADD(unit, n, ts)` / `TIMESTAMPDIFF(unit, a, b)` (the unit already read).
pub(super) fn build_timestamp_add_diff(call: Call, unit: TimeUnit) -> Result<TypedExpr> {
    let nullable = call.any_nullable();
    call.arity(2, 2)?;
    if call.upper == "TIMESTAMPADD" {
        call.check(
            &[Kind::Int, Kind::Temporal],
            "'TIMESTAMPADD(<ANY>, <INTEGER>, <DATETIME>)'",
        )?;
        let t = call.args[1].ty;
        let to_date = t == SqlType::Date && unit.fixed_ms().is_none_or(|ms| ms % MS_PER_DAY == 0);
        let ty = if to_date { SqlType::Date } else { as_ts(t) };
        Ok(call.build(
            Func::Time(TimeFunc::TimestampAdd { unit, to_date }),
            &[I, as_ts(t)],
            ty,
            nullable,
        ))
    } else {
        call.check(
            &[Kind::Temporal],
            "'TIMESTAMPDIFF(<ANY>, <DATETIME>, <DATETIME>)'",
        )?;
        let (a, b) = (as_ts(call.args[0].ty), as_ts(call.args[1].ty));
        Ok(call.build(
            Func::Time(TimeFunc::TimestampDiff(unit)),
            &[a, b],
            SqlType::Int,
            nullable,
        ))
    }
}

/// `EXTRACT(field FROM x)`.
pub(in crate::sql::expr) fn build_extract(
    field: &DateTimeField,
    arg: TypedExpr,
    at: Location,
) -> Result<TypedExpr> {
    let part = match field {
        DateTimeField::Year | DateTimeField::Years => Part::Year,
        DateTimeField::Quarter => Part::Quarter,
        DateTimeField::Month | DateTimeField::Months => Part::Month,
        DateTimeField::Week(_) | DateTimeField::Weeks | DateTimeField::IsoWeek => Part::Week,
        DateTimeField::Day | DateTimeField::Days => Part::Day,
        DateTimeField::DayOfWeek | DateTimeField::Dow => Part::DayOfWeek,
        DateTimeField::DayOfYear | DateTimeField::Doy => Part::DayOfYear,
        DateTimeField::Hour | DateTimeField::Hours => Part::Hour,
        DateTimeField::Minute | DateTimeField::Minutes => Part::Minute,
        DateTimeField::Second | DateTimeField::Seconds => Part::Second,
        DateTimeField::Millisecond | DateTimeField::Milliseconds => Part::Millisecond,
        DateTimeField::Epoch => Part::Epoch,
        other => {
            return Err(sql_error(
                at,
                format!("EXTRACT({other} FROM ...) is not supported"),
            ))
        }
    };
    if !(is_temporal(arg.ty) || arg.ty == SqlType::Null) {
        return Err(bad_time_arg("EXTRACT", &arg, at));
    }
    let nullable = arg.nullable;
    let ty = as_ts(arg.ty);
    Ok(TypedExpr::build(
        Node::Call {
            func: Func::Time(TimeFunc::Extract(part)),
            args: vec![arg.coerce(ty)],
        },
        SqlType::BigInt,
        nullable,
    ))
}

/// `FLOOR(x TO unit)` / `CEIL(x TO unit)`.
pub(in crate::sql::expr) fn build_floor_ceil_time(
    arg: TypedExpr,
    field: &DateTimeField,
    ceil: bool,
    at: Location,
) -> Result<TypedExpr> {
    let name = if ceil { "CEIL" } else { "FLOOR" };
    let unit = unit(&field.to_string(), at)?;
    if !(is_temporal(arg.ty) || arg.ty == SqlType::Null) {
        return Err(bad_time_arg(name, &arg, at));
    }
    let to_date = arg.ty == SqlType::Date;
    let ty = if to_date {
        SqlType::Date
    } else {
        as_ts(arg.ty)
    };
    let nullable = arg.nullable;
    let input = as_ts(arg.ty);
    Ok(TypedExpr::build(
        Node::Call {
            func: Func::Time(TimeFunc::Round {
                unit,
                ceil,
                to_date,
            }),
            args: vec![arg.coerce(input)],
        },
        ty,
        nullable,
    ))
}
