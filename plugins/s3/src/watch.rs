//! Watch on S3: the objects under a watched prefix are listed every `watch.interval_ms`
//! (while anybody watches that prefix) and each listing is diffed by ETag against what was
//! known, so puts and deletes by any client (the AWS CLI, another SDK, another bindery) are
//! seen; this binding's own puts and deletes are recorded at once.
//!
//! What a listing diff can and cannot tell: changes between two listings collapse (an object
//! put twice within one interval is one `updated`; one put and deleted within it is not seen
//! at all), and the changes of one listing come in path order, not in the order they were
//! made. Each watched prefix keeps its history in process ([`ChangeLog`]); a cursor from
//! before a restart resyncs. A listing runs under the prefix's lock, which this binding's own
//! writes take to record theirs, so a listing begun before a write never undoes it.
//!
//! Bucket notifications (S3 event notifications, MinIO's `ListenBucketNotification`) would
//! tell changes sooner and without listing; they need server set-up (a queue, a webhook) and
//! are not used.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime};

use bindery_core::watch::{ChangeLog, ChangeStream, OpWatch, HISTORY};
use bindery_core::Result;

use crate::error::map_sdk_error;
use crate::object::{gen_of, Inner};

/// One watched prefix: its log, and the lock its listings and this binding's writes take
/// (which guards what the listings saw of objects listed without an ETag).
struct Watched {
    prefix: String,
    log: Arc<ChangeLog>,
    lock: tokio::sync::Mutex<Unlabelled>,
}

/// Objects a server listed without an ETag (s3s-fs does): path → (size, last modified,
/// the ETag a HEAD gave). A HEAD is made again only when size or time changes.
type Unlabelled = HashMap<String, (u64, Option<SystemTime>, String)>;

/// A binding's watched prefixes.
#[derive(Default)]
pub(crate) struct Watches {
    prefixes: Mutex<HashMap<String, Arc<Watched>>>,
}

impl Watches {
    fn get(&self, prefix: &str) -> Option<Arc<Watched>> {
        self.lock().get(prefix).cloned()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Watched>>> {
        self.prefixes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records what this binding did to `path` in every watched prefix holding it.
    pub(crate) async fn record(&self, path: &str, now: Option<(String, u64)>) {
        let holding: Vec<Arc<Watched>> = self
            .lock()
            .values()
            .filter(|w| path.starts_with(&w.prefix))
            .cloned()
            .collect();
        for w in holding {
            let _listing = w.lock.lock().await;
            w.log.record(path, now.clone());
        }
    }
}

/// Starts a watch of `prefix`: the first of a prefix lists it (the state changes are told
/// against) and starts its poller; a later one lists it again first, so a watch from now
/// is not told of what changed before it began.
pub(crate) async fn watch(inner: &Arc<Inner>, prefix: &str, op: OpWatch) -> Result<ChangeStream> {
    let watched = match inner.watches.get(prefix) {
        Some(w) => {
            refresh(inner, &w).await?;
            w
        }
        None => {
            let mut unlabelled = Unlabelled::new();
            let objects = listing(inner, prefix, &mut unlabelled).await?;
            let fresh = Arc::new(Watched {
                prefix: prefix.to_string(),
                log: ChangeLog::new(objects, HISTORY),
                lock: tokio::sync::Mutex::new(unlabelled),
            });
            let w = inner
                .watches
                .lock()
                .entry(prefix.to_string())
                .or_insert_with(|| fresh.clone())
                .clone();
            if Arc::ptr_eq(&w, &fresh) {
                tokio::spawn(poll(Arc::downgrade(inner), Arc::downgrade(&w)));
            } else {
                refresh(inner, &w).await?;
            }
            w
        }
    };
    Ok(watched.log.watch(prefix, &op))
}

/// Lists a watched prefix every interval while it has watchers, until the binding is gone.
async fn poll(inner: Weak<Inner>, watched: Weak<Watched>) {
    loop {
        let Some(interval) = inner.upgrade().map(|i| i.settings.watch_interval) else {
            return;
        };
        tokio::time::sleep(interval).await;
        let (Some(inner), Some(w)) = (inner.upgrade(), watched.upgrade()) else {
            return;
        };
        if w.log.watchers() == 0 {
            continue;
        }
        if let Err(e) = refresh(&inner, &w).await {
            // Nothing is lost: the next listing tells what changed meanwhile.
            tracing::warn!(prefix = %w.prefix, error = %e, "s3 watch: listing failed; retrying");
        }
    }
}

/// Lists the prefix and records how it differs from what the log knows.
async fn refresh(inner: &Inner, w: &Watched) -> Result<()> {
    let mut unlabelled = w.lock.lock().await;
    let now = listing(inner, &w.prefix, &mut unlabelled).await?;
    for (path, state) in &now {
        w.log.record(path, Some(state.clone()));
    }
    for gone in w
        .log
        .paths(&w.prefix)
        .into_iter()
        .filter(|p| !now.contains_key(p))
    {
        w.log.record(&gone, None);
    }
    Ok(())
}

/// Every object under `prefix`: path → (generation, size). An object listed without an ETag
/// gets it from a HEAD when it is new or its size or time changed.
async fn listing(
    inner: &Inner,
    prefix: &str,
    unlabelled: &mut Unlabelled,
) -> Result<BTreeMap<String, (String, u64)>> {
    let mut out = BTreeMap::new();
    let mut heads = Vec::new();
    let mut token = None;
    loop {
        let page = inner
            .client
            .list_objects_v2()
            .bucket(&inner.bucket)
            .prefix(prefix)
            .set_continuation_token(token.take())
            .send()
            .await
            .map_err(|e| map_sdk_error(e, &format!("list '{prefix}' to watch it")))?;
        for o in page.contents() {
            let size = o.size().unwrap_or(0).max(0) as u64;
            let path = o.key().unwrap_or_default().to_string();
            let gen = gen_of(o.e_tag());
            if gen.is_empty() {
                let modified = o.last_modified().and_then(|t| SystemTime::try_from(*t).ok());
                match unlabelled.get(&path) {
                    Some((s, m, gen)) if (*s, *m) == (size, modified) => {
                        out.insert(path, (gen.clone(), size));
                    }
                    _ => heads.push((path, size, modified)),
                }
            } else {
                out.insert(path, (gen, size));
            }
        }
        match page.next_continuation_token() {
            Some(t) if page.is_truncated().unwrap_or(false) => token = Some(t.to_string()),
            _ => break,
        }
    }
    for (path, size, modified) in heads {
        let head = inner
            .client
            .head_object()
            .bucket(&inner.bucket)
            .key(&path)
            .send()
            .await;
        match head {
            Ok(h) => {
                let gen = gen_of(h.e_tag());
                unlabelled.insert(path.clone(), (size, modified, gen.clone()));
                out.insert(path, (gen, size));
            }
            Err(e) => {
                let e = map_sdk_error(e, &format!("head '{path}' to watch it"));
                // Deleted since it was listed: the next listing tells.
                if e.kind() != bindery_core::ErrorKind::NotFound {
                    return Err(e);
                }
            }
        }
    }
    unlabelled.retain(|p, _| out.contains_key(p));
    Ok(out)
}

/// The default interval between listings.
pub(crate) const INTERVAL: Duration = Duration::from_millis(1000);
