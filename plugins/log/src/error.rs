//! The log driver's errors: I/O errors by the core's mapping, and damage found in a log.

use std::io;

use bindery_core::Error;

/// Maps an I/O error met while doing `what` (the core's mapping, shared by every driver that
/// works on files).
pub fn map(err: io::Error, what: &str) -> Error {
    Error::io(err, what)
}

/// A record that fails its checksum (or is cut short) where the log must be whole.
pub fn corrupt(what: &str) -> Error {
    Error::internal(format!("the log is corrupt: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::ErrorKind;

    #[test]
    fn real_io_errors_map_to_their_kinds_and_keep_what_was_done() {
        let dir = tempfile::tempdir().unwrap();
        let missing = std::fs::File::open(dir.path().join("nope")).unwrap_err();
        let e = map(missing, "open the segment 'nope'");
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(
            e.message().starts_with("open the segment 'nope': No such file"),
            "{e}"
        );
        let there = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(dir.path())
            .unwrap_err();
        assert_eq!(map(there, "create").kind(), ErrorKind::AlreadyExists);
        let not_a_dir = std::fs::create_dir(dir.path().join("nope/deeper")).unwrap_err();
        assert_eq!(map(not_a_dir, "create").kind(), ErrorKind::NotFound);
        assert_eq!(corrupt("bad crc").kind(), ErrorKind::Internal);
    }
}
