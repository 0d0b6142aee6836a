//! bindery's fuzz targets, each a function of the input bytes that must return (never panic,
//! hang or overflow the stack) whatever the bytes are. `fuzz/cargo-fuzz` wraps each in a
//! libFuzzer target (`cargo +nightly fuzz run --fuzz-dir fuzz/cargo-fuzz NAME`); the test
//! `tests/replay.rs` runs every input kept in `fuzz/corpus/NAME/` through them on stable, so
//! CI keeps what fuzzing found fixed.
//!
//! | target | what it feeds |
//! |---|---|
//! | [`spec`] | `function.yaml` text to the spec loader (YAML, substitution, every check) |
//! | [`filter`] | a filter to the parser, then to both evaluators: JSON documents (streams) and an Arrow batch (tables) |
//! | [`schema`] | a table schema to the schema language |
//! | [`envelope`] | Cap'n Proto bytes to the host side's decoders of a plugin's frames and handshake, and the plugin side's of requests and configs |
//! | [`log_records`] | a `log` segment's bytes to the record reader |
//! | [`cron`] | a cron schedule to its parser, then the next few firings |
//! | [`ipc_write`] | an Arrow IPC stream, as `bindery table write --format arrow` reads it, to the checks of a write |

use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, UNIX_EPOCH};

use arrow::array::{BooleanArray, Float64Array, Int64Array, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema};
use bindery_core::filter::Filter;
use bindery_core::table::TableSchema;
use bytes::Bytes;

/// A fuzz target: a function of the input bytes.
pub type Target = fn(&[u8]);

/// The targets by name, as the corpus folders and the cargo-fuzz binaries are named.
pub const TARGETS: &[(&str, Target)] = &[
    ("spec", spec),
    ("filter", filter),
    ("schema", schema),
    ("envelope", envelope),
    ("log_records", log_records),
    ("cron", cron),
    ("ipc_write", ipc_write),
];

fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

/// The spec loader on `data` as the text of a `function.yaml`.
pub fn spec(data: &[u8]) {
    static DRIVERS: OnceLock<Vec<bindery_core::DriverInfo>> = OnceLock::new();
    let drivers = DRIVERS.get_or_init(|| bindery_runtime::Registry::builtin().infos());
    if let Some(t) = text(data) {
        let _ = bindery_runtime::Spec::parse(Path::new("fuzz/function.yaml"), t, drivers);
    }
}

fn batch() -> &'static RecordBatch {
    static BATCH: OnceLock<RecordBatch> = OnceLock::new();
    BATCH.get_or_init(|| {
        let schema = Schema::new(vec![
            Field::new("a", DataType::Int64, true),
            Field::new("b", DataType::Float64, true),
            Field::new("s", DataType::Utf8, true),
            Field::new("t", DataType::Boolean, true),
        ]);
        RecordBatch::try_new(
            Arc::new(schema),
            vec![
                Arc::new(Int64Array::from(vec![
                    Some(1),
                    None,
                    Some(i64::MAX),
                    Some(i64::MIN),
                    Some(0),
                ])),
                Arc::new(Float64Array::from(vec![
                    Some(0.0),
                    Some(-0.0),
                    Some(f64::NAN),
                    None,
                    Some(1e300),
                ])),
                Arc::new(StringArray::from(vec![
                    Some(""),
                    Some("%_\\"),
                    None,
                    Some("É"),
                    Some("abc"),
                ])),
                Arc::new(BooleanArray::from(vec![
                    Some(true),
                    Some(false),
                    None,
                    Some(true),
                    None,
                ])),
            ],
        )
        .expect("the fuzz batch")
    })
}

/// A filter: parsed, then evaluated over JSON documents and over an Arrow batch.
pub fn filter(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let Ok(f) = Filter::parse(t) else { return };
    for doc in [
        serde_json::json!({"a": 1, "b": 0.5, "s": "x", "t": true, "n": {"m": [1, 2]}}),
        serde_json::json!({"a": null, "s": "%_", "b": -0.0}),
        serde_json::json!({"a": i64::MAX, "b": 1e308, "s": "É".repeat(40)}),
    ] {
        let _ = f.matches_json(&doc);
    }
    let _ = bindery_core::table::compute::mask(&f.expr, batch(), "fuzz");
}

/// The schema language.
pub fn schema(data: &[u8]) {
    if let Some(t) = text(data) {
        let _ = TableSchema::parse(t);
    }
}

/// Cap'n Proto envelopes: what the host decodes from a plugin (frames, the handshake, a
/// connect result) and what a plugin decodes from the host (requests, configs).
pub fn envelope(data: &[u8]) {
    use bindery_abi::codec;
    let _ = codec::decode_frame(data, Bytes::copy_from_slice(data), None);
    let _ = codec::decode_handshake(data);
    let _ = codec::decode_connect_result(data);
    let _ = codec::decode_request(data, None);
    let _ = codec::decode_config(data);
}

/// A `log` segment's bytes through the record reader, as far as it reads.
pub fn log_records(data: &[u8]) {
    let _ = bindery_driver_log::read_records(data, 0);
}

/// A cron schedule, then its next firings from a few starting points.
pub fn cron(data: &[u8]) {
    let Some(t) = text(data) else { return };
    let Ok(s) = bindery_runtime::Schedule::parse(t) else {
        return;
    };
    for start in [0u64, 951_782_400, 4_102_444_800] {
        let mut at = UNIX_EPOCH + Duration::from_secs(start);
        for _ in 0..3 {
            at = s.next_after(at);
        }
    }
}

/// An Arrow IPC stream checked as the items of a write to a table of every column type.
pub fn ipc_write(data: &[u8]) {
    static TABLE: OnceLock<TableSchema> = OnceLock::new();
    let table = TABLE.get_or_init(|| {
        TableSchema::parse(
            "k string NOT NULL, i int64, f float64, b bool, ts timestamp, d date, j json, n int32 NOT NULL DEFAULT 0",
        )
        .expect("the fuzz table")
    });
    // arrow-ipc 60 panics on some malformed streams (buffer offsets past the message; the
    // input is kept as `corpus/ipc_write/buffer-offset-panic`): `bindery table write` catches
    // that panic and refuses the input, so the decoding is caught here too, and what is
    // fuzzed for panics is bindery's own check of the batches.
    // libFuzzer's panic hook aborts before `catch_unwind` is reached, so the hook is set
    // aside while arrow decodes, as the CLI does.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let decoded = std::panic::catch_unwind(|| {
        let reader = arrow::ipc::reader::StreamReader::try_new(std::io::Cursor::new(data), None).ok()?;
        Some(reader.take(64).map_while(Result::ok).collect::<Vec<_>>())
    });
    std::panic::set_hook(hook);
    let Ok(Some(batches)) = decoded else { return };
    for (i, batch) in batches.iter().enumerate() {
        let _ = bindery_core::table::items::check_batch(table, batch, "fuzz", i);
    }
}
