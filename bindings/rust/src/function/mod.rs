//! Functions: a handler `(ctx, event) -> response` called by the spec's triggers.
//!
//! A Rust function is a small binary whose `main` hands its handler to [`run`]:
//!
//! ```no_run
//! use bindery::function::{Event, Json};
//!
//! async fn handler(ctx: bindery::Context, event: Event) -> bindery::Result<Json<serde_json::Value>> {
//!     let key = event.path.trim_start_matches('/').to_string();
//!     let meta = ctx.object().put(format!("obj://{key}"), event.body.clone()).await?;
//!     tracing::info!(%key, gen = %meta.gen, "Stored.");
//!     Ok(Json(serde_json::json!({ "key": key, "gen": meta.gen })))
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     bindery::function::run(handler)
//! }
//! ```
//!
//! The binary takes the commands of `bindery run` and `bindery invoke`:
//! `my-fn run [function.yaml]` connects every binding, starts every trigger of the spec and
//! calls the handler per event until SIGINT or SIGTERM; `my-fn invoke [function.yaml] --body
//! TEXT | --body-file FILE [--method M] [--path P] [-H name=value]…` runs one event and prints
//! the response's body. `bindery run function.yaml` starts the binary the spec names
//! (`runtime: rust`, `handler:` a cargo package or the path of the executable).
//!
//! Triggers (`spec.triggers.<name>`, nuclio's shape):
//! - `http`: `attributes.port` (0: any free port), `attributes.host` (default 127.0.0.1;
//!   0.0.0.0 to listen on every interface), `attributes.maxRequestBodySize` (bytes, default
//!   32 MiB; larger bodies get 413), `maxWorkers` (requests handled at once, default 64;
//!   a request that finds every worker busy for `attributes.workerAvailabilityTimeout`,
//!   default 10s, gets 503). A handler error is a 500 whose body is the message.
//! - `stream`: `attributes.path` (the stream, `events://orders`), `attributes.group` (the
//!   consumer group, default the function's name), `attributes.from` (`earliest`, the default
//!   for a new group, or `latest`), `attributes.retries` (after a failure, default 3) and
//!   `attributes.backoff` (the first wait, default 100ms, doubling up to 30s),
//!   `attributes.deadLetter` (a stream that gets a message whose retries ran out, with headers
//!   `bindery-error` and `bindery-source`), `maxWorkers` (group members, default 1). A
//!   message is checkpointed only after the handler succeeded (or it went to the dead-letter
//!   stream); without a dead-letter stream a failing message is retried until it succeeds,
//!   holding up its consumer, so nothing is skipped.
//! - `cron`: `attributes.schedule` (cron fields, UTC) or `attributes.interval` (`10s`), and
//!   the event's `attributes.event.body` and `attributes.event.headers.<name>`.
//! - `watch`: `attributes.path` (an object prefix, `files://incoming/`, on a binding with the
//!   `watch` capability), `attributes.initial` (`true`: the objects there first, as
//!   `created` events, when no cursor is kept), `attributes.checkpoint` (an object that keeps
//!   the cursor after each handled change, `state://triggers/inbox`: a restart goes on
//!   after it), `attributes.retries`, `attributes.backoff` and `attributes.deadLetter` as for
//!   `stream` (the dead letter's value is the event's JSON body). One event per change, in
//!   order (see `watch.rs` for its shape).
//!
//! On SIGINT or SIGTERM the host stops taking events: HTTP stops accepting and lets requests
//! in flight finish (up to 30 s), stream consumers finish the message in hand and checkpoint
//! it, cron stops; then `run` returns.

mod consume;
mod cron;
mod event;
mod http;
mod watch;

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures::FutureExt;
use tracing::Instrument;

pub use bindery_runtime::schedule::rfc3339;
pub use event::{Event, IntoResponse, Json, Response};

use crate::{Context, Error, Result};

/// What a handler's failure may be: any error (`bindery::Error`, `std::io::Error`, `anyhow`…).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A boxed future of a handler's answer.
pub type HandlerFuture = Pin<Box<dyn Future<Output = std::result::Result<Response, BoxError>> + Send>>;

/// A function's handler: `async fn(ctx, event) -> Result<impl IntoResponse, impl Into<BoxError>>`
/// implements it.
pub trait Handler: Send + Sync + 'static {
    /// Handles one event.
    fn call(&self, ctx: Context, event: Event) -> HandlerFuture;
}

impl<F, Fut, R, E> Handler for F
where
    F: Fn(Context, Event) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = std::result::Result<R, E>> + Send + 'static,
    R: IntoResponse,
    E: Into<BoxError>,
{
    fn call(&self, ctx: Context, event: Event) -> HandlerFuture {
        let fut = self(ctx, event);
        Box::pin(async move { fut.await.map(IntoResponse::into_response).map_err(Into::into) })
    }
}

/// Calls the handler for one event inside a span naming the trigger and the event id; an
/// error or a panic becomes a 500 response with its message, never a crash of the host.
pub(crate) async fn call(handler: &dyn Handler, ctx: &Context, event: Event) -> Response {
    let span = tracing::info_span!("event", trigger = %event.trigger, event_id = %event.id);
    let fut = std::panic::AssertUnwindSafe(handler.call(ctx.clone(), event)).catch_unwind();
    match fut.instrument(span.clone()).await {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            let message = e.to_string();
            span.in_scope(|| tracing::error!(error = %message, "Handler failed."));
            Response::error(&message)
        }
        Err(panic) => {
            let message = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic".into());
            span.in_scope(|| tracing::error!(panic = %message, "Handler panicked."));
            Response::error(&format!("the handler panicked: {message}"))
        }
    }
}

/// What became of one stream message or watched change.
pub(crate) enum Outcome {
    /// The handler succeeded, or the item went to the dead-letter stream.
    Handled,
    /// The function is stopping; the item was not handled.
    Stopped,
}

/// How a trigger retries an item the handler failed: `attributes.retries` (failures before
/// the dead-letter stream, default 3), `attributes.backoff` (the first wait, default 100ms,
/// doubling up to 30 s), `attributes.deadLetter` (a stream, if any).
#[derive(Clone)]
pub(crate) struct Retries {
    pub(crate) retries: u32,
    pub(crate) backoff: Duration,
    pub(crate) dead_letter: Option<String>,
}

impl Retries {
    pub(crate) fn of(t: &bindery_runtime::TriggerSpec) -> Result<Retries> {
        let retries = match t.attribute("retries") {
            Some(r) => r
                .trim()
                .parse()
                .map_err(|_| Error::invalid_input(format!("retries must be a whole number, not '{r}'")))?,
            None => 3,
        };
        let backoff = match t.attribute("backoff") {
            Some(b) => bindery_runtime::schedule::parse_duration(b).map_err(Error::invalid_input)?,
            None => Duration::from_millis(100),
        };
        Ok(Retries {
            retries,
            backoff,
            dead_letter: t.attribute("deadLetter").map(str::to_string),
        })
    }
}

/// Which item of which trigger, for log lines.
pub(crate) struct Item<'a> {
    /// The trigger's name.
    pub(crate) trigger: &'a str,
    /// What the item is (`message`, `change`).
    pub(crate) what: &'static str,
    /// Where it came from (`ev://orders:0:17`).
    pub(crate) source: &'a str,
}

/// Calls the handler with `event()` until it answers below 400; after `retries` failures
/// the item goes to the dead-letter stream (`dead_letter(error)` builds its message) and
/// counts as handled; without a dead-letter stream (or when publishing there fails) it is
/// retried until it succeeds, so nothing is skipped.
pub(crate) async fn deliver(
    ctx: &Context,
    handler: &dyn Handler,
    shutdown: &Shutdown,
    policy: &Retries,
    item: Item<'_>,
    event: impl Fn() -> Event,
    dead_letter: impl Fn(&str) -> crate::Message,
) -> Outcome {
    const MAX_BACKOFF: Duration = Duration::from_secs(30);
    let Item {
        trigger,
        what,
        source,
    } = item;
    let mut failures = 0u32;
    let mut wait = policy.backoff;
    loop {
        let r = call(handler, ctx, event()).await;
        if r.status < 400 {
            return Outcome::Handled;
        }
        failures += 1;
        let error = String::from_utf8_lossy(&r.body).trim().to_string();
        if failures > policy.retries {
            if let Some(dl) = policy.dead_letter.as_deref() {
                match ctx.stream().publish(dl).messages([dead_letter(&error)]).await {
                    Ok(_) => {
                        tracing::warn!(trigger, item = %source, dead_letter = %dl, error = %error,
                            "The {what} failed {failures} times; sent to the dead-letter stream.");
                        return Outcome::Handled;
                    }
                    Err(e) => tracing::error!(trigger, item = %source, error = %e,
                        "Cannot publish to the dead-letter stream; retrying the {what}."),
                }
            } else {
                tracing::error!(trigger, item = %source, status = r.status, error = %error, failures,
                    "The {what} keeps failing and there is no dead-letter stream; retrying until it succeeds.");
            }
        } else {
            tracing::warn!(trigger, item = %source, status = r.status, error = %error, failures,
                "The {what} failed; retrying after {wait:?}.");
        }
        tokio::select! {
            _ = shutdown.wait() => return Outcome::Stopped,
            _ = tokio::time::sleep(wait) => {}
        }
        wait = (wait * 2).min(MAX_BACKOFF);
    }
}

/// A new event id: unique within the process and unlikely to repeat across processes.
pub(crate) fn event_id() -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    static START: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    let start = *START.get_or_init(|| {
        let t = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
        (t.as_nanos() as u64) ^ (u64::from(std::process::id()) << 40)
    });
    format!(
        "{:012x}-{:06}",
        start & 0xffff_ffff_ffff,
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A signal to stop: resolved once, seen by every trigger.
#[derive(Clone)]
pub struct Shutdown {
    rx: tokio::sync::watch::Receiver<bool>,
}

/// Fires a [`Shutdown`].
pub struct ShutdownTrigger {
    tx: tokio::sync::watch::Sender<bool>,
}

impl Shutdown {
    /// A shutdown and what fires it.
    pub fn new() -> (ShutdownTrigger, Shutdown) {
        let (tx, rx) = tokio::sync::watch::channel(false);
        (ShutdownTrigger { tx }, Shutdown { rx })
    }

    /// Resolves when the shutdown fires (at once if it has).
    pub async fn wait(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|stop| *stop).await;
    }

    /// Whether it has fired.
    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// A shutdown that fires on SIGINT or SIGTERM.
    pub fn on_signals() -> Shutdown {
        let (trigger, shutdown) = Shutdown::new();
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut int), Ok(mut term)) =
                (signal(SignalKind::interrupt()), signal(SignalKind::terminate()))
            else {
                tracing::error!("Cannot listen for SIGINT and SIGTERM.");
                return;
            };
            let name = tokio::select! {
                _ = int.recv() => "SIGINT",
                _ = term.recv() => "SIGTERM",
            };
            tracing::info!(
                signal = name,
                "Stopping: in-flight events finish, consumers checkpoint."
            );
            trigger.fire();
        });
        shutdown
    }
}

impl ShutdownTrigger {
    /// Fires the shutdown.
    pub fn fire(&self) {
        let _ = self.tx.send(true);
    }
}

/// Starts every trigger of the context's spec and calls `handler` per event until
/// `shutdown` fires; then stops them as the module docs say and returns. A trigger that
/// cannot start (a port in use, a stream that does not exist) is an error naming it.
pub async fn serve(ctx: Context, handler: Arc<dyn Handler>, shutdown: Shutdown) -> Result<()> {
    let spec = ctx.host().spec().clone();
    if spec.triggers.is_empty() {
        return Err(Error::invalid_input(format!(
            "{} has no triggers: add one under spec.triggers (kind http, stream, cron or watch), or use invoke",
            spec.file.display()
        )));
    }
    let mut tasks = tokio::task::JoinSet::new();
    for t in &spec.triggers {
        let (ctx, handler, shutdown, t) = (ctx.clone(), handler.clone(), shutdown.clone(), t.clone());
        let fail = {
            let name = t.name.clone();
            let file = spec.file.display().to_string();
            move |e: Error| {
                let message = format!("{file}: trigger '{name}': {}", e.message());
                Error::new(e.kind(), message)
            }
        };
        match t.kind.as_str() {
            "http" => {
                let server = http::HttpTrigger::bind(&t).await.map_err(&fail)?;
                tasks.spawn(async move { server.run(ctx, handler, shutdown).await.map_err(fail) });
            }
            "stream" => {
                let trigger = consume::StreamTrigger::new(&ctx, &t).map_err(&fail)?;
                trigger.check(&ctx).await.map_err(&fail)?;
                tasks.spawn(async move { trigger.run(ctx, handler, shutdown).await.map_err(fail) });
            }
            "watch" => {
                let trigger = watch::WatchTrigger::new(&t).map_err(&fail)?;
                tasks.spawn(async move { trigger.run(ctx, handler, shutdown).await.map_err(fail) });
            }
            "cron" => {
                let trigger = cron::CronTrigger::new(&t).map_err(&fail)?;
                tasks.spawn(async move { trigger.run(ctx, handler, shutdown).await.map_err(fail) });
            }
            other => {
                return Err(fail(Error::invalid_input(format!(
                    "unknown trigger kind '{other}'"
                ))))
            }
        }
    }
    tracing::info!(function = %spec.name, triggers = spec.triggers.len(), "Function started.");
    let mut first_error = None;
    while let Some(done) = tasks.join_next().await {
        let result = match done {
            Ok(r) => r,
            Err(e) if e.is_cancelled() => continue, // aborted after another trigger failed
            Err(e) => Err(Error::internal(format!("a trigger panicked: {e}"))),
        };
        if let Err(e) = result {
            tracing::error!(error = %e, "Trigger failed; stopping.");
            first_error.get_or_insert(e);
            // One trigger down stops the function: the others finish what they have.
            tasks.abort_all();
        }
    }
    match first_error {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Runs one event through the handler, as `invoke` does.
pub async fn invoke(ctx: &Context, handler: &dyn Handler, mut event: Event) -> Response {
    if event.id.is_empty() {
        event.id = event_id();
    }
    call(handler, ctx, event).await
}

/// The entry point of a function binary: parses its command line (`run [SPEC]`, or
/// `invoke [SPEC] --body …`, as the module docs say), sets up logging (`BINDERY_LOG`, a
/// tracing filter; default `info`), connects the bindings and runs. The default spec is
/// `function.yaml` in the current folder, or `BINDERY_SPEC`.
pub fn run<H: Handler>(handler: H) -> ExitCode {
    Function::new(handler).main()
}

type Init = Box<dyn FnOnce(Context) -> Pin<Box<dyn Future<Output = Result<()>> + Send>> + Send>;

/// A handler with an optional start-up step (creating tables, say), run once after the
/// bindings connect and before the first event.
pub struct Function {
    handler: Arc<dyn Handler>,
    init: Option<Init>,
}

impl Function {
    /// A function of this handler.
    pub fn new<H: Handler>(handler: H) -> Function {
        Function {
            handler: Arc::new(handler),
            init: None,
        }
    }

    /// Runs `init` once, after the bindings connect and before any event; its error stops
    /// start-up.
    #[must_use]
    pub fn init<F, Fut>(mut self, init: F) -> Function
    where
        F: FnOnce(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<()>> + Send + 'static,
    {
        self.init = Some(Box::new(move |ctx| Box::pin(init(ctx))));
        self
    }

    /// A function of a shared handler (one an embedding runtime made, such as Python's).
    pub fn from_handler(handler: Arc<dyn Handler>) -> Function {
        Function { handler, init: None }
    }

    /// The entry point: see [`run`].
    pub fn main(self) -> ExitCode {
        self.main_with_args(std::env::args().skip(1))
    }

    /// The entry point with the command line given (`run [SPEC]`, `invoke [SPEC] --body …`),
    /// for runtimes that embed the host (the Python SDK's `python -m bindery`).
    pub fn main_with_args(self, args: impl IntoIterator<Item = String>) -> ExitCode {
        init_logging();
        let command = match Command::parse(args.into_iter()) {
            Ok(c) => c,
            Err(e) => {
                eprintln!("error: {e}\n\n{USAGE}");
                return ExitCode::from(2);
            }
        };
        let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt,
            Err(e) => {
                eprintln!("error: cannot start the runtime: {e}");
                return ExitCode::FAILURE;
            }
        };
        let result = runtime.block_on(self.execute(command));
        // Consumers and connections still open are dropped with the runtime.
        runtime.shutdown_timeout(Duration::from_secs(5));
        match result {
            Ok(code) => code,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        }
    }

    async fn execute(self, command: Command) -> Result<ExitCode> {
        let spec = command.spec();
        let ctx = Context::connect(&spec).await?;
        if let Some(init) = self.init {
            init(ctx.clone()).await?;
        }
        match command {
            Command::Run { .. } => {
                ctx.reload_on_hangup();
                serve(ctx, self.handler, Shutdown::on_signals()).await?;
                Ok(ExitCode::SUCCESS)
            }
            Command::Invoke { event, .. } => {
                let response = invoke(&ctx, self.handler.as_ref(), *event).await;
                print_response(&response)
            }
        }
    }
}

fn print_response(response: &Response) -> Result<ExitCode> {
    use std::io::Write;
    if !(200..300).contains(&response.status) {
        eprintln!("status {}", response.status);
    }
    let mut out = std::io::stdout().lock();
    out.write_all(&response.body)
        .and_then(|()| {
            if response.body.ends_with(b"\n") {
                Ok(())
            } else {
                out.write_all(b"\n")
            }
        })
        .and_then(|()| out.flush())
        .map_err(|e| Error::internal(format!("cannot write the response: {e}")))?;
    Ok(if response.status >= 400 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("BINDERY_LOG").unwrap_or_else(|_| "info".into());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .try_init();
}

/// The spec a function's command line names (`run [SPEC]`, `invoke [SPEC] …`; default
/// `$BINDERY_SPEC`, else `function.yaml`), for runtimes that must read the spec before
/// [`Function::main_with_args`] runs (Python's, to import its handler).
pub fn spec_in_args(args: &[String]) -> std::result::Result<PathBuf, String> {
    Command::parse(args.iter().cloned()).map(|c| c.spec())
}

const USAGE: &str = "usage: FUNCTION run [SPEC]
       FUNCTION invoke [SPEC] (--body TEXT | --body-file FILE) [--method M] [--path P] [-H name=value]...
SPEC defaults to $BINDERY_SPEC, else function.yaml";

#[derive(Debug)]
enum Command {
    Run { spec: PathBuf },
    Invoke { spec: PathBuf, event: Box<Event> },
}

impl Command {
    fn spec(&self) -> PathBuf {
        match self {
            Command::Run { spec } | Command::Invoke { spec, .. } => spec.clone(),
        }
    }

    fn parse(args: impl Iterator<Item = String>) -> std::result::Result<Command, String> {
        let mut args = args.peekable();
        let verb = args.next().unwrap_or_else(|| "run".into());
        let default_spec =
            || PathBuf::from(std::env::var("BINDERY_SPEC").unwrap_or_else(|_| "function.yaml".into()));
        let mut spec = None;
        let mut event = Event {
            trigger: "invoke".into(),
            trigger_kind: "invoke".into(),
            method: "POST".into(),
            path: "/".into(),
            timestamp: Some(SystemTime::now()),
            ..Event::default()
        };
        let mut body = None;
        while let Some(a) = args.next() {
            let mut value = |name: &str| args.next().ok_or_else(|| format!("{name} needs a value"));
            match a.as_str() {
                "--body" if verb == "invoke" => body = Some(Bytes::from(value("--body")?)),
                "--body-file" if verb == "invoke" => {
                    let f = value("--body-file")?;
                    body = Some(Bytes::from(
                        std::fs::read(&f).map_err(|e| format!("cannot read {f}: {e}"))?,
                    ));
                }
                "--method" if verb == "invoke" => event.method = value("--method")?.to_ascii_uppercase(),
                "--path" if verb == "invoke" => {
                    let p = value("--path")?;
                    let (path, query) = http::split_query(&p);
                    event.path = path;
                    event.query = query;
                }
                "-H" | "--header" if verb == "invoke" => {
                    let h = value("-H")?;
                    let (k, v) = h
                        .split_once('=')
                        .or_else(|| h.split_once(':'))
                        .ok_or_else(|| format!("header '{h}' is not name=value"))?;
                    event
                        .headers
                        .push((k.trim().to_string(), Bytes::from(v.trim().to_string())));
                }
                s if !s.starts_with('-') && spec.is_none() => spec = Some(PathBuf::from(s)),
                s => return Err(format!("unexpected argument '{s}'")),
            }
        }
        let spec = spec.unwrap_or_else(default_spec);
        match verb.as_str() {
            "run" => Ok(Command::Run { spec }),
            "invoke" => {
                event.body = body.ok_or("invoke needs --body TEXT or --body-file FILE")?;
                Ok(Command::Invoke {
                    spec,
                    event: Box::new(event),
                })
            }
            other => Err(format!("unknown command '{other}'; commands: run, invoke")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> std::result::Result<Command, String> {
        Command::parse(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn command_lines() {
        assert!(matches!(parse(&[]), Ok(Command::Run { .. })));
        let Ok(Command::Invoke { spec, event }) = parse(&[
            "invoke",
            "f.yaml",
            "--body",
            "hi",
            "--method",
            "put",
            "--path",
            "/a/b?x=1&y=%20z",
            "-H",
            "k=v",
        ]) else {
            panic!("not an invoke")
        };
        assert_eq!(spec, PathBuf::from("f.yaml"));
        assert_eq!((event.method.as_str(), event.path.as_str()), ("PUT", "/a/b"));
        assert_eq!(
            event.query,
            vec![("x".into(), "1".into()), ("y".into(), " z".into())]
        );
        assert_eq!((event.header("K"), &event.body[..]), (Some("v"), &b"hi"[..]));
        assert!(parse(&["invoke"]).unwrap_err().contains("--body"));
        assert!(parse(&["serve"]).unwrap_err().contains("unknown command 'serve'"));
        assert!(parse(&["run", "a", "b"])
            .unwrap_err()
            .contains("unexpected argument 'b'"));
    }

    #[test]
    fn event_ids_differ() {
        assert_ne!(event_id(), event_id());
    }
}
