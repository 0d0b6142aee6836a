//! The log driver's errors: I/O errors map by the core's `Error::io`; damage found in a log
//! is its own.

use bindery_core::Error;

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
        let e = Error::io(missing, "open the segment 'nope'");
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
        assert_eq!(Error::io(there, "create").kind(), ErrorKind::AlreadyExists);
        let not_a_dir = std::fs::create_dir(dir.path().join("nope/deeper")).unwrap_err();
        assert_eq!(Error::io(not_a_dir, "create").kind(), ErrorKind::NotFound);
        assert_eq!(corrupt("bad crc").kind(), ErrorKind::Internal);
    }
}
