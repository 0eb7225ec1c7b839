//! OVER aggregations: `SUM(x) OVER (PARTITION BY k ORDER BY ts ROWS BETWEEN 2 PRECEDING AND
//! CURRENT ROW)` and the `RANGE` forms, as Flink runs them: ordered by an event-time
//! attribute, one output row per input row, emitted once the watermark passes the row's
//! time. Every OVER call of one `SELECT` must share its window (as Flink requires).
//!
//! ```text
//!  FROM + WHERE ─▶ Calc [columns..., aggregate inputs $in, partition keys $p]
//!     ─▶ key_by($p) ─▶ OverAggregate ─▶ [..., $o0, $o1, ...] ─▶ SELECT list (OVER calls
//!        replaced by their $o columns)
//! ```

use std::ops::ControlFlow;

use sqlparser::ast::{self, Expr, Ident, SelectItem};
use sqlparser::tokenizer::Location;

use super::aggregate::agg_call;
use super::rel::{calc, Rel};
use super::{identity, loc, PlanNode, Planner};
use crate::error::Result;
use crate::operator::factory;
use crate::operator::over::{OverAggregate, OverCall, OverFrame};
use crate::sql::dialect::sql_error;
use crate::sql::expr::{compile, interval_millis};
use crate::sql::types::{Column, SqlType};
use millstream_kernels::agg::output_type;

/// The OVER calls of a select list: their text, where they are, and their window.
fn over_calls(items: &[SelectItem]) -> Vec<(String, Location, ast::Function)> {
    let mut out: Vec<(String, Location, ast::Function)> = Vec::new();
    for item in items {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            let _ = ast::visit_expressions(e, |x| {
                if let Expr::Function(f) = x {
                    if f.over.is_some() && !out.iter().any(|(t, _, _)| *t == f.to_string()) {
                        out.push((f.to_string(), loc(x), f.clone()));
                    }
                }
                ControlFlow::<()>::Continue(())
            });
        }
    }
    out
}

/// Whether the select list has an OVER call.
pub(super) fn has_over(items: &[SelectItem]) -> bool {
    !over_calls(items).is_empty()
}

/// The frame of a window spec (Flink's default: `RANGE UNBOUNDED PRECEDING`).
fn frame_of(spec: &ast::WindowSpec, at: Location) -> Result<OverFrame> {
    let Some(frame) = &spec.window_frame else {
        return Ok(OverFrame::Range { preceding_ms: None });
    };
    if !matches!(
        frame.end_bound,
        None | Some(ast::WindowFrameBound::CurrentRow)
    ) {
        return Err(sql_error(
            at,
            "OVER windows must end at CURRENT ROW (Flink supports no FOLLOWING bound)",
        ));
    }
    let preceding = match &frame.start_bound {
        ast::WindowFrameBound::Preceding(p) => p.as_deref(),
        ast::WindowFrameBound::CurrentRow => {
            return Ok(match frame.units {
                ast::WindowFrameUnits::Rows => OverFrame::Rows { preceding: Some(0) },
                _ => OverFrame::Range {
                    preceding_ms: Some(0),
                },
            })
        }
        ast::WindowFrameBound::Following(_) => {
            return Err(sql_error(
                at,
                "an OVER window cannot start after the current row",
            ))
        }
    };
    Ok(match frame.units {
        ast::WindowFrameUnits::Rows => OverFrame::Rows {
            preceding: match preceding {
                None => None,
                Some(Expr::Value(v)) => match &v.value {
                    ast::Value::Number(n, _) => Some(n.parse::<u64>().map_err(|_| {
                        sql_error(at, format!("ROWS {n} PRECEDING: not a row count"))
                    })?),
                    _ => return Err(sql_error(at, "ROWS n PRECEDING needs a number")),
                },
                Some(_) => return Err(sql_error(at, "ROWS n PRECEDING needs a number")),
            },
        },
        ast::WindowFrameUnits::Range => OverFrame::Range {
            preceding_ms: preceding.map(interval_millis).transpose()?,
        },
        ast::WindowFrameUnits::Groups => {
            return Err(sql_error(at, "GROUPS frames are not supported by Flink"))
        }
    })
}

/// The window spec `WINDOW name AS ...` of `select` defines (following references to
/// other named windows).
fn named_spec(select: &ast::Select, name: &Ident) -> Option<ast::WindowSpec> {
    let mut name = name.clone();
    for _ in 0..=select.named_window.len() {
        let def = select
            .named_window
            .iter()
            .find(|d| d.0.value == name.value)?;
        match &def.1 {
            ast::NamedWindowExpr::WindowSpec(spec) => return Some(spec.clone()),
            ast::NamedWindowExpr::NamedWindow(next) => name = next.clone(),
        }
    }
    None
}

/// `spec` with the window it builds on (`(w ORDER BY ...)`) merged in: the base's
/// `PARTITION BY`, `ORDER BY` and frame where `spec` has none, as in SQL and Flink.
fn inherit(select: &ast::Select, mut spec: ast::WindowSpec) -> Option<ast::WindowSpec> {
    for _ in 0..=select.named_window.len() {
        let Some(base_name) = spec.window_name.take() else {
            return Some(spec);
        };
        let base = named_spec(select, &base_name)?;
        if spec.partition_by.is_empty() {
            spec.partition_by = base.partition_by;
        }
        if spec.order_by.is_empty() {
            spec.order_by = base.order_by;
        }
        if spec.window_frame.is_none() {
            spec.window_frame = base.window_frame;
        }
        spec.window_name = base.window_name;
    }
    None
}

/// `select` with every `OVER w` replaced by the window `w` stands for.
///
/// # Errors
/// [`Error::Sql`](crate::error::Error::Sql) at an `OVER w` with no `WINDOW w AS (...)`.
fn resolve_named_windows(select: &ast::Select) -> Result<ast::Select> {
    let mut out = select.clone();
    let mut missing: Option<(Location, String)> = None;
    let mut nested: Option<(Location, String)> = None;
    for item in &mut out.projection {
        let e = match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => e,
            _ => continue,
        };
        let _ = ast::visit_expressions_mut(e, |x| {
            if let Expr::Function(f) = x {
                let (spec, name) = match &f.over {
                    Some(ast::WindowType::NamedWindow(name)) => {
                        let spec = named_spec(select, name);
                        if let Some(base) = spec.as_ref().and_then(|s| s.window_name.as_ref()) {
                            // Flink (Calcite) drops such a definition's own frame: refused
                            // rather than answered differently.
                            nested.get_or_insert((name.span.start, base.value.clone()));
                            return ControlFlow::<()>::Continue(());
                        }
                        (spec, name.clone())
                    }
                    Some(ast::WindowType::WindowSpec(s)) => match &s.window_name {
                        Some(base) => (Some(s.clone()), base.clone()),
                        None => return ControlFlow::<()>::Continue(()),
                    },
                    None => return ControlFlow::<()>::Continue(()),
                };
                match spec.and_then(|s| inherit(select, s)) {
                    Some(spec) => f.over = Some(ast::WindowType::WindowSpec(spec)),
                    None => {
                        missing.get_or_insert((name.span.start, name.value.clone()));
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
    }
    if let Some((at, base)) = nested {
        return Err(sql_error(
            at,
            format!(
                "a WINDOW definition built on another window ('{base}') is not supported; \
                 write OVER ({base} ORDER BY ... ROWS ...) at the call"
            ),
        ));
    }
    match missing {
        Some((at, name)) => Err(sql_error(at, format!("Window '{name}' not found"))),
        None => Ok(out),
    }
}

/// Plan the select list of `select`, which has OVER calls, over `rel`.
pub(super) fn plan(planner: &mut Planner<'_>, rel: Rel, select: &ast::Select) -> Result<Rel> {
    let resolved = resolve_named_windows(select)?;
    let select = &resolved;
    let calls = over_calls(&select.projection);
    let Some((_, at, first)) = calls.first().cloned() else {
        return planner.project(rel, &select.projection);
    };
    let spec = match &first.over {
        Some(ast::WindowType::WindowSpec(s)) => s.clone(),
        Some(ast::WindowType::NamedWindow(w)) => {
            return Err(sql_error(at, format!("Window '{}' not found", w.value)))
        }
        None => return Err(sql_error(at, "an OVER aggregation without a window")),
    };

    for (_, at, f) in &calls {
        let same = matches!(&f.over, Some(ast::WindowType::WindowSpec(s)) if *s == spec);
        if !same {
            return Err(sql_error(
                *at,
                "all OVER aggregations of one SELECT must use the same window",
            ));
        }
        if f.name.to_string().eq_ignore_ascii_case("ROW_NUMBER") {
            return Err(sql_error(
                *at,
                "ROW_NUMBER() is supported for Top-N and deduplication: filter its result \
                 (WHERE rn <= N) in an outer query",
            ));
        }
    }
    let scope = rel.scope();
    let [order] = spec.order_by.as_slice() else {
        return Err(sql_error(
            at,
            "an OVER window must be ordered by exactly one time attribute",
        ));
    };
    let time = compile(&order.expr, &scope)?
        .as_column()
        .filter(|&i| rel.columns[i].rowtime || rel.columns[i].proctime)
        .ok_or_else(|| {
            sql_error(
                loc(&order.expr),
                "OVER windows must be ordered by a time attribute: an event-time column \
                 (with a WATERMARK) or a processing-time one (PROCTIME())",
            )
        })?;
    let processing_time = !rel.columns[time].rowtime;
    if order.options.asc == Some(false) {
        return Err(sql_error(
            loc(&order.expr),
            "OVER windows must be ordered by time ascending",
        ));
    }
    let frame = frame_of(&spec, at)?;

    // Pre-Calc: every column, then the aggregate inputs, then the partition keys.
    let n = rel.columns.len();
    let mut exprs = identity(&rel.columns);
    let mut cols = rel.columns.clone();
    let mut over = Vec::new();
    let mut out_types = Vec::new();
    for (i, (text, at, f)) in calls.iter().enumerate() {
        let mut plain = f.clone();
        plain.over = None;
        let call = agg_call(&plain, &Expr::Function(plain.clone()))?;
        if call.distinct {
            return Err(sql_error(
                *at,
                "DISTINCT in an OVER aggregation is not supported yet",
            ));
        }
        let input = match &call.arg {
            Some(arg) => {
                let t = compile(arg, &scope)?;
                let ty = output_type(call.kind, Some(&t.ty().arrow()))
                    .map_err(|e| sql_error(*at, format!("{text}: {e}")))?;
                out_types.push(SqlType::from_arrow(&ty)?);
                cols.push(Column::new(format!("$in{i}"), t.ty()));
                exprs.push(t);
                Some(exprs.len() - 1)
            }
            None => {
                out_types.push(SqlType::BigInt);
                None
            }
        };
        over.push(OverCall {
            kind: call.kind,
            input,
            name: format!("$o{i}"),
        });
    }
    let mut partition = Vec::new();
    for (i, p) in spec.partition_by.iter().enumerate() {
        let t = compile(p, &scope)?;
        cols.push(Column::new(format!("$p{i}"), t.ty()));
        exprs.push(t);
        partition.push(exprs.len() - 1);
    }
    let pre = calc(rel, None, exprs, cols.clone());
    let names = pre.field_names();
    let keys: Vec<String> = partition.iter().map(|&i| names[i].clone()).collect();
    let text = format!(
        "{}OverAggregate(partitionBy=[{}], orderBy=[{}], window=[{}], select=[{}])",
        if processing_time { "ProcTime" } else { "" },
        spec.partition_by
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        order,
        match frame {
            OverFrame::Rows { preceding: None } => "ROWS UNBOUNDED PRECEDING".to_string(),
            OverFrame::Rows { preceding: Some(n) } => format!("ROWS {n} PRECEDING"),
            OverFrame::Range { preceding_ms: None } => "RANGE UNBOUNDED PRECEDING".to_string(),
            OverFrame::Range {
                preceding_ms: Some(ms),
            } => format!("RANGE {ms} ms PRECEDING"),
        },
        calls
            .iter()
            .map(|(t, _, _)| t.clone())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let stream = pre.stream.key_by(keys).then_keyed(
        "OverAggregate",
        factory(move |_| {
            let op = OverAggregate::new(partition.clone(), time, frame, over.clone())?;
            Ok(if processing_time {
                op.with_processing_time()
            } else {
                op
            })
        }),
    );
    let mut out_cols = cols;
    for (i, ty) in out_types.into_iter().enumerate() {
        out_cols.push(Column::new(format!("$o{i}"), ty));
    }
    let over_rel = Rel {
        stream,
        columns: out_cols,
        window: None,
        windowed: None,
        updating: false,
        plan: PlanNode::new(text, vec![pre.plan]),
        origin: None,
    }
    .sync_time();
    debug_assert!(over_rel.columns.len() >= n);

    // The select list with every OVER call replaced by its column.
    let items: Vec<SelectItem> = select
        .projection
        .iter()
        .enumerate()
        .map(|(i, item)| {
            let rewrite = |e: &Expr| {
                let mut e = e.clone();
                let _ = ast::visit_expressions_mut(&mut e, |x| {
                    if let Expr::Function(f) = x {
                        if let Some(j) = calls.iter().position(|(t, _, _)| *t == f.to_string()) {
                            *x = Expr::Identifier(Ident::new(format!("$o{j}")));
                        }
                    }
                    ControlFlow::<()>::Continue(())
                });
                e
            };
            match item {
                SelectItem::UnnamedExpr(e) => SelectItem::ExprWithAlias {
                    expr: rewrite(e),
                    alias: Ident::new(super::output_name(e, i)),
                },
                SelectItem::ExprWithAlias { expr, alias } => SelectItem::ExprWithAlias {
                    expr: rewrite(expr),
                    alias: alias.clone(),
                },
                other => other.clone(),
            }
        })
        .collect();
    // `*` must not show the helper columns.
    if items.iter().any(|i| {
        matches!(
            i,
            SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
        )
    }) {
        return Err(sql_error(
            at,
            "SELECT * with OVER aggregations is not supported yet; list the columns",
        ));
    }
    planner.project(over_rel, &items)
}
