//! The sqlite driver's table operations: the database, its schemas, and the table trait.

use bindery_core::Connect;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use bindery_core::table::schema::parse_literal;
use bindery_core::table::{no_such_schema_version, now_ms, SchemaVersion};
use bindery_core::watch::{ChangeStream, OpWatch};
use bindery_core::{
    async_trait, blocking, Capability, Column, Error, Instance, OpCreateTable, OpDeleteRows, OpRead, OpWrite,
    Options, Result, TableDriver, TableRead, TableSchema,
};
use rusqlite::{Connection, OpenFlags, OptionalExtension};

use crate::error::map;
use crate::sql::ident;
use crate::watch::{self, Hub};
use crate::Sqlite;
use crate::{read, sql, values, write};

/// The table holding bindery's schema of each table it created.
const META: &str = "_bindery_tables";
/// Every version of each table's schema bindery made: what `create` made is version 1, each
/// `alter` adds one; a drop forgets them.
const HISTORY: &str = "_bindery_schemas";

/// The SQLite database: a writer connection, a pool of read-only ones, the schemas, and the
/// wake-up of its watchers.
pub(crate) struct Db {
    file: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    schemas: Mutex<HashMap<String, (i64, TableSchema)>>,
    pub(crate) hub: Arc<Hub>,
}

fn configure(conn: &Connection, file: &Path) -> Result<()> {
    let what = format!("set up the database '{}'", file.display());
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(|e| map(e, &what))?;
    conn.pragma_update(None, "case_sensitive_like", true)
        .map_err(|e| map(e, &what))
}

impl Db {
    pub(crate) fn open(file: PathBuf, watch: watch::Settings) -> Result<Db> {
        let what = format!("open the database '{}'", file.display());
        if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| {
                Error::unavailable(format!(
                    "{what}: cannot create the folder '{}': {e}",
                    dir.display()
                ))
            })?;
        }
        let conn = Connection::open(&file).map_err(|e| map(e, &what))?;
        configure(&conn, &file)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(|e| map(e, &what))?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(|e| map(e, &what))?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {META} (name TEXT PRIMARY KEY, columns TEXT NOT NULL, key TEXT NOT NULL);
             CREATE TABLE IF NOT EXISTS {HISTORY} (name TEXT NOT NULL, version INTEGER NOT NULL, \
             time_ms INTEGER, columns TEXT NOT NULL, key TEXT NOT NULL, PRIMARY KEY (name, version))"
        ))
        .map_err(|e| map(e, &what))?;
        Ok(Db {
            file,
            writer: Mutex::new(conn),
            readers: Mutex::new(Vec::new()),
            schemas: Mutex::new(HashMap::new()),
            hub: Arc::new(Hub::new(watch)),
        })
    }

    /// Runs `f` on the writer connection; then wakes the watchers.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&mut Connection) -> Result<T>) -> Result<T> {
        let mut conn = self.writer.lock().unwrap_or_else(|p| p.into_inner());
        let r = f(&mut conn);
        drop(conn);
        self.hub.bump();
        r
    }

    /// A read-only connection from the pool (give it back with [`Db::give_back`]).
    pub(crate) fn reader(&self) -> Result<Connection> {
        if let Some(c) = self.readers.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(c);
        }
        self.open_reader()
    }

    /// A read-only connection of its own, outside the pool.
    pub(crate) fn open_reader(&self) -> Result<Connection> {
        let what = format!("open the database '{}' to read", self.file.display());
        let flags =
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI;
        let conn = Connection::open_with_flags(&self.file, flags).map_err(|e| map(e, &what))?;
        configure(&conn, &self.file)?;
        Ok(conn)
    }

    /// Returns a reader to the pool.
    pub(crate) fn give_back(&self, conn: Connection) {
        let mut pool = self.readers.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(conn);
        }
    }

    /// A table's schema, as `conn` sees it.
    pub(crate) fn schema(&self, conn: &Connection, table: &str) -> Result<TableSchema> {
        let version: i64 = conn
            .query_row("PRAGMA schema_version", [], |r| r.get(0))
            .map_err(|e| map(e, "read the schema version"))?;
        if let Some((v, s)) = self.schemas.lock().unwrap_or_else(|p| p.into_inner()).get(table) {
            if *v == version {
                return Ok(s.clone());
            }
        }
        let schema = load_schema(conn, table, &self.file)?;
        self.schemas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.to_string(), (version, schema.clone()));
        Ok(schema)
    }

    fn forget(&self, table: &str) {
        self.schemas
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(table);
    }
}

fn load_schema(conn: &Connection, table: &str, file: &Path) -> Result<TableSchema> {
    let what = format!("read the schema of table '{table}'");
    let exists: Option<String> = conn
        .query_row(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name = ?1",
            [table],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| map(e, &what))?;
    if exists.is_none() {
        return Err(Error::not_found(format!(
            "table '{table}' does not exist in the database '{}'",
            file.display()
        )));
    }
    let stored: Option<(String, String)> = conn
        .query_row(
            &format!("SELECT columns, key FROM {META} WHERE name = ?1"),
            [table],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .optional()
        .map_err(|e| map(e, &what))?;
    if let Some((columns, key)) = stored {
        let mut schema = TableSchema::from_stored(&columns, &key)?;
        schema.version = conn
            .query_row(
                &format!(
                    "SELECT version, time_ms FROM {HISTORY} WHERE name = ?1 ORDER BY version DESC LIMIT 1"
                ),
                [table],
                |r| Ok(SchemaVersion::at(r.get::<_, i64>(0)?.unsigned_abs(), r.get(1)?)),
            )
            .optional()
            .map_err(|e| map(e, &what))?;
        return Ok(schema);
    }
    // A table bindery did not create: its declared types say what it holds.
    let mut stmt = conn
        .prepare(&format!("PRAGMA table_info({})", ident(table)))
        .map_err(|e| map(e, &what))?;
    let mut key: Vec<(i64, String)> = Vec::new();
    let mut columns = Vec::new();
    let rows = stmt
        .query_map([], |r| {
            Ok((
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, bool>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, i64>(5)?,
            ))
        })
        .map_err(|e| map(e, &what))?;
    for row in rows {
        let (name, declared, not_null, default, pk) = row.map_err(|e| map(e, &what))?;
        let mut c = Column::new(&name, values::type_of_declared(declared.as_deref().unwrap_or("")));
        c.nullable = !not_null && pk == 0;
        c.default = default.and_then(|d| parse_literal(&d).ok());
        if pk > 0 {
            key.push((pk, name));
        }
        columns.push(c);
    }
    key.sort();
    Ok(TableSchema {
        columns,
        key: key.into_iter().map(|(_, k)| k).collect(),
        version: None,
    })
}

/// Version `n` of a table's schema, from the history (`conn` sees the table exist).
fn schema_at(conn: &Connection, table: &str, n: u64, file: &Path) -> Result<TableSchema> {
    let current = load_schema(conn, table, file)?;
    let what = format!("read version {n} of the schema of table '{table}'");
    let found: Option<(String, String, Option<i64>)> = conn
        .query_row(
            &format!("SELECT columns, key, time_ms FROM {HISTORY} WHERE name = ?1 AND version = ?2"),
            rusqlite::params![table, i64::try_from(n).unwrap_or(i64::MAX)],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(|e| map(e, &what))?;
    let Some((columns, key, time)) = found else {
        return Err(no_such_schema_version(
            table,
            n,
            current.version.map(|v| v.number),
        ));
    };
    let mut schema = TableSchema::from_stored(&columns, &key)?;
    schema.version = Some(SchemaVersion::at(n, time));
    Ok(schema)
}

/// The table a path names: one name, not one of SQLite's or bindery's own.
pub(crate) fn table_name(path: &str) -> Result<String> {
    bindery_core::table::sql::table_name(path, "sqlite", "SQLite", |name| {
        // `_bindery_tables`, and the watch's `_bindery_changes` and `_bindery_watch`.
        name.starts_with("sqlite_") || name.starts_with("_bindery_")
    })
}

/// A literal as SQL text for a `DEFAULT` clause.
fn default_sql(c: &Column) -> Result<Option<String>> {
    let Some(d) = &c.default else { return Ok(None) };
    Ok(Some(match sql::typed_literal(d, &c.column_type, &c.name)? {
        rusqlite::types::Value::Null => "NULL".into(),
        rusqlite::types::Value::Integer(i) => i.to_string(),
        rusqlite::types::Value::Real(f) => format!("{f:?}"),
        rusqlite::types::Value::Text(t) => format!("'{}'", t.replace('\'', "''")),
        rusqlite::types::Value::Blob(b) => {
            format!("X'{}'", b.iter().map(|x| format!("{x:02X}")).collect::<String>())
        }
    }))
}

fn column_sql(c: &Column) -> Result<String> {
    let mut out = format!("{} {}", ident(&c.name), sql::declared(&c.column_type, &c.name)?);
    if !c.nullable {
        out.push_str(" NOT NULL");
    }
    if let Some(d) = default_sql(c)? {
        out.push_str(" DEFAULT ");
        out.push_str(&d);
    }
    Ok(out)
}

pub(crate) struct SqliteTables {
    pub(crate) db: Arc<Db>,
}

impl Instance for SqliteTables {
    fn capability(&self) -> Capability {
        Sqlite::CAPABILITY
    }

    fn table(&self) -> Option<&dyn TableDriver> {
        Some(self)
    }
}

#[async_trait]
impl TableDriver for SqliteTables {
    async fn schema(&self, path: &str, _options: Options) -> Result<TableSchema> {
        let table = table_name(path)?;
        let db = self.db.clone();
        blocking(move || {
            let conn = db.reader()?;
            let s = db.schema(&conn, &table);
            db.give_back(conn);
            s
        })
        .await
    }

    async fn schema_version(&self, path: &str, version: u64, _options: Options) -> Result<TableSchema> {
        let table = table_name(path)?;
        let db = self.db.clone();
        blocking(move || {
            let conn = db.reader()?;
            let s = schema_at(&conn, &table, version, &db.file);
            db.give_back(conn);
            s
        })
        .await
    }

    async fn read(&self, path: &str, op: OpRead) -> Result<TableRead> {
        let table = table_name(path)?;
        read::read(self.db.clone(), table, op).await
    }

    async fn write(&self, path: &str, op: OpWrite) -> Result<u64> {
        let table = table_name(path)?;
        let db = self.db.clone();
        blocking(move || write::write(&db, &table, op)).await
    }

    async fn delete_rows(&self, path: &str, op: OpDeleteRows) -> Result<u64> {
        let table = table_name(path)?;
        let db = self.db.clone();
        blocking(move || write::delete(&db, &table, op)).await
    }

    async fn create(&self, path: &str, op: OpCreateTable) -> Result<()> {
        let schema = op.schema;
        let mut defs = schema
            .columns
            .iter()
            .map(column_sql)
            .collect::<Result<Vec<_>>>()?;
        if !schema.key.is_empty() {
            let key: Vec<String> = schema.key.iter().map(|k| ident(k)).collect();
            defs.push(format!("PRIMARY KEY ({})", key.join(", ")));
        }
        self.change(path, "create", move |tx, table, what| {
            let exists: Option<String> = tx
                .query_row("SELECT name FROM sqlite_master WHERE name = ?1", [table], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(|e| map(e, what))?;
            if exists.is_some() {
                return Err(Error::new(
                    bindery_core::ErrorKind::AlreadyExists,
                    format!("table '{table}' already exists"),
                ));
            }
            tx.execute_batch(&format!("CREATE TABLE {} ({})", ident(table), defs.join(", ")))
                .map_err(|e| map(e, what))?;
            Ok(Some(schema))
        })
        .await
    }

    async fn drop_table(&self, path: &str, _options: Options) -> Result<()> {
        let file = self.db.file.clone();
        self.change(path, "drop", move |tx, table, what| {
            load_schema(tx, table, &file)?;
            tx.execute_batch(&format!("DROP TABLE {}", ident(table)))
                .map_err(|e| map(e, what))?;
            Ok(None)
        })
        .await
    }

    async fn watch(&self, path: &str, op: OpWatch) -> Result<ChangeStream> {
        let table = table_name(path)?;
        watch::watch(self.db.clone(), table, op).await
    }

    async fn add_columns(&self, path: &str, columns: Vec<Column>, _options: Options) -> Result<()> {
        let file = self.db.file.clone();
        self.change(path, "alter", move |tx, table, what| {
            let mut schema = load_schema(tx, table, &file)?;
            for c in &columns {
                let sql = format!("ALTER TABLE {} ADD COLUMN {}", ident(table), column_sql(c)?);
                tx.execute_batch(&sql).map_err(|e| map(e, what))?;
                schema.columns.push(c.clone());
            }
            Ok(Some(schema))
        })
        .await
    }
}

impl SqliteTables {
    /// Runs a change of a table's definition in one transaction: `f` makes it and returns
    /// the table's new schema (`None`: the table is gone), which is recorded with it.
    async fn change(
        &self,
        path: &str,
        op: &'static str,
        f: impl FnOnce(&rusqlite::Transaction<'_>, &str, &str) -> Result<Option<TableSchema>> + Send + 'static,
    ) -> Result<()> {
        let table = table_name(path)?;
        let db = self.db.clone();
        blocking(move || {
            let what = format!("{op} table '{table}'");
            db.write(|conn| {
                let tx = conn
                    .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
                    .map_err(|e| map(e, &what))?;
                let record = match f(&tx, &table, &what)? {
                    // A table made before the history was kept gets its old schema as
                    // version 1 (time unknown) first.
                    Some(schema) => tx
                        .execute(
                            &format!(
                                "INSERT INTO {HISTORY} SELECT name, 1, NULL, columns, key FROM {META} \
                                 WHERE name = ?1 AND NOT EXISTS (SELECT 1 FROM {HISTORY} WHERE name = ?1)"
                            ),
                            [&table],
                        )
                        .and_then(|_| {
                            tx.execute(
                                &format!("INSERT OR REPLACE INTO {META} (name, columns, key) VALUES (?1, ?2, ?3)"),
                                [&table, &schema.to_string(), &schema.stored_key()],
                            )
                        })
                        .and_then(|_| {
                            tx.execute(
                                &format!(
                                    "INSERT INTO {HISTORY} SELECT ?1, coalesce(max(version), 0) + 1, ?2, ?3, ?4 \
                                     FROM {HISTORY} WHERE name = ?1"
                                ),
                                rusqlite::params![table, now_ms(), schema.to_string(), schema.stored_key()],
                            )
                        }),
                    None => tx
                        .execute(&format!("DELETE FROM {META} WHERE name = ?1"), [&table])
                        .and_then(|_| tx.execute(&format!("DELETE FROM {HISTORY} WHERE name = ?1"), [&table])),
                };
                record.map_err(|e| map(e, &what))?;
                tx.commit().map_err(|e| map(e, &what))
            })?;
            db.forget(&table);
            Ok(())
        })
        .await
    }
}
