//! `bindery run` and `bindery invoke`: start the function a spec names.
//!
//! `runtime: rust` functions are binaries built with the `bindery` crate
//! (`bindery::function::run(handler)`), which hold the host and the triggers themselves;
//! these commands check the spec, then replace this process with the function's
//! (`exec`), so signals reach it directly. `handler:` is either the path of the executable
//! (it has a `/`; relative to the spec's folder) or the name of a cargo package, started with
//! `cargo run --quiet --package NAME` from the spec's folder (`--release` adds `--release`).
//! `runtime: python` functions run as `python3 -m bindery run SPEC` (the Python on PATH, or
//! `BINDERY_PYTHON`), which imports `handler: module:function` from the spec's folder.

use std::ffi::OsString;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use bindery_runtime::{Registry, Spec};

/// The arguments of `invoke`, passed on to the function.
#[derive(clap::Args)]
pub struct InvokeArgs {
    /// The event's body.
    #[arg(long, conflicts_with = "body_file", required_unless_present = "body_file")]
    body: Option<String>,
    /// A file holding the event's body.
    #[arg(long, value_name = "FILE")]
    body_file: Option<PathBuf>,
    /// The event's method.
    #[arg(long, default_value = "POST")]
    method: String,
    /// The event's path, with an optional query (`/uploads/a.csv?mode=x`).
    #[arg(long, default_value = "/")]
    path: String,
    /// A header, `name=value` (repeatable).
    #[arg(short = 'H', long = "header", value_name = "NAME=VALUE")]
    headers: Vec<String>,
}

impl InvokeArgs {
    fn args(&self) -> Vec<OsString> {
        let mut a: Vec<OsString> = Vec::new();
        if let Some(b) = &self.body {
            a.extend(["--body".into(), b.into()]);
        }
        if let Some(f) = &self.body_file {
            let f = std::path::absolute(f).unwrap_or_else(|_| f.clone());
            a.extend(["--body-file".into(), f.into_os_string()]);
        }
        a.extend(["--method".into(), self.method.clone().into()]);
        a.extend(["--path".into(), self.path.clone().into()]);
        for h in &self.headers {
            a.extend(["-H".into(), h.into()]);
        }
        a
    }
}

/// Checks the spec and runs its function: `verb` is `run` or `invoke`.
pub fn exec(file: &Path, release: bool, verb: &str, invoke: Option<&InvokeArgs>) -> Result<(), String> {
    let spec = Spec::load(file, &Registry::builtin().infos()).map_err(|e| e.to_string())?;
    let spec_file = std::path::absolute(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let mut args: Vec<OsString> = vec![verb.into(), spec_file.into_os_string()];
    if let Some(i) = invoke {
        args.extend(i.args());
    }
    let runtime = spec.runtime.as_deref().unwrap_or("");
    let handler = spec.handler.as_deref().unwrap_or("");
    let mut command = match runtime {
        "rust" => {
            if handler.is_empty() {
                return Err(format!(
                    "{}: spec.handler is not set; for runtime rust it names the function's cargo package or executable",
                    file.display()
                ));
            }
            if handler.contains('/') {
                let exe = spec.base_dir.join(handler);
                if !exe.is_file() {
                    return Err(format!(
                        "{}: spec.handler '{handler}' is not a file ({} does not exist); build the function first",
                        file.display(),
                        exe.display()
                    ));
                }
                let mut c = Command::new(exe);
                c.args(&args);
                c
            } else {
                let mut c = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
                c.args(["run", "--quiet", "--package", handler]);
                if release {
                    c.arg("--release");
                }
                c.arg("--").args(&args).current_dir(&spec.base_dir);
                c
            }
        }
        r if r == "python" || r.starts_with("python:") => {
            // The Python found on PATH (an activated virtualenv), with the bindery package.
            let python = std::env::var_os("BINDERY_PYTHON").unwrap_or_else(|| "python3".into());
            let mut c = Command::new(python);
            c.args(["-m", "bindery"]).args(&args);
            c
        }
        "" => {
            return Err(format!(
                "{}: spec.runtime is not set; write `runtime: rust` with `handler:` naming the function's cargo package or executable",
                file.display()
            ))
        }
        other => {
            return Err(format!(
                "{}: runtime '{other}' is not one bindery runs; runtimes: rust, python (nuclio's python:3.x too)",
                file.display()
            ))
        }
    };
    let program = command.get_program().to_string_lossy().into_owned();
    // The function runs as a Rust or Python program would: SIGPIPE ignored (a closed socket
    // is an error, not a signal).
    // SAFETY: setting a signal's disposition; this thread is about to exec.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    // exec only returns on failure.
    let e = command.exec();
    Err(format!("cannot start the function ({program}): {e}"))
}
