//! Time: event-time values, watermarks and their propagation, watermark strategies, timers.
//!
//! Event time is milliseconds since the epoch in an `i64` (Flink's `TIMESTAMP(3)`). Sources
//! attach a [`WatermarkStrategy`]; the [`WatermarkAssigner`](crate::operator::watermark)
//! operator computes one watermark per batch from the batch's maximum timestamp (never per
//! row); every task combines its input channels with a [`WatermarkTracker`] (the minimum over
//! active channels) and hands the combined watermark to its operators.

pub mod timer;
pub mod watermark;

pub use timer::TimerQueue;
pub use watermark::{EventTime, Watermark, WatermarkKind, WatermarkStrategy, WatermarkTracker};

/// Wall-clock now, in milliseconds since the epoch (processing time).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
