//! `bindery serve`: a spec's bindings over HTTP.
//!
//! - **Objects** on `/v1/objects/{binding}/{path}`: `GET` (streamed; `Range` gives 206,
//!   `If-None-Match` 304), `HEAD`, `PUT` (streamed to the driver; `If-Match` /
//!   `If-None-Match: *`), `DELETE`; the `ETag` is the generation, user metadata travels as
//!   `x-bindery-meta-*` headers and the content type as `Content-Type`. `GET
//!   /v1/objects/{binding}?prefix=&delimiter=&limit=&page_token=` lists, as JSON.
//! - **Tables** on `/v1/tables/{binding}/{table}`: `GET` reads (`where`, `select`, `limit`) as
//!   JSON, NDJSON, CSV or Arrow IPC by `Accept`, streamed batch by batch; `POST` writes items
//!   (a JSON array, NDJSON or Arrow IPC); `…/_schema` the schema.
//! - **Streams** on `/v1/streams/{binding}/{stream}`: `POST` publishes (a JSON array or
//!   NDJSON of `{key, value, headers}`, or one raw body); `GET` consumes as Server-Sent Events
//!   (`from`, `group`, `where`; the event id is where to resume, and `Last-Event-ID` resumes).
//! - **Watches** on `/v1/watch/{binding}/{path}`: the changes of an object prefix or a table as
//!   Server-Sent Events (`initial`; the event id is the change's cursor).
//! - **Calls** on `/v1/call/{binding}/{path}` (`POST`, the `operation` query parameter).
//! - **Auth**: bearer JWTs (HS256, RS256, ES256) and static API tokens stored hashed, each
//!   carrying scopes `binding:operation`; see [`auth`].
//! - **Errors** are problem details (RFC 9457) naming the bindery kind, binding, operation
//!   and path; see [`problem`].
//! - **OpenAPI 3.1** at `/v1/openapi.json`, made from the spec.

pub mod auth;
mod events;
mod objects;
mod openapi;
pub mod problem;
mod rows;
mod streams;
mod tables;
mod watch;

use std::collections::BTreeSet;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::routing::{get, post};
use axum::Router;
use bindery::Context;
use bindery_core::Kind;
use bindery_runtime::BindingSpec;

use crate::auth::{Auth, Grant};
use crate::problem::Problem;

/// The gateway's address unless the spec or `--listen` says otherwise.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";

/// What every handler shares.
pub(crate) struct Gateway {
    ctx: Context,
    auth: Auth,
    /// The exposed bindings: name → its spec.
    bindings: Vec<BindingSpec>,
    /// The operations a binding is exposed for, where the spec limits them.
    operations: std::collections::BTreeMap<String, Vec<String>>,
    body_bytes: u64,
    json_bytes: u64,
}

pub(crate) type Shared = Arc<Gateway>;

impl Gateway {
    /// The exposed binding `name` of kind `kind`, after checking that `grant` may do
    /// `operation` on it (a missing binding is 404 before the scope is looked at only when the
    /// caller may see some binding at all).
    pub(crate) fn binding(
        &self,
        grant: &Grant,
        name: &str,
        kind: Kind,
        operation: &str,
    ) -> Result<&BindingSpec, Problem> {
        let b = self.exposed(grant, name, operation)?;
        if b.kind != kind {
            return Err(Problem::bad_request(format!(
                "binding '{name}' is a {} binding; this is the {} endpoint (use /v1/{}/{name}/…)",
                b.kind,
                kind,
                endpoint(b.kind)
            )));
        }
        Ok(b)
    }

    /// The exposed binding `name`, after checking that `grant` may do `operation` on it and
    /// that the spec exposes it for that.
    pub(crate) fn exposed(
        &self,
        grant: &Grant,
        name: &str,
        operation: &str,
    ) -> Result<&BindingSpec, Problem> {
        grant.require(name, operation)?;
        let Some(b) = self.bindings.iter().find(|b| b.name == name) else {
            return Err(Problem::not_found(format!(
                "no exposed binding '{name}' (bindings: {})",
                self.bindings
                    .iter()
                    .map(|b| b.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        if let Some(ops) = self.operations.get(name) {
            if !ops.iter().any(|o| o == operation) {
                return Err(Problem::new(
                    axum::http::StatusCode::FORBIDDEN,
                    format!(
                        "binding '{name}' is exposed for {} only, not {operation} (spec.gateway.bindings)",
                        ops.join(", ")
                    ),
                ));
            }
        }
        Ok(b)
    }
}

fn endpoint(kind: Kind) -> &'static str {
    match kind {
        Kind::Object => "objects",
        Kind::Table => "tables",
        Kind::Stream => "streams",
        Kind::Generic => "call",
    }
}

/// How the gateway is set up: from the spec's `gateway` section, with `--listen` over it.
pub struct Settings {
    /// Where to listen.
    pub listen: SocketAddr,
    /// The header-read timeout (also the TLS handshake's).
    pub header_timeout: Duration,
    /// HTTPS: the server's TLS configuration (`spec.gateway.tls`); `None`: plain HTTP.
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

/// The TLS configuration of `spec.gateway.tls`: its certificate chain and key, TLS 1.2 and
/// 1.3 by rustls on ring, HTTP/1.1 by ALPN.
fn tls_config(tls: &bindery_runtime::spec::TlsSpec) -> Result<Arc<rustls::ServerConfig>, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&tls.cert)
        .and_then(|c| c.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("spec.gateway.tls.cert: '{}': {e}", tls.cert.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "spec.gateway.tls.cert: '{}' holds no certificate",
            tls.cert.display()
        ));
    }
    let key = PrivateKeyDer::from_pem_file(&tls.key)
        .map_err(|e| format!("spec.gateway.tls.key: '{}': {e}", tls.key.display()))?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("spec.gateway.tls: {e}"))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| {
            format!("spec.gateway.tls: the key does not fit the certificate, or either is unusable: {e}")
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Builds the gateway of a connected context: its router and where it listens. `listen`
/// overrides the spec's address. Refuses to listen beyond loopback without `auth`.
pub fn build(ctx: Context, listen: Option<&str>) -> Result<(Router, Settings), String> {
    let spec = ctx.host().spec().clone();
    let g = spec.gateway.clone().unwrap_or_default();
    let text = listen
        .map(str::to_string)
        .or_else(|| g.listen.clone())
        .unwrap_or_else(|| DEFAULT_LISTEN.to_string());
    let addr: SocketAddr = text.parse().map_err(|_| {
        format!("the listen address '{text}' is not IP:PORT (such as 127.0.0.1:8080 or 0.0.0.0:8080)")
    })?;
    let auth = Auth::from_spec(&g, addr.ip().is_loopback())?;
    let exposed: Option<BTreeSet<&String>> = g.bindings.as_ref().map(|b| b.iter().collect());
    let bindings = spec
        .bindings
        .iter()
        .filter(|b| exposed.as_ref().is_none_or(|e| e.contains(&b.name)))
        .cloned()
        .collect();
    let shared = Arc::new(Gateway {
        ctx,
        auth,
        bindings,
        operations: g.operations.clone(),
        body_bytes: g.body_bytes,
        json_bytes: g.json_bytes,
    });
    let doc = Arc::new(openapi::document(&shared, &spec.name));
    // Bodies of rows and listings are gzipped for a client that accepts it; objects keep
    // their bytes (their ETag and ranges are of those), and event streams are never
    // compressed (tower-http's default predicate).
    let gzip = tower_http::compression::CompressionLayer::new;
    let router = Router::new()
        .route(
            "/v1/openapi.json",
            get(move || openapi::serve(doc.clone())).layer(gzip()),
        )
        .route("/v1/objects/{binding}", get(objects::list).layer(gzip()))
        .route(
            "/v1/objects/{binding}/{*path}",
            get(objects::get)
                .head(objects::head)
                .put(objects::put)
                .delete(objects::delete),
        )
        .route(
            "/v1/tables/{binding}/{*table}",
            get(tables::read)
                .post(tables::write)
                .patch(tables::patch)
                .delete(tables::delete)
                .layer(gzip()),
        )
        .route(
            "/v1/streams/{binding}/{*stream}",
            get(streams::consume).post(streams::publish),
        )
        .route("/v1/watch/{binding}", get(watch::watch_root))
        .route("/v1/watch/{binding}/{*path}", get(watch::watch))
        .route("/v1/call/{binding}/{*path}", post(streams::call))
        .fallback(|| async { Problem::not_found("no such endpoint (see /v1/openapi.json)") })
        .layer(axum::middleware::from_fn_with_state(
            shared.clone(),
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(g.cors_origins.clone(), cors))
        .with_state(shared);
    Ok((
        router,
        Settings {
            listen: addr,
            header_timeout: g.header_timeout,
            tls: g.tls.as_ref().map(tls_config).transpose()?,
        },
    ))
}

/// CORS: an allowed `Origin` gets `Access-Control-Allow-*`; a preflight (`OPTIONS`) from one
/// is answered here.
async fn cors(
    axum::extract::State(origins): axum::extract::State<Vec<String>>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::http::{header, HeaderValue, Method, StatusCode};
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .filter(|o| origins.iter().any(|a| a == "*" || a == o))
        .map(str::to_string);
    let preflight = req.method() == Method::OPTIONS;
    let mut resp = match (&origin, preflight) {
        (Some(_), true) => axum::response::IntoResponse::into_response(StatusCode::NO_CONTENT),
        _ => next.run(req).await,
    };
    if let Some(o) = origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        let h = resp.headers_mut();
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, o);
        h.insert(header::VARY, HeaderValue::from_static("Origin"));
        if preflight {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_METHODS,
                HeaderValue::from_static("GET, HEAD, PUT, POST, DELETE, OPTIONS"),
            );
            h.insert(
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                HeaderValue::from_static(
                    "authorization, content-type, if-match, if-none-match, range, last-event-id",
                ),
            );
            h.insert(header::ACCESS_CONTROL_MAX_AGE, HeaderValue::from_static("600"));
        } else {
            h.insert(
                header::ACCESS_CONTROL_EXPOSE_HEADERS,
                HeaderValue::from_static("etag, content-range, content-length"),
            );
        }
    }
    resp
}

/// Serves one connection (HTTP/1.1, upgrades allowed) until it ends, or until `stop` says to
/// finish the request in flight and close.
async fn connection<I>(
    io: I,
    service: hyper_util::service::TowerToHyperService<Router>,
    header_timeout: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) where
    I: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(io, service)
        .with_upgrades();
    let mut conn = std::pin::pin!(conn);
    let ended = tokio::select! {
        ended = conn.as_mut() => Some(ended),
        _ = stop.changed() => None,
    };
    let ended = match ended {
        Some(ended) => ended,
        None => {
            conn.as_mut().graceful_shutdown();
            conn.await
        }
    };
    if let Err(e) = ended {
        tracing::debug!(error = %e, "gateway: connection ended with an error");
    }
}

/// How long a shutdown waits for the requests in flight.
const DRAIN: Duration = Duration::from_secs(10);

/// Serves `router` on `settings.listen` until `shutdown` completes, then lets the requests
/// in flight finish, for up to 10 s (graceful shutdown). `ready` is told the address bound (port 0 picks
/// one).
pub async fn serve(
    router: Router,
    settings: Settings,
    shutdown: impl Future<Output = ()>,
    ready: impl FnOnce(SocketAddr),
) -> Result<(), String> {
    use hyper_util::rt::TokioIo;
    use hyper_util::service::TowerToHyperService;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen on {}: {e}", settings.listen))?;
    ready(bound);
    // Graceful shutdown by hand: hyper-util's `GracefulShutdown` does not take connections
    // that can be upgraded (WebSockets). Each connection is told to finish its request in
    // flight and close; an upgraded one has left hyper and ends with its socket.
    let (stopping, stop) = tokio::sync::watch::channel(false);
    let mut connections = tokio::task::JoinSet::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    // Out of file descriptors and the like: wait a little, go on.
                    tracing::warn!(error = %e, "gateway: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(router.clone());
        let stop = stop.clone();
        let header_timeout = settings.header_timeout;
        match &settings.tls {
            None => {
                connections.spawn(connection(TokioIo::new(stream), service, header_timeout, stop));
            }
            Some(config) => {
                let acceptor = tokio_rustls::TlsAcceptor::from(config.clone());
                connections.spawn(async move {
                    // The handshake in the connection's task, bounded as the headers are.
                    match tokio::time::timeout(header_timeout, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => connection(TokioIo::new(tls), service, header_timeout, stop).await,
                        Ok(Err(e)) => tracing::debug!(error = %e, "gateway: TLS handshake failed"),
                        Err(_) => tracing::debug!("gateway: TLS handshake timed out"),
                    }
                });
            }
        }
    }
    drop(listener);
    let _ = stopping.send(true);
    // Up to DRAIN for the requests in flight (an event stream never ends by itself).
    let drained =
        tokio::time::timeout(DRAIN, async { while connections.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        tracing::info!("gateway: closing the connections still open after {DRAIN:?}");
        connections.shutdown().await;
    }
    Ok(())
}
