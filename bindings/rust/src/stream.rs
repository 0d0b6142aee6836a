//! Stream requests: `publish`, `consume`, `create`, `update`, `delete`, `list_shards`.

use std::collections::{BTreeMap, VecDeque};

use bindery_core::filter::Filter;
use bindery_core::{
    Bytes, Details, Error, Head, Kind, Message, OpCheckpoint, OpConsume, OpCreateStream, OpPublish, Options,
    ResponseMessage, Result, ShardInfo, StartAt,
};
use futures::stream::{self, Stream};

use crate::frames::{Frames, Items};
use crate::request::Req;
use crate::wait::Done;
use crate::Context;

/// The stream operations of a context: `ctx.stream()`.
#[derive(Clone)]
pub struct Streams {
    ctx: Context,
}

impl Streams {
    pub(crate) fn new(ctx: Context) -> Streams {
        Streams { ctx }
    }

    /// Publishes messages to a stream: add them with [`Publish::messages`] or
    /// [`Publish::buffers`].
    pub fn publish(&self, path: impl Into<String>) -> Publish {
        Publish {
            req: Req::new(&self.ctx, path),
            op: OpPublish::default(),
        }
    }

    /// Consumes a stream: [`Consume::load`] returns a [`Consumer`] at once.
    pub fn consume(&self, path: impl Into<String>) -> Consume {
        Consume {
            req: Req::new(&self.ctx, path.into()),
            op: OpConsume::default(),
        }
    }

    /// Creates the stream `name` under `path` (either may be empty) with `shards` shards.
    pub fn create(&self, path: impl Into<String>, name: &str, shards: u32) -> StreamAdmin {
        let path = join_name(path.into(), name);
        StreamAdmin {
            req: Req::new(&self.ctx, path),
            details: Details::StreamCreate(OpCreateStream {
                shards,
                options: Options::new(),
            }),
        }
    }

    /// Grows a stream to `shards` shards.
    pub fn update(&self, path: impl Into<String>, shards: u32) -> StreamAdmin {
        StreamAdmin {
            req: Req::new(&self.ctx, path),
            details: Details::StreamUpdate(shards, Options::new()),
        }
    }

    /// Deletes a stream and its messages.
    pub fn delete(&self, path: impl Into<String>) -> StreamAdmin {
        StreamAdmin {
            req: Req::new(&self.ctx, path),
            details: Details::StreamDelete(Options::new()),
        }
    }

    /// A stream's shards with their first and next positions.
    pub fn list_shards(&self, path: impl Into<String>) -> ListShards {
        ListShards {
            req: Req::new(&self.ctx, path),
            options: Options::new(),
        }
    }
}

fn join_name(path: String, name: &str) -> String {
    if name.is_empty() {
        path
    } else if path.is_empty() || path.ends_with("://") || path.ends_with('/') {
        format!("{path}{name}")
    } else {
        format!("{path}/{name}")
    }
}

fn positions(frames: Vec<ResponseMessage>) -> Result<Vec<(u32, u64)>> {
    match frames.into_iter().next().map(|f| f.head) {
        Some(Head::Positions(p)) => Ok(p),
        _ => Err(Error::internal("the driver answered a publish without positions")),
    }
}

fn finish_positions(frames: Vec<ResponseMessage>) -> Result<Done> {
    positions(frames).map(Done::Published)
}

fn shards(frames: Vec<ResponseMessage>) -> Result<Vec<ShardInfo>> {
    match frames.into_iter().next().map(|f| f.head) {
        Some(Head::Shards(s)) => Ok(s),
        _ => Err(Error::internal("the driver answered list_shards without shards")),
    }
}

fn finish_shards(frames: Vec<ResponseMessage>) -> Result<Done> {
    shards(frames).map(Done::Shards)
}

fn applied(_: Vec<ResponseMessage>) -> Result<()> {
    Ok(())
}

fn finish_applied(_: Vec<ResponseMessage>) -> Result<Done> {
    Ok(Done::Applied)
}

/// `publish(path)`: returns each message's `(shard, position)` once all are durable.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Publish {
    req: Req,
    op: OpPublish,
}

impl Publish {
    /// Adds messages (with keys and headers as they carry them).
    pub fn messages(mut self, messages: impl IntoIterator<Item = Message>) -> Self {
        self.op.messages.extend(messages);
        self
    }

    /// Adds messages that are only a value each.
    pub fn buffers<B: Into<Bytes>>(mut self, buffers: impl IntoIterator<Item = B>) -> Self {
        self.op.messages.extend(buffers.into_iter().map(Message::new));
        self
    }

    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.op.options.insert(key.into(), value.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let Publish { req, op } = self;
        req.send(Kind::Stream, "publish", false, || Details::StreamPublish(op))
    }
}

runnable!(Publish, Vec<(u32, u64)>, positions, finish_positions);

/// `create`, `update` or `delete` of a stream.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct StreamAdmin {
    req: Req,
    details: Details,
}

impl StreamAdmin {
    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        let (k, v) = (key.into(), value.into());
        match &mut self.details {
            Details::StreamCreate(o) => {
                o.options.insert(k, v);
            }
            Details::StreamUpdate(_, o) | Details::StreamDelete(o) => {
                o.insert(k, v);
            }
            _ => {}
        }
        self
    }

    fn send(self) -> Result<Frames> {
        let StreamAdmin { req, details } = self;
        let op = match &details {
            Details::StreamCreate(_) => "create",
            Details::StreamUpdate(..) => "update",
            _ => "delete",
        };
        req.send(Kind::Stream, op, false, || details)
    }
}

runnable!(StreamAdmin, (), applied, finish_applied);

/// `list_shards(path)`.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct ListShards {
    req: Req,
    options: Options,
}

impl ListShards {
    fn send(self) -> Result<Frames> {
        let ListShards { req, options } = self;
        req.send(Kind::Stream, "list_shards", false, || {
            Details::StreamListShards(options)
        })
    }
}

runnable!(ListShards, Vec<ShardInfo>, shards, finish_shards);

/// `consume(path)`: build with [`from_`](Consume::from_), [`group`](Consume::group),
/// [`where_`](Consume::where_), [`select`](Consume::select), then [`load`](Consume::load).
#[must_use = "a request does nothing until it is loaded"]
pub struct Consume {
    req: Req,
    op: OpConsume,
}

impl Consume {
    /// Where to start: `earliest`, `latest`, `checkpoint` (the group's; the default with a
    /// group), `position` (`"shard:position[,…]"`, as [`Consumer::get_position`] gives), or
    /// `timestamp` (milliseconds since the Unix epoch).
    pub fn from_(mut self, kind: &str, value: &str) -> Self {
        match StartAt::parse(kind, value) {
            Ok(s) => self.op.start = Some(s),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// Consumes as a member of a consumer group: the members split the shards, and
    /// [`Consumer::checkpoint`] records the group's progress.
    pub fn group(mut self, group: impl Into<String>) -> Self {
        self.op.group = Some(group.into());
        self
    }

    /// Only messages (JSON objects) passing a filter: `"amount > 100 AND kind = 'sale'"`.
    pub fn where_(mut self, filter: &str) -> Self {
        match Filter::parse(filter) {
            Ok(f) => self.op.filter = Some(f),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// Only these fields of each (JSON) message.
    pub fn select<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.op.select.extend(fields.into_iter().map(Into::into));
        self
    }

    /// The messages' format: `raw` (the default) or `json` (messages that are not JSON
    /// objects are skipped).
    pub fn format(mut self, format: &str) -> Self {
        match format {
            "raw" | "bytes" => {}
            "json" => {
                if self.op.filter.is_none() {
                    // An always-true filter makes the host check that messages are JSON.
                    self.op.filter = Filter::parse("TRUE").ok();
                }
            }
            other => self.req.fail(Error::invalid_input(format!(
                "unknown format '{other}'; formats: raw, json"
            ))),
        }
        self
    }

    /// Whether to wait for new messages at the end (the default) or stop there.
    pub fn follow(mut self, follow: bool) -> Self {
        self.op.follow = follow;
        self
    }

    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.op.options.insert(key.into(), value.into());
        self
    }

    /// Starts consuming and returns the consumer at once; messages are prefetched up to the
    /// binding's window while the caller works.
    pub fn load(self) -> Consumer {
        let Consume { req, op } = self;
        let ctx = req.ctx().clone();
        let path = req.path().to_string();
        let group = op.group.clone();
        let sent = req.send(Kind::Stream, "consume", false, || Details::StreamConsume(op));
        let unpack = |f: ResponseMessage, queue: &mut VecDeque<Message>| {
            if let Head::Messages(m) = f.head {
                queue.extend(m);
            }
        };
        Consumer {
            ctx,
            path,
            group,
            items: Items::new(sent, Box::new(unpack)),
            consumed: BTreeMap::new(),
        }
    }
}

/// The response of `consume(…).load()`: messages in order within each shard.
///
/// Use it from blocking code (the methods, or as an `Iterator`) or async code
/// ([`next_async`](Consumer::next_async), [`into_stream`](Consumer::into_stream)).
pub struct Consumer {
    ctx: Context,
    path: String,
    group: Option<String>,
    items: Items<Message>,
    /// Per shard, the position after the last message handed out.
    consumed: BTreeMap<u32, u64>,
}

impl Consumer {
    fn note(&mut self, m: Option<Result<Message>>) -> Option<Result<Message>> {
        if let Some(Ok(m)) = &m {
            self.consumed.insert(m.shard, m.position + 1);
        }
        m
    }

    /// The next message, waiting (blocking) for one; `None` when the stream ended (only
    /// without `follow`).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Message>> {
        let m = self.items.next_blocking();
        self.note(m)
    }

    /// The next message, waiting (async) for one.
    pub async fn next_async(&mut self) -> Option<Result<Message>> {
        let m = self.items.next_async().await;
        self.note(m)
    }

    /// The next message if one arrives within `timeout` (blocking at most that long);
    /// `None` when none did, or at the end ([`ended`](Consumer::ended) tells which). Use it
    /// to do other work (such as checkpointing) while following an idle stream.
    pub fn poll(&mut self, timeout: std::time::Duration) -> Option<Result<Message>> {
        let m = self.items.poll_blocking(timeout);
        self.note(m)
    }

    /// Whether the consumer has ended (only without `follow`, or after an error) and every
    /// message has been taken.
    pub fn ended(&self) -> bool {
        self.items.ended()
    }

    /// The next message's value only.
    pub fn next_bytes(&mut self) -> Option<Result<Bytes>> {
        self.next().map(|m| m.map(|m| m.value))
    }

    /// Whether another message (or an error) follows; blocks until one arrives or the
    /// stream ends.
    pub fn has_next(&mut self) -> bool {
        self.items.has_next_blocking()
    }

    /// A message's position, `shard:position`: `from_("position", …)` starts there.
    pub fn get_position(&self, message: &Message) -> String {
        message.position_string()
    }

    /// Sends the checkpoint of `message`: the group is done with it and everything before
    /// it in its shard, so the next position to consume is the one after it.
    fn send_checkpoint(&self, positions: Vec<(u32, u64)>) -> Result<Frames> {
        let group = self.group.clone().ok_or_else(|| {
            Error::invalid_input("checkpoint needs a consumer group: consume(…).group(\"name\")")
        })?;
        let op = OpCheckpoint {
            group,
            positions,
            options: Options::new(),
        };
        let req = crate::request::Req::new(&self.ctx, self.path.clone());
        req.send(Kind::Stream, "checkpoint", false, || {
            Details::StreamCheckpoint(op)
        })
    }

    /// Records, durably, that the group has handled `message` and everything before it in
    /// its shard (blocking). A consumer of the group that starts later begins after it.
    /// Other shards keep their checkpoints.
    pub fn checkpoint(&self, message: &Message) -> Result<()> {
        let at = vec![(message.shard, message.position + 1)];
        crate::request::run_blocking(self.send_checkpoint(at), applied)
    }

    /// Like [`checkpoint`](Consumer::checkpoint), async. The future holds no reference to
    /// the consumer (which is not `Sync`), so a task may await it while it keeps consuming.
    pub fn checkpoint_async(
        &self,
        message: &Message,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        self.checkpoint_at_async(vec![(message.shard, message.position + 1)])
    }

    /// Records, durably and in one request, these positions (per shard, the next position to
    /// consume): what the `stream` trigger has handled.
    /// The future holds no reference to the consumer (which is not `Sync`).
    pub(crate) fn checkpoint_at_async(
        &self,
        positions: Vec<(u32, u64)>,
    ) -> impl std::future::Future<Output = Result<()>> + Send + 'static {
        crate::request::run_async(self.send_checkpoint(positions), applied)
    }

    /// Records, durably and in one request, everything this consumer has handed out so far,
    /// in every shard (blocking); like Kafka's commit of the consumer's state. Nothing
    /// consumed yet: nothing to record.
    pub fn checkpoint_consumed(&self) -> Result<()> {
        match self.consumed_positions() {
            Some(at) => crate::request::run_blocking(self.send_checkpoint(at), applied),
            None => Ok(()),
        }
    }

    /// Like [`checkpoint_consumed`](Consumer::checkpoint_consumed), async.
    pub async fn checkpoint_consumed_async(&self) -> Result<()> {
        match self.consumed_positions() {
            Some(at) => crate::request::run_async(self.send_checkpoint(at), applied).await,
            None => Ok(()),
        }
    }

    /// What `checkpoint_consumed` records; `None` when there is nothing to record (without
    /// a group the request goes on, to fail naming the missing group).
    fn consumed_positions(&self) -> Option<Vec<(u32, u64)>> {
        if self.consumed.is_empty() && self.group.is_some() {
            return None;
        }
        Some(self.consumed.iter().map(|(s, p)| (*s, *p)).collect())
    }

    /// The messages as a `futures::Stream`.
    pub fn into_stream(self) -> impl Stream<Item = Result<Message>> + Send + 'static {
        stream::unfold(self, |mut c| async move { c.next_async().await.map(|m| (m, c)) })
    }

    /// Stops consuming and waits (blocking) until the driver has stopped: a group member
    /// has left its group, and its shards go to the other members. Dropping a consumer
    /// does the same without waiting.
    pub fn close(self) {
        self.items.close_blocking();
    }

    /// Like [`close`](Consumer::close), async.
    pub async fn close_async(self) {
        self.items.close_async().await;
    }
}

impl Iterator for Consumer {
    type Item = Result<Message>;
    fn next(&mut self) -> Option<Result<Message>> {
        Consumer::next(self)
    }
}
