//! Bad input through a whole job: a malformed CSV row fails the job with an error that names
//! the file, line and column, or, when asked for, goes to the source's error side output
//! while the good rows go on. Nothing panics.

use std::io::Write;
use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, TimeUnit};
use millstream::connectors::file::{CsvOptions, CsvSourceFactory, OnError};
use millstream::core::api::StreamExecutionEnvironment;

fn schema() -> Arc<Schema> {
    Arc::new(Schema::new(vec![
        Field::new("auction", DataType::Int64, false),
        Field::new("price", DataType::Int64, false),
        Field::new(
            "date_time",
            DataType::Timestamp(TimeUnit::Millisecond, None),
            false,
        ),
    ]))
}

fn write_csv(bad_line: usize, lines: usize) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().unwrap();
    for i in 1..=lines {
        if i == bad_line {
            writeln!(f, "{i},abc,2015-07-15 00:00:01.000").unwrap();
        } else {
            writeln!(f, "{i},{},2015-07-15 00:00:01.000", i * 10).unwrap();
        }
    }
    f.flush().unwrap();
    f
}

#[test]
fn malformed_row_fails_with_file_line_and_column() {
    let f = write_csv(4321, 10_000);
    for p in [1, 2] {
        let env = StreamExecutionEnvironment::new();
        env.set_parallelism(p);
        let src = CsvSourceFactory::new(f.path(), schema(), CsvOptions::default())
            .with_chunk_size(16 * 1024);
        env.from_source(Arc::new(src), None).collect();
        let msg = env.execute("bad csv").unwrap_err().to_string();
        let path = f.path().display().to_string();
        assert!(msg.contains(&path), "{msg}");
        assert!(msg.contains("line 4321"), "{msg}");
        assert!(msg.contains("price"), "{msg}");
        assert!(msg.contains("abc"), "{msg}");
    }
}

#[test]
fn malformed_row_goes_to_the_error_side_output() {
    let f = write_csv(7, 100);
    let env = StreamExecutionEnvironment::new();
    env.set_parallelism(1);
    let options = CsvOptions {
        on_error: OnError::SideOutput,
        ..Default::default()
    };
    let rows = env.from_source(
        Arc::new(CsvSourceFactory::new(f.path(), schema(), options)),
        None,
    );
    let errors = rows.side_output(1).collect();
    let good = rows.collect();
    env.execute("side output").unwrap();
    assert_eq!(good.num_rows(), 99);
    let errors = errors.concat().unwrap().expect("one error row");
    assert_eq!(errors.num_rows(), 1);
    let line = errors
        .column_by_name("line")
        .unwrap()
        .as_any()
        .downcast_ref::<arrow::array::UInt64Array>()
        .unwrap()
        .value(0);
    assert_eq!(line, 7);
}
