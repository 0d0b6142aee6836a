//! The watch conformance suite: every object driver with the `watch` capability runs every
//! case (a driver without it is refused, and the suite checks that too). Changes made by
//! other programs are each driver's own tests (`plugins/fs/tests/fs_watch.rs`).

use std::time::Duration;

use bindery::{Change, ChangeKind, Context, ErrorKind, Watcher};

use crate::object_suite::skip;

/// Registers every case of the suite as a test, for one driver.
#[macro_export]
macro_rules! watch_suite {
    ($name:ident, $fixture:expr) => {
        mod $name {
            #[allow(unused_imports)]
            use super::*;
            $crate::watch_suite!(@cases $fixture;
                changes_come_in_order_under_the_prefix,
                the_initial_state_comes_before_synced,
                a_watch_resumes_after_a_cursor,
                a_cursor_it_cannot_serve_resyncs,
                a_bad_start_is_refused,
                closing_stops_the_watch,
            );
        }
    };
    (@cases $fixture:expr; $($case:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let fx = ($fixture)().await;
                let ctx = fx.ctx.clone();
                tokio::task::spawn_blocking(move || $crate::watch_suite::$case(&ctx))
                    .await
                    .unwrap();
            }
        )*
    };
}

/// How long a change may take to be reported.
const WAIT: Duration = Duration::from_secs(10);

/// The next `n` changes, or a panic naming what came.
pub fn take(w: &mut Watcher, n: usize) -> Vec<Change> {
    let mut out = Vec::new();
    while out.len() < n {
        match w.poll(WAIT) {
            Some(Ok(c)) => out.push(c),
            Some(Err(e)) => panic!("the watch failed after {out:?}: {e}"),
            None => panic!("only {} of {n} changes within {WAIT:?}: {out:?}", out.len()),
        }
    }
    out
}

/// Changes until `done` says the changes so far are enough, or a panic after `within`.
pub fn until(w: &mut Watcher, within: Duration, mut done: impl FnMut(&[Change]) -> bool) -> Vec<Change> {
    let end = std::time::Instant::now() + within;
    let mut got = Vec::new();
    while !done(&got) {
        match w.poll(end.saturating_duration_since(std::time::Instant::now())) {
            Some(Ok(c)) => got.push(c),
            Some(Err(e)) => panic!("the watch failed: {e}"),
            None => panic!("not done within {within:?}; got {:?}", kinds(&got)),
        }
    }
    got
}

/// Waits for a watch to start over after its table was dropped and made again with one row
/// `key` (maybe after telling it gone first): asserts it ends with `resync`, that row, and
/// `synced`.
pub fn assert_resynced_to(w: &mut Watcher, key: &str) {
    let got = until(w, WAIT, |g| {
        g.last().is_some_and(|c| c.kind == ChangeKind::Synced) && g.iter().any(|c| c.path == key)
    });
    let resync = got
        .iter()
        .rposition(|c| c.kind == ChangeKind::Resync)
        .expect("a resync");
    assert_eq!(
        kinds(&got[resync..]),
        [
            (ChangeKind::Resync, ""),
            (ChangeKind::Created, key),
            (ChangeKind::Synced, "")
        ],
        "all: {:?}",
        kinds(&got)
    );
}

/// The created changes of a watch printed as JSON lines (`bindery … watch --json`, the
/// `watch-printer`) of rows `{id, v: "r<id>"}`, the first `n` of them: their ids, and the
/// last one's cursor.
pub fn created_ids(changes: &mut impl Iterator<Item = serde_json::Value>, n: usize) -> (Vec<u64>, String) {
    let mut ids = Vec::new();
    let mut cursor = String::new();
    for c in changes.take(n) {
        assert_eq!(c["kind"], "created", "{c}");
        let id = c["path"].as_str().unwrap();
        assert_eq!(c["row"]["v"], format!("r{id}"), "{c}");
        ids.push(id.parse::<u64>().unwrap());
        cursor = c["cursor"].as_str().unwrap().to_string();
    }
    (ids, cursor)
}

/// Starts watching `table`, writes `item` to it once the watch is in place, and returns the
/// watcher and the change the write made.
pub fn watch_a_write(ctx: &Context, table: &str, item: serde_json::Value) -> (Watcher, Change) {
    let mut w = ctx.table().watch(table).load();
    w.ready();
    ctx.table().write(table).with_items([item]).do_().unwrap();
    let first = until(&mut w, WAIT, |g| !g.is_empty()).remove(0);
    (w, first)
}

/// Kind and path of each change.
pub fn kinds(cs: &[Change]) -> Vec<(ChangeKind, &str)> {
    cs.iter().map(|c| (c.kind, c.path.as_str())).collect()
}

fn ready(ctx: &Context, prefix: &str, initial: bool) -> Option<Watcher> {
    if skip(ctx, &["watch"]) {
        let e = ctx.object().watch(prefix).load().next().unwrap().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
        assert!(e.to_string().contains("does not support watch"), "{e}");
        return None;
    }
    let mut w = ctx.object().watch(prefix).initial(initial).load();
    w.ready();
    Some(w)
}

fn put(ctx: &Context, path: &str, data: &'static str) {
    ctx.object().put(path, data).do_().unwrap();
}

pub fn changes_come_in_order_under_the_prefix(ctx: &Context) {
    let Some(mut w) = ready(ctx, "obj://w/", false) else {
        return;
    };
    put(ctx, "obj://w/a", "1");
    put(ctx, "obj://other", "x");
    put(ctx, "obj://w/a", "22");
    put(ctx, "obj://w/b/c", "3");
    ctx.object().del("obj://w/a").do_().unwrap();
    let got = take(&mut w, 4);
    assert_eq!(
        kinds(&got),
        [
            (ChangeKind::Created, "w/a"),
            (ChangeKind::Updated, "w/a"),
            (ChangeKind::Created, "w/b/c"),
            (ChangeKind::Deleted, "w/a"),
        ]
    );
    let head = ctx.object().head("obj://w/b/c").do_().unwrap();
    assert_eq!((got[2].gen.as_str(), got[2].size), (head.gen.as_str(), Some(1)));
    assert_ne!(got[0].gen, got[1].gen, "an update has a new generation");
    assert!(got[3].gen.is_empty() && got[3].size.is_none(), "{:?}", got[3]);
    let cursors: std::collections::HashSet<_> = got.iter().map(|c| c.cursor.clone()).collect();
    assert_eq!(cursors.len(), 4, "every change has a cursor of its own");
    // Nothing is told twice: a driver that finds changes by rescanning (s3 lists every
    // second) finds nothing new in its next scan.
    if let Some(extra) = w.poll(Duration::from_millis(1500)) {
        panic!("a change told twice, or one nobody made: {extra:?}");
    }
}

pub fn the_initial_state_comes_before_synced(ctx: &Context) {
    put(ctx, "obj://i/x", "1");
    put(ctx, "obj://i/y/z", "2");
    put(ctx, "obj://j", "3");
    let Some(mut w) = ready(ctx, "obj://i/", true) else {
        return;
    };
    let got = take(&mut w, 3);
    assert_eq!(
        kinds(&got),
        [
            (ChangeKind::Created, "i/x"),
            (ChangeKind::Created, "i/y/z"),
            (ChangeKind::Synced, "")
        ]
    );
    put(ctx, "obj://i/n", "4");
    assert_eq!(kinds(&take(&mut w, 1)), [(ChangeKind::Created, "i/n")]);
}

pub fn a_watch_resumes_after_a_cursor(ctx: &Context) {
    let Some(mut w) = ready(ctx, "obj://r/", false) else {
        return;
    };
    for p in ["obj://r/1", "obj://r/2", "obj://r/3"] {
        put(ctx, p, "v");
    }
    let got = take(&mut w, 3);
    w.close();
    put(ctx, "obj://r/4", "v");
    // After the first change: the rest, then what happened while nobody watched.
    let mut again = ctx
        .object()
        .watch("obj://r/")
        .from_("cursor", &got[0].cursor)
        .load();
    assert_eq!(
        kinds(&take(&mut again, 3)),
        [
            (ChangeKind::Created, "r/2"),
            (ChangeKind::Created, "r/3"),
            (ChangeKind::Created, "r/4")
        ]
    );
}

pub fn a_cursor_it_cannot_serve_resyncs(ctx: &Context) {
    if skip(ctx, &["watch"]) {
        return;
    }
    put(ctx, "obj://s/a", "1");
    let mut w = ctx
        .object()
        .watch("obj://s/")
        .from_("cursor", "not-a-cursor-7")
        .load();
    let got = take(&mut w, 3);
    assert_eq!(
        kinds(&got),
        [
            (ChangeKind::Resync, ""),
            (ChangeKind::Created, "s/a"),
            (ChangeKind::Synced, "")
        ]
    );
    // The synced marker's cursor resumes from there.
    put(ctx, "obj://s/b", "2");
    let mut again = ctx
        .object()
        .watch("obj://s/")
        .from_("cursor", &got[2].cursor)
        .load();
    assert_eq!(kinds(&take(&mut again, 1)), [(ChangeKind::Created, "s/b")]);
}

pub fn a_bad_start_is_refused(ctx: &Context) {
    let e = ctx
        .object()
        .watch("obj://")
        .from_("earliest", "")
        .load()
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
    assert!(e.to_string().contains("'now' or 'cursor'"), "{e}");
    let e = ctx
        .object()
        .watch("obj://../x")
        .load()
        .next()
        .unwrap()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
}

pub fn closing_stops_the_watch(ctx: &Context) {
    let Some(w) = ready(ctx, "obj://c/", false) else {
        return;
    };
    w.close();
    // The binding goes on.
    put(ctx, "obj://c/a", "1");
    let Some(mut w) = ready(ctx, "obj://c/", true) else {
        return;
    };
    assert_eq!(
        kinds(&take(&mut w, 2)),
        [(ChangeKind::Created, "c/a"), (ChangeKind::Synced, "")]
    );
}
