//! One row by its key: `GET`, `PATCH` (JSON merge patch, RFC 7396) and `DELETE` on
//! `/v1/tables/{binding}/{table}/_rows/{key…}` (one path segment per key column, partition key
//! first).
//!
//! A row's `ETag` is a digest of the row as JSON. `If-Match` makes a `PATCH` or `DELETE`
//! optimistic: the row is read, its `ETag` compared (412 when it differs), and the write or
//! delete carries a condition that every column of a basic type (bool, integers, floats,
//! strings) still has the value read, checked by the driver atomically with the change (412
//! when another writer got in between). A change made in between to a column of another type
//! only (timestamp, json, binary, decimal) is caught by the `ETag` comparison alone.

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::Response;
use bindery::{ColumnType, ErrorKind, TableSchema, Value};
use serde_json::{Map, Value as Json};

use crate::objects::json;
use crate::problem::Problem;
use crate::Shared;

/// The segment between a table and the key of one of its rows.
pub(crate) const ROWS: &str = "/_rows/";

/// A row addressed by key: the table's path in the binding and the key's values, typed.
pub(crate) struct RowAt {
    path: String,
    table: String,
    schema: TableSchema,
    key: Vec<Value>,
    /// The key's segments, decoded.
    key_text: Vec<String>,
}

impl RowAt {
    /// The row `rest` names (`{table}/_rows/{k1}/{k2}`), its key typed by the table's schema.
    /// The key's segments are percent-decoded one by one, so a value may hold an encoded `/`.
    pub(crate) async fn parse(g: &Shared, binding: &str, raw_path: &str) -> Result<RowAt, Problem> {
        let prefix = format!("/v1/tables/{binding}/");
        let rest = raw_path.strip_prefix(&prefix).unwrap_or(raw_path);
        let (table, key) = rest
            .split_once(ROWS)
            .ok_or_else(|| Problem::bad_request("a row is named /v1/tables/{binding}/{table}/_rows/{key}"))?;
        let table = decode(table)?;
        let path = format!("{binding}://{table}");
        let schema = g.ctx.table().schema(path.clone()).await?;
        let parts: Vec<String> = key.split('/').map(decode).collect::<Result<_, _>>()?;
        if schema.key.is_empty() {
            return Err(Problem::bad_request(format!(
                "table '{table}' has no primary key, so its rows cannot be named by key; read it with a filter (where=)"
            )));
        }
        if parts.len() != schema.key.len() {
            return Err(Problem::bad_request(format!(
                "a key of table '{table}' has {} segment(s), one per key column ({}); got {}",
                schema.key.len(),
                schema.key.join(", "),
                parts.len()
            )));
        }
        let key = schema
            .key
            .iter()
            .zip(&parts)
            .map(|(name, text)| key_value(&schema, name, text))
            .collect::<Result<_, _>>()?;
        Ok(RowAt {
            path,
            table,
            schema,
            key,
            key_text: parts,
        })
    }

    fn describe(&self) -> String {
        format!(
            "table '{}' has no row with key ({})",
            self.table,
            self.key_text.join(", ")
        )
    }

    /// The row as a JSON object, or `None` when there is none.
    async fn load(&self, g: &Shared) -> Result<Option<Map<String, Json>>, Problem> {
        let rows: Vec<Map<String, Json>> = g
            .ctx
            .table()
            .read(self.path.clone())
            .key(self.key.clone())
            .load()
            .scan_async()
            .await?;
        Ok(rows.into_iter().next())
    }

    /// The row, or 404.
    async fn expect(&self, g: &Shared) -> Result<Map<String, Json>, Problem> {
        self.load(g)
            .await?
            .ok_or_else(|| Problem::not_found(self.describe()))
    }

    /// With `If-Match`: the row as read, after checking its `ETag`; the condition that it is
    /// still so.
    async fn if_match(
        &self,
        g: &Shared,
        headers: &HeaderMap,
    ) -> Result<Option<(Map<String, Json>, String)>, Problem> {
        let Some(want) = headers.get(header::IF_MATCH) else {
            return Ok(None);
        };
        let want = want
            .to_str()
            .map_err(|_| Problem::bad_request("If-Match is not text"))?
            .to_string();
        let row = self.expect(g).await?;
        let tag = etag(&row);
        if !names(&want, &tag) {
            return Err(precondition(format!(
                "the row's ETag is {tag}, not {want}: it changed since it was read"
            )));
        }
        let condition = unchanged(&self.schema, &row);
        Ok(Some((row, condition)))
    }
}

fn decode(segment: &str) -> Result<String, Problem> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|d| d.into_owned())
        .map_err(|_| Problem::bad_request(format!("'{segment}' is not valid percent-encoded UTF-8")))
}

/// Whether an `If-Match` / `If-None-Match` value (a list of tags, or `*`) names `tag`.
fn names(header: &str, tag: &str) -> bool {
    header
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == tag)
}

/// A key segment as a value of its column's type.
fn key_value(schema: &TableSchema, name: &str, text: &str) -> Result<Value, Problem> {
    let ty = schema.column(name).map(|c| &c.column_type);
    let bad =
        |what: &str| Problem::bad_request(format!("key column '{name}' is {what}; '{text}' is not one"));
    Ok(match ty {
        Some(ColumnType::Int32 | ColumnType::Int64) => {
            Value::Int(text.parse().map_err(|_| bad("an integer"))?)
        }
        Some(ColumnType::Float32 | ColumnType::Float64) => {
            Value::Float(text.parse().map_err(|_| bad("a number"))?)
        }
        Some(ColumnType::Bool) => Value::Bool(text.parse().map_err(|_| bad("true or false"))?),
        _ => Value::Str(text.to_string()),
    })
}

fn precondition(detail: String) -> Problem {
    Problem::new(StatusCode::PRECONDITION_FAILED, detail)
}

/// A row's `ETag`: a digest of its JSON (strong, quoted).
fn etag(row: &Map<String, Json>) -> String {
    let text = serde_json::to_vec(row).unwrap_or_default();
    let digest = ring::digest::digest(&ring::digest::SHA256, &text);
    let hex: String = digest.as_ref()[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("\"{hex}\"")
}

/// The condition that every column of a basic type still has the value `row` has.
fn unchanged(schema: &TableSchema, row: &Map<String, Json>) -> String {
    let mut parts = Vec::new();
    for c in &schema.columns {
        if !c.column_type.is_basic() {
            continue;
        }
        let name = format!("\"{}\"", c.name.replace('"', "\"\""));
        let value = row.get(&c.name).unwrap_or(&Json::Null);
        parts.push(match value {
            Json::Null => format!("{name} IS NULL"),
            Json::Bool(b) => format!("{name} = {}", if *b { "TRUE" } else { "FALSE" }),
            Json::Number(n) => format!("{name} = {n}"),
            Json::String(s) => format!("{name} = '{}'", s.replace('\'', "''")),
            // Not a basic column's value; left to the ETag.
            _ => continue,
        });
    }
    if parts.is_empty() {
        "true".into()
    } else {
        parts.join(" AND ")
    }
}

fn row_response(status: StatusCode, row: &Map<String, Json>) -> Response {
    let mut resp = json(status, &Json::Object(row.clone()));
    if let Ok(v) = HeaderValue::from_str(&etag(row)) {
        resp.headers_mut().insert(header::ETAG, v);
    }
    resp
}

/// A condition that failed between the read and the change is 412, as a stale `ETag` is.
fn lost_race(e: bindery::Error) -> Problem {
    match e.kind() {
        ErrorKind::ConditionFailed => precondition(format!("the row changed since it was read: {e}")),
        _ => Problem::from(e),
    }
}

/// `GET`: the row as a JSON object with its `ETag`; `If-None-Match` with it is 304.
pub(crate) async fn get(g: &Shared, at: RowAt, headers: &HeaderMap) -> Result<Response, Problem> {
    let row = at.expect(g).await?;
    let tag = etag(&row);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| names(v, &tag));
    if fresh {
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = StatusCode::NOT_MODIFIED;
        if let Ok(v) = HeaderValue::from_str(&tag) {
            resp.headers_mut().insert(header::ETAG, v);
        }
        return Ok(resp);
    }
    Ok(row_response(StatusCode::OK, &row))
}

/// `DELETE`: 204, or 404 when there was no such row.
pub(crate) async fn delete(g: &Shared, at: RowAt, headers: &HeaderMap) -> Result<Response, Problem> {
    let mut req = g.ctx.table().delete(at.path.clone()).key(at.key.clone());
    if let Some((_, condition)) = at.if_match(g, headers).await? {
        req = req.condition(&condition);
    }
    match req.await.map_err(lost_race)? {
        0 => Err(Problem::not_found(at.describe())),
        _ => {
            let mut resp = Response::new(Body::empty());
            *resp.status_mut() = StatusCode::NO_CONTENT;
            Ok(resp)
        }
    }
}

/// `PATCH` with a JSON merge patch (RFC 7396) of the row's columns: a member sets its column,
/// `null` sets it to `NULL`, a column left out is kept; the key cannot change. Answers the row
/// after it, with its new `ETag`.
pub(crate) async fn patch(
    g: &Shared,
    at: RowAt,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Response, Problem> {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !content_type.starts_with("application/merge-patch+json")
        && !content_type.starts_with("application/json")
    {
        return Err(Problem::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("a row PATCH is a JSON merge patch (Content-Type: application/merge-patch+json), not '{content_type}'"),
        ));
    }
    let patch: Map<String, Json> = match serde_json::from_slice(body) {
        Ok(Json::Object(m)) => m,
        Ok(_) => {
            return Err(Problem::bad_request(
                "a merge patch of a row is a JSON object of columns",
            ))
        }
        Err(e) => return Err(Problem::bad_request(format!("the body is not JSON: {e}"))),
    };
    let (row, condition) = match at.if_match(g, headers).await? {
        Some((row, condition)) => (row, Some(condition)),
        None => (at.expect(g).await?, None),
    };
    let mut item = Map::new();
    for (name, want) in at.schema.key.iter().zip(&at.key_text) {
        if let Some(given) = patch.get(name) {
            if given != row.get(name).unwrap_or(&Json::Null) {
                return Err(Problem::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    format!("a PATCH cannot change key column '{name}' (the row's is {want})"),
                ));
            }
        }
        item.insert(name.clone(), row.get(name).cloned().unwrap_or(Json::Null));
    }
    for (name, value) in patch {
        item.entry(name).or_insert(value);
    }
    let mut req = g.ctx.table().write(at.path.clone()).with_items([item]);
    if let Some(c) = &condition {
        req = req.condition(c);
    }
    req.await.map_err(lost_race)?;
    Ok(row_response(StatusCode::OK, &at.expect(g).await?))
}
