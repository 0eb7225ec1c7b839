//! Type dispatch shared by the kernels: one `match` on a [`DataType`] that
//! binds a type alias to the matching Arrow primitive type.
//!
//! [`DataType`]: arrow::datatypes::DataType

/// Calls `$body` with `$t` bound to the Arrow type of an integer-like
/// primitive (`Int*`, `UInt*`, `Date*`, `Time*`, `Duration`, `Timestamp`) or,
/// with `floats: [...]` listing them, also of a float type; else evaluates
/// `$other`. Use [`with_int_type!`] or [`with_primitive_type!`].
macro_rules! dispatch_primitive {
    (
        $data_type:expr, $t:ident => $body:expr, else $other:expr,
        floats: [$($float:ident => $float_type:ident),*]
    ) => {{
        use ::arrow::datatypes::DataType::*;
        use ::arrow::datatypes::TimeUnit;
        match $data_type {
            Int8 => {
                type $t = ::arrow::datatypes::Int8Type;
                $body
            }
            Int16 => {
                type $t = ::arrow::datatypes::Int16Type;
                $body
            }
            Int32 => {
                type $t = ::arrow::datatypes::Int32Type;
                $body
            }
            Int64 => {
                type $t = ::arrow::datatypes::Int64Type;
                $body
            }
            UInt8 => {
                type $t = ::arrow::datatypes::UInt8Type;
                $body
            }
            UInt16 => {
                type $t = ::arrow::datatypes::UInt16Type;
                $body
            }
            UInt32 => {
                type $t = ::arrow::datatypes::UInt32Type;
                $body
            }
            UInt64 => {
                type $t = ::arrow::datatypes::UInt64Type;
                $body
            }
            $(
                $float => {
                    type $t = ::arrow::datatypes::$float_type;
                    $body
                }
            )*
            Date32 => {
                type $t = ::arrow::datatypes::Date32Type;
                $body
            }
            Date64 => {
                type $t = ::arrow::datatypes::Date64Type;
                $body
            }
            Time32(TimeUnit::Second) => {
                type $t = ::arrow::datatypes::Time32SecondType;
                $body
            }
            Time32(TimeUnit::Millisecond) => {
                type $t = ::arrow::datatypes::Time32MillisecondType;
                $body
            }
            Time64(TimeUnit::Microsecond) => {
                type $t = ::arrow::datatypes::Time64MicrosecondType;
                $body
            }
            Time64(TimeUnit::Nanosecond) => {
                type $t = ::arrow::datatypes::Time64NanosecondType;
                $body
            }
            Duration(TimeUnit::Second) => {
                type $t = ::arrow::datatypes::DurationSecondType;
                $body
            }
            Duration(TimeUnit::Millisecond) => {
                type $t = ::arrow::datatypes::DurationMillisecondType;
                $body
            }
            Duration(TimeUnit::Microsecond) => {
                type $t = ::arrow::datatypes::DurationMicrosecondType;
                $body
            }
            Duration(TimeUnit::Nanosecond) => {
                type $t = ::arrow::datatypes::DurationNanosecondType;
                $body
            }
            Timestamp(TimeUnit::Second, _) => {
                type $t = ::arrow::datatypes::TimestampSecondType;
                $body
            }
            Timestamp(TimeUnit::Millisecond, _) => {
                type $t = ::arrow::datatypes::TimestampMillisecondType;
                $body
            }
            Timestamp(TimeUnit::Microsecond, _) => {
                type $t = ::arrow::datatypes::TimestampMicrosecondType;
                $body
            }
            Timestamp(TimeUnit::Nanosecond, _) => {
                type $t = ::arrow::datatypes::TimestampNanosecondType;
                $body
            }
            _ => $other,
        }
    }};
}

/// Calls `$body` with `$t` bound to the Arrow type of an integer-like key
/// (`Int*`, `UInt*`, `Date*`, `Time*`, `Duration`, `Timestamp`), or evaluates
/// `$other`.
macro_rules! with_int_type {
    ($data_type:expr, $t:ident => $body:expr, else $other:expr) => {
        $crate::dispatch_types::dispatch_primitive!(
            $data_type, $t => $body, else $other, floats: []
        )
    };
}

/// Calls `$body` with `$t` bound to the Arrow type of a numeric or temporal
/// primitive (as [`with_int_type!`], plus `Float32` and `Float64`), or
/// evaluates `$other`.
macro_rules! with_primitive_type {
    ($data_type:expr, $t:ident => $body:expr, else $other:expr) => {
        $crate::dispatch_types::dispatch_primitive!(
            $data_type, $t => $body, else $other,
            floats: [Float32 => Float32Type, Float64 => Float64Type]
        )
    };
}

pub(crate) use {dispatch_primitive, with_int_type, with_primitive_type};
