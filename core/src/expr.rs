//! Column expressions, evaluated a whole array at a time with arrow's compute kernels.
//!
//! `col("price").gt(lit(100))` builds an [`Expr`]; [`Expr::evaluate`] turns it into one
//! arrow array for a batch (literals stay scalars until a kernel broadcasts them). There is
//! no per-row interpreter: each node of the expression is one kernel call over the batch.
//!
//! # Example
//! ```
//! use std::sync::Arc;
//! use arrow::array::{Int64Array, BooleanArray, Array};
//! use arrow::record_batch::RecordBatch;
//! use millstream_core::expr::{col, lit};
//! let batch = RecordBatch::try_from_iter([("price", Arc::new(Int64Array::from(vec![50, 150])) as _)]).unwrap();
//! let mask = col("price").gt(lit(100i64)).evaluate(&batch).unwrap();
//! let mask = mask.as_any().downcast_ref::<BooleanArray>().unwrap();
//! assert_eq!(mask, &BooleanArray::from(vec![false, true]));
//! ```

use std::fmt;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, BooleanArray, Datum, Float64Array, Int64Array, Scalar, StringArray,
};
use arrow::compute::kernels::{boolean, cmp, numeric};
use arrow::compute::{cast, is_not_null, is_null};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;

use crate::error::{Error, Result};

/// A literal value.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// 64-bit integer.
    Int64(i64),
    /// 64-bit float.
    Float64(f64),
    /// Boolean.
    Boolean(bool),
    /// String.
    Utf8(String),
    /// SQL NULL of a type.
    Null(DataType),
}

impl Literal {
    fn to_array(&self) -> ArrayRef {
        match self {
            Literal::Int64(v) => Arc::new(Int64Array::from(vec![*v])),
            Literal::Float64(v) => Arc::new(Float64Array::from(vec![*v])),
            Literal::Boolean(v) => Arc::new(BooleanArray::from(vec![*v])),
            Literal::Utf8(v) => Arc::new(StringArray::from(vec![v.as_str()])),
            Literal::Null(t) => arrow::array::new_null_array(t, 1),
        }
    }
}

impl From<i64> for Literal {
    fn from(v: i64) -> Self {
        Literal::Int64(v)
    }
}
impl From<i32> for Literal {
    fn from(v: i32) -> Self {
        Literal::Int64(v as i64)
    }
}
impl From<f64> for Literal {
    fn from(v: f64) -> Self {
        Literal::Float64(v)
    }
}
impl From<bool> for Literal {
    fn from(v: bool) -> Self {
        Literal::Boolean(v)
    }
}
impl From<&str> for Literal {
    fn from(v: &str) -> Self {
        Literal::Utf8(v.to_string())
    }
}
impl From<String> for Literal {
    fn from(v: String) -> Self {
        Literal::Utf8(v)
    }
}

/// Binary operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Rem,
    /// `=`
    Eq,
    /// `<>`
    NotEq,
    /// `<`
    Lt,
    /// `<=`
    LtEq,
    /// `>`
    Gt,
    /// `>=`
    GtEq,
    /// `AND` (SQL three-valued logic)
    And,
    /// `OR` (SQL three-valued logic)
    Or,
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Rem => "%",
            BinaryOp::Eq => "=",
            BinaryOp::NotEq => "<>",
            BinaryOp::Lt => "<",
            BinaryOp::LtEq => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::GtEq => ">=",
            BinaryOp::And => "AND",
            BinaryOp::Or => "OR",
        };
        f.write_str(s)
    }
}

/// A column expression.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    /// A column by name.
    Column(String),
    /// A constant.
    Literal(Literal),
    /// `left op right`.
    Binary(Box<Expr>, BinaryOp, Box<Expr>),
    /// `NOT e`.
    Not(Box<Expr>),
    /// `e IS NULL`.
    IsNull(Box<Expr>),
    /// `e IS NOT NULL`.
    IsNotNull(Box<Expr>),
    /// `CAST(e AS type)`.
    Cast(Box<Expr>, DataType),
    /// `e AS name` (names the output column of a projection).
    Alias(Box<Expr>, String),
}

/// A column reference.
pub fn col(name: impl Into<String>) -> Expr {
    Expr::Column(name.into())
}

/// A literal.
pub fn lit(v: impl Into<Literal>) -> Expr {
    Expr::Literal(v.into())
}

macro_rules! binary_builders {
    ($($name:ident => $op:ident),* $(,)?) => {
        $(
            #[doc = concat!("`self ", stringify!($op), " other`.")]
            #[allow(clippy::should_implement_trait)]
            pub fn $name(self, other: Expr) -> Expr {
                Expr::Binary(Box::new(self), BinaryOp::$op, Box::new(other))
            }
        )*
    };
}

impl Expr {
    binary_builders!(add => Add, sub => Sub, mul => Mul, div => Div, rem => Rem,
        eq => Eq, not_eq => NotEq, lt => Lt, lt_eq => LtEq, gt => Gt, gt_eq => GtEq,
        and => And, or => Or);

    /// `NOT self`.
    #[allow(clippy::should_implement_trait)]
    pub fn not(self) -> Expr {
        Expr::Not(Box::new(self))
    }

    /// `self IS NULL`.
    pub fn is_null(self) -> Expr {
        Expr::IsNull(Box::new(self))
    }

    /// `self IS NOT NULL`.
    pub fn is_not_null(self) -> Expr {
        Expr::IsNotNull(Box::new(self))
    }

    /// `CAST(self AS t)`.
    pub fn cast(self, t: DataType) -> Expr {
        Expr::Cast(Box::new(self), t)
    }

    /// Name the result column.
    pub fn alias(self, name: impl Into<String>) -> Expr {
        Expr::Alias(Box::new(self), name.into())
    }

    /// The output column name of this expression in a projection.
    pub fn name(&self) -> String {
        match self {
            Expr::Column(c) => c.clone(),
            Expr::Alias(_, n) => n.clone(),
            other => other.to_string(),
        }
    }

    /// Evaluate over a batch to one array of `batch.num_rows()` values.
    ///
    /// # Errors
    /// Unknown column, or a type the kernels do not support for this operator.
    pub fn evaluate(&self, batch: &RecordBatch) -> Result<ArrayRef> {
        let v = self.eval(batch)?;
        v.into_array(batch.num_rows())
    }

    fn eval(&self, batch: &RecordBatch) -> Result<Value> {
        Ok(match self {
            Expr::Column(name) => {
                let idx = batch.schema().index_of(name).map_err(|_| {
                    Error::Plan(format!(
                        "unknown column '{name}'; the stream has [{}]",
                        crate::batch::column_names(&batch.schema())
                    ))
                })?;
                Value::Array(batch.column(idx).clone())
            }
            Expr::Literal(l) => Value::Scalar(Scalar::new(l.to_array())),
            Expr::Alias(e, _) => e.eval(batch)?,
            Expr::Cast(e, t) => e.eval(batch)?.cast_to(t)?,
            Expr::Not(e) => {
                let a = e.evaluate(batch)?;
                Value::Array(Arc::new(boolean::not(as_bool(&a, self)?)?))
            }
            Expr::IsNull(e) => Value::Array(Arc::new(is_null(e.evaluate(batch)?.as_ref())?)),
            Expr::IsNotNull(e) => Value::Array(Arc::new(is_not_null(e.evaluate(batch)?.as_ref())?)),
            Expr::Binary(l, op, r) => {
                let (l, r) = coerce(l.eval(batch)?, r.eval(batch)?)?;
                let (ld, rd) = (l.datum(), r.datum());
                let arr: ArrayRef = match op {
                    BinaryOp::Add => numeric::add_wrapping(ld, rd)?,
                    BinaryOp::Sub => numeric::sub_wrapping(ld, rd)?,
                    BinaryOp::Mul => numeric::mul_wrapping(ld, rd)?,
                    BinaryOp::Div => numeric::div(ld, rd)?,
                    BinaryOp::Rem => numeric::rem(ld, rd)?,
                    BinaryOp::Eq => Arc::new(cmp::eq(ld, rd)?),
                    BinaryOp::NotEq => Arc::new(cmp::neq(ld, rd)?),
                    BinaryOp::Lt => Arc::new(cmp::lt(ld, rd)?),
                    BinaryOp::LtEq => Arc::new(cmp::lt_eq(ld, rd)?),
                    BinaryOp::Gt => Arc::new(cmp::gt(ld, rd)?),
                    BinaryOp::GtEq => Arc::new(cmp::gt_eq(ld, rd)?),
                    BinaryOp::And | BinaryOp::Or => {
                        let n = batch.num_rows();
                        let la = l.into_array(n)?;
                        let ra = r.into_array(n)?;
                        let (la, ra) = (as_bool(&la, self)?, as_bool(&ra, self)?);
                        Arc::new(if *op == BinaryOp::And {
                            boolean::and_kleene(la, ra)?
                        } else {
                            boolean::or_kleene(la, ra)?
                        })
                    }
                };
                Value::Array(arr)
            }
        })
    }

    /// The type of this expression over `schema`.
    ///
    /// # Errors
    /// Unknown column.
    pub fn data_type(&self, schema: &Schema) -> Result<DataType> {
        let empty = RecordBatch::new_empty(Arc::new(schema.clone()));
        Ok(self.evaluate(&empty)?.data_type().clone())
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Expr::Column(c) => write!(f, "{c}"),
            Expr::Literal(Literal::Utf8(s)) => write!(f, "'{s}'"),
            Expr::Literal(Literal::Int64(v)) => write!(f, "{v}"),
            Expr::Literal(Literal::Float64(v)) => write!(f, "{v}"),
            Expr::Literal(Literal::Boolean(v)) => write!(f, "{v}"),
            Expr::Literal(Literal::Null(_)) => write!(f, "NULL"),
            Expr::Binary(l, op, r) => write!(f, "({l} {op} {r})"),
            Expr::Not(e) => write!(f, "NOT {e}"),
            Expr::IsNull(e) => write!(f, "{e} IS NULL"),
            Expr::IsNotNull(e) => write!(f, "{e} IS NOT NULL"),
            Expr::Cast(e, t) => write!(f, "CAST({e} AS {t})"),
            Expr::Alias(e, n) => write!(f, "{e} AS {n}"),
        }
    }
}

enum Value {
    Array(ArrayRef),
    Scalar(Scalar<ArrayRef>),
}

impl Value {
    fn data_type(&self) -> &DataType {
        match self {
            Value::Array(a) => a.data_type(),
            Value::Scalar(s) => s.get().0.data_type(),
        }
    }
    fn datum(&self) -> &dyn Datum {
        match self {
            Value::Array(a) => a,
            Value::Scalar(s) => s,
        }
    }
    fn cast_to(self, t: &DataType) -> Result<Value> {
        Ok(match self {
            Value::Array(a) => Value::Array(cast(&a, t)?),
            Value::Scalar(s) => Value::Scalar(Scalar::new(cast(s.into_inner().as_ref(), t)?)),
        })
    }
    fn into_array(self, n: usize) -> Result<ArrayRef> {
        Ok(match self {
            Value::Array(a) => a,
            Value::Scalar(s) => broadcast(s.into_inner().as_ref(), n)?,
        })
    }
}

fn broadcast(one: &dyn Array, n: usize) -> Result<ArrayRef> {
    let idx = arrow::array::UInt32Array::from(vec![0u32; n]);
    Ok(arrow::compute::take(one, &idx, None)?)
}

/// Bring both sides of a binary operator to one type: integers widen to Int64, mixed
/// integer / float to Float64, anything / decimal to the decimal side.
fn coerce(l: Value, r: Value) -> Result<(Value, Value)> {
    let (lt, rt) = (l.data_type().clone(), r.data_type().clone());
    if lt == rt {
        return Ok((l, r));
    }
    use DataType::*;
    let int = |t: &DataType| matches!(t, Int8 | Int16 | Int32 | Int64 | UInt8 | UInt16 | UInt32);
    let float = |t: &DataType| matches!(t, Float32 | Float64);
    // Which side's type wins when neither rule for numbers applies.
    let left_wins = (matches!(lt, Decimal128(..)) && (int(&rt) || matches!(rt, Decimal128(..))))
        || matches!(rt, Null)
        || (matches!(lt, Timestamp(..)) && int(&rt))
        || (matches!(lt, Utf8) && matches!(rt, Utf8View | LargeUtf8));
    let target = if int(&lt) && int(&rt) {
        Int64
    } else if (int(&lt) || float(&lt)) && (int(&rt) || float(&rt)) {
        Float64
    } else if left_wins {
        lt.clone()
    } else {
        rt.clone()
    };
    Ok((l.cast_to(&target)?, r.cast_to(&target)?))
}

fn as_bool<'a>(a: &'a ArrayRef, e: &Expr) -> Result<&'a BooleanArray> {
    a.as_any().downcast_ref::<BooleanArray>().ok_or_else(|| {
        Error::Plan(format!(
            "'{e}' needs BOOLEAN operands, got {}",
            a.data_type()
        ))
    })
}

/// Evaluate a projection: one output column per expression, named by [`Expr::name`].
///
/// # Errors
/// As [`Expr::evaluate`].
pub fn project(batch: &RecordBatch, exprs: &[Expr]) -> Result<RecordBatch> {
    let mut fields = Vec::with_capacity(exprs.len());
    let mut cols = Vec::with_capacity(exprs.len());
    for e in exprs {
        let a = e.evaluate(batch)?;
        let nullable = match e {
            Expr::Column(c) => batch
                .schema()
                .field_with_name(c)
                .map_or(true, |f| f.is_nullable()),
            _ => true,
        };
        fields.push(Field::new(
            e.name(),
            a.data_type().clone(),
            nullable || a.null_count() > 0,
        ));
        cols.push(a);
    }
    let schema: SchemaRef = Arc::new(Schema::new(fields));
    Ok(RecordBatch::try_new_with_options(
        schema,
        cols,
        &arrow::record_batch::RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> RecordBatch {
        RecordBatch::try_from_iter([
            (
                "a",
                Arc::new(Int64Array::from(vec![Some(1), Some(5), None])) as ArrayRef,
            ),
            (
                "b",
                Arc::new(Float64Array::from(vec![0.5, 2.0, 3.0])) as ArrayRef,
            ),
        ])
        .unwrap()
    }

    #[test]
    fn arithmetic_and_coercion() {
        let r = col("a")
            .mul(lit(2))
            .add(col("b"))
            .evaluate(&batch())
            .unwrap();
        let r = r.as_any().downcast_ref::<Float64Array>().unwrap();
        assert_eq!(r.value(0), 2.5);
        assert_eq!(r.value(1), 12.0);
        assert!(r.is_null(2));
    }

    #[test]
    fn comparison_with_nulls_and_kleene() {
        let r = col("a")
            .gt(lit(2))
            .or(col("b").gt(lit(2.5)))
            .evaluate(&batch())
            .unwrap();
        let r = r.as_any().downcast_ref::<BooleanArray>().unwrap();
        assert_eq!(
            r,
            &BooleanArray::from(vec![Some(false), Some(true), Some(true)])
        );
    }

    #[test]
    fn unknown_column_names_columns() {
        let e = col("zzz").evaluate(&batch()).unwrap_err().to_string();
        assert!(e.contains("zzz") && e.contains("a, b"), "{e}");
    }

    #[test]
    fn projection_names() {
        let p = project(&batch(), &[col("a"), col("a").rem(lit(2)).alias("odd")]).unwrap();
        assert_eq!(p.schema().field(1).name(), "odd");
        assert_eq!(p.num_rows(), 3);
    }
}
