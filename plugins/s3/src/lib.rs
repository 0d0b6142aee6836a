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

mod config;
mod error;
mod object;
mod upload;
mod watch;

use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::config::{
    Credentials, RequestChecksumCalculation, ResponseChecksumValidation, StalledStreamProtectionConfig,
};
use aws_sdk_s3::Client;
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use bindery_core::{async_trait, BindingConfig, Capability, Connect, Error, Instance, Kind, Result};

pub use error::map_sdk_error;
pub use object::S3Store;

use crate::config::Settings;

/// The `s3` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct S3Driver;

#[async_trait]
impl Connect for S3Driver {
    const NAME: &'static str = "s3";
    const KINDS: &'static [Kind] = &[Kind::Object];
    /// What a binding can do at most (the conditions of writes depend on the server: a
    /// binding reports those its server enforces).
    const CAPABILITY: Capability = Capability::FULL_OBJECT.watched();
    const DESCRIPTION: &'static str =
        "Objects in an S3 bucket, on AWS or any S3-compatible server (aws-sdk-s3).";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const OPTIONS: &'static [(&'static str, &'static str)] = config::OPTIONS;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let settings = Settings::from_config(&config)?;
        let client = client(&config, &settings).await?;
        let store = S3Store::connect(client, settings).await?;
        Ok(Arc::new(store))
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
