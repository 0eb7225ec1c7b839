//! Filter pushdown: a `WHERE` directly over a table scan is handed to the source as well
//! ([`SourceFilter`]), so that a source such as the CSV reader decodes the long text columns
//! only of rows that can pass.
//!
//! The filter stays in the plan after the source too: the source's filtering only has to
//! drop rows that cannot pass, never every one of them, and results do not depend on
//! whether or how it filtered. The source keeps each batch's latest row by event time, so
//! the watermark assigner after it sees the batch's true maximum: watermarks, and with them
//! late rows and window firing, are as without pushdown.
//!
//! ```text
//!  before:  Source(bid) ─▶ Watermark ─▶ Calc(where=p, select=...)
//!  after:   Source(bid, filter=p) ─▶ Watermark ─▶ Calc(where=p, select=...)
//! ```
//!
//! Only predicates that can run twice are pushed: deterministic (no `NOW()`, `RAND()`),
//! infallible (no division, no failing cast) and cheap (no function calls: q21's
//! `REGEXP_EXTRACT` run in the source and again after it made q21 1.45x slower), over the
//! scan's own columns. A scan another part of the job reads as well (source reuse) is not
//! filtered.

use std::sync::Arc;

use arrow::array::AsArray;

use super::Rel;
use crate::connector::SourceFilter;
use crate::error::Error;
use crate::sql::expr::TypedExpr;

/// Pushes `pred` into the source `rel` scans, when `rel` is a bare scan nothing else reads
/// and the predicate can run twice; returns `rel` with its plan showing the pushed filter.
pub(super) fn push_into_scan(mut rel: Rel, pred: &TypedExpr) -> Rel {
    let is_scan = rel.origin.as_ref().is_some_and(|o| {
        o.source == (rel.stream.node, rel.stream.port) && o.is_whole_scan(rel.columns.len())
    });
    if !is_scan || rel.updating || !pred.is_repeatable() || !pred.is_cheap() {
        return rel;
    }
    let mut columns = Vec::new();
    pred.column_refs(&mut columns);
    columns.sort_unstable();
    columns.dedup();
    if columns.is_empty() || columns.iter().any(|&c| rel.columns[c].proctime) {
        return rel;
    }
    let compact = pred.remap_columns(&|c| columns.partition_point(|&x| x < c));
    let text = pred.to_string();
    let filter = SourceFilter::new(columns, rel.rowtime(), text.clone(), move |batch| {
        let mask = compact.evaluate(batch)?;
        mask.as_boolean_opt().cloned().ok_or_else(|| {
            Error::Internal(format!(
                "pushed filter gave {}, not booleans",
                mask.data_type()
            ))
        })
    });
    if (rel.stream.env).push_filter_into_source(&rel.stream, Arc::new(filter)) {
        rel.plan.text = match rel.plan.text.strip_suffix(')') {
            Some(head) => format!("{head}, filter=[{text}])"),
            None => format!("{} filter=[{text}]", rel.plan.text),
        };
    }
    rel
}
