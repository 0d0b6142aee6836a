//! A stream: a folder of shards, with `stream.json`, a write lock, and checkpoints per group.

use std::collections::{BTreeMap, HashMap};
use std::fs::{self, File};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use bindery_core::{Error, ErrorKind, Message, Result};
use tokio::sync::watch;

use crate::shard::{Shard, ShardOptions};

const META: &str = "stream.json";
/// The most shards a stream may have.
pub const MAX_SHARDS: u32 = 1024;
/// Numbers the folders streams are made in.
static STAGED: AtomicU64 = AtomicU64::new(0);

fn shard_dir(dir: &Path, id: u32) -> PathBuf {
    dir.join(format!("shard-{id:04}"))
}

/// Writes a file atomically and durably: a temporary file, fsync, rename, fsync the folder.
pub fn write_atomic(path: &Path, data: &[u8]) -> Result<()> {
    let what = format!("write {}", path.display());
    let dir = path
        .parent()
        .ok_or_else(|| Error::internal(format!("{what}: no parent folder")))?;
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("f"),
        std::process::id()
    ));
    let result = (|| {
        let mut f = File::create(&tmp)?;
        f.write_all(data)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        File::open(dir)?.sync_all()
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result.map_err(|e| Error::io(e, &what))
}

fn read_shard_count(dir: &Path) -> Result<u32> {
    let path = dir.join(META);
    let raw = fs::read(&path).map_err(|e| Error::io(e, &format!("read {}", path.display())))?;
    let v: serde_json::Value = serde_json::from_slice(&raw)
        .map_err(|e| Error::internal(format!("{} is not valid JSON: {e}", path.display())))?;
    v.get("shards")
        .and_then(|s| s.as_u64())
        .map(|s| s as u32)
        .ok_or_else(|| Error::internal(format!("{} has no shard count", path.display())))
}

/// Whether a folder holds a stream.
pub fn exists(dir: &Path) -> bool {
    dir.join(META).is_file()
}

/// A stream nested somewhere inside a stream's folder (made by an older version, which did
/// not refuse it), if any.
pub fn nested_stream(dir: &Path) -> Option<PathBuf> {
    fn walk(dir: &Path, depth: usize) -> Option<PathBuf> {
        for entry in fs::read_dir(dir).ok()?.flatten() {
            let path = entry.path();
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            if exists(&path) {
                return Some(path);
            }
            if depth < 32 {
                if let Some(found) = walk(&path, depth + 1) {
                    return Some(found);
                }
            }
        }
        None
    }
    walk(dir, 0)
}

/// Checks a consumer group's name: it names a file.
pub fn check_group(group: &str) -> Result<()> {
    let ok = !group.is_empty()
        && group.len() <= 200
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        && !group.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(Error::invalid_input(format!(
            "consumer group '{group}' must be letters, digits, '_', '-' or '.' (not first)"
        )))
    }
}

struct Group {
    members: Vec<(u64, watch::Sender<Vec<u32>>)>,
}

/// An open stream.
pub struct LogStream {
    /// The stream's name (its path in the binding).
    pub name: String,
    dir: PathBuf,
    opts: ShardOptions,
    shards: RwLock<Vec<Arc<Shard>>>,
    /// Tells consumers without a group that shards were added.
    shard_count: watch::Sender<u32>,
    write_lock: Mutex<Option<File>>,
    groups: Mutex<HashMap<String, Group>>,
    checkpoint_lock: tokio::sync::Mutex<()>,
    next_member: AtomicU64,
    round_robin: AtomicU32,
}

impl LogStream {
    /// Creates a stream's folder with `shards` shards, all at once: the shards are made in
    /// a folder of their own under `staging`, made durable with one `syncfs`, then renamed
    /// into place, so a create that fails (or a process killed meanwhile) leaves no stream
    /// half made.
    pub fn create(dir: &Path, shards: u32, staging: &Path) -> Result<()> {
        if shards == 0 {
            return Err(Error::invalid_input("a stream needs at least one shard"));
        }
        if shards > MAX_SHARDS {
            return Err(Error::invalid_input(format!(
                "{shards} shards asked for; the log driver keeps at most {MAX_SHARDS} per stream \
                 (each shard is a folder with a writer thread)"
            )));
        }
        if exists(dir) {
            return Err(Error::new(ErrorKind::AlreadyExists, "the stream already exists"));
        }
        let what = format!("create {}", dir.display());
        fs::create_dir_all(staging).map_err(|e| Error::io(e, &what))?;
        let tmp = staging.join(format!(
            "{}-{}-{}",
            std::process::id(),
            STAGED.fetch_add(1, Ordering::Relaxed),
            dir.file_name().and_then(|n| n.to_str()).unwrap_or("stream")
        ));
        let made = (|| {
            fs::create_dir(&tmp).map_err(|e| Error::io(e, &what))?;
            for id in 0..shards {
                Shard::create_unsynced(&shard_dir(&tmp, id))?;
            }
            let meta = serde_json::json!({ "shards": shards, "format": 1 }).to_string();
            fs::write(tmp.join(META), meta).map_err(|e| Error::io(e, &what))?;
            // One flush of the file system instead of three fsyncs per shard.
            let f = File::open(&tmp).map_err(|e| Error::io(e, &what))?;
            // SAFETY: syncfs on a descriptor we own.
            if unsafe { libc::syncfs(f.as_raw_fd()) } != 0 {
                return Err(Error::io(std::io::Error::last_os_error(), &what));
            }
            let parent = dir
                .parent()
                .ok_or_else(|| Error::internal(format!("{what}: no parent folder")))?;
            fs::create_dir_all(parent).map_err(|e| Error::io(e, &what))?;
            // Onto an absent or empty folder only: a folder with files in it is not ours.
            fs::rename(&tmp, dir).map_err(|e| match e.raw_os_error() {
                Some(libc::ENOTEMPTY | libc::EEXIST | libc::ENOTDIR) => Error::invalid_input(format!(
                    "cannot create stream at {}: the folder exists and holds other files \
                     (a stream's folder is its own)",
                    dir.display()
                )),
                _ => Error::io(e, &what),
            })?;
            File::open(parent)
                .and_then(|d| d.sync_all())
                .map_err(|e| Error::io(e, &what))
        })();
        if made.is_err() {
            let _ = fs::remove_dir_all(&tmp);
        }
        made
    }

    /// Opens an existing stream.
    pub fn open(name: &str, dir: PathBuf, opts: ShardOptions) -> Result<Arc<LogStream>> {
        if !exists(&dir) {
            return Err(Error::not_found(format!(
                "stream '{name}' does not exist (create it first)"
            )));
        }
        let count = read_shard_count(&dir)?;
        let shards = (0..count)
            .map(|id| Shard::open(shard_dir(&dir, id), id))
            .collect::<Result<Vec<_>>>()?;
        Ok(Arc::new(LogStream {
            name: name.to_string(),
            dir,
            opts,
            shards: RwLock::new(shards),
            shard_count: watch::channel(count).0,
            write_lock: Mutex::new(None),
            groups: Mutex::new(HashMap::new()),
            checkpoint_lock: tokio::sync::Mutex::new(()),
            next_member: AtomicU64::new(0),
            round_robin: AtomicU32::new(0),
        }))
    }

    /// The shards.
    pub fn shards(&self) -> Vec<Arc<Shard>> {
        self.shards.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One shard.
    pub fn shard(&self, id: u32) -> Option<Arc<Shard>> {
        self.shards().get(id as usize).cloned()
    }

    /// Watches the shard count.
    pub fn watch_shards(&self) -> watch::Receiver<u32> {
        self.shard_count.subscribe()
    }

    /// Whether this process writes the stream.
    pub fn is_writer(&self) -> bool {
        self.write_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .is_some()
    }

    /// Takes the stream's write lock (one writing process at a time) and starts the shards'
    /// writers, cutting torn tails a crash left.
    /// Once this returns, every shard has a writer (`grow` starts those of new shards), so
    /// a publish only checks the lock.
    pub fn become_writer(&self) -> Result<()> {
        let mut lock = self.write_lock.lock().unwrap_or_else(|p| p.into_inner());
        if lock.is_some() {
            return Ok(());
        }
        let path = self.dir.join("write.lock");
        let f = File::create(&path).map_err(|e| Error::io(e, &format!("open {}", path.display())))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(Error::unavailable(format!(
                "stream '{}' is being written by another process (one process writes a stream at a time)",
                self.name
            )));
        }
        // Held only once every writer started: a failure leaves the lock free to try again.
        for shard in self.shards() {
            shard.start_writer(self.opts)?;
        }
        *lock = Some(f);
        Ok(())
    }

    /// Publishes messages: by key hash to a shard (round robin without a key); returns
    /// `(shard, position)` for each, in order, once all are durable.
    pub async fn publish(&self, messages: Vec<Message>) -> Result<Vec<(u32, u64)>> {
        self.become_writer()?;
        let shards = self.shards();
        let n = shards.len() as u32;
        let mut per_shard: BTreeMap<u32, (Vec<usize>, Vec<Message>)> = BTreeMap::new();
        for (i, m) in messages.into_iter().enumerate() {
            let shard = match &m.key {
                Some(k) => crc32fast::hash(k) % n,
                None => self.round_robin.fetch_add(1, Ordering::Relaxed) % n,
            };
            let entry = per_shard.entry(shard).or_default();
            entry.0.push(i);
            entry.1.push(m);
        }
        let total: usize = per_shard.values().map(|(i, _)| i.len()).sum();
        let appends = per_shard.into_iter().map(|(shard, (idx, msgs))| {
            let s = shards[shard as usize].clone();
            async move { s.append(msgs).await.map(|ps| (shard, idx, ps)) }
        });
        let mut out = vec![(0u32, 0u64); total];
        for done in futures::future::join_all(appends).await {
            let (shard, idx, ps) = done?;
            for (i, p) in idx.into_iter().zip(ps) {
                out[i] = (shard, p);
            }
        }
        Ok(out)
    }

    /// Grows the stream to `shards` shards.
    pub fn grow(&self, shards: u32) -> Result<()> {
        let current = self.shards().len() as u32;
        if shards < current {
            return Err(Error::invalid_input(format!(
                "a stream's shards can only grow: '{}' has {current}, asked for {shards}",
                self.name
            )));
        }
        if shards == current {
            return Ok(());
        }
        if shards > MAX_SHARDS {
            return Err(Error::invalid_input(format!(
                "{shards} shards asked for; the log driver keeps at most {MAX_SHARDS} per stream"
            )));
        }
        self.become_writer()?;
        for id in current..shards {
            Shard::create(&shard_dir(&self.dir, id))?;
        }
        write_atomic(
            &self.dir.join(META),
            serde_json::json!({ "shards": shards, "format": 1 })
                .to_string()
                .as_bytes(),
        )?;
        let added = (current..shards)
            .map(|id| Shard::open(shard_dir(&self.dir, id), id))
            .collect::<Result<Vec<_>>>()?;
        for s in &added {
            s.start_writer(self.opts)?;
        }
        self.shards
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .extend(added);
        self.shard_count.send_replace(shards);
        let names: Vec<String> = self
            .groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .keys()
            .cloned()
            .collect();
        for g in names {
            self.rebalance(&g);
        }
        Ok(())
    }

    /// The group's checkpoints: shard → next position to consume.
    pub fn checkpoints(&self, group: &str) -> Result<BTreeMap<u32, u64>> {
        let path = self.dir.join("groups").join(format!("{group}.json"));
        match fs::read(&path) {
            Ok(raw) => serde_json::from_slice::<BTreeMap<String, u64>>(&raw)
                .map_err(|e| Error::internal(format!("{} is not valid: {e}", path.display())))
                .map(|m| {
                    m.into_iter()
                        .filter_map(|(k, v)| Some((k.parse().ok()?, v)))
                        .collect()
                }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(Error::io(e, &format!("read {}", path.display()))),
        }
    }

    /// Records a group's progress durably.
    pub async fn checkpoint(&self, group: &str, positions: &[(u32, u64)]) -> Result<()> {
        check_group(group)?;
        let shards = self.shards().len() as u32;
        if let Some((s, _)) = positions.iter().find(|(s, _)| *s >= shards) {
            return Err(Error::invalid_input(format!(
                "stream '{}' has no shard {s}",
                self.name
            )));
        }
        let _guard = self.checkpoint_lock.lock().await;
        let mut current = self.checkpoints(group)?;
        current.extend(positions.iter().copied());
        let dir = self.dir.join("groups");
        fs::create_dir_all(&dir).map_err(|e| Error::io(e, &format!("create {}", dir.display())))?;
        let as_json: BTreeMap<String, u64> = current.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
        let body = serde_json::to_vec(&as_json).map_err(|e| Error::internal(e.to_string()))?;
        write_atomic(&dir.join(format!("{group}.json")), &body)
    }

    /// Joins a consumer group; the member's assignment of shards is watched, and dropping the
    /// member leaves the group.
    pub fn join(self: &Arc<Self>, group: &str) -> Result<Member> {
        check_group(group)?;
        let id = self.next_member.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = watch::channel(Vec::new());
        self.groups
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(group.to_string())
            .or_insert_with(|| Group { members: Vec::new() })
            .members
            .push((id, tx));
        self.rebalance(group);
        Ok(Member {
            stream: self.clone(),
            group: group.to_string(),
            id,
            assignment: rx,
        })
    }

    /// Splits the shards among a group's members: member i of n (in joining order) gets the
    /// shards s with s mod n = i.
    fn rebalance(&self, group: &str) {
        let n_shards = self.shards().len() as u32;
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let Some(g) = groups.get(group) else { return };
        let n = g.members.len() as u32;
        for (i, (_, tx)) in g.members.iter().enumerate() {
            let mine: Vec<u32> = (0..n_shards).filter(|s| s % n == i as u32).collect();
            tx.send_replace(mine);
        }
    }

    fn leave(&self, group: &str, id: u64) {
        {
            let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(g) = groups.get_mut(group) {
                g.members.retain(|(m, _)| *m != id);
                if g.members.is_empty() {
                    groups.remove(group);
                }
            }
        }
        self.rebalance(group);
    }
}

/// A member of a consumer group.
pub struct Member {
    stream: Arc<LogStream>,
    group: String,
    id: u64,
    /// The shards assigned to this member.
    pub assignment: watch::Receiver<Vec<u32>>,
}

impl Drop for Member {
    fn drop(&mut self) {
        self.stream.leave(&self.group, self.id);
    }
}
