//! The `sqlite` table driver: tables in one SQLite database file, the embedded default.
//!
//! ```yaml
//! dataBindings:
//!   db0:
//!     kind: table
//!     driver: sqlite
//!     url: ./data.db      # the database file (created if missing); relative to the spec
//!     path: users         # optional: the binding is this one table
//! ```
//!
//! - **One SQL table per bindery table**, with the primary key as the SQL primary key. The
//!   bindery schema (types SQLite does not have, defaults, read-only columns) is kept in the
//!   table `_bindery_tables`, and every version of it (what `create` made is version 1, each
//!   `alter` adds one, a drop forgets them) in `_bindery_schemas`; a table made by other tools
//!   is read with types from its declared column types (and written to, checked against
//!   them), and has no versions until bindery alters it.
//! - **Pushed down**: filters (rendered as SQL, every literal a bound parameter), projection,
//!   limits, key lookups and `partition(part, parts)` (`rowid % parts = part`); `sql` runs a
//!   read-only query (a statement that would write is refused) on a read-only connection.
//! - **Writes** run in one `BEGIN IMMEDIATE` transaction each: an item is an upsert of the
//!   columns it gives (`INSERT … ON CONFLICT DO UPDATE`); a condition is checked against the
//!   rows as they are inside the transaction; any refusal rolls all of it back.
//! - **Durable**: WAL journal with `synchronous = FULL`, so an acknowledged write survives a
//!   crash or power loss. Readers use their own connections and never wait for a writer.
//!   Schemas are cached and reloaded when SQLite's `schema_version` changes.
//! - **Watch** sees every insert, update and delete, whoever makes it (the `sqlite3` shell,
//!   Python's `sqlite3`, any program): triggers installed on a table at its first watch fill a
//!   change log in the same transaction as the write; see the `watch` module. Once watched, a
//!   table's writes each add a row to that log (options `watch.retention`, default 100000
//!   changes, and `watch.interval_ms`, default 10).

mod config;
mod error;
mod read;
mod sql;
mod table;
mod values;
mod watch;
mod write;

use std::sync::Arc;

use bindery_core::{async_trait, blocking, BindingConfig, Capability, Connect, Instance, Kind, Result};

use crate::table::{Db, SqliteTables};

/// The `sqlite` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct Sqlite;

#[async_trait]
impl Connect for Sqlite {
    const NAME: &'static str = "sqlite";
    const KINDS: &'static [Kind] = &[Kind::Table];
    /// What a binding can do: everything SQL does itself (see [`Capability::SQL_TABLE`]),
    /// watch, and the history of each table's schema (`versioning`).
    const CAPABILITY: Capability = Capability::SQL_TABLE.watched().versioned();
    const DESCRIPTION: &'static str = "Tables in one SQLite database file (bundled SQLite).";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const LOCAL_URL: bool = true;
    const OPTIONS: &'static [(&'static str, &'static str)] = config::OPTIONS;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let config::Config { file, watch } = config::Config::from_binding(&config)?;
        let db = blocking(move || Db::open(file, watch)).await?;
        Ok(Arc::new(SqliteTables { db: Arc::new(db) }))
    }
}
