//! Columnar per-partition state: the rows a bounded frame still needs ([`RowStore`]) and
//! the running MIN/MAX/FIRST/LAST value of an unbounded frame ([`ValueStore`]).
//!
//! Both append one Arrow chunk per processing step for the partitions it touched and point
//! each partition at its newest place (`(chunk, row)`), so a step costs `O(rows touched)`;
//! superseded entries are dead and are compacted away (one `interleave` of the live ones)
//! once the stored rows pass twice the live ones plus [`COMPACT_SLACK`], which amortizes
//! to `O(1)` per row written.

use std::sync::Arc;

use arrow::array::{new_null_array, Array, ArrayRef, AsArray, Int64Array, UInt32Array};
use arrow::compute::{interleave, take};
use arrow::datatypes::{DataType, Int64Type};

use crate::error::{Error, Result};

/// Dead entries tolerated beyond twice the live ones before a compaction.
pub(super) const COMPACT_SLACK: usize = 1024;

/// Live rows as `(chunk, row)` locations and the partition id of each.
type LiveRows = (Vec<(usize, usize)>, Vec<u32>);

/// "No entry" in a location table.
const NONE: u32 = u32::MAX;

/// Retained rows per partition, for bounded frames: chunks of `[ts: Int64, inputs...]`
/// columns, and per partition one contiguous range of one chunk, oldest row first.
#[derive(Debug, Default)]
pub(super) struct RowStore {
    chunks: Vec<Vec<ArrayRef>>,
    /// Per partition id: `(chunk, first row, rows)`.
    ranges: Vec<(u32, u32, u32)>,
    /// Rows in all chunks.
    stored: usize,
    /// Rows referenced by some range.
    live: usize,
}

impl RowStore {
    /// The retained rows of partition `pid`: `(chunk, first row, rows)`.
    pub(super) fn range(&self, pid: u32) -> (usize, usize, usize) {
        match self.ranges.get(pid as usize) {
            Some(&(c, s, n)) => (c as usize, s as usize, n as usize),
            None => (0, 0, 0),
        }
    }

    /// Number of chunks (the first `interleave` sources of a step's work columns).
    pub(super) fn num_chunks(&self) -> usize {
        self.chunks.len()
    }

    /// Rows referenced by some partition.
    pub(super) fn live(&self) -> usize {
        self.live
    }

    /// The event times of chunk `chunk`.
    ///
    /// # Errors
    /// No such chunk, or its first column is not `Int64` (a malformed restore).
    pub(super) fn ts(&self, chunk: usize) -> Result<&[i64]> {
        self.chunks
            .get(chunk)
            .and_then(|c| c.first())
            .and_then(|a| a.as_primitive_opt::<Int64Type>())
            .map(|a| a.values().as_ref())
            .ok_or_else(|| Error::Internal(format!("over aggregate: row chunk {chunk} missing")))
    }

    /// Column `col` (0 = ts, 1.. = inputs) of every chunk, as `interleave` sources.
    pub(super) fn sources(&self, col: usize) -> Result<Vec<&dyn Array>> {
        self.chunks
            .iter()
            .map(|c| {
                c.get(col).map(|a| a.as_ref()).ok_or_else(|| {
                    Error::Internal(format!("over aggregate: row chunk has no column {col}"))
                })
            })
            .collect()
    }

    /// Replaces the retained rows of the partitions `pids` with the work positions
    /// `keep[j]` (a range) of `work` columns (`ts` and the input columns), one new chunk.
    ///
    /// # Errors
    /// Arrow errors from `take`.
    pub(super) fn replace(
        &mut self,
        pids: &[u32],
        keep: &[(usize, usize)],
        ts: &[i64],
        work: &[ArrayRef],
    ) -> Result<()> {
        let total: usize = keep.iter().map(|&(a, b)| b - a).sum();
        let chunk = self.chunks.len() as u32;
        let needed = pids.iter().map(|&p| p as usize + 1).max().unwrap_or(0);
        if self.ranges.len() < needed {
            self.ranges.resize(needed, (0, 0, 0));
        }
        let mut idx: Vec<u32> = Vec::with_capacity(total);
        for (&p, &(a, b)) in pids.iter().zip(keep) {
            let old = &mut self.ranges[p as usize];
            self.live -= old.2 as usize;
            *old = (chunk, idx.len() as u32, (b - a) as u32);
            self.live += b - a;
            idx.extend(a as u32..b as u32);
        }
        if total > 0 {
            let times: Int64Array = idx.iter().map(|&i| ts[i as usize]).collect();
            let idx = UInt32Array::from(idx);
            let mut columns: Vec<ArrayRef> = Vec::with_capacity(work.len() + 1);
            columns.push(Arc::new(times));
            for c in work {
                columns.push(take(c.as_ref(), &idx, None)?);
            }
            self.chunks.push(columns);
            self.stored += total;
        }
        Ok(())
    }

    /// Whether enough rows are dead to compact.
    pub(super) fn wants_compaction(&self) -> bool {
        self.stored > 2 * self.live + COMPACT_SLACK
    }

    /// Every live row, partitions in id order, rows oldest first, skipping rows with
    /// `ts <= expired_to`: `(chunk, row)` each and the partition id of each.
    pub(super) fn live_rows(&self, expired_to: Option<i64>) -> Result<LiveRows> {
        let mut at = Vec::with_capacity(self.live);
        let mut pids = Vec::with_capacity(self.live);
        for (p, &(c, s, n)) in self.ranges.iter().enumerate() {
            if n == 0 {
                continue;
            }
            let (c, s, n) = (c as usize, s as usize, n as usize);
            let skip = match expired_to {
                Some(cut) => self
                    .ts(c)?
                    .get(s..s + n)
                    .map_or(0, |t| t.partition_point(|&t| t <= cut)),
                None => 0,
            };
            for r in s + skip..s + n {
                at.push((c, r));
                pids.push(p as u32);
            }
        }
        Ok((at, pids))
    }

    /// The rows at `at` (as from [`RowStore::live_rows`]), every column.
    pub(super) fn gather(&self, at: &[(usize, usize)], width: usize) -> Result<Vec<ArrayRef>> {
        (0..width)
            .map(|c| Ok(interleave(&self.sources(c)?, at)?))
            .collect()
    }

    /// Rewrites the live rows (minus those with `ts <= expired_to`) into one chunk.
    ///
    /// # Errors
    /// Arrow errors from `interleave`.
    pub(super) fn compact(&mut self, expired_to: Option<i64>, width: usize) -> Result<()> {
        let (at, pids) = self.live_rows(expired_to)?;
        let columns = if at.is_empty() {
            Vec::new()
        } else {
            self.gather(&at, width)?
        };
        self.set_all(&pids, columns);
        Ok(())
    }

    /// Replaces everything with one chunk whose rows belong to `pids` (grouped by id,
    /// oldest first within a partition).
    fn set_all(&mut self, pids: &[u32], columns: Vec<ArrayRef>) {
        for r in &mut self.ranges {
            *r = (0, 0, 0);
        }
        let mut i = 0;
        while i < pids.len() {
            let p = pids[i];
            let mut j = i + 1;
            while j < pids.len() && pids[j] == p {
                j += 1;
            }
            if self.ranges.len() <= p as usize {
                self.ranges.resize(p as usize + 1, (0, 0, 0));
            }
            self.ranges[p as usize] = (0, i as u32, (j - i) as u32);
            i = j;
        }
        self.chunks = if pids.is_empty() {
            Vec::new()
        } else {
            vec![columns]
        };
        self.stored = pids.len();
        self.live = pids.len();
    }

    /// Loads restored rows (`[ts, inputs...]` columns) of the partitions `pids` (one per row;
    /// a partition's rows oldest first, not necessarily adjacent) into an empty store.
    ///
    /// # Errors
    /// The store is not empty, the columns do not match, or Arrow errors.
    pub(super) fn load(&mut self, pids: &[u32], columns: &[ArrayRef], width: usize) -> Result<()> {
        if pids.is_empty() {
            return Ok(());
        }
        if self.stored > 0 {
            return Err(Error::Internal(
                "over aggregate: rows restored into a store that has rows".into(),
            ));
        }
        if columns.len() != width || columns.iter().any(|c| c.len() != pids.len()) {
            return Err(Error::Internal(format!(
                "over aggregate: restored rows have {} columns, expected {width} of {} rows",
                columns.len(),
                pids.len()
            )));
        }
        // A stable grouping by partition id keeps each partition's order.
        let mut order: Vec<u32> = (0..pids.len() as u32).collect();
        order.sort_by_key(|&i| pids[i as usize]);
        let sorted: Vec<u32> = order.iter().map(|&i| pids[i as usize]).collect();
        let idx = UInt32Array::from(order);
        let mut restored: Vec<ArrayRef> = Vec::with_capacity(width);
        for c in columns {
            restored.push(take(c.as_ref(), &idx, None)?);
        }
        if restored
            .first()
            .and_then(|a| a.as_primitive_opt::<Int64Type>())
            .is_none()
        {
            return Err(Error::Internal(
                "over aggregate: restored rows have no Int64 time column".into(),
            ));
        }
        self.set_all(&sorted, restored);
        Ok(())
    }
}

/// A running value per partition (MIN/MAX/FIRST/LAST over an unbounded frame), null when
/// the partition has had no non-null value.
#[derive(Debug)]
pub(super) struct ValueStore {
    data_type: DataType,
    chunks: Vec<ArrayRef>,
    /// Per partition id: `(chunk, row)`, or `(NONE, 0)`.
    loc: Vec<(u32, u32)>,
    stored: usize,
}

impl ValueStore {
    /// An empty store of values of `data_type`.
    pub(super) fn new(data_type: DataType) -> Self {
        ValueStore {
            data_type,
            chunks: Vec::new(),
            loc: Vec::new(),
            stored: 0,
        }
    }

    /// The value of each partition of `pids` (null where there is none).
    ///
    /// # Errors
    /// Arrow errors from `interleave`.
    pub(super) fn gather(&self, pids: &[u32]) -> Result<ArrayRef> {
        let null = new_null_array(&self.data_type, 1);
        let mut sources: Vec<&dyn Array> = self.chunks.iter().map(|c| c.as_ref()).collect();
        let none = sources.len();
        sources.push(null.as_ref());
        let at: Vec<(usize, usize)> = pids
            .iter()
            .map(|&p| match self.loc.get(p as usize) {
                Some(&(c, r)) if c != NONE => (c as usize, r as usize),
                _ => (none, 0),
            })
            .collect();
        Ok(interleave(&sources, &at)?)
    }

    /// Sets the value of partition `pids[i]` to `values[i]`.
    ///
    /// # Errors
    /// Lengths differ, or Arrow errors from a compaction.
    pub(super) fn set(&mut self, pids: &[u32], values: ArrayRef) -> Result<()> {
        if pids.len() != values.len() {
            return Err(Error::Internal(format!(
                "over aggregate: {} values for {} partitions",
                values.len(),
                pids.len()
            )));
        }
        if pids.is_empty() {
            return Ok(());
        }
        let chunk = self.chunks.len() as u32;
        let n = pids.iter().map(|&p| p as usize + 1).max().unwrap_or(0);
        if self.loc.len() < n {
            self.loc.resize(n, (NONE, 0));
        }
        for (r, &p) in pids.iter().enumerate() {
            self.loc[p as usize] = (chunk, r as u32);
        }
        self.stored += values.len();
        self.chunks.push(values);
        if self.stored > 2 * self.loc.len() + COMPACT_SLACK {
            let all: Vec<u32> = (0..self.loc.len() as u32).collect();
            let merged = self.gather(&all)?;
            self.chunks = vec![merged];
            for (p, l) in self.loc.iter_mut().enumerate() {
                *l = (0, p as u32);
            }
            self.stored = self.loc.len();
        }
        Ok(())
    }
}
