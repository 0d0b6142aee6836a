//! `/v1/watch/{binding}/{path}`: the changes of an object prefix or of a table as
//! Server-Sent Events, or over a WebSocket (`Upgrade: websocket`; see [`crate::events`]). The event's name is the change's kind (`created`, `updated`,
//! `deleted`, `synced`, `resync`), its id the change's cursor (so a reconnecting
//! `EventSource` resumes through `Last-Event-ID`), its data the change as JSON.

use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use bindery_core::Kind;
use serde::Deserialize;

use crate::auth::Grant;
use crate::events::{self, MaybeSocket, Out};
use crate::problem::Problem;
use crate::Shared;

#[derive(Deserialize, Default)]
pub(crate) struct WatchQuery {
    /// The current state first (as `created` changes), then `synced`.
    initial: Option<bool>,
    /// Resume after this cursor (`Last-Event-ID` wins).
    cursor: Option<String>,
}

pub(crate) async fn watch_root(
    state: State<Shared>,
    grant: Extension<Grant>,
    Path(binding): Path<String>,
    query: Query<WatchQuery>,
    ws: MaybeSocket,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    watch(state, grant, Path((binding, String::new())), query, ws, headers).await
}

pub(crate) async fn watch(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, path)): Path<(String, String)>,
    Query(q): Query<WatchQuery>,
    MaybeSocket(ws): MaybeSocket,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let kind = g.exposed(&grant, &binding, "read")?.kind;
    let full = format!("{binding}://{path}");
    let mut req = match kind {
        Kind::Object => g.ctx.object().watch(full),
        Kind::Table => g.ctx.table().watch(full),
        other => {
            return Err(Problem::bad_request(format!(
                "binding '{binding}' is a {other} binding: only object and table bindings are watched"
            )))
        }
    };
    let cursor = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or(q.cursor)
        .filter(|c| !c.is_empty());
    if let Some(c) = &cursor {
        req = req.from_("cursor", c);
    }
    if q.initial.unwrap_or(false) {
        req = req.initial(true);
    }
    let mut watcher = req.load();
    // The watch in place (or refused, answered as a problem) before the events start.
    watcher.ready_async().await;
    let events = futures::stream::unfold(Some(watcher), |w| async move {
        let mut w = w?;
        match w.next_async().await? {
            Ok(c) => {
                let out = Out {
                    name: c.kind.as_str().into(),
                    id: Some(c.cursor.clone()),
                    data: c.to_json(),
                };
                Some((out, Some(w)))
            }
            // The last event: the watch has ended.
            Err(e) => Some((Out::error(&e), None)),
        }
    });
    let events = events::boxed(events);
    Ok(match ws {
        Some(ws) => events::socket(ws, Some(events), None),
        None => events::sse(events),
    })
}
