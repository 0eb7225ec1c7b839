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
//! **Checkpoint**: the retained batches of each side go into the keyed tables `left` and
//! `right` (the input columns as they arrived, filed by the key group of the join key; key
//! groups are computed once per retained batch, at the first snapshot that holds it). A
//! restore re-encodes the keys of the rows it receives and rebuilds the hash table; each
//! key's rows keep their order, so later matches come out in the same order.
//!
//! **Watermarks** are forwarded unchanged; nothing is emitted on a watermark or at the end.
//! Output rows keep both inputs' time columns, but they are not event-time attributes
//! downstream (an old row can match a new one at any time).
//!
//! **Complexity**: per input row one hash lookup plus one output row per match; per output
//! batch one `take` and one `interleave` per column.

use arrow::record_batch::RecordBatch;

use super::state::{check_tables, restored_rows, SIDE_TABLES};
use super::{side_of, take_rows, Gather, JoinInputs, KeyIndex, Prepared};
use crate::checkpoint::OperatorState;
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
    /// Key groups of the first retained batches of each side, filled in by snapshots:
    /// retained batches never change, so each is hashed for a checkpoint only once.
    key_groups: [Vec<Vec<u32>>; 2],
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
            key_groups: [Vec::new(), Vec::new()],
        })
    }

    /// The id the next retained batch of `side` gets.
    fn next_batch_id(&self, side: usize) -> Result<u32> {
        u32::try_from(self.batches[side].len()).map_err(|_| {
            Error::Internal("regular join: more than u32::MAX retained batches".into())
        })
    }

    /// Keep a prepared batch of `side` and index its rows (restore: no probe).
    fn keep(&mut self, side: usize, p: Prepared) -> Result<()> {
        let batch_id = self.next_batch_id(side)?;
        let n = p.batch.num_rows();
        for i in 0..n {
            self.index
                .get_or_insert_with(p.hashes[i], p.keys.row(i).data(), Default::default)[side]
                .push((batch_id, i as u32));
        }
        self.rows[side] += n;
        self.batches[side].push(p.batch);
        Ok(())
    }

    /// Rows kept in state, per side (left, right).
    pub fn state_rows(&self) -> [usize; 2] {
        self.rows
    }

    /// Distinct keys in state.
    pub fn num_keys(&self) -> usize {
        self.index.len()
    }

    /// Approximate heap bytes held: retained batches, the key index, and the key groups
    /// cached for checkpoints.
    pub fn state_bytes(&self) -> usize {
        let batches: usize = self
            .batches
            .iter()
            .flatten()
            .map(|b| b.get_array_memory_size())
            .sum();
        let locs = (self.rows[0] + self.rows[1]) * size_of::<RowLoc>();
        let key_groups: usize = self
            .key_groups
            .iter()
            .flatten()
            .map(|g| g.len() * size_of::<u32>())
            .sum();
        batches + locs + key_groups + self.index.size_bytes()
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
        let batch_id = self.next_batch_id(side)?;
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

    /// Keyed tables `left` and `right`: the retained batches of each side.
    fn snapshot(&mut self, _checkpoint_id: u64, ctx: &mut OpContext) -> Result<OperatorState> {
        let mut state = OperatorState::new();
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            let cache = &mut self.key_groups[side];
            for b in &self.batches[side][cache.len()..] {
                cache.push(self.inputs.key_groups(side, b, ctx.max_parallelism)?);
            }
            for (b, kg) in self.batches[side].iter().zip(cache.iter()) {
                state.push_keyed(*name, kg.clone(), b)?;
            }
        }
        Ok(state)
    }

    fn restore(&mut self, state: OperatorState, _ctx: &mut OpContext) -> Result<()> {
        check_tables(&state, "regular join")?;
        for (side, name) in SIDE_TABLES.iter().enumerate() {
            for batch in restored_rows(&state, name)? {
                let p = self.inputs.prepare(side, batch, None)?;
                if p.batch.num_rows() > 0 {
                    self.keep(side, p)?;
                }
            }
        }
        Ok(())
    }
}
