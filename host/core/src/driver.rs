//! Drivers: what a plugin author implements.
//!
//! A [`Driver`] is the factory: it names itself, says which kinds it serves and what it can
//! do, and connects one binding at start-up. The connected [`Instance`] serves the binding's
//! requests through the trait of each kind it serves ([`crate::ObjectDriver`], …).

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use crate::capability::Capability;
use crate::config::OptionDoc;
use crate::error::Result;
use crate::object::ObjectDriver;
use crate::request::Options;

/// The four kinds of binding (DESIGN §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Objects and files.
    Object,
    /// Tables.
    Table,
    /// Streams and queues.
    Stream,
    /// Requests and responses defined by the driver.
    Generic,
}

impl Kind {
    /// Every kind.
    pub const ALL: [Kind; 4] = [Kind::Object, Kind::Table, Kind::Stream, Kind::Generic];

    /// The kind's name as written in `function.yaml`.
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Object => "object",
            Kind::Table => "table",
            Kind::Stream => "stream",
            Kind::Generic => "generic",
        }
    }

    /// Parses a kind name.
    pub fn parse(s: &str) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A secret value from the spec: never printed (`Debug` and `Display` show `***`).
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The value, for handing to a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// What a driver gets to connect one binding: everything from the spec it needs.
#[derive(Debug, Clone)]
pub struct BindingConfig {
    /// The binding's name in the spec.
    pub name: String,
    /// The kind the binding is used as.
    pub kind: Kind,
    /// Where the backend is (`url`), after `${VAR}` substitution.
    pub url: Option<String>,
    /// Driver options (`options`, and nuclio's `attributes`).
    pub options: Options,
    /// Resolved secrets: `secret` under the name `secret`, and every `credentials` entry.
    pub secrets: BTreeMap<String, Secret>,
    /// The folder holding the spec; relative `url`s are relative to it.
    pub base_dir: PathBuf,
}

impl BindingConfig {
    /// The binding's `url`, or the error every driver gives without one: "the `driver` driver
    /// needs `url`: `what`".
    pub fn url(&self, driver: &str, what: &str) -> Result<&str> {
        self.url
            .as_deref()
            .ok_or_else(|| crate::Error::invalid_input(format!("the {driver} driver needs `url`: {what}")))
    }

    /// The local folder or file the binding's `url` names (`file://` optional), relative to
    /// the spec's folder; the error of [`BindingConfig::url`] without one.
    pub fn local_path(&self, driver: &str, what: &str) -> Result<PathBuf> {
        let url = self.url(driver, what)?;
        Ok(self.base_dir.join(url.strip_prefix("file://").unwrap_or(url)))
    }

    /// A config with only a name, kind and url (for tests and tools).
    pub fn new(name: impl Into<String>, kind: Kind, url: Option<String>) -> Self {
        BindingConfig {
            name: name.into(),
            kind,
            url,
            options: Options::new(),
            secrets: BTreeMap::new(),
            base_dir: PathBuf::from("."),
        }
    }
}

/// What a driver says of itself.
#[derive(Debug, Clone)]
pub struct DriverInfo {
    /// The name the spec's `driver` uses.
    pub name: String,
    /// The kinds it serves.
    pub kinds: Vec<Kind>,
    /// What it can do (a connected binding may report less, see [`Instance::capability`]).
    pub capability: Capability,
    /// One line for `bindery plugins`.
    pub description: String,
    /// The driver's version.
    pub version: String,
    /// Whether a binding's `url` is a local folder or file whose contents the driver owns
    /// (`fs`, `log`, `files`, `sqlite`): the spec refuses two bindings whose folders (url
    /// joined with path) overlap, as one driver's writes would overwrite the other's files.
    pub local_url: bool,
    /// The options a binding of it may set, for `bindery plugins` and for
    /// [`DriverOptions::check`](crate::config::DriverOptions::check).
    pub options: Vec<OptionDoc>,
}

/// A driver crate's driver: what it is, as constants, and how it connects a binding. The
/// skeleton's `lib.rs` implements this for the driver type and nothing else; [`Driver`]
/// follows from it (`info` is [`DriverInfo::of`]). `Self::NAME` is the name the driver's config
/// and errors use.
#[async_trait]
pub trait Connect: Send + Sync + 'static {
    /// The driver's name in specs.
    const NAME: &'static str;
    /// The kinds it serves.
    const KINDS: &'static [Kind];
    /// What a binding can do at most (a binding's `Instance::capability` may be less).
    const CAPABILITY: Capability;
    /// One line for `bindery plugins`.
    const DESCRIPTION: &'static str;
    /// The driver's version: `env!("CARGO_PKG_VERSION")`.
    const VERSION: &'static str;
    /// Whether a binding's `url` is a local folder or file whose contents the driver owns
    /// (the spec resolves it against the spec's folder).
    const LOCAL_URL: bool = false;
    /// The options a binding may set, as `(key, help)` pairs (the driver's `config::OPTIONS`).
    const OPTIONS: &'static [(&'static str, &'static str)] = &[];

    /// Connects one binding; see [`Driver::connect`].
    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>>;
}

#[async_trait]
impl<D: Connect> Driver for D {
    fn info(&self) -> DriverInfo {
        DriverInfo::of::<D>()
    }

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        Connect::connect(self, config).await
    }
}

impl DriverInfo {
    /// The info of a driver described by constants.
    pub fn of<D: Connect>() -> DriverInfo {
        DriverInfo {
            name: D::NAME.into(),
            kinds: D::KINDS.to_vec(),
            capability: D::CAPABILITY,
            description: D::DESCRIPTION.into(),
            version: D::VERSION.into(),
            local_url: D::LOCAL_URL,
            options: crate::config::option_docs(D::OPTIONS),
        }
    }
}

/// Runs blocking work (file system calls, a synchronous client library) on tokio's blocking
/// pool, off the async workers; a panic in `f` becomes an `Internal` error.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| crate::Error::internal(format!("a blocking task failed: {e}")))?
}

/// A driver: connects bindings. A driver crate implements [`Connect`] (this follows) and the
/// trait of each kind it serves; the host holds drivers as `dyn Driver`.
#[async_trait]
pub trait Driver: Send + Sync + 'static {
    /// The driver's name, kinds and capability.
    fn info(&self) -> DriverInfo;

    /// Connects one binding. Called once at start-up; an error stops start-up.
    ///
    /// # Behavior
    /// - MUST check that the backend is reachable and usable (a readiness check), so that a
    ///   wrong `url` fails here and not at the first request.
    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>>;
}

/// A connected binding.
pub trait Instance: Send + Sync + 'static {
    /// What this binding can do; may be less than the driver's (a server that does not
    /// enforce a condition, say).
    fn capability(&self) -> Capability;

    /// Whether the host may begin this binding's requests on the binding's own task: it polls
    /// a request there once, and only a request that then waits goes on on a task of its own,
    /// so a request answered at once costs no task spawn. For drivers whose operations do no
    /// network I/O and wait, if at all, only on the blocking pool (`memory`, `fs`). The default,
    /// false, gives every request a task of its own from the start.
    fn answers_in_place(&self) -> bool {
        false
    }

    /// The object operations, if this binding serves objects.
    fn object(&self) -> Option<&dyn ObjectDriver> {
        None
    }

    /// The table operations, if this binding serves tables.
    fn table(&self) -> Option<&dyn crate::table::TableDriver> {
        None
    }

    /// The stream operations, if this binding serves streams.
    fn stream(&self) -> Option<&dyn crate::stream::StreamDriver> {
        None
    }

    /// The generic operations, if this binding serves the generic kind.
    fn generic(&self) -> Option<&dyn crate::generic::GenericDriver> {
        None
    }
}
