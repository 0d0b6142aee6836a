//! The http driver's calls: one endpoint per binding, the operation an HTTP method.

use bindery_core::Connect;
use std::sync::Arc;

use bindery_core::{
    async_trait, Bytes, CallReply, CallResponse, Capability, Error, GenericDriver, Instance, OpCall, Result,
};
use futures::StreamExt;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::{header, Config};
use crate::{error, HttpDriver};

const METHODS: [&str; 7] = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"];

type Https = hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

pub(crate) struct Endpoint {
    base: String,
    client: Client<Https, Full<Bytes>>,
    /// Headers sent with every request, authentication included.
    headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    errors: bool,
}

impl Endpoint {
    /// Makes the binding's client and checks the endpoint answers (any answer will do).
    pub(crate) async fn connect(config: Config) -> Result<Endpoint> {
        let Config {
            base,
            headers,
            errors,
        } = config;
        let url = base.clone();
        let https = base.starts_with("https://");
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
        Ok(endpoint)
    }
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
        HttpDriver::CAPABILITY
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
    fn path_segments_are_percent_encoded() {
        let mut out = String::new();
        encode("a b/ç?", &mut out);
        assert_eq!(out, "a%20b%2F%C3%A7%3F");
    }
}
