//! The object conformance suite. Every case runs against every object driver; a case that
//! needs a capability the binding lacks is skipped (and says so). Byte ranges and listings
//! with a delimiter, a limit or start-after are never skipped: the host fills them in for a
//! driver that lacks them (`object_conformance.rs` runs the suite on such a driver).

use bindery::{Context, Done, ErrorKind, ListEntry, WaitGroup};
use bindery_core::Capability;
use bytes::Bytes;
use futures::StreamExt;

/// The capability of the binding under test.
pub fn capability(ctx: &Context) -> Capability {
    ctx.host().bindings()[0].capability()
}

/// Returns `true` (and says so) when a case must be skipped for lack of capability.
pub fn skip(ctx: &Context, needs: &[&str]) -> bool {
    let cap = capability(ctx);
    let missing: Vec<_> = needs.iter().filter(|n| !cap.has(n)).collect();
    if !missing.is_empty() {
        eprintln!("skipped: the binding lacks {missing:?}");
    }
    !missing.is_empty()
}

/// Registers every case of the suite as a test, for one driver.
#[macro_export]
macro_rules! object_suite {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::object_suite!(@cases $fixture;
                put_then_get_returns_the_data,
                get_of_a_missing_object_is_not_found,
                put_overwrites_and_changes_the_generation,
                empty_objects_and_odd_paths,
                chunks_added_to_a_put_are_joined,
                metadata_is_stored_and_replaced,
                byte_ranges,
                if_none_match_star_creates_only,
                if_match_checks_the_generation,
                conditional_get_and_head,
                conditions_the_binding_lacks_are_refused,
                head_returns_metadata,
                delete_is_idempotent_and_conditional,
                list_by_prefix_in_order,
                list_with_delimiter,
                list_with_limit_and_continuation,
                large_objects_stream_in_chunks,
                wait_groups_collect_every_result,
                traversal_is_refused_before_the_driver,
                blocking_api_from_a_thread,
                concurrent_puts_never_mix,
            );
        }
    };
    (@cases $fixture:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fx = ($fixture)().await;
                $crate::object_suite::$case(&fx.ctx).await;
            }
        )*
    };
}

fn data(n: usize, seed: u8) -> Bytes {
    (0..n)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect::<Vec<u8>>()
        .into()
}

pub async fn put_then_get_returns_the_data(ctx: &Context) {
    let o = ctx.object();
    let meta = o.put("obj://a/b.txt", "hello world").await.unwrap();
    assert_eq!(meta.size, 11);
    assert_eq!(meta.path, "a/b.txt");
    assert!(!meta.gen.is_empty());
    let got = o.get("obj://a/b.txt").await.unwrap();
    assert_eq!(&got.data[..], b"hello world");
    assert_eq!(got.meta.gen, meta.gen);
    assert_eq!(got.meta.size, 11);
    assert_eq!(got.meta.path, "a/b.txt");
    // Without `obj://` the first binding is meant.
    assert_eq!(&o.get("a/b.txt").await.unwrap().data[..], b"hello world");
}

pub async fn get_of_a_missing_object_is_not_found(ctx: &Context) {
    let e = ctx.object().get("obj://no/such").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert_eq!(e.binding(), Some("obj"));
    assert_eq!(e.operation(), Some("get"));
    let text = e.to_string();
    assert!(
        text.contains("binding 'obj'") && text.contains("no/such"),
        "{text}"
    );
    let mut reader = ctx.object().get("obj://no/such").load();
    assert_eq!(reader.error().map(|e| e.kind()), Some(ErrorKind::NotFound));
}

pub async fn put_overwrites_and_changes_the_generation(ctx: &Context) {
    let o = ctx.object();
    let first = o.put("obj://k", "one").await.unwrap();
    let second = o.put("obj://k", "two!").await.unwrap();
    assert_ne!(first.gen, second.gen);
    let got = o.get("obj://k").await.unwrap();
    assert_eq!(&got.data[..], b"two!");
    assert_eq!(got.meta.gen, second.gen);
    assert_eq!(got.meta.size, 4);
}

pub async fn empty_objects_and_odd_paths(ctx: &Context) {
    let o = ctx.object();
    o.put("obj://empty", Bytes::new()).await.unwrap();
    let got = o.get("obj://empty").await.unwrap();
    assert!(got.data.is_empty());
    assert_eq!(got.meta.size, 0);
    let path = "obj://ünï côdé/with spaces/x..y.bin";
    let bin = data(1000, 7);
    o.put(path, bin.clone()).await.unwrap();
    assert_eq!(o.get(path).await.unwrap().data, bin);
}

pub async fn chunks_added_to_a_put_are_joined(ctx: &Context) {
    let o = ctx.object();
    o.put("obj://joined", "ab")
        .add("cd")
        .add(Bytes::new())
        .add("ef")
        .await
        .unwrap();
    assert_eq!(&o.get("obj://joined").await.unwrap().data[..], b"abcdef");
    let stream = futures::stream::iter(vec![Ok(Bytes::from("gh")), Ok(Bytes::from("ij"))]).boxed();
    o.put("obj://streamed", "ef").add_stream(stream).await.unwrap();
    assert_eq!(&o.get("obj://streamed").await.unwrap().data[..], b"efghij");
}

pub async fn metadata_is_stored_and_replaced(ctx: &Context) {
    if skip(ctx, &["put_with_metadata"]) {
        return;
    }
    let o = ctx.object();
    o.put("obj://m", "x")
        .metadata([("content-type", "text/plain"), ("owner", "ana")])
        .await
        .unwrap();
    let head = o.head("obj://m").await.unwrap();
    assert_eq!(head.metadata.get("owner").map(String::as_str), Some("ana"));
    assert_eq!(head.metadata.len(), 2);
    let got = o.get("obj://m").await.unwrap();
    assert_eq!(got.meta.metadata, head.metadata);
    // A put replaces the metadata with its own (none here).
    o.put("obj://m", "y").await.unwrap();
    assert!(o.head("obj://m").await.unwrap().metadata.is_empty());
}

pub async fn byte_ranges(ctx: &Context) {
    let o = ctx.object();
    let body = data(10_000, 3);
    o.put("obj://r", body.clone()).await.unwrap();
    let mid = o.get("obj://r").range(100, Some(50)).await.unwrap();
    assert_eq!(mid.data, body.slice(100..150));
    assert_eq!(mid.meta.size, 10_000, "size is the whole object's");
    let tail = o.get("obj://r").range(9_990, None).await.unwrap();
    assert_eq!(tail.data, body.slice(9_990..));
    let cut = o.get("obj://r").range(9_995, Some(100)).await.unwrap();
    assert_eq!(cut.data, body.slice(9_995..));
    let e = o.get("obj://r").range(20_000, Some(1)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

pub async fn if_none_match_star_creates_only(ctx: &Context) {
    if skip(ctx, &["put_with_if_none_match"]) {
        return;
    }
    let o = ctx.object();
    o.put("obj://once", "first")
        .condition("if-none-match", "*")
        .await
        .unwrap();
    let e = o
        .put("obj://once", "second")
        .condition("if-none-match", "*")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    assert_eq!(
        &o.get("obj://once").await.unwrap().data[..],
        b"first",
        "a refused write leaves nothing behind"
    );
}

pub async fn if_match_checks_the_generation(ctx: &Context) {
    if skip(ctx, &["put_with_if_match"]) {
        return;
    }
    let o = ctx.object();
    let v1 = o.put("obj://cas", "v1").await.unwrap();
    let v2 = o
        .put("obj://cas", "v2")
        .condition("if-match", &v1.gen)
        .await
        .unwrap();
    let e = o
        .put("obj://cas", "v3")
        .condition("if-match", &v1.gen)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    let got = o.get("obj://cas").await.unwrap();
    assert_eq!(&got.data[..], b"v2");
    assert_eq!(got.meta.gen, v2.gen);
    let e = o
        .put("obj://cas-missing", "x")
        .condition("if-match", "*")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed, "{e}");
    assert_eq!(
        o.head("obj://cas-missing").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
    let e = o
        .put("obj://cas", "x")
        .condition("if-modified-since", "now")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

pub async fn conditional_get_and_head(ctx: &Context) {
    if skip(ctx, &["get_with_if_match", "get_with_if_none_match"]) {
        return;
    }
    let o = ctx.object();
    let v = o.put("obj://cg", "data").await.unwrap();
    assert_eq!(
        &o.get("obj://cg")
            .condition("if-match", &v.gen)
            .await
            .unwrap()
            .data[..],
        b"data"
    );
    let e = o
        .get("obj://cg")
        .condition("if-match", "not-the-gen")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed);
    let e = o
        .get("obj://cg")
        .condition("if-none-match", &v.gen)
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed);
    let e = o
        .head("obj://cg")
        .condition("if-match", "not-the-gen")
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ConditionFailed);
    assert!(o
        .head("obj://cg")
        .condition("if-none-match", "other")
        .await
        .is_ok());
}

/// A condition the binding cannot enforce is refused, never ignored: the object keeps its
/// data (a driver whose server ignores conditional writes leaves them out of its capability).
pub async fn conditions_the_binding_lacks_are_refused(ctx: &Context) {
    let cap = capability(ctx);
    let o = ctx.object();
    let v = o.put("obj://guarded", "kept").await.unwrap();
    let tries = [
        (cap.put_with_if_none_match, "put", "if-none-match", "*"),
        (cap.put_with_if_match, "put", "if-match", "not-the-gen"),
        (cap.delete_with_if_match, "del", "if-match", "not-the-gen"),
    ];
    for (supported, op, key, value) in tries {
        let e = match op {
            "put" => o
                .put("obj://guarded", "lost")
                .condition(key, value)
                .await
                .map(drop),
            _ => o.del("obj://guarded").condition(key, value).await.map(drop),
        }
        .unwrap_err();
        let want = if supported {
            ErrorKind::ConditionFailed
        } else {
            ErrorKind::Unsupported
        };
        assert_eq!(e.kind(), want, "{op} with {key}: {e}");
        let got = o.get("obj://guarded").await.unwrap();
        assert_eq!(
            (&got.data[..], got.meta.gen.as_str()),
            (&b"kept"[..], v.gen.as_str())
        );
    }
}

pub async fn head_returns_metadata(ctx: &Context) {
    let o = ctx.object();
    let put = o.put("obj://h", data(123, 1)).await.unwrap();
    let head = o.head("obj://h").await.unwrap();
    assert_eq!(
        (head.size, head.gen.as_str(), head.path.as_str()),
        (123, put.gen.as_str(), "h")
    );
    assert_eq!(
        o.head("obj://nope").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

pub async fn delete_is_idempotent_and_conditional(ctx: &Context) {
    let o = ctx.object();
    let v = o.put("obj://d/x", "x").await.unwrap();
    if !skip(ctx, &["delete_with_if_match"]) {
        let e = o
            .del("obj://d/x")
            .condition("if-match", "wrong")
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ConditionFailed);
        assert!(
            o.head("obj://d/x").await.is_ok(),
            "a refused delete leaves the object"
        );
        o.del("obj://d/x").condition("if-match", &v.gen).await.unwrap();
    } else {
        o.del("obj://d/x").await.unwrap();
    }
    assert_eq!(o.get("obj://d/x").await.unwrap_err().kind(), ErrorKind::NotFound);
    o.del("obj://d/x").await.unwrap();
    o.del("obj://never/was").await.unwrap();
    assert!(o.list("obj://d/").await.unwrap().is_empty());
}

async fn put_all(ctx: &Context, keys: &[&str]) {
    for k in keys {
        ctx.object()
            .put(format!("obj://{k}"), k.to_string())
            .await
            .unwrap();
    }
}

fn paths(entries: &[ListEntry]) -> Vec<&str> {
    entries.iter().map(ListEntry::path).collect()
}

pub async fn list_by_prefix_in_order(ctx: &Context) {
    // `a-b` sorts before `a/…` ('-' < '/'), which a directory walk must respect.
    put_all(ctx, &["l/b/1", "l/ab", "l/a-b", "l/a/2", "l/a/1", "m/x"]).await;
    let o = ctx.object();
    let all = o.list("obj://l/").await.unwrap();
    assert_eq!(paths(&all), ["l/a-b", "l/a/1", "l/a/2", "l/ab", "l/b/1"]);
    match &all[0] {
        ListEntry::Object(m) => assert_eq!(m.size, 5),
        other => panic!("expected an object, got {other:?}"),
    }
    assert_eq!(
        paths(&o.list("obj://l/a").await.unwrap()),
        ["l/a-b", "l/a/1", "l/a/2", "l/ab"]
    );
    assert!(
        o.list("obj://zzz").await.unwrap().is_empty(),
        "an empty prefix lists nothing, not an error"
    );
    let mut lister = o.list("obj://l/a/").load();
    assert!(lister.has_next());
    assert_eq!(lister.next_path().unwrap().unwrap(), "l/a/1");
    assert_eq!(lister.next_path().unwrap().unwrap(), "l/a/2");
    assert!(!lister.has_next());
    assert!(lister.next().is_none());
}

pub async fn list_with_delimiter(ctx: &Context) {
    put_all(ctx, &["t/a/1", "t/a/2", "t/b", "t/c/d/e", "t/c-d"]).await;
    let listed = ctx.object().list("obj://t/").delimiter("/").await.unwrap();
    assert_eq!(paths(&listed), ["t/a/", "t/b", "t/c-d", "t/c/"]);
    assert!(matches!(&listed[0], ListEntry::Prefix(_)));
    assert!(matches!(&listed[1], ListEntry::Object(_)));
    let top = ctx.object().list("obj://").delimiter("/").await.unwrap();
    assert_eq!(paths(&top), ["t/"]);
    // A limit counts common prefixes and objects alike.
    let two = ctx
        .object()
        .list("obj://t/")
        .delimiter("/")
        .limit(2)
        .await
        .unwrap();
    assert_eq!(paths(&two), ["t/a/", "t/b"]);
}

pub async fn list_with_limit_and_continuation(ctx: &Context) {
    let keys: Vec<String> = (0..25).map(|i| format!("p/{i:02}")).collect();
    put_all(ctx, &keys.iter().map(String::as_str).collect::<Vec<_>>()).await;
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut req = ctx.object().list("obj://p/").limit(10);
        if let Some(a) = &after {
            req = req.start_after(a.clone());
        }
        let page = req.await.unwrap();
        assert!(page.len() <= 10);
        if page.is_empty() {
            break;
        }
        after = Some(page.last().unwrap().path().to_string());
        seen.extend(page.into_iter().map(|e| e.path().to_string()));
    }
    assert_eq!(seen, keys);
}

pub async fn large_objects_stream_in_chunks(ctx: &Context) {
    let o = ctx.object();
    let big = data(5 * 1024 * 1024 + 17, 9);
    let parts: Vec<Bytes> = (0..big.len())
        .step_by(1 << 20)
        .map(|i| big.slice(i..(i + (1 << 20)).min(big.len())))
        .collect();
    let mut put = o.put("obj://big", parts[0].clone());
    for p in &parts[1..] {
        put = put.add(p.clone());
    }
    put.await.unwrap();
    let mut reader = o.get("obj://big").load();
    assert_eq!(reader.meta_async().await.unwrap().size, big.len() as u64);
    let mut stream = Box::pin(reader.into_stream());
    let mut got = Vec::with_capacity(big.len());
    while let Some(chunk) = stream.next().await {
        got.extend_from_slice(&chunk.unwrap());
    }
    assert_eq!(got.len(), big.len());
    assert!(got[..] == big[..], "streamed data differs");
}

pub async fn wait_groups_collect_every_result(ctx: &Context) {
    let o = ctx.object();
    let wg = WaitGroup::new();
    for i in 0..20 {
        o.put(format!("obj://wg/{i}"), format!("v{i}"))
            .do_async(&wg)
            .unwrap();
    }
    assert_eq!(wg.len(), 20);
    let waited = wg.wait().await;
    assert!(wg.is_empty());
    assert_eq!(waited.results.len(), 20);
    assert!(waited.first_error().is_none());
    o.get("obj://wg/3").do_async(&wg).unwrap();
    o.get("obj://wg/missing").do_async(&wg).unwrap();
    o.list("obj://wg/").do_async(&wg).unwrap();
    // Requests of a group run concurrently: this delete must not touch what the list sees.
    o.del("obj://elsewhere").do_async(&wg).unwrap();
    let waited = wg.wait().await;
    assert_eq!(waited.first_error().map(|e| e.kind()), Some(ErrorKind::NotFound));
    match &waited.results[0] {
        Ok(Done::Object(d)) => assert_eq!(&d.data[..], b"v3"),
        other => panic!("unexpected {other:?}"),
    }
    match &waited.results[2] {
        Ok(Done::Listed(l)) => assert_eq!(l.len(), 20),
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(waited.results[3], Ok(Done::Deleted)));
}

pub async fn traversal_is_refused_before_the_driver(ctx: &Context) {
    let o = ctx.object();
    for bad in ["obj://../escape", "obj://a/../../b", "obj:///abs", "obj://a//b"] {
        let e = o.put(bad, "x").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
        let e = o.get(bad).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
    }
    let e = o.get("nosuch://x").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound);
    assert!(e.to_string().contains("bindings: obj"), "{e}");
    assert!(o.list("obj://").await.unwrap().is_empty(), "nothing was written");
}

pub async fn blocking_api_from_a_thread(ctx: &Context) {
    let ctx = ctx.clone();
    tokio::task::spawn_blocking(move || {
        let o = ctx.object();
        let meta = o.put("obj://sync", "blocking").do_().unwrap();
        let mut reader = o.get("obj://sync").load();
        assert_eq!(reader.size().unwrap(), 8);
        assert_eq!(reader.gen().unwrap(), meta.gen);
        assert_eq!(&reader.read_all().unwrap()[..], b"blocking");
        assert_eq!(o.head("obj://sync").do_().unwrap().gen, meta.gen);
        let wg = WaitGroup::new();
        o.put("obj://sync2", "x").do_async(&wg).unwrap();
        o.del("obj://sync").do_async(&wg).unwrap();
        ctx.wait(&wg).into_result().unwrap();
        assert_eq!(o.list("obj://").do_().unwrap().len(), 1);
        let chunks: Vec<_> = o.get("obj://sync2").load().collect::<Result<_, _>>().unwrap();
        assert_eq!(chunks.concat(), b"x");
    })
    .await
    .unwrap();
}

pub async fn concurrent_puts_never_mix(ctx: &Context) {
    let o = ctx.object();
    let mut tasks = Vec::new();
    for seed in 0..8u8 {
        let o = o.clone();
        tasks.push(tokio::spawn(async move {
            for _ in 0..4 {
                o.put("obj://race", vec![seed; 300_000]).await.unwrap();
            }
        }));
    }
    let reader = tokio::spawn({
        let o = o.clone();
        async move {
            for _ in 0..20 {
                if let Ok(got) = o.get("obj://race").await {
                    assert_eq!(got.data.len(), 300_000);
                    assert!(
                        got.data.iter().all(|b| *b == got.data[0]),
                        "a read saw a mix of two writes"
                    );
                }
            }
        }
    });
    for t in tasks {
        t.await.unwrap();
    }
    reader.await.unwrap();
}
