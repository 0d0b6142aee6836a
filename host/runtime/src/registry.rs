//! The registry of drivers: the built-in ones, and plugins loaded from shared libraries.
//! This is the only place in `host/` that names a concrete driver.

use std::path::Path;
use std::sync::Arc;

use bindery_abi::host::PluginLibrary;
use bindery_core::{BindingConfig, Driver, DriverInfo, InstanceService, Result, Service};

/// Verifies a `log` stream's folder without changing it (`bindery stream check`).
#[cfg(feature = "log")]
pub use bindery_driver_log::check as check_log_stream;

/// Every built-in driver, and the cargo feature of `bindery-runtime` (and of `bindery`, the
/// SDK) that compiles it in: the embedded ones by default, the others opt-in.
pub const DRIVER_FEATURES: [(&str, &str); 10] = [
    ("memory", "memory"),
    ("fs", "fs"),
    ("git", "git"),
    ("log", "log"),
    ("sqlite", "sqlite"),
    ("files", "files"),
    ("postgres", "postgres"),
    ("s3", "s3"),
    ("kafka", "kafka"),
    ("http", "http"),
];

/// A driver to connect bindings with: built in, or a loaded plugin.
#[derive(Clone)]
pub enum Factory {
    /// Linked into the host.
    Builtin(Arc<dyn Driver>),
    /// Loaded from a shared library through the ABI.
    Plugin(Arc<PluginLibrary>),
}

impl Factory {
    /// What the driver says of itself.
    pub fn info(&self) -> DriverInfo {
        match self {
            Factory::Builtin(d) => d.info(),
            Factory::Plugin(p) => p.info().clone(),
        }
    }

    /// Connects one binding.
    pub async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Service>> {
        match self {
            Factory::Builtin(d) => Ok(Arc::new(InstanceService(d.connect(config).await?))),
            Factory::Plugin(p) => p.connect(config).await,
        }
    }
}

/// The drivers a host can use.
#[derive(Clone)]
pub struct Registry {
    builtins: Vec<Arc<dyn Driver>>,
}

impl Default for Registry {
    fn default() -> Self {
        Registry::builtin()
    }
}

impl Registry {
    /// The built-in drivers.
    pub fn builtin() -> Registry {
        Registry {
            builtins: vec![
                #[cfg(feature = "memory")]
                Arc::new(bindery_driver_memory::MemoryDriver),
                #[cfg(feature = "fs")]
                Arc::new(bindery_driver_fs::FsDriver),
                #[cfg(feature = "git")]
                Arc::new(bindery_driver_git::GitDriver),
                #[cfg(feature = "log")]
                Arc::new(bindery_driver_log::LogDriver),
                #[cfg(feature = "sqlite")]
                Arc::new(bindery_driver_sqlite::Sqlite),
                #[cfg(feature = "files")]
                Arc::new(bindery_driver_files::Files),
                #[cfg(feature = "postgres")]
                Arc::new(bindery_driver_postgres::Postgres),
                #[cfg(feature = "s3")]
                Arc::new(bindery_driver_s3::S3Driver),
                #[cfg(feature = "kafka")]
                Arc::new(bindery_driver_kafka::KafkaDriver),
                #[cfg(feature = "http")]
                Arc::new(bindery_driver_http::HttpDriver),
            ],
        }
    }

    /// Adds a driver linked by the embedding program (it takes precedence over a built-in
    /// driver of the same name).
    #[must_use]
    pub fn with(mut self, driver: Arc<dyn Driver>) -> Registry {
        let name = driver.info().name;
        self.builtins.retain(|d| d.info().name != name);
        self.builtins.insert(0, driver);
        self
    }

    /// What each built-in driver says of itself.
    pub fn infos(&self) -> Vec<DriverInfo> {
        self.builtins.iter().map(|d| d.info()).collect()
    }

    /// The built-in driver of that name.
    pub fn builtin_named(&self, name: &str) -> Option<Factory> {
        self.builtins
            .iter()
            .find(|d| d.info().name == name)
            .map(|d| Factory::Builtin(d.clone()))
    }

    /// Loads a plugin library.
    pub fn load_plugin(&self, path: &Path) -> Result<Factory> {
        Ok(Factory::Plugin(PluginLibrary::load(path)?))
    }
}
