//! Events in, responses out: nuclio's shapes.

use std::time::SystemTime;

use bytes::Bytes;

/// One event a trigger hands the handler: an HTTP request, a stream message, a cron tick or
/// an `invoke`.
#[derive(Debug, Clone, Default)]
pub struct Event {
    /// A unique id, also on every log line the handler writes for it (`event_id`).
    pub id: String,
    /// The trigger's name (its key under `spec.triggers`; `invoke` for `bindery invoke`).
    pub trigger: String,
    /// The trigger's kind: `http`, `stream`, `cron`, `watch` or `invoke`.
    pub trigger_kind: String,
    /// The HTTP method (`POST` for stream, cron and invoke events unless given).
    pub method: String,
    /// The request path without its query (`/uploads/a.csv`); for a stream event, the
    /// stream's path (`events://orders`).
    pub path: String,
    /// The query parameters of an HTTP request, in order (nuclio's `fields`).
    pub query: Vec<(String, String)>,
    /// Headers in order; for a stream event, the message's headers.
    pub headers: Vec<(String, Bytes)>,
    /// The body (shared, never copied after it arrived); for a stream event, the message's value.
    pub body: Bytes,
    /// When the event happened (the message's timestamp for a stream event).
    pub timestamp: Option<SystemTime>,
    /// A stream event's key.
    pub key: Option<Bytes>,
    /// A stream event's shard.
    pub shard: Option<u32>,
    /// A stream event's position in its shard.
    pub position: Option<u64>,
}

impl Event {
    /// The first header of that name (case-insensitive), as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .and_then(|(_, v)| std::str::from_utf8(v).ok())
    }

    /// The first query parameter of that name.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as text (`None` when it is not UTF-8).
    pub fn body_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.body).ok()
    }

    /// The body parsed as JSON into `T`.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> crate::Result<T> {
        serde_json::from_slice(&self.body).map_err(|e| {
            crate::Error::invalid_input(format!("the event's body is not the JSON expected: {e}"))
        })
    }
}

/// What a handler answers: a status, headers and a body.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    /// The HTTP status (200 unless set).
    pub status: u16,
    /// Headers in order.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Bytes,
}

impl Default for Response {
    fn default() -> Self {
        Response {
            status: 200,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }
}

impl Response {
    /// A 200 response with this body.
    pub fn new(body: impl Into<Bytes>) -> Response {
        Response {
            body: body.into(),
            ..Response::default()
        }
    }

    /// A response with a JSON body (`content-type: application/json`).
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> crate::Result<Response> {
        let body = serde_json::to_vec(value).map_err(|e| {
            crate::Error::invalid_input(format!("the response is not serialisable as JSON: {e}"))
        })?;
        Ok(Response::new(body).with_header("content-type", "application/json"))
    }

    /// Sets the status.
    #[must_use]
    pub fn with_status(mut self, status: u16) -> Response {
        self.status = status;
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Response {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first header of that name (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(body: impl Into<Bytes>) -> Response {
        Response::new(body).with_header("content-type", "text/plain; charset=utf-8")
    }

    /// The response to a handler that failed: 500 with the error's message.
    pub fn error(message: &str) -> Response {
        Response::text(format!("handler error: {message}\n")).with_status(500)
    }
}

/// A value serialised as the JSON body of a response: `Ok(Json(row))`.
#[derive(Debug, Clone)]
pub struct Json<T>(pub T);

/// What a handler may return: bytes, text, JSON values, nothing, or a [`Response`].
pub trait IntoResponse {
    /// The response.
    fn into_response(self) -> Response;
}

impl IntoResponse for Response {
    fn into_response(self) -> Response {
        self
    }
}

impl IntoResponse for () {
    fn into_response(self) -> Response {
        Response::default().with_status(204)
    }
}

impl IntoResponse for Bytes {
    fn into_response(self) -> Response {
        Response::new(self).with_header("content-type", "application/octet-stream")
    }
}

impl IntoResponse for Vec<u8> {
    fn into_response(self) -> Response {
        Bytes::from(self).into_response()
    }
}

impl IntoResponse for String {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for &'static str {
    fn into_response(self) -> Response {
        Response::text(self)
    }
}

impl IntoResponse for serde_json::Value {
    fn into_response(self) -> Response {
        Json(self).into_response()
    }
}

impl<T: serde::Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        Response::json(&self.0).unwrap_or_else(|e| Response::error(e.message()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn returns_become_responses() {
        assert_eq!(().into_response().status, 204);
        let r = "hi".into_response();
        assert_eq!(
            (r.status, r.header("Content-Type")),
            (200, Some("text/plain; charset=utf-8"))
        );
        let r = serde_json::json!({"a": 1}).into_response();
        assert_eq!(
            (&r.body[..], r.header("content-type")),
            (&b"{\"a\":1}"[..], Some("application/json"))
        );
        let r = Json(vec![1, 2]).into_response();
        assert_eq!(&r.body[..], b"[1,2]");
        let r = Response::new("x").with_status(201).with_header("location", "/a");
        assert_eq!((r.status, r.header("LOCATION")), (201, Some("/a")));
        assert_eq!(Response::error("boom").body, Bytes::from("handler error: boom\n"));
    }
}
