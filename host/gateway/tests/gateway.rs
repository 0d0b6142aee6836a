//! `bindery serve` end to end: a gateway on loopback, driven by a real HTTP client (hyper),
//! on the embedded drivers (fs objects, sqlite tables, a log stream); and every refusal of
//! the auth (tokens, JWTs of each algorithm and each way to be wrong), checked to leave the
//! backend unchanged.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bindery::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{HeaderMap, Method, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use jsonwebtoken::{encode, Algorithm, EncodingKey, Header};

/// A gateway serving `spec` (written into `dir`), and its address; stops when dropped.
struct Served {
    base: String,
    ctx: Context,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<Result<(), String>>>,
}

impl Served {
    async fn start(dir: &Path, spec: &str) -> Served {
        let file = dir.join("function.yaml");
        std::fs::write(&file, spec).unwrap();
        let ctx = Context::connect(&file).await.unwrap();
        let (router, mut settings) = bindery_gateway::build(ctx.clone(), Some("127.0.0.1:0")).unwrap();
        settings.header_timeout = Duration::from_secs(2);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let (tx, rx) = tokio::sync::oneshot::channel();
        let done = tokio::spawn(bindery_gateway::serve(
            router,
            settings,
            async move {
                let _ = stopped.await;
            },
            move |addr| {
                let _ = tx.send(addr);
            },
        ));
        let addr = rx.await.unwrap();
        Served {
            base: format!("http://{addr}"),
            ctx,
            stop: Some(stop),
            done: Some(done),
        }
    }

    async fn stop(mut self) {
        let _ = self.stop.take().unwrap().send(());
        self.done.take().unwrap().await.unwrap().unwrap();
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Answer {
    fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.body))
    }

    fn header(&self, name: &str) -> &str {
        self.headers.get(name).map(|v| v.to_str().unwrap()).unwrap_or("")
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

async fn send(method: Method, url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Answer {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = client
        .request(req.body(Full::new(body.into())).unwrap())
        .await
        .unwrap();
    let status = resp.status();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Answer {
        status,
        headers,
        body,
    }
}

async fn get(url: &str, headers: &[(&str, &str)]) -> Answer {
    send(Method::GET, url, headers, Bytes::new()).await
}

/// The first `n` Server-Sent Events of `url` as (event, id, data), after `then` runs once the
/// response has started.
async fn events(
    url: &str,
    headers: &[(&str, &str)],
    n: usize,
    then: impl std::future::Future<Output = ()>,
) -> Vec<(String, String, String)> {
    let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
    let mut req = hyper::Request::builder().uri(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    // The response starts without waiting for a first event (bounded: a regression fails).
    let resp = tokio::time::timeout(
        Duration::from_secs(20),
        client.request(req.body(Full::new(Bytes::new())).unwrap()),
    )
    .await
    .expect("the event stream's response did not start within 20 s")
    .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    then.await;
    let mut body = resp.into_body();
    let mut text = String::new();
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while out.len() < n {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("only {out:?} within 20 s"))
            .unwrap()
            .unwrap();
        if let Ok(data) = frame.into_data() {
            text.push_str(std::str::from_utf8(&data).unwrap());
        }
        while let Some(end) = text.find("\n\n") {
            let block: String = text.drain(..end + 2).collect();
            let (mut event, mut id, mut data) = (String::new(), String::new(), String::new());
            for line in block.lines() {
                if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("id:") {
                    id = v.trim().to_string();
                } else if let Some(v) = line.strip_prefix("data:") {
                    data.push_str(v.trim_start());
                }
            }
            if !event.is_empty() || !data.is_empty() {
                out.push((event, id, data));
            }
        }
    }
    out.truncate(n);
    out
}

const BINDINGS: &str = "apiVersion: nuclio.io/v1
kind: NuclioFunction
metadata:
  name: served
spec:
  dataBindings:
    files:
      kind: object
      driver: fs
      url: ./objects
    db:
      kind: table
      driver: sqlite
      url: ./tables.db
    ev:
      kind: stream
      driver: log
      url: ./streams
";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn objects_stream_both_ways_with_etags_ranges_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(dir.path(), BINDINGS).await;
    let url = |p: &str| format!("{}/v1/objects/files/{p}", s.base);
    // Put: the ETag is the generation; the content type and user metadata come back.
    let data: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let put = send(
        Method::PUT,
        &url("a/big.bin"),
        &[
            ("content-type", "application/x-demo"),
            ("x-bindery-meta-owner", "ana"),
        ],
        data.clone(),
    )
    .await;
    assert_eq!(put.status, StatusCode::OK, "{}", put.text());
    let etag = put.header("etag").to_string();
    assert_eq!(etag, format!("\"{}\"", put.json()["gen"].as_str().unwrap()));
    let got = get(&url("a/big.bin"), &[]).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(&got.body[..], &data[..]);
    assert_eq!(got.header("etag"), etag);
    assert_eq!(got.header("content-type"), "application/x-demo");
    assert_eq!(got.header("x-bindery-meta-owner"), "ana");
    assert_eq!(got.header("content-length"), "100000");
    let head = send(Method::HEAD, &url("a/big.bin"), &[], Bytes::new()).await;
    assert_eq!(
        (head.status, head.header("etag")),
        (StatusCode::OK, etag.as_str())
    );
    // Ranges: 206 with Content-Range; a suffix; one past the end is 416.
    let part = get(&url("a/big.bin"), &[("range", "bytes=10-19")]).await;
    assert_eq!(part.status, StatusCode::PARTIAL_CONTENT);
    assert_eq!(&part.body[..], &data[10..20]);
    assert_eq!(part.header("content-range"), "bytes 10-19/100000");
    let tail = get(&url("a/big.bin"), &[("range", "bytes=-5")]).await;
    assert_eq!(&tail.body[..], &data[99_995..]);
    let past = get(&url("a/big.bin"), &[("range", "bytes=100000-")]).await;
    assert_eq!(past.status, StatusCode::RANGE_NOT_SATISFIABLE);
    assert_eq!(past.header("content-range"), "bytes */100000");
    // Conditions: 304 on a matching If-None-Match, 412 on a stale If-Match (nothing written).
    let same = get(&url("a/big.bin"), &[("if-none-match", &etag)]).await;
    assert_eq!(same.status, StatusCode::NOT_MODIFIED);
    let stale = send(Method::PUT, &url("a/big.bin"), &[("if-match", "\"nope\"")], "x").await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.text());
    assert_eq!(stale.header("content-type"), "application/problem+json");
    assert_eq!(stale.json()["kind"], "ConditionFailed");
    let create_only = send(Method::PUT, &url("a/big.bin"), &[("if-none-match", "*")], "x").await;
    assert_eq!(create_only.status, StatusCode::PRECONDITION_FAILED);
    assert_eq!(get(&url("a/big.bin"), &[]).await.body.len(), 100_000);
    let ok = send(Method::PUT, &url("a/big.bin"), &[("if-match", &etag)], "small").await;
    assert_eq!(ok.status, StatusCode::OK);
    // Pages: limit and the next page's token; prefixes with a delimiter.
    for i in 0..5 {
        send(Method::PUT, &url(&format!("list/{i}")), &[], "x").await;
    }
    let page = get(&format!("{}/v1/objects/files?prefix=list/&limit=2", s.base), &[])
        .await
        .json();
    let paths = |p: &serde_json::Value| -> Vec<String> {
        p["objects"]
            .as_array()
            .unwrap()
            .iter()
            .map(|o| o["path"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(paths(&page), ["list/0", "list/1"]);
    let token = page["next_page_token"].as_str().unwrap();
    let next = get(
        &format!(
            "{}/v1/objects/files?prefix=list/&limit=2&page_token={token}",
            s.base
        ),
        &[],
    )
    .await
    .json();
    assert_eq!(paths(&next), ["list/2", "list/3"]);
    let last = get(
        &format!(
            "{}/v1/objects/files?prefix=list/&limit=2&page_token=list/3",
            s.base
        ),
        &[],
    )
    .await
    .json();
    assert_eq!(
        (paths(&last), &last["next_page_token"]),
        (vec!["list/4".to_string()], &serde_json::Value::Null)
    );
    let top = get(&format!("{}/v1/objects/files?delimiter=/", s.base), &[])
        .await
        .json();
    assert_eq!(top["prefixes"], serde_json::json!(["a/", "list/"]));
    // Delete: 204, then 404 as a problem naming the kind.
    assert_eq!(
        send(Method::DELETE, &url("list/0"), &[], Bytes::new())
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    let gone = get(&url("list/0"), &[]).await;
    assert_eq!(
        (gone.status, gone.json()["kind"].as_str()),
        (StatusCode::NOT_FOUND, Some("NotFound"))
    );
    // Paths that leave the binding, in any encoding, are refused and write nothing.
    for bad in ["..%2fescape", "%2e%2e/escape", "a/%2E%2E/%2E%2E/escape"] {
        let r = send(Method::PUT, &url(bad), &[], "x").await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text());
    }
    assert!(!dir.path().join("escape").exists());
    // A table binding on the objects endpoint says where to go.
    let wrong = get(&format!("{}/v1/objects/db/x", s.base), &[]).await;
    assert_eq!(wrong.status, StatusCode::BAD_REQUEST);
    assert!(
        wrong.json()["detail"]
            .as_str()
            .unwrap()
            .contains("/v1/tables/db/"),
        "{}",
        wrong.text()
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_read_in_four_formats_and_take_writes() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(dir.path(), BINDINGS).await;
    s.ctx
        .table()
        .create("db://users")
        .schema("user string NOT NULL, age int64, addr string")
        .primary_key("user", None)
        .await
        .unwrap();
    let url = format!("{}/v1/tables/db/users", s.base);
    let w = send(
        Method::POST,
        &url,
        &[("content-type", "application/json")],
        r#"[{"user": "ana", "age": 41, "addr": "NY"}, {"user": "bob", "age": 17, "addr": "SF"}]"#,
    )
    .await;
    assert_eq!(
        (w.status, w.json()["written"].as_u64()),
        (StatusCode::OK, Some(2)),
        "{}",
        w.text()
    );
    let nd = send(
        Method::POST,
        &url,
        &[("content-type", "application/x-ndjson")],
        "{\"user\": \"cy\", \"age\": 35}\n",
    )
    .await;
    assert_eq!(nd.status, StatusCode::OK, "{}", nd.text());
    let rows = get(&format!("{url}?where=age%20%3E%2030&select=user,age"), &[]).await;
    assert_eq!(rows.header("content-type"), "application/json");
    assert_eq!(
        rows.json(),
        serde_json::json!([{"user": "ana", "age": 41}, {"user": "cy", "age": 35}])
    );
    let lines = get(
        &format!("{url}?select=user&limit=2"),
        &[("accept", "application/x-ndjson")],
    )
    .await;
    assert_eq!(lines.text(), "{\"user\":\"ana\"}\n{\"user\":\"bob\"}\n");
    let csv = get(&format!("{url}?select=user,addr"), &[("accept", "text/csv")]).await;
    assert_eq!(csv.text(), "user,addr\nana,NY\nbob,SF\ncy,\n");
    let arrow = get(&format!("{url}?format=arrow"), &[]).await;
    let batches: Vec<_> =
        arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(arrow.body.to_vec()), None)
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 3);
    // Gzipped for a client that asks; the same rows.
    let gz = get(&format!("{url}?format=ndjson"), &[("accept-encoding", "gzip")]).await;
    assert_eq!(gz.header("content-encoding"), "gzip");
    let mut plain = String::new();
    std::io::Read::read_to_string(&mut flate2::read::GzDecoder::new(&gz.body[..]), &mut plain).unwrap();
    assert_eq!(plain, get(&format!("{url}?format=ndjson"), &[]).await.text());
    assert_eq!(plain.lines().count(), 3);
    // No rows: an empty array.
    assert_eq!(
        get(&format!("{url}?where=age%20%3E%20100"), &[]).await.json(),
        serde_json::json!([])
    );
    // Bad input, named; a bad row writes nothing.
    let bad = get(&format!("{url}?where=nope%20%3E%201"), &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.json()["detail"]
            .as_str()
            .unwrap()
            .contains("no column 'nope'"),
        "{}",
        bad.text()
    );
    let refused = send(
        Method::POST,
        &url,
        &[("content-type", "application/json")],
        r#"[{"user": "di"}, {"age": 3}]"#,
    )
    .await;
    assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{}", refused.text());
    assert_eq!(get(&url, &[]).await.json().as_array().unwrap().len(), 3);
    // The schema, with its version.
    let schema = get(&format!("{url}/_schema"), &[]).await.json();
    assert_eq!(schema["key"], serde_json::json!(["user"]));
    assert_eq!(schema["version"], 1);
    s.stop().await;
}

/// Paged reads: `page_size` pages in `order_by` then key order, the next page's token in a
/// header and a `Link` that resumes exactly; the same query as a JSON body on `_query`; a bad
/// order or token is a 400 naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_page_by_token_and_take_queries_as_json() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(dir.path(), BINDINGS).await;
    let t = s.ctx.table();
    t.create("db://people")
        .schema("user string NOT NULL, age int64")
        .primary_key("user", None)
        .await
        .unwrap();
    let items: Vec<serde_json::Value> = (0..25)
        .map(|i| serde_json::json!({"user": format!("u{i:02}"), "age": if i % 5 == 0 { None } else { Some(i % 4) }}))
        .collect();
    t.write("db://people").with_items(items).await.unwrap();
    let users = |a: &Answer| -> Vec<String> {
        a.json()
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["user"].as_str().unwrap().to_string())
            .collect()
    };
    // Walk the Link headers: every row once, in age-descending (NULLs last), then user order.
    let mut url = format!(
        "{}/v1/tables/db/people?order_by=-age&page_size=7&select=user",
        s.base
    );
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let a = get(&url, &[]).await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.text());
        let page = a.json();
        assert!(
            page.as_array()
                .unwrap()
                .iter()
                .all(|r| r.as_object().unwrap().len() == 1),
            "{page}"
        );
        seen.extend(users(&a));
        pages += 1;
        let link = a.header("link");
        if link.is_empty() {
            assert_eq!(a.header("bindery-next-page-token"), "");
            break;
        }
        let token = a.header("bindery-next-page-token").to_string();
        assert!(
            link.contains(&format!("page_token={token}")) && link.ends_with("rel=\"next\""),
            "{link}"
        );
        let path = link.trim_start_matches('<').split('>').next().unwrap();
        url = format!("{}{path}", s.base);
        // A row inserted behind the pages is never seen; one ahead of them is.
        if pages == 1 {
            t.write("db://people")
                .with_items([
                    serde_json::json!({"user": "zz-ahead", "age": null}),
                    serde_json::json!({"user": "aa-behind", "age": 3}),
                ])
                .await
                .unwrap();
        }
    }
    let mut expect: Vec<(Option<i64>, String)> = (0..25)
        .map(|i| ((i % 5 != 0).then_some(i % 4), format!("u{i:02}")))
        .collect();
    expect.push((None, "zz-ahead".into()));
    expect.sort_by(|a, b| match (a.0, b.0) {
        (Some(x), Some(y)) => y.cmp(&x).then(a.1.cmp(&b.1)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.1.cmp(&b.1),
    });
    let expect: Vec<String> = expect.into_iter().map(|e| e.1).collect();
    assert_eq!(seen, expect);
    assert_eq!(pages, 4);
    // The same as a JSON query, with lists as arrays; its token also works on the GET.
    let q = format!("{}/v1/tables/db/people/_query", s.base);
    let a = send(
        Method::POST,
        &q,
        &[("content-type", "application/json")],
        r#"{"where": "age >= 2", "select": ["user", "age"], "order_by": ["age desc", "user"], "page_size": 3}"#,
    )
    .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.text());
    let first = users(&a);
    let token = a.header("bindery-next-page-token").to_string();
    assert!(!token.is_empty());
    let next = get(
        &format!("{}/v1/tables/db/people?where=age%20%3E%3D%202&order_by=age%20desc,user&page_size=3&page_token={token}", s.base),
        &[],
    )
    .await;
    assert_eq!(next.status, StatusCode::OK, "{}", next.text());
    let both: Vec<String> = first.into_iter().chain(users(&next)).collect();
    assert_eq!(both, ["aa-behind", "u03", "u07", "u11", "u19", "u23"]);
    // Refusals name what is wrong.
    for (url, what) in [
        (format!("{}/v1/tables/db/people?order_by=nope", s.base), "nope"),
        (
            format!(
                "{}/v1/tables/db/people?page_size=2&order_by=user&page_token={token}",
                s.base
            ),
            "ordered by",
        ),
        (
            format!("{}/v1/tables/db/people?page_token=garbage", s.base),
            "page token",
        ),
        (format!("{}/v1/tables/db/people?page_size=0", s.base), "page_size"),
    ] {
        let a = get(&url, &[]).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{url}: {}", a.text());
        assert!(a.text().contains(what), "{url}: {}", a.text());
    }
    let bad = send(
        Method::POST,
        &q,
        &[("content-type", "application/json")],
        r#"{"limit": 1, "sort": "x"}"#,
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    assert!(bad.text().contains("sort"), "{}", bad.text());
    s.stop().await;
}

/// One row by key: GET with an ETag (304 on If-None-Match), PATCH by merge patch under
/// If-Match (412 on a stale tag, the row unchanged), DELETE (404 once gone); composite keys
/// take a segment each, percent-decoded one by one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_by_key_are_read_patched_under_if_match_and_deleted() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(dir.path(), BINDINGS).await;
    let t = s.ctx.table();
    t.create("db://users")
        .schema("user string NOT NULL, age int64, addr string, score float64")
        .primary_key("user", None)
        .await
        .unwrap();
    t.write("db://users")
        .with_items([
            serde_json::json!({"user": "ana", "age": 41, "addr": "NY", "score": 2.5}),
            serde_json::json!({"user": "b/ob", "age": 17}),
        ])
        .await
        .unwrap();
    let url = format!("{}/v1/tables/db/users/_rows", s.base);
    let ana = get(&format!("{url}/ana"), &[]).await;
    assert_eq!(ana.status, StatusCode::OK, "{}", ana.text());
    assert_eq!(
        ana.json(),
        serde_json::json!({"user": "ana", "age": 41, "addr": "NY", "score": 2.5})
    );
    let tag = ana.header("etag").to_string();
    assert!(tag.starts_with('"') && tag.len() > 4, "{tag}");
    assert_eq!(
        get(&format!("{url}/ana"), &[("if-none-match", &tag)])
            .await
            .status,
        StatusCode::NOT_MODIFIED
    );
    // A key holding a '/', encoded.
    let bob = get(&format!("{url}/b%2Fob"), &[]).await;
    assert_eq!(bob.json()["age"], 17, "{}", bob.text());
    let none = get(&format!("{url}/zed"), &[]).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert!(none.text().contains("no row with key"), "{}", none.text());
    assert_eq!(
        get(&format!("{url}/ana/extra"), &[]).await.status,
        StatusCode::BAD_REQUEST
    );
    // PATCH: a merge patch; null clears, absent keeps.
    let merge = [
        ("content-type", "application/merge-patch+json"),
        ("if-match", tag.as_str()),
    ];
    let p = send(
        Method::PATCH,
        &format!("{url}/ana"),
        &merge,
        r#"{"age": 42, "addr": null}"#,
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text());
    assert_eq!(
        p.json(),
        serde_json::json!({"user": "ana", "age": 42, "score": 2.5})
    );
    let new_tag = p.header("etag").to_string();
    assert_ne!(new_tag, tag);
    // The old tag is stale now: 412, nothing changes.
    let stale = send(Method::PATCH, &format!("{url}/ana"), &merge, r#"{"age": 1}"#).await;
    assert_eq!(stale.status, StatusCode::PRECONDITION_FAILED, "{}", stale.text());
    let gone = send(
        Method::DELETE,
        &format!("{url}/ana"),
        &[("if-match", tag.as_str())],
        "",
    )
    .await;
    assert_eq!(gone.status, StatusCode::PRECONDITION_FAILED, "{}", gone.text());
    assert_eq!(get(&format!("{url}/ana"), &[]).await.json()["age"], 42);
    // The key cannot change; the body must be a merge patch.
    let rekey = send(
        Method::PATCH,
        &format!("{url}/ana"),
        &merge[..1],
        r#"{"user": "zoe"}"#,
    )
    .await;
    assert_eq!(rekey.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", rekey.text());
    let text = send(
        Method::PATCH,
        &format!("{url}/ana"),
        &[("content-type", "text/plain")],
        "age=1",
    )
    .await;
    assert_eq!(text.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // DELETE: under the current tag, then 404.
    let del = send(
        Method::DELETE,
        &format!("{url}/ana"),
        &[("if-match", new_tag.as_str())],
        "",
    )
    .await;
    assert_eq!(del.status, StatusCode::NO_CONTENT, "{}", del.text());
    assert_eq!(
        send(Method::DELETE, &format!("{url}/ana"), &[], "").await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        get(&format!("{url}/ana"), &[]).await.status,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        send(Method::DELETE, &format!("{url}/b%2Fob"), &[], "")
            .await
            .status,
        StatusCode::NO_CONTENT
    );
    assert!(t
        .read("db://users")
        .await
        .unwrap()
        .iter()
        .all(|b| b.num_rows() == 0));
    // A composite key: a segment per key column, typed by the schema.
    t.create("db://visits")
        .schema("site string NOT NULL, day int64 NOT NULL, hits int64")
        .primary_key("site", Some("day"))
        .await
        .unwrap();
    t.write("db://visits")
        .with_items([serde_json::json!({"site": "a", "day": 3, "hits": 9})])
        .await
        .unwrap();
    let v = format!("{}/v1/tables/db/visits/_rows", s.base);
    assert_eq!(get(&format!("{v}/a/3"), &[]).await.json()["hits"], 9);
    let bad = get(&format!("{v}/a/three"), &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.text().contains("integer"), "{}", bad.text());
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_publish_and_consume_as_server_sent_events_and_watches_too() {
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(dir.path(), BINDINGS).await;
    s.ctx.stream().create("ev://", "clicks", 1).await.unwrap();
    let url = format!("{}/v1/streams/ev/clicks", s.base);
    let p = send(
        Method::POST,
        &url,
        &[("content-type", "application/json")],
        r#"[{"key": "u1", "value": {"n": 1}}, {"value": "two", "headers": {"h": "v"}}]"#,
    )
    .await;
    assert_eq!(p.status, StatusCode::OK, "{}", p.text());
    assert_eq!(p.json()["positions"], serde_json::json!(["0:0", "0:1"]));
    let got = events(&format!("{url}?from=earliest"), &[], 2, async {}).await;
    assert_eq!(got[0].0, "message");
    let first: serde_json::Value = serde_json::from_str(&got[0].2).unwrap();
    assert_eq!(
        (first["value"].as_str(), first["key"].as_str()),
        (Some("{\"n\":1}"), Some("u1"))
    );
    let second: serde_json::Value = serde_json::from_str(&got[1].2).unwrap();
    assert_eq!(
        (second["value"].as_str(), second["headers"]["h"].as_str()),
        (Some("two"), Some("v"))
    );
    // Last-Event-ID resumes after the first: the second and one published later.
    let resumed = events(&url, &[("last-event-id", &got[0].1)], 2, async {
        send(Method::POST, &url, &[("content-type", "text/plain")], "three").await;
    })
    .await;
    let values: Vec<String> = resumed
        .iter()
        .map(|e| {
            serde_json::from_str::<serde_json::Value>(&e.2).unwrap()["value"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(values, ["two", "three"]);
    // On a quiet stream the events start at once (no message needed first): one published
    // after the response began comes through.
    s.ctx.stream().create("ev://", "quiet", 1).await.unwrap();
    let quiet = format!("{}/v1/streams/ev/quiet", s.base);
    let late = events(&quiet, &[], 1, async {
        send(Method::POST, &quiet, &[("content-type", "text/plain")], "late").await;
    })
    .await;
    assert!(late[0].2.contains("\"value\":\"late\""), "{late:?}");
    // A stream that does not exist is a problem, not an empty event stream.
    let none = get(&format!("{}/v1/streams/ev/none", s.base), &[]).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND, "{}", none.text());
    // A watch: the current state, synced, then a change made through the gateway.
    send(Method::PUT, &format!("{}/v1/objects/files/w/a", s.base), &[], "a").await;
    let put_url = format!("{}/v1/objects/files/w/b", s.base);
    let changes = events(
        &format!("{}/v1/watch/files/w/?initial=true", s.base),
        &[],
        3,
        async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            send(Method::PUT, &put_url, &[], "b").await;
        },
    )
    .await;
    let kinds: Vec<(&str, &str)> = changes.iter().map(|c| (c.0.as_str(), c.2.as_str())).collect();
    assert_eq!(kinds[0].0, "created");
    assert!(kinds[0].1.contains("\"path\":\"w/a\""), "{kinds:?}");
    assert_eq!(kinds[1].0, "synced");
    assert_eq!(kinds[2].0, "created");
    assert!(kinds[2].1.contains("\"path\":\"w/b\""), "{kinds:?}");
    assert!(!changes[2].1.is_empty(), "the event id is the cursor");
    s.stop().await;
}

/// The next text frame of a WebSocket as JSON (bounded: a regression fails, not hangs).
async fn next_frame<S>(ws: &mut S) -> serde_json::Value
where
    S: futures::Stream<
            Item = Result<tokio_tungstenite::tungstenite::Message, tokio_tungstenite::tungstenite::Error>,
        > + Unpin,
{
    use futures::StreamExt;
    loop {
        let frame = tokio::time::timeout(Duration::from_secs(20), ws.next())
            .await
            .expect("no frame within 20 s")
            .expect("the socket closed")
            .unwrap();
        if let tokio_tungstenite::tungstenite::Message::Text(t) = frame {
            return serde_json::from_str(t.as_str()).unwrap();
        }
    }
}

/// A WebSocket on a stream publishes the frames its client sends and sends every message
/// published (by it, or over HTTP) as an event; one on a watch sends the changes; a token
/// that may only consume gets an error frame for a publish, and the stream is unchanged.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websockets_publish_and_consume_streams_and_carry_watches() {
    use futures::SinkExt;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    use tokio_tungstenite::tungstenite::Message as Frame;
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "{BINDINGS}  gateway:
    auth:
      anonymous: [\"ev:consume\", \"ev:publish\", \"files:read\", \"files:write\"]
      tokens:
        - name: reader
          sha256: {}
          scopes: [\"ev:consume\"]
",
        sha256_hex("only-consume")
    );
    let s = Served::start(dir.path(), &spec).await;
    s.ctx.stream().create("ev://", "chat", 1).await.unwrap();
    let ws_base = s.base.replace("http://", "ws://");
    let (mut ws, resp) =
        tokio_tungstenite::connect_async(format!("{ws_base}/v1/streams/ev/chat?from=earliest"))
            .await
            .unwrap();
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    ws.send(Frame::text(r#"[{"key": "k", "value": "hello"}]"#))
        .await
        .unwrap();
    let mut got = [next_frame(&mut ws).await, next_frame(&mut ws).await];
    got.sort_by_key(|f| f["event"].as_str().unwrap().to_string());
    assert_eq!(got[0]["event"], "message", "{got:?}");
    assert_eq!(
        (got[0]["data"]["value"].as_str(), got[0]["data"]["key"].as_str()),
        (Some("hello"), Some("k"))
    );
    assert_eq!(got[0]["id"], "0:1");
    assert_eq!(got[1]["event"], "published");
    assert_eq!(got[1]["data"]["positions"], serde_json::json!(["0:0"]));
    // A message published over HTTP reaches the socket too.
    let url = format!("{}/v1/streams/ev/chat", s.base);
    send(Method::POST, &url, &[("content-type", "text/plain")], "from-http").await;
    assert_eq!(next_frame(&mut ws).await["data"]["value"], "from-http");
    // A bad frame is answered by an error event; the socket goes on.
    ws.send(Frame::text("not json")).await.unwrap();
    let bad = next_frame(&mut ws).await;
    assert_eq!(
        (bad["event"].as_str(), bad["data"]["status"].as_u64()),
        (Some("error"), Some(400)),
        "{bad:?}"
    );
    ws.send(Frame::text(r#"{"value": "again"}"#)).await.unwrap();
    let mut again = [next_frame(&mut ws).await, next_frame(&mut ws).await];
    again.sort_by_key(|f| f["event"].as_str().unwrap().to_string());
    assert_eq!(again[0]["data"]["value"], "again");
    ws.close(None).await.unwrap();
    // A token that may consume only: events yes, publishing refused with 403 in a frame.
    let mut req = format!("{ws_base}/v1/streams/ev/chat?from=earliest")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer only-consume".parse().unwrap());
    let (mut ro, _) = tokio_tungstenite::connect_async(req).await.unwrap();
    assert_eq!(next_frame(&mut ro).await["data"]["value"], "hello");
    ro.send(Frame::text(r#"{"value": "sneaky"}"#)).await.unwrap();
    loop {
        let f = next_frame(&mut ro).await;
        if f["event"] == "error" {
            assert_eq!(f["data"]["status"], 403, "{f:?}");
            break;
        }
        assert_ne!(f["data"]["value"], "sneaky", "{f:?}");
    }
    let all = events(&format!("{url}?from=earliest"), &[], 3, async {}).await;
    let values: Vec<String> = all
        .iter()
        .map(|e| serde_json::from_str::<serde_json::Value>(&e.2).unwrap()["value"].to_string())
        .collect();
    assert_eq!(values, ["\"hello\"", "\"from-http\"", "\"again\""]);
    // A bad token is refused before the upgrade.
    let mut req = format!("{ws_base}/v1/streams/ev/chat")
        .into_client_request()
        .unwrap();
    req.headers_mut()
        .insert("authorization", "Bearer wrong".parse().unwrap());
    let refused = tokio_tungstenite::connect_async(req).await.unwrap_err();
    assert!(refused.to_string().contains("401"), "{refused}");
    // A watch over a socket: the changes as frames, the cursor as the id.
    let (mut w, _) = tokio_tungstenite::connect_async(format!("{ws_base}/v1/watch/files/ws/?initial=true"))
        .await
        .unwrap();
    assert_eq!(next_frame(&mut w).await["event"], "synced");
    send(
        Method::PUT,
        &format!("{}/v1/objects/files/ws/x", s.base),
        &[],
        "x",
    )
    .await;
    let created = next_frame(&mut w).await;
    assert_eq!(
        (created["event"].as_str(), created["data"]["path"].as_str()),
        (Some("created"), Some("ws/x")),
        "{created:?}"
    );
    assert!(
        created["id"].as_str().is_some_and(|c| !c.is_empty()),
        "{created:?}"
    );
    s.stop().await;
}

const SECRET: &str = "a-test-secret-of-some-length-0123456789";

fn spec_with_auth(extra: &str) -> String {
    // The token `t0ken-read` (its SHA-256 below) may read `files`; anyone may read `db`.
    format!(
        "{BINDINGS}  gateway:
    auth:
      anonymous: [\"db:read\"]
      tokens:
        - name: reader
          sha256: {}
          scopes: [\"files:read\"]
{extra}",
        sha256_hex("t0ken-read")
    )
}

fn sha256_hex(s: &str) -> String {
    ring::digest::digest(&ring::digest::SHA256, s.as_bytes())
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn claims(scope: &str, exp_in: i64) -> serde_json::Value {
    serde_json::json!({
        "sub": "ana", "scope": scope, "iss": "https://issuer.test", "aud": "bindery",
        "exp": (now() as i64 + exp_in), "nbf": now() - 5,
    })
}

fn hs256(c: &serde_json::Value) -> String {
    encode(
        &Header::new(Algorithm::HS256),
        c,
        &EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_and_scopes_decide_and_refusals_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let jwt = format!(
        "      jwt:\n        secret: {SECRET}\n        issuer: https://issuer.test\n        audience: bindery\n        leeway: 1s\n"
    );
    let s = Served::start(dir.path(), &spec_with_auth(&jwt)).await;
    s.ctx.object().put("files://doc", "original").await.unwrap();
    let url = format!("{}/v1/objects/files/doc", s.base);
    // No token: the anonymous scopes only; 401 with a challenge.
    let anon = get(&url, &[]).await;
    assert_eq!(anon.status, StatusCode::UNAUTHORIZED);
    assert!(
        anon.header("www-authenticate").starts_with("Bearer"),
        "{:?}",
        anon.headers
    );
    assert!(anon.json()["detail"].as_str().unwrap().contains("'files:read'"));
    // The static token reads, and may not write (403, nothing written).
    let read = get(&url, &[("authorization", "Bearer t0ken-read")]).await;
    assert_eq!((read.status, &read.body[..]), (StatusCode::OK, &b"original"[..]));
    let write = send(
        Method::PUT,
        &url,
        &[("authorization", "Bearer t0ken-read")],
        "changed",
    )
    .await;
    assert_eq!(write.status, StatusCode::FORBIDDEN, "{}", write.text());
    assert!(write.json()["detail"]
        .as_str()
        .unwrap()
        .contains("token 'reader' lacks the scope 'files:write'"));
    // A JWT with the scope writes; one whose scope names another binding may not.
    let good = hs256(&claims("files:read files:write", 60));
    let w = send(
        Method::PUT,
        &url,
        &[("authorization", &format!("Bearer {good}"))],
        "by jwt",
    )
    .await;
    assert_eq!(w.status, StatusCode::OK, "{}", w.text());
    let other = hs256(&claims("db:write", 60));
    let r = send(
        Method::PUT,
        &url,
        &[("authorization", &format!("Bearer {other}"))],
        "no",
    )
    .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Every bad token is 401 `invalid_token`, and the object is unchanged.
    let mut wrong_aud = claims("files:*", 60);
    wrong_aud["aud"] = "someone-else".into();
    let mut wrong_iss = claims("files:*", 60);
    wrong_iss["iss"] = "https://evil.test".into();
    let mut not_yet = claims("files:*", 600);
    not_yet["nbf"] = (now() + 300).into();
    let mut no_exp = claims("files:*", 60);
    no_exp.as_object_mut().unwrap().remove("exp");
    let tampered = {
        let t = hs256(&claims("files:read", 60));
        let mut parts: Vec<String> = t.split('.').map(str::to_string).collect();
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let mut c: serde_json::Value = serde_json::from_slice(&b64.decode(&parts[1]).unwrap()).unwrap();
        c["scope"] = "files:*".into();
        parts[1] = b64.encode(c.to_string());
        parts.join(".")
    };
    let none_alg = {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.",
            b64.encode(r#"{"alg":"none","typ":"JWT"}"#),
            b64.encode(claims("files:*", 60).to_string())
        )
    };
    let cases = [
        ("expired", hs256(&claims("files:*", -120))),
        ("wrong audience", hs256(&wrong_aud)),
        ("wrong issuer", hs256(&wrong_iss)),
        ("not yet valid", hs256(&not_yet)),
        ("no exp", hs256(&no_exp)),
        ("tampered", tampered),
        ("alg none", none_alg),
        (
            "another key",
            encode(
                &Header::new(Algorithm::HS256),
                &claims("files:*", 60),
                &EncodingKey::from_secret(b"other"),
            )
            .unwrap(),
        ),
        ("not a token", "garbage".to_string()),
    ];
    for (what, token) in cases {
        let r = send(
            Method::PUT,
            &url,
            &[("authorization", &format!("Bearer {token}"))],
            "evil",
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.text());
        assert!(r.header("www-authenticate").contains("invalid_token"), "{what}");
    }
    let basic = get(&url, &[("authorization", "Basic dXNlcjpwYXNz")]).await;
    assert_eq!(basic.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        &s.ctx.object().get("files://doc").await.unwrap().data[..],
        b"by jwt"
    );
    // Anonymous may read `db` (its scope), so a missing table there is 404, not 401.
    let table = get(&format!("{}/v1/tables/db/none", s.base), &[]).await;
    assert_eq!(table.status, StatusCode::NOT_FOUND, "{}", table.text());
    // The description is there for anyone.
    let doc = get(&format!("{}/v1/openapi.json", s.base), &[]).await.json();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/v1/objects/files/{path}"]["put"].is_object());
    s.stop().await;
}

/// A JWKS file as the public key: tokens of either of its keys, named by `kid`, are taken; an
/// unknown `kid`, a forgery with the RSA key's bytes, or a key the set does not hold are 401.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jwks_file_holds_the_keys_tokens_name_by_kid() {
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    let dir = tempfile::tempdir().unwrap();
    let jwt = format!(
        "      jwt:\n        publicKey: {}\n        audience: bindery\n",
        keys.join("jwks.json").display()
    );
    let s = Served::start(dir.path(), &spec_with_auth(&jwt)).await;
    let url = format!("{}/v1/objects/files/j", s.base);
    let sign = |alg: Algorithm, kid: Option<&str>, key: &EncodingKey| {
        let mut h = Header::new(alg);
        h.kid = kid.map(str::to_string);
        encode(&h, &claims("files:write", 60), key).unwrap()
    };
    let rsa = EncodingKey::from_rsa_pem(&std::fs::read(keys.join("rsa.key")).unwrap()).unwrap();
    let ec = EncodingKey::from_ec_pem(&std::fs::read(keys.join("ec.key")).unwrap()).unwrap();
    let put = |token: String| {
        let url = url.clone();
        async move {
            send(
                Method::PUT,
                &url,
                &[("authorization", &format!("Bearer {token}"))],
                "j",
            )
            .await
        }
    };
    for token in [
        sign(Algorithm::RS256, Some("rsa-1"), &rsa),
        sign(Algorithm::ES256, Some("ec-1"), &ec),
        sign(Algorithm::ES256, None, &ec),
    ] {
        let ok = put(token).await;
        assert_eq!(ok.status, StatusCode::OK, "{}", ok.text());
    }
    let unknown = put(sign(Algorithm::RS256, Some("rsa-2"), &rsa)).await;
    assert_eq!(unknown.status, StatusCode::UNAUTHORIZED);
    assert!(unknown.text().contains("kid 'rsa-2'"), "{}", unknown.text());
    // The RSA key's kid on a token signed by the EC key: a bad signature.
    let wrong = put(sign(Algorithm::ES256, Some("rsa-1"), &ec)).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED, "{}", wrong.text());
    let forged = put(sign(
        Algorithm::HS256,
        Some("rsa-1"),
        &EncodingKey::from_secret(&std::fs::read(keys.join("rsa.pub")).unwrap()),
    ))
    .await;
    assert_eq!(forged.status, StatusCode::UNAUTHORIZED, "{}", forged.text());
    let other = EncodingKey::from_secret(b"not-the-key");
    assert_eq!(
        put(sign(Algorithm::HS256, None, &other)).await.status,
        StatusCode::UNAUTHORIZED
    );
    s.stop().await;
    // A JWKS holding a shared secret is refused at start, naming it.
    let bad = dir.path().join("oct.json");
    std::fs::write(&bad, r#"{"keys": [{"kty": "oct", "kid": "s", "k": "c2VjcmV0"}]}"#).unwrap();
    let file = dir.path().join("function.yaml");
    std::fs::write(
        &file,
        spec_with_auth(&format!("      jwt:\n        publicKey: {}\n", bad.display())),
    )
    .unwrap();
    let ctx = Context::connect(&file).await.unwrap();
    let err = bindery_gateway::build(ctx, Some("127.0.0.1:0"))
        .err()
        .expect("refused");
    assert!(err.contains("shared secret"), "{err}");
}

/// With `spec.gateway.tls` the gateway speaks HTTPS only (rustls): a client trusting the
/// test CA gets its answers; plain HTTP on that port gets none; a key that does not fit the
/// certificate is refused at start, naming it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_serves_https_with_the_spec_certificate() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    let dir = tempfile::tempdir().unwrap();
    let tls = |cert: &str, key: &str| {
        format!(
            "{BINDINGS}  gateway:\n    tls:\n      cert: {}\n      key: {}\n",
            keys.join(cert).display(),
            keys.join(key).display()
        )
    };
    let s = Served::start(dir.path(), &tls("tls.crt", "tls.key")).await;
    s.ctx.object().put("files://t", "over tls").await.unwrap();
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_file(keys.join("tls-ca.crt")).unwrap())
        .unwrap();
    let config =
        rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(&addr).await.unwrap();
    let mut tls_stream = connector
        .connect(ServerName::try_from("localhost").unwrap(), tcp)
        .await
        .unwrap();
    tls_stream
        .write_all(b"GET /v1/objects/files/t HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), tls_stream.read_to_string(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("over tls"), "{answer}");
    // Plain HTTP on the HTTPS port: no answer.
    let plain = tokio::time::timeout(Duration::from_secs(20), async {
        let client = Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>();
        client
            .get(format!("{}/v1/objects/files/t", s.base).parse().unwrap())
            .await
    })
    .await
    .unwrap();
    assert!(plain.is_err(), "{plain:?}");
    s.stop().await;
    // A key that is not the certificate's.
    std::fs::write(dir.path().join("function.yaml"), tls("tls.crt", "ec.key")).unwrap();
    let ctx = Context::connect(dir.path().join("function.yaml")).await.unwrap();
    let err = bindery_gateway::build(ctx, Some("127.0.0.1:0"))
        .err()
        .expect("refused");
    assert!(err.contains("spec.gateway.tls"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn public_keys_verify_rs256_and_es256_and_refuse_an_hs256_forgery() {
    let keys = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/keys");
    for (public, private, alg) in [
        ("rsa.pub", "rsa.key", Algorithm::RS256),
        ("ec.pub", "ec.key", Algorithm::ES256),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let jwt = format!(
            "      jwt:\n        publicKey: {}\n        audience: bindery\n",
            keys.join(public).display()
        );
        let s = Served::start(dir.path(), &spec_with_auth(&jwt)).await;
        let url = format!("{}/v1/objects/files/k", s.base);
        let pem = std::fs::read(keys.join(private)).unwrap();
        let key = match alg {
            Algorithm::RS256 => EncodingKey::from_rsa_pem(&pem).unwrap(),
            _ => EncodingKey::from_ec_pem(&pem).unwrap(),
        };
        let token = encode(&Header::new(alg), &claims("files:write", 60), &key).unwrap();
        let ok = send(
            Method::PUT,
            &url,
            &[("authorization", &format!("Bearer {token}"))],
            "signed",
        )
        .await;
        assert_eq!(ok.status, StatusCode::OK, "{alg:?}: {}", ok.text());
        // HS256 signed with the public key's bytes as the secret: the classic confusion.
        let public_bytes = std::fs::read(keys.join(public)).unwrap();
        let forged = encode(
            &Header::new(Algorithm::HS256),
            &claims("files:write", 60),
            &EncodingKey::from_secret(&public_bytes),
        )
        .unwrap();
        let r = send(
            Method::PUT,
            &url,
            &[("authorization", &format!("Bearer {forged}"))],
            "forged",
        )
        .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{alg:?}: {}", r.text());
        assert_eq!(
            &s.ctx.object().get("files://k").await.unwrap().data[..],
            b"signed"
        );
        s.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_over_the_limit_are_413_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("{BINDINGS}  gateway:\n    limits:\n      bodyBytes: 1000\n      jsonBytes: 100\n");
    let s = Served::start(dir.path(), &spec).await;
    let url = format!("{}/v1/objects/files/too-big", s.base);
    let r = send(Method::PUT, &url, &[], vec![7u8; 1001]).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    let missing = s.ctx.object().head("files://too-big").await.unwrap_err();
    assert_eq!(missing.kind(), bindery::ErrorKind::NotFound);
    assert_eq!(
        send(Method::PUT, &url, &[], vec![7u8; 1000]).await.status,
        StatusCode::OK
    );
    let big_json = format!("[{{\"value\": \"{}\"}}]", "x".repeat(200));
    s.ctx.stream().create("ev://", "s", 1).await.unwrap();
    let p = send(
        Method::POST,
        &format!("{}/v1/streams/ev/s", s.base),
        &[("content-type", "application/json")],
        big_json,
    )
    .await;
    assert_eq!(p.status, StatusCode::PAYLOAD_TOO_LARGE);
    s.stop().await;
}

#[test]
fn a_gateway_beyond_loopback_needs_auth() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("function.yaml");
        std::fs::write(&file, BINDINGS).unwrap();
        let ctx = Context::connect(&file).await.unwrap();
        let e = bindery_gateway::build(ctx, Some("0.0.0.0:0")).err().unwrap();
        assert!(e.contains("needs spec.gateway.auth"), "{e}");
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_too_slow_with_its_headers_is_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir().unwrap();
    let s = Served::start(dir.path(), BINDINGS).await;
    let addr = s.base.trim_start_matches("http://").to_string();
    let mut slow = tokio::net::TcpStream::connect(&addr).await.unwrap();
    // Half a request, then nothing: the server's 2 s header timeout ends the connection.
    slow.write_all(b"GET /v1/objects/files/x HTTP/1.1\r\nhost: x\r\n")
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let mut buf = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(20), slow.read_to_end(&mut buf)).await;
    assert!(read.is_ok(), "the connection was still open after 20 s");
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "cut before the timeout: {:?}",
        started.elapsed()
    );
    // Others are served meanwhile and after.
    assert_eq!(
        get(&format!("{}/v1/objects/files?limit=1", s.base), &[])
            .await
            .status,
        StatusCode::OK
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_bindings_and_operations_the_spec_exposes_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("{BINDINGS}  gateway:\n    bindings:\n      files: [read]\n      db: [read, write]\n");
    let s = Served::start(dir.path(), &spec).await;
    s.ctx.object().put("files://a", "a").await.unwrap();
    let url = format!("{}/v1/objects/files/a", s.base);
    assert_eq!(get(&url, &[]).await.status, StatusCode::OK);
    let put = send(Method::PUT, &url, &[], "changed").await;
    assert_eq!(put.status, StatusCode::FORBIDDEN, "{}", put.text());
    assert!(put.json()["detail"]
        .as_str()
        .unwrap()
        .contains("exposed for read only, not write"));
    let del = send(Method::DELETE, &url, &[], Bytes::new()).await;
    assert_eq!(del.status, StatusCode::FORBIDDEN);
    assert_eq!(&s.ctx.object().get("files://a").await.unwrap().data[..], b"a");
    // A binding the spec does not list is not there.
    let ev = get(&format!("{}/v1/streams/ev/x", s.base), &[]).await;
    assert_eq!(ev.status, StatusCode::NOT_FOUND, "{}", ev.text());
    let doc = get(&format!("{}/v1/openapi.json", s.base), &[]).await.json();
    assert!(doc["paths"].get("/v1/streams/ev/{stream}").is_none());
    // The description lists only the methods exposed.
    let object = &doc["paths"]["/v1/objects/files/{path}"];
    assert!(
        object.get("get").is_some() && object.get("head").is_some(),
        "{object}"
    );
    assert!(
        object.get("put").is_none() && object.get("delete").is_none(),
        "{object}"
    );
    let rows = &doc["paths"]["/v1/tables/db/{table}/_rows/{key}"];
    assert!(
        rows.get("patch").is_some() && rows.get("delete").is_none(),
        "{rows}"
    );
    s.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_allows_the_spec_origins_only_and_answers_their_preflights() {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("{BINDINGS}  gateway:\n    cors:\n      origins: [\"https://app.test\"]\n");
    let s = Served::start(dir.path(), &spec).await;
    s.ctx.object().put("files://c", "c").await.unwrap();
    let url = format!("{}/v1/objects/files/c", s.base);
    let pre = send(
        Method::OPTIONS,
        &url,
        &[
            ("origin", "https://app.test"),
            ("access-control-request-method", "PUT"),
        ],
        Bytes::new(),
    )
    .await;
    assert_eq!(pre.status, StatusCode::NO_CONTENT);
    assert_eq!(pre.header("access-control-allow-origin"), "https://app.test");
    assert!(pre.header("access-control-allow-methods").contains("PUT"));
    assert!(pre.header("access-control-allow-headers").contains("if-match"));
    let ok = get(&url, &[("origin", "https://app.test")]).await;
    assert_eq!(ok.header("access-control-allow-origin"), "https://app.test");
    assert!(ok.header("access-control-expose-headers").contains("etag"));
    // Another origin gets no CORS headers (its browser refuses the answer).
    let other = get(&url, &[("origin", "https://evil.test")]).await;
    assert_eq!(other.status, StatusCode::OK);
    assert!(other.headers.get("access-control-allow-origin").is_none());
    let pre = send(
        Method::OPTIONS,
        &url,
        &[("origin", "https://evil.test")],
        Bytes::new(),
    )
    .await;
    assert!(pre.headers.get("access-control-allow-origin").is_none());
    s.stop().await;
}

/// A binding's processors answer through the gateway: `maxSize` as 413, `contentTypes` as
/// 415, a schema's refusal as 400 naming the processor; reads come back redacted; nothing
/// refused is written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn processors_refuse_with_413_415_and_400_and_redact_reads() {
    let dir = tempfile::tempdir().unwrap();
    let spec = BINDINGS.replace(
        "      url: ./objects\n",
        "      url: ./objects\n      processors:\n        - kind: maxSize\n          bytes: 100\n        - kind: contentTypes\n          allow: [application/json]\n        - kind: validate\n          name: user\n          schema: {type: object, required: [id]}\n        - kind: redact\n          fields: [ssn]\n",
    );
    let s = Served::start(dir.path(), &spec).await;
    let url = |k: &str| format!("{}/v1/objects/files/{k}", s.base);
    let json = [("content-type", "application/json")];
    let r = send(
        Method::PUT,
        &url("big"),
        &json,
        format!("{{\"id\": \"{}\"}}", "x".repeat(100)),
    )
    .await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", r.text());
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("processor 1 (maxSize)"),
        "{}",
        r.text()
    );
    let r = send(
        Method::PUT,
        &url("text"),
        &[("content-type", "text/plain")],
        "{\"id\": 1}",
    )
    .await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{}", r.text());
    let r = send(Method::PUT, &url("noid"), &json, "{\"name\": \"a\"}").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text());
    assert!(
        r.json()["detail"]
            .as_str()
            .unwrap()
            .contains("processor 3 ('user', validate)"),
        "{}",
        r.text()
    );
    for k in ["big", "text", "noid"] {
        assert_eq!(get(&url(k), &[]).await.status, StatusCode::NOT_FOUND, "{k}");
    }
    let r = send(Method::PUT, &url("ana"), &json, "{\"id\": 1, \"ssn\": \"123\"}").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text());
    let r = get(&url("ana"), &[]).await;
    assert_eq!(r.json(), serde_json::json!({"id": 1, "ssn": "***"}));
    assert_eq!(r.header("content-length"), r.body.len().to_string());
    s.stop().await;
}
