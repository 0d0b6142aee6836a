//! The files driver's tables: a folder per table, appended to by whole files.

use bindery_core::Connect;
use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arrow::array::{ArrayRef, RecordBatch};
use arrow::row::{OwnedRow, RowConverter, SortField};
use bindery_core::table::compute::default_array;
use bindery_core::table::{no_such_schema_version, now_ms, SchemaVersion};
use bindery_core::watch::{ChangeStream, OpWatch};
use bindery_core::{
    async_trait, blocking, Capability, Column, Error, ErrorKind, Instance, Items, OpCreateTable, OpRead,
    OpWrite, Options, Result, TableDriver, TableRead, TableSchema,
};
use serde::{Deserialize, Serialize};

use crate::config::format_option;
use crate::format::Format;
use crate::read::{self, data_files, Plan};

use crate::error::arrow_internal;
use crate::Files;

/// The file in a table's folder holding its schema.
pub(crate) const META: &str = "_bindery.json";

/// What `_bindery.json` holds.
#[derive(Serialize, Deserialize)]
struct Meta {
    /// The columns, in the schema's text form.
    columns: String,
    /// The primary key.
    #[serde(default)]
    key: Vec<String>,
    /// The format new files are written in.
    format: String,
    /// Every version of the schema, oldest first: what `create` made is version 1, each
    /// `alter` adds one (empty in a file written before they were kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    versions: Vec<MetaVersion>,
}

/// A version of a table's schema, in `_bindery.json`.
#[derive(Serialize, Deserialize)]
struct MetaVersion {
    version: u64,
    /// When it was made, in milliseconds since the Unix epoch (absent: not known).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    time_ms: Option<i64>,
    columns: String,
    #[serde(default)]
    key: Vec<String>,
}

impl MetaVersion {
    fn schema(&self) -> Result<TableSchema> {
        let mut schema = TableSchema::parse(&self.columns)?;
        schema.key = self.key.clone();
        schema.version = Some(SchemaVersion::at(self.version, self.time_ms));
        Ok(schema)
    }
}

/// A table's place.
struct Table {
    name: String,
    /// The folder (or the single file).
    path: PathBuf,
}

impl Table {
    fn meta_path(&self) -> PathBuf {
        self.path.join(META)
    }

    /// `_bindery.json`, if the table has one.
    fn meta(&self) -> Result<Option<Meta>> {
        let meta_path = self.meta_path();
        match std::fs::read(&meta_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                Error::internal(format!(
                    "the schema file '{}' is damaged: {e}",
                    meta_path.display()
                ))
            }),
            Err(e)
                if e.kind() == std::io::ErrorKind::NotFound
                    || e.kind() == std::io::ErrorKind::NotADirectory =>
            {
                Ok(None)
            }
            Err(e) => Err(Error::io(e, &format!("read '{}'", meta_path.display()))),
        }
    }

    /// The schema and write format: `_bindery.json`'s, or the first file's (in its format).
    fn describe(&self) -> Result<(TableSchema, Format)> {
        if let Some(meta) = self.meta()? {
            let mut schema = TableSchema::parse(&meta.columns)?;
            schema.key = meta.key;
            schema.version = meta
                .versions
                .last()
                .map(|v| SchemaVersion::at(v.version, v.time_ms));
            return Ok((schema, Format::parse(&meta.format)?));
        }
        let files = self.files()?;
        let Some((first, format)) = files.first() else {
            return Err(Error::not_found(format!(
                "table '{}' has no schema and no data files (folder '{}')",
                self.name,
                self.path.display()
            )));
        };
        let schema = TableSchema::from_arrow(&format.infer(first)?)
            .map_err(|e| Error::invalid_input(format!("the file '{}': {}", first.display(), e.message())))?;
        Ok((
            TableSchema {
                key: Vec::new(),
                ..schema
            },
            *format,
        ))
    }

    /// The data files; `NotFound` when there is no such table.
    fn files(&self) -> Result<Vec<(PathBuf, Format)>> {
        match std::fs::metadata(&self.path) {
            Ok(m) if m.is_dir() => data_files(&self.path, &self.name),
            Ok(_) => match Format::of_path(&self.path) {
                Some(f) => Ok(vec![(self.path.clone(), f)]),
                None => Err(Error::invalid_input(format!(
                    "the file '{}' is not .parquet, .csv or .jsonl",
                    self.path.display()
                ))),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::not_found(format!(
                "table '{}' does not exist (no folder '{}')",
                self.name,
                self.path.display()
            ))),
            Err(e) => Err(Error::io(e, &format!("look up table '{}'", self.name))),
        }
    }
}

pub(crate) struct FileTables {
    root: PathBuf,
    format: Format,
    /// One lock per table: writes, alters and drops of a table take turns. It holds the
    /// table's key index.
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<Option<KeyIndex>>>>>,
    /// The watched tables.
    watches: Arc<crate::watch::Watches>,
}

impl FileTables {
    pub(crate) fn new(root: PathBuf, format: Format) -> FileTables {
        FileTables {
            root,
            format,
            locks: Mutex::new(HashMap::new()),
            watches: Arc::default(),
        }
    }
}

impl Instance for FileTables {
    fn capability(&self) -> Capability {
        Files::CAPABILITY
    }

    fn table(&self) -> Option<&dyn TableDriver> {
        Some(self)
    }
}

/// Makes a rename into `dir` durable.
fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(e, &format!("flush the folder '{}'", dir.display())))
}

/// Writes `write` to a hidden temporary file in `dir`, flushes it, and renames it to `name`.
fn write_durably(dir: &Path, name: &str, write: impl FnOnce(File, &Path) -> Result<()>) -> Result<()> {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let target = dir.join(name);
    let tmp = dir.join(format!(
        ".tmp-{}-{}-{name}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let what = format!("write '{}'", target.display());
    let file = File::create(&tmp).map_err(|e| Error::io(e, &what))?;
    let done =
        write(file, &target).and_then(|_| std::fs::rename(&tmp, &target).map_err(|e| Error::io(e, &what)));
    if let Err(e) = done {
        let _ = std::fs::remove_file(&tmp);
        return Err(e);
    }
    sync_dir(dir)
}

fn save_meta(table: &Table, schema: &TableSchema, format: Format) -> Result<()> {
    format.check_schema(schema)?;
    // The versions so far (a table described before they were kept: its schema then is
    // version 1, time unknown), and this one.
    let mut versions = match table.meta()? {
        Some(old) if old.versions.is_empty() => vec![MetaVersion {
            version: 1,
            time_ms: None,
            columns: old.columns,
            key: old.key,
        }],
        Some(old) => old.versions,
        None => Vec::new(),
    };
    versions.push(MetaVersion {
        version: versions.last().map_or(1, |v| v.version + 1),
        time_ms: Some(now_ms()),
        columns: schema.to_string(),
        key: schema.key.clone(),
    });
    let meta = Meta {
        columns: schema.to_string(),
        key: schema.key.clone(),
        format: format.name().to_string(),
        versions,
    };
    let bytes = serde_json::to_vec_pretty(&meta).map_err(|e| Error::internal(e.to_string()))?;
    write_durably(&table.path, META, |mut f, path| {
        use std::io::Write;
        f.write_all(&bytes)
            .and_then(|_| f.sync_all())
            .map_err(|e| Error::io(e, &format!("write '{}'", path.display())))
    })
}

impl FileTables {
    /// The table a path names: a relative path of plain names, none reserved.
    fn table(&self, path: &str) -> Result<Table> {
        let name = path.trim_matches('/');
        if name.is_empty() {
            return Err(Error::invalid_input(
                "name a table: the path (or the binding's `path`) is empty",
            ));
        }
        for c in Path::new(name).components() {
            match c {
                Component::Normal(part) if !part.to_string_lossy().starts_with(['_', '.']) => {}
                _ => {
                    return Err(Error::invalid_input(format!(
                        "'{name}' is not a table name: each part must be a plain name, not beginning \
                         with '_' or '.'"
                    )))
                }
            }
        }
        Ok(Table {
            name: name.to_string(),
            path: self.root.join(name),
        })
    }

    fn lock(&self, table: &Table) -> Arc<tokio::sync::Mutex<Option<KeyIndex>>> {
        self.locks
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(table.name.clone())
            .or_default()
            .clone()
    }
}

#[async_trait]
impl TableDriver for FileTables {
    async fn schema(&self, path: &str, _options: Options) -> Result<TableSchema> {
        let table = self.table(path)?;
        blocking(move || Ok(table.describe()?.0)).await
    }

    async fn schema_version(&self, path: &str, version: u64, _options: Options) -> Result<TableSchema> {
        let table = self.table(path)?;
        blocking(move || {
            let current = table.describe()?.0;
            let meta = table.meta()?;
            let found = meta
                .as_ref()
                .and_then(|m| m.versions.iter().find(|v| v.version == version));
            match found {
                Some(v) => v.schema(),
                None => Err(no_such_schema_version(
                    &table.name,
                    version,
                    current.version.map(|v| v.number),
                )),
            }
        })
        .await
    }

    async fn read(&self, path: &str, op: OpRead) -> Result<TableRead> {
        let table = self.table(path)?;
        let plan = blocking(move || {
            let schema = match &op.schema {
                Some(s) => s.clone(),
                None => table.describe()?.0,
            };
            Plan::new(&table.name, schema, table.files()?, &op)
        })
        .await?;
        read::read(plan).await
    }

    async fn write(&self, path: &str, op: OpWrite) -> Result<u64> {
        let table = self.table(path)?;
        let Items::Batches(batches) = op.items else {
            return Err(Error::invalid_input(format!(
                "a write to files table '{}' needs items: files are only appended to",
                table.name
            )));
        };
        let name = table.name.clone();
        let mut index = self.lock(&table).lock_owned().await;
        let written = blocking(move || {
            let index = &mut *index;
            let (schema, format) = table.describe()?;
            if table.path.is_file() {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "table '{}' is a single file, which cannot be appended to; write to a table folder",
                        table.name
                    ),
                ));
            }
            let batch = whole_rows(&schema, &batches)?;
            if batch.num_rows() == 0 {
                return Ok(0);
            }
            let mut new_keys = None;
            if !schema.key.is_empty() {
                if index.as_ref().is_none_or(|i| i.key != schema.key) {
                    *index = Some(KeyIndex::new(&schema)?);
                }
                if let Some(i) = index.as_mut() {
                    i.refresh(&table, &schema)?;
                    new_keys = Some(i.check(&table, &schema, &batch)?);
                }
            }
            let name = file_name(format);
            write_durably(&table.path, &name, |f, path| format.write(f, &batch, path))?;
            if let (Some(i), Some(rows)) = (index.as_mut(), new_keys) {
                i.files.insert(table.path.join(&name));
                i.keys.extend(rows.iter().map(|r| r.owned()));
            }
            Ok(batch.num_rows() as u64)
        })
        .await?;
        self.watches.wrote(&name).await;
        Ok(written)
    }

    async fn watch(&self, path: &str, op: OpWatch) -> Result<ChangeStream> {
        let table = self.table(path)?;
        let (name, folder) = (table.name.clone(), table.path.clone());
        let schema = blocking(move || Ok(table.describe()?.0)).await?;
        self.watches.watch(&name, folder, schema, op).await
    }

    async fn create(&self, path: &str, op: OpCreateTable) -> Result<()> {
        let table = self.table(path)?;
        let format = format_option(&op.options)?.unwrap_or(self.format);
        let lock = self.lock(&table);
        let _turn = lock.lock().await;
        let root = self.root.clone();
        blocking(move || {
            if table.path.is_file() || table.meta_path().exists() {
                return Err(already(&table));
            }
            // A table inside another's folder would be read as part of it (and dropped with
            // it); one around other tables would read theirs.
            if let Some(outer) = enclosing_table(&root, &table.name) {
                return Err(Error::invalid_input(format!(
                    "table '{}' would lie inside the folder of table '{outer}'; tables cannot nest",
                    table.name
                )));
            }
            if let Some(inner) = read::nested_table(&table.path) {
                return Err(Error::invalid_input(format!(
                    "table '{}' would hold table '{}' in its folder; tables cannot nest",
                    table.name,
                    inner.strip_prefix(&root).unwrap_or(&inner).display()
                )));
            }
            if table.path.is_dir() && !table.files()?.is_empty() {
                return Err(already(&table));
            }
            format.check_schema(&op.schema)?;
            std::fs::create_dir_all(&table.path)
                .map_err(|e| Error::io(e, &format!("create the folder of table '{}'", table.name)))?;
            save_meta(&table, &op.schema, format)
        })
        .await
    }

    async fn drop_table(&self, path: &str, _options: Options) -> Result<()> {
        let table = self.table(path)?;
        let lock = self.lock(&table);
        let mut turn = lock.lock().await;
        *turn = None;
        let root = self.root.clone();
        blocking(move || {
            let what = format!("drop table '{}'", table.name);
            if let Some(inner) = read::nested_table(&table.path) {
                return Err(Error::invalid_input(format!(
                    "table '{}' holds table '{}' in its folder; drop that first",
                    table.name,
                    inner.strip_prefix(&root).unwrap_or(&inner).display()
                )));
            }
            match std::fs::metadata(&table.path) {
                Ok(m) if m.is_dir() => {
                    std::fs::remove_dir_all(&table.path).map_err(|e| Error::io(e, &what))?
                }
                Ok(_) => std::fs::remove_file(&table.path).map_err(|e| Error::io(e, &what))?,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::not_found(format!("table '{}' does not exist", table.name)))
                }
                Err(e) => return Err(Error::io(e, &what)),
            }
            match table.path.parent() {
                Some(parent) => sync_dir(parent),
                None => Ok(()),
            }
        })
        .await
    }

    async fn add_columns(&self, path: &str, columns: Vec<Column>, _options: Options) -> Result<()> {
        let table = self.table(path)?;
        let lock = self.lock(&table);
        let _turn = lock.lock().await;
        blocking(move || {
            if table.path.is_file() {
                return Err(Error::new(
                    ErrorKind::Unsupported,
                    format!(
                        "table '{}' is a single file, whose columns cannot change",
                        table.name
                    ),
                ));
            }
            let (mut schema, format) = table.describe()?;
            schema.columns.extend(columns);
            save_meta(&table, &schema, format)
        })
        .await
    }
}

/// The table whose folder holds the table `name` (a folder above it with a table's
/// description), if any.
fn enclosing_table(root: &Path, name: &str) -> Option<String> {
    let mut at = PathBuf::new();
    let parts: Vec<&str> = name.split('/').collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push(part);
        if root.join(&at).join(META).is_file() {
            return Some(at.display().to_string());
        }
    }
    None
}

fn already(table: &Table) -> Error {
    crate::error::already(&table.name, &table.path)
}

/// A new data file's name: sorts after the files before it.
fn file_name(format: Format) -> String {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let micros = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros())
        .unwrap_or_default();
    format!(
        "part-{micros:020}-{}-{:06}.{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed),
        format.name()
    )
}

/// The items as one batch of every column of the table: a column an item leaves out is the
/// column's default.
fn whole_rows(schema: &TableSchema, batches: &[RecordBatch]) -> Result<RecordBatch> {
    let arrow = schema.to_arrow();
    let mut whole = Vec::with_capacity(batches.len());
    for b in batches {
        let columns = schema
            .columns
            .iter()
            .map(|c| match b.column_by_name(&c.name) {
                Some(a) => Ok(a.clone()),
                None => default_array(c, b.num_rows()),
            })
            .collect::<Result<Vec<ArrayRef>>>()?;
        whole.push(
            RecordBatch::try_new(arrow.clone(), columns).map_err(|e| Error::invalid_input(e.to_string()))?,
        );
    }
    arrow::compute::concat_batches(&arrow, &whole).map_err(|e| Error::internal(e.to_string()))
}

/// The keys of a table's rows, kept between writes with the files they were read from, so a
/// write reads the keys of only the files added since (by this process or another). Files
/// are immutable: when one the index read is gone, it starts over.
struct KeyIndex {
    key: Vec<String>,
    converter: RowConverter,
    files: HashSet<PathBuf>,
    keys: HashSet<OwnedRow>,
}

impl KeyIndex {
    fn new(schema: &TableSchema) -> Result<KeyIndex> {
        let fields = schema
            .key
            .iter()
            .map(|k| {
                schema
                    .column(k)
                    .map(|c| SortField::new(c.column_type.data_type()))
            })
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| Error::internal("the key names a column the schema lacks"))?;
        Ok(KeyIndex {
            key: schema.key.clone(),
            converter: RowConverter::new(fields).map_err(arrow_internal)?,
            files: HashSet::new(),
            keys: HashSet::new(),
        })
    }

    fn rows(&self, b: &RecordBatch) -> Result<arrow::row::Rows> {
        let columns: Vec<ArrayRef> = self
            .key
            .iter()
            .filter_map(|k| b.column_by_name(k).cloned())
            .collect();
        self.converter.convert_columns(&columns).map_err(arrow_internal)
    }

    /// Reads the keys of the table's files it has not read yet.
    fn refresh(&mut self, table: &Table, schema: &TableSchema) -> Result<()> {
        let files = table.files()?;
        let current: HashSet<&PathBuf> = files.iter().map(|(p, _)| p).collect();
        if self.files.iter().any(|f| !current.contains(f)) {
            self.files.clear();
            self.keys.clear();
        }
        let new: Vec<(PathBuf, Format)> = files
            .into_iter()
            .filter(|(p, _)| !self.files.contains(p))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let paths: Vec<PathBuf> = new.iter().map(|(p, _)| p.clone()).collect();
        let op = OpRead {
            select: self.key.clone(),
            ..OpRead::default()
        };
        Plan::new(&table.name, schema.clone(), new, &op)?.each(|existing| {
            let rows = self.rows(&existing)?;
            self.keys.extend(rows.iter().map(|r| r.owned()));
            Ok(())
        })?;
        self.files.extend(paths);
        Ok(())
    }

    /// Refuses keys already in the table, or twice in the batch; gives the batch's keys.
    fn check(&self, table: &Table, schema: &TableSchema, batch: &RecordBatch) -> Result<arrow::row::Rows> {
        let rows = self.rows(batch)?;
        let mut seen = HashSet::with_capacity(rows.num_rows());
        for (i, row) in rows.iter().enumerate() {
            if self.keys.contains(&row.owned()) {
                return Err(duplicate(table, schema, batch, i, "already in the table"));
            }
            if !seen.insert(row) {
                return Err(duplicate(table, schema, batch, i, "twice in this write"));
            }
        }
        Ok(rows)
    }
}

fn duplicate(table: &Table, schema: &TableSchema, batch: &RecordBatch, row: usize, why: &str) -> Error {
    let key: Vec<String> = schema
        .key
        .iter()
        .filter_map(|k| batch.column_by_name(k))
        .map(|a| {
            arrow::util::display::array_value_to_string(a, row)
                .map(|v| format!("'{v}'"))
                .unwrap_or_default()
        })
        .collect();
    Error::new(
        ErrorKind::AlreadyExists,
        format!(
            "item {row}: key {} is {why}; files table '{}' is only appended to (no upsert)",
            key.join(", "),
            table.name
        ),
    )
}
