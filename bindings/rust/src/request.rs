//! The request engine every builder runs on: a [`Req`] resolves its path and sends its
//! details to the binding's driver, and the three ways to run it (`.await`, `do_()`,
//! `do_async(&wg)`, made by [`runnable!`]) collect its frames and finish them into a result.
//!
//! The spec's path prefix is joined to object paths by the runtime's `resolve` and stripped
//! from the answers by [`Frames`], nowhere else. Errors raised before sending get their
//! operation and path in [`Req::send`]; every other error comes from the runtime with its
//! binding, driver, operation and path already attached.

use bindery_core::{Bytes, Conditions, Details, Error, Kind, ResponseMessage, Result};
use bytes::BytesMut;

use crate::frames::Frames;
use crate::wait::{Finish, WaitGroup};
use crate::Context;

/// What every builder holds: the context, the command path, and the first misuse.
pub(crate) struct Req {
    ctx: Context,
    path: String,
    error: Option<Error>,
}

impl Req {
    pub(crate) fn new(ctx: &Context, path: impl Into<String>) -> Req {
        Req {
            ctx: ctx.clone(),
            path: path.into(),
            error: None,
        }
    }

    pub(crate) fn ctx(&self) -> &Context {
        &self.ctx
    }

    pub(crate) fn path(&self) -> &str {
        &self.path
    }

    pub(crate) fn fail(&mut self, e: Error) {
        self.error.get_or_insert(e);
    }

    pub(crate) fn condition(&mut self, conditions: &mut Conditions, key: &str, value: String) {
        if let Err(e) = conditions.set(key, value) {
            self.fail(e);
        }
    }

    /// Resolves the path on a binding of `kind` (the runtime joins the binding's spec path;
    /// `listing`: the path is a listing prefix, which may be empty) and sends the request; an
    /// object request's frames come back with the spec path stripped again (see [`Frames`]).
    /// An error before sending gets the operation and path here; the runtime adds binding
    /// and driver to the others.
    pub(crate) fn send(
        self,
        kind: Kind,
        op: &'static str,
        listing: bool,
        details: impl FnOnce() -> Details,
    ) -> Result<Frames> {
        if let Some(e) = self.error {
            return Err(e.with_operation(op).with_path(self.path));
        }
        let (binding, effective) = self
            .ctx
            .host()
            .resolve(kind, &self.path, listing)
            .map_err(|e| e.with_operation(op).with_path(&self.path))?;
        let request = bindery_core::DataRequest {
            path: effective.clone(),
            details: details(),
        };
        let (envelope, rx) = binding.prepare(request)?;
        binding.dispatch(envelope)?;
        let spec_prefix = match kind {
            Kind::Object => binding.spec().path.clone(),
            _ => String::new(),
        };
        Ok(Frames::new(binding, rx, op, effective, spec_prefix))
    }
}

/// Joins chunks; one chunk is returned as it is, without a copy.
pub(crate) fn concat(mut chunks: Vec<Bytes>) -> Bytes {
    match chunks.len() {
        0 => Bytes::new(),
        1 => chunks.pop().unwrap_or_default(),
        _ => {
            let mut buf = BytesMut::with_capacity(chunks.iter().map(Bytes::len).sum());
            for c in &chunks {
                buf.extend_from_slice(c);
            }
            buf.freeze()
        }
    }
}

/// Runs a request and turns its frames into a result, blocking.
pub(crate) fn run_blocking<T>(
    sent: Result<Frames>,
    finish: impl FnOnce(Vec<ResponseMessage>) -> Result<T>,
) -> Result<T> {
    finish(sent?.collect_blocking()?)
}

/// Runs a request and turns its frames into a result, async.
pub(crate) async fn run_async<T>(
    sent: Result<Frames>,
    finish: impl FnOnce(Vec<ResponseMessage>) -> Result<T>,
) -> Result<T> {
    finish(sent?.collect_async().await?)
}

/// Adds a sent request to a wait group, which finishes it when waited for.
pub(crate) fn enqueue(sent: Result<Frames>, wg: &WaitGroup, finish: Finish) -> Result<()> {
    wg.add(sent?, finish);
    Ok(())
}

/// The three ways to run a request: `.await`, `do_()` (blocking) and `do_async(&wg)`.
macro_rules! runnable {
    ($t:ty, $out:ty, $finish:path, $done:path) => {
        impl $t {
            /// Runs the request and waits (blocking) for its result.
            pub fn do_(self) -> $crate::Result<$out> {
                $crate::request::run_blocking(self.send(), $finish)
            }

            /// Sends the request now and adds it to a wait group; `ctx.wait(&wg)` collects
            /// the result.
            pub fn do_async(self, wg: &$crate::WaitGroup) -> $crate::Result<()> {
                $crate::request::enqueue(self.send(), wg, $done)
            }
        }

        /// Awaiting a request runs it (the data-binding API's `do`).
        impl ::std::future::IntoFuture for $t {
            type Output = $crate::Result<$out>;
            type IntoFuture = ::futures::future::BoxFuture<'static, $crate::Result<$out>>;
            fn into_future(self) -> Self::IntoFuture {
                let sent = self.send();
                Box::pin($crate::request::run_async(sent, $finish))
            }
        }
    };
}
