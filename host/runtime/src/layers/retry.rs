//! The retry layer: a retryable error is tried again, up to the binding's `retries`, with
//! exponential backoff (50 ms doubling, at most 2 s), when the request may be repeated:
//! reads, head, list and delete always; a put only when its data was given up front and it
//! has no condition (a retried create-only put could otherwise report a conflict with its own
//! first attempt); a generic call when the caller says it is idempotent.

use std::time::Duration;

use bindery_core::{DataRequest, Error, FrameStream, Result};

use super::Layer;

/// Retries what the layer inside answers with a retryable error.
pub(crate) struct Retry<L> {
    inner: L,
    binding: String,
    retries: u32,
}

impl<L> Retry<L> {
    pub(crate) fn new(inner: L, binding: &str, retries: u32) -> Retry<L> {
        Retry {
            inner,
            binding: binding.to_string(),
            retries,
        }
    }
}

impl<L: Layer> Layer for Retry<L> {
    async fn call(&self, request: DataRequest) -> Result<FrameStream> {
        let op = request.command().as_str();
        let mut backoff = Duration::from_millis(50);
        let mut pending = Some(request);
        let mut attempt = 0;
        loop {
            let Some(req) = pending.take() else {
                return Err(Error::internal("request lost between attempts"));
            };
            let spare = if attempt < self.retries && req.may_repeat() {
                req.try_clone()
            } else {
                None
            };
            match self.inner.call(req).await {
                Err(e) if e.is_retryable() && spare.is_some() => {
                    tracing::warn!(binding = %self.binding, op, attempt, error = %e, "Retrying after a retryable error.");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(2));
                    pending = spare;
                    attempt += 1;
                }
                other => return other,
            }
        }
    }
}
