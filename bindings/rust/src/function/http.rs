//! The `http` trigger: a request in, the handler's response out (hyper, HTTP/1.1).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::sync::Semaphore;

use super::{call, event_id, Event, Handler, Response, Shutdown};
use crate::{Context, Error, Result};
use bindery_runtime::TriggerSpec;

const DEFAULT_WORKERS: usize = 64;
const DEFAULT_MAX_BODY: usize = 32 << 20;
const DEFAULT_WORKER_WAIT: Duration = Duration::from_secs(10);
/// How long requests in flight may take to finish after a shutdown.
const GRACE: Duration = Duration::from_secs(30);

pub(super) struct HttpTrigger {
    listener: tokio::net::TcpListener,
    state: Arc<State>,
}

struct State {
    trigger: String,
    workers: Semaphore,
    max_workers: usize,
    worker_wait: Duration,
    max_body: usize,
}

impl HttpTrigger {
    /// Binds the listening socket (so a port in use fails start-up).
    pub(super) async fn bind(t: &TriggerSpec) -> Result<HttpTrigger> {
        let host = t.attribute("host").unwrap_or("127.0.0.1");
        let default_port = bindery_runtime::spec::DEFAULT_HTTP_PORT.to_string();
        let port = t.attribute("port").unwrap_or(&default_port).trim();
        let addr: SocketAddr = format!("{host}:{port}")
            .parse()
            .or_else(|_| format!("[{host}]:{port}").parse())
            .map_err(|_| Error::invalid_input(format!("'{host}:{port}' is not an address to listen on")))?;
        let number = |a: &str, default: usize| -> Result<usize> {
            t.attribute(a).map_or(Ok(default), |v| {
                v.trim().parse().map_err(|_| {
                    Error::invalid_input(format!("attributes.{a} must be a whole number, not '{v}'"))
                })
            })
        };
        let max_body = number("maxRequestBodySize", DEFAULT_MAX_BODY)?;
        let worker_wait = match t.attribute("workerAvailabilityTimeout") {
            Some(v) => bindery_runtime::schedule::parse_duration(v).map_err(Error::invalid_input)?,
            None => DEFAULT_WORKER_WAIT,
        };
        let max_workers = t.max_workers.map_or(DEFAULT_WORKERS, |w| w as usize);
        let listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
            Error::new(
                crate::ErrorKind::Unavailable,
                format!("cannot listen on {addr}: {e}"),
            )
        })?;
        let local = listener
            .local_addr()
            .map_err(|e| Error::internal(e.to_string()))?;
        tracing::info!(trigger = %t.name, address = %local, max_workers, "HTTP trigger listening.");
        Ok(HttpTrigger {
            listener,
            state: Arc::new(State {
                trigger: t.name.clone(),
                workers: Semaphore::new(max_workers),
                max_workers,
                worker_wait,
                max_body,
            }),
        })
    }

    pub(super) async fn run(self, ctx: Context, handler: Arc<dyn Handler>, shutdown: Shutdown) -> Result<()> {
        let graceful = hyper_util::server::graceful::GracefulShutdown::new();
        let builder = hyper::server::conn::http1::Builder::new();
        loop {
            let (stream, _peer) = tokio::select! {
                accepted = self.listener.accept() => match accepted {
                    Ok(a) => a,
                    Err(e) => {
                        // Out of file descriptors and the like: wait a little, go on.
                        tracing::warn!(trigger = %self.state.trigger, error = %e, "Accept failed.");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
                _ = shutdown.wait() => break,
            };
            let _ = stream.set_nodelay(true);
            let (ctx, handler, state) = (ctx.clone(), handler.clone(), self.state.clone());
            let service = hyper::service::service_fn(move |req| {
                let (ctx, handler, state) = (ctx.clone(), handler.clone(), state.clone());
                async move { Ok::<_, Infallible>(serve(req, &ctx, handler.as_ref(), &state).await) }
            });
            let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
            tokio::spawn(async move {
                let _ = conn.await;
            });
        }
        drop(self.listener);
        tracing::info!(trigger = %self.state.trigger, open = graceful.count(), "HTTP trigger stopping; waiting for requests in flight.");
        if tokio::time::timeout(GRACE, graceful.shutdown()).await.is_err() {
            tracing::warn!(trigger = %self.state.trigger, "Requests still in flight after {GRACE:?}; closing them.");
        }
        Ok(())
    }
}

async fn serve(
    req: hyper::Request<Incoming>,
    ctx: &Context,
    handler: &dyn Handler,
    state: &State,
) -> hyper::Response<Full<Bytes>> {
    let permit = match tokio::time::timeout(state.worker_wait, state.workers.acquire()).await {
        Ok(Ok(p)) => p,
        _ => {
            let msg = format!(
                "all {} workers of trigger '{}' are busy; try again later\n",
                state.max_workers, state.trigger
            );
            return to_hyper(Response::new(msg).with_status(503));
        }
    };
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, state.max_body).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => {
            let too_large = e.downcast_ref::<http_body_util::LengthLimitError>().is_some();
            let r = if too_large {
                Response::new(format!(
                    "the request body is larger than {} bytes\n",
                    state.max_body
                ))
                .with_status(413)
            } else {
                Response::new(format!("cannot read the request body: {e}\n")).with_status(400)
            };
            return to_hyper(r);
        }
    };
    let (path, query) = split_query(parts.uri.path_and_query().map_or("/", |p| p.as_str()));
    let event = Event {
        id: event_id(),
        trigger: state.trigger.clone(),
        trigger_kind: "http".into(),
        method: parts.method.as_str().to_string(),
        path,
        query,
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), Bytes::copy_from_slice(v.as_bytes())))
            .collect(),
        body,
        timestamp: Some(SystemTime::now()),
        ..Event::default()
    };
    let response = call(handler, ctx, event).await;
    drop(permit);
    to_hyper(response)
}

fn to_hyper(r: Response) -> hyper::Response<Full<Bytes>> {
    let mut out = hyper::Response::new(Full::new(r.body));
    *out.status_mut() =
        hyper::StatusCode::from_u16(r.status).unwrap_or(hyper::StatusCode::INTERNAL_SERVER_ERROR);
    let headers = out.headers_mut();
    for (k, v) in r.headers {
        match (
            hyper::header::HeaderName::from_bytes(k.as_bytes()),
            hyper::header::HeaderValue::from_str(&v),
        ) {
            (Ok(k), Ok(v)) => {
                headers.append(k, v);
            }
            _ => tracing::warn!(header = %k, "Dropped a response header that is not valid HTTP."),
        }
    }
    out
}

/// `/a/b?x=1&y=2` as (`/a/b`, [(x, 1), (y, 2)]), percent-decoded.
pub(super) fn split_query(p: &str) -> (String, Vec<(String, String)>) {
    let (path, query) = p.split_once('?').unwrap_or((p, ""));
    let pairs = query
        .split('&')
        .filter(|s| !s.is_empty())
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            (decode(k, true), decode(v, true))
        })
        .collect();
    (decode(path, false), pairs)
}

fn decode(s: &str, plus_is_space: bool) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
        match b[i] {
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 3;
                    continue;
                }
                _ => out.push(b'%'),
            },
            b'+' if plus_is_space => out.push(b' '),
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_split_and_decode() {
        assert_eq!(split_query("/a%20b"), ("/a b".to_string(), vec![]));
        assert_eq!(
            split_query("/x?q=a+b&e=%3D&flag&bad=%4"),
            (
                "/x".to_string(),
                vec![
                    ("q".into(), "a b".into()),
                    ("e".into(), "=".into()),
                    ("flag".into(), "".into()),
                    ("bad".into(), "%4".into())
                ]
            )
        );
    }
}
