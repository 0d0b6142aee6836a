//! Watch on git: the branch's tip is looked at every `watch.interval_ms` (default 500) while
//! anybody watches, and right after each write of this binding; when it moved, the objects of
//! the new tip's tree are compared by blob id with those of the last one seen, so commits
//! made by anyone (the git command line, another process) are reported as the objects they
//! created, changed or deleted.
//!
//! Like a listing diff, it sees states, not commits: several commits between two looks are
//! their net change (the binding's own writes are looked at one by one, so each is a change).
//! The history is kept in process ([`ChangeLog`]): a cursor from before a restart resyncs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;

use bindery_core::watch::{ChangeLog, ChangeStream, OpWatch, HISTORY};
use bindery_core::{blocking, ListEntry, Result};

use crate::repo::Repo;

/// A binding's watch: its log, and the tip its state is of.
pub(crate) struct Watching {
    log: Arc<ChangeLog>,
    /// The tip the log's state is of (`None`: the branch had no commits). Its lock is held
    /// through each look, so two never interleave.
    tip: tokio::sync::Mutex<Option<String>>,
}

/// A binding's watch, made by its first watcher.
#[derive(Default)]
pub(crate) struct Watches {
    watching: Mutex<Option<Arc<Watching>>>,
}

impl Watches {
    fn get(&self) -> Option<Arc<Watching>> {
        self.watching.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// After a write of this binding: its watchers see it at once.
    pub(crate) async fn wrote(&self, repo: &Arc<Repo>) {
        if let Some(w) = self.get() {
            if let Err(e) = refresh(repo, &w).await {
                tracing::warn!(error = %e, "git watch: looking at the branch failed");
            }
        }
    }

    /// Starts a watch of the objects under `prefix`; the first one takes the state and starts
    /// the poller (every `interval`), a later one looks at the branch again first (so a watch
    /// from now is not told of what changed before it began).
    pub(crate) async fn watch(
        self: &Arc<Self>,
        repo: &Arc<Repo>,
        prefix: &str,
        op: OpWatch,
        interval: Duration,
    ) -> Result<ChangeStream> {
        let w = match self.get() {
            Some(w) => {
                refresh(repo, &w).await?;
                w
            }
            None => {
                let r = repo.clone();
                let (tip, objects) = blocking(move || state(&r)).await?;
                let fresh = Arc::new(Watching {
                    log: ChangeLog::new(objects, HISTORY),
                    tip: tokio::sync::Mutex::new(tip),
                });
                let w = self
                    .watching
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get_or_insert_with(|| fresh.clone())
                    .clone();
                if Arc::ptr_eq(&w, &fresh) {
                    tokio::spawn(poll(Arc::downgrade(self), Arc::downgrade(repo), interval));
                } else {
                    refresh(repo, &w).await?;
                }
                w
            }
        };
        Ok(w.log.watch(prefix, &op))
    }
}

/// Every object of a tree: path → (blob id, size).
type Objects = BTreeMap<String, (String, u64)>;

/// The branch's tip and every object of its tree.
fn state(repo: &Repo) -> Result<(Option<String>, Objects)> {
    let tip = repo.tip_id()?;
    let listed = match &tip {
        Some(t) => repo.list("", Some(t))?,
        None => Vec::new(),
    };
    let objects = listed
        .into_iter()
        .filter_map(|e| match e {
            ListEntry::Object(m) => Some((m.path, (m.gen, m.size))),
            ListEntry::Prefix(_) => None,
        })
        .collect();
    Ok((tip, objects))
}

/// Looks at the branch every interval while there are watchers, until the binding is gone.
async fn poll(watches: Weak<Watches>, repo: Weak<Repo>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let (Some(watches), Some(repo)) = (watches.upgrade(), repo.upgrade()) else {
            return;
        };
        let Some(w) = watches.get() else {
            return;
        };
        if w.log.watchers() == 0 {
            continue;
        }
        if let Err(e) = refresh(&repo, &w).await {
            // Nothing is lost: the next look compares with the same state.
            tracing::warn!(error = %e, "git watch: looking at the branch failed");
        }
    }
}

/// When the tip moved: records every object the new tip has that differs (created or
/// updated) and every one it lacks (deleted).
async fn refresh(repo: &Arc<Repo>, w: &Watching) -> Result<()> {
    let mut seen = w.tip.lock().await;
    let r = repo.clone();
    let now = blocking(move || r.tip_id()).await?;
    if now == *seen {
        return Ok(());
    }
    let r = repo.clone();
    let (tip, objects) = blocking(move || state(&r)).await?;
    for path in w.log.paths("") {
        if !objects.contains_key(&path) {
            w.log.record(&path, None);
        }
    }
    for (path, now) in objects {
        w.log.record(&path, Some(now));
    }
    *seen = tip;
    Ok(())
}
