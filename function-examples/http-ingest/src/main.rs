//! An HTTP ingest function.
//!
//! - `PUT /<key>` or `POST /<key>`: stores the body as the object `uploads://<key>` (with the
//!   request's `content-type`), appends a row to the table `db0://ingested` and publishes
//!   `{"key", "size", "gen"}` on the stream `events://ingested` (keyed by the object's key).
//!   Answers 201 with `{"key", "gen", "size", "event_id", "position"}`.
//! - `GET /<key>`: answers the object (404 when there is none).
//!
//! Run it with `bindery run function-examples/http-ingest/function.yaml`, or one event with
//! `bindery invoke function-examples/http-ingest/function.yaml --method PUT --path /notes/a.txt --body hello`.

use std::time::SystemTime;

use bindery::function::{rfc3339, Event, Function, Response};
use bindery::{Context, ErrorKind, Message};
use serde_json::json;

async fn handler(ctx: Context, event: Event) -> bindery::Result<Response> {
    let key = event.path.trim_start_matches('/').to_string();
    if key.is_empty() {
        return Ok(Response::new("use PUT /<key> to store a body, GET /<key> to read it\n").with_status(400));
    }
    let result = match event.method.as_str() {
        "PUT" | "POST" => ingest(&ctx, &event, &key).await,
        "GET" => ctx.object().get(format!("uploads://{key}")).await.map(|o| {
            let kind = o.meta.metadata.get("content-type").cloned();
            let r = Response::new(o.data).with_header("etag", o.meta.gen);
            match kind {
                Some(k) => r.with_header("content-type", k),
                None => r,
            }
        }),
        other => Ok(
            Response::new(format!("method {other} is not allowed; use PUT, POST or GET\n")).with_status(405),
        ),
    };
    // Errors caused by the request itself are the client's; the rest are 500s.
    match result {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Ok(Response::new(format!("no object '{key}'\n")).with_status(404))
        }
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            Ok(Response::new(format!("{}\n", e.message())).with_status(400))
        }
        other => other,
    }
}

async fn ingest(ctx: &Context, event: &Event, key: &str) -> bindery::Result<Response> {
    let content_type = event.header("content-type").unwrap_or("application/octet-stream");
    let meta = ctx
        .object()
        .put(format!("uploads://{key}"), event.body.clone())
        .metadata([("content-type", content_type)])
        .await?;
    let size = event.body.len() as i64;
    ctx.table()
        .write("db0://ingested")
        .with_items([json!({
            "event_id": event.id,
            "key": key,
            "size": size,
            "gen": meta.gen,
            "content_type": content_type,
            "at": rfc3339(event.timestamp.unwrap_or_else(SystemTime::now)),
        })])
        .await?;
    let announced = json!({ "key": key, "size": size, "gen": meta.gen }).to_string();
    let placed = ctx
        .stream()
        .publish("events://ingested")
        .messages([Message::new(announced).with_key(key.to_string())])
        .await?;
    let position = placed
        .first()
        .map(|(s, p)| format!("{s}:{p}"))
        .unwrap_or_default();
    bindery::tracing::info!(%key, size, gen = %meta.gen, %position, "Ingested.");
    Ok(Response::json(&json!({
        "key": key, "gen": meta.gen, "size": size, "event_id": event.id, "position": position,
    }))?
    .with_status(201))
}

/// Creates the table and the stream the handler writes to, when they are missing.
async fn init(ctx: Context) -> bindery::Result<()> {
    let created = ctx
        .table()
        .create("db0://ingested")
        .schema("event_id string NOT NULL, key string NOT NULL, size int64 NOT NULL, gen string, content_type string, at timestamp")
        .primary_key("event_id", None)
        .await;
    let stream = ctx.stream().create("events://ingested", "", 1).await;
    for r in [created, stream] {
        match r {
            Err(e) if e.kind() != ErrorKind::AlreadyExists => return Err(e),
            _ => {}
        }
    }
    Ok(())
}

fn main() -> std::process::ExitCode {
    Function::new(handler).init(init).main()
}
