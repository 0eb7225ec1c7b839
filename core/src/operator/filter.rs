//! Filter: keeps the rows for which a boolean column expression is true (SQL semantics:
//! null counts as false). One expression evaluation and one `filter_record_batch` per
//! batch. Flink equivalent: `StreamFilter`. No state; watermarks pass through.

use arrow::array::BooleanArray;
use arrow::compute::filter_record_batch;
use arrow::record_batch::RecordBatch;

use super::{OpContext, Operator, Output};
use crate::error::{Error, Result};
use crate::expr::Expr;

/// Keeps rows where the predicate is true.
pub struct Filter {
    predicate: Expr,
}

impl Filter {
    /// Filter on `predicate`.
    pub fn new(predicate: Expr) -> Self {
        Filter { predicate }
    }
}

impl Operator for Filter {
    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        _: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let mask = self.predicate.evaluate(&batch)?;
        let mask = mask
            .as_any()
            .downcast_ref::<BooleanArray>()
            .ok_or_else(|| {
                Error::Plan(format!(
                    "filter predicate '{}' is {}, not BOOLEAN",
                    self.predicate,
                    mask.data_type()
                ))
            })?;
        if mask.true_count() == batch.num_rows() {
            out.emit(batch);
        } else {
            out.emit(filter_record_batch(&batch, mask)?);
        }
        Ok(())
    }
}
