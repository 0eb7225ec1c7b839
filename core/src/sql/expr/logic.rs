//! Comparisons, three-valued logic, `IN` lists, `LIKE`, `CASE` and `COALESCE`.
//!
//! `AND`, `OR`, `CASE` and `COALESCE` evaluate an operand that can fail on a row (integer
//! division, a cast from a string) only on the rows that reach it, so the usual guards
//! (`b <> 0 AND a / b > 1`, `CASE WHEN b = 0 THEN 0 ELSE a / b END`) work as they do in
//! Flink's row-at-a-time code.

use std::collections::HashSet;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BooleanArray, Datum, RecordBatch, Scalar, StringArray, UInt32Array,
};
use arrow::compute::filter_record_batch;
use arrow::compute::kernels::{boolean, cmp, zip::zip};
use arrow::datatypes::{DataType, Decimal128Type, Float64Type, Int64Type};
use sqlparser::tokenizer::Location;

use super::coerce::{calcite_name, common_type};
use super::value::{as_bool, collect_bool, datum2, Value};
use super::{literal, sql_error, Node, TypedExpr};
use crate::error::{Error, Result};
use crate::sql::types::SqlType;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CmpOp {
    Eq,
    NotEq,
    Lt,
    LtEq,
    Gt,
    GtEq,
    /// `IS DISTINCT FROM` (NULL-safe `<>`).
    Distinct,
    /// `IS NOT DISTINCT FROM` / `<=>` (NULL-safe `=`).
    NotDistinct,
}

impl CmpOp {
    /// The SQL spelling.
    pub(super) fn symbol(self) -> &'static str {
        match self {
            CmpOp::Eq => "=",
            CmpOp::NotEq => "<>",
            CmpOp::Lt => "<",
            CmpOp::LtEq => "<=",
            CmpOp::Gt => ">",
            CmpOp::GtEq => ">=",
            CmpOp::Distinct => "IS DISTINCT FROM",
            CmpOp::NotDistinct => "IS NOT DISTINCT FROM",
        }
    }
}

/// The type both sides of a comparison are brought to, if they are comparable.
fn comparison_type(a: SqlType, b: SqlType) -> Option<SqlType> {
    use SqlType as T;
    let temporal = |t: SqlType| matches!(t, T::Date | T::Timestamp(_) | T::TimestampLtz(_));
    match (a, b) {
        // `ts > '2020-01-01 00:00:00'`: the string is read as the time type.
        (s, t) | (t, s) if s.is_string() && temporal(t) => Some(t),
        (T::Null, T::Null) => Some(T::Boolean),
        _ => common_type(a, b),
    }
}

/// Type `l op r`.
pub(super) fn build_cmp(op: CmpOp, l: TypedExpr, r: TypedExpr, at: Location) -> Result<TypedExpr> {
    let Some(t) = comparison_type(l.ty, r.ty) else {
        let sym = op.symbol();
        return Err(sql_error(
            at,
            format!(
                "Cannot apply '{sym}' to arguments of type '<{}> {sym} <{}>'. Supported form(s): '<COMPARABLE_TYPE> {sym} <COMPARABLE_TYPE>'",
                calcite_name(l.ty),
                calcite_name(r.ty)
            ),
        ));
    };
    let nullable =
        !matches!(op, CmpOp::Distinct | CmpOp::NotDistinct) && (l.nullable || r.nullable);
    Ok(TypedExpr::build(
        Node::Cmp {
            op,
            l: Box::new(l.coerce(t)),
            r: Box::new(r.coerce(t)),
        },
        SqlType::Boolean,
        nullable,
    ))
}

/// Evaluate a comparison of two values of one type.
pub(super) fn eval_cmp(op: CmpOp, l: &Value, r: &Value) -> Result<Value> {
    datum2(l, r, |a, b| {
        let out = match op {
            CmpOp::Eq => cmp::eq(a, b),
            CmpOp::NotEq => cmp::neq(a, b),
            CmpOp::Lt => cmp::lt(a, b),
            CmpOp::LtEq => cmp::lt_eq(a, b),
            CmpOp::Gt => cmp::gt(a, b),
            CmpOp::GtEq => cmp::gt_eq(a, b),
            CmpOp::Distinct => cmp::distinct(a, b),
            CmpOp::NotDistinct => cmp::not_distinct(a, b),
        }?;
        Ok(Arc::new(out) as ArrayRef)
    })
}

/// Check that `e` is a condition (BOOLEAN or NULL), for `what` (`AND`, `WHERE`...).
pub(super) fn expect_bool(e: TypedExpr, what: &str, at: Location) -> Result<TypedExpr> {
    match e.ty {
        SqlType::Boolean => Ok(e),
        SqlType::Null => Ok(e.coerce(SqlType::Boolean)),
        t => Err(sql_error(
            at,
            format!(
                "Cannot apply '{what}' to arguments of type '<{}>': expected BOOLEAN",
                calcite_name(t)
            ),
        )),
    }
}

/// `l AND r` / `l OR r` (both already BOOLEAN).
pub(super) fn build_and_or(and: bool, l: TypedExpr, r: TypedExpr) -> TypedExpr {
    let nullable = l.nullable || r.nullable;
    let node = if and {
        Node::And(Box::new(l), Box::new(r))
    } else {
        Node::Or(Box::new(l), Box::new(r))
    };
    TypedExpr::build(node, SqlType::Boolean, nullable)
}

/// Kleene `AND` / `OR`.
pub(super) fn eval_and_or(
    and: bool,
    l: &TypedExpr,
    r: &TypedExpr,
    batch: &RecordBatch,
) -> Result<Value> {
    let n = batch.num_rows();
    let lv = l.eval(batch)?;
    // FALSE AND x is FALSE, TRUE OR x is TRUE, whatever x is.
    if let Value::Scalar(s) = &lv {
        let b = as_bool(s.as_ref())?;
        if b.is_valid(0) && b.value(0) != and {
            return Ok(lv);
        }
    }
    let rv = if r.fallible() {
        // Only the rows the left side does not decide reach the right side.
        let la = lv.clone().into_array(n)?;
        let l = as_bool(la.as_ref())?;
        // FALSE decides an AND, TRUE an OR; NULL rows still need the right side.
        let decided = if and {
            true_mask(&boolean::not(l)?)
        } else {
            true_mask(l)
        };
        let open = boolean::not(&decided)?;
        eval_masked(r, batch, &open)?
    } else {
        r.eval(batch)?
    };
    if lv.is_scalar() && rv.is_scalar() {
        let (a, b) = (as_bool(lv.array().as_ref())?, as_bool(rv.array().as_ref())?);
        let out = if and {
            boolean::and_kleene(a, b)?
        } else {
            boolean::or_kleene(a, b)?
        };
        return Ok(Value::Scalar(Arc::new(out)));
    }
    let (la, ra) = (lv.into_array(n)?, rv.into_array(n)?);
    let (a, b) = (as_bool(la.as_ref())?, as_bool(ra.as_ref())?);
    let out = if and {
        boolean::and_kleene(a, b)?
    } else {
        boolean::or_kleene(a, b)?
    };
    Ok(Value::Array(Arc::new(out)))
}

/// `x IS [NOT] TRUE|FALSE`: never NULL.
pub(super) fn eval_is_bool(v: Value, value: bool, negated: bool) -> Result<Value> {
    v.map(|a| {
        let b = as_bool(a.as_ref())?;
        let is = if value {
            true_mask(b)
        } else {
            true_mask(&boolean::not(b)?)
        };
        Ok(Arc::new(if negated { boolean::not(&is)? } else { is }) as ArrayRef)
    })
}

/// Evaluate `e` for the rows where `mask` is true; other rows may hold anything (NULL).
/// Expressions that cannot fail are simply evaluated on the whole batch.
pub(super) fn eval_masked(
    e: &TypedExpr,
    batch: &RecordBatch,
    mask: &BooleanArray,
) -> Result<Value> {
    if !e.fallible() {
        return e.eval(batch);
    }
    let selected = mask.true_count();
    if selected == batch.num_rows() {
        return e.eval(batch);
    }
    if selected == 0 {
        return Ok(Value::Scalar(arrow::array::new_null_array(
            &e.ty.arrow(),
            1,
        )));
    }
    let part = filter_record_batch(batch, mask)?;
    match e.eval(&part)? {
        Value::Scalar(s) => Ok(Value::Scalar(s)),
        Value::Array(a) => {
            // Row i of the batch takes value k of `a` when it is the k-th selected row.
            let mut k = 0u32;
            let idx: UInt32Array = mask
                .iter()
                .map(|m| {
                    (m == Some(true)).then(|| {
                        k += 1;
                        k - 1
                    })
                })
                .collect();
            Ok(Value::Array(arrow::compute::take(a.as_ref(), &idx, None)?))
        }
    }
}

/// The constants of an `IN` list, hashed by value.
pub(super) struct InSet {
    /// The list as written, for display.
    pub(super) items: Vec<String>,
    has_null: bool,
    keys: Keys,
}

/// The list as written: the hash sets' order changes from run to run, and common
/// subexpressions are found by this text.
impl std::fmt::Debug for InSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InSet")
            .field("items", &self.items)
            .field("has_null", &self.has_null)
            .finish()
    }
}

type Set<T> = HashSet<T, ahash::RandomState>;

#[derive(Debug)]
enum Keys {
    /// Integers, dates, timestamps, intervals (read as `i64`).
    Int(Set<i64>),
    /// Floats, by normalized bits.
    Float(Set<u64>),
    Decimal(Set<i128>),
    Str(Set<Box<str>>),
    Bool {
        t: bool,
        f: bool,
    },
}

fn float_key(v: f64) -> u64 {
    if v == 0.0 {
        0
    } else if v.is_nan() {
        f64::NAN.to_bits()
    } else {
        v.to_bits()
    }
}

/// The arrow type an IN argument of SQL type `t` is read as.
fn key_type(t: SqlType) -> DataType {
    match t {
        SqlType::Float | SqlType::Double => DataType::Float64,
        SqlType::Decimal { .. } | SqlType::Boolean => t.arrow(),
        t if t.is_string() => DataType::Utf8,
        _ => DataType::Int64,
    }
}

/// `arg [NOT] IN (list)`: a hash set when the list is constant, else `=` ... `OR`.
pub(super) fn build_in(
    arg: TypedExpr,
    list: Vec<TypedExpr>,
    negated: bool,
    at: Location,
) -> Result<TypedExpr> {
    let mut t = arg.ty;
    for item in &list {
        t = comparison_type(t, item.ty).ok_or_else(|| {
            sql_error(
                at,
                "Values passed to IN operator must have compatible types",
            )
        })?;
    }
    if !list.iter().all(|e| e.as_literal().is_some()) {
        let mut acc: Option<TypedExpr> = None;
        for item in list {
            let eq = build_cmp(CmpOp::Eq, arg.clone(), item, at)?;
            acc = Some(match acc {
                None => eq,
                Some(a) => build_and_or(false, a, eq),
            });
        }
        let any = acc.ok_or_else(|| sql_error(at, "IN list must not be empty"))?;
        let nullable = any.nullable;
        return Ok(if negated {
            TypedExpr::build(Node::Not(Box::new(any)), SqlType::Boolean, nullable)
        } else {
            any
        });
    }
    let items: Vec<String> = list.iter().map(ToString::to_string).collect();
    let kt = key_type(t);
    let mut has_null = false;
    let mut keys = match &kt {
        DataType::Float64 => Keys::Float(Set::default()),
        DataType::Decimal128(..) => Keys::Decimal(Set::default()),
        DataType::Utf8 => Keys::Str(Set::default()),
        DataType::Boolean => Keys::Bool { t: false, f: false },
        _ => Keys::Int(Set::default()),
    };
    for item in list {
        let v = item.coerce(t);
        let a = v
            .as_literal()
            .ok_or_else(|| Error::Internal(format!("IN item {v} did not fold")))?;
        let a = arrow::compute::cast(a.as_ref(), &kt)?;
        if a.is_null(0) {
            has_null = true;
            continue;
        }
        match &mut keys {
            Keys::Int(s) => {
                s.insert(a.as_primitive::<Int64Type>().value(0));
            }
            Keys::Float(s) => {
                s.insert(float_key(a.as_primitive::<Float64Type>().value(0)));
            }
            Keys::Decimal(s) => {
                s.insert(a.as_primitive::<Decimal128Type>().value(0));
            }
            Keys::Str(s) => {
                s.insert(a.as_string::<i32>().value(0).into());
            }
            Keys::Bool { t, f } => {
                if a.as_boolean().value(0) {
                    *t = true;
                } else {
                    *f = true;
                }
            }
        }
    }
    let nullable = arg.nullable || has_null;
    Ok(TypedExpr::build(
        Node::InList {
            arg: Box::new(arg.coerce(t)),
            set: Arc::new(InSet {
                items,
                has_null,
                keys,
            }),
            negated,
        },
        SqlType::Boolean,
        nullable,
    ))
}

/// Look every row up in the set.
pub(super) fn eval_in(v: &Value, set: &InSet, negated: bool) -> Result<Value> {
    let answer = |found: bool| {
        if found {
            Some(!negated)
        } else if set.has_null {
            None
        } else {
            Some(negated)
        }
    };
    v.map(|a| {
        let n = a.len();
        let out = match &set.keys {
            Keys::Int(s) => {
                let a = arrow::compute::cast(a.as_ref(), &DataType::Int64)?;
                let a = a.as_primitive::<Int64Type>();
                collect_bool(n, |i| {
                    a.is_valid(i)
                        .then(|| answer(s.contains(&a.value(i))))
                        .flatten()
                })
            }
            Keys::Float(s) => {
                let a = arrow::compute::cast(a.as_ref(), &DataType::Float64)?;
                let a = a.as_primitive::<Float64Type>();
                collect_bool(n, |i| {
                    a.is_valid(i)
                        .then(|| answer(s.contains(&float_key(a.value(i)))))
                        .flatten()
                })
            }
            Keys::Decimal(s) => {
                let a = a.as_primitive::<Decimal128Type>();
                collect_bool(n, |i| {
                    a.is_valid(i)
                        .then(|| answer(s.contains(&a.value(i))))
                        .flatten()
                })
            }
            Keys::Str(s) => {
                let a: &StringArray = a.as_string::<i32>();
                collect_bool(n, |i| {
                    a.is_valid(i)
                        .then(|| answer(s.contains(a.value(i))))
                        .flatten()
                })
            }
            Keys::Bool { t, f } => {
                let a = a.as_boolean();
                collect_bool(n, |i| {
                    a.is_valid(i)
                        .then(|| answer(if a.value(i) { *t } else { *f }))
                        .flatten()
                })
            }
        };
        Ok(Arc::new(out) as ArrayRef)
    })
}

/// Rewrite a SQL LIKE pattern with an optional escape character into arrow's syntax
/// (backslash escapes; SQL's LIKE has no escape character unless one is given).
pub(super) fn like_pattern(pattern: &str, escape: Option<char>) -> Result<String, String> {
    let mut out = String::with_capacity(pattern.len() + 4);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if Some(c) == escape {
            match chars.next() {
                Some(d @ ('%' | '_')) => {
                    out.push('\\');
                    out.push(d);
                }
                Some(d) if Some(d) == escape => {
                    if d == '\\' {
                        out.push('\\');
                    }
                    out.push(d);
                }
                _ => {
                    return Err(format!(
                        "Invalid escape sequence '{pattern}', {}",
                        escape.map_or(0, |e| e as u32)
                    ))
                }
            }
        } else if c == '\\' {
            out.push_str("\\\\");
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// `arg [NOT] [I]LIKE pattern [ESCAPE e]`.
pub(super) fn build_like(
    arg: TypedExpr,
    pattern: TypedExpr,
    escape: Option<char>,
    negated: bool,
    case_insensitive: bool,
    at: Location,
) -> Result<TypedExpr> {
    let stringish = |t: SqlType| t.is_string() || t == SqlType::Null;
    if !stringish(arg.ty) || !stringish(pattern.ty) {
        let name = if case_insensitive { "ILIKE" } else { "LIKE" };
        return Err(sql_error(
            at,
            format!(
                "Cannot apply '{name}' to arguments of type '{name}(<{}>, <{}>)'. Supported form(s): '{name}(<STRING>, <STRING>, <STRING>)'",
                calcite_name(arg.ty),
                calcite_name(pattern.ty)
            ),
        ));
    }
    let nullable = arg.nullable || pattern.nullable;
    let pattern = pattern.coerce(SqlType::STRING);
    let (pattern, shown) = match pattern.as_literal() {
        Some(p) if p.is_valid(0) => {
            let text = p.as_string::<i32>().value(0).to_string();
            let translated = like_pattern(&text, escape).map_err(|m| sql_error(at, m))?;
            let mut shown = pattern.to_string();
            if let Some(e) = escape {
                shown.push_str(&format!(" ESCAPE '{e}'"));
            }
            (
                literal::string(&translated).coerce(SqlType::STRING),
                Some(shown),
            )
        }
        Some(_) => (pattern, None),
        None if escape.is_some() => {
            return Err(sql_error(at, "LIKE ... ESCAPE needs a constant pattern"));
        }
        None => (pattern, None),
    };
    Ok(TypedExpr::build(
        Node::Like {
            arg: Box::new(arg.coerce(SqlType::STRING)),
            pattern: Box::new(pattern),
            negated,
            case_insensitive,
            shown,
        },
        SqlType::Boolean,
        nullable,
    ))
}

/// Evaluate LIKE with arrow's kernels (constant patterns are compiled once per call,
/// with fast paths for prefixes, suffixes and substrings).
pub(super) fn eval_like(v: &Value, p: &Value, negated: bool, ci: bool) -> Result<Value> {
    datum2(v, p, |a, b| {
        let out = match (negated, ci) {
            (false, false) => arrow::compute::like(a, b),
            (true, false) => arrow::compute::nlike(a, b),
            (false, true) => arrow::compute::ilike(a, b),
            (true, true) => arrow::compute::nilike(a, b),
        }?;
        Ok(Arc::new(out) as ArrayRef)
    })
}

/// The common type of CASE / COALESCE branches.
pub(super) fn branch_type(
    types: impl IntoIterator<Item = SqlType>,
    at: Location,
) -> Result<SqlType> {
    let mut t = SqlType::Null;
    for b in types {
        t = common_type(t, b).ok_or_else(|| {
            sql_error(at, "Illegal mixing of types in CASE or COALESCE statement")
        })?;
    }
    Ok(t)
}

/// `CASE WHEN c THEN v ... [ELSE e] END` (conditions BOOLEAN).
pub(super) fn build_case(
    whens: Vec<(TypedExpr, TypedExpr)>,
    otherwise: Option<TypedExpr>,
    at: Location,
) -> Result<TypedExpr> {
    let t = branch_type(
        whens
            .iter()
            .map(|(_, v)| v.ty)
            .chain(otherwise.iter().map(|e| e.ty)),
        at,
    )?;
    let nullable =
        whens.iter().any(|(_, v)| v.nullable) || otherwise.as_ref().is_none_or(|e| e.nullable);
    // Branches whose condition is constantly FALSE or NULL never run.
    let whens: Vec<_> = whens
        .into_iter()
        .filter(|(c, _)| {
            c.as_literal()
                .is_none_or(|a| as_bool(a.as_ref()).is_ok_and(|b| b.is_valid(0) && b.value(0)))
        })
        .map(|(c, v)| (c, v.coerce(t)))
        .collect();
    let otherwise = otherwise.map(|e| Box::new(e.coerce(t)));
    Ok(TypedExpr::build(
        Node::Case { whens, otherwise },
        t,
        nullable,
    ))
}

/// Evaluate CASE: each branch's value only where it is taken when it can fail.
pub(super) fn eval_case(
    whens: &[(TypedExpr, TypedExpr)],
    otherwise: Option<&TypedExpr>,
    ty: SqlType,
    batch: &RecordBatch,
) -> Result<Value> {
    let n = batch.num_rows();
    // Rows no branch has taken yet; None while that is all rows.
    let mut remaining: Option<BooleanArray> = None;
    let mut taken: Vec<(BooleanArray, Value)> = Vec::with_capacity(whens.len());
    for (cond, value) in whens {
        let c = match &remaining {
            None => cond.eval(batch)?,
            Some(m) => eval_masked(cond, batch, m)?,
        };
        let c = c.into_array(n)?;
        let hit = true_mask(as_bool(c.as_ref())?);
        let hit = match &remaining {
            None => hit,
            Some(m) => boolean::and(m, &hit)?,
        };
        if hit.true_count() == 0 {
            continue;
        }
        let v = eval_masked(value, batch, &hit)?;
        let left = match &remaining {
            None => boolean::not(&hit)?,
            Some(m) => boolean::and_not(m, &hit)?,
        };
        let done = left.true_count() == 0;
        remaining = Some(left);
        taken.push((hit, v));
        if done {
            break;
        }
    }
    let mut acc = match (otherwise, &remaining) {
        (Some(e), Some(m)) if m.true_count() > 0 => eval_masked(e, batch, m)?,
        (Some(e), None) => e.eval(batch)?,
        _ => Value::Scalar(arrow::array::new_null_array(&ty.arrow(), 1)),
    };
    for (hit, v) in taken.into_iter().rev() {
        if hit.true_count() == n {
            acc = v;
            continue;
        }
        acc = Value::Array(zip_values(&hit, &v, &acc)?);
    }
    Ok(acc)
}

/// `mask ? a : b`, row by row, as an array of the mask's length.
fn zip_values(mask: &BooleanArray, a: &Value, b: &Value) -> Result<ArrayRef> {
    let sa;
    let sb;
    let da: &dyn Datum = match a {
        Value::Array(x) => x,
        Value::Scalar(x) => {
            sa = Scalar::new(Arc::clone(x));
            &sa
        }
    };
    let db: &dyn Datum = match b {
        Value::Array(x) => x,
        Value::Scalar(x) => {
            sb = Scalar::new(Arc::clone(x));
            &sb
        }
    };
    Ok(zip(mask, da, db)?)
}

/// `COALESCE(a, b, ...)`.
pub(super) fn build_coalesce(args: Vec<TypedExpr>, at: Location) -> Result<TypedExpr> {
    let t = branch_type(args.iter().map(|a| a.ty), at)?;
    let mut kept = Vec::with_capacity(args.len());
    for a in args {
        let stop = !a.nullable;
        kept.push(a.coerce(t));
        // Arguments after a NOT NULL one are never reached.
        if stop {
            break;
        }
    }
    let nullable = kept.iter().all(|a| a.nullable);
    if kept.len() == 1 {
        if let Some(only) = kept.pop() {
            return Ok(only);
        }
    }
    if kept.is_empty() {
        return Err(sql_error(
            at,
            "Invalid number of arguments to function 'COALESCE'. Was expecting 1 or more arguments",
        ));
    }
    Ok(TypedExpr::build(Node::Coalesce(kept), t, nullable))
}

/// Evaluate COALESCE: each argument only on the rows still NULL when it can fail.
pub(super) fn eval_coalesce(args: &[TypedExpr], batch: &RecordBatch) -> Result<Value> {
    let mut iter = args.iter();
    let Some(first) = iter.next() else {
        return Err(Error::Internal("COALESCE without arguments".into()));
    };
    let mut acc = first.eval(batch)?;
    for next in iter {
        match &acc {
            Value::Scalar(s) if s.is_valid(0) => return Ok(acc),
            Value::Scalar(_) => acc = next.eval(batch)?,
            Value::Array(a) => {
                if a.null_count() == 0 {
                    return Ok(acc);
                }
                let missing = boolean::is_null(a.as_ref())?;
                let v = eval_masked(next, batch, &missing)?;
                acc = Value::Array(zip_values(&missing, &v, &acc)?);
            }
        }
    }
    Ok(acc)
}

/// The rows where `b` is TRUE, as a mask without nulls (NULL counts as false). Arrow's
/// `prep_null_mask_filter` assumes the array has a null buffer; this does not.
pub(super) fn true_mask(b: &BooleanArray) -> BooleanArray {
    match b.nulls() {
        Some(n) if n.null_count() > 0 => BooleanArray::new(b.values() & n.inner(), None),
        _ => BooleanArray::new(b.values().clone(), None),
    }
}
