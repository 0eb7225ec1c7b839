//! Deterministic, vectorised row hashing.
//!
//! [`hash_columns`] computes one `u64` per row from any number of key columns,
//! one pass per column: column 0 is hashed on its own, every later column is
//! hashed *together with* the running row hash (`hash_one((prev, value))`,
//! which is how `Hash` composes values, rather than an ad-hoc mixing formula).
//!
//! The hash function is [`ahash`] with fixed seeds, so the same rows hash the
//! same in every run and every process of the same build. Key groups
//! ([`crate::partition::key_group`]) and therefore state placement depend on
//! that. ahash does not promise stability across its own versions or across
//! CPU feature sets (it uses AES instructions when compiled with the `aes`
//! target feature), so every process of one job must run the same binary;
//! the `golden_values` test pins the values of the default build.
//!
//! Value normalisation, so that rows that compare equal hash equal:
//! - integer types (and Date, Time, Duration, Timestamp) hash their value
//!   widened to 64 bits, so `Int32 7` and `Int64 7` hash the same;
//! - floats hash the bits of the value widened to `f64`, with `-0.0` mapped to
//!   `0.0` and every NaN mapped to one canonical NaN;
//! - `Utf8`, `LargeUtf8`, `Utf8View`, `Binary`, `LargeBinary` and `BinaryView`
//!   hash their bytes, so the same string hashes the same in every layout;
//! - a null hashes to [`NULL_HASH`] (combined like any value in later columns).

use std::hash::{BuildHasher, Hash, Hasher};

use ahash::RandomState;
use arrow::array::{Array, ArrayAccessor, ArrayRef, AsArray, GenericByteArray, PrimitiveArray};
use arrow::datatypes::ByteArrayType;
use arrow::datatypes::*;

use crate::error::{KernelError, Result};

/// The hasher, with fixed seeds (the first hexadecimal digits of pi).
static STATE: RandomState = RandomState::with_seeds(
    0x243F_6A88_85A3_08D3,
    0x1319_8A2E_0370_7344,
    0xA409_3822_299F_31D0,
    0x082E_FA98_EC4E_6C89,
);

/// The hash of a null in the first key column.
pub const NULL_HASH: u64 = 0x4528_21E6_38D0_1377;

/// Bits of the one NaN every NaN is hashed as.
const CANONICAL_NAN: u64 = 0x7FF8_0000_0000_0000;

/// Hashes one `i64` exactly as [`hash_i64`] does.
#[inline]
pub(crate) fn hash_one_i64(v: i64) -> u64 {
    STATE.hash_one(v as u64)
}

/// Hashes each row of `columns` into `out` (cleared first): one `u64` per row.
///
/// Equal rows give equal hashes, whatever the arrays' offsets, buffers or
/// string layout. See the [module docs](self) for the normalisation rules.
///
/// Zero columns give zero hashes.
///
/// # Example
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::{ArrayRef, Int64Array, StringArray};
/// use millstream_kernels::hash::{hash_columns, hash_i64};
/// let ids: ArrayRef = Arc::new(Int64Array::from(vec![1, 2, 1]));
/// let names: ArrayRef = Arc::new(StringArray::from(vec!["a", "b", "a"]));
/// let mut hashes = Vec::new();
/// hash_columns(&[ids, names], &mut hashes)?;
/// assert_eq!(hashes[0], hashes[2]);
/// assert_ne!(hashes[0], hashes[1]);
///
/// let mut single = Vec::new();
/// hash_i64(&[1, 2, 1], &mut single);
/// assert_ne!(single, hashes); // the second column changed the hashes
/// # Ok::<(), millstream_kernels::KernelError>(())
/// ```
///
/// # Errors
/// [`KernelError::UnsupportedType`] for a column of a type without a hash
/// (lists, structs, dictionaries, ...); [`KernelError::InvalidArgument`] if the
/// columns differ in length. `out` holds unspecified values after an error.
///
/// # See also
/// [`hash_i64`] for the common single-`i64` case without an `ArrayRef`.
pub fn hash_columns(columns: &[ArrayRef], out: &mut Vec<u64>) -> Result<()> {
    out.clear();
    let Some(first) = columns.first() else {
        return Ok(());
    };
    let len = first.len();
    if let Some(bad) = columns.iter().find(|c| c.len() != len) {
        return Err(KernelError::InvalidArgument(format!(
            "hash_columns: columns differ in length ({len} and {})",
            bad.len()
        )));
    }
    out.resize(len, 0);
    for (i, column) in columns.iter().enumerate() {
        hash_column(column.as_ref(), out, i == 0)?;
    }
    Ok(())
}

/// Hashes `values` into `out` (cleared first), one hash per value.
///
/// Gives the same result as [`hash_columns`] on a single `Int64` column with
/// these values and no nulls.
///
/// # Example
/// ```
/// # use std::sync::Arc;
/// # use arrow::array::{ArrayRef, Int64Array};
/// use millstream_kernels::hash::{hash_columns, hash_i64};
/// let mut a = Vec::new();
/// hash_i64(&[3, -7], &mut a);
/// let mut b = Vec::new();
/// hash_columns(&[Arc::new(Int64Array::from(vec![3, -7])) as ArrayRef], &mut b)?;
/// assert_eq!(a, b);
/// # Ok::<(), millstream_kernels::KernelError>(())
/// ```
pub fn hash_i64(values: &[i64], out: &mut Vec<u64>) {
    out.clear();
    out.extend(values.iter().map(|&v| hash_one_i64(v)));
}

/// Whether [`hash_columns`] can hash a column of this type.
pub fn is_hashable(data_type: &DataType) -> bool {
    use DataType::*;
    matches!(
        data_type,
        Null | Boolean
            | Int8
            | Int16
            | Int32
            | Int64
            | UInt8
            | UInt16
            | UInt32
            | UInt64
            | Float32
            | Float64
            | Date32
            | Date64
            | Time32(_)
            | Time64(_)
            | Duration(_)
            | Timestamp(_, _)
            | Decimal128(_, _)
            | Utf8
            | LargeUtf8
            | Utf8View
            | Binary
            | LargeBinary
            | BinaryView
    )
}

/// Maps a float to the bits it is hashed as.
#[inline]
fn float_key(v: f64) -> u64 {
    if v == 0.0 {
        0
    } else if v.is_nan() {
        CANONICAL_NAN
    } else {
        v.to_bits()
    }
}

/// Hashes one column into `out`, on its own (`first`) or combined with `out`.
fn hash_column(array: &dyn Array, out: &mut [u64], first: bool) -> Result<()> {
    use DataType::*;
    macro_rules! prim {
        ($t:ty, $key:expr) => {
            hash_primitive(array.as_primitive::<$t>(), out, first, $key)
        };
    }
    match array.data_type() {
        Null => out.iter_mut().for_each(|h| *h = null_hash(*h, first)),
        Boolean => {
            let a = array.as_boolean();
            hash_rows(a.len(), a.nulls(), out, first, |i| a.value(i) as u64)
        }
        Int8 => prim!(Int8Type, |v| v as i64 as u64),
        Int16 => prim!(Int16Type, |v| v as i64 as u64),
        Int32 => prim!(Int32Type, |v| v as i64 as u64),
        Int64 => prim!(Int64Type, |v| v as u64),
        UInt8 => prim!(UInt8Type, |v| v as u64),
        UInt16 => prim!(UInt16Type, |v| v as u64),
        UInt32 => prim!(UInt32Type, |v| v as u64),
        UInt64 => prim!(UInt64Type, |v| v),
        Float32 => prim!(Float32Type, |v| float_key(v as f64)),
        Float64 => prim!(Float64Type, float_key),
        Date32 => prim!(Date32Type, |v| v as i64 as u64),
        Date64 => prim!(Date64Type, |v| v as u64),
        Time32(TimeUnit::Second) => prim!(Time32SecondType, |v| v as i64 as u64),
        Time32(TimeUnit::Millisecond) => prim!(Time32MillisecondType, |v| v as i64 as u64),
        Time64(TimeUnit::Microsecond) => prim!(Time64MicrosecondType, |v| v as u64),
        Time64(TimeUnit::Nanosecond) => prim!(Time64NanosecondType, |v| v as u64),
        Duration(TimeUnit::Second) => prim!(DurationSecondType, |v| v as u64),
        Duration(TimeUnit::Millisecond) => prim!(DurationMillisecondType, |v| v as u64),
        Duration(TimeUnit::Microsecond) => prim!(DurationMicrosecondType, |v| v as u64),
        Duration(TimeUnit::Nanosecond) => prim!(DurationNanosecondType, |v| v as u64),
        Timestamp(TimeUnit::Second, _) => prim!(TimestampSecondType, |v| v as u64),
        Timestamp(TimeUnit::Millisecond, _) => prim!(TimestampMillisecondType, |v| v as u64),
        Timestamp(TimeUnit::Microsecond, _) => prim!(TimestampMicrosecondType, |v| v as u64),
        Timestamp(TimeUnit::Nanosecond, _) => prim!(TimestampNanosecondType, |v| v as u64),
        Decimal128(_, _) => prim!(Decimal128Type, |v| v),
        Utf8 => hash_offset_bytes(array.as_string::<i32>(), out, first),
        LargeUtf8 => hash_offset_bytes(array.as_string::<i64>(), out, first),
        Utf8View => hash_bytes(array.as_string_view(), out, first),
        Binary => hash_offset_bytes(array.as_binary::<i32>(), out, first),
        LargeBinary => hash_offset_bytes(array.as_binary::<i64>(), out, first),
        BinaryView => hash_bytes(array.as_binary_view(), out, first),
        other => return Err(KernelError::unsupported("hash_columns", other)),
    }
    Ok(())
}

/// The hash of a null: [`NULL_HASH`] in the first column, else combined.
#[inline]
fn null_hash(prev: u64, first: bool) -> u64 {
    if first {
        NULL_HASH
    } else {
        STATE.hash_one((prev, NULL_HASH))
    }
}

/// Hashes a primitive column; `key` maps a value to what is hashed.
#[inline]
fn hash_primitive<T, K>(
    array: &PrimitiveArray<T>,
    out: &mut [u64],
    first: bool,
    key: impl Fn(T::Native) -> K,
) where
    T: ArrowPrimitiveType,
    K: Hash,
{
    let values = array.values();
    if array.null_count() == 0 {
        // The fast path: a tight loop over the values slice, branch-free.
        if first {
            for (h, &v) in out.iter_mut().zip(values.iter()) {
                *h = STATE.hash_one(key(v));
            }
        } else {
            for (h, &v) in out.iter_mut().zip(values.iter()) {
                *h = STATE.hash_one((*h, key(v)));
            }
        }
    } else {
        hash_rows(array.len(), array.nulls(), out, first, |i| key(values[i]));
    }
}

/// Hashes a column of byte strings (any string or binary layout).
fn hash_bytes<A>(array: A, out: &mut [u64], first: bool)
where
    A: ArrayAccessor,
    A::Item: AsRef<[u8]>,
{
    hash_rows(array.len(), array.nulls(), out, first, |i| {
        Bytes(array.value(i))
    });
}

/// Hashes a `Utf8`/`LargeUtf8`/`Binary`/`LargeBinary` column; as
/// [`hash_bytes`], but walks the offsets directly when there are no nulls.
fn hash_offset_bytes<T: ByteArrayType>(array: &GenericByteArray<T>, out: &mut [u64], first: bool) {
    let data = array.value_data();
    let offsets = array.value_offsets();
    let value = |i: usize| &data[offsets[i].as_usize()..offsets[i + 1].as_usize()];
    if array.null_count() > 0 {
        return hash_rows(array.len(), array.nulls(), out, first, |i| Bytes(value(i)));
    }
    // Same hashes as `hash_one(Bytes(..))` and `hash_one((prev, Bytes(..)))`,
    // spelled out: written with `hash_one` and `get` this loop ran 1.4x slower
    // (537 vs 380 us per 64K 4-20 byte strings), and indexing the offsets
    // (bounds checks) instead of `windows(2)` 1.1x slower.
    let windows = offsets.windows(2);
    let bytes = |w: &[T::Offset]| &data[w[0].as_usize()..w[1].as_usize()];
    if first {
        for (h, w) in out.iter_mut().zip(windows) {
            let mut hasher = STATE.build_hasher();
            hasher.write(bytes(w));
            *h = hasher.finish();
        }
    } else {
        for (h, w) in out.iter_mut().zip(windows) {
            let mut hasher = STATE.build_hasher();
            hasher.write_u64(*h);
            hasher.write(bytes(w));
            *h = hasher.finish();
        }
    }
}

/// Hashes a byte string. The bytes go to [`Hasher::write`] without a length
/// prefix: ahash folds the length into every `write`, and a byte string is
/// always the last thing hashed, so no two rows can run together.
///
/// [`Hasher::write`]: std::hash::Hasher::write
struct Bytes<B>(B);

impl<B: AsRef<[u8]>> Hash for Bytes<B> {
    #[inline]
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write(self.0.as_ref());
    }
}

/// Hashes rows `0..len` through `key(i)`, honouring `nulls`.
#[inline]
fn hash_rows<K: Hash>(
    len: usize,
    nulls: Option<&arrow::buffer::NullBuffer>,
    out: &mut [u64],
    first: bool,
    key: impl Fn(usize) -> K,
) {
    let out = &mut out[..len];
    match nulls.filter(|n| n.null_count() > 0) {
        None if first => {
            for (i, h) in out.iter_mut().enumerate() {
                *h = STATE.hash_one(key(i));
            }
        }
        None => {
            for (i, h) in out.iter_mut().enumerate() {
                *h = STATE.hash_one((*h, key(i)));
            }
        }
        Some(nulls) => {
            for (i, h) in out.iter_mut().enumerate() {
                *h = match (nulls.is_valid(i), first) {
                    (true, true) => STATE.hash_one(key(i)),
                    (true, false) => STATE.hash_one((*h, key(i))),
                    (false, _) => null_hash(*h, first),
                };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use arrow::array::*;
    use proptest::prelude::*;

    use super::*;

    fn hashes(columns: &[ArrayRef]) -> Vec<u64> {
        let mut out = vec![99; 3];
        hash_columns(columns, &mut out).unwrap();
        out
    }

    #[test]
    fn hash_i64_matches_hash_columns() {
        let values = vec![0, 1, -1, i64::MIN, i64::MAX, 42];
        let mut a = Vec::new();
        hash_i64(&values, &mut a);
        assert_eq!(a, hashes(&[Arc::new(Int64Array::from(values)) as ArrayRef]));
    }

    /// Pins the hash values: if this fails, the hash changed (ahash version or
    /// CPU features), and so would every key group of saved state.
    #[cfg(not(target_feature = "aes"))]
    #[test]
    fn golden_values() {
        let mut out = Vec::new();
        hash_i64(&[0, 1, -1], &mut out);
        let strings = hashes(&[Arc::new(StringArray::from(vec!["", "millstream"]))]);
        let expected_i64 = [
            0x316c_40f7_f6b8_c2f5,
            0x529d_a7d3_8b28_b11a,
            0xc3f6_f89a_eda1_b27a,
        ];
        let expected_str = [0xd178_c240_70e5_7fc5, 0x39ba_2cdb_ff59_de03];
        if out != expected_i64 || strings != expected_str {
            panic!("hash values changed: {out:#x?} {strings:#x?}");
        }
    }

    #[test]
    fn empty_and_mismatched() {
        assert!(hashes(&[]).is_empty());
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1, 2]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let mut out = Vec::new();
        assert!(matches!(
            hash_columns(&[a, b], &mut out),
            Err(KernelError::InvalidArgument(_))
        ));
        let list: ArrayRef = Arc::new(ListArray::from_iter_primitive::<Int32Type, _, _>(vec![
            Some(vec![Some(1)]),
        ]));
        assert!(matches!(
            hash_columns(&[list], &mut out),
            Err(KernelError::UnsupportedType { .. })
        ));
    }

    #[test]
    fn nulls_hash_to_constant() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![None, Some(0)]));
        let s: ArrayRef = Arc::new(StringArray::from(vec![None, Some("")]));
        let h = hashes(std::slice::from_ref(&a));
        assert_eq!(h[0], NULL_HASH);
        assert_ne!(h[1], NULL_HASH);
        assert_eq!(hashes(std::slice::from_ref(&s))[0], NULL_HASH);
        // in a later column a null is combined, not a constant
        let both = hashes(&[s, a]);
        assert_ne!(both[0], both[1]);
    }

    #[test]
    fn floats_normalised() {
        let a: ArrayRef = Arc::new(Float64Array::from(vec![
            0.0,
            -0.0,
            f64::NAN,
            -f64::NAN,
            1.5,
        ]));
        let h = hashes(&[a]);
        assert_eq!(h[0], h[1]);
        assert_eq!(h[2], h[3]);
        assert_ne!(h[0], h[2]);
        let f32s: ArrayRef = Arc::new(Float32Array::from(vec![0.0, -0.0, f32::NAN, 1.5]));
        let h32 = hashes(&[f32s]);
        assert_eq!(h32, vec![h[0], h[0], h[2], h[4]]);
    }

    #[test]
    fn layouts_and_widths_agree() {
        let v = vec![
            Some("a"),
            None,
            Some("a much longer string than twelve bytes"),
        ];
        let utf8 = hashes(&[Arc::new(StringArray::from(v.clone()))]);
        assert_eq!(utf8, hashes(&[Arc::new(LargeStringArray::from(v.clone()))]));
        assert_eq!(utf8, hashes(&[Arc::new(StringViewArray::from(v.clone()))]));
        let bytes: Vec<Option<&[u8]>> = v.iter().map(|s| s.map(str::as_bytes)).collect();
        assert_eq!(utf8, hashes(&[Arc::new(BinaryArray::from(bytes))]));

        let i64s = hashes(&[Arc::new(Int64Array::from(vec![-3, 5]))]);
        assert_eq!(i64s, hashes(&[Arc::new(Int32Array::from(vec![-3, 5]))]));
        assert_eq!(i64s, hashes(&[Arc::new(Int8Array::from(vec![-3, 5]))]));
        assert_eq!(
            i64s,
            hashes(&[Arc::new(TimestampMillisecondArray::from(vec![-3, 5]))])
        );
        let b = hashes(&[Arc::new(BooleanArray::from(vec![false, true]))]);
        assert_eq!(b, hashes(&[Arc::new(UInt8Array::from(vec![0, 1]))]));
    }

    #[test]
    fn column_order_matters() {
        let a: ArrayRef = Arc::new(Int64Array::from(vec![1]));
        let b: ArrayRef = Arc::new(Int64Array::from(vec![2]));
        assert_ne!(hashes(&[a.clone(), b.clone()]), hashes(&[b, a]));
    }

    /// One random row: (i64, string, f64), each possibly null.
    type Row = (Option<i64>, Option<String>, Option<f64>);

    fn columns(rows: &[Row], view: bool) -> Vec<ArrayRef> {
        let ints: ArrayRef = Arc::new(rows.iter().map(|r| r.0).collect::<Int64Array>());
        let strs: ArrayRef = if view {
            Arc::new(
                rows.iter()
                    .map(|r| r.1.clone())
                    .collect::<StringViewArray>(),
            )
        } else {
            Arc::new(rows.iter().map(|r| r.1.clone()).collect::<StringArray>())
        };
        let floats: ArrayRef = Arc::new(rows.iter().map(|r| r.2).collect::<Float64Array>());
        vec![ints, strs, floats]
    }

    fn row() -> impl Strategy<Value = Row> {
        (
            proptest::option::of(-3i64..3),
            proptest::option::of("[ab]{0,2}|[a-z]{13,20}"),
            proptest::option::of(prop_oneof![
                Just(0.0),
                Just(-0.0),
                Just(f64::NAN),
                Just(1.0)
            ]),
        )
    }

    proptest! {
        /// Equal rows hash equal, whether or not they sit in the same arrays,
        /// at the same offsets, or in the same string layout.
        #[test]
        fn equal_rows_equal_hashes(
            a in proptest::collection::vec(row(), 1..40),
            b in proptest::collection::vec(row(), 1..40),
            skip in 0usize..5,
        ) {
            let mut ha = Vec::new();
            hash_columns(&columns(&a, false), &mut ha).unwrap();
            // b is built as a view array and sliced, so offsets differ too
            let mut padded = vec![(None, None, None); skip];
            padded.extend(b.iter().cloned());
            let cols: Vec<ArrayRef> = columns(&padded, true)
                .iter()
                .map(|c| c.slice(skip, b.len()))
                .collect();
            let mut hb = Vec::new();
            hash_columns(&cols, &mut hb).unwrap();
            let same = |x: &Row, y: &Row| {
                x.0 == y.0 && x.1 == y.1 && match (x.2, y.2) {
                    (Some(p), Some(q)) => p == q || (p.is_nan() && q.is_nan()),
                    (p, q) => p.is_none() && q.is_none(),
                }
            };
            for (i, x) in a.iter().enumerate() {
                for (j, y) in b.iter().enumerate() {
                    if same(x, y) {
                        prop_assert_eq!(ha[i], hb[j], "rows {:?} and {:?}", x, y);
                    }
                }
            }
        }
    }
}
