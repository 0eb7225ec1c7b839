//! Joins: `a JOIN b ON ...`, `FROM a, b WHERE ...`, and `LEFT`/`RIGHT`/`FULL OUTER JOIN`
//! (updating results: a padded row is retracted when its first partner arrives).
//!
//! The condition is split into conjuncts; `l = r` conjuncts with one side on each input are
//! the join keys, the rest a filter after the join. When both inputs are results of the same
//! kind of window aggregation and the keys include `window_start` and `window_end` of both,
//! the join is a window join (state per window, dropped when the window closes); otherwise
//! it is a regular join that keeps both inputs in state, unless the condition bounds the
//! distance between the two inputs' event times: then it is an interval join
//! (`interval.rs`), whose state is dropped as the watermark passes.
//!
//! Either input of a regular join may be updating (a `GROUP BY`, Top-N or outer join
//! result): the join then keeps each side's live rows, retracts the pairs a retracted row
//! made, and its result is updating (Flink's `StreamingJoinOperator`). An updating input is
//! first partitioned by all its columns, so that a row and its retraction reach the join in
//! order. Window and interval joins need insert-only inputs; over updating ones the time
//! condition is an ordinary filter, as in Flink. In an outer join, conjuncts that cannot
//! filter an input first are evaluated by the join on each pair (the residual predicate).
//!
//! ```text
//!  left  ─▶ (key columns) ─▶ key_by ─┐
//!                                    ├─▶ join ─▶ Calc(residual filter, drop helper columns)
//!  right ─▶ (key columns) ─▶ key_by ─┘
//! ```

use std::sync::Arc;

use arrow::record_batch::RecordBatch;
use sqlparser::ast::{self, BinaryOperator, Expr};
use sqlparser::tokenizer::Location;

use super::aggregate::{end_minus_one as window_time_column, granularity};
use super::extreme::{self, JoinSide};
use super::identity;
use super::rel::{calc, calc_always, PlanNode, Rel, Windowed};
use super::subquery::by_row;
use super::window::{describe, materialize};
use crate::error::Result;
use crate::operator::factory;
use crate::operator::join::{JoinType, PairPredicate, RegularJoinSpec};
use crate::sql::dialect::sql_error;
use crate::sql::expr::{common_type, compile, Scope, TypedExpr};
use crate::sql::types::Column;
use crate::window::WindowAssigner;

/// `left <op> right`, with `extra` (the `WHERE` clause of an inner join) added to the
/// condition; returns the joined relation and what of `extra` names neither input.
pub(crate) fn plan(
    left: Rel,
    right: Rel,
    op: &ast::JoinOperator,
    extra: Option<Expr>,
    at: Location,
) -> Result<(Rel, Option<Expr>)> {
    use ast::JoinOperator as J;
    let (constraint, kind) = match op {
        J::Join(c) | J::Inner(c) => (c, JoinType::Inner),
        J::Left(c) | J::LeftOuter(c) => (c, JoinType::LeftOuter),
        J::Right(c) | J::RightOuter(c) => (c, JoinType::RightOuter),
        J::FullOuter(c) => (c, JoinType::FullOuter),
        J::CrossJoin(_) => {
            return Err(sql_error(
                at,
                "CROSS JOIN of two streams is not supported; give a join condition",
            ))
        }
        _ => {
            return Err(sql_error(
                at,
                "this join type is not supported; write a semi or anti join as [NOT] IN or [NOT] EXISTS",
            ))
        }
    };
    let cond = match constraint {
        ast::JoinConstraint::On(e) => Some(e.clone()),
        ast::JoinConstraint::None => None,
        _ => {
            return Err(sql_error(
                at,
                "JOIN ... USING and NATURAL JOIN are not supported yet; use ON",
            ))
        }
    };
    if kind != JoinType::Inner {
        // WHERE applies after an outer join, which pads rows with NULLs.
        let joined = outer_join(left, right, cond, kind, at)?;
        return Ok((joined, extra));
    }
    // For an inner join, WHERE conjuncts are join conditions too: each may become a key,
    // a filter below the join, or a filter after it.
    let cond = match (cond, extra) {
        (Some(a), Some(b)) => and_all(vec![a, b]),
        (a, b) => a.or(b),
    };
    join_on(left, right, cond, at)
}

/// A `LEFT`, `RIGHT` or `FULL OUTER JOIN` on `cond`: equality keys, filters on the side that
/// is padded with NULLs (applied below the join), and the other conjuncts evaluated on each
/// pair by the join. Its result is updating: a preserved row without a partner is emitted
/// padded, and retracted when its first partner arrives.
fn outer_join(
    left: Rel,
    right: Rel,
    cond: Option<Expr>,
    kind: JoinType,
    at: Location,
) -> Result<Rel> {
    let (left, right) = (by_row(materialize(left)?), by_row(materialize(right)?));
    let nl = left.columns.len();
    let mut all = left.columns.clone();
    all.extend(right.columns.iter().cloned());
    let scope = Scope::new(all);
    let pads_left = matches!(kind, JoinType::RightOuter | JoinType::FullOuter);
    let pads_right = matches!(kind, JoinType::LeftOuter | JoinType::FullOuter);
    let (pairs, rest) = classify(cond, &scope, nl);
    let (mut left_filters, mut right_filters) = (Vec::new(), Vec::new());
    let mut residual = Vec::new();
    for c in rest {
        // A condition on a side that is only padded (never preserved) filters that side's
        // rows before the join; any other is part of the join condition, on each pair.
        match c {
            Conjunct::Left(p) if pads_left && !pads_right => left_filters.push(p),
            Conjunct::Right(p) if pads_right && !pads_left => right_filters.push(p),
            Conjunct::Left(p) | Conjunct::Right(p) | Conjunct::Both(p) => residual.push(p),
            Conjunct::Unresolved(p) => {
                // Compiling it again gives the error that names the unknown column.
                compile(&p, &scope)?;
                return Err(sql_error(
                    super::loc(&p),
                    format!("this condition of an outer join names no column of its inputs: {p}"),
                ));
            }
        }
    }
    if pairs.is_empty() {
        return Err(sql_error(
            at,
            "a join of two streams needs an equality condition between them",
        ));
    }
    let left = filter_side(left, left_filters)?;
    let right = filter_side(right, right_filters)?;
    let (ls, rs, lk, rk) = key_sides(&left, &right, pairs, at)?;
    // Always a Calc: the join is told the exact schema of each input's batches.
    let prep = |rel: Rel, side: Vec<(TypedExpr, Column)>| -> Rel {
        let (exprs, cols): (Vec<_>, Vec<_>) = side.into_iter().unzip();
        calc_always(rel, None, exprs, cols)
    };
    let (lplan, rplan) = (left.plan.clone(), right.plan.clone());
    let l2 = prep(left.clone(), ls);
    let r2 = prep(right.clone(), rs);
    let (lnames, rnames) = (l2.field_names(), r2.field_names());
    let lkeys: Vec<String> = lk.iter().map(|&i| lnames[i].clone()).collect();
    let rkeys: Vec<String> = rk.iter().map(|&i| rnames[i].clone()).collect();
    let l2n = l2.columns.len();
    // The residual predicate runs on pairs of the join's inputs: left's columns (with key
    // helpers), then right's.
    let (predicate, shown) = match and_all(residual) {
        Some(e) => {
            let t = compile(&e, &scope)?.remap_columns(&|i| if i < nl { i } else { i - nl + l2n });
            let p: PairPredicate = Arc::new(move |b: &RecordBatch| t.evaluate(b));
            (Some(p), format!(", where=[{e}]"))
        }
        None => (None, String::new()),
    };
    let spec = RegularJoinSpec {
        join_type: kind,
        schemas: Some((
            super::rel::schema_of(&l2.columns),
            super::rel::schema_of(&r2.columns),
        )),
        updating: [left.updating, right.updating],
        residual: predicate,
    };
    let stream = l2
        .stream
        .key_by(lkeys.clone())
        .regular_join(&r2.stream.key_by(rkeys.clone()), spec);
    let text = format!(
        "Join(joinType=[{kind:?}], leftKeys=[{}], rightKeys=[{}]{shown})",
        lkeys.join(", "),
        rkeys.join(", ")
    );
    let mut out_cols: Vec<Column> = l2.columns.clone();
    out_cols.extend(r2.columns.iter().cloned());
    for (i, c) in out_cols.iter_mut().enumerate() {
        c.rowtime = false;
        c.window_end = false;
        if (i < l2n && pads_left) || (i >= l2n && pads_right) {
            c.nullable = true;
        }
    }
    let joined = Rel {
        stream,
        columns: out_cols,
        window: None,
        windowed: None,
        updating: true,
        plan: PlanNode::new(text, vec![lplan, rplan]),
        origin: None,
    };
    let mut keep: Vec<TypedExpr> = Vec::new();
    let mut cols: Vec<Column> = Vec::new();
    for (i, c) in left.columns.iter().enumerate() {
        keep.push(TypedExpr::column(i, &joined.columns[i]));
        cols.push(Column {
            rowtime: false,
            window_end: false,
            nullable: c.nullable || pads_left,
            ..c.clone()
        });
    }
    for (i, c) in right.columns.iter().enumerate() {
        keep.push(TypedExpr::column(l2n + i, &joined.columns[l2n + i]));
        cols.push(Column {
            rowtime: false,
            window_end: false,
            nullable: c.nullable || pads_right,
            ..c.clone()
        });
    }
    Ok(calc_always(joined, None, keep, cols))
}

/// Keep the rows of one join input where every filter (over that input's columns) holds.
fn filter_side(rel: Rel, filters: Vec<Expr>) -> Result<Rel> {
    let Some(f) = and_all(filters) else {
        return Ok(rel);
    };
    let f = compile(&f, &rel.scope())?;
    let exprs = identity(&rel.columns);
    let cols = rel.columns.clone();
    let w = rel.windowed.clone();
    let mut out = calc(rel, Some(f), exprs, cols);
    out.windowed = w;
    Ok(out)
}

pub(super) fn conjuncts(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::BinaryOp {
            left,
            op: BinaryOperator::And,
            right,
        } => {
            conjuncts(*left, out);
            conjuncts(*right, out);
        }
        Expr::Nested(inner)
            if matches!(
                *inner,
                Expr::BinaryOp {
                    op: BinaryOperator::And,
                    ..
                }
            ) =>
        {
            conjuncts(*inner, out)
        }
        other => out.push(other),
    }
}

pub(super) fn and_all(parts: Vec<Expr>) -> Option<Expr> {
    parts.into_iter().reduce(|a, b| Expr::BinaryOp {
        left: Box::new(a),
        op: BinaryOperator::And,
        right: Box::new(b),
    })
}

/// A conjunct of a join condition that is not a key: which inputs it reads.
pub(super) enum Conjunct {
    /// Only the left input's columns.
    Left(Expr),
    /// Only the right input's columns.
    Right(Expr),
    /// Both inputs (or none).
    Both(Expr),
    /// Names a column of neither input (a `WHERE` conjunct for an outer query).
    Unresolved(Expr),
}

/// Split a join condition (over the left input's `nl` columns, then the right's) into
/// equality keys `(left expr, right expr)` and the other conjuncts.
pub(super) fn classify(
    cond: Option<Expr>,
    scope: &Scope,
    nl: usize,
) -> (Vec<(TypedExpr, TypedExpr)>, Vec<Conjunct>) {
    let mut parts = Vec::new();
    if let Some(c) = cond {
        conjuncts(c, &mut parts);
    }
    let side_of = |t: &TypedExpr| -> Option<bool> {
        let mut refs = Vec::new();
        t.column_refs(&mut refs);
        if refs.is_empty() {
            None
        } else if refs.iter().all(|&i| i < nl) {
            Some(true)
        } else if refs.iter().all(|&i| i >= nl) {
            Some(false)
        } else {
            None
        }
    };
    let mut pairs = Vec::new();
    let mut rest = Vec::new();
    for p in parts {
        if let Expr::BinaryOp {
            left: a,
            op: BinaryOperator::Eq,
            right: b,
        } = &p
        {
            if let (Ok(ta), Ok(tb)) = (compile(a, scope), compile(b, scope)) {
                match (side_of(&ta), side_of(&tb)) {
                    (Some(true), Some(false)) => {
                        pairs.push((ta, tb));
                        continue;
                    }
                    (Some(false), Some(true)) => {
                        pairs.push((tb, ta));
                        continue;
                    }
                    _ => {}
                }
            }
        }
        rest.push(match compile(&p, scope) {
            Ok(t) => match side_of(&t) {
                Some(true) => Conjunct::Left(p),
                Some(false) => Conjunct::Right(p),
                None => Conjunct::Both(p),
            },
            Err(_) => Conjunct::Unresolved(p),
        });
    }
    (pairs, rest)
}

/// A join input's columns plus its key columns (computed, cast to a common type where
/// needed).
type KeySide = Vec<(TypedExpr, Column)>;

/// Each input's columns plus its key columns, and the key column positions of each.
fn key_sides(
    left: &Rel,
    right: &Rel,
    pairs: Vec<(TypedExpr, TypedExpr)>,
    at: Location,
) -> Result<(KeySide, KeySide, Vec<usize>, Vec<usize>)> {
    let nl = left.columns.len();
    let mut ls: KeySide = identity(&left.columns)
        .into_iter()
        .zip(left.columns.iter().cloned())
        .collect();
    let mut rs: KeySide = identity(&right.columns)
        .into_iter()
        .zip(right.columns.iter().cloned())
        .collect();
    let (mut lk, mut rk) = (Vec::new(), Vec::new());
    for (a, b) in pairs {
        let Some(ty) = common_type(a.ty(), b.ty()) else {
            return Err(sql_error(
                at,
                format!("cannot join {} with {}", a.ty(), b.ty()),
            ));
        };
        let (a, b) = (a.cast_to(ty)?, b.cast_to(ty)?);
        lk.push(key_column(&mut ls, a, 0));
        rk.push(key_column(&mut rs, b, nl));
    }
    Ok((ls, rs, lk, rk))
}

/// A key column of one side: an existing column or a computed one appended to the side.
fn key_column(side: &mut Vec<(TypedExpr, Column)>, t: TypedExpr, offset: usize) -> usize {
    let t = t.remap_columns(&|i| i - offset);
    if let Some(i) = t.as_column() {
        if side[i].1.ty == t.ty() {
            return i;
        }
    }
    let mut c = Column::new(format!("$key{}", side.len()), t.ty());
    c.nullable = t.nullable();
    side.push((t, c));
    side.len() - 1
}

/// The inner join of `left` and `right` on `cond` (also the form of a comma join, whose
/// condition is its `WHERE`); returns the joined relation and the conjuncts of `cond` that
/// name neither input.
pub(crate) fn join_on(
    left: Rel,
    right: Rel,
    cond: Option<Expr>,
    at: Location,
) -> Result<(Rel, Option<Expr>)> {
    let (left, right) = (by_row(materialize(left)?), by_row(materialize(right)?));
    let updating = [left.updating, right.updating];
    let insert_only = !updating[0] && !updating[1];
    let nl = left.columns.len();
    let mut all = left.columns.clone();
    all.extend(right.columns.iter().cloned());
    let scope = Scope::new(all.clone());
    let (mut pairs, rest) = classify(cond, &scope, nl);
    let mut residual: Vec<Expr> = Vec::new();
    let mut where_rest: Vec<Expr> = Vec::new();
    let (mut left_filters, mut right_filters) = (Vec::new(), Vec::new());
    for c in rest {
        // A conjunct over one side only is a filter below the join.
        match c {
            Conjunct::Left(p) => left_filters.push(p),
            Conjunct::Right(p) => right_filters.push(p),
            Conjunct::Both(p) => residual.push(p),
            Conjunct::Unresolved(p) => where_rest.push(p),
        }
    }
    if pairs.is_empty() {
        return Err(sql_error(
            at,
            "a join of two streams needs an equality condition between them",
        ));
    }
    let left = filter_side(left, left_filters)?;
    let right = filter_side(right, right_filters)?;
    // Window join: both sides windowed alike, bounds equal.
    let window = match (&left.windowed, &right.windowed) {
        (Some(lw), Some(rw)) if lw.assigner == rw.assigner && insert_only => {
            let is_pair = |l: usize, r: usize| {
                pairs
                    .iter()
                    .any(|(a, b)| a.as_column() == Some(l) && b.as_column() == Some(nl + r))
            };
            (is_pair(lw.start, rw.start) && is_pair(lw.end, rw.end))
                .then(|| (lw.clone(), rw.clone()))
        }
        _ => None,
    };
    if let Some((lw, rw)) = &window {
        // The window's own grouping makes `start = start` redundant; `end = end` stays a
        // key so a join on the window alone still has one.
        pairs.retain(|(a, b)| {
            !(a.as_column() == Some(lw.start) && b.as_column() == Some(nl + rw.start))
        });
    }
    // Interval join: the residual bounds the distance of the two event times.
    let bounds = if window.is_none() && insert_only {
        super::interval::extract(&mut residual, &scope, nl)
    } else {
        None
    };
    // Key columns of each side, computed and cast to a common type where needed.
    let (mut ls, mut rs, lk, rk) = key_sides(&left, &right, pairs, at)?;
    // A window join runs on `window_end - 1`, which lies in exactly one window of the
    // spacing of window ends.
    if let Some((lw, rw)) = &window {
        for (side, w) in [(&mut ls, lw), (&mut rs, rw)] {
            let t = window_time_column(w.end, &side[w.end].1)?;
            let mut c = Column::new(format!("$wt{}", side.len()), t.ty());
            c.rowtime = true;
            side.push((t, c));
        }
    }
    let prep = |rel: Rel, side: Vec<(TypedExpr, Column)>, window: bool| -> Rel {
        if side.len() == rel.columns.len() && !window {
            return rel;
        }
        let (exprs, mut cols): (Vec<_>, Vec<_>) = side.into_iter().unzip();
        if window {
            for c in cols.iter_mut() {
                c.rowtime = c.name.starts_with("$wt");
            }
        }
        calc(rel, None, exprs, cols)
    };
    let (mut lplan, mut rplan) = (left.plan.clone(), right.plan.clone());
    let l2 = prep(left.clone(), ls, window.is_some());
    let r2 = prep(right.clone(), rs, window.is_some());
    let (lnames, rnames) = (l2.field_names(), r2.field_names());
    let lkeys: Vec<String> = lk.iter().map(|&i| lnames[i].clone()).collect();
    let rkeys: Vec<String> = rk.iter().map(|&i| rnames[i].clone()).collect();
    let (stream, text) = match &window {
        Some((lw, _)) => {
            let g = granularity(&lw.assigner);
            let assigner = WindowAssigner::tumble(std::time::Duration::from_millis(g as u64));
            (
                l2.stream
                    .key_by(lkeys.clone())
                    .window_join(&r2.stream.key_by(rkeys.clone()), assigner),
                format!(
                    "WindowJoin(joinType=[InnerJoin], window=[{}], leftKeys=[{}], rightKeys=[{}])",
                    describe(&lw.assigner),
                    lkeys.join(", "),
                    rkeys.join(", ")
                ),
            )
        }
        None if bounds.is_some() => {
            let b = bounds.unwrap_or(super::interval::TimeBounds {
                lower: 0,
                upper: 0,
                left: 0,
                right: nl,
            });
            // Each side runs on the time column its bounds name.
            let (mut ls, mut rs) = (l2.stream.clone(), r2.stream.clone());
            ls.time_column = Some(lnames[b.left].clone());
            rs.time_column = Some(rnames[b.right - nl].clone());
            // Rows joined with the maximum (minimum) of a window of their own scan: those
            // below the running maximum of every window they can meet are dropped first.
            if let ([lkey], [rkey]) = (lk.as_slice(), rk.as_slice()) {
                let side = |rel, key, time| JoinSide { rel, key, time };
                let (l, r) = (side(&l2, *lkey, b.left), side(&r2, *rkey, b.right - nl));
                let (rl, rr) = (side(&r2, *rkey, b.right - nl), side(&l2, *lkey, b.left));
                if let Some((f, text)) = extreme::join_filter(l, r, (b.lower, b.upper)) {
                    rs = rs.transform("ExtremeFilter", factory(move |_| Ok(f.clone())));
                    rplan = PlanNode::new(text, vec![rplan]);
                } else if let Some((f, text)) = extreme::join_filter(rl, rr, (-b.upper, -b.lower)) {
                    ls = ls.transform("ExtremeFilter", factory(move |_| Ok(f.clone())));
                    lplan = PlanNode::new(text, vec![lplan]);
                }
            }
            (
                ls.key_by(lkeys.clone())
                    .interval_join(&rs.key_by(rkeys.clone()), b.lower, b.upper),
                format!(
                    "IntervalJoin(joinType=[InnerJoin], leftKeys=[{}], rightKeys=[{}], \
                     rightTime - leftTime in [{}, {}] ms, leftTime=[{}], rightTime=[{}])",
                    lkeys.join(", "),
                    rkeys.join(", "),
                    b.lower,
                    b.upper,
                    lnames[b.left],
                    rnames[b.right - nl]
                ),
            )
        }
        None => (
            l2.stream.key_by(lkeys.clone()).regular_join(
                &r2.stream.key_by(rkeys.clone()),
                RegularJoinSpec {
                    updating,
                    ..RegularJoinSpec::new(JoinType::Inner)
                },
            ),
            format!(
                "Join(joinType=[InnerJoin], leftKeys=[{}], rightKeys=[{}])",
                lkeys.join(", "),
                rkeys.join(", ")
            ),
        ),
    };
    // The join's output: left helper-extended columns, right ones, (window bounds).
    let mut out_cols: Vec<Column> = l2.columns.clone();
    out_cols.extend(r2.columns.iter().cloned());
    if window.is_some() {
        for n in ["$jws", "$jwe"] {
            out_cols.push(Column::new(n, crate::sql::types::SqlType::Timestamp(3)));
        }
    }
    for c in &mut out_cols {
        c.rowtime = false;
        c.window_end = false;
    }
    let joined = Rel {
        stream,
        columns: out_cols,
        window: None,
        windowed: None,
        updating: !insert_only,
        plan: PlanNode::new(text, vec![lplan, rplan]),
        origin: None,
    };
    // Residual filter, then back to left ++ right columns.
    let l2n = l2.columns.len();
    let map = |i: usize| if i < nl { i } else { i - nl + l2n };
    let mut keep: Vec<TypedExpr> = Vec::new();
    for (i, c) in left.columns.iter().enumerate() {
        keep.push(TypedExpr::column(i, c));
    }
    for (i, c) in right.columns.iter().enumerate() {
        keep.push(TypedExpr::column(l2n + i, c));
    }
    let filter = match and_all(residual) {
        Some(e) => Some(compile(&e, &scope)?.remap_columns(&map)),
        None => None,
    };
    let mut cols = all;
    // An interval join keeps the left input's event time (Flink keeps both).
    let keep_time = bounds.is_some().then(|| left.rowtime()).flatten();
    for (i, c) in cols.iter_mut().enumerate() {
        c.rowtime = Some(i) == keep_time;
        c.window_end = false;
    }
    let mut out = calc_always(joined, filter, keep, cols);
    out.windowed = window.map(|(lw, _)| Windowed {
        assigner: lw.assigner,
        start: lw.start,
        end: lw.end,
    });
    Ok((out, and_all(where_rest)))
}
