//! `bindery._bindery`: the native module under the Python package `bindery`.
//!
//! The Python package builds requests lazily in Python (`bindery/__init__.py`); running one
//! calls a method of [`Native`] here with the request's arguments. Every call that waits
//! releases the GIL. Object data reaches Python as a [`Buffer`] over the driver's own memory
//! (the buffer protocol: `memoryview(buf)` copies nothing); table batches as `pyarrow`
//! objects through the Arrow C Data / C Stream interfaces.

mod convert;
mod errors;
mod function;
mod version;

use std::collections::BTreeMap;
use std::ffi::{c_int, c_void};
use std::sync::{Arc, Mutex};

use arrow::pyarrow::IntoPyArrow;
use arrow::record_batch::{RecordBatch, RecordBatchReader};
use bindery::{Bytes, Context, Message, WaitGroup};
use pyo3::exceptions::{PyBufferError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::convert::{done_to_py, entry_to_py, meta_to_py, py_keys, py_to_value, shards_to_py};
use crate::errors::to_py;

type Pairs = Vec<(String, String)>;
type Opts = BTreeMap<String, String>;

/// Bytes shared with the host, never copied: supports the buffer protocol (`memoryview`,
/// `bytes(buf)` copies once, `numpy.frombuffer` does not).
#[pyclass(frozen, module = "bindery")]
pub struct Buffer {
    data: Bytes,
}

impl Buffer {
    fn new(data: Bytes) -> Buffer {
        Buffer { data }
    }
}

#[pymethods]
impl Buffer {
    fn __len__(&self) -> usize {
        self.data.len()
    }

    fn __bytes__<'py>(&self, py: Python<'py>) -> Bound<'py, PyBytes> {
        PyBytes::new(py, &self.data)
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        match other.cast::<Buffer>() {
            Ok(b) => b.get().data == self.data,
            Err(_) => other
                .extract::<&[u8]>()
                .map(|o| o == &self.data[..])
                .unwrap_or(false),
        }
    }

    fn __repr__(&self) -> String {
        format!("<bindery.Buffer of {} bytes>", self.data.len())
    }

    /// The address of the first byte (the same memory the driver produced).
    fn address(&self) -> usize {
        self.data.as_ptr() as usize
    }

    /// # Safety
    /// Called by CPython with a valid view to fill.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: c_int,
    ) -> PyResult<()> {
        use pyo3::ffi;
        if view.is_null() {
            return Err(PyBufferError::new_err("the view is null"));
        }
        if (flags & ffi::PyBUF_WRITABLE) == ffi::PyBUF_WRITABLE {
            return Err(PyBufferError::new_err("a bindery.Buffer is read-only"));
        }
        let (ptr, len) = (slf.get().data.as_ptr(), slf.get().data.len());
        // SAFETY: `view` is valid (checked non-null, CPython hands it to fill); the data stays
        // alive while the view holds a reference to `slf`, which owns the `Bytes`.
        unsafe {
            (*view).obj = slf.into_any().into_ptr();
            (*view).buf = ptr as *mut c_void;
            (*view).len = len as isize;
            (*view).readonly = 1;
            (*view).itemsize = 1;
            (*view).format = if (flags & ffi::PyBUF_FORMAT) == ffi::PyBUF_FORMAT {
                c"B".as_ptr() as *mut _
            } else {
                std::ptr::null_mut()
            };
            (*view).ndim = 1;
            (*view).shape = if (flags & ffi::PyBUF_ND) == ffi::PyBUF_ND {
                &mut (*view).len
            } else {
                std::ptr::null_mut()
            };
            (*view).strides = if (flags & ffi::PyBUF_STRIDES) == ffi::PyBUF_STRIDES {
                &mut (*view).itemsize
            } else {
                std::ptr::null_mut()
            };
            (*view).suboffsets = std::ptr::null_mut();
            (*view).internal = std::ptr::null_mut();
        }
        Ok(())
    }

    /// # Safety
    /// Called by CPython; nothing was allocated for the view.
    unsafe fn __releasebuffer__(&self, _view: *mut pyo3::ffi::Py_buffer) {}
}

/// Requests sent with `do_async`, waited for together.
#[pyclass(frozen, module = "bindery")]
pub struct WaitGroupNative {
    wg: Arc<WaitGroup>,
}

#[pymethods]
impl WaitGroupNative {
    #[new]
    fn new() -> WaitGroupNative {
        WaitGroupNative {
            wg: Arc::new(WaitGroup::new()),
        }
    }

    /// Waits (GIL released) for every request of the group; returns (results, first error),
    /// each result a value or an exception.
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<(Bound<'py, PyList>, Option<PyErr>)> {
        let wg = self.wg.clone();
        let waited = py.detach(move || wg.wait_blocking());
        let out = PyList::empty(py);
        let mut first = None;
        for r in waited.results {
            match r {
                Ok(done) => out.append(done_to_py(py, done)?)?,
                Err(e) => {
                    let err = to_py(py, &e);
                    out.append(err.value(py))?;
                    first.get_or_insert(err);
                }
            }
        }
        Ok((out, first))
    }
}

/// A native reader or consumer behind a Python object: used with the GIL released, gone
/// once closed.
struct Slot<T> {
    inner: Mutex<Option<T>>,
    what: &'static str,
}

impl<T: Send> Slot<T> {
    fn new(value: T, what: &'static str) -> Slot<T> {
        Slot {
            inner: Mutex::new(Some(value)),
            what,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<T>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the value, GIL released; an error once closed.
    fn with<R: Send>(&self, py: Python<'_>, f: impl FnOnce(&mut T) -> R + Send) -> PyResult<R> {
        py.detach(|| {
            self.lock()
                .as_mut()
                .map(f)
                .ok_or_else(|| PyValueError::new_err(format!("the {} is closed", self.what)))
        })
    }

    /// Takes the value out (closing the slot), GIL released.
    fn take(&self, py: Python<'_>) -> Option<T> {
        py.detach(|| self.lock().take())
    }

    /// Waits as long as it takes for `next` to give something: in slices of 100 ms with
    /// Python's signal handlers run between them (Ctrl-C raises `KeyboardInterrupt` at once)
    /// and the slot unlocked, so `close()` from another thread ends the wait (`None`).
    fn wait<R: Send>(
        &self,
        py: Python<'_>,
        next: impl Fn(&mut T, std::time::Duration) -> Option<R> + Sync,
    ) -> PyResult<Option<R>> {
        const SLICE: std::time::Duration = std::time::Duration::from_millis(100);
        loop {
            match self.with(py, |t| next(t, SLICE)) {
                Ok(Some(r)) => return Ok(Some(r)),
                Ok(None) => py.check_signals()?,
                Err(_) => return Ok(None),
            }
        }
    }
}

/// An object being read: chunks prefetched in the background.
#[pyclass(module = "bindery")]
pub struct ObjectReader {
    inner: Slot<bindery::ObjectReader>,
}

#[pymethods]
impl ObjectReader {
    /// The object's metadata (waits for the first frame).
    fn meta<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let meta = self.inner.with(py, |r| r.meta().cloned())?;
        meta_to_py(py, &meta.map_err(|e| to_py(py, &e))?)
    }

    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Option<Buffer>> {
        match self.inner.with(py, |r| r.next_chunk())? {
            Some(Ok(chunk)) => Ok(Some(Buffer::new(chunk))),
            Some(Err(e)) => Err(to_py(py, &e)),
            None => Ok(None),
        }
    }

    /// The rest of the object as one buffer (no copy when it came in one chunk).
    fn read_all(&self, py: Python<'_>) -> PyResult<Buffer> {
        let reader = self
            .inner
            .take(py)
            .ok_or_else(|| PyValueError::new_err("the reader is closed"))?;
        py.detach(|| reader.read_all())
            .map(Buffer::new)
            .map_err(|e| to_py(py, &e))
    }

    /// Stops reading (the driver stops producing).
    fn close(&self, py: Python<'_>) {
        drop(self.inner.take(py));
    }
}

/// A stream being consumed.
#[pyclass(module = "bindery")]
pub struct Consumer {
    inner: Slot<bindery::Consumer>,
}

#[pymethods]
impl Consumer {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next message, waiting as long as it takes (see `Slot::wait`: Ctrl-C raises at
    /// once, `close()` from another thread ends the iteration).
    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let got = self.inner.wait(py, |c, slice| match c.poll(slice) {
            Some(m) => Some(Some(m)),
            None if c.ended() => Some(None),
            None => None,
        })?;
        match got.flatten() {
            Some(Ok(m)) => convert::message_to_py(py, &m).map(Some),
            Some(Err(e)) => Err(to_py(py, &e)),
            None => Ok(None),
        }
    }

    /// The next message within `timeout` seconds, or None.
    fn poll<'py>(&self, py: Python<'py>, timeout: f64) -> PyResult<Option<Bound<'py, PyAny>>> {
        let d = std::time::Duration::from_secs_f64(timeout.max(0.0));
        match self.inner.with(py, |c| c.poll(d))? {
            Some(Ok(m)) => convert::message_to_py(py, &m).map(Some),
            Some(Err(e)) => Err(to_py(py, &e)),
            None => Ok(None),
        }
    }

    /// Whether the consumer ended (only without follow) and every message was taken.
    fn ended(&self, py: Python<'_>) -> PyResult<bool> {
        self.inner.with(py, |c| c.ended())
    }

    /// Records that the group handled the message at (shard, position) and all before it.
    fn checkpoint(&self, py: Python<'_>, shard: u32, position: u64) -> PyResult<()> {
        let m = Message {
            shard,
            position,
            ..Message::default()
        };
        self.inner
            .with(py, |c| c.checkpoint(&m))?
            .map_err(|e| to_py(py, &e))
    }

    /// Records everything handed out so far, in every shard, in one request.
    fn checkpoint_consumed(&self, py: Python<'_>) -> PyResult<()> {
        self.inner
            .with(py, |c| c.checkpoint_consumed())?
            .map_err(|e| to_py(py, &e))
    }

    /// Stops consuming and waits until the driver let go (the group rebalances).
    fn close(&self, py: Python<'_>) {
        if let Some(c) = self.inner.take(py) {
            py.detach(move || c.close());
        }
    }
}

/// A watch's changes.
#[pyclass(module = "bindery")]
pub struct Watcher {
    inner: Slot<bindery::Watcher>,
    /// While an `await` waits for the next change (the watcher is then on the async runtime,
    /// out of the slot): what tells it to stop, for `close()`.
    awaiting: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

/// The runtime `await`s wait on: one thread for every awaited watch in the process (no
/// thread per await, no executor pool), resolving asyncio futures on their loop with
/// `call_soon_threadsafe`.
static ASYNC: std::sync::LazyLock<tokio::runtime::Runtime> = std::sync::LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("bindery-python-async")
        .enable_all()
        .build()
        .expect("the async runtime")
});

/// A change as `(kind, path, gen, size, time, cursor, row, before)` (time: seconds since the
/// Unix epoch; row and before: JSON text or None), which `bindery.Change` wraps.
type ChangeTuple = (
    &'static str,
    String,
    String,
    Option<u64>,
    f64,
    String,
    Option<String>,
    Option<String>,
);

fn change_tuple(c: bindery::Change) -> ChangeTuple {
    let time = c
        .time
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64());
    (
        c.kind.as_str(),
        c.path,
        c.gen,
        c.size,
        time,
        c.cursor,
        c.row,
        c.before,
    )
}

#[pymethods]
impl Watcher {
    fn __iter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    /// The next change, waiting as long as it takes (see `Slot::wait`: Ctrl-C raises at
    /// once, `close()` from another thread ends the iteration).
    fn __next__(&self, py: Python<'_>) -> PyResult<Option<ChangeTuple>> {
        match self.inner.wait(py, |w, slice| w.poll(slice))? {
            Some(Ok(c)) => Ok(Some(change_tuple(c))),
            Some(Err(e)) => Err(to_py(py, &e)),
            None => Ok(None),
        }
    }

    /// The next change within `timeout` seconds, or None.
    fn poll(&self, py: Python<'_>, timeout: f64) -> PyResult<Option<ChangeTuple>> {
        let d = std::time::Duration::from_secs_f64(timeout.max(0.0));
        match self.inner.with(py, |w| w.poll(d))? {
            Some(Ok(c)) => Ok(Some(change_tuple(c))),
            Some(Err(e)) => Err(to_py(py, &e)),
            None => Ok(None),
        }
    }

    /// Waits until the driver watches: no change made after this returns is missed.
    fn ready(&self, py: Python<'_>) -> PyResult<()> {
        self.inner.with(py, |w| w.ready())
    }

    /// Stops watching.
    fn close(&self, py: Python<'_>) {
        if let Some(stop) = self.awaiting.lock().unwrap_or_else(|p| p.into_inner()).take() {
            let _ = stop.send(());
        }
        if let Some(w) = self.inner.take(py) {
            py.detach(move || w.close());
        }
    }

    /// Waits for the next change without blocking: `resolve(True, change)` (a change tuple,
    /// or None when the watch ended) or `resolve(False, exception)` is called on `event_loop`
    /// once it is there. The watcher waits on the async runtime meanwhile and comes back after.
    fn next_into(slf: Py<Self>, py: Python<'_>, event_loop: Py<PyAny>, resolve: Py<PyAny>) -> PyResult<()> {
        let me = slf.borrow(py);
        let Some(mut watcher) = me.inner.take(py) else {
            return Err(PyValueError::new_err(
                "the watcher is closed, or another await is waiting on it",
            ));
        };
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        *me.awaiting.lock().unwrap_or_else(|p| p.into_inner()) = Some(stop);
        drop(me);
        ASYNC.spawn(async move {
            let got = tokio::select! {
                got = watcher.next_async() => Some(got),
                _ = stopped => None,
            };
            Python::attach(|py| {
                let me = slf.borrow(py);
                me.awaiting.lock().unwrap_or_else(|p| p.into_inner()).take();
                let (ok, value) = match got {
                    // Closed while waiting.
                    None => {
                        py.detach(move || watcher.close());
                        (true, py.None())
                    }
                    Some(got) => {
                        *me.inner.lock() = Some(watcher);
                        match got {
                            Some(Ok(c)) => (
                                true,
                                change_tuple(c)
                                    .into_pyobject(py)
                                    .map(|t| t.into_any().unbind())
                                    .unwrap_or_else(|_| py.None()),
                            ),
                            Some(Err(e)) => (false, to_py(py, &e).into_value(py).into_any()),
                            None => (true, py.None()),
                        }
                    }
                };
                if let Err(e) = event_loop.call_method1(py, "call_soon_threadsafe", (resolve, ok, value)) {
                    // The loop is closed: nobody waits any more.
                    e.print(py);
                }
            });
        });
        Ok(())
    }
}

/// A table read as Arrow batches, for pyarrow's C stream interface.
struct Batches {
    reader: bindery::TableReader,
    schema: arrow::datatypes::SchemaRef,
    /// The bindery error that ended the stream, kept for Python (pyarrow's C stream carries
    /// only its text, as `ArrowInvalid`).
    failed: Arc<Mutex<Option<bindery::Error>>>,
}

impl Iterator for Batches {
    type Item = Result<RecordBatch, arrow::error::ArrowError>;
    fn next(&mut self) -> Option<Self::Item> {
        self.reader.next().map(|r| {
            r.map_err(|e| {
                let text = e.to_string();
                *self.failed.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                arrow::error::ArrowError::ExternalError(text.into())
            })
        })
    }
}

/// The error that ended a table read's batches, for `bindery.TableReader` to raise as the
/// `bindery.Error` it is.
#[pyclass(module = "bindery")]
pub struct ReadFailure {
    failed: Arc<Mutex<Option<bindery::Error>>>,
    next_page: Arc<Mutex<Option<String>>>,
}

#[pymethods]
impl ReadFailure {
    /// The error as its `bindery.Error` subclass, once; None when the read did not fail.
    fn take<'py>(&self, py: Python<'py>) -> Option<Bound<'py, pyo3::exceptions::PyBaseException>> {
        let e = self.failed.lock().unwrap_or_else(|p| p.into_inner()).take()?;
        Some(to_py(py, &e).into_value(py).into_bound(py))
    }

    /// A paged read's next page token, once its batches are all read (None: the last page).
    fn next_page(&self) -> Option<String> {
        self.next_page.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl RecordBatchReader for Batches {
    fn schema(&self) -> arrow::datatypes::SchemaRef {
        self.schema.clone()
    }
}

/// A connected context: the host and its bindings. `bindery.Context` wraps it.
#[pyclass(frozen, module = "bindery")]
pub struct Native {
    ctx: Context,
}

fn err(py: Python<'_>) -> impl Fn(bindery::Error) -> PyErr + '_ {
    move |e| to_py(py, &e)
}

/// Applies `(key, value)` pairs to a builder with `method(key, value)` (conditions, options).
macro_rules! each {
    ($req:ident, $pairs:expr, $method:ident) => {
        for (k, v) in $pairs {
            $req = $req.$method(&*k, v);
        }
    };
}

thread_local! {
    /// Where a Python thread waits for its requests: a runtime of its own, for the timer.
    static WAITER: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("a current-thread runtime");
}

/// Waits for a sent request with the GIL released, in slices of 100 ms with Python's signal
/// handlers run between them: Ctrl-C raises `KeyboardInterrupt` at once, and the request,
/// dropped, is cancelled (as an abandoned request is; a write may or may not have happened).
fn wait_interruptibly<T: Send>(
    py: Python<'_>,
    mut request: futures::future::BoxFuture<'static, bindery::Result<T>>,
) -> PyResult<bindery::Result<T>> {
    const SLICE: std::time::Duration = std::time::Duration::from_millis(100);
    loop {
        let step = py.detach(|| {
            WAITER.with(|rt| rt.block_on(async { tokio::time::timeout(SLICE, &mut request).await.ok() }))
        });
        match step {
            Some(out) => return Ok(out),
            None => py.check_signals()?,
        }
    }
}

/// Runs a built request: blocking (GIL released, interruptible), or sent to a wait group.
macro_rules! run {
    ($py:expr, $req:expr, $wg:expr, $convert:expr) => {{
        let req = $req;
        match $wg {
            Some(wg) => {
                req.do_async(&wg.get().wg).map_err(err($py))?;
                Ok($py.None().into_bound($py))
            }
            None => {
                let out = wait_interruptibly($py, ::std::future::IntoFuture::into_future(req))?;
                let out = out.map_err(err($py))?;
                $convert(out)
            }
        }
    }};
}

#[pymethods]
impl Native {
    /// Loads the spec and connects every binding, on a runtime of the context's own.
    #[new]
    fn new(py: Python<'_>, spec: std::path::PathBuf) -> PyResult<Native> {
        let ctx = py.detach(|| Context::open(&spec)).map_err(err(py))?;
        Ok(Native { ctx })
    }

    /// The bindings: (name, kind, driver).
    fn bindings(&self) -> Vec<(String, String, String)> {
        self.ctx
            .host()
            .bindings()
            .iter()
            .map(|b| (b.name().to_string(), b.kind().to_string(), b.driver().to_string()))
            .collect()
    }

    /// The function's name.
    fn name(&self) -> String {
        self.ctx.host().spec().name.clone()
    }

    // ---- objects ----

    #[pyo3(signature = (path, range, version, conditions, options, wg=None))]
    #[allow(clippy::too_many_arguments)]
    fn object_get<'py>(
        &self,
        py: Python<'py>,
        path: String,
        range: Option<(u64, Option<u64>)>,
        version: Option<String>,
        conditions: Pairs,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = self.get(path, range, version, conditions, options);
        run!(py, req, wg, |o: bindery::ObjectData| convert::object_to_py(py, o))
    }

    #[pyo3(signature = (path, range, version, conditions, options))]
    fn object_load(
        &self,
        path: String,
        range: Option<(u64, Option<u64>)>,
        version: Option<String>,
        conditions: Pairs,
        options: Opts,
    ) -> ObjectReader {
        ObjectReader {
            inner: Slot::new(
                self.get(path, range, version, conditions, options).load(),
                "reader",
            ),
        }
    }

    #[pyo3(signature = (path, chunks, metadata, conditions, options, wg=None))]
    #[allow(clippy::too_many_arguments)]
    fn object_put<'py>(
        &self,
        py: Python<'py>,
        path: String,
        chunks: Vec<Bound<'py, PyAny>>,
        metadata: Opts,
        conditions: Pairs,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.object().put(path, Bytes::new());
        for c in chunks {
            req = req.add(convert::py_to_bytes(&c)?);
        }
        req = req.metadata(metadata);
        each!(req, conditions, condition);
        each!(req, options, option);
        run!(py, req, wg, |m: bindery::ObjectMeta| meta_to_py(py, &m))
    }

    #[pyo3(signature = (path, version, conditions, options, wg=None))]
    fn object_head<'py>(
        &self,
        py: Python<'py>,
        path: String,
        version: Option<String>,
        conditions: Pairs,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.object().head(path);
        if let Some(v) = version {
            req = req.version(v);
        }
        each!(req, conditions, condition);
        each!(req, options, option);
        run!(py, req, wg, |m: bindery::ObjectMeta| meta_to_py(py, &m))
    }

    #[pyo3(signature = (path, conditions, options, wg=None))]
    fn object_delete<'py>(
        &self,
        py: Python<'py>,
        path: String,
        conditions: Pairs,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.object().del(path);
        each!(req, conditions, condition);
        each!(req, options, option);
        run!(py, req, wg, |()| Ok(py.None().into_bound(py)))
    }

    #[pyo3(signature = (path, limit, delimiter, start_after, version, options, wg=None))]
    #[allow(clippy::too_many_arguments)]
    fn object_list<'py>(
        &self,
        py: Python<'py>,
        path: String,
        limit: Option<u64>,
        delimiter: Option<String>,
        start_after: Option<String>,
        version: Option<String>,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.object().list(path);
        if let Some(v) = version {
            req = req.version(v);
        }
        if let Some(n) = limit {
            req = req.limit(n);
        }
        if let Some(d) = delimiter {
            req = req.delimiter(d);
        }
        if let Some(s) = start_after {
            req = req.start_after(s);
        }
        each!(req, options, option);
        run!(py, req, wg, |entries: Vec<bindery::ListEntry>| {
            let out = PyList::empty(py);
            for e in &entries {
                out.append(entry_to_py(py, e)?)?;
            }
            Ok(out.into_any())
        })
    }

    #[pyo3(signature = (path, limit, start_after, options, wg=None))]
    fn object_versions<'py>(
        &self,
        py: Python<'py>,
        path: String,
        limit: Option<u64>,
        start_after: Option<String>,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.object().versions(path);
        if let Some(n) = limit {
            req = req.limit(n);
        }
        if let Some(s) = start_after {
            req = req.start_after(s);
        }
        each!(req, options, option);
        run!(py, req, wg, |r: Vec<bindery::Revision>| version::revisions_to_py(
            py, &r
        ))
    }

    #[pyo3(signature = (path, revision, options, wg=None))]
    fn object_revert<'py>(
        &self,
        py: Python<'py>,
        path: String,
        revision: String,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.object().revert(path, revision);
        each!(req, options, option);
        run!(py, req, wg, |m: bindery::ObjectMeta| meta_to_py(py, &m))
    }

    #[pyo3(signature = (path, from, to, options, wg=None))]
    fn object_diff<'py>(
        &self,
        py: Python<'py>,
        path: String,
        from: String,
        to: Option<String>,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.object().diff(path, from);
        if let Some(to) = to {
            req = req.to(to);
        }
        each!(req, options, option);
        run!(py, req, wg, |d: bindery::Diff| version::diff_to_py(py, &d))
    }

    /// A tags request: `action` is create, get, update, delete or list; `fields` the tag's
    /// revision, description, author (create) or rename, description (update).
    #[pyo3(signature = (binding, action, name, fields, options, wg=None))]
    #[allow(clippy::too_many_arguments)]
    fn object_tags<'py>(
        &self,
        py: Python<'py>,
        binding: String,
        action: &str,
        name: String,
        fields: Opts,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let o = self.ctx.object();
        let mut req = match action {
            "list" if !fields.is_empty() => {
                return Err(PyValueError::new_err(
                    "tags() lists every tag: it takes no revision, description, author or rename",
                ))
            }
            "list" => {
                let mut req = o.tags(binding);
                each!(req, options, option);
                return run!(py, req, wg, |t: Vec<bindery::Tag>| version::tags_to_py(py, &t));
            }
            "create" => o.tag_create(binding, name),
            "get" => o.tag_get(binding, name),
            "update" => o.tag_update(binding, name),
            "delete" => o.tag_delete(binding, name),
            other => return Err(PyValueError::new_err(format!("unknown tags action {other:?}"))),
        };
        for (k, v) in fields {
            req = match k.as_str() {
                "revision" => req.revision(v),
                "description" => req.description(v),
                "author" => req.author(v),
                "rename" => req.rename(v),
                _ => req,
            };
        }
        each!(req, options, option);
        run!(py, req, wg, |t: bindery::Tag| version::tag_to_py(py, &t))
    }

    // ---- tables ----

    /// A read as a `pyarrow.RecordBatchReader` (batches prefetched in the background).
    #[pyo3(signature = (path, keys, filter, select, sql, partition, limit, schema, options, order_by=Vec::new(), page=None, after=None))]
    #[allow(clippy::too_many_arguments)]
    fn table_read<'py>(
        &self,
        py: Python<'py>,
        path: String,
        keys: Vec<Vec<Bound<'py, PyAny>>>,
        filter: Option<String>,
        select: Vec<String>,
        sql: Option<String>,
        partition: Option<(u32, u32)>,
        limit: Option<u64>,
        schema: Option<String>,
        options: Opts,
        order_by: Vec<String>,
        page: Option<u64>,
        after: Option<String>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.table().read(path);
        for k in keys {
            let values = k.iter().map(py_to_value).collect::<PyResult<Vec<_>>>()?;
            req = req.key(values);
        }
        if let Some(f) = filter {
            req = req.where_(&f);
        }
        if !select.is_empty() {
            req = req.select(select);
        }
        if let Some(q) = sql {
            req = req.sql(q);
        }
        if let Some((p, n)) = partition {
            req = req.partition(p, n);
        }
        if let Some(n) = limit {
            req = req.limit(n);
        }
        if let Some(s) = schema {
            req = req.schema(&s);
        }
        if !order_by.is_empty() {
            req = req.order_by(order_by);
        }
        if let Some(n) = page {
            req = req.page(n);
        }
        if let Some(t) = after {
            req = req.after(t);
        }
        each!(req, options, option);
        let mut reader = req.load();
        let next_page = reader.next_page_slot();
        let schema = py.detach(|| reader.schema()).map_err(err(py))?;
        let failed = Arc::new(Mutex::new(None));
        let batches: Box<dyn RecordBatchReader + Send> = Box::new(Batches {
            reader,
            schema,
            failed: failed.clone(),
        });
        let reader = batches.into_pyarrow(py)?;
        let failure = Bound::new(py, ReadFailure { failed, next_page })?.into_any();
        pyo3::types::PyTuple::new(py, [reader, failure]).map(Bound::into_any)
    }

    /// A write of items (JSON text of a list of objects) or of pyarrow batches / a table.
    #[pyo3(signature = (path, items, batches, keys, expression, params, condition, options, wg=None))]
    #[allow(clippy::too_many_arguments)]
    fn table_write<'py>(
        &self,
        py: Python<'py>,
        path: String,
        items: Option<String>,
        batches: Option<Bound<'py, PyAny>>,
        keys: Vec<Vec<Bound<'py, PyAny>>>,
        expression: Option<String>,
        params: Vec<(String, Bound<'py, PyAny>)>,
        condition: Option<String>,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.table().write(path);
        if let Some(items) = items {
            let rows: Vec<serde_json::Value> = serde_json::from_str(&items)
                .map_err(|e| PyValueError::new_err(format!("items are not JSON: {e}")))?;
            req = req.with_items(rows);
        }
        if let Some(b) = batches {
            req = req.with_batches(convert::py_to_batches(&b)?);
        }
        if !keys.is_empty() {
            req = req.to_keys(py_keys(&keys)?);
        }
        if let Some(e) = expression {
            let values = params
                .iter()
                .map(|(k, v)| Ok((k.clone(), py_to_value(v)?)))
                .collect::<PyResult<Vec<_>>>()?;
            req = req.with_expression(&e, values);
        }
        if let Some(c) = condition {
            req = req.condition(&c);
        }
        each!(req, options, option);
        run!(py, req, wg, |n: u64| Ok(n.into_pyobject(py)?.into_any()))
    }

    #[pyo3(signature = (path, schema, partition_key, sorting_key, options, wg=None))]
    #[allow(clippy::too_many_arguments)]
    fn table_create<'py>(
        &self,
        py: Python<'py>,
        path: String,
        schema: String,
        partition_key: Option<String>,
        sorting_key: Option<String>,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.table().create(path).schema(&schema);
        if let Some(pk) = &partition_key {
            req = req.primary_key(pk, sorting_key.as_deref());
        }
        each!(req, options, option);
        run!(py, req, wg, |()| Ok(py.None().into_bound(py)))
    }

    #[pyo3(signature = (path, wg=None))]
    fn table_drop<'py>(
        &self,
        py: Python<'py>,
        path: String,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let req = self.ctx.table().drop(path);
        run!(py, req, wg, |()| Ok(py.None().into_bound(py)))
    }

    /// A delete of rows by keys and/or a filter, with a condition.
    #[pyo3(signature = (path, keys, filter, condition, options, wg=None))]
    #[allow(clippy::too_many_arguments)]
    fn table_delete<'py>(
        &self,
        py: Python<'py>,
        path: String,
        keys: Vec<Vec<Bound<'py, PyAny>>>,
        filter: Option<String>,
        condition: Option<String>,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.table().delete(path);
        for k in py_keys(&keys)? {
            req = req.key(k);
        }
        if let Some(f) = filter {
            req = req.where_(&f);
        }
        if let Some(c) = condition {
            req = req.condition(&c);
        }
        each!(req, options, option);
        run!(py, req, wg, |n: u64| Ok(n.into_pyobject(py)?.into_any()))
    }

    #[pyo3(signature = (path, add_columns, schema, options, wg=None))]
    fn table_alter<'py>(
        &self,
        py: Python<'py>,
        path: String,
        add_columns: Vec<String>,
        schema: Option<String>,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.table().alter(path);
        for c in add_columns {
            req = req.add_column(&c);
        }
        if let Some(s) = schema {
            req = req.schema(&s);
        }
        each!(req, options, option);
        run!(py, req, wg, |()| Ok(py.None().into_bound(py)))
    }

    /// A table's schema as its text (`user string NOT NULL, …`) and key, and its version
    /// where the driver keeps them; `version`: an older one.
    #[pyo3(signature = (path, version=None))]
    fn table_schema<'py>(
        &self,
        py: Python<'py>,
        path: String,
        version: Option<u64>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self.ctx.table().schema(path);
        if let Some(n) = version {
            req = req.version(n);
        }
        let none: Option<Bound<'py, WaitGroupNative>> = None;
        run!(py, req, none, |s: bindery::TableSchema| convert::schema_to_py(
            py, &s
        ))
    }

    // ---- streams ----

    #[pyo3(signature = (path, messages, options, wg=None))]
    fn stream_publish<'py>(
        &self,
        py: Python<'py>,
        path: String,
        messages: Vec<Bound<'py, PyAny>>,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let msgs = messages
            .iter()
            .map(convert::py_to_message)
            .collect::<PyResult<Vec<_>>>()?;
        let mut req = self.ctx.stream().publish(path).messages(msgs);
        each!(req, options, option);
        run!(py, req, wg, |placed: Vec<(u32, u64)>| Ok(placed
            .into_pyobject(py)?
            .into_any()))
    }

    #[pyo3(signature = (path, group, from_, filter, select, format, follow, options))]
    #[allow(clippy::too_many_arguments)]
    fn stream_consume(
        &self,
        path: String,
        group: Option<String>,
        from_: Option<(String, String)>,
        filter: Option<String>,
        select: Vec<String>,
        format: Option<String>,
        follow: bool,
        options: Opts,
    ) -> Consumer {
        let mut req = self.ctx.stream().consume(path).follow(follow);
        if let Some(g) = group {
            req = req.group(g);
        }
        if let Some((k, v)) = from_ {
            req = req.from_(&k, &v);
        }
        if let Some(f) = filter {
            req = req.where_(&f);
        }
        if !select.is_empty() {
            req = req.select(select);
        }
        if let Some(f) = format {
            req = req.format(&f);
        }
        each!(req, options, option);
        Consumer {
            inner: Slot::new(req.load(), "consumer"),
        }
    }

    /// A watch of objects (`table` false) or of a table's rows.
    #[pyo3(signature = (table, path, from_, initial, options))]
    fn watch(
        &self,
        table: bool,
        path: String,
        from_: Option<(String, String)>,
        initial: bool,
        options: Opts,
    ) -> Watcher {
        let req = if table {
            self.ctx.table().watch(path)
        } else {
            self.ctx.object().watch(path)
        };
        let mut req = req.initial(initial);
        if let Some((k, v)) = from_ {
            req = req.from_(&k, &v);
        }
        each!(req, options, option);
        Watcher {
            inner: Slot::new(req.load(), "watcher"),
            awaiting: Mutex::new(None),
        }
    }

    /// create / update / delete of a stream (`name`, for create, is joined to `path` as the
    /// Rust SDK joins it).
    #[pyo3(signature = (verb, path, name, shards, options, wg=None))]
    #[allow(clippy::too_many_arguments)]
    fn stream_admin<'py>(
        &self,
        py: Python<'py>,
        verb: &str,
        path: String,
        name: &str,
        shards: u32,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let s = self.ctx.stream();
        let mut req = match verb {
            "create" => s.create(path, name, shards),
            "update" => s.update(path, shards),
            "delete" => s.delete(path),
            other => return Err(PyValueError::new_err(format!("unknown stream admin '{other}'"))),
        };
        each!(req, options, option);
        run!(py, req, wg, |()| Ok(py.None().into_bound(py)))
    }

    fn stream_shards<'py>(&self, py: Python<'py>, path: String) -> PyResult<Bound<'py, PyAny>> {
        let req = self.ctx.stream().list_shards(path);
        let none: Option<Bound<'py, WaitGroupNative>> = None;
        run!(py, req, none, |s: Vec<bindery::ShardInfo>| shards_to_py(py, &s))
    }

    // ---- generic ----

    #[pyo3(signature = (path, operation, payload, idempotent, options, wg=None))]
    #[allow(clippy::too_many_arguments)]
    fn generic_call<'py>(
        &self,
        py: Python<'py>,
        path: String,
        operation: String,
        payload: Bound<'py, PyAny>,
        idempotent: bool,
        options: Opts,
        wg: Option<Bound<'py, WaitGroupNative>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let mut req = self
            .ctx
            .generic()
            .call(path)
            .operation(operation)
            .payload(convert::py_to_bytes(&payload)?)
            .idempotent(idempotent);
        each!(req, options, option);
        run!(py, req, wg, |o: bindery::CallOutput| convert::call_to_py(py, o))
    }
}

impl Native {
    fn get(
        &self,
        path: String,
        range: Option<(u64, Option<u64>)>,
        version: Option<String>,
        conditions: Pairs,
        options: Opts,
    ) -> bindery::Get {
        let mut req = self.ctx.object().get(path);
        if let Some((offset, len)) = range {
            req = req.range(offset, len);
        }
        if let Some(v) = version {
            req = req.version(v);
        }
        each!(req, conditions, condition);
        each!(req, options, option);
        req
    }
}

#[pymodule]
fn _bindery(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<Native>()?;
    m.add_class::<Buffer>()?;
    m.add_class::<ObjectReader>()?;
    m.add_class::<Consumer>()?;
    m.add_class::<Watcher>()?;
    m.add_class::<ReadFailure>()?;
    m.add_class::<WaitGroupNative>()?;
    m.add_class::<convert::ObjectMeta>()?;
    m.add_class::<convert::ObjectData>()?;
    m.add_class::<convert::ListItem>()?;
    m.add_class::<convert::CallOutput>()?;
    m.add_class::<convert::Message_>()?;
    m.add_class::<function::PyEvent>()?;
    m.add_function(wrap_pyfunction!(function::main, m)?)?;
    m.add_function(wrap_pyfunction!(function::log, m)?)?;
    errors::register(m)?;
    Ok(())
}
