//! `GROUP BY` without a window (and aggregates without `GROUP BY`): Flink's `GroupAggregate`,
//! whose result is updating. Each input batch updates the groups it touches, and the operator
//! emits, per changed group, `+I` for a new group, `-U` old / `+U` new for a changed one and
//! `-D` for a group whose rows were all retracted. Its input may itself be updating (the
//! result of another `GROUP BY`): retractions are applied to the accumulators.
//!
//! ```text
//!  pre-Calc [keys..., aggregate inputs..., ($op)] ─▶ key_by(keys) ─▶ GroupAggregate
//!     ─▶ [keys..., aggs..., $op] ─▶ HAVING + SELECT list (Calc, row kinds carried along)
//! ```

use arrow::datatypes::{DataType, Field, Schema};
use sqlparser::ast::{self, Expr};

use super::aggregate::{collect_calls, finish, pre_columns};
use super::rel::{calc, Rel};
use super::window::materialize;
use super::{PlanNode, Planner};
use crate::error::{Error, Result};
use crate::operator::factory;
use crate::operator::group_agg::{GroupAggCall, GroupAggregate};
use crate::sql::expr::{compile, TypedExpr};
use crate::sql::types::Column;
use millstream_kernels::agg::AggKind;

/// Plan a non-windowed aggregation of `select` over `rel`.
pub(super) fn plan(
    planner: &mut Planner<'_>,
    rel: Rel,
    select: &ast::Select,
    group_by: &[Expr],
) -> Result<Rel> {
    let rel = materialize(rel)?;
    let base = rel.scope();
    // A global aggregate groups by a constant: its one group lives on one subtask, and the
    // operators after it stay on that subtask, so its changes keep their order.
    let global = [constant_key()];
    let group_by = if group_by.is_empty() {
        &global[..]
    } else {
        group_by
    };
    let key_exprs = group_by
        .iter()
        .map(|g| Ok((g.clone(), compile(g, &base)?)))
        .collect::<Result<Vec<(Expr, TypedExpr)>>>()?;
    let aggs = collect_calls(select)?;
    let (pre_exprs, pre_cols, agg_specs, agg_cols) =
        pre_columns(&key_exprs, &aggs, &base, result_type)?;
    let input_updating = rel.updating;
    let pre = calc(rel, None, pre_exprs, pre_cols.clone());
    let names = pre.field_names();
    let nk = key_exprs.len();
    let calls = agg_specs
        .iter()
        .enumerate()
        .map(|(i, spec)| {
            let input = match &spec.column {
                Some(c) => Some(names.iter().position(|n| n == c).ok_or_else(|| {
                    Error::Internal(format!("aggregate input {c} is not planned"))
                })?),
                None => None,
            };
            // MIN/MAX of the distinct values are MIN/MAX of all values.
            let distinct = aggs.get(i).is_some_and(|a| a.distinct)
                && !matches!(spec.kind, AggKind::Min | AggKind::Max);
            Ok(GroupAggCall {
                kind: spec.kind,
                input,
                distinct,
                name: spec.output.clone(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    let key_idx: Vec<usize> = (0..nk).collect();
    let stream = pre.stream.key_by(names[..nk].to_vec()).then_keyed(
        "GroupAggregate",
        factory(move |_| GroupAggregate::new(key_idx.clone(), calls.clone(), input_updating)),
    );
    let mut columns: Vec<Column> = pre_cols[..nk].to_vec();
    for c in &mut columns {
        c.rowtime = false;
    }
    for (i, (ty, kind, _)) in agg_cols.iter().enumerate() {
        let mut c = Column::new(format!("$a{i}"), *ty);
        c.nullable = !matches!(kind, AggKind::Count | AggKind::CountNonNull);
        columns.push(c);
    }
    let text = format!(
        "GroupAggregate(groupBy=[{}], select=[{}]{})",
        key_exprs
            .iter()
            .map(|(e, _)| e.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        aggs.iter()
            .map(|a| a.text.clone())
            .collect::<Vec<_>>()
            .join(", "),
        if input_updating { ", retract" } else { "" }
    );
    let agg_rel = Rel {
        stream,
        columns,
        window: None,
        windowed: None,
        updating: true,
        plan: PlanNode::new(text, vec![pre.plan]),
        origin: None,
    }
    .sync_time();
    finish(planner, agg_rel, select, &aggs, &agg_cols, &key_exprs)
}

/// The result type of aggregate `kind` over `input` in a [`GroupAggregate`] (Flink's:
/// `SUM` of `DECIMAL(p, s)` is `DECIMAL(38, s)`, `AVG` of `BIGINT` is `BIGINT`...).
fn result_type(kind: AggKind, input: &DataType) -> Result<DataType> {
    let call = GroupAggCall {
        kind,
        input: Some(0),
        distinct: false,
        name: "r".into(),
    };
    let schema = GroupAggregate::new(vec![], vec![call], false)?
        .output_schema(&Schema::new(vec![Field::new("v", input.clone(), true)]))?;
    Ok(schema.field(0).data_type().clone())
}

/// The key of a global aggregation or ranking: the constant `0`.
pub(super) fn constant_key() -> Expr {
    Expr::value(ast::Value::Number("0".into(), false))
}
