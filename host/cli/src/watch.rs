//! `bindery object watch` and `bindery table watch`: a line per change until interrupted.

use std::io::{self, Write};

use clap::Args;

/// How a watch starts and prints.
#[derive(Args)]
pub struct WatchArgs {
    /// Resume after this cursor (a change's `cursor`, printed with --json).
    #[arg(long = "from", value_name = "CURSOR")]
    from: Option<String>,
    /// Print the current state first (as created), then a `synced` line.
    #[arg(long)]
    initial: bool,
    /// Print JSON lines (with each change's cursor, and a row's values).
    #[arg(long)]
    json: bool,
}

/// Prints the changes of `watch` as `args` asks: `KIND  SIZE  PATH` for objects, `KIND  KEY
/// ROW` for rows, or JSON lines; until interrupted or the reader goes away.
pub fn print(watch: bindery::Watch, args: WatchArgs) -> Result<(), String> {
    let mut watch = watch.initial(args.initial);
    if let Some(c) = &args.from {
        watch = watch.from_("cursor", c);
    }
    let stdout = io::stdout();
    for change in watch.load() {
        let c = change.map_err(|e| e.to_string())?;
        let line = if args.json {
            c.to_json().to_string()
        } else {
            let detail = match (&c.row, c.size) {
                (Some(row), _) => format!("{}  {row}", c.path),
                (None, Some(size)) => format!("{size:>12}  {}", c.path),
                (None, None) => format!("{:>12}  {}", "", c.path),
            };
            format!("{:<8} {detail}", c.kind).trim_end().to_string()
        };
        let mut out = stdout.lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            break; // the reader went away (a pipe into head)
        }
    }
    Ok(())
}
