//! Typed, vectorized scalar expressions with Flink SQL's types, null rules and messages.
//!
//! [`compile`] turns a `sqlparser` expression into a [`TypedExpr`] over a [`Scope`] (the
//! columns of the batches it will see): names are resolved, every node gets its Flink type
//! and nullability, implicit casts are made explicit, regexes and date patterns are compiled,
//! and constant subtrees are folded. [`TypedExpr::evaluate`] then computes a whole batch at a
//! time: one arrow kernel (or one tight loop writing into an arrow buffer) per node, with
//! constants kept as one-row scalars until a kernel needs them as arrays.
//!
//! ```text
//!  sqlparser Expr ──compile(scope)──▶ TypedExpr (types, casts, folded constants)
//!                                         │ evaluate(batch)
//!                                         ▼
//!             node by node: Column ─▶ Array │ Literal ─▶ Scalar │ kernel(Datum, Datum)
//! ```
//!
//! Errors found while compiling are [`Error::Sql`] with the 1-based line and column of the
//! offending text and Flink's (Calcite's) wording; errors of single rows at run time
//! (integer division by zero, a `CAST` of a malformed string) are [`Error::Data`] naming
//! the expression.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Array, ArrayRef, Decimal128Array, Int64Array};
//! use arrow::record_batch::RecordBatch;
//! use millstream_core::sql::expr::{compile, Scope};
//! use millstream_core::sql::{Column, SqlType};
//! use sqlparser::dialect::GenericDialect;
//! use sqlparser::parser::Parser;
//!
//! let scope = Scope::new(vec![Column::new("price", SqlType::BigInt)]);
//! let ast = Parser::new(&GenericDialect {}).try_with_sql("0.908 * price").unwrap().parse_expr().unwrap();
//! let e = compile(&ast, &scope).unwrap();
//! assert_eq!(e.ty().to_string(), "DECIMAL(22, 3)");
//! let batch = RecordBatch::try_from_iter([("price", Arc::new(Int64Array::from(vec![100])) as ArrayRef)]).unwrap();
//! let out = e.evaluate(&batch).unwrap();
//! let out = out.as_any().downcast_ref::<Decimal128Array>().unwrap();
//! assert_eq!(out.value_as_string(0), "90.800");
//! ```

use std::fmt;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::kernels::boolean;
use arrow::datatypes::Schema;

use crate::error::{Error, Result};
use crate::sql::types::{Column, SqlType};

mod arith;
mod cast;
mod coerce;
mod compile;
pub mod cse;
mod datetime;
mod functions;
mod literal;
mod logic;
mod pattern;
mod scope;
mod value;

#[cfg(test)]
mod tests;

pub use cast::cast_array;
pub use coerce::common_type;
pub use compile::{compile, is_aggregate_function};
pub use literal::interval_millis;
pub use scope::Scope;

use coerce::ArithOp;
use functions::Func;
use logic::{CmpOp, InSet};
use value::{as_bool, Value};

/// An [`Error::Sql`] at a position of the statement text.
pub(crate) fn sql_error(at: sqlparser::tokenizer::Location, message: impl Into<String>) -> Error {
    Error::Sql {
        line: at.line,
        column: at.column,
        message: message.into(),
    }
}

/// A typed expression ready to evaluate a whole batch at a time.
///
/// Built by [`compile`] (or [`TypedExpr::column`] / [`TypedExpr::literal_null`]); cheap to
/// clone (regexes and IN sets are shared).
#[derive(Debug, Clone)]
pub struct TypedExpr {
    node: Node,
    ty: SqlType,
    nullable: bool,
}

/// How a cast came about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CastMode {
    /// Inserted by the planner to widen an operand or match a sink column: no length
    /// enforcement.
    Implicit,
    /// `CAST(x AS t)`: a malformed value is an error; `CHAR(n)` / `VARCHAR(n)` lengths are
    /// enforced.
    Explicit,
    /// `TRY_CAST(x AS t)`: a malformed value is NULL.
    Try,
}

#[derive(Debug, Clone)]
enum Node {
    /// Column `index` of the batch; `name` for display.
    Column {
        index: usize,
        name: Arc<str>,
    },
    /// A one-row array of the expression's arrow type.
    Literal(ArrayRef),
    Not(Box<TypedExpr>),
    Neg(Box<TypedExpr>),
    IsNull {
        arg: Box<TypedExpr>,
        negated: bool,
    },
    /// `arg IS [NOT] TRUE|FALSE`.
    IsBool {
        arg: Box<TypedExpr>,
        value: bool,
        negated: bool,
    },
    /// Operands already brought to the types [`arith`] expects for this result type.
    Arith {
        op: ArithOp,
        l: Box<TypedExpr>,
        r: Box<TypedExpr>,
    },
    /// Operands already cast to one common type.
    Cmp {
        op: CmpOp,
        l: Box<TypedExpr>,
        r: Box<TypedExpr>,
    },
    And(Box<TypedExpr>, Box<TypedExpr>),
    Or(Box<TypedExpr>, Box<TypedExpr>),
    InList {
        arg: Box<TypedExpr>,
        set: Arc<InSet>,
        negated: bool,
    },
    /// `pattern` is in arrow's LIKE syntax (backslash escapes); `shown` is the pattern as
    /// written, for display.
    Like {
        arg: Box<TypedExpr>,
        pattern: Box<TypedExpr>,
        negated: bool,
        case_insensitive: bool,
        shown: Option<String>,
    },
    Case {
        whens: Vec<(TypedExpr, TypedExpr)>,
        otherwise: Option<Box<TypedExpr>>,
    },
    Coalesce(Vec<TypedExpr>),
    Cast {
        arg: Box<TypedExpr>,
        mode: CastMode,
    },
    Call {
        func: Func,
        args: Vec<TypedExpr>,
    },
}

impl TypedExpr {
    /// A reference to column `index`, typed and named after `col`.
    pub fn column(index: usize, col: &Column) -> TypedExpr {
        TypedExpr {
            node: Node::Column {
                index,
                name: col.name.as_str().into(),
            },
            ty: col.ty,
            nullable: col.nullable,
        }
    }

    /// The NULL of a type (`CAST(NULL AS ty)`).
    pub fn literal_null(ty: SqlType) -> TypedExpr {
        TypedExpr {
            node: Node::Literal(arrow::array::new_null_array(&ty.arrow(), 1)),
            ty,
            nullable: true,
        }
    }

    /// A constant: a one-row array of `ty.arrow()`.
    fn literal(value: ArrayRef, ty: SqlType) -> TypedExpr {
        let nullable = value.is_null(0);
        TypedExpr {
            node: Node::Literal(value),
            ty,
            nullable,
        }
    }

    /// The expression's SQL type.
    pub fn ty(&self) -> SqlType {
        self.ty
    }

    /// Whether the expression may be NULL.
    pub fn nullable(&self) -> bool {
        self.nullable
    }

    /// Evaluate over a batch: an array of `batch.num_rows()` values whose arrow type is
    /// `self.ty().arrow()`.
    ///
    /// # Errors
    /// A row that cannot be computed ([`Error::Data`]: integer division by zero, a `CAST`
    /// of a malformed string), or a batch that does not match the scope the expression was
    /// compiled over.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        let out = self.eval(batch)?.into_array(batch.num_rows())?;
        debug_assert_eq!(out.data_type(), &self.ty.arrow(), "{self}");
        debug_assert_eq!(out.len(), batch.num_rows(), "{self}");
        Ok(out)
    }

    /// `Some(i)` if this is a bare reference to column `i`.
    pub fn as_column(&self) -> Option<usize> {
        match &self.node {
            Node::Column { index, .. } => Some(*index),
            _ => None,
        }
    }

    /// The constant value (a one-row array), if this is a literal.
    pub fn as_literal(&self) -> Option<&ArrayRef> {
        match &self.node {
            Node::Literal(a) => Some(a),
            _ => None,
        }
    }

    /// Push every referenced column index (with repeats, in tree order) onto `out`.
    pub fn column_refs(&self, out: &mut Vec<usize>) {
        if let Node::Column { index, .. } = &self.node {
            out.push(*index);
        }
        self.for_each_child(&mut |c| c.column_refs(out));
    }

    /// A copy with every column reference `i` renumbered to `f(i)` (projection pushdown).
    pub fn remap_columns(&self, f: &dyn Fn(usize) -> usize) -> TypedExpr {
        let mut out = self.clone();
        out.remap_in_place(f);
        out
    }

    fn remap_in_place(&mut self, f: &dyn Fn(usize) -> usize) {
        if let Node::Column { index, .. } = &mut self.node {
            *index = f(*index);
        }
        self.for_each_child_mut(&mut |c| c.remap_in_place(f));
    }

    /// Whether the value is the same for every row of every batch (no column references,
    /// no non-deterministic function such as `NOW()`).
    pub fn is_constant(&self) -> bool {
        let mut constant = match &self.node {
            Node::Column { .. } => false,
            Node::Call { func, .. } => func.is_deterministic(),
            _ => true,
        };
        self.for_each_child(&mut |c| constant &= c.is_constant());
        constant
    }

    /// Whether the expression may be evaluated once more, earlier, on the same rows with the
    /// same result and no error: deterministic and infallible (a filter pushed into a
    /// source).
    pub(crate) fn is_repeatable(&self) -> bool {
        !self.fallible() && cse::deterministic(self)
    }

    /// Whether the expression costs a few vectorized operations per row: comparisons,
    /// arithmetic, logic, `IN` lists and casts, but no function call, `LIKE` or `CASE`
    /// (a regular expression run twice costs more than a pushed-down filter saves).
    pub(crate) fn is_cheap(&self) -> bool {
        let mut cheap = !matches!(
            self.node,
            Node::Call { .. } | Node::Like { .. } | Node::Case { .. } | Node::Coalesce(_)
        );
        self.for_each_child(&mut |c| cheap &= c.is_cheap());
        cheap
    }

    /// Cast to `ty` with Flink's rules (for `INSERT INTO` column types and set operations):
    /// a no-op when the layouts already agree, no `CHAR`/`VARCHAR` length enforcement.
    ///
    /// # Errors
    /// [`Error::Plan`] when Flink cannot cast this type to `ty` at all.
    pub fn cast_to(self, ty: SqlType) -> Result<TypedExpr> {
        if !cast::castable(self.ty, ty) {
            return Err(Error::Plan(format!(
                "Cast function cannot convert value of type {} to type {}",
                coerce::calcite_name(self.ty),
                coerce::calcite_name(ty)
            )));
        }
        Ok(self.coerce(ty))
    }

    /// An implicit cast to a type the caller has checked is reachable.
    fn coerce(self, ty: SqlType) -> TypedExpr {
        if self.ty == ty {
            return self;
        }
        if self.ty.arrow() == ty.arrow() && !matches!(ty, SqlType::Timestamp(0..=2)) {
            // Same layout (CHAR(3) -> STRING, TIMESTAMP(3) -> TIMESTAMP(6)): only the type
            // changes.
            return TypedExpr { ty, ..self };
        }
        let nullable = self.nullable;
        TypedExpr::build(
            Node::Cast {
                arg: Box::new(self),
                mode: CastMode::Implicit,
            },
            ty,
            nullable,
        )
    }

    /// A node, folded to a literal when all its inputs are literals.
    fn build(node: Node, ty: SqlType, nullable: bool) -> TypedExpr {
        let e = TypedExpr { node, ty, nullable };
        if matches!(e.node, Node::Literal(_) | Node::Column { .. }) || !e.is_constant() {
            return e;
        }
        let batch = match RecordBatch::try_new_with_options(
            Arc::new(Schema::empty()),
            vec![],
            &RecordBatchOptions::new().with_row_count(Some(1)),
        ) {
            Ok(b) => b,
            Err(_) => return e,
        };
        // A constant that fails (1 / 0) is left to fail at run time, as Flink's does.
        match e.eval(&batch).and_then(|v| v.into_array(1)) {
            Ok(a) if a.data_type() == &ty.arrow() => TypedExpr::literal(a, ty),
            _ => e,
        }
    }

    fn for_each_child(&self, f: &mut dyn FnMut(&TypedExpr)) {
        match &self.node {
            Node::Column { .. } | Node::Literal(_) => {}
            Node::Not(a)
            | Node::Neg(a)
            | Node::IsNull { arg: a, .. }
            | Node::IsBool { arg: a, .. }
            | Node::InList { arg: a, .. }
            | Node::Cast { arg: a, .. } => f(a),
            Node::Arith { l, r, .. }
            | Node::Cmp { l, r, .. }
            | Node::And(l, r)
            | Node::Or(l, r) => {
                f(l);
                f(r);
            }
            Node::Like { arg, pattern, .. } => {
                f(arg);
                f(pattern);
            }
            Node::Case { whens, otherwise } => {
                for (c, v) in whens {
                    f(c);
                    f(v);
                }
                if let Some(e) = otherwise {
                    f(e);
                }
            }
            Node::Coalesce(args) | Node::Call { args, .. } => args.iter().for_each(f),
        }
    }

    fn for_each_child_mut(&mut self, f: &mut dyn FnMut(&mut TypedExpr)) {
        match &mut self.node {
            Node::Column { .. } | Node::Literal(_) => {}
            Node::Not(a)
            | Node::Neg(a)
            | Node::IsNull { arg: a, .. }
            | Node::IsBool { arg: a, .. }
            | Node::InList { arg: a, .. }
            | Node::Cast { arg: a, .. } => f(a),
            Node::Arith { l, r, .. }
            | Node::Cmp { l, r, .. }
            | Node::And(l, r)
            | Node::Or(l, r) => {
                f(l);
                f(r);
            }
            Node::Like { arg, pattern, .. } => {
                f(arg);
                f(pattern);
            }
            Node::Case { whens, otherwise } => {
                for (c, v) in whens {
                    f(c);
                    f(v);
                }
                if let Some(e) = otherwise {
                    f(e);
                }
            }
            Node::Coalesce(args) | Node::Call { args, .. } => args.iter_mut().for_each(f),
        }
    }

    /// Whether evaluating this on a row can fail (integer division, a cast from a string):
    /// such branches of CASE and COALESCE are evaluated only on the rows that take them.
    fn fallible(&self) -> bool {
        let mut fallible = match &self.node {
            Node::Arith { op, .. } => {
                matches!(op, ArithOp::Div | ArithOp::Mod)
                    && (self.ty.is_integer() || matches!(self.ty, SqlType::Decimal { .. }))
            }
            Node::Cast { arg, mode } => *mode != CastMode::Try && cast::may_fail(arg.ty, self.ty),
            Node::Call { func, .. } => func.fallible(),
            _ => false,
        };
        self.for_each_child(&mut |c| fallible |= c.fallible());
        fallible
    }

    fn eval(&self, batch: &RecordBatch) -> Result<Value> {
        match &self.node {
            Node::Column { index, name } => {
                let col = batch.columns().get(*index).ok_or_else(|| {
                    Error::Schema(format!(
                        "expression column {index} ('{name}') is missing: the batch has {} columns",
                        batch.num_columns()
                    ))
                })?;
                let want = self.ty.arrow();
                if col.data_type() == &want {
                    Ok(Value::Array(Arc::clone(col)))
                } else {
                    // A source that produced another layout of the same type (Utf8View,
                    // nanosecond timestamps): bring it to the planned layout once.
                    Ok(Value::Array(arrow::compute::cast(col.as_ref(), &want)?))
                }
            }
            Node::Literal(a) => Ok(Value::Scalar(Arc::clone(a))),
            Node::Not(e) => e
                .eval(batch)?
                .map(|a| Ok(Arc::new(boolean::not(as_bool(a.as_ref())?)?) as ArrayRef)),
            Node::Neg(e) => arith::eval_neg(self, e.eval(batch)?),
            Node::IsNull { arg, negated } => {
                let v = arg.eval(batch)?;
                v.map(|a| {
                    Ok(Arc::new(if *negated {
                        boolean::is_not_null(a.as_ref())?
                    } else {
                        boolean::is_null(a.as_ref())?
                    }) as ArrayRef)
                })
            }
            Node::IsBool {
                arg,
                value,
                negated,
            } => logic::eval_is_bool(arg.eval(batch)?, *value, *negated),
            Node::Arith { op, l, r } => {
                arith::eval_arith(self, *op, l, &l.eval(batch)?, r, &r.eval(batch)?)
            }
            Node::Cmp { op, l, r } => logic::eval_cmp(*op, &l.eval(batch)?, &r.eval(batch)?),
            Node::And(l, r) => logic::eval_and_or(true, l, r, batch),
            Node::Or(l, r) => logic::eval_and_or(false, l, r, batch),
            Node::InList { arg, set, negated } => logic::eval_in(&arg.eval(batch)?, set, *negated),
            Node::Like {
                arg,
                pattern,
                negated,
                case_insensitive,
                ..
            } => logic::eval_like(
                &arg.eval(batch)?,
                &pattern.eval(batch)?,
                *negated,
                *case_insensitive,
            ),
            Node::Case { whens, otherwise } => {
                logic::eval_case(whens, otherwise.as_deref(), self.ty, batch)
            }
            Node::Coalesce(args) => logic::eval_coalesce(args, batch),
            Node::Cast { arg, mode } => cast::eval_cast(self, arg, *mode, batch),
            Node::Call { func, args } => functions::eval_call(self, func, args, batch),
        }
    }
}

impl fmt::Display for TypedExpr {
    /// SQL-like text for EXPLAIN, with columns by name: `(0.908 * price)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.node {
            Node::Column { name, .. } => write!(f, "{name}"),
            Node::Literal(a) => literal::fmt_literal(f, a, self.ty),
            Node::Not(e) => write!(f, "NOT {e}"),
            Node::Neg(e) => write!(f, "-{e}"),
            Node::IsNull { arg, negated } => {
                write!(f, "{arg} IS {}NULL", if *negated { "NOT " } else { "" })
            }
            Node::IsBool {
                arg,
                value,
                negated,
            } => write!(
                f,
                "{arg} IS {}{}",
                if *negated { "NOT " } else { "" },
                if *value { "TRUE" } else { "FALSE" }
            ),
            Node::Arith { op, l, r } => write!(f, "({l} {} {r})", op.symbol()),
            Node::Cmp { op, l, r } => write!(f, "({l} {} {r})", op.symbol()),
            Node::And(l, r) => write!(f, "({l} AND {r})"),
            Node::Or(l, r) => write!(f, "({l} OR {r})"),
            Node::InList { arg, set, negated } => write!(
                f,
                "{arg} {}IN ({})",
                if *negated { "NOT " } else { "" },
                set.items.join(", ")
            ),
            Node::Like {
                arg,
                pattern,
                negated,
                case_insensitive,
                shown,
            } => {
                write!(
                    f,
                    "{arg} {}{} ",
                    if *negated { "NOT " } else { "" },
                    if *case_insensitive { "ILIKE" } else { "LIKE" }
                )?;
                match shown {
                    Some(s) => f.write_str(s),
                    None => write!(f, "{pattern}"),
                }
            }
            Node::Case { whens, otherwise } => {
                f.write_str("CASE")?;
                for (c, v) in whens {
                    write!(f, " WHEN {c} THEN {v}")?;
                }
                if let Some(e) = otherwise {
                    write!(f, " ELSE {e}")?;
                }
                f.write_str(" END")
            }
            Node::Coalesce(args) => {
                f.write_str("COALESCE(")?;
                write_list(f, args)?;
                f.write_str(")")
            }
            // Implicit widenings are left out: EXPLAIN shows what was written.
            Node::Cast {
                arg,
                mode: CastMode::Implicit,
            } => write!(f, "{arg}"),
            Node::Cast { arg, mode } => write!(
                f,
                "{}({arg} AS {})",
                if *mode == CastMode::Try {
                    "TRY_CAST"
                } else {
                    "CAST"
                },
                self.ty
            ),
            Node::Call { func, args } => func.fmt_call(f, args),
        }
    }
}

/// `a, b, c`.
fn write_list(f: &mut fmt::Formatter<'_>, args: &[TypedExpr]) -> fmt::Result {
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        write!(f, "{a}")?;
    }
    Ok(())
}
