//! The sqlite table watch sees what other programs do to the database (Python's `sqlite3`
//! inserting, updating and deleting; a table made, dropped and made again outside bindery),
//! and its change log stays within `watch.retention`, an older cursor resyncing.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use bindery::{Change, ChangeKind, Context};
use bindery_tests::watch_suite::{assert_resynced_to, until, watch_a_write};
use bindery_tests::{table_fixture, Fixture};
use serde_json::{json, Value};

async fn setup(options: &str) -> (Fixture, PathBuf) {
    let fx = table_fixture("sqlite", &format!("      url: ./data.db\n{options}")).await;
    let file = fx.dir.path().join("data.db");
    (fx, file)
}

/// Runs Python's `sqlite3` on the database: `script` is Python with `db` the connection
/// (committed at the end).
fn python(file: &Path, script: &str) {
    let program = format!(
        "import sqlite3, sys\ndb = sqlite3.connect(sys.argv[1], timeout=10)\n{script}\ndb.commit()\ndb.close()\n"
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(&program)
        .arg(file)
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Creates table `t`, its key `id` its only column.
async fn create_ids(ctx: &Context) {
    bindery_tests::create_table(ctx, "db://t", "id int64 NOT NULL", "id").await;
}

fn kinds(cs: &[Change]) -> Vec<(ChangeKind, String)> {
    cs.iter().map(|c| (c.kind, c.path.clone())).collect()
}

fn row(text: &Option<String>) -> Value {
    serde_json::from_str(text.as_deref().expect("a row")).unwrap()
}

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_changed_by_python_are_seen_with_their_rows() {
    let (fx, file) = setup("").await;
    let ctx = fx.ctx.clone();
    bindery_tests::create_table(
        &ctx,
        "db://people",
        "id int64 NOT NULL, name string, ok bool",
        "id",
    )
    .await;
    tokio::task::spawn_blocking(move || {
        let mut w = ctx.table().watch("db://people").load();
        w.ready();
        python(
            &file,
            "db.execute(\"INSERT INTO people VALUES (1, 'ana', 1), (2, 'bob', 0)\")\ndb.commit()\n\
             db.execute(\"UPDATE people SET name = 'ann' WHERE id = 1\")\ndb.commit()\n\
             db.execute('DELETE FROM people WHERE id = 2')",
        );
        let got = until(&mut w, WAIT, |g| g.len() == 4);
        assert_eq!(
            kinds(&got),
            [
                (ChangeKind::Created, "1".into()),
                (ChangeKind::Created, "2".into()),
                (ChangeKind::Updated, "1".into()),
                (ChangeKind::Deleted, "2".into()),
            ]
        );
        assert_eq!(row(&got[0].row), json!({"id": 1, "name": "ana", "ok": true}));
        assert_eq!(row(&got[2].row), json!({"id": 1, "name": "ann", "ok": true}));
        assert_eq!(row(&got[2].before), json!({"id": 1, "name": "ana", "ok": true}));
        assert!(got[3].row.is_none());
        assert_eq!(row(&got[3].before), json!({"id": 2, "name": "bob", "ok": false}));
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_table_made_dropped_and_made_again_elsewhere_is_watched() {
    let (fx, file) = setup("").await;
    python(
        &file,
        "db.execute('CREATE TABLE ext (k TEXT PRIMARY KEY, v INTEGER)')",
    );
    let ctx = fx.ctx.clone();
    tokio::task::spawn_blocking(move || {
        let mut w = ctx.table().watch("db://ext").load();
        w.ready();
        python(&file, "db.execute(\"INSERT INTO ext VALUES ('a', 1)\")");
        let got = until(&mut w, WAIT, |g| !g.is_empty());
        assert_eq!(kinds(&got), [(ChangeKind::Created, "a".into())]);
        assert_eq!(row(&got[0].row), json!({"k": "a", "v": 1}));
        // Dropped and made again: its triggers went with it, so the watch starts over.
        python(
            &file,
            "db.execute('DROP TABLE ext')\ndb.execute('CREATE TABLE ext (k TEXT PRIMARY KEY, v INTEGER)')\n\
             db.execute(\"INSERT INTO ext VALUES ('b', 2)\")",
        );
        assert_resynced_to(&mut w, "b");
        python(&file, "db.execute(\"INSERT INTO ext VALUES ('c', 3)\")");
        let got = until(&mut w, WAIT, |g| !g.is_empty());
        assert_eq!(kinds(&got), [(ChangeKind::Created, "c".into())]);
    })
    .await
    .unwrap();
}

/// Every watcher of a table dropped and made again starts over, also those that find the
/// triggers already back (another watcher, of this context or of another one, put them back
/// first).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_watcher_of_a_table_made_again_resyncs() {
    let (fx, file) = setup("").await;
    python(&file, "db.execute('CREATE TABLE ext (k TEXT PRIMARY KEY)')");
    let other = fx.reopen().await;
    let ctx = fx.ctx.clone();
    tokio::task::spawn_blocking(move || {
        let mut watchers: Vec<_> = (0..3).map(|_| ctx.table().watch("db://ext").load()).collect();
        watchers.push(other.table().watch("db://ext").load());
        for w in &mut watchers {
            w.ready();
        }
        python(
            &file,
            "db.execute('DROP TABLE ext')\ndb.execute('CREATE TABLE ext (k TEXT PRIMARY KEY)')\n\
             db.execute(\"INSERT INTO ext VALUES ('b')\")",
        );
        for w in &mut watchers {
            assert_resynced_to(w, "b");
        }
        python(&file, "db.execute(\"INSERT INTO ext VALUES ('c')\")");
        for w in &mut watchers {
            let got = until(w, WAIT, |g| !g.is_empty());
            assert_eq!(kinds(&got), [(ChangeKind::Created, "c".into())]);
        }
    })
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_log_keeps_its_retention_and_an_older_cursor_resyncs() {
    let (fx, file) = setup("      options:\n        watch.retention: \"10\"\n").await;
    let ctx = fx.ctx.clone();
    create_ids(&ctx).await;
    let first = tokio::task::spawn_blocking({
        let ctx = ctx.clone();
        move || watch_a_write(&ctx, "db://t", json!({"id": 0})).1
    })
    .await
    .unwrap();
    // 600 more changes, each its own transaction, by another program.
    python(
        &file,
        "for i in range(1, 601):\n    db.execute('INSERT INTO t VALUES (?)', (i,))\n    db.commit()",
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg("import sqlite3, sys; print(sqlite3.connect(sys.argv[1]).execute('SELECT count(*) FROM _bindery_changes').fetchone()[0])")
        .arg(&file)
        .output()
        .unwrap();
    let kept: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(kept <= 10 + 256, "the log keeps {kept} changes");
    tokio::task::spawn_blocking(move || {
        let mut w = ctx.table().watch("db://t").from_("cursor", &first.cursor).load();
        let got = until(&mut w, WAIT, |g| {
            g.last().is_some_and(|c| c.kind == ChangeKind::Synced)
        });
        assert_eq!(got[0].kind, ChangeKind::Resync);
        assert_eq!(got.len(), 1 + 601 + 1, "resync, every row, synced");
    })
    .await
    .unwrap();
}

/// A watch of another binding's context on the same file: cursors are the database's, so a
/// watcher resumes on a context (or process) other than the one that handed it out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_resumes_on_another_connection() {
    let (fx, _file) = setup("").await;
    let ctx = fx.ctx.clone();
    create_ids(&ctx).await;
    let other: Context = fx.reopen().await;
    tokio::task::spawn_blocking(move || {
        let mut w = ctx.table().watch("db://t").load();
        w.ready();
        for id in 1..=3 {
            ctx.table()
                .write("db://t")
                .with_items([json!({ "id": id })])
                .do_()
                .unwrap();
        }
        let got = until(&mut w, WAIT, |g| g.len() == 3);
        let mut again = other
            .table()
            .watch("db://t")
            .from_("cursor", &got[0].cursor)
            .load();
        let rest = until(&mut again, WAIT, |g| g.len() == 2);
        assert_eq!(
            kinds(&rest),
            [
                (ChangeKind::Created, "2".into()),
                (ChangeKind::Created, "3".into())
            ]
        );
    })
    .await
    .unwrap();
}
