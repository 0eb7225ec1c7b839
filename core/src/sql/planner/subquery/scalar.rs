//! Scalar subqueries in `WHERE` comparisons: `x > (SELECT AVG(y) FROM t)` becomes a semi
//! join of the outer rows with the subquery's one row (an updating aggregate without
//! `GROUP BY`), on the comparison with the subquery replaced by that row's column.

use std::ops::ControlFlow;

use sqlparser::ast::{self, BinaryOperator, Expr, SelectItem, SetExpr};
use sqlparser::tokenizer::Location;

use super::scope::{rewrite, synthetic, INNER};
use super::{join, plan_uncorrelated};
use crate::error::Result;
use crate::operator::join::SemiJoinKind;
use crate::sql::dialect::sql_error;
use crate::sql::expr::is_aggregate_function;
use crate::sql::planner::rel::Rel;
use crate::sql::planner::{loc, Planner};

/// A conjunct comparing with scalar subqueries: a semi join with the subquery's one row.
pub(super) fn scalar(p: &mut Planner<'_>, outer: Rel, e: &Expr) -> Result<Rel> {
    let mut lift = Lift {
        depth: 0,
        queries: Vec::new(),
        misplaced: None,
    };
    let mut cond = e.clone();
    let _ = ast::VisitMut::visit(&mut cond, &mut lift);
    if let Some(at) = lift.misplaced {
        return Err(sql_error(
            at,
            "IN and EXISTS subqueries are supported only as conditions of WHERE joined by AND",
        ));
    }
    let queries = lift.queries;
    let (q, at) = match queries.as_slice() {
        [one] => one.clone(),
        _ => {
            return Err(sql_error(
                loc(e),
                "a condition may compare with one scalar subquery only",
            ))
        }
    };
    if !null_rejecting(&cond) {
        return Err(sql_error(
            loc(e),
            "scalar subqueries are supported only as operands (or in arithmetic) of a \
             comparison in WHERE",
        ));
    }
    if !one_row(&q) {
        return Err(sql_error(
            at,
            "a scalar subquery must be one aggregate without GROUP BY (one row); others are not \
             supported yet",
        ));
    }
    let rel = plan_uncorrelated(p, &outer, &q)?;
    if rel.columns.len() != 1 {
        return Err(sql_error(
            at,
            format!(
                "a scalar subquery must return one column, not {}",
                rel.columns.len()
            ),
        ));
    }
    let cond = rewrite(&cond, None, &outer.scope())?;
    join(outer, rel, vec![cond], SemiJoinKind::Semi, loc(e))
}

/// Replaces the scalar subqueries of an expression (not those nested in them) with the
/// subquery column `$inner.$i0`, collecting them; notes an `IN` or `EXISTS` there.
struct Lift {
    depth: usize,
    queries: Vec<(ast::Query, Location)>,
    misplaced: Option<Location>,
}

impl ast::VisitorMut for Lift {
    type Break = ();

    fn pre_visit_query(&mut self, _: &mut ast::Query) -> ControlFlow<()> {
        self.depth += 1;
        ControlFlow::Continue(())
    }

    fn post_visit_query(&mut self, _: &mut ast::Query) -> ControlFlow<()> {
        self.depth -= 1;
        ControlFlow::Continue(())
    }

    fn post_visit_expr(&mut self, x: &mut Expr) -> ControlFlow<()> {
        if self.depth > 0 {
            return ControlFlow::Continue(());
        }
        match x {
            Expr::Subquery(q) => {
                let at = loc(&**q);
                self.queries.push(((**q).clone(), at));
                *x = synthetic(INNER, 0, at);
            }
            Expr::Exists { .. } | Expr::InSubquery { .. } => {
                self.misplaced.get_or_insert(loc(&*x));
            }
            _ => {}
        }
        ControlFlow::Continue(())
    }
}

/// Whether `e` is a comparison whose operand holds the scalar subquery (now the column
/// `$inner.$i0`) under arithmetic only: a NULL there makes `e` NULL, so an outer row kept
/// by `e` needs the subquery's row (the semi join's semantics).
pub(super) fn null_rejecting(e: &Expr) -> bool {
    fn strict(e: &Expr) -> bool {
        match e {
            Expr::CompoundIdentifier(ids) => ids.first().is_some_and(|i| i.value == INNER),
            Expr::Nested(x) | Expr::UnaryOp { expr: x, .. } | Expr::Cast { expr: x, .. } => {
                strict(x)
            }
            Expr::BinaryOp { left, op, right } => {
                use BinaryOperator as B;
                matches!(op, B::Plus | B::Minus | B::Multiply | B::Divide | B::Modulo)
                    && (strict(left) || strict(right))
            }
            _ => false,
        }
    }
    match e {
        Expr::Nested(x) => null_rejecting(x),
        Expr::BinaryOp { left, op, right } => {
            use BinaryOperator as B;
            matches!(op, B::Eq | B::NotEq | B::Lt | B::LtEq | B::Gt | B::GtEq)
                && (strict(left) || strict(right))
        }
        _ => false,
    }
}

/// Whether `q` is `SELECT <aggregates> FROM ..` without `GROUP BY`: exactly one row.
pub(super) fn one_row(q: &ast::Query) -> bool {
    let SetExpr::Select(s) = q.body.as_ref() else {
        return false;
    };
    ungrouped(s)
        && !s.projection.is_empty()
        && s.projection.iter().all(|item| match item {
            SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                has_aggregate(e)
            }
            _ => false,
        })
}

/// Whether `s` has no `GROUP BY`, `HAVING` or `DISTINCT`.
pub(super) fn ungrouped(s: &ast::Select) -> bool {
    matches!(&s.group_by, ast::GroupByExpr::Expressions(g, _) if g.is_empty())
        && s.having.is_none()
        && s.distinct.is_none()
}

/// Whether `e` calls an aggregate function (not as a window function).
pub(super) fn has_aggregate(e: &Expr) -> bool {
    ast::visit_expressions(e, |x| match x {
        Expr::Function(f) if is_aggregate_function(&f.name.to_string()) && f.over.is_none() => {
            ControlFlow::Break(())
        }
        _ => ControlFlow::Continue(()),
    })
    .is_break()
}
