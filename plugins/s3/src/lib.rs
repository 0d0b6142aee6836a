//! The `s3` object driver: objects in an S3 bucket, on AWS or any S3-compatible server
//! (aws-sdk-s3).
//!
//! ```yaml
//! dataBindings:
//!   obj:
//!     kind: object
//!     driver: s3
//!     url: http://127.0.0.1:3900/photos   # an S3-compatible endpoint and its bucket
//!                                         #   (path-style), or s3://photos for AWS
//!     path: uploads                       # optional key prefix
//!     credentials:                        # optional; else AWS_* variables and profiles
//!       access_key_id: { env: S3_KEY_ID }
//!       secret_access_key: { env: S3_SECRET }
//!     options:
//!       region: eu-west-1                 # default: us-east-1 for an endpoint URL,
//!                                         #   AWS_REGION / the profile for s3://
//!       conditional_writes: probe         # probe (default) | on | off
//!       part_size: 8MiB                   # multipart part size (5 MiB to 5 GiB)
//!       concurrency: 4                    # parts of one upload in flight
//! ```
//!
//! - **Credentials**: `access_key_id` and `secret_access_key` (and `session_token`) from the
//!   spec's `credentials`; without them, the AWS SDK's default chain (`AWS_ACCESS_KEY_ID` /
//!   `AWS_SECRET_ACCESS_KEY`, `AWS_PROFILE` and `~/.aws`, web identity, instance metadata).
//! - **Generation** (`gen`) is the object's ETag without quotes. An ETag is a content hash
//!   for single-part uploads: writing the same bytes again (without multipart) keeps it, so
//!   `if-match` cannot tell those two writes apart. Bucket versioning is not used.
//! - **Conditions never go silently unenforced.** S3 servers differ: AWS enforces
//!   `If-Match`/`If-None-Match: *` on PutObject and CompleteMultipartUpload, s3s-fs on
//!   PutObject, Garage on neither. At connect the driver probes the bucket (a put and three
//!   refused conditional requests on a `.bindery-probe-*` key, then its delete) unless
//!   `conditional_writes` says `on` (trust the server) or `off`; conditions the server does
//!   not enforce are left out of the binding's capability, so the host refuses them with
//!   `Unsupported` instead of overwriting. A conditional put too large for one PutObject
//!   needs the server to enforce conditions on CompleteMultipartUpload too (probed
//!   separately), else it is `Unsupported`. Conditional `get`/`head` always work: the
//!   driver sends the condition and also checks the ETag of the answer itself.
//! - **Large objects**: a put larger than `part_size` goes as a multipart upload with
//!   `concurrency` parts in flight, so an upload of any size holds about
//!   `(concurrency + 1) × part_size` bytes; a failed or abandoned upload is aborted (nothing
//!   becomes visible). A get streams in chunks of up to 1 MiB as the caller reads.
//! - **Metadata**: `content-type`, `content-encoding`, `content-disposition`,
//!   `content-language` and `cache-control` map to the HTTP headers of those names; other keys
//!   are user metadata (`x-amz-meta-*`). Keys are case-insensitive (stored lowercase) and,
//!   like values, must be ASCII (S3 sends them as HTTP headers). A content type equal to the
//!   server's default (`binary/octet-stream` or `application/octet-stream`) is not reported.
//! - **Retries** are the host's (the binding's `retries`), not the SDK's, except for the parts
//!   of a multipart upload, each tried up to three times. Throttling, 5xx and connection
//!   errors are retryable.
//! - **Checksums**: requests carry the checksums S3 requires, not the optional CRCs the SDK
//!   would add by default (several S3-compatible servers refuse those).

mod error;
mod store;
mod upload;

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::{
    Credentials, RequestChecksumCalculation, ResponseChecksumValidation, StalledStreamProtectionConfig,
};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bindery_core::{
    async_trait, BindingConfig, Capability, Driver, DriverInfo, Error, Instance, Kind, Result,
};

pub use error::map_sdk_error;
pub use store::S3Store;

/// Parts smaller than this are refused by S3 (except the last).
const MIN_PART: u64 = 5 << 20;
/// Parts larger than this are refused by S3.
const MAX_PART: u64 = 5 << 30;

/// The `s3` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct S3Driver;

impl S3Driver {
    /// The driver's name in specs.
    pub const NAME: &'static str = "s3";

    /// What a binding can do at most (the conditions of writes depend on the server).
    pub fn full_capability() -> Capability {
        Capability::full_object()
    }
}

/// Whether the server enforces conditional writes, as the binding's option says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ConditionalWrites {
    Probe,
    On,
    Off,
}

/// A binding's settings, read from its spec.
#[derive(Debug, Clone)]
struct Settings {
    bucket: String,
    endpoint: Option<String>,
    region: Option<String>,
    conditional_writes: ConditionalWrites,
    part_size: u64,
    concurrency: usize,
}

fn parse_size(key: &str, v: &str) -> Result<u64> {
    let t = v.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let mult: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => u64::MAX,
    };
    match num.parse::<u64>() {
        Ok(n) if mult != u64::MAX => Ok(n.saturating_mul(mult)),
        _ => Err(Error::invalid_input(format!(
            "option {key}: '{v}' is not a size (write bytes, or a number with KiB, MiB or GiB)"
        ))),
    }
}

impl Settings {
    fn from_config(config: &BindingConfig) -> Result<Settings> {
        let url = config.url.as_deref().ok_or_else(|| {
            Error::invalid_input(
                "the s3 driver needs `url`: http(s)://HOST:PORT/BUCKET for an S3-compatible server, \
                 or s3://BUCKET for AWS",
            )
        })?;
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
        };
        for (k, v) in &config.options {
            match k.as_str() {
                "region" => s.region = Some(v.clone()),
                "conditional_writes" => {
                    s.conditional_writes = match v.as_str() {
                        "probe" => ConditionalWrites::Probe,
                        "on" | "true" => ConditionalWrites::On,
                        "off" | "false" => ConditionalWrites::Off,
                        _ => {
                            return Err(Error::invalid_input(format!(
                                "option conditional_writes: '{v}' is not one of probe, on, off"
                            )))
                        }
                    }
                }
                "part_size" => {
                    s.part_size = parse_size(k, v)?;
                    if !(MIN_PART..=MAX_PART).contains(&s.part_size) {
                        return Err(Error::invalid_input(format!(
                            "option part_size: '{v}' is outside S3's part sizes, 5 MiB to 5 GiB"
                        )));
                    }
                }
                "concurrency" => {
                    s.concurrency = v.parse().ok().filter(|n| (1..=64).contains(n)).ok_or_else(|| {
                        Error::invalid_input(format!(
                            "option concurrency: '{v}' is not a number from 1 to 64"
                        ))
                    })?
                }
                _ => {
                    return Err(Error::invalid_input(format!(
                        "unknown option '{k}' of the s3 driver (options: region, conditional_writes, \
                         part_size, concurrency)"
                    )))
                }
            }
        }
        if s.endpoint.is_some() && s.region.is_none() {
            s.region = Some("us-east-1".into());
        }
        Ok(s)
    }
}

/// Builds the S3 client of a binding.
async fn client(config: &BindingConfig, s: &Settings) -> Result<Client> {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http);
    if let Some(region) = &s.region {
        loader = loader.region(Region::new(region.clone()));
    }
    let secret = |name: &str| config.secrets.get(name).map(|v| v.expose().to_string());
    match (secret("access_key_id"), secret("secret_access_key")) {
        (Some(id), Some(key)) => {
            let creds = Credentials::new(id, key, secret("session_token"), None, "bindery spec");
            loader = loader.credentials_provider(creds);
        }
        (None, None) => {}
        _ => {
            return Err(Error::invalid_input(
                "s3 credentials need both access_key_id and secret_access_key",
            ))
        }
    }
    let shared = loader.load().await;
    if shared.region().is_none() {
        return Err(Error::invalid_input(
            "no region for the s3 binding: set options.region, or AWS_REGION, or a region in the AWS profile",
        ));
    }
    let mut conf = aws_sdk_s3::config::Builder::from(&shared)
        .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        // A function may hold a download open while it works; only uploads are watched.
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .download_enabled(false)
                .build(),
        );
    if let Some(endpoint) = &s.endpoint {
        conf = conf.endpoint_url(endpoint).force_path_style(true);
    }
    Ok(Client::from_conf(conf.build()))
}

#[async_trait]
impl Driver for S3Driver {
    fn info(&self) -> DriverInfo {
        DriverInfo {
            name: Self::NAME.into(),
            kinds: vec![Kind::Object],
            capability: Self::full_capability(),
            description: "Objects in an S3 bucket, on AWS or any S3-compatible server (aws-sdk-s3).".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            local_url: false,
        }
    }

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        if config.kind != Kind::Object {
            return Err(Error::invalid_input(format!(
                "the s3 driver serves objects, not {}",
                config.kind
            )));
        }
        let settings = Settings::from_config(&config)?;
        let client = client(&config, &settings).await?;
        let store = S3Store::connect(client, settings).await?;
        Ok(Arc::new(store))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            ("conditional_writes", "maybe", "probe, on, off"),
            ("colour", "red", "unknown option 'colour'"),
        ] {
            let e = settings("s3://b", &[(k, v)]).unwrap_err();
            assert!(e.to_string().contains(says), "{k}={v}: {e}");
        }
    }
}
