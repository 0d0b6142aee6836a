//! Writes: one `BEGIN IMMEDIATE` transaction each; conditions and read-only columns are
//! checked against the rows as they are inside it, and any refusal rolls all of it back.

use bindery_core::arrow::array::{ArrayRef, RecordBatch};
use bindery_core::filter::Filter;
use bindery_core::table::items::{check_condition, check_read_only, check_update, rows_to_delete, typed_key};
use bindery_core::table::sql::{item_columns, upsert_clause};
use bindery_core::{ColumnType, Error, Items, Key, OpDeleteRows, OpWrite, Result, TableSchema};
use rusqlite::types::Value as Sql;
use rusqlite::{params_from_iter, Transaction};

use crate::error::map;
use crate::sql::{ident, render};
use crate::table::Db;
use crate::values::{cell, push_row, BatchBuilder};

/// Runs a checked write; returns how many rows it wrote.
pub fn write(db: &Db, table: &str, op: OpWrite) -> Result<u64> {
    let what = format!("write to table '{table}'");
    if let Items::Batches(batches) = &op.items {
        refuse_nan(batches, table)?;
    }
    db.write(|conn| {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map(e, &what))?;
        let schema = db.schema(&tx, table)?;
        let written = match &op.items {
            Items::Batches(batches) => {
                let mut n = 0;
                for b in batches {
                    n += upsert(&tx, &schema, table, b, op.condition.as_ref())?;
                }
                n
            }
            Items::Json(_) => return Err(Error::internal("JSON items reached the sqlite driver unchecked")),
            Items::None => update(&tx, &schema, table, &op)?,
        };
        tx.commit().map_err(|e| map(e, &what))?;
        Ok(written)
    })
}

/// SQLite stores a NaN as NULL: such an item is refused (naming it) rather than changed.
fn refuse_nan(batches: &[RecordBatch], table: &str) -> Result<()> {
    use bindery_core::arrow::array::AsArray;
    use bindery_core::arrow::datatypes::{DataType, Float32Type, Float64Type};
    let mut first = 0;
    for b in batches {
        for (i, field) in b.schema().fields().iter().enumerate() {
            let column = b.column(i);
            let nan = match field.data_type() {
                DataType::Float64 => column
                    .as_primitive::<Float64Type>()
                    .iter()
                    .position(|v| v.is_some_and(f64::is_nan)),
                DataType::Float32 => column
                    .as_primitive::<Float32Type>()
                    .iter()
                    .position(|v| v.is_some_and(f32::is_nan)),
                _ => None,
            };
            if let Some(row) = nan {
                return Err(Error::invalid_input(format!(
                    "item {} of the write to table '{table}': column '{}' is NaN, which SQLite cannot store (it would read back as NULL); nothing was written",
                    first + row + 1,
                    field.name()
                )));
            }
        }
        first += b.num_rows();
    }
    Ok(())
}

fn key_text(key: &[Sql]) -> String {
    let parts: Vec<String> = key
        .iter()
        .map(|v| match v {
            Sql::Text(t) => format!("'{t}'"),
            Sql::Integer(i) => i.to_string(),
            Sql::Real(f) => f.to_string(),
            Sql::Null => "NULL".into(),
            Sql::Blob(b) => format!("{} bytes", b.len()),
        })
        .collect();
    format!("({})", parts.join(", "))
}

/// The rows of `keys` as they are now, one per key, every column; `NULL`s where there is no
/// row. Also says which exist.
fn rows_now(
    tx: &Transaction<'_>,
    schema: &TableSchema,
    table: &str,
    keys: &[Vec<Sql>],
) -> Result<(RecordBatch, Vec<bool>)> {
    let what = format!("read the rows the write to table '{table}' touches");
    let mut builder = BatchBuilder::rows_of(schema, keys.len());
    let columns: Vec<String> = schema.columns.iter().map(|c| ident(&c.name)).collect();
    let matching: Vec<String> = schema.key.iter().map(|k| format!("{} = ?", ident(k))).collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {}",
        columns.join(", "),
        ident(table),
        matching.join(" AND ")
    );
    let mut stmt = tx.prepare_cached(&sql).map_err(|e| map(e, &what))?;
    let mut exists = Vec::with_capacity(keys.len());
    for key in keys {
        let mut rows = stmt
            .query(params_from_iter(key.iter()))
            .map_err(|e| map(e, &what))?;
        match rows.next().map_err(|e| map(e, &what))? {
            Some(row) => {
                push_row(&mut builder, row)?;
                exists.push(true);
            }
            None => {
                builder.push_nulls();
                exists.push(false);
            }
        }
    }
    Ok((builder.finish()?, exists))
}

/// Upserts a batch of items: each row inserted, or its given columns updated.
fn upsert(
    tx: &Transaction<'_>,
    schema: &TableSchema,
    table: &str,
    batch: &RecordBatch,
    condition: Option<&Filter>,
) -> Result<u64> {
    let what = format!("write to table '{table}'");
    let given = batch.schema();
    let columns = item_columns(schema, batch, table)?;
    let rows = batch.num_rows();
    let keyed = !schema.key.is_empty();
    let key_index: Vec<usize> = schema
        .key
        .iter()
        .map(|k| {
            given
                .index_of(k)
                .map_err(|_| Error::internal(format!("key column '{k}' missing from checked items")))
        })
        .collect::<Result<_>>()?;
    let keys: Vec<Vec<Sql>> = if keyed {
        key_cells(schema, batch, &key_index)
    } else {
        Vec::new()
    };
    if keyed && (condition.is_some() || columns.iter().any(|(_, c)| c.read_only)) {
        let (now, exists) = rows_now(tx, schema, table, &keys)?;
        if let Some(cond) = condition {
            check_condition(cond, &now, table, |i| key_text(&keys[i]))?;
        }
        check_read_only(schema, batch, &now, &exists, table, |i| key_text(&keys[i]))?;
    }
    let names: Vec<String> = columns.iter().map(|(_, c)| ident(&c.name)).collect();
    let marks = vec!["?"; names.len()].join(", ");
    let mut sql = format!(
        "INSERT INTO {} ({}) VALUES ({marks})",
        ident(table),
        names.join(", ")
    );
    sql.push_str(&upsert_clause(schema, &columns));
    let mut stmt = tx.prepare_cached(&sql).map_err(|e| map(e, &what))?;
    let arrays: Vec<(&ArrayRef, &ColumnType)> = columns
        .iter()
        .map(|(i, c)| (batch.column(*i), &c.column_type))
        .collect();
    let mut row = Vec::with_capacity(arrays.len());
    for r in 0..rows {
        row.clear();
        row.extend(arrays.iter().map(|(a, ty)| cell(a.as_ref(), r, ty)));
        stmt.execute(params_from_iter(row.iter()))
            .map_err(|e| map(e, &what))?;
    }
    Ok(rows as u64)
}

/// The types of the key columns, in key order.
fn key_types(schema: &TableSchema) -> Vec<ColumnType> {
    schema
        .key
        .iter()
        .map(|k| {
            schema
                .column(k)
                .map_or(ColumnType::String, |c| c.column_type.clone())
        })
        .collect()
}

fn key_cells(schema: &TableSchema, batch: &RecordBatch, key_index: &[usize]) -> Vec<Vec<Sql>> {
    let types = key_types(schema);
    (0..batch.num_rows())
        .map(|r| {
            key_index
                .iter()
                .zip(&types)
                .map(|(i, ty)| cell(batch.column(*i).as_ref(), r, ty))
                .collect()
        })
        .collect()
}

/// Keys as SQLite values of the key columns' types.
fn typed_keys(schema: &TableSchema, keys: &[Key], table: &str) -> Result<Vec<Vec<Sql>>> {
    let types = key_types(schema);
    keys.iter()
        .map(|k| {
            Ok(typed_key(schema, k, table)?
                .iter()
                .zip(&types)
                .map(|(a, ty)| cell(a.as_ref(), 0, ty))
                .collect())
        })
        .collect()
}

/// Updates the rows of `op.keys` by the update expression.
fn update(tx: &Transaction<'_>, schema: &TableSchema, table: &str, op: &OpWrite) -> Result<u64> {
    let what = format!("update table '{table}'");
    let expression = op
        .expression
        .as_ref()
        .ok_or_else(|| Error::internal("a write without items or expression reached the sqlite driver"))?;
    let keys = typed_keys(schema, &op.keys, table)?;
    let (now, exists) = rows_now(tx, schema, table, &keys)?;
    check_update(op.condition.as_ref(), &now, &exists, table, |i| {
        key_text(&keys[i])
    })?;
    let mut render = render(schema);
    let mut set = Vec::with_capacity(expression.set.len());
    for (column, e) in &expression.set {
        set.push(format!("{} = {}", ident(column), render.expr(e)?));
    }
    let matching: Vec<String> = schema.key.iter().map(|k| format!("{} = ?", ident(k))).collect();
    let sql = format!(
        "UPDATE {} SET {} WHERE {}",
        ident(table),
        set.join(", "),
        matching.join(" AND ")
    );
    let mut stmt = tx.prepare_cached(&sql).map_err(|e| map(e, &what))?;
    for key in &keys {
        let params = render.dialect.params.iter().chain(key.iter());
        stmt.execute(params_from_iter(params))
            .map_err(|e| map(e, &what))?;
    }
    Ok(keys.len() as u64)
}

/// Removes the rows of a checked delete in one `BEGIN IMMEDIATE` transaction: the rows of its
/// keys (or those passing the part of its filter SQLite evaluates as bindery does) are read,
/// the whole filter and the condition are applied to them, and the rows chosen are removed by
/// `rowid`; any refusal removes nothing.
pub fn delete(db: &Db, table: &str, op: OpDeleteRows) -> Result<u64> {
    let what = format!("delete from table '{table}'");
    db.write(|conn| {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| map(e, &what))?;
        let schema = db.schema(&tx, table)?;
        let mut render = render(&schema);
        let mut clauses = Vec::new();
        if let Some(f) = op.filter.as_ref().filter(|f| render.pushable(&f.expr)) {
            clauses.push(format!("({})", render.expr(&f.expr)?));
        }
        let keys = typed_keys(&schema, &op.keys, table)?;
        if !keys.is_empty() {
            clauses.extend(schema.key.iter().map(|k| format!("{} = ?", ident(k))));
        }
        let columns: Vec<String> = schema.columns.iter().map(|c| ident(&c.name)).collect();
        let sql = format!(
            "SELECT {}, rowid FROM {}{}",
            columns.join(", "),
            ident(table),
            if clauses.is_empty() {
                String::new()
            } else {
                format!(" WHERE {}", clauses.join(" AND "))
            }
        );
        let mut builder = BatchBuilder::rows_of(&schema, keys.len());
        let mut rowids: Vec<i64> = Vec::new();
        {
            let mut stmt = tx.prepare_cached(&sql).map_err(|e| map(e, &what))?;
            let n = schema.columns.len();
            let mut found = |params: Vec<&Sql>| -> Result<()> {
                let mut rows = stmt.query(params_from_iter(params)).map_err(|e| map(e, &what))?;
                while let Some(row) = rows.next().map_err(|e| map(e, &what))? {
                    push_row(&mut builder, row)?;
                    rowids.push(row.get(n).map_err(|e| map(e, &what))?);
                }
                Ok(())
            };
            if keys.is_empty() {
                found(render.dialect.params.iter().collect())?;
            } else {
                for key in &keys {
                    found(render.dialect.params.iter().chain(key.iter()).collect())?;
                }
            }
        }
        let found = builder.finish()?;
        let chosen = rows_to_delete(&schema, &op, &found, table)?;
        let mut stmt = tx
            .prepare_cached(&format!("DELETE FROM {} WHERE rowid = ?", ident(table)))
            .map_err(|e| map(e, &what))?;
        for i in &chosen {
            stmt.execute([rowids[*i]]).map_err(|e| map(e, &what))?;
        }
        drop(stmt);
        tx.commit().map_err(|e| map(e, &what))?;
        Ok(chosen.len() as u64)
    })
}
