//! `/v1/watch/{binding}/{path}`: the changes of an object prefix or of a table as
//! Server-Sent Events. The event's name is the change's kind (`created`, `updated`,
//! `deleted`, `synced`, `resync`), its id the change's cursor (so a reconnecting
//! `EventSource` resumes through `Last-Event-ID`), its data the change as JSON.

use std::convert::Infallible;

use axum::extract::{Extension, Path, Query, State};
use axum::http::HeaderMap;
use axum::response::sse::Event;
use axum::response::Response;
use bindery_core::Kind;
use serde::Deserialize;

use crate::auth::Grant;
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
    headers: HeaderMap,
) -> Result<Response, Problem> {
    watch(state, grant, Path((binding, String::new())), query, headers).await
}

pub(crate) async fn watch(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, path)): Path<(String, String)>,
    Query(q): Query<WatchQuery>,
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
        let event = match w.next_async().await? {
            Ok(c) => Event::default()
                .event(c.kind.as_str())
                .id(c.cursor.clone())
                .data(c.to_json().to_string()),
            Err(e) => {
                let data = serde_json::json!({"kind": e.kind().as_str(), "detail": e.message()});
                return Some((
                    Ok::<_, Infallible>(Event::default().event("error").data(data.to_string())),
                    None,
                ));
            }
        };
        Some((Ok(event), Some(w)))
    });
    Ok(crate::streams::sse(events))
}
