//! Which events a generator subtask produces, and its checkpoint position.
//!
//! Events are cut into blocks of `size` events; subtask `i` of `p` walks the blocks
//! `i, i + p, i + 2p, ...` in order, one batch at a time. Its position is the block it is in
//! and the next event of that block: every block of its class below the current one is
//! generated, none above it is.
//!
//! A restore may change the parallelism. Old subtask `j` of `p` had generated the blocks of
//! class `j (mod p)` below its current block, and the current block up to its cursor. New
//! subtask `t` of `p'` takes the blocks of class `t (mod p')` in order and, for each, skips
//! it when its old owner `b % p` had finished it, starts at the old cursor when it was the
//! old owner's current block, and generates it whole otherwise:
//!
//! ```text
//!  p = 2, cut        sub 0: [0 done][2 done][4 at 30/100]      sub 1: [1 done][3 at 70/100]
//!  block              0      1      2      3        4       5      6 ...
//!  p' = 1 after       skip   skip   skip   70..100  30..100 whole  whole ...
//! ```
//!
//! The blocks a restored subtask must skip or resume lie above its current block, so its own
//! position carries them: [`Run`]s of whole blocks (`first, first + step, ...` below `end`,
//! the intersection of an old class with the new one, a progression with step
//! `lcm(p, p')`) and partial blocks with their cursor. They are dropped as the subtask passes
//! them, so a position stays a few numbers per old subtask, and a second restore reads it
//! exactly as the first did.
//!
//! The position is JSON (see [`BlockPosition`]), for example
//! `{"source":"nexmark_bid","block_size":1024,"parallelism":2,"subtask":1,"block":7,"cursor":7300,"done":[],"partial":[]}`.

use std::ops::Range;

use millstream_core::error::{Error, Result};
use serde::{Deserialize, Serialize};

/// Blocks `first, first + step, ...` below `end`, all generated already.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Run(u64, u64, u64);

impl Run {
    fn contains(self, b: u64) -> bool {
        let Run(first, step, end) = self;
        b >= first && b < end && (b - first).is_multiple_of(step.max(1))
    }

    /// The blocks of the run that are `t (mod q)`, as a run (`None` when there are none).
    fn restrict(self, t: u64, q: u64) -> Option<Run> {
        let Run(first, step, end) = self;
        let step = step.max(1);
        let g = gcd(step, q);
        // lcm(step, q); a step past `u64::MAX` is past `end`, so the run is one block.
        let lcm = u64::try_from(u128::from(step / g) * u128::from(q)).unwrap_or(u64::MAX);
        // The residues of `first + k * step (mod q)` repeat after `q / g` steps.
        for k in 0..q / g {
            let b = k.checked_mul(step).and_then(|d| first.checked_add(d))?;
            if b >= end {
                return None;
            }
            if b % q == t {
                return Some(Run(b, lcm, end));
            }
        }
        None
    }
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a.max(1)
}

/// The serialized position of one generator subtask.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct BlockPosition {
    /// The source it belongs to (`nexmark_bid`, `telemetry`), checked on restore.
    pub(crate) source: String,
    /// Events per block; a restore keeps it, whatever the new batch size.
    pub(crate) block_size: u64,
    /// Parallelism of the run that wrote the position.
    pub(crate) parallelism: u64,
    /// The subtask that wrote it; it owns the blocks `subtask (mod parallelism)`.
    pub(crate) subtask: u64,
    /// The current block: every owned block below it has been generated.
    pub(crate) block: u64,
    /// The next event of the current block: events from the block's start up to here have
    /// been generated.
    pub(crate) cursor: u64,
    /// Owned blocks above `block` generated whole before a restore, as `[first, step, end]`.
    #[serde(default)]
    pub(crate) done: Vec<Run>,
    /// Owned blocks above `block` generated up to an event before a restore, as
    /// `[block, cursor]`.
    #[serde(default)]
    pub(crate) partial: Vec<(u64, u64)>,
}

/// The blocks of the event sequence one subtask generates: block `b` is events
/// `[b * size, (b + 1) * size)`, and subtask `i` of `p` takes blocks `i, i + p, ...`,
/// skipping or resuming the ones an earlier run had generated (after a restore).
#[derive(Debug, Clone)]
pub(crate) struct Blocks {
    total: u64,
    size: u64,
    parallelism: u64,
    subtask: u64,
    /// Index of the current block.
    block: u64,
    /// Next event to generate within the current block.
    cursor: u64,
    /// End of the current block.
    block_end: u64,
    /// Every block has been handed out.
    finished: bool,
    /// Events handed out so far.
    generated: u64,
    /// Owned blocks generated whole by an earlier run.
    done: Vec<Run>,
    /// Owned blocks an earlier run generated up to an event: `(block, cursor)`.
    partial: Vec<(u64, u64)>,
}

impl Blocks {
    /// The blocks of `subtask` of `parallelism` over `total` events in blocks of `size`.
    pub(crate) fn new(total: u64, size: usize, subtask: usize, parallelism: usize) -> Self {
        Self::starting_at(
            total,
            size.max(1) as u64,
            subtask as u64,
            parallelism.max(1) as u64,
            subtask as u64,
            Vec::new(),
            Vec::new(),
        )
    }

    fn starting_at(
        total: u64,
        size: u64,
        subtask: u64,
        parallelism: u64,
        block: u64,
        done: Vec<Run>,
        partial: Vec<(u64, u64)>,
    ) -> Self {
        let mut b = Blocks {
            total,
            size,
            parallelism,
            subtask,
            block,
            cursor: 0,
            block_end: 0,
            finished: false,
            generated: 0,
            done,
            partial,
        };
        b.enter_block();
        b
    }

    /// Resumes subtask `subtask` of `parallelism` from `positions`, the positions of every
    /// subtask of the previous run in subtask order (their number may differ from
    /// `parallelism`). Blocks keep the size the positions record.
    ///
    /// # Errors
    /// [`Error::Connector`] when there are no positions, one cannot be decoded, belongs to
    /// another source, or they disagree (block sizes, parallelism, subtask order).
    pub(crate) fn restore(
        source: &str,
        total: u64,
        subtask: usize,
        parallelism: usize,
        positions: &[Vec<u8>],
    ) -> Result<Self> {
        let err = |detail: String| Error::Connector {
            connector: source.to_string(),
            detail,
        };
        if positions.is_empty() {
            return Err(err(
                "cannot resume: the checkpoint holds no position of this source".into(),
            ));
        }
        let old_p = positions.len() as u64;
        let mut decoded = Vec::with_capacity(positions.len());
        for (j, bytes) in positions.iter().enumerate() {
            let pos: BlockPosition = serde_json::from_slice(bytes).map_err(|e| {
                err(format!(
                    "cannot resume: the position of old subtask {j} is unreadable: {e}"
                ))
            })?;
            if pos.source != source {
                return Err(err(format!(
                    "cannot resume: the position of old subtask {j} belongs to source '{}'",
                    pos.source
                )));
            }
            let size0 = decoded
                .first()
                .map_or(pos.block_size, |p: &BlockPosition| p.block_size);
            if pos.block_size == 0 || pos.block_size != size0 {
                return Err(err(format!(
                    "cannot resume: inconsistent positions: old subtask {j} has blocks of {} events, old subtask 0 of {size0}",
                    pos.block_size
                )));
            }
            if pos.parallelism != old_p || pos.subtask != j as u64 {
                return Err(err(format!(
                    "cannot resume: inconsistent positions: position {j} of {old_p} was written by subtask {} of {}",
                    pos.subtask, pos.parallelism
                )));
            }
            decoded.push(pos);
        }
        let size = decoded[0].block_size;
        let (t, q) = (subtask as u64, parallelism.max(1) as u64);
        let mut done = Vec::new();
        let mut partial = Vec::new();
        for pos in &decoded {
            let below = Run(pos.subtask, old_p, pos.block);
            for run in std::iter::once(below).chain(pos.done.iter().copied()) {
                done.extend(run.restrict(t, q));
            }
            let current = std::iter::once((pos.block, pos.cursor));
            for (b, c) in current.chain(pos.partial.iter().copied()) {
                if b % q == t {
                    partial.push((b, c));
                }
            }
        }
        done.sort_unstable_by_key(|r| (r.0, r.1, r.2));
        done.dedup();
        partial.sort_unstable();
        // Every block below the smallest old current block is generated (it is below its
        // owner's current block), so the walk starts at the first block of class `t` there.
        let low = decoded.iter().map(|p| p.block).min().unwrap_or(0);
        let first = low.saturating_add((t + q - low % q) % q);
        let mut blocks = Self::starting_at(total, size, t, q, first, done, partial);
        blocks.prune();
        Ok(blocks)
    }

    /// Moves to the first block from `self.block` on that has events left, skipping those an
    /// earlier run generated.
    fn enter_block(&mut self) {
        loop {
            let start = match self.block.checked_mul(self.size) {
                Some(start) if start < self.total => start,
                _ => {
                    self.finished = true;
                    return;
                }
            };
            let end = start.saturating_add(self.size).min(self.total);
            let block = self.block;
            let covering = self.done.iter().find(|r| r.contains(block)).copied();
            if let Some(Run(_, step, run_end)) = covering {
                if step == self.parallelism {
                    // Every block of this class up to the run's end is done (a restore at
                    // the same parallelism): jump past them at once.
                    let n = (run_end - block).div_ceil(step);
                    match n.checked_mul(step).and_then(|d| block.checked_add(d)) {
                        Some(next) => {
                            self.block = next;
                            continue;
                        }
                        None => {
                            self.finished = true;
                            return;
                        }
                    }
                }
            }
            let resume = if covering.is_some() {
                end
            } else {
                self.partial
                    .iter()
                    .find(|(b, _)| *b == block)
                    .map_or(start, |&(_, c)| c.clamp(start, end))
            };
            if resume < end {
                self.cursor = resume;
                self.block_end = end;
                return;
            }
            match self.block.checked_add(self.parallelism) {
                Some(next) => self.block = next,
                None => {
                    self.finished = true;
                    return;
                }
            }
        }
    }

    /// Drops what an earlier run left at or below the current block (already applied).
    fn prune(&mut self) {
        let block = self.block;
        self.done.retain(|r| r.2 > block.saturating_add(1));
        self.partial.retain(|(b, _)| *b > block);
    }

    /// Whether every block of this subtask has been handed out.
    pub(crate) fn is_done(&self) -> bool {
        self.finished
    }

    /// Events left in the current block (0 when done).
    pub(crate) fn left_in_block(&self) -> u64 {
        if self.is_done() {
            0
        } else {
            self.block_end - self.cursor
        }
    }

    /// The next run of at most `max` consecutive events (never crossing a block end), or
    /// `None` when done.
    pub(crate) fn next_range(&mut self, max: u64) -> Option<Range<u64>> {
        if self.is_done() || max == 0 {
            return None;
        }
        let start = self.cursor;
        let end = start + max.min(self.block_end - start);
        self.generated += end - start;
        self.cursor = end;
        if end == self.block_end {
            match self.block.checked_add(self.parallelism) {
                Some(next) => {
                    self.block = next;
                    self.enter_block();
                    self.prune();
                }
                None => self.finished = true,
            }
        }
        Some(start..end)
    }

    /// Events handed out so far.
    pub(crate) fn generated(&self) -> u64 {
        self.generated
    }

    /// The position after the last range handed out, serialized (see [`BlockPosition`]).
    ///
    /// # Errors
    /// Serializing failed (a bug).
    pub(crate) fn snapshot(&self, source: &str) -> Result<Vec<u8>> {
        let cursor = if self.finished {
            // Past the end: the block does not exist, the cursor is never read.
            self.block.saturating_mul(self.size)
        } else {
            self.cursor
        };
        let pos = BlockPosition {
            source: source.to_string(),
            block_size: self.size,
            parallelism: self.parallelism,
            subtask: self.subtask,
            block: self.block,
            cursor,
            done: self.done.clone(),
            partial: self.partial.clone(),
        };
        serde_json::to_vec(&pos)
            .map_err(|e| Error::Internal(format!("{source}: cannot serialize position: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    /// Hands out every range of `b`, counting each event.
    fn drain(b: &mut Blocks, step: u64, seen: &mut [u32]) {
        while let Some(r) = b.next_range(step) {
            for n in r {
                seen[n as usize] += 1;
            }
        }
        assert!(b.is_done());
    }

    #[test]
    fn blocks_cover_every_event_once() {
        for p in 1..5 {
            let mut seen = vec![0u32; 1003];
            for i in 0..p {
                drain(&mut Blocks::new(1003, 10, i, p), 7, &mut seen);
            }
            assert!(seen.iter().all(|&c| c == 1), "p = {p}");
        }
    }

    #[test]
    fn unbounded_blocks_do_not_overflow() {
        let mut b = Blocks::new(u64::MAX, 1 << 20, 3, 4);
        let r = b.next_range(u64::MAX).unwrap();
        assert_eq!(r, 3 << 20..4 << 20);
    }

    #[test]
    fn runs_restrict_to_a_class() {
        // Blocks 1, 3, 5, ..., 19 that are 2 (mod 3): 5, 11, 17.
        let r = Run(1, 2, 20).restrict(2, 3).unwrap();
        assert_eq!(r, Run(5, 6, 20));
        let all: Vec<u64> = (0..30).filter(|&b| r.contains(b)).collect();
        assert_eq!(all, [5, 11, 17]);
        // Even blocks are never odd.
        assert_eq!(Run(0, 2, 100).restrict(1, 4), None);
        assert_eq!(Run(4, 2, 5).restrict(0, 2), Some(Run(4, 2, 5)));
        assert_eq!(Run(4, 2, 4).restrict(0, 2), None);
        // A step past u64::MAX leaves one block.
        let big = Run(3, u64::MAX - 1, u64::MAX).restrict(0, 3).unwrap();
        assert_eq!(big, Run(3, u64::MAX, u64::MAX));
        assert!(big.contains(3) && !big.contains(4) && !big.contains(u64::MAX - 1));
    }

    /// Runs `p` fresh subtasks up to random cuts, then restores at each parallelism of
    /// `chain` in turn, cutting again, and finally to the end: every event exactly once.
    fn check_chain(seed: u64, total: u64, size: usize, chain: &[usize]) {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut seen = vec![0u32; total as usize];
        let p = chain[0];
        let mut subtasks: Vec<Blocks> = (0..p).map(|i| Blocks::new(total, size, i, p)).collect();
        for (k, &next_p) in chain.iter().enumerate().skip(1) {
            for b in &mut subtasks {
                let steps = rng.random_range(0..8);
                for _ in 0..steps {
                    let max = rng.random_range(1..size as u64 + 3);
                    if let Some(r) = b.next_range(max) {
                        for n in r {
                            seen[n as usize] += 1;
                        }
                    }
                }
            }
            let positions: Vec<Vec<u8>> = subtasks
                .iter()
                .map(|b| b.snapshot("gen").unwrap())
                .collect();
            subtasks = (0..next_p)
                .map(|t| Blocks::restore("gen", total, t, next_p, &positions).unwrap())
                .collect();
            assert!(
                positions.iter().all(|p| p.len() < 400),
                "step {k}: positions stay small"
            );
        }
        for b in &mut subtasks {
            drain(b, 5, &mut seen);
        }
        let wrong: Vec<(usize, u32)> = seen
            .iter()
            .enumerate()
            .filter(|(_, &c)| c != 1)
            .map(|(n, &c)| (n, c))
            .collect();
        assert!(wrong.is_empty(), "seed {seed} chain {chain:?}: {wrong:?}");
    }

    #[test]
    fn restores_at_any_parallelism_generate_every_event_once() {
        let mut seed = 0;
        for old in [1, 2, 3] {
            for new in [1, 2, 4] {
                for _ in 0..20 {
                    seed += 1;
                    check_chain(seed, 997, 10, &[old, new]);
                }
            }
        }
    }

    #[test]
    fn chained_restores_generate_every_event_once() {
        for seed in 0..200 {
            let mut rng = StdRng::seed_from_u64(seed);
            let chain: Vec<usize> = (0..rng.random_range(2..6))
                .map(|_| rng.random_range(1..6))
                .collect();
            check_chain(seed, 1500, 7, &chain);
        }
    }

    #[test]
    fn a_restore_skips_far_ahead_blocks_at_once() {
        // Old subtask 0 of 2 is two billion blocks ahead of subtask 1: the restored
        // subtask 0 jumps there instead of walking the blocks in between.
        let pos = |subtask: u64, block: u64| {
            serde_json::to_vec(&BlockPosition {
                source: "gen".into(),
                block_size: 1,
                parallelism: 2,
                subtask,
                block,
                cursor: block,
                done: vec![],
                partial: vec![],
            })
            .unwrap()
        };
        let positions = [pos(0, 4_000_000_000), pos(1, 1)];
        let mut b = Blocks::restore("gen", u64::MAX, 0, 2, &positions).unwrap();
        assert_eq!(b.next_range(10), Some(4_000_000_000..4_000_000_001));
        let mut b = Blocks::restore("gen", u64::MAX, 1, 2, &positions).unwrap();
        assert_eq!(b.next_range(10), Some(1..2));
        assert_eq!(b.next_range(10), Some(3..4));
    }

    #[test]
    fn a_restore_keeps_the_recorded_block_size() {
        let mut old = Blocks::new(100, 10, 0, 1);
        old.next_range(4);
        let pos = old.snapshot("gen").unwrap();
        let mut b = Blocks::restore("gen", 100, 0, 1, &[pos]).unwrap();
        assert_eq!(b.next_range(100), Some(4..10));
        assert_eq!(b.next_range(100), Some(10..20));
    }

    #[test]
    fn bad_positions_are_errors() {
        let restore = |ps: &[Vec<u8>]| Blocks::restore("gen", 100, 0, 2, ps);
        let pos = |size, i, p| Blocks::new(100, size, i, p).snapshot("gen").unwrap();
        let msg = |r: Result<Blocks>| r.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(msg(restore(&[])).contains("no position"));
        assert!(msg(restore(&[b"nope".to_vec()])).contains("unreadable"));
        assert!(msg(restore(&[pos(10, 0, 2), pos(20, 1, 2)])).contains("blocks of 20 events"));
        assert!(msg(restore(&[pos(10, 1, 2), pos(10, 0, 2)])).contains("inconsistent"));
        assert!(msg(restore(&[pos(10, 0, 2)])).contains("inconsistent"));
        let other = Blocks::new(100, 10, 0, 1).snapshot("other").unwrap();
        assert!(msg(restore(&[other])).contains("belongs to source 'other'"));
    }
}
