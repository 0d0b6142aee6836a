//! The `fs` object driver: objects are files under a root directory.
//!
//! ```yaml
//! dataBindings:
//!   files:
//!     kind: object
//!     driver: fs
//!     url: ./data          # a directory, or file:///abs/dir; relative to function.yaml
//!     path: uploads        # optional key prefix inside it
//! ```
//!
//! An object `a/b.txt` is the plain file `<root>/a/b.txt`, so files put there by other
//! programs are objects too. What the driver adds lives under `<root>/.bindery/`:
//!
//! - **Atomic, durable writes.** A put writes a temporary file in `.bindery/tmp`, fsyncs it,
//!   renames it over the object and fsyncs the directory. A reader sees the old object or the
//!   new one, never a torn one; a put that fails (or a process killed mid-put) leaves the old
//!   object. Each temporary file is locked by the process writing it; those nobody holds
//!   (their writer died, in whatever PID namespace) are removed at connect.
//! - **Generation** (`gen`): the file's inode and modification time in nanoseconds. Every put
//!   makes a new file, so the generation changes on every write.
//! - **User metadata**: a sidecar `.bindery/meta/<path>@<gen>` written before the object is
//!   renamed into place. It counts only while its generation matches the file, so data and
//!   metadata always change together.
//! - **Conditions** (`if-match`, `if-none-match`) are checked and the object placed under a
//!   lock of the path that every process using the root takes (an OFD lock on a byte of
//!   `.bindery/lock`), so conditional writes from separate processes never lose an update.
//! - **Confined to the root.** No symbolic link is followed: a get opens its file with
//!   `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS)`, every other operation checks each
//!   component of its path first, and a link on a path is refused with `PermissionDenied`
//!   (links are not listed). Only regular files are objects: a FIFO or device in the root is
//!   refused, never waited on. An object's name (its last segment) is at most 221 bytes, so
//!   its metadata sidecar fits the 255-byte limit of file names.
//! - **Listing** is in path order; with the `/` delimiter it reads one directory level.
//! - **Reads** open and stat the file on the calling worker (the kernel's cached inodes make
//!   these calls cheaper than a hand-over to a blocking thread); a read of up to 256 KiB that
//!   the page cache holds is copied there too (`preadv2` with `RWF_NOWAIT`, Linux). A read
//!   that would wait for the disk, and every larger one, runs on tokio's blocking pool, in
//!   1 MiB chunks when the caller streams it.
//!
//! A path cannot both be an object and have objects below it (`a` and `a/b`): the second
//! write fails with `InvalidInput`. Paths under `.bindery/` are reserved.

mod config;
mod confine;
mod error;
mod object;
mod watch;

use std::sync::Arc;

use bindery_core::{async_trait, BindingConfig, Capability, Connect, Error, Instance, Kind, Result};

pub use object::FsStore;

/// The `fs` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct FsDriver;

#[async_trait]
impl Connect for FsDriver {
    const NAME: &'static str = "fs";
    const KINDS: &'static [Kind] = &[Kind::Object];
    /// What a binding can do: every object operation and condition.
    const CAPABILITY: Capability = Capability::FULL_OBJECT.watched();
    const DESCRIPTION: &'static str = "Objects as files in a directory; atomic, durable writes.";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const LOCAL_URL: bool = true;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let config = config::Config::from_binding(&config)?;
        let store = tokio::task::spawn_blocking(move || FsStore::open(config.root))
            .await
            .map_err(|e| Error::internal(format!("connect task failed: {e}")))??;
        Ok(Arc::new(store))
    }
}
