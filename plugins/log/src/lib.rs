//! The `log` stream driver: a durable, segmented log on local disk, the embedded default.
//!
//! ```yaml
//! dataBindings:
//!   events:
//!     kind: stream
//!     driver: log
//!     url: ./streams          # a folder; each stream is a folder in it
//!     path: orders            # optional: the binding is this one stream
//!     options:
//!       segment.bytes: "16777216"   # a segment is closed past this size (default 16 MiB)
//!       retention.bytes: "1073741824" # per shard; oldest closed segments go first
//!       retention.ms: "604800000"     # closed segments whose newest message is older go
//! ```
//!
//! A stream is a folder with `stream.json` (its shard count) and one folder per shard; a
//! shard is a sequence of segment files named by their first position. Each record carries a
//! CRC32 of its body.
//!
//! - **Durable publish.** A publish is acknowledged once its records are written and
//!   fsynced (`fdatasync`). Publishes that arrive while a write is in progress are grouped
//!   into the next write, so many publishers share one fsync.
//! - **Crash safety.** A record cut short or failing its checksum at a shard's tail was never
//!   acknowledged; the writer cuts it off when it starts, and it is never served.
//! - **Shards.** A message with a key goes to shard `crc32(key) % shards` (so one key stays in
//!   order); without a key, round robin. `update` only grows a stream.
//! - **One writer.** A process that publishes (or creates, grows) takes the stream's
//!   `write.lock` (flock). Another process can consume at the same time: it reads complete
//!   records and looks for new ones every 100 ms. In the writing process, consumers read only
//!   acknowledged records and are woken by each publish.
//! - **Consumer groups** are coordinated within the process: members of a group split the
//!   shards (member i of n gets shards s with s mod n = i) and rebalance when one joins or
//!   leaves. Checkpoints are files `groups/<group>.json`, written atomically and durably.
//!   A consumer with a group starts after the group's checkpoint unless `from_` says
//!   otherwise; shards it is given later always continue from the checkpoint.

mod consume;
mod error;
mod record;
mod shard;
mod stream;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bindery_core::{
    async_trait, BindingConfig, Capability, Driver, DriverInfo, Error, Instance, Kind, Message,
    MessageStream, OpCheckpoint, OpConsume, OpCreateStream, OpPublish, Options, Result, ShardInfo, StartAt,
    StreamDriver,
};
use futures::StreamExt;

use crate::shard::ShardOptions;
use crate::stream::LogStream;

/// What [`inspect`] finds in one shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardState {
    /// The shard's id.
    pub id: u32,
    /// The position of the first message kept.
    pub first: u64,
    /// The position after the last whole publish.
    pub next: u64,
    /// Bytes past the last whole publish (a write a crash cut short), which the next
    /// writer cuts off; readers never serve them.
    pub torn_bytes: u64,
}

/// Looks at a stream's folder without changing it: each shard's positions, and whether a
/// crash left a torn tail. For tests and tools; the driver does not need it.
pub fn inspect(stream_dir: &std::path::Path) -> Result<Vec<ShardState>> {
    let stream = LogStream::open(
        &stream_dir.display().to_string(),
        stream_dir.to_path_buf(),
        ShardOptions {
            segment_bytes: u64::MAX,
            retention_bytes: None,
            retention: None,
        },
    )?;
    stream
        .shards()
        .iter()
        .map(|s| {
            Ok(ShardState {
                id: s.id,
                first: s.first(),
                next: s.next(),
                torn_bytes: s.torn_bytes()?,
            })
        })
        .collect()
}

/// Reads the records of a segment's bytes as far as they are whole; the count read. The
/// record reader on untrusted bytes, for the fuzz target `log_records`.
#[doc(hidden)]
pub fn read_records(mut data: &[u8], shard: u32) -> usize {
    let mut n = 0;
    while let Ok(record::Next::Record(..)) = record::read(&mut data, shard) {
        n += 1;
    }
    n
}

/// What [`check`] found wrong in one segment of a stream, and what a repair would do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// The shard.
    pub shard: u32,
    /// The segment file.
    pub segment: PathBuf,
    /// What is wrong.
    pub problem: String,
    /// What a repair would do about it.
    pub repair: String,
}

/// Verifies every segment of every shard of the stream in `stream_dir` (every record's
/// checksum and position, and that segments follow one another), changing nothing.
/// Returns the shards' states and what is wrong: a torn tail (a publish a crash cut short,
/// which the next writer cuts), damage in the middle of a segment (which no writer cuts: it
/// refuses to write and readers fail there), or positions missing between segments.
pub fn check(stream_dir: &std::path::Path) -> Result<(Vec<ShardState>, Vec<Finding>)> {
    let states = inspect(stream_dir)?;
    let mut findings = Vec::new();
    for state in &states {
        let dir = stream_dir.join(format!("shard-{:04}", state.id));
        let segments = shard::segments(&dir)?;
        let mut expected = None;
        for (i, (base, path)) in segments.iter().enumerate() {
            let last = i + 1 == segments.len();
            let found = shard::scan(path, *base, state.id)?;
            let finding = |problem: String, repair: String| Finding {
                shard: state.id,
                segment: path.clone(),
                problem,
                repair,
            };
            if let Some(want) = expected.filter(|w| w != base) {
                findings.push(finding(
                    format!(
                        "positions {want} to {} are missing before this segment",
                        base.saturating_sub(1)
                    ),
                    "none possible: those messages are gone; readers fail at the gap".into(),
                ));
            }
            let size = std::fs::metadata(path).map(|m| m.len()).unwrap_or(0);
            if let Some((offset, position)) = found.damage {
                findings.push(finding(
                    format!(
                        "damaged at byte {offset} (position {position}): a record fails its checksum \
                         and {} bytes with whole records follow",
                        size - offset
                    ),
                    format!(
                        "cut the segment at byte {offset}, keeping the bytes after it in a `.damaged` \
                         file beside it; positions from {position} on in this segment would be lost \
                         to readers"
                    ),
                ));
            } else if found.torn && last {
                findings.push(finding(
                    format!(
                        "{} bytes after the last whole publish: a publish a crash cut short \
                         (never acknowledged)",
                        size - found.valid
                    ),
                    format!(
                        "cut them (the next writer does so itself), ending at position {}",
                        found.next
                    ),
                ));
            } else if found.torn {
                findings.push(finding(
                    format!(
                        "a sealed segment with {} unreadable bytes at byte {}",
                        size - found.valid,
                        found.valid
                    ),
                    format!(
                        "cut the segment at byte {} keeping the rest in a `.damaged` file; \
                         positions from {} on in this segment would be lost to readers",
                        found.valid, found.next
                    ),
                ));
            }
            expected = Some(found.next);
        }
    }
    Ok((states, findings))
}

/// The `log` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogDriver;

impl LogDriver {
    /// The driver's name in specs.
    pub const NAME: &'static str = "log";
}

fn capability() -> Capability {
    let mut c = Capability::default();
    c.stream_admin = true;
    c.stream_grow = true;
    c.publish = true;
    c.consume = true;
    c.consume_with_group = true;
    c.consume_with_checkpoint = true;
    c.consume_from_timestamp = true;
    c.set_limit("max_object_size", record::MAX_BODY as u64);
    c
}

fn option_u64(options: &Options, key: &str) -> Result<Option<u64>> {
    options
        .get(key)
        .map(|v| {
            v.trim().parse::<u64>().map_err(|_| {
                Error::invalid_input(format!(
                    "option '{key}' of the log driver must be a whole number, not '{v}'"
                ))
            })
        })
        .transpose()
}

#[async_trait]
impl Driver for LogDriver {
    fn info(&self) -> DriverInfo {
        DriverInfo {
            name: Self::NAME.into(),
            kinds: vec![Kind::Stream],
            capability: capability(),
            description: "A durable segmented log on local disk; group commit, crash-safe.".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            local_url: true,
        }
    }

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        if config.kind != Kind::Stream {
            return Err(Error::invalid_input(format!(
                "the log driver serves streams, not {}",
                config.kind
            )));
        }
        let url = config.url.as_deref().ok_or_else(|| {
            Error::invalid_input("the log driver needs `url`: the folder that holds the streams")
        })?;
        let root = config.base_dir.join(url.strip_prefix("file://").unwrap_or(url));
        let known = ["segment.bytes", "retention.bytes", "retention.ms"];
        if let Some(k) = config.options.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(Error::invalid_input(format!(
                "unknown option '{k}' of the log driver; options: {}",
                known.join(", ")
            )));
        }
        let opts = ShardOptions {
            segment_bytes: option_u64(&config.options, "segment.bytes")?
                .unwrap_or(16 << 20)
                .max(1),
            retention_bytes: option_u64(&config.options, "retention.bytes")?,
            retention: option_u64(&config.options, "retention.ms")?.map(Duration::from_millis),
        };
        let r = root.clone();
        tokio::task::spawn_blocking(move || std::fs::create_dir_all(&r))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|e| error::map(e, &format!("create the log folder '{}'", root.display())))?;
        Ok(Arc::new(LogStore {
            root,
            opts,
            streams: Mutex::new(HashMap::new()),
        }))
    }
}

/// The streams open in this process, by their folder (see `LogStore::open`).
fn process_streams() -> std::sync::MutexGuard<'static, HashMap<PathBuf, std::sync::Weak<LogStream>>> {
    static OPEN: std::sync::LazyLock<Mutex<HashMap<PathBuf, std::sync::Weak<LogStream>>>> =
        std::sync::LazyLock::new(|| Mutex::new(HashMap::new()));
    OPEN.lock().unwrap_or_else(|p| p.into_inner())
}

/// One connected log binding.
pub struct LogStore {
    root: PathBuf,
    opts: ShardOptions,
    streams: Mutex<HashMap<String, Arc<LogStream>>>,
}

/// The folder under the root where streams are made before they are renamed into place.
const STAGING: &str = ".bindery/staging";

impl LogStore {
    fn dir(&self, path: &str) -> Result<PathBuf> {
        if path.is_empty() {
            return Err(Error::invalid_input(
                "name the stream (`events://orders`), or give the binding a `path`",
            ));
        }
        if let Some(s) = path.split('/').find(|s| s.is_empty() || s.starts_with('.')) {
            return Err(Error::invalid_input(format!(
                "stream name '{path}': the segment '{s}' is empty or starts with '.' \
                 (those names are the log driver's own)"
            )));
        }
        Ok(self.root.join(path))
    }

    /// Refuses a stream inside another stream's folder: its shards, groups and lock live
    /// there, and a stream nested in them would overwrite or delete them.
    fn check_not_nested(&self, path: &str) -> Result<()> {
        let mut at = String::new();
        for s in path.split('/') {
            if !at.is_empty() && stream::exists(&self.root.join(&at)) {
                return Err(Error::invalid_input(format!(
                    "stream '{path}' would lie inside stream '{at}'; streams cannot nest"
                )));
            }
            if !at.is_empty() {
                at.push('/');
            }
            at.push_str(s);
        }
        Ok(())
    }

    /// The stream at `path`, opened once per process: a binding of another context in this
    /// process (two `Context`s, a Python one beside a Rust one) shares the open stream, so
    /// one writes it for both rather than being refused as "another process". The options of
    /// the binding that opened it first apply.
    async fn open(&self, path: &str) -> Result<Arc<LogStream>> {
        if let Some(s) = self.streams.lock().unwrap_or_else(|p| p.into_inner()).get(path) {
            return Ok(s.clone());
        }
        let (name, dir, opts) = (path.to_string(), self.dir(path)?, self.opts);
        let opened = tokio::task::spawn_blocking(move || {
            let key = std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone());
            if let Some(s) = process_streams().get(&key).and_then(std::sync::Weak::upgrade) {
                return Ok(s);
            }
            let opened = LogStream::open(&name, dir, opts)?;
            let mut open = process_streams();
            open.retain(|_, s| s.strong_count() > 0);
            Ok(match open.get(&key).and_then(std::sync::Weak::upgrade) {
                Some(theirs) => theirs,
                None => {
                    open.insert(key, Arc::downgrade(&opened));
                    opened
                }
            })
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))??;
        let mut streams = self.streams.lock().unwrap_or_else(|p| p.into_inner());
        Ok(streams.entry(path.to_string()).or_insert(opened).clone())
    }
}

impl Instance for LogStore {
    fn capability(&self) -> Capability {
        capability()
    }

    fn stream(&self) -> Option<&dyn StreamDriver> {
        Some(self)
    }
}

#[async_trait]
impl StreamDriver for LogStore {
    async fn create(&self, path: &str, op: OpCreateStream) -> Result<()> {
        let dir = self.dir(path)?;
        self.check_not_nested(path)?;
        let staging = self.root.join(STAGING);
        tokio::task::spawn_blocking(move || LogStream::create(&dir, op.shards, &staging))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
    }

    async fn update(&self, path: &str, shards: u32, _options: Options) -> Result<()> {
        let stream = self.open(path).await?;
        tokio::task::spawn_blocking(move || stream.grow(shards))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
    }

    async fn delete(&self, path: &str, _options: Options) -> Result<()> {
        let dir = self.dir(path)?;
        if !stream::exists(&dir) {
            return Err(Error::not_found(format!("stream '{path}' does not exist")));
        }
        if let Some(inner) = stream::nested_stream(&dir) {
            return Err(Error::invalid_input(format!(
                "stream '{path}' holds another stream ({}); delete that first",
                inner.strip_prefix(&self.root).unwrap_or(&inner).display()
            )));
        }
        // Only a writer may delete: no other process is appending to it.
        let open = self.open(path).await?;
        open.become_writer()?;
        self.streams
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(path);
        process_streams().retain(|_, s| !std::ptr::eq(s.as_ptr(), Arc::as_ptr(&open)));
        drop(open);
        let path = path.to_string();
        tokio::task::spawn_blocking(move || {
            // Gone at once (the rename), then removed.
            let gone = dir.with_file_name(format!(
                ".deleted-{}-{}",
                std::process::id(),
                path.replace('/', "_")
            ));
            std::fs::rename(&dir, &gone).map_err(|e| error::map(e, &format!("delete stream '{path}'")))?;
            let _ = std::fs::remove_dir_all(&gone);
            Ok(())
        })
        .await
        .map_err(|e| Error::internal(e.to_string()))?
    }

    async fn list_shards(&self, path: &str, _options: Options) -> Result<Vec<ShardInfo>> {
        let stream = self.open(path).await?;
        Ok(stream
            .shards()
            .iter()
            .map(|s| ShardInfo {
                id: s.id,
                first: s.first(),
                next: s.next(),
            })
            .collect())
    }

    async fn publish(&self, path: &str, op: OpPublish) -> Result<Vec<(u32, u64)>> {
        // Checked before anything is written: a refused publish leaves nothing behind.
        for m in &op.messages {
            record::check(m).map_err(Error::invalid_input)?;
        }
        if op.messages.is_empty() {
            return Ok(Vec::new());
        }
        self.open(path).await?.publish(op.messages).await
    }

    async fn consume(&self, path: &str, op: OpConsume) -> Result<MessageStream> {
        if op.group.is_none() && op.start == Some(StartAt::Checkpoint) {
            return Err(Error::invalid_input("from_('checkpoint') needs a consumer group"));
        }
        if let Some(g) = &op.group {
            stream::check_group(g)?;
        }
        let stream = self.open(path).await?;
        if let Some(StartAt::Positions(at)) = &op.start {
            let shards = stream.shards().len() as u32;
            if let Some(s) = at.keys().find(|s| **s >= shards) {
                return Err(Error::invalid_input(format!(
                    "from_('position'): stream '{path}' has no shard {s} (it has {shards}: 0 to {})",
                    shards - 1
                )));
            }
        }
        let member = op.group.as_deref().map(|g| stream.join(g)).transpose()?;
        let assignment = match &member {
            Some(m) => consume::Assignment::Group(m.assignment.clone()),
            None => consume::Assignment::All(stream.watch_shards()),
        };
        // Batches of messages as the shard readers read them; a few per shard are buffered.
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<Vec<Message>>>(16);
        tokio::spawn(consume::run(stream, op, assignment, tx));
        // The member lives as long as the stream: the host dropping it leaves the group.
        let batches = futures::stream::unfold((rx, member), |(mut rx, member)| async move {
            rx.recv().await.map(|b| (b, (rx, member)))
        });
        let messages = batches.flat_map(|batch| {
            let items: Vec<Result<Message>> = match batch {
                Ok(ms) => ms.into_iter().map(Ok).collect(),
                Err(e) => vec![Err(e)],
            };
            futures::stream::iter(items)
        });
        Ok(messages.boxed())
    }

    async fn checkpoint(&self, path: &str, op: OpCheckpoint) -> Result<()> {
        self.open(path).await?.checkpoint(&op.group, &op.positions).await
    }
}
