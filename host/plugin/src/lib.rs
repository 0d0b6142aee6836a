//! Write a bindery driver plugin: a shared library the host loads at start-up.
//!
//! A plugin is a crate with `crate-type = ["cdylib"]` that implements [`Driver`] (and the
//! trait of each kind it serves, such as [`ObjectDriver`]) and exports it:
//!
//! ```ignore
//! // Cargo.toml: [lib] crate-type = ["cdylib"]; [dependencies] bindery-plugin = "0.1"
//! bindery_plugin::export_driver!(my_driver::MyDriver::default());
//! ```
//!
//! Build it with `cargo build --release` and name the library in `function.yaml`:
//!
//! ```yaml
//! dataBindings:
//!   things:
//!     kind: object
//!     driver: ./target/release/libmy_driver.so
//! ```
//!
//! The host checks the plugin's ABI version before anything else ([`ABI_VERSION`]); a
//! plugin built against another version is refused with an error saying so. Requests and
//! responses cross as Cap'n Proto envelopes, payload bytes without a copy, and a panic in
//! the driver becomes an `Internal` error instead of crossing the boundary.
//! `plugins/memory-plugin` in the bindery repository is a complete example.

pub use bindery_abi::export_driver;
pub use bindery_abi::ffi::ABI_VERSION;
pub use bindery_core::*;
