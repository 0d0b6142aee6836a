//! What the `postgres` driver promises beyond the table suite: rows written by bindery are
//! what `psql` reads and the reverse, types preserved; and a server restart mid-run gives
//! retryable errors, then success, never a half-applied write.
//!
//! These tests share the test run's server (and one of them restarts it), so nextest runs
//! every PostgreSQL test one at a time (`.config/nextest.toml`).

use std::process::Command;

use bindery::arrow::array::{Array, AsArray, RecordBatch};
use bindery::arrow::datatypes::{Float64Type, Int32Type, Int64Type, TimestampMicrosecondType};
use bindery::ErrorKind;
use bindery_tests::{postgres_fixture_at, postgres_server};
use serde_json::json;

/// Runs SQL with `psql` on the database at `url`: unaligned rows, `|` between fields.
fn psql(url: &str, sql: &str) -> String {
    let out = Command::new("psql")
        .args([url, "-X", "-v", "ON_ERROR_STOP=1", "-At", "-F", "|", "-c", sql])
        .env("PGPASSWORD", postgres_server().1)
        .env("PGTZ", "UTC")
        .output()
        .expect("psql runs (PostgreSQL's client is installed with the server)");
    assert!(
        out.status.success(),
        "psql: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn rows(b: &[RecordBatch]) -> usize {
    b.iter().map(RecordBatch::num_rows).sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_bindery_writes_psql_reads_with_its_types() {
    let (fx, url) = postgres_fixture_at().await;
    let t = fx.ctx.table();
    t.create("db://kinds")
        .schema("id int64 NOT NULL, n int32, f float64, s string, b bool, at timestamp, doc json")
        .primary_key("id", None)
        .await
        .unwrap();
    t.write("db://kinds")
        .with_items([
            json!({"id": 1, "n": -7, "f": 2.5, "s": "it's", "b": true, "at": "2024-05-01T12:30:00Z", "doc": {"a": [1, 2]}}),
            json!({"id": 2, "n": null, "f": null, "s": null, "b": false, "at": null, "doc": null}),
        ])
        .await
        .unwrap();
    let seen = psql(
        &url,
        "SELECT id, n, f, s, b, at, doc, pg_typeof(n), pg_typeof(at) FROM kinds ORDER BY id",
    );
    assert_eq!(
        seen,
        "1|-7|2.5|it's|t|2024-05-01 12:30:00+00|{\"a\":[1,2]}|integer|timestamp with time zone\n\
         2||||f|||integer|timestamp with time zone\n"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_psql_writes_bindery_reads_with_its_types() {
    let (fx, url) = postgres_fixture_at().await;
    psql(
        &url,
        "CREATE TABLE made (id bigint PRIMARY KEY, n integer, f double precision, s text, b boolean, \
         at timestamptz, doc jsonb); \
         INSERT INTO made VALUES (1, 42, 0.125, 'x', true, '2024-05-01 12:30:00+02', '{\"k\": \"v\"}'), \
         (2, NULL, NULL, NULL, NULL, NULL, NULL);",
    );
    let schema = fx.ctx.table().schema("db://made").await.unwrap();
    assert_eq!(
        schema.to_string(),
        "id int64 NOT NULL, n int32, f float64, s string, b bool, at timestamp, doc json"
    );
    assert_eq!(schema.key, ["id"]);
    let b = fx.ctx.table().read("db://made").where_("id = 1").await.unwrap();
    assert_eq!(rows(&b), 1);
    let b = &b[0];
    assert_eq!(b.column(1).as_primitive::<Int32Type>().value(0), 42);
    assert_eq!(b.column(2).as_primitive::<Float64Type>().value(0), 0.125);
    assert_eq!(b.column(3).as_string::<i32>().value(0), "x");
    assert!(b.column(4).as_boolean().value(0));
    let at = b.column(5).as_primitive::<TimestampMicrosecondType>().value(0);
    assert_eq!(at, 1_714_559_400_000_000, "12:30+02 is 10:30 UTC");
    assert_eq!(b.column(6).as_string::<i32>().value(0), "{\"k\": \"v\"}");
    let nulls = fx
        .ctx
        .table()
        .read("db://made")
        .where_("n IS NULL")
        .await
        .unwrap();
    assert_eq!(rows(&nulls), 1);
    assert!((1..7).all(|c| nulls[0].column(c).is_null(0)));
    // And bindery writes to it, with its types.
    fx.ctx
        .table()
        .write("db://made")
        .with_items([json!({"id": 3, "n": 5})])
        .await
        .unwrap();
    assert_eq!(psql(&url, "SELECT n FROM made WHERE id = 3"), "5\n");
    // A column another client adds is seen at once (the schema cache follows the catalog).
    psql(&url, "ALTER TABLE made ADD COLUMN extra text DEFAULT 'e'");
    let schema = fx.ctx.table().schema("db://made").await.unwrap();
    assert_eq!(schema.columns.last().unwrap().name, "extra");
    let b = fx
        .ctx
        .table()
        .read("db://made")
        .select(["extra"])
        .where_("id = 1")
        .await
        .unwrap();
    assert_eq!(b[0].column(0).as_string::<i32>().value(0), "e");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wider_types_are_stored_as_native_postgresql_types() {
    let (fx, url) = postgres_fixture_at().await;
    let t = fx.ctx.table();
    t.create("db://wide")
        .schema(
            "id int16 NOT NULL, d decimal(9, 2), u uint64, tm time(ms), local timestamp(us, none), \
             paris timestamp(s, 'Europe/Paris'), tags list<string>",
        )
        .primary_key("id", None)
        .await
        .unwrap();
    t.write("db://wide")
        .with_items([
            json!({"id": 7, "d": "1234567.89", "u": 18446744073709551615u64, "tm": "23:59:59.999",
            "local": "2024-05-01T12:30:00", "paris": "2024-05-01T12:30:00+02:00", "tags": ["a", "b"]}),
        ])
        .await
        .unwrap();
    let seen = psql(
        &url,
        "SELECT id, d, u, tm, local, paris, tags, pg_typeof(id), pg_typeof(d), pg_typeof(u), pg_typeof(tm), \
         pg_typeof(local), pg_typeof(tags) FROM wide",
    );
    assert_eq!(
        seen,
        "7|1234567.89|18446744073709551615|23:59:59.999|2024-05-01 12:30:00|2024-05-01 10:30:00+00|[\"a\", \"b\"]|\
         smallint|numeric|numeric|time without time zone|timestamp without time zone|jsonb\n"
    );
    let e = t
        .create("db://fine")
        .schema("id int64, at timestamp(ns)")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("column 'at'") && e.to_string().contains("microseconds"),
        "{e}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foreign_tables_read_numeric_arrays_and_time_and_skip_what_bindery_lacks() {
    let (fx, url) = postgres_fixture_at().await;
    psql(
        &url,
        "CREATE TABLE foreign_kinds (id smallint PRIMARY KEY, price numeric(12, 3), any_num numeric, \
         tm time, local timestamp, ids bigint[], span interval); \
         INSERT INTO foreign_kinds VALUES (1, -12345.678, 0.1, '08:15:00.5', '2024-01-02 03:04:05', \
         '{1,NULL,3}', '1 day');",
    );
    let t = fx.ctx.table();
    let schema = t.schema("db://foreign_kinds").await.unwrap();
    let shown: Vec<String> = schema
        .columns
        .iter()
        .map(|c| format!("{} {}", c.name, c.column_type))
        .collect();
    assert_eq!(
        shown[..6],
        [
            "id int16",
            "price decimal(12, 3)",
            "any_num float64",
            "tm time",
            "local timestamp(us, none)",
            "ids list<int64>"
        ]
    );
    // The interval column is left out; asked for, it is refused by name.
    let e = t.read("db://foreign_kinds").await.unwrap_err();
    assert!(
        e.to_string().contains("'span'") && e.to_string().contains("select"),
        "{e}"
    );
    let b = t
        .read("db://foreign_kinds")
        .select(["id", "price", "any_num", "tm", "local", "ids"])
        .where_("price < -12345.6")
        .await
        .unwrap();
    assert_eq!(rows(&b), 1);
    let shown: Vec<String> = (0..6)
        .map(|c| bindery::arrow::util::display::array_value_to_string(b[0].column(c), 0).unwrap())
        .collect();
    assert_eq!(
        shown,
        [
            "1",
            "-12345.678",
            "0.1",
            "08:15:00.500",
            "2024-01-02T03:04:05",
            "[1, , 3]"
        ]
    );
}

/// Runs the test server's `pg_ctl` with `args`.
fn pg_ctl(args: &str) {
    let ctl = std::env::var("BINDERY_PG_CTL").expect("BINDERY_PG_CTL is set by scripts/test");
    let status = Command::new("sh")
        .args(["-c", &format!("{ctl} {args} >/dev/null")])
        .status()
        .unwrap();
    assert!(status.success(), "pg_ctl {args}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_gives_retryable_errors_then_service_and_no_half_write() {
    let (fx, _url) = postgres_fixture_at().await;
    let t = fx.ctx.table();
    t.create("db://r")
        .schema("id int64 NOT NULL, v string")
        .primary_key("id", None)
        .await
        .unwrap();
    t.write("db://r")
        .with_items([json!({"id": 0, "v": "before"})])
        .await
        .unwrap();

    pg_ctl("-m fast -w stop");
    let e = t.read("db://r").await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    pg_ctl("-w start");
    let b = t.read("db://r").await.unwrap();
    assert_eq!(rows(&b), 1, "served again after the restart");

    // A large write cut off by an immediate shutdown is all there or not at all.
    let items: Vec<_> = (1..=100_000)
        .map(|i| json!({"id": i, "v": "x".repeat(20)}))
        .collect();
    let write = tokio::spawn({
        let ctx = fx.ctx.clone();
        async move { ctx.table().write("db://r").with_items(items).await }
    });
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    pg_ctl("-m immediate -w stop");
    let outcome = write.await.unwrap();
    pg_ctl("-w start");
    let n = rows(&t.read("db://r").select(["id"]).await.unwrap());
    match outcome {
        Ok(written) => assert_eq!((written, n), (100_000, 100_001)),
        Err(e) => {
            assert!(e.is_retryable(), "{e}");
            assert_eq!(n, 1, "a refused write left {} rows behind", n - 1);
        }
    }
    let got = t.read("db://r").key([0]).await.unwrap();
    assert_eq!(got[0].column(0).as_primitive::<Int64Type>().value(0), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_write_goes_through_copy_with_every_type() {
    let (fx, url) = postgres_fixture_at().await;
    let t = fx.ctx.table();
    t.create("db://bulk")
        .schema(
            "id int64 NOT NULL, n int32, r float32, f float64, s string, b bool, at timestamp, d date, \
             raw binary, doc json",
        )
        .primary_key("id", None)
        .await
        .unwrap();
    // Over the COPY threshold, with a key given twice: the later item wins, as one by one.
    let mut items: Vec<_> = (0..3000)
        .map(|i| {
            json!({"id": i, "n": i, "r": 0.5, "f": i as f64 / 4.0, "s": format!("s{i}"), "b": i % 2 == 0,
                   "at": "2024-05-01T12:30:00.000001Z", "d": "2024-02-29", "raw": [1, 2, 3], "doc": {"i": i}})
        })
        .collect();
    items.push(
        json!({"id": 5, "n": -5, "r": null, "f": null, "s": "again", "b": null, "at": null,
                      "d": null, "raw": null, "doc": null}),
    );
    assert_eq!(t.write("db://bulk").with_items(items).await.unwrap(), 3001);
    assert_eq!(psql(&url, "SELECT count(*) FROM bulk"), "3000\n");
    assert_eq!(
        psql(&url, "SELECT id, n, r, f, s, b, at, d, encode(raw, 'hex'), doc FROM bulk WHERE id IN (5, 7) ORDER BY id"),
        "5|-5|||again|||||\n7|7|0.5|1.75|s7|f|2024-05-01 12:30:00.000001+00|2024-02-29|010203|{\"i\":7}\n"
    );
    // A bulk write over keys already there upserts them (COPY into a temporary table, then
    // INSERT … ON CONFLICT), keeping the columns it does not give.
    let again: Vec<_> = (2500..5000)
        .map(|i| json!({"id": i, "s": format!("new{i}")}))
        .collect();
    assert_eq!(t.write("db://bulk").with_items(again).await.unwrap(), 2500);
    assert_eq!(psql(&url, "SELECT count(*) FROM bulk"), "5000\n");
    assert_eq!(
        psql(
            &url,
            "SELECT id, n, s FROM bulk WHERE id IN (2499, 2500, 4999) ORDER BY id"
        ),
        "2499|2499|s2499\n2500|2500|new2500\n4999||new4999\n"
    );
}

/// A context whose `db` binding is `postgres` at `url` with extra option lines.
async fn context_at(url: &str, options: &str) -> Result<bindery::Context, bindery::Error> {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!(
        "metadata:\n  name: tls\nspec:\n  dataBindings:\n    db:\n      kind: table\n      driver: postgres\n      url: {url}\n      secret: {{ env: BINDERY_PG_PASSWORD }}\n{options}"
    );
    std::fs::write(dir.path().join("function.yaml"), spec).unwrap();
    bindery::Context::connect(dir.path().join("function.yaml")).await
}

async fn encrypted(ctx: &bindery::Context) -> bool {
    let b = ctx
        .table()
        .read("db://x")
        .sql("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .await
        .unwrap();
    b[0].column(0).as_boolean().value(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_is_used_when_asked_and_the_certificate_checked() {
    let (_fx, url) = postgres_fixture_at().await;
    let ca = std::env::var("BINDERY_PG_CA").expect("BINDERY_PG_CA is set by scripts/test");
    let verified = context_at(
        &format!("{url}?sslmode=require"),
        &format!("      options:\n        tls.ca_file: {ca}\n"),
    )
    .await
    .unwrap();
    assert!(encrypted(&verified).await, "sslmode=require with a CA: encrypted");
    let plain = context_at(&format!("{url}?sslmode=disable"), "").await.unwrap();
    assert!(!encrypted(&plain).await, "sslmode=disable: plain TCP");
    // A certificate signed by another CA is refused at connect, saying so.
    let other = tempfile::tempdir().unwrap();
    let other_ca = other.path().join("other.pem");
    let made = Command::new("openssl")
        .args([
            "req",
            "-new",
            "-x509",
            "-days",
            "1",
            "-nodes",
            "-subj",
            "/CN=other",
        ])
        .args([
            "-keyout",
            other.path().join("k").to_str().unwrap(),
            "-out",
            other_ca.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert!(made.status.success());
    let Err(e) = context_at(
        &format!("{url}?sslmode=require"),
        &format!("      options:\n        tls.ca_file: {}\n", other_ca.display()),
    )
    .await
    else {
        panic!("a server certificate of another CA was accepted");
    };
    assert!(e.to_string().contains("certificate"), "{e}");
}

/// A watch sees rows `psql` inserts, updates and deletes; a watcher (a process of its own)
/// killed with SIGKILL while `psql` commits row after row, and started again from the last
/// cursor it printed, misses nothing and repeats nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psql_changes_are_watched_and_a_killed_watcher_resumes() {
    use bindery_tests::watch_suite::created_ids;
    use std::io::BufRead;
    let (fx, url) = postgres_fixture_at().await;
    bindery_tests::create_table(&fx.ctx, "db://ev", "id int64 NOT NULL, v string", "id").await;
    let spec = fx.dir.path().join("function.yaml");
    let watcher = move |cursor: Option<&str>| {
        let mut cmd = Command::new(bindery_tests::test_bin("watch-printer"));
        cmd.arg(&spec).args(["table", "db://ev"]).args(cursor);
        let mut child = cmd.stdout(std::process::Stdio::piped()).spawn().unwrap();
        let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
        assert_eq!(lines.next().unwrap().unwrap(), "ready");
        let changes = lines.map(|l| serde_json::from_str::<serde_json::Value>(&l.unwrap()).unwrap());
        (child, changes)
    };
    let url2 = url.clone();
    tokio::task::spawn_blocking(move || {
        let (mut first, mut changes) = watcher(None);
        // 300 rows, each its own transaction.
        let writer = std::thread::spawn(move || {
            psql(
                &url2,
                "DO $$ BEGIN FOR i IN 1..300 LOOP INSERT INTO ev VALUES (i, 'r' || i); COMMIT; END LOOP; END $$",
            )
        });
        let (mut seen, cursor) = created_ids(&mut changes, 100);
        first.kill().unwrap(); // SIGKILL
        first.wait().unwrap();
        writer.join().unwrap();
        let (mut second, mut changes) = watcher(Some(&cursor));
        seen.extend(created_ids(&mut changes, 200).0);
        assert_eq!(seen, (1..=300).collect::<Vec<u64>>(), "every row once, in order");
        psql(&url, "UPDATE ev SET v = 'x' WHERE id = 1; DELETE FROM ev WHERE id = 2");
        let (updated, deleted) = (changes.next().unwrap(), changes.next().unwrap());
        assert_eq!(
            (&updated["kind"], &updated["path"], &updated["row"]["v"], &updated["before"]["v"]),
            (&json!("updated"), &json!("1"), &json!("x"), &json!("r1"))
        );
        assert_eq!(
            (&deleted["kind"], &deleted["path"], &deleted["before"]["v"]),
            (&json!("deleted"), &json!("2"), &json!("r2"))
        );
        assert!(deleted.get("row").is_none(), "{deleted}");
        second.kill().unwrap();
        second.wait().unwrap();
    })
    .await
    .unwrap();
}

/// The change table keeps `watch.retention` changes: a cursor older than that resyncs. A
/// table dropped and made again by `psql` resyncs a watcher, which goes on watching it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_change_table_keeps_its_retention_and_a_remade_table_resyncs() {
    let (fx, url) =
        bindery_tests::postgres_fixture_with("      options:\n        watch.retention: \"10\"\n").await;
    let ctx = fx.ctx.clone();
    bindery_tests::create_table(&ctx, "db://t", "id int64 NOT NULL", "id").await;
    tokio::task::spawn_blocking(move || {
        use bindery::ChangeKind;
        use bindery_tests::watch_suite::{assert_resynced_to, kinds, until, watch_a_write};
        let wait = std::time::Duration::from_secs(10);
        let (mut w, first) = watch_a_write(&ctx, "db://t", json!({"id": 0}));
        psql(
            &url,
            "DO $$ BEGIN FOR i IN 1..600 LOOP INSERT INTO t VALUES (i); COMMIT; END LOOP; END $$",
        );
        let kept: u64 = psql(&url, "SELECT count(*) FROM _bindery_changes")
            .trim()
            .parse()
            .unwrap();
        assert!(kept <= 10 + 256, "the change table keeps {kept} changes");
        let mut old = ctx.table().watch("db://t").from_("cursor", &first.cursor).load();
        let got = until(&mut old, wait, |g| {
            g.last().is_some_and(|c| c.kind == ChangeKind::Synced)
        });
        assert_eq!(got[0].kind, ChangeKind::Resync);
        assert_eq!(got.len(), 1 + 601 + 1, "resync, every row, synced");
        // The first watcher has had all 600 and sees the table made again.
        assert_eq!(until(&mut w, wait, |g| g.len() == 600).len(), 600);
        psql(
            &url,
            "DROP TABLE t; CREATE TABLE t (id bigint PRIMARY KEY); INSERT INTO t VALUES (7)",
        );
        assert_resynced_to(&mut w, "7");
        psql(&url, "INSERT INTO t VALUES (8)");
        assert_eq!(
            kinds(&until(&mut w, wait, |g| !g.is_empty())),
            [(ChangeKind::Created, "8")]
        );
    })
    .await
    .unwrap();
}

/// A table dropped and made again is a `resync` for every watcher of it, also for those that
/// find the watch trigger already back (another watcher, here or in another process, put it
/// there first), since what happened before that is not in the change table.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_watcher_of_a_table_made_again_resyncs() {
    let (fx, url) = bindery_tests::postgres_fixture_with("").await;
    let ctx = fx.ctx.clone();
    bindery_tests::create_table(&ctx, "db://remade", "id int64 NOT NULL", "id").await;
    tokio::task::spawn_blocking(move || {
        use bindery_tests::watch_suite::assert_resynced_to;
        let mut watchers: Vec<_> = (0..3).map(|_| ctx.table().watch("db://remade").load()).collect();
        for w in &mut watchers {
            w.ready();
        }
        psql(
            &url,
            "DROP TABLE remade; CREATE TABLE remade (id bigint PRIMARY KEY); INSERT INTO remade VALUES (7)",
        );
        for w in &mut watchers {
            assert_resynced_to(w, "7");
        }
    })
    .await
    .unwrap();
}
