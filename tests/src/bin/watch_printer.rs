//! The watcher the watch tests kill and start again: watches a table (or objects) and prints
//! each change as a JSON line once it has it (after a first line `ready` when the watch is in
//! place).
//!
//! Usage: watch-printer SPEC table|object PATH [CURSOR]

use std::io::Write;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let (spec, kind, path, cursor) = match &args[..] {
        [_, spec, kind, path] => (spec, kind, path, None),
        [_, spec, kind, path, cursor] => (spec, kind, path, Some(cursor)),
        _ => {
            eprintln!("usage: watch-printer SPEC table|object PATH [CURSOR]");
            std::process::exit(2);
        }
    };
    let ctx = bindery::Context::open(spec).expect("open the spec");
    let mut watch = match kind.as_str() {
        "table" => ctx.table().watch(path.as_str()),
        _ => ctx.object().watch(path.as_str()),
    };
    if let Some(c) = cursor {
        watch = watch.from_("cursor", c);
    }
    let mut watcher = watch.load();
    watcher.ready();
    let mut out = std::io::stdout().lock();
    writeln!(out, "ready").and_then(|_| out.flush()).expect("stdout");
    for change in watcher {
        let line = change.expect("the watch goes on").to_json().to_string();
        writeln!(out, "{line}").and_then(|_| out.flush()).expect("stdout");
    }
}
