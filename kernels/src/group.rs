//! Dense group ids for grouped aggregation.
//!
//! [`GroupIndexer`] maps each row of the key columns to a group id in
//! `0..num_groups`, handing out new ids to new keys in order of first
//! appearance. Accumulators ([`crate::agg`]) then keep their state in plain
//! `Vec`s indexed by group id (DataFusion's `GroupValues` + `GroupsAccumulator`
//! split).
//!
//! Two implementations behind one type:
//! - **one integer-like key** (`Int*`, `UInt*`, `Date*`, `Time*`, `Duration`,
//!   `Timestamp`): a hash table of `(key, id)` pairs, the key widened to `i64`;
//!   the distinct keys are kept in a `Vec<i64>`;
//! - **two integer-like keys** ([`pair`]): `(i64, i64)` and a null mask inline in
//!   the table;
//! - **anything else** (composite keys, strings, floats, decimals): the keys
//!   are encoded with [`arrow::row`] into comparable byte rows, kept in one
//!   [`Rows`]; the table holds `(hash, id)` pairs and collisions are resolved by
//!   comparing row bytes.
//!
//! Nulls are a key like any other (SQL `GROUP BY`: all nulls form one group).
//! Float keys are normalised first (`-0.0` → `0.0`, one NaN), so values that
//! compare equal form one group.

use std::hash::BuildHasher;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, AsArray, PrimitiveArray};
use arrow::buffer::{NullBuffer, ScalarBuffer};
use arrow::compute::kernels::arity::unary;
use arrow::datatypes::*;
use arrow::row::{RowConverter, Rows, SortField};
use hashbrown::hash_table::{Entry, HashTable};
use hashbrown::DefaultHashBuilder;

use crate::dispatch_types::with_int_type;
use crate::error::{KernelError, Result};
use crate::hash::{hash_columns, is_hashable};

/// Maps rows of key columns to dense group ids.
///
/// # Example
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::{ArrayRef, AsArray, Int64Array, StringArray};
/// # use arrow::datatypes::{DataType, Int64Type};
/// use millstream_kernels::group::GroupIndexer;
/// let mut groups = GroupIndexer::new(&[DataType::Int64])?;
/// let mut ids = Vec::new();
/// let keys: ArrayRef = Arc::new(Int64Array::from(vec![7, 3, 7]));
/// groups.intern(&[keys], &mut ids)?;
/// assert_eq!(ids, vec![0, 1, 0]);
/// let keys: ArrayRef = Arc::new(Int64Array::from(vec![5, 3]));
/// groups.intern(&[keys], &mut ids)?;
/// assert_eq!(ids, vec![2, 1]);
/// let distinct = groups.emit_keys()?;
/// assert_eq!(distinct[0].as_primitive::<Int64Type>().values(), &[7, 3, 5]);
/// # Ok::<(), millstream_kernels::KernelError>(())
/// ```
#[derive(Debug)]
pub struct GroupIndexer {
    key_types: Vec<DataType>,
    inner: Inner,
    /// Scratch space for row hashes, reused across batches.
    hashes: Vec<u64>,
}

#[derive(Debug)]
enum Inner {
    Int(IntGroups),
    Pair(pair::PairGroups),
    Rows(RowGroups),
}

/// One integer-like key column, widened to `i64`.
#[derive(Debug, Default)]
struct IntGroups {
    /// `(key, group id)`, hashed with `hasher`.
    table: HashTable<(i64, u32)>,
    /// hashbrown's default (foldhash): one multiply per key, against ahash's
    /// two plus a rotate. The table's layout never leaves the process, so it
    /// need not be `hash_columns`' hash; the switch took `intern` of 64K rows
    /// over 1K keys from 246 to 141 us (best of 2000).
    hasher: DefaultHashBuilder,
    /// The key of each group; 0 for the null group.
    keys: Vec<i64>,
    null_group: Option<u32>,
}

/// Any key columns, as `arrow::row` rows.
#[derive(Debug)]
struct RowGroups {
    converter: RowConverter,
    /// Row `i` is the key of group `i`.
    rows: Rows,
    /// `(hash, group id)`.
    table: HashTable<(u64, u32)>,
}

impl GroupIndexer {
    /// An indexer for keys of these types (at least one).
    ///
    /// # Errors
    /// [`KernelError::InvalidArgument`] for an empty key list (a global
    /// aggregate needs no indexer: every row is group 0);
    /// [`KernelError::UnsupportedType`] for a type that cannot be hashed or
    /// row-encoded.
    pub fn new(key_types: &[DataType]) -> Result<Self> {
        if key_types.is_empty() {
            return Err(KernelError::InvalidArgument(
                "group indexer: no key columns (a global aggregate uses group 0)".into(),
            ));
        }
        if let Some(bad) = key_types.iter().find(|t| !is_hashable(t)) {
            return Err(KernelError::unsupported("group indexer", bad));
        }
        let inner = match key_types {
            [t] if is_int_key(t) => Inner::Int(IntGroups::default()),
            [a, b] if is_int_key(a) && is_int_key(b) => Inner::Pair(pair::PairGroups::default()),
            _ => {
                let fields: Vec<SortField> = key_types
                    .iter()
                    .map(|t| SortField::new(t.clone()))
                    .collect();
                let converter = RowConverter::new(fields)?;
                let rows = converter.empty_rows(0, 0);
                Inner::Rows(RowGroups {
                    converter,
                    rows,
                    table: HashTable::new(),
                })
            }
        };
        Ok(Self {
            key_types: key_types.to_vec(),
            inner,
            hashes: Vec::new(),
        })
    }

    /// The key types this indexer was built for.
    pub fn key_types(&self) -> &[DataType] {
        &self.key_types
    }

    /// Maps each row of the key columns to a dense group id (`0..num_groups`),
    /// creating new ids for new keys in order of first appearance.
    /// `group_ids` is cleared, then gets one id per row.
    ///
    /// # Errors
    /// [`KernelError::InvalidArgument`] if the columns do not match the key
    /// types or differ in length, or the group count would pass `u32::MAX`;
    /// [`KernelError::Arrow`] if row encoding fails.
    pub fn intern(&mut self, keys: &[ArrayRef], group_ids: &mut Vec<u32>) -> Result<()> {
        self.intern_with_hashes(keys, None, group_ids)
    }

    /// [`intern`](Self::intern) reusing row hashes already computed by
    /// [`hash_columns`] over the same `keys` (e.g. for partitioning), which
    /// saves hashing twice on the general path. Other hashes give wrong
    /// groups. The integer paths ignore them: it hashes with a cheaper
    /// function than reading them back costs.
    ///
    /// # Errors
    /// As [`intern`](Self::intern), plus [`KernelError::InvalidArgument`] if
    /// `hashes` does not have one entry per row.
    pub fn intern_with_hashes(
        &mut self,
        keys: &[ArrayRef],
        hashes: Option<&[u64]>,
        group_ids: &mut Vec<u32>,
    ) -> Result<()> {
        group_ids.clear();
        let num_rows = self.check_keys(keys)?;
        if hashes.is_some_and(|h| h.len() != num_rows) {
            return Err(KernelError::InvalidArgument(format!(
                "group indexer: {} hashes for {num_rows} rows",
                hashes.map_or(0, |h| h.len())
            )));
        }
        if self.num_groups() + num_rows > u32::MAX as usize {
            return Err(KernelError::InvalidArgument(
                "group indexer: more than u32::MAX groups".into(),
            ));
        }
        group_ids.reserve(num_rows);
        match &mut self.inner {
            Inner::Int(groups) => {
                groups.intern(&keys[0], group_ids);
                Ok(())
            }
            Inner::Pair(groups) => {
                groups.intern(keys, group_ids);
                Ok(())
            }
            Inner::Rows(groups) => {
                let hashes = match hashes {
                    Some(h) => h,
                    None => {
                        hash_columns(keys, &mut self.hashes)?;
                        &self.hashes
                    }
                };
                groups.intern(keys, hashes, group_ids)
            }
        }
    }

    /// The number of distinct keys seen since creation or [`clear`](Self::clear).
    pub fn num_groups(&self) -> usize {
        match &self.inner {
            Inner::Int(groups) => groups.keys.len(),
            Inner::Pair(groups) => groups.num_groups(),
            Inner::Rows(groups) => groups.rows.num_rows(),
        }
    }

    /// The distinct keys as arrays, in group-id order (row `i` = group `i`).
    ///
    /// # Errors
    /// [`KernelError::Arrow`] if decoding rows fails.
    pub fn emit_keys(&self) -> Result<Vec<ArrayRef>> {
        match &self.inner {
            Inner::Int(groups) => Ok(vec![groups.emit(&self.key_types[0])]),
            Inner::Pair(groups) => Ok(groups.emit(&self.key_types)),
            Inner::Rows(groups) => Ok(groups.converter.convert_rows(groups.rows.iter())?),
        }
    }

    /// Heap bytes held (capacity, not length).
    pub fn size_bytes(&self) -> usize {
        let inner = match &self.inner {
            Inner::Int(groups) => {
                groups.table.allocation_size() + groups.keys.capacity() * size_of::<i64>()
            }
            Inner::Pair(groups) => groups.size_bytes(),
            Inner::Rows(groups) => {
                groups.table.allocation_size() + groups.rows.size() + groups.converter.size()
            }
        };
        inner + self.hashes.capacity() * size_of::<u64>()
    }

    /// Forgets every group (ids restart at 0), keeping allocations for reuse.
    pub fn clear(&mut self) {
        match &mut self.inner {
            Inner::Int(groups) => {
                groups.table.clear();
                groups.keys.clear();
                groups.null_group = None;
            }
            Inner::Pair(groups) => groups.clear(),
            Inner::Rows(groups) => {
                groups.table.clear();
                groups.rows.clear();
            }
        }
    }

    /// Checks `keys` against the key types; returns the row count.
    fn check_keys(&self, keys: &[ArrayRef]) -> Result<usize> {
        if keys.len() != self.key_types.len() {
            return Err(KernelError::InvalidArgument(format!(
                "group indexer: {} key columns, expected {}",
                keys.len(),
                self.key_types.len()
            )));
        }
        let num_rows = keys[0].len();
        for (i, (key, expected)) in keys.iter().zip(&self.key_types).enumerate() {
            if key.data_type() != expected {
                return Err(KernelError::InvalidArgument(format!(
                    "group indexer: key column {i} is {}, expected {expected}",
                    key.data_type()
                )));
            }
            if key.len() != num_rows {
                return Err(KernelError::InvalidArgument(format!(
                    "group indexer: key column {i} has {} rows, expected {num_rows}",
                    key.len()
                )));
            }
        }
        Ok(num_rows)
    }
}

/// A native integer that round-trips through `i64` (bit-cast for `u64`).
trait IntKey: ArrowNativeType {
    fn to_key(self) -> i64;
    fn from_key(key: i64) -> Self;
}

macro_rules! int_key {
    ($($t:ty),*) => {$(
        impl IntKey for $t {
            #[inline]
            fn to_key(self) -> i64 {
                self as i64
            }
            #[inline]
            fn from_key(key: i64) -> Self {
                key as $t
            }
        }
    )*};
}
int_key!(i8, i16, i32, i64, u8, u16, u32, u64);

/// Whether a lone key of this type takes the integer fast path: whether
/// `with_int_type!` has an arm for it, so the two cannot disagree.
fn is_int_key(data_type: &DataType) -> bool {
    fn has_arm<T: ArrowPrimitiveType>() -> bool {
        T::DATA_TYPE.is_primitive()
    }
    with_int_type!(data_type, T => has_arm::<T>(), else false)
}

impl IntGroups {
    fn intern(&mut self, keys: &ArrayRef, group_ids: &mut Vec<u32>) {
        with_int_type!(
            keys.data_type(),
            T => self.intern_typed(keys.as_primitive::<T>(), group_ids),
            else unreachable!("checked by GroupIndexer::check_keys")
        )
    }

    fn intern_typed<T>(&mut self, keys: &PrimitiveArray<T>, group_ids: &mut Vec<u32>)
    where
        T: ArrowPrimitiveType,
        T::Native: IntKey,
    {
        let values = keys.values();
        match keys.nulls().filter(|n| n.null_count() > 0) {
            // the common case, kept free of per-row null checks
            None => {
                for &v in values.iter() {
                    group_ids.push(self.find_or_insert(v.to_key()));
                }
            }
            Some(nulls) => {
                for (i, &v) in values.iter().enumerate() {
                    let id = if nulls.is_null(i) {
                        self.null_group()
                    } else {
                        self.find_or_insert(v.to_key())
                    };
                    group_ids.push(id);
                }
            }
        }
    }

    #[inline]
    fn find_or_insert(&mut self, key: i64) -> u32 {
        let hash = self.hasher.hash_one(key);
        // Look up first and insert out of line: in steady state nearly every
        // row hits, and `find` skips `entry`'s growth check.
        match self.table.find(hash, |&(k, _)| k == key) {
            Some(&(_, id)) => id,
            None => self.insert(key, hash),
        }
    }

    #[inline(never)]
    fn insert(&mut self, key: i64, hash: u64) -> u32 {
        // bounded by the u32::MAX check in intern_with_hashes
        let id = self.keys.len() as u32;
        self.keys.push(key);
        let hasher = &self.hasher;
        self.table
            .insert_unique(hash, (key, id), |&(k, _)| hasher.hash_one(k));
        id
    }

    fn null_group(&mut self) -> u32 {
        *self.null_group.get_or_insert_with(|| {
            let id = self.keys.len() as u32;
            self.keys.push(0);
            id
        })
    }

    fn emit(&self, data_type: &DataType) -> ArrayRef {
        with_int_type!(
            data_type,
            T => self.emit_typed::<T>(data_type),
            else unreachable!("only integer-like types take this path")
        )
    }

    fn emit_typed<T>(&self, data_type: &DataType) -> ArrayRef
    where
        T: ArrowPrimitiveType,
        T::Native: IntKey,
    {
        let values: ScalarBuffer<T::Native> =
            self.keys.iter().map(|&k| T::Native::from_key(k)).collect();
        let nulls = self
            .null_group
            .map(|g| NullBuffer::from_iter((0..self.keys.len()).map(|i| i != g as usize)));
        Arc::new(PrimitiveArray::<T>::new(values, nulls).with_data_type(data_type.clone()))
    }
}

impl RowGroups {
    fn intern(
        &mut self,
        keys: &[ArrayRef],
        hashes: &[u64],
        group_ids: &mut Vec<u32>,
    ) -> Result<()> {
        let normalised: Vec<ArrayRef> = keys.iter().map(normalise_floats).collect();
        let batch_rows = self.converter.convert_columns(&normalised)?;
        let Self { rows, table, .. } = self;
        for (i, &hash) in hashes.iter().enumerate() {
            let row = batch_rows.row(i);
            let entry = table.entry(
                hash,
                |&(h, id)| h == hash && rows.row(id as usize) == row,
                |&(h, _)| h,
            );
            let id = match entry {
                Entry::Occupied(e) => e.get().1,
                Entry::Vacant(e) => {
                    let id = rows.num_rows() as u32;
                    rows.push(row);
                    e.insert((hash, id));
                    id
                }
            };
            group_ids.push(id);
        }
        Ok(())
    }
}

/// Maps `-0.0` to `0.0` and every NaN to one NaN, so that the row encoding
/// (which orders by bits) agrees with float equality, as the hash does.
fn normalise_floats(array: &ArrayRef) -> ArrayRef {
    fn norm64(v: f64) -> f64 {
        if v == 0.0 {
            0.0
        } else if v.is_nan() {
            f64::NAN
        } else {
            v
        }
    }
    match array.data_type() {
        DataType::Float64 => Arc::new(unary::<Float64Type, _, Float64Type>(
            array.as_primitive(),
            norm64,
        )),
        DataType::Float32 => Arc::new(unary::<Float32Type, _, Float32Type>(
            array.as_primitive(),
            |v| norm64(v as f64) as f32,
        )),
        _ => Arc::clone(array),
    }
}

mod pair;
#[cfg(test)]
mod tests;
