//! Reads: one statement on a pooled connection, its rows (PostgreSQL's binary format)
//! gathered into Arrow batches on the driver's task and handed over a bounded channel.

use std::sync::Arc;

use bindery_core::arrow::array::RecordBatch;
use bindery_core::arrow::datatypes::{Field, Schema, SchemaRef};
use bindery_core::table::build::BatchBuilder;
use bindery_core::table::compute::Finish;
use bindery_core::{Error, OpRead, Result, TableRead};
use futures::{StreamExt, TryStreamExt};
use tokio_postgres::types::ToSql;

use crate::error::map;
use crate::sql::render;
use crate::table::{Pool, SchemaCache};
use crate::values::{push_row, type_of_result};

/// Rows per batch.
pub const BATCH_ROWS: usize = 8192;

/// Runs a read; its schema is known when this returns.
pub async fn read(
    pool: Arc<Pool>,
    schemas: Arc<SchemaCache>,
    table: String,
    op: OpRead,
) -> Result<TableRead> {
    let conn = pool.get().await?;
    let what = format!("read table '{table}'");
    let client = conn.client();
    let (statement, params, schema, types, finish) = match &op.sql {
        Some(q) => {
            // PostgreSQL itself refuses anything that would write.
            client
                .batch_execute("BEGIN READ ONLY")
                .await
                .map_err(|e| map(e, &what))?;
            let prepared = async {
                let stmt = client.prepare(q).await.map_err(|e| map(e, "run the query"))?;
                let mut fields = Vec::new();
                let mut types = Vec::new();
                for c in stmt.columns() {
                    let ty = type_of_result(c.type_())?;
                    fields.push(Field::new(c.name(), ty.data_type(), true));
                    types.push(ty);
                }
                Ok::<_, Error>((
                    stmt,
                    Vec::new(),
                    Arc::new(Schema::new(fields)) as SchemaRef,
                    types,
                    Finish::default(),
                ))
            };
            match prepared.await {
                Ok(p) => p,
                Err(e) => {
                    let _ = client.batch_execute("ROLLBACK").await;
                    return Err(e);
                }
            }
        }
        None => {
            let schema = schemas.get(client, &table).await?;
            let mut render = render(&schema);
            // By heap page: each page's rows go to one part.
            let select = render.select(&table, &op, |part, parts| {
                format!("(((ctid::text::point)[0])::bigint % {parts}) = {part}")
            })?;
            let stmt = client.prepare(&select.sql).await.map_err(|e| map(e, &what))?;
            (
                stmt,
                render.dialect.params,
                select.schema,
                select.types,
                select.finish,
            )
        }
    };
    let in_transaction = op.sql.is_some();
    let (tx, rx) = flume::bounded::<Result<RecordBatch>>(2);
    let batch_schema = schema.clone();
    tokio::spawn(async move {
        let client = conn.client();
        let run = async {
            let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p as &(dyn ToSql + Sync)).collect();
            let rows = client
                .query_raw(&statement, params)
                .await
                .map_err(|e| map(e, &what))?;
            let mut rows = std::pin::pin!(rows.map_err(|e| map(e, &what)));
            let mut builder = BatchBuilder::new(batch_schema, types, BATCH_ROWS);
            while let Some(row) = rows.next().await {
                push_row(&mut builder, &row?)?;
                if builder.rows() == BATCH_ROWS && tx.send_async(builder.finish()).await.is_err() {
                    return Ok(()); // the caller let go
                }
            }
            if builder.rows() > 0 {
                let _ = tx.send_async(builder.finish()).await;
            }
            Ok::<(), Error>(())
        };
        let done = run.await;
        if in_transaction {
            let _ = client.batch_execute("ROLLBACK").await;
        }
        if let Err(e) = done {
            let _ = tx.send_async(Err(e)).await;
        }
        drop(conn);
    });
    Ok(TableRead {
        schema: finish.schema(&schema, &table)?,
        batches: finish.apply(&schema, rx.into_stream().boxed(), &table)?,
    })
}
