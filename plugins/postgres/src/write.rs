//! Writes: one transaction each; the rows a write touches are locked and read first, so
//! conditions and read-only columns are checked against them as they are, and any refusal
//! rolls all of it back.

use std::collections::HashSet;

use bindery_core::arrow::array::RecordBatch;
use bindery_core::arrow::row::{RowConverter, Rows, SortField};
use bindery_core::filter::Filter;
use bindery_core::table::build::BatchBuilder;
use bindery_core::table::items::{check_condition, check_read_only, check_update, rows_to_delete, typed_key};
use bindery_core::{Column, Error, Items, Key, OpDeleteRows, OpWrite, Result, TableSchema};
use tokio_postgres::types::ToSql;
use tokio_postgres::{Client, Transaction};

use crate::error::map;
use crate::sql::{ident, pg_type, render, text_cell};
use crate::table::load_schema;
use crate::values::{bin, pg_wire_type, push_row};
use bindery_core::table::sql::{item_columns, upsert_clause, Dialect};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::error::SqlState;

/// A key's values as text.
type KeyText = Vec<Option<String>>;

/// At most this many parameters in one statement (PostgreSQL's limit is 65535).
const MAX_PARAMS: usize = 32_000;
/// Batches of at least this many items go through `COPY`.
const COPY_ROWS: usize = 2000;

/// Runs a checked write; returns how many rows it wrote.
pub async fn write(client: &mut Client, table: &str, op: OpWrite) -> Result<u64> {
    let what = format!("write to table '{table}'");
    let tx = client.transaction().await.map_err(|e| map(e, &what))?;
    let schema = load_schema(&tx, table).await?;
    let written = match &op.items {
        Items::Batches(batches) => {
            let mut n = 0;
            for b in batches {
                n += upsert(&tx, &schema, table, b, op.condition.as_ref()).await?;
            }
            n
        }
        Items::Json(_) => {
            return Err(Error::internal(
                "JSON items reached the postgres driver unchecked",
            ))
        }
        Items::None => update(&tx, &schema, table, &op).await?,
    };
    tx.commit().await.map_err(|e| map(e, &what))?;
    Ok(written)
}

fn params(values: &[Option<String>]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

fn key_text(key: &KeyText) -> String {
    let parts: Vec<String> = key
        .iter()
        .map(|v| v.as_ref().map_or("NULL".into(), |t| format!("'{t}'")))
        .collect();
    format!("({})", parts.join(", "))
}

fn key_columns(schema: &TableSchema) -> Vec<&Column> {
    schema.key.iter().filter_map(|k| schema.column(k)).collect()
}

/// `"k1" = $n::text::type AND …`, numbering from `first`.
fn key_match(schema: &TableSchema, first: usize) -> Result<String> {
    Ok(key_columns(schema)
        .iter()
        .enumerate()
        .map(|(i, c)| {
            Ok(format!(
                "{} = ${}::text::{}",
                ident(&c.name),
                first + i,
                pg_type(&c.column_type, &c.name)?
            ))
        })
        .collect::<Result<Vec<_>>>()?
        .join(" AND "))
}

/// Keys as text, cast by the statements to the key columns' types.
fn typed_keys(schema: &TableSchema, keys: &[Key], table: &str) -> Result<Vec<KeyText>> {
    let key_cols = key_columns(schema);
    keys.iter()
        .map(|k| {
            typed_key(schema, k, table)?
                .iter()
                .zip(&key_cols)
                .map(|(a, c)| text_cell(a.as_ref(), 0, &c.column_type))
                .collect()
        })
        .collect()
}

/// The rows of `keys` as they are now (locked until the transaction ends), one per key,
/// every column; `NULL`s where there is no row. Also says which exist.
async fn rows_now(
    tx: &Transaction<'_>,
    schema: &TableSchema,
    table: &str,
    keys: &[KeyText],
) -> Result<(RecordBatch, Vec<bool>)> {
    let what = format!("read the rows the write to table '{table}' touches");
    let mut builder = BatchBuilder::rows_of(schema, keys.len());
    let columns: Vec<String> = schema
        .columns
        .iter()
        .map(|c| crate::sql::Pg::default().select_column(&c.name, &c.column_type))
        .collect();
    let sql = format!(
        "SELECT {} FROM {} WHERE {} FOR UPDATE",
        columns.join(", "),
        ident(table),
        key_match(schema, 1)?
    );
    let stmt = tx.prepare(&sql).await.map_err(|e| map(e, &what))?;
    let mut exists = Vec::with_capacity(keys.len());
    for key in keys {
        match tx
            .query_opt(&stmt, &params(key))
            .await
            .map_err(|e| map(e, &what))?
        {
            Some(row) => {
                push_row(&mut builder, &row)?;
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
async fn upsert(
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
    let index: Vec<(usize, &Column)> = key_columns(schema)
        .into_iter()
        .map(|c| {
            given
                .index_of(&c.name)
                .map(|i| (i, c))
                .map_err(|_| Error::internal(format!("key column '{}' missing from checked items", c.name)))
        })
        .collect::<Result<_>>()?;
    // Keys in Arrow's row format, to find repeats fast; as text only where a statement needs them.
    let key_rows = if keyed {
        let converter = RowConverter::new(
            index
                .iter()
                .map(|(_, c)| SortField::new(c.column_type.data_type()))
                .collect(),
        )
        .map_err(|e| Error::internal(e.to_string()))?;
        let columns: Vec<_> = index.iter().map(|(i, _)| batch.column(*i).clone()).collect();
        Some(
            converter
                .convert_columns(&columns)
                .map_err(|e| Error::internal(e.to_string()))?,
        )
    } else {
        None
    };
    let key_at = |r: usize| -> Result<KeyText> {
        index
            .iter()
            .map(|(i, c)| text_cell(batch.column(*i).as_ref(), r, &c.column_type))
            .collect()
    };
    if keyed && (condition.is_some() || columns.iter().any(|(_, c)| c.read_only)) {
        let keys = (0..rows).map(key_at).collect::<Result<Vec<_>>>()?;
        let (now, exists) = rows_now(tx, schema, table, &keys).await?;
        if let Some(cond) = condition {
            check_condition(cond, &now, table, |i| key_text(&keys[i]))?;
        }
        check_read_only(schema, batch, &now, &exists, table, |i| key_text(&keys[i]))?;
    }
    let names: Vec<String> = columns.iter().map(|(_, c)| ident(&c.name)).collect();
    let tail = upsert_clause(schema, &columns);
    // COPY's binary format is written for the common types; batches with others go by
    // statements, as text PostgreSQL parses.
    if rows >= COPY_ROWS
        && columns
            .iter()
            .all(|(_, c)| pg_wire_type(&c.column_type).is_some())
    {
        copy_upsert(tx, table, batch, &columns, key_rows.as_ref(), &names, &tail).await?;
        return Ok(rows as u64);
    }
    // Many rows per statement; a key seen again starts a new statement (one statement may
    // not upsert a row twice), so later items win as they do one by one.
    let per_statement = (MAX_PARAMS / names.len().max(1)).clamp(1, 1000);
    let mut values: Vec<Option<String>> = Vec::with_capacity(per_statement * names.len());
    let mut tuples: Vec<String> = Vec::new();
    let mut seen = HashSet::new();
    let flush = |values: &mut Vec<Option<String>>, tuples: &mut Vec<String>| {
        let sql = format!(
            "INSERT INTO {} ({}) VALUES {}{tail}",
            ident(table),
            names.join(", "),
            tuples.join(", ")
        );
        let taken = std::mem::take(values);
        tuples.clear();
        let what = what.clone();
        async move {
            tx.execute(&sql, &params(&taken))
                .await
                .map_err(|e| map(e, &what))?;
            Ok::<(), Error>(())
        }
    };
    for r in 0..rows {
        if let Some(key) = key_rows.as_ref().map(|k| k.row(r)).filter(|k| !seen.insert(*k)) {
            flush(&mut values, &mut tuples).await?;
            seen.clear();
            seen.insert(key);
        }
        let mut marks = Vec::with_capacity(columns.len());
        for (i, c) in &columns {
            values.push(text_cell(batch.column(*i).as_ref(), r, &c.column_type)?);
            marks.push(format!(
                "${}::text::{}",
                values.len(),
                pg_type(&c.column_type, &c.name)?
            ));
        }
        tuples.push(format!("({})", marks.join(", ")));
        if tuples.len() == per_statement {
            flush(&mut values, &mut tuples).await?;
            seen.clear();
        }
    }
    if !tuples.is_empty() {
        flush(&mut values, &mut tuples).await?;
    }
    Ok(rows as u64)
}

/// Upserts a large batch with `COPY … (FORMAT binary)`: straight into the table when none of
/// its keys is there yet (tried under a savepoint, the common case of a bulk load), otherwise
/// into a temporary table and then one `INSERT … SELECT … ON CONFLICT`. Of items with the same
/// key only the last is kept: they give the same columns (a batch's items do), so it is what
/// upserting them one by one leaves.
async fn copy_upsert(
    tx: &Transaction<'_>,
    table: &str,
    batch: &RecordBatch,
    columns: &[(usize, &Column)],
    keys: Option<&Rows>,
    names: &[String],
    tail: &str,
) -> Result<()> {
    let what = format!("write to table '{table}'");
    let mut keep: Vec<usize> = match keys {
        None => (0..batch.num_rows()).collect(),
        Some(keys) => {
            let mut seen = HashSet::with_capacity(keys.num_rows());
            (0..keys.num_rows())
                .rev()
                .filter(|r| seen.insert(keys.row(*r)))
                .collect()
        }
    };
    keep.sort_unstable();
    let list = names.join(", ");
    let copy = |target: String| {
        let (list, keep) = (&list, &keep);
        async move {
            let sink = tx
                .copy_in(&format!("COPY {target} ({list}) FROM STDIN (FORMAT binary)"))
                .await?;
            let types: Vec<_> = columns
                .iter()
                .filter_map(|(_, c)| pg_wire_type(&c.column_type))
                .collect();
            let writer = BinaryCopyInWriter::new(sink, &types);
            let mut writer = std::pin::pin!(writer);
            let mut row = Vec::with_capacity(columns.len());
            for r in keep {
                row.clear();
                row.extend(
                    columns
                        .iter()
                        .map(|(i, c)| bin(batch.column(*i).as_ref(), *r, &c.column_type)),
                );
                let refs: Vec<&(dyn ToSql + Sync)> = row.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
                writer.as_mut().write(&refs).await?;
            }
            writer.as_mut().finish().await.map(|_| ())
        }
    };
    if keys.is_none() {
        return copy(ident(table)).await.map_err(|e| map(e, &what));
    }
    tx.batch_execute("SAVEPOINT bindery_copy")
        .await
        .map_err(|e| map(e, &what))?;
    match copy(ident(table)).await {
        Ok(()) => {
            return tx
                .batch_execute("RELEASE SAVEPOINT bindery_copy")
                .await
                .map_err(|e| map(e, &what))
        }
        Err(e) if e.code() == Some(&SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT bindery_copy")
                .await
                .map_err(|e| map(e, &what))?;
        }
        Err(e) => return Err(map(e, &what)),
    }
    tx.batch_execute(&format!(
        "DROP TABLE IF EXISTS pg_temp._bindery_in; \
         CREATE TEMP TABLE _bindery_in ON COMMIT DROP AS SELECT {list} FROM {} WITH NO DATA",
        ident(table)
    ))
    .await
    .map_err(|e| map(e, &what))?;
    copy("_bindery_in".to_string()).await.map_err(|e| map(e, &what))?;
    tx.batch_execute(&format!(
        "INSERT INTO {} ({list}) SELECT {list} FROM _bindery_in{tail}",
        ident(table)
    ))
    .await
    .map_err(|e| map(e, &what))
}

/// Updates the rows of `op.keys` by the update expression.
async fn update(tx: &Transaction<'_>, schema: &TableSchema, table: &str, op: &OpWrite) -> Result<u64> {
    let what = format!("update table '{table}'");
    let expression = op
        .expression
        .as_ref()
        .ok_or_else(|| Error::internal("a write without items or expression reached the postgres driver"))?;
    let keys = typed_keys(schema, &op.keys, table)?;
    let (now, exists) = rows_now(tx, schema, table, &keys).await?;
    check_update(op.condition.as_ref(), &now, &exists, table, |i| {
        key_text(&keys[i])
    })?;
    let mut render = render(schema);
    let mut set = Vec::with_capacity(expression.set.len());
    for (column, e) in &expression.set {
        let c = schema.expect_column(column, table)?;
        set.push(format!(
            "{} = ({})::{}",
            ident(column),
            render.expr(e)?,
            pg_type(&c.column_type, column)?
        ));
    }
    let sql = format!(
        "UPDATE {} SET {} WHERE {}",
        ident(table),
        set.join(", "),
        key_match(schema, render.dialect.params.len() + 1)?
    );
    let stmt = tx.prepare(&sql).await.map_err(|e| map(e, &what))?;
    for key in &keys {
        let mut values = render.dialect.params.clone();
        values.extend(key.iter().cloned());
        tx.execute(&stmt, &params(&values))
            .await
            .map_err(|e| map(e, &what))?;
    }
    Ok(keys.len() as u64)
}

/// Removes the rows of a checked delete in one transaction: the rows of its keys (or those
/// passing the part of its filter PostgreSQL evaluates as bindery does) are read and locked,
/// the whole filter and the condition are applied to them, and the rows chosen are removed by
/// `ctid` (stable while they are locked); any refusal removes nothing.
pub async fn delete(client: &mut Client, table: &str, op: OpDeleteRows) -> Result<u64> {
    let what = format!("delete from table '{table}'");
    let tx = client.transaction().await.map_err(|e| map(e, &what))?;
    let schema = load_schema(&tx, table).await?;
    let mut render = render(&schema);
    let mut clauses = Vec::new();
    if let Some(f) = op.filter.as_ref().filter(|f| render.pushable(&f.expr)) {
        clauses.push(format!("({})", render.expr(&f.expr)?));
    }
    let keys = typed_keys(&schema, &op.keys, table)?;
    if !keys.is_empty() {
        clauses.push(key_match(&schema, render.dialect.params.len() + 1)?);
    }
    let columns: Vec<String> = schema
        .columns
        .iter()
        .map(|c| crate::sql::Pg::default().select_column(&c.name, &c.column_type))
        .collect();
    let sql = format!(
        "SELECT {}, ctid::text FROM {}{} FOR UPDATE",
        columns.join(", "),
        ident(table),
        if clauses.is_empty() {
            String::new()
        } else {
            format!(" WHERE {}", clauses.join(" AND "))
        }
    );
    let stmt = tx.prepare(&sql).await.map_err(|e| map(e, &what))?;
    let mut builder = BatchBuilder::rows_of(&schema, keys.len());
    let mut ctids: Vec<String> = Vec::new();
    let n = schema.columns.len();
    let runs: Vec<Vec<Option<String>>> = match keys.is_empty() {
        true => vec![render.dialect.params.clone()],
        false => keys
            .iter()
            .map(|k| render.dialect.params.iter().chain(k).cloned().collect())
            .collect(),
    };
    for values in &runs {
        for row in tx
            .query(&stmt, &params(values))
            .await
            .map_err(|e| map(e, &what))?
        {
            push_row(&mut builder, &row)?;
            ctids.push(row.try_get(n).map_err(|e| map(e, &what))?);
        }
    }
    let found = builder.finish()?;
    let chosen: Vec<String> = rows_to_delete(&schema, &op, &found, table)?
        .into_iter()
        .map(|i| ctids[i].clone())
        .collect();
    let removed = tx
        .execute(
            &format!("DELETE FROM {} WHERE ctid = ANY($1::text[]::tid[])", ident(table)),
            &[&chosen],
        )
        .await
        .map_err(|e| map(e, &what))?;
    tx.commit().await.map_err(|e| map(e, &what))?;
    Ok(removed)
}
