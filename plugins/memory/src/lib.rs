//! The `memory` object driver: objects in the host's memory, gone when it stops.
//!
//! Every binding connected with this driver has its own store. Data is kept as the
//! reference-counted [`Bytes`] it was written with, so a get (of the whole object or of a
//! range) hands out the same memory without copying. It supports every object operation and
//! condition, and is the reference the object conformance suite is written against. It keeps
//! the last `versions` revisions of each object (default 100) for reads at a revision, revert
//! and diff, and tags naming revisions (see `bindery_core::version`); revision ids are numbers
//! counting the binding's writes.
//!
//! ```yaml
//! dataBindings:
//!   scratch:
//!     kind: object
//!     driver: memory
//! ```

mod config;
mod error;
mod object;
mod versions;

use std::sync::Arc;

use bindery_core::{async_trait, BindingConfig, Capability, Connect, Instance, Kind, Result};

pub use object::MemoryStore;

/// The `memory` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryDriver;

#[async_trait]
impl Connect for MemoryDriver {
    const NAME: &'static str = "memory";
    const KINDS: &'static [Kind] = &[Kind::Object];
    /// What a binding can do: every object operation and condition, watch, and versions
    /// (unless its option `versions` is 0).
    const CAPABILITY: Capability = Capability::FULL_OBJECT.watched().versioned();
    const DESCRIPTION: &'static str = "Objects in memory, per binding; lost when the host stops.";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const OPTIONS: &'static [(&'static str, &'static str)] = config::OPTIONS;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let config = config::Config::from_binding(&config)?;
        Ok(Arc::new(MemoryStore::new(config.versions, config.defaults)))
    }
}
