//! Common subexpressions of a Calc, evaluated once per batch.
//!
//! A query often computes the same expression in its `WHERE` clause and its select list
//! (Nexmark q21's `REGEXP_EXTRACT(url, ...)`, q14's `0.908 * price`), or several times in one
//! select list (q14's `HOUR(date_time)` in four `CASE` conditions). [`share`] finds them,
//! replaces each occurrence with a reference to an extra column, and returns the expressions
//! of those columns in two stages:
//!
//! - **before the filter**: the expressions the filter evaluates on every row and that occur
//!   again (in the filter or the select list), evaluated on the input batch; the filter and
//!   the select list read the column, which the filter cuts down with the rest of the batch;
//! - **after the filter**: those occurring more than once in the select list, one occurrence
//!   evaluated on every kept row, evaluated on the filtered batch.
//!
//! Only expressions that cannot fail on a row and give the same value every time (no
//! `NOW()`-like function) are shared, so evaluating one on rows where the original text
//! would not have (a later `CASE` branch) changes neither the rows nor the errors. Each
//! shared expression is at least one function call or operator over a column.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::datatypes::{Field, Schema};

use super::{Node, TypedExpr};
use crate::error::Result;

/// The most expressions shared per stage.
const MAX_SHARED: usize = 16;

/// Occurrences of one expression.
#[derive(Default)]
struct Seen {
    /// In the filter, on every row.
    filter_always: usize,
    /// In the filter, anywhere.
    filter: usize,
    /// In the select list, on every row.
    select_always: usize,
    /// In the select list, anywhere.
    select: usize,
    /// The expression and its size in nodes.
    expr: Option<(TypedExpr, usize)>,
}

/// Whether `e` can be shared: an operator or call over columns, deterministic, infallible.
fn shareable(e: &TypedExpr) -> bool {
    if matches!(e.node, Node::Column { .. } | Node::Literal(_)) || e.fallible() {
        return false;
    }
    let mut refs = Vec::new();
    e.column_refs(&mut refs);
    !refs.is_empty() && deterministic(e)
}

/// Whether `e` and every expression in it is deterministic (no `NOW()`, `RAND()`...).
pub(super) fn deterministic(e: &TypedExpr) -> bool {
    let mut ok = match &e.node {
        Node::Call { func, .. } => func.is_deterministic(),
        _ => true,
    };
    e.for_each_child(&mut |c| ok &= deterministic(c));
    ok
}

fn size(e: &TypedExpr) -> usize {
    let mut n = 1;
    e.for_each_child(&mut |c| n += size(c));
    n
}

/// Record every shareable subexpression of `e`; `always`: `e` is evaluated on every row.
fn visit(e: &TypedExpr, always: bool, in_filter: bool, seen: &mut HashMap<String, Seen>) {
    if shareable(e) {
        let s = seen.entry(format!("{e:?}")).or_default();
        match (in_filter, always) {
            (true, true) => s.filter_always += 1,
            (false, true) => s.select_always += 1,
            _ => {}
        }
        if in_filter {
            s.filter += 1;
        } else {
            s.select += 1;
        }
        if s.expr.is_none() {
            s.expr = Some((e.clone(), size(e)));
        }
    }
    match &e.node {
        // Only the first condition of a CASE and the first argument of a COALESCE see every
        // row; the right side of AND/OR too, unless it can fail (then it sees the rows the
        // left side leaves open).
        Node::Case { whens, otherwise } => {
            for (i, (c, v)) in whens.iter().enumerate() {
                visit(c, always && i == 0, in_filter, seen);
                visit(v, false, in_filter, seen);
            }
            if let Some(o) = otherwise {
                visit(o, false, in_filter, seen);
            }
        }
        Node::Coalesce(args) => {
            for (i, a) in args.iter().enumerate() {
                visit(a, always && i == 0, in_filter, seen);
            }
        }
        Node::And(l, r) | Node::Or(l, r) => {
            visit(l, always, in_filter, seen);
            visit(r, always && !r.fallible(), in_filter, seen);
        }
        _ => e.for_each_child(&mut |c| visit(c, always, in_filter, seen)),
    }
}

/// Replace every occurrence of `key` in `e` with `with`.
fn replace(e: &mut TypedExpr, key: &str, with: &TypedExpr) {
    if format!("{e:?}") == key {
        *e = with.clone();
        return;
    }
    e.for_each_child_mut(&mut |c| replace(c, key, with));
}

/// The largest expression `pick` accepts, by size (then text, for a stable plan).
fn largest(
    seen: HashMap<String, Seen>,
    pick: impl Fn(&Seen) -> bool,
) -> Option<(String, TypedExpr)> {
    seen.into_iter()
        .filter(|(_, s)| pick(s))
        .filter_map(|(k, s)| s.expr.map(|(e, n)| (n, k, e)))
        .max_by(|a, b| a.0.cmp(&b.0).then_with(|| b.1.cmp(&a.1)))
        .map(|(_, k, e)| (k, e))
}

fn count(filter: &Option<TypedExpr>, exprs: &[TypedExpr]) -> HashMap<String, Seen> {
    let mut seen = HashMap::new();
    if let Some(f) = filter {
        visit(f, true, true, &mut seen);
    }
    for e in exprs {
        visit(e, true, false, &mut seen);
    }
    seen
}

/// Share the common subexpressions of a Calc over batches of `width` columns: rewrites
/// `filter` and `exprs`, and returns the extra columns to compute before the filter (they
/// become columns `width..`) and after it (the columns after those).
pub fn share(
    filter: &mut Option<TypedExpr>,
    exprs: &mut [TypedExpr],
    width: usize,
) -> [Vec<TypedExpr>; 2] {
    let mut stages: [Vec<TypedExpr>; 2] = [Vec::new(), Vec::new()];
    for stage in 0..2 {
        while stages[stage].len() < MAX_SHARED {
            let seen = count(filter, exprs);
            let pick = |s: &Seen| {
                if stage == 0 {
                    s.filter_always > 0 && s.filter + s.select >= 2
                } else {
                    s.select_always > 0 && s.select >= 2
                }
            };
            let Some((key, e)) = largest(seen, pick) else {
                break;
            };
            // Stage 1's columns come after stage 0's.
            let index = width + stages[0].len() + if stage == 1 { stages[1].len() } else { 0 };
            let column = TypedExpr {
                node: Node::Column {
                    index,
                    name: Arc::from(format!("$cse{}", index - width)),
                },
                ty: e.ty,
                nullable: e.nullable,
            };
            // Stage 1's columns exist only after the filter has run: the filter keeps its
            // own occurrences (which stage 1 never counts as seen on every row).
            if let (0, Some(f)) = (stage, filter.as_mut()) {
                replace(f, &key, &column);
            }
            for x in exprs.iter_mut() {
                replace(x, &key, &column);
            }
            stages[stage].push(e);
        }
    }
    stages
}

/// `batch` with the values of `shared` appended as columns (`$cse<i>`), in order.
///
/// # Errors
/// An expression that cannot be evaluated over `batch`.
pub fn extend(batch: RecordBatch, shared: &[TypedExpr]) -> Result<RecordBatch> {
    if shared.is_empty() {
        return Ok(batch);
    }
    let width = batch.num_columns();
    let mut fields: Vec<Arc<Field>> = batch.schema().fields().iter().cloned().collect();
    let mut columns: Vec<ArrayRef> = batch.columns().to_vec();
    for (i, e) in shared.iter().enumerate() {
        let extended = RecordBatch::try_new_with_options(
            Arc::new(Schema::new(fields.clone())),
            columns.clone(),
            &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
        )?;
        let values = e.evaluate(&extended)?;
        fields.push(Arc::new(Field::new(
            format!("$cse{}", width + i),
            values.data_type().clone(),
            true,
        )));
        columns.push(values);
    }
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::new(fields)),
        columns,
        &RecordBatchOptions::new().with_row_count(Some(batch.num_rows())),
    )?)
}

#[cfg(test)]
#[path = "cse_tests.rs"]
mod tests;
