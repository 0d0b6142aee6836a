//! Maps S3's errors to bindery's kinds.
//!
//! | S3 answer | bindery |
//! |---|---|
//! | `NoSuchKey`, `NoSuchBucket`, `NoSuchUpload`, 404 | `NotFound` |
//! | `PreconditionFailed` (412), 304 Not Modified | `ConditionFailed` |
//! | `AccessDenied`, `InvalidAccessKeyId`, `SignatureDoesNotMatch`, expired tokens, 401/403 | `PermissionDenied` |
//! | `SlowDown`, throttling, `InternalError`, `ServiceUnavailable`, 429, 5xx, `ConditionalRequestConflict` (409) | `Unavailable`, retryable |
//! | `RequestTimeout`, 408, SDK timeouts | `Timeout`, retryable |
//! | `InvalidRange` (416), `EntityTooLarge`, `InvalidArgument`, `KeyTooLongError`, other 4xx | `InvalidInput` |
//! | `NotImplemented` (501) | `Unsupported` |
//! | connection refused or reset, truncated answers | `Unavailable`, retryable |

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use bindery_core::{Error, ErrorKind};

type HttpResponse = aws_sdk_s3::config::http::HttpResponse;

/// The bindery kind and retryable flag of an S3 error answer, by its code, else its status.
pub(crate) fn classify(status: u16, code: Option<&str>) -> (ErrorKind, bool) {
    use ErrorKind::*;
    let by_code = match code.unwrap_or("") {
        "NoSuchKey" | "NoSuchBucket" | "NoSuchUpload" | "NotFound" | "NoSuchVersion" => Some(NotFound),
        "PreconditionFailed" | "NotModified" => Some(ConditionFailed),
        "AccessDenied"
        | "InvalidAccessKeyId"
        | "SignatureDoesNotMatch"
        | "AllAccessDisabled"
        | "AccountProblem"
        | "InvalidToken"
        | "ExpiredToken"
        | "TokenRefreshRequired"
        | "Forbidden" => Some(PermissionDenied),
        "SlowDown"
        | "Throttling"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "TooManyRequests"
        | "ServiceUnavailable"
        | "InternalError"
        | "ConditionalRequestConflict"
        | "OperationAborted" => Some(Unavailable),
        "RequestTimeout" => Some(Timeout),
        "InvalidRange" | "EntityTooLarge" | "EntityTooSmall" | "InvalidArgument" | "KeyTooLongError"
        | "MetadataTooLarge" | "InvalidRequest" | "InvalidPart" | "InvalidPartOrder"
        | "InvalidBucketName" | "MalformedXML" | "InvalidDigest" | "BadDigest" => Some(InvalidInput),
        "NotImplemented" => Some(Unsupported),
        "BucketAlreadyExists" | "BucketAlreadyOwnedByYou" => Some(AlreadyExists),
        _ => None,
    };
    let kind = by_code.unwrap_or(match status {
        304 | 412 => ConditionFailed,
        404 => NotFound,
        401 | 403 => PermissionDenied,
        408 => Timeout,
        409 | 429 | 500 | 502 | 503 | 504 => Unavailable,
        501 => Unsupported,
        400..=499 => InvalidInput,
        _ => Internal,
    });
    (kind, kind.retryable_by_default())
}

/// Maps an error of the AWS SDK met while doing `what` (`get 'a/b'`) to a bindery error.
pub fn map_sdk_error<E>(err: SdkError<E, HttpResponse>, what: &str) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, message) = match &err {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status().as_u16();
            let code = ctx.err().code();
            let (kind, _) = classify(status, code);
            let detail = match (code, ctx.err().message()) {
                (Some(c), Some(m)) => format!("{c}: {m}"),
                (Some(c), None) => c.to_string(),
                (None, _) => status_text(status).to_string(),
            };
            (kind, format!("{what}: S3 answered {status} ({detail})"))
        }
        SdkError::TimeoutError(_) => (ErrorKind::Timeout, format!("{what}: the S3 request timed out")),
        SdkError::DispatchFailure(f) if f.is_user() => (
            ErrorKind::InvalidInput,
            format!(
                "{what}: the request could not be sent: {}",
                DisplayErrorContext(&err)
            ),
        ),
        SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => (
            ErrorKind::Unavailable,
            format!(
                "{what}: cannot reach the S3 server: {}",
                DisplayErrorContext(&err)
            ),
        ),
        SdkError::ConstructionFailure(_) => {
            let text = DisplayErrorContext(&err).to_string();
            let kind = if text.contains("credentials") {
                ErrorKind::PermissionDenied
            } else {
                ErrorKind::InvalidInput
            };
            (kind, format!("{what}: the request could not be built: {text}"))
        }
        _ => (
            ErrorKind::Internal,
            format!("{what}: {}", DisplayErrorContext(&err)),
        ),
    };
    Error::new(kind, message).with_source(err)
}

fn status_text(status: u16) -> &'static str {
    match status {
        304 => "not modified",
        400 => "bad request",
        403 => "forbidden",
        404 => "not found",
        412 => "precondition failed",
        416 => "range not satisfiable",
        500 => "internal error",
        501 => "not implemented",
        503 => "service unavailable",
        _ => "no error code",
    }
}

#[cfg(test)]
mod tests {
    //! Each case replays an error answer as S3 sends it (status, headers, XML body, as
    //! documented in the S3 API reference's error responses and seen from AWS) through the
    //! real SDK client, so the SDK's own parsing feeds the mapping.

    use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
    use aws_sdk_s3::Client;
    use aws_smithy_http_client::test_util::infallible_client_fn;

    use super::*;

    fn client(status: u16, body: &'static str) -> Client {
        let http = infallible_client_fn(move |_req| {
            http::Response::builder()
                .status(status)
                .header("content-type", "application/xml")
                .header("x-amz-request-id", "4442587FB7D0A2F9")
                .body(body)
                .unwrap()
        });
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .endpoint_url("http://127.0.0.1:1")
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .http_client(http)
            .build();
        Client::from_conf(conf)
    }

    fn xml(code: &str, message: &str) -> &'static str {
        Box::leak(
            format!(
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message>\
                 <Resource>/bucket/key</Resource><RequestId>4442587FB7D0A2F9</RequestId></Error>"
            )
            .into_boxed_str(),
        )
    }

    async fn get_error(status: u16, body: &'static str) -> Error {
        let e = client(status, body)
            .get_object()
            .bucket("bucket")
            .key("key")
            .send()
            .await
            .unwrap_err();
        map_sdk_error(e, "get 'key'")
    }

    #[tokio::test]
    async fn answers_map_by_code_and_status() {
        let cases: [(u16, &str, &str, ErrorKind, bool); 10] = [
            (404, "NoSuchKey", "The specified key does not exist.", ErrorKind::NotFound, false),
            (404, "NoSuchBucket", "The specified bucket does not exist", ErrorKind::NotFound, false),
            (412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold", ErrorKind::ConditionFailed, false),
            (409, "ConditionalRequestConflict", "A conflicting conditional operation is currently in progress against this resource.", ErrorKind::Unavailable, true),
            (403, "AccessDenied", "Access Denied", ErrorKind::PermissionDenied, false),
            (403, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided.", ErrorKind::PermissionDenied, false),
            (503, "SlowDown", "Please reduce your request rate.", ErrorKind::Unavailable, true),
            (500, "InternalError", "We encountered an internal error. Please try again.", ErrorKind::Unavailable, true),
            (416, "InvalidRange", "The requested range is not satisfiable", ErrorKind::InvalidInput, false),
            (400, "RequestTimeout", "Your socket connection to the server was not read from or written to within the timeout period.", ErrorKind::Timeout, true),
        ];
        for (status, code, message, kind, retryable) in cases {
            let e = get_error(status, xml(code, message)).await;
            assert_eq!(
                (e.kind(), e.is_retryable()),
                (kind, retryable),
                "{status} {code}: {e}"
            );
            let text = e.to_string();
            assert!(
                text.contains(code) && text.contains(message) && text.contains("get 'key'"),
                "{text}"
            );
        }
    }

    #[tokio::test]
    async fn answers_without_a_body_map_by_status() {
        // HEAD answers carry no body, and S3 answers a failed conditional GET with a bare 304.
        for (status, kind) in [
            (404, ErrorKind::NotFound),
            (304, ErrorKind::ConditionFailed),
            (412, ErrorKind::ConditionFailed),
            (403, ErrorKind::PermissionDenied),
            (502, ErrorKind::Unavailable),
        ] {
            let e = client(status, "")
                .head_object()
                .bucket("bucket")
                .key("key")
                .send()
                .await
                .unwrap_err();
            let e = map_sdk_error(e, "head 'key'");
            assert_eq!(e.kind(), kind, "{status}: {e}");
            assert_eq!(e.is_retryable(), status == 502);
        }
    }

    #[tokio::test]
    async fn a_server_that_is_not_there_is_unavailable_and_retryable() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        let http = aws_smithy_http_client::Builder::new().build_http();
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::for_tests())
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .force_path_style(true)
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
            .http_client(http)
            .build();
        let e = Client::from_conf(conf)
            .get_object()
            .bucket("b")
            .key("k")
            .send()
            .await
            .unwrap_err();
        let e = map_sdk_error(e, "get 'k'");
        assert_eq!(
            (e.kind(), e.is_retryable()),
            (ErrorKind::Unavailable, true),
            "{e}"
        );
        assert!(e.to_string().contains("cannot reach the S3 server"), "{e}");
    }
}
