//! Rendering bindery's expressions as PostgreSQL. Every literal becomes a bound parameter
//! sent as text and cast in the statement to the type it meets (`$1::text::bigint`), so a
//! filter can never change the statement and PostgreSQL parses each value by its own rules.

use bindery_core::arrow::array::{Array, AsArray};
use bindery_core::arrow::util::display::array_value_to_string;
use bindery_core::filter::{Expr, Like, Value};
use bindery_core::table::sql::Dialect;
use bindery_core::{ColumnType, Error, Result, TableSchema};

pub use bindery_core::table::sql::ident;

/// The PostgreSQL type a column of `ty` is created as; `column` names it in the error for a
/// type PostgreSQL cannot hold without loss.
///
/// Integers go to the narrowest signed type that holds every value (`uint32` to `bigint`,
/// `uint64` to `numeric(20, 0)`), `float16` to `real`, `decimal(p, s)` to `numeric(p, s)`,
/// fixed-width binary to `bytea`, a timestamp with a zone to `timestamptz` (PostgreSQL keeps
/// the instant, not the zone's name) and one without to `timestamp`, nested columns to
/// `jsonb`. Nanosecond timestamps and times are refused: PostgreSQL keeps microseconds.
pub fn pg_type(ty: &ColumnType, column: &str) -> Result<String> {
    use bindery_core::table::schema::TimeUnit;
    Ok(match ty {
        ColumnType::Bool => "boolean".into(),
        ColumnType::Int8 | ColumnType::Int16 | ColumnType::UInt8 => "smallint".into(),
        ColumnType::Int32 | ColumnType::UInt16 => "integer".into(),
        ColumnType::Int64 | ColumnType::UInt32 => "bigint".into(),
        ColumnType::UInt64 => "numeric(20, 0)".into(),
        ColumnType::Float16 | ColumnType::Float32 => "real".into(),
        ColumnType::Float64 => "double precision".into(),
        ColumnType::Decimal { precision, scale } => format!("numeric({precision}, {scale})"),
        ColumnType::String => "text".into(),
        ColumnType::Binary | ColumnType::FixedBinary(_) => "bytea".into(),
        ColumnType::Timestamp {
            unit: TimeUnit::Nanosecond,
            ..
        }
        | ColumnType::Time(TimeUnit::Nanosecond) => {
            return Err(Error::invalid_input(format!(
            "column '{column}' is {ty}, but PostgreSQL keeps microseconds; declare it with (us) or coarser"
        )))
        }
        ColumnType::Timestamp { zone: Some(_), .. } => "timestamptz".into(),
        ColumnType::Timestamp { zone: None, .. } => "timestamp".into(),
        ColumnType::Date => "date".into(),
        ColumnType::Time(_) => "time".into(),
        ColumnType::Json => "json".into(),
        ColumnType::List(_) | ColumnType::Struct(_) | ColumnType::Map(..) => "jsonb".into(),
        ColumnType::Unsupported(what) => {
            return Err(Error::invalid_input(format!(
                "column '{column}' has a type bindery does not write ({what})"
            )))
        }
    })
}

/// The column type of a PostgreSQL column (`information_schema.columns`' `data_type`,
/// `udt_name`, `numeric_precision` and `numeric_scale`), for tables bindery did not create;
/// a type bindery does not read is [`ColumnType::Unsupported`] (the table can still be read
/// without that column).
pub fn type_of_pg(data_type: &str, udt_name: &str, precision: Option<i32>, scale: Option<i32>) -> ColumnType {
    use bindery_core::table::schema::TimeUnit;
    match data_type {
        "boolean" => ColumnType::Bool,
        "smallint" => ColumnType::Int16,
        "integer" => ColumnType::Int32,
        "bigint" => ColumnType::Int64,
        "real" => ColumnType::Float32,
        "double precision" => ColumnType::Float64,
        // Without a precision PostgreSQL keeps any number of digits; bindery reads it as
        // float64, as DuckDB's PostgreSQL scanner does.
        "numeric" => match (precision, scale) {
            (Some(p @ 1..=38), Some(s)) => ColumnType::Decimal {
                precision: p as u8,
                scale: s as i8,
            },
            _ => ColumnType::Float64,
        },
        "text" | "character varying" | "character" | "name" | "uuid" => ColumnType::String,
        "bytea" => ColumnType::Binary,
        "timestamp with time zone" => ColumnType::timestamp(),
        "timestamp without time zone" => ColumnType::Timestamp {
            unit: TimeUnit::Microsecond,
            zone: None,
        },
        "time without time zone" => ColumnType::Time(TimeUnit::Microsecond),
        "date" => ColumnType::Date,
        "json" | "jsonb" => ColumnType::Json,
        "ARRAY" => {
            let element = type_of_pg(&element_type(udt_name), "", None, None);
            if element.is_basic() && element != ColumnType::Json {
                ColumnType::List(Box::new(element))
            } else {
                ColumnType::Unsupported(format!("PostgreSQL array {udt_name}"))
            }
        }
        other => ColumnType::Unsupported(format!("PostgreSQL {other}")),
    }
}

/// The `data_type` of an array's element, from the array's `udt_name` (`_int8`).
fn element_type(udt_name: &str) -> String {
    match udt_name.trim_start_matches('_') {
        "bool" => "boolean",
        "int2" => "smallint",
        "int4" => "integer",
        "int8" => "bigint",
        "float4" => "real",
        "float8" => "double precision",
        "text" | "varchar" | "bpchar" | "name" | "uuid" => "text",
        "bytea" => "bytea",
        "timestamptz" => "timestamp with time zone",
        "timestamp" => "timestamp without time zone",
        "date" => "date",
        other => other,
    }
    .to_string()
}

/// One cell of an Arrow column as the text PostgreSQL parses into the column's type
/// (`None`: NULL): binary as `\x` hex, nested values as JSON, others as Arrow displays them.
pub fn text_cell(array: &dyn Array, row: usize, ty: &ColumnType) -> Result<Option<String>> {
    if array.is_null(row) {
        return Ok(None);
    }
    let hex = |bytes: &[u8]| {
        let mut hex = String::with_capacity(2 + bytes.len() * 2);
        hex.push_str("\\x");
        for b in bytes {
            hex.push_str(&format!("{b:02x}"));
        }
        hex
    };
    Ok(Some(match ty {
        ColumnType::Binary => hex(array.as_binary::<i32>().value(row)),
        ColumnType::FixedBinary(_) => hex(array.as_fixed_size_binary().value(row)),
        ColumnType::String | ColumnType::Json => array.as_string::<i32>().value(row).to_string(),
        t if t.is_nested() => match bindery_core::table::build::cell(array, row, t) {
            bindery_core::table::build::Cell::Text(json) => json.into_owned(),
            _ => return Ok(None),
        },
        _ => array_value_to_string(array, row)
            .map_err(|e| Error::internal(format!("cannot render a value as text: {e}")))?,
    }))
}

/// A literal as text for PostgreSQL.
fn literal_text(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::Bool(b) => Some(b.to_string()),
        Value::Int(i) => Some(i.to_string()),
        // Exactly: an integral float with every digit (2^60 is 1152921504606846976, not the
        // shortest "1.152921504606847e18"), others by the shortest text that reads back as
        // the same float (below 2^52, no integer lies between the two).
        Value::Float(f) if f.fract() == 0.0 && f.abs() < 1e300 => Some(format!("{f:.0}")),
        Value::Float(f) => Some(format!("{f:?}")),
        Value::Str(s) => Some(s.clone()),
    }
}

/// PostgreSQL's side of rendering: every literal a text parameter cast to the type it meets.
#[derive(Default)]
pub struct Pg {
    /// The parameters, in the order of their `$n`.
    pub params: Vec<Option<String>>,
}

impl Pg {
    /// A new parameter of `pg` type: `$n::text::pg`.
    pub fn param(&mut self, value: Option<String>, pg: &str) -> String {
        self.params.push(value);
        format!("${}::text::{pg}", self.params.len())
    }
}

impl Dialect for Pg {
    /// A literal, typed by the column it meets (a fraction meeting an integer column stays a
    /// fraction, as the host compares it).
    fn literal(&mut self, v: &Value, column: Option<(&ColumnType, &str)>) -> Result<String> {
        let Some(text) = literal_text(v) else {
            return Ok("NULL".into());
        };
        let pg = match (column, v) {
            // An integer or decimal column meets a fraction as an exact number (bigint against
            // double precision would round the integer, numeric(p, s) would round the literal).
            (Some((ty, _)), Value::Float(_))
                if is_int(Some(ty)) || matches!(ty, ColumnType::Decimal { .. }) =>
            {
                "numeric".into()
            }
            (Some((ty, name)), _) => pg_type(ty, name)?,
            (None, Value::Bool(_)) => "boolean".into(),
            (None, Value::Int(_)) => "bigint".into(),
            (None, Value::Float(_)) => "double precision".into(),
            (None, _) => "text".into(),
        };
        Ok(self.param(Some(text), &pg))
    }

    fn like(&mut self, value: &str, pattern: &Like) -> String {
        // PostgreSQL's LIKE escapes with `\` unless told otherwise: the pattern is rewritten
        // for that escape.
        let not = if pattern.negated { "NOT " } else { "" };
        let like = if pattern.insensitive { "ILIKE" } else { "LIKE" };
        let p = self.param(Some(pattern.with_escape('\\')), "text");
        format!("({value} {not}{like} {p})")
    }

    /// Text columns compare by code point (`COLLATE "C"`), as bindery compares strings,
    /// whatever the database's collation.
    fn column(&self, name: &str, column_type: Option<&ColumnType>) -> String {
        match column_type {
            Some(ColumnType::String) => format!("({} COLLATE \"C\")", ident(name)),
            _ => ident(name),
        }
    }

    /// Nested columns come as JSON text (`to_json`, which also reads a native array).
    fn select_column(&self, name: &str, column_type: &ColumnType) -> String {
        if column_type.is_nested() {
            format!("to_json({0}) AS {0}", ident(name))
        } else {
            ident(name)
        }
    }

    /// An integer meeting a float compares exactly only as a column or literal against a
    /// fraction literal (sent as `numeric`), or as an integer literal a float holds exactly.
    fn compares_exactly(&self, a: (&Expr, Option<&ColumnType>), b: (&Expr, Option<&ColumnType>)) -> bool {
        let float = |t: Option<&ColumnType>| {
            matches!(
                t,
                Some(ColumnType::Float16 | ColumnType::Float32 | ColumnType::Float64)
            )
        };
        let exact = |(ie, it): (&Expr, Option<&ColumnType>), (fe, ft): (&Expr, Option<&ColumnType>)| {
            if !(is_int(it) && float(ft)) {
                return true;
            }
            match (ie, fe) {
                (Expr::Column(_), Expr::Literal(Value::Float(_))) => true,
                (Expr::Literal(Value::Int(i)), Expr::Column(_)) => (*i as f64) as i128 == *i as i128,
                _ => false,
            }
        };
        exact(a, b) && exact(b, a)
    }
}

/// Whether `ty` is one of the integer types PostgreSQL holds as an integer.
fn is_int(ty: Option<&ColumnType>) -> bool {
    ty.is_some_and(ColumnType::fits_i64)
}

/// A renderer of PostgreSQL expressions.
pub type Render<'a> = bindery_core::table::sql::Render<'a, Pg>;

/// A renderer for expressions over `schema`'s columns.
pub fn render(schema: &TableSchema) -> Render<'_> {
    Render::new(schema, Pg::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::filter::Filter;

    #[test]
    fn literals_become_text_parameters_cast_to_their_column() {
        let schema = TableSchema::parse("name text, at timestamp, n int64").unwrap();
        let f = Filter::parse("name = 'x''; DROP TABLE t; --' AND at > '2024-01-01T00:00:00Z' OR n > 2.5")
            .unwrap();
        let mut r = render(&schema);
        let sql = r.expr(&f.expr).unwrap();
        assert_eq!(
            sql,
            r#"(((("name" COLLATE "C") = $1::text::text) AND ("at" > $2::text::timestamptz)) OR ("n" > $3::text::numeric))"#
        );
        assert_eq!(
            r.dialect.params,
            [
                Some("x'; DROP TABLE t; --".to_string()),
                Some("2024-01-01T00:00:00Z".into()),
                Some("2.5".into())
            ]
        );
    }
}
