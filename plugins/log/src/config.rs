//! The log driver's config: `url` is the folder that holds the streams; options size the
//! segments and bound what is kept.

use bindery_core::Connect;
use std::time::Duration;

use bindery_core::{BindingConfig, DriverOptions, Result};

use crate::shard::ShardOptions;
use crate::LogDriver;

/// The options a binding may set.
pub(crate) const OPTIONS: &[(&str, &str)] = &[
    (
        "segment.bytes",
        "bytes after which a shard starts a new segment file (default 16 MiB)",
    ),
    (
        "retention.bytes",
        "bytes a shard keeps; older whole segments are removed (default: all)",
    ),
    (
        "retention.ms",
        "milliseconds a message is kept; older whole segments are removed (default: forever)",
    ),
];

/// A binding's config.
#[derive(Debug)]
pub(crate) struct Config {
    /// The folder that holds the streams (`url`, relative to the spec's folder).
    pub(crate) root: std::path::PathBuf,
    pub(crate) shards: ShardOptions,
}

impl Config {
    pub(crate) fn from_binding(config: &BindingConfig) -> Result<Config> {
        let o = DriverOptions::of::<LogDriver>(&config.options)?;
        let whole = "a whole number";
        Ok(Config {
            root: config.local_path(LogDriver::NAME, "the folder that holds the streams")?,
            shards: ShardOptions {
                segment_bytes: o.parse::<u64>("segment.bytes", whole)?.unwrap_or(16 << 20).max(1),
                retention_bytes: o.parse("retention.bytes", whole)?,
                retention: o.parse("retention.ms", whole)?.map(Duration::from_millis),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Kind;

    fn config(options: &[(&str, &str)]) -> Result<Config> {
        let mut c = BindingConfig::new("ev", Kind::Stream, Some("file://streams".into()));
        c.options = options
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_binding(&c)
    }

    #[test]
    fn options_size_segments_and_retention() {
        let c = config(&[("segment.bytes", "4096"), ("retention.ms", "60000")]).unwrap();
        assert_eq!(c.root, std::path::PathBuf::from("./streams"));
        assert_eq!(c.shards.segment_bytes, 4096);
        assert_eq!(c.shards.retention, Some(Duration::from_secs(60)));
        assert_eq!(c.shards.retention_bytes, None);
        let e = config(&[("retention.bytes", "-1")]).unwrap_err();
        assert_eq!(
            e.message(),
            "option 'retention.bytes' of the log driver: '-1' is not a whole number"
        );
        let e = config(&[("segment.size", "1")]).unwrap_err();
        assert!(
            e.message()
                .starts_with("unknown option 'segment.size' of the log driver"),
            "{e}"
        );
    }
}
