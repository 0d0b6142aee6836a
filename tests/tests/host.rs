//! The host around the drivers: start-up failures, the plugin boundary, capability checks,
//! retries and timeouts.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bindery::{Context, ErrorKind};
use bindery_core::{
    async_trait, BindingConfig, Capability, Driver, DriverInfo, Error, Instance, Kind, ObjectDriver,
    ObjectMeta, OpStat, Result,
};
use bindery_runtime::Registry;
use bindery_tests::{cdylib, spec_text};

fn write_spec(dir: &tempfile::TempDir, text: &str) -> std::path::PathBuf {
    let p = dir.path().join("function.yaml");
    std::fs::write(&p, text).unwrap();
    p
}

#[tokio::test]
async fn a_binding_that_cannot_connect_stops_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("not-a-dir"), "x").unwrap();
    let spec = write_spec(&dir, &spec_text("fs", "      url: ./not-a-dir/sub\n"));
    let e = Context::connect(&spec).await.expect_err("start-up must fail");
    let text = e.to_string();
    assert!(
        text.contains("binding 'obj'") && text.contains("driver 'fs'"),
        "{text}"
    );
    assert!(
        text.contains("function.yaml:8:5"),
        "names where the binding is: {text}"
    );
}

#[tokio::test]
async fn a_missing_secret_stops_start_up_naming_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(
        &dir,
        &spec_text("memory", "      secret: { env: BINDERY_TEST_NO_SUCH_VAR }\n"),
    );
    let e = Context::connect(&spec).await.expect_err("start-up must fail");
    assert!(
        e.to_string().contains("BINDERY_TEST_NO_SUCH_VAR is not set"),
        "{e}"
    );
    assert!(e.to_string().contains("function.yaml:12:15"), "{e}");
}

#[tokio::test]
async fn a_plugin_of_another_abi_version_is_refused_not_called() {
    let lib = cdylib("abi-v999-plugin");
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(&dir, &spec_text(&lib.display().to_string(), ""));
    let e = Context::connect(&spec).await.expect_err("must be refused");
    let text = e.to_string();
    assert!(
        text.contains("ABI version 999") && text.contains("speaks version 2"),
        "{text}"
    );
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
}

#[tokio::test]
async fn a_library_that_is_not_a_plugin_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let fake = dir.path().join("libfake.so");
    std::fs::write(&fake, b"not an ELF file").unwrap();
    let spec = write_spec(&dir, &spec_text("./libfake.so", ""));
    let e = Context::connect(&spec).await.expect_err("must be refused");
    assert!(e.to_string().contains("is not a shared library"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panic_in_a_plugin_becomes_an_error_and_the_host_goes_on() {
    let lib = cdylib("panicky-plugin");
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(&dir, &spec_text(&lib.display().to_string(), ""));
    let ctx = Context::connect(&spec).await.unwrap();
    for _ in 0..3 {
        let e = ctx.object().get("obj://x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Internal);
        assert!(e.to_string().contains("panicked on purpose"), "{e}");
    }
    let meta = ctx.object().head("obj://still-alive").await.unwrap();
    assert_eq!(meta.path, "still-alive");
    let e = ctx.object().put("obj://x", "y").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.to_string()
            .contains("driver 'panicky' of binding 'obj' does not support put"),
        "{e}"
    );
    // A panic while connecting fails start-up, with the panic's message.
    let spec = write_spec(&dir, &spec_text(&lib.display().to_string(), "      url: panic\n"));
    let e = Context::connect(&spec).await.expect_err("connect panicked");
    assert!(e.to_string().contains("connect was told to panic"), "{e}");
}

/// A driver whose head fails with a retryable error a number of times, or hangs.
struct Flaky {
    failures: u32,
    hang: bool,
    calls: Arc<AtomicU32>,
}

struct FlakyInstance {
    failures: u32,
    hang: bool,
    calls: Arc<AtomicU32>,
}

#[async_trait]
impl Driver for Flaky {
    fn info(&self) -> DriverInfo {
        let capability = Capability {
            head: true,
            list: true,
            ..Capability::NONE
        };
        DriverInfo {
            name: "flaky".into(),
            kinds: vec![Kind::Object],
            capability,
            description: "test".into(),
            version: "0".into(),
            local_url: false,
            options: Vec::new(),
        }
    }
    async fn connect(&self, _: BindingConfig) -> Result<Arc<dyn Instance>> {
        Ok(Arc::new(FlakyInstance {
            failures: self.failures,
            hang: self.hang,
            calls: self.calls.clone(),
        }))
    }
}

impl Instance for FlakyInstance {
    fn capability(&self) -> Capability {
        Flaky {
            failures: 0,
            hang: false,
            calls: Default::default(),
        }
        .info()
        .capability
    }
    // Requests begin on the binding's task (the panic test covers both paths).
    fn answers_in_place(&self) -> bool {
        true
    }
    fn object(&self) -> Option<&dyn ObjectDriver> {
        Some(self)
    }
}

#[async_trait]
impl ObjectDriver for FlakyInstance {
    async fn head(&self, path: &str, _: OpStat) -> Result<ObjectMeta> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        // A driver bug: at once (while the binding's task polls the request) or after waiting
        // (on the request's own task).
        if path.ends_with("panic-now") {
            panic!("head of {path}");
        }
        if path.ends_with("panic-later") {
            tokio::task::yield_now().await;
            panic!("head of {path}");
        }
        if self.hang {
            tokio::time::sleep(Duration::from_secs(3600)).await;
        }
        if n < self.failures {
            return Err(Error::unavailable("backend briefly away"));
        }
        Ok(ObjectMeta {
            path: path.into(),
            gen: n.to_string(),
            ..Default::default()
        })
    }
}

async fn flaky_ctx(failures: u32, hang: bool, extra: &str) -> (Context, Arc<AtomicU32>, tempfile::TempDir) {
    let calls = Arc::new(AtomicU32::new(0));
    let registry = Registry::builtin().with(Arc::new(Flaky {
        failures,
        hang,
        calls: calls.clone(),
    }));
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(&dir, &spec_text("flaky", extra));
    let ctx = Context::connect_with(&spec, registry).await.unwrap();
    (ctx, calls, dir)
}

#[tokio::test]
async fn retryable_errors_are_retried_up_to_the_binding_s_retries() {
    let (ctx, calls, _d) = flaky_ctx(2, false, "      retries: 2\n").await;
    assert_eq!(ctx.object().head("obj://a").await.unwrap().gen, "2");
    assert_eq!(calls.load(Ordering::SeqCst), 3);

    let (ctx, calls, _d) = flaky_ctx(5, false, "      retries: 1\n").await;
    let e = ctx.object().head("obj://a").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable);
    assert!(e.is_retryable());
    assert_eq!(calls.load(Ordering::SeqCst), 2, "one try and one retry");
}

#[tokio::test]
async fn a_built_in_driver_that_panics_fails_that_request_and_the_binding_goes_on() {
    let (ctx, calls, _d) = flaky_ctx(0, false, "").await;
    for path in ["obj://panic-now", "obj://panic-later"] {
        let e = ctx.object().head(path).await.unwrap_err();
        assert!(
            e.to_string().contains("the response ended before its last frame"),
            "{e}"
        );
        assert!(e.to_string().contains("binding 'obj'"), "{e}");
        // The binding still answers.
        assert_eq!(ctx.object().head("obj://a").await.unwrap().path, "a");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn each_attempt_has_the_binding_s_timeout() {
    let (ctx, calls, _d) = flaky_ctx(0, true, "      timeout: 50ms\n      retries: 1\n").await;
    let e = ctx.object().head("obj://a").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("binding 'obj'"), "{e}");
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn what_a_driver_cannot_do_is_unsupported_naming_binding_and_driver() {
    let (ctx, calls, _d) = flaky_ctx(0, false, "").await;
    let e = ctx.object().get("obj://a").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported);
    assert!(
        e.to_string()
            .contains("driver 'flaky' of binding 'obj' does not support get"),
        "{e}"
    );
    let e = ctx
        .object()
        .head("obj://a")
        .condition("if-match", "g1")
        .await
        .unwrap_err();
    assert!(
        e.to_string().contains("does not support head with if-match"),
        "{e}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 0, "refused before the driver");
}

#[tokio::test]
async fn secrets_are_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "s3cr3t-value\n").unwrap();
    let spec_path = write_spec(
        &dir,
        &spec_text(
            "memory",
            "      credentials:\n        token: { file: token }\n        inline: also-s3cr3t\n",
        ),
    );
    let spec = bindery_runtime::Spec::load(&spec_path, &Registry::builtin().infos()).unwrap();
    let secrets = spec.bindings[0].resolve_secrets(&spec_path).unwrap();
    assert_eq!(secrets["token"].expose(), "s3cr3t-value");
    let shown = format!("{secrets:?} {:?}", spec.bindings[0]);
    assert!(!shown.contains("s3cr3t"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_runs_ahead_by_the_prefetch_window_and_no_further() {
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(&dir, &spec_text("fs", "      url: ./data\n      prefetch: 3\n"));
    let ctx = Context::connect(&spec).await.unwrap();
    ctx.object().put("obj://big", vec![1u8; 6 << 20]).await.unwrap();
    let (binding, path) = ctx.host().resolve(Kind::Object, "obj://big", false).unwrap();
    let request = bindery_core::DataRequest {
        path,
        details: bindery_core::Details::ObjectGet(Default::default()),
    };
    let (envelope, rx) = binding.prepare(request).unwrap();
    binding.dispatch(envelope).unwrap();
    // The caller does not read: the driver fills the window, then waits.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while rx.len() < 3 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(rx.len(), 3, "exactly the prefetch window is buffered");
    let mut behind = Vec::new();
    let mut total = 0;
    while let Ok(frame) = rx.recv_async().await {
        let frame = frame.unwrap();
        behind.push(frame.behind);
        total += frame.buffer.len();
        if frame.is_last {
            break;
        }
    }
    assert_eq!(total, 6 << 20);
    assert_eq!(behind.len(), 6, "six 1 MiB frames");
    assert_eq!(
        &behind[..3],
        &[0, 1, 2],
        "`behind` counts the frames already waiting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_streamed_put_is_not_cut_off_by_the_timeout() {
    use futures::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let spec = write_spec(&dir, &spec_text("fs", "      url: ./data\n      timeout: 50ms\n"));
    let ctx = Context::connect(&spec).await.unwrap();
    // Ten chunks, 30 ms apart: the input lasts six times the binding's timeout.
    let slow = futures::stream::iter(0..10u8)
        .then(|i| async move {
            tokio::time::sleep(Duration::from_millis(30)).await;
            Ok(bytes::Bytes::from(vec![i; 1000]))
        })
        .boxed();
    let meta = ctx
        .object()
        .put("obj://slow", bytes::Bytes::new())
        .add_stream(slow)
        .await
        .unwrap();
    assert_eq!(meta.size, 10_000);
}

/// The threads of this process by name, from /proc.
fn thread_names() -> std::collections::BTreeMap<String, usize> {
    let mut names = std::collections::BTreeMap::new();
    for t in std::fs::read_dir("/proc/self/task").unwrap() {
        let comm = std::fs::read_to_string(t.unwrap().path().join("comm")).unwrap_or_default();
        *names.entry(comm.trim().to_string()).or_default() += 1;
    }
    names
}

/// The threads of the host (not of a plugin's own runtime, whose threads are named
/// `bindery-plugin-<driver>`), and of the whole process.
fn threads() -> (usize, usize) {
    let names = thread_names();
    let plugin: usize = names
        .iter()
        .filter(|(n, _)| n.starts_with("bindery-plugin-"))
        .map(|(_, c)| c)
        .sum();
    let all: usize = names.values().sum();
    (all - plugin, all)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_following_consumers_through_a_plugin_hold_no_thread_each() {
    const CONSUMERS: usize = 1_000;
    let lib = cdylib("log-plugin");
    let fx = bindery_tests::stream_fixture(&lib.display().to_string(), "      url: ./streams\n").await;
    let ctx = fx.ctx.clone();
    ctx.stream().create("ev://", "wide", 1).await.unwrap();
    let (host_before, _) = threads();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let consumers: Vec<_> = (0..CONSUMERS)
        .map(|_| {
            let (ctx, started_tx) = (ctx.clone(), started_tx.clone());
            tokio::spawn(async move {
                let mut c = ctx.stream().consume("ev://wide").load();
                started_tx.send(()).unwrap();
                let m = c.next_async().await.unwrap().unwrap();
                c.close_async().await;
                m.value
            })
        })
        .collect();
    for _ in 0..CONSUMERS {
        started.recv().await.unwrap();
    }
    // Every consumer's request is open in the plugin and waiting for a message.
    tokio::time::sleep(Duration::from_millis(500)).await;
    // The host polls every call through the ABI: no thread of its own waits on one. (The log
    // driver inside the plugin reads its files on its runtime's blocking pool, which grows
    // with the readers polling at once, up to tokio's cap of 512: the driver's cost, not the
    // ABI's, so only the host's threads are held to a bound here.)
    let (host, all) = threads();
    assert!(
        host < host_before + 20,
        "{CONSUMERS} waiting consumers: {host} host threads ({host_before} before), {all} in all: {:?}",
        thread_names()
    );
    ctx.stream()
        .publish("ev://wide")
        .buffers(["hello"])
        .await
        .unwrap();
    for c in consumers {
        let got = tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(&got[..], b"hello");
    }
}
