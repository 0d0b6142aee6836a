//! Gathering a driver's values into Arrow batches of a table's column types.
//!
//! A driver turns each value it reads into a [`Cell`] and pushes rows into a
//! [`BatchBuilder`]; the builder takes what fits each column's type (an integer into a
//! `float64` column, ISO-8601 text into a `timestamp` one) and refuses what does not, so every
//! driver reads the same way.

use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, Float32Builder, Float64Builder,
    Int32Builder, Int64Builder, RecordBatch, RecordBatchOptions, StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::compute::kernels::cast_utils::{string_to_timestamp_nanos, Parser};
use arrow::datatypes::{
    Date32Type, Float32Type, Float64Type, Int32Type, Int64Type, SchemaRef, TimestampMicrosecondType,
};

use crate::error::{Error, Result};
use crate::table::schema::UTC;
use crate::table::ColumnType;

/// One value as a driver read it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Cell<'a> {
    /// `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text.
    Text(&'a str),
    /// Bytes.
    Bytes(&'a [u8]),
    /// A timestamp: microseconds since the Unix epoch, UTC.
    Micros(i64),
    /// A date: days since the Unix epoch.
    Days(i32),
}

impl Cell<'_> {
    /// What kind of value it is, for messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Cell::Null => "NULL",
            Cell::Bool(_) => "a boolean",
            Cell::Int(_) => "an integer",
            Cell::Float(_) => "a real",
            Cell::Text(_) => "text",
            Cell::Bytes(_) => "bytes",
            Cell::Micros(_) => "a timestamp",
            Cell::Days(_) => "a date",
        }
    }
}

/// One value of an Arrow column of a column type, as a cell.
pub fn cell(array: &dyn Array, row: usize, ty: ColumnType) -> Cell<'_> {
    if array.is_null(row) {
        return Cell::Null;
    }
    match ty {
        ColumnType::Bool => Cell::Bool(array.as_boolean().value(row)),
        ColumnType::Int32 => Cell::Int(array.as_primitive::<Int32Type>().value(row) as i64),
        ColumnType::Int64 => Cell::Int(array.as_primitive::<Int64Type>().value(row)),
        ColumnType::Float32 => Cell::Float(array.as_primitive::<Float32Type>().value(row) as f64),
        ColumnType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(row)),
        ColumnType::String | ColumnType::Json => Cell::Text(array.as_string::<i32>().value(row)),
        ColumnType::Binary => Cell::Bytes(array.as_binary::<i32>().value(row)),
        ColumnType::Timestamp => Cell::Micros(array.as_primitive::<TimestampMicrosecondType>().value(row)),
        ColumnType::Date => Cell::Days(array.as_primitive::<Date32Type>().value(row)),
    }
}

/// An Arrow array builder of one column type.
enum ColumnBuilder {
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

impl ColumnBuilder {
    fn new(ty: ColumnType, capacity: usize) -> ColumnBuilder {
        match ty {
            ColumnType::Bool => ColumnBuilder::Bool(BooleanBuilder::with_capacity(capacity)),
            ColumnType::Int32 => ColumnBuilder::Int32(Int32Builder::with_capacity(capacity)),
            ColumnType::Int64 => ColumnBuilder::Int64(Int64Builder::with_capacity(capacity)),
            ColumnType::Float32 => ColumnBuilder::Float32(Float32Builder::with_capacity(capacity)),
            ColumnType::Float64 => ColumnBuilder::Float64(Float64Builder::with_capacity(capacity)),
            ColumnType::String | ColumnType::Json => {
                ColumnBuilder::Text(StringBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnType::Binary => {
                ColumnBuilder::Binary(BinaryBuilder::with_capacity(capacity, capacity * 16))
            }
            ColumnType::Timestamp => ColumnBuilder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone(UTC),
            ),
            ColumnType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
        }
    }

    fn null(&mut self) {
        match self {
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) => b.append_null(),
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) => b.append_null(),
            ColumnBuilder::Text(b) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
        }
    }

    /// Appends a value; `false` when it is not one of the column's type.
    fn push(&mut self, v: Cell<'_>) -> bool {
        use ColumnBuilder as B;
        match (self, v) {
            (b, Cell::Null) => b.null(),
            (B::Bool(b), Cell::Bool(x)) => b.append_value(x),
            (B::Bool(b), Cell::Int(i)) => b.append_value(i != 0),
            (B::Int32(b), Cell::Int(i)) => match i32::try_from(i) {
                Ok(i) => b.append_value(i),
                Err(_) => return false,
            },
            (B::Int64(b), Cell::Int(i)) => b.append_value(i),
            (B::Int64(b), Cell::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => b.append_value(f as i64),
            (B::Float32(b), Cell::Int(i)) => b.append_value(i as f32),
            (B::Float32(b), Cell::Float(f)) => b.append_value(f as f32),
            (B::Float64(b), Cell::Int(i)) => b.append_value(i as f64),
            (B::Float64(b), Cell::Float(f)) => b.append_value(f),
            (B::Text(b), Cell::Text(t)) => b.append_value(t),
            (B::Text(b), Cell::Int(i)) => b.append_value(i.to_string()),
            (B::Text(b), Cell::Float(f)) => b.append_value(f.to_string()),
            (B::Binary(b), Cell::Bytes(x)) => b.append_value(x),
            (B::Binary(b), Cell::Text(t)) => b.append_value(t.as_bytes()),
            (B::Timestamp(b), Cell::Int(i) | Cell::Micros(i)) => b.append_value(i),
            (B::Timestamp(b), Cell::Text(t)) => match string_to_timestamp_nanos(t) {
                Ok(n) => b.append_value(n.div_euclid(1000)),
                Err(_) => return false,
            },
            (B::Date(b), Cell::Days(d)) => b.append_value(d),
            (B::Date(b), Cell::Int(i)) => match i32::try_from(i) {
                Ok(i) => b.append_value(i),
                Err(_) => return false,
            },
            (B::Date(b), Cell::Text(t)) => match Date32Type::parse(t) {
                Some(d) => b.append_value(d),
                None => return false,
            },
            _ => return false,
        }
        true
    }

    fn finish(&mut self) -> ArrayRef {
        match self {
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
        }
    }
}

/// Rows of a driver's values gathered into Arrow batches of a schema.
pub struct BatchBuilder {
    schema: SchemaRef,
    types: Vec<ColumnType>,
    builders: Vec<ColumnBuilder>,
    rows: usize,
}

impl BatchBuilder {
    /// A builder for batches of `schema`, whose columns have `types`.
    pub fn new(schema: SchemaRef, types: Vec<ColumnType>, capacity: usize) -> BatchBuilder {
        let builders = types.iter().map(|t| ColumnBuilder::new(*t, capacity)).collect();
        BatchBuilder {
            schema,
            types,
            builders,
            rows: 0,
        }
    }

    /// A builder for rows of every column of a table, each nullable: the rows a write
    /// touches as they are before it, where a key without a row reads as `NULL`s.
    pub fn rows_of(table: &crate::table::TableSchema, capacity: usize) -> BatchBuilder {
        let fields: Vec<_> = table
            .columns
            .iter()
            .map(|c| c.to_field().with_nullable(true))
            .collect();
        let types = table.columns.iter().map(|c| c.column_type).collect();
        BatchBuilder::new(Arc::new(arrow::datatypes::Schema::new(fields)), types, capacity)
    }

    /// The schema of the batches.
    pub fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }

    /// Rows gathered since the last batch.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// Appends one row: `cell(i)` gives column `i`'s value. A value that does not fit its
    /// column's type is `InvalidInput` naming the column.
    pub fn push_row<'a>(&mut self, mut cell: impl FnMut(usize) -> Result<Cell<'a>>) -> Result<()> {
        for i in 0..self.builders.len() {
            let v = cell(i)?;
            if !self.builders[i].push(v) {
                return Err(Error::invalid_input(format!(
                    "column '{}' is {} but holds {} in the database; fix the row or the column's type",
                    self.schema.field(i).name(),
                    self.types[i],
                    v.kind()
                )));
            }
        }
        self.rows += 1;
        Ok(())
    }

    /// Appends a row of `NULL`s.
    pub fn push_nulls(&mut self) {
        self.builders.iter_mut().for_each(ColumnBuilder::null);
        self.rows += 1;
    }

    /// The batch of the rows gathered; the builder starts over.
    pub fn finish(&mut self) -> Result<RecordBatch> {
        let arrays: Vec<ArrayRef> = self.builders.iter_mut().map(ColumnBuilder::finish).collect();
        let rows = std::mem::take(&mut self.rows);
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map_err(|e| Error::internal(format!("cannot build a batch: {e}")))
    }
}
