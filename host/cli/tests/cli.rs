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

/// Specs in every form nuclio's own examples and test functions use (written here, not
/// copied): each loads, or is refused only for what bindery does not serve, saying so.
#[test]
fn nuclio_specs_load_or_are_refused_for_what_bindery_lacks() {
    let dir = tempfile::tempdir().unwrap();
    // Each spec: what `validate --verbose` prints, or the error it ends with.
    type Case = (
        &'static str,
        &'static str,
        Result<&'static [&'static str], &'static str>,
    );
    let cases: [Case; 7] = [
        (
            "go.yaml",
            "apiVersion: \"nuclio.io/v1\"\nkind: NuclioFunction\nmetadata:\n  name: image\n  namespace: nuclio\nspec:\n  description: >\n    Resizes an image.\n  runtime: \"golang\"\n  handler: main:Handler\n  minReplicas: 1\n  maxReplicas: 1\n  disableDefaultHTTPTrigger: false\n",
            Ok(&[
                "go.yaml:7:3: ignored: spec.description",
                "go.yaml:11:3: ignored: spec.minReplicas",
                "go.yaml:13:3: ignored: spec.disableDefaultHTTPTrigger",
                "runtime 'golang' is not one bindery runs",
            ]),
        ),
        (
            "java.yaml",
            "metadata:\n  name: reverser\nspec:\n  runtime: java\n  handler: Reverser\n  runtimeAttributes:\n    jvmOptions:\n      - -Xms64m\n  build:\n    baseImage: openjdk:11\n    dependencies:\n      - group: com.example\n        name: lib\n",
            Ok(&["java.yaml:6:3: ignored: spec.runtimeAttributes", "java.yaml:9:3: ignored: spec.build"]),
        ),
        (
            "py.yaml",
            "metadata:\n  name: parser\nspec:\n  runtime: python:3.9\n  handler: parser:handler\n  env:\n    - name: MODE\n      value: strict\n  resources:\n    requests:\n      cpu: \"0.5\"\n  build:\n    commands:\n      - pip install simplejson\n  triggers:\n    api:\n      kind: http\n      workerAvailabilityTimeoutMilliseconds: 200\n      maxWorkers: 1\n      attributes:\n        serviceType: NodePort\n",
            Ok(&[
                "py.yaml:9:3: ignored: spec.resources",
                "py.yaml:21:22: ignored: spec.triggers.api.attributes.serviceType",
            ]),
        ),
        (
            "kafka.yaml",
            "metadata:\n  name: k\nspec:\n  runtime: python\n  handler: main:handler\n  triggers:\n    events:\n      kind: kafka-cluster\n      attributes:\n        brokers: [kafka-0:9092]\n        topics: [a, b]\n        consumerGroup: g\n        initialOffset: latest\n",
            Ok(&[]),
        ),
        (
            "rmq.yaml",
            "spec:\n  runtime: \"golang\"\n  triggers:\n    test_rmq:\n      kind: \"rabbit-mq\"\n      url: \"amqp://user:password@rabbitmq-host:5672\"\n      attributes:\n        exchangeName: \"exchange-name\"\n",
            Err("rmq.yaml:5:13: nuclio trigger kind 'rabbit-mq' is not served by bindery; bindery serves http, stream, cron, watch, kafka-cluster"),
        ),
        (
            "v3io.yaml",
            "spec:\n  runtime: golang\n\n  dataBindings:\n    db0:\n      class: v3io\n      url: http://127.0.0.1:9999/1024\n",
            Err("v3io.yaml:6:14: nuclio data-binding class 'v3io' is not served by bindery"),
        ),
        (
            "flow.yaml",
            "spec:\n  runtime: python\n  build:\n    commands: [\"pip install a\", \"pip install b\"\n  handler: main:handler\n",
            Err("inside the flow sequence opened with '[' at line 4, column 15"),
        ),
    ];
    for (name, spec, want) in cases {
        std::fs::write(dir.path().join(name), spec).unwrap();
        let out = bindery(dir.path(), &["validate", "--verbose", name]);
        match want {
            Ok(lines) => {
                assert!(out.status.success(), "{name}: {}", text(&out.stderr));
                let stdout = text(&out.stdout);
                assert!(stdout.contains(&format!("{name}: valid")), "{name}: {stdout}");
                for line in lines {
                    assert!(stdout.contains(line), "{name}: no '{line}' in\n{stdout}");
                }
            }
            Err(message) => {
                assert_eq!(out.status.code(), Some(1), "{name}");
                let stderr = text(&out.stderr);
                assert!(stderr.contains(message), "{name}: {stderr}");
            }
        }
    }
}

#[test]
fn plugins_lists_drivers_with_kinds_capabilities_and_options() {
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
    assert_eq!(fs["options"], serde_json::json!([]));
    let log = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "log")
        .unwrap();
    assert_eq!(log["options"][0]["key"], "segment.bytes");
    let table = text(&bindery(dir.path(), &["plugins"]).stdout);
    assert!(table.contains("memory 0.1.0 [object] (built-in)"), "{table}");
    // Every option of every driver is documented: each one a spec may set is listed.
    let s3 = table.split("s3 0.1.0").nth(1).expect(&table);
    for key in ["region", "conditional_writes", "part_size", "concurrency"] {
        assert!(
            s3.contains(&format!("\n    {key} ")),
            "s3 option {key} in {table}"
        );
    }
    assert!(table.contains("    header.NAME "), "{table}");
}

/// `plugins --spec` connects the bindings and shows what each can do on its backend: an `s3`
/// binding on Garage (started by scripts/test), which ignores conditional writes, lacks them.
#[test]
fn plugins_with_a_spec_show_what_each_binding_can_do() {
    let url =
        std::env::var("BINDERY_GARAGE_URL").expect("BINDERY_GARAGE_URL: run the tests with scripts/test");
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "{SPEC}    photos:\n      driver: s3\n      url: {url}\n      path: cli\n      credentials:\n        \
         access_key_id: {{ env: BINDERY_S3_KEY_ID }}\n        secret_access_key: {{ env: BINDERY_S3_SECRET }}\n"
    );
    std::fs::write(dir.path().join("function.yaml"), spec).unwrap();
    let out = bindery(dir.path(), &["plugins", "--spec", "function.yaml"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let table = text(&out.stdout);
    let photos = table
        .split("binding photos (s3), connected")
        .nth(1)
        .expect(&table);
    assert!(
        photos
            .contains("not on this backend: put_with_if_match, put_with_if_none_match, delete_with_if_match"),
        "{table}"
    );
    assert!(table.contains("binding files (fs), connected"), "{table}");
    let out = bindery(dir.path(), &["plugins", "--json", "--spec", "function.yaml"]);
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let photos = &json["bindings"][2];
    assert_eq!(photos["binding"], "photos");
    let flags = photos["capabilities"]["flags"].as_array().unwrap();
    assert!(flags.iter().any(|f| f == "get_with_if_match"));
    assert!(!flags.iter().any(|f| f == "put_with_if_match"));
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

const STREAM_SPEC: &str =
    "metadata:\n  name: cli\nspec:\n  dataBindings:\n    ev:\n      kind: stream\n      driver: log\n      url: ./streams\n";

/// Versions from the command line on a `git` binding: puts with author and message, the
/// revisions, a tag, reads at it, diff, revert; an unknown revision is refused by name.
#[test]
fn object_versions_tags_diff_and_revert() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("function.yaml"),
        "spec:\n  dataBindings:\n    docs:\n      kind: object\n      driver: git\n      url: ./repo\n",
    )
    .unwrap();
    let d = dir.path();
    ok(bindery_stdin(
        d,
        &[
            "object",
            "put",
            "docs://d.json",
            "--author",
            "Ada <ada@example.com>",
            "--message",
            "first",
        ],
        br#"{"a":1}"#,
    ));
    ok(bindery_stdin(
        d,
        &["object", "put", "docs://d.json"],
        br#"{"a":2}"#,
    ));
    let listed = ok(bindery(d, &["object", "versions", "docs://d.json", "--json"]));
    let revs: Vec<serde_json::Value> = listed.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(revs.len(), 2, "{listed}");
    assert_eq!(
        (revs[1]["author"].as_str(), revs[1]["message"].as_str()),
        (Some("Ada <ada@example.com>"), Some("first"))
    );
    let first = revs[1]["id"].as_str().unwrap();
    let plain = ok(bindery(d, &["object", "versions", "docs://d.json"]));
    assert!(
        plain.lines().nth(1).unwrap().starts_with(first) && plain.contains("first"),
        "{plain}"
    );
    let diff = ok(bindery(d, &["object", "diff", "docs://d.json", first]));
    let patch: serde_json::Value = serde_json::from_str(&diff).unwrap();
    assert_eq!(
        patch,
        serde_json::json!([{"op": "replace", "path": "/a", "value": 2}])
    );
    let tag = ok(bindery(
        d,
        &[
            "object",
            "tag",
            "create",
            "docs://",
            "v1",
            "--revision",
            first,
            "--description",
            "one",
        ],
    ));
    assert!(tag.contains(r#""name":"v1""#) && tag.contains(first), "{tag}");
    assert!(ok(bindery(d, &["object", "tag", "ls", "docs://"])).contains(r#""description":"one""#));
    assert_eq!(
        ok(bindery(d, &["object", "get", "docs://d.json", "--version", "v1"])),
        r#"{"a":1}"#
    );
    ok(bindery(
        d,
        &["object", "revert", "docs://d.json", "v1", "--message", "back"],
    ));
    assert_eq!(ok(bindery(d, &["object", "get", "docs://d.json"])), r#"{"a":1}"#);
    let bad = bindery(d, &["object", "get", "docs://d.json", "--version", "nope"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("no revision or tag 'nope'"),
        "{}",
        text(&bad.stderr)
    );
}

fn bindery_stdin(dir: &Path, args: &[&str], input: &[u8]) -> Output {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bindery"))
        .current_dir(dir)
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(input).unwrap();
    child.wait_with_output().unwrap()
}

/// Runs the command, failing the test if it has not finished within 20 s.
fn bindery_within_20s(dir: &Path, args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bindery"))
        .current_dir(dir)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("bindery {args:?} did not finish in 20 s");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

fn ok(o: Output) -> String {
    assert!(o.status.success(), "{}", text(&o.stderr));
    text(&o.stdout)
}

#[test]
fn stream_commands_publish_consume_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("function.yaml"), STREAM_SPEC).unwrap();
    ok(bindery(d, &["stream", "create", "ev://orders", "--shards", "2"]));
    let again = bindery(d, &["stream", "create", "ev://orders"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        text(&again.stderr).contains("AlreadyExists"),
        "{}",
        text(&again.stderr)
    );
    // Lines from standard input, split into key and value at the tab, with a header.
    let lines: String = (0..300).map(|i| format!("k{}\tline {i}\n", i % 7)).collect();
    let published = bindery_stdin(
        d,
        &["stream", "publish", "ev://orders", "-K", "\t", "-H", "src=cli"],
        lines.as_bytes(),
    );
    assert!(
        text(&published.stderr).contains("published 300 message(s)"),
        "{}",
        text(&published.stderr)
    );
    ok(bindery(
        d,
        &["stream", "publish", "ev://orders", "one", "two", "--key", "k0"],
    ));
    let shards: Vec<serde_json::Value> = ok(bindery(d, &["stream", "shards", "ev://orders", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(shards.len(), 2);
    let total: u64 = shards.iter().map(|s| s["next"].as_u64().unwrap()).sum();
    assert_eq!(total, 302);
    // JSON lines carry key, headers and position; per key the order is kept.
    let all: Vec<serde_json::Value> = ok(bindery(d, &["stream", "consume", "ev://orders", "--json"]))
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(all.len(), 302);
    let k3: Vec<&str> = all
        .iter()
        .filter(|m| m["key"] == "k3")
        .map(|m| m["value"].as_str().unwrap())
        .collect();
    let want: Vec<String> = (0..300)
        .filter(|i| i % 7 == 3)
        .map(|i| format!("line {i}"))
        .collect();
    assert_eq!(k3, want);
    assert_eq!(all[0]["headers"]["src"], "cli");
    // A group: the first run takes 100 and checkpoints them, the next run goes on from there.
    let first = ok(bindery(
        d,
        &["stream", "consume", "ev://orders", "-g", "g", "-c", "100"],
    ));
    let rest = ok(bindery(d, &["stream", "consume", "ev://orders", "-g", "g"]));
    assert_eq!(first.lines().count() + rest.lines().count(), 302);
    let mut seen: Vec<&str> = first.lines().chain(rest.lines()).collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), 302, "every message once across the two runs");
    // A consumer in another process than the writer reaches the end of empty shards.
    ok(bindery(d, &["stream", "create", "ev://empty", "--shards", "2"]));
    ok(bindery(
        d,
        &["stream", "publish", "ev://empty", "only", "--key", "x"],
    ));
    assert_eq!(
        ok(bindery_within_20s(d, &["stream", "consume", "ev://empty"])),
        "only\n"
    );
    // Filters on JSON messages.
    ok(bindery(d, &["stream", "create", "ev://js"]));
    ok(bindery(
        d,
        &[
            "stream",
            "publish",
            "ev://js",
            r#"{"n":1}"#,
            r#"{"n":5}"#,
            "plain",
        ],
    ));
    let big = ok(bindery(d, &["stream", "consume", "ev://js", "--where", "n > 2"]));
    assert_eq!(big, "{\"n\":5}\n");
    // Bad input names what is wrong.
    let bad = bindery(d, &["stream", "consume", "ev://orders", "--from", "yesterday"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("kinds: earliest, latest"),
        "{}",
        text(&bad.stderr)
    );
    let missing = bindery(d, &["stream", "consume", "ev://nope"]);
    assert!(
        text(&missing.stderr).contains("NotFound"),
        "{}",
        text(&missing.stderr)
    );
    ok(bindery(d, &["stream", "update", "ev://orders", "--shards", "3"]));
    assert_eq!(
        ok(bindery(d, &["stream", "shards", "ev://orders"]))
            .lines()
            .count(),
        4
    );
    ok(bindery(d, &["stream", "delete", "ev://orders"]));
    assert!(!bindery(d, &["stream", "shards", "ev://orders"]).status.success());
}

#[test]
fn stream_consume_follow_tails_another_process() {
    use std::io::BufRead;
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("function.yaml"), STREAM_SPEC).unwrap();
    ok(bindery(d, &["stream", "create", "ev://tail"]));
    ok(bindery(d, &["stream", "publish", "ev://tail", "before"]));
    let mut follower = Command::new(env!("CARGO_BIN_EXE_bindery"))
        .current_dir(d)
        .args(["stream", "consume", "ev://tail", "--follow", "--from", "latest"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    ok(bindery(d, &["stream", "publish", "ev://tail", "after-1"]));
    ok(bindery(d, &["stream", "publish", "ev://tail", "after-2"]));
    let mut lines = std::io::BufReader::new(follower.stdout.take().unwrap()).lines();
    let got: Vec<String> = (0..2).map(|_| lines.next().unwrap().unwrap()).collect();
    follower.kill().unwrap();
    follower.wait().unwrap();
    assert_eq!(got, ["after-1", "after-2"]);
}

/// Starts `bindery ARGS --json` (a watch) in `dir`: the process, and the changes it prints.
fn watch_json(dir: &Path, args: &[&str]) -> (std::process::Child, impl Iterator<Item = serde_json::Value>) {
    use std::io::BufRead;
    let mut child = Command::new(env!("CARGO_BIN_EXE_bindery"))
        .current_dir(dir)
        .args(args)
        .arg("--json")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    (child, lines.map(|l| serde_json::from_str(&l.unwrap()).unwrap()))
}

/// `bindery object watch` prints what other processes do to an fs binding's folder; a
/// cursor from before a restart resyncs.
#[test]
fn object_watch_prints_changes_made_by_other_processes() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("function.yaml"), SPEC).unwrap();
    std::fs::create_dir_all(d.join("data/up")).unwrap();
    std::fs::write(d.join("data/up/old"), "1").unwrap();
    let watch = |extra: &[&str]| watch_json(d, &[&["object", "watch", "files://"], extra].concat());
    let (mut watcher, mut lines) = watch(&["--initial"]);
    let mut next = || lines.next().unwrap();
    let first = next();
    assert_eq!(
        (first["kind"].as_str(), first["path"].as_str()),
        (Some("created"), Some("old"))
    );
    assert_eq!(next()["kind"], "synced");
    // Another bindery process, and a plain write.
    ok(bindery(d, &["object", "put", "files://new", "-"]));
    std::fs::write(d.join("data/up/plain"), "by hand").unwrap();
    let mut seen = std::collections::BTreeMap::new();
    while seen.len() < 2 {
        let c = next();
        seen.insert(c["path"].as_str().unwrap().to_string(), c);
    }
    assert_eq!(seen["new"]["kind"], "created");
    assert_eq!(
        (seen["plain"]["kind"].as_str(), seen["plain"]["size"].as_u64()),
        (Some("created"), Some(7))
    );
    let cursor = seen["plain"]["cursor"].as_str().unwrap().to_string();
    watcher.kill().unwrap();
    watcher.wait().unwrap();
    // The fs driver keeps no history across processes: the old cursor resyncs.
    let (mut again, lines) = watch(&["--from", &cursor]);
    let kinds: Vec<String> = lines
        .take(5)
        .map(|v| format!("{} {}", v["kind"].as_str().unwrap(), v["path"].as_str().unwrap()))
        .collect();
    again.kill().unwrap();
    again.wait().unwrap();
    assert_eq!(
        kinds,
        [
            "resync ",
            "created new",
            "created old",
            "created plain",
            "synced "
        ]
    );
}

const TABLE_SPEC: &str = "metadata:\n  name: cli\nspec:\n  dataBindings:\n    db:\n      kind: table\n      driver: sqlite\n      url: ./t.db\n    lake:\n      kind: table\n      driver: files\n      url: ./lake\n";

/// `bindery table watch` prints rows other programs change; a watcher killed with SIGKILL in
/// the middle of a stream of writes and started again from the last cursor it printed misses
/// nothing and repeats nothing.
#[test]
fn table_watch_killed_and_resumed_from_its_cursor_misses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("function.yaml"), TABLE_SPEC).unwrap();
    let schema = "id int64 NOT NULL, v string";
    ok(bindery(
        d,
        &["table", "create", "db://ev", "--schema", schema, "--key", "id"],
    ));
    let watch = |extra: &[&str]| watch_json(d, &[&["table", "watch", "db://ev"], extra].concat());
    let (mut first, mut changes) = watch(&["--initial"]);
    assert_eq!(changes.next().unwrap()["kind"], "synced");
    // Another program writes 400 rows, one transaction each.
    let mut writer = Command::new("python3")
        .arg("-c")
        .arg(
            "import sqlite3, sys, time\ndb = sqlite3.connect(sys.argv[1], timeout=10)\n\
             for i in range(1, 401):\n    db.execute('INSERT INTO ev VALUES (?, ?)', (i, 'r%d' % i))\n    db.commit()\n    time.sleep(0.001)\n",
        )
        .arg(d.join("t.db"))
        .spawn()
        .unwrap();
    let (mut seen, cursor) = bindery_tests::watch_suite::created_ids(&mut changes, 100);
    // SIGKILL: no chance to clean up.
    first.kill().unwrap();
    first.wait().unwrap();
    assert!(writer.wait().unwrap().success());
    let (mut second, mut changes) = watch(&["--from", &cursor]);
    seen.extend(bindery_tests::watch_suite::created_ids(&mut changes, 300).0);
    second.kill().unwrap();
    second.wait().unwrap();
    assert_eq!(seen, (1..=400).collect::<Vec<u64>>(), "every row once, in order");
}

/// Every type prints in each text format: decimals and uint64 exactly, nested values as JSON
/// (inside CSV fields too).
#[test]
fn table_read_prints_every_type() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("function.yaml"), TABLE_SPEC).unwrap();
    ok(bindery(
        d,
        &[
            "table",
            "create",
            "db://w",
            "--schema",
            "k int64 NOT NULL, d decimal(10, 3), u uint64, l list<int64>, s struct<a string>, t timestamp(ns, none)",
            "--key",
            "k",
        ],
    ));
    ok(bindery(
        d,
        &[
            "table",
            "write",
            "db://w",
            r#"{"k":1,"d":"1.5","u":18446744073709551615,"l":[1,null],"s":{"a":"x"},"t":"2024-01-01T00:00:00.000000001"}"#,
        ],
    ));
    assert_eq!(
        ok(bindery(d, &["table", "read", "db://w", "--format", "csv"])),
        "k,d,u,l,s,t\n1,1.500,18446744073709551615,\"[1,null]\",\"{\"\"a\"\":\"\"x\"\"}\",2024-01-01T00:00:00.000000001\n"
    );
    assert_eq!(
        ok(bindery(d, &["table", "read", "db://w", "--format", "json"])),
        "{\"k\":1,\"d\":1.500,\"u\":18446744073709551615,\"l\":[1,null],\"s\":{\"a\":\"x\"},\"t\":\"2024-01-01T00:00:00.000000001\"}\n"
    );
}

#[test]
fn table_commands_create_write_read_alter_and_pipe_between_drivers() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::write(d.join("function.yaml"), TABLE_SPEC).unwrap();
    let schema = "user string NOT NULL, age int64, addr string, version int64 NOT NULL DEFAULT 0";
    ok(bindery(
        d,
        &[
            "table",
            "create",
            "db://users",
            "--schema",
            schema,
            "--key",
            "user",
        ],
    ));
    ok(bindery(
        d,
        &[
            "table",
            "write",
            "db://users",
            r#"{"user":"ana","age":41,"addr":"NY"}"#,
        ],
    ));
    let piped = bindery_stdin(
        d,
        &["table", "write", "db://users"],
        b"{\"user\":\"bob\",\"age\":17}\n\n{\"user\":\"cy\",\"age\":35,\"addr\":\"NY\"}\n",
    );
    assert!(
        text(&piped.stderr).contains("wrote 2 row(s)"),
        "{}",
        text(&piped.stderr)
    );
    // Aligned table on request; CSV by default in a pipe.
    let table = ok(bindery(d, &["table", "read", "db://users", "--format", "table"]));
    assert!(table.contains("| user | age | addr | version |"), "{table}");
    assert!(table.contains("| bob  | 17  |      | 0       |"), "{table}");
    assert!(table.ends_with("3 row(s)\n"), "{table}");
    let csv = ok(bindery(
        d,
        &[
            "table",
            "read",
            "db://users",
            "--where",
            "age > 30",
            "--select",
            "addr,user",
        ],
    ));
    assert_eq!(csv, "addr,user\nNY,ana\nNY,cy\n");
    let json = ok(bindery(
        d,
        &["table", "read", "db://users", "--format", "json", "-k", "bob"],
    ));
    // Every column on every line, nulls included.
    assert_eq!(
        json,
        "{\"user\":\"bob\",\"age\":17,\"addr\":null,\"version\":0}\n"
    );
    // Infinities (and NaN) as text JSON numbers cannot hold.
    let floats = ok(bindery(
        d,
        &[
            "table",
            "read",
            "db://users",
            "--sql",
            "SELECT 1e999 AS big, -1e999 AS small, 0.5 AS half",
            "--format",
            "json",
        ],
    ));
    assert_eq!(
        floats,
        "{\"big\":\"Infinity\",\"small\":\"-Infinity\",\"half\":0.5}\n"
    );
    // A filter that begins with '-' is a filter, not an option.
    let negative = ok(bindery(
        d,
        &[
            "table",
            "read",
            "db://users",
            "--where",
            "-age < -30",
            "--select",
            "user",
        ],
    ));
    assert_eq!(negative, "user\nana\ncy\n");
    // Optimistic update by expression, then the same again refused.
    let set = [
        "table",
        "write",
        "db://users",
        "-k",
        "ana",
        "--set",
        "version = version + :inc",
    ];
    let once = [&set[..], &["-p", "inc=2", "--condition", "version = 0"]].concat();
    ok(bindery(d, &once));
    let twice = bindery(d, &once);
    assert_eq!(twice.status.code(), Some(1));
    assert!(
        text(&twice.stderr).contains("ConditionFailed"),
        "{}",
        text(&twice.stderr)
    );
    // sqlite → files through an Arrow IPC pipe, then evolve the copy.
    ok(bindery(
        d,
        &["table", "create", "lake://users", "--schema", schema],
    ));
    let arrow = bindery(d, &["table", "read", "db://users", "--format", "arrow"]);
    assert!(arrow.status.success());
    let copied = bindery_stdin(
        d,
        &["table", "write", "lake://users", "--format", "arrow"],
        &arrow.stdout,
    );
    assert!(
        text(&copied.stderr).contains("wrote 3 row(s)"),
        "{}",
        text(&copied.stderr)
    );
    ok(bindery(
        d,
        &[
            "table",
            "alter",
            "lake://users",
            "--add-column",
            "level int64 NOT NULL DEFAULT 3",
        ],
    ));
    let csv = ok(bindery(
        d,
        &["table", "read", "lake://users", "--where", "version = 2"],
    ));
    assert_eq!(csv, "user,age,addr,version,level\nana,41,NY,2,3\n");
    let schema_out = ok(bindery(d, &["table", "schema", "db://users"]));
    assert!(schema_out.starts_with("-- version 1, made 20"), "{schema_out}");
    assert!(
        schema_out.ends_with("version int64 NOT NULL DEFAULT 0\nPRIMARY KEY (user)\n"),
        "{schema_out}"
    );
    // The copy's versions: what create made, and the alter.
    let now = ok(bindery(d, &["table", "schema", "lake://users"]));
    assert!(
        now.starts_with("-- version 2, made ") && now.contains("level int64"),
        "{now}"
    );
    let old = ok(bindery(d, &["table", "schema", "lake://users", "--version", "1"]));
    assert!(
        old.starts_with("-- version 1, made ") && !old.contains("level"),
        "{old}"
    );
    // Bad input: named, exit 1.
    let bad = bindery(d, &["table", "read", "lake://users", "--where", "nope = 1"]);
    assert_eq!(bad.status.code(), Some(1));
    assert!(
        text(&bad.stderr).contains("no column 'nope'"),
        "{}",
        text(&bad.stderr)
    );
    let bad = bindery_stdin(
        d,
        &["table", "write", "db://users"],
        b"{\"user\": \"x\"}\nnot json\n",
    );
    assert!(
        text(&bad.stderr).contains("line 2 of standard input is not JSON"),
        "{}",
        text(&bad.stderr)
    );
    let bad = bindery(d, &["table", "read", "db://users", "--partition", "3"]);
    assert!(text(&bad.stderr).contains("is not P/N"), "{}", text(&bad.stderr));
    ok(bindery(d, &["table", "drop", "lake://users"]));
    let gone = bindery(d, &["table", "read", "lake://users"]);
    assert!(text(&gone.stderr).contains("NotFound"), "{}", text(&gone.stderr));
}

/// The http-ingest example's binary, built next to `bindery` (by the workspace's build, or
/// here when it is missing).
fn example_exe(package: &str) -> std::path::PathBuf {
    let bin = Path::new(env!("CARGO_BIN_EXE_bindery")).with_file_name(package);
    if !bin.is_file() {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--quiet", "-p", package]);
        let target = bin.parent().unwrap();
        if target.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        assert!(cmd.status().unwrap().success(), "building {package} failed");
    }
    bin
}

/// The http-ingest example's spec with its handler given as the built executable.
fn ingest_spec(dir: &Path, port: u16) -> std::path::PathBuf {
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../function-examples/http-ingest/function.yaml");
    let text = std::fs::read_to_string(example).unwrap();
    let exe = example_exe("http-ingest");
    let text = text
        .replace("handler: http-ingest", &format!("handler: {}", exe.display()))
        .replace("${INGEST_PORT:-8080}", &port.to_string())
        .replace("${INGEST_DATA:-./data}", "./data");
    let spec = dir.join("function.yaml");
    std::fs::write(&spec, text).unwrap();
    spec
}

#[test]
fn invoke_and_run_start_the_function_the_spec_names() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    ingest_spec(dir.path(), port);
    let out = bindery(
        dir.path(),
        &[
            "invoke",
            "function.yaml",
            "--method",
            "PUT",
            "--path",
            "/a.txt",
            "--body",
            "from the cli",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(j["key"], "a.txt");
    assert_eq!(
        std::fs::read(dir.path().join("data/objects/a.txt")).unwrap(),
        b"from the cli"
    );

    // `run` becomes the function's process: it serves, and SIGTERM stops it cleanly.
    let child = Command::new(env!("CARGO_BIN_EXE_bindery"))
        .current_dir(dir.path())
        .args(["run", "function.yaml"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let start = std::time::Instant::now();
    let mut stream = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(s) => break s,
            Err(_) if start.elapsed() < std::time::Duration::from_secs(60) => {
                std::thread::sleep(std::time::Duration::from_millis(25))
            }
            Err(e) => panic!("bindery run did not listen: {e}"),
        }
    };
    use std::io::{Read, Write};
    stream
        .write_all(b"GET /a.txt HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    stream.read_to_string(&mut answer).unwrap();
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("from the cli"), "{answer}");
    // SAFETY: kill(2) on our own child's pid, not yet reaped.
    unsafe { libc_kill(child.id() as i32, 15) };
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Stopping"), "{}", text(&out.stderr));
}

extern "C" {
    #[link_name = "kill"]
    fn libc_kill(pid: i32, sig: i32) -> i32;
}

#[test]
fn run_refuses_specs_it_cannot_start() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        (SPEC.to_string(), "spec.runtime is not set"),
        (SPEC.replace("spec:\n", "spec:\n  runtime: golang\n"), "runtime 'golang' is not one bindery runs; runtimes: rust, python"),
        (SPEC.replace("spec:\n", "spec:\n  runtime: rust\n"), "spec.handler is not set"),
        (
            SPEC.replace("spec:\n", "spec:\n  runtime: rust\n  handler: ./bin/missing\n"),
            "spec.handler './bin/missing' is not a file",
        ),
        (
            SPEC.replace("spec:\n", "spec:\n  runtime: rust\n  handler: x\n  triggers:\n    t:\n      kind: stream\n      attributes: { path: files://x }\n"),
            "function.yaml:9:27: trigger 't': `path` names binding 'files' of kind object; it must be a stream binding",
        ),
    ];
    for (spec, want) in cases {
        std::fs::write(dir.path().join("function.yaml"), &spec).unwrap();
        let out = bindery(dir.path(), &["run", "function.yaml"]);
        assert_eq!(out.status.code(), Some(1), "{spec}");
        assert!(
            text(&out.stderr).contains(want),
            "wanted {want:?} in {}",
            text(&out.stderr)
        );
    }
    // validate refuses the bad trigger too.
    let out = bindery(dir.path(), &["validate", "function.yaml"]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn a_closed_pipe_ends_the_command_quietly() {
    use std::io::Read;
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bindery"))
        .current_dir(dir.path())
        .args(["plugins"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut one = [0u8; 1];
    out.read_exact(&mut one).unwrap();
    drop(out); // `| head -c1`
    let mut err = String::new();
    child.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    let status = child.wait().unwrap();
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(status.code(), Some(101), "{err}");
}

#[test]
fn get_onto_the_objects_own_file_and_put_from_a_closed_stdin() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("function.yaml"), SPEC).unwrap();
    std::fs::create_dir_all(dir.path().join("data/up")).unwrap();
    std::fs::write(dir.path().join("data/up/self.bin"), b"keep me whole").unwrap();
    let got = bindery(
        dir.path(),
        &["object", "get", "files://self.bin", "data/up/self.bin"],
    );
    assert!(got.status.success(), "{}", text(&got.stderr));
    assert_eq!(
        std::fs::read(dir.path().join("data/up/self.bin")).unwrap(),
        b"keep me whole"
    );
    // No `.part` file is left beside it.
    let left: Vec<_> = std::fs::read_dir(dir.path().join("data/up"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left, ["self.bin"]);
    // A get that fails leaves an existing local file as it was.
    std::fs::write(dir.path().join("local.txt"), b"old").unwrap();
    let missing = bindery(dir.path(), &["object", "get", "files://nope", "local.txt"]);
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(std::fs::read(dir.path().join("local.txt")).unwrap(), b"old");
    // Standard input closed: an error, and no empty object.
    let put = Command::new("sh")
        .current_dir(dir.path())
        .arg("-c")
        .arg(format!(
            "{} object put files://empty <&-",
            env!("CARGO_BIN_EXE_bindery")
        ))
        .output()
        .unwrap();
    assert_eq!(put.status.code(), Some(1), "{}", text(&put.stderr));
    assert!(
        text(&put.stderr).contains("standard input is closed"),
        "{}",
        text(&put.stderr)
    );
    assert!(!dir.path().join("data/up/empty").exists());
}

#[test]
fn validate_refuses_unbounded_or_misnamed_files() {
    let dir = tempfile::tempdir().unwrap();
    let out = bindery(dir.path(), &["validate", "/dev/zero"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("not a regular file"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(dir.path().join("fake.so"), "text").unwrap();
    std::fs::write(
        dir.path().join("plugin.yaml"),
        "spec:\n  dataBindings:\n    a:\n      kind: object\n      driver: ./fake.so\n",
    )
    .unwrap();
    let out = bindery(dir.path(), &["validate", "plugin.yaml"]);
    assert!(
        text(&out.stderr).contains("is not a shared library"),
        "{}",
        text(&out.stderr)
    );
    std::fs::write(
        dir.path().join("secret.yaml"),
        "spec:\n  dataBindings:\n    a:\n      driver: fs\n      url: ./d\n      secret: { file: ./missing }\n",
    )
    .unwrap();
    let out = bindery(dir.path(), &["validate", "secret.yaml"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("secret 'secret' of binding 'a'"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn stream_check_names_damage_and_passes_a_whole_stream() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("function.yaml"),
        "spec:\n  dataBindings:\n    ev:\n      kind: stream\n      driver: log\n      url: ./streams\n",
    )
    .unwrap();
    let ok = |o: Output| assert!(o.status.success(), "{}", text(&o.stderr));
    ok(bindery(dir.path(), &["stream", "create", "ev://s"]));
    for i in 0..10 {
        ok(bindery(
            dir.path(),
            &["stream", "publish", "ev://s", &format!("m{i}")],
        ));
    }
    let good = bindery(dir.path(), &["stream", "check", "streams/s"]);
    assert!(good.status.success(), "{}", text(&good.stderr));
    assert!(
        text(&good.stdout).contains("every record is whole"),
        "{}",
        text(&good.stdout)
    );
    let seg = dir.path().join("streams/s/shard-0000/00000000000000000000.log");
    let mut raw = std::fs::read(&seg).unwrap();
    let mid = raw.len() / 2;
    raw[mid] ^= 0x10;
    std::fs::write(&seg, raw).unwrap();
    let bad = bindery(dir.path(), &["stream", "check", "streams/s"]);
    assert_eq!(bad.status.code(), Some(1));
    let out = text(&bad.stdout);
    assert!(
        out.contains("damaged at byte") && out.contains("repair would"),
        "{out}"
    );
}

#[test]
fn a_malformed_arrow_stream_is_refused_not_a_panic() {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("function.yaml"),
        "spec:\n  dataBindings:\n    db:\n      kind: table\n      driver: sqlite\n      url: ./t.db\n",
    )
    .unwrap();
    let made = bindery(
        dir.path(),
        &[
            "table",
            "create",
            "db://t",
            "--schema",
            "k string NOT NULL",
            "--key",
            "k",
        ],
    );
    assert!(made.status.success(), "{}", text(&made.stderr));
    // Found by the `ipc_write` fuzz target: arrow-ipc panics on it.
    let bad = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../fuzz/corpus/ipc_write/buffer-offset-panic"
    ))
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bindery"))
        .current_dir(dir.path())
        .args(["table", "write", "db://t", "--format", "arrow"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(&bad).unwrap();
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(!text(&out.stderr).contains("panicked"), "{}", text(&out.stderr));
    assert!(text(&out.stderr).contains("Arrow IPC"), "{}", text(&out.stderr));
}
