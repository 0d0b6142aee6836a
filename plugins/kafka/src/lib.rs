//! The `kafka` stream driver: topics on a Kafka-protocol broker (rdkafka, librdkafka 2.12
//! built from the crate's bundled source).
//!
//! ```yaml
//! dataBindings:
//!   ev:
//!     kind: stream
//!     driver: kafka
//!     url: kafka://127.0.0.1:9092,127.0.0.1:9093   # the bootstrap brokers (kafka:// optional)
//!     path: orders                                 # a topic (optional: commands name it)
//!     credentials:                                 # optional: librdkafka properties kept secret
//!       sasl.username: { env: KAFKA_USER }
//!       sasl.password: { env: KAFKA_PASSWORD }
//!     options:
//!       security.protocol: SASL_SSL                # any librdkafka property, for every client
//!       sasl.mechanism: SCRAM-SHA-256
//!       producer.linger.ms: "10"                   # `producer.`/`consumer.`/`admin.`: one client only
//!       replication_factor: "3"                    # for `create` (default: the broker's)
//!       topic_prefix: team-a.                      # put before every topic name (namespacing)
//! ```
//!
//! - A stream is a topic, a shard a partition, a position an offset.
//! - **Publish** goes through one idempotent producer per binding (`enable.idempotence=true`,
//!   `acks=all`): it returns once every message is acknowledged by all in-sync replicas, each
//!   with its partition and offset. Keys pick partitions with `murmur2_random`, the Java
//!   client's partitioner, so a key lands where Java clients put it. Messages without a key
//!   go to partitions at random.
//! - **Consume** without a group assigns every partition itself (no group membership); with a
//!   group it subscribes, and the group's members split the partitions. `from_` applies to a
//!   member's first assignment (`earliest`, `latest`, offsets, or a timestamp via
//!   `offsets_for_times`); without it, and on later rebalances, a member continues from the
//!   group's committed offset, or the earliest where there is none. Without `follow` the
//!   consumer ends once every partition it was given has reached the end it had when it got
//!   there (librdkafka's partition EOF).
//! - **Checkpoint** commits the offsets (synchronously) through a live consumer of the group,
//!   or, when the group has none in this process, through a consumer of its own. Nothing is
//!   committed unless asked (`enable.auto.commit=false`).
//! - **Admin**: `create` / `update` (adds partitions; never removes) / `delete` through the
//!   admin client; `list_shards` gives each partition's low and high watermarks. At connect
//!   the driver asks a broker which APIs it serves (ApiVersions, on plaintext listeners);
//!   without CreatePartitions (tansu lacks it) the binding's capability has no `stream_grow`
//!   and `update` is refused with `Unsupported`.

mod config;
mod error;
mod probe;
mod stream;

use std::sync::Arc;

use bindery_core::{async_trait, BindingConfig, Capability, Connect, Instance, Kind, Result, StreamDriver};

pub use error::map;

use crate::config::Settings;

/// The `kafka` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct KafkaDriver;

#[async_trait]
impl Connect for KafkaDriver {
    const NAME: &'static str = "kafka";
    const KINDS: &'static [Kind] = &[Kind::Stream];
    /// What a binding can do (`stream_grow` only where the broker can add partitions).
    const CAPABILITY: Capability = Capability::PARTITIONED_LOG;
    const DESCRIPTION: &'static str =
        "Topics on a Kafka-protocol broker (rdkafka): idempotent publish, consumer groups, admin.";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const OPTIONS: &'static [(&'static str, &'static str)] = config::OPTIONS;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let settings = Settings::from_config(&config)?;
        Ok(Arc::new(stream::Kafka::connect(settings).await?))
    }
}

impl Instance for stream::Kafka {
    fn capability(&self) -> Capability {
        self.capability
    }

    fn stream(&self) -> Option<&dyn StreamDriver> {
        Some(self)
    }
}
