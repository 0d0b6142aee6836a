//! The file-drop broker end to end: uploads over HTTP are checked, stored and announced as
//! created / updated / deleted events; refused uploads leave nothing behind.

use bindery_tests::function::{free_port, http, stream_messages, FunctionProcess};

const EXE: &str = env!("CARGO_BIN_EXE_file-drop");

fn spec() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("function.yaml")
}

#[test]
fn uploads_are_validated_stored_and_announced() {
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    std::env::set_var("DROP_DATA", data.path());
    std::env::set_var("DROP_PORT", port.to_string());
    let mut f = FunctionProcess::start(EXE, &spec(), &[("DROP_MAX_BYTES", "64".to_string())]);
    f.wait_port(port);
    let put = |name: &str, body: &[u8], headers: &[(&str, &str)]| {
        http(port, "PUT", &format!("/files/{name}"), headers, body).unwrap()
    };

    let r = put("prices.csv", b"item,price\npen,2\n", &[]);
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.json()["type"], "created");
    let gen1 = r.json()["gen"].as_str().unwrap().to_string();
    let r = put("prices.csv", b"item,price\npen,3\n", &[]);
    assert_eq!((r.status, r.json()["type"].as_str()), (200, Some("updated")));
    let gen2 = r.json()["gen"].as_str().unwrap().to_string();
    // A conditional update against the first generation is refused: 412, nothing changes.
    let r = put("prices.csv", b"item,price\npen,4\n", &[("if-match", &gen1)]);
    assert_eq!(r.status, 412, "{}", r.text());
    let r = http(port, "GET", "/files/prices.csv", &[], b"").unwrap();
    assert_eq!(
        (r.text().as_str(), r.header("etag")),
        ("item,price\npen,3\n", Some(gen2.as_str()))
    );

    // Refused uploads: named and explained, nothing stored or announced.
    let r = put("bad.csv", b"a,b\n1,2,3\n", &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (
            422,
            "'bad.csv' is not a CSV file: row 2 has 3 fields, the header 2\n"
        )
    );
    let r = put("bad.json", b"{nope", &[]);
    assert_eq!(r.status, 422);
    let r = put("run.exe", b"MZ", &[]);
    assert_eq!(r.status, 422);
    let r = put("big.txt", &[b'x'; 65], &[]);
    assert_eq!(
        (r.status, r.text().as_str()),
        (413, "'big.txt' is 65 bytes; files may be at most 64\n")
    );
    let r = put("notes.txt", "dzień dobry".as_bytes(), &[]);
    assert_eq!(r.status, 201);

    let r = http(port, "GET", "/files/", &[], b"").unwrap();
    let names: Vec<String> = r
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["notes.txt", "prices.csv"]);
    let r = http(port, "DELETE", "/files/prices.csv", &[], b"").unwrap();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = http(port, "DELETE", "/files/prices.csv", &[], b"").unwrap();
    assert_eq!(r.status, 404);
    let r = http(port, "GET", "/files/bad.csv", &[], b"").unwrap();
    assert_eq!(r.status, 404);

    let (ok, log) = f.stop();
    assert!(ok, "{log}");
    let ctx = bindery::Context::open(spec()).unwrap();
    let events: Vec<serde_json::Value> = stream_messages(&ctx, "events://files")
        .iter()
        .map(|m| serde_json::from_slice(&m.value).unwrap())
        .collect();
    let seen: Vec<(&str, &str)> = events
        .iter()
        .map(|e| (e["type"].as_str().unwrap(), e["name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        seen,
        [
            ("created", "prices.csv"),
            ("updated", "prices.csv"),
            ("created", "notes.txt"),
            ("deleted", "prices.csv")
        ]
    );
    assert_eq!(events[1]["gen"].as_str(), Some(gen2.as_str()));
}
