//! Helpers of the `filesystem` connector tests: tables, draining sources, writing through
//! sinks, listing the files written.

#![allow(dead_code)] // each test file uses some of them

pub mod restore;

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use arrow::array::RecordBatch;
use millstream_connectors::sql::{ValueFormatter, ValueStyle};
use millstream_core::batch::BatchConfig;
use millstream_core::connector::{
    Sink, SinkFactoryRef, Source, SourceContext, SourceFactory, SourcePoll,
};
use millstream_core::error::Result;
use millstream_core::sql::{Column, SqlType, TableDef};

pub fn table(
    columns: &[(&str, SqlType)],
    partitioned_by: &[&str],
    options: &[(&str, &str)],
) -> TableDef {
    let mut o: BTreeMap<String, String> = BTreeMap::new();
    o.insert("connector".into(), "filesystem".into());
    for (k, v) in options {
        o.insert(k.to_string(), v.to_string());
    }
    TableDef {
        name: "t".into(),
        columns: columns.iter().map(|(n, t)| Column::new(*n, *t)).collect(),
        watermark: None,
        primary_key: vec![],
        partitioned_by: partitioned_by.iter().map(|c| c.to_string()).collect(),
        options: o,
    }
}

pub fn fs_table(
    dir: &Path,
    format: &str,
    columns: &[(&str, SqlType)],
    partitioned_by: &[&str],
) -> TableDef {
    let p = dir.to_string_lossy().into_owned();
    table(columns, partitioned_by, &[("path", &p), ("format", format)])
}

pub fn names(cols: &[&str]) -> Vec<String> {
    cols.iter().map(|c| c.to_string()).collect()
}

pub fn ctx(subtask: usize, parallelism: usize, batch_size: usize) -> SourceContext {
    ctx_with_delay(subtask, parallelism, batch_size, Duration::from_millis(1))
}

/// A subtask's context whose partial batches wait `max_delay`.
pub fn ctx_with_delay(
    subtask: usize,
    parallelism: usize,
    batch_size: usize,
    max_delay: Duration,
) -> SourceContext {
    SourceContext {
        subtask,
        parallelism,
        batch: BatchConfig {
            batch_size,
            max_delay,
        },
    }
}

pub fn drain_one(s: &mut dyn Source) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    loop {
        match s.poll()? {
            SourcePoll::Batch(b) => out.push(b),
            SourcePoll::Pending(d) => std::thread::sleep(d),
            SourcePoll::End => return Ok(out),
        }
    }
}

/// Every batch of every subtask at parallelism `p`, checking each batch's schema.
pub fn drain(f: &dyn SourceFactory, p: usize, batch_size: usize) -> Result<Vec<RecordBatch>> {
    let mut out = Vec::new();
    for i in 0..p {
        for b in drain_one(f.create(&ctx(i, p, batch_size))?.as_mut())? {
            assert_eq!(b.schema(), f.schema());
            out.push(b);
        }
    }
    Ok(out)
}

/// Rows as `a|b|c` in the SQL client's spelling, sorted.
pub fn rows(batches: &[RecordBatch]) -> Vec<String> {
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
    out.sort();
    out
}

pub fn err_text<T>(r: Result<T>) -> String {
    match r {
        Ok(_) => panic!("expected an error"),
        Err(e) => e.to_string(),
    }
}

/// Writes `batches[i]` with subtask `i % p` of `sink`, then finishes and commits as the end
/// of a job does.
pub fn write_all(sink: &SinkFactoryRef, p: usize, batches: &[RecordBatch]) {
    let mut sinks: Vec<Box<dyn Sink>> = (0..p).map(|i| sink.create(i, p).unwrap()).collect();
    for (i, b) in batches.iter().enumerate() {
        sinks[i % p].write(b).unwrap();
    }
    let mut committables = Vec::new();
    for s in &mut sinks {
        s.finish().unwrap();
        committables.extend(s.prepare_commit(u64::MAX).unwrap());
    }
    sink.commit(u64::MAX, &committables).unwrap();
}

/// Every file below `dir`, relative, sorted; hidden ones too when `hidden`.
pub fn files(dir: &Path, hidden: bool) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, hidden: bool, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(root, &p, hidden, out);
            } else if hidden || !p.file_name().unwrap().to_string_lossy().starts_with('.') {
                out.push(p.strip_prefix(root).unwrap().to_string_lossy().into_owned());
            }
        }
    }
    let mut out = Vec::new();
    if dir.exists() {
        walk(dir, dir, hidden, &mut out);
    }
    out.sort();
    out
}

pub const DEC: SqlType = SqlType::Decimal {
    precision: 10,
    scale: 2,
};
