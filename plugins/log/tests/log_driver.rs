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
async fn one_writer_process_at_a_time_and_readers_alongside() {
    let fx = stream_fixture("log", "      url: ./streams\n").await;
    fx.ctx.stream().create("ev://w", "", 1).await.unwrap();
    fx.ctx
        .stream()
        .publish("ev://w")
        .buffers(["first"])
        .await
        .unwrap();
    // Another process on the same folder is another writer: refused, naming the stream.
    let spec = fx.dir.path().join("function.yaml");
    let out = std::process::Command::new(bindery_tests::test_bin("log-crash-publisher"))
        .args([spec.to_str().unwrap(), "ev://w", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("stream 'w' is being written by another process"),
        "{stderr}"
    );
    // A second context in this process shares the open stream: it writes too.
    let other = fx.reopen().await;
    other.stream().publish("ev://w").buffers(["also"]).await.unwrap();
    // It reads, and sees what the first publishes next.
    let mut tail = other.stream().consume("ev://w").load();
    assert_eq!(&tail.next_async().await.unwrap().unwrap().value[..], b"first");
    assert_eq!(&tail.next_async().await.unwrap().unwrap().value[..], b"also");
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
        ("        segment.bytes: \"lots\"\n", "option 'segment.bytes' of the log driver: 'lots' is not a whole number"),
        ("        retention.hours: \"3\"\n", "unknown option 'retention.hours' of the log driver; it takes segment.bytes, retention.bytes, retention.ms (`bindery plugins` describes each)"),
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

/// Flips one byte inside the record of position `pos` of the first segment of stream `s`.
fn flip_record(dir: &std::path::Path, stream: &str, pos: usize, record_len: usize) {
    let seg = dir.join(format!("streams/{stream}/shard-0000/00000000000000000000.log"));
    let mut raw = std::fs::read(&seg).unwrap();
    raw[pos * record_len + 20] ^= 0x40;
    std::fs::write(&seg, raw).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_record_is_an_error_naming_shard_and_position_and_nothing_is_cut() {
    let dir = tempfile::tempdir().unwrap();
    let spec = "apiVersion: nuclio.io/v1\nkind: NuclioFunction\nmetadata:\n  name: t\nspec:\n  dataBindings:\n    ev:\n      kind: stream\n      driver: log\n      url: ./streams\n";
    std::fs::write(dir.path().join("function.yaml"), spec).unwrap();
    let file = dir.path().join("function.yaml");
    {
        let ctx = Context::connect(&file).await.unwrap();
        ctx.stream().create("ev://s", "", 1).await.unwrap();
        for i in 0..100 {
            ctx.stream()
                .publish("ev://s")
                .buffers([format!("m{i:03}")])
                .await
                .unwrap();
        }
    }
    // The dropped context's binding tasks end on the runtime after the drop: wait for its
    // writer to let go before damaging the file and opening the stream again.
    wait_for_the_writer_to_let_go(&dir.path().join("streams/s"));
    let seg = dir.path().join("streams/s/shard-0000/00000000000000000000.log");
    let before = std::fs::metadata(&seg).unwrap().len();
    let record_len = before as usize / 100;
    flip_record(dir.path(), "s", 50, record_len);
    let ctx = Context::connect(&file).await.unwrap();
    // A reader serves the 50 whole messages before the damage, then fails: never a quiet end.
    let mut c = ctx
        .stream()
        .consume("ev://s")
        .from_("earliest", "")
        .follow(false)
        .load();
    let mut served = 0;
    let mut failed = None;
    while let Some(m) = c.next_async().await {
        match m {
            Ok(_) => served += 1,
            Err(e) => {
                failed = Some(e);
                break;
            }
        }
    }
    assert_eq!(served, 50);
    let e = failed.expect("the damage ended the read silently");
    let text = e.to_string();
    assert!(text.contains("shard 0") && text.contains("position 50"), "{text}");
    // The writer refuses rather than cutting the 49 acknowledged messages after the damage.
    let e = ctx.stream().publish("ev://s").buffers(["new"]).await.unwrap_err();
    assert!(e.to_string().contains("damaged at byte"), "{e}");
    assert_eq!(
        std::fs::metadata(&seg).unwrap().len(),
        before,
        "the segment was cut"
    );
    // `check` names it, and what a repair would do.
    let (_, findings) = bindery_runtime::registry::check_log_stream(&dir.path().join("streams/s")).unwrap();
    assert_eq!(findings.len(), 1, "{findings:?}");
    assert!(findings[0].problem.contains("position 50"), "{findings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn damage_in_a_sealed_segment_does_not_hide_the_later_ones() {
    let fx = stream_fixture(
        "log",
        "      url: ./streams\n      options:\n        segment.bytes: \"400\"\n",
    )
    .await;
    let ctx = &fx.ctx;
    ctx.stream().create("ev://z", "", 1).await.unwrap();
    for i in 0..40 {
        ctx.stream()
            .publish("ev://z")
            .buffers([format!("m{i:03}")])
            .await
            .unwrap();
    }
    let segments = std::fs::read_dir(fx.dir.path().join("streams/z/shard-0000"))
        .unwrap()
        .count();
    assert!(segments > 2, "{segments} segments");
    let record_len = record_size(
        &fx.dir
            .path()
            .join("streams/z/shard-0000/00000000000000000000.log"),
    );
    flip_record(fx.dir.path(), "z", 2, record_len);
    let mut c = ctx
        .stream()
        .consume("ev://z")
        .from_("earliest", "")
        .follow(false)
        .load();
    let mut served = 0;
    let failed = loop {
        match c.next_async().await {
            Some(Ok(_)) => served += 1,
            Some(Err(e)) => break Some(e),
            None => break None,
        }
    };
    assert_eq!(served, 2);
    let e = failed.expect("a damaged sealed segment ended the read silently");
    assert!(e.to_string().contains("position 2"), "{e}");
}

/// The size of one record of a segment whose records are all alike.
fn record_size(seg: &std::path::Path) -> usize {
    let raw = std::fs::read(seg).unwrap();
    9 + u32::from_le_bytes(raw[1..5].try_into().unwrap()) as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_cannot_nest_in_each_other_and_shard_counts_are_bounded() {
    let fx = stream_fixture("log", "      url: ./streams\n").await;
    let s = fx.ctx.stream();
    s.create("ev://c", "", 1).await.unwrap();
    let e = s.create("ev://c/shard-0000", "", 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("inside stream 'c'"), "{e}");
    let e = s.create("ev://c/groups", "", 1).await.unwrap_err();
    assert!(e.to_string().contains("inside stream 'c'"), "{e}");
    s.create("ev://d/child", "", 1).await.unwrap();
    let e = s.create("ev://d", "", 1).await.unwrap_err();
    assert!(e.to_string().contains("holds other files"), "{e}");
    assert!(
        s.list_shards("ev://d/child").await.is_ok(),
        "the inner stream was harmed"
    );
    let e = s.create("ev://.hidden", "", 1).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    // Too many shards: refused at once, nothing left behind.
    let e = s.create("ev://big", "", 100_000).await.unwrap_err();
    assert!(e.to_string().contains("at most 1024"), "{e}");
    assert!(!fx.dir.path().join("streams/big").exists());
    let e = s.list_shards("ev://big").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    s.create("ev://many", "", 1024).await.unwrap();
    assert_eq!(s.list_shards("ev://many").await.unwrap().len(), 1024);
    let staged = fx.dir.path().join("streams/.bindery/staging");
    assert_eq!(std::fs::read_dir(&staged).map(|d| d.count()).unwrap_or(0), 0);
    // A start position on a shard the stream lacks is refused.
    s.create("ev://two", "", 2).await.unwrap();
    let mut c = s
        .consume("ev://two")
        .from_("position", "9:0")
        .follow(false)
        .load();
    let e = c.next_async().await.expect("an answer").unwrap_err();
    assert!(e.to_string().contains("no shard 9"), "{e}");
}

/// Waits (at most 10 s) until nothing holds the stream's write lock: a dropped context's
/// driver lets go of it when its binding task ends, shortly after the drop.
fn wait_for_the_writer_to_let_go(stream_dir: &std::path::Path) {
    use std::os::fd::AsRawFd;
    let f = std::fs::File::open(stream_dir.join("write.lock")).unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    // SAFETY: flock on a descriptor we own; released at once.
    while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the dropped context still writes the stream"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
}
