//! Flink SQL types and their Arrow layout.
//!
//! Every relation the planner builds carries a [`SqlType`] per column (with nullability and
//! the time-attribute flag kept beside it in [`Column`]); the batches that flow at run time
//! hold the Arrow type [`SqlType::arrow`] gives. The mapping is fixed:
//!
//! | SQL | Arrow |
//! |---|---|
//! | `BOOLEAN` | `Boolean` |
//! | `TINYINT` / `SMALLINT` / `INT` / `BIGINT` | `Int8` / `Int16` / `Int32` / `Int64` |
//! | `FLOAT` / `DOUBLE` | `Float32` / `Float64` |
//! | `DECIMAL(p, s)` | `Decimal128(p, s)` |
//! | `CHAR(n)` / `VARCHAR(n)` / `STRING` | `Utf8` |
//! | `DATE` | `Date32` |
//! | `TIMESTAMP(p)` | `Timestamp(Millisecond, None)` |
//! | `TIMESTAMP_LTZ(p)` | `Timestamp(Millisecond, "UTC")` |
//! | `INTERVAL` (day-time) | `Duration(Millisecond)` |
//! | `NULL` (type of the literal) | `Null` |
//!
//! Timestamps are stored at millisecond precision, the precision of every Nexmark and
//! telemetry time column; a declared precision above 3 is kept in the type for display.

use std::fmt;

use arrow::datatypes::{DataType, Field, TimeUnit};
use sqlparser::ast;

use crate::error::{Error, Result};

/// The largest precision of a `DECIMAL`.
pub const MAX_DECIMAL_PRECISION: u8 = 38;

/// A Flink SQL type (without nullability; see [`Column`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SqlType {
    /// `BOOLEAN`.
    Boolean,
    /// `TINYINT`.
    TinyInt,
    /// `SMALLINT`.
    SmallInt,
    /// `INT` / `INTEGER`.
    Int,
    /// `BIGINT`.
    BigInt,
    /// `FLOAT` / `REAL`.
    Float,
    /// `DOUBLE`.
    Double,
    /// `DECIMAL(precision, scale)`.
    Decimal {
        /// Total digits, 1..=38.
        precision: u8,
        /// Digits after the point, 0..=precision.
        scale: i8,
    },
    /// `CHAR(n)`.
    Char(u32),
    /// `VARCHAR(n)`; `STRING` is `VARCHAR(2147483647)`.
    Varchar(u32),
    /// `DATE`.
    Date,
    /// `TIMESTAMP(p)`, without time zone.
    Timestamp(u8),
    /// `TIMESTAMP_LTZ(p)`, an instant shown in the session time zone (UTC).
    TimestampLtz(u8),
    /// A day-time interval (`INTERVAL '10' SECOND`), in milliseconds.
    Interval,
    /// The type of the `NULL` literal before it is cast.
    Null,
}

/// `VARCHAR`'s largest length, the length of `STRING`.
pub const MAX_VARCHAR: u32 = i32::MAX as u32;

impl SqlType {
    /// `STRING`.
    pub const STRING: SqlType = SqlType::Varchar(MAX_VARCHAR);

    /// The Arrow type of this type's columns.
    pub fn arrow(&self) -> DataType {
        match self {
            SqlType::Boolean => DataType::Boolean,
            SqlType::TinyInt => DataType::Int8,
            SqlType::SmallInt => DataType::Int16,
            SqlType::Int => DataType::Int32,
            SqlType::BigInt => DataType::Int64,
            SqlType::Float => DataType::Float32,
            SqlType::Double => DataType::Float64,
            SqlType::Decimal { precision, scale } => DataType::Decimal128(*precision, *scale),
            SqlType::Char(_) | SqlType::Varchar(_) => DataType::Utf8,
            SqlType::Date => DataType::Date32,
            SqlType::Timestamp(_) => DataType::Timestamp(TimeUnit::Millisecond, None),
            SqlType::TimestampLtz(_) => {
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
            }
            SqlType::Interval => DataType::Duration(TimeUnit::Millisecond),
            SqlType::Null => DataType::Null,
        }
    }

    /// The SQL type of an Arrow type (for tables registered from Arrow batches).
    ///
    /// # Errors
    /// An Arrow type with no SQL counterpart here (lists, structs, unsigned integers...).
    pub fn from_arrow(t: &DataType) -> Result<SqlType> {
        Ok(match t {
            DataType::Boolean => SqlType::Boolean,
            DataType::Int8 => SqlType::TinyInt,
            DataType::Int16 => SqlType::SmallInt,
            DataType::Int32 => SqlType::Int,
            DataType::Int64 => SqlType::BigInt,
            DataType::Float32 => SqlType::Float,
            DataType::Float64 => SqlType::Double,
            DataType::Decimal128(p, s) => SqlType::Decimal {
                precision: *p,
                scale: *s,
            },
            DataType::Utf8 | DataType::LargeUtf8 | DataType::Utf8View => SqlType::STRING,
            DataType::Date32 => SqlType::Date,
            DataType::Timestamp(_, None) => SqlType::Timestamp(3),
            DataType::Timestamp(_, Some(_)) => SqlType::TimestampLtz(3),
            DataType::Duration(_) => SqlType::Interval,
            DataType::Null => SqlType::Null,
            other => {
                return Err(Error::Unsupported(format!(
                    "Arrow type {other} has no SQL type in millstream"
                )))
            }
        })
    }

    /// The type of a column declared in DDL or named in `CAST`.
    ///
    /// # Errors
    /// A type Millstream does not support yet (`ARRAY`, `ROW`, `MAP`, `TIME`...), or a
    /// `DECIMAL` precision or scale out of range.
    pub fn from_ast(t: &ast::DataType) -> Result<SqlType> {
        use ast::DataType as D;
        let len = |l: &Option<ast::CharacterLength>, default: u32| match l {
            Some(ast::CharacterLength::IntegerLength { length, .. }) => {
                (*length).min(u64::from(MAX_VARCHAR)) as u32
            }
            Some(ast::CharacterLength::Max) => MAX_VARCHAR,
            None => default,
        };
        Ok(match t {
            D::Boolean | D::Bool => SqlType::Boolean,
            D::TinyInt(_) => SqlType::TinyInt,
            D::SmallInt(_) => SqlType::SmallInt,
            D::Int(_) | D::Integer(_) => SqlType::Int,
            D::BigInt(_) => SqlType::BigInt,
            D::Float(_) | D::Real => SqlType::Float,
            D::Double(_) | D::DoublePrecision => SqlType::Double,
            D::Decimal(info) | D::Dec(info) | D::Numeric(info) => {
                let (p, s) = match info {
                    ast::ExactNumberInfo::None => (10, 0),
                    ast::ExactNumberInfo::Precision(p) => (*p, 0),
                    ast::ExactNumberInfo::PrecisionAndScale(p, s) => (*p, *s as u64),
                };
                decimal(p, s)?
            }
            D::Char(l) | D::Character(l) => SqlType::Char(len(l, 1)),
            D::Varchar(l) | D::CharacterVarying(l) | D::CharVarying(l) => {
                // Flink's DDL reads a `VARCHAR` without a length as `STRING`.
                SqlType::Varchar(len(l, MAX_VARCHAR))
            }
            D::String(_) | D::Text => SqlType::STRING,
            D::Date => SqlType::Date,
            D::Timestamp(p, tz) => {
                let p = p.unwrap_or(6).min(9) as u8;
                match tz {
                    ast::TimezoneInfo::WithoutTimeZone | ast::TimezoneInfo::None => {
                        SqlType::Timestamp(p)
                    }
                    ast::TimezoneInfo::WithTimeZone | ast::TimezoneInfo::Tz => {
                        return Err(Error::Unsupported(
                            "TIMESTAMP WITH TIME ZONE; use TIMESTAMP_LTZ".into(),
                        ))
                    }
                }
            }
            D::Custom(name, args) => {
                let n = name.to_string().to_uppercase();
                let p = args.first().and_then(|a| a.parse::<u8>().ok());
                match n.as_str() {
                    "TIMESTAMP_LTZ" => SqlType::TimestampLtz(p.unwrap_or(6).min(9)),
                    "STRING" => SqlType::STRING,
                    _ => {
                        return Err(Error::Unsupported(format!(
                            "type {t} is not supported by millstream"
                        )))
                    }
                }
            }
            other => {
                return Err(Error::Unsupported(format!(
                    "type {other} is not supported by millstream"
                )))
            }
        })
    }

    /// Whether this is an exact or approximate number.
    pub fn is_numeric(&self) -> bool {
        self.is_integer()
            || matches!(
                self,
                SqlType::Float | SqlType::Double | SqlType::Decimal { .. }
            )
    }

    /// Whether this is `TINYINT`, `SMALLINT`, `INT` or `BIGINT`.
    pub fn is_integer(&self) -> bool {
        matches!(
            self,
            SqlType::TinyInt | SqlType::SmallInt | SqlType::Int | SqlType::BigInt
        )
    }

    /// Whether this is `CHAR` or `VARCHAR`.
    pub fn is_string(&self) -> bool {
        matches!(self, SqlType::Char(_) | SqlType::Varchar(_))
    }

    /// Whether this is `TIMESTAMP` or `TIMESTAMP_LTZ`.
    pub fn is_timestamp(&self) -> bool {
        matches!(self, SqlType::Timestamp(_) | SqlType::TimestampLtz(_))
    }

    /// The `DECIMAL` an integer type converts to without loss (Flink's rule for mixed
    /// integer/decimal arithmetic): `INT` is `DECIMAL(10, 0)`, `BIGINT` `DECIMAL(19, 0)`.
    pub fn as_decimal(&self) -> Option<(u8, i8)> {
        match self {
            SqlType::TinyInt => Some((3, 0)),
            SqlType::SmallInt => Some((5, 0)),
            SqlType::Int => Some((10, 0)),
            SqlType::BigInt => Some((19, 0)),
            SqlType::Decimal { precision, scale } => Some((*precision, *scale)),
            _ => None,
        }
    }
}

/// `DECIMAL(p, s)`, checked.
///
/// # Errors
/// `p` outside 1..=38 or `s` outside 0..=p.
pub fn decimal(p: u64, s: u64) -> Result<SqlType> {
    if p == 0 || p > u64::from(MAX_DECIMAL_PRECISION) || s > p {
        return Err(Error::Plan(format!(
            "DECIMAL({p}, {s}): precision must be 1..=38 and scale 0..=precision"
        )));
    }
    Ok(SqlType::Decimal {
        precision: p as u8,
        scale: s as i8,
    })
}

impl fmt::Display for SqlType {
    /// Flink's spelling, as `DESCRIBE` prints it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SqlType::Boolean => write!(f, "BOOLEAN"),
            SqlType::TinyInt => write!(f, "TINYINT"),
            SqlType::SmallInt => write!(f, "SMALLINT"),
            SqlType::Int => write!(f, "INT"),
            SqlType::BigInt => write!(f, "BIGINT"),
            SqlType::Float => write!(f, "FLOAT"),
            SqlType::Double => write!(f, "DOUBLE"),
            SqlType::Decimal { precision, scale } => write!(f, "DECIMAL({precision}, {scale})"),
            SqlType::Char(n) => write!(f, "CHAR({n})"),
            SqlType::Varchar(MAX_VARCHAR) => write!(f, "STRING"),
            SqlType::Varchar(n) => write!(f, "VARCHAR({n})"),
            SqlType::Date => write!(f, "DATE"),
            SqlType::Timestamp(p) => write!(f, "TIMESTAMP({p})"),
            SqlType::TimestampLtz(p) => write!(f, "TIMESTAMP_LTZ({p})"),
            SqlType::Interval => write!(f, "INTERVAL SECOND(3)"),
            SqlType::Null => write!(f, "NULL"),
        }
    }
}

/// One column of a relation: its name, the table alias that qualifies it, its type, whether
/// it may be null, and whether it is an event-time attribute (`*ROWTIME*` in Flink's
/// `DESCRIBE`), which window functions and watermarks need.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The name a query uses.
    pub name: String,
    /// The alias or table name that qualifies it (`B` in `B.price`), if any.
    pub qualifier: Option<String>,
    /// Its type.
    pub ty: SqlType,
    /// Whether it may hold nulls.
    pub nullable: bool,
    /// Whether it is an event-time attribute with a watermark.
    pub rowtime: bool,
    /// Whether it is a processing-time attribute (`PROCTIME()`).
    pub proctime: bool,
    /// Whether it is the `window_end` of an event-time window aggregation's result (or a
    /// bare copy of it). Not a time attribute in Flink, but no row arrives with a
    /// `window_end` at or below the watermark (a window's rows leave before the watermark
    /// that fired it), so an interval join may run on it, as on a rowtime: q7's join of
    /// bids with the window maxima, bounded by `window_end`, keeps rows only while they
    /// can match.
    pub window_end: bool,
}

impl Column {
    /// A nullable, unqualified column that is not a time attribute.
    pub fn new(name: impl Into<String>, ty: SqlType) -> Self {
        Column {
            name: name.into(),
            qualifier: None,
            ty,
            nullable: true,
            rowtime: false,
            proctime: false,
            window_end: false,
        }
    }

    /// The Arrow field of this column, under `name`.
    pub fn field(&self, name: &str) -> Field {
        Field::new(name, self.ty.arrow(), true)
    }

    /// The type as `DESCRIBE` shows it: `BIGINT NOT NULL`, `TIMESTAMP(3) *ROWTIME*`.
    pub fn describe_type(&self) -> String {
        let mut s = self.ty.to_string();
        if self.rowtime {
            s.push_str(" *ROWTIME*");
        } else if self.proctime {
            s.push_str(" *PROCTIME*");
        }
        if !self.nullable {
            s.push_str(" NOT NULL");
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlparser::dialect::GenericDialect;
    use sqlparser::parser::Parser;

    fn parse(t: &str) -> Result<SqlType> {
        let mut p = Parser::new(&GenericDialect {})
            .try_with_sql(t)
            .map_err(|e| Error::Plan(e.to_string()))?;
        let dt = p
            .parse_data_type()
            .map_err(|e| Error::Plan(e.to_string()))?;
        SqlType::from_ast(&dt)
    }

    #[test]
    fn ddl_types_map_to_flinks_names_and_arrow_layouts() {
        let cases = [
            ("BIGINT", "BIGINT", DataType::Int64),
            ("INT", "INT", DataType::Int32),
            ("DOUBLE", "DOUBLE", DataType::Float64),
            (
                "DECIMAL(23, 3)",
                "DECIMAL(23, 3)",
                DataType::Decimal128(23, 3),
            ),
            ("VARCHAR", "STRING", DataType::Utf8),
            ("VARCHAR(10)", "VARCHAR(10)", DataType::Utf8),
            ("STRING", "STRING", DataType::Utf8),
            ("BOOLEAN", "BOOLEAN", DataType::Boolean),
            (
                "TIMESTAMP(3)",
                "TIMESTAMP(3)",
                DataType::Timestamp(TimeUnit::Millisecond, None),
            ),
            (
                "TIMESTAMP_LTZ(3)",
                "TIMESTAMP_LTZ(3)",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            ),
        ];
        for (text, shown, arrow) in cases {
            let t = parse(text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(t.to_string(), shown, "{text}");
            assert_eq!(t.arrow(), arrow, "{text}");
            if !matches!(t, SqlType::Varchar(10)) {
                assert_eq!(SqlType::from_arrow(&arrow).unwrap().arrow(), arrow);
            }
        }
    }

    #[test]
    fn bad_decimals_and_unsupported_types_are_errors() {
        assert!(parse("DECIMAL(40, 2)").is_err());
        assert!(parse("DECIMAL(5, 7)").is_err());
        assert!(parse("TIME").is_err());
    }
}
