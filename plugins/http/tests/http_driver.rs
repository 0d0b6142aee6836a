//! The `http` generic driver against a real HTTP server: a REST service run by bindery's own
//! `http` trigger (hyper) on loopback, which answers what it was sent. The same calls run
//! through the driver built in and built as a plugin (`http-plugin`, through the ABI).

use std::sync::Arc;
use std::time::Duration;

use bindery::function::{serve, Event, Response, Shutdown, ShutdownTrigger};
use bindery::{Context, ErrorKind, WaitGroup};
use bindery_tests::function::{free_port, wait_port};

/// The REST service: `/status/N` answers status N, `/big/N` N bytes, anything else echoes
/// the request as JSON (201 for POST).
async fn echo(_ctx: Context, event: Event) -> Result<Response, bindery::Error> {
    if let Some((_, code)) = event.path.rsplit_once("/status/") {
        let code: u16 = code.parse().unwrap_or(500);
        return Ok(Response::new(format!("status {code} as asked")).with_status(code));
    }
    if let Some((_, n)) = event.path.rsplit_once("/big/") {
        let n: usize = n.parse().unwrap_or(0);
        let body: Vec<u8> = (0..n).map(|i| (i % 251) as u8).collect();
        return Ok(Response::new(body));
    }
    let headers: serde_json::Map<String, serde_json::Value> = event
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), String::from_utf8_lossy(v).into_owned().into()))
        .collect();
    let r = Response::json(&serde_json::json!({
        "method": event.method,
        "path": event.path,
        "query": event.query,
        "headers": headers,
        "body": event.body_str(),
    }))?
    .with_header("x-echo", "yes");
    Ok(if event.method == "POST" {
        r.with_status(201)
    } else {
        r
    })
}

struct Service {
    port: u16,
    _stop: ShutdownTrigger,
    _dir: tempfile::TempDir,
}

async fn service() -> Service {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let spec = dir.path().join("function.yaml");
    std::fs::write(
        &spec,
        format!("spec:\n  triggers:\n    web:\n      kind: http\n      attributes:\n        port: {port}\n"),
    )
    .unwrap();
    let ctx = Context::connect(&spec).await.unwrap();
    let (stop, shutdown) = Shutdown::new();
    tokio::spawn(serve(ctx, Arc::new(echo), shutdown));
    assert!(wait_port(port, Duration::from_secs(10)));
    Service {
        port,
        _stop: stop,
        _dir: dir,
    }
}

/// A context with `api` (built in) and `plug` (the plugin) on the service, and `raw`
/// handing every status back.
async fn client(port: u16, dir: &std::path::Path) -> Context {
    let plugin = bindery_tests::cdylib("http-plugin");
    std::env::set_var("BINDERY_HTTP_TEST_TOKEN", "t0ken");
    let spec = format!(
        "spec:\n  dataBindings:\n    api:\n      driver: http\n      url: http://127.0.0.1:{port}/v1\n      secret: {{ env: BINDERY_HTTP_TEST_TOKEN }}\n      options:\n        header.accept: application/json\n    plug:\n      kind: generic\n      driver: {}\n      url: http://127.0.0.1:{port}\n      path: v2\n    raw:\n      driver: http\n      url: http://127.0.0.1:{port}\n      credentials:\n        username: ana\n        password: s3cret\n      options:\n        auth: basic\n        errors: none\n",
        plugin.display()
    );
    let file = dir.join("function.yaml");
    std::fs::write(&file, spec).unwrap();
    Context::connect(&file).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_reach_the_endpoint_with_method_path_headers_query_and_body() {
    let svc = service().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = client(svc.port, dir.path()).await;
    let out = ctx
        .generic()
        .call("api://users/ana maria")
        .operation("POST")
        .payload(r#"{"name": "Ana"}"#)
        .option("header.x-trace", "abc")
        .option("query.dry run", "yes&no")
        .await
        .unwrap();
    assert_eq!(out.status, 201);
    assert_eq!(out.get("X-Echo"), Some("yes"));
    let j: serde_json::Value = out.json().unwrap();
    assert_eq!(j["method"], "POST");
    assert_eq!(j["path"], "/v1/users/ana maria");
    assert_eq!(j["query"], serde_json::json!([["dry run", "yes&no"]]));
    assert_eq!(j["headers"]["authorization"], "Bearer t0ken");
    assert_eq!(j["headers"]["accept"], "application/json");
    assert_eq!(j["headers"]["x-trace"], "abc");
    assert_eq!(j["body"], r#"{"name": "Ana"}"#);

    // Through the plugin: the binding's path is a prefix below the URL.
    let out = ctx
        .generic()
        .call("plug://items/1")
        .operation("delete")
        .await
        .unwrap();
    let j: serde_json::Value = out.json().unwrap();
    assert_eq!(
        (j["method"].as_str(), j["path"].as_str()),
        (Some("DELETE"), Some("/v2/items/1"))
    );
    assert!(j["headers"].get("authorization").is_none());

    // Basic auth from credentials; every status handed back with `errors: none`.
    let out = ctx
        .generic()
        .call("raw://status/404")
        .operation("GET")
        .await
        .unwrap();
    assert_eq!((out.status, &out.body[..]), (404, &b"status 404 as asked"[..]));
    let out = ctx.generic().call("raw://who").operation("GET").await.unwrap();
    let j: serde_json::Value = out.json().unwrap();
    assert_eq!(j["headers"]["authorization"], "Basic YW5hOnMzY3JldA==");

    // Many at once through a wait group.
    let wg = WaitGroup::new();
    for i in 0..20 {
        ctx.generic()
            .call(format!("plug://n/{i}"))
            .operation("PUT")
            .payload(format!("{i}"))
            .do_async(&wg)
            .unwrap();
    }
    let waited = wg.wait().await;
    assert_eq!(waited.results.len(), 20);
    assert!(waited.first_error().is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn statuses_become_error_kinds_and_bodies_stream() {
    let svc = service().await;
    let dir = tempfile::tempdir().unwrap();
    let ctx = client(svc.port, dir.path()).await;
    for (binding, code, kind) in [
        ("api", 404, ErrorKind::NotFound),
        ("api", 409, ErrorKind::AlreadyExists),
        ("plug", 412, ErrorKind::ConditionFailed),
        ("api", 403, ErrorKind::PermissionDenied),
        ("plug", 422, ErrorKind::InvalidInput),
        ("api", 503, ErrorKind::Unavailable),
    ] {
        let e = ctx
            .generic()
            .call(format!("{binding}://status/{code}"))
            .operation("GET")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), kind, "{e}");
        assert!(
            e.message()
                .contains(&format!("answered {code}: status {code} as asked")),
            "{e}"
        );
        assert!(e.to_string().contains(&format!("binding '{binding}'")), "{e}");
        assert_eq!(e.is_retryable(), code == 503, "{e}");
    }
    let e = ctx
        .generic()
        .call("api://x")
        .operation("FETCH")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(
        e.message()
            .contains("operations: GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS"),
        "{e}"
    );
    let e = ctx
        .generic()
        .call("api://../etc")
        .operation("GET")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    // 5 MiB arrive whole and in order, in several frames, built in and through the plugin.
    for b in ["api", "plug"] {
        let out = ctx
            .generic()
            .call(format!("{b}://big/5242880"))
            .operation("GET")
            .await
            .unwrap();
        assert_eq!(out.body.len(), 5 << 20);
        assert!(out.body.iter().enumerate().all(|(i, v)| *v == (i % 251) as u8));
        assert_eq!(out.get("content-length"), Some("5242880"));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_that_does_not_answer_fails_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = dir.path().join("function.yaml");
    std::fs::write(
        &file,
        format!("spec:\n  dataBindings:\n    api:\n      driver: http\n      url: http://127.0.0.1:{port}/v1\n      retries: 0\n"),
    )
    .unwrap();
    let e = Context::connect(&file).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(
        e.to_string()
            .contains(&format!("HEAD http://127.0.0.1:{port}/v1 got no answer")),
        "{e}"
    );
    assert!(
        e.to_string()
            .contains("binding 'api' (driver 'http') failed to start"),
        "{e}"
    );
    std::fs::write(
        &file,
        "spec:\n  dataBindings:\n    api:\n      driver: http\n      url: ftp://x\n",
    )
    .unwrap();
    let e = Context::connect(&file).await.unwrap_err();
    assert!(
        e.to_string().contains("must start with http:// or https://"),
        "{e}"
    );
}
