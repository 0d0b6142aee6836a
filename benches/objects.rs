//! Objects on the `fs` driver (DESIGN §9): 4 KiB and 256 MiB get and put through the SDK,
//! each against `std::fs` doing the same work in the same run on the same disk: a get against
//! `std::fs::read`; a put against what the driver promises (write a temporary file, fsync it,
//! rename it over the object, fsync the folder). Five rounds each; medians and ratios.
//!
//! The 4 KiB cases run as a function's handler does: `.await`ed in a task on the host's
//! runtime, the baseline in the same task. The blocking API (`do_()` from a thread of the
//! caller's own) is a row of its own: each request then crosses to a worker thread and back.
//!
//! Run with `cargo bench -p bindery-benches --bench objects`.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use bindery::{Bytes, Context};
use bindery_benches::{table_header, Case};

const ROUNDS: usize = 5;
const SMALL: usize = 4096;
const LARGE: usize = 256 << 20;
/// How long each small-object round runs.
const WINDOW: Duration = Duration::from_secs(1);

/// Operations per second of `op`, run for [`WINDOW`].
fn rate(mut op: impl FnMut(u64)) -> f64 {
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < WINDOW {
        op(n);
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Operations per second of the async `op`, run for [`WINDOW`].
async fn rate_async<F, Fut>(mut op: F) -> f64
where
    F: FnMut(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let start = Instant::now();
    let mut n = 0;
    while start.elapsed() < WINDOW {
        op(n).await;
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

/// Bytes per second of one `op`.
fn throughput(bytes: usize, op: impl FnOnce()) -> f64 {
    let start = Instant::now();
    op();
    bytes as f64 / start.elapsed().as_secs_f64()
}

/// A durable replace with `std::fs`: what the `fs` driver does for a put.
fn durable_write(dir: &Path, name: &str, data: &[u8]) {
    let tmp = dir.join(format!(".{name}.tmp"));
    let mut f = std::fs::File::create(&tmp).unwrap();
    f.write_all(data).unwrap();
    f.sync_all().unwrap();
    std::fs::rename(&tmp, dir.join(name)).unwrap();
    std::fs::File::open(dir).unwrap().sync_all().unwrap();
}

fn main() {
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    std::fs::write(
        dir.path().join("function.yaml"),
        "spec:\n  dataBindings:\n    obj:\n      kind: object\n      driver: fs\n      url: ./data\n",
    )
    .unwrap();
    let rt = bindery_benches::runtime(2);
    let ctx = rt
        .block_on(Context::connect(dir.path().join("function.yaml")))
        .unwrap();
    let objects = ctx.object();
    let data = dir.path().join("data");
    let raw = dir.path().join("raw");
    std::fs::create_dir_all(&raw).unwrap();
    let small = Bytes::from(vec![7u8; SMALL]);
    let large = Bytes::from(vec![9u8; LARGE]);
    objects.put("obj://small", small.clone()).do_().unwrap();
    durable_write(&raw, "small", &small);

    table_header("Objects on `fs`: 4 KiB and 256 MiB, against `std::fs` (same disk)");
    let (mut get, mut put, mut get_blocking) = (Case::default(), Case::default(), Case::default());
    for _ in 0..ROUNDS {
        let (o, chunk, data_dir, raw_dir) = (objects.clone(), small.clone(), data.clone(), raw.clone());
        let (g, p) = rt
            .block_on(rt.spawn(async move {
                let b = rate_async(|_| async {
                    let got = o.get("obj://small").await.unwrap();
                    assert_eq!(got.data.len(), SMALL);
                })
                .await;
                let d = rate_async(|_| async {
                    let got = std::fs::read(data_dir.join("small")).unwrap();
                    assert_eq!(got.len(), SMALL);
                })
                .await;
                let pb = rate_async(|i| {
                    let put = o.put(format!("obj://p/{}", i % 64), chunk.clone());
                    async move {
                        put.await.unwrap();
                    }
                })
                .await;
                let pd = rate_async(|i| {
                    durable_write(&raw_dir, &format!("p{}", i % 64), &chunk);
                    async {}
                })
                .await;
                ((b, d), (pb, pd))
            }))
            .unwrap();
        get.add(g.0, g.1);
        put.add(p.0, p.1);
        let b = rate(|_| {
            let got = objects.get("obj://small").do_().unwrap();
            assert_eq!(got.data.len(), SMALL);
        });
        let d = rate(|_| {
            let got = std::fs::read(data.join("small")).unwrap();
            assert_eq!(got.len(), SMALL);
        });
        get_blocking.add(b, d);
    }
    get.report("get 4 KiB", "ops/s", "std::fs::read");
    get_blocking.report(
        "get 4 KiB, blocking `do_()` from a thread",
        "ops/s",
        "std::fs::read",
    );
    put.report("put 4 KiB (durable)", "ops/s", "std::fs write + fsync + rename");

    let (mut get, mut put) = (Case::default(), Case::default());
    for _ in 0..ROUNDS {
        let b = throughput(LARGE, || {
            objects.put("obj://large", large.clone()).do_().unwrap();
        });
        let d = throughput(LARGE, || durable_write(&raw, "large", &large));
        put.add(b / 1e6, d / 1e6);
        let b = throughput(LARGE, || {
            let got = objects.get("obj://large").do_().unwrap();
            assert_eq!(got.data.len(), LARGE);
        });
        let d = throughput(LARGE, || {
            let got = std::fs::read(raw.join("large")).unwrap();
            assert_eq!(got.len(), LARGE);
        });
        get.add(b / 1e6, d / 1e6);
    }
    get.report("get 256 MiB", "MB/s", "std::fs::read");
    put.report("put 256 MiB (durable)", "MB/s", "std::fs write + fsync + rename");
}
