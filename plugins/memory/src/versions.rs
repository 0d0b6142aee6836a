//! The memory driver's revisions: the last `versions` states of each object (its data shared
//! with the current object, never copied), the binding's tags, and the reads at a revision.
//!
//! A revision's id is the binding's write counter after it (the same number as the object's
//! generation), so revisions of different objects are ordered, and `get(path).version(n)`
//! reads the object as it was after the binding's `n`-th write. An object's revisions older
//! than the last `versions` are dropped; a read at a revision where what the object was is no
//! longer known answers `InvalidInput` saying so.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::SystemTime;

use bindery_core::version::{check_tag_name, OpTag, OpVersions, Revision, Signature, Tag, TagAction};
use bindery_core::{Error, ErrorKind, ObjectMeta, Options, Result};

use crate::object::Stored;

/// One revision of one object: its state after it (`None`: deleted) and who made it why.
struct Rev {
    rev: u64,
    time: SystemTime,
    signature: Signature,
    stored: Option<Stored>,
}

/// What is kept of one object.
#[derive(Default)]
struct Kept {
    /// Oldest first.
    revs: VecDeque<Rev>,
    /// Whether older revisions were dropped (what the object was before the oldest kept one
    /// is no longer known).
    dropped: bool,
}

#[derive(Default)]
struct History {
    paths: BTreeMap<String, Kept>,
    tags: BTreeMap<String, Tag>,
}

/// A binding's revisions and tags.
pub(crate) struct Versions {
    keep: usize,
    defaults: Options,
    history: Mutex<History>,
}

impl Versions {
    /// Revisions of a binding keeping `keep` per object, signed by `defaults` where a request
    /// names no author.
    pub(crate) fn new(keep: usize, defaults: Options) -> Versions {
        Versions {
            keep,
            defaults,
            history: Mutex::new(History::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, History> {
        // Every change is whole before the lock is released: a poisoned lock is consistent.
        self.history.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The signature of a write with `options` (`what`: its default message).
    pub(crate) fn signature(&self, options: &Options, what: impl FnOnce() -> String) -> Result<Signature> {
        Signature::of(options, &self.defaults, what)
    }

    /// Records revision `rev` of `path` (under the objects' write lock, so in order).
    pub(crate) fn record(&self, path: &str, rev: u64, stored: Option<Stored>, signature: Signature) {
        let mut history = self.lock();
        let kept = history.paths.entry(path.to_string()).or_default();
        kept.revs.push_back(Rev {
            rev,
            time: SystemTime::now(),
            signature,
            stored,
        });
        while kept.revs.len() > self.keep {
            kept.revs.pop_front();
            kept.dropped = true;
        }
    }

    /// The revision `version` names: a revision number up to `head` (the binding's last
    /// write), or a tag's name.
    pub(crate) fn resolve(&self, version: &str, head: u64) -> Result<u64> {
        if let Some(tag) = self.lock().tags.get(version) {
            return Ok(tag.revision.parse().unwrap_or(0));
        }
        match version.parse::<u64>() {
            Ok(n) if n <= head => Ok(n),
            _ => Err(Error::invalid_input(format!(
                "no revision or tag '{version}' (revisions here are the numbers 0 to {head}, the \
                 binding's writes so far)"
            ))),
        }
    }

    /// `path` as it was at revision `rev` (`None`: it did not exist).
    pub(crate) fn at(&self, path: &str, rev: u64) -> Result<Option<Stored>> {
        let history = self.lock();
        match history.paths.get(path) {
            None => Ok(None),
            Some(kept) => state_at(path, kept, rev, self.keep),
        }
    }

    /// The objects under `prefix` at revision `rev`, in path order.
    pub(crate) fn list_at(&self, prefix: &str, rev: u64) -> Result<Vec<ObjectMeta>> {
        let history = self.lock();
        let mut out = Vec::new();
        for (path, kept) in history.paths.range(prefix.to_string()..) {
            if !path.starts_with(prefix) {
                break;
            }
            if let Some(s) = state_at(path, kept, rev, self.keep)? {
                out.push(ObjectMeta {
                    metadata: BTreeMap::new(),
                    ..s.meta
                });
            }
        }
        Ok(out)
    }

    /// `path`'s revisions, newest first.
    pub(crate) fn versions(&self, path: &str, op: &OpVersions) -> Result<Vec<Revision>> {
        let after = op
            .start_after
            .as_deref()
            .map(|id| {
                id.parse::<u64>()
                    .map_err(|_| Error::invalid_input(format!("start_after '{id}' is not a revision number")))
            })
            .transpose()?;
        let history = self.lock();
        let Some(kept) = history.paths.get(path) else {
            return Ok(Vec::new());
        };
        Ok(kept
            .revs
            .iter()
            .rev()
            .filter(|r| after.is_none_or(|a| r.rev < a))
            .take(op.limit.map_or(usize::MAX, |n| n as usize))
            .map(|r| Revision {
                id: r.rev.to_string(),
                time: Some(r.time),
                author: r.signature.author.clone(),
                message: r.signature.message.clone(),
                size: r.stored.as_ref().map_or(0, |s| s.meta.size),
                gen: r.stored.as_ref().map(|s| s.meta.gen.clone()).unwrap_or_default(),
                deleted: r.stored.is_none(),
            })
            .collect())
    }

    /// A tags request; `head` is the binding's last write (what a tag without a revision
    /// names).
    pub(crate) fn tags(&self, op: OpTag, head: u64) -> Result<Vec<Tag>> {
        let missing = |name: &str| Error::not_found(format!("no tag '{name}'"));
        match op.action {
            TagAction::Create(mut tag) => {
                check_tag_name(&tag.name)?;
                let revision = if tag.revision.is_empty() {
                    head
                } else {
                    self.resolve(&tag.revision, head)?
                };
                let signature = self.signature(&op.options, String::new)?;
                let mut history = self.lock();
                if history.tags.contains_key(&tag.name) {
                    return Err(Error::new(
                        ErrorKind::AlreadyExists,
                        format!("tag '{}' exists", tag.name),
                    ));
                }
                tag.revision = revision.to_string();
                if tag.author.is_empty() {
                    tag.author = signature.author;
                }
                tag.time = Some(SystemTime::now());
                history.tags.insert(tag.name.clone(), tag.clone());
                Ok(vec![tag])
            }
            TagAction::Get(name) => Ok(vec![self
                .lock()
                .tags
                .get(&name)
                .cloned()
                .ok_or_else(|| missing(&name))?]),
            TagAction::Update {
                name,
                rename,
                description,
            } => {
                if let Some(new) = &rename {
                    check_tag_name(new)?;
                }
                let mut history = self.lock();
                if let Some(new) = rename.as_ref().filter(|n| **n != name) {
                    if history.tags.contains_key(new) {
                        return Err(Error::new(
                            ErrorKind::AlreadyExists,
                            format!("tag '{new}' exists"),
                        ));
                    }
                }
                let mut tag = history.tags.remove(&name).ok_or_else(|| missing(&name))?;
                if let Some(new) = rename {
                    tag.name = new;
                }
                if let Some(d) = description {
                    tag.description = d;
                }
                history.tags.insert(tag.name.clone(), tag.clone());
                Ok(vec![tag])
            }
            TagAction::Delete(name) => {
                let tag = self.lock().tags.remove(&name).ok_or_else(|| missing(&name))?;
                Ok(vec![tag])
            }
            TagAction::List => Ok(self.lock().tags.values().cloned().collect()),
        }
    }
}

/// What `kept` says `path` was at `rev`.
fn state_at(path: &str, kept: &Kept, rev: u64, keep: usize) -> Result<Option<Stored>> {
    match kept.revs.iter().rev().find(|r| r.rev <= rev) {
        Some(r) => Ok(r.stored.clone()),
        None if kept.dropped => Err(Error::invalid_input(format!(
            "what '{path}' was at revision {rev} is no longer kept (the binding keeps the last {keep} \
             revisions of each object: its option `versions`)"
        ))),
        None => Ok(None),
    }
}
