//! The `bindery` command line, run as a user would.

use std::path::Path;
use std::process::{Command, Output};

fn bindery(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bindery"))
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &[u8]) -> String {
    String::from_utf8_lossy(o).into_owned()
}

const SPEC: &str = "metadata:\n  name: cli\nspec:\n  dataBindings:\n    files:\n      kind: object\n      driver: fs\n      url: ./data\n      path: up\n    scratch:\n      driver: memory\n";

#[test]
fn validate_accepts_a_good_spec_and_locates_errors() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("function.yaml"), SPEC).unwrap();
    let ok = bindery(dir.path(), &["validate", "function.yaml"]);
    assert!(ok.status.success(), "{}", text(&ok.stderr));
    assert!(text(&ok.stdout).contains("2 binding(s): files (object via fs), scratch (object via memory)"));
    std::fs::write(
        dir.path().join("bad.yaml"),
        SPEC.replace("driver: memory", "driver: memroy"),
    )
    .unwrap();
    let bad = bindery(dir.path(), &["validate", "bad.yaml"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = text(&bad.stderr);
    assert!(
        err.contains("bad.yaml:11:15: unknown driver 'memroy'; built-in drivers: memory, fs"),
        "{err}"
    );
}

#[test]
fn plugins_lists_drivers_with_kinds_and_capabilities() {
    let dir = tempfile::tempdir().unwrap();
    let out = bindery(dir.path(), &["plugins", "--json"]);
    assert!(out.status.success());
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fs = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "fs")
        .expect("fs listed");
    assert_eq!(fs["kinds"], serde_json::json!(["object"]));
    let flags = fs["capabilities"]["flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "put_with_if_none_match"));
    let table = text(&bindery(dir.path(), &["plugins"]).stdout);
    assert!(table.contains("memory 0.1.0 [object] (built-in)"), "{table}");
}

#[test]
fn object_commands_round_trip_files_and_pipes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("function.yaml"), SPEC).unwrap();
    let big: Vec<u8> = (0..5_000_000u32).map(|i| (i % 253) as u8).collect();
    std::fs::write(dir.path().join("big.bin"), &big).unwrap();
    let put = bindery(
        dir.path(),
        &[
            "object",
            "put",
            "files://a/big.bin",
            "big.bin",
            "--meta",
            "owner=ana",
            "--condition",
            "if-none-match=*",
        ],
    );
    assert!(put.status.success(), "{}", text(&put.stderr));
    let meta: serde_json::Value = serde_json::from_slice(&put.stdout).unwrap();
    assert_eq!(meta["size"], 5_000_000);
    // The object is a plain file under the binding's folder.
    assert_eq!(std::fs::read(dir.path().join("data/up/a/big.bin")).unwrap(), big);
    let again = bindery(
        dir.path(),
        &[
            "object",
            "put",
            "files://a/big.bin",
            "big.bin",
            "--condition",
            "if-none-match=*",
        ],
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("ConditionFailed"),
        "{}",
        text(&again.stderr)
    );

    let get = bindery(dir.path(), &["object", "get", "files://a/big.bin", "copy.bin"]);
    assert!(get.status.success(), "{}", text(&get.stderr));
    assert_eq!(std::fs::read(dir.path().join("copy.bin")).unwrap(), big);
    let range = bindery(
        dir.path(),
        &["object", "get", "files://a/big.bin", "--range", "10:5"],
    );
    assert_eq!(range.stdout, big[10..15]);

    let mut child = Command::new(env!("CARGO_BIN_EXE_bindery"))
        .current_dir(dir.path())
        .args(["object", "put", "files://b.txt", "-"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(b"from stdin").unwrap();
    assert!(child.wait_with_output().unwrap().status.success());
    assert_eq!(
        bindery(dir.path(), &["object", "get", "files://b.txt"]).stdout,
        b"from stdin"
    );

    let ls = text(&bindery(dir.path(), &["object", "ls", "files://", "--delimiter", "/"]).stdout);
    assert_eq!(
        ls.lines().map(str::trim).collect::<Vec<_>>(),
        ["PRE  a/", "10  b.txt"]
    );
    let head: serde_json::Value =
        serde_json::from_slice(&bindery(dir.path(), &["object", "head", "files://a/big.bin"]).stdout)
            .unwrap();
    assert_eq!(head["metadata"]["owner"], "ana");

    assert!(bindery(dir.path(), &["object", "rm", "files://b.txt"])
        .status
        .success());
    let gone = bindery(dir.path(), &["object", "get", "files://b.txt"]);
    assert_eq!(gone.status.code(), Some(1));
    let err = text(&gone.stderr);
    assert!(
        err.contains("NotFound") && err.contains("binding 'files'") && err.contains("driver 'fs'"),
        "{err}"
    );
    let escape = text(&bindery(dir.path(), &["object", "get", "files://../../etc/passwd"]).stderr);
    assert!(escape.contains("never escapes its prefix"), "{escape}");
}
