//! The driver-facing core of bindery.
//!
//! Everything a driver and the host share, and nothing else: the [`Error`] type, the
//! [`Capability`] record, the [`Connect`] / [`Driver`] / [`Instance`] traits and the trait of each kind
//! ([`ObjectDriver`]), the typed requests and the frames responses travel in
//! ([`DataRequest`], [`ResponseMessage`]), and the path rules ([`path`]).
//! A driver crate depends on this crate only.
//!
//! ```
//! use std::sync::Arc;
//! use bindery_core::{async_trait, BindingConfig, Capability, Connect, Instance, Kind,
//!     ObjectDriver, ObjectMeta, OpStat, Result};
//!
//! struct Hello;
//! struct HelloInstance;
//!
//! #[async_trait]
//! impl Connect for Hello {
//!     const NAME: &'static str = "hello";
//!     const KINDS: &'static [Kind] = &[Kind::Object];
//!     const CAPABILITY: Capability = Capability { head: true, ..Capability::NONE };
//!     const DESCRIPTION: &'static str = "Every object exists and is empty.";
//!     const VERSION: &'static str = "0.1.0";
//!
//!     async fn connect(&self, _config: BindingConfig) -> Result<Arc<dyn Instance>> {
//!         Ok(Arc::new(HelloInstance))
//!     }
//! }
//!
//! impl Instance for HelloInstance {
//!     fn capability(&self) -> Capability { Hello::CAPABILITY }
//!     fn object(&self) -> Option<&dyn ObjectDriver> { Some(self) }
//! }
//!
//! #[async_trait]
//! impl ObjectDriver for HelloInstance {
//!     async fn head(&self, path: &str, _op: OpStat) -> Result<ObjectMeta> {
//!         Ok(ObjectMeta { path: path.to_string(), gen: "1".into(), ..Default::default() })
//!     }
//! }
//! ```

pub mod capability;
pub mod config;
pub mod driver;
pub mod error;
pub mod filter;
pub mod generic;
pub mod object;
pub mod path;
pub mod request;
pub mod stream;
pub mod table;
pub mod version;
pub mod watch;

pub use arrow;
pub use async_trait::async_trait;
pub use bytes::Bytes;
pub use capability::Capability;
pub use config::{option_docs, DriverOptions, OptionDoc};
pub use driver::{blocking, BindingConfig, Connect, Driver, DriverInfo, Instance, Kind, Secret};
pub use error::{Error, ErrorKind, Result};
pub use generic::{CallReply, CallResponse, GenericDriver, OpCall};
pub use object::{
    shape_listing, ByteRange, ByteStream, Conditions, GetResponse, ListEntry, ListStream, ObjectDriver,
    ObjectMeta, OpGet, OpList, OpPut, OpStat, PutBody,
};
pub use request::{
    array_frames, body_frames, list_frames, one_frame, serve, Command, DataRequest, Details, Encoding,
    FrameStream, Head, InstanceService, Options, ResponseMessage, Service,
};
pub use stream::{
    filter_message, Message, MessageStream, OpCheckpoint, OpConsume, OpCreateStream, OpPublish, ShardInfo,
    StartAt, StreamDriver,
};
pub use table::{
    BatchStream, Column, ColumnType, Items, Key, OpAlter, OpCreateTable, OpDeleteRows, OpRead, OpSchema,
    OpWrite, SchemaVersion, TableDriver, TableRead, TableSchema,
};
pub use version::{
    Diff, DiffFormat, OpDiff, OpRevert, OpTag, OpVersions, Revision, Signature, Tag, TagAction,
};
pub use watch::{Change, ChangeKind, ChangeLog, ChangeStream, OpWatch, WatchFrom};
