//! The git driver's objects: every request runs on tokio's blocking pool against the
//! repository (`repo.rs`).

use std::sync::Arc;

use bindery_core::version::{OpTag, OpVersions, Revision, Signature, Tag};
use bindery_core::{
    async_trait, blocking, shape_listing, Capability, GetResponse, Instance, ListStream, ObjectDriver,
    ObjectMeta, OpGet, OpList, OpPut, OpStat, Options, PutBody, Result,
};
use futures::stream::{self, StreamExt};

use crate::repo::Repo;
use crate::watch::Watches;
use crate::GitDriver;
use bindery_core::watch::{ChangeStream, OpWatch};
use bindery_core::Connect;
use std::time::Duration;

/// One connected binding: its repository, branch and default author, and its watch.
pub struct GitStore {
    repo: Arc<Repo>,
    defaults: Options,
    watches: Arc<Watches>,
    /// How often a watched branch is looked at.
    interval: Duration,
}

impl GitStore {
    pub(crate) fn new(repo: Repo, defaults: Options, interval: Duration) -> GitStore {
        GitStore {
            repo: Arc::new(repo),
            defaults,
            watches: Arc::default(),
            interval,
        }
    }

    /// Runs `f` on the repository, off the async workers.
    async fn run<T: Send + 'static>(&self, f: impl FnOnce(&Repo) -> Result<T> + Send + 'static) -> Result<T> {
        let repo = self.repo.clone();
        blocking(move || f(&repo)).await
    }

    fn signature(&self, options: &Options, what: impl FnOnce() -> String) -> Result<Signature> {
        Signature::of(options, &self.defaults, what)
    }
}

impl Instance for GitStore {
    fn capability(&self) -> Capability {
        GitDriver::CAPABILITY
    }

    fn object(&self) -> Option<&dyn ObjectDriver> {
        Some(self)
    }
}

#[async_trait]
impl ObjectDriver for GitStore {
    async fn get(&self, path: &str, op: OpGet) -> Result<GetResponse> {
        let path = path.to_string();
        let (meta, data) = self
            .run(move |r| r.get(&path, op.version.as_deref(), &op.conditions, true))
            .await?;
        let data = match op.range {
            Some(range) => {
                let span = range.resolve(meta.size)?;
                data.slice(span.start as usize..span.end as usize)
            }
            None => data,
        };
        Ok(GetResponse {
            meta,
            body: stream::once(async move { Ok(data) }).boxed(),
        })
    }

    async fn put(&self, path: &str, body: PutBody, op: OpPut) -> Result<ObjectMeta> {
        let signature = self.signature(&op.options, || format!("put {path}"))?;
        let data = body.collect().await?;
        let path = path.to_string();
        let meta = self
            .run(move |r| {
                let blob = r.write(&path, Some((&data, &op.metadata)), &op.conditions, &signature)?;
                Ok(ObjectMeta {
                    size: data.len() as u64,
                    gen: blob.map(|b| b.to_string()).unwrap_or_default(),
                    metadata: op.metadata,
                    path,
                    modified: None,
                })
            })
            .await?;
        self.watches.wrote(&self.repo).await;
        Ok(meta)
    }

    async fn head(&self, path: &str, op: OpStat) -> Result<ObjectMeta> {
        let path = path.to_string();
        self.run(move |r| {
            r.get(&path, op.version.as_deref(), &op.conditions, false)
                .map(|(m, _)| m)
        })
        .await
    }

    async fn delete(&self, path: &str, op: OpStat) -> Result<()> {
        let signature = self.signature(&op.options, || format!("delete {path}"))?;
        let path = path.to_string();
        self.run(move |r| r.write(&path, None, &op.conditions, &signature).map(|_| ()))
            .await?;
        self.watches.wrote(&self.repo).await;
        Ok(())
    }

    async fn list(&self, prefix: &str, op: OpList) -> Result<ListStream> {
        let owned = prefix.to_string();
        let version = op.version.clone();
        let entries = self.run(move |r| r.list(&owned, version.as_deref())).await?;
        let entries = stream::iter(entries.into_iter().map(Ok)).boxed();
        Ok(shape_listing(entries, prefix, &op))
    }

    async fn versions(&self, path: &str, op: OpVersions) -> Result<Vec<Revision>> {
        let path = path.to_string();
        self.run(move |r| r.versions(&path, op.start_after.as_deref(), op.limit))
            .await
    }

    async fn watch(&self, prefix: &str, op: OpWatch) -> Result<ChangeStream> {
        self.watches.watch(&self.repo, prefix, op, self.interval).await
    }

    async fn tags(&self, op: OpTag) -> Result<Vec<Tag>> {
        let author = self.signature(&op.options, String::new)?;
        self.run(move |r| r.tags(op, &author)).await
    }
}

impl std::fmt::Debug for GitStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("GitStore")
    }
}
