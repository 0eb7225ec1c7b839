//! Exactly-once replay of every source: run the subtasks to random cut points, snapshot
//! their positions, restore at another parallelism (sometimes twice), run to the end; the
//! rows of all the pieces together must be the rows of an uninterrupted run, none twice
//! and none missing.

mod support;

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use millstream_connectors::file::{
    CsvOptions, CsvSourceFactory, JsonOptions, JsonSourceFactory, OnError,
};
use millstream_connectors::{NexmarkConfig, NexmarkSource, TelemetryConfig, TelemetrySource};
use millstream_core::connector::{Source, SourceFactory};
use millstream_core::error::{Error, Result};
use support::restore::*;

#[test]
fn nexmark_restores_exactly_once() {
    let cfg = NexmarkConfig::bounded(12_345);
    for (k, f) in [
        NexmarkSource::person(cfg.clone(), None).unwrap(),
        NexmarkSource::auction(cfg.clone(), None).unwrap(),
        NexmarkSource::bid(
            cfg,
            Some(vec!["auction".into(), "price".into(), "extra".into()]),
        )
        .unwrap(),
    ]
    .iter()
    .enumerate()
    {
        check_exactly_once(f, 500, 10, k as u64);
    }
}

#[test]
fn telemetry_restores_exactly_once() {
    let f = TelemetrySource::new(TelemetryConfig::bounded(9_999), None).unwrap();
    check_exactly_once(&f, 400, 10, 11);
}

#[test]
fn generator_restore_keeps_throttling() {
    let cfg = NexmarkConfig {
        max_rate: Some(20_000),
        ..NexmarkConfig::bounded(1_000_000)
    };
    let f = NexmarkSource::bid(cfg, Some(vec!["price".into()])).unwrap();
    let mut s = f.create(&ctx(0, 1, 1000)).unwrap();
    poll_batches(s.as_mut(), 1, &mut Output::default()).unwrap();
    let positions = [s.snapshot_position().unwrap()];
    drop(s);
    let mut restored = f.restore(&ctx(0, 2, 1000), &positions).unwrap();
    let start = Instant::now();
    let mut out = Output::default();
    // 4,000 events at 10,000 events/s per subtask take at least about 0.4 s.
    while out.rows.len() < 3_600 {
        poll_batches(restored.as_mut(), 1, &mut out).unwrap();
    }
    let took = start.elapsed();
    assert!(took >= Duration::from_millis(250), "{took:?}");
}

#[test]
fn generator_positions_are_checked() {
    let bids = NexmarkSource::bid(NexmarkConfig::bounded(1000), None).unwrap();
    let telemetry = TelemetrySource::new(TelemetryConfig::bounded(1000), None).unwrap();
    let mut t = telemetry.create(&ctx(0, 1, 100)).unwrap();
    let foreign = [t.snapshot_position().unwrap()];
    let err = |r: Result<Box<dyn Source>>| r.err().expect("an error");
    assert!(matches!(
        err(bids.restore(&ctx(0, 1, 100), &[])),
        Error::Connector { .. }
    ));
    let e = err(bids.restore(&ctx(0, 1, 100), &foreign)).to_string();
    assert!(e.contains("belongs to source 'telemetry'"), "{e}");
    let e = err(bids.restore(&ctx(0, 1, 100), &[b"\x00garbage".to_vec()])).to_string();
    assert!(e.contains("unreadable"), "{e}");
    let a = bids
        .create(&ctx(0, 2, 100))
        .unwrap()
        .snapshot_position()
        .unwrap();
    let b = bids
        .create(&ctx(1, 2, 300))
        .unwrap()
        .snapshot_position()
        .unwrap();
    let e = err(bids.restore(&ctx(0, 1, 100), &[a, b])).to_string();
    assert!(e.contains("inconsistent positions"), "{e}");
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("date_time", ts(), true),
    ]))
}

/// Data row `i` of file `f` as CSV (or a bad row when `i` is in `bad`).
fn csv_text(f: usize, rows: usize, header: bool, bad: &[usize]) -> String {
    let mut text = String::new();
    if header {
        text.push_str("id,price,name,date_time\n");
    }
    for i in 1..=rows {
        if bad.contains(&i) {
            writeln!(text, "{i},oops,bad {f}-{i},2015-07-15 00:00:00.000").unwrap();
        } else {
            // Varying widths, some empty lines and CRLF endings.
            let pad = "x".repeat(i % 13);
            writeln!(
                text,
                "{},{},name {f}-{i}{pad},2015-07-15 00:{:02}:{:02}.{:03}\r",
                f * 100_000 + i,
                i * 10,
                i % 60,
                (i * 7) % 60,
                i % 1000
            )
            .unwrap();
            if i % 37 == 0 {
                text.push('\n');
            }
        }
    }
    text
}

fn json_text(f: usize, rows: usize, bad: &[usize]) -> String {
    let mut text = String::new();
    for i in 1..=rows {
        if bad.contains(&i) {
            writeln!(text, "{{\"id\": {i}, \"price\": \"oops\"}}").unwrap();
        } else {
            writeln!(
                text,
                "{{\"id\": {}, \"price\": {}, \"name\": \"n{f}-{i}\", \"date_time\": \"2015-07-15 00:00:{:02}.{:03}\"}}",
                f * 100_000 + i,
                i * 10,
                i % 60,
                i % 1000
            )
            .unwrap();
        }
    }
    text
}

#[test]
fn csv_restores_exactly_once_with_bad_lines_on_the_side() {
    let dir = tempfile::tempdir().unwrap();
    let bad: [&[usize]; 3] = [&[3, 150, 299], &[], &[77]];
    for (f, bad) in bad.iter().enumerate() {
        let text = csv_text(f, 300 - f * 60, true, bad);
        std::fs::write(dir.path().join(format!("part-{f}.csv")), text).unwrap();
    }
    let f = CsvSourceFactory::new(
        dir.path(),
        schema(),
        CsvOptions {
            has_header: true,
            on_error: OnError::SideOutput,
            ..Default::default()
        },
    )
    .with_chunk_size(1500);
    let expected = uninterrupted(&f, 9).unwrap();
    // Line numbers count the header and the empty lines.
    assert_eq!(
        expected.bad,
        [
            "part-0.csv:155",
            "part-0.csv:308",
            "part-0.csv:4",
            "part-2.csv:80"
        ]
    );
    check_exactly_once(&f, 9, 12, 21);
    // A projection and a chunk size that differs from the old run's.
    let projected = CsvSourceFactory::new(
        dir.path(),
        schema(),
        CsvOptions {
            has_header: true,
            on_error: OnError::Skip,
            ..Default::default()
        },
    )
    .with_projection(&["name", "id"])
    .unwrap()
    .with_chunk_size(333);
    check_exactly_once(&projected, 5, 20, 22);
}

#[test]
fn json_restores_exactly_once_with_bad_lines_on_the_side() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("a.jsonl"), json_text(0, 250, &[10, 200])).unwrap();
    std::fs::write(dir.path().join("b.jsonl"), json_text(1, 120, &[])).unwrap();
    let f = JsonSourceFactory::new(
        dir.path(),
        schema(),
        JsonOptions {
            on_error: OnError::SideOutput,
        },
    )
    .with_chunk_size(2000);
    let expected = uninterrupted(&f, 8).unwrap();
    assert_eq!(expected.bad, ["a.jsonl:10", "a.jsonl:200"]);
    check_exactly_once(&f, 8, 10, 31);
}

/// Runs one subtask over the whole file up to `cut` batches, restores at `p_new`, and
/// drains every new subtask: exactly one fails, naming the true line.
fn fail_after_restore(f: &dyn SourceFactory, cut: usize, p_new: usize) -> (Error, usize) {
    let mut out = Output::default();
    let mut s = f.create(&ctx(0, 1, 10)).unwrap();
    let ended = poll_batches(s.as_mut(), cut, &mut out).unwrap();
    assert!(!ended);
    let positions = [s.snapshot_position().unwrap()];
    drop(s);
    let mut failures = Vec::new();
    for t in 0..p_new {
        let mut r = f.restore(&ctx(t, p_new, 10), &positions).unwrap();
        if let Err(e) = poll_batches(r.as_mut(), usize::MAX, &mut out) {
            failures.push(e);
        }
    }
    assert_eq!(failures.len(), 1, "{failures:?}");
    (failures.remove(0), out.rows.len())
}

#[test]
fn errors_after_a_restore_name_the_absolute_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    // Data row 400 is line 401 plus 10 empty lines (after rows 37, 74, ... 370).
    std::fs::write(&path, csv_text(0, 500, true, &[400])).unwrap();
    let options = CsvOptions {
        has_header: true,
        ..Default::default()
    };
    for (chunk, cut, p_new) in [(1 << 20, 3, 1), (1 << 20, 7, 3), (900, 2, 2), (900, 5, 4)] {
        let f = CsvSourceFactory::new(&path, schema(), options).with_chunk_size(chunk);
        let (e, _) = fail_after_restore(&f, cut, p_new);
        let Error::Data { location, detail } = &e else {
            panic!("{e:?}")
        };
        assert_eq!(
            location.line,
            Some(411),
            "chunk {chunk} cut {cut} p {p_new}"
        );
        assert_eq!(location.column.as_deref(), Some("price"));
        assert_eq!(detail, "expected BIGINT (Int64), got \"oops\"");
    }

    // The line number a subtask knew (it had met a bad line in its chunk) travels in the
    // position, and later lines are numbered from it.
    let side = dir.path().join("side.csv");
    std::fs::write(&side, csv_text(0, 500, true, &[2, 400])).unwrap();
    let f = CsvSourceFactory::new(
        &side,
        schema(),
        CsvOptions {
            has_header: true,
            on_error: OnError::SideOutput,
            ..Default::default()
        },
    );
    let mut out = Output::default();
    let mut s = f.create(&ctx(0, 1, 10)).unwrap();
    poll_batches(s.as_mut(), 3, &mut out).unwrap();
    assert_eq!(out.bad, ["side.csv:3"]);
    let position = s.snapshot_position().unwrap();
    let value: serde_json::Value = serde_json::from_slice(&position).unwrap();
    let first = &value["ranges"][0];
    assert_eq!(first[3].as_u64(), Some(32), "{value}");
    drop(s);
    for p_new in [1, 2] {
        let mut again = Output::default();
        for t in 0..p_new {
            let mut r = f
                .restore(&ctx(t, p_new, 10), std::slice::from_ref(&position))
                .unwrap();
            poll_batches(r.as_mut(), usize::MAX, &mut again).unwrap();
        }
        assert_eq!(again.bad, ["side.csv:411"], "p {p_new}");
    }

    // JSON lines, too.
    let json = dir.path().join("t.jsonl");
    std::fs::write(&json, json_text(0, 300, &[250])).unwrap();
    for (chunk, p_new) in [(1 << 20, 2), (700, 3)] {
        let f =
            JsonSourceFactory::new(&json, schema(), JsonOptions::default()).with_chunk_size(chunk);
        let (e, _) = fail_after_restore(&f, 4, p_new);
        assert!(
            e.to_string().contains("t.jsonl line 250 column price"),
            "{e}"
        );
    }
}

#[test]
fn file_restore_checks_the_files() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, csv_text(0, 100, false, &[])).unwrap();
    let f = CsvSourceFactory::new(&path, schema(), CsvOptions::default()).with_chunk_size(500);
    let mut s = f.create(&ctx(0, 1, 10)).unwrap();
    poll_batches(s.as_mut(), 1, &mut Output::default()).unwrap();
    let positions = [s.snapshot_position().unwrap()];
    drop(s);
    let json = JsonSourceFactory::new(&path, schema(), JsonOptions::default());
    let e = json.restore(&ctx(0, 1, 10), &positions).err().unwrap();
    assert!(e.to_string().contains("belongs to a csv source"), "{e}");
    std::fs::write(&path, "1,2,x,2015-07-15 00:00:00.000\n").unwrap();
    let e = f.restore(&ctx(0, 1, 10), &positions).err().unwrap();
    assert!(
        e.to_string().contains("changed since the checkpoint"),
        "{e}"
    );
    std::fs::remove_file(&path).unwrap();
    let e = f.restore(&ctx(0, 1, 10), &positions).err().unwrap();
    assert!(matches!(e, Error::Io { .. }), "{e}");
    // A finished subtask has nothing left.
    std::fs::write(&path, csv_text(0, 10, false, &[])).unwrap();
    let mut s = f.create(&ctx(0, 1, 100)).unwrap();
    poll_batches(s.as_mut(), usize::MAX, &mut Output::default()).unwrap();
    let done = [s.snapshot_position().unwrap()];
    let mut r = f.restore(&ctx(0, 1, 100), &done).unwrap();
    let mut out = Output::default();
    assert!(poll_batches(r.as_mut(), usize::MAX, &mut out).unwrap());
    assert!(out.rows.is_empty());
}
