//! Stateless per-batch transformations: `map_batches` (a closure over a whole batch, the
//! fast path), projections with column expressions, and the typed per-record `map` /
//! `flat_map` / `filter` (rows converted to Rust values with serde and back, as in Flink's
//! `MapFunction`; convenient, slower). Flink equivalent: `StreamMap`, `StreamFlatMap`.
//! No state; watermarks pass through unchanged.

use std::marker::PhantomData;

use arrow::record_batch::RecordBatch;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{OpContext, Operator, Output};
use crate::error::Result;
use crate::expr::{project, Expr};
use crate::typed::{from_batch, to_batch, RecordSchema};

/// Applies a closure to each batch.
pub struct MapBatches<F> {
    f: F,
}

impl<F> MapBatches<F>
where
    F: FnMut(RecordBatch) -> Result<RecordBatch> + Send,
{
    /// Wrap a batch closure.
    pub fn new(f: F) -> Self {
        MapBatches { f }
    }
}

impl<F> Operator for MapBatches<F>
where
    F: FnMut(RecordBatch) -> Result<RecordBatch> + Send,
{
    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        _: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        out.emit((self.f)(batch)?);
        Ok(())
    }
}

/// Evaluates a list of expressions per batch (a projection).
pub struct Project {
    exprs: Vec<Expr>,
}

impl Project {
    /// Project onto `exprs`.
    pub fn new(exprs: Vec<Expr>) -> Self {
        Project { exprs }
    }
}

impl Operator for Project {
    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        _: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        out.emit(project(&batch, &self.exprs)?);
        Ok(())
    }
}

/// Typed per-record flat-map: each input row becomes zero or more output rows.
pub struct TypedFlatMap<I, O, F> {
    f: F,
    schema: RecordSchema<O>,
    buf: Vec<O>,
    _in: PhantomData<fn(I)>,
}

// RecordSchema<O> holds only arrow fields; the records themselves live in `buf`.

impl<I, O, F> TypedFlatMap<I, O, F>
where
    I: DeserializeOwned,
    O: Serialize,
    F: FnMut(I, &mut Vec<O>) -> Result<()> + Send,
{
    /// Wrap a closure that pushes its outputs into the given vector.
    pub fn new(f: F, schema: RecordSchema<O>) -> Self {
        TypedFlatMap {
            f,
            schema,
            buf: Vec::new(),
            _in: PhantomData,
        }
    }
}

impl<I, O, F> Operator for TypedFlatMap<I, O, F>
where
    I: DeserializeOwned,
    O: Serialize + Send,
    F: FnMut(I, &mut Vec<O>) -> Result<()> + Send,
{
    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        _: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let rows: Vec<I> = from_batch(&batch)?;
        self.buf.clear();
        for r in rows {
            (self.f)(r, &mut self.buf)?;
        }
        out.emit(to_batch(&self.schema, &self.buf)?);
        Ok(())
    }
}
