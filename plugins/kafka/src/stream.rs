//! The stream operations on a Kafka cluster.

use bindery_core::Connect;
use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bindery_core::{
    async_trait, blocking, Bytes, Error, ErrorKind, Message, MessageStream, OpCheckpoint, OpConsume,
    OpCreateStream, OpPublish, Options, Result, ShardInfo, StartAt, StreamDriver,
};
use futures::stream::{self, StreamExt};
use rdkafka::admin::{AdminClient, AdminOptions, NewPartitions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, Headers, OwnedHeaders};
use rdkafka::producer::{DeliveryFuture, FutureProducer, FutureRecord};
use rdkafka::topic_partition_list::{Offset, TopicPartitionList};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Message as _};

use crate::config::Settings;
use crate::error::{map, map_code};

/// How long a metadata or offsets request to the brokers may take.
const REQUEST: Duration = Duration::from_secs(10);

/// The consumers of one group in this process.
type Members = Vec<Weak<StreamConsumer<Member>>>;

/// A connected kafka binding.
pub(crate) struct Kafka {
    /// What this binding can do on its brokers.
    pub(crate) capability: bindery_core::Capability,
    settings: Settings,
    producer: FutureProducer,
    admin: AdminClient<DefaultClientContext>,
    /// Metadata and watermarks (never subscribes).
    meta: Arc<BaseConsumer>,
    /// Topics known to exist, so a publish checks the brokers once per topic.
    topics: Mutex<HashSet<String>>,
    /// The live consumers of each (topic, group), for checkpoints.
    members: Mutex<HashMap<(String, String), Members>>,
}

/// The topic a stream name means: checked to be a Kafka topic name, after the binding's
/// `topic_prefix`.
fn topic_of(prefix: &str, path: &str) -> Result<String> {
    if path.is_empty() {
        return Err(Error::invalid_input(
            "name a topic: in the binding's `path` or in the command (ev://TOPIC)",
        ));
    }
    let topic = format!("{prefix}{path}");
    let ok = topic.len() <= 249
        && topic != "."
        && topic != ".."
        && topic
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(Error::invalid_input(format!(
            "'{topic}' is not a Kafka topic name (letters, digits, '.', '_', '-'; at most 249)"
        )));
    }
    Ok(topic)
}

fn check_group(group: &str) -> Result<()> {
    let ok = !group.is_empty()
        && group.len() <= 255
        && group
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if !ok {
        return Err(Error::invalid_input(format!(
            "'{group}' is not a consumer group name (letters, digits, '.', '_', '-')"
        )));
    }
    Ok(())
}

fn millis(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// The partitions of a topic, or `NotFound`.
fn partitions(meta: &BaseConsumer, topic: &str) -> Result<Vec<i32>> {
    let md = meta
        .fetch_metadata(Some(topic), REQUEST)
        .map_err(|e| map(e, &format!("metadata of '{topic}'")))?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| Error::not_found(format!("no stream '{topic}'")))?;
    if let Some(code) = t.error() {
        let code = RDKafkaErrorCode::from(code);
        return Err(match crate::error::kind_of(code) {
            ErrorKind::NotFound => Error::not_found(format!("no stream '{topic}'")),
            _ => map_code(code, &format!("metadata of '{topic}'")),
        });
    }
    if t.partitions().is_empty() {
        return Err(Error::not_found(format!("no stream '{topic}'")));
    }
    let mut ids: Vec<i32> = t.partitions().iter().map(|p| p.id()).collect();
    ids.sort_unstable();
    Ok(ids)
}

/// The offsets `start` means for `parts` of `topic`, as a list to assign (an offset left
/// `Invalid` continues from the group's checkpoint).
fn start_offsets<C: ConsumerContext + 'static, K: Consumer<C>>(
    consumer: &K,
    topic: &str,
    parts: &[i32],
    start: Option<&StartAt>,
) -> Result<TopicPartitionList> {
    let mut tpl = TopicPartitionList::new();
    for p in parts {
        let offset = match start {
            None | Some(StartAt::Checkpoint) => Offset::Invalid,
            Some(StartAt::Earliest) => Offset::Beginning,
            Some(StartAt::Positions(map)) => map
                .get(&(*p as u32))
                .map_or(Offset::Beginning, |o| Offset::Offset(*o as i64)),
            Some(StartAt::Latest) => {
                // The end now, not when fetching starts: what is published after this returns
                // is seen.
                let (_, high) = consumer
                    .fetch_watermarks(topic, *p, REQUEST)
                    .map_err(|e| map(e, &format!("end of '{topic}' partition {p}")))?;
                Offset::Offset(high)
            }
            Some(StartAt::Timestamp(t)) => Offset::Offset(millis(*t)),
        };
        tpl.add_partition_offset(topic, *p, offset)
            .map_err(|e| map(e, "start offsets"))?;
    }
    if let Some(StartAt::Timestamp(_)) = start {
        tpl = consumer
            .offsets_for_times(tpl, REQUEST)
            .map_err(|e| map(e, &format!("offsets of '{topic}' by time")))?;
    }
    Ok(tpl)
}

/// What a consumer was given, and which of its partitions are at their end.
#[derive(Default)]
struct Assignment {
    known: bool,
    parts: BTreeSet<i32>,
    at_end: BTreeSet<i32>,
}

/// A group member's context: applies `from_` to its first assignment and records what it
/// was given.
pub(crate) struct Member {
    topic: String,
    start: Mutex<Option<StartAt>>,
    assignment: Arc<Mutex<Assignment>>,
}

impl ClientContext for Member {}

impl ConsumerContext for Member {
    fn rebalance(&self, base: &BaseConsumer<Self>, err: RDKafkaRespErr, tpl: &mut TopicPartitionList) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let parts: Vec<i32> = tpl.elements().iter().map(|e| e.partition()).collect();
                let start = self.start.lock().unwrap_or_else(|p| p.into_inner()).take();
                let assigned = match start_offsets(base, &self.topic, &parts, start.as_ref()) {
                    Ok(list) => base.assign(&list),
                    Err(e) => {
                        tracing::warn!(topic = %self.topic, error = %e, "from_ could not be applied; continuing from the checkpoint");
                        base.assign(tpl)
                    }
                };
                if let Err(e) = assigned {
                    tracing::warn!(topic = %self.topic, error = %e, "assigning partitions failed");
                }
                let mut a = self.assignment.lock().unwrap_or_else(|p| p.into_inner());
                a.known = true;
                a.parts = parts.into_iter().collect();
                a.at_end.clear();
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                let _ = base.unassign();
                let mut a = self.assignment.lock().unwrap_or_else(|p| p.into_inner());
                a.known = false;
                a.parts.clear();
                a.at_end.clear();
            }
            other => tracing::warn!(topic = %self.topic, error = ?other, "rebalance error"),
        }
    }
}

/// Turns a consumed Kafka message into a bindery message (the bytes are copied out of
/// librdkafka's buffer).
fn message_of(m: &rdkafka::message::BorrowedMessage<'_>) -> Message {
    let headers = m
        .headers()
        .map(|h| {
            h.iter()
                .map(|h| (h.key.to_string(), Bytes::copy_from_slice(h.value.unwrap_or(&[]))))
                .collect()
        })
        .unwrap_or_default();
    Message {
        key: m.key().map(Bytes::copy_from_slice),
        value: Bytes::copy_from_slice(m.payload().unwrap_or(&[])),
        headers,
        timestamp: m
            .timestamp()
            .to_millis()
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64)),
        shard: m.partition() as u32,
        position: m.offset() as u64,
    }
}

impl Kafka {
    fn topic(&self, path: &str) -> Result<String> {
        topic_of(&self.settings.topic_prefix, path)
    }

    pub(crate) async fn connect(settings: Settings) -> Result<Kafka> {
        let producer: FutureProducer = settings
            .producer()
            .create()
            .map_err(|e| map(e, "create the kafka producer"))?;
        let admin: AdminClient<DefaultClientContext> = settings
            .admin()
            .create()
            .map_err(|e| map(e, "create the kafka admin client"))?;
        let meta: BaseConsumer = settings
            .consumer("bindery-metadata", false)
            .create()
            .map_err(|e| map(e, "create the kafka metadata client"))?;
        let meta = Arc::new(meta);
        let brokers = settings.brokers().to_string();
        let m = meta.clone();
        let plaintext = settings.plaintext();
        let apis = blocking(move || {
            m.fetch_metadata(None, REQUEST)
                .map_err(|e| map(e, &format!("cannot reach the Kafka brokers at {brokers}")))?;
            Ok(if plaintext {
                crate::probe::api_keys(&brokers)
            } else {
                None
            })
        })
        .await?;
        let mut capability = crate::KafkaDriver::CAPABILITY;
        if let Some(apis) = apis {
            capability.stream_grow = apis.contains(&crate::probe::CREATE_PARTITIONS);
        }
        Ok(Kafka {
            capability,
            settings,
            producer,
            admin,
            meta,
            topics: Mutex::new(HashSet::new()),
            members: Mutex::new(HashMap::new()),
        })
    }

    async fn partitions(&self, topic: &str) -> Result<Vec<i32>> {
        let meta = self.meta.clone();
        let topic = topic.to_string();
        blocking(move || partitions(&meta, &topic)).await
    }

    /// Checks the topic exists (once per topic): a producer would wait for it instead.
    async fn ensure_topic(&self, topic: &str) -> Result<()> {
        if self
            .topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(topic)
        {
            return Ok(());
        }
        self.partitions(topic).await?;
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_string());
        Ok(())
    }

    /// Waits (up to 2 s) until the brokers' metadata of `topic` shows what `done` wants: an
    /// admin change takes a moment to appear.
    async fn await_metadata(&self, topic: &str, done: impl Fn(Result<Vec<i32>>) -> bool) {
        for _ in 0..100 {
            if done(self.partitions(topic).await) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    fn forget_topic(&self, topic: &str) {
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(topic);
    }

    fn admin_options() -> AdminOptions {
        AdminOptions::new().operation_timeout(Some(REQUEST))
    }

    /// A live member of the group, if this process has one.
    fn member(&self, topic: &str, group: &str) -> Option<Arc<StreamConsumer<Member>>> {
        let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
        let list = members.get_mut(&(topic.to_string(), group.to_string()))?;
        list.retain(|w| w.strong_count() > 0);
        list.iter().find_map(Weak::upgrade)
    }
}

/// What publishing to `topic` is called in errors (made only when one happens).
fn publishing(topic: &str) -> String {
    format!("publish to '{topic}'")
}

async fn delivered(topic: &str, f: DeliveryFuture) -> Result<(u32, u64)> {
    match f.await {
        Ok(Ok(d)) => Ok((d.partition as u32, d.offset as u64)),
        Ok(Err((e, _))) => Err(map(e, &publishing(topic))),
        Err(_) => Err(Error::new(
            ErrorKind::Cancelled,
            format!("{}: the producer was closed", publishing(topic)),
        )),
    }
}

#[async_trait]
impl StreamDriver for Kafka {
    async fn create(&self, path: &str, op: OpCreateStream) -> Result<()> {
        let topic = &self.topic(path)?;
        if op.shards == 0 {
            return Err(Error::invalid_input("a topic needs at least one partition"));
        }
        let mut new = NewTopic::new(
            topic,
            op.shards as i32,
            TopicReplication::Fixed(self.settings.replication_factor),
        );
        for (k, v) in &op.options {
            new = new.set(k, v);
        }
        let results = self
            .admin
            .create_topics([&new], &Self::admin_options())
            .await
            .map_err(|e| map(e, &format!("create '{topic}'")))?;
        for r in results {
            if let Err((_, code)) = r {
                return Err(match code {
                    RDKafkaErrorCode::TopicAlreadyExists => Error::new(
                        ErrorKind::AlreadyExists,
                        format!("stream '{topic}' already exists"),
                    ),
                    _ => map_code(code, &format!("create '{topic}'")),
                });
            }
        }
        self.await_metadata(topic, |p| p.is_ok_and(|p| p.len() == op.shards as usize))
            .await;
        self.topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(topic.to_string());
        Ok(())
    }

    async fn update(&self, path: &str, shards: u32, _options: Options) -> Result<()> {
        let topic = &self.topic(path)?;
        let now = self.partitions(topic).await?.len() as u32;
        if shards < now {
            return Err(Error::invalid_input(format!(
                "stream '{topic}' has {now} partitions; Kafka can add partitions but not remove them"
            )));
        }
        if shards == now {
            return Ok(());
        }
        let results = self
            .admin
            .create_partitions(
                [&NewPartitions::new(topic, shards as usize)],
                &Self::admin_options(),
            )
            .await
            .map_err(|e| map(e, &format!("update '{topic}'")))?;
        for r in results {
            if let Err((_, code)) = r {
                return Err(map_code(
                    code,
                    &format!("update '{topic}' to {shards} partitions"),
                ));
            }
        }
        self.await_metadata(topic, |p| p.is_ok_and(|p| p.len() as u32 >= shards))
            .await;
        Ok(())
    }

    async fn delete(&self, path: &str, _options: Options) -> Result<()> {
        let topic = &self.topic(path)?;
        self.forget_topic(topic);
        let results = self
            .admin
            .delete_topics(&[topic], &Self::admin_options())
            .await
            .map_err(|e| map(e, &format!("delete '{topic}'")))?;
        for r in results {
            if let Err((_, code)) = r {
                return Err(match crate::error::kind_of(code) {
                    ErrorKind::NotFound => Error::not_found(format!("no stream '{topic}'")),
                    _ => map_code(code, &format!("delete '{topic}'")),
                });
            }
        }
        self.await_metadata(topic, |p| p.is_err()).await;
        Ok(())
    }

    async fn list_shards(&self, path: &str, _options: Options) -> Result<Vec<ShardInfo>> {
        let topic = self.topic(path)?;
        let meta = self.meta.clone();
        blocking(move || {
            partitions(&meta, &topic)?
                .into_iter()
                .map(|p| {
                    let (low, high) = meta
                        .fetch_watermarks(&topic, p, REQUEST)
                        .map_err(|e| map(e, &format!("watermarks of '{topic}' partition {p}")))?;
                    Ok(ShardInfo {
                        id: p as u32,
                        first: low.max(0) as u64,
                        next: high.max(0) as u64,
                    })
                })
                .collect()
        })
        .await
    }

    async fn publish(&self, path: &str, op: OpPublish) -> Result<Vec<(u32, u64)>> {
        let topic = &self.topic(path)?;
        self.ensure_topic(topic).await?;
        let mut pending: VecDeque<DeliveryFuture> = VecDeque::new();
        let mut placed = Vec::with_capacity(op.messages.len());
        for m in &op.messages {
            let mut record: FutureRecord<'_, [u8], [u8]> = FutureRecord::to(topic).payload(m.value.as_ref());
            // A message without headers carries no header list (librdkafka allocates one per
            // message otherwise).
            if !m.headers.is_empty() {
                let mut headers = OwnedHeaders::new_with_capacity(m.headers.len());
                for (k, v) in &m.headers {
                    headers = headers.insert(Header {
                        key: k,
                        value: Some(v.as_ref()),
                    });
                }
                record = record.headers(headers);
            }
            if let Some(k) = &m.key {
                record = record.key(k.as_ref());
            }
            if let Some(t) = m.timestamp {
                record = record.timestamp(millis(t));
            }
            // Messages are queued in order (so each partition keeps it); a full queue waits
            // for the oldest delivery.
            loop {
                match self.producer.send_result(record) {
                    Ok(f) => {
                        pending.push_back(f);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        match pending.pop_front() {
                            Some(f) => placed.push(delivered(topic, f).await?),
                            None => tokio::time::sleep(Duration::from_millis(5)).await,
                        }
                    }
                    Err((e, _)) => return Err(map(e, &publishing(topic))),
                }
            }
        }
        for f in pending {
            placed.push(delivered(topic, f).await?);
        }
        Ok(placed)
    }

    async fn consume(&self, path: &str, op: OpConsume) -> Result<MessageStream> {
        let topic = self.topic(path)?;
        if let Some(g) = &op.group {
            check_group(g)?;
        }
        let parts = self.partitions(&topic).await?;
        let assignment = Arc::new(Mutex::new(Assignment::default()));
        let member = Member {
            topic: topic.clone(),
            start: Mutex::new(op.start.clone()),
            assignment: assignment.clone(),
        };
        let group = op.group.clone().unwrap_or_else(|| {
            format!(
                "bindery-reader-{}-{}",
                std::process::id(),
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .unwrap_or_default()
                    .as_nanos()
            )
        });
        let consumer: StreamConsumer<Member> = self
            .settings
            .consumer(&group, !op.follow)
            .create_with_context(member)
            .map_err(|e| map(e, &format!("consume '{topic}'")))?;
        let consumer = Arc::new(consumer);
        match &op.group {
            Some(g) => {
                consumer
                    .subscribe(&[&topic])
                    .map_err(|e| map(e, &format!("consume '{topic}' in group '{g}'")))?;
                let mut members = self.members.lock().unwrap_or_else(|p| p.into_inner());
                let list = members.entry((topic.clone(), g.clone())).or_default();
                list.retain(|w| w.strong_count() > 0);
                list.push(Arc::downgrade(&consumer));
            }
            None => {
                // No group: every partition, assigned here, nothing committed.
                let c = consumer.clone();
                let (t, ps, start) = (topic.clone(), parts.clone(), op.start.clone());
                let tpl = blocking(move || {
                    start_offsets(c.as_ref(), &t, &ps, start.as_ref().or(Some(&StartAt::Earliest)))
                })
                .await?;
                consumer
                    .assign(&tpl)
                    .map_err(|e| map(e, &format!("consume '{topic}'")))?;
                let mut a = assignment.lock().unwrap_or_else(|p| p.into_inner());
                a.known = true;
                a.parts = parts.into_iter().collect();
            }
        }
        let follow = op.follow;
        let what = format!("consume '{topic}'");
        let state = (consumer, assignment);
        let messages = stream::unfold(Some(state), move |state| {
            let what = what.clone();
            async move {
                let (consumer, assignment) = state?;
                loop {
                    if !follow {
                        let a = assignment.lock().unwrap_or_else(|p| p.into_inner());
                        if a.known && a.parts.is_subset(&a.at_end) {
                            return None;
                        }
                    }
                    let next = tokio::time::timeout(Duration::from_millis(200), consumer.recv()).await;
                    let got = match next {
                        Err(_) => continue, // look at the assignment again
                        Ok(got) => got,
                    };
                    match got {
                        Ok(m) => {
                            let msg = message_of(&m);
                            drop(m);
                            assignment
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .at_end
                                .remove(&(msg.shard as i32));
                            return Some((Ok(msg), Some((consumer, assignment))));
                        }
                        Err(KafkaError::PartitionEOF(p)) => {
                            assignment
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .at_end
                                .insert(p);
                        }
                        Err(e) => {
                            let e = map(e, &what);
                            if e.is_retryable() {
                                tracing::warn!(error = %e, "kafka consumer: retrying");
                                continue;
                            }
                            return Some((Err(e), None));
                        }
                    }
                }
            }
        });
        Ok(messages.boxed())
    }

    async fn checkpoint(&self, path: &str, op: OpCheckpoint) -> Result<()> {
        let topic = self.topic(path)?;
        check_group(&op.group)?;
        let mut tpl = TopicPartitionList::new();
        for (shard, next) in &op.positions {
            tpl.add_partition_offset(&topic, *shard as i32, Offset::Offset(*next as i64))
                .map_err(|e| map(e, "checkpoint offsets"))?;
        }
        let what = format!("checkpoint '{topic}' for group '{}'", op.group);
        match self.member(&topic, &op.group) {
            Some(member) => {
                blocking(move || member.commit(&tpl, CommitMode::Sync).map_err(|e| map(e, &what))).await
            }
            None => {
                let own: BaseConsumer = self
                    .settings
                    .consumer(&op.group, false)
                    .create()
                    .map_err(|e| map(e, &what))?;
                blocking(move || own.commit(&tpl, CommitMode::Sync).map_err(|e| map(e, &what))).await
            }
        }
    }
}
