//! The refusal layer: a request the binding's capability cannot serve is answered
//! `Unsupported` before it is queued, naming what it lacks (`get with a byte range`, `put of
//! an object of 9 bytes (its max_object_size is 8 bytes)`). What each operation and option
//! needs is in the operation's description (`DataRequest::missing_capability`).

use bindery_core::{Capability, DataRequest, Error, ErrorKind, Result};

/// `Ok` when `capability` serves `request`; otherwise the `Unsupported` error (without
/// context: the caller adds binding, driver, operation and path).
pub(crate) fn refuse(
    request: &DataRequest,
    capability: &Capability,
    binding: &str,
    driver: &str,
) -> Result<()> {
    match request.missing_capability(capability) {
        None => Ok(()),
        Some(missing) => Err(Error::new(
            ErrorKind::Unsupported,
            format!("driver '{driver}' of binding '{binding}' does not support {missing}"),
        )),
    }
}
