//! Values between Arrow and SQLite.
//!
//! How each column type is stored: `bool` as INTEGER 0/1, `int32`/`int64` as INTEGER,
//! `float32`/`float64` as REAL, `string` and `json` as TEXT, `binary` as BLOB, `timestamp` as
//! INTEGER microseconds since the Unix epoch, `date` as INTEGER days since the epoch. Reading
//! a table made elsewhere, a `timestamp` or `date` column holding ISO-8601 text is read too.

use std::sync::Arc;

use bindery_core::arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder,
    Int32Builder, Int64Builder, RecordBatch, StringBuilder, TimestampMicrosecondBuilder,
};
use bindery_core::arrow::compute::kernels::cast_utils::{string_to_timestamp_nanos, Parser};
use bindery_core::arrow::datatypes::{
    Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, SchemaRef, TimestampMicrosecondType,
};
use bindery_core::table::schema::UTC;
use bindery_core::{ColumnType, Error, Result};
use rusqlite::types::{Value as Sql, ValueRef};

/// One cell of an Arrow column as a SQLite value.
pub fn cell(array: &dyn Array, row: usize, ty: ColumnType) -> Sql {
    if array.is_null(row) {
        return Sql::Null;
    }
    match ty {
        ColumnType::Bool => Sql::Integer(array.as_boolean().value(row) as i64),
        ColumnType::Int32 => Sql::Integer(array.as_primitive::<Int32Type>().value(row) as i64),
        ColumnType::Int64 => Sql::Integer(array.as_primitive::<Int64Type>().value(row)),
        ColumnType::Float32 => Sql::Real(array.as_primitive::<Float32Type>().value(row) as f64),
        ColumnType::Float64 => Sql::Real(array.as_primitive::<Float64Type>().value(row)),
        ColumnType::String | ColumnType::Json => Sql::Text(array.as_string::<i32>().value(row).to_string()),
        ColumnType::Binary => Sql::Blob(array.as_binary::<i32>().value(row).to_vec()),
        ColumnType::Timestamp => Sql::Integer(array.as_primitive::<TimestampMicrosecondType>().value(row)),
        ColumnType::Date => Sql::Integer(array.as_primitive::<Date32Type>().value(row) as i64),
    }
}

/// An Arrow array builder of one column type.
enum Builder {
    Bool(BooleanBuilder),
    Int32(Int32Builder),
    Int64(Int64Builder),
    Float32(Float32Builder),
    Float64(Float64Builder),
    Text(StringBuilder),
    Binary(BinaryBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
}

impl Builder {
    fn new(ty: ColumnType, capacity: usize) -> Builder {
        match ty {
            ColumnType::Bool => Builder::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Int32 => Builder::Int32(Int32Builder::with_capacity(capacity)),
            ColumnType::Int64 => Builder::Int64(Int64Builder::with_capacity(capacity)),
            ColumnType::Float32 => Builder::Float32(Float32Builder::with_capacity(capacity)),
            ColumnType::Float64 => Builder::Float64(Float64Builder::with_capacity(capacity)),
            ColumnType::String | ColumnType::Json => {
                Builder::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnType::Binary => Builder::Binary(BinaryBuilder::with_capacity(capacity, capacity * 16)),
            ColumnType::Timestamp => {
                Builder::Timestamp(TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone(UTC))
            }
            ColumnType::Date => Builder::Date(Date32Builder::with_capacity(capacity)),
        }
    }

    fn null(&mut self) {
        match self {
            Builder::Bool(b) => b.append_null(),
            Builder::Int32(b) => b.append_null(),
            Builder::Int64(b) => b.append_null(),
            Builder::Float32(b) => b.append_null(),
            Builder::Float64(b) => b.append_null(),
            Builder::Text(b) => b.append_null(),
            Builder::Binary(b) => b.append_null(),
            Builder::Timestamp(b) => b.append_null(),
            Builder::Date(b) => b.append_null(),
        }
    }

    /// Appends a value; `false` when it is not one of the column's type.
    fn push(&mut self, v: ValueRef<'_>) -> bool {
        use ValueRef::*;
        let text = |t: &[u8]| std::str::from_utf8(t).ok().map(str::to_string);
        match (self, v) {
            (b, Null) => b.null(),
            (Builder::Bool(b), Integer(i)) => b.append_value(i != 0),
            (Builder::Int32(b), Integer(i)) => match i32::try_from(i) {
                Ok(i) => b.append_value(i),
                Err(_) => return false,
            },
            (Builder::Int64(b), Integer(i)) => b.append_value(i),
            (Builder::Int64(b), Real(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => b.append_value(f as i64),
            (Builder::Float32(b), Integer(i)) => b.append_value(i as f32),
            (Builder::Float32(b), Real(f)) => b.append_value(f as f32),
            (Builder::Float64(b), Integer(i)) => b.append_value(i as f64),
            (Builder::Float64(b), Real(f)) => b.append_value(f),
            (Builder::Text(b), Text(t)) => match std::str::from_utf8(t) {
                Ok(s) => b.append_value(s),
                Err(_) => return false,
            },
            (Builder::Text(b), Integer(i)) => b.append_value(i.to_string()),
            (Builder::Text(b), Real(f)) => b.append_value(f.to_string()),
            (Builder::Binary(b), Blob(x) | Text(x)) => b.append_value(x),
            (Builder::Timestamp(b), Integer(i)) => b.append_value(i),
            (Builder::Timestamp(b), Text(t)) => {
                match text(t).and_then(|s| string_to_timestamp_nanos(&s).ok()) {
                    Some(n) => b.append_value(n.div_euclid(1000)),
                    None => return false,
                }
            }
            (Builder::Date(b), Integer(i)) => match i32::try_from(i) {
                Ok(i) => b.append_value(i),
                Err(_) => return false,
            },
            (Builder::Date(b), Text(t)) => match text(t).and_then(|s| Date32Type::parse(&s)) {
                Some(d) => b.append_value(d),
                None => return false,
            },
            _ => return false,
        }
        true
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            Builder::Bool(b) => Arc::new(b.finish()),
            Builder::Int32(b) => Arc::new(b.finish()),
            Builder::Int64(b) => Arc::new(b.finish()),
            Builder::Float32(b) => Arc::new(b.finish()),
            Builder::Float64(b) => Arc::new(b.finish()),
            Builder::Text(b) => Arc::new(b.finish()),
            Builder::Binary(b) => Arc::new(b.finish()),
            Builder::Timestamp(b) => Arc::new(b.finish()),
            Builder::Date(b) => Arc::new(b.finish()),
        }
    }
}

fn kind_of(v: ValueRef<'_>) -> &'static str {
    match v {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    }
}

/// Rows of SQLite values gathered into Arrow batches of a schema.
pub struct BatchBuilder {
    schema: SchemaRef,
    types: Vec<ColumnType>,
    builders: Vec<Builder>,
    rows: usize,
}

impl BatchBuilder {
    /// A builder for batches of `schema`, whose columns have `types`.
    pub fn new(schema: SchemaRef, types: Vec<ColumnType>, capacity: usize) -> BatchBuilder {
        let builders = types.iter().map(|t| Builder::new(*t, capacity)).collect();
        BatchBuilder {
            schema,
            types,
            builders,
            rows: 0,
        }
    }

    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows gathered since the last batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row from a result row.
    pub fn push_row(&mut self, row: &rusqlite::Row<'_>) -> Result<()> {
        for i in 0..self.builders.len() {
            let v = row
                .get_ref(i)
                .map_err(|e| Error::internal(format!("cannot read column {i}: {e}")))?;
            if !self.builders[i].push(v) {
                return Err(Error::invalid_input(format!(
                    "column '{}' is {} but holds {} in the database; fix the row or the column's type",
                    self.schema.field(i).name(),
                    self.types[i],
                    kind_of(v)
                )));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends a row of `NULL`s.
    pub fn push_nulls(&mut self) {
        self.builders.iter_mut().for_each(Builder::null);
        self.rows += 1;
    }

    /// The batch of the rows gathered; the builder starts over.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(Builder::finish).collect();
        let rows = std::mem::take(&mut self.rows);
        let options = bindery_core::arrow::array::RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map_err(|e| Error::internal(format!("cannot build a batch: {e}")))
    }
}

/// The column type for a declared SQLite type (for tables bindery did not create, and
/// query results), by SQLite's affinity rules plus the common names of other types.
pub fn type_of_declared(declared: &str) -> ColumnType {
    let d = declared.to_ascii_uppercase();
    if let Some(t) = ColumnType::parse(d.split('(').next().unwrap_or("").trim()) {
        return t;
    }
    if d.contains("BOOL") {
        ColumnType::Bool
    } else if d.contains("INT") {
        ColumnType::Int64
    } else if d.contains("CHAR") || d.contains("CLOB") || d.contains("TEXT") {
        ColumnType::String
    } else if d.contains("BLOB") || d.is_empty() {
        ColumnType::Binary
    } else if d.contains("REAL")
        || d.contains("FLOA")
        || d.contains("DOUB")
        || d.contains("NUM")
        || d.contains("DEC")
    {
        ColumnType::Float64
    } else if d.contains("TIME") {
        ColumnType::Timestamp
    } else {
        ColumnType::String
    }
}

/// The column type a query result's value suggests.
pub fn type_of_value(v: ValueRef<'_>) -> Option<ColumnType> {
    match v {
        ValueRef::Null => None,
        ValueRef::Integer(_) => Some(ColumnType::Int64),
        ValueRef::Real(_) => Some(ColumnType::Float64),
        ValueRef::Text(_) => Some(ColumnType::String),
        ValueRef::Blob(_) => Some(ColumnType::Binary),
    }
}
