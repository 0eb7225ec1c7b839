//! The SQL `filesystem` connector with `PARTITIONED BY`: Flink's `c1=v1/c2=v2/` layout
//! written with the two-phase commit and read back with the partition columns typed from
//! the directory names.

mod support;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int32Array, Int64Array, RecordBatch, StringArray};
use millstream_connectors::sql::FileSystemConnector;
use millstream_core::sql::{SqlType, TableConnector};

use support::*;

fn partitioned_columns() -> Vec<(&'static str, SqlType)> {
    vec![
        ("id", SqlType::BigInt),
        ("dt", SqlType::STRING),
        ("name", SqlType::STRING),
        ("hr", SqlType::Int),
    ]
}

fn partitioned_batch(ids: &[i64], dts: &[Option<&str>], hrs: &[Option<i32>]) -> RecordBatch {
    let t = fs_table(Path::new("/"), "csv", &partitioned_columns(), &[]);
    RecordBatch::try_new(
        t.arrow_schema(),
        vec![
            Arc::new(Int64Array::from(ids.to_vec())),
            Arc::new(StringArray::from(dts.to_vec())),
            Arc::new(StringArray::from(
                ids.iter().map(|i| format!("n{i}")).collect::<Vec<_>>(),
            )),
            Arc::new(Int32Array::from(hrs.to_vec())),
        ],
    )
    .unwrap()
}

#[test]
fn partitioned_write_then_read_gives_the_same_rows() {
    let batches = [
        partitioned_batch(
            &[1, 2, 3],
            &[Some("2020-01-01"), Some("a/b=c d%e:f"), Some("2020-01-01")],
            &[Some(1), Some(2), Some(1)],
        ),
        partitioned_batch(&[4, 5], &[None, Some("")], &[Some(3), None]),
        partitioned_batch(&[6], &[Some("2020-01-02")], &[Some(0)]),
    ];
    for format in ["csv", "json", "parquet"] {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let t = fs_table(&out, format, &partitioned_columns(), &["dt", "hr"]);
        FileSystemConnector.validate(&t).unwrap();
        write_all(&FileSystemConnector.sink(&t).unwrap(), 2, &batches);
        let written = files(&out, true);
        let dirs: Vec<&str> = written
            .iter()
            .map(|f| f.rsplit_once('/').unwrap().0)
            .collect();
        assert_eq!(
            dirs,
            [
                "dt=2020-01-01/hr=1",
                "dt=2020-01-02/hr=0",
                "dt=__DEFAULT_PARTITION__/hr=3",
                "dt=__DEFAULT_PARTITION__/hr=__DEFAULT_PARTITION__",
                "dt=a%2Fb%3Dc d%25e%3Af/hr=2",
            ],
            "{format}: {written:?}"
        );
        assert!(
            written
                .iter()
                .all(|f| f.rsplit('/').next().unwrap().starts_with("c")),
            "{written:?}"
        );
        if format == "csv" {
            // The partition columns are not in the files.
            let text = std::fs::read_to_string(out.join(&written[0])).unwrap();
            assert_eq!(text, "1,n1\n3,n3\n", "{format}");
        }
        if format == "json" {
            let text = std::fs::read_to_string(out.join(&written[1])).unwrap();
            assert_eq!(text, "{\"id\":6,\"name\":\"n6\"}\n", "{format}");
        }
        let all = names(&["id", "dt", "name", "hr"]);
        let back = drain(FileSystemConnector.source(&t, &all).unwrap().as_ref(), 2, 2).unwrap();
        let mut want = rows(&batches);
        // The empty string comes back as NULL, as in Flink (both go to the default partition).
        for r in &mut want {
            *r = r.replace("5||n5", "5|<NULL>|n5");
        }
        want.sort();
        assert_eq!(rows(&back), want, "{format}");
        // Partition columns anywhere in the projection, or alone.
        let some = FileSystemConnector
            .source(&t, &names(&["hr", "name", "dt"]))
            .unwrap();
        let back = drain(some.as_ref(), 1, 10).unwrap();
        assert!(
            rows(&back).contains(&"2|n2|a/b=c d%e:f".to_string()),
            "{format}: {:?}",
            rows(&back)
        );
        let only = FileSystemConnector.source(&t, &names(&["hr"])).unwrap();
        assert_eq!(
            rows(&drain(only.as_ref(), 1, 10).unwrap()),
            ["0", "1", "1", "2", "3", "<NULL>"],
            "{format}"
        );
    }
}

#[test]
fn partitions_commit_together_and_abort_and_roll_back_below_the_directory() {
    let dir = tempfile::tempdir().unwrap();
    let t = fs_table(dir.path(), "csv", &partitioned_columns(), &["dt", "hr"]);
    let factory = FileSystemConnector.sink(&t).unwrap();
    let mut sink = factory.create(0, 1).unwrap();
    sink.write(&partitioned_batch(
        &[1, 2],
        &[Some("a"), Some("b")],
        &[Some(1), Some(1)],
    ))
    .unwrap();
    assert_eq!(files(dir.path(), false), Vec::<String>::new());
    assert_eq!(
        files(dir.path(), true).len(),
        2,
        "one in-progress file per partition"
    );
    let c1 = sink.prepare_commit(1).unwrap().unwrap();
    assert_eq!(
        files(dir.path(), false),
        Vec::<String>::new(),
        "nothing visible before the commit"
    );
    factory.commit(1, std::slice::from_ref(&c1)).unwrap();
    let visible = files(dir.path(), false);
    assert_eq!(visible.len(), 2, "both partitions at once: {visible:?}");
    assert!(
        visible[0].starts_with("dt=a/hr=1/c0000000001-part-"),
        "{visible:?}"
    );
    // A repeated commit is fine; the next checkpoint's rows go to new files.
    factory.commit(1, &[c1]).unwrap();
    sink.write(&partitioned_batch(&[3], &[Some("a")], &[Some(1)]))
        .unwrap();
    let c2 = sink.prepare_commit(2).unwrap().unwrap();
    factory.commit(2, &[c2]).unwrap();
    sink.write(&partitioned_batch(&[4], &[Some("c")], &[Some(1)]))
        .unwrap();
    assert_eq!(files(dir.path(), false).len(), 3);
    // A failed attempt's in-progress files go; what a later checkpoint committed too.
    factory.abort_uncommitted().unwrap();
    assert_eq!(
        files(dir.path(), true).len(),
        3,
        "{:?}",
        files(dir.path(), true)
    );
    factory.rollback_after(1).unwrap();
    assert_eq!(files(dir.path(), true), visible);
}

#[test]
fn partition_options_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let e = err_text(FileSystemConnector.validate(&fs_table(
        dir.path(),
        "csv",
        &partitioned_columns(),
        &["day"],
    )));
    assert!(
        e.contains("partition column 'day' not defined in the table schema. Available columns: [id, dt, name, hr]"),
        "{e}"
    );
    let e = err_text(FileSystemConnector.validate(&fs_table(
        dir.path(),
        "csv",
        &[("dt", SqlType::STRING)],
        &["dt"],
    )));
    assert!(e.contains("every column is a partition column"), "{e}");
    // A custom default partition name.
    let p = dir.path().to_string_lossy().into_owned();
    let t = table(
        &partitioned_columns(),
        &["dt"],
        &[
            ("path", &p),
            ("format", "csv"),
            ("partition.default-name", "none"),
        ],
    );
    write_all(
        &FileSystemConnector.sink(&t).unwrap(),
        1,
        &[partitioned_batch(&[1], &[None], &[Some(1)])],
    );
    let written = files(dir.path(), false);
    assert!(written[0].starts_with("dt=none/"), "{written:?}");
    let back = drain(
        FileSystemConnector
            .source(&t, &names(&["dt", "id"]))
            .unwrap()
            .as_ref(),
        1,
        10,
    )
    .unwrap();
    assert_eq!(rows(&back), ["<NULL>|1"]);
    // A file outside any partition directory is an error naming it.
    std::fs::write(dir.path().join("stray.csv"), "9,x,1\n").unwrap();
    let e = err_text(drain(
        FileSystemConnector
            .source(&t, &names(&["dt", "id"]))
            .unwrap()
            .as_ref(),
        1,
        10,
    ));
    assert!(
        e.contains("stray.csv") && e.contains("partition directory 'dt=...'"),
        "{e}"
    );
}

/// Reading what Flink 2.3 wrote: its partitioned csv layout, with escaped directory names.
#[test]
fn reads_flinks_partitioned_layout() {
    let dir = tempfile::tempdir().unwrap();
    for (d, text) in [
        ("dt=2020-01-01/hr=1", "1,a\n"),
        ("dt=a%2Fb%3Dc d%25e%3Af/hr=2", "2,\"b,c\"\n"),
        ("dt=ü%7B%23%7D%3F%2A%22<>|%5E%5B%5D%01/hr=4", "5,y\n"),
    ] {
        let p = dir.path().join(d);
        std::fs::create_dir_all(&p).unwrap();
        std::fs::write(
            p.join("part-a080265e-485a-4700-8c10-786ded2ee649-0-0"),
            text,
        )
        .unwrap();
    }
    let t = fs_table(
        dir.path(),
        "csv",
        &[
            ("id", SqlType::BigInt),
            ("name", SqlType::STRING),
            ("dt", SqlType::STRING),
            ("hr", SqlType::Int),
        ],
        &["dt", "hr"],
    );
    let back = drain(
        FileSystemConnector
            .source(&t, &names(&["id", "name", "dt", "hr"]))
            .unwrap()
            .as_ref(),
        1,
        10,
    )
    .unwrap();
    // Flink's print sink showed +I[1, a, 2020-01-01, 1], +I[2, b,c, a/b=c d%e:f, 2] and
    // +I[5, y, ü{#}?*"<>|^[]\u{1}, 4].
    assert_eq!(
        rows(&back),
        [
            "1|a|2020-01-01|1",
            "2|b,c|a/b=c d%e:f|2",
            "5|y|ü{#}?*\"<>|^[]\u{1}|4"
        ]
    );
}
