//! The retained rows of a [`Rank`](super::Rank): per partition a short sorted list of
//! [`Entry`]s (the current top N), and the Arrow chunks the entries' rows live in.
//!
//! ```text
//!  Partitions ── group id ──▶ tops[g]: [Entry{key, seq, (chunk,row)}, ...]  (rank order, ≤ N)
//!                                                    │
//!  Store.chunks: [RecordBatch, RecordBatch, ...] ◀───┘  rows of every input column
//! ```
//!
//! Entries of rows of the batch being processed point at [`PENDING`] (the row index in that
//! batch) until the batch's survivors are copied into a chunk of their own
//! ([`adopt_pending`]). Rows that leave a top list stay in their chunk, dead, until
//! [`Store::needs_compaction`] says dead rows dominate; compaction rewrites the live rows into
//! one chunk.

use std::cmp::Ordering;

use arrow::array::{new_empty_array, Array, ArrayRef};
use arrow::compute::interleave;
use arrow::datatypes::{DataType, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use millstream_kernels::group::GroupIndexer;

use crate::error::{Error, Result};

/// Chunk id of an entry whose row is still in the batch being processed.
pub(super) const PENDING: u32 = u32::MAX;

/// One retained row of a partition's top list.
#[derive(Debug, Clone)]
pub(super) struct Entry {
    /// The ORDER BY columns of the row, `arrow::row`-encoded (byte order = rank order).
    pub(super) key: Box<[u8]>,
    /// Arrival sequence: breaks ties between equal keys.
    pub(super) seq: u64,
    /// Chunk of the row ([`PENDING`]: the current input batch).
    pub(super) chunk: u32,
    /// Row within the chunk (or the current batch).
    pub(super) row: u32,
}

/// How rows rank within a partition, and how many are kept.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ranking {
    /// N of `rn <= N`.
    pub(super) limit: usize,
    /// Among equal keys, a later arrival ranks first.
    pub(super) new_ties_first: bool,
}

impl Ranking {
    /// Whether `e` ranks ahead of a row with encoded key `key` and sequence `seq`.
    #[inline]
    fn ahead(&self, e: &Entry, key: &[u8], seq: u64) -> bool {
        match e.key.as_ref().cmp(key) {
            Ordering::Less => true,
            Ordering::Greater => false,
            Ordering::Equal if self.new_ties_first => e.seq > seq,
            Ordering::Equal => e.seq < seq,
        }
    }

    /// Where a row would enter `top` (0-based rank), or `None` when it cannot enter the
    /// top N at all.
    #[inline]
    pub(super) fn position(&self, top: &[Entry], key: &[u8], seq: u64) -> Option<usize> {
        // A full list rejects most rows of a large partition: check the last place first.
        if top.len() >= self.limit && top.last().is_some_and(|l| self.ahead(l, key, seq)) {
            return None;
        }
        let pos = top.partition_point(|e| self.ahead(e, key, seq));
        (pos < self.limit).then_some(pos)
    }

    /// Insert `entry` at `pos` (from [`Ranking::position`]); returns whether the list's
    /// last entry fell out of the top N.
    #[inline]
    pub(super) fn insert(&self, top: &mut Vec<Entry>, pos: usize, entry: Entry) -> bool {
        top.insert(pos, entry);
        if top.len() > self.limit {
            top.pop();
            true
        } else {
            false
        }
    }
}

/// The partitions of one scope (the whole stream, or one window): partition key → dense
/// group id → the group's rows (`T`: a top list here, every row of the group in
/// [`RetractableRank`](super::RetractableRank)).
#[derive(Debug)]
pub(super) struct Partitions<T = Vec<Entry>> {
    /// `None` without partition columns: every row is group 0.
    indexer: Option<GroupIndexer>,
    /// Per group id, its rows: for [`Rank`](super::Rank) the top list in rank order, never
    /// empty once created.
    pub(super) tops: Vec<T>,
}

impl<T: Default> Partitions<T> {
    /// Partitions keyed by columns of these types (none: a single partition).
    pub(super) fn new(key_types: &[DataType]) -> Result<Self> {
        let indexer = if key_types.is_empty() {
            None
        } else {
            Some(GroupIndexer::new(key_types)?)
        };
        Ok(Partitions {
            indexer,
            tops: Vec::new(),
        })
    }

    /// The group id of each of `rows` rows of the partition columns `keys` into `ids`.
    pub(super) fn intern(
        &mut self,
        keys: &[ArrayRef],
        rows: usize,
        ids: &mut Vec<u32>,
    ) -> Result<()> {
        let groups = match &mut self.indexer {
            Some(ix) => {
                ix.intern(keys, ids)?;
                ix.num_groups()
            }
            None => {
                ids.clear();
                ids.resize(rows, 0);
                usize::from(rows > 0)
            }
        };
        if self.tops.len() < groups {
            self.tops.resize_with(groups, T::default);
        }
        Ok(())
    }
}

impl Partitions {
    /// Number of retained rows.
    pub(super) fn len(&self) -> usize {
        self.tops.iter().map(Vec::len).sum()
    }
}

/// Move the rows of `top`'s pending entries into chunk `chunk`: each pending entry gets the
/// next row of that chunk, and its batch row is appended to `rows` (the `take` indices that
/// build the chunk).
pub(super) fn adopt_pending(top: &mut [Entry], chunk: u32, rows: &mut Vec<u32>) {
    for e in top.iter_mut().filter(|e| e.chunk == PENDING) {
        rows.push(e.row);
        e.chunk = chunk;
        e.row = (rows.len() - 1) as u32;
    }
}

/// The Arrow chunks that hold retained rows, and how many of their rows are live.
#[derive(Debug, Default)]
pub(super) struct Store {
    /// Chunks of rows with the input's columns.
    pub(super) chunks: Vec<RecordBatch>,
    /// Rows in all chunks, live and dead.
    pub(super) stored: usize,
    /// Rows referenced by some top list.
    pub(super) live: usize,
}

impl Store {
    /// The id the next chunk will get.
    pub(super) fn next_chunk(&self) -> Result<u32> {
        u32::try_from(self.chunks.len())
            .ok()
            .filter(|&c| c != PENDING)
            .ok_or_else(|| Error::Internal("rank: too many row chunks".into()))
    }

    /// Add a chunk (its id is [`Store::next_chunk`] before the call).
    pub(super) fn push(&mut self, chunk: RecordBatch) {
        self.stored += chunk.num_rows();
        self.chunks.push(chunk);
    }

    /// Whether dead rows outnumber live ones (compaction then costs `O(live)`, amortized
    /// over at least as many rows that died).
    pub(super) fn needs_compaction(&self) -> bool {
        self.stored > 2 * self.live
    }

    /// The rows at `locs` (chunk, row) with the columns of `schema`, one `interleave` per
    /// column over the chunks that are referenced.
    pub(super) fn gather(&self, schema: &Schema, locs: &[(u32, u32)]) -> Result<Vec<ArrayRef>> {
        if locs.is_empty() {
            return Ok(schema
                .fields()
                .iter()
                .map(|f| new_empty_array(f.data_type()))
                .collect());
        }
        // Interleave over the referenced chunks only: there may be many chunks.
        let mut local = vec![u32::MAX; self.chunks.len()];
        let mut used: Vec<usize> = Vec::new();
        let mut indices = Vec::with_capacity(locs.len());
        for &(c, r) in locs {
            let slot = local.get_mut(c as usize).ok_or_else(|| {
                Error::Internal(format!("rank: row reference to missing chunk {c}"))
            })?;
            if *slot == u32::MAX {
                *slot = used.len() as u32;
                used.push(c as usize);
            }
            indices.push((*slot as usize, r as usize));
        }
        (0..schema.fields().len())
            .map(|col| {
                let arrays: Vec<&dyn Array> = used
                    .iter()
                    .map(|&c| self.chunks[c].column(col).as_ref())
                    .collect();
                Ok(interleave(&arrays, &indices)?)
            })
            .collect()
    }

    /// Rewrite the live rows, at `locs` in the order the caller walks its entries, into
    /// one chunk; the caller then points its `i`-th entry at `(0, i)`.
    pub(super) fn compact(&mut self, schema: &SchemaRef, locs: &[(u32, u32)]) -> Result<()> {
        if locs.is_empty() {
            self.chunks.clear();
        } else {
            let columns = self.gather(schema, locs)?;
            self.chunks = vec![RecordBatch::try_new(schema.clone(), columns)?];
        }
        self.stored = locs.len();
        self.live = locs.len();
        Ok(())
    }
}
