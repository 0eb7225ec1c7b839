//! Typed records: converting between Rust values and arrow batches with serde
//! (`serde_arrow`), for the per-record side of the DataStream API (Flink's
//! `MapFunction<T, R>`).
//!
//! A struct becomes one column per field; any other type (a `String`, an `i64`, a tuple)
//! becomes a single column named `item`. This path deserializes every row, so it is the
//! convenient path, not the fast one: the vectorized operators work on columns directly.

use std::marker::PhantomData;

use arrow::datatypes::{FieldRef, Schema, SchemaRef};
use arrow::record_batch::RecordBatch;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_arrow::schema::{SchemaLike, TracingOptions};
use serde_arrow::utils::{Item, Items};

use crate::error::{Error, Result};

/// Name of the column `key_by_fn` adds with the computed key; typed conversions skip it.
pub const KEY_COLUMN: &str = "__key";

/// The arrow fields of a record type.
#[derive(Debug)]
pub struct RecordSchema<T> {
    fields: Vec<FieldRef>,
    wrapped: bool,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for RecordSchema<T> {
    fn clone(&self) -> Self {
        RecordSchema {
            fields: self.fields.clone(),
            wrapped: self.wrapped,
            _t: PhantomData,
        }
    }
}

fn options() -> TracingOptions {
    TracingOptions::default()
        .allow_null_fields(true)
        .strings_as_large_utf8(false)
}

impl<T: Serialize + for<'de> Deserialize<'de>> RecordSchema<T> {
    /// Trace the fields of `T`.
    ///
    /// # Errors
    /// `T` has a shape arrow cannot hold.
    pub fn of() -> Result<Self> {
        match Vec::<FieldRef>::from_type::<T>(options()) {
            Ok(fields) => Ok(RecordSchema {
                fields,
                wrapped: false,
                _t: PhantomData,
            }),
            Err(_) => Ok(RecordSchema {
                fields: Vec::<FieldRef>::from_type::<Item<T>>(options())?,
                wrapped: true,
                _t: PhantomData,
            }),
        }
    }
}

impl<T> RecordSchema<T> {
    /// The arrow schema of batches of `T`.
    pub fn schema(&self) -> SchemaRef {
        std::sync::Arc::new(Schema::new(self.fields.clone()))
    }
}

/// Convert records to a batch.
///
/// # Errors
/// A value does not fit its traced type.
pub fn to_batch<T: Serialize>(schema: &RecordSchema<T>, rows: &[T]) -> Result<RecordBatch> {
    if schema.wrapped {
        Ok(serde_arrow::to_record_batch(&schema.fields, &Items(rows))?)
    } else {
        Ok(serde_arrow::to_record_batch(&schema.fields, &rows)?)
    }
}

/// Convert a batch to records. A batch with a single column `item` holds non-struct
/// records.
///
/// # Errors
/// The batch's columns do not match `T`'s fields (names or types).
pub fn from_batch<T: DeserializeOwned>(batch: &RecordBatch) -> Result<Vec<T>> {
    // The key column that `key_by_fn` adds is not part of the record.
    let stripped;
    let batch = match batch.schema().index_of(KEY_COLUMN) {
        Ok(i) => {
            let keep: Vec<usize> = (0..batch.num_columns()).filter(|c| *c != i).collect();
            stripped = batch.project(&keep)?;
            &stripped
        }
        Err(_) => batch,
    };
    let schema = batch.schema();
    let wrapped = schema.fields().len() == 1 && schema.field(0).name() == "item";
    let r = if wrapped {
        serde_arrow::from_record_batch::<Items<Vec<T>>>(batch).map(|Items(v)| v)
    } else {
        serde_arrow::from_record_batch::<Vec<T>>(batch)
    };
    r.map_err(|e| {
        Error::Schema(format!(
            "cannot read rows with columns [{}] as {}: {e}",
            crate::batch::column_names(&schema),
            std::any::type_name::<T>()
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
    struct WordCount {
        word: String,
        count: i64,
    }

    #[test]
    fn struct_round_trip() {
        let s = RecordSchema::<WordCount>::of().unwrap();
        let rows = vec![
            WordCount {
                word: "a".into(),
                count: 1,
            },
            WordCount {
                word: "b".into(),
                count: 2,
            },
        ];
        let b = to_batch(&s, &rows).unwrap();
        assert_eq!(b.schema().field(0).name(), "word");
        assert_eq!(from_batch::<WordCount>(&b).unwrap(), rows);
    }

    #[test]
    fn scalar_and_tuple_round_trip() {
        let s = RecordSchema::<String>::of().unwrap();
        let b = to_batch(&s, &["x".to_string()]).unwrap();
        assert_eq!(from_batch::<String>(&b).unwrap(), vec!["x".to_string()]);
        let s = RecordSchema::<(String, i64)>::of().unwrap();
        let b = to_batch(&s, &[("x".to_string(), 3)]).unwrap();
        assert_eq!(
            from_batch::<(String, i64)>(&b).unwrap(),
            vec![("x".to_string(), 3)]
        );
    }

    #[test]
    fn mismatch_is_a_clear_error() {
        let s = RecordSchema::<String>::of().unwrap();
        let b = to_batch(&s, &["x".to_string()]).unwrap();
        let e = from_batch::<WordCount>(&b).unwrap_err().to_string();
        assert!(e.contains("item"), "{e}");
    }
}
