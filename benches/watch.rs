//! Watching (issue 22): how long from a change made by another program to the change in the
//! watcher's hands, and how fast a burst is reported, each against the backend's own
//! notification in the same run:
//! - `fs`: a file written, against an inotify watcher (the `notify` crate, which the driver
//!   itself uses) receiving the event for the same kind of file;
//! - `sqlite`: a row committed by another connection, against a connection reading
//!   `PRAGMA data_version` every millisecond (SQLite notifies no other connection);
//! - `postgres` (on the server `BINDERY_PG_URL` names; `benches/run` starts one): a row
//!   inserted by another client, against a LISTEN connection of tokio-postgres receiving the
//!   NOTIFY a plain insert sends in its transaction. The driver's trigger does that too, and
//!   more: it logs the row (as JSON) in the change table, and the watcher reads it from there.
//!
//! The driver waits 20 ms after the first event of a batch before it looks at the files (an
//! `echo >` is a create, a write and a close: one change, not three), so its latency is at
//! least that window above inotify's; the burst shows what it costs per file. (This bench
//! found the watch thread walking a folder again after every batch: walking opens the
//! folder, and the open was taken for a change. Reads are ignored since.)
//!
//! Run with `cargo bench -p bindery-benches --bench watch`.

use std::path::Path;
use std::time::{Duration, Instant};

use bindery::{ChangeKind, Context};
use bindery_benches::{table_header, Case};
use notify::{RecursiveMode, Watcher};

const ROUNDS: usize = 5;
const LATENCY_SAMPLES: usize = 50;
const BURST: usize = 10_000;

fn spec(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("function.yaml");
    std::fs::write(
        &file,
        "metadata:\n  name: bench\nspec:\n  dataBindings:\n    files:\n      driver: fs\n      url: ./data\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.join("data")).unwrap();
    file
}

/// A raw inotify watcher on `folder`: a receiver of the paths of created or written files.
fn raw(folder: &Path) -> (notify::RecommendedWatcher, flume::Receiver<std::path::PathBuf>) {
    let (tx, rx) = flume::unbounded();
    let mut w = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if let Ok(e) = e {
            if matches!(e.kind, notify::EventKind::Create(_)) {
                for p in e.paths {
                    let _ = tx.send(p);
                }
            }
        }
    })
    .unwrap();
    w.watch(folder, RecursiveMode::Recursive).unwrap();
    (w, rx)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// The 99th percentile (with 50 samples: the worst but one).
fn p99(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[(v.len() * 99 / 100).min(v.len() - 1)]
}

/// Latencies as two cases, p50 and p99 (a higher number is better, so inverted: changes/s).
fn add_latency(p50: &mut Case, tail: &mut Case, ours: Vec<Duration>, theirs: Vec<Duration>) {
    p50.add(
        1.0 / median(ours.clone()).as_secs_f64(),
        1.0 / median(theirs.clone()).as_secs_f64(),
    );
    tail.add(1.0 / p99(ours).as_secs_f64(), 1.0 / p99(theirs).as_secs_f64());
}

fn main() {
    let dir = tempfile::tempdir().unwrap();
    let ctx = Context::open(spec(dir.path())).unwrap();
    let folder = std::fs::canonicalize(dir.path().join("data")).unwrap();
    // The baseline's files are outside the binding's folder, so bindery's watch thread never
    // sees them (its work would otherwise slow the next rounds).
    let outside = dir.path().join("raw");
    std::fs::create_dir_all(&outside).unwrap();
    let outside = std::fs::canonicalize(outside).unwrap();
    table_header("Watch (fs)");
    let mut latency = Case::default();
    let mut latency99 = Case::default();
    let mut burst = Case::default();
    for round in 0..ROUNDS {
        // Latency: one file at a time, the next written once the last was seen.
        let mut watcher = ctx.object().watch("files://").load();
        watcher.ready();
        let mut ours = Vec::new();
        for i in 0..LATENCY_SAMPLES {
            let name = format!("l{round}-{i}");
            let t = Instant::now();
            std::fs::write(folder.join(&name), b"x").unwrap();
            // (Changes of the files written before, by the baseline too, may come first.)
            loop {
                let c = watcher.next().unwrap().unwrap();
                if c.kind == ChangeKind::Created && c.path == name {
                    break;
                }
            }
            ours.push(t.elapsed());
        }
        watcher.close();
        let (w, rx) = raw(&outside);
        let mut theirs = Vec::new();
        for i in 0..LATENCY_SAMPLES {
            let t = Instant::now();
            let name = outside.join(format!("r{round}-{i}"));
            std::fs::write(&name, b"x").unwrap();
            while rx.recv().unwrap() != name {}
            theirs.push(t.elapsed());
        }
        drop(w);
        add_latency(&mut latency, &mut latency99, ours, theirs);

        // Burst: BURST files created at once; files per second until every one was seen.
        let sub = folder.join(format!("burst{round}"));
        std::fs::create_dir_all(&sub).unwrap();
        let mut watcher = ctx.object().watch(format!("files://burst{round}/")).load();
        watcher.ready();
        let t = Instant::now();
        for i in 0..BURST {
            std::fs::write(sub.join(format!("b{i}")), b"").unwrap();
        }
        let mut seen = std::collections::HashSet::new();
        while seen.len() < BURST {
            let c = watcher.next().unwrap().unwrap();
            match c.kind {
                ChangeKind::Created => {
                    seen.insert(c.path);
                }
                ChangeKind::Resync => seen.clear(),
                _ => {}
            }
        }
        let ours = BURST as f64 / t.elapsed().as_secs_f64();
        watcher.close();
        let sub = outside.join(format!("burst{round}"));
        std::fs::create_dir_all(&sub).unwrap();
        let (w, rx) = raw(&sub);
        let t = Instant::now();
        for i in 0..BURST {
            std::fs::write(sub.join(format!("b{i}")), b"").unwrap();
        }
        for _ in 0..BURST {
            rx.recv().unwrap();
        }
        let theirs = BURST as f64 / t.elapsed().as_secs_f64();
        drop(w);
        burst.add(ours, theirs);
    }
    latency.report(
        "fs watch: a file written → its change (1 / p50 latency)",
        "changes/s",
        "inotify via notify",
    );
    latency99.report(
        "fs watch: a file written → its change (1 / p99 latency)",
        "changes/s",
        "inotify via notify",
    );
    burst.report(
        "fs watch: 10,000 files created at once, all reported",
        "files/s",
        "inotify via notify",
    );
    sqlite();
    postgres();
}

/// The `sqlite` cases: rows committed by another connection (rusqlite), against the
/// quickest that connection's commits can be seen without bindery: a connection of its own
/// reading `PRAGMA data_version` every millisecond (SQLite has no notification), then the row.
fn sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("w.db");
    std::fs::write(
        dir.path().join("function.yaml"),
        "spec:\n  dataBindings:\n    db:\n      kind: table\n      driver: sqlite\n      url: ./w.db\n",
    )
    .unwrap();
    let ctx = Context::open(dir.path().join("function.yaml")).unwrap();
    ctx.table()
        .create("db://w")
        .schema("id int64 NOT NULL")
        .primary_key("id", None)
        .do_()
        .unwrap();
    let writer = rusqlite::Connection::open(&file).unwrap();
    writer
        .execute_batch("CREATE TABLE raw (id INTEGER PRIMARY KEY)")
        .unwrap();
    let poller = rusqlite::Connection::open(&file).unwrap();
    let version =
        |c: &rusqlite::Connection| -> i64 { c.query_row("PRAGMA data_version", [], |r| r.get(0)).unwrap() };
    // Waits (polling every millisecond) until `raw` holds `id`: reads the rows whenever
    // `data_version` differs from what it was (`before`, read before the commit).
    let seen = |id: i64, before: i64| {
        let mut v = Some(before);
        loop {
            let now = Some(version(&poller));
            if now != v {
                v = now;
                let max: Option<i64> = poller
                    .query_row("SELECT max(id) FROM raw", [], |r| r.get(0))
                    .unwrap();
                if max >= Some(id) {
                    return;
                }
            }
            std::thread::sleep(Duration::from_millis(1));
        }
    };
    table_header("Watch (sqlite)");
    let (mut latency, mut latency99, mut burst) = (Case::default(), Case::default(), Case::default());
    let mut next_id = 0i64;
    for _ in 0..ROUNDS {
        let mut watcher = ctx.table().watch("db://w").load();
        watcher.ready();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..LATENCY_SAMPLES {
            next_id += 1;
            let t = Instant::now();
            writer.execute("INSERT INTO w VALUES (?1)", [next_id]).unwrap();
            let key = next_id.to_string();
            while watcher.next().unwrap().unwrap().path != key {}
            ours.push(t.elapsed());
            let before = version(&poller);
            let t = Instant::now();
            writer.execute("INSERT INTO raw VALUES (?1)", [next_id]).unwrap();
            seen(next_id, before);
            theirs.push(t.elapsed());
        }
        add_latency(&mut latency, &mut latency99, ours, theirs);
        let first = next_id + 1;
        next_id += BURST as i64;
        let fill = |table: &str| {
            writer
                .execute_batch(&format!(
                    "WITH RECURSIVE s(v) AS (SELECT {first} UNION ALL SELECT v + 1 FROM s WHERE v < {next_id}) \
                     INSERT INTO {table} SELECT v FROM s"
                ))
                .unwrap()
        };
        let t = Instant::now();
        fill("w");
        let last = next_id.to_string();
        while watcher.next().unwrap().unwrap().path != last {}
        let ours = BURST as f64 / t.elapsed().as_secs_f64();
        watcher.close();
        let before = version(&poller);
        let t = Instant::now();
        fill("raw");
        seen(next_id, before);
        let rows: i64 = poller
            .query_row(
                &format!("SELECT count(*) FROM raw WHERE id >= {first}"),
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(rows, BURST as i64);
        let theirs = BURST as f64 / t.elapsed().as_secs_f64();
        burst.add(ours, theirs);
    }
    latency.report(
        "sqlite watch: a row committed by another connection → its change (1 / p50 latency)",
        "changes/s",
        "data_version read every ms",
    );
    latency99.report(
        "sqlite watch: the same (1 / p99 latency)",
        "changes/s",
        "data_version read every ms",
    );
    burst.report(
        "sqlite watch: 10,000 rows in one transaction, all reported",
        "rows/s",
        "data_version read every ms, then the rows counted",
    );
}

/// The `postgres` cases, when `BINDERY_PG_URL` names a server.
fn postgres() {
    let Some((ctx, _dir, config)) = bindery_benches::postgres_binding() else {
        return;
    };
    let rt = bindery_benches::runtime(2);
    let (client, _listener, notes) = rt.block_on(async {
        let (client, connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        tokio::spawn(connection);
        let (listener, mut connection) = config.connect(tokio_postgres::NoTls).await.unwrap();
        let (tx, rx) = flume::unbounded::<String>();
        tokio::spawn(async move {
            let mut messages = futures::stream::poll_fn(move |cx| connection.poll_message(cx));
            while let Some(Ok(m)) = futures::StreamExt::next(&mut messages).await {
                if let tokio_postgres::AsyncMessage::Notification(n) = m {
                    let _ = tx.send(n.payload().to_string());
                }
            }
        });
        listener.batch_execute("LISTEN bench_raw").await.unwrap();
        (client, listener, rx)
    });
    let sql = |q: String| rt.block_on(client.batch_execute(&q)).unwrap();
    sql(
        "DROP TABLE IF EXISTS bench_watch; DROP TABLE IF EXISTS bench_raw; \
         CREATE TABLE bench_raw (id bigint PRIMARY KEY)"
            .into(),
    );
    ctx.table()
        .create("db://bench_watch")
        .schema("id int64 NOT NULL")
        .primary_key("id", None)
        .do_()
        .unwrap();
    table_header("Watch (postgres)");
    let mut latency = Case::default();
    let mut latency99 = Case::default();
    let mut burst = Case::default();
    let mut next_id = 0i64;
    for _ in 0..ROUNDS {
        let mut watcher = ctx.table().watch("db://bench_watch").load();
        watcher.ready();
        let mut ours = Vec::new();
        for _ in 0..LATENCY_SAMPLES {
            next_id += 1;
            let t = Instant::now();
            sql(format!("INSERT INTO bench_watch VALUES ({next_id})"));
            let key = next_id.to_string();
            while watcher.next().unwrap().unwrap().path != key {}
            ours.push(t.elapsed());
        }
        let mut theirs = Vec::new();
        for _ in 0..LATENCY_SAMPLES {
            next_id += 1;
            let t = Instant::now();
            sql(format!(
                "BEGIN; INSERT INTO bench_raw VALUES ({next_id}); SELECT pg_notify('bench_raw', '{next_id}'); COMMIT"
            ));
            let key = next_id.to_string();
            while notes.recv().unwrap() != key {}
            theirs.push(t.elapsed());
        }
        add_latency(&mut latency, &mut latency99, ours, theirs);
        // Burst: BURST rows in one statement, every change reported.
        let first = next_id + 1;
        next_id += BURST as i64;
        let t = Instant::now();
        sql(format!(
            "INSERT INTO bench_watch SELECT generate_series({first}, {next_id})"
        ));
        let last = next_id.to_string();
        while watcher.next().unwrap().unwrap().path != last {}
        let ours = BURST as f64 / t.elapsed().as_secs_f64();
        watcher.close();
        let t = Instant::now();
        sql(format!(
            "BEGIN; INSERT INTO bench_raw SELECT generate_series({first}, {next_id}); \
             SELECT pg_notify('bench_raw', g::text) FROM generate_series({first}, {next_id}) g; COMMIT"
        ));
        while notes.recv().unwrap() != last {}
        let theirs = BURST as f64 / t.elapsed().as_secs_f64();
        burst.add(ours, theirs);
    }
    latency.report(
        "postgres watch: a row inserted by another client → its change (1 / p50 latency)",
        "changes/s",
        "LISTEN/NOTIFY (tokio-postgres)",
    );
    latency99.report(
        "postgres watch: the same (1 / p99 latency)",
        "changes/s",
        "LISTEN/NOTIFY (tokio-postgres)",
    );
    burst.report(
        "postgres watch: 10,000 rows inserted in one statement, all reported",
        "rows/s",
        "10,000 NOTIFYs in one transaction",
    );
    sql("DROP TABLE IF EXISTS bench_raw".into());
    let _ = ctx.table().drop("db://bench_watch").do_();
}
