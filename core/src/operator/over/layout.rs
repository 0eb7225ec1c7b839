//! The work layout of one processing step: every touched partition as one contiguous
//! *segment* of work positions, its retained rows first, then its new rows in `(ts, arrival)`
//! order, plus the frame `[lo, hi]` (work positions, inclusive) of every new row and the
//! [`walk`] driver that slides an aggregate's window over those frames.
//!
//! ```text
//!  work position: 0 ........................................................ W
//!                 │ seg 0: retained │ new rows │ seg 1: retained │ new rows │ ...
//!  frame of a new row i:        [lo[i] ....... hi[i]]   (lo, hi never decrease within a segment)
//! ```
//!
//! Because both ends of the frame only move forward within a segment, one pass per segment
//! with "add entering positions, remove leaving ones" visits every position at most twice:
//! `O(W)` per aggregate, whatever the frame size.

use super::store::RowStore;
use super::OverFrame;
use crate::error::{Error, Result};

/// One touched partition's span of work positions.
#[derive(Debug, Clone, Copy)]
pub(super) struct Seg {
    /// First work position (the first retained row, if any).
    pub(super) start: usize,
    /// First new row.
    pub(super) new_start: usize,
    /// Past the last new row.
    pub(super) end: usize,
}

/// The new rows of a step, as the layout needs them.
pub(super) struct NewRows<'a> {
    /// Event time per ready row (global row index: ready batches one after another).
    pub(super) ts: &'a [i64],
    /// Partition id per ready row.
    pub(super) pids: &'a [u32],
    /// Global row indices in output order (`(ts, arrival)`).
    pub(super) order: &'a [u32],
    /// `(ready batch, row)` per global row.
    pub(super) at: &'a [(usize, usize)],
}

/// Where every work position comes from and which frame each new row has.
#[derive(Debug, Default)]
pub(super) struct Layout {
    /// Partition id of each segment, in order of the partition's first output row.
    pub(super) touched: Vec<u32>,
    /// One segment per touched partition.
    pub(super) segs: Vec<Seg>,
    /// Per work position, its `interleave` source: `(chunk, row)` of the row store for
    /// retained rows, `(chunks + ready batch, row)` for new rows.
    pub(super) src: Vec<(usize, usize)>,
    /// Per work position, the output row of a new row (`u32::MAX` for retained rows).
    pub(super) out_of: Vec<u32>,
    /// Per work position, the event time.
    pub(super) ts: Vec<i64>,
    /// Per new row's work position, the first position of its frame.
    pub(super) lo: Vec<u32>,
    /// Per new row's work position, the last position of its frame.
    pub(super) hi: Vec<u32>,
}

impl Layout {
    /// Lays out the new rows after the retained rows of their partitions and computes the
    /// frames. `local_of` is scratch (every entry `u32::MAX` on entry and on return) of at
    /// least `partitions` entries.
    ///
    /// # Errors
    /// More than `u32::MAX` work positions, or a malformed row store.
    pub(super) fn build(
        new: &NewRows<'_>,
        rows: &RowStore,
        local_of: &mut Vec<u32>,
        partitions: usize,
        frame: OverFrame,
    ) -> Result<Layout> {
        if local_of.len() < partitions {
            local_of.resize(partitions, u32::MAX);
        }
        let mut l = Layout::default();
        let mut counts: Vec<usize> = Vec::new();
        for &g in new.order {
            let p = new.pids[g as usize];
            let slot = &mut local_of[p as usize];
            if *slot == u32::MAX {
                *slot = l.touched.len() as u32;
                l.touched.push(p);
                counts.push(0);
            }
            counts[*slot as usize] += 1;
        }
        let mut start = 0usize;
        for (&p, &n) in l.touched.iter().zip(&counts) {
            let (_, _, kept) = rows.range(p);
            let seg = Seg {
                start,
                new_start: start + kept,
                end: start + kept + n,
            };
            start = seg.end;
            l.segs.push(seg);
        }
        let work = start;
        if u32::try_from(work).is_err() {
            for &p in &l.touched {
                local_of[p as usize] = u32::MAX;
            }
            return Err(Error::Unsupported(format!(
                "over aggregate: {work} rows in one step (more than u32::MAX)"
            )));
        }
        l.src = vec![(0, 0); work];
        l.out_of = vec![u32::MAX; work];
        l.ts = vec![0; work];
        // Retained rows: their store location and time.
        for (seg, &p) in l.segs.iter().zip(&l.touched) {
            let (chunk, first, kept) = rows.range(p);
            if kept == 0 {
                continue;
            }
            let times = rows.ts(chunk)?;
            let times = times.get(first..first + kept).ok_or_else(|| {
                Error::Internal(format!(
                    "over aggregate: row range {first}+{kept} out of chunk"
                ))
            })?;
            l.ts[seg.start..seg.new_start].copy_from_slice(times);
            for (i, s) in l.src[seg.start..seg.new_start].iter_mut().enumerate() {
                *s = (chunk, first + i);
            }
        }
        // New rows: output order within a partition is its processing order.
        let chunks = rows.num_chunks();
        let mut cursor: Vec<usize> = l.segs.iter().map(|s| s.new_start).collect();
        for (o, &g) in new.order.iter().enumerate() {
            let g = g as usize;
            let j = local_of[new.pids[g] as usize] as usize;
            let w = cursor[j];
            cursor[j] += 1;
            let (b, r) = new.at[g];
            l.src[w] = (chunks + b, r);
            l.ts[w] = new.ts[g];
            l.out_of[w] = o as u32;
        }
        for &p in &l.touched {
            local_of[p as usize] = u32::MAX;
        }
        l.bounds(frame);
        Ok(l)
    }

    /// The frame of every new row.
    fn bounds(&mut self, frame: OverFrame) {
        let work = self.ts.len();
        self.lo = vec![0; work];
        self.hi = vec![0; work];
        for seg in &self.segs {
            match frame {
                OverFrame::Rows { preceding } => {
                    let n = preceding.map(|n| usize::try_from(n).unwrap_or(usize::MAX));
                    for i in seg.new_start..seg.end {
                        let lo = n.map_or(seg.start, |n| i.saturating_sub(n).max(seg.start));
                        self.lo[i] = lo as u32;
                        self.hi[i] = i as u32;
                    }
                }
                OverFrame::Range { preceding_ms } => {
                    // Peers (equal times) share a frame end; retained rows are older than
                    // every new row, so peers are all new rows of this step.
                    let mut peer = seg.new_start;
                    let mut lo = seg.start;
                    for i in seg.new_start..seg.end {
                        let t = self.ts[i];
                        peer = peer.max(i);
                        while peer + 1 < seg.end && self.ts[peer + 1] == t {
                            peer += 1;
                        }
                        self.hi[i] = peer as u32;
                        if let Some(d) = preceding_ms {
                            let from = t.saturating_sub(d);
                            // Stops at i at the latest: ts[i] = t >= from (d >= 0).
                            while self.ts[lo] < from {
                                lo += 1;
                            }
                        }
                        self.lo[i] = lo as u32;
                    }
                }
            }
        }
    }

    /// Number of output rows.
    pub(super) fn output_rows(&self) -> usize {
        self.segs.iter().map(|s| s.end - s.new_start).sum()
    }
}

/// An aggregate's state while its window slides over one segment.
pub(super) trait Window {
    /// Segment `seg` starts: reset, or load the partition's running state (unbounded frames).
    fn begin(&mut self, seg: usize);
    /// Work position `pos` enters the window.
    fn add(&mut self, pos: usize);
    /// Work position `pos` (the oldest in the window) leaves it.
    fn remove(&mut self, pos: usize);
    /// The window is the frame of the new row that goes to output row `out`.
    fn emit(&mut self, out: usize);
    /// Segment `seg` is done: keep the partition's running state (unbounded frames).
    fn end(&mut self, seg: usize);
}

/// Slides `w` over the frame of every new row of every segment, in order.
pub(super) fn walk<W: Window>(layout: &Layout, w: &mut W) {
    for (j, seg) in layout.segs.iter().enumerate() {
        w.begin(j);
        // The window holds positions [lo, hi).
        let (mut lo, mut hi) = (seg.start, seg.start);
        for i in seg.new_start..seg.end {
            let (from, to) = (layout.lo[i] as usize, layout.hi[i] as usize + 1);
            while hi < to {
                w.add(hi);
                hi += 1;
            }
            while lo < from {
                w.remove(lo);
                lo += 1;
            }
            w.emit(layout.out_of[i] as usize);
        }
        w.end(j);
    }
}
