//! The log driver's stream operations: one connected binding's streams, each a folder.

use bindery_core::Connect;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bindery_core::{
    async_trait, Capability, Error, Instance, Message, MessageStream, OpCheckpoint, OpConsume,
    OpCreateStream, OpPublish, Options, Result, ShardInfo, StartAt, StreamDriver,
};
use futures::StreamExt;

use crate::folder::{self, LogStream};
use crate::shard::ShardOptions;
use crate::{consume, record, LogDriver};

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
    pub(crate) fn new(root: PathBuf, opts: ShardOptions) -> LogStore {
        LogStore {
            root,
            opts,
            streams: Mutex::new(HashMap::new()),
        }
    }

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
            if !at.is_empty() && folder::exists(&self.root.join(&at)) {
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
        LogDriver::CAPABILITY
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
        if !folder::exists(&dir) {
            return Err(Error::not_found(format!("stream '{path}' does not exist")));
        }
        if let Some(inner) = folder::nested_stream(&dir) {
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
            std::fs::rename(&dir, &gone).map_err(|e| Error::io(e, &format!("delete stream '{path}'")))?;
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
            folder::check_group(g)?;
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
