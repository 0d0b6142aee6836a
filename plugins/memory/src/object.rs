//! The memory driver's objects: a map of reference-counted buffers per binding.

use bindery_core::Connect;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::SystemTime;

use bindery_core::watch::HISTORY;
use bindery_core::{
    async_trait, shape_listing, Bytes, Capability, ChangeLog, ChangeStream, GetResponse, Instance, ListEntry,
    ListStream, ObjectDriver, ObjectMeta, OpGet, OpList, OpPut, OpStat, OpWatch, PutBody, Result,
};
use futures::stream::{self, StreamExt};

use crate::error::no_such_object;
use crate::MemoryDriver;

#[derive(Clone)]
struct Stored {
    data: Bytes,
    meta: ObjectMeta,
}

/// One connected binding's objects.
#[derive(Default)]
pub struct MemoryStore {
    objects: RwLock<BTreeMap<String, Stored>>,
    generation: AtomicU64,
    /// The changes, from the first watch on (recorded under the objects' write lock, so in
    /// the order they happen).
    changes: OnceLock<Arc<ChangeLog>>,
}

impl MemoryStore {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, BTreeMap<String, Stored>> {
        // A panic while holding the lock cannot leave a map half-changed: every change is
        // one insert or remove, so a poisoned lock is still consistent.
        self.objects.read().unwrap_or_else(|p| p.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, BTreeMap<String, Stored>> {
        self.objects.write().unwrap_or_else(|p| p.into_inner())
    }

    fn stat(&self, path: &str, op: &OpStat) -> Result<ObjectMeta> {
        let objects = self.read();
        let found = objects.get(path);
        op.conditions.check(found.map(|s| s.meta.gen.as_str()))?;
        found.map(|s| s.meta.clone()).ok_or_else(no_such_object)
    }
}

impl Instance for MemoryStore {
    fn capability(&self) -> Capability {
        MemoryDriver::CAPABILITY
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
            let objects = self.read();
            let found = objects.get(path);
            if found.is_none() && op.conditions.if_match.is_none() {
                return Err(no_such_object());
            }
            op.conditions.check(found.map(|s| s.meta.gen.as_str()))?;
            found.cloned().ok_or_else(no_such_object)?
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
        let data = body.collect().await?;
        let mut objects = self.write();
        op.conditions
            .check(objects.get(path).map(|s| s.meta.gen.as_str()))?;
        let gen = self.generation.fetch_add(1, Ordering::Relaxed) + 1;
        let meta = ObjectMeta {
            path: path.to_string(),
            size: data.len() as u64,
            gen: gen.to_string(),
            modified: Some(SystemTime::now()),
            metadata: op.metadata,
        };
        objects.insert(
            path.to_string(),
            Stored {
                data,
                meta: meta.clone(),
            },
        );
        if let Some(log) = self.changes.get() {
            log.record(path, Some((meta.gen.clone(), meta.size)));
        }
        Ok(meta)
    }

    async fn head(&self, path: &str, op: OpStat) -> Result<ObjectMeta> {
        self.stat(path, &op)
    }

    async fn delete(&self, path: &str, op: OpStat) -> Result<()> {
        let mut objects = self.write();
        op.conditions
            .check(objects.get(path).map(|s| s.meta.gen.as_str()))?;
        objects.remove(path);
        if let Some(log) = self.changes.get() {
            log.record(path, None);
        }
        Ok(())
    }

    async fn list(&self, prefix: &str, op: OpList) -> Result<ListStream> {
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
}
