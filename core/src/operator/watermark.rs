//! Watermark assigner: derives watermarks from the event-time column, once per batch.
//!
//! Flink equivalent: `TimestampsAndWatermarksOperator`. It reads the batch's maximum event
//! time (one pass over the column, no per-row calls), forwards the batch unchanged, then
//! emits a watermark if it advanced. With an idleness timeout it marks the stream idle when
//! no batch arrived for that long (processing time). Upstream watermarks are swallowed: this
//! operator is the stream's one source of event-time progress, except the final
//! `Watermark::MAX` of a bounded input, which it forwards.

use arrow::record_batch::RecordBatch;
use millstream_kernels::window::{as_i64_values, min_max_i64};

use super::{OpContext, Operator, Output};
use crate::batch::column_index;
use crate::error::Result;
use crate::time::{Watermark, WatermarkStrategy};

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
