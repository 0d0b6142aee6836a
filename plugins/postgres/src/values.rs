//! PostgreSQL's binary values as cells for Arrow batches.

use bindery_core::table::build::{BatchBuilder, Cell};
use bindery_core::{ColumnType, Error, Result};
use tokio_postgres::types::{FromSql, Type};
use tokio_postgres::Row;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from the Unix epoch to PostgreSQL's.
const PG_EPOCH_DAYS: i32 = 10_957;

/// A value's bytes in PostgreSQL's binary format, whatever its type.
struct Raw<'a>(&'a [u8]);

impl<'a> FromSql<'a> for Raw<'a> {
    fn from_sql(
        _: &Type,
        raw: &'a [u8],
    ) -> std::result::Result<Self, Box<dyn std::error::Error + Sync + Send>> {
        Ok(Raw(raw))
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

fn be<const N: usize>(raw: &[u8]) -> Option<[u8; N]> {
    raw.get(..N)?.try_into().ok()
}

/// A binary value of a PostgreSQL type as a cell; `None` for a type bindery does not read.
fn cell<'a>(ty: &Type, raw: &'a [u8]) -> Option<Cell<'a>> {
    Some(match *ty {
        Type::BOOL => Cell::Bool(*raw.first()? != 0),
        Type::INT2 => Cell::Int(i16::from_be_bytes(be(raw)?) as i64),
        Type::INT4 => Cell::Int(i32::from_be_bytes(be(raw)?) as i64),
        Type::INT8 => Cell::Int(i64::from_be_bytes(be(raw)?)),
        Type::FLOAT4 => Cell::Float(f32::from_be_bytes(be(raw)?) as f64),
        Type::FLOAT8 => Cell::Float(f64::from_be_bytes(be(raw)?)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
            Cell::Text(std::str::from_utf8(raw).ok()?)
        }
        // jsonb: a version byte (1), then the text.
        Type::JSONB => Cell::Text(std::str::from_utf8(raw.get(1..)?).ok()?),
        Type::BYTEA => Cell::Bytes(raw),
        Type::TIMESTAMPTZ | Type::TIMESTAMP => Cell::Micros(i64::from_be_bytes(be(raw)?) + PG_EPOCH_MICROS),
        Type::DATE => Cell::Days(i32::from_be_bytes(be(raw)?) + PG_EPOCH_DAYS),
        _ => return None,
    })
}

/// The column type a result column of a PostgreSQL type reads as (for `sql` results).
pub fn type_of_result(ty: &Type) -> Result<ColumnType> {
    Ok(match *ty {
        Type::BOOL => ColumnType::Bool,
        Type::INT2 | Type::INT4 => ColumnType::Int32,
        Type::INT8 => ColumnType::Int64,
        Type::FLOAT4 => ColumnType::Float32,
        Type::FLOAT8 => ColumnType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => ColumnType::String,
        Type::JSON | Type::JSONB => ColumnType::Json,
        Type::BYTEA => ColumnType::Binary,
        Type::TIMESTAMPTZ | Type::TIMESTAMP => ColumnType::Timestamp,
        Type::DATE => ColumnType::Date,
        _ => {
            return Err(Error::invalid_input(format!(
                "a result column has PostgreSQL type {ty}, which bindery does not read; cast it in the query (for example ::float8 or ::text)"
            )))
        }
    })
}

/// Appends one result row to a batch.
pub fn push_row(builder: &mut BatchBuilder, row: &Row) -> Result<()> {
    builder.push_row(|i| {
        let column = &row.columns()[i];
        let raw: Option<Raw<'_>> = row
            .try_get(i)
            .map_err(|e| Error::internal(format!("cannot read column '{}': {e}", column.name())))?;
        match raw {
            None => Ok(Cell::Null),
            Some(Raw(bytes)) => cell(column.type_(), bytes).ok_or_else(|| {
                Error::invalid_input(format!(
                    "column '{}' has PostgreSQL type {}, which bindery does not read",
                    column.name(),
                    column.type_()
                ))
            }),
        }
    })
}
