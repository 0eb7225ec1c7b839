//! `'connector' = 'datagen'`: Flink's data generator, random or sequence values per column.
//!
//! Row `n` is a pure function of `(seed, column, n)`, generated in blocks shared out among
//! the subtasks as the Nexmark generator does (module `generator`), so the rows do not
//! depend on the parallelism and a checkpointed position is a block and a cursor. Random
//! timestamps are the exception: as in Flink they trail the wall clock (`now - random(0,
//! max-past)`), so event-time windows over a datagen table advance as the job runs.
//!
//! Differences from Flink: random values are reproducible (option `seed`, default 42;
//! Flink's are not); a table ends at `number-of-rows` or when its shortest sequence ends
//! (Flink ends at the first sequence end too); sequences of `TIMESTAMP` (step one
//! millisecond, `start`/`end` as `'2020-01-01 00:00:00.000'` or epoch milliseconds) and `DATE`
//! (step one day) are extensions.

mod parse;

use std::ops::Range;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::array::{
    ArrayRef, BooleanBuilder, Date32Builder, Decimal128Builder, Float32Builder, Float64Builder,
    Int16Builder, Int32Builder, Int64Builder, Int8Builder, RecordBatch, RecordBatchOptions,
    StringBuilder, TimestampMillisecondBuilder,
};
use arrow::datatypes::SchemaRef;
use millstream_core::connector::{
    SinkFactoryRef, Source, SourceContext, SourceFactory, SourceFactoryRef, SourcePoll,
};
use millstream_core::error::{Error, Result};
use millstream_core::sql::{SqlType, TableConnector, TableDef};

use super::{check_options, parse_option, u64_option};
use crate::generator::{below, mix64, unit, Blocks, Stream, Throttle};
use parse::{duration_ms, int_range, sequence_value, unscaled};

/// Flink's default `rows-per-second`.
const DEFAULT_ROWS_PER_SECOND: u64 = 10_000;
/// Flink's default length of random strings.
const DEFAULT_STRING_LENGTH: u64 = 100;
const FIELD_KEYS: &[&str] = &[
    "kind",
    "min",
    "max",
    "max-past",
    "length",
    "var-len",
    "start",
    "end",
    "null-rate",
];
const SUPPORTED: &[&str] = &[
    "number-of-rows",
    "rows-per-second",
    "seed",
    "fields.<column>.kind",
    "fields.<column>.min",
    "fields.<column>.max",
    "fields.<column>.max-past",
    "fields.<column>.length",
    "fields.<column>.var-len",
    "fields.<column>.start",
    "fields.<column>.end",
    "fields.<column>.null-rate",
];

/// The `datagen` connector (Flink's): `number-of-rows` (bounded when set),
/// `rows-per-second` (wall-clock throttle, default 10,000 as in Flink), `seed` (default 42),
/// and per column `fields.<col>.kind` = `random` (default) or `sequence`, with
/// `min`/`max` (numbers), `length` and `var-len` (strings, default length 100), `max-past`
/// (timestamps and dates: how far before now, e.g. `5s`), `start`/`end` (sequences) and
/// `null-rate` (random values).
///
/// Types: `BOOLEAN`, `TINYINT` to `BIGINT`, `FLOAT`, `DOUBLE`, `DECIMAL`, `CHAR`, `VARCHAR`,
/// `STRING`, `DATE`, `TIMESTAMP` and `TIMESTAMP_LTZ`.
///
/// # Example
/// ```
/// use std::collections::BTreeMap;
/// use millstream_connectors::sql::DataGenConnector;
/// use millstream_core::connector::{SourceContext, SourcePoll};
/// use millstream_core::sql::{Column, SqlType, TableConnector, TableDef};
///
/// let t = TableDef {
///     name: "t".into(),
///     columns: vec![Column::new("id", SqlType::BigInt), Column::new("v", SqlType::Int)],
///     watermark: None,
///     primary_key: vec![],
///     partitioned_by: vec![],
///     options: BTreeMap::from([
///         ("connector".into(), "datagen".into()),
///         ("fields.id.kind".into(), "sequence".into()),
///         ("fields.id.start".into(), "1".into()),
///         ("fields.id.end".into(), "10".into()),
///         ("fields.v.min".into(), "0".into()),
///         ("fields.v.max".into(), "9".into()),
///     ]),
/// };
/// let source = DataGenConnector.source(&t, &["id".to_string(), "v".to_string()])?;
/// let ctx = SourceContext { subtask: 0, parallelism: 1, batch: Default::default() };
/// let mut rows = 0;
/// let mut s = source.create(&ctx)?;
/// loop {
///     match s.poll()? {
///         SourcePoll::Batch(b) => rows += b.num_rows(),
///         SourcePoll::Pending(d) => std::thread::sleep(d),
///         SourcePoll::End => break,
///     }
/// }
/// assert_eq!(rows, 10);
/// # Ok::<(), millstream_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DataGenConnector;

/// How one column's values are made.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    /// Uniform integers in `[min, max]` (also the unscaled values of a `DECIMAL`).
    Int { min: i128, max: i128 },
    /// Uniform floating point in `[min, max]`.
    Float { min: f64, max: f64 },
    /// A coin flip.
    Bool,
    /// Hex digits, `length` of them (`1..=length` with `var_len`).
    Text { length: u64, var_len: bool },
    /// `now - uniform(0..=max_past)` milliseconds (a timestamp or the date of one).
    Recent { max_past_ms: u64 },
    /// `start + n`, for `n` below `end - start + 1`.
    Sequence { start: i128, end: i128 },
}

/// One generated column.
#[derive(Debug, Clone)]
struct Field {
    ty: SqlType,
    kind: Kind,
    null_rate: f64,
    /// The random stream of the values (keyed by the column's declared index).
    values: Stream,
    /// The random stream of the null flags.
    nulls: Stream,
}

/// The checked options of a table.
#[derive(Debug, Clone)]
struct Spec {
    /// Every declared column, in order.
    fields: Vec<Field>,
    rows: u64,
    rows_per_second: Option<u64>,
}

fn plan_err(table: &TableDef, msg: String) -> Error {
    Error::Plan(format!("table '{}': {msg}", table.name))
}

fn spec(table: &TableDef) -> Result<Spec> {
    let known = |k: &str| {
        matches!(k, "number-of-rows" | "rows-per-second" | "seed")
            || k.strip_prefix("fields.")
                .and_then(|r| r.rsplit_once('.'))
                .is_some_and(|(_, key)| FIELD_KEYS.contains(&key))
    };
    check_options(table, "datagen", known, SUPPORTED)?;
    for key in table.options.keys() {
        if let Some((col, _)) = key.strip_prefix("fields.").and_then(|r| r.rsplit_once('.')) {
            if table.column(col).is_none() {
                return Err(plan_err(
                    table,
                    format!("option '{key}' names column '{col}', which the table does not have"),
                ));
            }
        }
    }
    let seed = u64_option(table, "seed")?.unwrap_or(42);
    let mut rows = u64_option(table, "number-of-rows")?.unwrap_or(u64::MAX);
    let rows_per_second = match u64_option(table, "rows-per-second")? {
        Some(0) => return Err(plan_err(table, "'rows-per-second' must be positive".into())),
        Some(r) => Some(r),
        None => Some(DEFAULT_ROWS_PER_SECOND),
    };
    let mut fields = Vec::with_capacity(table.columns.len());
    for (i, c) in table.columns.iter().enumerate() {
        let kind = field_kind(table, &c.name, &c.ty)?;
        if let Kind::Sequence { start, end } = kind {
            let len = u64::try_from(end - start + 1).unwrap_or(u64::MAX);
            rows = rows.min(len);
        }
        let key = |k: &str| format!("fields.{}.{k}", c.name);
        let null_rate = parse_option(table, &key("null-rate"), "a number in [0, 1]", |v| {
            v.parse::<f64>().ok().filter(|r| (0.0..=1.0).contains(r))
        })?
        .unwrap_or(0.0);
        if null_rate > 0.0 && matches!(kind, Kind::Sequence { .. }) {
            return Err(plan_err(
                table,
                format!("'{}' applies to random columns only", key("null-rate")),
            ));
        }
        fields.push(Field {
            ty: c.ty,
            kind,
            null_rate,
            values: Stream::new(seed, 2 * i as u64),
            nulls: Stream::new(seed, 2 * i as u64 + 1),
        });
    }
    Ok(Spec {
        fields,
        rows,
        rows_per_second,
    })
}

/// The generator of column `col` of type `ty`, from its `fields.<col>.*` options.
fn field_kind(table: &TableDef, col: &str, ty: &SqlType) -> Result<Kind> {
    let key = |k: &str| format!("fields.{col}.{k}");
    let opt = |k: &str| table.option(&key(k));
    let sequence = match opt("kind") {
        None | Some("random") => false,
        Some("sequence") => true,
        Some(other) => {
            return Err(plan_err(
                table,
                format!(
                    "'{}' must be 'random' or 'sequence', got '{other}'",
                    key("kind")
                ),
            ))
        }
    };
    let allowed: &[&str] = match (sequence, ty) {
        (true, SqlType::Boolean) => {
            return Err(plan_err(
                table,
                format!("column '{col}': a BOOLEAN cannot be a sequence"),
            ))
        }
        (true, _) => &["kind", "start", "end"],
        (false, t) if t.is_numeric() => &["kind", "min", "max", "null-rate"],
        (false, t) if t.is_string() => &["kind", "length", "var-len", "null-rate"],
        (false, t) if t.is_timestamp() || *t == SqlType::Date => &["kind", "max-past", "null-rate"],
        (false, SqlType::Boolean) => &["kind", "null-rate"],
        (_, other) => {
            return Err(Error::Unsupported(format!(
                "table '{}': datagen cannot generate column '{col}' of type {other}",
                table.name
            )))
        }
    };
    for k in FIELD_KEYS {
        if opt(k).is_some() && !allowed.contains(k) {
            return Err(plan_err(
                table,
                format!(
                    "option '{}' does not apply to a {} {ty} column (it takes: {})",
                    key(k),
                    if sequence { "sequence" } else { "random" },
                    allowed.join(", ")
                ),
            ));
        }
    }
    if sequence {
        let bound = |k: &str| -> Result<i128> {
            let Some(v) = opt(k) else {
                return Err(plan_err(
                    table,
                    format!("sequence column '{col}' needs option '{}'", key(k)),
                ));
            };
            sequence_value(v, ty)
                .ok_or_else(|| plan_err(table, format!("option '{}': '{v}' is not a {ty}", key(k))))
        };
        let (start, end) = (bound("start")?, bound("end")?);
        if end < start {
            return Err(plan_err(
                table,
                format!("column '{col}': sequence end is below its start"),
            ));
        }
        if let Some((min, max)) = int_range(ty) {
            if start < min || end > max {
                return Err(plan_err(
                    table,
                    format!("column '{col}': sequence bounds out of the range of {ty}"),
                ));
            }
        }
        return Ok(Kind::Sequence { start, end });
    }
    let number = |k: &str| -> Result<Option<f64>> {
        parse_option(table, &key(k), "a number", |v| v.parse::<f64>().ok())
    };
    Ok(match ty {
        SqlType::Boolean => Kind::Bool,
        SqlType::Float | SqlType::Double => {
            let limit = if *ty == SqlType::Float {
                f64::from(f32::MAX)
            } else {
                f64::MAX
            };
            let min = number("min")?.unwrap_or(-limit);
            let max = number("max")?.unwrap_or(limit);
            check_order(table, col, min <= max)?;
            Kind::Float { min, max }
        }
        t if t.is_numeric() => {
            let (lo, hi) = int_range(t).unwrap_or((0, 0));
            let bound = |k: &str, default: i128| -> Result<i128> {
                match opt(k) {
                    None => Ok(default),
                    Some(v) => unscaled(v, t)
                        .filter(|x| (lo..=hi).contains(x))
                        .ok_or_else(|| {
                            plan_err(
                                table,
                                format!("option '{}': '{v}' is not a value of {t}", key(k)),
                            )
                        }),
                }
            };
            let (min, max) = (bound("min", lo)?, bound("max", hi)?);
            check_order(table, col, min <= max)?;
            Kind::Int { min, max }
        }
        SqlType::Char(n) | SqlType::Varchar(n) => {
            let length = u64_option(table, &key("length"))?
                .unwrap_or(DEFAULT_STRING_LENGTH)
                .min(u64::from(*n));
            let var_len = super::bool_option(table, &key("var-len"))?.unwrap_or(false);
            Kind::Text { length, var_len }
        }
        _ => {
            let max_past_ms = match opt("max-past") {
                None => 0,
                Some(v) => duration_ms(v).ok_or_else(|| {
                    plan_err(
                        table,
                        format!(
                            "option '{}': '{v}' is not a duration (like '5s', '100 ms', '1 min')",
                            key("max-past")
                        ),
                    )
                })?,
            };
            Kind::Recent { max_past_ms }
        }
    })
}

fn check_order(table: &TableDef, col: &str, ok: bool) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(plan_err(
            table,
            format!("column '{col}': 'min' is above 'max'"),
        ))
    }
}

impl TableConnector for DataGenConnector {
    fn validate(&self, table: &TableDef) -> Result<()> {
        spec(table).map(|_| ())
    }

    fn source(&self, table: &TableDef, projection: &[String]) -> Result<SourceFactoryRef> {
        let spec = spec(table)?;
        let full = table.arrow_schema();
        let indices = projection
            .iter()
            .map(|n| {
                full.index_of(n)
                    .map_err(|_| plan_err(table, format!("has no column '{n}'")))
            })
            .collect::<Result<Vec<_>>>()?;
        let schema = Arc::new(full.project(&indices)?);
        Ok(Arc::new(DataGenSource {
            name: format!("datagen({})", table.name),
            fields: indices.iter().map(|&i| spec.fields[i].clone()).collect(),
            rows: spec.rows,
            rows_per_second: spec.rows_per_second,
            schema,
        }))
    }

    fn sink(&self, table: &TableDef) -> Result<SinkFactoryRef> {
        Err(Error::Unsupported(format!(
            "table '{}': datagen is a source; it cannot be written to",
            table.name
        )))
    }

    fn is_bounded(&self, table: &TableDef) -> bool {
        spec(table).is_ok_and(|s| s.rows != u64::MAX)
    }
}

/// The source factory of a datagen table.
#[derive(Debug)]
struct DataGenSource {
    name: String,
    /// The projected columns.
    fields: Vec<Field>,
    rows: u64,
    rows_per_second: Option<u64>,
    schema: SchemaRef,
}

impl DataGenSource {
    fn subtask(&self, ctx: &SourceContext, blocks: Blocks) -> Box<dyn Source> {
        Box::new(DataGenSubtask {
            name: self.name.clone(),
            fields: self.fields.clone(),
            schema: self.schema.clone(),
            blocks,
            max_batch: ctx.batch.batch_size.max(1) as u64,
            throttle: Throttle::new(self.rows_per_second, ctx.parallelism, ctx.batch.max_delay),
        })
    }
}

impl SourceFactory for DataGenSource {
    fn name(&self) -> String {
        self.name.clone()
    }

    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    fn create(&self, ctx: &SourceContext) -> Result<Box<dyn Source>> {
        let blocks = Blocks::new(
            self.rows,
            ctx.batch.batch_size,
            ctx.subtask,
            ctx.parallelism,
        );
        Ok(self.subtask(ctx, blocks))
    }

    /// Resumes from the positions of every old subtask, at any parallelism: the rows no
    /// old subtask had produced are produced once.
    fn restore(&self, ctx: &SourceContext, positions: &[Vec<u8>]) -> Result<Box<dyn Source>> {
        let blocks = Blocks::restore(
            &self.name,
            self.rows,
            ctx.subtask,
            ctx.parallelism,
            positions,
        )?;
        Ok(self.subtask(ctx, blocks))
    }
}

/// One parallel instance of a datagen source.
#[derive(Debug)]
struct DataGenSubtask {
    name: String,
    fields: Vec<Field>,
    schema: SchemaRef,
    blocks: Blocks,
    max_batch: u64,
    throttle: Throttle,
}

impl Source for DataGenSubtask {
    fn poll(&mut self) -> Result<SourcePoll> {
        let want = self.blocks.left_in_block().min(self.max_batch);
        if want == 0 {
            return Ok(SourcePoll::End);
        }
        let n = match self.throttle.allowed(self.blocks.generated(), want) {
            Ok(n) => n,
            Err(wait) => return Ok(SourcePoll::Pending(wait)),
        };
        let Some(range) = self.blocks.next_range(n) else {
            return Ok(SourcePoll::End);
        };
        let now_ms = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let columns = self
            .fields
            .iter()
            .map(|f| column(f, range.clone(), now_ms))
            .collect::<Result<Vec<_>>>()?;
        let options =
            RecordBatchOptions::new().with_row_count(Some((range.end - range.start) as usize));
        Ok(SourcePoll::Batch(RecordBatch::try_new_with_options(
            self.schema.clone(),
            columns,
            &options,
        )?))
    }

    fn position(&self) -> u64 {
        self.blocks.generated()
    }

    fn snapshot_position(&mut self) -> Result<Vec<u8>> {
        self.blocks.snapshot(&self.name)
    }
}

/// A uniform integer in `[min, max]` from 128 random bits.
fn uniform_int(r: u128, min: i128, max: i128) -> i128 {
    let span = max.wrapping_sub(min) as u128;
    let off = if span == u128::MAX { r } else { r % (span + 1) };
    min.wrapping_add(off as i128)
}

/// Column `f` for rows `range`, with `now_ms` as the current time.
fn column(f: &Field, range: Range<u64>, now_ms: i64) -> Result<ArrayRef> {
    let len = (range.end - range.start) as usize;
    let null = |n: u64| f.null_rate > 0.0 && unit(f.nulls.at(n)) < f.null_rate;
    let r64 = |n: u64| f.values.at(n);
    let r128 = |n: u64| {
        let a = f.values.at(n);
        (u128::from(mix64(a ^ 0x5851_F42D_4C95_7F2D)) << 64) | u128::from(a)
    };
    // The integer value of row `n` (sequence or random), for integer-like columns.
    let int = |n: u64| -> i128 {
        match f.kind {
            Kind::Sequence { start, .. } => start + i128::from(n),
            Kind::Int { min, max } => uniform_int(r128(n), min, max),
            Kind::Recent { max_past_ms } => {
                i128::from(now_ms) - i128::from(below(r64(n), max_past_ms.saturating_add(1)))
            }
            _ => 0,
        }
    };
    macro_rules! ints {
        ($builder:ty, $t:ty) => {{
            let mut b = <$builder>::with_capacity(len);
            for n in range.clone() {
                if null(n) {
                    b.append_null();
                } else {
                    // Bounds were checked against the type when the options were read.
                    b.append_value(int(n) as $t);
                }
            }
            Arc::new(b.finish()) as ArrayRef
        }};
    }
    Ok(match f.ty {
        SqlType::Boolean => {
            let mut b = BooleanBuilder::with_capacity(len);
            for n in range {
                if null(n) {
                    b.append_null();
                } else {
                    b.append_value(r64(n) & 1 == 1);
                }
            }
            Arc::new(b.finish())
        }
        SqlType::TinyInt => ints!(Int8Builder, i8),
        SqlType::SmallInt => ints!(Int16Builder, i16),
        SqlType::Int => ints!(Int32Builder, i32),
        SqlType::BigInt => ints!(Int64Builder, i64),
        SqlType::Decimal { precision, scale } => {
            let mut b = Decimal128Builder::with_capacity(len);
            let step = match f.kind {
                // A sequence counts in whole numbers: the unscaled step is 10^scale.
                Kind::Sequence { .. } => 10i128.pow(scale.max(0) as u32),
                _ => 1,
            };
            for n in range {
                if null(n) {
                    b.append_null();
                } else if let Kind::Sequence { start, .. } = f.kind {
                    b.append_value(start + i128::from(n) * step);
                } else {
                    b.append_value(int(n));
                }
            }
            Arc::new(b.finish().with_precision_and_scale(precision, scale)?)
        }
        SqlType::Float | SqlType::Double => {
            let value = |n: u64| match f.kind {
                Kind::Float { min, max } => {
                    let u = unit(r64(n));
                    min * (1.0 - u) + max * u
                }
                _ => int(n) as f64,
            };
            if f.ty == SqlType::Float {
                let mut b = Float32Builder::with_capacity(len);
                for n in range {
                    if null(n) {
                        b.append_null();
                    } else {
                        b.append_value(value(n) as f32);
                    }
                }
                Arc::new(b.finish())
            } else {
                let mut b = Float64Builder::with_capacity(len);
                for n in range {
                    if null(n) {
                        b.append_null();
                    } else {
                        b.append_value(value(n));
                    }
                }
                Arc::new(b.finish())
            }
        }
        SqlType::Char(_) | SqlType::Varchar(_) => {
            const HEX: &[u8; 16] = b"0123456789abcdef";
            let mut b = StringBuilder::with_capacity(len, len * 16);
            let mut s = String::new();
            for n in range {
                if null(n) {
                    b.append_null();
                    continue;
                }
                s.clear();
                match f.kind {
                    Kind::Text { length, var_len } => {
                        let r = r64(n);
                        let l = if var_len {
                            1 + below(r, length.max(1))
                        } else {
                            length
                        };
                        let key = mix64(r);
                        for j in 0..l {
                            let word = mix64(key.wrapping_add(j / 16));
                            let nibble = (word >> ((j % 16) * 4)) & 15;
                            s.push(char::from(HEX[nibble as usize]));
                        }
                    }
                    _ => s.push_str(&int(n).to_string()),
                }
                b.append_value(&s);
            }
            Arc::new(b.finish())
        }
        SqlType::Date => {
            let mut b = Date32Builder::with_capacity(len);
            for n in range {
                if null(n) {
                    b.append_null();
                } else {
                    let v = match f.kind {
                        Kind::Sequence { .. } => int(n),
                        _ => int(n).div_euclid(86_400_000),
                    };
                    b.append_value(v as i32);
                }
            }
            Arc::new(b.finish())
        }
        SqlType::Timestamp(_) | SqlType::TimestampLtz(_) => {
            let mut b = TimestampMillisecondBuilder::with_capacity(len);
            for n in range {
                if null(n) {
                    b.append_null();
                } else {
                    b.append_value(int(n) as i64);
                }
            }
            Arc::new(b.finish().with_data_type(f.ty.arrow()))
        }
        other => {
            return Err(Error::Internal(format!(
                "datagen has no generator for {other}; the options check let it through"
            )))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::uniform_int;

    #[test]
    fn uniform_ints_cover_the_full_range() {
        assert_eq!(uniform_int(u128::MAX, 5, 5), 5);
        assert_eq!(uniform_int(7, i128::MIN, i128::MAX), i128::MIN + 7);
    }
}
