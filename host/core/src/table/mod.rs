//! The table kind: schemas, typed operations, the driver trait, and the Arrow compute the
//! host uses to fill what a driver cannot do.
//!
//! Reads answer Arrow [`RecordBatch`]es. Writes carry items (JSON objects from the SDK, or
//! Arrow batches) that the host checks against the table's schema before the driver sees
//! them (see [`items`]); a driver gets only batches whose columns are known and typed.

pub mod build;
pub mod compute;
pub mod items;
pub mod page;
pub mod schema;
pub mod serve;
pub mod sql;

use arrow::array::RecordBatch;
use arrow::datatypes::SchemaRef;
use async_trait::async_trait;
use futures::stream::BoxStream;

use crate::error::{Error, Result};
use crate::filter::{Assignments, Filter, Value};
use crate::request::Options;

pub use schema::{
    no_such_schema_version, now_ms, plan_alter, Column, ColumnType, SchemaVersion, TableSchema,
};

/// Batches of a read, in order.
pub type BatchStream = BoxStream<'static, Result<RecordBatch>>;

/// What a read answers: the schema of its batches (known before the first one, so an empty
/// result still has one), and the batches.
pub struct TableRead {
    /// The schema every batch has.
    pub schema: SchemaRef,
    /// The batches.
    pub batches: BatchStream,
}

/// A primary key's values: the partition key's, then the sorting key's.
pub type Key = Vec<Value>;

/// `read(path, keys…)`.
#[derive(Debug, Clone, Default)]
pub struct OpRead {
    /// Only the rows with these keys (none: every row).
    pub keys: Vec<Key>,
    /// Only the rows passing this filter.
    pub filter: Option<Filter>,
    /// Only these columns, in this order (none: all).
    pub select: Vec<String>,
    /// A read-only query of the driver's own language instead of the above.
    pub sql: Option<String>,
    /// Only part `.0` of `.1` parts of the rows (parts are disjoint and cover the table).
    pub partition: Option<(u32, u32)>,
    /// At most this many rows.
    pub limit: Option<u64>,
    /// The rows in this order (`NULL`s last); empty: the driver's order. A driver with
    /// `read_with_order` sorts; otherwise the host does (see [`page`]).
    pub order_by: Vec<page::Order>,
    /// A paged read: ordered by `order_by` then the primary key, and answering a page token
    /// (a last [`crate::Head::Page`] frame) when it stops at its limit. The host's; drivers
    /// never see it.
    pub page: bool,
    /// Only the rows after this page token's (a paged read's continuation). The host's;
    /// drivers never see it.
    pub after: Option<String>,
    /// The schema to read with (for files without one of their own, such as CSV).
    pub schema: Option<TableSchema>,
    /// Options for the driver.
    pub options: Options,
}

/// The items of a write.
#[derive(Debug, Clone, Default)]
pub enum Items {
    /// None (a write by expression).
    #[default]
    None,
    /// JSON objects, one per row: a field left out is absent (kept on an existing row, the
    /// default on a new one); a field given as `null` is written as `NULL`.
    Json(Vec<serde_json::Map<String, serde_json::Value>>),
    /// Arrow batches; every column of a batch is written.
    Batches(Vec<RecordBatch>),
}

impl Items {
    /// How many rows.
    pub fn len(&self) -> usize {
        match self {
            Items::None => 0,
            Items::Json(rows) => rows.len(),
            Items::Batches(b) => b.iter().map(RecordBatch::num_rows).sum(),
        }
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// `write(path)`.
///
/// With items: each item is upserted by its key (inserted, or its given columns updated).
/// With an expression: the rows of `keys` are updated by it (a key without a row is
/// `NotFound`). With a condition: it must hold for every row the write touches, evaluated
/// on the row as it is before the write (a row that does not exist has every column `NULL`,
/// so `version IS NULL` means "only if new"); if it fails for any, the error is
/// `ConditionFailed` and nothing is written. A write is atomic: all of it, or none.
#[derive(Debug, Clone, Default)]
pub struct OpWrite {
    /// The rows an expression updates.
    pub keys: Vec<Key>,
    /// The items to upsert. The host hands a driver `Items::Batches` only, checked against
    /// the schema.
    pub items: Items,
    /// An update expression.
    pub expression: Option<Assignments>,
    /// A condition on each touched row.
    pub condition: Option<Filter>,
    /// Options for the driver.
    pub options: Options,
}

/// `delete(path)`: removes rows, atomically.
///
/// The rows removed are those of `keys` (a key without a row removes nothing) that pass
/// `filter`, or, without keys, every row passing `filter`; one of the two must be given (a
/// delete of every row says so: `where_("true")`). With a condition: it must hold for every
/// row that would be removed, as it is before the delete; if it fails for any, the error is
/// `ConditionFailed` and nothing is removed. Answers how many rows were removed.
#[derive(Debug, Clone, Default)]
pub struct OpDeleteRows {
    /// The rows of these keys.
    pub keys: Vec<Key>,
    /// Only the rows passing this filter.
    pub filter: Option<Filter>,
    /// A condition on each row removed.
    pub condition: Option<Filter>,
    /// Options for the driver.
    pub options: Options,
}

/// `schema(path)`: the current schema, or the version asked for.
#[derive(Debug, Clone, Default)]
pub struct OpSchema {
    /// The schema version wanted (1 is the `create`'s; needs `versioning`); `None`: the
    /// current one.
    pub version: Option<u64>,
    /// Options for the driver.
    pub options: Options,
}

/// `create(path)`.
#[derive(Debug, Clone, Default)]
pub struct OpCreateTable {
    /// The columns and key.
    pub schema: TableSchema,
    /// Options for the driver.
    pub options: Options,
}

/// `alter(path)`: the schema wanted, or columns to add; only backward-compatible changes are
/// applied (see [`plan_alter`]).
#[derive(Debug, Clone, Default)]
pub struct OpAlter {
    /// The whole schema wanted (columns not in the current schema are added); `None`: the
    /// current one.
    pub schema: Option<TableSchema>,
    /// Columns to add.
    pub add: Vec<Column>,
    /// Options for the driver.
    pub options: Options,
}

/// The table operations of a driver. Every operation defaults to `Unsupported`.
///
/// The host calls a driver with checked requests only: filters and selects that name known
/// columns with literals of their types, items that fit the schema, expressions that set
/// writable non-key columns. What the driver's capability says it cannot do (filter,
/// select, limit, keys) the host does on the batches it answers.
#[async_trait]
pub trait TableDriver: Send + Sync {
    /// A table's schema; `NotFound` naming it when there is no such table. A driver that
    /// keeps the history of a table's schemas (capability `versioning`) says which version it
    /// is.
    async fn schema(&self, path: &str, options: Options) -> Result<TableSchema> {
        let _ = (path, options);
        Err(Error::unsupported("schema"))
    }

    /// Version `version` of a table's schema (capability `versioning`): what its `create`
    /// (1) or an `alter` made, with its version and time; `InvalidInput` for a version the
    /// table does not have ([`no_such_schema_version`]).
    async fn schema_version(&self, path: &str, version: u64, options: Options) -> Result<TableSchema> {
        let _ = (path, version, options);
        Err(Error::unsupported("schema at a version"))
    }

    /// Reads rows.
    async fn read(&self, path: &str, op: OpRead) -> Result<TableRead> {
        let _ = (path, op);
        Err(Error::unsupported("read"))
    }

    /// Writes rows; returns how many rows were written. Atomic.
    async fn write(&self, path: &str, op: OpWrite) -> Result<u64> {
        let _ = (path, op);
        Err(Error::unsupported("write"))
    }

    /// Removes rows (capability `table_delete`); the request is checked against the schema
    /// first (see [`OpDeleteRows`]). Returns how many rows were removed. Atomic.
    async fn delete_rows(&self, path: &str, op: OpDeleteRows) -> Result<u64> {
        let _ = (path, op);
        Err(Error::unsupported("delete rows"))
    }

    /// Creates a table; `AlreadyExists` if there is one.
    async fn create(&self, path: &str, op: OpCreateTable) -> Result<()> {
        let _ = (path, op);
        Err(Error::unsupported("create"))
    }

    /// Drops a table and its rows; `NotFound` if there is none.
    async fn drop_table(&self, path: &str, options: Options) -> Result<()> {
        let _ = (path, options);
        Err(Error::unsupported("drop"))
    }

    /// Adds columns (already checked by [`plan_alter`]); existing rows get each column's
    /// default.
    async fn add_columns(&self, path: &str, columns: Vec<Column>, options: Options) -> Result<()> {
        let _ = (path, columns, options);
        Err(Error::unsupported("alter"))
    }

    /// The changes to a table's rows, made by anyone (capability `watch`), as
    /// [`crate::watch`] promises: in order per key, from now or after a cursor, the current
    /// rows first when `op.initial`, a `resync` where a cursor cannot be served. A change's
    /// `path` is the row's key.
    async fn watch(&self, path: &str, op: crate::watch::OpWatch) -> Result<crate::watch::ChangeStream> {
        let _ = (path, op);
        Err(Error::unsupported("watch"))
    }
}
