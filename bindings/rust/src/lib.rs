//! bindery for Rust functions: lazy requests to the data bindings a function declares.
//!
//! A [`Context`] is built from the function's `function.yaml`: it connects every binding once
//! and then serves requests to them. A request is a builder that does nothing until it is
//! run: `.await` it (async), call `do_()` (blocking), `do_async(&wait_group)` (send now,
//! wait later with [`Context::wait`]), or `load()` it to get an iterator that prefetches in
//! the background.
//!
//! ```no_run
//! # async fn f() -> bindery::Result<()> {
//! let ctx = bindery::Context::connect("function.yaml").await?;
//! let meta = ctx.object().put("obj://reports/q3.csv", "region,total\nNY,3\n")
//!     .metadata([("content-type", "text/csv")])
//!     .condition("if-none-match", "*")
//!     .await?;
//! let q3 = ctx.object().get("obj://reports/q3.csv").await?;
//! assert_eq!(q3.meta.gen, meta.gen);
//! for entry in ctx.object().list("obj://reports/").delimiter("/").await? {
//!     println!("{}", entry.path());
//! }
//! # Ok(()) }
//! ```
//!
//! From blocking code, [`Context::open`] starts the host on a runtime of its own:
//!
//! ```no_run
//! # fn f() -> bindery::Result<()> {
//! let ctx = bindery::Context::open("function.yaml")?;
//! let mut reader = ctx.object().get("obj://big.bin").load();
//! println!("{} bytes, generation {}", reader.size()?, reader.gen()?);
//! for chunk in reader {
//!     let chunk = chunk?; // zero-copy `Bytes`, prefetched while this loop works
//! #   drop(chunk);
//! }
//! # Ok(()) }
//! ```
//!
//! Errors are [`Error`]s with a [`ErrorKind`], naming binding, driver, operation and path.
//!
//! A function is a binary whose `main` is [`function::run`]`(handler)`: the spec's triggers
//! (`http`, `stream`, `cron`) call `handler(ctx, event)` per event (see [`function`]).

mod frames;
pub mod function;
#[macro_use]
mod request;
mod generic;
mod object;
mod stream;
mod table;
mod version;
mod wait;
mod watch;

use std::path::Path;
use std::sync::Arc;

pub use bindery_core::arrow;
pub use bindery_core::filter::Value;
pub use bindery_core::{Bytes, Error, ErrorKind, ListEntry, ObjectMeta, Result};
pub use bindery_core::{Change, ChangeKind};
pub use bindery_core::{Column, ColumnType, SchemaVersion, TableSchema};
pub use bindery_core::{Diff, DiffFormat, Revision, Tag};
pub use bindery_core::{Message, ShardInfo};
use bindery_runtime::{Host, Registry, Spec};
pub use function::{Event, Json, Response};
pub use generic::{Call, CallOutput, Generics};
pub use object::{Del, Get, Head_, List, Lister, ObjectData, ObjectReader, Objects, Put};
pub use stream::{Consume, Consumer, ListShards, Publish, StreamAdmin, Streams};
pub use table::{scan_batch, Alter, Create, Delete, Read, SchemaOf, TableAdmin, TableReader, Tables, Write};
pub use tracing;
pub use version::{DiffOf, Revert, TagOne, Tags, Versions};
pub use wait::{Done, WaitGroup, Waited};
pub use watch::{Watch, Watcher};

/// A function's connection to its data bindings. Cheap to clone.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Context {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let host = &self.inner.host;
        let bindings: Vec<String> = host
            .bindings()
            .iter()
            .map(|b| format!("{} ({} via {})", b.name(), b.kind(), b.driver()))
            .collect();
        f.debug_struct("Context")
            .field("function", &host.spec().name)
            .field("bindings", &bindings)
            .finish()
    }
}

struct Inner {
    host: Host,
    /// The drivers the spec was checked against, to check it again on a reload.
    drivers: Vec<bindery_core::DriverInfo>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

impl Context {
    /// Loads the spec and connects every binding, on the current tokio runtime.
    pub async fn connect(spec: impl AsRef<Path>) -> Result<Context> {
        Context::connect_with(spec, Registry::builtin()).await
    }

    /// Like [`connect`](Context::connect), with a registry of drivers of your own.
    pub async fn connect_with(spec: impl AsRef<Path>, registry: Registry) -> Result<Context> {
        let drivers = registry.infos();
        let spec = Spec::load(spec, &drivers)?;
        let host = Host::start(spec, &registry).await?;
        Ok(Context {
            inner: Arc::new(Inner {
                host,
                drivers,
                runtime: None,
            }),
        })
    }

    /// Loads the spec and connects every binding, on a runtime of the context's own (two
    /// worker threads); for functions written as blocking code.
    pub fn open(spec: impl AsRef<Path>) -> Result<Context> {
        Context::open_with(spec, Registry::builtin())
    }

    /// Like [`open`](Context::open), with a registry of drivers of your own.
    pub fn open_with(spec: impl AsRef<Path>, registry: Registry) -> Result<Context> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("bindery")
            .enable_all()
            .build()
            .map_err(|e| Error::internal(format!("cannot start the host's runtime: {e}")))?;
        let drivers = registry.infos();
        let spec = Spec::load(spec, &drivers)?;
        let host = runtime.block_on(Host::start(spec, &registry))?;
        Ok(Context {
            inner: Arc::new(Inner {
                host,
                drivers,
                runtime: Some(runtime),
            }),
        })
    }

    /// The running host (bindings, spec).
    pub fn host(&self) -> &Host {
        &self.inner.host
    }

    /// Reads the spec file again and takes its bindings' processors (nothing else of it
    /// changes a running host). A spec that fails to load is an error naming its place; the
    /// processors in use are kept.
    pub fn reload_processors(&self) -> Result<bindery_runtime::Reloaded> {
        let host = &self.inner.host;
        let spec = Spec::load(&host.spec().file, &self.inner.drivers)?;
        Ok(host.reload_processors(&spec))
    }

    /// Re-reads the processors on every SIGHUP for as long as the context lives (what `bindery
    /// run` and `bindery serve` do), logging what changed, or why the spec did not load (the
    /// processors in use are then kept). Must run inside a tokio runtime.
    pub fn reload_on_hangup(&self) {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hup) = signal(SignalKind::hangup()) else {
            tracing::error!("Cannot listen for SIGHUP: the processors will not be re-read.");
            return;
        };
        let ctx = Arc::downgrade(&self.inner);
        tokio::spawn(async move {
            while hup.recv().await.is_some() {
                let Some(inner) = ctx.upgrade() else { return };
                let ctx = Context { inner };
                match ctx.reload_processors() {
                    Ok(r) => tracing::info!(
                        reloaded = ?r.reloaded,
                        missing = ?r.missing,
                        added = ?r.added,
                        "SIGHUP: the processors were read again (bindings added or removed need a restart)."
                    ),
                    Err(e) => tracing::error!(
                        error = %e,
                        "SIGHUP: the spec did not load; the processors in use are kept."
                    ),
                }
            }
        });
    }

    /// Object requests.
    pub fn object(&self) -> Objects {
        Objects::new(self.clone())
    }

    /// Table requests.
    pub fn table(&self) -> Tables {
        Tables::new(self.clone())
    }

    /// Stream requests.
    pub fn stream(&self) -> Streams {
        Streams::new(self.clone())
    }

    /// Generic requests (operations the driver defines, such as `http`'s methods).
    pub fn generic(&self) -> Generics {
        Generics::new(self.clone())
    }

    /// Waits (blocking) for every request sent to the group with `do_async`.
    pub fn wait(&self, wg: &WaitGroup) -> Waited {
        wg.wait_blocking()
    }
}
