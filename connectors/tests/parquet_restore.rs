//! Exactly-once replay of the Parquet source (plain and partitioned): run the subtasks to
//! random cut points, snapshot their positions, restore at another parallelism (sometimes
//! twice), run to the end; the rows of all the pieces together must be the rows of an
//! uninterrupted run, none twice and none missing. The harness is `support/restore.rs`.

mod support;

use std::path::Path;
use std::sync::Arc;

use arrow::array::{Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema, SchemaRef};
use millstream_connectors::file::{ParquetSourceFactory, Partitioning};
use support::restore::*;

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
