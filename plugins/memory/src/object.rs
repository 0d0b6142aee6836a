//! The memory driver's objects: a map of reference-counted buffers per binding.

use bindery_core::Connect;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::SystemTime;

use bindery_core::watch::HISTORY;
use bindery_core::{
    async_trait, shape_listing, Bytes, Capability, ChangeLog, ChangeStream, Error, GetResponse, Instance,
    ListEntry, ListStream, ObjectDriver, ObjectMeta, OpGet, OpList, OpPut, OpStat, OpTag, OpVersions,
    OpWatch, Options, PutBody, Result, Revision, Tag,
};
use futures::stream::{self, StreamExt};

use crate::error::no_such_object;
use crate::versions::Versions;
use crate::MemoryDriver;

/// An object: its data and what is known of it.
#[derive(Clone)]
pub(crate) struct Stored {
    pub(crate) data: Bytes,
    pub(crate) meta: ObjectMeta,
}

/// One connected binding's objects.
pub struct MemoryStore {
    objects: RwLock<BTreeMap<String, Stored>>,
    /// The binding's writes so far: each put's generation, and each write's revision.
    generation: AtomicU64,
    /// The changes, from the first watch on (recorded under the objects' write lock, so in
    /// the order they happen).
    changes: OnceLock<Arc<ChangeLog>>,
    /// The revisions kept and the tags (`None`: the option `versions` is 0).
    versions: Option<Versions>,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(0, Options::new())
    }
}

impl MemoryStore {
    /// A store keeping `keep` revisions of each object (0: none, and no versioning), whose
    /// revisions' author defaults to `defaults["author"]`.
    pub fn new(keep: usize, defaults: Options) -> MemoryStore {
        MemoryStore {
            objects: RwLock::default(),
            generation: AtomicU64::new(0),
            changes: OnceLock::new(),
            versions: (keep > 0).then(|| Versions::new(keep, defaults)),
        }
    }

    /// The binding's versions, or `Unsupported` (the router refuses first; this is for a
    /// caller of the store itself).
    fn versioned(&self) -> Result<&Versions> {
        self.versions
            .as_ref()
            .ok_or_else(|| Error::unsupported("versions (the binding's option `versions` is 0)"))
    }

    /// `path` at revision (or tag) `version`, if it existed then.
    fn at(&self, path: &str, version: &str) -> Result<Option<Stored>> {
        let v = self.versioned()?;
        let rev = v.resolve(version, self.generation.load(Ordering::Acquire))?;
        v.at(path, rev)
    }

    /// The object a get or head reads: the current one, or the one at `version`.
    fn stored(&self, path: &str, version: Option<&str>) -> Result<Option<Stored>> {
        match version {
            None => Ok(self.read().get(path).cloned()),
            Some(v) => self.at(path, v),
        }
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Stored>> {
        // A panic while holding the lock cannot leave a map half-changed: every change is
        // one insert or remove, so a poisoned lock is still consistent.
        self.objects.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Stored>> {
        self.objects.write().unwrap_or_else(|p| p.into_inner())
    }

    fn stat(&self, path: &str, op: &OpStat) -> Result<ObjectMeta> {
        let found = self.stored(path, op.version.as_deref())?;
        op.conditions.check(found.as_ref().map(|s| s.meta.gen.as_str()))?;
        found.map(|s| s.meta).ok_or_else(no_such_object)
    }
}

impl Instance for MemoryStore {
    fn capability(&self) -> Capability {
        Capability {
            versioning: self.versions.is_some(),
            ..MemoryDriver::CAPABILITY
        }
    }

    fn answers_in_place(&self) -> bool {
        true
    }

    fn object(&self) -> Option<&dyn ObjectDriver> {
        Some(self)
    }
}

#[async_trait]
impl ObjectDriver for MemoryStore {
    async fn get(&self, path: &str, op: OpGet) -> Result<GetResponse> {
        let stored = {
            let found = self.stored(path, op.version.as_deref())?;
            if found.is_none() && op.conditions.if_match.is_none() {
                return Err(no_such_object());
            }
            op.conditions.check(found.as_ref().map(|s| s.meta.gen.as_str()))?;
            found.ok_or_else(no_such_object)?
        };
        let data = match op.range {
            Some(r) => {
                let range = r.resolve(stored.meta.size)?;
                stored.data.slice(range.start as usize..range.end as usize)
            }
            None => stored.data,
        };
        Ok(GetResponse {
            meta: stored.meta,
            body: stream::once(async move { Ok(data) }).boxed(),
        })
    }

    async fn put(&self, path: &str, body: PutBody, op: OpPut) -> Result<ObjectMeta> {
        let signature = match &self.versions {
            Some(v) => Some(v.signature(&op.options, || format!("put {path}"))?),
            None => None,
        };
        let data = body.collect().await?;
        let mut objects = self.write();
        op.conditions
            .check(objects.get(path).map(|s| s.meta.gen.as_str()))?;
        let gen = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let meta = ObjectMeta {
            path: path.to_string(),
            size: data.len() as u64,
            gen: gen.to_string(),
            modified: Some(SystemTime::now()),
            metadata: op.metadata,
        };
        let stored = Stored {
            data,
            meta: meta.clone(),
        };
        if let (Some(v), Some(signature)) = (&self.versions, signature) {
            v.record(path, gen, Some(stored.clone()), signature);
        }
        objects.insert(path.to_string(), stored);
        if let Some(log) = self.changes.get() {
            log.record(path, Some((meta.gen.clone(), meta.size)));
        }
        Ok(meta)
    }

    async fn head(&self, path: &str, op: OpStat) -> Result<ObjectMeta> {
        self.stat(path, &op)
    }

    async fn delete(&self, path: &str, op: OpStat) -> Result<()> {
        let signature = match &self.versions {
            Some(v) => Some(v.signature(&op.options, || format!("delete {path}"))?),
            None => None,
        };
        let mut objects = self.write();
        op.conditions
            .check(objects.get(path).map(|s| s.meta.gen.as_str()))?;
        if objects.remove(path).is_some() {
            if let (Some(v), Some(signature)) = (&self.versions, signature) {
                let rev = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
                v.record(path, rev, None, signature);
            }
        }
        if let Some(log) = self.changes.get() {
            log.record(path, None);
        }
        Ok(())
    }

    async fn list(&self, prefix: &str, op: OpList) -> Result<ListStream> {
        if let Some(version) = &op.version {
            let v = self.versioned()?;
            let rev = v.resolve(version, self.generation.load(Ordering::Acquire))?;
            let entries: Vec<Result<ListEntry>> = v
                .list_at(prefix, rev)?
                .into_iter()
                .map(|m| Ok(ListEntry::Object(m)))
                .collect();
            return Ok(shape_listing(stream::iter(entries).boxed(), prefix, &op));
        }
        let from = match &op.start_after {
            Some(s) if s.as_str() > prefix => s.clone(),
            _ => prefix.to_string(),
        };
        let entries: Vec<Result<ListEntry>> = self
            .read()
            .range(from..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(_, s)| {
                Ok(ListEntry::Object(ObjectMeta {
                    metadata: BTreeMap::new(),
                    ..s.meta.clone()
                }))
            })
            .collect();
        Ok(shape_listing(stream::iter(entries).boxed(), prefix, &op))
    }

    async fn watch(&self, prefix: &str, op: OpWatch) -> Result<ChangeStream> {
        let log = self.changes.get_or_init(|| {
            // Under the write lock: no put lands between the state taken and the log.
            let objects = self.write();
            let state = objects
                .iter()
                .map(|(p, s)| (p.clone(), (s.meta.gen.clone(), s.meta.size)))
                .collect();
            ChangeLog::new(state, HISTORY)
        });
        Ok(log.watch(prefix, &op))
    }

    async fn versions(&self, path: &str, op: OpVersions) -> Result<Vec<Revision>> {
        self.versioned()?.versions(path, &op)
    }

    async fn tags(&self, op: OpTag) -> Result<Vec<Tag>> {
        self.versioned()?
            .tags(op, self.generation.load(Ordering::Acquire))
    }
}
