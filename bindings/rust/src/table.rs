//! Table requests: `read`, `write`, `create`, `drop`, `alter`, `schema`.
//!
//! ```no_run
//! # fn f() -> bindery::Result<()> {
//! let ctx = bindery::Context::open("function.yaml")?;
//! ctx.table().create("db0://users")
//!     .schema("user string, age int64, addr string, version int64 NOT NULL DEFAULT 0")
//!     .primary_key("user", None)
//!     .do_()?;
//! ctx.table().write("db0://users")
//!     .with_items([serde_json::json!({"user": "ana", "age": 41, "addr": "NY"})])
//!     .do_()?;
//! for batch in ctx.table().read("db0://users").select(["user", "addr"]).where_("age > 30").load() {
//!     let batch = batch?; // an Arrow RecordBatch, prefetched while this loop works
//!     println!("{} rows", batch.num_rows());
//! }
//! # Ok(()) }
//! ```

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use bindery_core::arrow::array::RecordBatch;
use bindery_core::arrow::datatypes::SchemaRef;
use bindery_core::filter::{Assignments, Filter, Params, Value};
use bindery_core::table::page;
use bindery_core::{
    Details, Error, Head, Items, Kind, OpAlter, OpCreateTable, OpDeleteRows, OpRead, OpSchema, OpWrite,
    Options, ResponseMessage, Result, TableSchema,
};
use futures::stream::{self, Stream};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::frames::{Frames, Items as Queue};
use crate::request::Req;
use crate::wait::Done;
use crate::Context;

/// The table operations of a context: `ctx.table()`.
#[derive(Clone)]
pub struct Tables {
    ctx: Context,
}

impl Tables {
    pub(crate) fn new(ctx: Context) -> Tables {
        Tables { ctx }
    }

    /// Reads rows: build with [`Read::key`], [`Read::where_`], [`Read::select`], …, then
    /// [`Read::load`] for batches as they come, or `.await` / [`Read::do_`] for all of them.
    pub fn read(&self, path: impl Into<String>) -> Read {
        Read {
            req: Req::new(&self.ctx, path),
            op: OpRead::default(),
        }
    }

    /// Writes rows: [`Write::with_items`] upserts items by key; [`Write::with_expression`]
    /// updates the rows of [`Write::to_keys`].
    pub fn write(&self, path: impl Into<String>) -> Write {
        Write {
            req: Req::new(&self.ctx, path),
            op: OpWrite::default(),
        }
    }

    /// Removes rows, atomically: those of [`Delete::key`] / [`Delete::keys`], or those passing
    /// [`Delete::where_`], or the rows of the keys that pass the filter; awaiting it answers how
    /// many were removed (a key without a row removes nothing). [`Delete::condition`] must
    /// hold for every row removed, or nothing is. Needs `table_delete` (sqlite, postgres).
    pub fn delete(&self, path: impl Into<String>) -> Delete {
        Delete {
            req: Req::new(&self.ctx, path),
            op: OpDeleteRows::default(),
        }
    }

    /// Creates a table: give its [`schema`](Create::schema) and
    /// [`primary_key`](Create::primary_key).
    pub fn create(&self, path: impl Into<String>) -> Create {
        Create {
            req: Req::new(&self.ctx, path),
            schema: None,
            key: None,
            options: Options::new(),
        }
    }

    /// Drops a table and its rows.
    pub fn drop(&self, path: impl Into<String>) -> TableAdmin {
        TableAdmin {
            req: Req::new(&self.ctx, path),
        }
    }

    /// Changes a table's schema, backward-compatibly only: columns may be added (nullable, or
    /// with a default that existing rows get); anything else is refused naming the column.
    pub fn alter(&self, path: impl Into<String>) -> Alter {
        Alter {
            req: Req::new(&self.ctx, path.into()),
            schema: None,
            add: Vec::new(),
            options: Options::new(),
        }
    }

    /// A table's schema: the current one, or with [`SchemaOf::version`] an older one. On a
    /// driver that keeps their history (`versioning`: sqlite, postgres, files) the schema says
    /// which version it is and when it was made ([`TableSchema::version`]).
    pub fn schema(&self, path: impl Into<String>) -> SchemaOf {
        SchemaOf {
            req: Req::new(&self.ctx, path),
            version: None,
        }
    }

    /// Watches a table's rows: every insert, update and delete, also those made by other
    /// programs (see [`crate::Watcher`]). A change's `path` is the row's key, `row` the row
    /// after it and `before` the row before it, as JSON, where the driver gives them.
    pub fn watch(&self, path: impl Into<String>) -> crate::Watch {
        crate::Watch::new(Req::new(&self.ctx, path), Kind::Table)
    }
}

fn schema_of(frames: Vec<ResponseMessage>) -> Result<TableSchema> {
    match frames.into_iter().next().map(|f| f.head) {
        Some(Head::Batch(b)) => TableSchema::from_arrow(&b.schema()),
        _ => Err(Error::internal("the driver answered schema without one")),
    }
}

fn finish_schema(frames: Vec<ResponseMessage>) -> Result<Done> {
    schema_of(frames).map(Done::Schema)
}

fn count(frames: Vec<ResponseMessage>) -> Result<u64> {
    match frames.into_iter().next().map(|f| f.head) {
        Some(Head::Count(n)) => Ok(n),
        _ => Err(Error::internal("the driver answered a write without a count")),
    }
}

fn finish_count(frames: Vec<ResponseMessage>) -> Result<Done> {
    count(frames).map(Done::Written)
}

fn applied(_: Vec<ResponseMessage>) -> Result<()> {
    Ok(())
}

fn finish_applied(_: Vec<ResponseMessage>) -> Result<Done> {
    Ok(Done::Applied)
}

fn batches(frames: Vec<ResponseMessage>) -> Result<Vec<RecordBatch>> {
    Ok(frames
        .into_iter()
        .filter_map(|f| match f.head {
            Head::Batch(b) if b.num_rows() > 0 => Some(b),
            _ => None,
        })
        .collect())
}

fn finish_batches(frames: Vec<ResponseMessage>) -> Result<Done> {
    batches(frames).map(Done::Batches)
}

/// `read(path)`.
#[must_use = "a request does nothing until it is loaded, awaited or done"]
pub struct Read {
    req: Req,
    op: OpRead,
}

impl Read {
    /// Only the row with this key: the partition key's value, then the sorting key's.
    pub fn key<V: Into<Value>>(mut self, key: impl IntoIterator<Item = V>) -> Self {
        self.op.keys.push(key.into_iter().map(Into::into).collect());
        self
    }

    /// Only the rows of these single-column keys.
    pub fn keys<V: Into<Value>>(mut self, keys: impl IntoIterator<Item = V>) -> Self {
        self.op.keys.extend(keys.into_iter().map(|k| vec![k.into()]));
        self
    }

    /// Only rows passing a filter: `"age > 30 AND city = 'NY'"` (DESIGN §6).
    pub fn where_(mut self, filter: &str) -> Self {
        match Filter::parse(filter) {
            Ok(f) => self.op.filter = Some(f),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// Only these columns, in this order.
    pub fn select<S: Into<String>>(mut self, fields: impl IntoIterator<Item = S>) -> Self {
        self.op.select.extend(fields.into_iter().map(Into::into));
        self
    }

    /// A read-only query in the driver's language instead (for `sqlite`, SQL); `where_`,
    /// `select` and `limit` then apply to its result.
    pub fn sql(mut self, query: impl Into<String>) -> Self {
        self.op.sql = Some(query.into());
        self
    }

    /// Only part `part` of `in_parts` disjoint parts of the table, to read in parallel.
    pub fn partition(mut self, part: u32, in_parts: u32) -> Self {
        self.op.partition = Some((part, in_parts));
        self
    }

    /// At most `n` rows.
    pub fn limit(mut self, n: u64) -> Self {
        self.op.limit = Some(n);
        self
    }

    /// The rows in this order: `["age desc", "user"]` (a column, then `asc` or `desc`; or
    /// `-age`). `NULL`s sort last either way. Drivers that sort push it down (SQL `ORDER BY`);
    /// for the others the host sorts, holding the rows that pass the filter.
    pub fn order_by<S: AsRef<str>>(mut self, columns: impl IntoIterator<Item = S>) -> Self {
        for c in columns {
            match page::Order::parse(c.as_ref()) {
                Ok(o) => self.op.order_by.push(o),
                Err(e) => self.req.fail(e),
            }
        }
        self
    }

    /// A page of at most `rows` rows, in `order_by` then primary-key order; when the page is
    /// full, [`TableReader::next_page`] gives the token of the next one (read it with
    /// [`Read::after`]). Pages resume exactly: rows written or removed meanwhile are neither
    /// skipped nor repeated. A table without a primary key cannot be paged.
    pub fn page(mut self, rows: u64) -> Self {
        self.op.page = true;
        self.op.limit = Some(rows);
        self
    }

    /// Only the rows after the page that gave `token` (see [`Read::page`]): keep the same
    /// `order_by`, filter and select.
    pub fn after(mut self, token: impl Into<String>) -> Self {
        self.op.page = true;
        self.op.after = Some(token.into());
        self
    }

    /// The schema to read with, in the text form (for files without one of their own).
    pub fn schema(mut self, schema: &str) -> Self {
        match TableSchema::parse(schema) {
            Ok(s) => self.op.schema = Some(s),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// The result's format: `arrow` (the only one: batches are Arrow `RecordBatch`es; use
    /// [`TableReader::scan`] for typed rows).
    pub fn format(mut self, format: &str) -> Self {
        if !format.eq_ignore_ascii_case("arrow") {
            self.req.fail(Error::invalid_input(format!(
                "unknown read format '{format}'; formats: arrow (use scan() for typed rows)"
            )));
        }
        self
    }

    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.op.options.insert(key.into(), value.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let Read { req, op } = self;
        req.send(Kind::Table, "read", false, || Details::TableRead(op))
    }

    /// Starts the read and returns the reader at once; batches are prefetched up to the
    /// binding's window while the caller works.
    pub fn load(self) -> TableReader {
        let next_page = Arc::new(Mutex::new(None));
        let slot = next_page.clone();
        let unpack = move |f: ResponseMessage, queue: &mut VecDeque<RecordBatch>| match f.head {
            Head::Batch(b) => queue.push_back(b),
            Head::Page(token) => *slot.lock().unwrap_or_else(|e| e.into_inner()) = Some(token),
            _ => {}
        };
        TableReader {
            items: Queue::new(self.send(), Box::new(unpack)),
            schema: None,
            ahead: None,
            next_page,
        }
    }
}

runnable!(Read, Vec<RecordBatch>, batches, finish_batches);

/// The response of `read(…).load()`: Arrow batches, in order.
pub struct TableReader {
    items: Queue<RecordBatch>,
    schema: Option<SchemaRef>,
    /// A batch (or error) taken early, by `schema` or `has_next`.
    ahead: Option<Result<RecordBatch>>,
    /// A paged read's next page token, once the read has ended.
    next_page: Arc<Mutex<Option<String>>>,
}

impl TableReader {
    /// Notes the schema of a batch; `None` for the empty batch that only gives it.
    fn take(&mut self, b: Option<Result<RecordBatch>>) -> Option<Option<Result<RecordBatch>>> {
        match b {
            Some(Ok(b)) => {
                if self.schema.is_none() {
                    self.schema = Some(b.schema());
                }
                (b.num_rows() > 0).then_some(Some(Ok(b)))
            }
            other => Some(other),
        }
    }

    /// The schema of every batch (known even when there are no rows); blocks until the
    /// read has begun. The read's error if it failed before that.
    pub fn schema(&mut self) -> Result<SchemaRef> {
        if self.schema.is_none() && self.ahead.is_none() {
            self.ahead = self.next();
        }
        self.known_schema()
    }

    /// Like [`schema`](TableReader::schema), async.
    pub async fn schema_async(&mut self) -> Result<SchemaRef> {
        if self.schema.is_none() && self.ahead.is_none() {
            self.ahead = self.next_async().await;
        }
        self.known_schema()
    }

    fn known_schema(&self) -> Result<SchemaRef> {
        match (&self.schema, &self.ahead) {
            (Some(s), _) => Ok(s.clone()),
            (None, Some(Err(e))) => Err(e.clone()),
            _ => Err(Error::internal("the read ended without giving its schema")),
        }
    }

    /// The next batch, waiting (blocking) for it; `None` at the end.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Option<Result<RecordBatch>> {
        if let Some(b) = self.ahead.take() {
            return Some(b);
        }
        loop {
            let b = self.items.next_blocking();
            if let Some(b) = self.take(b) {
                return b;
            }
        }
    }

    /// The next batch, waiting (async) for it; `None` at the end.
    pub async fn next_async(&mut self) -> Option<Result<RecordBatch>> {
        if let Some(b) = self.ahead.take() {
            return Some(b);
        }
        loop {
            let b = self.items.next_async().await;
            if let Some(b) = self.take(b) {
                return b;
            }
        }
    }

    /// The token of the next page of a [`Read::page`]d read, once every batch has been
    /// taken: `None` when this page was the last (it stopped before its limit), or before the
    /// end.
    pub fn next_page(&self) -> Option<String> {
        self.next_page.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// A handle on [`next_page`](TableReader::next_page) that outlives the reader (for
    /// wrappers that consume it).
    pub fn next_page_slot(&self) -> Arc<Mutex<Option<String>>> {
        self.next_page.clone()
    }

    /// Whether another batch (or an error) follows; blocks until that is known.
    pub fn has_next(&mut self) -> bool {
        if self.ahead.is_none() {
            self.ahead = self.next();
        }
        self.ahead.is_some()
    }

    /// Every remaining row as a typed value (blocking): each row becomes a JSON object of
    /// its columns, deserialized into `T` (fields by column name; `timestamp` columns are
    /// RFC 3339 text, `json` columns their JSON text).
    pub fn scan<T: DeserializeOwned>(mut self) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while let Some(b) = self.next() {
            out.extend(scan_batch::<T>(&b?)?);
        }
        Ok(out)
    }

    /// Like [`scan`](TableReader::scan), async.
    pub async fn scan_async<T: DeserializeOwned>(mut self) -> Result<Vec<T>> {
        let mut out = Vec::new();
        while let Some(b) = self.next_async().await {
            out.extend(scan_batch::<T>(&b?)?);
        }
        Ok(out)
    }

    /// The batches as a `futures::Stream`.
    pub fn into_stream(self) -> impl Stream<Item = Result<RecordBatch>> + Send + 'static {
        stream::unfold(self, |mut r| async move { r.next_async().await.map(|b| (b, r)) })
    }

    /// Stops reading and waits (blocking) until the driver has let go.
    pub fn close(self) {
        self.items.close_blocking();
    }

    /// Like [`close`](TableReader::close), async.
    pub async fn close_async(self) {
        self.items.close_async().await;
    }
}

impl Iterator for TableReader {
    type Item = Result<RecordBatch>;
    fn next(&mut self) -> Option<Result<RecordBatch>> {
        TableReader::next(self)
    }
}

/// A batch's rows as typed values: each row a JSON object of its columns.
pub fn scan_batch<T: DeserializeOwned>(batch: &RecordBatch) -> Result<Vec<T>> {
    let mut writer = bindery_core::arrow::json::ArrayWriter::new(Vec::new());
    writer
        .write(batch)
        .and_then(|_| writer.finish())
        .map_err(|e| Error::internal(format!("cannot turn rows into JSON: {e}")))?;
    let json = writer.into_inner();
    if json.is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_slice(&json)
        .map_err(|e| Error::invalid_input(format!("cannot scan the rows into the type asked for: {e}")))
}

/// `write(path)`.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Write {
    req: Req,
    op: OpWrite,
}

impl Write {
    /// The keys of the rows an expression updates (each the partition key's value, then
    /// the sorting key's).
    pub fn to_keys<K, V>(mut self, keys: impl IntoIterator<Item = K>) -> Self
    where
        K: IntoIterator<Item = V>,
        V: Into<Value>,
    {
        self.op
            .keys
            .extend(keys.into_iter().map(|k| k.into_iter().map(Into::into).collect()));
        self
    }

    /// Items to upsert, each serializing to a JSON object of columns: a field left out is
    /// absent (kept on an existing row; the default on a new one), a field given as `null`
    /// is written as `NULL`.
    pub fn with_items<T: Serialize>(mut self, items: impl IntoIterator<Item = T>) -> Self {
        let mut rows = match std::mem::take(&mut self.op.items) {
            Items::Json(rows) => rows,
            _ => Vec::new(),
        };
        for (i, item) in items.into_iter().enumerate() {
            match serde_json::to_value(item) {
                Ok(serde_json::Value::Object(map)) => rows.push(map),
                Ok(other) => self.req.fail(Error::invalid_input(format!(
                    "item {i} is not an object of columns but {other}"
                ))),
                Err(e) => self.req.fail(Error::invalid_input(format!(
                    "item {i} cannot be serialized: {e}"
                ))),
            }
        }
        self.op.items = Items::Json(rows);
        self
    }

    /// Items as Arrow batches: every column of a batch is written.
    pub fn with_batches(mut self, batches: impl IntoIterator<Item = RecordBatch>) -> Self {
        self.op.items = Items::Batches(batches.into_iter().collect());
        self
    }

    /// An update expression over each row of [`to_keys`](Write::to_keys):
    /// `"count = count + :inc, seen = :now"`, with `:name` values from `attrs`.
    pub fn with_expression<S: Into<String>, V: Into<Value>>(
        mut self,
        expression: &str,
        attrs: impl IntoIterator<Item = (S, V)>,
    ) -> Self {
        let params: Params = attrs.into_iter().map(|(k, v)| (k.into(), v.into())).collect();
        match Assignments::parse(expression, &params) {
            Ok(a) => self.op.expression = Some(a),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// A condition on each row the write touches, as it is before the write: `"version = 3"`.
    /// When it fails for any row, nothing is written and the error is `ConditionFailed`.
    pub fn condition(mut self, condition: &str) -> Self {
        match Filter::parse(condition) {
            Ok(f) => self.op.condition = Some(f),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// The items' format: `json` (the default for [`with_items`](Write::with_items)) or
    /// `arrow` ([`with_batches`](Write::with_batches)); a mismatch is refused.
    pub fn format(mut self, format: &str) -> Self {
        let ok = match format.to_ascii_lowercase().as_str() {
            "json" => !matches!(self.op.items, Items::Batches(_)),
            "arrow" => !matches!(self.op.items, Items::Json(_)),
            _ => false,
        };
        if !ok {
            self.req.fail(Error::invalid_input(format!(
                "write format '{format}' does not fit the items given; formats: json (with_items), arrow (with_batches)"
            )));
        }
        self
    }

    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.op.options.insert(key.into(), value.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let Write { req, op } = self;
        req.send(Kind::Table, "write", false, || Details::TableWrite(op))
    }
}

runnable!(Write, u64, count, finish_count);

/// `delete(path)`.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Delete {
    req: Req,
    op: OpDeleteRows,
}

impl Delete {
    /// The row of this key (the partition key's value, then the sorting key's), as
    /// [`Read::key`].
    pub fn key<V: Into<Value>>(mut self, key: impl IntoIterator<Item = V>) -> Self {
        self.op.keys.push(key.into_iter().map(Into::into).collect());
        self
    }

    /// The rows of these single-column keys, as [`Read::keys`].
    pub fn keys<V: Into<Value>>(mut self, keys: impl IntoIterator<Item = V>) -> Self {
        self.op.keys.extend(keys.into_iter().map(|k| vec![k.into()]));
        self
    }

    /// Only the rows passing a filter: `"age > 30"`; `"true"` removes every row.
    pub fn where_(mut self, filter: &str) -> Self {
        match Filter::parse(filter) {
            Ok(f) => self.op.filter = Some(f),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// A condition on each row removed, as it is before the delete: `"version = 3"`. When it
    /// fails for any, nothing is removed and the error is `ConditionFailed`.
    pub fn condition(mut self, condition: &str) -> Self {
        match Filter::parse(condition) {
            Ok(f) => self.op.condition = Some(f),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.op.options.insert(key.into(), value.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let Delete { req, op } = self;
        req.send(Kind::Table, "delete", false, || Details::TableDelete(op))
    }
}

runnable!(Delete, u64, count, finish_count);

/// `create(path)`.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Create {
    req: Req,
    schema: Option<TableSchema>,
    key: Option<(String, Option<String>)>,
    options: Options,
}

impl Create {
    /// The columns, in the text form: `"user string NOT NULL, age int64 DEFAULT 0, created
    /// timestamp READ ONLY"` (types: bool, int32, int64, float32, float64, string, binary,
    /// timestamp, date, json).
    pub fn schema(mut self, schema: &str) -> Self {
        match TableSchema::parse(schema) {
            Ok(s) => self.schema = Some(s),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// The columns, as a typed schema.
    pub fn table_schema(mut self, schema: TableSchema) -> Self {
        self.schema = Some(schema);
        self
    }

    /// The primary key: the partition key, and an optional sorting key.
    pub fn primary_key(mut self, partition_key: &str, sorting_key: Option<&str>) -> Self {
        self.key = Some((partition_key.to_string(), sorting_key.map(str::to_string)));
        self
    }

    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let Create {
            mut req,
            schema,
            key,
            options,
        } = self;
        let schema = match (schema, key) {
            (None, _) => Err(Error::invalid_input(
                "create needs a schema: .schema(\"name type, …\")",
            )),
            (Some(s), Some((p, sk))) if s.key.is_empty() => s.with_key(&p, sk.as_deref()),
            (Some(s), _) => Ok(s),
        };
        let schema = schema.unwrap_or_else(|e| {
            req.fail(e);
            TableSchema::default()
        });
        req.send(Kind::Table, "create", false, || {
            Details::TableCreate(OpCreateTable { schema, options })
        })
    }
}

runnable!(Create, (), applied, finish_applied);

/// `alter(path)`.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct Alter {
    req: Req,
    schema: Option<TableSchema>,
    add: Vec<String>,
    options: Options,
}

impl Alter {
    /// The whole schema wanted (text form); columns not there yet are added.
    pub fn schema(mut self, schema: &str) -> Self {
        match TableSchema::parse(schema) {
            Ok(s) => self.schema = Some(s),
            Err(e) => self.req.fail(e),
        }
        self
    }

    /// Adds a column (text form: `"score int64 NOT NULL DEFAULT 0"`).
    pub fn add_column(mut self, column: &str) -> Self {
        self.add.push(column.to_string());
        self
    }

    /// Adds an option, passed to the driver.
    pub fn option(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.options.insert(key.into(), value.into());
        self
    }

    fn send(self) -> Result<Frames> {
        let Alter {
            mut req,
            schema,
            add,
            options,
        } = self;
        if schema.is_none() && add.is_empty() {
            req.fail(Error::invalid_input(
                "alter needs a change: .add_column(\"name type …\") or .schema(\"…\")",
            ));
        }
        let mut columns = Vec::new();
        for c in &add {
            match TableSchema::parse(c) {
                Ok(s) => columns.extend(s.columns),
                Err(e) => req.fail(e),
            }
        }
        req.send(Kind::Table, "alter", false, || {
            Details::TableAlter(OpAlter {
                schema,
                add: columns,
                options,
            })
        })
    }
}

runnable!(Alter, (), applied, finish_applied);

/// `drop(path)`.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct TableAdmin {
    req: Req,
}

impl TableAdmin {
    fn send(self) -> Result<Frames> {
        self.req
            .send(Kind::Table, "drop", false, || Details::TableDrop(Options::new()))
    }
}

runnable!(TableAdmin, (), applied, finish_applied);

/// `schema(path)`.
#[must_use = "a request does nothing until it is awaited or done"]
pub struct SchemaOf {
    req: Req,
    version: Option<u64>,
}

impl SchemaOf {
    /// The schema as version `n` had it: 1 is what `create` made, each `alter` adds one
    /// (needs the `versioning` capability; a version the table does not have is
    /// `InvalidInput`).
    pub fn version(mut self, n: u64) -> Self {
        self.version = Some(n);
        self
    }

    fn send(self) -> Result<Frames> {
        let version = self.version;
        self.req.send(Kind::Table, "schema", false, || {
            Details::TableSchema(OpSchema {
                version,
                options: Options::new(),
            })
        })
    }
}

runnable!(SchemaOf, TableSchema, schema_of, finish_schema);
