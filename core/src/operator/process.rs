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
//! **State kept.** Keyed state lives in a [`StateBackend`] over this subtask's
//! [`KeyGroupRange`], of the job's kind ([`OpContext::state_backend`]: memory by default,
//! or RocksDB); timers in two [`TimerQueue`]s of (key group, key).
//!
//! **On a barrier** ([`Operator::snapshot`]) the backend adds itself under `"backend"`
//! ([`StateBackend::snapshot_into`]: a keyed table, or RocksDB files) and the timers go in
//! the keyed table `"timers"` (`domain: UInt8` 0 = event, 1 = processing; `time: Int64`;
//! `key: Binary`), filed by each timer's key group. [`Operator::restore`] keeps the key
//! groups of this subtask's range from both, so a job resumes at another parallelism;
//! restored processing-time timers are requested again.
//!
//! **Complexity.** Per row: one serde conversion, one hash of the key columns (vectorized
//! per batch), and the user function's state accesses (`O(log n)` each in the memory
//! backend). Per watermark: `O(t log T)` for `t` due timers out of `T`.

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use arrow::row::{RowConverter, Rows, SortField};
use serde::de::DeserializeOwned;
use serde::Serialize;

use std::sync::Arc;

use arrow::array::{Array, ArrayRef, BinaryArray, Int64Array, UInt8Array};
use arrow::datatypes::{DataType, Field, Schema};

use super::{OpContext, Operator, Output};
use crate::batch::column_index;
use crate::checkpoint::{filter_key_groups, OperatorState};
use crate::error::{Error, Result};
use crate::state::{
    create_backend, KeyGroupRange, KeyScope, ListState, MapState, StateBackend, ValueState,
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

/// The backend of a subtask, created on first use if none was given: of the job's kind
/// (`ctx.state_backend`), over the subtask's key groups, labelled `{label}-{subtask}`.
pub(crate) fn ensure_backend<'b>(
    backend: &'b mut Option<Box<dyn StateBackend>>,
    ctx: &OpContext,
    label: &str,
) -> Result<&'b mut dyn StateBackend> {
    if backend.is_none() {
        let range = KeyGroupRange::for_subtask(ctx.max_parallelism, ctx.parallelism, ctx.subtask);
        let label = format!("{label}-{}", ctx.subtask);
        *backend = Some(create_backend(&ctx.state_backend, range, &label)?);
    }
    match backend {
        Some(b) => Ok(b.as_mut()),
        None => Err(Error::Internal("state backend not created".into())),
    }
}

/// Name of the backend's part of an operator snapshot.
pub(crate) const BACKEND_STATE: &str = "backend";
/// Name of the timer table of a [`KeyedProcess`] snapshot.
const TIMER_STATE: &str = "timers";
/// Label of the state backend instances of [`KeyedProcess`].
const LABEL: &str = "keyed-process";

impl Timers {
    /// Every timer as a keyed table (see the module docs), with the key group of each.
    fn to_batch(&self) -> Result<(Vec<u32>, RecordBatch)> {
        let mut kgs = Vec::new();
        let mut domains = Vec::new();
        let mut times = Vec::new();
        let mut keys: Vec<Vec<u8>> = Vec::new();
        for (domain, queue) in [(0u8, &self.event), (1, &self.processing)] {
            // TimerQueue has no iterator: drain a copy, O(timers) per checkpoint.
            for (time, key) in queue.clone().pop_due(i64::MAX) {
                kgs.push(u32::try_from(key.key_group).map_err(|_| {
                    Error::Internal(format!("timer key group {} too large", key.key_group))
                })?);
                domains.push(domain);
                times.push(time);
                keys.push(key.key);
            }
        }
        let schema = Arc::new(Schema::new(vec![
            Field::new("domain", DataType::UInt8, false),
            Field::new("time", DataType::Int64, false),
            Field::new("key", DataType::Binary, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(UInt8Array::from(domains)),
            Arc::new(Int64Array::from(times)),
            Arc::new(BinaryArray::from_iter_values(keys.iter())),
        ];
        Ok((kgs, RecordBatch::try_new(schema, columns)?))
    }

    /// Register the timers of `state`'s timer table whose key group is in `range`.
    fn restore(&mut self, state: &OperatorState, range: KeyGroupRange) -> Result<()> {
        let Some(table) = state.table(TIMER_STATE) else {
            return Ok(());
        };
        let bad = || Error::Internal("keyed process: malformed timer state".into());
        for b in filter_key_groups(table, range)? {
            let column = |i: usize| b.columns().get(i).ok_or_else(bad);
            let kgs = column(0)?
                .as_any()
                .downcast_ref::<arrow::array::UInt32Array>()
                .ok_or_else(bad)?;
            let domains = column(1)?
                .as_any()
                .downcast_ref::<UInt8Array>()
                .ok_or_else(bad)?;
            let times = column(2)?
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(bad)?;
            let keys = column(3)?
                .as_any()
                .downcast_ref::<BinaryArray>()
                .ok_or_else(bad)?;
            for i in 0..b.num_rows() {
                let key = TimerKey {
                    key_group: kgs.value(i) as usize,
                    key: keys.value(i).to_vec(),
                };
                match domains.value(i) {
                    0 => self.event.register(times.value(i), key),
                    _ => self.processing.register(times.value(i), key),
                }
            }
        }
        Ok(())
    }
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

    /// Keep state in `backend` instead of one of the job's kind (it must hold the key
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
        let backend = ensure_backend(&mut self.backend, ctx, LABEL)?;
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
        ensure_backend(&mut self.backend, ctx, LABEL)?;
        Ok(())
    }

    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        ensure_backend(&mut self.backend, ctx, LABEL)?.snapshot_into(BACKEND_STATE, &mut state)?;
        let (kgs, timers) = self.timers.to_batch()?;
        state.push_keyed(TIMER_STATE, kgs, &timers)?;
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, ctx: &mut OpContext) -> Result<()> {
        let backend = ensure_backend(&mut self.backend, ctx, LABEL)?;
        backend.restore_from(BACKEND_STATE, &state)?;
        let range = backend.key_group_range();
        self.timers.restore(&state, range)?;
        if let Some(t) = self.timers.processing.next_time() {
            ctx.request_processing_time(t);
        }
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
        let backend = ensure_backend(&mut self.backend, ctx, LABEL)?;
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
pub(crate) mod tests;
