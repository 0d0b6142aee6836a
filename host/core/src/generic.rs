//! The generic kind: requests and answers whose meaning the driver defines.
//!
//! A generic request is an operation name, a payload and options
//! (`ctx.generic().call("api://users/7").operation("GET")`); the answer is a [`CallReply`]
//! (a status and metadata, both the driver's to define) and a body streamed as frames, like an
//! object's. The `http` driver's operation is an HTTP method, its status the HTTP status and
//! its metadata the response headers.

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Error, Result};
use crate::object::ByteStream;
use crate::request::Options;

/// A generic call.
#[derive(Debug, Clone, Default)]
pub struct OpCall {
    /// The operation, as the driver names them (`GET` for `http`).
    pub operation: String,
    /// The payload, sent as it is.
    pub payload: Bytes,
    /// Whether doing the call twice has the effect of doing it once, so the host may retry it
    /// after a retryable error (the caller says so: only it knows the operation's meaning).
    pub idempotent: bool,
    /// Options (`.option(k, v)`).
    pub options: Options,
}

/// The head of a generic answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallReply {
    /// A status code (for `http`, the HTTP status).
    pub status: u32,
    /// Metadata pairs in order (for `http`, the response headers).
    pub metadata: Vec<(String, String)>,
}

/// A generic answer: the head and the body, streamed.
pub struct CallResponse {
    /// Status and metadata.
    pub reply: CallReply,
    /// The body's size, when known.
    pub size: Option<u64>,
    /// The body.
    pub body: ByteStream,
}

/// The generic operations of a driver.
#[async_trait]
pub trait GenericDriver: Send + Sync + 'static {
    /// Runs one call on `path` (the binding's `path` joined with the command's).
    ///
    /// # Behavior
    /// - MUST refuse an operation it does not define with `InvalidInput` naming the ones it does.
    /// - SHOULD stream the body rather than gather it.
    async fn call(&self, path: &str, op: OpCall) -> Result<CallResponse> {
        let _ = (path, op);
        Err(Error::unsupported("call"))
    }
}
