//! The stream conformance suite. Every case runs against every stream driver; a case that
//! needs a capability the binding lacks is skipped (and says so). The binding under test is
//! the first of the fixture's spec, named `ev`, with no path: cases name their streams.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bindery::{Context, ErrorKind, Message};
use futures::StreamExt;

use crate::object_suite::skip;

/// Registers every case of the suite as a test, for one driver. The fixture returns a
/// `Fixture`; `reopen` makes a second context on the same data (a restart).
#[macro_export]
macro_rules! stream_suite {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::stream_suite!(@cases $fixture;
                publish_then_consume_keeps_order,
                admin_operations_and_their_errors,
                from_variants,
                checkpoint_and_resume,
                checkpoint_consumed_covers_every_shard,
                at_least_once_without_a_checkpoint,
                group_members_split_the_shards,
                follow_waits_for_new_messages,
                where_and_select_on_json,
                keys_headers_and_binary_values,
                bad_input_is_refused_clearly,
                acknowledged_messages_survive_a_restart,
                concurrent_publishers_lose_nothing,
            );
        }
    };
    (@cases $fixture:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fx = ($fixture)().await;
                $crate::stream_suite::$case(&fx).await;
            }
        )*
    };
}

/// Publishes `n` messages `{prefix}0`, `{prefix}1`, … (no keys).
async fn publish_numbered(ctx: &Context, stream: &str, prefix: &str, n: usize) {
    ctx.stream()
        .publish(format!("ev://{stream}"))
        .buffers((0..n).map(|i| format!("{prefix}{i}")))
        .await
        .unwrap();
}

/// The fixture's context with stream `name` (of `shards` shards) created, or `None` when the
/// binding lacks a capability the case `needs` (the case is skipped).
async fn ready<'a>(fx: &'a crate::Fixture, needs: &[&str], name: &str, shards: u32) -> Option<&'a Context> {
    if skip(&fx.ctx, needs) {
        return None;
    }
    fx.ctx.stream().create("ev://", name, shards).await.unwrap();
    Some(&fx.ctx)
}

/// Everything in a stream now (without following).
pub async fn drain(ctx: &Context, stream: &str) -> Vec<Message> {
    let mut c = ctx
        .stream()
        .consume(format!("ev://{stream}"))
        .from_("earliest", "")
        .follow(false)
        .load();
    let mut out = Vec::new();
    while let Some(m) = c.next_async().await {
        out.push(m.unwrap());
    }
    out
}

fn text(m: &Message) -> String {
    String::from_utf8_lossy(&m.value).into_owned()
}

pub async fn publish_then_consume_keeps_order(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "orders", 3).await else {
        return;
    };
    let msgs: Vec<Message> = (0..100)
        .map(|i| Message::new(format!("m{i}")).with_key(format!("k{}", i % 5)))
        .collect();
    let placed = ctx.stream().publish("ev://orders").messages(msgs).await.unwrap();
    assert_eq!(placed.len(), 100);
    let got = drain(ctx, "orders").await;
    assert_eq!(got.len(), 100);
    // Every message where publish said, each once.
    let seen: BTreeSet<(u32, u64)> = got.iter().map(|m| (m.shard, m.position)).collect();
    assert_eq!(seen, placed.iter().copied().collect::<BTreeSet<_>>());
    // Per shard in position order; per key in publish order and in one shard.
    let mut last: BTreeMap<u32, u64> = BTreeMap::new();
    let mut per_key: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut key_shard: BTreeMap<String, u32> = BTreeMap::new();
    for m in &got {
        if let Some(prev) = last.insert(m.shard, m.position) {
            assert!(m.position > prev, "shard {} went backwards", m.shard);
        }
        let key = String::from_utf8(m.key.clone().unwrap().to_vec()).unwrap();
        assert_eq!(
            *key_shard.entry(key.clone()).or_insert(m.shard),
            m.shard,
            "key {key} in two shards"
        );
        per_key
            .entry(key)
            .or_default()
            .push(text(m)[1..].parse().unwrap());
    }
    for (k, seq) in per_key {
        assert!(
            seq.windows(2).all(|w| w[0] < w[1]),
            "key {k} out of order: {seq:?}"
        );
    }
}

pub async fn admin_operations_and_their_errors(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["stream_admin"], "adm", 2).await else {
        return;
    };
    let e = ctx.stream().create("ev://", "adm", 2).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AlreadyExists, "{e}");
    let shards = ctx.stream().list_shards("ev://adm").await.unwrap();
    assert_eq!(
        shards.iter().map(|s| (s.id, s.first, s.next)).collect::<Vec<_>>(),
        [(0, 0, 0), (1, 0, 0)]
    );
    ctx.stream()
        .publish("ev://adm")
        .buffers(["a", "b", "c"])
        .await
        .unwrap();
    let total: u64 = ctx
        .stream()
        .list_shards("ev://adm")
        .await
        .unwrap()
        .iter()
        .map(|s| s.next - s.first)
        .sum();
    assert_eq!(total, 3);
    if skip(ctx, &["stream_grow"]) {
        // A backend that cannot add shards says so rather than pretending.
        let e = ctx.stream().update("ev://adm", 4).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    } else {
        let e = ctx.stream().update("ev://adm", 1).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        ctx.stream().update("ev://adm", 4).await.unwrap();
        assert_eq!(ctx.stream().list_shards("ev://adm").await.unwrap().len(), 4);
    }
    publish_numbered(ctx, "adm", "x", 8).await;
    assert_eq!(drain(ctx, "adm").await.len(), 11);
    ctx.stream().delete("ev://adm").await.unwrap();
    let e = ctx.stream().publish("ev://adm").buffers(["z"]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    let e = ctx.stream().list_shards("ev://never").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
}

pub async fn from_variants(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "fv", 1).await else {
        return;
    };
    publish_numbered(ctx, "fv", "a", 10).await;
    let got: Vec<String> = ctx
        .stream()
        .consume("ev://fv")
        .from_("position", "0:7")
        .follow(false)
        .load()
        .map(|m| text(&m.unwrap()))
        .collect();
    assert_eq!(got, ["a7", "a8", "a9"]);
    // `latest` sees only what is published after it started.
    let mut latest = ctx.stream().consume("ev://fv").from_("latest", "").load();
    tokio::time::sleep(Duration::from_millis(200)).await;
    ctx.stream().publish("ev://fv").buffers(["after"]).await.unwrap();
    let m = tokio::time::timeout(Duration::from_secs(10), latest.next_async())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(text(&m), "after");
    if skip(ctx, &["consume_from_timestamp"]) {
        return;
    }
    tokio::time::sleep(Duration::from_millis(20)).await;
    let cut = SystemTime::now();
    tokio::time::sleep(Duration::from_millis(20)).await;
    ctx.stream()
        .publish("ev://fv")
        .buffers(["t1", "t2"])
        .await
        .unwrap();
    let ms = cut.duration_since(UNIX_EPOCH).unwrap().as_millis().to_string();
    let got: Vec<String> = ctx
        .stream()
        .consume("ev://fv")
        .from_("timestamp", &ms)
        .follow(false)
        .load()
        .map(|m| text(&m.unwrap()))
        .collect();
    assert_eq!(got, ["t1", "t2"]);
}

pub async fn checkpoint_and_resume(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["consume_with_group", "consume_with_checkpoint"], "ck", 1).await else {
        return;
    };
    publish_numbered(ctx, "ck", "c", 20).await;
    {
        let mut c = ctx.stream().consume("ev://ck").group("g1").load();
        for i in 0..12 {
            let m = c.next_async().await.unwrap().unwrap();
            assert_eq!(text(&m), format!("c{i}"));
            if i == 9 {
                c.checkpoint_async(&m).await.unwrap();
                assert_eq!(c.get_position(&m), format!("{}:{}", m.shard, m.position));
            }
        }
        c.close_async().await;
    }
    // A new member of the group starts after the checkpoint (c10 was read, not checkpointed).
    let mut c = ctx.stream().consume("ev://ck").group("g1").follow(false).load();
    let m = c.next_async().await.unwrap().unwrap();
    assert_eq!(text(&m), "c10");
    // Another group has its own progress.
    let mut other = ctx.stream().consume("ev://ck").group("g2").follow(false).load();
    assert_eq!(text(&other.next_async().await.unwrap().unwrap()), "c0");
}

pub async fn checkpoint_consumed_covers_every_shard(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["consume_with_group", "consume_with_checkpoint"], "cc", 3).await else {
        return;
    };
    publish_numbered(ctx, "cc", "x", 30).await; // round robin: every shard gets some
    let mut c = ctx.stream().consume("ev://cc").group("g").follow(false).load();
    let mut first = Vec::new();
    while let Some(m) = c.next_async().await {
        first.push(text(&m.unwrap()));
    }
    assert_eq!(first.len(), 30);
    c.checkpoint_consumed_async().await.unwrap();
    c.close_async().await;
    publish_numbered(ctx, "cc", "y", 6).await;
    let mut again = ctx.stream().consume("ev://cc").group("g").follow(false).load();
    let mut rest = Vec::new();
    while let Some(m) = again.next_async().await {
        rest.push(text(&m.unwrap()));
    }
    rest.sort();
    assert_eq!(rest, ["y0", "y1", "y2", "y3", "y4", "y5"]);
}

pub async fn at_least_once_without_a_checkpoint(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["consume_with_group"], "alo", 2).await else {
        return;
    };
    publish_numbered(ctx, "alo", "v", 10).await;
    let group_pass = || async {
        let mut c = ctx.stream().consume("ev://alo").group("g").follow(false).load();
        let mut n = 0;
        while let Some(m) = c.next_async().await {
            m.unwrap();
            n += 1;
        }
        n
    };
    assert_eq!(group_pass().await, 10);
    let again = group_pass().await;
    assert_eq!(again, 10, "nothing was checkpointed, so everything comes again");
}

pub async fn group_members_split_the_shards(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &["consume_with_group"], "split", 4).await else {
        return;
    };
    let mut a = ctx.stream().consume("ev://split").group("workers").load();
    let mut b = ctx.stream().consume("ev://split").group("workers").load();
    // Both joined: a group protocol tells a member of a new one at its next heartbeat
    // (Kafka's rebalance), so this waits longer than the one-process `log` needs.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let msgs: Vec<Message> = (0..40)
        .map(|i| Message::new(format!("w{i}")).with_key(format!("k{i}")))
        .collect();
    ctx.stream().publish("ev://split").messages(msgs).await.unwrap();
    let mut seen: BTreeMap<String, u32> = BTreeMap::new();
    let (mut shards_a, mut shards_b) = (BTreeSet::new(), BTreeSet::new());
    while seen.len() < 40 {
        tokio::select! {
            m = a.next_async() => { let m = m.unwrap().unwrap(); shards_a.insert(m.shard); *seen.entry(text(&m)).or_default() += 1; }
            m = b.next_async() => { let m = m.unwrap().unwrap(); shards_b.insert(m.shard); *seen.entry(text(&m)).or_default() += 1; }
            _ = tokio::time::sleep(Duration::from_secs(20)) => panic!("only {} of 40 messages arrived", seen.len()),
        }
    }
    assert!(
        seen.values().all(|n| *n == 1),
        "a message went to both members: {seen:?}"
    );
    assert!(
        shards_a.is_disjoint(&shards_b),
        "members shared shards: {shards_a:?} {shards_b:?}"
    );
    assert!(
        !shards_a.is_empty() && !shards_b.is_empty(),
        "one member got everything"
    );
}

pub async fn follow_waits_for_new_messages(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "tail", 1).await else {
        return;
    };
    let ctx2 = ctx.clone();
    let consumer = tokio::task::spawn_blocking(move || {
        let mut c = ctx2.stream().consume("ev://tail").load();
        let first = c.next_bytes().unwrap().unwrap();
        assert!(c.has_next());
        let second = c.next().unwrap().unwrap();
        (first, text(&second))
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    ctx.stream()
        .publish("ev://tail")
        .buffers(["late-1"])
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    ctx.stream()
        .publish("ev://tail")
        .buffers(["late-2"])
        .await
        .unwrap();
    let (first, second) = tokio::time::timeout(Duration::from_secs(20), consumer)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((&first[..], second.as_str()), (&b"late-1"[..], "late-2"));
}

pub async fn where_and_select_on_json(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "js", 1).await else {
        return;
    };
    let docs = (0..10).map(|i| {
        format!(
            r#"{{"n": {i}, "kind": "{}", "big": "{}"}}"#,
            if i % 2 == 0 { "a" } else { "b" },
            "x".repeat(50)
        )
    });
    ctx.stream().publish("ev://js").buffers(docs).await.unwrap();
    ctx.stream()
        .publish("ev://js")
        .buffers(["not json"])
        .await
        .unwrap();
    let got: Vec<String> = ctx
        .stream()
        .consume("ev://js")
        .where_("n > 3 AND kind = 'a'")
        .select(["n"])
        .follow(false)
        .load()
        .map(|m| text(&m.unwrap()))
        .collect();
    assert_eq!(got, [r#"{"n":4}"#, r#"{"n":6}"#, r#"{"n":8}"#]);
    let json_only = ctx
        .stream()
        .consume("ev://js")
        .format("json")
        .follow(false)
        .load()
        .count();
    assert_eq!(json_only, 10);
}

pub async fn keys_headers_and_binary_values(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "kh", 2).await else {
        return;
    };
    let value: Vec<u8> = (0..=255u8).collect();
    let msg = Message::new(value.clone())
        .with_key(vec![0u8, 1, 2])
        .with_header("trace", "abc")
        .with_header("bin", vec![0u8, 255]);
    ctx.stream()
        .publish("ev://kh")
        .messages([msg, Message::new(Vec::new())])
        .await
        .unwrap();
    let got = drain(ctx, "kh").await;
    let m = got.iter().find(|m| m.key.is_some()).unwrap();
    assert_eq!(&m.value[..], &value[..]);
    assert_eq!(m.key.as_deref(), Some(&[0u8, 1, 2][..]));
    assert_eq!(
        m.headers,
        vec![
            ("trace".to_string(), "abc".into()),
            ("bin".to_string(), vec![0u8, 255].into())
        ]
    );
    assert!(m.timestamp.is_some());
    assert!(got.iter().any(|m| m.value.is_empty() && m.key.is_none()));
}

pub async fn bad_input_is_refused_clearly(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "bad", 1).await else {
        return;
    };
    let mut c = ctx.stream().consume("ev://bad").where_("n >> 2").load();
    let e = c.next_async().await.unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("column 3"), "{e}");
    let mut c = ctx.stream().consume("ev://bad").from_("yesterday", "").load();
    assert!(c
        .next_async()
        .await
        .unwrap()
        .unwrap_err()
        .to_string()
        .contains("earliest, latest"));
    ctx.stream().publish("ev://bad").buffers(["x"]).await.unwrap();
    let mut c = ctx.stream().consume("ev://bad").follow(false).load();
    let m = c.next_async().await.unwrap().unwrap();
    let e = c.checkpoint(&m).unwrap_err();
    assert!(e.to_string().contains("checkpoint needs a consumer group"), "{e}");
    let mut c = ctx.stream().consume("ev://bad").group("../evil").load();
    assert_eq!(
        c.next_async().await.unwrap().unwrap_err().kind(),
        ErrorKind::InvalidInput
    );
    let e = ctx
        .stream()
        .publish("ev://../escape")
        .buffers(["x"])
        .await
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    let e = ctx.stream().publish("ev://").buffers(["x"]).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

pub async fn acknowledged_messages_survive_a_restart(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "dur", 2).await else {
        return;
    };
    let placed = ctx
        .stream()
        .publish("ev://dur")
        .buffers((0..50).map(|i| format!("d{i}")))
        .await
        .unwrap();
    let reopened = fx.reopen().await;
    let got = drain(&reopened, "dur").await;
    assert_eq!(got.len(), 50);
    let positions: BTreeSet<(u32, u64)> = got.iter().map(|m| (m.shard, m.position)).collect();
    assert_eq!(positions, placed.into_iter().collect());
}

pub async fn concurrent_publishers_lose_nothing(fx: &crate::Fixture) {
    let Some(ctx) = ready(fx, &[], "many", 3).await else {
        return;
    };
    let mut tasks = Vec::new();
    for p in 0..16 {
        let ctx = ctx.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                ctx.stream()
                    .publish("ev://many")
                    .messages([Message::new(format!("{p}-{i}")).with_key(format!("p{p}"))])
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let got = drain(ctx, "many").await;
    assert_eq!(got.len(), 400);
    let distinct: BTreeSet<String> = got.iter().map(text).collect();
    assert_eq!(distinct.len(), 400);
    let mut per_publisher: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for m in &got {
        let t = text(m);
        let (p, i) = t.split_once('-').unwrap();
        per_publisher
            .entry(p.to_string())
            .or_default()
            .push(i.parse().unwrap());
    }
    for (p, seq) in per_publisher {
        assert_eq!(
            seq,
            (0..25).collect::<Vec<_>>(),
            "publisher {p}'s messages out of order"
        );
    }
}

/// Reads a whole stream with the stream API, as a futures stream (used by other tests).
pub async fn collect_stream(ctx: &Context, stream: &str) -> Vec<Message> {
    let c = ctx
        .stream()
        .consume(format!("ev://{stream}"))
        .follow(false)
        .load();
    c.into_stream().map(|m| m.unwrap()).collect().await
}
