//! The `cron` trigger: an event at the times of a schedule or every interval.
//!
//! Events of one cron trigger do not overlap: a tick that comes while the previous event is
//! still being handled is skipped (the next one is computed from when the handler returned),
//! as robfig/cron's `SkipIfStillRunning`.

use std::sync::Arc;
use std::time::SystemTime;

use bindery_runtime::{Schedule, TriggerSpec};
use bytes::Bytes;

use super::{call, event_id, Event, Handler, Shutdown};
use crate::{Context, Error, Result};

pub(super) struct CronTrigger {
    name: String,
    schedule: Schedule,
    body: Bytes,
    headers: Vec<(String, Bytes)>,
}

impl CronTrigger {
    pub(super) fn new(t: &TriggerSpec) -> Result<CronTrigger> {
        let schedule = t.schedule().map_err(Error::invalid_input)?;
        let headers = t
            .attributes
            .iter()
            .filter_map(|(k, v)| {
                let name = k.strip_prefix("event.headers.")?;
                Some((name.to_string(), Bytes::from(v.clone())))
            })
            .collect();
        Ok(CronTrigger {
            name: t.name.clone(),
            schedule,
            body: Bytes::from(t.attribute("event.body").unwrap_or_default().to_string()),
            headers,
        })
    }

    pub(super) async fn run(self, ctx: Context, handler: Arc<dyn Handler>, shutdown: Shutdown) -> Result<()> {
        tracing::info!(trigger = %self.name, schedule = %self.schedule, "Cron trigger started.");
        loop {
            let now = SystemTime::now();
            let wait = self
                .schedule
                .next_after(now)
                .duration_since(now)
                .unwrap_or_default();
            tokio::select! {
                _ = shutdown.wait() => return Ok(()),
                _ = tokio::time::sleep(wait) => {}
            }
            let event = Event {
                id: event_id(),
                trigger: self.name.clone(),
                trigger_kind: "cron".into(),
                method: "POST".into(),
                path: "/".into(),
                headers: self.headers.clone(),
                body: self.body.clone(),
                timestamp: Some(SystemTime::now()),
                ..Event::default()
            };
            let r = call(handler.as_ref(), &ctx, event).await;
            if r.status >= 400 {
                tracing::warn!(trigger = %self.name, status = r.status, "Cron event failed; the next tick comes as scheduled.");
            }
        }
    }
}
