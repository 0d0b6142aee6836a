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

mod config;
mod consume;
mod error;
mod folder;
mod record;
mod shard;
mod stream;

use std::path::PathBuf;
use std::sync::Arc;

use bindery_core::{async_trait, BindingConfig, Capability, Connect, Error, Instance, Kind, Result};

use crate::folder::LogStream;
use crate::shard::ShardOptions;
pub use crate::stream::LogStore;

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

#[async_trait]
impl Connect for LogDriver {
    const NAME: &'static str = "log";
    const KINDS: &'static [Kind] = &[Kind::Stream];
    /// What a binding can do.
    const CAPABILITY: Capability = Capability {
        max_object_size: Some(record::MAX_BODY as u64),
        ..Capability::PARTITIONED_LOG
    };
    const DESCRIPTION: &'static str = "A durable segmented log on local disk; group commit, crash-safe.";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const LOCAL_URL: bool = true;
    const OPTIONS: &'static [(&'static str, &'static str)] = config::OPTIONS;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let config::Config { root, shards: opts } = config::Config::from_binding(&config)?;
        let r = root.clone();
        tokio::task::spawn_blocking(move || std::fs::create_dir_all(&r))
            .await
            .map_err(|e| Error::internal(e.to_string()))?
            .map_err(|e| Error::io(e, &format!("create the log folder '{}'", root.display())))?;
        Ok(Arc::new(LogStore::new(root, opts)))
    }
}
