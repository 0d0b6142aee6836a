//! Versions as Python values: revisions and tags as dicts (times in seconds since the Unix
//! epoch), a diff as a dict whose `patch` is a list of JSON Patch operations, a unified diff
//! (str), or None.

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyList};

use crate::convert::seconds;

pub fn revisions_to_py<'py>(py: Python<'py>, revs: &[bindery::Revision]) -> PyResult<Bound<'py, PyAny>> {
    let out = PyList::empty(py);
    for r in revs {
        let d = PyDict::new(py);
        d.set_item("id", &r.id)?;
        d.set_item("time", seconds(r.time))?;
        d.set_item("author", &r.author)?;
        d.set_item("message", &r.message)?;
        d.set_item("size", r.size)?;
        d.set_item("gen", &r.gen)?;
        d.set_item("deleted", r.deleted)?;
        out.append(d)?;
    }
    Ok(out.into_any())
}

pub fn tag_to_py<'py>(py: Python<'py>, t: &bindery::Tag) -> PyResult<Bound<'py, PyAny>> {
    let d = PyDict::new(py);
    d.set_item("name", &t.name)?;
    d.set_item("revision", &t.revision)?;
    d.set_item("description", &t.description)?;
    d.set_item("author", &t.author)?;
    d.set_item("time", seconds(t.time))?;
    Ok(d.into_any())
}

pub fn tags_to_py<'py>(py: Python<'py>, tags: &[bindery::Tag]) -> PyResult<Bound<'py, PyAny>> {
    let out = PyList::empty(py);
    for t in tags {
        out.append(tag_to_py(py, t)?)?;
    }
    Ok(out.into_any())
}

pub fn diff_to_py<'py>(py: Python<'py>, d: &bindery::Diff) -> PyResult<Bound<'py, PyAny>> {
    let out = PyDict::new(py);
    out.set_item("format", d.format.as_str())?;
    let patch = match d.format {
        bindery::DiffFormat::JsonPatch => py.import("json")?.call_method1("loads", (&d.patch,))?,
        bindery::DiffFormat::Unified => d.patch.clone().into_pyobject(py)?.into_any(),
        bindery::DiffFormat::Sizes => py.None().into_bound(py),
    };
    out.set_item("patch", patch)?;
    for (key, side) in [("from", &d.from), ("to", &d.to)] {
        match side {
            Some((size, gen)) => {
                let s = PyDict::new(py);
                s.set_item("size", size)?;
                s.set_item("gen", gen)?;
                out.set_item(key, s)?;
            }
            None => out.set_item(key, py.None())?,
        }
    }
    Ok(out.into_any())
}
