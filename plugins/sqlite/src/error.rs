//! Maps SQLite's errors (rusqlite) to bindery's kinds.

use bindery_core::Error;

/// Maps a SQLite error; `what` says what was being done.
pub(crate) fn map(e: rusqlite::Error, what: &str) -> Error {
    use rusqlite::ErrorCode::*;
    let code = e.sqlite_error_code();
    let message = format!("cannot {what}: {e}");
    match code {
        Some(DatabaseBusy | DatabaseLocked) => Error::unavailable(message),
        Some(ConstraintViolation) => Error::invalid_input(message),
        Some(ReadOnly | PermissionDenied) => Error::new(bindery_core::ErrorKind::PermissionDenied, message),
        Some(CannotOpen | NotADatabase | DiskFull | SystemIoFailure) => Error::unavailable(message),
        _ => Error::internal(message),
    }
    .with_source(e)
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::ErrorKind;
    use rusqlite::{Connection, OpenFlags};

    #[test]
    fn real_sqlite_errors_map_to_their_kinds() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("t.db");
        let conn = Connection::open(&file).unwrap();
        conn.execute_batch("CREATE TABLE t (k INTEGER PRIMARY KEY NOT NULL)")
            .unwrap();
        conn.execute("INSERT INTO t VALUES (1)", []).unwrap();
        let dup = conn.execute("INSERT INTO t VALUES (1)", []).unwrap_err();
        let e = map(dup, "write to 't'");
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(
            e.message()
                .starts_with("cannot write to 't': UNIQUE constraint failed"),
            "{e}"
        );

        let ro = Connection::open_with_flags(&file, OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
        let refused = ro.execute("INSERT INTO t VALUES (2)", []).unwrap_err();
        assert_eq!(map(refused, "write").kind(), ErrorKind::PermissionDenied);

        // A writer holding the lock: another connection that does not wait is told busy.
        conn.execute_batch("BEGIN IMMEDIATE").unwrap();
        let other = Connection::open(&file).unwrap();
        let busy = other.execute("INSERT INTO t VALUES (3)", []).unwrap_err();
        let e = map(busy, "write");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());

        std::fs::write(dir.path().join("junk.db"), vec![7u8; 4096]).unwrap();
        let junk = Connection::open(dir.path().join("junk.db")).unwrap();
        let not_db = junk.execute_batch("SELECT * FROM sqlite_master").unwrap_err();
        assert_eq!(map(not_db, "open").kind(), ErrorKind::Unavailable);

        let syntax = conn.execute_batch("SELEC 1").unwrap_err();
        assert_eq!(map(syntax, "read").kind(), ErrorKind::Internal);
    }
}
