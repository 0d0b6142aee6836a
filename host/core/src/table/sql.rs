//! Rendering the filter language as SQL for SQL drivers. The shape of every expression is
//! shared; a [`Dialect`] says how a literal becomes a bound parameter (so a filter can never
//! change the statement it is part of) and how `LIKE`/`ILIKE` are written.

use crate::error::Result;
use crate::filter::{Expr, Value};
use crate::table::{ColumnType, TableSchema};

/// A double-quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// What differs between SQL drivers.
pub trait Dialect {
    /// A literal as a bound parameter (its placeholder, such as `?` or `$3::text::bigint`),
    /// or `NULL`. `column` is the column the literal meets, if it meets one: its type and name.
    fn literal(&mut self, v: &Value, column: Option<(ColumnType, &str)>) -> Result<String>;

    /// `value [NOT] LIKE pattern`, case-insensitive when asked (the pattern is a parameter).
    fn like(&mut self, value: &str, pattern: &str, negated: bool, insensitive: bool) -> String;
}

/// Renders expressions over one table's columns.
pub struct Render<'a, D> {
    schema: &'a TableSchema,
    /// The dialect, holding the parameters.
    pub dialect: D,
}

impl<'a, D: Dialect> Render<'a, D> {
    /// A renderer for expressions over `schema`'s columns.
    pub fn new(schema: &'a TableSchema, dialect: D) -> Self {
        Render { schema, dialect }
    }

    fn column(&self, e: Option<&Expr>) -> Option<(ColumnType, String)> {
        match e? {
            Expr::Column(path) => {
                let name = path.join(".");
                self.schema.column(&name).map(|c| (c.column_type, name))
            }
            _ => None,
        }
    }

    fn operand(&mut self, e: &Expr, other: Option<&Expr>) -> Result<String> {
        match e {
            Expr::Literal(v) => {
                let column = self.column(other);
                self.dialect
                    .literal(v, column.as_ref().map(|(t, n)| (*t, n.as_str())))
            }
            _ => self.expr(e),
        }
    }

    /// Renders an expression.
    pub fn expr(&mut self, e: &Expr) -> Result<String> {
        Ok(match e {
            Expr::Column(path) => ident(&path.join(".")),
            Expr::Literal(v) => self.dialect.literal(v, None)?,
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
                let v = self.expr(x)?;
                self.dialect.like(&v, pattern, *negated, *insensitive)
            }
        })
    }
}
