//! `bindery`: the command line of the bindery host.
//!
//! - `bindery validate FILE` checks a function spec; errors say `file:line:column`.
//! - `bindery plugins [--json] [--load LIB]…` lists the drivers with kinds, capabilities and
//!   the options a binding of each may set.
//! - `bindery object --spec FILE get|put|head|ls|rm|watch PATH [LOCAL|-]` works on any object
//!   binding, streaming large objects with bounded memory.
//! - `bindery stream --spec FILE publish|consume|create|update|delete|shards PATH` works on
//!   any stream binding; `consume --follow` tails a stream like `kcat -C`.
//! - `bindery table --spec FILE read|write|create|drop|alter|schema|watch PATH` works on any table
//!   binding: an aligned table on a terminal, or `--format csv|json|arrow` for pipes.
//! - `bindery serve FILE [--listen ADDR]` serves the spec's bindings over HTTP (REST and
//!   Server-Sent Events, scoped tokens, OpenAPI at `/v1/openapi.json`).
//! - `bindery run FILE` runs the spec's function (its triggers call the handler per event);
//!   `bindery invoke FILE --body …` runs one event and prints the response.

mod function;
mod object;
mod stream;
mod table;
mod version;
mod watch;

use std::path::PathBuf;
use std::process::ExitCode;

use bindery_core::{Capability, DriverInfo};
use bindery_runtime::{Registry, Spec};
use clap::{Parser, Subcommand};

/// The bindery data-binding host.
#[derive(Parser)]
#[command(name = "bindery", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Checks a function spec (exit 0 when valid; otherwise the located error, exit 1).
    Validate {
        /// The spec (function.yaml).
        file: PathBuf,
        /// Also list the keys bindery accepts and ignores (nuclio's `build`, `minReplicas`, …).
        #[arg(short, long)]
        verbose: bool,
    },
    /// Lists the drivers: built in, and plugin libraries given with --load.
    Plugins {
        /// Print JSON instead of a table.
        #[arg(long)]
        json: bool,
        /// A plugin library to load and describe (repeatable).
        #[arg(long = "load", value_name = "LIB")]
        load: Vec<PathBuf>,
        /// Also connect the bindings of this spec and show what each can do against its
        /// backend (a server may enforce less than its driver can do, e.g. conditional writes).
        #[arg(long, value_name = "FILE")]
        spec: Option<PathBuf>,
    },
    /// Object requests on an object binding of a spec.
    Object(object::ObjectArgs),
    /// Stream requests on a stream binding of a spec.
    Stream(stream::StreamArgs),
    /// Table requests on a table binding of a spec.
    Table(table::TableArgs),
    /// Runs the spec's function: connects its bindings, starts its triggers, calls the
    /// handler per event until SIGINT or SIGTERM.
    Run {
        /// The spec (function.yaml).
        #[arg(default_value = "function.yaml")]
        file: PathBuf,
        /// Build a cargo-package handler in release mode.
        #[arg(long)]
        release: bool,
    },
    /// Serves the spec's bindings over HTTP (objects, tables, streams, watches and calls; its
    /// `gateway` section says who may do what), until SIGINT or SIGTERM.
    Serve {
        /// The spec (function.yaml).
        #[arg(default_value = "function.yaml")]
        file: PathBuf,
        /// The address to listen on (default: the spec's `gateway.listen`, else 127.0.0.1:8080).
        #[arg(long, value_name = "IP:PORT")]
        listen: Option<String>,
    },
    /// Runs one event through the spec's function and prints the response's body (exit 1
    /// when its status is 400 or more).
    Invoke {
        /// The spec (function.yaml).
        #[arg(default_value = "function.yaml")]
        file: PathBuf,
        /// Build a cargo-package handler in release mode.
        #[arg(long)]
        release: bool,
        #[command(flatten)]
        event: function::InvokeArgs,
    },
}

/// `--spec FILE`: the function spec whose bindings a command uses.
#[derive(clap::Args)]
struct SpecArg {
    /// The function spec whose bindings to use.
    #[arg(long, value_name = "FILE", default_value = "function.yaml")]
    spec: PathBuf,
}

impl SpecArg {
    /// Connects the spec's bindings.
    fn open(&self) -> Result<bindery::Context, String> {
        bindery::Context::open(&self.spec).map_err(|e| e.to_string())
    }
}

fn main() -> ExitCode {
    // Like other command-line tools, end quietly when the reader of the output goes away
    // (`bindery plugins | head -c1`) instead of panicking on the failed write. `exec`
    // restores Rust's default (ignored) before it starts a function.
    // SAFETY: setting a signal's disposition to its default before any thread starts.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    let filter = tracing_subscriber::EnvFilter::try_from_env("BINDERY_LOG").unwrap_or_else(|_| "warn".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { file, verbose } => validate(&file, verbose),
        Command::Plugins { json, load, spec } => plugins(json, &load, spec.as_deref()),
        Command::Object(args) => object::run(args),
        Command::Stream(args) => stream::run(args),
        Command::Table(args) => table::run(args),
        Command::Run { file, release } => function::exec(&file, release, "run", None),
        Command::Serve { file, listen } => serve(&file, listen.as_deref()),
        Command::Invoke { file, release, event } => function::exec(&file, release, "invoke", Some(&event)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// `bindery serve`: connects the bindings, serves them until SIGINT or SIGTERM, then lets the
/// requests in flight finish; SIGHUP re-reads the bindings' processors.
fn serve(file: &std::path::Path, listen: Option<&str>) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))?;
    runtime.block_on(async {
        let ctx = bindery::Context::connect(file).await.map_err(|e| e.to_string())?;
        ctx.reload_on_hangup();
        let count = ctx.host().spec().bindings.len();
        let (router, settings) = bindery_gateway::build(ctx, listen)?;
        let shutdown = async {
            let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).ok();
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = async { match term.as_mut() { Some(t) => { t.recv().await; } None => std::future::pending().await } } => {}
            }
            eprintln!("bindery: stopping (the requests in flight finish first)");
        };
        let scheme = if settings.tls.is_some() { "https" } else { "http" };
        bindery_gateway::serve(router, settings, shutdown, |addr| {
            eprintln!("bindery: serving {count} binding(s) on {scheme}://{addr} (OpenAPI: {scheme}://{addr}/v1/openapi.json)");
        })
        .await
    })
}

fn validate(file: &PathBuf, verbose: bool) -> Result<(), String> {
    let registry = Registry::builtin();
    let spec = Spec::load(file, &registry.infos()).map_err(|e| e.to_string())?;
    for b in &spec.bindings {
        b.check_secret_files(file).map_err(|e| e.to_string())?;
    }
    let bindings: Vec<String> = spec
        .bindings
        .iter()
        .map(|b| format!("{} ({} via {})", b.name, b.kind, b.driver))
        .collect();
    println!(
        "{}: valid; function '{}', {} binding(s){}{}",
        file.display(),
        spec.name,
        bindings.len(),
        if bindings.is_empty() { "" } else { ": " },
        bindings.join(", ")
    );
    if verbose {
        for (loc, key) in &spec.ignored {
            println!("{}:{}:{}: ignored: {key}", file.display(), loc.line, loc.col);
        }
        if let Some(r) = spec.runtime.as_deref() {
            if !(r == "rust" || r == "python" || r.starts_with("python:")) {
                println!("{}: runtime '{r}' is not one bindery runs (rust, python, python:3.x): `bindery run` will refuse it", file.display());
            }
        }
    }
    Ok(())
}

fn capability_json(c: &Capability) -> serde_json::Value {
    let limits: serde_json::Map<String, serde_json::Value> = c
        .limits()
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.into()))
        .collect();
    serde_json::json!({ "flags": c.flags(), "limits": limits })
}

fn plugins(json: bool, load: &[PathBuf], spec: Option<&std::path::Path>) -> Result<(), String> {
    let registry = Registry::builtin();
    let mut rows: Vec<(String, DriverInfo)> = registry
        .infos()
        .into_iter()
        .map(|i| ("built-in".to_string(), i))
        .collect();
    for lib in load {
        let factory = registry.load_plugin(lib).map_err(|e| e.to_string())?;
        rows.push((lib.display().to_string(), factory.info()));
    }
    let connected = match spec {
        Some(file) => {
            let ctx = bindery::Context::open(file).map_err(|e| e.to_string())?;
            let infos = registry.infos();
            ctx.host()
                .bindings()
                .iter()
                .map(|b| {
                    let full = infos
                        .iter()
                        .find(|i| i.name == b.driver())
                        .map_or_else(Capability::default, |i| i.capability);
                    (b.name().to_string(), b.driver().to_string(), b.capability(), full)
                })
                .collect()
        }
        None => Vec::new(),
    };
    if json {
        let bindings: Vec<serde_json::Value> = connected
            .iter()
            .map(|(name, driver, cap, _)| {
                serde_json::json!({ "binding": name, "driver": driver, "capabilities": capability_json(cap) })
            })
            .collect();
        let out: Vec<serde_json::Value> = rows
            .iter()
            .map(|(source, i)| {
                serde_json::json!({
                    "name": i.name,
                    "source": source,
                    "version": i.version,
                    "description": i.description,
                    "kinds": i.kinds.iter().map(|k| k.as_str()).collect::<Vec<_>>(),
                    "capabilities": capability_json(&i.capability),
                    "options": i.options.iter().map(|o| serde_json::json!({ "key": o.key, "help": o.help })).collect::<Vec<_>>(),
                })
            })
            .collect();
        let out = match spec {
            Some(_) => serde_json::json!({ "drivers": out, "bindings": bindings }),
            None => serde_json::Value::Array(out),
        };
        println!(
            "{}",
            serde_json::to_string_pretty(&out).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    for (source, i) in rows {
        let kinds: Vec<_> = i.kinds.iter().map(|k| k.as_str()).collect();
        println!("{} {} [{}] ({source})", i.name, i.version, kinds.join(", "));
        println!("  {}", i.description);
        println!("  capabilities: {}", i.capability.flags().join(", "));
        for (name, v) in i.capability.limits() {
            println!("  {name}: {v}");
        }
        if i.options.is_empty() {
            println!("  options: none");
        } else {
            println!("  options:");
            let width = i.options.iter().map(|o| o.key.len()).max().unwrap_or(0);
            for o in &i.options {
                println!("    {:width$}  {}", o.key, o.help);
            }
        }
    }
    for (name, driver, cap, full) in connected {
        println!("binding {name} ({driver}), connected");
        println!("  capabilities: {}", cap.flags().join(", "));
        let lacks: Vec<_> = full.flags().into_iter().filter(|f| !cap.has(f)).collect();
        if !lacks.is_empty() {
            println!("  not on this backend: {}", lacks.join(", "));
        }
    }
    Ok(())
}
