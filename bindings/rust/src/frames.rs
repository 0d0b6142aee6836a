//! The receiving end of a request: its frames, from blocking or async code.

use std::sync::Arc;

use bindery_core::{Error, ResponseMessage, Result};
use bindery_runtime::Binding;

/// The frames of one response.
pub(crate) struct Frames {
    pub(crate) binding: Arc<Binding>,
    rx: flume::Receiver<Result<ResponseMessage>>,
    done: bool,
    op: &'static str,
    path: String,
}

impl Frames {
    pub(crate) fn new(
        binding: Arc<Binding>,
        rx: flume::Receiver<Result<ResponseMessage>>,
        op: &'static str,
        path: String,
    ) -> Frames {
        Frames {
            binding,
            rx,
            done: false,
            op,
            path,
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
        Some(item)
    }

    /// The next frame, waiting (blocking) for it; `None` after the last.
    pub(crate) fn next_blocking(&mut self) -> Option<Result<ResponseMessage>> {
        if self.done {
            return None;
        }
        let got = self.rx.recv();
        self.settle(got)
    }

    /// The next frame, waiting (async) for it; `None` after the last.
    pub(crate) async fn next_async(&mut self) -> Option<Result<ResponseMessage>> {
        if self.done {
            return None;
        }
        let got = self.rx.recv_async().await;
        self.settle(got)
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
