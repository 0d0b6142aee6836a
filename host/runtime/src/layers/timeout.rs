//! The timeout layer: each attempt has the binding's `timeout` until its response starts.
//! A put's response starts once its data is written, and a streamed put lasts as long as its
//! input does, so only puts whose data was given up front are timed.

use std::time::Duration;

use bindery_core::{DataRequest, Details, Error, ErrorKind, FrameStream, Result};

use super::Layer;

/// Bounds each call of the layer inside.
pub(crate) struct Timeout<L> {
    inner: L,
    timeout: Duration,
}

impl<L> Timeout<L> {
    pub(crate) fn new(inner: L, timeout: Duration) -> Timeout<L> {
        Timeout { inner, timeout }
    }
}

impl<L: Layer> Layer for Timeout<L> {
    async fn call(&self, request: DataRequest) -> Result<FrameStream> {
        let timed = !matches!(&request.details, Details::ObjectPut(_, body) if body.known_size().is_none());
        if !timed {
            return self.inner.call(request).await;
        }
        match tokio::time::timeout(self.timeout, self.inner.call(request)).await {
            Ok(r) => r,
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                format!("no response within {:?} (the binding's `timeout`)", self.timeout),
            )),
        }
    }
}
