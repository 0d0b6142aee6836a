//! `/v1/objects/{binding}/{path}`: objects, streamed both ways.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::UNIX_EPOCH;

use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bindery::{Bytes, Error, ErrorKind, ListEntry, ObjectMeta};
use bindery_core::Kind;
use futures::StreamExt;
use serde::Deserialize;

use crate::auth::Grant;
use crate::problem::Problem;
use crate::Shared;

/// User metadata travels as headers with this prefix (as S3's `x-amz-meta-`).
pub(crate) const META_PREFIX: &str = "x-bindery-meta-";
/// The metadata key the content type is kept under.
const CONTENT_TYPE: &str = "content-type";

#[derive(Deserialize, Default)]
pub(crate) struct ListQuery {
    prefix: Option<String>,
    delimiter: Option<String>,
    limit: Option<u64>,
    page_token: Option<String>,
    version: Option<String>,
}

#[derive(Deserialize, Default)]
pub(crate) struct VersionQuery {
    version: Option<String>,
}

/// The largest page a listing answers.
const MAX_PAGE: u64 = 10_000;

pub(crate) async fn list(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path(binding): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Response, Problem> {
    g.binding(&grant, &binding, Kind::Object, "read")?;
    let limit = q.limit.unwrap_or(1000).clamp(1, MAX_PAGE);
    let prefix = q.prefix.unwrap_or_default();
    // One more than the page: whether there is a next one.
    let mut req = g
        .ctx
        .object()
        .list(format!("{binding}://{prefix}"))
        .limit(limit + 1);
    if let Some(d) = q.delimiter.filter(|d| !d.is_empty()) {
        req = req.delimiter(d);
    }
    if let Some(t) = q.page_token.filter(|t| !t.is_empty()) {
        req = req.start_after(t);
    }
    if let Some(v) = q.version.filter(|v| !v.is_empty()) {
        req = req.version(v);
    }
    let mut entries = req.await?;
    let next = if entries.len() as u64 > limit {
        entries.truncate(limit as usize);
        entries.last().map(|e| e.path().to_string())
    } else {
        None
    };
    let mut objects = Vec::new();
    let mut prefixes = Vec::new();
    for e in entries {
        match e {
            ListEntry::Object(m) => objects.push(meta_json(&m)),
            ListEntry::Prefix(p) => prefixes.push(serde_json::Value::String(p)),
        }
    }
    let body = serde_json::json!({
        "objects": objects,
        "prefixes": prefixes,
        "next_page_token": next,
    });
    Ok(json(StatusCode::OK, &body))
}

pub(crate) async fn get(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, path)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    g.binding(&grant, &binding, Kind::Object, "read")?;
    let full = format!("{binding}://{path}");
    let (conditions, not_modified) = read_conditions(&headers)?;
    let range = match headers.get(header::RANGE) {
        Some(r) => parse_range(r.to_str().unwrap_or("")),
        None => None,
    };
    // A range needs the size first (a suffix range, and 416 for one past the end).
    let mut span = None;
    if let Some(range) = range {
        let mut head = g.ctx.object().head(&full);
        for (k, v) in &conditions {
            head = head.condition(k, v.clone());
        }
        if let Some(v) = q.version.as_ref().filter(|v| !v.is_empty()) {
            head = head.version(v.clone());
        }
        let meta = head.await.map_err(|e| condition_answer(e, not_modified))?;
        match range.resolve(meta.size) {
            Some(s) => span = Some((s, meta.size)),
            None => {
                let mut resp = Problem::new(
                    StatusCode::RANGE_NOT_SATISFIABLE,
                    format!("the range is outside the object ({} bytes)", meta.size),
                )
                .into_response();
                insert(
                    resp.headers_mut(),
                    header::CONTENT_RANGE,
                    &format!("bytes */{}", meta.size),
                );
                return Ok(resp);
            }
        }
    }
    let mut req = g.ctx.object().get(&full);
    for (k, v) in &conditions {
        req = req.condition(k, v.clone());
    }
    if let Some(v) = q.version.filter(|v| !v.is_empty()) {
        req = req.version(v);
    }
    if let Some(((offset, length), _)) = span {
        req = req.range(offset, Some(length));
    }
    let mut reader = req.load();
    let meta = reader
        .meta_async()
        .await
        .map_err(|e| condition_answer(e, not_modified))?
        .clone();
    let mut resp = Response::new(Body::from_stream(reader.into_stream()));
    meta_headers(resp.headers_mut(), &meta);
    insert(resp.headers_mut(), header::ACCEPT_RANGES, "bytes");
    match span {
        Some(((offset, length), size)) => {
            *resp.status_mut() = StatusCode::PARTIAL_CONTENT;
            insert(resp.headers_mut(), header::CONTENT_LENGTH, &length.to_string());
            insert(
                resp.headers_mut(),
                header::CONTENT_RANGE,
                &format!("bytes {offset}-{}/{size}", offset + length - 1),
            );
        }
        None => insert(resp.headers_mut(), header::CONTENT_LENGTH, &meta.size.to_string()),
    }
    Ok(resp)
}

pub(crate) async fn head(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, path)): Path<(String, String)>,
    Query(q): Query<VersionQuery>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    g.binding(&grant, &binding, Kind::Object, "read")?;
    let (conditions, not_modified) = read_conditions(&headers)?;
    let mut req = g.ctx.object().head(format!("{binding}://{path}"));
    for (k, v) in conditions {
        req = req.condition(k, v);
    }
    if let Some(v) = q.version.filter(|v| !v.is_empty()) {
        req = req.version(v);
    }
    let meta = req.await.map_err(|e| condition_answer(e, not_modified))?;
    let mut resp = StatusCode::OK.into_response();
    meta_headers(resp.headers_mut(), &meta);
    insert(resp.headers_mut(), header::CONTENT_LENGTH, &meta.size.to_string());
    insert(resp.headers_mut(), header::ACCEPT_RANGES, "bytes");
    Ok(resp)
}

pub(crate) async fn put(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, path)): Path<(String, String)>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    g.binding(&grant, &binding, Kind::Object, "write")?;
    let limit = g.body_bytes;
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit) {
        return Err(Problem::too_large(limit, "the object"));
    }
    let mut metadata = BTreeMap::new();
    for (name, value) in &headers {
        let name = name.as_str();
        let value = || {
            value
                .to_str()
                .map(str::to_string)
                .map_err(|_| Problem::bad_request(format!("header '{name}' is not text")))
        };
        if name == header::CONTENT_TYPE.as_str() {
            metadata.insert(CONTENT_TYPE.to_string(), value()?);
        } else if let Some(key) = name.strip_prefix(META_PREFIX) {
            metadata.insert(key.to_string(), value()?);
        }
    }
    let over = Arc::new(AtomicBool::new(false));
    let flag = over.clone();
    let mut seen = 0u64;
    let data = body.into_data_stream().map(move |chunk| {
        let chunk = chunk.map_err(|e| Error::invalid_input(format!("the request body broke off: {e}")))?;
        seen += chunk.len() as u64;
        if seen > limit {
            flag.store(true, Ordering::Relaxed);
            return Err(Error::invalid_input(format!(
                "the object is larger than the gateway takes ({limit} bytes)"
            )));
        }
        Ok(chunk)
    });
    let mut req = g
        .ctx
        .object()
        .put(format!("{binding}://{path}"), Bytes::new())
        .add_stream(data.boxed())
        .metadata(metadata);
    for (k, v) in conditions(&headers)? {
        req = req.condition(k, v);
    }
    let meta = match req.await {
        Ok(m) => m,
        Err(_) if over.load(Ordering::Relaxed) => return Err(Problem::too_large(limit, "the object")),
        Err(e) => return Err(e.into()),
    };
    let mut resp = json(StatusCode::OK, &meta_json(&meta));
    insert(resp.headers_mut(), header::ETAG, &etag(&meta.gen));
    Ok(resp)
}

pub(crate) async fn delete(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, path)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    g.binding(&grant, &binding, Kind::Object, "delete")?;
    let mut req = g.ctx.object().del(format!("{binding}://{path}"));
    for (k, v) in conditions(&headers)? {
        req = req.condition(k, v);
    }
    req.await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Conditions as the SDK's builders take them: (`if-match` or `if-none-match`, the value).
type Conditions = Vec<(&'static str, String)>;

/// `If-Match` and `If-None-Match` as bindery's conditions (one entity tag each, quoted or
/// not; `*`).
fn conditions(headers: &HeaderMap) -> Result<Conditions, Problem> {
    let mut out = Vec::new();
    for (name, key) in [
        (header::IF_MATCH, "if-match"),
        (header::IF_NONE_MATCH, "if-none-match"),
    ] {
        let Some(v) = headers.get(&name) else { continue };
        let text = v
            .to_str()
            .map_err(|_| Problem::bad_request(format!("{name} is not text")))?
            .trim();
        if text.contains(',') {
            return Err(Problem::bad_request(format!(
                "{name} takes one entity tag (or *) here, not a list"
            )));
        }
        let tag = text.strip_prefix("W/").unwrap_or(text);
        let tag = tag.trim_matches('"');
        out.push((key, tag.to_string()));
    }
    Ok(out)
}

/// A read's conditions, and whether one is `If-None-Match` (whose failure is 304).
fn read_conditions(headers: &HeaderMap) -> Result<(Conditions, bool), Problem> {
    let conditions = conditions(headers)?;
    let not_modified = conditions.iter().any(|(k, _)| *k == "if-none-match");
    Ok((conditions, not_modified))
}

/// A failed `If-None-Match` on a read is 304, not 412.
fn condition_answer(e: Error, not_modified: bool) -> Problem {
    if not_modified && e.kind() == ErrorKind::ConditionFailed {
        Problem::new(StatusCode::NOT_MODIFIED, "not modified")
    } else {
        e.into()
    }
}

/// A `Range` header's one range (several, or one that is not bytes, are ignored: the whole
/// object is answered, as RFC 9110 allows).
#[derive(Clone, Copy, Debug, PartialEq)]
enum Range {
    From(u64, Option<u64>),
    Last(u64),
}

fn parse_range(text: &str) -> Option<Range> {
    let spec = text.trim().strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (a, b) = (a.trim(), b.trim());
    if a.is_empty() {
        return b.parse().ok().map(Range::Last);
    }
    let start = a.parse().ok()?;
    if b.is_empty() {
        return Some(Range::From(start, None));
    }
    let end: u64 = b.parse().ok()?;
    (end >= start).then_some(Range::From(start, Some(end)))
}

impl Range {
    /// The (offset, length) this range is of an object of `size` bytes; `None`: outside it.
    fn resolve(self, size: u64) -> Option<(u64, u64)> {
        match self {
            Range::From(start, _) if start >= size => None,
            Range::From(start, end) => {
                let last = end.unwrap_or(u64::MAX).min(size - 1);
                Some((start, last - start + 1))
            }
            Range::Last(0) => None,
            Range::Last(_) if size == 0 => None,
            Range::Last(n) => {
                let n = n.min(size);
                Some((size - n, n))
            }
        }
    }
}

fn etag(gen: &str) -> String {
    format!("\"{gen}\"")
}

fn insert(h: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

fn meta_headers(h: &mut HeaderMap, meta: &ObjectMeta) {
    insert(h, header::ETAG, &etag(&meta.gen));
    let content_type = meta
        .metadata
        .get(CONTENT_TYPE)
        .map_or("application/octet-stream", String::as_str);
    insert(h, header::CONTENT_TYPE, content_type);
    if let Some(t) = meta.modified {
        insert(h, header::LAST_MODIFIED, &httpdate::fmt_http_date(t));
    }
    for (k, v) in &meta.metadata {
        if k == CONTENT_TYPE {
            continue;
        }
        if let Ok(name) = HeaderName::from_bytes(format!("{META_PREFIX}{k}").as_bytes()) {
            insert(h, name, v);
        }
    }
}

pub(crate) fn meta_json(m: &ObjectMeta) -> serde_json::Value {
    serde_json::json!({
        "path": m.path,
        "size": m.size,
        "gen": m.gen,
        "modified_ms": m.modified.and_then(|t| t.duration_since(UNIX_EPOCH).ok()).map(|d| d.as_millis() as u64),
        "metadata": m.metadata,
    })
}

pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    insert(resp.headers_mut(), header::CONTENT_TYPE, "application/json");
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_resolve_as_rfc_9110_says() {
        assert_eq!(parse_range("bytes=0-9").unwrap().resolve(100), Some((0, 10)));
        assert_eq!(parse_range("bytes=90-").unwrap().resolve(100), Some((90, 10)));
        assert_eq!(parse_range("bytes=90-200").unwrap().resolve(100), Some((90, 10)));
        assert_eq!(parse_range("bytes=-10").unwrap().resolve(100), Some((90, 10)));
        assert_eq!(parse_range("bytes=-1000").unwrap().resolve(100), Some((0, 100)));
        assert_eq!(parse_range("bytes=100-").unwrap().resolve(100), None);
        assert_eq!(parse_range("bytes=-0").unwrap().resolve(100), None);
        assert_eq!(parse_range("bytes=0-0").unwrap().resolve(0), None);
        assert!(parse_range("bytes=5-1").is_none());
        assert!(parse_range("bytes=0-1,5-6").is_none());
        assert!(parse_range("items=0-1").is_none());
    }
}
