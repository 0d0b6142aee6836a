//! The `http` trigger (DESIGN §9, issue 5): requests/s and p99 latency of a function whose
//! handler does one 4 KiB object get on `fs` (`GET /obj/<key>`), against the same handler
//! without bindery — a hyper server reading the file with `std::fs` — in the same run, on the
//! same file; and of a handler answering a constant body (`GET /static`, no binding) against
//! hyper answering the same, which is the trigger's own cost. Each server is a process of its
//! own (this binary run again as the function, via `bindery::function`, or as the baseline),
//! loaded by `wrk` from a third process (1 thread, 32 connections, 3 s per round, 3 rounds
//! alternating).
//!
//! Run with `benches/run http` (it installs wrk), or `cargo bench -p bindery-benches --bench http`.

use std::convert::Infallible;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use bindery_benches::{table_header, Case};

const ROUNDS: usize = 3;
const OBJECT: usize = 4096;
const CONNECTIONS: &str = "32";
const SECONDS: &str = "3s";
const STATIC: &[u8] = b"hello from the function\n";

/// The function: `GET /static` answers a constant, `GET /obj/<key>` the object `obj://<key>`.
async fn handler(ctx: bindery::Context, event: bindery::Event) -> bindery::Result<bindery::Response> {
    if event.path == "/static" {
        return Ok(bindery::Response::new(STATIC).with_header("content-type", "text/plain; charset=utf-8"));
    }
    let key = event.path.trim_start_matches("/obj/");
    let o = ctx.object().get(format!("obj://{key}")).await?;
    Ok(bindery::Response::new(o.data).with_header("content-type", "application/octet-stream"))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
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
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let root = std::sync::Arc::new(root);
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let _ = stream.set_nodelay(true);
            let root = root.clone();
            tokio::spawn(async move {
                let service =
                    hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                        let root = root.clone();
                        async move {
                            if req.uri().path() == "/static" {
                                let r = hyper::Response::builder()
                                    .header("content-type", "text/plain; charset=utf-8")
                                    .body(Full::new(Bytes::from_static(STATIC)));
                                return Ok::<_, Infallible>(r.unwrap());
                            }
                            let key = req.uri().path().trim_start_matches("/obj/").to_string();
                            let r = match std::fs::read(root.join(key)) {
                                Ok(data) => hyper::Response::builder()
                                    .header("content-type", "application/octet-stream")
                                    .body(Full::new(Bytes::from(data))),
                                Err(_) => hyper::Response::builder()
                                    .status(404)
                                    .body(Full::new(Bytes::new())),
                            };
                            Ok::<_, Infallible>(r.unwrap())
                        }
                    });
                let io = hyper_util::rt::TokioIo::new(stream);
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(io, service)
                    .await;
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
    assert!(
        out.status.success() && !text.contains("Non-2xx"),
        "wrk failed:\n{text}"
    );
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

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--baseline-server") => {
            return baseline_server(args[2].parse().unwrap(), PathBuf::from(&args[3]))
        }
        Some("--function-server") => {
            let function = bindery::function::Function::new(handler);
            let code = function.main_with_args(args[2..].to_vec());
            std::process::exit(if code == std::process::ExitCode::SUCCESS {
                0
            } else {
                1
            })
        }
        _ if args.iter().any(|a| a == "--list") => return, // `cargo bench -- --list`
        _ => {}
    }
    let dir = tempfile::tempdir_in(std::env::current_dir().unwrap()).unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let body: Vec<u8> = (0..OBJECT).map(|i| (i % 251) as u8).collect();
    std::fs::write(data.join("bench.bin"), &body).unwrap();
    let (fn_port, base_port) = (free_port(), free_port());
    let spec = dir.path().join("function.yaml");
    std::fs::write(
        &spec,
        format!(
            "metadata:\n  name: http-bench\nspec:\n  runtime: rust\n  triggers:\n    web:\n      kind: http\n      maxWorkers: 64\n      attributes: {{ port: {fn_port} }}\n  dataBindings:\n    obj:\n      kind: object\n      driver: fs\n      url: ./data\n"
        ),
    )
    .unwrap();
    let me = std::env::current_exe().unwrap();
    let _function = Server(
        Command::new(&me)
            .args(["--function-server".as_ref(), "run".as_ref(), spec.as_os_str()])
            .env("BINDERY_LOG", "warn")
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let _baseline = Server(
        Command::new(&me)
            .args(["--baseline-server", &base_port.to_string()])
            .arg(&data)
            .spawn()
            .unwrap(),
    );
    wait_port(fn_port);
    wait_port(base_port);
    table_header(&format!(
        "HTTP trigger, against hyper (+ `std::fs::read`) doing the same (wrk, {CONNECTIONS} connections)"
    ));
    for (case, path, baseline) in [
        ("GET a 4 KiB object on `fs`", "/obj/bench.bin", "hyper + std::fs"),
        ("GET a constant (no binding)", "/static", "hyper"),
    ] {
        let fn_url = format!("http://127.0.0.1:{fn_port}{path}");
        let base_url = format!("http://127.0.0.1:{base_port}{path}");
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
        rate.report(case, "req/s", baseline);
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let b = median(p99.iter().map(|p| p.0).collect());
        let d = median(p99.iter().map(|p| p.1).collect());
        let rounds: Vec<String> = p99.iter().map(|p| format!("{:.2}/{:.2}", p.0, p.1)).collect();
        println!(
            "| {case}: p99 latency (lower is better) | {b:.2} ms | {d:.2} ms ({baseline}) | {:.2} | {} |",
            b / d,
            rounds.join(" ")
        );
    }
}
