//! Keyed operations: rolling reduce and aggregate, process functions, joins.

use std::sync::{Arc, Mutex};

use arrow::datatypes::SchemaRef;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::env::edge;
use super::{DataStream, KeyedStream};
use crate::operator::factory;
use crate::operator::join::{
    IntervalJoin, JoinType, RegularJoin, RegularJoinSpec, SemiJoinKind, SemiJoinSpec, WindowJoin,
};
use crate::operator::keyed_reduce::{KeyedAggregate, KeyedReduce};
use crate::operator::process::{KeyedProcess, KeyedProcessFunction};
use crate::operator::window::AggSpec;
use crate::window::WindowAssigner;

impl KeyedStream {
    /// Rolling reduce over typed records: emits the updated value for every input record.
    pub fn reduce<T, F>(&self, f: F) -> DataStream
    where
        T: Serialize + DeserializeOwned + Clone + Send + 'static,
        F: Fn(T, T) -> T + Send + Sync + 'static,
    {
        let f = Arc::new(f);
        let keys = self.keys.clone();
        self.then_keyed(
            "reduce",
            factory(move |_| {
                let f = f.clone();
                KeyedReduce::new(keys.clone(), move |a: T, b: T| Ok(f(a, b)))
            }),
        )
    }

    /// Rolling vectorized aggregation: once per input batch, the current aggregates of every
    /// key that batch touched (mini-batch upserts).
    pub fn aggregate(&self, aggs: Vec<AggSpec>) -> DataStream {
        let keys = self.keys.clone();
        self.then_keyed(
            "aggregate",
            factory(move |_| {
                KeyedAggregate::new(
                    keys.clone(),
                    aggs.iter()
                        .map(|a| (a.kind, a.column.clone(), a.output.clone()))
                        .collect(),
                )
            }),
        )
    }

    /// A keyed process function with state and timers.
    pub fn process<F>(&self, f: F) -> DataStream
    where
        F: KeyedProcessFunction + Clone,
    {
        let keys = self.keys.clone();
        let time = self.stream.time_column.clone();
        let f = Arc::new(Mutex::new(f));
        self.then_keyed(
            "process",
            factory(move |_| {
                let instance = match f.lock() {
                    Ok(g) => g.clone(),
                    Err(p) => p.into_inner().clone(),
                };
                KeyedProcess::new(keys.clone(), time.clone(), instance)
            }),
        )
    }

    fn two_input(
        &self,
        other: &KeyedStream,
        name: &str,
        f: crate::operator::OperatorFactory,
    ) -> DataStream {
        let env = self.stream.env.clone();
        let id = env.add_operator(
            name,
            f,
            vec![
                edge(&self.stream, 0, self.partitioning()),
                edge(&other.stream, 1, other.partitioning()),
            ],
        );
        let s = DataStream::new(env, id, 0, self.stream.time_column.clone());
        if self.keys.is_empty() {
            s.env
                .inner
                .borrow_mut()
                .graph
                .node_mut(s.node)
                .max_parallelism = Some(1);
        }
        s
    }

    fn time_columns(&self, other: &KeyedStream) -> (String, String) {
        (
            self.stream.time_column.clone().unwrap_or_default(),
            other.stream.time_column.clone().unwrap_or_default(),
        )
    }

    /// Join with `other` on the key columns where `other.ts ∈ [self.ts + lower, self.ts +
    /// upper]` (inclusive; milliseconds), as Flink's `intervalJoin().between()`. Output: this
    /// stream's columns, then the other's (clashing names get the suffix `_right`).
    pub fn interval_join(&self, other: &KeyedStream, lower: i64, upper: i64) -> DataStream {
        let (lk, rk) = (self.keys.clone(), other.keys.clone());
        let (lt, rt) = self.time_columns(other);
        self.two_input(
            other,
            "interval_join",
            factory(move |_| {
                IntervalJoin::new(lk.clone(), rk.clone(), lt.clone(), rt.clone(), lower, upper)
            }),
        )
    }

    /// Join with `other` on the key columns within the same window (Flink's
    /// `join().where().equalTo().window()`); adds `window_start` and `window_end`.
    pub fn window_join(&self, other: &KeyedStream, assigner: WindowAssigner) -> DataStream {
        let (lk, rk) = (self.keys.clone(), other.keys.clone());
        let (lt, rt) = self.time_columns(other);
        self.two_input(
            other,
            "window_join",
            factory(move |_| {
                WindowJoin::new(lk.clone(), rk.clone(), lt.clone(), rt.clone(), assigner)
            }),
        )
    }

    /// Unbounded inner join on the key columns (SQL's regular join): both sides are kept
    /// in state; every match is emitted once, as soon as both rows have arrived.
    pub fn join(&self, other: &KeyedStream) -> DataStream {
        let (lk, rk) = (self.keys.clone(), other.keys.clone());
        self.two_input(
            other,
            "join",
            factory(move |_| RegularJoin::new(lk.clone(), rk.clone())),
        )
    }

    /// Unbounded join of kind `t` on the key columns: [`JoinType::Inner`] is
    /// [`KeyedStream::join`]; an outer join also emits the rows of a preserved side that
    /// have no partner, padded with NULLs, and retracts them when their first partner
    /// arrives. Its output is an updating stream (Flink changelog): every batch ends with a
    /// `$op` column (`Int8`, `0` = `+I`, `3` = `-D`), and the padded side's columns are
    /// nullable. Both inputs must be insert-only ([`KeyedStream::regular_join`] joins
    /// updating ones). See [`RegularJoin`](crate::operator::join::RegularJoin) for the exact
    /// changelog.
    pub fn join_with_type(&self, other: &KeyedStream, t: JoinType) -> DataStream {
        self.join_with_schemas(other, t, None)
    }

    /// [`KeyedStream::join_with_type`] with the schemas of both inputs declared, so an
    /// outer join can pad rows before (or without) seeing the other input's first batch.
    pub fn join_with_schemas(
        &self,
        other: &KeyedStream,
        t: JoinType,
        schemas: Option<(SchemaRef, SchemaRef)>,
    ) -> DataStream {
        let spec = RegularJoinSpec {
            schemas,
            ..RegularJoinSpec::new(t)
        };
        self.regular_join(other, spec)
    }

    /// The unbounded join with `other` on the key columns that `spec` describes: its type,
    /// declared input schemas, which inputs are updating streams (ending with `$op`), and a
    /// condition on the pairs. With an updating input the output is updating too (see
    /// [`RegularJoin`](crate::operator::join::RegularJoin) for its changelog).
    pub fn regular_join(&self, other: &KeyedStream, spec: RegularJoinSpec) -> DataStream {
        let (lk, rk) = (self.keys.clone(), other.keys.clone());
        let name = match spec.join_type {
            JoinType::Inner => "join",
            JoinType::LeftOuter => "left_outer_join",
            JoinType::RightOuter => "right_outer_join",
            JoinType::FullOuter => "full_outer_join",
        };
        self.two_input(
            other,
            name,
            factory(move |_| spec.build(lk.clone(), rk.clone())),
        )
    }

    /// The rows of this stream that have (`Semi`) or lack (`Anti`) a match in `other` on the
    /// key columns ([`SemiAntiJoin`](crate::operator::join::SemiAntiJoin), SQL `IN`/`EXISTS`
    /// and `NOT IN`/`NOT EXISTS`), as `spec` says (updating inputs, conditions). Without
    /// keys it runs as one subtask.
    pub fn semi_join(&self, other: &KeyedStream, spec: SemiJoinSpec) -> DataStream {
        let (lk, rk) = (self.keys.clone(), other.keys.clone());
        let name = match spec.kind {
            SemiJoinKind::Semi => "semi_join",
            SemiJoinKind::Anti => "anti_join",
        };
        self.two_input(
            other,
            name,
            factory(move |_| spec.build(lk.clone(), rk.clone())),
        )
    }
}
