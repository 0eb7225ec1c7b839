use std::fmt::Write as _;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arrow::array::{
    Array, AsArray, Float64Array, Int64Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit, UInt64Type};
use arrow::util::display::array_value_to_string;
use millstream_core::batch::BatchConfig;
use millstream_core::connector::{
    error_rows_schema, Sink, SinkFactory, Source, SourceContext, SourceFactory, SourcePoll,
};
use millstream_core::error::{Error, Result};

use super::csv::SimpleLines;
use super::*;
use crate::nexmark::{NexmarkConfig, NexmarkSource, NexmarkTable};

pub(super) fn ctx(subtask: usize, parallelism: usize, batch_size: usize) -> SourceContext {
    SourceContext {
        subtask,
        parallelism,
        batch: BatchConfig {
            batch_size,
            max_delay: Duration::from_millis(50),
        },
    }
}

/// Polls one subtask to its end: its batches and error rows.
pub(super) fn drain_one(s: &mut dyn Source) -> Result<(Vec<RecordBatch>, Vec<RecordBatch>)> {
    let (mut out, mut errors) = (Vec::new(), Vec::new());
    loop {
        let poll = s.poll()?;
        errors.extend(s.take_error_rows());
        match poll {
            SourcePoll::Batch(b) => out.push(b),
            SourcePoll::Pending(d) => std::thread::sleep(d),
            SourcePoll::End => return Ok((out, errors)),
        }
    }
}

/// All subtasks of `f` at parallelism `p`, one after the other.
fn drain(f: &dyn SourceFactory, p: usize, batch_size: usize) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for i in 0..p {
        let mut s = f.create(&ctx(i, p, batch_size))?;
        let (batches, _) = drain_one(s.as_mut())?;
        for b in &batches {
            assert_eq!(b.schema(), f.schema());
        }
        out.extend(batches);
    }
    Ok(out)
}

/// Ends the sinks of `factory` as the runtime does at the end of a job: finish, prepare,
/// commit.
fn finish_and_commit(factory: &dyn SinkFactory, sinks: &mut [Box<dyn Sink>]) {
    let mut committables = Vec::new();
    for s in sinks.iter_mut() {
        s.finish().unwrap();
        committables.extend(s.prepare_commit(u64::MAX).unwrap());
    }
    factory.commit(u64::MAX, &committables).unwrap();
}

/// The only visible file of `dir`.
fn only_file(dir: &Path) -> std::path::PathBuf {
    let files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !p.file_name().unwrap().to_string_lossy().starts_with('.'))
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    files[0].clone()
}

fn sorted_rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut rows = Vec::new();
    for b in batches {
        for r in 0..b.num_rows() {
            let cells: Vec<String> = b
                .columns()
                .iter()
                .map(|c| array_value_to_string(c, r).unwrap())
                .collect();
            rows.push(cells.join("|"));
        }
    }
    rows.sort();
    rows
}

/// The schema of `table` as a CSV table declares it (nullable columns).
fn nullable(schema: &SchemaRef) -> SchemaRef {
    Arc::new(Schema::new(
        schema
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_nullable(true))
            .collect::<Vec<_>>(),
    ))
}

fn ts() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, None)
}

fn small_schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("date_time", ts(), true),
    ]))
}

/// `lines` rows of `small_schema`, optionally with a header; `bad` maps a 1-based data row
/// to its replacement text.
fn small_csv(dir: &Path, name: &str, rows: usize, header: bool, bad: &[(usize, &str)]) -> String {
    let mut text = String::new();
    if header {
        text.push_str("id,price,name,date_time\n");
    }
    for i in 1..=rows {
        match bad.iter().find(|(r, _)| *r == i) {
            Some((_, line)) => writeln!(text, "{line}").unwrap(),
            None => writeln!(
                text,
                "{i},{},name {i},2015-07-15 00:00:{:02}.{:03}",
                i * 10,
                i % 60,
                i % 1000
            )
            .unwrap(),
        }
    }
    std::fs::write(dir.join(name), &text).unwrap();
    text
}

#[test]
fn csv_round_trip_through_the_sink() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let bids = NexmarkSource::bid(NexmarkConfig::bounded(20_000), None).unwrap();
    let batches = drain(&bids, 1, 4096).unwrap();
    // Two sink subtasks, as a parallel job would write.
    let sink = CsvSinkFactory::new(&out);
    let mut parts: Vec<_> = (0..2).map(|i| sink.create(i, 2).unwrap()).collect();
    for (i, b) in batches.iter().enumerate() {
        parts[i % 2].write(b).unwrap();
    }
    finish_and_commit(&sink, &mut parts);
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    // Each instance has its own attempt id, so the names sort by attempt, not subtask.
    assert!(names.iter().any(|n| n.ends_with("-0-0.csv")), "{names:?}");
    assert!(names.iter().any(|n| n.ends_with("-1-0.csv")), "{names:?}");
    let first = std::fs::read_to_string(out.join(&names[0])).unwrap();
    let line = first.lines().next().unwrap();
    assert!(line.contains(",2015-07-15 00:00:00."), "{line}");

    let schema = nullable(&NexmarkTable::Bid.schema());
    for p in [1, 2, 3] {
        let source = CsvSourceFactory::new(&out, schema.clone(), CsvOptions::default())
            .with_chunk_size(64 << 10);
        let back = drain(&source, p, 1000).unwrap();
        assert_eq!(sorted_rows(&back), sorted_rows(&batches), "p = {p}");
    }
}

#[test]
fn csv_quotes_nulls_and_doubles_round_trip() {
    let schema = Arc::new(Schema::new(vec![
        Field::new("s", DataType::Utf8, true),
        Field::new("d", DataType::Float64, true),
        Field::new("i", DataType::Int64, true),
        Field::new("t", ts(), true),
    ]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![
            Arc::new(StringArray::from(vec![
                Some("a,b"),
                Some("say \"hi\""),
                None,
                Some("plain"),
            ])),
            Arc::new(Float64Array::from(vec![
                Some(1.5),
                Some(90_800_000.0),
                Some(-0.1),
                None,
            ])),
            Arc::new(Int64Array::from(vec![Some(1), None, Some(-3), Some(4)])),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_436_918_400_123),
                Some(0),
                None,
                Some(-1),
            ])),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let factory = CsvSinkFactory::new(dir.path());
    let mut sinks = [factory.create(0, 1).unwrap()];
    sinks[0].write(&batch).unwrap();
    finish_and_commit(&factory, &mut sinks);
    let text = std::fs::read_to_string(only_file(dir.path())).unwrap();
    assert_eq!(
        text,
        "\"a,b\",1.5,1,2015-07-15 00:00:00.123\n\
         \"say \"\"hi\"\"\",90800000.0,,1970-01-01 00:00:00.000\n\
         ,-0.1,-3,\n\
         plain,,4,1969-12-31 23:59:59.999\n"
    );
    let back = drain(
        &CsvSourceFactory::new(dir.path(), schema, CsvOptions::default()),
        1,
        10,
    )
    .unwrap();
    assert_eq!(back, vec![batch]);
}

#[test]
fn csv_error_names_the_absolute_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    // Line 1 is the header, so data row 150 is line 151.
    small_csv(
        dir.path(),
        "t.csv",
        300,
        true,
        &[(150, "150,abc,name 150,2015-07-15 00:00:00.000")],
    );
    let f = CsvSourceFactory::new(
        dir.path().join("t.csv"),
        small_schema(),
        CsvOptions {
            has_header: true,
            ..Default::default()
        },
    )
    .with_chunk_size(512);
    let mut failures = Vec::new();
    let mut rows = 0;
    for i in 0..2 {
        let mut s = f.create(&ctx(i, 2, 7)).unwrap();
        match drain_one(s.as_mut()) {
            Ok((batches, _)) => rows += batches.iter().map(|b| b.num_rows()).sum::<usize>(),
            Err(e) => failures.push(e),
        }
    }
    assert_eq!(failures.len(), 1, "exactly one subtask owns the bad line");
    assert!(rows > 0);
    let Error::Data { location, detail } = &failures[0] else {
        panic!("{:?}", failures[0])
    };
    assert_eq!(location.line, Some(151));
    assert_eq!(location.column.as_deref(), Some("price"));
    assert!(location.source.ends_with("t.csv"));
    assert_eq!(detail, "expected BIGINT (Int64), got \"abc\"");
    let msg = failures[0].to_string();
    assert!(msg.contains("t.csv line 151 column price"), "{msg}");
}

#[test]
fn csv_side_output_and_skip() {
    let dir = tempfile::tempdir().unwrap();
    let bad = [
        (3, "3,30,name 3,not a time"),
        (40, "40,400,too few"),
        (41, "41,410,name 41,2015-07-15 00:00:00.000,extra"),
        (299, "x,1,n,2015-07-15 00:00:00.000"),
    ];
    small_csv(dir.path(), "t.csv", 300, false, &bad);
    let path = dir.path().join("t.csv");

    let side = CsvSourceFactory::new(
        &path,
        small_schema(),
        CsvOptions {
            on_error: OnError::SideOutput,
            ..Default::default()
        },
    )
    .with_chunk_size(1000);
    let mut good = 0;
    let mut errors = Vec::new();
    for i in 0..2 {
        let mut s = side.create(&ctx(i, 2, 16)).unwrap();
        let (batches, errs) = drain_one(s.as_mut()).unwrap();
        good += batches.iter().map(|b| b.num_rows()).sum::<usize>();
        errors.extend(errs);
    }
    assert_eq!(good, 296);
    assert_eq!(side.bad_rows(), 4);
    let mut found: Vec<(u64, Option<String>, String, String)> = Vec::new();
    for e in &errors {
        assert_eq!(e.schema(), error_rows_schema());
        for r in 0..e.num_rows() {
            let col = e.column(2).as_string::<i32>();
            found.push((
                e.column(1).as_primitive::<UInt64Type>().value(r),
                col.is_valid(r).then(|| col.value(r).to_string()),
                e.column(3).as_string::<i32>().value(r).to_string(),
                e.column(4).as_string::<i32>().value(r).to_string(),
            ));
        }
    }
    found.sort();
    assert_eq!(found.len(), 4);
    assert_eq!(found[0].0, 3);
    assert_eq!(found[0].1.as_deref(), Some("date_time"));
    assert_eq!(
        found[0].2,
        "expected TIMESTAMP(3) (Timestamp(ms)), got \"not a time\""
    );
    assert_eq!(found[0].3, "3,30,name 3,not a time");
    assert_eq!((found[1].0, found[1].1.as_deref()), (40, Some("date_time")));
    assert_eq!(found[1].2, "expected 4 fields, got 3");
    assert_eq!((found[2].0, found[2].1.as_deref()), (41, None));
    assert_eq!((found[3].0, found[3].1.as_deref()), (299, Some("id")));

    // A projection that leaves the bad fields out sees no bad value (but still a bad shape).
    let projected = CsvSourceFactory::new(
        &path,
        small_schema(),
        CsvOptions {
            on_error: OnError::Skip,
            ..Default::default()
        },
    )
    .with_projection(&["name"])
    .unwrap();
    let rows: usize = drain(&projected, 1, 50)
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 298);
    assert_eq!(projected.bad_rows(), 2);
}

#[test]
fn csv_empty_lines_crlf_and_bad_rows_in_skip_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    let mut text = String::new();
    for i in 1..=60 {
        if i % 3 == 0 {
            text.push_str("\r\n");
        }
        if i % 17 == 0 {
            write!(text, "{i},bad,n,2015-07-15 00:00:00.000\r\n").unwrap();
        } else {
            write!(text, "{i},{i},n,2015-07-15 00:00:00.000\r\n").unwrap();
        }
    }
    std::fs::write(&path, text).unwrap();
    let f = CsvSourceFactory::new(
        &path,
        small_schema(),
        CsvOptions {
            on_error: OnError::Skip,
            ..Default::default()
        },
    )
    .with_chunk_size(300);
    let batches = drain(&f, 2, 2).unwrap();
    let ids: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<arrow::datatypes::Int64Type>()
                .values()
                .to_vec()
        })
        .collect();
    assert_eq!(ids.len(), 57);
    assert!(!ids.contains(&17) && !ids.contains(&34) && !ids.contains(&51));
    assert_eq!(f.bad_rows(), 3);

    // In fail mode the line number counts the empty lines: row 17 is line 17 + 5.
    let strict = CsvSourceFactory::new(&path, small_schema(), CsvOptions::default());
    let err = drain(&strict, 1, 4).err().unwrap();
    assert!(err.to_string().contains("line 22 column price"), "{err}");
}

#[test]
fn csv_projection_and_directories() {
    let dir = tempfile::tempdir().unwrap();
    small_csv(dir.path(), "a.csv", 10, true, &[]);
    small_csv(dir.path(), "b.csv", 5, true, &[]);
    std::fs::write(dir.path().join(".b.csv.inprogress"), "garbage\n").unwrap();
    let f = CsvSourceFactory::new(
        dir.path(),
        small_schema(),
        CsvOptions {
            has_header: true,
            ..Default::default()
        },
    )
    .with_projection(&["date_time", "id"])
    .unwrap();
    assert_eq!(f.schema().field(0).name(), "date_time");
    let batches = drain(&f, 2, 4).unwrap();
    let rows = sorted_rows(&batches);
    assert_eq!(rows.len(), 15);
    assert!(
        rows.contains(&"2015-07-15T00:00:05.005|5".to_string()),
        "{rows:?}"
    );
    assert!(
        CsvSourceFactory::new(dir.path(), small_schema(), CsvOptions::default())
            .with_projection(&["nope"])
            .is_err()
    );

    // The arrow timestamp parser and the fast path agree.
    let slow = CsvSourceFactory::new(
        dir.path(),
        small_schema(),
        CsvOptions {
            has_header: true,
            ..Default::default()
        },
    )
    .with_fast_timestamps(false);
    let fast = CsvSourceFactory::new(
        dir.path(),
        small_schema(),
        CsvOptions {
            has_header: true,
            ..Default::default()
        },
    );
    assert_eq!(drain(&slow, 1, 100).unwrap(), drain(&fast, 1, 100).unwrap());
}

#[test]
fn csv_empty_field_in_a_not_null_column() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("t.csv"), "1,a\n2,\n3,c\n").unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, false),
        Field::new("name", DataType::Utf8, false),
    ]));
    let f = CsvSourceFactory::new(dir.path(), schema, CsvOptions::default());
    let err = drain(&f, 1, 10).err().unwrap().to_string();
    assert!(
        err.ends_with("t.csv line 2 column name: expected VARCHAR (Utf8), got an empty field (null) in a NOT NULL column"),
        "{err}"
    );
}

#[test]
fn missing_file_is_an_io_error_naming_the_path() {
    let f = CsvSourceFactory::new(
        "/no/such/dir/bid.csv",
        small_schema(),
        CsvOptions::default(),
    );
    let err = f.create(&ctx(0, 1, 10)).err().unwrap();
    assert!(matches!(err, Error::Io { .. }));
    assert!(err.to_string().contains("/no/such/dir/bid.csv"), "{err}");
}

#[test]
fn json_lines_source() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.jsonl");
    let mut text = String::new();
    for i in 1..=100 {
        match i {
            17 => text.push_str("{\"id\": 17, \"price\": \"cheap\", \"name\": \"x\"}\n"),
            60 => text.push_str("{\"id\": 60, oops\n"),
            _ => writeln!(
                text,
                "{{\"id\": {i}, \"price\": {}, \"name\": \"n{i}\", \"date_time\": \"2015-07-15 00:00:01.{i:03}\", \"other\": [1]}}",
                i * 10
            )
            .unwrap(),
        }
    }
    std::fs::write(&path, text).unwrap();
    let f = JsonSourceFactory::new(
        &path,
        small_schema(),
        JsonOptions {
            on_error: OnError::SideOutput,
        },
    )
    .with_chunk_size(700)
    .with_projection(&["price", "date_time"])
    .unwrap();
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for i in 0..2 {
        let mut s = f.create(&ctx(i, 2, 8)).unwrap();
        let (b, e) = drain_one(s.as_mut()).unwrap();
        rows.extend(b);
        errors.extend(e);
    }
    let sorted = sorted_rows(&rows);
    assert_eq!(sorted.len(), 98);
    assert!(sorted.contains(&"1000|2015-07-15T00:00:01.100".to_string()));
    let mut found: Vec<(u64, Option<String>, String)> = errors
        .iter()
        .flat_map(|e| {
            (0..e.num_rows()).map(move |r| {
                let col = e.column(2).as_string::<i32>();
                (
                    e.column(1).as_primitive::<UInt64Type>().value(r),
                    col.is_valid(r).then(|| col.value(r).to_string()),
                    e.column(3).as_string::<i32>().value(r).to_string(),
                )
            })
        })
        .collect();
    found.sort();
    assert_eq!(found.len(), 2);
    assert_eq!(found[0].0, 17);
    assert_eq!(found[0].1.as_deref(), Some("price"));
    assert_eq!(found[0].2, "expected BIGINT (Int64), got \"cheap\"");
    assert_eq!((found[1].0, found[1].1.as_deref()), (60, None));
    assert!(found[1].2.starts_with("invalid JSON"), "{}", found[1].2);

    // Fail mode names the line.
    let strict = JsonSourceFactory::new(&path, small_schema(), JsonOptions::default());
    let err = drain(&strict, 1, 1000).err().unwrap();
    assert!(
        err.to_string().contains("t.jsonl line 17 column price"),
        "{err}"
    );
}

#[test]
fn json_sink_round_trips() {
    let dir = tempfile::tempdir().unwrap();
    let bids = NexmarkSource::bid(NexmarkConfig::bounded(3_000), None).unwrap();
    let batches = drain(&bids, 1, 1000).unwrap();
    let sink = JsonSinkFactory::new(dir.path());
    let mut parts = [sink.create(3, 4).unwrap()];
    for b in &batches {
        parts[0].write(b).unwrap();
    }
    finish_and_commit(&sink, &mut parts);
    let file = only_file(dir.path());
    assert!(file.to_string_lossy().ends_with("-3-0.json"), "{file:?}");
    let text = std::fs::read_to_string(file).unwrap();
    assert!(text
        .lines()
        .next()
        .unwrap()
        .contains("\"date_time\":\"2015-07-15 00:00:00"));
    let back = drain(
        &JsonSourceFactory::new(
            dir.path(),
            NexmarkTable::Bid.schema(),
            JsonOptions::default(),
        ),
        2,
        500,
    )
    .unwrap();
    assert_eq!(sorted_rows(&back), sorted_rows(&batches));
}

/// Decoding rate of the CSV source, release build:
/// `cargo test -p millstream-connectors --release -- --ignored --nocapture csv_throughput`.
/// Reads `$MILLSTREAM_BID_CSV`, else `/work/data/nx1m/bid.csv`, else writes 1M events of
/// bids with the generator into a temporary directory.
#[test]
#[ignore]
fn csv_throughput() {
    let tmp = tempfile::tempdir().unwrap();
    let path = std::env::var("MILLSTREAM_BID_CSV")
        .map(std::path::PathBuf::from)
        .ok()
        .filter(|p| p.exists())
        .or_else(|| Some(Path::new("/work/data/nx1m/bid.csv").to_path_buf()).filter(|p| p.exists()))
        .unwrap_or_else(|| {
            let bids = NexmarkSource::bid(NexmarkConfig::bounded(1_000_000), None).unwrap();
            let factory = CsvSinkFactory::new(tmp.path());
            let mut sinks = [factory.create(0, 1).unwrap()];
            for b in drain(&bids, 1, 16 * 1024).unwrap() {
                sinks[0].write(&b).unwrap();
            }
            finish_and_commit(&factory, &mut sinks);
            only_file(tmp.path())
        });
    let bytes = std::fs::metadata(&path).unwrap().len() as f64;
    let schema = nullable(&NexmarkTable::Bid.schema());
    let narrow = ["auction", "bidder", "price", "date_time"];
    let wide = ["auction", "bidder", "price", "date_time", "extra"];
    let all: Vec<String> = schema.fields().iter().map(|f| f.name().clone()).collect();
    let source = |columns: &[&str], how| {
        CsvSourceFactory::new(&path, schema.clone(), CsvOptions::default())
            .with_projection(columns)
            .unwrap()
            .with_simple_lines(how)
    };
    let all: Vec<&str> = all.iter().map(|s| s.as_str()).collect();
    let mut cases: Vec<(String, CsvSourceFactory, usize)> = Vec::new();
    for (name, columns) in [
        ("all columns", &all[..]),
        ("q14's auction,bidder,price,date_time,extra", &wide[..]),
        ("auction,bidder,price,date_time", &narrow[..]),
        ("bidder,date_time", &["bidder", "date_time"][..]),
    ] {
        for how in [SimpleLines::Split, SimpleLines::Compact, SimpleLines::Whole] {
            cases.push((
                format!("{name}, {how:?} lines, p=1"),
                source(columns, how),
                1,
            ));
        }
    }
    cases.push((
        "auction,bidder,price,date_time, arrow timestamps, p=1".into(),
        source(&narrow, SimpleLines::Split).with_fast_timestamps(false),
        1,
    ));
    cases.push((
        "auction,bidder,price,date_time, p=2 (2 threads)".into(),
        source(&narrow, SimpleLines::Split),
        2,
    ));
    for (what, f, p) in cases {
        let (mut best, mut best_cpu) = (f64::MAX, f64::MAX);
        let mut rows = 0;
        for _ in 0..3 {
            let start = Instant::now();
            let (n, cpu) = std::thread::scope(|scope| {
                let handles: Vec<_> = (0..p)
                    .map(|i| {
                        let f = &f;
                        scope.spawn(move || {
                            let cpu = crate::generator::thread_cpu_secs();
                            let mut s = f.create(&ctx(i, p, 16 * 1024)).unwrap();
                            let (b, _) = drain_one(s.as_mut()).unwrap();
                            let n = b.iter().map(|b| b.num_rows()).sum::<usize>();
                            (n, crate::generator::thread_cpu_secs() - cpu)
                        })
                    })
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().unwrap())
                    .fold((0, 0.0), |(n, c), (n2, c2)| (n + n2, c + c2))
            });
            rows = n;
            best = best.min(start.elapsed().as_secs_f64());
            best_cpu = best_cpu.min(cpu);
        }
        // At p=1 the decoding runs on this thread (I/O on the read-ahead thread): its CPU
        // time gives the decoder's rate per core.
        let per_cpu = if p == 1 {
            format!(
                ", decode {:.2} M rows/s per CPU second",
                rows as f64 / best_cpu / 1e6
            )
        } else {
            String::new()
        };
        println!(
            "csv {what}: {:.2} M rows/s, {:.0} MB/s wall{per_cpu} ({rows} rows, {:.0} MB, best of 3)",
            rows as f64 / best / 1e6,
            bytes / best / 1e6,
            bytes / 1e6
        );
    }
}

mod compaction {
    use proptest::prelude::*;

    use super::*;

    /// One CSV line of `small_schema` (sometimes with a field too few or too many, quotes,
    /// carriage returns or nothing at all) from a few telling values per column.
    fn line() -> impl Strategy<Value = String> {
        let int = || prop::sample::select(vec!["", "12", "-3", "x"]);
        let name = prop::sample::select(vec!["", "ab", "\"a,b\"", "é", "c\r"]);
        // Flink's layout; other layouts arrow reads (per value on the split path, per
        // column elsewhere); an impossible date; text.
        let ts = prop::sample::select(vec![
            "",
            "2015-07-15 00:00:00.000",
            "2015-07-15 00:00:00.000",
            "2015-07-15T01:02:03",
            "2015-07-15 01:02:03.5",
            "2015-02-30 00:00:00.000",
            "bad",
        ]);
        let row = (int(), int(), name, ts).prop_map(|(a, b, c, d)| format!("{a},{b},{c},{d}"));
        prop_oneof![
            8 => row,
            1 => (int(), int()).prop_map(|(a, b)| format!("{a},{b},n")),
            1 => (int(), int()).prop_map(|(a, b)| format!("{a},{b},n,,{a}")),
            1 => Just(String::new()),
        ]
    }

    /// Good rows and error rows of every subtask.
    fn read(f: &CsvSourceFactory, batch_size: usize) -> (Vec<RecordBatch>, Vec<RecordBatch>) {
        let (mut good, mut bad) = (Vec::new(), Vec::new());
        for i in 0..2 {
            let mut s = f.create(&ctx(i, 2, batch_size)).unwrap();
            let (g, b) = drain_one(s.as_mut()).unwrap();
            good.extend(g);
            bad.extend(b);
        }
        let good = arrow::compute::concat_batches(&f.schema(), &good).unwrap();
        (vec![good], bad)
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Reading split or compacted lines gives the rows and the error rows of reading
        /// whole lines.
        #[test]
        fn split_and_compacted_lines_read_as_whole_lines(
            lines in prop::collection::vec(line(), 0..40),
            projection in prop::sample::subsequence(vec!["id", "price", "name", "date_time"], 1..=4)
                .prop_shuffle(),
            batch_size in 1usize..9,
            chunk in 16usize..200,
        ) {
            let dir = tempfile::tempdir().unwrap();
            std::fs::write(dir.path().join("t.csv"), lines.join("\n")).unwrap();
            let options = CsvOptions { on_error: OnError::SideOutput, ..Default::default() };
            let source = |how, map| {
                CsvSourceFactory::new(dir.path(), small_schema(), options)
                    .with_projection(&projection)
                    .unwrap()
                    .with_chunk_size(chunk)
                    .with_memory_map(map)
                    .with_simple_lines(how)
            };
            // Whole lines from read buffers; the fast paths from maps (the default).
            let whole = read(&source(SimpleLines::Whole, false), batch_size);
            prop_assert_eq!(&read(&source(SimpleLines::Split, true), batch_size), &whole);
            prop_assert_eq!(&read(&source(SimpleLines::Compact, true), batch_size), &whole);
        }
    }
}
