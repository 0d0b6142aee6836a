//! Cross-crate tests of bindery: the conformance suites every driver of a kind runs, and the
//! helpers they share.
//!
//! Adding a driver to the object suite is one line in `tests/object_conformance.rs`:
//! `object_suite!(name, fixture_fn);` where the fixture builds a [`Fixture`] whose first
//! binding (named `obj`) uses the driver.
//!
//! [`bare::bare_fixture`] runs a built-in driver without the capabilities the host fills in,
//! so the suites check the fill layer against a real driver.

pub mod bare;
pub mod function;
pub mod memory;
pub mod object_suite;
pub mod processors_suite;
pub mod stream_suite;
pub mod table_suite;
pub mod table_watch_suite;
pub mod versions_suite;
pub mod watch_suite;

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use bindery::Context;

/// A connected context and the folder its spec and data live in.
pub struct Fixture {
    /// The context (its first binding, `obj`, is the driver under test).
    pub ctx: Context,
    /// The folder holding `function.yaml` (and the fs driver's data).
    pub dir: tempfile::TempDir,
    /// The drivers the context was connected with.
    pub registry: bindery_runtime::Registry,
}

impl Fixture {
    /// A second context on the same spec and data, as after a restart.
    pub async fn reopen(&self) -> Context {
        Context::connect_with(self.dir.path().join("function.yaml"), self.registry.clone())
            .await
            .expect("reconnect")
    }
}

/// Writes a spec whose only binding, `ev`, is a stream binding on `driver`.
pub async fn stream_fixture(driver: &str, extra: &str) -> Fixture {
    kind_fixture("ev", "stream", driver, extra).await
}

/// Creates table `path` with `schema` and primary key `key` on `ctx`.
pub async fn create_table(ctx: &Context, path: &str, schema: &str, key: &str) {
    ctx.table()
        .create(path)
        .schema(schema)
        .primary_key(key, None)
        .await
        .unwrap_or_else(|e| panic!("create {path}: {e}"));
}

/// Writes a spec whose only binding, `db`, is a table binding on `driver`.
pub async fn table_fixture(driver: &str, extra: &str) -> Fixture {
    kind_fixture("db", "table", driver, extra).await
}

/// The test run's Kafka-protocol broker (tansu, started by `scripts/test`): its URL.
pub fn kafka_server() -> String {
    std::env::var("BINDERY_KAFKA_URL").expect(
        "BINDERY_KAFKA_URL is not set: run the tests with scripts/test, which starts tansu on loopback",
    )
}

/// The binding lines of a `kafka` binding on the broker at `url` whose topics are its own
/// (option `topic_prefix`: the broker is shared by the whole run, and cases name topics).
///
/// `producer.batch.num.messages: 1` works around tansu 0.6.0: after a record batch of several
/// messages it reports the partition's high watermark as one past the batch's first offset
/// and answers a fetch from inside the batch with nothing, so it is sent one message per batch.
pub fn kafka_binding(url: &str) -> String {
    format!(
        "      url: {url}\n      retries: 0\n      options:\n        topic_prefix: {}.\n        producer.batch.num.messages: \"1\"\n",
        unique_prefix("t")
    )
}

/// An `ev` stream binding on the `kafka` driver against the test run's broker.
pub async fn kafka_fixture() -> Fixture {
    stream_fixture("kafka", &kafka_binding(&kafka_server())).await
}

/// The test run's PostgreSQL server (started by `scripts/test`): its URL and password.
pub fn postgres_server() -> (String, String) {
    let get = |var: &str| {
        std::env::var(var).unwrap_or_else(|_| {
            panic!("{var} is not set: run the tests with scripts/test, which starts PostgreSQL on loopback")
        })
    };
    (get("BINDERY_PG_URL"), get("BINDERY_PG_PASSWORD"))
}

/// A new database on the test run's PostgreSQL server; its URL (without the password).
pub async fn postgres_database() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let (url, password) = postgres_server();
    let db = format!("t{}_{}", std::process::id(), SEQ.fetch_add(1, Ordering::Relaxed));
    let mut admin: tokio_postgres::Config = url.parse().expect("BINDERY_PG_URL is a connection string");
    admin.password(password.as_bytes());
    let (client, connection) = admin
        .connect(tokio_postgres::NoTls)
        .await
        .expect("connect to PostgreSQL");
    tokio::spawn(connection);
    client
        .batch_execute(&format!("CREATE DATABASE {db}"))
        .await
        .expect("create the test database");
    let server = url.rsplit_once('/').map_or(url.as_str(), |(s, _)| s);
    format!("{server}/{db}")
}

/// A `db` table binding on the `postgres` driver, on a database of its own made for it on
/// the test run's server; also the database's URL.
pub async fn postgres_fixture_at() -> (Fixture, String) {
    postgres_fixture_with("").await
}

/// [`postgres_fixture_at`] with `extra` binding lines (options).
pub async fn postgres_fixture_with(extra: &str) -> (Fixture, String) {
    let url = postgres_database().await;
    let fx = kind_fixture(
        "db",
        "table",
        "postgres",
        &format!("      url: {url}\n      secret: {{ env: BINDERY_PG_PASSWORD }}\n      retries: 0\n{extra}"),
    )
    .await;
    (fx, url)
}

/// A `db` table binding on the `postgres` driver, on a database of its own.
pub async fn postgres_fixture() -> Fixture {
    postgres_fixture_at().await.0
}

/// Writes a spec whose only binding is `name`, of `kind`, on `driver`, and connects it.
async fn kind_fixture(name: &str, kind: &str, driver: &str, extra: &str) -> Fixture {
    fixture_text(format!(
        "metadata:\n  name: suite\nspec:\n  dataBindings:\n    {name}:\n      kind: {kind}\n      driver: {driver}\n{extra}"
    ))
    .await
}

/// Writes a spec whose first binding `obj` uses `driver` (with `extra` YAML lines added to
/// the binding), and connects it.
pub async fn fixture(driver: &str, extra: &str) -> Fixture {
    fixture_text(spec_text(driver, extra)).await
}

/// The spec text [`fixture`] writes.
pub fn spec_text(driver: &str, extra: &str) -> String {
    spec_text_at(driver, "suite", extra)
}

/// The spec text of an `obj` binding on `driver` with key prefix `path`.
pub fn spec_text_at(driver: &str, path: &str, extra: &str) -> String {
    format!(
        "apiVersion: nuclio.io/v1\nkind: NuclioFunction\nmetadata:\n  name: suite\nspec:\n  runtime: rust\n  dataBindings:\n    obj:\n      kind: object\n      driver: {driver}\n      path: {path}\n{extra}"
    )
}

/// The test run's S3 server `server` (`garage` or `s3s-fs`, started by `scripts/test`): the
/// URL of its bucket.
pub fn s3_server(server: &str) -> String {
    let var = match server {
        "garage" => "BINDERY_GARAGE_URL",
        "s3s-fs" => "BINDERY_S3FS_URL",
        _ => panic!("unknown S3 server {server}"),
    };
    std::env::var(var).unwrap_or_else(|_| {
        panic!(
            "{var} is not set: run the tests with scripts/test, which starts Garage and s3s-fs on loopback"
        )
    })
}

/// The binding lines of an `s3` binding on the bucket at `url`, with the test run's key.
pub fn s3_binding(url: &str) -> String {
    format!(
        "      url: {url}\n      credentials:\n        access_key_id: {{ env: BINDERY_S3_KEY_ID }}\n        secret_access_key: {{ env: BINDERY_S3_SECRET }}\n      retries: 0\n"
    )
}

/// aws-sdk-s3's config for the bucket at `url` (an S3 server of the test run, path style,
/// the run's key), for reaching the server directly rather than through bindery: the config
/// builder (to add to) and the bucket.
pub fn s3_direct_config(url: &str) -> (aws_sdk_s3::config::Builder, String) {
    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    let (endpoint, bucket) = url.rsplit_once('/').expect("the url ends with the bucket");
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    let creds = Credentials::new(
        var("BINDERY_S3_KEY_ID"),
        var("BINDERY_S3_SECRET"),
        None,
        None,
        "direct",
    );
    let conf = aws_sdk_s3::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(creds)
        .endpoint_url(endpoint)
        .force_path_style(true)
        .http_client(aws_smithy_http_client::Builder::new().build_http());
    (conf, bucket.to_string())
}

/// A key prefix no other test uses.
pub fn unique_prefix(what: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static SEQ: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    format!(
        "{what}-{}-{nanos:x}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// An `obj` binding on the `s3` driver against the test run's `server`, under a key prefix of
/// its own.
pub async fn s3_fixture(server: &str) -> Fixture {
    s3_fixture_at(&s3_server(server), "").await.0
}

/// An `obj` binding on the `s3` driver on the bucket at `url` (with `extra` binding lines),
/// under a key prefix of its own; also the prefix.
pub async fn s3_fixture_at(url: &str, extra: &str) -> (Fixture, String) {
    let prefix = unique_prefix("suite");
    let binding = format!("{}{extra}", s3_binding(url));
    (fixture_text(spec_text_at("s3", &prefix, &binding)).await, prefix)
}

/// A server of a test's own, started and stopped by one of the `scripts/*-server` scripts
/// (`start … DIR …` prints `url=…`; `stop DIR`), for tests that stop and restart it. Its
/// state lives in `dir`; it is stopped when dropped.
pub struct ScriptServer {
    script: PathBuf,
    /// The `start` arguments, with `{dir}` standing for the state folder.
    start: Vec<String>,
    env: Vec<(String, String)>,
    /// Its state: data, configuration, port.
    pub dir: tempfile::TempDir,
    /// The URL it printed.
    pub url: String,
}

impl ScriptServer {
    /// Starts a server with `scripts/NAME` and `start_args` (`{dir}`: the state folder), with
    /// `env` added to the script's environment.
    pub fn start(name: &str, start_args: &[&str], env: Vec<(String, String)>) -> ScriptServer {
        let mut server = ScriptServer {
            script: Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../scripts")
                .join(name),
            start: start_args.iter().map(|a| a.to_string()).collect(),
            env,
            dir: tempfile::tempdir().expect("temp dir"),
            url: String::new(),
        };
        let out = server.restart_output();
        server.url = out
            .lines()
            .find_map(|l| l.strip_prefix("url="))
            .unwrap_or_else(|| panic!("scripts/{name} printed no url: {out}"))
            .to_string();
        server
    }

    fn run(&self, args: &[String]) -> std::io::Result<std::process::Output> {
        std::process::Command::new(&self.script)
            .args(args)
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .output()
    }

    fn restart_output(&self) -> String {
        let dir = self.dir.path().display().to_string();
        let args: Vec<String> = std::iter::once("start".to_string())
            .chain(self.start.iter().map(|a| a.replace("{dir}", &dir)))
            .collect();
        let out = self.run(&args).expect("run the server script");
        assert!(
            out.status.success(),
            "{} {args:?}: {}",
            self.script.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Stops the server (its data stays).
    pub fn stop(&self) {
        let out = self
            .run(&["stop".into(), self.dir.path().display().to_string()])
            .expect("run the server script");
        assert!(
            out.status.success(),
            "stop: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Starts the stopped server again, on the same port with the same data.
    pub fn restart(&self) {
        self.restart_output();
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        let _ = self.run(&["stop".into(), self.dir.path().display().to_string()]);
    }
}

/// An S3-compatible server of a test's own (`garage` or `s3s-fs`, by `scripts/s3-server`),
/// with the test run's key.
pub struct S3Instance {
    /// `garage` or `s3s-fs`.
    pub kind: String,
    /// The server.
    pub server: ScriptServer,
}

impl S3Instance {
    /// Starts a new server of `kind`.
    pub fn start(kind: &str) -> S3Instance {
        S3Instance {
            kind: kind.to_string(),
            server: ScriptServer::start("s3-server", &[kind, "{dir}"], Vec::new()),
        }
    }
}

impl std::ops::Deref for S3Instance {
    type Target = ScriptServer;
    fn deref(&self) -> &ScriptServer {
        &self.server
    }
}

async fn fixture_text(spec: String) -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("function.yaml"), spec).expect("write spec");
    let ctx = Context::connect(dir.path().join("function.yaml"))
        .await
        .expect("connect");
    Fixture {
        ctx,
        dir,
        registry: bindery_runtime::Registry::builtin(),
    }
}

/// Runs a crash test's writer, kills it with SIGKILL `after` its first acknowledgement (so
/// the kill lands mid-work however long the writer takes to start on a loaded machine), and
/// returns the lines it printed (its acknowledgements) before it died.
pub fn run_then_kill(
    exe: impl AsRef<std::ffi::OsStr>,
    args: &[&str],
    after: std::time::Duration,
) -> Vec<String> {
    use std::io::BufRead;
    let mut child = std::process::Command::new(exe)
        .args(args)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("start the writer");
    let stdout = child.stdout.take().expect("piped stdout");
    let (first_tx, first_rx) = std::sync::mpsc::channel();
    let lines = std::thread::spawn(move || {
        let mut out = Vec::new();
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            if out.is_empty() {
                let _ = first_tx.send(());
            }
            out.push(line);
        }
        out
    });
    // A writer that acknowledges nothing in a minute is stuck; the caller sees no lines.
    let _ = first_rx.recv_timeout(std::time::Duration::from_secs(60));
    std::thread::sleep(after);
    child.kill().expect("SIGKILL");
    child.wait().expect("reap the writer");
    lines.join().expect("the reader thread")
}

/// A small deterministic generator for the crash tests, so a failing round can be replayed.
pub fn next_random(state: &mut u64) -> u64 {
    *state = state
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    *state >> 33
}

/// The byte a crash test's writer fills write number `seq` with.
pub fn crash_byte(seq: u64) -> u8 {
    (seq % 251) as u8 + 1
}

/// The target folder the running test binary was built into (`target/debug`).
pub fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/deps/<test binary>
    exe.parent()
        .and_then(Path::parent)
        .expect("target dir")
        .to_path_buf()
}

/// The plugin packages the tests load. `scripts/test` builds them all in one cargo call
/// before the tests and sets `BINDERY_PLUGINS_BUILT`, so no test waits on cargo's lock.
pub const PLUGIN_PACKAGES: &[&str] = &[
    "memory-plugin",
    "git-plugin",
    "log-plugin",
    "sqlite-plugin",
    "http-plugin",
    "panicky-plugin",
    "abi-v999-plugin",
];

/// Builds a workspace `cdylib` package (once per test process, unless `scripts/test` built
/// every one of [`PLUGIN_PACKAGES`] already) and returns its library path.
pub fn cdylib(package: &str) -> PathBuf {
    let lib = format!("lib{}.so", package.replace('-', "_"));
    built(&lib, &["-p", package])
}

/// A program of this package (`src/bin`: the crash tests' writers, `transfer`), built when
/// missing (`scripts/test` builds them before the tests); for the driver crates' own tests,
/// which cargo gives no `CARGO_BIN_EXE_…` of another package.
pub fn test_bin(name: &str) -> PathBuf {
    built(name, &["-p", "bindery-tests", "--bin", name])
}

/// `file` in the target folder, after `cargo build ARGS` (once per test process, unless
/// `scripts/test` built everything already: `BINDERY_PLUGINS_BUILT`).
fn built(file: &str, args: &[&str]) -> PathBuf {
    static BUILT: OnceLock<std::sync::Mutex<Vec<String>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    let mut built = built.lock().unwrap_or_else(|p| p.into_inner());
    let target = target_dir();
    let path = target.join(file);
    let prebuilt = std::env::var_os("BINDERY_PLUGINS_BUILT").is_some() && path.is_file();
    if !prebuilt && !built.iter().any(|p| p == file) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut cmd = std::process::Command::new(cargo);
        cmd.args(["build", "--quiet"]).args(args);
        if target.file_name().is_some_and(|n| n == "release") {
            cmd.arg("--release");
        }
        if let Some(root) = target.parent() {
            cmd.env("CARGO_TARGET_DIR", root);
        }
        let status = cmd.status().expect("run cargo build");
        assert!(status.success(), "cargo build {args:?} failed");
        built.push(file.to_string());
    }
    assert!(path.is_file(), "{} missing after the build", path.display());
    path
}
