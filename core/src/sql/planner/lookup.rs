//! Lookup joins: `s JOIN d FOR SYSTEM_TIME AS OF s.p AS d ON s.x = d.k`, where `s.p` is a
//! processing-time attribute of the stream and `d` a table of the catalog.
//!
//! The condition's `stream expr = table column` conjuncts are the lookup keys (each stream
//! side cast to its table column's type); of an inner join, conjuncts over the stream only
//! filter it first and the others filter the joined rows. The stream gets its key columns
//! from a Calc, then a [`LookupJoin`] reads the whole table in each subtask and probes every
//! stream batch without keeping it; a Calc drops the key columns. `FOR SYSTEM_TIME AS OF` an
//! event-time attribute (Flink's temporal join over a versioned table) is rejected.
//!
//! ```text
//!  stream ─▶ Calc(+ key columns) ─▶ LookupJoin(table source, read once) ─▶ Calc(- keys)
//! ```

use sqlparser::ast::{self, Expr};
use sqlparser::tokenizer::Location;

use super::join::{and_all, classify, Conjunct};
use super::rel::{calc, PlanNode, Rel};
use super::window::materialize;
use super::{identity, Planner};
use crate::error::Result;
use crate::operator::factory;
use crate::operator::join::LookupJoin;
use crate::sql::catalog::CatalogObject;
use crate::sql::dialect::sql_error;
use crate::sql::expr::{compile, Scope, TypedExpr};
use crate::sql::types::Column;

/// The lookup table of a join's right side, if it is written `t FOR SYSTEM_TIME AS OF e`:
/// the table's name, its alias and `e`.
pub(super) fn lookup_target(tf: &ast::TableFactor) -> Option<(String, Option<String>, &Expr)> {
    let ast::TableFactor::Table {
        name,
        alias,
        version: Some(ast::TableVersion::ForSystemTimeAsOf(e)),
        ..
    } = tf
    else {
        return None;
    };
    let table = name.0.last()?.as_ident()?.value.clone();
    Some((table, alias.as_ref().map(|a| a.name.value.clone()), e))
}

/// `left JOIN table FOR SYSTEM_TIME AS OF time AS alias <op>`.
///
/// # Errors
/// [`Error::Sql`](crate::error::Error::Sql) at the join for an event-time or non-time
/// `AS OF`, a table that is not in the catalog (or is a view) or is unbounded, a join type other than inner
/// or left, a condition without a `stream expr = table column` equality, or (left join) a
/// condition that is not only equalities.
pub(super) fn plan(
    planner: &mut Planner<'_>,
    left: Rel,
    target: (String, Option<String>, &Expr),
    op: &ast::JoinOperator,
    at: Location,
) -> Result<Rel> {
    let (table, alias, time) = target;
    let left = materialize(left)?;
    if left.updating {
        return Err(sql_error(
            at,
            "a lookup join of an updating stream is not supported yet",
        ));
    }
    let t = compile(time, &left.scope())?;
    match t.as_column().map(|i| &left.columns[i]) {
        Some(c) if c.rowtime => {
            return Err(sql_error(
                at,
                "FOR SYSTEM_TIME AS OF an event-time attribute (a temporal join with a \
                 versioned table) is not supported yet; use a processing-time attribute \
                 (PROCTIME()) for a lookup join",
            ))
        }
        Some(c) if c.proctime => {}
        _ => {
            return Err(sql_error(
                at,
                "FOR SYSTEM_TIME AS OF needs a time attribute of the left input",
            ))
        }
    }
    use ast::JoinOperator as J;
    let (constraint, left_outer) = match op {
        J::Join(c) | J::Inner(c) => (c, false),
        J::Left(c) | J::LeftOuter(c) => (c, true),
        _ => {
            return Err(sql_error(
                at,
                "a lookup join must be an inner or a left join",
            ))
        }
    };
    let ast::JoinConstraint::On(cond) = constraint else {
        return Err(sql_error(at, "a lookup join needs an ON condition"));
    };
    let Some(CatalogObject::Table(def)) = planner.catalog.get(&table) else {
        return Err(sql_error(
            at,
            format!("Object '{table}' not found (a lookup join reads a table, not a view)"),
        ));
    };
    let def = def.def.clone();
    let qualifier = alias.unwrap_or_else(|| table.clone());
    let names: Vec<String> = def.columns.iter().map(|c| c.name.clone()).collect();
    let connector = planner.connectors.for_table(&def)?;
    if !connector.is_bounded(&def) {
        return Err(sql_error(
            at,
            format!("the lookup table '{table}' is unbounded; a lookup join reads a bounded table"),
        ));
    }
    let source = connector.source(&def, &names)?;
    let right_cols: Vec<Column> = def
        .columns
        .iter()
        .map(|c| {
            let mut c = c.clone();
            c.qualifier = Some(qualifier.clone());
            c.rowtime = false;
            c.nullable = c.nullable || left_outer;
            c
        })
        .collect();

    let nl = left.columns.len();
    let mut all = left.columns.clone();
    all.extend(right_cols.iter().cloned());
    let (pairs, rest) = classify(Some(cond.clone()), &Scope::new(all.clone()), nl);
    let (mut stream_filters, mut after) = (Vec::new(), Vec::new());
    for c in rest {
        match c {
            _ if left_outer => {
                return Err(sql_error(
                    at,
                    "a left lookup join takes only equalities between stream expressions \
                     and table columns in ON",
                ))
            }
            Conjunct::Left(p) => stream_filters.push(p),
            Conjunct::Right(p) | Conjunct::Both(p) => after.push(p),
            Conjunct::Unresolved(p) => {
                return Err(sql_error(
                    at,
                    format!("cannot resolve '{p}' in the join condition"),
                ))
            }
        }
    }
    // Stream side: its columns, then one key column per equality, typed as the table's.
    let mut exprs = identity(&left.columns);
    let mut cols = left.columns.clone();
    let mut table_keys = Vec::new();
    for (s, d) in pairs {
        let Some(j) = d.as_column().map(|i| i - nl) else {
            return Err(sql_error(
                at,
                "lookup join keys must be columns of the lookup table",
            ));
        };
        let ty = right_cols[j].ty;
        let key = s.cast_to(ty)?;
        let mut c = Column::new(format!("$lk{}", cols.len()), ty);
        c.nullable = key.nullable();
        exprs.push(key);
        cols.push(c);
        table_keys.push(right_cols[j].name.clone());
    }
    if table_keys.is_empty() {
        return Err(sql_error(
            at,
            "a lookup join needs an equality between a stream expression and a table column",
        ));
    }
    let filter = match and_all(stream_filters) {
        Some(f) => Some(compile(&f, &left.scope())?),
        None => None,
    };
    let pre = calc(left, filter, exprs, cols.clone());
    let names_pre = pre.field_names();
    let stream_keys: Vec<String> = names_pre[nl..].to_vec();
    let text = format!(
        "LookupJoin(table=[{table}], joinType=[{}], lookup=[{}])",
        if left_outer {
            "LeftOuterJoin"
        } else {
            "InnerJoin"
        },
        stream_keys
            .iter()
            .zip(&table_keys)
            .map(|(s, t)| format!("{t}={s}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let (sk, tk) = (stream_keys.clone(), table_keys.clone());
    let stream = pre.stream.transform(
        "LookupJoin",
        factory(move |_| LookupJoin::new(sk.clone(), tk.clone(), source.clone(), left_outer)),
    );
    let mut joined_cols = cols;
    joined_cols.extend(right_cols.iter().cloned());
    let joined = Rel {
        stream,
        columns: joined_cols,
        window: None,
        windowed: None,
        updating: false,
        plan: PlanNode::new(text, vec![pre.plan]),
        origin: None,
    }
    .sync_time();
    // Drop the key columns; filter by what is left of an inner join's condition.
    let n_keys = table_keys.len();
    let mut keep: Vec<TypedExpr> = Vec::new();
    let mut out_cols: Vec<Column> = Vec::new();
    for (i, c) in joined.columns.iter().enumerate() {
        if i >= nl && i < nl + n_keys {
            continue;
        }
        keep.push(TypedExpr::column(i, c));
        out_cols.push(c.clone());
    }
    let post = match and_all(after) {
        Some(f) => Some(compile(&f, &joined.scope())?),
        None => None,
    };
    Ok(calc(joined, post, keep, out_cols))
}
