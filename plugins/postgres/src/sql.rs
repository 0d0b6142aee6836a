//! Rendering bindery's expressions as PostgreSQL. Every literal becomes a bound parameter
//! sent as text and cast in the statement to the type it meets (`$1::text::bigint`), so a
//! filter can never change the statement and PostgreSQL parses each value by its own rules.

use bindery_core::arrow::array::{Array, AsArray};
use bindery_core::arrow::util::display::array_value_to_string;
use bindery_core::filter::{Expr, Like, Value};
use bindery_core::table::sql::Dialect;
use bindery_core::{ColumnType, Error, Result, TableSchema};

pub use bindery_core::table::sql::ident;

/// The PostgreSQL type of a column type.
pub fn pg_type(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Bool => "boolean",
        ColumnType::Int32 => "integer",
        ColumnType::Int64 => "bigint",
        ColumnType::Float32 => "real",
        ColumnType::Float64 => "double precision",
        ColumnType::String => "text",
        ColumnType::Binary => "bytea",
        ColumnType::Timestamp => "timestamptz",
        ColumnType::Date => "date",
        ColumnType::Json => "json",
    }
}

/// The column type of a PostgreSQL type name (`information_schema`'s `data_type`), for tables
/// bindery did not create.
pub fn type_of_pg(name: &str) -> Option<ColumnType> {
    Some(match name {
        "boolean" => ColumnType::Bool,
        "smallint" | "integer" => ColumnType::Int32,
        "bigint" => ColumnType::Int64,
        "real" => ColumnType::Float32,
        "double precision" => ColumnType::Float64,
        "text" | "character varying" | "character" | "name" | "uuid" => ColumnType::String,
        "bytea" => ColumnType::Binary,
        "timestamp with time zone" | "timestamp without time zone" => ColumnType::Timestamp,
        "date" => ColumnType::Date,
        "json" | "jsonb" => ColumnType::Json,
        _ => return None,
    })
}

/// One cell of an Arrow column as the text PostgreSQL parses into the column's type
/// (`None`: NULL).
pub fn text_cell(array: &dyn Array, row: usize, ty: ColumnType) -> Result<Option<String>> {
    if array.is_null(row) {
        return Ok(None);
    }
    Ok(Some(match ty {
        ColumnType::Binary => {
            let bytes = array.as_binary::<i32>().value(row);
            let mut hex = String::with_capacity(2 + bytes.len() * 2);
            hex.push_str("\\x");
            for b in bytes {
                hex.push_str(&format!("{b:02x}"));
            }
            hex
        }
        ColumnType::String | ColumnType::Json => array.as_string::<i32>().value(row).to_string(),
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
    fn literal(&mut self, v: &Value, column: Option<(ColumnType, &str)>) -> Result<String> {
        let Some(text) = literal_text(v) else {
            return Ok("NULL".into());
        };
        let pg = match (column.map(|(t, _)| t), v) {
            // An integer column meets a fraction as an exact number (bigint against double
            // precision would round the integer).
            (Some(ColumnType::Int32 | ColumnType::Int64), Value::Float(_)) => "numeric",
            (Some(ty), _) => pg_type(ty),
            (None, Value::Bool(_)) => "boolean",
            (None, Value::Int(_)) => "bigint",
            (None, Value::Float(_)) => "double precision",
            (None, _) => "text",
        };
        Ok(self.param(Some(text), pg))
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
    fn column(&self, name: &str, column_type: Option<ColumnType>) -> String {
        match column_type {
            Some(ColumnType::String) => format!("({} COLLATE \"C\")", ident(name)),
            _ => ident(name),
        }
    }

    /// An integer meeting a float compares exactly only as a column or literal against a
    /// fraction literal (sent as `numeric`), or as an integer literal a float holds exactly.
    fn compares_exactly(&self, a: (&Expr, Option<ColumnType>), b: (&Expr, Option<ColumnType>)) -> bool {
        let int = |t: Option<ColumnType>| matches!(t, Some(ColumnType::Int32 | ColumnType::Int64));
        let float = |t: Option<ColumnType>| matches!(t, Some(ColumnType::Float32 | ColumnType::Float64));
        let exact = |(ie, it): (&Expr, Option<ColumnType>), (fe, ft): (&Expr, Option<ColumnType>)| {
            if !(int(it) && float(ft)) {
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
