//! Exactly-once replay of the Parquet source (plain and partitioned): run the subtasks to
//! random cut points, snapshot their positions, restore at another parallelism (sometimes
//! twice), run to the end; the rows of all the pieces together must be the rows of an
//! uninterrupted run, none twice and none missing. The same harness as `restore.rs`.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use arrow::array::{AsArray, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, UInt64Type};
use arrow::util::display::array_value_to_string;
use millstream_connectors::file::{ParquetSourceFactory, Partitioning};
use millstream_core::batch::BatchConfig;
use millstream_core::connector::{Source, SourceContext, SourceFactory, SourcePoll};
use millstream_core::error::Result;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

fn ctx(subtask: usize, parallelism: usize, batch_size: usize) -> SourceContext {
    SourceContext {
        subtask,
        parallelism,
        batch: BatchConfig {
            batch_size,
            max_delay: Duration::from_millis(20),
        },
    }
}

/// What a run produced: rows as text, and the bad lines sent to the side output as
/// `file:line`.
#[derive(Debug, Default)]
struct Output {
    rows: Vec<String>,
    bad: Vec<String>,
}

impl Output {
    fn add(&mut self, b: &RecordBatch) {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| array_value_to_string(c, r).unwrap())
                .collect();
            self.rows.push(cells.join("|"));
        }
    }

    fn add_errors(&mut self, e: &RecordBatch) {
        for r in 0..e.num_rows() {
            let file = e.column(0).as_string::<i32>().value(r);
            let name = Path::new(file).file_name().unwrap().to_string_lossy();
            let line = e.column(1).as_primitive::<UInt64Type>().value(r);
            self.bad.push(format!("{name}:{line}"));
        }
    }

    fn sorted(mut self) -> Self {
        self.rows.sort();
        self.bad.sort();
        self
    }
}

/// Polls `s` until it has returned `n` batches or ended; whether it ended.
fn poll_batches(s: &mut dyn Source, n: usize, out: &mut Output) -> Result<bool> {
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
fn uninterrupted(f: &dyn SourceFactory, batch_size: usize) -> Result<Output> {
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
fn interrupted(
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
fn check_exactly_once(f: &dyn SourceFactory, batch_size: usize, max_cut: usize, seed: u64) {
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

fn schema(partitioned: bool) -> SchemaRef {
    let mut fields = vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ];
    if partitioned {
        fields.insert(1, Field::new("dt", DataType::Utf8, true));
    }
    Arc::new(Schema::new(fields))
}

/// A Parquet file of `n` rows `(id, name)` from `first`, in row groups of `group` rows.
fn write_parquet(path: &Path, first: i64, n: i64, group: usize) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let schema = schema(false);
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        schema.clone(),
        Some(props),
    )
    .unwrap();
    let ids: Vec<i64> = (first..first + n).collect();
    let names: Vec<String> = ids.iter().map(|i| format!("n{i}")).collect();
    // Several writes, so row groups and batches do not line up.
    for chunk in ids.chunks(7).zip(names.chunks(7)) {
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![
                Arc::new(Int64Array::from(chunk.0.to_vec())),
                Arc::new(StringArray::from(chunk.1.to_vec())),
            ],
        )
        .unwrap();
        w.write(&batch).unwrap();
    }
    w.close().unwrap();
}

#[test]
fn parquet_restores_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("a.parquet"), 0, 230, 40);
    write_parquet(&dir.path().join("b.parquet"), 10_000, 75, 30);
    write_parquet(&dir.path().join("c.parquet"), 20_000, 9, 100);
    let f = ParquetSourceFactory::new(dir.path(), schema(false));
    let expected = uninterrupted(&f, 16).unwrap();
    assert_eq!(expected.rows.len(), 314);
    check_exactly_once(&f, 16, 6, 41);
    // A projection, and smaller batches than the row groups' pages.
    let projected = ParquetSourceFactory::new(dir.path(), schema(false))
        .with_projection(&["name"])
        .unwrap();
    check_exactly_once(&projected, 5, 12, 42);
}

#[test]
fn partitioned_parquet_restores_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("dt=2020-01-01/a.parquet"), 0, 120, 25);
    write_parquet(&dir.path().join("dt=2020-01-02/a.parquet"), 500, 60, 25);
    write_parquet(
        &dir.path().join("dt=__DEFAULT_PARTITION__/b.parquet"),
        900,
        33,
        10,
    );
    let f = ParquetSourceFactory::new(dir.path(), schema(true))
        .with_partitioning(Partitioning::new(["dt"]))
        .unwrap()
        .with_projection(&["dt", "id"])
        .unwrap();
    let expected = uninterrupted(&f, 8).unwrap();
    assert_eq!(expected.rows.len(), 213);
    assert!(expected.rows.contains(&"2020-01-02|559".to_string()));
    check_exactly_once(&f, 8, 9, 43);
}
