//! A metadata store on git (the seed's "metadata store": datasets described by a
//! `datapackage.json`, with their history). Each dataset is the object
//! `meta://<name>/datapackage.json` on a `git` binding, so every change is a commit.
//!
//! | request | does |
//! |---|---|
//! | `GET /datasets` | the datasets' names |
//! | `PUT /datasets/<name>` | creates or replaces its datapackage.json (a JSON object; `If-Match: <etag>` for optimistic locking; `X-Author`, `X-Message`) |
//! | `GET /datasets/<name>[?version=REV]` | the document (now, or at a revision id or tag); `ETag` |
//! | `DELETE /datasets/<name>` | deletes it (history is kept) |
//! | `GET /datasets/<name>/revisions` | its revisions, newest first |
//! | `POST /datasets/<name>/revert?to=REV` | a new revision with the document as it was at REV |
//! | `GET /datasets/<name>/diff?from=A[&to=B]` | an RFC 6902 JSON Patch from A to B (or to now) |
//! | `GET /tags`, `GET /tags/<tag>` | tags |
//! | `PUT /tags/<tag>` | makes a tag: `{"revision": …, "description": …}` (revision: the newest by default) |
//! | `PATCH /tags/<tag>` | renames it or changes its description: `{"name": …, "description": …}` |
//! | `DELETE /tags/<tag>` | deletes it |
//!
//! Errors are JSON `{"error": …}`: 400 bad input (not a JSON object, an unknown revision),
//! 404 no such dataset or tag, 409 a tag that exists, 412 a stale `If-Match`.
//!
//! Run it with `bindery run function-examples/metastore/function.yaml`.

use bindery::function::{Event, Function, Response};
use bindery::{Context, Error, ErrorKind, Revision, Tag};
use serde_json::{json, Value};

async fn handler(ctx: Context, event: Event) -> bindery::Result<Response> {
    let path = event.path.trim_matches('/').to_string();
    let parts: Vec<&str> = path.split('/').collect();
    let answer = match (event.method.as_str(), parts.as_slice()) {
        ("GET", ["datasets"]) => datasets(&ctx).await,
        ("PUT", ["datasets", name]) => put(&ctx, &event, name).await,
        ("GET", ["datasets", name]) => get(&ctx, &event, name).await,
        ("DELETE", ["datasets", name]) => delete(&ctx, &event, name).await,
        ("GET", ["datasets", name, "revisions"]) => revisions(&ctx, name).await,
        ("POST", ["datasets", name, "revert"]) => revert(&ctx, &event, name).await,
        ("GET", ["datasets", name, "diff"]) => diff(&ctx, &event, name).await,
        ("GET", ["tags"]) => ctx
            .object()
            .tags("meta://")
            .await
            .and_then(|t| json_response(200, &tags_json(&t))),
        ("GET", ["tags", tag]) => ctx
            .object()
            .tag_get("meta://", *tag)
            .await
            .and_then(|t| json_response(200, &tag_json(&t))),
        ("PUT", ["tags", tag]) => create_tag(&ctx, &event, tag).await,
        ("PATCH", ["tags", tag]) => update_tag(&ctx, &event, tag).await,
        ("DELETE", ["tags", tag]) => ctx
            .object()
            .tag_delete("meta://", *tag)
            .await
            .map(|_| Response::new("").with_status(204)),
        _ => {
            return json_response(
                404,
                &json!({"error": format!("no route {} /{path}", event.method)}),
            )
        }
    };
    answer.or_else(|e| error_response(&e))
}

/// The object holding dataset `name`'s document.
fn doc(name: &str) -> String {
    format!("meta://{name}/datapackage.json")
}

fn json_response(status: u16, value: &Value) -> bindery::Result<Response> {
    Ok(Response::json(value)?.with_status(status))
}

/// A bindery error as the HTTP status a client can act on.
fn error_response(e: &Error) -> bindery::Result<Response> {
    let status = match e.kind() {
        ErrorKind::InvalidInput => 400,
        ErrorKind::NotFound => 404,
        ErrorKind::AlreadyExists => 409,
        ErrorKind::ConditionFailed => 412,
        _ => 500,
    };
    json_response(status, &json!({"error": e.message()}))
}

fn revision_json(r: &Revision) -> Value {
    json!({"revision": r.id, "author": r.author, "message": r.message, "deleted": r.deleted,
           "size": r.size, "etag": r.gen,
           "time": r.time.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_secs())})
}

fn tag_json(t: &Tag) -> Value {
    json!({"name": t.name, "revision": t.revision, "description": t.description, "author": t.author})
}

fn tags_json(tags: &[Tag]) -> Value {
    Value::Array(tags.iter().map(tag_json).collect())
}

/// A JSON body, or `InvalidInput` saying why not.
fn body_json(event: &Event) -> bindery::Result<Value> {
    serde_json::from_slice(&event.body)
        .map_err(|e| Error::invalid_input(format!("the body is not JSON: {e}")))
}

async fn datasets(ctx: &Context) -> bindery::Result<Response> {
    let names: Vec<String> = ctx
        .object()
        .list("meta://")
        .await?
        .iter()
        .filter_map(|e| e.path().strip_suffix("/datapackage.json").map(str::to_string))
        .collect();
    json_response(200, &json!(names))
}

async fn put(ctx: &Context, event: &Event, name: &str) -> bindery::Result<Response> {
    let document = body_json(event)?;
    if !document.is_object() {
        return Err(Error::invalid_input("a datapackage.json is a JSON object"));
    }
    let existed = ctx.object().head(doc(name)).await.is_ok();
    let mut put = ctx.object().put(
        doc(name),
        serde_json::to_vec_pretty(&document).unwrap_or_default(),
    );
    put = put.metadata([("content-type", "application/json")]);
    if let Some(etag) = event.header("if-match") {
        put = put.condition("if-match", etag.trim_matches('"'));
    }
    if let Some(author) = event.header("x-author") {
        put = put.option("author", author);
    }
    let message = event
        .header("x-message")
        .map(str::to_string)
        .unwrap_or_else(|| format!("{} dataset {name}", if existed { "update" } else { "create" }));
    let meta = put.option("message", message).await?;
    let newest = ctx.object().versions(doc(name)).limit(1).await?;
    let revision = newest.first().map(|r| r.id.clone()).unwrap_or_default();
    Ok(
        Response::json(&json!({"name": name, "revision": revision, "etag": meta.gen}))?
            .with_status(if existed { 200 } else { 201 })
            .with_header("etag", format!("\"{}\"", meta.gen)),
    )
}

async fn get(ctx: &Context, event: &Event, name: &str) -> bindery::Result<Response> {
    let mut get = ctx.object().get(doc(name));
    if let Some(v) = event.query_param("version") {
        get = get.version(v);
    }
    let found = get.await?;
    Ok(Response::new(found.data)
        .with_header("content-type", "application/json")
        .with_header("etag", format!("\"{}\"", found.meta.gen)))
}

async fn delete(ctx: &Context, event: &Event, name: &str) -> bindery::Result<Response> {
    ctx.object().head(doc(name)).await?;
    let mut del = ctx
        .object()
        .del(doc(name))
        .option("message", format!("delete dataset {name}"));
    if let Some(author) = event.header("x-author") {
        del = del.option("author", author);
    }
    del.await?;
    Ok(Response::new("").with_status(204))
}

async fn revisions(ctx: &Context, name: &str) -> bindery::Result<Response> {
    let revs = ctx.object().versions(doc(name)).await?;
    if revs.is_empty() {
        return Err(Error::not_found(format!("no dataset '{name}'")));
    }
    json_response(200, &Value::Array(revs.iter().map(revision_json).collect()))
}

async fn revert(ctx: &Context, event: &Event, name: &str) -> bindery::Result<Response> {
    let to = event
        .query_param("to")
        .ok_or_else(|| Error::invalid_input("revert needs ?to=REVISION (an id or a tag)"))?;
    let meta = ctx.object().revert(doc(name), to).await?;
    json_response(200, &json!({"name": name, "reverted_to": to, "etag": meta.gen}))
}

async fn diff(ctx: &Context, event: &Event, name: &str) -> bindery::Result<Response> {
    let from = event
        .query_param("from")
        .ok_or_else(|| Error::invalid_input("diff needs ?from=REVISION (and &to=REVISION, or now)"))?;
    let mut diff = ctx.object().diff(doc(name), from);
    if let Some(to) = event.query_param("to") {
        diff = diff.to(to);
    }
    let d = diff.await?;
    let patch: Value = serde_json::from_str(&d.patch).unwrap_or(Value::String(d.patch.clone()));
    json_response(200, &patch)
}

async fn create_tag(ctx: &Context, event: &Event, tag: &str) -> bindery::Result<Response> {
    let body = if event.body.is_empty() {
        json!({})
    } else {
        body_json(event)?
    };
    let mut create = ctx.object().tag_create("meta://", tag);
    if let Some(r) = body["revision"].as_str() {
        create = create.revision(r);
    }
    if let Some(d) = body["description"].as_str() {
        create = create.description(d);
    }
    if let Some(a) = event.header("x-author") {
        create = create.author(a);
    }
    json_response(201, &tag_json(&create.await?))
}

async fn update_tag(ctx: &Context, event: &Event, tag: &str) -> bindery::Result<Response> {
    let body = body_json(event)?;
    let mut update = ctx.object().tag_update("meta://", tag);
    if let Some(n) = body["name"].as_str() {
        update = update.rename(n);
    }
    if let Some(d) = body["description"].as_str() {
        update = update.description(d);
    }
    json_response(200, &tag_json(&update.await?))
}

fn main() -> std::process::ExitCode {
    Function::new(handler).main()
}
