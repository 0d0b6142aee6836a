//! The layers around every binding, the same for built-in and plugin drivers (as OpenDAL's
//! layers wrap an accessor, or object_store's stores wrap one another). A request passes them
//! outside in:
//!
//! 1. **refuse** ([`refuse`]): what the binding's capability lacks is answered `Unsupported`,
//!    naming binding, driver and operation. It runs where the request is dispatched
//!    (`Binding::prepare`), so the caller has the answer before anything is queued.
//! 2. **processors** ([`Process`]): the binding's pipeline declared in the spec
//!    ([`crate::processors`]), on what the caller asked and on the answer.
//! 3. **fill** ([`Fill`]): what the request asks and the driver's capability lacks is taken
//!    off the request and done on the answer: a table read's key lookup, filter, projection
//!    and limit (after checking the read against the schema), a consume's `where_` and
//!    `select`, a get's byte range, a listing's delimiter, start-after and limit.
//! 4. **retry** ([`Retry`]): a retryable error is tried again, up to the binding's
//!    `retries`, when the request may be repeated (`DataRequest::may_repeat`, from the
//!    operation's description in the core).
//! 5. **timeout** ([`Timeout`]): each attempt has the binding's `timeout` until its response
//!    starts.
//! 6. **the driver**: built in, the core's `serve` (the typed driver call turned into
//!    frames), or a plugin through the ABI (whose side runs the same `serve`).
//!
//! Fill sits outside retry, so the schema request a read needs and the read itself are
//! each retried on their own.
//!
//! Layers compose statically ([`Stack`]): each is a [`Layer`] around the next, with no boxing
//! but the driver's. (DESIGN §11 has a layer be a `Service` wrapping a `Service`; a `Service`
//! call is boxed by `async_trait`, so the stack would cost an allocation per layer per request.
//! A [`Layer`] is the same shape without that.) The processors sit between refusal and fill:
//! they see what the caller asked, before the host takes part of it off for the driver.

mod fill;
mod process;
mod refuse;
mod retry;
mod timeout;

use std::future::Future;
use std::sync::Arc;

use bindery_core::{DataRequest, FrameStream, Result, Service};

pub(crate) use fill::Fill;
pub(crate) use process::Process;
pub(crate) use refuse::refuse;
pub(crate) use retry::Retry;
pub(crate) use timeout::Timeout;

/// One layer: takes a request, answers its frames (or an error before any frame).
pub(crate) trait Layer: Send + Sync + 'static {
    /// Runs the request through this layer and those inside it.
    fn call(&self, request: DataRequest) -> impl Future<Output = Result<FrameStream>> + Send;
}

/// The driver, innermost: a built-in driver's service or a plugin's.
pub(crate) struct Driver(Arc<dyn Service>);

impl Layer for Driver {
    fn call(&self, request: DataRequest) -> impl Future<Output = Result<FrameStream>> + Send {
        self.0.call(request)
    }
}

/// Every binding's stack, inside the refusal at dispatch.
pub(crate) type Stack = Process<Fill<Retry<Timeout<Driver>>>>;

/// The stack around a binding's driver.
pub(crate) fn stack(
    driver: Arc<dyn Service>,
    binding: &str,
    timeout: std::time::Duration,
    retries: u32,
    processors: Arc<arc_swap::ArcSwap<crate::processors::Pipeline>>,
) -> Stack {
    let capability = driver.capability();
    Process::new(
        Fill::new(
            Retry::new(Timeout::new(Driver(driver), timeout), binding, retries),
            capability,
        ),
        processors,
        capability,
    )
}
