//! The `postgres` table driver: tables in a PostgreSQL database, on tokio-postgres.
//!
//! ```yaml
//! dataBindings:
//!   db:
//!     kind: table
//!     driver: postgres
//!     url: postgres://app@db.internal:5432/shop     # a connection string (URL or key=value)
//!     secret: { env: PGPASSWORD }                   # the password, from the environment or a file
//!     options:
//!       pool.size: "8"                              # connections kept (default 4)
//!       tls.ca_file: ./ca.pem                       # verify the server's certificate against this CA
//! ```
//!
//! TLS follows the URL's `sslmode`: `disable` (plain TCP), `prefer` (the default: TLS when the
//! server offers it) or `require`; with `tls.ca_file` the server's certificate must be signed
//! by that CA and name the host, without it traffic is encrypted but the certificate is not
//! checked (as libpq's `require`).
//!
//! - **One PostgreSQL table per bindery table** in the connection's schema, with the primary
//!   key as PostgreSQL's. Bindery's schema (defaults, read-only columns, the exact types) is
//!   kept in `_bindery_tables`; a table made by other tools is read with the types
//!   `information_schema` gives. Types: `bool` boolean, `int32` integer, `int64` bigint,
//!   `float32` real, `float64` double precision, `string` text, `binary` bytea, `timestamp`
//!   timestamptz, `date` date, `json` json (kept as written; jsonb would reorder keys).
//! - **Pushed down**: filters (every literal a bound parameter, sent as text and cast to the
//!   column's type), projection, limits and `partition(p, n)` (by heap page: rows whose
//!   `ctid` page number is `p` modulo `n`); `sql` runs in a `READ ONLY` transaction, so a
//!   statement that would write is refused by PostgreSQL itself.
//! - **Reads** stream: rows arrive in PostgreSQL's binary format and are gathered into Arrow
//!   batches of 8192 rows on the driver's task, two batches ahead of the caller.
//! - **Writes** run in one transaction each: the touched rows are locked (`SELECT … FOR
//!   UPDATE`), conditions and read-only columns are checked against them, then every item is
//!   upserted (`INSERT … ON CONFLICT DO UPDATE` of the columns it gives); any refusal rolls all
//!   of it back. A write is acknowledged after PostgreSQL commits it.

mod read;
mod sql;
mod values;
mod write;

use std::str::FromStr;
use std::sync::{Arc, Mutex};

use bindery_core::table::schema::parse_literal;
use bindery_core::{
    async_trait, BindingConfig, Capability, Column, Driver, DriverInfo, Error, ErrorKind, Instance, Kind,
    OpCreateTable, OpRead, OpWrite, Options, Result, TableDriver, TableRead, TableSchema,
};
use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};

use crate::sql::{ident, pg_type, type_of_pg};

/// The table holding bindery's schema of each table it created.
const META: &str = "_bindery_tables";

/// The `postgres` driver.
pub struct Postgres;

impl Postgres {
    fn capability() -> Capability {
        Capability::with_flags(&[
            "table_read",
            "table_write",
            "table_admin",
            "read_with_filter",
            "read_with_select",
            "read_with_limit",
            "read_with_sql",
            "read_with_partition",
            "write_upsert",
            "write_with_expression",
            "write_with_condition",
        ])
    }
}

#[async_trait]
impl Driver for Postgres {
    fn info(&self) -> DriverInfo {
        DriverInfo {
            name: "postgres".into(),
            kinds: vec![Kind::Table],
            capability: Postgres::capability(),
            description: "Tables in a PostgreSQL database (tokio-postgres).".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            local_url: false,
        }
    }

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        if config.kind != Kind::Table {
            return Err(Error::invalid_input(format!(
                "the postgres driver serves tables, not {}",
                config.kind
            )));
        }
        let mut size = 4usize;
        let mut ca_file = None;
        for (k, v) in &config.options {
            match k.as_str() {
                "pool.size" => {
                    size = v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                        Error::invalid_input(format!(
                            "option pool.size is '{v}'; it takes a whole number above 0"
                        ))
                    })?
                }
                "tls.ca_file" => ca_file = Some(config.base_dir.join(v)),
                _ => {
                    return Err(Error::invalid_input(format!(
                        "unknown option '{k}' of the postgres driver (options: pool.size, tls.ca_file)"
                    )))
                }
            }
        }
        let url = config.url.as_deref().ok_or_else(|| {
            Error::invalid_input(
                "the postgres driver needs `url`: a connection string, postgres://user@host:port/db",
            )
        })?;
        let mut pg = tokio_postgres::Config::from_str(url)
            .map_err(|e| Error::invalid_input(format!("the postgres url is not a connection string: {e}")))?;
        if let Some(secret) = config
            .secrets
            .get("password")
            .or_else(|| config.secrets.get("secret"))
        {
            pg.password(secret.expose().as_bytes());
        }
        pg.application_name("bindery");
        let tls = tls_connector(&pg, ca_file.as_deref())?;
        let pool = Arc::new(Pool {
            config: pg,
            tls,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(size)),
        });
        // Connect once now, so a wrong address or password stops start-up.
        let conn = pool.get().await?;
        conn.client()
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {META} (name text PRIMARY KEY, columns text NOT NULL, key text NOT NULL)"
            ))
            .await
            .map_err(|e| map(e, "set up the database"))?;
        drop(conn);
        Ok(Arc::new(PgTables {
            pool,
            schemas: Arc::default(),
        }))
    }
}

/// Maps a PostgreSQL error; `what` says what was being done.
pub(crate) fn map(e: tokio_postgres::Error, what: &str) -> Error {
    let message = match e.as_db_error() {
        Some(db) => format!("cannot {what}: {}", db.message()),
        None => {
            // The causes say why (a refused connection, a certificate that does not verify).
            let mut text = format!("cannot {what}: {e}");
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                text.push_str(&format!(": {c}"));
                cause = c.source();
            }
            text
        }
    };
    if e.code().is_none() && message.contains("certificate") {
        return Error::invalid_input(format!(
            "{message} (the server's TLS certificate is not signed by tls.ca_file's CA, or does not name the host)"
        ))
        .with_source(e);
    }
    let kind = match e.code() {
        Some(c) if *c == SqlState::UNDEFINED_TABLE => ErrorKind::NotFound,
        Some(c) if *c == SqlState::DUPLICATE_TABLE || *c == SqlState::UNIQUE_VIOLATION => {
            ErrorKind::AlreadyExists
        }
        Some(c) if *c == SqlState::READ_ONLY_SQL_TRANSACTION => {
            return Error::invalid_input(format!(
                "cannot {what}: the query would write, and `sql` runs read-only queries only"
            ))
        }
        Some(c) if *c == SqlState::INSUFFICIENT_PRIVILEGE || *c == SqlState::INVALID_PASSWORD => {
            ErrorKind::PermissionDenied
        }
        Some(c)
            if *c == SqlState::T_R_SERIALIZATION_FAILURE
                || *c == SqlState::T_R_DEADLOCK_DETECTED
                || *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::TOO_MANY_CONNECTIONS =>
        {
            ErrorKind::Unavailable
        }
        Some(c) if c.code().starts_with("22") || c.code().starts_with("23") || c.code().starts_with("42") => {
            ErrorKind::InvalidInput
        }
        Some(_) => ErrorKind::Internal,
        // No SQLSTATE: the connection failed or closed.
        None => ErrorKind::Unavailable,
    };
    Error::new(kind, message).with_source(e)
}

/// The TLS connector for `sslmode=prefer|require` (the URL's `?sslmode=`; tokio-postgres
/// defaults to `prefer`): with `tls.ca_file` the server's certificate must be signed by that CA
/// and name the host; without it the connection is encrypted but the certificate is not checked
/// (libpq's `require`). `sslmode=disable` connects in plain TCP.
fn tls_connector(
    pg: &tokio_postgres::Config,
    ca_file: Option<&std::path::Path>,
) -> Result<Option<postgres_native_tls::MakeTlsConnector>> {
    if pg.get_ssl_mode() == tokio_postgres::config::SslMode::Disable {
        return Ok(None);
    }
    let mut builder = native_tls::TlsConnector::builder();
    match ca_file {
        Some(path) => {
            let pem = std::fs::read(path)
                .map_err(|e| Error::io(e, &format!("read tls.ca_file '{}'", path.display())))?;
            let ca = native_tls::Certificate::from_pem(&pem).map_err(|e| {
                Error::invalid_input(format!(
                    "tls.ca_file '{}' is not a PEM certificate: {e}",
                    path.display()
                ))
            })?;
            builder.add_root_certificate(ca);
        }
        None => {
            builder.danger_accept_invalid_certs(true);
        }
    }
    let connector = builder
        .build()
        .map_err(|e| Error::internal(format!("cannot set up TLS: {e}")))?;
    Ok(Some(postgres_native_tls::MakeTlsConnector::new(connector)))
}

/// Connections to the database, at most `permits` at once.
pub(crate) struct Pool {
    config: tokio_postgres::Config,
    tls: Option<postgres_native_tls::MakeTlsConnector>,
    idle: Mutex<Vec<Client>>,
    permits: Arc<tokio::sync::Semaphore>,
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

struct PgTables {
    pool: Arc<Pool>,
    schemas: Arc<SchemaCache>,
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
        Postgres::capability()
    }

    fn table(&self) -> Option<&dyn TableDriver> {
        Some(self)
    }
}

/// The table a path names: one name, not bindery's own.
pub(crate) fn table_name(path: &str) -> Result<String> {
    bindery_core::table::sql::table_name(path, "postgres", "PostgreSQL", |name| {
        name == META || name.starts_with("pg_")
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
        let mut schema = TableSchema::parse(&columns)?;
        schema.key = key
            .split(',')
            .filter(|k| !k.is_empty())
            .map(str::to_string)
            .collect();
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
    Ok(TableSchema { columns, key })
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

    async fn read(&self, path: &str, op: OpRead) -> Result<TableRead> {
        let table = table_name(path)?;
        read::read(self.pool.clone(), self.schemas.clone(), table, op).await
    }

    async fn write(&self, path: &str, op: OpWrite) -> Result<u64> {
        let table = table_name(path)?;
        let mut conn = self.pool.get().await?;
        write::write(conn.client_mut(), &table, op).await
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
    let done = match schema {
        Some(s) => {
            let sql = format!(
                "INSERT INTO {META} (name, columns, key) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET columns = excluded.columns, key = excluded.key"
            );
            let (columns, key) = (s.to_string(), s.key.join(","));
            tx.execute(&sql, &[&table, &columns, &key]).await
        }
        None => {
            let sql = format!("DELETE FROM {META} WHERE name = $1");
            tx.execute(&sql, &[&table]).await
        }
    };
    done.map_err(|e| map(e, what))?;
    Ok(())
}
