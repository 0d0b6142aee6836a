//! Maps `std::io::Error` to bindery error kinds.

use std::io;

use bindery_core::{Error, ErrorKind};

/// Maps an I/O error met while doing `what` to a bindery error.
pub fn map(err: io::Error, what: &str) -> Error {
    let kind = match err.kind() {
        io::ErrorKind::NotFound => ErrorKind::NotFound,
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => ErrorKind::PermissionDenied,
        io::ErrorKind::AlreadyExists => ErrorKind::AlreadyExists,
        io::ErrorKind::NotADirectory
        | io::ErrorKind::IsADirectory
        | io::ErrorKind::InvalidFilename
        | io::ErrorKind::InvalidInput => ErrorKind::InvalidInput,
        io::ErrorKind::StorageFull
        | io::ErrorKind::QuotaExceeded
        | io::ErrorKind::TimedOut
        | io::ErrorKind::Interrupted
        | io::ErrorKind::ResourceBusy => ErrorKind::Unavailable,
        _ => ErrorKind::Internal,
    };
    Error::new(kind, format!("{what}: {err}")).with_source(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_by_meaning() {
        let e = map(io::Error::from(io::ErrorKind::NotFound), "open 'a'");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        let e = map(io::Error::from_raw_os_error(libc::ENOSPC), "write 'a'");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        let e = map(io::Error::from_raw_os_error(libc::EACCES), "open 'a'");
        assert_eq!(e.kind(), ErrorKind::PermissionDenied);
    }
}
