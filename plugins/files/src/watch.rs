//! Table watch: the rows of files added to or removed from a table's folder, by bindery or by
//! any other tool.
//!
//! A watched table's data files are listed (and stat'ed) whenever inotify (the `notify`
//! crate) tells of a change in its folder, 20 ms after the first event of a batch, and at
//! least every 200 ms while anybody watches it (so a folder inotify cannot watch, or an event
//! lost, costs at most that), and after each write of this binding. A file that appears is read, and each of its rows
//! is `created` (its key: the key columns joined by `/`; without a key, `file#row`); a file
//! that disappears deletes its rows; a file rewritten in place (its size or time changed)
//! is read again, its rows compared by key (`updated` where the row differs). The history is
//! kept in process ([`ChangeLog`]): a cursor from before a restart resyncs.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use bindery_core::table::build::row_texts;
use bindery_core::watch::{ChangeLog, ChangeStream, OpWatch, HISTORY};
use bindery_core::{blocking, OpRead, Result, TableSchema};

use crate::format::Format;
use crate::read::{data_files, Plan};

/// How often a watched table's folder is looked at without an event.
const INTERVAL: Duration = Duration::from_millis(200);

/// How long after the first event of a batch the folder is looked at (a file written is a
/// create, writes and a close: one change, not several).
const SETTLE: Duration = Duration::from_millis(20);

/// One watched table.
struct Watched {
    name: String,
    path: PathBuf,
    /// The table's schema as the last watch began.
    schema: Mutex<TableSchema>,
    log: Arc<ChangeLog>,
    /// The files seen: path → (size, modified, the keys of its rows). Guarded by the lock
    /// every look at the folder takes, so two never interleave.
    files: tokio::sync::Mutex<HashMap<PathBuf, Seen>>,
}

/// A file as last seen: its size, its time, the keys of its rows.
type Seen = (u64, Option<SystemTime>, Vec<String>);

/// A binding's watched tables.
#[derive(Default)]
pub(crate) struct Watches {
    tables: Mutex<HashMap<String, Arc<Watched>>>,
}

impl Watches {
    fn get(&self, name: &str) -> Option<Arc<Watched>> {
        self.tables
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(name)
            .cloned()
    }

    /// After a write of this binding: the table's watchers see its rows at once.
    pub(crate) async fn wrote(&self, name: &str) {
        if let Some(w) = self.get(name) {
            if let Err(e) = refresh(&w).await {
                tracing::warn!(table = %name, error = %e, "files watch: looking at the folder failed");
            }
        }
    }

    /// Starts a watch of table `name` (folder `path`, rows of `schema`).
    pub(crate) async fn watch(
        self: &Arc<Self>,
        name: &str,
        path: PathBuf,
        schema: TableSchema,
        op: OpWatch,
    ) -> Result<ChangeStream> {
        let w = {
            let mut tables = self.tables.lock().unwrap_or_else(|p| p.into_inner());
            let fresh = !tables.contains_key(name);
            let w = tables
                .entry(name.to_string())
                .or_insert_with(|| {
                    Arc::new(Watched {
                        name: name.to_string(),
                        path,
                        schema: Mutex::new(schema.clone()),
                        log: ChangeLog::new(BTreeMap::new(), HISTORY),
                        files: tokio::sync::Mutex::new(HashMap::new()),
                    })
                })
                .clone();
            if fresh {
                tokio::spawn(poll(Arc::downgrade(self), Arc::downgrade(&w)));
            }
            *w.schema.lock().unwrap_or_else(|p| p.into_inner()) = schema;
            w
        };
        // What is there now is the state (the first time: before any watcher subscribed, so it
        // is no change anybody is told of).
        refresh(&w).await?;
        Ok(w.log.watch("", &op))
    }
}

/// Looks at a watched table when inotify tells of a change in its folder, and every interval,
/// while it has watchers, until the binding is gone.
async fn poll(watches: Weak<Watches>, watched: Weak<Watched>) {
    let wake = Arc::new(tokio::sync::Notify::new());
    let _inotify = watched.upgrade().and_then(|w| inotify(&w, wake.clone()));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(INTERVAL) => {}
            _ = wake.notified() => tokio::time::sleep(SETTLE).await,
        }
        let (Some(_watches), Some(w)) = (watches.upgrade(), watched.upgrade()) else {
            return;
        };
        if w.log.watchers() == 0 {
            continue;
        }
        if let Err(e) = refresh(&w).await {
            // Nothing is lost: the next look tells what changed meanwhile.
            tracing::warn!(table = %w.name, error = %e, "files watch: looking at the folder failed");
        }
    }
}

/// An inotify watch on the table's folder that wakes `wake` on any change (not on reads:
/// looking at the folder opens it). `None` where the folder cannot be watched: the interval
/// alone then finds the changes.
fn inotify(w: &Watched, wake: Arc<tokio::sync::Notify>) -> Option<notify::RecommendedWatcher> {
    use notify::Watcher;
    let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
        if !matches!(
            e,
            Ok(notify::Event {
                kind: notify::EventKind::Access(_),
                ..
            })
        ) {
            wake.notify_one();
        }
    })
    .ok()?;
    match watcher.watch(&w.path, notify::RecursiveMode::Recursive) {
        Ok(()) => Some(watcher),
        Err(e) => {
            tracing::debug!(table = %w.name, error = %e, "files watch: no inotify; the folder is looked at every 200 ms");
            None
        }
    }
}

/// Lists the table's files and records the rows of those that came, went or changed.
async fn refresh(w: &Arc<Watched>) -> Result<()> {
    let mut files = w.files.lock().await;
    let schema = w.schema.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let (name, path) = (w.name.clone(), w.path.clone());
    let seen: HashMap<PathBuf, (u64, Option<SystemTime>)> =
        files.iter().map(|(p, (s, m, _))| (p.clone(), (*s, *m))).collect();
    let (listed, read) = blocking(move || {
        let listed: Vec<(PathBuf, Format, u64, Option<SystemTime>)> = match data_files(&path, &name) {
            Ok(list) => list
                .into_iter()
                .filter_map(|(p, f)| {
                    let m = std::fs::metadata(&p).ok()?;
                    Some((p, f, m.len(), m.modified().ok()))
                })
                .collect(),
            // The table is gone: every row with it.
            Err(e) if e.kind() == bindery_core::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(e),
        };
        let mut read = Vec::new();
        for (p, f, size, modified) in &listed {
            if seen.get(p) == Some(&(*size, *modified)) {
                continue;
            }
            read.push((p.clone(), *size, *modified, rows_of(&name, &schema, p, *f)?));
        }
        Ok((listed, read))
    })
    .await?;
    // Files gone (or rewritten): their keys not in them any more are deleted.
    let now: std::collections::HashSet<&PathBuf> = listed.iter().map(|(p, ..)| p).collect();
    let gone: Vec<PathBuf> = files.keys().filter(|p| !now.contains(p)).cloned().collect();
    for p in gone {
        if let Some((_, _, keys)) = files.remove(&p) {
            for k in keys {
                w.log.record_row(&k, None);
            }
        }
    }
    for (p, size, modified, rows) in read {
        let gen = p
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let gen = format!(
            "{gen}@{}",
            modified
                .and_then(|m| m.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |d| d.as_nanos())
        );
        let keys: Vec<String> = rows.iter().map(|(k, _)| k.clone()).collect();
        if let Some((_, _, old)) = files.remove(&p) {
            let kept: std::collections::HashSet<&String> = keys.iter().collect();
            for k in old.iter().filter(|k| !kept.contains(k)) {
                w.log.record_row(k, None);
            }
        }
        // (A row read again unchanged is no change: the log compares rows.)
        for (k, row) in rows {
            w.log.record_row(&k, Some((gen.clone(), row)));
        }
        files.insert(p, (size, modified, keys));
    }
    Ok(())
}

/// A file's rows as (key, row JSON).
fn rows_of(
    table: &str,
    schema: &TableSchema,
    path: &std::path::Path,
    format: Format,
) -> Result<Vec<(String, String)>> {
    let plan = Plan::new(
        table,
        schema.clone(),
        vec![(path.to_path_buf(), format)],
        &OpRead::default(),
    )?;
    let mut texts = Vec::new();
    plan.each(|batch| {
        texts.extend(row_texts(&batch)?);
        Ok(())
    })?;
    let file = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok(texts
        .into_iter()
        .enumerate()
        .map(|(i, row)| {
            let key = if schema.key.is_empty() {
                format!("{file}#{i}")
            } else {
                let v: serde_json::Value = serde_json::from_str(&row).unwrap_or_default();
                let part = |k: &String| match &v[k.as_str()] {
                    serde_json::Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                schema.key.iter().map(part).collect::<Vec<_>>().join("/")
            };
            (key, row)
        })
        .collect())
}
