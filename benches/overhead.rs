//! Host overhead per request (DESIGN §9): a 64-byte get from the memory driver through the
//! SDK, against calling the driver directly, in the same run; and pipelined throughput with
//! `do_async`. The same cases run through the memory driver loaded as a plugin library
//! (`plugins/memory-plugin`, through the C ABI), beside the built-in one. Run with `cargo bench -p bindery-benches --bench overhead`.
//!
//! For a profile of the pipelined case alone: `BENCH_LATENCY_ROUNDS=1 BENCH_PIPELINE_ROUNDS=100`.

use std::sync::Arc;
use std::time::Instant;

use bindery::{Context, WaitGroup};
use bindery_benches::{table_header, time_each, us, Case, Samples};
use bindery_core::{BindingConfig, Driver, Kind, OpGet, OpPut, PutBody};
use bindery_driver_memory::MemoryDriver;
use bytes::Bytes;
use futures::StreamExt;

const N: usize = 20_000;
const ROUNDS: usize = 5;
const PIPELINE: usize = 10_000;

fn median_of(rounds: &[Samples], q: f64) -> f64 {
    let mut v: Vec<f64> = rounds.iter().map(|s| us(s.quantile(q))).collect();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let rt = bindery_benches::runtime(2);
    let dir = std::env::temp_dir().join(format!("bindery-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let spec = dir.join("function.yaml");
    let spec_path = spec.clone();
    let plugin = bindery_tests::cdylib("memory-plugin");
    std::fs::write(
        &spec,
        format!(
            "spec:\n  dataBindings:\n    obj:\n      driver: memory\n      retries: 0\n    \
             plug:\n      kind: object\n      driver: {}\n      retries: 0\n",
            plugin.display()
        ),
    )
    .unwrap();
    let payload = Bytes::from(vec![7u8; 64]);
    let _ = &spec;

    // The measured code runs as a task on the runtime, as a function's handler does.
    let measured = rt.spawn(async move {
        let inst = MemoryDriver
            .connect(BindingConfig::new("obj", Kind::Object, None))
            .await
            .unwrap();
        let store = inst.object().unwrap();
        store
            .put("k", PutBody::from_chunks([payload.clone()]), OpPut::default())
            .await
            .unwrap();
        let ctx = Context::connect(&spec_path).await.unwrap();
        ctx.object().put("obj://k", payload.clone()).await.unwrap();
        ctx.object().put("plug://k", payload.clone()).await.unwrap();
        let inst = Arc::new(inst);

        let direct_get = || {
            let inst = inst.clone();
            async move {
                let r = inst.object().unwrap().get("k", OpGet::default()).await.unwrap();
                let chunks: Vec<_> = r.body.collect().await;
                assert_eq!(chunks[0].as_ref().unwrap().len(), 64);
            }
        };
        let sdk_get = || {
            let ctx = ctx.clone();
            async move {
                let d = ctx.object().get("obj://k").await.unwrap();
                assert_eq!(d.data.len(), 64);
            }
        };
        let plugin_get = || {
            let ctx = ctx.clone();
            async move {
                let d = ctx.object().get("plug://k").await.unwrap();
                assert_eq!(d.data.len(), 64);
            }
        };
        // Warm up every path.
        time_each(2_000, direct_get).await;
        time_each(2_000, sdk_get).await;
        time_each(2_000, plugin_get).await;
        let (mut direct, mut sdk, mut blocking, mut plugged) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        let rounds = |var: &str| {
            std::env::var(var)
                .ok()
                .and_then(|r| r.parse().ok())
                .unwrap_or(ROUNDS)
        };
        for _ in 0..rounds("BENCH_LATENCY_ROUNDS") {
            direct.push(time_each(N, direct_get).await);
            sdk.push(time_each(N, sdk_get).await);
            plugged.push(time_each(N, plugin_get).await);
            let c = ctx.clone();
            blocking.push(
                tokio::task::spawn_blocking(move || {
                    let mut out = Vec::with_capacity(N);
                    for _ in 0..N {
                        let t = Instant::now();
                        let d = c.object().get("obj://k").do_().unwrap();
                        out.push(t.elapsed());
                        assert_eq!(d.data.len(), 64);
                    }
                    Samples(out)
                })
                .await
                .unwrap(),
            );
        }
        // Pipelined throughput: PIPELINE requests in flight, then wait for all; rounds
        // alternate between the two paths.
        let pipeline = |path: &'static str| {
            let ctx = ctx.clone();
            async move {
                let t = Instant::now();
                let wg = WaitGroup::new();
                for _ in 0..PIPELINE {
                    ctx.object().get(path).do_async(&wg).unwrap();
                }
                let waited = wg.wait().await;
                assert!(waited.first_error().is_none());
                PIPELINE as f64 / t.elapsed().as_secs_f64()
            }
        };
        let (mut pipelined, mut plugin_pipelined) = (Case::default(), Case::default());
        for _ in 0..rounds("BENCH_PIPELINE_ROUNDS") {
            let sdk_tput = pipeline("obj://k").await;
            plugin_pipelined.add(pipeline("plug://k").await, sdk_tput);
            let t = Instant::now();
            let tasks: Vec<_> = (0..PIPELINE).map(|_| tokio::spawn(direct_get())).collect();
            for task in tasks {
                task.await.unwrap();
            }
            pipelined.add(sdk_tput, PIPELINE as f64 / t.elapsed().as_secs_f64());
        }
        (direct, sdk, blocking, plugged, pipelined, plugin_pipelined)
    });
    let (direct, sdk, sdk_blocking, plugged, pipelined, plugin_pipelined) = rt.block_on(measured).unwrap();
    let _ = std::fs::remove_dir_all(&dir);

    println!(
        "\n## Host overhead: memory driver, 64-byte get ({ROUNDS} rounds of {N}, median of round medians)\n"
    );
    println!("| path | median µs | p99 µs | added median µs | added p99 µs | ratio (median) |");
    println!("|---|---:|---:|---:|---:|---:|");
    let (dm, dp) = (median_of(&direct, 0.5), median_of(&direct, 0.99));
    println!("| driver called directly (baseline) | {dm:.2} | {dp:.2} | – | – | 1.00 |");
    for (name, s) in [
        ("SDK, async (`.await`)", &sdk),
        ("SDK, blocking (`do_()`)", &sdk_blocking),
        ("SDK, async, the driver as a plugin (C ABI)", &plugged),
    ] {
        let (m, p) = (median_of(s, 0.5), median_of(s, 0.99));
        println!(
            "| {name} | {m:.2} | {p:.2} | {:.2} | {:.2} | {:.2} |",
            m - dm,
            p - dp,
            m / dm
        );
    }
    table_header(&format!(
        "Host overhead: {PIPELINE} requests in flight (`do_async`), against one task each calling the driver"
    ));
    pipelined.report("pipelined 64-byte get", "req/s", "driver, one task each");
    table_header(&format!(
        "Host overhead: {PIPELINE} requests in flight (`do_async`), the memory driver as a plugin against built in"
    ));
    plugin_pipelined.report(
        "pipelined 64-byte get, plugin",
        "req/s",
        "built-in driver, same SDK path",
    );
}
