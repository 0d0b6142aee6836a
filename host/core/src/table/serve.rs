//! Serving table requests as frames, with the checks of writes and schema changes against
//! the table's schema.

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use futures::stream::{self, StreamExt};

use crate::error::{Error, Result};
use crate::request::{one_frame, Details, FrameStream, Head, ResponseMessage};
use crate::table::items::{check_delete, check_write};
use crate::table::{plan_alter, BatchStream, TableDriver};

/// Runs a table request on a driver and turns its answer into frames.
pub async fn serve_table(table: &dyn TableDriver, path: &str, details: Details) -> Result<FrameStream> {
    Ok(match details {
        Details::TableSchema(op) => {
            let schema = match op.version {
                Some(n) => table.schema_version(path, n, op.options).await?,
                None => table.schema(path, op.options).await?,
            };
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
        Details::TableDelete(op) => {
            let schema = table.schema(path, op.options.clone()).await?;
            check_delete(&schema, &op, path)?;
            let removed = table.delete_rows(path, op).await?;
            one_frame(Head::Count(removed))
        }
        Details::TableRead(op) => {
            // Filter, projection, limit and key lookup the driver lacks are the host's fill
            // layer's, which checks the read against the schema too.
            let read = table.read(path, op).await?;
            batch_frames(read.schema, read.batches)
        }
        Details::TableWatch(op) => crate::request::array_frames(table.watch(path, op).await?, Head::Changes),
        _ => {
            return Err(Error::internal(
                "a request of another kind reached the table driver",
            ))
        }
    })
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
