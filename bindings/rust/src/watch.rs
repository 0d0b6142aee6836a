//! `watch(prefix)` and `watch(table)`: changes to objects or rows as they happen, also those
//! made outside bindery.
//!
//! ```no_run
//! # async fn run(ctx: bindery::Context) -> bindery::Result<()> {
//! let mut watcher = ctx.object().watch("files://incoming/").initial(true).load();
//! while let Some(change) = watcher.next_async().await {
//!     let change = change?;
//!     println!("{} {} (resume with {})", change.kind, change.path, change.cursor);
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;

use bindery_core::{Change, Details, Head, Kind, OpWatch, ResponseMessage, Result, WatchFrom};
use futures::stream::{self, Stream};

use crate::frames::Items;
use crate::request::Req;

/// `watch(prefix)` (objects) or `watch(table)` (rows): build with [`from_`](Watch::from_)
/// and [`initial`](Watch::initial), then [`load`](Watch::load).
#[must_use = "a watch does nothing until it is loaded"]
pub struct Watch {
    req: Req,
    op: OpWatch,
    kind: Kind,
}

impl Watch {
    /// A watch of `kind` (object or table) on `path`.
    pub(crate) fn new(req: Req, kind: Kind) -> Watch {
        Watch {
            req,
            op: OpWatch::default(),
            kind,
        }
    }

    /// Where to start: `now` (the default: changes from now on) or `cursor` with a
    /// change's cursor (the changes after it; if they can no longer all be told, a `resync`
    /// change and the current state come first).
    pub fn from_(mut self, kind: &str, value: &str) -> Self {
        match WatchFrom::parse(kind, value) {
            Ok(f) => self.op.from = f,
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// The current state first, as `created` changes, then one `synced` change, then the
    /// live changes: a cache built from them misses nothing.
    pub fn initial(mut self, initial: bool) -> Self {
        self.op.initial = initial;
        self
    }

    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.op.options.insert(key.into(), value.into());
        self
    }

    /// Starts watching and returns the watcher at once.
    pub fn load(self) -> Watcher {
        let Watch { req, op, kind } = self;
        let sent = req.send(kind, "watch", true, || match kind {
            Kind::Table => Details::TableWatch(op),
            _ => Details::ObjectWatch(op),
        });
        let unpack = |f: ResponseMessage, queue: &mut VecDeque<Change>| {
            if let Head::Changes(c) = f.head {
                queue.extend(c);
            }
        };
        Watcher {
            items: Items::new(sent, Box::new(unpack)),
        }
    }
}

/// The response of `watch(…).load()`: changes in order per path, each with a cursor to
/// resume after it. It ends only on an error or when closed.
///
/// Use it from blocking code (the methods, or as an `Iterator`) or async code
/// ([`next_async`](Watcher::next_async), [`into_stream`](Watcher::into_stream)).
pub struct Watcher {
    items: Items<Change>,
}

impl Watcher {
    /// Waits (blocking) until the watch is in place: every change made after this returns
    /// is reported. (`load` returns at once; a change made before the driver has begun
    /// watching may be missed unless it is in the `initial` state.)
    pub fn ready(&mut self) {
        self.items.start_blocking();
    }

    /// Like [`ready`](Watcher::ready), async.
    pub async fn ready_async(&mut self) {
        self.items.start_async().await;
    }

    /// The next change, waiting (blocking) for one.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<Change>> {
        self.items.next_blocking()
    }

    /// The next change, waiting (async) for one.
    pub async fn next_async(&mut self) -> Option<Result<Change>> {
        self.items.next_async().await
    }

    /// The next change if one comes within `timeout` (blocking at most that long).
    pub fn poll(&mut self, timeout: std::time::Duration) -> Option<Result<Change>> {
        self.items.poll_blocking(timeout)
    }

    /// The changes as a `futures::Stream`.
    pub fn into_stream(self) -> impl Stream<Item = Result<Change>> + Send + 'static {
        stream::unfold(self, |mut w| async move { w.next_async().await.map(|c| (c, w)) })
    }

    /// Stops watching and waits (blocking) until the driver has let go. Dropping a watcher
    /// stops it without waiting.
    pub fn close(self) {
        self.items.close_blocking();
    }

    /// Like [`close`](Watcher::close), async.
    pub async fn close_async(self) {
        self.items.close_async().await;
    }
}

impl Iterator for Watcher {
    type Item = Result<Change>;
    fn next(&mut self) -> Option<Result<Change>> {
        Watcher::next(self)
    }
}
