//! Rendering the filter language as SQL for SQL drivers. The shape of every expression is
//! shared; a [`Dialect`] says how a literal becomes a bound parameter (so a filter can never
//! change the statement it is part of) and how `LIKE`/`ILIKE` are written.

use arrow::datatypes::SchemaRef;

use crate::error::{Error, Result};
use crate::filter::{BinOp, Expr, Like, Value};
use crate::table::compute::{project_schema, Finish};
use crate::table::{Column, ColumnType, OpRead, TableSchema};

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

/// The columns a batch of items (checked against `schema`) gives, each with its index in
/// the batch.
pub fn item_columns<'a>(
    schema: &'a TableSchema,
    batch: &arrow::array::RecordBatch,
    table: &str,
) -> Result<Vec<(usize, &'a Column)>> {
    batch
        .schema()
        .fields()
        .iter()
        .enumerate()
        .map(|(i, f)| Ok((i, schema.expect_column(f.name(), table)?)))
        .collect()
}

/// What makes an insert of `columns` an upsert by the table's key:
/// ` ON CONFLICT ("k") DO UPDATE SET "c" = excluded."c", …` (`DO NOTHING` when only key
/// columns are given), in the syntax SQLite and PostgreSQL share; empty for a table without
/// a key.
pub fn upsert_clause(schema: &TableSchema, columns: &[(usize, &Column)]) -> String {
    if schema.key.is_empty() {
        return String::new();
    }
    let conflict: Vec<String> = schema.key.iter().map(|k| ident(k)).collect();
    let set: Vec<String> = columns
        .iter()
        .filter(|(_, c)| !schema.key.contains(&c.name))
        .map(|(_, c)| format!("{0} = excluded.{0}", ident(&c.name)))
        .collect();
    let action = if set.is_empty() {
        "NOTHING".to_string()
    } else {
        format!("UPDATE SET {}", set.join(", "))
    };
    format!(" ON CONFLICT ({}) DO {action}", conflict.join(", "))
}

/// The `SELECT` of a table read.
pub struct Select {
    /// The statement.
    pub sql: String,
    /// The schema of its rows.
    pub schema: SchemaRef,
    /// The column type of each of its columns.
    pub types: Vec<ColumnType>,
    /// What the host does to its rows: the part of the filter the backend does not evaluate
    /// exactly as bindery defines it, then the projection and limit that must come after it
    /// (empty when the statement does it all).
    pub finish: Finish,
}

/// What differs between SQL drivers.
pub trait Dialect {
    /// A literal as a bound parameter (its placeholder, such as `?` or `$3::text::bigint`),
    /// or `NULL`. `column` is the column the literal meets, if it meets one: its type and name.
    fn literal(&mut self, v: &Value, column: Option<(&ColumnType, &str)>) -> Result<String>;

    /// `value [NOT] LIKE pattern` (the pattern a parameter); `ILIKE` only in update
    /// expressions (filters never push it down: case folding differs between backends).
    fn like(&mut self, value: &str, pattern: &Like) -> String;

    /// A column in an expression (`column_type` when the table has it).
    fn column(&self, name: &str, column_type: Option<&ColumnType>) -> String {
        let _ = column_type;
        ident(name)
    }

    /// A column in the `SELECT` list, as the backend hands it over best (PostgreSQL: a
    /// `numeric` as text, an array as JSON).
    fn select_column(&self, name: &str, column_type: &ColumnType) -> String {
        let _ = column_type;
        ident(name)
    }

    /// Whether the backend compares `a` with `b` exactly as bindery does, given that both are
    /// evaluated exactly and their types meet (checked before). `kinds` are their types.
    fn compares_exactly(&self, a: (&Expr, Option<&ColumnType>), b: (&Expr, Option<&ColumnType>)) -> bool {
        let _ = (a, b);
        true
    }
}

/// The type of an expression, as far as pushdown decisions need it: a column's type, or the
/// type a bare literal has on its own.
fn kind<'a>(schema: &'a TableSchema, e: &Expr) -> Option<&'a ColumnType> {
    const INT: ColumnType = ColumnType::Int64;
    const FLOAT: ColumnType = ColumnType::Float64;
    const BOOL: ColumnType = ColumnType::Bool;
    const STR: ColumnType = ColumnType::String;
    match e {
        Expr::Column(path) => schema.column(&path.join(".")).map(|c| &c.column_type),
        Expr::Literal(Value::Int(_)) => Some(&INT),
        Expr::Literal(Value::Float(_)) => Some(&FLOAT),
        Expr::Literal(Value::Bool(_)) => Some(&BOOL),
        Expr::Literal(Value::Str(_)) => Some(&STR),
        _ => None,
    }
}

/// The operands of a chain of `AND`s, in order.
fn conjuncts(e: &Expr) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut todo = vec![e];
    while let Some(e) = todo.pop() {
        match e {
            Expr::Binary(l, BinOp::And, r) => {
                todo.push(r);
                todo.push(l);
            }
            other => out.push(other),
        }
    }
    out
}

/// `a AND b AND …` of `items` (`None` when there are none).
fn all_of(items: Vec<Expr>) -> Option<Expr> {
    items
        .into_iter()
        .reduce(|a, b| Expr::Binary(Box::new(a), BinOp::And, Box::new(b)))
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

    /// Whether the backend evaluates `e` exactly as bindery defines it (the README's filter
    /// table): comparisons, `IN`, `BETWEEN`, `IS NULL`, case-sensitive `LIKE` and the logic
    /// over them, where the dialect compares the operands exactly. Arithmetic (overflow and
    /// division by zero are `NULL` here, an error or a float elsewhere) and `ILIKE` (case
    /// folding differs) are left to the host.
    pub fn pushable(&self, e: &Expr) -> bool {
        // Only columns of the basic types: the others (decimals, uint64, times, other
        // timestamp units, nested values) are stored as text or counts the backend would
        // compare differently.
        let basic = |x: &Expr| kind(self.schema, x).is_none_or(ColumnType::is_basic);
        let cmp = |a: &Expr, b: &Expr| {
            self.pushable(a)
                && self.pushable(b)
                && basic(a)
                && basic(b)
                && self
                    .dialect
                    .compares_exactly((a, kind(self.schema, a)), (b, kind(self.schema, b)))
        };
        match e {
            Expr::Column(_) | Expr::Literal(_) => true,
            Expr::Binary(l, BinOp::And | BinOp::Or, r) => self.pushable(l) && self.pushable(r),
            Expr::Binary(
                l,
                BinOp::Eq | BinOp::NotEq | BinOp::Lt | BinOp::LtEq | BinOp::Gt | BinOp::GtEq,
                r,
            ) => cmp(l, r),
            Expr::Binary(..) | Expr::Neg(_) => false,
            Expr::Not(x) => self.pushable(x),
            Expr::IsNull(x, _) => self.pushable(x),
            Expr::InList(x, list, _) => list.iter().all(|i| cmp(x, i)),
            Expr::Between(x, lo, hi, _) => cmp(x, lo) && cmp(x, hi),
            Expr::Like(x, p) => !p.insensitive && self.pushable(x) && basic(x),
        }
    }

    fn column(&self, e: Option<&Expr>) -> Option<(&'a ColumnType, String)> {
        match e? {
            Expr::Column(path) => {
                let name = path.join(".");
                self.schema.column(&name).map(|c| (&c.column_type, name))
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
        // The filter's conjuncts the backend evaluates exactly go into the statement; the
        // others are the host's, and the columns they name are read too.
        let (pushed, residual) = match &op.filter {
            None => (Vec::new(), None),
            Some(f) => {
                let (pushed, rest): (Vec<&Expr>, Vec<&Expr>) =
                    conjuncts(&f.expr).into_iter().partition(|c| self.pushable(c));
                (pushed, all_of(rest.into_iter().cloned().collect()))
            }
        };
        let mut wanted = op.select.clone();
        if let (Some(r), false) = (&residual, wanted.is_empty()) {
            for c in r.columns() {
                if !wanted.contains(&c) {
                    wanted.push(c);
                }
            }
        }
        let (schema, indices) = if wanted.is_empty() {
            (arrow.clone(), (0..arrow.fields().len()).collect())
        } else {
            project_schema(&arrow, &wanted, table)?
        };
        let types: Vec<ColumnType> = indices
            .iter()
            .map(|i| self.schema.columns[*i].column_type.clone())
            .collect();
        let columns: Vec<String> = schema
            .fields()
            .iter()
            .zip(&types)
            .map(|(f, t)| self.dialect.select_column(f.name(), t))
            .collect();
        let mut sql = format!("SELECT {} FROM {}", columns.join(", "), ident(table));
        let mut conditions = Vec::new();
        for c in pushed {
            conditions.push(self.expr(c)?);
        }
        if let Some((part, parts)) = op.partition {
            conditions.push(partition(part, parts));
        }
        if !conditions.is_empty() {
            sql.push_str(" WHERE ");
            sql.push_str(&conditions.join(" AND "));
        }
        if !op.order_by.is_empty() {
            // NULLs last either way, as the host sorts (both SQLite and PostgreSQL say so
            // explicitly; their defaults differ).
            let keys: Vec<String> = op
                .order_by
                .iter()
                .map(|o| {
                    let ty = self.schema.column(&o.column).map(|c| &c.column_type);
                    let dir = if o.descending { "DESC" } else { "ASC" };
                    format!("{} {dir} NULLS LAST", self.dialect.column(&o.column, ty))
                })
                .collect();
            sql.push_str(" ORDER BY ");
            sql.push_str(&keys.join(", "));
        }
        let mut finish = Finish::default();
        match op.limit {
            Some(limit) if residual.is_none() => {
                sql.push_str(&format!(" LIMIT {}", limit.min(i64::MAX as u64)))
            }
            limit => finish.limit = limit,
        }
        if residual.is_some() && wanted.len() != op.select.len() {
            finish.select = op.select.clone();
        }
        finish.filter = residual;
        Ok(Select {
            sql,
            schema,
            types,
            finish,
        })
    }

    /// Renders an expression.
    pub fn expr(&mut self, e: &Expr) -> Result<String> {
        Ok(match e {
            Expr::Column(path) => {
                let name = path.join(".");
                let ty = self.schema.column(&name).map(|c| &c.column_type);
                self.dialect.column(&name, ty)
            }
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
            Expr::Like(x, pattern) => {
                let v = self.expr(x)?;
                self.dialect.like(&v, pattern)
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upserts_update_the_given_columns_by_key() {
        let schema = TableSchema::parse("user text, addr text, age int64")
            .unwrap()
            .with_key("user", None)
            .unwrap();
        let col = |n: &str| schema.column(n).unwrap();
        let given = [(0, col("user")), (1, col("age"))];
        assert_eq!(
            upsert_clause(&schema, &given),
            r#" ON CONFLICT ("user") DO UPDATE SET "age" = excluded."age""#
        );
        assert_eq!(
            upsert_clause(&schema, &given[..1]),
            r#" ON CONFLICT ("user") DO NOTHING"#
        );
        let keyless = TableSchema::parse("a text").unwrap();
        assert_eq!(upsert_clause(&keyless, &[(0, keyless.column("a").unwrap())]), "");
    }
}
