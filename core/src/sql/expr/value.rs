//! The value of an expression over one batch, and the loops the functions without an arrow
//! kernel are written with.
//!
//! A constant stays a one-row [`Value::Scalar`] until a kernel needs an array: arrow's
//! `Datum` kernels take it as it is, and the hand-written loops read it through [`StrArg`] /
//! [`PrimArg`], which answer the same `get(i)` for a scalar and an array, so nothing is ever
//! broadcast only to be read back.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, ArrowPrimitiveType, AsArray, BooleanArray, Datum, PrimitiveArray, Scalar,
    StringArray, UInt32Array,
};
use arrow::buffer::{BooleanBuffer, NullBuffer, ScalarBuffer};
use arrow::datatypes::DataType;

use crate::error::{Error, Location, Result};

/// The result of evaluating an expression over a batch: a whole column, or one value that
/// stands for every row.
#[derive(Debug, Clone)]
pub(super) enum Value {
    /// One value per row of the batch.
    Array(ArrayRef),
    /// A one-row array whose value holds for every row.
    Scalar(ArrayRef),
}

impl Value {
    /// The arrow type of the values.
    pub(super) fn data_type(&self) -> &DataType {
        match self {
            Value::Array(a) | Value::Scalar(a) => a.data_type(),
        }
    }

    /// The array behind this value (one row for a scalar).
    pub(super) fn array(&self) -> &ArrayRef {
        match self {
            Value::Array(a) | Value::Scalar(a) => a,
        }
    }

    /// Whether this is a scalar.
    pub(super) fn is_scalar(&self) -> bool {
        matches!(self, Value::Scalar(_))
    }

    /// This value as `n` rows.
    pub(super) fn into_array(self, n: usize) -> Result<ArrayRef> {
        match self {
            Value::Array(a) => Ok(a),
            Value::Scalar(s) => broadcast(&s, n),
        }
    }

    /// Wrap a kernel's output: scalar when `scalar`, else an array.
    pub(super) fn wrap(array: ArrayRef, scalar: bool) -> Value {
        if scalar {
            Value::Scalar(array)
        } else {
            Value::Array(array)
        }
    }

    /// Apply an array kernel, keeping a scalar a scalar.
    pub(super) fn map(&self, f: impl FnOnce(&ArrayRef) -> Result<ArrayRef>) -> Result<Value> {
        Ok(match self {
            Value::Array(a) => Value::Array(f(a)?),
            Value::Scalar(a) => Value::Scalar(f(a)?),
        })
    }
}

/// Repeat a one-row array `n` times.
pub(super) fn broadcast(one: &ArrayRef, n: usize) -> Result<ArrayRef> {
    if n == 1 {
        return Ok(Arc::clone(one));
    }
    if one.is_null(0) {
        return Ok(arrow::array::new_null_array(one.data_type(), n));
    }
    let idx = UInt32Array::from(vec![0u32; n]);
    Ok(arrow::compute::take(one.as_ref(), &idx, None)?)
}

/// Call a binary `Datum` kernel with the two values, scalars passed as arrow `Scalar`s; the
/// result is a scalar when both inputs are.
pub(super) fn datum2(
    l: &Value,
    r: &Value,
    f: impl FnOnce(&dyn Datum, &dyn Datum) -> Result<ArrayRef>,
) -> Result<Value> {
    let out = match (l, r) {
        (Value::Array(a), Value::Array(b)) => f(a, b)?,
        (Value::Array(a), Value::Scalar(b)) => f(a, &Scalar::new(Arc::clone(b)))?,
        (Value::Scalar(a), Value::Array(b)) => f(&Scalar::new(Arc::clone(a)), b)?,
        (Value::Scalar(a), Value::Scalar(b)) => {
            // Both sides are one-row arrays: the kernel's one-row output is the scalar.
            return Ok(Value::Scalar(f(a, b)?));
        }
    };
    Ok(Value::Array(out))
}

/// A boolean array, or an internal error naming what produced something else.
pub(super) fn as_bool(a: &dyn Array) -> Result<&BooleanArray> {
    a.as_boolean_opt()
        .ok_or_else(|| Error::Internal(format!("expected BOOLEAN values, got {}", a.data_type())))
}

/// A string argument read row by row: a column or a constant.
#[derive(Clone, Copy)]
pub(super) enum StrArg<'a> {
    /// One value per row.
    Array(&'a StringArray),
    /// The same value (or NULL) for every row.
    Const(Option<&'a str>),
}

impl<'a> StrArg<'a> {
    /// Read a `Utf8` value.
    pub(super) fn new(v: &'a Value) -> Result<Self> {
        let a = v.array().as_string_opt::<i32>().ok_or_else(|| {
            Error::Internal(format!("expected Utf8 values, got {}", v.data_type()))
        })?;
        Ok(match v {
            Value::Array(_) => StrArg::Array(a),
            Value::Scalar(_) => StrArg::Const(a.is_valid(0).then(|| a.value(0))),
        })
    }

    /// The value of row `i`, `None` when NULL.
    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<&'a str> {
        match self {
            StrArg::Array(a) => a.is_valid(i).then(|| a.value(i)),
            StrArg::Const(c) => *c,
        }
    }
}

/// A primitive argument read row by row: a column or a constant.
pub(super) enum PrimArg<'a, T: ArrowPrimitiveType> {
    /// One value per row.
    Array(&'a PrimitiveArray<T>),
    /// The same value (or NULL) for every row.
    Const(Option<T::Native>),
}

impl<T: ArrowPrimitiveType> Clone for PrimArg<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T: ArrowPrimitiveType> Copy for PrimArg<'_, T> {}

impl<'a, T: ArrowPrimitiveType> PrimArg<'a, T> {
    /// Read a value whose arrow type has `T`'s layout.
    pub(super) fn new(v: &'a Value) -> Result<Self> {
        let a = v.array().as_primitive_opt::<T>().ok_or_else(|| {
            Error::Internal(format!(
                "expected {} values, got {}",
                T::DATA_TYPE,
                v.data_type()
            ))
        })?;
        Ok(match v {
            Value::Array(_) => PrimArg::Array(a),
            Value::Scalar(_) => PrimArg::Const(a.is_valid(0).then(|| a.value(0))),
        })
    }

    /// The value of row `i`, `None` when NULL.
    #[inline]
    pub(super) fn get(&self, i: usize) -> Option<T::Native> {
        match self {
            PrimArg::Array(a) => a.is_valid(i).then(|| a.value(i)),
            PrimArg::Const(c) => *c,
        }
    }
}

/// Build a primitive array of `n` rows from `f(i)`, `None` for NULL. The values and the
/// validity bitmap are written straight into buffers (no per-row builder calls).
pub(super) fn collect_prim<O: ArrowPrimitiveType>(
    n: usize,
    mut f: impl FnMut(usize) -> Option<O::Native>,
) -> PrimitiveArray<O> {
    let mut values: Vec<O::Native> = Vec::with_capacity(n);
    let mut all_valid = true;
    let valid = BooleanBuffer::collect_bool(n, |i| match f(i) {
        Some(v) => {
            values.push(v);
            true
        }
        None => {
            values.push(O::Native::default());
            all_valid = false;
            false
        }
    });
    let nulls = (!all_valid).then(|| NullBuffer::new(valid));
    PrimitiveArray::new(ScalarBuffer::from(values), nulls)
}

/// Like [`collect_prim`], for a fallible row function.
pub(super) fn try_collect_prim<O: ArrowPrimitiveType>(
    n: usize,
    mut f: impl FnMut(usize) -> Result<Option<O::Native>>,
) -> Result<PrimitiveArray<O>> {
    let mut err = None;
    let out = collect_prim::<O>(n, |i| {
        if err.is_some() {
            return None;
        }
        match f(i) {
            Ok(v) => v,
            Err(e) => {
                err = Some(e);
                None
            }
        }
    });
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// A boolean array of `n` rows from `f(i)`, `None` for NULL.
pub(super) fn collect_bool(n: usize, mut f: impl FnMut(usize) -> Option<bool>) -> BooleanArray {
    let mut all_valid = true;
    let mut valid = Vec::with_capacity(n);
    let values = BooleanBuffer::collect_bool(n, |i| match f(i) {
        Some(b) => {
            valid.push(true);
            b
        }
        None => {
            valid.push(false);
            all_valid = false;
            false
        }
    });
    let nulls = (!all_valid).then(|| NullBuffer::from(valid));
    BooleanArray::new(values, nulls)
}

/// The error of a row that cannot be computed (division by zero, a bad cast), naming the
/// expression.
pub(super) fn row_error(expr: &dyn std::fmt::Display, detail: impl Into<String>) -> Error {
    Error::Data {
        location: Location {
            source: format!("expression {expr}"),
            line: None,
            column: None,
        },
        detail: detail.into(),
    }
}
