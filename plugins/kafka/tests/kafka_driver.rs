//! The `kafka` driver against a real Kafka-protocol broker (tansu, started by `scripts/test`):
//! interop with an independent client (the confluent-kafka Python package), errors, and a
//! broker stopped and restarted mid-run (a broker of the test's own, on PostgreSQL storage,
//! which survives the restart).

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use bindery::{ErrorKind, Message};
use bindery_tests::{kafka_binding, kafka_fixture, kafka_server, stream_fixture, Fixture, ScriptServer};
use serde_json::{json, Value};

/// The topic a stream of the fixture is (its binding's `topic_prefix` plus the name).
fn topic(fx: &Fixture, stream: &str) -> String {
    let spec = std::fs::read_to_string(fx.dir.path().join("function.yaml")).unwrap();
    let prefix = spec
        .lines()
        .find_map(|l| l.trim().strip_prefix("topic_prefix: "))
        .expect("topic_prefix in the spec");
    format!("{prefix}{stream}")
}

fn brokers(url: &str) -> String {
    url.strip_prefix("kafka://").unwrap_or(url).to_string()
}

/// Runs the Python client (tests/python/kafka_client.py) and returns its JSON lines.
fn python(args: &[&str], stdin: &str) -> Vec<Value> {
    let py = std::env::var("BINDERY_PYTHON")
        .expect("BINDERY_PYTHON is not set: run the tests with scripts/test, which installs confluent-kafka");
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/python/kafka_client.py");
    let mut child = Command::new(py)
        .arg(script)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "kafka_client.py {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_bindery_publishes_another_client_reads() {
    let fx = kafka_fixture().await;
    let s = fx.ctx.stream();
    s.create("ev://", "out", 3).await.unwrap();
    let msgs: Vec<Message> = (0..20u8)
        .map(|i| {
            Message::new(vec![i, 0, 255, i])
                .with_key(format!("k{}", i % 4))
                .with_header("seq", i.to_string())
                .with_header("bin", vec![0u8, i])
        })
        .collect();
    let placed = s.publish("ev://out").messages(msgs.clone()).await.unwrap();
    let got = python(
        &["consume", &brokers(&kafka_server()), &topic(&fx, "out"), "20"],
        "",
    );
    assert_eq!(got.len(), 20);
    for m in &got {
        let at = (
            m["partition"].as_u64().unwrap() as u32,
            m["offset"].as_u64().unwrap(),
        );
        let i = placed
            .iter()
            .position(|p| *p == at)
            .expect("a message where publish said");
        let sent = &msgs[i];
        assert_eq!(unhex(m["value"].as_str().unwrap()), sent.value.to_vec());
        assert_eq!(
            m["key"].as_str().map(unhex),
            sent.key.as_ref().map(|k| k.to_vec())
        );
        let headers: Vec<(String, Vec<u8>)> = m["headers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| (h[0].as_str().unwrap().to_string(), unhex(h[1].as_str().unwrap())))
            .collect();
        let want: Vec<(String, Vec<u8>)> = sent
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), v.to_vec()))
            .collect();
        assert_eq!(headers, want);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_another_client_publishes_bindery_reads() {
    let fx = kafka_fixture().await;
    let s = fx.ctx.stream();
    s.create("ev://", "in", 2).await.unwrap();
    let sent: Vec<Value> = (0..12u8)
        .map(|i| {
            json!({
                "key": if i % 3 == 0 { Value::Null } else { json!(hex(format!("key{}", i % 3).as_bytes())) },
                "value": hex(&[i, 7, 0, 200]),
                "headers": [["origin", hex(b"python")], ["n", hex(&[i])]],
            })
        })
        .collect();
    let input: String = sent.iter().map(|m| format!("{m}\n")).collect();
    let placed = python(&["produce", &brokers(&kafka_server()), &topic(&fx, "in")], &input);
    assert_eq!(placed.len(), sent.len());
    let got = bindery_tests::stream_suite::collect_stream(&fx.ctx, "in").await;
    assert_eq!(got.len(), 12);
    for (m, at) in sent.iter().zip(&placed) {
        let (shard, position) = (
            at["partition"].as_u64().unwrap() as u32,
            at["offset"].as_u64().unwrap(),
        );
        let ours = got
            .iter()
            .find(|g| g.shard == shard && g.position == position)
            .expect("read where the other client published");
        assert_eq!(ours.value.to_vec(), unhex(m["value"].as_str().unwrap()));
        assert_eq!(
            ours.key.as_ref().map(|k| k.to_vec()),
            m["key"].as_str().map(unhex)
        );
        assert_eq!(ours.headers.len(), 2);
        assert_eq!(
            (ours.headers[0].0.as_str(), &ours.headers[0].1[..]),
            ("origin", &b"python"[..])
        );
        assert!(ours.timestamp.is_some());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_say_what_and_whether_to_retry() {
    let fx = kafka_fixture().await;
    let s = fx.ctx.stream();
    let e = s.publish("ev://nope").buffers(["x"]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("no stream"), "{e}");
    s.create("ev://", "big", 1).await.unwrap();
    // Larger than the producer's message.max.bytes (1 MB by default): refused, not retried.
    let e = s
        .publish("ev://big")
        .buffers([vec![0u8; 2 << 20]])
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::InvalidInput, false),
        "{e}"
    );
    let e = s.create("ev://", "bad/name", 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");

    // A broker that is not there: connect fails, saying where it looked.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("function.yaml"),
        format!(
            "spec:\n  dataBindings:\n    ev:\n      kind: stream\n      driver: kafka\n      url: kafka://127.0.0.1:{port}\n"
        ),
    )
    .unwrap();
    let e = bindery::Context::connect(dir.path().join("function.yaml"))
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Unavailable, true),
        "{e}"
    );
    assert!(e.to_string().contains(&format!("127.0.0.1:{port}")), "{e}");
    // A librdkafka property that does not exist fails at connect, named.
    let bad =
        stream_fixture_err("      url: kafka://127.0.0.1:9\n      options:\n        linger.mss: \"5\"\n")
            .await;
    assert!(bad.to_string().contains("linger.mss"), "{bad}");
}

async fn stream_fixture_err(extra: &str) -> bindery::Error {
    let dir = tempfile::tempdir().unwrap();
    let spec = format!("spec:\n  dataBindings:\n    ev:\n      kind: stream\n      driver: kafka\n{extra}");
    std::fs::write(dir.path().join("function.yaml"), spec).unwrap();
    bindery::Context::connect(dir.path().join("function.yaml"))
        .await
        .unwrap_err()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_broker_loses_nothing_acknowledged() {
    // tansu keeps its data in an S3 bucket (on an s3s-fs server of the test's own), which
    // survives the broker's restart; its memory storage would not. (Its PostgreSQL storage
    // needs a schema tansu 0.6.0 does not create.)
    let s3 = bindery_tests::S3Instance::start("s3s-fs");
    let endpoint = s3.url.rsplit_once('/').unwrap().0.to_string();
    let env = vec![
        ("AWS_ENDPOINT".to_string(), endpoint),
        ("AWS_ALLOW_HTTP".to_string(), "true".to_string()),
        ("AWS_DEFAULT_REGION".to_string(), "us-east-1".to_string()),
        (
            "AWS_ACCESS_KEY_ID".to_string(),
            std::env::var("BINDERY_S3_KEY_ID").unwrap(),
        ),
        (
            "AWS_SECRET_ACCESS_KEY".to_string(),
            std::env::var("BINDERY_S3_SECRET").unwrap(),
        ),
    ];
    let broker = std::sync::Arc::new(ScriptServer::start(
        "kafka-server",
        &["{dir}", "s3://bindery/"],
        env,
    ));
    let binding = kafka_binding(&broker.url);
    // tansu on S3 storage answers slowly (a first publish of 50 took 25-29 s alone here, past
    // the default 30 s under a loaded CI run): this binding waits longer.
    let fx = stream_fixture("kafka", &format!("      timeout: 120s\n{binding}")).await;
    let s = fx.ctx.stream();
    s.create("ev://", "dur", 2).await.unwrap();
    let first: Vec<Message> = (0..50)
        .map(|i| Message::new(format!("a{i}")).with_key(format!("k{}", i % 7)))
        .collect();
    let mut placed = s.publish("ev://dur").messages(first).await.unwrap();
    // A binding whose publishes give up quickly (connected while the broker is up).
    let quick = format!("{binding}        producer.message.timeout.ms: \"1500\"\n");
    let impatient = stream_fixture("kafka", &quick).await;
    placed.extend(
        impatient
            .ctx
            .stream()
            .publish("ev://dur")
            .buffers(["warm"])
            .await
            .unwrap(),
    );
    // A group handles 30 messages and checkpoints them.
    {
        let mut c = s.consume("ev://dur").group("g").load();
        for _ in 0..30 {
            c.next_async().await.unwrap().unwrap();
        }
        c.checkpoint_consumed_async().await.unwrap();
        c.close_async().await;
    }

    broker.stop();
    // While the broker is down a publish that gives up quickly fails with a retryable error.
    let e = impatient
        .ctx
        .stream()
        .publish("ev://dur")
        .buffers(["lost?"])
        .await
        .unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Unavailable, true),
        "{e}"
    );
    // One made while it restarts is retried by librdkafka and succeeds once it is back.
    let restarter = std::thread::spawn({
        let broker = broker.clone();
        move || {
            std::thread::sleep(Duration::from_secs(2));
            broker.restart();
        }
    });
    let later: Vec<Message> = (0..20)
        .map(|i| Message::new(format!("b{i}")).with_key(format!("k{}", i % 7)))
        .collect();
    placed.extend(s.publish("ev://dur").messages(later).await.unwrap());
    restarter.join().unwrap();

    // Everything acknowledged is there, where publish said.
    let all = bindery_tests::stream_suite::collect_stream(&fx.ctx, "dur").await;
    let at: std::collections::BTreeSet<(u32, u64)> = all.iter().map(|m| (m.shard, m.position)).collect();
    for p in &placed {
        assert!(at.contains(p), "acknowledged message at {p:?} is gone");
    }
    // The group resumes after its checkpoint: the 21 it had not handled and the 20 new ones.
    let mut c = s.consume("ev://dur").group("g").follow(false).load();
    let mut rest = 0;
    while let Some(m) = c.next_async().await {
        m.unwrap();
        rest += 1;
    }
    assert_eq!(
        rest, 41,
        "the group resumed with {rest} messages, not the 41 after its checkpoint"
    );
}
