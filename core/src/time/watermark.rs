//! Event time, watermarks, watermark strategies and the per-task watermark tracker.
//!
//! A [`Watermark`] `w` promises that no row with event time `<= w` follows on that channel.
//! A task with several input channels (parallel upstream subtasks, or two inputs of a join)
//! advances its own watermark to the minimum over the channels that are active, as Flink's
//! `StatusWatermarkValve` does; [`WatermarkTracker`] is that valve. It is the total-order
//! special case of timely's frontier (`MutableAntichain`): with one time dimension the
//! frontier is a single number per channel, and the task's frontier is their minimum.
//!
//! ```text
//!  channel 0: wm 10_000 ─┐
//!  channel 1: wm  7_000 ─┼─▶ tracker: min over active = 7_000 ─▶ operators
//!  channel 2: idle      ─┘   (idle channels do not hold the watermark back)
//! ```

use std::time::Duration;

/// A point in event time: milliseconds since the epoch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventTime(pub i64);

/// Event-time progress: no row at or below this time follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Watermark(pub i64);

impl Watermark {
    /// The watermark before any progress.
    pub const MIN: Watermark = Watermark(i64::MIN);
    /// The final watermark of a bounded stream: every event-time window fires.
    pub const MAX: Watermark = Watermark(i64::MAX);
}

/// How a watermark is derived from the largest event time seen so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatermarkKind {
    /// Flink DataStream's `forBoundedOutOfOrderness(d)`: `max_ts - d - 1`.
    BoundedOutOfOrderness(i64),
    /// Flink SQL's `WATERMARK FOR ts AS ts - INTERVAL ...`: `max_ts - d`.
    MaxMinus(i64),
    /// Flink's `forMonotonousTimestamps()`: `max_ts - 1`.
    Monotonous,
}

impl WatermarkKind {
    /// The watermark for the largest event time seen so far.
    pub fn watermark_for(self, max_ts: i64) -> Watermark {
        Watermark(match self {
            WatermarkKind::BoundedOutOfOrderness(d) => max_ts.saturating_sub(d).saturating_sub(1),
            WatermarkKind::MaxMinus(d) => max_ts.saturating_sub(d),
            WatermarkKind::Monotonous => max_ts.saturating_sub(1),
        })
    }
}

/// Which column holds event time, how watermarks follow it, and when a quiet source counts
/// as idle.
///
/// # Example
/// ```
/// use std::time::Duration;
/// use millstream_core::time::WatermarkStrategy;
/// let s = WatermarkStrategy::bounded_out_of_orderness("date_time", Duration::from_secs(4))
///     .with_idleness(Duration::from_secs(30));
/// assert_eq!(s.column(), "date_time");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WatermarkStrategy {
    column: String,
    kind: WatermarkKind,
    idleness: Option<Duration>,
}

impl WatermarkStrategy {
    /// Watermark = max event time - `delay` - 1 ms (Flink DataStream semantics).
    pub fn bounded_out_of_orderness(column: impl Into<String>, delay: Duration) -> Self {
        Self::new(
            column,
            WatermarkKind::BoundedOutOfOrderness(delay.as_millis() as i64),
        )
    }

    /// Watermark = max event time - `delay` (the form of Flink SQL's `WATERMARK FOR` DDL).
    pub fn max_timestamp_minus(column: impl Into<String>, delay: Duration) -> Self {
        Self::new(column, WatermarkKind::MaxMinus(delay.as_millis() as i64))
    }

    /// Timestamps never decrease: watermark = max event time - 1 ms.
    pub fn monotonous(column: impl Into<String>) -> Self {
        Self::new(column, WatermarkKind::Monotonous)
    }

    /// A strategy of the given kind on `column`.
    pub fn new(column: impl Into<String>, kind: WatermarkKind) -> Self {
        WatermarkStrategy {
            column: column.into(),
            kind,
            idleness: None,
        }
    }

    /// Mark the source idle after `timeout` without data, so it stops holding back the
    /// watermark downstream.
    pub fn with_idleness(mut self, timeout: Duration) -> Self {
        self.idleness = Some(timeout);
        self
    }

    /// The event-time column.
    pub fn column(&self) -> &str {
        &self.column
    }

    /// The watermark rule.
    pub fn kind(&self) -> WatermarkKind {
        self.kind
    }

    /// The idleness timeout, if any.
    pub fn idleness(&self) -> Option<Duration> {
        self.idleness
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ChannelState {
    Active,
    Idle,
    Ended,
}

/// Combines the watermarks of a task's input channels: the task's watermark is the minimum
/// over active channels, never decreasing. Idle channels are skipped until they speak again;
/// ended channels count as [`Watermark::MAX`].
#[derive(Debug, Clone)]
pub struct WatermarkTracker {
    marks: Vec<i64>,
    states: Vec<ChannelState>,
    current: i64,
}

impl WatermarkTracker {
    /// A tracker over `channels` input channels, all active at [`Watermark::MIN`].
    pub fn new(channels: usize) -> Self {
        WatermarkTracker {
            marks: vec![i64::MIN; channels],
            states: vec![ChannelState::Active; channels],
            current: i64::MIN,
        }
    }

    /// The combined watermark emitted so far.
    pub fn current(&self) -> Watermark {
        Watermark(self.current)
    }

    /// A watermark arrived on `channel`; returns the new combined watermark if it advanced.
    pub fn update(&mut self, channel: usize, wm: Watermark) -> Option<Watermark> {
        if self.states[channel] == ChannelState::Ended {
            return None;
        }
        self.states[channel] = ChannelState::Active;
        if wm.0 > self.marks[channel] {
            self.marks[channel] = wm.0;
        }
        self.advance()
    }

    /// Data arrived on `channel`: an idle channel becomes active again.
    pub fn activate(&mut self, channel: usize) -> Option<Watermark> {
        if self.states[channel] == ChannelState::Idle {
            self.states[channel] = ChannelState::Active;
        }
        None
    }

    /// `channel` went idle; returns the new combined watermark if that let it advance.
    pub fn set_idle(&mut self, channel: usize) -> Option<Watermark> {
        if self.states[channel] == ChannelState::Active {
            self.states[channel] = ChannelState::Idle;
        }
        self.advance()
    }

    /// `channel` ended; returns the new combined watermark if it advanced.
    pub fn end(&mut self, channel: usize) -> Option<Watermark> {
        self.states[channel] = ChannelState::Ended;
        self.marks[channel] = i64::MAX;
        self.advance()
    }

    /// Whether every channel that has not ended is idle (and at least one is).
    pub fn all_idle(&self) -> bool {
        let mut any_idle = false;
        for s in &self.states {
            match s {
                ChannelState::Active => return false,
                ChannelState::Idle => any_idle = true,
                ChannelState::Ended => {}
            }
        }
        any_idle
    }

    /// Whether every channel has ended.
    pub fn all_ended(&self) -> bool {
        self.states.iter().all(|s| *s == ChannelState::Ended)
    }

    fn advance(&mut self) -> Option<Watermark> {
        let mut min = i64::MAX;
        let mut any = false;
        for (m, s) in self.marks.iter().zip(&self.states) {
            if *s != ChannelState::Idle {
                any = true;
                min = min.min(*m);
            }
        }
        if any && min > self.current {
            self.current = min;
            Some(Watermark(min))
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minimum_over_channels() {
        let mut t = WatermarkTracker::new(2);
        assert_eq!(t.update(0, Watermark(10)), None);
        assert_eq!(t.update(1, Watermark(5)), Some(Watermark(5)));
        assert_eq!(t.update(1, Watermark(20)), Some(Watermark(10)));
        assert_eq!(t.update(0, Watermark(8)), None, "never regresses");
        assert_eq!(t.current(), Watermark(10));
    }

    #[test]
    fn idle_channel_does_not_hold_back() {
        let mut t = WatermarkTracker::new(2);
        t.update(0, Watermark(100));
        assert_eq!(t.set_idle(1), Some(Watermark(100)));
        assert!(!t.all_idle());
        // It speaks again with a lower watermark: the output does not regress.
        assert_eq!(t.update(1, Watermark(50)), None);
        assert_eq!(t.update(1, Watermark(150)), None);
        assert_eq!(t.update(0, Watermark(200)), Some(Watermark(150)));
    }

    #[test]
    fn ended_channels_count_as_max() {
        let mut t = WatermarkTracker::new(2);
        t.update(0, Watermark(3));
        assert_eq!(t.end(1), Some(Watermark(3)));
        assert_eq!(t.end(0), Some(Watermark::MAX));
        assert!(t.all_ended());
    }

    #[test]
    fn strategy_kinds() {
        assert_eq!(
            WatermarkKind::BoundedOutOfOrderness(4000).watermark_for(10_000),
            Watermark(5_999)
        );
        assert_eq!(
            WatermarkKind::MaxMinus(4000).watermark_for(10_000),
            Watermark(6_000)
        );
        assert_eq!(
            WatermarkKind::Monotonous.watermark_for(10_000),
            Watermark(9_999)
        );
    }
}
