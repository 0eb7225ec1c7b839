//! A harness for operator authors: drive an operator by hand, and check that a run cut by a
//! checkpoint (snapshot → Arrow IPC round trip → restore into a fresh instance) produces
//! exactly what an uninterrupted run produces.
//!
//! ```
//! use millstream_core::checkpoint::testing::{restore_equivalence, Step};
//! use millstream_core::operator::filter::Filter;
//! use millstream_core::expr::{col, lit};
//! use arrow::array::Int64Array;
//! use arrow::record_batch::RecordBatch;
//! use std::sync::Arc;
//!
//! let b = RecordBatch::try_from_iter(vec![("x", Arc::new(Int64Array::from(vec![1, 5, 9])) as _)]).unwrap();
//! let steps = vec![Step::Batch(0, b.clone()), Step::Watermark(10), Step::Batch(0, b), Step::End];
//! let make = || Ok(Box::new(Filter::new(col("x").gt(lit(2i64)))) as Box<dyn millstream_core::operator::Operator>);
//! for cut in 0..=steps.len() {
//!     restore_equivalence(&make, &steps, cut, 1, 128).unwrap();
//! }
//! ```

use arrow::record_batch::RecordBatch;

use super::OperatorState;
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, OutItem, Output};
use crate::time::Watermark;

/// One input event of a hand-driven operator.
#[derive(Debug, Clone)]
pub enum Step {
    /// A batch on input `0` or `1`.
    Batch(usize, RecordBatch),
    /// The combined input watermark advanced.
    Watermark(i64),
    /// A processing-time callback at this wall-clock time.
    ProcessingTime(i64),
    /// End of input.
    End,
}

/// Feed `steps` to `op`, returning everything it emitted, in order.
///
/// # Errors
/// The operator's errors.
pub fn run_steps(
    op: &mut dyn Operator,
    ctx: &mut OpContext,
    steps: &[Step],
) -> Result<Vec<OutItem>> {
    let mut out = Output::new();
    let mut items = Vec::new();
    for s in steps {
        match s {
            Step::Batch(input, b) => op.on_batch(*input, b.clone(), ctx, &mut out)?,
            Step::Watermark(w) => {
                ctx.watermark = Watermark(*w);
                op.on_watermark(Watermark(*w), ctx, &mut out)?;
            }
            Step::ProcessingTime(t) => op.on_processing_time(*t, ctx, &mut out)?,
            Step::End => op.on_end(ctx, &mut out)?,
        }
        items.extend(out.drain());
    }
    Ok(items)
}

/// Send every table of `state` through Arrow IPC and back, as a checkpoint does.
///
/// # Errors
/// A table Arrow IPC cannot hold.
pub fn ipc_round_trip(state: OperatorState) -> Result<OperatorState> {
    let mut tables = Vec::with_capacity(state.tables.len());
    for mut t in state.tables {
        let mut batches = Vec::with_capacity(t.batches.len());
        for b in &t.batches {
            let mut buf = Vec::new();
            {
                let mut w = arrow::ipc::writer::StreamWriter::try_new(&mut buf, &b.schema())?;
                w.write(b)?;
                w.finish()?;
            }
            let r = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(buf), None)?;
            for rb in r {
                batches.push(rb?);
            }
        }
        t.batches = batches;
        tables.push(t);
    }
    Ok(OperatorState {
        tables,
        files: state.files,
        rescaled: state.rescaled,
    })
}

/// Run `steps` twice on fresh operators from `make` (subtask 0 of `parallelism`): once
/// straight through, once cut after `cut` steps by snapshot → IPC round trip → restore
/// into a new instance. Returns both outputs after checking they are equal.
///
/// # Errors
/// The operator's errors, or [`Error::Internal`] describing the first difference.
pub fn restore_equivalence(
    make: &dyn Fn() -> Result<Box<dyn Operator>>,
    steps: &[Step],
    cut: usize,
    parallelism: usize,
    max_parallelism: usize,
) -> Result<(Vec<OutItem>, Vec<OutItem>)> {
    let fresh = |op: &mut Box<dyn Operator>| -> Result<OpContext> {
        let mut ctx = OpContext::new(0, parallelism, max_parallelism);
        op.open(&mut ctx)?;
        Ok(ctx)
    };
    let mut a = make()?;
    let mut ctx_a = fresh(&mut a)?;
    let whole = run_steps(a.as_mut(), &mut ctx_a, steps)?;

    let cut = cut.min(steps.len());
    let mut b = make()?;
    let mut ctx_b = fresh(&mut b)?;
    let mut cut_run = run_steps(b.as_mut(), &mut ctx_b, &steps[..cut])?;
    let state = ipc_round_trip(b.snapshot(1, &mut ctx_b)?)?;
    let watermark = ctx_b.watermark;
    drop(b);
    let mut c = make()?;
    let mut ctx_c = fresh(&mut c)?;
    ctx_c.watermark = watermark;
    c.restore(state, &mut ctx_c)?;
    cut_run.extend(run_steps(c.as_mut(), &mut ctx_c, &steps[cut..])?);
    compare(&whole, &cut_run, cut)?;
    Ok((whole, cut_run))
}

fn compare(whole: &[OutItem], cut_run: &[OutItem], cut: usize) -> Result<()> {
    let describe = |i: &OutItem| match i {
        OutItem::Batch(p, b) => format!("batch(port {p}, {} rows)", b.num_rows()),
        OutItem::Watermark(w) => format!("watermark({})", w.0),
        OutItem::Idle => "idle".into(),
    };
    let (wb, cb) = (rows_by_port(whole)?, rows_by_port(cut_run)?);
    if wb != cb {
        return Err(Error::Internal(format!(
            "restore at step {cut} changed the output: uninterrupted [{}] vs restored [{}]",
            whole.iter().map(describe).collect::<Vec<_>>().join(", "),
            cut_run.iter().map(describe).collect::<Vec<_>>().join(", ")
        )));
    }
    Ok(())
}

/// Rows per port, as formatted lines in emission order (batch boundaries ignored).
fn rows_by_port(items: &[OutItem]) -> Result<Vec<(usize, String)>> {
    let mut out = Vec::new();
    for i in items {
        if let OutItem::Batch(port, b) = i {
            let text = arrow::util::pretty::pretty_format_batches(std::slice::from_ref(b))?;
            for line in text.to_string().lines().skip(3) {
                if !line.starts_with('+') {
                    out.push((*port, line.to_string()));
                }
            }
        }
    }
    Ok(out)
}
