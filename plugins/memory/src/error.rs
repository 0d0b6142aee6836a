//! The memory driver's errors: it has no backend whose errors need mapping, only its own.

use bindery_core::Error;

/// A get or head of a path that holds no object.
pub(crate) fn no_such_object() -> Error {
    Error::not_found("no such object")
}

#[cfg(test)]
mod tests {
    use super::*;
    use bindery_core::ErrorKind;

    #[test]
    fn a_missing_object_is_not_found_and_not_retried() {
        let e = no_such_object();
        assert_eq!(e.kind(), ErrorKind::NotFound);
        assert!(!e.is_retryable());
    }
}
