//! The host side of the ABI: loading a plugin library and serving requests through it.

use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use bindery_core::table::{Items, OpWrite};
use bindery_core::{
    async_trait, BindingConfig, Bytes, Capability, DataRequest, Details, DriverInfo, Error, FrameStream,
    ResponseMessage, Result, Service,
};
use std::pin::Pin;
use std::task::Poll;

use futures::{Stream, StreamExt};
use libloading::Library;

use crate::ffi::{
    FfiWaker, KeepAlive, PluginApi, RawBuf, ABI_VERSION, ENTRY_SYMBOL, POLL_PENDING, POLL_READY,
};
use crate::{batch, codec};

/// A loaded plugin library.
pub struct PluginLibrary {
    path: PathBuf,
    api: *const PluginApi,
    info: DriverInfo,
    /// Set once the library has lent an Arrow batch: it is then never unloaded (see `pin`).
    pinned: std::sync::Once,
    // Last: dropped after everything that may call into it.
    library: Arc<Library>,
}

// SAFETY: `api` points to an immutable static table inside `library`, which lives as long as
// this value; the table's functions are thread-safe by the ABI's contract.
unsafe impl Send for PluginLibrary {}
unsafe impl Sync for PluginLibrary {}

impl std::fmt::Debug for PluginLibrary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PluginLibrary")
            .field("path", &self.path)
            .field("driver", &self.info.name)
            .finish()
    }
}

impl PluginLibrary {
    /// Loads a plugin library and checks its ABI version and handshake.
    pub fn load(path: &Path) -> Result<Arc<PluginLibrary>> {
        let shown = path.display();
        // SAFETY: loading a library runs its initialisers; plugins are code the spec's author
        // chose to run, like the host itself.
        let library = unsafe { Library::new(path) }
            .map_err(|e| Error::invalid_input(format!("cannot load plugin library '{shown}': {e}")))?;
        // SAFETY: the symbol's type is fixed by the ABI; its version is checked before use.
        let entry = unsafe { library.get::<unsafe extern "C" fn() -> *const PluginApi>(ENTRY_SYMBOL.as_bytes()) }
            .map_err(|_| {
                Error::invalid_input(format!(
                    "'{shown}' is not a bindery plugin: it exports no `{ENTRY_SYMBOL}` (build it with bindery_plugin::export_driver!)"
                ))
            })?;
        // SAFETY: calling the entry point the plugin exported.
        let api = unsafe { entry() };
        if api.is_null() {
            return Err(Error::internal(format!(
                "plugin '{shown}' failed to initialise its driver"
            )));
        }
        // SAFETY: every ABI version keeps `abi_version` as the first field.
        let version = unsafe { (*api).abi_version };
        if version != ABI_VERSION {
            return Err(Error::invalid_input(format!(
                "plugin '{shown}' speaks bindery plugin ABI version {version}, but this host speaks version {ABI_VERSION}; rebuild the plugin against a bindery-plugin of this host's release"
            )));
        }
        let library = Arc::new(library);
        // SAFETY: version checked; the table is valid while the library is loaded.
        let raw = unsafe { ((*api).handshake)() };
        let keep: KeepAlive = library.clone();
        // SAFETY: the plugin hands over the buffer.
        let bytes = unsafe { raw.into_bytes(Some(keep)) };
        let (stated, info) = codec::decode_handshake(&bytes).map_err(|e| {
            Error::internal(format!("plugin '{shown}' sent a bad handshake: {}", e.message()))
        })?;
        if stated != ABI_VERSION {
            return Err(Error::invalid_input(format!(
                "plugin '{shown}' states ABI version {stated} in its handshake, but this host speaks version {ABI_VERSION}"
            )));
        }
        Ok(Arc::new(PluginLibrary {
            path: path.to_path_buf(),
            api,
            info,
            pinned: std::sync::Once::new(),
            library,
        }))
    }

    /// What the plugin's driver says of itself.
    pub fn info(&self) -> &DriverInfo {
        &self.info
    }

    /// The library's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn api(&self) -> &PluginApi {
        // SAFETY: see the `Send`/`Sync` impls.
        unsafe { &*self.api }
    }

    fn keep(&self) -> KeepAlive {
        self.library.clone()
    }

    /// Keeps the library loaded until the process ends. Arrow arrays lent by the plugin are
    /// freed by its code whenever the function drops them, which no handle can follow, so a
    /// plugin that has lent a batch is never unloaded.
    fn pin(&self) {
        self.pinned.call_once(|| std::mem::forget(self.library.clone()));
    }

    /// Connects a binding through the plugin.
    pub async fn connect(self: &Arc<Self>, config: BindingConfig) -> Result<Arc<dyn Service>> {
        let lib = self.clone();
        tokio::task::spawn_blocking(move || {
            let bytes = codec::encode_config(&config);
            let mut instance: *mut c_void = std::ptr::null_mut();
            // SAFETY: valid buffer and out-pointer for the duration of the call.
            let raw = unsafe { (lib.api().connect)(bytes.as_ptr(), bytes.len(), &mut instance) };
            // SAFETY: the plugin hands over the buffer.
            let answer = unsafe { raw.into_bytes(Some(lib.keep())) };
            let capability = codec::decode_connect_result(&answer)??;
            if instance.is_null() {
                return Err(Error::internal(
                    "the plugin reported a connection but gave no instance",
                ));
            }
            Ok(Arc::new(PluginService {
                lib,
                instance: Handle(instance),
                capability,
            }) as Arc<dyn Service>)
        })
        .await
        .map_err(|e| Error::internal(format!("plugin connect task failed: {e}")))?
    }
}

#[derive(Clone, Copy)]
struct Handle(*mut c_void);
// SAFETY: plugin instances and calls are thread-safe by the ABI's contract (a call is used
// from one thread at a time, which the host guarantees).
unsafe impl Send for Handle {}
unsafe impl Sync for Handle {}

impl Handle {
    /// The pointer (a method, so closures capture the whole `Send` handle).
    fn ptr(self) -> *mut c_void {
        self.0
    }
}

/// A binding served by a plugin.
struct PluginService {
    lib: Arc<PluginLibrary>,
    instance: Handle,
    capability: Capability,
}

impl Drop for PluginService {
    fn drop(&mut self) {
        // SAFETY: the instance was made by `connect` and is disconnected once.
        unsafe { (self.lib.api().disconnect)(self.instance.0) };
    }
}

/// An open call into the plugin, polled from the host's tasks; closed (which stops the
/// driver's work if it still runs) when dropped, however the response ends.
struct PluginCall {
    lib: Arc<PluginLibrary>,
    call: Handle,
    ended: bool,
}

impl Drop for PluginCall {
    fn drop(&mut self) {
        // SAFETY: the call was made by `call` and is closed once.
        unsafe { (self.lib.api().close_call)(self.call.ptr()) };
    }
}

impl PluginCall {
    /// Waits until the call takes a chunk of data; false if it takes no more.
    async fn ready(&self) -> bool {
        std::future::poll_fn(|cx| {
            // SAFETY: an open call, used by this task only; the waker is handed over.
            match unsafe { (self.lib.api().poll_send_ready)(self.call.ptr(), FfiWaker::new(cx.waker())) } {
                POLL_PENDING => Poll::Pending,
                answer => Poll::Ready(answer == POLL_READY),
            }
        })
        .await
    }

    /// Ends the data, after the last chunk (which may still wait for room).
    async fn end(&self) {
        self.ready().await;
        self.send(RawBuf::null());
    }

    /// Hands over one chunk (or, with the null buffer, the end), after `ready`; false if the
    /// call takes no more.
    fn send(&self, chunk: RawBuf) -> bool {
        // SAFETY: an open call; ownership of the chunk passes to the plugin.
        unsafe { (self.lib.api().send_body)(self.call.ptr(), chunk) == 0 }
    }
}

impl Stream for PluginCall {
    type Item = Result<ResponseMessage>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Option<Self::Item>> {
        if self.ended {
            return Poll::Ready(None);
        }
        let (mut head, mut payload) = (RawBuf::null(), RawBuf::null());
        let api = self.lib.api();
        // SAFETY: an open call and valid out-pointers; the waker is handed over.
        match unsafe {
            (api.poll_frame)(
                self.call.ptr(),
                FfiWaker::new(cx.waker()),
                &mut head,
                &mut payload,
            )
        } {
            POLL_PENDING => return Poll::Pending,
            POLL_READY => {}
            _ => {
                self.ended = true;
                return Poll::Ready(None);
            }
        }
        let lib = &self.lib;
        // SAFETY: the plugin hands over both buffers.
        let head = unsafe { head.into_bytes(Some(lib.keep())) };
        let frame = match codec::is_batch_frame(&head) {
            Ok(true) => {
                lib.pin();
                // SAFETY: a batch frame's payload is a C Data batch lent by the plugin.
                unsafe { batch::import(payload) }
                    .and_then(|b| codec::decode_frame(&head, Bytes::new(), Some(b)))
            }
            // SAFETY: the plugin hands over the buffer.
            _ => codec::decode_frame(&head, unsafe { payload.into_bytes(Some(lib.keep())) }, None),
        };
        self.ended = frame.as_ref().map_or(true, |f| f.is_last);
        Poll::Ready(Some(frame))
    }
}

#[async_trait]
impl Service for PluginService {
    fn capability(&self) -> Capability {
        self.capability
    }

    async fn call(&self, request: DataRequest) -> Result<FrameStream> {
        let header = codec::encode_request(&request)?;
        let (body, batches) = match request.details {
            Details::ObjectPut(_, body) => (Some(body), Vec::new()),
            Details::TableWrite(OpWrite {
                items: Items::Batches(batches),
                ..
            }) => (None, batches),
            _ => (None, Vec::new()),
        };
        // SAFETY: valid instance and buffer for the duration of the call; `call` never waits.
        let call = unsafe { (self.lib.api().call)(self.instance.ptr(), header.as_ptr(), header.len()) };
        if call.is_null() {
            return Err(Error::internal("the plugin refused to start the request"));
        }
        let mut call = PluginCall {
            lib: self.lib.clone(),
            call: Handle(call),
            ended: false,
        };
        // A table write's batches follow the envelope, lent by the C Data Interface; a put's
        // body follows as chunks. Dropping the call before the end abandons the write.
        if !batches.is_empty() {
            for b in &batches {
                if !call.ready().await || !call.send(batch::export(b)?) {
                    break;
                }
            }
            call.end().await;
        }
        if let Some(mut body) = body {
            while let Some(chunk) = body.next_chunk().await {
                let chunk = chunk?;
                if !call.ready().await || !call.send(RawBuf::from_bytes(chunk)) {
                    break;
                }
            }
            call.end().await;
        }
        match call.next().await {
            Some(Ok(first)) => Ok(futures::stream::once(async move { Ok(first) })
                .chain(call)
                .boxed()),
            Some(Err(e)) => Err(e),
            None => Err(Error::internal("the plugin ended the response without a frame")),
        }
    }
}
