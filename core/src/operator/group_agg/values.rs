//! Accumulators that look at values, not only sums: `MIN`/`MAX` and `DISTINCT`.
//!
//! - **`MIN`/`MAX` over an insert-only input** keep a running extreme per group: a typed
//!   `Vec` for primitives (numbers, decimals, temporals; floats in IEEE total order, as
//!   the window aggregates), and the value's [`arrow::row`] bytes for everything else
//!   (strings, booleans), whose byte order is the value order.
//! - **`MIN`/`MAX` over an updating input** must find the next extreme when the current one
//!   is retracted, so each group keeps the multiset of its values: a `BTreeMap` from the
//!   value's row bytes to its count (Flink's `MinWithRetractAccumulator` map). Its first /
//!   last key is the minimum / maximum.
//! - **`DISTINCT`** interns `(group id, value)` pairs with a
//!   [`GroupIndexer`] and counts rows per pair in a `Vec`; a pair going 0 → 1 adds the value
//!   to an inner `COUNT`/`SUM`/`AVG` accumulator and 1 → 0 retracts it. Pairs are never
//!   forgotten while the operator runs (their count drops to 0); a checkpoint writes only
//!   the live ones, so a restore compacts them.

use std::collections::BTreeMap;
use std::sync::Arc;

use arrow::array::{Array, ArrayRef, ArrowNativeTypeOp, PrimitiveArray, UInt32Array};
use arrow::compute::{cast, take};
use arrow::datatypes::*;
use arrow::row::{RowConverter, SortField};
use millstream_kernels::group::GroupIndexer;

use super::acc::{bad_state, for_each_row, input, primitive, spread, Acc, Rows, ValueCounts};
use crate::error::{Error, Result};

/// Calls `$body` with `$t` bound to the primitive Arrow type of `$dt` if `MIN`/`MAX` keep
/// it in a typed `Vec`, else evaluates `$other`.
macro_rules! with_min_max_type {
    ($dt:expr, $t:ident => $body:expr, else $other:expr) => {{
        use DataType::*;
        match $dt {
            Int8 => {
                type $t = Int8Type;
                $body
            }
            Int16 => {
                type $t = Int16Type;
                $body
            }
            Int32 => {
                type $t = Int32Type;
                $body
            }
            Int64 => {
                type $t = Int64Type;
                $body
            }
            UInt8 => {
                type $t = UInt8Type;
                $body
            }
            UInt16 => {
                type $t = UInt16Type;
                $body
            }
            UInt32 => {
                type $t = UInt32Type;
                $body
            }
            UInt64 => {
                type $t = UInt64Type;
                $body
            }
            Float32 => {
                type $t = Float32Type;
                $body
            }
            Float64 => {
                type $t = Float64Type;
                $body
            }
            Decimal128(_, _) => {
                type $t = Decimal128Type;
                $body
            }
            Date32 => {
                type $t = Date32Type;
                $body
            }
            Date64 => {
                type $t = Date64Type;
                $body
            }
            Time32(TimeUnit::Second) => {
                type $t = Time32SecondType;
                $body
            }
            Time32(TimeUnit::Millisecond) => {
                type $t = Time32MillisecondType;
                $body
            }
            Time64(TimeUnit::Microsecond) => {
                type $t = Time64MicrosecondType;
                $body
            }
            Time64(TimeUnit::Nanosecond) => {
                type $t = Time64NanosecondType;
                $body
            }
            Duration(TimeUnit::Second) => {
                type $t = DurationSecondType;
                $body
            }
            Duration(TimeUnit::Millisecond) => {
                type $t = DurationMillisecondType;
                $body
            }
            Duration(TimeUnit::Microsecond) => {
                type $t = DurationMicrosecondType;
                $body
            }
            Duration(TimeUnit::Nanosecond) => {
                type $t = DurationNanosecondType;
                $body
            }
            Timestamp(TimeUnit::Second, _) => {
                type $t = TimestampSecondType;
                $body
            }
            Timestamp(TimeUnit::Millisecond, _) => {
                type $t = TimestampMillisecondType;
                $body
            }
            Timestamp(TimeUnit::Microsecond, _) => {
                type $t = TimestampMicrosecondType;
                $body
            }
            Timestamp(TimeUnit::Nanosecond, _) => {
                type $t = TimestampNanosecondType;
                $body
            }
            _ => $other,
        }
    }};
}

/// Whether `MIN`/`MAX` support values of type `t`.
pub(super) fn min_max_supports(t: &DataType) -> bool {
    let other = matches!(
        t,
        DataType::Boolean | DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View
    );
    other || with_min_max_type!(t, _T => true, else false)
}

/// The `MIN` (or `MAX` when `max`) accumulator over `t`; `updating`: values get retracted.
pub(super) fn min_max(max: bool, t: &DataType, updating: bool) -> Result<Box<dyn Acc>> {
    if updating {
        let converter = RowConverter::new(vec![SortField::new(t.clone())])?;
        return Ok(if max {
            Box::new(Multiset::<true>::new(converter))
        } else {
            Box::new(Multiset::<false>::new(converter))
        });
    }
    macro_rules! prim {
        ($t:ty) => {
            if max {
                Box::new(PrimMinMax::<$t, true>::new(t)) as Box<dyn Acc>
            } else {
                Box::new(PrimMinMax::<$t, false>::new(t))
            }
        };
    }
    Ok(with_min_max_type!(t, T => prim!(T), else {
        let converter = RowConverter::new(vec![SortField::new(t.clone())])?;
        if max {
            Box::new(RowMinMax::<true>::new(converter))
        } else {
            Box::new(RowMinMax::<false>::new(converter))
        }
    }))
}

/// The error for a retraction reaching an insert-only accumulator.
fn no_retraction(what: &str) -> Error {
    Error::Internal(format!(
        "group aggregate {what}: retraction on an insert-only input"
    ))
}

/// A running `MIN`/`MAX` of a primitive type per group (insert-only input).
struct PrimMinMax<T: ArrowPrimitiveType, const MAX: bool> {
    data_type: DataType,
    values: Vec<T::Native>,
    seen: Vec<bool>,
}

impl<T: ArrowPrimitiveType, const MAX: bool> PrimMinMax<T, MAX> {
    fn new(data_type: &DataType) -> Self {
        PrimMinMax {
            data_type: data_type.clone(),
            values: Vec::new(),
            seen: Vec::new(),
        }
    }
}

impl<T: ArrowPrimitiveType, const MAX: bool> Acc for PrimMinMax<T, MAX> {
    fn grow(&mut self, num_groups: usize) {
        if self.values.len() < num_groups {
            self.values.resize(num_groups, T::Native::ZERO);
            self.seen.resize(num_groups, false);
        }
    }

    fn update(&mut self, values: Option<&ArrayRef>, rows: &Rows<'_>) -> Result<()> {
        if rows.weights.is_some() {
            return Err(no_retraction("MIN/MAX"));
        }
        let values = primitive::<T>("MIN/MAX", input("MIN/MAX", values, rows)?)?;
        self.grow(rows.num_groups);
        let data = values.values();
        let (best, seen) = (&mut self.values, &mut self.seen);
        for_each_row(rows, values.nulls(), |i, g, _| {
            let v = data[i];
            // total order for floats (`-0.0 < 0.0`, NaN largest), as arrow's min/max
            let better = if MAX {
                v.is_gt(best[g])
            } else {
                v.is_lt(best[g])
            };
            if better || !seen[g] {
                best[g] = v;
                seen[g] = true;
            }
        });
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let out: PrimitiveArray<T> = groups
            .iter()
            .map(|&g| self.seen[g as usize].then(|| self.values[g as usize]))
            .collect();
        Ok(Arc::new(out.with_data_type(self.data_type.clone())))
    }

    fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            self.seen[g as usize] = false;
        }
    }

    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(groups)?])
    }

    fn state_width(&self) -> usize {
        1
    }

    fn load_state(&mut self, groups: &[u32], state: &[ArrayRef], num_groups: usize) -> Result<()> {
        let [v] = state else {
            return Err(bad_state("MIN/MAX", state.len(), 1));
        };
        let v = primitive::<T>("MIN/MAX state", v)?;
        self.grow(num_groups);
        for (i, &g) in groups.iter().enumerate() {
            self.seen[g as usize] = v.is_valid(i);
            self.values[g as usize] = v.value(i);
        }
        Ok(())
    }

    fn value_counts(&self) -> Result<Option<ValueCounts>> {
        Ok(None)
    }

    fn load_value_counts(&mut self, _: &ValueCounts, _: usize) -> Result<()> {
        Err(bad_state("MIN/MAX", 1, 0))
    }
}

/// A running `MIN`/`MAX` per group kept as [`arrow::row`] bytes (insert-only input of a
/// non-primitive type: strings, booleans). Row bytes compare as the values do.
struct RowMinMax<const MAX: bool> {
    converter: RowConverter,
    /// Row bytes of each group's extreme (capacity reused when it changes).
    best: Vec<Vec<u8>>,
    seen: Vec<bool>,
}

impl<const MAX: bool> RowMinMax<MAX> {
    fn new(converter: RowConverter) -> Self {
        RowMinMax {
            converter,
            best: Vec::new(),
            seen: Vec::new(),
        }
    }

    fn apply(&mut self, values: &ArrayRef, rows: &Rows<'_>) -> Result<()> {
        let encoded = self
            .converter
            .convert_columns(std::slice::from_ref(values))?;
        self.grow(rows.num_groups);
        let (best, seen) = (&mut self.best, &mut self.seen);
        let nulls = values.logical_nulls();
        for_each_row(rows, nulls.as_ref(), |i, g, _| {
            let v = encoded.row(i).data();
            let better = if MAX {
                v > best[g].as_slice()
            } else {
                v < best[g].as_slice()
            };
            if better || !seen[g] {
                best[g].clear();
                best[g].extend_from_slice(v);
                seen[g] = true;
            }
        });
        Ok(())
    }
}

impl<const MAX: bool> Acc for RowMinMax<MAX> {
    fn grow(&mut self, num_groups: usize) {
        if self.best.len() < num_groups {
            self.best.resize_with(num_groups, Vec::new);
            self.seen.resize(num_groups, false);
        }
    }

    fn update(&mut self, values: Option<&ArrayRef>, rows: &Rows<'_>) -> Result<()> {
        if rows.weights.is_some() {
            return Err(no_retraction("MIN/MAX"));
        }
        self.apply(input("MIN/MAX", values, rows)?, rows)
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let parser = self.converter.parser();
        let present: Vec<bool> = groups.iter().map(|&g| self.seen[g as usize]).collect();
        let picked = groups
            .iter()
            .filter(|&&g| self.seen[g as usize])
            .map(|&g| parser.parse(&self.best[g as usize]));
        let dense = single(self.converter.convert_rows(picked)?)?;
        spread(dense, &present)
    }

    fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            self.seen[g as usize] = false;
        }
    }

    fn state(&self, groups: &[u32]) -> Result<Vec<ArrayRef>> {
        Ok(vec![self.evaluate(groups)?])
    }

    fn state_width(&self) -> usize {
        1
    }

    fn load_state(&mut self, groups: &[u32], state: &[ArrayRef], num_groups: usize) -> Result<()> {
        let [v] = state else {
            return Err(bad_state("MIN/MAX", state.len(), 1));
        };
        let rows = Rows {
            groups,
            weights: None,
            num_groups,
        };
        self.apply(v, &rows)
    }

    fn value_counts(&self) -> Result<Option<ValueCounts>> {
        Ok(None)
    }

    fn load_value_counts(&mut self, _: &ValueCounts, _: usize) -> Result<()> {
        Err(bad_state("MIN/MAX", 1, 0))
    }
}

/// The one column of a `convert_rows` result.
fn single(mut columns: Vec<ArrayRef>) -> Result<ArrayRef> {
    columns
        .pop()
        .ok_or_else(|| Error::Internal("group aggregate: row decoding gave no column".into()))
}

/// Retractable `MIN`/`MAX`: per group, the multiset of its non-null values as row bytes →
/// count. The first key is the minimum, the last the maximum.
struct Multiset<const MAX: bool> {
    converter: RowConverter,
    sets: Vec<BTreeMap<Box<[u8]>, i64>>,
}

impl<const MAX: bool> Multiset<MAX> {
    fn new(converter: RowConverter) -> Self {
        Multiset {
            converter,
            sets: Vec::new(),
        }
    }
}

impl<const MAX: bool> Acc for Multiset<MAX> {
    fn grow(&mut self, num_groups: usize) {
        if self.sets.len() < num_groups {
            self.sets.resize_with(num_groups, BTreeMap::new);
        }
    }

    fn update(&mut self, values: Option<&ArrayRef>, rows: &Rows<'_>) -> Result<()> {
        let values = input("MIN/MAX", values, rows)?;
        let encoded = self
            .converter
            .convert_columns(std::slice::from_ref(values))?;
        self.grow(rows.num_groups);
        let sets = &mut self.sets;
        let nulls = values.logical_nulls();
        for_each_row(rows, nulls.as_ref(), |i, g, add| {
            let key = encoded.row(i).data();
            let set = &mut sets[g];
            match set.get_mut(key) {
                Some(c) if add => *c += 1,
                None if add => {
                    set.insert(key.into(), 1);
                }
                Some(c) => {
                    *c -= 1;
                    if *c <= 0 {
                        set.remove(key);
                    }
                }
                // retracting a value the group does not hold: nothing to take back
                None => {}
            }
        });
        Ok(())
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        let parser = self.converter.parser();
        let mut present = Vec::with_capacity(groups.len());
        let mut picked = Vec::with_capacity(groups.len());
        for &g in groups {
            let set = &self.sets[g as usize];
            let extreme = if MAX {
                set.last_key_value()
            } else {
                set.first_key_value()
            };
            present.push(extreme.is_some());
            if let Some((k, _)) = extreme {
                picked.push(parser.parse(k));
            }
        }
        let dense = single(self.converter.convert_rows(picked)?)?;
        spread(dense, &present)
    }

    fn reset(&mut self, groups: &[u32]) {
        for &g in groups {
            self.sets[g as usize] = BTreeMap::new();
        }
    }

    fn state(&self, _: &[u32]) -> Result<Vec<ArrayRef>> {
        Ok(Vec::new())
    }

    fn state_width(&self) -> usize {
        0
    }

    fn load_state(&mut self, _: &[u32], state: &[ArrayRef], num_groups: usize) -> Result<()> {
        if !state.is_empty() {
            return Err(bad_state("MIN/MAX", state.len(), 0));
        }
        self.grow(num_groups);
        Ok(())
    }

    fn value_counts(&self) -> Result<Option<ValueCounts>> {
        let parser = self.converter.parser();
        let (mut groups, mut rows, mut counts) = (Vec::new(), Vec::new(), Vec::new());
        for (g, set) in self.sets.iter().enumerate() {
            for (k, &c) in set {
                groups.push(g as u32);
                rows.push(parser.parse(k));
                counts.push(c);
            }
        }
        let values = single(self.converter.convert_rows(rows)?)?;
        Ok(Some(ValueCounts {
            groups,
            values,
            counts,
        }))
    }

    fn load_value_counts(&mut self, vc: &ValueCounts, num_groups: usize) -> Result<()> {
        let encoded = self
            .converter
            .convert_columns(std::slice::from_ref(&vc.values))?;
        self.grow(num_groups);
        for (i, (&g, &c)) in vc.groups.iter().zip(&vc.counts).enumerate() {
            if c > 0 {
                *self.sets[g as usize]
                    .entry(encoded.row(i).data().into())
                    .or_insert(0) += c;
            }
        }
        Ok(())
    }
}

/// The `DISTINCT` form of `inner` (`COUNT(x)`, `SUM`, `AVG`) over values of type `t`.
///
/// # Errors
/// Values of type `t` cannot be interned.
pub(super) fn distinct(t: &DataType, inner: Box<dyn Acc>) -> Result<Box<dyn Acc>> {
    // The group indexer hashes no booleans: they are interned as Int8.
    let key_type = match t {
        DataType::Boolean => DataType::Int8,
        other => other.clone(),
    };
    Ok(Box::new(Distinct {
        pairs: GroupIndexer::new(&[DataType::UInt32, key_type.clone()])?,
        value_type: t.clone(),
        key_type,
        counts: Vec::new(),
        pair_group: Vec::new(),
        live: Vec::new(),
        inner,
        pair_ids: Vec::new(),
        effect: Vec::new(),
    }))
}

/// `inner` over the distinct non-null values of each group.
struct Distinct {
    /// `(group id, value)` → pair id.
    pairs: GroupIndexer,
    value_type: DataType,
    /// The type values are interned as.
    key_type: DataType,
    /// Live rows per pair.
    counts: Vec<i64>,
    /// Group of each pair.
    pair_group: Vec<u32>,
    /// Pairs of positive count per group.
    live: Vec<u32>,
    inner: Box<dyn Acc>,
    /// Scratch: pair id per row.
    pair_ids: Vec<u32>,
    /// Scratch: the weight each row passes to `inner` (a pair appearing or vanishing).
    effect: Vec<i8>,
}

impl Distinct {
    /// Intern the pairs of `groups` and the non-null `values` (null rows, such as the rows a
    /// `FILTER` folded into `CASE WHEN` leaves out, never count and get no pair: their slot
    /// in `pair_ids` is `u32::MAX`), growing the per-pair and per-group slots.
    fn intern(&mut self, groups: &[u32], values: &ArrayRef, num_groups: usize) -> Result<()> {
        let key = if self.key_type == self.value_type {
            values.clone()
        } else {
            cast(values.as_ref(), &self.key_type)?
        };
        match values.logical_nulls().filter(|n| n.null_count() > 0) {
            None => {
                let group_col: ArrayRef = Arc::new(UInt32Array::from(groups.to_vec()));
                self.pairs.intern(&[group_col, key], &mut self.pair_ids)?;
            }
            Some(nulls) => {
                let valid = UInt32Array::from_iter_values(nulls.valid_indices().map(|i| i as u32));
                let group_col: ArrayRef = Arc::new(UInt32Array::from_iter_values(
                    valid.values().iter().map(|&i| groups[i as usize]),
                ));
                let key = take(key.as_ref(), &valid, None)?;
                let mut ids = Vec::with_capacity(valid.len());
                self.pairs.intern(&[group_col, key], &mut ids)?;
                self.pair_ids.clear();
                self.pair_ids.resize(groups.len(), u32::MAX);
                for (&row, id) in valid.values().iter().zip(ids) {
                    self.pair_ids[row as usize] = id;
                }
            }
        }
        let n = self.pairs.num_groups();
        if self.counts.len() < n {
            self.counts.resize(n, 0);
            self.pair_group.resize(n, 0);
        }
        self.grow(num_groups);
        self.effect.clear();
        self.effect.resize(groups.len(), 0);
        Ok(())
    }
}

impl Acc for Distinct {
    fn grow(&mut self, num_groups: usize) {
        if self.live.len() < num_groups {
            self.live.resize(num_groups, 0);
        }
        self.inner.grow(num_groups);
    }

    fn update(&mut self, values: Option<&ArrayRef>, rows: &Rows<'_>) -> Result<()> {
        let values = input("DISTINCT", values, rows)?;
        self.intern(rows.groups, values, rows.num_groups)?;
        let (ids, counts, pair_group, live, effect) = (
            &self.pair_ids,
            &mut self.counts,
            &mut self.pair_group,
            &mut self.live,
            &mut self.effect,
        );
        let nulls = values.logical_nulls();
        for_each_row(rows, nulls.as_ref(), |i, g, add| {
            let p = ids[i] as usize;
            pair_group[p] = g as u32;
            let c = &mut counts[p];
            if add {
                *c += 1;
                if *c == 1 {
                    effect[i] = 1;
                    live[g] += 1;
                }
            } else if *c > 0 {
                *c -= 1;
                if *c == 0 {
                    effect[i] = -1;
                    live[g] -= 1;
                }
            }
        });
        let inner_rows = Rows {
            groups: rows.groups,
            weights: Some(&self.effect),
            num_groups: rows.num_groups,
        };
        self.inner.update(Some(values), &inner_rows)
    }

    fn evaluate(&self, groups: &[u32]) -> Result<ArrayRef> {
        self.inner.evaluate(groups)
    }

    fn reset(&mut self, groups: &[u32]) {
        self.inner.reset(groups);
        // Only malformed input (more retractions than rows) leaves live pairs in a group
        // whose row count dropped to zero: a scan over all pairs, rarely taken.
        if groups.iter().any(|&g| self.live[g as usize] > 0) {
            let mut hit = vec![false; self.live.len()];
            for &g in groups {
                hit[g as usize] = true;
                self.live[g as usize] = 0;
            }
            for (c, &g) in self.counts.iter_mut().zip(&self.pair_group) {
                if hit[g as usize] {
                    *c = 0;
                }
            }
        }
    }

    fn state(&self, _: &[u32]) -> Result<Vec<ArrayRef>> {
        // The inner state is recomputed from the pairs on restore.
        Ok(Vec::new())
    }

    fn state_width(&self) -> usize {
        0
    }

    fn load_state(&mut self, _: &[u32], state: &[ArrayRef], num_groups: usize) -> Result<()> {
        if !state.is_empty() {
            return Err(bad_state("DISTINCT", state.len(), 0));
        }
        self.grow(num_groups);
        Ok(())
    }

    fn value_counts(&self) -> Result<Option<ValueCounts>> {
        let live: Vec<u32> = (0..self.counts.len() as u32)
            .filter(|&p| self.counts[p as usize] > 0)
            .collect();
        let keys = self.pairs.emit_keys()?;
        let idx = UInt32Array::from(live.clone());
        let mut values = take(keys[1].as_ref(), &idx, None)?;
        if self.key_type != self.value_type {
            values = cast(values.as_ref(), &self.value_type)?;
        }
        Ok(Some(ValueCounts {
            groups: live.iter().map(|&p| self.pair_group[p as usize]).collect(),
            values,
            counts: live.iter().map(|&p| self.counts[p as usize]).collect(),
        }))
    }

    fn load_value_counts(&mut self, vc: &ValueCounts, num_groups: usize) -> Result<()> {
        self.intern(&vc.groups, &vc.values, num_groups)?;
        for (i, (&g, &c)) in vc.groups.iter().zip(&vc.counts).enumerate() {
            let p = self.pair_ids[i] as usize;
            self.pair_group[p] = g;
            if c > 0 && self.counts[p] == 0 {
                self.effect[i] = 1;
                self.live[g as usize] += 1;
            }
            self.counts[p] += c.max(0);
        }
        let rows = Rows {
            groups: &vc.groups,
            weights: Some(&self.effect),
            num_groups,
        };
        self.inner.update(Some(&vc.values), &rows)
    }
}
