//! Maps PostgreSQL's errors (tokio-postgres) to bindery's kinds: by SQLSTATE for what the
//! server answered, `Unavailable` for a connection that failed or closed, `InvalidInput` for a
//! certificate that does not verify.

use bindery_core::{Error, ErrorKind};
use tokio_postgres::error::SqlState;

/// Maps a PostgreSQL error; `what` says what was being done.
pub(crate) fn map(e: tokio_postgres::Error, what: &str) -> Error {
    let message = match e.as_db_error() {
        Some(db) => format!("cannot {what}: {}", db.message()),
        None => {
            // The causes say why (a refused connection, a certificate that does not verify).
            let mut text = format!("cannot {what}: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        }
    };
    if e.code().is_none() && message.contains("certificate") {
        return Error::invalid_input(format!(
            "{message} (the server's TLS certificate is not signed by tls.ca_file's CA, or does not name the host)"
        ))
        .with_source(e);
    }
    if e.code() == Some(&SqlState::READ_ONLY_SQL_TRANSACTION) {
        return Error::invalid_input(format!(
            "cannot {what}: the query would write, and `sql` runs read-only queries only"
        ));
    }
    let kind = e.code().map_or(ErrorKind::Unavailable, kind_of); // no SQLSTATE: the connection failed or closed
    Error::new(kind, message).with_source(e)
}

/// The kind of a PostgreSQL error by its SQLSTATE.
fn kind_of(c: &SqlState) -> ErrorKind {
    use SqlState as S;
    let one_of = |states: &[S]| states.contains(c);
    if *c == S::UNDEFINED_TABLE {
        ErrorKind::NotFound
    } else if one_of(&[S::DUPLICATE_TABLE, S::UNIQUE_VIOLATION]) {
        ErrorKind::AlreadyExists
    } else if one_of(&[S::INSUFFICIENT_PRIVILEGE, S::INVALID_PASSWORD]) {
        ErrorKind::PermissionDenied
    } else if one_of(&[
        S::T_R_SERIALIZATION_FAILURE,
        S::T_R_DEADLOCK_DETECTED,
        S::ADMIN_SHUTDOWN,
        S::CANNOT_CONNECT_NOW,
        S::TOO_MANY_CONNECTIONS,
    ]) {
        ErrorKind::Unavailable
    } else if ["22", "23", "42"].iter().any(|class| c.code().starts_with(class)) {
        // Data exceptions, integrity constraints, syntax errors and access rules: the request's.
        ErrorKind::InvalidInput
    } else {
        ErrorKind::Internal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_refused_connection_is_unavailable_and_says_why() {
        // A port nothing listens on: the error tokio-postgres really gives.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("postgres://u@127.0.0.1:{port}/db?connect_timeout=5");
        let real = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .err()
            .unwrap();
        let e = map(real, "connect");
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_retryable());
        assert!(e.message().starts_with("cannot connect: "), "{e}");
        assert!(
            e.message().to_lowercase().contains("refused"),
            "names the cause: {e}"
        );
    }

    #[test]
    fn server_answers_map_by_sqlstate() {
        for (state, kind) in [
            (SqlState::UNDEFINED_TABLE, ErrorKind::NotFound),
            (SqlState::UNIQUE_VIOLATION, ErrorKind::AlreadyExists),
            (SqlState::DUPLICATE_TABLE, ErrorKind::AlreadyExists),
            (SqlState::INSUFFICIENT_PRIVILEGE, ErrorKind::PermissionDenied),
            (SqlState::T_R_SERIALIZATION_FAILURE, ErrorKind::Unavailable),
            (SqlState::TOO_MANY_CONNECTIONS, ErrorKind::Unavailable),
            (SqlState::INVALID_TEXT_REPRESENTATION, ErrorKind::InvalidInput),
            (SqlState::NOT_NULL_VIOLATION, ErrorKind::InvalidInput),
            (SqlState::SYNTAX_ERROR, ErrorKind::InvalidInput),
            (SqlState::DISK_FULL, ErrorKind::Internal),
        ] {
            assert_eq!(kind_of(&state), kind, "{}", state.code());
        }
    }
}
