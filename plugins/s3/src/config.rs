//! The s3 driver's config: `url` names the endpoint and the bucket; options set the region,
//! how conditional writes are trusted, and how large uploads are cut.

use bindery_core::Connect;
use bindery_core::{BindingConfig, DriverOptions, Error, Result};

use crate::S3Driver;

/// Parts smaller than this are refused by S3 (except the last).
pub(crate) const MIN_PART: u64 = 5 << 20;
/// Parts larger than this are refused by S3.
pub(crate) const MAX_PART: u64 = 5 << 30;

/// The options a binding may set.
pub(crate) const OPTIONS: &[(&str, &str)] = &[
    (
        "region",
        "the bucket's region (default us-east-1 for an endpoint URL; AWS_REGION or the profile for s3://)",
    ),
    (
        "conditional_writes",
        "probe (default: test the server at connect), on (trust it) or off",
    ),
    (
        "part_size",
        "the part size of multipart uploads, 5 MiB to 5 GiB (default 8MiB)",
    ),
    (
        "concurrency",
        "parts of one upload in flight, 1 to 64 (default 4)",
    ),
    (
        "watch.interval_ms",
        "how often a watched prefix is listed to find changes, 10 to 3600000 (default 1000)",
    ),
];

/// Whether the server enforces conditional writes, as the binding's option says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ConditionalWrites {
    Probe,
    On,
    Off,
}

/// A binding's settings, read from its spec.
#[derive(Debug, Clone)]
pub(crate) struct Settings {
    pub(crate) bucket: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) region: Option<String>,
    pub(crate) conditional_writes: ConditionalWrites,
    pub(crate) part_size: u64,
    pub(crate) concurrency: usize,
    /// How often a watched prefix is listed.
    pub(crate) watch_interval: std::time::Duration,
}

impl Settings {
    pub(crate) fn from_config(config: &BindingConfig) -> Result<Settings> {
        let o = DriverOptions::of::<S3Driver>(&config.options)?;
        let url = config.url(
            S3Driver::NAME,
            "http(s)://HOST:PORT/BUCKET for an S3-compatible server, or s3://BUCKET for AWS",
        )?;
        let (endpoint, bucket) = if let Some(b) = url.strip_prefix("s3://") {
            (None, b.trim_end_matches('/'))
        } else if let Some((scheme, rest)) = url
            .split_once("://")
            .filter(|(s, _)| *s == "http" || *s == "https")
        {
            let (host, bucket) = rest.split_once('/').unwrap_or((rest, ""));
            if host.is_empty() {
                return Err(Error::invalid_input(format!("s3 url '{url}' names no host")));
            }
            (Some(format!("{scheme}://{host}")), bucket.trim_end_matches('/'))
        } else {
            return Err(Error::invalid_input(format!(
                "s3 url '{url}': expected http(s)://HOST:PORT/BUCKET or s3://BUCKET"
            )));
        };
        if bucket.is_empty() || bucket.contains('/') {
            return Err(Error::invalid_input(format!(
                "s3 url '{url}' must name exactly one bucket after the host (a key prefix goes in `path`)"
            )));
        }
        let mut s = Settings {
            bucket: bucket.to_string(),
            endpoint,
            region: None,
            conditional_writes: ConditionalWrites::Probe,
            part_size: 8 << 20,
            concurrency: 4,
            watch_interval: crate::watch::INTERVAL,
        };
        if let Some(region) = o.get("region") {
            s.region = Some(region.to_string());
        }
        let choices = [
            ("probe", ConditionalWrites::Probe),
            ("on", ConditionalWrites::On),
            ("true", ConditionalWrites::On),
            ("off", ConditionalWrites::Off),
            ("false", ConditionalWrites::Off),
        ];
        if let Some(c) = o.choice("conditional_writes", &choices)? {
            s.conditional_writes = c;
        }
        if let Some(size) = o.size("part_size")? {
            if !(MIN_PART..=MAX_PART).contains(&size) {
                let v = o.get("part_size").unwrap_or_default();
                return Err(o.invalid("part_size", v, "within S3's part sizes, 5 MiB to 5 GiB"));
            }
            s.part_size = size;
        }
        if let Some(n) = o.parse::<usize>("concurrency", "a number from 1 to 64")? {
            if !(1..=64).contains(&n) {
                return Err(o.invalid("concurrency", &n.to_string(), "a number from 1 to 64"));
            }
            s.concurrency = n;
        }
        if let Some(ms) = o.parse::<u64>("watch.interval_ms", "a number of milliseconds")? {
            if !(10..=3_600_000).contains(&ms) {
                return Err(o.invalid("watch.interval_ms", &ms.to_string(), "10 to 3600000 milliseconds"));
            }
            s.watch_interval = std::time::Duration::from_millis(ms);
        }
        if s.endpoint.is_some() && s.region.is_none() {
            s.region = Some("us-east-1".into());
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::Kind;

    fn settings(url: &str, options: &[(&str, &str)]) -> Result<Settings> {
        let mut c = BindingConfig::new("obj", Kind::Object, Some(url.into()));
        for (k, v) in options {
            c.options.insert(k.to_string(), v.to_string());
        }
        Settings::from_config(&c)
    }

    #[test]
    fn urls_name_endpoint_and_bucket() {
        let s = settings("http://127.0.0.1:3900/photos", &[]).unwrap();
        assert_eq!(s.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(
            (s.bucket.as_str(), s.region.as_deref()),
            ("photos", Some("us-east-1"))
        );
        let s = settings("s3://photos/", &[("region", "eu-west-1")]).unwrap();
        assert_eq!((s.endpoint, s.bucket.as_str()), (None, "photos"));
        for bad in [
            "ftp://x/b",
            "http://host",
            "http://host/b/k",
            "s3://",
            "http:///b",
        ] {
            let e = settings(bad, &[]).unwrap_err();
            assert_eq!(e.kind(), bindery_core::ErrorKind::InvalidInput, "{bad}");
        }
    }

    #[test]
    fn options_are_checked() {
        let s = settings("s3://b", &[("part_size", "16MiB"), ("concurrency", "8")]).unwrap();
        assert_eq!((s.part_size, s.concurrency), (16 << 20, 8));
        assert_eq!(
            settings("s3://b", &[("conditional_writes", "off")])
                .unwrap()
                .conditional_writes,
            ConditionalWrites::Off
        );
        for (k, v, says) in [
            ("part_size", "1MiB", "5 MiB to 5 GiB"),
            ("part_size", "lots", "not a size"),
            ("concurrency", "0", "1 to 64"),
            ("conditional_writes", "maybe", "probe, on, true, off, false"),
            ("colour", "red", "unknown option 'colour'"),
        ] {
            let e = settings("s3://b", &[(k, v)]).unwrap_err();
            assert!(e.to_string().contains(says), "{k}={v}: {e}");
        }
    }
}
