//! The HTTP ingest function end to end: its binary runs the spec's HTTP trigger on a free
//! port; requests store objects, rows and events; SIGTERM stops it cleanly; what it
//! acknowledged is there afterwards.

use bindery_tests::function::{free_port, http, invoke, invoke_json, stream_messages, FunctionProcess};

const EXE: &str = env!("CARGO_BIN_EXE_http-ingest");

fn spec() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("function.yaml")
}

#[test]
fn uploads_become_objects_rows_and_events() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = [
        ("INGEST_PORT", port.to_string()),
        ("INGEST_DATA", data.path().display().to_string()),
    ];
    let mut f = FunctionProcess::start(EXE, &spec(), &env);
    f.wait_port(port);

    let r = http(
        port,
        "PUT",
        "/notes/a.txt",
        &[("content-type", "text/plain")],
        b"hello",
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", r.text());
    let j = r.json();
    assert_eq!(
        (j["key"].as_str(), j["size"].as_i64(), j["position"].as_str()),
        (Some("notes/a.txt"), Some(5), Some("0:0"))
    );
    let gen = j["gen"].as_str().unwrap().to_string();
    for i in 0..10 {
        let r = http(
            port,
            "POST",
            &format!("/batch/{i}.bin"),
            &[],
            format!("item {i}").as_bytes(),
        )
        .unwrap();
        assert_eq!(r.status, 201, "{}", r.text());
    }
    let r = http(port, "GET", "/notes/a.txt", &[], b"").unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "hello"));
    assert_eq!(
        (r.header("content-type"), r.header("etag")),
        (Some("text/plain"), Some(gen.as_str()))
    );
    let r = http(port, "GET", "/missing", &[], b"").unwrap();
    assert_eq!((r.status, r.text().as_str()), (404, "no object 'missing'\n"));
    let r = http(port, "PUT", "/a//b", &[], b"x").unwrap();
    assert_eq!(r.status, 400, "{}", r.text());
    assert!(r.text().contains("empty segment"), "{}", r.text());
    let r = http(port, "DELETE", "/notes/a.txt", &[], b"").unwrap();
    assert_eq!(r.status, 405);

    let (ok, log) = f.stop();
    assert!(ok, "the function did not stop cleanly:\n{log}");
    assert!(log.contains("Stopping"), "{log}");
    assert!(
        log.contains("event_id="),
        "handler logs carry the event id:\n{log}"
    );

    // Everything acknowledged is there: 11 objects, 11 rows, 11 events in order.
    std::env::set_var("INGEST_DATA", data.path());
    std::env::set_var("INGEST_PORT", port.to_string());
    let ctx = bindery::Context::open(spec()).unwrap();
    assert_eq!(ctx.object().list("uploads://").do_().unwrap().len(), 11);
    let rows: Vec<serde_json::Value> = ctx.table().read("db0://ingested").load().scan().unwrap();
    assert_eq!(rows.len(), 11);
    assert!(rows
        .iter()
        .any(|r| r["key"] == "notes/a.txt" && r["size"] == 5 && r["content_type"] == "text/plain"));
    let events = stream_messages(&ctx, "events://ingested");
    assert_eq!(events.len(), 11);
    assert_eq!(events[0].key.as_deref(), Some(&b"notes/a.txt"[..]));
    let first: serde_json::Value = serde_json::from_slice(&events[0].value).unwrap();
    assert_eq!(
        (first["size"].as_i64(), first["gen"].as_str()),
        (Some(5), Some(gen.as_str()))
    );
}

#[test]
fn invoke_runs_one_event_and_prints_the_response() {
    let data = tempfile::tempdir().unwrap();
    let env = [("INGEST_DATA", data.path())];
    let args = ["--method", "PUT", "--path", "/hello.txt", "--body", "hi there"];
    let j = invoke_json(EXE, &spec(), &args, &env);
    assert_eq!(
        (j["key"].as_str(), j["size"].as_i64()),
        (Some("hello.txt"), Some(8))
    );
    assert_eq!(
        std::fs::read(data.path().join("objects/hello.txt")).unwrap(),
        b"hi there"
    );

    // A failing event: the status on stderr, exit 1.
    let (ok, _, stderr) = invoke(EXE, &spec(), &["--path", "/", "--body", ""], &env);
    assert!(!ok);
    assert!(stderr.contains("status 400"), "{stderr}");
}
