//! Keyed process functions: typed per-record user code with keyed state and timers (Flink's
//! `KeyedProcessFunction` run by `KeyedProcessOperator`).
//!
//! **Semantics.** Each input row is converted to a `F::In` (serde, [`crate::typed`]) and
//! handed to [`KeyedProcessFunction::process_element`] with a [`ProcessContext`] scoped to
//! the row's key: the key's bytes (`arrow::row` encoding of the key columns), its key group,
//! the row's event time (from `time_column`, if given), the current watermark, keyed state
//! ([`ValueState`], [`ListState`], [`MapState`]) and timers. Outputs (`F::Out`) are collected
//! and emitted as one batch per input batch, per watermark and per processing-time callback.
//!
//! **Timers** are per key and deduplicated (one firing per (time, key), as Flink's
//! `InternalTimerService`):
//! * event-time timers fire in [`Operator::on_watermark`]: every timer `<= watermark`, in time
//!   order, with the key (and its state) restored and `timestamp()` = the timer time; a timer
//!   registered while firing that is also due fires in the same call. Then the watermark is
//!   forwarded, after the batch of timer outputs;
//! * processing-time timers fire in [`Operator::on_processing_time`] (requested through
//!   [`OpContext::request_processing_time`] for the earliest pending one);
//! * [`Operator::on_end`] fires nothing: the final `Watermark::MAX` already fired every
//!   event-time timer, and pending processing-time timers are dropped with the job.
//!
//! Rows are not dropped for being late: a process function sees every row (as in Flink) and
//! can compare `timestamp()` with `current_watermark()` itself.
//!
//! **State kept.** Keyed state lives in a [`StateBackend`] (default [`MemoryStateBackend`]
//! over this subtask's [`KeyGroupRange`]); timers in two [`TimerQueue`]s of (key group, key).
//! Checkpointing will snapshot both per key group.
//!
//! **Complexity.** Per row: one serde conversion, one hash of the key columns (vectorized
//! per batch), and the user function's state accesses (`O(log n)` each in the memory
//! backend). Per watermark: `O(t log T)` for `t` due timers out of `T`.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::{OpContext, Operator, Output};
use crate::batch::column_index;
use crate::error::{Error, Result};
use crate::state::{
    KeyGroupRange, KeyScope, ListState, MapState, MemoryStateBackend, StateBackend, ValueState,
};
use crate::time::{TimerQueue, Watermark};
use crate::typed::{from_batch, to_batch, RecordSchema};
use crate::window::TimeDomain;

/// A keyed per-record function with state and timers (Flink `KeyedProcessFunction`).
///
/// # Example
/// ```
/// use millstream_core::operator::process::{KeyedProcess, KeyedProcessFunction, ProcessContext};
/// use millstream_core::window::TimeDomain;
/// use millstream_core::Result;
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Deserialize)]
/// struct Click {
///     user: String,
///     ts: i64,
/// }
/// #[derive(Serialize, Deserialize)]
/// struct Total {
///     user: String,
///     clicks: i64,
/// }
///
/// /// Counts clicks per user; reports the count 1 s (event time) after each click.
/// struct CountWithTimeout;
///
/// impl KeyedProcessFunction for CountWithTimeout {
///     type In = Click;
///     type Out = Total;
///
///     fn process_element(&mut self, c: Click, ctx: &mut ProcessContext<'_>, _out: &mut Vec<Total>) -> Result<()> {
///         ctx.value_state::<String>("user")?.update(&c.user)?;
///         let mut count = ctx.value_state::<i64>("count")?;
///         let n = count.value()?.unwrap_or(0) + 1;
///         count.update(&n)?;
///         ctx.register_event_time_timer(c.ts + 1000);
///         Ok(())
///     }
///
///     fn on_timer(&mut self, _t: i64, _d: TimeDomain, ctx: &mut ProcessContext<'_>, out: &mut Vec<Total>) -> Result<()> {
///         let user = ctx.value_state::<String>("user")?.value()?.unwrap_or_default();
///         let clicks = ctx.value_state::<i64>("count")?.value()?.unwrap_or(0);
///         out.push(Total { user, clicks });
///         Ok(())
///     }
/// }
///
/// let op = KeyedProcess::new(vec!["user".into()], Some("ts".into()), CountWithTimeout)?;
/// assert_eq!(op.output_schema().field(1).name(), "clicks");
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub trait KeyedProcessFunction: Send + 'static {
    /// Input record type (one per row).
    type In: DeserializeOwned;
    /// Output record type; its fields define the output schema.
    type Out: Serialize + DeserializeOwned + Send;

    /// Process one row, with `ctx` scoped to its key.
    ///
    /// # Errors
    /// Any error fails the task.
    fn process_element(
        &mut self,
        value: Self::In,
        ctx: &mut ProcessContext<'_>,
        out: &mut Vec<Self::Out>,
    ) -> Result<()>;

    /// A timer registered for the key in `ctx` fired at `timestamp`.
    ///
    /// # Errors
    /// Any error fails the task.
    fn on_timer(
        &mut self,
        timestamp: i64,
        domain: TimeDomain,
        ctx: &mut ProcessContext<'_>,
        out: &mut Vec<Self::Out>,
    ) -> Result<()> {
        let _ = (timestamp, domain, ctx, out);
        Ok(())
    }
}

/// The key a timer belongs to: key group, then key bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord)]
struct TimerKey {
    key_group: usize,
    key: Vec<u8>,
}

#[derive(Debug, Default)]
struct Timers {
    event: TimerQueue<TimerKey>,
    processing: TimerQueue<TimerKey>,
}

/// What a [`KeyedProcessFunction`] sees of the current key: its state, its timers, time.
pub struct ProcessContext<'a> {
    backend: &'a mut dyn StateBackend,
    key_group: usize,
    key: &'a [u8],
    timestamp: Option<i64>,
    watermark: i64,
    timers: &'a mut Timers,
}

impl ProcessContext<'_> {
    /// The current key: the `arrow::row` encoding of the key columns (equal keys, equal
    /// bytes).
    pub fn current_key(&self) -> &[u8] {
        self.key
    }

    /// The key group of the current key.
    pub fn current_key_group(&self) -> usize {
        self.key_group
    }

    /// Event time of the current row (from the time column; `None` without one or for a
    /// null), or the time of the firing timer.
    pub fn timestamp(&self) -> Option<i64> {
        self.timestamp
    }

    /// The current watermark in ms (`i64::MIN` before the first).
    pub fn current_watermark(&self) -> i64 {
        self.watermark
    }

    /// Wall-clock now, in ms since the epoch.
    pub fn current_processing_time(&self) -> i64 {
        crate::time::now_ms()
    }

    fn timer_key(&self) -> TimerKey {
        TimerKey {
            key_group: self.key_group,
            key: self.key.to_vec(),
        }
    }

    /// Fire [`KeyedProcessFunction::on_timer`] for this key once the watermark reaches
    /// `time`. Registering the same time twice fires once.
    pub fn register_event_time_timer(&mut self, time: i64) {
        let k = self.timer_key();
        self.timers.event.register(time, k);
    }

    /// Fire [`KeyedProcessFunction::on_timer`] for this key once the wall clock reaches
    /// `time` (ms since the epoch).
    pub fn register_processing_time_timer(&mut self, time: i64) {
        let k = self.timer_key();
        self.timers.processing.register(time, k);
    }

    /// Remove this key's event-time timer at `time`, if registered.
    pub fn delete_event_time_timer(&mut self, time: i64) {
        let k = self.timer_key();
        self.timers.event.delete(time, &k);
    }

    /// Remove this key's processing-time timer at `time`, if registered.
    pub fn delete_processing_time_timer(&mut self, time: i64) {
        let k = self.timer_key();
        self.timers.processing.delete(time, &k);
    }

    /// The value state `name` of the current key.
    ///
    /// # Errors
    /// The backend cannot register the table.
    pub fn value_state<T: Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<ValueState<'_, T>> {
        let scope = KeyScope {
            key_group: self.key_group,
            key: self.key,
        };
        ValueState::new(&mut *self.backend, name, scope)
    }

    /// The list state `name` of the current key.
    ///
    /// # Errors
    /// The backend cannot register the table.
    pub fn list_state<T: Serialize + DeserializeOwned>(
        &mut self,
        name: &str,
    ) -> Result<ListState<'_, T>> {
        let scope = KeyScope {
            key_group: self.key_group,
            key: self.key,
        };
        ListState::new(&mut *self.backend, name, scope)
    }

    /// The map state `name` of the current key.
    ///
    /// # Errors
    /// The backend cannot register the table.
    pub fn map_state<K, V>(&mut self, name: &str) -> Result<MapState<'_, K, V>>
    where
        K: Serialize + DeserializeOwned,
        V: Serialize + DeserializeOwned,
    {
        let scope = KeyScope {
            key_group: self.key_group,
            key: self.key,
        };
        MapState::new(&mut *self.backend, name, scope)
    }
}

/// Key columns of a batch: their `arrow::row` bytes and key groups.
pub(crate) struct KeyedRows {
    pub(crate) rows: Rows,
    pub(crate) key_groups: Vec<usize>,
}

/// Resolves key columns by name on the first batch and encodes them for every batch, the
/// same way `key_by` routes rows (`hash_columns` → `key_group`).
pub(crate) struct KeyEncoder {
    names: Vec<String>,
    bound: Option<(Vec<usize>, RowConverter)>,
    hashes: Vec<u64>,
}

impl KeyEncoder {
    pub(crate) fn new(names: Vec<String>, what: &str) -> Result<Self> {
        if names.is_empty() {
            return Err(Error::Plan(format!(
                "{what}: at least one key column is needed"
            )));
        }
        Ok(KeyEncoder {
            names,
            bound: None,
            hashes: Vec::new(),
        })
    }

    pub(crate) fn encode(
        &mut self,
        batch: &RecordBatch,
        max_parallelism: usize,
    ) -> Result<KeyedRows> {
        if self.bound.is_none() {
            let schema = batch.schema();
            let idx = self
                .names
                .iter()
                .map(|n| column_index(&schema, n))
                .collect::<Result<Vec<_>>>()?;
            let fields = idx
                .iter()
                .map(|&i| SortField::new(schema.field(i).data_type().clone()))
                .collect();
            self.bound = Some((idx, RowConverter::new(fields)?));
        }
        let Some((idx, converter)) = &self.bound else {
            return Err(Error::Internal("key encoder not bound".into()));
        };
        let columns: Vec<_> = idx.iter().map(|&i| batch.column(i).clone()).collect();
        let rows = converter.convert_columns(&columns)?;
        millstream_kernels::hash::hash_columns(&columns, &mut self.hashes)?;
        let key_groups = self
            .hashes
            .iter()
            .map(|&h| millstream_kernels::partition::key_group(h, max_parallelism))
            .collect();
        Ok(KeyedRows { rows, key_groups })
    }
}

/// The backend of a subtask, created on first use if none was given.
pub(crate) fn ensure_backend<'b>(
    backend: &'b mut Option<Box<dyn StateBackend>>,
    ctx: &OpContext,
) -> &'b mut dyn StateBackend {
    backend
        .get_or_insert_with(|| {
            let range =
                KeyGroupRange::for_subtask(ctx.max_parallelism, ctx.parallelism, ctx.subtask);
            Box::new(MemoryStateBackend::new(range))
        })
        .as_mut()
}

/// Runs a [`KeyedProcessFunction`] on a keyed stream.
pub struct KeyedProcess<F: KeyedProcessFunction> {
    f: F,
    keys: KeyEncoder,
    time_column: Option<String>,
    out_schema: RecordSchema<F::Out>,
    backend: Option<Box<dyn StateBackend>>,
    timers: Timers,
    buf: Vec<F::Out>,
}

impl<F: KeyedProcessFunction> KeyedProcess<F> {
    /// Run `f` keyed by the columns `keys`, reading event time from `time_column`.
    ///
    /// # Errors
    /// No key column; `F::Out` has a shape arrow cannot hold.
    pub fn new(keys: Vec<String>, time_column: Option<String>, f: F) -> Result<Self> {
        Ok(KeyedProcess {
            f,
            keys: KeyEncoder::new(keys, "keyed process")?,
            time_column,
            out_schema: RecordSchema::of()?,
            backend: None,
            timers: Timers::default(),
            buf: Vec::new(),
        })
    }

    /// Keep state in `backend` instead of a [`MemoryStateBackend`] (it must hold the key
    /// groups of the subtask this instance runs as).
    pub fn with_state_backend(mut self, backend: Box<dyn StateBackend>) -> Self {
        self.backend = Some(backend);
        self
    }

    /// The schema of the output batches.
    pub fn output_schema(&self) -> SchemaRef {
        self.out_schema.schema()
    }

    /// The keyed state, once the operator has been opened or has seen a row.
    pub fn state_backend(&self) -> Option<&dyn StateBackend> {
        self.backend.as_deref()
    }

    /// Pending (event-time, processing-time) timers.
    pub fn pending_timers(&self) -> (usize, usize) {
        (self.timers.event.len(), self.timers.processing.len())
    }

    fn flush(&mut self, ctx: &mut OpContext, out: &mut Output) -> Result<()> {
        if !self.buf.is_empty() {
            out.emit(to_batch(&self.out_schema, &self.buf)?);
            self.buf.clear();
        }
        if let Some(t) = self.timers.processing.next_time() {
            ctx.request_processing_time(t);
        }
        Ok(())
    }

    /// Fire every timer of `domain` up to `up_to`, in time order.
    fn fire(
        &mut self,
        domain: TimeDomain,
        up_to: i64,
        watermark: i64,
        ctx: &OpContext,
    ) -> Result<()> {
        let backend = ensure_backend(&mut self.backend, ctx);
        loop {
            let queue = match domain {
                TimeDomain::EventTime => &mut self.timers.event,
                TimeDomain::ProcessingTime => &mut self.timers.processing,
            };
            let Some(t) = queue.next_time().filter(|&t| t <= up_to) else {
                return Ok(());
            };
            for (time, key) in queue.pop_due(t) {
                let mut pctx = ProcessContext {
                    backend: &mut *backend,
                    key_group: key.key_group,
                    key: &key.key,
                    timestamp: Some(time),
                    watermark,
                    timers: &mut self.timers,
                };
                self.f.on_timer(time, domain, &mut pctx, &mut self.buf)?;
            }
        }
    }
}

impl<F: KeyedProcessFunction> Operator for KeyedProcess<F> {
    fn open(&mut self, ctx: &mut OpContext) -> Result<()> {
        ensure_backend(&mut self.backend, ctx);
        Ok(())
    }

    fn on_batch(
        &mut self,
        _input: usize,
        batch: RecordBatch,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let keyed = self.keys.encode(&batch, ctx.max_parallelism)?;
        let times = match &self.time_column {
            Some(name) => {
                let col = batch.column(column_index(&batch.schema(), name)?);
                let (values, nulls) = millstream_kernels::window::as_i64_values_with_nulls(col)?;
                Some((values.to_vec(), nulls.cloned()))
            }
            None => None,
        };
        let records: Vec<F::In> = from_batch(&batch)?;
        let watermark = ctx.watermark.0;
        let backend = ensure_backend(&mut self.backend, ctx);
        for (i, record) in records.into_iter().enumerate() {
            let timestamp = times
                .as_ref()
                .and_then(|(v, n)| n.as_ref().is_none_or(|n| n.is_valid(i)).then_some(v[i]));
            let mut pctx = ProcessContext {
                backend: &mut *backend,
                key_group: keyed.key_groups[i],
                key: keyed.rows.row(i).data(),
                timestamp,
                watermark,
                timers: &mut self.timers,
            };
            self.f.process_element(record, &mut pctx, &mut self.buf)?;
        }
        self.flush(ctx, out)
    }

    fn on_watermark(&mut self, wm: Watermark, ctx: &mut OpContext, out: &mut Output) -> Result<()> {
        self.fire(TimeDomain::EventTime, wm.0, wm.0, ctx)?;
        self.flush(ctx, out)?;
        out.emit_watermark(wm);
        Ok(())
    }

    fn on_processing_time(
        &mut self,
        now_ms: i64,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let watermark = ctx.watermark.0;
        self.fire(TimeDomain::ProcessingTime, now_ms, watermark, ctx)?;
        self.flush(ctx, out)
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    use super::*;
    use crate::operator::OutItem;

    #[derive(Debug, Clone, Serialize, Deserialize)]
    struct Ev {
        k: String,
        ts: i64,
        v: i64,
    }

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct Out {
        k: String,
        what: String,
        n: i64,
    }

    fn out(k: &str, what: &str, n: i64) -> Out {
        Out {
            k: k.into(),
            what: what.into(),
            n,
        }
    }

    /// Sums per key, remembers values (list) and their counts (map); an event-time timer
    /// 10 ms after each row reports; a negative value asks for a processing-time timer.
    struct Fun;

    impl KeyedProcessFunction for Fun {
        type In = Ev;
        type Out = Out;

        fn process_element(
            &mut self,
            e: Ev,
            ctx: &mut ProcessContext<'_>,
            out: &mut Vec<Out>,
        ) -> Result<()> {
            ctx.value_state::<String>("key")?.update(&e.k)?;
            let mut sum = ctx.value_state::<i64>("sum")?;
            let s = sum.value()?.unwrap_or(0) + e.v;
            sum.update(&s)?;
            ctx.list_state::<i64>("seen")?.add(&e.v)?;
            let mut counts = ctx.map_state::<i64, i64>("counts")?;
            let c = counts.get(&e.v)?.unwrap_or(0);
            counts.put(&e.v, &(c + 1))?;
            let t = ctx.timestamp().expect("time column given");
            ctx.register_event_time_timer(t + 10);
            if e.v == 100 {
                ctx.delete_event_time_timer(t + 10);
            }
            if e.v < 0 {
                ctx.register_processing_time_timer(1_000);
                ctx.register_processing_time_timer(5_000);
                ctx.delete_processing_time_timer(5_000);
            }
            out.push(Out {
                k: e.k,
                what: "elem".into(),
                n: s,
            });
            Ok(())
        }

        fn on_timer(
            &mut self,
            t: i64,
            domain: TimeDomain,
            ctx: &mut ProcessContext<'_>,
            out: &mut Vec<Out>,
        ) -> Result<()> {
            assert_eq!(ctx.timestamp(), Some(t));
            let k = ctx
                .value_state::<String>("key")?
                .value()?
                .expect("key stored");
            match domain {
                TimeDomain::EventTime => {
                    let sum = ctx.value_state::<i64>("sum")?.value()?.unwrap_or(0);
                    let seen = ctx.list_state::<i64>("seen")?.get()?;
                    let mut counts = ctx.map_state::<i64, i64>("counts")?.entries()?;
                    counts.sort();
                    out.push(Out {
                        k,
                        what: format!(
                            "event@{t} wm={} seen={seen:?} counts={counts:?}",
                            ctx.current_watermark()
                        ),
                        n: sum,
                    });
                    if t == 15 {
                        // Due within the same watermark: fires in this call, after 15.
                        ctx.register_event_time_timer(16);
                    }
                }
                TimeDomain::ProcessingTime => {
                    ctx.value_state::<i64>("sum")?.clear()?;
                    ctx.list_state::<i64>("seen")?.clear()?;
                    ctx.map_state::<i64, i64>("counts")?.clear()?;
                    out.push(Out {
                        k,
                        what: "proc".into(),
                        n: t,
                    });
                }
            }
            Ok(())
        }
    }

    fn ev(k: &str, ts: i64, v: i64) -> Ev {
        Ev { k: k.into(), ts, v }
    }

    fn rows(o: &Output) -> Vec<Out> {
        o.items()
            .iter()
            .flat_map(|i| match i {
                OutItem::Batch(0, b) => from_batch::<Out>(b).unwrap(),
                _ => Vec::new(),
            })
            .collect()
    }

    fn feed(op: &mut KeyedProcess<Fun>, ctx: &mut OpContext, events: &[Ev]) -> Vec<Out> {
        let b = to_batch(&RecordSchema::<Ev>::of().unwrap(), events).unwrap();
        let mut o = Output::new();
        op.on_batch(0, b, ctx, &mut o).unwrap();
        rows(&o)
    }

    fn watermark(op: &mut KeyedProcess<Fun>, ctx: &mut OpContext, wm: i64) -> Output {
        ctx.watermark = Watermark(wm);
        let mut o = Output::new();
        op.on_watermark(Watermark(wm), ctx, &mut o).unwrap();
        o
    }

    #[test]
    fn state_and_timers() {
        let mut op = KeyedProcess::new(vec!["k".into()], Some("ts".into()), Fun).unwrap();
        assert_eq!(op.output_schema().field(1).name(), "what");
        let mut ctx = OpContext::new(0, 1, 128);
        op.open(&mut ctx).unwrap();
        let got = feed(
            &mut op,
            &mut ctx,
            &[
                ev("a", 1, 1),
                ev("b", 2, 2),
                ev("a", 5, 3),
                ev("b", 2, 0),
                ev("c", 3, 100),
            ],
        );
        assert_eq!(
            got,
            vec![
                out("a", "elem", 1),
                out("b", "elem", 2),
                out("a", "elem", 4),
                out("b", "elem", 2),
                out("c", "elem", 100)
            ]
        );
        // (11, a), (12, b) registered twice, (15, a); c's was deleted.
        assert_eq!(op.pending_timers(), (3, 0));
        assert_eq!(ctx.processing_timer(), None);

        let o = watermark(&mut op, &mut ctx, 11);
        assert_eq!(
            rows(&o),
            vec![out(
                "a",
                "event@11 wm=11 seen=[1, 3] counts=[(1, 1), (3, 1)]",
                4
            )]
        );
        assert!(
            matches!(o.items().last(), Some(OutItem::Watermark(Watermark(11)))),
            "timer output, then the watermark"
        );

        let got = feed(&mut op, &mut ctx, &[ev("a", 20, -1), ev("a", 21, 3)]);
        assert_eq!(got, vec![out("a", "elem", 3), out("a", "elem", 6)]);
        assert_eq!(
            ctx.processing_timer(),
            Some(1_000),
            "earliest processing-time timer requested"
        );
        assert_eq!(op.pending_timers(), (4, 1));

        let o = watermark(&mut op, &mut ctx, 100);
        let what: Vec<(String, String)> = rows(&o).into_iter().map(|r| (r.k, r.what)).collect();
        assert_eq!(
            what,
            vec![
                (
                    "b".into(),
                    "event@12 wm=100 seen=[2, 0] counts=[(0, 1), (2, 1)]".into()
                ),
                (
                    "a".into(),
                    "event@15 wm=100 seen=[1, 3, -1, 3] counts=[(-1, 1), (1, 1), (3, 2)]".into()
                ),
                (
                    "a".into(),
                    "event@16 wm=100 seen=[1, 3, -1, 3] counts=[(-1, 1), (1, 1), (3, 2)]".into()
                ),
                (
                    "a".into(),
                    "event@30 wm=100 seen=[1, 3, -1, 3] counts=[(-1, 1), (1, 1), (3, 2)]".into()
                ),
                (
                    "a".into(),
                    "event@31 wm=100 seen=[1, 3, -1, 3] counts=[(-1, 1), (1, 1), (3, 2)]".into()
                ),
            ]
        );
        assert_eq!(op.pending_timers(), (0, 1));

        // The task clears the request before calling back.
        assert_eq!(ctx.take_processing_timer(), Some(1_000));
        let mut o = Output::new();
        op.on_processing_time(999, &mut ctx, &mut o).unwrap();
        assert!(o.is_empty(), "not due yet");
        assert_eq!(ctx.take_processing_timer(), Some(1_000), "asked again");
        op.on_processing_time(1_500, &mut ctx, &mut o).unwrap();
        assert_eq!(rows(&o), vec![out("a", "proc", 1_000)]);
        assert_eq!(ctx.processing_timer(), None, "5000 was deleted");
        assert_eq!(op.pending_timers(), (0, 0));

        // a's sum, list and map were cleared; the key values and b's and c's state remain.
        let backend = op.state_backend().unwrap();
        // key: a b c; sum: b c; seen: b c; counts: b (2 values) c (1 value)
        assert_eq!(backend.num_entries(), 3 + 2 + 2 + 3);
        let mut o = Output::new();
        op.on_end(&mut ctx, &mut o).unwrap();
        assert!(o.is_empty());
    }

    #[test]
    fn keys_are_checked_against_the_subtask_range() {
        // Parallelism 4: subtask 0 owns key groups [0, 32); some key lands elsewhere.
        let mut op = KeyedProcess::new(vec!["k".into()], None, Fun).unwrap();
        let mut ctx = OpContext::new(0, 4, 128);
        op.open(&mut ctx).unwrap();
        let events: Vec<Ev> = (0..64).map(|i| ev(&format!("key{i}"), 0, 1)).collect();
        let b = to_batch(&RecordSchema::<Ev>::of().unwrap(), &events).unwrap();
        let e = op.on_batch(0, b, &mut ctx, &mut Output::new()).unwrap_err();
        assert!(
            e.to_string().contains("outside this subtask's range"),
            "{e}"
        );
    }

    #[test]
    fn missing_columns_are_plan_errors() {
        assert!(KeyedProcess::new(vec![], None, Fun).is_err());
        let mut op = KeyedProcess::new(vec!["nope".into()], None, Fun).unwrap();
        let b = to_batch(&RecordSchema::<Ev>::of().unwrap(), &[ev("a", 1, 1)]).unwrap();
        let e = op
            .on_batch(0, b, &mut OpContext::new(0, 1, 128), &mut Output::new())
            .unwrap_err();
        assert!(e.to_string().contains("unknown column 'nope'"), "{e}");
    }
}
