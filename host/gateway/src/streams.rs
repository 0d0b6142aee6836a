//! `/v1/streams/{binding}/{stream}`: publish (`POST`), consume as Server-Sent Events
//! (`GET`), both over a WebSocket (`GET` with `Upgrade: websocket`); and
//! `/v1/call/{binding}/{path}`.

use std::collections::BTreeMap;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bindery::{Bytes, Message};
use bindery_core::Kind;
use futures::StreamExt;
use serde::Deserialize;

use crate::auth::Grant;
use crate::events::{self, MaybeSocket, Out};
use crate::objects::{json, META_PREFIX};
use crate::problem::Problem;
use crate::Shared;

/// A body of at most `limit` bytes, whole.
pub(crate) async fn take_body(body: Body, limit: u64, what: &str) -> Result<Bytes, Problem> {
    let mut data = body.into_data_stream();
    let mut out = Vec::new();
    while let Some(chunk) = data.next().await {
        let chunk = chunk.map_err(|e| Problem::bad_request(format!("the request body broke off: {e}")))?;
        if (out.len() + chunk.len()) as u64 > limit {
            return Err(Problem::too_large(limit, &format!("the body of {what}")));
        }
        out.extend_from_slice(&chunk);
    }
    Ok(Bytes::from(out))
}

/// JSON items: a JSON array (or one object), or NDJSON (one per line).
pub(crate) fn json_items(bytes: &[u8], content_type: &str) -> Result<Vec<serde_json::Value>, Problem> {
    let bad = |line: Option<usize>, e: serde_json::Error| {
        Problem::bad_request(match line {
            Some(n) => format!("line {n} of the body is not JSON: {e}"),
            None => format!("the body is not JSON: {e}"),
        })
    };
    if content_type.contains("ndjson") || content_type.contains("jsonl") {
        return std::str::from_utf8(bytes)
            .map_err(|_| Problem::bad_request("the body is not UTF-8"))?
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| serde_json::from_str(l).map_err(|e| bad(Some(i + 1), e)))
            .collect();
    }
    match serde_json::from_slice(bytes).map_err(|e| bad(None, e))? {
        serde_json::Value::Array(items) => Ok(items),
        one => Ok(vec![one]),
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct PublishQuery {
    /// The key of a raw body's message.
    key: Option<String>,
}

/// `POST`: a JSON array (or NDJSON) of `{"key", "value", "headers"}` (a string value is sent
/// as its text, any other JSON value as its JSON), or any other body as one message.
pub(crate) async fn publish(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, stream)): Path<(String, String)>,
    Query(q): Query<PublishQuery>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    g.binding(&grant, &binding, Kind::Stream, "publish")?;
    let bytes = take_body(body, g.json_bytes, "a publish").await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream");
    let path = format!("{binding}://{stream}");
    let positions = if content_type.starts_with("application/json") || content_type.contains("ndjson") {
        publish_items(&g, &path, &bytes, content_type).await?
    } else {
        let mut m = Message::new(bytes);
        m.key = q.key.map(Bytes::from);
        let positions = g.ctx.stream().publish(path).messages(vec![m]).await?;
        positions.iter().map(|(s, p)| format!("{s}:{p}")).collect()
    };
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({ "positions": positions }),
    ))
}

fn message(i: usize, item: serde_json::Value) -> Result<Message, Problem> {
    let bad = |why: &str| Problem::bad_request(format!("message {i}: {why}"));
    let serde_json::Value::Object(mut o) = item else {
        return Err(bad("must be an object with `value` (and `key`, `headers`)"));
    };
    let text = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => Bytes::from(s),
        other => Bytes::from(other.to_string()),
    };
    let value = o.remove("value").ok_or_else(|| bad("has no `value`"))?;
    let mut m = Message::new(text(value));
    m.key = o.remove("key").filter(|k| !k.is_null()).map(text);
    if let Some(h) = o.remove("headers") {
        let serde_json::Value::Object(h) = h else {
            return Err(bad("`headers` must be an object of strings"));
        };
        m.headers = h.into_iter().map(|(k, v)| (k, text(v))).collect();
    }
    if let Some(k) = o.keys().next() {
        return Err(bad(&format!("unknown field `{k}` (fields: key, value, headers)")));
    }
    Ok(m)
}

#[derive(Deserialize, Default)]
pub(crate) struct ConsumeQuery {
    /// `earliest`, `latest` (the default), `timestamp:MS`, or `position:SHARD:POS[,…]`.
    from: Option<String>,
    group: Option<String>,
    #[serde(rename = "where")]
    filter: Option<String>,
}

/// `GET`: the stream's messages as Server-Sent Events, following it. Each event's id is
/// where to resume (every shard's next position seen so far), so a reconnecting
/// `EventSource` resumes through `Last-Event-ID`. With a group, the gateway checkpoints a
/// message once it has handed it to the connection.
///
/// With `Upgrade: websocket`: a socket that sends the same events (when the token may
/// consume) and publishes the frames its client sends (when it may publish); see
/// [`crate::events`].
pub(crate) async fn consume(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, stream)): Path<(String, String)>,
    Query(q): Query<ConsumeQuery>,
    MaybeSocket(ws): MaybeSocket,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let consuming = g.binding(&grant, &binding, Kind::Stream, "consume");
    let Some(ws) = ws else {
        consuming?;
        return Ok(events::sse(messages(&g, &binding, &stream, q, &headers).await?));
    };
    let publishing = g.binding(&grant, &binding, Kind::Stream, "publish").map(|_| ());
    if let (Err(e), Err(_)) = (&consuming, &publishing) {
        return Err(Problem::new(e.status(), e.detail().to_string()));
    }
    let events = match consuming {
        Ok(_) => Some(messages(&g, &binding, &stream, q, &headers).await?),
        Err(_) => None,
    };
    let path = format!("{binding}://{stream}");
    let on_frame: events::OnFrame = Box::new(move |data| {
        let (g, path, allowed) = (
            g.clone(),
            path.clone(),
            publishing.as_ref().map_err(|p| p.detail().to_string()).cloned(),
        );
        Box::pin(async move {
            if let Err(why) = allowed {
                return events::refused(StatusCode::FORBIDDEN, why);
            }
            match publish_items(&g, &path, &data, "application/json").await {
                Ok(positions) => Out {
                    name: "published".into(),
                    id: None,
                    data: serde_json::json!({ "positions": positions }),
                },
                Err(p) => events::problem_event(p),
            }
        })
    });
    Ok(events::socket(ws, events, Some(on_frame)))
}

/// Publishes JSON items (an array, one object, or NDJSON): each message's position.
async fn publish_items(
    g: &Shared,
    path: &str,
    bytes: &[u8],
    content_type: &str,
) -> Result<Vec<String>, Problem> {
    let messages = json_items(bytes, content_type)?
        .into_iter()
        .enumerate()
        .map(|(i, item)| message(i, item))
        .collect::<Result<Vec<_>, _>>()?;
    let positions = g
        .ctx
        .stream()
        .publish(path.to_string())
        .messages(messages)
        .await?;
    Ok(positions.iter().map(|(s, p)| format!("{s}:{p}")).collect())
}

/// The messages of a consume as events, following the stream.
async fn messages(
    g: &Shared,
    binding: &str,
    stream: &str,
    q: ConsumeQuery,
    headers: &HeaderMap,
) -> Result<events::Events, Problem> {
    let mut req = g
        .ctx
        .stream()
        .consume(format!("{binding}://{stream}"))
        .follow(true);
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| !v.is_empty());
    let mut seen = BTreeMap::new();
    match (resume, q.from.as_deref()) {
        (Some(at), _) => {
            for part in at.split(',') {
                if let Some((s, p)) = part.split_once(':') {
                    if let (Ok(s), Ok(p)) = (s.parse::<u32>(), p.parse::<u64>()) {
                        seen.insert(s, p);
                    }
                }
            }
            req = req.from_("position", at);
        }
        (None, Some(from)) => {
            let (kind, value) = from.split_once(':').unwrap_or((from, ""));
            req = req.from_(kind, value);
        }
        (None, None) => req = req.from_("latest", ""),
    }
    if let Some(group) = q.group.clone() {
        req = req.group(group);
    }
    if let Some(w) = q.filter.as_deref().filter(|w| !w.trim().is_empty()) {
        req = req.where_(w);
    }
    let mut consumer = req.load();
    // A request the driver refuses (an unknown stream, a bad start) fails at once: answered
    // as a problem. Otherwise the events start without waiting for a first message (the
    // wait is cancel-safe: a message arriving meanwhile stays in the consumer).
    let first = match tokio::time::timeout(FIRST_WAIT, consumer.next_async()).await {
        Ok(Some(Err(e))) => return Err(e.into()),
        Ok(first) => first,
        Err(_) => None,
    };
    let grouped = q.group.is_some();
    let events = futures::stream::unfold(
        (consumer, first, seen),
        move |(mut consumer, pending, mut seen)| async move {
            let next = match pending {
                Some(m) => Some(m),
                None => consumer.next_async().await,
            };
            let event = match next? {
                Ok(m) => {
                    seen.insert(m.shard, m.position + 1);
                    if grouped {
                        if let Err(e) = consumer.checkpoint_async(&m).await {
                            tracing::warn!(error = %e, "gateway: checkpoint failed");
                        }
                    }
                    let id: Vec<String> = seen.iter().map(|(s, p)| format!("{s}:{p}")).collect();
                    Out {
                        name: "message".into(),
                        id: Some(id.join(",")),
                        data: message_json(&m),
                    }
                }
                Err(e) => Out::error(&e),
            };
            Some((event, (consumer, None, seen)))
        },
    );
    Ok(events::boxed(events))
}

/// How long a consume waits for a refusal before its events start.
const FIRST_WAIT: std::time::Duration = std::time::Duration::from_millis(250);

fn message_json(m: &Message) -> serde_json::Value {
    let mut out = serde_json::json!({
        "shard": m.shard,
        "position": m.position,
        "timestamp_ms": m.timestamp.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_millis() as u64),
    });
    put_bytes(&mut out, "value", &m.value);
    if let Some(k) = &m.key {
        put_bytes(&mut out, "key", k);
    }
    let headers: serde_json::Map<String, serde_json::Value> = m
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.clone(),
                serde_json::Value::String(String::from_utf8_lossy(v).into_owned()),
            )
        })
        .collect();
    out["headers"] = headers.into();
    out
}

/// Text as `name`; other bytes as `name_hex`.
fn put_bytes(out: &mut serde_json::Value, name: &str, bytes: &[u8]) {
    match std::str::from_utf8(bytes) {
        Ok(s) => out[name] = s.into(),
        Err(_) => {
            out[format!("{name}_hex")] = bytes
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
                .into()
        }
    }
}

#[derive(Deserialize, Default)]
pub(crate) struct CallQuery {
    operation: Option<String>,
}

/// `POST /v1/call/{binding}/{path}?operation=OP`: the body is the payload; the answer is the
/// driver's body, its status (when it is an HTTP status) and its metadata as
/// `x-bindery-meta-*` headers.
pub(crate) async fn call(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, path)): Path<(String, String)>,
    Query(q): Query<CallQuery>,
    body: Body,
) -> Result<Response, Problem> {
    g.binding(&grant, &binding, Kind::Generic, "call")?;
    let payload = take_body(body, g.json_bytes, "a call").await?;
    let mut req = g
        .ctx
        .generic()
        .call(format!("{binding}://{path}"))
        .payload(payload);
    if let Some(op) = q.operation {
        req = req.operation(op);
    }
    let out = req.await?;
    let status = u16::try_from(out.status)
        .ok()
        .and_then(|s| StatusCode::from_u16(s).ok())
        .filter(|s| s.as_u16() >= 200)
        .unwrap_or(StatusCode::OK);
    let mut resp = (status, out.body).into_response();
    for (k, v) in &out.metadata {
        let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(format!("{META_PREFIX}{k}").as_bytes()),
            HeaderValue::from_str(v),
        ) else {
            continue;
        };
        resp.headers_mut().append(name, value);
    }
    Ok(resp)
}
