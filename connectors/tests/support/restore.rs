//! The random-cut restore harness of `restore.rs` and `parquet_restore.rs`: run the
//! subtasks to random cut points, snapshot their positions, restore at another parallelism
//! (sometimes twice), run to the end, and compare with an uninterrupted run.

use std::path::Path;
use std::time::Duration;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::UInt64Type;
use arrow::util::display::array_value_to_string;
use millstream_core::connector::{Source, SourceContext, SourceFactory, SourcePoll};
use millstream_core::error::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// A subtask's context; unlike `support::ctx`, partial batches wait 20 ms, as the harness
/// has always run.
pub fn ctx(subtask: usize, parallelism: usize, batch_size: usize) -> SourceContext {
    super::ctx_with_delay(subtask, parallelism, batch_size, Duration::from_millis(20))
}

/// What a run produced: rows as text, and the bad lines sent to the side output as
/// `file:line`.
#[derive(Debug, Default)]
pub struct Output {
    pub rows: Vec<String>,
    pub bad: Vec<String>,
}

impl Output {
    pub fn add(&mut self, b: &RecordBatch) {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| array_value_to_string(c, r).unwrap())
                .collect();
            self.rows.push(cells.join("|"));
        }
    }

    pub fn add_errors(&mut self, e: &RecordBatch) {
        for r in 0..e.num_rows() {
            let file = e.column(0).as_string::<i32>().value(r);
            let name = Path::new(file).file_name().unwrap().to_string_lossy();
            let line = e.column(1).as_primitive::<UInt64Type>().value(r);
            self.bad.push(format!("{name}:{line}"));
        }
    }

    pub fn sorted(mut self) -> Self {
        self.rows.sort();
        self.bad.sort();
        self
    }
}

/// Polls `s` until it has returned `n` batches or ended; whether it ended.
pub fn poll_batches(s: &mut dyn Source, n: usize, out: &mut Output) -> Result<bool> {
    let mut got = 0;
    while got < n {
        let poll = s.poll()?;
        if let Some(e) = s.take_error_rows() {
            out.add_errors(&e);
        }
        match poll {
            SourcePoll::Batch(b) => {
                assert!(b.num_rows() > 0);
                out.add(&b);
                got += 1;
            }
            SourcePoll::Pending(d) => std::thread::sleep(d.min(Duration::from_millis(5))),
            SourcePoll::End => return Ok(true),
        }
    }
    Ok(false)
}

/// An uninterrupted run at parallelism 1.
pub fn uninterrupted(f: &dyn SourceFactory, batch_size: usize) -> Result<Output> {
    let mut out = Output::default();
    poll_batches(
        f.create(&ctx(0, 1, batch_size))?.as_mut(),
        usize::MAX,
        &mut out,
    )?;
    Ok(out.sorted())
}

/// Runs `chain[0]` fresh subtasks, each for a random number of batches (up to
/// `max_cut`), snapshots them, restores at `chain[1]` with a random smaller batch size, and
/// so on; the last parallelism runs to the end.
pub fn interrupted(
    f: &dyn SourceFactory,
    chain: &[usize],
    batch_size: usize,
    max_cut: usize,
    rng: &mut StdRng,
) -> Result<Output> {
    let mut out = Output::default();
    let p = chain[0];
    let mut subtasks = (0..p)
        .map(|i| f.create(&ctx(i, p, batch_size)))
        .collect::<Result<Vec<_>>>()?;
    for &next in &chain[1..] {
        for s in &mut subtasks {
            poll_batches(s.as_mut(), rng.random_range(0..=max_cut), &mut out)?;
        }
        let positions = subtasks
            .iter_mut()
            .map(|s| s.snapshot_position())
            .collect::<Result<Vec<_>>>()?;
        // The old subtasks (and their read-ahead threads) are gone before the new start.
        drop(subtasks);
        // Another batch size after a restore: the generators then stop inside their
        // blocks, so the next cut leaves partial blocks.
        let size = rng.random_range(batch_size / 3..=batch_size).max(1);
        subtasks = (0..next)
            .map(|t| f.restore(&ctx(t, next, size), &positions))
            .collect::<Result<Vec<_>>>()?;
    }
    for s in &mut subtasks {
        poll_batches(s.as_mut(), usize::MAX, &mut out)?;
    }
    Ok(out.sorted())
}

/// Every `p_old` in {1, 2, 3} and `p_new` in {1, 2, 4}, a few random cuts each, plus
/// chained restores: the same rows (and bad lines) as the uninterrupted run.
pub fn check_exactly_once(f: &dyn SourceFactory, batch_size: usize, max_cut: usize, seed: u64) {
    let expected = uninterrupted(f, batch_size).unwrap();
    assert!(!expected.rows.is_empty());
    let mut rng = StdRng::seed_from_u64(seed);
    let mut chains: Vec<Vec<usize>> = Vec::new();
    for old in [1, 2, 3] {
        for new in [1, 2, 4] {
            for _ in 0..3 {
                chains.push(vec![old, new]);
            }
        }
    }
    for _ in 0..6 {
        let len = rng.random_range(3..5);
        chains.push((0..len).map(|_| rng.random_range(1..5)).collect());
    }
    for chain in chains {
        let got = interrupted(f, &chain, batch_size, max_cut, &mut rng).unwrap();
        assert_eq!(
            got.rows.len(),
            expected.rows.len(),
            "{} {chain:?}: row count",
            f.name()
        );
        assert!(
            got.rows == expected.rows,
            "{} {chain:?}: rows differ",
            f.name()
        );
        assert_eq!(got.bad, expected.bad, "{} {chain:?}: bad lines", f.name());
    }
}
