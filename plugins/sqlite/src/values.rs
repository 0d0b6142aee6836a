//! Values between Arrow and SQLite.
//!
//! How each column type is stored: `bool` as INTEGER 0/1, `int32`/`int64` as INTEGER,
//! `float32`/`float64` as REAL, `string` and `json` as TEXT, `binary` as BLOB, `timestamp` as
//! INTEGER microseconds since the Unix epoch, `date` as INTEGER days since the epoch. Reading
//! a table made elsewhere, a `timestamp` or `date` column holding ISO-8601 text is read too.

use bindery_core::arrow::array::Array;
pub use bindery_core::table::build::BatchBuilder;
use bindery_core::table::build::{self, Cell};
use bindery_core::{ColumnType, Error, Result};
use rusqlite::types::{Value as Sql, ValueRef};

/// One cell of an Arrow column as a SQLite value.
pub fn cell(array: &dyn Array, row: usize, ty: ColumnType) -> Sql {
    match build::cell(array, row, ty) {
        Cell::Null => Sql::Null,
        Cell::Bool(b) => Sql::Integer(b as i64),
        Cell::Int(i) | Cell::Micros(i) => Sql::Integer(i),
        Cell::Days(d) => Sql::Integer(d as i64),
        Cell::Float(f) => Sql::Real(f),
        Cell::Text(t) => Sql::Text(t.to_string()),
        Cell::Bytes(b) => Sql::Blob(b.to_vec()),
    }
}

/// A SQLite value as a cell for [`BatchBuilder`] (text that is not UTF-8 is bytes).
pub fn sqlite_cell(v: ValueRef<'_>) -> Cell<'_> {
    match v {
        ValueRef::Null => Cell::Null,
        ValueRef::Integer(i) => Cell::Int(i),
        ValueRef::Real(f) => Cell::Float(f),
        ValueRef::Text(t) => std::str::from_utf8(t).map_or(Cell::Bytes(t), Cell::Text),
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
