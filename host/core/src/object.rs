//! The object kind: typed operations, responses and the driver trait.

use std::collections::{BTreeMap, VecDeque};
use std::time::SystemTime;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use futures::stream::BoxStream;
use futures::StreamExt;

use crate::error::{Error, ErrorKind, Result};
use crate::request::Options;
use crate::version::{Diff, OpDiff, OpRevert, OpTag, OpVersions, Revision, Tag};

/// A stream of byte chunks; each chunk is reference-counted and never copied on its way.
pub type ByteStream = BoxStream<'static, Result<Bytes>>;
/// A stream of listing entries.
pub type ListStream = BoxStream<'static, Result<ListEntry>>;

/// A byte range of an object: `offset` and, if given, `length` (to the end otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// The first byte.
    pub offset: u64,
    /// How many bytes; `None` reads to the end.
    pub length: Option<u64>,
}

impl ByteRange {
    /// The range clamped to an object of `size` bytes, as `start..end`.
    /// A range that starts past the end is `InvalidInput` (HTTP 416).
    pub fn resolve(&self, size: u64) -> Result<std::ops::Range<u64>> {
        if self.offset > size || (self.offset == size && size > 0 && self.length != Some(0)) {
            return Err(Error::invalid_input(format!(
                "range starts at byte {} but the object has {size} bytes",
                self.offset
            )));
        }
        let end = match self.length {
            Some(len) => self.offset.saturating_add(len).min(size),
            None => size,
        };
        Ok(self.offset..end)
    }
}

/// Preconditions on an object's generation, as set by `.condition(key, value)`.
///
/// Keys: `if-match` (the object must exist with this generation; `*` any generation) and
/// `if-none-match` (`*`: the object must not exist; a generation: must not have it).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Conditions {
    /// `if-match`.
    pub if_match: Option<String>,
    /// `if-none-match`.
    pub if_none_match: Option<String>,
}

impl Conditions {
    /// The condition keys accepted.
    pub const KEYS: [&'static str; 2] = ["if-match", "if-none-match"];

    /// Sets a condition by key (case-insensitive; `_` and `-` alike).
    pub fn set(&mut self, key: &str, value: impl Into<String>) -> Result<()> {
        let norm = key.to_ascii_lowercase().replace('_', "-");
        match norm.as_str() {
            "if-match" => self.if_match = Some(value.into()),
            "if-none-match" => self.if_none_match = Some(value.into()),
            _ => {
                return Err(Error::invalid_input(format!(
                    "unknown condition '{key}'; known conditions: {}",
                    Self::KEYS.join(", ")
                )));
            }
        }
        Ok(())
    }

    /// Whether no condition is set.
    pub fn is_empty(&self) -> bool {
        self.if_match.is_none() && self.if_none_match.is_none()
    }

    /// Checks the conditions against the current generation (`None`: the object is absent).
    /// A driver that holds the object under a lock calls this to apply conditions atomically.
    pub fn check(&self, current: Option<&str>) -> Result<()> {
        if let Some(want) = &self.if_match {
            match current {
                None => {
                    return Err(Error::condition_failed(format!(
                        "if-match '{want}': the object does not exist"
                    )));
                }
                Some(gen) if want != "*" && want != gen => {
                    return Err(Error::condition_failed(format!(
                        "if-match '{want}': the object's generation is '{gen}'"
                    )));
                }
                _ => {}
            }
        }
        if let Some(not) = &self.if_none_match {
            match current {
                Some(_) if not == "*" => {
                    return Err(Error::new(
                        ErrorKind::ConditionFailed,
                        "if-none-match '*': the object already exists",
                    ));
                }
                Some(gen) if not == gen => {
                    return Err(Error::condition_failed(format!(
                        "if-none-match '{not}': the object has that generation"
                    )));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What is known of an object without its data.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The object's path, relative to the binding's root (the driver's view; the SDK strips
    /// the spec prefix).
    pub path: String,
    /// The object's full size in bytes.
    pub size: u64,
    /// The generation: changes on every write; what `if-match` compares with.
    pub gen: String,
    /// When the object was last written, when the backend knows.
    pub modified: Option<SystemTime>,
    /// User metadata given at put.
    pub metadata: BTreeMap<String, String>,
}

/// One entry of a listing: an object, or a common prefix when listing with a delimiter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListEntry {
    /// An object (its user metadata is not filled in by listings).
    Object(ObjectMeta),
    /// A common prefix, ending with the delimiter.
    Prefix(String),
}

impl ListEntry {
    /// The entry's path.
    pub fn path(&self) -> &str {
        match self {
            ListEntry::Object(m) => &m.path,
            ListEntry::Prefix(p) => p,
        }
    }
}

/// `get` options.
#[derive(Debug, Clone, Default)]
pub struct OpGet {
    /// A byte range; the whole object when `None`.
    pub range: Option<ByteRange>,
    /// Preconditions.
    pub conditions: Conditions,
    /// The caller takes the whole answer at once (it awaits the get rather than reading it
    /// as a stream), so the driver may answer in one buffer instead of bounded chunks, saving
    /// the copy that joins them.
    pub whole: bool,
    /// Read the object as it was at this revision or tag (see [`crate::version`]); as it is
    /// now when `None`.
    pub version: Option<String>,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// `put` options (the data travels beside them as a [`PutBody`]).
#[derive(Debug, Clone, Default)]
pub struct OpPut {
    /// Preconditions, applied atomically with the write.
    pub conditions: Conditions,
    /// User metadata to store with the object.
    pub metadata: BTreeMap<String, String>,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// `head` and `del` options.
#[derive(Debug, Clone, Default)]
pub struct OpStat {
    /// Preconditions.
    pub conditions: Conditions,
    /// `head` only: the object as it was at this revision or tag; as it is now when `None`.
    pub version: Option<String>,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// `list` options.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OpList {
    /// Group keys that have this delimiter after the prefix into common prefixes.
    pub delimiter: Option<String>,
    /// Stop after this many entries.
    pub limit: Option<u64>,
    /// Start after this path (the continuation of an earlier listing).
    pub start_after: Option<String>,
    /// List what existed at this revision or tag; what exists now when `None`.
    pub version: Option<String>,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// The response to `get`: what is known of the object, and its data as a stream of chunks.
pub struct GetResponse {
    /// The object's metadata (`size` is the whole object's size, not the range's).
    pub meta: ObjectMeta,
    /// The data (of the range, if one was asked for).
    pub body: ByteStream,
}

/// The data of a `put`: chunks given up front, or a stream (bounded, for large uploads).
pub struct PutBody {
    inner: BodyInner,
}

enum BodyInner {
    Chunks(VecDeque<Bytes>),
    Stream(ByteStream),
}

impl PutBody {
    /// A body of chunks given up front.
    pub fn from_chunks(chunks: impl IntoIterator<Item = Bytes>) -> Self {
        PutBody {
            inner: BodyInner::Chunks(chunks.into_iter().collect()),
        }
    }

    /// A body read from a stream as the driver writes it.
    pub fn from_stream(stream: ByteStream) -> Self {
        PutBody {
            inner: BodyInner::Stream(stream),
        }
    }

    /// The body's size, if known up front.
    pub fn known_size(&self) -> Option<u64> {
        match &self.inner {
            BodyInner::Chunks(c) => Some(c.iter().map(|b| b.len() as u64).sum()),
            BodyInner::Stream(_) => None,
        }
    }

    /// A copy of the body if it can be sent again (chunks given up front), for retries.
    pub fn try_clone(&self) -> Option<PutBody> {
        match &self.inner {
            BodyInner::Chunks(c) => Some(PutBody {
                inner: BodyInner::Chunks(c.clone()),
            }),
            BodyInner::Stream(_) => None,
        }
    }

    /// The next chunk, or `None` at the end.
    pub async fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        match &mut self.inner {
            BodyInner::Chunks(c) => c.pop_front().map(Ok),
            BodyInner::Stream(s) => s.next().await,
        }
    }

    /// The whole body as one buffer: no copy when it is one chunk.
    pub async fn collect(mut self) -> Result<Bytes> {
        let first = match self.next_chunk().await {
            None => return Ok(Bytes::new()),
            Some(b) => b?,
        };
        let Some(second) = self.next_chunk().await else {
            return Ok(first);
        };
        let mut buf = BytesMut::with_capacity(first.len() * 2);
        buf.extend_from_slice(&first);
        buf.extend_from_slice(&second?);
        while let Some(chunk) = self.next_chunk().await {
            buf.extend_from_slice(&chunk?);
        }
        Ok(buf.freeze())
    }
}

impl std::fmt::Debug for PutBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.inner {
            BodyInner::Chunks(c) => write!(f, "PutBody({} chunks)", c.len()),
            BodyInner::Stream(_) => f.write_str("PutBody(stream)"),
        }
    }
}

/// A driver of the object kind. Every operation defaults to `Unsupported`.
///
/// Paths given to a driver are already validated and joined with the binding's prefix
/// (see [`crate::path`]); they never start with `/` and never contain `..`.
#[async_trait]
pub trait ObjectDriver: Send + Sync {
    /// Reads an object or a byte range of it.
    ///
    /// # Behavior
    /// - MUST return `NotFound` when the object does not exist.
    /// - MUST apply `if-match` / `if-none-match` when its capability says so, else refuse
    ///   them with `Unsupported` (never ignore a condition).
    /// - MUST return the whole object's size in `meta.size`, also for a range.
    /// - A range starting past the end is `InvalidInput`; one running past the end is cut.
    async fn get(&self, path: &str, op: OpGet) -> Result<GetResponse> {
        let _ = (path, op);
        Err(Error::unsupported("get"))
    }

    /// Writes an object, replacing any object at the path.
    ///
    /// # Behavior
    /// - MUST be atomic: a reader sees the old object or the new one, never a mix, and a
    ///   failed put leaves the old object (or nothing) behind.
    /// - MUST be durable once it returns `Ok`.
    /// - MUST apply conditions atomically with the write, or refuse them with `Unsupported`.
    /// - MUST give the new object a generation different from every earlier one at the path.
    async fn put(&self, path: &str, body: PutBody, op: OpPut) -> Result<ObjectMeta> {
        let _ = (path, body, op);
        Err(Error::unsupported("put"))
    }

    /// Reads an object's metadata.
    ///
    /// # Behavior
    /// - MUST return `NotFound` when the object does not exist.
    async fn head(&self, path: &str, op: OpStat) -> Result<ObjectMeta> {
        let _ = (path, op);
        Err(Error::unsupported("head"))
    }

    /// Deletes an object.
    ///
    /// # Behavior
    /// - MUST be idempotent: deleting a missing object is `Ok` (unless `if-match` is set,
    ///   which fails with `ConditionFailed`).
    async fn delete(&self, path: &str, op: OpStat) -> Result<()> {
        let _ = (path, op);
        Err(Error::unsupported("del"))
    }

    /// Lists objects whose path starts with `prefix`, in lexicographic order of path.
    ///
    /// # Behavior
    /// - Listing a prefix nothing is under returns no entries, not an error.
    /// - With a delimiter, keys with the delimiter after the prefix collapse into one
    ///   `Prefix` entry each (ending with the delimiter), in order among the objects.
    /// - `start_after` skips every entry whose path is `<=` it.
    async fn list(&self, prefix: &str, op: OpList) -> Result<ListStream> {
        let _ = (prefix, op);
        Err(Error::unsupported("list"))
    }

    /// Changes to objects under `prefix`, as they happen (see [`crate::watch`]).
    ///
    /// # Behavior
    /// - MUST report every change, also those made to the backend by other programs, at
    ///   least once and in order per path; a change has a cursor to resume after.
    /// - Where a cursor cannot be served, MUST say so with a `resync` change followed by the
    ///   current state (never skip silently).
    async fn watch(&self, prefix: &str, op: crate::watch::OpWatch) -> Result<crate::watch::ChangeStream> {
        let _ = (prefix, op);
        Err(Error::unsupported("watch"))
    }

    /// The revisions that changed the object at `path`, newest first (see
    /// [`crate::version`]).
    ///
    /// # Behavior
    /// - `get`, `head` and `list` with a `version` MUST answer `InvalidInput` naming it when
    ///   no revision or tag is called that (so a diff or revert never takes an unknown
    ///   revision for one where the object did not exist), and `NotFound` when the object did
    ///   not exist at that revision.
    /// - MUST list deletions too (`deleted`), and nothing for a path never written.
    /// - `start_after` goes on after that revision id; `limit` caps the page.
    async fn versions(&self, path: &str, op: OpVersions) -> Result<Vec<Revision>> {
        let _ = (path, op);
        Err(Error::unsupported("versions"))
    }

    /// Creates, reads, updates, deletes or lists the binding's tags.
    async fn tags(&self, op: OpTag) -> Result<Vec<Tag>> {
        let _ = op;
        Err(Error::unsupported("tags"))
    }

    /// Writes a new revision of `path` whose data and metadata are those it had at
    /// `op.revision`, or deletes it when it did not exist then. The default reads the object
    /// at that revision and puts it (or deletes it) with the request's options, whose
    /// `message` defaults to `revert PATH to REV`; a driver that can do it in one step (a
    /// server-side copy) overrides it.
    async fn revert(&self, path: &str, op: OpRevert) -> Result<ObjectMeta> {
        let mut options = op.options;
        options
            .entry("message".into())
            .or_insert_with(|| format!("revert {path} to {}", op.revision));
        let old = self
            .get(
                path,
                OpGet {
                    whole: true,
                    version: Some(op.revision.clone()),
                    ..OpGet::default()
                },
            )
            .await;
        match old {
            Ok(old) => {
                let put = OpPut {
                    metadata: old.meta.metadata,
                    options,
                    ..OpPut::default()
                };
                self.put(path, PutBody::from_stream(old.body), put).await
            }
            Err(e) if e.kind() == ErrorKind::NotFound => {
                self.delete(
                    path,
                    OpStat {
                        options,
                        ..OpStat::default()
                    },
                )
                .await?;
                Ok(ObjectMeta {
                    path: path.to_string(),
                    ..ObjectMeta::default()
                })
            }
            Err(e) => Err(e),
        }
    }

    /// The difference of the object at `path` between two revisions (see
    /// [`crate::version::diff`]). The default reads both sides whole.
    async fn diff(&self, path: &str, op: OpDiff) -> Result<Diff> {
        let mut sides = Vec::with_capacity(2);
        for version in [Some(op.from), op.to] {
            let get = OpGet {
                whole: true,
                version,
                ..OpGet::default()
            };
            sides.push(match self.get(path, get).await {
                Ok(r) => {
                    let data = PutBody::from_stream(r.body).collect().await?;
                    Some((r.meta, data))
                }
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            });
        }
        fn side(s: &Option<(ObjectMeta, Bytes)>) -> Option<(&ObjectMeta, &[u8])> {
            s.as_ref().map(|(m, d)| (m, &d[..]))
        }
        Ok(crate::version::diff(path, side(&sides[0]), side(&sides[1])))
    }
}

/// Shapes a listing of objects in path order by the rules of [`ObjectDriver::list`]:
/// skips entries up to `start_after`, collapses keys into common prefixes at the delimiter,
/// and stops after `limit` entries. Drivers that walk keys in order use it, and the host uses
/// it to fill in for drivers that cannot do these themselves.
pub fn shape_listing(objects: ListStream, prefix: &str, op: &OpList) -> ListStream {
    let prefix = prefix.to_string();
    let delimiter = op.delimiter.clone().filter(|d| !d.is_empty());
    let start_after = op.start_after.clone();
    let mut last_prefix: Option<String> = None;
    let shaped = objects.filter_map(move |item| {
        let out = match item {
            Err(e) => Some(Err(e)),
            Ok(entry) => {
                let entry = match (&delimiter, entry) {
                    (Some(d), ListEntry::Object(meta)) => {
                        let rest = meta.path.get(prefix.len()..).unwrap_or("");
                        match rest.find(d.as_str()) {
                            Some(i) => ListEntry::Prefix(meta.path[..prefix.len() + i + d.len()].to_string()),
                            None => ListEntry::Object(meta),
                        }
                    }
                    (_, e) => e,
                };
                let skip = start_after.as_deref().is_some_and(|s| entry.path() <= s)
                    || matches!(&entry, ListEntry::Prefix(p) if last_prefix.as_deref() == Some(p));
                if let ListEntry::Prefix(p) = &entry {
                    last_prefix = Some(p.clone());
                }
                (!skip).then_some(Ok(entry))
            }
        };
        futures::future::ready(out)
    });
    match op.limit {
        Some(n) => shaped.take(n as usize).boxed(),
        None => shaped.boxed(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_clamp_and_refuse_past_the_end() {
        let r = ByteRange {
            offset: 2,
            length: Some(100),
        };
        assert_eq!(r.resolve(10).unwrap(), 2..10);
        assert_eq!(
            ByteRange {
                offset: 0,
                length: None
            }
            .resolve(0)
            .unwrap(),
            0..0
        );
        assert!(ByteRange {
            offset: 11,
            length: None
        }
        .resolve(10)
        .is_err());
        assert!(ByteRange {
            offset: 10,
            length: None
        }
        .resolve(10)
        .is_err());
    }

    #[test]
    fn conditions_follow_http_semantics() {
        let mut c = Conditions::default();
        c.set("If-None-Match", "*").unwrap();
        assert!(c.check(None).is_ok());
        assert_eq!(
            c.check(Some("g1")).unwrap_err().kind(),
            ErrorKind::ConditionFailed
        );
        let mut c = Conditions::default();
        c.set("if_match", "g1").unwrap();
        assert!(c.check(Some("g1")).is_ok());
        assert!(c.check(Some("g2")).is_err());
        assert!(c.check(None).is_err());
        assert!(c
            .set("if-modified", "x")
            .unwrap_err()
            .to_string()
            .contains("if-match"));
    }

    fn obj(path: &str) -> Result<ListEntry> {
        Ok(ListEntry::Object(ObjectMeta {
            path: path.into(),
            ..Default::default()
        }))
    }

    #[tokio::test]
    async fn listings_collapse_skip_and_limit() {
        let keys = ["p/a", "p/b/1", "p/b/2", "p/c", "p/d/x/y"];
        let run = |op: OpList| {
            let src = futures::stream::iter(keys.map(obj)).boxed();
            async move {
                shape_listing(src, "p/", &op)
                    .map(|e| e.unwrap().path().to_string())
                    .collect::<Vec<_>>()
                    .await
            }
        };
        let op = OpList {
            delimiter: Some("/".into()),
            ..Default::default()
        };
        assert_eq!(run(op.clone()).await, ["p/a", "p/b/", "p/c", "p/d/"]);
        let after = OpList {
            start_after: Some("p/b/".into()),
            ..op.clone()
        };
        assert_eq!(run(after).await, ["p/c", "p/d/"]);
        let limited = OpList { limit: Some(2), ..op };
        assert_eq!(run(limited).await, ["p/a", "p/b/"]);
        assert_eq!(run(OpList::default()).await.len(), 5);
    }

    #[tokio::test]
    async fn single_chunk_bodies_collect_without_copy() {
        let data = Bytes::from_static(b"hello");
        let ptr = data.as_ptr();
        let got = PutBody::from_chunks([data]).collect().await.unwrap();
        assert_eq!(got.as_ptr(), ptr);
        let two = PutBody::from_chunks([Bytes::from_static(b"ab"), Bytes::from_static(b"cd")]);
        assert_eq!(&two.collect().await.unwrap()[..], b"abcd");
    }
}
