//! The `http` trigger (DESIGN §9, issue 5): requests/s and p99 latency of a function whose
//! handler does one object get on `fs` (the `http-ingest` example's `GET /<key>`), against the
//! same handler without bindery — a hyper server reading the file with `std::fs` — in the
//! same run, on the same file, each in a process of its own, loaded by `wrk` from a third
//! process (1 thread, 32 connections, 5 s per round, 3 rounds alternating).
//!
//! Run with `benches/run http` (it installs wrk and builds the function in release mode), or
//! `cargo bench -p bindery-benches --bench http` with `BINDERY_BENCH_INGEST` naming the
//! built `http-ingest` binary.

use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bindery_benches::{table_header, Case};

const ROUNDS: usize = 3;
const OBJECT: usize = 4096;
const CONNECTIONS: &str = "32";
const SECONDS: &str = "5s";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_port(port: u16) {
    for _ in 0..2400 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("nothing listens on {port}");
}

/// The baseline: `GET /<key>` answers the file `<root>/<key>` read with `std::fs`.
fn baseline_server(port: u16, root: PathBuf) {
    use http_body_util::Full;
    use hyper::body::Bytes;
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let root = std::sync::Arc::new(root);
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let root = root.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let root = root.clone();
                    async move {
                        let key = req.uri().path().trim_start_matches('/').to_string();
                        let r = match std::fs::read(root.join(key)) {
                            Ok(data) => hyper::Response::builder()
                                .header("content-type", "application/octet-stream")
                                .body(Full::new(Bytes::from(data))),
                            Err(_) => hyper::Response::builder().status(404).body(Full::new(Bytes::new())),
                        };
                        Ok::<_, Infallible>(r.unwrap())
                    }
                });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new().serve_connection(io, service).await;
            });
        }
    });
}

/// (requests/s, p99 latency in ms) of a wrk run against `url`.
fn wrk(url: &str) -> (f64, f64) {
    let out = Command::new("wrk")
        .args(["-t1", "-c", CONNECTIONS, "-d", SECONDS, "--latency", url])
        .output()
        .expect("run wrk (apt-get install wrk)");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && !text.contains("Non-2xx"), "wrk failed:\n{text}");
    let rps = text
        .lines()
        .find_map(|l| l.strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in:\n{text}"));
    let p99 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("99%"))
        .map(|v| ms(v.trim()))
        .unwrap_or_else(|| panic!("no 99% latency in:\n{text}"));
    (rps, p99)
}

/// wrk's `850.00us`, `1.23ms`, `1.01s` in milliseconds.
fn ms(v: &str) -> f64 {
    let (num, scale) = if let Some(n) = v.strip_suffix("us") {
        (n, 1e-3)
    } else if let Some(n) = v.strip_suffix("ms") {
        (n, 1.0)
    } else if let Some(n) = v.strip_suffix('s') {
        (n, 1e3)
    } else {
        (v, 1.0)
    };
    num.parse::<f64>().unwrap_or(f64::NAN) * scale
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ingest_exe() -> PathBuf {
    if let Ok(p) = std::env::var("BINDERY_BENCH_INGEST") {
        return PathBuf::from(p);
    }
    // target/release/deps/http-… → target/release/http-ingest
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().join("http-ingest")
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--baseline-server") {
        return baseline_server(args[2].parse().unwrap(), PathBuf::from(&args[3]));
    }
    if args.iter().any(|a| a == "--list") {
        return; // `cargo bench -- --list`
    }
    let exe = ingest_exe();
    assert!(exe.is_file(), "{} is missing: cargo build --release -p http-ingest", exe.display());
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("objects")).unwrap();
    let body: Vec<u8> = (0..OBJECT).map(|i| (i % 251) as u8).collect();
    std::fs::write(data.join("objects/bench.bin"), &body).unwrap();

    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("../function-examples/http-ingest/function.yaml");
    let (fn_port, base_port) = (free_port(), free_port());
    let _function = Server(
        Command::new(&exe)
            .args(["run".as_ref(), spec.as_os_str()])
            .env("INGEST_PORT", fn_port.to_string())
            .env("INGEST_DATA", &data)
            .env("BINDERY_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _baseline = Server(
        Command::new(std::env::current_exe().unwrap())
            .args(["--baseline-server", &base_port.to_string()])
            .arg(data.join("objects"))
            .spawn()
            .unwrap(),
    );
    wait_port(fn_port);
    wait_port(base_port);
    let fn_url = format!("http://127.0.0.1:{fn_port}/bench.bin");
    let base_url = format!("http://127.0.0.1:{base_port}/bench.bin");
    // Warm both up (connections, page cache).
    wrk(&fn_url);
    wrk(&base_url);

    let (mut rate, mut p99) = (Case::default(), Vec::new());
    for _ in 0..ROUNDS {
        let (b_rps, b_p99) = wrk(&fn_url);
        let (d_rps, d_p99) = wrk(&base_url);
        rate.add(b_rps, d_rps);
        p99.push((b_p99, d_p99));
    }
    table_header(&format!(
        "HTTP trigger: a handler doing one 4 KiB object get on `fs`, against hyper + `std::fs::read` (wrk, {CONNECTIONS} connections)"
    ));
    rate.report("GET 4 KiB object", "req/s", "hyper + std::fs");
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let b = median(p99.iter().map(|p| p.0).collect());
    let d = median(p99.iter().map(|p| p.1).collect());
    let rounds: Vec<String> = p99.iter().map(|p| format!("{:.2}/{:.2}", p.0, p.1)).collect();
    println!(
        "| p99 latency (lower is better) | {b:.2} ms | {d:.2} ms (hyper + std::fs) | {:.2} | {} |",
        b / d,
        rounds.join(" ")
    );
}
