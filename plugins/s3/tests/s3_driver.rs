//! The `s3` driver against real S3-compatible servers (Garage and s3s-fs, started by
//! `scripts/test`): interop with aws-sdk-s3 used directly, what each server enforces,
//! interrupted uploads, and a server stopped and restarted mid-run (on servers of the tests'
//! own, `S3Instance`).

use std::time::Duration;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use aws_sdk_s3::Client;
use bindery::{ChangeKind, ErrorKind, ListEntry};
use bindery_tests::{s3_direct_config, s3_fixture_at, s3_server, S3Instance};
use bytes::Bytes;
use futures::StreamExt;

/// aws-sdk-s3 on the bucket at `url`, used directly: (client, bucket).
fn direct(url: &str) -> (Client, String) {
    let (conf, bucket) = s3_direct_config(url);
    (Client::from_conf(conf.build()), bucket)
}

fn data(n: usize, seed: u8) -> Bytes {
    (0..n)
        .map(|i| ((i / 7) as u8).wrapping_mul(13).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

async fn interop(server: &str) {
    let url = s3_server(server);
    let (fx, prefix) = s3_fixture_at(&url, "").await;
    let (sdk, bucket) = direct(&url);
    let o = fx.ctx.object();

    // What bindery writes, the SDK reads byte for byte, metadata included.
    o.put("obj://small.txt", "hello")
        .metadata([("content-type", "text/plain"), ("owner", "ana")])
        .await
        .unwrap();
    let big = data(13 << 20, 1); // over the 8 MiB part size: a multipart upload
    let chunks: Vec<Bytes> = (0..big.len())
        .step_by(3 << 20)
        .map(|i| big.slice(i..(i + (3 << 20)).min(big.len())))
        .collect();
    let mut put = o.put("obj://dir/big.bin", chunks[0].clone());
    for c in &chunks[1..] {
        put = put.add(c.clone());
    }
    let big_meta = put.await.unwrap();
    let got = sdk
        .get_object()
        .bucket(&bucket)
        .key(format!("{prefix}/small.txt"))
        .send()
        .await
        .unwrap();
    assert_eq!(got.content_type(), Some("text/plain"));
    assert_eq!(
        got.metadata().and_then(|m| m.get("owner")).map(String::as_str),
        Some("ana")
    );
    assert_eq!(&got.body.collect().await.unwrap().into_bytes()[..], b"hello");
    let got = sdk
        .get_object()
        .bucket(&bucket)
        .key(format!("{prefix}/dir/big.bin"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        got.e_tag().map(|t| t.trim_matches('"')),
        Some(big_meta.gen.as_str())
    );
    assert!(
        got.body.collect().await.unwrap().into_bytes() == big,
        "the SDK read other bytes"
    );

    // What the SDK writes (one PutObject, and a multipart upload), bindery reads.
    sdk.put_object()
        .bucket(&bucket)
        .key(format!("{prefix}/from-sdk.bin"))
        .metadata("source", "sdk")
        .body(ByteStream::from(data(1000, 2)))
        .send()
        .await
        .unwrap();
    let key = format!("{prefix}/dir/multi.bin");
    let up = sdk
        .create_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .send()
        .await
        .unwrap();
    let id = up.upload_id().unwrap();
    let whole = data(11 << 20, 3);
    let mut parts = Vec::new();
    for (n, range) in [(1, 0..6 << 20), (2, 6 << 20..11 << 20)] {
        let p = sdk
            .upload_part()
            .bucket(&bucket)
            .key(&key)
            .upload_id(id)
            .part_number(n)
            .body(ByteStream::from(whole.slice(range)))
            .send()
            .await
            .unwrap();
        parts.push(
            CompletedPart::builder()
                .part_number(n)
                .set_e_tag(p.e_tag().map(Into::into))
                .build(),
        );
    }
    sdk.complete_multipart_upload()
        .bucket(&bucket)
        .key(&key)
        .upload_id(id)
        .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
        .send()
        .await
        .unwrap();
    let got = o.get("obj://from-sdk.bin").await.unwrap();
    assert_eq!(got.data, data(1000, 2));
    assert_eq!(got.meta.metadata.get("source").map(String::as_str), Some("sdk"));
    assert!(o.get("obj://dir/multi.bin").await.unwrap().data == whole);
    let part = o
        .get("obj://dir/multi.bin")
        .range((6 << 20) - 3, Some(6))
        .await
        .unwrap();
    assert_eq!(part.data, whole.slice((6 << 20) - 3..(6 << 20) + 3));
    assert_eq!(part.meta.size, 11 << 20);

    // Listings agree, with and without a delimiter.
    let listed = sdk
        .list_objects_v2()
        .bucket(&bucket)
        .prefix(format!("{prefix}/"))
        .send()
        .await
        .unwrap();
    let sdk_keys: Vec<String> = listed
        .contents()
        .iter()
        .map(|o| {
            o.key()
                .unwrap()
                .strip_prefix(&format!("{prefix}/"))
                .unwrap()
                .to_string()
        })
        .collect();
    let ours: Vec<String> = o
        .list("obj://")
        .await
        .unwrap()
        .iter()
        .map(|e| e.path().to_string())
        .collect();
    assert_eq!(ours, sdk_keys);
    assert_eq!(
        ours,
        ["dir/big.bin", "dir/multi.bin", "from-sdk.bin", "small.txt"]
    );
    let top = o.list("obj://").delimiter("/").await.unwrap();
    assert!(matches!(&top[0], ListEntry::Prefix(p) if p == "dir/"), "{top:?}");
    assert_eq!(top.len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_the_sdk_on_garage() {
    interop("garage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interop_with_the_sdk_on_s3s_fs() {
    interop("s3s-fs").await;
}

/// The next change within 10 s, or a panic.
async fn next_change(w: &mut bindery::Watcher) -> bindery::Change {
    tokio::time::timeout(Duration::from_secs(10), w.next_async())
        .await
        .expect("a change within 10 s")
        .expect("the watch goes on")
        .unwrap()
}

/// A watch sees what aws-sdk-s3, used directly, does under the binding's prefix: one listing
/// every 100 ms (option `watch.interval_ms`), diffed by ETag.
async fn watched_by_listing(server: &str) {
    let url = s3_server(server);
    let (fx, prefix) = s3_fixture_at(&url, "      options:\n        watch.interval_ms: \"100\"\n").await;
    let (sdk, bucket) = direct(&url);
    let put = |key: &str, body: &'static [u8]| {
        sdk.put_object()
            .bucket(&bucket)
            .key(format!("{prefix}/{key}"))
            .body(ByteStream::from_static(body))
            .send()
    };
    put("w/old", b"1").await.unwrap();
    let mut w = fx.ctx.object().watch("obj://w/").initial(true).load();
    let (first, synced) = (next_change(&mut w).await, next_change(&mut w).await);
    assert_eq!(
        (first.kind, first.path.as_str(), synced.kind),
        (ChangeKind::Created, "w/old", ChangeKind::Synced)
    );
    let etag = put("w/new", b"abc")
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .trim_matches('"')
        .to_string();
    let c = next_change(&mut w).await;
    assert_eq!(
        (c.kind, c.path.as_str(), c.size),
        (ChangeKind::Created, "w/new", Some(3))
    );
    assert_eq!(c.gen, etag, "the generation is the ETag");
    put("w/old", b"22").await.unwrap();
    let c = next_change(&mut w).await;
    assert_eq!(
        (c.kind, c.path.as_str(), c.size),
        (ChangeKind::Updated, "w/old", Some(2))
    );
    sdk.delete_object()
        .bucket(&bucket)
        .key(format!("{prefix}/w/new"))
        .send()
        .await
        .unwrap();
    let c = next_change(&mut w).await;
    assert_eq!((c.kind, c.path.as_str()), (ChangeKind::Deleted, "w/new"));
    // Outside the watched prefix: not told.
    put("elsewhere", b"x").await.unwrap();
    fx.ctx.object().put("obj://w/mine", "own").await.unwrap();
    let c = next_change(&mut w).await;
    assert_eq!((c.kind, c.path.as_str()), (ChangeKind::Created, "w/mine"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_sees_the_sdk_writes_on_garage() {
    watched_by_listing("garage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watch_sees_the_sdk_writes_on_s3s_fs() {
    watched_by_listing("s3s-fs").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn capabilities_say_what_each_server_enforces() {
    let cap = |fx: &bindery_tests::Fixture| fx.ctx.host().bindings()[0].capability();
    // Garage ignores If-Match / If-None-Match on writes: the probe finds out.
    let (garage, _) = s3_fixture_at(&s3_server("garage"), "").await;
    let c = cap(&garage);
    assert!(!c.put_with_if_none_match && !c.put_with_if_match && !c.delete_with_if_match);
    assert!(
        c.get_with_if_match && c.get_with_if_none_match,
        "checked by the driver"
    );
    let e = garage
        .ctx
        .object()
        .put("obj://x", "y")
        .condition("if-none-match", "*")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.to_string().contains("if-none-match"), "{e}");
    // s3s-fs enforces them on PutObject and CompleteMultipartUpload.
    let (s3s, _) = s3_fixture_at(&s3_server("s3s-fs"), "").await;
    let c = cap(&s3s);
    assert!(c.put_with_if_none_match && c.put_with_if_match, "{c:?}");
    // The option overrides the probe.
    let off = "      options:\n        conditional_writes: off\n";
    let (s3s_off, _) = s3_fixture_at(&s3_server("s3s-fs"), off).await;
    assert!(!cap(&s3s_off).put_with_if_none_match);
    let on = "      options:\n        conditional_writes: on\n";
    let (garage_on, _) = s3_fixture_at(&s3_server("garage"), on).await;
    assert!(cap(&garage_on).put_with_if_none_match);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_conditional_puts_use_multipart_conditions() {
    let (fx, _) = s3_fixture_at(&s3_server("s3s-fs"), "      options:\n        part_size: 5MiB\n").await;
    let o = fx.ctx.object();
    let big = data(11 << 20, 4);
    let first = o
        .put("obj://big", big.clone())
        .condition("if-none-match", "*")
        .await
        .unwrap();
    let e = o
        .put("obj://big", data(11 << 20, 5))
        .condition("if-none-match", "*")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    let e = o
        .put("obj://big", data(11 << 20, 5))
        .condition("if-match", "0123")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    let got = o.get("obj://big").await.unwrap();
    assert!(got.data == big, "a refused write leaves nothing behind");
    assert_eq!(got.meta.gen, first.gen);
    o.put("obj://big", data(11 << 20, 6))
        .condition("if-match", &first.gen)
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bindings_fail_at_connect_with_what_is_wrong() {
    let url = s3_server("s3s-fs");
    let missing = format!("{}/no-such-bucket", url.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();
    let spec = bindery_tests::spec_text_at("s3", "p", &bindery_tests::s3_binding(&missing));
    std::fs::write(dir.path().join("function.yaml"), spec).unwrap();
    let e = bindery::Context::connect(dir.path().join("function.yaml"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(
        e.to_string().contains("bucket 'no-such-bucket' does not exist"),
        "{e}"
    );
    let wrong_key = format!(
        "      url: {url}\n      credentials:\n        access_key_id: GK000000000000000000000000\n        secret_access_key: wrong\n"
    );
    let spec = bindery_tests::spec_text_at("s3", "p", &wrong_key);
    std::fs::write(dir.path().join("function.yaml"), spec).unwrap();
    let e = bindery::Context::connect(dir.path().join("function.yaml"))
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
}

/// Whether the server holds no unfinished multipart upload.
async fn no_unfinished_uploads(server: &S3Instance) -> bool {
    match server.kind.as_str() {
        // s3s-fs keeps an upload's parts as `.upload_id-*` files in its root.
        "s3s-fs" => std::fs::read_dir(server.dir.path().join("root"))
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with(".upload_id-")),
        _ => {
            let (sdk, bucket) = direct(&server.url);
            let out = sdk.list_multipart_uploads().bucket(bucket).send().await.unwrap();
            out.uploads().is_empty()
        }
    }
}

async fn interrupted_upload(kind: &str) {
    let server = S3Instance::start(kind);
    let (fx, _) = s3_fixture_at(&server.url, "      options:\n        part_size: 5MiB\n").await;
    let o = fx.ctx.object();
    // The body breaks off after three parts' worth.
    let body = futures::stream::iter(0..4)
        .map(|i| match i {
            3 => Err(bindery::Error::unavailable("the source broke off")),
            _ => Ok(data(5 << 20, i as u8)),
        })
        .boxed();
    let e = o
        .put("obj://cut", Bytes::new())
        .add_stream(body)
        .await
        .unwrap_err();
    assert!(e.to_string().contains("broke off"), "{e}");
    assert_eq!(o.head("obj://cut").await.unwrap_err().kind(), ErrorKind::NotFound);
    let mut aborted = false;
    for _ in 0..100 {
        if no_unfinished_uploads(&server).await {
            aborted = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(aborted, "the upload was not aborted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_uploads_are_aborted_on_garage() {
    interrupted_upload("garage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interrupted_uploads_are_aborted_on_s3s_fs() {
    interrupted_upload("s3s-fs").await;
}

async fn restart(kind: &str) {
    let server = S3Instance::start(kind);
    let (fx, prefix) = s3_fixture_at(&server.url, "").await;
    let o = fx.ctx.object();
    let acked = o.put("obj://kept", "acknowledged").await.unwrap();
    server.stop();
    // Without retries (the fixture's `retries: 0`) the caller sees a retryable error.
    let e = o.get("obj://kept").await.unwrap_err();
    assert_eq!(
        (e.kind(), e.is_retryable()),
        (ErrorKind::Unavailable, true),
        "{e}"
    );
    let e = o.put("obj://new", "x").await.unwrap_err();
    assert!(e.is_retryable(), "{e}");
    server.restart();
    let got = o.get("obj://kept").await.unwrap();
    assert_eq!(
        (&got.data[..], got.meta.gen.as_str()),
        (&b"acknowledged"[..], acked.gen.as_str())
    );

    // With the host's retries, requests made while the server is down succeed once it is back.
    let dir = tempfile::tempdir().unwrap();
    let binding = bindery_tests::s3_binding(&server.url).replace("retries: 0", "retries: 10");
    std::fs::write(
        dir.path().join("function.yaml"),
        bindery_tests::spec_text_at("s3", &prefix, &binding),
    )
    .unwrap();
    let ctx = bindery::Context::connect(dir.path().join("function.yaml"))
        .await
        .unwrap();
    server.stop();
    let server = std::sync::Arc::new(server);
    let restarter = std::thread::spawn({
        let server = server.clone();
        move || {
            std::thread::sleep(Duration::from_millis(800));
            server.restart();
        }
    });
    let o = ctx.object();
    o.put("obj://during", "written while the server restarted")
        .await
        .unwrap();
    assert_eq!(&o.get("obj://kept").await.unwrap().data[..], b"acknowledged");
    restarter.join().unwrap();
    assert_eq!(
        &o.get("obj://during").await.unwrap().data[..],
        b"written while the server restarted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_garage_loses_nothing_acknowledged() {
    restart("garage").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_s3s_fs_loses_nothing_acknowledged() {
    restart("s3s-fs").await;
}

/// A 256 MiB object put from a stream and read as one stays far below its size in memory: the
/// put holds the parts in flight (4 × 8 MiB) and the one being cut, the get a few chunks (the
/// rest of the bound is the allocator keeping freed parts).
#[test]
fn large_transfers_stay_in_bounded_memory() {
    let size: u64 = 256 << 20;
    let out = std::process::Command::new(bindery_tests::test_bin("transfer"))
        .args([s3_server("s3s-fs"), size.to_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = |key: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {text}"))
    };
    for key in ["put_peak_rss", "get_peak_rss"] {
        let peak = value(key);
        eprintln!("{key}: {} MiB for a {} MiB object", peak >> 20, size >> 20);
        assert!(
            peak < 160 << 20,
            "{key} {} MiB: the transfer is not bounded",
            peak >> 20
        );
    }
}
