//! The plugin side of the ABI: what `export_driver!` wires a driver into.
//!
//! Each plugin library owns a tokio runtime (a library has its own copy of tokio's state, so
//! it cannot use the host's) on which its driver's requests run. Every exported function
//! catches panics; a panic inside a request becomes an `Internal` error frame.

use std::any::Any;
use std::ffi::c_void;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, OnceLock};

use bindery_core::arrow::array::RecordBatch;
use bindery_core::table::Items;
use bindery_core::{
    serve, Details, Driver, DriverInfo, Error, Head, Instance, PutBody, ResponseMessage, Result,
};
use bytes::Bytes;
use futures::{FutureExt, StreamExt};

use crate::ffi::{PluginApi, RawBuf, ABI_VERSION};
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
    send_body,
    next_frame,
    close_call,
    cancel_call,
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

struct GuestCall {
    frames: flume::Receiver<Result<ResponseMessage>>,
    body: Option<flume::Sender<Result<Bytes>>>,
    /// A table write's batches, as they arrive.
    batches: Option<flume::Sender<Result<RecordBatch>>>,
    body_ended: bool,
    /// Notified by `cancel_call` (from any thread): stops the work, which then drops its
    /// frame senders, so a waiting `next_frame` returns.
    cancel: Arc<tokio::sync::Notify>,
}

impl Drop for GuestCall {
    fn drop(&mut self) {
        if let Some(body) = self.body.take() {
            if !self.body_ended {
                let _ = body.try_send(Err(Error::new(
                    bindery_core::ErrorKind::Cancelled,
                    "the host abandoned the upload before its end",
                )));
            }
        }
    }
}

unsafe extern "C" fn call(instance: *mut c_void, request: *const u8, len: usize) -> *mut c_void {
    let made = catch_unwind(AssertUnwindSafe(|| {
        let g = guest().ok()?;
        // SAFETY: made by `connect`; the host keeps it until `disconnect`.
        let inst = unsafe { &*(instance as *const GuestInstance) }.0.clone();
        // SAFETY: the host passes a buffer valid for the call.
        let bytes = unsafe { std::slice::from_raw_parts(request, len) };
        let (frames_tx, frames) = flume::bounded::<Result<ResponseMessage>>(2);
        let mut body = None;
        let decoded = codec::is_put(bytes).and_then(|put| {
            let put_body = put.then(|| {
                let (tx, rx) = flume::bounded::<Result<Bytes>>(4);
                body = Some(tx);
                PutBody::from_stream(rx.into_stream().boxed())
            });
            codec::decode_request(bytes, put_body)
        });
        let expected = codec::batches_following(bytes).unwrap_or(0);
        let (batches_tx, batches_rx) = flume::bounded::<Result<RecordBatch>>(expected.max(1) as usize);
        let panic_tx = frames_tx.clone();
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
            let serve_frames = async {
                let mut stream = serve(inst.as_ref(), request).await?;
                while let Some(frame) = stream.next().await {
                    let end = frame.as_ref().map_or(true, |f| f.is_last);
                    if frames_tx.send_async(frame).await.is_err() || end {
                        break;
                    }
                }
                Ok(())
            };
            // Cancelling drops the driver's stream at once, even while it waits.
            tokio::select! {
                done = serve_frames => done,
                _ = cancelled.notified() => Ok(()),
            }
        };
        g.runtime.spawn(AssertUnwindSafe(work).catch_unwind().map(
            move |r: std::thread::Result<Result<()>>| {
                let failure = match r {
                    Ok(Ok(())) => None,
                    Ok(Err(e)) => Some(e),
                    Err(p) => Some(panicked(p)),
                };
                if let Some(e) = failure {
                    let _ = panic_tx.try_send(Err(e));
                }
            },
        ));
        Some(Box::into_raw(Box::new(GuestCall {
            frames,
            body,
            batches: (expected > 0).then_some(batches_tx),
            body_ended: false,
            cancel,
        })) as *mut c_void)
    }));
    made.ok().flatten().unwrap_or(std::ptr::null_mut())
}

unsafe extern "C" fn send_body(call: *mut c_void, chunk: RawBuf) -> i32 {
    // SAFETY: made by `call`; the host uses a call from one thread at a time.
    let call = unsafe { &mut *(call as *mut GuestCall) };
    catch_unwind(AssertUnwindSafe(|| {
        if chunk.is_null() {
            call.body_ended = true;
            call.body = None;
            call.batches = None;
            return 0;
        }
        if let Some(tx) = &call.batches {
            // SAFETY: the host lends a C Data batch made by `batch::export`.
            let b = unsafe { batch::import(chunk) };
            return if tx.send(b).is_ok() { 0 } else { -1 };
        }
        // SAFETY: the host hands over ownership of the chunk.
        let bytes = unsafe { chunk.into_bytes(None) };
        match &call.body {
            Some(tx) if tx.send(Ok(bytes)).is_ok() => 0,
            _ => -1,
        }
    }))
    .unwrap_or(-1)
}

unsafe extern "C" fn next_frame(call: *mut c_void, header: *mut RawBuf, payload: *mut RawBuf) -> i32 {
    // SAFETY: made by `call`; shared: `cancel_call` may read it from another thread.
    let call = unsafe { &*(call as *const GuestCall) };
    let frame = match catch_unwind(AssertUnwindSafe(|| call.frames.recv())) {
        Ok(Ok(f)) => f,
        Ok(Err(_)) => return 0, // the work ended (or was cancelled) without more frames
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
    1
}

unsafe extern "C" fn cancel_call(call: *mut c_void) {
    if call.is_null() {
        return;
    }
    // SAFETY: made by `call` and not yet closed; only the `Arc` is touched, through a raw
    // pointer to the field, so no reference to the whole call is made while `next_frame`
    // may hold one on another thread.
    let cancel = unsafe { &*std::ptr::addr_of!((*(call as *const GuestCall)).cancel) }.clone();
    // A permit is kept if the work is not waiting yet, so the cancel is never lost.
    let _ = catch_unwind(AssertUnwindSafe(move || cancel.notify_one()));
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
