//! `GROUP BY` over windows: the window TVF form (`GROUP BY k, window_start, window_end`
//! after `TABLE(TUMBLE(...))`), the group-window form (`GROUP BY TUMBLE(ts, size), k` with
//! `TUMBLE_START(...)`), and a cascade (`GROUP BY window_start, window_end` over the result
//! of a window aggregation).
//!
//! ```text
//!  pre-Calc [keys..., aggregate inputs..., time] ─▶ key_by(keys) ─▶ window(assigner)
//!     ─▶ aggregate ─▶ [keys..., window_start, window_end, window_time, aggs...]
//!     ─▶ HAVING + SELECT list (Calc), with aggregate calls and key expressions replaced by
//!        the aggregate's columns
//! ```
//!
//! A `SESSION` TVF grouped by exactly its `PARTITION BY` columns is one session window
//! aggregate keyed by them (its `WHERE` applied before the sessions form, as Flink pushes it
//! there). Any other grouping of a session TVF first gives every row its session's bounds
//! ([`materialize`]) and then runs as a cascade keyed by the grouping columns and the bounds,
//! as Flink does (sessions of two partitions with equal bounds then share a group).
//!
//! `COUNT(DISTINCT x)`, `SUM(DISTINCT x)`, `AVG(DISTINCT x)` (with `FILTER` folded into the
//! input) run in the window operator; `MIN`/`MAX` need no distinct values. What Flink refuses
//! is refused with its message ([`check_flink_window_aggregate`], window columns not grouped).
//!
//! A `GROUP BY` without a window is `group.rs` (an updating result).

use std::ops::ControlFlow;
use std::time::Duration;

use sqlparser::ast::{self, Expr, Ident, SelectItem};

use super::extreme;
use super::rel::{calc, Rel, Windowed};
use super::window::{apply_filters, call_args, describe, materialize, WINDOW_COLUMNS};
use super::{identity, loc, PlanNode, Planner};
use crate::error::Result;
use crate::operator::window::AggSpec;
use crate::sql::dialect::sql_error;
use crate::sql::expr::{compile, interval_millis, is_aggregate_function, Scope, TypedExpr};
use crate::sql::types::{Column, SqlType};
use crate::window::WindowAssigner;
use millstream_kernels::agg::{output_type, AggKind};

/// One aggregate call of the query.
pub(super) struct AggCall {
    /// Its text, to find it again in the select list.
    pub(super) text: String,
    /// The aggregate function.
    pub(super) kind: AggKind,
    /// Its input (with any `FILTER` folded in as `CASE WHEN f THEN x END`).
    pub(super) arg: Option<Expr>,
    /// `COUNT(DISTINCT x)`, `SUM(DISTINCT x)`...
    pub(super) distinct: bool,
    /// Where the call is in the script.
    pub(super) at: sqlparser::tokenizer::Location,
}

/// The window the aggregation groups by.
enum Window {
    /// A window TVF's pending window.
    Tvf,
    /// `GROUP BY TUMBLE(ts, size)`.
    Group,
    /// `GROUP BY window_start, window_end` of an earlier window aggregation.
    Cascade(Windowed),
}

/// Plan the aggregation of `select` over `rel`.
pub(crate) fn plan(
    planner: &mut Planner<'_>,
    rel: Rel,
    select: &ast::Select,
    group_by: &[Expr],
) -> Result<Rel> {
    let scope = rel.scope();
    let resolves_to = |e: &Expr, idx: usize| -> bool {
        compile(e, &scope).ok().and_then(|t| t.as_column()) == Some(idx)
    };
    // Which window, and which GROUP BY items are its bounds.
    let mut window_items: Vec<usize> = Vec::new();
    let mut processing_time = false;
    let mut window = None;
    let mut assigner = None;
    let mut time = None;
    if let Some(w) = &rel.window {
        let (s, e, t) = (w.base_columns, w.base_columns + 1, w.base_columns + 2);
        for (i, g) in group_by.iter().enumerate() {
            if resolves_to(g, s) || resolves_to(g, e) || resolves_to(g, t) {
                window_items.push(i);
            }
        }
        if window_items.len() >= 2 {
            let grouped: Vec<bool> = [s, e, t]
                .iter()
                .map(|&c| group_by.iter().any(|g| resolves_to(g, c)))
                .collect();
            check_window_columns_grouped(select, &scope, [s, e, t], &grouped)?;
            if matches!(w.assigner, WindowAssigner::Session { .. })
                && !groups_by_partition(group_by, &window_items, &w.partition, &resolves_to)
            {
                // Sessions of other keys than the grouping's: each row gets its session's
                // bounds first, then the rows are grouped by them like any other columns.
                return plan(planner, materialize(rel)?, select, group_by);
            }
            window = Some(Window::Tvf);
            assigner = Some(w.assigner);
            time = Some(w.time);
            processing_time = w.processing_time;
        }
    }
    if window.is_none() {
        for (i, g) in group_by.iter().enumerate() {
            if let Expr::Function(f) = g {
                let name = f.name.to_string().to_uppercase();
                if matches!(name.as_str(), "TUMBLE" | "HOP" | "SESSION" | "CUMULATE") {
                    let (a, t) = group_window(&name, f, &scope, &rel)?;
                    window = Some(Window::Group);
                    window_items.push(i);
                    assigner = Some(a);
                    time = Some(t);
                    break;
                }
            }
        }
    }
    if window.is_none() {
        if let Some(wd) = &rel.windowed {
            let (mut has_s, mut has_e) = (false, false);
            for (i, g) in group_by.iter().enumerate() {
                if resolves_to(g, wd.start) {
                    has_s = true;
                } else if resolves_to(g, wd.end) {
                    has_e = true;
                } else {
                    continue;
                }
                window_items.push(i);
            }
            if has_s && has_e {
                window = Some(Window::Cascade(wd.clone()));
                assigner = Some(cascade_assigner(&wd.assigner));
            } else {
                window_items.clear();
            }
        }
    }
    let (Some(window), Some(assigner)) = (window, assigner) else {
        return super::group::plan(planner, rel, select, group_by);
    };
    if rel.updating {
        return Err(sql_error(
            loc(select),
            "a window aggregation over an updating input is not supported yet",
        ));
    }

    // The input: the TVF's base columns, or the whole relation.
    let base_len = match (&window, &rel.window) {
        (Window::Tvf, Some(w)) => w.base_columns,
        _ => rel.columns.len(),
    };
    let rel = if matches!(window, Window::Tvf) {
        rel
    } else {
        materialize(rel)?
    };
    let base = Scope::new(rel.columns[..base_len].to_vec());

    // Keys: the GROUP BY items that are not the window (a cascade keeps its bounds as keys).
    let mut key_exprs: Vec<(Expr, TypedExpr)> = Vec::new();
    for (i, g) in group_by.iter().enumerate() {
        let is_window = window_items.contains(&i);
        if is_window && !matches!(window, Window::Cascade(_)) {
            continue;
        }
        key_exprs.push((g.clone(), compile(g, &base)?));
    }

    let aggs = collect_calls(select)?;
    if !matches!(window, Window::Cascade(_)) {
        check_flink_window_aggregate(select, &aggs, &assigner, matches!(window, Window::Tvf))?;
    }

    // Pre-Calc: keys, aggregate inputs, time.
    let (mut pre_exprs, mut pre_cols, agg_specs, agg_cols) =
        pre_columns(&key_exprs, &aggs, &base, |k, t| {
            Ok(output_type(k, Some(t))?)
        })?;
    let time_expr = match (&window, time) {
        (Window::Cascade(wd), _) => end_minus_one(wd.end, &rel.columns[wd.end])?,
        (_, Some(t)) => TypedExpr::column(t, &rel.columns[t]).cast_to(SqlType::Timestamp(3))?,
        _ => return Err(sql_error(loc(select), "window without a time attribute")),
    };
    let mut tc = Column::new("$time", SqlType::Timestamp(3));
    tc.rowtime = true;
    pre_exprs.push(time_expr);
    pre_cols.push(tc);
    let mut pre_rel = rel.clone();
    pre_rel.columns.truncate(base_len);
    // A session TVF's WHERE runs before its sessions form, as Flink pushes it into the
    // window aggregate.
    let filters = pre_rel.window.take().map(|w| w.filters).unwrap_or_default();
    let pre_rel = apply_filters(pre_rel, filters);
    // The operator appends window columns of its own: keys that are the window bounds of a
    // cascade keep their SQL name (in `out_cols`) but get a field name of their own.
    let mut fields = pre_cols.clone();
    for (i, c) in fields[..key_exprs.len()].iter_mut().enumerate() {
        if WINDOW_COLUMNS.contains(&c.name.as_str()) {
            c.name = format!("$k{i}");
        }
    }
    let pre = calc(pre_rel, None, pre_exprs, fields);

    // The window aggregate.
    let names = pre.field_names();
    let keys: Vec<String> = names[..key_exprs.len()].to_vec();
    // The same aggregation of the same stream runs once (sub-plan reuse, as in q5).
    let key = pre.stream.reuse_key(&format!(
        "window_aggregate {keys:?} {assigner:?} {processing_time} {agg_specs:?}"
    ));
    // A global MAX or MIN first drops, per subtask, the rows below their window's running
    // extreme.
    let prefilter =
        extreme::aggregate_filter(&pre, keys.len(), &assigner, processing_time, &agg_specs);
    let origin =
        extreme::aggregate_origin(&pre, keys.len(), &assigner, processing_time, &agg_specs)
            .map(Box::new);
    let stream = pre.stream.env.clone().reuse(key, || {
        let input = match &prefilter {
            Some((f, _)) => pre.stream.transform("ExtremeFilter", f.clone()),
            None => pre.stream.clone(),
        };
        let mut windowed = if keys.is_empty() {
            input.window_all(assigner)
        } else {
            input.key_by(keys.clone()).window(assigner)
        };
        if processing_time {
            windowed = windowed.processing_time();
        }
        windowed.aggregate(agg_specs.clone())
    });
    let mut out_cols: Vec<Column> = pre_cols[..key_exprs.len()].to_vec();
    let win_qualifier = rel.columns.get(base_len).and_then(|c| c.qualifier.clone());
    let cascade = matches!(window, Window::Cascade(_));
    for (i, n) in WINDOW_COLUMNS.iter().enumerate() {
        let name = if cascade {
            format!("$w{i}")
        } else {
            n.to_string()
        };
        let mut c = Column::new(name, SqlType::Timestamp(3));
        c.nullable = false;
        c.rowtime = i == 2;
        c.window_end = i == 1 && !processing_time;
        c.qualifier = win_qualifier.clone();
        out_cols.push(c);
    }
    for (i, (ty, kind, _)) in agg_cols.iter().enumerate() {
        let mut c = Column::new(format!("$a{i}"), *ty);
        c.nullable = !matches!(kind, AggKind::Count | AggKind::CountNonNull);
        out_cols.push(c);
    }
    let nk = key_exprs.len();
    let windowed_info = match &window {
        Window::Cascade(wd) => {
            let find = |src: usize| {
                key_exprs
                    .iter()
                    .position(|(_, t)| t.as_column() == Some(src))
                    .unwrap_or(0)
            };
            Windowed {
                assigner: wd.assigner,
                start: find(wd.start),
                end: find(wd.end),
            }
        }
        _ => Windowed {
            assigner,
            start: nk,
            end: nk + 1,
        },
    };
    let plan_text = format!(
        "WindowAggregate(groupBy=[{}], window=[{}], select=[{}])",
        key_exprs
            .iter()
            .map(|(e, _)| e.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        describe(&assigner),
        aggs.iter()
            .map(|a| a.text.clone())
            .collect::<Vec<_>>()
            .join(", ")
    );
    let agg_rel = Rel {
        stream,
        columns: out_cols,
        window: None,
        windowed: Some(windowed_info),
        updating: false,
        plan: PlanNode::new(
            plan_text,
            vec![match prefilter {
                Some((_, text)) => PlanNode::new(text, vec![pre.plan]),
                None => pre.plan,
            }],
        ),
        origin,
    }
    .sync_time();

    finish(planner, agg_rel, select, &aggs, &agg_cols, &key_exprs)
}

/// The aggregate calls of the select list and `HAVING`, in order of appearance, each once.
pub(super) fn collect_calls(select: &ast::Select) -> Result<Vec<AggCall>> {
    let mut aggs: Vec<AggCall> = Vec::new();
    let mut visit = |e: &Expr| -> Result<()> {
        let mut err = None;
        let _ = ast::visit_expressions(e, |x| {
            if let Expr::Function(f) = x {
                if is_aggregate_function(&f.name.to_string()) {
                    match agg_call(f, x) {
                        Ok(a) => {
                            if !aggs.iter().any(|b| b.text == a.text) {
                                aggs.push(a);
                            }
                        }
                        Err(e) => err = Some(e),
                    }
                }
            }
            ControlFlow::<()>::Continue(())
        });
        err.map_or(Ok(()), Err)
    };
    for item in &select.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            visit(e)?;
        }
    }
    if let Some(h) = &select.having {
        visit(h)?;
    }

    Ok(aggs)
}

/// The result of one aggregate: its SQL type as computed, its kind, and the type Flink gives
/// it when that is narrower (the result is cast to it).
pub(super) type AggColumn = (SqlType, AggKind, Option<SqlType>);

/// The pre-aggregation columns: the keys, then one input per aggregate call (`$in{i}`);
/// with the aggregate specs (`$a{i}`) and the SQL type of each aggregate's result.
#[allow(clippy::type_complexity)]
pub(super) fn pre_columns(
    key_exprs: &[(Expr, TypedExpr)],
    aggs: &[AggCall],
    base: &Scope,
    result_type: impl Fn(AggKind, &arrow::datatypes::DataType) -> Result<arrow::datatypes::DataType>,
) -> Result<(Vec<TypedExpr>, Vec<Column>, Vec<AggSpec>, Vec<AggColumn>)> {
    let mut pre_exprs: Vec<TypedExpr> = Vec::new();
    let mut pre_cols: Vec<Column> = Vec::new();
    for (i, (e, t)) in key_exprs.iter().enumerate() {
        let mut c = match (t.as_column(), e) {
            (Some(src), Expr::Identifier(_) | Expr::CompoundIdentifier(_)) => Column {
                rowtime: false,
                ..base.columns[src].clone()
            },
            _ => Column::new(format!("$k{i}"), t.ty()),
        };
        c.nullable = t.nullable();
        pre_exprs.push(t.clone());
        pre_cols.push(c);
    }
    let mut agg_specs = Vec::new();
    let mut agg_cols = Vec::new();
    for (i, a) in aggs.iter().enumerate() {
        let input = match &a.arg {
            Some(arg) => {
                let t = compile(arg, base)?;
                let field = format!("$in{i}");
                let arrow = result_type(a.kind, &t.ty().arrow())
                    .map_err(|e| sql_error(loc(arg), format!("{}: {e}", a.text)))?;
                // Flink's SUM keeps a small integer type; the operators sum in BIGINT.
                let narrow = (a.kind == AggKind::Sum
                    && matches!(t.ty(), SqlType::Int | SqlType::SmallInt | SqlType::TinyInt))
                .then(|| t.ty());
                pre_cols.push(Column::new(field.clone(), t.ty()));
                pre_exprs.push(t);
                agg_cols.push((SqlType::from_arrow(&arrow)?, a.kind, narrow));
                Some(field)
            }
            None => {
                agg_cols.push((SqlType::BigInt, a.kind, None));
                None
            }
        };
        let spec = AggSpec::new(a.kind, input.as_deref(), format!("$a{i}"));
        agg_specs.push(if a.distinct { spec.distinct() } else { spec });
    }
    if agg_specs.is_empty() {
        // GROUP BY without aggregates still needs one per group: count and drop it.
        agg_specs.push(AggSpec::count("$a_unused"));
        agg_cols.push((SqlType::BigInt, AggKind::Count, None));
    }
    Ok((pre_exprs, pre_cols, agg_specs, agg_cols))
}

/// `HAVING` and the select list over an aggregation's result `agg_rel` (keys, then
/// whatever else, with aggregate `i` in column `$a{i}`): aggregate calls and key
/// expressions are replaced by the aggregate's columns.
pub(super) fn finish(
    planner: &mut Planner<'_>,
    agg_rel: Rel,
    select: &ast::Select,
    aggs: &[AggCall],
    agg_cols: &[AggColumn],
    key_exprs: &[(Expr, TypedExpr)],
) -> Result<Rel> {
    // HAVING and the select list, over the aggregate's columns.
    let rewrite = |e: &Expr| -> Expr {
        let mut e = e.clone();
        let _ = ast::visit_expressions_mut(&mut e, |x| {
            if let Expr::Function(f) = x {
                let text = f.to_string();
                if let Some(i) = aggs.iter().position(|a| a.text == text) {
                    let column = Expr::Identifier(Ident::new(format!("$a{i}")));
                    *x = match agg_cols.get(i).and_then(|c| c.2) {
                        Some(ty) => cast_expr(column, ty),
                        None => column,
                    };
                }
            }
            ControlFlow::<()>::Continue(())
        });
        let _ = ast::visit_expressions_mut(&mut e, |x| {
            let text = x.to_string();
            if let Some(i) = key_exprs
                .iter()
                .position(|(k, t)| t.as_column().is_none() && k.to_string() == text)
            {
                *x = Expr::Identifier(Ident::new(format!("$k{i}")));
            } else if let Expr::Function(f) = x {
                let name = f.name.to_string().to_uppercase();
                let col = match name.rsplit('_').next() {
                    Some("START") => Some("window_start"),
                    Some("END") => Some("window_end"),
                    Some("ROWTIME") => Some("window_time"),
                    _ => None,
                };
                let prefix = name.split('_').next().unwrap_or("");
                if let (Some(c), true) = (
                    col,
                    matches!(prefix, "TUMBLE" | "HOP" | "SESSION" | "CUMULATE"),
                ) {
                    *x = Expr::Identifier(Ident::new(c));
                }
            }
            ControlFlow::<()>::Continue(())
        });
        e
    };
    let mut post = agg_rel;
    if let Some(h) = &select.having {
        let p = compile(&rewrite(h), &post.scope())?;
        let exprs = identity(&post.columns);
        let cols = post.columns.clone();
        let w = post.windowed.clone();
        post = calc(post, Some(p), exprs, cols);
        post.windowed = w;
    }
    let items: Vec<SelectItem> = select
        .projection
        .iter()
        .map(|item| match item {
            SelectItem::UnnamedExpr(e) => {
                let r = rewrite(e);
                if &r == e {
                    SelectItem::UnnamedExpr(r)
                } else {
                    SelectItem::ExprWithAlias {
                        expr: r,
                        alias: Ident::new(super::output_name(e, 0)),
                    }
                }
            }
            SelectItem::ExprWithAlias { expr, alias } => SelectItem::ExprWithAlias {
                expr: rewrite(expr),
                alias: alias.clone(),
            },
            other => other.clone(),
        })
        .collect();
    // Unnamed non-column items keep Flink's `EXPR$i` by their position.
    let items: Vec<SelectItem> = items
        .into_iter()
        .enumerate()
        .map(|(i, item)| match item {
            SelectItem::ExprWithAlias { expr, alias } if alias.value == "EXPR$0" => {
                SelectItem::ExprWithAlias {
                    expr,
                    alias: Ident::new(format!("EXPR${i}")),
                }
            }
            other => other,
        })
        .collect();
    planner.project(post, &items)
}

/// `window_end - 1 ms`: the time of a window's result row, from its end column.
pub(crate) fn end_minus_one(end: usize, col: &Column) -> Result<TypedExpr> {
    let e = sqlparser::parser::Parser::new(&crate::sql::dialect::FlinkDialect)
        .try_with_sql("\"$end\" - INTERVAL '0.001' SECOND")
        .and_then(|mut p| p.parse_expr())
        .map_err(|e| crate::Error::Internal(e.to_string()))?;
    let scope = Scope::new(vec![Column::new("$end", col.ty)]);
    Ok(compile(&e, &scope)?.remap_columns(&|_| end))
}

/// The spacing of window ends: every window of `a` ends on a multiple of it (shifted by the
/// window's offset); session windows end anywhere (1 ms).
pub(crate) fn granularity(a: &WindowAssigner) -> i64 {
    match *a {
        WindowAssigner::Tumble { size, .. } => size,
        WindowAssigner::Hop { slide, .. } => slide,
        WindowAssigner::Cumulate { step, .. } => step,
        WindowAssigner::Session { .. } => 1,
    }
}

/// The tumbling windows a cascaded aggregation over the results of windows `a` fires by:
/// their `window_time` (end - 1) falls in the tumble ending with the window, so each result
/// window fires exactly when its input window did.
fn cascade_assigner(a: &WindowAssigner) -> WindowAssigner {
    let offset = match *a {
        WindowAssigner::Tumble { offset, .. }
        | WindowAssigner::Hop { offset, .. }
        | WindowAssigner::Cumulate { offset, .. } => offset,
        WindowAssigner::Session { .. } => 0,
    };
    WindowAssigner::Tumble {
        size: granularity(a),
        offset,
    }
}

/// Whether a session window TVF's aggregation groups by exactly its `PARTITION BY` columns
/// (besides the window): then one session window aggregate keyed by them does it all.
fn groups_by_partition(
    group_by: &[Expr],
    window_items: &[usize],
    partition: &[usize],
    resolves_to: &dyn Fn(&Expr, usize) -> bool,
) -> bool {
    let keys: Vec<&Expr> = group_by
        .iter()
        .enumerate()
        .filter(|(i, _)| !window_items.contains(i))
        .map(|(_, g)| g)
        .collect();
    keys.iter()
        .all(|g| partition.iter().any(|&p| resolves_to(g, p)))
        && partition
            .iter()
            .all(|&p| keys.iter().any(|g| resolves_to(g, p)))
}

/// Flink's rule that a window column read outside aggregate calls (in the select list or
/// `HAVING`) must be among the grouping columns: `window_cols` are the columns of
/// `window_start`, `window_end`, `window_time`, `grouped` says which are grouped by.
fn check_window_columns_grouped(
    select: &ast::Select,
    scope: &Scope,
    window_cols: [usize; 3],
    grouped: &[bool],
) -> Result<()> {
    let check = |e: &Expr| -> Result<()> {
        // Aggregate calls may read any column: take them out first.
        let mut outside = e.clone();
        let _ = ast::visit_expressions_mut(&mut outside, |x| {
            if matches!(x, Expr::Function(f) if is_aggregate_function(&f.name.to_string())) {
                *x = Expr::Value(ast::Value::Null.into());
            }
            ControlFlow::<()>::Continue(())
        });
        let found = ast::visit_expressions(&outside, |x| {
            if matches!(x, Expr::Identifier(_) | Expr::CompoundIdentifier(_)) {
                let col = compile(x, scope).ok().and_then(|t| t.as_column());
                if let Some(w) = col.and_then(|c| window_cols.iter().position(|&w| w == c)) {
                    if !grouped[w] {
                        return ControlFlow::Break(x.clone());
                    }
                }
            }
            ControlFlow::Continue(())
        });
        match found {
            ControlFlow::Break(x) => Err(sql_error(
                loc(&x),
                format!("Expression '{x}' is not being grouped"),
            )),
            ControlFlow::Continue(()) => Ok(()),
        }
    };
    for item in &select.projection {
        if let SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } = item {
            check(e)?;
        }
    }
    if let Some(h) = &select.having {
        check(h)?;
    }
    Ok(())
}

/// The name of a window's function, for messages.
fn window_name(a: &WindowAssigner) -> &'static str {
    match a {
        WindowAssigner::Tumble { .. } => "TUMBLE",
        WindowAssigner::Hop { .. } => "HOP",
        WindowAssigner::Session { .. } => "SESSION",
        WindowAssigner::Cumulate { .. } => "CUMULATE",
    }
}

/// What Flink refuses in a window aggregation (a window TVF's when `tvf`, else a group
/// window's), as it refuses it:
/// - `FIRST_VALUE` / `LAST_VALUE` where windows are merged (hopping and cumulating windows
///   are merged from slices; sessions merge): Flink's functions have no `merge`;
/// - `SUM(DISTINCT x)` over a `HOP` TVF: the sliced hopping aggregate retracts, and Flink's
///   `SUM` cannot;
/// - a `HOP` TVF whose size is not a multiple of its slide (it is cut into slices).
fn check_flink_window_aggregate(
    select: &ast::Select,
    aggs: &[AggCall],
    assigner: &WindowAssigner,
    tvf: bool,
) -> Result<()> {
    let name = window_name(assigner);
    let merging = match assigner {
        WindowAssigner::Tumble { .. } => false,
        WindowAssigner::Session { .. } | WindowAssigner::Hop { .. } => true,
        WindowAssigner::Cumulate { .. } => tvf,
    };
    for a in aggs {
        if merging && matches!(a.kind, AggKind::First | AggKind::Last) {
            return Err(sql_error(
                a.at,
                format!(
                    "{} is not supported in a {name} window aggregation: Flink merges these \
                     windows, and {} has no 'merge' method",
                    a.text,
                    a.kind.sql_name()
                ),
            ));
        }
        if tvf && a.distinct && a.kind == AggKind::Sum && name == "HOP" {
            return Err(sql_error(
                a.at,
                format!(
                    "{} is not supported in a HOP window aggregation: Flink's sliced hopping \
                     aggregate retracts values and its SUM does not support retraction",
                    a.text
                ),
            ));
        }
    }
    if let (true, WindowAssigner::Hop { size, slide, .. }) = (tvf, assigner) {
        if size % slide != 0 {
            return Err(sql_error(
                loc(select),
                format!(
                    "HOP table function based aggregate requires size must be an integral \
                     multiple of slide, but got size {size} ms and slide {slide} ms"
                ),
            ));
        }
    }
    Ok(())
}

/// `TUMBLE(ts, size)`, `HOP(ts, slide, size)`, `SESSION(ts, gap)`,
/// `CUMULATE(ts, step, size)` in `GROUP BY`: the assigner and the time column.
fn group_window(
    name: &str,
    f: &ast::Function,
    scope: &Scope,
    rel: &Rel,
) -> Result<(WindowAssigner, usize)> {
    let args = call_args(f);
    let at = loc(f);
    let Some(first) = args.first() else {
        return Err(sql_error(at, format!("{name} needs a time attribute")));
    };
    let t = compile(first, scope)?;
    let Some(time) = t.as_column().filter(|&i| rel.columns[i].rowtime) else {
        return Err(sql_error(
            loc(*first),
            format!(
                "the first argument of {name} must be a time attribute (a column with a WATERMARK)"
            ),
        ));
    };
    let ms = |e: &Expr| -> Result<Duration> {
        Ok(Duration::from_millis(interval_millis(e)?.max(1) as u64))
    };
    let a = match (name, &args[1..]) {
        ("TUMBLE", [size]) => WindowAssigner::tumble(ms(size)?),
        ("HOP", [slide, size]) => WindowAssigner::hop(ms(size)?, ms(slide)?),
        ("SESSION", [gap]) => WindowAssigner::session(ms(gap)?),
        ("CUMULATE", [step, size]) => WindowAssigner::cumulate(ms(size)?, ms(step)?),
        _ => {
            return Err(sql_error(
                at,
                format!("wrong number of arguments to the group window {name}"),
            ))
        }
    };
    a.validate().map_err(|e| sql_error(at, e.to_string()))?;
    Ok((a, time))
}

/// The kind and input of one aggregate call.
pub(super) fn agg_call(f: &ast::Function, whole: &Expr) -> Result<AggCall> {
    let name = f.name.to_string().to_uppercase();
    let at = loc(whole);
    let distinct = matches!(&f.args, ast::FunctionArguments::List(l) if l.duplicate_treatment == Some(ast::DuplicateTreatment::Distinct));
    if distinct && !matches!(name.as_str(), "COUNT" | "SUM" | "AVG" | "MIN" | "MAX") {
        return Err(sql_error(
            at,
            format!("{name}(DISTINCT ...) is not supported"),
        ));
    }
    if f.over.is_some() {
        return Err(sql_error(at, "OVER aggregations are not supported yet"));
    }
    let star = matches!(&f.args, ast::FunctionArguments::List(l)
        if l.args.iter().any(|a| matches!(a, ast::FunctionArg::Unnamed(ast::FunctionArgExpr::Wildcard))));
    let args = call_args(f);
    let kind = match (name.as_str(), star, args.len()) {
        ("COUNT", true, _) | ("COUNT", false, 0) => AggKind::Count,
        ("COUNT", false, 1) => AggKind::CountNonNull,
        ("SUM", false, 1) => AggKind::Sum,
        ("MIN", false, 1) => AggKind::Min,
        ("MAX", false, 1) => AggKind::Max,
        ("AVG", false, 1) => AggKind::Avg,
        ("FIRST_VALUE", false, 1) => AggKind::First,
        ("LAST_VALUE", false, 1) => AggKind::Last,
        _ => {
            return Err(sql_error(
                at,
                format!("aggregate function {name} with these arguments is not supported yet"),
            ))
        }
    };
    let mut arg: Option<Expr> = args.first().map(|e| (*e).clone());
    if let Some(filter) = &f.filter {
        let then = arg
            .take()
            .unwrap_or(Expr::Value(ast::Value::Number("1".into(), false).into()));
        arg = Some(Expr::Case {
            case_token: ast::helpers::attached_token::AttachedToken::empty(),
            end_token: ast::helpers::attached_token::AttachedToken::empty(),
            operand: None,
            conditions: vec![ast::CaseWhen {
                condition: (**filter).clone(),
                result: then,
            }],
            else_result: None,
        });
    }
    let kind = if kind == AggKind::Count && arg.is_some() {
        AggKind::CountNonNull
    } else {
        kind
    };
    Ok(AggCall {
        text: f.to_string(),
        kind,
        arg,
        distinct,
        at,
    })
}

/// `CAST(e AS ty)` as an AST expression.
fn cast_expr(e: Expr, ty: SqlType) -> Expr {
    let data_type = match ty {
        SqlType::TinyInt => ast::DataType::TinyInt(None),
        SqlType::SmallInt => ast::DataType::SmallInt(None),
        _ => ast::DataType::Int(None),
    };
    Expr::Cast {
        kind: ast::CastKind::Cast,
        expr: Box::new(e),
        data_type,
        format: None,
    }
}
