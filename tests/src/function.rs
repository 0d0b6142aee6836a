//! Helpers for testing functions end to end: a plain HTTP/1.1 client, free ports, and a
//! function process started, waited for and stopped with SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// An HTTP answer.
#[derive(Debug, Clone)]
pub struct HttpResponse {
    /// The status code.
    pub status: u16,
    /// Headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl HttpResponse {
    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends one request (`Connection: close`) and reads the whole answer. A server that does
/// not answer within 60 s fails the test.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> std::io::Result<HttpResponse> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    s.set_read_timeout(Some(Duration::from_secs(60)))?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nhost: 127.0.0.1:{port}\r\nconnection: close\r\ncontent-length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes())?;
    s.write_all(body)?;
    let mut raw = Vec::new();
    s.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| {
        std::io::Error::other(format!("no HTTP head in {:?}", String::from_utf8_lossy(&raw)))
    })?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|c| c.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line in {head:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers
        .iter()
        .any(|(k, v)| k == "transfer-encoding" && v == "chunked")
    {
        body = dechunk(&body);
    }
    Ok(HttpResponse {
        status,
        headers,
        body,
    })
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = b.windows(2).position(|w| w == b"\r\n") {
        let n = usize::from_str_radix(String::from_utf8_lossy(&b[..i]).trim(), 16).unwrap_or(0);
        if n == 0 {
            break;
        }
        out.extend_from_slice(&b[i + 2..i + 2 + n]);
        b = &b[i + 4 + n..];
    }
    out
}

/// A loopback port free at the time of the call.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something listens on the port (at most `limit`).
pub fn wait_port(port: u16, limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

/// A function process: its stderr (the host's log) is kept in a file.
pub struct FunctionProcess {
    child: Option<Child>,
    log: tempfile::NamedTempFile,
}

impl FunctionProcess {
    /// Starts `exe run SPEC` with these environment variables.
    pub fn start(exe: &str, spec: &std::path::Path, env: &[(&str, String)]) -> FunctionProcess {
        FunctionProcess::start_args(exe, &["run".as_ref(), spec.as_os_str()], env)
    }

    /// Starts `exe` with these arguments and environment variables.
    pub fn start_args(exe: &str, args: &[&std::ffi::OsStr], env: &[(&str, String)]) -> FunctionProcess {
        let log = tempfile::NamedTempFile::new().expect("a log file");
        let mut cmd = Command::new(exe);
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log.reopen().expect("the log file"));
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
        FunctionProcess {
            child: Some(child),
            log,
        }
    }

    /// What the function has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log.path()).unwrap_or_default()
    }

    /// Waits until the port listens, failing with the log if it does not (or the process died).
    pub fn wait_port(&mut self, port: u16) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(120) {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return;
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                panic!("the function exited ({status}) before listening:\n{}", self.log());
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the function did not listen on {port}:\n{}", self.log());
    }

    /// Waits until the log contains `text` (at most a minute).
    pub fn wait_log(&self, text: &str) {
        let start = Instant::now();
        while start.elapsed() < Duration::from_secs(60) {
            if self.log().contains(text) {
                return;
            }
            std::thread::sleep(Duration::from_millis(25));
        }
        panic!("the function never logged {text:?}:\n{}", self.log());
    }

    /// Sends SIGTERM and waits (at most a minute) for the process to exit; returns whether
    /// it exited successfully, and its log.
    pub fn stop(&mut self) -> (bool, String) {
        let mut child = self.child.take().expect("running");
        // SAFETY: kill(2) on the pid of a child this struct owns and has not reaped.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        let start = Instant::now();
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return (status.success(), self.log());
            }
            if start.elapsed() > Duration::from_secs(60) {
                let _ = child.kill();
                let _ = child.wait();
                return (
                    false,
                    format!("did not stop within a minute after SIGTERM\n{}", self.log()),
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FunctionProcess {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// What `exe invoke SPEC ARGS…` printed: success, standard output, standard error.
pub fn invoke(
    exe: &str,
    spec: &std::path::Path,
    args: &[&str],
    env: &[(&str, &std::path::Path)],
) -> (bool, String, String) {
    let mut cmd = Command::new(exe);
    cmd.arg("invoke").arg(spec).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot start {exe}: {e}"));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The JSON response `exe invoke SPEC ARGS…` printed; fails with its output when it failed.
pub fn invoke_json(
    exe: &str,
    spec: &std::path::Path,
    args: &[&str],
    env: &[(&str, &std::path::Path)],
) -> serde_json::Value {
    let (ok, stdout, stderr) = invoke(exe, spec, args, env);
    assert!(ok, "invoke failed:\n{stdout}\n{stderr}");
    serde_json::from_str(stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout}"))
}

/// Every message on the stream `path` so far, from the earliest (a reader that stops at the
/// end instead of waiting for more).
pub fn stream_messages(ctx: &bindery::Context, path: &str) -> Vec<bindery::Message> {
    ctx.stream()
        .consume(path)
        .follow(false)
        .load()
        .map(|m| m.unwrap_or_else(|e| panic!("read {path}: {e}")))
        .collect()
}
