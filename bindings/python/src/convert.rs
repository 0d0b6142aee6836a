//! Values between the SDK and Python: results as small classes, arguments from Python objects.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use arrow::pyarrow::{FromPyArrow, ToPyArrow};
use arrow::record_batch::RecordBatch;
use bindery::{Bytes, Done, ListEntry, Message, Value};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString};

use crate::Buffer;

pub fn seconds(t: Option<SystemTime>) -> Option<f64> {
    t.and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs_f64())
}

/// An object's metadata.
#[pyclass(frozen, get_all, module = "bindery")]
pub struct ObjectMeta {
    /// The path, relative to the binding's prefix.
    pub path: String,
    /// The size in bytes.
    pub size: u64,
    /// The generation: what `if-match` compares with.
    pub gen: String,
    /// When it was last written, in seconds since the epoch (None when unknown).
    pub modified: Option<f64>,
    /// User metadata.
    pub metadata: BTreeMap<String, String>,
}

#[pymethods]
impl ObjectMeta {
    fn __repr__(&self) -> String {
        format!(
            "ObjectMeta(path={:?}, size={}, gen={:?})",
            self.path, self.size, self.gen
        )
    }
}

fn meta(m: &bindery::ObjectMeta) -> ObjectMeta {
    ObjectMeta {
        path: m.path.clone(),
        size: m.size,
        gen: m.gen.clone(),
        modified: seconds(m.modified),
        metadata: m.metadata.clone(),
    }
}

/// An object read whole: its metadata and its data (a zero-copy buffer).
#[pyclass(frozen, get_all, module = "bindery")]
pub struct ObjectData {
    /// The metadata.
    pub meta: Py<ObjectMeta>,
    /// The data.
    pub data: Py<Buffer>,
}

#[pymethods]
impl ObjectData {
    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "ObjectData(meta={}, data=<{} bytes>)",
            self.meta.get().__repr__(),
            self.data.bind(py).get().data.len()
        )
    }
}

/// One listing entry: an object (`meta` set) or a common prefix (`is_prefix`).
#[pyclass(frozen, get_all, module = "bindery")]
pub struct ListItem {
    /// The object's path, or the prefix (ending with the delimiter).
    pub path: String,
    /// Whether this is a common prefix rather than an object.
    pub is_prefix: bool,
    /// The object's metadata (None for a prefix).
    pub meta: Option<Py<ObjectMeta>>,
}

#[pymethods]
impl ListItem {
    fn __repr__(&self) -> String {
        if self.is_prefix {
            format!("ListItem(prefix={:?})", self.path)
        } else {
            format!("ListItem(path={:?})", self.path)
        }
    }
}

/// A generic answer.
#[pyclass(frozen, get_all, module = "bindery")]
pub struct CallOutput {
    /// The status (for `http`, the HTTP status).
    pub status: u32,
    /// Metadata pairs in order (for `http`, the response headers).
    pub metadata: Vec<(String, String)>,
    /// The body.
    pub body: Py<Buffer>,
}

#[pymethods]
impl CallOutput {
    /// The first metadata value of that name (case-insensitive).
    fn get(&self, name: &str) -> Option<String> {
        self.metadata
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }
}

/// A stream message: consumed ones carry `shard`, `position` and `timestamp`.
#[pyclass(frozen, get_all, module = "bindery", name = "ConsumedMessage")]
pub struct Message_ {
    /// The payload.
    pub value: Py<Buffer>,
    /// The key (messages with one key keep their order).
    pub key: Option<Py<PyBytes>>,
    /// Headers in order.
    pub headers: Vec<(String, Py<PyBytes>)>,
    /// The shard.
    pub shard: u32,
    /// The position in the shard.
    pub position: u64,
    /// When it was published, in seconds since the epoch.
    pub timestamp: Option<f64>,
}

#[pymethods]
impl Message_ {
    /// `shard:position`, which `from_("position", …)` takes.
    fn position_string(&self) -> String {
        format!("{}:{}", self.shard, self.position)
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        format!(
            "Message(shard={}, position={}, value=<{} bytes>)",
            self.shard,
            self.position,
            self.value.bind(py).get().data.len()
        )
    }
}

pub fn meta_to_py<'py>(py: Python<'py>, m: &bindery::ObjectMeta) -> PyResult<Bound<'py, PyAny>> {
    Ok(Bound::new(py, meta(m))?.into_any())
}

pub fn object_to_py(py: Python<'_>, o: bindery::ObjectData) -> PyResult<Bound<'_, PyAny>> {
    let out = ObjectData {
        meta: Py::new(py, meta(&o.meta))?,
        data: Py::new(py, Buffer::new(o.data))?,
    };
    Ok(Bound::new(py, out)?.into_any())
}

pub fn entry_to_py<'py>(py: Python<'py>, e: &ListEntry) -> PyResult<Bound<'py, PyAny>> {
    let item = match e {
        ListEntry::Object(m) => ListItem {
            path: m.path.clone(),
            is_prefix: false,
            meta: Some(Py::new(py, meta(m))?),
        },
        ListEntry::Prefix(p) => ListItem {
            path: p.clone(),
            is_prefix: true,
            meta: None,
        },
    };
    Ok(Bound::new(py, item)?.into_any())
}

pub fn call_to_py(py: Python<'_>, o: bindery::CallOutput) -> PyResult<Bound<'_, PyAny>> {
    let out = CallOutput {
        status: o.status,
        metadata: o.metadata,
        body: Py::new(py, Buffer::new(o.body))?,
    };
    Ok(Bound::new(py, out)?.into_any())
}

pub fn message_to_py<'py>(py: Python<'py>, m: &Message) -> PyResult<Bound<'py, PyAny>> {
    let out = Message_ {
        value: Py::new(py, Buffer::new(m.value.clone()))?,
        key: m.key.as_ref().map(|k| PyBytes::new(py, k).unbind()),
        headers: m
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), PyBytes::new(py, v).unbind()))
            .collect(),
        shard: m.shard,
        position: m.position,
        timestamp: seconds(m.timestamp),
    };
    Ok(Bound::new(py, out)?.into_any())
}

pub fn shards_to_py<'py>(py: Python<'py>, shards: &[bindery::ShardInfo]) -> PyResult<Bound<'py, PyAny>> {
    let out = PyList::empty(py);
    for s in shards {
        let d = PyDict::new(py);
        d.set_item("id", s.id)?;
        d.set_item("first", s.first)?;
        d.set_item("next", s.next)?;
        out.append(d)?;
    }
    Ok(out.into_any())
}

pub fn schema_to_py<'py>(py: Python<'py>, s: &bindery::TableSchema) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("text", s.to_string())?;
    d.set_item("key", s.key.clone())?;
    let cols = PyList::empty(py);
    for c in &s.columns {
        let col = PyDict::new(py);
        col.set_item("name", &c.name)?;
        col.set_item("type", c.column_type.to_string())?;
        col.set_item("nullable", c.nullable)?;
        col.set_item("read_only", c.read_only)?;
        cols.append(col)?;
    }
    d.set_item("columns", cols)?;
    d.set_item("arrow", s.to_arrow().as_ref().to_pyarrow(py)?)?;
    if let Some(v) = &s.version {
        d.set_item("version", v.number)?;
        d.set_item("time", v.time_ms().map(|ms| ms as f64 / 1000.0))?;
    }
    Ok(d.into_any())
}

/// A finished `do_async` request's result, as `do()` would have returned it.
pub fn done_to_py(py: Python<'_>, done: Done) -> PyResult<Bound<'_, PyAny>> {
    match done {
        Done::Meta(m) => meta_to_py(py, &m),
        Done::Object(o) => object_to_py(py, o),
        Done::Deleted | Done::Applied => Ok(py.None().into_bound(py)),
        Done::Listed(entries) => {
            let out = PyList::empty(py);
            for e in &entries {
                out.append(entry_to_py(py, e)?)?;
            }
            Ok(out.into_any())
        }
        Done::Published(p) => Ok(p.into_pyobject(py)?.into_any()),
        Done::Shards(s) => shards_to_py(py, &s),
        Done::Written(n) => Ok(n.into_pyobject(py)?.into_any()),
        Done::Batches(batches) => {
            let list = PyList::empty(py);
            for b in &batches {
                list.append(b.to_pyarrow(py)?)?;
            }
            Ok(list.into_any())
        }
        Done::Schema(s) => schema_to_py(py, &s),
        Done::Called(o) => call_to_py(py, o),
        Done::Revisions(r) => crate::version::revisions_to_py(py, &r),
        Done::Tag(t) => crate::version::tag_to_py(py, &t),
        Done::Tags(t) => crate::version::tags_to_py(py, &t),
        Done::Diff(d) => crate::version::diff_to_py(py, &d),
    }
}

/// Bytes from `bytes`, `bytearray`, `memoryview`, a `Buffer` (shared, no copy) or `str` (UTF-8).
pub fn py_to_bytes(o: &Bound<'_, PyAny>) -> PyResult<Bytes> {
    if let Ok(b) = o.cast::<Buffer>() {
        return Ok(b.get().data.clone());
    }
    if let Ok(s) = o.cast::<PyString>() {
        return Ok(Bytes::from(s.to_str()?.to_string()));
    }
    if let Ok(b) = o.cast::<PyBytes>() {
        return Ok(Bytes::copy_from_slice(b.as_bytes()));
    }
    if let Ok(buf) = pyo3::buffer::PyBuffer::<u8>::get(o) {
        return Ok(Bytes::from(buf.to_vec(o.py())?));
    }
    Err(PyTypeError::new_err(format!(
        "expected bytes, bytearray, memoryview, str or bindery.Buffer, not {}",
        o.get_type().name()?
    )))
}

/// Keys of rows: each a list of the key columns' values.
pub fn py_keys(keys: &[Vec<Bound<'_, PyAny>>]) -> PyResult<Vec<Vec<Value>>> {
    keys.iter().map(|k| k.iter().map(py_to_value).collect()).collect()
}

/// A literal of the filter language from a Python value (None, bool, int, float, str).
pub fn py_to_value(o: &Bound<'_, PyAny>) -> PyResult<Value> {
    if o.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = o.cast::<pyo3::types::PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = o.extract::<i64>() {
        return Ok(Value::Int(i));
    }
    if let Ok(f) = o.extract::<f64>() {
        return Ok(Value::Float(f));
    }
    if let Ok(s) = o.extract::<String>() {
        return Ok(Value::Str(s));
    }
    Err(PyTypeError::new_err(format!(
        "a key or parameter must be None, bool, int, float or str, not {}",
        o.get_type().name()?
    )))
}

/// A message to publish: a `bindery.Message`, or just its value.
pub fn py_to_message(o: &Bound<'_, PyAny>) -> PyResult<Message> {
    if let Ok(m) = o.cast::<crate::convert::Message_>() {
        let m = m.get();
        let py = o.py();
        let mut out = Message::new(m.value.bind(py).get().data.clone());
        out.key = m.key.as_ref().map(|k| Bytes::copy_from_slice(k.as_bytes(py)));
        out.headers = m
            .headers
            .iter()
            .map(|(k, v)| (k.clone(), Bytes::copy_from_slice(v.as_bytes(py))))
            .collect();
        return Ok(out);
    }
    if let Ok(d) = o.cast::<PyDict>() {
        let value = d
            .get_item("value")?
            .ok_or_else(|| PyTypeError::new_err("a message dict needs 'value'"))?;
        let mut out = Message::new(py_to_bytes(&value)?);
        if let Some(k) = d.get_item("key")? {
            if !k.is_none() {
                out.key = Some(py_to_bytes(&k)?);
            }
        }
        if let Some(h) = d.get_item("headers")? {
            if let Ok(map) = h.cast::<PyDict>() {
                for (k, v) in map.iter() {
                    out.headers.push((k.extract::<String>()?, py_to_bytes(&v)?));
                }
            } else {
                for pair in h.try_iter()? {
                    let (k, v): (String, Bound<'_, PyAny>) = pair?.extract()?;
                    out.headers.push((k, py_to_bytes(&v)?));
                }
            }
        }
        return Ok(out);
    }
    Ok(Message::new(py_to_bytes(o)?))
}

/// Batches from a `pyarrow.RecordBatch`, a `pyarrow.Table`, or a list of batches.
pub fn py_to_batches(o: &Bound<'_, PyAny>) -> PyResult<Vec<RecordBatch>> {
    if let Ok(b) = RecordBatch::from_pyarrow_bound(o) {
        return Ok(vec![b]);
    }
    if let Ok(list) = o.cast::<PyList>() {
        return list.iter().map(|b| RecordBatch::from_pyarrow_bound(&b)).collect();
    }
    if o.hasattr("to_batches")? {
        let batches = o.call_method0("to_batches")?;
        return batches
            .try_iter()?
            .map(|b| RecordBatch::from_pyarrow_bound(&b?))
            .collect();
    }
    Err(PyTypeError::new_err(format!(
        "batches must be a pyarrow.RecordBatch, a pyarrow.Table or a list of batches, not {}",
        o.get_type().name()?
    )))
}
