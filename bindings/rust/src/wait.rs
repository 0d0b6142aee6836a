//! Wait groups: `do_async(&wg)` now, `ctx.wait(&wg)` later.

use std::sync::Mutex;

use bindery_core::{Error, ListEntry, ObjectMeta, ResponseMessage, Result};

use crate::frames::Frames;
use crate::object::ObjectData;

/// What a request of a wait group produced.
#[derive(Debug, Clone)]
pub enum Done {
    /// A put or head: the object's metadata.
    Meta(ObjectMeta),
    /// A get: the object.
    Object(ObjectData),
    /// A delete.
    Deleted,
    /// A listing.
    Listed(Vec<ListEntry>),
    /// A publish: where each message went, `(shard, position)`.
    Published(Vec<(u32, u64)>),
    /// A stream's shards.
    Shards(Vec<bindery_core::ShardInfo>),
    /// A stream create, update, delete or checkpoint; a table create, drop or alter.
    Applied,
    /// A table write: how many rows it wrote.
    Written(u64),
    /// A table read: its batches.
    Batches(Vec<bindery_core::arrow::array::RecordBatch>),
    /// A table's schema.
    Schema(bindery_core::TableSchema),
    /// A generic call's answer.
    Called(crate::generic::CallOutput),
    /// An object's revisions.
    Revisions(Vec<bindery_core::Revision>),
    /// A tag (`tag_create`, `tag_get`, `tag_update`, `tag_delete`).
    Tag(bindery_core::Tag),
    /// Tags (`tags`).
    Tags(Vec<bindery_core::Tag>),
    /// A diff.
    Diff(bindery_core::Diff),
}

pub(crate) type Finish = fn(Vec<ResponseMessage>) -> Result<Done>;

struct Pending {
    frames: Frames,
    finish: Finish,
}

/// A group of requests sent with `do_async`, waited for together.
///
/// ```no_run
/// # fn main() -> bindery::Result<()> {
/// let ctx = bindery::Context::open("function.yaml")?;
/// let wg = bindery::WaitGroup::new();
/// for i in 0..10 {
///     ctx.object().put(format!("obj://part-{i}"), format!("data {i}")).do_async(&wg)?;
/// }
/// let waited = ctx.wait(&wg);
/// assert_eq!(waited.results.len(), 10);
/// waited.into_result()?;
/// # Ok(()) }
/// ```
#[derive(Default)]
pub struct WaitGroup {
    pending: Mutex<Vec<Pending>>,
}

/// The results of every request of a group, in the order they were sent.
#[derive(Debug)]
pub struct Waited {
    /// One result per request.
    pub results: Vec<Result<Done>>,
}

impl Waited {
    /// The first error, if any request failed.
    pub fn first_error(&self) -> Option<&Error> {
        self.results.iter().find_map(|r| r.as_ref().err())
    }

    /// Every result, or the first error.
    pub fn into_result(self) -> Result<Vec<Done>> {
        self.results.into_iter().collect()
    }
}

impl WaitGroup {
    /// An empty group.
    pub fn new() -> WaitGroup {
        WaitGroup::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Pending>> {
        self.pending.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add(&self, frames: Frames, finish: Finish) {
        self.lock().push(Pending { frames, finish });
    }

    /// How many requests are still to be waited for.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no request is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Waits (blocking) for every request sent so far; the group is empty afterwards.
    pub fn wait_blocking(&self) -> Waited {
        let pending = std::mem::take(&mut *self.lock());
        let results = pending
            .into_iter()
            .map(|p| p.frames.collect_blocking().and_then(|f| (p.finish)(f)))
            .collect();
        Waited { results }
    }

    /// Waits (async) for every request sent so far; the group is empty afterwards.
    pub async fn wait(&self) -> Waited {
        let pending = std::mem::take(&mut *self.lock());
        let mut results = Vec::with_capacity(pending.len());
        for p in pending {
            let frames = p.frames.collect_async().await;
            results.push(frames.and_then(|f| (p.finish)(f)));
        }
        Waited { results }
    }
}
