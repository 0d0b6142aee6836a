//! Reads: a query on a read-only connection, its rows gathered into Arrow batches on a
//! blocking thread and handed over a bounded channel (the reader runs ahead by two batches).

use std::sync::Arc;

use bindery_core::arrow::datatypes::{Field, Schema, SchemaRef};
use bindery_core::table::compute::Finish;
use bindery_core::{ColumnType, Error, OpRead, Result, TableRead};
use futures::StreamExt;
use rusqlite::types::Value as Sql;

use crate::error::map;
use crate::sql::render;
use crate::table::Db;
use crate::values::{push_row, type_of_declared, type_of_value, BatchBuilder};

/// Rows per batch.
pub const BATCH_ROWS: usize = 8192;

/// The statement of a read, its parameters, and the schema and column types of its rows.
struct Plan {
    sql: String,
    params: Vec<Sql>,
    schema: Option<(SchemaRef, Vec<ColumnType>)>,
    /// The host's share of the read (see [`bindery_core::table::sql::Select::finish`]).
    finish: Finish,
}

/// Refuses what `sql()` must not run: an empty query, and statements other than a query
/// (`ATTACH` and `DETACH` count as read-only to SQLite, yet open or drop other database
/// files; `PRAGMA` and `VACUUM INTO` write). A query starts with SELECT, WITH, VALUES or
/// EXPLAIN after any comments.
pub fn check_query(q: &str) -> Result<()> {
    let mut rest = q.trim_start();
    loop {
        if let Some(r) = rest.strip_prefix("--") {
            rest = r.split_once('\n').map_or("", |(_, after)| after).trim_start();
        } else if let Some(r) = rest.strip_prefix("/*") {
            rest = r.split_once("*/").map_or("", |(_, after)| after).trim_start();
        } else {
            break;
        }
    }
    if rest.trim().is_empty() {
        return Err(Error::invalid_input("the sql query is empty"));
    }
    let word: String = rest
        .chars()
        .take_while(|c| c.is_ascii_alphabetic())
        .collect::<String>()
        .to_ascii_uppercase();
    if !matches!(word.as_str(), "SELECT" | "WITH" | "VALUES" | "EXPLAIN") {
        return Err(Error::invalid_input(format!(
            "sql passthrough runs one read-only query (SELECT, WITH, VALUES or EXPLAIN), not '{}'",
            if word.is_empty() {
                rest.chars().take(10).collect()
            } else {
                word
            }
        )));
    }
    Ok(())
}

fn plan(db: &Db, conn: &rusqlite::Connection, table: &str, op: &OpRead) -> Result<Plan> {
    if let Some(q) = &op.sql {
        check_query(q)?;
        return Ok(Plan {
            sql: q.clone(),
            params: Vec::new(),
            schema: None,
            finish: Finish::default(),
        });
    }
    let schema = db.schema(conn, table)?;
    let mut render = render(&schema);
    let select = render.select(table, op, |part, parts| {
        format!("(abs(rowid) % {parts}) = {part}")
    })?;
    Ok(Plan {
        sql: select.sql,
        params: render.dialect.params,
        schema: Some((select.schema, select.types)),
        finish: select.finish,
    })
}

/// The schema of a query's result: declared types where the result column is a table column,
/// otherwise the type of the first value (text when there is none).
fn result_schema(
    stmt: &rusqlite::Statement<'_>,
    first: Option<&rusqlite::Row<'_>>,
) -> (SchemaRef, Vec<ColumnType>) {
    let mut fields = Vec::new();
    let mut types = Vec::new();
    for (i, c) in stmt.columns().enumerate() {
        let ty = match c.decl_type() {
            Some(d) => type_of_declared(d),
            None => first
                .and_then(|r| r.get_ref(i).ok())
                .and_then(type_of_value)
                .unwrap_or(ColumnType::String),
        };
        fields.push(Field::new(c.name(), ty.data_type(), true));
        types.push(ty);
    }
    (Arc::new(Schema::new(fields)), types)
}

/// Runs a read; the first batch (or the schema) is ready when this returns.
pub async fn read(db: Arc<Db>, table: String, op: OpRead) -> Result<TableRead> {
    let (schema_tx, schema_rx) = tokio::sync::oneshot::channel::<Result<SchemaRef>>();
    let (finish_tx, finish_rx) = tokio::sync::oneshot::channel::<Finish>();
    let name = table.clone();
    let (tx, rx) = flume::bounded::<Result<bindery_core::arrow::array::RecordBatch>>(2);
    let reader = db.clone();
    tokio::task::spawn_blocking(move || {
        let conn = match reader.reader() {
            Ok(c) => c,
            Err(e) => {
                let _ = schema_tx.send(Err(e));
                return;
            }
        };
        run(&reader, &conn, &table, &op, schema_tx, finish_tx, &tx);
        reader.give_back(conn);
    });
    let schema = schema_rx
        .await
        .map_err(|_| Error::internal("the sqlite reader stopped before it began"))??;
    let finish = finish_rx.await.unwrap_or_default();
    Ok(TableRead {
        schema: finish.schema(&schema, &name)?,
        batches: finish.apply(&schema, rx.into_stream().boxed(), &name)?,
    })
}

type Batches = flume::Sender<Result<bindery_core::arrow::array::RecordBatch>>;

fn run(
    db: &Db,
    conn: &rusqlite::Connection,
    table: &str,
    op: &OpRead,
    schema_tx: tokio::sync::oneshot::Sender<Result<SchemaRef>>,
    finish_tx: tokio::sync::oneshot::Sender<Finish>,
    tx: &Batches,
) {
    let mut schema_tx = Some(schema_tx);
    let fail =
        |schema_tx: &mut Option<tokio::sync::oneshot::Sender<Result<SchemaRef>>>, e: Error| match schema_tx
            .take()
        {
            Some(s) => {
                let _ = s.send(Err(e));
            }
            None => {
                let _ = tx.send(Err(e));
            }
        };
    let mut plan = match plan(db, conn, table, op) {
        Ok(p) => p,
        Err(e) => return fail(&mut schema_tx, e),
    };
    let _ = finish_tx.send(std::mem::take(&mut plan.finish));
    let what = format!("read table '{table}'");
    let mut stmt = match conn.prepare(&plan.sql) {
        Ok(s) => s,
        Err(e) => {
            let e = match op.sql {
                Some(_) => Error::invalid_input(format!("the sql query cannot run: {e}")),
                None => map(e, &what),
            };
            return fail(&mut schema_tx, e);
        }
    };
    if op.sql.is_some() && !stmt.readonly() {
        let e = Error::invalid_input(
            "sql passthrough runs read-only queries, and this one would change the database",
        );
        return fail(&mut schema_tx, e);
    }
    let mut rows = match stmt.query(rusqlite::params_from_iter(plan.params.iter())) {
        Ok(r) => r,
        Err(e) => return fail(&mut schema_tx, map(e, &what)),
    };
    let mut builder: Option<BatchBuilder> = plan
        .schema
        .clone()
        .map(|(s, types)| BatchBuilder::new(s, types, BATCH_ROWS));
    if let Some(b) = &builder {
        if let Some(s) = schema_tx.take() {
            let _ = s.send(Ok(b.schema()));
        }
    }
    loop {
        let row = match rows.next() {
            Ok(r) => r,
            Err(e) => return fail(&mut schema_tx, map(e, &what)),
        };
        let Some(row) = row else { break };
        let b = builder.get_or_insert_with(|| {
            let (s, types) = result_schema(row.as_ref(), Some(row));
            BatchBuilder::new(s, types, BATCH_ROWS)
        });
        if let Some(s) = schema_tx.take() {
            let _ = s.send(Ok(b.schema()));
        }
        if let Err(e) = push_row(b, row) {
            return fail(&mut schema_tx, e);
        }
        if b.rows() == BATCH_ROWS {
            let batch = b.finish();
            if tx.send(batch).is_err() {
                return; // the caller let go
            }
        }
    }
    drop(rows);
    let mut b = match builder {
        Some(b) => b,
        // A query without rows: its columns, as text unless declared.
        None => {
            let (s, types) = result_schema(&stmt, None);
            BatchBuilder::new(s, types, 0)
        }
    };
    if let Some(s) = schema_tx.take() {
        let _ = s.send(Ok(b.schema()));
    }
    if b.rows() > 0 {
        let _ = tx.send(b.finish());
    }
}

#[cfg(test)]
mod tests {
    use super::check_query;

    #[test]
    fn only_queries_pass_through() {
        for ok in [
            "SELECT 1",
            "  -- why\n with t as (select 1) select * from t",
            "/* x */ values (1)",
            "explain select 1",
        ] {
            check_query(ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
        for (bad, want) in [
            ("", "empty"),
            ("   -- only a comment", "empty"),
            ("ATTACH DATABASE '/tmp/x.db' AS x", "not 'ATTACH'"),
            ("detach x", "not 'DETACH'"),
            ("PRAGMA journal_mode=DELETE", "not 'PRAGMA'"),
            ("VACUUM INTO '/tmp/y'", "not 'VACUUM'"),
        ] {
            let e = check_query(bad).unwrap_err().to_string();
            assert!(e.contains(want), "{bad}: {e}");
        }
    }
}
