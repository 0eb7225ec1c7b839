//! The query planner: a `sqlparser` query becomes a graph of DataStream operators.
//!
//! Planning walks the query bottom-up and builds a [`Rel`] per clause: a stream plus the
//! SQL columns of its batches. Projections and filters become one vectorized `Calc` each;
//! columns no part of the statement names are never read from the source (projection
//! pushdown: the source's projection is the set of identifiers the statement uses);
//! `GROUP BY` over a window becomes the window-aggregate operator, joins become the regular
//! or window join operators.
//!
//! ```text
//!  FROM (scan | subquery | TABLE(TUMBLE(...)) | join) ─▶ WHERE (Calc) ─▶ GROUP BY window
//!     (pre-Calc ─▶ window aggregate ─▶ post-Calc with HAVING) | SELECT list (Calc)
//! ```

mod aggregate;
mod extreme;
mod group;
mod interval;
mod join;
mod lookup;
#[cfg(test)]
mod lookup_tests;
mod over;
mod pushdown;
mod rank;
pub(crate) mod rel;
mod subquery;
mod values;
mod window;

use std::collections::{HashMap, HashSet};

use sqlparser::ast::{self, Expr, SelectItem, SetExpr, Spanned, TableFactor};
use sqlparser::tokenizer::Location;

use crate::api::StreamExecutionEnvironment;
use crate::error::{Error, Result};
use crate::sql::catalog::{Catalog, CatalogObject};
use crate::sql::connector::ConnectorRegistry;
use crate::sql::ddl::TableColumn;
use crate::sql::dialect::sql_error;
use crate::sql::expr::{common_type, compile, is_aggregate_function, Scope, TypedExpr};
use crate::sql::types::Column;
use crate::time::WatermarkStrategy;
use extreme::Origin;

pub use rel::{calc, field_names, schema_of, PlanNode, Rel};
pub(crate) use window::materialize;

/// Deepest nesting of views and `WITH` queries in one statement.
const MAX_VIEW_NESTING: usize = 32;

/// Plans queries of one statement into one stream environment.
pub struct Planner<'a> {
    /// Where the operators go.
    pub env: StreamExecutionEnvironment,
    catalog: &'a Catalog,
    connectors: &'a ConnectorRegistry,
    /// Every identifier the statement names (`None`: `*` somewhere, read every column).
    names: Option<HashSet<String>>,
    /// `WITH` queries in scope, innermost last.
    ctes: Vec<HashMap<String, ast::Query>>,
    /// Views and `WITH` queries being planned, one inside the other.
    expanding: usize,
    /// Whether a table read so far is unbounded (by its connector's options).
    unbounded: bool,
}

/// The place of an AST node in the script.
pub(crate) fn loc<T: Spanned>(node: &T) -> Location {
    node.span().start
}

impl<'a> Planner<'a> {
    /// A planner over `catalog`, adding operators to `env`. `statement` is the whole
    /// statement being planned, for projection pushdown.
    pub fn new<T: sqlparser::ast::Visit>(
        env: StreamExecutionEnvironment,
        catalog: &'a Catalog,
        connectors: &'a ConnectorRegistry,
        statement: &T,
    ) -> Self {
        Planner {
            env,
            catalog,
            connectors,
            names: identifiers(statement),
            ctes: Vec::new(),
            expanding: 0,
            unbounded: false,
        }
    }

    /// Whether the plan reads an unbounded table, so that its result never ends.
    pub fn reads_unbounded(&self) -> bool {
        self.unbounded
    }

    /// Plan a query.
    ///
    /// # Errors
    /// [`Error::Sql`] at the offending text.
    pub fn plan_query(&mut self, q: &ast::Query) -> Result<Rel> {
        if let Some(order) = &q.order_by {
            return Err(sql_error(
                loc(order),
                "ORDER BY is not supported on an unbounded result; use Top-N (ROW_NUMBER() OVER (ORDER BY ...) filtered by rank)",
            ));
        }
        if q.limit_clause.is_some() || q.fetch.is_some() {
            return Err(sql_error(loc(q), "LIMIT/FETCH is not supported yet"));
        }
        let pushed = match &q.with {
            Some(with) => {
                let mut scope = HashMap::new();
                for cte in &with.cte_tables {
                    scope.insert(cte.alias.name.value.clone(), (*cte.query).clone());
                }
                self.ctes.push(scope);
                true
            }
            None => false,
        };
        let out = self.plan_set_expr(&q.body);
        if pushed {
            self.ctes.pop();
        }
        out
    }

    fn plan_set_expr(&mut self, body: &SetExpr) -> Result<Rel> {
        match body {
            SetExpr::Select(s) => self.plan_select(s),
            SetExpr::Query(q) => self.plan_query(q),
            SetExpr::SetOperation {
                op: ast::SetOperator::Union,
                set_quantifier: ast::SetQuantifier::All,
                left,
                right,
            } => self.union_all(left, right),
            SetExpr::SetOperation { op, .. } => Err(sql_error(
                loc(body),
                format!("{op} without ALL is not supported yet; use UNION ALL"),
            )),
            SetExpr::Values(v) => values::plan(self, v, loc(body)),
            other => Err(sql_error(loc(other), "unsupported query form")),
        }
    }

    fn union_all(&mut self, left: &SetExpr, right: &SetExpr) -> Result<Rel> {
        let l = self.plan_set_expr(left)?;
        let r = self.plan_set_expr(right)?;
        let (l, r) = (window::materialize(l)?, window::materialize(r)?);
        if l.columns.len() != r.columns.len() {
            return Err(sql_error(
                loc(right),
                format!(
                    "UNION ALL inputs have {} and {} columns",
                    l.columns.len(),
                    r.columns.len()
                ),
            ));
        }
        let mut columns = Vec::new();
        for (a, b) in l.columns.iter().zip(&r.columns) {
            let Some(ty) = common_type(a.ty, b.ty) else {
                return Err(sql_error(
                    loc(right),
                    format!(
                        "UNION ALL column '{}' has types {} and {}",
                        a.name, a.ty, b.ty
                    ),
                ));
            };
            let mut c = Column::new(a.name.clone(), ty);
            c.nullable = a.nullable || b.nullable;
            c.rowtime = a.rowtime && b.rowtime;
            c.window_end = a.window_end && b.window_end;
            columns.push(c);
        }
        let cast_side = |rel: Rel, columns: &[Column]| -> Result<Rel> {
            let exprs = rel
                .columns
                .iter()
                .enumerate()
                .zip(columns)
                .map(|((i, c), target)| TypedExpr::column(i, c).cast_to(target.ty))
                .collect::<Result<Vec<_>>>()?;
            Ok(calc(rel, None, exprs, columns.to_vec()))
        };
        let updating = l.updating || r.updating;
        let (l, r) = (cast_side(l, &columns)?, cast_side(r, &columns)?);
        let plan = PlanNode::new("Union(all=[true])", vec![l.plan, r.plan]);
        let stream = l.stream.union(&[r.stream]);
        Ok(Rel {
            stream,
            columns,
            window: None,
            windowed: None,
            updating,
            plan,
            origin: None,
        }
        .sync_time())
    }

    fn plan_select(&mut self, s: &ast::Select) -> Result<Rel> {
        // SELECT DISTINCT groups by the select list.
        let mut distinct_keys: Vec<Expr> = Vec::new();
        if let Some(d) = &s.distinct {
            let plain = matches!(d, ast::Distinct::Distinct)
                && matches!(&s.group_by, ast::GroupByExpr::Expressions(g, _) if g.is_empty());
            for item in &s.projection {
                match item {
                    SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. }
                        if plain =>
                    {
                        distinct_keys.push(e.clone())
                    }
                    _ => {
                        return Err(sql_error(
                            loc(s),
                            format!(
                                "SELECT {d} is supported only with a list of expressions and \
                                 without GROUP BY"
                            ),
                        ))
                    }
                }
            }
        }
        let (rel, rest) = if s.from.is_empty() {
            (values::one_row(self)?, s.selection.clone())
        } else {
            match rank::try_plan_from(self, s)? {
                Some(ranked) => ranked,
                None => self.plan_from(&s.from, s.selection.as_ref())?,
            }
        };
        self.select_from(s, rel, rest, &distinct_keys)
    }

    /// The rest of a `SELECT` over its `FROM` relation `rel`: the `WHERE` conditions still to
    /// apply (`rest`), grouping, `OVER`, the select list. (Apart from [`Planner::plan_select`]
    /// so that its locals are not on the stack while views nested in `FROM` are planned.)
    #[inline(never)]
    fn select_from(
        &mut self,
        s: &ast::Select,
        rel: Rel,
        rest: Option<Expr>,
        distinct_keys: &[Expr],
    ) -> Result<Rel> {
        // A plain WHERE waits for a plain select list, so that both run in one Calc (and
        // share their common subexpressions); anything else filters first.
        let (rel, deferred) = match &rest {
            Some(pred) => self.filter_deferred(rel, pred)?,
            None => (rel, None),
        };
        let group_by: &[Expr] = match &s.group_by {
            _ if !distinct_keys.is_empty() => distinct_keys,
            ast::GroupByExpr::Expressions(exprs, _) => exprs,
            ast::GroupByExpr::All(_) => {
                return Err(sql_error(loc(s), "GROUP BY ALL is not supported"))
            }
        };
        if over::has_over(&s.projection) {
            let rel = filtered(rel, deferred);
            if !group_by.is_empty() || s.having.is_some() {
                return Err(sql_error(
                    loc(s),
                    "OVER aggregations together with GROUP BY are not supported yet",
                ));
            }
            let rel = window::materialize(rel)?;
            return over::plan(self, rel, s);
        }
        let mut has_aggregates = false;
        let mut check = |e: &Expr| {
            let _ = ast::visit_expressions(e, |x| {
                if let Expr::Function(f) = x {
                    if is_aggregate_function(&f.name.to_string()) {
                        has_aggregates = true;
                    }
                }
                std::ops::ControlFlow::<()>::Continue(())
            });
        };
        for item in &s.projection {
            match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => check(e),
                _ => {}
            }
        }
        if let Some(h) = &s.having {
            check(h);
        }
        if has_aggregates || !group_by.is_empty() {
            return aggregate::plan(self, filtered(rel, deferred), s, group_by);
        }
        if let Some(h) = &s.having {
            return Err(sql_error(loc(h), "HAVING without GROUP BY or aggregates"));
        }
        let rel = window::materialize(rel)?;
        self.project_filtered(rel, &s.projection, deferred)
    }

    /// `WHERE`: a filter `Calc`, applied before the window columns of a pending window
    /// TVF when it does not use them; conjuncts with subqueries become semi and anti joins
    /// (`subquery.rs`).
    fn filter(&mut self, rel: Rel, pred: &Expr) -> Result<Rel> {
        let (rel, p) = self.filter_deferred(rel, pred)?;
        Ok(filtered(rel, p))
    }

    /// [`Planner::filter`], except that a plain condition over the whole relation is
    /// returned compiled (with the relation its window columns computed) for the caller to
    /// apply.
    fn filter_deferred(&mut self, rel: Rel, pred: &Expr) -> Result<(Rel, Option<TypedExpr>)> {
        if subquery::contains_subquery(pred) {
            return Ok((subquery::filter(self, rel, pred)?, None));
        }
        if let Some(w) = &rel.window {
            let base = w.base_columns;
            let scope = Scope::new(rel.columns[..base].to_vec());
            if let Ok(p) = compile(pred, &scope) {
                check_boolean(&p, pred)?;
                if let Some(rel) = window::defer_filter(&rel, &p) {
                    return Ok((rel, None));
                }
                let w = rel.window.clone();
                let mut base_rel = Rel {
                    columns: rel.columns[..base].to_vec(),
                    window: None,
                    ..rel.clone()
                };
                let exprs = identity(&base_rel.columns);
                base_rel = calc(base_rel, Some(p), exprs, rel.columns[..base].to_vec());
                base_rel.columns = rel.columns.clone();
                base_rel.window = w;
                return Ok((base_rel, None));
            }
        }
        let rel = window::materialize(rel)?;
        let p = compile(pred, &rel.scope())?;
        check_boolean(&p, pred)?;
        let rel = pushdown::push_into_scan(rel, &p);
        Ok((rel, Some(p)))
    }

    /// The `SELECT` list over `rel`.
    pub(crate) fn project(&mut self, rel: Rel, items: &[SelectItem]) -> Result<Rel> {
        self.project_filtered(rel, items, None)
    }

    /// The `SELECT` list over the rows of `rel` where `filter` holds, in one Calc.
    fn project_filtered(
        &mut self,
        rel: Rel,
        items: &[SelectItem],
        filter: Option<TypedExpr>,
    ) -> Result<Rel> {
        let scope = rel.scope();
        let mut exprs = Vec::new();
        let mut columns = Vec::new();
        for (i, item) in items.iter().enumerate() {
            match item {
                SelectItem::UnnamedExpr(e) | SelectItem::ExprWithAlias { expr: e, .. } => {
                    let t = compile(e, &scope)?;
                    let name = match item {
                        SelectItem::ExprWithAlias { alias, .. } => alias.value.clone(),
                        _ => output_name(e, i),
                    };
                    let mut c = Column::new(name, t.ty());
                    c.nullable = t.nullable();
                    if let Some(src) = t.as_column() {
                        c.rowtime = rel.columns[src].rowtime;
                        c.proctime = rel.columns[src].proctime;
                        c.window_end = rel.columns[src].window_end;
                        c.qualifier = None;
                    }
                    c.proctime |= is_proctime_call(e);
                    exprs.push(t);
                    columns.push(c);
                }
                SelectItem::Wildcard(_) => {
                    for (j, c) in rel.columns.iter().enumerate() {
                        exprs.push(TypedExpr::column(j, c));
                        columns.push(Column {
                            qualifier: None,
                            ..c.clone()
                        });
                    }
                }
                SelectItem::QualifiedWildcard(kind, _) => {
                    let q = kind.to_string();
                    let q = q.strip_suffix(".*").unwrap_or(&q).to_string();
                    let before = exprs.len();
                    for (j, c) in rel.columns.iter().enumerate() {
                        if c.qualifier.as_deref() == Some(q.as_str()) {
                            exprs.push(TypedExpr::column(j, c));
                            columns.push(Column {
                                qualifier: None,
                                ..c.clone()
                            });
                        }
                    }
                    if exprs.len() == before {
                        return Err(sql_error(loc(item), format!("Table '{q}' not found")));
                    }
                }
            }
        }
        // Only one rowtime column survives a projection (Flink keeps the first).
        let mut seen = false;
        for c in &mut columns {
            if c.rowtime {
                c.rowtime = !seen;
                seen = true;
            }
        }
        let windowed = rel.windowed.clone().and_then(|w| w.remap(&exprs));
        let mut out = calc(rel, filter, exprs, columns);
        out.windowed = windowed;
        Ok(out)
    }

    /// `FROM a, b JOIN c ON ...` with the `WHERE` clause; returns the relation and the
    /// part of `WHERE` not used as join condition.
    fn plan_from(
        &mut self,
        from: &[ast::TableWithJoins],
        selection: Option<&Expr>,
    ) -> Result<(Rel, Option<Expr>)> {
        let mut where_rest = selection.cloned();
        let mut acc: Option<Rel> = None;
        let single = from.len() == 1;
        for twj in from {
            let mut rel = self.plan_factor(&twj.relation)?;
            for (ji, j) in twj.joins.iter().enumerate() {
                if let Some(target) = lookup::lookup_target(&j.relation) {
                    // WHERE stays a filter after a lookup join.
                    rel = lookup::plan(self, rel, target, &j.join_operator, loc(&j.relation))?;
                    continue;
                }
                let right = self.plan_factor(&j.relation)?;
                // The WHERE of `a JOIN b ON ...` joins in the last join's condition.
                let last = single && ji + 1 == twj.joins.len();
                let extra = if last { where_rest.take() } else { None };
                let (joined, rest) =
                    join::plan(rel, right, &j.join_operator, extra, loc(&j.relation))?;
                rel = joined;
                if last {
                    where_rest = rest;
                }
            }
            acc = Some(match acc {
                None => rel,
                Some(left) => {
                    // A comma join takes its conditions from WHERE.
                    let (joined, rest) =
                        join::join_on(left, rel, where_rest.take(), loc(&twj.relation))?;
                    where_rest = rest;
                    joined
                }
            });
        }
        let rel = acc.ok_or_else(|| Error::Plan("empty FROM".into()))?;
        Ok((rel, where_rest))
    }

    fn plan_factor(&mut self, tf: &TableFactor) -> Result<Rel> {
        match tf {
            TableFactor::Table {
                name, alias, args, ..
            } => {
                if args.is_some() {
                    return Err(sql_error(
                        loc(tf),
                        "table function syntax not supported here",
                    ));
                }
                let table = name
                    .0
                    .last()
                    .and_then(|p| p.as_ident())
                    .map(|i| i.value.clone())
                    .unwrap_or_default();
                let rel = self.named(&table, loc(tf))?;
                let qualifier = alias.as_ref().map_or(table, |a| a.name.value.clone());
                Ok(rel.requalify(&qualifier))
            }
            TableFactor::Derived {
                subquery, alias, ..
            } => {
                let rel = self.plan_query(subquery)?;
                Ok(match alias {
                    Some(a) => rename(rel.requalify(&a.name.value), &a.columns, loc(tf))?,
                    None => rel,
                })
            }
            TableFactor::TableFunction { expr, alias } => {
                let rel = window::plan_tvf(self, expr)?;
                Ok(match alias {
                    Some(a) => rel.requalify(&a.name.value),
                    None => rel,
                })
            }
            TableFactor::NestedJoin {
                table_with_joins,
                alias,
            } => {
                let (rel, _) = self.plan_from(std::slice::from_ref(table_with_joins), None)?;
                Ok(match alias {
                    Some(a) => rel.requalify(&a.name.value),
                    None => rel,
                })
            }
            other => Err(sql_error(loc(other), "unsupported FROM item")),
        }
    }

    /// A table, view or `WITH` query by name.
    pub(crate) fn named(&mut self, name: &str, at: Location) -> Result<Rel> {
        for i in (0..self.ctes.len()).rev() {
            // WITH is not recursive: in its own body a WITH query's name means what it
            // means outside.
            if let Some(q) = self.ctes[i].remove(name) {
                let rel = self.expand(&q, at);
                self.ctes[i].insert(name.to_string(), q);
                return Ok(rel?.requalify(name));
            }
        }
        match self.catalog.get(name) {
            Some(CatalogObject::Table(t)) => {
                let t = t.clone();
                self.scan(&t)
            }
            Some(CatalogObject::View { query, columns }) => {
                let (query, columns) = (query.clone(), columns.clone());
                // The view's own identifiers are read too.
                match (&mut self.names, identifiers(&*query)) {
                    (Some(names), Some(more)) => names.extend(more),
                    (names, None) => *names = None,
                    (None, _) => {}
                }
                let rel = self.expand(&query, at)?.requalify(name);
                let idents: Vec<ast::Ident> =
                    columns.iter().map(|c| ast::Ident::new(c.clone())).collect();
                rename(rel, &idents, at)
            }
            None => Err(sql_error(at, format!("Object '{name}' not found"))),
        }
    }

    /// Plan the query of a view or `WITH` query. Each nests the planner's recursion, and
    /// `CREATE OR REPLACE VIEW` can make views name each other in a cycle.
    fn expand(&mut self, q: &ast::Query, at: Location) -> Result<Rel> {
        if self.expanding >= MAX_VIEW_NESTING {
            return Err(sql_error(
                at,
                format!(
                    "views and WITH queries nest more than {MAX_VIEW_NESTING} deep (does a view \
                     name itself?)"
                ),
            ));
        }
        self.expanding += 1;
        let rel = self.plan_query(q);
        self.expanding -= 1;
        rel
    }

    /// A source reading the columns of `t` the statement names, with its watermark and
    /// computed columns.
    fn scan(&mut self, t: &crate::sql::ddl::CreateTable) -> Result<Rel> {
        let def = &t.def;
        let wanted = |n: &str| self.names.as_ref().is_none_or(|s| s.contains(n));
        // Physical columns to read: named ones, and those computed columns need.
        let mut read: Vec<usize> = Vec::new();
        let mut computed: Vec<(String, Expr)> = Vec::new();
        for c in &t.layout {
            match c {
                TableColumn::Physical(i) if wanted(&def.columns[*i].name) => read.push(*i),
                TableColumn::Computed { name, expr } if wanted(name) => {
                    let _ = ast::visit_expressions(expr, |e| {
                        if let Expr::Identifier(id) = e {
                            if let Some(i) = def.columns.iter().position(|c| c.name == id.value) {
                                if !read.contains(&i) {
                                    read.push(i);
                                }
                            }
                        }
                        std::ops::ControlFlow::<()>::Continue(())
                    });
                    computed.push((name.clone(), (**expr).clone()));
                }
                _ => {}
            }
        }
        if read.is_empty() && !def.columns.is_empty() {
            read.push(0);
        }
        read.sort_unstable();
        let names: Vec<String> = read.iter().map(|&i| def.columns[i].name.clone()).collect();
        let connector = self.connectors.for_table(def)?;
        self.unbounded |= !connector.is_bounded(def);
        let mut columns: Vec<Column> = read.iter().map(|&i| def.columns[i].clone()).collect();
        for c in &mut columns {
            c.qualifier = Some(def.name.clone());
        }
        let strategy = def.watermark.as_ref().and_then(|w| {
            names.contains(&w.column).then(|| {
                WatermarkStrategy::max_timestamp_minus(
                    w.column.clone(),
                    std::time::Duration::from_millis(w.delay_ms.max(0) as u64),
                )
            })
        });
        for c in &mut columns {
            c.rowtime = c.rowtime && strategy.is_some();
        }
        let text = format!(
            "TableSourceScan(table=[{}], fields=[{}])",
            def.name,
            names.join(", ")
        );
        // A table read twice by one job with the same fields is read once (source reuse).
        let key = format!("{text} {def:?}");
        let env = self.env.clone();
        let stream = env.try_reuse(key, || {
            Ok::<_, Error>(env.from_source(connector.source(def, &names)?, strategy))
        })?;
        let origin = Origin::scan(&stream, columns.len());
        let mut rel = Rel {
            stream,
            columns,
            window: None,
            windowed: None,
            updating: false,
            plan: PlanNode::leaf(text),
            origin: Some(Box::new(origin)),
        }
        .sync_time();
        if !computed.is_empty() {
            let scope = rel.scope();
            let mut exprs = identity(&rel.columns);
            let mut cols = rel.columns.clone();
            for (name, e) in &computed {
                let te = compile(e, &scope)?;
                let mut c = Column::new(name.clone(), te.ty());
                c.qualifier = Some(def.name.clone());
                c.nullable = te.nullable();
                c.proctime = is_proctime_call(e);
                exprs.push(te);
                cols.push(c);
            }
            rel = calc(rel, None, exprs, cols);
        }
        Ok(rel)
    }
}

/// The rows of `rel` where `filter` holds (all of them without one).
fn filtered(rel: Rel, filter: Option<TypedExpr>) -> Rel {
    match filter {
        Some(p) => {
            let exprs = identity(&rel.columns);
            let columns = rel.columns.clone();
            calc(rel, Some(p), exprs, columns)
        }
        None => rel,
    }
}

/// Column references to every column, in order.
pub(crate) fn identity(columns: &[Column]) -> Vec<TypedExpr> {
    columns
        .iter()
        .enumerate()
        .map(|(i, c)| TypedExpr::column(i, c))
        .collect()
}

/// Rename the columns of `rel` to `names` (`AS t(a, b)`); no names keeps them.
fn rename(mut rel: Rel, names: &[impl std::fmt::Display], at: Location) -> Result<Rel> {
    if names.is_empty() {
        return Ok(rel);
    }
    if names.len() != rel.columns.len() {
        return Err(sql_error(
            at,
            format!(
                "{} column names given for {} columns",
                names.len(),
                rel.columns.len()
            ),
        ));
    }
    let exprs = identity(&rel.columns);
    let mut columns = rel.columns.clone();
    for (c, n) in columns.iter_mut().zip(names) {
        c.name = n.to_string();
    }
    rel = window::materialize(rel)?;
    Ok(calc(rel, None, exprs, columns))
}

/// Flink's name of an unnamed select item: the column name, or `EXPR$i`.
pub(crate) fn output_name(e: &Expr, i: usize) -> String {
    match e {
        Expr::Identifier(id) => id.value.clone(),
        Expr::CompoundIdentifier(ids) => ids
            .last()
            .map_or(format!("EXPR${i}"), |id| id.value.clone()),
        _ => format!("EXPR${i}"),
    }
}

fn check_boolean(p: &TypedExpr, e: &Expr) -> Result<()> {
    if p.ty() != crate::sql::types::SqlType::Boolean {
        return Err(sql_error(
            loc(e),
            format!("a condition must be BOOLEAN, not {}", p.ty()),
        ));
    }
    Ok(())
}

/// Every identifier a statement names, or `None` if it selects `*`.
fn identifiers<T: sqlparser::ast::Visit>(statement: &T) -> Option<HashSet<String>> {
    struct Names {
        names: HashSet<String>,
        star: bool,
    }
    impl ast::Visitor for Names {
        type Break = ();
        fn pre_visit_expr(&mut self, e: &Expr) -> std::ops::ControlFlow<()> {
            match e {
                Expr::Identifier(i) => {
                    self.names.insert(i.value.clone());
                }
                Expr::CompoundIdentifier(ids) => {
                    if let Some(i) = ids.last() {
                        self.names.insert(i.value.clone());
                    }
                }
                Expr::Wildcard(_) | Expr::QualifiedWildcard(..) => self.star = true,
                _ => {}
            }
            std::ops::ControlFlow::Continue(())
        }
        fn pre_visit_query(&mut self, q: &ast::Query) -> std::ops::ControlFlow<()> {
            if let SetExpr::Select(s) = q.body.as_ref() {
                if s.projection.iter().any(|p| {
                    matches!(
                        p,
                        SelectItem::Wildcard(_) | SelectItem::QualifiedWildcard(..)
                    )
                }) {
                    self.star = true;
                }
            }
            std::ops::ControlFlow::Continue(())
        }
    }
    let mut v = Names {
        names: HashSet::new(),
        star: false,
    };
    let _ = statement.visit(&mut v);
    (!v.star).then_some(v.names)
}

/// Whether `e` is `PROCTIME()`: a processing-time attribute.
fn is_proctime_call(e: &Expr) -> bool {
    matches!(e, Expr::Function(f) if f.name.to_string().eq_ignore_ascii_case("PROCTIME"))
}

#[cfg(test)]
mod tests;
