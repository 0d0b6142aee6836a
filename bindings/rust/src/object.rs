//! Object requests: `get`, `put`, `head`, `del`, `list`.

use std::collections::{BTreeMap, VecDeque};

use bindery_core::{
    path, ByteRange, ByteStream, Bytes, Details, Error, Head, Kind, ListEntry, ObjectMeta, OpGet, OpList,
    OpPut, OpStat, Options, PutBody, ResponseMessage, Result,
};
use futures::stream::{self, Stream};

use crate::frames::{Frames, Items};
use crate::request::{concat, Req};
use crate::wait::Done;
use crate::Context;

/// An object and its data, as `get(…).await` or `get(…).do_()` return it.
#[derive(Debug, Clone)]
pub struct ObjectData {
    /// What is known of the object.
    pub meta: ObjectMeta,
    /// Its data (of the range asked for), shared, not copied when it arrived in one piece.
    pub data: Bytes,
}

/// The object operations of a context: `ctx.object()`.
#[derive(Clone)]
pub struct Objects {
    ctx: Context,
}

impl Objects {
    pub(crate) fn new(ctx: Context) -> Objects {
        Objects { ctx }
    }

    pub(crate) fn ctx(&self) -> &Context {
        &self.ctx
    }

    /// Reads an object (`name://path`), or a byte range of it with [`Get::range`].
    pub fn get(&self, path: impl Into<String>) -> Get {
        Get {
            req: Req::new(&self.ctx, path),
            op: OpGet::default(),
        }
    }

    /// Writes an object from `data`; more chunks with [`Put::add`].
    pub fn put(&self, path: impl Into<String>, data: impl Into<Bytes>) -> Put {
        Put {
            req: Req::new(&self.ctx, path),
            op: OpPut::default(),
            chunks: vec![data.into()],
            stream: None,
        }
    }

    /// Reads an object's metadata.
    pub fn head(&self, path: impl Into<String>) -> Head_ {
        Head_ {
            req: Req::new(&self.ctx, path),
            op: OpStat::default(),
        }
    }

    /// Deletes an object (deleting a missing object succeeds).
    pub fn del(&self, path: impl Into<String>) -> Del {
        Del {
            req: Req::new(&self.ctx, path),
            op: OpStat::default(),
        }
    }

    /// Lists the objects under a prefix.
    pub fn list(&self, prefix: impl Into<String>) -> List {
        List {
            req: Req::new(&self.ctx, prefix),
            op: OpList::default(),
        }
    }

    /// Watches the objects under a prefix: every change, also those made outside bindery
    /// (see [`crate::Watcher`]).
    pub fn watch(&self, prefix: impl Into<String>) -> crate::Watch {
        crate::Watch::new(Req::new(&self.ctx, prefix), Kind::Object)
    }
}

pub(crate) fn head_meta(frames: Vec<ResponseMessage>) -> Result<ObjectMeta> {
    match frames.into_iter().next().map(|f| f.head) {
        Some(Head::Object(m)) => Ok(m),
        _ => Err(Error::internal(
            "the driver answered without the object's metadata",
        )),
    }
}

pub(crate) fn finish_meta(frames: Vec<ResponseMessage>) -> Result<Done> {
    head_meta(frames).map(Done::Meta)
}

fn finish_deleted(_: Vec<ResponseMessage>) -> Result<Done> {
    Ok(Done::Deleted)
}

fn object_data(frames: Vec<ResponseMessage>) -> Result<ObjectData> {
    let mut meta = None;
    let mut chunks = Vec::with_capacity(frames.len());
    for f in frames {
        if let Head::Object(m) = f.head {
            meta = Some(m);
        }
        if !f.buffer.is_empty() {
            chunks.push(f.buffer);
        }
    }
    let meta = meta.ok_or_else(|| Error::internal("the driver answered without the object's metadata"))?;
    Ok(ObjectData {
        meta,
        data: concat(chunks),
    })
}

fn finish_object(frames: Vec<ResponseMessage>) -> Result<Done> {
    object_data(frames).map(Done::Object)
}

fn entries(frames: Vec<ResponseMessage>) -> Vec<ListEntry> {
    frames
        .into_iter()
        .flat_map(|f| match f.head {
            Head::Entries(e) => e,
            _ => Vec::new(),
        })
        .collect()
}

fn unit(_: Vec<ResponseMessage>) -> Result<()> {
    Ok(())
}

fn listing(frames: Vec<ResponseMessage>) -> Result<Vec<ListEntry>> {
    Ok(entries(frames))
}

fn finish_list(frames: Vec<ResponseMessage>) -> Result<Done> {
    Ok(Done::Listed(entries(frames)))
}

runnable!(Get, ObjectData, object_data, finish_object);
runnable!(Put, ObjectMeta, head_meta, finish_meta);
runnable!(Head_, ObjectMeta, head_meta, finish_meta);
runnable!(Del, (), unit, finish_deleted);
runnable!(List, Vec<ListEntry>, listing, finish_list);

macro_rules! common_setters {
    ($t:ty, $($conds:ident).+) => {
        impl $t {
            /// Adds a condition: `if-match` (a generation, or `*`) or `if-none-match` (`*`, or a
            /// generation). A condition the driver cannot enforce fails with `Unsupported`;
            /// one that does not hold fails with `ConditionFailed`.
            pub fn condition(mut self, key: &str, value: impl Into<String>) -> Self {
                self.req.condition(&mut self.$($conds).+, key, value.into());
                self
            }

            /// Adds an option, passed to the driver.
            pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
                self.options().insert(key.into(), value.into());
                self
            }
        }
    };
}

/// `get(path)`: build with [`range`](Get::range) and [`condition`](Get::condition), then
/// [`load`](Get::load) to stream it, or `.await` / [`do_`](Get::do_) for the whole object.
#[must_use = "a request does nothing until it is loaded, awaited or done"]
pub struct Get {
    req: Req,
    op: OpGet,
}

common_setters!(Get, op.conditions);

impl Get {
    fn options(&mut self) -> &mut Options {
        &mut self.op.options
    }

    /// Reads the object as it was at this revision (an id from `versions`, or a tag), on a
    /// binding with versions.
    pub fn version(mut self, revision: impl Into<String>) -> Self {
        self.op.version = Some(revision.into());
        self
    }

    /// Reads `length` bytes from `offset` (to the end when `length` is `None`).
    pub fn range(mut self, offset: u64, length: Option<u64>) -> Self {
        self.op.range = Some(ByteRange { offset, length });
        self
    }

    /// Sends the request for the whole answer at once (awaited, `do_`, `do_async`): the
    /// driver may answer in one buffer rather than in bounded chunks.
    fn send(mut self) -> Result<Frames> {
        self.op.whole = true;
        self.send_streamed()
    }

    fn send_streamed(self) -> Result<Frames> {
        let Get { req, op } = self;
        req.send(Kind::Object, "get", false, || Details::ObjectGet(op))
    }

    /// Sends the request and returns a reader at once; data is prefetched in the background
    /// up to the binding's window while the caller works, in bounded chunks.
    pub fn load(self) -> ObjectReader {
        ObjectReader::new(self.send_streamed())
    }
}

/// `put(path, data)`: build with [`add`](Put::add), [`metadata`](Put::metadata) and
/// [`condition`](Put::condition), then `.await`, [`do_`](Put::do_) or
/// [`do_async`](Put::do_async). Returns the new object's metadata (its generation).
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Put {
    req: Req,
    op: OpPut,
    chunks: Vec<Bytes>,
    stream: Option<ByteStream>,
}

common_setters!(Put, op.conditions);

impl Put {
    fn options(&mut self) -> &mut Options {
        &mut self.op.options
    }

    /// Appends more data.
    #[allow(clippy::should_implement_trait)] // `add` is the data-binding API's name
    pub fn add(mut self, data: impl Into<Bytes>) -> Self {
        self.chunks.push(data.into());
        self
    }

    /// Appends data read from a stream as the driver writes it, for objects too large to
    /// hold in memory. A put with a stream is not retried.
    pub fn add_stream(mut self, stream: ByteStream) -> Self {
        self.stream = Some(stream);
        self
    }

    /// Sets user metadata.
    pub fn metadata<K: Into<String>, V: Into<String>>(
        mut self,
        metadata: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.op
            .metadata
            .extend(metadata.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    fn send(self) -> Result<Frames> {
        let Put {
            req,
            op,
            chunks,
            stream,
        } = self;
        let chunks: Vec<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).collect();
        let body = match stream {
            None => PutBody::from_chunks(chunks),
            Some(s) => {
                use futures::StreamExt;
                PutBody::from_stream(stream::iter(chunks.into_iter().map(Ok)).chain(s).boxed())
            }
        };
        req.send(Kind::Object, "put", false, || Details::ObjectPut(op, body))
    }
}

/// `head(path)`: the object's metadata. (Named `Head_` as `Head` is the frame head type.)
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Head_ {
    req: Req,
    op: OpStat,
}

common_setters!(Head_, op.conditions);

impl Head_ {
    fn options(&mut self) -> &mut Options {
        &mut self.op.options
    }

    /// The object's metadata as it was at this revision (or tag).
    pub fn version(mut self, revision: impl Into<String>) -> Self {
        self.op.version = Some(revision.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let Head_ { req, op } = self;
        req.send(Kind::Object, "head", false, || Details::ObjectHead(op))
    }
}

/// `del(path)`: deletes an object; deleting a missing object succeeds.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Del {
    req: Req,
    op: OpStat,
}

common_setters!(Del, op.conditions);

impl Del {
    fn options(&mut self) -> &mut Options {
        &mut self.op.options
    }

    fn send(self) -> Result<Frames> {
        let Del { req, op } = self;
        req.send(Kind::Object, "del", false, || Details::ObjectDelete(op))
    }
}

/// `list(prefix)`: build with [`limit`](List::limit), [`delimiter`](List::delimiter) and
/// [`start_after`](List::start_after), then [`load`](List::load) to iterate, or `.await`
/// for every entry.
#[must_use = "a request does nothing until it is loaded or awaited"]
pub struct List {
    req: Req,
    op: OpList,
}

impl List {
    /// Stops after `n` entries.
    pub fn limit(mut self, n: u64) -> Self {
        self.op.limit = Some(n);
        self
    }

    /// Groups keys with `delimiter` after the prefix into common prefixes (`"/"` lists one
    /// level of a hierarchy).
    pub fn delimiter(mut self, delimiter: impl Into<String>) -> Self {
        self.op.delimiter = Some(delimiter.into());
        self
    }

    /// Lists what existed at this revision (or tag), on a binding with versions.
    pub fn version(mut self, revision: impl Into<String>) -> Self {
        self.op.version = Some(revision.into());
        self
    }

    /// Starts after this path: pass the last path of a limited listing to continue it.
    /// The path is relative to the binding, as entries are.
    pub fn start_after(mut self, path: impl Into<String>) -> Self {
        self.op.start_after = Some(path.into());
        self
    }

    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.op.options.insert(key.into(), value.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let List { mut req, mut op } = self;
        // `start_after` is given relative to the binding, like the entries; the driver
        // compares full paths, so it gets the spec prefix too.
        let (_, rest) = path::split_binding(req.path());
        let prefix_path = req.path().to_string();
        if let Some(after) = op.start_after.take() {
            let base = prefix_path.strip_suffix(rest).unwrap_or("");
            let joined = format!("{base}{after}");
            let resolved = req
                .ctx()
                .host()
                .resolve(Kind::Object, &joined, true)
                .map(|(_, p)| p);
            match resolved {
                Ok(p) => op.start_after = Some(p),
                Err(e) => req.fail(e),
            }
        }
        req.send(Kind::Object, "list", true, || Details::ObjectList(op))
    }

    /// Sends the request and returns a lister at once; pages are prefetched.
    pub fn load(self) -> Lister {
        Lister::new(self.send())
    }
}

/// The response of `get(…).load()`: metadata, then the data in chunks as they arrive.
///
/// Use it from blocking code (the methods, or as an `Iterator` of chunks) or from async code
/// (the `_async` methods, or [`into_stream`](ObjectReader::into_stream)).
pub struct ObjectReader {
    frames: Option<Frames>,
    meta: Option<ObjectMeta>,
    chunks: VecDeque<Bytes>,
    error: Option<Error>,
}

impl ObjectReader {
    fn new(sent: Result<Frames>) -> ObjectReader {
        let (frames, error) = match sent {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        ObjectReader {
            frames,
            meta: None,
            chunks: VecDeque::new(),
            error,
        }
    }

    fn absorb(&mut self, frame: Option<Result<ResponseMessage>>) -> bool {
        match frame {
            None => false,
            Some(Err(e)) => {
                self.error.get_or_insert(e);
                self.frames = None;
                false
            }
            Some(Ok(f)) => {
                if let Head::Object(m) = f.head {
                    self.meta = Some(m);
                }
                if !f.buffer.is_empty() {
                    self.chunks.push_back(f.buffer);
                }
                true
            }
        }
    }

    fn pull_blocking(&mut self) -> bool {
        let frame = match &mut self.frames {
            Some(f) => f.next_blocking(),
            None => None,
        };
        self.absorb(frame)
    }

    async fn pull_async(&mut self) -> bool {
        let frame = match &mut self.frames {
            Some(f) => f.next_async().await,
            None => None,
        };
        self.absorb(frame)
    }

    fn head_result(&self) -> Result<&ObjectMeta> {
        match (&self.meta, &self.error) {
            (Some(m), _) => Ok(m),
            (None, Some(e)) => Err(e.clone()),
            (None, None) => Err(Error::internal(
                "the response ended without the object's metadata",
            )),
        }
    }

    /// The error of the request, if it failed (waits for the response to start).
    pub fn error(&mut self) -> Option<&Error> {
        while self.meta.is_none() && self.error.is_none() && self.pull_blocking() {}
        self.error.as_ref()
    }

    /// The object's metadata (waits for the response to start).
    pub fn meta(&mut self) -> Result<&ObjectMeta> {
        while self.meta.is_none() && self.error.is_none() && self.pull_blocking() {}
        self.head_result()
    }

    /// The object's metadata (waits, async, for the response to start).
    pub async fn meta_async(&mut self) -> Result<&ObjectMeta> {
        while self.meta.is_none() && self.error.is_none() && self.pull_async().await {}
        self.head_result()
    }

    /// The whole object's size in bytes.
    pub fn size(&mut self) -> Result<u64> {
        self.meta().map(|m| m.size)
    }

    /// The object's generation.
    pub fn gen(&mut self) -> Result<String> {
        self.meta().map(|m| m.gen.clone())
    }

    /// The object's user metadata.
    pub fn metadata(&mut self) -> Result<BTreeMap<String, String>> {
        self.meta().map(|m| m.metadata.clone())
    }

    /// The next chunk of data, blocking; `None` at the end.
    pub fn next_chunk(&mut self) -> Option<Result<Bytes>> {
        loop {
            if let Some(c) = self.chunks.pop_front() {
                return Some(Ok(c));
            }
            if let Some(e) = self.error.take() {
                return Some(Err(e));
            }
            if !self.pull_blocking() {
                return self.error.take().map(Err);
            }
        }
    }

    /// The next chunk of data, async; `None` at the end.
    pub async fn next_chunk_async(&mut self) -> Option<Result<Bytes>> {
        loop {
            if let Some(c) = self.chunks.pop_front() {
                return Some(Ok(c));
            }
            if let Some(e) = self.error.take() {
                return Some(Err(e));
            }
            if !self.pull_async().await {
                return self.error.take().map(Err);
            }
        }
    }

    /// Whether more data may follow (blocks until that is known).
    pub fn has_next(&mut self) -> bool {
        while self.chunks.is_empty() && self.error.is_none() && self.pull_blocking() {}
        !self.chunks.is_empty() || self.error.is_some()
    }

    /// All the (remaining) data, blocking. No copy when it arrived in one chunk.
    pub fn read_all(mut self) -> Result<Bytes> {
        self.meta()?;
        let mut chunks = Vec::new();
        while let Some(c) = self.next_chunk() {
            chunks.push(c?);
        }
        Ok(concat(chunks))
    }

    /// All the (remaining) data, async.
    pub async fn read_all_async(mut self) -> Result<Bytes> {
        self.meta_async().await?;
        let mut chunks = Vec::new();
        while let Some(c) = self.next_chunk_async().await {
            chunks.push(c?);
        }
        Ok(concat(chunks))
    }

    /// The data as a `futures::Stream` of chunks.
    pub fn into_stream(self) -> impl Stream<Item = Result<Bytes>> + Send + 'static {
        stream::unfold(
            self,
            |mut r| async move { r.next_chunk_async().await.map(|c| (c, r)) },
        )
    }

    /// Stops reading; the driver stops producing.
    pub fn close(self) {}
}

impl Iterator for ObjectReader {
    type Item = Result<Bytes>;
    fn next(&mut self) -> Option<Result<Bytes>> {
        self.next_chunk()
    }
}

/// The response of `list(…).load()`: entries as they arrive, a page at a time.
///
/// Use it from blocking code (the methods, or as an `Iterator`) or from async code
/// ([`next_async`](Lister::next_async), [`into_stream`](Lister::into_stream)).
pub struct Lister {
    items: Items<ListEntry>,
}

impl Lister {
    fn new(sent: Result<Frames>) -> Lister {
        let unpack = move |f: ResponseMessage, page: &mut VecDeque<ListEntry>| {
            if let Head::Entries(e) = f.head {
                page.extend(e);
            }
        };
        Lister {
            items: Items::new(sent, Box::new(unpack)),
        }
    }

    /// The next entry, blocking; `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<ListEntry>> {
        self.items.next_blocking()
    }

    /// The next entry, async; `None` at the end.
    pub async fn next_async(&mut self) -> Option<Result<ListEntry>> {
        self.items.next_async().await
    }

    /// The next entry's path, blocking.
    pub fn next_path(&mut self) -> Option<Result<String>> {
        self.next().map(|e| e.map(|e| e.path().to_string()))
    }

    /// Whether another entry (or an error) follows; blocks until that is known.
    pub fn has_next(&mut self) -> bool {
        self.items.has_next_blocking()
    }

    /// The entries as a `futures::Stream`.
    pub fn into_stream(self) -> impl Stream<Item = Result<ListEntry>> + Send + 'static {
        stream::unfold(self, |mut l| async move { l.next_async().await.map(|e| (e, l)) })
    }

    /// Stops listing and waits (blocking) until the driver has stopped producing. Dropping a
    /// lister stops it without waiting.
    pub fn close(self) {
        self.items.close_blocking();
    }
}

impl Iterator for Lister {
    type Item = Result<ListEntry>;
    fn next(&mut self) -> Option<Result<ListEntry>> {
        Lister::next(self)
    }
}
