//! The metadata store end to end: its binary serves the spec's HTTP trigger on a free port;
//! a client creates, updates, tags, diffs, reverts and deletes datasets; the git command line
//! sees the same history.

use bindery_tests::function::{free_port, http, FunctionProcess};
use serde_json::{json, Value};

const EXE: &str = env!("CARGO_BIN_EXE_metastore");

fn spec() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("function.yaml")
}

#[test]
fn datasets_keep_their_history() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let env = [
        ("METASTORE_PORT", port.to_string()),
        ("METASTORE_DATA", data.path().display().to_string()),
    ];
    let mut f = FunctionProcess::start(EXE, &spec(), &env);
    f.wait_port(port);
    let call = |method: &str, path: &str, headers: &[(&str, &str)], body: &str| {
        let r = http(port, method, path, headers, body.as_bytes()).unwrap();
        let j: Value = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
        (r.status, j, r.header("etag").map(str::to_string))
    };

    let v1 = r#"{"name": "iris", "resources": [{"path": "iris.csv"}]}"#;
    let (status, j, etag) = call(
        "PUT",
        "/datasets/iris",
        &[("x-author", "Ada <ada@example.com>")],
        v1,
    );
    assert_eq!(status, 201, "{j}");
    let first = j["revision"].as_str().unwrap().to_string();
    let etag = etag.unwrap();
    let v2 = r#"{"name": "iris", "title": "Iris", "resources": [{"path": "iris.csv"}]}"#;
    let (status, j, _) = call(
        "PUT",
        "/datasets/iris",
        &[("if-match", &etag), ("x-message", "add a title")],
        v2,
    );
    assert_eq!(status, 200, "{j}");
    // A stale ETag loses: 412, nothing written.
    let (status, j, _) = call("PUT", "/datasets/iris", &[("if-match", &etag)], v1);
    assert_eq!(status, 412, "{j}");
    let (status, j, _) = call("PUT", "/datasets/iris", &[], "[1, 2]");
    assert_eq!(
        (status, j["error"].as_str()),
        (400, Some("a datapackage.json is a JSON object"))
    );
    call("PUT", "/datasets/wine", &[], r#"{"name": "wine"}"#);
    assert_eq!(call("GET", "/datasets", &[], "").1, json!(["iris", "wine"]));

    let (_, revs, _) = call("GET", "/datasets/iris/revisions", &[], "");
    let revs = revs.as_array().unwrap().clone();
    assert_eq!(revs.len(), 2);
    assert_eq!(revs[0]["message"], "add a title");
    assert_eq!(
        (revs[1]["revision"].as_str(), revs[1]["author"].as_str()),
        (Some(first.as_str()), Some("Ada <ada@example.com>"))
    );
    assert_eq!(revs[1]["message"], "create dataset iris");

    let (status, tag, _) = call(
        "PUT",
        "/tags/v1",
        &[],
        &json!({"revision": first, "description": "first cut"}).to_string(),
    );
    assert_eq!((status, tag["revision"].as_str()), (201, Some(first.as_str())));
    assert_eq!(call("PUT", "/tags/v1", &[], "{}").0, 409);
    let (status, old, _) = call("GET", "/datasets/iris?version=v1", &[], "");
    assert_eq!((status, old["title"].clone()), (200, Value::Null));
    let (_, now, _) = call("GET", "/datasets/iris", &[], "");
    assert_eq!(now["title"], "Iris");
    let (status, patch, _) = call("GET", "/datasets/iris/diff?from=v1", &[], "");
    assert_eq!(
        (status, patch),
        (200, json!([{"op": "add", "path": "/title", "value": "Iris"}]))
    );
    let (status, renamed, _) = call(
        "PATCH",
        "/tags/v1",
        &[],
        r#"{"name": "release-1", "description": "the first cut"}"#,
    );
    assert_eq!((status, renamed["name"].as_str()), (200, Some("release-1")));
    assert_eq!(call("GET", "/tags", &[], "").1.as_array().unwrap().len(), 1);

    let (status, j, _) = call("POST", "/datasets/iris/revert?to=release-1", &[], "");
    assert_eq!(status, 200, "{j}");
    assert_eq!(call("GET", "/datasets/iris", &[], "").1["title"], Value::Null);
    assert_eq!(
        call("GET", "/datasets/iris/revisions", &[], "")
            .1
            .as_array()
            .unwrap()
            .len(),
        3
    );
    assert_eq!(call("GET", "/datasets/iris?version=nope", &[], "").0, 400);
    assert_eq!(call("DELETE", "/datasets/wine", &[], "").0, 204);
    assert_eq!(call("GET", "/datasets/wine", &[], "").0, 404);
    assert_eq!(call("DELETE", "/tags/release-1", &[], "").0, 204);
    assert_eq!(call("GET", "/tags/release-1", &[], "").0, 404);

    let (ok, log) = f.stop();
    assert!(ok, "the function did not stop cleanly:\n{log}");
    // git reads the same history.
    let repo = data.path().join("repo");
    let out = std::process::Command::new("git")
        .args(["-C", repo.to_str().unwrap(), "log", "--format=%s", "main"])
        .output()
        .unwrap();
    let subjects = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        subjects.lines().collect::<Vec<_>>(),
        [
            "delete dataset wine",
            "revert datasets/iris/datapackage.json to release-1",
            "create dataset wine",
            "add a title",
            "create dataset iris"
        ],
        "{subjects}"
    );
}
