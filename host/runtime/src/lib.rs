//! The bindery host: reads `function.yaml`, connects each binding's driver once at start-up,
//! and dispatches the function's requests to it.
//!
//! - [`spec`]: the function spec, with `${VAR}` substitution, secrets, and errors that say
//!   `file:line:column`.
//! - [`registry`]: the built-in drivers and plugin libraries.
//! - [`schedule`]: when a `cron` trigger fires (intervals and cron expressions).
//! - [`host`]: the dispatcher: one task per binding, bounded channels, prefetch windows,
//!   capability checks, retries and timeouts.
//!
//! Function code does not use this crate directly; the SDK (`bindery`) does.

pub mod host;
mod layers;
pub mod processors;
pub mod registry;
pub mod schedule;
pub mod spec;
pub mod yaml;

pub use host::{Binding, Envelope, Host, Reloaded, Reply};
pub use registry::{Factory, Registry};
pub use schedule::Schedule;
pub use spec::{BindingSpec, Spec, SpecError, TriggerSpec};
