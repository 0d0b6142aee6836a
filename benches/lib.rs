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

/// Microseconds, for printing.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}
