//! The receiving end of a request: its frames, from blocking or async code.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bindery_core::{path, Error, Head, ListEntry, ResponseMessage, Result};
use bindery_runtime::Binding;

/// The frames of one response.
pub(crate) struct Frames {
    pub(crate) binding: Arc<Binding>,
    rx: bindery_runtime::Reply,
    done: bool,
    op: &'static str,
    path: String,
    /// The binding's spec prefix, stripped from the paths in the answers (empty: none).
    prefix: String,
}

impl Frames {
    pub(crate) fn new(
        binding: Arc<Binding>,
        rx: bindery_runtime::Reply,
        op: &'static str,
        path: String,
        prefix: String,
    ) -> Frames {
        Frames {
            binding,
            rx,
            done: false,
            op,
            path,
            prefix,
        }
    }

    fn settle(
        &mut self,
        got: std::result::Result<Result<ResponseMessage>, flume::RecvError>,
    ) -> Option<Result<ResponseMessage>> {
        let item = match got {
            Ok(item) => item,
            Err(flume::RecvError::Disconnected) => Err(self.binding.context(
                Error::internal("the response ended before its last frame (the host stopped?)"),
                self.op,
                &self.path,
            )),
        };
        self.done = item.as_ref().map_or(true, |f| f.is_last);
        Some(item.map(|mut f| {
            strip_prefix(&self.prefix, &mut f.head);
            f
        }))
    }

    /// The next frame, waiting (blocking) for it; `None` after the last.
    pub(crate) fn next_blocking(&mut self) -> Option<Result<ResponseMessage>> {
        if self.done {
            return None;
        }
        let got = self.rx.recv();
        self.settle(got)
    }

    /// The next frame, waiting (blocking) until `deadline` at most: `Err(())` when none came
    /// in time.
    pub(crate) fn next_until(
        &mut self,
        deadline: Instant,
    ) -> std::result::Result<Option<Result<ResponseMessage>>, ()> {
        if self.done {
            return Ok(None);
        }
        let got = match self.rx.recv_deadline(deadline) {
            Ok(item) => Ok(item),
            Err(flume::RecvTimeoutError::Timeout) => return Err(()),
            Err(flume::RecvTimeoutError::Disconnected) => Err(flume::RecvError::Disconnected),
        };
        Ok(self.settle(got))
    }

    /// The next frame, waiting (async) for it; `None` after the last.
    pub(crate) async fn next_async(&mut self) -> Option<Result<ResponseMessage>> {
        if self.done {
            return None;
        }
        let got = self.rx.recv_async().await;
        self.settle(got)
    }

    /// Abandons the request and waits (blocking) until the driver has let go of it.
    pub(crate) fn close_blocking(self) {
        let rx = self.rx.cancel();
        while rx.recv().is_ok() {}
    }

    /// Abandons the request and waits (async) until the driver has let go of it.
    pub(crate) async fn close_async(self) {
        let rx = self.rx.cancel();
        while rx.recv_async().await.is_ok() {}
    }

    /// Every frame, waiting (blocking).
    pub(crate) fn collect_blocking(mut self) -> Result<Vec<ResponseMessage>> {
        let mut out = Vec::new();
        while let Some(f) = self.next_blocking() {
            out.push(f?);
        }
        Ok(out)
    }

    /// Every frame, waiting (async).
    pub(crate) async fn collect_async(mut self) -> Result<Vec<ResponseMessage>> {
        let mut out = Vec::new();
        while let Some(f) = self.next_async().await {
            out.push(f?);
        }
        Ok(out)
    }
}

/// The paths an answer names, relative to the binding again: the one place the spec prefix
/// the runtime joined is taken off.
fn strip_prefix(prefix: &str, head: &mut Head) {
    if prefix.is_empty() {
        return;
    }
    let strip = |p: &mut String| *p = path::strip_prefix(prefix, p).to_string();
    match head {
        Head::Object(m) => strip(&mut m.path),
        Head::Entries(entries) => {
            for e in entries {
                match e {
                    ListEntry::Object(m) => strip(&mut m.path),
                    ListEntry::Prefix(p) => strip(p),
                }
            }
        }
        Head::Changes(changes) => {
            for c in changes {
                strip(&mut c.path);
            }
        }
        _ => {}
    }
}

/// Unpacks one frame's items onto the queue.
type Unpack<T> = Box<dyn FnMut(ResponseMessage, &mut VecDeque<T>) + Send>;

/// Items unpacked from a response's frames as they arrive (listing entries, stream
/// messages), taken one at a time; an error comes after the items before it.
pub(crate) struct Items<T> {
    frames: Option<Frames>,
    queue: VecDeque<T>,
    error: Option<Error>,
    unpack: Unpack<T>,
    /// Whether a frame has been taken.
    started: bool,
}

impl<T> Items<T> {
    pub(crate) fn new(sent: Result<Frames>, unpack: Unpack<T>) -> Items<T> {
        let (frames, error) = match sent {
            Ok(f) => (Some(f), None),
            Err(e) => (None, Some(e)),
        };
        Items {
            frames,
            queue: VecDeque::new(),
            error,
            unpack,
            started: false,
        }
    }

    /// Takes in a frame; false when there are no more.
    fn absorb(&mut self, frame: Option<Result<ResponseMessage>>) -> bool {
        match frame {
            None => {
                self.frames = None;
                false
            }
            Some(Err(e)) => {
                self.error.get_or_insert(e);
                self.frames = None;
                false
            }
            Some(Ok(f)) => {
                self.started = true;
                (self.unpack)(f, &mut self.queue);
                true
            }
        }
    }

    fn ready(&mut self) -> Option<Option<Result<T>>> {
        if let Some(item) = self.queue.pop_front() {
            return Some(Some(Ok(item)));
        }
        self.error.take().map(|e| Some(Err(e)))
    }

    /// The next item, waiting (blocking) for it; `None` at the end.
    pub(crate) fn next_blocking(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(r) = self.ready() {
                return r;
            }
            let frame = self.frames.as_mut().and_then(Frames::next_blocking);
            if !self.absorb(frame) {
                return self.ready().flatten();
            }
        }
    }

    /// The next item, waiting (async) for it; `None` at the end.
    pub(crate) async fn next_async(&mut self) -> Option<Result<T>> {
        loop {
            if let Some(r) = self.ready() {
                return r;
            }
            let frame = match &mut self.frames {
                Some(f) => f.next_async().await,
                None => None,
            };
            if !self.absorb(frame) {
                return self.ready().flatten();
            }
        }
    }

    /// The next item if one comes within `timeout`; `None` when none did or at the end.
    pub(crate) fn poll_blocking(&mut self, timeout: Duration) -> Option<Result<T>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(r) = self.ready() {
                return r;
            }
            let frame = match self.frames.as_mut().map(|f| f.next_until(deadline)) {
                Some(Err(())) => return None,
                Some(Ok(frame)) => frame,
                None => None,
            };
            if !self.absorb(frame) {
                return self.ready().flatten();
            }
        }
    }

    /// Takes the response's first frame, if no frame has been taken yet (blocking): for a
    /// response whose first frame says it has started (a watch, a consume), the driver has
    /// begun once this returns. An error is kept for the next item.
    pub(crate) fn start_blocking(&mut self) {
        if !self.started {
            self.started = true;
            let frame = self.frames.as_mut().and_then(Frames::next_blocking);
            self.absorb(frame);
        }
    }

    /// Like [`start_blocking`](Items::start_blocking), async.
    pub(crate) async fn start_async(&mut self) {
        if !self.started {
            self.started = true;
            let frame = match &mut self.frames {
                Some(f) => f.next_async().await,
                None => None,
            };
            self.absorb(frame);
        }
    }

    /// Whether every item has been taken and no more will come.
    pub(crate) fn ended(&self) -> bool {
        self.frames.is_none() && self.queue.is_empty() && self.error.is_none()
    }

    /// Whether an item (or an error) follows; blocks until that is known.
    pub(crate) fn has_next_blocking(&mut self) -> bool {
        while self.queue.is_empty() && self.error.is_none() {
            let frame = self.frames.as_mut().and_then(Frames::next_blocking);
            if !self.absorb(frame) {
                break;
            }
        }
        !self.queue.is_empty() || self.error.is_some()
    }

    /// Abandons the response and waits (blocking) until the driver has let go of it.
    pub(crate) fn close_blocking(self) {
        if let Some(f) = self.frames {
            f.close_blocking();
        }
    }

    /// Abandons the response and waits (async) until the driver has let go of it.
    pub(crate) async fn close_async(self) {
        if let Some(f) = self.frames {
            f.close_async().await;
        }
    }
}
