//! Window assigners: which windows a row belongs to. Assigners only describe windows; the
//! window operators (`operator::window`) assign rows to them a column at a time through
//! `millstream_kernels::window` and keep per-window state.
//!
//! | assigner | windows of a row at time `t` | Flink |
//! |---|---|---|
//! | [`WindowAssigner::Tumble`] | `[s, s+size)` with `s = t - (t - offset) mod size` | `TumblingEventTimeWindows`, `TUMBLE` |
//! | [`WindowAssigner::Hop`] | every `[s, s+size)` with `s ≡ offset (mod slide)` containing `t` | `SlidingEventTimeWindows`, `HOP` |
//! | [`WindowAssigner::Session`] | `[t, t+gap)`, merged with overlapping windows of the same key | `EventTimeSessionWindows`, `SESSION` |
//! | [`WindowAssigner::Cumulate`] | `[s, s+k·step)` for each `k` with `s+k·step > t`, `s` the tumble of size `max_size` | `CUMULATE` |

use std::time::Duration;

use crate::error::{Error, Result};

/// Which windows rows belong to. Sizes are milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WindowAssigner {
    /// Fixed, non-overlapping windows.
    Tumble {
        /// Window length.
        size: i64,
        /// Shift of window boundaries from the epoch.
        offset: i64,
    },
    /// Fixed windows that overlap: a new one every `slide`.
    Hop {
        /// Window length.
        size: i64,
        /// Distance between window starts.
        slide: i64,
        /// Shift of window boundaries from the epoch.
        offset: i64,
    },
    /// Per-key windows that close after `gap` without rows.
    Session {
        /// Inactivity gap.
        gap: i64,
    },
    /// Windows growing by `step` from a common start up to `max_size`.
    Cumulate {
        /// Largest window length (the period of the common starts).
        max_size: i64,
        /// Growth step.
        step: i64,
        /// Shift of window boundaries from the epoch.
        offset: i64,
    },
}

fn ms(d: Duration) -> i64 {
    d.as_millis() as i64
}

impl WindowAssigner {
    /// Tumbling windows of `size`.
    pub fn tumble(size: Duration) -> Self {
        WindowAssigner::Tumble {
            size: ms(size),
            offset: 0,
        }
    }

    /// Sliding windows of `size`, one every `slide`.
    pub fn hop(size: Duration, slide: Duration) -> Self {
        WindowAssigner::Hop {
            size: ms(size),
            slide: ms(slide),
            offset: 0,
        }
    }

    /// Session windows closing after `gap` of inactivity.
    pub fn session(gap: Duration) -> Self {
        WindowAssigner::Session { gap: ms(gap) }
    }

    /// Cumulating windows growing by `step` up to `max_size`.
    pub fn cumulate(max_size: Duration, step: Duration) -> Self {
        WindowAssigner::Cumulate {
            max_size: ms(max_size),
            step: ms(step),
            offset: 0,
        }
    }

    /// Shift window boundaries by `offset` (tumble, hop, cumulate).
    pub fn with_offset(self, offset: Duration) -> Self {
        let o = ms(offset);
        match self {
            WindowAssigner::Tumble { size, .. } => WindowAssigner::Tumble { size, offset: o },
            WindowAssigner::Hop { size, slide, .. } => WindowAssigner::Hop {
                size,
                slide,
                offset: o,
            },
            WindowAssigner::Cumulate { max_size, step, .. } => WindowAssigner::Cumulate {
                max_size,
                step,
                offset: o,
            },
            s => s,
        }
    }

    /// Check sizes are positive and steps divide evenly where they must.
    ///
    /// # Errors
    /// A non-positive size, or a cumulate step that does not divide its max size.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: &str| Err(Error::Plan(format!("invalid window {self:?}: {m}")));
        match *self {
            WindowAssigner::Tumble { size, .. } if size <= 0 => bad("size must be positive"),
            WindowAssigner::Hop { size, slide, .. } if size <= 0 || slide <= 0 => {
                bad("size and slide must be positive")
            }
            WindowAssigner::Session { gap } if gap <= 0 => bad("gap must be positive"),
            WindowAssigner::Cumulate { max_size, step, .. }
                if step <= 0 || max_size <= 0 || max_size % step != 0 =>
            {
                bad("step must be positive and divide max size")
            }
            _ => Ok(()),
        }
    }
}

/// Whether windows follow event time (the time column, fired by watermarks) or processing
/// time (the wall clock at arrival, fired by timers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimeDomain {
    /// Event time.
    #[default]
    EventTime,
    /// Processing time.
    ProcessingTime,
}

/// A window definition for a windowed operator.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowSpec {
    /// Which windows.
    pub assigner: WindowAssigner,
    /// Event or processing time.
    pub domain: TimeDomain,
    /// How long after a window fired late rows still update it (and re-fire it), in ms.
    pub allowed_lateness: i64,
    /// Send late rows to side output port 1 instead of dropping them (they are counted
    /// either way).
    pub late_side_output: bool,
}

impl WindowSpec {
    /// An event-time window spec with no allowed lateness, late rows dropped.
    pub fn new(assigner: WindowAssigner) -> Self {
        WindowSpec {
            assigner,
            domain: TimeDomain::EventTime,
            allowed_lateness: 0,
            late_side_output: false,
        }
    }
}

/// The window a fired result belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct WindowInfo {
    /// Inclusive start, ms.
    pub start: i64,
    /// Exclusive end, ms.
    pub end: i64,
}

impl WindowInfo {
    /// The largest timestamp in the window (`end - 1`): Flink's `window_time`.
    pub fn max_timestamp(&self) -> i64 {
        self.end - 1
    }
}
