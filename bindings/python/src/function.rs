//! Python functions: `runtime: python`, `handler: module:function`, run by the same host and
//! triggers as Rust ones (`bindery::function`), the handler called with the GIL taken on a
//! thread of the blocking pool.

use std::sync::{Arc, OnceLock};

use bindery::function::{BoxError, Event, Function, Handler, HandlerFuture, Response};
use bindery::{Bytes, Context};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::{Buffer, Native};

/// The event a Python handler gets (nuclio's shape).
#[pyclass(frozen, get_all, module = "bindery", name = "Event")]
pub struct PyEvent {
    /// A unique id, on every log line of the event.
    pub id: String,
    /// The trigger's name.
    pub trigger: String,
    /// The trigger's kind: http, stream, cron, watch or invoke.
    pub trigger_kind: String,
    /// The HTTP method.
    pub method: String,
    /// The path (for stream events, the stream's path).
    pub path: String,
    /// Query parameters, in order.
    pub query: Vec<(String, String)>,
    /// Headers, in order (values as bytes).
    pub headers: Vec<(String, Py<PyBytes>)>,
    /// The body: a zero-copy buffer.
    pub body: Py<Buffer>,
    /// When it happened (seconds since the epoch).
    pub timestamp: Option<f64>,
    /// A stream event's key, shard and position.
    pub key: Option<Py<PyBytes>>,
    pub shard: Option<u32>,
    pub position: Option<u64>,
}

#[pymethods]
impl PyEvent {
    /// The first header of that name (case-insensitive), as text.
    fn header(&self, py: Python<'_>, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| String::from_utf8_lossy(v.as_bytes(py)).into_owned())
    }

    /// The body parsed as JSON.
    fn json<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let text = String::from_utf8_lossy(&self.body.get().data).into_owned();
        py.import("json")?.call_method1("loads", (text,))
    }

    fn __repr__(&self) -> String {
        format!(
            "Event(trigger={:?}, method={:?}, path={:?}, id={:?})",
            self.trigger, self.method, self.path, self.id
        )
    }
}

fn event_to_py(py: Python<'_>, e: Event) -> PyResult<Bound<'_, PyEvent>> {
    let ev = PyEvent {
        id: e.id,
        trigger: e.trigger,
        trigger_kind: e.trigger_kind,
        method: e.method,
        path: e.path,
        query: e.query,
        headers: e
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), PyBytes::new(py, v).unbind()))
            .collect(),
        body: Py::new(py, Buffer::new(e.body))?,
        timestamp: e
            .timestamp
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| d.as_secs_f64()),
        key: e.key.as_ref().map(|k| PyBytes::new(py, k).unbind()),
        shard: e.shard,
        position: e.position,
    };
    Bound::new(py, ev)
}

/// What a Python handler returned, as a response: None (204), bytes-like (octet-stream), str
/// (text), a `bindery.Response`-like object (`status`, `headers`, `body`), or anything
/// JSON-serialisable (application/json).
fn response_of(value: &Bound<'_, PyAny>) -> PyResult<Response> {
    let py = value.py();
    if value.is_none() {
        return Ok(Response::default().with_status(204));
    }
    if let Ok(s) = value.cast::<PyString>() {
        let text = s.to_str()?.to_string();
        return Ok(Response::new(text).with_header("content-type", "text/plain; charset=utf-8"));
    }
    if let Some(b) = bytes_of(value) {
        return Ok(Response::new(b).with_header("content-type", "application/octet-stream"));
    }
    if value.hasattr("status")? && value.hasattr("body")? {
        let body = value.getattr("body")?;
        let mut r = if body.is_none() {
            Response::default()
        } else if let Some(b) = bytes_of(&body) {
            Response::new(b)
        } else {
            json_response(py, &body)?
        };
        r.status = value.getattr("status")?.extract()?;
        if let Ok(map) = value.getattr("headers")?.cast::<PyDict>() {
            for (k, v) in map.iter() {
                let name: String = k.extract()?;
                r.headers.retain(|(n, _)| !n.eq_ignore_ascii_case(&name));
                r = r.with_header(name, v.str()?.to_str()?.to_string());
            }
        }
        return Ok(r);
    }
    json_response(py, value)
}

/// The bytes of a bytes-like value (bytes, `Buffer`, anything with the buffer protocol, str);
/// None for containers and other values, which are answered as JSON.
fn bytes_of(value: &Bound<'_, PyAny>) -> Option<Bytes> {
    if value.is_instance_of::<PyDict>() || value.is_instance_of::<PyList>() {
        return None;
    }
    crate::convert::py_to_bytes(value).ok()
}

fn json_response(py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Response> {
    let text: String = py.import("json")?.call_method1("dumps", (value,))?.extract()?;
    Ok(Response::new(text).with_header("content-type", "application/json"))
}

/// The text of a Python exception: `Type: message`.
fn describe(py: Python<'_>, e: &PyErr) -> String {
    let name = e
        .get_type(py)
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "Exception".into());
    format!("{name}: {}", e.value(py))
}

struct PyHandler {
    func: Py<PyAny>,
    /// The `bindery.Context` handed to the handler (made once, on the first event).
    ctx: OnceLock<Py<PyAny>>,
}

impl PyHandler {
    fn context<'py>(&self, py: Python<'py>, ctx: &Context) -> PyResult<Bound<'py, PyAny>> {
        if let Some(c) = self.ctx.get() {
            return Ok(c.bind(py).clone());
        }
        let native = Py::new(py, Native { ctx: ctx.clone() })?;
        let kwargs = PyDict::new(py);
        kwargs.set_item("_native", native)?;
        let made = py
            .import("bindery")?
            .getattr("Context")?
            .call((py.None(),), Some(&kwargs))?;
        Ok(self.ctx.get_or_init(|| made.unbind()).bind(py).clone())
    }
}

impl Handler for PyHandler {
    fn call(&self, ctx: Context, event: Event) -> HandlerFuture {
        let (func, py_ctx) =
            Python::attach(|py| (self.func.clone_ref(py), self.context(py, &ctx).map(Bound::unbind)));
        Box::pin(async move {
            let py_ctx = py_ctx.map_err(|e| -> BoxError { Python::attach(|py| describe(py, &e)).into() })?;
            // The event's span, entered on the handler's thread: its requests and log lines
            // (Python's `logging`, forwarded by `bindery.log`) carry the trigger and event id.
            let span = tracing::Span::current();
            let done = tokio::task::spawn_blocking(move || {
                let _entered = span.enter();
                Python::attach(|py| -> Result<Response, String> {
                    let ev = event_to_py(py, event).map_err(|e| describe(py, &e))?;
                    let mut out = func
                        .bind(py)
                        .call1((py_ctx.bind(py), ev))
                        .map_err(|e| describe(py, &e))?;
                    // An `async def` handler: run its coroutine to the end on this thread.
                    if out.hasattr("__await__").unwrap_or(false) {
                        out = py
                            .import("asyncio")
                            .and_then(|a| a.call_method1("run", (out,)))
                            .map_err(|e| describe(py, &e))?;
                    }
                    response_of(&out)
                        .map_err(|e| format!("the handler's answer cannot be sent: {}", describe(py, &e)))
                })
            })
            .await
            .map_err(|e| -> BoxError { format!("the handler's thread failed: {e}").into() })?;
            done.map_err(BoxError::from)
        })
    }
}

/// `python -m bindery run|invoke SPEC …`: loads `handler: module:function` (the module is
/// imported from the spec's folder, then PYTHONPATH), then runs the function as a Rust one
/// would run. Returns the exit code.
#[pyfunction]
pub fn main(py: Python<'_>, args: Vec<String>) -> PyResult<i32> {
    let spec = match bindery::function::spec_in_args(&args) {
        Ok(spec) => spec,
        // A bad command line: the host's parser says what is wrong and how to call it.
        Err(_) => {
            let usage = Function::new(|_: Context, _: Event| async { Ok::<_, bindery::Error>(()) });
            return Ok(
                if py.detach(move || usage.main_with_args(args)) == std::process::ExitCode::SUCCESS {
                    0
                } else {
                    1
                },
            );
        }
    };
    let loaded = bindery_runtime::Spec::load(&spec, &bindery_runtime::Registry::builtin().infos())
        .map_err(|e| crate::errors::InvalidInput::new_err(e.to_string()))?;
    let handler = loaded.handler.clone().ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{}: spec.handler must name the Python handler as module:function",
            spec.display()
        ))
    })?;
    let (module, function) = handler.split_once(':').ok_or_else(|| {
        pyo3::exceptions::PyValueError::new_err(format!(
            "{}: spec.handler '{handler}' must be module:function",
            spec.display()
        ))
    })?;
    let dir = spec
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."));
    let sys_path = py.import("sys")?.getattr("path")?;
    sys_path.call_method1("insert", (0, dir.to_string_lossy().into_owned()))?;
    let func = py.import(module)?.getattr(function)?;
    if !func.is_callable() {
        return Err(pyo3::exceptions::PyTypeError::new_err(format!(
            "{handler} is not callable"
        )));
    }
    let init = py
        .import(module)?
        .getattr("init")
        .ok()
        .filter(|f| f.is_callable())
        .map(Bound::unbind);
    let handler = Arc::new(PyHandler {
        func: func.unbind(),
        ctx: OnceLock::new(),
    });
    let mut function = Function::from_handler(handler.clone());
    if let Some(init) = init {
        // The module's `init(ctx)`, once, before the first event (creating tables, say).
        function = function.init(move |ctx| async move {
            let done = tokio::task::spawn_blocking(move || {
                Python::attach(|py| -> Result<(), String> {
                    let c = handler.context(py, &ctx).map_err(|e| describe(py, &e))?;
                    init.bind(py)
                        .call1((c,))
                        .map(|_| ())
                        .map_err(|e| describe(py, &e))
                })
            })
            .await
            .map_err(|e| bindery::Error::internal(format!("init's thread failed: {e}")))?;
            done.map_err(|e| bindery::Error::invalid_input(format!("the module's init failed: {e}")))
        });
    }
    let code = py.detach(move || function.main_with_args(args));
    Ok(if code == std::process::ExitCode::SUCCESS {
        0
    } else {
        1
    })
}

/// Writes a log line through the host's `tracing` (inside the current event's span): what
/// `bindery`'s logging handler calls for Python's `logging` records.
#[pyfunction]
pub fn log(level: u32, logger: &str, message: &str) {
    match level {
        40.. => tracing::error!(target: "python", logger, "{message}"),
        30..=39 => tracing::warn!(target: "python", logger, "{message}"),
        20..=29 => tracing::info!(target: "python", logger, "{message}"),
        _ => tracing::debug!(target: "python", logger, "{message}"),
    }
}
