//! Gathering a driver's values into Arrow batches of a table's column types.
//!
//! A driver turns each value it reads into a [`Cell`] and pushes rows into a
//! [`BatchBuilder`]; the builder takes what fits each column's type (an integer into a
//! `float64` column, ISO-8601 text into a `timestamp` one, decimal text into a `decimal` one,
//! JSON text into a `list`, `struct` or `map` one) and refuses what does not, so every driver
//! reads the same way.

use std::borrow::Cow;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, BinaryBuilder, BooleanBuilder, Date32Builder, FixedSizeBinaryBuilder,
    Float32Builder, Float64Builder, Int32Builder, Int64Builder, RecordBatch, RecordBatchOptions,
    StringBuilder, TimestampMicrosecondBuilder,
};
use arrow::compute::cast_with_options;
use arrow::compute::kernels::cast_utils::{string_to_timestamp_nanos, Parser};
use arrow::datatypes::{
    DataType, Date32Type, Float16Type, Float32Type, Float64Type, Int32Type, Int64Type, SchemaRef, TimeUnit,
};

use crate::error::{Error, Result};
use crate::table::schema::UTC;
use crate::table::ColumnType;

/// One value as a driver read it (or is to write it).
#[derive(Debug, Clone, PartialEq)]
pub enum Cell<'a> {
    /// `NULL`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (for a `timestamp` or `time` column of another unit than microseconds: a
    /// count of that unit).
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Text: for `decimal`, `uint64` and nested columns (as JSON) the value's text.
    Text(Cow<'a, str>),
    /// Bytes.
    Bytes(&'a [u8]),
    /// A timestamp: microseconds since the Unix epoch, UTC.
    Micros(i64),
    /// A date: days since the Unix epoch.
    Days(i32),
    /// A time of day: microseconds since midnight.
    TimeMicros(i64),
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
            Cell::TimeMicros(_) => "a time of day",
        }
    }
}

/// Nanoseconds in one unit.
fn nanos_per(unit: TimeUnit) -> i64 {
    match unit {
        TimeUnit::Second => 1_000_000_000,
        TimeUnit::Millisecond => 1_000_000,
        TimeUnit::Microsecond => 1_000,
        TimeUnit::Nanosecond => 1,
    }
}

/// A count of `from` units as a count of `to` units, if it is a whole one that fits.
pub fn convert_unit(v: i64, from: TimeUnit, to: TimeUnit) -> Option<i64> {
    let (f, t) = (nanos_per(from), nanos_per(to));
    if f >= t {
        v.checked_mul(f / t)
    } else if v % (t / f) == 0 {
        Some(v / (t / f))
    } else {
        None
    }
}

/// Each row of a batch as the text of a JSON object of its columns (nulls included), in
/// the form a read's rows take as JSON: what a table watch's changes carry.
pub fn row_texts(batch: &RecordBatch) -> Result<Vec<String>> {
    let mut out = Vec::new();
    let mut w = arrow::json::WriterBuilder::new()
        .with_explicit_nulls(true)
        .build::<_, arrow::json::writer::LineDelimited>(&mut out);
    w.write(batch)
        .and_then(|_| w.finish())
        .map_err(|e| Error::internal(format!("cannot write rows as JSON: {e}")))?;
    let text = String::from_utf8(out).map_err(|e| Error::internal(format!("rows as JSON: {e}")))?;
    Ok(text.lines().map(str::to_string).collect())
}

/// Bytes from hex digits (`None` if `s` is not that): how a database writes bytes into JSON.
pub fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Rows a database logged as JSON objects of its stored values (a table watch's change log:
/// numbers, text, booleans, bytes as text `bytes` decodes) as the JSON a read of them gives,
/// typed by `schema`'s columns (a bool stored as 0/1 is `true`/`false`, a timestamp stored as
/// a number or text is the read's timestamp, a decimal keeps its digits); `None` stays `None`.
pub fn logged_rows_json(
    schema: &crate::table::TableSchema,
    bytes: fn(&str) -> Option<Vec<u8>>,
    rows: Vec<Option<String>>,
) -> Result<Vec<Option<String>>> {
    use serde_json::Value as Json;
    if rows.iter().all(Option::is_none) {
        return Ok(rows);
    }
    let mut builder = BatchBuilder::rows_of(schema, rows.len());
    for text in &rows {
        let Some(text) = text else {
            builder.push_nulls();
            continue;
        };
        let object: serde_json::Map<String, Json> = serde_json::from_str(text)
            .map_err(|e| Error::internal(format!("a logged row is not a JSON object: {e}")))?;
        let null = Json::Null;
        let values: Vec<&Json> = schema
            .columns
            .iter()
            .map(|c| object.get(&c.name).unwrap_or(&null))
            .collect();
        let decoded: Vec<Option<Vec<u8>>> = schema
            .columns
            .iter()
            .zip(&values)
            .map(|(c, v)| match (v, &c.column_type) {
                (Json::String(s), ColumnType::Binary | ColumnType::FixedBinary(_)) => bytes(s),
                _ => None,
            })
            .collect();
        builder.push_row(|i| {
            let exact = matches!(
                schema.columns[i].column_type,
                ColumnType::Decimal { .. } | ColumnType::UInt64
            );
            Ok(match (values[i], &decoded[i]) {
                (_, Some(b)) => Cell::Bytes(b),
                (Json::Null, _) => Cell::Null,
                (Json::Bool(b), _) => Cell::Bool(*b),
                (Json::Number(n), _) if exact => Cell::Text(Cow::Owned(n.to_string())),
                (Json::Number(n), _) => match n.as_i64() {
                    Some(i) => Cell::Int(i),
                    None => Cell::Float(n.as_f64().unwrap_or(f64::NAN)),
                },
                (Json::String(s), _) => Cell::Text(Cow::Borrowed(s)),
                (other, _) => Cell::Text(Cow::Owned(other.to_string())),
            })
        })?;
    }
    let texts = row_texts(&builder.finish()?)?;
    Ok(rows
        .iter()
        .zip(texts)
        .map(|(r, t)| r.as_ref().map(|_| t))
        .collect())
}

/// The values of a nested column as JSON text (lists as arrays, structs and maps as
/// objects), one writer for the whole column; `None` for NULL.
pub fn json_texts(array: &dyn Array) -> Result<Vec<Option<String>>> {
    let field = arrow::datatypes::Field::new("v", array.data_type().clone(), true);
    let batch = RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(vec![field])),
        vec![arrow::array::make_array(array.to_data())],
    )
    .map_err(|e| Error::internal(format!("cannot write values as JSON: {e}")))?;
    let mut out = Vec::new();
    let mut w = arrow::json::LineDelimitedWriter::new(&mut out);
    w.write(&batch)
        .and_then(|_| w.finish())
        .map_err(|e| Error::internal(format!("cannot write values as JSON: {e}")))?;
    let mut lines = out.split(|b| *b == b'\n');
    Ok((0..array.len())
        .map(|row| {
            let line = lines.next().unwrap_or_default();
            if array.is_null(row) {
                return None;
            }
            serde_json::from_slice::<serde_json::Value>(line)
                .ok()
                .and_then(|v| v.get("v").map(|v| v.to_string()))
        })
        .collect())
}

/// A value of an integer, time or timestamp column as its count (of its unit, for times and
/// timestamps), read in place.
fn int_at(array: &dyn Array, row: usize) -> Option<i64> {
    use arrow::datatypes::*;
    Some(match array.data_type() {
        DataType::Int8 => array.as_primitive::<Int8Type>().value(row) as i64,
        DataType::Int16 => array.as_primitive::<Int16Type>().value(row) as i64,
        DataType::Int32 => array.as_primitive::<Int32Type>().value(row) as i64,
        DataType::Int64 => array.as_primitive::<Int64Type>().value(row),
        DataType::UInt8 => array.as_primitive::<UInt8Type>().value(row) as i64,
        DataType::UInt16 => array.as_primitive::<UInt16Type>().value(row) as i64,
        DataType::UInt32 => array.as_primitive::<UInt32Type>().value(row) as i64,
        DataType::Time32(TimeUnit::Second) => array.as_primitive::<Time32SecondType>().value(row) as i64,
        DataType::Time32(_) => array.as_primitive::<Time32MillisecondType>().value(row) as i64,
        DataType::Time64(TimeUnit::Microsecond) => array.as_primitive::<Time64MicrosecondType>().value(row),
        DataType::Time64(_) => array.as_primitive::<Time64NanosecondType>().value(row),
        DataType::Timestamp(TimeUnit::Second, _) => array.as_primitive::<TimestampSecondType>().value(row),
        DataType::Timestamp(TimeUnit::Millisecond, _) => {
            array.as_primitive::<TimestampMillisecondType>().value(row)
        }
        DataType::Timestamp(TimeUnit::Microsecond, _) => {
            array.as_primitive::<TimestampMicrosecondType>().value(row)
        }
        DataType::Timestamp(TimeUnit::Nanosecond, _) => {
            array.as_primitive::<TimestampNanosecondType>().value(row)
        }
        _ => return None,
    })
}

/// One value of an Arrow column of a column type, as a cell: integers of every width as
/// `Int`, `float16` as `Float`, `uint64` and decimals as their text, times and timestamps of
/// other units than microseconds as `Int` counts of their unit, nested values as JSON text.
pub fn cell<'a>(array: &'a dyn Array, row: usize, ty: &ColumnType) -> Cell<'a> {
    if array.is_null(row) {
        return Cell::Null;
    }
    let text = |a: &dyn Array| {
        Cell::Text(Cow::Owned(
            arrow::util::display::array_value_to_string(a, row).unwrap_or_default(),
        ))
    };
    match ty {
        ColumnType::Bool => Cell::Bool(array.as_boolean().value(row)),
        ColumnType::Int32 => Cell::Int(array.as_primitive::<Int32Type>().value(row) as i64),
        ColumnType::Int64 => Cell::Int(array.as_primitive::<Int64Type>().value(row)),
        ColumnType::Float32 => Cell::Float(array.as_primitive::<Float32Type>().value(row) as f64),
        ColumnType::Float64 => Cell::Float(array.as_primitive::<Float64Type>().value(row)),
        ColumnType::String | ColumnType::Json => {
            Cell::Text(Cow::Borrowed(array.as_string::<i32>().value(row)))
        }
        ColumnType::Binary => Cell::Bytes(array.as_binary::<i32>().value(row)),
        ColumnType::FixedBinary(_) => Cell::Bytes(array.as_fixed_size_binary().value(row)),
        ColumnType::Date => Cell::Days(array.as_primitive::<Date32Type>().value(row)),
        ColumnType::Int8
        | ColumnType::Int16
        | ColumnType::UInt8
        | ColumnType::UInt16
        | ColumnType::UInt32 => int_at(array, row).map_or(Cell::Null, Cell::Int),
        ColumnType::Float16 => Cell::Float(array.as_primitive::<Float16Type>().value(row).to_f64()),
        ColumnType::Timestamp { unit, .. } => match int_at(array, row) {
            Some(v) if *unit == TimeUnit::Microsecond => Cell::Micros(v),
            Some(v) => Cell::Int(v),
            None => Cell::Null,
        },
        ColumnType::Time(unit) => {
            let Some(v) = int_at(array, row) else {
                return Cell::Null;
            };
            match convert_unit(v, *unit, TimeUnit::Microsecond) {
                Some(m) if *unit != TimeUnit::Nanosecond => Cell::TimeMicros(m),
                _ => Cell::Int(v),
            }
        }
        ColumnType::UInt64 | ColumnType::Decimal { .. } | ColumnType::Unsupported(_) => text(array),
        ColumnType::List(_) | ColumnType::Struct(_) | ColumnType::Map(..) => {
            match json_texts(&array.slice(row, 1)).map(|mut t| t.pop().flatten()) {
                Ok(Some(json)) => Cell::Text(Cow::Owned(json)),
                _ => Cell::Null,
            }
        }
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
    FixedBinary(FixedSizeBinaryBuilder),
    Timestamp(TimestampMicrosecondBuilder),
    Date(Date32Builder),
    /// Integers of another width, cast to `.1` at the end (a value that does not fit fails
    /// there, naming the column).
    Ints(Int64Builder, DataType),
    /// `float16`.
    Floats(Float64Builder, DataType),
    /// Times and timestamps of any unit: counts of `.1`, then cast to `.2`.
    Counts(Int64Builder, TimeUnit, DataType),
    /// Text parsed into `.1` at the end: decimals and `uint64` by their text, nested values
    /// from JSON.
    Parsed(StringBuilder, ColumnType),
}

impl ColumnBuilder {
    fn new(ty: &ColumnType, capacity: usize) -> ColumnBuilder {
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
            ColumnType::FixedBinary(n) => {
                ColumnBuilder::FixedBinary(FixedSizeBinaryBuilder::with_capacity(capacity, *n))
            }
            t @ ColumnType::Timestamp { .. } if *t == ColumnType::timestamp() => ColumnBuilder::Timestamp(
                TimestampMicrosecondBuilder::with_capacity(capacity).with_timezone(UTC),
            ),
            ColumnType::Timestamp { unit, .. } | ColumnType::Time(unit) => {
                ColumnBuilder::Counts(Int64Builder::with_capacity(capacity), *unit, ty.data_type())
            }
            ColumnType::Date => ColumnBuilder::Date(Date32Builder::with_capacity(capacity)),
            ColumnType::Int8
            | ColumnType::Int16
            | ColumnType::UInt8
            | ColumnType::UInt16
            | ColumnType::UInt32 => {
                ColumnBuilder::Ints(Int64Builder::with_capacity(capacity), ty.data_type())
            }
            ColumnType::Float16 => {
                ColumnBuilder::Floats(Float64Builder::with_capacity(capacity), ty.data_type())
            }
            other => ColumnBuilder::Parsed(
                StringBuilder::with_capacity(capacity, capacity * 16),
                other.clone(),
            ),
        }
    }

    fn null(&mut self) {
        match self {
            ColumnBuilder::Bool(b) => b.append_null(),
            ColumnBuilder::Int32(b) => b.append_null(),
            ColumnBuilder::Int64(b) | ColumnBuilder::Ints(b, _) | ColumnBuilder::Counts(b, ..) => {
                b.append_null()
            }
            ColumnBuilder::Float32(b) => b.append_null(),
            ColumnBuilder::Float64(b) | ColumnBuilder::Floats(b, _) => b.append_null(),
            ColumnBuilder::Text(b) | ColumnBuilder::Parsed(b, _) => b.append_null(),
            ColumnBuilder::Binary(b) => b.append_null(),
            ColumnBuilder::FixedBinary(b) => b.append_null(),
            ColumnBuilder::Timestamp(b) => b.append_null(),
            ColumnBuilder::Date(b) => b.append_null(),
        }
    }

    /// Appends a value; `false` when it is not one of the column's type.
    fn push(&mut self, v: &Cell<'_>) -> bool {
        use ColumnBuilder as B;
        match (self, v) {
            (b, Cell::Null) => b.null(),
            (B::Bool(b), Cell::Bool(x)) => b.append_value(*x),
            (B::Bool(b), Cell::Int(i)) => b.append_value(*i != 0),
            (B::Int32(b), Cell::Int(i)) => match i32::try_from(*i) {
                Ok(i) => b.append_value(i),
                Err(_) => return false,
            },
            (B::Int64(b) | B::Ints(b, _), Cell::Int(i)) => b.append_value(*i),
            (B::Int64(b), Cell::Float(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => {
                b.append_value(*f as i64)
            }
            (B::Float32(b), Cell::Int(i)) => b.append_value(*i as f32),
            (B::Float32(b), Cell::Float(f)) => b.append_value(*f as f32),
            (B::Float64(b) | B::Floats(b, _), Cell::Int(i)) => b.append_value(*i as f64),
            (B::Float64(b) | B::Floats(b, _), Cell::Float(f)) => b.append_value(*f),
            // A number the database keeps as text (PostgreSQL's unconstrained numeric).
            (B::Float64(b), Cell::Text(t)) => match t.parse::<f64>() {
                Ok(f) => b.append_value(f),
                Err(_) => return false,
            },
            (B::Text(b), Cell::Text(t)) => b.append_value(t),
            (B::Text(b), Cell::Int(i)) => b.append_value(i.to_string()),
            (B::Text(b), Cell::Float(f)) => b.append_value(f.to_string()),
            (B::Binary(b), Cell::Bytes(x)) => b.append_value(x),
            (B::Binary(b), Cell::Text(t)) => b.append_value(t.as_bytes()),
            (B::FixedBinary(b), Cell::Bytes(x)) => return b.append_value(x).is_ok(),
            (B::Timestamp(b), Cell::Int(i) | Cell::Micros(i)) => b.append_value(*i),
            (B::Timestamp(b), Cell::Text(t)) => match string_to_timestamp_nanos(t) {
                Ok(n) => b.append_value(n.div_euclid(1000)),
                Err(_) => return false,
            },
            (B::Counts(b, _, _), Cell::Int(i)) => b.append_value(*i),
            (B::Counts(b, unit, _), Cell::Micros(m) | Cell::TimeMicros(m)) => {
                match convert_unit(*m, TimeUnit::Microsecond, *unit) {
                    Some(v) => b.append_value(v),
                    None => return false,
                }
            }
            (B::Counts(b, unit, DataType::Timestamp(..)), Cell::Text(t)) => {
                match string_to_timestamp_nanos(t)
                    .ok()
                    .and_then(|n| convert_unit(n, TimeUnit::Nanosecond, *unit))
                {
                    Some(v) => b.append_value(v),
                    None => return false,
                }
            }
            (B::Counts(b, unit, _), Cell::Text(t)) => {
                let nanos = arrow::datatypes::Time64NanosecondType::parse(t);
                match nanos.and_then(|n| convert_unit(n, TimeUnit::Nanosecond, *unit)) {
                    Some(v) => b.append_value(v),
                    None => return false,
                }
            }
            (B::Parsed(b, _), Cell::Text(t)) => b.append_value(t),
            (B::Parsed(b, ColumnType::UInt64 | ColumnType::Decimal { .. }), Cell::Int(i)) => {
                b.append_value(i.to_string())
            }
            (B::Parsed(b, ColumnType::Decimal { .. }), Cell::Float(f)) if f.is_finite() => {
                b.append_value(f.to_string())
            }
            (B::Date(b), Cell::Days(d)) => b.append_value(*d),
            (B::Date(b), Cell::Int(i)) => match i32::try_from(*i) {
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

    fn finish(&mut self) -> std::result::Result<ArrayRef, String> {
        let strict = crate::table::compute::strict();
        let cast = |a: ArrayRef, to: &DataType| {
            // Int64 reaches Time32 through Int32.
            let a = match to {
                DataType::Time32(_) => {
                    cast_with_options(&a, &DataType::Int32, &strict).map_err(|e| e.to_string())?
                }
                _ => a,
            };
            cast_with_options(&a, to, &strict).map_err(|e| e.to_string())
        };
        Ok(match self {
            ColumnBuilder::Bool(b) => Arc::new(b.finish()),
            ColumnBuilder::Int32(b) => Arc::new(b.finish()),
            ColumnBuilder::Int64(b) => Arc::new(b.finish()),
            ColumnBuilder::Float32(b) => Arc::new(b.finish()),
            ColumnBuilder::Float64(b) => Arc::new(b.finish()),
            ColumnBuilder::Text(b) => Arc::new(b.finish()),
            ColumnBuilder::Binary(b) => Arc::new(b.finish()),
            ColumnBuilder::FixedBinary(b) => Arc::new(b.finish()),
            ColumnBuilder::Timestamp(b) => Arc::new(b.finish()),
            ColumnBuilder::Date(b) => Arc::new(b.finish()),
            ColumnBuilder::Ints(b, to) | ColumnBuilder::Counts(b, _, to) => cast(Arc::new(b.finish()), to)?,
            ColumnBuilder::Floats(b, to) => cast(Arc::new(b.finish()), to)?,
            ColumnBuilder::Parsed(b, ty) if ty.is_nested() => {
                let text = b.finish();
                let values: Vec<serde_json::Value> = text
                    .iter()
                    .map(|t| match t {
                        Some(t) => serde_json::from_str(t).map_err(|e| format!("{t} is not JSON: {e}")),
                        None => Ok(serde_json::Value::Null),
                    })
                    .collect::<std::result::Result<_, String>>()?;
                let refs: Vec<&serde_json::Value> = values.iter().collect();
                crate::table::items::json_decode(ty, &refs).map_err(|(i, e)| format!("{} ({e})", refs[i]))?
            }
            ColumnBuilder::Parsed(b, ty) => cast(Arc::new(b.finish()), &ty.data_type())?,
        })
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
        let builders = types.iter().map(|t| ColumnBuilder::new(t, capacity)).collect();
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
        let types = table.columns.iter().map(|c| c.column_type.clone()).collect();
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
            if !self.builders[i].push(&v) {
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
        let mut arrays: Vec<ArrayRef> = Vec::with_capacity(self.builders.len());
        for (i, b) in self.builders.iter_mut().enumerate() {
            arrays.push(b.finish().map_err(|e| {
                Error::invalid_input(format!(
                    "column '{}' is {} but holds a value that is not one in the database: {e}",
                    self.schema.field(i).name(),
                    self.types[i]
                ))
            })?);
        }
        let rows = std::mem::take(&mut self.rows);
        let options = RecordBatchOptions::new().with_row_count(Some(rows));
        RecordBatch::try_new_with_options(self.schema.clone(), arrays, &options)
            .map_err(|e| Error::internal(format!("cannot build a batch: {e}")))
    }
}
