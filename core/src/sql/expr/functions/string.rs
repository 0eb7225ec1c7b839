//! String functions: UPPER, LOWER, INITCAP, CHAR_LENGTH, TRIM/LTRIM/RTRIM/BTRIM,
//! SUBSTRING/SUBSTR, CONCAT, `||`, CONCAT_WS, REPLACE, POSITION/LOCATE/INSTR, SPLIT_INDEX,
//! REGEXP_EXTRACT, REGEXP_REPLACE, REGEXP, LPAD, RPAD, REVERSE, LEFT, RIGHT, REPEAT.
//!
//! Results are written straight into one `StringBuilder` per batch, usually as slices of
//! the input (SPLIT_INDEX, SUBSTRING, TRIM, REGEXP_EXTRACT allocate nothing per row);
//! UPPER and LOWER map an all-ASCII buffer in one pass and reuse its offsets.

use std::fmt::Write as _;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, StringArray, StringBuilder};
use arrow::buffer::Buffer;
use arrow::datatypes::{Int32Type, Int64Type};
use regex::{CaptureLocations, Regex};
use sqlparser::tokenizer::Location;

use super::{Call, Func, Kind};
use crate::error::{Error, Result};
use crate::sql::expr::coerce::{calcite_name, string_len, varchar_sum};
use crate::sql::expr::value::{collect_bool, collect_prim, PrimArg, StrArg, Value};
use crate::sql::expr::{literal, sql_error, Node, TypedExpr};
use crate::sql::types::SqlType;

/// A string function.
#[derive(Debug, Clone)]
pub(in crate::sql::expr) enum StrFunc {
    Upper,
    Lower,
    Initcap,
    CharLength,
    /// `(s, chars)`.
    Trim {
        leading: bool,
        trailing: bool,
    },
    /// `(s, start[, len])`.
    Substring,
    Concat,
    ConcatWs,
    Replace,
    /// `(needle, haystack[, from])`.
    Position,
    SplitIndex,
    /// `(s, regex, group)`; the regex compiled when constant.
    RegexpExtract(Option<Arc<Regex>>),
    RegexpReplace(Option<Arc<Regex>>),
    Regexp(Option<Arc<Regex>>),
    Lpad,
    Rpad,
    Reverse,
    Left,
    Right,
    Repeat,
}

impl StrFunc {
    pub(super) fn name(&self) -> &'static str {
        match self {
            StrFunc::Upper => "UPPER",
            StrFunc::Lower => "LOWER",
            StrFunc::Initcap => "INITCAP",
            StrFunc::CharLength => "CHAR_LENGTH",
            StrFunc::Trim {
                leading: true,
                trailing: true,
            } => "TRIM",
            StrFunc::Trim { leading: true, .. } => "LTRIM",
            StrFunc::Trim { .. } => "RTRIM",
            StrFunc::Substring => "SUBSTRING",
            StrFunc::Concat => "CONCAT",
            StrFunc::ConcatWs => "CONCAT_WS",
            StrFunc::Replace => "REPLACE",
            StrFunc::Position => "POSITION",
            StrFunc::SplitIndex => "SPLIT_INDEX",
            StrFunc::RegexpExtract(_) => "REGEXP_EXTRACT",
            StrFunc::RegexpReplace(_) => "REGEXP_REPLACE",
            StrFunc::Regexp(_) => "REGEXP",
            StrFunc::Lpad => "LPAD",
            StrFunc::Rpad => "RPAD",
            StrFunc::Reverse => "REVERSE",
            StrFunc::Left => "LEFT",
            StrFunc::Right => "RIGHT",
            StrFunc::Repeat => "REPEAT",
        }
    }

    /// Evaluate over `n` rows.
    pub(super) fn eval(&self, e: &TypedExpr, v: &[Value], n: usize) -> Result<ArrayRef> {
        let s =
            |i: usize| -> Result<StrArg<'_>> { StrArg::new(v.get(i).ok_or_else(|| missing(e))?) };
        let int = |i: usize| -> Result<PrimArg<'_, Int64Type>> {
            PrimArg::new(v.get(i).ok_or_else(|| missing(e))?)
        };
        Ok(match self {
            StrFunc::Upper | StrFunc::Lower => {
                let a = v.first().ok_or_else(|| missing(e))?.clone().into_array(n)?;
                change_case(a.as_string::<i32>(), matches!(self, StrFunc::Upper))?
            }
            StrFunc::Initcap => {
                let a = s(0)?;
                // Flink's (Calcite's) INITCAP: words are runs of ASCII letters and digits;
                // every other character, non-ASCII letters included, is kept as it is and
                // starts a new word ('Straße' becomes 'StraßE').
                strings(n, |i, b| {
                    let mut in_word = false;
                    for c in a.get(i)?.chars() {
                        if c.is_ascii_alphanumeric() {
                            push(
                                b,
                                if in_word {
                                    c.to_ascii_lowercase()
                                } else {
                                    c.to_ascii_uppercase()
                                },
                            );
                            in_word = true;
                        } else {
                            push(b, c);
                            in_word = false;
                        }
                    }
                    Some(())
                })
            }
            StrFunc::CharLength => {
                let a = s(0)?;
                Arc::new(collect_prim::<Int32Type>(n, |i| {
                    a.get(i).map(|x| char_len(x) as i32)
                }))
            }
            StrFunc::Trim { leading, trailing } => {
                let (a, chars) = (s(0)?, s(1)?);
                strings(n, |i, b| {
                    let (x, set) = (a.get(i)?, chars.get(i)?);
                    let hit = |c: char| set.contains(c);
                    let mut t = x;
                    if *leading {
                        t = t.trim_start_matches(hit);
                    }
                    if *trailing {
                        t = t.trim_end_matches(hit);
                    }
                    write(b, t);
                    Some(())
                })
            }
            StrFunc::Substring => {
                let (a, start) = (s(0)?, int(1)?);
                let len = if v.len() > 2 { Some(int(2)?) } else { None };
                strings(n, |i, b| {
                    let l = match &len {
                        Some(l) => l.get(i)?,
                        None => i64::MAX,
                    };
                    write(b, substring(a.get(i)?, start.get(i)?, l)?);
                    Some(())
                })
            }
            StrFunc::Concat => {
                let args = (0..v.len()).map(s).collect::<Result<Vec<_>>>()?;
                strings(n, |i, b| {
                    if args.iter().any(|a| a.get(i).is_none()) {
                        return None;
                    }
                    args.iter().for_each(|a| write(b, a.get(i).unwrap_or("")));
                    Some(())
                })
            }
            StrFunc::ConcatWs => {
                let args = (0..v.len()).map(s).collect::<Result<Vec<_>>>()?;
                strings(n, |i, b| {
                    let sep = args.first()?.get(i)?;
                    let mut first = true;
                    for x in args[1..].iter().filter_map(|a| a.get(i)) {
                        if !first {
                            write(b, sep);
                        }
                        write(b, x);
                        first = false;
                    }
                    Some(())
                })
            }
            StrFunc::Replace => {
                let (a, from, to) = (s(0)?, s(1)?, s(2)?);
                if let (StrArg::Const(Some(f)), StrArg::Const(Some(t))) = (&from, &to) {
                    if !f.is_empty() {
                        // A constant pattern: one searcher for the whole column (a
                        // one-byte pattern is a `memchr`), not a string search set up per row.
                        let finder = memchr::memmem::Finder::new(f.as_bytes());
                        return Ok(strings(n, |i, b| {
                            let x = a.get(i)?;
                            let mut last = 0;
                            for at in finder.find_iter(x.as_bytes()) {
                                write(b, &x[last..at]);
                                write(b, t);
                                last = at + f.len();
                            }
                            write(b, &x[last..]);
                            Some(())
                        }));
                    }
                }
                strings(n, |i, b| {
                    let (x, f, t) = (a.get(i)?, from.get(i)?, to.get(i)?);
                    let mut last = 0;
                    for (at, _) in x.match_indices(f) {
                        write(b, &x[last..at]);
                        write(b, t);
                        last = at + f.len();
                    }
                    write(b, &x[last..]);
                    Some(())
                })
            }
            StrFunc::Position => {
                let (needle, hay) = (s(0)?, s(1)?);
                let from = if v.len() > 2 { Some(int(2)?) } else { None };
                Arc::new(collect_prim::<Int32Type>(n, |i| {
                    let f = match &from {
                        Some(f) => f.get(i)?,
                        None => 1,
                    };
                    Some(position(needle.get(i)?, hay.get(i)?, f))
                }))
            }
            StrFunc::SplitIndex => {
                let (a, delim, idx) = (s(0)?, s(1)?, int(2)?);
                strings(n, |i, b| {
                    let (x, d, k) = (a.get(i)?, delim.get(i)?, idx.get(i)?);
                    write(b, split_index(x, d, k)?);
                    Some(())
                })
            }
            StrFunc::RegexpExtract(re) => {
                let (a, pat, group) = (s(0)?, s(1)?, int(2)?);
                let mut cache = RegexCache::new(re);
                let mut locs: Option<CaptureLocations> = None;
                strings(n, |i, b| {
                    let (x, k) = (a.get(i)?, usize::try_from(group.get(i)?).ok()?);
                    let re = cache.get(pat.get(i)?)?;
                    let locs = match &mut locs {
                        Some(l) if l.len() == re.captures_len() => l,
                        slot => slot.insert(re.capture_locations()),
                    };
                    re.captures_read(locs, x)?;
                    let (start, end) = locs.get(k)?;
                    write(b, &x[start..end]);
                    Some(())
                })
            }
            StrFunc::RegexpReplace(re) => {
                let (a, pat, rep) = (s(0)?, s(1)?, s(2)?);
                let mut cache = RegexCache::new(re);
                strings(n, |i, b| {
                    let (x, r) = (a.get(i)?, rep.get(i)?);
                    let re = cache.get(pat.get(i)?)?;
                    // Flink quotes the replacement: `$1` is literal text.
                    write(b, &re.replace_all(x, regex::NoExpand(r)));
                    Some(())
                })
            }
            StrFunc::Regexp(re) => {
                let (a, pat) = (s(0)?, s(1)?);
                let mut cache = RegexCache::new(re);
                Arc::new(collect_bool(n, |i| {
                    let (x, p) = (a.get(i)?, pat.get(i)?);
                    if p.is_empty() {
                        return Some(false);
                    }
                    Some(cache.get(p).is_some_and(|re| re.is_match(x)))
                }))
            }
            StrFunc::Lpad | StrFunc::Rpad => {
                let (a, len, pad) = (s(0)?, int(1)?, s(2)?);
                let left = matches!(self, StrFunc::Lpad);
                strings(n, |i, b| {
                    let (x, l, p) = (a.get(i)?, len.get(i)?, pad.get(i)?);
                    pad_string(b, x, l, p, left)
                })
            }
            StrFunc::Reverse => {
                let a = s(0)?;
                strings(n, |i, b| {
                    a.get(i)?.chars().rev().for_each(|c| push(b, c));
                    Some(())
                })
            }
            StrFunc::Left | StrFunc::Right => {
                let (a, len) = (s(0)?, int(1)?);
                let left = matches!(self, StrFunc::Left);
                strings(n, |i, b| {
                    let (x, l) = (a.get(i)?, len.get(i)?.max(0) as usize);
                    let count = char_len(x);
                    let piece = if left {
                        &x[..byte_at(x, l.min(count))]
                    } else {
                        &x[byte_at(x, count.saturating_sub(l))..]
                    };
                    write(b, piece);
                    Some(())
                })
            }
            StrFunc::Repeat => {
                let (a, times) = (s(0)?, int(1)?);
                strings(n, |i, b| {
                    let (x, k) = (a.get(i)?, times.get(i)?);
                    for _ in 0..k.max(0) {
                        write(b, x);
                    }
                    Some(())
                })
            }
        })
    }
}

fn missing(e: &TypedExpr) -> Error {
    Error::Internal(format!("missing argument in {e}"))
}

/// Build `n` strings: `f` writes row `i` into the builder and answers `None` for NULL
/// (before writing anything).
fn strings(n: usize, mut f: impl FnMut(usize, &mut StringBuilder) -> Option<()>) -> ArrayRef {
    let mut b = StringBuilder::with_capacity(n, n * 16);
    for i in 0..n {
        match f(i, &mut b) {
            Some(()) => b.append_value(""),
            None => b.append_null(),
        }
    }
    Arc::new(b.finish())
}

#[inline]
fn write(b: &mut StringBuilder, s: &str) {
    // Writing into an arrow builder cannot fail.
    let _ = b.write_str(s);
}

#[inline]
fn push(b: &mut StringBuilder, c: char) {
    let _ = b.write_char(c);
}

/// Characters in `s`.
fn char_len(s: &str) -> usize {
    if s.is_ascii() {
        s.len()
    } else {
        s.chars().count()
    }
}

/// The byte offset of character `k` of `s` (its length when `k` is past the end).
fn byte_at(s: &str, k: usize) -> usize {
    if s.is_ascii() {
        k.min(s.len())
    } else {
        s.char_indices().nth(k).map_or(s.len(), |(b, _)| b)
    }
}

/// UPPER / LOWER: an all-ASCII buffer is mapped byte by byte and keeps its offsets.
fn change_case(a: &StringArray, upper: bool) -> Result<ArrayRef> {
    let bytes = a.values().as_slice();
    if bytes.is_ascii() {
        let mapped: Vec<u8> = if upper {
            bytes.iter().map(u8::to_ascii_uppercase).collect()
        } else {
            bytes.iter().map(u8::to_ascii_lowercase).collect()
        };
        let out = StringArray::try_new(
            a.offsets().clone(),
            Buffer::from_vec(mapped),
            a.nulls().cloned(),
        )?;
        return Ok(Arc::new(out));
    }
    let mut b = StringBuilder::with_capacity(a.len(), bytes.len());
    for v in a.iter() {
        match v {
            None => b.append_null(),
            Some(s) => {
                for c in s.chars() {
                    if upper {
                        c.to_uppercase().for_each(|u| push(&mut b, u));
                    } else {
                        c.to_lowercase().for_each(|l| push(&mut b, l));
                    }
                }
                b.append_value("");
            }
        }
    }
    Ok(Arc::new(b.finish()))
}

/// Flink's SUBSTRING: 1-based; a negative start counts from the end; 0 is 1; a negative
/// length is NULL.
fn substring(s: &str, pos: i64, len: i64) -> Option<&str> {
    if len < 0 {
        return None;
    }
    if s.is_empty() {
        return Some("");
    }
    let count = char_len(s) as i64;
    let start = match pos {
        p if p > 0 => p - 1,
        p if p < 0 => count + p,
        _ => 0,
    };
    if start >= count || start < 0 {
        return Some("");
    }
    let end = if count - start < len {
        count
    } else {
        start + len
    };
    Some(&s[byte_at(s, start as usize)..byte_at(s, end as usize)])
}

/// 1-based character position of `needle` in `hay` at or after character `from`; 0 when
/// absent.
fn position(needle: &str, hay: &str, from: i64) -> i32 {
    if from < 1 {
        return 0;
    }
    let skip = (from - 1) as usize;
    if skip > char_len(hay) {
        return 0;
    }
    let start = byte_at(hay, skip);
    match hay[start..].find(needle) {
        Some(at) => (char_len(&hay[..start + at]) + 1) as i32,
        None => 0,
    }
}

/// Flink's SPLIT_INDEX: the `k`-th (0-based) piece of `s` split on the whole separator,
/// empty pieces kept; NULL when out of range or `s` is empty.
fn split_index<'a>(s: &'a str, delim: &str, k: i64) -> Option<&'a str> {
    if k < 0 || s.is_empty() {
        return None;
    }
    let k = usize::try_from(k).ok()?;
    if delim.is_empty() {
        return s.split_whitespace().nth(k);
    }
    s.split(delim).nth(k)
}

/// LPAD / RPAD to `len` characters with `pad` repeated; NULL for a negative length or an
/// empty pad; a longer string is cut to `len`.
fn pad_string(b: &mut StringBuilder, s: &str, len: i64, pad: &str, left: bool) -> Option<()> {
    if len < 0 || pad.is_empty() {
        return None;
    }
    let len = len as usize;
    let count = char_len(s);
    let fill = len.saturating_sub(count);
    let mut pad_chars = pad.chars().cycle();
    if left {
        (0..fill)
            .filter_map(|_| pad_chars.next())
            .for_each(|c| push(b, c));
        write(b, &s[..byte_at(s, len.min(count))]);
    } else {
        write(b, &s[..byte_at(s, len.min(count))]);
        (0..fill)
            .filter_map(|_| pad_chars.next())
            .for_each(|c| push(b, c));
    }
    Some(())
}

/// The regex of a row: the one compiled at plan time, or the last one compiled from a
/// non-constant pattern (an invalid pattern gives NULL, as in Flink).
struct RegexCache<'a> {
    fixed: Option<&'a Regex>,
    last: Option<(String, Option<Regex>)>,
}

impl<'a> RegexCache<'a> {
    fn new(fixed: &'a Option<Arc<Regex>>) -> Self {
        RegexCache {
            fixed: fixed.as_deref(),
            last: None,
        }
    }

    fn get(&mut self, pattern: &str) -> Option<&Regex> {
        if let Some(re) = self.fixed {
            return Some(re);
        }
        let stale = self.last.as_ref().is_none_or(|(p, _)| p != pattern);
        if stale {
            self.last = Some((pattern.to_string(), Regex::new(pattern).ok()));
        }
        self.last.as_ref().and_then(|(_, re)| re.as_ref())
    }
}

/// Compile the constant regex of argument `i`, if it is one.
fn const_regex(call: &Call, i: usize) -> Result<Option<Arc<Regex>>> {
    match call.const_str(i) {
        Some(Some(p)) => Regex::new(&p).map(|re| Some(Arc::new(re))).map_err(|err| {
            sql_error(
                call.arg_at(i),
                format!("Invalid regular expression '{p}': {err}"),
            )
        }),
        _ => Ok(None),
    }
}

const S: SqlType = SqlType::STRING;
const I: SqlType = SqlType::BigInt;

/// Type a string function call, or give the call back if the name is not one.
pub(super) fn resolve(call: Call) -> Result<Result<TypedExpr, Call>> {
    use Kind::{Int, Str};
    let nullable = call.any_nullable();
    let first = call.args.first().map_or(SqlType::Null, |a| a.ty);
    let same = if first == SqlType::Null { S } else { first };
    let e = match call.upper.as_str() {
        "UPPER" | "LOWER" | "INITCAP" => {
            call.arity(1, 1)?;
            call.check(&[Str], &format!("'{}(<CHARACTER>)'", call.upper))?;
            let f = match call.upper.as_str() {
                "UPPER" => StrFunc::Upper,
                "LOWER" => StrFunc::Lower,
                _ => StrFunc::Initcap,
            };
            call.build(Func::Str(f), &[same], same, nullable)
        }
        "CHAR_LENGTH" | "CHARACTER_LENGTH" => {
            call.arity(1, 1)?;
            call.check(&[Str], &format!("'{}(<CHARACTER>)'", call.upper))?;
            call.build(Func::Str(StrFunc::CharLength), &[S], SqlType::Int, nullable)
        }
        "LTRIM" | "RTRIM" | "BTRIM" => {
            call.arity(1, 2)?;
            call.check(&[Str], &format!("'{}(<CHARACTER>)'", call.upper))?;
            let (leading, trailing) = match call.upper.as_str() {
                "LTRIM" => (true, false),
                "RTRIM" => (false, true),
                _ => (true, true),
            };
            let mut call = call;
            if call.args.len() == 1 {
                call.args.push(literal::string(" "));
            }
            let ty = SqlType::Varchar(string_len(same));
            call.build(
                Func::Str(StrFunc::Trim { leading, trailing }),
                &[S],
                ty,
                nullable,
            )
        }
        "SUBSTR" | "SUBSTRING" => {
            call.arity(2, 3)?;
            call.check(
                &[Str, Int, Int],
                &format!(
                    "'{0}(<CHARACTER>, <INTEGER>)'\n'{0}(<CHARACTER>, <INTEGER>, <INTEGER>)'",
                    call.upper
                ),
            )?;
            let ty = SqlType::Varchar(string_len(same));
            call.build(Func::Str(StrFunc::Substring), &[S, I], ty, true)
        }
        "CONCAT" => {
            call.arity(1, usize::MAX)?;
            call.check(&[Str], "'CONCAT(<CHARACTER>, ...)'")?;
            let ty = varchar_sum(call.args.iter().map(|a| string_len(a.ty)));
            call.build(Func::Str(StrFunc::Concat), &[S], ty, nullable)
        }
        "CONCAT_WS" => {
            call.arity(1, usize::MAX)?;
            call.check(&[Str], "'CONCAT_WS(<CHARACTER>, <CHARACTER>, ...)'")?;
            let sep_nullable = call.args[0].nullable;
            call.build(Func::Str(StrFunc::ConcatWs), &[S], S, sep_nullable)
        }
        "REPLACE" => {
            call.arity(3, 3)?;
            call.check(&[Str], "'REPLACE(<CHARACTER>, <CHARACTER>, <CHARACTER>)'")?;
            call.build(Func::Str(StrFunc::Replace), &[S], S, nullable)
        }
        "POSITION" | "LOCATE" | "INSTR" => {
            call.arity(2, 3)?;
            call.check(
                &[Str, Str, Int],
                &format!("'{}(<CHARACTER>, <CHARACTER>[, <INTEGER>])'", call.upper),
            )?;
            let mut call = call;
            if call.upper == "INSTR" {
                // INSTR(str, sub) is POSITION(sub IN str).
                call.args.swap(0, 1);
            }
            call.build(
                Func::Str(StrFunc::Position),
                &[S, S, I],
                SqlType::Int,
                nullable,
            )
        }
        "SPLIT_INDEX" => {
            call.arity(3, 3)?;
            call.check(
                &[Str, Str, Int],
                "'SPLIT_INDEX(<CHARACTER>, <CHARACTER>, <INTEGER>)'",
            )?;
            call.build(Func::Str(StrFunc::SplitIndex), &[S, S, I], S, true)
        }
        "REGEXP_EXTRACT" => {
            call.arity(2, 3)?;
            call.check(
                &[Str, Str, Int],
                "'REGEXP_EXTRACT(<CHARACTER>, <CHARACTER>[, <INTEGER>])'",
            )?;
            let re = const_regex(&call, 1)?;
            let mut call = call;
            if call.args.len() == 2 {
                call.args.push(literal::bigint(0));
            }
            call.build(Func::Str(StrFunc::RegexpExtract(re)), &[S, S, I], S, true)
        }
        "REGEXP_REPLACE" => {
            call.arity(3, 3)?;
            call.check(
                &[Str],
                "'REGEXP_REPLACE(<CHARACTER>, <CHARACTER>, <CHARACTER>)'",
            )?;
            let re = const_regex(&call, 1)?;
            call.build(Func::Str(StrFunc::RegexpReplace(re)), &[S], S, nullable)
        }
        "REGEXP" => {
            call.arity(2, 2)?;
            call.check(&[Str], "'REGEXP(<CHARACTER>, <CHARACTER>)'")?;
            let re = const_regex(&call, 1)?;
            call.build(
                Func::Str(StrFunc::Regexp(re)),
                &[S],
                SqlType::Boolean,
                nullable,
            )
        }
        "LPAD" | "RPAD" => {
            call.arity(3, 3)?;
            call.check(
                &[Str, Int, Str],
                &format!("'{}(<CHARACTER>, <INTEGER>, <CHARACTER>)'", call.upper),
            )?;
            let f = if call.upper == "LPAD" {
                StrFunc::Lpad
            } else {
                StrFunc::Rpad
            };
            call.build(Func::Str(f), &[S, I, S], S, true)
        }
        "REVERSE" => {
            call.arity(1, 1)?;
            call.check(&[Str], "'REVERSE(<CHARACTER>)'")?;
            call.build(Func::Str(StrFunc::Reverse), &[S], S, nullable)
        }
        "LEFT" | "RIGHT" | "REPEAT" => {
            call.arity(2, 2)?;
            call.check(
                &[Str, Int],
                &format!("'{}(<CHARACTER>, <INTEGER>)'", call.upper),
            )?;
            let f = match call.upper.as_str() {
                "LEFT" => StrFunc::Left,
                "RIGHT" => StrFunc::Right,
                _ => StrFunc::Repeat,
            };
            call.build(Func::Str(f), &[S, I], S, nullable)
        }
        _ => return Ok(Err(call)),
    };
    Ok(Ok(e))
}

/// `TRIM([BOTH|LEADING|TRAILING] [chars] FROM s)`.
pub(in crate::sql::expr) fn build_trim(
    s: TypedExpr,
    chars: Option<TypedExpr>,
    leading: bool,
    trailing: bool,
    at: Location,
) -> Result<TypedExpr> {
    let chars = chars.unwrap_or_else(|| literal::string(" "));
    let stringish = |t: SqlType| t.is_string() || t == SqlType::Null;
    if !stringish(s.ty) || !stringish(chars.ty) {
        return Err(sql_error(
            at,
            format!(
                "Cannot apply 'TRIM' to arguments of type 'TRIM(<{}> FROM <{}>)'. Supported form(s): 'TRIM([BOTH|LEADING|TRAILING] <CHARACTER> FROM <CHARACTER>)'",
                calcite_name(chars.ty),
                calcite_name(s.ty)
            ),
        ));
    }
    let nullable = s.nullable || chars.nullable;
    let ty = SqlType::Varchar(string_len(s.ty));
    Ok(TypedExpr::build(
        Node::Call {
            func: Func::Str(StrFunc::Trim { leading, trailing }),
            args: vec![s.coerce(S), chars.coerce(S)],
        },
        ty,
        nullable,
    ))
}

/// `a || b`.
pub(in crate::sql::expr) fn build_concat_op(
    l: TypedExpr,
    r: TypedExpr,
    at: Location,
) -> Result<TypedExpr> {
    let stringish = |t: SqlType| t.is_string() || t == SqlType::Null;
    if !stringish(l.ty) || !stringish(r.ty) {
        return Err(sql_error(
            at,
            format!(
                "Cannot apply '||' to arguments of type '<{}> || <{}>'. Supported form(s): '<STRING> || <STRING>'",
                calcite_name(l.ty),
                calcite_name(r.ty)
            ),
        ));
    }
    let ty = match (l.ty, r.ty) {
        (SqlType::Char(a), SqlType::Char(b)) => match varchar_sum([a, b]) {
            SqlType::Varchar(n) => SqlType::Char(n),
            t => t,
        },
        (a, b) => varchar_sum([string_len(a), string_len(b)]),
    };
    let nullable = l.nullable || r.nullable;
    Ok(TypedExpr::build(
        Node::Call {
            func: Func::Str(StrFunc::Concat),
            args: vec![l.coerce(S), r.coerce(S)],
        },
        ty,
        nullable,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn row_helpers_follow_flink() {
        let url = "https://www.nexmark.com/abc/def/ghi?x=1";
        assert_eq!(split_index(url, "/", 3), Some("abc"));
        assert_eq!(split_index(url, "/", 1), Some(""));
        assert_eq!(split_index(url, "/", 9), None);
        assert_eq!(split_index(url, "/", -1), None);
        assert_eq!(split_index("", "/", 0), None);
        assert_eq!(substring("hello", 2, 3), Some("ell"));
        assert_eq!(substring("hello", -3, 2), Some("ll"));
        assert_eq!(substring("hello", 0, 2), Some("he"));
        assert_eq!(substring("hello", 9, 2), Some(""));
        assert_eq!(substring("hello", 2, -1), None);
        assert_eq!(substring("héllo", 2, 2), Some("él"));
        assert_eq!(position("l", "hello", 1), 3);
        assert_eq!(position("l", "hello", 4), 4);
        assert_eq!(position("z", "hello", 1), 0);
        assert_eq!(position("", "hello", 1), 1);
        assert_eq!(position("é", "aéb", 1), 2);
    }
}
