//! The process's resident memory, for the checks and benches that bound it (Linux).

/// A `kB` line of `/proc/self/status` (`VmHWM:`, `VmRSS:`), in bytes.
fn status(key: &str) -> u64 {
    let text = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {key} in /proc/self/status"))
        * 1024
}

/// The peak resident memory since the process started or [`reset_peak`] (VmHWM), in bytes.
pub fn peak_rss() -> u64 {
    status("VmHWM:")
}

/// Starts a new peak at the current resident memory (writing 5 to clear_refs resets VmHWM).
pub fn reset_peak() {
    std::fs::write("/proc/self/clear_refs", "5").expect("reset VmHWM");
}

/// Runs `f` and returns what it returned and how far the resident memory rose above its
/// level at the start while `f` ran.
pub fn peak_growth<T>(f: impl FnOnce() -> T) -> (T, u64) {
    reset_peak();
    let before = status("VmRSS:");
    let out = f();
    (out, peak_rss().saturating_sub(before))
}
