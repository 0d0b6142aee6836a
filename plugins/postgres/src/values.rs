//! PostgreSQL's binary values as cells for Arrow batches.

use std::borrow::Cow;

use bindery_core::arrow::array::Array;
use bindery_core::table::build::{self, BatchBuilder, Cell};
use bindery_core::{ColumnType, Error, Result};
use bytes::{BufMut, BytesMut};
use tokio_postgres::types::{to_sql_checked, FromSql, IsNull, ToSql, Type};
use tokio_postgres::Row;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01).
const PG_EPOCH_MICROS: i64 = 946_684_800_000_000;
/// Days from the Unix epoch to PostgreSQL's.
const PG_EPOCH_DAYS: i32 = 10_957;

/// A cell in PostgreSQL's binary format, for `COPY … (FORMAT binary)`: the column's type
/// decides the width.
#[derive(Debug)]
pub struct Bin<'a>(pub Cell<'a>);

impl ToSql for Bin<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match (&self.0, ty) {
            (Cell::Null, _) => return Ok(IsNull::Yes),
            (Cell::Bool(b), _) => out.put_u8(*b as u8),
            (Cell::Int(i), &Type::INT4) => out.put_i32(i32::try_from(*i)?),
            (Cell::Int(i), _) => out.put_i64(*i),
            (Cell::Float(f), &Type::FLOAT4) => out.put_f32(*f as f32),
            (Cell::Float(f), _) => out.put_f64(*f),
            (Cell::Text(t), _) => out.put_slice(t.as_bytes()),
            (Cell::Bytes(b), _) => out.put_slice(b),
            (Cell::Micros(m), _) => out.put_i64(m - PG_EPOCH_MICROS),
            (Cell::Days(d), _) => out.put_i32(d - PG_EPOCH_DAYS),
            (Cell::TimeMicros(m), _) => out.put_i64(*m),
        }
        Ok(IsNull::No)
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// An Arrow cell as a binary value of the column type's PostgreSQL type.
pub fn bin<'a>(array: &'a dyn Array, row: usize, ty: &ColumnType) -> Bin<'a> {
    Bin(build::cell(array, row, ty))
}

/// The PostgreSQL type of a column type (as `sql::pg_type` names it), for the types `COPY`
/// sends in binary; `None` for the others (those batches go by statements).
pub fn pg_wire_type(ty: &ColumnType) -> Option<Type> {
    Some(match ty {
        ColumnType::Bool => Type::BOOL,
        ColumnType::Int32 => Type::INT4,
        ColumnType::Int64 => Type::INT8,
        ColumnType::Float32 => Type::FLOAT4,
        ColumnType::Float64 => Type::FLOAT8,
        ColumnType::String => Type::TEXT,
        ColumnType::Binary => Type::BYTEA,
        t if *t == ColumnType::timestamp() => Type::TIMESTAMPTZ,
        ColumnType::Date => Type::DATE,
        ColumnType::Json => Type::JSON,
        _ => return None,
    })
}

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
        Type::NUMERIC => Cell::Text(Cow::Owned(numeric_text(raw)?)),
        Type::TIME => Cell::TimeMicros(i64::from_be_bytes(be(raw)?)),
        Type::INT4 => Cell::Int(i32::from_be_bytes(be(raw)?) as i64),
        Type::INT8 => Cell::Int(i64::from_be_bytes(be(raw)?)),
        Type::FLOAT4 => Cell::Float(f32::from_be_bytes(be(raw)?) as f64),
        Type::FLOAT8 => Cell::Float(f64::from_be_bytes(be(raw)?)),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::JSON | Type::UNKNOWN => {
            Cell::Text(Cow::Borrowed(std::str::from_utf8(raw).ok()?))
        }
        // jsonb: a version byte (1), then the text.
        Type::JSONB => Cell::Text(Cow::Borrowed(std::str::from_utf8(raw.get(1..)?).ok()?)),
        Type::BYTEA => Cell::Bytes(raw),
        Type::TIMESTAMPTZ | Type::TIMESTAMP => Cell::Micros(i64::from_be_bytes(be(raw)?) + PG_EPOCH_MICROS),
        Type::DATE => Cell::Days(i32::from_be_bytes(be(raw)?) + PG_EPOCH_DAYS),
        _ => return None,
    })
}

/// A `numeric` in PostgreSQL's binary format as its decimal text (`NaN` and the infinities
/// by name): a count of base-10000 digits, the weight of the first, the sign, the scale.
fn numeric_text(raw: &[u8]) -> Option<String> {
    let word = |i: usize| be::<2>(raw.get(i * 2..)?).map(u16::from_be_bytes);
    let (ndigits, weight, sign, dscale) = (word(0)? as usize, word(1)? as i16, word(2)?, word(3)? as usize);
    match sign {
        0xC000 => return Some("NaN".into()),
        0xD000 => return Some("Infinity".into()),
        0xF000 => return Some("-Infinity".into()),
        _ => {}
    }
    let digits: Vec<u16> = (0..ndigits).map(|i| word(4 + i)).collect::<Option<_>>()?;
    let digit = |i: i32| {
        usize::try_from(i)
            .ok()
            .and_then(|i| digits.get(i))
            .copied()
            .unwrap_or(0)
    };
    let mut out = String::new();
    if sign == 0x4000 {
        out.push('-');
    }
    // The integer part: groups 0..=weight.
    if weight < 0 {
        out.push('0');
    } else {
        out.push_str(&digit(0).to_string());
        for i in 1..=weight as i32 {
            out.push_str(&format!("{:04}", digit(i)));
        }
    }
    if dscale > 0 {
        let mut fraction = String::new();
        let mut i = weight as i32 + 1;
        while fraction.len() < dscale {
            fraction.push_str(&format!("{:04}", digit(i)));
            i += 1;
        }
        fraction.truncate(dscale);
        out.push('.');
        out.push_str(&fraction);
    }
    Some(out)
}

/// The column type a result column of a PostgreSQL type reads as (for `sql` results).
pub fn type_of_result(ty: &Type) -> Result<ColumnType> {
    Ok(match *ty {
        Type::BOOL => ColumnType::Bool,
        Type::INT2 => ColumnType::Int16,
        Type::INT4 => ColumnType::Int32,
        Type::INT8 => ColumnType::Int64,
        Type::FLOAT4 => ColumnType::Float32,
        Type::FLOAT8 => ColumnType::Float64,
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => ColumnType::String,
        Type::JSON | Type::JSONB => ColumnType::Json,
        Type::BYTEA => ColumnType::Binary,
        Type::TIMESTAMPTZ => ColumnType::timestamp(),
        Type::TIMESTAMP => ColumnType::Timestamp {
            unit: bindery_core::table::schema::TimeUnit::Microsecond,
            zone: None,
        },
        Type::TIME => ColumnType::Time(bindery_core::table::schema::TimeUnit::Microsecond),
        Type::DATE => ColumnType::Date,
        // A query's numeric has no declared precision: its exact digits, as text.
        Type::NUMERIC => ColumnType::String,
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
