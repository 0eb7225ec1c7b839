//! Watermark assigner: derives watermarks from the event-time column, once per batch.
//!
//! Flink equivalent: `TimestampsAndWatermarksOperator`. It reads the batch's maximum event
//! time (one pass over the column, no per-row calls), forwards the batch unchanged, then
//! emits a watermark if it advanced. With an idleness timeout it marks the stream idle when
//! no batch arrived for that long (processing time). Upstream watermarks are swallowed: this
//! operator is the stream's one source of event-time progress, except the final
//! `Watermark::MAX` of a bounded input, which it forwards.
//!
//! State: the maximum event time seen and the last watermark emitted, snapshotted as one
//! non-keyed row (`watermark_assigner`: `max_ts: Int64, emitted: Int64`). Restored at the
//! same parallelism it goes on emitting exactly what an uninterrupted run would; after a
//! rescale it takes the minimum of the old subtasks' values, so the restored watermark never
//! passes a value some old subtask had not reached, and no row becomes late that was not.
//! Idleness is processing-time state and starts afresh.

use std::sync::Arc;

use arrow::array::{ArrayRef, AsArray, Int64Array};
use arrow::datatypes::{DataType, Field, Int64Type, Schema};
use arrow::record_batch::RecordBatch;
use millstream_kernels::window::{as_i64_values, min_max_i64};

use super::{OpContext, Operator, Output};
use crate::batch::column_index;
use crate::checkpoint::OperatorState;
use crate::error::{Error, Result};
use crate::time::{Watermark, WatermarkStrategy};

/// Name of the assigner's non-keyed state table.
const STATE_TABLE: &str = "watermark_assigner";

/// Emits watermarks following a [`WatermarkStrategy`].
pub struct WatermarkAssigner {
    strategy: WatermarkStrategy,
    max_ts: i64,
    emitted: Watermark,
    last_data_ms: i64,
    idle: bool,
}

impl WatermarkAssigner {
    /// An assigner for `strategy`.
    pub fn new(strategy: WatermarkStrategy) -> Self {
        WatermarkAssigner {
            strategy,
            max_ts: i64::MIN,
            emitted: Watermark::MIN,
            last_data_ms: 0,
            idle: false,
        }
    }
}

impl Operator for WatermarkAssigner {
    fn open(&mut self, ctx: &mut OpContext) -> Result<()> {
        if let Some(t) = self.strategy.idleness() {
            self.last_data_ms = ctx.now_ms();
            ctx.request_processing_time(self.last_data_ms + t.as_millis() as i64);
        }
        Ok(())
    }

    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let idx = column_index(&batch.schema(), self.strategy.column())?;
        let ts = as_i64_values(batch.column(idx))?;
        if let Some((_, max)) = min_max_i64(ts) {
            self.max_ts = self.max_ts.max(max);
        }
        out.emit(batch);
        if self.max_ts != i64::MIN {
            let wm = self.strategy.kind().watermark_for(self.max_ts);
            if wm > self.emitted {
                self.emitted = wm;
                out.emit_watermark(wm);
            }
        }
        if self.strategy.idleness().is_some() {
            self.idle = false;
            self.last_data_ms = ctx.now_ms();
        }
        Ok(())
    }

    fn on_watermark(&mut self, wm: Watermark, _: &mut OpContext, out: &mut Output) -> Result<()> {
        if wm == Watermark::MAX && self.emitted < wm {
            self.emitted = wm;
            out.emit_watermark(wm);
        }
        Ok(())
    }

    fn snapshot(&mut self, _: u64, _: &mut OpContext) -> Result<OperatorState> {
        let schema = Arc::new(Schema::new(vec![
            Field::new("max_ts", DataType::Int64, false),
            Field::new("emitted", DataType::Int64, false),
        ]));
        let columns: Vec<ArrayRef> = vec![
            Arc::new(Int64Array::from(vec![self.max_ts])),
            Arc::new(Int64Array::from(vec![self.emitted.0])),
        ];
        let mut state = OperatorState::new();
        state.push_operator(STATE_TABLE, RecordBatch::try_new(schema, columns)?);
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, _: &mut OpContext) -> Result<()> {
        // One row at the same parallelism; one per old subtask after a rescale, where the
        // minimum is the safe choice. Either way: the minimum of each column.
        let mut found: Option<(i64, i64)> = None;
        for table in &state.tables {
            if table.name != STATE_TABLE || table.keyed {
                return Err(Error::Data {
                    location: crate::error::Location {
                        source: "watermark assigner checkpoint".into(),
                        ..Default::default()
                    },
                    detail: format!("unexpected state table '{}'", table.name),
                });
            }
            for b in &table.batches {
                let col = |i: usize| {
                    b.columns()
                        .get(i)
                        .and_then(|c| c.as_primitive_opt::<Int64Type>())
                        .ok_or_else(|| Error::Data {
                            location: crate::error::Location {
                                source: format!(
                                    "watermark assigner checkpoint table '{STATE_TABLE}'"
                                ),
                                column: Some(i.to_string()),
                                ..Default::default()
                            },
                            detail: "expected an Int64 column".into(),
                        })
                };
                let (max_ts, emitted) = (col(0)?, col(1)?);
                for (&m, &e) in max_ts.values().iter().zip(emitted.values().iter()) {
                    found = Some(found.map_or((m, e), |(fm, fe)| (fm.min(m), fe.min(e))));
                }
            }
        }
        if let Some((max_ts, emitted)) = found {
            self.max_ts = max_ts;
            self.emitted = Watermark(emitted);
        }
        Ok(())
    }

    fn on_processing_time(
        &mut self,
        now_ms: i64,
        ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        if let Some(t) = self.strategy.idleness() {
            let t = t.as_millis() as i64;
            if !self.idle && now_ms - self.last_data_ms >= t {
                self.idle = true;
                out.emit_idle();
            }
            ctx.request_processing_time(now_ms.max(self.last_data_ms) + t);
        }
        Ok(())
    }
}
