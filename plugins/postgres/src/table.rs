//! The postgres driver's tables: a pool of connections, bindery's schemas, the table trait.

use bindery_core::Connect;
use std::sync::{Arc, Mutex};

use bindery_core::table::schema::parse_literal;
use bindery_core::table::{no_such_schema_version, now_ms, SchemaVersion};
use bindery_core::watch::{ChangeStream, OpWatch};
use bindery_core::{
    async_trait, Capability, Column, Error, ErrorKind, Instance, OpCreateTable, OpDeleteRows, OpRead,
    OpWrite, Options, Result, TableDriver, TableRead, TableSchema,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::sql::{ident, pg_type, type_of_pg};

use crate::error::map;
use crate::{read, write, Postgres};

/// The table holding bindery's schema of each table it created.
pub(crate) const META: &str = "_bindery_tables";
/// Every version of each table's schema bindery made: what `create` made is version 1, each
/// `alter` adds one; a drop forgets them.
pub(crate) const HISTORY: &str = "_bindery_schemas";

/// Connections to the database, at most `permits` at once.
pub(crate) struct Pool {
    pub(crate) config: tokio_postgres::Config,
    pub(crate) tls: Option<postgres_native_tls::MakeTlsConnector>,
    pub(crate) idle: Mutex<Vec<Client>>,
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
}

/// A connection taken from the pool; it goes back when dropped (unless it broke).
pub(crate) struct Pooled {
    client: Option<Client>,
    pool: Arc<Pool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Pooled {
    pub(crate) fn client(&self) -> &Client {
        self.client
            .as_ref()
            .expect("a pooled connection is there until dropped")
    }

    pub(crate) fn client_mut(&mut self) -> &mut Client {
        self.client
            .as_mut()
            .expect("a pooled connection is there until dropped")
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        if let Some(c) = self.client.take().filter(|c| !c.is_closed()) {
            self.pool.idle.lock().unwrap_or_else(|p| p.into_inner()).push(c);
        }
    }
}

impl Pool {
    pub(crate) async fn get(self: &Arc<Self>) -> Result<Pooled> {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(|_| Error::internal("the connection pool is closed"))?;
        let idle = {
            let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
            std::iter::from_fn(|| idle.pop()).find(|c| !c.is_closed())
        };
        let client = match idle {
            Some(c) => c,
            // The connection's task ends when it closes; a request on a closed connection fails
            // and says why, and the pool does not take it back.
            None => match &self.tls {
                Some(tls) => {
                    let (client, connection) = self
                        .config
                        .connect(tls.clone())
                        .await
                        .map_err(|e| map(e, "connect to PostgreSQL"))?;
                    tokio::spawn(connection);
                    client
                }
                None => {
                    let (client, connection) = self
                        .config
                        .connect(NoTls)
                        .await
                        .map_err(|e| map(e, "connect to PostgreSQL"))?;
                    tokio::spawn(connection);
                    client
                }
            },
        };
        Ok(Pooled {
            client: Some(client),
            pool: self.clone(),
            _permit: permit,
        })
    }
}

pub(crate) struct PgTables {
    pub(crate) pool: Arc<Pool>,
    pub(crate) schemas: Arc<SchemaCache>,
    /// The wake-up of its table watches.
    pub(crate) hub: Arc<crate::watch::Hub>,
}

/// Table schemas, each kept with the version of the catalog rows it was read from (the
/// `xmin` of the table's `pg_class` row and of its `_bindery_tables` row, which change with
/// every `ALTER`, `DROP`/`CREATE` and schema record, by any client): a lookup costs one
/// query while nothing changed.
#[derive(Default)]
pub(crate) struct SchemaCache(Mutex<std::collections::HashMap<String, (String, TableSchema)>>);

impl SchemaCache {
    /// A table's schema as of now.
    pub(crate) async fn get(&self, client: &Client, table: &str) -> Result<TableSchema> {
        let what = format!("read the schema of table '{table}'");
        let version: Option<String> = client
            .query_opt(
                &format!(
                    "SELECT c.xmin::text || ':' || coalesce(m.xmin::text, '-') FROM pg_class c \
                     LEFT JOIN {META} m ON m.name = $1 WHERE c.oid = to_regclass(quote_ident($1))"
                ),
                &[&table],
            )
            .await
            .map_err(|e| map(e, &what))?
            .map(|r| r.get(0));
        let Some(version) = version else {
            return Err(Error::not_found(format!("table '{table}' does not exist")));
        };
        if let Some((v, s)) = self.0.lock().unwrap_or_else(|p| p.into_inner()).get(table) {
            if *v == version {
                return Ok(s.clone());
            }
        }
        let schema = load_schema(client, table).await?;
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(table.to_string(), (version, schema.clone()));
        Ok(schema)
    }
}

impl Instance for PgTables {
    fn capability(&self) -> Capability {
        Postgres::CAPABILITY
    }

    fn table(&self) -> Option<&dyn TableDriver> {
        Some(self)
    }
}

/// The table a path names: one name, not bindery's own.
pub(crate) fn table_name(path: &str) -> Result<String> {
    bindery_core::table::sql::table_name(path, "postgres", "PostgreSQL", |name| {
        // `_bindery_tables`, and the watch's `_bindery_changes` and `_bindery_watch`.
        name.starts_with("_bindery_") || name.starts_with("pg_")
    })
}

/// A table's schema, as `client` sees it (inside a transaction, as of it).
pub(crate) async fn load_schema(
    client: &impl tokio_postgres::GenericClient,
    table: &str,
) -> Result<TableSchema> {
    let what = format!("read the schema of table '{table}'");
    let found = client
        .query(
            "SELECT column_name, data_type, is_nullable = 'YES', column_default, udt_name::text, \
             numeric_precision::int4, numeric_scale::int4 FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 ORDER BY ordinal_position",
            &[&table],
        )
        .await
        .map_err(|e| map(e, &what))?;
    if found.is_empty() {
        return Err(Error::not_found(format!("table '{table}' does not exist")));
    }
    let stored = client
        .query_opt(
            &format!("SELECT columns, key FROM {META} WHERE name = $1"),
            &[&table],
        )
        .await
        .map_err(|e| map(e, &what))?;
    if let Some(row) = stored {
        let (columns, key): (String, String) = (row.get(0), row.get(1));
        let mut schema = TableSchema::from_stored(&columns, &key)?;
        schema.version = client
            .query_opt(
                &format!(
                    "SELECT version, time_ms FROM {HISTORY} WHERE name = $1 ORDER BY version DESC LIMIT 1"
                ),
                &[&table],
            )
            .await
            .map_err(|e| map(e, &what))?
            .map(|r| SchemaVersion::at(r.get::<_, i64>(0).unsigned_abs(), r.get(1)));
        return Ok(schema);
    }
    // A table bindery did not create: information_schema says what it holds.
    let mut columns = Vec::new();
    for row in &found {
        let (name, data_type, nullable): (String, String, bool) = (row.get(0), row.get(1), row.get(2));
        let ty = type_of_pg(&data_type, row.get(4), row.get(5), row.get(6));
        let mut c = Column::new(&name, ty);
        c.nullable = nullable;
        let default: Option<String> = row.get(3);
        c.default = default.and_then(|d| parse_literal(d.split("::").next().unwrap_or("")).ok());
        columns.push(c);
    }
    let key: Vec<String> = client
        .query(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = to_regclass(quote_ident($1)) AND i.indisprimary ORDER BY array_position(i.indkey, a.attnum)",
            &[&table],
        )
        .await
        .map_err(|e| map(e, &what))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    Ok(TableSchema {
        columns,
        key,
        version: None,
    })
}

fn column_sql(c: &Column) -> Result<String> {
    let pg = pg_type(&c.column_type, &c.name)?;
    let mut out = format!("{} {pg}", ident(&c.name));
    if !c.nullable {
        out.push_str(" NOT NULL");
    }
    if let Some(d) = &c.default {
        // DEFAULT takes no parameters: the literal is checked against the type, then quoted.
        bindery_core::table::compute::literal_array(d, &c.column_type, &c.name)?;
        let text = match d {
            bindery_core::filter::Value::Null => "NULL".to_string(),
            bindery_core::filter::Value::Str(s) => format!("'{}'", s.replace('\'', "''")),
            other => format!(
                "'{}'",
                bindery_core::table::schema::literal_text(other).replace('\'', "''")
            ),
        };
        out.push_str(&format!(" DEFAULT {text}::{pg}"));
    }
    Ok(out)
}

#[async_trait]
impl TableDriver for PgTables {
    async fn schema(&self, path: &str, _options: Options) -> Result<TableSchema> {
        let table = table_name(path)?;
        let conn = self.pool.get().await?;
        self.schemas.get(conn.client(), &table).await
    }

    async fn schema_version(&self, path: &str, version: u64, _options: Options) -> Result<TableSchema> {
        let table = table_name(path)?;
        let conn = self.pool.get().await?;
        let current = self.schemas.get(conn.client(), &table).await?;
        let what = format!("read version {version} of the schema of table '{table}'");
        let n = i64::try_from(version).unwrap_or(i64::MAX);
        let found = conn
            .client()
            .query_opt(
                &format!("SELECT columns, key, time_ms FROM {HISTORY} WHERE name = $1 AND version = $2"),
                &[&table, &n],
            )
            .await
            .map_err(|e| map(e, &what))?;
        let Some(row) = found else {
            return Err(no_such_schema_version(
                &table,
                version,
                current.version.map(|v| v.number),
            ));
        };
        let mut schema = TableSchema::from_stored(row.get(0), row.get(1))?;
        schema.version = Some(SchemaVersion::at(version, row.get(2)));
        Ok(schema)
    }

    async fn read(&self, path: &str, op: OpRead) -> Result<TableRead> {
        let table = table_name(path)?;
        read::read(self.pool.clone(), self.schemas.clone(), table, op).await
    }

    async fn write(&self, path: &str, op: OpWrite) -> Result<u64> {
        let table = table_name(path)?;
        let mut conn = self.pool.get().await?;
        write::write(conn.client_mut(), &table, op).await
    }

    async fn delete_rows(&self, path: &str, op: OpDeleteRows) -> Result<u64> {
        let table = table_name(path)?;
        let mut conn = self.pool.get().await?;
        write::delete(conn.client_mut(), &table, op).await
    }

    async fn create(&self, path: &str, op: OpCreateTable) -> Result<()> {
        let table = table_name(path)?;
        let schema = op.schema;
        let mut defs = Vec::with_capacity(schema.columns.len() + 1);
        for c in &schema.columns {
            defs.push(column_sql(c)?);
        }
        if !schema.key.is_empty() {
            let key: Vec<String> = schema.key.iter().map(|k| ident(k)).collect();
            defs.push(format!("PRIMARY KEY ({})", key.join(", ")));
        }
        let what = format!("create table '{table}'");
        let mut conn = self.pool.get().await?;
        let tx = conn.client_mut().transaction().await.map_err(|e| map(e, &what))?;
        tx.batch_execute(&format!("CREATE TABLE {} ({})", ident(&table), defs.join(", ")))
            .await
            .map_err(|e| match e.code() {
                Some(c) if *c == SqlState::DUPLICATE_TABLE => Error::new(
                    ErrorKind::AlreadyExists,
                    format!("table '{table}' already exists"),
                ),
                _ => map(e, &what),
            })?;
        record(&tx, &table, Some(&schema), &what).await?;
        tx.commit().await.map_err(|e| map(e, &what))
    }

    async fn drop_table(&self, path: &str, _options: Options) -> Result<()> {
        let table = table_name(path)?;
        let what = format!("drop table '{table}'");
        let mut conn = self.pool.get().await?;
        let tx = conn.client_mut().transaction().await.map_err(|e| map(e, &what))?;
        tx.batch_execute(&format!("DROP TABLE {}", ident(&table)))
            .await
            .map_err(|e| match e.code() {
                Some(c) if *c == SqlState::UNDEFINED_TABLE => {
                    Error::not_found(format!("table '{table}' does not exist"))
                }
                _ => map(e, &what),
            })?;
        record(&tx, &table, None, &what).await?;
        tx.commit().await.map_err(|e| map(e, &what))
    }

    async fn watch(&self, path: &str, op: OpWatch) -> Result<ChangeStream> {
        let table = table_name(path)?;
        crate::watch::watch(
            self.pool.clone(),
            self.schemas.clone(),
            self.hub.clone(),
            table,
            op,
        )
        .await
    }

    async fn add_columns(&self, path: &str, columns: Vec<Column>, _options: Options) -> Result<()> {
        let table = table_name(path)?;
        let what = format!("alter table '{table}'");
        let mut conn = self.pool.get().await?;
        let tx = conn.client_mut().transaction().await.map_err(|e| map(e, &what))?;
        let mut schema = load_schema(&tx, &table).await?;
        for c in &columns {
            let def = column_sql(c)?;
            tx.batch_execute(&format!("ALTER TABLE {} ADD COLUMN {def}", ident(&table)))
                .await
                .map_err(|e| map(e, &what))?;
        }
        schema.columns.extend(columns);
        record(&tx, &table, Some(&schema), &what).await?;
        tx.commit().await.map_err(|e| map(e, &what))
    }
}

/// Records a table's schema in `_bindery_tables` (`None`: forgets it).
async fn record(
    tx: &tokio_postgres::Transaction<'_>,
    table: &str,
    schema: Option<&TableSchema>,
    what: &str,
) -> Result<()> {
    let (columns, key) = schema
        .map(|s| (s.to_string(), s.stored_key()))
        .unwrap_or_default();
    let now = now_ms();
    type Params<'a> = Vec<&'a (dyn tokio_postgres::types::ToSql + Sync)>;
    let statements: Vec<(String, Params<'_>)> = match schema {
        // A table made before the history was kept gets its old schema as version 1 (time
        // unknown) first; ALTER's lock keeps two changes of one table from taking one number.
        Some(_) => vec![
            (
                format!(
                    "INSERT INTO {HISTORY} SELECT name, 1, NULL, columns, key FROM {META} \
                     WHERE name = $1 AND NOT EXISTS (SELECT 1 FROM {HISTORY} WHERE name = $1)"
                ),
                vec![&table],
            ),
            (
                format!(
                    "INSERT INTO {META} (name, columns, key) VALUES ($1, $2, $3) \
                     ON CONFLICT (name) DO UPDATE SET columns = excluded.columns, key = excluded.key"
                ),
                vec![&table, &columns, &key],
            ),
            (
                format!(
                    "INSERT INTO {HISTORY} SELECT $1::text, coalesce(max(version), 0) + 1, $4::int8, \
                     $2::text, $3::text FROM {HISTORY} WHERE name = $1::text"
                ),
                vec![&table, &columns, &key, &now],
            ),
        ],
        None => vec![
            (format!("DELETE FROM {META} WHERE name = $1"), vec![&table]),
            (format!("DELETE FROM {HISTORY} WHERE name = $1"), vec![&table]),
        ],
    };
    for (sql, params) in statements {
        tx.execute(&sql, &params).await.map_err(|e| map(e, what))?;
    }
    Ok(())
}
