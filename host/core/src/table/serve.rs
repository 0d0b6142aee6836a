//! Serving table requests as frames: checks against the schema, and the host's share of the
//! work (filter, projection, limit and key lookup) when the driver cannot do it.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::stream::{self, StreamExt};

use crate::capability::Capability;
use crate::error::{Error, Result};
use crate::filter::{BinOp, Expr, Filter};
use crate::request::{one_frame, Details, FrameStream, Head, ResponseMessage};
use crate::table::compute::{self, Finish};
use crate::table::items::{check_read, check_write, key_filter};
use crate::table::{plan_alter, BatchStream, TableDriver};

/// Runs a table request on a driver and turns its answer into frames.
pub async fn serve_table(
    table: &dyn TableDriver,
    capability: Capability,
    path: &str,
    details: Details,
) -> Result<FrameStream> {
    Ok(match details {
        Details::TableSchema(options) => {
            let schema = table.schema(path, options).await?;
            one_frame(Head::Batch(RecordBatch::new_empty(schema.to_arrow())))
        }
        Details::TableCreate(op) => {
            op.schema.check()?;
            table.create(path, op).await?;
            one_frame(Head::None)
        }
        Details::TableDrop(options) => {
            table.drop_table(path, options).await?;
            one_frame(Head::None)
        }
        Details::TableAlter(op) => {
            let current = table.schema(path, op.options.clone()).await?;
            let mut wanted = op.schema.unwrap_or_else(|| current.clone());
            for c in op.add {
                if wanted.column(&c.name).is_some() {
                    return Err(Error::new(
                        crate::error::ErrorKind::AlreadyExists,
                        format!("table '{path}' already has a column '{}'", c.name),
                    ));
                }
                wanted.columns.push(c);
            }
            let added = plan_alter(&current, &wanted, path)?;
            if !added.is_empty() {
                table.add_columns(path, added, op.options).await?;
            }
            one_frame(Head::None)
        }
        Details::TableWrite(mut op) => {
            let schema = table.schema(path, op.options.clone()).await?;
            check_write(&schema, &mut op, path)?;
            let written = table.write(path, op).await?;
            one_frame(Head::Count(written))
        }
        Details::TableRead(op) => read(table, capability, path, op).await?,
        _ => {
            return Err(Error::internal(
                "a request of another kind reached the table driver",
            ))
        }
    })
}

fn and(a: Option<Filter>, b: Expr) -> Filter {
    let expr = match a {
        Some(f) => Expr::Binary(Box::new(b), BinOp::And, Box::new(f.expr)),
        None => b,
    };
    Filter {
        text: compute::describe(&expr),
        expr,
    }
}

async fn read(
    table: &dyn TableDriver,
    capability: Capability,
    path: &str,
    mut op: crate::table::OpRead,
) -> Result<FrameStream> {
    let mut finish = Finish::default();
    if op.sql.is_some() {
        // A query's result is whatever it selects: filter, select and limit apply to it here.
        if !op.keys.is_empty() {
            return Err(Error::invalid_input("a read with sql cannot also name keys"));
        }
        finish.filter = op.filter.take().map(|f| f.expr);
        finish.select = std::mem::take(&mut op.select);
        finish.limit = op.limit.take();
    } else {
        let schema = table.schema(path, op.options.clone()).await?;
        check_read(&schema, &op, path)?;
        if !op.keys.is_empty() && !capability.read_with_keys {
            let keys = key_filter(&schema, &op.keys, path)?;
            op.filter = Some(and(op.filter.take(), keys));
            op.keys.clear();
        }
        if op.filter.is_some() && !capability.read_with_filter {
            // The filter may name columns the select leaves out: both happen here.
            finish.filter = op.filter.take().map(|f| f.expr);
            finish.select = std::mem::take(&mut op.select);
        }
        if !op.select.is_empty() && !capability.read_with_select {
            finish.select = std::mem::take(&mut op.select);
        }
        if op.limit.is_some() && (!capability.read_with_limit || finish.filter.is_some()) {
            finish.limit = op.limit.take();
        }
    }
    let read = table.read(path, op).await?;
    let schema = finish.schema(&read.schema, path)?;
    let batches = finish.apply(&read.schema, read.batches, path)?;
    Ok(batch_frames(schema, batches))
}

/// Frames of a read: a first frame with an empty batch gives the schema, then one frame per
/// non-empty batch, then an empty last frame.
pub fn batch_frames(schema: SchemaRef, batches: BatchStream) -> FrameStream {
    let first = stream::once(async move {
        Ok(ResponseMessage {
            head: Head::Batch(RecordBatch::new_empty(schema)),
            ..ResponseMessage::default()
        })
    });
    let body = batches
        .filter(|b| futures::future::ready(!matches!(b, Ok(b) if b.num_rows() == 0)))
        .map(|b| {
            b.map(|b| ResponseMessage {
                size: b.num_rows() as u64,
                head: Head::Batch(b),
                ..ResponseMessage::default()
            })
        });
    let end = stream::once(async {
        Ok(ResponseMessage {
            is_last: true,
            ..ResponseMessage::default()
        })
    });
    first.chain(body).chain(end).boxed()
}
