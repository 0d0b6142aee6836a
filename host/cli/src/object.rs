//! `bindery object`: get, put, head, ls, rm and watch on an object binding; on one that keeps
//! versions, `--version` on reads, and versions, tag, revert and diff (`version.rs`).

use std::fs::File;
use std::io::{self, IsTerminal, Read, Write};

use bindery::{ListEntry, ObjectMeta};
use bytes::Bytes;
use clap::{Args, Subcommand};
use indicatif::{ProgressBar, ProgressStyle};

/// Read and write in chunks of this size, so memory stays bounded.
const CHUNK: usize = 1 << 20;

#[derive(Args)]
pub struct ObjectArgs {
    #[command(flatten)]
    spec: crate::SpecArg,
    #[command(subcommand)]
    op: Op,
}

#[derive(Subcommand)]
enum Op {
    /// Reads an object to LOCAL, or to standard output (no LOCAL, or -).
    Get {
        /// `binding://path` (or `path` for the first binding).
        path: String,
        /// Where to write it.
        local: Option<String>,
        /// Only these bytes: OFFSET or OFFSET:LENGTH.
        #[arg(long)]
        range: Option<String>,
        /// As it was at this revision (or tag).
        #[arg(long)]
        version: Option<String>,
    },
    /// Writes an object from LOCAL, or from standard input (no LOCAL, or -).
    Put {
        /// `binding://path`.
        path: String,
        /// What to write.
        local: Option<String>,
        /// User metadata KEY=VALUE (repeatable).
        #[arg(long = "meta", value_name = "KEY=VALUE")]
        meta: Vec<String>,
        /// A condition KEY=VALUE: if-match=GEN, if-none-match=* (repeatable).
        #[arg(long = "condition", value_name = "KEY=VALUE")]
        conditions: Vec<String>,
        #[command(flatten)]
        sign: crate::version::SignArgs,
    },
    /// Prints an object's metadata as JSON.
    Head {
        /// `binding://path`.
        path: String,
        /// As it was at this revision (or tag).
        #[arg(long)]
        version: Option<String>,
    },
    /// Lists objects under a prefix.
    Ls {
        /// `binding://prefix`.
        #[arg(default_value = "")]
        prefix: String,
        /// Group by this delimiter (one level of folders: /).
        #[arg(long)]
        delimiter: Option<String>,
        /// At most this many entries.
        #[arg(long)]
        limit: Option<u64>,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
        /// What existed at this revision (or tag).
        #[arg(long)]
        version: Option<String>,
    },
    /// Prints every change under a prefix as it happens, a line each (like `kubectl get
    /// -w`), until interrupted: also changes made outside bindery.
    Watch {
        /// `binding://prefix`.
        #[arg(default_value = "")]
        prefix: String,
        #[command(flatten)]
        how: crate::watch::WatchArgs,
    },
    /// Deletes an object (a missing object is not an error).
    Rm {
        /// `binding://path`.
        path: String,
        /// A condition KEY=VALUE: if-match=GEN.
        #[arg(long = "condition", value_name = "KEY=VALUE")]
        conditions: Vec<String>,
        #[command(flatten)]
        sign: crate::version::SignArgs,
    },
    #[command(flatten)]
    Versions(crate::version::VersionOp),
}

fn pair(s: &str, what: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{what} '{s}' must be KEY=VALUE"))
}

pub(crate) fn meta_json(m: &ObjectMeta) -> serde_json::Value {
    let modified = m
        .modified
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64);
    serde_json::json!({
        "path": m.path, "size": m.size, "gen": m.gen,
        "modified_ms": modified, "metadata": m.metadata,
    })
}

fn progress(total: Option<u64>, label: &str) -> ProgressBar {
    if !io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = match total {
        Some(n) => ProgressBar::new(n),
        None => ProgressBar::new_spinner(),
    };
    let style = ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes} {bytes_per_sec} {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    bar.set_message(label.to_string());
    bar
}

pub fn run(args: ObjectArgs) -> Result<(), String> {
    let ctx = args.spec.open()?;
    let objects = ctx.object();
    let fail = |e: bindery::Error| e.to_string();
    match args.op {
        Op::Get {
            path,
            local,
            range,
            version,
        } => {
            let mut req = objects.get(&path);
            if let Some(v) = version {
                req = req.version(v);
            }
            if let Some(r) = range {
                let (offset, length) = match r.split_once(':') {
                    Some((o, l)) => (o, Some(l)),
                    None => (r.as_str(), None),
                };
                let offset = offset
                    .parse()
                    .map_err(|_| format!("--range offset '{offset}' is not a number"))?;
                let length = length
                    .map(|l| {
                        l.parse()
                            .map_err(|_| format!("--range length '{l}' is not a number"))
                    })
                    .transpose()?;
                req = req.range(offset, length);
            }
            let mut reader = req.load();
            let size = reader.size().map_err(fail)?;
            let to_file = local.as_deref().filter(|l| *l != "-");
            // A local file is written beside its final name and renamed into place once
            // whole: a failed or killed download leaves the old file (even when it is the
            // object being read), never a truncated one under the final name.
            let part = to_file.map(Part::create).transpose()?;
            let mut out: Box<dyn Write> = match &part {
                Some(p) => Box::new(
                    p.file
                        .try_clone()
                        .map_err(|e| format!("cannot write '{}': {e}", p.path.display()))?,
                ),
                None => Box::new(io::stdout().lock()),
            };
            let bar = if to_file.is_some() {
                progress(Some(size), &path)
            } else {
                ProgressBar::hidden()
            };
            for chunk in reader {
                let chunk = chunk.map_err(fail)?;
                out.write_all(&chunk).map_err(|e| format!("write failed: {e}"))?;
                bar.inc(chunk.len() as u64);
            }
            out.flush().map_err(|e| format!("write failed: {e}"))?;
            drop(out);
            if let Some(p) = part {
                p.finish()?;
            }
            bar.finish_and_clear();
        }
        Op::Put {
            path,
            local,
            meta,
            conditions,
            sign,
        } => {
            let (mut input, total): (Box<dyn Read + Send>, Option<u64>) =
                match local.as_deref().filter(|l| *l != "-") {
                    Some(l) => {
                        let f = File::open(l).map_err(|e| format!("cannot open '{l}': {e}"))?;
                        let len = f.metadata().ok().map(|m| m.len());
                        (Box::new(f), len)
                    }
                    None => {
                        stdin_open()?;
                        (Box::new(io::stdin()), None)
                    }
                };
            let bar = progress(total, &path);
            // A reader thread feeds a bounded channel: at most a few chunks in memory.
            let (tx, rx) = flume::bounded::<bindery::Result<Bytes>>(4);
            let reader_bar = bar.clone();
            let reader = std::thread::spawn(move || loop {
                let mut buf = vec![0u8; CHUNK];
                let n = match read_full(&mut input, &mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = tx.send(Err(bindery::Error::invalid_input(format!(
                            "reading the input failed: {e}"
                        ))));
                        return;
                    }
                };
                if n == 0 {
                    return;
                }
                buf.truncate(n);
                reader_bar.inc(n as u64);
                if tx.send(Ok(Bytes::from(buf))).is_err() {
                    return;
                }
            });
            use futures::StreamExt;
            let mut req = objects
                .put(&path, Bytes::new())
                .add_stream(rx.into_stream().boxed());
            for m in &meta {
                let (k, v) = pair(m, "--meta")?;
                req = req.metadata([(k, v)]);
            }
            for c in &conditions {
                let (k, v) = pair(c, "--condition")?;
                req = req.condition(&k, v);
            }
            for (k, v) in sign.options() {
                req = req.option(k, v);
            }
            let result = req.do_();
            let _ = reader.join();
            bar.finish_and_clear();
            let meta = result.map_err(fail)?;
            println!("{}", meta_json(&meta));
        }
        Op::Head { path, version } => {
            let mut req = objects.head(&path);
            if let Some(v) = version {
                req = req.version(v);
            }
            let meta = req.do_().map_err(fail)?;
            println!(
                "{}",
                serde_json::to_string_pretty(&meta_json(&meta)).map_err(|e| e.to_string())?
            );
        }
        Op::Ls {
            prefix,
            delimiter,
            limit,
            json,
            version,
        } => {
            let mut req = objects.list(&prefix);
            if let Some(v) = version {
                req = req.version(v);
            }
            if let Some(d) = delimiter {
                req = req.delimiter(d);
            }
            if let Some(n) = limit {
                req = req.limit(n);
            }
            let stdout = io::stdout();
            let mut out = stdout.lock();
            for entry in req.load() {
                let line = match (entry.map_err(fail)?, json) {
                    (ListEntry::Object(m), true) => meta_json(&m).to_string(),
                    (ListEntry::Prefix(p), true) => serde_json::json!({ "prefix": p }).to_string(),
                    (ListEntry::Object(m), false) => format!("{:>12}  {}", m.size, m.path),
                    (ListEntry::Prefix(p), false) => format!("{:>12}  {p}", "PRE"),
                };
                if writeln!(out, "{line}").is_err() {
                    break; // the reader went away (a pipe into head)
                }
            }
        }
        Op::Watch { prefix, how } => crate::watch::print(objects.watch(&prefix), how)?,
        Op::Rm {
            path,
            conditions,
            sign,
        } => {
            let mut req = objects.del(&path);
            for c in &conditions {
                let (k, v) = pair(c, "--condition")?;
                req = req.condition(&k, v);
            }
            for (k, v) in sign.options() {
                req = req.option(k, v);
            }
            req.do_().map_err(fail)?;
        }
        Op::Versions(op) => crate::version::run(&objects, op)?,
    }
    Ok(())
}

/// Whether standard input was closed when the process started.
static STDIN_CLOSED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Runs before `main` and before Rust's runtime starts, which puts `/dev/null` on a closed
/// descriptor 0 (so that `<&-` and `</dev/null` look alike afterwards): notes whether
/// standard input is closed.
#[cfg(target_os = "linux")]
#[used]
#[link_section = ".init_array"]
static NOTE_CLOSED_STDIN: extern "C" fn() = {
    extern "C" fn note() {
        // SAFETY: F_GETFD only asks whether descriptor 0 is open.
        if unsafe { libc::fcntl(0, libc::F_GETFD) } == -1 {
            STDIN_CLOSED.store(true, std::sync::atomic::Ordering::Relaxed);
        }
    }
    note
};

/// Refuses a closed standard input, which Rust would read as empty: a put from it would
/// store an empty object and succeed.
fn stdin_open() -> Result<(), String> {
    if STDIN_CLOSED.load(std::sync::atomic::Ordering::Relaxed) {
        return Err("standard input is closed: give a LOCAL file to put, or pipe the data in".into());
    }
    Ok(())
}

/// A download's file while it is written: `.NAME.PID.part` beside NAME, removed unless
/// [`Part::finish`] renames it over NAME.
struct Part {
    path: std::path::PathBuf,
    dest: std::path::PathBuf,
    file: File,
    done: bool,
}

impl Part {
    fn create(dest: &str) -> Result<Part, String> {
        let dest = std::path::PathBuf::from(dest);
        let name = dest
            .file_name()
            .ok_or_else(|| format!("'{}' names no file", dest.display()))?
            .to_string_lossy()
            .into_owned();
        let path = dest.with_file_name(format!(".{name}.{}.part", std::process::id()));
        let file = File::options()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| format!("cannot create '{}': {e}", path.display()))?;
        Ok(Part {
            path,
            dest,
            file,
            done: false,
        })
    }

    fn finish(mut self) -> Result<(), String> {
        self.file
            .sync_all()
            .and_then(|_| std::fs::rename(&self.path, &self.dest))
            .map_err(|e| format!("cannot write '{}': {e}", self.dest.display()))?;
        self.done = true;
        Ok(())
    }
}

impl Drop for Part {
    fn drop(&mut self) {
        if !self.done {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn read_full(input: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match input.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}
