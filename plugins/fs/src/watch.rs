//! The fs driver's watch: what any program does to the folder, seen through inotify (the
//! `notify` crate) and recorded in a [`ChangeLog`].
//!
//! Events are only hints: each names paths whose files are looked at again (`lstat`), and
//! the log compares what it finds with what it knew (a new path is `created`, a new
//! generation `updated`, a path gone `deleted`). So a write by `echo >`, an editor's write
//! and rename, `mv` and `rm` each report as what they did to the folder's files; a rename is
//! a deletion and a creation; a folder moved in or out reports each file in it. Bindery's own
//! temporary files live under `.bindery/` and never show: a put appears once, when its file
//! is renamed into place.
//!
//! When inotify's queue overflows, this watcher's own queue fills, or the watch limit
//! (`max_user_watches`) is reached, the whole folder is scanned again and compared with what
//! was known: the net changes are reported, none is lost. If inotify cannot watch the folder
//! at all, the folder is scanned every [`POLL`] instead.
//!
//! One watcher thread serves every watch of a binding; it stops within [`POLL`] once the
//! binding and its watches are gone.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use bindery_core::watch::HISTORY;
use bindery_core::{ChangeLog, Result};
use notify::{RecursiveMode, Watcher};

use crate::object::{gen_of, RESERVED};

/// How often the thread checks whether anyone still watches, and how often the folder is
/// scanned when inotify cannot watch it.
pub(crate) const POLL: Duration = Duration::from_secs(1);
/// Events taken together before the paths they name are looked at (an `echo >` is a
/// create, a modify and a close: one look).
const SETTLE: Duration = Duration::from_millis(20);
/// Events waiting for the thread, at most; more means a rescan.
const QUEUE: usize = 65_536;

/// Starts watching `root` (blocking: the first scan reads the whole tree); the log its
/// changes are recorded in.
pub(crate) fn start(root: PathBuf) -> Result<Arc<ChangeLog>> {
    // inotify reports absolute paths (notify makes the watched path absolute): compare
    // them with the absolute root, whatever the spec's folder was given as.
    let root = fs::canonicalize(&root).unwrap_or(root);
    let (tx, rx) = flume::bounded::<notify::Result<notify::Event>>(QUEUE);
    let overflow = Arc::new(AtomicBool::new(false));
    let full = overflow.clone();
    let handler = move |event: notify::Result<notify::Event>| {
        if tx.try_send(event).is_err() {
            full.store(true, Ordering::Release);
        }
    };
    // Watch first, then scan: a change made during the scan is seen by both, never by
    // neither.
    let watcher = notify::recommended_watcher(handler).and_then(|mut w| {
        w.watch(&root, RecursiveMode::Recursive)?;
        Ok(w)
    });
    let watcher = match watcher {
        Ok(w) => Some(w),
        Err(e) => {
            tracing::warn!(folder = %root.display(), error = %e, "Cannot watch the folder with inotify; scanning it every second instead.");
            None
        }
    };
    let log = ChangeLog::new(scan(&root), HISTORY);
    let folder = Folder {
        root,
        log: Arc::downgrade(&log),
        overflow,
        polling: watcher.is_none(),
    };
    std::thread::Builder::new()
        .name("bindery-fs-watch".into())
        .spawn(move || {
            // The watcher lives as long as the thread: dropping it stops inotify.
            let _watcher = watcher;
            folder.run(rx);
        })
        .map_err(|e| bindery_core::Error::internal(format!("start the fs watch thread: {e}")))?;
    Ok(log)
}

struct Folder {
    root: PathBuf,
    log: Weak<ChangeLog>,
    overflow: Arc<AtomicBool>,
    polling: bool,
}

impl Folder {
    fn run(self, rx: flume::Receiver<notify::Result<notify::Event>>) {
        loop {
            let first = if self.polling {
                std::thread::sleep(POLL);
                Err(flume::RecvTimeoutError::Timeout)
            } else {
                rx.recv_timeout(POLL)
            };
            let Some(log) = self.log.upgrade() else {
                return;
            };
            let mut rescan = self.polling || self.overflow.swap(false, Ordering::AcqRel);
            let mut paths = Vec::new();
            let mut take = |event: notify::Result<notify::Event>, rescan: &mut bool| match event {
                Ok(e) if e.need_rescan() => *rescan = true,
                // Reading changes nothing: an open, a read or a close without a write (the
                // walks below open folders, which would otherwise be looked at again, and
                // walked again, for ever).
                Ok(e) if is_read(&e.kind) => {}
                Ok(e) => paths.extend(e.paths),
                // A watch that could not be added (the watch limit): what it would have seen
                // is found by scanning.
                Err(_) => *rescan = true,
            };
            match first {
                Ok(event) => take(event, &mut rescan),
                Err(flume::RecvTimeoutError::Timeout) => {}
                Err(flume::RecvTimeoutError::Disconnected) => rescan = true,
            }
            if !self.polling {
                let settle = Instant::now() + SETTLE;
                while let Ok(event) = rx.recv_deadline(settle) {
                    take(event, &mut rescan);
                }
            }
            if rescan || self.overflow.swap(false, Ordering::AcqRel) {
                self.rescan(&log);
            } else {
                paths.sort();
                paths.dedup();
                for p in paths {
                    self.refresh(&log, &p);
                }
            }
            if rx.is_disconnected() && !self.polling {
                // inotify stopped: scan from now on.
                return Folder {
                    polling: true,
                    ..self
                }
                .run(rx);
            }
        }
    }

    /// Looks again at one path an event named.
    fn refresh(&self, log: &ChangeLog, path: &Path) {
        let Some(key) = key_of(&self.root, path) else {
            return;
        };
        match fs::symlink_metadata(path) {
            Ok(md) if md.is_file() => {
                log.record(&key, Some((gen_of(&md), md.len())));
            }
            Ok(md) if md.is_dir() => {
                // A folder moved in: every file in it is new.
                let mut found = BTreeMap::new();
                walk(&self.root, path, &mut found);
                for (k, v) in found {
                    log.record(&k, Some(v));
                }
            }
            _ => {
                // Gone (or not a file): it, and everything known under it as a folder.
                log.record(&key, None);
                let below = format!("{key}/");
                for p in log.paths(&below) {
                    if fs::symlink_metadata(self.root.join(&p)).map_or(true, |m| !m.is_file()) {
                        log.record(&p, None);
                    }
                }
            }
        }
    }

    /// Scans the whole folder and reports how it differs from what was known.
    fn rescan(&self, log: &ChangeLog) {
        let found = scan(&self.root);
        for p in log.paths("") {
            if !found.contains_key(&p) {
                log.record(&p, None);
            }
        }
        for (k, v) in found {
            log.record(&k, Some(v));
        }
    }
}

/// Whether an event is only a read (an open, an access, a close without writing).
fn is_read(kind: &notify::EventKind) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    matches!(kind, EventKind::Access(a) if !matches!(a, AccessKind::Close(AccessMode::Write)))
}

/// The object path of a file under `root`; `None` for the root itself, bindery's own
/// folder, and names that are not UTF-8.
fn key_of(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?.to_str()?;
    if rel.is_empty() || rel == RESERVED || rel.starts_with(&format!("{RESERVED}/")) {
        return None;
    }
    Some(rel.to_string())
}

/// Every file under `root` (not bindery's own): path → (generation, size).
pub(crate) fn scan(root: &Path) -> BTreeMap<String, (String, u64)> {
    let mut found = BTreeMap::new();
    walk(root, root, &mut found);
    found
}

fn walk(root: &Path, dir: &Path, found: &mut BTreeMap<String, (String, u64)>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(key) = key_of(root, &path) else {
            continue;
        };
        match entry.file_type() {
            Ok(t) if t.is_dir() => walk(root, &path, found),
            Ok(t) if t.is_file() => {
                if let Ok(md) = entry.metadata() {
                    found.insert(key, (gen_of(&md), md.len()));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::{ChangeKind, OpWatch};
    use futures::StreamExt;

    /// Reads are no reason to look again: walking a folder opens it, and an open treated as
    /// a change had the watch thread walk the same folder after every batch.
    #[test]
    fn reads_are_not_changes() {
        use notify::event::{AccessKind, AccessMode, CreateKind, EventKind, ModifyKind};
        assert!(is_read(&EventKind::Access(AccessKind::Open(AccessMode::Any))));
        assert!(is_read(&EventKind::Access(AccessKind::Close(AccessMode::Read))));
        assert!(!is_read(&EventKind::Access(AccessKind::Close(AccessMode::Write))));
        assert!(!is_read(&EventKind::Create(CreateKind::File)));
        assert!(!is_read(&EventKind::Modify(ModifyKind::Any)));
    }

    /// What an overflow does: the folder scanned again and compared with what was known.
    #[tokio::test]
    async fn a_rescan_reports_the_net_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_path_buf();
        std::fs::write(root.join("kept"), "1").unwrap();
        std::fs::write(root.join("changed"), "1").unwrap();
        std::fs::write(root.join("gone"), "1").unwrap();
        std::fs::create_dir_all(root.join(".bindery/tmp")).unwrap();
        let log = ChangeLog::new(scan(&root), 100);
        assert_eq!(
            log.paths(""),
            ["changed", "gone", "kept"],
            "bindery's own folder is left out"
        );
        let mut w = log.watch("", &OpWatch::default());
        std::fs::write(root.join("changed"), "22").unwrap();
        std::fs::remove_file(root.join("gone")).unwrap();
        std::fs::create_dir_all(root.join("new/deep")).unwrap();
        std::fs::write(root.join("new/deep/file"), "3").unwrap();
        std::fs::write(root.join(".bindery/tmp/x.tmp"), "t").unwrap();
        let folder = Folder {
            root: root.clone(),
            log: Arc::downgrade(&log),
            overflow: Arc::default(),
            polling: false,
        };
        folder.rescan(&log);
        let mut got = Vec::new();
        for _ in 0..3 {
            let c = w.next().await.unwrap().unwrap();
            got.push((c.kind, c.path));
        }
        got.sort_by(|a, b| a.1.cmp(&b.1));
        assert_eq!(
            got,
            [
                (ChangeKind::Updated, "changed".to_string()),
                (ChangeKind::Deleted, "gone".to_string()),
                (ChangeKind::Created, "new/deep/file".to_string())
            ]
        );
        // A second rescan finds nothing new.
        folder.rescan(&log);
        log.record("marker", Some(("g".into(), 1)));
        assert_eq!(w.next().await.unwrap().unwrap().path, "marker");
    }
}
