//! The `watch` trigger: every change under an object prefix, or to a table's rows, one event
//! each, in order; the watch's cursor is kept (when `attributes.checkpoint` names an object)
//! only after the handler succeeded, so a restarted function goes on after the last change it
//! handled.
//!
//! The event: `trigger_kind` `watch`, `method` `POST`, `path` the changed object as
//! `binding://path` (a row as `binding://table/key`), headers `bindery-change` (created,
//! updated, deleted, resync), `bindery-gen` and `bindery-cursor`, and a JSON body `{"kind",
//! "path", "gen", "size", "time_ms", "cursor"}` (a row's with `row` and `before`). `synced` markers are not events. A failed change (an error, a panic
//! or a status of 400 or more) is retried with backoff; once its retries are used up it goes
//! to the dead-letter stream, if there is one, and counts as handled; otherwise it is retried
//! until it succeeds.

use std::sync::Arc;
use std::time::Duration;

use bindery_runtime::TriggerSpec;
use bytes::Bytes;

use super::{deliver, event_id, Event, Handler, Item, Outcome, Retries, Shutdown};
use crate::{Change, ChangeKind, Context, Error, ErrorKind, Message, Result};

const MAX_BACKOFF: Duration = Duration::from_secs(30);

pub(super) struct WatchTrigger {
    name: String,
    path: String,
    /// `binding://` of the watched binding, to name changed objects in events (a watched
    /// table's `binding://table/`, to name its rows by key).
    binding: String,
    initial: bool,
    checkpoint: Option<String>,
    policy: Retries,
}

impl WatchTrigger {
    pub(super) fn new(t: &TriggerSpec) -> Result<WatchTrigger> {
        let path = t.attribute("path").ok_or_else(|| {
            Error::invalid_input("needs attributes.path, the object prefix or table to watch")
        })?;
        let flag = |name: &str| -> Result<bool> {
            match t.attribute(name).map(str::trim) {
                None | Some("false") => Ok(false),
                Some("true") => Ok(true),
                Some(other) => Err(Error::invalid_input(format!(
                    "{name} must be true or false, not '{other}'"
                ))),
            }
        };
        let binding = match bindery_core::path::split_binding(path).0 {
            Some(b) => format!("{b}://"),
            None => String::new(),
        };
        Ok(WatchTrigger {
            name: t.name.clone(),
            path: path.to_string(),
            binding,
            initial: flag("initial")?,
            checkpoint: t.attribute("checkpoint").map(str::to_string),
            policy: Retries::of(t)?,
        })
    }

    /// Whether the path names a table (else an object prefix).
    fn on_table(&self, ctx: &Context) -> bool {
        let name = bindery_core::path::split_binding(&self.path).0;
        let bindings = ctx.host().bindings();
        let binding = match name {
            Some(n) => bindings.iter().find(|b| b.name() == n),
            None => bindings.first(),
        };
        binding.is_some_and(|b| b.kind() == bindery_core::Kind::Table)
    }

    /// Where to start: after the kept cursor, else the initial state (if asked), else now.
    async fn start(&self, ctx: &Context) -> Result<crate::Watcher> {
        let mut w = if self.on_table(ctx) {
            ctx.table().watch(self.path.as_str())
        } else {
            ctx.object().watch(self.path.as_str())
        };
        let kept = match &self.checkpoint {
            Some(c) => match ctx.object().get(c.as_str()).await {
                Ok(o) => Some(String::from_utf8_lossy(&o.data).trim().to_string()),
                Err(e) if e.kind() == ErrorKind::NotFound => None,
                Err(e) => return Err(e),
            },
            None => None,
        };
        match kept {
            Some(cursor) if !cursor.is_empty() => w = w.from_("cursor", &cursor),
            _ => w = w.initial(self.initial),
        }
        let mut watcher = w.load();
        watcher.ready_async().await;
        Ok(watcher)
    }

    pub(super) async fn run(
        mut self,
        ctx: Context,
        handler: Arc<dyn Handler>,
        shutdown: Shutdown,
    ) -> Result<()> {
        if self.on_table(&ctx) {
            // A row is named by its table and key: `db://users/ana`.
            self.binding = format!("{}/", self.path.trim_end_matches('/'));
        }
        let mut watcher = self.start(&ctx).await?;
        tracing::info!(trigger = %self.name, path = %self.path, "Watch trigger watching.");
        let mut wait = self.policy.backoff;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                next = watcher.next_async() => match next {
                    Some(Ok(c)) if c.kind == ChangeKind::Synced => self.keep(&ctx, &c).await,
                    Some(Ok(c)) => {
                        wait = self.policy.backoff;
                        match self.handle(&ctx, handler.as_ref(), &c, &shutdown).await {
                            Outcome::Handled => self.keep(&ctx, &c).await,
                            Outcome::Stopped => break,
                        }
                    }
                    Some(Err(e)) if e.is_retryable() => {
                        tracing::warn!(trigger = %self.name, error = %e, "Watch failed; watching again after {wait:?}.");
                        tokio::select! {
                            _ = shutdown.wait() => break,
                            _ = tokio::time::sleep(wait) => {}
                        }
                        wait = (wait * 2).min(MAX_BACKOFF);
                        watcher = self.start(&ctx).await?;
                    }
                    Some(Err(e)) => return Err(e),
                    None => break,
                },
            }
        }
        watcher.close_async().await;
        Ok(())
    }

    /// Keeps the cursor after a handled change; a failure is logged (the change would come
    /// again after a restart, never be lost).
    async fn keep(&self, ctx: &Context, c: &Change) {
        if let Some(at) = &self.checkpoint {
            if let Err(e) = ctx.object().put(at.as_str(), c.cursor.clone()).await {
                tracing::warn!(trigger = %self.name, error = %e, "Keeping the watch cursor failed.");
            }
        }
    }

    /// The event of a change whose JSON is `body`.
    fn event(&self, c: &Change, body: Bytes) -> Event {
        Event {
            id: event_id(),
            trigger: self.name.clone(),
            trigger_kind: "watch".into(),
            method: "POST".into(),
            path: format!("{}{}", self.binding, c.path),
            headers: vec![
                ("bindery-change".into(), Bytes::from(c.kind.as_str())),
                ("bindery-gen".into(), Bytes::from(c.gen.clone())),
                ("bindery-cursor".into(), Bytes::from(c.cursor.clone())),
            ],
            body,
            timestamp: Some(c.time),
            ..Event::default()
        }
    }

    async fn handle(&self, ctx: &Context, handler: &dyn Handler, c: &Change, shutdown: &Shutdown) -> Outcome {
        let body = Bytes::from(c.to_json().to_string());
        let source = format!("{} {}{} {}", c.kind, self.binding, c.path, c.cursor);
        let dead_letter = |error: &str| {
            Message::new(body.clone())
                .with_header("bindery-error", error.to_string())
                .with_header("bindery-source", source.clone())
        };
        let item = Item {
            trigger: &self.name,
            what: "change",
            source: &source,
        };
        deliver(
            ctx,
            handler,
            shutdown,
            &self.policy,
            item,
            || self.event(c, body.clone()),
            dead_letter,
        )
        .await
    }
}
