//! The function runtime's triggers, in process: `bindery::function::serve` with handlers of
//! the tests' own, on the `memory` object and `log` stream drivers (and nuclio's kafka-cluster
//! trigger on the test run's Kafka-protocol broker).

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bindery::function::{serve, Event, Handler, Response, Shutdown};
use bindery::{Context, Message};
use bindery_tests::function::{free_port, http, wait_port};

fn spec(dir: &std::path::Path, triggers: &str) -> std::path::PathBuf {
    let text = format!(
        "metadata:\n  name: triggers\nspec:\n  runtime: rust\n  triggers:\n{triggers}  dataBindings:\n    obj:\n      driver: memory\n    ev:\n      kind: stream\n      driver: log\n      url: ./streams\n"
    );
    let file = dir.join("function.yaml");
    std::fs::write(&file, text).unwrap();
    file
}

/// Starts `serve` on its own task; returns the context, the trigger that stops it and its end.
async fn start(
    file: &std::path::Path,
    handler: impl Handler,
) -> (
    Context,
    bindery::function::ShutdownTrigger,
    tokio::task::JoinHandle<bindery::Result<()>>,
) {
    let ctx = Context::connect(file).await.unwrap();
    let (stop, shutdown) = Shutdown::new();
    let task = tokio::spawn(serve(ctx.clone(), Arc::new(handler), shutdown));
    (ctx, stop, task)
}

async fn get(
    port: u16,
    method: &'static str,
    path: &str,
    body: &'static [u8],
) -> bindery_tests::function::HttpResponse {
    let path = path.to_string();
    tokio::task::spawn_blocking(move || http(port, method, &path, &[("x-test", "1")], body).unwrap())
        .await
        .unwrap()
}

async fn web(ctx: Context, event: Event) -> Result<Response, bindery::Error> {
    match event.path.as_str() {
        "/fail" => Err(bindery::Error::invalid_input("the handler refused it")),
        "/panic" => panic!("handler bug"),
        "/sleep" => {
            tokio::time::sleep(Duration::from_millis(400)).await;
            Ok(Response::new("slept"))
        }
        p => {
            let key = p.trim_start_matches('/');
            if event.method == "PUT" {
                ctx.object()
                    .put(format!("obj://{key}"), event.body.clone())
                    .await?;
            }
            let o = ctx.object().get(format!("obj://{key}")).await?;
            Ok(Response::new(o.data)
                .with_status(201)
                .with_header("x-method", event.method.clone())
                .with_header("x-query", format!("{:?}", event.query))
                .with_header("x-seen", event.header("x-test").unwrap_or("-").to_string()))
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_requests_reach_the_handler_and_errors_become_500s() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = spec(
        dir.path(),
        &format!("    web:\n      kind: http\n      attributes:\n        port: {port}\n        maxRequestBodySize: 1000\n"),
    );
    let (_ctx, stop, task) = start(&file, web).await;
    assert!(wait_port(port, Duration::from_secs(10)));

    let r = get(port, "PUT", "/a/b.txt?x=1&y=two%20words", b"hello").await;
    assert_eq!((r.status, r.text().as_str()), (201, "hello"));
    assert_eq!(r.header("x-method"), Some("PUT"));
    assert_eq!(r.header("x-seen"), Some("1"));
    assert_eq!(r.header("x-query"), Some(r#"[("x", "1"), ("y", "two words")]"#));

    let r = get(port, "GET", "/fail", b"").await;
    assert_eq!(r.status, 500);
    assert!(
        r.text()
            .contains("handler error: InvalidInput: the handler refused it"),
        "{}",
        r.text()
    );
    let r = get(port, "GET", "/panic", b"").await;
    assert_eq!(r.status, 500);
    assert!(
        r.text().contains("the handler panicked: handler bug"),
        "{}",
        r.text()
    );
    // A missing object: the handler's NotFound error is a 500 naming it.
    let r = get(port, "GET", "/nothing", b"").await;
    assert_eq!(r.status, 500);
    assert!(r.text().contains("NotFound"), "{}", r.text());
    let r = get(port, "PUT", "/big", &[b'x'; 1001]).await;
    assert_eq!(r.status, 413);
    assert!(r.text().contains("larger than 1000 bytes"), "{}", r.text());
    // The host is still serving after all that.
    let r = get(port, "GET", "/a/b.txt", b"").await;
    assert_eq!((r.status, r.text().as_str()), (201, "hello"));

    stop.fire();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_requests_in_flight_finish_and_max_workers_limits() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let file = spec(
        dir.path(),
        &format!(
            "    web:\n      kind: http\n      maxWorkers: 1\n      attributes:\n        port: {port}\n        workerAvailabilityTimeout: 100ms\n"
        ),
    );
    let (_ctx, stop, task) = start(&file, web).await;
    assert!(wait_port(port, Duration::from_secs(10)));
    let slow = tokio::spawn(get(port, "GET", "/sleep", b""));
    tokio::time::sleep(Duration::from_millis(100)).await;
    // The one worker is busy for another 300 ms: this request waits 100 ms, then gets 503.
    let busy = get(port, "GET", "/a", b"").await;
    assert_eq!(busy.status, 503);
    assert!(
        busy.text().contains("all 1 workers of trigger 'web' are busy"),
        "{}",
        busy.text()
    );
    stop.fire();
    let r = slow.await.unwrap();
    assert_eq!((r.status, r.text().as_str()), (200, "slept"));
    task.await.unwrap().unwrap();
    // Stopped: nothing listens any more.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

/// The messages a [`Recorder`] handled: value, shard, position.
type Seen = Arc<std::sync::Mutex<Vec<(String, u32, u64)>>>;

/// Fails every message whose value is `bad`, and the first `flaky` attempts of the rest.
struct Recorder {
    seen: Seen,
    flaky: AtomicU32,
}

impl Handler for Recorder {
    fn call(&self, _ctx: Context, event: Event) -> bindery::function::HandlerFuture {
        let value = String::from_utf8_lossy(&event.body).into_owned();
        let fail = value == "bad"
            || self
                .flaky
                .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                .is_ok();
        if !fail {
            self.seen
                .lock()
                .unwrap()
                .push((value, event.shard.unwrap(), event.position.unwrap()));
        }
        Box::pin(async move {
            if fail {
                Err("cannot handle it".into())
            } else {
                Ok(Response::new("ok"))
            }
        })
    }
}

fn recorder(flaky: u32) -> (Recorder, Seen) {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    (
        Recorder {
            seen: seen.clone(),
            flaky: AtomicU32::new(flaky),
        },
        seen,
    )
}

async fn wait_for(seen: &Seen, n: usize) {
    for _ in 0..400 {
        if seen.lock().unwrap().len() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("handled {} of {n}", seen.lock().unwrap().len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_messages_are_checkpointed_once_handled_and_failures_dead_lettered() {
    let dir = tempfile::tempdir().unwrap();
    let triggers = "    orders:\n      kind: stream\n      attributes:\n        path: ev://orders\n        group: g\n        retries: 2\n        backoff: 10ms\n        deadLetter: ev://dead\n";
    let file = spec(dir.path(), triggers);
    {
        let ctx = Context::connect(&file).await.unwrap();
        ctx.stream().create("ev://orders", "", 2).await.unwrap();
        ctx.stream().create("ev://dead", "", 1).await.unwrap();
    }
    // Two flaky failures: the first message is retried twice, then handled.
    let (handler, seen) = recorder(2);
    let (ctx, stop, task) = start(&file, handler).await;
    let msgs = ["a", "bad", "b", "c"].map(|v| Message::new(v).with_key(v));
    ctx.stream().publish("ev://orders").messages(msgs).await.unwrap();
    wait_for(&seen, 3).await;
    // The bad message went to the dead-letter stream after 1 + 2 attempts.
    let mut dead = ctx.stream().consume("ev://dead").follow(false).load();
    let mut dead_msgs = Vec::new();
    for _ in 0..200 {
        if let Some(m) = dead.poll(Duration::from_millis(25)) {
            dead_msgs.push(m.unwrap());
            break;
        }
    }
    let d = dead_msgs.first().expect("a dead letter");
    assert_eq!(&d.value[..], b"bad");
    assert_eq!(d.key.as_deref(), Some(&b"bad"[..]));
    let header = |n: &str| {
        d.headers
            .iter()
            .find(|(k, _)| k == n)
            .map(|(_, v)| String::from_utf8_lossy(v).into_owned())
    };
    assert_eq!(
        header("bindery-error").as_deref(),
        Some("handler error: cannot handle it")
    );
    assert!(
        header("bindery-source").unwrap().starts_with("ev://orders:"),
        "{:?}",
        header("bindery-source")
    );
    stop.fire();
    task.await.unwrap().unwrap();
    drop((dead, ctx));

    // After a restart, only what was published since comes: everything before was
    // checkpointed (handled or dead-lettered).
    let (handler, seen2) = recorder(0);
    let (ctx, stop, task) = start(&file, handler).await;
    // The first host lets go of the stream's write lock once its binding tasks end.
    let mut published = None;
    for _ in 0..200 {
        match ctx
            .stream()
            .publish("ev://orders")
            .messages([Message::new("d")])
            .await
        {
            Err(e) if e.kind() == bindery::ErrorKind::Unavailable => {
                tokio::time::sleep(Duration::from_millis(25)).await
            }
            other => {
                published = Some(other.unwrap());
                break;
            }
        }
    }
    assert!(published.is_some(), "the first host kept the stream's write lock");
    wait_for(&seen2, 1).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let values: Vec<String> = seen2.lock().unwrap().iter().map(|(v, _, _)| v.clone()).collect();
    assert_eq!(values, ["d"]);
    let mut first: Vec<String> = seen.lock().unwrap().iter().map(|(v, _, _)| v.clone()).collect();
    first.sort();
    assert_eq!(first, ["a", "b", "c"]);
    stop.fire();
    task.await.unwrap().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_trigger_on_a_missing_stream_fails_start_up_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let file = spec(
        dir.path(),
        "    orders:\n      kind: stream\n      attributes:\n        path: ev://nope\n",
    );
    let (handler, _) = recorder(0);
    let (_ctx, _stop, task) = start(&file, handler).await;
    let e = task.await.unwrap().unwrap_err();
    assert!(e.to_string().contains("trigger 'orders'"), "{e}");
    assert_eq!(e.kind(), bindery::ErrorKind::NotFound, "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cron_fires_on_its_interval_with_the_spec_s_event() {
    let dir = tempfile::tempdir().unwrap();
    let file = spec(
        dir.path(),
        "    tick:\n      kind: cron\n      attributes:\n        interval: 100ms\n        event:\n          body: tock\n          headers:\n            source: cron-test\n",
    );
    let count = Arc::new(AtomicU32::new(0));
    let c = count.clone();
    let handler = move |_ctx: Context, event: Event| {
        let c = c.clone();
        async move {
            assert_eq!(
                (&event.body[..], event.header("source")),
                (&b"tock"[..], Some("cron-test"))
            );
            assert_eq!(event.trigger_kind, "cron");
            c.fetch_add(1, Ordering::SeqCst);
            Ok::<_, bindery::Error>(())
        }
    };
    let (_ctx, stop, task) = start(&file, handler).await;
    tokio::time::sleep(Duration::from_millis(750)).await;
    stop.fire();
    task.await.unwrap().unwrap();
    let n = count.load(Ordering::SeqCst);
    assert!((3..=8).contains(&n), "fired {n} times in 750 ms at 100 ms");
}

/// nuclio's `kafka-cluster` trigger, as nuclio's specs write it, end to end on the test run's
/// broker: both topics of the list are consumed by one group, from the earliest offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nuclio_kafka_cluster_trigger_consumes_its_topics_in_one_group() {
    let url = bindery_tests::kafka_server();
    let brokers = url.trim_start_matches("kafka://").to_string();
    let p = bindery_tests::unique_prefix("kc");
    let dir = tempfile::tempdir().unwrap();
    // `pub` publishes (one message per batch: the tansu workaround of `kafka_binding`).
    let text = format!(
        "metadata:\n  name: kc\nspec:\n  runtime: rust\n  triggers:\n    orders:\n      kind: kafka-cluster\n      maxWorkers: 1\n      attributes:\n        brokers:\n          - {brokers}\n        topics: [{p}.eu, {p}.us]\n        consumerGroup: {p}.g\n        initialOffset: earliest\n  dataBindings:\n    pub:\n      kind: stream\n      driver: kafka\n      url: {url}\n      retries: 0\n      options:\n        producer.batch.num.messages: \"1\"\n"
    );
    let file = dir.path().join("function.yaml");
    std::fs::write(&file, text).unwrap();
    {
        let ctx = Context::connect(&file).await.unwrap();
        for region in ["eu", "us"] {
            ctx.stream()
                .create(format!("pub://{p}.{region}"), "", 1)
                .await
                .unwrap();
            let msgs = [1, 2].map(|i| Message::new(format!("{region}-{i}")));
            ctx.stream()
                .publish(format!("pub://{p}.{region}"))
                .messages(msgs)
                .await
                .unwrap();
        }
    }
    let (handler, seen) = recorder(0);
    let (_ctx, stop, task) = start(&file, handler).await;
    for _ in 0..1200 {
        if seen.lock().unwrap().len() >= 4 || task.is_finished() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    stop.fire();
    task.await.unwrap().unwrap();
    let mut values: Vec<String> = seen.lock().unwrap().iter().map(|(v, _, _)| v.clone()).collect();
    values.sort();
    assert_eq!(values, ["eu-1", "eu-2", "us-1", "us-2"]);
}

/// The watch events a handler got: (change kind, event path, JSON body).
type Events = Arc<std::sync::Mutex<Vec<(String, String, serde_json::Value)>>>;

/// A handler keeping each watch event in `seen`, failing those whose path ends in `bad`.
fn watch_recorder(seen: Events) -> impl Handler {
    move |_ctx: Context, event: Event| {
        let seen = seen.clone();
        async move {
            let body: serde_json::Value = serde_json::from_slice(&event.body).unwrap();
            if event.path.ends_with("bad") {
                return Err("cannot handle it".to_string());
            }
            let kind = event.header("bindery-change").unwrap_or("").to_string();
            seen.lock().unwrap().push((kind, event.path.clone(), body));
            Ok(Response::new("ok"))
        }
    }
}

/// The events handled once there are `n` (within 10 s, or a panic naming them).
async fn handled(seen: Events, n: usize) -> Vec<(String, String, serde_json::Value)> {
    for _ in 0..400 {
        if seen.lock().unwrap().len() >= n {
            return seen.lock().unwrap().clone();
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("handled {:?}", seen.lock().unwrap());
}

/// The watch trigger: an event per change under the prefix, from bindery and from other
/// programs; a failing change dead-lettered; the cursor kept after each handled change; a
/// restart on `fs` (which keeps no history across processes) begins with a resync.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_trigger_calls_the_handler_per_change_and_keeps_its_cursor() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("function.yaml");
    std::fs::write(
        &file,
        "metadata:\n  name: w\nspec:\n  triggers:\n    inbox:\n      kind: watch\n      attributes:\n        path: files://in/\n        initial: true\n        checkpoint: files://state/inbox\n        retries: 1\n        backoff: 10ms\n        deadLetter: ev://dead\n  dataBindings:\n    files:\n      driver: fs\n      url: ./data\n    ev:\n      kind: stream\n      driver: log\n      url: ./streams\n",
    )
    .unwrap();
    std::fs::create_dir_all(dir.path().join("data/in")).unwrap();
    {
        let ctx = Context::connect(&file).await.unwrap();
        ctx.stream().create("ev://dead", "", 1).await.unwrap();
    }
    let seen: Events = Arc::default();
    let (ctx, stop, task) = start(&file, watch_recorder(seen.clone())).await;
    // With `initial`, what is there when the watch begins comes as created too: whether
    // the trigger started watching before these writes or after, each is one event.
    ctx.object().put("files://in/a", "1").await.unwrap();
    std::fs::write(dir.path().join("data/in/b"), "by hand").unwrap();
    ctx.object().put("files://in/bad", "x").await.unwrap();
    ctx.object().put("files://elsewhere", "x").await.unwrap();
    handled(seen.clone(), 2).await;
    let got = seen.lock().unwrap().clone();
    assert_eq!(
        got.iter()
            .map(|(k, p, _)| (k.as_str(), p.as_str()))
            .collect::<Vec<_>>(),
        [("created", "files://in/a"), ("created", "files://in/b")]
    );
    assert_eq!(got[1].2["size"], 7);
    // The failing change went to the dead-letter stream, as the event's JSON body.
    // (Following: the letter comes after the change's retries.)
    let mut dead = ctx.stream().consume("ev://dead").from_("earliest", "").load();
    let letter = dead
        .poll(Duration::from_secs(10))
        .expect("a dead letter")
        .unwrap();
    let body: serde_json::Value = serde_json::from_slice(&letter.value).unwrap();
    assert_eq!(
        (body["kind"].as_str(), body["path"].as_str()),
        (Some("created"), Some("in/bad"))
    );
    // The kept cursor is the last handled change's (the dead-lettered one counts as handled;
    // bindery's puts and the plain write may be seen in either order).
    let seq = |c: &str| c.rsplit_once('-').unwrap().1.parse::<u64>().unwrap();
    let last = got
        .iter()
        .map(|(_, _, b)| b["cursor"].as_str().unwrap().to_string())
        .chain([body["cursor"].as_str().unwrap().to_string()])
        .max_by_key(|c| seq(c))
        .unwrap();
    let mut kept = Vec::new();
    for _ in 0..200 {
        kept = ctx
            .object()
            .get("files://state/inbox")
            .await
            .unwrap()
            .data
            .to_vec();
        if kept == last.as_bytes() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(String::from_utf8_lossy(&kept), last);
    stop.fire();
    task.await.unwrap().unwrap();
    drop((dead, ctx));

    // Restarted: the fs driver's history was the old process's, so the kept cursor resyncs:
    // a resync event, then the objects there now.
    let seen2: Events = Arc::default();
    let (_ctx, stop, task) = start(&file, watch_recorder(seen2.clone())).await;
    handled(seen2.clone(), 3).await;
    let got = seen2.lock().unwrap().clone();
    assert_eq!(
        got.iter()
            .map(|(k, p, _)| (k.as_str(), p.as_str()))
            .collect::<Vec<_>>(),
        [
            ("resync", "files://"),
            ("created", "files://in/a"),
            ("created", "files://in/b")
        ]
    );
    stop.fire();
    task.await.unwrap().unwrap();
}

/// The watch trigger on a table: an event per row change (by bindery or by Python's
/// `sqlite3`), named `db://users/<key>` with the row in its body; stopped and started again,
/// it goes on after the last change it handled, from the history SQLite keeps (no resync).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_trigger_on_a_table_goes_on_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("function.yaml");
    std::fs::write(
        &file,
        "metadata:\n  name: w\nspec:\n  triggers:\n    users:\n      kind: watch\n      attributes:\n        path: db://users\n        initial: true\n        checkpoint: files://state/users\n  dataBindings:\n    db:\n      kind: table\n      driver: sqlite\n      url: ./data.db\n    files:\n      driver: fs\n      url: ./data\n",
    )
    .unwrap();
    {
        let ctx = Context::connect(&file).await.unwrap();
        bindery_tests::create_table(&ctx, "db://users", "user string NOT NULL, age int64", "user").await;
    }
    let names = |got: &[(String, String, serde_json::Value)]| -> Vec<String> {
        got.iter().map(|(k, p, _)| format!("{k} {p}")).collect()
    };
    let seen: Events = Arc::default();
    let (ctx, stop, task) = start(&file, watch_recorder(seen.clone())).await;
    // With `initial`, a row written before the trigger watches comes as created too: either
    // way it is one event.
    ctx.table()
        .write("db://users")
        .with_items([serde_json::json!({"user": "ana", "age": 41})])
        .await
        .unwrap();
    let got = handled(seen.clone(), 1).await;
    assert_eq!(names(&got), ["created db://users/ana"]);
    assert_eq!(got[0].2["row"], serde_json::json!({"user": "ana", "age": 41}));
    stop.fire();
    task.await.unwrap().unwrap();
    // While the function is down, another program changes a row.
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg("import sqlite3, sys; db = sqlite3.connect(sys.argv[1]); db.execute(\"UPDATE users SET age = 42 WHERE user = 'ana'\"); db.commit()")
        .arg(dir.path().join("data.db"))
        .status()
        .unwrap();
    assert!(out.success());
    let seen2: Events = Arc::default();
    let (_ctx, stop, task) = start(&file, watch_recorder(seen2.clone())).await;
    let got = handled(seen2.clone(), 1).await;
    assert_eq!(names(&got), ["updated db://users/ana"]);
    assert_eq!(
        (&got[0].2["row"]["age"], &got[0].2["before"]["age"]),
        (&serde_json::json!(42), &serde_json::json!(41))
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        seen2.lock().unwrap().len(),
        1,
        "nothing repeated: {:?}",
        seen2.lock().unwrap()
    );
    stop.fire();
    task.await.unwrap().unwrap();
}
