//! The `git` object driver: objects as files in a git repository, every put and delete one
//! commit, so an object's revisions, reads at any revision, tags, revert and diff come from
//! git's history, and the git command line reads what bindery wrote (and the other way round).
//!
//! ```yaml
//! dataBindings:
//!   docs:
//!     kind: object
//!     driver: git
//!     url: ./repo          # a repository (bare or not); made (bare) when missing or empty
//!     path: datasets       # objects under this folder of the tree
//!     options:
//!       branch: main       # the branch commits go to (default main)
//!       author: Ada <ada@example.com>
//! ```
//!
//! Commits are made in the object database directly (gix: blobs, trees, a commit), never
//! through a work tree or index: a non-bare repository's checked-out files do not change
//! (as after a push to a checked-out branch); commit to a branch that is not checked out, or
//! use a bare repository. See `repo.rs` for the layout, generations and how concurrent
//! writers (another process, `git commit`) are never lost, and `watch.rs` for how commits made
//! by anyone are watched.

mod config;
mod error;
mod object;
mod repo;
mod watch;

use std::sync::Arc;

use bindery_core::{async_trait, blocking, BindingConfig, Capability, Connect, Instance, Kind, Result};

pub use object::GitStore;

/// The `git` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct GitDriver;

#[async_trait]
impl Connect for GitDriver {
    const NAME: &'static str = "git";
    const KINDS: &'static [Kind] = &[Kind::Object];
    /// What a binding can do: every object operation and condition, versions and watch.
    const CAPABILITY: Capability = Capability::FULL_OBJECT.versioned().watched();
    const DESCRIPTION: &'static str =
        "Objects in a git repository: every write a commit; revisions, tags, reads at a revision.";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const LOCAL_URL: bool = true;
    const OPTIONS: &'static [(&'static str, &'static str)] = config::OPTIONS;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let config = config::Config::from_binding(&config)?;
        let interval = config.watch_interval;
        let repo =
            blocking(move || repo::Repo::open(&config.dir, &config.branch).map(|r| (r, config.defaults)))
                .await?;
        Ok(Arc::new(GitStore::new(repo.0, repo.1, interval)))
    }
}
