//! Rendering bindery's expressions as SQLite SQL. Every literal becomes a bound parameter: a
//! filter can never change the statement it is part of. Identifiers are double-quoted.

use bindery_core::filter::{Like, Value};
use bindery_core::table::compute::literal_array;
use bindery_core::table::sql::Dialect;
use bindery_core::{ColumnType, Error, Result, TableSchema};
use rusqlite::types::Value as Sql;

use crate::values::cell;

pub use bindery_core::table::sql::ident;

/// The declared SQLite type of a column type (see [`crate::values`] for how values are
/// stored), or `InvalidInput` naming the column for a type SQLite cannot hold.
pub fn declared(ty: &ColumnType, column: &str) -> Result<&'static str> {
    Ok(match ty {
        ColumnType::Bool
        | ColumnType::Int8
        | ColumnType::Int16
        | ColumnType::Int32
        | ColumnType::Int64
        | ColumnType::UInt8
        | ColumnType::UInt16
        | ColumnType::UInt32
        | ColumnType::Timestamp { .. }
        | ColumnType::Time(_)
        | ColumnType::Date => "INTEGER",
        ColumnType::Float16 | ColumnType::Float32 | ColumnType::Float64 => "REAL",
        ColumnType::String | ColumnType::Json => "TEXT",
        // Exact, as its text (SQLite's NUMERIC would round it to a float).
        ColumnType::Decimal { .. } => "DECIMAL_TEXT",
        ColumnType::Binary | ColumnType::FixedBinary(_) => "BLOB",
        // Its integers are signed 64-bit: a uint64 is kept as its digits (in a column whose
        // declared type has no "INT" in it, which would give it INTEGER affinity).
        ColumnType::UInt64 => "BIGUNSIGNED_TEXT",
        ColumnType::List(_) | ColumnType::Struct(_) | ColumnType::Map(..) => "NESTED_JSON_TEXT",
        ColumnType::Unsupported(what) => {
            return Err(Error::invalid_input(format!(
                "column '{column}' has a type bindery does not write ({what})"
            )))
        }
    })
}

/// A literal as a SQLite value of a column's type.
pub fn typed_literal(v: &Value, ty: &ColumnType, column: &str) -> Result<Sql> {
    if *v == Value::Null {
        return Ok(Sql::Null);
    }
    Ok(cell(literal_array(v, ty, column)?.as_ref(), 0, ty))
}

fn natural(v: &Value) -> Sql {
    match v {
        Value::Null => Sql::Null,
        Value::Bool(b) => Sql::Integer(*b as i64),
        Value::Int(i) => Sql::Integer(*i),
        Value::Float(f) => Sql::Real(*f),
        Value::Str(s) => Sql::Text(s.clone()),
    }
}

/// SQLite's side of rendering: `?` parameters; timestamps, dates and booleans given as text
/// become the values SQLite stores for them.
#[derive(Default)]
pub struct Sqlite {
    /// The parameters, in order of their `?`.
    pub params: Vec<Sql>,
}

impl Dialect for Sqlite {
    fn literal(&mut self, v: &Value, column: Option<(&ColumnType, &str)>) -> Result<String> {
        // Quoted text meeting a column is read as a value of its type by the host's rules
        // (`n = '5'`, `at > '2024-05-01'`), and so is a boolean meeting a boolean column
        // (stored as 0 or 1); numbers stay numbers (SQLite compares integers with reals
        // exactly).
        let value = match column {
            Some((ty, name))
                if matches!(v, Value::Str(_)) || (*ty == ColumnType::Bool && matches!(v, Value::Bool(_))) =>
            {
                typed_literal(v, ty, name)?
            }
            _ => natural(v),
        };
        if value == Sql::Null {
            return Ok("NULL".into());
        }
        self.params.push(value);
        Ok("?".into())
    }

    fn like(&mut self, value: &str, pattern: &Like) -> String {
        // Connections run with `case_sensitive_like` on, so LIKE is case-sensitive as in SQL;
        // the pattern is rewritten to escape with `\`. (ILIKE, ASCII-only here, is only
        // rendered for update expressions: filters leave it to the host.)
        let not = if pattern.negated { "NOT " } else { "" };
        self.params.push(Sql::Text(pattern.with_escape('\\')));
        if pattern.insensitive {
            format!("(lower({value}) {not}LIKE lower(?) ESCAPE '\\')")
        } else {
            format!("({value} {not}LIKE ? ESCAPE '\\')")
        }
    }
}

/// A renderer of SQLite expressions.
pub type Render<'a> = bindery_core::table::sql::Render<'a, Sqlite>;

/// A renderer for expressions over `schema`'s columns.
pub fn render(schema: &TableSchema) -> Render<'_> {
    Render::new(schema, Sqlite::default())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::filter::Filter;

    #[test]
    fn literals_become_parameters_typed_by_their_column() {
        let schema = TableSchema::parse("name text, at timestamp, ok bool").unwrap();
        let f = Filter::parse(
            "name = 'x''; DROP TABLE t; --' AND at > '1970-01-01T00:00:01Z' AND ok = TRUE OR name LIKE 'A%'",
        )
        .unwrap();
        let mut r = render(&schema);
        let sql = r.expr(&f.expr).unwrap();
        assert_eq!(
            sql,
            r#"(((("name" = ?) AND ("at" > ?)) AND ("ok" = ?)) OR ("name" LIKE ? ESCAPE '\'))"#
        );
        assert_eq!(
            r.dialect.params,
            [
                Sql::Text("x'; DROP TABLE t; --".into()),
                Sql::Integer(1_000_000),
                Sql::Integer(1),
                Sql::Text("A%".into())
            ]
        );
    }
}
