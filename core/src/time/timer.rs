//! Timers: a queue of (time, key) registrations fired in time order, deduplicated, as
//! Flink's `InternalTimerService` (one per operator and time domain).

use std::collections::BTreeSet;

/// Registered timers of one time domain, ordered by time then key.
#[derive(Debug, Clone)]
pub struct TimerQueue<K: Ord + Clone> {
    timers: BTreeSet<(i64, K)>,
}

impl<K: Ord + Clone> Default for TimerQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Ord + Clone> TimerQueue<K> {
    /// An empty queue.
    pub fn new() -> Self {
        TimerQueue {
            timers: BTreeSet::new(),
        }
    }

    /// Register a timer; registering the same (time, key) twice fires it once.
    pub fn register(&mut self, time: i64, key: K) {
        self.timers.insert((time, key));
    }

    /// Remove a registered timer.
    pub fn delete(&mut self, time: i64, key: &K) {
        self.timers.remove(&(time, key.clone()));
    }

    /// Remove and return, in order, every timer with time `<= up_to`.
    pub fn pop_due(&mut self, up_to: i64) -> Vec<(i64, K)> {
        let mut due = Vec::new();
        while let Some(first) = self.timers.first() {
            if first.0 > up_to {
                break;
            }
            if let Some(t) = self.timers.pop_first() {
                due.push(t);
            }
        }
        due
    }

    /// The earliest registered time.
    pub fn next_time(&self) -> Option<i64> {
        self.timers.first().map(|t| t.0)
    }

    /// Number of registered timers.
    pub fn len(&self) -> usize {
        self.timers.len()
    }

    /// Whether no timer is registered.
    pub fn is_empty(&self) -> bool {
        self.timers.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fires_in_order_once() {
        let mut q = TimerQueue::new();
        q.register(30, 1u32);
        q.register(10, 2);
        q.register(10, 2);
        q.register(20, 1);
        assert_eq!(q.pop_due(20), vec![(10, 2), (20, 1)]);
        assert_eq!(q.next_time(), Some(30));
        q.delete(30, &1);
        assert!(q.is_empty());
    }
}
