//! The stream enrichment function end to end: orders published before and while it runs are
//! enriched into the table, an order of an unknown user goes to the dead-letter stream, and
//! after SIGTERM and a restart only new orders are handled (the checkpoint held).

use std::time::{Duration, Instant};

use bindery::{Context, Message};
use bindery_tests::function::{invoke_json, stream_messages, FunctionProcess};

const EXE: &str = env!("CARGO_BIN_EXE_stream-enrich");

fn spec() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("function.yaml")
}

fn order(id: &str, user: &str, amount: f64) -> Message {
    Message::new(serde_json::json!({"order": id, "user": user, "amount": amount}).to_string())
        .with_key(user.to_string())
}

/// Publishes from this process, then lets go of the streams (one process writes a log
/// stream at a time).
fn publish(orders: Vec<Message>) {
    let ctx = Context::open(spec()).unwrap();
    ctx.stream()
        .publish("events://orders")
        .messages(orders)
        .do_()
        .unwrap();
}

fn enriched(ctx: &Context) -> Vec<serde_json::Value> {
    ctx.table().read("db0://orders_enriched").load().scan().unwrap()
}

#[test]
fn orders_are_enriched_checkpointed_and_dead_lettered() {
    let data = tempfile::tempdir().unwrap();
    std::env::set_var("ENRICH_DATA", data.path());
    // The first run creates the streams and tables (and its users), handles nothing yet.
    let mut f = FunctionProcess::start(EXE, &spec(), &[]);
    f.wait_log("Stream trigger consuming.");
    let (ok, log) = f.stop();
    assert!(ok, "{log}");

    publish(vec![
        order("o-1", "ana", 120.5),
        order("o-2", "bob", 8.0),
        order("o-3", "zed", 1.0),
        order("o-4", "chen", 30.0),
    ]);
    let mut f = FunctionProcess::start(EXE, &spec(), &[]);
    let ctx = Context::open(spec()).unwrap();
    let start = Instant::now();
    while enriched(&ctx).len() < 3 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    f.wait_log("sent to the dead-letter stream");
    let (ok, log) = f.stop();
    assert!(ok, "{log}");
    let rows = enriched(&ctx);
    assert_eq!(rows.len(), 3, "{rows:?}\n{log}");
    let ana = rows.iter().find(|r| r["order"] == "o-1").unwrap();
    assert_eq!(
        (
            ana["name"].as_str(),
            ana["country"].as_str(),
            ana["tier"].as_str()
        ),
        (Some("Ana Lima"), Some("BR"), Some("gold"))
    );
    assert_eq!(ana["amount"].as_f64(), Some(120.5));
    let chen = rows.iter().find(|r| r["order"] == "o-4").unwrap();
    assert!(chen["tier"].is_null());
    let first_ids: Vec<(String, String)> = rows
        .iter()
        .map(|r| {
            (
                r["order"].as_str().unwrap().to_string(),
                r["event_id"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    drop(ctx);

    // The unknown user's order is in the dead-letter stream, saying why.
    let ctx = Context::open(spec()).unwrap();
    let dead: Vec<Message> = stream_messages(&ctx, "events://orders-dead");
    assert_eq!(dead.len(), 1);
    let why = dead[0]
        .headers
        .iter()
        .find(|(k, _)| k == "bindery-error")
        .map(|(_, v)| String::from_utf8_lossy(v).into_owned());
    assert!(why.as_deref().unwrap_or("").contains("no user 'zed'"), "{why:?}");
    drop(ctx);

    // A restart handles only the new order: the old rows keep the event ids they got.
    publish(vec![order("o-5", "ana", 5.0)]);
    let mut f = FunctionProcess::start(EXE, &spec(), &[]);
    let ctx = Context::open(spec()).unwrap();
    let start = Instant::now();
    while enriched(&ctx).len() < 4 && start.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(500));
    let (ok, log) = f.stop();
    assert!(ok, "{log}");
    let rows = enriched(&ctx);
    assert_eq!(rows.len(), 4, "{rows:?}");
    for (order, id) in first_ids {
        let row = rows.iter().find(|r| r["order"] == order.as_str()).unwrap();
        assert_eq!(
            row["event_id"].as_str(),
            Some(id.as_str()),
            "order {order} was handled again"
        );
    }
}

#[test]
fn invoke_enriches_one_order() {
    let data = tempfile::tempdir().unwrap();
    let args = ["--body", r#"{"order": "o-9", "user": "bob", "amount": 3}"#];
    let j = invoke_json(EXE, &spec(), &args, &[("ENRICH_DATA", data.path())]);
    assert_eq!(
        (j["name"].as_str(), j["country"].as_str()),
        (Some("Bob Stone"), Some("US"))
    );
}
