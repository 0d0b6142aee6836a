//! One exception class per error kind, under `bindery.Error`.

use pyo3::create_exception;
use pyo3::exceptions::PyException;
use pyo3::prelude::*;

create_exception!(
    bindery,
    Error,
    PyException,
    "A bindery error: `kind`, `binding`, `driver`, `operation`, `path`, `retryable`."
);
create_exception!(
    bindery,
    NotFound,
    Error,
    "The object, row, table or stream does not exist."
);
create_exception!(bindery, AlreadyExists, Error, "It exists already.");
create_exception!(
    bindery,
    ConditionFailed,
    Error,
    "A condition did not hold; nothing was written."
);
create_exception!(
    bindery,
    Unsupported,
    Error,
    "The driver (or its backend) cannot do this."
);
create_exception!(
    bindery,
    InvalidInput,
    Error,
    "The request is wrong: a bad path, filter, value or option."
);
create_exception!(
    bindery,
    PermissionDenied,
    Error,
    "The backend refused the credentials."
);
create_exception!(
    bindery,
    Unavailable,
    Error,
    "The backend cannot be reached now (usually retryable)."
);
create_exception!(bindery, Timeout, Error, "No answer in time.");
create_exception!(
    bindery,
    Cancelled,
    Error,
    "The request was cancelled, or the host stopped."
);
create_exception!(bindery, Internal, Error, "A bug in bindery or a driver.");

/// The Python exception for a bindery error, with its context as attributes.
pub fn to_py(py: Python<'_>, e: &bindery::Error) -> PyErr {
    use bindery::ErrorKind as K;
    // The class already says the kind: the text leaves out the `Kind: ` that Display puts
    // first (`bindery.NotFound: no such object …`, not `NotFound: NotFound: …`).
    let full = e.to_string();
    let kind = format!("{:?}: ", e.kind());
    let message = full.strip_prefix(&kind).unwrap_or(&full).to_string();
    let err = match e.kind() {
        K::NotFound => NotFound::new_err(message),
        K::AlreadyExists => AlreadyExists::new_err(message),
        K::ConditionFailed => ConditionFailed::new_err(message),
        K::Unsupported => Unsupported::new_err(message),
        K::InvalidInput => InvalidInput::new_err(message),
        K::PermissionDenied => PermissionDenied::new_err(message),
        K::Unavailable => Unavailable::new_err(message),
        K::Timeout => Timeout::new_err(message),
        K::Cancelled => Cancelled::new_err(message),
        _ => Internal::new_err(message),
    };
    let value = err.value(py);
    let _ = value.setattr("kind", format!("{:?}", e.kind()));
    let _ = value.setattr("message", e.message());
    let _ = value.setattr("binding", e.binding());
    let _ = value.setattr("driver", e.driver());
    let _ = value.setattr("operation", e.operation());
    let _ = value.setattr("path", e.path());
    let _ = value.setattr("retryable", e.is_retryable());
    err
}

/// Adds the classes to the module.
pub fn register(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    m.add("Error", py.get_type::<Error>())?;
    m.add("NotFound", py.get_type::<NotFound>())?;
    m.add("AlreadyExists", py.get_type::<AlreadyExists>())?;
    m.add("ConditionFailed", py.get_type::<ConditionFailed>())?;
    m.add("Unsupported", py.get_type::<Unsupported>())?;
    m.add("InvalidInput", py.get_type::<InvalidInput>())?;
    m.add("PermissionDenied", py.get_type::<PermissionDenied>())?;
    m.add("Unavailable", py.get_type::<Unavailable>())?;
    m.add("Timeout", py.get_type::<Timeout>())?;
    m.add("Cancelled", py.get_type::<Cancelled>())?;
    m.add("Internal", py.get_type::<Internal>())?;
    Ok(())
}
