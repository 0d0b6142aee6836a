//! A shard: an append-only sequence of segment files `<base position>.log`.

use std::fs::{self, File, OpenOptions};
use std::io::{BufReader, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use bindery_core::{Error, Message, Result};
use bytes::BytesMut;
use tokio::sync::{oneshot, watch};

use crate::error::corrupt;
use crate::record::{self, Next};

/// Limits a shard keeps to.
#[derive(Debug, Clone, Copy)]
pub struct ShardOptions {
    /// A segment is closed and a new one started past this size.
    pub segment_bytes: u64,
    /// Old segments are deleted while the shard is larger than this.
    pub retention_bytes: Option<u64>,
    /// Segments whose newest message is older than this are deleted.
    pub retention: Option<Duration>,
}

#[derive(Debug, Clone)]
struct Segment {
    base: u64,
    path: PathBuf,
    size: u64,
    last_ts: Option<SystemTime>,
}

fn segment_name(base: u64) -> String {
    format!("{base:020}.log")
}

/// A shard's segments in order: base position and file.
pub fn segments(dir: &Path) -> Result<Vec<(u64, PathBuf)>> {
    Ok(list_segments(dir)?
        .into_iter()
        .map(|s| (s.base, s.path))
        .collect())
}

/// Lists a shard's segments in order.
fn list_segments(dir: &Path) -> Result<Vec<Segment>> {
    let mut out = Vec::new();
    let entries = fs::read_dir(dir).map_err(|e| Error::io(e, &format!("read shard {}", dir.display())))?;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(base) = name
            .to_str()
            .and_then(|n| n.strip_suffix(".log"))
            .and_then(|n| n.parse().ok())
        else {
            continue;
        };
        let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
        out.push(Segment {
            base,
            path: entry.path(),
            size,
            last_ts: None,
        });
    }
    out.sort_by_key(|s| s.base);
    Ok(out)
}

/// What scanning a segment found.
#[derive(Debug, Clone, Copy)]
pub struct Scan {
    /// The length up to the end of the last whole publish.
    pub valid: u64,
    /// The position after the last whole publish.
    pub next: u64,
    /// The last whole publish's timestamp.
    pub last_ts: Option<SystemTime>,
    /// Whether bytes follow the valid part: a publish cut short by a crash, or damage.
    pub torn: bool,
    /// Damage: a record failing its checksum (or garbled) with whole records after it, so
    /// not a write a crash cut short. Its byte offset and the position it should hold.
    pub damage: Option<(u64, u64)>,
}

/// Scans a segment: the valid length (up to the end of the last whole publish), the next
/// position, the last timestamp, whether data after the valid part is torn (a record cut
/// short, or a publish without its last record), and whether that is damage instead.
pub fn scan(path: &Path, base: u64, shard: u32) -> Result<Scan> {
    let what = format!("scan {}", path.display());
    let file = File::open(path).map_err(|e| Error::io(e, &what))?;
    let total = file.metadata().map_err(|e| Error::io(e, &what))?.len();
    let mut r = BufReader::with_capacity(1 << 20, file);
    let (mut valid, mut next, mut last_ts) = (0u64, base, None);
    // The records of the publish being read, not yet known to be whole.
    let (mut pending_bytes, mut pending) = (0u64, 0u64);
    loop {
        match record::read(&mut r, shard).map_err(|e| Error::io(e, &what))? {
            Next::Record(m, size, last) => {
                if m.position != next + pending {
                    return Err(corrupt(&format!(
                        "{} holds position {} where {} belongs",
                        path.display(),
                        m.position,
                        next + pending
                    )));
                }
                pending_bytes += size;
                pending += 1;
                if last {
                    valid += pending_bytes;
                    next += pending;
                    (pending_bytes, pending) = (0, 0);
                    last_ts = m.timestamp;
                }
            }
            Next::End | Next::Torn => {
                let stop = valid + pending_bytes;
                let damage = if stop < total && records_follow(path, stop, shard)? {
                    Some((stop, next + pending))
                } else {
                    None
                };
                return Ok(Scan {
                    valid,
                    next,
                    last_ts,
                    torn: valid < total,
                    damage,
                });
            }
        }
    }
}

/// Whether a whole record (its checksum right) starts anywhere after byte `bad` of a
/// segment: then the record at `bad` is damage, not the end of a write a crash cut short
/// (a crash leaves a cut prefix of one write, with nothing whole after the cut).
fn records_follow(path: &Path, bad: u64, shard: u32) -> Result<bool> {
    use std::io::Read;
    let what = format!("scan {}", path.display());
    /// More than this after the bad record is taken for damage unread: no cut write is that long.
    const MAX_TAIL: u64 = 256 << 20;
    let mut file = File::open(path).map_err(|e| Error::io(e, &what))?;
    let len = file.metadata().map_err(|e| Error::io(e, &what))?.len();
    if len.saturating_sub(bad) > MAX_TAIL {
        return Ok(true);
    }
    file.seek(SeekFrom::Start(bad + 1))
        .map_err(|e| Error::io(e, &what))?;
    let mut rest = Vec::new();
    file.read_to_end(&mut rest).map_err(|e| Error::io(e, &what))?;
    for at in 0..rest.len() {
        if !matches!(rest[at], record::LAST | record::MORE) {
            continue;
        }
        if let Ok(Next::Record(..)) = record::read(&mut &rest[at..], shard) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The error for damage found in a shard.
fn damaged(shard: u32, path: &Path, offset: u64, position: u64) -> Error {
    corrupt(&format!(
        "shard {shard}: {} is damaged at byte {offset} (the record of position {position} fails \
         its checksum, and whole records follow it). Nothing was served past it or changed; \
         `bindery stream check` shows the damage and what a repair would do",
        path.display()
    ))
}

struct Job {
    messages: Vec<Message>,
    reply: oneshot::Sender<Result<Vec<u64>>>,
}

/// One shard of a stream.
pub struct Shard {
    /// The shard's id.
    pub id: u32,
    dir: PathBuf,
    segments: Mutex<Vec<Segment>>,
    /// The durable end: positions below it are acknowledged (while this process writes).
    next: watch::Sender<u64>,
    appender: Mutex<Option<flume::Sender<Job>>>,
}

impl Shard {
    /// Creates a shard's folder with its first, empty segment.
    pub fn create(dir: &Path) -> Result<()> {
        let what = format!("create shard {}", dir.display());
        fs::create_dir_all(dir).map_err(|e| Error::io(e, &what))?;
        File::create(dir.join(segment_name(0)))
            .and_then(|f| f.sync_all())
            .map_err(|e| Error::io(e, &what))?;
        File::open(dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(e, &what))
    }

    /// Creates a shard's folder and first segment without syncing them (the caller makes the
    /// whole stream durable at once).
    pub fn create_unsynced(dir: &Path) -> Result<()> {
        let what = format!("create shard {}", dir.display());
        fs::create_dir(dir)
            .and_then(|_| File::create(dir.join(segment_name(0))).map(drop))
            .map_err(|e| Error::io(e, &what))
    }

    /// Opens a shard for reading: finds its segments and where its data ends.
    pub fn open(dir: PathBuf, id: u32) -> Result<Arc<Shard>> {
        let mut segments = list_segments(&dir)?;
        let next = match segments.last_mut() {
            Some(last) => {
                let found = scan(&last.path, last.base, id)?;
                last.size = found.valid;
                last.last_ts = found.last_ts;
                found.next
            }
            None => 0,
        };
        let (tx, _) = watch::channel(next);
        Ok(Arc::new(Shard {
            id,
            dir,
            segments: Mutex::new(segments),
            next: tx,
            appender: Mutex::new(None),
        }))
    }

    fn lock_segments(&self) -> std::sync::MutexGuard<'_, Vec<Segment>> {
        self.segments.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Bytes at the end of the last segment past its last whole publish: what a crash left
    /// and the next writer will cut.
    pub fn torn_bytes(&self) -> Result<u64> {
        let Some(last) = list_segments(&self.dir)?.pop() else {
            return Ok(0);
        };
        Ok(last
            .size
            .saturating_sub(scan(&last.path, last.base, self.id)?.valid))
    }

    /// The position of the first message kept.
    pub fn first(&self) -> u64 {
        self.lock_segments().first().map_or(0, |s| s.base)
    }

    /// The position the next message will get, as this process knows it.
    pub fn next(&self) -> u64 {
        *self.next.borrow()
    }

    /// Watches the durable end.
    pub fn subscribe(&self) -> watch::Receiver<u64> {
        self.next.subscribe()
    }

    /// Rereads the segment list from disk (another process may be writing, or retention
    /// removed some). Only the folder is listed: the readers find the records themselves.
    fn refresh(&self) -> Result<()> {
        *self.lock_segments() = list_segments(&self.dir)?;
        Ok(())
    }

    /// Records that whole publishes up to `pos` are on disk (a reader in a process that
    /// does not write the shard saw them), so `next` does not lag behind what was read.
    fn seen_up_to(&self, pos: u64) {
        self.next.send_if_modified(|n| {
            let later = pos > *n;
            if later {
                *n = pos;
            }
            later
        });
    }

    /// Becomes the shard's writer (the caller holds the stream's write lock): cuts a torn
    /// tail left by a crash, then starts the appender. Idempotent.
    pub fn start_writer(self: &Arc<Self>, opts: ShardOptions) -> Result<()> {
        let mut appender = self.appender.lock().unwrap_or_else(|p| p.into_inner());
        if appender.is_some() {
            return Ok(());
        }
        let mut segments = list_segments(&self.dir)?;
        if segments.is_empty() {
            Shard::create(&self.dir)?;
            segments = list_segments(&self.dir)?;
        }
        let last = segments
            .last_mut()
            .ok_or_else(|| corrupt("a shard without segments"))?;
        let Scan {
            valid,
            next,
            last_ts: ts,
            torn,
            damage,
        } = scan(&last.path, last.base, self.id)?;
        if let Some((offset, position)) = damage {
            // Cutting here would destroy the acknowledged records after the damage.
            return Err(damaged(self.id, &last.path, offset, position));
        }
        let what = format!("open {}", last.path.display());
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(&last.path)
            .map_err(|e| Error::io(e, &what))?;
        if torn || file.metadata().map_err(|e| Error::io(e, &what))?.len() != valid {
            // A crash cut the last write short: that data was never acknowledged.
            file.set_len(valid)
                .and_then(|_| file.sync_all())
                .map_err(|e| Error::io(e, &what))?;
        }
        last.size = valid;
        last.last_ts = ts;
        let writer = Writer {
            file,
            base: last.base,
            size: valid,
            next,
            dir: self.dir.clone(),
            opts,
            shard: self.id,
        };
        *self.lock_segments() = segments;
        self.next.send_replace(next);
        let (tx, rx) = flume::bounded::<Job>(1024);
        let shard = Arc::downgrade(self);
        std::thread::Builder::new()
            .name(format!("bindery-log-{}", self.id))
            .spawn(move || run_appender(shard, rx, writer))
            .map_err(|e| Error::internal(format!("cannot start the writer of shard {}: {e}", self.id)))?;
        *appender = Some(tx);
        Ok(())
    }

    /// Appends messages durably; returns their positions. The shard must have a writer.
    pub async fn append(&self, messages: Vec<Message>) -> Result<Vec<u64>> {
        let tx = self
            .appender
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or_else(|| Error::internal("the shard has no writer"))?;
        let (reply, rx) = oneshot::channel();
        tx.send_async(Job { messages, reply })
            .await
            .map_err(|_| Error::unavailable("the shard's writer stopped"))?;
        rx.await
            .map_err(|_| Error::unavailable("the shard's writer stopped"))?
    }

    /// The first position whose message was published at or after `t`.
    pub fn position_at(&self, t: SystemTime) -> Result<u64> {
        let segments = self.lock_segments().clone();
        for seg in &segments {
            let what = format!("read {}", seg.path.display());
            let file = match File::open(&seg.path) {
                Ok(f) => f,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue, // retention
                Err(e) => return Err(Error::io(e, &what)),
            };
            let mut r = BufReader::new(file);
            while let Next::Record(m, _, _) =
                record::read(&mut r, self.id).map_err(|e| Error::io(e, &what))?
            {
                if m.timestamp.is_some_and(|ts| ts >= t) {
                    return Ok(m.position);
                }
            }
        }
        Ok(self.next())
    }

    /// The segment holding `pos` (the first kept, if `pos` was deleted by retention).
    fn segment_for(&self, pos: u64) -> Option<Segment> {
        let segments = self.lock_segments();
        let first = segments.first()?;
        if pos < first.base {
            return Some(first.clone());
        }
        segments.iter().rev().find(|s| s.base <= pos).cloned()
    }

    fn has_segment_at(&self, base: u64) -> bool {
        self.lock_segments().iter().any(|s| s.base == base)
    }
}

/// The writing end of a shard, owned by its writer thread.
struct Writer {
    file: File,
    base: u64,
    size: u64,
    next: u64,
    dir: PathBuf,
    opts: ShardOptions,
    shard: u32,
}

impl Writer {
    /// Writes a group of publishes with one fsync; returns each publish's positions.
    fn append(&mut self, groups: &[Vec<Message>]) -> Result<(Vec<Vec<u64>>, Option<Segment>)> {
        let mut rolled = None;
        if self.size >= self.opts.segment_bytes {
            rolled = Some(self.roll()?);
        }
        let now = SystemTime::now();
        let mut buf = BytesMut::new();
        let mut positions = Vec::with_capacity(groups.len());
        let mut next = self.next;
        for group in groups {
            let mut ps = Vec::with_capacity(group.len());
            for (i, m) in group.iter().enumerate() {
                let last = i + 1 == group.len();
                record::encode(&mut buf, m, next, m.timestamp.unwrap_or(now), last);
                ps.push(next);
                next += 1;
            }
            positions.push(ps);
        }
        let what = format!("append to shard {}", self.shard);
        let written = self
            .file
            .seek(SeekFrom::Start(self.size))
            .and_then(|_| self.file.write_all(&buf));
        let synced = written.and_then(|_| self.file.sync_data());
        if let Err(e) = synced {
            // Leave no partial record behind for the next append to follow.
            let _ = self.file.set_len(self.size);
            return Err(Error::io(e, &what).set_retryable(true));
        }
        self.size += buf.len() as u64;
        self.next = next;
        Ok((positions, rolled))
    }

    /// Closes the current segment and starts a new one at `next`; returns the closed one.
    fn roll(&mut self) -> Result<Segment> {
        let what = format!("roll shard {}", self.shard);
        self.file.sync_all().map_err(|e| Error::io(e, &what))?;
        let path = self.dir.join(segment_name(self.next));
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| Error::io(e, &what))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| Error::io(e, &what))?;
        let closed = Segment {
            base: self.base,
            path: self.dir.join(segment_name(self.base)),
            size: self.size,
            last_ts: None,
        };
        self.file = file;
        self.base = self.next;
        self.size = 0;
        Ok(closed)
    }
}

/// The shard's writer thread: takes publishes off the channel, writes everything queued with
/// one write and one fsync (group commit), and answers each. It ends when the shard is
/// dropped (the channel closes).
fn run_appender(shard: std::sync::Weak<Shard>, rx: flume::Receiver<Job>, mut writer: Writer) {
    while let Ok(first) = rx.recv() {
        // Group commit: everything queued meanwhile shares one write and one fsync.
        let mut jobs = vec![first];
        while jobs.len() < 4096 {
            match rx.try_recv() {
                Ok(j) => jobs.push(j),
                Err(_) => break,
            }
        }
        let groups: Vec<Vec<Message>> = jobs.iter_mut().map(|j| std::mem::take(&mut j.messages)).collect();
        let result = writer.append(&groups);
        let Some(shard) = shard.upgrade() else { return };
        match result {
            Ok((positions, rolled)) => {
                {
                    let mut segments = shard.lock_segments();
                    if let Some(closed) = rolled {
                        if let Some(s) = segments.iter_mut().find(|s| s.base == closed.base) {
                            s.size = closed.size;
                        }
                        if !segments.iter().any(|s| s.base == writer.base) {
                            segments.push(Segment {
                                base: writer.base,
                                path: writer.dir.join(segment_name(writer.base)),
                                size: 0,
                                last_ts: None,
                            });
                        }
                    }
                    if let Some(last) = segments.last_mut() {
                        last.size = writer.size;
                        last.last_ts = Some(SystemTime::now());
                    }
                }
                shard.next.send_replace(writer.next);
                for (j, ps) in jobs.into_iter().zip(positions) {
                    let _ = j.reply.send(Ok(ps));
                }
                apply_retention(&shard, &writer.opts);
            }
            Err(e) => {
                for j in jobs {
                    let _ = j.reply.send(Err(e.clone()));
                }
            }
        }
    }
}

/// Deletes closed segments beyond the retention limits (the open segment always stays).
fn apply_retention(shard: &Shard, opts: &ShardOptions) {
    if opts.retention_bytes.is_none() && opts.retention.is_none() {
        return;
    }
    let mut segments = shard.lock_segments();
    let now = SystemTime::now();
    while segments.len() > 1 {
        let total: u64 = segments.iter().map(|s| s.size).sum();
        let oldest = &segments[0];
        let too_big = opts.retention_bytes.is_some_and(|max| total > max);
        let too_old = opts.retention.is_some_and(|age| {
            let newest_in_oldest = oldest
                .last_ts
                .or_else(|| fs::metadata(&oldest.path).and_then(|m| m.modified()).ok());
            newest_in_oldest.is_some_and(|t| now.duration_since(t).unwrap_or_default() > age)
        });
        if !(too_big || too_old) {
            break;
        }
        let _ = fs::remove_file(&oldest.path);
        segments.remove(0);
    }
}

/// Reads a shard from a position onwards, keeping its place between calls.
pub struct Reader {
    shard: Arc<Shard>,
    pos: u64,
    /// The open segment: the file, the byte offset after the last good record, its base.
    open: Option<(BufReader<File>, u64, u64)>,
}

impl Reader {
    /// A reader starting at `pos`.
    pub fn new(shard: Arc<Shard>, pos: u64) -> Reader {
        Reader {
            shard,
            pos,
            open: None,
        }
    }

    /// Opens the segment holding `self.pos` and skips to it. `false` when there is none yet.
    fn open_at(&mut self) -> Result<bool> {
        let Some(seg) = self.shard.segment_for(self.pos) else {
            return Ok(false);
        };
        let what = format!("read {}", seg.path.display());
        let file = match File::open(&seg.path) {
            Ok(f) => f,
            // Deleted by retention meanwhile: start again from what is kept.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                self.shard.refresh()?;
                return Ok(false);
            }
            Err(e) => return Err(Error::io(e, &what)),
        };
        self.pos = self.pos.max(seg.base);
        let mut r = BufReader::with_capacity(256 << 10, file);
        let mut offset = 0u64;
        let mut at = seg.base;
        while at < self.pos {
            match record::read(&mut r, self.shard.id).map_err(|e| Error::io(e, &what))? {
                Next::Record(_, size, _) => {
                    offset += size;
                    at += 1;
                }
                _ => break,
            }
        }
        self.pos = at;
        self.open = Some((r, offset, seg.base));
        Ok(true)
    }

    /// Fails when the segment at `base` ends at byte `stop` with damage rather than with the
    /// end of the data: whole records after it, or later segments (a segment is sealed only
    /// after its last write was durable, so it never ends torn).
    fn check_damage(&self, base: u64, stop: u64, position: u64) -> Result<()> {
        let Some(seg) = self.shard.segment_for(base).filter(|s| s.base == base) else {
            return Ok(());
        };
        let size = fs::metadata(&seg.path).map(|m| m.len()).unwrap_or(0);
        let sealed = self.shard.lock_segments().iter().any(|s| s.base > base);
        let damaged_here = if sealed {
            // Its end must be whole, and the next segment must start where it ends.
            stop < size || !self.shard.has_segment_at(position)
        } else {
            stop < size && records_follow(&seg.path, stop, self.shard.id)?
        };
        if damaged_here {
            return Err(damaged(self.shard.id, &seg.path, stop, position));
        }
        Ok(())
    }

    /// Reads about `max` messages available now (blocking; a publish is never split, so a
    /// few more may come). `bound`: positions at or past it are not read (the durable end,
    /// when this process writes the shard). The records of a publish are served only once
    /// its last record is there.
    pub fn read(&mut self, max: usize, bound: Option<u64>) -> Result<Vec<Message>> {
        let mut out = Vec::new();
        // The records of the publish being read, and their size.
        let mut publish: Vec<Message> = Vec::new();
        let mut publish_bytes = 0u64;
        let what = format!("read shard {}", self.shard.id);
        while out.len() < max && bound.is_none_or(|b| self.pos < b) {
            if self.open.is_none() && !self.open_at()? {
                break;
            }
            let Some((r, offset, base)) = self.open.as_mut() else {
                break;
            };
            match record::read(r, self.shard.id).map_err(|e| Error::io(e, &what))? {
                Next::Record(m, size, last) => {
                    let expected = self.pos + publish.len() as u64;
                    if m.position != expected {
                        return Err(corrupt(&format!(
                            "shard {} holds position {} where {expected} belongs",
                            self.shard.id, m.position
                        )));
                    }
                    publish.push(m);
                    publish_bytes += size;
                    if last {
                        *offset += publish_bytes;
                        self.pos += publish.len() as u64;
                        out.append(&mut publish);
                        publish_bytes = 0;
                    }
                }
                Next::End | Next::Torn => {
                    // The end of this segment's whole publishes for now: rewind over any
                    // partial one, then go on in the next segment if one starts here, else stop.
                    let stop = *offset + publish_bytes;
                    let damaged_at = self.pos + publish.len() as u64;
                    publish.clear();
                    publish_bytes = 0;
                    r.seek(SeekFrom::Start(*offset))
                        .map_err(|e| Error::io(e, &what))?;
                    let base = *base;
                    if let Err(e) = self.check_damage(base, stop, damaged_at) {
                        // Serve what came before the damage first; the next read fails here.
                        if out.is_empty() {
                            return Err(e);
                        }
                        break;
                    }
                    // A later segment starting here (never the open one, which may be empty).
                    let next_segment = |shard: &Shard, pos: u64| pos > base && shard.has_segment_at(pos);
                    if bound.is_none() && !next_segment(&self.shard, self.pos) {
                        // Another process writes this shard: look for segments it added.
                        self.shard.refresh()?;
                    }
                    if next_segment(&self.shard, self.pos) {
                        self.open = None;
                        continue;
                    }
                    if bound.is_some_and(|b| self.pos < b) {
                        return Err(corrupt(&format!(
                            "shard {} ends at {} before its durable end",
                            self.shard.id, self.pos
                        )));
                    }
                    break;
                }
            }
        }
        if bound.is_none() {
            self.shard.seen_up_to(self.pos);
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(segment_bytes: u64) -> ShardOptions {
        ShardOptions {
            segment_bytes,
            retention_bytes: None,
            retention: None,
        }
    }

    fn values(ms: &[Message]) -> Vec<String> {
        ms.iter()
            .map(|m| String::from_utf8_lossy(&m.value).into_owned())
            .collect()
    }

    /// Appends the records of a publish cut short: its last record never made it.
    fn append_cut_publish(path: &Path, first: u64) {
        let mut buf = BytesMut::new();
        for (i, v) in ["cut-a", "cut-b"].iter().enumerate() {
            record::encode(
                &mut buf,
                &Message::new(*v),
                first + i as u64,
                SystemTime::now(),
                false,
            );
        }
        let mut f = OpenOptions::new().append(true).open(path).unwrap();
        f.write_all(&buf).unwrap();
    }

    #[tokio::test]
    async fn a_publish_without_its_last_record_is_never_served_and_is_cut_at_start() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().join("s");
        Shard::create(&sd).unwrap();
        let shard = Shard::open(sd.clone(), 0).unwrap();
        shard.start_writer(opts(1 << 20)).unwrap();
        let ps = shard
            .append(vec![Message::new("a"), Message::new("b"), Message::new("c")])
            .await
            .unwrap();
        assert_eq!(ps, [0, 1, 2]);
        drop(shard); // the appender stops with its channel
        let seg = sd.join(segment_name(0));
        let whole = fs::metadata(&seg).unwrap().len();
        append_cut_publish(&seg, 3);

        // A reader in another process (no bound) stops before the partial publish.
        let reader_side = Shard::open(sd.clone(), 0).unwrap();
        assert_eq!(reader_side.next(), 3);
        let mut r = Reader::new(reader_side.clone(), 0);
        assert_eq!(values(&r.read(100, None).unwrap()), ["a", "b", "c"]);
        assert!(r.read(100, None).unwrap().is_empty());
        let mut mid = Reader::new(reader_side, 1);
        assert_eq!(
            values(&mid.read(1, None).unwrap()),
            ["b", "c"],
            "a publish is not split"
        );

        // The next writer cuts it off and goes on from position 3.
        let writer = Shard::open(sd.clone(), 0).unwrap();
        writer.start_writer(opts(1 << 20)).unwrap();
        assert_eq!(fs::metadata(&seg).unwrap().len(), whole);
        assert_eq!(writer.append(vec![Message::new("d")]).await.unwrap(), [3]);
        let mut r = Reader::new(writer.clone(), 0);
        assert_eq!(
            values(&r.read(100, Some(writer.next())).unwrap()),
            ["a", "b", "c", "d"]
        );
    }

    #[tokio::test]
    async fn readers_cross_segments_and_wait_at_an_empty_one() {
        let dir = tempfile::tempdir().unwrap();
        let sd = dir.path().join("s");
        Shard::create(&sd).unwrap();
        let shard = Shard::open(sd.clone(), 0).unwrap();
        shard.start_writer(opts(30)).unwrap(); // a new segment after every publish
        let mut empty = Reader::new(Shard::open(sd.clone(), 0).unwrap(), 0);
        assert!(
            empty.read(100, None).unwrap().is_empty(),
            "an empty segment is the end"
        );
        for i in 0..5 {
            shard.append(vec![Message::new(format!("m{i}"))]).await.unwrap();
        }
        assert!(list_segments(&sd).unwrap().len() >= 4);
        let other = Shard::open(sd.clone(), 0).unwrap();
        let mut r = Reader::new(other, 0);
        assert_eq!(
            values(&r.read(100, None).unwrap()),
            ["m0", "m1", "m2", "m3", "m4"]
        );
        assert!(r.read(100, None).unwrap().is_empty());
        shard.append(vec![Message::new("m5")]).await.unwrap();
        assert_eq!(
            values(&r.read(100, None).unwrap()),
            ["m5"],
            "sees a segment another process added"
        );
    }
}
