//! `bindery stream`: publish, consume (and follow), create, update, delete and list the
//! shards of streams on a stream binding; `check` verifies a `log` stream's files.

use std::io::{self, BufRead, Write};
use std::time::{Duration, Instant};

use bindery::{Consumer, Context, Message};
use clap::{Args, Subcommand};

/// Messages published per request when reading standard input (one fsync each with `log`).
const DEFAULT_BATCH: usize = 1000;
/// A group's checkpoint is written at least this often while consuming…
const CHECKPOINT_EVERY: Duration = Duration::from_secs(1);
/// …and after this many messages.
const CHECKPOINT_AFTER: usize = 1000;

#[derive(Args)]
pub struct StreamArgs {
    #[command(flatten)]
    spec: crate::SpecArg,
    #[command(subcommand)]
    op: Op,
}

#[derive(Subcommand)]
enum Op {
    /// Creates a stream.
    Create {
        /// `binding://stream`.
        path: String,
        /// How many shards.
        #[arg(long, default_value_t = 1)]
        shards: u32,
    },
    /// Grows a stream to more shards.
    Update {
        /// `binding://stream`.
        path: String,
        /// The new number of shards.
        #[arg(long)]
        shards: u32,
    },
    /// Deletes a stream and its messages.
    Delete {
        /// `binding://stream`.
        path: String,
    },
    /// Lists a stream's shards: id, first position, next position.
    Shards {
        /// `binding://stream`.
        path: String,
        /// Print JSON lines.
        #[arg(long)]
        json: bool,
    },
    /// Publishes the MESSAGEs given, or each line of standard input (like `kcat -P`).
    Publish {
        /// `binding://stream`.
        path: String,
        /// Messages; without any, lines are read from standard input.
        messages: Vec<String>,
        /// The key of every message.
        #[arg(long, conflicts_with = "key_delimiter")]
        key: Option<String>,
        /// Split each message at the first DELIM into key and value (like `kcat -K`).
        #[arg(short = 'K', long, value_name = "DELIM")]
        key_delimiter: Option<String>,
        /// A header NAME=VALUE on every message (repeatable).
        #[arg(long = "header", short = 'H', value_name = "NAME=VALUE")]
        headers: Vec<String>,
        /// At most this many lines of standard input per publish.
        #[arg(long, default_value_t = DEFAULT_BATCH)]
        batch: usize,
    },
    /// Verifies a `log` stream on disk (every record's checksum and position) and says what
    /// is wrong and what a repair would do; changes nothing. Exit 1 when something is wrong.
    Check {
        /// The stream's folder (the one holding `stream.json`), e.g. `data/streams/orders`.
        dir: std::path::PathBuf,
    },
    /// Prints messages, one per line (like `kcat -C`); stops at the end unless --follow.
    Consume {
        /// `binding://stream`.
        path: String,
        /// Keep waiting for new messages (like `kcat -C` without `-e`).
        #[arg(short, long)]
        follow: bool,
        /// Where to start: earliest, latest, checkpoint, position:SHARD:POS[,…],
        /// timestamp:MILLIS. Default: the group's checkpoint with --group, else earliest.
        #[arg(long, value_name = "FROM")]
        from: Option<String>,
        /// Consume as a member of this group; its progress is checkpointed.
        #[arg(short, long)]
        group: Option<String>,
        /// Only (JSON) messages passing this filter, e.g. "amount > 100".
        #[arg(long = "where", value_name = "FILTER", allow_hyphen_values = true)]
        filter: Option<String>,
        /// Only these fields of (JSON) messages, comma separated.
        #[arg(long, value_delimiter = ',')]
        select: Vec<String>,
        /// Stop after this many messages.
        #[arg(short = 'c', long)]
        count: Option<u64>,
        /// Print JSON lines with shard, position, timestamp, key, headers and value.
        #[arg(long)]
        json: bool,
    },
}

pub fn run(args: StreamArgs) -> Result<(), String> {
    if let Op::Check { dir } = &args.op {
        return check(dir);
    }
    let ctx = args.spec.open()?;
    let streams = ctx.stream();
    let fail = |e: bindery::Error| e.to_string();
    match args.op {
        Op::Check { .. } => {} // answered above, without a spec
        Op::Create { path, shards } => {
            streams.create(&path, "", shards).do_().map_err(fail)?;
            eprintln!("created {path} with {shards} shard(s)");
        }
        Op::Update { path, shards } => {
            streams.update(&path, shards).do_().map_err(fail)?;
            eprintln!("{path} now has {shards} shard(s)");
        }
        Op::Delete { path } => {
            streams.delete(&path).do_().map_err(fail)?;
            eprintln!("deleted {path}");
        }
        Op::Shards { path, json } => {
            let mut out = io::stdout().lock();
            if !json {
                writeln!(out, "{:>6} {:>14} {:>14}", "shard", "first", "next").map_err(io_err)?;
            }
            for s in streams.list_shards(&path).do_().map_err(fail)? {
                let line = if json {
                    serde_json::json!({ "shard": s.id, "first": s.first, "next": s.next }).to_string()
                } else {
                    format!("{:>6} {:>14} {:>14}", s.id, s.first, s.next)
                };
                writeln!(out, "{line}").map_err(io_err)?;
            }
        }
        Op::Publish {
            path,
            messages,
            key,
            key_delimiter,
            headers,
            batch,
        } => {
            let shape = Shape::new(key, key_delimiter, &headers)?;
            let published = if messages.is_empty() {
                publish_lines(&ctx, &path, &shape, batch.max(1))?
            } else {
                let batch: Vec<Message> = messages.iter().map(|m| shape.message(m.as_bytes())).collect();
                let n = batch.len();
                streams.publish(&path).messages(batch).do_().map_err(fail)?;
                n
            };
            eprintln!("published {published} message(s) to {path}");
        }
        Op::Consume {
            path,
            follow,
            from,
            group,
            filter,
            select,
            count,
            json,
        } => {
            let mut req = streams.consume(&path).follow(follow);
            if let Some(from) = &from {
                let (kind, value) = from.split_once(':').unwrap_or((from, ""));
                req = req.from_(kind, value);
            }
            if let Some(g) = &group {
                req = req.group(g);
            }
            if let Some(f) = &filter {
                req = req.where_(f);
            }
            if !select.is_empty() {
                req = req.select(select);
            }
            consume(req.load(), group.is_some(), count, json)?;
        }
    }
    Ok(())
}

fn check(dir: &std::path::Path) -> Result<(), String> {
    let (shards, findings) = bindery_runtime::registry::check_log_stream(dir).map_err(|e| e.to_string())?;
    let mut out = io::stdout().lock();
    for s in &shards {
        writeln!(out, "shard {}: positions {} to {}", s.id, s.first, s.next).map_err(io_err)?;
    }
    for f in &findings {
        writeln!(
            out,
            "shard {}: {}: {}\n  repair would: {}",
            f.shard,
            f.segment.display(),
            f.problem,
            f.repair
        )
        .map_err(io_err)?;
    }
    if findings.is_empty() {
        writeln!(out, "{}: every record is whole", dir.display()).map_err(io_err)?;
        Ok(())
    } else {
        Err(format!("{}: {} problem(s) found", dir.display(), findings.len()))
    }
}

fn io_err(e: io::Error) -> String {
    format!("cannot write the output: {e}")
}

/// How arguments and lines become messages.
struct Shape {
    key: Option<String>,
    key_delimiter: Option<String>,
    headers: Vec<(String, bindery::Bytes)>,
}

impl Shape {
    fn new(key: Option<String>, key_delimiter: Option<String>, headers: &[String]) -> Result<Shape, String> {
        if key_delimiter.as_deref() == Some("") {
            return Err("the key delimiter (-K) must not be empty".into());
        }
        let headers = headers
            .iter()
            .map(|h| {
                h.split_once('=')
                    .map(|(k, v)| (k.to_string(), bindery::Bytes::from(v.to_string())))
                    .ok_or_else(|| format!("header '{h}' must be NAME=VALUE"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Shape {
            key,
            key_delimiter,
            headers,
        })
    }

    fn message(&self, raw: &[u8]) -> Message {
        let (key, value) = match &self.key_delimiter {
            Some(d) => match find(raw, d.as_bytes()) {
                Some(at) => (Some(raw[..at].to_vec()), &raw[at + d.len()..]),
                None => (None, raw),
            },
            None => (self.key.as_ref().map(|k| k.as_bytes().to_vec()), raw),
        };
        let mut m = Message::new(value.to_vec());
        if let Some(k) = key {
            m = m.with_key(k);
        }
        for (name, value) in &self.headers {
            m = m.with_header(name.clone(), value.clone());
        }
        m
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Publishes standard input line by line: a batch holds the lines that are already there
/// (up to `batch`), so a pipe goes fast and a person typing sees each line go at once.
fn publish_lines(ctx: &Context, path: &str, shape: &Shape, batch: usize) -> Result<usize, String> {
    let (tx, rx) = flume::bounded::<io::Result<Vec<u8>>>(batch * 2);
    std::thread::spawn(move || {
        let mut stdin = io::stdin().lock();
        loop {
            let mut line = Vec::new();
            match stdin.read_until(b'\n', &mut line) {
                Ok(0) => return,
                Ok(_) => {
                    if line.ends_with(b"\n") {
                        line.pop();
                        if line.ends_with(b"\r") {
                            line.pop();
                        }
                    }
                    if tx.send(Ok(line)).is_err() {
                        return;
                    }
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            }
        }
    });
    let mut total = 0;
    while let Ok(first) = rx.recv() {
        let mut lines = vec![first];
        while lines.len() < batch {
            match rx.try_recv() {
                Ok(l) => lines.push(l),
                Err(_) => break,
            }
        }
        let messages = lines
            .into_iter()
            .map(|l| l.map(|l| shape.message(&l)))
            .collect::<io::Result<Vec<_>>>()
            .map_err(|e| format!("cannot read standard input: {e} ({total} message(s) published before)"))?;
        let n = messages.len();
        ctx.stream()
            .publish(path)
            .messages(messages)
            .do_()
            .map_err(|e| format!("{e} ({total} message(s) published before)"))?;
        total += n;
    }
    Ok(total)
}

fn print(out: &mut impl Write, m: &Message, json: bool) -> io::Result<()> {
    if !json {
        out.write_all(&m.value)?;
        return out.write_all(b"\n");
    }
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    let headers: serde_json::Map<String, serde_json::Value> = m
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), text(v).into()))
        .collect();
    let timestamp = m
        .timestamp
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map(|d| d.as_millis() as u64);
    let line = serde_json::json!({
        "shard": m.shard,
        "position": m.position,
        "timestamp_ms": timestamp,
        "key": m.key.as_deref().map(text),
        "headers": headers,
        "value": text(&m.value),
    });
    writeln!(out, "{line}")
}

/// Prints messages as they come. With a group, the last printed message of each shard is
/// checkpointed every second (also while the stream is idle) or every 1000 messages, and at
/// the end: a consumer stopped abruptly (Ctrl-C) sees at most that much again.
fn consume(mut consumer: Consumer, checkpoint: bool, count: Option<u64>, json: bool) -> Result<(), String> {
    let mut out = io::stdout().lock();
    let mut printed = 0u64;
    let mut pending: std::collections::BTreeMap<u32, Message> = Default::default();
    let mut since = 0usize;
    let mut last = Instant::now();
    let flush_checkpoints = |consumer: &Consumer, pending: &mut std::collections::BTreeMap<u32, Message>| {
        for (_, m) in std::mem::take(pending) {
            consumer.checkpoint(&m).map_err(|e| e.to_string())?;
        }
        Ok::<(), String>(())
    };
    while count.is_none_or(|c| printed < c) {
        let Some(m) = consumer.poll(CHECKPOINT_EVERY) else {
            if consumer.ended() {
                break;
            }
            // An idle stream: record what was printed.
            flush_checkpoints(&consumer, &mut pending)?;
            (since, last) = (0, Instant::now());
            continue;
        };
        let m = m.map_err(|e| e.to_string())?;
        // A follower shows each line at once; a reader that goes away (`| head`) ends the
        // consumer quietly, and what it did not get is not checkpointed.
        match print(&mut out, &m, json).and_then(|()| out.flush()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => break,
            other => other.map_err(io_err)?,
        }
        printed += 1;
        if checkpoint {
            pending.insert(m.shard, m);
            since += 1;
            if since >= CHECKPOINT_AFTER || last.elapsed() >= CHECKPOINT_EVERY {
                flush_checkpoints(&consumer, &mut pending)?;
                (since, last) = (0, Instant::now());
            }
        }
    }
    flush_checkpoints(&consumer, &mut pending)?;
    consumer.close();
    Ok(())
}
