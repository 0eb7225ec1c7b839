//! Top-N and deduplication: `ROW_NUMBER() OVER (PARTITION BY .. ORDER BY ..)` in a subquery
//! whose result the outer query filters by rank (`WHERE rn <= N`, `rn < N`, `rn = 1`).
//!
//! Like Flink, the pattern is recognized as a whole and becomes one `Rank` operator; the
//! row number column exists only when the outer query reads it. Three forms:
//! - Top-N: an updating result (rows enter and leave the top N). Over an insert-only input
//!   only the top N rows per partition are kept (`Rank`); over an updating input (the
//!   changelog of a `GROUP BY`, an outer join...) every row is kept, since a retraction can
//!   bring a row back into the top N (`RetractableRank`, Flink's `RetractStrategy`);
//! - deduplication, N = 1 ordered by a time attribute: `DESC` keeps the last row (a later
//!   row with the same time replaces the kept one), `ASC` the first;
//! - window Top-N, partitioned by `window_start, window_end` of a window TVF or window
//!   aggregation: each window's top N is emitted once, when the watermark closes it.
//!
//! ```text
//!  inner FROM + WHERE ─▶ Calc [inner select list..., partition..., order...]
//!     ─▶ key_by(partition) ─▶ Rank ─▶ Calc [inner select list..., (rn)] ─▶ outer query
//! ```

use sqlparser::ast::{self, BinaryOperator, Expr, Ident, SelectItem, SetExpr, TableFactor};

use super::join::{and_all, conjuncts};
use super::rel::Rel;
use super::window::materialize;
use super::{loc, rename, PlanNode, Planner};
use crate::error::Result;
use crate::operator::factory;
use crate::operator::rank::{Rank, RankMode, RetractableRank, SortKey};
use crate::sql::dialect::sql_error;
use crate::sql::expr::{compile, TypedExpr};
use crate::sql::types::{Column, SqlType};

/// If `select` reads a ranked subquery, plan it: the relation of the subquery (its select
/// list, plus the row number when read) and what is left of the outer `WHERE`.
pub(super) fn try_plan_from(
    planner: &mut Planner<'_>,
    select: &ast::Select,
) -> Result<Option<(Rel, Option<Expr>)>> {
    let [from] = select.from.as_slice() else {
        return Ok(None);
    };
    let TableFactor::Derived {
        subquery, alias, ..
    } = &from.relation
    else {
        return Ok(None);
    };
    if !from.joins.is_empty() || subquery.with.is_some() {
        return Ok(None);
    }
    let SetExpr::Select(inner) = subquery.body.as_ref() else {
        return Ok(None);
    };
    let Some((rn_at, spec, rn_name)) = row_number_item(inner)? else {
        return Ok(None);
    };
    if let Some(order) = &subquery.order_by {
        return Err(sql_error(loc(order), "ORDER BY in a ranked subquery"));
    }

    // The rank bound from the outer WHERE; the other conjuncts stay with the outer query.
    let mut parts = Vec::new();
    if let Some(w) = &select.selection {
        conjuncts(w.clone(), &mut parts);
    }
    let mut limit: Option<usize> = None;
    let mut rest = Vec::new();
    for p in parts {
        match rank_bound(&p, &rn_name)? {
            Some(n) => limit = Some(limit.map_or(n, |l| l.min(n))),
            None => rest.push(p),
        }
    }
    let Some(limit) = limit else {
        return Err(sql_error(
            rn_at,
            format!(
                "ROW_NUMBER() OVER without a filter on '{rn_name}' (WHERE {rn_name} <= N) \
                 is an OVER aggregation, which is not supported yet"
            ),
        ));
    };
    if limit == 0 {
        return Err(sql_error(rn_at, "the rank filter keeps no row"));
    }
    // The row number is output when the outer query reads it.
    let reads_rn = select.projection.iter().any(|item| match item {
        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..) => true,
        SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
            mentions(e, &rn_name)
        }
    }) || rest.iter().any(|e| mentions(e, &rn_name));

    // The inner relation.
    if !matches!(&inner.group_by, ast::GroupByExpr::Expressions(g, _) if g.is_empty())
        || inner.having.is_some()
    {
        return Err(sql_error(
            loc(inner.as_ref()),
            "ROW_NUMBER() over an aggregation in the same SELECT is not supported yet; \
             aggregate in a subquery",
        ));
    }
    let (mut rel, inner_rest) = planner.plan_from(&inner.from, inner.selection.as_ref())?;
    if let Some(pred) = inner_rest {
        rel = planner.filter(rel, &pred)?;
    }
    let rel = materialize(rel)?;
    // A changelog input keeps every row per partition (Flink's RetractStrategy).
    let retract = rel.updating;
    // A global ranking partitions by a constant (see `group::constant_key`).
    let mut spec = spec;
    if spec.partition_by.is_empty() {
        spec.partition_by.push(super::group::constant_key());
    }
    let scope = rel.scope();
    let partition: Vec<TypedExpr> = spec
        .partition_by
        .iter()
        .map(|e| compile(e, &scope))
        .collect::<Result<_>>()?;
    if spec.order_by.is_empty() {
        return Err(sql_error(rn_at, "ROW_NUMBER() needs an ORDER BY"));
    }
    let order: Vec<(TypedExpr, bool, bool)> = spec
        .order_by
        .iter()
        .map(|o| {
            let descending = o.options.asc == Some(false);
            // Flink sorts NULLs first in ascending order, last in descending order.
            let nulls_first = o.options.nulls_first.unwrap_or(!descending);
            Ok((compile(&o.expr, &scope)?, descending, nulls_first))
        })
        .collect::<Result<_>>()?;
    let window_end = rel.windowed.as_ref().and_then(|w| {
        let has = |i: usize| partition.iter().any(|p| p.as_column() == Some(i));
        (has(w.start) && has(w.end)).then_some(w.end)
    });
    let dedup = limit == 1
        && !reads_rn
        && window_end.is_none()
        && order.len() == 1
        && order[0]
            .0
            .as_column()
            .is_some_and(|i| rel.columns[i].rowtime);
    let new_ties_first = dedup && order[0].1;
    if retract && (dedup || window_end.is_some()) {
        // Unreachable from SQL today (updating relations carry no time attributes and
        // no window columns), and Flink rejects both: its Deduplicate and WindowRank
        // consume insert-only input.
        return Err(sql_error(
            rn_at,
            if dedup {
                "deduplication over an updating input is not supported"
            } else {
                "window Top-N over an updating input is not supported"
            },
        ));
    }

    // Calc: the inner select list, then the partition and order columns.
    let mut items: Vec<SelectItem> = inner
        .projection
        .iter()
        .filter(|item| !is_row_number(item))
        .cloned()
        .collect();
    let hidden: Vec<String> = (0..partition.len())
        .map(|i| format!("$p{i}"))
        .chain((0..order.len()).map(|i| format!("$o{i}")))
        .collect();
    for (e, name) in spec
        .partition_by
        .iter()
        .chain(spec.order_by.iter().map(|o| &o.expr))
        .zip(&hidden)
    {
        items.push(SelectItem::ExprWithAlias {
            expr: e.clone(),
            alias: Ident::new(name.clone()),
        });
    }
    let projected = planner.project(rel, &items)?;
    let total = projected.columns.len();
    let visible = total - hidden.len();
    let np = partition.len();
    let part_idx: Vec<usize> = (visible..visible + np).collect();
    let sort: Vec<SortKey> = order
        .iter()
        .enumerate()
        .map(|(i, (_, descending, nulls_first))| SortKey {
            column: visible + np + i,
            descending: *descending,
            nulls_first: *nulls_first,
        })
        .collect();
    let mode = match window_end {
        Some(end) => {
            let pos = partition
                .iter()
                .position(|p| p.as_column() == Some(end))
                .unwrap_or(0);
            RankMode::Window {
                window_end: visible + pos,
            }
        }
        None => RankMode::Updating,
    };
    let updating = matches!(mode, RankMode::Updating);
    let names = projected.field_names();
    let keys: Vec<String> = part_idx.iter().map(|&i| names[i].clone()).collect();
    let kind = if window_end.is_some() {
        "WindowRank"
    } else if dedup {
        "Deduplicate"
    } else {
        "Rank"
    };
    let strategy = if retract {
        "strategy=[RetractStrategy], "
    } else {
        ""
    };
    let text = format!(
        "{kind}({strategy}partitionBy=[{}], orderBy=[{}], rankRange=[1..{limit}], select rank=[{reads_rn}])",
        spec.partition_by
            .iter()
            .map(|e| e.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        spec.order_by
            .iter()
            .map(|o| o.to_string())
            .collect::<Vec<_>>()
            .join(", "),
    );
    let operator = if retract {
        factory(move |_| RetractableRank::new(part_idx.clone(), sort.clone(), limit, reads_rn))
    } else {
        factory(move |_| {
            Rank::new(
                part_idx.clone(),
                sort.clone(),
                limit,
                reads_rn,
                new_ties_first,
                mode,
            )
        })
    };
    let stream = projected.stream.key_by(keys).then_keyed(kind, operator);
    let mut columns = projected.columns.clone();
    if reads_rn {
        let mut c = Column::new(rn_name.clone(), SqlType::BigInt);
        c.nullable = false;
        columns.push(c);
    }
    let ranked = Rel {
        stream,
        columns,
        window: None,
        windowed: None,
        updating,
        plan: PlanNode::new(text, vec![projected.plan]),
        origin: None,
    }
    .sync_time();
    // Drop the partition and order columns.
    let keep: Vec<usize> = (0..visible).chain(reads_rn.then_some(total)).collect();
    let exprs: Vec<TypedExpr> = keep
        .iter()
        .map(|&i| TypedExpr::column(i, &ranked.columns[i]))
        .collect();
    let cols: Vec<Column> = keep.iter().map(|&i| ranked.columns[i].clone()).collect();
    let mut out = super::rel::calc_always(ranked, None, exprs, cols);
    if let Some(a) = alias {
        out = rename(
            out.requalify(&a.name.value),
            &a.columns,
            loc(&from.relation),
        )?;
    }
    Ok(Some((out, and_all(rest))))
}

/// Whether a select item is `ROW_NUMBER() OVER (...)`.
fn is_row_number(item: &SelectItem) -> bool {
    match item {
        SelectItem::UnnamedExpr(Expr::Function(f))
        | SelectItem::ExprWithAlias {
            expr: Expr::Function(f),
            ..
        } => f.over.is_some() && f.name.to_string().eq_ignore_ascii_case("ROW_NUMBER"),
        _ => false,
    }
}

/// The `ROW_NUMBER() OVER (...) AS name` item of `inner`: where it is, its window and name.
fn row_number_item(
    inner: &ast::Select,
) -> Result<Option<(sqlparser::tokenizer::Location, ast::WindowSpec, String)>> {
    for (i, item) in inner.projection.iter().enumerate() {
        if !is_row_number(item) {
            continue;
        }
        let (f, name) = match item {
            SelectItem::ExprWithAlias {
                expr: Expr::Function(f),
                alias,
            } => (f, alias.value.clone()),
            SelectItem::UnnamedExpr(Expr::Function(f)) => (f, format!("EXPR${i}")),
            _ => continue,
        };
        let at = loc(f);
        let spec = match &f.over {
            Some(ast::WindowType::WindowSpec(s)) => s.clone(),
            _ => {
                return Err(sql_error(
                    at,
                    "named windows (OVER w) are not supported yet",
                ))
            }
        };
        if spec.window_frame.is_some() {
            return Err(sql_error(at, "ROW_NUMBER() takes no window frame"));
        }
        return Ok(Some((at, spec, name)));
    }
    Ok(None)
}

/// `rn <= N`, `rn < N`, `rn = 1` (or mirrored): the number of rows kept.
fn rank_bound(e: &Expr, rn: &str) -> Result<Option<usize>> {
    let Expr::BinaryOp { left, op, right } = e else {
        return Ok(None);
    };
    let is_rn = |e: &Expr| matches!(e, Expr::Identifier(i) if i.value.eq_ignore_ascii_case(rn));
    let number = |e: &Expr| -> Option<i64> {
        match e {
            Expr::Value(v) => match &v.value {
                ast::Value::Number(n, _) => n.parse().ok(),
                _ => None,
            },
            _ => None,
        }
    };
    let (op, n) = if is_rn(left) {
        match number(right) {
            Some(n) => (op.clone(), n),
            None => return Ok(None),
        }
    } else if is_rn(right) {
        let flipped = match op {
            BinaryOperator::GtEq => BinaryOperator::LtEq,
            BinaryOperator::Gt => BinaryOperator::Lt,
            other => other.clone(),
        };
        match number(left) {
            Some(n) => (flipped, n),
            None => return Ok(None),
        }
    } else {
        return Ok(None);
    };
    let limit = match op {
        BinaryOperator::LtEq => n,
        BinaryOperator::Lt => n - 1,
        BinaryOperator::Eq if n == 1 => 1,
        BinaryOperator::Eq => {
            return Err(sql_error(
                loc(e),
                "a rank filter must start at rank 1 (rn = N with N > 1 is not supported yet)",
            ))
        }
        _ => return Ok(None),
    };
    Ok(Some(usize::try_from(limit.max(0)).unwrap_or(0)))
}

/// Whether `e` names the column `name`.
fn mentions(e: &Expr, name: &str) -> bool {
    ast::visit_expressions(e, |x| match x {
        Expr::Identifier(i) if i.value.eq_ignore_ascii_case(name) => {
            std::ops::ControlFlow::Break(())
        }
        Expr::CompoundIdentifier(p)
            if p.last().is_some_and(|i| i.value.eq_ignore_ascii_case(name)) =>
        {
            std::ops::ControlFlow::Break(())
        }
        _ => std::ops::ControlFlow::Continue(()),
    })
    .is_break()
}
