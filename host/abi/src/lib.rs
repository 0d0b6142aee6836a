//! The bindery plugin ABI: a versioned C entry point whose envelopes are Cap'n Proto.
//!
//! - [`ffi`]: the C types: the function table a plugin exports and the zero-copy buffer.
//! - [`batch`]: Arrow batches as the Arrow C Data Interface, lent across without a copy.
//! - [`codec`]: the core's requests, frames, errors and capabilities as the messages of
//!   `schemas/bindery.capnp` (generated at build time with `capnpc`).
//! - [`guest`]: the plugin side, behind [`export_driver!`].
//! - [`host`]: the host side: [`host::PluginLibrary`] loads a library with libloading,
//!   checks its ABI version, and serves a binding through it.
//!
//! Plugin authors use the `bindery-plugin` crate, which re-exports what they need.

pub mod batch;
pub mod codec;
pub mod ffi;
pub mod guest;
pub mod host;

/// The generated schema code.
#[allow(dead_code, unused_qualifications, missing_docs, clippy::all, clippy::pedantic)]
pub mod schema {
    include!(concat!(env!("OUT_DIR"), "/bindery_capnp.rs"));
}
// The generated code refers to itself as `crate::bindery_capnp`.
#[doc(hidden)]
pub use schema as bindery_capnp;

#[doc(hidden)]
pub mod __private {
    pub use bindery_core::Driver;
}
