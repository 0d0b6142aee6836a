//! The plugin side of the ABI: what `export_driver!` wires a driver into.
//!
//! Each plugin library owns a tokio runtime (a library has its own copy of tokio's state, so
//! it cannot use the host's) on which its driver's requests run. Every exported function
//! catches panics; a panic inside a request becomes an `Internal` error frame.

use std::any::Any;
use std::ffi::c_void;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Waker};

use bindery_core::arrow::array::RecordBatch;
use bindery_core::table::Items;
use bindery_core::{
    serve, Details, Driver, DriverInfo, Error, Head, Instance, PutBody, ResponseMessage, Result,
};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};

use crate::ffi::{FfiWaker, PluginApi, RawBuf, ABI_VERSION, POLL_CLOSED, POLL_END, POLL_PENDING, POLL_READY};
use crate::{batch, codec};

struct Guest {
    driver: Box<dyn Driver>,
    info: DriverInfo,
    runtime: tokio::runtime::Runtime,
}

static GUEST: OnceLock<Guest> = OnceLock::new();

static API: PluginApi = PluginApi {
    abi_version: ABI_VERSION,
    handshake,
    connect,
    call,
    poll_send_ready,
    send_body,
    poll_frame,
    close_call,
    disconnect,
};

/// The body of the exported entry point; use [`crate::export_driver!`] rather than this.
/// Returns null if the driver could not be set up.
pub fn entry(make: fn() -> Box<dyn Driver>) -> *const PluginApi {
    let made = catch_unwind(|| {
        GUEST.get_or_init(|| {
            let driver = make();
            let info = driver.info();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .thread_name(format!("bindery-plugin-{}", info.name))
                .enable_all()
                .build()
                .unwrap_or_else(|e| panic!("cannot start the plugin's runtime: {e}"));
            Guest {
                driver,
                info,
                runtime,
            }
        });
    });
    match made {
        Ok(()) => &API,
        Err(_) => std::ptr::null(),
    }
}

fn guest() -> Result<&'static Guest> {
    GUEST
        .get()
        .ok_or_else(|| Error::internal("the plugin was called before its entry point"))
}

/// The message of a panic payload.
pub fn panic_message(p: &(dyn Any + Send)) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic with no message".into())
}

fn panicked(p: Box<dyn Any + Send>) -> Error {
    Error::internal(format!("the driver panicked: {}", panic_message(p.as_ref())))
}

unsafe extern "C" fn handshake() -> RawBuf {
    let bytes = catch_unwind(|| match guest() {
        Ok(g) => codec::encode_handshake(ABI_VERSION, &g.info),
        Err(_) => Vec::new(),
    })
    .unwrap_or_default();
    RawBuf::from_bytes(Bytes::from(bytes))
}

struct GuestInstance(Arc<dyn Instance>);

unsafe extern "C" fn connect(config: *const u8, len: usize, instance: *mut *mut c_void) -> RawBuf {
    let result = catch_unwind(AssertUnwindSafe(|| -> Result<GuestInstance> {
        let g = guest()?;
        // SAFETY: the host passes a buffer valid for the call.
        let config = codec::decode_config(unsafe { std::slice::from_raw_parts(config, len) })?;
        let inst = g.runtime.block_on(g.driver.connect(config))?;
        Ok(GuestInstance(inst))
    }))
    .unwrap_or_else(|p| Err(panicked(p)));
    let answer = match result {
        Ok(inst) => {
            let cap = inst.0.capability();
            // SAFETY: `instance` is a valid out-pointer given by the host.
            unsafe { *instance = Box::into_raw(Box::new(inst)) as *mut c_void };
            Ok(cap)
        }
        Err(e) => {
            // SAFETY: as above.
            unsafe { *instance = std::ptr::null_mut() };
            Err(e)
        }
    };
    RawBuf::from_bytes(Bytes::from(codec::encode_connect_result(&answer)))
}

unsafe extern "C" fn disconnect(instance: *mut c_void) {
    if !instance.is_null() {
        // SAFETY: made by `connect` and disconnected once.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(instance as *mut GuestInstance) })
        }));
    }
}

/// What a call's data is sent on: a put's chunks or a table write's batches.
enum Sink {
    Body(flume::Sender<Result<Bytes>>),
    Batches(flume::Sender<Result<RecordBatch>>),
}

/// A send that did not fit at once, waiting for room in the channel.
type PendingSend = Pin<Box<dyn Future<Output = bool> + Send>>;

/// Sends `item` on `tx`; the future says whether the receiver took it.
fn send_on<T: Send + 'static>(tx: &flume::Sender<T>, item: T) -> PendingSend {
    Box::pin(tx.clone().into_send_async(item).map(|r| r.is_ok()))
}

struct GuestCall {
    /// The one channel a response's frames cross, from the driver's task to `poll_frame`.
    frames: flume::r#async::RecvStream<'static, Result<ResponseMessage>>,
    sink: Option<Sink>,
    /// The chunk `send_body` could not place at once; `poll_send_ready` finishes it.
    pending: Option<PendingSend>,
    /// Notified when the call closes: stops the work, which drops the driver's stream even
    /// while it waits (a following consumer).
    cancel: Arc<tokio::sync::Notify>,
}

impl Drop for GuestCall {
    fn drop(&mut self) {
        self.pending = None;
        // The end of the data takes the sink away: one still here was abandoned midway.
        if let Some(Sink::Body(body)) = self.sink.take() {
            let _ = body.try_send(Err(Error::new(
                bindery_core::ErrorKind::Cancelled,
                "the host abandoned the upload before its end",
            )));
        }
        self.cancel.notify_one();
    }
}

unsafe extern "C" fn call(instance: *mut c_void, request: *const u8, len: usize) -> *mut c_void {
    let made = catch_unwind(AssertUnwindSafe(|| {
        let g = guest().ok()?;
        // SAFETY: made by `connect`; the host keeps it until `disconnect`.
        let inst = unsafe { &*(instance as *const GuestInstance) }.0.clone();
        let in_place = inst.answers_in_place();
        // SAFETY: the host passes a buffer valid for the call.
        let bytes = unsafe { std::slice::from_raw_parts(request, len) };
        let (frames_tx, frames) = flume::bounded::<Result<ResponseMessage>>(2);
        let mut sink = None;
        let decoded = codec::is_put(bytes).and_then(|put| {
            let put_body = put.then(|| {
                let (tx, rx) = flume::bounded::<Result<Bytes>>(4);
                sink = Some(Sink::Body(tx));
                PutBody::from_stream(rx.into_stream().boxed())
            });
            codec::decode_request(bytes, put_body)
        });
        let expected = codec::batches_following(bytes).unwrap_or(0);
        let (batches_tx, batches_rx) = flume::bounded::<Result<RecordBatch>>(expected.max(1) as usize);
        if expected > 0 {
            sink = Some(Sink::Batches(batches_tx));
        }
        let failure_tx = frames_tx.clone();
        let cancel = Arc::new(tokio::sync::Notify::new());
        let cancelled = cancel.clone();
        let work = async move {
            let mut request = decoded?;
            if expected > 0 {
                let mut got = Vec::with_capacity(expected as usize);
                for _ in 0..expected {
                    got.push(batches_rx.recv_async().await.map_err(|_| {
                        Error::new(
                            bindery_core::ErrorKind::Cancelled,
                            "the host ended the write before sending all its batches",
                        )
                    })??);
                }
                if let Details::TableWrite(op) = &mut request.details {
                    op.items = Items::Batches(got);
                }
            }
            let mut stream = serve(inst.as_ref(), request).await?;
            while let Some(frame) = stream.next().await {
                let end = frame.as_ref().map_or(true, |f| f.is_last);
                if frames_tx.send_async(frame).await.is_err() || end {
                    break;
                }
            }
            Ok(())
        };
        // Closing the call drops the work at once, even while the driver waits.
        let work = async move {
            tokio::select! {
                done = AssertUnwindSafe(work).catch_unwind() => done,
                _ = cancelled.notified() => Ok(Ok(())),
            }
        };
        let mut work = Box::pin(work.map(move |r: std::thread::Result<Result<()>>| {
            let failure = match r {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(e),
                Err(p) => Some(panicked(p)),
            };
            if let Some(e) = failure {
                let _ = failure_tx.try_send(Err(e));
            }
        }));
        // A driver that answers in place (memory, fs: no network I/O) is polled once here, on
        // the caller's thread inside the plugin's runtime, as the host does with built-in
        // drivers: a request answered at once has its frames ready before `call` returns, so
        // the host's first `poll_frame` finds them with no hand-over between threads. Work
        // that waits goes on on a task of the plugin's runtime.
        let done = in_place && {
            let _entered = g.runtime.enter();
            work.as_mut()
                .poll(&mut Context::from_waker(Waker::noop()))
                .is_ready()
        };
        if !done {
            g.runtime.spawn(work);
        }
        Some(Box::into_raw(Box::new(GuestCall {
            frames: frames.into_stream(),
            sink,
            pending: None,
            cancel,
        })) as *mut c_void)
    }));
    made.ok().flatten().unwrap_or(std::ptr::null_mut())
}

unsafe extern "C" fn poll_send_ready(call: *mut c_void, waker: FfiWaker) -> i32 {
    // SAFETY: the host hands over the waker.
    let waker = unsafe { waker.into_waker() };
    // SAFETY: made by `call`; the host uses a call from one thread at a time.
    let call = unsafe { &mut *(call as *mut GuestCall) };
    catch_unwind(AssertUnwindSafe(|| {
        let Some(pending) = call.pending.as_mut() else {
            return if call.sink.is_some() {
                POLL_READY
            } else {
                POLL_CLOSED
            };
        };
        match pending.as_mut().poll(&mut Context::from_waker(&waker)) {
            Poll::Pending => POLL_PENDING,
            Poll::Ready(sent) => {
                call.pending = None;
                if sent {
                    POLL_READY
                } else {
                    POLL_CLOSED
                }
            }
        }
    }))
    .unwrap_or(POLL_CLOSED)
}

unsafe extern "C" fn send_body(call: *mut c_void, chunk: RawBuf) -> i32 {
    // SAFETY: made by `call`; the host uses a call from one thread at a time.
    let call = unsafe { &mut *(call as *mut GuestCall) };
    catch_unwind(AssertUnwindSafe(|| {
        if chunk.is_null() {
            call.sink = None;
            return 0;
        }
        if call.pending.is_some() {
            return POLL_CLOSED; // the host did not wait for `poll_send_ready`
        }
        let mut send = match &call.sink {
            // SAFETY: the host lends a C Data batch made by `batch::export`.
            Some(Sink::Batches(tx)) => send_on(tx, unsafe { batch::import(chunk) }),
            // SAFETY: the host hands over ownership of the chunk.
            Some(Sink::Body(tx)) => send_on(tx, Ok(unsafe { chunk.into_bytes(None) })),
            None => return POLL_CLOSED,
        };
        // Placed at once when there is room; otherwise `poll_send_ready` finishes it.
        match send.as_mut().poll(&mut Context::from_waker(Waker::noop())) {
            Poll::Ready(true) => 0,
            Poll::Ready(false) => POLL_CLOSED,
            Poll::Pending => {
                call.pending = Some(send);
                0
            }
        }
    }))
    .unwrap_or(POLL_CLOSED)
}

unsafe extern "C" fn poll_frame(
    call: *mut c_void,
    waker: FfiWaker,
    header: *mut RawBuf,
    payload: *mut RawBuf,
) -> i32 {
    // SAFETY: the host hands over the waker.
    let waker = unsafe { waker.into_waker() };
    // SAFETY: made by `call`; the host uses a call from one thread at a time.
    let call = unsafe { &mut *(call as *mut GuestCall) };
    let polled = catch_unwind(AssertUnwindSafe(|| {
        call.frames.poll_next_unpin(&mut Context::from_waker(&waker))
    }));
    let frame = match polled {
        Ok(Poll::Pending) => return POLL_PENDING,
        Ok(Poll::Ready(Some(f))) => f,
        Ok(Poll::Ready(None)) => return POLL_END, // the work ended without more frames
        Err(p) => Err(panicked(p)),
    };
    // A batch crosses by the C Data Interface; other frames' payloads as bytes.
    let (frame, lent) = match frame {
        Ok(f) => match &f.head {
            Head::Batch(b) => match batch::export(b) {
                Ok(raw) => (Ok(f), raw),
                Err(e) => (Err(e), RawBuf::null()),
            },
            _ => {
                let buffer = RawBuf::from_bytes(f.buffer.clone());
                (Ok(f), buffer)
            }
        },
        Err(e) => (Err(e), RawBuf::null()),
    };
    // SAFETY: out-pointers given by the host.
    unsafe {
        *header = RawBuf::from_bytes(Bytes::from(codec::encode_frame(&frame)));
        *payload = lent;
    }
    POLL_READY
}

unsafe extern "C" fn close_call(call: *mut c_void) {
    if !call.is_null() {
        // SAFETY: made by `call` and closed once.
        let _ = catch_unwind(AssertUnwindSafe(|| {
            drop(unsafe { Box::from_raw(call as *mut GuestCall) })
        }));
    }
}

/// Exports a driver from a plugin library (a crate with `crate-type = ["cdylib"]`).
///
/// ```ignore
/// bindery_plugin::export_driver!(my_driver::MyDriver::default());
/// ```
#[macro_export]
macro_rules! export_driver {
    ($make:expr) => {
        /// The bindery plugin entry point.
        #[no_mangle]
        pub extern "C" fn bindery_plugin_entry() -> *const $crate::ffi::PluginApi {
            fn make() -> ::std::boxed::Box<dyn $crate::__private::Driver> {
                ::std::boxed::Box::new($make)
            }
            $crate::guest::entry(make)
        }
    };
}
