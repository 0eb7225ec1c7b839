//! A planned relation: a [`DataStream`] and the SQL columns of its batches, plus the
//! logical plan text `EXPLAIN` shows.

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BooleanArray, RecordBatch};
use arrow::compute::filter_record_batch;
use arrow::datatypes::{Field, Schema, SchemaRef};

pub use super::extreme::Origin;
use crate::api::DataStream;
use crate::error::{Error, Result};
use crate::sql::expr::{cse, Scope, TypedExpr};
use crate::sql::types::Column;
use crate::window::WindowAssigner;

/// A window table function applied to a relation but not yet aggregated: the rows of
/// `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), ...))` with their `window_start`, `window_end`,
/// `window_time` still to be computed by the aggregation that groups by them.
#[derive(Debug, Clone)]
pub struct PendingWindow {
    /// The window kind and sizes.
    pub assigner: WindowAssigner,
    /// The batch column of the time attribute.
    pub time: usize,
    /// How many columns the batches have: the relation's columns before these, then the
    /// three window columns, which exist only in [`Rel::columns`] until materialized.
    pub base_columns: usize,
    /// Windows over a `PROCTIME()` attribute: rows belong to the window of the wall clock
    /// when they arrive, and windows fire by the wall clock.
    pub processing_time: bool,
    /// `SESSION(TABLE t PARTITION BY k, ...)`: the columns sessions are kept apart by.
    pub partition: Vec<usize>,
    /// `WHERE` conditions over the base columns of a `SESSION` TVF, not applied yet: a
    /// session window aggregate applies them before its sessions form, any other use after
    /// (Flink's results differ).
    pub filters: Vec<TypedExpr>,
}

/// Where the window bounds of a windowed result are (after a window aggregation), so a
/// window join or a cascaded window aggregation can use them.
#[derive(Debug, Clone)]
pub struct Windowed {
    /// The window kind and sizes.
    pub assigner: WindowAssigner,
    /// The column of `window_start`.
    pub start: usize,
    /// The column of `window_end`.
    pub end: usize,
}

impl Windowed {
    /// The same bounds after a projection to `exprs`, if it keeps both as bare columns.
    pub fn remap(&self, exprs: &[TypedExpr]) -> Option<Windowed> {
        let find = |i: usize| exprs.iter().position(|e| e.as_column() == Some(i));
        Some(Windowed {
            assigner: self.assigner,
            start: find(self.start)?,
            end: find(self.end)?,
        })
    }
}

/// A node of the logical plan, for `EXPLAIN`.
#[derive(Debug, Clone)]
pub struct PlanNode {
    /// `Calc(select=[...], where=[...])`, `WindowAggregate(...)`.
    pub text: String,
    /// Inputs.
    pub inputs: Vec<PlanNode>,
}

impl PlanNode {
    /// A leaf.
    pub fn leaf(text: impl Into<String>) -> Self {
        PlanNode {
            text: text.into(),
            inputs: vec![],
        }
    }

    /// A node over inputs.
    pub fn new(text: impl Into<String>, inputs: Vec<PlanNode>) -> Self {
        PlanNode {
            text: text.into(),
            inputs,
        }
    }

    /// The tree as indented lines (`+- ` before each child, as Flink's `EXPLAIN`).
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out, 0);
        out
    }

    fn render_into(&self, out: &mut String, depth: usize) {
        if depth > 0 {
            out.push_str(&":  ".repeat(depth - 1));
            out.push_str("+- ");
        }
        out.push_str(&self.text);
        out.push('\n');
        for i in &self.inputs {
            i.render_into(out, depth + 1);
        }
    }
}

/// A relation: a stream whose batch column `i` is `columns[i]`.
#[derive(Clone)]
pub struct Rel {
    /// The stream.
    pub stream: DataStream,
    /// The SQL columns.
    pub columns: Vec<Column>,
    /// A window TVF waiting for its aggregation.
    pub window: Option<PendingWindow>,
    /// The window bounds of a window aggregation's result.
    pub windowed: Option<Windowed>,
    /// Whether the rows are a changelog with updates (not insert-only).
    pub updating: bool,
    /// The logical plan.
    pub plan: PlanNode,
    /// Where the rows come from, where the planner can tell ([`Origin`]).
    pub origin: Option<Box<Origin>>,
}

impl Rel {
    /// The scope expressions over this relation compile in.
    pub fn scope(&self) -> Scope {
        Scope::new(self.columns.clone())
    }

    /// Set the qualifier of every column (after `AS alias`).
    pub fn requalify(mut self, alias: &str) -> Self {
        for c in &mut self.columns {
            c.qualifier = Some(alias.to_string());
        }
        self
    }

    /// The index of the event-time column, if any.
    pub fn rowtime(&self) -> Option<usize> {
        self.columns.iter().position(|c| c.rowtime)
    }

    /// Point the stream's event-time column at the current rowtime column.
    pub fn sync_time(mut self) -> Self {
        let names = field_names(&self.columns);
        self.stream.time_column = self.rowtime().map(|i| names[i].clone());
        self
    }

    /// The Arrow field names of the batches (unique).
    pub fn field_names(&self) -> Vec<String> {
        field_names(&self.columns)
    }
}

/// Unique Arrow field names for columns: the column name, with `$n` appended to repeats.
pub fn field_names(columns: &[Column]) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(columns.len());
    let mut taken: std::collections::HashSet<String> = std::collections::HashSet::new();
    // The last suffix tried per name: `SELECT a, a, ...` with n repeats costs O(n), not the
    // O(n^3) of a fresh linear search per repeat (minutes at n = 1000; found with fuzz/).
    let mut suffix: std::collections::HashMap<&str, usize> = std::collections::HashMap::new();
    for c in columns {
        let mut name = c.name.clone();
        let n = suffix.entry(c.name.as_str()).or_insert(0);
        while taken.contains(&name) {
            *n += 1;
            name = format!("{}${n}", c.name);
        }
        taken.insert(name.clone());
        out.push(name);
    }
    out
}

/// The Arrow schema of batches with these columns.
pub fn schema_of(columns: &[Column]) -> SchemaRef {
    schema_with_op(columns, false)
}

/// The name of the trailing column of an updating stream's batches: the kind of each row
/// as a [`crate::sql::RowKind`] code (Int8: 0 `+I`, 1 `-U`, 2 `+U`, 3 `-D`).
pub const OP_COLUMN: &str = "$op";

/// The Arrow schema of batches with these columns, plus the [`OP_COLUMN`] when `updating`.
pub fn schema_with_op(columns: &[Column], updating: bool) -> SchemaRef {
    let names = field_names(columns);
    let mut fields: Vec<Field> = columns
        .iter()
        .zip(&names)
        .map(|(c, n)| Field::new(n, c.ty.arrow(), true))
        .collect();
    if updating {
        fields.push(Field::new(
            OP_COLUMN,
            arrow::datatypes::DataType::Int8,
            false,
        ));
    }
    Arc::new(Schema::new(fields))
}

/// Flink's `Calc`: an optional filter, then a projection, evaluated a batch at a time.
/// Over an updating stream the row kinds (the last column) pass through unchanged.
#[derive(Debug, Clone)]
pub struct Calc {
    /// Rows where this is true are kept.
    pub filter: Option<TypedExpr>,
    /// The output columns.
    pub exprs: Vec<TypedExpr>,
    /// The output schema (with the [`OP_COLUMN`] last when `keep_op`).
    pub schema: SchemaRef,
    /// Whether the input's last column is the [`OP_COLUMN`], carried to the output.
    pub keep_op: bool,
    /// Common subexpressions ([`cse`]), computed once as extra columns before the filter
    /// and after it; `filter` and `exprs` read them.
    pub shared: [Vec<TypedExpr>; 2],
    /// Columns of every input batch (the op column included): the shared columns are
    /// numbered from here at plan time.
    pub width: usize,
}

impl Calc {
    /// Apply to one batch.
    ///
    /// # Errors
    /// An expression failed (division by zero...).
    pub fn apply(&self, batch: RecordBatch) -> Result<RecordBatch> {
        let width = batch.num_columns();
        // Shared columns are numbered from the planned width.
        let sharing = !(self.shared[0].is_empty() && self.shared[1].is_empty());
        if sharing && width != self.width {
            return Err(Error::Internal(format!(
                "calc planned for {} input columns got a batch of {width}",
                self.width
            )));
        }
        let batch = cse::extend(batch, &self.shared[0])?;
        let batch = match &self.filter {
            Some(f) => {
                let mask = f.evaluate(&batch)?;
                let mask = mask
                    .as_any()
                    .downcast_ref::<BooleanArray>()
                    .ok_or_else(|| Error::Internal("filter did not give BOOLEAN".into()))?;
                // SQL keeps a row only where the condition is TRUE: nulls become false.
                let mask = match mask.logical_nulls() {
                    Some(n) if n.null_count() > 0 => {
                        BooleanArray::new(mask.values() & n.inner(), None)
                    }
                    _ => BooleanArray::new(mask.values().clone(), None),
                };
                if mask.true_count() == batch.num_rows() {
                    batch
                } else {
                    filter_record_batch(&batch, &mask)?
                }
            }
            None => batch,
        };
        let batch = cse::extend(batch, &self.shared[1])?;
        let mut columns: Vec<ArrayRef> = self
            .exprs
            .iter()
            .map(|e| e.evaluate(&batch))
            .collect::<Result<_>>()?;
        if self.keep_op {
            let last = width
                .checked_sub(1)
                .ok_or_else(|| Error::Internal("updating batch without its row kinds".into()))?;
            columns.push(batch.column(last).clone());
        }
        let options =
            arrow::array::RecordBatchOptions::new().with_row_count(Some(batch.num_rows()));
        Ok(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?)
    }
}

/// Add a `Calc` after `rel`: keep rows where `filter` holds, then compute `exprs` into
/// `columns`. A projection that keeps every column in place and no filter is skipped.
pub fn calc(
    rel: Rel,
    filter: Option<TypedExpr>,
    exprs: Vec<TypedExpr>,
    columns: Vec<Column>,
) -> Rel {
    calc_inner(rel, filter, exprs, columns, false)
}

/// [`calc`], always adding the operator: after an operator whose output field names are
/// its own (a join's `_right` suffixes), so the batches get this crate's names again.
pub fn calc_always(
    rel: Rel,
    filter: Option<TypedExpr>,
    exprs: Vec<TypedExpr>,
    columns: Vec<Column>,
) -> Rel {
    calc_inner(rel, filter, exprs, columns, true)
}

fn calc_inner(
    rel: Rel,
    filter: Option<TypedExpr>,
    exprs: Vec<TypedExpr>,
    columns: Vec<Column>,
    always: bool,
) -> Rel {
    let identity = !always
        && filter.is_none()
        && exprs.len() == rel.columns.len()
        && exprs
            .iter()
            .enumerate()
            .all(|(i, e)| e.as_column() == Some(i))
        && field_names(&columns) == rel.field_names();
    if identity {
        let mut rel = rel;
        for (c, n) in rel.columns.iter_mut().zip(columns) {
            c.qualifier = n.qualifier;
            c.rowtime = n.rowtime;
        }
        return rel.sync_time();
    }
    let mut text = String::from("Calc(select=[");
    text.push_str(
        &exprs
            .iter()
            .zip(&columns)
            .map(|(e, c)| {
                let e = e.to_string();
                if e == c.name {
                    e
                } else {
                    format!("{e} AS {}", c.name)
                }
            })
            .collect::<Vec<_>>()
            .join(", "),
    );
    text.push(']');
    if let Some(f) = &filter {
        text.push_str(&format!(", where=[{f}]"));
    }
    let origin = rel
        .origin
        .as_ref()
        .map(|o| Box::new(o.project(&exprs, filter.is_some())));
    let (mut filter, mut exprs) = (filter, exprs);
    let width = rel.columns.len() + usize::from(rel.updating);
    let shared = cse::share(&mut filter, &mut exprs, width);
    let once: Vec<String> = shared.iter().flatten().map(|e| e.to_string()).collect();
    if !once.is_empty() {
        text.push_str(&format!(", once=[{}]", once.join(", ")));
    }
    text.push(')');
    let op = Arc::new(Calc {
        filter,
        exprs,
        schema: schema_with_op(&columns, rel.updating),
        keep_op: rel.updating,
        shared,
        width,
    });
    // The same Calc over the same stream is built once (sub-plan reuse).
    let key = rel.stream.reuse_key(&format!("{text} {:?}", op.schema));
    let env = rel.stream.env.clone();
    let stream = env.reuse(key, || {
        rel.stream.map_batches(move |b| op.apply(b)).name("Calc")
    });
    Rel {
        stream,
        columns,
        window: None,
        windowed: None,
        updating: rel.updating,
        plan: PlanNode::new(text, vec![rel.plan]),
        origin,
    }
    .sync_time()
}
