//! The `files` table driver: a folder of CSV, JSON-lines or Parquet files read as one table.
//!
//! ```yaml
//! dataBindings:
//!   lake:
//!     kind: table
//!     driver: files
//!     url: ./lake          # the folder holding the tables (created if missing); relative to the spec
//!     options:
//!       format: parquet    # the format of the files new tables are written in: parquet (default), csv, jsonl
//! ```
//!
//! - **A table is a folder** under `url` (`lake://events` is `./lake/events/`); every file in
//!   it and its subfolders whose name does not begin with `_` or `.` is part of the table, in
//!   name order: `.parquet`/`.pq`, `.csv` (with a header row) and `.jsonl`/`.ndjson`/`.json`
//!   (one object per line). A table may also be a single file (`lake://export.csv`), read only.
//! - **The schema** of a table bindery created is kept in the folder's `_bindery.json` (types,
//!   defaults, read-only columns, key, format), with every version of it (what `create` made
//!   is version 1, each `alter` adds one, with its time). A folder without one (files made by other
//!   tools) has the schema of its first file: Parquet's own, or inferred from every
//!   row of a CSV or JSON-lines file (quoted CSV values are text). Other files are read with it: a column a file lacks
//!   reads as the column's default, one of another type is cast.
//! - **Pushed down**: projection (only the columns asked for are decoded), filters (Parquet row
//!   groups whose min/max statistics rule the filter out are skipped, then rows are filtered
//!   with Arrow compute), limits, and `partition(part, parts)` (by row group or file).
//! - **Reads** decode on blocking threads, the next file (or run of row groups) while the
//!   current one is answered, so a table of many files keeps two cores busy; answers come in
//!   file order.
//! - **Writes append**: the items of one write become one new file, written to a hidden
//!   temporary name, flushed to disk, then renamed into the folder, so a write is all there or
//!   not at all, and an acknowledged write survives a crash. Files are immutable: there is no
//!   upsert, update expression or condition. When the table has a primary key, a write whose
//!   key is already in the table (or twice in the write) is refused with `AlreadyExists`,
//!   checked against an index of the table's keys that reads only the files added since the
//!   last write; this check is per process (two processes appending to one folder at once can
//!   both pass it).
//! - **Alter** adds columns by rewriting `_bindery.json` only; files written before read the
//!   new column as its default.

mod config;
mod csv;
mod error;
mod format;
mod prune;
mod read;
mod table;
mod watch;

use std::sync::Arc;

use bindery_core::{async_trait, BindingConfig, Capability, Connect, Error, Instance, Kind, Result};

pub use format::Format;
use table::FileTables;

/// The `files` driver.
#[derive(Debug, Default, Clone, Copy)]
pub struct Files;

#[async_trait]
impl Connect for Files {
    const NAME: &'static str = "files";
    const KINDS: &'static [Kind] = &[Kind::Table];
    /// What a binding can do: reads with filters, projection, limits and partitions pushed
    /// down; appending writes; no upsert, expression or condition; watch; the history of each
    /// table's schema (`versioning`).
    const CAPABILITY: Capability = Capability {
        watch: true,
        versioning: true,
        table_read: true,
        table_write: true,
        table_admin: true,
        read_with_filter: true,
        read_with_select: true,
        read_with_limit: true,
        read_with_partition: true,
        ..Capability::NONE
    };
    const DESCRIPTION: &'static str =
        "A folder of CSV, JSON-lines or Parquet files read as one table; writes append files.";
    const VERSION: &'static str = env!("CARGO_PKG_VERSION");
    const LOCAL_URL: bool = true;
    const OPTIONS: &'static [(&'static str, &'static str)] = config::OPTIONS;

    async fn connect(&self, config: BindingConfig) -> Result<Arc<dyn Instance>> {
        let config::Config { root, format } = config::Config::from_binding(&config)?;
        std::fs::create_dir_all(&root)
            .map_err(|e| Error::io(e, &format!("create the folder '{}'", root.display())))?;
        Ok(Arc::new(FileTables::new(root, format)))
    }
}

#[cfg(test)]
mod tests;
