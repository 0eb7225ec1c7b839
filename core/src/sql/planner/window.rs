//! Window table functions: `TABLE(TUMBLE(TABLE t, DESCRIPTOR(ts), size [, offset]))`,
//! `HOP(..., slide, size [, offset])`, `CUMULATE(..., step, size [, offset])` and
//! `SESSION(TABLE t [PARTITION BY k | PARTITION BY (k1, k2)], DESCRIPTOR(ts), gap)`, with
//! positional or named arguments (`DATA => TABLE t, TIMECOL => DESCRIPTOR(ts), SIZE => ...`,
//! in the declared order, as Flink takes them).
//!
//! A TVF does not add an operator by itself: its relation keeps the three window columns
//! pending ([`PendingWindow`]) so that the `GROUP BY window_start, window_end` after it runs
//! as one window aggregate. Used any other way, [`materialize`] adds an operator that
//! computes `window_start`, `window_end` and `window_time` per row:
//!
//! ```text
//!  TUMBLE / HOP / CUMULATE:  batch ─▶ assign (a row repeated once per window it is in)
//!                                  ─▶ [columns..., window_start, window_end, window_time]
//!  SESSION:  batch ─▶ key_by(partition) ─▶ session windows (rows held until their session
//!            closes, see operator::window::session) ─▶ each session's rows with its bounds
//! ```
//!
//! Flink's checks are made here, with its messages: argument counts, `PARTITION BY` only on
//! `SESSION`, a time attribute as the `DESCRIPTOR` column, `abs(offset) < size` for
//! `TUMBLE`, a positive gap, a `CUMULATE` size that is a multiple of its step.

use std::sync::Arc;
use std::time::Duration;

use arrow::array::{Array, ArrayRef, RecordBatch, TimestampMillisecondArray, UInt32Array};
use arrow::compute::take;
use sqlparser::ast::{Expr, FunctionArg, FunctionArgExpr, FunctionArguments};
use sqlparser::tokenizer::Location;

use super::rel::{calc, field_names, schema_of, PendingWindow, PlanNode, Rel, Windowed};
use super::{identity, loc, Planner};
use crate::error::{Error, Result};
use crate::sql::dialect::{sql_error, PARTITION_ARG, TABLE_ARG};
use crate::sql::expr::{interval_millis, TypedExpr};
use crate::sql::types::{Column, SqlType};
use crate::window::{WindowAssigner, WindowInfo};

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

/// A window table function's parameters in their declared order (the names its named
/// arguments take), and how many of them are required (the rest is the offset).
fn parameters(name: &str) -> Option<(&'static [&'static str], usize)> {
    Some(match name {
        "TUMBLE" => (&["DATA", "TIMECOL", "SIZE", "OFFSET"], 3),
        "HOP" => (&["DATA", "TIMECOL", "SLIDE", "SIZE", "OFFSET"], 4),
        "CUMULATE" => (&["DATA", "TIMECOL", "STEP", "SIZE", "OFFSET"], 4),
        "SESSION" => (&["DATA", "TIMECOL", "GAP"], 3),
        _ => return None,
    })
}

/// The arguments of a window table function call, in declared order. Named arguments must
/// name every argument, in the declared order: Flink fails on any other use of them.
fn tvf_args<'a>(
    f: &'a sqlparser::ast::Function,
    name: &str,
    params: &[&str],
    at: Location,
) -> Result<Vec<&'a Expr>> {
    let FunctionArguments::List(list) = &f.args else {
        return Ok(Vec::new());
    };
    let order = || {
        sql_error(
            at,
            format!(
                "{name}: named arguments must name every argument, in the order {}",
                params.join(", ")
            ),
        )
    };
    let mut args = Vec::with_capacity(list.args.len());
    let mut named = 0;
    for (i, a) in list.args.iter().enumerate() {
        let (arg_name, e) = match a {
            FunctionArg::Unnamed(FunctionArgExpr::Expr(e)) => (None, e),
            FunctionArg::Named {
                name,
                arg: FunctionArgExpr::Expr(e),
                ..
            }
            | FunctionArg::ExprNamed {
                name: Expr::Identifier(name),
                arg: FunctionArgExpr::Expr(e),
                ..
            } => (Some(name), e),
            other => {
                return Err(sql_error(
                    at,
                    format!("{name}: unexpected argument {other}"),
                ))
            }
        };
        if let Some(n) = arg_name {
            named += 1;
            if !params
                .get(i)
                .is_some_and(|p| p.eq_ignore_ascii_case(&n.value))
            {
                return Err(order());
            }
        }
        args.push(e);
    }
    if named > 0 && named != args.len() {
        return Err(order());
    }
    Ok(args)
}

/// Flink's spelling of a type in its window function messages (`VARCHAR(2147483647)`).
fn flink_type(t: SqlType) -> String {
    match t {
        SqlType::Varchar(n) => format!("VARCHAR({n})"),
        other => other.to_string(),
    }
}

/// The `TABLE t [PARTITION BY ...]` argument: the table's name, and the partition columns
/// as written.
fn data_arg<'a>(arg: &'a Expr, name: &str, at: Location) -> Result<(String, Vec<&'a Expr>)> {
    match arg {
        Expr::Function(t) if t.name.to_string() == TABLE_ARG => {
            let args = call_args(t);
            let table = args.first().map(|e| e.to_string()).unwrap_or_default();
            let partition = match args.get(1) {
                Some(Expr::Function(p)) if p.name.to_string() == PARTITION_ARG => call_args(p),
                _ => Vec::new(),
            };
            Ok((table, partition))
        }
        _ => Err(sql_error(
            at,
            format!("{name}: the first argument must be TABLE name"),
        )),
    }
}

/// Plan `TUMBLE(...)`, `HOP(...)`, `CUMULATE(...)` or `SESSION(...)` in `FROM TABLE(...)`.
pub(crate) fn plan_tvf(planner: &mut Planner<'_>, expr: &Expr) -> Result<Rel> {
    let Expr::Function(f) = expr else {
        return Err(sql_error(loc(expr), "expected a window table function"));
    };
    let at = loc(expr);
    let name = f.name.to_string().to_uppercase();
    let Some((params, required)) = parameters(&name) else {
        return Err(sql_error(
            at,
            format!("No match found for window function {name}"),
        ));
    };
    let args = tvf_args(f, &name, params, at)?;
    if args.len() < required || args.len() > params.len() {
        return Err(sql_error(
            at,
            format!(
                "Invalid number of arguments to function '{name}'. Was expecting {required} \
                 arguments"
            ),
        ));
    }
    let (table, partition_args) = data_arg(args[0], &name, at)?;
    if !partition_args.is_empty() && name != "SESSION" {
        return Err(sql_error(
            at,
            format!(
                "Only tables with set semantics may be partitioned. Invalid PARTITION BY \
                 clause in the 0-th operand of table function '{name}'"
            ),
        ));
    }
    let time_arg = match args[1] {
        Expr::Function(d) if d.name.to_string().eq_ignore_ascii_case("DESCRIPTOR") => {
            call_args(d).first().copied()
        }
        _ => None,
    };
    let Some(time_arg) = time_arg else {
        return Err(sql_error(
            at,
            format!("{name}: the second argument must be DESCRIPTOR(time_column)"),
        ));
    };
    let assigner = assigner(&name, &args[2..], at)?;
    let time_name = time_arg.to_string();
    let rel = planner.named(&table, at)?;
    let rel = materialize(rel)?;
    let Some(time) = rel.columns.iter().position(|c| c.name == time_name) else {
        return Err(sql_error(
            loc(time_arg),
            format!("Unknown identifier '{time_name}'"),
        ));
    };
    let time_col = &rel.columns[time];
    if !matches!(
        time_col.ty,
        SqlType::Timestamp(_) | SqlType::TimestampLtz(_)
    ) {
        let signature = match name.as_str() {
            "SESSION" => "SESSION(TABLE table_name [PARTITION BY (keycols, ...)], \
                          DESCRIPTOR(timecol), datetime interval)"
                .to_string(),
            other => format!("{other}(TABLE table_name, DESCRIPTOR(timecol), ...)"),
        };
        return Err(sql_error(
            at,
            format!(
                "The window function {signature} requires the timecol to be TIMESTAMP or \
                 TIMESTAMP_LTZ, but is {}.",
                flink_type(time_col.ty)
            ),
        ));
    }
    let processing_time = time_col.proctime && !time_col.rowtime;
    if !time_col.rowtime && !processing_time {
        return Err(sql_error(
            at,
            format!(
                "The window function requires the timecol is a time attribute type, but is {}.",
                flink_type(time_col.ty)
            ),
        ));
    }
    let mut partition = Vec::with_capacity(partition_args.len());
    for p in &partition_args {
        let key = p.to_string();
        match rel.columns.iter().position(|c| c.name == key) {
            Some(i) => partition.push(i),
            None => {
                return Err(sql_error(
                    loc(*p),
                    format!("Column '{key}' not found in table '{table}'"),
                ))
            }
        }
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
    let partition_text = if partition.is_empty() {
        String::new()
    } else {
        let keys: Vec<&str> = partition
            .iter()
            .map(|&i| rel.columns[i].name.as_str())
            .collect();
        format!(", partitionBy=[{}]", keys.join(", "))
    };
    let plan = PlanNode::new(
        format!(
            "WindowTableFunction(window=[{name}({time_name}, {}){partition_text}])",
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
            partition,
            filters: Vec::new(),
        }),
        windowed: None,
        plan,
        ..rel
    })
}

/// The window of `name` with its size arguments (after `DATA` and `TIMECOL`).
fn assigner(name: &str, sizes: &[&Expr], at: Location) -> Result<WindowAssigner> {
    let offset = |i: usize| -> Result<i64> { sizes.get(i).map_or(Ok(0), |e| interval_millis(e)) };
    let ms = |i: usize| -> Result<i64> { Ok(millis(sizes[i])?.as_millis() as i64) };
    Ok(match name {
        "TUMBLE" => {
            let (size, offset) = (ms(0)?, offset(1)?);
            if offset.unsigned_abs() >= size.unsigned_abs() {
                return Err(sql_error(
                    at,
                    format!(
                        "TUMBLE table function parameters must satisfy abs(offset) < size, but \
                         got size {size} ms and offset {offset} ms."
                    ),
                ));
            }
            WindowAssigner::Tumble { size, offset }
        }
        "HOP" => {
            let (slide, size) = (interval_millis(sizes[0])?, interval_millis(sizes[1])?);
            if slide <= 0 || size <= 0 {
                return Err(sql_error(
                    at,
                    format!(
                        "HOP table function based aggregate requires slide and size to be \
                         positive, but got slide {slide} ms and size {size} ms."
                    ),
                ));
            }
            WindowAssigner::Hop {
                size,
                slide,
                offset: offset(2)?,
            }
        }
        "CUMULATE" => {
            let (step, max_size) = (ms(0)?, ms(1)?);
            if max_size % step != 0 {
                return Err(sql_error(
                    at,
                    format!(
                        "CUMULATE table function based aggregate requires maxSize must be an \
                         integral multiple of step, but got maxSize {max_size} ms and step \
                         {step} ms."
                    ),
                ));
            }
            WindowAssigner::Cumulate {
                max_size,
                step,
                offset: offset(2)?,
            }
        }
        _ => {
            let gap = interval_millis(sizes[0])?;
            if gap <= 0 {
                return Err(sql_error(
                    at,
                    format!(
                        "SESSION table function based aggregate requires gap to be positive, \
                         but got gap {gap} ms."
                    ),
                ));
            }
            WindowAssigner::Session { gap }
        }
    })
}

/// A short text for a window assigner.
pub(crate) fn describe(a: &WindowAssigner) -> String {
    let offset = |o: i64| {
        if o == 0 {
            String::new()
        } else {
            format!(", offset={o} ms")
        }
    };
    match *a {
        WindowAssigner::Tumble { size, offset: o } => format!("size={size} ms{}", offset(o)),
        WindowAssigner::Hop {
            size,
            slide,
            offset: o,
        } => format!("size={size} ms, slide={slide} ms{}", offset(o)),
        WindowAssigner::Session { gap } => format!("gap={gap} ms"),
        WindowAssigner::Cumulate {
            max_size,
            step,
            offset: o,
        } => format!("max_size={max_size} ms, step={step} ms{}", offset(o)),
    }
}

/// Compute a pending window's columns (a no-op for a relation without one).
///
/// # Errors
/// An arrow error planning the operators.
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
    // A window table function keeps every row (a session's waits for its session).
    let origin = match assigner {
        WindowAssigner::Session { .. } => None,
        _ => rel.origin.clone(),
    };
    let stream = match assigner {
        WindowAssigner::Session { .. } => {
            // Rows wait in their partition's session until it closes, then go out with its
            // bounds: Flink's unaligned window table function.
            let names = field_names(&rel.columns[..w.base_columns]);
            let mut input = rel.stream.clone();
            input.time_column = Some(names[time].clone());
            let keys: Vec<String> = w.partition.iter().map(|&i| names[i].clone()).collect();
            let mut windowed = if keys.is_empty() {
                input.window_all(assigner)
            } else {
                input.key_by(keys).window(assigner)
            };
            if w.processing_time {
                windowed = windowed.processing_time();
            }
            windowed.process(move |info, rows| Ok(Some(with_window(rows, info, &schema)?)))
        }
        _ => rel
            .stream
            .map_batches(move |b| assign(&b, time, &assigner, &schema))
            .name("WindowTableFunction"),
    };
    let base = w.base_columns;
    let out = Rel {
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
        origin,
    }
    .sync_time();
    // A session TVF's deferred WHERE, over the rows with their sessions' bounds.
    Ok(apply_filters(out, w.filters))
}

/// The deferred `WHERE` conditions of a `SESSION` TVF ([`PendingWindow::filters`]) over
/// `rel`: before its sessions form in a session window aggregate, after them elsewhere.
/// The window bounds, if `rel` has them, stay where they are.
pub(crate) fn apply_filters(mut rel: Rel, filters: Vec<TypedExpr>) -> Rel {
    for f in filters {
        let (cols, windowed) = (rel.columns.clone(), rel.windowed.clone());
        rel = calc(rel, Some(f), identity(&cols), cols);
        rel.windowed = windowed;
    }
    rel
}

/// `WHERE p` over a pending `SESSION` TVF: kept in the pending window (see
/// [`PendingWindow::filters`]) and `Some` of the relation; `None` for any other relation,
/// which the filter may run on at once.
pub(crate) fn defer_filter(rel: &Rel, p: &TypedExpr) -> Option<Rel> {
    match &rel.window {
        Some(w) if matches!(w.assigner, WindowAssigner::Session { .. }) => {
            let mut rel = rel.clone();
            if let Some(w) = &mut rel.window {
                w.filters.push(p.clone());
            }
            Some(rel)
        }
        _ => None,
    }
}

/// The rows of one window with its `window_start`, `window_end`, `window_time` appended.
fn with_window(
    rows: &RecordBatch,
    w: &WindowInfo,
    schema: &arrow::datatypes::SchemaRef,
) -> Result<RecordBatch> {
    let n = rows.num_rows();
    let mut cols: Vec<ArrayRef> = rows.columns().to_vec();
    for t in [w.start, w.end, w.max_timestamp()] {
        cols.push(Arc::new(TimestampMillisecondArray::from_value(t, n)));
    }
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
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
                return Err(Error::Internal(
                    "session windows are not assigned row by row".into(),
                ))
            }
        }
    }
    // Each row in exactly one window (a tumble without null times): the columns as they are.
    let identity = rows.len() == n && rows.iter().enumerate().all(|(i, &r)| r as usize == i);
    let mut cols: Vec<ArrayRef> = if identity {
        b.columns().to_vec()
    } else {
        let idx = UInt32Array::from(rows);
        b.columns()
            .iter()
            .map(|c| take(c, &idx, None))
            .collect::<std::result::Result<_, _>>()?
    };
    let times: Vec<i64> = ends.iter().map(|e| e - 1).collect();
    cols.push(Arc::new(TimestampMillisecondArray::from(starts)));
    cols.push(Arc::new(TimestampMillisecondArray::from(ends)));
    cols.push(Arc::new(TimestampMillisecondArray::from(times)));
    Ok(RecordBatch::try_new(schema.clone(), cols)?)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{AsArray, Int64Array, RecordBatch, StringArray};
    use arrow::datatypes::{DataType, Field, Int64Type, Schema};

    use crate::runtime::JobConfig;
    use crate::sql::{ConnectorRegistry, TableEnvironment};

    /// `t(k STRING, v BIGINT)` with 100 rows, and `pt`, the same with `p AS PROCTIME()`.
    fn env() -> TableEnvironment {
        let mut env = TableEnvironment::new(JobConfig::default(), ConnectorRegistry::new());
        let schema = Arc::new(Schema::new(vec![
            Field::new("k", DataType::Utf8, false),
            Field::new("v", DataType::Int64, false),
        ]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(StringArray::from_iter_values(
                    (0..100).map(|i| format!("k{}", i % 3)),
                )),
                Arc::new(Int64Array::from_iter_values(0..100)),
            ],
        )
        .unwrap();
        env.register_batches("t", schema, vec![batch]).unwrap();
        env.execute_sql("CREATE VIEW pt AS SELECT k, v, PROCTIME() AS p FROM t")
            .unwrap();
        env
    }

    fn total(env: &mut TableEnvironment, sql: &str) -> i64 {
        let r = env.sql_query(sql).unwrap();
        let rows = r.final_rows().unwrap();
        let i = rows.num_columns() - 1;
        rows.column(i)
            .as_primitive::<Int64Type>()
            .iter()
            .flatten()
            .sum()
    }

    #[test]
    fn processing_time_sessions_hold_every_row() {
        let mut env = env();
        // Grouped by the partition: one session window aggregate; otherwise the rows get
        // their sessions first. Every row ends in exactly one session either way.
        for sql in [
            "SELECT k, window_start, COUNT(*) FROM TABLE(SESSION(TABLE pt PARTITION BY k, \
             DESCRIPTOR(p), INTERVAL '1' MINUTE)) GROUP BY k, window_start, window_end",
            "SELECT window_start, COUNT(*) FROM TABLE(SESSION(TABLE pt PARTITION BY k, \
             DESCRIPTOR(p), INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
            "SELECT window_start, COUNT(*) FROM TABLE(SESSION(TABLE pt, DESCRIPTOR(p), \
             INTERVAL '1' MINUTE)) GROUP BY window_start, window_end",
        ] {
            assert_eq!(total(&mut env, sql), 100, "{sql}");
        }
        let r = env
            .sql_query("SELECT * FROM TABLE(SESSION(TABLE pt PARTITION BY k, DESCRIPTOR(p), INTERVAL '1' MINUTE))")
            .unwrap();
        assert_eq!(r.final_rows().unwrap().num_rows(), 100);
    }

    #[test]
    fn plans_name_the_session_window_and_its_partition() {
        let mut env = env();
        let direct = env
            .explain_sql(
                "SELECT k, COUNT(*) FROM TABLE(SESSION(TABLE pt PARTITION BY k, DESCRIPTOR(p), \
                 INTERVAL '5' SECOND)) GROUP BY k, window_start, window_end",
            )
            .unwrap();
        assert!(
            direct.contains("SESSION(p, gap=5000 ms), partitionBy=[k]"),
            "{direct}"
        );
        assert!(direct.contains("WindowAggregate(groupBy=[k]"), "{direct}");
        // Grouped by other columns: the bounds are grouping keys of a cascade.
        let cascade = env
            .explain_sql(
                "SELECT COUNT(*) FROM TABLE(SESSION(TABLE pt PARTITION BY k, DESCRIPTOR(p), \
                 INTERVAL '5' SECOND)) GROUP BY v, window_start, window_end",
            )
            .unwrap();
        assert!(
            cascade.contains("WindowAggregate(groupBy=[v, window_start, window_end]"),
            "{cascade}"
        );
    }
}
