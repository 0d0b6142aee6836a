//! The events of a consume or a watch, sent as Server-Sent Events or over a WebSocket.
//!
//! Over a WebSocket each event is one text frame, `{"event": NAME, "id": ID, "data": DATA}`:
//! the same name, id and data an SSE event has. A stream's socket also publishes: each text
//! (or binary) frame the client sends is a JSON array (or one object) of `{"key", "value",
//! "headers"}`, answered by a frame `{"event": "published", "data": {"positions": […]}}`, or
//! `{"event": "error", "data": {"status", "detail"}}` when refused (the socket stays open).

use std::convert::Infallible;

use axum::extract::ws::{Message as Frame, WebSocket, WebSocketUpgrade};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::stream::BoxStream;
use futures::{Stream, StreamExt};

use crate::problem::Problem;

/// One event: its name, its id (where to resume after it), its data.
pub(crate) struct Out {
    pub name: String,
    pub id: Option<String>,
    pub data: serde_json::Value,
}

impl Out {
    /// An `error` event for a failure after the events started.
    pub fn error(e: &bindery::Error) -> Out {
        Out {
            name: "error".into(),
            id: None,
            data: serde_json::json!({"kind": e.kind().as_str(), "detail": e.message()}),
        }
    }

    fn sse(self) -> Event {
        let mut e = Event::default().event(self.name).data(self.data.to_string());
        if let Some(id) = self.id {
            e = e.id(id);
        }
        e
    }

    fn frame(&self) -> Frame {
        let mut out = serde_json::json!({"event": self.name, "data": self.data});
        if let Some(id) = &self.id {
            out["id"] = id.as_str().into();
        }
        Frame::Text(out.to_string().into())
    }
}

pub(crate) type Events = BoxStream<'static, Out>;

/// A request to upgrade to a WebSocket, when it is one (`Upgrade: websocket`); otherwise the
/// endpoint answers Server-Sent Events.
pub(crate) struct MaybeSocket(pub Option<WebSocketUpgrade>);

impl<S: Send + Sync> FromRequestParts<S> for MaybeSocket {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let upgrade = parts
            .headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
        if !upgrade {
            return Ok(MaybeSocket(None));
        }
        WebSocketUpgrade::from_request_parts(parts, state)
            .await
            .map(|ws| MaybeSocket(Some(ws)))
            .map_err(|e| Problem::bad_request(format!("a bad WebSocket upgrade: {e}")).into_response())
    }
}

/// `events` as Server-Sent Events (with keep-alive comments).
pub(crate) fn sse(events: Events) -> Response {
    let events = events.map(|o| Ok::<_, Infallible>(o.sse()));
    Sse::new(events).keep_alive(KeepAlive::default()).into_response()
}

/// What a socket does with the frames its client sends: publishes them (answering the frame
/// to send back), or nothing.
pub(crate) type OnFrame =
    Box<dyn Fn(bindery::Bytes) -> futures::future::BoxFuture<'static, Out> + Send + Sync>;

/// Answers `ws` with a socket that sends `events` (none: only takes frames) and hands each
/// frame the client sends to `on_frame` (none: such a frame is answered by an error event).
pub(crate) fn socket(ws: WebSocketUpgrade, events: Option<Events>, on_frame: Option<OnFrame>) -> Response {
    ws.on_upgrade(move |socket| session(socket, events, on_frame))
}

async fn session(mut socket: WebSocket, events: Option<Events>, on_frame: Option<OnFrame>) {
    let mut events = events.unwrap_or_else(|| futures::stream::pending().boxed());
    loop {
        // Both arms are cancel-safe: an event being made stays in the stream, a frame being
        // read in the socket.
        tokio::select! {
            out = events.next() => match out {
                Some(out) => {
                    if socket.send(out.frame()).await.is_err() {
                        return;
                    }
                }
                None => break,
            },
            frame = socket.recv() => {
                let data = match frame {
                    Some(Ok(Frame::Text(t))) => bindery::Bytes::from(t.as_str().to_owned()),
                    Some(Ok(Frame::Binary(b))) => b,
                    Some(Ok(Frame::Ping(_) | Frame::Pong(_))) => continue,
                    Some(Ok(Frame::Close(_)) | Err(_)) | None => return,
                };
                let reply = match &on_frame {
                    Some(f) => f(data).await,
                    None => refused(StatusCode::BAD_REQUEST, "this socket only sends events; it takes no frames"),
                };
                if socket.send(reply.frame()).await.is_err() {
                    return;
                }
            }
        }
    }
    let _ = socket.send(Frame::Close(None)).await;
}

/// The event answering a refused frame.
pub(crate) fn refused(status: StatusCode, detail: impl Into<String>) -> Out {
    Out {
        name: "error".into(),
        id: None,
        data: serde_json::json!({"status": status.as_u16(), "detail": detail.into()}),
    }
}

/// The event answering a frame a problem refused.
pub(crate) fn problem_event(p: Problem) -> Out {
    let status = p.status();
    refused(status, p.detail().to_string())
}

/// Marks a stream of events as one of [`Events`].
pub(crate) fn boxed(events: impl Stream<Item = Out> + Send + 'static) -> Events {
    events.boxed()
}
