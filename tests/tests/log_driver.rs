//! What the `log` driver promises beyond the stream suite: retention, one writer at a time
//! with readers alongside, and clear errors for bad options.

use std::time::Duration;

use bindery::{Context, ErrorKind};
use bindery_tests::stream_fixture;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_size_drops_the_oldest_closed_segments() {
    let fx = stream_fixture(
        "log",
        "      url: ./streams\n      options:\n        segment.bytes: \"4096\"\n        retention.bytes: \"16384\"\n",
    )
    .await;
    let ctx = &fx.ctx;
    ctx.stream().create("ev://r", "", 1).await.unwrap();
    for i in 0..200 {
        let value = format!("{i:04}{}", "x".repeat(196));
        ctx.stream().publish("ev://r").buffers([value]).await.unwrap();
    }
    let shard = &ctx.stream().list_shards("ev://r").await.unwrap()[0];
    assert_eq!(shard.next, 200);
    assert!(shard.first > 0, "nothing was dropped: {shard:?}");
    let kept: u64 = std::fs::read_dir(fx.dir.path().join("streams/r/shard-0000"))
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .sum();
    assert!(kept <= 16384 + 4096 + 300, "{kept} bytes kept");
    // Earliest now means the first message kept, and the rest is whole and in order.
    let mut c = ctx
        .stream()
        .consume("ev://r")
        .from_("earliest", "")
        .follow(false)
        .load();
    let mut want = shard.first;
    while let Some(m) = c.next_async().await {
        let m = m.unwrap();
        assert_eq!(m.position, want);
        assert_eq!(&m.value[..4], format!("{want:04}").as_bytes());
        want += 1;
    }
    assert_eq!(want, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_by_age_drops_old_segments() {
    let fx = stream_fixture(
        "log",
        "      url: ./streams\n      options:\n        segment.bytes: \"1\"\n        retention.ms: \"300\"\n",
    )
    .await;
    let ctx = &fx.ctx;
    ctx.stream().create("ev://a", "", 1).await.unwrap();
    ctx.stream()
        .publish("ev://a")
        .buffers(["old-1", "old-2"])
        .await
        .unwrap();
    ctx.stream().publish("ev://a").buffers(["old-3"]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(600)).await;
    ctx.stream().publish("ev://a").buffers(["new"]).await.unwrap();
    ctx.stream().publish("ev://a").buffers(["newer"]).await.unwrap();
    let got: Vec<String> = ctx
        .stream()
        .consume("ev://a")
        .from_("earliest", "")
        .follow(false)
        .load()
        .map(|m| String::from_utf8_lossy(&m.unwrap().value).into_owned())
        .collect();
    assert!(!got.iter().any(|v| v.starts_with("old")), "{got:?}");
    assert!(got.ends_with(&["newer".to_string()]), "{got:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_writer_at_a_time_and_readers_alongside() {
    let fx = stream_fixture("log", "      url: ./streams\n").await;
    fx.ctx.stream().create("ev://w", "", 1).await.unwrap();
    fx.ctx
        .stream()
        .publish("ev://w")
        .buffers(["first"])
        .await
        .unwrap();
    // A second host on the same folder is another writer: refused, naming the stream.
    let other = fx.reopen().await;
    let e = other
        .stream()
        .publish("ev://w")
        .buffers(["no"])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unavailable, "{e}");
    assert!(
        e.to_string()
            .contains("stream 'w' is being written by another process"),
        "{e}"
    );
    // It can read, and sees what the writer publishes next.
    let mut tail = other.stream().consume("ev://w").load();
    assert_eq!(&tail.next_async().await.unwrap().unwrap().value[..], b"first");
    fx.ctx
        .stream()
        .publish("ev://w")
        .buffers(["second"])
        .await
        .unwrap();
    let next = tokio::time::timeout(Duration::from_secs(10), tail.next_async())
        .await
        .unwrap();
    assert_eq!(&next.unwrap().unwrap().value[..], b"second");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_options_are_named() {
    for (extra, want) in [
        ("        segment.bytes: \"lots\"\n", "option 'segment.bytes' of the log driver must be a whole number, not 'lots'"),
        ("        retention.hours: \"3\"\n", "unknown option 'retention.hours' of the log driver; options: segment.bytes, retention.bytes, retention.ms"),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let spec = dir.path().join("function.yaml");
        std::fs::write(
            &spec,
            format!("spec:\n  dataBindings:\n    ev:\n      kind: stream\n      driver: log\n      url: ./s\n      options:\n{extra}"),
        )
        .unwrap();
        let e = Context::connect(&spec).await.expect_err("refused").to_string();
        assert!(e.contains(want), "{e}");
    }
}
