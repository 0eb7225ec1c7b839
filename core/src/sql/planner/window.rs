//! Window table functions: `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size))`, `HOP(..., slide,
//! size)`, `CUMULATE(..., step, size)`.
//!
//! A TVF does not add an operator by itself: its relation keeps the three window columns
//! pending ([`PendingWindow`]) so that the `GROUP BY window_start, window_end` after it runs
//! as one window aggregate. Used any other way, [`materialize`] adds an operator that
//! computes `window_start`, `window_end` and `window_time` per row (a row is repeated once
//! per window it belongs to, for hopping and cumulative windows).

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow::compute::take;
use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments};

use super::rel::{schema_of, PendingWindow, PlanNode, Rel, Windowed};
use super::{loc, Planner};
use crate::error::{Error, Result};
use crate::sql::dialect::{sql_error, TABLE_ARG};
use crate::sql::expr::interval_millis;
use crate::sql::types::{Column, SqlType};
use crate::window::WindowAssigner;

/// The columns a window adds, in order.
pub const WINDOW_COLUMNS: [&str; 3] = ["window_start", "window_end", "window_time"];

/// The arguments of a call, as expressions.
pub(crate) fn call_args(f: &sqlparser::ast::Function) -> Vec<&Expr> {
    match &f.args {
        FunctionArguments::List(l) => l
            .args
            .iter()
            .filter_map(|a| match a {
                FunctionArg::Unnamed(FunctionArgExpr::Expr(e))
                | FunctionArg::Named {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                }
                | FunctionArg::ExprNamed {
                    arg: FunctionArgExpr::Expr(e),
                    ..
                } => Some(e),
                _ => None,
            })
            .collect(),
        _ => vec![],
    }
}

fn millis(e: &Expr) -> Result<Duration> {
    let ms = interval_millis(e)?;
    if ms <= 0 {
        return Err(sql_error(loc(e), "a window size must be positive"));
    }
    Ok(Duration::from_millis(ms as u64))
}

/// Plan `TUMBLE(...)`, `HOP(...)` or `CUMULATE(...)` in `FROM TABLE(...)`.
pub(crate) fn plan_tvf(planner: &mut Planner<'_>, expr: &Expr) -> Result<Rel> {
    let Expr::Function(f) = expr else {
        return Err(sql_error(loc(expr), "expected a window table function"));
    };
    let name = f.name.to_string().to_uppercase();
    let args = call_args(f);
    let table = match args.first() {
        Some(Expr::Function(t)) if t.name.to_string() == TABLE_ARG => call_args(t)
            .first()
            .map(|e| e.to_string())
            .unwrap_or_default(),
        _ => {
            return Err(sql_error(
                loc(expr),
                format!("{name}: the first argument must be TABLE name"),
            ))
        }
    };
    let time_name = match args.get(1) {
        Some(Expr::Function(d)) if d.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => {
            call_args(d)
                .first()
                .map(|e| e.to_string())
                .unwrap_or_default()
        }
        _ => {
            return Err(sql_error(
                loc(expr),
                format!("{name}: the second argument must be DESCRIPTOR(time_column)"),
            ))
        }
    };
    let sizes: Vec<Duration> = args[2..].iter().map(|e| millis(e)).collect::<Result<_>>()?;
    let assigner = match (name.as_str(), sizes.as_slice()) {
        ("TUMBLE", [size]) => WindowAssigner::tumble(*size),
        ("HOP", [slide, size]) => WindowAssigner::hop(*size, *slide),
        ("CUMULATE", [step, size]) => WindowAssigner::cumulate(*size, *step),
        ("SESSION", _) => {
            return Err(sql_error(
                loc(expr),
                "the SESSION window TVF is not supported yet; use GROUP BY SESSION(ts, gap)",
            ))
        }
        _ => {
            return Err(sql_error(
                loc(expr),
                format!(
                    "No match found for window function {name} with {} size arguments",
                    sizes.len()
                ),
            ))
        }
    };
    assigner
        .validate()
        .map_err(|e| sql_error(loc(expr), e.to_string()))?;
    let rel = planner.named(&table, loc(expr))?;
    let rel = materialize(rel)?;
    let Some(time) = rel.columns.iter().position(|c| c.name == time_name) else {
        return Err(sql_error(
            loc(expr),
            format!("Column '{time_name}' not found in table '{table}'"),
        ));
    };
    let processing_time = rel.columns[time].proctime && !rel.columns[time].rowtime;
    if !rel.columns[time].rowtime && !processing_time {
        return Err(sql_error(
            loc(expr),
            format!(
                "the DESCRIPTOR column '{time_name}' must be a time attribute (a column with a \
                 WATERMARK, or PROCTIME())"
            ),
        ));
    }
    let base_columns = rel.columns.len();
    let mut columns = rel.columns.clone();
    for (i, n) in WINDOW_COLUMNS.iter().enumerate() {
        let mut c = Column::new(*n, SqlType::Timestamp(3));
        c.nullable = false;
        c.rowtime = i == 2;
        c.qualifier = Some(table.clone());
        columns.push(c);
    }
    // The input's own time column stays the event time until the window columns exist.
    columns[time].rowtime = true;
    let plan = PlanNode::new(
        format!(
            "WindowTableFunction(window=[{name}({time_name}, {})])",
            describe(&assigner)
        ),
        vec![rel.plan.clone()],
    );
    Ok(Rel {
        columns,
        window: Some(PendingWindow {
            assigner,
            time,
            base_columns,
            processing_time,
        }),
        windowed: None,
        plan,
        ..rel
    })
}

/// A short text for a window assigner.
pub(crate) fn describe(a: &WindowAssigner) -> String {
    match a {
        WindowAssigner::Tumble { size, .. } => format!("size={size} ms"),
        WindowAssigner::Hop { size, slide, .. } => format!("size={size} ms, slide={slide} ms"),
        WindowAssigner::Session { gap } => format!("gap={gap} ms"),
        WindowAssigner::Cumulate { max_size, step, .. } => {
            format!("max_size={max_size} ms, step={step} ms")
        }
    }
}

/// Compute a pending window's columns (a no-op for a relation without one).
///
/// # Errors
/// A session window (which has no per-row form).
pub(crate) fn materialize(rel: Rel) -> Result<Rel> {
    let Some(w) = rel.window.clone() else {
        return Ok(rel);
    };
    let assigner = w.assigner;
    let time = w.time;
    let mut columns = rel.columns.clone();
    // After the window columns exist, `window_time` is the event time.
    columns[time].rowtime = false;
    let schema = schema_of(&columns);
    let stream = rel
        .stream
        .map_batches(move |b| assign(&b, time, &assigner, &schema))
        .name("WindowTableFunction");
    let base = w.base_columns;
    Ok(Rel {
        stream,
        columns,
        window: None,
        windowed: Some(Windowed {
            assigner,
            start: base,
            end: base + 1,
        }),
        updating: rel.updating,
        plan: rel.plan,
    }
    .sync_time())
}

/// The windows of each row: repeat the row once per window, append start, end, end - 1.
fn assign(
    b: &RecordBatch,
    time: usize,
    assigner: &WindowAssigner,
    schema: &arrow::datatypes::SchemaRef,
) -> Result<RecordBatch> {
    let ts = b
        .column(time)
        .as_any()
        .downcast_ref::<TimestampMillisecondArray>()
        .ok_or_else(|| Error::Internal("window time column is not TIMESTAMP(3)".into()))?;
    let n = b.num_rows();
    let mut rows: Vec<u32> = Vec::with_capacity(n);
    let mut starts: Vec<i64> = Vec::with_capacity(n);
    let mut ends: Vec<i64> = Vec::with_capacity(n);
    for i in 0..n {
        if ts.is_null(i) {
            continue;
        }
        let t = ts.value(i);
        match *assigner {
            WindowAssigner::Tumble { size, offset } => {
                let s = t - (t - offset).rem_euclid(size);
                rows.push(i as u32);
                starts.push(s);
                ends.push(s + size);
            }
            WindowAssigner::Hop {
                size,
                slide,
                offset,
            } => {
                let last = t - (t - offset).rem_euclid(slide);
                let mut s = last;
                while s > t - size {
                    rows.push(i as u32);
                    starts.push(s);
                    ends.push(s + size);
                    s -= slide;
                }
            }
            WindowAssigner::Cumulate {
                max_size,
                step,
                offset,
            } => {
                let s = t - (t - offset).rem_euclid(max_size);
                let mut e = t - (t - offset).rem_euclid(step) + step;
                while e <= s + max_size {
                    rows.push(i as u32);
                    starts.push(s);
                    ends.push(e);
                    e += step;
                }
            }
            WindowAssigner::Session { .. } => {
                return Err(Error::Unsupported(
                    "session windows have no per-row window columns".into(),
                ))
            }
        }
    }
    let idx = UInt32Array::from(rows);
    let mut cols: Vec<ArrayRef> = b
        .columns()
        .iter()
        .map(|c| take(c, &idx, None))
        .collect::<std::result::Result<_, _>>()?;
    let times: Vec<i64> = ends.iter().map(|e| e - 1).collect();
    cols.push(Arc::new(TimestampMillisecondArray::from(starts)));
    cols.push(Arc::new(TimestampMillisecondArray::from(ends)));
    cols.push(Arc::new(TimestampMillisecondArray::from(times)));
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}
