//! Streams on the `log` driver (DESIGN §9), each case against its baseline in the same run,
//! on the same disk. Messages are 100 bytes.
//!
//! - fsync baseline: append 100 bytes + `fdatasync`, one after another: the physical limit
//!   of durable acknowledgements one at a time.
//! - Unbatched publish (one message per publish), one publisher: against the fsync baseline.
//! - Unbatched publish, 64 publishers at once: group commit shares fsyncs; against the
//!   fsync baseline.
//! - Batched publish (1000 messages per publish): against writing the same bytes to a file
//!   with one `fdatasync` per 1000.
//! - Consume (from earliest, to the end): against reading the segment files' bytes.
//!
//! Five rounds of each; medians and ratios. Run with `cargo bench -p bindery-benches --bench
//! stream`.

use std::fs::OpenOptions;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use bindery::Context;
use bindery_benches::{table_header, Case};
use bytes::Bytes;

const MESSAGE: usize = 100;
const BATCH: usize = 1000;
const PUBLISHERS: usize = 64;
/// Each timed case runs this long (at least one operation).
const WINDOW: Duration = Duration::from_secs(1);

/// Runs `op` (returning how many messages it handled) until the window is over; msgs/s.
fn rate(mut op: impl FnMut() -> usize) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < WINDOW {
        n += op();
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Appends `record` then `fdatasync`s, `per_sync` records at a time.
fn fsync_baseline(path: &Path, per_sync: usize) -> f64 {
    let mut f = OpenOptions::new().create(true).append(true).open(path).unwrap();
    let batch = vec![b'x'; MESSAGE * per_sync];
    let r = rate(|| {
        f.write_all(&batch).unwrap();
        f.sync_data().unwrap();
        per_sync
    });
    std::fs::remove_file(path).unwrap();
    r
}

fn all_bytes_under(dir: &Path) -> u64 {
    let mut total = 0;
    let mut buf = vec![0u8; 1 << 20];
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            total += all_bytes_under(&p);
        } else if p.extension().is_some_and(|x| x == "log") {
            let mut f = std::fs::File::open(&p).unwrap();
            loop {
                let n = f.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
        }
    }
    total
}

/// Rounds of each case; the medians are reported.
const ROUNDS: usize = 5;

fn main() {
    let dir = std::env::temp_dir().join(format!("bindery-bench-stream-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("function.yaml"),
        "spec:\n  dataBindings:\n    ev:\n      kind: stream\n      driver: log\n      url: ./streams\n",
    )
    .unwrap();
    let ctx = Context::open(dir.join("function.yaml")).unwrap();
    let streams = ctx.stream();
    let value = Bytes::from(vec![b'm'; MESSAGE]);
    let rt = bindery_benches::runtime(2);
    for name in ["one", "many", "batched"] {
        streams.create(format!("ev://{name}"), "", 1).do_().unwrap();
    }
    let batch: Vec<Bytes> = (0..BATCH).map(|_| value.clone()).collect();
    let (mut one, mut many, mut batched, mut consume) =
        (Case::default(), Case::default(), Case::default(), Case::default());
    let mut fsyncs_seen = Vec::new();
    for _ in 0..ROUNDS {
        let fsyncs = fsync_baseline(&dir.join("baseline-1"), 1);
        fsyncs_seen.push(fsyncs);
        let r = rate(|| {
            streams
                .publish("ev://one")
                .buffers([value.clone()])
                .do_()
                .unwrap();
            1
        });
        one.add(r, fsyncs);

        let r = rt.block_on(async {
            let start = Instant::now();
            let tasks: Vec<_> = (0..PUBLISHERS)
                .map(|_| {
                    let (ctx, value) = (ctx.clone(), value.clone());
                    tokio::spawn(async move {
                        let mut n = 0usize;
                        while start.elapsed() < WINDOW {
                            ctx.stream()
                                .publish("ev://many")
                                .buffers([value.clone()])
                                .await
                                .unwrap();
                            n += 1;
                        }
                        n
                    })
                })
                .collect();
            let mut total = 0;
            for t in tasks {
                total += t.await.unwrap();
            }
            total as f64 / start.elapsed().as_secs_f64()
        });
        many.add(r, fsyncs);

        let r = rate(|| {
            streams
                .publish("ev://batched")
                .buffers(batch.clone())
                .do_()
                .unwrap();
            BATCH
        });
        batched.add(r, fsync_baseline(&dir.join("baseline-batch"), BATCH));

        // Consume everything the batched case wrote so far, from the start to the end.
        let total_msgs = ctx.stream().list_shards("ev://batched").do_().unwrap()[0].next;
        let start = Instant::now();
        let mut got = 0u64;
        for m in streams
            .consume("ev://batched")
            .from_("earliest", "")
            .follow(false)
            .load()
        {
            assert_eq!(m.unwrap().value.len(), MESSAGE);
            got += 1;
        }
        let r = got as f64 / start.elapsed().as_secs_f64();
        assert_eq!(got, total_msgs);
        let start = Instant::now();
        all_bytes_under(&dir.join("streams/batched"));
        consume.add(r, total_msgs as f64 / start.elapsed().as_secs_f64());
    }
    fsyncs_seen.sort_by(f64::total_cmp);
    table_header(&format!(
        "Streams on `log`: {MESSAGE}-byte messages (fdatasyncs/s of this disk: median {:.0})",
        fsyncs_seen[ROUNDS / 2]
    ));
    one.report("publish, 1 per publish, 1 publisher", "msg/s", "fdatasyncs/s");
    many.report(
        &format!("publish, 1 per publish, {PUBLISHERS} publishers (group commit)"),
        "msg/s",
        "fdatasyncs/s",
    );
    batched.report(
        &format!("publish, {BATCH} per publish"),
        "msg/s",
        &format!("file write + fdatasync per {BATCH}"),
    );
    consume.report(
        "consume from the page cache",
        "msg/s",
        "reading the segment files",
    );
    drop(ctx);
    let _ = std::fs::remove_dir_all(&dir);
}
