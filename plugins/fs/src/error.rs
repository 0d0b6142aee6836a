//! Maps `std::io::Error` to bindery error kinds.

use std::io;

use bindery_core::Error;

/// Maps an I/O error met while doing `what` to a bindery error.
pub fn map(err: io::Error, what: &str) -> Error {
    Error::io(err, what)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::ErrorKind;

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
