//! `VALUES (..), (..)` and `SELECT` without `FROM`: bounded relations of constant rows.
//!
//! Each value is compiled in an empty scope (constants and functions of constants, as Flink
//! allows), evaluated once over a batch of one row and no columns, and cast to its column's
//! type: the common type of that column across the rows, nullable when any value is. The
//! rows are concatenated into one batch, which a [`BatchSource`] emits, so the rest of the
//! plan runs over them as over any bounded table. Columns are named `EXPR$0`, `EXPR$1`...
//! as in Flink; `(VALUES ...) AS t(a, b)` renames them.
//!
//! `SELECT` without `FROM` reads one row of no columns, over which the select list is then
//! computed.

use std::sync::Arc;

use arrow::array::{ArrayRef, RecordBatch, RecordBatchOptions};
use arrow::compute::concat;
use arrow::datatypes::{Field, Schema};
use sqlparser::ast;
use sqlparser::tokenizer::Location;

use super::{loc, Planner, Rel};
use crate::error::Result;
use crate::sources::BatchSource;
use crate::sql::dialect::sql_error;
use crate::sql::expr::{common_type, compile, Scope, TypedExpr};
use crate::sql::planner::rel::PlanNode;
use crate::sql::types::Column;

/// One row and no columns: what the values are evaluated over.
fn empty_row() -> Result<RecordBatch> {
    let options = RecordBatchOptions::new().with_row_count(Some(1));
    Ok(RecordBatch::try_new_with_options(
        Arc::new(Schema::empty()),
        vec![],
        &options,
    )?)
}

/// A bounded relation emitting `batch` once.
fn constant_rel(
    p: &Planner<'_>,
    batch: RecordBatch,
    columns: Vec<Column>,
    text: String,
) -> Result<Rel> {
    let source = BatchSource::new("values", batch.schema(), vec![batch])?;
    let stream = p.env.from_source(Arc::new(source), None);
    Ok(Rel {
        stream,
        columns,
        window: None,
        windowed: None,
        updating: false,
        plan: PlanNode::leaf(text),
        origin: None,
    })
}

/// The relation of a `SELECT` without `FROM`: one row, no columns.
pub(super) fn one_row(p: &Planner<'_>) -> Result<Rel> {
    constant_rel(p, empty_row()?, vec![], "Values(tuples=[[{ 0 }]])".into())
}

/// The relation of `VALUES` rows.
///
/// # Errors
/// [`Error::Sql`](crate::error::Error::Sql) at a value that is not a constant, a row of
/// another length than the first, or a column whose values have no common type.
pub(super) fn plan(p: &Planner<'_>, values: &ast::Values, at: Location) -> Result<Rel> {
    let scope = Scope::new(vec![]);
    let width = values.rows.first().map_or(0, Vec::len);
    let mut rows: Vec<Vec<TypedExpr>> = Vec::with_capacity(values.rows.len());
    for row in &values.rows {
        if row.len() != width {
            return Err(sql_error(
                at,
                format!(
                    "Values passed to VALUES operator must have compatible types: rows of \
                     {width} and {} values",
                    row.len()
                ),
            ));
        }
        rows.push(
            row.iter()
                .map(|e| compile(e, &scope))
                .collect::<Result<_>>()?,
        );
    }
    if width == 0 {
        return Err(sql_error(at, "VALUES needs at least one value per row"));
    }
    // Column types: the common type across the rows.
    let mut columns: Vec<Column> = Vec::with_capacity(width);
    for c in 0..width {
        let mut ty = rows[0][c].ty();
        let mut nullable = false;
        for (r, row) in rows.iter().enumerate() {
            ty = common_type(ty, row[c].ty()).ok_or_else(|| {
                sql_error(
                    loc(&values.rows[r][c]),
                    format!(
                        "VALUES column {} has values of types {ty} and {}",
                        c + 1,
                        row[c].ty()
                    ),
                )
            })?;
            nullable |= row[c].nullable();
        }
        if ty == crate::sql::types::SqlType::Null {
            return Err(sql_error(
                loc(&values.rows[0][c]),
                format!(
                    "VALUES column {} has only NULLs: give it a type with CAST(NULL AS type)",
                    c + 1
                ),
            ));
        }
        let mut col = Column::new(format!("EXPR${c}"), ty);
        col.nullable = nullable;
        columns.push(col);
    }
    let one = empty_row()?;
    let mut arrays: Vec<Vec<ArrayRef>> = vec![Vec::with_capacity(rows.len()); width];
    for (r, row) in rows.into_iter().enumerate() {
        for (c, e) in row.into_iter().enumerate() {
            let place = loc(&values.rows[r][c]);
            let value = e
                .cast_to(columns[c].ty)
                .and_then(|e| e.evaluate(&one))
                .map_err(|err| sql_error(place, err.to_string()))?;
            arrays[c].push(value);
        }
    }
    let mut out = Vec::with_capacity(width);
    for parts in &arrays {
        let refs: Vec<&dyn arrow::array::Array> = parts.iter().map(|a| a.as_ref()).collect();
        out.push(concat(&refs)?);
    }
    let schema = Schema::new(
        columns
            .iter()
            .map(|c| Field::new(c.name.clone(), c.ty.arrow(), true))
            .collect::<Vec<_>>(),
    );
    let batch = RecordBatch::try_new(Arc::new(schema), out)?;
    let tuples: Vec<String> = values
        .rows
        .iter()
        .map(|r| {
            let v: Vec<String> = r.iter().map(|e| e.to_string()).collect();
            format!("{{ {} }}", v.join(", "))
        })
        .collect();
    let text = format!("Values(tuples=[[{}]])", tuples.join(", "));
    constant_rel(p, batch, columns, text)
}
