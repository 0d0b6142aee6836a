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
//!   kept in `_bindery_tables`, and every version of it (what `create` made is version 1,
//!   each `alter` adds one, a drop forgets them) in `_bindery_schemas`; a table made by other
//!   tools is read with the types `information_schema` gives, and has no versions until
//!   bindery alters it. Types: `bool` boolean, `int32` integer, `int64` bigint,
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

mod config;
mod error;
mod read;
mod sql;
mod table;
mod values;
mod watch;
mod write;

use std::sync::{Arc, Mutex};

use bindery_core::{async_trait, BindingConfig, Capability, Connect, Instance, Kind, Result};

use crate::error::map;
use crate::table::{PgTables, Pool, HISTORY, META};

/// The `postgres` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct Postgres;

#[async_trait]
impl Connect for Postgres {
    const NAME: &'static str = "postgres";
    const KINDS: &'static [Kind] = &[Kind::Table];
    /// What a binding can do: everything SQL does itself (see [`Capability::SQL_TABLE`]),
    /// watch, and the history of each table's schema (`versioning`).
    const CAPABILITY: Capability = Capability::SQL_TABLE.watched().versioned();
    const DESCRIPTION: &'static str = "Tables in a PostgreSQL database (tokio-postgres).";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const OPTIONS: &'static [(&'static str, &'static str)] = config::OPTIONS;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let config::Config {
            pg,
            pool_size,
            ca_file,
            watch_retention,
        } = config::Config::from_binding(&config)?;
        let tls = config::tls_connector(&pg, ca_file.as_deref())?;
        let pool = Arc::new(Pool {
            config: pg,
            tls,
            idle: Mutex::new(Vec::new()),
            permits: Arc::new(tokio::sync::Semaphore::new(pool_size)),
        });
        // Connect once now, so a wrong address or password stops start-up.
        let conn = pool.get().await?;
        conn.client()
            .batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {META} (name text PRIMARY KEY, columns text NOT NULL, key text NOT NULL);
                 CREATE TABLE IF NOT EXISTS {HISTORY} (name text NOT NULL, version int8 NOT NULL, \
                 time_ms int8, columns text NOT NULL, key text NOT NULL, PRIMARY KEY (name, version))"
            ))
            .await
            .map_err(|e| map(e, "set up the database"))?;
        drop(conn);
        Ok(Arc::new(PgTables {
            pool,
            schemas: Arc::default(),
            hub: Arc::new(watch::Hub::new(watch_retention)),
        }))
    }
}
