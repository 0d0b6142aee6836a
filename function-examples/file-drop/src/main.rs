//! A file-drop broker.
//!
//! - Every change to the `files` folder, by an upload or by any other program, is announced
//!   on `events://files` (keyed by name) as `{"type": "created" | "updated" | "deleted",
//!   "name", "size", "gen"}` by the `drops` watch trigger, in order, once it has happened
//!   (after a restart, where the `fs` driver cannot say what changed meanwhile: `{"type":
//!   "resync"}`, then every file there as `created`).
//! - `PUT /files/<name>` checks the file and stores it as `files://<name>`; 201 when created,
//!   200 when updated. A file is refused with 422 (nothing stored,
//!   nothing announced) when its name does not end in `.csv`, `.json` or `.txt`, when a
//!   `.json` file is not JSON, when a `.csv` file has no header or a row whose number of
//!   fields differs from the header's, or when a `.txt` file is not UTF-8; with 413 when it is
//!   larger than `DROP_MAX_BYTES`. `if-match: <gen>` makes the update conditional (412 when
//!   the file changed meanwhile).
//! - `DELETE /files/<name>`: removes it (404 when there is none).
//! - `GET /files/<name>` answers the file; `GET /files/` lists `[{"name", "size", "gen"}]`.
//!
//! Run one upload with `bindery invoke function-examples/file-drop/function.yaml --method PUT
//! --path /files/prices.csv --body $'item,price\npen,2\n'`.

use bindery::function::{Event, Function, Response};
use bindery::{Context, ErrorKind, Message};
use serde_json::json;

async fn handler(ctx: Context, event: Event) -> bindery::Result<Response> {
    if event.trigger_kind == "watch" {
        return announce(&ctx, &event).await;
    }
    let Some(name) = event.path.strip_prefix("/files/") else {
        return Ok(Response::new("use /files/<name>\n").with_status(404));
    };
    let name = name.to_string();
    let result = match (event.method.as_str(), name.as_str()) {
        ("GET", "") => list(&ctx).await,
        ("GET", _) => ctx
            .object()
            .get(format!("files://{name}"))
            .await
            .map(|o| Response::new(o.data).with_header("etag", o.meta.gen)),
        ("PUT", _) => put(&ctx, &event, &name).await,
        ("DELETE", _) => delete(&ctx, &name).await,
        (m, _) => Ok(
            Response::new(format!("method {m} is not allowed; use GET, PUT or DELETE\n")).with_status(405),
        ),
    };
    match result {
        Err(e) if e.kind() == ErrorKind::NotFound => {
            Ok(Response::new(format!("no file '{name}'\n")).with_status(404))
        }
        Err(e) if e.kind() == ErrorKind::ConditionFailed => {
            Ok(Response::new(format!("'{name}' changed meanwhile: {}\n", e.message())).with_status(412))
        }
        Err(e) if e.kind() == ErrorKind::InvalidInput => {
            Ok(Response::new(format!("{}\n", e.message())).with_status(400))
        }
        other => other,
    }
}

/// Why a file may not be stored, if it may not.
fn check(name: &str, body: &[u8], max: usize) -> Option<(u16, String)> {
    if body.len() > max {
        return Some((
            413,
            format!("'{name}' is {} bytes; files may be at most {max}", body.len()),
        ));
    }
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    let reason = match ext.as_str() {
        "json" => serde_json::from_slice::<serde_json::Value>(body)
            .err()
            .map(|e| format!("'{name}' is not JSON: {e}")),
        "csv" => check_csv(body)
            .err()
            .map(|e| format!("'{name}' is not a CSV file: {e}")),
        "txt" => std::str::from_utf8(body)
            .err()
            .map(|e| format!("'{name}' is not UTF-8 text: {e}")),
        _ => Some(format!("'{name}': only .csv, .json and .txt files are taken")),
    };
    reason.map(|r| (422, r))
}

fn check_csv(body: &[u8]) -> Result<(), String> {
    let text = std::str::from_utf8(body).map_err(|e| format!("not UTF-8: {e}"))?;
    let mut lines = text.lines().filter(|l| !l.is_empty());
    let header = lines.next().ok_or("it has no header row")?;
    let fields = header.split(',').count();
    for (i, line) in lines.enumerate() {
        let n = line.split(',').count();
        if n != fields {
            return Err(format!("row {} has {n} fields, the header {fields}", i + 2));
        }
    }
    Ok(())
}

async fn put(ctx: &Context, event: &Event, name: &str) -> bindery::Result<Response> {
    let max = std::env::var("DROP_MAX_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1 << 20);
    if let Some((status, reason)) = check(name, &event.body, max) {
        return Ok(Response::new(format!("{reason}\n")).with_status(status));
    }
    let path = format!("files://{name}");
    let mut put = ctx.object().put(path.as_str(), event.body.clone());
    let created = match event.header("if-match") {
        Some(gen) => {
            put = put.condition("if-match", gen);
            false
        }
        None => match ctx.object().head(path.as_str()).await {
            Ok(_) => false,
            Err(e) if e.kind() == ErrorKind::NotFound => {
                // Create-only: of two uploads racing to create it, one creates, one updates.
                put = put.condition("if-none-match", "*");
                true
            }
            Err(e) => return Err(e),
        },
    };
    let (meta, created) = match put.await {
        // Created by another upload meanwhile: this one is an update.
        Err(e) if created && e.kind() == ErrorKind::ConditionFailed => {
            (ctx.object().put(path.as_str(), event.body.clone()).await?, false)
        }
        other => (other?, created),
    };
    let kind = if created { "created" } else { "updated" };
    Response::json(&json!({"type": kind, "name": name, "gen": meta.gen}))
        .map(|r| r.with_status(if created { 201 } else { 200 }))
}

async fn delete(ctx: &Context, name: &str) -> bindery::Result<Response> {
    let path = format!("files://{name}");
    let meta = ctx.object().head(path.as_str()).await?;
    ctx.object()
        .del(path.as_str())
        .condition("if-match", &meta.gen)
        .await?;
    Response::json(&json!({"type": "deleted", "name": name}))
}

async fn list(ctx: &Context) -> bindery::Result<Response> {
    let entries = ctx.object().list("files://").await?;
    let files: Vec<_> = entries
        .iter()
        .filter_map(|e| match e {
            bindery::ListEntry::Object(m) => Some(json!({"name": m.path, "size": m.size, "gen": m.gen})),
            _ => None,
        })
        .collect();
    Response::json(&files)
}

/// Announces a change the watch trigger saw (its JSON body: kind, path, gen, size).
async fn announce(ctx: &Context, event: &Event) -> bindery::Result<Response> {
    let change: serde_json::Value = serde_json::from_slice(&event.body)
        .map_err(|e| bindery::Error::invalid_input(format!("a watch event that is not JSON: {e}")))?;
    let name = change["path"].as_str().unwrap_or_default();
    let announcement = match change["kind"].as_str() {
        Some("resync") => json!({"type": "resync"}),
        kind => json!({"type": kind, "name": name, "size": change["size"], "gen": change["gen"]}),
    };
    ctx.stream()
        .publish("events://files")
        .messages([Message::new(announcement.to_string()).with_key(name.to_string())])
        .await?;
    Ok(Response::new("announced"))
}

async fn init(ctx: Context) -> bindery::Result<()> {
    match ctx.stream().create("events://files", "", 1).await {
        Err(e) if e.kind() != ErrorKind::AlreadyExists => Err(e),
        _ => Ok(()),
    }
}

fn main() -> std::process::ExitCode {
    Function::new(handler).init(init).main()
}

#[cfg(test)]
mod tests {
    use super::check;

    #[test]
    fn files_are_checked_by_kind() {
        assert_eq!(check("a.csv", b"a,b\n1,2\n", 100), None);
        assert_eq!(check("a.json", b"{\"a\": 1}", 100), None);
        assert_eq!(check("a.txt", "héllo".as_bytes(), 100), None);
        let reason = |n, b: &[u8]| check(n, b, 100).unwrap();
        assert_eq!(
            reason("a.csv", b"a,b\n1,2,3\n").1,
            "'a.csv' is not a CSV file: row 2 has 3 fields, the header 2"
        );
        assert_eq!(
            reason("a.csv", b"").1,
            "'a.csv' is not a CSV file: it has no header row"
        );
        assert!(reason("a.json", b"{").1.starts_with("'a.json' is not JSON"));
        assert!(reason("a.txt", &[0xff]).1.starts_with("'a.txt' is not UTF-8"));
        assert_eq!(reason("a.exe", b"x").0, 422);
        assert_eq!(
            reason("a.txt", &[b'x'; 101]),
            (413, "'a.txt' is 101 bytes; files may be at most 100".into())
        );
    }
}
