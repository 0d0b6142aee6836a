//! The table watch conformance suite: every table driver with the `watch` capability runs
//! every case (one without it is refused, and the suite checks that too). Changes made by
//! other programs, deletions (tables have no delete operation yet) and watchers killed and
//! resumed are each driver's own tests (`plugins/*/tests/`). Updates are checked where the
//! driver upserts (`write_upsert`; `files` only appends).

use bindery::{ChangeKind, Context, ErrorKind, Watcher};
use serde_json::{json, Value};

use crate::object_suite::skip;
use crate::watch_suite::{kinds, take};

/// Registers every case of the suite as a test, for one driver.
#[macro_export]
macro_rules! table_watch_suite {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::table_watch_suite!(@cases $fixture;
                row_changes_come_in_order_with_rows,
                the_initial_rows_come_before_synced,
                a_watch_resumes_after_a_cursor,
                a_cursor_it_cannot_serve_resyncs,
                a_row_comes_as_a_read_gives_it,
                a_missing_table_is_refused,
            );
        }
    };
    (@cases $fixture:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fx = ($fixture)().await;
                let ctx = fx.ctx.clone();
                tokio::task::spawn_blocking(move || $crate::table_watch_suite::$case(&ctx))
                    .await
                    .unwrap();
            }
        )*
    };
}

const SCHEMA: &str = "id int64 NOT NULL, name string, n int64";

/// Creates table `name` (key `id`), or `None` when the binding cannot watch (after checking
/// that a watch is refused, naming the driver's lack).
fn table(ctx: &Context, name: &str) -> Option<String> {
    let path = format!("db://{name}");
    if skip(ctx, &["table_admin", "table_write", "table_read"]) {
        return None;
    }
    ctx.table()
        .create(&path)
        .schema(SCHEMA)
        .primary_key("id", None)
        .do_()
        .unwrap();
    if skip(ctx, &["watch"]) {
        let e = ctx.table().watch(&path).load().next().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("does not support watch"), "{e}");
        return None;
    }
    Some(path)
}

fn ready(ctx: &Context, path: &str, initial: bool) -> Watcher {
    let mut w = ctx.table().watch(path).initial(initial).load();
    w.ready();
    w
}

fn write(ctx: &Context, path: &str, items: Value) {
    let Value::Array(items) = items else {
        panic!("items are an array")
    };
    ctx.table().write(path).with_items(items).do_().unwrap();
}

fn json_of(text: &Option<String>) -> Value {
    serde_json::from_str(text.as_deref().expect("a row")).unwrap()
}

pub fn row_changes_come_in_order_with_rows(ctx: &Context) {
    let Some(t) = table(ctx, "w") else { return };
    let mut w = ready(ctx, &t, false);
    write(
        ctx,
        &t,
        json!([{"id": 1, "name": "a", "n": 1}, {"id": 2, "name": "b"}]),
    );
    let mut got = take(&mut w, 2);
    assert_eq!(
        kinds(&got),
        [(ChangeKind::Created, "1"), (ChangeKind::Created, "2")]
    );
    assert_eq!(json_of(&got[0].row), json!({"id": 1, "name": "a", "n": 1}));
    assert_eq!(json_of(&got[1].row), json!({"id": 2, "name": "b", "n": null}));
    assert!(
        got[0].before.is_none(),
        "a created row has no before: {:?}",
        got[0]
    );
    // An update, where the driver upserts (`files` only appends).
    if !skip(ctx, &["write_upsert"]) {
        write(ctx, &t, json!([{"id": 1, "n": 5}]));
        let updated = take(&mut w, 1).remove(0);
        assert_eq!(
            kinds(std::slice::from_ref(&updated)),
            [(ChangeKind::Updated, "1")]
        );
        assert_eq!(json_of(&updated.row), json!({"id": 1, "name": "a", "n": 5}));
        assert_eq!(json_of(&updated.before), json!({"id": 1, "name": "a", "n": 1}));
        got.push(updated);
    }
    let cursors: std::collections::HashSet<_> = got.iter().map(|c| c.cursor.clone()).collect();
    assert_eq!(cursors.len(), got.len(), "every change has a cursor of its own");
    // Another table's writes are not this watch's.
    let other = table(ctx, "other").unwrap();
    write(ctx, &other, json!([{"id": 9}]));
    write(ctx, &t, json!([{"id": 3}]));
    assert_eq!(kinds(&take(&mut w, 1)), [(ChangeKind::Created, "3")]);
}

pub fn the_initial_rows_come_before_synced(ctx: &Context) {
    let Some(t) = table(ctx, "i") else { return };
    write(ctx, &t, json!([{"id": 1, "name": "x"}, {"id": 2, "name": "y"}]));
    let mut w = ready(ctx, &t, true);
    let mut got = take(&mut w, 3);
    assert_eq!(got[2].kind, ChangeKind::Synced);
    got[..2].sort_by(|a, b| a.path.cmp(&b.path));
    assert_eq!(
        kinds(&got),
        [
            (ChangeKind::Created, "1"),
            (ChangeKind::Created, "2"),
            (ChangeKind::Synced, "")
        ]
    );
    assert_eq!(json_of(&got[1].row), json!({"id": 2, "name": "y", "n": null}));
    write(ctx, &t, json!([{"id": 3}]));
    assert_eq!(kinds(&take(&mut w, 1)), [(ChangeKind::Created, "3")]);
}

pub fn a_watch_resumes_after_a_cursor(ctx: &Context) {
    let Some(t) = table(ctx, "r") else { return };
    let mut w = ready(ctx, &t, false);
    for id in 1..=3 {
        write(ctx, &t, json!([{ "id": id }]));
    }
    let got = take(&mut w, 3);
    w.close();
    write(ctx, &t, json!([{"id": 4}]));
    // After the first change: the rest, then what happened while nobody watched.
    let mut again = ctx.table().watch(&t).from_("cursor", &got[0].cursor).load();
    assert_eq!(
        kinds(&take(&mut again, 3)),
        [
            (ChangeKind::Created, "2"),
            (ChangeKind::Created, "3"),
            (ChangeKind::Created, "4")
        ]
    );
}

pub fn a_cursor_it_cannot_serve_resyncs(ctx: &Context) {
    let Some(t) = table(ctx, "s") else { return };
    write(ctx, &t, json!([{"id": 1}]));
    let mut w = ctx.table().watch(&t).from_("cursor", "not-a-cursor-7").load();
    let got = take(&mut w, 3);
    assert_eq!(
        kinds(&got),
        [
            (ChangeKind::Resync, ""),
            (ChangeKind::Created, "1"),
            (ChangeKind::Synced, "")
        ]
    );
    // The synced marker's cursor resumes from there.
    write(ctx, &t, json!([{"id": 2}]));
    let mut again = ctx.table().watch(&t).from_("cursor", &got[2].cursor).load();
    assert_eq!(kinds(&take(&mut again, 1)), [(ChangeKind::Created, "2")]);
}

/// A change's row has the values a read of the row gives, typed as the table's columns
/// (booleans as booleans, timestamps, decimals and bytes as a read writes them as JSON).
pub fn a_row_comes_as_a_read_gives_it(ctx: &Context) {
    if skip(ctx, &["table_admin", "table_write", "table_read", "watch"]) {
        return;
    }
    ctx.table()
        .create("db://typed")
        .schema("k string NOT NULL, ok bool, at timestamp, d date, x float64, money decimal(9, 2), raw binary, doc json")
        .primary_key("k", None)
        .do_()
        .unwrap();
    let mut w = ready(ctx, "db://typed", false);
    let item = json!({"k": "a", "ok": true, "at": "2024-05-01T10:20:30.5Z", "d": "2024-05-01", "x": 2.5,
                      "money": "12.30", "raw": "AAEC", "doc": {"tags": ["t"]}});
    write(ctx, "db://typed", json!([item]));
    let got = take(&mut w, 1);
    let read: Vec<Value> = ctx.table().read("db://typed").load().scan().unwrap();
    assert_eq!(json_of(&got[0].row), read[0], "the change's row and the read's");
    assert_eq!(json_of(&got[0].row)["ok"], json!(true));
}

pub fn a_missing_table_is_refused(ctx: &Context) {
    if skip(ctx, &["watch"]) {
        return;
    }
    let e = ctx.table().watch("db://nope").load().next().unwrap().unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotFound, "{e}");
    assert!(e.to_string().contains("nope"), "{e}");
}
