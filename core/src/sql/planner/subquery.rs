//! Subqueries in `WHERE`: `x [NOT] IN (SELECT ..)`, `[NOT] EXISTS (SELECT ..)`, and
//! comparisons with a scalar subquery `(SELECT agg FROM ..)`, as Flink plans them: a semi
//! join (`IN`, `EXISTS`, scalar comparisons, `scalar.rs`) or an anti join (`NOT IN`,
//! `NOT EXISTS`) of the outer query's rows with the subquery's
//! ([`SemiAntiJoin`](crate::operator::join::SemiAntiJoin)).
//!
//! Each conjunct of `WHERE` that holds a subquery becomes one join, after the plain
//! conjuncts (one `Calc`). The join's condition is built in a scope of the outer columns
//! followed by the subquery's, where every name is resolved first in the subquery's `FROM`,
//! then in the outer query's (SQL's scoping, `scope.rs`; a *correlated* subquery names
//! outer columns in its `WHERE`):
//! * `x IN (SELECT y ..)` adds `x = y`; a row list `(a, b) IN (SELECT c, d ..)` each pair;
//! * `x NOT IN (SELECT y ..)` removes a row when some `x = y` is not false: true, or NULL
//!   (a NULL `x` against any row, any NULL `y`). Over `NOT NULL` columns that is `x = y`;
//!   otherwise, where Flink compares every pair on one subtask, three anti joins on keys
//!   run in turn (see `not_in`); a row list, or a correlation that needs a per-pair
//!   condition, adds `(x = y) IS NOT FALSE` to the residual predicate as Flink does;
//! * a correlated subquery's `WHERE` conjuncts over its own columns only filter it before the
//!   join; those naming outer columns join the condition;
//! * equalities between an outer and an inner expression become the join key (hash
//!   partitioned); an outer-only condition filters the outer rows of a semi join first, and
//!   is the left filter of an anti join (a row failing it never matches, so it passes);
//!   everything else is the residual predicate, evaluated on each pair. Without any key the
//!   join is keyed on a constant: one subtask, as Flink's.
//!
//! The result keeps the outer columns; it is updating for an anti join (a row is retracted
//! when its first match arrives) and whenever an input is; its rows are no event-time
//! attributes any more (as in Flink). An updating input is first partitioned by all its
//! columns, so that a row and its retraction reach the join in order.
//!
//! ```text
//!  outer ─▶ WHERE plain conjuncts ─▶ Calc(+ key columns) ─▶ key_by ─┐
//!                                                                   ├─▶ SemiAntiJoin ─▶ Calc
//!  subquery FROM ─▶ Calc(inner WHERE) ─▶ Calc(keys, residual cols) ─▶ key_by ─┘ (outer columns)
//! ```
//!
//! Not supported (an error names the place): subqueries under `OR` or in the `SELECT`
//! list, correlated subqueries with `GROUP BY`, aggregates, `DISTINCT` or set operations,
//! and scalar subqueries that are not one-row aggregates.

mod scalar;
mod scope;

use std::collections::HashMap;
use std::ops::ControlFlow;
use std::sync::Arc;

use sqlparser::ast::{self, BinaryOperator, Expr, SelectItem, SetExpr, UnaryOperator};
use sqlparser::tokenizer::Location;

use super::join::{and_all, classify, conjuncts, Conjunct};
use super::rel::{calc, calc_always, field_names, PlanNode, Rel};
use super::window::materialize;
use super::{identity, loc, rank, Planner};
use crate::error::Result;
use crate::operator::join::{PairPredicate, SemiJoinKind, SemiJoinSpec};
use crate::sql::dialect::sql_error;
use crate::sql::expr::{common_type, compile, Scope, TypedExpr};
use crate::sql::types::{Column, SqlType};

use self::scalar::{has_aggregate, scalar, ungrouped};
use self::scope::{combined, readable, rewrite, side_filter, synthetic, INNER};

/// Whether `e` holds a subquery anywhere.
pub(super) fn contains_subquery(e: &Expr) -> bool {
    ast::visit_expressions(e, |x| {
        if matches!(
            x,
            Expr::Subquery(_) | Expr::Exists { .. } | Expr::InSubquery { .. }
        ) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .is_break()
}

/// `WHERE pred` over `rel`, where `pred` holds subqueries: the plain conjuncts as one
/// filter, then one semi or anti join per conjunct with a subquery.
pub(super) fn filter(p: &mut Planner<'_>, rel: Rel, pred: &Expr) -> Result<Rel> {
    let mut parts = Vec::new();
    conjuncts(pred.clone(), &mut parts);
    let mut split = Vec::new();
    for part in parts {
        split_between(part, &mut split);
    }
    let (subs, plain): (Vec<Expr>, Vec<Expr>) = split.into_iter().partition(contains_subquery);
    let rel = match and_all(plain) {
        Some(f) => p.filter(rel, &f)?,
        None => rel,
    };
    let mut rel = materialize(rel)?;
    for c in &subs {
        rel = conjunct(p, rel, c)?;
    }
    Ok(rel)
}

/// `x BETWEEN a AND b` with a subquery in a bound as `x >= a AND x <= b`, so that each
/// conjunct holds one scalar subquery.
fn split_between(e: Expr, out: &mut Vec<Expr>) {
    match e {
        Expr::Between {
            expr,
            negated: false,
            low,
            high,
        } if contains_subquery(&low) || contains_subquery(&high) => {
            let cmp = |op, bound: Box<Expr>| Expr::BinaryOp {
                left: expr.clone(),
                op,
                right: bound,
            };
            out.push(cmp(BinaryOperator::GtEq, low));
            out.push(cmp(BinaryOperator::LtEq, high));
        }
        other => out.push(other),
    }
}

/// One conjunct with a subquery.
fn conjunct(p: &mut Planner<'_>, rel: Rel, e: &Expr) -> Result<Rel> {
    let mut inner = e;
    let mut negate = false;
    loop {
        match inner {
            Expr::Nested(x) => inner = x,
            Expr::UnaryOp {
                op: UnaryOperator::Not,
                expr,
            } => {
                negate = !negate;
                inner = expr;
            }
            _ => break,
        }
    }
    let kind = |negated: bool| {
        if negated != negate {
            SemiJoinKind::Anti
        } else {
            SemiJoinKind::Semi
        }
    };
    match inner {
        Expr::InSubquery {
            expr,
            subquery,
            negated,
        } => in_subquery(p, rel, inner, expr, subquery, kind(*negated)),
        Expr::Exists { subquery, negated } => {
            let sub = plan_inner(p, &rel, subquery)?;
            join(rel, sub.rel, sub.conds, kind(*negated), loc(inner))
        }
        _ => scalar(p, rel, e),
    }
}

/// `value [NOT] IN (q)`.
fn in_subquery(
    p: &mut Planner<'_>,
    outer: Rel,
    at: &Expr,
    value: &Expr,
    q: &ast::Query,
    kind: SemiJoinKind,
) -> Result<Rel> {
    let sub = plan_inner(p, &outer, q)?;
    let values: Vec<&Expr> = match value {
        Expr::Tuple(v) => v.iter().collect(),
        other => vec![other],
    };
    if values.len() != sub.items.len() {
        return Err(sql_error(
            loc(at),
            format!(
                "Values passed to IN operator must have compatible types: {} value(s), and the \
                 subquery returns {} column(s)",
                values.len(),
                sub.items.len()
            ),
        ));
    }
    let scope = combined(&outer, &sub.rel);
    let outer_scope = outer.scope();
    let mut conds = sub.conds;
    // NOT IN pairs that may hold NULLs: (x, y, x nullable, y nullable).
    let mut nullable = Vec::new();
    for (v, y) in values.into_iter().zip(sub.items) {
        let x = rewrite(v, None, &outer_scope)?;
        let nulls = (
            compile(&x, &scope)?.nullable(),
            compile(&y, &scope)?.nullable(),
        );
        if kind == SemiJoinKind::Anti && (nulls.0 || nulls.1) {
            nullable.push((x, y, nulls));
        } else {
            conds.push(eq(x, y));
        }
    }
    match nullable.len() {
        0 => join(outer, sub.rel, conds, kind, loc(at)),
        1 if split_conds(&outer, &sub.rel, &conds, kind)?
            .residual
            .is_empty() =>
        {
            let (x, y, nulls) = nullable.remove(0);
            not_in(outer, sub.rel, conds, x, y, nulls, loc(at))
        }
        _ => {
            // `(x1, x2) NOT IN s` is false as soon as some `x1 = y1 AND x2 = y2` is not
            // false: true, or NULL.
            let all = and_all(nullable.into_iter().map(|(x, y, _)| eq(x, y)).collect());
            if let Some(all) = all {
                conds.push(Expr::IsNotFalse(Box::new(Expr::Nested(Box::new(all)))));
            }
            join(outer, sub.rel, conds, kind, loc(at))
        }
    }
}

/// `x = y`.
fn eq(x: Expr, y: Expr) -> Expr {
    Expr::BinaryOp {
        left: Box::new(x),
        op: BinaryOperator::Eq,
        right: Box::new(y),
    }
}

/// `x NOT IN (SELECT y ..)` where `x` or `y` may be NULL (`nulls`), correlated by `conds`
/// (which leave no residual predicate). SQL removes an outer row when a subquery row of its
/// group has `y = x`, or has a NULL `y`, or when `x` is NULL and the group has any row.
/// Flink compares every outer row with every subquery row (`(x = y) IS NOT FALSE` on one
/// subtask); here each case is an anti join on keys, one after the other: (A) on the
/// correlation keys and `x = y`, (B) on the correlation keys against the subquery rows with
/// a NULL `y`, (C) on the correlation keys, for rows with a NULL `x` only.
fn not_in(
    outer: Rel,
    inner: Rel,
    conds: Vec<Expr>,
    x: Expr,
    y: Expr,
    nulls: (bool, bool),
    at: Location,
) -> Result<Rel> {
    let with = |extra: Expr| {
        let mut c = conds.clone();
        c.push(extra);
        c
    };
    let mut rel = join(
        outer,
        inner.clone(),
        with(eq(x.clone(), y.clone())),
        SemiJoinKind::Anti,
        at,
    )?;
    if nulls.1 {
        let cond = with(Expr::IsNull(Box::new(y)));
        rel = join(rel, inner.clone(), cond, SemiJoinKind::Anti, at)?;
    }
    if nulls.0 {
        let cond = with(Expr::IsNull(Box::new(x)));
        rel = join(rel, inner, cond, SemiJoinKind::Anti, at)?;
    }
    Ok(rel)
}

/// A subquery ready to join: its relation, its select list and the conditions that
/// correlate it, both over [`combined`] (names rewritten by [`rewrite`]).
struct Sub {
    rel: Rel,
    items: Vec<Expr>,
    conds: Vec<Expr>,
}

/// Plan the subquery `q` of a condition over `outer`.
fn plan_inner(p: &mut Planner<'_>, outer: &Rel, q: &ast::Query) -> Result<Sub> {
    let Some(s) = simple_select(q) else {
        let rel = plan_uncorrelated(p, outer, q)?;
        let items = (0..rel.columns.len())
            .map(|j| synthetic(INNER, j, loc(q)))
            .collect();
        return Ok(Sub {
            rel,
            items,
            conds: Vec::new(),
        });
    };
    let (from, rest) = match rank::try_plan_from(p, s)? {
        Some(ranked) => ranked,
        None => p.plan_from(&s.from, s.selection.as_ref())?,
    };
    let from = materialize(from)?;
    let (inner_scope, outer_scope) = (from.scope(), outer.scope());
    let (mut local, mut conds) = (Vec::new(), Vec::new());
    let mut parts = Vec::new();
    if let Some(w) = rest {
        conjuncts(w, &mut parts);
    }
    for c in parts {
        // A condition over the subquery's own columns (or one with a subquery of its own,
        // which may not name the outer query) filters the subquery.
        if contains_subquery(&c) || compile(&c, &inner_scope).is_ok() {
            local.push(c);
        } else {
            conds.push(rewrite(&c, Some(&inner_scope), &outer_scope)?);
        }
    }
    let rel = match and_all(local) {
        Some(f) => p.filter(from, &f)?,
        None => from,
    };
    let rel = materialize(rel)?;
    let scope = rel.scope();
    let mut items = Vec::new();
    for item in &s.projection {
        match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                items.push(rewrite(e, Some(&scope), &outer_scope)?)
            }
            SelectItem::Wildcard(_) => {
                items.extend((0..rel.columns.len()).map(|j| synthetic(INNER, j, loc(item))))
            }
            SelectItem::QualifiedWildcard(kind, _) => {
                let q = kind.to_string();
                let q = q.strip_suffix(".*").unwrap_or(&q).to_string();
                let before = items.len();
                for (j, c) in rel.columns.iter().enumerate() {
                    if c.qualifier.as_deref() == Some(q.as_str()) {
                        items.push(synthetic(INNER, j, loc(item)));
                    }
                }
                if items.len() == before {
                    return Err(sql_error(loc(item), format!("Table '{q}' not found")));
                }
            }
        }
    }
    Ok(Sub { rel, items, conds })
}

/// The `SELECT .. FROM .. WHERE ..` of `q` when it has nothing that would group, rank or
/// combine rows (so its `WHERE` may name outer columns).
fn simple_select(q: &ast::Query) -> Option<&ast::Select> {
    if q.with.is_some() || q.order_by.is_some() || q.limit_clause.is_some() || q.fetch.is_some() {
        return None;
    }
    let SetExpr::Select(s) = q.body.as_ref() else {
        return None;
    };
    let plain = s.projection.iter().all(|item| match item {
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
            !has_aggregate(e)
                && ast::visit_expressions(e, |x| match x {
                    Expr::Function(f) if f.over.is_some() => ControlFlow::Break(()),
                    _ => ControlFlow::Continue(()),
                })
                .is_continue()
        }
        _ => true,
    });
    (ungrouped(s) && !s.from.is_empty() && plain).then_some(s.as_ref())
}

/// Plan `q` on its own; a failure to resolve a name the outer query has is reported as
/// the unsupported correlation it is.
fn plan_uncorrelated(p: &mut Planner<'_>, outer: &Rel, q: &ast::Query) -> Result<Rel> {
    match p.plan_query(q) {
        Ok(rel) => materialize(rel),
        Err(e) if names_outer(q, outer) && e.to_string().contains("not found") => Err(sql_error(
            loc(q),
            format!(
                "correlated subqueries are supported only as SELECT .. FROM .. WHERE without \
                     GROUP BY, aggregates, DISTINCT or set operations ({e})"
            ),
        )),
        Err(e) => Err(e),
    }
}

/// Whether `q` names a column of `outer` by a qualified name `t.x` whose `t` is an outer
/// table name or alias.
fn names_outer(q: &ast::Query, outer: &Rel) -> bool {
    let scope = outer.scope();
    ast::visit_expressions(q, |x| match x {
        Expr::CompoundIdentifier(ids) if ids.len() >= 2 && scope.resolve(ids).is_ok() => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}

/// The conditions of a join, sorted by what becomes of them.
struct Split {
    /// Equalities `outer expr = inner expr`: the keys.
    pairs: Vec<(TypedExpr, TypedExpr)>,
    /// Conditions over both sides (or none), evaluated per pair.
    residual: Vec<Expr>,
    /// Conditions over the outer row only, of an anti join: rows failing them never match.
    left_only: Vec<Expr>,
    /// Conditions over the outer row only, of a semi join: a filter before the join.
    outer_filters: Vec<TypedExpr>,
    /// Conditions over the subquery only: a filter on it before the join.
    inner_filters: Vec<TypedExpr>,
}

/// Sort `conds` (over [`combined`]) into keys, filters and the residual predicate.
fn split_conds(outer: &Rel, inner: &Rel, conds: &[Expr], kind: SemiJoinKind) -> Result<Split> {
    let nl = outer.columns.len();
    let scope = combined(outer, inner);
    let (pairs, rest) = classify(and_all(conds.to_vec()), &scope, nl);
    let mut split = Split {
        pairs,
        residual: Vec::new(),
        left_only: Vec::new(),
        outer_filters: Vec::new(),
        inner_filters: Vec::new(),
    };
    for part in rest {
        let (Conjunct::Left(c) | Conjunct::Right(c) | Conjunct::Both(c) | Conjunct::Unresolved(c)) =
            &part;
        // Compiled again: a name neither side has is an error here.
        let t = compile(c, &scope)?;
        if t.ty() != SqlType::Boolean {
            return Err(sql_error(
                loc(c),
                format!("a condition must be BOOLEAN, not {}", t.ty()),
            ));
        }
        match part {
            // An outer row failing it has no match: no semi join row, an anti join row.
            Conjunct::Left(c) if kind == SemiJoinKind::Semi => split
                .outer_filters
                .push(side_filter(&c, t, outer, inner, outer)),
            Conjunct::Left(c) => split.left_only.push(c),
            Conjunct::Right(c) => {
                let moved = t.remap_columns(&|j| j - nl);
                split
                    .inner_filters
                    .push(side_filter(&c, moved, outer, inner, inner))
            }
            Conjunct::Both(c) | Conjunct::Unresolved(c) => split.residual.push(c),
        }
    }
    Ok(split)
}

/// The semi or anti join of `outer` with `inner` on `conds` (over [`combined`]).
fn join(outer: Rel, inner: Rel, conds: Vec<Expr>, kind: SemiJoinKind, at: Location) -> Result<Rel> {
    let nl = outer.columns.len();
    let scope = combined(&outer, &inner);
    let shown = and_all(conds.clone()).map(|c| readable(&c, &outer, &inner).to_string());
    let Split {
        pairs,
        residual,
        left_only,
        outer_filters,
        inner_filters,
    } = split_conds(&outer, &inner, &conds, kind)?;
    let mut outer = by_row(outer);
    for f in outer_filters {
        let cols = outer.columns.clone();
        outer = calc(outer, Some(f), identity(&cols), cols);
    }
    let mut inner = by_row(inner);
    for f in inner_filters {
        let cols = inner.columns.clone();
        inner = calc(inner, Some(f), identity(&cols), cols);
    }
    // Left: the outer columns plus key columns; right: key columns plus what the residual
    // predicate reads.
    let mut left: Vec<(TypedExpr, Column)> = identity(&outer.columns)
        .into_iter()
        .zip(outer.columns.iter().cloned())
        .collect();
    let mut right: Vec<(TypedExpr, Column)> = Vec::new();
    let (mut lk, mut rk) = (Vec::new(), Vec::new());
    for (a, b) in pairs {
        let Some(ty) = common_type(a.ty(), b.ty()) else {
            return Err(sql_error(
                at,
                format!(
                    "implicit type conversion between {} and {} is not supported on join's \
                     condition",
                    a.ty(),
                    b.ty()
                ),
            ));
        };
        let (a, b) = (a.cast_to(ty)?, b.cast_to(ty)?.remap_columns(&|j| j - nl));
        lk.push(push(&mut left, a, "$key"));
        rk.push(push(&mut right, b, "$r"));
    }
    if lk.is_empty() {
        // No key: every row meets every row, on one subtask. A constant key (rather than
        // none, a non-keyed operator of parallelism 1) keeps the changelog on one path of
        // forward edges to the sink, so no rebalance can reorder a row and its retraction.
        let zero = compile(
            &Expr::value(ast::Value::Number("0".into(), false)),
            &Scope::default(),
        )?;
        lk.push(push(&mut left, zero.clone(), "$key"));
        rk.push(push(&mut right, zero, "$r"));
    }
    let residual = match and_all(residual) {
        Some(r) => {
            let t = compile(&r, &scope)?;
            let mut refs = Vec::new();
            t.column_refs(&mut refs);
            let mut to_pair: HashMap<usize, usize> = HashMap::new();
            for j in refs.into_iter().filter(|&i| i >= nl) {
                let at = push(
                    &mut right,
                    TypedExpr::column(j - nl, &inner.columns[j - nl]),
                    "$r",
                );
                to_pair.insert(j, at);
            }
            Some((t, to_pair))
        }
        None => None,
    };
    let nl2 = left.len();
    let predicate: Option<PairPredicate> = residual.map(|(t, to_pair)| {
        let t = t.remap_columns(&|i| if i < nl { i } else { nl2 + to_pair[&i] });
        Arc::new(move |b: &arrow::array::RecordBatch| t.evaluate(b)) as PairPredicate
    });
    // Over the left input's columns, which start with the outer ones.
    let left_filter: Option<PairPredicate> = match and_all(left_only) {
        Some(f) => {
            let t = compile(&f, &scope)?;
            Some(Arc::new(move |b: &arrow::array::RecordBatch| t.evaluate(b)) as PairPredicate)
        }
        None => None,
    };
    let updating = [outer.updating, inner.updating];
    let (lplan, rplan) = (outer.plan.clone(), inner.plan.clone());
    let (lexprs, lcols): (Vec<_>, Vec<_>) = left.into_iter().unzip();
    let l2 = calc(outer.clone(), None, lexprs, lcols);
    let (rexprs, rcols): (Vec<_>, Vec<_>) = right.into_iter().unzip();
    let r2 = calc_always(inner, None, rexprs, rcols);
    let (lnames, rnames) = (field_names(&l2.columns), field_names(&r2.columns));
    let lkeys: Vec<String> = lk.iter().map(|&i| lnames[i].clone()).collect();
    let rkeys: Vec<String> = rk.iter().map(|&i| rnames[i].clone()).collect();
    let spec = SemiJoinSpec {
        kind,
        updating,
        residual: predicate,
        left_filter,
    };
    let stream = l2
        .stream
        .key_by(lkeys.clone())
        .semi_join(&r2.stream.key_by(rkeys.clone()), spec);
    let mut text = format!(
        "Join(joinType=[{}], leftKeys=[{}], rightKeys=[{}]",
        match kind {
            SemiJoinKind::Semi => "LeftSemiJoin",
            SemiJoinKind::Anti => "LeftAntiJoin",
        },
        lkeys.join(", "),
        rkeys.join(", ")
    );
    if let Some(c) = shown {
        text.push_str(&format!(", where=[{c}]"));
    }
    text.push(')');
    let mut columns = l2.columns.clone();
    for c in &mut columns {
        c.rowtime = false;
    }
    let joined = Rel {
        stream,
        columns,
        window: None,
        windowed: None,
        updating: kind == SemiJoinKind::Anti || updating[0] || updating[1],
        plan: PlanNode::new(text, vec![lplan, rplan]),
        origin: None,
    }
    .sync_time();
    let keep = identity(&joined.columns[..nl]);
    let cols = joined.columns[..nl].to_vec();
    Ok(calc(joined, None, keep, cols))
}

/// An updating input partitioned by all its columns before the join's `Calc`s: a row and
/// its retraction then take the same path to the join. (A forward edge from an operator of
/// another parallelism, such as a global aggregation's single subtask, is a rebalance,
/// which could let a retraction overtake the row it retracts.)
pub(super) fn by_row(mut rel: Rel) -> Rel {
    if rel.updating {
        rel.stream = rel.stream.key_by(rel.field_names()).as_stream();
    }
    rel
}

/// Add `t` as a column of a join input (or find it there); its position.
fn push(side: &mut Vec<(TypedExpr, Column)>, t: TypedExpr, prefix: &str) -> usize {
    if let Some(i) = t.as_column() {
        if let Some(at) = side
            .iter()
            .position(|(e, c)| e.as_column() == Some(i) && c.ty == t.ty())
        {
            return at;
        }
    }
    let mut c = Column::new(format!("{prefix}{}", side.len()), t.ty());
    c.nullable = t.nullable();
    side.push((t, c));
    side.len() - 1
}

#[cfg(test)]
mod tests;
