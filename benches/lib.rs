//! Helpers shared by the benchmarks: timing samples and printing medians and ratios.

use std::time::{Duration, Instant};

/// Per-operation latencies of one measured case.
pub struct Samples(pub Vec<Duration>);

impl Samples {
    /// The `q` quantile (0.5 is the median).
    pub fn quantile(&self, q: f64) -> Duration {
        let mut v = self.0.clone();
        v.sort();
        v[((v.len() - 1) as f64 * q).round() as usize]
    }
}

/// Times `op` `n` times, each on its own.
pub async fn time_each<F, Fut>(n: usize, mut op: F) -> Samples
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let t = Instant::now();
        op().await;
        out.push(t.elapsed());
    }
    Samples(out)
}

/// The multi-threaded tokio runtime a bench runs on: `workers` worker threads, or as many as
/// `BENCH_WORKERS` says (to see what crossing between workers costs, say).
pub fn runtime(workers: usize) -> tokio::runtime::Runtime {
    let workers = std::env::var("BENCH_WORKERS")
        .ok()
        .and_then(|w| w.parse().ok())
        .unwrap_or(workers);
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .expect("build the tokio runtime")
}

/// Microseconds, for printing.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// The rounds of one side-by-side case: bindery's rate and the baseline's, per round.
#[derive(Default)]
pub struct Case(pub Vec<(f64, f64)>);

impl Case {
    /// Adds a round.
    pub fn add(&mut self, bindery: f64, baseline: f64) {
        self.0.push((bindery, baseline));
    }

    /// Prints the medians and their ratio as a Markdown table row:
    /// `| case | bindery | baseline (name) | ratio | ratios per round |`.
    pub fn report(&self, case: &str, unit: &str, baseline: &str) {
        let median = |mut v: Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let b = median(self.0.iter().map(|r| r.0).collect());
        let d = median(self.0.iter().map(|r| r.1).collect());
        let ratios: Vec<String> = self.0.iter().map(|r| format!("{:.2}", r.0 / r.1)).collect();
        println!(
            "| {case} | {} {unit} | {} {unit} ({baseline}) | {:.2} | {} |",
            human(b),
            human(d),
            b / d,
            ratios.join(" ")
        );
    }
}

/// The header of the tables [`Case::report`] prints rows of.
pub fn table_header(title: &str) {
    println!("\n## {title}\n");
    println!("| case | bindery (median) | baseline (median) | ratio | per round |");
    println!("|---|---:|---:|---:|---|");
}

/// A rate with a unit prefix: 31.6 M, 820 k, 95.
pub fn human(x: f64) -> String {
    if x >= 1e6 {
        format!("{:.2} M", x / 1e6)
    } else if x >= 1e4 {
        format!("{:.1} k", x / 1e3)
    } else {
        format!("{x:.0}")
    }
}

/// A `db` table binding on the `postgres` driver on the server `BINDERY_PG_URL` names
/// (`benches/run` starts one), and that server's config for direct clients (the baselines);
/// `None`, saying so, when no server is named. Keep the folder while the context is used.
pub fn postgres_binding() -> Option<(bindery::Context, tempfile::TempDir, tokio_postgres::Config)> {
    let (Ok(url), Ok(password)) = (
        std::env::var("BINDERY_PG_URL"),
        std::env::var("BINDERY_PG_PASSWORD"),
    ) else {
        eprintln!("postgres: skipped (BINDERY_PG_URL is not set; benches/run starts a server)");
        return None;
    };
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("function.yaml"),
        format!(
            "spec:\n  dataBindings:\n    db:\n      kind: table\n      driver: postgres\n      url: {url}\n      secret: {{ env: BINDERY_PG_PASSWORD }}\n"
        ),
    )
    .unwrap();
    let ctx = bindery::Context::open(dir.path().join("function.yaml")).unwrap();
    let mut config: tokio_postgres::Config = url.parse().unwrap();
    config.password(password.as_bytes());
    Some((ctx, dir, config))
}
