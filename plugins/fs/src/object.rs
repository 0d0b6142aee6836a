//! The fs store: the object operations on a root directory.

use bindery_core::Connect;
use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::fs::{self, File, Metadata};
use std::hash::{Hash, Hasher};
use std::io::{self, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bindery_core::{
    async_trait, shape_listing, Bytes, Capability, ChangeStream, Conditions, Error, GetResponse, Instance,
    ListEntry, ListStream, ObjectDriver, ObjectMeta, OpGet, OpList, OpPut, OpStat, OpWatch, PutBody, Result,
};
use futures::stream::{self, StreamExt};

use crate::confine::{self, PathLocks};
use crate::error::map;

/// Objects up to this size are read in one chunk; larger ones stream in chunks of it.
const CHUNK: u64 = 1 << 20;
/// Reads up to this size are tried from the page cache on the worker (a copy of at most a few
/// microseconds); larger ones always go to the blocking pool.
const INLINE_READ: u64 = 256 << 10;
/// The folder under the root that holds the driver's own files.
pub(crate) const RESERVED: &str = ".bindery";
const LOCK_STRIPES: usize = 64;

/// One connected fs binding.
pub struct FsStore {
    inner: Arc<Inner>,
    /// The folder's changes, from the first watch on.
    watch: tokio::sync::OnceCell<Arc<bindery_core::ChangeLog>>,
}

struct Inner {
    root: PathBuf,
    /// The root as a directory handle: gets open their files beneath it.
    root_fd: std::os::fd::OwnedFd,
    /// Locks shared with every process using the root (conditions check and place under them).
    path_locks: PathLocks,
    tmp: PathBuf,
    meta: PathBuf,
    locks: Vec<tokio::sync::Mutex<()>>,
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    // On a multi-threaded runtime the file work runs on this worker (its other tasks move to
    // another), saving the hand-over to a blocking thread and back, which costs more than a
    // small read from the page cache.
    if tokio::runtime::Handle::current().runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread {
        return tokio::task::block_in_place(f);
    }
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| Error::internal(format!("fs task failed: {e}")))?
}

impl FsStore {
    /// Opens (creating if needed) a store rooted at `root`, and removes temporary files left
    /// by processes that died mid-write.
    pub fn open(root: PathBuf) -> Result<FsStore> {
        let shown = root.display().to_string();
        fs::create_dir_all(&root).map_err(|e| map(e, &format!("create root directory '{shown}'")))?;
        if !root.is_dir() {
            return Err(Error::invalid_input(format!("'{shown}' is not a directory")));
        }
        let tmp = root.join(RESERVED).join("tmp");
        let meta = root.join(RESERVED).join("meta");
        for dir in [&tmp, &meta] {
            fs::create_dir_all(dir).map_err(|e| map(e, &format!("prepare '{shown}'")))?;
        }
        // The probe is a temporary file like any other: a process killed right here leaves one
        // that the next connect removes.
        let probe = tmp.join(format!("probe-{}.tmp", std::process::id()));
        File::create(&probe)
            .and_then(|_| fs::remove_file(&probe))
            .map_err(|e| map(e, &format!("'{shown}' is not writable")))?;
        confine::remove_stale_temp_files(&tmp);
        let root_fd = confine::open_root(&root).map_err(|e| map(e, &format!("open root '{shown}'")))?;
        let path_locks = PathLocks::open(&root.join(RESERVED).join("lock"))
            .map_err(|e| map(e, &format!("prepare '{shown}'")))?;
        Ok(FsStore {
            watch: tokio::sync::OnceCell::new(),
            inner: Arc::new(Inner {
                root,
                root_fd,
                path_locks,
                tmp,
                meta,
                locks: (0..LOCK_STRIPES).map(|_| tokio::sync::Mutex::new(())).collect(),
            }),
        })
    }

    /// Tells a running watch what bindery itself did to `path` (see `watch.rs`).
    fn record(&self, path: &str, now: Option<(String, u64)>) {
        if let Some(log) = self.watch.get() {
            log.record(path, now);
        }
    }

    fn lock_for(&self, path: &str) -> &tokio::sync::Mutex<()> {
        let mut h = DefaultHasher::new();
        path.hash(&mut h);
        &self.inner.locks[(h.finish() as usize) % LOCK_STRIPES]
    }
}

fn check_reserved(path: &str) -> Result<()> {
    if path == RESERVED || path.starts_with(".bindery/") {
        return Err(Error::invalid_input(format!(
            "paths under '{RESERVED}/' are reserved for the fs driver"
        )));
    }
    Ok(())
}

pub(crate) fn gen_of(md: &Metadata) -> String {
    format!(
        "{:x}-{:x}",
        md.ino(),
        md.mtime() as i128 * 1_000_000_000 + md.mtime_nsec() as i128
    )
}

/// The file's metadata if it is an object (a regular file); `None` if absent. A symbolic
/// link on the way is refused.
fn stat_object(root: &Path, path: &str) -> Result<Option<Metadata>> {
    Ok(confine::lstat_beneath(root, path)?.filter(Metadata::is_file))
}

fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

impl Inner {
    fn file(&self, path: &str) -> PathBuf {
        self.root.join(path)
    }

    fn sidecar(&self, path: &str, gen: &str) -> PathBuf {
        self.meta.join(format!("{path}@{gen}"))
    }

    fn object_meta(&self, path: &str, md: &Metadata, with_user_meta: bool) -> Result<ObjectMeta> {
        let gen = gen_of(md);
        let metadata = if with_user_meta {
            self.read_metadata(path, &gen)?
        } else {
            BTreeMap::new()
        };
        Ok(ObjectMeta {
            path: path.to_string(),
            size: md.len(),
            modified: md.modified().ok(),
            gen,
            metadata,
        })
    }

    fn read_metadata(&self, path: &str, gen: &str) -> Result<BTreeMap<String, String>> {
        match fs::read(self.sidecar(path, gen)) {
            Ok(raw) => decode_metadata(&raw)
                .ok_or_else(|| Error::internal(format!("metadata of '{path}' is corrupt"))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(BTreeMap::new()),
            Err(e) => Err(map(e, &format!("read metadata of '{path}'"))),
        }
    }

    fn temp_path(&self) -> PathBuf {
        // Unique among every store of this process (one counter) and among processes, also
        // ones in other PID namespaces that share a pid (a token made once per process).
        static SEQ: AtomicU64 = AtomicU64::new(0);
        static TOKEN: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
        let token = TOKEN.get_or_init(|| {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            nanos ^ (&SEQ as *const AtomicU64 as u64).rotate_left(32)
        });
        let seq = SEQ.fetch_add(1, Ordering::Relaxed);
        self.tmp
            .join(format!("{}-{token:x}-{seq}.tmp", std::process::id()))
    }

    /// Writes the sidecar for `path@gen` durably, before the object is renamed into place.
    fn write_sidecar(&self, path: &str, gen: &str, metadata: &BTreeMap<String, String>) -> Result<()> {
        let target = self.sidecar(path, gen);
        let what = format!("write metadata of '{path}'");
        let dir = target.parent().unwrap_or(&self.meta).to_path_buf();
        fs::create_dir_all(&dir).map_err(|e| map(e, &what))?;
        let tmp = self.temp_path();
        let mut guard = TempFile(Some(tmp.clone()));
        let mut f = File::create(&tmp).map_err(|e| map(e, &what))?;
        confine::claim_temp(&f).map_err(|e| map(e, &what))?;
        f.write_all(&encode_metadata(metadata))
            .map_err(|e| map(e, &what))?;
        f.sync_all().map_err(|e| map(e, &what))?;
        fs::rename(&tmp, &target).map_err(|e| map(e, &what))?;
        guard.0 = None;
        fsync_dir(&dir).map_err(|e| map(e, &what))
    }

    /// Removes the sidecars of `path` other than the one of `keep`.
    fn remove_old_sidecars(&self, path: &str, keep: Option<&str>) {
        let side = self.meta.join(path);
        let (Some(dir), Some(base)) = (side.parent(), side.file_name().and_then(|n| n.to_str())) else {
            return;
        };
        let Ok(entries) = fs::read_dir(dir) else { return };
        let stem = format!("{base}@");
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if let Some(gen) = name.strip_prefix(&stem) {
                if Some(gen) != keep {
                    let _ = fs::remove_file(entry.path());
                }
            }
        }
    }

    /// The last step of a put, under the path's lock: check conditions, place the object.
    fn commit(&self, path: &str, tmp: &Path, mut file: File, op: &OpPut) -> Result<ObjectMeta> {
        let what = format!("put '{path}'");
        file.flush().map_err(|e| map(e, &what))?;
        file.sync_all().map_err(|e| map(e, &what))?;
        let md = file.metadata().map_err(|e| map(e, &what))?;
        let dest = self.file(path);
        // Other processes' writers of this path wait while a condition is checked and the
        // object placed; unconditional writers share the lock.
        let conditional = !op.conditions.is_empty();
        let _held = self
            .path_locks
            .lock(path, conditional)
            .map_err(|e| map(e, &what))?;
        let current = stat_object(&self.root, path)?;
        op.conditions.check(current.as_ref().map(gen_of).as_deref())?;
        let parent = dest.parent().unwrap_or(&self.root).to_path_buf();
        let parent_existed = parent.is_dir();
        if !parent_existed {
            fs::create_dir_all(&parent).map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists || e.raw_os_error() == Some(libc::ENOTDIR) {
                    Error::invalid_input(format!(
                        "cannot put '{path}': a parent of it is an object, and the fs driver cannot hold both"
                    ))
                } else {
                    map(e, &what)
                }
            })?;
        }
        let meta = ObjectMeta {
            path: path.to_string(),
            size: md.len(),
            modified: md.modified().ok(),
            gen: gen_of(&md),
            metadata: op.metadata.clone(),
        };
        if !op.metadata.is_empty() {
            self.write_sidecar(path, &meta.gen, &op.metadata)?;
        }
        let placed = if op.conditions.if_none_match.as_deref() == Some("*") {
            fs::hard_link(tmp, &dest)
        } else {
            fs::rename(tmp, &dest)
        };
        if placed.is_err() && !op.metadata.is_empty() {
            let _ = fs::remove_file(self.sidecar(path, &meta.gen)); // a refused write leaves nothing
        }
        placed.map_err(|e| match e.kind() {
            io::ErrorKind::AlreadyExists => {
                Error::condition_failed("if-none-match '*': the object already exists")
            }
            io::ErrorKind::IsADirectory | io::ErrorKind::DirectoryNotEmpty => Error::invalid_input(format!(
                "cannot put '{path}': objects exist below it, and the fs driver cannot hold both"
            )),
            _ => map(e, &what),
        })?;
        // Make the new directory entries durable: the parent, and every directory created.
        let mut dir = parent.as_path();
        loop {
            fsync_dir(dir).map_err(|e| map(e, &what))?;
            if parent_existed || dir == self.root {
                break;
            }
            match dir.parent() {
                Some(up) => dir = up,
                None => break,
            }
        }
        self.remove_old_sidecars(path, (!op.metadata.is_empty()).then_some(meta.gen.as_str()));
        Ok(meta)
    }
}

/// Removes a temporary file when dropped, unless disarmed: a put that fails or is cancelled
/// leaves nothing behind.
struct TempFile(Option<PathBuf>);

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(p) = self.0.take() {
            let _ = fs::remove_file(p);
        }
    }
}

fn encode_metadata(map: &BTreeMap<String, String>) -> Vec<u8> {
    let mut out = Vec::new();
    for (k, v) in map {
        for s in [k, v] {
            out.extend_from_slice(&(s.len() as u32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
    }
    out
}

fn decode_metadata(mut raw: &[u8]) -> Option<BTreeMap<String, String>> {
    fn take(raw: &mut &[u8]) -> Option<String> {
        let len = u32::from_le_bytes(raw.get(..4)?.try_into().ok()?) as usize;
        let s = String::from_utf8(raw.get(4..4 + len)?.to_vec()).ok()?;
        *raw = &raw[4 + len..];
        Some(s)
    }
    let mut map = BTreeMap::new();
    while !raw.is_empty() {
        let k = take(&mut raw)?;
        map.insert(k, take(&mut raw)?);
    }
    Some(map)
}

impl Instance for FsStore {
    fn capability(&self) -> Capability {
        crate::FsDriver::CAPABILITY
    }

    fn answers_in_place(&self) -> bool {
        true
    }

    fn object(&self) -> Option<&dyn ObjectDriver> {
        Some(self)
    }
}

fn stat_checked(inner: &Inner, path: &str, conditions: &Conditions) -> Result<Option<(Metadata, String)>> {
    let found = stat_object(&inner.root, path)?;
    let found = found.map(|md| {
        let gen = gen_of(&md);
        (md, gen)
    });
    if found.is_none() && conditions.if_match.is_none() {
        return Ok(None);
    }
    conditions.check(found.as_ref().map(|(_, g)| g.as_str()))?;
    Ok(found)
}

#[async_trait]
impl ObjectDriver for FsStore {
    async fn get(&self, path: &str, op: OpGet) -> Result<GetResponse> {
        check_reserved(path)?;
        // Opening, stat-ing and looking for the metadata sidecar run on this worker: they
        // touch the kernel's cached inodes of files in use, and handing them to a blocking
        // thread and back costs several times more than the calls. The data follows.
        let (file, meta, range) = open_for_get(&self.inner, path, &op)?;
        let what = format!("read '{path}'");
        let len = range.end - range.start;
        // One buffer when the caller takes it all at once (its memory is the object's size
        // either way); bounded chunks when it streams.
        let body = if len <= CHUNK || op.whole {
            // A small read the page cache holds is a copy, done here; one that would wait
            // for the disk (or is large) goes to the blocking pool.
            let cached = if len <= INLINE_READ {
                read_cached(&file, range.start, len).map_err(|e| map(e, &what))?
            } else {
                None
            };
            let chunk = match cached {
                Some(chunk) => chunk,
                None => {
                    let start = range.start;
                    tokio::task::spawn_blocking(move || read_chunk_at(&file, start, len, &what))
                        .await
                        .map_err(|e| Error::internal(format!("fs read task failed: {e}")))??
                }
            };
            stream::once(async move { Ok(chunk) }).boxed()
        } else {
            stream::unfold(Some((file, range.start, len, what)), |state| async move {
                let (file, at, left, what) = state?;
                let n = left.min(CHUNK);
                let step = tokio::task::spawn_blocking(move || {
                    read_chunk_at(&file, at, n, &what).map(|c| (c, file, what))
                })
                .await;
                match step {
                    Ok(Ok((chunk, file, what))) => {
                        let next = (left > n).then_some((file, at + n, left - n, what));
                        Some((Ok(chunk), next))
                    }
                    Ok(Err(e)) => Some((Err(e), None)),
                    Err(e) => Some((Err(Error::internal(format!("fs read task failed: {e}"))), None)),
                }
            })
            .boxed()
        };
        Ok(GetResponse { meta, body })
    }

    async fn put(&self, path: &str, mut body: PutBody, op: OpPut) -> Result<ObjectMeta> {
        check_reserved(path)?;
        confine::check_names(path)?;
        let inner = self.inner.clone();
        let tmp = inner.temp_path();
        let mut guard = TempFile(Some(tmp.clone()));
        let what = format!("put '{path}'");
        let w = what.clone();
        let open_tmp = tmp.clone();
        let mut file = blocking(move || {
            let file = File::options()
                .write(true)
                .create_new(true)
                .open(&open_tmp)
                .map_err(|e| map(e, &w))?;
            confine::claim_temp(&file).map_err(|e| map(e, &w))?;
            Ok(file)
        })
        .await?;
        // Write in batches of about CHUNK bytes, each in one blocking call.
        let mut batch: Vec<Bytes> = Vec::new();
        let mut batched = 0u64;
        loop {
            let next = body.next_chunk().await.transpose()?;
            let end = next.is_none();
            if let Some(chunk) = next {
                batched += chunk.len() as u64;
                batch.push(chunk);
            }
            if (end || batched >= CHUNK) && !batch.is_empty() {
                let chunks = std::mem::take(&mut batch);
                batched = 0;
                let w = what.clone();
                file = blocking(move || {
                    for c in &chunks {
                        file.write_all(c).map_err(|e| map(e, &w))?;
                    }
                    Ok(file)
                })
                .await?;
            }
            if end {
                break;
            }
        }
        let _lock = self.lock_for(path).lock().await;
        let path = path.to_string();
        let meta = blocking(move || inner.commit(&path, &tmp, file, &op)).await?;
        // After a rename the temp path is gone; after a link it is removed here.
        drop(guard.0.take().map(fs::remove_file));
        // A watch sees bindery's own write at once (inotify reports it again, which is no
        // new change), so a watch begun after the put has it in its initial state.
        self.record(&meta.path, Some((meta.gen.clone(), meta.size)));
        Ok(meta)
    }

    async fn head(&self, path: &str, op: OpStat) -> Result<ObjectMeta> {
        check_reserved(path)?;
        let inner = self.inner.clone();
        let path = path.to_string();
        blocking(move || match stat_checked(&inner, &path, &op.conditions)? {
            Some((md, _)) => inner.object_meta(&path, &md, true),
            None => Err(Error::not_found("no such object")),
        })
        .await
    }

    async fn delete(&self, path: &str, op: OpStat) -> Result<()> {
        check_reserved(path)?;
        let _lock = self.lock_for(path).lock().await;
        let inner = self.inner.clone();
        let key = path;
        let path = path.to_string();
        let deleted = blocking(move || {
            let conditional = !op.conditions.is_empty();
            let _held = inner
                .path_locks
                .lock(&path, conditional)
                .map_err(|e| map(e, &format!("delete '{path}'")))?;
            if stat_checked(&inner, &path, &op.conditions)?.is_none() {
                return Ok(());
            }
            let file = inner.file(&path);
            match fs::remove_file(&file) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(map(e, &format!("delete '{path}'"))),
            }
            inner.remove_old_sidecars(&path, None);
            // Remove directories the delete left empty, so they do not list as prefixes.
            let mut dir = file.parent().map(Path::to_path_buf);
            while let Some(d) = dir {
                if d == inner.root || fs::remove_dir(&d).is_err() {
                    if let Err(e) = fsync_dir(&d) {
                        return Err(map(e, &format!("delete '{path}'")));
                    }
                    break;
                }
                dir = d.parent().map(Path::to_path_buf);
            }
            Ok(())
        })
        .await;
        if deleted.is_ok() {
            self.record(key, None);
        }
        deleted
    }

    async fn list(&self, prefix: &str, op: OpList) -> Result<ListStream> {
        check_reserved(prefix)?;
        let (dir_key, name_prefix) = match prefix.rfind('/') {
            Some(i) => (prefix[..=i].to_string(), prefix[i + 1..].to_string()),
            None => (String::new(), prefix.to_string()),
        };
        let one_level = op.delimiter.as_deref() == Some("/");
        let inner = self.inner.clone();
        let (tx, rx) = tokio::sync::mpsc::channel::<Result<ListEntry>>(256);
        let start_after = op.start_after.clone();
        tokio::task::spawn_blocking(move || {
            let dir = inner.root.join(&dir_key);
            let walk = Walk {
                inner: &inner,
                tx: &tx,
                one_level,
                start_after: start_after.as_deref(),
            };
            if let Err(e) = walk.dir(&dir, &dir_key, &name_prefix) {
                let _ = tx.blocking_send(Err(e));
            }
        });
        let entries = stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|e| (e, rx)) });
        Ok(shape_listing(entries.boxed(), prefix, &op))
    }

    async fn watch(&self, prefix: &str, op: OpWatch) -> Result<ChangeStream> {
        check_reserved(prefix)?;
        let root = self.inner.root.clone();
        let log = self
            .watch
            .get_or_try_init(|| bindery_core::blocking(move || crate::watch::start(root)))
            .await?;
        Ok(log.watch(prefix, &op))
    }
}

struct Walk<'a> {
    inner: &'a Inner,
    tx: &'a tokio::sync::mpsc::Sender<Result<ListEntry>>,
    one_level: bool,
    start_after: Option<&'a str>,
}

/// Stops a walk whose listing was dropped by the caller.
struct Stop;

impl Walk<'_> {
    fn dir(&self, dir: &Path, key: &str, name_prefix: &str) -> Result<()> {
        match self.walk(dir, key, name_prefix) {
            Ok(()) | Err(WalkError::Stop(Stop)) => Ok(()),
            Err(WalkError::Io(e)) => Err(e),
        }
    }

    fn send(&self, entry: ListEntry) -> Result<(), WalkError> {
        self.tx
            .blocking_send(Ok(entry))
            .map_err(|_| WalkError::Stop(Stop))
    }

    fn walk(&self, dir: &Path, key: &str, name_prefix: &str) -> Result<(), WalkError> {
        let entries = match fs::read_dir(dir) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(libc::ENOTDIR) => {
                return Ok(());
            }
            Err(e) => return Err(WalkError::Io(map(e, &format!("list '{key}'")))),
        };
        // Sort as full keys sort: a directory `a` as `a/`, so `a-b` comes before `a/x`.
        let mut names: Vec<(String, bool)> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| WalkError::Io(map(e, &format!("list '{key}'"))))?;
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if (key.is_empty() && name == RESERVED) || !name.starts_with(name_prefix) {
                continue;
            }
            let is_dir = entry.file_type().map(|t| t.is_dir()).unwrap_or(false);
            names.push((if is_dir { format!("{name}/") } else { name }, is_dir));
        }
        names.sort();
        for (name, is_dir) in names {
            let full = format!("{key}{name}");
            if let Some(after) = self.start_after {
                if full.as_str() <= after && !(is_dir && after.starts_with(&full)) {
                    continue;
                }
            }
            if is_dir {
                if self.one_level {
                    self.send(ListEntry::Prefix(full))?;
                } else {
                    self.walk(&dir.join(name.trim_end_matches('/')), &full, "")?;
                }
            } else {
                // Not following links: a link in the root is not an object.
                match fs::symlink_metadata(dir.join(&name)) {
                    Ok(md) if md.is_file() => {
                        let meta = self.inner.object_meta(&full, &md, false).map_err(WalkError::Io)?;
                        self.send(ListEntry::Object(meta))?;
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {} // deleted meanwhile
                    Err(e) => return Err(WalkError::Io(map(e, &format!("list '{full}'")))),
                }
            }
        }
        Ok(())
    }
}

enum WalkError {
    Stop(Stop),
    Io(Error),
}

/// Opens an object for a get and checks the request's conditions and range against it.
fn open_for_get(inner: &Inner, path: &str, op: &OpGet) -> Result<(File, ObjectMeta, std::ops::Range<u64>)> {
    let not_found = || Error::not_found("no such object");
    let Some((file, md)) = confine::open_beneath(&inner.root_fd, &inner.root, path)? else {
        if op.conditions.if_match.is_some() {
            op.conditions.check(None)?;
        }
        return Err(not_found());
    };
    let meta = inner.object_meta(path, &md, true)?;
    op.conditions.check(Some(&meta.gen))?;
    let range = match op.range {
        Some(r) => r.resolve(meta.size)?,
        None => 0..meta.size,
    };
    Ok((file, meta, range))
}

/// `len` bytes at `offset`, read whole or failing.
fn read_chunk_at(file: &File, offset: u64, len: u64, what: &str) -> Result<Bytes> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; len as usize];
    file.read_exact_at(&mut buf, offset).map_err(|e| {
        if e.kind() == io::ErrorKind::UnexpectedEof {
            Error::internal(format!("{what}: the file was truncated while being read")).set_retryable(true)
        } else {
            map(e, what)
        }
    })?;
    Ok(Bytes::from(buf))
}

/// `len` bytes at `offset` if the page cache holds all of them, read without waiting for the
/// disk (`preadv2` with `RWF_NOWAIT`); `None` when the read would wait, came up short, or the
/// kernel or file system does not offer it (the caller then reads on a blocking thread).
#[cfg(target_os = "linux")]
fn read_cached(file: &File, offset: u64, len: u64) -> io::Result<Option<Bytes>> {
    use std::os::fd::AsRawFd;
    let len = len as usize;
    if len == 0 {
        return Ok(Some(Bytes::new()));
    }
    let mut buf = Vec::<u8>::with_capacity(len);
    let iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: len,
    };
    let Ok(offset) = libc::off_t::try_from(offset) else {
        return Ok(None);
    };
    // SAFETY: the one iovec points at `len` bytes of `buf`'s spare capacity, which the kernel
    // writes; `buf` outlives the call.
    let n = unsafe { libc::preadv2(file.as_raw_fd(), &iov, 1, offset, libc::RWF_NOWAIT) };
    if n < 0 {
        let e = io::Error::last_os_error();
        return match e.raw_os_error() {
            Some(libc::EAGAIN | libc::EOPNOTSUPP | libc::EINVAL | libc::ENOSYS) => Ok(None),
            _ => Err(e),
        };
    }
    if n as usize != len {
        return Ok(None);
    }
    // SAFETY: the kernel initialised the first `n == len` bytes.
    unsafe { buf.set_len(len) };
    Ok(Some(Bytes::from(buf)))
}

#[cfg(not(target_os = "linux"))]
fn read_cached(_file: &File, _offset: u64, _len: u64) -> io::Result<Option<Bytes>> {
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sidecars(root: &Path) -> Vec<String> {
        let names = fs::read_dir(root.join(".bindery/meta"))
            .into_iter()
            .flatten()
            .flatten();
        names
            .filter(|e| e.path().is_file())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect()
    }

    #[tokio::test]
    async fn a_refused_put_leaves_no_metadata_behind() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().to_path_buf()).unwrap();
        let mut op = OpPut::default();
        op.metadata.insert("k".into(), "v".into());
        let body = || PutBody::from_chunks([Bytes::from_static(b"data")]);
        store.put("d/x", body(), OpPut::default()).await.unwrap();
        // `d` holds objects, so placing an object at `d` fails after its metadata was
        // written: the metadata must go too.
        let e = store.put("d", body(), op.clone()).await.unwrap_err();
        assert_eq!(e.kind(), bindery_core::ErrorKind::InvalidInput, "{e}");
        assert_eq!(
            sidecars(dir.path()),
            Vec::<String>::new(),
            "the refused put's metadata remains"
        );
        assert_eq!(fs::read_dir(dir.path().join(".bindery/tmp")).unwrap().count(), 0);
        store.put("e", body(), op).await.unwrap();
        assert_eq!(sidecars(dir.path()).len(), 1);
        store.delete("e", OpStat::default()).await.unwrap();
        assert!(sidecars(dir.path()).is_empty());
    }

    /// The chunks a get answers.
    async fn chunks_of(store: &FsStore, path: &str, op: OpGet) -> Vec<Bytes> {
        use futures::StreamExt;
        let body = store.get(path, op).await.unwrap().body;
        body.map(|c| c.unwrap()).collect().await
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_whole_get_is_one_buffer_and_a_streamed_one_bounded_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().to_path_buf()).unwrap();
        let data = Bytes::from(vec![5u8; 3 * CHUNK as usize + 10]);
        let body = PutBody::from_chunks([data.clone()]);
        store.put("big", body, OpPut::default()).await.unwrap();
        for (whole, chunks) in [(true, 1), (false, 4)] {
            let op = OpGet {
                whole,
                ..OpGet::default()
            };
            let got = chunks_of(&store, "big", op).await;
            assert_eq!(got.len(), chunks, "whole: {whole}");
            assert!(got.iter().all(|c| c.len() as u64 <= CHUNK) || whole);
            assert_eq!(got.concat(), data.to_vec());
        }
    }

    /// Whether the page cache holds a file or not, a get reads it whole and right: evicting
    /// it (`POSIX_FADV_DONTNEED` after an fsync) sends the read to the blocking pool.
    #[cfg(target_os = "linux")]
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_get_reads_cached_and_evicted_files_alike() {
        use std::os::fd::AsRawFd;
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().to_path_buf()).unwrap();
        let data: Bytes = (0..200_000u32)
            .map(|i| (i % 251) as u8)
            .collect::<Vec<_>>()
            .into();
        store
            .put("o", PutBody::from_chunks([data.clone()]), OpPut::default())
            .await
            .unwrap();
        let read = |op: OpGet| async { chunks_of(&store, "o", op).await.concat() };
        let file = File::open(dir.path().join("o")).unwrap();
        for evict in [false, true] {
            if evict {
                file.sync_all().unwrap();
                // SAFETY: a valid descriptor; advice only.
                unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            }
            assert_eq!(read(OpGet::default()).await, data.to_vec(), "evicted: {evict}");
            let ranged = OpGet {
                range: Some(bindery_core::ByteRange {
                    offset: 1000,
                    length: Some(4000),
                }),
                ..OpGet::default()
            };
            assert_eq!(read(ranged).await, data[1000..5000].to_vec(), "evicted: {evict}");
        }
        if let Some(cached) = read_cached(&file, 10, 100).unwrap() {
            assert_eq!(cached, data.slice(10..110));
        }
    }

    fn body(data: &'static [u8]) -> PutBody {
        PutBody::from_chunks([Bytes::from_static(data)])
    }

    #[tokio::test]
    async fn links_planted_in_the_root_are_never_followed() {
        use bindery_core::ErrorKind;
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let (root, outside) = (dir.path().join("root"), dir.path().join("outside"));
        fs::create_dir_all(&outside).unwrap();
        fs::write(outside.join("secret"), "S3CR3T").unwrap();
        let store = FsStore::open(root.clone()).unwrap();
        symlink(outside.join("secret"), root.join("shadow")).unwrap();
        symlink(&outside, root.join("d")).unwrap();
        let e = store.get("shadow", OpGet::default()).await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert!(!e.to_string().contains("S3CR3T"));
        let e = store.get("d/secret", OpGet::default()).await.err().unwrap();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        let e = store.head("d/secret", OpStat::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        let e = store
            .put("d/new", body(b"x"), OpPut::default())
            .await
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        let e = store.delete("d/secret", OpStat::default()).await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::PermissionDenied, "{e}");
        assert_eq!(fs::read_to_string(outside.join("secret")).unwrap(), "S3CR3T");
        assert!(!outside.join("new").exists(), "a put wrote outside the root");
        use futures::StreamExt;
        let listed: Vec<_> = store.list("", OpList::default()).await.unwrap().collect().await;
        assert!(listed.is_empty(), "links were listed: {listed:?}");
    }

    #[tokio::test]
    async fn a_fifo_in_the_root_is_refused_not_waited_on() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().to_path_buf()).unwrap();
        let fifo = std::ffi::CString::new(dir.path().join("pipe").as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: a NUL-terminated path.
        assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
        let got = tokio::time::timeout(
            std::time::Duration::from_secs(5),
            store.get("pipe", OpGet::default()),
        )
        .await
        .expect("a get of a FIFO hung");
        let e = got.err().unwrap();
        assert_eq!(e.kind(), bindery_core::ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains("FIFO"), "{e}");
    }

    #[tokio::test]
    async fn a_name_too_long_for_its_sidecar_is_refused_before_anything_is_written() {
        let dir = tempfile::tempdir().unwrap();
        let store = FsStore::open(dir.path().to_path_buf()).unwrap();
        let mut op = OpPut::default();
        op.metadata.insert("k".into(), "v".into());
        let long = "n".repeat(250);
        let e = store.put(&long, body(b"x"), op.clone()).await.unwrap_err();
        assert_eq!(e.kind(), bindery_core::ErrorKind::InvalidInput, "{e}");
        assert!(!dir.path().join(&long).exists());
        let fits = "n".repeat(confine::MAX_NAME);
        store.put(&fits, body(b"x"), op).await.unwrap();
        let got = store.head(&fits, OpStat::default()).await.unwrap();
        assert_eq!(got.metadata.get("k").map(String::as_str), Some("v"));
    }

    /// Two stores on one root hold separate lock files, as two processes do: if-match
    /// read-modify-write loops on both lose no increment.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn conditional_puts_from_separate_openers_lose_no_update() {
        let dir = tempfile::tempdir().unwrap();
        let stores: Vec<Arc<FsStore>> = (0..2)
            .map(|_| Arc::new(FsStore::open(dir.path().to_path_buf()).unwrap()))
            .collect();
        stores[0].put("n", body(b"0"), OpPut::default()).await.unwrap();
        let mut tasks = Vec::new();
        for store in stores {
            tasks.push(tokio::spawn(async move {
                let mut acknowledged = 0u64;
                while acknowledged < 60 {
                    let got = store.get("n", OpGet::default()).await.unwrap();
                    let data = chunks_of(&store, "n", OpGet::default()).await.concat();
                    let n: u64 = String::from_utf8(data).unwrap().parse().unwrap_or(0);
                    let mut op = OpPut::default();
                    op.conditions.if_match = Some(got.meta.gen.clone());
                    let next = Bytes::from((n + 1).to_string());
                    match store.put("n", PutBody::from_chunks([next]), op).await {
                        Ok(_) => acknowledged += 1,
                        Err(e) if e.kind() == bindery_core::ErrorKind::ConditionFailed => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                acknowledged
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.unwrap();
        }
        let data = fs::read_to_string(dir.path().join("n")).unwrap();
        assert_eq!(data, total.to_string(), "acknowledged {total} increments");
    }

    /// A conditional put waits while another opener of the root (another process) holds the
    /// path's lock, so its check and rename cannot interleave with that writer's.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_conditional_put_waits_for_another_openers_lock() {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(FsStore::open(dir.path().to_path_buf()).unwrap());
        let meta = store.put("n", body(b"0"), OpPut::default()).await.unwrap();
        let other = PathLocks::open(&dir.path().join(".bindery/lock")).unwrap();
        // Shared, as an unconditional writer holds it: a conditional put must still wait.
        let held = other.lock("n", false).unwrap();
        let (tx, mut rx) = tokio::sync::oneshot::channel();
        let s = store.clone();
        tokio::spawn(async move {
            let mut op = OpPut::default();
            op.conditions.if_match = Some(meta.gen);
            let _ = tx.send(s.put("n", body(b"1"), op).await.map(|_| ()));
        });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert!(
            rx.try_recv().is_err(),
            "the put did not wait for the other opener's lock"
        );
        drop(held);
        rx.await.unwrap().unwrap();
        assert_eq!(fs::read_to_string(dir.path().join("n")).unwrap(), "1");
    }

    #[test]
    fn metadata_encoding_round_trips() {
        let mut m = BTreeMap::new();
        m.insert("content-type".to_string(), "text/plain".to_string());
        m.insert("émoji".to_string(), String::new());
        assert_eq!(decode_metadata(&encode_metadata(&m)), Some(m));
        assert_eq!(decode_metadata(&[9, 0, 0, 0, b'x']), None);
    }
}
