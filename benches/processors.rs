//! Processors (issue 25), each against the same requests with no processors in the same run:
//! - 4 KiB JSON puts on `memory` through a pipeline of five processors (maxSize,
//!   contentTypes, validate with a JSON Schema, defaults, dropNulls);
//! - table writes of 1,000 rows (JSON items) on `sqlite` through five processors (validate,
//!   dropNulls, defaults, rename, select).
//!
//! Run with `benches/run processors` (or `cargo bench -p bindery-benches --bench processors`).

use std::path::Path;
use std::time::Instant;

use bindery::Context;
use bindery_benches::{table_header, Case};
use serde_json::json;

const ROUNDS: usize = 5;
const PUTS: usize = 2000;
const WRITES: usize = 20;
const ROWS: usize = 1000;

const OBJECT_PIPELINE: &str = "
      processors:
        - kind: maxSize
          bytes: 64KiB
        - kind: contentTypes
          allow: [application/json]
        - kind: validate
          schema: {type: object, required: [id, items], properties: {id: {type: integer}, items: {type: array, items: {type: object}}}}
        - kind: defaults
          values: {status: new}
        - kind: dropNulls
";

const TABLE_PIPELINE: &str = "
      processors:
        - kind: validate
          schema: {type: object, required: [id], properties: {id: {type: integer}, age: {type: integer, minimum: 0}}}
        - kind: dropNulls
        - kind: defaults
          values: {status: new}
        - kind: rename
          on: [write]
          fields: {years: age}
        - kind: select
          on: [write]
          fields: [id, name, age, status]
";

fn context(dir: &Path, binding: &str) -> Context {
    let spec = dir.join("function.yaml");
    std::fs::write(&spec, format!("spec:\n  dataBindings:\n{binding}")).unwrap();
    Context::open(&spec).unwrap()
}

/// A JSON document of about 4 KiB.
fn document(i: usize) -> Vec<u8> {
    let items: Vec<_> = (0..40)
        .map(|k| json!({"sku": format!("sku-{k:05}"), "qty": k, "note": "x".repeat(60), "gift": null}))
        .collect();
    let doc = json!({"id": i, "items": items, "owner": "ana"});
    let bytes = serde_json::to_vec(&doc).unwrap();
    assert!((3500..5000).contains(&bytes.len()), "{}", bytes.len());
    bytes
}

fn puts(ctx: &Context, docs: &[Vec<u8>]) -> f64 {
    let o = ctx.object();
    let t = Instant::now();
    for (i, d) in docs.iter().enumerate() {
        o.put(format!("docs://d{i}.json"), d.clone())
            .metadata([("content-type", "application/json")])
            .do_()
            .unwrap();
    }
    docs.len() as f64 / t.elapsed().as_secs_f64()
}

fn writes(ctx: &Context) -> f64 {
    ctx.table()
        .create("db://people")
        .schema("id int64, name string, age int64, status string")
        .primary_key("id", None)
        .do_()
        .unwrap();
    let batches: Vec<Vec<serde_json::Value>> = (0..WRITES)
        .map(|w| {
            (0..ROWS)
                .map(|r| json!({"id": w * ROWS + r, "name": format!("user {r}"), "years": r % 90, "nick": null}))
                .collect()
        })
        .collect();
    let t = Instant::now();
    for rows in batches {
        ctx.table().write("db://people").with_items(rows).do_().unwrap();
    }
    (WRITES * ROWS) as f64 / t.elapsed().as_secs_f64()
}

fn main() {
    let docs: Vec<Vec<u8>> = (0..PUTS).map(document).collect();
    table_header("Processors: five per binding, against none");
    let (mut objects, mut tables) = (Case::default(), Case::default());
    for _ in 0..ROUNDS {
        let dir = tempfile::tempdir().unwrap();
        let plain = context(
            dir.path(),
            "    docs:\n      kind: object\n      driver: memory\n",
        );
        let theirs = puts(&plain, &docs);
        let piped = context(
            dir.path(),
            &format!("    docs:\n      kind: object\n      driver: memory\n{OBJECT_PIPELINE}"),
        );
        let ours = puts(&piped, &docs);
        objects.add(ours, theirs);

        // The plain table gets the rows the pipeline would write (renamed, selected).
        let plain_rows = tempfile::tempdir().unwrap();
        let plain = context(
            plain_rows.path(),
            "    db:\n      kind: table\n      driver: sqlite\n      url: ./t.db\n      processors:\n        - kind: rename\n          on: [write]\n          fields: {years: age}\n        - kind: select\n          on: [write]\n          fields: [id, name, age, status]\n",
        );
        let theirs = writes(&plain);
        let piped_rows = tempfile::tempdir().unwrap();
        let piped = context(
            piped_rows.path(),
            &format!("    db:\n      kind: table\n      driver: sqlite\n      url: ./t.db\n{TABLE_PIPELINE}"),
        );
        let ours = writes(&piped);
        tables.add(ours, theirs);
    }
    objects.report(
        "memory: 4 KiB JSON put, five processors",
        "puts/s",
        "the same puts, no processors",
    );
    tables.report(
        "sqlite: write of 1,000 JSON rows, five processors",
        "rows/s",
        "rename + select only (the rows must fit the table)",
    );
}
