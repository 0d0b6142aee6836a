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

mod error;

use std::sync::Arc;

use bindery_core::{
    async_trait, BindingConfig, Bytes, CallReply, CallResponse, Capability, Driver, DriverInfo, Error,
    GenericDriver, Instance, Kind, OpCall, Result,
};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// The `http` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct HttpDriver;

impl HttpDriver {
    /// The driver's name in specs.
    pub const NAME: &'static str = "http";
}

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

struct Endpoint {
    base: String,
    client: Client<Https, Full<Bytes>>,
    /// Headers sent with every request, authentication included.
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    errors: bool,
}

#[async_trait]
impl Driver for HttpDriver {
    fn info(&self) -> DriverInfo {
        DriverInfo {
            name: Self::NAME.into(),
            kinds: vec![Kind::Generic],
            capability: Capability::with_flags(&["call"]),
            description: "Calls a REST endpoint: operation = HTTP method, path below the base URL.".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            local_url: false,
        }
    }

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let url = config.url.clone().ok_or_else(|| {
            Error::invalid_input("the http driver needs `url`, the endpoint's base URL (https://host/path)")
        })?;
        let base = url.trim_end_matches('/').to_string();
        let https = base.starts_with("https://");
        if !https && !base.starts_with("http://") {
            return Err(Error::invalid_input(format!(
                "url '{}' must start with http:// or https://",
                bindery_core::path::redact_url(&url)
            )));
        }
        let mut headers = Vec::new();
        let mut errors = true;
        let mut auth = None;
        for (k, v) in &config.options {
            if let Some(name) = k.strip_prefix("header.") {
                headers.push(header(name, v)?);
            } else if k == "auth" {
                auth = Some(v.clone());
            } else if k == "errors" {
                errors = match v.as_str() {
                    "status" => true,
                    "none" => false,
                    _ => {
                        return Err(Error::invalid_input(format!(
                            "option errors must be 'status' or 'none', not '{v}'"
                        )))
                    }
                };
            } else {
                return Err(Error::invalid_input(format!(
                    "unknown option '{k}' of the http driver; options: auth, errors, header.NAME"
                )));
            }
        }
        if let Some(h) = authorization(&config, auth.as_deref())? {
            headers.push(h);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls = if https {
            hyper_rustls::HttpsConnectorBuilder::new()
                .with_provider_and_native_roots(provider)
                .map_err(|e| {
                    Error::invalid_input(format!(
                        "cannot load the system's CA certificates for {}: {e}",
                        bindery_core::path::redact_url(&url)
                    ))
                })?
        } else {
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| Error::internal(e.to_string()))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        };
        let connector = tls.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new()).build(connector);
        let endpoint = Endpoint {
            base,
            client,
            headers,
            errors,
        };
        // Readiness: any answer will do.
        endpoint
            .send("HEAD", &endpoint.base.clone(), Bytes::new(), &[])
            .await?;
        Ok(Arc::new(endpoint))
    }
}

fn header(name: &str, value: &str) -> Result<(hyper::header::HeaderName, hyper::header::HeaderValue)> {
    let n = hyper::header::HeaderName::from_bytes(name.as_bytes())
        .map_err(|_| Error::invalid_input(format!("'{name}' is not an HTTP header name")))?;
    let v = hyper::header::HeaderValue::from_str(value)
        .map_err(|_| Error::invalid_input(format!("the value of header '{name}' is not valid in HTTP")))?;
    Ok((n, v))
}

fn authorization(
    config: &BindingConfig,
    auth: Option<&str>,
) -> Result<Option<(hyper::header::HeaderName, hyper::header::HeaderValue)>> {
    let secret = config.secrets.get("secret").map(|s| s.expose().to_string());
    let secret_header = |name: &str, value: String| {
        let mut h = header(name, &value)
            .map_err(|_| Error::invalid_input("the secret is not valid in an HTTP header"))?;
        h.1.set_sensitive(true);
        Ok(Some(h))
    };
    match (auth, secret) {
        (None, None) => Ok(None),
        (None | Some("bearer"), Some(s)) => secret_header("authorization", format!("Bearer {s}")),
        (Some("bearer"), None) => Err(Error::invalid_input("auth: bearer needs the binding's `secret`")),
        (Some("basic"), secret) => {
            let pair = match (
                config.secrets.get("username"),
                config.secrets.get("password"),
                secret,
            ) {
                (Some(u), Some(p), _) => format!("{}:{}", u.expose(), p.expose()),
                (_, _, Some(s)) if s.contains(':') => s,
                _ => return Err(Error::invalid_input(
                    "auth: basic needs credentials `username` and `password`, or a secret 'user:password'",
                )),
            };
            secret_header("authorization", format!("Basic {}", base64(pair.as_bytes())))
        }
        (Some(a), Some(s)) if a.starts_with("header:") => secret_header(&a["header:".len()..], s),
        (Some(a), None) if a.starts_with("header:") => Err(Error::invalid_input(format!(
            "auth: {a} needs the binding's `secret`"
        ))),
        (Some(a), _) => Err(Error::invalid_input(format!(
            "unknown auth '{a}'; use bearer, basic or header:NAME"
        ))),
    }
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Percent-encodes one path segment (RFC 3986's unreserved characters stay).
fn encode(s: &str, out: &mut String) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

impl Endpoint {
    fn url(&self, path: &str, op: &OpCall) -> String {
        let mut url = self.base.clone();
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            url.push('/');
            encode(seg, &mut url);
        }
        let mut sep = '?';
        for (k, v) in &op.options {
            if let Some(name) = k.strip_prefix("query.") {
                url.push(sep);
                encode(name, &mut url);
                url.push('=');
                encode(v, &mut url);
                sep = '&';
            }
        }
        url
    }

    async fn send(
        &self,
        method: &str,
        url: &str,
        body: Bytes,
        extra: &[(hyper::header::HeaderName, hyper::header::HeaderValue)],
    ) -> Result<hyper::Response<hyper::body::Incoming>> {
        let mut req = hyper::Request::builder().method(method).uri(url);
        for (k, v) in self.headers.iter().chain(extra) {
            req = req.header(k, v);
        }
        let req = req.body(Full::new(body)).map_err(|e| {
            let url = bindery_core::path::redact_url(url);
            Error::invalid_input(format!("cannot make the request {method} {url}: {e}"))
        })?;
        self.client
            .request(req)
            .await
            .map_err(|e| error::from_transport(&e, method, url))
    }
}

impl Instance for Endpoint {
    fn capability(&self) -> Capability {
        Capability::with_flags(&["call"])
    }
    fn generic(&self) -> Option<&dyn GenericDriver> {
        Some(self)
    }
}

#[async_trait]
impl GenericDriver for Endpoint {
    async fn call(&self, path: &str, op: OpCall) -> Result<CallResponse> {
        let method = op.operation.to_ascii_uppercase();
        if !METHODS.contains(&method.as_str()) {
            return Err(Error::invalid_input(format!(
                "operation '{}' is not an HTTP method; operations: {}",
                op.operation,
                METHODS.join(", ")
            )));
        }
        let mut extra = Vec::new();
        for (k, v) in &op.options {
            if let Some(name) = k.strip_prefix("header.") {
                extra.push(header(name, v)?);
            } else if !k.starts_with("query.") {
                return Err(Error::invalid_input(format!(
                    "unknown option '{k}' of an http call; options: header.NAME, query.NAME"
                )));
            }
        }
        let url = self.url(path, &op);
        let resp = self.send(&method, &url, op.payload, &extra).await?;
        let status = resp.status().as_u16();
        let metadata: Vec<(String, String)> = resp
            .headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    String::from_utf8_lossy(v.as_bytes()).into_owned(),
                )
            })
            .collect();
        let size = resp
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse().ok());
        if self.errors && status >= 400 {
            // The start of the body says why; read at most 4 KiB of it.
            let mut body = resp.into_body();
            let mut text = Vec::new();
            while text.len() < 4096 {
                match body.frame().await {
                    Some(Ok(f)) => {
                        if let Ok(d) = f.into_data() {
                            text.extend_from_slice(&d);
                        }
                    }
                    _ => break,
                }
            }
            text.truncate(4096);
            return Err(error::from_status(
                status,
                &method,
                &url,
                &String::from_utf8_lossy(&text),
            ));
        }
        let url_for_errors = bindery_core::path::redact_url(&url);
        let method_for_errors = method.clone();
        let body = resp
            .into_body()
            .into_data_stream()
            .map(move |r| {
                r.map_err(|e| {
                    Error::unavailable(format!(
                        "{method_for_errors} {url_for_errors}: the answer broke off: {e}"
                    ))
                    .set_retryable(true)
                })
            })
            .boxed();
        Ok(CallResponse {
            reply: CallReply {
                status: u32::from(status),
                metadata,
            },
            size,
            body,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_and_paths() {
        assert_eq!(base64(b"ana:s3cret"), "YW5hOnMzY3JldA==");
        assert_eq!(base64(b"ab"), "YWI=");
        assert_eq!(base64(b"abc"), "YWJj");
        let mut out = String::new();
        encode("a b/ç?", &mut out);
        assert_eq!(out, "a%20b%2F%C3%A7%3F");
    }
}
