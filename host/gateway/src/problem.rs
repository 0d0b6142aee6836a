//! Errors as problem details (RFC 9457, `application/problem+json`): `type`, `title`,
//! `status`, `detail`, and bindery's `kind`, `binding`, `operation` and `path` where known.
//!
//! | kind | status |
//! |---|---|
//! | `NotFound` | 404 |
//! | `AlreadyExists` | 409 |
//! | `ConditionFailed` | 412 |
//! | `InvalidInput` | 400 |
//! | `PermissionDenied` | 403 |
//! | `Unsupported` | 501 |
//! | `Unavailable` | 503, with `Retry-After: 1` |
//! | `Timeout` | 504 |
//! | `Cancelled` | 503 |
//! | `Internal` | 500 |
//!
//! The gateway's own refusals: 401 (no token, or a bad one; with `WWW-Authenticate`), 403 (a
//! scope missing), 404 (no such endpoint or binding), 413 (a body over its limit), 416 (a
//! range outside the object). A binding's processors' refusals are `InvalidInput` (400),
//! except `maxSize`'s, 413, and `contentTypes`', 415.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use bindery::{Error, ErrorKind};

/// A problem to answer (boxed: it travels in every handler's `Err`).
#[derive(Debug)]
pub struct Problem(Box<Details>);

#[derive(Debug)]
struct Details {
    status: StatusCode,
    kind: Option<ErrorKind>,
    detail: String,
    binding: Option<String>,
    operation: Option<String>,
    path: Option<String>,
    authenticate: Option<String>,
}

impl Problem {
    /// A problem with a status and a detail.
    pub fn new(status: StatusCode, detail: impl Into<String>) -> Problem {
        Problem(Box::new(Details {
            status,
            kind: None,
            detail: detail.into(),
            binding: None,
            operation: None,
            path: None,
            authenticate: None,
        }))
    }

    /// The detail.
    pub fn detail(&self) -> &str {
        &self.0.detail
    }

    /// 404.
    pub fn not_found(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::NOT_FOUND, detail)
    }

    /// 400.
    pub fn bad_request(detail: impl Into<String>) -> Problem {
        Problem::new(StatusCode::BAD_REQUEST, detail)
    }

    /// 413.
    pub fn too_large(limit: u64, what: &str) -> Problem {
        Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("{what} is larger than the gateway takes ({limit} bytes: spec.gateway.limits)"),
        )
    }

    /// 401, with the challenge to send.
    pub fn unauthorized(detail: impl Into<String>, challenge: impl Into<String>) -> Problem {
        let mut p = Problem::new(StatusCode::UNAUTHORIZED, detail);
        p.0.authenticate = Some(challenge.into());
        p
    }

    /// The status answered.
    pub fn status(&self) -> StatusCode {
        self.0.status
    }

    /// The bindery kind, when the problem is a bindery error.
    pub fn kind(&self) -> Option<ErrorKind> {
        self.0.kind
    }
}

/// The status of a bindery error's kind.
pub fn status_of(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::AlreadyExists => StatusCode::CONFLICT,
        ErrorKind::ConditionFailed => StatusCode::PRECONDITION_FAILED,
        ErrorKind::InvalidInput => StatusCode::BAD_REQUEST,
        ErrorKind::PermissionDenied => StatusCode::FORBIDDEN,
        ErrorKind::Unsupported => StatusCode::NOT_IMPLEMENTED,
        ErrorKind::Unavailable | ErrorKind::Cancelled => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Timeout => StatusCode::GATEWAY_TIMEOUT,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl From<Error> for Problem {
    fn from(e: Error) -> Problem {
        use bindery_runtime::processors::Refusal;
        let refusal = std::error::Error::source(&e).and_then(|s| s.downcast_ref::<Refusal>());
        let status = match refusal {
            Some(Refusal::TooLarge) => StatusCode::PAYLOAD_TOO_LARGE,
            Some(Refusal::MediaType) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            _ => status_of(e.kind()),
        };
        Problem(Box::new(Details {
            status,
            kind: Some(e.kind()),
            detail: e.message().to_string(),
            binding: e.binding().map(str::to_string),
            operation: e.operation().map(str::to_string),
            path: e.path().map(str::to_string),
            authenticate: None,
        }))
    }
}

impl IntoResponse for Problem {
    fn into_response(self) -> Response {
        let p = *self.0;
        let title = match p.kind {
            Some(k) => k.as_str().to_string(),
            None => p.status.canonical_reason().unwrap_or("Error").to_string(),
        };
        let mut body = serde_json::json!({
            "type": "about:blank",
            "title": title,
            "status": p.status.as_u16(),
            "detail": p.detail,
        });
        let extra = [
            ("kind", p.kind.map(|k| k.as_str().to_string())),
            ("binding", p.binding),
            ("operation", p.operation),
            ("path", p.path),
        ];
        for (k, v) in extra {
            if let Some(v) = v {
                body[k] = serde_json::Value::String(v);
            }
        }
        let mut resp = (p.status, body.to_string()).into_response();
        let h = resp.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if p.status == StatusCode::SERVICE_UNAVAILABLE {
            h.insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if let Some(c) = p.authenticate.and_then(|c| HeaderValue::from_str(&c).ok()) {
            h.insert(header::WWW_AUTHENTICATE, c);
        }
        resp
    }
}
