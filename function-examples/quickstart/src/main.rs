//! The quickstart function: writes a report, reads it back whole and in part, lists,
//! caches, and shows what a refused conditional write looks like; then publishes events to a
//! stream and consumes them as a consumer group that checkpoints its progress; then works a
//! `sqlite` table (upserts, filtered reads, optimistic locking, alter) and appends to a
//! `files` table of Parquet files.
//!
//! Run it with `cargo run -p quickstart` (or `./scripts/quickstart`); it uses the
//! `function.yaml` beside this file, or the spec given as the first argument.

use std::path::PathBuf;

use bindery::{Context, ErrorKind, ListEntry, Message, WaitGroup};

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> bindery::Result<()> {
    let spec = std::env::args()
        .nth(1)
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("function.yaml"));
    let ctx = Context::connect(&spec).await?;
    let reports = ctx.object();

    // Write a report with metadata. The put returns the new generation.
    let csv = "region,total\nNY,120\nSF,95\nLDN,77\n";
    let meta = reports
        .put("reports://2026/q3.csv", csv)
        .metadata([("content-type", "text/csv"), ("author", "quickstart")])
        .await?;
    println!(
        "wrote {} ({} bytes, generation {})",
        meta.path, meta.size, meta.gen
    );

    // Read it back whole, then only its second line (a byte range).
    let q3 = reports.get("reports://2026/q3.csv").await?;
    println!(
        "read {} bytes, content-type {}",
        q3.data.len(),
        q3.meta.metadata["content-type"]
    );
    let line = reports.get("2026/q3.csv").range(13, Some(7)).await?;
    println!("bytes 13..20: {:?}", String::from_utf8_lossy(&line.data));

    // Optimistic locking: a write that names the generation it expects.
    let updated = reports
        .put("reports://2026/q3.csv", format!("{csv}TKY,64\n"))
        .condition("if-match", &meta.gen)
        .await?;
    match reports
        .put("reports://2026/q3.csv", "stale")
        .condition("if-match", &meta.gen)
        .await
    {
        Err(e) if e.kind() == ErrorKind::ConditionFailed => println!("stale write refused: {e}"),
        other => println!("unexpected: {other:?}"),
    }

    // Many writes at once: send now, wait for the group.
    let wg = WaitGroup::new();
    for month in ["07", "08", "09"] {
        reports
            .put(
                format!("reports://2026/monthly/{month}.csv"),
                format!("month,{month}\n"),
            )
            .do_async(&wg)?;
    }
    ctx.wait(&wg).into_result()?;

    // List one level with a delimiter: objects and common prefixes.
    for entry in reports.list("reports://2026/").delimiter("/").await? {
        match entry {
            ListEntry::Object(m) => println!("  {:>6}  {}", m.size, m.path),
            ListEntry::Prefix(p) => println!("  {:>6}  {p}", "PRE"),
        }
    }

    // Cache the latest report in memory; a get streams chunks as they arrive.
    let data = reports.get("reports://2026/q3.csv").await?.data;
    ctx.object().put("cache://latest", data).await?;
    let mut reader = ctx.object().get("cache://latest").load();
    println!(
        "cached generation {} holds {} bytes",
        reader.gen()?,
        reader.size()?
    );
    println!("report generation is now {}", updated.gen);

    // Streams: publish events (a key keeps its events in order, in one shard)...
    match ctx.stream().create("events://sales", "", 2).await {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {} // a second run
        other => other?,
    }
    let sales = (0..6).map(|i| {
        let region = ["NY", "SF", "LDN"][i % 3];
        Message::new(format!(r#"{{"region": "{region}", "amount": {}}}"#, 50 + i * 20)).with_key(region)
    });
    let placed = ctx.stream().publish("events://sales").messages(sales).await?;
    println!("published {} events, durable at {placed:?}", placed.len());

    // ...and consume the big ones as group `billing`: a second run starts after the checkpoint.
    let mut billing = ctx
        .stream()
        .consume("events://sales")
        .group("billing")
        .where_("amount >= 100")
        .follow(false)
        .load();
    while let Some(event) = billing.next_async().await {
        let event = event?;
        println!(
            "  billing {} at {}",
            String::from_utf8_lossy(&event.value),
            billing.get_position(&event)
        );
    }
    billing.checkpoint_consumed_async().await?; // every shard's progress, durably

    tables(&ctx).await
}

/// A table: create it once, upsert rows, read with a filter and a projection, update with
/// optimistic locking, and evolve the schema.
async fn tables(ctx: &bindery::Context) -> bindery::Result<()> {
    match ctx
        .table()
        .create("db0://users")
        .schema("user string NOT NULL, age int64, addr string, version int64 NOT NULL DEFAULT 0")
        .primary_key("user", None)
        .await
    {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {} // a second run
        other => other?,
    }
    let written = ctx
        .table()
        .write("db0://users")
        .with_items([
            serde_json::json!({"user": "ana", "age": 41, "addr": "NY"}),
            serde_json::json!({"user": "bob", "age": 17, "addr": "SF"}),
            serde_json::json!({"user": "cy", "age": 35, "addr": "LA"}),
        ])
        .await?;
    println!("upserted {written} users");

    let over_30 = ctx
        .table()
        .read("db0://users")
        .select(["user", "addr"])
        .where_("age > 30")
        .load();
    for batch in over_30 {
        let batch = batch?; // an Arrow RecordBatch
        println!(
            "users over 30:\n{}",
            bindery::arrow::util::pretty::pretty_format_batches(&[batch])
                .map_err(|e| bindery::Error::internal(e.to_string()))?
        );
    }

    // Optimistic locking: the update applies only at the version read.
    #[derive(serde::Deserialize)]
    struct User {
        version: i64,
    }
    let ana: Vec<User> = ctx
        .table()
        .read("db0://users")
        .key(["ana"])
        .load()
        .scan_async()
        .await?;
    let update = ctx
        .table()
        .write("db0://users")
        .to_keys([["ana"]])
        .with_expression("age = age + :years, version = version + 1", [("years", 1)])
        .condition(&format!("version = {}", ana[0].version));
    update.await?;
    let stale = ctx
        .table()
        .write("db0://users")
        .to_keys([["ana"]])
        .with_expression("age = 0", Vec::<(String, i64)>::new())
        .condition(&format!("version = {}", ana[0].version))
        .await;
    match stale {
        Err(e) if e.kind() == ErrorKind::ConditionFailed => println!("stale update refused: {e}"),
        other => println!("unexpected: {other:?}"),
    }

    // Schema evolution: adding a column with a default is allowed; existing rows get it.
    let schema = ctx.table().schema("db0://users").await?;
    if schema.column("level").is_none() {
        ctx.table()
            .alter("db0://users")
            .add_column("level int64 NOT NULL DEFAULT 1")
            .await?;
    }
    let rows: usize = ctx
        .table()
        .read("db0://users")
        .where_("level = 1")
        .await?
        .iter()
        .map(|b| b.num_rows())
        .sum();
    println!("{rows} users at level 1");
    lake(ctx).await
}

/// A `files` table: Parquet files in a folder, appended to, read with a filter pushed into the
/// reader; it grows by one file per run.
async fn lake(ctx: &bindery::Context) -> bindery::Result<()> {
    match ctx
        .table()
        .create("lake://visits")
        .schema("user string NOT NULL, page string, at timestamp")
        .await
    {
        Err(e) if e.kind() == ErrorKind::AlreadyExists => {}
        other => other?,
    }
    #[derive(serde::Deserialize)]
    struct Name {
        user: String,
    }
    let users: Vec<Name> = ctx
        .table()
        .read("db0://users")
        .select(["user"])
        .load()
        .scan_async()
        .await?;
    // A timestamp is RFC 3339 text, or microseconds since the epoch.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or_default();
    let visits: Vec<serde_json::Value> = users
        .iter()
        .enumerate()
        .map(|(i, u)| {
            let page = ["/ny/deals", "/sf/news"][i % 2];
            serde_json::json!({"user": u.user, "page": page, "at": now})
        })
        .collect();
    let appended = ctx.table().write("lake://visits").with_items(visits).await?;
    let ny = ctx
        .table()
        .read("lake://visits")
        .where_("page LIKE '/ny%'")
        .select(["user", "at"])
        .await?;
    let rows: usize = ny.iter().map(|b| b.num_rows()).sum();
    println!("appended {appended} visits to lake://visits; {rows} visits of /ny pages in all");
    Ok(())
}
