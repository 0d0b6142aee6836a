//! The processors suite: a binding's `processors:` pipeline (the runtime's `processors`
//! module) on every driver of each kind, built in and through the plugin ABI. Each case writes
//! its own pipeline into the binding (`processors: [...]`, YAML flow style) and talks to the
//! real backend. Run by `tests/processors_conformance.rs`.

use std::future::Future;

use bindery::{Context, ErrorKind};
use bindery_runtime::processors::Refusal;
use serde_json::{json, Value};

use crate::stream_suite::drain;
use crate::Fixture;

/// Registers every case for an object driver: `$fixture` takes the `processors:` value.
#[macro_export]
macro_rules! object_processors {
    ($name:ident, $fixture:expr) => {
        $crate::processors_suite!(@kind $name, $fixture, object;
            validate_refuses_and_writes_nothing,
            the_order_of_processors_matters,
            fillers_shape_what_is_stored,
            reads_are_redacted_selected_and_renamed,
            read_only_fields_never_change,
            size_and_media_type_are_checked,
            an_ignored_refusal_lets_the_put_through,
        );
    };
}

/// Registers every case for a table driver: `$fixture` takes the `processors:` value.
#[macro_export]
macro_rules! table_processors {
    ($name:ident, $fixture:expr) => {
        $crate::processors_suite!(@kind $name, $fixture, table;
            table_rows_are_validated_and_filled,
            table_reads_are_shaped_by_column,
        );
    };
}

/// Registers every case for a stream driver: `$fixture` takes the `processors:` value.
#[macro_export]
macro_rules! stream_processors {
    ($name:ident, $fixture:expr) => {
        $crate::processors_suite!(@kind $name, $fixture, stream;
            a_refused_message_refuses_the_publish,
            consumed_messages_are_redacted,
        );
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! processors_suite {
    (@kind $name:ident, $fixture:expr, $kind:ident; $($case:ident,)*) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $case() {
                    $crate::processors_suite::$case($fixture).await;
                }
            )*
        }
    };
}

fn refused(e: &bindery::Error, processor: &str, needle: &str) {
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains(processor), "names {processor}: {e}");
    assert!(e.message().contains(needle), "says {needle}: {e}");
}

fn refusal(e: &bindery::Error) -> Option<Refusal> {
    std::error::Error::source(e).and_then(|s| s.downcast_ref::<Refusal>().copied())
}

async fn get_json(ctx: &Context, path: &str) -> Value {
    let bytes = ctx
        .object()
        .get(path)
        .await
        .unwrap_or_else(|e| panic!("get {path}: {e}"));
    serde_json::from_slice(&bytes.data).unwrap_or_else(|e| panic!("{path} is JSON: {e}"))
}

const USER_SCHEMA: &str =
    r#"{type: object, required: [id], properties: {id: {type: integer}, name: {type: string}}}"#;

pub async fn validate_refuses_and_writes_nothing<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture(format!("[{{kind: validate, schema: {USER_SCHEMA}}}]")).await;
    let o = fx.ctx.object();
    let e = o.put("obj://u1.json", r#"{"id": "one"}"#).await.unwrap_err();
    refused(&e, "processor 1 (validate)", "at /id");
    assert_eq!(refusal(&e), Some(Refusal::Invalid));
    let e = o.put("obj://u1.json", "not json").await.unwrap_err();
    refused(&e, "processor 1 (validate)", "not a JSON document");
    let e = o.head("obj://u1.json").await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "a refused put wrote nothing: {e}");
    o.put("obj://u1.json", r#"{"id": 1, "name": "ana"}"#)
        .await
        .unwrap();
    assert_eq!(
        get_json(&fx.ctx, "obj://u1.json").await,
        json!({"id": 1, "name": "ana"})
    );
}

pub async fn the_order_of_processors_matters<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    // Defaults first: the validator sees the filled-in field.
    let fx = fixture(format!(
        "[{{kind: defaults, values: {{id: 7}}}}, {{kind: validate, schema: {USER_SCHEMA}}}]"
    ))
    .await;
    fx.ctx
        .object()
        .put("obj://a.json", r#"{"name": "ana"}"#)
        .await
        .unwrap();
    assert_eq!(
        get_json(&fx.ctx, "obj://a.json").await,
        json!({"id": 7, "name": "ana"})
    );
    // Validate first: the same put is refused, by processor 1.
    let fx = fixture(format!(
        "[{{kind: validate, schema: {USER_SCHEMA}}}, {{kind: defaults, values: {{id: 7}}}}]"
    ))
    .await;
    let e = fx
        .ctx
        .object()
        .put("obj://a.json", r#"{"name": "ana"}"#)
        .await
        .unwrap_err();
    refused(&e, "processor 1 (validate)", "\"id\" is a required property");
}

pub async fn fillers_shape_what_is_stored<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture(
        "[{kind: dropNulls}, {kind: defaults, values: {status: new, meta.source: api}}, \
         {kind: rename, on: [put], fields: {name: fullName}}, \
         {kind: select, on: [put], fields: [id, fullName, status, meta.source, tags]}]"
            .to_string(),
    )
    .await;
    let o = fx.ctx.object();
    o.put(
        "obj://s.json",
        r#"{"id": 1, "name": "Ana", "nick": null, "secret": "x", "meta": {"source": null, "other": 1}, "tags": [null, 1]}"#,
    )
    .await
    .unwrap();
    // dropNulls took nick and meta.source away, so defaults set meta.source; rename moved
    // name; select kept what it names (nested fields inside their objects; array elements as
    // they are).
    assert_eq!(
        get_json(&fx.ctx, "obj://s.json").await,
        json!({"id": 1, "fullName": "Ana", "status": "new", "meta": {"source": "api"}, "tags": [null, 1]})
    );
    // A document that is not an object cannot be filled in.
    let e = o.put("obj://n.json", "[1, 2]").await.unwrap_err();
    refused(&e, "processor 2 (defaults)", "an array, not a JSON object");
}

pub async fn reads_are_redacted_selected_and_renamed<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture(
        "[{kind: redact, fields: [ssn, card.number]}, {kind: rename, fields: {name: fullName}}, \
         {kind: select, fields: [fullName, ssn, card]}]"
            .to_string(),
    )
    .await;
    let o = fx.ctx.object();
    let doc =
        r#"{"name": "Ana", "ssn": "123-45-6789", "card": {"number": "4111", "exp": "12/30"}, "other": 1}"#;
    o.put("obj://p.json", doc).await.unwrap();
    let got = get_json(&fx.ctx, "obj://p.json").await;
    assert_eq!(
        got,
        json!({"fullName": "Ana", "ssn": "***", "card": {"number": "***", "exp": "12/30"}})
    );
    // The answer's size is the processed document's.
    let mut r = o.get("obj://p.json").load();
    let size = r.size().unwrap();
    let bytes = r.read_all().unwrap();
    assert_eq!(size, bytes.len() as u64);
    // Processors that rewrite documents read them whole: a byte range is refused.
    let e = o.get("obj://p.json").range(0, Some(4)).await.unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.message().contains("byte range"), "{e}");
}

pub async fn read_only_fields_never_change<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture("[{kind: readOnly, fields: [id, meta.created]}]".to_string()).await;
    let o = fx.ctx.object();
    o.put(
        "obj://r.json",
        r#"{"id": 1, "meta": {"created": "mon"}, "name": "a"}"#,
    )
    .await
    .unwrap();
    // Other fields change freely.
    o.put(
        "obj://r.json",
        r#"{"id": 1, "meta": {"created": "mon"}, "name": "b"}"#,
    )
    .await
    .unwrap();
    for (doc, field) in [
        (r#"{"id": 2, "meta": {"created": "mon"}, "name": "c"}"#, "'id'"),
        (
            r#"{"id": 1, "meta": {"created": "tue"}, "name": "c"}"#,
            "'meta.created'",
        ),
        (r#"{"id": 1, "name": "c"}"#, "'meta.created'"),
    ] {
        let e = o.put("obj://r.json", doc).await.unwrap_err();
        refused(&e, "processor 1 (readOnly)", field);
    }
    assert_eq!(
        get_json(&fx.ctx, "obj://r.json").await,
        json!({"id": 1, "meta": {"created": "mon"}, "name": "b"})
    );
}

pub async fn size_and_media_type_are_checked<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture(
        "[{kind: maxSize, bytes: 1KiB}, {kind: contentTypes, allow: [application/json, text/*]}]".to_string(),
    )
    .await;
    if crate::object_suite::skip(&fx.ctx, &["put_with_metadata"]) {
        return;
    }
    let o = fx.ctx.object();
    let e = o
        .put("obj://big.txt", vec![b'x'; 1025])
        .metadata([("content-type", "text/plain")])
        .await
        .unwrap_err();
    refused(
        &e,
        "processor 1 (maxSize)",
        "1025 bytes is more than the 1024 bytes",
    );
    assert_eq!(refusal(&e), Some(Refusal::TooLarge));
    let e = o
        .put("obj://pic.png", vec![0u8; 10])
        .metadata([("content-type", "image/png")])
        .await
        .unwrap_err();
    refused(&e, "processor 2 (contentTypes)", "'image/png' is not allowed");
    assert_eq!(refusal(&e), Some(Refusal::MediaType));
    let e = o.put("obj://none", "x").await.unwrap_err();
    refused(&e, "processor 2 (contentTypes)", "no content type");
    for p in ["obj://big.txt", "obj://pic.png", "obj://none"] {
        assert_eq!(o.head(p).await.unwrap_err().kind(), ErrorKind::NotFound, "{p}");
    }
    o.put("obj://ok.txt", vec![b'x'; 1024])
        .metadata([("content-type", "text/plain; charset=utf-8")])
        .await
        .unwrap();
    // A streamed put that grows past the size is refused on its way, and leaves nothing.
    let chunks = futures::stream::iter((0..4).map(|_| Ok(bindery::Bytes::from(vec![b'y'; 400]))));
    let e = o
        .put("obj://streamed.txt", bindery::Bytes::new())
        .add_stream(Box::pin(chunks))
        .metadata([("content-type", "text/plain")])
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), Some(Refusal::TooLarge), "{e}");
    assert_eq!(
        o.head("obj://streamed.txt").await.unwrap_err().kind(),
        ErrorKind::NotFound
    );
}

pub async fn an_ignored_refusal_lets_the_put_through<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture(format!(
        "[{{kind: validate, schema: {USER_SCHEMA}, failurePolicy: ignore}}, {{kind: defaults, values: {{checked: true}}, failurePolicy: ignore}}]"
    ))
    .await;
    let o = fx.ctx.object();
    o.put("obj://i.json", r#"{"id": "x"}"#).await.unwrap();
    assert_eq!(
        get_json(&fx.ctx, "obj://i.json").await,
        json!({"id": "x", "checked": true})
    );
    // Not JSON: both refuse, both are ignored, and the bytes are stored as given.
    o.put("obj://raw.bin", "raw").await.unwrap();
    assert_eq!(o.get("obj://raw.bin").await.unwrap().data, "raw");
}

async fn rows(ctx: &Context, path: &str) -> Vec<Value> {
    let mut r = ctx.table().read(path).order_by(["id"]).load();
    let mut out = Vec::new();
    while let Some(b) = r.next_async().await {
        let b = b.unwrap();
        for text in bindery_core::table::build::row_texts(&b).unwrap() {
            out.push(serde_json::from_str(&text).unwrap());
        }
    }
    out
}

pub async fn table_rows_are_validated_and_filled<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture(
        "[{kind: dropNulls}, {kind: validate, schema: {type: object, properties: {age: {type: integer, minimum: 0}}}}, \
         {kind: defaults, values: {status: new}}]"
            .to_string(),
    )
    .await;
    let t = fx.ctx.table();
    crate::create_table(&fx.ctx, "db://people", "id int64, age int64, status string", "id").await;
    let e = t
        .write("db://people")
        .with_items([json!({"id": 1, "age": 30}), json!({"id": 2, "age": -1})])
        .await
        .unwrap_err();
    refused(&e, "processor 2 (validate)", "(row 2)");
    assert!(e.message().contains("at /age"), "{e}");
    assert_eq!(
        rows(&fx.ctx, "db://people").await,
        Vec::<Value>::new(),
        "nothing was written"
    );
    t.write("db://people")
        .with_items([
            json!({"id": 1, "age": 30}),
            json!({"id": 2, "age": null, "status": "old"}),
        ])
        .await
        .unwrap();
    // Row 2's null age was dropped, so the column keeps its default (NULL on a new row).
    assert_eq!(
        rows(&fx.ctx, "db://people").await,
        [
            json!({"id": 1, "age": 30, "status": "new"}),
            json!({"id": 2, "age": null, "status": "old"})
        ]
    );
    // A null is dropped, so an existing row keeps its value.
    if crate::object_suite::skip(&fx.ctx, &["write_upsert"]) {
        return;
    }
    t.write("db://people")
        .with_items([json!({"id": 1, "age": null, "status": "seen"})])
        .await
        .unwrap();
    assert_eq!(
        rows(&fx.ctx, "db://people").await[0],
        json!({"id": 1, "age": 30, "status": "seen"})
    );
}

pub async fn table_reads_are_shaped_by_column<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture(
        "[{kind: redact, fields: [ssn, age]}, {kind: rename, fields: {name: fullName}}, \
         {kind: select, fields: [id, fullName, ssn, age]}]"
            .to_string(),
    )
    .await;
    crate::create_table(
        &fx.ctx,
        "db://people",
        "id int64, name string, ssn string, age int64, extra string",
        "id",
    )
    .await;
    fx.ctx
        .table()
        .write("db://people")
        .with_items([
            json!({"id": 1, "name": "ana", "ssn": "123", "age": 30, "extra": "e"}),
            json!({"id": 2, "name": "bo"}),
        ])
        .await
        .unwrap();
    assert_eq!(
        rows(&fx.ctx, "db://people").await,
        [
            json!({"id": 1, "fullName": "ana", "ssn": "***", "age": null}),
            json!({"id": 2, "fullName": "bo", "ssn": null, "age": null})
        ]
    );
}

pub async fn a_refused_message_refuses_the_publish<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture(format!(
        "[{{kind: maxSize, bytes: 64}}, {{kind: validate, schema: {USER_SCHEMA}}}, {{kind: defaults, values: {{v: 1}}}}]"
    ))
    .await;
    let s = fx.ctx.stream();
    s.create("ev://", "users", 1).await.unwrap();
    let e = s
        .publish("ev://users")
        .buffers([r#"{"id": 1}"#, r#"{"id": "two"}"#])
        .await
        .unwrap_err();
    refused(&e, "processor 2 (validate)", "(message 2)");
    let e = s
        .publish("ev://users")
        .buffers([format!(r#"{{"id": 1, "pad": "{}"}}"#, "x".repeat(64))])
        .await
        .unwrap_err();
    assert_eq!(refusal(&e), Some(Refusal::TooLarge), "{e}");
    assert!(
        drain(&fx.ctx, "users").await.is_empty(),
        "a refused publish published nothing"
    );
    s.publish("ev://users")
        .buffers([r#"{"id": 1}"#, r#"{"id": 2, "v": 5}"#])
        .await
        .unwrap();
    let values: Vec<Value> = drain(&fx.ctx, "users")
        .await
        .iter()
        .map(|m| serde_json::from_slice(&m.value).unwrap())
        .collect();
    assert_eq!(values, [json!({"id": 1, "v": 1}), json!({"id": 2, "v": 5})]);
}

pub async fn consumed_messages_are_redacted<F, Fut>(fixture: F)
where
    F: Fn(String) -> Fut,
    Fut: Future<Output = Fixture>,
{
    let fx = fixture(
        "[{kind: redact, fields: [card], mask: null}, {kind: select, on: [consume], fields: [id, card]}]"
            .to_string(),
    )
    .await;
    let s = fx.ctx.stream();
    s.create("ev://", "pay", 1).await.unwrap();
    s.publish("ev://pay")
        .buffers([r#"{"id": 1, "card": "4111", "note": "x"}"#])
        .await
        .unwrap();
    let got: Vec<Value> = drain(&fx.ctx, "pay")
        .await
        .iter()
        .map(|m| serde_json::from_slice(&m.value).unwrap())
        .collect();
    assert_eq!(got, [json!({"id": 1, "card": null})]);
}
