//! The file-drop broker end to end: uploads over HTTP are checked, stored and announced as
//! created / updated / deleted events, and so are files other programs put in the folder;
//! refused uploads leave nothing behind.

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
    // Another program drops a file in and takes it out again.
    let folder = data.path().join("files");
    std::fs::write(folder.join("dropped.txt"), "by hand").unwrap();
    // A reader in another process sees the log as it was when it connected: connect anew.
    let announced = |n: usize| {
        for _ in 0..200 {
            let ctx = bindery::Context::open(spec()).unwrap();
            let events: Vec<serde_json::Value> = stream_messages(&ctx, "events://files")
                .iter()
                .map(|m| serde_json::from_slice(&m.value).unwrap())
                .collect();
            if events.len() >= n {
                return events;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("fewer than {n} announcements; the function's log:\n{}", f.log());
    };
    announced(5);
    std::fs::remove_file(folder.join("dropped.txt")).unwrap();
    let events = announced(6);

    let (ok, log) = f.stop();
    assert!(ok, "{log}");
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
            ("deleted", "prices.csv"),
            ("created", "dropped.txt"),
            ("deleted", "dropped.txt"),
        ]
    );
    assert_eq!(events[4]["size"], 7);
    assert_eq!(events[1]["gen"].as_str(), Some(gen2.as_str()));
}
