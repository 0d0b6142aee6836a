//! Maps librdkafka's errors to bindery's kinds.
//!
//! | librdkafka / broker | bindery |
//! |---|---|
//! | unknown topic or partition | `NotFound` |
//! | topic already exists | `AlreadyExists` |
//! | message too large, invalid topic / partitions / replication factor / config, bad offsets | `InvalidInput` |
//! | topic, group, cluster or transactional-id authorization failed, SASL authentication failed | `PermissionDenied` |
//! | all brokers down, transport failures, leader or coordinator moving, not enough replicas, message timed out | `Unavailable`, retryable |
//! | request timed out | `Timeout`, retryable |
//! | a feature or API version the broker lacks | `Unsupported` |
//! | anything else | `Internal` |

use bindery_core::{Error, ErrorKind};
use rdkafka::error::{KafkaError, RDKafkaErrorCode as C};

/// The bindery kind of a librdkafka / broker error code.
pub(crate) fn kind_of(code: C) -> ErrorKind {
    match code {
        C::UnknownTopicOrPartition | C::UnknownTopic | C::UnknownPartition => ErrorKind::NotFound,
        C::TopicAlreadyExists => ErrorKind::AlreadyExists,
        C::MessageSizeTooLarge
        | C::MessageBatchTooLarge
        | C::InvalidTopic
        | C::InvalidPartitions
        | C::InvalidReplicationFactor
        | C::InvalidConfig
        | C::InvalidRequest
        | C::InvalidMessage
        | C::InvalidArgument
        | C::OffsetOutOfRange
        | C::InvalidTimestamp
        | C::InvalidGroupId
        | C::PolicyViolation => ErrorKind::InvalidInput,
        C::TopicAuthorizationFailed
        | C::GroupAuthorizationFailed
        | C::ClusterAuthorizationFailed
        | C::TransactionalIdAuthorizationFailed
        | C::SaslAuthenticationFailed
        | C::Authentication
        | C::UnsupportedSASLMechanism => ErrorKind::PermissionDenied,
        C::AllBrokersDown
        | C::BrokerTransportFailure
        | C::BrokerNotAvailable
        | C::Resolve
        | C::NetworkException
        | C::NotLeaderForPartition
        | C::LeaderNotAvailable
        | C::NotEnoughReplicas
        | C::NotEnoughReplicasAfterAppend
        | C::CoordinatorNotAvailable
        | C::NotCoordinator
        | C::CoordinatorLoadInProgress
        | C::MessageTimedOut
        | C::QueueFull
        | C::KafkaStorageError
        | C::RebalanceInProgress => ErrorKind::Unavailable,
        C::RequestTimedOut | C::OperationTimedOut => ErrorKind::Timeout,
        C::UnsupportedFeature | C::UnsupportedVersion => ErrorKind::Unsupported,
        _ => ErrorKind::Internal,
    }
}

/// Maps a Kafka error met while doing `what` (`publish to 'orders'`) to a bindery error.
pub fn map(err: KafkaError, what: &str) -> Error {
    let code = match &err {
        KafkaError::AdminOp(c) => Some(*c),
        _ => err.rdkafka_error_code(),
    };
    let (kind, retryable) = match code {
        Some(code) => {
            let kind = kind_of(code);
            (kind, kind.retryable_by_default())
        }
        None => match &err {
            KafkaError::ClientConfig(..) => (ErrorKind::InvalidInput, false),
            _ => (ErrorKind::Internal, false),
        },
    };
    Error::new(kind, format!("{what}: {err}"))
        .set_retryable(retryable)
        .with_source(err)
}

/// Maps a bare error code (from an admin result) to a bindery error.
pub fn map_code(code: C, what: &str) -> Error {
    map(KafkaError::AdminOp(code), what)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_map_by_meaning() {
        let cases = [
            (
                KafkaError::MessageProduction(C::UnknownTopicOrPartition),
                ErrorKind::NotFound,
                false,
            ),
            (
                KafkaError::AdminOp(C::TopicAlreadyExists),
                ErrorKind::AlreadyExists,
                false,
            ),
            (
                KafkaError::MessageProduction(C::MessageSizeTooLarge),
                ErrorKind::InvalidInput,
                false,
            ),
            (
                KafkaError::MessageProduction(C::TopicAuthorizationFailed),
                ErrorKind::PermissionDenied,
                false,
            ),
            (
                KafkaError::MetadataFetch(C::AllBrokersDown),
                ErrorKind::Unavailable,
                true,
            ),
            (
                KafkaError::MessageProduction(C::MessageTimedOut),
                ErrorKind::Unavailable,
                true,
            ),
            (
                KafkaError::MessageProduction(C::NotLeaderForPartition),
                ErrorKind::Unavailable,
                true,
            ),
            (
                KafkaError::MetadataFetch(C::OperationTimedOut),
                ErrorKind::Timeout,
                true,
            ),
            (
                KafkaError::AdminOp(C::InvalidReplicationFactor),
                ErrorKind::InvalidInput,
                false,
            ),
        ];
        for (err, kind, retryable) in cases {
            let text = err.to_string();
            let e = map(err, "publish to 'orders'");
            assert_eq!((e.kind(), e.is_retryable()), (kind, retryable), "{text}");
            let shown = e.to_string();
            assert!(shown.contains("publish to 'orders': "), "{shown}");
            assert_eq!(shown.matches(&text).count(), 1, "the cause is said once: {shown}");
        }
    }
}
