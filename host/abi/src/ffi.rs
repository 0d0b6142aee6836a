//! The C ABI between the host and a plugin library, version [`ABI_VERSION`].
//!
//! A plugin exports one symbol, [`ENTRY_SYMBOL`], returning a pointer to a static
//! [`PluginApi`]. Its first field is the ABI version, which the host reads before touching
//! anything else: a plugin of another version is refused with a clear error, never called.
//! Every envelope is a Cap'n Proto message (`schemas/bindery.capnp`); payload bytes cross as a
//! [`RawBuf`] (pointer, length, release callback) and are never copied.
//!
//! Calls, in order:
//! 1. `handshake()` → `Handshake` message.
//! 2. `connect(config)` → `ConnectResult`, and an opaque instance.
//! 3. per request: `call(instance, DataRequest)` → an opaque call; for a put, the data
//!    follows with `send_body` (a buffer with a null pointer ends it); then `next_frame`
//!    until it returns 0; then `close_call`. `next_frame` blocks until a frame is ready.
//!    `cancel_call` may be called from another thread while `next_frame` waits (never after
//!    `close_call`): the waiting `next_frame` returns 0 soon after, and the driver's work on
//!    the request stops.
//! 4. `disconnect(instance)` when the host stops.
//!
//! Nothing may unwind across these functions: the plugin side catches panics and turns them
//! into `Internal` errors.

use std::ffi::c_void;

use bytes::Bytes;

/// The ABI version this crate speaks.
pub const ABI_VERSION: u32 = 1;
/// The symbol every plugin exports (`export_driver!` makes it).
pub const ENTRY_SYMBOL: &str = "bindery_plugin_entry";

/// A byte buffer handed across the boundary. The receiver owns it and calls `release` (with
/// `owner`) once it no longer needs the bytes; the memory stays valid until then.
#[repr(C)]
#[derive(Debug)]
pub struct RawBuf {
    /// The first byte (null for the empty "end" buffer).
    pub ptr: *const u8,
    /// How many bytes.
    pub len: usize,
    /// Passed to `release`.
    pub owner: *mut c_void,
    /// Frees the buffer; `None` when there is nothing to free.
    pub release: Option<unsafe extern "C" fn(*mut c_void)>,
}

unsafe extern "C" fn release_bytes(owner: *mut c_void) {
    // SAFETY: `owner` was made by `RawBuf::from_bytes` from a `Box<Bytes>`.
    drop(unsafe { Box::from_raw(owner as *mut Bytes) });
}

impl RawBuf {
    /// The empty buffer with a null pointer (the end of a body).
    pub fn null() -> RawBuf {
        RawBuf {
            ptr: std::ptr::null(),
            len: 0,
            owner: std::ptr::null_mut(),
            release: None,
        }
    }

    /// Lends `bytes` across the boundary without copying; released when the receiver is done.
    pub fn from_bytes(bytes: Bytes) -> RawBuf {
        let boxed = Box::new(bytes);
        let (ptr, len) = (boxed.as_ptr(), boxed.len());
        RawBuf {
            ptr,
            len,
            owner: Box::into_raw(boxed) as *mut c_void,
            release: Some(release_bytes),
        }
    }

    /// Whether this is the null buffer.
    pub fn is_null(&self) -> bool {
        self.ptr.is_null()
    }

    /// Takes ownership of a received buffer as `Bytes`, without copying. `keep` is held for
    /// as long as the bytes live (the library whose code releases them).
    ///
    /// # Safety
    /// The buffer must be valid as described on [`RawBuf`] and not used again.
    pub unsafe fn into_bytes(self, keep: Option<KeepAlive>) -> Bytes {
        if self.ptr.is_null() || self.len == 0 {
            // Release an owned empty buffer right away.
            drop(Foreign {
                raw: self,
                _keep: keep,
            });
            return Bytes::new();
        }
        Bytes::from_owner(Foreign {
            raw: self,
            _keep: keep,
        })
    }
}

/// Something kept alive as long as a foreign buffer (the plugin library).
pub type KeepAlive = std::sync::Arc<dyn std::any::Any + Send + Sync>;

struct Foreign {
    raw: RawBuf,
    _keep: Option<KeepAlive>,
}

// SAFETY: the buffer is immutable shared memory owned by `raw.owner`; the release callbacks
// made by this crate are thread-safe (they drop a `Bytes`).
unsafe impl Send for Foreign {}

impl AsRef<[u8]> for Foreign {
    fn as_ref(&self) -> &[u8] {
        if self.raw.ptr.is_null() {
            return &[];
        }
        // SAFETY: valid until released, which happens only in `drop`.
        unsafe { std::slice::from_raw_parts(self.raw.ptr, self.raw.len) }
    }
}

impl Drop for Foreign {
    fn drop(&mut self) {
        if let Some(release) = self.raw.release.take() {
            // SAFETY: called once, with the owner it was given with.
            unsafe { release(self.raw.owner) };
        }
    }
}

/// The function table a plugin exports. Fields are only ever appended.
#[repr(C)]
pub struct PluginApi {
    /// Must be first: the host reads it before anything else.
    pub abi_version: u32,
    /// Returns a `Handshake` message.
    pub handshake: unsafe extern "C" fn() -> RawBuf,
    /// Connects a binding from a `BindingConfig` message; writes the instance (null on
    /// failure) and returns a `ConnectResult` message.
    pub connect: unsafe extern "C" fn(config: *const u8, len: usize, instance: *mut *mut c_void) -> RawBuf,
    /// Starts a request from a `DataRequest` message; returns the call.
    pub call: unsafe extern "C" fn(instance: *mut c_void, request: *const u8, len: usize) -> *mut c_void,
    /// Hands a chunk of a put's data to the call (the null buffer ends the data).
    /// Returns 0, or -1 if the call no longer takes data.
    pub send_body: unsafe extern "C" fn(call: *mut c_void, chunk: RawBuf) -> i32,
    /// Waits for the next frame: writes a `ResponseMessage` and its payload and returns 1,
    /// or returns 0 at the end of the response.
    pub next_frame: unsafe extern "C" fn(call: *mut c_void, header: *mut RawBuf, payload: *mut RawBuf) -> i32,
    /// Ends a call (abandoning it if it is still running).
    pub close_call: unsafe extern "C" fn(call: *mut c_void),
    /// Abandons a call from any thread, waking a `next_frame` that waits (it returns 0).
    pub cancel_call: unsafe extern "C" fn(call: *mut c_void),
    /// Disconnects an instance.
    pub disconnect: unsafe extern "C" fn(instance: *mut c_void),
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    /// Counts drops, to see the release callback run exactly once.
    struct Tracked(Vec<u8>, Arc<AtomicUsize>);

    impl AsRef<[u8]> for Tracked {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }

    impl Drop for Tracked {
        fn drop(&mut self) {
            self.1.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn buffers_cross_without_a_copy_and_are_released_once() {
        let drops = Arc::new(AtomicUsize::new(0));
        let original = Bytes::from_owner(Tracked(vec![1, 2, 3, 4], drops.clone()));
        let ptr = original.as_ptr();
        let raw = RawBuf::from_bytes(original);
        assert_eq!((raw.ptr, raw.len), (ptr, 4));
        // SAFETY: a buffer made above, used once.
        let received = unsafe { raw.into_bytes(None) };
        assert_eq!(received.as_ptr(), ptr, "the receiver sees the sender's memory");
        let clone = received.slice(1..3);
        drop(received);
        assert_eq!(drops.load(Ordering::SeqCst), 0, "still referenced by a slice");
        assert_eq!(&clone[..], &[2, 3]);
        drop(clone);
        assert_eq!(drops.load(Ordering::SeqCst), 1, "released exactly once");
    }

    #[test]
    fn the_null_buffer_is_empty() {
        let raw = RawBuf::null();
        assert!(raw.is_null());
        // SAFETY: the null buffer owns nothing.
        assert!(unsafe { raw.into_bytes(None) }.is_empty());
    }
}
