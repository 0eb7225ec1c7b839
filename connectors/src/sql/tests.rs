use std::collections::{BTreeMap, HashSet};
use std::path::Path;
use std::time::Duration;

use arrow::array::{Array, AsArray, Int64Array, Int8Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Int32Type, Int64Type, TimeUnit};
use millstream_core::batch::BatchConfig;
use millstream_core::connector::{Sink, Source, SourceContext, SourcePoll};
use millstream_core::sql::{Column, SqlType, TableConnector};

use super::*;

fn table(name: &str, columns: &[(&str, SqlType)], options: &[(&str, &str)]) -> TableDef {
    TableDef {
        name: name.into(),
        columns: columns.iter().map(|(n, t)| Column::new(*n, *t)).collect(),
        watermark: None,
        primary_key: vec![],
        partitioned_by: vec![],
        options: options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<BTreeMap<_, _>>(),
    }
}

fn names(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| c.to_string()).collect()
}

fn ctx(subtask: usize, parallelism: usize, batch_size: usize) -> SourceContext {
    SourceContext {
        subtask,
        parallelism,
        batch: BatchConfig {
            batch_size,
            max_delay: Duration::from_millis(1),
        },
    }
}

fn drain_source(s: &mut dyn Source) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    loop {
        match s.poll().unwrap() {
            SourcePoll::Batch(b) => out.push(b),
            SourcePoll::Pending(d) => std::thread::sleep(d),
            SourcePoll::End => return out,
        }
    }
}

/// Every batch of every subtask of `f` at parallelism `p`, checking each batch's schema.
fn drain(f: &SourceFactoryRef, p: usize, batch_size: usize) -> Vec<RecordBatch> {
    let mut out = Vec::new();
    for i in 0..p {
        let mut s = f.create(&ctx(i, p, batch_size)).unwrap();
        for b in drain_source(s.as_mut()) {
            assert_eq!(b.schema(), f.schema());
            out.push(b);
        }
    }
    out
}

/// Rows as `a|b|c` text in the SQL client's spelling.
fn rows(batches: &[RecordBatch]) -> Vec<String> {
    let mut out = Vec::new();
    for b in batches {
        let fs: Vec<ValueFormatter<'_>> = b
            .columns()
            .iter()
            .map(|c| ValueFormatter::new(c.as_ref(), ValueStyle::Sql))
            .collect();
        for r in 0..b.num_rows() {
            let cells: Vec<String> = fs
                .iter()
                .map(|f| f.value(r).unwrap_or_else(|| "<NULL>".into()))
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

fn err_text<T>(r: Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

const DEC: SqlType = SqlType::Decimal {
    precision: 10,
    scale: 2,
};

fn bids_table(path: &Path, extra: &[(&str, &str)]) -> TableDef {
    let p = path.to_string_lossy().into_owned();
    let mut options = vec![
        ("connector", "filesystem"),
        ("path", p.as_str()),
        ("format", "csv"),
    ];
    options.extend_from_slice(extra);
    table(
        "bids",
        &[
            ("id", SqlType::BigInt),
            ("name", SqlType::STRING),
            ("price", DEC),
            ("ts", SqlType::Timestamp(3)),
        ],
        &options,
    )
}

#[test]
fn filesystem_csv_source_reads_the_projection_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bids.csv");
    std::fs::write(
        &file,
        "1,abc,12.50,2020-01-01 00:00:00.000\n2,\"x, y\",0.05,2020-01-01 00:00:01.500\n3,,7,\n",
    )
    .unwrap();
    let t = bids_table(&file, &[]);
    FileSystemConnector.validate(&t).unwrap();
    let source = FileSystemConnector
        .source(&t, &names(&["ts", "price", "id"]))
        .unwrap();
    let schema = source.schema();
    let fields: Vec<(&str, &DataType)> = schema
        .fields()
        .iter()
        .map(|f| (f.name().as_str(), f.data_type()))
        .collect();
    assert_eq!(
        fields,
        [
            ("ts", &DataType::Timestamp(TimeUnit::Millisecond, None)),
            ("price", &DataType::Decimal128(10, 2)),
            ("id", &DataType::Int64),
        ]
    );
    assert_eq!(
        rows(&drain(&source, 1, 1024)),
        [
            "2020-01-01 00:00:00.000|12.50|1",
            "2020-01-01 00:00:01.500|0.05|2",
            "<NULL>|7.00|3"
        ]
    );
    // A directory is read whole, and a strings column keeps its quoted comma.
    let all = FileSystemConnector
        .source(&bids_table(dir.path(), &[]), &names(&["name"]))
        .unwrap();
    assert_eq!(rows(&drain(&all, 2, 1024)), ["abc", "x, y", "<NULL>"]);
}

#[test]
fn filesystem_parse_errors_fail_or_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bids.txt");
    std::fs::write(&file, "1|a|1.00|\nx|b|2.00|\n3|c|3.00|\n").unwrap();
    let strict = bids_table(&file, &[("csv.field-delimiter", "|")]);
    let source = FileSystemConnector
        .source(&strict, &names(&["id"]))
        .unwrap();
    let mut s = source.create(&ctx(0, 1, 1024)).unwrap();
    let err = loop {
        match s.poll() {
            Ok(SourcePoll::End) => panic!("the bad row was accepted"),
            Ok(_) => {}
            Err(e) => break e.to_string(),
        }
    };
    assert!(err.contains("bids.txt") && err.contains("line 2"), "{err}");

    let lenient = bids_table(
        &file,
        &[
            ("csv.field-delimiter", "|"),
            ("csv.ignore-parse-errors", "true"),
        ],
    );
    let source = FileSystemConnector
        .source(&lenient, &names(&["id", "name"]))
        .unwrap();
    assert_eq!(rows(&drain(&source, 1, 1024)), ["1|a", "3|c"]);

    let json = dir.path().join("rows.json");
    std::fs::write(
        &json,
        "{\"id\": 1, \"name\": \"a\"}\n{\"id\": \"oops\"}\n{\"id\": 3, \"name\": null, \"other\": 1}\n",
    )
    .unwrap();
    let p = json.to_string_lossy().into_owned();
    let t = table(
        "j",
        &[("id", SqlType::BigInt), ("name", SqlType::STRING)],
        &[
            ("connector", "filesystem"),
            ("path", &p),
            ("format", "json"),
            ("json.ignore-parse-errors", "true"),
        ],
    );
    let source = FileSystemConnector
        .source(&t, &names(&["name", "id"]))
        .unwrap();
    assert_eq!(rows(&drain(&source, 1, 1024)), ["a|1", "<NULL>|3"]);
}

#[test]
fn filesystem_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.csv");
    let e = err_text(FileSystemConnector.source(&bids_table(&missing, &[]), &names(&["id"])));
    assert!(
        e.contains("nope.csv") && e.contains("does not exist"),
        "{e}"
    );

    let e = err_text(
        FileSystemConnector.validate(&bids_table(&missing, &[("csv.quote-character", "'")])),
    );
    assert!(
        e.contains("'csv.quote-character'") && e.contains("supported options: path, format"),
        "{e}"
    );
    let e = err_text(FileSystemConnector.validate(&bids_table(&missing, &[("format", "avro")])));
    // `extra` options come after the defaults, so the map holds the later 'format'.
    assert!(
        e.contains("unsupported") && e.contains("'format'") && e.contains("avro"),
        "{e}"
    );
    for format in ["parquet", "debezium-json", "JSON"] {
        assert!(FileSystemConnector
            .validate(&bids_table(&missing, &[("format", format)]))
            .is_ok());
    }
    let e = err_text(FileSystemConnector.validate(&bids_table(
        &missing,
        &[("format", "parquet"), ("json.ignore-parse-errors", "true")],
    )));
    assert!(e.contains("needs 'format' = 'json'"), "{e}");
    let e = err_text(FileSystemConnector.validate(&bids_table(&missing, &[("format", "xml")])));
    assert!(e.contains("unknown value 'xml' for option 'format'"), "{e}");
    let e = err_text(
        FileSystemConnector.validate(&bids_table(&missing, &[("csv.field-delimiter", ";;")])),
    );
    assert!(e.contains("single ASCII character"), "{e}");
    let e = err_text(
        FileSystemConnector.validate(&bids_table(&missing, &[("csv.ignore-parse-errors", "yes")])),
    );
    assert!(e.contains("'true' or 'false'"), "{e}");
    let e = err_text(FileSystemConnector.validate(&table(
        "t",
        &[("id", SqlType::BigInt)],
        &[("connector", "filesystem"), ("format", "csv")],
    )));
    assert!(e.contains("missing required option 'path'"), "{e}");
    let e = err_text(FileSystemConnector.validate(&bids_table(
        &missing,
        &[("format", "json"), ("csv.field-delimiter", ";")],
    )));
    assert!(e.contains("needs 'format' = 'csv'"), "{e}");
    assert!(FileSystemConnector
        .validate(&bids_table(&missing, &[("csv.field-delimiter", "\\t")]))
        .is_ok());
}

/// The text of every visible file under `dir`, sorted by name.
fn visible(dir: &Path) -> (Vec<String>, String) {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    let shown: Vec<String> = names.into_iter().filter(|n| !n.starts_with('.')).collect();
    let text = shown
        .iter()
        .map(|n| std::fs::read_to_string(dir.join(n)).unwrap())
        .collect();
    (shown, text)
}

#[test]
fn filesystem_sink_writes_part_files_visible_after_commit() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("out");
    let t = bids_table(&out, &[]);
    let factory = FileSystemConnector.sink(&t).unwrap();
    let source_file = dir.path().join("in.csv");
    std::fs::write(
        &source_file,
        "1,abc,12.5,2020-01-01 00:00:00\n2,\"q\"\"uote\",-0.05,2020-01-01 00:00:01.500\n",
    )
    .unwrap();
    let input = FileSystemConnector
        .source(
            &bids_table(&source_file, &[]),
            &names(&["id", "name", "price", "ts"]),
        )
        .unwrap();
    let batches = drain(&input, 1, 1024);
    let mut sinks: Vec<Box<dyn Sink>> = (0..2).map(|i| factory.create(i, 2).unwrap()).collect();
    sinks[0].write(&batches[0].slice(0, 1)).unwrap();
    sinks[1].write(&batches[0].slice(1, 1)).unwrap();
    let mut committables = Vec::new();
    for s in &mut sinks {
        s.finish().unwrap();
        committables.extend(s.prepare_commit(u64::MAX).unwrap());
    }
    assert_eq!(committables.len(), 2);
    assert_eq!(
        visible(&out),
        (vec![], String::new()),
        "nothing visible before the commit"
    );
    factory.commit(u64::MAX, &committables).unwrap();
    let (files, text) = visible(&out);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(files.iter().all(|f| f.ends_with(".csv")), "{files:?}");
    let mut lines: Vec<&str> = text.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "1,abc,12.50,2020-01-01 00:00:00.000",
            "2,\"q\"\"uote\",-0.05,2020-01-01 00:00:01.500"
        ]
    );
    // The sink's directory may not be a file.
    let e = err_text(FileSystemConnector.sink(&bids_table(&source_file, &[])));
    assert!(e.contains("is a file"), "{e}");
}

fn nexmark_table(name: &str, columns: &[(&str, SqlType)], options: &[(&str, &str)]) -> TableDef {
    let mut o = vec![("connector", "nexmark")];
    o.extend_from_slice(options);
    table(name, columns, &o)
}

#[test]
fn nexmark_tables_are_inferred_projected_and_bounded() {
    let bid = nexmark_table(
        "b",
        &[
            ("auction", SqlType::BigInt),
            ("bidder", SqlType::BigInt),
            ("price", SqlType::BigInt),
            ("date_time", SqlType::Timestamp(3)),
        ],
        &[("events.num", "1000"), ("first-event.rate", "1000")],
    );
    assert!(NexmarkConnector.is_bounded(&bid));
    let source = NexmarkConnector
        .source(&bid, &names(&["date_time", "price"]))
        .unwrap();
    let schema = source.schema();
    assert_eq!(schema.field(0).name(), "date_time");
    assert!(
        schema.field(0).is_nullable(),
        "the table's columns are nullable"
    );
    let batches = drain(&source, 2, 100);
    assert_eq!(
        batches.iter().map(RecordBatch::num_rows).sum::<usize>(),
        920
    );
    // 1000 events per second of event time: 1000 events span about a second.
    let times: Vec<i64> = batches
        .iter()
        .flat_map(|b| {
            b.column(0)
                .as_primitive::<arrow::datatypes::TimestampMillisecondType>()
                .values()
                .to_vec()
        })
        .collect();
    let span = times.iter().max().unwrap() - times.iter().min().unwrap();
    assert!((900..=3100).contains(&span), "span {span} ms");

    let person = nexmark_table(
        "p",
        &[("emailAddress", SqlType::STRING), ("id", SqlType::BigInt)],
        &[("events.num", "500")],
    );
    let source = NexmarkConnector.source(&person, &names(&["id"])).unwrap();
    assert_eq!(drain(&source, 1, 1000)[0].num_rows(), 10);
    let auction = nexmark_table(
        "auction",
        &[("id", SqlType::BigInt)],
        &[("events.num", "50")],
    );
    let source = NexmarkConnector.source(&auction, &names(&["id"])).unwrap();
    assert_eq!(
        drain(&source, 1, 1000)[0].num_rows(),
        3,
        "inferred from the name"
    );
    assert!(!NexmarkConnector.is_bounded(&nexmark_table("bid", &[], &[])));
}

#[test]
fn nexmark_columns_and_options_are_checked() {
    let bad_col = nexmark_table(
        "b",
        &[("bidder", SqlType::BigInt), ("tip", SqlType::BigInt)],
        &[],
    );
    let e = err_text(NexmarkConnector.validate(&bad_col));
    assert!(e.contains("'tip'") && e.contains("bid table"), "{e}");
    let bad_type = nexmark_table("b", &[("bidder", SqlType::Int)], &[]);
    let e = err_text(NexmarkConnector.validate(&bad_type));
    assert!(
        e.contains("'bidder'") && e.contains("INT") && e.contains("BIGINT"),
        "{e}"
    );
    let unknown = nexmark_table("x", &[("id", SqlType::BigInt)], &[]);
    assert!(err_text(NexmarkConnector.validate(&unknown)).contains("set option 'table'"));
    let explicit = nexmark_table("x", &[("id", SqlType::BigInt)], &[("table", "person")]);
    NexmarkConnector.validate(&explicit).unwrap();
    let e = err_text(NexmarkConnector.validate(&nexmark_table(
        "x",
        &[("id", SqlType::BigInt)],
        &[("table", "person"), ("next-event.rate", "5")],
    )));
    assert!(
        e.contains("'next-event.rate'") && e.contains("events.num"),
        "{e}"
    );
    let e = err_text(NexmarkConnector.validate(&nexmark_table(
        "x",
        &[("id", SqlType::BigInt)],
        &[("table", "person"), ("events.num", "-3")],
    )));
    assert!(
        e.contains("'events.num'") && e.contains("non-negative integer"),
        "{e}"
    );
    let e = err_text(NexmarkConnector.sink(&explicit));
    assert!(e.contains("nexmark is a source"), "{e}");
}

/// Options of a bounded, unthrottled datagen table.
fn datagen(columns: &[(&str, SqlType)], options: &[(&str, &str)]) -> TableDef {
    let mut o = vec![("connector", "datagen"), ("rows-per-second", "100000000")];
    o.extend_from_slice(options);
    table("g", columns, &o)
}

#[test]
fn datagen_is_deterministic_and_independent_of_parallelism() {
    let cols = [
        ("b", SqlType::Boolean),
        ("i", SqlType::Int),
        ("d", SqlType::Double),
        ("m", DEC),
        ("s", SqlType::Varchar(8)),
        ("day", SqlType::Date),
    ];
    let t = datagen(&cols, &[("number-of-rows", "1000")]);
    assert!(DataGenConnector.is_bounded(&t));
    let all = names(&["b", "i", "d", "m", "s", "day"]);
    let source = DataGenConnector.source(&t, &all).unwrap();
    let one = rows(&drain(&source, 1, 64));
    assert_eq!(one.len(), 1000);
    let again = rows(&drain(&DataGenConnector.source(&t, &all).unwrap(), 1, 64));
    assert_eq!(one, again, "same seed, same rows");
    let mut par = rows(&drain(&source, 3, 64));
    let mut sorted = one.clone();
    par.sort();
    sorted.sort();
    assert_eq!(par, sorted, "parallel subtasks split the rows");
    let distinct: HashSet<&String> = one.iter().collect();
    assert!(distinct.len() > 990, "random rows");
    // A column's values do not depend on the projection.
    let only_i = rows(&drain(
        &DataGenConnector.source(&t, &names(&["i"])).unwrap(),
        1,
        64,
    ));
    let i_of_all: Vec<String> = one
        .iter()
        .map(|r| r.split('|').nth(1).unwrap().to_string())
        .collect();
    assert_eq!(only_i, i_of_all);
    let other_seed = datagen(&cols, &[("number-of-rows", "1000"), ("seed", "7")]);
    let other = rows(&drain(
        &DataGenConnector.source(&other_seed, &all).unwrap(),
        1,
        64,
    ));
    assert_ne!(one, other);
    // Strings are hex of the declared length (shorter than the default 100).
    assert!(one.iter().all(|r| {
        let s = r.split('|').nth(4).unwrap();
        s.len() == 8 && s.bytes().all(|b| b.is_ascii_hexdigit())
    }));
}

#[test]
fn datagen_respects_bounds_sequences_and_nulls() {
    let t = datagen(
        &[
            ("id", SqlType::BigInt),
            ("v", SqlType::Int),
            ("name", SqlType::STRING),
            ("ts", SqlType::Timestamp(3)),
            ("price", DEC),
        ],
        &[
            ("fields.id.kind", "sequence"),
            ("fields.id.start", "10"),
            ("fields.id.end", "109"),
            ("fields.v.min", "-3"),
            ("fields.v.max", "3"),
            ("fields.v.null-rate", "0.5"),
            ("fields.name.length", "5"),
            ("fields.name.var-len", "true"),
            ("fields.ts.max-past", "10s"),
            ("fields.price.kind", "sequence"),
            ("fields.price.start", "1"),
            ("fields.price.end", "1000"),
        ],
    );
    assert!(DataGenConnector.is_bounded(&t), "sequences end");
    let source = DataGenConnector
        .source(&t, &names(&["id", "v", "name", "ts", "price"]))
        .unwrap();
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let batches = drain(&source, 3, 16);
    let mut ids = Vec::new();
    let mut nulls = 0;
    for b in &batches {
        let id = b.column(0).as_primitive::<Int64Type>();
        let v = b.column(1).as_primitive::<Int32Type>();
        let name = b.column(2).as_string::<i32>();
        let ts = b
            .column(3)
            .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
        let price = b
            .column(4)
            .as_primitive::<arrow::datatypes::Decimal128Type>();
        for r in 0..b.num_rows() {
            ids.push(id.value(r));
            // The price sequence advances with the id sequence, one unit (100 unscaled) a row.
            assert_eq!(price.value(r), (id.value(r) - 9) as i128 * 100);
            if v.is_null(r) {
                nulls += 1;
            } else {
                assert!((-3..=3).contains(&v.value(r)));
            }
            assert!((1..=5).contains(&name.value(r).len()));
            assert!(ts.value(r) >= before - 10_000 && ts.value(r) <= before + 60_000);
        }
    }
    ids.sort_unstable();
    assert_eq!(
        ids,
        (10..=109).collect::<Vec<i64>>(),
        "each sequence value once"
    );
    assert!((20..=80).contains(&nulls), "{nulls} nulls of 100");
    // Unbounded without a row count or a sequence.
    assert!(!DataGenConnector.is_bounded(&datagen(&[("v", SqlType::Int)], &[])));
}

#[test]
fn datagen_resumes_from_a_checkpointed_position() {
    let t = datagen(&[("v", SqlType::BigInt)], &[("number-of-rows", "500")]);
    let source = DataGenConnector.source(&t, &names(&["v"])).unwrap();
    let expected = rows(&drain(&source, 1, 32));
    // Two subtasks each produce a batch, checkpoint, and fail; three resume.
    let mut seen = Vec::new();
    let mut positions = Vec::new();
    for i in 0..2 {
        let mut s = source.create(&ctx(i, 2, 32)).unwrap();
        if let SourcePoll::Batch(b) = s.poll().unwrap() {
            seen.extend(rows(&[b]));
        }
        positions.push(s.snapshot_position().unwrap());
        let _ = s.poll().unwrap(); // produced after the checkpoint: lost with the failure
    }
    for i in 0..3 {
        let mut s = source.restore(&ctx(i, 3, 32), &positions).unwrap();
        seen.extend(rows(&drain_source(s.as_mut())));
    }
    let mut expected_sorted = expected;
    expected_sorted.sort();
    seen.sort();
    assert_eq!(seen, expected_sorted, "every row once after the restore");
}

#[test]
fn datagen_options_are_checked() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[("fields.x.min", "1")], "column 'x'"),
        (&[("fields.v.size", "1")], "'fields.v.size'"),
        (&[("fields.v.kind", "zipf")], "'random' or 'sequence'"),
        (
            &[("fields.v.kind", "sequence"), ("fields.v.start", "1")],
            "needs option 'fields.v.end'",
        ),
        (
            &[
                ("fields.v.kind", "sequence"),
                ("fields.v.start", "5"),
                ("fields.v.end", "1"),
            ],
            "end is below its start",
        ),
        (&[("fields.v.min", "abc")], "not a value of INT"),
        (
            &[("fields.v.min", "5"), ("fields.v.max", "1")],
            "'min' is above 'max'",
        ),
        (&[("fields.v.max", "3000000000")], "not a value of INT"),
        (&[("fields.v.length", "3")], "does not apply"),
        (&[("rows-per-second", "0")], "must be positive"),
        (&[("fields.v.null-rate", "2")], "a number in [0, 1]"),
    ];
    for (options, want) in cases {
        let e = err_text(DataGenConnector.validate(&datagen(&[("v", SqlType::Int)], options)));
        assert!(e.contains(want), "{options:?}: {e}");
    }
    let e = err_text(DataGenConnector.validate(&datagen(&[("v", SqlType::Interval)], &[])));
    assert!(e.contains("cannot generate column 'v'"), "{e}");
    assert!(err_text(DataGenConnector.sink(&datagen(&[], &[]))).contains("datagen is a source"));
}

#[test]
fn print_lines_follow_flink_with_kinds_and_prefixes() {
    let batch = RecordBatch::try_from_iter([
        (
            "id",
            std::sync::Arc::new(Int64Array::from(vec![1, 1, 1])) as _,
        ),
        (
            "s",
            std::sync::Arc::new(StringArray::from(vec![Some("a"), Some("a"), None])) as _,
        ),
        (
            "op",
            std::sync::Arc::new(Int8Array::from(vec![0, 1, 2])) as _,
        ),
    ])
    .unwrap();
    assert_eq!(
        PrintConnector::format_batch(&batch, 2, "id:2> "),
        "id:2> +I[1, a]\nid:2> -U[1, a]\nid:2> +U[1, null]\n"
    );
    assert_eq!(
        PrintConnector::format_batch(&batch, 3, ""),
        "+I[1, a, 0]\n+I[1, a, 1]\n+I[1, null, 2]\n",
        "no kinds column beyond the table's"
    );
    let t = table("p", &[("id", SqlType::BigInt)], &[("connector", "print")]);
    assert!(PrintConnector.accepts_updates() && BlackholeConnector.accepts_updates());
    PrintConnector.sink(&t).unwrap();
    let bad = table(
        "p",
        &[],
        &[("connector", "print"), ("sink.parallelism", "2")],
    );
    assert!(err_text(PrintConnector.validate(&bad)).contains("print-identifier, standard-error"));
    let bh = table("b", &[], &[("connector", "blackhole"), ("x", "1")]);
    assert!(err_text(BlackholeConnector.validate(&bh)).contains("supported options: none"));
    assert!(err_text(PrintConnector.source(&t, &[])).contains("print is a sink"));
}

#[test]
fn the_default_registry_knows_every_connector() {
    let r = default_registry();
    for name in ["filesystem", "nexmark", "datagen", "print", "blackhole"] {
        let t = table("t", &[], &[("connector", name)]);
        assert!(r.for_table(&t).is_ok(), "{name}");
    }
    let t = table("t", &[], &[("connector", "kafka")]);
    let e = err_text(r.for_table(&t));
    assert!(
        e.contains("blackhole, datagen, filesystem, nexmark, print"),
        "{e}"
    );
}
