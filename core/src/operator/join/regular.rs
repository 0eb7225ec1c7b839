//! [`RegularJoin`]: the SQL regular (unbounded) inner equi-join, insert-only.
//!
//! **Semantics** (Flink SQL `SELECT * FROM a JOIN b ON a.k = b.k` without time
//! constraints, as `StreamingJoinOperator` on insert-only inputs): every row that arrives
//! is probed against every row the other side has ever sent, the matches are emitted at
//! once, and the row is then kept forever. Each matching pair is emitted exactly once, when
//! the later of its two rows arrives. No retractions: inputs and output are append-only.
//!
//! **State**: every input batch of both sides (rows with null keys removed), plus one hash
//! table from key bytes to the `(batch, row)` locations of each side's rows of that key.
//! State grows without bound, as in Flink without a state TTL.
//!
//! **Watermarks** are forwarded unchanged; nothing is emitted on a watermark or at the end.
//! Output rows keep both inputs' time columns, but they are not event-time attributes
//! downstream (an old row can match a new one at any time).
//!
//! **Complexity**: per input row one hash lookup plus one output row per match; per output
//! batch one `take` and one `interleave` per column.

use arrow::record_batch::RecordBatch;

use super::{side_of, take_rows, Gather, JoinInputs, KeyIndex};
use crate::error::{Error, Result};
use crate::operator::{OpContext, Operator, Output};

/// A row location: (batch index in its side's list, row).
type RowLoc = (u32, u32);

/// Unbounded inner equi-join of two insert-only streams.
///
/// # Example
/// ```
/// use millstream_core::operator::join::RegularJoin;
/// let _join = RegularJoin::new(vec!["auction".into()], vec!["id".into()])?;
/// # Ok::<(), millstream_core::Error>(())
/// ```
pub struct RegularJoin {
    inputs: JoinInputs,
    batches: [Vec<RecordBatch>; 2],
    index: KeyIndex<[Vec<RowLoc>; 2]>,
    rows: [usize; 2],
}

impl RegularJoin {
    /// Join left rows with right rows where `left_keys = right_keys` (pairwise, same
    /// types).
    ///
    /// # Errors
    /// No key columns, or different numbers on the two sides.
    pub fn new(left_keys: Vec<String>, right_keys: Vec<String>) -> Result<Self> {
        Ok(RegularJoin {
            inputs: JoinInputs::new(
                "regular join",
                left_keys,
                right_keys,
                None,
                None,
                Vec::new(),
            )?,
            batches: [Vec::new(), Vec::new()],
            index: KeyIndex::new(),
            rows: [0, 0],
        })
    }

    /// Rows kept in state, per side (left, right).
    pub fn state_rows(&self) -> [usize; 2] {
        self.rows
    }

    /// Distinct keys in state.
    pub fn num_keys(&self) -> usize {
        self.index.len()
    }

    /// Approximate heap bytes held: retained batches and the key index.
    pub fn state_bytes(&self) -> usize {
        let batches: usize = self
            .batches
            .iter()
            .flatten()
            .map(|b| b.get_array_memory_size())
            .sum();
        let locs = (self.rows[0] + self.rows[1]) * size_of::<RowLoc>();
        batches + locs + self.index.size_bytes()
    }
}

impl Operator for RegularJoin {
    fn on_batch(
        &mut self,
        input: usize,
        batch: RecordBatch,
        _ctx: &mut OpContext,
        out: &mut Output,
    ) -> Result<()> {
        let side = side_of(input, "regular join")?;
        let other = 1 - side;
        if batch.num_rows() == 0 {
            return Ok(());
        }
        let p = self.inputs.prepare(side, batch, None)?;
        let n = p.batch.num_rows();
        if n == 0 {
            return Ok(());
        }
        let batch_id = u32::try_from(self.batches[side].len()).map_err(|_| {
            Error::Internal("regular join: more than u32::MAX retained batches".into())
        })?;
        let mut probe: Vec<u32> = Vec::new();
        let mut found: Vec<RowLoc> = Vec::new();
        for i in 0..n {
            let slot =
                self.index
                    .get_or_insert_with(p.hashes[i], p.keys.row(i).data(), Default::default);
            for &loc in &slot[other] {
                probe.push(i as u32);
                found.push(loc);
            }
            slot[side].push((batch_id, i as u32));
        }
        self.rows[side] += n;
        if !probe.is_empty() {
            let probe_cols = take_rows(&p.batch, &probe)?;
            let stored = &self.batches[other];
            let mut gather = Gather::new();
            for &(b, r) in &found {
                gather.push(b, r as usize, |b| stored.get(b as usize))?;
            }
            let other_cols = gather.finish()?;
            let (left, right) = if side == 0 {
                (probe_cols, other_cols)
            } else {
                (other_cols, probe_cols)
            };
            out.emit(self.inputs.assemble(left, right, Vec::new())?);
        }
        self.batches[side].push(p.batch);
        Ok(())
    }
}
