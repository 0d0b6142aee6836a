//! HTTP answers and transport failures as bindery errors.

use bindery_core::{Error, ErrorKind};

/// The error for an answer of status `status` (400 or more); `body` is its start, for the message.
pub fn from_status(status: u16, method: &str, url: &str, body: &str) -> Error {
    let kind = match status {
        404 | 410 => ErrorKind::NotFound,
        409 => ErrorKind::AlreadyExists,
        412 => ErrorKind::ConditionFailed,
        401 | 403 => ErrorKind::PermissionDenied,
        405 | 501 => ErrorKind::Unsupported,
        408 | 504 => ErrorKind::Timeout,
        429 | 502 | 503 => ErrorKind::Unavailable,
        s if s >= 500 => ErrorKind::Unavailable,
        _ => ErrorKind::InvalidInput,
    };
    let body = body.trim();
    let said = if body.is_empty() {
        String::new()
    } else {
        format!(": {body}")
    };
    // A server error may pass (a restart, an overload); a client error will not.
    let retryable = matches!(status, 408 | 429 | 502 | 503 | 504) || status >= 500 && status != 501;
    let url = bindery_core::path::redact_url(url);
    Error::new(kind, format!("{method} {url} answered {status}{said}")).set_retryable(retryable)
}

/// The error for a request that got no answer.
pub fn from_transport(e: &hyper_util::client::legacy::Error, method: &str, url: &str) -> Error {
    let url = bindery_core::path::redact_url(url);
    let mut cause = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        cause.push_str(": ");
        cause.push_str(&s.to_string());
        source = s.source();
    }
    Error::new(
        ErrorKind::Unavailable,
        format!("{method} {url} got no answer: {cause}"),
    )
    .set_retryable(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_map_to_kinds() {
        let k = |s| from_status(s, "GET", "http://h/x", "").kind();
        assert_eq!(k(404), ErrorKind::NotFound);
        assert_eq!(k(409), ErrorKind::AlreadyExists);
        assert_eq!(k(412), ErrorKind::ConditionFailed);
        assert_eq!(k(403), ErrorKind::PermissionDenied);
        assert_eq!(k(422), ErrorKind::InvalidInput);
        assert_eq!(k(503), ErrorKind::Unavailable);
        assert_eq!(k(504), ErrorKind::Timeout);
        assert!(from_status(500, "GET", "u", "").is_retryable());
        assert!(!from_status(400, "GET", "u", "").is_retryable());
        assert!(!from_status(501, "GET", "u", "").is_retryable());
        let e = from_status(422, "POST", "http://h/users", "  name is required\n");
        assert_eq!(e.message(), "POST http://h/users answered 422: name is required");
    }
}
