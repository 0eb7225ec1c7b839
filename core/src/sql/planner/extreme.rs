//! Running-extreme prefilters: where the planner puts an
//! [`ExtremeFilter`](crate::operator::prefilter::ExtremeFilter), an exact local
//! pre-aggregation that drops, before any exchange, the rows that cannot be the maximum (or
//! minimum) of a tumbling window they can meet.
//!
//! - **Global window MAX/MIN**: a window aggregation with no grouping key whose aggregates
//!   are all `MAX` (or all `MIN`) of one BIGINT column sends every row to one task; filtered,
//!   only the rows that raise their window's running maximum on their subtask travel.
//! - **Joins with a window's MAX/MIN** (Nexmark q7: the bids whose price equals the highest
//!   of their 10 s window): when one input of an interval join is such an aggregation of a
//!   table scan and the other input is rows of the same scan, joined on the aggregated column
//!   and bounded in time against a window bound, a row of the second input can only meet the
//!   windows whose bound lies within the join's time bounds of it, and matches none whose
//!   running maximum it is below. Flink plans this query as a regular join that keeps every
//!   bid; here the join sees a few rows per window.
//!
//! To know the second shape, each relation carries its [`Origin`]: whether its rows are rows
//! of one scan (and which scan column each of its columns copies), or one row per tumbling
//! window of all of one scan's rows (and which columns are window bounds or a column's
//! extreme). Calc projections carry it along; other operators drop it.

use crate::api::DataStream;
use crate::operator::prefilter::ExtremeFilter;
use crate::operator::window::AggSpec;
use crate::operator::{factory, OperatorFactory};
use crate::plan::graph::NodeId;
use crate::sql::expr::TypedExpr;
use crate::sql::types::SqlType;
use crate::window::WindowAssigner;
use millstream_kernels::agg::AggKind;

use super::rel::Rel;

/// Where the rows of a relation come from, as far as the planner follows them.
#[derive(Debug, Clone)]
pub struct Origin {
    /// The scan's stream: node and port.
    pub source: (NodeId, usize),
    /// What the rows are.
    pub kind: OriginKind,
}

/// See [`Origin`].
#[derive(Debug, Clone)]
pub enum OriginKind {
    /// Each row is a row of the scan, perhaps not every one of them: column `i` copies scan
    /// column `columns[i]`.
    Rows {
        /// Per column, the scan column it copies.
        columns: Vec<Option<usize>>,
        /// Whether rows of the scan may be missing.
        filtered: bool,
    },
    /// One row per tumbling event-time window over all of the scan's rows.
    Windows {
        /// Window size, ms.
        size: i64,
        /// Window offset, ms.
        offset: i64,
        /// The scan column the windows are assigned on.
        time: usize,
        /// Per column, what it holds.
        columns: Vec<Option<WindowColumn>>,
    },
}

/// A column of a per-window relation ([`OriginKind::Windows`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowColumn {
    /// The window start plus this many ms (`window_end`: plus the size).
    Bound(i64),
    /// The maximum (`max`) or minimum of a scan column over the window.
    Extreme {
        /// The scan column.
        column: usize,
        /// Maximum rather than minimum.
        max: bool,
    },
}

impl Origin {
    /// The rows of a scan, every column its own.
    pub fn scan(stream: &DataStream, columns: usize) -> Origin {
        Origin {
            source: (stream.node, stream.port),
            kind: OriginKind::Rows {
                columns: (0..columns).map(Some).collect(),
                filtered: false,
            },
        }
    }

    /// Whether the rows are every row of the scan, its `n` columns in scan order.
    pub fn is_whole_scan(&self, n: usize) -> bool {
        match &self.kind {
            OriginKind::Rows { columns, filtered } => {
                !filtered
                    && columns.len() == n
                    && columns.iter().enumerate().all(|(i, c)| *c == Some(i))
            }
            OriginKind::Windows { .. } => false,
        }
    }

    /// The origin after a Calc of `exprs`, with a `filter` or not.
    pub fn project(&self, exprs: &[TypedExpr], filter: bool) -> Origin {
        let kind = match &self.kind {
            OriginKind::Rows { columns, filtered } => OriginKind::Rows {
                columns: exprs
                    .iter()
                    .map(|e| {
                        e.as_column()
                            .and_then(|c| columns.get(c).copied().flatten())
                    })
                    .collect(),
                filtered: *filtered || filter,
            },
            // Fewer windows are still windows of the same rows.
            OriginKind::Windows {
                size,
                offset,
                time,
                columns,
            } => OriginKind::Windows {
                size: *size,
                offset: *offset,
                time: *time,
                columns: exprs
                    .iter()
                    .map(|e| {
                        e.as_column()
                            .and_then(|c| columns.get(c).copied().flatten())
                    })
                    .collect(),
            },
        };
        Origin {
            source: self.source,
            kind,
        }
    }

    /// The scan column that column `i` copies, for rows of a scan.
    fn row_column(&self, i: usize) -> Option<usize> {
        match &self.kind {
            OriginKind::Rows { columns, .. } => columns.get(i).copied().flatten(),
            OriginKind::Windows { .. } => None,
        }
    }
}

/// The single column and direction of a global window aggregation's aggregates, if they are
/// all `MAX` or all `MIN` of one column.
fn single_extreme(specs: &[AggSpec]) -> Option<(&str, bool)> {
    let first = specs.first()?;
    let max = match first.kind {
        AggKind::Max => true,
        AggKind::Min => false,
        _ => return None,
    };
    let column = first.column.as_deref()?;
    specs
        .iter()
        .all(|s| s.kind == first.kind && s.column.as_deref() == Some(column))
        .then_some((column, max))
}

/// The tumbling event-time window of a window aggregation with no grouping key, as
/// `(size, offset)`.
fn global_tumble(
    keys: usize,
    assigner: &WindowAssigner,
    processing_time: bool,
) -> Option<(i64, i64)> {
    match *assigner {
        WindowAssigner::Tumble { size, offset } if keys == 0 && !processing_time && size > 0 => {
            Some((size, offset))
        }
        _ => None,
    }
}

/// The filter for the input of a window aggregation that is a global tumbling `MAX`/`MIN` of
/// a BIGINT column, with a line for `EXPLAIN`: `pre` is the aggregation's input, its last
/// column the event time.
pub(super) fn aggregate_filter(
    pre: &Rel,
    keys: usize,
    assigner: &WindowAssigner,
    processing_time: bool,
    specs: &[AggSpec],
) -> Option<(OperatorFactory, String)> {
    let (size, offset) = global_tumble(keys, assigner, processing_time)?;
    let (column, max) = single_extreme(specs)?;
    let names = pre.field_names();
    let value = names.iter().position(|n| n == column)?;
    if pre.columns[value].ty != SqlType::BigInt {
        return None;
    }
    let time = names.last()?.clone();
    let (op, agg) = if max { (">=", "MAX") } else { ("<=", "MIN") };
    let text = format!("ExtremeFilter(keep=[{column} {op} running {agg}({column}) of its window])");
    let column = column.to_string();
    let make = move || -> crate::error::Result<ExtremeFilter> {
        let f = if max {
            ExtremeFilter::max(column.clone(), time.clone(), size)?
        } else {
            ExtremeFilter::min(column.clone(), time.clone(), size)?
        };
        Ok(f.with_offset(offset))
    };
    make().ok()?;
    Some((factory(move |_| make()), text))
}

/// The origin of a window aggregation's result (window bounds, then the aggregates), when it
/// is a global tumbling window over all rows of a scan.
pub(super) fn aggregate_origin(
    pre: &Rel,
    keys: usize,
    assigner: &WindowAssigner,
    processing_time: bool,
    specs: &[AggSpec],
) -> Option<Origin> {
    let (size, offset) = global_tumble(keys, assigner, processing_time)?;
    let origin = pre.origin.as_ref()?;
    let OriginKind::Rows {
        filtered: false, ..
    } = origin.kind
    else {
        return None;
    };
    let names = pre.field_names();
    let time = origin.row_column(names.len().checked_sub(1)?)?;
    let mut columns = vec![
        Some(WindowColumn::Bound(0)),
        Some(WindowColumn::Bound(size)),
        Some(WindowColumn::Bound(size - 1)),
    ];
    for s in specs {
        let max = match s.kind {
            AggKind::Max => true,
            AggKind::Min => false,
            _ => {
                columns.push(None);
                continue;
            }
        };
        let input = s
            .column
            .as_ref()
            .and_then(|c| names.iter().position(|n| n == c))
            .filter(|&i| pre.columns[i].ty == SqlType::BigInt);
        columns.push(
            input
                .and_then(|i| origin.row_column(i))
                .map(|column| WindowColumn::Extreme { column, max }),
        );
    }
    Some(Origin {
        source: origin.source,
        kind: OriginKind::Windows {
            size,
            offset,
            time,
            columns,
        },
    })
}

/// One input of an inner interval join: the relation, its key column and its time column.
pub(super) struct JoinSide<'a> {
    /// The input (after its key columns are computed).
    pub rel: &'a Rel,
    /// Its only key column.
    pub key: usize,
    /// Its time column.
    pub time: usize,
}

/// The filter for `rows`, an interval join input joined with `windows` on `rows.key =
/// windows.key` and `rows.time - windows.time` in `[lower, upper]`, when `windows` is the
/// maximum or minimum of `rows.key`'s scan column per tumbling window of that same scan's
/// rows on `rows.time`. Returns the filter and a line for `EXPLAIN`.
pub(super) fn join_filter(
    windows: JoinSide<'_>,
    rows: JoinSide<'_>,
    (lower, upper): (i64, i64),
) -> Option<(ExtremeFilter, String)> {
    let (w, r) = (windows.rel.origin.as_ref()?, rows.rel.origin.as_ref()?);
    if w.source != r.source {
        return None;
    }
    // Exact only while this filter's watermark never lags the aggregation's: each of its
    // subtasks must read one source subtask's rows after that subtask's own watermarks.
    // Behind a rebalance (a source capped below the job's parallelism) a row could count
    // towards a window the aggregation already closed.
    if !rows
        .rel
        .stream
        .env
        .is_forward_from_parallel_source(r.source.0)
    {
        return None;
    }
    let OriginKind::Windows {
        size,
        offset,
        time,
        columns,
    } = &w.kind
    else {
        return None;
    };
    let Some(WindowColumn::Extreme { column, max }) = columns.get(windows.key).copied().flatten()
    else {
        return None;
    };
    let Some(WindowColumn::Bound(d)) = columns.get(windows.time).copied().flatten() else {
        return None;
    };
    if r.row_column(rows.key)? != column || r.row_column(rows.time)? != *time {
        return None;
    }
    if rows.rel.columns[rows.key].ty != SqlType::BigInt {
        return None;
    }
    // A row at t meets the window starting at s when lower <= t - (s + d) <= upper.
    let (lo, hi) = (lower.checked_add(d)?, upper.checked_add(d)?);
    let names = rows.rel.field_names();
    let (value, t) = (names[rows.key].clone(), names[rows.time].clone());
    let f = if max {
        ExtremeFilter::max(value.clone(), t.clone(), *size)
    } else {
        ExtremeFilter::min(value.clone(), t.clone(), *size)
    }
    .ok()?
    .with_offset(*offset)
    .with_reach(lo, hi)
    .ok()?;
    let (op, agg) = if max { (">=", "MAX") } else { ("<=", "MIN") };
    let text = format!(
        "ExtremeFilter(keep=[{value} {op} running {agg}({value}) of a window of {size} ms \
         starting in [{t} - {hi}, {t} - {lo}]])"
    );
    Some((f, text))
}
