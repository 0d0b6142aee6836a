//! `/v1/tables/{binding}/{table}`: reads streamed batch by batch in the format `Accept` asks
//! for, writes of JSON, NDJSON or Arrow IPC items, `…/_schema`, and one row by key under
//! `…/_rows/{key}` (see [`crate::rows`]).

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use axum::body::Body;
use axum::extract::{Extension, Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::Response;
use bindery::{Bytes, Error};
use bindery_core::Kind;
use futures::{Stream, StreamExt};
use serde::Deserialize;

use crate::auth::Grant;
use crate::objects::json;
use crate::problem::Problem;
use crate::rows::{self, RowAt};
use crate::Shared;

const NDJSON: &str = "application/x-ndjson";
const CSV: &str = "text/csv";
const ARROW: &str = "application/vnd.apache.arrow.stream";

#[derive(Deserialize, Default)]
pub(crate) struct ReadQuery {
    #[serde(rename = "where")]
    filter: Option<String>,
    select: Option<String>,
    limit: Option<u64>,
    /// Columns, comma separated, each `col`, `col asc`, `col desc` or `-col`.
    order_by: Option<String>,
    /// A page of this many rows (ordered by `order_by`, then the key); the next page's token
    /// comes in `Bindery-Next-Page-Token` and a `Link: <…>; rel="next"` header.
    page_size: Option<u64>,
    /// The rows after the page that gave this token.
    page_token: Option<String>,
    /// `json`, `ndjson`, `csv` or `arrow`: wins over `Accept`.
    format: Option<String>,
    /// `_schema` only: an older version of the schema.
    version: Option<u64>,
}

/// The body of `POST …/_query`: the read's query as JSON, lists as arrays or comma-separated
/// text.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct QueryBody {
    #[serde(rename = "where")]
    filter: Option<String>,
    select: Option<Names>,
    limit: Option<u64>,
    order_by: Option<Names>,
    page_size: Option<u64>,
    page_token: Option<String>,
    format: Option<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Names {
    Text(String),
    List(Vec<String>),
}

impl Names {
    fn text(self) -> String {
        match self {
            Names::Text(t) => t,
            Names::List(l) => l.join(","),
        }
    }
}

/// The largest page a paged read may ask for (a page is gathered before it is sent, so that
/// its token can lead the answer).
const MAX_PAGE: u64 = 100_000;
/// A paged read's page size when only a token is given.
const DEFAULT_PAGE: u64 = 1000;

#[derive(Clone, Copy, PartialEq, Debug)]
enum Format {
    Json,
    Ndjson,
    Csv,
    Arrow,
}

impl Format {
    fn of(query: Option<&str>, headers: &HeaderMap) -> Result<Format, Problem> {
        if let Some(f) = query {
            return match f {
                "json" => Ok(Format::Json),
                "ndjson" | "jsonl" => Ok(Format::Ndjson),
                "csv" => Ok(Format::Csv),
                "arrow" => Ok(Format::Arrow),
                other => Err(Problem::bad_request(format!(
                    "format '{other}' is not json, ndjson, csv or arrow"
                ))),
            };
        }
        let accept = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        Ok(
            if accept.contains(NDJSON) || accept.contains("application/jsonl") {
                Format::Ndjson
            } else if accept.contains(CSV) {
                Format::Csv
            } else if accept.contains(ARROW) {
                Format::Arrow
            } else {
                Format::Json
            },
        )
    }

    fn content_type(self) -> &'static str {
        match self {
            Format::Json => "application/json",
            Format::Ndjson => NDJSON,
            Format::Csv => "text/csv; charset=utf-8",
            Format::Arrow => ARROW,
        }
    }
}

pub(crate) async fn read(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, table)): Path<(String, String)>,
    Query(q): Query<ReadQuery>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    if table.contains(rows::ROWS) {
        g.binding(&grant, &binding, Kind::Table, "read")?;
        let at = RowAt::parse(&g, &binding, uri.path()).await?;
        return rows::get(&g, at, &headers).await;
    }
    if let Some(table) = table.strip_suffix("/_schema") {
        g.binding(&grant, &binding, Kind::Table, "read")?;
        let mut req = g.ctx.table().schema(format!("{binding}://{table}"));
        if let Some(n) = q.version {
            req = req.version(n);
        }
        return Ok(json(StatusCode::OK, &schema_json(&req.await?)));
    }
    g.binding(&grant, &binding, Kind::Table, "read")?;
    query(&g, &binding, &table, q, &uri, &headers).await
}

/// A read of rows: streamed as they come, or, when paged, gathered page by page so that the
/// next page's token can lead the answer.
async fn query(
    g: &Shared,
    binding: &str,
    table: &str,
    q: ReadQuery,
    uri: &Uri,
    headers: &HeaderMap,
) -> Result<Response, Problem> {
    let format = Format::of(q.format.as_deref(), headers)?;
    let mut req = g.ctx.table().read(format!("{binding}://{table}"));
    if let Some(w) = q.filter.as_deref().filter(|w| !w.trim().is_empty()) {
        req = req.where_(w);
    }
    if let Some(s) = q.select.as_deref().filter(|s| !s.trim().is_empty()) {
        req = req.select(s.split(',').map(|c| c.trim().to_string()));
    }
    if let Some(n) = q.limit {
        req = req.limit(n);
    }
    if let Some(o) = q.order_by.as_deref().filter(|o| !o.trim().is_empty()) {
        req = req.order_by(o.split(','));
    }
    let token = q.page_token.filter(|t| !t.is_empty());
    let paged = q.page_size.is_some() || token.is_some();
    if paged {
        let size = q.page_size.unwrap_or(DEFAULT_PAGE);
        if size == 0 || size > MAX_PAGE {
            return Err(Problem::bad_request(format!(
                "page_size {size} is not between 1 and {MAX_PAGE}"
            )));
        }
        req = req.page(size);
        if let Some(t) = token {
            req = req.after(t);
        }
    }
    let mut reader = req.load();
    // The schema first: an error before any row is a problem answer, not a cut body.
    let schema = reader.schema_async().await?;
    let mut resp = if paged {
        let mut page = Vec::new();
        while let Some(b) = reader.next_async().await {
            page.push(b?);
        }
        let next = reader.next_page();
        let body = encode(format, schema, futures::stream::iter(page.into_iter().map(Ok)));
        let mut resp = Response::new(Body::from_stream(body));
        if let Some(next) = next {
            let h = resp.headers_mut();
            h.insert(NEXT_PAGE, header_value(&next)?);
            h.insert(
                header::LINK,
                header_value(&format!("<{}>; rel=\"next\"", next_link(uri, &next)))?,
            );
        }
        resp
    } else {
        Response::new(Body::from_stream(encode(format, schema, reader.into_stream())))
    };
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    Ok(resp)
}

/// The header that carries a paged read's next page token.
pub(crate) const NEXT_PAGE: &str = "bindery-next-page-token";

fn header_value(v: &str) -> Result<HeaderValue, Problem> {
    HeaderValue::from_str(v).map_err(|_| Problem::from(Error::internal("a page token is not header text")))
}

/// The request's own URL with `page_token` set to `token` (a GET's; a `_query` POST's token
/// goes in its body, so its link is the GET of the same table).
fn next_link(uri: &Uri, token: &str) -> String {
    let path = uri.path().trim_end_matches("/_query");
    let mut pairs: Vec<&str> = uri
        .query()
        .unwrap_or("")
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("page_token="))
        .collect();
    let set = format!("page_token={token}");
    pairs.push(&set);
    format!("{path}?{}", pairs.join("&"))
}

pub(crate) async fn write(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, table)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    if let Some(table) = table.strip_suffix("/_query") {
        g.binding(&grant, &binding, Kind::Table, "read")?;
        let bytes = crate::streams::take_body(body, g.json_bytes, "a query").await?;
        let b: QueryBody = serde_json::from_slice(&bytes).map_err(|e| {
            Problem::bad_request(format!(
                "the query is not a JSON object of where, select, limit, order_by, page_size, page_token and format: {e}"
            ))
        })?;
        let q = ReadQuery {
            filter: b.filter,
            select: b.select.map(Names::text),
            limit: b.limit,
            order_by: b.order_by.map(Names::text),
            page_size: b.page_size,
            page_token: b.page_token,
            format: b.format,
            version: None,
        };
        return query(&g, &binding, table, q, &uri, &headers).await;
    }
    g.binding(&grant, &binding, Kind::Table, "write")?;
    let bytes = crate::streams::take_body(body, g.json_bytes, "a table write").await?;
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json");
    let req = g.ctx.table().write(format!("{binding}://{table}"));
    let req = if content_type.starts_with(ARROW) {
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(bytes), None)
            .map_err(|e| Problem::bad_request(format!("the body is not an Arrow IPC stream: {e}")))?;
        let batches = reader
            .collect::<Result<Vec<RecordBatch>, _>>()
            .map_err(|e| Problem::bad_request(format!("the body is not an Arrow IPC stream: {e}")))?;
        req.with_batches(batches)
    } else {
        req.with_items(crate::streams::json_items(&bytes, content_type)?)
    };
    let n = req.await?;
    Ok(json(StatusCode::OK, &serde_json::json!({ "written": n })))
}

/// `DELETE …/_rows/{key}`: one row.
pub(crate) async fn delete(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, _)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    g.binding(&grant, &binding, Kind::Table, "delete")?;
    let at = RowAt::parse(&g, &binding, uri.path()).await?;
    rows::delete(&g, at, &headers).await
}

/// `PATCH …/_rows/{key}`: one row, by a JSON merge patch.
pub(crate) async fn patch(
    State(g): State<Shared>,
    Extension(grant): Extension<Grant>,
    Path((binding, _)): Path<(String, String)>,
    uri: Uri,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, Problem> {
    g.binding(&grant, &binding, Kind::Table, "write")?;
    let bytes = crate::streams::take_body(body, g.json_bytes, "a row patch").await?;
    let at = RowAt::parse(&g, &binding, uri.path()).await?;
    rows::patch(&g, at, &headers, &bytes).await
}

fn schema_json(s: &bindery::TableSchema) -> serde_json::Value {
    let columns: Vec<serde_json::Value> = s
        .columns
        .iter()
        .map(|c| {
            serde_json::json!({
                "name": c.name,
                "type": c.column_type.to_string(),
                "nullable": c.nullable,
                "read_only": c.read_only,
                "default": c.default.as_ref().map(bindery_core::table::schema::literal_text),
            })
        })
        .collect();
    let mut out = serde_json::json!({ "text": s.to_string(), "key": s.key, "columns": columns });
    if let Some(v) = &s.version {
        out["version"] = v.number.into();
        out["time_ms"] = v.time_ms().into();
    }
    out
}

/// Batches as the body's bytes, batch by batch.
fn encode(
    format: Format,
    schema: SchemaRef,
    batches: impl Stream<Item = bindery::Result<RecordBatch>> + Send + 'static,
) -> impl Stream<Item = Result<Bytes, Error>> + Send + 'static {
    let mut enc = Encoder::new(format, &schema);
    let start = enc.start();
    let body = batches.map(move |b| {
        let out = enc.batch(&b?);
        Ok(Bytes::from(out.map_err(|e| {
            Error::internal(format!("encoding the rows: {e}"))
        })?))
    });
    let end = match format {
        Format::Json => Some(Bytes::from_static(b"]\n")),
        // Arrow's end-of-stream marker: a continuation and a zero length.
        Format::Arrow => Some(Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0])),
        _ => None,
    };
    futures::stream::iter(start.map(Ok))
        .chain(body)
        .chain(futures::stream::iter(end.map(Ok)))
}

struct Encoder {
    format: Format,
    /// Rows written so far (JSON: a comma before every row but the first; CSV: the header
    /// once).
    rows: u64,
    schema: SchemaRef,
}

impl Encoder {
    fn new(format: Format, schema: &SchemaRef) -> Encoder {
        Encoder {
            format,
            rows: 0,
            schema: schema.clone(),
        }
    }

    fn start(&mut self) -> Option<Bytes> {
        match self.format {
            Format::Json => Some(Bytes::from_static(b"[")),
            Format::Arrow => {
                // The schema message, alone: a writer's output before any batch.
                let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &self.schema).ok()?;
                Some(Bytes::from(std::mem::take(w.get_mut())))
            }
            Format::Csv if self.schema.fields().is_empty() => None,
            Format::Csv => {
                let header: Vec<String> = self.schema.fields().iter().map(|f| csv_field(f.name())).collect();
                Some(Bytes::from(format!("{}\n", header.join(","))))
            }
            Format::Ndjson => None,
        }
    }

    fn batch(&mut self, batch: &RecordBatch) -> Result<Vec<u8>, arrow::error::ArrowError> {
        let mut out = Vec::new();
        match self.format {
            Format::Ndjson | Format::Json => {
                let mut lines = Vec::new();
                {
                    let mut w = arrow::json::LineDelimitedWriter::new(&mut lines);
                    w.write(batch)?;
                    w.finish()?;
                }
                if self.format == Format::Ndjson {
                    return Ok(lines);
                }
                for line in lines.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
                    if self.rows > 0 {
                        out.push(b',');
                    }
                    out.push(b'\n');
                    out.extend_from_slice(line);
                    self.rows += 1;
                }
            }
            Format::Csv => {
                let mut w = arrow::csv::WriterBuilder::new()
                    .with_header(false)
                    .build(&mut out);
                w.write(batch)?;
            }
            Format::Arrow => {
                // A batch message alone: written after a schema message that is dropped.
                let mut w = arrow::ipc::writer::StreamWriter::try_new(Vec::new(), &self.schema)?;
                w.get_mut().clear();
                w.write(batch)?;
                out = std::mem::take(w.get_mut());
            }
        }
        Ok(out)
    }
}

/// A CSV header field, quoted when it must be.
fn csv_field(name: &str) -> String {
    if name.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", name.replace('"', "\"\""))
    } else {
        name.to_string()
    }
}
