//! The processors suite (`processors:` in a binding) on every driver of each kind: built in,
//! through the plugin ABI, and against the real servers (PostgreSQL, Garage, tansu). A refused
//! write is also checked from outside bindery: the file system, SQLite's own library,
//! PostgreSQL's client.

use bindery::ErrorKind;
use bindery_tests::{
    cdylib, fixture, kafka_binding, kafka_server, object_processors, postgres_fixture_with, s3_fixture_at,
    s3_server, stream_fixture, stream_processors, table_fixture, table_processors,
};

fn procs(p: &str) -> String {
    format!("      processors: {p}\n")
}

object_processors!(
    memory,
    |p: String| async move { fixture("memory", &procs(&p)).await }
);
object_processors!(fs, |p: String| async move {
    fixture("fs", &format!("      url: ./data\n{}", procs(&p))).await
});
object_processors!(git, |p: String| async move {
    fixture("git", &format!("      url: ./repo\n{}", procs(&p))).await
});
object_processors!(memory_plugin, |p: String| async move {
    let lib = cdylib("memory-plugin");
    fixture(&lib.display().to_string(), &procs(&p)).await
});
object_processors!(s3_garage, |p: String| async move {
    s3_fixture_at(&s3_server("garage"), &procs(&p)).await.0
});

table_processors!(sqlite, |p: String| async move {
    table_fixture("sqlite", &format!("      url: ./data.db\n{}", procs(&p))).await
});
table_processors!(files_parquet, |p: String| async move {
    table_fixture("files", &format!("      url: ./tables\n{}", procs(&p))).await
});
table_processors!(sqlite_plugin, |p: String| async move {
    let lib = cdylib("sqlite-plugin");
    table_fixture(
        &lib.display().to_string(),
        &format!("      url: ./data.db\n{}", procs(&p)),
    )
    .await
});
table_processors!(postgres, |p: String| async move {
    postgres_fixture_with(&procs(&p)).await.0
});

stream_processors!(log, |p: String| async move {
    stream_fixture("log", &format!("      url: ./streams\n{}", procs(&p))).await
});
stream_processors!(log_plugin, |p: String| async move {
    let lib = cdylib("log-plugin");
    stream_fixture(
        &lib.display().to_string(),
        &format!("      url: ./streams\n{}", procs(&p)),
    )
    .await
});
stream_processors!(kafka, |p: String| async move {
    stream_fixture(
        "kafka",
        &format!("{}{}", kafka_binding(&kafka_server()), procs(&p)),
    )
    .await
});

const SCHEMA: &str = "[{kind: validate, schema: {type: object, required: [id]}}]";

/// A put the pipeline refuses leaves no file behind, not even a temporary one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_put_leaves_the_file_system_unchanged() {
    let fx = fixture("fs", &format!("      url: ./data\n{}", procs(SCHEMA))).await;
    fx.ctx.object().put("obj://a.json", r#"{"id": 1}"#).await.unwrap();
    let before = files(&fx.dir.path().join("data"));
    let e = fx
        .ctx
        .object()
        .put("obj://b.json", r#"{"name": 1}"#)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = fx.ctx.object().put("obj://a.json", "{}").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert_eq!(files(&fx.dir.path().join("data")), before);
    assert_eq!(
        std::fs::read(fx.dir.path().join("data/suite/a.json")).unwrap(),
        br#"{"id": 1}"#
    );
}

fn files(dir: &std::path::Path) -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    out.sort();
    out
}

/// Creates table `t`, writes row 1, then has a write of rows 2 and 3 refused (row 3 has no
/// `id`).
async fn write_one_then_refuse_two(ctx: &bindery::Context) {
    bindery_tests::create_table(ctx, "db://t", "id int64, v string", "id").await;
    let t = ctx.table();
    t.write("db://t")
        .with_items([serde_json::json!({"id": 1, "v": "a"})])
        .await
        .unwrap();
    let e = t
        .write("db://t")
        .with_items([
            serde_json::json!({"id": 2, "v": "b"}),
            serde_json::json!({"v": "c"}),
        ])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

/// A refused table write leaves the SQLite file's rows as they were, read with SQLite itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_leaves_sqlite_unchanged() {
    let fx = table_fixture("sqlite", &format!("      url: ./data.db\n{}", procs(SCHEMA))).await;
    write_one_then_refuse_two(&fx.ctx).await;
    let db = rusqlite::Connection::open(fx.dir.path().join("data.db")).unwrap();
    let rows: Vec<(i64, String)> = db
        .prepare("SELECT id, v FROM t ORDER BY id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(rows, [(1, "a".to_string())]);
}

/// A refused table write leaves PostgreSQL's rows as they were, read with its own client.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_write_leaves_postgres_unchanged() {
    let (fx, url) = postgres_fixture_with(&procs(SCHEMA)).await;
    write_one_then_refuse_two(&fx.ctx).await;
    let (_, password) = bindery_tests::postgres_server();
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.password(password.as_bytes());
    let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
    tokio::spawn(connection);
    let rows: Vec<(i64, String)> = client
        .query("SELECT id, v FROM t ORDER BY id", &[])
        .await
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect();
    assert_eq!(rows, [(1, "a".to_string())]);
}

/// A spec whose processors are wrong does not load, and says where and why.
#[test]
fn bad_processors_are_refused_with_their_place() {
    let drivers = bindery_runtime::Registry::builtin().infos();
    for (processors, needle) in [
        (
            "[{kind: validat}]",
            "unknown processor kind 'validat'; kinds: validate, readOnly",
        ),
        (
            "[{kind: validate}]",
            "needs `schema` (a JSON Schema) or `schemaFile`",
        ),
        (
            "[{kind: validate, schema: {type: 12}}]",
            "its schema is not a valid JSON Schema",
        ),
        ("[{kind: maxSize, bytes: lots}]", "bytes must be a size"),
        (
            "[{kind: redact, fields: [a], on: [publish]}]",
            "'publish' is not an operation of object bindings",
        ),
        (
            "[{kind: contentTypes, allow: [json]}]",
            "'json' is not a media type",
        ),
        (
            "[{kind: readOnly, fields: [id], on: [get]}]",
            "a readOnly processor does not apply to get",
        ),
        (
            "[{kind: select, fields: [a], failurePolicy: maybe}]",
            "failurePolicy must be fail or ignore",
        ),
        (
            "[{kind: select, fields: [a], color: red}]",
            "unknown key 'color' for a select processor",
        ),
        ("{kind: select}", "must be a list"),
    ] {
        let text = bindery_tests::spec_text("memory", &procs(processors));
        let e =
            bindery_runtime::Spec::parse(std::path::Path::new("function.yaml"), &text, &drivers).unwrap_err();
        let m = e.to_string();
        assert!(m.contains(needle), "{processors}: {m}");
        assert!(m.starts_with("function.yaml:12:"), "names the line: {m}");
    }
}
