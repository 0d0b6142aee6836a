//! The stream kind: messages, typed operations and the driver trait.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::error::{Error, Result};
use crate::filter::{self, Filter};
use crate::request::Options;

/// A stream of consumed messages.
pub type MessageStream = BoxStream<'static, Result<Message>>;

/// A message: an optional key, headers, and the value. On consume the driver fills in
/// `shard`, `position` and `timestamp`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// The key: messages with the same key go to the same shard, in order.
    pub key: Option<Bytes>,
    /// The payload, shared, never copied on its way.
    pub value: Bytes,
    /// Headers, in order.
    pub headers: Vec<(String, Bytes)>,
    /// When the message was published (set by the driver when absent).
    pub timestamp: Option<SystemTime>,
    /// The shard the message is in (on consume).
    pub shard: u32,
    /// The message's position in its shard (on consume).
    pub position: u64,
}

impl Message {
    /// A message with a value.
    pub fn new(value: impl Into<Bytes>) -> Message {
        Message {
            value: value.into(),
            ..Message::default()
        }
    }

    /// Sets the key.
    #[must_use]
    pub fn with_key(mut self, key: impl Into<Bytes>) -> Message {
        self.key = Some(key.into());
        self
    }

    /// Adds a header.
    #[must_use]
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<Bytes>) -> Message {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The message's position as text, `shard:position` (what `from_("position", …)` takes).
    pub fn position_string(&self) -> String {
        format!("{}:{}", self.shard, self.position)
    }
}

/// Where a consumer starts, per shard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StartAt {
    /// The first message kept.
    Earliest,
    /// After the last message published before the consumer started.
    Latest,
    /// At these positions (`shard → position`); other shards start at the earliest.
    Positions(BTreeMap<u32, u64>),
    /// At the first message published at or after this time.
    Timestamp(SystemTime),
    /// After the group's last checkpoint (the earliest where there is none).
    Checkpoint,
}

impl StartAt {
    /// The kinds `from_` accepts.
    pub const KINDS: [&'static str; 5] = ["earliest", "latest", "position", "timestamp", "checkpoint"];

    /// Parses `from_(kind, value)`: `earliest`, `latest`, `checkpoint`; `position` with
    /// `shard:position[,shard:position…]`; `timestamp` with milliseconds since the Unix epoch.
    pub fn parse(kind: &str, value: &str) -> Result<StartAt> {
        let bad = |why: String| Error::invalid_input(format!("from_('{kind}', '{value}'): {why}"));
        Ok(match kind.to_ascii_lowercase().as_str() {
            "earliest" => StartAt::Earliest,
            "latest" => StartAt::Latest,
            "checkpoint" => StartAt::Checkpoint,
            "position" => {
                let mut map = BTreeMap::new();
                for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                    let (s, p) = part
                        .split_once(':')
                        .ok_or_else(|| bad(format!("'{part}' is not shard:position")))?;
                    let s = s
                        .parse()
                        .map_err(|_| bad(format!("'{s}' is not a shard number")))?;
                    let p = p.parse().map_err(|_| bad(format!("'{p}' is not a position")))?;
                    map.insert(s, p);
                }
                if map.is_empty() {
                    return Err(bad("no position given".into()));
                }
                StartAt::Positions(map)
            }
            "timestamp" => {
                let ms: u64 = value
                    .trim()
                    .parse()
                    .map_err(|_| bad("give milliseconds since the Unix epoch".into()))?;
                StartAt::Timestamp(UNIX_EPOCH + Duration::from_millis(ms))
            }
            _ => return Err(bad(format!("unknown kind; kinds: {}", StartAt::KINDS.join(", ")))),
        })
    }
}

/// `publish` options and messages.
#[derive(Debug, Clone, Default)]
pub struct OpPublish {
    /// The messages, in order.
    pub messages: Vec<Message>,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// `consume` options.
#[derive(Debug, Clone)]
pub struct OpConsume {
    /// Where to start; `None` means after the group's checkpoint with a group, else earliest.
    pub start: Option<StartAt>,
    /// The consumer group: members of a group split the shards; checkpoints are per group.
    pub group: Option<String>,
    /// Only messages passing this filter (over JSON messages).
    pub filter: Option<Filter>,
    /// Only these fields of JSON messages.
    pub select: Vec<String>,
    /// Keep waiting for new messages at the end (`true`), or end there.
    pub follow: bool,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

impl Default for OpConsume {
    fn default() -> Self {
        OpConsume {
            start: None,
            group: None,
            filter: None,
            select: Vec::new(),
            follow: true,
            options: Options::new(),
        }
    }
}

/// `create` options.
#[derive(Debug, Clone, Default)]
pub struct OpCreateStream {
    /// How many shards.
    pub shards: u32,
    /// Options given with `.option(k, v)` (retention and the like, driver-defined).
    pub options: Options,
}

/// `checkpoint`: the group has handled everything before these positions.
#[derive(Debug, Clone, Default)]
pub struct OpCheckpoint {
    /// The consumer group.
    pub group: String,
    /// `(shard, next position to consume)`.
    pub positions: Vec<(u32, u64)>,
    /// Options given with `.option(k, v)`.
    pub options: Options,
}

/// What is in a shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardInfo {
    /// The shard's id.
    pub id: u32,
    /// The position of the first message kept.
    pub first: u64,
    /// The position the next message will get.
    pub next: u64,
}

/// A driver of the stream kind. Every operation defaults to `Unsupported`.
#[async_trait]
pub trait StreamDriver: Send + Sync {
    /// Creates a stream with a number of shards.
    ///
    /// # Behavior
    /// - MUST fail with `AlreadyExists` if the stream exists.
    async fn create(&self, path: &str, op: OpCreateStream) -> Result<()> {
        let _ = (path, op);
        Err(Error::unsupported("create"))
    }

    /// Grows a stream to `shards` shards (never shrinks).
    async fn update(&self, path: &str, shards: u32, options: Options) -> Result<()> {
        let _ = (path, shards, options);
        Err(Error::unsupported("update"))
    }

    /// Deletes a stream and everything in it.
    async fn delete(&self, path: &str, options: Options) -> Result<()> {
        let _ = (path, options);
        Err(Error::unsupported("delete"))
    }

    /// The shards of a stream, with their first and next positions.
    async fn list_shards(&self, path: &str, options: Options) -> Result<Vec<ShardInfo>> {
        let _ = (path, options);
        Err(Error::unsupported("list_shards"))
    }

    /// Publishes messages; returns each one's `(shard, position)`, in order.
    ///
    /// # Behavior
    /// - MUST return only once every message is durable.
    /// - Messages with the same key MUST go to the same shard; within a shard, in order.
    async fn publish(&self, path: &str, op: OpPublish) -> Result<Vec<(u32, u64)>> {
        let _ = (path, op);
        Err(Error::unsupported("publish"))
    }

    /// Consumes messages, in order within each shard.
    ///
    /// # Behavior
    /// - With `follow`, the stream waits for new messages and never ends by itself.
    /// - With a group, the members of the group split the shards between them; dropping
    ///   the stream leaves the group.
    async fn consume(&self, path: &str, op: OpConsume) -> Result<MessageStream> {
        let _ = (path, op);
        Err(Error::unsupported("consume"))
    }

    /// Records a group's progress durably.
    async fn checkpoint(&self, path: &str, op: OpCheckpoint) -> Result<()> {
        let _ = (path, op);
        Err(Error::unsupported("checkpoint"))
    }
}

/// Applies `where_` and `select` to one consumed JSON message, for drivers that cannot push
/// them down: `None` when it does not pass. A message that is not JSON does not pass a
/// filter; `select` leaves a non-JSON message out too (there are no fields to pick).
pub fn filter_message(mut msg: Message, filter: Option<&Filter>, select: &[String]) -> Option<Message> {
    if filter.is_none() && select.is_empty() {
        return Some(msg);
    }
    let doc = serde_json::from_slice::<serde_json::Value>(&msg.value).ok()?;
    if filter.is_some_and(|f| !f.matches_json(&doc)) {
        return None;
    }
    if !select.is_empty() {
        msg.value = Bytes::from(filter::select_json(&doc, select).to_string());
    }
    Some(msg)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_kinds_parse() {
        assert_eq!(StartAt::parse("earliest", "").unwrap(), StartAt::Earliest);
        assert_eq!(
            StartAt::parse("position", "0:5, 2:7").unwrap(),
            StartAt::Positions([(0, 5), (2, 7)].into_iter().collect())
        );
        assert_eq!(
            StartAt::parse("timestamp", "1000").unwrap(),
            StartAt::Timestamp(UNIX_EPOCH + Duration::from_secs(1))
        );
        let e = StartAt::parse("position", "x").unwrap_err().to_string();
        assert!(e.contains("'x' is not shard:position"), "{e}");
        assert!(StartAt::parse("yesterday", "")
            .unwrap_err()
            .to_string()
            .contains("earliest, latest"));
    }

    #[test]
    fn filters_and_selects_json_messages() {
        let msgs = [
            r#"{"n": 1, "kind": "a", "x": 9}"#,
            r#"{"n": 2, "kind": "b"}"#,
            "not json",
            r#"{"n": 3, "kind": "a"}"#,
        ];
        let f = Filter::parse("kind = 'a'").unwrap();
        let select = ["n".to_string()];
        let out: Vec<_> = msgs
            .into_iter()
            .filter_map(|m| filter_message(Message::new(m), Some(&f), &select))
            .map(|m| String::from_utf8(m.value.to_vec()).unwrap())
            .collect();
        assert_eq!(out, [r#"{"n":1}"#, r#"{"n":3}"#]);
        // Without a filter or a select every message passes as it is, JSON or not.
        assert_eq!(
            filter_message(Message::new("not json"), None, &[]).unwrap().value,
            "not json"
        );
    }
}
