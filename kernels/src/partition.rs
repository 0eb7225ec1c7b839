//! Splitting rows by target, for `key_by` and hash exchanges.
//!
//! Flink's scheme, kept so that state can be rescaled: a key's hash picks one
//! of `max_parallelism` *key groups* ([`key_group`]), and a contiguous range of
//! key groups belongs to each parallel operator instance
//! ([`operator_index_for_key_group`]). Changing the parallelism moves whole
//! key groups, never single keys.
//!
//! ```text
//! key columns ─hash_columns─▶ hashes ─assign_targets─▶ targets ─split_batch─▶ one batch per target
//! ```
//!
//! [`split_batch`] does one counting-sort pass ([`partition_indices`]) and one
//! `take` per non-empty target, so one channel send per target per batch.

use arrow::array::{RecordBatch, UInt32Array};
use arrow::compute::take_record_batch;

use crate::error::{KernelError, Result};

/// Flink's default maximum parallelism: the number of key groups.
pub const DEFAULT_MAX_PARALLELISM: usize = 128;

/// MurmurHash3's 64-bit finaliser (`fmix64`): mixes every input bit into the
/// low bits, which the modulo in [`key_group`] reads.
#[inline]
fn fmix64(mut k: u64) -> u64 {
    k ^= k >> 33;
    k = k.wrapping_mul(0xff51_afd7_ed55_8ccd);
    k ^= k >> 33;
    k = k.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    k ^ (k >> 33)
}

/// The key group (`0..max_parallelism`) of a key with this hash.
///
/// As Flink's `KeyGroupRangeAssignment.computeKeyGroupForKeyHash`: the hash is
/// first run through a murmur finaliser, then reduced modulo `max_parallelism`.
///
/// # Example
/// ```
/// use millstream_kernels::partition::{key_group, DEFAULT_MAX_PARALLELISM};
/// let g = key_group(12345, DEFAULT_MAX_PARALLELISM);
/// assert!(g < DEFAULT_MAX_PARALLELISM);
/// ```
///
/// # Panics
/// If `max_parallelism` is zero.
#[inline]
pub fn key_group(hash: u64, max_parallelism: usize) -> usize {
    (fmix64(hash) % max_parallelism as u64) as usize
}

/// The operator instance (`0..parallelism`) that owns `key_group`.
///
/// As Flink's `computeOperatorIndexForKeyGroup`:
/// `key_group * parallelism / max_parallelism`, so each instance owns a
/// contiguous range of key groups.
///
/// # Example
/// ```
/// use millstream_kernels::partition::operator_index_for_key_group;
/// assert_eq!(operator_index_for_key_group(128, 4, 0), 0);
/// assert_eq!(operator_index_for_key_group(128, 4, 31), 0);
/// assert_eq!(operator_index_for_key_group(128, 4, 32), 1);
/// assert_eq!(operator_index_for_key_group(128, 4, 127), 3);
/// ```
///
/// # Panics
/// If `max_parallelism` is zero.
#[inline]
pub fn operator_index_for_key_group(
    max_parallelism: usize,
    parallelism: usize,
    key_group: usize,
) -> usize {
    key_group * parallelism / max_parallelism
}

/// The target operator index of each row hash: [`key_group`] then
/// [`operator_index_for_key_group`], written to `out` (cleared first).
///
/// # Example
/// ```
/// use millstream_kernels::hash::hash_i64;
/// use millstream_kernels::partition::{assign_targets, DEFAULT_MAX_PARALLELISM};
/// let mut hashes = Vec::new();
/// hash_i64(&[1, 2, 3, 1], &mut hashes);
/// let mut targets = Vec::new();
/// assign_targets(&hashes, DEFAULT_MAX_PARALLELISM, 2, &mut targets);
/// assert_eq!(targets[0], targets[3]);
/// assert!(targets.iter().all(|&t| t < 2));
/// ```
///
/// # Panics
/// If `max_parallelism` is zero, or `parallelism` exceeds `u32::MAX`.
pub fn assign_targets(
    hashes: &[u64],
    max_parallelism: usize,
    parallelism: usize,
    out: &mut Vec<u32>,
) {
    assert!(max_parallelism > 0, "assign_targets: max_parallelism is 0");
    assert!(
        u32::try_from(parallelism).is_ok(),
        "assign_targets: parallelism too large"
    );
    out.clear();
    // The owner of each key group, looked up rather than divided per row.
    let owners: Vec<u32> = (0..max_parallelism)
        .map(|g| operator_index_for_key_group(max_parallelism, parallelism, g) as u32)
        .collect();
    if max_parallelism.is_power_of_two() {
        // Flink's default (128): the modulo is a mask, not a 64-bit division
        let mask = max_parallelism as u64 - 1;
        out.extend(hashes.iter().map(|&h| owners[(fmix64(h) & mask) as usize]));
    } else {
        out.extend(
            hashes
                .iter()
                .map(|&h| owners[key_group(h, max_parallelism)]),
        );
    }
}

/// The row indices for each target, by counting sort: `result[t]` lists the
/// rows `i` with `targets[i] == t`, in increasing order.
///
/// # Example
/// ```
/// use millstream_kernels::partition::partition_indices;
/// assert_eq!(partition_indices(&[1, 0, 1, 2], 3), vec![vec![1], vec![0, 2], vec![3]]);
/// ```
///
/// # Panics
/// If a target is `>= num_targets` (targets come from [`assign_targets`], so
/// that is a bug in the caller), or there are more than `u32::MAX` rows.
pub fn partition_indices(targets: &[u32], num_targets: usize) -> Vec<Vec<u32>> {
    let mut counts = vec![0usize; num_targets];
    for &t in targets {
        counts[t as usize] += 1;
    }
    let mut out: Vec<Vec<u32>> = counts.iter().map(|&c| Vec::with_capacity(c)).collect();
    for (row, &t) in targets.iter().enumerate() {
        out[t as usize].push(u32::try_from(row).expect("batches have at most u32::MAX rows"));
    }
    out
}

/// Splits `batch` by `targets` (one per row) into `num_targets` batches,
/// preserving row order within each; `None` for a target without rows.
///
/// When every row goes to one target, that target gets `batch` itself (a
/// cheap clone of reference-counted columns), not a copy.
///
/// # Example
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::{Int64Array, RecordBatch};
/// use millstream_kernels::partition::split_batch;
/// let keys = Arc::new(Int64Array::from(vec![10, 20, 30]));
/// let batch = RecordBatch::try_from_iter([("k", keys as _)])?;
/// let parts = split_batch(&batch, &[2, 0, 2], 3)?;
/// assert_eq!(parts[0].as_ref().unwrap().num_rows(), 1);
/// assert!(parts[1].is_none());
/// assert_eq!(parts[2].as_ref().unwrap().num_rows(), 2);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// [`KernelError::InvalidArgument`] if `targets` does not have one entry per
/// row or a target is `>= num_targets`; [`KernelError::Arrow`] if `take` fails.
pub fn split_batch(
    batch: &RecordBatch,
    targets: &[u32],
    num_targets: usize,
) -> Result<Vec<Option<RecordBatch>>> {
    if targets.len() != batch.num_rows() {
        return Err(KernelError::InvalidArgument(format!(
            "split_batch: {} targets for {} rows",
            targets.len(),
            batch.num_rows()
        )));
    }
    let max = targets.iter().copied().max().unwrap_or(0) as usize;
    if !targets.is_empty() && max >= num_targets {
        return Err(KernelError::InvalidArgument(format!(
            "split_batch: target {max} out of range for {num_targets} targets"
        )));
    }
    let mut out = vec![None; num_targets];
    let Some(&first) = targets.first() else {
        return Ok(out);
    };
    if targets.iter().all(|&t| t == first) {
        out[first as usize] = Some(batch.clone());
        return Ok(out);
    }
    for (slot, indices) in out.iter_mut().zip(partition_indices(targets, num_targets)) {
        if !indices.is_empty() {
            let indices = UInt32Array::from(indices);
            *slot = Some(take_record_batch(batch, &indices)?);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::{Array, ArrayRef, AsArray, Int64Array, StringArray};
    use arrow::compute::concat_batches;
    use arrow::datatypes::UInt32Type;
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn key_groups_are_spread() {
        // sequential hashes must not map to sequential groups only
        let mut counts = [0usize; DEFAULT_MAX_PARALLELISM];
        for h in 0..DEFAULT_MAX_PARALLELISM as u64 * 100 {
            counts[key_group(h * DEFAULT_MAX_PARALLELISM as u64, DEFAULT_MAX_PARALLELISM)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 50 && c < 150), "{counts:?}");
        assert_eq!(key_group(0, 1), 0);
    }

    #[test]
    fn operator_ranges_are_contiguous() {
        for p in 1..=DEFAULT_MAX_PARALLELISM {
            let owners: Vec<usize> = (0..DEFAULT_MAX_PARALLELISM)
                .map(|g| operator_index_for_key_group(DEFAULT_MAX_PARALLELISM, p, g))
                .collect();
            assert!(owners.windows(2).all(|w| w[0] <= w[1] && w[1] <= w[0] + 1));
            assert_eq!(owners[0], 0);
            assert_eq!(*owners.last().unwrap(), p - 1);
        }
    }

    #[test]
    fn split_one_target_is_no_copy() {
        let col: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 3]));
        let batch = RecordBatch::try_from_iter([("a", col.clone())]).unwrap();
        let parts = split_batch(&batch, &[1, 1, 1], 2).unwrap();
        assert!(parts[0].is_none());
        let only = parts[1].as_ref().unwrap();
        assert_eq!(
            only.column(0).to_data().buffers()[0].as_ptr(),
            col.to_data().buffers()[0].as_ptr()
        );
    }

    #[test]
    fn split_errors() {
        let batch =
            RecordBatch::try_from_iter([("a", Arc::new(Int64Array::from(vec![1, 2])) as ArrayRef)])
                .unwrap();
        assert!(split_batch(&batch, &[0], 2).is_err());
        assert!(split_batch(&batch, &[0, 2], 2).is_err());
        let empty = batch.slice(0, 0);
        assert!(split_batch(&empty, &[], 2)
            .unwrap()
            .iter()
            .all(Option::is_none));
    }

    proptest! {
        #[test]
        fn assign_targets_matches_definition(
            hashes in proptest::collection::vec(any::<u64>(), 0..100),
            max_parallelism in prop_oneof![Just(128usize), Just(1), 1usize..1000],
            parallelism in 1usize..20,
        ) {
            let mut targets = Vec::new();
            assign_targets(&hashes, max_parallelism, parallelism, &mut targets);
            for (&h, &t) in hashes.iter().zip(&targets) {
                let group = key_group(h, max_parallelism);
                let owner = operator_index_for_key_group(max_parallelism, parallelism, group);
                prop_assert_eq!(t as usize, owner);
            }
            prop_assert_eq!(targets.len(), hashes.len());
        }

        #[test]
        fn partition_indices_is_a_stable_partition(
            targets in proptest::collection::vec(0u32..5, 0..200),
        ) {
            let parts = partition_indices(&targets, 5);
            let mut seen = 0;
            for (t, rows) in parts.iter().enumerate() {
                prop_assert!(rows.windows(2).all(|w| w[0] < w[1]));
                prop_assert!(rows.iter().all(|&r| targets[r as usize] == t as u32));
                seen += rows.len();
            }
            prop_assert_eq!(seen, targets.len());
        }

        /// Concatenating the parts and re-sorting by original row index gives back the input.
        #[test]
        fn split_batch_round_trip(
            rows in proptest::collection::vec(
                (0u32..4, proptest::option::of("[a-c]{0,3}")),
                1..100,
            ),
        ) {
            let targets: Vec<u32> = rows.iter().map(|r| r.0).collect();
            let index: ArrayRef = Arc::new(UInt32Array::from_iter_values(0..rows.len() as u32));
            let strings: StringArray = rows.iter().map(|r| r.1.clone()).collect();
            let strings: ArrayRef = Arc::new(strings);
            let batch = RecordBatch::try_from_iter([("idx", index), ("s", strings)]).unwrap();
            let parts = split_batch(&batch, &targets, 4).unwrap();
            for (t, part) in parts.iter().enumerate() {
                if let Some(part) = part {
                    let idx = part.column(0).as_primitive::<UInt32Type>();
                    prop_assert!(idx.values().iter().all(|&i| targets[i as usize] == t as u32));
                    prop_assert!(idx.values().windows(2).all(|w| w[0] < w[1]));
                }
            }
            let parts: Vec<RecordBatch> = parts.into_iter().flatten().collect();
            let joined = concat_batches(&batch.schema(), &parts).unwrap();
            let order: Vec<u32> = {
                let idx = joined.column(0).as_primitive::<UInt32Type>();
                let mut order: Vec<u32> = (0..idx.len() as u32).collect();
                order.sort_by_key(|&i| idx.value(i as usize));
                order
            };
            let restored = take_record_batch(&joined, &UInt32Array::from(order)).unwrap();
            prop_assert_eq!(restored, batch);
        }
    }
}
