//! The `stream` trigger: the messages of a stream binding, one event each, checkpointed only
//! once handled.
//!
//! Each member (`maxWorkers`, default 1) is a consumer of the trigger's group and handles its
//! messages in order. After a message the handler answered with a status below 400, the
//! member records it as handled; handled messages are checkpointed together every 100
//! messages, every second, before the member stops, and before it re-joins after a
//! retryable consumer error. A failed message (an error, a panic or a status of 400 or more)
//! is retried with backoff; once its retries are used up it goes to the dead-letter stream,
//! if there is one, and counts as handled; otherwise it is retried until it succeeds.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use bindery_runtime::TriggerSpec;

use super::{deliver, event_id, Event, Handler, Item, Outcome, Retries, Shutdown};
use crate::{Context, Error, ErrorKind, Message, Result};

const CHECKPOINT_EVERY: u64 = 100;
const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Clone)]
pub(super) struct StreamTrigger {
    name: String,
    path: String,
    group: String,
    from: Option<String>,
    policy: Retries,
    members: usize,
}

impl StreamTrigger {
    pub(super) fn new(ctx: &Context, t: &TriggerSpec) -> Result<StreamTrigger> {
        let path = t
            .attribute("path")
            .ok_or_else(|| Error::invalid_input("needs attributes.path, the stream to consume"))?;
        Ok(StreamTrigger {
            name: t.name.clone(),
            path: path.to_string(),
            group: t
                .attribute("group")
                .map_or_else(|| ctx.host().spec().name.clone(), str::to_string),
            from: t.attribute("from").map(str::to_string),
            policy: Retries::of(t)?,
            members: t.max_workers.map_or(1, |w| w as usize),
        })
    }

    /// Fails start-up when the stream (or the dead-letter stream) does not exist.
    pub(super) async fn check(&self, ctx: &Context) -> Result<()> {
        for p in std::iter::once(&self.path).chain(&self.policy.dead_letter) {
            match ctx.stream().list_shards(p.as_str()).await {
                Ok(_) => {}
                Err(e) if e.kind() == ErrorKind::Unsupported => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    pub(super) async fn run(self, ctx: Context, handler: Arc<dyn Handler>, shutdown: Shutdown) -> Result<()> {
        tracing::info!(
            trigger = %self.name, path = %self.path, group = %self.group, members = self.members,
            "Stream trigger consuming."
        );
        let mut members = tokio::task::JoinSet::new();
        for _ in 0..self.members {
            let (t, ctx, handler, shutdown) = (self.clone(), ctx.clone(), handler.clone(), shutdown.clone());
            members.spawn(async move { t.member(ctx, handler, shutdown).await });
        }
        let mut result = Ok(());
        while let Some(done) = members.join_next().await {
            if let Err(e) = done.unwrap_or_else(|e| Err(Error::internal(format!("a consumer panicked: {e}"))))
            {
                result = result.and(Err(e));
            }
        }
        result
    }

    fn consumer(&self, ctx: &Context) -> crate::Consumer {
        let mut c = ctx
            .stream()
            .consume(self.path.as_str())
            .group(self.group.as_str());
        if let Some(from) = &self.from {
            c = c.from_(from, "");
        }
        c.load()
    }

    async fn member(self, ctx: Context, handler: Arc<dyn Handler>, shutdown: Shutdown) -> Result<()> {
        let mut consumer = self.consumer(&ctx);
        // Per shard, the position after the last message handled and not yet checkpointed.
        let mut handled: BTreeMap<u32, u64> = BTreeMap::new();
        let mut since = 0u64;
        let mut tick = tokio::time::interval(CHECKPOINT_INTERVAL);
        let mut wait = self.policy.backoff;
        loop {
            tokio::select! {
                biased;
                _ = shutdown.wait() => break,
                next = consumer.next_async() => match next {
                    Some(Ok(m)) => {
                        wait = self.policy.backoff;
                        match self.handle(&ctx, handler.as_ref(), &m, &shutdown).await {
                            Outcome::Handled => {
                                handled.insert(m.shard, m.position + 1);
                                since += 1;
                                if since >= CHECKPOINT_EVERY {
                                    self.checkpoint(&mut consumer, &mut handled).await;
                                    since = 0;
                                }
                            }
                            Outcome::Stopped => break,
                        }
                    }
                    Some(Err(e)) if e.is_retryable() => {
                        tracing::warn!(trigger = %self.name, error = %e, "Consumer failed; joining again after {wait:?}.");
                        self.checkpoint(&mut consumer, &mut handled).await;
                        tokio::select! {
                            _ = shutdown.wait() => break,
                            _ = tokio::time::sleep(wait) => {}
                        }
                        wait = (wait * 2).min(MAX_BACKOFF);
                        consumer = self.consumer(&ctx);
                    }
                    Some(Err(e)) => {
                        self.checkpoint(&mut consumer, &mut handled).await;
                        return Err(e);
                    }
                    None => break,
                },
                _ = tick.tick(), if !handled.is_empty() => {
                    self.checkpoint(&mut consumer, &mut handled).await;
                    since = 0;
                }
            }
        }
        self.checkpoint(&mut consumer, &mut handled).await;
        consumer.close_async().await;
        Ok(())
    }

    /// Checkpoints what was handled; a failure is logged and tried again later (the messages
    /// would come again after a restart, never be lost).
    async fn checkpoint(&self, consumer: &mut crate::Consumer, handled: &mut BTreeMap<u32, u64>) {
        if handled.is_empty() {
            return;
        }
        let positions: Vec<(u32, u64)> = handled.iter().map(|(s, p)| (*s, *p)).collect();
        match consumer.checkpoint_at_async(positions).await {
            Ok(()) => handled.clear(),
            Err(e) => {
                tracing::warn!(trigger = %self.name, error = %e, "Checkpoint failed; trying again later.")
            }
        }
    }

    fn event(&self, m: &Message) -> Event {
        Event {
            id: event_id(),
            trigger: self.name.clone(),
            trigger_kind: "stream".into(),
            method: "POST".into(),
            path: self.path.clone(),
            headers: m.headers.clone(),
            body: m.value.clone(),
            timestamp: m.timestamp,
            key: m.key.clone(),
            shard: Some(m.shard),
            position: Some(m.position),
            ..Event::default()
        }
    }

    async fn handle(
        &self,
        ctx: &Context,
        handler: &dyn Handler,
        m: &Message,
        shutdown: &Shutdown,
    ) -> Outcome {
        let source = format!("{}:{}", self.path, m.position_string());
        let dead_letter = |error: &str| {
            let mut out = Message::new(m.value.clone())
                .with_header("bindery-error", error.to_string())
                .with_header("bindery-source", source.clone());
            out.key = m.key.clone();
            out.headers.splice(0..0, m.headers.iter().cloned());
            out
        };
        let item = Item {
            trigger: &self.name,
            what: "message",
            source: &source,
        };
        deliver(
            ctx,
            handler,
            shutdown,
            &self.policy,
            item,
            || self.event(m),
            dead_letter,
        )
        .await
    }
}
