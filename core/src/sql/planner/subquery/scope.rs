//! Names in a subquery's conditions: SQL resolves a name first in the subquery's `FROM`,
//! then in the outer query's. The conditions of a semi or anti join are rewritten to name
//! the columns of one combined scope, the outer columns (`$outer.$o<i>`) then the
//! subquery's (`$inner.$i<j>`), so that they compile once over both inputs and show which
//! side each column comes from.

use std::ops::ControlFlow;

use sqlparser::ast::{self, Expr, Ident};
use sqlparser::tokenizer::Location;

use crate::error::{Error, Result};
use crate::sql::expr::{compile, Scope, TypedExpr};
use crate::sql::planner::rel::Rel;
use crate::sql::types::Column;

/// Qualifiers of the renamed columns in a join condition's scope.
pub(super) const OUTER: &str = "$outer";
pub(super) const INNER: &str = "$inner";

/// The column `j` of the side `qualifier` in [`combined`] as an identifier, placed at `at`.
pub(super) fn synthetic(qualifier: &str, j: usize, at: Location) -> Expr {
    let span = sqlparser::tokenizer::Span::new(at, at);
    let name = if qualifier == INNER {
        format!("$i{j}")
    } else {
        format!("$o{j}")
    };
    Expr::CompoundIdentifier(vec![
        Ident::with_span(span, qualifier),
        Ident::with_span(span, name),
    ])
}

/// `e` with every column name resolved, first in `inner` (when given), then in `outer`, and
/// replaced by its name in [`combined`]; names already rewritten stay.
///
/// # Errors
/// A name neither scope has (the inner scope's error), or one that is ambiguous there.
pub(super) fn rewrite(e: &Expr, inner: Option<&Scope>, outer: &Scope) -> Result<Expr> {
    let mut out = e.clone();
    let mut err: Option<Error> = None;
    let _ = ast::visit_expressions_mut(&mut out, |x| {
        let ids: Vec<Ident> = match x {
            Expr::Identifier(id) => vec![id.clone()],
            Expr::CompoundIdentifier(ids) => ids.clone(),
            _ => return ControlFlow::<()>::Continue(()),
        };
        if ids.len() == 2 && (ids[0].value == INNER || ids[0].value == OUTER) {
            return ControlFlow::Continue(());
        }
        let at = ids.last().map_or(Location::new(0, 0), |i| i.span.start);
        let found = match inner.map(|s| s.resolve(&ids)) {
            Some(Ok(j)) => Ok(synthetic(INNER, j, at)),
            Some(Err(e)) if e.to_string().contains("ambiguous") => Err(e),
            // A qualifier the subquery does not know: the outer query's error says more.
            Some(Err(e)) => outer
                .resolve(&ids)
                .map(|i| synthetic(OUTER, i, at))
                .map_err(|o| {
                    if e.to_string().contains("Table '") {
                        o
                    } else {
                        e
                    }
                }),
            None => outer.resolve(&ids).map(|i| synthetic(OUTER, i, at)),
        };
        match found {
            Ok(new) => *x = new,
            Err(e) => {
                err.get_or_insert(e);
            }
        }
        ControlFlow::Continue(())
    });
    match err {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The scope of a join condition: the outer columns as `$outer.$o<i>`, then the subquery's
/// as `$inner.$i<j>`.
pub(super) fn combined(outer: &Rel, inner: &Rel) -> Scope {
    let rename = |c: &Column, q: &str, name: String| Column {
        name,
        qualifier: Some(q.to_string()),
        rowtime: false,
        proctime: false,
        window_end: false,
        ..c.clone()
    };
    let mut columns: Vec<Column> = outer
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| rename(c, OUTER, format!("$o{i}")))
        .collect();
    columns.extend(
        inner
            .columns
            .iter()
            .enumerate()
            .map(|(j, c)| rename(c, INNER, format!("$i{j}"))),
    );
    Scope::new(columns)
}

/// `e` (over [`combined`]) with the columns' own names, for `EXPLAIN`.
pub(super) fn readable(e: &Expr, outer: &Rel, inner: &Rel) -> Expr {
    let mut e = e.clone();
    let _ = ast::visit_expressions_mut(&mut e, |x| {
        let Expr::CompoundIdentifier(ids) = x else {
            return ControlFlow::<()>::Continue(());
        };
        let [q, n] = ids.as_slice() else {
            return ControlFlow::Continue(());
        };
        let (columns, prefix) = match q.value.as_str() {
            OUTER => (&outer.columns, "$o"),
            INNER => (&inner.columns, "$i"),
            _ => return ControlFlow::Continue(()),
        };
        let column = n
            .value
            .strip_prefix(prefix)
            .and_then(|i| i.parse::<usize>().ok())
            .and_then(|i| columns.get(i));
        if let Some(c) = column {
            let name = Ident::with_span(n.span, c.name.clone());
            *x = match &c.qualifier {
                Some(q) => {
                    Expr::CompoundIdentifier(vec![Ident::with_span(n.span, q.clone()), name])
                }
                None => Expr::Identifier(name),
            };
        }
        ControlFlow::Continue(())
    });
    e
}

/// A condition over one side only, compiled over that side's own columns (so that plans
/// show their names), else as compiled over [`combined`] and moved.
pub(super) fn side_filter(
    c: &Expr,
    t: TypedExpr,
    outer: &Rel,
    inner: &Rel,
    side: &Rel,
) -> TypedExpr {
    compile(&readable(c, outer, inner), &side.scope())
        .ok()
        .filter(|own| own.ty() == t.ty())
        .unwrap_or(t)
}
