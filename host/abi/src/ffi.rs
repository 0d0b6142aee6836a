//! The C ABI between the host and a plugin library, version [`ABI_VERSION`].
//!
//! A plugin exports one symbol, [`ENTRY_SYMBOL`], returning a pointer to a static
//! [`PluginApi`]. Its first field is the ABI version, which the host reads before touching
//! anything else: a plugin of another version is refused with a clear error, never called.
//! Every envelope is a Cap'n Proto message (`schemas/bindery.capnp`); payload bytes cross as a
//! [`RawBuf`] (pointer, length, release callback) and are never copied.
//!
//! No call blocks. Waiting is done the way Rust futures wait: a `poll_*` function either
//! answers at once or answers "pending" and keeps the [`FfiWaker`] it was given, which it
//! wakes (from any thread) when polling again may make progress; the host then polls again.
//! So a call that waits (a following consumer, a slow backend) holds no thread of the host's.
//!
//! Calls, in order:
//! 1. `handshake()` → `Handshake` message.
//! 2. `connect(config)` → `ConnectResult`, and an opaque instance.
//! 3. per request: `call(instance, DataRequest)` → an opaque call; for a put (or a table
//!    write's batches), the data follows: `poll_send_ready` until it answers ready, then
//!    `send_body` with one chunk, and so on; a buffer with a null pointer ends the data.
//!    Then `poll_frame` until it answers [`POLL_END`]; then `close_call`, which also stops
//!    the driver's work on the request if it is still running (a consumer closed early).
//! 4. `disconnect(instance)` when the host stops.
//!
//! A call is used from one thread at a time. Nothing may unwind across these functions: the
//! plugin side catches panics and turns them into `Internal` errors.

use std::ffi::c_void;
use std::task::{RawWaker, RawWakerVTable, Waker};

use bytes::Bytes;

/// The ABI version this crate speaks.
pub const ABI_VERSION: u32 = 2;

/// `poll_frame` wrote a frame; `poll_send_ready`: a chunk may be sent.
pub const POLL_READY: i32 = 1;
/// `poll_frame`: the response has ended.
pub const POLL_END: i32 = 0;
/// Not yet: the waker passed in will be woken when polling again may make progress.
pub const POLL_PENDING: i32 = 2;
/// `poll_send_ready` and `send_body`: the call takes no more data (it failed or ended).
pub const POLL_CLOSED: i32 = -1;
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

/// A task's waker handed across the boundary: the receiver owns it and calls either `wake`
/// or `drop` exactly once (each consumes it); `clone` makes another that must be consumed too.
/// The functions live in the host, which outlives every plugin call.
#[repr(C)]
#[derive(Debug)]
pub struct FfiWaker {
    /// Passed to the functions below.
    pub data: *const c_void,
    /// Returns the data of a new waker that wakes the same task.
    pub clone: unsafe extern "C" fn(*const c_void) -> *const c_void,
    /// Wakes the task and consumes the waker.
    pub wake: unsafe extern "C" fn(*const c_void),
    /// Consumes the waker without waking.
    pub drop: unsafe extern "C" fn(*const c_void),
}

unsafe extern "C" fn host_clone(data: *const c_void) -> *const c_void {
    // SAFETY: `data` was made by `FfiWaker::new` from a `Box<Waker>` and is still owned.
    let waker = unsafe { &*(data as *const Waker) };
    Box::into_raw(Box::new(waker.clone())) as *const c_void
}

unsafe extern "C" fn host_wake(data: *const c_void) {
    // SAFETY: as above; consumed here.
    unsafe { Box::from_raw(data as *mut Waker) }.wake();
}

unsafe extern "C" fn host_drop(data: *const c_void) {
    // SAFETY: as above; consumed here.
    drop(unsafe { Box::from_raw(data as *mut Waker) });
}

impl FfiWaker {
    /// The host's side: lends a clone of `waker` across the boundary.
    pub fn new(waker: &Waker) -> FfiWaker {
        FfiWaker {
            data: Box::into_raw(Box::new(waker.clone())) as *const c_void,
            clone: host_clone,
            wake: host_wake,
            drop: host_drop,
        }
    }

    /// The plugin's side: a [`Waker`] that wakes the host's task.
    ///
    /// # Safety
    /// `self` must be a waker made as described on [`FfiWaker`] and not used again.
    pub unsafe fn into_waker(self) -> Waker {
        let raw = RawWaker::new(Box::into_raw(Box::new(self)) as *const (), &GUEST_WAKER);
        // SAFETY: the vtable below keeps `RawWaker`'s contract: each function consumes or
        // borrows the boxed `FfiWaker` as that contract says.
        unsafe { Waker::from_raw(raw) }
    }
}

static GUEST_WAKER: RawWakerVTable =
    RawWakerVTable::new(guest_clone, guest_wake, guest_wake_by_ref, guest_drop);

fn guest_clone(data: *const ()) -> RawWaker {
    // SAFETY: `data` is a live `Box<FfiWaker>` made by `into_waker`.
    let w = unsafe { &*(data as *const FfiWaker) };
    let copy = FfiWaker {
        // SAFETY: the host's clone function, on its own data.
        data: unsafe { (w.clone)(w.data) },
        clone: w.clone,
        wake: w.wake,
        drop: w.drop,
    };
    RawWaker::new(Box::into_raw(Box::new(copy)) as *const (), &GUEST_WAKER)
}

fn guest_wake(data: *const ()) {
    // SAFETY: a `Box<FfiWaker>` made by `into_waker` or `guest_clone`, consumed here.
    let w = unsafe { Box::from_raw(data as *mut FfiWaker) };
    // SAFETY: consumes the host's waker once.
    unsafe { (w.wake)(w.data) };
}

fn guest_wake_by_ref(data: *const ()) {
    // SAFETY: borrowed; the host's waker is cloned and the clone consumed by `wake`.
    let w = unsafe { &*(data as *const FfiWaker) };
    unsafe { (w.wake)((w.clone)(w.data)) };
}

fn guest_drop(data: *const ()) {
    // SAFETY: as in `guest_wake`, consumed without waking.
    let w = unsafe { Box::from_raw(data as *mut FfiWaker) };
    unsafe { (w.drop)(w.data) };
}

/// The function table a plugin exports. Fields are only ever appended within a version.
#[repr(C)]
pub struct PluginApi {
    /// Must be first: the host reads it before anything else.
    pub abi_version: u32,
    /// Returns a `Handshake` message.
    pub handshake: unsafe extern "C" fn() -> RawBuf,
    /// Connects a binding from a `BindingConfig` message; writes the instance (null on
    /// failure) and returns a `ConnectResult` message. May block (it runs once per binding,
    /// at start-up, on a thread of its own).
    pub connect: unsafe extern "C" fn(config: *const u8, len: usize, instance: *mut *mut c_void) -> RawBuf,
    /// Starts a request from a `DataRequest` message; returns the call (null if it could not
    /// start). Does not wait for the driver.
    pub call: unsafe extern "C" fn(instance: *mut c_void, request: *const u8, len: usize) -> *mut c_void,
    /// Whether the call takes a chunk now: [`POLL_READY`], [`POLL_PENDING`] (the waker is
    /// woken once it may) or [`POLL_CLOSED`]. Consumes the waker.
    pub poll_send_ready: unsafe extern "C" fn(call: *mut c_void, waker: FfiWaker) -> i32,
    /// Hands a chunk of a put's data (or a table write's batch) to the call, after
    /// `poll_send_ready` answered ready; the null buffer ends the data. Returns 0, or
    /// [`POLL_CLOSED`] if the call no longer takes data. Never waits.
    pub send_body: unsafe extern "C" fn(call: *mut c_void, chunk: RawBuf) -> i32,
    /// The next frame: writes a `ResponseMessage` and its payload and answers [`POLL_READY`];
    /// or [`POLL_END`] at the end of the response; or [`POLL_PENDING`] (the waker is woken
    /// once a frame may be ready). Consumes the waker.
    pub poll_frame: unsafe extern "C" fn(
        call: *mut c_void,
        waker: FfiWaker,
        header: *mut RawBuf,
        payload: *mut RawBuf,
    ) -> i32,
    /// Ends a call, stopping the driver's work on it if that still runs.
    pub close_call: unsafe extern "C" fn(call: *mut c_void),
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

    /// Counts wakes; its `Arc`'s strong count shows every waker copy released.
    struct CountingWake(AtomicUsize);

    impl std::task::Wake for CountingWake {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_waker_crosses_and_back_wakes_its_task_and_leaks_nothing() {
        let counter = Arc::new(CountingWake(AtomicUsize::new(0)));
        let host = Waker::from(counter.clone());
        // SAFETY: a waker made by `FfiWaker::new`, used once.
        let guest = unsafe { FfiWaker::new(&host).into_waker() };
        let copy = guest.clone();
        guest.wake_by_ref();
        assert_eq!(counter.0.load(Ordering::SeqCst), 1);
        guest.wake();
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        drop(copy); // dropped without waking
        assert_eq!(counter.0.load(Ordering::SeqCst), 2);
        drop(host);
        assert_eq!(
            Arc::strong_count(&counter),
            1,
            "every copy of the waker was released"
        );
    }

    #[test]
    fn the_null_buffer_is_empty() {
        let raw = RawBuf::null();
        assert!(raw.is_null());
        // SAFETY: the null buffer owns nothing.
        assert!(unsafe { raw.into_bytes(None) }.is_empty());
    }
}
