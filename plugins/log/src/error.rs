//! Maps `std::io::Error` to bindery error kinds.

use std::io;

use bindery_core::{Error, ErrorKind};

/// Maps an I/O error met while doing `what`.
pub fn map(err: io::Error, what: &str) -> Error {
    let kind = match err.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded | io::ErrorKind::Interrupted => {
            ErrorKind::Unavailable
        }
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("{what}: {err}")).with_source(err)
}

/// A record that fails its checksum (or is cut short) where the log must be whole.
pub fn corrupt(what: &str) -> Error {
    Error::internal(format!("the log is corrupt: {what}"))
}
