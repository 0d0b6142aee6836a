//! Generic requests: `ctx.generic().call("api://users/7").operation("GET")`.

use bindery_core::{Bytes, CallReply, Details, Error, Head, Kind, OpCall, Options, ResponseMessage, Result};

use crate::frames::Frames;
use crate::request::Req;
use crate::wait::Done;
use crate::Context;

/// Generic requests of a context.
pub struct Generics {
    ctx: Context,
}

impl Generics {
    pub(crate) fn new(ctx: Context) -> Generics {
        Generics { ctx }
    }

    /// A call on `path` (`name://rest`); what it does is the driver's `operation`.
    pub fn call(&self, path: impl Into<String>) -> Call {
        Call {
            req: Req::new(&self.ctx, path),
            op: OpCall::default(),
        }
    }
}

/// `call(path)`: build with [`operation`](Call::operation), [`payload`](Call::payload),
/// [`idempotent`](Call::idempotent) and [`option`](Call::option), then `.await`,
/// [`do_`](Call::do_) or [`do_async`](Call::do_async).
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Call {
    req: Req,
    op: OpCall,
}

/// A generic answer: the driver's status and metadata, and the body.
#[derive(Debug, Clone, PartialEq)]
pub struct CallOutput {
    /// The status (for `http`, the HTTP status).
    pub status: u32,
    /// Metadata pairs in order (for `http`, the response headers, names lowercased).
    pub metadata: Vec<(String, String)>,
    /// The body (no copy when it came in one frame).
    pub body: Bytes,
}

impl CallOutput {
    /// The first metadata value of that name (case-insensitive).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The body parsed as JSON.
    pub fn json<T: serde::de::DeserializeOwned>(&self) -> Result<T> {
        serde_json::from_slice(&self.body)
            .map_err(|e| Error::invalid_input(format!("the answer is not the JSON expected: {e}")))
    }
}

impl Call {
    /// The operation, as the driver names them (`http`: the method, `GET`, `POST`, …).
    pub fn operation(mut self, operation: impl Into<String>) -> Self {
        self.op.operation = operation.into();
        self
    }

    /// The payload (`http`: the request body).
    pub fn payload(mut self, payload: impl Into<Bytes>) -> Self {
        self.op.payload = payload.into();
        self
    }

    /// Says that running the call twice has the effect of running it once, so the host may
    /// retry it after a retryable error (by default generic calls are not retried).
    pub fn idempotent(mut self, idempotent: bool) -> Self {
        self.op.idempotent = idempotent;
        self
    }

    /// Adds an option, passed to the driver (`http`: `header.NAME`, `query.NAME`).
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.op.options.insert(key.into(), value.into());
        self
    }

    /// Options so far.
    pub fn options(&self) -> &Options {
        &self.op.options
    }

    fn send(self) -> Result<Frames> {
        let Call { req, op } = self;
        req.send(Kind::Generic, "call", false, || Details::GenericCall(op))
    }
}

fn output(frames: Vec<ResponseMessage>) -> Result<CallOutput> {
    let mut reply: Option<CallReply> = None;
    let mut chunks = Vec::with_capacity(frames.len());
    for f in frames {
        if let Head::Reply(r) = f.head {
            reply = Some(r);
        }
        if !f.buffer.is_empty() {
            chunks.push(f.buffer);
        }
    }
    let reply = reply.ok_or_else(|| Error::internal("the driver answered without a reply head"))?;
    Ok(CallOutput {
        status: reply.status,
        metadata: reply.metadata,
        body: crate::request::concat(chunks),
    })
}

fn finish_call(frames: Vec<ResponseMessage>) -> Result<Done> {
    output(frames).map(Done::Called)
}

runnable!(Call, CallOutput, output, finish_call);
