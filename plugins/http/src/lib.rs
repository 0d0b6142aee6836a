//! The `http` generic driver: calls a REST endpoint.
//!
//! ```yaml
//! dataBindings:
//!   api:
//!     kind: generic
//!     driver: http
//!     url: https://api.example.com/v1     # the base URL; command paths go below it
//!     secret: { env: API_TOKEN }          # sent as `Authorization: Bearer …`
//!     options:
//!       auth: bearer                      # bearer (the default with a secret), basic, or header:NAME
//!       header.accept: application/json   # sent with every request
//! ```
//!
//! `ctx.generic().call("api://users/7").operation("GET")` sends `GET <url>/users/7`; the
//! operation is the HTTP method (`GET`, `HEAD`, `POST`, `PUT`, `PATCH`, `DELETE`,
//! `OPTIONS`), the payload the request body, and the request's options `header.NAME` and
//! `query.NAME` add headers and query parameters (path segments are percent-encoded). The
//! answer's status is the HTTP status, its metadata the response headers (names lowercased,
//! in order), its body streamed as it arrives.
//!
//! A status of 400 or more is an error by default (404 `NotFound`, 409 `AlreadyExists`, 412
//! `ConditionFailed`, 401/403 `PermissionDenied`, 405/501 `Unsupported`, 408/504 `Timeout`,
//! 429 and other 5xx `Unavailable` and retryable, other 4xx `InvalidInput`), its message
//! naming method, URL, status and the start of the body; the binding option
//! `errors: none` hands every status to the caller instead. A request that gets no answer
//! (connection refused, reset) is `Unavailable` and retryable; the host retries only calls
//! marked `.idempotent(true)`.
//!
//! Authentication: with `auth: bearer` the secret is sent as `Authorization: Bearer SECRET`;
//! `auth: basic` sends the credentials `username` and `password` (or a secret `user:pass`) as
//! HTTP Basic; `auth: header:X-Api-Key` sends the secret in that header. Secrets are never
//! logged. `https` URLs are verified against the system's CA certificates.
//!
//! At connect the driver sends `HEAD <url>`: any answer means the endpoint is there; no
//! answer fails start-up naming the URL.

mod config;
mod error;
mod generic;

use std::sync::Arc;

use bindery_core::{async_trait, BindingConfig, Capability, Connect, Instance, Kind, Result};

/// The `http` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpDriver;

#[async_trait]
impl Connect for HttpDriver {
    const NAME: &'static str = "http";
    const KINDS: &'static [Kind] = &[Kind::Generic];
    /// What a binding can do: generic calls.
    const CAPABILITY: Capability = Capability {
        call: true,
        ..Capability::NONE
    };
    const DESCRIPTION: &'static str =
        "Calls a REST endpoint: operation = HTTP method, path below the base URL.";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const OPTIONS: &'static [(&'static str, &'static str)] = config::OPTIONS;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let config = config::Config::from_binding(&config)?;
        Ok(Arc::new(generic::Endpoint::connect(config).await?))
    }
}
