//! From `sqlparser` expressions to [`TypedExpr`]: one case per syntactic form.

use std::slice;

use sqlparser::ast::{self, BinaryOperator as B, Expr, Spanned};
use sqlparser::tokenizer::Location;

use super::coerce::ArithOp;
use super::functions::{self, build_concat_op, build_extract, build_floor_ceil_time, Call};
use super::logic::{self, build_and_or, build_cmp, expect_bool, CmpOp};
use super::{arith, cast, coerce, literal, sql_error, CastMode, Node, Scope, TypedExpr};
use crate::error::Result;
use crate::sql::types::SqlType;

const AGGREGATES: [&str; 22] = [
    "COUNT",
    "SUM",
    "SUM0",
    "$SUM0",
    "MIN",
    "MAX",
    "AVG",
    "FIRST_VALUE",
    "LAST_VALUE",
    "LISTAGG",
    "STDDEV",
    "STDDEV_POP",
    "STDDEV_SAMP",
    "VARIANCE",
    "VAR_POP",
    "VAR_SAMP",
    "COLLECT",
    "ARRAY_AGG",
    "JSON_OBJECTAGG",
    "JSON_ARRAYAGG",
    "BOOL_AND",
    "BOOL_OR",
];

/// Whether `name` (any case) is an aggregate function (COUNT, SUM, MIN, MAX, AVG,
/// FIRST_VALUE, LAST_VALUE, LISTAGG, STDDEV, ...), so the planner can route it; [`compile`]
/// rejects aggregate calls.
///
/// # Example
/// ```
/// use millstream_core::sql::expr::is_aggregate_function;
/// assert!(is_aggregate_function("count"));
/// assert!(!is_aggregate_function("UPPER"));
/// ```
pub fn is_aggregate_function(name: &str) -> bool {
    AGGREGATES.iter().any(|a| a.eq_ignore_ascii_case(name))
}

fn at(e: &Expr) -> Location {
    e.span().start
}

/// Compile an expression over `scope`: resolve names, type every node with Flink's rules,
/// make implicit casts explicit, compile constant regexes and date patterns, and fold
/// constant subtrees.
///
/// # Errors
/// [`crate::error::Error::Sql`] at the offending text, with Flink's wording: unknown columns
/// (`Column 'x' not found in any table`), unknown functions (`No match found for function
/// signature foo(<NUMERIC>)`), wrong argument types (`Cannot apply 'UPPER' to arguments of
/// type 'UPPER(<INTEGER>)'. ...`), aggregate calls (`Aggregate function 'SUM' is not
/// allowed here`), subqueries and unsupported syntax.
///
/// # Example
/// ```
/// use millstream_core::sql::expr::{compile, Scope};
/// use millstream_core::sql::{Column, SqlType};
/// use sqlparser::dialect::GenericDialect;
/// use sqlparser::parser::Parser;
/// let scope = Scope::new(vec![Column::new("channel", SqlType::STRING)]);
/// let ast = Parser::new(&GenericDialect {}).try_with_sql("lower(channel) in ('apple', 'google')").unwrap().parse_expr().unwrap();
/// let e = compile(&ast, &scope).unwrap();
/// assert_eq!(e.ty(), SqlType::Boolean);
/// assert_eq!(e.to_string(), "LOWER(channel) IN ('apple', 'google')");
/// ```
pub fn compile(expr: &Expr, scope: &Scope) -> Result<TypedExpr> {
    let c = |e: &Expr| compile(e, scope);
    match expr {
        Expr::Identifier(id) => {
            let i = scope.resolve(slice::from_ref(id))?;
            Ok(TypedExpr::column(i, &scope.columns[i]))
        }
        Expr::CompoundIdentifier(ids) => {
            let i = scope.resolve(ids)?;
            Ok(TypedExpr::column(i, &scope.columns[i]))
        }
        Expr::Value(v) => literal::compile_value(v),
        Expr::TypedString(t) => literal::typed_string(t),
        Expr::Interval(iv) => {
            let ms = literal::interval(iv)?;
            Ok(TypedExpr::literal(
                std::sync::Arc::new(arrow::array::DurationMillisecondArray::from(vec![ms])),
                SqlType::Interval,
            ))
        }
        Expr::Nested(e) => c(e),
        Expr::UnaryOp { op, expr: inner } => {
            let arg = c(inner)?;
            match op {
                ast::UnaryOperator::Not => {
                    let arg = expect_bool(arg, "NOT", at(inner))?;
                    let nullable = arg.nullable;
                    Ok(TypedExpr::build(
                        Node::Not(Box::new(arg)),
                        SqlType::Boolean,
                        nullable,
                    ))
                }
                ast::UnaryOperator::Minus => arith::build_neg(arg, at(expr)),
                ast::UnaryOperator::Plus if arg.ty.is_numeric() || arg.ty == SqlType::Interval => {
                    Ok(arg)
                }
                other => Err(sql_error(at(expr), format!("Unsupported operator {other}"))),
            }
        }
        Expr::BinaryOp { left, op, right } => {
            binary(op, c(left)?, c(right)?, at(expr), left, right)
        }
        Expr::IsNull(e) | Expr::IsNotNull(e) => {
            let arg = c(e)?;
            Ok(TypedExpr::build(
                Node::IsNull {
                    arg: Box::new(arg),
                    negated: matches!(expr, Expr::IsNotNull(_)),
                },
                SqlType::Boolean,
                false,
            ))
        }
        Expr::IsUnknown(e) | Expr::IsNotUnknown(e) => {
            let arg = expect_bool(c(e)?, "IS UNKNOWN", at(e))?;
            Ok(TypedExpr::build(
                Node::IsNull {
                    arg: Box::new(arg),
                    negated: matches!(expr, Expr::IsNotUnknown(_)),
                },
                SqlType::Boolean,
                false,
            ))
        }
        Expr::IsTrue(e) | Expr::IsNotTrue(e) | Expr::IsFalse(e) | Expr::IsNotFalse(e) => {
            let arg = expect_bool(c(e)?, "IS TRUE", at(e))?;
            Ok(TypedExpr::build(
                Node::IsBool {
                    arg: Box::new(arg),
                    value: matches!(expr, Expr::IsTrue(_) | Expr::IsNotTrue(_)),
                    negated: matches!(expr, Expr::IsNotTrue(_) | Expr::IsNotFalse(_)),
                },
                SqlType::Boolean,
                false,
            ))
        }
        Expr::IsDistinctFrom(l, r) => build_cmp(CmpOp::Distinct, c(l)?, c(r)?, at(expr)),
        Expr::IsNotDistinctFrom(l, r) => build_cmp(CmpOp::NotDistinct, c(l)?, c(r)?, at(expr)),
        Expr::InList {
            expr: arg,
            list,
            negated,
        } => {
            let list = list.iter().map(c).collect::<Result<Vec<_>>>()?;
            logic::build_in(c(arg)?, list, *negated, at(expr))
        }
        Expr::Between {
            expr: arg,
            negated,
            low,
            high,
        } => {
            let (x, lo, hi) = (c(arg)?, c(low)?, c(high)?);
            let here = at(expr);
            Ok(if *negated {
                let below = build_cmp(CmpOp::Lt, x.clone(), lo, here)?;
                let above = build_cmp(CmpOp::Gt, x, hi, here)?;
                build_and_or(false, below, above)
            } else {
                let from = build_cmp(CmpOp::GtEq, x.clone(), lo, here)?;
                let to = build_cmp(CmpOp::LtEq, x, hi, here)?;
                build_and_or(true, from, to)
            })
        }
        Expr::Like {
            negated,
            any: false,
            expr: arg,
            pattern,
            escape_char,
        }
        | Expr::ILike {
            negated,
            any: false,
            expr: arg,
            pattern,
            escape_char,
        } => {
            let escape = match escape_char {
                None => None,
                Some(ast::Value::SingleQuotedString(s)) if s.chars().count() == 1 => {
                    s.chars().next()
                }
                Some(other) => {
                    return Err(sql_error(
                        at(pattern),
                        format!("Invalid escape character {other}: it must be one character"),
                    ))
                }
            };
            let ci = matches!(expr, Expr::ILike { .. });
            logic::build_like(c(arg)?, c(pattern)?, escape, *negated, ci, at(expr))
        }
        Expr::RLike {
            negated,
            expr: arg,
            pattern,
            ..
        } => {
            let call = Call {
                name: "REGEXP".into(),
                upper: "REGEXP".into(),
                args: vec![c(arg)?, c(pattern)?],
                arg_at: vec![at(arg), at(pattern)],
                at: at(expr),
            };
            let m = functions::call_function(call)?;
            Ok(if *negated {
                let nullable = m.nullable;
                TypedExpr::build(Node::Not(Box::new(m)), SqlType::Boolean, nullable)
            } else {
                m
            })
        }
        Expr::Cast {
            kind,
            expr: arg,
            data_type,
            format: None,
        } => {
            let to = SqlType::from_ast(data_type).map_err(|e| sql_error(at(expr), strip(e)))?;
            let mode = match kind {
                ast::CastKind::TryCast | ast::CastKind::SafeCast => CastMode::Try,
                _ => CastMode::Explicit,
            };
            build_cast(c(arg)?, to, mode, at(expr))
        }
        Expr::Extract {
            field, expr: arg, ..
        } => build_extract(field, c(arg)?, at(expr)),
        Expr::Ceil { expr: arg, field } | Expr::Floor { expr: arg, field } => {
            let ceil = matches!(expr, Expr::Ceil { .. });
            match field {
                ast::CeilFloorKind::DateTimeField(ast::DateTimeField::NoDateTime) => {
                    let name = if ceil { "CEIL" } else { "FLOOR" };
                    call(name, vec![c(arg)?], vec![at(arg)], at(expr))
                }
                ast::CeilFloorKind::DateTimeField(f) => {
                    build_floor_ceil_time(c(arg)?, f, ceil, at(expr))
                }
                ast::CeilFloorKind::Scale(_) => Err(sql_error(
                    at(expr),
                    "CEIL/FLOOR with a scale is not supported; use ROUND or TRUNCATE",
                )),
            }
        }
        Expr::Position { expr: needle, r#in } => call(
            "POSITION",
            vec![c(needle)?, c(r#in)?],
            vec![at(needle), at(r#in)],
            at(expr),
        ),
        Expr::Substring {
            expr: s,
            substring_from,
            substring_for,
            ..
        } => {
            let mut args = vec![c(s)?];
            let mut arg_at = vec![at(s)];
            match substring_from {
                Some(f) => {
                    args.push(c(f)?);
                    arg_at.push(at(f));
                }
                None => {
                    args.push(literal::bigint(1));
                    arg_at.push(at(s));
                }
            }
            if let Some(n) = substring_for {
                args.push(c(n)?);
                arg_at.push(at(n));
            }
            call("SUBSTRING", args, arg_at, at(expr))
        }
        Expr::Trim {
            expr: s,
            trim_where,
            trim_what,
            trim_characters,
        } => {
            if trim_characters.is_some() {
                return Err(sql_error(
                    at(expr),
                    "TRIM with a character list is not supported",
                ));
            }
            let (leading, trailing) = match trim_where {
                Some(ast::TrimWhereField::Leading) => (true, false),
                Some(ast::TrimWhereField::Trailing) => (false, true),
                _ => (true, true),
            };
            let what = trim_what.as_deref().map(c).transpose()?;
            functions::string_trim(c(s)?, what, leading, trailing, at(expr))
        }
        Expr::Case {
            operand,
            conditions,
            else_result,
            ..
        } => {
            let operand = operand.as_deref().map(c).transpose()?;
            let mut whens = Vec::with_capacity(conditions.len());
            for w in conditions {
                let cond = c(&w.condition)?;
                let cond = match &operand {
                    Some(x) => build_cmp(CmpOp::Eq, x.clone(), cond, at(&w.condition))?,
                    None => expect_bool(cond, "CASE WHEN", at(&w.condition))?,
                };
                whens.push((cond, c(&w.result)?));
            }
            let otherwise = else_result.as_deref().map(c).transpose()?;
            logic::build_case(whens, otherwise, at(expr))
        }
        Expr::Function(f) => functions::compile_function(f, scope),
        Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. } => Err(sql_error(
            at(expr),
            "subqueries are supported only in WHERE, as conditions joined by AND: [NOT] IN, \
             [NOT] EXISTS, or a comparison with a one-row aggregate subquery",
        )),
        other => Err(sql_error(
            at(other),
            format!("Unsupported expression: {other}"),
        )),
    }
}

/// `CAST(x AS t)` / `TRY_CAST`.
fn build_cast(arg: TypedExpr, to: SqlType, mode: CastMode, here: Location) -> Result<TypedExpr> {
    if !cast::castable(arg.ty, to) {
        return Err(sql_error(
            here,
            format!(
                "Cast function cannot convert value of type {} to type {}",
                coerce::calcite_name(arg.ty),
                coerce::calcite_name(to)
            ),
        ));
    }
    if arg.ty == to {
        return Ok(arg);
    }
    let nullable = arg.nullable || mode == CastMode::Try || arg.ty == SqlType::Null;
    Ok(TypedExpr::build(
        Node::Cast {
            arg: Box::new(arg),
            mode,
        },
        to,
        nullable,
    ))
}

/// The message of an error without its variant's prefix.
fn strip(e: crate::error::Error) -> String {
    match e {
        crate::error::Error::Plan(m) | crate::error::Error::Unsupported(m) => m,
        other => other.to_string(),
    }
}

fn call(
    name: &str,
    args: Vec<TypedExpr>,
    arg_at: Vec<Location>,
    here: Location,
) -> Result<TypedExpr> {
    functions::call_function(Call {
        name: name.into(),
        upper: name.into(),
        args,
        arg_at,
        at: here,
    })
}

fn binary(
    op: &B,
    l: TypedExpr,
    r: TypedExpr,
    here: Location,
    le: &Expr,
    re: &Expr,
) -> Result<TypedExpr> {
    let arith = |o| arith::build(o, l.clone(), r.clone(), here);
    let cmp = |o| build_cmp(o, l.clone(), r.clone(), here);
    match op {
        B::Plus => arith(ArithOp::Add),
        B::Minus => arith(ArithOp::Sub),
        B::Multiply => arith(ArithOp::Mul),
        B::Divide => arith(ArithOp::Div),
        B::Modulo => arith(ArithOp::Mod),
        B::StringConcat => build_concat_op(l, r, here),
        B::Eq => cmp(CmpOp::Eq),
        B::NotEq => cmp(CmpOp::NotEq),
        B::Lt => cmp(CmpOp::Lt),
        B::LtEq => cmp(CmpOp::LtEq),
        B::Gt => cmp(CmpOp::Gt),
        B::GtEq => cmp(CmpOp::GtEq),
        B::Spaceship => cmp(CmpOp::NotDistinct),
        B::And | B::Or => {
            let name = if *op == B::And { "AND" } else { "OR" };
            let l = expect_bool(l, name, at(le))?;
            let r = expect_bool(r, name, at(re))?;
            Ok(build_and_or(*op == B::And, l, r))
        }
        other => Err(sql_error(here, format!("Unsupported operator {other}"))),
    }
}
