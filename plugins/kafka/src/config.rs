//! The kafka driver's config: `url` lists the bootstrap brokers; options are librdkafka
//! properties (for every client, or one with `producer.`, `consumer.`, `admin.`), checked by
//! librdkafka at connect, plus bindery's own `topic_prefix` and `replication_factor`.

use bindery_core::Connect;
use std::collections::BTreeMap;

use bindery_core::{BindingConfig, DriverOptions, Error, Result};
use rdkafka::ClientConfig;

use crate::KafkaDriver;

/// The options a binding may set.
pub(crate) const OPTIONS: &[(&str, &str)] = &[
    ("topic_prefix", "put before every topic name (namespacing)"),
    (
        "replication_factor",
        "the replication factor of topics `create` makes (default: the broker's)",
    ),
    ("producer.NAME", "a librdkafka property of the producer only"),
    ("consumer.NAME", "a librdkafka property of consumers only"),
    ("admin.NAME", "a librdkafka property of the admin client only"),
    (
        "NAME",
        "any other key: a librdkafka property of every client (checked by librdkafka at connect)",
    ),
];

/// The clients a binding makes, and what each is configured with.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    /// Properties for every client.
    common: BTreeMap<String, String>,
    producer: BTreeMap<String, String>,
    consumer: BTreeMap<String, String>,
    admin: BTreeMap<String, String>,
    /// `create`'s replication factor; -1 is the broker's default.
    pub(crate) replication_factor: i32,
    /// Put before every topic name.
    pub(crate) topic_prefix: String,
}

impl Settings {
    pub(crate) fn from_config(config: &BindingConfig) -> Result<Settings> {
        DriverOptions::of::<KafkaDriver>(&config.options)?;
        let url = config.url(
            KafkaDriver::NAME,
            "the bootstrap brokers, kafka://HOST:PORT[,HOST:PORT…]",
        )?;
        let brokers = url.strip_prefix("kafka://").unwrap_or(url).trim_end_matches('/');
        if brokers.is_empty() || brokers.contains('/') {
            return Err(Error::invalid_input(format!(
                "kafka url '{url}': expected kafka://HOST:PORT[,HOST:PORT…] (the topic goes in `path`)"
            )));
        }
        let mut s = Settings {
            common: BTreeMap::from([("bootstrap.servers".to_string(), brokers.to_string())]),
            producer: BTreeMap::new(),
            consumer: BTreeMap::new(),
            admin: BTreeMap::new(),
            replication_factor: -1,
            topic_prefix: String::new(),
        };
        let secrets = config.secrets.iter().map(|(k, v)| match k.as_str() {
            // A lone `secret` is the SASL password.
            "secret" => ("sasl.password".to_string(), v.expose().to_string()),
            _ => (k.clone(), v.expose().to_string()),
        });
        let options = config.options.iter().map(|(k, v)| (k.clone(), v.clone()));
        for (k, v) in options.chain(secrets) {
            if k == "topic_prefix" {
                s.topic_prefix = v;
                continue;
            }
            if k == "replication_factor" {
                s.replication_factor = v.parse().ok().filter(|n| *n >= 1 || *n == -1).ok_or_else(|| {
                    Error::invalid_input(format!(
                        "option replication_factor: '{v}' is not a number from 1 up"
                    ))
                })?;
                continue;
            }
            let (map, prop) = if let Some(p) = k.strip_prefix("producer.") {
                (&mut s.producer, p)
            } else if let Some(p) = k.strip_prefix("consumer.") {
                (&mut s.consumer, p)
            } else if let Some(p) = k.strip_prefix("admin.") {
                (&mut s.admin, p)
            } else {
                (&mut s.common, k.as_str())
            };
            map.insert(prop.to_string(), v);
        }
        // Check every property with librdkafka now, so a typo fails at connect naming it.
        for (which, extra) in [
            ("producer", &s.producer),
            ("consumer", &s.consumer),
            ("admin", &s.admin),
        ] {
            let mut c = ClientConfig::new();
            for (k, v) in s.common.iter().chain(extra.iter()) {
                c.set(k, v);
            }
            c.create_native_config()
                .map_err(|e| Error::invalid_input(format!("kafka option for the {which}: {e}")))?;
        }
        Ok(s)
    }

    fn client(&self, extra: &BTreeMap<String, String>, fixed: &[(&str, &str)]) -> ClientConfig {
        let mut c = ClientConfig::new();
        for (k, v) in fixed {
            c.set(*k, *v);
        }
        for (k, v) in self.common.iter().chain(extra.iter()) {
            c.set(k, v);
        }
        c
    }

    /// The producer's configuration: idempotent, every in-sync replica acknowledging.
    pub(crate) fn producer(&self) -> ClientConfig {
        let mut c = self.client(&self.producer, &[("partitioner", "murmur2_random")]);
        // What bindery promises is not the user's to turn off.
        c.set("enable.idempotence", "true").set("acks", "all");
        c
    }

    /// A consumer's configuration (the group, if any, is set by the caller).
    pub(crate) fn consumer(&self, group: &str, eof: bool) -> ClientConfig {
        // Heartbeats every second (librdkafka: 3 s) so members learn of a rebalance sooner.
        let mut c = self.client(
            &self.consumer,
            &[
                ("auto.offset.reset", "earliest"),
                ("allow.auto.create.topics", "false"),
                ("heartbeat.interval.ms", "1000"),
            ],
        );
        c.set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("enable.partition.eof", if eof { "true" } else { "false" });
        c
    }

    pub(crate) fn admin(&self) -> ClientConfig {
        self.client(&self.admin, &[])
    }

    /// Whether clients connect without TLS or SASL (so the ApiVersions probe can talk to them).
    pub(crate) fn plaintext(&self) -> bool {
        self.common
            .get("security.protocol")
            .is_none_or(|p| p.eq_ignore_ascii_case("plaintext"))
    }

    /// Where the brokers are, for messages.
    pub(crate) fn brokers(&self) -> &str {
        self.common.get("bootstrap.servers").map_or("", String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Kind;

    fn settings(url: &str, options: &[(&str, &str)]) -> Result<Settings> {
        let mut c = BindingConfig::new("ev", Kind::Stream, Some(url.into()));
        for (k, v) in options {
            c.options.insert(k.to_string(), v.to_string());
        }
        Settings::from_config(&c)
    }

    #[test]
    fn urls_and_options_configure_the_clients() {
        let s = settings(
            "kafka://a:9092,b:9092",
            &[
                ("linger.ms", "7"),
                ("producer.batch.size", "1000"),
                ("replication_factor", "3"),
            ],
        )
        .unwrap();
        assert_eq!(s.brokers(), "a:9092,b:9092");
        assert_eq!(s.replication_factor, 3);
        assert_eq!(s.producer().get("linger.ms"), Some("7"));
        assert_eq!(s.producer().get("batch.size"), Some("1000"));
        assert_eq!(s.consumer("g", false).get("batch.size"), None);
        assert_eq!(s.producer().get("acks"), Some("all"));
        let s = settings("a:9092", &[("acks", "1")]).unwrap();
        assert_eq!(
            s.producer().get("acks"),
            Some("all"),
            "acks=all is not the user's to lower"
        );
    }

    #[test]
    fn bad_bindings_name_what_is_wrong() {
        let e = settings("kafka://", &[]).unwrap_err();
        assert!(e.to_string().contains("expected kafka://HOST:PORT"), "{e}");
        let e = settings("kafka://a:1/topic", &[]).unwrap_err();
        assert!(e.to_string().contains("the topic goes in `path`"), "{e}");
        let e = settings("a:1", &[("no.such.property", "1")]).unwrap_err();
        assert!(e.to_string().contains("no.such.property"), "{e}");
        let e = settings("a:1", &[("replication_factor", "0")]).unwrap_err();
        assert!(e.to_string().contains("replication_factor"), "{e}");
    }
}
