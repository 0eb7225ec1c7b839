//! Built-in in-memory sources: a collection of typed records and a list of record batches
//! (the embedding path: a service hands its own batches in, with no copy).
//!
//! Both are bounded. A collection source runs as one subtask (Flink's `fromCollection`); a
//! batch source spreads its batches round-robin over its subtasks.
//!
//! Checkpoints: a [`BatchSource`] subtask's position is the list of batch indices it has not
//! yet returned (the next one first; with one subtask, the index of the next batch and the
//! count after it). A restore, at any parallelism, takes the union of the old subtasks'
//! lists and deals it out round-robin again, so each batch not yet returned is returned
//! once. A [`ChannelSource`] cannot be restored: the batches it has received came from the
//! embedding program and are gone; the channel cannot replay them (the default
//! [`SourceFactory::restore`] error says so).

use std::sync::Arc;

use arrow::datatypes::SchemaRef;
use arrow::record_batch::RecordBatch;
use crossbeam_channel::Receiver;

use crate::connector::{Source, SourceContext, SourceFactory, SourcePoll};
use crate::error::{Error, Result};

/// A bounded source over batches held in memory.
#[derive(Debug, Clone)]
pub struct BatchSource {
    schema: SchemaRef,
    batches: Arc<Vec<RecordBatch>>,
    name: String,
}

impl BatchSource {
    /// A source over `batches`, which must all have `schema`.
    ///
    /// # Errors
    /// A batch with another schema.
    pub fn new(
        name: impl Into<String>,
        schema: SchemaRef,
        batches: Vec<RecordBatch>,
    ) -> Result<Self> {
        for (i, b) in batches.iter().enumerate() {
            if b.schema().fields() != schema.fields() {
                return Err(Error::Schema(format!(
                    "batch {i} has columns [{}], expected [{}]",
                    crate::batch::column_names(&b.schema()),
                    crate::batch::column_names(&schema)
                )));
            }
        }
        Ok(BatchSource {
            schema,
            batches: Arc::new(batches),
            name: name.into(),
        })
    }
}

impl BatchSource {
    /// The same batches with only the columns at `indices`, in that order (no copy).
    ///
    /// # Errors
    /// An index out of range.
    pub fn project(&self, indices: &[usize]) -> Result<BatchSource> {
        let schema = Arc::new(self.schema.project(indices)?);
        let batches = self
            .batches
            .iter()
            .map(|b| b.project(indices))
            .collect::<std::result::Result<Vec<_>, _>>()?;
        BatchSource::new(self.name.clone(), schema, batches)
    }
}

/// The serialized position of one [`BatchSource`] subtask: the batches it has not returned,
/// as runs `[first, step, count]` (one run for a fresh subtask).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct BatchPosition {
    /// Number of batches of the source, checked on restore.
    batches: u64,
    /// Indices left: `first, first + step, ...`, `count` of them, per run.
    runs: Vec<(u64, u64, u64)>,
}

impl BatchPosition {
    /// The indices of all runs, in order.
    fn indices(&self) -> impl Iterator<Item = u64> + '_ {
        self.runs
            .iter()
            .flat_map(|&(first, step, count)| (0..count).map(move |k| first + k * step))
    }

    /// Runs describing `indices` (greedy: a run continues while the step stays the same).
    fn from_indices(batches: u64, indices: &[usize]) -> Self {
        let mut runs: Vec<(u64, u64, u64)> = Vec::new();
        for &i in indices {
            let i = i as u64;
            match runs.last_mut() {
                Some((first, step, count)) if *count == 1 && i > *first => {
                    *step = i - *first;
                    *count = 2;
                }
                Some((first, step, count)) if *first + *step * *count == i => *count += 1,
                _ => runs.push((i, 1, 1)),
            }
        }
        BatchPosition { batches, runs }
    }
}

struct BatchSourceInstance {
    batches: Arc<Vec<RecordBatch>>,
    /// Indices of the batches this subtask returns, in order.
    queue: Vec<usize>,
    /// Next entry of `queue`.
    next: usize,
}

impl Source for BatchSourceInstance {
    fn poll(&mut self) -> Result<SourcePoll> {
        match self.queue.get(self.next).and_then(|&i| self.batches.get(i)) {
            Some(b) => {
                self.next += 1;
                Ok(SourcePoll::Batch(b.clone()))
            }
            None => Ok(SourcePoll::End),
        }
    }

    fn position(&self) -> u64 {
        self.next as u64
    }

    fn snapshot_position(&mut self) -> Result<Vec<u8>> {
        let left = &self.queue[self.next.min(self.queue.len())..];
        let pos = BatchPosition::from_indices(self.batches.len() as u64, left);
        serde_json::to_vec(&pos)
            .map_err(|e| Error::Internal(format!("batch source: cannot serialize position: {e}")))
    }
}

impl SourceFactory for BatchSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        let queue = (ctx.subtask..self.batches.len())
            .step_by(ctx.parallelism.max(1))
            .collect();
        Ok(Box::new(BatchSourceInstance {
            batches: self.batches.clone(),
            queue,
            next: 0,
        }))
    }

    /// Resumes with the batches no old subtask had returned, dealt out round-robin over the
    /// new subtasks.
    ///
    /// # Errors
    /// [`Error::Connector`] for no positions, an unreadable one, one recorded over another
    /// number of batches, or a batch left to two old subtasks.
    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        let err = |detail: String| Error::Connector {
            connector: self.name.clone(),
            detail: format!("cannot resume: {detail}"),
        };
        if positions.is_empty() {
            return Err(err("the checkpoint holds no position of this source".into()));
        }
        let total = self.batches.len() as u64;
        let mut left = Vec::new();
        for (j, bytes) in positions.iter().enumerate() {
            let pos: BatchPosition = serde_json::from_slice(bytes).map_err(|e| {
                err(format!(
                    "the position of old subtask {j} is unreadable: {e}"
                ))
            })?;
            if pos.batches != total {
                return Err(err(format!(
                    "the position of old subtask {j} is of {} batches, the source has {total}",
                    pos.batches
                )));
            }
            for &(first, step, count) in &pos.runs {
                let last = count
                    .checked_sub(1)
                    .and_then(|k| k.checked_mul(step))
                    .and_then(|d| d.checked_add(first));
                if count > 0 && last.is_none_or(|l| l >= total) {
                    return Err(err(format!(
                        "the position of old subtask {j} names batches past the {total} of the source"
                    )));
                }
            }
            left.extend(pos.indices().map(|i| i as usize));
        }
        left.sort_unstable();
        if let Some(w) = left.windows(2).find(|w| w[0] == w[1]) {
            return Err(err(format!(
                "inconsistent positions: batch {} is left to two old subtasks",
                w[0]
            )));
        }
        let p = ctx.parallelism.max(1);
        let queue = left
            .into_iter()
            .enumerate()
            .filter(|(k, _)| k % p == ctx.subtask)
            .map(|(_, i)| i)
            .collect();
        Ok(Box::new(BatchSourceInstance {
            batches: self.batches.clone(),
            queue,
            next: 0,
        }))
    }
}

/// An unbounded source fed by the embedding program through a channel of batches: the
/// stream ends when every sender is dropped. Runs as one subtask.
///
/// It cannot resume from a checkpoint (its [`SourceFactory::restore`] is the default
/// [`Error::Unsupported`]): what it has received is gone from the channel, and the program
/// on the other end does not know which batches a checkpoint covered, so nothing could be
/// replayed exactly once.
pub struct ChannelSource {
    schema: SchemaRef,
    rx: Receiver<RecordBatch>,
    name: String,
}

impl ChannelSource {
    /// A source reading batches of `schema` from `rx`.
    pub fn new(name: impl Into<String>, schema: SchemaRef, rx: Receiver<RecordBatch>) -> Self {
        ChannelSource {
            schema,
            rx,
            name: name.into(),
        }
    }
}

struct ChannelSourceInstance {
    rx: Receiver<RecordBatch>,
    schema: SchemaRef,
    name: String,
    rows: u64,
}

impl Source for ChannelSourceInstance {
    fn poll(&mut self) -> Result<SourcePoll> {
        match self.rx.recv_timeout(std::time::Duration::from_millis(20)) {
            Ok(b) => {
                if b.schema().fields() != self.schema.fields() {
                    return Err(Error::Schema(format!(
                        "source '{}': batch has columns [{}], expected [{}]",
                        self.name,
                        crate::batch::column_names(&b.schema()),
                        crate::batch::column_names(&self.schema)
                    )));
                }
                self.rows += b.num_rows() as u64;
                Ok(SourcePoll::Batch(b))
            }
            Err(crossbeam_channel::RecvTimeoutError::Timeout) => {
                Ok(SourcePoll::Pending(std::time::Duration::ZERO))
            }
            Err(crossbeam_channel::RecvTimeoutError::Disconnected) => Ok(SourcePoll::End),
        }
    }

    fn position(&self) -> u64 {
        self.rows
    }
}

impl SourceFactory for ChannelSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn max_parallelism(&self) -> Option<usize> {
        Some(1)
    }

    fn create(&self, _: &SourceContext) -> Result<Box<dyn Source>> {
        Ok(Box::new(ChannelSourceInstance {
            rx: self.rx.clone(),
            schema: self.schema.clone(),
            name: self.name.clone(),
            rows: 0,
        }))
    }
}

#[cfg(test)]
mod tests {
    use arrow::array::{Array, Int64Array};
    use arrow::datatypes::{DataType, Field, Schema};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;
    use crate::batch::BatchConfig;

    fn source(n: i64) -> BatchSource {
        let schema = Arc::new(Schema::new(vec![Field::new("x", DataType::Int64, false)]));
        let batches = (0..n)
            .map(|i| {
                RecordBatch::try_new(
                    schema.clone(),
                    vec![Arc::new(Int64Array::from(vec![i * 10, i * 10 + 1]))],
                )
                .unwrap()
            })
            .collect();
        BatchSource::new("batches", schema, batches).unwrap()
    }

    fn ctx(subtask: usize, parallelism: usize) -> SourceContext {
        SourceContext {
            subtask,
            parallelism,
            batch: BatchConfig::default(),
        }
    }

    fn values(b: &RecordBatch, out: &mut Vec<i64>) {
        let a = b.column(0).as_any().downcast_ref::<Int64Array>().unwrap();
        out.extend((0..a.len()).map(|i| a.value(i)));
    }

    /// Polls `s` at most `n` times; the values of the batches returned.
    fn poll_n(s: &mut dyn Source, n: usize, out: &mut Vec<i64>) {
        for _ in 0..n {
            match s.poll().unwrap() {
                SourcePoll::Batch(b) => values(&b, out),
                SourcePoll::End => return,
                SourcePoll::Pending(_) => unreachable!("a batch source is never pending"),
            }
        }
    }

    #[test]
    fn restores_return_every_batch_once_at_any_parallelism() {
        let f = source(23);
        let mut expected = Vec::new();
        poll_n(
            f.create(&ctx(0, 1)).unwrap().as_mut(),
            usize::MAX,
            &mut expected,
        );
        expected.sort_unstable();
        assert_eq!(expected.len(), 46);
        let mut rng = StdRng::seed_from_u64(7);
        for old in [1, 2, 3] {
            for new in [1, 2, 4] {
                for _ in 0..10 {
                    let mut got = Vec::new();
                    let mut olds: Vec<Box<dyn Source>> =
                        (0..old).map(|i| f.create(&ctx(i, old)).unwrap()).collect();
                    for s in &mut olds {
                        poll_n(s.as_mut(), rng.random_range(0..12), &mut got);
                    }
                    let positions: Vec<Vec<u8>> = olds
                        .iter_mut()
                        .map(|s| s.snapshot_position().unwrap())
                        .collect();
                    // A second, chained restore at a random parallelism in between.
                    let mid = rng.random_range(1..4);
                    let mut mids: Vec<Box<dyn Source>> = (0..mid)
                        .map(|t| f.restore(&ctx(t, mid), &positions).unwrap())
                        .collect();
                    for s in &mut mids {
                        poll_n(s.as_mut(), rng.random_range(0..4), &mut got);
                    }
                    let positions: Vec<Vec<u8>> = mids
                        .iter_mut()
                        .map(|s| s.snapshot_position().unwrap())
                        .collect();
                    for t in 0..new {
                        let mut s = f.restore(&ctx(t, new), &positions).unwrap();
                        poll_n(s.as_mut(), usize::MAX, &mut got);
                    }
                    got.sort_unstable();
                    assert_eq!(got, expected, "{old} -> {mid} -> {new}");
                }
            }
        }
    }

    #[test]
    fn one_subtask_position_is_the_next_batch() {
        let f = source(5);
        let mut s = f.create(&ctx(0, 1)).unwrap();
        poll_n(s.as_mut(), 2, &mut Vec::new());
        let pos = String::from_utf8(s.snapshot_position().unwrap()).unwrap();
        assert_eq!(pos, r#"{"batches":5,"runs":[[2,1,3]]}"#);
        let mut rest = Vec::new();
        poll_n(
            f.restore(&ctx(0, 1), &[pos.into_bytes()]).unwrap().as_mut(),
            usize::MAX,
            &mut rest,
        );
        assert_eq!(rest, [20, 21, 30, 31, 40, 41]);
    }

    #[test]
    fn bad_positions_are_errors_and_channels_do_not_restore() {
        let f = source(5);
        let pos = |s: &mut dyn Source| s.snapshot_position().unwrap();
        let p0 = pos(f.create(&ctx(0, 1)).unwrap().as_mut());
        let msg = |ps: &[Vec<u8>]| f.restore(&ctx(0, 1), ps).err().unwrap().to_string();
        assert!(msg(&[]).contains("no position"));
        assert!(msg(&[b"x".to_vec()]).contains("unreadable"));
        assert!(msg(&[p0.clone(), p0]).contains("two old subtasks"));
        let other = pos(source(6).create(&ctx(0, 1)).unwrap().as_mut());
        assert!(msg(&[other]).contains("6 batches"));
        let past = br#"{"batches":5,"runs":[[3,1,3]]}"#.to_vec();
        assert!(msg(&[past]).contains("past the 5"));
        let huge = format!(r#"{{"batches":5,"runs":[[1,{},3]]}}"#, u64::MAX).into_bytes();
        assert!(msg(&[huge]).contains("past the 5"));

        let (_tx, rx) = crossbeam_channel::bounded(1);
        let ch = ChannelSource::new("ch", f.schema(), rx);
        assert!(matches!(
            ch.restore(&ctx(0, 1), &[]),
            Err(Error::Unsupported(_))
        ));
        let mut s = ch.create(&ctx(0, 1)).unwrap();
        assert!(matches!(s.snapshot_position(), Err(Error::Unsupported(_))));
    }
}
