//! Sinks as operators: [`SinkOperator`] drives a [`Sink`] (writes each batch, finishes at
//! end of input); [`PrintSink`] prints rows as Flink's `print()` does (`2> +I[a, 1]`);
//! [`CollectSink`] hands the result back to the program as batches. Sinks keep no keyed
//! state; they swallow watermarks.

use std::io::Write;
use std::sync::{Arc, Mutex};

use arrow::record_batch::RecordBatch;
use arrow::util::display::{ArrayFormatter, FormatOptions};

use super::{OpContext, Operator, Output};
use crate::connector::{Sink, SinkFactory};
use crate::error::{Error, Result};
use crate::time::Watermark;

/// Runs a [`Sink`] as the last operator of a chain.
pub struct SinkOperator {
    sink: Box<dyn Sink>,
}

impl SinkOperator {
    /// Wrap a sink instance.
    pub fn new(sink: Box<dyn Sink>) -> Self {
        SinkOperator { sink }
    }
}

impl Operator for SinkOperator {
    fn on_batch(
        &mut self,
        _: usize,
        batch: RecordBatch,
        _: &mut OpContext,
        _: &mut Output,
    ) -> Result<()> {
        self.sink.write(&batch)
    }

    fn on_watermark(&mut self, _: Watermark, _: &mut OpContext, _: &mut Output) -> Result<()> {
        Ok(())
    }

    fn on_end(&mut self, _: &mut OpContext, _: &mut Output) -> Result<()> {
        self.sink.finish()
    }
}

/// Format one row as Flink's `print()` does: `+I[v1, v2, ...]`.
pub fn format_row(formatters: &[ArrayFormatter<'_>], row: usize) -> String {
    let mut s = String::from("+I[");
    for (i, f) in formatters.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        s.push_str(&f.value(row).to_string());
    }
    s.push(']');
    s
}

/// Prints every row to stdout, prefixed with the subtask number when parallel.
#[derive(Debug, Clone, Copy, Default)]
pub struct PrintSink;

struct PrintInstance {
    prefix: String,
}

impl Sink for PrintInstance {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        let opts = FormatOptions::default().with_null("null");
        let formatters = batch
            .columns()
            .iter()
            .map(|c| ArrayFormatter::try_new(c.as_ref(), &opts))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        let mut text = String::with_capacity(batch.num_rows() * 32);
        for row in 0..batch.num_rows() {
            text.push_str(&self.prefix);
            text.push_str(&format_row(&formatters, row));
            text.push('\n');
        }
        let stdout = std::io::stdout();
        let mut lock = stdout.lock();
        lock.write_all(text.as_bytes())
            .map_err(|e| Error::io("print sink: stdout", e))
    }
}

impl SinkFactory for PrintSink {
    fn name(&self) -> String {
        "print".into()
    }

    fn create(&self, subtask: usize, parallelism: usize) -> Result<Box<dyn Sink>> {
        let prefix = if parallelism > 1 {
            format!("{}> ", subtask + 1)
        } else {
            String::new()
        };
        Ok(Box::new(PrintInstance { prefix }))
    }
}

/// Collects every batch a job produces; read them back with [`CollectHandle::batches`]
/// after `execute`.
#[derive(Debug, Clone, Default)]
pub struct CollectSink {
    handle: CollectHandle,
}

/// The program's side of a [`CollectSink`].
#[derive(Debug, Clone, Default)]
pub struct CollectHandle {
    batches: Arc<Mutex<Vec<RecordBatch>>>,
}

impl CollectHandle {
    /// The batches collected so far (all of them once the job has finished), moved out.
    pub fn take(&self) -> Vec<RecordBatch> {
        match self.batches.lock() {
            Ok(mut g) => std::mem::take(&mut *g),
            Err(p) => std::mem::take(&mut *p.into_inner()),
        }
    }

    /// All collected rows concatenated into one batch, or `None` if nothing was collected.
    ///
    /// # Errors
    /// Batches with different schemas.
    pub fn concat(&self) -> Result<Option<RecordBatch>> {
        let batches = self.take();
        match batches.first() {
            None => Ok(None),
            Some(b) => Ok(Some(arrow::compute::concat_batches(&b.schema(), &batches)?)),
        }
    }

    /// Number of rows collected so far.
    pub fn num_rows(&self) -> usize {
        match self.batches.lock() {
            Ok(g) => g.iter().map(|b| b.num_rows()).sum(),
            Err(p) => p.into_inner().iter().map(|b| b.num_rows()).sum(),
        }
    }
}

impl CollectSink {
    /// A new collect sink and the handle to read it.
    pub fn new() -> (Self, CollectHandle) {
        let s = CollectSink::default();
        let h = s.handle.clone();
        (s, h)
    }
}

struct CollectInstance {
    handle: CollectHandle,
}

impl Sink for CollectInstance {
    fn write(&mut self, batch: &RecordBatch) -> Result<()> {
        // One lock per batch, never per row.
        match self.handle.batches.lock() {
            Ok(mut g) => g.push(batch.clone()),
            Err(p) => p.into_inner().push(batch.clone()),
        }
        Ok(())
    }
}

impl SinkFactory for CollectSink {
    fn name(&self) -> String {
        "collect".into()
    }

    fn create(&self, _: usize, _: usize) -> Result<Box<dyn Sink>> {
        Ok(Box::new(CollectInstance {
            handle: self.handle.clone(),
        }))
    }
}

/// Discards everything (for benchmarks).
#[derive(Debug, Clone, Copy, Default)]
pub struct BlackholeSink;

struct BlackholeInstance;

impl Sink for BlackholeInstance {
    fn write(&mut self, _: &RecordBatch) -> Result<()> {
        Ok(())
    }
}

impl SinkFactory for BlackholeSink {
    fn name(&self) -> String {
        "blackhole".into()
    }

    fn create(&self, _: usize, _: usize) -> Result<Box<dyn Sink>> {
        Ok(Box::new(BlackholeInstance))
    }
}
