//! Rendering bindery's expressions as SQLite SQL. Every literal becomes a bound parameter: a
//! filter can never change the statement it is part of. Identifiers are double-quoted.

use bindery_core::filter::{Expr, Value};
use bindery_core::table::compute::literal_array;
use bindery_core::{ColumnType, Result, TableSchema};
use rusqlite::types::Value as Sql;

use crate::values::cell;

/// A double-quoted identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The declared SQLite type of a column type (see [`crate::values`] for how values are stored).
pub fn declared(ty: ColumnType) -> &'static str {
    match ty {
        ColumnType::Bool
        | ColumnType::Int32
        | ColumnType::Int64
        | ColumnType::Timestamp
        | ColumnType::Date => "INTEGER",
        ColumnType::Float32 | ColumnType::Float64 => "REAL",
        ColumnType::String | ColumnType::Json => "TEXT",
        ColumnType::Binary => "BLOB",
    }
}

/// A literal as a SQLite value of a column's type.
pub fn typed_literal(v: &Value, ty: ColumnType, column: &str) -> Result<Sql> {
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

/// Renders expressions of one table, collecting their parameters.
pub struct Render<'a> {
    schema: &'a TableSchema,
    /// The parameters, in order of their `?`.
    pub params: Vec<Sql>,
}

impl<'a> Render<'a> {
    /// A renderer for expressions over `schema`'s columns.
    pub fn new(schema: &'a TableSchema) -> Render<'a> {
        Render {
            schema,
            params: Vec::new(),
        }
    }

    fn column_type(&self, e: &Expr) -> Option<(ColumnType, String)> {
        match e {
            Expr::Column(path) => {
                let name = path.join(".");
                self.schema.column(&name).map(|c| (c.column_type, name))
            }
            _ => None,
        }
    }

    /// A literal typed by the column it meets (a timestamp's text becomes microseconds).
    fn literal(&mut self, v: &Value, other: Option<&Expr>) -> Result<String> {
        let typed = other.and_then(|o| self.column_type(o));
        let value = match typed {
            Some((ty @ (ColumnType::Timestamp | ColumnType::Date | ColumnType::Bool), name))
                if matches!(v, Value::Str(_) | Value::Bool(_)) =>
            {
                typed_literal(v, ty, &name)?
            }
            _ => natural(v),
        };
        if value == Sql::Null {
            return Ok("NULL".into());
        }
        self.params.push(value);
        Ok("?".into())
    }

    fn operand(&mut self, e: &Expr, other: Option<&Expr>) -> Result<String> {
        match e {
            Expr::Literal(v) => self.literal(v, other),
            _ => self.expr(e),
        }
    }

    /// Renders an expression.
    pub fn expr(&mut self, e: &Expr) -> Result<String> {
        Ok(match e {
            Expr::Column(path) => ident(&path.join(".")),
            Expr::Literal(v) => self.literal(v, None)?,
            Expr::Binary(l, op, r) => {
                let op = op.symbol();
                let a = self.operand(l, Some(r))?;
                let b = self.operand(r, Some(l))?;
                format!("({a} {op} {b})")
            }
            Expr::Not(x) => format!("(NOT {})", self.expr(x)?),
            Expr::Neg(x) => format!("(-{})", self.expr(x)?),
            Expr::IsNull(x, negated) => {
                format!(
                    "({} IS {}NULL)",
                    self.expr(x)?,
                    if *negated { "NOT " } else { "" }
                )
            }
            Expr::InList(x, list, negated) => {
                let v = self.expr(x)?;
                let mut items = Vec::with_capacity(list.len());
                for i in list {
                    items.push(self.operand(i, Some(x))?);
                }
                let not = if *negated { "NOT " } else { "" };
                format!("({v} {not}IN ({}))", items.join(", "))
            }
            Expr::Between(x, lo, hi, negated) => {
                let v = self.expr(x)?;
                let lo = self.operand(lo, Some(x))?;
                let hi = self.operand(hi, Some(x))?;
                let not = if *negated { "NOT " } else { "" };
                format!("({v} {not}BETWEEN {lo} AND {hi})")
            }
            Expr::Like(x, pattern, negated, insensitive) => {
                // Connections run with `case_sensitive_like` on, so LIKE is case-sensitive as
                // in SQL; ILIKE compares lower-cased.
                let v = self.expr(x)?;
                let not = if *negated { "NOT " } else { "" };
                self.params.push(Sql::Text(pattern.clone()));
                if *insensitive {
                    format!("(lower({v}) {not}LIKE lower(?))")
                } else {
                    format!("({v} {not}LIKE ?)")
                }
            }
        })
    }
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
        let mut r = Render::new(&schema);
        let sql = r.expr(&f.expr).unwrap();
        assert_eq!(
            sql,
            r#"(((("name" = ?) AND ("at" > ?)) AND ("ok" = ?)) OR ("name" LIKE ?))"#
        );
        assert_eq!(
            r.params,
            [
                Sql::Text("x'; DROP TABLE t; --".into()),
                Sql::Integer(1_000_000),
                Sql::Integer(1),
                Sql::Text("A%".into())
            ]
        );
    }
}
