//! Rendering the filter language as SQL for SQL drivers. The shape of every expression is
//! shared; a [`Dialect`] says how a literal becomes a bound parameter (so a filter can never
//! change the statement it is part of) and how `LIKE`/`ILIKE` are written.

use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::filter::{Expr, Value};
use crate::table::compute::project_schema;
use crate::table::{ColumnType, OpRead, TableSchema};

/// A double-quoted SQL identifier.
pub fn ident(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// The one table a path names for a SQL driver: not empty, without `/`, and not a name
/// `reserved` says belongs to `owner` (the database) or to bindery.
pub fn table_name(path: &str, driver: &str, owner: &str, reserved: impl Fn(&str) -> bool) -> Result<String> {
    let name = path.trim_matches('/');
    if name.is_empty() {
        return Err(Error::invalid_input(
            "name a table: the path (or the binding's `path`) is empty",
        ));
    }
    if name.contains('/') {
        return Err(Error::invalid_input(format!(
            "'{name}' is not a table name: a {driver} table is one name, without '/'"
        )));
    }
    if reserved(name) {
        return Err(Error::invalid_input(format!(
            "'{name}' is reserved by {owner} or bindery"
        )));
    }
    Ok(name.to_string())
}

/// The `SELECT` of a table read.
pub struct Select {
    /// The statement.
    pub sql: String,
    /// The schema of its rows.
    pub schema: SchemaRef,
    /// The column type of each of its columns.
    pub types: Vec<ColumnType>,
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

    /// The `SELECT` of a read of `table`: the selected columns (all when none), the filter,
    /// the part (`partition(part, parts)` renders its condition) and the limit. Parameters go
    /// to the dialect.
    pub fn select(
        &mut self,
        table: &str,
        op: &OpRead,
        partition: impl Fn(u32, u32) -> String,
    ) -> Result<Select> {
        let arrow = self.schema.to_arrow();
        let (schema, indices) = if op.select.is_empty() {
            (arrow.clone(), (0..arrow.fields().len()).collect())
        } else {
            project_schema(&arrow, &op.select, table)?
        };
        let types = indices
            .iter()
            .map(|i| self.schema.columns[*i].column_type)
            .collect();
        let columns: Vec<String> = schema.fields().iter().map(|f| ident(f.name())).collect();
        let mut sql = format!("SELECT {} FROM {}", columns.join(", "), ident(table));
        let mut conditions = Vec::new();
        if let Some(f) = &op.filter {
            conditions.push(self.expr(&f.expr)?);
        }
        if let Some((part, parts)) = op.partition {
            conditions.push(partition(part, parts));
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        if let Some(limit) = op.limit {
            sql.push_str(&format!(" LIMIT {}", limit.min(i64::MAX as u64)));
        }
        Ok(Select { sql, schema, types })
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
