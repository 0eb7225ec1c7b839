//! The CSV source with a pushed-down filter ([`SourceFilter`]): which rows it returns, what
//! it counts, and that errors do not depend on it.

use std::sync::Arc;

use arrow::array::{Array, AsArray, BooleanArray, Int64Array, RecordBatch};
use arrow::compute::kernels::cmp::gt;
use arrow::datatypes::{DataType, Field, Int64Type, Schema, SchemaRef, TimeUnit};
use millstream_core::connector::{Source, SourceFactory, SourceFilter};
use millstream_core::error::{Error, Result};

use super::tests::{ctx, drain_one};
use super::{CsvOptions, CsvSourceFactory, OnError};

fn schema() -> SchemaRef {
    Arc::new(Schema::new(vec![
        Field::new("id", DataType::Int64, true),
        Field::new("price", DataType::Int64, true),
        Field::new("name", DataType::Utf8, true),
        Field::new("ts", DataType::Timestamp(TimeUnit::Millisecond, None), true),
    ]))
}

/// `price > 10`, keeping each batch's latest `ts`.
fn price_over_10() -> Arc<SourceFilter> {
    Arc::new(SourceFilter::new(
        vec![1],
        Some(3),
        "price > 10".into(),
        |b: &RecordBatch| -> Result<BooleanArray> {
            Ok(gt(b.column(0), &Int64Array::new_scalar(10))?)
        },
    ))
}

/// A source over `text` with `filter`, batches of two lines; the directory holds the file.
fn filtered_source(
    text: &str,
    on_error: OnError,
    filter: Arc<SourceFilter>,
) -> (tempfile::TempDir, Box<dyn Source>) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("t.csv");
    std::fs::write(&path, text).unwrap();
    let options = CsvOptions {
        on_error,
        ..Default::default()
    };
    let factory = CsvSourceFactory::new(&path, schema(), options);
    let filtered = factory
        .with_filter(filter)
        .expect("the CSV source takes filters");
    (dir, filtered.create(&ctx(0, 1, 2)).unwrap())
}

/// The ids of each batch, and the rows the source counted as dropped.
fn ids(s: &mut dyn Source) -> Result<(Vec<Vec<i64>>, u64)> {
    let (batches, _) = drain_one(s)?;
    let dropped = s.take_filtered_rows();
    let ids = batches
        .iter()
        .map(|b| b.column(0).as_primitive::<Int64Type>().values().to_vec())
        .collect();
    Ok((ids, dropped))
}

#[test]
fn rows_that_pass_and_each_batchs_latest_row_are_returned() {
    // Batches of two lines: the latest line of each batch is kept whether it passes or not
    // (the watermark after the batch is computed from it).
    let text = "\
1,5,a,2020-01-01 00:00:05.000
2,20,b,2020-01-01 00:00:01.000
3,1,c,2020-01-01 00:00:09.000
4,30,,2020-01-01 00:00:02.000
5,2,e,2020-01-01 00:00:03.000
6,3,f,2020-01-01 00:00:04.000
7,4,g,2020-01-01 00:00:01.000
8,40,h,2020-01-01 00:00:10.000
";
    let (_dir, mut s) = filtered_source(text, OnError::Fail, price_over_10());
    let (ids, dropped) = ids(s.as_mut()).unwrap();
    assert_eq!(ids, [vec![1, 2], vec![3, 4], vec![6], vec![8]]);
    assert_eq!(dropped, 2, "lines 5 and 7");
}

#[test]
fn the_other_columns_of_kept_rows_are_read_as_without_a_filter() {
    let text = "1,50,é,2020-01-01 00:00:05.000\n2,5,x,2020-01-01 00:00:01.000\n3,60,,\n";
    let (_dir, mut s) = filtered_source(text, OnError::Fail, price_over_10());
    let (batches, _) = drain_one(s.as_mut()).unwrap();
    let b = arrow::compute::concat_batches(&schema(), &batches).unwrap();
    assert_eq!(b.num_rows(), 2);
    let names = b.column(2).as_string::<i32>();
    assert_eq!((names.value(0), names.is_null(1)), ("é", true));
    let ts = b
        .column(3)
        .as_primitive::<arrow::datatypes::TimestampMillisecondType>();
    assert_eq!((ts.value(0), ts.is_null(1)), (1_577_836_805_000, true));
}

#[test]
fn a_bad_value_in_a_row_the_filter_drops_is_still_an_error() {
    // Line 2 fails the filter (price 5) and has a bad id: the error is the same as without
    // the filter, with its line and column.
    let text = "1,50,a,2020-01-01 00:00:05.000\nx,5,b,2020-01-01 00:00:01.000\n";
    let (_dir, mut s) = filtered_source(text, OnError::Fail, price_over_10());
    match ids(s.as_mut()) {
        Err(Error::Data { location, .. }) => {
            assert_eq!(location.line, Some(2));
            assert_eq!(location.column.as_deref(), Some("id"));
        }
        other => panic!("expected a data error, got {other:?}"),
    }
    // Skipped in skip mode, as without the filter; the good line is still filtered.
    let (_dir, mut s) = filtered_source(text, OnError::Skip, price_over_10());
    assert_eq!(ids(s.as_mut()).unwrap().0.concat(), [1]);
}

#[test]
fn a_predicate_that_fails_keeps_every_row() {
    let failing = Arc::new(SourceFilter::new(
        vec![1],
        None,
        "broken".into(),
        |_: &RecordBatch| Err(Error::Internal("no".into())),
    ));
    let text = "1,5,a,\n2,6,b,\n3,7,c,\n";
    let (_dir, mut s) = filtered_source(text, OnError::Fail, failing);
    let (ids, dropped) = ids(s.as_mut()).unwrap();
    assert_eq!((ids.concat(), dropped), (vec![1, 2, 3], 0));
}

#[test]
fn lines_with_quotes_are_read_whole_and_unfiltered() {
    // Not simple: arrow's decoder reads them, and the filter after the source decides.
    let text = "1,5,\"a,b\",\n2,50,\"c\",\n";
    let (_dir, mut s) = filtered_source(text, OnError::Fail, price_over_10());
    assert_eq!(ids(s.as_mut()).unwrap().0.concat(), [1, 2]);
}

#[test]
fn filters_that_save_nothing_are_refused() {
    let f = CsvSourceFactory::new("/nonexistent", schema(), CsvOptions::default());
    let only_numbers = f.clone().with_projection(&["id", "price"]).unwrap();
    assert!(only_numbers.with_filter(price_over_10()).is_none());
    assert!(f.with_filter(price_over_10()).is_some());
}
