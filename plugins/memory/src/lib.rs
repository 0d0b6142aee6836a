//! The `memory` object driver: objects in the host's memory, gone when it stops.
//!
//! Every binding connected with this driver has its own store. Data is kept as the
//! reference-counted [`Bytes`] it was written with, so a get (of the whole object or of a
//! range) hands out the same memory without copying. It supports every object operation and
//! condition, and is the reference the object conformance suite is written against.
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

use std::sync::Arc;

use bindery_core::{async_trait, BindingConfig, Capability, Driver, DriverInfo, Instance, Kind, Result};

pub use object::MemoryStore;

/// One line for `bindery plugins`.
const DESCRIPTION: &str = "Objects in memory, per binding; lost when the host stops.";

/// The `memory` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct MemoryDriver;

impl MemoryDriver {
    /// The driver's name in specs.
    pub const NAME: &'static str = "memory";
    /// What a binding can do: every object operation and condition.
    pub const CAPABILITY: Capability = Capability::FULL_OBJECT;
}

#[async_trait]
impl Driver for MemoryDriver {
    fn info(&self) -> DriverInfo {
        let info = DriverInfo::new(
            Self::NAME,
            &[Kind::Object],
            Self::CAPABILITY,
            DESCRIPTION,
            env!("CARGO_PKG_VERSION"),
        );
        info.with_options(config::docs())
    }

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        config::Config::from_binding(&config)?;
        Ok(Arc::new(MemoryStore::default()))
    }
}
