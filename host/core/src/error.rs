//! The one error type of bindery.
//!
//! Every failure a function, a driver or the host reports is an [`Error`]: a [`ErrorKind`]
//! that says what went wrong in terms a caller can act on, a message, the context it happened
//! in (binding, driver, operation, path), whether retrying may help, and an optional source.
//! Drivers map their native errors to it in their own `error.rs`; the same record crosses the
//! plugin ABI (`schemas/bindery.capnp`, `ErrorRecord`).

use std::fmt;
use std::sync::Arc;

/// What went wrong, by meaning. New kinds may be added; match with a `_` arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The object, table, stream or binding does not exist.
    NotFound,
    /// A create-only operation found the target already there.
    AlreadyExists,
    /// A condition (if-match, if-none-match, a write condition) did not hold; nothing was applied.
    ConditionFailed,
    /// The driver (or the host on its behalf) cannot do this operation or option.
    Unsupported,
    /// The request itself is wrong: a bad path, option, filter or spec.
    InvalidInput,
    /// The backend refused the credentials or the operation.
    PermissionDenied,
    /// The backend could not be reached or is overloaded; retrying may help.
    Unavailable,
    /// The operation did not finish in time; retrying may help.
    Timeout,
    /// The caller went away before the operation finished.
    Cancelled,
    /// A bug or an unexpected state, in bindery or in a driver.
    Internal,
}

impl ErrorKind {
    /// Every kind, in the order of the wire enum.
    pub const ALL: [ErrorKind; 10] = [
        ErrorKind::NotFound,
        ErrorKind::AlreadyExists,
        ErrorKind::ConditionFailed,
        ErrorKind::Unsupported,
        ErrorKind::InvalidInput,
        ErrorKind::PermissionDenied,
        ErrorKind::Unavailable,
        ErrorKind::Timeout,
        ErrorKind::Cancelled,
        ErrorKind::Internal,
    ];

    /// The kind's name as it appears in messages and in the Python exception classes.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "NotFound",
            ErrorKind::AlreadyExists => "AlreadyExists",
            ErrorKind::ConditionFailed => "ConditionFailed",
            ErrorKind::Unsupported => "Unsupported",
            ErrorKind::InvalidInput => "InvalidInput",
            ErrorKind::PermissionDenied => "PermissionDenied",
            ErrorKind::Unavailable => "Unavailable",
            ErrorKind::Timeout => "Timeout",
            ErrorKind::Cancelled => "Cancelled",
            ErrorKind::Internal => "Internal",
        }
    }

    /// Whether an error of this kind is retryable unless the driver says otherwise.
    pub fn retryable_by_default(self) -> bool {
        matches!(self, ErrorKind::Unavailable | ErrorKind::Timeout)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The error of every bindery operation.
///
/// Built fluently: `Error::new(ErrorKind::NotFound, "no such object").with_path("a/b")`.
/// Cloning is cheap (the source is shared), so one error can be reported to every waiter.
#[derive(Clone)]
pub struct Error {
    // Boxed so that `Result<T, Error>` stays small on the hot path.
    inner: Box<Inner>,
}

#[derive(Clone)]
struct Inner {
    kind: ErrorKind,
    message: String,
    retryable: bool,
    binding: Option<String>,
    driver: Option<String>,
    operation: Option<String>,
    path: Option<String>,
    source: Option<Arc<dyn std::error::Error + Send + Sync>>,
}

/// `Result` with bindery's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A new error; retryable if the kind is retryable by default.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            inner: Box::new(Inner {
                kind,
                message: message.into(),
                retryable: kind.retryable_by_default(),
                binding: None,
                driver: None,
                operation: None,
                path: None,
                source: None,
            }),
        }
    }

    /// `NotFound` for a path.
    pub fn not_found(what: impl Into<String>) -> Self {
        Error::new(ErrorKind::NotFound, what)
    }

    /// `InvalidInput` with a message.
    pub fn invalid_input(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// `Unsupported` for an operation (or operation option).
    pub fn unsupported(operation: &str) -> Self {
        Error::new(
            ErrorKind::Unsupported,
            format!("the driver does not support '{operation}'"),
        )
        .with_operation(operation)
    }

    /// `ConditionFailed` with a message.
    pub fn condition_failed(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::ConditionFailed, message)
    }

    /// `Internal` with a message.
    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Internal, message)
    }

    /// `Unavailable` (retryable) with a message.
    pub fn unavailable(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Unavailable, message)
    }

    /// An I/O error met while doing `what`, by its meaning: a missing file is `NotFound`, a
    /// full disk or an interrupted call `Unavailable` (retryable), a refused one
    /// `PermissionDenied`.
    pub fn io(err: std::io::Error, what: &str) -> Error {
        use std::io::ErrorKind as Io;
        let kind = match err.kind() {
            Io::NotFound => ErrorKind::NotFound,
            Io::PermissionDenied | Io::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
            Io::AlreadyExists => ErrorKind::AlreadyExists,
            Io::NotADirectory | Io::IsADirectory | Io::InvalidFilename | Io::InvalidInput => {
                ErrorKind::InvalidInput
            }
            Io::StorageFull | Io::QuotaExceeded | Io::TimedOut | Io::Interrupted | Io::ResourceBusy => {
                ErrorKind::Unavailable
            }
            _ => ErrorKind::Internal,
        };
        Error::new(kind, format!("{what}: {err}")).with_source(err)
    }

    /// The kind.
    pub fn kind(&self) -> ErrorKind {
        self.inner.kind
    }
    /// The message, without context.
    pub fn message(&self) -> &str {
        &self.inner.message
    }
    /// Whether retrying the same request may succeed.
    pub fn is_retryable(&self) -> bool {
        self.inner.retryable
    }
    /// The binding the request was for, when known.
    pub fn binding(&self) -> Option<&str> {
        self.inner.binding.as_deref()
    }
    /// The driver that served the binding, when known.
    pub fn driver(&self) -> Option<&str> {
        self.inner.driver.as_deref()
    }
    /// The operation (`get`, `put`, `list`, …), when known.
    pub fn operation(&self) -> Option<&str> {
        self.inner.operation.as_deref()
    }
    /// The path the operation was on, when known.
    pub fn path(&self) -> Option<&str> {
        self.inner.path.as_deref()
    }

    /// Sets whether the error is retryable.
    #[must_use]
    pub fn set_retryable(mut self, retryable: bool) -> Self {
        self.inner.retryable = retryable;
        self
    }
    /// Names the binding, unless one is named already.
    #[must_use]
    pub fn with_binding(mut self, binding: impl Into<String>) -> Self {
        self.inner.binding.get_or_insert_with(|| binding.into());
        self
    }
    /// Names the driver, unless one is named already.
    #[must_use]
    pub fn with_driver(mut self, driver: impl Into<String>) -> Self {
        self.inner.driver.get_or_insert_with(|| driver.into());
        self
    }
    /// Names the operation, unless one is named already.
    #[must_use]
    pub fn with_operation(mut self, operation: impl Into<String>) -> Self {
        self.inner.operation.get_or_insert_with(|| operation.into());
        self
    }
    /// Names the path, unless one is named already.
    #[must_use]
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.inner.path.get_or_insert_with(|| path.into());
        self
    }
    /// Attaches the underlying error.
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.inner.source = Some(Arc::new(source));
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.inner.kind, self.inner.message)?;
        let mut ctx = Vec::new();
        if let Some(b) = &self.inner.binding {
            ctx.push(format!("binding '{b}'"));
        }
        if let Some(d) = &self.inner.driver {
            ctx.push(format!("driver '{d}'"));
        }
        if let Some(o) = &self.inner.operation {
            ctx.push(format!("operation '{o}'"));
        }
        if let Some(p) = &self.inner.path {
            ctx.push(format!("path '{p}'"));
        }
        if !ctx.is_empty() {
            write!(f, " ({})", ctx.join(", "))?;
        }
        if let Some(s) = &self.inner.source {
            // Most messages already quote their source; it is said once.
            let text = s.to_string();
            if !self.inner.message.contains(&text) {
                write!(f, ": {text}")?;
            }
        }
        if self.inner.retryable {
            f.write_str(" [retryable]")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.inner
            .source
            .as_deref()
            .map(|s| s as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_context_and_keeps_first_binding() {
        let e = Error::new(ErrorKind::NotFound, "no such object")
            .with_binding("obj")
            .with_binding("other")
            .with_driver("fs")
            .with_operation("get")
            .with_path("a/b");
        assert_eq!(
            e.to_string(),
            "NotFound: no such object (binding 'obj', driver 'fs', operation 'get', path 'a/b')"
        );
        assert!(!e.is_retryable());
        assert!(Error::unavailable("down").is_retryable());
    }
}
