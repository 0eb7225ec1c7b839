//! Checkpointing and restart settings of a job.

use std::path::PathBuf;
use std::time::Duration;

/// How barriers are handled at tasks with several inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum CheckpointMode {
    /// Aligned barriers: an input that delivered barrier `n` is blocked until every input
    /// has; the snapshot then reflects exactly the rows before the barriers.
    #[default]
    ExactlyOnce,
    /// Unaligned: the first barrier triggers the snapshot at once, and rows that arrive on
    /// other inputs before their barrier are stored in the checkpoint as in-flight data
    /// (replayed on restore). Never blocks, so checkpoints complete under backpressure.
    /// Exactly-once; a checkpoint holding in-flight data restores only at the same
    /// parallelism.
    Unaligned,
    /// No alignment and no in-flight data: rows after a barrier may be in the snapshot and
    /// replayed after a restore (duplicates possible, nothing lost).
    AtLeastOnce,
}

/// Where a job starts from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum RestoreFrom {
    /// From the beginning.
    #[default]
    Nothing,
    /// From the newest valid checkpoint in the checkpoint directory; from the beginning if
    /// there is none (after removing what the sinks left uncommitted).
    Latest,
    /// From this checkpoint or savepoint directory (or its `_metadata` file).
    Path(PathBuf),
}

/// Checkpointing settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckpointConfig {
    /// Root directory: `chk-N/` per checkpoint, `shared/` state files, `savepoints/`.
    pub dir: PathBuf,
    /// Time between the end of one checkpoint and the trigger of the next.
    pub interval: Duration,
    /// Barrier handling.
    pub mode: CheckpointMode,
    /// Completed checkpoints kept (older ones are deleted).
    pub retain: usize,
    /// A checkpoint not complete after this long is aborted.
    pub timeout: Duration,
}

impl CheckpointConfig {
    /// Exactly-once checkpoints into `dir` every `interval`, keeping 3, timing out after 10
    /// minutes.
    pub fn new(dir: impl Into<PathBuf>, interval: Duration) -> Self {
        CheckpointConfig {
            dir: dir.into(),
            interval,
            mode: CheckpointMode::ExactlyOnce,
            retain: 3,
            timeout: Duration::from_secs(600),
        }
    }
}

/// What happens when a task fails inside a running job (Flink's restart strategies).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub enum RestartStrategy {
    /// The job fails with the task's error.
    #[default]
    None,
    /// Restart from the latest completed checkpoint after `delay`, at most `attempts` times.
    FixedDelay {
        /// Restarts allowed.
        attempts: u32,
        /// Wait before each restart.
        delay: Duration,
    },
    /// Restart with a delay that starts at `initial` and grows by `multiplier` up to `max`,
    /// at most `attempts` times.
    ExponentialBackoff {
        /// Restarts allowed.
        attempts: u32,
        /// First delay.
        initial: Duration,
        /// Largest delay.
        max: Duration,
        /// Growth factor per restart.
        multiplier: f64,
    },
}

impl RestartStrategy {
    /// The delay before restart number `attempt` (1-based), or `None` when no more
    /// restarts are allowed.
    pub fn delay(&self, attempt: u32) -> Option<Duration> {
        match *self {
            RestartStrategy::None => None,
            RestartStrategy::FixedDelay { attempts, delay } => {
                (attempt <= attempts).then_some(delay)
            }
            RestartStrategy::ExponentialBackoff {
                attempts,
                initial,
                max,
                multiplier,
            } => (attempt <= attempts).then(|| {
                let f = multiplier.max(1.0).powi(attempt.saturating_sub(1) as i32);
                initial.mul_f64(f).min(max)
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restart_delays() {
        assert_eq!(RestartStrategy::None.delay(1), None);
        let f = RestartStrategy::FixedDelay {
            attempts: 2,
            delay: Duration::from_millis(5),
        };
        assert_eq!(f.delay(1), Some(Duration::from_millis(5)));
        assert_eq!(f.delay(3), None);
        let e = RestartStrategy::ExponentialBackoff {
            attempts: 5,
            initial: Duration::from_millis(10),
            max: Duration::from_millis(35),
            multiplier: 2.0,
        };
        assert_eq!(e.delay(1), Some(Duration::from_millis(10)));
        assert_eq!(e.delay(2), Some(Duration::from_millis(20)));
        assert_eq!(e.delay(3), Some(Duration::from_millis(35)));
        assert_eq!(e.delay(6), None);
    }
}
