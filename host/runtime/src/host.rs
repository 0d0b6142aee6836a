//! The host: connects every binding of a spec and dispatches requests to it.
//!
//! Each binding runs on its own tokio task, reading [`Envelope`]s from a bounded flume
//! channel; every request then runs on a task of its own, so a slow request does not hold up
//! the next (for a driver that says it answers in place, a request answered at once is
//! answered on the binding's task, and only one that waits gets a task of its own). A
//! request's frames go back on the request's own bounded channel, whose capacity is the
//! binding's prefetch window: the driver runs ahead of the caller by at most that many
//! frames, and a caller that drops its receiver stops the driver's work.
//!
//! Every request passes the binding's layers (`crate::layers`): refusal of what the
//! capability lacks (at dispatch), the binding's processors, what the host fills in for the
//! driver, retry of retryable errors, a timeout per attempt, then the driver.

use std::sync::Arc;
use std::task::Poll;

use bindery_core::{BindingConfig, Capability, DataRequest, Error, ErrorKind, Kind, ResponseMessage, Result};
use futures::{FutureExt, StreamExt};
use tracing::Instrument;

use crate::registry::Registry;
use crate::spec::{BindingSpec, Spec};

/// Requests waiting for a binding's task before senders wait (each on a task of its own, so a
/// caller is never blocked): deep enough that a wait group of ten thousand requests sent in
/// one go fits, since a request that waits for room costs a task spawn.
const BINDING_QUEUE: usize = 16 * 1024;

/// A request on its way to a binding, with the channel its frames go back on.
pub struct Envelope {
    /// The request.
    pub request: DataRequest,
    /// Where the frames go.
    pub reply: flume::Sender<Result<ResponseMessage>>,
    /// Resolves when the caller drops its [`Reply`]: the request is abandoned.
    pub cancelled: tokio::sync::oneshot::Receiver<()>,
    /// The caller's span (a handler's `event{trigger, event_id}`): the request's own span,
    /// `request{binding, op, request}`, is its child, so a driver's log lines name the event.
    pub span: tracing::Span,
}

/// The caller's end of a request: the frames (it derefs to their receiver), and, by being
/// dropped, the request's cancellation.
pub struct Reply {
    frames: flume::Receiver<Result<ResponseMessage>>,
    _cancel: tokio::sync::oneshot::Sender<()>,
}

impl Reply {
    /// Abandons the request and returns the frames' receiver; it disconnects once the
    /// binding's task has dropped the driver's side of the request.
    pub fn cancel(self) -> flume::Receiver<Result<ResponseMessage>> {
        self.frames
    }
}

impl std::ops::Deref for Reply {
    type Target = flume::Receiver<Result<ResponseMessage>>;
    fn deref(&self) -> &Self::Target {
        &self.frames
    }
}

/// A connected binding.
pub struct Binding {
    spec: BindingSpec,
    driver: String,
    capability: Capability,
    tx: flume::Sender<Envelope>,
    runtime: tokio::runtime::Handle,
    processors: Arc<arc_swap::ArcSwap<crate::processors::Pipeline>>,
}

impl Binding {
    /// The binding's name.
    pub fn name(&self) -> &str {
        &self.spec.name
    }
    /// Its kind.
    pub fn kind(&self) -> Kind {
        self.spec.kind
    }
    /// The driver's name.
    pub fn driver(&self) -> &str {
        &self.driver
    }
    /// What it can do.
    pub fn capability(&self) -> Capability {
        self.capability
    }
    /// Its spec.
    pub fn spec(&self) -> &BindingSpec {
        &self.spec
    }
    /// Its processors as they are now (the spec's, or those of the spec read again since:
    /// [`Host::reload_processors`]).
    pub fn processors(&self) -> Arc<crate::processors::Pipeline> {
        self.processors.load_full()
    }

    /// Decorates an error with this binding's context.
    pub fn context(&self, e: Error, op: &str, path: &str) -> Error {
        e.with_binding(&self.spec.name)
            .with_driver(&self.driver)
            .with_operation(op)
            .with_path(path)
    }

    /// Checks a request against the capability, then wraps it for the binding's channel.
    /// Returns the envelope to send and the receiver of its frames.
    pub fn prepare(&self, request: DataRequest) -> Result<(Envelope, Reply)> {
        if let Err(e) = crate::layers::refuse(&request, &self.capability, &self.spec.name, &self.driver) {
            return Err(self.context(e, request.command().as_str(), &request.path));
        }
        let (reply, frames) = flume::bounded(self.spec.prefetch);
        let (cancel, cancelled) = tokio::sync::oneshot::channel();
        let envelope = Envelope {
            request,
            reply,
            cancelled,
            span: tracing::Span::current(),
        };
        Ok((
            envelope,
            Reply {
                frames,
                _cancel: cancel,
            },
        ))
    }

    /// Sends a prepared envelope to the binding's task without blocking the caller: when the
    /// binding's queue is full, a task waits for room (the caller still waits for its frames).
    pub fn dispatch(&self, envelope: Envelope) -> Result<()> {
        match self.tx.try_send(envelope) {
            Ok(()) => Ok(()),
            Err(flume::TrySendError::Full(env)) => {
                let tx = self.tx.clone();
                self.runtime.spawn(async move {
                    if let Err(flume::SendError(env)) = tx.send_async(env).await {
                        let _ = env
                            .reply
                            .try_send(Err(Error::new(ErrorKind::Cancelled, "the host has stopped")));
                    }
                });
                Ok(())
            }
            Err(flume::TrySendError::Disconnected(_)) => Err(self.stopped()),
        }
    }

    fn stopped(&self) -> Error {
        Error::new(ErrorKind::Cancelled, "the host has stopped").with_binding(&self.spec.name)
    }
}

/// A running host: every binding of a spec, connected.
pub struct Host {
    spec: Spec,
    bindings: Vec<Arc<Binding>>,
}

impl Host {
    /// Connects every binding of the spec and starts its task. Must run inside a tokio
    /// runtime. A binding that cannot connect stops start-up with an error naming it.
    pub async fn start(spec: Spec, registry: &Registry) -> Result<Host> {
        let mut bindings = Vec::with_capacity(spec.bindings.len());
        for b in &spec.bindings {
            bindings.push(Arc::new(connect(&spec, b, registry).await?));
        }
        Ok(Host { spec, bindings })
    }

    /// The spec the host runs.
    pub fn spec(&self) -> &Spec {
        &self.spec
    }

    /// The connected bindings, in spec order.
    pub fn bindings(&self) -> &[Arc<Binding>] {
        &self.bindings
    }

    /// Takes the processors of `spec` (the host's spec read again): each binding's pipeline is
    /// swapped whole, for the requests that begin after (a request under way keeps the one it
    /// began with). Nothing else of the spec changes a running host: a binding `spec` lacks or
    /// adds is named in the answer, as are bindings whose pipeline changed.
    pub fn reload_processors(&self, spec: &Spec) -> Reloaded {
        let mut out = Reloaded::default();
        for b in &self.bindings {
            match spec.bindings.iter().find(|n| n.name == b.name()) {
                Some(n) => {
                    b.processors.store(Arc::new(n.processors.clone()));
                    out.reloaded.push(b.name().to_string());
                }
                None => out.missing.push(b.name().to_string()),
            }
        }
        out.added = spec
            .bindings
            .iter()
            .filter(|n| !self.bindings.iter().any(|b| b.name() == n.name))
            .map(|n| n.name.clone())
            .collect();
        out
    }

    /// The binding a command path names (`name://…`), or the first binding; checks the kind.
    /// Returns the binding and the effective path.
    pub fn resolve(&self, kind: Kind, command_path: &str, prefix: bool) -> Result<(Arc<Binding>, String)> {
        let (name, rest) = bindery_core::path::split_binding(command_path);
        let binding = match name {
            Some(n) => self.bindings.iter().find(|b| b.name() == n).ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!(
                        "no binding named '{n}' in {}; bindings: {}",
                        self.spec.file.display(),
                        self.bindings
                            .iter()
                            .map(|b| b.name())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
            })?,
            None => self.bindings.first().ok_or_else(|| {
                Error::new(
                    ErrorKind::NotFound,
                    format!("{} declares no data bindings", self.spec.file.display()),
                )
            })?,
        };
        if binding.kind() != kind {
            return Err(Error::invalid_input(format!(
                "binding '{}' is a {} binding, not {kind}",
                binding.name(),
                binding.kind()
            )));
        }
        let spec_path = &binding.spec.path;
        let path = match kind {
            Kind::Object | Kind::Generic => bindery_core::path::join_prefix(spec_path, rest, prefix),
            _ => bindery_core::path::join_named(spec_path, rest),
        }
        .map_err(|e| e.with_binding(binding.name()))?;
        Ok((binding.clone(), path))
    }
}

/// What [`Host::reload_processors`] did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Reloaded {
    /// Bindings whose pipeline was taken from the new spec.
    pub reloaded: Vec<String>,
    /// Bindings of the host the new spec lacks (their pipelines are kept).
    pub missing: Vec<String>,
    /// Bindings of the new spec the host does not have (a restart starts them).
    pub added: Vec<String>,
}

async fn connect(spec: &Spec, b: &BindingSpec, registry: &Registry) -> Result<Binding> {
    let fail = |e: Error| {
        Error::new(
            e.kind(),
            format!(
                "{}:{}:{}: binding '{}' (driver '{}') failed to start: {}",
                spec.file.display(),
                b.loc.line,
                b.loc.col,
                b.name,
                b.driver,
                e.message()
            ),
        )
        .with_binding(&b.name)
        .with_driver(&b.driver)
        .set_retryable(e.is_retryable())
    };
    let factory = match &b.plugin {
        Some(path) => registry.load_plugin(path).map_err(fail)?,
        None => registry
            .builtin_named(&b.driver)
            .ok_or_else(|| fail(Error::not_found(format!("no built-in driver '{}'", b.driver))))?,
    };
    let info = factory.info();
    if !info.kinds.contains(&b.kind) {
        return Err(fail(Error::invalid_input(format!(
            "the driver does not serve kind '{}'",
            b.kind
        ))));
    }
    let config = BindingConfig {
        name: b.name.clone(),
        kind: b.kind,
        url: b.url.clone(),
        options: b.options.clone(),
        secrets: b.resolve_secrets(&spec.file).map_err(Error::from)?,
        base_dir: spec.base_dir.clone(),
    };
    let service = tokio::time::timeout(b.timeout, factory.connect(config))
        .await
        .map_err(|_| {
            fail(Error::new(
                ErrorKind::Timeout,
                format!("no answer within {:?}", b.timeout),
            ))
        })?
        .map_err(fail)?;
    let (tx, rx) = flume::bounded::<Envelope>(BINDING_QUEUE);
    let processors = Arc::new(arc_swap::ArcSwap::from_pointee(b.processors.clone()));
    let binding = Binding {
        processors: processors.clone(),
        spec: b.clone(),
        driver: info.name.clone(),
        capability: service.capability(),
        tx,
        runtime: tokio::runtime::Handle::current(),
    };
    let settings = Arc::new(Settings {
        binding: b.name.clone(),
        driver: info.name,
    });
    tracing::info!(binding = %b.name, driver = %settings.driver, "Binding connected.");
    let in_place = service.answers_in_place();
    let stack = Arc::new(crate::layers::stack(
        service, &b.name, b.timeout, b.retries, processors,
    ));
    tokio::spawn(run_binding(rx, stack, in_place, settings));
    Ok(binding)
}

struct Settings {
    binding: String,
    driver: String,
}

async fn run_binding(
    rx: flume::Receiver<Envelope>,
    stack: Arc<crate::layers::Stack>,
    in_place: bool,
    settings: Arc<Settings>,
) {
    let mut id = 0u64;
    while let Ok(envelope) = rx.recv_async().await {
        id += 1;
        let span = tracing::info_span!(
            parent: &envelope.span,
            "request",
            binding = %settings.binding,
            op = envelope.request.command().as_str(),
            request = id
        );
        let request = handle(stack.clone(), envelope, settings.clone()).instrument(span);
        if !in_place {
            tokio::spawn(request);
            continue;
        }
        // A request the driver answers at once (an in-memory get, say) runs to its end in this
        // first poll, on this task, without a task of its own; one that waits (for a blocking
        // thread or room in its reply channel) goes on on a task of its own. A driver that
        // panics loses its request (the caller's frames end with an error), not the binding.
        let mut request = Box::pin(std::panic::AssertUnwindSafe(request).catch_unwind());
        match futures::poll!(&mut request) {
            Poll::Pending => {
                let settings = settings.clone();
                tokio::spawn(async move {
                    if request.await.is_err() {
                        panicked(&settings);
                    }
                });
            }
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(_)) => panicked(&settings),
        }
    }
}

fn panicked(settings: &Settings) {
    tracing::error!(binding = %settings.binding, driver = %settings.driver, "The driver panicked while answering a request; the request failed.");
}

async fn handle(stack: Arc<crate::layers::Stack>, envelope: Envelope, settings: Arc<Settings>) {
    let Envelope {
        request,
        reply,
        mut cancelled,
        ..
    } = envelope;
    let command = request.command();
    let path = request.path.clone();
    let decorate = |e: Error| {
        e.with_binding(&settings.binding)
            .with_driver(&settings.driver)
            .with_operation(command.as_str())
            .with_path(&path)
    };
    let called = tokio::select! {
        biased;
        called = crate::layers::Layer::call(stack.as_ref(), request) => called,
        _ = &mut cancelled => return,
    };
    let mut frames = match called {
        Ok(f) => f,
        Err(e) => {
            let _ = reply.send_async(Err(decorate(e))).await;
            return;
        }
    };
    // Frames stop as soon as the caller drops its end (a closed consumer releases its
    // shards at once, an abandoned read stops reading).
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut cancelled => None,
            frame = frames.next() => frame,
        };
        let Some(frame) = next else { break };
        let frame = match frame {
            Ok(mut f) => {
                f.behind = reply.len() as u32;
                Ok(f)
            }
            Err(e) => Err(decorate(e)),
        };
        let end = frame.as_ref().map_or(true, |f| f.is_last);
        let sent = tokio::select! {
            biased;
            _ = &mut cancelled => false,
            sent = reply.send_async(frame) => sent.is_ok(),
        };
        if !sent || end {
            break; // the caller is gone, or the response is complete
        }
    }
    // `frames` (the driver's side) is dropped before `reply`: a caller waiting for the reply
    // channel to close knows the driver has let go of the request.
    drop(frames);
    drop(reply);
}
