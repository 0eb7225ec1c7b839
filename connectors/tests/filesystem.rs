//! The SQL `filesystem` connector end to end for Parquet, debezium-json and json: written
//! through the two-phase-commit sinks and read back through the sources, as
//! `CREATE TABLE ... WITH ('connector' = 'filesystem', ...)` would.

mod support;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{
    ArrayRef, BooleanArray, Date32Array, Decimal128Array, Float32Array, Float64Array, Int16Array,
    Int32Array, Int64Array, Int8Array, RecordBatch, StringArray, TimestampMillisecondArray,
};
use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use millstream_connectors::file::{DebeziumJsonSourceFactory, JsonOptions, ParquetSourceFactory};
use millstream_connectors::sql::FileSystemConnector;
use millstream_core::connector::{SourceFactory, SourcePoll};
use millstream_core::sql::{SqlType, TableConnector};

use support::*;

fn all_types() -> Vec<(&'static str, SqlType)> {
    vec![
        ("b", SqlType::BigInt),
        ("i", SqlType::Int),
        ("s", SqlType::SmallInt),
        ("t", SqlType::TinyInt),
        ("d", SqlType::Double),
        ("f", SqlType::Float),
        ("m", DEC),
        ("v", SqlType::STRING),
        ("ok", SqlType::Boolean),
        ("ts", SqlType::Timestamp(3)),
        ("ltz", SqlType::TimestampLtz(3)),
        ("day", SqlType::Date),
    ]
}

/// Three rows of every type of [`all_types`], the last all NULL, starting at `k`.
fn all_types_batch(k: i64) -> RecordBatch {
    let arrays: Vec<ArrayRef> = vec![
        Arc::new(Int64Array::from(vec![
            Some(k),
            Some(-k * 1_000_000_000_000),
            None,
        ])),
        Arc::new(Int32Array::from(vec![Some(k as i32), Some(i32::MIN), None])),
        Arc::new(Int16Array::from(vec![Some(7), Some(-7), None])),
        Arc::new(Int8Array::from(vec![Some(1), Some(-128), None])),
        Arc::new(Float64Array::from(vec![Some(1.5), Some(9.08e7), None])),
        Arc::new(Float32Array::from(vec![Some(0.1), Some(-3.0), None])),
        Arc::new(
            Decimal128Array::from(vec![Some(1250 + k as i128), Some(-5), None])
                .with_precision_and_scale(10, 2)
                .unwrap(),
        ),
        Arc::new(StringArray::from(vec![
            Some(format!("row {k}")),
            Some("ü, \"q\"\n".into()),
            None,
        ])),
        Arc::new(BooleanArray::from(vec![Some(true), Some(false), None])),
        Arc::new(TimestampMillisecondArray::from(vec![
            Some(1_577_836_800_000 + k),
            Some(-1),
            None,
        ])),
        Arc::new(
            TimestampMillisecondArray::from(vec![Some(1_577_836_801_500), Some(0), None])
                .with_timezone("UTC"),
        ),
        Arc::new(Date32Array::from(vec![Some(18_262), Some(-1), None])),
    ];
    let t = fs_table(Path::new("/"), "parquet", &all_types(), &[]);
    RecordBatch::try_new(t.arrow_schema(), arrays).unwrap()
}

#[test]
fn parquet_round_trips_every_sql_type_with_nulls() {
    let dir = tempfile::tempdir().unwrap();
    let t = fs_table(dir.path(), "parquet", &all_types(), &[]);
    FileSystemConnector.validate(&t).unwrap();
    let sink = FileSystemConnector.sink(&t).unwrap();
    let batches: Vec<RecordBatch> = (1..=4).map(all_types_batch).collect();
    write_all(&sink, 2, &batches);
    let written = files(dir.path(), true);
    assert_eq!(
        written.len(),
        2,
        "one parquet file per subtask: {written:?}"
    );
    assert!(
        written
            .iter()
            .all(|f| f.starts_with("c") && f.contains("-part-") && f.ends_with(".parquet")),
        "{written:?}"
    );
    let cols: Vec<String> = all_types().iter().map(|(n, _)| n.to_string()).collect();
    let source = FileSystemConnector.source(&t, &cols).unwrap();
    assert_eq!(source.schema(), t.arrow_schema());
    let back = drain(source.as_ref(), 3, 2).unwrap();
    assert_eq!(rows(&back), rows(&batches));
    assert!(rows(&back).contains(
        &"1|1|7|1|1.5|0.1|12.51|row 1|TRUE|2020-01-01 00:00:00.001|2020-01-01 00:00:01.500|2020-01-01"
            .to_string()
    ));
    assert_eq!(
        rows(&back)
            .iter()
            .filter(|r| r.split('|').all(|c| c == "<NULL>"))
            .count(),
        4,
        "the all-NULL rows"
    );
}

#[test]
fn parquet_projection_reads_only_the_projected_columns() {
    let dir = tempfile::tempdir().unwrap();
    let cols = [
        ("a", SqlType::BigInt),
        ("b", SqlType::STRING),
        ("c", SqlType::Double),
    ];
    let t = fs_table(dir.path(), "parquet", &cols, &[]);
    let batch = RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(vec![1, 2])),
            Arc::new(StringArray::from(vec!["x", "y"])),
            Arc::new(Float64Array::from(vec![0.5, 1.5])),
        ],
    )
    .unwrap();
    write_all(&FileSystemConnector.sink(&t).unwrap(), 1, &[batch]);
    let source = FileSystemConnector.source(&t, &names(&["c", "a"])).unwrap();
    let fields: Vec<String> = source
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(fields, ["c", "a"]);
    let back = drain(source.as_ref(), 1, 10).unwrap();
    assert_eq!(back[0].num_columns(), 2);
    assert_eq!(rows(&back), ["0.5|1", "1.5|2"]);
    // A table that declares `b` with another type: reading `b` fails, but a projection
    // without it never looks at `b`'s data.
    let retyped = fs_table(
        dir.path(),
        "parquet",
        &[
            ("a", SqlType::BigInt),
            ("b", SqlType::BigInt),
            ("c", SqlType::Double),
        ],
        &[],
    );
    let fine = FileSystemConnector
        .source(&retyped, &names(&["a"]))
        .unwrap();
    assert_eq!(rows(&drain(fine.as_ref(), 1, 10).unwrap()), ["1", "2"]);
    let with_b = FileSystemConnector
        .source(&retyped, &names(&["a", "b"]))
        .unwrap();
    let e = err_text(drain(with_b.as_ref(), 1, 10));
    assert!(
        e.contains(".parquet")
            && e.contains("column b")
            && e.contains("expected BIGINT")
            && e.contains("the file has VARCHAR"),
        "{e}"
    );
}

/// A Parquet file of `n` rows `(id, name)` from `first`, in row groups of `group` rows.
fn write_parquet(path: &Path, first: i64, n: i64, group: usize) {
    let schema = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]));
    let props = parquet::file::properties::WriterProperties::builder()
        .set_max_row_group_row_count(Some(group))
        .build();
    let mut w = parquet::arrow::ArrowWriter::try_new(
        std::fs::File::create(path).unwrap(),
        schema.clone(),
        Some(props),
    )
    .unwrap();
    let ids: Vec<i64> = (first..first + n).collect();
    let batch = RecordBatch::try_new(
        schema,
        vec![
            Arc::new(Int64Array::from(ids.clone())),
            Arc::new(StringArray::from(
                ids.iter().map(|i| format!("n{i}")).collect::<Vec<_>>(),
            )),
        ],
    )
    .unwrap();
    w.write(&batch).unwrap();
    w.close().unwrap();
}

fn id_name_schema() -> arrow::datatypes::SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
    ]))
}

#[test]
fn parquet_row_groups_are_shared_among_subtasks() {
    let dir = tempfile::tempdir().unwrap();
    write_parquet(&dir.path().join("a.parquet"), 0, 100, 10);
    write_parquet(&dir.path().join("b.parquet"), 1000, 25, 10);
    let f = ParquetSourceFactory::new(dir.path(), id_name_schema());
    let mut all = Vec::new();
    for i in 0..3 {
        let got = drain_one(f.create(&ctx(i, 3, 4)).unwrap().as_mut()).unwrap();
        let n: usize = got.iter().map(|b| b.num_rows()).sum();
        // 13 row groups: subtask 0 gets 5, the others 4; a.parquet's hold 10 rows each.
        assert!((35..=50).contains(&n), "subtask {i} read {n} rows");
        assert!(got.iter().all(|b| b.num_rows() <= 4));
        all.extend(got);
    }
    let mut want: Vec<String> = (0..100)
        .chain(1000..1025)
        .map(|i| format!("{i}|n{i}"))
        .collect();
    want.sort();
    assert_eq!(rows(&all), want);
}

#[test]
fn parquet_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.parquet");
    let t = fs_table(&missing, "parquet", &[("id", SqlType::BigInt)], &[]);
    let e = err_text(FileSystemConnector.source(&t, &names(&["id"])));
    assert!(
        e.contains("nope.parquet") && e.contains("does not exist"),
        "{e}"
    );
    let e = err_text(ParquetSourceFactory::new(&missing, id_name_schema()).create(&ctx(0, 1, 10)));
    assert!(
        e.contains("nope.parquet") && e.contains("cannot open"),
        "{e}"
    );

    let text = dir.path().join("text.parquet");
    std::fs::write(&text, "id,name\n1,a\n").unwrap();
    let e = err_text(ParquetSourceFactory::new(&text, id_name_schema()).create(&ctx(0, 1, 10)));
    assert!(
        e.contains("text.parquet") && e.contains("not a readable Parquet file"),
        "{e}"
    );

    let good = dir.path().join("good.parquet");
    write_parquet(&good, 0, 3, 10);
    let wider = Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("price", DataType::Decimal128(10, 2), true),
    ]));
    let e = err_text(ParquetSourceFactory::new(&good, wider).create(&ctx(0, 1, 10)));
    assert!(
        e.contains("good.parquet")
            && e.contains("has no column 'price' (DECIMAL(10, 2))")
            && e.contains("its columns are: id BIGINT, name VARCHAR"),
        "{e}"
    );
    let retyped = Arc::new(Schema::new(vec![Field::new("id", DataType::Int32, true)]));
    let e = err_text(ParquetSourceFactory::new(&good, retyped).create(&ctx(0, 1, 10)));
    assert!(
        e.contains("good.parquet column id")
            && e.contains("expected INT (Int32), the file has BIGINT"),
        "{e}"
    );
    // Positions of another source, or of a file that changed, are refused.
    let f = ParquetSourceFactory::new(&good, id_name_schema());
    let mut s = f.create(&ctx(0, 1, 1)).unwrap();
    assert!(matches!(s.poll().unwrap(), SourcePoll::Batch(_)));
    let pos = s.snapshot_position().unwrap();
    write_parquet(&good, 0, 4, 10);
    let e = err_text(f.restore(&ctx(0, 1, 1), &[pos]));
    assert!(e.contains("changed since the checkpoint"), "{e}");
    let e = err_text(f.restore(
        &ctx(0, 1, 1),
        &[br#"{"source":"csv source","files":[],"ranges":[]}"#.to_vec()],
    ));
    assert!(e.contains("cannot resume"), "{e}");
}

fn kinds_batch() -> RecordBatch {
    RecordBatch::try_from_iter([
        (
            "k",
            Arc::new(StringArray::from(vec![
                Some("a"),
                Some("a"),
                Some("a"),
                Some("b\"q"),
            ])) as ArrayRef,
        ),
        ("cnt", Arc::new(Int64Array::from(vec![1, 1, 2, 1])) as _),
        (
            "s",
            Arc::new(
                Decimal128Array::from(vec![Some(150), Some(150), Some(375), Some(5)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ) as _,
        ),
        (
            "mx",
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_577_836_801_500),
                Some(1_577_836_801_500),
                Some(1_577_836_802_000),
                None,
            ])) as _,
        ),
        (
            "d",
            Arc::new(Float64Array::from(vec![1.5, 1.5, 9.08e7, 1e-4])) as _,
        ),
        ("$op", Arc::new(Int8Array::from(vec![0, 1, 2, 3])) as _),
    ])
    .unwrap()
}

#[test]
fn debezium_json_writes_a_line_per_row_kind_as_flink() {
    let dir = tempfile::tempdir().unwrap();
    let cols = [
        ("k", SqlType::STRING),
        ("cnt", SqlType::BigInt),
        ("s", DEC),
        ("mx", SqlType::Timestamp(3)),
        ("d", SqlType::Double),
    ];
    let t = fs_table(dir.path(), "debezium-json", &cols, &[]);
    FileSystemConnector.validate(&t).unwrap();
    assert!(FileSystemConnector.accepts_updates_for(&t));
    for format in ["csv", "json", "parquet"] {
        assert!(!FileSystemConnector.accepts_updates_for(&fs_table(
            dir.path(),
            format,
            &cols,
            &[]
        )));
    }
    let sink = FileSystemConnector.sink(&t).unwrap();
    let batch = kinds_batch();
    // An insert-only stream has no `$op` column: every row is a "c".
    let inserts = batch.project(&[0, 1, 2, 3, 4]).unwrap().slice(3, 1);
    write_all(&sink, 1, &[batch, inserts]);
    let written = files(dir.path(), true);
    assert_eq!(written.len(), 1, "{written:?}");
    assert!(written[0].ends_with(".json"), "{written:?}");
    let text = std::fs::read_to_string(dir.path().join(&written[0])).unwrap();
    // +I, -U, +U, -D: the lines Flink 2.3's debezium-json sink wrote for the same changes
    // (`-D` spelled as its `-U`).
    assert_eq!(
        text,
        r#"{"before":null,"after":{"k":"a","cnt":1,"s":1.5,"mx":"2020-01-01 00:00:01.5","d":1.5},"op":"c"}
{"before":{"k":"a","cnt":1,"s":1.5,"mx":"2020-01-01 00:00:01.5","d":1.5},"after":null,"op":"d"}
{"before":null,"after":{"k":"a","cnt":2,"s":3.75,"mx":"2020-01-01 00:00:02","d":9.08E7},"op":"c"}
{"before":{"k":"b\"q","cnt":1,"s":0.05,"mx":null,"d":1.0E-4},"after":null,"op":"d"}
{"before":null,"after":{"k":"b\"q","cnt":1,"s":0.05,"mx":null,"d":1.0E-4},"op":"c"}
"#
    );
    // SQL reads of a changelog table are refused with the reason.
    let e = err_text(FileSystemConnector.source(&t, &names(&["k"])));
    assert!(
        e.contains("debezium-json") && e.contains("insert-only"),
        "{e}"
    );
}

#[test]
fn debezium_json_source_reads_flinks_changes() {
    let dir = tempfile::tempdir().unwrap();
    // Flink's output for a grouped count, and Debezium's own `u` and `r` changes.
    std::fs::write(
        dir.path().join("changes.json"),
        r#"{"before":null,"after":{"k":"a","cnt":1,"s":1.5,"mx":"2020-01-01 00:00:01.5"},"op":"c"}
{"before":{"k":"a","cnt":1,"s":1.5,"mx":"2020-01-01 00:00:01.5"},"after":null,"op":"d"}

{"before":{"k":"z","cnt":1,"s":1,"mx":null},"after":{"k":"z","cnt":2,"s":2,"mx":"2020-01-01 00:00:00"},"op":"u","source":{"db":"x"}}
{"before":null,"after":{"k":"r","cnt":7,"s":7.1,"mx":"2020-01-01 00:00:00.5"},"op":"r"}
"#,
    )
    .unwrap();
    let schema = Arc::new(Schema::new(vec![
        Field::new("k", DataType::Utf8, true),
        Field::new("cnt", DataType::Int64, true),
        Field::new("s", DataType::Decimal128(10, 2), true),
        Field::new("mx", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]));
    let f = DebeziumJsonSourceFactory::new(dir.path(), schema.clone(), JsonOptions::default())
        .with_projection(&["mx", "k", "s"])
        .unwrap();
    let fields: Vec<String> = f
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(fields, ["mx", "k", "s", "$op"]);
    let back = drain(&f, 1, 2).unwrap();
    // What Flink's print sink showed reading the same file: +I, -D, -U, +U, +I.
    let mut want = vec![
        "2020-01-01 00:00:01.500|a|1.50|0",
        "2020-01-01 00:00:01.500|a|1.50|3",
        "<NULL>|z|1.00|1",
        "2020-01-01 00:00:00.000|z|2.00|2",
        "2020-01-01 00:00:00.500|r|7.10|0",
    ];
    want.sort_unstable();
    assert_eq!(rows(&back), want);
    // A bad change fails naming the file and line.
    std::fs::write(dir.path().join("changes.json"), "{\"after\":{\"k\":\"a\"},\"op\":\"c\"}\n{\"before\":{\"k\":1},\"after\":null,\"op\":\"x\"}\n").unwrap();
    let f = DebeziumJsonSourceFactory::new(dir.path(), schema, JsonOptions::default());
    let e = err_text(drain(&f, 1, 10));
    assert!(
        e.contains("changes.json line 2") && e.contains("unknown \"op\" value \"x\""),
        "{e}"
    );
}

#[test]
fn json_sink_spells_values_as_flink() {
    let dir = tempfile::tempdir().unwrap();
    let cols = [
        ("k", SqlType::STRING),
        ("s", DEC),
        ("t", SqlType::Timestamp(3)),
        ("d", SqlType::Double),
        ("b", SqlType::Boolean),
        ("ltz", SqlType::TimestampLtz(3)),
        ("dd", SqlType::Date),
    ];
    let t = fs_table(dir.path(), "json", &cols, &[]);
    let batch = RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(StringArray::from(vec![Some("a"), None])),
            Arc::new(
                Decimal128Array::from(vec![Some(150), Some(1000)])
                    .with_precision_and_scale(10, 2)
                    .unwrap(),
            ),
            Arc::new(TimestampMillisecondArray::from(vec![
                Some(1_577_836_801_500),
                Some(1_577_836_800_120),
            ])),
            Arc::new(Float64Array::from(vec![9.08e7, 1e-4])),
            Arc::new(BooleanArray::from(vec![Some(true), None])),
            Arc::new(
                TimestampMillisecondArray::from(vec![Some(1_577_836_801_500), None])
                    .with_timezone("UTC"),
            ),
            Arc::new(Date32Array::from(vec![Some(18_262), None])),
        ],
    )
    .unwrap();
    write_all(
        &FileSystemConnector.sink(&t).unwrap(),
        1,
        std::slice::from_ref(&batch),
    );
    let written = files(dir.path(), false);
    let text = std::fs::read_to_string(dir.path().join(&written[0])).unwrap();
    // Flink 2.3's json format, for the same values.
    assert_eq!(
        text,
        r#"{"k":"a","s":1.5,"t":"2020-01-01 00:00:01.5","d":9.08E7,"b":true,"ltz":"2020-01-01 00:00:01.5Z","dd":"2020-01-01"}
{"k":null,"s":1E+1,"t":"2020-01-01 00:00:00.12","d":1.0E-4,"b":null,"ltz":null,"dd":null}
"#
    );
    // And the json source reads it back.
    let cols: Vec<String> = t.columns.iter().map(|c| c.name.clone()).collect();
    let back = drain(
        FileSystemConnector.source(&t, &cols).unwrap().as_ref(),
        1,
        10,
    )
    .unwrap();
    assert_eq!(rows(&back), rows(&[batch]));
}
