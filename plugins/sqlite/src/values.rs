//! Values between Arrow and SQLite.
//!
//! How each column type is stored: `bool` as INTEGER 0/1, `int8` … `int64` and `uint8` …
//! `uint32` as INTEGER, `float16`/`float32`/`float64` as REAL, `string` and `json` as TEXT,
//! `decimal(p, s)` as TEXT (its exact digits, declared `DECIMAL_TEXT`), `binary` and
//! `binary(n)` as BLOB, `timestamp` as INTEGER microseconds since the Unix epoch (a
//! `timestamp(unit, …)` in its unit), `time(unit)` as INTEGER units since midnight, `date` as
//! INTEGER days since the epoch, `uint64` as TEXT (its digits, declared `BIGUNSIGNED_TEXT`:
//! SQLite's integers are signed), `list`, `struct` and `map` as TEXT (JSON, declared
//! `NESTED_JSON_TEXT`). Filters on `decimal`, `uint64` and nested columns run in the host,
//! not in SQLite. Reading a table made elsewhere, a `timestamp` or `date` column holding
//! ISO-8601 text is read too.

use bindery_core::arrow::array::Array;
pub use bindery_core::table::build::BatchBuilder;
use bindery_core::table::build::{self, Cell};
use bindery_core::{ColumnType, Error, Result};
use rusqlite::types::{Value as Sql, ValueRef};

/// One cell of an Arrow column as a SQLite value.
pub fn cell(array: &dyn Array, row: usize, ty: &ColumnType) -> Sql {
    match (build::cell(array, row, ty), ty) {
        (Cell::Null, _) => Sql::Null,
        (Cell::Bool(b), _) => Sql::Integer(b as i64),
        (Cell::Int(i) | Cell::Micros(i), _) => Sql::Integer(i),
        // A time of day: a count of its column's unit.
        (Cell::TimeMicros(m), ColumnType::Time(unit)) => Sql::Integer(
            build::convert_unit(m, bindery_core::table::schema::TimeUnit::Microsecond, *unit).unwrap_or(m),
        ),
        (Cell::TimeMicros(m), _) => Sql::Integer(m),
        (Cell::Days(d), _) => Sql::Integer(d as i64),
        (Cell::Float(f), _) => Sql::Real(f),
        (Cell::Text(t), _) => Sql::Text(t.into_owned()),
        (Cell::Bytes(b), _) => Sql::Blob(b.to_vec()),
    }
}

/// A SQLite value as a cell for [`BatchBuilder`] (text that is not UTF-8 is bytes).
pub fn sqlite_cell(v: ValueRef<'_>) -> Cell<'_> {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Float(f),
        ValueRef::Text(t) => std::str::from_utf8(t).map_or(Cell::Bytes(t), |t| Cell::Text(t.into())),
        ValueRef::Blob(b) => Cell::Bytes(b),
    }
}

/// Appends one row of a SQLite result to a batch.
pub fn push_row(builder: &mut BatchBuilder, row: &rusqlite::Row<'_>) -> Result<()> {
    builder.push_row(|i| {
        row.get_ref(i)
            .map(sqlite_cell)
            .map_err(|e| Error::internal(format!("cannot read column {i}: {e}")))
    })
}

/// The column type for a declared SQLite type (for tables bindery did not create, and
/// query results), by SQLite's affinity rules plus the common names of other types.
pub fn type_of_declared(declared: &str) -> ColumnType {
    let d = declared.to_ascii_uppercase();
    if d == "DECIMAL_TEXT" || d == "BIGUNSIGNED_TEXT" || d == "NESTED_JSON_TEXT" {
        // What bindery declares for values it keeps as text, whose exact type a query result
        // no longer knows.
        return ColumnType::String;
    }
    if let Some(t) = ColumnType::parse(d.split('(').next().unwrap_or("").trim()).filter(|t| t.is_basic()) {
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
        ColumnType::timestamp()
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
