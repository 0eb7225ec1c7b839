//! Built-in scalar functions: name resolution, argument checks with Calcite's messages, and
//! evaluation.
//!
//! Each family lives in its own file ([`string`], [`time`], [`math`]) with a `resolve`
//! that types a call (or answers `None` for a name it does not know) and an `eval` over the
//! argument values. Constant arguments that steer a function (a regex, a date pattern, a
//! `ROUND` scale) are read once at compile time and kept in the [`Func`] value.

use std::fmt;

use sqlparser::ast::{self, Spanned};
use sqlparser::tokenizer::Location;

use super::coerce::{calcite_name, family_name};
use super::logic::{build_case, build_cmp, build_coalesce, expect_bool, CmpOp};
use super::value::Value;
use super::{
    compile::compile, is_aggregate_function, sql_error, write_list, Node, Scope, TypedExpr,
};
use crate::error::{Error, Result};
use crate::sql::types::SqlType;

mod math;
mod string;
mod time;

pub(super) use string::{build_concat_op, build_trim as string_trim};
pub(super) use time::{build_extract, build_floor_ceil_time};

/// A resolved function, with whatever it compiled from its constant arguments.
#[derive(Debug, Clone)]
pub(super) enum Func {
    Str(string::StrFunc),
    Time(time::TimeFunc),
    Math(math::MathFunc),
}

impl Func {
    /// False for functions of the clock (`NOW()`), which are never folded.
    pub(super) fn is_deterministic(&self) -> bool {
        match self {
            Func::Time(t) => t.is_deterministic(),
            _ => true,
        }
    }

    /// Whether a row can make the function fail (built-ins answer NULL instead).
    pub(super) fn fallible(&self) -> bool {
        false
    }

    /// Write `NAME(args)`.
    pub(super) fn fmt_call(&self, f: &mut fmt::Formatter<'_>, args: &[TypedExpr]) -> fmt::Result {
        match self {
            Func::Time(t) => t.fmt_call(f, args),
            Func::Str(s) => {
                write!(f, "{}(", s.name())?;
                write_list(f, args)?;
                f.write_str(")")
            }
            Func::Math(m) => {
                write!(f, "{}(", m.name())?;
                write_list(f, args)?;
                f.write_str(")")
            }
        }
    }
}

/// Evaluate a call: arguments first, then the function over `n` rows (one when every
/// argument is a constant, and the result is then a constant too).
pub(super) fn eval_call(
    e: &TypedExpr,
    func: &Func,
    args: &[TypedExpr],
    batch: &arrow::array::RecordBatch,
) -> Result<Value> {
    let vals = args
        .iter()
        .map(|a| a.eval(batch))
        .collect::<Result<Vec<_>>>()?;
    let scalar = vals.iter().all(Value::is_scalar);
    let n = if scalar { 1 } else { batch.num_rows() };
    let out = match func {
        Func::Str(f) => f.eval(e, &vals, n)?,
        Func::Time(f) => f.eval(e, &vals, n)?,
        Func::Math(f) => f.eval(e, &vals, n)?,
    };
    Ok(Value::wrap(out, scalar))
}

/// What an argument must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// `CHAR` / `VARCHAR`.
    Str,
    /// An integer type.
    Int,
    /// Any number.
    Num,
    /// `DATE`, `TIMESTAMP` or `TIMESTAMP_LTZ`.
    Temporal,
    /// A timestamp or a string holding one.
    TemporalOrStr,
}

fn fits(k: Kind, t: SqlType) -> bool {
    let temporal = matches!(
        t,
        SqlType::Date | SqlType::Timestamp(_) | SqlType::TimestampLtz(_)
    );
    t == SqlType::Null
        || match k {
            Kind::Str => t.is_string(),
            Kind::Int => t.is_integer(),
            Kind::Num => t.is_numeric(),
            Kind::Temporal => temporal,
            Kind::TemporalOrStr => temporal || t.is_string(),
        }
}

/// A function call being compiled.
pub(super) struct Call {
    /// The name as written.
    pub(super) name: String,
    /// The name in upper case.
    pub(super) upper: String,
    /// The compiled arguments.
    pub(super) args: Vec<TypedExpr>,
    /// Where each argument starts.
    pub(super) arg_at: Vec<Location>,
    /// Where the call starts.
    pub(super) at: Location,
}

impl Call {
    /// Check the argument count.
    pub(super) fn arity(&self, min: usize, max: usize) -> Result<()> {
        let n = self.args.len();
        if (min..=max).contains(&n) {
            return Ok(());
        }
        let expect = if min == max {
            format!("{min}")
        } else if max == usize::MAX {
            format!("at least {min}")
        } else {
            format!("{min} to {max}")
        };
        Err(sql_error(
            self.at,
            format!(
                "Invalid number of arguments to function '{}'. Was expecting {expect} arguments",
                self.upper
            ),
        ))
    }

    /// Check each argument's kind (the last kind repeats for extra arguments); `forms`
    /// lists the supported signatures for the message.
    pub(super) fn check(&self, kinds: &[Kind], forms: &str) -> Result<()> {
        let ok = self.args.iter().enumerate().all(|(i, a)| {
            kinds
                .get(i)
                .or(kinds.last())
                .is_some_and(|k| fits(*k, a.ty))
        });
        if ok {
            Ok(())
        } else {
            Err(self.bad_types(forms))
        }
    }

    /// Calcite's "Cannot apply" error.
    pub(super) fn bad_types(&self, forms: &str) -> Error {
        let types: Vec<String> = self
            .args
            .iter()
            .map(|a| format!("<{}>", calcite_name(a.ty)))
            .collect();
        sql_error(
            self.at,
            format!(
                "Cannot apply '{u}' to arguments of type '{u}({})'. Supported form(s): {forms}",
                types.join(", "),
                u = self.upper
            ),
        )
    }

    /// Whether any argument may be NULL.
    pub(super) fn any_nullable(&self) -> bool {
        self.args.iter().any(|a| a.nullable)
    }

    /// The string constant of argument `i`: `Some(None)` for NULL, `None` if not constant.
    pub(super) fn const_str(&self, i: usize) -> Option<Option<String>> {
        use arrow::array::{Array, AsArray};
        let a = self.args.get(i)?.as_literal()?;
        if a.is_null(0) {
            return Some(None);
        }
        a.as_string_opt::<i32>()
            .map(|s| Some(s.value(0).to_string()))
    }

    /// The integer constant of argument `i` (after coercion to BIGINT).
    pub(super) fn const_int(&self, i: usize) -> Option<Option<i64>> {
        use arrow::array::{Array, AsArray};
        let e = self.args.get(i)?.clone().coerce(SqlType::BigInt);
        let a = e.as_literal()?;
        if a.is_null(0) {
            return Some(None);
        }
        Some(Some(
            a.as_primitive::<arrow::datatypes::Int64Type>().value(0),
        ))
    }

    /// The position of argument `i` (the call's when unknown).
    pub(super) fn arg_at(&self, i: usize) -> Location {
        self.arg_at.get(i).copied().unwrap_or(self.at)
    }

    /// The call node, arguments coerced to `types` (the last type repeats).
    pub(super) fn build(
        self,
        func: Func,
        types: &[SqlType],
        ty: SqlType,
        nullable: bool,
    ) -> TypedExpr {
        let args = self
            .args
            .into_iter()
            .enumerate()
            .map(|(i, a)| match types.get(i).or(types.last()) {
                Some(t) => a.coerce(*t),
                None => a,
            })
            .collect();
        TypedExpr::build(Node::Call { func, args }, ty, nullable)
    }
}

const WINDOW_FUNCTIONS: [&str; 8] = [
    "ROW_NUMBER",
    "RANK",
    "DENSE_RANK",
    "PERCENT_RANK",
    "CUME_DIST",
    "NTILE",
    "LEAD",
    "LAG",
];

/// Compile a function call (`name(args)`).
pub(super) fn compile_function(f: &ast::Function, scope: &Scope) -> Result<TypedExpr> {
    let ident = f
        .name
        .0
        .last()
        .and_then(ast::ObjectNamePart::as_ident)
        .ok_or_else(|| {
            sql_error(
                f.span().start,
                format!("Unsupported function name {}", f.name),
            )
        })?;
    let at = ident.span.start;
    let name = ident.value.clone();
    let upper = name.to_uppercase();
    if is_aggregate_function(&upper) {
        return Err(sql_error(
            at,
            format!("Aggregate function '{upper}' is not allowed here"),
        ));
    }
    if WINDOW_FUNCTIONS.contains(&upper.as_str()) || f.over.is_some() {
        return Err(sql_error(
            at,
            format!("Window function '{upper}' is not allowed here"),
        ));
    }
    if f.filter.is_some() {
        return Err(sql_error(
            at,
            format!("FILTER is only allowed on aggregate functions, not '{upper}'"),
        ));
    }
    let raw: Vec<&ast::Expr> = match &f.args {
        ast::FunctionArguments::None => vec![],
        ast::FunctionArguments::Subquery(q) => {
            return Err(sql_error(
                q.span().start,
                "Subqueries are not supported here",
            ))
        }
        ast::FunctionArguments::List(list) => {
            if list.duplicate_treatment.is_some() {
                return Err(sql_error(
                    at,
                    format!("DISTINCT is only allowed in aggregate functions, not '{upper}'"),
                ));
            }
            list.args
                .iter()
                .map(|a| match a {
                    ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Expr(e)) => Ok(e),
                    other => Err(sql_error(
                        at,
                        format!("Unsupported argument {other} of function '{upper}'"),
                    )),
                })
                .collect::<Result<_>>()?
        }
    };
    // TIMESTAMPADD(unit, n, ts) and TIMESTAMPDIFF(unit, a, b) name a unit, not a column.
    if matches!(upper.as_str(), "TIMESTAMPADD" | "TIMESTAMPDIFF") && !raw.is_empty() {
        let unit = match raw[0] {
            ast::Expr::Identifier(id) => time::unit(&id.value, id.span.start)?,
            other => {
                return Err(sql_error(
                    other.span().start,
                    format!("Expected a time unit such as HOUR, got {other}"),
                ))
            }
        };
        let call = compile_args(name, upper, &raw[1..], at, scope)?;
        return time::build_timestamp_add_diff(call, unit);
    }
    let call = compile_args(name, upper, &raw, at, scope)?;
    call_function(call)
}

fn compile_args(
    name: String,
    upper: String,
    raw: &[&ast::Expr],
    at: Location,
    scope: &Scope,
) -> Result<Call> {
    Ok(Call {
        name,
        upper,
        args: raw
            .iter()
            .map(|e| compile(e, scope))
            .collect::<Result<_>>()?,
        arg_at: raw.iter().map(|e| e.span().start).collect(),
        at,
    })
}

/// Type a call of a built-in by its upper-case name.
pub(super) fn call_function(call: Call) -> Result<TypedExpr> {
    if let Some(e) = logic_function(&call)? {
        return Ok(e);
    }
    let call = match string::resolve(call)? {
        Ok(e) => return Ok(e),
        Err(call) => call,
    };
    let call = match time::resolve(call)? {
        Ok(e) => return Ok(e),
        Err(call) => call,
    };
    let call = match math::resolve(call)? {
        Ok(e) => return Ok(e),
        Err(call) => call,
    };
    let sig: Vec<String> = call
        .args
        .iter()
        .map(|a| format!("<{}>", family_name(a.ty)))
        .collect();
    Err(sql_error(
        call.at,
        format!(
            "No match found for function signature {}({})",
            call.name,
            sig.join(", ")
        ),
    ))
}

/// IF, NULLIF, IFNULL, COALESCE, MOD: sugar over CASE, COALESCE and `%`.
fn logic_function(call: &Call) -> Result<Option<TypedExpr>> {
    let args = &call.args;
    Ok(Some(match call.upper.as_str() {
        "COALESCE" => {
            call.arity(1, usize::MAX)?;
            build_coalesce(args.clone(), call.at)?
        }
        "IFNULL" => {
            call.arity(2, 2)?;
            build_coalesce(args.clone(), call.at)?
        }
        "IF" => {
            call.arity(3, 3)?;
            let cond = expect_bool(args[0].clone(), "IF", call.arg_at(0))?;
            build_case(
                vec![(cond, args[1].clone())],
                Some(args[2].clone()),
                call.at,
            )?
        }
        "NULLIF" => {
            call.arity(2, 2)?;
            let eq = build_cmp(CmpOp::Eq, args[0].clone(), args[1].clone(), call.at)?;
            let null = TypedExpr::literal_null(args[0].ty);
            build_case(vec![(eq, null)], Some(args[0].clone()), call.at)?
        }
        "MOD" => {
            call.arity(2, 2)?;
            let (a, b) = (args[0].clone(), args[1].clone());
            // Exact numerics only: Flink rejects MOD(<DOUBLE>, <INTEGER>).
            let exact = |t: SqlType| {
                t == SqlType::Null
                    || (t.is_numeric() && !matches!(t, SqlType::Float | SqlType::Double))
            };
            if !exact(a.ty) || !exact(b.ty) {
                return Err(call.bad_types("'MOD(<EXACT_NUMERIC>, <EXACT_NUMERIC>)'"));
            }
            super::arith::build(super::coerce::ArithOp::Mod, a, b, call.at)?
        }
        _ => return Ok(None),
    }))
}
