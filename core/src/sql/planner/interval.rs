//! Interval joins: the conjuncts of a join condition that bound the distance between the
//! event times of the two inputs, as Flink's `IntervalJoin` recognizes them:
//! `r.ts BETWEEN l.ts - INTERVAL '1' HOUR AND l.ts + INTERVAL '10' MINUTE`,
//! `l.ts >= r.ts - INTERVAL ...`, `l.ts < r.ts`, in either order. With a lower and an upper
//! bound on `r.ts - l.ts`, the join keeps each row only while a partner can still arrive.
//!
//! A side's time is its rowtime or, beyond Flink, the `window_end` of a window
//! aggregation's result ([`Column::window_end`](crate::sql::types::Column::window_end)):
//! Flink runs such a join (Nexmark q7) as a regular join that keeps every row forever and
//! filters on the bounds; the rows are the same.

use sqlparser::ast::{BinaryOperator, Expr};

use crate::sql::expr::{compile, interval_millis, Scope};

/// Bounds on `right time - left time`, inclusive, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct TimeBounds {
    /// `r.ts - l.ts >= lower`.
    pub lower: i64,
    /// `r.ts - l.ts <= upper`.
    pub upper: i64,
    /// The left input's time column.
    pub left: usize,
    /// The right input's time column (an index into the joined scope: `nl + j`).
    pub right: usize,
}

/// An operand `col`, `col + INTERVAL`, `col - INTERVAL`: the column and the offset.
fn time_operand(e: &Expr, scope: &Scope) -> Option<(usize, i64)> {
    match e {
        Expr::Nested(inner) => time_operand(inner, scope),
        Expr::BinaryOp { left, op, right } => {
            let sign = match op {
                BinaryOperator::Plus => 1,
                BinaryOperator::Minus => -1,
                _ => return None,
            };
            let (col, off) = time_operand(left, scope)?;
            let ms = interval_millis(right).ok()?;
            Some((col, off + sign * ms))
        }
        _ => {
            let t = compile(e, scope).ok()?;
            let col = t.as_column()?;
            let c = scope.columns.get(col)?;
            (c.rowtime || c.window_end).then_some((col, 0))
        }
    }
}

/// One comparison `a <op> b` as a bound on `r - l`: `(is lower, value, (left column, right
/// column))`.
fn bound(
    a: &Expr,
    op: &BinaryOperator,
    b: &Expr,
    scope: &Scope,
    nl: usize,
) -> Option<(bool, i64, (usize, usize))> {
    let (ac, ao) = time_operand(a, scope)?;
    let (bc, bo) = time_operand(b, scope)?;
    let cols = if ac < nl { (ac, bc) } else { (bc, ac) };
    // Normalize to `d <op> v` with d = r - l.
    let (op, v) = if ac < nl && bc >= nl {
        // l + ao <op> r + bo  ⇔  d <flipped op> ao - bo
        let flipped = match op {
            BinaryOperator::GtEq => BinaryOperator::LtEq,
            BinaryOperator::Gt => BinaryOperator::Lt,
            BinaryOperator::LtEq => BinaryOperator::GtEq,
            BinaryOperator::Lt => BinaryOperator::Gt,
            _ => return None,
        };
        (flipped, ao - bo)
    } else if ac >= nl && bc < nl {
        // r + ao <op> l + bo  ⇔  d <op> bo - ao
        (op.clone(), bo - ao)
    } else {
        return None;
    };
    match op {
        BinaryOperator::GtEq => Some((true, v, cols)),
        BinaryOperator::Gt => Some((true, v + 1, cols)),
        BinaryOperator::LtEq => Some((false, v, cols)),
        BinaryOperator::Lt => Some((false, v - 1, cols)),
        _ => None,
    }
}

/// Take the time-bound conjuncts out of `residual` (over `scope`: the left input's `nl`
/// columns, then the right's) if they give both a lower and an upper bound. All of them
/// must bound the same pair of time columns (the first pair found; others stay residual).
pub(super) fn extract(residual: &mut Vec<Expr>, scope: &Scope, nl: usize) -> Option<TimeBounds> {
    let mut lower: Option<i64> = None;
    let mut upper: Option<i64> = None;
    let mut cols: Option<(usize, usize)> = None;
    let mut used = Vec::new();
    for (i, p) in residual.iter().enumerate() {
        let found: Vec<(bool, i64, (usize, usize))> = match p {
            Expr::BinaryOp { left, op, right } => {
                bound(left, op, right, scope, nl).into_iter().collect()
            }
            Expr::Between {
                expr,
                negated: false,
                low,
                high,
            } => {
                match (
                    bound(expr, &BinaryOperator::GtEq, low, scope, nl),
                    bound(expr, &BinaryOperator::LtEq, high, scope, nl),
                ) {
                    (Some(a), Some(b)) => vec![a, b],
                    _ => vec![],
                }
            }
            _ => vec![],
        };
        let same = |c: (usize, usize)| found.iter().all(|f| f.2 == c);
        if found.is_empty() || !same(found[0].2) || cols.is_some_and(|c| !same(c)) {
            continue;
        }
        cols = Some(found[0].2);
        used.push(i);
        for (is_lower, v, _) in found {
            if is_lower {
                lower = Some(lower.map_or(v, |l| l.max(v)));
            } else {
                upper = Some(upper.map_or(v, |u| u.min(v)));
            }
        }
    }
    let (lower, upper, (left, right)) = (lower?, upper?, cols?);
    for i in used.into_iter().rev() {
        residual.remove(i);
    }
    Some(TimeBounds {
        lower,
        upper,
        left,
        right,
    })
}
