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
//! - `files`: one-row files another program drops into a table's folder, against inotify
//!   seeing such files appear;
//! - `s3` (on the Garage server `BINDERY_GARAGE_URL` names): objects put by the AWS SDK,
//!   against listing the prefix back to back until they show (Garage sends no notifications).
//!
//! Run with `benches/run watch` (it starts the servers).

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

/// A driver's three cases: latency at p50 and p99 (a higher number is better, so inverted:
/// changes/s) and a burst's rate.
#[derive(Default)]
struct Cases {
    p50: Case,
    p99: Case,
    burst: Case,
}

impl Cases {
    /// One round's latencies.
    fn latency(&mut self, ours: Vec<Duration>, theirs: Vec<Duration>) {
        self.p50.add(
            1.0 / median(ours.clone()).as_secs_f64(),
            1.0 / median(theirs.clone()).as_secs_f64(),
        );
        self.p99
            .add(1.0 / p99(ours).as_secs_f64(), 1.0 / p99(theirs).as_secs_f64());
    }

    /// Prints the three rows: `latency` names the change (" (1 / latency" is told as p50 and
    /// p99), `burst` is (case, unit, baseline).
    fn report(&self, latency: &str, baseline: &str, burst: (&str, &str, &str)) {
        for (case, q) in [(&self.p50, "p50"), (&self.p99, "p99")] {
            case.report(
                &latency.replace("1 / latency", &format!("1 / {q} latency")),
                "changes/s",
                baseline,
            );
        }
        self.burst.report(burst.0, burst.1, burst.2);
    }
}

/// Takes changes until `n` distinct paths starting with `under` were created (a resync starts
/// the count over), then closes the watcher; the rate since `t`.
fn all_created(mut watcher: bindery::Watcher, n: usize, under: &str, t: Instant) -> f64 {
    let mut seen = std::collections::HashSet::new();
    while seen.len() < n {
        let c = watcher.next().unwrap().unwrap();
        match c.kind {
            ChangeKind::Created if c.path.starts_with(under) => {
                seen.insert(c.path);
            }
            ChangeKind::Resync => seen.clear(),
            _ => {}
        }
    }
    let rate = n as f64 / t.elapsed().as_secs_f64();
    watcher.close();
    rate
}

/// The baseline's burst: `write(i)` for each of `n` files, then `n` events from `rx`; the
/// rate.
fn raw_burst<T>(rx: &flume::Receiver<T>, n: usize, write: impl FnMut(usize)) -> f64 {
    let t = Instant::now();
    (0..n).for_each(write);
    for _ in 0..n {
        rx.recv().unwrap();
    }
    n as f64 / t.elapsed().as_secs_f64()
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
    let mut cases = Cases::default();
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
        cases.latency(ours, theirs);

        // Burst: BURST files created at once; files per second until every one was seen.
        let sub = folder.join(format!("burst{round}"));
        std::fs::create_dir_all(&sub).unwrap();
        let mut watcher = ctx.object().watch(format!("files://burst{round}/")).load();
        watcher.ready();
        let t = Instant::now();
        for i in 0..BURST {
            std::fs::write(sub.join(format!("b{i}")), b"").unwrap();
        }
        let ours = all_created(watcher, BURST, "", t);
        let sub = outside.join(format!("burst{round}"));
        std::fs::create_dir_all(&sub).unwrap();
        let (w, rx) = raw(&sub);
        let theirs = raw_burst(&rx, BURST, |i| {
            std::fs::write(sub.join(format!("b{i}")), b"").unwrap()
        });
        drop(w);
        cases.burst.add(ours, theirs);
    }
    cases.report(
        "fs watch: a file written → its change (1 / latency)",
        "inotify via notify",
        (
            "fs watch: 10,000 files created at once, all reported",
            "files/s",
            "inotify via notify",
        ),
    );
    files(&outside);
    sqlite();
    postgres();
    s3();
}

/// The `files` cases: one-row CSV files another program puts in a table's folder (written
/// under a hidden name and renamed in), against an inotify watcher seeing such files appear in
/// a folder of their own. The driver looks at a watched table's folder every 200 ms, so its
/// latency is about half that above inotify's.
fn files(outside: &Path) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("function.yaml"),
        "spec:\n  dataBindings:\n    db:\n      kind: table\n      driver: files\n      url: ./lake\n",
    )
    .unwrap();
    let ctx = Context::open(dir.path().join("function.yaml")).unwrap();
    ctx.table()
        .create("db://t")
        .schema("id int64 NOT NULL")
        .primary_key("id", None)
        .do_()
        .unwrap();
    let folder = dir.path().join("lake/t");
    let drop_in = |folder: &Path, id: usize| {
        let hidden = folder.join(format!(".{id}.csv"));
        std::fs::write(&hidden, format!("id\n{id}\n")).unwrap();
        let name = folder.join(format!("{id}.csv"));
        std::fs::rename(hidden, &name).unwrap();
        name
    };
    let raw_folder = outside.join("files");
    std::fs::create_dir_all(&raw_folder).unwrap();
    // inotify tells a rename into the folder as a rename (to), not a create.
    let raw_watch = |folder: &Path| {
        let (tx, rx) = flume::unbounded();
        let mut w = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            if let Ok(e) = e {
                if matches!(
                    e.kind,
                    notify::EventKind::Modify(notify::event::ModifyKind::Name(notify::event::RenameMode::To))
                ) {
                    for p in e.paths {
                        let _ = tx.send(p);
                    }
                }
            }
        })
        .unwrap();
        w.watch(folder, RecursiveMode::NonRecursive).unwrap();
        (w, rx)
    };
    const FILES_BURST: usize = 1_000;
    table_header("Watch (files)");
    let mut cases = Cases::default();
    let mut next = 0usize;
    for _ in 0..ROUNDS {
        let mut watcher = ctx.table().watch("db://t").load();
        watcher.ready();
        let (w, rx) = raw_watch(&raw_folder);
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for _ in 0..LATENCY_SAMPLES / 5 {
            next += 1;
            let t = Instant::now();
            drop_in(&folder, next);
            let key = next.to_string();
            while watcher.next().unwrap().unwrap().path != key {}
            ours.push(t.elapsed());
            let t = Instant::now();
            let name = drop_in(&raw_folder, next);
            while rx.recv().unwrap() != name {}
            theirs.push(t.elapsed());
        }
        cases.latency(ours, theirs);
        let first = next + 1;
        next += FILES_BURST;
        let t = Instant::now();
        for id in first..=next {
            drop_in(&folder, id);
        }
        let ours = all_created(watcher, FILES_BURST, "", t);
        let theirs = raw_burst(&rx, FILES_BURST, |i| {
            drop_in(&raw_folder, first + i);
        });
        drop(w);
        cases.burst.add(ours, theirs);
    }
    cases.report(
        "files watch: a one-row file dropped in → its row's change (1 / latency, 10 a round)",
        "inotify via notify",
        (
            "files watch: 1,000 one-row files dropped in at once, every row reported",
            "rows/s",
            "inotify via notify",
        ),
    );
}

/// The `s3` cases, when `BINDERY_GARAGE_URL` names a Garage bucket: objects put by the AWS
/// SDK directly, against the quickest another client sees them without notifications (Garage
/// has none): listing the prefix again and again, back to back. The binding lists every
/// `watch.interval_ms`, set to 100 here (the default, 1000, would put its p50 near 500 ms).
fn s3() {
    let Ok(url) = std::env::var("BINDERY_GARAGE_URL") else {
        return;
    };
    let prefix = bindery_tests::unique_prefix("bench-watch");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("function.yaml"),
        format!(
            "spec:\n  dataBindings:\n    obj:\n      kind: object\n      driver: s3\n      path: {prefix}\n{}      options:\n        watch.interval_ms: 100\n",
            bindery_tests::s3_binding(&url)
        ),
    )
    .unwrap();
    let ctx = Context::open(dir.path().join("function.yaml")).unwrap();
    let rt = bindery_benches::runtime(2);
    let (conf, bucket) = bindery_tests::s3_direct_config(&url);
    let sdk = aws_sdk_s3::Client::from_conf(conf.build());
    let put = |key: String| {
        let (sdk, bucket) = (sdk.clone(), bucket.clone());
        async move {
            sdk.put_object()
                .bucket(bucket)
                .key(key)
                .body(bytes::Bytes::from_static(b"x").into())
                .send()
                .await
                .unwrap();
        }
    };
    // Every key under `under`, listed page by page.
    let list = |under: String| {
        let (sdk, bucket) = (sdk.clone(), bucket.clone());
        async move {
            let mut keys = std::collections::HashSet::new();
            let mut pages = sdk
                .list_objects_v2()
                .bucket(bucket)
                .prefix(under)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                for o in page.unwrap().contents() {
                    keys.insert(o.key().unwrap_or_default().to_string());
                }
            }
            keys
        }
    };
    const S3_BURST: usize = 1_000;
    // Puts S3_BURST objects under `under`, 32 at a time.
    let put_all = |under: String| {
        let put = &put;
        async move {
            use futures::StreamExt;
            futures::stream::iter(0..S3_BURST)
                .map(|i| put(format!("{under}{i}")))
                .buffer_unordered(32)
                .collect::<Vec<()>>()
                .await;
        }
    };
    table_header("Watch (s3, Garage)");
    let mut cases = Cases::default();
    for round in 0..ROUNDS {
        let mut watcher = ctx.object().watch(format!("obj://w{round}/")).load();
        watcher.ready();
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        for i in 0..LATENCY_SAMPLES / 5 {
            let t = Instant::now();
            rt.block_on(put(format!("{prefix}/w{round}/{i}")));
            let path = format!("w{round}/{i}");
            while watcher.next().unwrap().unwrap().path != path {}
            ours.push(t.elapsed());
            let key = format!("{prefix}/raw{round}/{i}");
            let t = Instant::now();
            rt.block_on(async {
                put(key.clone()).await;
                while !list(format!("{prefix}/raw{round}/")).await.contains(&key) {}
            });
            theirs.push(t.elapsed());
        }
        cases.latency(ours, theirs);
        let t = Instant::now();
        rt.block_on(put_all(format!("{prefix}/w{round}/b")));
        let ours = all_created(watcher, S3_BURST, &format!("w{round}/b"), t);
        let under = format!("{prefix}/raw{round}/b");
        let t = Instant::now();
        rt.block_on(async {
            put_all(under.clone()).await;
            while list(under.clone()).await.len() < S3_BURST {}
        });
        let theirs = S3_BURST as f64 / t.elapsed().as_secs_f64();
        cases.burst.add(ours, theirs);
    }
    cases.report(
        "s3 watch: an object put by another client → its change (1 / latency, 10 a round)",
        "ListObjectsV2 back to back",
        (
            "s3 watch: 1,000 objects put (32 at a time), all reported",
            "objects/s",
            "the same puts, then ListObjectsV2 until all are listed",
        ),
    );
    rt.block_on(async {
        let keys = list(format!("{prefix}/")).await;
        for k in keys {
            sdk.delete_object().bucket(&bucket).key(k).send().await.unwrap();
        }
    });
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
    let mut cases = Cases::default();
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
        cases.latency(ours, theirs);
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
        cases.burst.add(ours, theirs);
    }
    cases.report(
        "sqlite watch: a row committed by another connection → its change (1 / latency)",
        "data_version read every ms",
        (
            "sqlite watch: 10,000 rows in one transaction, all reported",
            "rows/s",
            "data_version read every ms, then the rows counted",
        ),
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
    let mut cases = Cases::default();
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
        cases.latency(ours, theirs);
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
        cases.burst.add(ours, theirs);
    }
    cases.report(
        "postgres watch: a row inserted by another client → its change (1 / latency)",
        "LISTEN/NOTIFY (tokio-postgres)",
        (
            "postgres watch: 10,000 rows inserted in one statement, all reported",
            "rows/s",
            "10,000 NOTIFYs in one transaction",
        ),
    );
    sql("DROP TABLE IF EXISTS bench_raw".into());
    let _ = ctx.table().drop("db://bench_watch").do_();
}
