//! Requests and response frames: what travels between the SDK, the host and a driver.
//!
//! The SDK turns a finished builder into a [`DataRequest`] and sends it on the binding's
//! channel; the answer is a stream of [`ResponseMessage`] frames on the request's own bounded
//! channel. In-process the frames carry typed heads ([`Head`]); across the plugin ABI the same
//! fields are Cap'n Proto (`schemas/bindery.capnp`) and the buffer crosses without a copy.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::{self, BoxStream, StreamExt};

use crate::capability::Capability;
use crate::driver::{Instance, Kind};
use crate::error::{Error, Result};
use crate::generic::{CallReply, OpCall};
use crate::object::{ListEntry, ObjectMeta, OpGet, OpList, OpPut, OpStat, PutBody};
use crate::stream::{Message, OpCheckpoint, OpConsume, OpCreateStream, OpPublish, ShardInfo};
use crate::table::{OpAlter, OpCreateTable, OpDeleteRows, OpRead, OpSchema, OpWrite};
use crate::version::{Diff, OpDiff, OpRevert, OpTag, OpVersions, Revision, Tag};
use crate::watch::OpWatch;
use arrow::array::RecordBatch;

/// Options of a request (`.option(k, v)`), passed to the driver as a map.
pub type Options = BTreeMap<String, String>;

/// Describes every operation once and makes from that description [`Command`], [`Details`],
/// [`Command::as_str`], [`Command::kind`], [`DataRequest::command`],
/// [`DataRequest::missing_capability`] (what the runtime refuses) and
/// [`DataRequest::may_repeat`] (what it retries). Each entry: the variant and what its details
/// hold, bound to names; the name in messages; the kind; whether a request of it may be sent
/// again after a retryable error (an expression over the bound details); and what it needs of
/// a binding's [`Capability`]: `(allowed, what)` pairs, the operation's own flag first, then
/// one per option that needs one.
macro_rules! operations {
    ($(
        $(#[$doc:meta])*
        $variant:ident($($field:ty),*) as ($($bind:ident),*) {
            name: $name:literal,
            kind: $kind:ident,
            options: $options:expr,
            repeat: $repeat:expr,
            needs: |$cap:ident| [$($need:expr),* $(,)?] $(,)?
        }
    )*) => {
        /// The operations, by kind.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Command {
            $($(#[$doc])* $variant,)*
        }

        impl Command {
            /// Every operation.
            pub const ALL: &'static [Command] = &[$(Command::$variant),*];

            /// Its place in [`Command::ALL`], which is its number on the wire.
            pub fn ordinal(self) -> u16 {
                self as u16
            }

            /// The operation's name in messages (`get`, `put`, `head`, `del`, `list`).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Command::$variant => $name,)*
                }
            }

            /// The kind the operation belongs to.
            pub fn kind(self) -> Kind {
                match self {
                    $(Command::$variant => Kind::$kind,)*
                }
            }
        }

        /// The operation-specific part of a request.
        #[derive(Debug)]
        pub enum Details {
            $($(#[$doc])* $variant($($field),*),)*
        }

        impl DataRequest {
            /// The command.
            pub fn command(&self) -> Command {
                match &self.details {
                    $(Details::$variant(..) => Command::$variant,)*
                }
            }

            /// What the request needs that `cap` lacks (`"get with if-match"`), if anything.
            #[allow(unused_variables)]
            pub fn missing_capability(&self, cap: &Capability) -> Option<std::borrow::Cow<'static, str>> {
                match &self.details {
                    $(Details::$variant($($bind),*) => {
                        let $cap = cap;
                        $(
                            let (ok, what) = $need;
                            if !ok {
                                return Some(std::borrow::Cow::from(what));
                            }
                        )*
                        None
                    })*
                }
            }

            /// The request's options.
            #[allow(unused_variables)]
            pub fn options(&self) -> &Options {
                match &self.details {
                    $(Details::$variant($($bind),*) => $options,)*
                }
            }

            /// Whether running the request twice has the effect of running it once, so the host
            /// may send it again after a retryable error. A publish retried after a lost
            /// acknowledgement could be stored twice; a create could fail on its own first try;
            /// a put may be repeated only under no condition.
            #[allow(unused_variables)]
            pub fn may_repeat(&self) -> bool {
                match &self.details {
                    $(Details::$variant($($bind),*) => $repeat,)*
                }
            }
        }
    };
}

operations! {
    /// Object get.
    ObjectGet(OpGet) as (o) {
        name: "get",
        kind: Object,
        options: &o.options,
        repeat: true,
        needs: |cap| [
            (cap.get, "get"),
            (o.version.is_none() || cap.versioning, "get at a version"),
            (o.conditions.if_match.is_none() || cap.get_with_if_match, "get with if-match"),
            (o.conditions.if_none_match.is_none() || cap.get_with_if_none_match, "get with if-none-match"),
        ],
    }
    /// Object put with its data.
    ObjectPut(OpPut, PutBody) as (o, body) {
        name: "put",
        kind: Object,
        options: &o.options,
        repeat: o.conditions.is_empty(),
        needs: |cap| [
            (cap.put, "put"),
            (o.metadata.is_empty() || cap.put_with_metadata, "put with metadata"),
            (o.conditions.if_match.is_none() || cap.put_with_if_match, "put with if-match"),
            (o.conditions.if_none_match.is_none() || cap.put_with_if_none_match, "put with if-none-match"),
            within(body.known_size(), cap.max_object_size, "put of an object"),
        ],
    }
    /// Object head.
    ObjectHead(OpStat) as (o) {
        name: "head",
        kind: Object,
        options: &o.options,
        repeat: true,
        needs: |cap| [
            (cap.head, "head"),
            (o.version.is_none() || cap.versioning, "head at a version"),
            (o.conditions.if_match.is_none() || cap.get_with_if_match, "head with if-match"),
            (o.conditions.if_none_match.is_none() || cap.get_with_if_none_match, "head with if-none-match"),
        ],
    }
    /// Object delete.
    ObjectDelete(OpStat) as (o) {
        name: "del",
        kind: Object,
        options: &o.options,
        repeat: true,
        needs: |cap| [
            (cap.delete, "del"),
            (o.conditions.is_empty() || cap.delete_with_if_match, "del with a condition"),
        ],
    }
    /// Object list.
    ObjectList(OpList) as (o) {
        name: "list",
        kind: Object,
        options: &o.options,
        repeat: true,
        needs: |cap| [
            (cap.list, "list"),
            (o.version.is_none() || cap.versioning, "list at a version"),
        ],
    }
    /// Stream create.
    StreamCreate(OpCreateStream) as (o) {
        name: "create",
        kind: Stream,
        options: &o.options,
        repeat: false,
        needs: |cap| [(cap.stream_admin, "create")],
    }
    /// Stream update to this many shards.
    StreamUpdate(u32, Options) as (shards, o) {
        name: "update",
        kind: Stream,
        options: o,
        repeat: true,
        needs: |cap| [(cap.stream_admin && cap.stream_grow, "update")],
    }
    /// Stream delete.
    StreamDelete(Options) as (o) {
        name: "delete",
        kind: Stream,
        options: o,
        repeat: true,
        needs: |cap| [(cap.stream_admin, "delete")],
    }
    /// Stream list_shards.
    StreamListShards(Options) as (o) {
        name: "list_shards",
        kind: Stream,
        options: o,
        repeat: true,
        needs: |cap| [(cap.stream_admin, "list_shards")],
    }
    /// Stream publish.
    StreamPublish(OpPublish) as (o) {
        name: "publish",
        kind: Stream,
        options: &o.options,
        repeat: false,
        needs: |cap| [
            (cap.publish, "publish"),
            within(o.messages.iter().map(|m| m.value.len() as u64).max(), cap.max_object_size, "publish of a message"),
        ],
    }
    /// Stream consume.
    StreamConsume(OpConsume) as (o) {
        name: "consume",
        kind: Stream,
        options: &o.options,
        repeat: true,
        needs: |cap| [
            (cap.consume, "consume"),
            (o.group.is_none() || cap.consume_with_group, "consume in a group"),
            (
                !matches!(o.start, Some(crate::stream::StartAt::Timestamp(_))) || cap.consume_from_timestamp,
                "consume from a timestamp",
            ),
        ],
    }
    /// Stream checkpoint.
    StreamCheckpoint(OpCheckpoint) as (o) {
        name: "checkpoint",
        kind: Stream,
        options: &o.options,
        repeat: true,
        needs: |cap| [(cap.consume_with_checkpoint, "checkpoint")],
    }
    /// Table read.
    TableRead(OpRead) as (o) {
        name: "read",
        kind: Table,
        options: &o.options,
        repeat: true,
        needs: |cap| [
            (cap.table_read, "read"),
            (o.sql.is_none() || cap.read_with_sql, "read with sql"),
            (o.partition.is_none() || cap.read_with_partition, "read with partition"),
        ],
    }
    /// Table write.
    TableWrite(OpWrite) as (o) {
        name: "write",
        kind: Table,
        options: &o.options,
        repeat: false,
        needs: |cap| [
            (cap.table_write, "write"),
            (o.expression.is_none() || cap.write_with_expression, "write with an expression"),
            (o.condition.is_none() || cap.write_with_condition, "write with a condition"),
        ],
    }
    /// Table create.
    TableCreate(OpCreateTable) as (o) {
        name: "create",
        kind: Table,
        options: &o.options,
        repeat: false,
        needs: |cap| [(cap.table_admin, "create")],
    }
    /// Table drop.
    TableDrop(Options) as (o) {
        name: "drop",
        kind: Table,
        options: o,
        repeat: true,
        needs: |cap| [(cap.table_admin, "drop")],
    }
    /// Table alter.
    TableAlter(OpAlter) as (o) {
        name: "alter",
        kind: Table,
        options: &o.options,
        repeat: false,
        needs: |cap| [(cap.table_admin, "alter")],
    }
    /// A table's schema.
    TableSchema(OpSchema) as (o) {
        name: "schema",
        kind: Table,
        options: &o.options,
        repeat: true,
        needs: |cap| [
            (cap.table_admin || cap.table_read, "schema"),
            (o.version.is_none() || cap.versioning, "schema at a version"),
        ],
    }
    /// A generic call (repeated only when the caller says it is idempotent).
    GenericCall(OpCall) as (o) {
        name: "call",
        kind: Generic,
        options: &o.options,
        repeat: o.idempotent,
        needs: |cap| [(cap.call, "call")],
    }
    /// Object watch: changes under a prefix (last, so the wire numbers of the others stay).
    ObjectWatch(OpWatch) as (o) {
        name: "watch",
        kind: Object,
        options: &o.options,
        repeat: true,
        needs: |cap| [(cap.watch, "watch")],
    }
    /// Table watch: changes to a table's rows.
    TableWatch(OpWatch) as (o) {
        name: "watch",
        kind: Table,
        options: &o.options,
        repeat: true,
        needs: |cap| [(cap.watch, "watch")],
    }
    /// An object's revisions.
    ObjectVersions(OpVersions) as (o) {
        name: "versions",
        kind: Object,
        options: &o.options,
        repeat: true,
        needs: |cap| [(cap.versioning, "versions")],
    }
    /// The binding's tags: create, read, update, delete, list.
    ObjectTags(OpTag) as (o) {
        name: "tags",
        kind: Object,
        options: &o.options,
        repeat: matches!(o.action, crate::version::TagAction::Get(_) | crate::version::TagAction::List),
        needs: |cap| [(cap.versioning, "tags")],
    }
    /// A new revision of an object with the state it had at an older one.
    ObjectRevert(OpRevert) as (o) {
        name: "revert",
        kind: Object,
        options: &o.options,
        repeat: false,
        needs: |cap| [(cap.versioning, "revert")],
    }
    /// The difference of an object between two revisions.
    ObjectDiff(OpDiff) as (o) {
        name: "diff",
        kind: Object,
        options: &o.options,
        repeat: true,
        needs: |cap| [(cap.versioning, "diff")],
    }
    /// Table delete: rows by keys or a filter.
    TableDelete(OpDeleteRows) as (o) {
        name: "delete",
        kind: Table,
        options: &o.options,
        repeat: false,
        needs: |cap| [(cap.table_delete, "delete rows")],
    }
}

/// A size against a limit of the capability: allowed when either is unknown or it fits;
/// otherwise what is refused, with both numbers.
fn within(size: Option<u64>, limit: Option<u64>, what: &str) -> (bool, String) {
    match (size, limit) {
        (Some(n), Some(max)) if n > max => (
            false,
            format!("{what} of {n} bytes (its max_object_size is {max} bytes)"),
        ),
        _ => (true, String::new()),
    }
}

/// One request to a binding: command, path (effective, joined with the spec's), options and
/// the command's details.
#[derive(Debug)]
pub struct DataRequest {
    /// The effective path.
    pub path: String,
    /// The command and its details (the options live in the details' `options`).
    pub details: Details,
}

impl DataRequest {
    /// A copy for a retry, if the request can be sent again (a streamed put cannot).
    pub fn try_clone(&self) -> Option<DataRequest> {
        let details = match &self.details {
            Details::ObjectGet(o) => Details::ObjectGet(o.clone()),
            Details::ObjectPut(o, body) => Details::ObjectPut(o.clone(), body.try_clone()?),
            Details::ObjectHead(o) => Details::ObjectHead(o.clone()),
            Details::ObjectDelete(o) => Details::ObjectDelete(o.clone()),
            Details::ObjectList(o) => Details::ObjectList(o.clone()),
            Details::ObjectWatch(o) => Details::ObjectWatch(o.clone()),
            Details::TableWatch(o) => Details::TableWatch(o.clone()),
            Details::ObjectVersions(o) => Details::ObjectVersions(o.clone()),
            Details::ObjectTags(o) => Details::ObjectTags(o.clone()),
            Details::ObjectRevert(o) => Details::ObjectRevert(o.clone()),
            Details::ObjectDiff(o) => Details::ObjectDiff(o.clone()),
            Details::StreamCreate(o) => Details::StreamCreate(o.clone()),
            Details::StreamUpdate(n, o) => Details::StreamUpdate(*n, o.clone()),
            Details::StreamDelete(o) => Details::StreamDelete(o.clone()),
            Details::StreamListShards(o) => Details::StreamListShards(o.clone()),
            Details::StreamPublish(o) => Details::StreamPublish(o.clone()),
            Details::StreamConsume(o) => Details::StreamConsume(o.clone()),
            Details::StreamCheckpoint(o) => Details::StreamCheckpoint(o.clone()),
            Details::TableRead(o) => Details::TableRead(o.clone()),
            Details::TableWrite(o) => Details::TableWrite(o.clone()),
            Details::TableCreate(o) => Details::TableCreate(o.clone()),
            Details::TableDrop(o) => Details::TableDrop(o.clone()),
            Details::TableAlter(o) => Details::TableAlter(o.clone()),
            Details::TableSchema(o) => Details::TableSchema(o.clone()),
            Details::TableDelete(o) => Details::TableDelete(o.clone()),
            Details::GenericCall(o) => Details::GenericCall(o.clone()),
        };
        Some(DataRequest {
            path: self.path.clone(),
            details,
        })
    }
}

/// How a frame's buffer is encoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Encoding {
    /// No buffer.
    #[default]
    None,
    /// Raw bytes (object data).
    Raw,
}

/// The typed head of a frame.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum Head {
    /// Nothing beyond the buffer.
    #[default]
    None,
    /// An object's metadata (first frame of get; put; head).
    Object(ObjectMeta),
    /// A page of listing entries.
    Entries(Vec<ListEntry>),
    /// A batch of consumed messages.
    Messages(Vec<Message>),
    /// A batch of watched changes.
    Changes(Vec<crate::watch::Change>),
    /// A stream's shards.
    Shards(Vec<ShardInfo>),
    /// Where published messages went: `(shard, position)` each, in order.
    Positions(Vec<(u32, u64)>),
    /// A batch of table rows (the first frame of a read, and `schema`, carry an empty one
    /// that gives the schema).
    Batch(RecordBatch),
    /// How many rows a write wrote.
    Count(u64),
    /// The head of a generic answer (its first frame).
    Reply(CallReply),
    /// An object's revisions.
    Revisions(Vec<Revision>),
    /// Tags.
    Tags(Vec<Tag>),
    /// The difference of two revisions.
    Diff(Diff),
    /// The token of a paged read's next page (its last frame, when there may be more rows).
    Page(String),
}

/// One frame of a response. Errors travel as the `Err` of a frame result.
#[derive(Debug, Clone, Default)]
pub struct ResponseMessage {
    /// The size of the whole response payload, when known (an object's size).
    pub size: u64,
    /// How `buffer` is encoded.
    pub encoding: Encoding,
    /// Whether the head holds an array of items.
    pub is_array: bool,
    /// Whether this is the response's last frame.
    pub is_last: bool,
    /// Frames produced but not yet taken by the caller when this one was sent.
    pub behind: u32,
    /// The typed head.
    pub head: Head,
    /// The payload, shared, never copied.
    pub buffer: Bytes,
}

/// A response: its frames, in order. The first error ends it.
pub type FrameStream = BoxStream<'static, Result<ResponseMessage>>;

/// Listing entries per frame.
pub const LIST_PAGE: usize = 1000;

/// Serves requests as frames: what the host's dispatcher talks to. Built-in drivers are
/// served through [`InstanceService`]; plugins through the ABI's host side.
#[async_trait]
pub trait Service: Send + Sync + 'static {
    /// What the binding can do.
    fn capability(&self) -> Capability;

    /// Whether the host may begin this binding's requests on the binding's own task (see
    /// [`Instance::answers_in_place`]; false by default).
    fn answers_in_place(&self) -> bool {
        false
    }

    /// Runs one request. An `Err` means nothing was produced (so the host may retry);
    /// an error inside the stream ends a response that had begun.
    async fn call(&self, request: DataRequest) -> Result<FrameStream>;
}

/// A connected built-in [`Instance`] served as frames.
pub struct InstanceService(pub Arc<dyn Instance>);

#[async_trait]
impl Service for InstanceService {
    fn capability(&self) -> Capability {
        self.0.capability()
    }

    fn answers_in_place(&self) -> bool {
        self.0.answers_in_place()
    }

    async fn call(&self, request: DataRequest) -> Result<FrameStream> {
        serve(self.0.as_ref(), request).await
    }
}

/// Runs a request on an instance and turns its typed response into frames.
pub async fn serve(instance: &dyn Instance, request: DataRequest) -> Result<FrameStream> {
    let command = request.command();
    let path = request.path;
    if command.kind() == Kind::Table {
        let table = instance
            .table()
            .ok_or_else(|| Error::unsupported(command.as_str()))?;
        return crate::table::serve::serve_table(table, &path, request.details).await;
    }
    if command.kind() == Kind::Stream {
        let stream = instance
            .stream()
            .ok_or_else(|| Error::unsupported(command.as_str()))?;
        return serve_stream(stream, &path, request.details).await;
    }
    if let Details::GenericCall(op) = request.details {
        let generic = instance
            .generic()
            .ok_or_else(|| Error::unsupported(command.as_str()))?;
        let resp = generic.call(&path, op).await?;
        return Ok(body_frames(
            Head::Reply(resp.reply),
            resp.size.unwrap_or(0),
            resp.body,
        ));
    }
    let object = instance
        .object()
        .ok_or_else(|| Error::unsupported(command.as_str()))?;
    match request.details {
        Details::ObjectGet(op) => {
            let resp = object.get(&path, op).await?;
            let size = resp.meta.size;
            Ok(body_frames(Head::Object(resp.meta), size, resp.body))
        }
        Details::ObjectPut(op, body) => {
            let meta = object.put(&path, body, op).await?;
            Ok(one_frame(Head::Object(meta)))
        }
        Details::ObjectHead(op) => {
            let meta = object.head(&path, op).await?;
            Ok(one_frame(Head::Object(meta)))
        }
        Details::ObjectDelete(op) => {
            object.delete(&path, op).await?;
            Ok(one_frame(Head::None))
        }
        Details::ObjectList(op) => {
            let entries = object.list(&path, op).await?;
            Ok(list_frames(entries))
        }
        Details::ObjectWatch(op) => Ok(array_frames(object.watch(&path, op).await?, Head::Changes)),
        Details::ObjectVersions(op) => Ok(one_frame(Head::Revisions(object.versions(&path, op).await?))),
        Details::ObjectTags(op) => Ok(one_frame(Head::Tags(object.tags(op).await?))),
        Details::ObjectRevert(op) => Ok(one_frame(Head::Object(object.revert(&path, op).await?))),
        Details::ObjectDiff(op) => Ok(one_frame(Head::Diff(object.diff(&path, op).await?))),
        _ => Err(Error::unsupported(command.as_str())),
    }
}

async fn serve_stream(
    stream: &dyn crate::stream::StreamDriver,
    path: &str,
    details: Details,
) -> Result<FrameStream> {
    Ok(match details {
        Details::StreamCreate(op) => {
            stream.create(path, op).await?;
            one_frame(Head::None)
        }
        Details::StreamUpdate(shards, options) => {
            stream.update(path, shards, options).await?;
            one_frame(Head::None)
        }
        Details::StreamDelete(options) => {
            stream.delete(path, options).await?;
            one_frame(Head::None)
        }
        Details::StreamListShards(options) => {
            one_frame(Head::Shards(stream.list_shards(path, options).await?))
        }
        Details::StreamPublish(op) => one_frame(Head::Positions(stream.publish(path, op).await?)),
        Details::StreamCheckpoint(op) => {
            stream.checkpoint(path, op).await?;
            one_frame(Head::None)
        }
        Details::StreamConsume(op) => array_frames(stream.consume(path, op).await?, Head::Messages),
        // `serve` routes only stream requests here.
        _ => return Err(Error::internal("an object request reached the stream driver")),
    })
}

/// Messages per consume frame, at most.
pub const MESSAGES_PER_FRAME: usize = 256;

/// Frames of a stream of items that may wait (a consume's messages, a watch's changes): an
/// empty first frame says the response has started (a follower of an idle stream has its
/// response at once, so no timeout cuts it off and a plugin's call returns); then each batch
/// of items that is ready goes out at once (a follower must not wait for the next item to
/// learn about this one), at most [`MESSAGES_PER_FRAME`] a frame; when the items end, an
/// empty last frame says so.
pub fn array_frames<T: Send + 'static>(
    items: BoxStream<'static, Result<T>>,
    head: fn(Vec<T>) -> Head,
) -> FrameStream {
    let frame = move |items: Vec<T>| ResponseMessage {
        is_array: true,
        head: head(items),
        ..ResponseMessage::default()
    };
    let started = stream::once(async move { Ok(frame(Vec::new())) });
    // Items ready together share a frame; an error among them ends the frame before it, so
    // the items ahead of an error are always delivered (it comes after them).
    let batches = items
        .ready_chunks(MESSAGES_PER_FRAME)
        .flat_map(move |batch| stream::iter(split_at_error(batch).into_iter().map(move |f| f.map(frame))));
    let end = stream::once(async {
        Ok(ResponseMessage {
            is_last: true,
            ..ResponseMessage::default()
        })
    });
    started.chain(batches).chain(end).boxed()
}

/// The items that were ready together, as the items before the first error (if any, or if
/// there is no error), then the error (if any); what followed an error is dropped with it
/// (the response ends there).
fn split_at_error<T>(batch: Vec<Result<T>>) -> Vec<Result<Vec<T>>> {
    let mut ok = Vec::with_capacity(batch.len());
    let mut error = None;
    for m in batch {
        match m {
            Ok(m) => ok.push(m),
            Err(e) => {
                error = Some(e);
                break;
            }
        }
    }
    let mut frames = Vec::with_capacity(2);
    if !ok.is_empty() || error.is_none() {
        frames.push(Ok(ok));
    }
    frames.extend(error.map(Err));
    frames
}

/// A response of one frame with this head and no payload.
pub fn one_frame(head: Head) -> FrameStream {
    stream::once(async move {
        Ok(ResponseMessage {
            is_last: true,
            head,
            ..ResponseMessage::default()
        })
    })
    .boxed()
}

/// Frames of a body (an object's, a generic answer's): the first carries `head` and the
/// first chunk; each frame knows whether it is the last (the stream is read one chunk ahead).
pub fn body_frames(head: Head, size: u64, body: crate::object::ByteStream) -> FrameStream {
    let state = (body.peekable(), Some(head), false);
    stream::unfold(state, move |(mut body, mut head, done)| async move {
        if done {
            return None;
        }
        let chunk = match std::pin::Pin::new(&mut body).next().await {
            Some(Err(e)) => return Some((Err(e), (body, None, true))),
            Some(Ok(c)) => c,
            None if head.is_none() => return None,
            None => Bytes::new(),
        };
        let is_last = std::pin::Pin::new(&mut body).peek().await.is_none();
        let frame = ResponseMessage {
            size,
            encoding: Encoding::Raw,
            is_last,
            head: head.take().unwrap_or_default(),
            buffer: chunk,
            ..ResponseMessage::default()
        };
        Some((Ok(frame), (body, None, is_last)))
    })
    .boxed()
}

/// Frames of a listing: pages of up to [`LIST_PAGE`] entries; an empty listing is one frame.
pub fn list_frames(entries: crate::object::ListStream) -> FrameStream {
    let pages = entries.ready_chunks(LIST_PAGE).peekable();
    stream::unfold((Box::pin(pages), false), |(mut pages, done)| async move {
        if done {
            return None;
        }
        let page = pages.next().await.unwrap_or_default();
        let page: Result<Vec<ListEntry>> = page.into_iter().collect();
        let page = match page {
            Ok(p) => p,
            Err(e) => return Some((Err(e), (pages, true))),
        };
        let is_last = pages.as_mut().peek().await.is_none();
        let frame = ResponseMessage {
            is_array: true,
            is_last,
            head: Head::Entries(page),
            ..ResponseMessage::default()
        };
        Some((Ok(frame), (pages, is_last)))
    })
    .boxed()
}

#[cfg(test)]
mod operation_tests {
    use super::*;

    #[test]
    fn messages_ready_before_an_error_are_delivered_before_it() {
        let m = |v: &'static str| Ok(Message::new(v));
        let frames = split_at_error(vec![m("a"), m("b"), Err(Error::internal("damaged")), m("c")]);
        assert_eq!(frames.len(), 2);
        assert_eq!(frames[0].as_ref().map(Vec::len).ok(), Some(2));
        assert!(frames[1].is_err());
        assert_eq!(split_at_error(vec![m("a")]).len(), 1);
        assert_eq!(
            split_at_error::<Message>(vec![Err(Error::internal("x"))]).len(),
            1
        );
    }

    #[test]
    fn every_operation_has_one_name_within_its_kind() {
        let mut seen = std::collections::HashSet::new();
        for c in Command::ALL {
            assert!(seen.insert((c.kind(), c.as_str())), "{c:?}");
        }
        assert_eq!(seen.len(), Command::ALL.len());
    }

    #[test]
    fn the_description_decides_refusal_and_repetition() {
        let get = |range| DataRequest {
            path: "a".into(),
            details: Details::ObjectGet(OpGet {
                range,
                ..OpGet::default()
            }),
        };
        let mut cap = Capability {
            get: true,
            ..Capability::default()
        };
        assert_eq!(get(None).missing_capability(&cap), None);
        // A byte range is never refused: the host's fill layer reads and slices without it.
        let ranged = get(Some(crate::object::ByteRange {
            offset: 1,
            length: None,
        }));
        assert_eq!(ranged.missing_capability(&cap), None);
        assert!(ranged.may_repeat());
        cap.get = false;
        assert_eq!(ranged.missing_capability(&cap).as_deref(), Some("get"));

        let put = |conditions| DataRequest {
            path: "a".into(),
            details: Details::ObjectPut(
                OpPut {
                    conditions,
                    ..OpPut::default()
                },
                PutBody::from_chunks([Bytes::from_static(b"x")]),
            ),
        };
        assert!(
            put(Default::default()).may_repeat(),
            "an unconditional put is repeatable"
        );
        let mut only_new = crate::object::Conditions::default();
        only_new.set("if-none-match", "*").unwrap();
        assert!(!put(only_new).may_repeat(), "a conditional put is not");
        assert_eq!(
            put(Default::default()).missing_capability(&cap).as_deref(),
            Some("put")
        );
        cap.put = true;
        cap.max_object_size = Some(0);
        assert_eq!(
            put(Default::default()).missing_capability(&cap).as_deref(),
            Some("put of an object of 1 bytes (its max_object_size is 0 bytes)")
        );
    }
}
